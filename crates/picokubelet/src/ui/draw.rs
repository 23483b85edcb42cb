//! One frame of the view, from plain inputs (a [`Glance`], the view's state, the time): no
//! terminal, no clock, so a test renders it into ratatui's `TestBackend`.
//!
//! The LED column is the core's LED model: [`led_state`] picks the pattern from the agent's
//! inputs, [`led_frame`] gives its colour at `t_ms`, as the firmware's WS2812 task does. Only
//! the brightness is scaled: the board's colours are dim (channels ≤ [`MAX_CHANNEL`]) so the
//! pixel does not light the room, which on a screen would be black; scaling keeps hue and the
//! breathing's shape.

use std::time::Duration;

use picokubelet_core::agent::AgentPhase;
use picokubelet_core::conditions::{Condition, ConditionStatus, ConditionType};
use picokubelet_core::led::{has_warning, led_frame, led_state, LedInputs, Rgb, MAX_CHANNEL};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::keys::key_line;
use super::view::ViewState;
use crate::telemetry::{BoardReport, Glance};

/// Everything one frame shows.
pub struct Screen<'a> {
    pub glance: &'a Glance,
    pub names: &'a [String],
    pub view: &'a ViewState,
    /// The newest log lines, oldest first.
    pub log: &'a [String],
    /// Milliseconds on the LED's clock (only its phase in each pattern matters).
    pub t_ms: u64,
    /// The embedded server's description, if there is one.
    pub server: Option<&'a str>,
}

/// Where each part goes.
#[derive(Clone, Copy, Debug)]
pub struct Areas {
    pub header: Rect,
    /// The column titles, then one row per board.
    pub table: Rect,
    pub detail: Rect,
    pub log: Rect,
    pub message: Rect,
    pub keys: Rect,
}

/// Lines of log shown when the terminal is tall enough for them.
const LOG_LINES: u16 = 6;

/// The layout of a frame of `area`.
pub fn areas(area: Rect) -> Areas {
    let log = if area.height >= 20 { LOG_LINES } else { 0 };
    let [header, table, detail, log, message, keys] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(2),
        Constraint::Length(3),
        Constraint::Length(log),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    Areas {
        header,
        table,
        detail,
        log,
        message,
        keys,
    }
}

/// Board rows that fit in `areas.table` (its first line holds the column titles).
pub fn table_rows(areas: &Areas) -> usize {
    usize::from(areas.table.height.saturating_sub(1))
}

/// A board LED channel (0..=MAX_CHANNEL) at screen brightness (0..=255).
fn screen_channel(c: u8) -> u8 {
    let c = u16::from(c.min(MAX_CHANNEL));
    u8::try_from(c * 255 / u16::from(MAX_CHANNEL)).unwrap_or(u8::MAX)
}

/// The screen colour of an LED colour.
pub fn screen_colour(rgb: Rgb) -> Color {
    Color::Rgb(
        screen_channel(rgb.r),
        screen_channel(rgb.g),
        screen_channel(rgb.b),
    )
}

/// The LED of a board with these inputs at `t_ms`, as the screen shows it.
pub fn led_colour(inputs: &LedInputs, t_ms: u64) -> Color {
    screen_colour(led_frame(led_state(inputs), t_ms))
}

/// The LED cell: two full blocks.
pub const LED_GLYPH: &str = "██";
/// Columns before the LED (the selection marker and a space).
pub const LED_COLUMN: u16 = 2;

/// Column titles of the eight conditions after Ready, in [`ConditionType::ALL`] order.
const SHORT_NAMES: [&str; 8] = ["Mem", "Dsk", "PID", "Vib", "Caf", "Exi", "Pck", "Hnt"];
const PHASE_W: usize = 12;
const READY_W: usize = 8;
const COND_W: usize = 4;
const RENEWED_W: usize = 9;
const HANDSHAKES_W: usize = 4;

/// The width of the name column for `names` (the longest, within 4..=32, and two spaces).
pub fn name_column_width(names: &[String]) -> usize {
    names
        .iter()
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(4)
        .clamp(4, 32)
        + 2
}

/// The first screen column of condition `kind` (Ready included) for names of `name_w`.
pub fn condition_column(name_w: usize, kind: ConditionType) -> u16 {
    let ready = usize::from(LED_COLUMN) + LED_GLYPH.chars().count() + 1 + name_w + PHASE_W;
    let x = match kind.index() {
        0 => ready,
        i => ready + READY_W + (i - 1) * COND_W,
    };
    u16::try_from(x).unwrap_or(u16::MAX)
}

fn phase_name(r: &BoardReport) -> &'static str {
    if !r.figures.started {
        return "not started";
    }
    match r.figures.phase {
        AgentPhase::Booting => "Booting",
        AgentPhase::LinkDown => "LinkDown",
        AgentPhase::Connecting => "Connecting",
        AgentPhase::Registered => "Registered",
    }
}

/// The one-letter status of a condition cell.
pub fn status_letter(status: ConditionStatus) -> &'static str {
    match status {
        ConditionStatus::True => "T",
        ConditionStatus::False => "F",
        ConditionStatus::Unknown => "?",
    }
}

/// How a condition cell looks: the core's warning rule in red, Ready by its status.
fn condition_style(c: &Condition) -> Style {
    if c.kind == ConditionType::Ready {
        return match c.status {
            ConditionStatus::True => Style::new().fg(Color::Green),
            _ => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        };
    }
    if has_warning(std::slice::from_ref(c)) {
        Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
    } else {
        Style::new().fg(Color::Gray)
    }
}

fn age(d: Option<Duration>) -> String {
    match d {
        None => "-".into(),
        Some(d) if d.as_secs() < 120 => format!("{}s ago", d.as_secs()),
        Some(d) => format!("{}m ago", d.as_secs() / 60),
    }
}

fn heap(bytes: Option<u32>) -> String {
    bytes.map_or("-".into(), |b| format!("{} kB", b / 1000))
}

fn pad(s: &str, w: usize) -> String {
    format!("{s:<w$}")
}

fn title_line(name_w: usize) -> Line<'static> {
    let mut text = format!(
        "{}{} {}{}{}",
        " ".repeat(usize::from(LED_COLUMN)),
        "  ",
        pad("node", name_w),
        pad("phase", PHASE_W),
        pad("Ready", READY_W)
    );
    for short in SHORT_NAMES {
        text.push_str(&pad(short, COND_W));
    }
    text.push_str(&pad("renewed", RENEWED_W));
    text.push_str(&pad("hs", HANDSHAKES_W));
    text.push_str("heap");
    Line::styled(text, Style::new().add_modifier(Modifier::BOLD))
}

fn board_line(
    name: &str,
    report: Option<&BoardReport>,
    selected: bool,
    name_w: usize,
    t_ms: u64,
) -> Line<'static> {
    let marker = if selected { "› " } else { "  " };
    let mut spans = vec![Span::raw(marker)];
    let Some(r) = report else {
        spans.push(Span::raw(format!("   {}", pad(name, name_w))));
        spans.push(Span::styled("no answer", Style::new().fg(Color::DarkGray)));
        return Line::from(spans);
    };
    // A board not started yet is not powered: its LED is dark.
    let led = if r.figures.started {
        led_colour(&r.figures.led, t_ms)
    } else {
        Color::Rgb(0, 0, 0)
    };
    spans.push(Span::styled(LED_GLYPH, Style::new().fg(led)));
    spans.push(Span::raw(" "));
    let name_style = if selected {
        Style::new().add_modifier(Modifier::REVERSED)
    } else {
        Style::new()
    };
    spans.push(Span::styled(pad(name, name_w), name_style));
    spans.push(Span::raw(pad(phase_name(r), PHASE_W)));
    match &r.figures.conditions {
        Some(cs) => {
            for c in cs {
                let (text, w) = match c.kind {
                    ConditionType::Ready => (c.status.as_str(), READY_W),
                    _ => (status_letter(c.status), COND_W),
                };
                spans.push(Span::styled(pad(text, w), condition_style(c)));
            }
        }
        None => spans.push(Span::styled(
            pad("-", READY_W + SHORT_NAMES.len() * COND_W),
            Style::new().fg(Color::DarkGray),
        )),
    }
    spans.push(Span::raw(pad(&age(r.figures.last_renewal_age), RENEWED_W)));
    spans.push(Span::raw(pad(
        &r.figures.counters.handshakes.to_string(),
        HANDSHAKES_W,
    )));
    spans.push(Span::raw(heap(r.figures.heap_free_bytes)));
    Line::from(spans)
}

fn header_line(screen: &Screen<'_>) -> Line<'static> {
    let t = &screen.glance.totals;
    let mut text = format!("{} boards", t.boards);
    if t.started < t.boards {
        text.push_str(&format!(" ({} started)", t.started));
    }
    text.push_str(&format!(
        " · {} registered · {} Ready · {} renewals ({} failed) · {} handshakes",
        t.registered,
        t.ready(),
        t.renewals,
        t.renewal_failures,
        t.handshakes
    ));
    if let Some(server) = screen.server {
        text.push_str(" · ");
        text.push_str(server);
        if screen.view.stalled {
            text.push_str(" (storage stalled)");
        }
    }
    Line::styled(text, Style::new().add_modifier(Modifier::BOLD))
}

fn detail_text(name: &str, report: Option<&BoardReport>) -> Line<'static> {
    let Some(cs) = report.and_then(|r| r.figures.conditions.as_ref()) else {
        return Line::raw(format!("{name}: no conditions yet"));
    };
    let mut spans = vec![Span::styled(
        format!("{name}: "),
        Style::new().add_modifier(Modifier::BOLD),
    )];
    for (i, c) in cs.iter().enumerate() {
        if i > 0 {
            spans.push(Span::raw(" · "));
        }
        spans.push(Span::styled(
            format!("{} {} {}", c.kind.as_str(), c.status.as_str(), c.reason),
            condition_style(c),
        ));
    }
    Line::from(spans)
}

fn keys_text(with_server: bool) -> Line<'static> {
    let mut spans = Vec::new();
    for (key, what) in key_line(with_server) {
        spans.push(Span::styled(
            key,
            Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
        ));
        spans.push(Span::raw(format!(" {what}  ")));
    }
    if !with_server {
        spans.push(Span::styled(
            "(server faults: in `demo` only)",
            Style::new().fg(Color::DarkGray),
        ));
    }
    Line::from(spans)
}

/// Draws one frame.
pub fn draw(frame: &mut Frame<'_>, screen: &Screen<'_>) {
    let a = areas(frame.area());
    let view = screen.view;
    frame.render_widget(Paragraph::new(header_line(screen)), a.header);

    let name_w = name_column_width(screen.names);
    let mut lines = vec![title_line(name_w)];
    for index in view.visible() {
        let name = screen.names.get(index).map_or("?", String::as_str);
        let report = screen
            .glance
            .rows
            .iter()
            .find(|(i, _)| *i == index)
            .map(|(_, r)| r);
        lines.push(board_line(
            name,
            report,
            index == view.selected,
            name_w,
            screen.t_ms,
        ));
    }
    frame.render_widget(Paragraph::new(lines), a.table);

    let selected_name = screen.names.get(view.selected).map_or("?", String::as_str);
    let selected = screen
        .glance
        .rows
        .iter()
        .find(|(i, _)| *i == view.selected)
        .map(|(_, r)| r);
    frame.render_widget(
        Paragraph::new(detail_text(selected_name, selected)).wrap(Wrap { trim: true }),
        a.detail,
    );

    let log: Vec<Line<'static>> = screen
        .log
        .iter()
        .map(|l| Line::styled(l.clone(), Style::new().fg(Color::DarkGray)))
        .collect();
    frame.render_widget(Paragraph::new(log), a.log);

    if let Some(m) = &view.message {
        let style = if m.error {
            Style::new().fg(Color::Red)
        } else {
            Style::new().fg(Color::Yellow)
        };
        frame.render_widget(
            Paragraph::new(Line::styled(m.text.clone(), style)),
            a.message,
        );
    }
    frame.render_widget(Paragraph::new(keys_text(screen.server.is_some())), a.keys);
}
