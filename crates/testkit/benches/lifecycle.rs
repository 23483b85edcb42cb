//! What the node lifecycle controller costs the test server at fleet sizes: the monitor tick
//! (with a fleet renewing every 10 s, and with no renewals since the last tick) and the latency
//! of a Lease renewal (merge PATCH) as its node sends it, over an in-memory plain-HTTP connection
//! under the simulated clock.
//!
//! `cargo bench -p picokubelet-testkit --bench lifecycle [-- 1000 5000 10000]`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use picokubelet_testkit::{format_micro_time, Clock, ServerOptions, SimClock, TestApiServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

const RENEW_EVERY_S: u64 = 10;
const SIMULATED_S: u64 = 60;

struct Conn {
    io: DuplexStream,
    buf: Vec<u8>,
}

impl Conn {
    fn open(server: &Arc<TestApiServer>) -> Conn {
        let (client, server_end) = tokio::io::duplex(256 * 1024);
        let s = server.clone();
        tokio::spawn(async move {
            let _ = s.serve_plain_connection(server_end).await;
        });
        Conn {
            io: client,
            buf: Vec::new(),
        }
    }

    /// Sends one request and reads its answer; returns the status code.
    async fn call(&mut self, token: &str, method: &str, path: &str, ct: &str, body: &str) -> u16 {
        let raw = format!(
            "{method} {path} HTTP/1.1\r\nHost: kubernetes\r\nUser-Agent: picokubelet/0.1\r\nAuthorization: Bearer {token}\r\nAccept: application/json\r\nContent-Type: {ct}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.io.write_all(raw.as_bytes()).await.unwrap();
        let head_end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            self.fill().await;
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).to_string();
        let status: u16 = head[9..12].parse().unwrap();
        let body_end = if let Some(len) = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
        {
            head_end + len.parse::<usize>().unwrap()
        } else {
            // One chunk then the terminator, as the server frames large bodies.
            loop {
                if let Some(i) = self.buf[head_end..]
                    .windows(7)
                    .position(|w| w == b"\r\n0\r\n\r\n")
                {
                    break head_end + i + 7;
                }
                self.fill().await;
            }
        };
        while self.buf.len() < body_end {
            self.fill().await;
        }
        self.buf.drain(..body_end);
        status
    }

    async fn fill(&mut self) {
        let mut tmp = [0u8; 64 * 1024];
        let n = self.io.read(&mut tmp).await.unwrap();
        assert!(n > 0, "server closed the connection");
        self.buf.extend_from_slice(&tmp[..n]);
    }
}

fn node_body(name: &str) -> String {
    format!(
        r#"{{"apiVersion":"v1","kind":"Node","metadata":{{"name":"{name}","labels":{{"kubernetes.io/hostname":"{name}","kubernetes.io/arch":"riscv32","kubernetes.io/os":"none"}}}},"status":{{"capacity":{{"cpu":"160m","memory":"320Ki","pods":"0"}},"conditions":[{{"type":"Ready","status":"True","lastHeartbeatTime":"2026-11-24T13:04:12Z","lastTransitionTime":"2026-11-24T13:04:12Z","reason":"KubeletReady","message":"ok"}}]}}}}"#
    )
}

fn lease_body(name: &str, uid: &str, renew: &str) -> String {
    format!(
        r#"{{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{{"name":"{name}","namespace":"kube-node-lease","ownerReferences":[{{"apiVersion":"v1","kind":"Node","name":"{name}","uid":"{uid}"}}]}},"spec":{{"holderIdentity":"{name}","leaseDurationSeconds":40,"renewTime":"{renew}"}}}}"#
    )
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn run(n: usize) {
    let clock = SimClock::at_recording_start();
    let server = Arc::new(TestApiServer::new(
        ServerOptions::default()
            .with_clock(clock.clone())
            .with_seed(7),
    ));
    let names: Vec<String> = (0..n).map(|i| format!("esp-bench-{i:05}")).collect();
    let tokens: Vec<String> = names.iter().map(|nm| server.node_token(nm)).collect();
    let mut conn = Conn::open(&server);
    let setup = Instant::now();
    for (name, token) in names.iter().zip(&tokens) {
        let s = conn
            .call(
                token,
                "POST",
                "/api/v1/nodes",
                "application/json",
                &node_body(name),
            )
            .await;
        assert_eq!(s, 201);
        let uid = server.node(name).unwrap()["metadata"]["uid"]
            .as_str()
            .unwrap()
            .to_string();
        let lease = lease_body(name, &uid, &format_micro_time(clock.now()));
        let path = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases";
        assert_eq!(
            conn.call(token, "POST", path, "application/json", &lease)
                .await,
            201
        );
    }
    let setup = setup.elapsed();

    // A fleet renewing every 10 s, spread evenly: each simulated second, a tenth of the nodes.
    let mut busy_ticks = Vec::new();
    let mut latencies = Vec::new();
    let per_second = n.div_ceil(RENEW_EVERY_S as usize);
    for second in 0..SIMULATED_S {
        clock.advance(Duration::from_secs(1));
        // Any monitor tick due now runs here, not inside the first request.
        let t = Instant::now();
        server.settle();
        if (second + 1) % 5 == 0 {
            busy_ticks.push(t.elapsed());
        }
        let slot = (second % RENEW_EVERY_S) as usize;
        for i in (slot * per_second..((slot + 1) * per_second).min(n)).collect::<Vec<_>>() {
            let path = format!(
                "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{}",
                names[i]
            );
            let body = format!(
                r#"{{"spec":{{"renewTime":"{}"}}}}"#,
                format_micro_time(clock.now())
            );
            let t = Instant::now();
            let s = conn
                .call(
                    &tokens[i],
                    "PATCH",
                    &path,
                    "application/merge-patch+json",
                    &body,
                )
                .await;
            latencies.push(t.elapsed());
            assert_eq!(s, 200);
        }
    }
    // A tick 5 s after the last one with only the renewals sent just after it (a tenth of the
    // fleet) in between; everyone is still within the grace period.
    clock.advance(Duration::from_secs(5));
    let t = Instant::now();
    server.settle();
    let quiet_tick = t.elapsed();
    let quiet_visits = server.controller_tick_visits();

    busy_ticks.sort();
    latencies.sort();
    let ready = names
        .iter()
        .take(3)
        .all(|nm| server.node(nm).unwrap()["status"]["conditions"][0]["status"] == "True");
    assert!(ready, "renewing nodes must stay Ready");
    println!(
        "nodes={n:>6}  setup {:>6.2} s  tick (10 s renewals) median {:>9.1} µs max {:>9.1} µs  \
         tick (renewals of 1 s only: {} Nodes) {:>9.1} µs  lease PATCH median {:>7.1} µs p99 {:>7.1} µs ({} requests)",
        setup.as_secs_f64(),
        micros(percentile(&busy_ticks, 0.5)),
        micros(percentile(&busy_ticks, 1.0)),
        quiet_visits,
        micros(quiet_tick),
        micros(percentile(&latencies, 0.5)),
        micros(percentile(&latencies, 0.99)),
        latencies.len(),
    );
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![1000, 5000, 10000]
    } else {
        sizes
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for n in sizes {
        rt.block_on(run(n));
    }
}
