//! What one frame of the terminal view costs the boards' worker threads: `FleetHandle::glance`
//! (totals over every board, full reports for the 30 rows on screen) against `scrape(PerBoard::All)` (every
//! board's full report, what a `/metrics` scrape gathers), over N boards. The boards wait to be
//! started (a start spread of a day; only the first one connects), so the figures are the
//! request path alone: the channel round trip to each worker and the reads of its boards.
//!
//! cargo run --release -p picokubelet --example glance_cost -- [BOARDS] [THREADS]

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use picokubelet::agent_setup::AgentSetup;
use picokubelet::board::InternalIp;
use picokubelet::cli::{Cli, Command};
use picokubelet::failure::Failure;
use picokubelet::fleet::{run_with_view, Plan};
use picokubelet::fleet_args::Shard;
use picokubelet::kubeconfig::{locate, Kubeconfig, LookupEnv, ResolveOptions};
use picokubelet::telemetry::PerBoard;
use picokubelet_testkit::{ServerOptions, TestApiServer};

const ROWS: usize = 30;

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let boards: u32 = args.next().and_then(|n| n.parse().ok()).unwrap_or(2_000);
    let threads: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(2);
    run(boards, threads).map_err(|e| e.to_string())
}

fn run(boards: u32, threads: usize) -> Result<(), Failure> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(Failure::Output)?;
    let server = runtime
        .block_on(TestApiServer::start(ServerOptions::default()))
        .map_err(Failure::Output)?;
    let dir = std::env::temp_dir().join(format!("picokubelet-glance-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(Failure::Output)?;
    let path = dir.join("kubeconfig");
    std::fs::write(&path, server.kubeconfig(&server.admin_token())).map_err(Failure::Output)?;
    let path_arg = path.display().to_string();
    let cli = Cli::try_parse_from([
        "picokubelet",
        "fleet",
        "--kubeconfig",
        &path_arg,
        "--count",
        "1",
    ])
    .map_err(|e| Failure::Usage(e.to_string()))?;
    let Command::Fleet(args) = cli.command else {
        return Err(Failure::Usage("not a fleet command line".into()));
    };
    let located = locate(args.cluster.kubeconfig.as_deref(), &LookupEnv::default())?;
    let resolved = Kubeconfig::load(&located)?.resolve(&ResolveOptions::default())?;
    let setup = AgentSetup::new(&resolved, &args.node, &args.agent, InternalIp::Loopback)?;
    let plan = Plan {
        names: Shard::WHOLE
            .names("glance", boards)
            .map_err(Failure::Usage)?,
        threads,
        start_spread: Duration::from_secs(86_400),
        quiet: true,
        summary_every: None,
        metrics_addr: None,
        per_board: PerBoard::All,
        max_handshakes: 4,
        timer_tick: Duration::ZERO,
        lease_duration: setup.lease_duration(),
        bootstrap: None,
    };
    let result = run_with_view(
        Arc::new(setup),
        plan,
        std::future::pending(),
        move |fleet| async move {
            let _ = fleet.glance(0..ROWS).await;
            let rounds = 200u32;
            let started = Instant::now();
            let mut rows = 0;
            for _ in 0..rounds {
                rows += fleet.glance(0..ROWS).await.rows.len();
            }
            let per_glance = started.elapsed() / rounds;
            let started = Instant::now();
            let mut reports = 0;
            for _ in 0..rounds / 10 {
                reports += fleet.scrape(PerBoard::All).await.boards.len();
            }
            let per_scrape = started.elapsed() / (rounds / 10);
            println!(
            "{boards} boards on {threads} threads: glance ({ROWS} rows) {per_glance:?} per frame \
             ({} rows each), all reports {per_scrape:?} ({} each)",
            rows / rounds as usize,
            reports / (rounds / 10) as usize
        );
            Ok(())
        },
    );
    let _ = std::fs::remove_dir_all(&dir);
    result
}
