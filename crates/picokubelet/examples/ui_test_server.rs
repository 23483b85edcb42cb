//! The terminal view against the test API server in this process, with its server-fault keys:
//! how `docs/ui.txt` was captured (`demo --ui` runs the same view with the same hooks).
//!
//! cargo run -p picokubelet --example ui_test_server -- [BOARDS]
//!
//! (`picokubelet demo` is the product's version of this.)

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use picokubelet::agent_setup::AgentSetup;
use picokubelet::board;
use picokubelet::cli::{Cli, Command};
use picokubelet::demo::EmbeddedFaults;
use picokubelet::failure::Failure;
use picokubelet::fleet::Plan;
use picokubelet::fleet_args::Shard;
use picokubelet::kubeconfig::{locate, Kubeconfig, LookupEnv, ResolveOptions};
use picokubelet::telemetry::PerBoard;
use picokubelet::ui;
use picokubelet_testkit::{ServerOptions, TestApiServer};

fn main() -> ExitCode {
    picokubelet::logging::init();
    let boards: u32 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(6);
    match run(boards) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ui_test_server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(boards: u32) -> Result<(), Failure> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(Failure::Output)?;
    let server = Arc::new(
        runtime
            .block_on(TestApiServer::start(ServerOptions::default()))
            .map_err(Failure::Output)?,
    );
    let token = server.admin_token();
    let dir = std::env::temp_dir().join(format!("picokubelet-ui-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(Failure::Output)?;
    let path = dir.join("kubeconfig");
    std::fs::write(&path, server.kubeconfig(&token)).map_err(Failure::Output)?;

    let count = boards.to_string();
    let path_arg = path.display().to_string();
    let cli = Cli::try_parse_from([
        "picokubelet",
        "fleet",
        "--kubeconfig",
        &path_arg,
        "--count",
        &count,
        "--node-name",
        "board",
        "--lease-renew-interval",
        "2s",
        "--condition-check-interval",
        "2s",
    ])
    .map_err(|e| Failure::Usage(e.to_string()))?;
    let Command::Fleet(args) = cli.command else {
        return Err(Failure::Usage("not a fleet command line".into()));
    };
    let located = locate(args.cluster.kubeconfig.as_deref(), &LookupEnv::default())?;
    let resolved = Kubeconfig::load(&located)?.resolve(&ResolveOptions::default())?;
    let ip = board::internal_ip(Some(&resolved.cluster.server));
    let setup = AgentSetup::new(&resolved, &args.node, &args.agent, ip)?;
    let plan = Plan {
        names: Shard::WHOLE
            .names("board", boards)
            .map_err(Failure::Usage)?,
        threads: 2,
        start_spread: Duration::from_secs(2),
        quiet: true,
        summary_every: None,
        metrics_addr: None,
        per_board: PerBoard::All,
        max_handshakes: 4,
        timer_tick: Duration::ZERO,
        lease_duration: setup.lease_duration(),
        bootstrap: None,
    };
    let faults = EmbeddedFaults::new(server.clone(), runtime.handle().clone(), token);
    let result = ui::run(
        Arc::new(setup),
        plan,
        picokubelet::fleet::shutdown_signal(),
        Some(Box::new(faults)),
    );
    let _ = std::fs::remove_dir_all(&dir);
    result
}
