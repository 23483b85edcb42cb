//! picokubelet firmware: the ESP32 image of the firmware's body (`firmware/body`, the
//! chip-independent part, which also runs on Linux as the tap board).
//!
//! heap → esp-rtos scheduler → watchdog → status LED → configuration (the `pkconfig` flash
//! partition through esp-storage, else the compile-time defaults: `config`) → uplinks (W5500
//! Ethernet where the board has one, Wi-Fi station where credentials are configured; each with
//! its own embassy-net stack and DHCP: `net`) → the body's agent bring-up
//! (`picokubelet_firmware_body::bringup`). Every protocol decision is the core's, every
//! decision above the drivers the body's; this crate provides the drivers (`led`, `watchdog`,
//! `net`), the pins (`board`) and the console.

#![no_std]
#![no_main]

extern crate alloc;

mod board;
mod config;
mod led;
mod net;
mod watchdog;

use embassy_executor::Spawner;
use esp_backtrace as _;
use esp_hal::{
    clock::CpuClock,
    efuse::{self, InterfaceMacAddress},
    interrupt::software::SoftwareInterruptControl,
    ram,
    rng::{Rng, Trng, TrngSource},
    timer::timg::TimerGroup,
};
use esp_println::println;
use esp_storage::FlashStorage;
use picokubelet_firmware_body::{
    board_state::{self, HeapFigures, HeapGauge},
    bringup::{self, stages::Stage, Boot},
    net::{ethernet_mac, uplink::Uplinks, Mac},
};

esp_bootloader_esp_idf::esp_app_desc!();

/// Reclaimed 2nd-stage-bootloader RAM (64 KiB on C6 and C3) plus this much of ordinary RAM:
/// 72 KiB in all, the heap esp-wifi's Wi-Fi examples ran with. The agent allocates nothing; the
/// heap is esp-radio's (driver tasks, timers, frame buffers, bounded in `net::wifi`). It was
/// 36 KiB (100 KiB in all) before the static-RAM budget of issue 10 item 6; the peak on a real
/// board is not measured yet (firmware/README.md "Unverified").
const HEAP_MAIN_BYTES: usize = 8 * 1024;

/// The body's console: esp-println (UART / USB-serial-JTAG).
#[no_mangle]
fn pk_body_print(args: core::fmt::Arguments<'_>) {
    println!("{}", args);
}

/// esp-alloc's statistics (all regions) as the body's heap gauge.
#[derive(Clone, Copy)]
struct EspHeap;

impl HeapGauge for EspHeap {
    fn figures(&self) -> HeapFigures {
        let heap = esp_alloc::HEAP.stats();
        HeapFigures {
            free: heap.size.saturating_sub(heap.current_usage),
            total: heap.size,
        }
    }
}

#[esp_rtos::main]
async fn main(spawner: Spawner) -> ! {
    let peripherals = esp_hal::init(esp_hal::Config::default().with_cpu_clock(CpuClock::max()));

    esp_alloc::heap_allocator!(#[ram(reclaimed)] size: 64 * 1024);
    esp_alloc::heap_allocator!(size: HEAP_MAIN_BYTES);

    let profile = board::SELECTED;
    println!(
        "picokubelet firmware {} on {}",
        env!("CARGO_PKG_VERSION"),
        profile.name
    );

    let timg0 = TimerGroup::new(peripherals.TIMG0);
    let sw_int = SoftwareInterruptControl::new(peripherals.SW_INTERRUPT);
    // The scheduler must run before the radio is initialised.
    esp_rtos::start(timg0.timer0, sw_int.software_interrupt0);

    // Armed after the scheduler starts: its feeding task needs the executor.
    spawner.spawn(
        watchdog::watchdog_task(watchdog::arm(peripherals.TIMG1))
            .expect("watchdog_task spawned once"),
    );
    // The LED task starts as soon as there is a scheduler: Booting shows while the radio comes up.
    match board::status_led_rmt(peripherals.RMT, &profile) {
        Ok(channel) => spawner.spawn(led::led_task(channel).expect("led_task spawned once")),
        Err(e) => println!(
            "status LED: RMT setup failed: {:?} (running without LED)",
            e
        ),
    }

    // The flash record, else the build's defaults (rules in the body's config::select).
    let built_for = profile.chip;
    // Kept: the identity store (`pkident`) of a bootstrap record is written through it.
    let mut flash = FlashStorage::new(peripherals.FLASH);
    let settings = bringup::configuration(&mut flash, &config::DEFAULTS, built_for).await;

    // The factory MAC (= the Wi-Fi station's): node IDs and the derived node name.
    let mut mac = [0u8; 6];
    let base = efuse::interface_mac_address(InterfaceMacAddress::Station);
    for (dst, src) in mac.iter_mut().zip(base.as_bytes()) {
        *dst = *src;
    }
    println!("base MAC {}", Mac(&mac));

    // Not security relevant: smoltcp uses it for ports and sequence numbers.
    let rng = Rng::new();
    let seed = (u64::from(rng.random()) << 32) | u64::from(rng.random());
    board_state::record_network_starting();

    // A constant condition in synchronous code: on boards without a W5500 the Ethernet path
    // is type-checked but not linked (no driver, no frame buffers).
    let ethernet_starting = match const { board::SELECTED.w5500 } {
        Some(pins) => Some(net::ethernet::starting(
            spawner,
            peripherals.SPI2,
            pins,
            ethernet_mac(mac),
            seed ^ 1,
        )),
        None => None,
    };
    let wifi = match settings.record.wifi {
        Some(credentials) => match net::wifi::start(spawner, peripherals.WIFI, credentials, seed) {
            Ok(stack) => Some(stack),
            Err(e) => {
                println!("Wi-Fi: start failed: {:?}", e);
                None
            }
        },
        None => {
            println!("Wi-Fi: no credentials configured");
            None
        }
    };
    let ethernet = match ethernet_starting {
        Some(starting) => starting.await,
        None => None,
    };
    let uplinks = Uplinks { ethernet, wifi };
    bringup::require_uplink(&uplinks, settings.record.wifi.is_some()).await;

    // TLS keys need true randomness: the running radio is an entropy source (esp-radio
    // registers itself); without Wi-Fi the SAR ADC is enabled as one, for good.
    let _entropy = match wifi {
        Some(_) => None,
        None => Some(TrngSource::new(peripherals.RNG, peripherals.ADC1)),
    };
    let trng = match Trng::try_new() {
        Ok(trng) => trng,
        Err(e) => {
            bringup::halt(
                Stage::Entropy,
                "no entropy source for TLS",
                format_args!("{e:?}"),
            )
            .await
        }
    };
    let mut boot_random = [0u8; 16];
    trng.read(&mut boot_random);

    bringup::run(Boot {
        settings,
        uplinks,
        mac,
        boot_random,
        rng: trng,
        heap: EspHeap,
        built_for,
        flash,
    })
    .await
}
