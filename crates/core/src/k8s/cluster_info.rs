//! `kube-public/cluster-info`, the ConfigMap `kubeadm join` discovers a cluster from: anyone
//! may read it (recorded-2 B01: anonymous GET 200, nothing else in kube-public), it holds a
//! kubeconfig with the server and its CA (`data.kubeconfig`) and one detached JWS of that
//! kubeconfig per signing bootstrap token (`data.jws-kubeconfig-<id>`, see
//! [`crate::tls::jws`]).
//!
//! Discovery reads both, checks the JWS with the token and the CA against the pinned key hash
//! ([`crate::tls::pin`]), and only then trusts the server and CA named here.

use crate::bounded::BoundedStr;
use crate::json::capture::TextCapture;
use crate::json::extract::{Path, Scalar, Visitor};
use crate::tls::jws::JWS_KEY_PREFIX;

/// Buffer for `data.kubeconfig`: kubeadm's is ~1 KiB with a P-256 CA (B01: 1015 bytes), ~2.3 KiB
/// with an RSA-2048 CA, ~3.6 KiB with RSA-4096.
pub const KUBECONFIG_TEXT_MAX: usize = 4096;
/// Capacity for a JWS value (`header..signature` is 85 bytes for HS256).
pub const JWS_LEN: usize = 128;

/// The two values of cluster-info discovery needs, for the token id given to [`Self::new`].
#[derive(Debug)]
pub struct ClusterInfoResponse<'b, 't> {
    token_id: &'t str,
    kubeconfig: TextCapture<'b>,
    /// `data.jws-kubeconfig-<token id>`; empty if there is none (the token does not sign:
    /// unknown, expired, or created without `usage-bootstrap-signing`).
    pub jws: BoundedStr<JWS_LEN>,
    /// Other tokens' signatures were there (so the ConfigMap is signed, just not for this id).
    pub other_signatures: u32,
}

impl<'b, 't> ClusterInfoResponse<'b, 't> {
    /// A reader that copies `data.kubeconfig` into `kubeconfig_buf`.
    pub fn new(token_id: &'t str, kubeconfig_buf: &'b mut [u8]) -> Self {
        ClusterInfoResponse {
            token_id,
            kubeconfig: TextCapture::new(kubeconfig_buf),
            jws: BoundedStr::new(),
            other_signatures: 0,
        }
    }

    /// `data.kubeconfig`, whole, if it was there and fit.
    pub fn kubeconfig(&self) -> Option<&str> {
        self.kubeconfig.text()
    }

    /// `data.kubeconfig` was longer than the buffer.
    pub fn kubeconfig_overflowed(&self) -> bool {
        self.kubeconfig.overflowed()
    }
}

const KUBECONFIG: [&str; 2] = ["data", "kubeconfig"];

impl Visitor for ClusterInfoResponse<'_, '_> {
    fn value(&mut self, path: &Path<'_>, value: Scalar<'_>) {
        if path.is(&KUBECONFIG) {
            self.kubeconfig.mark_seen();
            return;
        }
        if path.len() != 2 || path.key(0) != Some("data") {
            return;
        }
        match path.key(1).and_then(|k| k.strip_prefix(JWS_KEY_PREFIX)) {
            Some(id) if id == self.token_id => {
                self.jws = value.to_bounded().unwrap_or_default();
            }
            Some(_) => self.other_signatures = self.other_signatures.saturating_add(1),
            None => {}
        }
    }

    fn text_piece(&mut self, path: &Path<'_>, piece: &str) {
        if path.is(&KUBECONFIG) {
            self.kubeconfig.push(piece);
        }
    }
}

/// The cluster of a cluster-info kubeconfig: its server URL and `certificate-authority-data`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiscoveredCluster<'a> {
    pub server: &'a str,
    /// base64 of the CA PEM (decode with [`crate::tls::base64_pem_to_der`]).
    pub ca_data: &'a str,
}

/// Why the kubeconfig in cluster-info could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiscoveryKubeconfigError {
    /// No `server:` line.
    NoServer,
    /// No `certificate-authority-data:` line (kubeadm always embeds the CA).
    NoCa,
    /// More than one cluster: cluster-info holds exactly one.
    SeveralClusters,
}

impl core::fmt::Display for DiscoveryKubeconfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::NoServer => "the cluster-info kubeconfig names no server",
            Self::NoCa => "the cluster-info kubeconfig holds no certificate-authority-data",
            Self::SeveralClusters => "the cluster-info kubeconfig holds more than one cluster",
        })
    }
}

/// Reads the one cluster of the kubeconfig kubeadm (and the bootstrap signer) keeps in
/// cluster-info: block YAML as client-go writes it, `server:` and `certificate-authority-data:`
/// as plain or double-quoted scalars. Only called on a kubeconfig whose signature checked out,
/// so the format is the cluster's own.
pub fn discovered_cluster(
    kubeconfig: &str,
) -> Result<DiscoveredCluster<'_>, DiscoveryKubeconfigError> {
    let mut server = None;
    let mut ca_data = None;
    for line in kubeconfig.lines() {
        let line = line.trim_start().trim_start_matches("- ").trim();
        let (slot, value) = if let Some(v) = line.strip_prefix("server:") {
            (&mut server, v)
        } else if let Some(v) = line.strip_prefix("certificate-authority-data:") {
            (&mut ca_data, v)
        } else {
            continue;
        };
        if slot.is_some() {
            return Err(DiscoveryKubeconfigError::SeveralClusters);
        }
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        *slot = Some(value);
    }
    Ok(DiscoveredCluster {
        server: server
            .filter(|s| !s.is_empty())
            .ok_or(DiscoveryKubeconfigError::NoServer)?,
        ca_data: ca_data
            .filter(|s| !s.is_empty())
            .ok_or(DiscoveryKubeconfigError::NoCa)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::extract::Extractor;
    use crate::k8s::csr::tests::recorded_body;
    use crate::tls::jws::{verify_detached, BootstrapToken};
    use crate::tls::pin::CaPin;
    use std::borrow::ToOwned;

    fn read(
        token_id: &str,
        chunk: usize,
        buf: &mut [u8],
    ) -> (Option<std::string::String>, std::string::String, u32, bool) {
        let body = recorded_body("B01-cluster-info-anonymous.response.http");
        let mut r = ClusterInfoResponse::new(token_id, buf);
        let mut x: Extractor = Extractor::new();
        for piece in body.as_bytes().chunks(chunk) {
            x.feed(piece, &mut r).unwrap();
        }
        x.finish(&mut r).unwrap();
        (
            r.kubeconfig().map(str::to_owned),
            r.jws.as_str().to_owned(),
            r.other_signatures,
            r.kubeconfig_overflowed(),
        )
    }

    #[test]
    fn the_recorded_cluster_info_yields_kubeconfig_signature_server_and_pinned_ca() {
        for chunk in [1, 5, 64, 4096] {
            let mut buf = [0u8; KUBECONFIG_TEXT_MAX];
            let (kubeconfig, jws, others, overflow) = read("9bc31e", chunk, &mut buf);
            let kubeconfig = kubeconfig.unwrap();
            assert!(!overflow);
            assert_eq!(kubeconfig.len(), 1015);
            assert_eq!(kubeconfig, crate::tls::jws::tests::RECORDED_KUBECONFIG);
            assert_eq!(jws, "eyJhbGciOiJIUzI1NiIsImtpZCI6IjliYzMxZSJ9..6h6VOKXTdJIO9fwtgsH77Pefgj7byIaRMi7xO-BNMx4");
            assert_eq!(others, 0);
            let cluster = discovered_cluster(&kubeconfig).unwrap();
            assert_eq!(cluster.server, "https://127.0.0.1:7443");
            let mut der = [0u8; 2048];
            let der = crate::tls::base64_pem_to_der(cluster.ca_data.as_bytes(), &mut der).unwrap();
            assert!(CaPin::parse(
                "sha256:c54eb5a24166ab45493f971585194c30e8f56396968c9f1d9d6a3f9dec225154"
            )
            .unwrap()
            .matches(der));
            // The real signature was made with the redacted secret; B05's made-up one:
            let token = BootstrapToken::parse("9bc31e.abcdef0123456789").unwrap();
            assert!(verify_detached(&jws, kubeconfig.as_bytes(), &token).is_err());
        }
    }

    #[test]
    fn another_token_id_finds_no_signature_but_counts_the_others() {
        let mut buf = [0u8; KUBECONFIG_TEXT_MAX];
        let (kubeconfig, jws, others, _) = read("abcdef", 17, &mut buf);
        assert!(kubeconfig.is_some());
        assert_eq!(jws, "");
        assert_eq!(others, 1);
    }

    #[test]
    fn a_kubeconfig_longer_than_the_buffer_is_refused_not_cut() {
        let mut buf = [0u8; 1014];
        let (kubeconfig, _, _, overflow) = read("9bc31e", 9, &mut buf);
        assert_eq!(kubeconfig, None);
        assert!(overflow);
    }

    #[test]
    fn kubeconfig_shapes() {
        let quoted = "clusters:\n- cluster:\n    certificate-authority-data: \"QUJD\"\n    server: \"https://10.0.0.1:6443\"\n  name: \"\"\n";
        assert_eq!(
            discovered_cluster(quoted),
            Ok(DiscoveredCluster {
                server: "https://10.0.0.1:6443",
                ca_data: "QUJD"
            })
        );
        assert_eq!(
            discovered_cluster("clusters:\n- cluster:\n    server: https://a\n"),
            Err(DiscoveryKubeconfigError::NoCa)
        );
        assert_eq!(
            discovered_cluster("certificate-authority-data: QUJD\n"),
            Err(DiscoveryKubeconfigError::NoServer)
        );
        assert_eq!(
            discovered_cluster(
                "server: https://a\ncertificate-authority-data: QUJD\nserver: https://b\n"
            ),
            Err(DiscoveryKubeconfigError::SeveralClusters)
        );
    }
}
