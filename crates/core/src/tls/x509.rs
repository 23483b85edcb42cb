//! The subset of an X.509 v3 certificate that TLS server authentication needs, borrowed from
//! the DER bytes (no copies, no alloc). Signatures are NOT checked here (see `verifier`).
//!
//! Strict where it matters for trust: v3 only, `tbsCertificate.signature` must equal
//! `signatureAlgorithm`, an unknown extension marked critical makes the certificate unusable
//! (RFC 5280 4.2), a repeated known extension is refused.

use super::der::{self, DerError, Oid, Reader, Tlv};
use super::rsa::HashAlg;

// OID contents (the bytes after tag and length).
const OID_ECDSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
const OID_ECDSA_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
const OID_ECDSA_SHA512: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04];
const OID_RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_SHA256_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b];
const OID_SHA384_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c];
const OID_SHA512_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d];
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
/// The DER of a NULL, the parameters of RSA algorithm identifiers (RFC 4055 5, RFC 3279 2.3.1).
const DER_NULL: &[u8] = &[0x05, 0x00];
const OID_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x0f];
const OID_SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];
const OID_BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x13];
const OID_EXT_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x25];
const OID_KP_SERVER_AUTH: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01];
const OID_ANY_EKU: &[u8] = &[0x55, 0x1d, 0x25, 0x00];

/// keyUsage digitalSignature, as it sits in the first content octet of the BIT STRING.
pub const KU_DIGITAL_SIGNATURE: u8 = 0x80;
/// keyUsage keyCertSign, as it sits in the first content octet of the BIT STRING.
pub const KU_KEY_CERT_SIGN: u8 = 0x04;

/// Signature algorithm of a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigAlg {
    /// ecdsa-with-SHA256/384/512 (by a P-256 or P-384 key).
    Ecdsa(HashAlg),
    /// sha256/384/512WithRSAEncryption (PKCS#1 v1.5).
    RsaPkcs1(HashAlg),
    /// Anything else (RSASSA-PSS certificate signatures, SHA-1, Ed25519, ...): parsed, but a
    /// certificate signed so cannot be verified by us.
    Unsupported(Oid),
}

/// Subject public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublicKey<'a> {
    /// SEC1 point on P-256 (uncompressed: 65 bytes).
    P256(&'a [u8]),
    /// SEC1 point on P-384 (uncompressed: 97 bytes).
    P384(&'a [u8]),
    /// rsaEncryption: the RSAPublicKey INTEGER contents, as encoded (sizes are checked by
    /// [`super::rsa::RsaPublicKey::new`] so that a refusal can say the size).
    Rsa {
        /// modulus INTEGER contents.
        modulus: &'a [u8],
        /// publicExponent INTEGER contents.
        exponent: &'a [u8],
    },
    /// An EC key on another curve (the curve's OID).
    UnsupportedCurve(Oid),
    /// Any other key algorithm (its OID: Ed25519, DSA, RSASSA-PSS-only keys, ...).
    Unsupported(Oid),
}

/// Borrowed view of one certificate.
#[derive(Debug, Clone, Copy)]
pub struct Cert<'a> {
    /// The signed bytes: the whole tbsCertificate TLV.
    pub tbs: &'a [u8],
    /// signatureAlgorithm.
    pub sig_alg: SigAlg,
    /// DER ECDSA-Sig-Value (BIT STRING contents without the unused-bits octet).
    pub signature: &'a [u8],
    /// Whole issuer Name TLV, compared bytewise (as webpki does).
    pub issuer: &'a [u8],
    /// Whole subject Name TLV.
    pub subject: &'a [u8],
    /// notBefore, Unix seconds.
    pub not_before: i64,
    /// notAfter, Unix seconds.
    pub not_after: i64,
    /// subjectPublicKeyInfo.
    pub key: PublicKey<'a>,
    /// basicConstraints cA.
    pub is_ca: bool,
    /// basicConstraints pathLenConstraint.
    pub path_len: Option<u8>,
    /// First octet of keyUsage, if the extension is present.
    pub key_usage: Option<u8>,
    /// Some(true/false) if extKeyUsage is present: does it allow TLS server auth?
    pub eku_server_auth: Option<bool>,
    /// Contents of the subjectAltName SEQUENCE (GeneralNames), if present.
    pub san: Option<&'a [u8]>,
}

/// Why a certificate could not be read.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum X509Error {
    /// Not DER, or not the expected structure.
    Der(DerError),
    /// Version 1 or 2 certificate.
    NotV3,
    /// tbsCertificate.signature differs from signatureAlgorithm.
    AlgorithmMismatch,
    /// An extension we do not understand is marked critical.
    UnknownCriticalExtension,
    /// basicConstraints, keyUsage, extKeyUsage or subjectAltName appears twice.
    DuplicateExtension,
}

// By hand, in the derived shape: the firmware's derived `Debug` is shallow (BENCHMARKS.md
// "Firmware size") and would drop the DER reason a TLS failure line shows.
impl core::fmt::Debug for X509Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let name = match self {
            X509Error::Der(e) => return f.debug_tuple("Der").field(e).finish(),
            X509Error::NotV3 => "NotV3",
            X509Error::AlgorithmMismatch => "AlgorithmMismatch",
            X509Error::UnknownCriticalExtension => "UnknownCriticalExtension",
            X509Error::DuplicateExtension => "DuplicateExtension",
        };
        f.write_str(name)
    }
}

impl From<DerError> for X509Error {
    fn from(e: DerError) -> Self {
        X509Error::Der(e)
    }
}

fn sig_alg(tlv: Tlv<'_>) -> Result<SigAlg, DerError> {
    let mut r = Reader::new(tlv.value);
    let oid = r.read(der::OID)?.value;
    // ECDSA AlgorithmIdentifiers have absent parameters (RFC 5758 3.2); PKCS#1 v1.5 ones a
    // NULL (RFC 4055 5: MUST be present; webpki accepts only that form too).
    let alg = match oid {
        OID_ECDSA_SHA256 => SigAlg::Ecdsa(HashAlg::Sha256),
        OID_ECDSA_SHA384 => SigAlg::Ecdsa(HashAlg::Sha384),
        OID_ECDSA_SHA512 => SigAlg::Ecdsa(HashAlg::Sha512),
        OID_SHA256_WITH_RSA | OID_SHA384_WITH_RSA | OID_SHA512_WITH_RSA => {
            if r.read_any()?.raw != DER_NULL {
                return Err(DerError::BadValue);
            }
            SigAlg::RsaPkcs1(match oid {
                OID_SHA256_WITH_RSA => HashAlg::Sha256,
                OID_SHA384_WITH_RSA => HashAlg::Sha384,
                _ => HashAlg::Sha512,
            })
        }
        _ => return Ok(SigAlg::Unsupported(Oid::new(oid))),
    };
    r.finish()?;
    Ok(alg)
}

fn public_key(tlv: Tlv<'_>) -> Result<PublicKey<'_>, DerError> {
    let mut r = Reader::new(tlv.value);
    let mut alg = r.sequence()?;
    let bits = der::bit_string_octets(r.read(der::BIT_STRING)?.value)?;
    r.finish()?;
    match alg.read(der::OID)?.value {
        OID_EC_PUBLIC_KEY => {
            let curve = alg.read(der::OID)?.value;
            alg.finish()?;
            Ok(match curve {
                OID_P256 => PublicKey::P256(bits),
                OID_P384 => PublicKey::P384(bits),
                other => PublicKey::UnsupportedCurve(Oid::new(other)),
            })
        }
        OID_RSA_ENCRYPTION => {
            if alg.read_any()?.raw != DER_NULL {
                return Err(DerError::BadValue);
            }
            alg.finish()?;
            // RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }
            let mut outer = Reader::new(bits);
            let mut key = outer.sequence()?;
            outer.finish()?;
            let modulus = key.read(der::INTEGER)?.value;
            let exponent = key.read(der::INTEGER)?.value;
            key.finish()?;
            Ok(PublicKey::Rsa { modulus, exponent })
        }
        other => Ok(PublicKey::Unsupported(Oid::new(other))),
    }
}

/// Parses a DER certificate (exactly one, nothing after it). Signatures are NOT checked.
pub fn parse(input: &[u8]) -> Result<Cert<'_>, X509Error> {
    let mut outer = Reader::new(input);
    let mut cert = outer.sequence()?;
    outer.finish()?;

    let tbs_tlv = cert.read(der::SEQUENCE)?;
    let outer_alg = cert.read(der::SEQUENCE)?;
    let signature = der::bit_string_octets(cert.read(der::BIT_STRING)?.value)?;
    cert.finish()?;

    let mut tbs = Reader::new(tbs_tlv.value);
    // version [0] EXPLICIT INTEGER: we require v3 (value 2), every real server cert is.
    let version = tbs.read(0xa0)?;
    if version.value != [der::INTEGER, 1, 2] {
        return Err(X509Error::NotV3);
    }
    tbs.read(der::INTEGER)?; // serialNumber
    let inner_alg = tbs.read(der::SEQUENCE)?;
    if inner_alg.raw != outer_alg.raw {
        return Err(X509Error::AlgorithmMismatch);
    }
    let issuer = tbs.read(der::SEQUENCE)?.raw;
    let mut validity = tbs.sequence()?;
    let not_before = der::time(validity.read_any()?)?;
    let not_after = der::time(validity.read_any()?)?;
    validity.finish()?;
    let subject = tbs.read(der::SEQUENCE)?.raw;
    let key = public_key(tbs.read(der::SEQUENCE)?)?;
    tbs.read_optional(0x81)?; // issuerUniqueID
    tbs.read_optional(0x82)?; // subjectUniqueID

    let mut c = Cert {
        tbs: tbs_tlv.raw,
        sig_alg: sig_alg(outer_alg)?,
        signature,
        issuer,
        subject,
        not_before,
        not_after,
        key,
        is_ca: false,
        path_len: None,
        key_usage: None,
        eku_server_auth: None,
        san: None,
    };

    if let Some(exts) = tbs.read_optional(0xa3)? {
        let mut wrapper = Reader::new(exts.value);
        let list = wrapper.sequence()?;
        wrapper.finish()?;
        read_extensions(list, &mut c)?;
    }
    tbs.finish()?;
    Ok(c)
}

fn read_extensions<'a>(mut list: Reader<'a>, c: &mut Cert<'a>) -> Result<(), X509Error> {
    let mut seen_basic_constraints = false;
    while !list.is_empty() {
        let mut ext = list.sequence()?;
        let oid = ext.read(der::OID)?.value;
        let critical = match ext.read_optional(der::BOOLEAN)? {
            Some(b) if b.value == [0xff] => true,
            Some(_) => return Err(DerError::BadValue.into()), // DER: FALSE is omitted
            None => false,
        };
        let value = ext.read(der::OCTET_STRING)?.value;
        ext.finish()?;
        let mut v = Reader::new(value);
        match oid {
            OID_BASIC_CONSTRAINTS => {
                if seen_basic_constraints {
                    return Err(X509Error::DuplicateExtension);
                }
                seen_basic_constraints = true;
                let mut bc = v.sequence()?;
                if let Some(b) = bc.read_optional(der::BOOLEAN)? {
                    c.is_ca = b.value == [0xff];
                }
                if let Some(n) = bc.read_optional(der::INTEGER)? {
                    c.path_len = match n.value {
                        [n] if *n < 0x80 => Some(*n),
                        _ => return Err(DerError::BadValue.into()),
                    };
                }
                bc.finish()?;
            }
            OID_KEY_USAGE => {
                if c.key_usage.is_some() {
                    return Err(X509Error::DuplicateExtension);
                }
                let bits = v.read(der::BIT_STRING)?.value;
                c.key_usage = Some(bits.get(1).copied().unwrap_or(0));
            }
            OID_EXT_KEY_USAGE => {
                if c.eku_server_auth.is_some() {
                    return Err(X509Error::DuplicateExtension);
                }
                let mut purposes = v.sequence()?;
                let mut server_auth = false;
                while !purposes.is_empty() {
                    let p = purposes.read(der::OID)?.value;
                    server_auth |= p == OID_KP_SERVER_AUTH || p == OID_ANY_EKU;
                }
                c.eku_server_auth = Some(server_auth);
            }
            OID_SUBJECT_ALT_NAME => {
                if c.san.is_some() {
                    return Err(X509Error::DuplicateExtension);
                }
                c.san = Some(v.read(der::SEQUENCE)?.value);
            }
            _ if critical => return Err(X509Error::UnknownCriticalExtension),
            _ => continue, // e.g. subject/authority key identifier
        }
        v.finish()?;
    }
    Ok(())
}

/// A subjectAltName entry we can match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeneralName<'a> {
    /// dNSName (IA5String bytes).
    Dns(&'a [u8]),
    /// iPAddress: 4 or 16 octets.
    Ip(&'a [u8]),
    /// Any other kind (URI, email, directoryName, ...).
    Other,
}

/// Iterates over GeneralNames (the contents of a subjectAltName); yields one `Err` and stops
/// at malformed DER.
pub fn general_names(san: &[u8]) -> impl Iterator<Item = Result<GeneralName<'_>, DerError>> {
    let mut r = Reader::new(san);
    let mut failed = false;
    core::iter::from_fn(move || {
        if r.is_empty() || failed {
            return None;
        }
        let item = r.read_any().map(|tlv| match tlv.tag {
            0x82 => GeneralName::Dns(tlv.value),
            0x87 => GeneralName::Ip(tlv.value),
            _ => GeneralName::Other,
        });
        failed = item.is_err();
        Some(item)
    })
}
