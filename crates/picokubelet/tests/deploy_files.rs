//! deploy/ stays true: the example kubeconfig resolves, and rbac.yaml grants exactly what the
//! agent sends.
mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use picokubelet::kubeconfig::{Kubeconfig, ResolveOptions, ServerHost, TokenSource};
use yaml_rust2::{Yaml, YamlLoader};

fn deploy(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy")
        .join(name)
}

#[test]
fn example_kubeconfig_resolves() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig.yaml");
    std::fs::copy(deploy("kubeconfig.example.yaml"), &path).unwrap();
    std::fs::copy(common::fixture("ca.crt"), dir.path().join("ca.crt")).unwrap();
    let token_path = dir.path().join("esp32s3-eth-a1b2c3d4.token");
    std::fs::write(&token_path, format!("{}\n", common::TOKEN)).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let r = Kubeconfig::parse(&text, &path)
        .unwrap()
        .resolve(&ResolveOptions::default())
        .unwrap();
    assert_eq!(
        r.cluster.server.host,
        ServerHost::Ipv4("192.0.2.10".parse().unwrap())
    );
    assert_eq!(r.cluster.verify_name(), Some("kubernetes"));
    assert_eq!(r.credentials.token.expose(), common::TOKEN);
    assert_eq!(r.credentials.source, TokenSource::File(token_path));
}

/// (kind, namespace, apiGroup, resource) -> verbs, over every Role/ClusterRole.
fn grants(docs: &[Yaml]) -> BTreeSet<(String, String, String, String, String)> {
    let mut out = BTreeSet::new();
    for d in docs {
        let kind = d["kind"].as_str().unwrap_or_default();
        if kind != "Role" && kind != "ClusterRole" {
            continue;
        }
        let ns = d["metadata"]["namespace"].as_str().unwrap_or("").to_owned();
        for rule in d["rules"].as_vec().unwrap() {
            assert!(
                rule["resourceNames"].is_badvalue(),
                "active rules name no resources"
            );
            for group in rule["apiGroups"].as_vec().unwrap() {
                for res in rule["resources"].as_vec().unwrap() {
                    for verb in rule["verbs"].as_vec().unwrap() {
                        out.insert((
                            kind.to_owned(),
                            ns.clone(),
                            group.as_str().unwrap().to_owned(),
                            res.as_str().unwrap().to_owned(),
                            verb.as_str().unwrap().to_owned(),
                        ));
                    }
                }
            }
        }
    }
    out
}

#[test]
fn rbac_grants_exactly_what_the_agent_sends() {
    let text = std::fs::read_to_string(deploy("rbac.yaml")).unwrap();
    let docs = YamlLoader::load_from_str(&text).unwrap();
    let g = |kind: &str, ns: &str, group: &str, res: &str, verb: &str| {
        (
            kind.into(),
            ns.into(),
            group.into(),
            res.into(),
            verb.into(),
        )
    };
    let want: BTreeSet<_> = [
        g("ClusterRole", "", "", "nodes", "create"),
        g("ClusterRole", "", "", "nodes", "get"),
        g("ClusterRole", "", "", "nodes", "patch"),
        g("ClusterRole", "", "", "nodes/status", "patch"),
        g(
            "Role",
            "kube-node-lease",
            "coordination.k8s.io",
            "leases",
            "create",
        ),
        g(
            "Role",
            "kube-node-lease",
            "coordination.k8s.io",
            "leases",
            "get",
        ),
        g(
            "Role",
            "kube-node-lease",
            "coordination.k8s.io",
            "leases",
            "update",
        ),
        g(
            "Role",
            "kube-node-lease",
            "coordination.k8s.io",
            "leases",
            "patch",
        ),
        g("Role", "default", "", "events", "create"),
    ]
    .into_iter()
    .collect();
    assert_eq!(grants(&docs), want);
    // Every binding gives its role to the picokubelet ServiceAccount, in the role's namespace.
    let mut bindings = 0;
    for d in &docs {
        let kind = d["kind"].as_str().unwrap_or_default();
        if kind != "RoleBinding" && kind != "ClusterRoleBinding" {
            continue;
        }
        bindings += 1;
        let subjects = d["subjects"].as_vec().unwrap();
        assert_eq!(subjects.len(), 1);
        assert_eq!(subjects[0]["kind"].as_str(), Some("ServiceAccount"));
        assert_eq!(subjects[0]["name"].as_str(), Some("picokubelet"));
        assert_eq!(subjects[0]["namespace"].as_str(), Some("picokubelet"));
        let role = d["roleRef"]["name"].as_str().unwrap();
        let role_doc = docs
            .iter()
            .find(|r| {
                r["metadata"]["name"].as_str() == Some(role)
                    && r["kind"].as_str() == d["roleRef"]["kind"].as_str()
            })
            .unwrap_or_else(|| panic!("binding to missing role {role}"));
        assert_eq!(
            role_doc["metadata"]["namespace"],
            d["metadata"]["namespace"]
        );
    }
    assert_eq!(bindings, 3);
}
