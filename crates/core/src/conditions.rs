//! Node conditions: the four standard ones plus our own, computed from real signals
//! (DESIGN.md §8), with `lastTransitionTime` that moves only when a status changes.
//!
//! Three layers, each pure: [`Signals`] (what the board measured) → [`evaluate`] (the rules: a
//! [`Verdict`] per condition) → [`ConditionSet`] (the conditions as sent, with transition times
//! and the "push now" bookkeeping). Time is always passed in: monotonic µs since boot for the
//! rolling windows, wall time ([`UnixMicros`]) for `lastTransitionTime`.
use crate::time::{UnixMicros, TIME_SLIP_THRESHOLD_MICROS};
use ConditionStatus::{False, True, Unknown};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConditionStatus {
    True,
    False,
    Unknown,
}

impl ConditionStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            ConditionStatus::True => "True",
            ConditionStatus::False => "False",
            ConditionStatus::Unknown => "Unknown",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConditionType {
    Ready,
    MemoryPressure,
    DiskPressure,
    PIDPressure,
    Vibes,
    Caffeinated,
    Existential,
    Peckish,
    Haunted,
}

impl ConditionType {
    /// Every condition we report, in the order we send them.
    pub const ALL: [ConditionType; 9] = [
        ConditionType::Ready,
        ConditionType::MemoryPressure,
        ConditionType::DiskPressure,
        ConditionType::PIDPressure,
        ConditionType::Vibes,
        ConditionType::Caffeinated,
        ConditionType::Existential,
        ConditionType::Peckish,
        ConditionType::Haunted,
    ];

    /// Position in [`ConditionType::ALL`] (and in [`ConditionSet::conditions`]).
    pub const fn index(self) -> usize {
        match self {
            ConditionType::Ready => 0,
            ConditionType::MemoryPressure => 1,
            ConditionType::DiskPressure => 2,
            ConditionType::PIDPressure => 3,
            ConditionType::Vibes => 4,
            ConditionType::Caffeinated => 5,
            ConditionType::Existential => 6,
            ConditionType::Peckish => 7,
            ConditionType::Haunted => 8,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            ConditionType::Ready => "Ready",
            ConditionType::MemoryPressure => "MemoryPressure",
            ConditionType::DiskPressure => "DiskPressure",
            ConditionType::PIDPressure => "PIDPressure",
            ConditionType::Vibes => "Vibes",
            ConditionType::Caffeinated => "Caffeinated",
            ConditionType::Existential => "Existential",
            ConditionType::Peckish => "Peckish",
            ConditionType::Haunted => "Haunted",
        }
    }
}

/// One entry of `status.conditions`, as sent. `reason` and `message` are static: messages are
/// short, dry, fixed texts, so a condition is `Copy` and has a known size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Condition {
    pub kind: ConditionType,
    pub status: ConditionStatus,
    pub reason: &'static str,
    pub message: &'static str,
    pub last_transition: UnixMicros,
}

const MICROS_PER_MINUTE: u64 = 60 * 1_000_000;

// ---------------------------------------------------------------------------------------------
// Rolling windows
// ---------------------------------------------------------------------------------------------

/// Length of the rolling windows: 5 minutes in µs.
pub const ROLLING_WINDOW_MICROS: u64 = 5 * MICROS_PER_MINUTE;

/// A true rolling 5-minute window of event timestamps (monotonic µs since boot) in fixed memory.
///
/// A ring buffer of the [`CAPACITY`](Self::CAPACITY) most recent timestamps. Because they come
/// from a monotonic counter, the most recent ones are also the latest, so
/// [`count_recent`](Self::count_recent) is exact while fewer than `CAPACITY` events lie in the
/// window and saturates at `CAPACITY` otherwise: any "at least k events in 5 minutes" rule with
/// k ≤ `CAPACITY` is decided exactly. The `Cursed` rule needs k = 3 by default; 8 leaves room to
/// configure it higher. Older events simply fall out, so there is no overflow case.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RollingWindow {
    stamps: [u64; RollingWindow::CAPACITY],
    /// How many slots hold an event (≤ CAPACITY).
    len: usize,
    /// The slot the next event goes to.
    next: usize,
}

/// Wi-Fi (re)associations, for the `Cursed` vibe.
pub type AssociationWindow = RollingWindow;
/// Re-established API connections, for the "no reconnects" vibes.
pub type ReconnectWindow = RollingWindow;

impl RollingWindow {
    /// Timestamps kept; see the type's documentation for why this is enough.
    pub const CAPACITY: usize = 8;

    pub const fn new() -> Self {
        RollingWindow {
            stamps: [0; RollingWindow::CAPACITY],
            len: 0,
            next: 0,
        }
    }

    /// Records an event at `mono` (µs since boot), evicting the oldest kept one when full.
    pub fn record(&mut self, mono: u64) {
        if let Some(slot) = self.stamps.get_mut(self.next) {
            *slot = mono;
        }
        self.next = (self.next + 1) % Self::CAPACITY;
        self.len = (self.len + 1).min(Self::CAPACITY);
    }

    /// Events whose age at `now_mono` is under 5 minutes (an event exactly 5 minutes old has left
    /// the window; one stamped after `now_mono` counts as age 0). Saturates at `CAPACITY`.
    pub fn count_recent(&self, now_mono: u64) -> u32 {
        let kept = self.stamps.get(..self.len).unwrap_or(&[]);
        kept.iter()
            .filter(|&&t| now_mono.saturating_sub(t) < ROLLING_WINDOW_MICROS)
            .count() as u32
    }
}

// ---------------------------------------------------------------------------------------------
// Signals and thresholds
// ---------------------------------------------------------------------------------------------

/// What the board measured, as the rules of DESIGN.md §8 need it. Plain values: the caller reads
/// its counters and windows at one instant and fills this in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Signals {
    /// Free heap, bytes.
    pub heap_free_bytes: u32,
    /// Total heap, bytes. 0 means unknown: the percentage rules then do not fire (no division).
    pub heap_total_bytes: u32,
    /// Time since boot, µs.
    pub uptime_micros: u64,
    /// Wi-Fi associations in the last 5 minutes ([`AssociationWindow::count_recent`]); always 0
    /// on Ethernet.
    pub wifi_associations_recent: u32,
    /// The access point's BSSID changed since the last successful status push.
    pub bssid_changed_since_push: bool,
    /// Lease renewals that succeeded in a row; a failed or late renewal resets it to 0.
    pub consecutive_renewals: u32,
    /// Skew in µs measured at the latest re-anchoring of the wall clock
    /// ([`crate::time::Reanchoring::skew_micros`]); `None` until the clock was re-anchored once.
    pub last_reanchor_skew_micros: Option<i64>,
    /// API connections re-established in the last 5 minutes ([`ReconnectWindow::count_recent`]).
    pub reconnects_recent: u32,
}

/// The configurable lines of the rules. [`Default`] gives DESIGN.md §8's values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConditionThresholds {
    /// MemoryPressure True (and Peckish `Hungry`) below this many free heap bytes.
    pub memory_pressure_below_bytes: u32,
    /// Vibes `Cursed` at this many Wi-Fi associations in 5 minutes or more. Values above
    /// [`RollingWindow::CAPACITY`] act as `CAPACITY`, where the window's count saturates.
    pub cursed_at_associations: u32,
    /// Vibes `Strained` below this percentage of heap free.
    pub strained_below_percent: u8,
    /// Vibes `Immaculate` above this percentage of heap free (with no reconnects, fresh boot).
    pub immaculate_above_percent: u8,
    /// Vibes `Immaculate` only while uptime is below this, µs.
    pub immaculate_uptime_below_micros: u64,
    /// Vibes `Cromulent` above this percentage of heap free (with no reconnects).
    pub cromulent_above_percent: u8,
    /// Caffeinated True while uptime is below this, µs.
    pub caffeinated_uptime_below_micros: u64,
    /// Existential `Questioning` at this many consecutive renewals or more.
    pub questioning_at_renewals: u32,
    /// Existential `Accepting` at this many consecutive renewals or more.
    pub accepting_at_renewals: u32,
    /// Existential `Transcendent` at this many consecutive renewals or more.
    pub transcendent_at_renewals: u32,
    /// Peckish `Snacky` below this percentage of heap free.
    pub snacky_below_percent: u8,
    /// Haunted `TimeSlipped` when the absolute re-anchoring skew exceeds this, µs.
    pub time_slip_above_micros: u64,
}

impl ConditionThresholds {
    /// DESIGN.md §8's lines.
    pub const DEFAULT: ConditionThresholds = ConditionThresholds {
        memory_pressure_below_bytes: 20 * 1024,
        cursed_at_associations: 3,
        strained_below_percent: 30,
        immaculate_above_percent: 70,
        immaculate_uptime_below_micros: 10 * MICROS_PER_MINUTE,
        cromulent_above_percent: 50,
        caffeinated_uptime_below_micros: 10 * MICROS_PER_MINUTE,
        questioning_at_renewals: 100,
        accepting_at_renewals: 1_000,
        transcendent_at_renewals: 10_000,
        snacky_below_percent: 40,
        time_slip_above_micros: TIME_SLIP_THRESHOLD_MICROS,
    };
}

impl Default for ConditionThresholds {
    fn default() -> Self {
        Self::DEFAULT
    }
}

// ---------------------------------------------------------------------------------------------
// The rules
// ---------------------------------------------------------------------------------------------

/// One condition's outcome: what `evaluate` says it should read now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub status: ConditionStatus,
    /// CamelCase reason, as Kubernetes expects.
    pub reason: &'static str,
    /// Short, dry, fixed text.
    pub message: &'static str,
}

const fn verdict(status: ConditionStatus, reason: &'static str, message: &'static str) -> Verdict {
    Verdict {
        status,
        reason,
        message,
    }
}

/// Free heap compared with `percent` % of the total, without division: `None` when the total is
/// unknown (0). Products are taken in u64, so no input overflows.
fn heap_free_vs_percent(s: &Signals, percent: u8) -> Option<core::cmp::Ordering> {
    if s.heap_total_bytes == 0 {
        return None;
    }
    let free = u64::from(s.heap_free_bytes) * 100;
    let line = u64::from(s.heap_total_bytes) * u64::from(percent);
    Some(free.cmp(&line))
}

fn heap_free_below(s: &Signals, percent: u8) -> bool {
    heap_free_vs_percent(s, percent) == Some(core::cmp::Ordering::Less)
}

fn heap_free_above(s: &Signals, percent: u8) -> bool {
    heap_free_vs_percent(s, percent) == Some(core::cmp::Ordering::Greater)
}

fn below_memory_line(s: &Signals, t: &ConditionThresholds) -> bool {
    s.heap_free_bytes < t.memory_pressure_below_bytes
}

fn ready() -> Verdict {
    // `evaluate` runs inside the agent that renews the Lease; the controller's Unknown is
    // answered by re-sending this (see `ConditionSet::adopt_from_server`).
    verdict(True, "KubeletReady", "picokubelet is posting ready status.")
}

fn memory_pressure(s: &Signals, t: &ConditionThresholds) -> Verdict {
    if below_memory_line(s, t) {
        verdict(
            True,
            "KubeletHasInsufficientMemory",
            "Free heap is below the pressure line.",
        )
    } else {
        verdict(
            False,
            "KubeletHasSufficientMemory",
            "Free heap is above the pressure line.",
        )
    }
}

fn disk_pressure() -> Verdict {
    verdict(False, "KubeletHasNoDiskPressure", "There is no disk.")
}

fn pid_pressure() -> Verdict {
    verdict(False, "KubeletHasSufficientPID", "There are no PIDs.")
}

fn vibes(s: &Signals, t: &ConditionThresholds) -> Verdict {
    let cursed_at = t.cursed_at_associations.min(RollingWindow::CAPACITY as u32);
    let no_reconnects = s.reconnects_recent == 0;
    if s.wifi_associations_recent >= cursed_at {
        verdict(False, "Cursed", "Wi-Fi keeps reassociating.")
    } else if heap_free_below(s, t.strained_below_percent) {
        verdict(False, "Strained", "Heap is running low.")
    } else if heap_free_above(s, t.immaculate_above_percent)
        && no_reconnects
        && s.uptime_micros < t.immaculate_uptime_below_micros
    {
        verdict(True, "Immaculate", "Fresh boot, roomy heap, no reconnects.")
    } else if heap_free_above(s, t.cromulent_above_percent) && no_reconnects {
        verdict(True, "Cromulent", "Roomy heap, no reconnects.")
    } else {
        verdict(Unknown, "Indeterminate", "Nothing to go on.")
    }
}

fn caffeinated(s: &Signals, t: &ConditionThresholds) -> Verdict {
    if s.uptime_micros < t.caffeinated_uptime_below_micros {
        verdict(True, "FreshlyBrewed", "Recently booted.")
    } else {
        verdict(False, "Decaf", "The boot buzz has worn off.")
    }
}

fn existential(s: &Signals, t: &ConditionThresholds) -> Verdict {
    let n = s.consecutive_renewals;
    if n >= t.transcendent_at_renewals {
        verdict(True, "Transcendent", "Renewal is all there is.")
    } else if n >= t.accepting_at_renewals {
        verdict(
            True,
            "Accepting",
            "Renews its lease and has made peace with it.",
        )
    } else if n >= t.questioning_at_renewals {
        verdict(
            True,
            "Questioning",
            "Keeps renewing its lease. Wonders why.",
        )
    } else {
        verdict(False, "Innocent", "Too few renewals yet to wonder why.")
    }
}

fn peckish(s: &Signals, t: &ConditionThresholds) -> Verdict {
    if below_memory_line(s, t) {
        verdict(True, "Hungry", "Free heap is below the pressure line.")
    } else if heap_free_below(s, t.snacky_below_percent) {
        verdict(True, "Snacky", "Heap is getting low.")
    } else {
        verdict(False, "Sated", "Heap is ample.")
    }
}

fn haunted(s: &Signals, t: &ConditionThresholds) -> Verdict {
    let slipped = s
        .last_reanchor_skew_micros
        .is_some_and(|skew| skew.unsigned_abs() > t.time_slip_above_micros);
    if s.bssid_changed_since_push {
        verdict(True, "NewGhost", "The access point changed.")
    } else if slipped {
        verdict(True, "TimeSlipped", "The clock jumped at re-anchoring.")
    } else {
        verdict(False, "Calm", "Nothing odd.")
    }
}

/// The rules of DESIGN.md §8: one verdict per condition, in the order of [`ConditionType::ALL`].
pub fn evaluate(signals: &Signals, thresholds: &ConditionThresholds) -> [Verdict; 9] {
    let (s, t) = (signals, thresholds);
    [
        ready(),
        memory_pressure(s, t),
        disk_pressure(),
        pid_pressure(),
        vibes(s, t),
        caffeinated(s, t),
        existential(s, t),
        peckish(s, t),
        haunted(s, t),
    ]
}

// ---------------------------------------------------------------------------------------------
// The conditions as sent
// ---------------------------------------------------------------------------------------------

/// The node's nine conditions as they are (to be) sent, with transition tracking.
///
/// `lastTransitionTime` moves only when a status changes, never for a reason or message change.
/// Every status change marks the set as needing a push ([`needs_push`](Self::needs_push));
/// pushes are acknowledged by generation, so a change that happens while a push is under way is
/// not lost: take [`generation`](Self::generation) with the snapshot you send and hand it to
/// [`mark_pushed`](Self::mark_pushed) once the server accepted it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConditionSet {
    thresholds: ConditionThresholds,
    conditions: [Condition; 9],
    /// Bumped on every change the server must hear about promptly.
    generation: u32,
    /// The generation the server last acknowledged.
    pushed_generation: u32,
}

impl ConditionSet {
    /// The conditions at start-up: all evaluated from `signals`, all transitioned at `now`, and
    /// not yet pushed.
    pub fn new(thresholds: ConditionThresholds, signals: &Signals, now: UnixMicros) -> Self {
        let verdicts = evaluate(signals, &thresholds);
        let mut conditions = [Condition {
            kind: ConditionType::Ready,
            status: Unknown,
            reason: "",
            message: "",
            last_transition: now,
        }; 9];
        for ((c, kind), v) in conditions.iter_mut().zip(ConditionType::ALL).zip(verdicts) {
            *c = Condition {
                kind,
                status: v.status,
                reason: v.reason,
                message: v.message,
                last_transition: now,
            };
        }
        ConditionSet {
            thresholds,
            conditions,
            generation: 1,
            pushed_generation: 0,
        }
    }

    pub const fn thresholds(&self) -> &ConditionThresholds {
        &self.thresholds
    }

    /// The conditions in the order of [`ConditionType::ALL`].
    pub const fn conditions(&self) -> &[Condition; 9] {
        &self.conditions
    }

    /// The condition of type `kind`.
    pub fn get(&self, kind: ConditionType) -> &Condition {
        let [ready, memory, disk, pid, vibes, caffeinated, existential, peckish, haunted] =
            &self.conditions;
        match kind {
            ConditionType::Ready => ready,
            ConditionType::MemoryPressure => memory,
            ConditionType::DiskPressure => disk,
            ConditionType::PIDPressure => pid,
            ConditionType::Vibes => vibes,
            ConditionType::Caffeinated => caffeinated,
            ConditionType::Existential => existential,
            ConditionType::Peckish => peckish,
            ConditionType::Haunted => haunted,
        }
    }

    fn get_mut(&mut self, kind: ConditionType) -> &mut Condition {
        let [ready, memory, disk, pid, vibes, caffeinated, existential, peckish, haunted] =
            &mut self.conditions;
        match kind {
            ConditionType::Ready => ready,
            ConditionType::MemoryPressure => memory,
            ConditionType::DiskPressure => disk,
            ConditionType::PIDPressure => pid,
            ConditionType::Vibes => vibes,
            ConditionType::Caffeinated => caffeinated,
            ConditionType::Existential => existential,
            ConditionType::Peckish => peckish,
            ConditionType::Haunted => haunted,
        }
    }

    /// Re-evaluates the rules. Reasons and messages always follow the signals; a condition whose
    /// status changed gets `lastTransitionTime = now`. Returns true when any status changed: the
    /// caller pushes status immediately (and [`needs_push`](Self::needs_push) stays true until it
    /// has).
    pub fn update(&mut self, signals: &Signals, now: UnixMicros) -> bool {
        let verdicts = evaluate(signals, &self.thresholds);
        let mut transitioned = false;
        for (c, v) in self.conditions.iter_mut().zip(verdicts) {
            if c.status != v.status {
                c.status = v.status;
                c.last_transition = now;
                transitioned = true;
            }
            c.reason = v.reason;
            c.message = v.message;
        }
        if transitioned {
            self.generation = self.generation.wrapping_add(1);
        }
        transitioned
    }

    /// Reconciles one condition with what the server holds (after a reboot, when the Node
    /// already existed, or after a 409): when the statuses agree, the server's
    /// `lastTransitionTime` is adopted, since no transition happened. When they differ — the
    /// node lifecycle controller set `Unknown`, or the server holds a stale status from before
    /// a reboot — ours is a transition at `now` and must be re-sent promptly. Returns true in
    /// that case.
    pub fn adopt_from_server(
        &mut self,
        kind: ConditionType,
        server_status: ConditionStatus,
        server_last_transition: UnixMicros,
        now: UnixMicros,
    ) -> bool {
        let c = self.get_mut(kind);
        if c.status == server_status {
            c.last_transition = server_last_transition;
            false
        } else {
            c.last_transition = now;
            self.generation = self.generation.wrapping_add(1);
            true
        }
    }

    /// A new Node object is about to be created with these conditions: its history starts at
    /// `now` (a condition cannot have changed before its object existed), whatever the statuses
    /// were on a Node that was deleted.
    pub fn restart_history(&mut self, now: UnixMicros) {
        for c in &mut self.conditions {
            c.last_transition = now;
        }
    }

    /// The server has not acknowledged the latest status changes yet.
    pub const fn needs_push(&self) -> bool {
        self.generation != self.pushed_generation
    }

    /// Identifies the current state; see [`mark_pushed`](Self::mark_pushed).
    pub const fn generation(&self) -> u32 {
        self.generation
    }

    /// The server accepted the conditions as they were at `generation`. Changes made since then
    /// keep [`needs_push`](Self::needs_push) true.
    pub fn mark_pushed(&mut self, generation: u32) {
        self.pushed_generation = generation;
    }
}
