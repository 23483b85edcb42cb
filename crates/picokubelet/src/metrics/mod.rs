//! `--metrics-addr`: Prometheus text exposition (format 0.0.4) on `GET /metrics`.
//!
//! Hand-written rather than `prometheus-client`: that crate's model is live metric objects
//! (atomics) registered up front and updated where things happen, but our figures already exist
//! as plain counters inside each board's `AgentState` (`Cell`s, readable only on the board's
//! thread). A scrape therefore asks every worker thread for its totals (and copies of the few
//! boards that get their own series, [`crate::telemetry::Scrape`]) and encodes them; the encoding is a page of `write!`s, and the crate would bring no HTTP server
//! either. The responder below is a minimal HTTP/1.1 server: one request per connection,
//! `Connection: close`, bounded head and time.
//!
//! - [`exposition`]: the text format, from board reports.
//! - [`server`]: the responder.

pub mod exposition;
pub mod server;

pub use exposition::{encode, CONTENT_TYPE};
pub use server::{bind, serve};
