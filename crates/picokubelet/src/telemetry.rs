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
use picokubelet_core::conditions::{Condition, ConditionStatus, ConditionType};
use picokubelet_core::led::LedInputs;

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

    /// Adds this board's failures to `by_cause` (count, boards).
    pub fn add_refusals_to(&self, by_cause: &mut RefusalsByCause) {
        for (cause, n) in self.refusals.borrow().iter() {
            by_cause.add(cause, *n, 1);
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

/// One board's figures at one instant: plain `Copy` data, read on the board's thread.
#[derive(Clone, Copy, Debug)]
pub struct BoardFigures {
    /// The board's agent has been started (fleet boards start spread out).
    pub started: bool,
    pub stats: AgentStats,
    pub counters: ClientCounters,
    pub phase: AgentPhase,
    pub conditions: Option<[Condition; 9]>,
    pub consecutive_renewals: u32,
    pub last_renewal_age: Option<Duration>,
    pub lateness: Lateness,
    pub last_api_error: Option<ApiErrorClass>,
    /// The last request got 401 or 403 while connecting or registered: the LED's AuthFailed.
    pub auth_failed: bool,
    /// The agent's part of the status LED's inputs (the terminal view draws the LED from it).
    pub led: LedInputs,
    /// Free heap as the conditions were last evaluated (`None` before the first evaluation).
    pub heap_free_bytes: Option<u32>,
}

impl BoardFigures {
    /// Reads `state` and `telemetry` (on the board's own thread: both are `!Sync`).
    pub fn read(started: bool, state: &AgentState, telemetry: &BoardTelemetry) -> Self {
        BoardFigures {
            started,
            stats: state.stats(),
            counters: state.counters(),
            phase: state.phase(),
            conditions: state.conditions(),
            consecutive_renewals: state.consecutive_renewals(),
            last_renewal_age: telemetry.last_renewal_age(),
            lateness: telemetry.lateness(),
            last_api_error: state.last_api_error(),
            auth_failed: state.last_api_error().is_some_and(ApiErrorClass::is_auth)
                && matches!(
                    state.phase(),
                    AgentPhase::Connecting | AgentPhase::Registered
                ),
            led: LedInputs::of_agent(state),
            heap_free_bytes: state
                .conditions()
                .map(|_| state.board_reading().heap_free_bytes),
        }
    }

    /// The phase as the LED shows it: `AuthFailed` outranks Connecting and Registered.
    pub fn shown_phase(&self) -> &'static str {
        if self.auth_failed {
            return AUTH_FAILED;
        }
        match self.phase {
            AgentPhase::Booting => "Booting",
            AgentPhase::LinkDown => "LinkDown",
            AgentPhase::Connecting => "Connecting",
            AgentPhase::Registered => "Registered",
        }
    }

    /// The status of the board's Ready condition (`None` before the first evaluation).
    pub fn ready(&self) -> Option<ConditionStatus> {
        self.conditions
            .iter()
            .flatten()
            .find(|c| c.kind == ConditionType::Ready)
            .map(|c| c.status)
    }

    /// A started board is in trouble when it is not Ready (a board that never registered is
    /// not), its last renewal is older than `lease_duration` (the server will mark it
    /// NotReady), or its credentials or RBAC were refused (AuthFailed).
    pub fn in_trouble(&self, lease_duration: Duration) -> bool {
        if !self.started {
            return false;
        }
        let not_ready = self.ready() != Some(ConditionStatus::True);
        let stale = self
            .last_renewal_age
            .is_some_and(|age| age > lease_duration);
        let refused = self.last_api_error.is_some_and(ApiErrorClass::is_auth);
        not_ready || stale || refused
    }
}

/// One board's figures with its name: what a per-board series is made of.
#[derive(Clone, Debug)]
pub struct BoardReport {
    pub name: String,
    pub figures: BoardFigures,
}

impl BoardReport {
    /// Reads `state` and `telemetry` (on the board's own thread: both are `!Sync`).
    pub fn read(name: &str, started: bool, state: &AgentState, telemetry: &BoardTelemetry) -> Self {
        BoardReport {
            name: name.to_owned(),
            figures: BoardFigures::read(started, state, telemetry),
        }
    }
}

/// The classes a board's most recent failed request can have, in exposition order.
pub const ERROR_CLASSES: [ApiErrorClass; 5] = [
    ApiErrorClass::Unauthorized,
    ApiErrorClass::Forbidden,
    ApiErrorClass::Throttled,
    ApiErrorClass::ServerError,
    ApiErrorClass::Transport,
];

/// The phase a board shows after a 401/403 ([`BoardFigures::shown_phase`]).
pub const AUTH_FAILED: &str = "AuthFailed";

/// The phases as the LED shows them, in exposition order: the agent's four, and AuthFailed
/// (a 401/403) outranking Connecting and Registered.
pub const PHASES: [&str; 5] = [
    "Booting",
    "LinkDown",
    "Connecting",
    "Registered",
    AUTH_FAILED,
];

/// Condition statuses, in exposition order.
pub const STATUSES: [ConditionStatus; 3] = [
    ConditionStatus::True,
    ConditionStatus::False,
    ConditionStatus::Unknown,
];

fn position<T: PartialEq>(all: &[T], x: &T) -> Option<usize> {
    all.iter().position(|a| a == x)
}

/// Totals over many boards: counters summed, gauges counted by value. Built by adding boards one
/// at a time on their own threads, then merged, so a scrape copies no per-board data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FleetTotals {
    pub boards: usize,
    pub started: usize,
    pub registered: usize,
    pub renewals: u64,
    pub renewal_failures: u64,
    pub status_pushes: u64,
    pub status_push_failures: u64,
    pub handshakes: u64,
    pub connect_failures: u64,
    pub timeouts: u64,
    pub requests: u64,
    /// Responses by class: 2xx, 4xx, 5xx, other.
    pub responses: [u64; 4],
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub lateness: Lateness,
    /// Boards per phase as shown, in [`PHASES`] order.
    pub by_phase: [usize; 5],
    /// Boards per (condition type, status), in [`ConditionType::ALL`] × [`STATUSES`] order.
    pub by_condition: [[usize; 3]; 9],
    /// Boards per class of their most recent failed request, in [`ERROR_CLASSES`] order.
    pub by_last_error: [usize; 5],
    /// Boards in trouble ([`BoardFigures::in_trouble`]).
    pub in_trouble: usize,
}

impl FleetTotals {
    /// Boards showing AuthFailed (refused with 401/403).
    pub fn auth_failed(&self) -> usize {
        position(&PHASES, &AUTH_FAILED)
            .and_then(|i| self.by_phase.get(i))
            .copied()
            .unwrap_or(0)
    }

    /// Boards whose Ready condition is True.
    pub fn ready(&self) -> usize {
        let ready = ConditionType::Ready.index();
        let true_ = position(&STATUSES, &ConditionStatus::True);
        self.by_condition
            .get(ready)
            .zip(true_)
            .and_then(|(row, t)| row.get(t))
            .copied()
            .unwrap_or(0)
    }

    /// Counts one board (`in_trouble` as the caller judged it).
    pub fn add(&mut self, f: &BoardFigures, in_trouble: bool) {
        self.boards += 1;
        self.started += usize::from(f.started);
        self.registered += usize::from(f.phase == AgentPhase::Registered);
        self.in_trouble += usize::from(in_trouble);
        let add = |a: &mut u64, b: u64| *a = a.saturating_add(b);
        add(&mut self.renewals, f.stats.renewals);
        add(&mut self.renewal_failures, f.stats.renewal_failures);
        add(&mut self.status_pushes, f.stats.status_pushes);
        add(&mut self.status_push_failures, f.stats.status_push_failures);
        let c = &f.counters;
        add(&mut self.handshakes, u64::from(c.handshakes));
        add(&mut self.connect_failures, u64::from(c.connect_failures));
        add(&mut self.timeouts, u64::from(c.timeouts));
        add(&mut self.requests, c.requests);
        let classes = [
            c.responses_2xx,
            c.responses_4xx,
            c.responses_5xx,
            c.responses_other,
        ];
        for (a, b) in self.responses.iter_mut().zip(classes) {
            add(a, b);
        }
        add(&mut self.bytes_in, c.bytes_in);
        add(&mut self.bytes_out, c.bytes_out);
        self.lateness.merge(&f.lateness);
        let shown = f.shown_phase();
        if let Some(n) = position(&PHASES, &shown).and_then(|i| self.by_phase.get_mut(i)) {
            *n += 1;
        }
        for c in f.conditions.iter().flatten() {
            let slot = self
                .by_condition
                .get_mut(c.kind.index())
                .zip(position(&STATUSES, &c.status))
                .and_then(|(row, s)| row.get_mut(s));
            if let Some(n) = slot {
                *n += 1;
            }
        }
        if let Some(n) = f
            .last_api_error
            .and_then(|e| position(&ERROR_CLASSES, &e))
            .and_then(|i| self.by_last_error.get_mut(i))
        {
            *n += 1;
        }
    }

    /// Adds another set of totals (one worker thread's).
    pub fn merge(&mut self, o: &FleetTotals) {
        self.boards += o.boards;
        self.started += o.started;
        self.registered += o.registered;
        self.in_trouble += o.in_trouble;
        for (a, b) in [
            (&mut self.renewals, o.renewals),
            (&mut self.renewal_failures, o.renewal_failures),
            (&mut self.status_pushes, o.status_pushes),
            (&mut self.status_push_failures, o.status_push_failures),
            (&mut self.handshakes, o.handshakes),
            (&mut self.connect_failures, o.connect_failures),
            (&mut self.timeouts, o.timeouts),
            (&mut self.requests, o.requests),
            (&mut self.bytes_in, o.bytes_in),
            (&mut self.bytes_out, o.bytes_out),
        ] {
            *a = a.saturating_add(b);
        }
        for (a, b) in self.responses.iter_mut().zip(o.responses) {
            *a = a.saturating_add(b);
        }
        self.lateness.merge(&o.lateness);
        for (a, b) in self.by_phase.iter_mut().zip(o.by_phase) {
            *a += b;
        }
        for (row, other) in self.by_condition.iter_mut().zip(o.by_condition) {
            for (a, b) in row.iter_mut().zip(other) {
                *a += b;
            }
        }
        for (a, b) in self.by_last_error.iter_mut().zip(o.by_last_error) {
            *a += b;
        }
    }

    /// Totals of `reports`, judged against `lease_duration`.
    pub fn of(reports: &[BoardReport], lease_duration: Duration) -> Self {
        let mut t = FleetTotals::default();
        for r in reports {
            t.add(&r.figures, r.figures.in_trouble(lease_duration));
        }
        t
    }
}

/// Which boards get their own series in a scrape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PerBoard {
    /// Every board (`run`, and `fleet --metrics-per-board`).
    All,
    /// Only boards in trouble, at most this many (the first by name).
    InTrouble { at_most: usize },
}

/// Boards with their own series when only boards in trouble get them. At ~3.3 KB of series
/// per board this keeps a scrape under ~340 KB however many boards are in trouble (the count of
/// all of them is in `picokubelet_boards_in_trouble`).
pub const MAX_TROUBLED_SERIES: usize = 100;

/// What one scrape reports: the totals, and the boards that get their own series.
#[derive(Clone, Debug, Default)]
pub struct Scrape {
    pub totals: FleetTotals,
    /// Sorted by name.
    pub boards: Vec<BoardReport>,
    /// Failures by cause over the boards (all of them, not only those with series).
    pub refusals: RefusalsByCause,
    /// The handshake pacer, when the process has one.
    pub pacer: Option<crate::pacer::PacerFigures>,
    /// The boards' certificates, when they bootstrap them (`fleet --bootstrap-kubeconfig`).
    pub certificates: Option<crate::bootstrap::figures::CertificateFigures>,
}

impl Scrape {
    /// Reads `boards` (name, figures) into totals, copying out only the boards `per_board` asks
    /// for. `lease_duration` is the staleness limit of [`BoardFigures::in_trouble`].
    pub fn gather<'a>(
        boards: impl Iterator<Item = (&'a str, BoardFigures)>,
        per_board: PerBoard,
        lease_duration: Duration,
    ) -> Self {
        let mut s = Scrape::default();
        for (name, f) in boards {
            let trouble = f.in_trouble(lease_duration);
            s.totals.add(&f, trouble);
            let keep = match per_board {
                PerBoard::All => true,
                PerBoard::InTrouble { at_most } => trouble && s.boards.len() < at_most,
            };
            if keep {
                s.boards.push(BoardReport {
                    name: name.to_owned(),
                    figures: f,
                });
            }
        }
        s.boards.sort_by(|a, b| a.name.cmp(&b.name));
        s
    }

    /// Adds another worker's scrape; keeps the per-board limit of `per_board`.
    pub fn merge(&mut self, other: Scrape, per_board: PerBoard) {
        self.totals.merge(&other.totals);
        self.refusals.merge(&other.refusals);
        self.boards.extend(other.boards);
        self.boards.sort_by(|a, b| a.name.cmp(&b.name));
        if let PerBoard::InTrouble { at_most } = per_board {
            self.boards.truncate(at_most);
        }
    }
}

/// Failures by cause over many boards: (times, boards) per cause key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RefusalsByCause(BTreeMap<String, (u64, usize)>);

impl RefusalsByCause {
    /// `times` failures of `cause` on `boards` boards.
    pub fn add(&mut self, cause: &str, times: u64, boards: usize) {
        let e = self.0.entry(cause.to_owned()).or_default();
        e.0 = e.0.saturating_add(times);
        e.1 += boards;
    }

    /// Adds another share of the fleet's.
    pub fn merge(&mut self, other: &RefusalsByCause) {
        for (cause, (times, boards)) in &other.0 {
            self.add(cause, *times, *boards);
        }
    }
}

/// Most frequent first: `cause ×count on N boards`, comma-separated (empty when there were
/// none).
impl std::fmt::Display for RefusalsByCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut rows: Vec<(&String, &(u64, usize))> = self.0.iter().collect();
        rows.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(b.0)));
        for (i, (cause, (n, boards))) in rows.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{cause} ×{n} on {boards} boards")?;
        }
        Ok(())
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
        let mut by_cause = RefusalsByCause::default();
        t.add_refusals_to(&mut by_cause);
        let mut other = RefusalsByCause::default();
        other.add("401", 1, 1);
        other.add("tls untrusted_chain", 5, 1);
        by_cause.merge(&other);
        assert_eq!(
            by_cause.to_string(),
            "tls untrusted_chain ×5 on 1 boards, 401 ×3 on 2 boards"
        );
        assert_eq!(RefusalsByCause::default().to_string(), "");
    }

    #[test]
    fn a_refused_board_shows_auth_failed_and_is_counted_so() {
        let state = AgentState::new();
        let mut f = BoardFigures::read(true, &state, &BoardTelemetry::new());
        f.phase = AgentPhase::Registered;
        assert_eq!(f.shown_phase(), "Registered");
        f.auth_failed = true;
        assert_eq!(f.shown_phase(), AUTH_FAILED);
        let mut t = FleetTotals::default();
        t.add(&f, true);
        assert_eq!(t.auth_failed(), 1);
        assert_eq!(t.registered, 1);
    }
}
