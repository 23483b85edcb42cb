//! The agent: what to do after each response (policy), when to retry (backoff), and the
//! reconcilers that keep a Node registered, its Lease renewed and its status honest.
pub mod backoff;
pub mod policy;
