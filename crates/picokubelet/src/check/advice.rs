//! What to do about a refused TLS handshake, by the verifier's reason. The facts themselves
//! (names, validity window, issuer, key type) are in the core's `VerifyError` text.

use picokubelet_core::tls::Rejection;

/// The fix for a failed handshake, by the verifier's reason (`None`: it did not refuse the
/// server; the handshake itself failed).
pub fn tls_fix(rejection: Option<Rejection>) -> &'static str {
    match rejection {
        Some(Rejection::BadCa) => {
            "certificate-authority(-data) must be the cluster CA's PEM certificate"
        }
        Some(Rejection::UntrustedChain | Rejection::ChainTooLong | Rejection::NoCertificate) => {
            "use this cluster's CA as certificate-authority(-data): k3s /var/lib/rancher/k3s/server/tls/server-ca.crt, kubeadm /etc/kubernetes/pki/ca.crt, or the certificate-authority-data of the admin kubeconfig\n(CAs of different clusters often share a name, e.g. kubeadm's CN=kubernetes: a signature that does not verify under the right name means another cluster's CA)"
        }
        Some(Rejection::NameMismatch) => {
            "set tls-server-name to one of the names the certificate holds (an IP address works too), or dial the server by one of them"
        }
        Some(Rejection::Expired | Rejection::NotYetValid) => {
            "if this machine's clock is right, renew the server certificate (kubeadm certs renew; k3s rotates on restart); else fix the clock (NTP)"
        }
        Some(Rejection::UnsupportedKey | Rejection::UnsupportedSignature) => {
            "the board verifies ECDSA P-256/P-384 and RSA 2048-4096 keys with SHA-256/384/512 (RSA-PSS in the handshake): reissue the certificate with one of them"
        }
        Some(Rejection::NotForServerAuth) => {
            "the server certificate must be a leaf with the serverAuth extended key usage"
        }
        Some(Rejection::Malformed | Rejection::BadSignature | Rejection::OutOfOrder) => {
            "the server sent a certificate or handshake the board cannot accept: is this a kube-apiserver, or is something in between?"
        }
        None => {
            "the board speaks TLS 1.3 with TLS_AES_128_GCM_SHA256 only: is this a kube-apiserver (a proxy or load balancer in between may offer less)?"
        }
    }
}
