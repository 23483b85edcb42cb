//! The lease reconciler's state (`agent/lease.rs` acts on it).
use core::time::Duration;

use crate::runtime::Instant;
use crate::time::UnixMicros;

/// The lease reconciler's state.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LeaseKeeper {
    /// The Lease exists on the server as far as we know.
    known: bool,
    /// The latest `renewTime` known to be on the server; renewals never go below it.
    last_renew_time: Option<UnixMicros>,
    /// When the renewal in progress was due on the cadence: retries move the timer, not this,
    /// so lateness counts from the cadence.
    due_at: Instant,
    last_success: Option<Instant>,
    consecutive: u32,
    creations: u32,
    renewals: u64,
    failures: u64,
    recoveries: u32,
}

impl LeaseKeeper {
    pub const NEW: LeaseKeeper = LeaseKeeper {
        known: false,
        last_renew_time: None,
        due_at: Instant::ZERO,
        last_success: None,
        consecutive: 0,
        creations: 0,
        renewals: 0,
        failures: 0,
        recoveries: 0,
    };

    /// The Lease exists on the server as far as we know.
    pub fn is_known(&self) -> bool {
        self.known
    }

    pub fn last_renew_time(&self) -> Option<UnixMicros> {
        self.last_renew_time
    }

    /// The last accepted renewal (or creation).
    pub fn last_success(&self) -> Option<Instant> {
        self.last_success
    }

    /// Consecutive successful renewals.
    pub fn consecutive(&self) -> u32 {
        self.consecutive
    }

    /// Lease creations (201).
    pub fn creations(&self) -> u32 {
        self.creations
    }

    /// Renewals accepted (200).
    pub fn renewals(&self) -> u64 {
        self.renewals
    }

    /// Renewals that failed (any answer but 200, or none).
    pub fn failures(&self) -> u64 {
        self.failures
    }

    /// Renewals that came after a gap longer than the lease duration.
    pub fn recoveries(&self) -> u32 {
        self.recoveries
    }

    /// A new or re-registered Node: read (or create) the Lease before renewing (only
    /// [`super::AgentEvent`]s call this).
    pub(crate) fn forget(&mut self) {
        self.known = false;
    }

    pub fn adopted(&mut self, renew_time: Option<UnixMicros>, now: Instant) {
        self.known = true;
        self.last_renew_time = self.last_renew_time.max(renew_time);
        self.due_at = now;
    }

    pub fn created(&mut self, sent: UnixMicros, now: Instant, next: Instant) {
        self.known = true;
        self.last_renew_time = Some(sent);
        self.last_success = Some(now);
        self.due_at = next;
        self.creations = self.creations.saturating_add(1);
    }

    /// A renewal was accepted; returns when the next one is due, how late this one was and the
    /// gap since the previous one if it was longer than `lease_duration`.
    pub fn renewed(
        &mut self,
        sent: UnixMicros,
        scheduled: Instant,
        now: Instant,
        interval: Duration,
        lease_duration: Duration,
    ) -> (Instant, Duration, Option<Duration>) {
        let late = now.saturating_since(self.due_at);
        let gap = self.last_success.map(|t| now.saturating_since(t));
        self.last_renew_time = Some(sent);
        self.last_success = Some(now);
        self.consecutive = self.consecutive.saturating_add(1);
        self.renewals = self.renewals.saturating_add(1);
        // Fixed cadence; after an outage, from now.
        let next = scheduled.saturating_add(interval);
        let next = if next > now {
            next
        } else {
            now.saturating_add(interval)
        };
        self.due_at = next;
        let long = gap.filter(|g| *g > lease_duration);
        if long.is_some() {
            self.recoveries = self.recoveries.saturating_add(1);
        }
        (next, late, long)
    }

    pub fn failed(&mut self) {
        self.consecutive = 0;
        self.failures = self.failures.saturating_add(1);
    }
}
