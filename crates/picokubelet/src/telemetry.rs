//! What a board's metrics are made of: the agent's own counters ([`AgentState`], read on the
//! board's thread) plus what the host learns from the log events (renewal lateness, the instant
//! of the last renewal). A [`BoardReport`] is a plain `Send` copy of it all, for the metrics
//! endpoint and the fleet summary on another thread.

use std::cell::Cell;
use std::time::{Duration, Instant};

use picokubelet_core::agent::AgentPhase;
use picokubelet_core::agent::{AgentState, AgentStats, LogEvent};
use picokubelet_core::client::counters::ClientCounters;
use picokubelet_core::conditions::{Condition, ConditionStatus, ConditionType};
use picokubelet_core::led::LedInputs;

/// Upper bounds of the renewal-lateness histogram, seconds (Prometheus `le`).
pub const LATENESS_BOUNDS_SECONDS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A histogram of renewal lateness (completion instant minus scheduled instant), in the
/// Prometheus shape: `buckets[i]` counts observations `<= LATENESS_BOUNDS_SECONDS[i]` (not
/// cumulative here; the encoder accumulates), the last one the rest (`+Inf`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lateness {
    pub buckets: [u64; LATENESS_BOUNDS_SECONDS.len() + 1],
    pub count: u64,
    pub sum_micros: u64,
}

impl Lateness {
    /// Counts one renewal `late_us` microseconds after its scheduled instant.
    pub fn observe(&mut self, late_us: u64) {
        let seconds = late_us as f64 / 1e6;
        let slot = LATENESS_BOUNDS_SECONDS
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(LATENESS_BOUNDS_SECONDS.len());
        if let Some(b) = self.buckets.get_mut(slot) {
            *b = b.saturating_add(1);
        }
        self.count = self.count.saturating_add(1);
        self.sum_micros = self.sum_micros.saturating_add(late_us);
    }

    /// Adds `other`'s observations (per-board histograms summed into the process's).
    pub fn merge(&mut self, other: &Lateness) {
        for (a, b) in self.buckets.iter_mut().zip(other.buckets) {
            *a = a.saturating_add(b);
        }
        self.count = self.count.saturating_add(other.count);
        self.sum_micros = self.sum_micros.saturating_add(other.sum_micros);
    }
}

/// What the host records about one board from its log events. Lives on the board's thread
/// (`Cell`s, like the agent's own state).
#[derive(Debug, Default)]
pub struct BoardTelemetry {
    last_renewal: Cell<Option<Instant>>,
    lateness: Cell<Lateness>,
}

impl BoardTelemetry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one log event.
    pub fn observe(&self, event: &LogEvent<'_>) {
        if let LogEvent::LeaseRenewed { late_us } = event {
            self.renewed(*late_us);
        }
    }

    /// A renewal completed now, `late_us` after it was due.
    pub fn renewed(&self, late_us: u64) {
        self.last_renewal.set(Some(Instant::now()));
        let mut l = self.lateness.get();
        l.observe(late_us);
        self.lateness.set(l);
    }

    /// The renewal-lateness histogram so far.
    pub fn lateness(&self) -> Lateness {
        self.lateness.get()
    }

    /// Time since the last renewal (`None` before the first one).
    pub fn last_renewal_age(&self) -> Option<Duration> {
        self.last_renewal.get().map(|at| at.elapsed())
    }
}

/// One board's figures at one instant, sendable to another thread.
#[derive(Clone, Debug)]
pub struct BoardReport {
    pub name: String,
    /// The board's agent has been started (fleet boards start spread out).
    pub started: bool,
    pub stats: AgentStats,
    pub counters: ClientCounters,
    pub phase: AgentPhase,
    pub conditions: Option<[Condition; 9]>,
    pub consecutive_renewals: u32,
    pub last_renewal_age: Option<Duration>,
    pub lateness: Lateness,
    /// The agent's part of the status LED's inputs (the terminal view draws the LED from it).
    pub led: LedInputs,
    /// Free heap as the conditions were last evaluated (`None` before the first evaluation).
    pub heap_free_bytes: Option<u32>,
}

impl BoardReport {
    /// Reads `state` and `telemetry` (on the board's own thread: both are `!Sync`).
    pub fn read(name: &str, started: bool, state: &AgentState, telemetry: &BoardTelemetry) -> Self {
        BoardReport {
            name: name.to_owned(),
            started,
            stats: state.stats(),
            counters: state.counters(),
            phase: state.phase(),
            conditions: state.conditions(),
            consecutive_renewals: state.consecutive_renewals(),
            last_renewal_age: telemetry.last_renewal_age(),
            lateness: telemetry.lateness(),
            led: LedInputs::of_agent(state),
            heap_free_bytes: state
                .conditions()
                .map(|_| state.board_reading().heap_free_bytes),
        }
    }
}

/// Whether the Ready condition is True (`false` before the conditions exist).
pub fn is_ready(conditions: Option<&[Condition; 9]>) -> bool {
    conditions.is_some_and(|cs| {
        cs.iter()
            .any(|c| c.kind == ConditionType::Ready && c.status == ConditionStatus::True)
    })
}

/// Totals over many boards.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FleetTotals {
    pub boards: usize,
    pub started: usize,
    pub registered: usize,
    /// Boards whose Ready condition is True.
    pub ready: usize,
    pub renewals: u64,
    pub renewal_failures: u64,
    pub handshakes: u64,
    pub requests: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub lateness: Lateness,
}

impl FleetTotals {
    pub fn of(reports: &[BoardReport]) -> Self {
        let mut t = FleetTotals::default();
        for r in reports {
            t.add_board(
                r.started,
                r.phase,
                is_ready(r.conditions.as_ref()),
                &r.stats,
                &r.counters,
                &r.lateness,
            );
        }
        t
    }

    /// Counts one board (read straight from its state: no report needed, so a worker can total
    /// thousands of boards without copying them).
    pub fn add_board(
        &mut self,
        started: bool,
        phase: AgentPhase,
        ready: bool,
        stats: &AgentStats,
        counters: &ClientCounters,
        lateness: &Lateness,
    ) {
        self.boards += 1;
        self.started += usize::from(started);
        self.registered += usize::from(phase == AgentPhase::Registered);
        self.ready += usize::from(ready);
        self.renewals = self.renewals.saturating_add(stats.renewals);
        self.renewal_failures = self.renewal_failures.saturating_add(stats.renewal_failures);
        self.handshakes = self
            .handshakes
            .saturating_add(u64::from(counters.handshakes));
        self.requests = self.requests.saturating_add(counters.requests);
        self.bytes_in = self.bytes_in.saturating_add(counters.bytes_in);
        self.bytes_out = self.bytes_out.saturating_add(counters.bytes_out);
        self.lateness.merge(lateness);
    }

    /// Adds another share of the fleet (one worker thread's).
    pub fn merge(&mut self, other: &FleetTotals) {
        self.boards += other.boards;
        self.started += other.started;
        self.registered += other.registered;
        self.ready += other.ready;
        self.renewals = self.renewals.saturating_add(other.renewals);
        self.renewal_failures = self.renewal_failures.saturating_add(other.renewal_failures);
        self.handshakes = self.handshakes.saturating_add(other.handshakes);
        self.requests = self.requests.saturating_add(other.requests);
        self.bytes_in = self.bytes_in.saturating_add(other.bytes_in);
        self.bytes_out = self.bytes_out.saturating_add(other.bytes_out);
        self.lateness.merge(&other.lateness);
    }
}

/// What the terminal view asks for ten times a second: the totals over every board, and full
/// reports only for the rows on screen (`(board index, report)`, by index).
#[derive(Clone, Debug, Default)]
pub struct Glance {
    pub totals: FleetTotals,
    pub rows: Vec<(usize, BoardReport)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lateness_lands_in_the_first_bucket_that_holds_it() {
        let mut l = Lateness::default();
        l.observe(0);
        l.observe(5_000); // exactly 0.005 s: `le` is inclusive
        l.observe(5_001);
        l.observe(10_000_000);
        l.observe(10_000_001);
        assert_eq!(l.buckets[0], 2);
        assert_eq!(l.buckets[1], 1);
        assert_eq!(l.buckets[10], 1);
        assert_eq!(l.buckets[11], 1);
        assert_eq!(l.count, 5);
        assert_eq!(l.sum_micros, 20_010_002);
        let mut m = Lateness::default();
        m.merge(&l);
        m.merge(&l);
        assert_eq!(m.count, 10);
        assert_eq!(m.buckets[0], 4);
    }

    #[test]
    fn a_renewal_event_sets_the_age_and_the_histogram() {
        let t = BoardTelemetry::new();
        assert_eq!(t.last_renewal_age(), None);
        t.observe(&LogEvent::LeaseCreated);
        assert_eq!(t.lateness().count, 0);
        t.observe(&LogEvent::LeaseRenewed { late_us: 30_000 });
        assert!(t.last_renewal_age().is_some());
        assert_eq!(t.lateness().count, 1);
        assert_eq!(t.lateness().buckets[3], 1);
    }
}
