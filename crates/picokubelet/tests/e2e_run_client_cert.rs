//! `picokubelet run` with a kubeconfig whose user is a client certificate (no token): the real
//! binary against the test API server over real TLS on 127.0.0.1. The certificate is issued by
//! the server's client CA for `system:node:<name>` / `system:nodes` (CN = user, O = group, as
//! kube-apiserver maps it, recorded-2 F06/C03/C06); the core's TLS client answers the server's
//! CertificateRequest with it, and the Node gets Ready. `check` with the same kubeconfig sees
//! the node identity and passes.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use picokubelet_testkit::{ServerOptions, TestApiServer};

const NODE: &str = "esp-cert-01";

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text.as_bytes())
}

/// A kubeconfig for `server` whose user is a client certificate for the node `NODE` (no token).
fn client_cert_kubeconfig(server: &TestApiServer) -> String {
    let cert = server.issue_client_cert(&format!("system:node:{NODE}"), &["system:nodes"]);
    kubeconfig_with(server, &cert.cert_pem, &cert.key_pem)
}

/// A kubeconfig for `server` whose user is the certificate and key given (PEM).
fn kubeconfig_with(server: &TestApiServer, cert_pem: &str, key_pem: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n\
         clusters:\n- name: k\n  cluster:\n    server: {}\n    certificate-authority-data: {}\n\
         contexts:\n- name: c\n  context:\n    cluster: k\n    user: node\n\
         users:\n- name: node\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n",
        server.url(),
        b64(&server.ca_pem()),
        b64(cert_pem),
        b64(key_pem),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_with_a_client_certificate_sees_the_node_identity() {
    let server = TestApiServer::start(ServerOptions::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, client_cert_kubeconfig(&server)).unwrap();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_picokubelet"))
            .args(["check", "--kubeconfig"])
            .arg(&path)
            .env_remove("KUBECONFIG")
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{report}");
    assert!(
        report.contains(&format!(
            "✓ credentials: system:node:{NODE} (groups system:nodes, system:authenticated)"
        )),
        "{report}"
    );
    assert!(!report.lines().any(|l| l.starts_with('✗')), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_with_a_client_certificate_joins_and_the_node_gets_ready() {
    let server = TestApiServer::start(ServerOptions::default())
        .await
        .unwrap();
    let kubeconfig = client_cert_kubeconfig(&server);
    run_until_ready_as_the_node(&server, &kubeconfig).await;
}

/// kind's kubeconfig: an RSA-2048 client key (PKCS#1 `RSA PRIVATE KEY`). The core's TLS client
/// signs the CertificateVerify with RSA-PSS, which the server's rustls checks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_with_an_rsa_client_key_joins_and_the_node_gets_ready() {
    use rsa::pkcs1::EncodeRsaPrivateKey as _;
    use rsa::pkcs8::EncodePrivateKey as _;
    let server = TestApiServer::start(ServerOptions::default())
        .await
        .unwrap();
    let key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).unwrap();
    let pair = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(
        &rustls::pki_types::PrivatePkcs8KeyDer::from(
            key.to_pkcs8_der().unwrap().as_bytes().to_vec(),
        ),
        &rcgen::PKCS_RSA_SHA256,
    )
    .unwrap();
    let cert =
        server.issue_client_cert_with_key(&format!("system:node:{NODE}"), &["system:nodes"], &pair);
    let key_pem = key.to_pkcs1_pem(Default::default()).unwrap();
    let kubeconfig = kubeconfig_with(&server, &cert.cert_pem, &key_pem);
    run_until_ready_as_the_node(&server, &kubeconfig).await;
}

/// Runs `run` with `kubeconfig` (no --node-name) until the Node is Ready; checks that every
/// connection authenticated with the client certificate and every request as the node.
async fn run_until_ready_as_the_node(server: &TestApiServer, kubeconfig: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, kubeconfig).unwrap();
    let err_path = dir.path().join("stderr");
    // No --node-name: the identity the certificate gives names the node.
    let mut child = Command::new(env!("CARGO_BIN_EXE_picokubelet"))
        .args(["run", "--kubeconfig"])
        .arg(&path)
        .env("RUST_LOG", "info")
        .env_remove("KUBECONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&err_path).unwrap()))
        .spawn()
        .unwrap();
    let ready = |s: &TestApiServer| {
        s.node(NODE).is_some_and(|n| {
            n["status"]["conditions"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
        })
    };
    // Polls for the outcome (a generous bound for a loaded machine; nothing is timed).
    let start = Instant::now();
    while !ready(server) {
        if let Some(exit) = child.try_wait().unwrap() {
            panic!(
                "run exited ({exit:?}):\n{}",
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no Ready Node {NODE}:\n{}",
            std::fs::read_to_string(&err_path).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let log = std::fs::read_to_string(&err_path).unwrap();
    assert!(
        log.contains(&format!(
            "node name \"{NODE}\": taken from the credentials' node identity"
        )),
        "{log}"
    );
    assert!(!log.contains(" WARN ") && !log.contains("ERROR"), "{log}");
    // Every connection authenticated with the certificate, every request as the node.
    let connections = server.connections();
    assert!(!connections.is_empty());
    for c in &connections {
        assert_eq!(
            c.client_cert_user.as_deref(),
            Some(format!("system:node:{NODE}").as_str()),
            "{c:?}"
        );
    }
    let requests = server.requests();
    assert!(!requests.is_empty());
    for r in &requests {
        assert_eq!(
            r.user.as_deref(),
            Some(format!("system:node:{NODE}").as_str()),
            "{r:?}"
        );
    }
}
