//! Every refusal names what is unsupported or missing.
mod common;

use common::{ca_data, parse_in, TOKEN};
use picokubelet::kubeconfig::{
    InsecureSource, Kubeconfig, KubeconfigError, ResolveOptions, ServerTrust, ServerUrlError,
    UnsupportedFeature,
};

/// A one-context kubeconfig with the given cluster and user bodies (YAML, indented 4).
fn config(cluster: &str, user: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n\
         contexts:\n- name: c\n  context:\n    cluster: k\n    user: u\n\
         clusters:\n- name: k\n  cluster:\n{cluster}\
         users:\n- name: u\n  user:\n{user}"
    )
}

fn good_cluster() -> String {
    format!(
        "    server: https://10.0.0.1:6443\n    certificate-authority-data: {}\n",
        ca_data()
    )
}

fn good_user() -> String {
    format!("    token: {TOKEN}\n")
}

fn resolve(yaml: &str) -> Result<picokubelet::kubeconfig::ResolvedConfig, KubeconfigError> {
    let dir = tempfile::tempdir().unwrap();
    parse_in(dir.path(), yaml)?.resolve(&ResolveOptions::default())
}

fn unsupported(err: KubeconfigError) -> (UnsupportedFeature, &'static str, String) {
    let msg = err.to_string();
    match err {
        KubeconfigError::Unsupported { feature, field, .. } => (feature, field, msg),
        other => panic!("expected Unsupported, got {other:?}"),
    }
}

#[test]
fn the_baseline_resolves() {
    let r = resolve(&config(&good_cluster(), &good_user())).unwrap();
    assert_eq!(r.credentials.token.expose(), TOKEN);
}

#[test]
fn every_unsupported_user_feature_is_named() {
    let cases: &[(&str, UnsupportedFeature, &str)] = &[
        (
            "    auth-provider:\n      name: oidc\n      config: {}\n",
            UnsupportedFeature::AuthProvider,
            "auth-provider",
        ),
        (
            "    username: admin\n",
            UnsupportedFeature::BasicAuth,
            "username",
        ),
        (
            "    password: hunter2\n",
            UnsupportedFeature::BasicAuth,
            "password",
        ),
        ("    as: someone\n", UnsupportedFeature::Impersonation, "as"),
        (
            "    as-groups: [system:masters]\n",
            UnsupportedFeature::Impersonation,
            "as-groups",
        ),
    ];
    for (user_extra, feature, field) in cases {
        // Refused even next to a usable token: ignoring them would change the identity.
        let user = format!("{}{user_extra}", good_user());
        let err = resolve(&config(&good_cluster(), &user)).unwrap_err();
        let (f, fld, msg) = unsupported(err);
        assert_eq!((f, fld), (*feature, *field));
        assert!(msg.contains(field), "{msg}");
        assert!(msg.contains("user \"u\""), "{msg}");
        assert!(!msg.contains("hunter2"), "{msg}");
    }
}

#[test]
fn proxy_url_and_plain_http_are_named() {
    let cluster = format!("{}    proxy-url: socks5://localhost:1080\n", good_cluster());
    let (f, field, msg) = unsupported(resolve(&config(&cluster, &good_user())).unwrap_err());
    assert_eq!((f, field), (UnsupportedFeature::ProxyUrl, "proxy-url"));
    assert!(msg.contains("cluster \"k\""), "{msg}");

    let cluster = format!(
        "    server: http://10.0.0.1:8080\n    certificate-authority-data: {}\n",
        ca_data()
    );
    let (f, field, msg) = unsupported(resolve(&config(&cluster, &good_user())).unwrap_err());
    assert_eq!((f, field), (UnsupportedFeature::PlainHttp, "server"));
    assert!(msg.contains("clear text"), "{msg}");
}

#[test]
fn bad_server_urls_say_why() {
    for (server, expected) in [
        (
            "https://rancher.example.com/k8s/clusters/c-m-1",
            ServerUrlError::PathPrefix {
                path: "/k8s/clusters/c-m-1".into(),
            },
        ),
        (
            "ftp://x",
            ServerUrlError::Scheme {
                scheme: "ftp".into(),
            },
        ),
        (
            "https://10.0.0.1:99999",
            ServerUrlError::BadPort {
                port: "99999".into(),
            },
        ),
    ] {
        let cluster = format!(
            "    server: {server}\n    certificate-authority-data: {}\n",
            ca_data()
        );
        match resolve(&config(&cluster, &good_user())).unwrap_err() {
            KubeconfigError::Server { cluster, error, .. } => {
                assert_eq!(cluster, "k");
                assert_eq!(error, expected);
            }
            other => panic!("{server}: {other:?}"),
        }
    }
    let cluster = format!("    certificate-authority-data: {}\n", ca_data());
    assert!(matches!(
        resolve(&config(&cluster, &good_user())),
        Err(KubeconfigError::MissingServer { .. })
    ));
}

#[test]
fn missing_context_cluster_and_user() {
    let yaml = config(&good_cluster(), &good_user());
    let dir = tempfile::tempdir().unwrap();
    let kc = parse_in(dir.path(), &yaml).unwrap();
    match kc.select(Some("nope")).unwrap_err() {
        KubeconfigError::ContextNotFound { name, available } => {
            assert_eq!(name, "nope");
            assert_eq!(available, vec!["c".to_owned()]);
        }
        other => panic!("{other:?}"),
    }

    let no_current = yaml.replace("current-context: c\n", "");
    let kc = parse_in(dir.path(), &no_current).unwrap();
    let err = kc.select(None).unwrap_err();
    assert!(matches!(err, KubeconfigError::NoCurrentContext { .. }));
    assert!(err.to_string().contains("--context"), "{err}");

    let wrong_cluster = yaml.replace(
        "    cluster: k\n    user: u",
        "    cluster: gone\n    user: u",
    );
    let err = resolve(&wrong_cluster).unwrap_err();
    assert!(
        matches!(&err, KubeconfigError::ClusterNotFound { name, context } if name == "gone" && context == "c"),
        "{err:?}"
    );

    let wrong_user = yaml.replace("    user: u\n", "    user: gone\n");
    let err = resolve(&wrong_user).unwrap_err();
    assert!(
        matches!(&err, KubeconfigError::UserNotFound { name, .. } if name == "gone"),
        "{err:?}"
    );

    let no_user_ref = yaml.replace("    user: u\n", "");
    assert!(matches!(
        resolve(&no_user_ref),
        Err(KubeconfigError::ContextIncomplete { field: "user", .. })
    ));
}

#[test]
fn users_without_a_token() {
    assert!(matches!(
        resolve(&config(&good_cluster(), "    {}\n")),
        Err(KubeconfigError::NoToken { .. })
    ));
    assert!(matches!(
        resolve(&config(&good_cluster(), "    token: \"\"\n")),
        Err(KubeconfigError::EmptyToken { .. })
    ));
}

#[test]
fn unreadable_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    // tokenFile that does not exist, relative to the kubeconfig.
    let kc = parse_in(
        dir.path(),
        &config(&good_cluster(), "    tokenFile: missing.token\n"),
    )
    .unwrap();
    match kc.resolve(&ResolveOptions::default()).unwrap_err() {
        KubeconfigError::TokenFile { path, .. } => {
            assert_eq!(path, dir.path().join("missing.token"))
        }
        other => panic!("{other:?}"),
    }
    // An empty token file.
    std::fs::write(dir.path().join("empty.token"), "\n").unwrap();
    let kc = parse_in(
        dir.path(),
        &config(&good_cluster(), "    tokenFile: empty.token\n"),
    )
    .unwrap();
    assert!(matches!(
        kc.resolve(&ResolveOptions::default()),
        Err(KubeconfigError::EmptyTokenFile { .. })
    ));
    // A CA file that does not exist.
    let cluster = "    server: https://10.0.0.1:6443\n    certificate-authority: pki/ca.crt\n";
    let kc = parse_in(dir.path(), &config(cluster, &good_user())).unwrap();
    match kc.resolve(&ResolveOptions::default()).unwrap_err() {
        KubeconfigError::CaFile { path, .. } => assert_eq!(path, dir.path().join("pki/ca.crt")),
        other => panic!("{other:?}"),
    }
    // A kubeconfig path that is a directory cannot be read.
    let located = picokubelet::kubeconfig::Located {
        origin: picokubelet::kubeconfig::Origin::Flag,
        files: vec![dir.path().to_owned()],
        skipped: vec![],
    };
    assert!(matches!(
        Kubeconfig::load(&located),
        Err(KubeconfigError::Read { .. })
    ));
}

#[test]
fn ca_problems() {
    let cluster = "    server: https://10.0.0.1:6443\n    certificate-authority-data: not*base64\n";
    assert!(matches!(
        resolve(&config(cluster, &good_user())),
        Err(KubeconfigError::CaDataBase64 { .. })
    ));
    // Valid base64, but no PEM certificate inside ("hello world").
    let cluster =
        "    server: https://10.0.0.1:6443\n    certificate-authority-data: aGVsbG8gd29ybGQ=\n";
    assert!(matches!(
        resolve(&config(cluster, &good_user())),
        Err(KubeconfigError::CaNotPem { .. })
    ));
    // No CA at all: refused, and the message names the way out.
    let cluster = "    server: https://10.0.0.1:6443\n";
    let err = resolve(&config(cluster, &good_user())).unwrap_err();
    assert!(matches!(err, KubeconfigError::NoCa { .. }));
    assert!(err.to_string().contains("--insecure-skip-tls-verify"));
    // insecure-skip-tls-verify in the file, without a CA: honoured, and marked as such.
    let cluster = "    server: https://10.0.0.1:6443\n    insecure-skip-tls-verify: true\n";
    let r = resolve(&config(cluster, &good_user())).unwrap();
    assert_eq!(
        r.cluster.trust,
        ServerTrust::InsecureSkipVerify(InsecureSource::Kubeconfig)
    );
    // ... with a CA: contradictory, refused as kubectl does.
    let cluster = format!("{}    insecure-skip-tls-verify: true\n", good_cluster());
    assert!(matches!(
        resolve(&config(&cluster, &good_user())),
        Err(KubeconfigError::CaWithInsecure { .. })
    ));
    // tls-server-name must be a DNS name or an IP address (matched against IP SANs, as kubectl).
    let cluster = format!("{}    tls-server-name: under_score!\n", good_cluster());
    assert!(matches!(
        resolve(&config(&cluster, &good_user())),
        Err(KubeconfigError::BadTlsServerName { .. })
    ));
    for (given, kept) in [("10.0.0.1", "10.0.0.1"), ("[FD00::1]", "fd00::1")] {
        let cluster = format!("{}    tls-server-name: \"{given}\"\n", good_cluster());
        let resolved = resolve(&config(&cluster, &good_user())).unwrap();
        assert_eq!(resolved.cluster.tls_server_name.as_deref(), Some(kept));
    }
}

#[test]
fn malformed_files() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        parse_in(dir.path(), "clusters: [\n"),
        Err(KubeconfigError::Yaml { .. })
    ));
    assert!(matches!(
        parse_in(dir.path(), "- a\n- b\n"),
        Err(KubeconfigError::Shape { .. })
    ));
    let err = parse_in(dir.path(), "clusters: {}\n").unwrap_err();
    assert!(err.to_string().contains("clusters is a mapping"), "{err}");
    let err = parse_in(dir.path(), "users:\n- user: {}\n").unwrap_err();
    assert!(err.to_string().contains("users[0] has no name"), "{err}");
    // An empty file is an empty configuration (kubectl agrees).
    let kc = parse_in(dir.path(), "").unwrap();
    assert!(matches!(
        kc.select(None),
        Err(KubeconfigError::NoCurrentContext { .. })
    ));
    // A token of the wrong type: the message gives the type, not the value.
    let err = resolve(&config(&good_cluster(), "    token: [secret-in-a-list]\n")).unwrap_err();
    assert!(matches!(err, KubeconfigError::Shape { .. }));
    assert!(!err.to_string().contains("secret-in-a-list"), "{err}");
}
