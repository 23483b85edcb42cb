//! Realistic kubeconfigs as k3s, kind, kubeadm and our own recipe write them.
mod common;

use common::{fixture, load_fixture, TOKEN};
use picokubelet::kubeconfig::{
    CaSource, KubeconfigError, ResolveOptions, Selection, ServerHost, ServerTrust, TokenSource,
    UnsupportedFeature,
};
use std::net::{Ipv4Addr, Ipv6Addr};

fn ca_pem() -> Vec<u8> {
    std::fs::read(fixture("ca.crt")).unwrap()
}

#[test]
fn k3s_cluster_resolves_and_its_placeholder_admin_client_cert_is_named() {
    let config = load_fixture("k3s.yaml");
    assert_eq!(config.current_context(), Some("default"));
    let sel = config.select(None).unwrap();
    assert_eq!(
        sel,
        Selection {
            context: "default".into(),
            cluster: "default".into(),
            user: "default".into()
        }
    );
    let cluster = config.cluster(&sel, false).unwrap();
    assert_eq!(cluster.server.host, ServerHost::Ipv4(Ipv4Addr::LOCALHOST));
    assert_eq!(cluster.server.port, 6443);
    assert_eq!(cluster.tls_server_name, None);
    // An IP host and no tls-server-name: there is no DNS name to verify.
    assert_eq!(cluster.verify_name(), None);
    assert_eq!(
        cluster.trust,
        ServerTrust::Ca {
            pem: ca_pem(),
            source: CaSource::Inline
        }
    );
    // The fixture's client key is a placeholder, not a key: refused, naming both fields.
    let err = config.credentials(&sel).unwrap_err();
    assert!(
        matches!(err, KubeconfigError::ClientCertificate { .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("user \"default\""), "{msg}");
    assert!(
        msg.contains("client-certificate-data, client-key-data"),
        "{msg}"
    );
}

#[test]
fn kind_cluster_resolves() {
    let config = load_fixture("kind.yaml");
    let sel = config.select(None).unwrap();
    assert_eq!(sel.context, "kind-kind");
    let cluster = config.cluster(&sel, false).unwrap();
    assert_eq!(cluster.server.to_string(), "https://127.0.0.1:41235");
    assert!(matches!(cluster.trust, ServerTrust::Ca { .. }));
    assert!(matches!(
        config.credentials(&sel),
        Err(KubeconfigError::ClientCertificate { .. })
    ));
}

#[test]
fn kubeadm_admin_conf_has_a_dns_server() {
    let config = load_fixture("kubeadm-admin.conf");
    let sel = config.select(None).unwrap();
    assert_eq!(sel.context, "kubernetes-admin@kubernetes");
    assert_eq!(sel.user, "kubernetes-admin");
    let cluster = config.cluster(&sel, false).unwrap();
    assert_eq!(
        cluster.server.host,
        ServerHost::Dns("control-plane.example.internal".into())
    );
    assert_eq!(
        cluster.verify_name(),
        Some("control-plane.example.internal")
    );
}

#[test]
fn kubeadm_kubelet_conf_ipv6_server_and_client_cert_file() {
    let config = load_fixture("kubeadm-kubelet.conf");
    let sel = config.select(None).unwrap();
    let cluster = config.cluster(&sel, false).unwrap();
    assert_eq!(
        cluster.server.host,
        ServerHost::Ipv6("fd00:10::1".parse::<Ipv6Addr>().unwrap())
    );
    assert_eq!(cluster.server.to_string(), "https://[fd00:10::1]:6443");
    // The kubelet's certificate file is not on this machine: the field and path are named.
    let err = config.credentials(&sel).unwrap_err();
    assert!(
        matches!(
            err,
            KubeconfigError::PemFile {
                field: "client-certificate",
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("client-certificate /var/lib/kubelet/pki/kubelet-client-current.pem"),
        "{msg}"
    );
}

#[test]
fn token_recipe_resolves_fully() {
    let config = load_fixture("token.yaml");
    let resolved = config.resolve(&ResolveOptions::default()).unwrap();
    assert_eq!(resolved.selection.context, "picokubelet");
    assert_eq!(
        resolved.cluster.tls_server_name.as_deref(),
        Some("kubernetes")
    );
    assert_eq!(resolved.cluster.verify_name(), Some("kubernetes"));
    // certificate-authority is relative to the kubeconfig's directory.
    assert_eq!(
        resolved.cluster.trust,
        ServerTrust::Ca {
            pem: ca_pem(),
            source: CaSource::File(fixture("ca.crt"))
        }
    );
    assert_eq!(resolved.credentials.token.expose(), TOKEN);
    assert_eq!(resolved.credentials.source, TokenSource::Inline);
}

#[test]
fn multi_context_selects_the_token_context_past_an_exec_user() {
    let config = load_fixture("multi.yaml");
    // The current context uses an exec plugin: refused for a board's record, and named.
    let err = config
        .resolve(&ResolveOptions {
            for_board: true,
            ..Default::default()
        })
        .unwrap_err();
    assert!(
        matches!(
            err,
            KubeconfigError::Unsupported {
                feature: UnsupportedFeature::Exec,
                field: "exec",
                ..
            }
        ),
        "{err:?}"
    );
    // On the host it is run: without a gcloud login (or without the plugin installed) it
    // fails, and the message names the plugin.
    let err = config.resolve(&ResolveOptions::default()).unwrap_err();
    assert!(matches!(err, KubeconfigError::Exec { .. }), "{err:?}");
    assert!(err.to_string().contains("gke-gcloud-auth-plugin"), "{err}");
    let resolved = config
        .resolve(&ResolveOptions {
            context: Some("lab-picokubelet".into()),
            insecure_skip_tls_verify: false,
            ..Default::default()
        })
        .unwrap();
    // Upper case, a trailing dot and a trailing slash are normalised away.
    assert_eq!(
        resolved.cluster.server.host,
        ServerHost::Dns("lab-k3s.example.org".into())
    );
    assert_eq!(resolved.cluster.server.port, 6443);
    // tokenFile is relative to the kubeconfig and trimmed.
    assert_eq!(resolved.credentials.token.expose(), TOKEN);
    assert_eq!(
        resolved.credentials.source,
        TokenSource::File(fixture("secrets/node.token"))
    );
}

#[test]
fn insecure_flag_overrides_the_ca() {
    let config = load_fixture("token.yaml");
    let resolved = config
        .resolve(&ResolveOptions {
            context: None,
            insecure_skip_tls_verify: true,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        resolved.cluster.trust,
        ServerTrust::InsecureSkipVerify(picokubelet::kubeconfig::InsecureSource::Flag)
    );
}
