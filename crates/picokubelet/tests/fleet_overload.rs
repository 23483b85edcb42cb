//! A fleet against a struggling server, in simulated time (tokio's paused clock): 30 boards,
//! each the real agent with its own TLS session (embedded-tls, verified against the test
//! server's CA) through the fleet's handshake pacer, against the test API server in overload
//! mode for ten minutes (`picokubelet_testkit::Overload`: one seat, latency growing with the
//! queue, APF's 429 past it, slow handshakes). Renewals come late, but the fleet sends no more
//! requests and makes few handshakes while the server struggles, and every board is Ready
//! again soon after the load drops.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use embedded_io_adapters::tokio_1::FromTokio;
use picokubelet::board::mac_from_name;
use picokubelet::pacer::{HandshakePacer, PacedConnector, PacedOpener};
use picokubelet::runtime::{SimulatedBoard, TokioClock, TracingLog};
use picokubelet::telemetry::BoardTelemetry;
use picokubelet_core::agent::{run_agent, AgentBuffers, AgentConfig, AgentState, Runtime};
use picokubelet_core::http::request::BearerToken;
use picokubelet_core::k8s::name::NodeName;
use picokubelet_core::k8s::node::NodeProfile;
use picokubelet_core::k8s::node_ids::NodeIds;
use picokubelet_core::runtime::Connector;
use picokubelet_core::tls::{ServerTrust, TlsOpener};
use picokubelet_testkit::{Handshake, Overload, ServerOptions, TestApiServer};
use tokio::io::DuplexStream;

const BOARDS: usize = 30;
const MINUTE: Duration = Duration::from_secs(60);
/// Normal, overloaded, recovering.
const OVERLOAD_FROM: Duration = Duration::from_secs(5 * 60);
const OVERLOAD_UNTIL: Duration = Duration::from_secs(15 * 60);
const END: Duration = Duration::from_secs(20 * 60);

/// 30 boards renew 3 times a second; this server completes one request a second (one seat,
/// 1 s each), lets 10 wait, and a handshake costs it 5 s.
const STRUGGLING: Overload = Overload {
    seats: 1,
    request_time: Duration::from_secs(1),
    queue_length: 10,
    handshake_cost: 5,
};

/// `--max-handshakes` for this fleet.
const PACER_SLOTS: usize = 4;

/// Dials the test server through a fresh duplex pipe.
struct Pipe {
    server: Rc<TestApiServer>,
}

impl Connector for Pipe {
    type Socket = FromTokio<DuplexStream>;
    type Error = std::convert::Infallible;

    async fn connect(&mut self) -> Result<Self::Socket, Self::Error> {
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        let server = self.server.clone();
        tokio::task::spawn_local(async move {
            let _ = server.serve_connection(theirs).await;
        });
        Ok(FromTokio::new(ours))
    }
}

/// A board's name, state and what the host records about it.
type Slot = (String, Rc<AgentState>, Rc<BoardTelemetry>);

fn name(i: usize) -> String {
    format!("vb-overload-{i:02}")
}

async fn board(
    server: Rc<TestApiServer>,
    ca: Rc<Vec<u8>>,
    token: String,
    (name, state, telemetry): Slot,
    pacer: HandshakePacer,
    start_at: tokio::time::Instant,
) {
    tokio::time::sleep_until(start_at).await;
    let Ok(node) = NodeName::new(&name) else {
        panic!("{name}: not a node name")
    };
    let ids = NodeIds::new(mac_from_name(&name), [7; 16]);
    let profile = NodeProfile::esp32s3(node, ids, std::net::Ipv4Addr::new(10, 0, 0, 1));
    let mut config = AgentConfig::new("127.0.0.1:6443", Some(BearerToken::new(&token)), profile);
    config.server_name = "127.0.0.1";
    let mut rt = Runtime {
        clock: TokioClock::start(),
        connector: PacedConnector::new(Pipe { server }, pacer),
        opener: PacedOpener(TlsOpener::new(ServerTrust::Ca(&ca))),
        rng: rand_core::OsRng,
        board: SimulatedBoard::for_name(&name),
        log: TracingLog::new(&name).quiet(true).with_telemetry(telemetry),
    };
    let mut bufs = Box::new(AgentBuffers::new());
    let Err(e) = run_agent(&mut rt, &config, &state, &mut bufs).await;
    panic!("{name}: {e:?}");
}

fn ready(server: &TestApiServer, name: &str) -> bool {
    let Some(node) = server.node(name) else {
        return false;
    };
    node["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

fn between(at: SystemTime, wall0: SystemTime, from: Duration, until: Duration) -> bool {
    at >= wall0 + from && at < wall0 + until
}

#[tokio::test(start_paused = true)]
async fn a_fleet_degrades_gracefully_on_a_struggling_server_and_recovers() {
    let wall0 = UNIX_EPOCH + Duration::from_secs(1_795_525_452);
    let server = Rc::new(TestApiServer::new(
        ServerOptions::default()
            .with_clock(picokubelet_testkit::TokioClock::new(wall0))
            .with_seed(14),
    ));
    let ca = Rc::new(server.ca_der());
    let start = tokio::time::Instant::now();
    let pacer = HandshakePacer::new(PACER_SLOTS);
    let local = tokio::task::LocalSet::new();
    let boards: Vec<Slot> = (0..BOARDS)
        .map(|i| {
            (
                name(i),
                Rc::new(AgentState::new()),
                Rc::new(BoardTelemetry::new()),
            )
        })
        .collect();
    let all_ready = Rc::new(Cell::new(None));
    local
        .run_until(async {
            for (i, slot) in boards.iter().enumerate() {
                let start_at = start + Duration::from_millis(10_000 * i as u64 / BOARDS as u64);
                tokio::task::spawn_local(board(
                    server.clone(),
                    ca.clone(),
                    server.node_token(&slot.0),
                    slot.clone(),
                    pacer.clone(),
                    start_at,
                ));
            }
            tokio::time::sleep_until(start + OVERLOAD_FROM).await;
            assert!(boards.iter().all(|(n, _, _)| ready(&server, n)));
            server.set_overload(Some(STRUGGLING));
            tokio::time::sleep_until(start + OVERLOAD_UNTIL).await;
            server.set_overload(None);
            // Every board Ready again: checked every second of simulated time.
            while tokio::time::Instant::now() < start + END {
                tokio::time::sleep(Duration::from_secs(1)).await;
                if all_ready.get().is_none() && boards.iter().all(|(n, _, _)| ready(&server, n)) {
                    all_ready.set(Some(tokio::time::Instant::now() - start));
                }
            }
        })
        .await;

    let requests = server.requests();
    let count = |from, until| {
        requests
            .iter()
            .filter(|r| between(r.at, wall0, from, until))
            .count()
    };
    let normal = count(OVERLOAD_FROM - 10 * MINUTE / 2, OVERLOAD_FROM) * 2;
    let overloaded = count(OVERLOAD_FROM, OVERLOAD_UNTIL);
    let rejected = requests
        .iter()
        .filter(|r| between(r.at, wall0, OVERLOAD_FROM, OVERLOAD_UNTIL) && r.status == Some(429))
        .count();
    let connections = server.connections();
    let handshakes = |from, until| {
        connections
            .iter()
            .filter(|c| between(c.opened, wall0, from, until))
            .filter(|c| !matches!(c.handshake, Handshake::None))
            .count()
    };
    let during = handshakes(OVERLOAD_FROM, OVERLOAD_UNTIL + MINUTE);
    let renewals_due = BOARDS * 60;
    let mut late = picokubelet::telemetry::Lateness::default();
    for (_, _, t) in &boards {
        late.merge(&t.lateness());
    }
    let over_a_second: u64 = late.buckets[8..].iter().sum();
    eprintln!(
        "fleet_overload: requests: {normal} in 10 normal minutes, {overloaded} in 10 overloaded ({rejected} got 429); \
         handshakes during + 1 min: {during}; renewals later than 1 s: {over_a_second} of {}; \
         all Ready again {:?} after the start",
        late.count,
        all_ready.get()
    );
    // The server struggled: requests were rejected and renewals came late.
    assert!(rejected > 0);
    assert!(over_a_second > 0);
    // No request amplification: the overloaded ten minutes cost the server no more requests
    // than ten normal ones (about one per renewal due).
    assert!(normal >= renewals_due, "{normal} in normal times");
    assert!(
        overloaded <= normal,
        "{overloaded} requests overloaded, {normal} in normal times"
    );
    // No handshake storm. The pacer lets at most 4 handshakes run at once (fewer once one
    // times out) and each ends within the 10 s connect time-out, so the server sees at most
    // 4 × 660 s / 10 s = 264 handshakes in the ten minutes and the minute after, whatever the
    // boards' backoffs.
    assert!(during <= 264, "{during} handshakes");
    // Every board Ready again within five minutes of the load dropping.
    let back = all_ready.get().expect("every board Ready again");
    assert!(back <= OVERLOAD_UNTIL + 5 * MINUTE, "{back:?}");
}
