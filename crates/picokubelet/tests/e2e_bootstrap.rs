//! kubelet TLS bootstrap end to end: the real binary against the test API server (bootstrap
//! tokens, the CSR API with kube-controller-manager's approver and signer, cluster-info with
//! its JWS) over real TLS on 127.0.0.1.
//!
//! (d) from a bootstrap kubeconfig through an issued certificate to a Ready Node; the stored
//! certificate is reused on restart; without auto-approval the log says what to approve, and
//! the approval brings the Node up. (e) from a bootstrap token and the CA hash alone.

mod common;

use std::path::Path;

use common::{node_ready, Agent};
use picokubelet_testkit::{BootstrapToken, ServerOptions, TestApiServer};

const TOKEN_ID: &str = "abcdef";
const TOKEN_SECRET: &str = "0123456789abcdef";

async fn server_with_token() -> (TestApiServer, BootstrapToken) {
    let server = TestApiServer::start(ServerOptions::default())
        .await
        .unwrap();
    let token = BootstrapToken::new(TOKEN_ID, TOKEN_SECRET);
    server.add_bootstrap_token(token.clone());
    (server, token)
}

/// `run --bootstrap-kubeconfig` for `node`, certificates in `dir/pki`.
fn run_with_bootstrap_kubeconfig(dir: &Path, node: &str, log: &str) -> Agent {
    let kubeconfig = dir.join("bootstrap-kubelet.conf");
    let pki = dir.join("pki");
    Agent::spawn(
        [
            "run",
            "--bootstrap-kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--cert-dir",
            pki.to_str().unwrap(),
            "--node-name",
            node,
        ],
        dir.join(log),
    )
}

/// The requests from the first CSR request on: the CSR's, with the bootstrap token; every
/// later one as the node, with its issued certificate.
fn csr_then_node(requests: &[picokubelet_testkit::RequestRecord], node: &str) {
    let user = format!("system:node:{node}");
    let csr_requests = requests
        .iter()
        .take_while(|r| r.target.contains("certificatesigningrequests"))
        .count();
    assert!(csr_requests >= 1, "{requests:?}");
    for r in &requests[..csr_requests] {
        assert_eq!(r.user.as_deref(), Some("system:bootstrap:abcdef"), "{r:?}");
    }
    assert!(requests.len() > csr_requests);
    for r in &requests[csr_requests..] {
        assert_eq!(r.user.as_deref(), Some(user.as_str()), "{r:?}");
    }
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d_bootstrap_token_to_issued_certificate_to_ready_node_and_reuse_on_restart() {
    const NODE: &str = "esp-boot-01";
    let (server, token) = server_with_token().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bootstrap-kubelet.conf"),
        server.bootstrap_kubeconfig(&token),
    )
    .unwrap();
    let mut agent = run_with_bootstrap_kubeconfig(dir.path(), NODE, "first.log");
    agent
        .wait_for("a Ready Node", |_| node_ready(&server, NODE))
        .await;
    let log = agent.log();
    drop(agent);
    // The normal path is quiet.
    assert!(!log.contains(" WARN ") && !log.contains("ERROR"), "{log}");
    assert!(
        log.contains("the cluster issued a client certificate for system:node:esp-boot-01"),
        "{log}"
    );
    let csrs = server.csr_names();
    assert_eq!(csrs.len(), 1, "{csrs:?}");
    assert!(csrs[0].starts_with("csr-"), "{csrs:?}");
    let csr = server.csr(&csrs[0]).unwrap();
    assert_eq!(csr["spec"]["username"], "system:bootstrap:abcdef");
    assert_eq!(
        csr["spec"]["signerName"],
        "kubernetes.io/kube-apiserver-client-kubelet"
    );
    csr_then_node(&server.requests(), NODE);
    let current = dir.path().join("pki").join("kubelet-client-current.pem");
    let stored = std::fs::read_to_string(&current).unwrap();
    assert!(stored.contains("-----BEGIN CERTIFICATE-----"));
    assert!(stored.contains("-----BEGIN EC PRIVATE KEY-----"));
    assert_eq!(
        stored
            .split("-----END CERTIFICATE-----")
            .next()
            .unwrap()
            .trim(),
        server
            .issued_certificate(&csrs[0])
            .unwrap()
            .split("-----END CERTIFICATE-----")
            .next()
            .unwrap()
            .trim()
    );
    #[cfg(unix)]
    {
        assert_eq!(mode(&dir.path().join("pki")), 0o700);
        assert_eq!(mode(&std::fs::canonicalize(&current).unwrap()), 0o600);
    }

    // Restart: the stored certificate is used, no new CSR; the token is not needed any more.
    server.remove_bootstrap_token(TOKEN_ID);
    let before = server.requests().len();
    let mut agent = run_with_bootstrap_kubeconfig(dir.path(), NODE, "second.log");
    agent
        .wait_for("a renewal of the Lease with the stored certificate", |_| {
            server.requests()[before..]
                .iter()
                .any(|r| r.target.contains("/leases/") && r.status == Some(200))
        })
        .await;
    assert_eq!(server.csr_names().len(), 1);
    let log = agent.log();
    assert!(
        log.contains("the certificate directory holds a valid certificate for esp-boot-01"),
        "{log}"
    );
    for r in &server.requests()[before..] {
        assert_eq!(r.user.as_deref(), Some("system:node:esp-boot-01"), "{r:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d_without_auto_approval_the_log_says_what_to_approve_and_approval_brings_it_up() {
    const NODE: &str = "esp-boot-02";
    let (server, token) = server_with_token().await;
    server.set_csr_auto_approval(false);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bootstrap-kubelet.conf"),
        server.bootstrap_kubeconfig(&token),
    )
    .unwrap();
    let mut agent = run_with_bootstrap_kubeconfig(dir.path(), NODE, "run.log");
    agent
        .wait_for("the approval hint", |log| {
            log.contains("kubectl certificate approve csr-")
        })
        .await;
    let csrs = server.csr_names();
    assert_eq!(csrs.len(), 1, "{csrs:?}");
    let log = agent.log();
    assert!(
        log.contains(&format!(
            "Approve it with `kubectl certificate approve {}`",
            csrs[0]
        )),
        "{log}"
    );
    assert!(server.node(NODE).is_none());
    assert!(server.approve_csr(&csrs[0]));
    agent
        .wait_for("a Ready Node after the approval", |_| {
            node_ready(&server, NODE)
        })
        .await;
    assert_eq!(
        agent.log().matches("kubectl certificate approve").count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d_a_denied_request_stops_with_a_sentence() {
    const NODE: &str = "esp-boot-03";
    let (server, token) = server_with_token().await;
    server.set_csr_auto_approval(false);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bootstrap-kubelet.conf"),
        server.bootstrap_kubeconfig(&token),
    )
    .unwrap();
    let mut agent = run_with_bootstrap_kubeconfig(dir.path(), NODE, "run.log");
    agent
        .wait_for("the certificate request", |_| {
            !server.csr_names().is_empty()
        })
        .await;
    assert!(server.deny_csr(&server.csr_names()[0]));
    let (status, log) = agent.exit();
    assert_eq!(status.code(), Some(1));
    assert!(log.contains("was denied"), "{log}");
}

fn run_with_discovery(dir: &Path, server: &TestApiServer, hash: &str, node: &str) -> Agent {
    let pki = dir.join("pki");
    let address = server.url();
    Agent::spawn(
        [
            "run",
            "--bootstrap-token",
            &format!("{TOKEN_ID}.{TOKEN_SECRET}"),
            "--discovery-token-ca-cert-hash",
            hash,
            "--server",
            address.trim_start_matches("https://"),
            "--cert-dir",
            pki.to_str().unwrap(),
            "--node-name",
            node,
        ],
        dir.join("run.log"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e_bootstrap_token_and_ca_hash_alone_to_ready_node() {
    const NODE: &str = "esp-disc-01";
    let (server, _) = server_with_token().await;
    let dir = tempfile::tempdir().unwrap();
    let mut agent = run_with_discovery(dir.path(), &server, &server.ca_cert_hash(), NODE);
    agent
        .wait_for("a Ready Node", |_| node_ready(&server, NODE))
        .await;
    let log = agent.log();
    assert!(
        log.contains("discovered the cluster from cluster-info"),
        "{log}"
    );
    // The first request is the anonymous cluster-info read.
    let first = &server.requests()[0];
    assert_eq!(
        first.target,
        "/api/v1/namespaces/kube-public/configmaps/cluster-info"
    );
    assert_eq!(first.user.as_deref(), Some("system:anonymous"));
    csr_then_node(&server.requests()[1..], NODE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e_a_wrong_ca_hash_is_refused_with_the_right_one_named() {
    let (server, _) = server_with_token().await;
    let dir = tempfile::tempdir().unwrap();
    let wrong = format!("sha256:{}", "0".repeat(64));
    let agent = run_with_discovery(dir.path(), &server, &wrong, "esp-disc-02");
    let (status, log) = agent.exit();
    assert!(!status.success());
    assert!(
        log.contains(&format!(
            "the cluster's CA has the public-key hash {}, not the --discovery-token-ca-cert-hash given",
            server.ca_cert_hash()
        )),
        "{log}"
    );
    assert!(server.csr_names().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d_without_bootstrap_rbac_the_403_points_at_the_manifest() {
    let (server, token) = server_with_token().await;
    server.set_bootstrap_rbac(picokubelet_testkit::BootstrapRbac::none());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bootstrap-kubelet.conf"),
        server.bootstrap_kubeconfig(&token),
    )
    .unwrap();
    let (status, log) = run_with_bootstrap_kubeconfig(dir.path(), "esp-boot-04", "run.log").exit();
    assert!(!status.success());
    assert!(
        log.contains("refused the certificate request (403)")
            && log.contains("kubectl apply -f deploy/bootstrap-rbac.yaml"),
        "{log}"
    );
}

fn picokubelet(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_picokubelet"))
        .args(args)
        .env_remove("KUBECONFIG")
        .env("RUST_LOG", "info")
        .output()
        .unwrap()
}

#[test]
fn bootstrap_flags_are_checked_before_anything_connects() {
    let bad_token = picokubelet(&[
        "run",
        "--bootstrap-token",
        "abcdef.short",
        "--discovery-token-ca-cert-hash",
        "sha256:00",
        "--server",
        "127.0.0.1:1",
    ]);
    assert_eq!(bad_token.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad_token.stderr);
    assert!(
        err.contains("a bootstrap token is 6 and 16 characters"),
        "{err}"
    );
    let no_hash = picokubelet(&["run", "--bootstrap-token", "abcdef.0123456789abcdef"]);
    assert_eq!(no_hash.status.code(), Some(2));
    let err = String::from_utf8_lossy(&no_hash.stderr);
    assert!(err.contains("--discovery-token-ca-cert-hash"), "{err}");
    let bad_hash = picokubelet(&[
        "run",
        "--bootstrap-token",
        "abcdef.0123456789abcdef",
        "--discovery-token-ca-cert-hash",
        "sha256:00",
        "--server",
        "127.0.0.1:1",
    ]);
    assert_eq!(bad_hash.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad_hash.stderr);
    assert!(
        err.contains("a CA hash is `sha256:` and 64 hex digits"),
        "{err}"
    );
    // check takes the bootstrap flags: a missing file is a failed check, not a usage error.
    let check = picokubelet(&["check", "--bootstrap-kubeconfig", "/nonexistent"]);
    assert_eq!(check.status.code(), Some(1));
    let out = String::from_utf8_lossy(&check.stdout);
    assert!(out.contains("✗ bootstrap kubeconfig /nonexistent"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_reads_the_bootstrap_kubeconfig_and_sends_nothing() {
    let (server, token) = server_with_token().await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("bootstrap-kubelet.conf");
    std::fs::write(&kubeconfig, server.bootstrap_kubeconfig(&token)).unwrap();
    let pki = dir.path().join("pki");
    let out = tokio::task::spawn_blocking({
        let (kubeconfig, pki) = (kubeconfig.clone(), pki.clone());
        move || {
            picokubelet(&[
                "run",
                "--dry-run",
                "--bootstrap-kubeconfig",
                kubeconfig.to_str().unwrap(),
                "--cert-dir",
                pki.to_str().unwrap(),
                "--node-name",
                "esp-dry-01",
            ])
        }
    })
    .await
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("TLS bootstrap would keep the certificate for esp-dry-01"),
        "{err}"
    );
    assert!(!pki.exists());
    assert!(server.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d_a_certificate_past_its_renewal_point_is_renewed_while_the_node_runs() {
    const NODE: &str = "esp-boot-05";
    let (server, token) = server_with_token().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bootstrap-kubelet.conf"),
        server.bootstrap_kubeconfig(&token),
    )
    .unwrap();
    // A certificate from the cluster's client CA, 90 % through its 10-hour life.
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let now = std::time::SystemTime::now();
    let hour = std::time::Duration::from_secs(3600);
    let old = server
        .issue_client_cert_for(
            &rcgen::PublicKeyData::subject_public_key_info(&key),
            &format!("system:node:{NODE}"),
            &["system:nodes"],
            now - 9 * hour,
            now + hour,
        )
        .unwrap();
    let pki = dir.path().join("pki");
    std::fs::create_dir_all(&pki).unwrap();
    std::fs::write(
        pki.join("kubelet-client-current.pem"),
        format!("{}{}", old.pem, key.serialize_pem()),
    )
    .unwrap();

    let mut agent = run_with_bootstrap_kubeconfig(dir.path(), NODE, "run.log");
    agent
        .wait_for("the agent restarted with the renewed certificate", |log| {
            log.matches("using the node's client certificate").count() >= 2
        })
        .await;
    agent
        .wait_for("a Ready Node", |_| node_ready(&server, NODE))
        .await;
    let log = agent.log();
    assert!(
        log.contains("renewing the node's client certificate"),
        "{log}"
    );
    // One CSR, asked for with the old certificate (selfnodeclient), not the token.
    let csrs = server.csr_names();
    assert_eq!(csrs.len(), 1, "{csrs:?}");
    assert_eq!(
        server.csr(&csrs[0]).unwrap()["spec"]["username"],
        format!("system:node:{NODE}")
    );
    let stored = std::fs::read_to_string(pki.join("kubelet-client-current.pem")).unwrap();
    assert!(
        !stored.contains(old.pem.trim()),
        "still the old certificate"
    );
    // The Node was registered before the renewal (with the old certificate) and is still there.
    assert!(log.contains("registered the Node"), "{log}");
}
