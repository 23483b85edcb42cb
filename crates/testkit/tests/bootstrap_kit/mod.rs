//! Shared by the bootstrap tests (csr.rs, bootstrap_tokens.rs, cluster_info.rs): the recorded
//! cluster's bootstrap token and RBAC, CSRs made with rcgen, and a comparison of CSR answers with
//! the recordings that masks what must differ (uids, resourceVersions, certificates, generated
//! names, credential ids, requests made with our own keys).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine;
use picokubelet_testkit::{BootstrapRbac, BootstrapToken, ClientCert};
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, PKCS_ECDSA_P256_SHA256};
use serde_json::Value;

use crate::common::*;

/// The recorded token's extra group (the recording cluster's name is `realk8s`).
pub const REALK8S_GROUP: &str = "system:bootstrappers:realk8s:default-node-token";
/// The recorded token 9bc31e with a made-up secret (the real one is redacted).
pub const TOKEN: &str = "9bc31e.abcdef0123456789";
pub const KUBELET_SIGNER: &str = "kubernetes.io/kube-apiserver-client-kubelet";

/// A server at `start` with the recorded cluster's bootstrap token and kubeadm's RBAC for its
/// group.
pub fn recorded_cluster(start: &str) -> Harness {
    let h = Harness::new(start);
    h.server
        .set_bootstrap_rbac(BootstrapRbac::for_token_group(REALK8S_GROUP));
    h.server.add_bootstrap_token(
        BootstrapToken::parse(TOKEN)
            .unwrap()
            .with_extra_groups(&[REALK8S_GROUP]),
    );
    h
}

/// A fresh P-256 key and a PKCS#10 request for O=`org`, CN=`cn`, base64 of its PEM (the form
/// of `spec.request`).
pub fn make_request(cn: &str, org: &str) -> (KeyPair, String) {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, org);
    dn.push(DnType::CommonName, cn);
    params.distinguished_name = dn;
    let csr = params.serialize_request(&key).unwrap();
    let pem = csr.pem().unwrap();
    (key, base64::engine::general_purpose::STANDARD.encode(pem))
}

/// A CSR body as the agent sends it.
pub fn csr_body(name: &str, request: &str, signer: &str, extra_spec: &str) -> String {
    let meta = if name.ends_with('-') {
        format!(r#"{{"generateName":"{name}"}}"#)
    } else {
        format!(r#"{{"name":"{name}"}}"#)
    };
    format!(
        r#"{{"apiVersion":"certificates.k8s.io/v1","kind":"CertificateSigningRequest","metadata":{meta},"spec":{{"request":"{request}","signerName":"{signer}","usages":["digital signature","client auth"]{extra_spec}}}}}"#
    )
}

/// The client certificate issued for CSR `name`, with the key its request was made with.
pub fn issued(h: &Harness, name: &str, key: &KeyPair) -> ClientCert {
    let cert_pem = h.server.issued_certificate(name).expect("issued");
    let cert_der = pem_der(&cert_pem);
    ClientCert {
        cert_pem,
        key_pem: key.serialize_pem(),
        cert_der,
        key_der: key.serialize_der(),
    }
}

/// The DER of the first PEM block.
pub fn pem_der(pem: &str) -> Vec<u8> {
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap()
}

/// The certificate PEM in a CSR answer.
pub fn certificate_of(body: &Value) -> String {
    let b64 = body["status"]["certificate"]
        .as_str()
        .expect("a certificate");
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap(),
    )
    .unwrap()
}

/// Replaces what must differ between our answer and the recorded one with placeholders.
pub fn mask(v: &mut Value, request_too: bool) {
    let put = |v: &mut Value, ptr: &str, with: &str| {
        if let Some(x) = v.pointer_mut(ptr) {
            *x = Value::String(with.into());
        }
    };
    for (ptr, with) in [
        ("/metadata/uid", "<uid>"),
        ("/metadata/resourceVersion", "<rv>"),
        ("/status/certificate", "<certificate>"),
    ] {
        put(v, ptr, with);
    }
    if request_too {
        put(v, "/spec/request", "<request>");
        put(v, "/metadata/name", "<name>");
        if let Some(ids) =
            v.pointer_mut("/spec/extra/authentication.kubernetes.io~1credential-id/0")
        {
            *ids = Value::String("<credential>".into());
        }
    }
}

/// Status line, header names (and values but the APF uids, Audit-Id, Date and, when the body
/// holds something masked, Content-Length), and the body after masking.
pub fn assert_csr_like(step: &str, got: &Resp, want: &RecordedResponse, request_too: bool) {
    assert_eq!(got.status_line, want.status_line, "{step}: status line");
    let names = |h: &[(String, String)]| h.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
    assert_eq!(names(&got.headers), names(&want.headers), "{step}: headers");
    let mut ours: Value = serde_json::from_slice(&got.body).unwrap();
    let mut theirs: Value = serde_json::from_slice(&want.body).unwrap();
    let exact_length = ours.pointer("/status/certificate").is_none() && !request_too;
    for ((k, v), (_, w)) in got.headers.iter().zip(&want.headers) {
        let volatile = k.starts_with("X-Kubernetes-Pf-") || k == "Audit-Id" || k == "Date";
        if !volatile && (k != "Content-Length" || exact_length) {
            assert_eq!(v, w, "{step}: {k}");
        }
    }
    mask(&mut ours, request_too);
    mask(&mut theirs, request_too);
    assert_eq!(
        serde_json::to_string(&ours).unwrap(),
        serde_json::to_string(&theirs).unwrap(),
        "{step}: body"
    );
}

/// Replays recording `name` (request as recorded) as `who` at its recorded time.
pub fn replay_csr(h: &Harness, name: &str, who: &As<'_>) -> Resp {
    let want = recorded(&format!("{name}.response.http"));
    h.advance_to(want.date());
    let (method, target, body) = recorded_request(&format!("{name}.request.txt"));
    let got = send(h, who, &method, &target, &body);
    assert_csr_like(name, &got, &want, false);
    got
}
