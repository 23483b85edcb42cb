//! One place that checks a signature with a public key: certificate signatures (issuer key over
//! tbsCertificate) and the TLS 1.3 CertificateVerify (leaf key over the transcript).
//!
//! Keys: ECDSA P-256 and P-384 (feature `p384`), RSA 2048..=4096 bits. Schemes: ECDSA with SHA-256/384/512
//! (certificates; in CertificateVerify the curve is bound to the hash), RSA PKCS#1 v1.5 with
//! SHA-256/384/512 (certificates only: TLS 1.3 forbids it in CertificateVerify, RFC 8446 4.4.3),
//! RSA-PSS with SHA-256/384/512 (`rsa_pss_rsae_*`, CertificateVerify).

use embedded_tls::SignatureScheme;
use p256::ecdsa::signature::hazmat::PrehashVerifier as _;

use super::der::Oid;
use super::rsa::{self, HashAlg, RsaError, RsaPublicKey, MAX_DIGEST, MAX_MODULUS_BYTES};
use super::x509::{PublicKey, SigAlg};

/// Uncompressed SEC1 point sizes.
pub const P256_POINT_LEN: usize = 65;
/// Uncompressed SEC1 P-384 point.
pub const P384_POINT_LEN: usize = 97;

/// What kind of key a certificate holds, for messages ("RSA-1024", "ECDSA P-256").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// ECDSA on P-256.
    P256,
    /// ECDSA on P-384.
    P384,
    /// RSA with this many modulus bits.
    Rsa(u16),
    /// An EC key on another curve.
    OtherCurve(Oid),
    /// Another key algorithm.
    Other(Oid),
}

impl KeyKind {
    /// The kind of `key`.
    pub fn of(key: &PublicKey<'_>) -> Self {
        match *key {
            PublicKey::P256(_) => KeyKind::P256,
            PublicKey::P384(_) => KeyKind::P384,
            PublicKey::Rsa { modulus, .. } => {
                let m = modulus.strip_prefix(&[0]).unwrap_or(modulus);
                KeyKind::Rsa(u16::try_from(rsa_bits(m)).unwrap_or(u16::MAX))
            }
            PublicKey::UnsupportedCurve(c) => KeyKind::OtherCurve(c),
            PublicKey::Unsupported(o) => KeyKind::Other(o),
        }
    }
}

fn rsa_bits(m: &[u8]) -> usize {
    match m.first() {
        Some(&top) => (m.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
        None => 0,
    }
}

impl core::fmt::Display for KeyKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            KeyKind::P256 => f.write_str("ECDSA P-256"),
            KeyKind::P384 => f.write_str("ECDSA P-384"),
            KeyKind::Rsa(bits) => write!(f, "RSA-{bits}"),
            KeyKind::OtherCurve(c) => write!(f, "EC key on curve {c}"),
            KeyKind::Other(o) => write!(f, "{o} key"),
        }
    }
}

/// A signature algorithm: of a certificate, or a TLS 1.3 CertificateVerify scheme.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Algorithm {
    /// A certificate's signatureAlgorithm.
    Certificate(SigAlg),
    /// A CertificateVerify SignatureScheme.
    Tls(SignatureScheme),
}

impl core::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Algorithm::Certificate(SigAlg::Ecdsa(h)) => write!(f, "ECDSA with {}", h.name()),
            Algorithm::Certificate(SigAlg::RsaPkcs1(h)) => {
                write!(f, "RSA PKCS#1 v1.5 with {}", h.name())
            }
            Algorithm::Certificate(SigAlg::Unsupported(oid)) => write!(f, "{oid}"),
            Algorithm::Tls(s) => write!(f, "TLS scheme {s:?}"),
        }
    }
}

/// Why a signature was not accepted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SigError {
    /// We do not implement this key (type, curve or RSA size).
    UnsupportedKey(KeyKind),
    /// We do not implement this signature algorithm (or TLS 1.3 forbids it here).
    UnsupportedAlgorithm(Algorithm),
    /// The algorithm needs another kind of key than the one the certificate holds.
    KeyMismatch {
        /// The algorithm used.
        algorithm: Algorithm,
        /// The key it was to be checked with.
        key: KeyKind,
    },
    /// The key bytes do not decode (not a point on the curve, even RSA modulus, bad exponent).
    BadKey,
    /// The signature has the wrong length or encoding for the key (not modulus-sized, not a
    /// DER ECDSA-Sig-Value).
    MalformedSignature,
    /// The signature does not verify: wrong key, other message, bad padding.
    BadSignature,
}

impl core::fmt::Display for SigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SigError::UnsupportedKey(k) => write!(
                f,
                "unsupported key {k} (supported: ECDSA P-256, P-384, RSA {}..={} bits)",
                rsa::MIN_MODULUS_BITS,
                rsa::MAX_MODULUS_BITS
            ),
            SigError::UnsupportedAlgorithm(a) => write!(f, "unsupported signature algorithm {a}"),
            SigError::KeyMismatch { algorithm, key } => {
                write!(
                    f,
                    "signature algorithm {algorithm} does not fit a {key} key"
                )
            }
            SigError::BadKey => f.write_str("the public key does not decode"),
            SigError::MalformedSignature => f.write_str("the signature is malformed for the key"),
            SigError::BadSignature => f.write_str("the signature does not verify"),
        }
    }
}

impl From<RsaError> for SigError {
    fn from(e: RsaError) -> Self {
        match e {
            RsaError::UnsupportedSize(bits) => SigError::UnsupportedKey(KeyKind::Rsa(bits)),
            RsaError::BadKey => SigError::BadKey,
            RsaError::BadSignatureLength => SigError::MalformedSignature,
            RsaError::BadSignature => SigError::BadSignature,
        }
    }
}

/// A key we can verify with, borrowed.
#[derive(Debug, Clone, Copy)]
pub enum VerifyKey<'a> {
    /// SEC1 P-256 point.
    P256(&'a [u8]),
    /// SEC1 P-384 point.
    P384(&'a [u8]),
    /// RSA, size checked.
    Rsa(RsaPublicKey<'a>),
}

impl<'a> VerifyKey<'a> {
    /// The certificate key, if we support it (RSA size bounds checked here).
    pub fn new(key: &PublicKey<'a>) -> Result<Self, SigError> {
        match *key {
            PublicKey::P256(p) => Ok(VerifyKey::P256(p)),
            #[cfg(feature = "p384")]
            PublicKey::P384(p) => Ok(VerifyKey::P384(p)),
            PublicKey::Rsa { modulus, exponent } => {
                Ok(VerifyKey::Rsa(RsaPublicKey::new(modulus, exponent)?))
            }
            _ => Err(SigError::UnsupportedKey(KeyKind::of(key))),
        }
    }

    fn kind(&self) -> KeyKind {
        match self {
            VerifyKey::P256(_) => KeyKind::P256,
            VerifyKey::P384(_) => KeyKind::P384,
            VerifyKey::Rsa(k) => KeyKind::Rsa(u16::try_from(k.bits()).unwrap_or(u16::MAX)),
        }
    }
}

/// An owned copy of a leaf key (the Certificate message's buffer is gone by the time the
/// CertificateVerify arrives): at most 512 + 8 bytes.
#[derive(Debug, Clone)]
pub struct OwnedKey {
    kind: OwnedKind,
    bytes: [u8; MAX_MODULUS_BYTES],
    len: usize,
}

#[derive(Debug, Clone, Copy)]
enum OwnedKind {
    P256,
    P384,
    Rsa { exponent: u64 },
}

impl OwnedKey {
    /// Copies `key`.
    pub fn new(key: &VerifyKey<'_>) -> Self {
        let (kind, src) = match *key {
            VerifyKey::P256(p) => (OwnedKind::P256, p),
            VerifyKey::P384(p) => (OwnedKind::P384, p),
            VerifyKey::Rsa(k) => (
                OwnedKind::Rsa {
                    exponent: k.exponent(),
                },
                k.modulus(),
            ),
        };
        let mut bytes = [0u8; MAX_MODULUS_BYTES];
        let len = src.len().min(MAX_MODULUS_BYTES);
        if let (Some(d), Some(s)) = (bytes.get_mut(..len), src.get(..len)) {
            d.copy_from_slice(s);
        }
        OwnedKey { kind, bytes, len }
    }

    /// The key to verify with.
    pub fn key(&self) -> VerifyKey<'_> {
        let b = self.bytes.get(..self.len).unwrap_or(&[]);
        match self.kind {
            OwnedKind::P256 => VerifyKey::P256(b),
            OwnedKind::P384 => VerifyKey::P384(b),
            OwnedKind::Rsa { exponent } => VerifyKey::Rsa(RsaPublicKey::from_checked(b, exponent)),
        }
    }
}

#[derive(Clone, Copy)]
enum Scheme {
    Ecdsa(HashAlg),
    RsaPkcs1(HashAlg),
    RsaPss(HashAlg),
}

fn verify(
    key: &VerifyKey<'_>,
    scheme: Scheme,
    alg: Algorithm,
    msg: &[u8],
    sig: &[u8],
) -> Result<(), SigError> {
    let mut digest = [0u8; MAX_DIGEST];
    match (scheme, *key) {
        (Scheme::Ecdsa(h), VerifyKey::P256(point)) => {
            let k =
                p256::ecdsa::VerifyingKey::from_sec1_bytes(point).map_err(|_| SigError::BadKey)?;
            let s =
                p256::ecdsa::Signature::from_der(sig).map_err(|_| SigError::MalformedSignature)?;
            k.verify_prehash(h.digest(&[msg], &mut digest), &s)
                .map_err(|_| SigError::BadSignature)
        }
        #[cfg(feature = "p384")]
        (Scheme::Ecdsa(h), VerifyKey::P384(point)) => {
            use super::nistp384::{verify_prehash, EcdsaError};
            verify_prehash(point, h.digest(&[msg], &mut digest), sig).map_err(|e| match e {
                EcdsaError::BadKey => SigError::BadKey,
                EcdsaError::MalformedSignature => SigError::MalformedSignature,
                EcdsaError::BadSignature => SigError::BadSignature,
            })
        }
        (Scheme::RsaPkcs1(h), VerifyKey::Rsa(k)) => Ok(k.verify_pkcs1v15(h, msg, sig)?),
        (Scheme::RsaPss(h), VerifyKey::Rsa(k)) => Ok(k.verify_pss(h, msg, sig)?),
        (_, k) => Err(SigError::KeyMismatch {
            algorithm: alg,
            key: k.kind(),
        }),
    }
}

/// Checks a certificate's signature (`alg` over `tbs`) with its issuer's key.
pub fn verify_certificate(
    issuer_key: &PublicKey<'_>,
    alg: SigAlg,
    tbs: &[u8],
    sig: &[u8],
) -> Result<(), SigError> {
    let scheme = match alg {
        SigAlg::Ecdsa(h) => Scheme::Ecdsa(h),
        SigAlg::RsaPkcs1(h) => Scheme::RsaPkcs1(h),
        SigAlg::Unsupported(_) => {
            return Err(SigError::UnsupportedAlgorithm(Algorithm::Certificate(alg)))
        }
    };
    let key = VerifyKey::new(issuer_key)?;
    verify(&key, scheme, Algorithm::Certificate(alg), tbs, sig)
}

/// Checks a TLS 1.3 CertificateVerify signature over `msg` (the padded transcript) with the
/// leaf key.
pub fn verify_handshake(
    key: &VerifyKey<'_>,
    scheme: SignatureScheme,
    msg: &[u8],
    sig: &[u8],
) -> Result<(), SigError> {
    let alg = Algorithm::Tls(scheme);
    let (s, curve) = match scheme {
        SignatureScheme::EcdsaSecp256r1Sha256 => {
            (Scheme::Ecdsa(HashAlg::Sha256), Some(KeyKind::P256))
        }
        SignatureScheme::EcdsaSecp384r1Sha384 => {
            (Scheme::Ecdsa(HashAlg::Sha384), Some(KeyKind::P384))
        }
        SignatureScheme::RsaPssRsaeSha256 => (Scheme::RsaPss(HashAlg::Sha256), None),
        SignatureScheme::RsaPssRsaeSha384 => (Scheme::RsaPss(HashAlg::Sha384), None),
        SignatureScheme::RsaPssRsaeSha512 => (Scheme::RsaPss(HashAlg::Sha512), None),
        _ => return Err(SigError::UnsupportedAlgorithm(alg)),
    };
    // ECDSA schemes name the curve in TLS 1.3: a P-384 key cannot sign ecdsa_secp256r1_sha256.
    if let Some(want) = curve {
        if key.kind() != want {
            return Err(SigError::KeyMismatch {
                algorithm: alg,
                key: key.kind(),
            });
        }
    }
    verify(key, s, alg, msg, sig)
}
