//! The bring-up stages a board reports on its console, one greppable line each, and the summary
//! line a script checks (`scripts/check-hardware-log.sh`; the format is documented in
//! firmware/README.md "Bring-up stages" and is stable: the tap-board harness reads it too):
//!
//! ```text
//! pk-stage <stage> ok <detail>
//! pk-stage <stage> fail <detail>
//! pk-summary ok <passed>/<total> up <seconds> s
//! pk-summary fail <passed>/<total> at <stage> up <seconds> s
//! ```
//!
//! `boot`'s detail ends with the plan: `stages <name> <name> …`, every stage in order, so the
//! checker learns the list from the log it reads. A stage's line is printed when it is news: its
//! first pass, a failure of a stage that was not failing already, a pass after a failure. Once
//! every stage passed, the `ok` summary is printed and the bring-up lines stop (the agent's own
//! log goes on). A `fail` summary is printed when the board halts, or when the bring-up is not
//! complete [`BRINGUP_DEADLINE_S`] after boot (an `ok` summary may follow it later).
//!
//! Pure (no embassy, no board): compiled for the host by firmware/host-tests as well.

use core::fmt;

use picokubelet_core::agent::{policy::Operation, LogEvent};
use picokubelet_core::log_text::EventText;

/// Seconds after boot by which a healthy board has passed every stage (DHCP, DNS, one TLS
/// handshake and a handful of requests take seconds; the Ethernet carrier waits 5 s).
pub const BRINGUP_DEADLINE_S: u64 = 120;

/// The stages, in bring-up order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The firmware body runs (its version, the chip the image was built for).
    Boot,
    /// A configuration: the flash record or the compile-time defaults.
    Config,
    /// An uplink (Ethernet carrier or Wi-Fi association) with a DHCP address.
    Uplink,
    /// A true random source for TLS keys.
    Entropy,
    /// The board's identity: the record's token or certificate, or one through kubelet TLS
    /// bootstrap (stored, or issued for a CSR).
    Identity,
    /// DNS and TCP to the API server.
    Connect,
    /// The TLS handshake with the server certificate verified.
    Tls,
    /// The wall clock anchored on the server's `/version` answer.
    Clock,
    /// The Node registered (created or adopted).
    Register,
    /// The node Lease created, adopted or renewed.
    Lease,
    /// A Node status patch accepted (the Node is Ready).
    Status,
}

/// How many stages there are.
pub const STAGE_COUNT: usize = Stage::ALL.len();

impl Stage {
    /// Every stage in bring-up order.
    pub const ALL: [Stage; 11] = [
        Stage::Boot,
        Stage::Config,
        Stage::Uplink,
        Stage::Entropy,
        Stage::Identity,
        Stage::Connect,
        Stage::Tls,
        Stage::Clock,
        Stage::Register,
        Stage::Lease,
        Stage::Status,
    ];

    /// The name in the log lines.
    pub const fn name(self) -> &'static str {
        match self {
            Stage::Boot => "boot",
            Stage::Config => "config",
            Stage::Uplink => "uplink",
            Stage::Entropy => "entropy",
            Stage::Identity => "identity",
            Stage::Connect => "connect",
            Stage::Tls => "tls",
            Stage::Clock => "clock",
            Stage::Register => "register",
            Stage::Lease => "lease",
            Stage::Status => "status",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

/// Where a stage stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    /// Not reported yet.
    Pending,
    Passed,
    Failed,
}

/// The stages' marks and whether the `ok` summary was printed. `Copy`: kept behind a
/// critical-section mutex by the bring-up.
#[derive(Clone, Copy, Debug)]
pub struct Marks {
    marks: [Mark; STAGE_COUNT],
    completed: bool,
}

impl Default for Marks {
    fn default() -> Self {
        Self::new()
    }
}

impl Marks {
    /// Every stage pending.
    pub const fn new() -> Self {
        Self {
            marks: [Mark::Pending; STAGE_COUNT],
            completed: false,
        }
    }

    /// Where `stage` stands.
    pub fn mark(&self, stage: Stage) -> Mark {
        self.marks
            .get(stage.index())
            .copied()
            .unwrap_or(Mark::Pending)
    }

    /// Records an outcome; true when it is news worth a `pk-stage` line. Nothing is news after
    /// the bring-up completed.
    pub fn record(&mut self, stage: Stage, passed: bool) -> bool {
        if self.completed {
            return false;
        }
        let new = if passed { Mark::Passed } else { Mark::Failed };
        match self.marks.get_mut(stage.index()) {
            Some(mark) if *mark != new => {
                *mark = new;
                true
            }
            _ => false,
        }
    }

    /// How many stages passed.
    pub fn passed(&self) -> usize {
        self.marks.iter().filter(|m| **m == Mark::Passed).count()
    }

    /// The stage the bring-up is stuck at: the first one that failed, else the first one not
    /// reported yet (a board halting in its entropy source has not reported its uplink).
    pub fn stuck_at(&self) -> Option<Stage> {
        let first = |want: Mark| Stage::ALL.into_iter().find(|s| self.mark(*s) == want);
        first(Mark::Failed).or_else(|| first(Mark::Pending))
    }

    /// True once, when every stage has passed: the moment for the `ok` summary.
    pub fn take_completion(&mut self) -> bool {
        if self.completed || self.stuck_at().is_some() {
            return false;
        }
        self.completed = true;
        true
    }

    /// True after the `ok` summary.
    pub const fn completed(&self) -> bool {
        self.completed
    }
}

/// One `pk-stage` line (without the newline).
pub struct StageLine<'a> {
    pub stage: Stage,
    pub passed: bool,
    pub detail: &'a dyn fmt::Display,
}

impl fmt::Display for StageLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.passed { "ok" } else { "fail" };
        write!(
            f,
            "pk-stage {} {} {}",
            self.stage.name(),
            verdict,
            self.detail
        )
    }
}

/// The `pk-summary` line for `marks` at `up_s` seconds after boot.
pub struct SummaryLine {
    pub marks: Marks,
    pub up_s: u64,
}

impl fmt::Display for SummaryLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let passed = self.marks.passed();
        match self.marks.stuck_at() {
            None => write!(f, "pk-summary ok {passed}/{STAGE_COUNT} up {} s", self.up_s),
            Some(stage) => write!(
                f,
                "pk-summary fail {passed}/{STAGE_COUNT} at {} up {} s",
                stage.name(),
                self.up_s
            ),
        }
    }
}

/// The `boot` stage's detail: what runs, then the plan (`stages boot config …`).
pub struct BootDetail<'a> {
    pub version: &'a str,
    pub built_for: &'a str,
}

impl fmt::Display for BootDetail<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "picokubelet firmware body {} built for {}; stages",
            self.version, self.built_for
        )?;
        for stage in Stage::ALL {
            write!(f, " {}", stage.name())?;
        }
        Ok(())
    }
}

/// The stage an agent log event implies passed before the one it reports on: a TLS outcome
/// means DNS and TCP worked.
pub const fn agent_implied(event: &LogEvent<'_>) -> Option<Stage> {
    match event {
        LogEvent::OpenFailed { .. } | LogEvent::SessionOpened { .. } => Some(Stage::Connect),
        _ => None,
    }
}

/// The stage an agent log event reports on, and whether it passed. `None`: not a bring-up
/// event (renewal timing, events, condition flips, session ends).
pub fn agent_outcome(event: &LogEvent<'_>) -> Option<(Stage, bool)> {
    Some(match event {
        LogEvent::ConnectFailed { .. } | LogEvent::ConnectTimedOut => (Stage::Connect, false),
        LogEvent::OpenFailed { .. } => (Stage::Tls, false),
        LogEvent::SessionOpened { .. } => (Stage::Tls, true),
        LogEvent::ClockAnchored { .. } => (Stage::Clock, true),
        LogEvent::NoDate => (Stage::Clock, false),
        LogEvent::Registered { .. } => (Stage::Register, true),
        LogEvent::LeaseCreated | LogEvent::LeaseAdopted | LogEvent::LeaseRenewed { .. } => {
            (Stage::Lease, true)
        }
        LogEvent::StatusPushed { .. } => (Stage::Status, true),
        LogEvent::Refused { op, .. } | LogEvent::ExchangeFailed { op, .. } => {
            (operation_stage(*op)?, false)
        }
        _ => return None,
    })
}

/// The stage whose request `op` is.
const fn operation_stage(op: Operation) -> Option<Stage> {
    match op {
        Operation::Version => Some(Stage::Clock),
        Operation::CreateNode | Operation::ReadNode => Some(Stage::Register),
        Operation::PatchNode => Some(Stage::Status),
        Operation::CreateLease | Operation::ReadLease | Operation::RenewLease => Some(Stage::Lease),
        Operation::PostEvent => None,
    }
}

/// A `pk-stage` detail for an agent event: the TLS opener's one-line reason when it has one,
/// the connector's error, else the event itself.
pub struct EventDetail<'a, 'e>(pub &'a LogEvent<'e>);

impl fmt::Display for EventDetail<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            LogEvent::OpenFailed {
                tls: Some(failure), ..
            } => write!(f, "{failure}"),
            LogEvent::ConnectFailed { error } => write!(f, "{error:?}"),
            LogEvent::SessionOpened { .. } => f.write_str("server certificate verified"),
            event => write!(f, "{}", EventText(event)),
        }
    }
}
