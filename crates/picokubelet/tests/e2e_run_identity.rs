//! `picokubelet run` asks the server who its credentials are before it starts: a node identity
//! names the node when `--node-name` is not given, and a `--node-name` it may not use is refused
//! with the name to use (the real binary against the test server over TLS on 127.0.0.1).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use picokubelet_testkit::{ServerOptions, TestApiServer};

fn kubeconfig_file(
    dir: &tempfile::TempDir,
    server: &TestApiServer,
    token: &str,
) -> std::path::PathBuf {
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, server.kubeconfig(token)).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_node_name_the_node_identity_names_the_node() {
    let server = TestApiServer::start(ServerOptions::default())
        .await
        .unwrap();
    let token = server.node_token("esp-id-01");
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = kubeconfig_file(&dir, &server, &token);
    let err_path = dir.path().join("stderr");
    let mut child = Command::new(env!("CARGO_BIN_EXE_picokubelet"))
        .args(["run", "--kubeconfig"])
        .arg(&kubeconfig)
        .env("RUST_LOG", "info")
        .env_remove("KUBECONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&err_path).unwrap()))
        .spawn()
        .unwrap();
    // Polls for the outcome (a generous bound for a loaded machine; nothing is timed).
    let start = Instant::now();
    while server.lease("esp-id-01").is_none() {
        if let Some(exit) = child.try_wait().unwrap() {
            panic!(
                "run exited ({exit:?}):\n{}",
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no Node esp-id-01:\n{}",
            std::fs::read_to_string(&err_path).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let log = std::fs::read_to_string(&err_path).unwrap();
    assert!(
        log.contains("node name \"esp-id-01\": taken from the credentials' node identity"),
        "{log}"
    );
    // The normal path is quiet: no warnings, and the first boot's 404 on the Lease read is the
    // protocol, not a refusal.
    assert!(!log.contains(" WARN ") && !log.contains("ERROR"), "{log}");
    assert!(!log.contains("not found"), "{log}");
    assert!(log.contains("registered the Node (uid "), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_name_the_identity_may_not_use_is_refused_with_the_name_to_use() {
    let server = TestApiServer::start(ServerOptions::default())
        .await
        .unwrap();
    let token = server.node_token("esp-test-01");
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = kubeconfig_file(&dir, &server, &token);
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_picokubelet"))
            .args(["run", "--kubeconfig"])
            .arg(&kubeconfig)
            .args(["--node-name", "vb-demo"])
            .env("RUST_LOG", "warn")
            .env_remove("KUBECONFIG")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(
        "picokubelet: node name \"vb-demo\" does not match the credentials' identity system:node:esp-test-01"
    ), "{stderr}");
    assert!(
        stderr.contains("use --node-name esp-test-01 or leave --node-name out"),
        "{stderr}"
    );
    assert!(server.node("vb-demo").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_refuses_a_node_identity() {
    let server = TestApiServer::start(ServerOptions::default())
        .await
        .unwrap();
    let token = server.node_token("vb-fleet-1");
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = kubeconfig_file(&dir, &server, &token);
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_picokubelet"))
            .args([
                "fleet",
                "--count",
                "3",
                "--node-name",
                "vb-fleet",
                "--kubeconfig",
            ])
            .arg(&kubeconfig)
            .env("RUST_LOG", "warn")
            .env_remove("KUBECONFIG")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("its credentials are the node identity system:node:vb-fleet-1"),
        "{stderr}"
    );
    assert!(server.node("vb-fleet-1").is_none());
}
