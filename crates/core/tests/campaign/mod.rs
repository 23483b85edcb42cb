//! The fault campaign (issue 13 item 1), shared by the CI test (`tests/agent_campaign.rs`) and the
//! program (`examples/campaign.rs`): the agent (`run_agent`, embedded-tls through `TlsOpener`)
//! against the Kubernetes API test server over in-memory pipes under tokio's paused clock, with a
//! seeded random schedule of faults. Byte-level faults are the chaos proxy's, on the pipe
//! ([`pipe`]); HTTP-level ones and the server's life are the test server's own
//! (`TestApiServer::inject`, `delete_node`, `revoke_token`, `restart`, `etcd_stall`).
//!
//! After every fault the invariants are checked; a broken one is a [`Violation`] naming the seed
//! and the fault's index (the schedule is a pure function of the seed, so `--seed S --faults I+1`
//! replays it).
#![allow(dead_code)]

pub mod pipe;

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use picokubelet_core::agent::{
    run_agent, AgentBuffers, AgentConfig, AgentState, Log, LogEvent, Runtime,
};
use picokubelet_core::http::request::BearerToken;
use picokubelet_core::runtime::Connector;
use picokubelet_core::tls::{ServerTrust, TlsOpener};
use picokubelet_testkit::{
    parse_rfc3339, Fault, FaultRule, ServerOptions, TestApiServer, TokioClock,
};
use serde_json::Value;

use crate::agent_support::{
    profile, roomy_board, SimClock, TestBoard, TestRng, BOOT_WALL_SECS, NODE,
};
use pipe::{ChaosSocket, PipeChaos};

const LEASE_PATH: &str = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/";
const NODE_PATH: &str = "/api/v1/nodes/";
/// One lease period: the agent must be Ready and renewing this long after a fault ends.
pub const RECOVERY_LIMIT: Duration = Duration::from_secs(40);
/// Faults whose disruption is shorter than this must never make Ready Unknown.
pub const NO_UNKNOWN_BELOW: Duration = Duration::from_secs(30);
/// Request and connection records the test server keeps (the oldest half dropped when full).
const SERVER_LOG_LIMIT: usize = 2_000;
/// How often the invariants are sampled (simulated time).
const STEP: Duration = Duration::from_millis(500);
/// Longest wait for a one-shot fault to meet the request it is aimed at.
const TRIGGER_LIMIT: Duration = Duration::from_secs(6 * 60);
/// Longest wait for the agent's next `/version` (it re-anchors every 30 min).
const REANCHOR_LIMIT: Duration = Duration::from_secs(31 * 60);
/// Requests per fault: the agent's normal traffic (a renewal every 10 s, the status and its
/// retries) plus at most one request a second over the fault and its recovery, plus a margin
/// of 10 for the re-registration after a deleted Node.
pub fn request_bound(span: Duration) -> usize {
    10 + span.as_secs() as usize
}

/// The fault kinds of issue 13 item 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    TcpReset,
    Stall,
    RefusedConnects,
    TlsGarbage,
    TruncatedRecord,
    CloseNotifyMidAnswer,
    TruncatedChunked,
    OversizedHeader,
    OversizedBody,
    SlowAnswer,
    Burst500,
    Burst503,
    TooManyRetryAfter,
    TooManyBare,
    Conflict409,
    NodeDeleted,
    LeaseDeleted,
    TokenRevoked,
    /// Revoked long enough for the lifecycle controller to mark the Node Unknown.
    TokenRevokedLong,
    ServerRestart,
    DateForward,
    DateBack,
    Outage5,
    Outage20,
    Outage35,
    Outage70,
    EtcdStall,
    /// A kube-apiserver restart as recorded (G2 then G1): SIGTERM's graceful shutdown (answers
    /// for 0.22 s, then keep-alive connections closed unanswered and connects refused), down
    /// for the recorded start-up time, then normal answers with the state kept (etcd survives).
    ApiserverRestart,
    /// etcd frozen for 30 s as in G3: requests hang, every held one completes on thaw.
    EtcdStall30,
    /// etcd frozen for 75 s as in G3i: writes answer 504 after 34.5 s (not stored), reads 504
    /// after 60.5 s.
    EtcdStall75,
}

impl FaultKind {
    pub const ALL: [FaultKind; 27] = [
        FaultKind::TcpReset,
        FaultKind::Stall,
        FaultKind::RefusedConnects,
        FaultKind::TlsGarbage,
        FaultKind::TruncatedRecord,
        FaultKind::CloseNotifyMidAnswer,
        FaultKind::TruncatedChunked,
        FaultKind::OversizedHeader,
        FaultKind::OversizedBody,
        FaultKind::SlowAnswer,
        FaultKind::Burst500,
        FaultKind::Burst503,
        FaultKind::TooManyRetryAfter,
        FaultKind::TooManyBare,
        FaultKind::Conflict409,
        FaultKind::NodeDeleted,
        FaultKind::LeaseDeleted,
        FaultKind::TokenRevoked,
        FaultKind::TokenRevokedLong,
        FaultKind::ServerRestart,
        FaultKind::DateForward,
        FaultKind::DateBack,
        FaultKind::Outage5,
        FaultKind::Outage20,
        FaultKind::Outage35,
        FaultKind::Outage70,
        FaultKind::EtcdStall,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FaultKind::TcpReset => "tcp-reset",
            FaultKind::Stall => "stall",
            FaultKind::RefusedConnects => "refused-connects",
            FaultKind::TlsGarbage => "tls-garbage",
            FaultKind::TruncatedRecord => "tls-truncated-record",
            FaultKind::CloseNotifyMidAnswer => "close-notify-mid-answer",
            FaultKind::TruncatedChunked => "truncated-chunked",
            FaultKind::OversizedHeader => "oversized-header",
            FaultKind::OversizedBody => "oversized-body",
            FaultKind::SlowAnswer => "slow-answer",
            FaultKind::Burst500 => "500-burst",
            FaultKind::Burst503 => "503-burst",
            FaultKind::TooManyRetryAfter => "429-retry-after",
            FaultKind::TooManyBare => "429-bare",
            FaultKind::Conflict409 => "409-conflict",
            FaultKind::NodeDeleted => "node-deleted",
            FaultKind::LeaseDeleted => "lease-deleted",
            FaultKind::TokenRevoked => "token-revoked",
            FaultKind::TokenRevokedLong => "token-revoked-90s",
            FaultKind::ServerRestart => "server-restart",
            FaultKind::DateForward => "date+1h",
            FaultKind::DateBack => "date-1h",
            FaultKind::Outage5 => "outage-5s",
            FaultKind::Outage20 => "outage-20s",
            FaultKind::Outage35 => "outage-35s",
            FaultKind::Outage70 => "outage-70s",
            FaultKind::EtcdStall => "etcd-stall",
            FaultKind::ApiserverRestart => "apiserver-restart",
            FaultKind::EtcdStall30 => "etcd-stall-30s",
            FaultKind::EtcdStall75 => "etcd-stall-75s",
        }
    }

    /// The real server's outages as recorded in `recorded-2/` group G (the campaign's second
    /// table); not in [`FaultKind::ALL`], so the default schedule of a seed stays what it was.
    pub const REAL_SERVER: [FaultKind; 4] = [
        FaultKind::ApiserverRestart,
        FaultKind::EtcdStall30,
        FaultKind::EtcdStall75,
        FaultKind::Outage70,
    ];

    pub fn parse(name: &str) -> Option<FaultKind> {
        FaultKind::ALL
            .into_iter()
            .chain(FaultKind::REAL_SERVER)
            .find(|k| k.name() == name)
    }

    /// Keeps the agent from the server long enough (≥ 30 s) that Ready may go Unknown.
    pub fn long(self) -> bool {
        matches!(
            self,
            FaultKind::Outage35
                | FaultKind::Outage70
                | FaultKind::TokenRevokedLong
                | FaultKind::EtcdStall75
        )
    }
}

/// SplitMix64: the schedule's randomness, a pure function of the seed.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(self.between(lo, hi))
    }
}

/// One fault as drawn: its kind and the figures that shape it.
#[derive(Clone, Copy, Debug)]
struct Planned {
    kind: FaultKind,
    /// Quiet time before it.
    gap: Duration,
    /// How long it lasts (outages, stalls, windows), if it has a length.
    length: Duration,
    /// A size or count (bytes, requests).
    size: u64,
}

fn plan(kind: FaultKind, dice: &mut Dice) -> Planned {
    let gap = dice.millis(0, 10_000);
    let (length, size) = match kind {
        FaultKind::TcpReset => (Duration::ZERO, dice.between(0, 3_000)),
        FaultKind::Stall => (dice.millis(1_000, 15_000), 0),
        FaultKind::RefusedConnects => (dice.millis(3_000, 15_000), 0),
        FaultKind::TlsGarbage => (Duration::ZERO, dice.between(1, 64)),
        FaultKind::TruncatedRecord => (Duration::ZERO, dice.between(1, 300)),
        FaultKind::CloseNotifyMidAnswer => (Duration::ZERO, dice.between(1, 500)),
        FaultKind::TruncatedChunked => (Duration::ZERO, dice.between(400, 2_400)),
        FaultKind::OversizedHeader => (Duration::ZERO, dice.between(8 * 1024, 64 * 1024)),
        FaultKind::OversizedBody => (Duration::ZERO, dice.between(16 * 1024, 256 * 1024)),
        FaultKind::SlowAnswer => (dice.millis(500, 20_000), 0),
        FaultKind::Burst500
        | FaultKind::Burst503
        | FaultKind::TooManyRetryAfter
        | FaultKind::TooManyBare => (Duration::ZERO, dice.between(1, 8)),
        FaultKind::Conflict409 => (Duration::ZERO, dice.between(1, 4)),
        FaultKind::NodeDeleted | FaultKind::LeaseDeleted => (Duration::ZERO, 0),
        FaultKind::TokenRevoked => (dice.millis(2_000, 25_000), 0),
        FaultKind::TokenRevokedLong => (Duration::from_secs(90), 0),
        FaultKind::ServerRestart => (dice.millis(200, 3_000), 0),
        FaultKind::DateForward | FaultKind::DateBack => (Duration::ZERO, 3_600),
        FaultKind::Outage5 => (Duration::from_secs(5), 0),
        FaultKind::Outage20 => (Duration::from_secs(20), 0),
        FaultKind::Outage35 => (Duration::from_secs(35), 0),
        FaultKind::Outage70 => (Duration::from_secs(70), 0),
        FaultKind::EtcdStall => (dice.millis(5_000, 25_000), 0),
        // G1: the listener came back 8.4 s after launch (G1c: 1.9 s on a fresh cluster).
        FaultKind::ApiserverRestart => (dice.millis(1_900, 8_400), 0),
        FaultKind::EtcdStall30 => (Duration::from_secs(30), 0),
        FaultKind::EtcdStall75 => (Duration::from_secs(75), 0),
    };
    Planned {
        kind,
        gap,
        length,
        size,
    }
}

/// The schedule of `n` faults for `seed`, drawn from `kinds`.
fn schedule(seed: u64, n: usize, kinds: &[FaultKind]) -> Vec<Planned> {
    let mut dice = Dice(seed);
    (0..n)
        .map(|_| {
            let kind = kinds[(dice.next() % kinds.len() as u64) as usize];
            plan(kind, &mut dice)
        })
        .collect()
}

/// What a campaign is asked to do.
#[derive(Clone, Debug)]
pub struct Options {
    pub faults: usize,
    pub seed: u64,
    pub kinds: Vec<FaultKind>,
    /// Print one line per fault.
    pub progress: bool,
    /// Quiet time after the last fault (its invariants still sampled).
    pub settle: Duration,
}

impl Options {
    pub fn new(faults: usize, seed: u64) -> Self {
        Options {
            faults,
            seed,
            kinds: FaultKind::ALL.to_vec(),
            progress: false,
            settle: Duration::ZERO,
        }
    }
}

/// A broken invariant, with what replays it.
#[derive(Clone, Debug)]
pub struct Violation {
    pub seed: u64,
    pub index: usize,
    pub kind: FaultKind,
    pub what: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "fault #{} ({}) of seed {}: {} (replay: --seed {} --faults {})",
            self.index,
            self.kind.name(),
            self.seed,
            self.what,
            self.seed,
            self.index + 1
        )
    }
}

/// One fault's result.
#[derive(Clone, Debug)]
pub struct FaultResult {
    pub index: usize,
    pub kind: FaultKind,
    /// The fault met traffic (one-shot faults wait for a request, a record or a byte).
    pub fired: bool,
    pub recovered: bool,
    /// From the fault's end to Ready and a renewal after it (simulated).
    pub recovery: Duration,
    pub handshakes: u64,
    pub requests: usize,
    pub violations: usize,
}

/// The whole run.
pub struct Report {
    pub seed: u64,
    pub results: Vec<FaultResult>,
    pub violations: Vec<Violation>,
    pub simulated: Duration,
    pub requests: u64,
    pub handshakes: u64,
    pub events_dropped: u64,
    pub dropped_reasons: BTreeMap<String, u64>,
    /// Status changes per condition type over the run.
    pub transitions: BTreeMap<String, u64>,
    /// Each condition's (status, lastTransitionTime) at the end.
    pub final_conditions: BTreeMap<String, (String, String)>,
    /// The process's resident memory (KiB, Linux) after every 100th fault: the agent allocates
    /// nothing, so growth here is the test server's and the harness's.
    pub rss_kib: Vec<(usize, u64)>,
}

impl Report {
    pub fn all_recovered(&self) -> bool {
        self.results.iter().all(|r| r.recovered)
    }

    /// The table per fault kind (recovery times in simulated seconds).
    pub fn table(&self) -> String {
        let mut by_kind: BTreeMap<FaultKind, Vec<&FaultResult>> = BTreeMap::new();
        for r in &self.results {
            by_kind.entry(r.kind).or_default().push(r);
        }
        let mut out = String::new();
        out.push_str("| fault | count | fired | recovered | recovery p50 / p99 / max (s) | handshakes per fault (mean / max) | requests per fault (max) | violations |\n");
        out.push_str("|---|---:|---:|---:|---|---|---:|---:|\n");
        let mut total = Vec::new();
        for (kind, rs) in &by_kind {
            out.push_str(&row(kind.name(), rs));
            total.extend(rs.iter().copied());
        }
        out.push_str(&row("**all**", &total));
        out
    }
}

fn row(name: &str, rs: &[&FaultResult]) -> String {
    let mut times: Vec<Duration> = rs
        .iter()
        .filter(|r| r.recovered)
        .map(|r| r.recovery)
        .collect();
    times.sort();
    let pct = |p: f64| -> f64 {
        if times.is_empty() {
            return f64::NAN;
        }
        let i = ((times.len() as f64 * p).ceil() as usize).clamp(1, times.len()) - 1;
        times[i].as_secs_f64()
    };
    let hs: u64 = rs.iter().map(|r| r.handshakes).sum();
    let hs_max = rs.iter().map(|r| r.handshakes).max().unwrap_or(0);
    let req_max = rs.iter().map(|r| r.requests).max().unwrap_or(0);
    let mut line = String::new();
    let _ = writeln!(
        line,
        "| {name} | {} | {} | {} | {:.1} / {:.1} / {:.1} | {:.2} / {} | {} | {} |",
        rs.len(),
        rs.iter().filter(|r| r.fired).count(),
        rs.iter().filter(|r| r.recovered).count(),
        pct(0.5),
        pct(0.99),
        times.last().map_or(f64::NAN, Duration::as_secs_f64),
        hs as f64 / rs.len().max(1) as f64,
        hs_max,
        req_max,
        rs.iter().map(|r| r.violations).sum::<usize>(),
    );
    line
}

/// The agent's log, counted (nothing kept: the campaign runs for simulated days).
#[derive(Clone, Default)]
pub struct CampaignLog {
    pub events_dropped: Rc<Cell<u64>>,
    /// Dropped events by reason.
    pub dropped_reasons: Rc<std::cell::RefCell<BTreeMap<String, u64>>>,
    pub status_pushes: Rc<Cell<u64>>,
    pub verbose: bool,
    start: Option<tokio::time::Instant>,
}

impl Log for CampaignLog {
    fn log(&self, event: &LogEvent<'_>) {
        match event {
            LogEvent::EventDropped { reason } => {
                self.events_dropped.set(self.events_dropped.get() + 1);
                *self
                    .dropped_reasons
                    .borrow_mut()
                    .entry(reason.to_string())
                    .or_default() += 1;
            }
            LogEvent::StatusPushed { .. } => self.status_pushes.set(self.status_pushes.get() + 1),
            _ => {}
        }
        if self.verbose {
            let at = self
                .start
                .map_or(Duration::ZERO, |s| tokio::time::Instant::now() - s);
            println!("{:>10.3}s {event:?}", at.as_secs_f64());
        }
    }
}

/// Dials the test server through the chaos pipe.
struct PipeConnector {
    server: Rc<TestApiServer>,
    chaos: Rc<PipeChaos>,
}

impl Connector for PipeConnector {
    type Socket = ChaosSocket;
    type Error = &'static str;

    async fn connect(&mut self) -> Result<ChaosSocket, &'static str> {
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        let socket = self.chaos.connect(ours)?;
        let server = self.server.clone();
        tokio::task::spawn_local(async move {
            let _ = server.serve_connection(theirs).await;
        });
        Ok(socket)
    }
}

/// What the invariants remember between samples.
#[derive(Default)]
struct Observer {
    uid: Option<String>,
    created: Option<SystemTime>,
    /// Condition type → (status, lastTransitionTime).
    conditions: BTreeMap<String, (String, String)>,
    renew: Option<SystemTime>,
    /// Ready was seen Unknown since the last reset.
    ready_unknown_seen: bool,
    ready: Option<String>,
    /// Conditions already reported as older than this Node (once per Node).
    predating: BTreeMap<String, ()>,
    /// The agent's last anchoring was on a jumped `Date`: it keeps that clock until its next
    /// anchoring (30 min later), its stamps off by the jump, so the creation check waits.
    clock_jumped: bool,
    /// Status changes seen per condition type (on the same Node).
    pub transitions: BTreeMap<String, u64>,
}

fn condition_map(node: &Value) -> BTreeMap<String, (String, String)> {
    node["status"]["conditions"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .filter_map(|c| {
                    Some((
                        c["type"].as_str()?.to_string(),
                        (
                            c["status"].as_str()?.to_string(),
                            c["lastTransitionTime"].as_str()?.to_string(),
                        ),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

impl Observer {
    /// Samples the Node and the Lease; returns what broke.
    fn sample(&mut self, server: &TestApiServer, broke: &mut Vec<String>) {
        if let Some(node) = server.node(NODE) {
            let uid = node["metadata"]["uid"].as_str().map(str::to_string);
            let conditions = condition_map(&node);
            if uid != self.uid {
                self.uid = uid;
                self.created = node["metadata"]["creationTimestamp"]
                    .as_str()
                    .and_then(parse_rfc3339);
                self.conditions.clear();
                self.predating.clear();
            }
            for (kind, (status, ltt)) in &conditions {
                if let Some((was, was_ltt)) = self.conditions.get(kind) {
                    if was != status {
                        *self.transitions.entry(kind.clone()).or_default() += 1;
                    }
                    if was == status && was_ltt != ltt {
                        broke.push(format!(
                            "{kind} lastTransitionTime moved {was_ltt} -> {ltt} while {status}"
                        ));
                    }
                }
                // A new Node starts its history anew (issue 13 item 5), checked when it is first
                // seen: later transitions are stamped with the agent's clock, which a Date jump
                // may have moved. One second of slack: the agent knows the server's time only
                // to the second of a `Date`.
                let fresh = self.conditions.is_empty() && !self.clock_jumped;
                if let (true, Some(created), Some(t)) = (fresh, self.created, parse_rfc3339(ltt)) {
                    if t + Duration::from_secs(1) < created
                        && self.predating.insert(kind.clone(), ()).is_none()
                    {
                        broke.push(format!(
                            "{kind} lastTransitionTime {ltt} predates the Node's creation by {:?}",
                            created.duration_since(t).unwrap_or_default()
                        ));
                    }
                }
            }
            self.ready = conditions.get("Ready").map(|(s, _)| s.clone());
            if self.ready.as_deref() == Some("Unknown") {
                self.ready_unknown_seen = true;
            }
            self.conditions = conditions;
        } else {
            self.ready = None;
        }
        if let Some(lease) = server.lease(NODE) {
            if let Some(t) = lease["spec"]["renewTime"].as_str().and_then(parse_rfc3339) {
                if let Some(was) = self.renew {
                    if t < was {
                        broke.push(format!(
                            "renewTime went backward by {:?}",
                            was.duration_since(t).unwrap_or_default()
                        ));
                    }
                }
                self.renew = Some(t);
            }
        }
    }

    fn ready_ltt(&self) -> Option<(Option<String>, String)> {
        self.conditions
            .get("Ready")
            .map(|(_, ltt)| (self.uid.clone(), ltt.clone()))
    }
}

/// The server, the pipe, and what the campaign tracks of them.
struct World {
    start: tokio::time::Instant,
    server: Rc<TestApiServer>,
    chaos: Rc<PipeChaos>,
    token: String,
    observer: Observer,
    /// Renewals answered 200 (clock time) not yet consumed, and the request count.
    renewals: Vec<SystemTime>,
    requests: u64,
    faulted: u64,
    version_skewed: u64,
    node_patches: u64,
}

impl World {
    fn now_wall(&self) -> SystemTime {
        self.server.clock().now()
    }

    /// Drains the server's request log into counters (the log would grow for ever).
    fn drain(&mut self) {
        for r in self.server.take_requests() {
            self.requests += 1;
            if r.target == "/version" && r.status == Some(200) {
                self.observer.clock_jumped = matches!(r.fault, Some(Fault::SkewDate(_)));
            }
            if r.fault.is_some() {
                self.faulted += 1;
                if r.target == "/version" {
                    self.version_skewed += 1;
                }
                if r.method == "PATCH" && r.target.starts_with(NODE_PATH) {
                    self.node_patches += 1;
                }
            }
            if r.method == "PATCH"
                && r.target == format!("{LEASE_PATH}{NODE}")
                && r.status == Some(200)
            {
                self.renewals.push(r.at);
            }
        }
    }

    async fn step(&mut self, broke: &mut Vec<String>) {
        tokio::time::sleep(STEP).await;
        self.drain();
        self.observer.sample(&self.server, broke);
    }

    /// Runs for `d` of simulated time, sampling.
    async fn run_for(&mut self, d: Duration, broke: &mut Vec<String>) {
        let until = tokio::time::Instant::now() + d;
        while tokio::time::Instant::now() < until {
            self.step(broke).await;
        }
    }

    fn pipe_fired(&self) -> u64 {
        let s = &self.chaos.stats;
        s.cuts.get() + s.garbage_injections.get() + s.truncated_records.get()
    }

    /// Runs until `fired` says the fault met its traffic (or the limit); whether it did.
    async fn until_fired(
        &mut self,
        broke: &mut Vec<String>,
        fired: impl Fn(&World) -> bool,
    ) -> bool {
        self.until_fired_within(TRIGGER_LIMIT, broke, fired).await
    }

    async fn until_fired_within(
        &mut self,
        limit: Duration,
        broke: &mut Vec<String>,
        fired: impl Fn(&World) -> bool,
    ) -> bool {
        let until = tokio::time::Instant::now() + limit;
        while tokio::time::Instant::now() < until {
            if fired(self) {
                return true;
            }
            self.step(broke).await;
        }
        fired(self)
    }

    fn cut_network(&self) {
        self.chaos.refuse(true);
        self.chaos.reset_all();
        self.server.drop_connections();
    }

    /// Applies the fault and waits out its length; whether it met traffic.
    async fn apply(&mut self, p: &Planned, broke: &mut Vec<String>) -> bool {
        let server = self.server.clone();
        let chaos = self.chaos.clone();
        let faulted = self.faulted;
        let pipe = self.pipe_fired();
        let by_server = move |w: &World| w.faulted > faulted;
        let by_pipe = move |w: &World| w.pipe_fired() > pipe;
        let fired = match p.kind {
            FaultKind::TcpReset => {
                chaos.cut_after_bytes(p.size);
                self.until_fired(broke, by_pipe).await
            }
            FaultKind::Stall => {
                chaos.stall(true);
                self.run_for(p.length, broke).await;
                chaos.stall(false);
                true
            }
            FaultKind::RefusedConnects => {
                chaos.reset_all();
                chaos.refuse(true);
                let refused = chaos.stats.refused.get();
                self.run_for(p.length, broke).await;
                chaos.refuse(false);
                chaos.stats.refused.get() > refused
            }
            FaultKind::TlsGarbage => {
                chaos.inject_garbage(p.size as usize);
                self.until_fired(broke, by_pipe).await
            }
            FaultKind::TruncatedRecord => {
                chaos.truncate_next_record(p.size as usize);
                self.until_fired(broke, by_pipe).await
            }
            FaultKind::CloseNotifyMidAnswer => {
                server.inject(FaultRule::new(Fault::CloseMidAnswer(p.size as usize)));
                self.until_fired(broke, by_server).await
            }
            FaultKind::TruncatedChunked => {
                // Only Node answers are long enough to be chunked (> 2048 bytes).
                server.inject(
                    FaultRule::new(Fault::Truncate(p.size as usize))
                        .method("PATCH")
                        .path_prefix(NODE_PATH),
                );
                self.until_fired(broke, by_server).await
            }
            FaultKind::OversizedHeader => {
                server.inject(FaultRule::new(Fault::Oversized {
                    header_bytes: p.size as usize,
                    body_bytes: 0,
                }));
                self.until_fired(broke, by_server).await
            }
            FaultKind::OversizedBody => {
                server.inject(FaultRule::new(Fault::Oversized {
                    header_bytes: 0,
                    body_bytes: p.size as usize,
                }));
                self.until_fired(broke, by_server).await
            }
            FaultKind::SlowAnswer => {
                server.inject(FaultRule::new(Fault::Delay(p.length)));
                let fired = self.until_fired(broke, by_server).await;
                self.run_for(p.length, broke).await;
                fired
            }
            FaultKind::Burst500
            | FaultKind::Burst503
            | FaultKind::TooManyRetryAfter
            | FaultKind::TooManyBare
            | FaultKind::Conflict409 => {
                let fault = match p.kind {
                    FaultKind::Burst500 => Fault::status(500),
                    FaultKind::Burst503 => Fault::unavailable(1 + (p.size as u32 % 5)),
                    FaultKind::TooManyRetryAfter => Fault::TooManyRequests,
                    FaultKind::TooManyBare => Fault::status(429),
                    _ => Fault::status(409),
                };
                let mut rule = FaultRule::new(fault).times(p.size as usize);
                if p.kind == FaultKind::Conflict409 {
                    rule = rule.method("PATCH").path_prefix(LEASE_PATH);
                }
                server.inject(rule);
                let want = faulted + p.size;
                self.until_fired(broke, move |w| w.faulted >= want).await
            }
            FaultKind::NodeDeleted => server.delete_node(NODE),
            FaultKind::LeaseDeleted => server.delete_lease(NODE),
            FaultKind::TokenRevoked | FaultKind::TokenRevokedLong => {
                server.revoke_token(&self.token);
                self.run_for(p.length, broke).await;
                server.restore_token(&self.token);
                true
            }
            FaultKind::ServerRestart => {
                chaos.refuse(true);
                let _ = server.restart(true).await;
                self.run_for(p.length, broke).await;
                chaos.refuse(false);
                true
            }
            FaultKind::DateForward | FaultKind::DateBack => {
                let secs = if p.kind == FaultKind::DateForward {
                    p.size as i64
                } else {
                    -(p.size as i64)
                };
                // The agent reads the Date on `/version` (anchoring, every 30 min): the skew
                // lasts until one such answer carried it.
                server.inject(
                    FaultRule::new(Fault::SkewDate(secs))
                        .times(1)
                        .path_prefix("/version"),
                );
                let skewed = self.version_skewed;
                self.until_fired_within(REANCHOR_LIMIT, broke, move |w| w.version_skewed > skewed)
                    .await
            }
            FaultKind::Outage5
            | FaultKind::Outage20
            | FaultKind::Outage35
            | FaultKind::Outage70 => {
                self.cut_network();
                self.run_for(p.length, broke).await;
                self.chaos.refuse(false);
                true
            }
            FaultKind::EtcdStall | FaultKind::EtcdStall30 | FaultKind::EtcdStall75 => {
                server.etcd_stall(true);
                self.run_for(p.length, broke).await;
                server.etcd_stall(false);
                true
            }
            FaultKind::ApiserverRestart => {
                // Answers for 0.22 s, then closes idle keep-alive connections unanswered (G2).
                server.graceful_shutdown();
                self.run_for(Duration::from_millis(500), broke).await;
                self.chaos.refuse(true);
                self.run_for(p.length, broke).await;
                let _ = server.restart(true).await;
                self.chaos.refuse(false);
                true
            }
        };
        server.clear_faults();
        chaos.clear_pending();
        fired
    }

    /// Waits for Ready and a renewal after `end`; the recovery time, or None past the limit.
    async fn recover(&mut self, end: SystemTime, broke: &mut Vec<String>) -> Option<Duration> {
        self.renewals.retain(|t| *t >= end);
        let limit = tokio::time::Instant::now() + RECOVERY_LIMIT + STEP;
        let mut ready_since: Option<SystemTime> = None;
        loop {
            self.drain();
            self.observer.sample(&self.server, broke);
            let now = self.now_wall();
            if self.observer.ready.as_deref() == Some("True") {
                ready_since.get_or_insert(now);
            } else {
                ready_since = None;
            }
            if let (Some(ready), Some(renewed)) = (ready_since, self.renewals.first().copied()) {
                let at = ready.max(renewed);
                // The agent owns every condition: none stays as the controller left it (its
                // own rules may still say Unknown, e.g. Vibes `Indeterminate` after reconnects).
                let node = self.server.node(NODE).unwrap_or_default();
                for c in node["status"]["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    if c["reason"] == "NodeStatusUnknown" {
                        broke.push(format!(
                            "{} still as the controller left it when Ready came back",
                            c["type"]
                        ));
                    }
                }
                return Some(at.duration_since(end).unwrap_or_default());
            }
            if tokio::time::Instant::now() >= limit {
                return None;
            }
            tokio::time::sleep(STEP).await;
        }
    }
}

/// Resident set size of this process in KiB (Linux), if readable.
pub fn rss_kib() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4)
}

/// Runs the campaign. Call it on a current-thread runtime with tokio's clock paused, inside a
/// `LocalSet`.
pub async fn run(opts: &Options) -> Report {
    let wall = UNIX_EPOCH + Duration::from_secs(BOOT_WALL_SECS);
    let server = Rc::new(TestApiServer::new(
        ServerOptions {
            // Connection records are never taken: bounded, so memory stays flat over the run.
            log_limit: Some(SERVER_LOG_LIMIT),
            ..ServerOptions::default()
        }
        .with_clock(TokioClock::new(wall))
        .with_seed(opts.seed),
    ));
    let token = server.node_token(NODE);
    let chaos = PipeChaos::new(opts.seed ^ 0x5EED);
    let start = tokio::time::Instant::now();
    let ca = server.ca_der();
    let mut cfg = AgentConfig::new("127.0.0.1:6443", Some(BearerToken::new(&token)), profile());
    cfg.server_name = "127.0.0.1";
    let state = AgentState::new();
    let log = CampaignLog {
        verbose: std::env::var_os("AGENT_LOG").is_some(),
        start: Some(start),
        ..CampaignLog::default()
    };
    let mut rt = Runtime {
        clock: SimClock { start },
        connector: PipeConnector {
            server: server.clone(),
            chaos: chaos.clone(),
        },
        opener: TlsOpener::new(ServerTrust::Ca(&ca)),
        rng: TestRng(opts.seed | 1),
        board: TestBoard::new(roomy_board()),
        log: log.clone(),
    };
    let mut bufs = Box::new(AgentBuffers::new());
    let mut world = World {
        start,
        server: server.clone(),
        chaos,
        token: token.clone(),
        observer: Observer::default(),
        renewals: Vec::new(),
        requests: 0,
        faulted: 0,
        version_skewed: 0,
        node_patches: 0,
    };
    let plan = schedule(opts.seed, opts.faults, &opts.kinds);
    let mut results = Vec::with_capacity(plan.len());
    let mut violations = Vec::new();
    let mut rss = Vec::new();
    let driver = async {
        // Registration, the first status pushes, a few renewals.
        let mut broke = Vec::new();
        world.run_for(Duration::from_secs(60), &mut broke).await;
        for what in broke.drain(..) {
            violations.push(Violation {
                seed: opts.seed,
                index: 0,
                kind: plan.first().map_or(FaultKind::TcpReset, |p| p.kind),
                what: format!("before the first fault: {what}"),
            });
        }
        for (index, p) in plan.iter().enumerate() {
            world.run_for(p.gap, &mut broke).await;
            let before_ready = world.observer.ready_ltt();
            world.observer.ready_unknown_seen = false;
            let handshakes = state.counters().handshakes;
            let requests = world.requests;
            let began = tokio::time::Instant::now();
            let fired = world.apply(p, &mut broke).await;
            let end = world.now_wall();
            let recovery = world.recover(end, &mut broke).await;
            let span = tokio::time::Instant::now() - began;
            let handshakes = u64::from(state.counters().handshakes - handshakes);
            let requests = (world.requests - requests) as usize;
            // Only a fault that kept the agent from the server for 30 s may make Ready Unknown.
            let long = p.kind.long();
            if !long && p.kind != FaultKind::NodeDeleted {
                if world.observer.ready_unknown_seen {
                    broke.push("Ready went Unknown".to_string());
                } else if before_ready.is_some() && world.observer.ready_ltt() != before_ready {
                    broke.push("Ready changed and came back between two samples".to_string());
                }
            }
            if recovery.is_none() {
                broke.push(format!(
                    "not Ready and renewing {}s after the fault ended",
                    RECOVERY_LIMIT.as_secs()
                ));
            }
            if requests > request_bound(span) {
                broke.push(format!(
                    "{requests} requests in {:.1}s (bound {})",
                    span.as_secs_f64(),
                    request_bound(span)
                ));
            }
            let count = broke.len();
            for what in broke.drain(..) {
                let v = Violation {
                    seed: opts.seed,
                    index,
                    kind: p.kind,
                    what,
                };
                if opts.progress {
                    println!("VIOLATION {v}");
                }
                violations.push(v);
            }
            let result = FaultResult {
                index,
                kind: p.kind,
                fired,
                recovered: recovery.is_some(),
                recovery: recovery.unwrap_or(RECOVERY_LIMIT),
                handshakes,
                requests,
                violations: count,
            };
            if opts.progress {
                println!(
                    "#{index:<5} {:<24} fired={:<5} recovered={:<5} in {:>5.1}s handshakes={} requests={}",
                    p.kind.name(),
                    fired,
                    result.recovered,
                    result.recovery.as_secs_f64(),
                    handshakes,
                    requests
                );
            }
            results.push(result);
            if (index + 1) % 100 == 0 {
                if let Some(kib) = rss_kib() {
                    rss.push((index + 1, kib));
                }
            }
        }
        world.run_for(opts.settle, &mut broke).await;
        for what in broke.drain(..) {
            violations.push(Violation {
                seed: opts.seed,
                index: plan.len(),
                kind: plan.last().map_or(FaultKind::TcpReset, |p| p.kind),
                what: format!("after the last fault: {what}"),
            });
        }
    };
    let agent_exit = {
        let agent = Box::pin(run_agent(&mut rt, &cfg, &state, &mut bufs));
        tokio::select! {
            r = agent => Some(format!("the agent returned: {r:?}")),
            () = driver => None,
        }
    };
    if let Some(what) = agent_exit {
        violations.push(Violation {
            seed: opts.seed,
            index: results.len(),
            kind: plan
                .get(results.len())
                .map_or(FaultKind::TcpReset, |p| p.kind),
            what,
        });
    }
    Report {
        seed: opts.seed,
        results,
        violations,
        simulated: tokio::time::Instant::now() - start,
        requests: world.requests,
        handshakes: u64::from(state.counters().handshakes),
        events_dropped: log.events_dropped.get(),
        dropped_reasons: log.dropped_reasons.take(),
        transitions: world.observer.transitions.clone(),
        final_conditions: world.observer.conditions.clone(),
        rss_kib: rss,
    }
}
