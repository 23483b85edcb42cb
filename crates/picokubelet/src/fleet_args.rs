//! The flags that let a fleet scale: how much `/metrics` says per board, how many TLS
//! handshakes run at once, and which shard of a larger fleet this process is.

use clap::Args;

use crate::telemetry::{PerBoard, MAX_TROUBLED_SERIES};

/// `fleet`'s scaling flags.
#[derive(Clone, Debug, Args)]
pub struct FleetScaleArgs {
    /// Give every board its own series in /metrics (by default only the totals, plus the
    /// boards in trouble — not Ready, not renewed within a lease duration, or refused — at most
    /// 100 of them)
    #[arg(long)]
    pub metrics_per_board: bool,
}

impl FleetScaleArgs {
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
