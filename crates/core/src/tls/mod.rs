//! TLS 1.3 to the API server with the server certificate verified (embedded-tls 0.19, vendored
//! and patched: vendor/embedded-tls/PATCHES.md).
//!
//! - [`ca`]: the configured CA (PEM, base64 of PEM, DER) → DER in a caller buffer.
//! - [`verifier`]: [`K8sVerifier`], our X.509 path + SAN + CertificateVerify checks
//!   (embedded-tls' own verifiers compare the CN or only the first 3 DNS SANs, never IPs,
//!   and do not check CA flags or EKU).
//! - [`open()`]: handshake + the rule "no session unless the server authenticated";
//!   [`open_as`] also answers a CertificateRequest with a [`ClientIdentity`] (ECDSA P-256).
//! - [`der`], [`x509`]: the strict DER/X.509 subset the verifier reads.
//! - [`signature`], [`rsa`], `nistp384`: signature checks (ECDSA P-256/P-384, RSA 2048..=4096
//!   bits PKCS#1 v1.5 and PSS, SHA-256/384/512), no alloc.
//! - [`error`]: [`VerifyError`], why a server was refused, with the facts, as one line.
//! - [`validity`]: the validity periods of a chain verified before the time was known.
//! - kubelet TLS bootstrap and discovery: [`csr`] (the PKCS#10 request and its PEM),
//!   [`jws`] (cluster-info's signature), [`pin`] (the CA key hash), [`base64`] (encoding).
//!
//! Supported servers: ECDSA P-256 / P-384 and RSA-2048/3072/4096 certificates and CAs, mixed
//! along the chain (k3s; kubeadm, kind, EKS, GKE, AKS), TLS_AES_128_GCM_SHA256.
//!
//! Flash on riscv32imac (opt-level "s", fat LTO, panic=abort; one open + write + flush + read):
//! embedded-tls alone (handshake, AES-128-GCM, SHA-256, P-256 ECDH) 60 216 bytes; with
//! [`open()`] and the verifier (DER/X.509, ECDSA P-256 verify) 79 456 (+18.8 KiB); with
//! [`decode_ca`] too 81 896 (+2.4 KiB). RAM: the caller's [`RX_RECORD_BUFFER`] +
//! [`TX_RECORD_BUFFER`] plus ~1.3 KiB of connection state.

pub mod base64;
pub mod ca;
pub mod check;
pub mod csr;
pub mod der;
pub mod error;
pub mod jws;
#[cfg(feature = "p384")]
mod nistp384;
mod open;
pub mod opener;
pub mod pin;
pub mod rsa;
pub mod signature;
pub mod validity;
pub mod verifier;
pub mod x509;

/// The TLS crate, for callers that need more of it (e.g. `TlsConfig`, `FlushPolicy`) at the
/// exact version and patch level the core uses.
pub use embedded_tls;

pub use ca::{base64_pem_to_der, decode_ca, pem_to_der, CaError, CA_DER_MAX};
pub use check::{Rejection, ServerIdentity, MAX_INTERMEDIATES};
pub use embedded_tls::{Aes128GcmSha256, CryptoRngCore, TlsConnection, TlsError};
pub use error::{Detail, VerifyError};
pub use open::{
    open, open_as, open_noting, open_verified, ClientIdentity, ClientKey, ClientSignature,
    K8sProvider, TlsOpenError, TlsVerification, RX_RECORD_BUFFER, TX_RECORD_BUFFER,
};
pub use opener::{ServerTrust, TlsOpener};
pub use signature::{KeyKind, SigError};
pub use validity::{CertPeriod, ValidityWindow};
pub use verifier::K8sVerifier;
