//! The rustls configurations: the server's (chain, client CA, versions, tickets) and a client's
//! that trusts the test root.

use std::sync::Arc;

use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

use super::options::TlsOptions;
use super::pki::{ClientCert, Pki};

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
        cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ];
    Arc::new(p)
}

/// A fresh server configuration (a new one after a restart: new ticket keys, like a new process).
/// Client certificates are optional and verified against the client CA, whose name the
/// CertificateRequest carries (recorded F01/F02/F06).
pub fn server_config(pki: &Pki, opts: &TlsOptions) -> Result<Arc<ServerConfig>, rustls::Error> {
    let provider = provider();
    let mut client_roots = RootCertStore::empty();
    client_roots.add(CertificateDer::from(pki.client_ca_der.clone()))?;
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(client_roots), provider.clone())
            .allow_unauthenticated()
            .build()
            .map_err(|e| rustls::Error::General(e.to_string()))?;
    let versions: &[&'static rustls::SupportedProtocolVersion] = if opts.tls12 {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13]
    };
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.server_key_der().to_vec()));
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

/// A client configuration that trusts the test root (for tests and tools in Rust).
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
