//! What the agent knows, kept across sessions: a reconnect resumes every reconciler where it
//! was. One [`AgentState`] per board, created by the body and passed by `&` to
//! [`crate::agent::run_agent`] and to whatever reads metrics or drives the LED on the same
//! executor.
//!
//! Interior mutability: a `RefCell` borrowed only inside `AgentState::with`, a synchronous
//! closure, so no borrow is ever held across an `.await`.
use core::cell::RefCell;
use core::net::Ipv4Addr;

use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use embassy_sync::signal::Signal;

use crate::agent::events::EventQueue;
use crate::agent::retry::Retry;
use crate::bounded::BoundedStr;
use crate::client::counters::{ClientCounters, ClientMetrics};
use crate::conditions::{
    AssociationWindow, Condition, ConditionSet, ReconnectWindow, RollingWindow, Signals,
};
use crate::k8s::response::UID_LEN;
use crate::led::{has_warning, AgentPhase, ApiErrorClass, LedInputs};
use crate::runtime::{BoardSnapshot, Instant};
use crate::time::{UnixMicros, WallClock};

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

#[derive(Clone, Copy, Debug)]
pub(crate) struct ClockState {
    pub wall: WallClock,
    pub last_anchor: Option<Instant>,
    pub next_attempt: Instant,
    pub retry: Retry,
    pub last_skew: Option<i64>,
}

#[derive(Clone, Debug)]
pub(crate) struct NodeState {
    pub registered: bool,
    pub uid: BoundedStr<UID_LEN>,
    pub started_queued: bool,
    pub next_attempt: Instant,
    pub retry: Retry,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct LeaseState {
    /// The Lease exists on the server as far as we know.
    pub known: bool,
    /// The latest `renewTime` known to be on the server; renewals never go below it.
    pub last_renew_time: Option<UnixMicros>,
    pub next_at: Instant,
    /// When the renewal in progress was due on the cadence: retries move `next_at`, not this,
    /// so lateness counts from the cadence.
    pub due_at: Instant,
    pub last_success: Option<Instant>,
    pub consecutive: u32,
    pub retry: Retry,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct StatusState {
    /// When the next regular push is due (fixed cadence from the registration).
    pub periodic_at: Instant,
    /// When the conditions are next re-evaluated.
    pub check_at: Instant,
    /// No push before this (backoff after a failure).
    pub retry_at: Instant,
    pub retry: Retry,
    /// The node may have been marked Unknown: read the Node and adopt before the next push.
    pub suspect_unknown: bool,
    /// The server's Ready was not True when last read: post NodeReady after the next push.
    pub announce_ready: bool,
    /// The renewals have been failing for longer than the lease duration, and the status task
    /// has taken note (cleared by the next renewal).
    pub stale_flagged: bool,
    /// The board's BSSID change count at the last accepted push.
    pub bssid_changes_at_push: u32,
    /// The `InternalIP` the Node carries, as far as we know (set by registration and by every
    /// accepted push that sent addresses).
    pub address_on_server: Option<Ipv4Addr>,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct BoardTrack {
    pub seen_associations: u32,
    pub associations: AssociationWindow,
    pub reconnects: ReconnectWindow,
    pub latest: BoardSnapshot,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct EventState {
    pub queue: EventQueue,
    pub next_attempt: Instant,
    pub retry: Retry,
    pub sequence: u32,
}

/// The mutable part of [`AgentState`].
#[derive(Clone, Debug)]
pub(crate) struct Inner {
    pub phase: AgentPhase,
    pub last_api_error: Option<ApiErrorClass>,
    pub clock: ClockState,
    /// Created at the first anchoring (lastTransitionTime needs wall time).
    pub conditions: Option<ConditionSet>,
    pub node: NodeState,
    pub lease: LeaseState,
    pub status: StatusState,
    pub board: BoardTrack,
    pub events: EventState,
    pub stats: AgentStats,
}

/// The agent's state; see the module notes.
pub struct AgentState {
    inner: RefCell<Inner>,
    metrics: ClientMetrics,
    /// Wakes the status task at once (an outage ended, a flip is suspected).
    pub(crate) status_wake: Signal<NoopRawMutex, ()>,
    /// Wakes the event task (an event was queued).
    pub(crate) event_wake: Signal<NoopRawMutex, ()>,
}

impl AgentState {
    /// Nothing known yet: not anchored, not registered.
    pub const fn new() -> Self {
        AgentState {
            inner: RefCell::new(Inner {
                phase: AgentPhase::Booting,
                last_api_error: None,
                clock: ClockState {
                    wall: WallClock::new(),
                    last_anchor: None,
                    next_attempt: Instant::ZERO,
                    retry: Retry::NEW,
                    last_skew: None,
                },
                conditions: None,
                node: NodeState {
                    registered: false,
                    uid: BoundedStr::new(),
                    started_queued: false,
                    next_attempt: Instant::ZERO,
                    retry: Retry::NEW,
                },
                lease: LeaseState {
                    known: false,
                    last_renew_time: None,
                    next_at: Instant::ZERO,
                    due_at: Instant::ZERO,
                    last_success: None,
                    consecutive: 0,
                    retry: Retry::NEW,
                },
                status: StatusState {
                    periodic_at: Instant::ZERO,
                    check_at: Instant::ZERO,
                    retry_at: Instant::ZERO,
                    retry: Retry::NEW,
                    suspect_unknown: false,
                    announce_ready: false,
                    stale_flagged: false,
                    bssid_changes_at_push: 0,
                    address_on_server: None,
                },
                board: BoardTrack {
                    seen_associations: 0,
                    associations: RollingWindow::new(),
                    reconnects: RollingWindow::new(),
                    latest: BoardSnapshot {
                        heap_free_bytes: 0,
                        heap_total_bytes: 0,
                        wifi_associations: 0,
                        bssid_changes: 0,
                        link_up: false,
                        ipv4: None,
                    },
                },
                events: EventState {
                    queue: EventQueue::new(),
                    next_attempt: Instant::ZERO,
                    retry: Retry::NEW,
                    sequence: 0,
                },
                stats: AgentStats {
                    anchors: 0,
                    registrations: 0,
                    lease_creations: 0,
                    renewals: 0,
                    renewal_failures: 0,
                    status_pushes: 0,
                    status_push_failures: 0,
                    recoveries: 0,
                    taint_missing: 0,
                    events_posted: 0,
                },
            }),
            metrics: ClientMetrics::new(),
            status_wake: Signal::new(),
            event_wake: Signal::new(),
        }
    }

    /// Runs `f` on the state. Never call it from inside `f`.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        f(&mut self.inner.borrow_mut())
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
        self.with(|s| s.stats)
    }

    /// Where the agent is.
    pub fn phase(&self) -> AgentPhase {
        self.with(|s| s.phase)
    }

    /// The conditions as last evaluated (`None` before the clock was first anchored).
    pub fn conditions(&self) -> Option<[Condition; 9]> {
        self.with(|s| s.conditions.map(|c| *c.conditions()))
    }

    /// Wall time at `mono` (`None` before the first anchoring).
    pub fn wall_now(&self, mono: Instant) -> Option<UnixMicros> {
        self.with(|s| s.clock.wall.now(mono.as_micros()))
    }

    /// Consecutive successful renewals.
    pub fn consecutive_renewals(&self) -> u32 {
        self.with(|s| s.lease.consecutive)
    }

    /// Events waiting to be posted, and dropped so far.
    pub fn events_pending(&self) -> (usize, u32) {
        self.with(|s| (s.events.queue.len(), s.events.queue.dropped))
    }

    /// Everything the LED depends on ([`crate::led::led_state`]).
    pub fn led_inputs(&self) -> LedInputs {
        let in_flight = self.metrics.in_flight();
        self.with(|s| LedInputs {
            phase: s.phase,
            last_api_error: s.last_api_error,
            request_in_flight: in_flight,
            warning: s.conditions.is_some_and(|c| has_warning(c.conditions())),
            panicked: false,
        })
    }
}

impl Default for AgentState {
    fn default() -> Self {
        Self::new()
    }
}

impl Inner {
    /// Reads the board into the condition signals at `now`.
    pub fn signals(&mut self, now: Instant, snap: BoardSnapshot) -> Signals {
        let b = &mut self.board;
        let new = snap.wifi_associations.wrapping_sub(b.seen_associations);
        // The window keeps only its capacity of stamps: recording more changes nothing.
        for _ in 0..new.min(RollingWindow::CAPACITY as u32) {
            b.associations.record(now.as_micros());
        }
        b.seen_associations = snap.wifi_associations;
        b.latest = snap;
        Signals {
            heap_free_bytes: snap.heap_free_bytes,
            heap_total_bytes: snap.heap_total_bytes,
            uptime_micros: now.as_micros(),
            wifi_associations_recent: b.associations.count_recent(now.as_micros()),
            bssid_changed_since_push: snap.bssid_changes != self.status.bssid_changes_at_push,
            consecutive_renewals: self.lease.consecutive,
            last_reanchor_skew_micros: self.clock.last_skew,
            reconnects_recent: b.reconnects.count_recent(now.as_micros()),
        }
    }

    /// The board's address when the Node does not carry it yet.
    pub fn address_to_push(&self) -> Option<Ipv4Addr> {
        self.board
            .latest
            .ipv4
            .filter(|ip| Some(*ip) != self.status.address_on_server)
    }

    pub fn wall_now(&self, now: Instant) -> Option<UnixMicros> {
        self.clock.wall.now(now.as_micros())
    }
}
