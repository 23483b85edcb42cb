//! The node lifecycle under simulated time, over an in-memory duplex stream with TLS on top
//! (no sockets): grace period, Unknown conditions, the unreachable taint, events, recovery, and
//! delayed answers that wait for the simulated clock.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use picokubelet_testkit::{
    format_micro_time, Clock, Fault, ServerOptions, SimClock, TestApiServer,
};
use rustls::pki_types::ServerName;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio_rustls::client::TlsStream;

const NODE_BODY: &str = r#"{"apiVersion":"v1","kind":"Node","metadata":{"name":"esp-node-01","labels":{"kubernetes.io/hostname":"esp-node-01","kubernetes.io/arch":"xtensa","kubernetes.io/os":"none"}},"spec":{"taints":[{"key":"picokubelet.dev/microcontroller","value":"true","effect":"NoSchedule"}]},"status":{"capacity":{"cpu":"240m","memory":"320Ki","pods":"0"},"conditions":[{"type":"MemoryPressure","status":"False","lastHeartbeatTime":"2026-11-24T13:04:12Z","lastTransitionTime":"2026-11-24T13:04:12Z","reason":"KubeletHasSufficientMemory","message":"ok"},{"type":"DiskPressure","status":"False","lastHeartbeatTime":"2026-11-24T13:04:12Z","lastTransitionTime":"2026-11-24T13:04:12Z","reason":"KubeletHasNoDiskPressure","message":"ok"},{"type":"PIDPressure","status":"False","lastHeartbeatTime":"2026-11-24T13:04:12Z","lastTransitionTime":"2026-11-24T13:04:12Z","reason":"KubeletHasSufficientPID","message":"ok"},{"type":"Ready","status":"True","lastHeartbeatTime":"2026-11-24T13:04:12Z","lastTransitionTime":"2026-11-24T13:04:12Z","reason":"KubeletReady","message":"ok"},{"type":"Vibes","status":"True","lastHeartbeatTime":"2026-11-24T13:04:12Z","lastTransitionTime":"2026-11-24T13:04:12Z","reason":"Immaculate","message":"all good"}]}}"#;

struct Conn {
    tls: TlsStream<DuplexStream>,
    buf: Vec<u8>,
    token: String,
}

struct Reply {
    status: u16,
    body: Value,
}

impl Conn {
    async fn open(server: &Arc<TestApiServer>) -> Conn {
        let (client_io, server_io) = tokio::io::duplex(64 * 1024);
        let s = server.clone();
        tokio::spawn(async move {
            let _ = s.serve_connection(server_io).await;
        });
        let connector = tokio_rustls::TlsConnector::from(server.client_tls_config(None));
        let tls = connector
            .connect(ServerName::try_from("kubernetes").unwrap(), client_io)
            .await
            .unwrap();
        Conn {
            tls,
            buf: Vec::new(),
            token: server.node_token("esp-node-01"),
        }
    }

    async fn send(&mut self, method: &str, path: &str, ct: Option<&str>, body: &str) {
        let mut raw = format!(
            "{method} {path} HTTP/1.1\r\nHost: kubernetes\r\nUser-Agent: picokubelet/0.1\r\nAuthorization: Bearer {}\r\nAccept: application/json\r\n",
            self.token
        );
        if let Some(ct) = ct {
            raw.push_str(&format!(
                "Content-Type: {ct}\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        raw.push_str("\r\n");
        raw.push_str(body);
        self.tls.write_all(raw.as_bytes()).await.unwrap();
        self.tls.flush().await.unwrap();
    }

    async fn fill(&mut self) {
        let mut tmp = [0u8; 8192];
        let n = self.tls.read(&mut tmp).await.unwrap();
        assert!(n > 0, "connection closed");
        self.buf.extend_from_slice(&tmp[..n]);
    }

    async fn read(&mut self) -> Reply {
        let head_end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            self.fill().await;
        };
        let head = String::from_utf8(self.buf[..head_end].to_vec()).unwrap();
        self.buf.drain(..head_end + 4);
        let status = head[9..12].parse().unwrap();
        let mut body = Vec::new();
        if head.contains("Transfer-Encoding: chunked") {
            loop {
                let line_end = loop {
                    if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                        break i;
                    }
                    self.fill().await;
                };
                let size =
                    usize::from_str_radix(std::str::from_utf8(&self.buf[..line_end]).unwrap(), 16)
                        .unwrap();
                while self.buf.len() < line_end + 2 + size + 2 {
                    self.fill().await;
                }
                body.extend_from_slice(&self.buf[line_end + 2..line_end + 2 + size]);
                self.buf.drain(..line_end + 2 + size + 2);
                if size == 0 {
                    break;
                }
            }
        } else {
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .unwrap()
                .parse()
                .unwrap();
            while self.buf.len() < len {
                self.fill().await;
            }
            body = self.buf.drain(..len).collect();
        }
        Reply {
            status,
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        }
    }

    async fn call(&mut self, method: &str, path: &str, ct: Option<&str>, body: &str) -> Reply {
        self.send(method, path, ct, body).await;
        self.read().await
    }
}

const LEASE: &str = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/esp-node-01";
const NODE: &str = "/api/v1/nodes/esp-node-01";

fn condition<'a>(node: &'a Value, ty: &str) -> &'a Value {
    node["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == ty)
        .unwrap()
}

fn taint_keys(node: &Value) -> Vec<String> {
    node["spec"]["taints"]
        .as_array()
        .map(|ts| {
            ts.iter()
                .map(|t| t["key"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn event_reasons(server: &TestApiServer) -> Vec<String> {
    server
        .events()
        .iter()
        .map(|e| {
            format!(
                "{}@{}",
                e["reason"].as_str().unwrap(),
                e["lastTimestamp"].as_str().unwrap()
            )
        })
        .collect()
}

async fn register(server: &Arc<TestApiServer>, clock: &SimClock) -> Conn {
    let mut c = Conn::open(server).await;
    assert_eq!(
        c.call("POST", "/api/v1/nodes", Some("application/json"), NODE_BODY)
            .await
            .status,
        201
    );
    let uid = server.node("esp-node-01").unwrap()["metadata"]["uid"].clone();
    let lease = json!({"apiVersion":"coordination.k8s.io/v1","kind":"Lease",
        "metadata":{"name":"esp-node-01","namespace":"kube-node-lease",
            "ownerReferences":[{"apiVersion":"v1","kind":"Node","name":"esp-node-01","uid":uid}]},
        "spec":{"holderIdentity":"esp-node-01","leaseDurationSeconds":40,
            "renewTime": format_micro_time(clock.now())}});
    let r = c
        .call(
            "POST",
            "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
            Some("application/json"),
            &lease.to_string(),
        )
        .await;
    assert_eq!(r.status, 201);
    c
}

async fn renew(c: &mut Conn, clock: &SimClock) {
    let body = json!({"spec":{"renewTime": format_micro_time(clock.now())}}).to_string();
    let r = c
        .call("PATCH", LEASE, Some("application/merge-patch+json"), &body)
        .await;
    assert_eq!(r.status, 200);
}

fn server_at_recording_start() -> (Arc<TestApiServer>, SimClock) {
    let clock = SimClock::at_recording_start();
    let server = TestApiServer::new(
        ServerOptions::default()
            .with_clock(clock.clone())
            .with_seed(1),
    );
    (Arc::new(server), clock)
}

#[tokio::test]
async fn node_goes_unknown_after_the_grace_period_and_recovers_like_12a_to_12g() {
    let (server, clock) = server_at_recording_start();
    let mut c = register(&server, &clock).await; // 13:04:12

    // Within a second the controller removes not-ready and adds the beta labels.
    clock.advance(Duration::from_secs(1));
    let node = c.call("GET", NODE, None, "").await.body;
    assert_eq!(taint_keys(&node), ["picokubelet.dev/microcontroller"]);
    assert_eq!(
        node["metadata"]["labels"]["beta.kubernetes.io/arch"],
        "xtensa"
    );
    assert_eq!(
        node["metadata"]["annotations"]["node.alpha.kubernetes.io/ttl"],
        "0"
    );

    // Last renewal observed at the 13:04:17 tick: still Ready at 13:05:06, Unknown at 13:05:07.
    clock.advance(Duration::from_secs(53)); // 13:05:06
    assert_eq!(
        condition(&server.node("esp-node-01").unwrap(), "Ready")["status"],
        "True"
    );
    clock.advance(Duration::from_secs(1));
    let node = c.call("GET", NODE, None, "").await.body;
    for ty in ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"] {
        let cond = condition(&node, ty);
        assert_eq!(cond["status"], "Unknown", "{ty}");
        assert_eq!(cond["reason"], "NodeStatusUnknown");
        assert_eq!(cond["message"], "Kubelet stopped posting node status.");
        assert_eq!(cond["lastTransitionTime"], "2026-11-24T13:05:07Z");
        assert_eq!(cond["lastHeartbeatTime"], "2026-11-24T13:04:12Z");
    }
    assert_eq!(
        condition(&node, "Vibes")["status"],
        "True",
        "custom conditions are left alone"
    );
    let unreachable = &node["spec"]["taints"][1];
    assert_eq!(
        unreachable,
        &json!({"key":"node.kubernetes.io/unreachable","effect":"NoSchedule","timeAdded":"2026-11-24T13:05:07Z"})
    );
    assert_eq!(
        event_reasons(&server),
        [
            "RegisteredNode@2026-11-24T13:04:17Z",
            "NodeNotReady@2026-11-24T13:05:07Z"
        ]
    );

    // A Lease renewal alone does not bring Ready back: the controller never sets it.
    clock.advance(Duration::from_secs(8));
    renew(&mut c, &clock).await;
    clock.advance(Duration::from_secs(10));
    let node = server.node("esp-node-01").unwrap();
    assert_eq!(condition(&node, "Ready")["status"], "Unknown");

    // Ready=True posted: the taint is still there in the answer, gone a second later.
    let ready = json!({"status":{"conditions":[{"type":"Ready","status":"True","reason":"KubeletReady",
        "message":"ok","lastHeartbeatTime":"2026-11-24T13:05:25Z","lastTransitionTime":"2026-11-24T13:05:25Z"}]}});
    let r = c
        .call(
            "PATCH",
            &format!("{NODE}/status"),
            Some("application/strategic-merge-patch+json"),
            &ready.to_string(),
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(taint_keys(&r.body).contains(&"node.kubernetes.io/unreachable".to_string()));
    clock.advance(Duration::from_secs(1));
    let node = c.call("GET", NODE, None, "").await.body;
    assert_eq!(taint_keys(&node), ["picokubelet.dev/microcontroller"]);
    assert_eq!(
        condition(&node, "MemoryPressure")["status"],
        "Unknown",
        "pressure stays Unknown"
    );
    assert_eq!(event_reasons(&server).len(), 2, "no event on recovery");

    // Renewing every 10 s keeps it Ready for minutes.
    for _ in 0..18 {
        clock.advance(Duration::from_secs(10));
        renew(&mut c, &clock).await;
    }
    assert_eq!(
        condition(&server.node("esp-node-01").unwrap(), "Ready")["status"],
        "True"
    );
}

#[tokio::test]
async fn renewal_with_an_older_renew_time_is_not_observed() {
    let (server, clock) = server_at_recording_start();
    let mut c = register(&server, &clock).await;
    // The agent's clock stepped back: it renews every 10 s, but with a renewTime in the past.
    for _ in 0..8 {
        clock.advance(Duration::from_secs(10));
        let body = json!({"spec":{"renewTime":"2026-11-24T13:00:00.000000Z"}}).to_string();
        assert_eq!(
            c.call("PATCH", LEASE, Some("application/merge-patch+json"), &body)
                .await
                .status,
            200
        );
    }
    assert_eq!(
        condition(&server.node("esp-node-01").unwrap(), "Ready")["status"],
        "Unknown"
    );
}

#[tokio::test]
async fn deleting_the_node_collects_its_lease_and_records_removing_node() {
    let (server, clock) = server_at_recording_start();
    let mut c = register(&server, &clock).await;
    clock.advance(Duration::from_secs(6));
    assert!(server.delete_node("esp-node-01"));
    assert!(
        server.lease("esp-node-01").is_none(),
        "Lease garbage-collected at once"
    );
    assert_eq!(c.call("GET", LEASE, None, "").await.status, 404);
    assert_eq!(c.call("GET", NODE, None, "").await.status, 404);
    clock.advance(Duration::from_secs(5));
    assert_eq!(
        event_reasons(&server),
        [
            "RegisteredNode@2026-11-24T13:04:17Z",
            "RemovingNode@2026-11-24T13:04:22Z"
        ]
    );
}

#[tokio::test]
async fn a_delayed_answer_waits_for_the_simulated_clock() {
    let (server, clock) = server_at_recording_start();
    let mut c = Conn::open(&server).await;
    server.fail_next(1, Fault::Delay(Duration::from_secs(30)));
    c.send("GET", "/version", None, "").await;
    let reader = tokio::spawn(async move { c.read().await.status });
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    assert!(!reader.is_finished(), "no answer before the clock moves");
    clock.advance(Duration::from_secs(30));
    assert_eq!(reader.await.unwrap(), 200);
}

#[tokio::test]
async fn idle_connections_close_after_90_s_and_unused_ones_after_32_s() {
    let (server, clock) = server_at_recording_start();
    let mut c = Conn::open(&server).await;
    assert_eq!(c.call("GET", "/version", None, "").await.status, 200);
    clock.advance(Duration::from_secs(89));
    assert_eq!(
        c.call("GET", "/version", None, "").await.status,
        200,
        "89 s idle is fine"
    );
    clock.advance(Duration::from_secs(90));
    let mut tmp = [0u8; 16];
    assert_eq!(
        c.tls.read(&mut tmp).await.unwrap(),
        0,
        "closed with close_notify"
    );

    let mut fresh = Conn::open(&server).await;
    clock.advance(Duration::from_secs(32));
    assert_eq!(
        fresh.tls.read(&mut tmp).await.unwrap(),
        0,
        "no request within 32 s"
    );
}
