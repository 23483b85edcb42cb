use std::process::ExitCode;

use picokubelet::cli::Cli;
use picokubelet::kubeconfig::LookupEnv;

fn main() -> ExitCode {
    picokubelet::logging::init();
    let cli = Cli::parse_checked();
    match picokubelet::commands::execute(&cli, &LookupEnv::from_process()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("picokubelet: {failure}");
            ExitCode::from(failure.exit_code())
        }
    }
}
