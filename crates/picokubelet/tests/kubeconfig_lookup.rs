//! kubectl's lookup order and KUBECONFIG merging, with the environment passed in (no global
//! state, so these run in parallel safely).
mod common;

use std::ffi::OsString;
use std::path::Path;

use common::ca_data;
use picokubelet::kubeconfig::{
    locate, Kubeconfig, KubeconfigError, LookupEnv, Origin, ResolveOptions, ServerHost,
};

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A kubeconfig with one context `name` -> cluster `name` (server host `host`) -> user `name`.
fn single(name: &str, host: &str, current: bool) -> String {
    let current = if current {
        format!("current-context: {name}\n")
    } else {
        String::new()
    };
    format!(
        "{current}contexts:\n- name: {name}\n  context: {{cluster: {name}, user: {name}}}\n\
         clusters:\n- name: {name}\n  cluster:\n    server: https://{host}:6443\n    certificate-authority-data: {ca}\n\
         users:\n- name: {name}\n  user: {{token: t-{name}}}\n",
        ca = ca_data()
    )
}

fn env_list(paths: &[&Path]) -> OsString {
    std::env::join_paths(paths).unwrap()
}

#[test]
fn flag_wins_over_env_and_home() {
    let dir = tempfile::tempdir().unwrap();
    let flag = dir.path().join("flag.yaml");
    let env_file = dir.path().join("env.yaml");
    let home = dir.path().join("home");
    for p in [&flag, &env_file, &home.join(".kube/config")] {
        write(p, "");
    }
    let env = LookupEnv {
        kubeconfig: Some(env_list(&[&env_file])),
        home: Some(home.clone()),
    };
    let found = locate(Some(&flag), &env).unwrap();
    assert_eq!((found.origin, found.files), (Origin::Flag, vec![flag]));
    let found = locate(None, &env).unwrap();
    assert_eq!((found.origin, found.files), (Origin::Env, vec![env_file]));
    let env = LookupEnv {
        kubeconfig: None,
        home: Some(home.clone()),
    };
    let found = locate(None, &env).unwrap();
    assert_eq!(
        (found.origin, found.files),
        (Origin::Home, vec![home.join(".kube/config")])
    );
    // An empty KUBECONFIG counts as unset.
    let env = LookupEnv {
        kubeconfig: Some(OsString::new()),
        home: Some(home),
    };
    assert_eq!(locate(None, &env).unwrap().origin, Origin::Home);
}

#[test]
fn missing_files_are_errors_with_the_paths_tried() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.yaml");
    let env = LookupEnv {
        kubeconfig: None,
        home: Some(dir.path().to_owned()),
    };
    match locate(Some(&missing), &env).unwrap_err() {
        KubeconfigError::NotFound { tried } => assert_eq!(tried, vec![missing.clone()]),
        other => panic!("{other:?}"),
    }
    match locate(None, &env).unwrap_err() {
        KubeconfigError::NotFound { tried } => {
            assert_eq!(tried, vec![dir.path().join(".kube/config")])
        }
        other => panic!("{other:?}"),
    }
    // KUBECONFIG naming only missing files does not fall back to ~/.kube/config.
    write(&dir.path().join(".kube/config"), "");
    let env = LookupEnv {
        kubeconfig: Some(env_list(&[&missing])),
        home: Some(dir.path().to_owned()),
    };
    assert!(matches!(
        locate(None, &env),
        Err(KubeconfigError::NotFound { .. })
    ));
    let env = LookupEnv {
        kubeconfig: None,
        home: None,
    };
    assert!(matches!(locate(None, &env), Err(KubeconfigError::NoHome)));
}

#[test]
fn kubeconfig_list_skips_missing_and_merges_first_wins() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a/config");
    let b = dir.path().join("b/config");
    let gone = dir.path().join("gone/config");
    // a: context "shared" (server a.example) and current-context "shared".
    write(&a, &single("shared", "a.example", true));
    // b: also defines "shared" (ignored: a came first) and "extra"; its current-context loses.
    let b_text = format!(
        "current-context: extra\n\
         contexts:\n\
         - {{name: shared, context: {{cluster: shared, user: shared}}}}\n\
         - {{name: extra, context: {{cluster: extra, user: extra}}}}\n\
         clusters:\n\
         - {{name: shared, cluster: {{server: 'https://b.example', certificate-authority-data: {ca}}}}}\n\
         - {{name: extra, cluster: {{server: 'https://extra.example', certificate-authority-data: {ca}}}}}\n\
         users:\n\
         - {{name: shared, user: {{token: t-b}}}}\n\
         - {{name: extra, user: {{token: t-extra}}}}\n",
        ca = ca_data()
    );
    write(&b, &b_text);
    let env = LookupEnv {
        kubeconfig: Some(env_list(&[&gone, &a, &b, &a])),
        home: None,
    };
    let found = locate(None, &env).unwrap();
    assert_eq!(found.files, vec![a.clone(), b.clone()]);
    assert_eq!(found.skipped, vec![gone]);
    let config = Kubeconfig::load(&found).unwrap();
    assert_eq!(config.current_context(), Some("shared"));
    let shared = config.resolve(&ResolveOptions::default()).unwrap();
    assert_eq!(
        shared.cluster.server.host,
        ServerHost::Dns("a.example".into())
    );
    assert_eq!(shared.credentials.token.expose(), "t-shared");
    let extra = config
        .resolve(&ResolveOptions {
            context: Some("extra".into()),
            insecure_skip_tls_verify: false,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        extra.cluster.server.host,
        ServerHost::Dns("extra.example".into())
    );
    assert_eq!(extra.credentials.token.expose(), "t-extra");
}

#[test]
fn relative_paths_follow_the_file_that_defines_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a/config");
    let b = dir.path().join("b/config");
    write(
        &a,
        "current-context: c\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\n",
    );
    write(
        &b,
        "clusters:\n- name: k\n  cluster: {server: 'https://k.example', certificate-authority: ca.pem}\n\
         users:\n- name: u\n  user: {tokenFile: tok}\n",
    );
    std::fs::copy(common::fixture("ca.crt"), dir.path().join("b/ca.pem")).unwrap();
    write(&dir.path().join("b/tok"), "from-b\n");
    let env = LookupEnv {
        kubeconfig: Some(env_list(&[&a, &b])),
        home: None,
    };
    let config = Kubeconfig::load(&locate(None, &env).unwrap()).unwrap();
    let r = config.resolve(&ResolveOptions::default()).unwrap();
    assert_eq!(r.credentials.token.expose(), "from-b");
    assert_eq!(r.cluster.server.port, 443);
}
