//! The agent's seams on the board (picokubelet-core `runtime`): monotonic time from
//! embassy-time, TCP connections from embassy-net (with DNS), and the log printed by
//! esp-println. Board signals are in `crate::signals`, the RNG is esp-hal's `Trng`.

use core::{future::Future, net::SocketAddr};

use embassy_net::{
    dns::DnsQueryType,
    tcp::client::{TcpClient, TcpConnection},
    Stack,
};
use embedded_nal_async::TcpConnect;
use esp_println::println;
use picokubelet_core::{
    agent::{Log, LogEvent},
    runtime::{Clock, Connector, Instant},
};

/// TCP socket buffers of the one API connection.
pub const TCP_RX_BYTES: usize = 4096;
pub const TCP_TX_BYTES: usize = 4096;
/// One connection at a time: the agent keeps one session and drops it before reconnecting.
pub const TCP_CONNECTIONS: usize = 1;

/// The socket pool the connector draws from (its buffers return to the pool on drop).
pub type ApiTcpClient = TcpClient<'static, TCP_CONNECTIONS, TCP_TX_BYTES, TCP_RX_BYTES>;

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
#[derive(Debug)]
#[allow(
    dead_code,
    reason = "the payloads are read through Debug when the agent logs the failure"
)]
pub enum ConnectError {
    Dns(embassy_net::dns::Error),
    NoAddress,
    Tcp(embassy_net::tcp::Error),
}

/// TCP to the API server; resolves `host` on every connect (DHCP may have changed the DNS
/// server, the server may have moved). IPv4 literals pass through `dns_query` unchanged.
pub struct NetConnector {
    pub stack: Stack<'static>,
    pub client: &'static ApiTcpClient,
    pub host: &'static str,
    pub port: u16,
}

impl Connector for NetConnector {
    type Socket = TcpConnection<'static, TCP_CONNECTIONS, TCP_TX_BYTES, TCP_RX_BYTES>;
    type Error = ConnectError;

    async fn connect(&mut self) -> Result<Self::Socket, Self::Error> {
        let addresses = self
            .stack
            .dns_query(self.host, DnsQueryType::A)
            .await
            .map_err(ConnectError::Dns)?;
        let address = *addresses.first().ok_or(ConnectError::NoAddress)?;
        let client: &'static ApiTcpClient = self.client;
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
            "[{:>8} ms] agent: {:?}",
            embassy_time::Instant::now().as_millis(),
            event
        );
    }
}
