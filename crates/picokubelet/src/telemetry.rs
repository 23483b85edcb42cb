//! What a board's metrics are made of: the agent's own counters ([`AgentState`], read on the
//! board's thread) plus what the host learns from the log events (renewal lateness, the instant
//! of the last renewal). A [`BoardReport`] is a plain `Send` copy of it all, for the metrics
//! endpoint and the fleet summary on another thread.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use picokubelet_core::agent::{AgentPhase, ApiErrorClass};
use picokubelet_core::agent::{AgentState, AgentStats, LogEvent};
use picokubelet_core::client::counters::ClientCounters;
use picokubelet_core::conditions::Condition;

use crate::refusal::cause_of;

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
    /// Failures by cause ([`crate::refusal::Cause::key`]): how often each happened.
    refusals: RefCell<BTreeMap<String, u64>>,
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
        if let Some(cause) = cause_of(event) {
            let mut refusals = self.refusals.borrow_mut();
            let n = refusals.entry(cause.key).or_default();
            *n = n.saturating_add(1);
        }
    }

    /// Failures by cause so far.
    pub fn refusals(&self) -> Vec<(String, u64)> {
        self.refusals
            .borrow()
            .iter()
            .map(|(k, n)| (k.clone(), *n))
            .collect()
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
    /// The last request got 401 or 403 while connecting or registered: the LED's AuthFailed.
    pub auth_failed: bool,
    /// Failures by cause: how often each happened.
    pub refusals: Vec<(String, u64)>,
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
            auth_failed: state.last_api_error().is_some_and(ApiErrorClass::is_auth)
                && matches!(
                    state.phase(),
                    AgentPhase::Connecting | AgentPhase::Registered
                ),
            refusals: telemetry.refusals(),
        }
    }

    /// The phase as the LED shows it: `AuthFailed` outranks Connecting and Registered.
    pub fn shown_phase(&self) -> &'static str {
        if self.auth_failed {
            return "AuthFailed";
        }
        match self.phase {
            AgentPhase::Booting => "Booting",
            AgentPhase::LinkDown => "LinkDown",
            AgentPhase::Connecting => "Connecting",
            AgentPhase::Registered => "Registered",
        }
    }
}

/// Failures by cause over many boards, most frequent first: `cause ×count on N boards`,
/// comma-separated (empty when there were none).
pub fn refusals_by_cause(reports: &[BoardReport]) -> String {
    let mut by_cause: BTreeMap<&str, (u64, usize)> = BTreeMap::new();
    for r in reports {
        for (cause, n) in &r.refusals {
            let e = by_cause.entry(cause.as_str()).or_default();
            e.0 = e.0.saturating_add(*n);
            e.1 += 1;
        }
    }
    let mut rows: Vec<(&str, (u64, usize))> = by_cause.into_iter().collect();
    rows.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(b.0)));
    rows.iter()
        .map(|(cause, (n, boards))| format!("{cause} ×{n} on {boards} boards"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Totals over many boards.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FleetTotals {
    pub boards: usize,
    pub started: usize,
    pub registered: usize,
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
        let mut t = FleetTotals {
            boards: reports.len(),
            ..FleetTotals::default()
        };
        for r in reports {
            t.started += usize::from(r.started);
            t.registered += usize::from(r.phase == AgentPhase::Registered);
            t.renewals = t.renewals.saturating_add(r.stats.renewals);
            t.renewal_failures = t.renewal_failures.saturating_add(r.stats.renewal_failures);
            t.handshakes = t
                .handshakes
                .saturating_add(u64::from(r.counters.handshakes));
            t.requests = t.requests.saturating_add(r.counters.requests);
            t.bytes_in = t.bytes_in.saturating_add(r.counters.bytes_in);
            t.bytes_out = t.bytes_out.saturating_add(r.counters.bytes_out);
            t.lateness.merge(&r.lateness);
        }
        t
    }
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

    #[test]
    fn refusals_are_counted_by_cause_and_summed_over_boards() {
        use picokubelet_core::agent::policy::{Action, Operation};
        let t = BoardTelemetry::new();
        let refused = LogEvent::Refused {
            op: Operation::RenewLease,
            status: 401,
            action: Action::CredentialsRejected,
            message: "Unauthorized",
        };
        t.observe(&refused);
        t.observe(&refused);
        // A first boot's 404 on the Lease is the protocol, not a refusal.
        t.observe(&LogEvent::Refused {
            op: Operation::ReadLease,
            status: 404,
            action: Action::RecreateLease,
            message: "",
        });
        assert_eq!(t.refusals(), [("401".to_owned(), 2)]);
        let report = |refusals: Vec<(String, u64)>| BoardReport {
            name: "b".into(),
            started: true,
            stats: AgentStats::default(),
            counters: ClientCounters::default(),
            phase: AgentPhase::Registered,
            conditions: None,
            consecutive_renewals: 0,
            last_renewal_age: None,
            lateness: Lateness::default(),
            auth_failed: true,
            refusals,
        };
        let reports = [
            report(t.refusals()),
            report(vec![("401".into(), 1), ("tls untrusted_chain".into(), 5)]),
        ];
        assert_eq!(
            refusals_by_cause(&reports),
            "tls untrusted_chain ×5 on 1 boards, 401 ×3 on 2 boards"
        );
        assert_eq!(reports[0].shown_phase(), "AuthFailed");
    }
}
