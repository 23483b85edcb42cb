//! The watchdog feeder's liveness rule: the feeding task proves only that the embassy executor
//! still schedules tasks. It is never tied to network or API state (a board that cannot reach
//! the server must keep running and keep trying, not reboot-loop). A task that blocks the
//! executor (a busy loop, a deadlock in a critical section, a panic with interrupts off) stops
//! the feeding, and the board's watchdog ([`Watchdog`]: TIMG1's MWDT on a chip) resets it.

use core::time::Duration as CoreDuration;

use embassy_time::{Duration, Ticker};

/// No feed for this long resets the board.
pub const TIMEOUT: CoreDuration = CoreDuration::from_secs(10);
/// Feeding interval: a fifth of the timeout, so a late tick or two never trips it.
pub const FEED_INTERVAL: Duration = Duration::from_secs(2);

/// A watchdog armed with [`TIMEOUT`].
pub trait Watchdog {
    /// Restarts the countdown.
    fn feed(&mut self);
}

/// Feeds `watchdog` every [`FEED_INTERVAL`] for as long as the executor runs this task.
pub async fn feed_forever<W: Watchdog>(mut watchdog: W) -> ! {
    let mut ticker = Ticker::every(FEED_INTERVAL);
    loop {
        watchdog.feed();
        ticker.next().await;
    }
}
