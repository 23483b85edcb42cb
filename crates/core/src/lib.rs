//! picokubelet-core: every protocol decision of the picokubelet node agent, shared by the ESP32
//! firmware and the Linux virtual board.
//!
//! `#![no_std]` and no `alloc`: every buffer is caller-owned and has a stated size; every parser
//! takes untrusted bytes and answers with a typed error instead of panicking.
#![no_std]
#![forbid(unsafe_code)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

#[cfg(test)]
extern crate std;

// Only with RSA client keys on the host (the `rsa` crate's big integers); never on the board.
#[cfg(feature = "rsa-client")]
extern crate alloc;

pub mod agent;
pub mod bootstrap;
pub mod bounded;
pub mod client;
pub mod conditions;
pub mod http;
pub mod json;
pub mod k8s;
pub mod led;
pub mod log_text;
pub mod provision;
pub mod runtime;
pub mod time;
pub mod tls;
pub mod xorshift;
