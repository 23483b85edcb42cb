//! Shared timer ticks for a fleet: every board's deadlines rounded up to one grid.
//!
//! Each board's timers (renewal, condition check, status push, time-outs) are its own, so a
//! fleet's worker thread woke ~2.8 times per renewal, most wake-ups for a single board
//! (BENCHMARKS "Fleet"). Rounded up to a grid common to all boards, the deadlines that fall
//! within one tick expire together and one wake-up of the runtime serves all of them. Rounding
//! up keeps every sleep at least as long as asked (no deadline comes early) and makes it at
//! most one tick late; the renewal lateness the boards report includes that.

use std::time::Duration;

use tokio::time::Instant;

/// A grid of `tick`s from `epoch` (the fleet's start, so all boards share it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerGrid {
    epoch: Instant,
    tick: Duration,
}

impl TimerGrid {
    /// `None` for a zero tick: exact deadlines.
    pub fn new(epoch: Instant, tick: Duration) -> Option<Self> {
        (!tick.is_zero()).then_some(TimerGrid { epoch, tick })
    }

    /// The first grid line at or after `at` (`at` itself before the epoch or past what a
    /// `Duration` of nanoseconds holds).
    pub fn round_up(&self, at: Instant) -> Instant {
        let Some(since) = at.checked_duration_since(self.epoch) else {
            return at;
        };
        let tick = self.tick.as_nanos();
        let lines = since.as_nanos().div_ceil(tick);
        match lines
            .checked_mul(tick)
            .and_then(|n| u64::try_from(n).ok())
            .and_then(|n| self.epoch.checked_add(Duration::from_nanos(n)))
        {
            Some(line) => line,
            None => at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_round_up_to_the_next_tick_never_down() {
        let epoch = Instant::now();
        let grid = TimerGrid::new(epoch, Duration::from_millis(10)).unwrap();
        let ms = |n| epoch + Duration::from_millis(n);
        assert_eq!(grid.round_up(ms(0)), ms(0));
        assert_eq!(grid.round_up(ms(10)), ms(10), "on a line: unchanged");
        assert_eq!(grid.round_up(ms(11)), ms(20));
        assert_eq!(grid.round_up(ms(19)), ms(20));
        assert_eq!(
            grid.round_up(epoch + Duration::from_nanos(10_000_001)),
            ms(20)
        );
        // Two boards' deadlines within one tick share a line: one wake-up serves both.
        assert_eq!(grid.round_up(ms(31)), grid.round_up(ms(39)));
    }

    #[test]
    fn before_the_epoch_or_without_a_tick_the_deadline_stays() {
        let epoch = Instant::now() + Duration::from_secs(5);
        let grid = TimerGrid::new(epoch, Duration::from_millis(10)).unwrap();
        let early = epoch - Duration::from_millis(3);
        assert_eq!(grid.round_up(early), early);
        assert_eq!(TimerGrid::new(epoch, Duration::ZERO), None);
    }
}
