//! [`ChaosProxy`]: a TCP proxy on `127.0.0.1` that breaks the byte stream between a client and
//! a server on command (resets, refused connections, stalls, TLS garbage, cuts mid-stream).
//!
//! The proxy sees only bytes: TLS hides the HTTP inside. HTTP-level faults (5xx and 429 bursts,
//! `Retry-After`, truncated answers, a Node or Lease deleted, a token revoked, a restart) are the
//! server's job: use [`TestApiServer::fail_next`], [`TestApiServer::inject`] (or [`burst`],
//! which is the same call), [`TestApiServer::delete_node`], [`TestApiServer::revoke_token`],
//! [`TestApiServer::restart`]. The two compose: a test points the agent at the proxy
//! ([`ChaosProxy::kubeconfig`]) and drives both.
//!
//! Every control is a plain method on a shared handle, callable from any thread or task while
//! the proxy runs; the effects happen on the proxy's tasks, so tests observe them through
//! [`ChaosProxy::stats`] or through the client, never by sleeping.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::clock::lock;
use crate::faults::{Fault, FaultRule};
use crate::server::TestApiServer;

/// Largest chunk read from one side before it is forwarded (one TLS record plus header fits).
const CHUNK: usize = 16 * 1024 + 5;

/// Seed of [`ChaosProxy::start`]: garbage bytes are the same in every run.
pub const DEFAULT_CHAOS_SEED: u64 = 0x0C4A_05C4_A05C_4A05;

/// A burst of HTTP-level faults: the next `n` requests the server sees get `fault` (500s,
/// [`Fault::TooManyRequests`], …). The same as [`TestApiServer::fail_next`]; it lives here so a
/// chaos scenario reads as one list, and to say where such faults belong: in the server, which
/// sees the requests, not in the proxy, which sees only encrypted bytes.
pub fn burst(server: &TestApiServer, fault: Fault, n: usize) {
    server.inject(FaultRule::new(fault).times(n));
}

/// Counters of a [`ChaosProxy`], a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChaosStats {
    /// Connections accepted (those reset on accept included).
    pub accepted: u64,
    /// Connections open now (accepted and not yet ended).
    pub open: u64,
    /// Bytes written to the server (client → server).
    pub bytes_to_server: u64,
    /// Bytes written to the client (server → client), injected garbage included.
    pub bytes_to_client: u64,
    /// Bytes read from the client and not yet written to the server (held by a stall).
    pub held_to_server: u64,
    /// Bytes read from the server (or injected) and not yet written to the client.
    pub held_to_client: u64,
    /// Connections the proxy reset (RST) on command: `reset_all`, `reset_next_connections`,
    /// `cut_after_bytes`.
    pub resets: u64,
    /// Connections reset because the other side reset (or failed): the RST is passed on.
    pub peer_resets: u64,
    /// Garbage blocks written into connections.
    pub garbage_injections: u64,
    /// Connections cut by `cut_after_bytes` (also counted in `resets`).
    pub cuts: u64,
    /// Connections reset because the upstream refused or failed to connect.
    pub upstream_failures: u64,
}

#[derive(Default)]
struct Counters {
    accepted: AtomicU64,
    open: AtomicU64,
    bytes_to_server: AtomicU64,
    bytes_to_client: AtomicU64,
    held_to_server: AtomicU64,
    held_to_client: AtomicU64,
    resets: AtomicU64,
    peer_resets: AtomicU64,
    garbage_injections: AtomicU64,
    cuts: AtomicU64,
    upstream_failures: AtomicU64,
}

fn add(c: &AtomicU64, n: usize) {
    c.fetch_add(n as u64, Ordering::SeqCst);
}

fn sub(c: &AtomicU64, n: usize) {
    c.fetch_sub(n as u64, Ordering::SeqCst);
}

/// SplitMix64: small, seeded, good enough for garbage.
struct SplitMix(u64);

impl SplitMix {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// `n` random bytes whose first byte is no TLS content type (20–24), so a TLS peer reading
    /// them as a record header fails at once instead of waiting for a body.
    fn garbage(&mut self, n: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(n + 8);
        while out.len() < n {
            out.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        out.truncate(n);
        if let Some(first) = out.first_mut() {
            if (20..=24).contains(first) {
                *first |= 0x80;
            }
        }
        out
    }
}

/// What a connection task is told to do.
enum Command {
    Reset,
    Garbage(Vec<u8>),
    /// Cut after this many more server → client bytes (None: never).
    CutAfter(Option<u64>),
}

struct Shared {
    upstream: SocketAddr,
    counters: Counters,
    conns: Mutex<BTreeMap<u64, mpsc::UnboundedSender<Command>>>,
    next_id: AtomicU64,
    reset_next: Mutex<usize>,
    cut_after: Mutex<Option<u64>>,
    rng: Mutex<SplitMix>,
    stall: watch::Sender<bool>,
    shutdown: watch::Sender<bool>,
}

impl Shared {
    fn new(upstream: SocketAddr, seed: u64) -> Arc<Self> {
        Arc::new(Shared {
            upstream,
            counters: Counters::default(),
            conns: Mutex::new(BTreeMap::new()),
            next_id: AtomicU64::new(0),
            reset_next: Mutex::new(0),
            cut_after: Mutex::new(None),
            rng: Mutex::new(SplitMix(seed)),
            stall: watch::channel(false).0,
            shutdown: watch::channel(false).0,
        })
    }
}

/// A programmable TCP proxy on `127.0.0.1:<port>` in front of `upstream` (see the module docs).
///
/// Dropping it stops accepting and closes every connection.
pub struct ChaosProxy {
    shared: Arc<Shared>,
    addr: SocketAddr,
    accept: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for ChaosProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChaosProxy")
            .field("addr", &self.addr)
            .field("upstream", &self.shared.upstream)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Drop for ChaosProxy {
    fn drop(&mut self) {
        if let Some(task) = lock(&self.accept).take() {
            task.abort();
        }
        self.shared.shutdown.send_replace(true);
    }
}

fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    // The same port again after `refuse(false)`, even with connections in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// Writes what the socket takes now. The counters move before the bytes become visible to the
/// peer (then the unwritten rest is given back), so a test that has read N bytes finds the
/// counters already at N or more.
fn counted_write(
    stream: &TcpStream,
    data: &[u8],
    held: &AtomicU64,
    written: &AtomicU64,
) -> io::Result<usize> {
    sub(held, data.len());
    add(written, data.len());
    let result = stream.try_write(data);
    let done = *result.as_ref().unwrap_or(&0);
    add(held, data.len() - done);
    sub(written, data.len() - done);
    result
}

/// Abortive close: SO_LINGER 0, then close, so the peer gets RST (no FIN first).
fn rst(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}

impl ChaosProxy {
    /// A proxy on a free port of `127.0.0.1` forwarding to `upstream`, with [`DEFAULT_CHAOS_SEED`].
    /// Must be called inside a tokio runtime (its tasks run there).
    pub async fn start(upstream: SocketAddr) -> io::Result<Self> {
        Self::start_seeded(upstream, DEFAULT_CHAOS_SEED).await
    }

    /// A proxy whose garbage comes from `seed`.
    pub async fn start_seeded(upstream: SocketAddr, seed: u64) -> io::Result<Self> {
        let listener = listen(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let addr = listener.local_addr()?;
        let shared = Shared::new(upstream, seed);
        let task = tokio::spawn(accept_loop(shared.clone(), listener));
        Ok(ChaosProxy {
            shared,
            addr,
            accept: Mutex::new(Some(task)),
        })
    }

    /// A proxy in front of a listening [`TestApiServer`]. The server keeps its port across
    /// [`TestApiServer::restart`], so the proxy stays valid.
    pub async fn in_front_of(server: &TestApiServer) -> io::Result<Self> {
        let upstream = server.addr().ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotConnected, "the server is not listening")
        })?;
        Self::start(upstream).await
    }

    /// The proxy's listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where the proxy forwards to.
    pub fn upstream(&self) -> SocketAddr {
        self.shared.upstream
    }

    /// `https://127.0.0.1:<proxy port>`.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.addr.port())
    }

    /// `server`'s kubeconfig with the proxy as the server URL. The server certificate carries
    /// the IP SAN `127.0.0.1`, so it verifies through the proxy without `tls-server-name`.
    pub fn kubeconfig(&self, server: &TestApiServer, token: &str) -> String {
        server.kubeconfig_for(&self.url(), token, None)
    }

    /// The counters now.
    pub fn stats(&self) -> ChaosStats {
        let c = &self.shared.counters;
        let get = |a: &AtomicU64| a.load(Ordering::SeqCst);
        ChaosStats {
            accepted: get(&c.accepted),
            open: get(&c.open),
            bytes_to_server: get(&c.bytes_to_server),
            bytes_to_client: get(&c.bytes_to_client),
            held_to_server: get(&c.held_to_server),
            held_to_client: get(&c.held_to_client),
            resets: get(&c.resets),
            peer_resets: get(&c.peer_resets),
            garbage_injections: get(&c.garbage_injections),
            cuts: get(&c.cuts),
            upstream_failures: get(&c.upstream_failures),
        }
    }

    fn broadcast(&self, mut command: impl FnMut() -> Command) -> usize {
        lock(&self.shared.conns)
            .values()
            .filter(|tx| tx.send(command()).is_ok())
            .count()
    }

    /// Resets (RST, both sides) every open connection. Returns how many were told; each is
    /// counted in [`ChaosStats::resets`] once its task has done it.
    pub fn reset_all(&self) -> usize {
        self.broadcast(|| Command::Reset)
    }

    /// The next `n` connections are accepted and reset at once (no upstream connection).
    pub fn reset_next_connections(&self, n: usize) {
        *lock(&self.shared.reset_next) = n;
    }

    /// Stops (`true`) or resumes (`false`) forwarding in both directions on every connection,
    /// new ones included. Sockets stay open; up to one chunk per direction is read and held by
    /// the proxy (see [`ChaosStats::held_to_server`]), the rest waits in the kernel. Resuming
    /// forwards everything held, in order.
    pub fn stall(&self, on: bool) {
        self.shared.stall.send_replace(on);
    }

    /// Whether forwarding is stalled.
    pub fn is_stalled(&self) -> bool {
        *self.shared.stall.borrow()
    }

    /// Refuses connections (`true`: the listener is closed, connects get ECONNREFUSED; open
    /// connections are left alone) or accepts them again on the same port (`false`).
    pub async fn refuse(&self, on: bool) -> io::Result<()> {
        let old = lock(&self.accept).take();
        if let Some(task) = old {
            task.abort();
            let _ = task.await;
        }
        if on {
            return Ok(());
        }
        // The port may be briefly busy right after the close; a few tries.
        let mut last = None;
        for _ in 0..50 {
            match listen(self.addr) {
                Ok(listener) => {
                    let task = tokio::spawn(accept_loop(self.shared.clone(), listener));
                    *lock(&self.accept) = Some(task);
                    return Ok(());
                }
                Err(e) => {
                    last = Some(e);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("rebind failed")))
    }

    /// Writes `n_bytes` random non-TLS bytes into the server → client direction of every open
    /// connection, at the next TLS record boundary of the server's stream (at once when the
    /// connection is idle), then keeps forwarding. A TLS client reading them fails (its record
    /// layer sees no valid content type). Returns how many connections were told.
    pub fn inject_garbage(&self, n_bytes: usize) -> usize {
        let mut rng = lock(&self.shared.rng);
        self.broadcast(|| Command::Garbage(rng.garbage(n_bytes)))
    }

    /// Every connection (open now or accepted later) is reset (RST, both sides) once `n` more
    /// bytes have gone server → client on it (counted from this call for open connections,
    /// from the accept for new ones). Stays armed until [`ChaosProxy::clear_cut`].
    pub fn cut_after_bytes(&self, n: u64) {
        *lock(&self.shared.cut_after) = Some(n);
        self.broadcast(|| Command::CutAfter(Some(n)));
    }

    /// Disarms [`ChaosProxy::cut_after_bytes`].
    pub fn clear_cut(&self) {
        *lock(&self.shared.cut_after) = None;
        self.broadcast(|| Command::CutAfter(None));
    }
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    loop {
        let tcp = match listener.accept().await {
            Ok((tcp, _)) => tcp,
            Err(_) => {
                // Out of descriptors or similar: try again shortly rather than spin.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let c = &shared.counters;
        c.accepted.fetch_add(1, Ordering::SeqCst);
        let reset_now = {
            let mut n = lock(&shared.reset_next);
            let hit = *n > 0;
            *n = n.saturating_sub(1);
            hit
        };
        if reset_now {
            rst(tcp);
            c.resets.fetch_add(1, Ordering::SeqCst);
            continue;
        }
        let id = shared.next_id.fetch_add(1, Ordering::SeqCst) + 1;
        let (tx, rx) = mpsc::unbounded_channel();
        lock(&shared.conns).insert(id, tx);
        c.open.fetch_add(1, Ordering::SeqCst);
        let cut_after = *lock(&shared.cut_after);
        let conn = shared.clone();
        tokio::spawn(async move {
            Connection::new(conn.clone(), cut_after).run(tcp, rx).await;
            lock(&conn.conns).remove(&id);
            conn.counters.open.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

/// Finds TLS record boundaries in the server's stream (5-byte header: type, version, length).
#[derive(Default)]
struct RecordTracker {
    header: Vec<u8>,
    body_left: usize,
}

impl RecordTracker {
    fn at_boundary(&self) -> bool {
        self.header.is_empty() && self.body_left == 0
    }

    /// Consumes bytes of `data` up to the next record boundary (or all of it); returns how many.
    fn advance(&mut self, data: &[u8]) -> usize {
        let mut used = 0;
        while used < data.len() {
            if self.body_left > 0 {
                let take = self.body_left.min(data.len() - used);
                self.body_left -= take;
                used += take;
                if self.body_left == 0 {
                    return used;
                }
            } else {
                let take = (5 - self.header.len()).min(data.len() - used);
                self.header.extend_from_slice(&data[used..used + take]);
                used += take;
                if self.header.len() == 5 {
                    self.body_left =
                        usize::from(u16::from_be_bytes([self.header[3], self.header[4]]));
                    self.header.clear();
                    if self.body_left == 0 {
                        return used;
                    }
                }
            }
        }
        used
    }
}

/// How a connection ended.
enum End {
    /// Both directions closed cleanly (FIN passed on).
    Closed,
    /// Reset on command.
    Reset,
    /// Cut by `cut_after_bytes`.
    Cut,
    /// One side reset or failed: reset the other.
    PeerReset,
    /// The proxy is shutting down.
    Shutdown,
}

struct Connection {
    shared: Arc<Shared>,
    to_server: Vec<u8>,
    to_client: Vec<u8>,
    client_eof: bool,
    server_eof: bool,
    server_shut: bool,
    client_shut: bool,
    tracker: RecordTracker,
    garbage: Option<Vec<u8>>,
    written_to_client: u64,
    cut_at: Option<u64>,
}

impl Connection {
    fn new(shared: Arc<Shared>, cut_after: Option<u64>) -> Self {
        Connection {
            shared,
            to_server: Vec::new(),
            to_client: Vec::new(),
            client_eof: false,
            server_eof: false,
            server_shut: false,
            client_shut: false,
            tracker: RecordTracker::default(),
            garbage: None,
            written_to_client: 0,
            cut_at: cut_after,
        }
    }

    fn counters(&self) -> &Counters {
        &self.shared.counters
    }

    /// Appends server bytes to the outgoing buffer, putting pending garbage at the first
    /// record boundary.
    fn take_from_server(&mut self, data: &[u8]) {
        add(&self.counters().held_to_client, data.len());
        let mut at = 0;
        loop {
            self.place_garbage();
            if at == data.len() {
                break;
            }
            let n = self.tracker.advance(&data[at..]);
            self.to_client.extend_from_slice(&data[at..at + n]);
            at += n;
        }
    }

    fn place_garbage(&mut self) {
        if self.tracker.at_boundary() {
            if let Some(g) = self.garbage.take() {
                add(&self.counters().held_to_client, g.len());
                self.counters()
                    .garbage_injections
                    .fetch_add(1, Ordering::SeqCst);
                self.to_client.extend_from_slice(&g);
            }
        }
    }

    async fn run(mut self, client: TcpStream, mut commands: mpsc::UnboundedReceiver<Command>) {
        let server = match TcpStream::connect(self.shared.upstream).await {
            Ok(s) => s,
            Err(_) => {
                self.counters()
                    .upstream_failures
                    .fetch_add(1, Ordering::SeqCst);
                rst(client);
                return;
            }
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let (mut client, mut server) = (client, server);
        let end = self.pump(&mut client, &mut server, &mut commands).await;
        let c = self.counters();
        sub(&c.held_to_server, self.to_server.len());
        sub(&c.held_to_client, self.to_client.len());
        match end {
            End::Closed | End::Shutdown => {}
            End::Reset => {
                c.resets.fetch_add(1, Ordering::SeqCst);
            }
            End::Cut => {
                c.resets.fetch_add(1, Ordering::SeqCst);
                c.cuts.fetch_add(1, Ordering::SeqCst);
            }
            End::PeerReset => {
                c.peer_resets.fetch_add(1, Ordering::SeqCst);
            }
        }
        if matches!(end, End::Reset | End::Cut | End::PeerReset) {
            rst(client);
            rst(server);
        }
    }

    async fn pump(
        &mut self,
        client: &mut TcpStream,
        server: &mut TcpStream,
        commands: &mut mpsc::UnboundedReceiver<Command>,
    ) -> End {
        let mut stall = self.shared.stall.subscribe();
        let mut shutdown = self.shared.shutdown.subscribe();
        if *shutdown.borrow() {
            return End::Shutdown;
        }
        let mut buf = vec![0u8; CHUNK];
        loop {
            let stalled = *stall.borrow_and_update();
            if !stalled {
                // Pass a FIN on once everything before it went through.
                if self.client_eof && self.to_server.is_empty() && !self.server_shut {
                    self.server_shut = true;
                    if server.shutdown().await.is_err() {
                        return End::PeerReset;
                    }
                }
                if self.server_eof && self.to_client.is_empty() && !self.client_shut {
                    self.client_shut = true;
                    if client.shutdown().await.is_err() {
                        return End::PeerReset;
                    }
                }
                if self.server_shut && self.client_shut {
                    return End::Closed;
                }
            }
            let read_client = !self.client_eof && self.to_server.is_empty();
            let read_server = !self.server_eof && self.to_client.is_empty();
            let write_server = !stalled && !self.to_server.is_empty();
            let write_client = !stalled && !self.to_client.is_empty();
            // Biased: controls first, so a command takes effect before any further byte moves.
            tokio::select! {
                biased;
                _ = shutdown.changed() => return End::Shutdown,
                command = commands.recv() => match command {
                    None => return End::Shutdown,
                    Some(Command::Reset) => return End::Reset,
                    Some(Command::Garbage(g)) => {
                        self.garbage = Some(g);
                        self.place_garbage();
                    }
                    Some(Command::CutAfter(n)) => {
                        self.cut_at = n.map(|n| self.written_to_client.saturating_add(n));
                        if self.cut_at == Some(self.written_to_client) {
                            return End::Cut;
                        }
                    }
                },
                _ = stall.changed() => {}
                r = client.readable(), if read_client => {
                    if r.is_err() { return End::PeerReset; }
                    match client.try_read(&mut buf) {
                        Ok(0) => self.client_eof = true,
                        Ok(n) => {
                            add(&self.counters().held_to_server, n);
                            self.to_server.extend_from_slice(&buf[..n]);
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(_) => return End::PeerReset,
                    }
                }
                r = server.readable(), if read_server => {
                    if r.is_err() { return End::PeerReset; }
                    match server.try_read(&mut buf) {
                        Ok(0) => self.server_eof = true,
                        Ok(n) => self.take_from_server(&buf[..n]),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(_) => return End::PeerReset,
                    }
                }
                r = server.writable(), if write_server => {
                    if r.is_err() { return End::PeerReset; }
                    let c = &self.shared.counters;
                    match counted_write(server, &self.to_server, &c.held_to_server, &c.bytes_to_server) {
                        Ok(n) => { self.to_server.drain(..n); }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(_) => return End::PeerReset,
                    }
                }
                r = client.writable(), if write_client => {
                    if r.is_err() { return End::PeerReset; }
                    let allowed = match self.cut_at {
                        Some(cut) => cut.saturating_sub(self.written_to_client),
                        None => u64::MAX,
                    };
                    if allowed == 0 {
                        return End::Cut;
                    }
                    let len = self.to_client.len().min(usize::try_from(allowed).unwrap_or(usize::MAX));
                    let c = &self.shared.counters;
                    match counted_write(client, &self.to_client[..len], &c.held_to_client, &c.bytes_to_client) {
                        Ok(n) => {
                            self.to_client.drain(..n);
                            self.written_to_client += n as u64;
                            if self.cut_at == Some(self.written_to_client) {
                                return End::Cut;
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(_) => return End::PeerReset,
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn record(typ: u8, body_len: u16) -> Vec<u8> {
        let mut r = vec![typ, 3, 3];
        r.extend_from_slice(&body_len.to_be_bytes());
        r.extend(std::iter::repeat_n(0xAB, usize::from(body_len)));
        r
    }

    #[test]
    fn the_tracker_finds_record_ends_across_any_split() {
        let stream: Vec<u8> = [
            record(22, 90),
            record(20, 1),
            record(23, 0),
            record(23, 300),
        ]
        .concat();
        let ends = [95, 101, 106, stream.len()];
        for split in 0..stream.len() {
            let mut t = RecordTracker::default();
            let mut found = Vec::new();
            let mut pos = 0;
            for part in [&stream[..split], &stream[split..]] {
                let mut at = 0;
                while at < part.len() {
                    at += t.advance(&part[at..]);
                    if t.at_boundary() {
                        found.push(pos + at);
                    }
                }
                pos += part.len();
            }
            assert_eq!(found, ends, "split at {split}");
        }
    }

    #[test]
    fn garbage_waits_for_the_end_of_the_current_record() {
        let shared = Shared::new(SocketAddr::from(([127, 0, 0, 1], 1)), 1);
        let mut conn = Connection::new(shared.clone(), None);
        let first = record(23, 40);
        let second = record(23, 10);
        conn.take_from_server(&first[..20]);
        conn.garbage = Some(vec![0xEE; 8]);
        conn.place_garbage();
        assert_eq!(conn.to_client.len(), 20, "placed inside a record");
        conn.take_from_server(&[&first[20..], &second[..]].concat());
        let expected = [&first[..], &[0xEE; 8][..], &second[..]].concat();
        assert_eq!(conn.to_client, expected);
        let c = &shared.counters;
        assert_eq!(c.garbage_injections.load(Ordering::SeqCst), 1);
        assert_eq!(
            c.held_to_client.load(Ordering::SeqCst),
            expected.len() as u64
        );
    }

    #[test]
    fn garbage_never_starts_with_a_tls_content_type() {
        let mut rng = SplitMix(0);
        for n in [1, 5, 64] {
            for _ in 0..1000 {
                let g = rng.garbage(n);
                assert_eq!(g.len(), n);
                assert!(!(20..=24).contains(&g[0]));
            }
        }
        assert!(rng.garbage(0).is_empty());
    }
}
