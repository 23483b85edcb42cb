//! The terminal view, headless: frames rendered into ratatui's `TestBackend` from boards in
//! known states, checked cell by cell — the LED colour against the core's LED model at a fixed
//! time, the condition cells, the figures — before and after a fault.

use std::time::Duration;

use picokubelet::telemetry::{BoardFigures, BoardReport, FleetTotals, Glance, Lateness};
use picokubelet::ui::draw::{
    condition_column, draw, name_column_width, screen_colour, status_letter, Screen, LED_COLUMN,
    LED_GLYPH,
};
use picokubelet::ui::view::ViewState;
use picokubelet_core::agent::{AgentPhase, AgentStats, ApiErrorClass};
use picokubelet_core::client::counters::ClientCounters;
use picokubelet_core::conditions::{Condition, ConditionStatus, ConditionType};
use picokubelet_core::led::{led_frame, ConfigHealth, LedInputs, LedState, Link};
use picokubelet_core::time::UnixMicros;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::Color;
use ratatui::Terminal;

/// The LED clock of every frame here: 1.2 s, mid-way in each breathing pattern's rise or fall.
const T_MS: u64 = 1_200;

fn led(phase: AgentPhase) -> LedInputs {
    LedInputs {
        phase,
        link: Link::NotReported,
        config: ConfigHealth::Fine,
        last_api_error: None,
        request_in_flight: false,
        warning: false,
        panicked: false,
    }
}

/// The nine conditions of a calm board, MemoryPressure as given.
fn conditions(memory_pressure: bool) -> [Condition; 9] {
    ConditionType::ALL.map(|kind| {
        let (status, reason) = match kind {
            ConditionType::Ready => (ConditionStatus::True, "KubeletReady"),
            ConditionType::MemoryPressure if memory_pressure => {
                (ConditionStatus::True, "KubeletHasInsufficientMemory")
            }
            ConditionType::MemoryPressure => (ConditionStatus::False, "KubeletHasSufficientMemory"),
            _ => (ConditionStatus::False, "Calm"),
        };
        Condition {
            kind,
            status,
            reason,
            message: "",
            last_transition: UnixMicros(0),
        }
    })
}

fn report(name: &str, led: LedInputs, conditions: Option<[Condition; 9]>) -> BoardReport {
    BoardReport {
        name: name.into(),
        figures: BoardFigures {
            started: true,
            stats: AgentStats::default(),
            counters: ClientCounters {
                handshakes: 1,
                ..ClientCounters::default()
            },
            phase: led.phase,
            conditions,
            consecutive_renewals: 3,
            last_renewal_age: conditions.map(|_| Duration::from_secs(4)),
            lateness: Lateness::default(),
            led,
            heap_free_bytes: conditions.map(|_| 243_000),
            last_api_error: None,
            auth_failed: false,
        },
    }
}

fn render(reports: Vec<BoardReport>, view: &ViewState) -> Buffer {
    let names: Vec<String> = reports.iter().map(|r| r.name.clone()).collect();
    let glance = Glance {
        totals: FleetTotals::of(&reports, Duration::from_secs(40)),
        rows: reports.into_iter().enumerate().collect(),
    };
    let mut terminal = Terminal::new(TestBackend::new(120, 24)).unwrap();
    terminal
        .draw(|f| {
            draw(
                f,
                &Screen {
                    glance: &glance,
                    names: &names,
                    view,
                    log: &["a log line".to_owned()],
                    t_ms: T_MS,
                    server: None,
                },
            )
        })
        .unwrap();
    terminal.backend().buffer().clone()
}

/// The text of row `y` from column `x`, `len` cells.
fn text(buf: &Buffer, x: u16, y: u16, len: u16) -> String {
    (x..x + len).map(|x| buf[(x, y)].symbol()).collect()
}

fn row_text(buf: &Buffer, y: u16) -> String {
    text(buf, 0, y, buf.area.width)
}

/// The screen row of board `i` (header line, column titles, then the boards).
fn row(i: u16) -> u16 {
    2 + i
}

fn led_cell_fg(buf: &Buffer, board: u16) -> Color {
    let cell = &buf[(LED_COLUMN, row(board))];
    assert_eq!(
        text(buf, LED_COLUMN, row(board), 2),
        LED_GLYPH,
        "board {board}"
    );
    cell.fg
}

fn view(count: usize) -> ViewState {
    let mut v = ViewState::new(count);
    v.fit(16);
    v
}

#[test]
fn leds_follow_the_core_model_and_conditions_are_shown() {
    let mut auth = led(AgentPhase::Connecting);
    auth.last_api_error = Some(ApiErrorClass::Unauthorized);
    let mut warning = led(AgentPhase::Registered);
    warning.warning = true;
    let boards = vec![
        report(
            "board-1",
            led(AgentPhase::Registered),
            Some(conditions(false)),
        ),
        report("board-2", led(AgentPhase::Connecting), None),
        report("board-3", auth, Some(conditions(false))),
        report("board-4", warning, Some(conditions(true))),
    ];
    let names: Vec<String> = boards.iter().map(|r| r.name.clone()).collect();
    let buf = render(boards, &view(4));

    // Healthy is steady green; the board's 12/32 green at screen brightness.
    assert_eq!(led_cell_fg(&buf, 0), Color::Rgb(0, 95, 0));
    for (board, state) in [
        (0, LedState::Healthy),
        (1, LedState::Connecting),
        (2, LedState::AuthFailed),
        (3, LedState::Warning),
    ] {
        assert_eq!(
            led_cell_fg(&buf, board),
            screen_colour(led_frame(state, T_MS)),
            "board {board}: {state:?}"
        );
    }
    // At 1.2 s AuthFailed's double blink is in its pause: dark, as the pixel would be.
    assert_eq!(led_cell_fg(&buf, 2), Color::Rgb(0, 0, 0));

    let name_w = name_column_width(&names);
    let ready_x = condition_column(name_w, ConditionType::Ready);
    let mem_x = condition_column(name_w, ConditionType::MemoryPressure);
    let haunted_x = condition_column(name_w, ConditionType::Haunted);
    assert_eq!(text(&buf, ready_x, row(0), 4), "True");
    assert_eq!(buf[(ready_x, row(0))].fg, Color::Green);
    assert_eq!(text(&buf, mem_x, row(0), 1), "F");
    assert_eq!(text(&buf, haunted_x, row(0), 1), "F");
    assert_eq!(
        text(&buf, mem_x, row(3), 1),
        status_letter(ConditionStatus::True)
    );
    assert_eq!(buf[(mem_x, row(3))].fg, Color::Red, "MemoryPressure warns");
    assert_eq!(buf[(mem_x, row(0))].fg, Color::Gray);
    // No conditions before the first anchoring.
    assert_eq!(text(&buf, ready_x, row(1), 1), "-");

    let header = row_text(&buf, 0);
    assert!(header.contains("4 boards"), "{header}");
    assert!(header.contains("2 registered"), "{header}");
    assert!(header.contains("3 Ready"), "{header}");
    let titles = row_text(&buf, 1);
    for t in [
        "node", "phase", "Ready", "Mem", "Hnt", "renewed", "hs", "heap",
    ] {
        assert!(titles.contains(t), "{t} in {titles}");
    }
    let first = row_text(&buf, row(0));
    assert!(
        first.starts_with("› "),
        "the first board is selected: {first}"
    );
    for part in ["board-1", "Registered", "4s ago", "243 kB"] {
        assert!(first.contains(part), "{part} in {first}");
    }
    // The detail pane names the selected board's conditions with their reasons.
    let screen: String = (0..24).map(|y| row_text(&buf, y)).collect();
    assert!(screen.contains("Ready True KubeletReady"), "{screen}");
    assert!(screen.contains("a log line"));
    // Against a real cluster only the board keys exist.
    let keys = row_text(&buf, 23);
    assert!(keys.contains("c cut connection"), "{keys}");
    assert!(keys.contains("m low heap"), "{keys}");
    assert!(!keys.contains("stall"), "{keys}");
}

#[test]
fn a_fault_shows_in_the_row_and_the_led() {
    let before = report(
        "board-1",
        led(AgentPhase::Registered),
        Some(conditions(false)),
    );
    let buf = render(vec![before.clone()], &view(1));
    assert_eq!(
        led_cell_fg(&buf, 0),
        screen_colour(led_frame(LedState::Healthy, T_MS))
    );

    // Low heap: the agent evaluated MemoryPressure True and reports 10 kB; it warns.
    let mut low = before.clone();
    low.figures.conditions = Some(conditions(true));
    low.figures.heap_free_bytes = Some(10_000);
    low.figures.led.warning = true;
    let buf = render(vec![low], &view(1));
    let names = ["board-1".to_owned()];
    let mem_x = condition_column(name_column_width(&names), ConditionType::MemoryPressure);
    assert_eq!(text(&buf, mem_x, row(0), 1), "T");
    assert_eq!(buf[(mem_x, row(0))].fg, Color::Red);
    let amber = screen_colour(led_frame(LedState::Warning, T_MS));
    assert_eq!(led_cell_fg(&buf, 0), amber);
    assert!(
        matches!(amber, Color::Rgb(r, g, 0) if r > g && g > 0),
        "{amber:?}"
    );
    assert!(row_text(&buf, row(0)).contains("10 kB"));

    // A cut connection: the agent is connecting again, one more handshake behind it.
    let mut cut = before;
    cut.figures.phase = AgentPhase::Connecting;
    cut.figures.led.phase = AgentPhase::Connecting;
    cut.figures.counters.handshakes = 2;
    let buf = render(vec![cut], &view(1));
    let line = row_text(&buf, row(0));
    assert!(line.contains("Connecting"), "{line}");
    assert!(line.contains(" 2 "), "two handshakes: {line}");
    assert_eq!(
        led_cell_fg(&buf, 0),
        screen_colour(led_frame(LedState::Connecting, T_MS))
    );
}

#[test]
fn many_boards_scroll_and_only_visible_rows_are_drawn() {
    let boards: Vec<BoardReport> = (0..50)
        .map(|i| report(&format!("board-{i:02}"), led(AgentPhase::Registered), None))
        .collect();
    let mut v = ViewState::new(50);
    v.selected = 30;
    v.fit(10);
    assert_eq!(v.visible(), 21..31);
    let buf = render(boards, &v);
    assert!(row_text(&buf, row(0)).contains("board-21"));
    assert!(row_text(&buf, row(9)).contains("› "));
    assert!(row_text(&buf, row(9)).contains("board-30"));
}
