//! Hardware watchdog: TIMG1's MWDT resets the whole chip if the executor stops running.
//!
//! The feeding task proves only that the embassy executor still schedules tasks: it is never
//! tied to network or API state (a board that cannot reach the server must keep running and
//! keep trying, not reboot-loop). A task that blocks the executor (a busy loop, a deadlock in a
//! critical section, a panic with interrupts off) stops the feeding and the chip resets.

use embassy_time::{Duration, Ticker};
use esp_hal::{
    peripherals::TIMG1,
    time::Duration as HalDuration,
    timer::timg::{MwdtStage, TimerGroup, Wdt},
};

/// No feed for this long resets the chip.
pub const TIMEOUT: HalDuration = HalDuration::from_secs(10);
/// Feeding interval: a fifth of the timeout, so a late tick or two never trips it.
pub const FEED_INTERVAL: Duration = Duration::from_secs(2);

/// Arms the watchdog. Hand the result to [`watchdog_task`] at once.
pub fn arm(timg1: TIMG1<'static>) -> Wdt<TIMG1<'static>> {
    let mut wdt = TimerGroup::new(timg1).wdt;
    // Stage 0 resets the system (esp-hal's default action for stage 0 when enabled).
    wdt.set_timeout(MwdtStage::Stage0, TIMEOUT);
    wdt.enable();
    wdt.feed();
    wdt
}

#[embassy_executor::task]
pub async fn watchdog_task(mut wdt: Wdt<TIMG1<'static>>) -> ! {
    let mut ticker = Ticker::every(FEED_INTERVAL);
    loop {
        wdt.feed();
        ticker.next().await;
    }
}
