//! [`TestApiServer`]: state, credentials, TLS, listener, faults, logs and restarts; kubelet TLS
//! bootstrap and discovery in `bootstrap_api`.

mod bootstrap_api;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::ServerConfig;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::api;
use crate::auth::{Binding, Rbac, Tokens, User};
use crate::bootstrap::BootstrapTokens;
use crate::clock::{lock, Clock, Sleep, SystemClock};
use crate::controller::{Controller, LifecycleOptions};
use crate::csr::Csrs;
use crate::discovery::ClusterInfo;
use crate::faults::{ConnectionRecord, Fault, FaultRule, Handshake, RequestRecord};
use crate::http::{self, Abortive, ConnCtx, Dispatch, Orderly, Outcome, Stop};
use crate::message::{Handled, Request, Response};
use crate::overload::{Admission, Overload, SeatQueue};
use crate::signer::Signer;
use crate::state::{Rng, ServerHealth, State};
use crate::store::{key, render, Coll, Kind, Store};
use crate::tls::{self, ClientCert, IssueError, IssuedCert, Pki, TlsOptions};

/// How to build a server.
#[derive(Clone)]
pub struct ServerOptions {
    /// Time source (default: [`SystemClock`]).
    pub clock: Arc<dyn Clock>,
    /// Nodes that get a token at start (default: `esp-node-01`, as recorded).
    pub nodes: Vec<String>,
    /// Node lifecycle controller timings.
    pub lifecycle: LifecycleOptions,
    /// TLS settings.
    pub tls: TlsOptions,
    /// resourceVersion of the first write (default 600; the recordings are in the 600s).
    pub first_resource_version: u64,
    /// Seed for uids, audit ids and tokens (default: from the system clock).
    pub seed: Option<u64>,
    /// Port on 127.0.0.1 for [`TestApiServer::start`] (0: any free port).
    pub port: u16,
    /// kube-apiserver's `IdleTimeout`: a kept-alive connection without a request for this long
    /// (clock time) is closed (default 90 s).
    pub idle_timeout: Option<Duration>,
    /// kube-apiserver's `ReadHeaderTimeout`: a request head (also the first one on a new
    /// connection) must arrive within this much clock time (default 32 s).
    pub header_timeout: Option<Duration>,
    /// Clock time from a start (also a restart or [`TestApiServer::resume_listening`]) until the
    /// port accepts connections: before, connects are refused (the port is bound, not
    /// listening). Recorded G1b: ~1.2 s from process start; G1/G1c: refused, then normal
    /// answers, no 429/503 window. Default: none.
    pub startup_delay: Option<Duration>,
    /// Most request and connection records kept for [`TestApiServer::requests`] and
    /// [`TestApiServer::connections`] (the oldest half is dropped when full), so a server that
    /// runs for hours (`picokubelet demo`) keeps bounded memory. Default: all (tests read them).
    pub log_limit: Option<usize>,
    /// kube-controller-manager's CSR auto-approver runs (default, as on kubeadm and kind); off:
    /// every CSR waits for an approval (k3s-like; see [`TestApiServer::set_csr_auto_approval`]).
    pub csr_auto_approval: bool,
}

impl std::fmt::Debug for ServerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerOptions")
            .field("nodes", &self.nodes)
            .field("lifecycle", &self.lifecycle)
            .field("tls", &self.tls)
            .field("first_resource_version", &self.first_resource_version)
            .field("seed", &self.seed)
            .field("port", &self.port)
            .field("idle_timeout", &self.idle_timeout)
            .field("header_timeout", &self.header_timeout)
            .field("startup_delay", &self.startup_delay)
            .field("log_limit", &self.log_limit)
            .field("csr_auto_approval", &self.csr_auto_approval)
            .finish()
    }
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            clock: Arc::new(SystemClock),
            nodes: vec!["esp-node-01".to_string()],
            lifecycle: LifecycleOptions::default(),
            tls: TlsOptions::default(),
            first_resource_version: 600,
            seed: None,
            port: 0,
            idle_timeout: Some(Duration::from_secs(90)),
            header_timeout: Some(Duration::from_secs(32)),
            startup_delay: None,
            log_limit: None,
            csr_auto_approval: true,
        }
    }
}

impl ServerOptions {
    /// Uses `clock` (e.g. a [`crate::SimClock`]).
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Fixes the random seed (reproducible uids and tokens).
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Refuses connections for `delay` of clock time after every start.
    pub fn with_startup_delay(mut self, delay: Duration) -> Self {
        self.startup_delay = Some(delay);
        self
    }

    /// Turns the CSR auto-approver on (default) or off (k3s-like: CSRs wait for an approval).
    pub fn with_csr_auto_approval(mut self, on: bool) -> Self {
        self.csr_auto_approval = on;
        self
    }

    /// Sets the node lifecycle timings.
    pub fn with_lifecycle(mut self, lifecycle: LifecycleOptions) -> Self {
        self.lifecycle = lifecycle;
        self
    }

    /// Serves the certificate chain `chain` (generated at start; see [`crate::ServerChain`]).
    pub fn with_chain(mut self, chain: crate::ServerChain) -> Self {
        self.tls.chain = chain;
        self
    }
}

struct Listening {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

/// State shared by the handle and every connection task.
struct Shared {
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
    faults: Mutex<Vec<FaultRule>>,
    requests: Mutex<Vec<RequestRecord>>,
    connections: Mutex<Vec<ConnectionRecord>>,
    log_limit: Option<usize>,
    next_conn: AtomicU64,
    pki: Arc<Pki>,
    tls_opts: TlsOptions,
    tls: Mutex<Arc<ServerConfig>>,
    generation: watch::Sender<Stop>,
    /// True while etcd is stalled; held requests wait for it to turn false.
    storage_stalled: watch::Sender<bool>,
    /// True once the listener accepts connections.
    accepting: watch::Sender<bool>,
    /// Bumped after every request and every change a test makes: wakes watches.
    changes: watch::Sender<u64>,
    /// How many requests have been held for stalled storage so far.
    held: watch::Sender<usize>,
    startup_delay: Option<Duration>,
    listener: Mutex<Option<Listening>>,
    last_port: Mutex<Option<u16>>,
    admin_token: String,
    idle_timeout: Option<Duration>,
    header_timeout: Option<Duration>,
    /// Overload mode's seats, when on.
    overload: Mutex<Option<SeatQueue>>,
}

impl Shared {
    fn take_fault(&self, req: &Request) -> Option<Fault> {
        let mut rules = lock(&self.faults);
        let rule = rules
            .iter_mut()
            .find(|r| r.matches(&req.method, &req.path))?;
        rule.times -= 1;
        let fault = rule.fault.clone();
        rules.retain(|r| r.times > 0);
        Some(fault)
    }

    fn log_connection(&self, handshake: Handshake, client_cert_user: Option<String>) -> u64 {
        let id = self.next_conn.fetch_add(1, Ordering::SeqCst) + 1;
        keep(
            &mut lock(&self.connections),
            ConnectionRecord {
                id,
                opened: self.clock.now(),
                handshake,
                client_cert_user,
            },
            self.log_limit,
        );
        id
    }

    async fn serve_tls<IO>(self: Arc<Self>, io: IO) -> io::Result<()>
    where
        IO: AsyncRead + AsyncWrite + Abortive + Unpin + Send,
    {
        let mut shutdown = self.generation.subscribe();
        let opened = self.clock.now();
        // Overloaded: the handshake waits for a seat (the server's CPU) before it is answered.
        let slow = lock(&self.overload)
            .as_mut()
            .map(|q| q.admit_handshake(opened));
        if let Some(wait) = slow {
            tokio::select! {
                _ = self.clock.sleep_until(opened + wait) => {}
                _ = shutdown.changed() => return Ok(()),
            }
        }
        let acceptor = TlsAcceptor::from(lock(&self.tls).clone());
        let accepted = tokio::select! {
            r = acceptor.accept(io) => r,
            _ = shutdown.changed() => return Ok(()),
        };
        let stream = match accepted {
            Ok(s) => s,
            Err(e) => {
                self.log_connection(Handshake::Failed(e.to_string()), None);
                return Err(e);
            }
        };
        let (_, conn) = stream.get_ref();
        let version = conn
            .protocol_version()
            .map(|v| format!("{v:?}"))
            .unwrap_or_default();
        let suite = conn
            .negotiated_cipher_suite()
            .map(|s| format!("{:?}", s.suite()))
            .unwrap_or_default();
        let handshake = match conn.handshake_kind() {
            Some(rustls::HandshakeKind::Resumed) => Handshake::Resumed { version, suite },
            _ => Handshake::Full { version, suite },
        };
        let peer_cert = conn.peer_certificates().and_then(|certs| certs.first());
        // rustls verified the chain against the client CA; the subject names the user.
        let client_user = peer_cert
            .and_then(|c| tls::client_identity(c.as_ref()))
            .map(|(name, mut groups)| {
                groups.push("system:authenticated".into());
                User { name, groups }
            });
        let client_credential = client_user
            .as_ref()
            .and(peer_cert)
            .map(|c| format!("X509SHA256={}", hex(&Sha256::digest(c.as_ref()))));
        let id = self.log_connection(handshake, client_user.as_ref().map(|u| u.name.clone()));
        let ctx = ConnCtx {
            id,
            client_user,
            client_credential,
            shutdown,
            idle_timeout: self.idle_timeout,
            header_timeout: self.header_timeout,
            opened,
        };
        http::serve(&*self, stream, ctx).await
    }

    async fn serve_tcp(self: Arc<Self>, tcp: TcpStream) -> io::Result<()> {
        let _ = tcp.set_nodelay(true);
        self.serve_tls(tcp).await
    }

    fn stop_connections(&self, graceful: bool) {
        self.generation.send_modify(|s| {
            s.generation += 1;
            s.graceful = graceful;
        });
    }

    async fn accept_loop(self: Arc<Self>, listener: TcpListener) {
        self.accepting.send_replace(true);
        let mut refused = 0u64;
        loop {
            let tcp = match listener.accept().await {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    // Out of descriptors (EMFILE/ENFILE) the error repeats at once for as long
                    // as the connection waits in the backlog: say it once, and wait a little
                    // instead of spinning a core.
                    refused += 1;
                    if refused == 1 {
                        eprintln!(
                            "test API server: cannot accept a connection ({e}); it stays in the \
                             backlog and is retried every 100 ms (the open-files limit? each \
                             connection holds one descriptor)"
                        );
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let conn = self.clone();
            tokio::spawn(async move {
                let _ = conn.serve_tcp(tcp).await;
            });
        }
    }

    /// Binds `127.0.0.1:port`; listens at once, or after the start-up delay of clock time
    /// (bound but not listening meanwhile, so connects are refused).
    async fn bind(self: &Arc<Self>, port: u16) -> io::Result<SocketAddr> {
        self.accepting.send_replace(false);
        lock(&self.state).health.shutting_down = false;
        let mut last_err = None;
        for _ in 0..50 {
            let socket = TcpSocket::new_v4()?;
            socket.set_reuseaddr(true)?;
            match socket.bind(SocketAddr::from(([127, 0, 0, 1], port))) {
                Ok(()) => {
                    let addr = socket.local_addr()?;
                    let task = match self.startup_delay {
                        None => tokio::spawn(self.clone().accept_loop(socket.listen(1024)?)),
                        Some(delay) => {
                            let ready = self.clock.sleep_until(self.clock.now() + delay);
                            let shared = self.clone();
                            tokio::spawn(async move {
                                ready.await;
                                if let Ok(listener) = socket.listen(1024) {
                                    shared.accept_loop(listener).await;
                                }
                            })
                        }
                    };
                    *lock(&self.listener) = Some(Listening { addr, task });
                    *lock(&self.last_port) = Some(addr.port());
                    lock(&self.state)
                        .cluster_info
                        .set_server(&format!("https://127.0.0.1:{}", addr.port()));
                    return Ok(addr);
                }
                Err(e) if port != 0 => {
                    last_err = Some(e);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => return Err(e),
            }
        }
        Err(last_err.unwrap_or_else(|| io::Error::other("bind failed")))
    }

    async fn unbind(&self) {
        let old = lock(&self.listener).take();
        if let Some(l) = old {
            l.task.abort();
            let _ = l.task.await;
        }
        self.accepting.send_replace(false);
    }
}

impl Dispatch for Shared {
    fn now(&self) -> SystemTime {
        self.clock.now()
    }

    fn sleep_until(&self, at: SystemTime) -> Sleep {
        self.clock.sleep_until(at)
    }

    fn dispatch(&self, req: &Request) -> (Outcome, SystemTime) {
        let now = self.clock.now();
        let fault = self.take_fault(req);
        let mut st = lock(&self.state);
        if fault.is_none() && st.health.storage_stalled {
            if let Some(wait) = api::storage_wait(&st, req) {
                let timeout = api::storage_timeout(&mut st, req, wait);
                self.held.send_modify(|n| *n += 1);
                return (Outcome::Held(now + wait.timeout(), timeout), now);
            }
        }
        let admission = match (&fault, lock(&self.overload).as_mut()) {
            (None, Some(q)) => Some(q.admit_request(now)),
            _ => None,
        };
        let outcome = match fault {
            None => match admission {
                None => Outcome::Respond(api::handle(&mut st, req, now), None),
                Some(Admission::Rejected) => Outcome::Respond(
                    api::apf_rejection(&mut st, req),
                    Some(Fault::TooManyRequests),
                ),
                Some(Admission::After(d)) => {
                    Outcome::Delay(d, api::handle(&mut st, req, now), Fault::Delay(d))
                }
            },
            Some(f @ Fault::Status { code, retry_after }) => Outcome::Respond(
                api::injected_error(&mut st, req, code, retry_after),
                Some(f),
            ),
            Some(f @ Fault::TooManyRequests) => {
                Outcome::Respond(api::apf_rejection(&mut st, req), Some(f))
            }
            Some(f @ Fault::Delay(d)) => Outcome::Delay(d, api::handle(&mut st, req, now), f),
            Some(f @ Fault::Truncate(n)) => Outcome::Truncate(n, api::handle(&mut st, req, now), f),
            Some(f @ Fault::CloseMidAnswer(n)) => {
                Outcome::CloseMidAnswer(n, api::handle(&mut st, req, now), f)
            }
            Some(f @ Fault::SkewDate(secs)) => {
                let shift = Duration::from_secs(secs.unsigned_abs());
                let dated = if secs < 0 { now - shift } else { now + shift };
                Outcome::Dated(api::handle(&mut st, req, now), dated, f)
            }
            Some(
                f @ Fault::Oversized {
                    header_bytes,
                    body_bytes,
                },
            ) => {
                let mut handled = api::handle(&mut st, req, now);
                pad(&mut handled.response, header_bytes, body_bytes);
                Outcome::Respond(handled, Some(f))
            }
            Some(f @ Fault::Reset) => Outcome::Reset(f),
            Some(f @ Fault::Close) => Outcome::Close(f),
            Some(f @ Fault::Stall) => Outcome::Stall(f),
        };
        drop(st);
        self.changes.send_modify(|n| *n += 1);
        (outcome, now)
    }

    fn record(&self, r: RequestRecord) {
        keep(&mut lock(&self.requests), r, self.log_limit);
    }

    fn storage_thawed(&self) -> Sleep {
        let mut stalled = self.storage_stalled.subscribe();
        Box::pin(async move {
            let _ = stalled.wait_for(|s| !*s).await;
        })
    }

    fn watch_events(&self, req: &Request, after: Option<u64>) -> (Vec<Vec<u8>>, u64) {
        let now = self.clock.now();
        let mut st = lock(&self.state);
        st.settle(now);
        api::watch_events(&st, req, after)
    }

    fn changed(&self) -> Sleep {
        let mut changes = self.changes.subscribe();
        Box::pin(async move {
            let _ = changes.changed().await;
        })
    }

    fn resume(&self, req: &Request, arrived: SystemTime) -> (Handled, SystemTime) {
        // The apiserver computed the object when the request arrived (G3a: managedFields time
        // before the thaw); the answer is dated when etcd committed it.
        let handled = api::handle(&mut lock(&self.state), req, arrived);
        (handled, self.clock.now())
    }
}

/// Makes an answer oversized: an `X-Padding` header (sorted in with the handler's headers) and
/// whitespace after the body, which keeps JSON valid.
fn pad(response: &mut Response, header_bytes: usize, body_bytes: usize) {
    if header_bytes > 0 {
        response
            .headers
            .push(("X-Padding".to_string(), "p".repeat(header_bytes)));
    }
    response.body.extend(std::iter::repeat_n(b' ', body_bytes));
}

/// Appends `record`; at `limit` records the oldest half goes first (amortised: one move per
/// record).
fn keep<T>(log: &mut Vec<T>, record: T, limit: Option<usize>) {
    if let Some(limit) = limit {
        if log.len() >= limit.max(1) {
            let drop = log.len() / 2 + 1;
            log.drain(..drop.min(log.len()));
        }
    }
    log.push(record);
}

/// A Kubernetes API test server. Dropping it stops the listener and closes every connection.
pub struct TestApiServer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for TestApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestApiServer")
            .field("addr", &self.addr())
            .finish()
    }
}

impl Drop for TestApiServer {
    fn drop(&mut self) {
        if let Some(l) = lock(&self.shared.listener).take() {
            l.task.abort();
        }
        self.shared.stop_connections(false);
    }
}

fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

impl TestApiServer {
    /// A server without a listener: feed it connections with [`TestApiServer::serve_connection`].
    pub fn new(opts: ServerOptions) -> Self {
        let now = opts.clock.now();
        let seed = opts.seed.unwrap_or_else(|| {
            let t = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            t ^ (std::process::id() as u64) << 32
        });
        let mut rng = Rng::new(seed);
        let mut tokens = Tokens::default();
        for node in &opts.nodes {
            tokens.add(&rng.hex(32), User::node(node));
        }
        let admin_token = rng.hex(32);
        tokens.add(&admin_token, User::admin());
        // Certificate generation only fails on an rcgen bug; a test server may panic then.
        #[allow(clippy::expect_used)]
        let pki = Pki::generate(&opts.tls).expect("generate test certificates");
        let pki = Arc::new(pki);
        #[allow(clippy::expect_used)]
        let signer = Signer::new(pki.clone()).expect("CSR signer from the client CA");
        let cluster_info = ClusterInfo::new(
            rng.uuid(),
            opts.first_resource_version.saturating_sub(1),
            now,
            "https://127.0.0.1:443",
            &pki.ca_pem,
        );
        let state = State {
            store: Store::new(opts.first_resource_version),
            controller: Controller::new(opts.lifecycle.clone(), now),
            tokens,
            bootstrap: BootstrapTokens::default(),
            csrs: Csrs::with_signer(Arc::new(signer), opts.csr_auto_approval),
            cluster_info,
            rbac: Rbac::default(),
            rng,
            first_rv: opts.first_resource_version,
            lifecycle: opts.lifecycle.clone(),
            health: ServerHealth::default(),
        };
        #[allow(clippy::expect_used)]
        let config = tls::server_config(&pki, &opts.tls).expect("build TLS server config");
        let (generation, _) = watch::channel(Stop::default());
        let (storage_stalled, _) = watch::channel(false);
        let (accepting, _) = watch::channel(false);
        let (changes, _) = watch::channel(0);
        let (held, _) = watch::channel(0);
        TestApiServer {
            shared: Arc::new(Shared {
                clock: opts.clock.clone(),
                state: Mutex::new(state),
                faults: Mutex::new(Vec::new()),
                requests: Mutex::new(Vec::new()),
                connections: Mutex::new(Vec::new()),
                log_limit: opts.log_limit,
                next_conn: AtomicU64::new(0),
                pki,
                tls_opts: opts.tls.clone(),
                tls: Mutex::new(config),
                generation,
                storage_stalled,
                accepting,
                changes,
                held,
                startup_delay: opts.startup_delay,
                listener: Mutex::new(None),
                last_port: Mutex::new(None),
                admin_token,
                idle_timeout: opts.idle_timeout,
                header_timeout: opts.header_timeout,
                overload: Mutex::new(None),
            }),
        }
    }

    /// A server listening with TLS on `127.0.0.1:<opts.port>` (0: a free port).
    pub async fn start(opts: ServerOptions) -> io::Result<Self> {
        let port = opts.port;
        let server = Self::new(opts);
        server.shared.bind(port).await?;
        Ok(server)
    }

    /// Serves one connection (TLS first, then HTTP/1.1) on any byte stream, e.g. one end of
    /// `tokio::io::duplex`. Returns when the connection ends.
    pub async fn serve_connection<IO>(&self, io: IO) -> io::Result<()>
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send,
    {
        self.shared.clone().serve_tls(Orderly(io)).await
    }

    /// Serves one connection as plain HTTP/1.1 (no TLS).
    pub async fn serve_plain_connection<IO>(&self, io: IO) -> io::Result<()>
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let id = self.shared.log_connection(Handshake::None, None);
        let ctx = ConnCtx {
            id,
            client_user: None,
            client_credential: None,
            shutdown: self.shared.generation.subscribe(),
            idle_timeout: self.shared.idle_timeout,
            header_timeout: self.shared.header_timeout,
            opened: self.shared.clock.now(),
        };
        http::serve(&*self.shared, Orderly(io), ctx).await
    }

    /// The listening address, if listening.
    pub fn addr(&self) -> Option<SocketAddr> {
        lock(&self.shared.listener).as_ref().map(|l| l.addr)
    }

    /// `https://127.0.0.1:<port>` of the listener (or of the last one).
    pub fn url(&self) -> String {
        let port = self
            .addr()
            .map(|a| a.port())
            .or(*lock(&self.shared.last_port))
            .unwrap_or(443);
        format!("https://127.0.0.1:{port}")
    }

    /// The clock the server reads.
    pub fn clock(&self) -> Arc<dyn Clock> {
        self.shared.clock.clone()
    }

    /// CA certificate, PEM.
    pub fn ca_pem(&self) -> String {
        self.shared.pki.ca_pem.clone()
    }

    /// CA certificate, DER.
    pub fn ca_der(&self) -> Vec<u8> {
        self.shared.pki.ca_der.clone()
    }

    /// A rustls client configuration trusting the CA (ALPN `http/1.1`), optionally with a
    /// client certificate.
    pub fn client_tls_config(&self, client: Option<&ClientCert>) -> Arc<rustls::ClientConfig> {
        #[allow(clippy::expect_used)]
        tls::client_config(&self.shared.pki, client).expect("client config from own CA")
    }

    /// The token of node `name` (`system:node:<name>`, group `system:nodes`), created on first
    /// use.
    pub fn node_token(&self, name: &str) -> String {
        let mut st = lock(&self.shared.state);
        let user = User::node(name);
        if let Some(t) = st.tokens.token_of(&user) {
            return t;
        }
        let token = st.rng.hex(32);
        st.tokens.add(&token, user);
        token
    }

    /// The cluster-admin token (`system:masters`).
    pub fn admin_token(&self) -> String {
        self.shared.admin_token.clone()
    }

    /// Registers a token for any user and groups (e.g. one without permissions).
    pub fn add_token(&self, token: &str, user: &str, groups: &[&str]) {
        let mut g: Vec<String> = groups.iter().map(|s| s.to_string()).collect();
        g.push("system:authenticated".into());
        lock(&self.shared.state).tokens.add(
            token,
            User {
                name: user.into(),
                groups: g,
            },
        );
    }

    /// Binds one of `deploy/rbac.yaml`'s roles to the User `user` (e.g. one added with
    /// [`TestApiServer::add_token`]); [`Binding::ALL`] is the full set.
    pub fn bind(&self, user: &str, binding: Binding) {
        lock(&self.shared.state).rbac.bind(user, binding);
    }

    /// Revokes a token: every later request with it gets 401.
    pub fn revoke_token(&self, token: &str) {
        lock(&self.shared.state).tokens.revoke(token);
    }

    /// Accepts a revoked token again (an operator undoing a revocation).
    pub fn restore_token(&self, token: &str) {
        let mut st = lock(&self.shared.state);
        if let Some(user) = st.tokens.user_of(token) {
            st.tokens.add(token, user);
        }
    }

    /// Issues a client certificate (CN = user, O = groups, a fresh ECDSA P-256 key) from the
    /// client CA; the server accepts it as that user.
    pub fn issue_client_cert(&self, user: &str, groups: &[&str]) -> ClientCert {
        #[allow(clippy::expect_used)]
        self.shared
            .pki
            .issue_client_cert(user, groups)
            .expect("issue client certificate")
    }

    /// [`TestApiServer::issue_client_cert`] for a key the caller made (an RSA key, as kind's).
    pub fn issue_client_cert_with_key(
        &self,
        user: &str,
        groups: &[&str],
        key: &rcgen::KeyPair,
    ) -> ClientCert {
        #[allow(clippy::expect_used)]
        self.shared
            .pki
            .issue_client_cert_with_key(user, groups, key)
            .expect("issue client certificate")
    }

    /// Signs a client certificate from the client CA for a public key the caller holds
    /// (SubjectPublicKeyInfo DER, e.g. a CSR's): CN = `cn`, O = `orgs`, valid
    /// `not_before..not_after`. Like every certificate of the client CA it authenticates as
    /// user `cn` in groups `orgs`. See [`Pki::issue_client_cert_for`].
    pub fn issue_client_cert_for(
        &self,
        spki_der: &[u8],
        cn: &str,
        orgs: &[&str],
        not_before: SystemTime,
        not_after: SystemTime,
    ) -> Result<IssuedCert, IssueError> {
        self.shared
            .pki
            .issue_client_cert_for(spki_der, cn, orgs, not_before, not_after)
    }

    /// The client CA (kube-apiserver's `--client-ca-file`), PEM.
    pub fn client_ca_pem(&self) -> String {
        self.shared.pki.client_ca_pem.clone()
    }

    /// The certificates the server sends: leaf first, then intermediates (DER).
    pub fn server_chain_der(&self) -> Vec<Vec<u8>> {
        self.shared
            .pki
            .server_chain()
            .into_iter()
            .map(|c| c.to_vec())
            .collect()
    }

    /// A kubeconfig for this server's URL and `token`.
    pub fn kubeconfig(&self, token: &str) -> String {
        self.kubeconfig_for(&self.url(), token, None)
    }

    /// A kubeconfig for any server URL (e.g. a chaos proxy in front of this server), optionally
    /// with `tls-server-name` (e.g. `kubernetes`, the first DNS SAN).
    pub fn kubeconfig_for(
        &self,
        server: &str,
        token: &str,
        tls_server_name: Option<&str>,
    ) -> String {
        let ca = base64(self.shared.pki.ca_pem.as_bytes());
        let sni = tls_server_name
            .map(|n| format!("    tls-server-name: {n}\n"))
            .unwrap_or_default();
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: {ca}\n    server: {server}\n{sni}  name: testkit\ncontexts:\n- context:\n    cluster: testkit\n    user: testkit\n  name: testkit\ncurrent-context: testkit\nusers:\n- name: testkit\n  user:\n    token: {token}\n"
        )
    }

    /// A kubeconfig for this server whose user is a client certificate (no token), as kubeadm
    /// and kind write them.
    pub fn client_cert_kubeconfig(&self, cert: &ClientCert) -> String {
        let ca = base64(self.shared.pki.ca_pem.as_bytes());
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: {ca}\n    server: {}\n  name: testkit\ncontexts:\n- context:\n    cluster: testkit\n    user: testkit\n  name: testkit\ncurrent-context: testkit\nusers:\n- name: testkit\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n",
            self.url(),
            base64(cert.cert_pem.as_bytes()),
            base64(cert.key_pem.as_bytes()),
        )
    }

    // ---- faults ----------------------------------------------------------------------------

    /// Adds a fault rule (rules are consulted in the order added).
    pub fn inject(&self, rule: FaultRule) {
        lock(&self.shared.faults).push(rule);
    }

    /// Turns overload mode on ([`Overload`]: latency growing past the seats, APF's 429 past the
    /// queue, slow handshakes) or off (`None`: the load has dropped).
    pub fn set_overload(&self, mode: Option<Overload>) {
        *lock(&self.shared.overload) = mode.map(SeatQueue::new);
    }

    /// Requests waiting for a seat now (0 when overload mode is off).
    pub fn overload_waiting(&self) -> u32 {
        let now = self.shared.clock.now();
        lock(&self.shared.overload)
            .as_ref()
            .map_or(0, |q| q.waiting(now))
    }

    /// The next `n` requests (any) get `fault`.
    pub fn fail_next(&self, n: usize, fault: Fault) {
        self.inject(FaultRule::new(fault).times(n));
    }

    /// Removes every pending fault rule.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// Deletes a Node behind the agent's back (as an admin; its Lease is garbage-collected).
    pub fn delete_node(&self, name: &str) -> bool {
        let now = self.shared.clock.now();
        lock(&self.shared.state).delete_node(name, now).is_some()
    }

    /// Deletes the Lease `kube-node-lease/<name>` behind the agent's back.
    pub fn delete_lease(&self, name: &str) -> bool {
        let now = self.shared.clock.now();
        let mut st = lock(&self.shared.state);
        st.settle(now);
        st.store
            .remove(Coll::Leases, &key("kube-node-lease", name))
            .is_some()
    }

    /// Closes every open connection (no close_notify), as a crashing server would.
    pub fn drop_connections(&self) {
        self.shared.stop_connections(false);
    }

    /// Stalls etcd (`true`) or lets it go (`false`), as `kill -STOP`/`-CONT` did in G3: requests
    /// that need storage hang without a byte; writes answer 504 after 34.5 s and are not
    /// stored, quorum reads 504 after 60.5 s, `/livez` 500 after 2.3 s; `resourceVersion=0`
    /// reads, `/version` and `/readyz` answer at once. On release every held request completes
    /// normally at once (its write computed as of its arrival).
    pub fn etcd_stall(&self, stalled: bool) {
        lock(&self.shared.state).health.storage_stalled = stalled;
        self.shared.storage_stalled.send_replace(stalled);
    }

    /// A SIGTERM as recorded in G2 (default flags): `/readyz` fails its `shutdown` check at
    /// once, everything else is answered as usual; 0.22 s of clock time later the listener
    /// closes (connects refused) and every HTTP/1.1 connection waiting for a request is closed
    /// (close_notify, FIN) without an answer ([`TestApiServer::closed`] waits for that). No
    /// HTTP/2 here, so no GOAWAY. Call it inside a tokio runtime.
    /// [`TestApiServer::resume_listening`] or [`TestApiServer::restart`] start it again.
    pub fn graceful_shutdown(&self) {
        const LISTENER_CLOSES_AFTER: Duration = Duration::from_millis(220);
        let began = self.shared.clock.now();
        lock(&self.shared.state).health.shutting_down = true;
        let closes = self.shared.clock.sleep_until(began + LISTENER_CLOSES_AFTER);
        let shared = self.shared.clone();
        tokio::spawn(async move {
            closes.await;
            shared.unbind().await;
            shared.stop_connections(true);
        });
    }

    /// Waits until the listener is closed (e.g. by [`TestApiServer::graceful_shutdown`]).
    pub async fn closed(&self) {
        let mut accepting = self.shared.accepting.subscribe();
        let _ = accepting.wait_for(|a| !*a).await;
    }

    /// Waits until `n` requests in all have been held for stalled storage
    /// ([`TestApiServer::etcd_stall`]), so a test can move the clock knowing they wait.
    pub async fn requests_held(&self, n: usize) {
        let mut held = self.shared.held.subscribe();
        let _ = held.wait_for(|h| *h >= n).await;
    }

    /// Waits until the listener accepts connections (after a start-up delay).
    pub async fn accepting(&self) {
        let mut accepting = self.shared.accepting.subscribe();
        let _ = accepting.wait_for(|a| *a).await;
    }

    /// Stops accepting connections and closes the open ones (connection refused until
    /// [`TestApiServer::resume_listening`]).
    pub async fn stop_listening(&self) {
        self.shared.unbind().await;
        self.drop_connections();
    }

    /// Listens again on the last port.
    pub async fn resume_listening(&self) -> io::Result<SocketAddr> {
        let port = (*lock(&self.shared.last_port)).unwrap_or(0);
        self.shared.bind(port).await
    }

    /// A restart: closes every connection, forgets TLS session tickets, optionally loses all
    /// objects (an etcd wipe; tokens survive), and listens again on the same port.
    pub async fn restart(&self, keep_state: bool) -> io::Result<()> {
        let was_listening = self.addr().is_some();
        // A new process: whatever shutdown the old one was in is over.
        lock(&self.shared.state).health.shutting_down = false;
        self.shared.unbind().await;
        self.drop_connections();
        if let Ok(config) = tls::server_config(&self.shared.pki, &self.shared.tls_opts) {
            *lock(&self.shared.tls) = config;
        }
        if !keep_state {
            let now = self.shared.clock.now();
            lock(&self.shared.state).wipe(now);
        }
        if was_listening {
            self.resume_listening().await?;
        }
        Ok(())
    }

    // ---- observation -------------------------------------------------------------------------

    /// Runs the emulated controllers up to the clock's current time.
    pub fn settle(&self) {
        let now = self.shared.clock.now();
        lock(&self.shared.state).settle(now);
    }

    fn object(&self, kind: Kind, k: &str) -> Option<Value> {
        let now = self.shared.clock.now();
        let mut st = lock(&self.shared.state);
        st.settle(now);
        st.store.get(kind.coll(), k).map(|s| render(s, kind, true))
    }

    /// The Node as a GET would return it.
    pub fn node(&self, name: &str) -> Option<Value> {
        self.object(Kind::Node, name)
    }

    /// The Lease `kube-node-lease/<name>` as a GET would return it.
    pub fn lease(&self, name: &str) -> Option<Value> {
        self.object(Kind::Lease, &key("kube-node-lease", name))
    }

    /// Every Event (core/v1 form, with `kind`/`apiVersion`), in name order per namespace.
    pub fn events(&self) -> Vec<Value> {
        let now = self.shared.clock.now();
        let mut st = lock(&self.shared.state);
        st.settle(now);
        st.store
            .all(Coll::Events)
            .map(|(_, s)| render(s, Kind::Event, true))
            .collect()
    }

    /// How many Nodes the lifecycle controller's last monitor tick looked at (those whose Node or
    /// Lease changed, or whose grace ran out, since the tick before).
    pub fn controller_tick_visits(&self) -> usize {
        lock(&self.shared.state).controller.last_tick_visits()
    }

    /// The last resourceVersion handed out.
    pub fn resource_version(&self) -> u64 {
        lock(&self.shared.state).store.rv
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.shared.requests).clone()
    }

    /// Every request so far, emptying the log (for long benchmark runs).
    pub fn take_requests(&self) -> Vec<RequestRecord> {
        std::mem::take(&mut *lock(&self.shared.requests))
    }

    /// Every connection so far.
    pub fn connections(&self) -> Vec<ConnectionRecord> {
        lock(&self.shared.connections).clone()
    }

    /// Completed TLS handshakes (full and resumed).
    pub fn tls_handshakes(&self) -> usize {
        lock(&self.shared.connections)
            .iter()
            .filter(|c| {
                matches!(
                    c.handshake,
                    Handshake::Full { .. } | Handshake::Resumed { .. }
                )
            })
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::{base64, keep};

    #[test]
    fn a_limited_log_drops_its_oldest_half_and_keeps_the_newest() {
        let mut log = Vec::new();
        for i in 0..1_000 {
            keep(&mut log, i, Some(100));
            assert!(log.len() <= 100);
        }
        assert_eq!(log.last(), Some(&999));
        assert!(
            log.windows(2).all(|w| w[0] + 1 == w[1]),
            "contiguous, in order"
        );
        assert!(log.len() >= 50);
        let mut all = Vec::new();
        for i in 0..1_000 {
            keep(&mut all, i, None);
        }
        assert_eq!(all.len(), 1_000);
        let mut tiny = Vec::new();
        keep(&mut tiny, 1, Some(0));
        keep(&mut tiny, 2, Some(0));
        assert_eq!(tiny, [2]);
    }

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }
}
