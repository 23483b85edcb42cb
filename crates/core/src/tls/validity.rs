//! The validity periods of a chain verified before the time was known.
//!
//! A board has no real-time clock: it learns the time from the `Date` of the server's first
//! answer, over the first session, so that session's chain is verified without its validity
//! periods. The verifier then keeps the two certificates that bound the chain's validity — the
//! one that expires first and the one that starts last — and the agent checks them as soon as
//! it knows the time, closing the session with the sentence a refused handshake would give. Every
//! later handshake checks the periods itself. The host does not need this: its clock is
//! trusted from the start.

// A refusal carries its facts by value (no alloc to box them), as the verifier's do; built at
// most once per session.
#![allow(clippy::result_large_err)]

use super::check::Rejection;
use super::error::{Depth, Detail, NameText, VerifyError};

/// One certificate of the path: where it is, who it is, when it is valid (Unix seconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CertPeriod {
    pub depth: Depth,
    pub subject: NameText,
    pub not_before: i64,
    pub not_after: i64,
}

/// The chain's validity, bounded by two of its certificates (often both the leaf). ~180 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValidityWindow {
    /// The certificate with the earliest `notAfter`.
    pub expires_first: CertPeriod,
    /// The certificate with the latest `notBefore`.
    pub starts_last: CertPeriod,
}

impl ValidityWindow {
    /// A window of one certificate.
    pub const fn of(cert: CertPeriod) -> Self {
        ValidityWindow {
            expires_first: cert,
            starts_last: cert,
        }
    }

    /// The window narrowed by one more certificate of the path.
    #[must_use]
    pub fn and(self, cert: CertPeriod) -> Self {
        ValidityWindow {
            expires_first: if cert.not_after < self.expires_first.not_after {
                cert
            } else {
                self.expires_first
            },
            starts_last: if cert.not_before > self.starts_last.not_before {
                cert
            } else {
                self.starts_last
            },
        }
    }

    /// `Ok` when every certificate of the path is valid at `now` (Unix seconds); else the
    /// verifier's refusal for it, as a handshake at `now` would have given.
    pub fn check(&self, now: i64) -> Result<(), VerifyError> {
        let (rejection, cert) = if now > self.expires_first.not_after {
            (Rejection::Expired, self.expires_first)
        } else if now < self.starts_last.not_before {
            (Rejection::NotYetValid, self.starts_last)
        } else {
            return Ok(());
        };
        Err(VerifyError {
            rejection,
            detail: Detail::Validity {
                depth: cert.depth,
                subject: cert.subject,
                not_before: cert.not_before,
                not_after: cert.not_after,
                now,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::error::name_text;
    use std::format;

    fn cert(depth: Depth, not_before: i64, not_after: i64) -> CertPeriod {
        CertPeriod {
            depth,
            subject: name_text(&[]),
            not_before,
            not_after,
        }
    }

    #[test]
    fn the_path_is_valid_only_where_every_certificate_is() {
        // A leaf [100, 200] under an intermediate [150, 300].
        let w = ValidityWindow::of(cert(0, 100, 200)).and(cert(1, 150, 300));
        assert_eq!(w.expires_first.depth, 0);
        assert_eq!(w.starts_last.depth, 1);
        assert!(w.check(150).is_ok() && w.check(200).is_ok());
        let late = w.check(201).unwrap_err();
        assert_eq!(late.rejection, Rejection::Expired);
        let early = w.check(149).unwrap_err();
        assert_eq!(early.rejection, Rejection::NotYetValid);
        assert!(matches!(
            early.detail,
            Detail::Validity {
                depth: 1,
                not_before: 150,
                now: 149,
                ..
            }
        ));
        let line = format!("{late}");
        assert!(line.contains("has expired"), "{line}");
    }
}
