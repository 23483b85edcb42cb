//! The test cluster's certificates: a server chain (root, optional intermediate, leaf) and a
//! separate client CA (kube-apiserver's `--client-ca-file`; recorded F01/F02: the server's
//! CertificateRequest names `realk8s-client-ca`, not the serving CA) that issues client
//! certificates — the server's own and, through [`Pki::issue_client_cert_for`], ones for keys
//! others hold (a CSR's).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, SignatureAlgorithm,
};

use super::der::{self, KeyType};
use super::keys::{key_pair, KeyKind};
use super::options::{ServerChain, TlsOptions};

/// A client certificate and its key, PEM encoded.
#[derive(Debug, Clone)]
pub struct ClientCert {
    /// Certificate PEM.
    pub cert_pem: String,
    /// PKCS#8 private key PEM.
    pub key_pem: String,
    /// Certificate DER.
    pub cert_der: Vec<u8>,
    /// PKCS#8 private key DER.
    pub key_der: Vec<u8>,
}

/// A certificate issued for a public key the caller holds the private half of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCert {
    /// Certificate DER.
    pub der: Vec<u8>,
    /// Certificate PEM (what a CSR's `status.certificate` carries, base64 encoded).
    pub pem: String,
}

/// Why [`Pki::issue_client_cert_for`] issued nothing.
#[derive(Debug)]
pub enum IssueError {
    /// The bytes are not a SubjectPublicKeyInfo of a P-256, P-384, Ed25519 or RSA key.
    UnsupportedKey,
    /// More than two groups (O values): rcgen cannot write a third.
    TooManyGroups,
    /// rcgen refused (a name it cannot encode, an empty validity).
    Rcgen(rcgen::Error),
}

impl std::fmt::Display for IssueError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IssueError::UnsupportedKey => f.write_str(
                "the public key is not an ECDSA P-256/P-384, Ed25519 or RSA SubjectPublicKeyInfo",
            ),
            IssueError::TooManyGroups => {
                f.write_str("a test certificate holds at most two groups (O values)")
            }
            IssueError::Rcgen(e) => write!(f, "the certificate could not be made: {e}"),
        }
    }
}

impl std::error::Error for IssueError {}

impl From<rcgen::Error> for IssueError {
    fn from(e: rcgen::Error) -> Self {
        IssueError::Rcgen(e)
    }
}

/// A public key given as SubjectPublicKeyInfo DER, as rcgen wants it.
struct ForeignKey {
    alg: &'static SignatureAlgorithm,
    key: Vec<u8>,
}

impl ForeignKey {
    fn from_spki(spki_der: &[u8]) -> Result<Self, IssueError> {
        let (kind, key) = der::public_key(spki_der).ok_or(IssueError::UnsupportedKey)?;
        // The algorithm only names the key type in the certificate's SubjectPublicKeyInfo.
        let alg = match kind {
            KeyType::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            KeyType::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            KeyType::Ed25519 => &rcgen::PKCS_ED25519,
            KeyType::Rsa => &rcgen::PKCS_RSA_SHA256,
        };
        Ok(ForeignKey { alg, key })
    }
}

impl PublicKeyData for ForeignKey {
    fn der_bytes(&self) -> &[u8] {
        &self.key
    }
    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.alg
    }
}

/// A CA's certificate and its signing half.
struct Ca {
    der: Vec<u8>,
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    /// A self-signed root (`parent` None) or an intermediate signed by `parent`.
    fn new(cn: &str, kind: KeyKind, parent: Option<&Ca>) -> Result<Ca, rcgen::Error> {
        let key = key_pair(kind)?;
        let mut p = CertificateParams::new(Vec::<String>::new())?;
        p.distinguished_name = DistinguishedName::new();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        long_validity(&mut p);
        let cert = match parent {
            None => p.self_signed(&key)?,
            Some(parent) => {
                p.use_authority_key_identifier_extension = true;
                p.signed_by(&key, &parent.issuer)?
            }
        };
        Ok(Ca {
            der: cert.der().to_vec(),
            pem: cert.pem(),
            issuer: Issuer::new(p, key),
        })
    }
}

/// The server chain and the client CA.
pub struct Pki {
    /// The root of the server chain (the kubeconfig's `certificate-authority-data`), PEM.
    pub ca_pem: String,
    /// The root of the server chain, DER.
    pub ca_der: Vec<u8>,
    /// The client CA, PEM.
    pub client_ca_pem: String,
    /// The client CA, DER.
    pub client_ca_der: Vec<u8>,
    client_ca: Issuer<'static, KeyPair>,
    /// Leaf first, then the intermediates.
    server_chain: Vec<Vec<u8>>,
    server_key_der: Vec<u8>,
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki")
            .field("ca_pem", &self.ca_pem)
            .field("client_ca_pem", &self.client_ca_pem)
            .finish()
    }
}

/// A subject: O values first, then the CN (the order kube-controller-manager's signer keeps from
/// the CSR, recorded A07). rcgen keeps one value per attribute type, so a second O goes in under
/// the same OID spelled as a custom type; a third cannot be written.
fn dn(cn: &str, orgs: &[&str]) -> Result<DistinguishedName, IssueError> {
    let mut dn = DistinguishedName::new();
    match orgs {
        [] => {}
        [o] => dn.push(DnType::OrganizationName, *o),
        [o1, o2] => {
            dn.push(DnType::OrganizationName, *o1);
            dn.push(DnType::CustomDnType(vec![2, 5, 4, 10]), *o2);
        }
        _ => return Err(IssueError::TooManyGroups),
    }
    dn.push(DnType::CommonName, cn);
    Ok(dn)
}

/// UTCTime range on both ends: some embedded X.509 parsers do not read GeneralizedTime.
fn long_validity(p: &mut CertificateParams) {
    p.not_before = rcgen::date_time_ymd(2024, 1, 1);
    p.not_after = rcgen::date_time_ymd(2049, 12, 31);
}

/// `not_before..not_after` in whole seconds (X.509 times have no fractions; before 1970 is 1970).
fn set_validity(p: &mut CertificateParams, not_before: SystemTime, not_after: SystemTime) {
    let secs = |t: SystemTime| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    p.not_before = epoch + Duration::from_secs(secs(not_before));
    p.not_after = epoch + Duration::from_secs(secs(not_after));
}

/// The root, the intermediate (if any) and the leaf key of a chain.
fn chain_shape(chain: ServerChain) -> (KeyKind, Option<KeyKind>, KeyKind) {
    const RSA4096: KeyKind = KeyKind::Rsa {
        bits: 4096,
        slot: 0,
    };
    const RSA2048_LEAF: KeyKind = KeyKind::Rsa {
        bits: 2048,
        slot: 0,
    };
    const RSA2048_CA: KeyKind = KeyKind::Rsa {
        bits: 2048,
        slot: 1,
    };
    const P256: KeyKind = KeyKind::EcdsaP256;
    match chain {
        ServerChain::EcdsaP256 => (P256, None, P256),
        ServerChain::EcdsaIntermediate => (P256, Some(P256), P256),
        ServerChain::Rsa => (RSA4096, None, RSA2048_LEAF),
        ServerChain::RsaIntermediate => (RSA4096, Some(RSA2048_CA), RSA2048_LEAF),
        ServerChain::EcdsaUnderRsa => (RSA4096, Some(RSA2048_CA), P256),
        ServerChain::EcdsaUnderEd25519 => (KeyKind::Ed25519, None, P256),
    }
}

impl Pki {
    /// Generates the server chain `opts.chain` and a client CA.
    pub fn generate(opts: &TlsOptions) -> Result<Self, rcgen::Error> {
        let (root_kind, intermediate_kind, leaf_kind) = chain_shape(opts.chain);
        let root_cn = match opts.chain {
            // The name existing tests and kubeconfigs have seen since the first session.
            ServerChain::EcdsaP256 => "picokubelet-testkit-ca",
            ServerChain::EcdsaIntermediate => "picokubelet-testkit-root-ca",
            ServerChain::EcdsaUnderEd25519 => "picokubelet-testkit-ed25519-ca",
            _ => "picokubelet-testkit-rsa-ca",
        };
        let root = Ca::new(root_cn, root_kind, None)?;
        let intermediate = intermediate_kind
            .map(|k| Ca::new("picokubelet-testkit-intermediate-ca", k, Some(&root)))
            .transpose()?;
        let signer = intermediate.as_ref().unwrap_or(&root);

        let sans = opts.sans_override.clone().unwrap_or_else(|| {
            let mut sans = vec![
                "kubernetes".to_string(),
                "localhost".to_string(),
                "127.0.0.1".to_string(),
            ];
            sans.extend(opts.extra_sans.iter().cloned());
            sans
        });
        let server_key = key_pair(leaf_kind)?;
        let mut params = CertificateParams::new(sans)?;
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, "kube-apiserver");
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        match opts.leaf_validity {
            Some((from, to)) => set_validity(&mut params, from, to),
            None => long_validity(&mut params),
        }
        let server_cert = params.signed_by(&server_key, &signer.issuer)?;

        let client_ca = Ca::new("picokubelet-testkit-client-ca", KeyKind::EcdsaP256, None)?;
        let mut server_chain = vec![server_cert.der().to_vec()];
        server_chain.extend(intermediate.map(|i| i.der));
        Ok(Pki {
            ca_pem: root.pem,
            ca_der: root.der,
            client_ca_pem: client_ca.pem,
            client_ca_der: client_ca.der,
            client_ca: client_ca.issuer,
            server_chain,
            server_key_der: server_key.serialize_der(),
        })
    }

    /// Issues a client certificate for `user` with `groups` as organizations (CN/O, as the
    /// apiserver reads them) and a fresh ECDSA P-256 key, valid 2024..2049.
    pub fn issue_client_cert(&self, user: &str, groups: &[&str]) -> Result<ClientCert, IssueError> {
        let key = key_pair(KeyKind::EcdsaP256)?;
        let mut params = client_params(user, groups)?;
        long_validity(&mut params);
        let cert = params.signed_by(&key, &self.client_ca)?;
        Ok(ClientCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().to_vec(),
            key_der: key.serialize_der(),
        })
    }

    /// Signs a client certificate with the client CA for a public key someone else holds (given
    /// as SubjectPublicKeyInfo DER, e.g. from a CSR): subject O = `orgs`, CN = `cn`, key usage
    /// digital signature, extended key usage client auth, valid `not_before..not_after` (whole
    /// seconds) — what kube-controller-manager's signer issues (recorded A07). The server
    /// authenticates it as user `cn` in groups `orgs` like any certificate of the client CA.
    pub fn issue_client_cert_for(
        &self,
        spki_der: &[u8],
        cn: &str,
        orgs: &[&str],
        not_before: SystemTime,
        not_after: SystemTime,
    ) -> Result<IssuedCert, IssueError> {
        let key = ForeignKey::from_spki(spki_der)?;
        let mut params = client_params(cn, orgs)?;
        set_validity(&mut params, not_before, not_after);
        let cert = params.signed_by(&key, &self.client_ca)?;
        Ok(IssuedCert {
            der: cert.der().to_vec(),
            pem: cert.pem(),
        })
    }

    /// The client CA's signing half: kube-controller-manager's CSR signer signs with the client
    /// CA (`--cluster-signing-cert-file`), as `crate::signer` does with this.
    pub fn client_issuer(&self) -> &Issuer<'static, KeyPair> {
        &self.client_ca
    }

    /// The chain the server sends: leaf, then intermediates (never the root).
    pub fn server_chain(&self) -> Vec<rustls::pki_types::CertificateDer<'static>> {
        self.server_chain
            .iter()
            .map(|c| rustls::pki_types::CertificateDer::from(c.clone()))
            .collect()
    }

    /// The server leaf's PKCS#8 private key.
    pub fn server_key_der(&self) -> &[u8] {
        &self.server_key_der
    }
}

/// A client certificate's parameters as the controller manager's signer makes them (A07).
fn client_params(cn: &str, orgs: &[&str]) -> Result<CertificateParams, IssueError> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name = dn(cn, orgs)?;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.use_authority_key_identifier_extension = true;
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_for_a_foreign_key_names_the_user_and_groups_and_the_validity() {
        let pki = Pki::generate(&TlsOptions::default()).unwrap();
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let from = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let to = from + Duration::from_secs(600);
        let cert = pki
            .issue_client_cert_for(
                &key.subject_public_key_info(),
                "system:node:esp-boot-01",
                &["system:nodes"],
                from + Duration::from_millis(700),
                to,
            )
            .unwrap();
        let subject = der::certificate_subject(&cert.der).unwrap();
        assert_eq!(subject.common_names, vec!["system:node:esp-boot-01"]);
        assert_eq!(subject.organizations, vec!["system:nodes"]);
        assert!(cert.pem.starts_with("-----BEGIN CERTIFICATE-----"));
        // The certificate holds the given key (its SPKI bytes appear verbatim).
        let spki = key.subject_public_key_info();
        assert!(cert.der.windows(spki.len()).any(|w| w == spki.as_slice()));
        // 1_800_000_000 = 2027-01-15 08:00:00 UTC: UTCTime 270115080000Z, fractions dropped.
        let has = |t: &[u8]| cert.der.windows(t.len()).any(|w| w == t);
        assert!(has(b"270115080000Z"));
        assert!(has(b"270115081000Z"));
    }

    #[test]
    fn a_key_that_is_not_a_public_key_is_refused() {
        let pki = Pki::generate(&TlsOptions::default()).unwrap();
        let err = pki
            .issue_client_cert_for(b"\x30\x03\x02\x01\x00", "x", &[], UNIX_EPOCH, UNIX_EPOCH)
            .unwrap_err();
        assert!(matches!(err, IssueError::UnsupportedKey), "{err:?}");
    }

    #[test]
    fn two_groups_both_reach_the_subject_and_a_third_is_refused() {
        let pki = Pki::generate(&TlsOptions::default()).unwrap();
        let cert = pki
            .issue_client_cert("alice", &["system:masters", "fleet:lab"])
            .unwrap();
        let subject = der::certificate_subject(&cert.cert_der).unwrap();
        assert_eq!(subject.organizations, vec!["system:masters", "fleet:lab"]);
        assert!(matches!(
            pki.issue_client_cert("bob", &["a", "b", "c"]),
            Err(IssueError::TooManyGroups)
        ));
    }
}
