//! Why `provision` wrote nothing. No variant carries a secret: the messages are safe to print.

use std::path::PathBuf;

use picokubelet_core::provision::{RecordError, MAX_CA_LEN, MAX_CLIENT_CERT_LEN, MAX_TOKEN_LEN};

use crate::kubeconfig::KubeconfigError;

/// Everything `provision` can refuse, each with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error(transparent)]
    Kubeconfig(#[from] KubeconfigError),
    #[error(
        "the API server host {host} is a loopback address, which a board cannot reach (k3s \
         writes 127.0.0.1 into its kubeconfig); pass --api-host with the address or DNS name \
         the board dials"
    )]
    LoopbackHost { host: String },
    #[error("--api-host {value:?}: {reason}")]
    BadApiHost { value: String, reason: String },
    #[error(
        "the kubeconfig sets insecure-skip-tls-verify: a record without server verification \
         needs the explicit --insecure-skip-tls-verify flag (better: add the cluster's CA)"
    )]
    InsecureNotRequested,
    #[error("the cluster CA cannot be used: {0}")]
    Ca(String),
    #[error(
        "the cluster CA is {len} bytes of DER; the record holds at most {MAX_CA_LEN} (an \
         ECDSA P-256 CA, as k3s makes, is about 400 bytes)"
    )]
    CaTooLarge { len: usize },
    #[error(
        "the kubeconfig's client key is RSA, and a board signs with ECDSA P-256 only (the \
         board's TLS client has no RSA signer: RSA signing needs the heap it does not have); \
         issue the board a P-256 key (`openssl ecparam -name prime256v1 -genkey -noout -out node.key`) \
         and a certificate for it, or give it a token (see deploy/README.md)"
    )]
    RsaKeyForBoard,
    #[error(
        "the client certificate is {len} bytes of DER; the record holds at most \
         {MAX_CLIENT_CERT_LEN} (a kubelet client certificate is about 500-1100 bytes)"
    )]
    ClientCertificateTooLong { len: usize },
    #[error("the token is {len} bytes; the record holds at most {MAX_TOKEN_LEN}")]
    TokenTooLong { len: usize },
    #[error(
        "the token holds a space, a control byte or non-ASCII; it cannot be sent as a bearer token"
    )]
    TokenChars,
    #[error(
        "--wifi-ssid {ssid:?} needs a password: put it in a file named by \
         --wifi-password-file or in $PK_WIFI_PASSWORD (never on the command line), or pass \
         --wifi-open for an open network"
    )]
    NoWifiPassword { ssid: String },
    #[error("--wifi-open, but a password is given in {source_name}; drop one of the two")]
    OpenWithPassword { source_name: &'static str },
    #[error("cannot read --wifi-password-file {}: {source}", .path.display())]
    PasswordFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the Wi-Fi password from {source_name} is not usable: {reason}")]
    BadPassword {
        source_name: &'static str,
        reason: String,
    },
    #[error("--wifi-ssid: {0}")]
    BadSsid(String),
    #[error("{0}")]
    Node(String),
    #[error("cannot read --bootstrap-token-file {}: {source}", .path.display())]
    BootstrapTokenFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--bootstrap-token-file {}: {reason}", .path.display())]
    BadBootstrapToken { path: PathBuf, reason: String },
    #[error("--discovery-token-ca-cert-hash: {0}")]
    BadCaHash(String),
    #[error("--mint-bootstrap-token: {0}")]
    Mint(String),
    #[error(
        "--mint-bootstrap-token writes the cluster CA's hash into the record, and the \
         kubeconfig has no CA (insecure-skip-tls-verify): add the cluster's \
         certificate-authority(-data)"
    )]
    MintWithoutCa,
    #[error("the record cannot be written: {0}")]
    Record(RecordError),
    #[error("the board would refuse this configuration: {0}")]
    BoardWouldRefuse(String),
    #[error("{} exists; pass --force to overwrite it", .0.display())]
    OutExists(PathBuf),
    #[error("cannot write {}: {source}", .path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}
