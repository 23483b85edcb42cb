//! A user's client certificate and key (`client-certificate(-data)`, `client-key(-data)`) as
//! the core's TLS client takes them: the leaf certificate as DER and an ECDSA P-256 or an RSA
//! key (kind's default kubeconfig has RSA-2048; the host signs with RSA-PSS, a board cannot).

use std::fmt;

use p256::ecdsa::SigningKey;
use p256::pkcs8::{der::pem, DecodePrivateKey as _, ObjectIdentifier, PrivateKeyInfo};
use picokubelet_core::tls::x509::{self, PublicKey};
use picokubelet_core::tls::{pem_to_der, CaError, ClientIdentity, ClientKey};
use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::traits::PublicKeyParts as _;
use rsa::RsaPrivateKey;

/// rsaEncryption (1.2.840.113549.1.1.1).
const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// id-ecPublicKey (1.2.840.10045.2.1).
const OID_EC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");

/// RSA keys above this are refused: embedded-tls has room for a 512-byte signature.
const RSA_MAX_BITS: usize = 4096;
/// And below this (RSA-1024 and smaller are broken).
const RSA_MIN_BITS: usize = 2048;

/// Where a certificate or key came from, for messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PemSource {
    /// `client-certificate-data` / `client-key-data`.
    Inline,
    /// `client-certificate` / `client-key`, resolved to this path.
    File(std::path::PathBuf),
    /// An exec plugin's `clientCertificateData` / `clientKeyData`.
    Exec,
}

impl PemSource {
    /// `client-key-data` or `client-key /path`, for messages.
    pub fn describe(&self, field: &str) -> String {
        match self {
            PemSource::Inline => format!("{field}-data"),
            PemSource::File(p) => format!("{field} {}", p.display()),
            PemSource::Exec => format!("the exec plugin's {field}"),
        }
    }
}

/// A client key the host can sign with.
#[derive(Clone, PartialEq, Eq)]
pub enum PrivateKey {
    P256(SigningKey),
    /// Host only: a board signs with P-256 only.
    Rsa(Box<RsaPrivateKey>),
}

/// Where the client certificate comes from when it may change while the agent runs (an exec
/// plugin's): the boards' TLS opener (`crate::board_opener`) asks before each handshake.
pub trait CertificateSource: Send + Sync {
    /// The certificate to present at the handshake starting now; `None`: none.
    fn certificate(&self) -> Option<std::sync::Arc<ClientCertificate>>;
}

/// The user's client certificate (leaf, DER) and its key. `Debug` shows no key.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    pub certificate_der: Vec<u8>,
    key: PrivateKey,
    pub certificate_source: PemSource,
    pub key_source: PemSource,
}

impl fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("certificate_der_len", &self.certificate_der.len())
            .field("certificate_source", &self.certificate_source)
            .field("key_source", &self.key_source)
            .finish_non_exhaustive()
    }
}

impl ClientCertificate {
    /// Checks that `certificate_pem` holds a certificate whose public key is the P-256 or RSA
    /// key in `key_pem`.
    pub fn from_pem(
        certificate_pem: &[u8],
        certificate_source: PemSource,
        key_pem: &[u8],
        key_source: PemSource,
    ) -> Result<Self, ClientCertError> {
        let certificate_der = certificate_der(certificate_pem)?;
        let key = signing_key(key_pem)?;
        let cert = x509::parse(&certificate_der).map_err(|_| ClientCertError::NotACertificate)?;
        let matches = match (&key, cert.key) {
            (PrivateKey::P256(key), PublicKey::P256(point)) => {
                key.verifying_key().to_encoded_point(false).as_bytes() == point
            }
            (PrivateKey::Rsa(key), PublicKey::Rsa { modulus, exponent }) => {
                // INTEGER contents may carry a leading zero byte.
                let strip = |b: &[u8]| {
                    b.iter()
                        .skip_while(|&&x| x == 0)
                        .copied()
                        .collect::<Vec<_>>()
                };
                strip(modulus) == key.n().to_bytes_be() && strip(exponent) == key.e().to_bytes_be()
            }
            _ => false,
        };
        if !matches {
            return Err(ClientCertError::KeyMismatch);
        }
        Ok(ClientCertificate {
            certificate_der,
            key,
            certificate_source,
            key_source,
        })
    }

    /// What the core's TLS client sends when the server asks for a client certificate.
    pub fn identity(&self) -> ClientIdentity<'_> {
        let key = match &self.key {
            PrivateKey::P256(k) => ClientKey::P256(k),
            PrivateKey::Rsa(k) => ClientKey::Rsa(k),
        };
        ClientIdentity {
            certificate_der: &self.certificate_der,
            key,
        }
    }

    /// The P-256 key, for a board's record (a board cannot sign with RSA).
    pub fn p256_key(&self) -> Option<&SigningKey> {
        match &self.key {
            PrivateKey::P256(k) => Some(k),
            PrivateKey::Rsa(_) => None,
        }
    }
}

/// Why a client certificate or key cannot be used. The messages never hold key material.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClientCertError {
    #[error("the client certificate holds no PEM certificate (-----BEGIN CERTIFICATE-----)")]
    NoCertificate,
    #[error("the client certificate is not an X.509 v3 certificate in PEM")]
    NotACertificate,
    #[error("the client key holds no PEM private key (EC PRIVATE KEY or PRIVATE KEY)")]
    NoKey,
    #[error(
        "the client key is RSA-{0}: picokubelet signs with RSA keys of {RSA_MIN_BITS} to \
         {RSA_MAX_BITS} bits; issue a new key (`openssl genrsa -out client.key 2048`, or ECDSA \
         P-256: `openssl ecparam -name prime256v1 -genkey -noout -out client.key`)"
    )]
    RsaSize(usize),
    #[error("the client key's {0} block is not valid PEM (base64 between BEGIN and END lines)")]
    MalformedKey(String),
    #[error("the client key is encrypted; picokubelet reads unencrypted keys only (`openssl ec -in <key> -out <plain key>`)")]
    EncryptedKey,
    #[error(
        "the client key is neither an ECDSA P-256 nor an RSA key (the only kinds supported; \
         {0})"
    )]
    NotP256(&'static str),
    #[error("the client certificate is not for the client key (its public key differs)")]
    KeyMismatch,
}

/// DER of the first certificate in the PEM (the leaf: kubeconfigs put it first).
fn certificate_der(pem_text: &[u8]) -> Result<Vec<u8>, ClientCertError> {
    // DER is shorter than its PEM.
    let mut buf = vec![0; pem_text.len()];
    match pem_to_der(pem_text, &mut buf) {
        Ok(der) => Ok(der.to_vec()),
        Err(CaError::NoPemCertificate) => Err(ClientCertError::NoCertificate),
        Err(_) => Err(ClientCertError::NotACertificate),
    }
}

/// The key of the first private-key PEM block (SEC1, PKCS#1 or PKCS#8); other blocks (the
/// certificate when both share a file, as in kubelet-client-current.pem, or `EC PARAMETERS`)
/// are skipped.
fn signing_key(pem_text: &[u8]) -> Result<PrivateKey, ClientCertError> {
    let text = String::from_utf8_lossy(pem_text);
    for block in pem_blocks(&text) {
        let label = block
            .lines()
            .next()
            .unwrap_or_default()
            .trim_start_matches("-----BEGIN ")
            .trim_end_matches('-');
        let key_label = match label {
            "EC PRIVATE KEY" | "PRIVATE KEY" | "RSA PRIVATE KEY" => label,
            "ENCRYPTED PRIVATE KEY" => return Err(ClientCertError::EncryptedKey),
            _ => continue,
        };
        let der = match pem::decode_vec(block.as_bytes()) {
            Ok((_, der)) => der,
            Err(_) => return Err(ClientCertError::MalformedKey(key_label.to_owned())),
        };
        return match key_label {
            "PRIVATE KEY" => pkcs8_key(&der),
            "RSA PRIVATE KEY" => RsaPrivateKey::from_pkcs1_der(&der)
                .map_err(|_| ClientCertError::MalformedKey(key_label.to_owned()))
                .and_then(rsa_key),
            _ => p256::SecretKey::from_sec1_der(&der)
                .map(|k| PrivateKey::P256(SigningKey::from(&k)))
                .map_err(|_| {
                    ClientCertError::NotP256("the EC PRIVATE KEY is for another curve or malformed")
                }),
        };
    }
    Err(ClientCertError::NoKey)
}

/// An RSA key of a size the host can sign with.
fn rsa_key(key: RsaPrivateKey) -> Result<PrivateKey, ClientCertError> {
    let bits = key.size() * 8;
    if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) {
        return Err(ClientCertError::RsaSize(bits));
    }
    Ok(PrivateKey::Rsa(Box::new(key)))
}

fn pkcs8_key(der: &[u8]) -> Result<PrivateKey, ClientCertError> {
    let info = PrivateKeyInfo::try_from(der)
        .map_err(|_| ClientCertError::NotP256("the PRIVATE KEY is not valid PKCS#8"))?;
    match info.algorithm.oid {
        OID_RSA => {
            use rsa::pkcs8::DecodePrivateKey as _;
            RsaPrivateKey::from_pkcs8_der(der)
                .map_err(|_| ClientCertError::MalformedKey("PRIVATE KEY".to_owned()))
                .and_then(rsa_key)
        }
        OID_EC => SigningKey::from_pkcs8_der(der)
            .map(PrivateKey::P256)
            .map_err(|_| ClientCertError::NotP256("the PRIVATE KEY is for another curve")),
        _ => Err(ClientCertError::NotP256(
            "the PRIVATE KEY is neither EC nor RSA",
        )),
    }
}

/// The `-----BEGIN …-----` … `-----END …-----` blocks of a PEM text, in order.
fn pem_blocks(text: &str) -> impl Iterator<Item = String> + '_ {
    let mut lines = text.lines().map(str::trim);
    std::iter::from_fn(move || {
        let begin = lines.by_ref().find(|l| l.starts_with("-----BEGIN "))?;
        let mut block = format!("{begin}\n");
        for line in lines.by_ref() {
            block.push_str(line);
            block.push('\n');
            if line.starts_with("-----END ") {
                break;
            }
        }
        Some(block)
    })
}
