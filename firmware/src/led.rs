//! WS2812 status LED driver: RMT pulse encoding and the LED task.
//!
//! What to show is decided in picokubelet-core (`led::led_state`, `led::led_frame`); this module
//! only sends the colour to the pixel. The task sleeps until the state changes (a signal from
//! `crate::board_state`, latest value wins, so a busy agent never blocks on the LED); an animated
//! state (breathing, blinking) is sampled every [`FRAME_INTERVAL`] meanwhile.

use embassy_futures::select::{select, Either};
use embassy_time::{Duration, Instant, Timer};
use esp_hal::{
    gpio::Level,
    rmt::{Channel, PulseCode, Tx},
    Async,
};
use esp_println::println;
use picokubelet_core::led::{led_frame, LedState, Rgb};

use crate::{board, board_state};

/// How long the panic handler shows the Panic pattern before it resets the chip.
const PANIC_DISPLAY_MS: u32 = 5_000;

/// How often the colour is recomputed and sent: 50 frames/s, smooth enough for breathing.
pub const FRAME_INTERVAL: Duration = Duration::from_millis(20);

// WS2812 timing (datasheet, ±150 ns) in 12.5 ns RMT ticks (80 MHz, divider 1; board::RMT_TICK_HZ):
// 0-bit 400 ns high / 850 ns low, 1-bit 800 ns high / 450 ns low. The > 50 µs reset is the idle
// low level between frames (20 ms apart).
const T0H: u16 = 32;
const T0L: u16 = 68;
const T1H: u16 = 64;
const T1L: u16 = 36;
const _: () = assert!(
    crate::board::RMT_TICK_HZ == 80_000_000,
    "ticks above assume 12.5 ns"
);

/// One pixel: 24 bits, then the end marker. Fits the 48-word RMT block of every chip.
pub const PIXEL_CODES: usize = 25;

/// Pulse codes for one WS2812 pixel: GRB order, most significant bit first.
pub fn encode_pixel(colour: Rgb) -> [PulseCode; PIXEL_CODES] {
    let zero = PulseCode::new(Level::High, T0H, Level::Low, T0L);
    let one = PulseCode::new(Level::High, T1H, Level::Low, T1L);
    let grb = (u32::from(colour.g) << 16) | (u32::from(colour.r) << 8) | u32::from(colour.b);
    let mut codes = [PulseCode::end_marker(); PIXEL_CODES];
    for (bit, code) in codes.iter_mut().take(24).enumerate() {
        let mask = 1u32 << (23 - bit);
        *code = if grb & mask != 0 { one } else { zero };
    }
    codes
}

/// Shows the agent's state on the status LED until the firmware stops. Only sends when the
/// colour changes, and a steady state sleeps until the next state change.
#[embassy_executor::task]
pub async fn led_task(mut channel: Channel<'static, Async, Tx>) -> ! {
    let mut state = LedState::Booting;
    let mut shown: Option<Rgb> = None;
    let mut errors_reported = false;
    loop {
        let colour = led_frame(state, Instant::now().as_millis());
        if shown != Some(colour) {
            match channel.transmit(&encode_pixel(colour)).await {
                Ok(()) => shown = Some(colour),
                Err(e) if !errors_reported => {
                    // Once: a broken LED must not flood the log 50 times a second.
                    println!("LED: RMT transmit failed: {:?}", e);
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

/// esp-backtrace's `custom-halt` hook, called after the panic message and backtrace are
/// printed: shows the Panic pattern (bright red, 5 Hz) for [`PANIC_DISPLAY_MS`], then resets.
/// Runs with interrupts off, so it busy-waits; the watchdog (10 s) is a backstop if the RMT
/// hangs.
#[no_mangle]
fn custom_halt() -> ! {
    critical_section::with(|_| {
        let delay = esp_hal::delay::Delay::new();
        let mut channel = board::panic_led_rmt(&board::SELECTED).ok();
        let frame_ms = u32::try_from(FRAME_INTERVAL.as_millis()).unwrap_or(20);
        let mut t_ms: u32 = 0;
        while t_ms < PANIC_DISPLAY_MS {
            if let Some(ch) = channel.take() {
                let codes = encode_pixel(led_frame(LedState::Panic, u64::from(t_ms)));
                channel = match ch.transmit(&codes) {
                    Ok(transaction) => transaction.wait().ok(),
                    Err(_) => None,
                };
            }
            delay.delay_millis(frame_ms);
            t_ms += frame_ms;
        }
    });
    esp_hal::system::software_reset()
}
