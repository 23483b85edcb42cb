//! The status reconciler's state (`agent/status.rs` acts on it).
use crate::runtime::Instant;

/// The status reconciler's state.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StatusReporter {
    /// The node may have been marked Unknown: read the Node and adopt before the next push.
    suspect_unknown: bool,
    /// The server's Ready was not True when last read: post NodeReady after the next push.
    announce_ready: bool,
    /// The lease's last success this task already treated as stale (one Node read per
    /// episode of failing renewals).
    stale_seen: Option<Instant>,
    pushes: u64,
    failures: u64,
}

impl StatusReporter {
    pub const NEW: StatusReporter = StatusReporter {
        suspect_unknown: false,
        announce_ready: false,
        stale_seen: None,
        pushes: 0,
        failures: 0,
    };

    /// The Node must be read (and adopted) before the next push.
    pub fn is_suspect(&self) -> bool {
        self.suspect_unknown
    }

    /// No renewal since `last_renewal` for longer than the lease duration: the first time per
    /// such episode, the node may be Unknown by now. Returns whether the Node must be read.
    pub fn stale_renewals(&mut self, last_renewal: Option<Instant>) -> bool {
        if self.stale_seen != last_renewal {
            self.stale_seen = last_renewal;
            self.suspect_unknown = true;
        }
        self.suspect_unknown
    }

    /// The Node was read and adopted; `server_not_ready`: its Ready was not True.
    pub fn adopted(&mut self, server_not_ready: bool) {
        self.suspect_unknown = false;
        self.announce_ready |= server_not_ready;
    }

    /// A push failed.
    pub fn push_failed(&mut self) {
        self.failures = self.failures.saturating_add(1);
    }

    /// A push was accepted; returns whether NodeReady is to be announced (the server's Ready
    /// was not True at the last read).
    pub fn pushed(&mut self) -> bool {
        self.pushes = self.pushes.saturating_add(1);
        core::mem::take(&mut self.announce_ready)
    }

    /// Status patches accepted.
    pub fn pushes(&self) -> u64 {
        self.pushes
    }

    /// Status patches that failed.
    pub fn failures(&self) -> u64 {
        self.failures
    }

    /// The node may be Unknown on the server: read it before the next push (only
    /// [`super::AgentEvent`]s call this).
    pub(crate) fn suspect_unknown(&mut self, suspect: bool) {
        self.suspect_unknown = suspect;
    }
}
