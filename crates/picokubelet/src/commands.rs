//! Which subcommand runs what: the one place that knows every command module (so none of them
//! needs to know the others).

use crate::cli::{Cli, Command};
use crate::failure::Failure;
use crate::kubeconfig::LookupEnv;

/// Runs the parsed command. `env` is the environment the kubeconfig lookup reads.
pub fn execute(cli: &Cli, env: &LookupEnv) -> Result<(), Failure> {
    match &cli.command {
        Command::Render(args) => crate::app::render_command(args, env),
        Command::Run(args) if args.bootstrap.is_active() => {
            crate::bootstrap::run::run(&args.bootstrap, &args.cluster, &args.node, &args.agent, env)
        }
        Command::Run(args) => {
            crate::app::agent_command(&args.cluster, &args.node, &args.agent, None, env)
        }
        Command::Fleet(args) if args.bootstrap.is_active() => {
            crate::app::fleet_bootstrap_command(args, env)
        }
        Command::Fleet(args) => {
            crate::app::agent_command(&args.cluster, &args.node, &args.agent, Some(args), env)
        }
        Command::Provision(args) => crate::provision::execute(args, env),
        Command::Check(args) => crate::check::execute(args, env),
        Command::Demo(args) => crate::demo::execute(args, env),
    }
}
