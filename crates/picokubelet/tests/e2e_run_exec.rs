//! `picokubelet run` with a kubeconfig whose user is an exec credential plugin (as EKS, GKE and
//! AKS hand out): the real binary runs the plugin (a shell script the test writes), sends the
//! token it printed, and the Node gets Ready on the test API server over real TLS on 127.0.0.1;
//! when the cluster revokes that token, the 401 makes it run the plugin again and the running
//! agent carries on with the new token.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use picokubelet_testkit::{ServerOptions, TestApiServer};

const NODE: &str = "esp-exec-01";

/// Writes the plugin (prints the token in `dir/token`, counts its runs in `dir/runs`) and a
/// kubeconfig for `server` that runs it; returns the kubeconfig's path.
fn exec_setup(server: &TestApiServer, dir: &Path) -> PathBuf {
    // Run through /bin/sh: exec'ing a file this process just wrote can race with other
    // threads' forks ("Text file busy").
    let plugin = dir.join("get-token.sh");
    std::fs::write(
        &plugin,
        "d=\"$(dirname \"$0\")\"\n\
         echo $(( $(cat \"$d/runs\" 2>/dev/null || echo 0) + 1 )) > \"$d/runs\"\n\
         printf '{\"kind\":\"ExecCredential\",\"apiVersion\":\"client.authentication.k8s.io/v1\",\
         \"status\":{\"token\":\"%s\",\"expirationTimestamp\":\"2099-01-01T00:00:00Z\"}}' \
         \"$(cat \"$d/token\")\"\n",
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
    let path = dir.join("kubeconfig");
    std::fs::write(&path, kubeconfig).unwrap();
    path
}

fn start_run(kubeconfig: &Path, err_path: &Path, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_picokubelet"))
        .args(["run", "--kubeconfig"])
        .arg(kubeconfig)
        .args(extra)
        .env("RUST_LOG", "info")
        .env_remove("KUBECONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(err_path).unwrap()))
        .spawn()
        .unwrap()
}

/// Polls `done` (a generous bound for a loaded machine; nothing is timed), failing with the
/// log when `run` exits or the bound passes.
async fn wait_for(
    what: &str,
    child: &mut Child,
    err_path: &Path,
    bound: Duration,
    mut done: impl FnMut() -> bool,
) {
    let start = Instant::now();
    while !done() {
        if let Some(exit) = child.try_wait().unwrap() {
            panic!(
                "run exited ({exit:?}):\n{}",
                std::fs::read_to_string(err_path).unwrap_or_default()
            );
        }
        assert!(
            start.elapsed() < bound,
            "{what}:\n{}",
            std::fs::read_to_string(err_path).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn ready(s: &TestApiServer) -> bool {
    s.node(NODE).is_some_and(|n| {
        n["status"]["conditions"].as_array().is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_with_an_exec_plugin_joins_and_the_node_gets_ready() {
    let server = TestApiServer::start(ServerOptions::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let token = server.node_token(NODE);
    std::fs::write(dir.path().join("token"), &token).unwrap();
    let kubeconfig = exec_setup(&server, dir.path());
    let err_path = dir.path().join("stderr");
    let mut child = start_run(&kubeconfig, &err_path, &[]);
    wait_for(
        "no Ready Node",
        &mut child,
        &err_path,
        Duration::from_secs(60),
        || ready(&server),
    )
    .await;
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

/// The plugin's token is revoked while the agent runs: the 401 makes the agent's cache run the
/// plugin again, and the running agent (not restarted) renews with the new token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_exec_token_is_refreshed_after_the_401_without_a_restart() {
    let server = TestApiServer::start(ServerOptions::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let first = server.node_token(NODE);
    std::fs::write(dir.path().join("token"), &first).unwrap();
    let kubeconfig = exec_setup(&server, dir.path());
    let err_path = dir.path().join("stderr");
    let mut child = start_run(&kubeconfig, &err_path, &["--lease-renew-interval", "2s"]);
    wait_for(
        "no Ready Node",
        &mut child,
        &err_path,
        Duration::from_secs(60),
        || ready(&server),
    )
    .await;
    // The cluster rotates the credential: a second token for the same node, the first revoked.
    let second = "rotated-exec-token-0123456789abcdef";
    server.add_token(second, &format!("system:node:{NODE}"), &["system:nodes"]);
    std::fs::write(dir.path().join("token"), second).unwrap();
    let revoked_at = SystemTime::now();
    server.revoke_token(&first);
    let renewed_after_refresh = || {
        let requests = server.requests();
        let after: Vec<_> = requests.iter().filter(|r| r.at > revoked_at).collect();
        let refused = after.iter().position(|r| r.status == Some(401));
        refused.is_some_and(|i| {
            after[i..].iter().any(|r| {
                r.method == "PATCH" && r.target.contains("/leases/") && r.status == Some(200)
            })
        })
    };
    wait_for(
        "no renewal with the refreshed token",
        &mut child,
        &err_path,
        Duration::from_secs(90),
        renewed_after_refresh,
    )
    .await;
    child.kill().unwrap();
    child.wait().unwrap();
    let runs: u32 = std::fs::read_to_string(dir.path().join("runs"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(runs >= 2, "the plugin ran again ({runs} runs)");
    let log = std::fs::read_to_string(&err_path).unwrap();
    assert!(log.contains("exec plugin: new credential"), "{log}");
    assert!(
        !log.contains(&first) && !log.contains(second),
        "no token in the log:\n{log}"
    );
}

/// The plugin hands out a client certificate and, when that one is about to expire, another
/// one: the running agent (not restarted) presents the new one from its next connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_exec_client_certificate_is_used_from_the_next_connection() {
    let server = TestApiServer::start(ServerOptions::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Two users the server tells apart (both admins, so the Node's name is free).
    let first = server.issue_client_cert("exec-a", &["system:masters"]);
    let second = server.issue_client_cert("exec-b", &["system:masters"]);
    let answer = |cert: &picokubelet_testkit::ClientCert, expires: SystemTime| {
        let json = serde_json::json!({
            "kind": "ExecCredential",
            "apiVersion": "client.authentication.k8s.io/v1",
            "status": {
                "clientCertificateData": cert.cert_pem,
                "clientKeyData": cert.key_pem,
                "expirationTimestamp": humantime::format_rfc3339_seconds(expires).to_string(),
            }
        });
        std::fs::write(dir.path().join("answer.json"), json.to_string()).unwrap();
    };
    // The first expires at once: the cache renews it as soon as the plugin may run again.
    answer(&first, SystemTime::now() + Duration::from_secs(2));
    let plugin = dir.path().join("get-cert.sh");
    std::fs::write(&plugin, "cat \"$(dirname \"$0\")/answer.json\"\n").unwrap();
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n\
         clusters:\n- name: k\n  cluster:\n    server: {}\n    certificate-authority-data: {}\n\
         contexts:\n- name: c\n  context:\n    cluster: k\n    user: gke\n\
         users:\n- name: gke\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      \
         command: /bin/sh\n      args: [{}]\n      interactiveMode: Never\n",
        server.url(),
        base64::engine::general_purpose::STANDARD.encode(server.ca_pem()),
        plugin.display(),
    );
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, kubeconfig).unwrap();
    let err_path = dir.path().join("stderr");
    let mut child = start_run(
        &path,
        &err_path,
        &["--node-name", NODE, "--lease-renew-interval", "1s"],
    );
    wait_for(
        "no Ready Node",
        &mut child,
        &err_path,
        Duration::from_secs(60),
        || ready(&server),
    )
    .await;
    answer(&second, SystemTime::now() + Duration::from_secs(3600));
    wait_for(
        "no renewed certificate",
        &mut child,
        &err_path,
        Duration::from_secs(60),
        || {
            std::fs::read_to_string(&err_path)
                .unwrap_or_default()
                .contains("the exec plugin returned a new client certificate")
        },
    )
    .await;
    // Until the session ends, it is the first certificate's; the next one is the second's.
    let before = server.requests().len();
    server.drop_connections();
    wait_for(
        "no request with the renewed certificate",
        &mut child,
        &err_path,
        Duration::from_secs(60),
        || {
            server.requests()[before..]
                .iter()
                .any(|r| r.user.as_deref() == Some("exec-b") && r.status == Some(200))
        },
    )
    .await;
    child.kill().unwrap();
    child.wait().unwrap();
    let requests = server.requests();
    let first_b = requests
        .iter()
        .position(|r| r.user.as_deref() == Some("exec-b"))
        .unwrap();
    assert!(requests[..first_b]
        .iter()
        .any(|r| r.user.as_deref() == Some("exec-a")));
    let log = std::fs::read_to_string(&err_path).unwrap();
    assert!(!log.contains("restart"), "{log}");
}
