//! Runs boards: one for `run`, N for `fleet`. The agent's futures are `!Send` (embedded-tls), so
//! each worker thread has a current-thread runtime and a `LocalSet` running its share of the
//! boards (board i on thread i % W). The main thread keeps its own small runtime for the
//! signals, the metrics endpoint and the periodic summary.
//!
//! Reading the boards from another thread: `AgentState` is `!Sync` (`Cell`s), so it is read
//! only on its own thread. Each worker answers a report request sent over a channel with its
//! boards' totals and copies of the boards that get their own series ([`Scrape`]: all of them
//! with `--metrics-per-board`, else only boards in trouble, bounded). Chosen over publishing
//! snapshots every second into a mutex: nothing is copied unless someone asks (a 2 000-board
//! fleet mostly sleeps), and a scrape sees figures as of the scrape, not up to a second old.
//! The terminal view uses the same channel ([`FleetHandle`]): a [`Glance`] (totals, and reports
//! only for the rows on screen) and the per-board fault controls ([`BoardAction`]).

use std::cell::Cell;
use std::future::Future;
use std::net::SocketAddr;
use std::ops::Range;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use picokubelet_core::agent::{run_agent, AgentBuffers, AgentState, Runtime};
use tokio::sync::{mpsc, oneshot};
use tracing::{error, info};

use crate::agent_setup::AgentSetup;
use crate::bootstrap::fleet::FleetBootstrap;
use crate::controls::{BoardAction, BoardControls};
use crate::failure::Failure;
use crate::pacer::{HandshakePacer, PacedConnector, PacedOpener};
use crate::runtime::{SimulatedBoard, TcpConnector, TokioClock, TracingLog};
use crate::signals_file::SignalsFile;
use crate::telemetry::{
    BoardFigures, BoardReport, BoardTelemetry, FleetTotals, Glance, PerBoard, Scrape,
};
use crate::timer_grid::TimerGrid;

/// How to run the boards.
#[derive(Clone, Debug)]
pub struct Plan {
    pub names: Vec<String>,
    /// Worker threads (at most one per board).
    pub threads: usize,
    /// Board i starts at a random instant in `[i, i + 1) * start_spread / N`.
    pub start_spread: Duration,
    /// Most connects-plus-handshakes in flight across the process.
    pub max_handshakes: usize,
    /// The boards' timer deadlines are rounded up to this shared tick ([`TimerGrid`]; zero:
    /// exact).
    pub timer_tick: Duration,
    /// Per-board routine events at debug (fleet), else at info (run).
    pub quiet: bool,
    /// Log a summary line at info this often.
    pub summary_every: Option<Duration>,
    pub metrics_addr: Option<SocketAddr>,
    /// Which boards get their own series in `/metrics`.
    pub per_board: PerBoard,
    /// A board not renewed for this long is in trouble (the lease duration).
    pub lease_duration: Duration,
    /// TLS bootstrap: each board gets its own client certificate from one bootstrap token
    /// (`fleet --bootstrap-kubeconfig`); `None`: every board uses the kubeconfig's credentials.
    pub bootstrap: Option<Arc<FleetBootstrap>>,
}

/// When board `index` of `count` starts, after the fleet's start: in its own slot of
/// `spread / count`, at `jitter / 2³²` of the slot. Evenly spread slots keep the handshake rate
/// flat; the jitter inside them keeps boards of different processes (shards started by the
/// same StatefulSet) and of different runs from arriving in lockstep.
pub fn start_offset(index: usize, count: usize, spread: Duration, jitter: u32) -> Duration {
    let (Ok(i), Ok(n)) = (u32::try_from(index), u32::try_from(count)) else {
        return spread;
    };
    if n == 0 {
        return Duration::ZERO;
    }
    let slot = spread.checked_div(n).unwrap_or_default();
    let within = Duration::from_nanos(
        u64::try_from(slot.as_nanos().saturating_mul(u128::from(jitter)) >> 32).unwrap_or(0),
    );
    spread
        .checked_mul(i)
        .and_then(|d| d.checked_div(n))
        .map_or(spread, |d| d.saturating_add(within))
}

/// Which thread runs board `index`.
pub fn thread_of(index: usize, threads: usize) -> usize {
    index.checked_rem(threads).unwrap_or(0)
}

enum Request {
    Report(PerBoard, oneshot::Sender<Scrape>),
    /// Totals over the worker's boards, reports of those whose index is in `rows`.
    Glance {
        rows: Range<usize>,
        reply: oneshot::Sender<Glance>,
    },
    Act {
        board: usize,
        action: BoardAction,
    },
    Stop,
}

/// One board as its worker thread keeps it.
struct Slot {
    index: usize,
    name: String,
    started: Cell<bool>,
    state: AgentState,
    telemetry: Rc<BoardTelemetry>,
    controls: BoardControls,
}

impl Slot {
    fn figures(&self) -> BoardFigures {
        BoardFigures::read(self.started.get(), &self.state, &self.telemetry)
    }

    fn report(&self) -> BoardReport {
        BoardReport::read(&self.name, self.started.get(), &self.state, &self.telemetry)
    }
}

fn glance(slots: &[Rc<Slot>], rows: &Range<usize>, lease_duration: Duration) -> Glance {
    let mut g = Glance::default();
    for slot in slots {
        let figures = slot.figures();
        g.totals.add(&figures, figures.in_trouble(lease_duration));
        if rows.contains(&slot.index) {
            g.rows.push((slot.index, slot.report()));
        }
    }
    g
}

/// Asks every worker for its boards' figures and merges them (boards sorted by name: fleet names
/// are zero-padded, so that is board order).
#[derive(Clone)]
struct Workers(
    Arc<Vec<mpsc::UnboundedSender<Request>>>,
    HandshakePacer,
    Option<Arc<FleetBootstrap>>,
);

impl Workers {
    async fn scrape(&self, per_board: PerBoard) -> Scrape {
        let mut waiting = Vec::with_capacity(self.0.len());
        for worker in self.0.iter() {
            let (tx, rx) = oneshot::channel();
            if worker.send(Request::Report(per_board, tx)).is_ok() {
                waiting.push(rx);
            }
        }
        let mut all = Scrape {
            pacer: Some(self.1.figures()),
            certificates: self.2.as_ref().map(|b| b.figures()),
            ..Scrape::default()
        };
        for rx in waiting {
            if let Ok(part) = rx.await {
                all.merge(part, per_board);
            }
        }
        all
    }

    fn stop(&self) {
        for worker in self.0.iter() {
            let _ = worker.send(Request::Stop);
        }
    }
}

/// The running boards as a view sees them (see the module notes). Cheap to clone.
#[derive(Clone)]
pub struct FleetHandle {
    workers: Workers,
    names: Arc<[String]>,
}

impl FleetHandle {
    /// The boards' names, by index.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// What a `/metrics` scrape reads: the totals and the boards `per_board` selects.
    pub async fn scrape(&self, per_board: PerBoard) -> Scrape {
        self.workers.scrape(per_board).await
    }

    /// The totals, and the reports of the boards whose index is in `rows`.
    pub async fn glance(&self, rows: Range<usize>) -> Glance {
        let mut waiting = Vec::with_capacity(self.workers.0.len());
        for worker in self.workers.0.iter() {
            let (reply, rx) = oneshot::channel();
            let rows = rows.clone();
            if worker.send(Request::Glance { rows, reply }).is_ok() {
                waiting.push(rx);
            }
        }
        let mut all = Glance::default();
        for rx in waiting {
            if let Ok(mut part) = rx.await {
                all.totals.merge(&part.totals);
                all.rows.append(&mut part.rows);
            }
        }
        all.rows.sort_by_key(|(index, _)| *index);
        all
    }

    /// Applies `action` to board `board`; `false` if there is no such board or its worker has
    /// stopped.
    pub fn act(&self, board: usize, action: BoardAction) -> bool {
        board < self.names.len()
            && self
                .workers
                .0
                .get(thread_of(board, self.workers.0.len()))
                .is_some_and(|w| w.send(Request::Act { board, action }).is_ok())
    }
}

/// Runs the boards of `plan` until SIGINT/SIGTERM, then logs a summary ("stopping").
pub fn run(setup: Arc<AgentSetup>, plan: Plan) -> Result<(), Failure> {
    run_until(setup, plan, shutdown_signal())
}

/// Runs the boards of `plan` until `stop` completes (`demo` stops on its own signal watch, set
/// up before its files exist), then logs a summary ("stopping").
pub fn run_until(
    setup: Arc<AgentSetup>,
    plan: Plan,
    stop: impl Future<Output = ()>,
) -> Result<(), Failure> {
    run_with_view(setup, plan, stop, |_| std::future::pending())
}

/// [`run_until`], with a view of the boards (the terminal view) on the main thread's runtime
/// beside the stop signal and the metrics endpoint: the boards stop when the view's future
/// completes (its error is returned), or when `stop` does (the view's future is then dropped).
pub fn run_with_view<V, F>(
    setup: Arc<AgentSetup>,
    plan: Plan,
    stop: impl Future<Output = ()>,
    view: V,
) -> Result<(), Failure>
where
    V: FnOnce(FleetHandle) -> F,
    F: Future<Output = Result<(), Failure>>,
{
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
    let pacer = HandshakePacer::new(plan.max_handshakes);
    let mut senders = Vec::with_capacity(threads);
    let mut handles = Vec::with_capacity(threads);
    for (t, share) in shares.into_iter().enumerate() {
        let (tx, rx) = mpsc::unbounded_channel();
        senders.push(tx);
        let setup = setup.clone();
        let plan = plan.clone();
        let pacer = pacer.clone();
        let handle = std::thread::Builder::new()
            .name(format!("boards-{t}"))
            .spawn(move || worker(setup, share, rx, fleet_start, count, &plan, pacer))
            .map_err(Failure::Output)?;
        handles.push(handle);
    }
    let workers = Workers(Arc::new(senders), pacer.clone(), plan.bootstrap.clone());
    let view = view(FleetHandle {
        workers: workers.clone(),
        names: plan.names.clone().into(),
    });
    info!(
        boards = count,
        threads,
        max_handshakes = pacer.limit(),
        start_spread = %humantime::format_duration(plan.start_spread),
        "boards starting"
    );

    let viewed = main_rt.block_on(async {
        let metrics = async {
            match listener {
                Some(listener) => {
                    let w = workers.clone();
                    let per_board = plan.per_board;
                    crate::metrics::serve(
                        listener,
                        move || {
                            let w = w.clone();
                            async move { w.scrape(per_board).await }
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
                        let none = PerBoard::InTrouble { at_most: 0 };
                        let scrape = workers.scrape(none).await;
                        let t = scrape.totals;
                        info!(
                            boards = t.boards,
                            started = t.started,
                            registered = t.registered,
                            auth_failed = t.auth_failed(),
                            renewals = t.renewals,
                            renewal_failures = t.renewal_failures,
                            handshakes = t.handshakes,
                            requests = t.requests,
                            refusals = %scrape.refusals,
                            certificates = scrape.certificates.as_ref().map(tracing::field::display),
                            "fleet"
                        );
                    }
                }
                None => std::future::pending::<()>().await,
            }
        };
        // Which certificate requests wait for a person, said once per request.
        let approvals = async {
            match &plan.bootstrap {
                Some(b) => b.announce_approvals().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = stop => Ok(()),
            () = metrics => Ok(()),
            () = summary => Ok(()),
            () = approvals => Ok(()),
            viewed = view => viewed,
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
    let t = FleetTotals::of(&reports, plan.lease_duration);
    info!(
        boards = t.boards,
        registered = t.registered,
        renewals = t.renewals,
        renewal_failures = t.renewal_failures,
        handshakes = t.handshakes,
        requests = t.requests,
        "stopping"
    );
    viewed?;
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
    pacer: HandshakePacer,
) -> Result<Vec<BoardReport>, Failure> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Failure::Output)?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async {
        let grid = TimerGrid::new(tokio::time::Instant::from_std(fleet_start), plan.timer_tick);
        let slots: Vec<Rc<Slot>> = boards
            .iter()
            .map(|(index, name)| {
                Rc::new(Slot {
                    index: *index,
                    name: name.clone(),
                    started: Cell::new(false),
                    state: AgentState::new(),
                    telemetry: Rc::new(BoardTelemetry::new()),
                    controls: BoardControls::new(),
                })
            })
            .collect();
        let mut buffers = BufferArena::for_boards(boards.len());
        for ((index, _), slot) in boards.iter().zip(&slots) {
            let jitter = rand_core::RngCore::next_u32(&mut rand_core::OsRng);
            let at = fleet_start + start_offset(*index, count, plan.start_spread, jitter);
            let Some(bufs) = buffers.next() else {
                return Err(Failure::Usage(format!(
                    "no memory for the buffers of {} boards ({} bytes each): run fewer boards \
                     per process (--shard I/N splits a fleet)",
                    boards.len(),
                    std::mem::size_of::<AgentBuffers>()
                )));
            };
            let board = run_board(
                setup.clone(),
                slot.clone(),
                Schedule {
                    start_at: tokio::time::Instant::from_std(at),
                    grid,
                },
                plan.quiet,
                pacer.clone(),
                plan.bootstrap.clone(),
                bufs,
            );
            if *index == 0 {
                // What a board costs besides its buffers (BENCHMARKS "Fleet": RSS per board).
                tracing::debug!(
                    future_bytes = std::mem::size_of_val(&board),
                    slot_bytes = std::mem::size_of::<Slot>(),
                    buffers_bytes = std::mem::size_of::<AgentBuffers>(),
                    "one board's task"
                );
            }
            tokio::task::spawn_local(board);
        }
        while let Some(request) = requests.recv().await {
            match request {
                Request::Report(per_board, tx) => {
                    let figures = slots.iter().map(|s| (s.name.as_str(), s.figures()));
                    let mut scrape = Scrape::gather(figures, per_board, plan.lease_duration);
                    for slot in &slots {
                        slot.telemetry.add_refusals_to(&mut scrape.refusals);
                    }
                    let _ = tx.send(scrape);
                }
                Request::Glance { rows, reply } => {
                    let _ = reply.send(glance(&slots, &rows, plan.lease_duration));
                }
                Request::Act { board, action } => {
                    if let Some(slot) = slots.iter().find(|s| s.index == board) {
                        slot.controls.apply(action);
                    }
                }
                Request::Stop => break,
            }
        }
        // Stop (or the main thread is gone): the LocalSet drops every board's future.
        Ok(slots.iter().map(|s| s.report()).collect())
    })
}

/// Where a board's [`AgentBuffers`] (27,904 B) live.
///
/// A fleet's come from one zeroed allocation per worker thread ([`zerocopy::FromZeros`]: one
/// `calloc`, which for more than a few boards is a fresh `mmap`), so the pages of a buffer a
/// board never writes stay unbacked: a Lease answer is ~1.2 KB of a 16,640-byte TLS receive
/// buffer. Boxed one by one they were written with zeros or cleared by `calloc` from reused heap
/// (BENCHMARKS "Fleet": RSS per board). The allocation lives as long as the process, like the
/// boards: it is leaked, as the borrow the boards' `'static` tasks need cannot end earlier. A
/// single board (`run`, which the TLS bootstrap restarts for every new certificate) gets its
/// own box, freed with it.
pub enum BufferArena {
    Arena(std::slice::IterMut<'static, PagedBuffers>),
    One(Option<Box<AgentBuffers>>),
}

/// A board's place in the arena: its buffers padded to whole 4 KiB pages (28,672 B), so that
/// every board's buffers begin at the same offset into a page and the pages a board writes
/// (the fronts of its buffers, which `AgentBuffers` keeps together: HTTP, TLS transmit, then the
/// TLS receive buffer, whose tail only a large record reaches) are not shared with a
/// neighbour's written pages. Unaligned (27,904 B apart), each board's written span (~15 KB
/// from its start) took 4.6 pages on average, now 4 (BENCHMARKS "Fleet", session 7: 18.5 ->
/// 16.0 KiB per board). The padding is
/// never written, so it costs address space, not memory. Not `align(4096)`: Rust's allocator
/// zeroes an over-aligned allocation by writing it, which would back every page.
#[derive(zerocopy::FromZeros)]
#[repr(C)]
pub struct PagedBuffers {
    buffers: AgentBuffers,
    _unwritten: [u8; PAGED_BUFFERS_LEN - std::mem::size_of::<AgentBuffers>()],
}

/// [`AgentBuffers`]' size rounded up to whole 4 KiB pages.
const PAGED_BUFFERS_LEN: usize = std::mem::size_of::<AgentBuffers>().div_ceil(4_096) * 4_096;

/// One board's buffers, from a [`BufferArena`].
pub enum BoardBuffers {
    Arena(&'static mut AgentBuffers),
    Own(Box<AgentBuffers>),
}

impl BufferArena {
    /// Buffers for `boards` boards (`None` from [`Self::next`] if they cannot be allocated).
    pub fn for_boards(boards: usize) -> Self {
        use zerocopy::FromZeros;
        if boards <= 1 {
            return BufferArena::One(AgentBuffers::new_box_zeroed().ok());
        }
        match <[PagedBuffers]>::new_box_zeroed_with_elems(boards) {
            Ok(all) => BufferArena::Arena(Box::leak(all).iter_mut()),
            Err(_) => BufferArena::One(None),
        }
    }
}

impl Iterator for BufferArena {
    type Item = BoardBuffers;

    fn next(&mut self) -> Option<BoardBuffers> {
        match self {
            BufferArena::Arena(all) => all.next().map(|p| BoardBuffers::Arena(&mut p.buffers)),
            BufferArena::One(one) => one.take().map(BoardBuffers::Own),
        }
    }
}

impl BoardBuffers {
    pub fn get(&mut self) -> &mut AgentBuffers {
        match self {
            BoardBuffers::Arena(b) => b,
            BoardBuffers::Own(b) => b,
        }
    }
}

/// When a board starts, and the grid its timers keep to.
struct Schedule {
    start_at: tokio::time::Instant,
    grid: Option<TimerGrid>,
}

/// One board: waits for its start, then runs the agent for ever (with TLS bootstrap: gets its
/// certificate first, and restarts the agent with each renewed one).
async fn run_board(
    setup: Arc<AgentSetup>,
    slot: Rc<Slot>,
    schedule: Schedule,
    quiet: bool,
    pacer: HandshakePacer,
    bootstrap: Option<Arc<FleetBootstrap>>,
    mut bufs: BoardBuffers,
) {
    let Schedule { start_at, grid } = schedule;
    tokio::time::sleep_until(start_at).await;
    slot.started.set(true);
    let (setup, slot, gate) = (&*setup, &*slot, &pacer);
    match bootstrap {
        None => run_agent_as(setup, slot, quiet, gate, grid, None, bufs.get()).await,
        Some(b) => {
            // Each certificate starts a new agent while the last one's future may still be
            // alive, so each gets buffers of its own (the arena's slot stays untouched).
            // Boxed: inline, the bootstrap's CSR sessions would size every board's task, also
            // the boards that never bootstrap (28,144 B against 17,584 B; RSS per board).
            drop(bufs);
            Box::pin(
                b.run_board(&slot.name, gate, move |certificate| async move {
                    let mut own = Box::new(AgentBuffers::new());
                    let certificate = Some(certificate);
                    run_agent_as(setup, slot, quiet, gate, grid, certificate, &mut own).await
                }),
            )
            .await
        }
    }
}

/// Runs the agent of `slot`, authenticating with `certificate` (its own, from TLS bootstrap)
/// or else with the setup's credentials; returns only when its configuration is refused.
async fn run_agent_as(
    setup: &AgentSetup,
    slot: &Slot,
    quiet: bool,
    pacer: &HandshakePacer,
    grid: Option<TimerGrid>,
    certificate: Option<crate::kubeconfig::ClientCertificate>,
    bufs: &mut AgentBuffers,
) {
    let name = slot.name.as_str();
    let labels = setup.node.label_pairs();
    let config = match setup.config(name, &labels) {
        Ok(c) => c,
        Err(e) => {
            error!(node = name, "{e}");
            return;
        }
    };
    let mut board = SimulatedBoard::for_name(name).with_heap_override(slot.controls.heap.clone());
    if let Some(path) = &setup.signals_file {
        board = board.with_signals_file(SignalsFile::new(path, name));
    }
    let mut rt = Runtime {
        clock: TokioClock::start().on_grid(grid),
        connector: PacedConnector::new(
            TcpConnector::new(setup.server.clone()).with_session_cut(slot.controls.session.clone()),
            pacer.clone(),
        ),
        opener: PacedOpener(match &certificate {
            Some(c) => setup.opener().with_client_identity(c.identity()),
            None => setup.opener(),
        }),
        rng: rand_core::OsRng,
        board,
        log: TracingLog::new(name)
            .quiet(quiet)
            .with_telemetry(slot.telemetry.clone()),
    };
    if quiet {
        tracing::debug!(node = name, server = %setup.server, "agent starting");
    } else {
        info!(node = name, server = %setup.server, "agent starting");
    }
    match run_agent(&mut rt, &config, &slot.state, bufs).await {
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
    fn starts_spread_over_the_period_each_jittered_in_its_slot() {
        let spread = Duration::from_secs(40);
        assert_eq!(start_offset(0, 2000, spread, 0), Duration::ZERO);
        assert_eq!(start_offset(1, 2000, spread, 0), Duration::from_millis(20));
        // Half-way through its 20 ms slot, and never into the next one.
        assert_eq!(
            start_offset(1, 2000, spread, 1 << 31),
            Duration::from_millis(30)
        );
        let last = start_offset(1999, 2000, spread, u32::MAX);
        assert!(
            last >= Duration::from_millis(39_980) && last < spread,
            "{last:?}"
        );
        assert_eq!(start_offset(0, 1, spread, 0), Duration::ZERO);
        assert_eq!(start_offset(3, 0, spread, 7), Duration::ZERO);
        // Every board of a fleet starts inside the period, in board order.
        let starts: Vec<Duration> = (0..500)
            .map(|i| start_offset(i, 500, spread, (i as u32).wrapping_mul(2_654_435_761)))
            .collect();
        assert!(starts.windows(2).all(|w| w[0] <= w[1]));
        assert!(starts.iter().all(|s| *s < spread));
    }

    #[test]
    fn boards_go_round_robin() {
        let t: Vec<usize> = (0..5).map(|i| thread_of(i, 2)).collect();
        assert_eq!(t, [0, 1, 0, 1, 0]);
        assert_eq!(thread_of(7, 0), 0);
    }

    #[test]
    fn a_boards_written_fronts_fit_in_four_pages_of_its_own() {
        use picokubelet_core::client::session::{SessionBuffers, TLS_RX_LEN};
        use std::mem::{offset_of, size_of};
        assert_eq!(
            size_of::<PagedBuffers>() % 4_096,
            0,
            "whole pages per board"
        );
        assert_eq!(size_of::<PagedBuffers>(), 28_672);
        let rx = offset_of!(AgentBuffers, session) + offset_of!(SessionBuffers, rx);
        assert_eq!(
            rx + TLS_RX_LEN,
            size_of::<AgentBuffers>(),
            "TLS receive buffer last"
        );
        // Every buffer but the receive buffer is written whole, or nearly (BENCHMARKS "Fleet",
        // session 7); with records up to 4 KiB (the test server's largest, 3,690 B) and the
        // allocator's 16-byte header before the first board, that is 4 pages.
        assert!(16 + rx + 4_096 <= 4 * 4_096, "{rx}");
    }

    #[test]
    fn each_board_gets_its_own_zeroed_buffers() {
        let mut arena = BufferArena::for_boards(3);
        let mut got: Vec<BoardBuffers> = arena.by_ref().collect();
        assert_eq!(got.len(), 3, "one per board");
        assert!(arena.next().is_none(), "and no more");
        for b in &mut got {
            let b = b.get();
            assert!(b.session.rx.iter().chain(&b.session.tx).all(|x| *x == 0));
            assert!(b.http.rx.iter().chain(&b.http.tx).all(|x| *x == 0));
        }
        // Distinct: what one board writes, no other board reads.
        got[0].get().session.rx[0] = 1;
        got[2].get().http.tx[5_119] = 2;
        assert_eq!(got[1].get().session.rx[0], 0);
        assert_eq!(got[1].get().http.tx[5_119], 0);
        assert_eq!(got[0].get().http.tx[5_119], 0);

        let mut one = BufferArena::for_boards(1);
        assert!(matches!(one.next(), Some(BoardBuffers::Own(_))));
        assert!(one.next().is_none());
    }
}
