//! kubelet TLS bootstrap as a board does it, no_std and without allocation: the pieces the
//! firmware and the host's `run --bootstrap-*` share.
//!
//! - [`csr_flow`]: the CSR state machine (post, poll with backoff, issued / refused / gone),
//!   sans I/O, and [`session::csr_session`], which drives it over one [`ApiClient`] session.
//! - [`renewal`]: when a certificate is renewed (a random point in 70–90 % of its lifetime)
//!   and when it can no longer be used (the token again).
//! - [`discovery`]: kubeadm-join discovery: cluster-info's JWS checked with the token, its CA
//!   against the pinned hash.
//! - [`store`]: where the board keeps the issued certificate and key: two flash slots with a
//!   sequence number and a CRC, so a torn write falls back to the other slot (or the token).
//!
//! [`ApiClient`]: crate::client::ApiClient
pub mod board;
pub mod csr_flow;
pub mod discovery;
pub mod renewal;
pub mod session;

pub mod store;
