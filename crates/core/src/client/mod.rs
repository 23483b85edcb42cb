//! The API client: a session to the API server kept alive and reused for every request, one
//! exchange at a time through fixed buffers, with counters for metrics and the LED.
//!
//! - [`session`]: the seam between a socket and the session stream ([`SessionOpener`]; TLS is
//!   plugged in there) and the TLS record buffers.
//! - [`api`]: [`ApiClient`], one exchange at a time against a deadline.
//! - [`counters`]: what the client counts, and its error type.
//! - [`credential`]: the bearer token, fixed or from the body's [`TokenSource`].
//!
//! The agent ([`crate::agent`]) owns the connection scope: it connects, opens, wraps the client
//! in an async mutex shared by its tasks (held for one exchange only) and reconnects when the
//! session ends.
pub mod api;
pub mod counters;
pub mod credential;
pub mod session;

pub use api::{
    no_body, ApiClient, ApiRequest, Endpoint, HttpBuffers, Reply, HTTP_RX_LEN, HTTP_TX_LEN,
};
pub use counters::{ClientCounters, ClientError, ClientMetrics};
pub use credential::{SharedToken, TokenSource};
pub use session::{
    OpenContext, OpenError, OpenFailure, PlainOpener, SessionBuffers, SessionOpener, TLS_RX_LEN,
    TLS_TX_LEN,
};
