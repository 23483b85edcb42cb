//! # picokubelet-testkit
//!
//! A Kubernetes API test server that answers like the recorded kube-apiserver v1.36.2
//! (`testdata/k8s`) for everything a node agent does: Nodes (with NodeRestriction, the
//! `not-ready` taint at create, strategic-merge and merge patches, `/status`), Leases in
//! `kube-node-lease` (resourceVersion conflicts, garbage collection with the Node), Events
//! (core/v1 and events.k8s.io/v1), `/version`, 401/403/404/409/415/422/429 answers, and the node
//! lifecycle controller (Unknown after the grace period, `unreachable` taint, events), kubelet
//! TLS bootstrap (bootstrap tokens, CSRs with auto-approval and a signer, cluster-info; see
//! `bootstrap.rs`), all under an injected clock. Heads and bodies follow the recordings byte for
//! byte (see the README for what differs).
//!
//! [`ChaosProxy`] sits between a client and the server and breaks the byte stream on command
//! (resets, refused connects, stalls, TLS garbage, cuts); HTTP-level faults stay the server's
//! ([`TestApiServer::fail_next`], [`burst`]).
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use picokubelet_testkit::{ServerOptions, SimClock, TestApiServer, Fault};
//! let clock = SimClock::at_recording_start();
//! let server = TestApiServer::start(ServerOptions::default().with_clock(clock.clone())).await?;
//! let kubeconfig = server.kubeconfig(&server.node_token("esp-node-01"));
//! server.fail_next(2, Fault::TooManyRequests);
//! clock.advance(std::time::Duration::from_secs(60));
//! let node = server.node("esp-node-01");
//! # let _ = (kubeconfig, node); Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod api;
mod auth;
mod bootstrap;
mod chaos;
mod clock;
mod controller;
mod csr;
mod discovery;
mod faults;
mod fieldset;
mod http;
pub mod json;
mod message;
mod overload;
mod patch;
pub mod schema;
mod server;
mod signer;
mod state;
mod status;
mod store;
mod tls;

pub use auth::{Binding, BootstrapRbac, User, KUBEADM_TOKEN_GROUP};
pub use bootstrap::{BootstrapToken, AUTH_CACHE_TTL};
pub use chaos::{burst, ChaosProxy, ChaosStats, DEFAULT_CHAOS_SEED};
pub use clock::{
    format_http_date, format_micro_time, format_time, parse_rfc3339, Clock, SimClock, Sleep,
    SystemClock, TokioClock,
};
pub use controller::LifecycleOptions;
pub use faults::{ConnectionRecord, Fault, FaultRule, Handshake, RequestRecord};
pub use http::CHUNKING_THRESHOLD;
pub use overload::Overload;
/// The strategic-merge patch as the server applies it (also the core's agent tests' server).
pub use patch::strategic_merge;
pub use server::{ServerOptions, TestApiServer};
pub use tls::{ClientCert, IssueError, IssuedCert, ServerChain, TlsOptions};
