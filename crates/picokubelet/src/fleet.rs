//! Runs boards: one for `run`, N for `fleet`. The agent's futures are `!Send` (embedded-tls), so
//! each worker thread has a current-thread runtime and a `LocalSet` running its share of the
//! boards (board i on thread i % W). The main thread keeps its own small runtime for the
//! signals, the metrics endpoint and the periodic summary.
//!
//! Reading the boards from another thread: `AgentState` is `!Sync` (`Cell`s), so it is read
//! only on its own thread. Each worker answers a report request sent over a channel with copies
//! of its boards' figures ([`BoardReport`]). Chosen over publishing snapshots every second into
//! a mutex: nothing is copied unless someone asks (a 2 000-board fleet mostly sleeps), and a
//! scrape sees figures as of the scrape, not up to a second old.

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use picokubelet_core::agent::{run_agent, AgentBuffers, AgentState, Runtime};
use picokubelet_core::tls::TlsOpener;
use tokio::sync::{mpsc, oneshot};
use tracing::{error, info};

use crate::agent_setup::AgentSetup;
use crate::failure::Failure;
use crate::runtime::{SimulatedBoard, TcpConnector, TokioClock, TracingLog};
use crate::signals_file::SignalsFile;
use crate::telemetry::{refusals_by_cause, BoardReport, BoardTelemetry, FleetTotals};

/// How to run the boards.
#[derive(Clone, Debug)]
pub struct Plan {
    pub names: Vec<String>,
    /// Worker threads (at most one per board).
    pub threads: usize,
    /// Board i starts at `i * start_spread / N`.
    pub start_spread: Duration,
    /// Per-board routine events at debug (fleet), else at info (run).
    pub quiet: bool,
    /// Log a summary line at info this often.
    pub summary_every: Option<Duration>,
    pub metrics_addr: Option<SocketAddr>,
}

/// When board `index` of `count` starts, after the fleet's start.
pub fn start_offset(index: usize, count: usize, spread: Duration) -> Duration {
    let (Ok(i), Ok(n)) = (u32::try_from(index), u32::try_from(count)) else {
        return spread;
    };
    if n == 0 {
        return Duration::ZERO;
    }
    spread
        .checked_mul(i)
        .and_then(|d| d.checked_div(n))
        .unwrap_or(spread)
}

/// Which thread runs board `index`.
pub fn thread_of(index: usize, threads: usize) -> usize {
    index.checked_rem(threads).unwrap_or(0)
}

enum Request {
    Report(oneshot::Sender<Vec<BoardReport>>),
    Stop,
}

/// One board as its worker thread keeps it.
struct Slot {
    name: String,
    started: Cell<bool>,
    state: AgentState,
    telemetry: Rc<BoardTelemetry>,
}

impl Slot {
    fn report(&self) -> BoardReport {
        BoardReport::read(&self.name, self.started.get(), &self.state, &self.telemetry)
    }
}

/// Asks every worker for its boards' reports (sorted by name: fleet names are zero-padded, so
/// that is board order).
#[derive(Clone)]
struct Workers(Arc<Vec<mpsc::UnboundedSender<Request>>>);

impl Workers {
    async fn reports(&self) -> Vec<BoardReport> {
        let mut waiting = Vec::with_capacity(self.0.len());
        for worker in self.0.iter() {
            let (tx, rx) = oneshot::channel();
            if worker.send(Request::Report(tx)).is_ok() {
                waiting.push(rx);
            }
        }
        let mut all = Vec::new();
        for rx in waiting {
            if let Ok(mut reports) = rx.await {
                all.append(&mut reports);
            }
        }
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    fn stop(&self) {
        for worker in self.0.iter() {
            let _ = worker.send(Request::Stop);
        }
    }
}

/// Runs the boards of `plan` until SIGINT/SIGTERM, then logs a summary ("stopping").
pub fn run(setup: Arc<AgentSetup>, plan: Plan) -> Result<(), Failure> {
    let started_at = SystemTime::now();
    let main_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Failure::Output)?;
    let listener = match plan.metrics_addr {
        Some(addr) => {
            let (listener, local) = main_rt.block_on(crate::metrics::bind(addr)).map_err(|e| {
                Failure::Usage(format!("--metrics-addr {addr}: cannot listen: {e}"))
            })?;
            info!("metrics listening on {local}");
            Some(listener)
        }
        None => None,
    };

    let threads = plan.threads.clamp(1, plan.names.len().max(1));
    let fleet_start = std::time::Instant::now();
    let count = plan.names.len();
    let mut shares: Vec<Vec<(usize, String)>> = vec![Vec::new(); threads];
    for (i, name) in plan.names.iter().enumerate() {
        if let Some(share) = shares.get_mut(thread_of(i, threads)) {
            share.push((i, name.clone()));
        }
    }
    let mut senders = Vec::with_capacity(threads);
    let mut handles = Vec::with_capacity(threads);
    for (t, share) in shares.into_iter().enumerate() {
        let (tx, rx) = mpsc::unbounded_channel();
        senders.push(tx);
        let setup = setup.clone();
        let plan = plan.clone();
        let handle = std::thread::Builder::new()
            .name(format!("boards-{t}"))
            .spawn(move || worker(setup, share, rx, fleet_start, count, &plan))
            .map_err(Failure::Output)?;
        handles.push(handle);
    }
    let workers = Workers(Arc::new(senders));
    info!(
        boards = count,
        threads,
        start_spread = %humantime::format_duration(plan.start_spread),
        "boards starting"
    );

    main_rt.block_on(async {
        let metrics = async {
            match listener {
                Some(listener) => {
                    let w = workers.clone();
                    crate::metrics::serve(
                        listener,
                        move || {
                            let w = w.clone();
                            async move { w.reports().await }
                        },
                        started_at,
                    )
                    .await
                }
                None => std::future::pending().await,
            }
        };
        let summary = async {
            match plan.summary_every {
                Some(every) => {
                    let mut tick =
                        tokio::time::interval_at(tokio::time::Instant::now() + every, every);
                    loop {
                        tick.tick().await;
                        let reports = workers.reports().await;
                        let t = FleetTotals::of(&reports);
                        let refusals = refusals_by_cause(&reports);
                        let auth_failed = reports.iter().filter(|r| r.auth_failed).count();
                        info!(
                            boards = t.boards,
                            started = t.started,
                            registered = t.registered,
                            auth_failed,
                            renewals = t.renewals,
                            renewal_failures = t.renewal_failures,
                            handshakes = t.handshakes,
                            requests = t.requests,
                            refusals = %refusals,
                            "fleet"
                        );
                    }
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = shutdown_signal() => {}
            () = metrics => {}
            () = summary => {}
        }
    });

    workers.stop();
    let mut reports = Vec::with_capacity(count);
    let mut failed = None;
    for handle in handles {
        match handle.join() {
            Ok(Ok(mut r)) => reports.append(&mut r),
            Ok(Err(e)) => failed = Some(e),
            Err(_) => failed = Some(Failure::Usage("a board thread panicked".into())),
        }
    }
    let t = FleetTotals::of(&reports);
    info!(
        boards = t.boards,
        registered = t.registered,
        renewals = t.renewals,
        renewal_failures = t.renewal_failures,
        handshakes = t.handshakes,
        requests = t.requests,
        "stopping"
    );
    failed.map_or(Ok(()), Err)
}

/// One worker thread: its boards, and the answers to report requests, until `Stop`.
fn worker(
    setup: Arc<AgentSetup>,
    boards: Vec<(usize, String)>,
    mut requests: mpsc::UnboundedReceiver<Request>,
    fleet_start: std::time::Instant,
    count: usize,
    plan: &Plan,
) -> Result<Vec<BoardReport>, Failure> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Failure::Output)?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async {
        let slots: Vec<Rc<Slot>> = boards
            .iter()
            .map(|(_, name)| {
                Rc::new(Slot {
                    name: name.clone(),
                    started: Cell::new(false),
                    state: AgentState::new(),
                    telemetry: Rc::new(BoardTelemetry::new()),
                })
            })
            .collect();
        for ((index, _), slot) in boards.iter().zip(&slots) {
            let at = fleet_start + start_offset(*index, count, plan.start_spread);
            tokio::task::spawn_local(run_board(
                setup.clone(),
                slot.clone(),
                tokio::time::Instant::from_std(at),
                plan.quiet,
            ));
        }
        while let Some(Request::Report(tx)) = requests.recv().await {
            let _ = tx.send(slots.iter().map(|s| s.report()).collect());
        }
        // Stop (or the main thread is gone): the LocalSet drops every board's future.
        Ok(slots.iter().map(|s| s.report()).collect())
    })
}

/// One board: waits for its start, then runs the agent for ever.
async fn run_board(
    setup: Arc<AgentSetup>,
    slot: Rc<Slot>,
    start_at: tokio::time::Instant,
    quiet: bool,
) {
    tokio::time::sleep_until(start_at).await;
    slot.started.set(true);
    let name = slot.name.as_str();
    let labels = setup.node.label_pairs();
    let config = match setup.config(name, &labels) {
        Ok(c) => c,
        Err(e) => {
            error!(node = name, "{e}");
            return;
        }
    };
    let mut board = SimulatedBoard::for_name(name);
    if let Some(path) = &setup.signals_file {
        board = board.with_signals_file(SignalsFile::new(path, name));
    }
    let mut rt = Runtime {
        clock: TokioClock::start(),
        connector: TcpConnector::new(setup.server.clone()),
        opener: TlsOpener::new(setup.trust()),
        rng: rand_core::OsRng,
        board,
        log: TracingLog::new(name)
            .quiet(quiet)
            .with_telemetry(slot.telemetry.clone()),
    };
    let mut bufs = Box::new(AgentBuffers::new());
    if quiet {
        tracing::debug!(node = name, server = %setup.server, "agent starting");
    } else {
        info!(node = name, server = %setup.server, "agent starting");
    }
    match run_agent(&mut rt, &config, &slot.state, &mut bufs).await {
        Ok(never) => match never {},
        Err(e) => error!(node = name, "agent configuration: {e:?}"),
    }
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_spread_evenly_over_the_period() {
        let spread = Duration::from_secs(40);
        assert_eq!(start_offset(0, 2000, spread), Duration::ZERO);
        assert_eq!(start_offset(1, 2000, spread), Duration::from_millis(20));
        assert_eq!(
            start_offset(1999, 2000, spread),
            Duration::from_millis(39_980)
        );
        assert_eq!(start_offset(0, 1, spread), Duration::ZERO);
        assert_eq!(start_offset(3, 0, spread), Duration::ZERO);
    }

    #[test]
    fn boards_go_round_robin() {
        let t: Vec<usize> = (0..5).map(|i| thread_of(i, 2)).collect();
        assert_eq!(t, [0, 1, 0, 1, 0]);
        assert_eq!(thread_of(7, 0), 0);
    }
}
