//! Certificates (rcgen) and the rustls server configuration.
//!
//! Like k3s: a self-signed CA and an ECDSA P-256 server certificate (CN `kube-apiserver`) whose
//! SANs are, in this order, DNS `kubernetes`, DNS `localhost`, IP `127.0.0.1` (embedded TLS
//! stacks that read only the first DNS name find `kubernetes`). Like kube-apiserver: TLS 1.3
//! (1.2 optional) preferring TLS_AES_128_GCM_SHA256, ALPN `http/1.1`, an optional client
//! certificate (CertificateRequest is always sent) verified against the same CA, and one TLS 1.3
//! session ticket per connection so a second connection can resume.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};
use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

/// TLS settings.
#[derive(Debug, Clone)]
pub struct TlsOptions {
    /// Also offer TLS 1.2 (kube-apiserver does; embedded-tls speaks only 1.3).
    pub tls12: bool,
    /// Send TLS 1.3 session tickets (resumption).
    pub session_tickets: bool,
    /// Largest TLS record payload the server sends (None: 16 KiB).
    pub max_fragment_size: Option<usize>,
    /// Extra SANs after the standard three (DNS names or IP addresses).
    pub extra_sans: Vec<String>,
}

impl Default for TlsOptions {
    fn default() -> Self {
        TlsOptions {
            tls12: true,
            session_tickets: true,
            max_fragment_size: None,
            extra_sans: Vec::new(),
        }
    }
}

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

/// The CA and the server's key material.
pub struct Pki {
    ca_params: CertificateParams,
    ca_key: KeyPair,
    /// CA certificate PEM.
    pub ca_pem: String,
    /// CA certificate DER.
    pub ca_der: Vec<u8>,
    server_der: Vec<u8>,
    server_key_der: Vec<u8>,
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki").field("ca_pem", &self.ca_pem).finish()
    }
}

fn validity(p: &mut CertificateParams) {
    // UTCTime range on both ends: some embedded X.509 parsers do not read GeneralizedTime.
    p.not_before = rcgen::date_time_ymd(2024, 1, 1);
    p.not_after = rcgen::date_time_ymd(2049, 12, 31);
}

impl Pki {
    /// Generates a CA and a server certificate.
    pub fn generate(opts: &TlsOptions) -> Result<Self, rcgen::Error> {
        let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "picokubelet-testkit-ca");
        ca_params.distinguished_name = dn;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        validity(&mut ca_params);
        let ca_cert = ca_params.self_signed(&ca_key)?;

        let mut sans = vec![
            "kubernetes".to_string(),
            "localhost".to_string(),
            "127.0.0.1".to_string(),
        ];
        sans.extend(opts.extra_sans.iter().cloned());
        let server_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::new(sans)?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "kube-apiserver");
        params.distinguished_name = dn;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        validity(&mut params);
        let issuer = Issuer::from_params(&ca_params, &ca_key);
        let server_cert = params.signed_by(&server_key, &issuer)?;
        Ok(Pki {
            ca_pem: ca_cert.pem(),
            ca_der: ca_cert.der().to_vec(),
            ca_params,
            ca_key,
            server_der: server_cert.der().to_vec(),
            server_key_der: server_key.serialize_der(),
        })
    }

    /// Issues a client certificate for `user` with `groups` as organizations (CN/O, as the
    /// apiserver reads them).
    pub fn issue_client_cert(
        &self,
        user: &str,
        groups: &[&str],
    ) -> Result<ClientCert, rcgen::Error> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        self.issue_client_cert_with_key(user, groups, &key)
    }

    /// [`Pki::issue_client_cert`] for a key the caller made (kind's client keys are RSA-2048).
    pub fn issue_client_cert_with_key(
        &self,
        user: &str,
        groups: &[&str],
        key: &KeyPair,
    ) -> Result<ClientCert, rcgen::Error> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        let mut dn = DistinguishedName::new();
        for g in groups {
            dn.push(DnType::OrganizationName, *g);
        }
        dn.push(DnType::CommonName, user);
        params.distinguished_name = dn;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        validity(&mut params);
        let issuer = Issuer::from_params(&self.ca_params, &self.ca_key);
        let cert = params.signed_by(key, &issuer)?;
        Ok(ClientCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().to_vec(),
            key_der: key.serialize_der(),
        })
    }

    /// Server certificate chain (leaf only, as kube-apiserver serves it).
    pub fn server_chain(&self) -> Vec<CertificateDer<'static>> {
        vec![CertificateDer::from(self.server_der.clone())]
    }
}

/// The ring provider with the suites in Go's server preference order.
pub fn provider() -> Arc<CryptoProvider> {
    use ring::cipher_suite as cs;
    let mut p = ring::default_provider();
    p.cipher_suites = vec![
        cs::TLS13_AES_128_GCM_SHA256,
        cs::TLS13_AES_256_GCM_SHA384,
        cs::TLS13_CHACHA20_POLY1305_SHA256,
        cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ];
    Arc::new(p)
}

/// A fresh server configuration (a new one after a restart: new ticket keys, like a new process).
pub fn server_config(pki: &Pki, opts: &TlsOptions) -> Result<Arc<ServerConfig>, rustls::Error> {
    let provider = provider();
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from(pki.ca_der.clone()))?;
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| rustls::Error::General(e.to_string()))?;
    let versions: &[&'static rustls::SupportedProtocolVersion] = if opts.tls12 {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13]
    };
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.server_key_der.clone()));
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(pki.server_chain(), key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.ignore_client_order = true;
    config.max_fragment_size = opts.max_fragment_size;
    if opts.session_tickets {
        config.ticketer = ring::Ticketer::new()?;
        config.send_tls13_tickets = 1;
    } else {
        config.send_tls13_tickets = 0;
        config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    }
    Ok(Arc::new(config))
}

/// A client configuration that trusts the test CA (for tests and tools in Rust).
pub fn client_config(
    pki: &Pki,
    client: Option<&ClientCert>,
) -> Result<Arc<rustls::ClientConfig>, rustls::Error> {
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from(pki.ca_der.clone()))?;
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let mut config = match client {
        Some(c) => builder.with_client_auth_cert(
            vec![CertificateDer::from(c.cert_der.clone())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(c.key_der.clone())),
        )?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
