//! The terminal view against the test API server in this process, with its server-fault keys:
//! how `docs/ui.txt` was captured, and a reference implementation of `ui::ServerFaults`.
//!
//! cargo run -p picokubelet --example ui_test_server -- [BOARDS]
//!
//! (`picokubelet demo` is the product's version of this.)

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use picokubelet::agent_setup::AgentSetup;
use picokubelet::args::fleet_names;
use picokubelet::board;
use picokubelet::cli::{Cli, Command};
use picokubelet::failure::Failure;
use picokubelet::fleet::Plan;
use picokubelet::kubeconfig::{locate, Kubeconfig, LookupEnv, ResolveOptions};
use picokubelet::ui::{self, ServerFaults};
use picokubelet_testkit::{ServerOptions, TestApiServer};

/// The test server's hooks behind the view's server keys.
struct TestServerFaults {
    server: Arc<TestApiServer>,
    runtime: tokio::runtime::Handle,
    /// The one token every board uses (the fleet acts as admin: NodeRestriction lets a node
    /// token touch only its own Node).
    token: String,
}

impl ServerFaults for TestServerFaults {
    fn describe(&self) -> String {
        format!("test API server {}", self.server.url())
    }

    fn set_stalled(&self, stalled: bool) -> Result<(), String> {
        self.server.etcd_stall(stalled);
        Ok(())
    }

    fn restart(&self) -> Result<(), String> {
        let server = self.server.clone();
        self.runtime.spawn(async move {
            if let Err(e) = server.restart(true).await {
                tracing::error!("the test API server did not restart: {e}");
            }
        });
        Ok(())
    }

    fn revoke_token(&self, _node: &str) -> Result<(), String> {
        // Every board shares the token: all of them get 401 from now on.
        self.server.revoke_token(&self.token);
        Ok(())
    }

    fn delete_node(&self, node: &str) -> Result<(), String> {
        if self.server.delete_node(node) {
            Ok(())
        } else {
            Err(format!("there is no Node {node} (yet)"))
        }
    }
}

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
        names: fleet_names("board", boards).map_err(Failure::Usage)?,
        threads: 2,
        start_spread: Duration::from_secs(2),
        quiet: true,
        summary_every: None,
        metrics_addr: None,
    };
    let faults = TestServerFaults {
        server: server.clone(),
        runtime: runtime.handle().clone(),
        token,
    };
    let result = ui::run(
        Arc::new(setup),
        plan,
        picokubelet::fleet::shutdown_signal(),
        Some(Box::new(faults)),
    );
    let _ = std::fs::remove_dir_all(&dir);
    result
}
