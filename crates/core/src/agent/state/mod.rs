//! What the agent knows, kept across sessions: a reconnect resumes every reconciler where it
//! was. One [`AgentState`] per board, created by the body and passed by `&` to
//! [`crate::agent::run_agent`] and to whatever reads metrics or drives the LED on the same
//! executor.
//!
//! Each reconciler owns one slice, a struct in this directory whose fields are private to its
//! file and change only through its methods — [`ClockAnchor`] (`anchor.rs`, for `clock.rs`),
//! [`Registrar`] (`registrar.rs`, for `registration.rs`), [`LeaseKeeper`] (`lease.rs`),
//! [`StatusReporter`] (`status.rs`), [`EventPoster`] (`poster.rs`, for `event_task.rs`); the
//! Node's status model ([`NodeModel`], `model.rs`) is shared by the two status writers. The
//! slices import nothing of the tasks, so the tasks → state imports make no circle. Every deadline is in
//! one [`TimerTable`]. What one task's result means for another (registered → the Lease must be
//! read; a renewal after a long gap → the status task must re-read the Node; the Node is gone →
//! register again) is an [`AgentEvent`], applied in one place: [`AgentState::apply`].
//!
//! Interior mutability without borrows: every slice is a `Copy` value in a `Cell`, read by
//! copy and written back whole, so there is no borrow to hold across an `.await` or to nest.
use core::cell::Cell;

use embassy_futures::select::select;
use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use embassy_sync::signal::Signal;

mod anchor;
mod lease;
mod model;
mod poster;
mod registrar;
mod status;

pub(crate) use anchor::ClockAnchor;
pub(crate) use lease::LeaseKeeper;
pub(crate) use model::{AgentSignals, NodeModel};
pub(crate) use poster::EventPoster;
pub(crate) use registrar::Registrar;
pub(crate) use status::StatusReporter;

use crate::agent::config::AgentConfig;
use crate::agent::events::{EventReason, Pushed};
use crate::agent::log::{Log, LogEvent};
use crate::agent::outcome::Setback;
use crate::agent::phase::{AgentPhase, ApiErrorClass};
use crate::agent::timers::{Timer, TimerTable};
use crate::bounded::BoundedStr;
use crate::client::counters::{ClientCounters, ClientMetrics};
use crate::conditions::{Condition, ConditionSet};
use crate::k8s::response::UID_LEN;
use crate::runtime::{BoardSnapshot, Instant};
use crate::time::UnixMicros;

/// Totals since boot, for metrics and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AgentStats {
    /// Successful anchorings of the wall clock (the first one included).
    pub anchors: u32,
    /// Registrations completed: created (201) or adopted (409).
    pub registrations: u32,
    /// Lease creations (201).
    pub lease_creations: u32,
    /// Renewals accepted (200).
    pub renewals: u64,
    /// Renewals that failed (any answer but 200, or none).
    pub renewal_failures: u64,
    /// Status patches accepted.
    pub status_pushes: u64,
    /// Status patches that failed.
    pub status_push_failures: u64,
    /// Renewals that came after a gap longer than the lease duration.
    pub recoveries: u32,
    /// Times the Node was found without our taint.
    pub taint_missing: u32,
    /// Events posted (201 or 409).
    pub events_posted: u32,
}

/// A cross-task effect: what one reconciler's result means for the others.
#[derive(Clone, Copy, Debug)]
pub(crate) enum AgentEvent {
    /// A connection attempt begins; the board's link is `link_up`.
    Connecting { link_up: bool },
    /// A session is open; `reconnect`: not the first since boot.
    SessionOpened { reconnect: bool },
    /// The wall clock was (re-)anchored; the board read as `board`.
    Anchored { board: BoardSnapshot },
    /// The Node is registered; `first`: the first time since boot.
    Registered { first: bool },
    /// A renewal was accepted; `after_long_gap`: the previous one was longer than the lease
    /// duration ago, so the lifecycle controller may have marked the node Unknown.
    Renewed { after_long_gap: bool },
    /// A read of the Node (still there) gave its uid.
    NodeFound { uid: BoundedStr<UID_LEN> },
    /// The Node is gone (404): register again.
    NodeGone,
    /// Post a Node Event.
    Announce(EventReason),
}

/// The agent's state; see the module notes.
pub struct AgentState {
    phase: Cell<AgentPhase>,
    last_api_error: Cell<Option<ApiErrorClass>>,
    timers: Cell<TimerTable>,
    anchor: Cell<ClockAnchor>,
    registrar: Cell<Registrar>,
    lease: Cell<LeaseKeeper>,
    status: Cell<StatusReporter>,
    poster: Cell<EventPoster>,
    model: Cell<NodeModel>,
    metrics: ClientMetrics,
    /// Wakes the status task at once (an outage ended, a flip is suspected).
    pub(crate) status_wake: Signal<NoopRawMutex, ()>,
    /// Wakes the event task (an event was queued).
    pub(crate) event_wake: Signal<NoopRawMutex, ()>,
    /// Something the LED shows changed (phase, API error class, a condition's status).
    led_wake: Signal<NoopRawMutex, ()>,
}

/// Generates the copy-out / write-back pair of one slice.
macro_rules! slice {
    ($get:ident, $set:ident, $ty:ty) => {
        pub(crate) fn $get(&self) -> $ty {
            self.$get.get()
        }

        pub(crate) fn $set(&self, value: $ty) {
            self.$get.set(value)
        }
    };
}

impl AgentState {
    /// Nothing known yet: not anchored, not registered.
    pub const fn new() -> Self {
        AgentState {
            phase: Cell::new(AgentPhase::Booting),
            last_api_error: Cell::new(None),
            timers: Cell::new(TimerTable::NEW),
            anchor: Cell::new(ClockAnchor::NEW),
            registrar: Cell::new(Registrar::NEW),
            lease: Cell::new(LeaseKeeper::NEW),
            status: Cell::new(StatusReporter::NEW),
            poster: Cell::new(EventPoster::NEW),
            model: Cell::new(NodeModel::NEW),
            metrics: ClientMetrics::new(),
            status_wake: Signal::new(),
            event_wake: Signal::new(),
            led_wake: Signal::new(),
        }
    }

    slice!(anchor, set_anchor, ClockAnchor);
    slice!(registrar, set_registrar, Registrar);
    slice!(lease, set_lease, LeaseKeeper);
    slice!(status, set_status, StatusReporter);
    slice!(poster, set_poster, EventPoster);
    slice!(model, set_model, NodeModel);

    pub(crate) fn timers(&self) -> TimerTable {
        self.timers.get()
    }

    /// When `timer` fires (the far future if it is not armed).
    pub(crate) fn timer(&self, timer: Timer) -> Instant {
        self.timers.get().at(timer)
    }

    pub(crate) fn set_timer(&self, timer: Timer, at: Instant) {
        let mut t = self.timers.get();
        t.set(timer, at);
        self.timers.set(t);
    }

    pub(crate) fn succeeded(&self, timer: Timer, next: Instant) {
        let mut t = self.timers.get();
        t.succeeded(timer, next);
        self.timers.set(t);
    }

    pub(crate) fn back_off(
        &self,
        timer: Timer,
        setback: Setback,
        random: u32,
        now: Instant,
        urgent: bool,
    ) {
        let mut t = self.timers.get();
        t.back_off(timer, setback, random, now, urgent);
        self.timers.set(t);
    }

    pub(crate) fn set_last_api_error(&self, class: Option<ApiErrorClass>) {
        if self.last_api_error.replace(class) != class {
            self.led_wake.signal(());
        }
    }

    fn set_phase(&self, phase: AgentPhase) {
        if self.phase.replace(phase) != phase {
            self.led_wake.signal(());
        }
    }

    /// A condition the LED may show changed status.
    pub(crate) fn led_changed(&self) {
        self.led_wake.signal(());
    }

    /// The conditions with their generation, for a status body.
    pub(crate) fn conditions_set(&self) -> Option<ConditionSet> {
        self.model.get().conditions().copied()
    }

    pub(crate) fn last_renew_time(&self) -> Option<UnixMicros> {
        self.lease.get().last_renew_time()
    }

    /// What the agent's own counters feed into the condition rules.
    pub(crate) fn agent_signals(&self) -> AgentSignals {
        AgentSignals {
            consecutive_renewals: self.lease.get().consecutive(),
            last_reanchor_skew_micros: self.anchor.get().last_skew(),
        }
    }

    /// The one place where a task's result reaches the others' state; see [`AgentEvent`].
    pub(crate) fn apply(
        &self,
        event: AgentEvent,
        now: Instant,
        config: &AgentConfig<'_>,
        log: &dyn Log,
    ) {
        let timing = config.timing;
        match event {
            AgentEvent::Connecting { link_up } => self.set_phase(if link_up {
                AgentPhase::Connecting
            } else {
                AgentPhase::LinkDown
            }),
            AgentEvent::SessionOpened { reconnect } => {
                if reconnect {
                    let mut model = self.model.get();
                    model.record_reconnect(now);
                    self.model.set(model);
                }
                // A reconnect of a registered node is not news for the LED.
                if self.registrar.get().is_registered() {
                    self.set_phase(AgentPhase::Registered);
                }
            }
            AgentEvent::Anchored { board } => {
                let mut timers = self.timers.get();
                timers.succeeded(Timer::Anchor, now.saturating_add(timing.reanchor_interval));
                self.timers.set(timers);
                let wall = self.wall_now(now);
                let signals = self.agent_signals();
                if let Some(wall) = wall {
                    let mut model = self.model.get();
                    model.start(config.thresholds, now, wall, board, signals);
                    self.model.set(model);
                }
            }
            AgentEvent::Registered { first } => {
                // A new Node needs a new Lease (the old one dies with the old Node); an adopted
                // one may have one: the lease task reads it first either way.
                let mut lease = self.lease.get();
                lease.forget();
                self.lease.set(lease);
                let mut status = self.status.get();
                status.suspect_unknown(false);
                self.status.set(status);
                let mut timers = self.timers.get();
                timers.succeeded(Timer::Register, now);
                timers.clear(Timer::Register);
                timers.set(Timer::Renew, now);
                timers.set(
                    Timer::StatusPeriodic,
                    now.saturating_add(timing.status_interval),
                );
                timers.set(
                    Timer::StatusCheck,
                    now.saturating_add(timing.condition_check_interval),
                );
                timers.set(Timer::StatusRetry, now);
                self.timers.set(timers);
                self.set_phase(AgentPhase::Registered);
                if first {
                    self.announce(EventReason::Starting, now, config, log);
                }
                self.announce(EventReason::NodeReady, now, config, log);
            }
            AgentEvent::Renewed { after_long_gap } => {
                self.set_phase(AgentPhase::Registered);
                if after_long_gap {
                    let mut status = self.status.get();
                    status.suspect_unknown(true);
                    self.status.set(status);
                    // The status task reads the Node and re-asserts Ready now rather than at
                    // its next period.
                    self.status_wake.signal(());
                }
            }
            AgentEvent::NodeFound { uid } => {
                let mut registrar = self.registrar.get();
                registrar.learn_uid(&uid);
                self.registrar.set(registrar);
            }
            AgentEvent::NodeGone => {
                let mut registrar = self.registrar.get();
                registrar.forget();
                self.registrar.set(registrar);
                let mut lease = self.lease.get();
                lease.forget();
                self.lease.set(lease);
                self.set_timer(Timer::Register, now);
                self.set_phase(AgentPhase::Connecting);
            }
            AgentEvent::Announce(reason) => self.announce(reason, now, config, log),
        }
    }

    /// Queues a Node Event (rate-limited per reason) and wakes the event task.
    fn announce(&self, reason: EventReason, now: Instant, config: &AgentConfig<'_>, log: &dyn Log) {
        let at = self.wall_now(now);
        let mut poster = self.poster.get();
        let pushed = poster.queue(reason, at, now, config.timing.event_min_interval);
        self.poster.set(poster);
        match pushed {
            Pushed::Queued => {}
            Pushed::QueuedDroppingOldest(old) => log.log(&LogEvent::EventDropped {
                reason: old.as_str(),
            }),
            Pushed::RateLimited => log.log(&LogEvent::EventDropped {
                reason: reason.as_str(),
            }),
        }
        self.event_wake.signal(());
    }

    /// The client's counters and in-flight bit.
    pub fn metrics(&self) -> &ClientMetrics {
        &self.metrics
    }

    /// A copy of the client's counters.
    pub fn counters(&self) -> ClientCounters {
        self.metrics.snapshot()
    }

    /// A copy of the agent's totals.
    pub fn stats(&self) -> AgentStats {
        let lease = self.lease.get();
        let registrar = self.registrar.get();
        let status = self.status.get();
        AgentStats {
            anchors: self.anchor.get().anchors(),
            registrations: registrar.registrations(),
            lease_creations: lease.creations(),
            renewals: lease.renewals(),
            renewal_failures: lease.failures(),
            status_pushes: status.pushes(),
            status_push_failures: status.failures(),
            recoveries: lease.recoveries(),
            taint_missing: registrar.taint_missing(),
            events_posted: self.poster.get().posted(),
        }
    }

    /// Where the agent is.
    pub fn phase(&self) -> AgentPhase {
        self.phase.get()
    }

    /// The class of the last failed API request (`None` once one succeeded again).
    pub fn last_api_error(&self) -> Option<ApiErrorClass> {
        self.last_api_error.get()
    }

    /// Completes when something the LED shows may have changed: the phase, the last API
    /// error's class, a condition's status, the in-flight bit. For the body's LED task, which
    /// then reads [`crate::led::LedInputs::of_agent`]; one waiter at a time.
    pub async fn led_changed_wait(&self) {
        select(self.led_wake.wait(), self.metrics.in_flight_changed()).await;
    }

    /// The conditions as last evaluated (`None` before the clock was first anchored).
    pub fn conditions(&self) -> Option<[Condition; 9]> {
        self.model.get().conditions().map(|c| *c.conditions())
    }

    /// The board's readings the conditions were last evaluated from (what the Node reports as
    /// free heap); all zero before the first evaluation.
    pub fn board_reading(&self) -> BoardSnapshot {
        self.model.get().latest()
    }

    /// Wall time at `mono` (`None` before the first anchoring).
    pub fn wall_now(&self, mono: Instant) -> Option<UnixMicros> {
        self.anchor.get().wall_now(mono)
    }

    /// Consecutive successful renewals.
    pub fn consecutive_renewals(&self) -> u32 {
        self.lease.get().consecutive()
    }

    /// Events waiting to be posted, and dropped so far.
    pub fn events_pending(&self) -> (usize, u32) {
        self.poster.get().pending()
    }

    /// The earliest armed deadline of the agent (for a body that wants to know when it will
    /// next have work, e.g. to sleep a radio).
    pub fn next_due(&self) -> Option<Instant> {
        self.timers.get().next_due().map(|(_, at)| at)
    }
}

impl Default for AgentState {
    fn default() -> Self {
        Self::new()
    }
}
