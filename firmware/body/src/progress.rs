//! What the board tells its console about the bring-up: each stage's `pk-stage` line and the
//! `pk-summary` line ([`report`], formats in `crate::bringup::stages`), the agent's events as
//! stage outcomes ([`StageLog`]), the LED mirror with its periodic summary ([`mirror`]), and
//! the halt of a board that cannot go on ([`halt`]). Shared by the bring-up and the bootstrap,
//! which both run the agent.

use core::{cell::Cell, convert::Infallible, fmt};

use critical_section::Mutex;
use embassy_futures::select::select;
use embassy_time::{Duration, Instant, Timer};
use picokubelet_core::{
    agent::{AgentState, Log, LogEvent},
    led::LedInputs,
    log_text::{CountersText, Opt, StatsText},
};

use crate::{
    board_state::{self, BodyBoard, HeapGauge},
    bringup::stages::{
        agent_implied, agent_outcome, EventDetail, Marks, Stage, StageLine, SummaryLine,
        BRINGUP_DEADLINE_S,
    },
    connector::PrintLog,
};

/// How often a one-line summary of the agent and the board is printed.
const SUMMARY_INTERVAL: Duration = Duration::from_secs(300);

/// The bring-up stages' marks: reported from `main`'s bring-up calls and the agent's log.
static STAGES: Mutex<Cell<Marks>> = Mutex::new(Cell::new(Marks::new()));

/// Records a stage's outcome; prints its `pk-stage` line when that is news, and the `ok`
/// summary when it completed the bring-up.
pub fn report(stage: Stage, passed: bool, detail: &dyn fmt::Display) {
    let (news, completed, marks) = critical_section::with(|cs| {
        let cell = STAGES.borrow(cs);
        let mut marks = cell.get();
        let news = marks.record(stage, passed);
        let completed = marks.take_completion();
        cell.set(marks);
        (news, completed, marks)
    });
    if news {
        println!(
            "{}",
            StageLine {
                stage,
                passed,
                detail
            }
        );
    }
    if completed {
        print_summary(marks);
    }
}

fn print_summary(marks: Marks) {
    let up_s = Instant::now().as_secs();
    println!("{}", SummaryLine { marks, up_s });
}

fn marks() -> Marks {
    critical_section::with(|cs| STAGES.borrow(cs).get())
}

/// Copies the agent's LED inputs to the LED task whenever they change (the agent signals it)
/// and prints a summary now and then. Runs beside the agent on the same executor (`AgentState`
/// is single-executor by design).
pub(crate) async fn mirror<H: HeapGauge>(state: &AgentState, board: BodyBoard<H>) -> Infallible {
    let mut next_summary = Instant::now() + SUMMARY_INTERVAL;
    // The `fail` summary of a bring-up that has not completed by then (once).
    let mut bringup_deadline = Some(Instant::from_secs(BRINGUP_DEADLINE_S));
    loop {
        if let Some(deadline) = bringup_deadline {
            if Instant::now() >= deadline {
                bringup_deadline = None;
                let marks = marks();
                if !marks.completed() {
                    print_summary(marks);
                }
            }
        }
        let inputs = LedInputs::of_agent(state);
        board_state::update_led(|led| {
            let panicked = led.panicked;
            *led = inputs;
            led.panicked = panicked;
        });
        if Instant::now() >= next_summary {
            next_summary += SUMMARY_INTERVAL;
            let snapshot = board_state::snapshot(&board.heap);
            println!(
                "summary: up {} s, heap {} of {} B free, uplink {}, {} association(s), {} BSSID change(s); {}; {}",
                Instant::now().as_secs(),
                snapshot.heap_free_bytes,
                snapshot.heap_total_bytes,
                Opt(board.uplink().map(|(kind, address)| (kind, Opt(address)))),
                snapshot.wifi_associations,
                snapshot.bssid_changes,
                StatsText(state.stats()),
                CountersText(state.counters())
            );
        }
        let wake = bringup_deadline.map_or(next_summary, |d| d.min(next_summary));
        select(state.led_changed_wait(), Timer::at(wake)).await;
    }
}

/// Prints why the firmware cannot go on (as `stage`'s failure, then the `fail` summary) and
/// parks forever. The executor keeps running (LED, watchdog), so the watchdog does not reset a
/// board that is merely misconfigured.
pub async fn halt(stage: Stage, what: &str, error: impl fmt::Display) -> ! {
    halt_with(stage, what, &error).await
}

/// [`halt`]'s body, instantiated once rather than once per error type (~250 B of flash each:
/// BENCHMARKS.md "Firmware size").
// `Display`: the firmware's derived `Debug` is shallow (BENCHMARKS.md "Firmware size").
async fn halt_with(stage: Stage, what: &str, error: &dyn fmt::Display) -> ! {
    println!("{}: {}", what, error);
    report(stage, false, &format_args!("{}: {}", what, error));
    print_summary(marks());
    loop {
        Timer::after(Duration::from_secs(3600)).await;
    }
}

/// The agent's log ([`PrintLog`]) and the bring-up stages its events report on.
pub(crate) struct StageLog;

impl Log for StageLog {
    fn log(&self, event: &LogEvent<'_>) {
        PrintLog.log(event);
        if let Some(stage) = agent_implied(event) {
            report(stage, true, &"DNS and TCP to the API server");
        }
        if let Some((stage, passed)) = agent_outcome(event) {
            report(stage, passed, &EventDetail(event));
        }
    }
}
