//! ApiClient exchanges against hand-written responses over a duplex pipe: streaming into
//! visitors, failure bodies, the buffers' overflow behaviour, timeouts and unusable sessions.
mod agent_support;

use std::time::Duration;

use agent_support::SimClock;

use embedded_io_adapters::tokio_1::FromTokio;
use picokubelet_core::client::{
    no_body, ApiClient, ApiRequest, ClientError, ClientMetrics, Endpoint, HttpBuffers,
};
use picokubelet_core::http::reader::ReadError;
use picokubelet_core::http::request::{BearerToken, RequestError};
use picokubelet_core::http::response::{ContentClass, HeadError, RetryAfter};
use picokubelet_core::json::extract::{Path, Scalar, VisitFn};
use picokubelet_core::json::writer::JsonError;
use picokubelet_core::k8s::body_error::BodyError;
use picokubelet_core::k8s::name::NodeName;
use picokubelet_core::k8s::paths::{ApiPath, ApiWrite};
use picokubelet_core::k8s::response::{NodeResponse, ObjectMeta};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

const TIMEOUT: Duration = Duration::from_secs(5);
const TOKEN: &str = "t0ken";

fn endpoint() -> Endpoint<'static> {
    Endpoint {
        host: "127.0.0.1:6443",
        token: Some(BearerToken::new(TOKEN)),
        token_source: None,
    }
}

fn node() -> NodeName<'static> {
    NodeName::new("esp-node-01").unwrap()
}

/// Reads one request head (and a Content-Length body) from the server side; returns its bytes.
async fn read_request(io: &mut DuplexStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut req = httparse::Request::new(&mut headers);
        if let Ok(httparse::Status::Complete(n)) = req.parse(&got) {
            let len: usize = req
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .map_or(0, |h| {
                    std::str::from_utf8(h.value).unwrap().parse().unwrap()
                });
            if got.len() >= n + len {
                return got;
            }
        }
        let k = io.read(&mut buf).await.unwrap();
        assert!(k > 0, "client closed mid-request");
        got.extend_from_slice(&buf[..k]);
    }
}

fn recorded(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../testdata/k8s/recorded-compact")
            .join(name),
    )
    .unwrap()
}

/// The recorded 03 response (a Node, stored de-chunked) re-chunked in 100-byte chunks.
fn chunked_node_response() -> Vec<u8> {
    let raw = recorded("03-get-node-200.response.http");
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let (head, body) = raw.split_at(split);
    let body = String::from_utf8(body.to_vec()).unwrap();
    let body = body.trim_end().as_bytes();
    let mut out = head.to_vec();
    for c in body.chunks(100) {
        out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

struct Rig {
    clock: SimClock,
    metrics: ClientMetrics,
    bufs: Box<HttpBuffers>,
}

impl Rig {
    fn new() -> (Rig, FromTokio<DuplexStream>, DuplexStream) {
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        let rig = Rig {
            clock: SimClock {
                start: tokio::time::Instant::now(),
            },
            metrics: ClientMetrics::new(),
            bufs: Box::new(HttpBuffers::new()),
        };
        (rig, FromTokio::new(ours), theirs)
    }
}

#[tokio::test(start_paused = true)]
async fn a_chunked_node_streams_into_the_visitor_and_every_byte_is_counted() {
    let (mut rig, io, mut server) = Rig::new();
    let response = chunked_node_response();
    let sent = response.clone();
    let srv = tokio::spawn(async move {
        let req = read_request(&mut server).await;
        server.write_all(&sent).await.unwrap();
        (req, server)
    });
    let mut client = ApiClient::new(
        io,
        &rig.clock,
        endpoint(),
        &mut rig.bufs,
        &rig.metrics,
        TIMEOUT,
    );
    let mut node_seen = NodeResponse::default();
    let reply = client
        .exchange(
            &ApiRequest::get(ApiPath::Node(node())),
            no_body,
            &mut node_seen,
        )
        .await
        .unwrap();
    let (req, _server) = srv.await.unwrap();
    assert_eq!(reply.status, 200);
    assert!(reply.reusable && client.is_usable());
    assert_eq!(reply.content_class, ContentClass::Json);
    assert!(reply.date.is_some());
    assert_eq!(node_seen.meta.uid, "3478a007-cc90-4afa-8d33-6973abfdb2b8");
    assert!(node_seen.has_microcontroller_taint());
    let c = rig.metrics.snapshot();
    assert_eq!(c.bytes_out, req.len() as u64);
    assert_eq!(c.bytes_in, response.len() as u64);
    assert_eq!((c.requests, c.responses_2xx), (1, 1));
    assert!(req.starts_with(b"GET /api/v1/nodes/esp-node-01 HTTP/1.1\r\nHost: 127.0.0.1:6443\r\n"));
    assert!(!rig.metrics.in_flight());
}

#[tokio::test(start_paused = true)]
async fn a_failure_body_goes_to_the_status_not_the_visitor() {
    let (mut rig, io, mut server) = Rig::new();
    let srv = tokio::spawn(async move {
        read_request(&mut server).await;
        server
            .write_all(&recorded("13e-get-node-after-delete.response.http"))
            .await
            .unwrap();
        server
    });
    let mut client = ApiClient::new(
        io,
        &rig.clock,
        endpoint(),
        &mut rig.bufs,
        &rig.metrics,
        TIMEOUT,
    );
    let mut values = 0;
    let mut visitor = VisitFn(|_: &Path<'_>, _: Scalar<'_>| values += 1);
    let reply = client
        .exchange(
            &ApiRequest::get(ApiPath::Node(node())),
            no_body,
            &mut visitor,
        )
        .await
        .unwrap();
    let _server = srv.await.unwrap();
    assert_eq!(reply.status, 404);
    assert_eq!(values, 0);
    assert_eq!(client.failure().reason, "NotFound");
    assert_eq!(client.failure().code, Some(404));
    assert!(client.is_usable());
    assert_eq!(rig.metrics.snapshot().responses_4xx, 1);
}

#[tokio::test(start_paused = true)]
async fn a_plain_text_429_keeps_its_retry_after_and_the_session() {
    let (mut rig, io, mut server) = Rig::new();
    let srv = tokio::spawn(async move {
        read_request(&mut server).await;
        server
            .write_all(&recorded("16a-probe-under-pressure.response.http"))
            .await
            .unwrap();
        server
    });
    let mut client = ApiClient::new(
        io,
        &rig.clock,
        endpoint(),
        &mut rig.bufs,
        &rig.metrics,
        TIMEOUT,
    );
    let mut meta = ObjectMeta::default();
    let reply = client
        .exchange(
            &ApiRequest::write(ApiWrite::RenewLease, node()),
            |buf: &mut [u8]| {
                buf[..2].copy_from_slice(b"{}");
                Ok(2)
            },
            &mut meta,
        )
        .await
        .unwrap();
    let _server = srv.await.unwrap();
    assert_eq!(reply.status, 429);
    assert_eq!(reply.retry_after, Some(RetryAfter::Seconds(1)));
    assert_eq!(reply.content_class, ContentClass::Text);
    assert!(!client.failure().is_status());
    assert!(client.is_usable());
}

#[tokio::test(start_paused = true)]
async fn a_body_or_head_that_does_not_fit_is_refused_before_sending() {
    let (mut rig, io, _server) = Rig::new();
    let long_token = "x".repeat(5_000);
    let mut meta = ObjectMeta::default();
    let ep = Endpoint {
        host: "h",
        token: Some(BearerToken::new(&long_token)),
        token_source: None,
    };
    let mut client = ApiClient::new(io, &rig.clock, ep, &mut rig.bufs, &rig.metrics, TIMEOUT);
    let too_long = client
        .exchange(&ApiRequest::get(ApiPath::Version), no_body, &mut meta)
        .await;
    assert_eq!(
        too_long,
        Err(ClientError::Request(RequestError::BufferFull))
    );
    assert!(client.is_usable());
    // A body writer that reports BufferFull.
    let full = client
        .exchange(
            &ApiRequest::write(ApiWrite::PatchNodeStatus, node()),
            |_: &mut [u8]| Err(BodyError::Json(JsonError::BufferFull { needed: 9_000 })),
            &mut meta,
        )
        .await;
    assert!(matches!(full, Err(ClientError::Body(_))));
    // A body writer that claims more than the buffer.
    let lie = client
        .exchange(
            &ApiRequest::write(ApiWrite::PatchNodeStatus, node()),
            |buf: &mut [u8]| Ok(buf.len() + 1),
            &mut meta,
        )
        .await;
    assert!(matches!(
        lie,
        Err(ClientError::Body(BodyError::Json(
            JsonError::BufferFull { .. }
        )))
    ));
    assert!(client.is_usable());
    assert_eq!(rig.metrics.snapshot().requests, 0);
}

#[tokio::test(start_paused = true)]
async fn nothing_is_sent_before_a_request_that_fits() {
    let (mut rig, io, mut server) = Rig::new();
    let srv = tokio::spawn(async move {
        let req = read_request(&mut server).await;
        server
            .write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
            )
            .await
            .unwrap();
        (req, server)
    });
    let mut client = ApiClient::new(
        io,
        &rig.clock,
        endpoint(),
        &mut rig.bufs,
        &rig.metrics,
        TIMEOUT,
    );
    let mut meta = ObjectMeta::default();
    let full = client
        .exchange(
            &ApiRequest::write(ApiWrite::PatchNodeStatus, node()),
            |_: &mut [u8]| Err(BodyError::Json(JsonError::BufferFull { needed: 9_000 })),
            &mut meta,
        )
        .await;
    assert!(matches!(full, Err(ClientError::Body(_))));
    let ok = client
        .exchange(&ApiRequest::get(ApiPath::Version), no_body, &mut meta)
        .await
        .unwrap();
    let (req, _server) = srv.await.unwrap();
    assert_eq!(ok.status, 200);
    assert!(
        req.starts_with(b"GET /version HTTP/1.1\r\n"),
        "{}",
        String::from_utf8_lossy(&req)
    );
    assert_eq!(rig.metrics.snapshot().requests, 1);
    assert_eq!(
        rig.metrics.snapshot().last_error,
        Some(ClientError::Body(BodyError::Json(JsonError::BufferFull {
            needed: 9_000
        })))
    );
}

#[tokio::test(start_paused = true)]
async fn a_head_larger_than_the_receive_buffer_ends_the_session() {
    let (mut rig, io, mut server) = Rig::new();
    let srv = tokio::spawn(async move {
        read_request(&mut server).await;
        let mut head = String::from("HTTP/1.1 200 OK\r\n");
        for i in 0..30 {
            head.push_str(&format!("X-Padding-{i}: {}\r\n", "p".repeat(80)));
        }
        head.push_str("Content-Length: 0\r\n\r\n");
        server.write_all(head.as_bytes()).await.unwrap();
        server
    });
    let mut client = ApiClient::new(
        io,
        &rig.clock,
        endpoint(),
        &mut rig.bufs,
        &rig.metrics,
        TIMEOUT,
    );
    let mut meta = ObjectMeta::default();
    let r = client
        .exchange(&ApiRequest::get(ApiPath::Version), no_body, &mut meta)
        .await;
    assert_eq!(
        r,
        Err(ClientError::Http(ReadError::Head(HeadError::HeadTooLarge)))
    );
    assert!(!client.is_usable());
    let again = client
        .exchange(&ApiRequest::get(ApiPath::Version), no_body, &mut meta)
        .await;
    assert_eq!(again, Err(ClientError::Unusable));
    let _server = srv.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_stalled_response_times_out_at_the_deadline_and_poisons_the_session() {
    let (mut rig, io, mut server) = Rig::new();
    let srv = tokio::spawn(async move {
        read_request(&mut server).await;
        // Half a head, then silence.
        server
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Le")
            .await
            .unwrap();
        server
    });
    let started = tokio::time::Instant::now();
    let mut client = ApiClient::new(
        io,
        &rig.clock,
        endpoint(),
        &mut rig.bufs,
        &rig.metrics,
        TIMEOUT,
    );
    let mut meta = ObjectMeta::default();
    let r = client
        .exchange(&ApiRequest::get(ApiPath::Version), no_body, &mut meta)
        .await;
    assert_eq!(r, Err(ClientError::Timeout));
    assert_eq!(tokio::time::Instant::now() - started, TIMEOUT);
    assert!(!client.is_usable());
    assert!(!rig.metrics.in_flight());
    assert_eq!(rig.metrics.snapshot().timeouts, 1);
    let _server = srv.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn connection_close_and_eof_make_the_session_unusable() {
    let (mut rig, io, mut server) = Rig::new();
    let srv = tokio::spawn(async move {
        read_request(&mut server).await;
        server
            .write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
            .await
            .unwrap();
        server
    });
    let mut client = ApiClient::new(
        io,
        &rig.clock,
        endpoint(),
        &mut rig.bufs,
        &rig.metrics,
        TIMEOUT,
    );
    let mut meta = ObjectMeta::default();
    let reply = client
        .exchange(&ApiRequest::get(ApiPath::Version), no_body, &mut meta)
        .await
        .unwrap();
    assert!(!reply.reusable && !client.is_usable());
    assert_eq!(
        client
            .exchange(&ApiRequest::get(ApiPath::Version), no_body, &mut meta)
            .await,
        Err(ClientError::Unusable)
    );
    drop(srv.await.unwrap());

    // A server that reads the request and hangs up.
    let (mut rig, io, mut server) = Rig::new();
    let srv = tokio::spawn(async move {
        read_request(&mut server).await;
    });
    let mut client = ApiClient::new(
        io,
        &rig.clock,
        endpoint(),
        &mut rig.bufs,
        &rig.metrics,
        TIMEOUT,
    );
    let r = client
        .exchange(&ApiRequest::get(ApiPath::Version), no_body, &mut meta)
        .await;
    srv.await.unwrap();
    assert_eq!(r, Err(ClientError::Http(ReadError::ClosedBeforeResponse)));
    assert!(r.unwrap_err().ends_session());
}

#[tokio::test(start_paused = true)]
async fn broken_json_in_a_success_is_an_error_but_the_session_lives_on() {
    let (mut rig, io, mut server) = Rig::new();
    let srv = tokio::spawn(async move {
        for body in ["{\"kind\":", "{\"kind\":\"Lease\"}"] {
            read_request(&mut server).await;
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            server.write_all(head.as_bytes()).await.unwrap();
            server.write_all(body.as_bytes()).await.unwrap();
        }
        server
    });
    let mut client = ApiClient::new(
        io,
        &rig.clock,
        endpoint(),
        &mut rig.bufs,
        &rig.metrics,
        TIMEOUT,
    );
    let mut meta = ObjectMeta::default();
    let r = client
        .exchange(&ApiRequest::get(ApiPath::Version), no_body, &mut meta)
        .await;
    assert!(matches!(r, Err(ClientError::Json(_))));
    assert!(client.is_usable());
    let mut meta = ObjectMeta::default();
    let ok = client
        .exchange(&ApiRequest::get(ApiPath::Version), no_body, &mut meta)
        .await
        .unwrap();
    assert_eq!(ok.status, 200);
    assert_eq!(meta.kind, "Lease");
    let _server = srv.await.unwrap();
}

/// A token source that rotates to its next token when told of a 401 (as the host's exec
/// plugin cache does once its refresh finished).
struct RotatingToken {
    tokens: [&'static str; 2],
    current: std::cell::Cell<usize>,
    rejected: std::cell::Cell<u32>,
}

impl picokubelet_core::client::TokenSource for RotatingToken {
    fn with_token(&self, use_token: &mut dyn FnMut(Option<BearerToken<'_>>)) {
        use_token(Some(BearerToken::new(self.tokens[self.current.get()])));
    }
    fn rejected(&self) {
        self.rejected.set(self.rejected.get() + 1);
        self.current.set(1);
    }
}

#[tokio::test(start_paused = true)]
async fn a_401_tells_the_token_source_and_the_next_request_carries_its_new_token() {
    let (mut rig, io, mut server) = Rig::new();
    let body = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}"#;
    let unauthorized = format!(
        "HTTP/1.1 401 Unauthorized\r\nCache-Control: no-cache, private\r\nContent-Type: application/json\r\nDate: Mon, 07 Dec 2026 20:00:00 GMT\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let srv = tokio::spawn(async move {
        let first = read_request(&mut server).await;
        server.write_all(unauthorized.as_bytes()).await.unwrap();
        let second = read_request(&mut server).await;
        server.write_all(&chunked_node_response()).await.unwrap();
        (first, second, server)
    });
    let source = RotatingToken {
        tokens: ["expired-token", "fresh-token"],
        current: std::cell::Cell::new(0),
        rejected: std::cell::Cell::new(0),
    };
    let ep = Endpoint {
        token_source: Some(picokubelet_core::client::SharedToken(&source)),
        ..endpoint()
    };
    let mut client = ApiClient::new(io, &rig.clock, ep, &mut rig.bufs, &rig.metrics, TIMEOUT);
    let get = ApiRequest::get(ApiPath::Node(node()));
    let first = client
        .exchange(&get, no_body, &mut NodeResponse::default())
        .await
        .unwrap();
    assert_eq!(first.status, 401);
    assert_eq!(source.rejected.get(), 1);
    let second = client
        .exchange(&get, no_body, &mut NodeResponse::default())
        .await
        .unwrap();
    assert_eq!(second.status, 200);
    assert_eq!(source.rejected.get(), 1, "a 200 is no rejection");
    let (first, second, _server) = srv.await.unwrap();
    let has = |req: &[u8], header: &str| req.windows(header.len()).any(|w| w == header.as_bytes());
    assert!(has(&first, "Authorization: Bearer expired-token\r\n"));
    assert!(has(&second, "Authorization: Bearer fresh-token\r\n"));
    assert!(
        !has(&first, TOKEN) && !has(&second, TOKEN),
        "the source wins over the fixed token"
    );
}

/// A recorded-2 answer kept with the testkit.
fn recorded_2(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../testkit/testdata/recorded-2")
            .join(name),
    )
    .unwrap()
}

/// A length-delimited protobuf field.
fn pb(field: u8, bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![(field << 3) | 2];
    let mut len = bytes.len();
    while len >= 0x80 {
        out.push((len as u8) | 0x80);
        len >>= 7;
    }
    out.push(len as u8);
    out.extend_from_slice(bytes);
    out
}

#[tokio::test(start_paused = true)]
async fn the_renewal_asks_protobuf_skips_its_answer_and_reads_a_protobuf_status() {
    // The 409 a renewal could get, as a protobuf Status in 7-byte chunks.
    let message = "Operation cannot be fulfilled on leases.coordination.k8s.io \"esp-node-01\": the object has been modified";
    let status = [
        pb(1, &[]),
        pb(2, b"Failure"),
        pb(3, message.as_bytes()),
        pb(4, b"Conflict"),
        pb(
            5,
            &[pb(1, b"esp-node-01"), pb(3, b"leases"), vec![0x28, 0x00]].concat(),
        ),
        vec![0x30, 0x99, 0x03],
    ]
    .concat();
    let body = [
        b"k8s\0".to_vec(),
        pb(1, &[pb(1, b"v1"), pb(2, b"Status")].concat()),
        pb(2, &status),
        pb(3, b""),
        pb(4, b""),
    ]
    .concat();
    let mut conflict = b"HTTP/1.1 409 Conflict\r\nContent-Type: application/vnd.kubernetes.protobuf\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for chunk in body.chunks(7) {
        conflict.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        conflict.extend_from_slice(chunk);
        conflict.extend_from_slice(b"\r\n");
    }
    conflict.extend_from_slice(b"0\r\n\r\n");

    let (mut rig, io, mut server) = Rig::new();
    let srv = tokio::spawn(async move {
        let first = read_request(&mut server).await;
        server
            .write_all(&recorded_2("E02-lease-patch-protobuf.response.http"))
            .await
            .unwrap();
        read_request(&mut server).await;
        server.write_all(&conflict).await.unwrap();
        first
    });
    let mut client = ApiClient::new(
        io,
        &rig.clock,
        endpoint(),
        &mut rig.bufs,
        &rig.metrics,
        TIMEOUT,
    );
    let renew = |buf: &mut [u8]| {
        buf[..2].copy_from_slice(b"{}");
        Ok(2)
    };
    let req = ApiRequest::write(ApiWrite::RenewLease, node());
    let mut meta = ObjectMeta::default();
    let reply = client.exchange(&req, renew, &mut meta).await.unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.content_class, ContentClass::Protobuf);
    assert_eq!(
        meta,
        ObjectMeta::default(),
        "a protobuf success is not read"
    );
    assert!(client.is_usable());

    let reply = client.exchange(&req, renew, &mut meta).await.unwrap();
    let sent = srv.await.unwrap();
    assert!(String::from_utf8(sent)
        .unwrap()
        .contains("\r\nAccept: application/vnd.kubernetes.protobuf,*/*\r\n"),);
    assert_eq!(reply.status, 409);
    let failure = client.failure();
    assert!(failure.is_status(), "{failure:?}");
    assert!(!failure.malformed, "{failure:?}");
    assert_eq!(failure.reason, "Conflict");
    assert_eq!(failure.code, Some(409));
    assert_eq!(failure.message, message);
    assert_eq!(failure.details_name, "esp-node-01");
    assert_eq!(failure.details_kind, "leases");
    assert!(client.is_usable());
}
