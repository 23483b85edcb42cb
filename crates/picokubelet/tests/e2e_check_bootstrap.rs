//! `picokubelet check` with the TLS bootstrap flags, end to end against the test API server
//! (bootstrap tokens, kubeadm's bootstrap RBAC, cluster-info with its JWS): a good token by
//! bootstrap kubeconfig and by discovery, and the ways it goes wrong (a wrong or expired token,
//! no bootstrap RBAC, a wrong CA hash). Nothing is written: no certificate request is sent.

use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use picokubelet_testkit::{BootstrapRbac, BootstrapToken, ServerOptions, TestApiServer};

const TOKEN_ID: &str = "abcdef";
const TOKEN_SECRET: &str = "0123456789abcdef";

async fn server_with(token: BootstrapToken) -> TestApiServer {
    let server = TestApiServer::start(ServerOptions::default())
        .await
        .unwrap();
    server.add_bootstrap_token(token);
    server
}

/// Runs `picokubelet check ARGS` off the server's threads; `kubeconfig`, if given, is written
/// to a file passed as `--bootstrap-kubeconfig`.
async fn check(kubeconfig: Option<String>, args: &[&str]) -> (Output, String) {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let output = tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_picokubelet"));
        command.arg("check").args(&args);
        if let Some(text) = kubeconfig {
            let path = dir.path().join("bootstrap-kubelet.conf");
            std::fs::write(&path, text).unwrap();
            command.arg("--bootstrap-kubeconfig").arg(&path);
        }
        command
            .env_remove("KUBECONFIG")
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    (output, stdout)
}

fn failed(report: &str) -> Vec<&str> {
    report.lines().filter(|l| l.starts_with('✗')).collect()
}

fn warned(report: &str) -> Vec<&str> {
    report.lines().filter(|l| l.starts_with("! ")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_bootstrap_kubeconfig_passes_every_check_and_sends_no_request() {
    let token = BootstrapToken::new(TOKEN_ID, TOKEN_SECRET);
    let server = server_with(token.clone()).await;
    let rv = server.resource_version();
    let (out, report) = check(
        Some(server.bootstrap_kubeconfig(&token)),
        &["--node-name", "esp-boot-01"],
    )
    .await;
    println!("{report}");
    assert!(out.status.success(), "{report}");
    assert!(failed(&report).is_empty(), "{report}");
    for expected in [
        "✓ bootstrap kubeconfig ",
        "bootstrap token id abcdef",
        "✓ server https://127.0.0.1:",
        "✓ TLS: the server's certificate chain verifies",
        "✓ clock: ",
        "✓ bootstrap token: the server knows it as system:bootstrap:abcdef (groups system:bootstrappers",
        "✓ may create certificatesigningrequests",
        "✓ may get certificatesigningrequests",
        "✓ may create certificatesigningrequests/nodeclient",
        "✓ node name esp-boot-01: the certificate will be for system:node:esp-boot-01",
        "all 9 checks passed",
    ] {
        assert!(report.contains(expected), "missing {expected:?} in\n{report}");
    }
    assert!(
        server.csr_names().is_empty(),
        "check sent a certificate request"
    );
    assert_eq!(server.resource_version(), rv, "check wrote something");
    assert!(!report.contains(TOKEN_SECRET));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_passes_with_the_right_hash_and_fails_with_another() {
    let token = BootstrapToken::new(TOKEN_ID, TOKEN_SECRET);
    let server = server_with(token.clone()).await;
    let address = server.url();
    let address = address.trim_start_matches("https://").to_owned();
    let token_text = token.token();
    let good_hash = server.ca_cert_hash();
    let (out, report) = check(
        None,
        &[
            "--bootstrap-token",
            &token_text,
            "--discovery-token-ca-cert-hash",
            &good_hash,
            "--server",
            &address,
            "--node-name",
            "esp-disc-01",
        ],
    )
    .await;
    println!("{report}");
    assert!(out.status.success(), "{report}");
    assert!(
        report.contains(
            "✓ discovery: cluster-info is signed for token id abcdef and its CA matches the hash"
        ),
        "{report}"
    );
    assert!(report.contains("✓ may create certificatesigningrequests/nodeclient"));

    let wrong = format!("sha256:{}", "0".repeat(64));
    let (out, report) = check(
        None,
        &[
            "--bootstrap-token",
            &token_text,
            "--discovery-token-ca-cert-hash",
            &wrong,
            "--server",
            &address,
        ],
    )
    .await;
    println!("{report}");
    assert_eq!(out.status.code(), Some(1), "{report}");
    let failures = failed(&report);
    assert_eq!(failures.len(), 1, "{report}");
    assert!(failures[0].starts_with("✗ discovery from "), "{report}");
    // The message names the cluster's real hash, so a mistyped one can be corrected.
    assert!(failures[0].contains(&good_hash), "{report}");
    assert!(report.contains("kubeadm token create --print-join-command"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_or_expired_token_fails_with_how_to_make_a_new_one() {
    let good = BootstrapToken::new(TOKEN_ID, TOKEN_SECRET);
    let server = server_with(good.clone()).await;
    let wrong_secret = BootstrapToken::new(TOKEN_ID, "ffffffffffffffff");
    let (out, report) = check(Some(server.bootstrap_kubeconfig(&wrong_secret)), &[]).await;
    println!("{report}");
    assert_eq!(out.status.code(), Some(1), "{report}");
    let failures = failed(&report);
    assert_eq!(failures.len(), 1, "{report}");
    assert!(
        failures[0].starts_with("✗ bootstrap token: the server rejects it (401 Unauthorized)"),
        "{report}"
    );
    assert!(report.contains("kubeadm token create --print-join-command"));
    assert!(report.contains("bootstrap-token-abcdef"));
    // Nothing is asked after a refused token.
    assert!(!report.contains("may "), "{report}");

    // A token whose expiration has passed.
    let expired = BootstrapToken::new("zyxwvu", "0123456789abcdef")
        .expiring(SystemTime::now() - Duration::from_secs(60));
    server.add_bootstrap_token(expired.clone());
    let (out, report) = check(Some(server.bootstrap_kubeconfig(&expired)), &[]).await;
    println!("{report}");
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(
        report.contains("✗ bootstrap token: the server rejects it (401 Unauthorized)"),
        "{report}"
    );
    assert!(report.contains("bootstrap-token-zyxwvu"), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_without_bootstrap_rbac_fails_with_the_manifest_to_apply() {
    let token = BootstrapToken::new(TOKEN_ID, TOKEN_SECRET);
    let server = server_with(token.clone()).await;
    server.set_bootstrap_rbac(BootstrapRbac::none());
    let (out, report) = check(Some(server.bootstrap_kubeconfig(&token)), &[]).await;
    println!("{report}");
    assert_eq!(out.status.code(), Some(1), "{report}");
    let failures = failed(&report);
    assert_eq!(failures.len(), 2, "{report}");
    assert!(failures[0].starts_with("✗ may not create certificatesigningrequests "));
    assert!(failures[1].starts_with("✗ may not get certificatesigningrequests "));
    assert_eq!(
        warned(&report),
        ["! may not create certificatesigningrequests/nodeclient (kube-controller-manager approves the request automatically): run waits for approval"],
        "{report}"
    );
    assert!(report.contains("kubectl apply -f deploy/bootstrap-rbac.yaml"));
    assert!(report.contains("kubectl certificate approve"), "{report}");
}

/// Only auto-approval missing (k3s-like; deploy/bootstrap-rbac.yaml without its nodeclient
/// binding): `run` joins once someone approves, so `check` warns with how and exits 0 — and
/// `run` does wait for the approval, then joins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_auto_approval_check_warns_with_the_approve_command_and_passes() {
    let token = BootstrapToken::new(TOKEN_ID, TOKEN_SECRET);
    let server = server_with(token.clone()).await;
    server.set_bootstrap_rbac(BootstrapRbac {
        nodeclient: Vec::new(),
        ..BootstrapRbac::deploy_manifest()
    });
    let (out, report) = check(Some(server.bootstrap_kubeconfig(&token)), &[]).await;
    println!("{report}");
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert!(failed(&report).is_empty(), "{report}");
    let warnings = warned(&report);
    assert_eq!(warnings.len(), 1, "{report}");
    assert!(warnings[0].starts_with("! may not create certificatesigningrequests/nodeclient"));
    assert!(
        report.contains("`kubectl certificate approve <csr>`"),
        "{report}"
    );
    assert!(report.contains("✓ may create certificatesigningrequests (send"));
    assert!(
        report.contains("no check failed, 1 of 9 need a person (!)"),
        "{report}"
    );
    // The cluster's approver would not approve it: the request stays pending.
    assert!(server.csr_names().is_empty(), "check sends no request");
}
