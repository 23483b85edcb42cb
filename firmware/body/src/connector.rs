//! The agent's seams on the board (picokubelet-core `runtime`): monotonic time from
//! embassy-time, TCP connections from embassy-net (with DNS) over the uplink in use, and the
//! log printed on the board's console. Board signals are in `crate::board_state`, the RNG is
//! the board's (esp-hal's `Trng` on a chip).

use core::{future::Future, net::SocketAddr};

use embassy_net::{
    dns::DnsQueryType,
    tcp::client::{TcpClient, TcpClientState, TcpConnection},
    Stack,
};
use embedded_nal_async::TcpConnect;
use picokubelet_core::{
    agent::{Log, LogEvent},
    log_text::{EventText, Opt},
    runtime::{Clock, Connector, Instant},
};
use static_cell::{ConstStaticCell, StaticCell};

use crate::{
    board_state,
    net::{policy::UplinkKind, uplink::Uplinks},
};

/// TCP socket buffers of the one API connection.
pub const TCP_RX_BYTES: usize = 4096;
pub const TCP_TX_BYTES: usize = 4096;
/// One connection at a time: the agent keeps one session and drops it before reconnecting.
pub const TCP_CONNECTIONS: usize = 1;

/// The socket pool the connector draws from (its buffers return to the pool on drop).
pub type ApiTcpClient = TcpClient<'static, TCP_CONNECTIONS, TCP_TX_BYTES, TCP_RX_BYTES>;

/// The one connection's buffers (4 + 4 KiB), shared by the Ethernet and the Wi-Fi client: the
/// agent holds one session at a time, so a second uplink costs no socket RAM.
static TCP_STATE: ConstStaticCell<TcpClientState<TCP_CONNECTIONS, TCP_TX_BYTES, TCP_RX_BYTES>> =
    ConstStaticCell::new(TcpClientState::new());
static ETHERNET_CLIENT: StaticCell<ApiTcpClient> = StaticCell::new();
static WIFI_CLIENT: StaticCell<ApiTcpClient> = StaticCell::new();

/// embassy-time as the agent's clock: µs since boot.
#[derive(Clone, Copy, Debug, Default)]
pub struct EmbassyClock;

impl Clock for EmbassyClock {
    fn now(&self) -> Instant {
        Instant::from_micros(embassy_time::Instant::now().as_micros())
    }

    fn sleep_until(&self, at: Instant) -> impl Future<Output = ()> {
        // A Timer is cancel-safe: dropping it only deregisters the wake-up.
        embassy_time::Timer::at(embassy_time::Instant::from_micros(at.as_micros()))
    }
}

/// Why a connection attempt failed.
pub enum ConnectError {
    /// No uplink has a link and an IPv4 address right now.
    NoUplink,
    Dns(embassy_net::dns::Error),
    NoAddress,
    Tcp(embassy_net::tcp::Error),
}

// By hand, not derived: the firmware's derived `Debug` is shallow (BENCHMARKS.md "Firmware
// size") and would drop the DNS or TCP reason; embassy-net's errors have no fields, so theirs
// is whole.
impl core::fmt::Debug for ConnectError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ConnectError::NoUplink => f.write_str("NoUplink"),
            ConnectError::Dns(e) => f.debug_tuple("Dns").field(e).finish(),
            ConnectError::NoAddress => f.write_str("NoAddress"),
            ConnectError::Tcp(e) => f.debug_tuple("Tcp").field(e).finish(),
        }
    }
}

/// TCP to the API server over the uplink `Uplinks::active` picks at each connect (Ethernet
/// first); resolves `host` every time (DHCP may have changed the DNS server, the server may
/// have moved). IPv4 literals pass through `dns_query` unchanged.
pub struct NetConnector {
    uplinks: Uplinks,
    ethernet_client: Option<&'static ApiTcpClient>,
    wifi_client: Option<&'static ApiTcpClient>,
    host: &'static str,
    port: u16,
    /// The uplink of the previous connect, to log switches.
    last: Option<UplinkKind>,
}

impl NetConnector {
    /// One TCP client per uplink, over the shared connection buffers. Call once.
    pub fn new(uplinks: Uplinks, host: &'static str, port: u16) -> Self {
        let state: &'static TcpClientState<TCP_CONNECTIONS, TCP_TX_BYTES, TCP_RX_BYTES> =
            TCP_STATE.take();
        let client = |cell: &'static StaticCell<ApiTcpClient>, stack: Stack<'static>| {
            &*cell.init(ApiTcpClient::new(stack, state))
        };
        NetConnector {
            uplinks,
            ethernet_client: uplinks.ethernet.map(|s| client(&ETHERNET_CLIENT, s)),
            wifi_client: uplinks.wifi.map(|s| client(&WIFI_CLIENT, s)),
            host,
            port,
            last: None,
        }
    }
}

impl Connector for NetConnector {
    type Socket = TcpConnection<'static, TCP_CONNECTIONS, TCP_TX_BYTES, TCP_RX_BYTES>;
    type Error = ConnectError;

    async fn connect(&mut self) -> Result<Self::Socket, Self::Error> {
        let (kind, stack) = self.uplinks.active().ok_or(ConnectError::NoUplink)?;
        let client = match kind {
            UplinkKind::Ethernet => self.ethernet_client,
            UplinkKind::Wifi => self.wifi_client,
        }
        .ok_or(ConnectError::NoUplink)?;
        if self.last != Some(kind) {
            // Options spelled out: the firmware's `Debug` of an `Option` is only `Some`.
            println!(
                "uplink: {:?} now (was {}), address {}",
                kind,
                Opt(self.last),
                Opt(self.uplinks.ipv4(kind))
            );
            self.last = Some(kind);
            board_state::record_uplink(kind);
        }
        let addresses = stack
            .dns_query(self.host, DnsQueryType::A)
            .await
            .map_err(ConnectError::Dns)?;
        let address = *addresses.first().ok_or(ConnectError::NoAddress)?;
        client
            .connect(SocketAddr::new(address.into(), self.port))
            .await
            .map_err(ConnectError::Tcp)
    }
}

/// Prints the agent's events (they never carry the token: see `agent::log`).
#[derive(Clone, Copy, Debug, Default)]
pub struct PrintLog;

impl Log for PrintLog {
    fn log(&self, event: &LogEvent<'_>) {
        println!(
            "[{:>8} ms] agent: {}",
            embassy_time::Instant::now().as_millis(),
            EventText(event)
        );
    }
}
