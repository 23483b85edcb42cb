//! TLS details, client certificates, HTTP framing edge cases and the fault hooks, over real TCP.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;
use picokubelet_testkit::{Fault, FaultRule, Handshake};
use rustls::pki_types::ServerName;

const NODE: &str = "/api/v1/nodes/esp-node-01";
const MINIMAL_NODE: &str = r#"{"apiVersion":"v1","kind":"Node","metadata":{"name":"esp-node-01"}}"#;

fn wait_for_requests(h: &Harness, n: usize) {
    for _ in 0..500 {
        if h.server.requests().len() >= n {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("request never reached the server");
}

#[test]
fn tls13_aes128_alpn_and_session_resumption() {
    let h = Harness::new("2026-11-24T13:04:12Z");
    let config = h.server.client_tls_config(None);
    let mut first = Client::with_config(&h.server, config.clone());
    let r = first.request("GET", "/version", "x", None, "");
    assert_eq!(r.status, 401, "unknown token");
    assert_eq!(
        first.tls().protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    assert_eq!(
        first.tls().negotiated_cipher_suite().unwrap().suite(),
        rustls::CipherSuite::TLS13_AES_128_GCM_SHA256
    );
    assert_eq!(first.tls().alpn_protocol(), Some(&b"http/1.1"[..]));
    let mut second = Client::with_config(&h.server, config);
    assert_eq!(
        second
            .request("GET", "/version", &h.server.admin_token(), None, "")
            .status,
        200
    );
    let kinds: Vec<Handshake> = h
        .server
        .connections()
        .into_iter()
        .map(|c| c.handshake)
        .collect();
    assert!(
        matches!(&kinds[0], Handshake::Full { suite, .. } if suite == "TLS13_AES_128_GCM_SHA256")
    );
    assert!(matches!(&kinds[1], Handshake::Resumed { .. }), "{kinds:?}");
    assert_eq!(h.server.tls_handshakes(), 2);
}

#[test]
fn server_certificate_names_kubernetes_first_and_verifies_by_dns_name() {
    let h = Harness::new("2026-11-24T13:04:12Z");
    for name in ["kubernetes", "localhost"] {
        let mut c = Client::connect(&h.server, ServerName::try_from(name).unwrap());
        assert_eq!(
            c.request("GET", "/version", &h.server.admin_token(), None, "")
                .status,
            200
        );
    }
    let kubeconfig = h.server.kubeconfig("tok");
    assert!(kubeconfig.contains(&format!(
        "server: https://127.0.0.1:{}",
        h.server.addr().unwrap().port()
    )));
    assert!(kubeconfig.contains("certificate-authority-data: LS0tLS1CRUdJTi"));
    assert!(kubeconfig.contains("token: tok"));
    let with_sni = h
        .server
        .kubeconfig_for("https://127.0.0.1:1", "t", Some("kubernetes"));
    assert!(with_sni.contains("tls-server-name: kubernetes"));
}

#[test]
fn client_certificate_authenticates_a_node() {
    let h = Harness::new("2026-11-24T13:04:12Z");
    let cert = h
        .server
        .issue_client_cert("system:node:esp-node-01", &["system:nodes"]);
    let mut c = Client::with_config(&h.server, h.server.client_tls_config(Some(&cert)));
    let send = |c: &mut Client, method: &str, path: &str, body: &str| {
        let mut raw =
            format!("{method} {path} HTTP/1.1\r\nHost: x\r\nUser-Agent: picokubelet/0.1\r\n");
        if !body.is_empty() {
            raw.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        raw.push_str("\r\n");
        raw.push_str(body);
        c.send(raw.as_bytes()).unwrap()
    };
    assert_eq!(
        send(&mut c, "POST", "/api/v1/nodes", MINIMAL_NODE).status,
        201
    );
    let other = send(&mut c, "GET", "/api/v1/nodes/some-other-node", "");
    assert_eq!(other.status, 403);
    assert_eq!(other.header("X-Content-Type-Options"), Some("nosniff"));
    assert!(String::from_utf8_lossy(&other.body)
        .contains("node 'esp-node-01' cannot read 'some-other-node'"));
    assert_eq!(
        h.server.connections()[0].client_cert_user.as_deref(),
        Some("system:node:esp-node-01")
    );
    // Without a certificate or token: anonymous, allowed /version only.
    let mut anon = h.client();
    assert_eq!(send(&mut anon, "GET", "/version", "").status, 200);
    assert_eq!(send(&mut anon, "GET", NODE, "").status, 403);
}

#[test]
fn status_faults_answer_with_retry_after_then_stop() {
    let h = Harness::new("2026-11-24T13:04:12Z");
    let token = h.server.node_token("esp-node-01");
    let mut c = h.client();
    h.server.fail_next(2, Fault::unavailable(3));
    for _ in 0..2 {
        let r = c.request("GET", NODE, &token, None, "");
        assert_eq!(r.status_line, "HTTP/1.1 503 Service Unavailable");
        assert_eq!(r.header("Retry-After"), Some("3"));
        assert_eq!(r.json()["reason"], "ServiceUnavailable");
        assert_eq!(r.json()["details"]["retryAfterSeconds"], 3);
    }
    assert_eq!(c.request("GET", NODE, &token, None, "").status, 404);
    h.server
        .inject(FaultRule::new(Fault::status(500)).method("PATCH").times(1));
    assert_eq!(
        c.request("GET", NODE, &token, None, "").status,
        404,
        "only PATCH matches"
    );
    let r = c.request(
        "PATCH",
        NODE,
        &token,
        Some("application/merge-patch+json"),
        "{}",
    );
    assert_eq!(r.status, 500);
    assert_eq!(r.json()["reason"], "InternalError");
    let log = h.server.requests();
    assert_eq!(log.len(), 5);
    assert_eq!(log[0].fault, Some(Fault::unavailable(3)));
    assert_eq!(log[2].fault, None);
    assert!(log
        .iter()
        .all(|r| r.connection == 1 && r.response_bytes > 0 && r.request_bytes > 0));
}

#[test]
fn reset_and_truncate_drop_the_connection() {
    let h = Harness::new("2026-11-24T13:04:12Z");
    let token = h.server.admin_token();
    let mut c = h.client();
    h.server.fail_next(1, Fault::Reset);
    let raw = format!("GET /version HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n");
    assert!(c.send(raw.as_bytes()).is_err(), "no answer after a reset");
    let mut c = h.client();
    h.server.fail_next(1, Fault::Truncate(40));
    assert!(c.send(raw.as_bytes()).is_err(), "cut answer");
    let mut c = h.client();
    assert_eq!(c.send(raw.as_bytes()).unwrap().status, 200);
    let log = h.server.requests();
    assert_eq!(log[0].status, None);
    assert_eq!(log[1].response_bytes, 40);
    assert_eq!(log[2].status, Some(200));
    assert_eq!(h.server.take_requests().len(), 3);
    assert!(h.server.requests().is_empty());
}

#[test]
fn stall_holds_until_restart_and_restart_keeps_or_loses_state() {
    let h = Harness::new("2026-11-24T13:04:12Z");
    let token = h.server.node_token("esp-node-01");
    let mut c = h.client();
    assert_eq!(
        c.request(
            "POST",
            "/api/v1/nodes",
            &token,
            Some("application/json"),
            MINIMAL_NODE
        )
        .status,
        201
    );
    let port = h.server.addr().unwrap().port();
    h.server.fail_next(1, Fault::Stall);
    let stalled = std::thread::spawn(move || {
        let raw = "GET /version HTTP/1.1\r\nHost: x\r\n\r\n";
        c.send(raw.as_bytes()).map(|r| r.status)
    });
    wait_for_requests(&h, 2);
    h.rt.block_on(h.server.restart(true)).unwrap();
    assert!(
        stalled.join().unwrap().is_err(),
        "the stalled request never got an answer"
    );
    assert_eq!(
        h.server.addr().unwrap().port(),
        port,
        "same port after restart"
    );
    let mut c = h.client();
    assert_eq!(
        c.request("GET", NODE, &token, None, "").status,
        200,
        "state kept"
    );
    assert!(
        matches!(
            h.server.connections().last().unwrap().handshake,
            Handshake::Full { .. }
        ),
        "tickets from before the restart are not accepted"
    );
    h.rt.block_on(h.server.restart(false)).unwrap();
    let mut c = h.client();
    assert_eq!(
        c.request("GET", NODE, &token, None, "").status,
        404,
        "state lost"
    );
    assert_eq!(h.server.resource_version(), 599);
}

#[test]
fn stopped_listener_refuses_connections_until_resumed() {
    let h = Harness::new("2026-11-24T13:04:12Z");
    let addr = h.server.addr().unwrap();
    h.rt.block_on(h.server.stop_listening());
    assert!(TcpStream::connect(addr).is_err());
    let again = h.rt.block_on(h.server.resume_listening()).unwrap();
    assert_eq!(again, addr);
    let mut c = h.client();
    assert_eq!(
        c.request("GET", "/version", &h.server.admin_token(), None, "")
            .status,
        200
    );
}

#[test]
fn pipelining_chunked_bodies_expect_continue_and_bad_requests() {
    let h = Harness::new("2026-11-24T13:04:12Z");
    let token = h.server.node_token("esp-node-01");
    let mut c = h.client();
    // A chunked request body with Expect: 100-continue.
    let (a, b) = MINIMAL_NODE.split_at(20);
    let raw = format!(
        "POST /api/v1/nodes HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
        a.len(),
        b.len()
    );
    let interim = c.send(raw.as_bytes()).unwrap();
    assert_eq!(interim.status_line, "HTTP/1.1 100 Continue");
    assert_eq!(c.read_response().unwrap().status, 201);
    // Two pipelined requests in one write, answered in order on the same connection.
    let one = format!("GET {NODE} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n");
    let two = format!("GET /version HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n");
    let first = c.send(format!("{one}{two}").as_bytes()).unwrap();
    assert_eq!(first.status, 200);
    assert_eq!(first.json()["metadata"]["name"], "esp-node-01");
    assert_eq!(
        c.read_response().unwrap().header("Content-Length"),
        Some("379")
    );
    // A broken request line gets Go's plain 400 and a close.
    let mut tls = rustls::StreamOwned::new(
        rustls::ClientConnection::new(
            h.server.client_tls_config(None),
            ServerName::try_from("kubernetes").unwrap(),
        )
        .unwrap(),
        TcpStream::connect(h.server.addr().unwrap()).unwrap(),
    );
    tls.write_all(b"GET / HTTP/1.1\r\nBad Header\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = tls.read_to_end(&mut answer);
    assert_eq!(
        String::from_utf8_lossy(&answer),
        "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request"
    );
    // HTTP/1.1 without Host.
    let mut c = h.client();
    let r = c
        .send(b"GET /version HTTP/1.1\r\nAccept: application/json\r\n\r\n")
        .unwrap();
    assert_eq!(
        r.status_line,
        "HTTP/1.1 400 Bad Request: missing required Host header"
    );
    assert!(c.is_closed());
}

#[test]
fn node_and_lease_deleted_behind_the_agents_back() {
    let h = Harness::new("2026-11-24T13:04:12Z");
    let token = h.server.node_token("esp-node-01");
    let mut c = h.client();
    assert_eq!(
        c.request(
            "POST",
            "/api/v1/nodes",
            &token,
            Some("application/json"),
            MINIMAL_NODE
        )
        .status,
        201
    );
    let lease = r#"{"metadata":{"name":"esp-node-01","namespace":"kube-node-lease"},"spec":{"holderIdentity":"esp-node-01"}}"#;
    let leases = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases";
    assert_eq!(
        c.request("POST", leases, &token, Some("application/json"), lease)
            .status,
        201
    );
    assert!(h.server.delete_lease("esp-node-01"));
    assert_eq!(
        c.request("GET", &format!("{leases}/esp-node-01"), &token, None, "")
            .status,
        404
    );
    assert!(h.server.delete_node("esp-node-01"));
    assert_eq!(c.request("GET", NODE, &token, None, "").status, 404);
    assert!(h.server.node("esp-node-01").is_none());
    // A node may not touch another node's lease.
    let other = r#"{"metadata":{"name":"other"},"spec":{}}"#;
    let r = c.request("POST", leases, &token, Some("application/json"), other);
    assert_eq!(r.status, 403);
    assert_eq!(
        r.json()["message"],
        "leases.coordination.k8s.io \"other\" is forbidden: can only access node lease with the same name as the requesting node"
    );
}
