//! `picokubelet run` with a kubeconfig whose user is an exec credential plugin (as EKS, GKE and
//! AKS hand out): the real binary runs the plugin (a shell script the test writes), sends the
//! token it printed, and the Node gets Ready on the test API server over real TLS on 127.0.0.1.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use picokubelet_testkit::{ServerOptions, TestApiServer};

const NODE: &str = "esp-exec-01";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_with_an_exec_plugin_joins_and_the_node_gets_ready() {
    let server = TestApiServer::start(ServerOptions::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let token = server.node_token(NODE);
    std::fs::write(dir.path().join("token"), &token).unwrap();
    // Run through /bin/sh: exec'ing a file this process just wrote can race with other
    // threads' forks ("Text file busy").
    let plugin = dir.path().join("get-token.sh");
    std::fs::write(
        &plugin,
        "printf '{\"kind\":\"ExecCredential\",\"apiVersion\":\"client.authentication.k8s.io/v1\",\
         \"status\":{\"token\":\"%s\",\"expirationTimestamp\":\"2099-01-01T00:00:00Z\"}}' \
         \"$(cat \"$(dirname \"$0\")/token\")\"\n",
    )
    .unwrap();
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n\
         clusters:\n- name: k\n  cluster:\n    server: {}\n    certificate-authority-data: {}\n\
         contexts:\n- name: c\n  context:\n    cluster: k\n    user: eks\n\
         users:\n- name: eks\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      \
         command: /bin/sh\n      args: [{}]\n      interactiveMode: IfAvailable\n      provideClusterInfo: true\n",
        server.url(),
        base64::engine::general_purpose::STANDARD.encode(server.ca_pem()),
        plugin.display(),
    );
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, kubeconfig).unwrap();
    let err_path = dir.path().join("stderr");
    let mut child = Command::new(env!("CARGO_BIN_EXE_picokubelet"))
        .args(["run", "--kubeconfig"])
        .arg(&path)
        .env("RUST_LOG", "info")
        .env_remove("KUBECONFIG")
        .stdin(Stdio::null())
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
    while !ready(&server) {
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
    assert!(!log.contains(&token), "the token is never logged:\n{log}");
    assert!(!log.contains(" WARN ") && !log.contains("ERROR"), "{log}");
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
