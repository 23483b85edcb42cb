//! Every deadline of the agent, in one table (quinn-proto's `TimerTable` is the model): each
//! reconciler sets and clears its own entries, and "when is anything next due" is one question,
//! [`TimerTable::next_due`].
use crate::agent::outcome::Setback;
use crate::agent::retry::Retry;
use crate::runtime::Instant;

/// The agent's deadlines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    /// The next `GET /version`: the first anchoring (and its retries), then re-anchoring.
    Anchor,
    /// The next registration attempt (while not registered).
    Register,
    /// The next Lease read, create or renewal.
    Renew,
    /// The next regular status push.
    StatusPeriodic,
    /// The next re-evaluation of the conditions.
    StatusCheck,
    /// No status push before this (backoff after a failure).
    StatusRetry,
    /// The next attempt to post the oldest queued Node Event.
    Event,
}

impl Timer {
    pub const ALL: [Timer; 7] = [
        Timer::Anchor,
        Timer::Register,
        Timer::Renew,
        Timer::StatusPeriodic,
        Timer::StatusCheck,
        Timer::StatusRetry,
        Timer::Event,
    ];

    const fn index(self) -> usize {
        self as usize
    }
}

/// One optional instant per [`Timer`] (`None`: not armed), and the backoff each timer's
/// retries follow (used by the retried ones: anchor, register, renew, status retry, event).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerTable {
    due: [Option<Instant>; Timer::ALL.len()],
    backoff: [Retry; Timer::ALL.len()],
}

impl TimerTable {
    /// Anchoring, registration and the first event attempt are due at boot; the rest are armed
    /// by the registration.
    pub const NEW: TimerTable = {
        // In `Timer::ALL` order: Anchor, Register, Renew, StatusPeriodic, StatusCheck,
        // StatusRetry, Event.
        let now = Some(Instant::ZERO);
        TimerTable {
            due: [now, now, None, None, None, None, now],
            backoff: [Retry::NEW; Timer::ALL.len()],
        }
    };

    /// Arms `timer` after the backoff `setback` calls for, from `now`; returns when.
    pub(crate) fn back_off(
        &mut self,
        timer: Timer,
        setback: Setback,
        random: u32,
        now: Instant,
        urgent: bool,
    ) -> Instant {
        let delay = match self.backoff.get_mut(timer.index()) {
            Some(retry) => match setback {
                Setback::Refused(action) if urgent => retry.after_action_urgent(action, random),
                Setback::Refused(action) => retry.after_action(action, random),
                Setback::Failed(error) => retry.after_error(error, random),
            },
            None => 0,
        };
        let at = now.add_millis(delay);
        self.set(timer, at);
        at
    }

    /// `timer`'s last attempt worked: arm it for `next`, and start its backoff over.
    pub fn succeeded(&mut self, timer: Timer, next: Instant) {
        if let Some(retry) = self.backoff.get_mut(timer.index()) {
            retry.reset();
        }
        self.set(timer, next);
    }

    pub fn set(&mut self, timer: Timer, at: Instant) {
        if let Some(slot) = self.due.get_mut(timer.index()) {
            *slot = Some(at);
        }
    }

    pub fn clear(&mut self, timer: Timer) {
        if let Some(slot) = self.due.get_mut(timer.index()) {
            *slot = None;
        }
    }

    /// When `timer` fires (`None`: not armed).
    pub fn get(&self, timer: Timer) -> Option<Instant> {
        self.due.get(timer.index()).copied().flatten()
    }

    /// When `timer` fires; an unarmed timer never does (the far future).
    pub fn at(&self, timer: Timer) -> Instant {
        self.get(timer).unwrap_or(Instant::from_micros(u64::MAX))
    }

    /// `timer` is armed and due at `now`.
    pub fn is_due(&self, timer: Timer, now: Instant) -> bool {
        self.get(timer).is_some_and(|at| at <= now)
    }

    /// The earliest armed deadline, and which one it is.
    pub fn next_due(&self) -> Option<(Timer, Instant)> {
        Timer::ALL
            .iter()
            .filter_map(|&t| self.get(t).map(|at| (t, at)))
            .min_by_key(|&(_, at)| at)
    }
}

impl Default for TimerTable {
    fn default() -> Self {
        Self::NEW
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_due_is_the_earliest_armed_timer() {
        let mut t = TimerTable::NEW;
        for timer in Timer::ALL {
            let at_boot = matches!(timer, Timer::Anchor | Timer::Register | Timer::Event);
            assert_eq!(t.get(timer).is_some(), at_boot, "{timer:?}");
        }
        assert_eq!(t.next_due().map(|(_, at)| at), Some(Instant::ZERO));
        for timer in Timer::ALL {
            t.clear(timer);
        }
        assert_eq!(t.next_due(), None);
        assert_eq!(t.at(Timer::Renew), Instant::from_micros(u64::MAX));
        t.set(Timer::StatusCheck, Instant::from_micros(30));
        t.set(Timer::Renew, Instant::from_micros(20));
        t.set(Timer::Event, Instant::from_micros(40));
        assert_eq!(t.next_due(), Some((Timer::Renew, Instant::from_micros(20))));
        assert!(t.is_due(Timer::Renew, Instant::from_micros(20)));
        assert!(!t.is_due(Timer::StatusCheck, Instant::from_micros(29)));
        assert!(!t.is_due(Timer::Anchor, Instant::from_micros(u64::MAX)));
        t.clear(Timer::Renew);
        assert_eq!(
            t.next_due(),
            Some((Timer::StatusCheck, Instant::from_micros(30)))
        );
    }
}
