//! Kubernetes objects this agent sends and reads: typed body builders, paths, Status errors.
pub mod body_error;
pub mod chip;
pub mod cluster_info;
pub mod csr;
pub mod event;
pub mod label;
pub mod lease;
pub mod name;
pub mod node;
pub mod node_ids;
pub mod paths;
pub mod pb_status;
pub mod render;
pub mod response;
pub mod status_patch;
pub mod taint;
