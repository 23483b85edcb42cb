//! A user's client certificate and key (`client-certificate(-data)`, `client-key(-data)`) as
//! the core's TLS client takes them: the leaf certificate as DER and an ECDSA P-256 key.
//! RSA keys (kind's default kubeconfig) are refused with what to use instead.

use std::fmt;

use p256::ecdsa::SigningKey;
use p256::pkcs8::{der::pem, DecodePrivateKey as _, ObjectIdentifier, PrivateKeyInfo};
use picokubelet_core::tls::x509::{self, PublicKey};
use picokubelet_core::tls::{pem_to_der, CaError, ClientIdentity};

/// rsaEncryption (1.2.840.113549.1.1.1).
const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// id-ecPublicKey (1.2.840.10045.2.1).
const OID_EC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");

const RSA_ADVICE: &str = "RSA client keys are not supported yet; use an ECDSA P-256 key \
     (`openssl ecparam -name prime256v1 -genkey -noout -out client.key`) with a certificate \
     the cluster's client CA issued for it, or a bearer token (see deploy/README.md)";

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

/// The user's client certificate (leaf, DER) and its P-256 key. `Debug` shows no key.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    pub certificate_der: Vec<u8>,
    key: SigningKey,
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
    /// Checks that `certificate_pem` holds a certificate whose public key is the P-256 key
    /// in `key_pem`.
    pub fn from_pem(
        certificate_pem: &[u8],
        certificate_source: PemSource,
        key_pem: &[u8],
        key_source: PemSource,
    ) -> Result<Self, ClientCertError> {
        let certificate_der = certificate_der(certificate_pem)?;
        let key = signing_key(key_pem)?;
        let cert = x509::parse(&certificate_der).map_err(|_| ClientCertError::NotACertificate)?;
        match cert.key {
            PublicKey::P256(point) => {
                let ours = key.verifying_key().to_encoded_point(false);
                if ours.as_bytes() != point {
                    return Err(ClientCertError::KeyMismatch);
                }
            }
            PublicKey::Rsa { .. } => return Err(ClientCertError::RsaCertificate),
            _ => return Err(ClientCertError::KeyMismatch),
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
        ClientIdentity {
            certificate_der: &self.certificate_der,
            key: &self.key,
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
    #[error("the client key is an RSA key: {RSA_ADVICE}")]
    RsaKey,
    #[error("the client certificate is for an RSA key: {RSA_ADVICE}")]
    RsaCertificate,
    #[error("the client key's {0} block is not valid PEM (base64 between BEGIN and END lines)")]
    MalformedKey(String),
    #[error("the client key is encrypted; picokubelet reads unencrypted keys only (`openssl ec -in <key> -out <plain key>`)")]
    EncryptedKey,
    #[error(
        "the client key is not an ECDSA P-256 key (only P-256 client keys are supported; \
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

/// The P-256 key of the first private-key PEM block (SEC1 or PKCS#8); other blocks (the
/// certificate when both share a file, as in kubelet-client-current.pem, or `EC PARAMETERS`)
/// are skipped.
fn signing_key(pem_text: &[u8]) -> Result<SigningKey, ClientCertError> {
    let text = String::from_utf8_lossy(pem_text);
    for block in pem_blocks(&text) {
        let label = block
            .lines()
            .next()
            .unwrap_or_default()
            .trim_start_matches("-----BEGIN ")
            .trim_end_matches('-');
        let key_label = match label {
            "EC PRIVATE KEY" | "PRIVATE KEY" => label,
            "RSA PRIVATE KEY" => return Err(ClientCertError::RsaKey),
            "ENCRYPTED PRIVATE KEY" => return Err(ClientCertError::EncryptedKey),
            _ => continue,
        };
        let der = match pem::decode_vec(block.as_bytes()) {
            Ok((_, der)) => der,
            Err(_) => return Err(ClientCertError::MalformedKey(key_label.to_owned())),
        };
        return if key_label == "PRIVATE KEY" {
            pkcs8_key(&der)
        } else {
            p256::SecretKey::from_sec1_der(&der)
                .map(|k| SigningKey::from(&k))
                .map_err(|_| {
                    ClientCertError::NotP256("the EC PRIVATE KEY is for another curve or malformed")
                })
        };
    }
    Err(ClientCertError::NoKey)
}

fn pkcs8_key(der: &[u8]) -> Result<SigningKey, ClientCertError> {
    let info = PrivateKeyInfo::try_from(der)
        .map_err(|_| ClientCertError::NotP256("the PRIVATE KEY is not valid PKCS#8"))?;
    match info.algorithm.oid {
        OID_RSA => Err(ClientCertError::RsaKey),
        OID_EC => SigningKey::from_pkcs8_der(der)
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
