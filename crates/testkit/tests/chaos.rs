//! The chaos proxy over real TCP: forwarding, resets, refusal, stalls, garbage, cuts, counters,
//! and HTTP bursts through the server's own fault hooks.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use picokubelet_testkit::{burst, ChaosProxy, ChaosStats, Fault, ServerOptions, TestApiServer};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// A generous bound for a loaded machine: the waits below wait for an outcome, they time nothing.
const LIMIT: Duration = Duration::from_secs(30);

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < LIMIT, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn wait_stats(proxy: &ChaosProxy, what: &str, f: impl Fn(&ChaosStats) -> bool) {
    wait_until(what, || f(&proxy.stats())).await;
}

struct Setup {
    server: TestApiServer,
    proxy: ChaosProxy,
}

async fn setup() -> Setup {
    let server = TestApiServer::start(ServerOptions::default().with_seed(11))
        .await
        .unwrap();
    let proxy = ChaosProxy::in_front_of(&server).await.unwrap();
    Setup { server, proxy }
}

async fn tls_over(server: &TestApiServer, tcp: TcpStream) -> io::Result<TlsStream<TcpStream>> {
    let connector = TlsConnector::from(server.client_tls_config(None));
    let name = ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into());
    connector.connect(name, tcp).await
}

async fn tls_to(server: &TestApiServer, addr: SocketAddr) -> io::Result<TlsStream<TcpStream>> {
    tls_over(server, TcpStream::connect(addr).await?).await
}

fn version_request(server: &TestApiServer) -> Vec<u8> {
    format!(
        "GET /version HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: chaos-test\r\nAuthorization: Bearer {}\r\nAccept: application/json\r\n\r\n",
        server.admin_token()
    )
    .into_bytes()
}

/// Reads one response with a Content-Length body: (status, body).
async fn read_response(tls: &mut TlsStream<TcpStream>) -> io::Result<(u16, Vec<u8>)> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).to_string();
            let status: u16 = head[9..12].parse().unwrap();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .map(|v| v.trim().parse().unwrap())
                .unwrap_or(0);
            if data.len() >= end + 4 + len {
                return Ok((status, data[end + 4..end + 4 + len].to_vec()));
            }
        }
        let n = tls.read(&mut buf).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        data.extend_from_slice(&buf[..n]);
    }
}

async fn get_version(
    server: &TestApiServer,
    tls: &mut TlsStream<TcpStream>,
) -> io::Result<(u16, Vec<u8>)> {
    tls.write_all(&version_request(server)).await?;
    tls.flush().await?;
    read_response(tls).await
}

fn rustls_error(e: &io::Error) -> Option<&rustls::Error> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

/// A plain TCP echo server (one connection), to see the proxy's bytes without TLS in the way.
async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = tcp.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
                let _ = w.shutdown().await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwards_bytes_unchanged_both_ways_and_passes_fin_on() {
    let proxy = ChaosProxy::start(echo_server().await).await.unwrap();
    let mut tcp = TcpStream::connect(proxy.addr()).await.unwrap();
    // Every byte value, many times, in more than one chunk.
    let sent: Vec<u8> = (0..200_000u32).map(|i| (i * 7 + i / 256) as u8).collect();
    let (mut r, mut w) = tcp.split();
    let write = async {
        w.write_all(&sent).await.unwrap();
        w.shutdown().await.unwrap();
    };
    let mut echoed = Vec::new();
    let read = r.read_to_end(&mut echoed);
    let ((), n) = tokio::join!(write, read);
    assert_eq!(n.unwrap(), sent.len(), "the FIN came back after all bytes");
    assert!(echoed == sent, "bytes changed on the way");
    wait_stats(&proxy, "the connection to end", |s| s.open == 0).await;
    let s = proxy.stats();
    assert_eq!(s.accepted, 1);
    assert_eq!(s.bytes_to_server, sent.len() as u64);
    assert_eq!(s.bytes_to_client, sent.len() as u64);
    assert_eq!((s.held_to_server, s.held_to_client), (0, 0));
    assert_eq!((s.resets, s.peer_resets, s.garbage_injections), (0, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_through_the_proxy_matches_a_direct_connection() {
    let Setup { server, proxy } = setup().await;
    let mut direct = tls_to(&server, server.addr().unwrap()).await.unwrap();
    let mut proxied = tls_to(&server, proxy.addr()).await.unwrap();
    let (status, body) = get_version(&server, &mut direct).await.unwrap();
    assert_eq!(status, 200);
    for _ in 0..3 {
        assert_eq!(
            get_version(&server, &mut proxied).await.unwrap(),
            (200, body.clone())
        );
    }
    let s = proxy.stats();
    assert_eq!((s.accepted, s.open), (1, 1));
    assert!(s.bytes_to_server > 0 && s.bytes_to_client > 0, "{s:?}");
    assert_eq!(server.tls_handshakes(), 2);
    assert!(proxy.kubeconfig(&server, "tok").contains(&format!(
        "server: https://127.0.0.1:{}\n",
        proxy.addr().port()
    )));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_all_gives_every_open_client_a_reset() {
    let Setup { server, proxy } = setup().await;
    let mut a = tls_to(&server, proxy.addr()).await.unwrap();
    let mut b = tls_to(&server, proxy.addr()).await.unwrap();
    assert_eq!(get_version(&server, &mut a).await.unwrap().0, 200);
    assert_eq!(get_version(&server, &mut b).await.unwrap().0, 200);
    assert_eq!(proxy.reset_all(), 2);
    for tls in [&mut a, &mut b] {
        let mut buf = [0u8; 16];
        let err = tls.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err:?}");
    }
    wait_stats(&proxy, "two resets", |s| s.resets == 2 && s.open == 0).await;
    // A new connection goes through.
    let mut c = tls_to(&server, proxy.addr()).await.unwrap();
    assert_eq!(get_version(&server, &mut c).await.unwrap().0, 200);
    assert_eq!(proxy.stats().resets, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_next_connections_resets_on_accept_then_stops() {
    let Setup { server, proxy } = setup().await;
    proxy.reset_next_connections(1);
    // The RST may beat the end of connect() on loopback; else the handshake meets it.
    let err = match TcpStream::connect(proxy.addr()).await {
        Err(e) => e,
        Ok(tcp) => {
            wait_stats(&proxy, "the reset on accept", |s| s.resets == 1).await;
            tls_over(&server, tcp).await.unwrap_err()
        }
    };
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err:?}");
    let mut ok = tls_to(&server, proxy.addr()).await.unwrap();
    assert_eq!(get_version(&server, &mut ok).await.unwrap().0, 200);
    let s = proxy.stats();
    assert_eq!((s.accepted, s.resets), (2, 1));
    // The reset connection never reached the server.
    assert_eq!(server.connections().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuse_closes_the_port_and_reopens_it() {
    let Setup { server, proxy } = setup().await;
    let mut open = tls_to(&server, proxy.addr()).await.unwrap();
    proxy.refuse(true).await.unwrap();
    let err = TcpStream::connect(proxy.addr()).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    // Open connections are left alone.
    assert_eq!(get_version(&server, &mut open).await.unwrap().0, 200);
    proxy.refuse(false).await.unwrap();
    let mut again = tls_to(&server, proxy.addr()).await.unwrap();
    assert_eq!(get_version(&server, &mut again).await.unwrap().0, 200);
    assert_eq!(proxy.stats().accepted, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stall_holds_bytes_both_ways_and_resume_delivers_them() {
    let Setup { server, proxy } = setup().await;
    let mut tls = tls_to(&server, proxy.addr()).await.unwrap();
    assert_eq!(get_version(&server, &mut tls).await.unwrap().0, 200);
    let requests_before = server.requests().len();

    proxy.stall(true);
    assert!(proxy.is_stalled());
    tls.write_all(&version_request(&server)).await.unwrap();
    tls.flush().await.unwrap();
    wait_stats(&proxy, "the request to be held", |s| s.held_to_server > 0).await;
    // A new connection during the stall: accepted, its ClientHello held too.
    let late = {
        let server_config = server.client_tls_config(None);
        let addr = proxy.addr();
        tokio::spawn(async move {
            let connector = TlsConnector::from(server_config);
            let name = ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into());
            connector
                .connect(name, TcpStream::connect(addr).await.unwrap())
                .await
        })
    };
    wait_stats(&proxy, "the second connection's hello to be held", |s| {
        s.accepted == 2 && s.open == 2 && s.held_to_server > 0
    })
    .await;
    let held = proxy.stats();
    assert_eq!(
        server.requests().len(),
        requests_before,
        "a request passed the stall"
    );
    assert_eq!(
        server.connections().len(),
        1,
        "a handshake passed the stall"
    );
    assert!(!late.is_finished());

    proxy.stall(false);
    assert_eq!(read_response(&mut tls).await.unwrap().0, 200);
    let mut late = late.await.unwrap().unwrap();
    assert_eq!(get_version(&server, &mut late).await.unwrap().0, 200);
    let after = proxy.stats();
    assert_eq!((after.held_to_server, after.held_to_client), (0, 0));
    assert!(after.bytes_to_server >= held.bytes_to_server + held.held_to_server);
    assert_eq!(server.requests().len(), requests_before + 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_breaks_the_clients_tls_record_layer() {
    let Setup { server, proxy } = setup().await;
    let mut tls = tls_to(&server, proxy.addr()).await.unwrap();
    assert_eq!(get_version(&server, &mut tls).await.unwrap().0, 200);
    let before = proxy.stats();
    assert_eq!(proxy.inject_garbage(64), 1);
    wait_stats(&proxy, "the garbage to be written", |s| {
        s.garbage_injections == 1 && s.held_to_client == 0
    })
    .await;
    assert_eq!(proxy.stats().bytes_to_client, before.bytes_to_client + 64);
    let err = get_version(&server, &mut tls).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err:?}");
    assert!(
        matches!(
            rustls_error(&err),
            Some(rustls::Error::InvalidMessage(
                rustls::InvalidMessage::InvalidContentType
            ))
        ),
        "{err:?}"
    );
    // The proxy keeps forwarding: a new session works.
    let mut fresh = tls_to(&server, proxy.addr()).await.unwrap();
    assert_eq!(get_version(&server, &mut fresh).await.unwrap().0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_after_bytes_forwards_exactly_n_bytes_then_resets() {
    let proxy = ChaosProxy::start(echo_server().await).await.unwrap();
    let mut open = TcpStream::connect(proxy.addr()).await.unwrap();
    open.write_all(b"0123456789").await.unwrap();
    let mut first = [0u8; 10];
    open.read_exact(&mut first).await.unwrap();
    // Counted from the call on the open connection: 10 bytes already went through.
    proxy.cut_after_bytes(25);
    open.write_all(&[b'x'; 100]).await.unwrap();
    let mut got = Vec::new();
    let err = open.read_to_end(&mut got).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err:?}");
    assert_eq!(got, [b'x'; 25]);
    wait_stats(&proxy, "the cut", |s| s.cuts == 1 && s.open == 0).await;
    assert_eq!(proxy.stats().bytes_to_client, 35);

    // Armed for new connections too, counted from the accept.
    let mut new = TcpStream::connect(proxy.addr()).await.unwrap();
    new.write_all(&[b'y'; 100]).await.unwrap();
    let mut got = Vec::new();
    let err = new.read_to_end(&mut got).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err:?}");
    assert_eq!(got, [b'y'; 25]);
    proxy.clear_cut();
    let mut free = TcpStream::connect(proxy.addr()).await.unwrap();
    free.write_all(&[b'z'; 100]).await.unwrap();
    free.shutdown().await.unwrap();
    let mut got = Vec::new();
    free.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, [b'z'; 100]);
    let s = proxy.stats();
    assert_eq!((s.cuts, s.resets), (2, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_mid_answer_or_mid_handshake_is_a_reset_for_tls() {
    let Setup { server, proxy } = setup().await;
    let mut tls = tls_to(&server, proxy.addr()).await.unwrap();
    assert_eq!(get_version(&server, &mut tls).await.unwrap().0, 200);
    proxy.cut_after_bytes(10);
    let err = get_version(&server, &mut tls).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err:?}");
    // The server answered in full: the cut is the proxy's.
    wait_until("the request to be logged", || server.requests().len() == 2).await;
    assert_eq!(server.requests()[1].status, Some(200));
    // A new connection: the ServerHello is cut.
    let err = tls_to(&server, proxy.addr()).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err:?}");
    proxy.clear_cut();
    let mut ok = tls_to(&server, proxy.addr()).await.unwrap();
    assert_eq!(get_version(&server, &mut ok).await.unwrap().0, 200);
    wait_stats(&proxy, "two cuts", |s| s.cuts == 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_reset_reaches_the_client_as_a_reset() {
    let Setup { server, proxy } = setup().await;
    let mut tls = tls_to(&server, proxy.addr()).await.unwrap();
    server.fail_next(1, Fault::Reset);
    let err = get_version(&server, &mut tls).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err:?}");
    wait_stats(&proxy, "the passed-on reset", |s| s.peer_resets == 1).await;
    assert_eq!(proxy.stats().resets, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_bursts_are_the_servers_faults_seen_through_the_proxy() {
    let Setup { server, proxy } = setup().await;
    let mut tls = tls_to(&server, proxy.addr()).await.unwrap();
    burst(&server, Fault::status(500), 2);
    burst(&server, Fault::TooManyRequests, 1);
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(get_version(&server, &mut tls).await.unwrap().0);
    }
    assert_eq!(statuses, [500, 500, 429, 200]);
    assert_eq!(proxy.stats().accepted, 1, "one connection throughout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_is_the_same_for_the_same_seed() {
    async fn garbage_seen(seed: u64) -> Vec<u8> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let proxy = Arc::new(ChaosProxy::start_seeded(addr, seed).await.unwrap());
        let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
        let (_upstream, _) = listener.accept().await.unwrap();
        wait_stats(&proxy, "the connection", |s| s.open == 1).await;
        assert_eq!(proxy.inject_garbage(40), 1);
        let mut got = vec![0u8; 40];
        client.read_exact(&mut got).await.unwrap();
        got
    }
    let a = garbage_seen(5).await;
    assert_eq!(a, garbage_seen(5).await);
    assert_ne!(a, garbage_seen(6).await);
    assert!(!(20..=24).contains(&a[0]), "starts like a TLS record");
}
