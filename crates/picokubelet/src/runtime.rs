//! The host bodies of the core's runtime seams: tokio time, TCP sockets, the OS RNG, a simulated
//! board and a `tracing` log. One board runs on one current-thread runtime inside a `LocalSet`
//! (embedded-tls futures are `!Send`).

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::future::Future;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use embedded_io_adapters::tokio_1::FromTokio;
use picokubelet_core::agent::{Log, LogEvent};
use picokubelet_core::runtime::{Board, BoardSnapshot, Clock, Connector, Instant};
use picokubelet_core::xorshift::XorShift64;
use tokio::net::TcpStream;

use crate::controls::{CuttableSocket, HeapOverride, SessionCut};
use crate::kubeconfig::{ServerHost, ServerUrl};
use crate::refusal::{cause_of, is_recovery, Cause, Severity};
use crate::signals_file::SignalsFile;
use crate::telemetry::BoardTelemetry;
use crate::timer_grid::TimerGrid;

/// Monotonic time since the board started, from tokio's clock (so `tokio::time::pause` gives
/// tests simulated time).
#[derive(Clone, Copy, Debug)]
pub struct TokioClock {
    start: tokio::time::Instant,
    grid: Option<TimerGrid>,
}

impl TokioClock {
    /// A clock whose zero is now. Must be called inside a tokio runtime.
    pub fn start() -> Self {
        TokioClock {
            start: tokio::time::Instant::now(),
            grid: None,
        }
    }

    /// Sleeps end on `grid`'s lines (a fleet's boards share one: see [`TimerGrid`]).
    pub fn on_grid(self, grid: Option<TimerGrid>) -> Self {
        TokioClock { grid, ..self }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> Instant {
        let micros = u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX);
        Instant::from_micros(micros)
    }

    fn sleep_until(&self, at: Instant) -> impl Future<Output = ()> {
        let at = self.start + Duration::from_micros(at.as_micros());
        tokio::time::sleep_until(self.grid.map_or(at, |g| g.round_up(at)))
    }
}

/// The host's socket to the API server: TCP, cuttable by the terminal view's fault key.
pub type TcpSocket = CuttableSocket<FromTokio<TcpStream>>;

/// TCP to the kubeconfig's server (name resolution through the OS resolver on every connect,
/// so a moved server is found again). Its sockets fail when its [`SessionCut`] cuts.
#[derive(Clone, Debug)]
pub struct TcpConnector {
    server: ServerUrl,
    cut: Rc<SessionCut>,
}

impl TcpConnector {
    pub fn new(server: ServerUrl) -> Self {
        TcpConnector {
            server,
            cut: Rc::default(),
        }
    }

    /// Sockets this connector opens fail when `cut` cuts (the terminal view's key).
    pub fn with_session_cut(mut self, cut: Rc<SessionCut>) -> Self {
        self.cut = cut;
        self
    }
}

impl Connector for TcpConnector {
    type Socket = TcpSocket;
    type Error = std::io::Error;

    async fn connect(&mut self) -> Result<Self::Socket, Self::Error> {
        let port = self.server.port;
        let stream = match &self.server.host {
            ServerHost::Ipv4(a) => TcpStream::connect(SocketAddr::from((*a, port))).await?,
            ServerHost::Ipv6(a) => TcpStream::connect(SocketAddr::from((*a, port))).await?,
            ServerHost::Dns(name) => TcpStream::connect((name.as_str(), port)).await?,
        };
        // Requests are small and each waits for its answer: no Nagle delay.
        stream.set_nodelay(true)?;
        Ok(self.cut.guard(FromTokio::new(stream)))
    }
}

/// The OS's CSPRNG (embedded-tls draws key shares and randoms from it).
pub type OsRng = rand_core::OsRng;

/// A board whose figures move like an ESP32-S3's on a home Wi-Fi: free heap drifts in
/// 180–280 KB of 320 KB (a random walk of ±2 KB per sample, one sample every
/// [`SAMPLE_INTERVAL`], clamped), and about once in 2 000 samples (≈ 5.5 h) the station
/// reassociates, sometimes to another access point. Seeded, so a run can be repeated; the
/// agent's conditions then move as on a real board (MemoryPressure never fires in that range;
/// Wi-Fi conditions do occasionally).
///
/// The walk is taken lazily: `snapshot` first takes the samples whose instants have passed, so
/// what it reads is a function of the seed and the time. It has no timer of its own: a sampling
/// timer per board was one more timer entry (and poll of the board's whole task) per board every
/// 10 s, for changes the agent's condition check reads on the same cadence anyway (it fired in
/// the same millisecond as that check, so it seldom cost a wake-up of its own: BENCHMARKS
/// "Fleet"). So `changed` completes only for a [`HeapOverride`] (the terminal view's
/// key, which wins over everything); the walk and a [`SignalsFile`] (whose figures replace the
/// simulated ones; the walk goes on underneath, so removing a key resumes it) are seen at the
/// agent's next condition check, as the core's `Board::changed` documents for boards without a
/// change signal.
#[derive(Debug)]
pub struct SimulatedBoard {
    state: Cell<XorShift64>,
    snapshot: Cell<BoardSnapshot>,
    /// The first sample the walk has not taken yet.
    next_sample: Cell<tokio::time::Instant>,
    signals: Option<SignalsFile>,
    heap: Rc<HeapOverride>,
}

/// How often the simulated sensors move (the agent's default condition check).
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(10);

const HEAP_TOTAL: u32 = 320_000;
const HEAP_MIN: u32 = 180_000;
const HEAP_MAX: u32 = 280_000;

impl SimulatedBoard {
    /// A board whose first sample is [`SAMPLE_INTERVAL`] from now (tokio's clock).
    pub fn new(seed: u64) -> Self {
        SimulatedBoard {
            state: Cell::new(XorShift64::new(seed)),
            snapshot: Cell::new(BoardSnapshot {
                heap_free_bytes: 250_000,
                heap_total_bytes: HEAP_TOTAL,
                wifi_associations: 1,
                bssid_changes: 0,
                link_up: true,
                ipv4: None,
            }),
            next_sample: Cell::new(tokio::time::Instant::now() + SAMPLE_INTERVAL),
            signals: None,
            heap: Rc::default(),
        }
    }

    /// A board seeded from its name: the same name walks the same way.
    pub fn for_name(name: &str) -> Self {
        let seed = name.bytes().fold(0x9e37_79b9_7f4a_7c15_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        Self::new(seed)
    }

    /// Overrides the figures with those `file` sets.
    pub fn with_signals_file(mut self, file: SignalsFile) -> Self {
        self.signals = Some(file);
        self
    }

    /// Free heap reads as `heap` says while it is set; a change wakes the agent at once.
    pub fn with_heap_override(mut self, heap: Rc<HeapOverride>) -> Self {
        self.heap = heap;
        self
    }

    fn next(&self) -> u64 {
        let mut x = self.state.get();
        let r = x.next_u64();
        self.state.set(x);
        r
    }
}

impl SimulatedBoard {
    /// One sample of the walk.
    fn step(&self) {
        let mut s = self.snapshot.get();
        let step = (self.next() % 4_001) as i64 - 2_000;
        let heap =
            (i64::from(s.heap_free_bytes) + step).clamp(i64::from(HEAP_MIN), i64::from(HEAP_MAX));
        s.heap_free_bytes = u32::try_from(heap).unwrap_or(HEAP_MIN);
        if self.next() % 2_000 == 0 {
            s.wifi_associations = s.wifi_associations.saturating_add(1);
            if self.next() % 4 == 0 {
                s.bssid_changes = s.bssid_changes.saturating_add(1);
            }
        }
        self.snapshot.set(s);
    }

    /// Takes the samples whose instants have passed.
    fn catch_up(&self) {
        let now = tokio::time::Instant::now();
        let mut at = self.next_sample.get();
        while at <= now {
            self.step();
            at += SAMPLE_INTERVAL;
        }
        self.next_sample.set(at);
    }
}

impl Board for SimulatedBoard {
    fn snapshot(&self) -> BoardSnapshot {
        self.catch_up();
        let s = self.snapshot.get();
        let mut s = match &self.signals {
            Some(file) => file.current().apply(s),
            None => s,
        };
        if let Some(bytes) = self.heap.get() {
            s.heap_free_bytes = bytes;
        }
        s
    }

    /// Completes when the heap override is set or cleared (also a change made while nobody
    /// waited: its permit is never lost). The walk and the signals file have no signal: see
    /// the type's notes.
    async fn changed(&self) {
        self.heap.changed().await
    }
}

/// The agent's log events as `tracing` records, tagged with the board's name: sentences at
/// INFO for what a user wants to know, routine events at DEBUG, and each distinct failure cause
/// ([`crate::refusal`]) once at WARN/ERROR with what to do (repeats at DEBUG, until the agent
/// works again). The events carry no secrets (the token never enters them). Also feeds the
/// board's [`BoardTelemetry`].
#[derive(Clone, Debug)]
pub struct TracingLog {
    node: String,
    /// Fleet mode: routine events at debug (2 000 boards would drown the log), and a cause is
    /// said once per process, not per board (the fleet summary counts them).
    quiet: bool,
    telemetry: Option<Rc<BoardTelemetry>>,
    /// Causes already said since the agent last worked.
    said: Rc<RefCell<HashSet<String>>>,
}

/// Causes a fleet has said (once per process).
static FLEET_SAID: Mutex<Option<HashSet<String>>> = Mutex::new(None);

fn first_in_process(key: &str) -> bool {
    let mut said = FLEET_SAID.lock().unwrap_or_else(PoisonError::into_inner);
    said.get_or_insert_with(HashSet::new).insert(key.to_owned())
}

impl TracingLog {
    pub fn new(node: &str) -> Self {
        TracingLog {
            node: node.to_owned(),
            quiet: false,
            telemetry: None,
            said: Rc::new(RefCell::new(HashSet::new())),
        }
    }

    /// Routine events at debug, causes once per process (fleet mode).
    pub fn quiet(mut self, quiet: bool) -> Self {
        self.quiet = quiet;
        self
    }

    /// Records renewals and refusals into `telemetry`.
    pub fn with_telemetry(mut self, telemetry: Rc<BoardTelemetry>) -> Self {
        self.telemetry = Some(telemetry);
        self
    }

    fn cause(&self, cause: &Cause) {
        let node = self.node.as_str();
        let new_here = self.said.borrow_mut().insert(cause.key.clone());
        let say = new_here && (!self.quiet || first_in_process(&cause.key));
        if !say {
            tracing::debug!(node, cause = %cause.key, "{}", cause.sentence);
            return;
        }
        let also = if self.quiet {
            " (other boards with this cause are counted in the fleet summary)"
        } else {
            ""
        };
        let phase = if cause.auth { "AuthFailed: " } else { "" };
        match cause.severity {
            Severity::Error => tracing::error!(
                node,
                cause = %cause.key,
                auth_failed = cause.auth,
                "{phase}{}{also}",
                cause.sentence
            ),
            Severity::Warn => tracing::warn!(node, cause = %cause.key, "{}{also}", cause.sentence),
        }
    }

    /// The sentence for an event that is no failure: `(info, text)`, info when a user wants
    /// to know it on a single board.
    fn describe(&self, event: &LogEvent<'_>) -> (bool, String) {
        match *event {
            LogEvent::SessionOpened { handshakes } => (
                handshakes == 1,
                format!("connected to the API server (TLS session {handshakes})"),
            ),
            LogEvent::SessionEnded { why, retry_in_ms } => (
                false,
                format!("the session ended ({why:?}); reconnecting in {retry_in_ms} ms"),
            ),
            LogEvent::ClockAnchored { skew_micros: None } => {
                (true, "clock anchored to the API server's Date".to_owned())
            }
            LogEvent::ClockAnchored {
                skew_micros: Some(us),
            } => (
                false,
                format!("clock re-anchored; it had drifted {} ms", us / 1_000),
            ),
            LogEvent::Registered { created: true, uid } => {
                (true, format!("registered the Node (uid {uid})"))
            }
            LogEvent::Registered {
                created: false,
                uid,
            } => (true, format!("adopted the existing Node (uid {uid})")),
            LogEvent::LabelsPatched => (true, "updated the Node's labels".to_owned()),
            LogEvent::ConditionsAdopted { transitions } => (
                true,
                format!("adopted the Node's conditions ({transitions} differed from ours)"),
            ),
            LogEvent::LeaseCreated => (true, "created the Lease; renewing it".to_owned()),
            LogEvent::LeaseAdopted => (true, "adopted the existing Lease; renewing it".to_owned()),
            LogEvent::LeaseRenewed { late_us } => {
                (false, format!("renewed the Lease ({late_us} µs late)"))
            }
            LogEvent::Recovered { gap_ms } => (
                true,
                format!("renewing again after a gap of {} s", gap_ms / 1_000),
            ),
            LogEvent::ConditionFlipped { kind } => {
                (true, format!("condition {} changed", kind.as_str()))
            }
            LogEvent::AddressPushed { internal_ip } => {
                (true, format!("the Node's InternalIP is now {internal_ip}"))
            }
            LogEvent::StatusPushed { periodic } => (
                false,
                format!("pushed the Node's status (periodic: {periodic})"),
            ),
            LogEvent::EventPosted { reason } => (false, format!("posted a {reason} Event")),
            LogEvent::EventDropped { reason } => (true, format!("dropped a {reason} Event")),
            LogEvent::Refused {
                op,
                status,
                message,
                ..
            } => (
                false,
                format!(
                    "{} got {status} (handled): {message}",
                    crate::refusal::doing(op)
                ),
            ),
            _ => (false, format!("{event:?}")),
        }
    }
}

impl Log for TracingLog {
    fn log(&self, event: &LogEvent<'_>) {
        if let Some(t) = &self.telemetry {
            t.observe(event);
        }
        let node = self.node.as_str();
        if let Some(cause) = cause_of(event) {
            self.cause(&cause);
            return;
        }
        if is_recovery(event) {
            let mut said = self.said.borrow_mut();
            if !said.is_empty() {
                said.clear();
                if !self.quiet {
                    tracing::info!(node, "the API server accepts the agent again");
                }
            }
        }
        match event {
            LogEvent::NoDate => tracing::warn!(
                node,
                "the API server's answer had no usable Date header: the clock cannot be anchored"
            ),
            LogEvent::TaintMissing { key } => tracing::warn!(
                node,
                taint = key,
                "the Node lacks the taint {key}: taints can be set only at registration, so pods may be scheduled onto it; delete the Node to have it registered again"
            ),
            LogEvent::NodeMissing => tracing::warn!(
                node,
                "the Node is gone (deleted behind the agent's back): registering it again"
            ),
            // A fleet says routine events at debug only: with debug off (the default), 10,000
            // boards would format a sentence per renewal for nobody.
            _ if self.quiet && !tracing::enabled!(tracing::Level::DEBUG) => {}
            _ => {
                let (info, text) = self.describe(event);
                if info && !self.quiet {
                    tracing::info!(node, "{text}");
                } else {
                    tracing::debug!(node, "{text}");
                }
            }
        }
    }
}
