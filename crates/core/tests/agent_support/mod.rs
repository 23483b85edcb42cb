//! A small scripted API server for the agent tests, spoken to over `tokio::io::duplex`, and the
//! test bodies of the runtime seams (simulated clock, board, RNG, log).
//!
//! The server keeps one Node and one Lease as JSON, answers with the recorded heads of
//! kube-apiserver v1.36.2 (testdata/k8s/recorded-compact: Audit-Id, Cache-Control,
//! Content-Type, the two APF headers, Date, then Content-Length up to 2048 body bytes and
//! chunked above, as Go's net/http does), merges status patches as the test API server does (`picokubelet_testkit::strategic_merge`), and emulates
//! the two controllers the agent meets: the lifecycle controller marks Ready and the three
//! pressure conditions Unknown 50 s after the last renewal it saw, and the garbage collector
//! deletes a Lease whose owner is not the current Node. Faults are scripted as [`Rule`]s and by
//! the test flipping [`ServerState`] fields at chosen simulated times.
//!
//! Not a Kubernetes emulation: crates/testkit is.
#![allow(dead_code)]

pub mod counted;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use embedded_io_adapters::tokio_1::FromTokio;
use picokubelet_core::agent::{
    run_agent, AgentBuffers, AgentConfig, AgentState, Log, LogEvent, Runtime,
};
use picokubelet_core::client::PlainOpener;
use picokubelet_core::http::request::BearerToken;
use picokubelet_core::k8s::name::NodeName;
use picokubelet_core::k8s::node::NodeProfile;
use picokubelet_core::k8s::node_ids::NodeIds;
use picokubelet_core::runtime::{Board, BoardSnapshot, Clock, Connector, Instant};
use picokubelet_core::time::{
    format_microtime, format_rfc3339, parse_rfc3339, Civil, UnixMicros, MICROTIME_LEN, RFC3339_LEN,
};
use picokubelet_testkit::{schema, strategic_merge};
use serde_json::{json, Map, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::Notify;

pub const NODE: &str = "esp-node-01";
pub const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.node-token.sig";
pub const HOST: &str = "127.0.0.1:6443";
/// Simulated boot: 2026-11-24T13:04:12Z, the first recording's Date.
pub const BOOT_WALL_SECS: u64 = 1_795_525_452;
pub const SECOND: Duration = Duration::from_secs(1);
pub const MINUTE: Duration = Duration::from_secs(60);
pub const HOUR: Duration = Duration::from_secs(3600);
pub const DAY: Duration = Duration::from_secs(86_400);
/// The lifecycle controller's grace period.
pub const GRACE: Duration = Duration::from_secs(50);

// ---------------------------------------------------------------------------------------------
// Seams
// ---------------------------------------------------------------------------------------------

/// Monotonic time from tokio's (paused) clock.
#[derive(Clone, Copy)]
pub struct SimClock {
    pub start: tokio::time::Instant,
}

impl SimClock {
    pub fn elapsed(&self) -> Duration {
        tokio::time::Instant::now() - self.start
    }
}

impl Clock for SimClock {
    fn now(&self) -> Instant {
        Instant::from_micros(self.elapsed().as_micros() as u64)
    }

    fn sleep_until(&self, at: Instant) -> impl Future<Output = ()> {
        tokio::time::sleep_until(self.start + Duration::from_micros(at.as_micros()))
    }
}

/// The board's figures, set by the test; [`World::signal_board`] also says so through
/// `changed` (a tokio `Notify`: a change while the agent is busy is kept as a permit).
#[derive(Clone)]
pub struct TestBoard {
    pub snapshot: Rc<Cell<BoardSnapshot>>,
    pub changed: Rc<Notify>,
}

impl TestBoard {
    /// A board whose changes the agent sees only at its condition checks (nobody notifies).
    pub fn new(snapshot: Rc<Cell<BoardSnapshot>>) -> Self {
        TestBoard {
            snapshot,
            changed: Rc::new(Notify::new()),
        }
    }
}

impl Board for TestBoard {
    fn snapshot(&self) -> BoardSnapshot {
        self.snapshot.get()
    }

    async fn changed(&self) {
        self.changed.notified().await
    }
}

pub fn roomy_board() -> Rc<Cell<BoardSnapshot>> {
    Rc::new(Cell::new(BoardSnapshot {
        heap_free_bytes: 250_000,
        heap_total_bytes: 320_000,
        wifi_associations: 1,
        bssid_changes: 0,
        link_up: true,
        ipv4: None,
    }))
}

/// A deterministic RNG (xorshift). `CryptoRng` is a marker; the plain opener draws nothing.
pub struct TestRng(pub u64);

impl rand_core::RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        rand_core::impls::fill_bytes_via_next(self, dest)
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rand_core::CryptoRng for TestRng {}

/// Keeps every log event as its `Debug` text; prints them with `AGENT_LOG=1`.
#[derive(Default)]
pub struct TestLog {
    pub lines: RefCell<Vec<(Duration, String)>>,
    pub start: Cell<Option<tokio::time::Instant>>,
}

impl TestLog {
    pub fn count(&self, needle: &str) -> usize {
        self.lines
            .borrow()
            .iter()
            .filter(|(_, l)| l.contains(needle))
            .count()
    }
}

#[derive(Clone)]
pub struct LogRef(pub Rc<TestLog>);

impl Log for LogRef {
    fn log(&self, event: &LogEvent<'_>) {
        let at = self
            .0
            .start
            .get()
            .map_or(Duration::ZERO, |s| tokio::time::Instant::now() - s);
        let line = format!("{event:?}");
        if std::env::var_os("AGENT_LOG").is_some() {
            println!("{:>9.3}s {line}", at.as_secs_f64());
        }
        self.0.lines.borrow_mut().push((at, line));
    }
}

/// Connects to the scripted server through a fresh duplex pipe per connection.
pub struct TestConnector {
    pub server: Rc<Server>,
}

impl Connector for TestConnector {
    type Socket = FromTokio<DuplexStream>;
    type Error = &'static str;

    async fn connect(&mut self) -> Result<Self::Socket, Self::Error> {
        let accepted = {
            let mut st = self.server.st.borrow_mut();
            if st.down {
                st.refused = st.refused.saturating_add(1);
                return Err("connection refused");
            }
            if st.stall_connects {
                st.stalled_connects = st.stalled_connects.saturating_add(1);
                None
            } else {
                st.connections += 1;
                Some((st.connections, st.epoch))
            }
        };
        // Overloaded: the connect never completes; the agent's time-out ends it.
        let Some((conn, epoch)) = accepted else {
            return std::future::pending().await;
        };
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        tokio::task::spawn_local(serve(self.server.clone(), theirs, conn, epoch));
        Ok(FromTokio::new(ours))
    }
}

// ---------------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------------

/// What a request was, by method and path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Version,
    CreateNode,
    GetNode,
    PatchNode,
    PatchStatus,
    GetLease,
    CreateLease,
    RenewLease,
    PostEvent,
    Other,
}

const NODE_PATH: &str = "/api/v1/nodes/esp-node-01";
const LEASES_PATH: &str = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases";

fn route(method: &str, path: &str) -> Route {
    let lease = format!("{LEASES_PATH}/{NODE}");
    match (method, path) {
        ("GET", "/version") => Route::Version,
        ("POST", "/api/v1/nodes") => Route::CreateNode,
        ("GET", p) if p == NODE_PATH => Route::GetNode,
        ("PATCH", p) if p == NODE_PATH => Route::PatchNode,
        ("PATCH", p) if p == format!("{NODE_PATH}/status") => Route::PatchStatus,
        ("GET", p) if p == lease => Route::GetLease,
        ("POST", LEASES_PATH) => Route::CreateLease,
        ("PATCH", p) if p == lease => Route::RenewLease,
        ("POST", "/api/v1/namespaces/default/events") => Route::PostEvent,
        _ => Route::Other,
    }
}

/// A scripted answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status (a `Status` body; 429 as plain text like APF) and optional
    /// `Retry-After`.
    Status { code: u16, retry_after: Option<u32> },
    /// Read the request, never answer.
    Stall,
    /// Close the connection without answering.
    Drop,
    /// Answer normally, with `Connection: close`, then close.
    CloseAfter,
}

/// A fault for requests of `route` (or every route) arriving in `[from, until)`, at most
/// `times` times.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    pub route: Option<Route>,
    pub from: Duration,
    pub until: Duration,
    pub times: Option<u32>,
    pub fault: Fault,
}

impl Rule {
    pub fn new(route: Option<Route>, from: Duration, until: Duration, fault: Fault) -> Self {
        Rule {
            route,
            from,
            until,
            times: None,
            fault,
        }
    }
}

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Record {
    pub at: Duration,
    pub conn: u32,
    pub route: Route,
    pub status: u16,
    pub body: String,
}

/// The records at `from` or later and before `until`.
pub fn between(records: &[Record], from: Duration, until: Duration) -> Vec<Record> {
    records
        .iter()
        .filter(|r| r.at >= from && r.at < until)
        .cloned()
        .collect()
}

pub struct ServerState {
    pub start: tokio::time::Instant,
    /// Added to the server's clock (for the clock-skew tests).
    pub skew_secs: i64,
    pub node: Option<Value>,
    pub lease: Option<Value>,
    pub records: Vec<Record>,
    /// Connections accepted, and refused while down.
    pub connections: u32,
    pub refused: u32,
    /// Refuse connections and drop every existing one on its next request.
    pub down: bool,
    /// Overloaded: connects never complete (the client's connect/handshake time-out ends
    /// them), and every existing connection is dropped on its next request.
    pub stall_connects: bool,
    /// Connects that hung while `stall_connects` was set.
    pub stalled_connects: u32,
    epoch: u32,
    pub rules: Vec<Rule>,
    /// The token the server accepts; a revoked one gets 401.
    pub token: String,
    pub token_revoked: bool,
    /// Times the emulated lifecycle controller marked the node Unknown.
    pub unknown_marks: u32,
    /// Renewals whose renewTime was not later than the last one (the controller ignores them).
    pub renew_not_later: u32,
    /// renewTimes without exactly 6 fractional digits.
    pub renew_bad_format: u32,
    last_renew_seen: Option<Duration>,
    last_renew_time: Option<UnixMicros>,
    node_created_at: Duration,
    next_uid: u32,
    resource_version: u64,
    managed_fields: Value,
}

pub struct Server {
    pub st: RefCell<ServerState>,
}

fn testdata(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../testdata/k8s/recorded-compact")
            .join(name),
    )
    .unwrap()
}

fn recorded_body(name: &str) -> Value {
    let bytes = testdata(name);
    let text = String::from_utf8(bytes).unwrap();
    let at = text.find("\r\n\r\n").unwrap();
    serde_json::from_str(text[at + 4..].trim()).unwrap()
}

impl Server {
    pub fn new(start: tokio::time::Instant) -> Rc<Server> {
        let node = recorded_body("03-get-node-200.response.http");
        Rc::new(Server {
            st: RefCell::new(ServerState {
                start,
                skew_secs: 0,
                node: None,
                lease: None,
                records: Vec::new(),
                connections: 0,
                refused: 0,
                down: false,
                stall_connects: false,
                stalled_connects: 0,
                epoch: 0,
                rules: Vec::new(),
                token: TOKEN.to_string(),
                token_revoked: false,
                unknown_marks: 0,
                renew_not_later: 0,
                renew_bad_format: 0,
                last_renew_seen: None,
                last_renew_time: None,
                node_created_at: Duration::ZERO,
                next_uid: 0,
                resource_version: 600,
                managed_fields: node["metadata"]["managedFields"].clone(),
            }),
        })
    }

    /// Takes the server down (refuse connects, drop connections) or brings it back.
    pub fn set_down(&self, down: bool) {
        let mut st = self.st.borrow_mut();
        st.tick();
        st.down = down;
        st.epoch += 1;
    }

    /// Overloads the server so that connects and handshakes time out (and drops every open
    /// connection), or ends that.
    pub fn set_stalling(&self, stalling: bool) {
        let mut st = self.st.borrow_mut();
        st.tick();
        st.stall_connects = stalling;
        st.epoch += 1;
    }

    /// Deletes the Node as an admin would (the Lease goes with it).
    pub fn delete_node(&self) {
        let mut st = self.st.borrow_mut();
        st.node = None;
        st.tick();
    }

    pub fn tick(&self) {
        self.st.borrow_mut().tick();
    }

    pub fn count(&self, route: Route, status: u16) -> usize {
        self.st
            .borrow()
            .records
            .iter()
            .filter(|r| r.route == route && r.status == status)
            .count()
    }

    pub fn records(&self, route: Route) -> Vec<Record> {
        self.st
            .borrow()
            .records
            .iter()
            .filter(|r| r.route == route)
            .cloned()
            .collect()
    }

    /// The Node's condition `kind`: (status, lastTransitionTime).
    pub fn condition(&self, kind: &str) -> Option<(String, String)> {
        let st = self.st.borrow();
        let node = st.node.as_ref()?;
        node["status"]["conditions"]
            .as_array()?
            .iter()
            .find(|c| c["type"] == kind)
            .map(|c| {
                (
                    c["status"].as_str().unwrap_or("").to_string(),
                    c["lastTransitionTime"].as_str().unwrap_or("").to_string(),
                )
            })
    }

    pub fn node_uid(&self) -> Option<String> {
        let st = self.st.borrow();
        Some(st.node.as_ref()?["metadata"]["uid"].as_str()?.to_string())
    }
}

/// `t` as the server writes it (`Date`): IMF-fixdate.
pub fn imf_fixdate(t: UnixMicros) -> String {
    let c = Civil::from_unix(t);
    let days = t.as_secs() / 86_400;
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][c.month as usize - 1];
    format!(
        "{weekday}, {:02} {month} {} {:02}:{:02}:{:02} GMT",
        c.day, c.year, c.hour, c.minute, c.second
    )
}

pub fn rfc3339(t: UnixMicros) -> String {
    let mut b = [0; RFC3339_LEN];
    format_rfc3339(t, &mut b).to_string()
}

/// Wall time of simulated instant `at` (no skew).
pub fn wall_at(at: Duration) -> UnixMicros {
    UnixMicros(BOOT_WALL_SECS * 1_000_000 + at.as_micros() as u64)
}

pub fn parse_time(s: &str) -> Duration {
    let t = parse_rfc3339(s.as_bytes()).unwrap();
    Duration::from_micros(t.0 - BOOT_WALL_SECS * 1_000_000)
}

struct Answer {
    status: u16,
    content_type: &'static str,
    body: String,
    retry_after: Option<u32>,
    close: bool,
}

impl Answer {
    fn json(status: u16, body: &Value) -> Self {
        Answer {
            status,
            content_type: "application/json",
            body: body.to_string(),
            retry_after: None,
            close: false,
        }
    }

    fn status(code: u16, reason: &str, message: &str) -> Self {
        Answer::json(
            code,
            &json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
                    "message":message,"reason":reason,"details":{"name":NODE,"kind":"nodes"},"code":code}),
        )
    }
}

enum Outcome {
    Reply(Answer),
    Stall,
    Drop,
}

fn reason_phrase(code: u16) -> &'static str {
    match code {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

impl ServerState {
    fn elapsed(&self) -> Duration {
        tokio::time::Instant::now() - self.start
    }

    fn wall(&self) -> UnixMicros {
        let t = wall_at(self.elapsed());
        UnixMicros((t.0 as i64 + self.skew_secs * 1_000_000) as u64)
    }

    fn uid(&mut self) -> String {
        self.next_uid += 1;
        format!("3478a007-cc90-4afa-8d33-{:012x}", self.next_uid)
    }

    fn bump(&mut self) -> String {
        self.resource_version += 1;
        self.resource_version.to_string()
    }

    /// The two controllers: garbage collection of an orphaned Lease, and the lifecycle
    /// controller's Unknown after the grace period.
    pub fn tick(&mut self) {
        let node_uid = self
            .node
            .as_ref()
            .map(|n| n["metadata"]["uid"].as_str().unwrap_or("").to_string());
        if let Some(lease) = &self.lease {
            let owner = lease["metadata"]["ownerReferences"][0]["uid"].as_str();
            if owner != node_uid.as_deref() {
                self.lease = None;
            }
        }
        let now = self.elapsed();
        let since = self.last_renew_seen.unwrap_or(self.node_created_at);
        let Some(node) = self.node.as_mut() else {
            return;
        };
        if now.saturating_sub(since) <= GRACE {
            return;
        }
        let ready_unknown = node["status"]["conditions"].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "Unknown")
        });
        if ready_unknown {
            return;
        }
        let at = rfc3339(wall_at(since + GRACE));
        if let Some(cs) = node["status"]["conditions"].as_array_mut() {
            for c in cs.iter_mut() {
                let t = c["type"].as_str().unwrap_or("");
                if ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"].contains(&t) {
                    c["status"] = json!("Unknown");
                    c["reason"] = json!("NodeStatusUnknown");
                    c["message"] = json!("Kubelet stopped posting node status.");
                    c["lastTransitionTime"] = json!(at);
                }
            }
        }
        self.unknown_marks += 1;
    }

    fn node_json(&self) -> Value {
        let mut node = self.node.clone().unwrap_or(Value::Null);
        node["metadata"]["managedFields"] = self.managed_fields.clone();
        node
    }

    fn lease_json(&self) -> Value {
        let mut lease = self.lease.clone().unwrap_or(Value::Null);
        lease["metadata"]["managedFields"] = json!([{"manager":"picokubelet","operation":"Update",
            "apiVersion":"coordination.k8s.io/v1","time":"2026-11-24T13:04:14Z","fieldsType":"FieldsV1",
            "fieldsV1":{"f:metadata":{"f:ownerReferences":{".":{},"k:{\"uid\":\"3478a007-cc90-4afa-8d33-6973abfdb2b8\"}":{}}},
            "f:spec":{"f:holderIdentity":{},"f:leaseDurationSeconds":{},"f:renewTime":{}}}}]);
        lease
    }

    fn handle(
        &mut self,
        method: &str,
        path: &str,
        auth: Option<&str>,
        ctype: Option<&str>,
        body: &str,
        epoch: u32,
    ) -> (Route, Outcome) {
        self.tick();
        let r = route(method, path);
        if self.down || epoch != self.epoch {
            return (r, Outcome::Drop);
        }
        let now = self.elapsed();
        if let Some(rule) = self.rules.iter_mut().find(|rule| {
            rule.route.is_none_or(|x| x == r)
                && (rule.from..rule.until).contains(&now)
                && rule.times != Some(0)
        }) {
            if let Some(n) = rule.times.as_mut() {
                *n -= 1;
            }
            match rule.fault {
                Fault::Status {
                    code: 429,
                    retry_after,
                } => {
                    return (
                        r,
                        Outcome::Reply(Answer {
                            status: 429,
                            content_type: "text/plain; charset=utf-8",
                            body: "Too many requests, please try again later.\n".into(),
                            retry_after,
                            close: false,
                        }),
                    )
                }
                Fault::Status { code, retry_after } => {
                    let mut a = Answer::status(code, reason_phrase(code), "scripted failure");
                    a.retry_after = retry_after;
                    return (r, Outcome::Reply(a));
                }
                Fault::Stall => return (r, Outcome::Stall),
                Fault::Drop => return (r, Outcome::Drop),
                Fault::CloseAfter => {
                    let mut a = self.route(r, ctype, body);
                    a.close = true;
                    return (r, Outcome::Reply(a));
                }
            }
        }
        if self.token_revoked || auth != Some(&format!("Bearer {}", self.token)) {
            return (
                r,
                Outcome::Reply(Answer::status(401, "Unauthorized", "Unauthorized")),
            );
        }
        (r, Outcome::Reply(self.route(r, ctype, body)))
    }

    fn route(&mut self, r: Route, ctype: Option<&str>, body: &str) -> Answer {
        let patch_type = match r {
            Route::PatchStatus => Some("application/strategic-merge-patch+json"),
            Route::PatchNode | Route::RenewLease => Some("application/merge-patch+json"),
            _ => None,
        };
        if patch_type.is_some() && ctype != patch_type {
            return Answer::status(415, "UnsupportedMediaType", "wrong patch type");
        }
        let parsed: Value = if body.is_empty() {
            Value::Null
        } else {
            match serde_json::from_str(body) {
                Ok(v) => v,
                Err(_) => return Answer::status(400, "BadRequest", "malformed JSON"),
            }
        };
        if matches!(r, Route::PatchNode | Route::PatchStatus) && !parsed["spec"]["taints"].is_null()
        {
            return Answer::status(403, "Forbidden", "node is not allowed to modify taints");
        }
        let not_found =
            |what: &str| Answer::status(404, "NotFound", &format!("{what} \"{NODE}\" not found"));
        match r {
            Route::Version => Answer::json(
                200,
                &json!({"major":"1","minor":"36","emulationMajor":"1","emulationMinor":"36",
                    "minCompatibilityMajor":"1","minCompatibilityMinor":"35","gitVersion":"v1.36.2",
                    "gitCommit":"microshift-deps-8e16b12fda","gitTreeState":"clean",
                    "buildDate":"2026-11-24T12:25:04Z","goVersion":"go1.27.3","compiler":"gc",
                    "platform":"linux/amd64"}),
            ),
            Route::CreateNode => {
                if self.node.is_some() {
                    return Answer::status(
                        409,
                        "AlreadyExists",
                        "nodes \"esp-node-01\" already exists",
                    );
                }
                let mut node = parsed;
                node["metadata"]["uid"] = json!(self.uid());
                node["metadata"]["resourceVersion"] = json!(self.bump());
                node["metadata"]["creationTimestamp"] = json!(rfc3339(self.wall()));
                self.node = Some(node);
                self.node_created_at = self.elapsed();
                self.last_renew_seen = None;
                Answer::json(201, &self.node_json())
            }
            Route::GetNode if self.node.is_some() => Answer::json(200, &self.node_json()),
            Route::PatchNode if self.node.is_some() => {
                let rv = self.bump();
                let node = self.node.as_mut().unwrap();
                if let Some(labels) = parsed["metadata"]["labels"].as_object() {
                    let have = node["metadata"]["labels"].as_object_mut().unwrap();
                    for (k, v) in labels {
                        have.insert(k.clone(), v.clone());
                    }
                }
                node["metadata"]["resourceVersion"] = json!(rv);
                Answer::json(200, &self.node_json())
            }
            Route::PatchStatus if self.node.is_some() => {
                let rv = self.bump();
                let node = self.node.as_mut().unwrap();
                *node = strategic_merge(node, &parsed, &schema::NODE).unwrap();
                node["metadata"]["resourceVersion"] = json!(rv);
                Answer::json(200, &self.node_json())
            }
            Route::GetNode | Route::PatchNode | Route::PatchStatus => not_found("nodes"),
            Route::GetLease => match &self.lease {
                Some(_) => Answer::json(200, &self.lease_json()),
                None => not_found("leases.coordination.k8s.io"),
            },
            Route::CreateLease => {
                if self.lease.is_some() {
                    return Answer::status(409, "AlreadyExists", "lease exists");
                }
                let mut lease = parsed;
                lease["metadata"]["uid"] = json!(self.uid());
                lease["metadata"]["resourceVersion"] = json!(self.bump());
                lease["metadata"]["creationTimestamp"] = json!(rfc3339(self.wall()));
                let renew = lease["spec"]["renewTime"]
                    .as_str()
                    .unwrap_or("")
                    .to_string();
                self.lease = Some(lease);
                self.observe_renewal(&renew);
                let a = Answer::json(201, &self.lease_json());
                // The garbage collector runs at once if the owner is not the Node.
                self.tick();
                a
            }
            Route::RenewLease => match self.lease.is_some() {
                true => {
                    let renew = parsed["spec"]["renewTime"]
                        .as_str()
                        .unwrap_or("")
                        .to_string();
                    let rv = self.bump();
                    let lease = self.lease.as_mut().unwrap();
                    lease["spec"]["renewTime"] = json!(renew);
                    lease["metadata"]["resourceVersion"] = json!(rv);
                    self.observe_renewal(&renew);
                    Answer::json(200, &self.lease_json())
                }
                false => not_found("leases.coordination.k8s.io"),
            },
            Route::PostEvent => {
                let mut ev = parsed;
                ev["metadata"]["uid"] = json!(self.uid());
                ev["metadata"]["resourceVersion"] = json!(self.bump());
                ev["eventTime"] = Value::Null;
                Answer::json(201, &ev)
            }
            Route::Other => Answer::status(
                404,
                "NotFound",
                "the server could not find the requested resource",
            ),
        }
    }

    /// The lifecycle controller counts a renewal only if renewTime is later than the last one.
    fn observe_renewal(&mut self, renew: &str) {
        let frac = renew.rsplit('.').next().unwrap_or("");
        if frac.len() != 7 || !renew.ends_with('Z') {
            self.renew_bad_format += 1;
        }
        let Ok(t) = parse_rfc3339(renew.as_bytes()) else {
            self.renew_bad_format += 1;
            return;
        };
        if self.last_renew_time.is_some_and(|last| t <= last) {
            self.renew_not_later += 1;
            return;
        }
        self.last_renew_time = Some(t);
        self.last_renew_seen = Some(self.elapsed());
    }
}

async fn read_request(
    io: &mut DuplexStream,
    buf: &mut Vec<u8>,
) -> Option<(String, String, Option<String>, Option<String>, String)> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        if let Ok(httparse::Status::Complete(head_len)) = req.parse(buf) {
            let header = |name: &str| {
                req.headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case(name))
                    .map(|h| String::from_utf8_lossy(h.value).to_string())
            };
            let len: usize = header("content-length").map_or(0, |v| v.parse().unwrap());
            let (method, path) = (req.method?.to_string(), req.path?.to_string());
            let (auth, ctype) = (header("authorization"), header("content-type"));
            while buf.len() < head_len + len {
                let mut chunk = [0u8; 4096];
                let n = io.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            let body = String::from_utf8(buf[head_len..head_len + len].to_vec()).unwrap();
            buf.drain(..head_len + len);
            return Some((method, path, auth, ctype, body));
        }
        let mut chunk = [0u8; 4096];
        let n = io.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn response_bytes(a: &Answer, date: UnixMicros, serial: u64) -> Vec<u8> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nAudit-Id: 13ebf224-a517-4dfd-bf3e-{serial:012x}\r\nCache-Control: no-cache, private\r\nContent-Type: {}\r\n",
        a.status,
        reason_phrase(a.status),
        a.content_type
    );
    if let Some(s) = a.retry_after {
        head.push_str(&format!(
            "Retry-After: {s}\r\nX-Content-Type-Options: nosniff\r\n"
        ));
    }
    head.push_str(
        "X-Kubernetes-Pf-Flowschema-Uid: 30346d99-8f72-4cdf-ac52-29a76bd3b667\r\n\
         X-Kubernetes-Pf-Prioritylevel-Uid: 8a94a7ee-a717-4cc4-8919-e26d491c6ac7\r\n",
    );
    if a.close {
        head.push_str("Connection: close\r\n");
    }
    head.push_str(&format!("Date: {}\r\n", imf_fixdate(date)));
    let body = a.body.as_bytes();
    let mut out;
    if body.len() <= 2048 {
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        out = head.into_bytes();
        out.extend_from_slice(body);
    } else {
        head.push_str("Transfer-Encoding: chunked\r\n\r\n");
        out = head.into_bytes();
        for chunk in body.chunks(2048) {
            out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            out.extend_from_slice(chunk);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\n\r\n");
    }
    out
}

async fn serve(server: Rc<Server>, mut io: DuplexStream, conn: u32, epoch: u32) {
    let mut buf = Vec::new();
    let mut serial = u64::from(conn) << 32;
    while let Some((method, path, auth, ctype, body)) = read_request(&mut io, &mut buf).await {
        serial += 1;
        let (route, outcome, date) = {
            let mut st = server.st.borrow_mut();
            let (route, outcome) = st.handle(
                &method,
                &path,
                auth.as_deref(),
                ctype.as_deref(),
                &body,
                epoch,
            );
            let status = match &outcome {
                Outcome::Reply(a) => a.status,
                Outcome::Stall | Outcome::Drop => 0,
            };
            let at = st.elapsed();
            st.records.push(Record {
                at,
                conn,
                route,
                status,
                body,
            });
            (route, outcome, st.wall())
        };
        let _ = route;
        match outcome {
            Outcome::Drop => return,
            Outcome::Stall => {
                // Hold the connection until the client gives up on it.
                let mut sink = [0u8; 1024];
                while matches!(io.read(&mut sink).await, Ok(n) if n > 0) {}
                return;
            }
            Outcome::Reply(a) => {
                if io
                    .write_all(&response_bytes(&a, date, serial))
                    .await
                    .is_err()
                {
                    return;
                }
                if a.close {
                    let _ = io.shutdown().await;
                    return;
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Running the agent
// ---------------------------------------------------------------------------------------------

pub fn profile() -> NodeProfile<'static> {
    NodeProfile::esp32s3(
        NodeName::new(NODE).unwrap(),
        NodeIds::new([0x24, 0x0a, 0xc4, 0x12, 0x34, 0x56], [7; 16]),
        std::net::Ipv4Addr::new(192, 168, 1, 50),
    )
}

pub fn config() -> AgentConfig<'static> {
    AgentConfig::new(HOST, Some(BearerToken::new(TOKEN)), profile())
}

/// One simulated world: the server, the board, the log, sharing one clock.
pub struct World {
    /// The server's clock (its start is the world's start).
    pub clock: SimClock,
    /// The board's clock: starts with the world, and again at every [`World::reboot`].
    pub board_clock: Cell<SimClock>,
    pub server: Rc<Server>,
    pub board: Rc<Cell<BoardSnapshot>>,
    /// Notified by [`World::signal_board`].
    pub board_changed: Rc<Notify>,
    pub log: Rc<TestLog>,
}

impl World {
    pub fn new() -> World {
        let clock = SimClock {
            start: tokio::time::Instant::now(),
        };
        let log = Rc::new(TestLog::default());
        log.start.set(Some(clock.start));
        World {
            clock,
            board_clock: Cell::new(clock),
            server: Server::new(clock.start),
            board: roomy_board(),
            board_changed: Rc::new(Notify::new()),
            log,
        }
    }

    /// The board's figures change to `snapshot`, and the board says so (`Board::changed`).
    pub fn signal_board(&self, snapshot: BoardSnapshot) {
        self.board.set(snapshot);
        self.board_changed.notify_one();
    }

    /// The board boots again now: its monotonic clock starts over.
    pub fn reboot(&self) {
        self.board_clock.set(SimClock {
            start: tokio::time::Instant::now(),
        });
    }

    /// Simulated time since the world began.
    pub fn now(&self) -> Duration {
        self.clock.elapsed()
    }

    /// Sleeps (in simulated time) until `at` after the world began: for scripts that change
    /// the world at a chosen moment.
    pub async fn at(&self, at: Duration) {
        tokio::time::sleep_until(self.clock.start + at).await;
    }

    /// Runs the agent with `state` until `until` (simulated, from the world's start) while
    /// `script` runs beside it. Must be called inside a `LocalSet`.
    pub async fn run(
        &self,
        config: &AgentConfig<'_>,
        state: &AgentState,
        until: Duration,
        script: impl Future<Output = ()>,
    ) {
        let mut rt = Runtime {
            clock: self.board_clock.get(),
            connector: TestConnector {
                server: self.server.clone(),
            },
            opener: PlainOpener,
            rng: TestRng(0x9e37_79b9_7f4a_7c15),
            board: TestBoard {
                snapshot: self.board.clone(),
                changed: self.board_changed.clone(),
            },
            log: LogRef(self.log.clone()),
        };
        let mut bufs = Box::new(AgentBuffers::new());
        let agent = Box::pin(run_agent(&mut rt, config, state, &mut bufs));
        let end = tokio::time::sleep_until(self.clock.start + until);
        tokio::select! {
            r = agent => panic!("the agent returned: {r:?}"),
            _ = async { tokio::join!(script, end); } => {}
        }
        self.server.tick();
        for (_, line) in self.log.lines.borrow().iter() {
            assert!(
                !line.contains(TOKEN) && !line.contains("node-token"),
                "token in the log: {line}"
            );
        }
    }
}

/// Runs `f` on a `LocalSet` (the connector spawns the server's connection tasks locally).
pub async fn local<F: Future<Output = ()>>(f: F) {
    tokio::task::LocalSet::new().run_until(f).await;
}

/// Renders a micro time, as the agent sends renewTime.
pub fn microtime(t: UnixMicros) -> String {
    let mut b = [0; MICROTIME_LEN];
    format_microtime(t, &mut b).to_string()
}

/// Keeps `Map` imported for tests that build JSON.
pub type JsonMap = Map<String, Value>;
