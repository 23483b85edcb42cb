//! End to end, as a kubelet joining with kubeadm's discovery and TLS bootstrap would: from a
//! bootstrap token and the CA hash alone, read cluster-info anonymously and check it; send a CSR
//! made with a fresh P-256 key; the auto-approver and signer issue it; with that certificate
//! (TLS client authentication) the node is `system:node:<name>` in `system:nodes`
//! (SelfSubjectReview, as C03) and creates its Node and Lease (A09, A10).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod bootstrap_kit;
mod common;

use std::time::SystemTime;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use bootstrap_kit::*;
use common::*;
use picokubelet_testkit::{format_time, BootstrapToken};
use sha2::{Digest, Sha256};
use x509_parser::prelude::{FromDer, X509Certificate};

const CSRS: &str = "/apis/certificates.k8s.io/v1/certificatesigningrequests";

#[test]
fn a_bootstrap_token_becomes_a_node_identity_that_registers_its_node_and_lease() {
    // Real time: the issued certificate is checked against the wall clock in the TLS handshake.
    let h = Harness::new(&format_time(SystemTime::now()));
    let token = BootstrapToken::new("abcdef", "0123456789abcdef");
    h.server.add_bootstrap_token(token.clone());
    let bearer = As::Token(&token.token());

    // Discovery: cluster-info, its JWS checked with the secret, its CA pinned by hash.
    let info = send(
        &h,
        &As::Anonymous,
        "GET",
        "/api/v1/namespaces/kube-public/configmaps/cluster-info",
        "",
    )
    .json();
    let kubeconfig = info["data"]["kubeconfig"].as_str().unwrap();
    let jws = info["data"]["jws-kubeconfig-abcdef"].as_str().unwrap();
    let (header, signature) = jws.split_once("..").unwrap();
    let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(kubeconfig));
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, token.secret.as_bytes());
    ring::hmac::verify(
        &key,
        input.as_bytes(),
        &URL_SAFE_NO_PAD.decode(signature).unwrap(),
    )
    .expect("cluster-info is signed with the token");
    let ca_b64 = kubeconfig
        .split("certificate-authority-data: ")
        .nth(1)
        .unwrap()
        .lines()
        .next()
        .unwrap();
    let ca_der = pem_der(&String::from_utf8(STANDARD.decode(ca_b64).unwrap()).unwrap());
    let (_, ca) = X509Certificate::from_der(&ca_der).unwrap();
    let pinned: String = Sha256::digest(ca.tbs_certificate.subject_pki.raw)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(format!("sha256:{pinned}"), h.server.ca_cert_hash());
    assert!(kubeconfig.contains(&format!("server: {}\n", h.server.url())));

    // The bootstrap token is not a node.
    let (_, _, node_body) = recorded_request("A09-post-node-with-issued-cert-201.request.txt");
    assert_eq!(
        send(&h, &bearer, "POST", "/api/v1/nodes", &node_body).status,
        403
    );

    // TLS bootstrap: CSR, approved and issued by the time of the next request.
    let (key, request) = make_request("system:node:esp-boot-01", "system:nodes");
    let body = csr_body("csr-", &request, KUBELET_SIGNER, "");
    let created = send(&h, &bearer, "POST", CSRS, &body);
    assert_eq!(created.status, 201);
    assert_eq!(created.json()["status"], serde_json::json!({}));
    let name = created.json()["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let got = send(&h, &bearer, "GET", &format!("{CSRS}/{name}"), "").json();
    assert_eq!(
        got["status"]["conditions"][0]["message"],
        "Auto approving kubelet client certificate after SubjectAccessReview."
    );
    let cert = issued(&h, &name, &key);
    assert_eq!(certificate_of(&got), cert.cert_pem);

    // Who the certificate is (C03's shape), then the node's own writes.
    let node = As::Cert(&cert);
    let review = send(
        &h,
        &node,
        "POST",
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        r#"{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}"#,
    );
    assert_eq!(review.status, 201);
    let hash: String = Sha256::digest(&cert.cert_der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        review.json()["status"]["userInfo"],
        serde_json::json!({
            "username": "system:node:esp-boot-01",
            "groups": ["system:nodes", "system:authenticated"],
            "extra": {"authentication.kubernetes.io/credential-id": [format!("X509SHA256={hash}")]},
        })
    );
    let created = send(&h, &node, "POST", "/api/v1/nodes", &node_body);
    assert_eq!(
        created.status,
        201,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    let uid = created.json()["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, target, lease) = recorded_request("A10-post-lease-with-issued-cert-201.request.txt");
    let lease = lease.replace("902270b9-37cd-4710-97e5-67671a6afa3b", &uid);
    let created = send(&h, &node, "POST", &target, &lease);
    assert_eq!(
        created.status,
        201,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    assert!(h.server.lease("esp-boot-01").is_some());

    // The node renews through a CSR of its own: approved as a self renewal.
    let (_, renewal) = make_request("system:node:esp-boot-01", "system:nodes");
    let created = send(
        &h,
        &node,
        "POST",
        CSRS,
        &csr_body("csr-", &renewal, KUBELET_SIGNER, ""),
    );
    let name = created.json()["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let got = send(&h, &node, "GET", &format!("{CSRS}/{name}"), "").json();
    assert_eq!(
        got["status"]["conditions"][0]["message"],
        "Auto approving self kubelet client certificate after SubjectAccessReview."
    );
    assert!(got["status"]["certificate"].is_string());
}
