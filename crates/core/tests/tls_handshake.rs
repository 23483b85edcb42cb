//! TLS 1.3 over real TCP on 127.0.0.1: picokubelet_core::tls::open against a rustls server
//! with an rcgen ECDSA P-256 PKI shaped like k3s' (CN=k3s; SANs kubernetes…, localhost,
//! 127.0.0.1, ::1, 10.43.0.1), and against an impostor that lacks the server's key.
//! The client futures are !Send: every test runs on tokio's current-thread runtime.

mod tls_support;

use std::sync::atomic::Ordering;

use picokubelet_core::tls::embedded_tls::alert::AlertDescription;
use picokubelet_core::tls::{
    decode_ca, open, open_as, ClientIdentity, Rejection, ServerIdentity, TlsError, TlsOpenError,
    TlsVerification, CA_DER_MAX, RX_RECORD_BUFFER, TX_RECORD_BUFFER,
};
use tls_support::evil::{start_impostor, Attack};
use tls_support::*;

struct Pki {
    ca: Ca,
    k3s: ServerCert,
}

fn k3s_pki() -> Pki {
    let ca = Ca::new("k3s-server-ca@1700000000");
    let k3s = ca.issue("k3s", K3S_SANS);
    Pki { ca, k3s }
}

async fn server(c: &ServerCert) -> Server {
    start_server(c, ServerOpts::default()).await
}

/// Open succeeded and the 3 GETs went over ONE TLS session (same server connection, req 1..3).
fn assert_one_session(o: &Outcome, server: &Server) {
    assert!(o.open.is_ok(), "{:?}", o.open);
    assert_eq!(o.bodies.len(), 3);
    for (i, b) in o.bodies.iter().enumerate() {
        assert_eq!(
            *b,
            format!("{{\"conn\":1,\"req\":{},\"path\":\"/r{i}\"}}", i + 1)
        );
    }
    assert_eq!(server.accepted.load(Ordering::SeqCst), 1);
    assert_eq!(server.handshakes_ok.load(Ordering::SeqCst), 1);
}

/// Refused by the verifier with `want` (and embedded-tls' InvalidCertificate).
fn assert_rejected(o: &Outcome, want: Rejection) {
    assert!(o.bodies.is_empty());
    match o.open {
        Err(TlsOpenError::Handshake {
            error: TlsError::InvalidCertificate,
            verify: Some(v),
        }) => assert_eq!(v.rejection, want),
        ref other => panic!("expected {want:?}, got {other:?}"),
    }
}

/// Refused by embedded-tls' message-order check (vendored patch L3), before any verifier
/// decision, or by our verifier as out of order.
fn assert_invalid_handshake(o: &Outcome) {
    assert!(o.bodies.is_empty());
    assert!(
        matches!(
            o.open,
            Err(TlsOpenError::Handshake {
                error: TlsError::InvalidHandshake,
                ..
            })
        ),
        "{:?}",
        o.open
    );
    assert!(
        matches!(
            o.open.as_ref().unwrap_err().rejection(),
            None | Some(Rejection::OutOfOrder)
        ),
        "{:?}",
        o.open
    );
}

#[tokio::test]
async fn right_ca_and_name_kubernetes_give_three_requests_over_one_session() {
    let p = k3s_pki();
    let s = server(&p.k3s).await;
    let o = run_verified(s.addr, &p.ca.der, "kubernetes", now(), 3).await;
    assert_one_session(&o, &s);
}

#[tokio::test]
async fn kubeconfig_certificate_authority_data_works_end_to_end() {
    use base64::Engine as _;
    let p = k3s_pki();
    let s = server(&p.k3s).await;
    let data = base64::engine::general_purpose::STANDARD.encode(p.ca.pem.as_bytes());
    let mut ca = [0u8; CA_DER_MAX];
    let der = decode_ca(data.as_bytes(), &mut ca).unwrap();
    assert_eq!(der, &p.ca.der[..]);
    assert_one_session(&run_verified(s.addr, der, "kubernetes", None, 3).await, &s);
}

#[tokio::test]
async fn other_ca_is_an_untrusted_chain() {
    let p = k3s_pki();
    let s = server(&p.k3s).await;
    let other = Ca::new("other-ca");
    let o = run_verified(s.addr, &other.der, "kubernetes", None, 3).await;
    assert_rejected(&o, Rejection::UntrustedChain);
    assert_eq!(
        o.open.unwrap_err().rejection(),
        Some(Rejection::UntrustedChain)
    );
}

#[tokio::test]
async fn wrong_name_is_a_name_mismatch() {
    let p = k3s_pki();
    let s = server(&p.k3s).await;
    let o = run_verified(s.addr, &p.ca.der, "wrong.example", None, 3).await;
    assert_rejected(&o, Rejection::NameMismatch);
}

#[tokio::test]
async fn every_dns_san_counts_not_only_the_first_three() {
    let p = k3s_pki();
    let s = server(&p.k3s).await;
    // "localhost" is the 5th dNSName (embedded-tls' own verifier reads only 3).
    for name in ["localhost", "KUBERNETES.default.svc.cluster.local"] {
        let o = run_verified(s.addr, &p.ca.der, name, None, 1).await;
        assert!(o.open.is_ok(), "{name}: {:?}", o.open);
    }
}

#[tokio::test]
async fn ip_identities_match_ip_sans_only() {
    let p = k3s_pki();
    let s = server(&p.k3s).await;
    assert_one_session(
        &run_verified(s.addr, &p.ca.der, "127.0.0.1", None, 3).await,
        &s,
    );
    let v6 = run_verified(s.addr, &p.ca.der, "[::1]", None, 1).await;
    assert!(v6.open.is_ok(), "{:?}", v6.open);
    let other_ip = run_verified(s.addr, &p.ca.der, "10.43.0.2", None, 1).await;
    assert_rejected(&other_ip, Rejection::NameMismatch);
}

#[tokio::test]
async fn no_common_name_fallback() {
    let ca = Ca::new("ca");
    let s = server(&ca.issue("x", &[])).await; // no SANs at all
    let o = run_verified(s.addr, &ca.der, "x", None, 1).await;
    assert_rejected(&o, Rejection::NameMismatch);
}

#[tokio::test]
async fn optional_client_certificate_request_is_answered_and_the_session_works() {
    let p = k3s_pki();
    let opts = ServerOpts {
        request_client_cert: Some(p.ca.der.clone()),
        ..ServerOpts::default()
    };
    let s = start_server(&p.k3s, opts).await;
    let o = run_verified(s.addr, &p.ca.der, "kubernetes", now(), 3).await;
    assert_one_session(&o, &s);
}

/// A server that requires client certificates from `client_ca` (kube-apiserver's
/// `--client-ca-file`, with anonymous access refused at the TLS layer).
async fn server_requiring_client_cert(p: &Pki, client_ca: &Ca) -> Server {
    let opts = ServerOpts {
        request_client_cert: Some(client_ca.der.clone()),
        require_client_cert: true,
    };
    start_server(&p.k3s, opts).await
}

fn signing_key(c: &ServerCert) -> p256::ecdsa::SigningKey {
    use p256::pkcs8::DecodePrivateKey as _;
    p256::ecdsa::SigningKey::from_pkcs8_der(&c.key_pkcs8).unwrap()
}

fn verify_k3s(p: &Pki) -> TlsVerification<'_> {
    TlsVerification::Verify {
        ca_der: &p.ca.der,
        identity: ServerIdentity::parse("kubernetes"),
        now: now(),
    }
}

#[tokio::test]
async fn client_certificate_authenticates_to_a_server_that_requires_one() {
    let p = k3s_pki();
    let client_ca = Ca::new("k3s-client-ca@1700000000");
    let node = client_ca.issue_client("system:node:pico-1", "system:nodes");
    let key = signing_key(&node);
    let s = server_requiring_client_cert(&p, &client_ca).await;
    let client = ClientIdentity {
        certificate_der: &node.chain[0],
        key: (&key).into(),
    };
    let o = run_as(s.addr, verify_k3s(&p), Some(client), 3).await;
    assert_one_session(&o, &s);
    assert_eq!(*s.client_certs.lock().unwrap(), vec![node.chain[0].clone()]);
}

/// kind's kubeconfig: an RSA-2048 client key. The CertificateVerify is RSA-PSS (TLS 1.3
/// allows nothing else for RSA), which rustls checks against the certificate.
#[cfg(feature = "rsa-client")]
#[tokio::test]
async fn an_rsa_client_key_authenticates_with_rsa_pss() {
    use rsa::pkcs8::DecodePrivateKey as _;
    let p = k3s_pki();
    let client_ca = Ca::new("kind-client-ca");
    let admin = client_ca.issue_client_with(
        "kubernetes-admin",
        "kubeadm:cluster-admins",
        tls_support::rsa(2048),
    );
    let key = rsa::RsaPrivateKey::from_pkcs8_der(&admin.key_pkcs8).unwrap();
    let s = server_requiring_client_cert(&p, &client_ca).await;
    let client = ClientIdentity {
        certificate_der: &admin.chain[0],
        key: picokubelet_core::tls::ClientKey::Rsa(&key),
    };
    let o = run_as(s.addr, verify_k3s(&p), Some(client), 3).await;
    assert_one_session(&o, &s);
    assert_eq!(
        *s.client_certs.lock().unwrap(),
        vec![admin.chain[0].clone()]
    );
}

#[tokio::test]
async fn client_certificate_is_sent_only_when_asked_for() {
    let p = k3s_pki();
    let client_ca = Ca::new("client-ca");
    let node = client_ca.issue_client("system:node:pico-1", "system:nodes");
    let key = signing_key(&node);
    let s = server(&p.k3s).await; // no CertificateRequest
    let client = ClientIdentity {
        certificate_der: &node.chain[0],
        key: (&key).into(),
    };
    let o = run_as(s.addr, verify_k3s(&p), Some(client), 3).await;
    assert_one_session(&o, &s);
    assert!(s.client_certs.lock().unwrap().is_empty());
}

/// The first read after `open` of a client the server refused: in TLS 1.3 the client's
/// handshake ends before the server judges the client's Certificate, so the verdict is an
/// alert on that read (vendored patch L5 keeps its description).
async fn first_read_after_open(
    s: &Server,
    p: &Pki,
    client: Option<ClientIdentity<'_>>,
) -> TlsError {
    let mut rx = vec![0u8; RX_RECORD_BUFFER];
    let mut tx = vec![0u8; TX_RECORD_BUFFER];
    let tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let socket = embedded_io_adapters::tokio_1::FromTokio::new(tcp);
    let mut tls = open_as(
        socket,
        &mut rx,
        &mut tx,
        verify_k3s(p),
        client,
        rand_core::OsRng,
    )
    .await
    .expect("the client's side of the handshake completes");
    let mut buf = [0u8; 64];
    match embedded_io_async::Read::read(&mut tls, &mut buf).await {
        Ok(n) => panic!("the server should have refused, read {n} bytes"),
        Err(e) => e,
    }
}

#[tokio::test]
async fn server_requiring_a_client_certificate_refuses_a_client_without_one() {
    let p = k3s_pki();
    let client_ca = Ca::new("client-ca");
    let s = server_requiring_client_cert(&p, &client_ca).await;
    let e = first_read_after_open(&s, &p, None).await;
    assert!(
        matches!(
            e,
            TlsError::HandshakeAborted(_, AlertDescription::CertificateRequired)
        ),
        "{e:?}"
    );
    assert_eq!(s.handshakes_ok.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn client_certificate_from_another_ca_is_refused_as_unknown_ca() {
    let p = k3s_pki();
    let client_ca = Ca::new("client-ca");
    let stranger = Ca::new("not-the-client-ca").issue_client("system:node:x", "system:nodes");
    let key = signing_key(&stranger);
    let s = server_requiring_client_cert(&p, &client_ca).await;
    let client = ClientIdentity {
        certificate_der: &stranger.chain[0],
        key: (&key).into(),
    };
    let e = first_read_after_open(&s, &p, Some(client)).await;
    assert!(
        matches!(
            e,
            TlsError::HandshakeAborted(_, AlertDescription::UnknownCa)
        ),
        "{e:?}"
    );
    assert_eq!(s.handshakes_ok.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn intermediate_chain_is_followed_and_needed() {
    let root = Ca::new("root");
    let inter = root.intermediate("intermediate");
    let leaf = inter.issue("k3s", K3S_SANS).with_chain(&[&inter]);
    let s = server(&leaf).await;
    assert_one_session(
        &run_verified(s.addr, &root.der, "kubernetes", now(), 3).await,
        &s,
    );
    // the same leaf without the intermediate in the handshake is not trusted
    let alone = ServerCert {
        chain: vec![leaf.chain[0].clone()],
        key_pkcs8: leaf.key_pkcs8.clone(),
    };
    let s2 = server(&alone).await;
    let o = run_verified(s2.addr, &root.der, "kubernetes", None, 1).await;
    assert_rejected(&o, Rejection::UntrustedChain);
}

/// Any certificate the cluster CA issued (e.g. a kubelet client cert + its key) must not be
/// able to mint a "server" certificate: it is not a CA.
#[tokio::test]
async fn server_cert_signed_by_an_end_entity_cert_is_untrusted() {
    let ca = Ca::new("cluster-ca");
    let client_cert = ca.end_entity_as_issuer("k3s");
    let forged = client_cert
        .issue("k3s", &["kubernetes"])
        .with_chain(&[&client_cert]);
    let s = server(&forged).await;
    let o = run_verified(s.addr, &ca.der, "kubernetes", None, 1).await;
    assert_rejected(&o, Rejection::UntrustedChain);
}

#[tokio::test]
async fn leaf_with_client_auth_only_eku_is_not_for_server_auth() {
    let ca = Ca::new("ca");
    let s = server(&ca.issue_client_only("k3s", K3S_SANS)).await;
    let o = run_verified(s.addr, &ca.der, "kubernetes", None, 1).await;
    assert_rejected(&o, Rejection::NotForServerAuth);
}

#[tokio::test]
async fn validity_is_checked_only_when_the_time_is_known() {
    let ca = Ca::new("ca");
    let s = server(&ca.issue_with("k3s", K3S_SANS, Some(OLD))).await;
    let expired = run_verified(s.addr, &ca.der, "kubernetes", now(), 1).await;
    assert_rejected(&expired, Rejection::Expired);
    let early = picokubelet_core::time::UnixMicros::from_secs(OLD.0 as u64 - 1);
    let not_yet = run_verified(s.addr, &ca.der, "kubernetes", Some(early), 1).await;
    assert_rejected(&not_yet, Rejection::NotYetValid);
    let unknown = run_verified(s.addr, &ca.der, "kubernetes", None, 1).await;
    assert!(unknown.open.is_ok(), "{:?}", unknown.open);
}

#[tokio::test]
async fn impostor_without_certificate_verify_is_refused() {
    let p = k3s_pki();
    let addr = start_impostor(Attack::CertificateWithoutVerify, p.k3s.chain.clone()).await;
    assert_invalid_handshake(&run_verified(addr, &p.ca.der, "kubernetes", None, 1).await);
}

#[tokio::test]
async fn impostor_without_certificate_is_refused() {
    let p = k3s_pki();
    let addr = start_impostor(Attack::NoCertificate, vec![]).await;
    assert_invalid_handshake(&run_verified(addr, &p.ca.der, "kubernetes", None, 1).await);
}

#[tokio::test]
async fn impostor_sending_certificate_verify_before_certificate_is_refused() {
    let p = k3s_pki();
    for attack in [
        Attack::VerifyWithoutCertificate,
        Attack::VerifyBeforeCertificate,
    ] {
        let addr = start_impostor(attack, p.k3s.chain.clone()).await;
        let o = run_verified(addr, &p.ca.der, "kubernetes", None, 1).await;
        assert_invalid_handshake(&o);
    }
}

#[tokio::test]
async fn impostor_signing_with_its_own_key_is_a_bad_signature() {
    let p = k3s_pki();
    let addr = start_impostor(Attack::ForeignCertificateVerify, p.k3s.chain.clone()).await;
    let o = run_verified(addr, &p.ca.der, "kubernetes", None, 1).await;
    assert!(o.bodies.is_empty());
    assert!(
        matches!(
            o.open,
            Err(TlsOpenError::Handshake {
                error: TlsError::InvalidSignature,
                ..
            })
        ),
        "{:?}",
        o.open
    );
    assert_eq!(
        o.open.as_ref().unwrap_err().rejection(),
        Some(Rejection::BadSignature)
    );
}

/// Before the vendored patch L1 this panicked in embedded-tls (connection.rs:62), before any
/// authentication: anyone on the path could reboot the board.
#[tokio::test]
async fn empty_encrypted_record_after_server_hello_is_an_error_not_a_panic() {
    let p = k3s_pki();
    let addr = start_impostor(Attack::EmptyEncryptedRecord, vec![]).await;
    let o = run_verified(addr, &p.ca.der, "kubernetes", None, 1).await;
    assert!(
        matches!(
            o.open,
            Err(TlsOpenError::Handshake {
                error: TlsError::InvalidRecord,
                verify: None,
            })
        ),
        "{:?}",
        o.open
    );
}

#[tokio::test]
async fn insecure_skip_verify_accepts_any_server_when_asked_for() {
    let p = k3s_pki();
    let s = server(&p.k3s).await;
    let verification = TlsVerification::InsecureSkipVerify {
        identity: ServerIdentity::parse("wrong.example"),
    };
    assert_one_session(&run(s.addr, verification, 3).await, &s);
}

#[tokio::test]
async fn buffers_below_the_stated_sizes_are_refused_before_any_io() {
    let p = k3s_pki();
    let s = server(&p.k3s).await;
    let verification = TlsVerification::Verify {
        ca_der: &p.ca.der,
        identity: ServerIdentity::parse("kubernetes"),
        now: None,
    };
    for (rx_len, tx_len) in [
        (RX_RECORD_BUFFER - 1, TX_RECORD_BUFFER),
        (RX_RECORD_BUFFER, TX_RECORD_BUFFER - 1),
    ] {
        let (mut rx, mut tx) = (vec![0u8; rx_len], vec![0u8; tx_len]);
        let socket = embedded_io_adapters::tokio_1::FromTokio::new(
            tokio::net::TcpStream::connect(s.addr).await.unwrap(),
        );
        let r = open(socket, &mut rx, &mut tx, verification, rand_core::OsRng).await;
        assert!(matches!(r, Err(TlsOpenError::BufferTooSmall)));
    }
    assert_eq!(s.handshakes_ok.load(Ordering::SeqCst), 0);
}
