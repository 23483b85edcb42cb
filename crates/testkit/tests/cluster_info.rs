//! kubeadm discovery against recorded-2 B01–B05: `kube-public/cluster-info` for anonymous (and
//! nothing else), its kubeconfig as kubeadm writes it, one detached JWS per signing bootstrap
//! token that verifies with HMAC-SHA256 and the token secret, kept up to date as tokens come
//! and go, and the CA hash kubeadm pins.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod bootstrap_kit;
mod common;

use std::time::Duration;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use bootstrap_kit::*;
use common::*;
use picokubelet_testkit::{BootstrapRbac, BootstrapToken, Clock};
use serde_json::Value;
use sha2::{Digest, Sha256};
use x509_parser::prelude::{FromDer, X509Certificate};

const CLUSTER_INFO: &str = "/api/v1/namespaces/kube-public/configmaps/cluster-info";

/// Checks a `jws-kubeconfig-<id>` value as kubeadm join does: rebuild the signing input from
/// the kubeconfig, HMAC-SHA256 with the token secret, compare.
fn verify_jws(jws: &str, id: &str, secret: &str, kubeconfig: &str) {
    let (header, rest) = jws.split_once('.').unwrap();
    let (payload, signature) = rest.split_once('.').unwrap();
    assert_eq!(payload, "", "detached");
    assert_eq!(
        URL_SAFE_NO_PAD.decode(header).unwrap(),
        format!(r#"{{"alg":"HS256","kid":"{id}"}}"#).as_bytes()
    );
    let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(kubeconfig));
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let tag = URL_SAFE_NO_PAD.decode(signature).unwrap();
    ring::hmac::verify(&key, input.as_bytes(), &tag).expect("the JWS verifies with the secret");
}

/// What cannot be the same as recorded: the cluster's URL and CA, the signatures, the times,
/// and the creator (the recorded cluster was set up with curl, kubeadm's is `kubeadm`).
fn mask_cluster_info(v: &mut Value) {
    for ptr in [
        "/metadata/uid",
        "/metadata/resourceVersion",
        "/metadata/creationTimestamp",
        "/metadata/managedFields/0/manager",
        "/metadata/managedFields/0/time",
        "/metadata/managedFields/1/time",
        "/data/kubeconfig",
        "/data/jws-kubeconfig-9bc31e",
    ] {
        *v.pointer_mut(ptr).unwrap_or_else(|| panic!("{ptr}")) = Value::String("<masked>".into());
    }
}

#[test]
fn anonymous_reads_cluster_info_as_recorded_b01_and_nothing_else() {
    let h = recorded_cluster("2026-12-02T15:31:50Z");
    let want = recorded("B01-cluster-info-anonymous.response.http");
    let got = send(&h, &As::Anonymous, "GET", CLUSTER_INFO, "");
    assert_eq!(got.status_line, want.status_line);
    let names = |h: &[(String, String)]| h.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
    assert_eq!(names(&got.headers), names(&want.headers));
    let mut ours = got.json();
    let mut theirs: Value = serde_json::from_slice(&want.body).unwrap();

    // The kubeconfig is kubeadm's, byte for byte, but for this server's URL and CA.
    let recorded_kubeconfig = theirs["data"]["kubeconfig"].as_str().unwrap().to_string();
    let kubeconfig = ours["data"]["kubeconfig"].as_str().unwrap().to_string();
    let recorded_ca = recorded_kubeconfig
        .split("certificate-authority-data: ")
        .nth(1)
        .unwrap()
        .split('\n')
        .next()
        .unwrap();
    let expected = recorded_kubeconfig
        .replace("https://127.0.0.1:7443", &h.server.url())
        .replace(recorded_ca, &STANDARD.encode(h.server.ca_pem()));
    assert_eq!(kubeconfig, expected);
    let jws = ours["data"]["jws-kubeconfig-9bc31e"]
        .as_str()
        .unwrap()
        .to_string();
    verify_jws(&jws, "9bc31e", "abcdef0123456789", &kubeconfig);
    // The protected header is the recorded one, byte for byte.
    let recorded_jws = theirs["data"]["jws-kubeconfig-9bc31e"].as_str().unwrap();
    assert_eq!(jws.split('.').next(), recorded_jws.split('.').next());

    mask_cluster_info(&mut ours);
    mask_cluster_info(&mut theirs);
    assert_eq!(
        serde_json::to_string(&ours).unwrap(),
        serde_json::to_string(&theirs).unwrap()
    );

    for name in [
        "B02-cluster-info-anonymous-other-configmap-403",
        "B03-anonymous-list-configmaps-kube-public-403",
    ] {
        let want = recorded(&format!("{name}.response.http"));
        let (method, target, body) = recorded_request(&format!("{name}.request.txt"));
        assert_like(
            name,
            &send(&h, &As::Anonymous, &method, &target, &body),
            &want,
        );
    }
    // B04: anonymous may read /version; head and body as recorded, byte for byte.
    assert_like(
        "B04-anonymous-version",
        &send(&h, &As::Anonymous, "GET", "/version", ""),
        &recorded("B04-anonymous-version.response.http"),
    );
    // kubeadm binds cluster-info to system:anonymous only.
    let r = send(&h, &As::Token(TOKEN), "GET", CLUSTER_INFO, "");
    assert_eq!(r.status, 403);
    // A cluster without kubeadm's binding (k3s) does not serve it to anonymous.
    h.server.set_bootstrap_rbac(BootstrapRbac::none());
    assert_eq!(
        send(&h, &As::Anonymous, "GET", CLUSTER_INFO, "").status,
        403
    );
}

#[test]
fn the_bootstrapsigner_follows_the_tokens() {
    let h = recorded_cluster("2026-12-02T15:31:50Z");
    let data = |h: &Harness| -> Vec<String> {
        let v = send(h, &As::Anonymous, "GET", CLUSTER_INFO, "").json();
        v["data"].as_object().unwrap().keys().cloned().collect()
    };
    assert_eq!(data(&h), ["jws-kubeconfig-9bc31e", "kubeconfig"]);
    let rv = h.server.cluster_info()["metadata"]["resourceVersion"].clone();

    let second = BootstrapToken::new("zz9fin", "0123456789zzzzzz")
        .expiring(h.clock.now() + Duration::from_secs(60));
    h.server.add_bootstrap_token(second);
    let mut auth_only = BootstrapToken::new("nosign", "0123456789abcdef");
    auth_only.signing = false;
    h.server.add_bootstrap_token(auth_only);
    assert_eq!(
        data(&h),
        [
            "jws-kubeconfig-9bc31e",
            "jws-kubeconfig-zz9fin",
            "kubeconfig"
        ]
    );
    let info = h.server.cluster_info();
    assert_ne!(info["metadata"]["resourceVersion"], rv, "a write");
    let kcm = &info["metadata"]["managedFields"][1];
    assert_eq!(kcm["manager"], "kube-controller-manager");
    assert_eq!(
        kcm["fieldsV1"],
        serde_json::json!({"f:data": {"f:jws-kubeconfig-9bc31e": {}, "f:jws-kubeconfig-zz9fin": {}}})
    );
    let kubeconfig = info["data"]["kubeconfig"].as_str().unwrap();
    verify_jws(
        info["data"]["jws-kubeconfig-zz9fin"].as_str().unwrap(),
        "zz9fin",
        "0123456789zzzzzz",
        kubeconfig,
    );

    // Expired: the tokencleaner deletes it and the signature goes; deleted: likewise.
    h.clock.advance(Duration::from_secs(61));
    assert_eq!(data(&h), ["jws-kubeconfig-9bc31e", "kubeconfig"]);
    assert!(h.server.remove_bootstrap_token("9bc31e"));
    assert_eq!(data(&h), ["kubeconfig"]);
    assert_eq!(
        h.server.cluster_info()["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "no signature, no bootstrapsigner entry"
    );
}

#[test]
fn the_ca_cert_hash_is_the_sha256_of_the_cas_public_key_info() {
    let h = recorded_cluster("2026-12-02T15:31:50Z");
    let der = h.server.ca_der();
    let (_, ca) = X509Certificate::from_der(&der).unwrap();
    let spki = ca.tbs_certificate.subject_pki.raw;
    assert_eq!(spki.len(), 91, "P-256, as B05");
    let hex: String = Sha256::digest(spki)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(h.server.ca_cert_hash(), format!("sha256:{hex}"));
}
