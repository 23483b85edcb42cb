//! Opening a TLS 1.3 session to the API server: the one place that decides whether a
//! handshake counts as authenticated.

use embedded_io_async::{Read, Write};
use embedded_tls::{
    Aes128GcmSha256, Certificate, CryptoProvider, CryptoRngCore, SignatureScheme, TlsConfig,
    TlsConnection, TlsContext, TlsError, TlsVerifier,
};
use p256::ecdsa::SigningKey;

use super::check::{Rejection, ServerIdentity};
use super::error::VerifyError;
use super::validity::ValidityWindow;
use super::verifier::K8sVerifier;
use crate::time::UnixMicros;

/// Record buffer sizes for [`open`]: owned by the session layer that allocates the buffers.
pub use crate::client::session::{TLS_RX_LEN as RX_RECORD_BUFFER, TLS_TX_LEN as TX_RECORD_BUFFER};

/// How the server is checked.
#[derive(Debug, Clone, Copy)]
pub enum TlsVerification<'a> {
    /// Verify the chain up to `ca_der`, the `identity` in the SANs and the handshake signature.
    Verify {
        /// The cluster CA, DER (see [`super::ca::decode_ca`]).
        ca_der: &'a [u8],
        /// Name or IP the certificate must be issued for.
        identity: ServerIdentity<'a>,
        /// Wall clock if anchored; `None` skips the validity-period check.
        now: Option<UnixMicros>,
    },
    /// NO VERIFICATION AT ALL: anyone on the network path can read and change everything,
    /// including the node's bearer token. Only for a user who asked for it in plain words
    /// (kubeconfig `insecure-skip-tls-verify: true`). The caller MUST log it loudly on every
    /// connect (and should show it on the LED/status); this module does not log.
    /// `identity` only decides the SNI.
    InsecureSkipVerify {
        /// Sent as SNI when it is a DNS name; not checked.
        identity: ServerIdentity<'a>,
    },
}

/// The client's own certificate and key for TLS 1.3 client authentication (kubeconfig
/// `client-certificate` / `client-key`), both owned by the caller. Sent only when the server
/// asks (CertificateRequest → Certificate + CertificateVerify signed with `key`).
///
/// Only the leaf is sent: embedded-tls puts exactly one certificate into the Certificate
/// message, which is what a Kubernetes client CA needs (kubeadm, kind and k3s issue client
/// certificates directly from the client CA).
#[derive(Clone, Copy)]
pub struct ClientIdentity<'c> {
    /// The client certificate (leaf), DER.
    pub certificate_der: &'c [u8],
    /// The certificate's private key.
    pub key: ClientKey<'c>,
}

/// The private key of a client certificate.
#[derive(Clone, Copy)]
pub enum ClientKey<'c> {
    /// ECDSA P-256, signing `ecdsa_secp256r1_sha256`: the board's and the host's.
    P256(&'c SigningKey),
    /// RSA, signing `rsa_pss_rsae_sha256` (TLS 1.3 allows no PKCS#1 v1.5 in CertificateVerify).
    /// Host only: the `rsa` crate needs `alloc`.
    #[cfg(feature = "rsa-client")]
    Rsa(&'c rsa::RsaPrivateKey),
}

impl<'c> From<&'c SigningKey> for ClientKey<'c> {
    fn from(key: &'c SigningKey) -> Self {
        ClientKey::P256(key)
    }
}

impl core::fmt::Debug for ClientIdentity<'_> {
    // Never the key: this ends up in logs.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let kind = match self.key {
            ClientKey::P256(_) => "P-256",
            #[cfg(feature = "rsa-client")]
            ClientKey::Rsa(_) => "RSA",
        };
        f.debug_struct("ClientIdentity")
            .field("certificate_der_len", &self.certificate_der.len())
            .field("key", &kind)
            .finish_non_exhaustive()
    }
}

/// A CertificateVerify signature: DER ECDSA, or the RSA-PSS signature bytes.
pub enum ClientSignature {
    Ecdsa(p256::ecdsa::DerSignature),
    #[cfg(feature = "rsa-client")]
    Rsa(alloc::vec::Vec<u8>),
}

impl AsRef<[u8]> for ClientSignature {
    fn as_ref(&self) -> &[u8] {
        match self {
            ClientSignature::Ecdsa(s) => s.as_ref(),
            #[cfg(feature = "rsa-client")]
            ClientSignature::Rsa(s) => s,
        }
    }
}

/// Signs the CertificateVerify with the client key; RSA-PSS draws its salt from `rng`.
struct ClientSigner<'k, R> {
    key: ClientKey<'k>,
    #[cfg_attr(not(feature = "rsa-client"), allow(dead_code))]
    rng: &'k mut R,
}

impl<R: CryptoRngCore> p256::ecdsa::signature::SignerMut<ClientSignature> for ClientSigner<'_, R> {
    fn try_sign(&mut self, msg: &[u8]) -> Result<ClientSignature, p256::ecdsa::signature::Error> {
        match self.key {
            ClientKey::P256(key) => {
                p256::ecdsa::signature::Signer::<p256::ecdsa::DerSignature>::try_sign(key, msg)
                    .map(ClientSignature::Ecdsa)
            }
            #[cfg(feature = "rsa-client")]
            ClientKey::Rsa(key) => {
                use sha2::Digest as _;
                let digest = sha2::Sha256::digest(msg);
                // Salt as long as the hash, as RFC 8446 4.2.3 demands.
                key.sign_with_rng(&mut *self.rng, rsa::Pss::new::<sha2::Sha256>(), &digest)
                    .map(ClientSignature::Rsa)
                    .map_err(|_| p256::ecdsa::signature::Error::new())
            }
        }
    }
}

/// Why [`open`] gave no session. The socket is dropped in every case. `Display` says it in
/// one line (with the verifier's facts when it refused the server).
// Handshake carries the verifier's facts by value (no alloc to box them); one per failed open.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Copy)]
pub enum TlsOpenError {
    /// `rx` is shorter than [`RX_RECORD_BUFFER`] or `tx` shorter than [`TX_RECORD_BUFFER`].
    BufferTooSmall,
    /// The handshake failed: I/O, protocol, or the verifier refused the server.
    Handshake {
        /// What embedded-tls reported.
        error: TlsError,
        /// The verifier's reason and facts, when it was the verifier that refused.
        verify: Option<VerifyError>,
    },
    /// The handshake completed but the server never proved it holds the certificate key
    /// (no Certificate or no CertificateVerify was verified): an impostor.
    NotAuthenticated,
    /// The server asked for our client certificate, we sent it, and the server then ended the
    /// handshake (an alert, or closed the connection under our next write): it does not accept
    /// the certificate (another CA, expired, not for this key).
    ClientCertificateRefused {
        /// What embedded-tls reported.
        error: TlsError,
    },
}

impl TlsOpenError {
    /// What to do, when this error knows better than the verifier's reasons (a refused client
    /// certificate).
    pub const fn advice(&self) -> Option<&'static str> {
        match self {
            TlsOpenError::ClientCertificateRefused { .. } => Some(
                "the client certificate must be issued by the cluster's client CA (k3s client-ca.crt, kubeadm /etc/kubernetes/pki/ca.crt) for the key in client-key(-data), and still be valid; renew it with a new CSR (deploy/README.md)",
            ),
            _ => None,
        }
    }

    /// The verifier's reason, if the verifier refused the server.
    pub const fn rejection(&self) -> Option<Rejection> {
        match self {
            TlsOpenError::Handshake {
                verify: Some(v), ..
            } => Some(v.rejection),
            _ => None,
        }
    }

    /// The verifier's reason with its facts, if the verifier refused the server.
    pub const fn verify_error(&self) -> Option<&VerifyError> {
        match self {
            TlsOpenError::Handshake {
                verify: Some(v), ..
            } => Some(v),
            _ => None,
        }
    }
}

impl core::fmt::Display for TlsOpenError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            TlsOpenError::BufferTooSmall => f.write_str("TLS record buffers too small"),
            TlsOpenError::Handshake {
                verify: Some(v), ..
            } => write!(f, "TLS: {v}"),
            TlsOpenError::Handshake {
                error: TlsError::Io(kind),
                ..
            } => write!(f, "TLS handshake: connection failed ({kind:?})"),
            TlsOpenError::Handshake { error, .. } => write!(
                f,
                "TLS handshake failed ({:?}): the server may require something we do not offer (TLS 1.3 with TLS_AES_128_GCM_SHA256, X25519/P-256, ECDSA P-256/P-384 or RSA-PSS certificates)",
                TlsErrorText(*error)
            ),
            TlsOpenError::NotAuthenticated => f.write_str(
                "TLS: the handshake completed without the server proving its certificate (no Certificate/CertificateVerify)",
            ),
            TlsOpenError::ClientCertificateRefused { error } => write!(
                f,
                "TLS: the server ended the handshake after our client certificate ({:?}): it does not accept the certificate",
                TlsErrorText(*error)
            ),
        }
    }
}

/// embedded-tls's error in its derived `Debug` shape, written out for the variants with fields:
/// the firmware's derived `Debug` is shallow (BENCHMARKS.md "Firmware size") and would drop
/// the alert the server sent, the line's most useful fact.
struct TlsErrorText(TlsError);

impl core::fmt::Debug for TlsErrorText {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            TlsError::HandshakeAborted(level, alert) => f
                .debug_tuple("HandshakeAborted")
                .field(&level)
                .field(&alert)
                .finish(),
            TlsError::AbortHandshake(level, alert) => f
                .debug_tuple("AbortHandshake")
                .field(&level)
                .field(&alert)
                .finish(),
            TlsError::ParseError(e) => f.debug_tuple("ParseError").field(&e).finish(),
            TlsError::Io(kind) => f.debug_tuple("Io").field(&kind).finish(),
            // No fields: the derived name is whole even when shallow.
            other => core::fmt::Debug::fmt(&other, f),
        }
    }
}

/// embedded-tls [`CryptoProvider`]: the body's RNG and our [`K8sVerifier`]; the cipher suite
/// kube-apiserver negotiates (TLS_AES_128_GCM_SHA256). No client certificate.
pub struct K8sProvider<'a, R> {
    /// Cryptographically secure RNG (esp-hal's Trng on the board, OsRng on Linux).
    pub rng: R,
    /// The verifier, kept so the caller can ask it afterwards.
    pub verifier: K8sVerifier<'a, Aes128GcmSha256>,
}

impl<R: CryptoRngCore> CryptoProvider for K8sProvider<'_, R> {
    type CipherSuite = Aes128GcmSha256;
    type Signature = p256::ecdsa::DerSignature;

    fn rng(&mut self) -> impl CryptoRngCore {
        &mut self.rng
    }

    fn verifier(&mut self) -> Result<&mut impl TlsVerifier<Aes128GcmSha256>, TlsError> {
        Ok(&mut self.verifier)
    }
}

/// What [`open`] hands embedded-tls: ONE provider type for both modes, so the handshake code
/// is instantiated once (a second provider type costs ~4 KiB of flash). `verifier: None` is
/// [`TlsVerification::InsecureSkipVerify`]: embedded-tls then checks nothing (it still
/// requires the Certificate and CertificateVerify messages, patch L3). `client: None` answers
/// a CertificateRequest with an empty Certificate (kube-apiserver asks every client and
/// accepts that; a server that requires one then refuses with `certificate_required`).
struct SessionProvider<'a, R> {
    rng: R,
    verifier: Option<K8sVerifier<'a, Aes128GcmSha256>>,
    client: Option<ClientIdentity<'a>>,
    /// The server asked and we answered with `client`.
    client_cert_sent: bool,
}

impl<R: CryptoRngCore> CryptoProvider for SessionProvider<'_, R> {
    type CipherSuite = Aes128GcmSha256;
    type Signature = ClientSignature;

    fn rng(&mut self) -> impl CryptoRngCore {
        &mut self.rng
    }

    fn verifier(&mut self) -> Result<&mut impl TlsVerifier<Aes128GcmSha256>, TlsError> {
        self.verifier.as_mut().ok_or(TlsError::Unimplemented)
    }

    // Only asked for after `client_cert` returned a certificate.
    fn signer(
        &mut self,
    ) -> Result<
        (
            impl p256::ecdsa::signature::SignerMut<Self::Signature>,
            SignatureScheme,
        ),
        TlsError,
    > {
        let client = self.client.ok_or(TlsError::InvalidPrivateKey)?;
        let scheme = match client.key {
            ClientKey::P256(_) => SignatureScheme::EcdsaSecp256r1Sha256,
            #[cfg(feature = "rsa-client")]
            ClientKey::Rsa(_) => SignatureScheme::RsaPssRsaeSha256,
        };
        let signer = ClientSigner {
            key: client.key,
            rng: &mut self.rng,
        };
        Ok((signer, scheme))
    }

    fn client_cert(&mut self) -> Option<Certificate<impl AsRef<[u8]>>> {
        self.client_cert_sent = self.client.is_some();
        self.client.map(|c| Certificate::X509(c.certificate_der))
    }
}

/// Opens a TLS 1.3 session over `socket` and refuses it unless the server authenticated as
/// `verification` demands. SNI is sent only for DNS identities.
///
/// `rx`/`tx` must be at least [`RX_RECORD_BUFFER`]/[`TX_RECORD_BUFFER`] long. On any later
/// error of the returned connection, drop it and open a new one (no resumption: every open
/// is a full handshake, so keep the session alive).
///
/// The future is `!Send` (embedded-tls holds raw pointers across awaits): run it on a
/// current-thread executor / `LocalSet` (Embassy does not care).
pub async fn open<'a, S, R>(
    socket: S,
    rx: &'a mut [u8],
    tx: &'a mut [u8],
    verification: TlsVerification<'_>,
    rng: R,
) -> Result<TlsConnection<'a, S, Aes128GcmSha256>, TlsOpenError>
where
    S: Read + Write + 'a,
    R: CryptoRngCore,
{
    open_as(socket, rx, tx, verification, None, rng).await
}

/// [`open`], authenticating as `client` when the server asks for a client certificate
/// (`None`: an empty Certificate, i.e. anonymous at the TLS layer).
pub async fn open_as<'a, S, R>(
    socket: S,
    rx: &'a mut [u8],
    tx: &'a mut [u8],
    verification: TlsVerification<'_>,
    client: Option<ClientIdentity<'_>>,
    rng: R,
) -> Result<TlsConnection<'a, S, Aes128GcmSha256>, TlsOpenError>
where
    S: Read + Write + 'a,
    R: CryptoRngCore,
{
    open_noting(socket, rx, tx, verification, client, None, rng).await
}

/// [`open_as`]; when the chain was verified without the time, its validity goes into
/// `unchecked` (set to `None` otherwise) for the caller to check once it knows the time.
pub async fn open_noting<'a, S, R>(
    socket: S,
    rx: &'a mut [u8],
    tx: &'a mut [u8],
    verification: TlsVerification<'_>,
    client: Option<ClientIdentity<'_>>,
    unchecked: Option<&core::cell::Cell<Option<ValidityWindow>>>,
    rng: R,
) -> Result<TlsConnection<'a, S, Aes128GcmSha256>, TlsOpenError>
where
    S: Read + Write + 'a,
    R: CryptoRngCore,
{
    if let Some(cell) = unchecked {
        cell.set(None);
    }
    if rx.len() < RX_RECORD_BUFFER || tx.len() < TX_RECORD_BUFFER {
        return Err(TlsOpenError::BufferTooSmall);
    }
    let identity = match verification {
        TlsVerification::Verify { identity, .. }
        | TlsVerification::InsecureSkipVerify { identity } => identity,
    };
    // RSA schemes too: `rsa_pss_rsae_*` for the CertificateVerify of an RSA server
    // (kubeadm, kind, EKS, GKE, AKS), `rsa_pkcs1_*` because in TLS 1.3 signature_algorithms
    // also tells the server which certificate signatures we accept (RFC 8446 4.2.3).
    let mut config = TlsConfig::new().enable_rsa_signatures();
    if let Some(sni) = identity.sni() {
        config = config.with_server_name(sni);
    }
    let verifier = match verification {
        TlsVerification::Verify { ca_der, now, .. } => {
            Some(K8sVerifier::new(ca_der, identity, now))
        }
        TlsVerification::InsecureSkipVerify { .. } => None,
    };
    let mut provider = SessionProvider {
        rng,
        verifier,
        client,
        client_cert_sent: false,
    };
    let mut tls = TlsConnection::new(socket, rx, tx);
    // `&mut provider`: CryptoProvider is implemented for &mut T, so the verifier stays ours
    // and can be asked afterwards.
    let result = tls.open(TlsContext::new(&config, &mut provider)).await;
    let verify = provider
        .verifier
        .as_ref()
        .and_then(K8sVerifier::last_error)
        .copied();
    if let Err(error) = result {
        return Err(handshake_error(error, verify, provider.client_cert_sent));
    }
    match provider.verifier {
        Some(ref v) if !v.is_authenticated() => Err(TlsOpenError::NotAuthenticated),
        verifier => {
            if let (Some(cell), Some(v)) = (unchecked, verifier.as_ref()) {
                cell.set(v.unchecked_validity());
            }
            Ok(tls)
        }
    }
}

/// Why a handshake failed. After our Certificate the server has nothing left to judge but
/// it: a close or an alert then is its verdict on the certificate.
fn handshake_error(
    error: TlsError,
    verify: Option<VerifyError>,
    client_cert_sent: bool,
) -> TlsOpenError {
    let refused_after_certificate = client_cert_sent
        && verify.is_none()
        && matches!(error, TlsError::Io(_) | TlsError::HandshakeAborted(..));
    if refused_after_certificate {
        TlsOpenError::ClientCertificateRefused { error }
    } else {
        TlsOpenError::Handshake { error, verify }
    }
}

/// [`open`] with [`TlsVerification::Verify`]: the normal way to reach the API server.
pub async fn open_verified<'a, S, R>(
    socket: S,
    rx: &'a mut [u8],
    tx: &'a mut [u8],
    ca_der: &[u8],
    identity: ServerIdentity<'_>,
    now: Option<UnixMicros>,
    rng: R,
) -> Result<TlsConnection<'a, S, Aes128GcmSha256>, TlsOpenError>
where
    S: Read + Write + 'a,
    R: CryptoRngCore,
{
    let verification = TlsVerification::Verify {
        ca_der,
        identity,
        now,
    };
    open(socket, rx, tx, verification, rng).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_io_async::ErrorKind;
    use embedded_tls::alert::{AlertDescription, AlertLevel};
    use std::format;

    #[test]
    fn a_close_or_alert_after_our_certificate_is_a_refused_client_certificate() {
        let aborted =
            TlsError::HandshakeAborted(AlertLevel::Fatal, AlertDescription::BadCertificate);
        for error in [TlsError::Io(ErrorKind::BrokenPipe), aborted] {
            let e = handshake_error(error, None, true);
            assert!(
                matches!(e, TlsOpenError::ClientCertificateRefused { .. }),
                "{e:?}"
            );
            assert!(e.advice().is_some_and(|a| a.contains("client CA")));
            let line = format!("{e}");
            assert!(line.contains("after our client certificate"), "{line}");
        }
    }

    #[test]
    fn without_a_certificate_sent_it_stays_a_handshake_error() {
        let e = handshake_error(TlsError::Io(ErrorKind::BrokenPipe), None, false);
        assert!(matches!(e, TlsOpenError::Handshake { verify: None, .. }));
        assert_eq!(e.advice(), None);
        let e = handshake_error(TlsError::InvalidRecord, None, true);
        assert!(matches!(e, TlsOpenError::Handshake { .. }), "{e:?}");
    }
}
