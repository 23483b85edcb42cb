//! `picokubelet run` end to end: the real binary against the Kubernetes API test server over
//! real TLS on 127.0.0.1, through a server restart, stopped by SIGTERM.
mod agent_process;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use picokubelet_testkit::{ServerOptions, TestApiServer};

const NODE: &str = "esp-node-01";

fn renewals(server: &TestApiServer) -> usize {
    agent_process::renewals_after(server, NODE, 0)
}

/// Polls `done` every 100 ms until it holds; fails after `limit` (a generous bound for a loaded
/// machine: this waits for an outcome, it does not time anything).
async fn wait_for(
    what: &str,
    log: &std::path::Path,
    limit: Duration,
    mut done: impl FnMut() -> bool,
) {
    let start = Instant::now();
    while !done() {
        if start.elapsed() > limit {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            panic!("gave up waiting for {what}; the agent said:\n{log}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_registers_renews_survives_a_restart_and_stops_on_sigterm() {
    let server = TestApiServer::start(ServerOptions::default())
        .await
        .unwrap();
    let token = server.node_token(NODE);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, server.kubeconfig(&token)).unwrap();
    let out_path = dir.path().join("stdout");
    let err_path = dir.path().join("stderr");

    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_picokubelet"))
        .args(["run", "--kubeconfig"])
        .arg(&kubeconfig)
        .args([
            "--node-name",
            NODE,
            "--lease-renew-interval",
            "1s",
            "--status-interval",
            "3s",
        ])
        .env("RUST_LOG", "debug")
        .env_remove("KUBECONFIG")
        .stdout(Stdio::from(std::fs::File::create(&out_path).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(&err_path).unwrap()))
        .spawn()
        .unwrap();

    let limit = Duration::from_secs(60);
    let ready = |s: &TestApiServer| {
        s.node(NODE).is_some_and(|n| {
            n["status"]["conditions"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
        })
    };
    wait_for("the Node to be Ready", &err_path, limit, || ready(&server)).await;
    println!("Node Ready {:?} after the start", started.elapsed());
    let node = server.node(NODE).unwrap();
    assert_eq!(node["metadata"]["labels"]["kubernetes.io/hostname"], NODE);
    assert!(node["spec"]["taints"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["key"] == "picokubelet.dev/microcontroller" && t["effect"] == "NoSchedule"));
    assert!(!node["status"]["nodeInfo"]["bootID"]
        .as_str()
        .unwrap()
        .is_empty());
    assert!(node["status"]["nodeInfo"]["kubeletVersion"].is_string());

    wait_for("three renewals", &err_path, limit, || {
        renewals(&server) >= 3
    })
    .await;

    server.restart(true).await.unwrap();
    let before = renewals(&server);
    wait_for("renewals after the restart", &err_path, limit, || {
        renewals(&server) >= before + 3
    })
    .await;
    assert!(ready(&server));

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let start = Instant::now();
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(start.elapsed() < limit, "the agent did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let stdout = std::fs::read_to_string(&out_path).unwrap();
    let stderr = std::fs::read_to_string(&err_path).unwrap();
    assert!(exit.success(), "{exit:?}\n{stderr}");
    assert!(
        !stdout.contains(&token) && !stderr.contains(&token),
        "token in the output"
    );
    assert!(stderr.contains("stopping"), "{stderr}");
}
