//! WS2812 status LED driver: RMT pulse encoding, the body's pixel sink on it, and the panic
//! hook.
//!
//! What to show is decided in picokubelet-core (`led::led_state`, `led::led_frame`) and when to
//! send it in the body's LED task (`picokubelet_firmware_body::led`); this module only sends
//! the colour to the pixel.

use esp_hal::{
    gpio::Level,
    rmt::{Channel, Error as RmtError, PulseCode, Tx},
    Async,
};
use picokubelet_core::led::{led_frame, LedState, Rgb};
use picokubelet_firmware_body::led::{self, PixelSink, FRAME_INTERVAL};

use crate::board;

/// How long the panic handler shows the Panic pattern before it resets the chip.
const PANIC_DISPLAY_MS: u32 = 5_000;

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

/// The WS2812 on RMT TX channel 0 as the body's pixel.
pub struct RmtPixel(pub Channel<'static, Async, Tx>);

impl PixelSink for RmtPixel {
    type Error = RmtError;

    async fn show(&mut self, colour: Rgb) -> Result<(), RmtError> {
        self.0.transmit(&encode_pixel(colour)).await
    }
}

/// The body's LED task (`picokubelet_firmware_body::led::run`) on this board's pixel.
#[embassy_executor::task]
pub async fn led_task(channel: Channel<'static, Async, Tx>) -> ! {
    led::run(RmtPixel(channel)).await
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
