//! The status LED task, down to the pixel: what to show is decided in picokubelet-core
//! (`led::led_state`, `led::led_frame`); the board's driver (WS2812 over RMT on a chip) only
//! takes a colour ([`PixelSink`]). The task sleeps until the state changes (a signal from
//! `crate::board_state`, latest value wins, so a busy agent never blocks on the LED); an
//! animated state (breathing, blinking) is sampled every [`FRAME_INTERVAL`] meanwhile.

use core::{fmt::Debug, future::Future};

use embassy_futures::select::{select, Either};
use embassy_time::{Duration, Instant, Timer};
use picokubelet_core::led::{led_frame, LedState, Rgb};

use crate::board_state;

/// How often the colour is recomputed and sent: 50 frames/s, smooth enough for breathing.
pub const FRAME_INTERVAL: Duration = Duration::from_millis(20);

/// The board's status pixel.
pub trait PixelSink {
    /// Shown in the log, once.
    type Error: Debug;
    /// Shows `colour` until the next call.
    fn show(&mut self, colour: Rgb) -> impl Future<Output = Result<(), Self::Error>>;
}

/// Shows the agent's state on the status LED until the firmware stops. Only sends when the
/// colour changes, and a steady state sleeps until the next state change.
pub async fn run<P: PixelSink>(mut pixel: P) -> ! {
    let mut state = LedState::Booting;
    let mut shown: Option<Rgb> = None;
    let mut errors_reported = false;
    loop {
        let colour = led_frame(state, Instant::now().as_millis());
        if shown != Some(colour) {
            match pixel.show(colour).await {
                Ok(()) => shown = Some(colour),
                Err(e) if !errors_reported => {
                    // Once: a broken LED must not flood the log 50 times a second.
                    println!("LED: transmit failed: {:?}", e);
                    errors_reported = true;
                }
                Err(_) => {}
            }
        }
        state = if state.is_animated() {
            match select(
                board_state::led_state_changed(),
                Timer::after(FRAME_INTERVAL),
            )
            .await
            {
                Either::First(latest) => latest,
                Either::Second(()) => state,
            }
        } else {
            board_state::led_state_changed().await
        };
    }
}
