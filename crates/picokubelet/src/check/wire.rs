//! One session to the API server for `check` and `run`'s identity question: TCP, then TLS
//! through the core's own verifier (what the board runs), then the core's [`ApiClient`]. The
//! failure of each step is kept with its facts, so `check` can say what to do.

use std::time::Duration;

use picokubelet_core::client::{ClientMetrics, Endpoint, HttpBuffers, SessionBuffers};
use picokubelet_core::runtime::Connector;
use picokubelet_core::time::UnixMicros;
use picokubelet_core::tls::{
    open_as, Aes128GcmSha256, ClientIdentity, ServerIdentity, ServerTrust, TlsConnection,
    TlsOpenError, TlsVerification,
};

use crate::kubeconfig::ServerUrl;
use crate::runtime::{TcpConnector, TcpSocket, TokioClock};

/// How long one step (connect, handshake, one exchange) may take.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// The TLS session `check` talks over.
pub type Session<'a> = TlsConnection<'a, TcpSocket, Aes128GcmSha256>;

/// The buffers and counters one session borrows (the agent's sizes).
pub struct Wire {
    pub tls: Box<SessionBuffers>,
    pub http: Box<HttpBuffers>,
    pub metrics: ClientMetrics,
    pub clock: TokioClock,
}

impl Default for Wire {
    /// Must be called inside a tokio runtime (the clock starts now).
    fn default() -> Self {
        Wire {
            tls: Box::new(SessionBuffers::new()),
            http: Box::new(HttpBuffers::new()),
            metrics: ClientMetrics::new(),
            clock: TokioClock::start(),
        }
    }
}

/// Why no session came up.
#[derive(Debug)]
pub enum WireError {
    /// TCP connect failed.
    Connect(std::io::Error),
    /// TCP connect or the handshake took longer than [`STEP_TIMEOUT`].
    Timeout(&'static str),
    /// The TLS handshake failed or the verifier refused the server (with its facts; boxed:
    /// they are ~600 bytes).
    Tls(Box<TlsOpenError>),
}

/// Connects to `server` over TCP.
pub async fn connect(server: &ServerUrl) -> Result<TcpSocket, WireError> {
    let mut connector = TcpConnector::new(server.clone());
    match tokio::time::timeout(STEP_TIMEOUT, connector.connect()).await {
        Ok(Ok(socket)) => Ok(socket),
        Ok(Err(e)) => Err(WireError::Connect(e)),
        Err(_) => Err(WireError::Timeout("TCP connect")),
    }
}

/// The TLS handshake with the board's verifier: `trust`, the name `server_name`, and the
/// validity window against `wall_now` (this machine's clock).
pub async fn handshake<'a>(
    socket: TcpSocket,
    tls: &'a mut SessionBuffers,
    trust: ServerTrust<'_>,
    client: Option<ClientIdentity<'_>>,
    server_name: &str,
    wall_now: UnixMicros,
) -> Result<Session<'a>, WireError> {
    let identity = ServerIdentity::parse(server_name);
    let verification = match trust {
        ServerTrust::Ca(ca_der) => TlsVerification::Verify {
            ca_der,
            identity,
            now: Some(wall_now),
        },
        ServerTrust::InsecureSkipVerify => TlsVerification::InsecureSkipVerify { identity },
    };
    let opened = open_as(
        socket,
        &mut tls.rx,
        &mut tls.tx,
        verification,
        client,
        rand_core::OsRng,
    );
    match tokio::time::timeout(STEP_TIMEOUT, opened).await {
        Ok(Ok(session)) => Ok(session),
        Ok(Err(e)) => Err(WireError::Tls(Box::new(e))),
        Err(_) => Err(WireError::Timeout("TLS handshake")),
    }
}

/// Where requests go and as whom, for `ApiClient::new`.
pub fn endpoint<'a>(config: &'a picokubelet_core::agent::AgentConfig<'a>) -> Endpoint<'a> {
    Endpoint {
        host: config.host,
        token: config.token,
        token_source: config.token_source,
    }
}

/// This machine's wall clock, for the verifier's validity check.
pub fn now_micros() -> picokubelet_core::time::UnixMicros {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    picokubelet_core::time::UnixMicros(u64::try_from(since.as_micros()).unwrap_or(u64::MAX))
}
