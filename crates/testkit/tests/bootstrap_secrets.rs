//! Bootstrap-token Secrets created through the API, as `kubeadm token create` and `picokubelet
//! provision --mint-bootstrap-token` write them: 201 with the stored object, 409 AlreadyExists
//! for the same id, 403 for a user RBAC does not allow, and the token authenticates at once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use base64::Engine as _;
use common::*;

const SECRETS: &str = "/api/v1/namespaces/kube-system/secrets";

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// The Secret kubeadm's `token create` sends (`data`, base64).
fn kubeadm_secret(id: &str, secret: &str, expiration: &str) -> String {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": format!("bootstrap-token-{id}"), "namespace": "kube-system"},
        "type": "bootstrap.kubernetes.io/token",
        "data": {
            "description": b64("a fleet of boards"),
            "token-id": b64(id),
            "token-secret": b64(secret),
            "expiration": b64(expiration),
            "usage-bootstrap-authentication": b64("true"),
            "usage-bootstrap-signing": b64("true"),
            "auth-extra-groups": b64("system:bootstrappers:kubeadm:default-node-token"),
        }
    })
    .to_string()
}

#[test]
fn a_created_bootstrap_token_secret_authenticates_and_a_second_create_is_409() {
    let h = Harness::new("2026-12-02T15:26:00Z");
    let admin = h.server.admin_token();
    let body = kubeadm_secret("m1nt3d", "0123456789abcdef", "2026-12-03T15:26:00Z");

    let created = send(&h, &As::Token(&admin), "POST", SECRETS, &body);
    assert_eq!(
        created.status,
        201,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    let v = created.json();
    assert_eq!(v["kind"], "Secret");
    assert_eq!(v["metadata"]["name"], "bootstrap-token-m1nt3d");
    assert_eq!(v["metadata"]["namespace"], "kube-system");
    assert_eq!(v["type"], "bootstrap.kubernetes.io/token");
    assert_eq!(v["data"]["token-id"], b64("m1nt3d"));
    assert!(v["metadata"]["uid"].as_str().is_some_and(|u| u.len() == 36));

    let token = h.server.bootstrap_token("m1nt3d").unwrap();
    assert!(token.authentication && token.signing);
    assert_eq!(
        token.extra_groups,
        ["system:bootstrappers:kubeadm:default-node-token"]
    );
    let who = send(
        &h,
        &As::Token("m1nt3d.0123456789abcdef"),
        "POST",
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        r#"{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}"#,
    );
    assert_eq!(who.status, 201);
    assert_eq!(
        who.json()["status"]["userInfo"]["username"],
        "system:bootstrap:m1nt3d"
    );

    // The recorded AlreadyExists shape (recorded 05), for secrets.
    let again = send(&h, &As::Token(&admin), "POST", SECRETS, &body);
    assert_eq!(again.status, 409);
    let v = again.json();
    assert_eq!(v["reason"], "AlreadyExists");
    assert_eq!(
        v["message"],
        "secrets \"bootstrap-token-m1nt3d\" already exists"
    );
    assert_eq!(v["details"]["kind"], "secrets");
    assert_eq!(v["details"]["name"], "bootstrap-token-m1nt3d");
}

#[test]
fn a_node_may_not_create_secrets_and_an_expired_secret_does_not_authenticate() {
    let h = Harness::new("2026-12-02T15:26:00Z");
    let node = h.server.node_token("esp-node-01");
    let body = kubeadm_secret("n0d3id", "0123456789abcdef", "2026-12-03T15:26:00Z");
    let refused = send(&h, &As::Token(&node), "POST", SECRETS, &body);
    assert_eq!(refused.status, 403);
    assert!(h.server.bootstrap_token("n0d3id").is_none());

    let admin = h.server.admin_token();
    let body = kubeadm_secret("0ld1d0", "0123456789abcdef", "2026-12-01T15:26:00Z");
    assert_eq!(
        send(&h, &As::Token(&admin), "POST", SECRETS, &body).status,
        201
    );
    let who = send(
        &h,
        &As::Token("0ld1d0.0123456789abcdef"),
        "POST",
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        r#"{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}"#,
    );
    assert_eq!(who.status, 401);
}
