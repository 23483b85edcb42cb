//! The command line: `picokubelet render|run|fleet|provision`, its subcommands and the checks
//! across flags. The flags the subcommands share are in [`crate::args`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::{Args, CommandFactory, Parser, Subcommand};
use picokubelet_core::time::UnixMicros;

use crate::args::{parse_boot_random, parse_time, AgentArgs, ClusterArgs, NodeArgs, SignalArgs};
use crate::render::BodyArg;

/// Most boards one `fleet` process runs: each holds a connection from one local address to
/// the one server address, so the ephemeral ports (Linux: 32768-60999, 28,232) bound a process
/// below 28,000; the open-files check (`open_files`) usually stops it earlier, and `--shard`
/// splits a larger fleet over processes.
pub const MAX_FLEET_SIZE: u32 = 25_000;

/// Kubernetes node agent for ESP32 microcontrollers: the host binary (virtual board).
#[derive(Debug, Parser)]
#[command(name = "picokubelet", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the exact JSON body the agent would send (no cluster needed); its size goes to
    /// stderr.
    Render(RenderArgs),
    /// Run one virtual board against the cluster in the kubeconfig.
    Run(RunArgs),
    /// Run many virtual boards (`<node-name>-<n>`) in one process.
    Fleet(FleetArgs),
    /// Write the configuration record a board reads from its `pkconfig` flash partition.
    Provision(crate::provision::ProvisionArgs),
    /// Check, with `run`'s flags, everything `run` needs from the cluster (changes nothing);
    /// one line per check, exit status 1 when any fails.
    Check(RunArgs),
    /// First five minutes: an embedded Kubernetes API server on loopback, a kubeconfig for
    /// kubectl, and virtual boards joining it (or, with --kubeconfig, boards joining your cluster).
    Demo(DemoArgs),
}

#[derive(Clone, Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    #[command(flatten)]
    pub node: NodeArgs,
    #[command(flatten)]
    pub agent: AgentArgs,
    #[command(
        flatten,
        next_help_heading = "TLS bootstrap (instead of a kubeconfig's credentials)"
    )]
    pub bootstrap: crate::bootstrap::args::BootstrapArgs,
}

#[derive(Clone, Debug, Args)]
pub struct FleetArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    #[command(flatten)]
    pub node: NodeArgs,
    #[command(flatten)]
    pub agent: AgentArgs,
    /// Number of virtual boards
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_FLEET_SIZE)))]
    pub count: u32,
    /// Worker threads, each running its share of the boards [default: the available CPUs]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub threads: Option<u32>,
    /// The boards' starts are spread evenly over this period (default: one lease duration), so
    /// their handshakes do not all land at once
    #[arg(long, value_name = "DURATION", default_value = "40s", value_parser = humantime::parse_duration)]
    pub start_spread: Duration,
    #[command(flatten)]
    pub scale: crate::fleet_args::FleetScaleArgs,
    #[command(
        flatten,
        next_help_heading = "TLS bootstrap: every board its own certificate from one token"
    )]
    pub bootstrap: crate::bootstrap::args::BootstrapArgs,
}

/// Most boards a demo runs (a `fleet` runs more).
pub const MAX_DEMO_BOARDS: u32 = 100;

#[derive(Clone, Debug, Args)]
pub struct DemoArgs {
    /// Number of virtual boards
    #[arg(long, value_name = "N", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_DEMO_BOARDS)))]
    pub boards: u32,
    /// Address of the embedded API server (loopback only) [default: 127.0.0.1 and a free port]
    #[arg(long, value_name = "127.0.0.1:PORT", conflicts_with = "kubeconfig")]
    pub addr: Option<SocketAddr>,
    /// Keep the kubeconfig when the demo stops (it is removed otherwise)
    #[arg(long)]
    pub keep: bool,
    /// Show the boards in the live terminal view (as `fleet --ui`), with keys that stall,
    /// restart or revoke the embedded server's token and delete a board's Node
    #[arg(long)]
    pub ui: bool,
    /// Run the boards against this cluster instead of an embedded API server (the kubeconfig's
    /// user must be allowed to create and update every board's Node and Lease, e.g. an admin)
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
}

#[derive(Clone, Debug, Args)]
pub struct RenderArgs {
    /// Which body
    #[arg(value_enum)]
    pub body: BodyArg,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    #[command(flatten)]
    pub node: NodeArgs,
    #[command(flatten)]
    pub signals: SignalArgs,
    /// The wall-clock time to render with, RFC 3339 [default: now]
    #[arg(long, value_name = "RFC3339", value_parser = parse_time)]
    pub now: Option<UnixMicros>,
    /// The 16 random bytes behind bootID, as 32 hex digits [default: fresh]
    #[arg(long, value_name = "HEX", value_parser = parse_boot_random)]
    pub boot_random: Option<[u8; 16]>,
    /// The Node's uid for the Lease's ownerReference (the agent uses the one the server returns)
    #[arg(long, value_name = "UID", default_value = SAMPLE_NODE_UID)]
    pub node_uid: String,
}

/// Placeholder uid for rendering a Lease without a server.
pub const SAMPLE_NODE_UID: &str = "00000000-0000-4000-8000-000000000000";

impl Cli {
    /// Parses the process arguments and checks the cross-flag rules; on error prints clap's
    /// message and exits with status 2.
    pub fn parse_checked() -> Self {
        let cli = Cli::parse();
        if let Err(e) = cli.check() {
            e.exit();
        }
        cli
    }

    /// The checks clap's per-flag parsers cannot do, as clap errors (exit status 2).
    pub fn check(&self) -> Result<(), clap::Error> {
        let (sub, node) = match &self.command {
            Command::Render(a) => ("render", &a.node),
            Command::Run(a) => ("run", &a.node),
            Command::Check(a) => ("check", &a.node),
            Command::Fleet(a) => ("fleet", &a.node),
            // Checked by the command itself (its node flags have other defaults).
            Command::Provision(_) | Command::Demo(_) => return Ok(()),
        };
        // Report against the subcommand, so the usage line shows its flags.
        let invalid = |msg: String| {
            let mut cmd = Cli::command();
            cmd.build();
            match cmd.find_subcommand_mut(sub) {
                Some(sub_cmd) => sub_cmd.error(ErrorKind::ValueValidation, msg),
                None => cmd.error(ErrorKind::ValueValidation, msg),
            }
        };
        node.validate().map_err(&invalid)?;
        if let Command::Fleet(a) = &self.command {
            if let Some(base) = &a.node.node_name {
                let shard = a.scale.shard(crate::board::hostname).map_err(&invalid)?;
                shard.names(base, a.count).map_err(invalid)?;
            }
        }
        Ok(())
    }
}
