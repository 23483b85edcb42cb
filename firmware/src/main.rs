//! picokubelet firmware.
//!
//! Brings up the whole networking stack the agent needs and exercises it once a minute:
//! heap → esp-rtos scheduler → Wi-Fi station (reconnect loop) → embassy-net with DHCP →
//! DNS → TCP to port 6443 → TLS 1.3 with the server certificate VERIFIED against the
//! compiled-in cluster CA (picokubelet-core's `tls::open_verified`) → `GET /version` → status line.

#![no_std]
#![no_main]

extern crate alloc;

mod board;
mod led;
mod signals;
mod watchdog;

use embassy_executor::Spawner;
use embassy_net::{dns::DnsQueryType, tcp::TcpSocket, IpAddress, Runner, Stack, StackResources};
use embassy_time::{Duration, Timer};
use embedded_io_async::Write;
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
    led::{AgentPhase, ApiErrorClass},
    tls::{self, ServerIdentity, TlsOpenError, CA_DER_MAX},
};
use static_cell::StaticCell;

esp_bootloader_esp_idf::esp_app_desc!();

/// Compile-time setting with a default: `env_or!("NAME", "default")`.
macro_rules! env_or {
    ($name:literal, $default:literal) => {
        match option_env!($name) {
            Some(value) => value,
            None => $default,
        }
    };
}

const WIFI_SSID: &str = env_or!("PK_WIFI_SSID", "picokubelet");
const WIFI_PASSWORD: &str = env_or!("PK_WIFI_PASSWORD", "picokubelet");
/// API server host name (or IPv4 literal); `Stack::dns_query` passes literals through.
const API_HOST: &str = env_or!("PK_API_HOST", "kubernetes.local");
const API_PORT: u16 = 6443;
/// The name the server certificate must carry (kubeconfig `tls-server-name`); defaults to the
/// host we dial. An IPv4/IPv6 literal is matched against the certificate's IP SANs.
const TLS_SERVER_NAME: &str = match option_env!("PK_TLS_SERVER_NAME") {
    Some(name) => name,
    None => API_HOST,
};
/// The cluster CA as configured at build time (see build.rs): PEM, DER or base64 of PEM; empty
/// when none was given, and then the firmware does not connect at all.
static CLUSTER_CA: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/cluster-ca"));

/// Reclaimed 2nd-stage-bootloader RAM (64 KiB on C6 and C3) plus this much of ordinary RAM.
const HEAP_MAIN_BYTES: usize = 36 * 1024;
/// TCP socket buffers of the one API connection.
const TCP_RX_BYTES: usize = 4096;
const TCP_TX_BYTES: usize = 4096;
/// A TLS record can carry 16 KiB of plaintext plus overhead: the read buffer must hold one.
const TLS_READ_BYTES: usize = tls::RX_RECORD_BUFFER;
/// Writes are split into records of at most this size (requests are small).
const TLS_WRITE_BYTES: usize = tls::TX_RECORD_BUFFER;
/// Enough for the status line and then some; the rest of the response is discarded.
const HEAD_BYTES: usize = 512;
/// Sockets: DHCP, DNS, one TCP connection, one spare.
const STACK_SOCKETS: usize = 4;

const RECONNECT_DELAY: Duration = Duration::from_secs(5);
const PROBE_INTERVAL: Duration = Duration::from_secs(60);
const TCP_TIMEOUT: Duration = Duration::from_secs(15);

static STACK_RESOURCES: StaticCell<StackResources<STACK_SOCKETS>> = StaticCell::new();
static TCP_RX: StaticCell<[u8; TCP_RX_BYTES]> = StaticCell::new();
static TCP_TX: StaticCell<[u8; TCP_TX_BYTES]> = StaticCell::new();
static TLS_READ: StaticCell<[u8; TLS_READ_BYTES]> = StaticCell::new();
static TLS_WRITE: StaticCell<[u8; TLS_WRITE_BYTES]> = StaticCell::new();
static CA_DER: StaticCell<[u8; CA_DER_MAX]> = StaticCell::new();

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
    if let Some(pins) = profile.w5500 {
        // Wired Ethernet is a later step; claiming the bus proves the wiring compiles.
        match board::w5500_io(peripherals.SPI2, &pins) {
            Ok(_io) => println!("W5500 bus claimed (driver not yet enabled), using Wi-Fi"),
            Err(e) => println!("W5500 SPI config rejected: {:?}", e),
        }
    }

    let timg0 = TimerGroup::new(peripherals.TIMG0);
    let sw_int = SoftwareInterruptControl::new(peripherals.SW_INTERRUPT);
    // The scheduler must run before the radio is initialised.
    esp_rtos::start(timg0.timer0, sw_int.software_interrupt0);

    // Armed after the scheduler starts: its feeding task needs the executor.
    spawner.spawn(
        watchdog::watchdog_task(watchdog::arm(peripherals.TIMG1))
            .expect("watchdog_task spawned once"),
    );

    // The LED task starts as soon as there is a scheduler, so the board shows Booting while the radio comes up.
    match board::status_led_rmt(peripherals.RMT, &profile) {
        Ok(channel) => spawner.spawn(led::led_task(channel).expect("led_task spawned once")),
        Err(e) => println!(
            "status LED: RMT setup failed: {:?} (running without LED)",
            e
        ),
    }

    // Secure by default: without a usable CA there is nothing to verify the server against.
    let ca_der: &'static [u8] = match tls::decode_ca(CLUSTER_CA, CA_DER.init([0; CA_DER_MAX])) {
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
    let identity = ServerIdentity::parse(TLS_SERVER_NAME);
    println!("TLS: server must prove {:?}", identity);

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

    let tcp_rx = TCP_RX.init([0; TCP_RX_BYTES]);
    let tcp_tx = TCP_TX.init([0; TCP_TX_BYTES]);
    let tls_read = TLS_READ.init([0; TLS_READ_BYTES]);
    let tls_write = TLS_WRITE.init([0; TLS_WRITE_BYTES]);

    loop {
        stack.wait_config_up().await;
        if let Some(config) = stack.config_v4() {
            println!(
                "DHCP: address {} gateway {:?}",
                config.address, config.gateway
            );
        }
        signals::update_led(|led| led.request_in_flight = true);
        let result =
            probe_version(stack, tcp_rx, tcp_tx, tls_read, tls_write, ca_der, identity).await;
        signals::update_led(|led| {
            led.request_in_flight = false;
            match result {
                Ok(status) => {
                    led.last_api_error = ApiErrorClass::from_status(status);
                    // The probe has no Node to register; a working round trip is the most
                    // it can prove. The agent replaces this with its real phase.
                    if led.phase == AgentPhase::Connecting {
                        led.phase = AgentPhase::Registered;
                    }
                }
                Err(_) => {
                    led.last_api_error = Some(ApiErrorClass::Transport);
                    if led.phase == AgentPhase::Registered {
                        led.phase = AgentPhase::Connecting;
                    }
                }
            }
        });
        if let Err(e) = result {
            println!("probe failed: {:?}", e);
        }
        let board = signals::snapshot();
        println!(
            "board: heap {} of {} bytes free, up {} s, {} association(s) in 5 min ({} total), {} BSSID change(s)",
            board.heap_free,
            board.heap_total,
            board.uptime.as_secs(),
            board.associations_in_window,
            board.associations_total,
            board.bssid_changes
        );
        Timer::after(PROBE_INTERVAL).await;
    }
}

/// Why one `GET /version` probe failed.
#[derive(Debug)]
#[allow(
    dead_code,
    reason = "the payloads are read through Debug when the failure is printed"
)]
enum ProbeError {
    Dns(embassy_net::dns::Error),
    NoAddress,
    Connect(embassy_net::tcp::ConnectError),
    NoEntropy,
    Handshake(TlsOpenError),
    Tls(tls::TlsError),
    NoStatusLine,
}

/// DNS → TCP → TLS 1.3 → `GET /version` → print the status line; returns the status code.
async fn probe_version(
    stack: Stack<'static>,
    tcp_rx: &mut [u8],
    tcp_tx: &mut [u8],
    tls_read: &mut [u8],
    tls_write: &mut [u8],
    ca_der: &[u8],
    identity: ServerIdentity<'_>,
) -> Result<u16, ProbeError> {
    let addresses = stack
        .dns_query(API_HOST, DnsQueryType::A)
        .await
        .map_err(ProbeError::Dns)?;
    let address: IpAddress = *addresses.first().ok_or(ProbeError::NoAddress)?;
    println!("{} resolves to {}", API_HOST, address);

    let mut socket = TcpSocket::new(stack, tcp_rx, tcp_tx);
    socket.set_timeout(Some(TCP_TIMEOUT));
    socket
        .connect((address, API_PORT))
        .await
        .map_err(ProbeError::Connect)?;
    println!("TCP connected to {}:{}", address, API_PORT);

    // The radio is running, so the hardware RNG is a true RNG here (esp-radio registers itself
    // as an entropy source). With Ethernet only, a `TrngSource` (ADC) must be enabled instead.
    let trng = Trng::try_new().map_err(|_| ProbeError::NoEntropy)?;

    // The wall clock is not anchored yet (it comes from the server's Date), so the validity
    // period is not checked on this first handshake: `now = None`.
    let mut tls = tls::open_verified(socket, tls_read, tls_write, ca_der, identity, None, trng)
        .await
        .map_err(ProbeError::Handshake)?;
    println!("TLS 1.3 session open, server certificate verified");

    // TLS buffers writes into one record until `flush`, so the pieces go out together.
    for part in [
        b"GET /version HTTP/1.1\r\nHost: ".as_slice(),
        API_HOST.as_bytes(),
        b"\r\nAccept: application/json\r\nUser-Agent: picokubelet-firmware\r\nConnection: close\r\n\r\n",
    ] {
        tls.write_all(part).await.map_err(ProbeError::Tls)?;
    }
    tls.flush().await.map_err(ProbeError::Tls)?;

    let mut head = [0u8; HEAD_BYTES];
    let mut filled = 0;
    let status_end = loop {
        if let Some(end) = head[..filled].windows(2).position(|w| w == b"\r\n") {
            break end;
        }
        if filled == head.len() {
            return Err(ProbeError::NoStatusLine);
        }
        let n = tls
            .read(&mut head[filled..])
            .await
            .map_err(ProbeError::Tls)?;
        if n == 0 {
            return Err(ProbeError::NoStatusLine);
        }
        filled += n;
    };
    let status_line = &head[..status_end];
    match core::str::from_utf8(status_line) {
        Ok(line) => println!("GET /version -> {}", line),
        Err(_) => println!("GET /version -> (status line is not UTF-8)"),
    }
    // "HTTP/1.1 200 OK": the three digits after the first space.
    let status = status_line
        .split(|b| *b == b' ')
        .nth(1)
        .and_then(|code| core::str::from_utf8(code).ok())
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or(ProbeError::NoStatusLine)?;

    // Best effort: the server closes anyway (Connection: close).
    if let Err((_socket, e)) = tls.close().await {
        println!("TLS close: {:?}", e);
    }
    Ok(status)
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
        Timer::after(RECONNECT_DELAY).await;
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
