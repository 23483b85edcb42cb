//! The server-certificate verifier: core only, no alloc, no panics on network input.
//!
//! - chain: the leaf, then up to [`MAX_INTERMEDIATES`] intermediates the server sent, anchored
//!   at ONE configured CA (DER); issuer/subject names compared bytewise; cA, pathLen and
//!   keyCertSign enforced on intermediates (so an end-entity certificate of the cluster CA, e.g.
//!   a kubelet client certificate, cannot mint a "server" certificate). Keys: ECDSA P-256 and
//!   P-384, RSA 2048..=4096 bits; certificate signatures ECDSA or RSA PKCS#1 v1.5 with
//!   SHA-256/384/512, mixed freely along the chain (see [`super::signature`]).
//!   The trust anchor's own validity is not checked (as webpki).
//! - identity: a DNS name (matched against EVERY dNSName SAN, one whole leftmost `*` label
//!   allowed, ASCII case-insensitive) or an IP address (matched against iPAddress SANs only).
//!   No CN fallback (RFC 6125 6.4.4, as rustls/webpki and Go do).
//! - leaf: not a CA; EKU must allow serverAuth if present; keyUsage must allow
//!   digitalSignature if present.
//! - time: checked when the caller knows the time (`now`), on every cert in the path; without
//!   it, the path's validity is kept ([`K8sVerifier::unchecked_validity`]) for the caller to
//!   check once it knows the time (see [`super::validity`]).
//! - [`K8sVerifier::is_authenticated`]: true only once BOTH the chain and the
//!   CertificateVerify signature were checked. The caller MUST check it after `open()`
//!   ([`super::open`] does): it is the guard that does not depend on embedded-tls enforcing
//!   the message order (our vendored patch L3 does that too).
//!
//! - CertificateVerify: `ecdsa_secp256r1_sha256`, `ecdsa_secp384r1_sha384`,
//!   `rsa_pss_rsae_sha256/384/512` (TLS 1.3 allows no PKCS#1 v1.5 there).
//! - every refusal leaves a [`VerifyError`] ([`K8sVerifier::last_error`]) that names the
//!   check and its facts.
//!
//! Not covered: RSASSA-PSS *certificate* signatures and PSS-only keys, Ed25519, P-521, name
//! constraints (critical → refused), revocation.

// A refusal carries its facts by value (~350 bytes: names, clock, issuer); without alloc it
// cannot be boxed, and it is built at most once per handshake.
#![allow(clippy::result_large_err)]

use core::net::IpAddr;

use digest::Digest as _;
use embedded_tls::{
    CertificateEntryRef, CertificateRef, CertificateVerifyRef, TlsCipherSuite, TlsError,
    TlsVerifier,
};

use super::check::{Rejection, ServerIdentity, MAX_INTERMEDIATES};
use super::error::{identity_text, name_text, Detail, NameList, VerifyError};
use super::signature::{self, OwnedKey, SigError, VerifyKey};
use super::validity::{CertPeriod, ValidityWindow};
use super::x509::{self, Cert, GeneralName};
use crate::time::UnixMicros;

/// embedded-tls [`TlsVerifier`] for a Kubernetes API server; see the module docs.
/// Keeps the leaf key (up to 520 bytes: RSA-4096), the transcript hash and the last error
/// (~560 bytes) between the calls.
pub struct K8sVerifier<'a, CipherSuite: TlsCipherSuite> {
    ca_der: &'a [u8],
    identity: ServerIdentity<'a>,
    now_secs: Option<i64>,
    leaf_key: Option<OwnedKey>,
    transcript: Option<CipherSuite::Hash>,
    chain_ok: bool,
    signature_ok: bool,
    last_error: Option<VerifyError>,
    /// Without `now`: the verified path's validity, unchecked.
    window: core::cell::Cell<Option<ValidityWindow>>,
}

impl<'a, CipherSuite: TlsCipherSuite> K8sVerifier<'a, CipherSuite> {
    /// `ca_der`: the cluster CA (kubeconfig `certificate-authority-data`, decoded to DER with
    /// [`super::ca::decode_ca`]). `now`: the wall clock if anchored, else `None` (validity
    /// periods are then not checked).
    pub fn new(ca_der: &'a [u8], identity: ServerIdentity<'a>, now: Option<UnixMicros>) -> Self {
        Self {
            ca_der,
            identity,
            now_secs: now.map(|t| i64::try_from(t.as_secs()).unwrap_or(i64::MAX)),
            leaf_key: None,
            transcript: None,
            chain_ok: false,
            signature_ok: false,
            last_error: None,
            window: core::cell::Cell::new(None),
        }
    }

    /// Verified without the time: the validity of the path, for the caller to check when it
    /// knows the time. `None` when the time was checked, or nothing was verified.
    pub fn unchecked_validity(&self) -> Option<ValidityWindow> {
        self.window.get().filter(|_| self.chain_ok)
    }

    /// True only if the certificate chain AND the handshake signature were verified.
    pub const fn is_authenticated(&self) -> bool {
        self.chain_ok && self.signature_ok
    }

    /// Why the verifier refused the server, if it did.
    pub fn last_rejection(&self) -> Option<Rejection> {
        self.last_error.map(|e| e.rejection)
    }

    /// Why the verifier refused the server, with the facts (names, clock, issuer, algorithm).
    pub const fn last_error(&self) -> Option<&VerifyError> {
        self.last_error.as_ref()
    }

    fn reject(&mut self, e: VerifyError) -> TlsError {
        self.last_error = Some(e);
        match e.rejection {
            Rejection::BadSignature => TlsError::InvalidSignature,
            Rejection::OutOfOrder => TlsError::InvalidHandshake,
            Rejection::UnsupportedKey | Rejection::UnsupportedSignature
                if matches!(e.detail, Detail::Handshake(_)) =>
            {
                TlsError::InvalidSignatureScheme
            }
            _ => TlsError::InvalidCertificate,
        }
    }

    fn check_chain(&self, entries: &[CertificateEntryRef<'_>]) -> Result<OwnedKey, VerifyError> {
        let ca = x509::parse(self.ca_der).map_err(|e| VerifyError {
            rejection: Rejection::BadCa,
            detail: Detail::BadCa(e),
        })?;
        let leaf_der = entries
            .first()
            .and_then(der_of)
            .ok_or(VerifyError::bare(Rejection::NoCertificate))?;
        let leaf = x509::parse(leaf_der).map_err(|error| VerifyError {
            rejection: Rejection::Malformed,
            detail: Detail::Malformed { depth: 0, error },
        })?;

        self.check_time(&leaf, 0)?;
        let not_for_server = if leaf.is_ca {
            Some("is a CA certificate (basicConstraints cA), not a server certificate")
        } else if leaf.eku_server_auth == Some(false) {
            Some("does not allow TLS server authentication (extendedKeyUsage without serverAuth)")
        } else if leaf
            .key_usage
            .is_some_and(|ku| ku & x509::KU_DIGITAL_SIGNATURE == 0)
        {
            Some("does not allow signing (keyUsage without digitalSignature)")
        } else {
            None
        };
        if let Some(why) = not_for_server {
            return Err(VerifyError {
                rejection: Rejection::NotForServerAuth,
                detail: Detail::NotForServerAuth(why),
            });
        }
        self.check_name(&leaf)?;
        let leaf_key = VerifyKey::new(&leaf.key)
            .map(|k| OwnedKey::new(&k))
            .map_err(|error| VerifyError {
                rejection: rejection_of(&error),
                detail: Detail::LeafKey {
                    subject: name_text(leaf.subject),
                    error,
                },
            })?;

        // Walk up: at each step try the anchor first, then the intermediates the server sent.
        // A candidate with the right name that fails (not a CA, bad or unsupported signature)
        // is remembered: that failure says more than "unknown issuer".
        let mut child = leaf;
        for depth in 0..=MAX_INTERMEDIATES {
            let mut failure: Option<VerifyError> = None;
            if child.issuer == ca.subject {
                match check_issued_by(&child, &ca) {
                    Ok(()) => return Ok(leaf_key),
                    Err(e) => failure = Some(e),
                }
            }
            if depth == MAX_INTERMEDIATES {
                return Err(failure.unwrap_or(VerifyError::bare(Rejection::ChainTooLong)));
            }
            let mut parent = None;
            for p in entries
                .iter()
                .skip(1)
                .filter_map(der_of)
                .filter_map(|d| x509::parse(d).ok())
                .filter(|p| p.subject == child.issuer)
            {
                let may_issue = p.is_ca
                    && p.key_usage
                        .is_none_or(|ku| ku & x509::KU_KEY_CERT_SIGN != 0)
                    && p.path_len.is_none_or(|n| usize::from(n) >= depth);
                let result = if may_issue {
                    check_issued_by(&child, &p)
                } else {
                    Err(VerifyError {
                        rejection: Rejection::UntrustedChain,
                        detail: Detail::IssuerNotCa {
                            subject: name_text(child.subject),
                            issuer: name_text(p.subject),
                        },
                    })
                };
                match result {
                    Ok(()) => {
                        parent = Some(p);
                        break;
                    }
                    Err(e) => failure = failure.or(Some(e)),
                }
            }
            let Some(parent) = parent else {
                return Err(failure.unwrap_or(VerifyError {
                    rejection: Rejection::UntrustedChain,
                    detail: Detail::UnknownIssuer {
                        subject: name_text(child.subject),
                        issuer: name_text(child.issuer),
                        ca: name_text(ca.subject),
                    },
                }));
            };
            self.check_time(&parent, u8::try_from(depth + 1).unwrap_or(u8::MAX))?;
            child = parent;
        }
        Err(VerifyError::bare(Rejection::ChainTooLong))
    }

    fn check_time(&self, c: &Cert<'_>, depth: u8) -> Result<(), VerifyError> {
        let Some(now) = self.now_secs else {
            let cert = CertPeriod {
                depth,
                subject: name_text(c.subject),
                not_before: c.not_before,
                not_after: c.not_after,
            };
            let window = match (depth, self.window.get()) {
                (0, _) | (_, None) => ValidityWindow::of(cert),
                (_, Some(w)) => w.and(cert),
            };
            self.window.set(Some(window));
            return Ok(());
        };
        let rejection = match now {
            now if now < c.not_before => Rejection::NotYetValid,
            now if now > c.not_after => Rejection::Expired,
            _ => return Ok(()),
        };
        Err(VerifyError {
            rejection,
            detail: Detail::Validity {
                depth,
                subject: name_text(c.subject),
                not_before: c.not_before,
                not_after: c.not_after,
                now,
            },
        })
    }

    fn check_name(&self, leaf: &Cert<'_>) -> Result<(), VerifyError> {
        let Some(san) = leaf.san else {
            // no CN fallback
            return Err(VerifyError {
                rejection: Rejection::NameMismatch,
                detail: Detail::NoSubjectAltName {
                    subject: name_text(leaf.subject),
                },
            });
        };
        for name in x509::general_names(san) {
            let name = name.map_err(|_| VerifyError::bare(Rejection::Malformed))?;
            let hit = match (self.identity, name) {
                (ServerIdentity::Dns(want), GeneralName::Dns(have)) => dns_matches(have, want),
                (ServerIdentity::Ip(IpAddr::V4(want)), GeneralName::Ip(have)) => {
                    have == want.octets()
                }
                (ServerIdentity::Ip(IpAddr::V6(want)), GeneralName::Ip(have)) => {
                    have == want.octets()
                }
                _ => false,
            };
            if hit {
                return Ok(());
            }
        }
        Err(VerifyError {
            rejection: Rejection::NameMismatch,
            detail: Detail::Names {
                expected: identity_text(self.identity),
                presented: NameList::from_san(san),
            },
        })
    }
}

/// The kind of refusal a signature failure is.
fn rejection_of(e: &SigError) -> Rejection {
    match e {
        SigError::UnsupportedKey(_) | SigError::KeyMismatch { .. } => Rejection::UnsupportedKey,
        SigError::UnsupportedAlgorithm(_) => Rejection::UnsupportedSignature,
        SigError::BadKey | SigError::MalformedSignature | SigError::BadSignature => {
            Rejection::UntrustedChain
        }
    }
}

/// Checks `child`'s signature with `issuer`'s key.
fn check_issued_by(child: &Cert<'_>, issuer: &Cert<'_>) -> Result<(), VerifyError> {
    signature::verify_certificate(&issuer.key, child.sig_alg, child.tbs, child.signature).map_err(
        |error| VerifyError {
            rejection: rejection_of(&error),
            detail: Detail::ChainSignature {
                subject: name_text(child.subject),
                issuer: name_text(issuer.subject),
                error,
            },
        },
    )
}

fn der_of<'e>(e: &CertificateEntryRef<'e>) -> Option<&'e [u8]> {
    match *e {
        CertificateEntryRef::X509(d) => Some(d),
        CertificateEntryRef::RawPublicKey(_) => None,
    }
}

/// RFC 6125 matching of a presented dNSName against the reference name, ASCII
/// case-insensitive; a wildcard only as the whole leftmost label of a name with >= 3 labels
/// and matching exactly one label.
pub fn dns_matches(presented: &[u8], reference: &str) -> bool {
    let reference = reference.as_bytes();
    let reference = reference.strip_suffix(b".").unwrap_or(reference);
    if presented.is_empty() || reference.is_empty() {
        return false;
    }
    if let Some(suffix) = presented.strip_prefix(b"*.") {
        if suffix.contains(&b'*') || !suffix.contains(&b'.') {
            return false;
        }
        let Some(dot) = reference.iter().position(|&b| b == b'.') else {
            return false;
        };
        let (first, rest) = reference.split_at(dot);
        return !first.is_empty()
            && rest
                .get(1..)
                .is_some_and(|r| r.eq_ignore_ascii_case(suffix));
    }
    !presented.contains(&b'*') && presented.eq_ignore_ascii_case(reference)
}

/// RFC 8446 4.4.3: 64 spaces, the context string, the transcript hash (SHA-256 or SHA-384).
const CV_PAD: usize = 64;
const CV_CONTEXT: &[u8] = b"TLS 1.3, server CertificateVerify\x00";
const CV_MAX_LEN: usize = CV_PAD + 34 + 48;

impl<CipherSuite: TlsCipherSuite> TlsVerifier<CipherSuite> for K8sVerifier<'_, CipherSuite> {
    fn set_hostname_verification(&mut self, hostname: &str) -> Result<(), TlsError> {
        // Called by open() with TlsConfig::server_name (the SNI). The identity to verify was
        // fixed at construction; refuse a config that says something else.
        match self.identity {
            ServerIdentity::Dns(n) if n.eq_ignore_ascii_case(hostname) => Ok(()),
            _ => Err(TlsError::InvalidCertificate),
        }
    }

    fn verify_certificate(
        &mut self,
        transcript: &CipherSuite::Hash,
        cert: CertificateRef<'_>,
    ) -> Result<(), TlsError> {
        if self.chain_ok || self.leaf_key.is_some() {
            // second Certificate message
            return Err(self.reject(VerifyError::bare(Rejection::OutOfOrder)));
        }
        match self.check_chain(&cert.entries) {
            Ok(key) => {
                self.leaf_key = Some(key);
                self.transcript = Some(transcript.clone());
                self.chain_ok = true;
                Ok(())
            }
            Err(e) => Err(self.reject(e)),
        }
    }

    fn verify_signature(&mut self, verify: CertificateVerifyRef<'_>) -> Result<(), TlsError> {
        let (Some(key), Some(transcript)) = (self.leaf_key.as_ref(), self.transcript.take()) else {
            // CertificateVerify before Certificate
            return Err(self.reject(VerifyError::bare(Rejection::OutOfOrder)));
        };
        let hash = transcript.finalize();
        let mut msg = [0x20u8; CV_MAX_LEN];
        let len = CV_PAD + CV_CONTEXT.len() + hash.len();
        let result = match msg.get_mut(CV_PAD..len) {
            Some(dst) => {
                let (ctx, digest) = dst.split_at_mut(CV_CONTEXT.len());
                ctx.copy_from_slice(CV_CONTEXT);
                digest.copy_from_slice(&hash);
                signature::verify_handshake(
                    &key.key(),
                    verify.signature_scheme,
                    msg.get(..len).unwrap_or(&[]),
                    verify.signature,
                )
            }
            None => Err(SigError::UnsupportedAlgorithm(signature::Algorithm::Tls(
                verify.signature_scheme,
            ))),
        };
        if let Err(error) = result {
            let rejection = match error {
                SigError::BadSignature | SigError::MalformedSignature | SigError::BadKey => {
                    Rejection::BadSignature
                }
                ref e => rejection_of(e),
            };
            return Err(self.reject(VerifyError {
                rejection,
                detail: Detail::Handshake(error),
            }));
        }
        self.signature_ok = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_matching_follows_rfc6125() {
        assert!(dns_matches(b"kubernetes", "kubernetes"));
        assert!(dns_matches(b"Kubernetes", "kubernetes."));
        assert!(!dns_matches(b"kubernetes", "kubernetes.default"));
        assert!(dns_matches(b"*.example.com", "a.example.com"));
        assert!(!dns_matches(b"*.example.com", "a.b.example.com"));
        assert!(!dns_matches(b"*.example.com", "example.com"));
        assert!(!dns_matches(b"*.example.com", ".example.com"));
        assert!(!dns_matches(b"*.com", "example.com"));
        assert!(!dns_matches(b"a*.example.com", "ab.example.com"));
        assert!(!dns_matches(b"", ""));
    }

    #[test]
    fn identity_parsing_tells_ips_from_names() {
        use core::net::{Ipv4Addr, Ipv6Addr};
        assert_eq!(
            ServerIdentity::parse("10.43.0.1"),
            ServerIdentity::Ip(IpAddr::V4(Ipv4Addr::new(10, 43, 0, 1)))
        );
        assert_eq!(
            ServerIdentity::parse("[::1]"),
            ServerIdentity::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST))
        );
        assert_eq!(
            ServerIdentity::parse("kubernetes"),
            ServerIdentity::Dns("kubernetes")
        );
        assert_eq!(
            ServerIdentity::parse("kubernetes").sni(),
            Some("kubernetes")
        );
        assert_eq!(ServerIdentity::parse("::1").sni(), None);
    }
}
