//! The flags that let a fleet scale: how much `/metrics` says per board, how many TLS
//! handshakes run at once, and which shard of a larger fleet this process is.

use clap::Args;

use crate::pacer::default_max_handshakes;
use crate::telemetry::{PerBoard, MAX_TROUBLED_SERIES};

/// `fleet`'s scaling flags.
#[derive(Clone, Debug, Args)]
pub struct FleetScaleArgs {
    /// Give every board its own series in /metrics (by default only the totals, plus the
    /// boards in trouble — not Ready, not renewed within a lease duration, or refused — at most
    /// 100 of them)
    #[arg(long)]
    pub metrics_per_board: bool,
    /// Most TLS handshakes (connect included) in flight at once across all boards; a board
    /// waits for a slot before it connects [default: 4 per CPU]
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub max_handshakes: Option<u32>,
}

impl FleetScaleArgs {
    /// The handshake limit, `cpus` being the CPUs this process may use.
    pub fn max_handshakes(&self, cpus: usize) -> usize {
        self.max_handshakes
            .map_or_else(|| default_max_handshakes(cpus), |k| k as usize)
    }

    /// Which boards get their own series.
    pub fn per_board(&self) -> PerBoard {
        if self.metrics_per_board {
            PerBoard::All
        } else {
            PerBoard::InTrouble {
                at_most: MAX_TROUBLED_SERIES,
            }
        }
    }
}
