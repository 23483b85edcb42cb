//! The bring-up after the board's drivers: configuration (`crate::config`), the uplink check,
//! then the agent (`picokubelet_core::agent::run_agent`) over the uplink that came up first,
//! with its LED mirror and a periodic summary. The board's `main` calls these in order:
//! [`configuration`] → its uplinks → [`require_uplink`] → its entropy source → [`run`].
//!
//! Each stage of it prints one `pk-stage` line and the bring-up ends in a `pk-summary` line
//! ([`stages`]: the format, which scripts/check-hardware-log.sh and the tap-board harness read).

pub mod stages;

use core::net::Ipv4Addr;

use embassy_futures::select::{select, Either};
use embassy_time::Duration;
use embedded_storage::{nor_flash::NorFlash, ReadStorage};
use picokubelet_core::{
    agent::{run_agent, AgentBuffers, AgentConfig, AgentState, Runtime},
    k8s::{chip::Chip, node_ids::NodeIds},
};
use rand_core::{CryptoRng, RngCore};
use static_cell::{ConstStaticCell, StaticCell};

/// The halt and the stage report belong to [`crate::progress`]; a chip's `main` calls them
/// from here, beside the bring-up steps.
pub use crate::progress::{halt, report};
use crate::{
    board_state::{self, BodyBoard, ConfigHealth, HeapGauge},
    config::{self, BuildDefaults, ConfigBuffers, Settings},
    connector::{EmbassyClock, NetConnector},
    idle_ca,
    net::uplink::Uplinks,
    progress::{mirror, StageLog},
};
use stages::{BootDetail, Stage};

/// How long boot waits for the Ethernet carrier before it settles for Wi-Fi (the W5500's
/// autonegotiation takes seconds after power-up). Ethernet is still taken later when it comes.
const ETHERNET_LINK_WAIT: Duration = Duration::from_secs(5);

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
    let boot = BootDetail {
        version: env!("CARGO_PKG_VERSION"),
        built_for: built_for.name(),
    };
    report(Stage::Boot, true, &boot);
    let settings = match config::load(flash, build, CONFIG_BUFFERS.take()) {
        Ok(loaded) => {
            if let Some(idle) = loaded.idle_ca {
                idle_ca::lend(idle);
            }
            loaded.settings
        }
        Err(refusal) => {
            board_state::record_config_health(ConfigHealth::Refused);
            halt(Stage::Config, "no usable configuration", refusal).await
        }
    };
    if let Some(token) = settings.record.bootstrap_token {
        println!(
            "config: kubelet TLS bootstrap with token {}.<secret>: the board's own certificate \
             comes from the identity store or a CSR (crate::bootstrap)",
            token.id()
        );
    }
    let degraded = if settings.degraded {
        ", DEGRADED: the flash record is unusable, compile-time defaults"
    } else {
        ""
    };
    report(
        Stage::Config,
        true,
        &format_args!(
            "API server {}:{}, node name from {:?}{}",
            settings.record.host, settings.record.port, settings.name_source, degraded
        ),
    );
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
        halt(
            Stage::Uplink,
            "no uplink",
            "neither Ethernet nor Wi-Fi is available",
        )
        .await
    }
}

/// What the agent runs with, from the board.
pub struct Boot<R, H, F> {
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
    /// The whole flash, writable: the identity store (`pkident`) of a bootstrap record.
    pub flash: F,
}

/// Waits for an uplink, builds the agent's configuration and runs the agent with its LED
/// mirror for ever; halts when the configuration is refused.
pub async fn run<R, H, F>(boot: Boot<R, H, F>) -> !
where
    R: RngCore + CryptoRng,
    H: HeapGauge + Copy,
    F: NorFlash + ReadStorage,
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
    report(
        Stage::Uplink,
        true,
        &format_args!("{:?} with DHCP address {}", kind, address),
    );
    // The board hands `run` its entropy source (`boot.rng`) or halts before it.
    report(Stage::Entropy, true, &"a true random source for TLS keys");
    if record.bootstrap_token.is_none() {
        let identity = if record.client_certificate.is_some() {
            "the record's client certificate"
        } else {
            "the record's bearer token"
        };
        report(Stage::Identity, true, &identity);
    }

    let strings = match record.agent_strings(boot.mac, built_for) {
        Ok(strings) => strings,
        Err(e) => {
            board_state::record_config_health(ConfigHealth::Refused);
            halt(Stage::Config, "cannot derive a node name", e).await
        }
    };
    let ids = NodeIds::new(boot.mac, boot.boot_random);
    let mut config = match record.agent_config(&strings, built_for, ids, address) {
        Ok(config) => config,
        Err(e) => {
            board_state::record_config_health(ConfigHealth::Refused);
            halt(Stage::Config, "the agent refuses the configuration", e).await
        }
    };
    if !settings.send_token {
        config.token = None;
    }
    let board = BodyBoard {
        uplinks,
        heap: boot.heap,
    };
    if let Some(token) = record.bootstrap_token {
        config.token = None;
        crate::bootstrap::run(&mut crate::bootstrap::Bootstrap {
            token,
            trust: record.trust,
            connector: NetConnector::new(uplinks, record.host, record.port),
            host_header: strings.host_header(),
            server_name: config.server_name,
            node: strings.node_name(),
            config: &config,
            board,
            rng: boot.rng,
            flash: boot.flash,
            agent_buffers: AGENT_BUFFERS.take(),
        })
        .await
    }
    println!(
        "agent: node {} ({:?}) → https://{} (certificate must name {})",
        strings.node_name(),
        settings.name_source,
        strings.host_header(),
        config.server_name
    );
    with_record_identity(
        settings,
        NetConnector::new(uplinks, record.host, record.port),
        &config,
        boot.rng,
        board,
    )
    .await
}

/// The agent with the record's identity (client certificate or token) for ever. Its own
/// future: its locals (the agent's state, runtime, key) then share the main task's future
/// with the bootstrap's instead of sitting beside it (2,120 B of static RAM on the C6,
/// BENCHMARKS.md "Firmware images").
async fn with_record_identity<R, H>(
    settings: &'static Settings,
    connector: NetConnector,
    config: &AgentConfig<'_>,
    rng: R,
    board: BodyBoard<H>,
) -> !
where
    R: RngCore + CryptoRng,
    H: HeapGauge + Copy,
{
    let record = &settings.record;
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
        connector,
        opener: record.tls_opener(client_key.as_ref()),
        rng,
        board,
        log: StageLog,
    };
    let state = AgentState::new();
    let agent = run_agent(&mut runtime, config, &state, AGENT_BUFFERS.take());
    match select(agent, mirror(&state, board)).await {
        Either::First(Ok(never)) => match never {},
        Either::First(Err(e)) => {
            halt(Stage::Config, "the agent refused its configuration", e).await
        }
        Either::Second(never) => match never {},
    }
}
