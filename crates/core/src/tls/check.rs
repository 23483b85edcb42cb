//! What a server must prove and how a proof can fail: the identity we dialled, how far a chain
//! may reach, and the kinds of rejection the verifier reports (with their details in
//! [`super::error`]).
use core::net::IpAddr;

/// How many intermediates we follow between the leaf and the configured CA.
pub const MAX_INTERMEDIATES: usize = 3;

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
    /// A key (leaf or issuer) we do not implement: another curve or algorithm, RSA outside
    /// 2048..=4096 bits; or a CertificateVerify scheme that does not fit the leaf key.
    UnsupportedKey,
    /// A certificate or CertificateVerify signature algorithm we do not implement (or that
    /// TLS 1.3 forbids there, e.g. PKCS#1 v1.5 in CertificateVerify).
    UnsupportedSignature,
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
            Rejection::UnsupportedSignature => "unsupported_signature",
            Rejection::BadSignature => "bad_signature",
            Rejection::OutOfOrder => "out_of_order",
        }
    }
}
