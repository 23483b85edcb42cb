//! Exec credential plugins: a fake plugin (a shell script the test writes) answers with a
//! token or a client certificate; the cache refreshes before expiry (a moved clock, no sleeps)
//! and after a 401; every failure is a sentence.
mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use common::{ca_data, parse_in};
use picokubelet::kubeconfig::exec_cache::{WallClock, MIN_RUN_INTERVAL};
use picokubelet::kubeconfig::{
    ExecError, ExecTokens, KubeconfigError, PemSource, ResolveOptions, ResolvedConfig, TokenSource,
};
use picokubelet_core::client::TokenSource as _;

/// A plugin that prints `token-<n>` (n counts its runs, in `dir/runs`), expiring at the
/// RFC 3339 time in `dir/expires` (none when the file is absent), and records its arguments,
/// `MY_REGION` and `KUBERNETES_EXEC_INFO` in `dir/seen`.
const COUNTING_PLUGIN: &str = r#"
d="$(dirname "$0")"
n=$(( $(cat "$d/runs" 2>/dev/null || echo 0) + 1 ))
echo $n > "$d/runs"
printf 'args=%s\nregion=%s\ninfo=%s\n' "$*" "$MY_REGION" "$KUBERNETES_EXEC_INFO" > "$d/seen"
exp=""
[ -f "$d/expires" ] && exp=",\"expirationTimestamp\":\"$(cat "$d/expires")\""
printf '{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","status":{"token":"token-%s"%s}}' $n "$exp"
"#;

/// Writes `script` as `dir/plugin.sh`; the kubeconfig runs it through `/bin/sh` (exec'ing a
/// file this process just wrote races with other tests' forks: "Text file busy").
fn plugin(dir: &Path, script: &str) -> PathBuf {
    let path = dir.join("plugin.sh");
    std::fs::write(&path, script).unwrap();
    path
}

/// A kubeconfig whose user runs `script` with `extra` lines in its exec section.
fn exec_kubeconfig(dir: &Path, script: &str, extra: &str) -> String {
    let path = plugin(dir, script);
    format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n\
         contexts:\n- name: c\n  context:\n    cluster: k\n    user: u\n\
         clusters:\n- name: k\n  cluster:\n    server: https://10.0.0.1:6443\n    certificate-authority-data: {}\n\
         users:\n- name: u\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      \
         command: /bin/sh\n      args: [{}, --cluster, eks-1]\n      interactiveMode: Never\n{extra}",
        ca_data(),
        path.display(),
    )
}

fn resolve(dir: &Path, yaml: &str) -> Result<ResolvedConfig, KubeconfigError> {
    parse_in(dir, yaml)?.resolve(&ResolveOptions::default())
}

/// A wall clock the test moves.
fn manual_clock(start: SystemTime) -> (Arc<Mutex<SystemTime>>, WallClock) {
    let now = Arc::new(Mutex::new(start));
    let read = now.clone();
    (now, Arc::new(move || *read.lock().unwrap()))
}

fn token_now(tokens: &ExecTokens) -> String {
    let mut out = String::new();
    tokens.with_token(&mut |t| out = t.map(|t| t.expose().to_owned()).unwrap_or_default());
    out
}

#[test]
fn a_token_plugin_runs_with_its_args_env_and_exec_info() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = exec_kubeconfig(
        dir.path(),
        COUNTING_PLUGIN,
        "      env:\n      - name: MY_REGION\n        value: eu-west-1\n      provideClusterInfo: true\n",
    );
    let expires = "2031-01-02T03:04:05Z";
    std::fs::write(dir.path().join("expires"), expires).unwrap();
    let resolved = resolve(dir.path(), &yaml).unwrap();
    let creds = &resolved.credentials;
    assert_eq!(creds.token.expose(), "token-1");
    assert_eq!(creds.bearer_token().map(|t| t.expose()), Some("token-1"));
    assert!(creds.client_certificate.is_none());
    let exec = creds.exec().expect("an exec source");
    assert_eq!(
        exec.first.expires,
        Some(humantime::parse_rfc3339(expires).unwrap())
    );
    // The token never shows in Debug (the log prints the source).
    let shown = format!("{:?} {:?}", creds, resolved);
    assert!(!shown.contains("token-1"), "{shown}");

    let seen = std::fs::read_to_string(dir.path().join("seen")).unwrap();
    assert!(seen.contains("args=--cluster eks-1\n"), "{seen}");
    assert!(seen.contains("region=eu-west-1\n"), "{seen}");
    let info = seen.lines().find_map(|l| l.strip_prefix("info=")).unwrap();
    let info: serde_json::Value = serde_json::from_str(info).unwrap();
    assert_eq!(info["kind"], "ExecCredential");
    assert_eq!(info["apiVersion"], "client.authentication.k8s.io/v1");
    assert_eq!(info["spec"]["interactive"], false, "Never: no terminal");
    assert_eq!(info["spec"]["cluster"]["server"], "https://10.0.0.1:6443");
    assert_eq!(
        info["spec"]["cluster"]["certificate-authority-data"],
        ca_data()
    );
}

#[test]
fn without_provide_cluster_info_the_plugin_hears_no_cluster() {
    let dir = tempfile::tempdir().unwrap();
    resolve(
        dir.path(),
        &exec_kubeconfig(dir.path(), COUNTING_PLUGIN, ""),
    )
    .unwrap();
    let seen = std::fs::read_to_string(dir.path().join("seen")).unwrap();
    let info = seen.lines().find_map(|l| l.strip_prefix("info=")).unwrap();
    let info: serde_json::Value = serde_json::from_str(info).unwrap();
    assert!(info["spec"].get("cluster").is_none(), "{info}");
}

#[test]
fn a_certificate_plugin_gives_the_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["exec-user".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let json = serde_json::json!({
        "kind": "ExecCredential",
        "apiVersion": "client.authentication.k8s.io/v1",
        "status": {
            "clientCertificateData": cert.pem(),
            "clientKeyData": key.serialize_pem(),
            "expirationTimestamp": "2031-01-02T03:04:05Z",
        }
    });
    std::fs::write(dir.path().join("answer.json"), json.to_string()).unwrap();
    let script = "cat \"$(dirname \"$0\")/answer.json\"\n";
    let resolved = resolve(dir.path(), &exec_kubeconfig(dir.path(), script, "")).unwrap();
    let creds = &resolved.credentials;
    assert_eq!(creds.bearer_token(), None, "a certificate only: no token");
    let client = creds
        .client_certificate
        .as_ref()
        .expect("a client certificate");
    assert_eq!(client.certificate_der, cert.der().to_vec());
    assert_eq!(client.key_source, PemSource::Exec);
    assert!(matches!(creds.source, TokenSource::Exec(_)));
}

#[test]
fn the_cache_refreshes_ahead_of_expiry_by_its_clock() {
    let dir = tempfile::tempdir().unwrap();
    let start = humantime::parse_rfc3339("2030-01-01T00:00:00Z").unwrap();
    // 15 minutes, as EKS tokens.
    std::fs::write(dir.path().join("expires"), "2030-01-01T00:15:00Z").unwrap();
    let resolved = resolve(
        dir.path(),
        &exec_kubeconfig(dir.path(), COUNTING_PLUGIN, ""),
    )
    .unwrap();
    let exec = resolved.credentials.exec().unwrap().clone();
    let (now, clock) = manual_clock(start);
    let tokens = ExecTokens::new(exec.plugin, exec.first, clock);
    assert_eq!(token_now(&tokens), "token-1");
    *now.lock().unwrap() = start + Duration::from_secs(13 * 60);
    assert_eq!(token_now(&tokens), "token-1");
    tokens.wait_idle();
    assert_eq!(tokens.runs(), 0, "not yet: more than a minute left");

    // A minute before expiry the next request starts a refresh and goes out with the token
    // it has; the one after the refresh carries the new token.
    std::fs::write(dir.path().join("expires"), "2030-01-01T00:30:00Z").unwrap();
    *now.lock().unwrap() = start + Duration::from_secs(14 * 60 + 1);
    assert_eq!(token_now(&tokens), "token-1");
    tokens.wait_idle();
    assert_eq!(tokens.runs(), 1);
    assert_eq!(token_now(&tokens), "token-2");
    assert_eq!(
        tokens.current().expires,
        Some(humantime::parse_rfc3339("2030-01-01T00:30:00Z").unwrap())
    );
    tokens.wait_idle();
    assert_eq!(tokens.runs(), 1, "the new token is good for 15 minutes");
}

#[test]
fn a_401_refreshes_once_and_not_within_the_run_interval() {
    let dir = tempfile::tempdir().unwrap();
    // No expirationTimestamp: valid until the server refuses it.
    let resolved = resolve(
        dir.path(),
        &exec_kubeconfig(dir.path(), COUNTING_PLUGIN, ""),
    )
    .unwrap();
    let exec = resolved.credentials.exec().unwrap().clone();
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_900_000_000);
    let (now, clock) = manual_clock(start);
    let tokens = ExecTokens::new(exec.plugin, exec.first, clock);
    *now.lock().unwrap() = start + Duration::from_secs(3600);
    assert_eq!(token_now(&tokens), "token-1");
    tokens.wait_idle();
    assert_eq!(tokens.runs(), 0, "no expiry: no refresh");

    // The fleet's boards all see the 401: one run.
    for _ in 0..5 {
        tokens.rejected();
    }
    tokens.wait_idle();
    assert_eq!(tokens.runs(), 1);
    assert_eq!(token_now(&tokens), "token-2");
    // A late 401 for a request that still carried token-1: no second run.
    *now.lock().unwrap() += MIN_RUN_INTERVAL / 2;
    tokens.rejected();
    tokens.wait_idle();
    assert_eq!(tokens.runs(), 1);
    // Once the new token is old enough to have been tried, a 401 refreshes again.
    *now.lock().unwrap() += MIN_RUN_INTERVAL;
    tokens.rejected();
    tokens.wait_idle();
    assert_eq!(tokens.runs(), 2);
    assert_eq!(token_now(&tokens), "token-3");
}

#[test]
fn a_failing_refresh_keeps_the_token_it_has() {
    let dir = tempfile::tempdir().unwrap();
    let resolved = resolve(
        dir.path(),
        &exec_kubeconfig(dir.path(), COUNTING_PLUGIN, ""),
    )
    .unwrap();
    let exec = resolved.credentials.exec().unwrap().clone();
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_900_000_000);
    let (now, clock) = manual_clock(start);
    let tokens = ExecTokens::new(exec.plugin, exec.first, clock);
    plugin(
        dir.path(),
        "echo 'token expired; run aws sso login' >&2; exit 3\n",
    );
    *now.lock().unwrap() += MIN_RUN_INTERVAL;
    tokens.rejected();
    tokens.wait_idle();
    assert_eq!(tokens.runs(), 1);
    assert_eq!(token_now(&tokens), "token-1");
    // Not again at once: the plugin is not hammered.
    tokens.rejected();
    tokens.wait_idle();
    assert_eq!(tokens.runs(), 1);
}

fn exec_error(dir: &Path, script: &str, extra: &str) -> (ExecError, String) {
    match resolve(dir, &exec_kubeconfig(dir, script, extra)) {
        Err(e @ KubeconfigError::Exec { .. }) => {
            let msg = e.to_string();
            let KubeconfigError::Exec { error, .. } = e else {
                unreachable!()
            };
            (error, msg)
        }
        other => panic!("expected an exec error, got {other:?}"),
    }
}

#[test]
fn failures_are_sentences() {
    let dir = tempfile::tempdir().unwrap();
    let (e, msg) = exec_error(
        dir.path(),
        "echo 'error: SSO session expired, run aws sso login' >&2; exit 2\n",
        "",
    );
    assert!(matches!(e, ExecError::Failed { .. }), "{e:?}");
    assert!(msg.contains("exit status: 2"), "{msg}");
    assert!(
        msg.contains("SSO session expired, run aws sso login"),
        "{msg}"
    );

    let (e, msg) = exec_error(dir.path(), "echo 'not json'\n", "");
    assert!(matches!(e, ExecError::BadOutput { .. }), "{e:?}");
    assert!(msg.contains("not JSON"), "{msg}");

    let (_, msg) = exec_error(
        dir.path(),
        r#"echo '{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","status":{"token":"x"}}'"#,
        "",
    );
    assert!(msg.contains("apiVersion"), "{msg}");

    let (_, msg) = exec_error(
        dir.path(),
        r#"echo '{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","status":{}}'"#,
        "",
    );
    assert!(msg.contains("neither a token nor"), "{msg}");

    let (_, msg) = exec_error(
        dir.path(),
        r#"echo '{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","status":{"token":"a b"}}'"#,
        "",
    );
    assert!(msg.contains("status.token holds spaces"), "{msg}");
    assert!(!msg.contains("a b"), "the token is never quoted: {msg}");
}

#[test]
fn a_missing_plugin_says_what_to_install() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = exec_kubeconfig(dir.path(), "", "")
        .replace("command: /bin/sh", "command: picokubelet-no-such-plugin")
        + "      installHint: install it with `brew install no-such-plugin`\n";
    let err = resolve(dir.path(), &yaml).unwrap_err();
    assert!(
        matches!(
            err,
            KubeconfigError::Exec {
                error: ExecError::NotFound { .. },
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("is not installed (not found in PATH)"),
        "{msg}"
    );
    assert!(msg.contains("brew install no-such-plugin"), "{msg}");
}

#[test]
fn a_plugin_that_hangs_is_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let resolved = resolve(
        dir.path(),
        &exec_kubeconfig(dir.path(), COUNTING_PLUGIN, ""),
    )
    .unwrap();
    let mut plugin_config = resolved.credentials.exec().unwrap().plugin.clone();
    plugin(dir.path(), "exec sleep 600\n");
    plugin_config.args.truncate(1);
    let err = plugin_config
        .run(false, Duration::from_millis(300))
        .unwrap_err();
    assert!(matches!(err, ExecError::TimedOut { .. }), "{err:?}");
    assert!(err.to_string().contains("did not answer"), "{err}");
}

#[test]
fn exec_config_errors_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = exec_kubeconfig(dir.path(), COUNTING_PLUGIN, "")
        .replace("interactiveMode: Never", "interactiveMode: Always");
    let msg = resolve(dir.path(), &yaml).unwrap_err().to_string();
    assert!(
        msg.contains("interactiveMode Always needs a terminal"),
        "{msg}"
    );
    let yaml = exec_kubeconfig(dir.path(), COUNTING_PLUGIN, "").replace(
        "client.authentication.k8s.io/v1\n",
        "client.authentication.k8s.io/v1alpha1\n",
    );
    let msg = resolve(dir.path(), &yaml).unwrap_err().to_string();
    assert!(msg.contains("v1alpha1 was removed"), "{msg}");
    let yaml = exec_kubeconfig(dir.path(), COUNTING_PLUGIN, "")
        .replace("      interactiveMode: Never\n", "");
    let msg = resolve(dir.path(), &yaml).unwrap_err().to_string();
    assert!(msg.contains("interactiveMode is missing"), "{msg}");
}

#[test]
fn a_board_record_refuses_an_exec_plugin_before_running_it() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = exec_kubeconfig(dir.path(), COUNTING_PLUGIN, "");
    let err = parse_in(dir.path(), &yaml)
        .unwrap()
        .resolve(&ResolveOptions {
            for_board: true,
            ..Default::default()
        })
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("--mint-bootstrap-token") && msg.contains("ServiceAccount token"),
        "{msg}"
    );
    assert!(!dir.path().join("runs").exists(), "the plugin did not run");
}

#[test]
fn a_token_in_the_user_wins_over_its_exec_plugin_as_in_kubectl() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = exec_kubeconfig(dir.path(), COUNTING_PLUGIN, "").replace(
        "  user:\n    exec:\n",
        "  user:\n    token: explicit-token\n    exec:\n",
    );
    assert!(yaml.contains("token: explicit-token"), "{yaml}");
    let resolved = resolve(dir.path(), &yaml).unwrap();
    assert_eq!(resolved.credentials.token.expose(), "explicit-token");
    assert_eq!(resolved.credentials.source, TokenSource::Inline);
    assert!(!dir.path().join("runs").exists(), "the plugin did not run");
}

/// The plugin renews its client certificate: after the refresh, the certificate the board's
/// TLS opener reads for its next handshake is the new one (no restart).
#[test]
fn a_renewed_client_certificate_is_what_the_next_handshake_presents() {
    use picokubelet::board_opener::CertificateSource as _;
    let dir = tempfile::tempdir().unwrap();
    let answer = |cn: &str, expires: &str| {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = rcgen::CertificateParams::new(vec![cn.into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let json = serde_json::json!({
            "kind": "ExecCredential",
            "apiVersion": "client.authentication.k8s.io/v1",
            "status": {
                "clientCertificateData": cert.pem(),
                "clientKeyData": key.serialize_pem(),
                "expirationTimestamp": expires,
            }
        });
        std::fs::write(dir.path().join("answer.json"), json.to_string()).unwrap();
        cert.der().to_vec()
    };
    let first = answer("exec-a", "2030-01-01T00:15:00Z");
    let script = "cat \"$(dirname \"$0\")/answer.json\"\n";
    let resolved = resolve(dir.path(), &exec_kubeconfig(dir.path(), script, "")).unwrap();
    let exec = resolved.credentials.exec().unwrap().clone();
    let start = humantime::parse_rfc3339("2030-01-01T00:00:00Z").unwrap();
    let (now, clock) = manual_clock(start);
    let tokens = ExecTokens::new(exec.plugin, exec.first, clock);
    assert_eq!(tokens.certificate().unwrap().certificate_der, first);

    let second = answer("exec-b", "2030-01-01T00:30:00Z");
    *now.lock().unwrap() = start + Duration::from_secs(14 * 60 + 1);
    // The handshake starting now still presents the one it has and starts the refresh.
    assert_eq!(tokens.certificate().unwrap().certificate_der, first);
    tokens.wait_idle();
    assert_eq!(tokens.runs(), 1);
    assert_eq!(tokens.certificate().unwrap().certificate_der, second);

    // A renewal that cannot be used (exec-c's certificate with exec-b's key) keeps the last
    // good one.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("answer.json")).unwrap())
            .unwrap();
    answer("exec-c", "2030-01-01T00:45:00Z");
    let mut mixed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("answer.json")).unwrap())
            .unwrap();
    mixed["status"]["clientKeyData"] = json["status"]["clientKeyData"].clone();
    std::fs::write(dir.path().join("answer.json"), mixed.to_string()).unwrap();
    *now.lock().unwrap() = start + Duration::from_secs(29 * 60 + 1);
    tokens.certificate();
    tokens.wait_idle();
    assert_eq!(tokens.runs(), 2);
    assert_eq!(tokens.certificate().unwrap().certificate_der, second);
}
