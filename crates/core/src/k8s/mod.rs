//! Kubernetes objects this agent sends and reads: typed body builders, paths, Status errors.
pub mod chip;
pub mod event;
pub mod identity;
pub mod lease;
pub mod node;
pub mod paths;
pub mod render;
pub mod response;
pub mod status_patch;
pub mod taint;
