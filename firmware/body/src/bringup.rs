//! The bring-up after the board's drivers: configuration (`crate::config`), the uplink check,
//! then the agent (`picokubelet_core::agent::run_agent`) over the uplink that came up first,
//! with its LED mirror and a periodic summary. The board's `main` calls these in order:
//! [`configuration`] → its uplinks → [`require_uplink`] → its entropy source → [`run`].

use core::{convert::Infallible, net::Ipv4Addr};

use embassy_futures::select::{select, Either};
use embassy_time::{Duration, Instant, Timer};
use embedded_storage::ReadStorage;
use picokubelet_core::{
    agent::{run_agent, AgentBuffers, AgentState, Runtime},
    k8s::{chip::Chip, node_ids::NodeIds},
    led::LedInputs,
};
use rand_core::{CryptoRng, RngCore};
use static_cell::{ConstStaticCell, StaticCell};

use crate::{
    board_state::{self, BodyBoard, ConfigHealth, HeapGauge},
    config::{self, BuildDefaults, ConfigBuffers, Settings},
    connector::{EmbassyClock, NetConnector, PrintLog},
    net::uplink::Uplinks,
};

/// How long boot waits for the Ethernet carrier before it settles for Wi-Fi (the W5500's
/// autonegotiation takes seconds after power-up). Ethernet is still taken later when it comes.
const ETHERNET_LINK_WAIT: Duration = Duration::from_secs(5);
/// How often a one-line summary of the agent and the board is printed.
const SUMMARY_INTERVAL: Duration = Duration::from_secs(300);

/// TLS records (20 KiB) and HTTP buffers (7 KiB): const-initialised in place, never on a stack.
static AGENT_BUFFERS: ConstStaticCell<AgentBuffers> = ConstStaticCell::new(AgentBuffers::new());
/// The flash record (8 KiB) and the defaults' CA (2 KiB), borrowed by the record for good.
static CONFIG_BUFFERS: ConstStaticCell<ConfigBuffers> = ConstStaticCell::new(ConfigBuffers::new());
/// What the board runs with: one copy, referenced by the board's `main` and the agent (a copy
/// in each future's state would be static RAM twice on a chip).
static SETTINGS: StaticCell<Settings> = StaticCell::new();

/// The flash record, else `build`'s defaults (rules in `config::select`); records the
/// configuration's health for the LED. A board without a usable configuration halts here.
/// Call once.
pub async fn configuration<F: ReadStorage>(
    flash: &mut F,
    build: &BuildDefaults,
    built_for: Chip,
) -> &'static Settings {
    let settings = match config::load(flash, build, CONFIG_BUFFERS.take()) {
        Ok(settings) => settings,
        Err(refusal) => {
            board_state::record_config_health(ConfigHealth::Refused);
            halt("no usable configuration", refusal).await
        }
    };
    if settings.degraded {
        board_state::record_config_health(ConfigHealth::Degraded);
    }
    let chip = settings.record.chip(built_for);
    if chip != built_for {
        println!(
            "config: WARNING: the record is for {} but this image runs on {}",
            chip.name(),
            built_for.name()
        );
    }
    SETTINGS.init(settings)
}

/// Halts when the board brought up no uplink; `record_has_wifi`: the configuration named a
/// Wi-Fi network (without one, a board without working Ethernet was provisioned wrongly).
pub async fn require_uplink(uplinks: &Uplinks, record_has_wifi: bool) {
    if uplinks.ethernet.is_none() && uplinks.wifi.is_none() {
        if !record_has_wifi {
            board_state::record_config_health(ConfigHealth::Refused);
        }
        halt("no uplink", "neither Ethernet nor Wi-Fi is available").await
    }
}

/// What the agent runs with, from the board.
pub struct Boot<R, H> {
    pub settings: &'static Settings,
    pub uplinks: Uplinks,
    /// The board's factory MAC: node IDs and the derived node name.
    pub mac: [u8; 6],
    /// 16 random bytes from `rng`, taken before anything else used it.
    pub boot_random: [u8; 16],
    /// A cryptographic RNG (TLS keys).
    pub rng: R,
    pub heap: H,
    /// The chip the image was built for (the record's profile wins over it).
    pub built_for: Chip,
}

/// Waits for an uplink, builds the agent's configuration and runs the agent with its LED
/// mirror for ever; halts when the configuration is refused.
pub async fn run<R, H>(boot: Boot<R, H>) -> !
where
    R: RngCore + CryptoRng,
    H: HeapGauge + Copy,
{
    // Fields are used in place (not destructured): a moved-from `boot` would keep its own
    // slot in this future's state, which a chip keeps in static RAM.
    let uplinks = boot.uplinks;
    let built_for = boot.built_for;
    let settings = boot.settings;
    let record = &settings.record;
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

    let strings = match record.agent_strings(boot.mac, built_for) {
        Ok(strings) => strings,
        Err(e) => {
            board_state::record_config_health(ConfigHealth::Refused);
            halt("cannot derive a node name", e).await
        }
    };
    let ids = NodeIds::new(boot.mac, boot.boot_random);
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
    let board = BodyBoard {
        uplinks,
        heap: boot.heap,
    };
    // The board's identity when the record holds a client certificate instead of a token;
    // the opener borrows the key, which lives as long as this future.
    let client_key = record.client_certificate.and_then(|c| c.signing_key());
    if let Some(client) = record.client_certificate {
        println!(
            "config: client certificate ({} bytes) as the board's identity",
            client.certificate_der.len()
        );
    }
    let mut runtime = Runtime {
        clock: EmbassyClock,
        connector: NetConnector::new(uplinks, record.host, record.port),
        opener: record.tls_opener(client_key.as_ref()),
        rng: boot.rng,
        board,
        log: PrintLog,
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
    match select(agent, mirror(&state, board)).await {
        Either::First(Ok(never)) => match never {},
        Either::First(Err(e)) => halt("the agent refused its configuration", e).await,
        Either::Second(never) => match never {},
    }
}

/// Copies the agent's LED inputs to the LED task whenever they change (the agent signals it)
/// and prints a summary now and then. Runs beside the agent on the same executor (`AgentState`
/// is single-executor by design).
async fn mirror<H: HeapGauge>(state: &AgentState, board: BodyBoard<H>) -> Infallible {
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
            let snapshot = board_state::snapshot(&board.heap);
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
pub async fn halt(what: &str, error: impl core::fmt::Debug) -> ! {
    println!("{}: {:?}", what, error);
    loop {
        Timer::after(Duration::from_secs(3600)).await;
    }
}
