//! Discovery as `kubeadm join` does it, from a bootstrap token and the CA's public-key hash:
//! the answer to an anonymous GET of `kube-public/cluster-info` (over a session that does not
//! verify the server: there is no CA yet, and nothing secret is sent) is trusted only when its
//! JWS matches the token and its CA's key the pinned hash. Then every later session verifies
//! the server against that CA.

use crate::k8s::cluster_info::{discovered_cluster, ClusterInfoResponse, DiscoveryKubeconfigError};
use crate::tls::base64_pem_to_der;
use crate::tls::jws::{verify_detached, BootstrapToken, JwsError};
use crate::tls::pin::CaPin;

/// What discovery found and checked: the server URL as cluster-info names it, and the CA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Discovered<'k, 'c> {
    pub server: &'k str,
    pub ca_der: &'c [u8],
}

/// Why cluster-info cannot be trusted (or read).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiscoveryError {
    /// No `data.kubeconfig`, or one longer than the buffer.
    NoKubeconfig {
        overflowed: bool,
    },
    /// No signature for this token id (`others` signatures for other tokens).
    NotSigned {
        others: u32,
    },
    Jws(JwsError),
    Kubeconfig(DiscoveryKubeconfigError),
    /// The CA in the kubeconfig is not a certificate this board can read.
    BadCa,
    /// The CA's key has another hash: another cluster, or a wrong hash.
    PinMismatch {
        found: CaPin,
    },
}

impl core::fmt::Display for DiscoveryError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DiscoveryError::NoKubeconfig { overflowed: true } => {
                f.write_str("cluster-info's kubeconfig is longer than the board's buffer")
            }
            DiscoveryError::NoKubeconfig { overflowed: false } => {
                f.write_str("cluster-info holds no kubeconfig")
            }
            DiscoveryError::NotSigned { others } => write!(
                f,
                "cluster-info holds no signature for this token (only {others} for other \
                 tokens): the token is unknown, expired or lacks the signing usage; make a \
                 new one with `kubeadm token create --print-join-command` and provision again"
            ),
            DiscoveryError::Jws(e) => write!(f, "{e}"),
            DiscoveryError::Kubeconfig(e) => write!(f, "{e}"),
            DiscoveryError::BadCa => f.write_str("the CA in cluster-info cannot be read"),
            DiscoveryError::PinMismatch { found } => write!(
                f,
                "the cluster's CA has the public-key hash {found}, not the one provisioned: \
                 another cluster, or a wrong --discovery-token-ca-cert-hash"
            ),
        }
    }
}

/// Checks a cluster-info answer (after the extractor finished) with `token` and `pins` (the
/// CA's key must have one of them; kubeadm takes several); the CA is decoded into `ca_buf`
/// (`CA_DER_MAX` bytes hold any CA the board accepts).
pub fn check_cluster_info<'k, 'c>(
    info: &'k ClusterInfoResponse<'_, '_>,
    token: &BootstrapToken<'_>,
    pins: &[CaPin],
    ca_buf: &'c mut [u8],
) -> Result<Discovered<'k, 'c>, DiscoveryError> {
    let kubeconfig = info.kubeconfig().ok_or(DiscoveryError::NoKubeconfig {
        overflowed: info.kubeconfig_overflowed(),
    })?;
    if info.jws.is_empty() {
        return Err(DiscoveryError::NotSigned {
            others: info.other_signatures,
        });
    }
    verify_detached(info.jws.as_str(), kubeconfig.as_bytes(), token)
        .map_err(DiscoveryError::Jws)?;
    let cluster = discovered_cluster(kubeconfig).map_err(DiscoveryError::Kubeconfig)?;
    let ca_der =
        base64_pem_to_der(cluster.ca_data.as_bytes(), ca_buf).map_err(|_| DiscoveryError::BadCa)?;
    let found = CaPin::of_certificate(ca_der).map_err(|_| DiscoveryError::BadCa)?;
    if !pins.contains(&found) {
        return Err(DiscoveryError::PinMismatch { found });
    }
    Ok(Discovered {
        server: cluster.server,
        ca_der,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::extract::Extractor;
    use crate::tls::jws::tests::{B05_VECTOR, RECORDED_KUBECONFIG};
    use std::string::String;

    /// B05's made-up secret signs the recorded kubeconfig (B01) with `B05_VECTOR`.
    const TOKEN: &str = "9bc31e.abcdef0123456789";
    const PIN: &str = "sha256:c54eb5a24166ab45493f971585194c30e8f56396968c9f1d9d6a3f9dec225154";

    fn body(kubeconfig: &str, jws: &str) -> String {
        let escaped = kubeconfig
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n");
        std::format!(
            r#"{{"kind":"ConfigMap","data":{{"jws-kubeconfig-9bc31e":"{jws}","kubeconfig":"{escaped}"}}}}"#
        )
    }

    fn check(body: &str, token: &str, pin: &str) -> Result<(String, usize), DiscoveryError> {
        let token = BootstrapToken::parse(token).unwrap();
        let mut buf = [0u8; crate::k8s::cluster_info::KUBECONFIG_TEXT_MAX];
        let mut info = ClusterInfoResponse::new(token.id(), &mut buf);
        let mut x: Extractor = Extractor::new();
        x.feed(body.as_bytes(), &mut info).unwrap();
        x.finish(&mut info).unwrap();
        let mut ca = [0u8; crate::tls::CA_DER_MAX];
        let found = check_cluster_info(&info, &token, &[CaPin::parse(pin).unwrap()], &mut ca)?;
        Ok((found.server.into(), found.ca_der.len()))
    }

    #[test]
    fn a_signed_cluster_info_with_the_pinned_ca_is_trusted() {
        let (server, ca_len) = check(&body(RECORDED_KUBECONFIG, B05_VECTOR), TOKEN, PIN).unwrap();
        assert_eq!(server, "https://127.0.0.1:7443");
        assert!(ca_len > 300, "{ca_len}");
    }

    #[test]
    fn a_wrong_secret_an_altered_kubeconfig_or_another_ca_is_refused() {
        let good = body(RECORDED_KUBECONFIG, B05_VECTOR);
        assert_eq!(
            check(&good, "9bc31e.0000000000000000", PIN),
            Err(DiscoveryError::Jws(JwsError::BadSignature))
        );
        let altered = body(&RECORDED_KUBECONFIG.replace("7443", "7444"), B05_VECTOR);
        assert_eq!(
            check(&altered, TOKEN, PIN),
            Err(DiscoveryError::Jws(JwsError::BadSignature))
        );
        let other_pin = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
        assert!(matches!(
            check(&good, TOKEN, other_pin),
            Err(DiscoveryError::PinMismatch { found }) if found == CaPin::parse(PIN).unwrap()
        ));
        assert_eq!(
            check(&good, "abcdef.abcdef0123456789", PIN),
            Err(DiscoveryError::NotSigned { others: 1 })
        );
        assert_eq!(
            check(r#"{"data":{}}"#, TOKEN, PIN),
            Err(DiscoveryError::NoKubeconfig { overflowed: false })
        );
    }
}
