//! Certificates (rcgen, RSA keys from the `rsa` crate) and the rustls configurations.
//!
//! Like k3s by default: a self-signed CA and an ECDSA P-256 server certificate (CN
//! `kube-apiserver`) whose SANs are, in this order, DNS `kubernetes`, DNS `localhost`, IP
//! `127.0.0.1` (embedded TLS stacks that read only the first DNS name find `kubernetes`); other
//! chains on request ([`ServerChain`]: an intermediate, kubeadm's RSA). Like kube-apiserver: TLS
//! 1.3 (1.2 optional) preferring TLS_AES_128_GCM_SHA256, ALPN `http/1.1`, an optional client
//! certificate (CertificateRequest is always sent) verified against a separate client CA, a
//! verified certificate authenticating as user CN in groups O, and one TLS 1.3 session ticket per
//! connection so a second connection can resume.

mod config;
mod der;
mod keys;
mod options;
mod pki;

pub use config::{client_config, server_config};
pub use options::{ServerChain, TlsOptions};
pub use pki::{ClientCert, IssueError, IssuedCert, Pki};

/// The identity kube-apiserver's x509 authenticator gives a verified client certificate: user =
/// the subject's (first) CN, groups = its O values. `None` without a CN (guess: not recorded;
/// the apiserver's CommonNameUserConversion refuses an empty user name, so the request is
/// anonymous here).
pub fn client_identity(cert_der: &[u8]) -> Option<(String, Vec<String>)> {
    let subject = der::certificate_subject(cert_der)?;
    let user = subject.common_names.into_iter().next()?;
    if user.is_empty() {
        return None;
    }
    Some((user, subject.organizations))
}
