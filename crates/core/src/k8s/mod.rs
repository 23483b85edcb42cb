//! Kubernetes objects this agent sends and reads: typed body builders, paths, Status errors.
