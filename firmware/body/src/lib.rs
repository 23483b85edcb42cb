//! The chip-independent embassy body of the picokubelet firmware, built for the ESP32 chips by
//! the image crate (`firmware/`) and for Linux by the tap board (`firmware/tapboard`) from these
//! same files:
//! - [`config`]: the `pkconfig` record read through the partition table from any
//!   `embedded_storage::ReadStorage`, else the build's defaults ([`config::select`]: the rules);
//! - [`net`]: the uplinks (embassy-net stacks the board created) and which one is in use;
//! - [`connector`]: the agent's seams — clock, DNS + TCP over the uplink in use with the shared
//!   socket pool, log;
//! - [`board_state`]: the board-state hub (LED inputs, link, heap, Wi-Fi figures);
//! - [`led`]: the LED task down to a [`led::PixelSink`] (the board's pixel driver);
//! - [`watchdog`]: the feeder's liveness rule down to a [`watchdog::Watchdog`];
//! - [`bringup`]: everything after the uplinks exist: the agent and its LED mirror;
//! - [`bootstrap`]: kubelet TLS bootstrap (a record with a bootstrap token): the identity
//!   store in `pkident`, discovery, the CSR, renewal, then the agent with the certificate;
//! - [`console`]: the log output seam.
//!
//! A board provides the drivers (network devices and their runner tasks, flash, pixel,
//! watchdog, entropy), a heap gauge and `pk_body_print`; every decision is here or in
//! picokubelet-core.

#![no_std]

/// `println!` of the body: one line through the board's console ([`console`]).
macro_rules! println {
    ($($arg:tt)*) => {
        $crate::console::print_line(format_args!($($arg)*))
    };
}

pub mod board_state;
pub mod bootstrap;
pub mod bringup;
pub mod config;
pub mod connector;
pub mod console;
pub mod idle_ca;
pub mod led;
pub mod net;
pub mod progress;
pub mod watchdog;
