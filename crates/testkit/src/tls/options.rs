//! What the test server's TLS looks like: versions, tickets, record size, and which certificate
//! chain it serves.

use std::time::SystemTime;

/// The server certificate chain, generated per server (per test run). The server sends the leaf
/// and the intermediates, never the root, as kube-apiserver sends its `--tls-cert-file`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ServerChain {
    /// An ECDSA P-256 leaf directly under a self-signed ECDSA P-256 root (k3s; recorded F01).
    #[default]
    EcdsaP256,
    /// An ECDSA P-256 leaf under an ECDSA P-256 intermediate under an ECDSA P-256 root.
    EcdsaIntermediate,
    /// An RSA-2048 leaf directly under an RSA-4096 root (kubeadm-style; recorded F02).
    Rsa,
    /// An RSA-2048 leaf under an RSA-2048 intermediate under an RSA-4096 root.
    RsaIntermediate,
    /// An ECDSA P-256 leaf under an RSA-2048 intermediate under an RSA-4096 root (mixed).
    EcdsaUnderRsa,
    /// An ECDSA P-256 leaf under an Ed25519 root: rustls and Go verify it, the board does not
    /// (an unsupported signature algorithm on the leaf).
    EcdsaUnderEd25519,
}

impl ServerChain {
    /// Every chain, for tests that try them all.
    pub const ALL: [ServerChain; 6] = [
        ServerChain::EcdsaP256,
        ServerChain::EcdsaIntermediate,
        ServerChain::Rsa,
        ServerChain::RsaIntermediate,
        ServerChain::EcdsaUnderRsa,
        ServerChain::EcdsaUnderEd25519,
    ];
}

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
    /// The server certificate chain.
    pub chain: ServerChain,
    /// Replaces the standard SANs (`kubernetes`, `localhost`, `127.0.0.1`) and `extra_sans`:
    /// a server certificate for other names (a name-mismatch test).
    pub sans_override: Option<Vec<String>>,
    /// The server leaf's validity (not before, not after) instead of 2024..2049 (an expired or
    /// not-yet-valid certificate).
    pub leaf_validity: Option<(SystemTime, SystemTime)>,
}

impl Default for TlsOptions {
    fn default() -> Self {
        TlsOptions {
            tls12: true,
            session_tickets: true,
            max_fragment_size: None,
            extra_sans: Vec::new(),
            chain: ServerChain::default(),
            sans_override: None,
            leaf_validity: None,
        }
    }
}

impl TlsOptions {
    /// These options with another server chain.
    pub fn with_chain(mut self, chain: ServerChain) -> Self {
        self.chain = chain;
        self
    }
}
