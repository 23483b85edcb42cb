//! The server-certificate verifier: core only, no alloc, no panics on network input.
//!
//! - chain: the leaf, then up to [`MAX_INTERMEDIATES`] intermediates the server sent, anchored
//!   at ONE configured CA (DER); issuer/subject names compared bytewise; cA, pathLen and
//!   keyCertSign enforced on intermediates (so an end-entity certificate of the cluster CA, e.g.
//!   a kubelet client certificate, cannot mint a "server" certificate); ECDSA P-256/SHA-256.
//!   The trust anchor's own validity is not checked (as webpki).
//! - identity: a DNS name (matched against EVERY dNSName SAN, one whole leftmost `*` label
//!   allowed, ASCII case-insensitive) or an IP address (matched against iPAddress SANs only).
//!   No CN fallback (RFC 6125 6.4.4, as rustls/webpki and Go do).
//! - leaf: not a CA; EKU must allow serverAuth if present; keyUsage must allow
//!   digitalSignature if present.
//! - time: checked only when the caller knows the time (`now`), on every cert in the path.
//! - [`K8sVerifier::is_authenticated`]: true only once BOTH the chain and the
//!   CertificateVerify signature were checked. The caller MUST check it after `open()`
//!   ([`super::open`] does): it is the guard that does not depend on embedded-tls enforcing
//!   the message order (our vendored patch L3 does that too).
//!
//! Not covered: RSA keys (kubeadm's default; needs alloc or a no-alloc RSA verifier), P-384,
//! name constraints (critical → refused), revocation.

use core::net::IpAddr;

use digest::Digest as _;
use embedded_tls::{
    CertificateEntryRef, CertificateRef, CertificateVerifyRef, SignatureScheme, TlsCipherSuite,
    TlsError, TlsVerifier,
};
use p256::ecdsa::signature::Verifier as _;

use super::x509::{self, Cert, GeneralName, PublicKey, SigAlg};
use crate::time::UnixMicros;

/// How many intermediates we follow between the leaf and the configured CA.
pub const MAX_INTERMEDIATES: usize = 3;

/// Length of an uncompressed SEC1 P-256 point.
const P256_POINT_LEN: usize = 65;

/// The name the server must prove (kubeconfig `tls-server-name`, or the host of `server:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerIdentity<'a> {
    /// A DNS name, matched against dNSName SANs; also sent as SNI.
    Dns(&'a str),
    /// An IP address, matched against iPAddress SANs; no SNI is sent (RFC 6066 3).
    Ip(IpAddr),
}

impl<'a> ServerIdentity<'a> {
    /// An IP literal (IPv6 with or without `[...]`) becomes `Ip`, anything else `Dns`.
    pub fn parse(name: &'a str) -> Self {
        let bare = name
            .strip_prefix('[')
            .and_then(|n| n.strip_suffix(']'))
            .unwrap_or(name);
        match bare.parse::<IpAddr>() {
            Ok(ip) => ServerIdentity::Ip(ip),
            Err(_) => ServerIdentity::Dns(name),
        }
    }

    /// What to send as SNI (RFC 6066 forbids IP literals there).
    pub const fn sni(&self) -> Option<&'a str> {
        match *self {
            ServerIdentity::Dns(n) => Some(n),
            ServerIdentity::Ip(_) => None,
        }
    }
}

/// Why the server was not trusted (for the LED, metrics and logs: embedded-tls itself only
/// reports `TlsError::InvalidCertificate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// The configured CA is not a certificate we can parse.
    BadCa,
    /// The server's leaf certificate is not valid DER/X.509 v3 (or has an unknown critical
    /// extension), or its subjectAltName is malformed.
    Malformed,
    /// The Certificate message carried no X.509 certificate.
    NoCertificate,
    /// No path from the leaf to the configured CA (other CA, missing intermediate, issuer that
    /// is not a CA, bad signature on the chain).
    UntrustedChain,
    /// More than [`MAX_INTERMEDIATES`] intermediates would be needed.
    ChainTooLong,
    /// A certificate in the path expired (only checked when the time is known).
    Expired,
    /// A certificate in the path is not valid yet (only checked when the time is known).
    NotYetValid,
    /// The leaf's SANs do not contain the identity we dialled.
    NameMismatch,
    /// The leaf is a CA, or its EKU/keyUsage do not allow TLS server authentication.
    NotForServerAuth,
    /// Leaf key or CertificateVerify scheme other than ECDSA P-256/SHA-256.
    UnsupportedKey,
    /// The CertificateVerify signature does not verify with the leaf key.
    BadSignature,
    /// Certificate/CertificateVerify out of order or repeated.
    OutOfOrder,
}

impl Rejection {
    /// A short stable name for logs and metrics labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            Rejection::BadCa => "bad_ca",
            Rejection::Malformed => "malformed",
            Rejection::NoCertificate => "no_certificate",
            Rejection::UntrustedChain => "untrusted_chain",
            Rejection::ChainTooLong => "chain_too_long",
            Rejection::Expired => "expired",
            Rejection::NotYetValid => "not_yet_valid",
            Rejection::NameMismatch => "name_mismatch",
            Rejection::NotForServerAuth => "not_for_server_auth",
            Rejection::UnsupportedKey => "unsupported_key",
            Rejection::BadSignature => "bad_signature",
            Rejection::OutOfOrder => "out_of_order",
        }
    }
}

/// embedded-tls [`TlsVerifier`] for a Kubernetes API server; see the module docs.
/// Keeps only the leaf key and the transcript hash between the two calls (~250 bytes).
pub struct K8sVerifier<'a, CipherSuite: TlsCipherSuite> {
    ca_der: &'a [u8],
    identity: ServerIdentity<'a>,
    now_secs: Option<i64>,
    leaf_key: Option<[u8; P256_POINT_LEN]>,
    transcript: Option<CipherSuite::Hash>,
    chain_ok: bool,
    signature_ok: bool,
    last_rejection: Option<Rejection>,
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
            last_rejection: None,
        }
    }

    /// True only if the certificate chain AND the handshake signature were verified.
    pub const fn is_authenticated(&self) -> bool {
        self.chain_ok && self.signature_ok
    }

    /// Why the verifier refused the server, if it did.
    pub const fn last_rejection(&self) -> Option<Rejection> {
        self.last_rejection
    }

    fn reject(&mut self, r: Rejection) -> TlsError {
        self.last_rejection = Some(r);
        match r {
            Rejection::BadSignature => TlsError::InvalidSignature,
            Rejection::OutOfOrder => TlsError::InvalidHandshake,
            Rejection::UnsupportedKey => TlsError::InvalidSignatureScheme,
            _ => TlsError::InvalidCertificate,
        }
    }

    fn check_chain(
        &self,
        entries: &[CertificateEntryRef<'_>],
    ) -> Result<[u8; P256_POINT_LEN], Rejection> {
        let ca = x509::parse(self.ca_der).map_err(|_| Rejection::BadCa)?;
        let leaf_der = entries
            .first()
            .and_then(der_of)
            .ok_or(Rejection::NoCertificate)?;
        let leaf = x509::parse(leaf_der).map_err(|_| Rejection::Malformed)?;

        self.check_time(&leaf)?;
        if leaf.is_ca
            || leaf.eku_server_auth == Some(false)
            || leaf
                .key_usage
                .is_some_and(|ku| ku & x509::KU_DIGITAL_SIGNATURE == 0)
        {
            return Err(Rejection::NotForServerAuth);
        }
        if !self.name_matches(&leaf)? {
            return Err(Rejection::NameMismatch);
        }
        let leaf_key = match leaf.key {
            PublicKey::P256(k) => {
                <[u8; P256_POINT_LEN]>::try_from(k).map_err(|_| Rejection::UnsupportedKey)?
            }
            _ => return Err(Rejection::UnsupportedKey),
        };

        // Walk up: at each step try the anchor first, then the intermediates the server sent.
        let mut child = leaf;
        for depth in 0..=MAX_INTERMEDIATES {
            if child.issuer == ca.subject && verify_issued_by(&child, &ca) {
                return Ok(leaf_key);
            }
            if depth == MAX_INTERMEDIATES {
                break;
            }
            let parent = entries
                .iter()
                .skip(1)
                .filter_map(der_of)
                .filter_map(|d| x509::parse(d).ok())
                .find(|p| {
                    p.subject == child.issuer
                        && p.is_ca
                        && p.key_usage
                            .is_none_or(|ku| ku & x509::KU_KEY_CERT_SIGN != 0)
                        && p.path_len.is_none_or(|n| usize::from(n) >= depth)
                        && verify_issued_by(&child, p)
                })
                .ok_or(Rejection::UntrustedChain)?;
            self.check_time(&parent)?;
            child = parent;
        }
        Err(Rejection::ChainTooLong)
    }

    fn check_time(&self, c: &Cert<'_>) -> Result<(), Rejection> {
        match self.now_secs {
            Some(now) if now < c.not_before => Err(Rejection::NotYetValid),
            Some(now) if now > c.not_after => Err(Rejection::Expired),
            _ => Ok(()),
        }
    }

    fn name_matches(&self, leaf: &Cert<'_>) -> Result<bool, Rejection> {
        let Some(san) = leaf.san else {
            return Ok(false); // no CN fallback
        };
        for name in x509::general_names(san) {
            let hit = match (self.identity, name.map_err(|_| Rejection::Malformed)?) {
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
                return Ok(true);
            }
        }
        Ok(false)
    }
}

fn der_of<'e>(e: &CertificateEntryRef<'e>) -> Option<&'e [u8]> {
    match *e {
        CertificateEntryRef::X509(d) => Some(d),
        CertificateEntryRef::RawPublicKey(_) => None,
    }
}

/// Checks `child`'s signature with `issuer`'s key.
fn verify_issued_by(child: &Cert<'_>, issuer: &Cert<'_>) -> bool {
    match (child.sig_alg, issuer.key) {
        (SigAlg::EcdsaSha256, PublicKey::P256(k)) => {
            let (Ok(key), Ok(sig)) = (
                p256::ecdsa::VerifyingKey::from_sec1_bytes(k),
                p256::ecdsa::Signature::from_der(child.signature),
            ) else {
                return false;
            };
            key.verify(child.tbs, &sig).is_ok()
        }
        // P-384 CA keys / SHA-384 signatures: add the p384 crate (+~20-30 KiB) if needed.
        _ => false,
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
            return Err(self.reject(Rejection::OutOfOrder)); // second Certificate message
        }
        match self.check_chain(&cert.entries) {
            Ok(key) => {
                self.leaf_key = Some(key);
                self.transcript = Some(transcript.clone());
                self.chain_ok = true;
                Ok(())
            }
            Err(r) => Err(self.reject(r)),
        }
    }

    fn verify_signature(&mut self, verify: CertificateVerifyRef<'_>) -> Result<(), TlsError> {
        let (Some(key), Some(transcript)) = (self.leaf_key, self.transcript.take()) else {
            return Err(self.reject(Rejection::OutOfOrder)); // CertificateVerify before Certificate
        };
        if verify.signature_scheme != SignatureScheme::EcdsaSecp256r1Sha256 {
            return Err(self.reject(Rejection::UnsupportedKey));
        }
        let hash = transcript.finalize();
        let mut msg = [0x20u8; CV_MAX_LEN];
        let len = CV_PAD + CV_CONTEXT.len() + hash.len();
        let Some(dst) = msg.get_mut(CV_PAD..len) else {
            return Err(self.reject(Rejection::UnsupportedKey));
        };
        let (ctx, digest) = dst.split_at_mut(CV_CONTEXT.len());
        ctx.copy_from_slice(CV_CONTEXT);
        digest.copy_from_slice(&hash);
        let ok = match (
            p256::ecdsa::VerifyingKey::from_sec1_bytes(&key),
            p256::ecdsa::Signature::from_der(verify.signature),
        ) {
            (Ok(k), Ok(s)) => msg.get(..len).is_some_and(|m| k.verify(m, &s).is_ok()),
            _ => false,
        };
        if !ok {
            return Err(self.reject(Rejection::BadSignature));
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
