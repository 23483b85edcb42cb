//! picokubelet firmware: the ESP32 body around picokubelet-core's agent.
//!
//! heap → esp-rtos scheduler → watchdog → status LED → Wi-Fi station (reconnect loop) →
//! embassy-net with DHCP → the agent (`picokubelet_core::agent::run_agent`): DNS + TCP to the
//! API server, TLS 1.3 with the server certificate VERIFIED against the compiled-in cluster
//! CA, clock anchoring, Node registration, Lease renewal, status and events — reconnecting
//! whenever the session ends. Every protocol decision is the core's; this crate provides the
//! seams (`body`, `signals`), the drivers (`led`, `watchdog`) and the pins (`board`).

#![no_std]
#![no_main]

extern crate alloc;

mod board;
mod body;
mod led;
mod signals;
mod watchdog;

use core::{convert::Infallible, net::Ipv4Addr};

use embassy_executor::Spawner;
use embassy_futures::select::{select, Either};
use embassy_net::{tcp::client::TcpClientState, Runner, StackResources};
use embassy_time::{Duration, Instant, Timer};
use esp_backtrace as _;
use esp_hal::{
    clock::CpuClock,
    interrupt::software::SoftwareInterruptControl,
    ram,
    rng::{Rng, Trng},
    timer::timg::TimerGroup,
};
use esp_println::println;
use esp_radio::wifi::{
    sta::StationConfig, Config as WifiConfig, ControllerConfig, Interface, WifiController,
};
use picokubelet_core::{
    agent::{run_agent, AgentBuffers, AgentConfig, AgentState, Runtime},
    http::request::BearerToken,
    k8s::{
        identity::{NodeIds, NodeName},
        node::NodeProfile,
    },
    tls::{self, ServerTrust, TlsOpener, CA_DER_MAX},
};
use static_cell::{ConstStaticCell, StaticCell};

esp_bootloader_esp_idf::esp_app_desc!();

/// Compile-time setting with a default: `env_or!("NAME", "default")`.
macro_rules! env_or {
    ($name:literal, $default:expr) => {
        match option_env!($name) {
            Some(value) => value,
            None => $default,
        }
    };
}

const WIFI_SSID: &str = env_or!("PK_WIFI_SSID", "picokubelet");
const WIFI_PASSWORD: &str = env_or!("PK_WIFI_PASSWORD", "picokubelet");
/// API server host name (or IPv4 literal); also the `Host` header.
const API_HOST: &str = env_or!("PK_API_HOST", "kubernetes.local");
const API_PORT: u16 = 6443;
/// The name the server certificate must carry (kubeconfig `tls-server-name`); defaults to the
/// host we dial. An IP literal is matched against the certificate's IP SANs.
const TLS_SERVER_NAME: &str = env_or!("PK_TLS_SERVER_NAME", API_HOST);
/// The Node's name (the token must belong to `system:node:<name>`).
const NODE_NAME: &str = env_or!("PK_NODE_NAME", "picokubelet");
/// Bearer token of the node identity; without one the server answers 401 and the LED says so.
const NODE_TOKEN: Option<&str> = option_env!("PK_NODE_TOKEN");
/// The cluster CA as configured at build time (see build.rs): PEM, DER or base64 of PEM; empty
/// when none was given, and then the firmware does not connect at all.
static CLUSTER_CA: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/cluster-ca"));

/// Reclaimed 2nd-stage-bootloader RAM (64 KiB on C6 and C3) plus this much of ordinary RAM.
const HEAP_MAIN_BYTES: usize = 36 * 1024;
/// Sockets: DHCP, DNS, one TCP connection, one spare.
const STACK_SOCKETS: usize = 4;
/// How often the agent's LED inputs are copied to the LED task.
const LED_MIRROR_INTERVAL: Duration = Duration::from_millis(50);
/// How often a one-line summary of the agent and the board is printed.
const SUMMARY_INTERVAL: Duration = Duration::from_secs(300);
const WIFI_RECONNECT_DELAY: Duration = Duration::from_secs(5);

static STACK_RESOURCES: StaticCell<StackResources<STACK_SOCKETS>> = StaticCell::new();
static TCP_STATE: ConstStaticCell<
    TcpClientState<{ body::TCP_CONNECTIONS }, { body::TCP_TX_BYTES }, { body::TCP_RX_BYTES }>,
> = ConstStaticCell::new(TcpClientState::new());
static TCP_CLIENT: StaticCell<body::ApiTcpClient> = StaticCell::new();
static CA_DER: ConstStaticCell<[u8; CA_DER_MAX]> = ConstStaticCell::new([0; CA_DER_MAX]);
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
    if let Some(pins) = profile.w5500 {
        // Wired Ethernet is a later step; claiming the bus proves the wiring compiles.
        match board::w5500_io(peripherals.SPI2, &pins) {
            Ok(_io) => println!("W5500 bus claimed (driver not yet enabled), using Wi-Fi"),
            Err(e) => println!("W5500 SPI config rejected: {:?}", e),
        }
    }

    // Secure by default: without a usable CA there is nothing to verify the server against.
    let ca_der: &'static [u8] = match tls::decode_ca(CLUSTER_CA, CA_DER.take()) {
        Ok(der) => {
            println!("cluster CA: {} bytes of DER", der.len());
            der
        }
        Err(e) if CLUSTER_CA.is_empty() => {
            halt(
                "no cluster CA compiled in (set PK_CA_PEM_FILE or PK_CA_B64 at build time)",
                e,
            )
            .await
        }
        Err(e) => halt("the compiled-in cluster CA does not decode", e).await,
    };
    let node_name = match NodeName::new(NODE_NAME) {
        Ok(name) => name,
        Err(e) => halt("PK_NODE_NAME is not a valid Node name", e).await,
    };
    if NODE_TOKEN.is_none() {
        println!("no PK_NODE_TOKEN compiled in: the server will refuse the agent (401)");
    }

    let station = WifiConfig::Station(
        StationConfig::default()
            .with_ssid(WIFI_SSID)
            .with_password(WIFI_PASSWORD.into()),
    );
    let (controller, interfaces) = match esp_radio::wifi::new(
        peripherals.WIFI,
        ControllerConfig::default().with_initial_config(station),
    ) {
        Ok(pair) => pair,
        Err(e) => halt("Wi-Fi init failed", e).await,
    };
    signals::record_link_down();
    let mac = interfaces.station.mac_address();
    println!("Wi-Fi station MAC {}", Mac(&mac));

    // Not security relevant: smoltcp uses it for ports and sequence numbers.
    let rng = Rng::new();
    let seed = (u64::from(rng.random()) << 32) | u64::from(rng.random());
    let (stack, runner) = embassy_net::new(
        interfaces.station,
        embassy_net::Config::dhcpv4(Default::default()),
        STACK_RESOURCES.init(StackResources::new()),
        seed,
    );

    spawner.spawn(wifi_task(controller).expect("wifi_task spawned once"));
    spawner.spawn(net_task(runner).expect("net_task spawned once"));

    // The radio is running, so the hardware RNG is a true RNG here (esp-radio registers itself
    // as an entropy source). With Ethernet only, a `TrngSource` (ADC) must be enabled instead.
    let trng = match Trng::try_new() {
        Ok(trng) => trng,
        Err(e) => halt("no entropy source for TLS", e).await,
    };
    let mut boot_random = [0u8; 16];
    trng.read(&mut boot_random);

    // The Node reports the address DHCP gave us at boot.
    stack.wait_config_up().await;
    let address = stack
        .config_v4()
        .map_or(Ipv4Addr::UNSPECIFIED, |c| c.address.address());
    println!("DHCP: address {}", address);

    let node = NodeProfile::new(
        node_name,
        profile.architecture,
        profile.chip,
        NodeIds::new(mac, boot_random),
        address,
    );
    let config = AgentConfig {
        server_name: TLS_SERVER_NAME,
        ..AgentConfig::new(API_HOST, NODE_TOKEN.map(BearerToken::new), node)
    };
    let mut runtime = Runtime {
        clock: body::EmbassyClock,
        connector: body::NetConnector {
            stack,
            client: TCP_CLIENT.init(body::ApiTcpClient::new(stack, TCP_STATE.take())),
            host: API_HOST,
            port: API_PORT,
        },
        opener: TlsOpener::new(ServerTrust::Ca(ca_der)),
        rng: trng,
        board: signals::EspBoard,
        log: body::PrintLog,
    };
    let state = AgentState::new();
    println!(
        "agent: node {} → https://{}:{} (certificate must name {})",
        NODE_NAME, API_HOST, API_PORT, TLS_SERVER_NAME
    );
    let agent = run_agent(&mut runtime, &config, &state, AGENT_BUFFERS.take());
    match select(agent, mirror(&state)).await {
        Either::First(Ok(never)) => match never {},
        Either::First(Err(e)) => halt("the agent refused its configuration", e).await,
        Either::Second(never) => match never {},
    }
}

/// Copies the agent's LED inputs to the LED task and prints a summary now and then. Runs
/// beside the agent on the same executor (`AgentState` is single-executor by design).
async fn mirror(state: &AgentState) -> Infallible {
    let mut next_summary = Instant::now() + SUMMARY_INTERVAL;
    loop {
        let inputs = state.led_inputs();
        signals::update_led(|led| {
            let panicked = led.panicked;
            *led = inputs;
            led.panicked = panicked;
        });
        if Instant::now() >= next_summary {
            next_summary += SUMMARY_INTERVAL;
            let board = signals::snapshot();
            println!(
                "summary: up {} s, heap {} of {} B free, {} association(s), {} BSSID change(s); {:?}; {:?}",
                Instant::now().as_secs(),
                board.heap_free_bytes,
                board.heap_total_bytes,
                board.wifi_associations,
                board.bssid_changes,
                state.stats(),
                state.counters()
            );
        }
        Timer::after(LED_MIRROR_INTERVAL).await;
    }
}

/// Keeps the station associated: connect, log BSSID/RSSI, wait for the drop, back off, repeat.
#[embassy_executor::task]
async fn wifi_task(mut controller: WifiController<'static>) {
    loop {
        println!("Wi-Fi: connecting to '{}'", WIFI_SSID);
        match controller.connect_async().await {
            Ok(info) => {
                signals::record_association(info.bssid);
                let rssi = controller.rssi();
                println!(
                    "Wi-Fi: associated, BSSID {} channel {} RSSI {:?} dBm",
                    Mac(&info.bssid),
                    info.channel,
                    rssi
                );
                match controller.wait_for_disconnect_async().await {
                    Ok(info) => println!("Wi-Fi: disconnected, reason {:?}", info.reason),
                    Err(e) => println!("Wi-Fi: disconnect wait failed: {:?}", e),
                }
            }
            Err(e) => println!("Wi-Fi: connect failed: {:?}", e),
        }
        signals::record_link_down();
        Timer::after(WIFI_RECONNECT_DELAY).await;
    }
}

#[embassy_executor::task]
async fn net_task(mut runner: Runner<'static, Interface<'static>>) -> ! {
    runner.run().await
}

/// Prints why the firmware cannot go on and parks forever. The executor keeps running (LED,
/// watchdog), so the watchdog does not reset a board that is merely misconfigured.
async fn halt(what: &str, error: impl core::fmt::Debug) -> ! {
    println!("{}: {:?}", what, error);
    loop {
        Timer::after(Duration::from_secs(3600)).await;
    }
}

/// Formats a MAC address / BSSID as `aa:bb:cc:dd:ee:ff`.
struct Mac<'a>(&'a [u8; 6]);

impl core::fmt::Display for Mac<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let [a, b, c, d, e, g] = *self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}
