//! `provision --mint-bootstrap-token` from an exec-plugin kubeconfig (as EKS, GKE and AKS hand
//! out): the real binary runs the plugin (a shell script the test writes), creates the
//! bootstrap-token Secret with its credentials on the test API server, and writes a record with
//! the token (tag 0x11) and the CA's hash (tag 0x12). The minted token then joins: `run` with
//! that token and that hash alone (as a board does with the record) discovers the cluster, gets
//! its own certificate and the Node gets Ready.
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use common::{node_ready, Agent};
use picokubelet_core::provision::{parse, RecordTrust};
use picokubelet_core::tls::pin::CaPin;
use picokubelet_testkit::{ServerOptions, TestApiServer};

/// Writes a plugin printing `token` (and counting its runs in `dir/runs`) and a kubeconfig for
/// `server` that runs it; returns the kubeconfig's path.
fn exec_kubeconfig(server: &TestApiServer, dir: &Path, token: &str) -> PathBuf {
    std::fs::write(dir.join("token"), token).unwrap();
    let plugin = dir.join("get-token.sh");
    // Run through /bin/sh: exec'ing a file this process just wrote can race with other
    // threads' forks ("Text file busy").
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
         command: /bin/sh\n      args: [{}]\n      interactiveMode: Never\n",
        server.url(),
        base64::engine::general_purpose::STANDARD.encode(server.ca_pem()),
        plugin.display(),
    );
    let path = dir.join("kubeconfig");
    std::fs::write(&path, kubeconfig).unwrap();
    path
}

fn provision(dir: &Path, kubeconfig: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_picokubelet"))
        .arg("provision")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["--mint-bootstrap-token", "--api-host", "192.168.7.2"])
        .args(extra)
        .arg("--out")
        .arg(dir.join("pk.bin"))
        .env_remove("KUBECONFIG")
        .env_remove("PK_WIFI_PASSWORD")
        .env("HOME", dir)
        .env("RUST_LOG", "info")
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exec_kubeconfig_mints_a_fleet_token_that_joins_a_board_with_the_record_alone() {
    let server = TestApiServer::start(ServerOptions::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = exec_kubeconfig(&server, dir.path(), &server.admin_token());
    let before = SystemTime::now();
    let out = provision(dir.path(), &kubeconfig, &["--token-ttl", "2h"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("runs"))
            .unwrap()
            .trim(),
        "1",
        "the plugin ran once"
    );

    // The record: the minted token, the CA's hash, nothing of the plugin's credentials.
    let image = std::fs::read(dir.path().join("pk.bin")).unwrap();
    let record = parse(&image).unwrap();
    let token = record
        .bootstrap_token
        .expect("a bootstrap token")
        .expose()
        .to_owned();
    assert_eq!(record.token, None);
    assert_eq!(record.node_name, None, "one record for every board");
    assert_eq!(record.host, "192.168.7.2");
    let pin = CaPin::of_certificate(&server.ca_der()).unwrap();
    assert_eq!(record.trust, RecordTrust::Discovery(pin));
    assert_eq!(server.ca_cert_hash(), pin.to_string());

    // The Secret on the server is kubeadm's.
    let (id, secret) = token.split_once('.').unwrap();
    let held = server.bootstrap_token(id).expect("the Secret was created");
    assert_eq!(held.secret, secret);
    assert!(held.authentication && held.signing);
    assert_eq!(
        held.extra_groups,
        ["system:bootstrappers:kubeadm:default-node-token"]
    );
    let expires = held.expiration.expect("an expiration");
    let two_hours = Duration::from_secs(7200);
    assert!(expires >= before + two_hours - Duration::from_secs(1));
    assert!(expires <= SystemTime::now() + two_hours);
    let create = server
        .requests()
        .into_iter()
        .find(|r| r.target == "/api/v1/namespaces/kube-system/secrets")
        .expect("the Secret create");
    assert_eq!((create.method.as_str(), create.status), ("POST", Some(201)));
    assert_eq!(create.user.as_deref(), Some("system:admin"));

    let text = stderr(&out);
    assert!(
        !text.contains(secret),
        "the secret is never printed:\n{text}"
    );
    assert!(!text.contains(&server.admin_token()), "{text}");
    assert!(
        text.contains(&format!("minted bootstrap token {id}.<secret>")),
        "{text}"
    );

    // A board with this record: the token and the hash alone, through discovery, to a Ready
    // Node with its own certificate.
    const NODE: &str = "esp32c6-minted-01";
    let pki = dir.path().join("pki");
    let mut agent = Agent::spawn(
        [
            "run",
            "--bootstrap-token",
            &token,
            "--discovery-token-ca-cert-hash",
            &pin.to_string(),
            "--server",
            server.url().trim_start_matches("https://"),
            "--cert-dir",
            pki.to_str().unwrap(),
            "--node-name",
            NODE,
        ],
        dir.path().join("run.log"),
    );
    agent
        .wait_for("a Ready Node", |_| node_ready(&server, NODE))
        .await;
    let csr = server.csr_names();
    assert_eq!(csr.len(), 1);
    assert_eq!(
        server.csr(&csr[0]).unwrap()["spec"]["username"],
        format!("system:bootstrap:{id}")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_who_may_not_create_secrets_is_told_what_to_do_and_nothing_is_written() {
    let server = TestApiServer::start(ServerOptions::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = exec_kubeconfig(&server, dir.path(), &server.node_token("esp-node-01"));
    let out = provision(dir.path(), &kubeconfig, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let text = stderr(&out);
    assert!(
        text.contains("may not create Secrets in kube-system")
            && text.contains("--bootstrap-token-file"),
        "{text}"
    );
    assert!(!dir.path().join("pk.bin").exists());
}
