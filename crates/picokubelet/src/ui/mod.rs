//! `--ui`: the live terminal view of the boards (ratatui on crossterm). One row per board: its
//! status LED as the WS2812 would show it (the core's `led` model, animated at 10 frames a
//! second), phase, the nine conditions, last renewal, handshakes, free heap; the totals on top;
//! the log underneath. Keys inject faults into the selected board (cut its connection, low
//! heap) and, when this process embeds the API server (`demo`), into the server
//! ([`ServerFaults`]).
//!
//! The figures come the way `/metrics` gets them: a request over each worker thread's channel
//! ([`crate::fleet::FleetHandle::glance`]), answered with totals and full reports for the rows
//! on screen only, so a 10 000-board fleet costs ten small requests a second.
//!
//! - [`draw`]: one frame from plain inputs (tested headless).
//! - [`keys`]: the key table.
//! - [`view`]: selection, scrolling, the faults set.
//! - [`terminal`]: the terminal and the loop.
//! - [`server`]: the server-fault seam.

pub mod draw;
pub mod keys;
pub mod server;
pub mod terminal;
pub mod view;

use std::io::IsTerminal;
use std::sync::Arc;

pub use server::ServerFaults;

use crate::agent_setup::AgentSetup;
use crate::failure::Failure;
use crate::fleet::{self, Plan};

/// Runs the boards of `plan` with the terminal view until `q`/Ctrl-C (or `stop`: SIGINT/SIGTERM). `server`:
/// the embedded API server's fault hooks (`demo`), `None` against a real cluster. Without a
/// terminal on stdin and stdout (a pipe, CI) it says so in one line and runs with the plain log.
pub fn run(
    setup: Arc<AgentSetup>,
    plan: Plan,
    stop: impl std::future::Future<Output = ()>,
    server: Option<Box<dyn ServerFaults>>,
) -> Result<(), Failure> {
    if !(std::io::stdout().is_terminal() && std::io::stdin().is_terminal()) {
        tracing::info!("--ui: no terminal (stdin or stdout is not one): the plain log follows");
        return fleet::run_until(setup, plan, stop);
    }
    let server_line = server.as_ref().map(|s| s.describe());
    // The view's log pane shows the last few lines, so each board's events (session opened,
    // registered, Node missing…) can be at info even in a fleet: they are what a fault shows.
    let plan = Plan {
        quiet: false,
        ..plan
    };
    fleet::run_with_view(setup, plan, stop, move |handle| async move {
        terminal::drive(handle, server.as_deref(), server_line).await
    })
}
