//! What a fleet's TLS bootstrap shows in its summary line and `/metrics` (a leaf: the fleet's
//! telemetry reads it without knowing the bootstrap).

use std::collections::BTreeMap;

/// The boards' certificates, as the summary line and `/metrics` show them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CertificateFigures {
    /// Boards started that hold no certificate yet.
    pub without_certificate: usize,
    /// Certificate requests waiting for a person's approval.
    pub awaiting_approval: usize,
    /// Certificates issued to the boards since the start (first ones and renewals).
    pub issued: u64,
    /// Boards that started with a certificate they had from an earlier run.
    pub reused: u64,
    /// Refused or failed requests by cause (see [`cause_of`]).
    pub refusals: BTreeMap<&'static str, u64>,
}

impl std::fmt::Display for CertificateFigures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} issued, {} reused, {} without one, {} awaiting approval",
            self.issued, self.reused, self.without_certificate, self.awaiting_approval
        )?;
        for (cause, n) in &self.refusals {
            write!(f, ", {cause} x{n}")?;
        }
        Ok(())
    }
}
