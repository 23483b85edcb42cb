//! The server's own life as recorded in recorded-2 group G: an etcd stall (G3), a graceful
//! shutdown (G2) and start-up (G1), under the simulated clock, compared with the recordings
//! (status line, header names and order, values, body bytes).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::ErrorKind;
use std::net::TcpStream;
use std::time::Duration;

use common::{assert_like, raw_request, recorded, recorded_2, Client, Harness};
use picokubelet_testkit::{format_micro_time, format_time, Clock};
use serde_json::{json, Value};

const NODE: &str = "/api/v1/nodes/esp-node-01";
const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases";
const LEASE: &str = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/esp-node-01";
const MERGE: Option<&str> = Some("application/merge-patch+json");
const JSON: Option<&str> = Some("application/json");

/// A node registered with its Lease, as the agent does it.
fn registered(h: &Harness) -> (Client, String) {
    let token = h.server.node_token("esp-node-01");
    let mut c = h.client();
    let node = json!({"apiVersion":"v1","kind":"Node","metadata":{"name":"esp-node-01"},
        "status":{"conditions":[{"type":"Ready","status":"True",
            "lastHeartbeatTime": format_time(h.clock.now()),
            "lastTransitionTime": format_time(h.clock.now()),
            "reason":"KubeletReady","message":"ok"}]}});
    assert_eq!(
        c.request("POST", "/api/v1/nodes", &token, JSON, &node.to_string())
            .status,
        201
    );
    let lease = json!({"apiVersion":"coordination.k8s.io/v1","kind":"Lease",
        "metadata":{"name":"esp-node-01","namespace":"kube-node-lease"},
        "spec":{"holderIdentity":"esp-node-01","leaseDurationSeconds":40,
            "renewTime": format_micro_time(h.clock.now())}});
    assert_eq!(
        c.request("POST", LEASES, &token, JSON, &lease.to_string())
            .status,
        201
    );
    (c, token)
}

fn renewal(h: &Harness) -> String {
    json!({"spec":{"renewTime": format_micro_time(h.clock.now())}}).to_string()
}

fn renew_time(h: &Harness) -> Value {
    h.server.lease("esp-node-01").unwrap()["spec"]["renewTime"].clone()
}

#[test]
fn a_write_during_an_etcd_stall_times_out_after_34_5_s_and_is_not_stored_like_g3j() {
    let h = Harness::new("2026-12-02T15:38:46Z");
    let (mut c, token) = registered(&h);
    let before = renew_time(&h);
    h.clock.advance(Duration::from_secs(1));
    h.server.etcd_stall(true);
    let sent = h.clock.now();
    c.write(raw_request("PATCH", LEASE, &token, MERGE, &renewal(&h)).as_bytes());
    h.rt.block_on(h.server.requests_held(1));
    h.clock.advance(Duration::from_millis(34_500));
    let got = c.read_response().unwrap();
    assert_like(
        "G3j",
        &got,
        &recorded("G3j-patch-lease-etcd-frozen-75s.response.http"),
    );
    assert_eq!(
        got.header("Date").unwrap(),
        picokubelet_testkit::format_http_date(sent + Duration::from_millis(34_500))
    );
    h.server.etcd_stall(false);
    assert_eq!(renew_time(&h), before, "a timed-out write is not stored");
    // The connection stays usable: the next renewal goes through.
    assert_eq!(
        c.request("PATCH", LEASE, &token, MERGE, &renewal(&h))
            .status,
        200
    );
}

#[test]
fn a_read_during_an_etcd_stall_times_out_after_60_5_s_like_g3k() {
    let h = Harness::new("2026-12-02T15:38:46Z");
    let (mut c, token) = registered(&h);
    h.server.etcd_stall(true);
    c.write(raw_request("GET", NODE, &token, None, "").as_bytes());
    h.rt.block_on(h.server.requests_held(1));
    h.clock.advance(Duration::from_millis(60_500));
    let got = c.read_response().unwrap();
    assert_like(
        "G3k",
        &got,
        &recorded("G3k-get-node-etcd-frozen-75s.response.http"),
    );
}

#[test]
fn an_event_posted_during_a_stall_is_lost_like_g3l_and_g3n() {
    let h = Harness::new("2026-12-02T15:38:46Z");
    let (mut c, token) = registered(&h);
    h.server.etcd_stall(true);
    let event = r#"{"apiVersion":"v1","kind":"Event","metadata":{"generateName":"esp-node-01."},"involvedObject":{"kind":"Node","name":"esp-node-01","uid":"esp-node-01"},"reason":"Frozen","message":"etcd frozen","type":"Normal","source":{"component":"picokubelet"}}"#;
    let post = raw_request(
        "POST",
        "/api/v1/namespaces/default/events",
        &token,
        JSON,
        event,
    );
    c.write(post.as_bytes());
    h.rt.block_on(h.server.requests_held(1));
    h.clock.advance(Duration::from_millis(34_500));
    let got = c.read_response().unwrap();
    assert_like(
        "G3l",
        &got,
        &recorded("G3l-post-event-etcd-frozen-75s.response.http"),
    );
    h.server.etcd_stall(false);
    let admin = h.server.admin_token();
    let list = h.client().request(
        "GET",
        "/api/v1/namespaces/default/events?fieldSelector=reason%3DFrozen",
        &admin,
        None,
        "",
    );
    assert_eq!(list.status, 200);
    assert_eq!(list.json()["items"], json!([]), "G3n: nothing stored");
}

#[test]
fn held_requests_complete_when_etcd_comes_back_like_g3a() {
    let h = Harness::new("2026-12-02T15:37:52Z");
    let (mut c, token) = registered(&h);
    h.server.etcd_stall(true);
    h.clock.advance(Duration::from_secs(2));
    let sent = h.clock.now();
    let body = renewal(&h);
    c.write(raw_request("PATCH", LEASE, &token, MERGE, &body).as_bytes());
    h.rt.block_on(h.server.requests_held(1));
    h.clock.advance(Duration::from_secs(29));
    h.server.etcd_stall(false);
    let got = c.read_response().unwrap();
    assert_eq!(got.status_line, "HTTP/1.1 200 OK");
    assert_eq!(
        got.header("Date").unwrap(),
        picokubelet_testkit::format_http_date(sent + Duration::from_secs(29)),
        "answered at the thaw"
    );
    let lease = got.json();
    assert_eq!(lease["spec"]["renewTime"], json!(format_micro_time(sent)));
    assert_eq!(
        lease["metadata"]["managedFields"][0]["time"],
        json!(format_time(sent)),
        "computed when it arrived (G3a)"
    );
}

#[test]
fn during_a_stall_cache_reads_version_and_readyz_answer_at_once_and_livez_fails_like_g3() {
    let h = Harness::new("2026-12-02T15:37:52Z");
    let (mut c, token) = registered(&h);
    let admin = h.server.admin_token();
    h.server.etcd_stall(true);
    let cached = c.request(
        "GET",
        &format!("{LEASE}?resourceVersion=0"),
        &token,
        None,
        "",
    );
    assert_eq!(
        cached.status_line, "HTTP/1.1 200 OK",
        "G3c: from the watch cache"
    );
    assert_eq!(c.request("GET", "/version", &token, None, "").status, 200);
    let mut a = h.client();
    let readyz = a.request("GET", "/readyz?verbose", &admin, None, "");
    assert_like(
        "G3e",
        &readyz,
        &recorded("G3e-readyz-verbose-during-etcd-freeze.response.http"),
    );
    a.write(raw_request("GET", "/livez?verbose", &admin, None, "").as_bytes());
    h.rt.block_on(h.server.requests_held(1));
    h.clock.advance(Duration::from_millis(2_300));
    let livez = a.read_response().unwrap();
    assert_like(
        "G3f",
        &livez,
        &recorded("G3f-livez-during-etcd-freeze.response.http"),
    );
    h.server.etcd_stall(false);
    let ok = a.request("GET", "/livez", &admin, None, "");
    assert_eq!((ok.status, ok.body.as_slice()), (200, &b"ok"[..]));
}

#[test]
fn graceful_shutdown_answers_for_0_22_s_then_closes_idle_connections_and_refuses_like_g2() {
    let h = Harness::new("2026-12-02T15:40:43Z");
    let (mut kept, token) = registered(&h);
    let admin = h.server.admin_token();
    let addr = h.server.addr().unwrap();
    assert_eq!(
        kept.request("GET", "/version", &token, None, "").status,
        200
    );
    {
        let _rt = h.rt.enter();
        h.server.graceful_shutdown();
    }
    // T+2 ms: a kept-alive connection is still answered, without `Connection: close`.
    h.clock.advance(Duration::from_millis(2));
    let still = kept.request("GET", "/version", &token, None, "");
    assert_eq!(still.status, 200);
    assert_eq!(still.header("Connection"), None);
    // T+21 ms: a new connection gets its answer; /readyz fails its shutdown check.
    h.clock.advance(Duration::from_millis(19));
    let readyz = h.client().request("GET", "/readyz", &admin, None, "");
    assert_eq!(readyz.status_line, "HTTP/1.1 500 Internal Server Error");
    let text = String::from_utf8_lossy(&readyz.body).to_string();
    assert!(text.starts_with("[+]ping ok\n[+]log ok\n[+]informer-sync ok\n[+]poststarthook/start-apiserver-admission-initializer ok\n[+]poststarthook/gene"));
    assert!(text.ends_with("[-]shutdown failed: reason withheld\nreadyz check failed\n"));
    // T+0.22 s: the idle kept-alive connection is closed without an answer; connects refused.
    h.clock.advance(Duration::from_millis(199));
    h.rt.block_on(h.server.closed());
    assert!(kept.closed_cleanly(), "EOF before any response byte");
    let refused = TcpStream::connect(addr).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
}

#[test]
fn start_up_refuses_connections_then_answers_normally_like_g1() {
    let h = Harness::with("2026-12-02T15:41:51Z", |o| {
        o.with_startup_delay(Duration::from_millis(1_200))
    });
    let addr = h.server.addr().unwrap();
    let refused = TcpStream::connect(addr).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
    h.clock.advance(Duration::from_millis(1_200));
    h.rt.block_on(h.server.accepting());
    // A fresh cluster (G1c): the first answer is the ordinary 404, no 429/503 window.
    let token = h.server.node_token("esp-node-01");
    let first = h.client().request("GET", NODE, &token, None, "");
    assert_eq!(first.status_line, "HTTP/1.1 404 Not Found");
    assert_eq!(first.json()["reason"], "NotFound");
    registered(&h);
    // A restart with the state kept (G1): refused again for the start-up time, then 200.
    h.rt.block_on(h.server.restart(true)).unwrap();
    let refused = TcpStream::connect(addr).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
    h.clock.advance(Duration::from_millis(1_200));
    h.rt.block_on(h.server.accepting());
    assert_eq!(
        h.client().request("GET", NODE, &token, None, "").status,
        200
    );
}

/// The body of a recorded request file (after the blank line).
fn request_body(name: &str) -> String {
    let text = std::fs::read_to_string(recorded_2(name)).unwrap();
    let (_, body) = text.split_once("\n\n").unwrap();
    body.trim().to_string()
}

fn taints(h: &Harness, name: &str) -> Value {
    h.server.node(name).unwrap()["spec"]["taints"].clone()
}

#[test]
fn with_a_healthy_second_node_a_silent_one_also_gets_no_execute_like_g4() {
    let h = Harness::new("2026-12-02T15:33:15Z");
    // esp-boot-01 stays healthy: it posts Ready and renews every 10 s.
    let (mut healthy, healthy_token) = registered(&h);
    let silent_token = h.server.node_token("esp-test-02");
    let mut silent = h.client();
    let node = request_body("G4a-post-node-esp-test-02.request.txt");
    assert_eq!(
        silent
            .request("POST", "/api/v1/nodes", &silent_token, JSON, &node)
            .status,
        201
    );
    let uid = h.server.node("esp-test-02").unwrap()["metadata"]["uid"].clone();
    h.clock.advance(Duration::from_secs(1));
    let mut lease: Value = serde_json::from_str(&request_body(
        "G4b-post-lease-esp-test-02-last-renewal.request.txt",
    ))
    .unwrap();
    lease["metadata"]["ownerReferences"][0]["uid"] = uid;
    lease["spec"]["renewTime"] = json!(format_micro_time(h.clock.now()));
    assert_eq!(
        silent
            .request("POST", LEASES, &silent_token, JSON, &lease.to_string())
            .status,
        201
    );
    let ready_and_renew = |c: &mut Client, h: &Harness| {
        let now = format_time(h.clock.now());
        let status = json!({"status":{"conditions":[{"type":"Ready","status":"True",
            "lastHeartbeatTime": now, "lastTransitionTime": "2026-12-02T15:33:15Z",
            "reason":"KubeletReady","message":"ok"}]}});
        let path = "/api/v1/nodes/esp-node-01/status";
        let smp = Some("application/strategic-merge-patch+json");
        assert_eq!(
            c.request("PATCH", path, &healthy_token, smp, &status.to_string())
                .status,
            200
        );
        assert_eq!(
            c.request("PATCH", LEASE, &healthy_token, MERGE, &renewal(h))
                .status,
            200
        );
    };
    // Observed at the tick 15:33:20; Unknown at the tick 50 s later, 15:34:10 (G4c).
    for _ in 0..5 {
        ready_and_renew(&mut healthy, &h);
        h.clock.advance(Duration::from_secs(10));
    }
    h.clock.advance(Duration::from_secs(3)); // 15:34:09
    ready_and_renew(&mut healthy, &h);
    h.server.settle();
    assert_eq!(taints(&h, "esp-test-02").as_array().unwrap().len(), 1);
    h.clock.advance(Duration::from_secs(1)); // 15:34:10
    let want: Value = {
        let r = recorded("G4d-get-node-unknown.response.http");
        serde_json::from_slice::<Value>(&r.body).unwrap()["spec"]["taints"].clone()
    };
    assert_eq!(
        taints(&h, "esp-test-02"),
        want,
        "G4d: both unreachable taints"
    );
    assert!(
        taints(&h, "esp-node-01")
            .as_array()
            .is_none_or(|t| t.is_empty()),
        "the healthy node is left alone"
    );
    // G4f: renewing the Lease alone changes nothing.
    for _ in 0..5 {
        h.clock.advance(Duration::from_secs(10));
        ready_and_renew(&mut healthy, &h);
        let body = renewal(&h);
        let path = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/esp-test-02";
        assert_eq!(
            silent
                .request("PATCH", path, &silent_token, MERGE, &body)
                .status,
            200
        );
    }
    assert_eq!(taints(&h, "esp-test-02"), want);
    // G4g: Ready=True posted; NoSchedule gone after ~1 s, NoExecute at the next tick (~5 s).
    let status = request_body("G4g-patch-status-ready-true.request.txt");
    let smp = Some("application/strategic-merge-patch+json");
    let posted = silent.request(
        "PATCH",
        "/api/v1/nodes/esp-test-02/status",
        &silent_token,
        smp,
        &status,
    );
    assert_eq!(posted.json()["spec"]["taints"], want, "G4g: still both");
    let keys = |h: &Harness| {
        taints(h, "esp-test-02")
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                format!(
                    "{}:{}",
                    t["key"].as_str().unwrap(),
                    t["effect"].as_str().unwrap()
                )
            })
            .collect::<Vec<_>>()
    };
    h.clock.advance(Duration::from_secs(1));
    assert_eq!(
        keys(&h),
        [
            "picokubelet.dev/microcontroller:NoSchedule",
            "node.kubernetes.io/unreachable:NoExecute"
        ]
    );
    h.clock.advance(Duration::from_secs(4));
    assert_eq!(keys(&h), ["picokubelet.dev/microcontroller:NoSchedule"]);
}
