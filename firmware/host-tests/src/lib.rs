//! The firmware's hardware-free decisions, compiled for the host from the firmware body's own
//! source files (`#[path]`), so that they are tested exactly as they are flashed:
//! - `config::select` — flash record vs compile-time defaults, node-name precedence;
//! - `net::policy` — Ethernet vs Wi-Fi;
//! - `bringup::stages` — the `pk-stage` / `pk-summary` lines, checked together with
//!   scripts/check-hardware-log.sh, which reads them from a board's log.
//!
//! Run: `cd firmware/host-tests && cargo test --locked`.

#[path = "../../body/src/config/select.rs"]
pub mod select;

#[path = "../../body/src/net/policy.rs"]
pub mod policy;

#[path = "../../body/src/bringup/stages.rs"]
pub mod stages;

#[cfg(test)]
mod hardware_log;
#[cfg(test)]
mod tests;
