//! Why a command stopped, and the exit status it gives.

use std::fmt;

use picokubelet_core::k8s::body_error::BodyError;

use crate::kubeconfig::KubeconfigError;

/// Why a command stopped.
#[derive(Debug)]
pub enum Failure {
    Kubeconfig(KubeconfigError),
    /// A core builder refused the node's profile or a body.
    Body(BodyError),
    /// A flag value that passed clap but not a later check.
    Usage(String),
    /// Writing the output failed.
    Output(std::io::Error),
    /// `check`: this many checks failed (the report says which).
    Checks(usize),
    /// TLS bootstrap got no certificate: discovery did not check out, or the server refused,
    /// denied or failed the certificate request (the text says what to do).
    Bootstrap(String),
}

impl Failure {
    /// The process exit status: 2 for usage errors (as clap), else 1.
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Usage(_) => 2,
            Failure::Kubeconfig(_)
            | Failure::Body(_)
            | Failure::Output(_)
            | Failure::Checks(_)
            | Failure::Bootstrap(_) => 1,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Kubeconfig(e) => write!(f, "{e}"),
            Failure::Body(e) => write!(f, "the node's body cannot be built: {e}"),
            Failure::Usage(m) | Failure::Bootstrap(m) => f.write_str(m),
            Failure::Output(e) => write!(f, "cannot write the output: {e}"),
            Failure::Checks(n) => write!(f, "{n} check(s) failed"),
        }
    }
}

impl From<KubeconfigError> for Failure {
    fn from(e: KubeconfigError) -> Self {
        Failure::Kubeconfig(e)
    }
}
