//! picokubelet, the host binary: command line, kubeconfig, and the virtual board that runs the
//! core's agent on Linux.
#![forbid(unsafe_code)]

pub mod agent_setup;
pub mod app;
pub mod args;
pub mod board;
pub mod board_opener;
pub mod bootstrap;
pub mod check;
pub mod cli;
pub mod commands;
pub mod controls;
pub mod demo;
pub mod failure;
pub mod fleet;
pub mod fleet_args;
pub mod kubeconfig;
pub mod logging;
pub mod metrics;
pub mod open_files;
pub mod pacer;
pub mod provision;
pub mod refusal;
pub mod render;
pub mod runtime;
pub mod secret;
pub mod signals_file;
pub mod telemetry;
pub mod timer_grid;
pub mod ui;
