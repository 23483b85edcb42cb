//! Why the verifier refused a server, in words a user can act on: which check failed and the
//! facts it compared (names in the certificate vs the name dialled, the validity window vs our
//! clock, the issuer vs the configured CA, the key or algorithm by name).
//!
//! Everything is copied into fixed-size fields (no alloc; the handshake buffers are reused
//! after the handshake): [`VerifyError`] is ~560 bytes. Text longer than its field is cut and
//! shown with a trailing `…`.

use core::fmt::{self, Write as _};

use super::check::{Rejection, ServerIdentity, MAX_INTERMEDIATES};
use super::der::{self, Reader};
use super::signature::SigError;
use super::x509::{self, GeneralName, X509Error};
use crate::time::{format_rfc3339, UnixMicros, RFC3339_LEN};

/// Bytes kept of one certificate name (`CN=...`).
pub const NAME_TEXT_MAX: usize = 64;
/// Bytes kept of the list of names a certificate holds.
pub const NAME_LIST_MAX: usize = 240;

/// Printable ASCII, at most `N` bytes (anything else becomes `?`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Text<const N: usize> {
    buf: [u8; N],
    len: usize,
    truncated: bool,
}

impl<const N: usize> Text<N> {
    /// Empty.
    pub const fn new() -> Self {
        Text {
            buf: [0; N],
            len: 0,
            truncated: false,
        }
    }

    /// `bytes` with non-printable bytes replaced.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        let mut t = Self::new();
        t.push_bytes(bytes);
        t
    }

    fn push_bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            let b = if (0x20..0x7f).contains(&b) { b } else { b'?' };
            match self.buf.get_mut(self.len) {
                Some(slot) => {
                    *slot = b;
                    self.len += 1;
                }
                None => {
                    self.truncated = true;
                    return;
                }
            }
        }
    }

    /// The text kept.
    pub fn as_str(&self) -> &str {
        let bytes = self.buf.get(..self.len).unwrap_or(&[]);
        core::str::from_utf8(bytes).unwrap_or("?")
    }

    /// True if text was cut.
    pub const fn is_truncated(&self) -> bool {
        self.truncated
    }
}

impl<const N: usize> Default for Text<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Write for Text<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push_bytes(s.as_bytes());
        Ok(())
    }
}

impl<const N: usize> fmt::Display for Text<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())?;
        if self.truncated {
            f.write_str("…")?;
        }
        Ok(())
    }
}

impl<const N: usize> fmt::Debug for Text<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())?;
        if self.truncated {
            f.write_str("…")?;
        }
        Ok(())
    }
}

/// A certificate name (`CN=…`, else `O=…`/`OU=…`), shown as the user knows it.
pub type NameText = Text<NAME_TEXT_MAX>;

const OID_CN: &[u8] = &[0x55, 0x04, 0x03];
const OID_O: &[u8] = &[0x55, 0x04, 0x0a];
const OID_OU: &[u8] = &[0x55, 0x04, 0x0b];

/// The CN of a Name (the whole Name TLV as in [`x509::Cert::issuer`]), else its O/OU.
pub fn name_text(name: &[u8]) -> NameText {
    let mut best: Option<(u8, &[u8], &[u8])> = None; // (rank, label, value)
    let mut outer = Reader::new(name);
    let parsed = (|| -> Result<(), der::DerError> {
        let mut rdns = outer.sequence()?;
        while !rdns.is_empty() {
            let mut set = Reader::new(rdns.read(0x31)?.value);
            while !set.is_empty() {
                let mut atv = set.sequence()?;
                let oid = atv.read(der::OID)?.value;
                let value = atv.read_any()?.value;
                let (rank, label): (u8, &[u8]) = match oid {
                    OID_CN => (0, b"CN="),
                    OID_O => (1, b"O="),
                    OID_OU => (2, b"OU="),
                    _ => continue,
                };
                if best.is_none_or(|(r, _, _)| rank < r) {
                    best = Some((rank, label, value));
                }
            }
        }
        Ok(())
    })();
    match (parsed, best) {
        (_, Some((_, label, value))) => {
            let mut t = NameText::from_bytes(label);
            t.push_bytes(value);
            t
        }
        (Ok(()), None) => NameText::from_bytes(b"(a name without CN, O or OU)"),
        (Err(_), None) => NameText::from_bytes(b"(an unreadable name)"),
    }
}

/// The names a leaf certificate holds (its dNSName and iPAddress SANs), comma-separated.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct NameList {
    /// `kubernetes, kubernetes.default, IP 127.0.0.1, …`.
    pub text: Text<NAME_LIST_MAX>,
    /// How many DNS and IP names there are (all of them, also those cut from `text`).
    pub count: u16,
}

impl NameList {
    /// From a subjectAltName's contents.
    pub fn from_san(san: &[u8]) -> Self {
        let mut text = Text::new();
        let mut count: u16 = 0;
        for name in x509::general_names(san) {
            let Ok(name) = name else { break };
            let sep = if count == 0 { "" } else { ", " };
            let _ = match name {
                GeneralName::Dns(d) => {
                    let _ = text.write_str(sep);
                    text.push_bytes(d);
                    Ok(())
                }
                GeneralName::Ip(ip) => match <[u8; 4]>::try_from(ip) {
                    Ok(v4) => write!(text, "{sep}IP {}", core::net::Ipv4Addr::from(v4)),
                    Err(_) => match <[u8; 16]>::try_from(ip) {
                        Ok(v6) => write!(text, "{sep}IP {}", core::net::Ipv6Addr::from(v6)),
                        Err(_) => write!(text, "{sep}IP (bad length {})", ip.len()),
                    },
                },
                GeneralName::Other => continue,
            };
            count = count.saturating_add(1);
        }
        NameList { text, count }
    }
}

/// Which certificate of the chain: 0 = the leaf, 1.. = the intermediates above it.
pub type Depth = u8;

/// The facts behind a [`Rejection`].
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Detail {
    /// No more to say.
    None,
    /// The configured CA does not parse.
    BadCa(X509Error),
    /// A certificate the server sent does not parse.
    Malformed {
        /// Which one.
        depth: Depth,
        /// What is wrong.
        error: X509Error,
    },
    /// The leaf holds no subjectAltName (the CN is never used as a name).
    NoSubjectAltName {
        /// Leaf subject.
        subject: NameText,
    },
    /// The name we dialled is not among the certificate's names.
    Names {
        /// The name or IP we dialled.
        expected: NameText,
        /// What the certificate holds.
        presented: NameList,
    },
    /// Outside its validity window (only checked when our clock is anchored).
    Validity {
        /// Which certificate.
        depth: Depth,
        /// Its subject.
        subject: NameText,
        /// notBefore, Unix seconds.
        not_before: i64,
        /// notAfter, Unix seconds.
        not_after: i64,
        /// Our clock, Unix seconds.
        now: i64,
    },
    /// No certificate with the issuer's name: neither the configured CA nor a sent intermediate.
    UnknownIssuer {
        /// The certificate whose issuer is missing.
        subject: NameText,
        /// Its issuer.
        issuer: NameText,
        /// The configured CA's subject.
        ca: NameText,
    },
    /// A certificate with the issuer's name was sent but may not issue certificates.
    IssuerNotCa {
        /// The issued certificate.
        subject: NameText,
        /// The would-be issuer.
        issuer: NameText,
    },
    /// The signature on a certificate did not check out with its issuer's key.
    ChainSignature {
        /// The signed certificate.
        subject: NameText,
        /// The issuer whose key was used.
        issuer: NameText,
        /// Why.
        error: SigError,
    },
    /// The leaf's own key cannot be used.
    LeafKey {
        /// Leaf subject.
        subject: NameText,
        /// Why.
        error: SigError,
    },
    /// The CertificateVerify signature (the proof the server holds the leaf key) failed.
    Handshake(SigError),
    /// The leaf is not a TLS server certificate: the reason.
    NotForServerAuth(&'static str),
}

/// A refused server: the check that failed and its facts. `Display` says it in one line.
#[derive(Clone, Copy, PartialEq, Debug)]
pub struct VerifyError {
    /// The check that failed (stable, for logs and metrics).
    pub rejection: Rejection,
    /// The facts it compared.
    pub detail: Detail,
}

impl VerifyError {
    /// Only the kind.
    pub const fn bare(rejection: Rejection) -> Self {
        VerifyError {
            rejection,
            detail: Detail::None,
        }
    }
}

/// The expected identity as text.
pub fn identity_text(identity: ServerIdentity<'_>) -> NameText {
    let mut t = NameText::new();
    let _ = match identity {
        ServerIdentity::Dns(n) => t.write_str(n),
        ServerIdentity::Ip(ip) => write!(t, "IP {ip}"),
    };
    t
}

struct Time(i64);

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = u64::try_from(self.0).unwrap_or(0);
        let mut buf = [0u8; RFC3339_LEN];
        f.write_str(format_rfc3339(UnixMicros::from_secs(secs), &mut buf))
    }
}

struct Which(Depth);

impl fmt::Display for Which {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            0 => f.write_str("server certificate"),
            n => write!(f, "intermediate certificate {n}"),
        }
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.detail {
            Detail::BadCa(e) => write!(
                f,
                "the configured CA is not an X.509 v3 certificate we can read ({e:?}): check certificate-authority(-data)"
            ),
            Detail::Malformed { depth, error } => {
                write!(f, "the {} is malformed ({error:?})", Which(*depth))
            }
            Detail::NoSubjectAltName { subject } => write!(
                f,
                "server certificate {subject} has no subjectAltName (the CN is never used as the server name): reissue it with the server's DNS names and IPs"
            ),
            Detail::Names {
                expected,
                presented,
            } => write!(
                f,
                "server certificate is not valid for {expected}: it holds {} ({} names); dial one of them or set tls-server-name",
                presented.text, presented.count
            ),
            Detail::Validity {
                depth,
                subject,
                not_before,
                not_after,
                now,
            } => {
                let what = if now < not_before {
                    "is not valid yet"
                } else {
                    "has expired"
                };
                write!(
                    f,
                    "{} {subject} {what}: valid from {} to {}, our clock says {} (check the clock if that is wrong)",
                    Which(*depth),
                    Time(*not_before),
                    Time(*not_after),
                    Time(*now)
                )
            }
            Detail::UnknownIssuer {
                subject,
                issuer,
                ca,
            } => write!(
                f,
                "{subject} is issued by {issuer}, which is neither the configured CA ({ca}) nor an intermediate the server sent: is the CA the one of this cluster?"
            ),
            Detail::IssuerNotCa { subject, issuer } => write!(
                f,
                "{subject} is issued by {issuer}, which may not issue certificates (not a CA, no keyCertSign, or its pathLen is exceeded)"
            ),
            Detail::ChainSignature {
                subject,
                issuer,
                error,
            } => write!(f, "the signature of {issuer} on {subject}: {error}"),
            Detail::LeafKey { subject, error } => write!(f, "server certificate {subject}: {error}"),
            Detail::Handshake(SigError::BadSignature) => f.write_str(
                "the server did not prove it holds its certificate's key (CertificateVerify signature does not verify)",
            ),
            Detail::Handshake(e) => write!(f, "the server's CertificateVerify: {e}"),
            Detail::NotForServerAuth(why) => write!(f, "server certificate {why}"),
            Detail::None => match self.rejection {
                Rejection::NoCertificate => f.write_str("the server sent no certificate"),
                Rejection::ChainTooLong => write!(
                    f,
                    "no path to the configured CA within {MAX_INTERMEDIATES} intermediates"
                ),
                Rejection::OutOfOrder => f.write_str(
                    "the server sent Certificate/CertificateVerify out of order or twice",
                ),
                r => write!(f, "server refused: {}", r.as_str()),
            },
        }
    }
}
