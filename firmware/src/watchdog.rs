//! Hardware watchdog: TIMG1's MWDT resets the whole chip if the executor stops running. The
//! liveness rule (what feeding proves, how often) is the body's
//! (`picokubelet_firmware_body::watchdog`); this module arms the MWDT and runs the feeder.

use esp_hal::{
    peripherals::TIMG1,
    time::Duration as HalDuration,
    timer::timg::{MwdtStage, TimerGroup, Wdt},
};
use picokubelet_firmware_body::watchdog::{feed_forever, Watchdog, TIMEOUT};

/// TIMG1's MWDT as the body's [`Watchdog`].
pub struct Mwdt(Wdt<TIMG1<'static>>);

impl Watchdog for Mwdt {
    fn feed(&mut self) {
        self.0.feed();
    }
}

/// Arms the watchdog with the body's [`TIMEOUT`]. Hand the result to [`watchdog_task`] at once.
pub fn arm(timg1: TIMG1<'static>) -> Mwdt {
    let mut wdt = TimerGroup::new(timg1).wdt;
    // Stage 0 resets the system (esp-hal's default action for stage 0 when enabled).
    wdt.set_timeout(
        MwdtStage::Stage0,
        HalDuration::from_millis(TIMEOUT.as_millis() as u64),
    );
    wdt.enable();
    wdt.feed();
    Mwdt(wdt)
}

#[embassy_executor::task]
pub async fn watchdog_task(wdt: Mwdt) -> ! {
    feed_forever(wdt).await
}
