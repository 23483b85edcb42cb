//! Logs go to stderr through `tracing`; `RUST_LOG` filters them (default `info`).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the subscriber once; a second call does nothing.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}
