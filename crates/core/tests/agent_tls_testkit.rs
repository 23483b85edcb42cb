//! The agent over real TLS (embedded-tls through `tls::TlsOpener`, verified against the
//! testkit's CA) talking to the Kubernetes API test server, over `tokio::io::duplex` pipes under
//! tokio's paused clock: a steady day on one handshake, an outage the lifecycle controller
//! notices, an admin deleting the Node, a revoked token, and certificates that must be refused
//! before any request is written.
mod agent_support;

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agent_support::{
    local, profile, roomy_board, LogRef, SimClock, TestBoard, TestLog, BOOT_WALL_SECS, DAY, HOUR,
    MINUTE, NODE, SECOND,
};
use embedded_io_adapters::tokio_1::FromTokio;
use picokubelet_core::agent::{run_agent, AgentBuffers, AgentConfig, AgentState, Runtime};
use picokubelet_core::http::request::BearerToken;
use picokubelet_core::k8s::taint::MICROCONTROLLER_TAINT;
use picokubelet_core::runtime::Connector;
use picokubelet_core::tls::{Rejection, ServerTrust, TlsOpener};
use picokubelet_testkit::{Fault, FaultRule, ServerOptions, TestApiServer, TlsOptions, TokioClock};
use serde_json::Value;

const LEASE_PATH: &str = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/";
const UNREACHABLE: &str = "node.kubernetes.io/unreachable";

use agent_support::counted::{Counted, Wire};

/// Dials the test server through a fresh duplex pipe; `down` refuses like a dead network.
struct PipeConnector {
    server: Rc<TestApiServer>,
    down: Rc<Cell<bool>>,
    wire: Rc<Wire>,
    connects: Rc<Cell<u32>>,
}

impl Connector for PipeConnector {
    type Socket = Counted;
    type Error = &'static str;

    async fn connect(&mut self) -> Result<Counted, &'static str> {
        if self.down.get() {
            return Err("network unreachable");
        }
        self.connects.set(self.connects.get() + 1);
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        let server = self.server.clone();
        tokio::task::spawn_local(async move {
            let _ = server.serve_connection(theirs).await;
        });
        Ok(Counted::new(FromTokio::new(ours), self.wire.clone()))
    }
}

/// A CSPRNG: embedded-tls draws its key shares and randoms from it.
struct Os;

impl rand_core::RngCore for Os {
    fn next_u32(&mut self) -> u32 {
        rand_core::OsRng.next_u32()
    }
    fn next_u64(&mut self) -> u64 {
        rand_core::OsRng.next_u64()
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        rand_core::OsRng.fill_bytes(dest)
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        rand_core::OsRng.try_fill_bytes(dest)
    }
}

impl rand_core::CryptoRng for Os {}

/// The test server on tokio's clock, and what the agent's body shares with the test.
struct World {
    start: tokio::time::Instant,
    server: Rc<TestApiServer>,
    token: String,
    down: Rc<Cell<bool>>,
    wire: Rc<Wire>,
    connects: Rc<Cell<u32>>,
    log: Rc<TestLog>,
}

impl World {
    fn new() -> World {
        Self::with_tls(TlsOptions::default())
    }

    /// A world whose server presents the chain `tls` makes.
    fn with_tls(tls: TlsOptions) -> World {
        let wall = UNIX_EPOCH + Duration::from_secs(BOOT_WALL_SECS);
        let server = TestApiServer::new(
            ServerOptions {
                tls,
                ..ServerOptions::default()
            }
            .with_clock(TokioClock::new(wall))
            .with_seed(7),
        );
        let token = server.node_token(NODE);
        let start = tokio::time::Instant::now();
        let log = Rc::new(TestLog::default());
        log.start.set(Some(start));
        World {
            start,
            server: Rc::new(server),
            token,
            down: Rc::new(Cell::new(false)),
            wire: Rc::new(Wire::default()),
            connects: Rc::new(Cell::new(0)),
            log,
        }
    }

    fn config(&self) -> AgentConfig<'_> {
        let mut cfg = AgentConfig::new(
            "127.0.0.1:6443",
            Some(BearerToken::new(&self.token)),
            profile(),
        );
        cfg.server_name = "127.0.0.1";
        cfg
    }

    async fn at(&self, at: Duration) {
        tokio::time::sleep_until(self.start + at).await;
    }

    /// Runs the agent until `until` (from the world's start) beside `script`; returns the
    /// opener so the test can read its last rejection.
    async fn run<'c>(
        &self,
        cfg: &AgentConfig<'_>,
        trust: ServerTrust<'c>,
        state: &AgentState,
        until: Duration,
        script: impl std::future::Future<Output = ()>,
    ) -> TlsOpener<'c> {
        let mut bufs = Box::new(AgentBuffers::new());
        self.run_in(cfg, trust, state, until, script, &mut bufs)
            .await
    }

    /// [`Self::run`] with the caller's buffers.
    async fn run_in<'c>(
        &self,
        cfg: &AgentConfig<'_>,
        trust: ServerTrust<'c>,
        state: &AgentState,
        until: Duration,
        script: impl std::future::Future<Output = ()>,
        bufs: &mut AgentBuffers,
    ) -> TlsOpener<'c> {
        let mut rt = Runtime {
            clock: SimClock { start: self.start },
            connector: PipeConnector {
                server: self.server.clone(),
                down: self.down.clone(),
                wire: self.wire.clone(),
                connects: self.connects.clone(),
            },
            opener: TlsOpener::new(trust),
            rng: Os,
            board: TestBoard::new(roomy_board()),
            log: LogRef(self.log.clone()),
        };
        {
            let agent = Box::pin(run_agent(&mut rt, cfg, state, bufs));
            let end = tokio::time::sleep_until(self.start + until);
            tokio::select! {
                r = agent => panic!("the agent returned: {r:?}"),
                _ = async { tokio::join!(script, end); } => {}
            }
        }
        for (_, line) in self.log.lines.borrow().iter() {
            assert!(!line.contains(&self.token), "token in the log: {line}");
        }
        rt.opener
    }

    fn node(&self) -> Value {
        self.server.node(NODE).expect("the Node exists")
    }

    fn condition(&self, kind: &str) -> Option<String> {
        let node = self.server.node(NODE)?;
        node["status"]["conditions"]
            .as_array()?
            .iter()
            .find(|c| c["type"] == kind)
            .and_then(|c| c["status"].as_str().map(str::to_string))
    }

    fn has_taint(&self, key: &str) -> bool {
        self.server.node(NODE).is_some_and(|n| {
            n["spec"]["taints"]
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t["key"] == key))
        })
    }

    /// Successful renewals of our Lease seen by the server up to `t` (from the world's start).
    fn renewals_until(&self, t: Duration) -> usize {
        let until = self.wall(t);
        self.server
            .requests()
            .iter()
            .filter(|r| {
                r.method == "PATCH"
                    && r.target == format!("{LEASE_PATH}{NODE}")
                    && r.status == Some(200)
                    && r.at <= until
            })
            .count()
    }

    fn wall(&self, t: Duration) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(BOOT_WALL_SECS) + t
    }

    fn ca(&self) -> Vec<u8> {
        self.server.ca_der()
    }
}

#[tokio::test(start_paused = true)]
async fn a_day_over_tls_costs_one_handshake() {
    local(async {
        let w = World::new();
        let ca = w.ca();
        let cfg = w.config();
        let state = AgentState::new();
        let wire_at = Rc::new(Cell::new(0u64));
        let wire_mark = wire_at.clone();
        let wire = w.wire.clone();
        w.run(&cfg, ServerTrust::Ca(&ca), &state, DAY + SECOND, async {
            // Steady state begins once registration and the first status pushes are over.
            w.at(HOUR + 5 * SECOND).await;
            wire_mark.set(wire.total());
        })
        .await;

        let node = w.node();
        assert_eq!(w.condition("Ready").as_deref(), Some("True"));
        assert!(w.has_taint(MICROCONTROLLER_TAINT.key), "{node}");
        assert_eq!(node["status"]["nodeInfo"]["architecture"], "xtensa");
        assert_eq!(w.server.tls_handshakes(), 1, "one handshake all day");
        assert_eq!(w.connects.get(), 1);
        let counters = state.counters();
        assert_eq!((counters.handshakes, counters.reconnects), (1, 0));

        // A renewal every 10 s, each answered 200, and the agent counted each.
        let renewals = w.renewals_until(DAY);
        assert_eq!(renewals, 8_640);
        assert_eq!(state.stats().renewals, w.renewals_until(DAY + SECOND) as u64);
        assert_eq!(state.stats().renewal_failures, 0);

        let steady = w.wire.total() - wire_at.get();
        let hours = (DAY + SECOND - HOUR - 5 * SECOND).as_secs_f64() / 3600.0;
        let per_hour = steady as f64 / hours;
        println!(
            "TLS day: {} handshake(s), {} B on the wire ({} out, {} in); steady {:.0} B per node-hour over TLS; HTTP layer {} B",
            w.server.tls_handshakes(),
            w.wire.total(),
            w.wire.tx.get(),
            w.wire.rx.get(),
            per_hour,
            counters.bytes_in + counters.bytes_out,
        );
        assert!(per_hour > 0.0);
    })
    .await;
}

/// The TLS reader (vendor/embedded-tls PATCHES.md L8) reads a record that the socket holds
/// whole in one read, and starts every record at the front of its 16,640-byte buffer: a
/// session of ~1.2 KB answers keeps touching the same first kilobytes (the rest stays unbacked
/// memory in a fleet) instead of walking through all of it.
#[tokio::test(start_paused = true)]
async fn records_are_read_whole_into_the_front_of_the_buffer() {
    local(async {
        let w = World::new();
        let ca = w.ca();
        let cfg = w.config();
        let state = AgentState::new();
        let mut bufs = Box::new(AgentBuffers::new());
        let marks = Rc::new(Cell::new((0u64, 0usize)));
        let mark = marks.clone();
        let wire = w.wire.clone();
        let server = w.server.clone();
        w.run_in(
            &cfg,
            ServerTrust::Ca(&ca),
            &state,
            HOUR + SECOND,
            async {
                w.at(10 * MINUTE).await;
                mark.set((wire.reads.get(), server.requests().len()));
            },
            &mut bufs,
        )
        .await;

        let (reads_before, requests_before) = marks.get();
        let reads = w.wire.reads.get() - reads_before;
        let answers = (w.server.requests().len() - requests_before) as u64;
        assert!(answers >= 290, "{answers} answers in 50 minutes");
        // Upstream read a 5-byte header, then the content: two reads per record at least.
        assert!(reads <= answers, "{reads} reads for {answers} answers");
        let used = bufs
            .session
            .rx
            .iter()
            .rposition(|b| *b != 0)
            .map_or(0, |i| i + 1);
        println!("{reads} reads for {answers} answers; receive buffer used up to byte {used}");
        assert!(
            used <= 8 * 1024,
            "the receive buffer was used up to byte {used}"
        );
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn an_outage_is_noticed_and_recovered_within_a_lease_period() {
    local(async {
        let w = World::new();
        let ca = w.ca();
        let cfg = w.config();
        let state = AgentState::new();
        let outage_start = 10 * MINUTE + 5 * SECOND;
        let outage_end = outage_start + 120 * SECOND;
        w.run(
            &cfg,
            ServerTrust::Ca(&ca),
            &state,
            outage_end + 5 * MINUTE,
            async {
                w.at(outage_start).await;
                assert_eq!(w.condition("Ready").as_deref(), Some("True"));
                w.down.set(true);
                w.server.drop_connections();
                w.at(outage_end - SECOND).await;
                w.server.settle();
                assert_eq!(w.condition("Ready").as_deref(), Some("Unknown"));
                assert!(w.has_taint(UNREACHABLE), "the controller tainted the node");
                w.down.set(false);
                // Ready again within one lease period (40 s), and the taint gone.
                w.at(outage_end + 40 * SECOND).await;
                w.server.settle();
                assert_eq!(w.condition("Ready").as_deref(), Some("True"));
                assert!(!w.has_taint(UNREACHABLE));
            },
        )
        .await;
        assert_eq!(w.condition("Ready").as_deref(), Some("True"));
        assert!(w.has_taint(MICROCONTROLLER_TAINT.key));
        assert_eq!(
            w.server.tls_handshakes(),
            2,
            "one before, one after the outage"
        );
        assert!(state.stats().recoveries >= 1);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_node_deleted_by_an_admin_registers_again() {
    local(async {
        let w = World::new();
        let ca = w.ca();
        let cfg = w.config();
        let state = AgentState::new();
        let first_uid = Rc::new(std::cell::RefCell::new(String::new()));
        let uid = first_uid.clone();
        w.run(&cfg, ServerTrust::Ca(&ca), &state, 30 * MINUTE, async {
            w.at(10 * MINUTE + 5 * SECOND).await;
            *uid.borrow_mut() = w.node()["metadata"]["uid"].as_str().unwrap().to_string();
            assert!(w.server.delete_node(NODE));
        })
        .await;
        let node = w.node();
        assert_ne!(
            node["metadata"]["uid"].as_str().unwrap(),
            *first_uid.borrow()
        );
        assert_eq!(w.condition("Ready").as_deref(), Some("True"));
        assert!(w.has_taint(MICROCONTROLLER_TAINT.key));
        assert_eq!(state.stats().registrations, 2);
        // The Lease came back, owned by the new Node.
        let lease = w.server.lease(NODE).expect("the Lease exists again");
        assert_eq!(
            lease["metadata"]["ownerReferences"][0]["uid"],
            node["metadata"]["uid"]
        );
        assert!(w.renewals_until(30 * MINUTE) > w.renewals_until(10 * MINUTE + 5 * SECOND));
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_revoked_token_is_retried_and_counted() {
    local(async {
        let w = World::new();
        let ca = w.ca();
        let cfg = w.config();
        let state = AgentState::new();
        let before = Rc::new(Cell::new((0u64, 0u64)));
        let mark = before.clone();
        let revoked_at = 10 * MINUTE + 5 * SECOND;
        w.run(
            &cfg,
            ServerTrust::Ca(&ca),
            &state,
            revoked_at + 20 * MINUTE,
            async {
                w.at(revoked_at).await;
                mark.set((
                    state.counters().responses_4xx,
                    state.stats().renewal_failures,
                ));
                w.server.revoke_token(&w.token);
            },
        )
        .await;
        let (fourxx, failures) = before.get();
        let after = state.counters();
        let unauthorized = w
            .server
            .requests()
            .iter()
            .filter(|r| r.status == Some(401))
            .count();
        assert!(unauthorized >= 2, "the agent kept trying: {unauthorized}");
        assert!(after.responses_4xx >= fourxx + unauthorized as u64);
        assert!(state.stats().renewal_failures > failures);
        assert_eq!(
            w.renewals_until(revoked_at + 20 * MINUTE),
            w.renewals_until(revoked_at)
        );
        // It keeps its pace: the credentials backoff asks at most once per 5 s per reconciler
        // (lease, status, events, clock), not at the fast backoff's 0.5-4 s.
        let bound = 4 * (2 + (20 * MINUTE).as_secs() as usize / 5);
        assert!(
            unauthorized <= bound,
            "{unauthorized} requests in 20 minutes (bound {bound})"
        );
    })
    .await;
}

/// The Lease renewal asks for protobuf (`Accept: application/vnd.kubernetes.protobuf,*/*`): the
/// test server answers it as kube-apiserver does (recorded-2 E02: 841 B instead of JSON's
/// 1,143 B), the agent does not read it and keeps the Node Ready; its errors come back as a
/// protobuf Status, which the agent reads (the refusals logged below carry the Status
/// messages) and acts on: 503 with `Retry-After`, 404 for a Lease deleted behind its back, 401
/// for a revoked token.
#[tokio::test(start_paused = true)]
async fn protobuf_renewals_keep_the_node_ready_and_protobuf_errors_are_read() {
    local(async {
        let w = World::new();
        let ca = w.ca();
        let cfg = w.config();
        let state = AgentState::new();
        let lease = format!("{LEASE_PATH}{NODE}");
        w.run(&cfg, ServerTrust::Ca(&ca), &state, 40 * MINUTE, async {
            w.at(5 * MINUTE).await;
            w.server.inject(FaultRule {
                fault: Fault::Status {
                    code: 503,
                    retry_after: Some(2),
                },
                times: 1,
                method: Some("PATCH".into()),
                path_prefix: Some(lease.clone()),
            });
            w.at(10 * MINUTE).await;
            assert!(w.server.delete_lease(NODE));
            w.at(15 * MINUTE).await;
            w.server.revoke_token(&w.token);
            w.at(15 * MINUTE + 20 * SECOND).await;
            w.server.restore_token(&w.token);
        })
        .await;

        assert_eq!(w.condition("Ready").as_deref(), Some("True"));
        let renewals: Vec<_> = w
            .server
            .requests()
            .into_iter()
            .filter(|r| r.method == "PATCH" && r.target == lease)
            .collect();
        let ok: Vec<usize> = renewals
            .iter()
            .filter(|r| r.status == Some(200))
            .map(|r| r.response_bytes)
            .collect();
        assert!(ok.len() > 200, "{} renewals", ok.len());
        // Protobuf: 353 B of head and ~486 B of body (JSON's answer is 1,143 B).
        assert!(
            ok.iter().all(|&n| (820..=860).contains(&n)),
            "renewal answers of {:?} B",
            ok.iter()
                .copied()
                .filter(|n| !(820..=860).contains(n))
                .collect::<Vec<_>>()
        );
        let refused = |status: &str, message: &str| {
            w.log
                .lines
                .borrow()
                .iter()
                .filter(|(_, l)| {
                    l.starts_with("Refused { op: RenewLease")
                        && l.contains(&format!("status: {status}"))
                        && l.contains(&format!("message: \"{message}"))
                })
                .count()
        };
        assert_eq!(
            refused(
                "503",
                "the server is currently unable to handle the request"
            ),
            1,
            "the 503's Status message, read from protobuf"
        );
        assert_eq!(
            refused(
                "404",
                "leases.coordination.k8s.io \\\"esp-node-01\\\" not found"
            ),
            1,
            "the 404's Status message"
        );
        assert!(
            refused("401", "Unauthorized") >= 1,
            "the 401's Status message"
        );
        assert_eq!(
            w.log.count("LeaseCreated"),
            2,
            "created, and again after the 404"
        );
        assert!(w.server.lease(NODE).is_some());
        // The status pushes ask only for the Node's metadata, in protobuf (E04's form).
        let full = serde_json::to_vec(&w.node()).unwrap().len();
        let pushes: Vec<usize> = w
            .server
            .requests()
            .iter()
            .filter(|r| {
                r.method == "PATCH" && r.target.ends_with("/status") && r.status == Some(200)
            })
            .map(|r| r.response_bytes)
            .collect();
        println!("status pushes answered with {pushes:?} B; the Node is {full} B of JSON");
        assert!(pushes.len() >= 8, "{pushes:?}");
        assert!(
            pushes.iter().all(|&n| n < full / 2),
            "{pushes:?} against {full}"
        );
        // After the token came back, renewals went on.
        assert!(w.renewals_until(40 * MINUTE) > w.renewals_until(16 * MINUTE) + 100);
    })
    .await;
}

/// A CA the server's certificate does not chain to.
fn other_ca() -> Vec<u8> {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let key = rcgen::KeyPair::generate().unwrap();
    params.self_signed(&key).unwrap().der().to_vec()
}

#[tokio::test(start_paused = true)]
async fn a_server_signed_by_another_ca_gets_no_request() {
    local(async {
        let w = World::new();
        let ca = other_ca();
        let cfg = w.config();
        let state = AgentState::new();
        let opener = w
            .run(&cfg, ServerTrust::Ca(&ca), &state, 5 * MINUTE, async {})
            .await;
        assert_eq!(opener.last_rejection(), Some(Rejection::UntrustedChain));
        assert!(w.server.requests().is_empty(), "{:?}", w.server.requests());
        assert!(w.server.node(NODE).is_none());
        assert!(w.connects.get() >= 2, "the agent keeps trying");
        assert_eq!(state.counters().handshakes, 0);
        assert_eq!(state.counters().requests, 0);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_server_without_our_name_gets_no_request() {
    local(async {
        let w = World::new();
        let ca = w.ca();
        let mut cfg = w.config();
        cfg.server_name = "api.cluster.example";
        let state = AgentState::new();
        let opener = w
            .run(&cfg, ServerTrust::Ca(&ca), &state, 5 * MINUTE, async {})
            .await;
        assert_eq!(opener.last_rejection(), Some(Rejection::NameMismatch));
        assert!(w.server.requests().is_empty(), "{:?}", w.server.requests());
        assert!(w.server.node(NODE).is_none());
        assert_eq!(state.counters().handshakes, 0);
        assert_eq!(state.counters().requests, 0);
    })
    .await;
}

/// A board has no real-time clock: its first handshake is verified without the time, which the
/// first answer's `Date` then gives. A chain outside its validity at that time ends the session
/// at once — nothing but the clock's `GET /version` was sent — with the sentence a refused
/// handshake gives, and every later handshake (now with the time) is refused by the verifier.
#[tokio::test(start_paused = true)]
async fn a_chain_outside_its_validity_is_refused_as_soon_as_the_first_date_gives_the_time() {
    let boot = UNIX_EPOCH + Duration::from_secs(BOOT_WALL_SECS);
    let year = Duration::from_secs(365 * 86_400);
    let cases = [
        (
            boot - 2 * year,
            boot - year,
            Rejection::Expired,
            "has expired",
        ),
        (
            boot + Duration::from_secs(30 * 86_400),
            boot + year,
            Rejection::NotYetValid,
            "is not valid yet",
        ),
    ];
    for (not_before, not_after, rejection, says) in cases {
        local(async {
            let w = World::with_tls(TlsOptions {
                leaf_validity: Some((not_before, not_after)),
                ..TlsOptions::default()
            });
            let ca = w.ca();
            let cfg = w.config();
            let state = AgentState::new();
            let opener = w
                .run(&cfg, ServerTrust::Ca(&ca), &state, 5 * MINUTE, async {})
                .await;
            assert_eq!(opener.last_rejection(), Some(rejection));
            let requests = w.server.requests();
            assert_eq!(requests.len(), 1, "{requests:?}");
            assert_eq!(requests[0].target, "/version");
            assert!(w.server.node(NODE).is_none());
            assert_eq!(
                state.counters().handshakes,
                1,
                "only the first handshake opened"
            );
            assert!(w.connects.get() >= 3, "the agent keeps trying");
            let lines = w.log.lines.borrow();
            let refusals: Vec<&String> = lines
                .iter()
                .map(|(_, l)| l)
                .filter(|l| l.starts_with("OpenFailed"))
                .collect();
            assert!(refusals.len() >= 2, "{lines:?}");
            let rejection = format!("rejection: {rejection:?}");
            assert!(
                refusals.iter().all(|l| l.contains(&rejection)),
                "{refusals:?}"
            );
            // The first is the session's own check, with the verifier's facts.
            assert!(refusals[0].contains("Validity"), "{refusals:?}");
            drop(lines);
            // The sentence a user reads.
            let sentence = opener
                .last_error()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(sentence.contains(says), "{sentence}");
            assert!(sentence.contains("our clock says"), "{sentence}");
        })
        .await;
    }
}
