//! The server chains (ECDSA, ECDSA with an intermediate, kubeadm's RSA-2048 under RSA-4096, RSA
//! with an intermediate, ECDSA under RSA) as a TLS client sees them, and the client CA as
//! kube-apiserver's `--client-ca-file`: any certificate it issued — also for a key only the
//! client holds — authenticates as user CN in groups O; one from another CA does not get in.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, UNIX_EPOCH};

use common::*;
use picokubelet_testkit::{ClientCert, ServerChain};
use rcgen::{KeyPair, PublicKeyData};

const SSR: &str = r#"{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}"#;

/// A GET without credentials other than the connection's client certificate.
fn get(client: &mut Client, path: &str) -> Resp {
    let raw = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n\r\n");
    client.send(raw.as_bytes()).unwrap()
}

fn who_am_i(client: &mut Client) -> serde_json::Value {
    let raw = format!(
        "POST /apis/authentication.k8s.io/v1/selfsubjectreviews HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{SSR}",
        SSR.len()
    );
    let resp = client.send(raw.as_bytes()).unwrap();
    assert_eq!(resp.status, 201, "{resp:?}");
    resp.json()["status"]["userInfo"].clone()
}

#[test]
fn every_chain_verifies_against_its_root_and_the_server_sends_leaf_and_intermediates() {
    for chain in ServerChain::ALL {
        let h = Harness::with("2026-12-02T15:00:00Z", |o| o.with_chain(chain));
        let mut client = h.client();
        let version = get(&mut client, "/version");
        assert_eq!(version.status, 200, "{chain:?}");
        let sent = client.tls().peer_certificates().unwrap().to_vec();
        let intermediates = match chain {
            ServerChain::EcdsaP256 | ServerChain::Rsa | ServerChain::EcdsaUnderEd25519 => 0,
            _ => 1,
        };
        assert_eq!(sent.len(), 1 + intermediates, "{chain:?}");
        let chain_der = h.server.server_chain_der();
        assert_eq!(
            sent.iter().map(|c| c.to_vec()).collect::<Vec<_>>(),
            chain_der,
            "{chain:?}"
        );
        // The root is not sent: the kubeconfig's CA is the only anchor.
        let root = h.server.ca_der();
        assert!(!chain_der.contains(&root), "{chain:?}");
        // The leaf's key type: RSA (rsaEncryption OID) or ECDSA (id-ecPublicKey OID).
        let rsa_oid: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
        let ec_oid: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
        let has = |der: &[u8], oid: &[u8]| der.windows(oid.len()).any(|w| w == oid);
        let rsa_leaf = matches!(chain, ServerChain::Rsa | ServerChain::RsaIntermediate);
        assert_eq!(has(&sent[0], ec_oid), !rsa_leaf, "{chain:?}");
        let rsa_root = matches!(
            chain,
            ServerChain::Rsa | ServerChain::RsaIntermediate | ServerChain::EcdsaUnderRsa
        );
        assert_eq!(has(&root, rsa_oid), rsa_root, "{chain:?}");
    }
}

#[test]
fn the_rsa_server_signs_its_handshake_with_rsa_pss() {
    let h = Harness::with("2026-12-02T15:00:00Z", |o| o.with_chain(ServerChain::Rsa));
    let mut client = h.client();
    assert_eq!(get(&mut client, "/version").status, 200);
    // Recorded F02: TLS 1.3, TLS_AES_128_GCM_SHA256 with the RSA certificate.
    let tls = client.tls();
    assert_eq!(
        tls.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    assert_eq!(
        tls.negotiated_cipher_suite().unwrap().suite(),
        rustls::CipherSuite::TLS13_AES_128_GCM_SHA256
    );
}

#[test]
fn a_certificate_issued_for_a_clients_own_key_authenticates_as_cn_and_o() {
    let h = Harness::new("2026-12-02T15:00:00Z");
    // The client makes its key; the server only ever sees the public half (as from a CSR).
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let not_before = UNIX_EPOCH + Duration::from_secs(1_796_000_000);
    let issued = h
        .server
        .issue_client_cert_for(
            &key.subject_public_key_info(),
            "system:node:esp-boot-01",
            &["system:nodes"],
            not_before,
            not_before + Duration::from_secs(365 * 86_400),
        )
        .unwrap();
    let cert = ClientCert {
        cert_pem: issued.pem.clone(),
        key_pem: key.serialize_pem(),
        cert_der: issued.der.clone(),
        key_der: key.serialize_der(),
    };
    let mut client = Client::with_config(&h.server, h.server.client_tls_config(Some(&cert)));
    let user = who_am_i(&mut client);
    assert_eq!(user["username"], "system:node:esp-boot-01");
    assert_eq!(
        user["groups"],
        serde_json::json!(["system:nodes", "system:authenticated"])
    );
    // And the Node authorizer takes it as that node.
    let node = get(&mut client, "/api/v1/nodes/esp-boot-01");
    assert_eq!(node.status, 404, "{node:?}");
    let other = get(&mut client, "/api/v1/nodes/esp-other");
    assert_eq!(other.status, 403, "{other:?}");
}

#[test]
fn the_client_ca_is_not_the_serving_ca_and_a_stranger_certificate_is_refused() {
    let h = Harness::new("2026-12-02T15:00:00Z");
    assert_ne!(h.server.client_ca_pem(), h.server.ca_pem());
    // A certificate for the same user from another server's client CA: the handshake fails
    // (Go's VerifyClientCertIfGiven refuses a certificate it cannot verify).
    let stranger = Harness::new("2026-12-02T15:00:00Z");
    let cert = stranger
        .server
        .issue_client_cert("system:node:esp-node-01", &["system:nodes"]);
    let mut client = Client::with_config(&h.server, h.server.client_tls_config(Some(&cert)));
    let raw = "GET /version HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    assert!(client.send(raw.as_bytes()).is_err());
    // The server's own certificate for the same user gets in.
    let own = h
        .server
        .issue_client_cert("system:node:esp-node-01", &["system:nodes"]);
    let mut client = Client::with_config(&h.server, h.server.client_tls_config(Some(&own)));
    assert_eq!(who_am_i(&mut client)["username"], "system:node:esp-node-01");
}
