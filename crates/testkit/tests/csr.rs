//! The CSR API, the auto-approver and the signer against recorded-2 A01–A17: each recorded
//! request is sent as recorded (or, where a TLS client certificate made from the request's key
//! is needed, with a request of the same shape made with our own key), with the clock at the
//! recorded `Date`, and compared with the recorded answer after masking uids,
//! resourceVersions and certificate bytes. The issued certificates are decoded and checked
//! against A07.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod bootstrap_kit;
mod common;

use bootstrap_kit::*;
use common::*;
use picokubelet_testkit::BootstrapRbac;
use serde_json::Value;
use sha2::Digest;
use x509_parser::prelude::{FromDer, X509Certificate, X509CertificationRequest};

fn at(s: &str) -> i64 {
    picokubelet_testkit::parse_rfc3339(s)
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn a_bootstrap_csr_is_created_pending_then_approved_and_issued_as_recorded() {
    let h = recorded_cluster("2026-12-02T15:25:59Z");
    let token = As::Token(TOKEN);
    replay_csr(&h, "A01-post-csr-bootstrap-201", &token);
    let got = replay_csr(&h, "A03-get-csr-after-1s", &token);
    assert!(got.chunked, "a CSR with its certificate is over 2 KiB");
    let body = got.json();
    let request_pem = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        body["spec"]["request"].as_str().unwrap(),
    )
    .unwrap();
    let request_der = pem_der(&String::from_utf8(request_pem).unwrap());
    let (_, request) = X509CertificationRequest::from_der(&request_der).unwrap();
    let cert_der = pem_der(&certificate_of(&body));
    let (_, cert) = X509Certificate::from_der(&cert_der).unwrap();
    // A07: subject O then CN, the CSR's own key, one year from the 5-minute backdating.
    assert_eq!(
        cert.subject().to_string(),
        "O=system:nodes, CN=system:node:esp-boot-01"
    );
    assert_eq!(
        cert.public_key().raw,
        request.certification_request_info.subject_pki.raw
    );
    assert_eq!(
        cert.validity().not_before.timestamp(),
        at("2026-12-02T15:21:00Z")
    );
    assert_eq!(
        cert.validity().not_after.timestamp(),
        at("2027-12-02T15:21:00Z")
    );
    assert_decoded_like_a07(&cert, &h);
}

/// Extensions in A07's order and criticality: KeyUsage (critical, digital signature only),
/// EKU clientAuth, BasicConstraints (critical, CA:FALSE), AKI = the CA's key id; no SKI, no SAN.
fn assert_decoded_like_a07(cert: &X509Certificate<'_>, h: &Harness) {
    use x509_parser::extensions::ParsedExtension as E;
    let exts = cert.extensions();
    let shape: Vec<(String, bool)> = exts
        .iter()
        .map(|e| (e.oid.to_id_string(), e.critical))
        .collect();
    assert_eq!(
        shape,
        [
            ("2.5.29.15".to_string(), true),
            ("2.5.29.37".to_string(), false),
            ("2.5.29.19".to_string(), true),
            ("2.5.29.35".to_string(), false),
        ]
    );
    for e in exts {
        match e.parsed_extension() {
            E::KeyUsage(ku) => {
                assert!(ku.digital_signature());
                assert_eq!(ku.flags, 1, "digital signature only");
            }
            E::ExtendedKeyUsage(eku) => {
                assert!(eku.client_auth && !eku.server_auth && eku.other.is_empty())
            }
            E::BasicConstraints(bc) => assert!(!bc.ca),
            E::AuthorityKeyIdentifier(aki) => {
                let ca_der = pem_der(&h.server.client_ca_pem());
                let (_, ca) = X509Certificate::from_der(&ca_der).unwrap();
                let ski = ca
                    .extensions()
                    .iter()
                    .find_map(|e| match e.parsed_extension() {
                        E::SubjectKeyIdentifier(id) => Some(id.0.to_vec()),
                        _ => None,
                    })
                    .unwrap();
                assert_eq!(aki.key_identifier.as_ref().unwrap().0, &ski[..]);
            }
            other => panic!("unexpected extension {other:?}"),
        }
    }
    // Signed by the client CA (kube-controller-manager's signing CA), not the serving CA.
    let ca_der = pem_der(&h.server.client_ca_pem());
    assert_eq!(
        cert.issuer(),
        X509Certificate::from_der(&ca_der).unwrap().1.subject()
    );
}

#[test]
fn expiration_seconds_600_gives_fifteen_minutes_counting_the_backdating() {
    let h = recorded_cluster("2026-12-02T15:29:30Z");
    let token = As::Token(TOKEN);
    replay_csr(&h, "A04-post-csr-exp600-201", &token);
    let got = replay_csr(&h, "A06-get-csr-exp600-issued", &token);
    let cert_der = pem_der(&certificate_of(&got.json()));
    let (_, cert) = X509Certificate::from_der(&cert_der).unwrap();
    // A07: issued 15:29:31 → 15:24:31 … 15:39:31.
    assert_eq!(
        cert.validity().not_before.timestamp(),
        at("2026-12-02T15:24:31Z")
    );
    assert_eq!(
        cert.validity().not_after.timestamp(),
        at("2026-12-02T15:39:31Z")
    );
}

/// The test-only knob (`set_csr_max_duration`, `serve --csr-max-duration`): the same request
/// as A04 comes back valid for 40 s from its issue, without the 5 minutes of backdating, so a
/// board's renewal point falls after it holds the certificate.
#[test]
fn the_test_only_max_duration_issues_short_certificates_without_backdating() {
    let h = recorded_cluster("2026-12-02T15:29:30Z");
    h.server
        .set_csr_max_duration(Some(std::time::Duration::from_secs(40)));
    let token = As::Token(TOKEN);
    replay_csr(&h, "A04-post-csr-exp600-201", &token);
    let got = replay_csr(&h, "A06-get-csr-exp600-issued", &token);
    let cert_der = pem_der(&certificate_of(&got.json()));
    let (_, cert) = X509Certificate::from_der(&cert_der).unwrap();
    assert_eq!(
        cert.validity().not_before.timestamp(),
        at("2026-12-02T15:29:31Z")
    );
    assert_eq!(
        cert.validity().not_after.timestamp(),
        at("2026-12-02T15:30:11Z")
    );
}

#[test]
fn other_names_are_approved_for_a_bootstrap_token_and_wrong_shapes_stay_pending() {
    let h = recorded_cluster("2026-12-02T15:30:37Z");
    let token = As::Token(TOKEN);
    for name in [
        "A11a-post-csr-cn-other-node",
        "A12a-post-csr-wrong-usages",
        "A13a-post-csr-wrong-signer",
        "A11b-get-csr-cn-other-node-after-5s",
        "A12b-get-csr-wrong-usages-after-5s",
        "A13b-get-csr-wrong-signer-after-5s",
    ] {
        replay_csr(&h, name, &token);
    }
    assert!(h.server.issued_certificate("csr-other-node").is_some());
    assert!(h.server.issued_certificate("csr-wrong-usages").is_none());
    // An admin's approval does not make the kubelet signer issue a wrong shape: it fails it.
    assert!(h.server.approve_csr("csr-wrong-usages"));
    let failed = h.server.csr("csr-wrong-usages").unwrap();
    let types: Vec<&str> = failed["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["Approved", "Failed"]);
    assert!(failed["status"].get("certificate").is_none());
    // The other client signer issues once approved.
    assert!(h.server.approve_csr("csr-wrong-signer"));
    assert!(h.server.issued_certificate("csr-wrong-signer").is_some());
}

#[test]
fn a_node_renews_its_own_certificate_and_may_not_ask_for_another_name() {
    // The first certificate, from the bootstrap token, with a key we hold, issued now: the TLS
    // handshake checks it against the wall clock. Then back to the recorded time.
    let h = recorded_cluster(&picokubelet_testkit::format_time(
        std::time::SystemTime::now(),
    ));
    let (key, request) = make_request("system:node:esp-boot-01", "system:nodes");
    let r = send(
        &h,
        &As::Token(TOKEN),
        "POST",
        "/apis/certificates.k8s.io/v1/certificatesigningrequests",
        &csr_body("csr-esp-boot-01", &request, KUBELET_SIGNER, ""),
    );
    assert_eq!(r.status, 201);
    let node_cert = issued(&h, "csr-esp-boot-01", &key);
    let node = As::Cert(&node_cert);

    // A16a: a renewal with generateName, as the node.
    let want = recorded("A16a-renewal-csr-with-node-cert-201.response.http");
    h.clock.set(want.date());
    let (_, renewal) = make_request("system:node:esp-boot-01", "system:nodes");
    let created = send(
        &h,
        &node,
        "POST",
        "/apis/certificates.k8s.io/v1/certificatesigningrequests",
        &csr_body("csr-", &renewal, KUBELET_SIGNER, ""),
    );
    assert_csr_like("A16a-renewal-csr-with-node-cert-201", &created, &want, true);
    let body = created.json();
    let name = body["metadata"]["name"].as_str().unwrap().to_string();
    assert!(name.starts_with("csr-") && name.len() == 9, "{name}");
    let credential = body["spec"]["extra"]["authentication.kubernetes.io/credential-id"][0]
        .as_str()
        .unwrap()
        .to_string();
    let digest: String = sha2::Sha256::digest(&node_cert.cert_der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(credential, format!("X509SHA256={digest}"));

    // A16b: approved as a *self* renewal (selfnodeclient), with the controller's managedFields.
    let want = recorded("A16b-renewal-csr-get-issued.response.http");
    h.advance_to(want.date());
    let got = send(
        &h,
        &node,
        "GET",
        &format!("/apis/certificates.k8s.io/v1/certificatesigningrequests/{name}"),
        "",
    );
    assert_csr_like("A16b-renewal-csr-get-issued", &got, &want, true);

    // A17: the node may not ask for another node's name; nothing is stored.
    let (_, other) = make_request("system:node:esp-bar-01", "system:nodes");
    let want = recorded("A17a-renewal-csr-other-cn-with-node-cert.response.http");
    h.advance_to(want.date());
    let refused = send(
        &h,
        &node,
        "POST",
        "/apis/certificates.k8s.io/v1/certificatesigningrequests",
        &csr_body("csr-renew-as-other-node", &other, KUBELET_SIGNER, ""),
    );
    assert_like("A17a-renewal-csr-other-cn-with-node-cert", &refused, &want);
    replay_csr(&h, "A17b-renewal-csr-other-cn-after-4s", &node);
}

#[test]
fn without_auto_approval_a_csr_waits_for_an_approval_through_the_api() {
    let h = Harness::with("2026-12-02T15:26:00Z", |o| o.with_csr_auto_approval(false));
    h.server
        .set_bootstrap_rbac(BootstrapRbac::for_token_group(REALK8S_GROUP));
    h.server.add_bootstrap_token(
        picokubelet_testkit::BootstrapToken::parse(TOKEN)
            .unwrap()
            .with_extra_groups(&[REALK8S_GROUP]),
    );
    let (key, request) = make_request("system:node:esp-boot-01", "system:nodes");
    let path = "/apis/certificates.k8s.io/v1/certificatesigningrequests";
    let token = As::Token(TOKEN);
    send(
        &h,
        &token,
        "POST",
        path,
        &csr_body("csr-k3s", &request, KUBELET_SIGNER, ""),
    );
    h.clock.advance(std::time::Duration::from_secs(3600));
    let pending = send(&h, &token, "GET", &format!("{path}/csr-k3s"), "").json();
    assert_eq!(pending["status"], serde_json::json!({}));

    // The bootstrap token may not approve its own request (RBAC: only admins approve).
    let mut approved = pending.clone();
    approved["status"] = serde_json::json!({"conditions": [{"type": "Approved", "status": "True",
        "reason": "KubectlApprove", "message": "This CSR was approved by kubectl certificate approve.",
        "lastUpdateTime": null}]});
    let approval = format!("{path}/csr-k3s/approval");
    let r = send(&h, &token, "PUT", &approval, &approved.to_string());
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));

    // kubectl certificate approve (as admin): approved and issued at once.
    let admin = h.server.admin_token();
    let r = send(
        &h,
        &As::Token(&admin),
        "PUT",
        &approval,
        &approved.to_string(),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let condition = &r.json()["status"]["conditions"][0];
    assert_eq!(condition["reason"], "KubectlApprove");
    let got = send(&h, &token, "GET", &format!("{path}/csr-k3s"), "").json();
    assert!(got["status"]["certificate"].is_string());
    issued(&h, "csr-k3s", &key);
}

#[test]
fn without_kubeadms_bindings_the_create_is_forbidden_and_nothing_is_approved() {
    let h = recorded_cluster("2026-12-02T15:26:00Z");
    h.server.set_bootstrap_rbac(BootstrapRbac::none());
    let (_, request) = make_request("system:node:esp-boot-01", "system:nodes");
    let path = "/apis/certificates.k8s.io/v1/certificatesigningrequests";
    let r = send(
        &h,
        &As::Token(TOKEN),
        "POST",
        path,
        &csr_body("csr-x", &request, KUBELET_SIGNER, ""),
    );
    assert_eq!(r.status, 403);
    assert_eq!(
        r.json()["message"],
        "certificatesigningrequests.certificates.k8s.io is forbidden: User \"system:bootstrap:9bc31e\" cannot create resource \"certificatesigningrequests\" in API group \"certificates.k8s.io\" at the cluster scope"
    );
    assert_eq!(r.header("X-Content-Type-Options"), Some("nosniff"));

    // With the bootstrapper role but not nodeclient: created, left pending (no condition).
    let mut rbac = BootstrapRbac::none();
    rbac.node_bootstrapper = vec![REALK8S_GROUP.to_string()];
    h.server.set_bootstrap_rbac(rbac);
    let r = send(
        &h,
        &As::Token(TOKEN),
        "POST",
        path,
        &csr_body("csr-x", &request, KUBELET_SIGNER, ""),
    );
    assert_eq!(r.status, 201);
    assert_eq!(
        h.server.csr("csr-x").unwrap()["status"],
        serde_json::json!({})
    );
    // deploy/bootstrap-rbac.yaml "applied": the approver's next pass approves it.
    h.server
        .set_bootstrap_rbac(BootstrapRbac::deploy_manifest());
    let csr = h.server.csr("csr-x").unwrap();
    assert_eq!(csr["status"]["conditions"][0]["reason"], "AutoApproved");
    assert!(csr["status"]["certificate"].is_string());
}

#[test]
fn invalid_requests_are_refused_before_anything_is_stored() {
    let h = recorded_cluster("2026-12-02T15:26:00Z");
    let path = "/apis/certificates.k8s.io/v1/certificatesigningrequests";
    let token = As::Token(TOKEN);
    let (_, request) = make_request("system:node:esp-boot-01", "system:nodes");
    let short = csr_body(
        "csr-short",
        &request,
        KUBELET_SIGNER,
        r#","expirationSeconds":599"#,
    );
    let r = send(&h, &token, "POST", path, &short);
    assert_eq!(r.status, 422);
    assert_eq!(
        r.json()["message"],
        "CertificateSigningRequest.certificates.k8s.io \"csr-short\" is invalid: spec.expirationSeconds: Invalid value: 599: may not specify a duration less than 600 seconds (10 minutes)"
    );
    let garbage = csr_body("csr-garbage", "aGVsbG8=", KUBELET_SIGNER, "");
    let r = send(&h, &token, "POST", path, &garbage);
    assert_eq!(r.status, 422);
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .ends_with("spec.request: Invalid value: []byte{0x68, 0x65, 0x6c, 0x6c, 0x6f}: PEM block type must be CERTIFICATE REQUEST"));
    let r = send(&h, &token, "POST", path, "{\"spec\":");
    assert_eq!(r.status, 400);
    let ok = csr_body("csr-ok", &request, KUBELET_SIGNER, "");
    assert_eq!(send(&h, &token, "POST", path, &ok).status, 201);
    assert_eq!(send(&h, &token, "POST", path, &ok).status, 409);
    assert_eq!(h.server.csr_names(), ["csr-ok"]);
    let list: Value = send(
        &h,
        &token,
        "GET",
        &format!("{path}?fieldSelector=metadata.name%3Dcsr-ok"),
        "",
    )
    .json();
    assert_eq!(list["kind"], "CertificateSigningRequestList");
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert!(list["items"][0].get("kind").is_none());
}

/// The chunks of a recorded raw chunked body (A05 kept curl's `--raw` framing).
fn recorded_chunks(raw: &[u8]) -> Vec<Vec<u8>> {
    let mut rest = raw;
    let mut out = Vec::new();
    loop {
        let eol = rest.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = usize::from_str_radix(std::str::from_utf8(&rest[..eol]).unwrap(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.push(rest[eol + 2..eol + 2 + size].to_vec());
        rest = &rest[eol + 2 + size + 2..];
    }
}

#[test]
fn a_watch_streams_added_approved_issued_one_event_per_chunk_as_recorded_a05() {
    let h = recorded_cluster("2026-12-02T15:29:30Z");
    let want = recorded("A05-watch-csr-raw-chunks.response.http");
    let (method, target, _) = recorded_request("A05-watch-csr-raw-chunks.request.txt");
    let mut watcher = h.client();
    watcher.write(
        format!(
            "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:7443\r\nUser-Agent: picokubelet/0.1\r\nAuthorization: Bearer {TOKEN}\r\nAccept: application/json\r\n\r\n"
        )
        .as_bytes(),
    );
    // The head comes at once, before any event.
    let (status_line, headers) = watcher.read_head().unwrap();
    assert_eq!(status_line, want.status_line);
    let names = |h: &[(String, String)]| h.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
    assert_eq!(names(&headers), names(&want.headers));

    replay_csr(&h, "A04-post-csr-exp600-201", &As::Token(TOKEN));
    let recorded_events = recorded_chunks(&want.body);
    assert_eq!(recorded_events.len(), 3);
    for (i, theirs) in recorded_events.iter().enumerate() {
        let ours = watcher.read_chunk().unwrap().expect("an event");
        assert_eq!(
            ours.last(),
            Some(&b'\n'),
            "one JSON object and a newline per chunk"
        );
        let mut ours: Value = serde_json::from_slice(&ours).unwrap();
        let mut theirs: Value = serde_json::from_slice(theirs).unwrap();
        mask(&mut ours["object"], false);
        mask(&mut theirs["object"], false);
        assert_eq!(
            serde_json::to_string(&ours).unwrap(),
            serde_json::to_string(&theirs).unwrap(),
            "event {i}"
        );
    }
    // timeoutSeconds=6 of clock time ends the stream with the last chunk; the connection stays.
    h.advance_to(picokubelet_testkit::parse_rfc3339("2026-12-02T15:29:36Z").unwrap());
    assert_eq!(watcher.read_chunk().unwrap(), None);
    let next = watcher.request("GET", "/version", TOKEN, None, "");
    assert_eq!(next.status, 200);
}
