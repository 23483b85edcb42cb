//! Board profiles: the ONLY module that knows about chips, boards and pins.
//!
//! A profile is plain data (GPIO numbers, bus speed). The code that turns a profile into
//! esp-hal drivers is shared by all profiles, so every profile — the Waveshare ESP32-S3-ETH
//! included — is validated and type-checked on the ESP32-C6 target that CI can build. The pin
//! numbers used by the S3 profile (9–14, 21) exist on the C6 and the C3 as well.
//!
//! Chip selection happens here and only here: [`SELECTED`] follows the cargo feature
//! (`esp32c6`, `esp32c3`, `esp32s3`). Everything else in the firmware is chip-agnostic.

use esp_hal::{
    gpio::{AnyPin, Input, InputConfig, Level, Output, OutputConfig, Pull},
    peripherals::{RMT, SPI2},
    rmt::{Channel, ConfigError as RmtConfigError, Rmt, Tx, TxChannelConfig, TxChannelCreator},
    spi::{
        master::{Config as SpiConfig, ConfigError as SpiConfigError, Spi},
        Mode as SpiMode,
    },
    time::Rate,
    Async, Blocking,
};
use picokubelet_core::k8s::chip::Chip;

/// A W5500 Ethernet controller on an SPI bus (SPI2 on every board we support).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct W5500Pins {
    /// SPI clock.
    pub sck: u8,
    /// SPI MOSI.
    pub mosi: u8,
    /// SPI MISO.
    pub miso: u8,
    /// Chip select (driven as a plain GPIO by the driver).
    pub cs: u8,
    /// Interrupt line from the W5500 (active low).
    pub int: u8,
    /// Hardware reset (active low).
    pub rst: u8,
    /// SPI clock in MHz.
    pub spi_mhz: u32,
}

/// What a board has that the firmware drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoardProfile {
    /// Human-readable name, printed at boot.
    pub name: &'static str,
    /// Rust target triple the board's chip needs.
    pub target: &'static str,
    /// The board's chip: the Node's architecture and instance type, the record's default
    /// profile, and the prefix of a node name derived from the MAC (`<chip>-<mac>`).
    pub chip: Chip,
    /// Data pin of the WS2812 status LED.
    pub status_led: u8,
    /// Wired Ethernet, if the board has a W5500 (then it is the preferred uplink).
    pub w5500: Option<W5500Pins>,
}

/// Waveshare ESP32-S3-ETH: ESP32-S3R8, WS2812 on GPIO21, W5500 on SPI2 at 25 MHz.
pub const WAVESHARE_ESP32_S3_ETH: BoardProfile = BoardProfile {
    name: "Waveshare ESP32-S3-ETH",
    target: "xtensa-esp32s3-none-elf",
    chip: Chip::Esp32s3,
    status_led: 21,
    w5500: Some(W5500Pins {
        sck: 13,
        mosi: 11,
        miso: 12,
        cs: 14,
        int: 10,
        rst: 9,
        spi_mhz: 25,
    }),
};

/// Espressif ESP32-C6-DevKitC-1: WS2812 on GPIO8, Wi-Fi only.
pub const ESP32_C6_DEVKITC_1: BoardProfile = BoardProfile {
    name: "ESP32-C6-DevKitC-1",
    target: "riscv32imac-unknown-none-elf",
    chip: Chip::Esp32c6,
    status_led: 8,
    w5500: None,
};

/// A common ESP32-C3 board (DevKitM-1 / "SuperMini" style): WS2812 on GPIO8, Wi-Fi only.
/// Check the LED pin of your board: not every C3 board has a WS2812 there.
pub const ESP32_C3_DEVKITM_1: BoardProfile = BoardProfile {
    name: "ESP32-C3 (DevKitM-1 style)",
    target: "riscv32imc-unknown-none-elf",
    chip: Chip::Esp32c3,
    status_led: 8,
    w5500: None,
};

/// Every known profile; all of them are validated at compile time on every target.
pub const ALL: [BoardProfile; 3] = [
    WAVESHARE_ESP32_S3_ETH,
    ESP32_C6_DEVKITC_1,
    ESP32_C3_DEVKITM_1,
];

/// The profile this image is built for, chosen by the chip feature.
#[cfg(feature = "esp32c6")]
pub const SELECTED: BoardProfile = ESP32_C6_DEVKITC_1;
/// The profile this image is built for, chosen by the chip feature.
#[cfg(feature = "esp32c3")]
pub const SELECTED: BoardProfile = ESP32_C3_DEVKITM_1;
/// The profile this image is built for, chosen by the chip feature.
#[cfg(feature = "esp32s3")]
pub const SELECTED: BoardProfile = WAVESHARE_ESP32_S3_ETH;

#[cfg(not(any(feature = "esp32c6", feature = "esp32c3", feature = "esp32s3")))]
compile_error!("enable exactly one chip feature: esp32c6, esp32c3 or esp32s3");
#[cfg(any(
    all(feature = "esp32c6", feature = "esp32c3"),
    all(feature = "esp32c6", feature = "esp32s3"),
    all(feature = "esp32c3", feature = "esp32s3"),
))]
compile_error!("enable exactly one chip feature (use --no-default-features for esp32c3/esp32s3)");

/// Highest GPIO number that every supported chip has (C3: GPIO0..=21). Profiles stay below it so
/// that they can be exercised on any chip CI builds.
const COMMON_GPIO_MAX: u8 = 21;

/// Compile-time check of a profile: pins exist on every chip and no pin is used twice.
const fn validate(profile: &BoardProfile) {
    let mut pins = [0u8; 7];
    let mut count = 1;
    pins[0] = profile.status_led;
    if let Some(eth) = profile.w5500 {
        pins[1] = eth.sck;
        pins[2] = eth.mosi;
        pins[3] = eth.miso;
        pins[4] = eth.cs;
        pins[5] = eth.int;
        pins[6] = eth.rst;
        count = 7;
        assert!(
            eth.spi_mhz > 0 && eth.spi_mhz <= 80,
            "W5500 SPI clock out of range"
        );
    }
    let mut i = 0;
    while i < count {
        assert!(
            pins[i] <= COMMON_GPIO_MAX,
            "profile uses a GPIO that not every chip has"
        );
        let mut j = i + 1;
        while j < count {
            assert!(pins[i] != pins[j], "profile uses a GPIO twice");
            j += 1;
        }
        i += 1;
    }
}

const _: () = {
    let mut i = 0;
    while i < ALL.len() {
        validate(&ALL[i]);
        i += 1;
    }
};

/// RMT source clock: 80 MHz on the C3 (APB), C6 (PLL_F80M) and S3 (APB). With channel divider
/// 1 a tick is 12.5 ns, the resolution `crate::led` encodes the WS2812 timing in.
pub const RMT_TICK_HZ: u32 = 80_000_000;

/// Claims the status LED data pin as the output of RMT TX channel 0 (async), idle low (the
/// WS2812 reset level).
pub fn status_led_rmt(
    rmt: RMT<'static>,
    profile: &BoardProfile,
) -> Result<Channel<'static, Async, Tx>, RmtConfigError> {
    // SAFETY: board.rs is the only module that touches board GPIOs, main never takes the
    // `peripherals.GPIOn` singletons named by a profile, and `validate` guarantees that a
    // profile names each pin once.
    let pin = unsafe { AnyPin::steal(profile.status_led) };
    let config = TxChannelConfig::default()
        .with_clk_divider(1)
        .with_idle_output(true)
        .with_idle_output_level(Level::Low)
        .with_carrier_modulation(false);
    let channel = Rmt::new(rmt, Rate::from_hz(RMT_TICK_HZ))?
        .into_async()
        .channel0
        .configure_tx(&config)?
        .with_pin(pin);
    Ok(channel)
}

/// For the panic handler only: takes the RMT peripheral and the LED pin over from whatever owns
/// them (the LED task is dead or frozen by then) and drives the pin from TX channel 1, blocking.
/// Channel 1 because the LED task's channel 0 still holds its RMT memory block.
pub fn panic_led_rmt(
    profile: &BoardProfile,
) -> Result<Channel<'static, Blocking, Tx>, RmtConfigError> {
    // SAFETY: called only from the panic path, where nothing else runs any more (interrupts
    // are off); the pin is the profile's LED pin, used by nobody else (see `status_led_rmt`).
    let (rmt, pin) = unsafe { (RMT::steal(), AnyPin::steal(profile.status_led)) };
    let config = TxChannelConfig::default()
        .with_clk_divider(1)
        .with_idle_output(true)
        .with_idle_output_level(Level::Low)
        .with_carrier_modulation(false);
    let channel = Rmt::new(rmt, Rate::from_hz(RMT_TICK_HZ))?
        .channel1
        .configure_tx(&config)?
        .with_pin(pin);
    Ok(channel)
}

/// The W5500's SPI bus and control lines, claimed from a profile.
pub struct W5500Io {
    /// SPI2 master (mode 0) with SCK/MOSI/MISO attached; CS is separate.
    pub spi: Spi<'static, Blocking>,
    /// Chip select, idle high.
    pub cs: Output<'static>,
    /// Interrupt input (active low, pulled up).
    pub int: Input<'static>,
    /// Reset output, released (high).
    pub rst: Output<'static>,
}

/// Claims the W5500 bus of a profile. Shared by every profile, so the S3 board's wiring is
/// type-checked on the C6 target as well.
pub fn w5500_io(spi2: SPI2<'static>, pins: &W5500Pins) -> Result<W5500Io, SpiConfigError> {
    // SAFETY: as in `status_led_rmt`: pins are distinct (validated) and used only here.
    let (sck, mosi, miso, cs, int, rst) = unsafe {
        (
            AnyPin::steal(pins.sck),
            AnyPin::steal(pins.mosi),
            AnyPin::steal(pins.miso),
            AnyPin::steal(pins.cs),
            AnyPin::steal(pins.int),
            AnyPin::steal(pins.rst),
        )
    };
    let config = SpiConfig::default()
        .with_frequency(Rate::from_mhz(pins.spi_mhz))
        .with_mode(SpiMode::_0);
    let spi = Spi::new(spi2, config)?
        .with_sck(sck)
        .with_mosi(mosi)
        .with_miso(miso);
    Ok(W5500Io {
        spi,
        cs: Output::new(cs, Level::High, OutputConfig::default()),
        int: Input::new(int, InputConfig::default().with_pull(Pull::Up)),
        rst: Output::new(rst, Level::High, OutputConfig::default()),
    })
}
