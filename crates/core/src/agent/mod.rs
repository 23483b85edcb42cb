//! The agent: the reconcilers that keep a Node registered, its Lease renewed and its status
//! honest, over one API session kept alive (DESIGN.md §3–§5, §8).
//!
//! A body runs it like this:
//!
//! ```text
//! let state = AgentState::new();              // readable meanwhile: counters, stats, LED inputs
//! let mut bufs = AgentBuffers::new();          // 27 904 bytes, reused by every reconnect
//! let mut rt = Runtime { clock, connector, opener, rng, board, log };
//! run_agent(&mut rt, &config, &state, &mut bufs).await   // returns only for a bad config
//! ```
//!
//! Inside, per session: the clock is anchored on `/version` (`clock.rs`), the Node registered
//! (`registration.rs`), then four tasks run side by side, each on its own cadence and each
//! holding the shared client for exactly one exchange: re-anchoring, the Lease (`lease.rs`), the
//! status (`status.rs`) and Node Events ([`events`], `event_task.rs`). Every response goes
//! through [`policy::decide`]; retries use [`backoff`] via [`retry`].
pub mod backoff;
pub(crate) mod call;
pub(crate) mod clock;
pub mod config;
pub(crate) mod event_task;
pub mod events;
pub(crate) mod exchange;
pub(crate) mod lease;
pub mod log;
pub mod outcome;
pub mod phase;
pub mod policy;
pub(crate) mod registration;
pub mod retry;
pub mod run;
pub mod state;
pub(crate) mod status;
pub mod timers;

pub use config::{AgentConfig, ConfigError, Timing};
pub use log::{Log, LogEvent, NoLog};
pub use outcome::SessionEnd;
pub use phase::{AgentPhase, ApiErrorClass};
pub use run::{run_agent, AgentBuffers, Runtime};
pub use state::{AgentState, AgentStats};
