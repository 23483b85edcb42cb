//! picokubelet firmware: the ESP32 body around picokubelet-core's agent.
//!
//! heap → esp-rtos scheduler → watchdog → status LED → configuration (the `pkconfig` flash
//! partition, else the compile-time defaults: `config`) → uplinks (W5500 Ethernet where the
//! board has one, Wi-Fi station where credentials are configured; each with its own
//! embassy-net stack and DHCP: `net`) → the agent (`picokubelet_core::agent::run_agent`): DNS +
//! TCP to the API server over the preferred uplink, TLS 1.3 with the server certificate
//! VERIFIED against the cluster CA, clock anchoring, Node registration, Lease renewal, status
//! and events — reconnecting whenever the session ends. Every protocol decision is the core's;
//! this crate provides the seams (`body`, `board_state`), the drivers (`led`, `watchdog`, `net`)
//! and the pins (`board`).

#![no_std]
#![no_main]

extern crate alloc;

mod board;
mod board_state;
mod body;
mod config;
mod led;
mod net;
mod watchdog;

use core::{convert::Infallible, net::Ipv4Addr};

use embassy_executor::Spawner;
use embassy_futures::select::{select, Either};
use embassy_time::{Duration, Instant, Timer};
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
use picokubelet_core::{
    agent::{run_agent, AgentBuffers, AgentState, Runtime},
    k8s::node_ids::NodeIds,
    led::LedInputs,
    tls::TlsOpener,
};
use static_cell::ConstStaticCell;

use board_state::ConfigHealth;
use net::{uplink::Uplinks, Mac};

esp_bootloader_esp_idf::esp_app_desc!();

/// Reclaimed 2nd-stage-bootloader RAM (64 KiB on C6 and C3) plus this much of ordinary RAM.
const HEAP_MAIN_BYTES: usize = 36 * 1024;
/// How long boot waits for the Ethernet carrier before it settles for Wi-Fi (the W5500's
/// autonegotiation takes seconds after power-up). Ethernet is still taken later when it comes.
const ETHERNET_LINK_WAIT: Duration = Duration::from_secs(5);
/// How often a one-line summary of the agent and the board is printed.
const SUMMARY_INTERVAL: Duration = Duration::from_secs(300);

/// TLS records (20 KiB) and HTTP buffers (7 KiB): const-initialised in place, never on a stack.
static AGENT_BUFFERS: ConstStaticCell<AgentBuffers> = ConstStaticCell::new(AgentBuffers::new());

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

    // The flash record, else the build's defaults (rules in config::select).
    let settings = match config::load(peripherals.FLASH) {
        Ok(settings) => settings,
        Err(refusal) => {
            board_state::record_config_health(ConfigHealth::Refused);
            halt("no usable configuration", refusal).await
        }
    };
    if settings.degraded {
        board_state::record_config_health(ConfigHealth::Degraded);
    }
    let record = settings.record;
    let built_for = profile.chip;
    if record.chip(built_for) != built_for {
        println!(
            "config: WARNING: the record is for {} but this image runs on {}",
            record.chip(built_for).name(),
            built_for.name()
        );
    }

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
            net::ethernet::mac_from_base(mac),
            seed ^ 1,
        )),
        None => None,
    };
    let wifi = match record.wifi {
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
    if ethernet.is_none() && wifi.is_none() {
        if record.wifi.is_none() {
            // A record without Wi-Fi on a board without (working) Ethernet: provisioning error.
            board_state::record_config_health(ConfigHealth::Refused);
        }
        halt("no uplink", "neither Ethernet nor Wi-Fi is available").await
    }

    // TLS keys need true randomness: the running radio is an entropy source (esp-radio
    // registers itself); without Wi-Fi the SAR ADC is enabled as one, for good.
    let _entropy = match wifi {
        Some(_) => None,
        None => Some(TrngSource::new(peripherals.RNG, peripherals.ADC1)),
    };
    let trng = match Trng::try_new() {
        Ok(trng) => trng,
        Err(e) => halt("no entropy source for TLS", e).await,
    };
    let mut boot_random = [0u8; 16];
    trng.read(&mut boot_random);

    if uplinks.ethernet.is_some() {
        if uplinks.wait_ethernet_link(ETHERNET_LINK_WAIT).await {
            println!("Ethernet: carrier up");
        } else {
            println!(
                "Ethernet: no carrier within {} s; Wi-Fi (if any) meanwhile",
                ETHERNET_LINK_WAIT.as_secs()
            );
        }
    }
    // The Node reports the address of the uplink that came up first.
    let (kind, _) = uplinks.wait_usable().await;
    let address = uplinks.ipv4(kind).unwrap_or(Ipv4Addr::UNSPECIFIED);
    println!("uplink: {:?} usable, DHCP address {}", kind, address);

    let strings = match record.agent_strings(mac, built_for) {
        Ok(strings) => strings,
        Err(e) => {
            board_state::record_config_health(ConfigHealth::Refused);
            halt("cannot derive a node name", e).await
        }
    };
    let ids = NodeIds::new(mac, boot_random);
    let mut config = match record.agent_config(&strings, built_for, ids, address) {
        Ok(config) => config,
        Err(e) => {
            board_state::record_config_health(ConfigHealth::Refused);
            halt("the agent refuses the configuration", e).await
        }
    };
    if !settings.send_token {
        config.token = None;
    }
    let mut runtime = Runtime {
        clock: body::EmbassyClock,
        connector: body::NetConnector::new(uplinks, record.host, record.port),
        opener: TlsOpener::new(record.trust),
        rng: trng,
        board: board_state::EspBoard { uplinks },
        log: body::PrintLog,
    };
    let state = AgentState::new();
    println!(
        "agent: node {} ({:?}) → https://{} (certificate must name {})",
        strings.node_name(),
        settings.name_source,
        strings.host_header(),
        config.server_name
    );
    let agent = run_agent(&mut runtime, &config, &state, AGENT_BUFFERS.take());
    match select(agent, mirror(&state, board_state::EspBoard { uplinks })).await {
        Either::First(Ok(never)) => match never {},
        Either::First(Err(e)) => halt("the agent refused its configuration", e).await,
        Either::Second(never) => match never {},
    }
}

/// Copies the agent's LED inputs to the LED task whenever they change (the agent signals it)
/// and prints a summary now and then. Runs beside the agent on the same executor (`AgentState`
/// is single-executor by design).
async fn mirror(state: &AgentState, board: board_state::EspBoard) -> Infallible {
    let mut next_summary = Instant::now() + SUMMARY_INTERVAL;
    loop {
        let inputs = LedInputs::of_agent(state);
        board_state::update_led(|led| {
            let panicked = led.panicked;
            *led = inputs;
            led.panicked = panicked;
        });
        if Instant::now() >= next_summary {
            next_summary += SUMMARY_INTERVAL;
            let snapshot = board_state::snapshot();
            println!(
                "summary: up {} s, heap {} of {} B free, uplink {:?}, {} association(s), {} BSSID change(s); {:?}; {:?}",
                Instant::now().as_secs(),
                snapshot.heap_free_bytes,
                snapshot.heap_total_bytes,
                board.uplink(),
                snapshot.wifi_associations,
                snapshot.bssid_changes,
                state.stats(),
                state.counters()
            );
        }
        select(state.led_changed_wait(), Timer::at(next_summary)).await;
    }
}

/// Prints why the firmware cannot go on and parks forever. The executor keeps running (LED,
/// watchdog), so the watchdog does not reset a board that is merely misconfigured.
async fn halt(what: &str, error: impl core::fmt::Debug) -> ! {
    println!("{}: {:?}", what, error);
    loop {
        Timer::after(Duration::from_secs(3600)).await;
    }
}
