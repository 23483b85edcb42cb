//! kubeadm-style discovery: the ConfigMap `kube-public/cluster-info` (recorded-2 B01) holding a
//! kubeconfig with the server and its CA, and kube-controller-manager's bootstrapsigner, which
//! keeps one `jws-kubeconfig-<token-id>` entry per live bootstrap token that may sign: a
//! detached JWS (B05) — header `{"alg":"HS256","kid":"<id>"}`, empty payload part, HMAC-SHA256
//! keyed with the token secret alone over `b64url(header) + "." + b64url(kubeconfig)`.

use std::collections::BTreeMap;
use std::time::SystemTime;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::bootstrap::BootstrapTokens;
use crate::clock::format_time;

/// The detached JWS of `payload` signed with a bootstrap token (`kid` = its id).
pub fn detached_jws(token_id: &str, token_secret: &str, payload: &[u8]) -> String {
    let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"HS256","kid":"{token_id}"}}"#));
    let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(payload));
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, token_secret.as_bytes());
    let tag = ring::hmac::sign(&key, input.as_bytes());
    format!("{header}..{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

/// kubeadm's `--discovery-token-ca-cert-hash`: `sha256:` + hex of the SHA-256 of the CA
/// certificate's SubjectPublicKeyInfo (DER).
pub fn ca_cert_hash(ca_der: &[u8]) -> Option<String> {
    let (_, cert) = X509Certificate::from_der(ca_der).ok()?;
    let digest = Sha256::digest(cert.tbs_certificate.subject_pki.raw);
    Some(format!(
        "sha256:{}",
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    ))
}

/// The kubeconfig kubeadm puts into cluster-info, byte for byte as B01 (one cluster named `""`,
/// no users or contexts).
pub fn cluster_kubeconfig(server: &str, ca_pem: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: \"\"\n  cluster:\n    server: {server}\n    certificate-authority-data: {}\ncontexts: []\nusers: []\ncurrent-context: \"\"\npreferences: {{}}\n",
        STANDARD.encode(ca_pem)
    )
}

/// The ConfigMap `kube-public/cluster-info` and what the bootstrapsigner last wrote into it.
#[derive(Debug, Clone)]
pub struct ClusterInfo {
    uid: String,
    resource_version: u64,
    created: SystemTime,
    server: String,
    ca_pem: String,
    /// Token id → JWS, as stored.
    signatures: BTreeMap<String, String>,
    /// When the bootstrapsigner last changed the signatures.
    signed_at: Option<SystemTime>,
}

/// Who created cluster-info: `kubeadm init`'s field manager.
/// guess: the recorded cluster made it with curl (manager `curl`); kubeadm's client sets its name.
const CREATOR: &str = "kubeadm";

impl ClusterInfo {
    /// cluster-info as created at `now` (resourceVersion `rv`) for `server` and its CA.
    pub fn new(uid: String, rv: u64, now: SystemTime, server: &str, ca_pem: &str) -> Self {
        ClusterInfo {
            uid,
            resource_version: rv,
            created: now,
            server: server.to_string(),
            ca_pem: ca_pem.to_string(),
            signatures: BTreeMap::new(),
            signed_at: None,
        }
    }

    /// The `kubeconfig` entry.
    pub fn kubeconfig(&self) -> String {
        cluster_kubeconfig(&self.server, &self.ca_pem)
    }

    /// Points the kubeconfig at `server`, the listener's URL once bound. Not a write: kubeadm
    /// creates cluster-info once the server is up, so its resourceVersion stays (and the other
    /// objects' resourceVersions are the same with or without it). The signatures follow at the
    /// next [`ClusterInfo::sign`].
    pub fn set_server(&mut self, server: &str) {
        self.server = server.to_string();
    }

    /// The bootstrapsigner at `now`: re-signs when the signing tokens or the kubeconfig changed
    /// (one write, stamped `now`).
    pub fn sign(&mut self, tokens: &BootstrapTokens, rv: &mut u64, now: SystemTime) {
        let kubeconfig = self.kubeconfig();
        let wanted: BTreeMap<String, String> = tokens
            .signing(now)
            .map(|t| {
                (
                    t.id.clone(),
                    detached_jws(&t.id, &t.secret, kubeconfig.as_bytes()),
                )
            })
            .collect();
        if wanted != self.signatures {
            self.signatures = wanted;
            self.signed_at = Some(now);
            *rv += 1;
            self.resource_version = *rv;
        }
    }

    /// The ConfigMap as a GET answers it.
    pub fn render(&self) -> Value {
        let mut managed = vec![json!({
            "manager": CREATOR,
            "operation": "Update",
            "apiVersion": "v1",
            "time": format_time(self.created),
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:data": {".": {}, "f:kubeconfig": {}}},
        })];
        if let (Some(at), false) = (self.signed_at, self.signatures.is_empty()) {
            let fields: Map<String, Value> = self
                .signatures
                .keys()
                .map(|id| (format!("f:jws-kubeconfig-{id}"), json!({})))
                .collect();
            managed.push(json!({
                "manager": "kube-controller-manager",
                "operation": "Update",
                "apiVersion": "v1",
                "time": format_time(at),
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:data": fields},
            }));
        }
        // Go marshals a map with sorted keys: `jws-…` before `kubeconfig`.
        let mut data: BTreeMap<String, String> = self
            .signatures
            .iter()
            .map(|(id, jws)| (format!("jws-kubeconfig-{id}"), jws.clone()))
            .collect();
        data.insert("kubeconfig".into(), self.kubeconfig());
        json!({
            "kind": "ConfigMap",
            "apiVersion": "v1",
            "metadata": {
                "name": "cluster-info",
                "namespace": "kube-public",
                "uid": self.uid,
                "resourceVersion": self.resource_version.to_string(),
                "creationTimestamp": format_time(self.created),
                "managedFields": managed,
            },
            "data": data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_jws_of_the_recorded_kubeconfig_matches_b05s_test_vector() {
        let ca = "-----BEGIN CERTIFICATE-----\nMIIBnTCCAUOgAwIBAgIULiU9FC913qDNVrLE54eVmF/Ifp4wCgYIKoZIzj0EAwIw\nHDEaMBgGA1UEAwwRcmVhbGs4cy1zZXJ2ZXItY2EwHhcNMjYxMjAyMTUxNTA2WhcN\nMzYxMTI5MTUxNTA2WjAcMRowGAYDVQQDDBFyZWFsazhzLXNlcnZlci1jYTBZMBMG\nByqGSM49AgEGCCqGSM49AwEHA0IABE9HbqiEEvqHW6AeMKKrBwIBbdOZiSMqOGlD\na43JjvcYtqm4E6ehqTUVvRib2vQ07S0nEyX3t6ixeNMU/tgFDqKjYzBhMB0GA1Ud\nDgQWBBSUEBDeNHxCtb8NQ0eYvNs4RyVzlzAfBgNVHSMEGDAWgBSUEBDeNHxCtb8N\nQ0eYvNs4RyVzlzAPBgNVHRMBAf8EBTADAQH/MA4GA1UdDwEB/wQEAwIBhjAKBggq\nhkjOPQQDAgNIADBFAiBA8RaPymB8P9Z5Z5hVewcnN5AxesjbFcuwMaLoDy7q1wIh\nAPJydvIY/CnxIa+cJoeePrl2gf3rr/O6+NlCtnA4oem7\n-----END CERTIFICATE-----\n";
        let kubeconfig = cluster_kubeconfig("https://127.0.0.1:7443", ca);
        assert_eq!(kubeconfig.len(), 1015);
        assert_eq!(
            detached_jws("9bc31e", "abcdef0123456789", kubeconfig.as_bytes()),
            "eyJhbGciOiJIUzI1NiIsImtpZCI6IjliYzMxZSJ9..tdBUH1PdKDC3mjV2v0PmqXcL4IaSBDLpBsvhaIc4iSU"
        );
    }
}
