//! Short-lived aliases: what was `k8s::identity` now lives in [`super::name`],
//! [`super::label`], [`super::node_ids`] and [`super::body_error`]. Removed once every branch has
//! moved.
pub use super::body_error::*;
pub use super::label::*;
pub use super::name::*;
pub use super::node_ids::*;
