//! deploy/ stays true: the example kubeconfig resolves, rbac.yaml grants exactly what the agent
//! sends, every manifest is valid against the API server's OpenAPI schemas (strictly), and the
//! fleet's manifests fit together.
mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::OnceLock;

use picokubelet::kubeconfig::{Kubeconfig, ResolveOptions, ServerHost, TokenSource};
use serde_json::{json, Map, Value};
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

// ---------------------------------------------------------------------------------------------
// Every manifest in deploy/ against the API server's own OpenAPI v3 schemas
// (testdata/k8s/openapi, kube-apiserver v1.36.2): JSON Schema (types, enums, required fields)
// plus a strict field check like `kubectl apply --validate=strict`, since the schemas allow
// unknown fields and the server would drop a misspelled one (`resources.limit`) silently.

/// The schema documents the manifests need, by group/version.
const OPENAPI: &[&str] = &[
    "openapi-v3-core-v1.json",
    "openapi-v3-apps-v1.json",
    "openapi-v3-rbac.authorization-v1.json",
    "openapi-v3-flowcontrol-v1.json",
];

/// kube-openapi serialised its Go structs, so each schema is wrapped as
/// `{"SchemaProps":{…},"ArbitraryKeys":{…},"$ref":…}`: unwrap that into plain JSON Schema.
fn flatten(v: &Value) -> Value {
    match v {
        Value::Object(m) if m.contains_key("SchemaProps") => {
            let mut out = Map::new();
            for part in ["SchemaProps", "ArbitraryKeys"] {
                if let Some(Value::Object(p)) = m.get(part) {
                    for (k, x) in p {
                        if k != "description" {
                            out.insert(k.clone(), flatten(x));
                        }
                    }
                }
            }
            if let Some(r) = m.get("$ref") {
                out.insert("$ref".into(), r.clone());
            }
            Value::Object(out)
        }
        Value::Object(m) => Value::Object(m.iter().map(|(k, x)| (k.clone(), flatten(x))).collect()),
        Value::Array(a) => Value::Array(a.iter().map(flatten).collect()),
        other => other.clone(),
    }
}

fn schemas() -> &'static Map<String, Value> {
    static SCHEMAS: OnceLock<Map<String, Value>> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        let mut all = Map::new();
        for file in OPENAPI {
            let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../testdata/k8s/openapi")
                .join(file);
            let doc: Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            all.extend(
                flatten(&doc["components"]["schemas"])
                    .as_object()
                    .unwrap()
                    .clone(),
            );
        }
        all
    })
}

/// The schema name of `apiVersion`/`kind`: `apps/v1` StatefulSet is
/// `io.k8s.api.apps.v1.StatefulSet`, `rbac.authorization.k8s.io/v1` is `io.k8s.api.rbac.v1…`.
fn schema_name(api_version: &str, kind: &str) -> String {
    let (group, version) = api_version
        .rsplit_once('/')
        .unwrap_or(("core", api_version));
    let group = group.split('.').next().unwrap();
    format!("io.k8s.api.{group}.{version}.{kind}")
}

/// The concrete schema parts a `$ref` / `allOf` chain stands for.
fn resolve<'a>(node: &'a Value, out: &mut Vec<&'a Value>) {
    if let Some(r) = node.get("$ref").and_then(Value::as_str) {
        resolve(
            &schemas()[r.strip_prefix("#/components/schemas/").unwrap()],
            out,
        );
    }
    for part in node
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        resolve(part, out);
    }
    out.push(node);
}

/// Paths of object keys that are neither a declared property nor under `additionalProperties`.
fn unknown_fields(schema: &Value, value: &Value, path: &str, out: &mut Vec<String>) {
    let mut parts = Vec::new();
    resolve(schema, &mut parts);
    match value {
        Value::Object(map) => {
            let props: Vec<&Map<String, Value>> = parts
                .iter()
                .filter_map(|p| p.get("properties")?.as_object())
                .collect();
            let additional = parts.iter().find_map(|p| p.get("additionalProperties"));
            if props.is_empty() && additional.is_none() {
                return; // free-form object
            }
            for (k, v) in map {
                let sub = format!("{path}.{k}");
                match props.iter().find_map(|p| p.get(k)).or(additional) {
                    Some(s) => unknown_fields(s, v, &sub, out),
                    None => out.push(sub),
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = parts.iter().find_map(|p| p.get("items")) {
                for (i, v) in items.iter().enumerate() {
                    unknown_fields(item, v, &format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

/// What is wrong with `object` as an instance of schema `name`.
fn problems(name: &str, object: &Value) -> Vec<String> {
    let Some(schema) = schemas().get(name) else {
        return vec![format!("no schema {name} in {OPENAPI:?}")];
    };
    let root = json!({
        "allOf": [{"$ref": format!("#/components/schemas/{name}")}],
        "components": {"schemas": schemas()},
    });
    let validator = jsonschema::draft4::options()
        .should_validate_formats(true)
        .build(&root)
        .unwrap();
    let mut out: Vec<String> = validator
        .iter_errors(object)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    let mut unknown = Vec::new();
    unknown_fields(schema, object, "", &mut unknown);
    out.extend(unknown.into_iter().map(|p| format!("unknown field {p}")));
    out
}

fn to_json(y: &Yaml) -> Value {
    match y {
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Integer(i) => json!(i),
        Yaml::Real(r) => json!(r.parse::<f64>().unwrap()),
        Yaml::Boolean(b) => Value::Bool(*b),
        Yaml::Null => Value::Null,
        Yaml::Array(a) => Value::Array(a.iter().map(to_json).collect()),
        Yaml::Hash(h) => Value::Object(
            h.iter()
                .map(|(k, v)| (k.as_str().expect("string keys").to_owned(), to_json(v)))
                .collect(),
        ),
        other => panic!("unexpected YAML node {other:?}"),
    }
}

/// Every Kubernetes object in deploy/ (the kubeconfig example is not one), with its file.
fn manifests() -> Vec<(String, Value)> {
    fn walk(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml")
                && !path
                    .file_name()
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .starts_with("kubeconfig")
            {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&deploy(""), &mut files);
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let name = file.strip_prefix(deploy("")).unwrap().display().to_string();
        for doc in YamlLoader::load_from_str(&text).unwrap() {
            out.push((name.clone(), to_json(&doc)));
        }
    }
    out
}

#[test]
fn every_manifest_is_valid_against_the_servers_openapi_strictly() {
    let all = manifests();
    let mut kinds = BTreeSet::new();
    let mut errors = Vec::new();
    for (file, object) in &all {
        let kind = object["kind"].as_str().unwrap();
        let name = schema_name(object["apiVersion"].as_str().unwrap(), kind);
        kinds.insert(kind.to_owned());
        for p in problems(&name, object) {
            errors.push(format!(
                "{file}: {kind} {}: {p}",
                object["metadata"]["name"]
            ));
        }
    }
    assert!(errors.is_empty(), "{errors:#?}");
    for kind in [
        "StatefulSet",
        "FlowSchema",
        "PriorityLevelConfiguration",
        "RoleBinding",
    ] {
        assert!(kinds.contains(kind), "no {kind} in deploy/: {kinds:?}");
    }
}

#[test]
fn the_strict_check_catches_a_misspelled_field_and_a_wrong_type() {
    let (_, set) = manifests()
        .into_iter()
        .find(|(_, o)| o["kind"] == "StatefulSet")
        .unwrap();
    let name = schema_name("apps/v1", "StatefulSet");
    assert!(problems(&name, &set).is_empty());
    let mut misspelled = set.clone();
    misspelled["spec"]["template"]["spec"]["containers"][0]["resources"]["limit"] =
        json!({"memory": "96Mi"});
    assert_eq!(
        problems(&name, &misspelled),
        ["unknown field .spec.template.spec.containers[0].resources.limit"]
    );
    let mut wrong_type = set;
    wrong_type["spec"]["replicas"] = json!("4");
    assert_eq!(problems(&name, &wrong_type).len(), 1);
}

/// Where a metadata-named object of `kind` lives: (namespace, name).
fn names(all: &[(String, Value)], kind: &str) -> BTreeSet<(String, String)> {
    all.iter()
        .filter(|(_, o)| o["kind"] == kind)
        .map(|(_, o)| {
            let m = &o["metadata"];
            let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            (s(&m["namespace"]), s(&m["name"]))
        })
        .collect()
}

#[test]
fn the_fleet_runs_as_its_service_account_with_the_agents_roles_and_its_own_priority_level() {
    let all = manifests();
    let fleet: Vec<&Value> = all
        .iter()
        .filter(|(f, _)| f.starts_with("fleet/"))
        .map(|(_, o)| o)
        .collect();
    let set = fleet.iter().find(|o| o["kind"] == "StatefulSet").unwrap();
    let pod = &set["spec"]["template"]["spec"];
    let account = pod["serviceAccountName"].as_str().unwrap();
    let namespace = set["metadata"]["namespace"].as_str().unwrap();
    assert!(names(&all, "ServiceAccount").contains(&(namespace.into(), account.into())));
    assert!(names(&all, "Namespace").contains(&(String::new(), namespace.into())));

    // Every fleet binding gives an existing role of deploy/rbac.yaml to exactly that account.
    let mut bound = BTreeSet::new();
    for b in fleet
        .iter()
        .filter(|o| o["kind"].as_str().unwrap().ends_with("Binding"))
    {
        let subjects = b["subjects"].as_array().unwrap();
        assert_eq!(subjects.len(), 1);
        assert_eq!(subjects[0]["kind"], "ServiceAccount");
        assert_eq!(subjects[0]["name"], account);
        assert_eq!(subjects[0]["namespace"], namespace);
        let role = &b["roleRef"];
        let role_ns = if role["kind"] == "Role" {
            b["metadata"]["namespace"].as_str().unwrap().to_owned()
        } else {
            String::new()
        };
        let role_kind = role["kind"].as_str().unwrap();
        let role_name = role["name"].as_str().unwrap();
        assert!(
            names(&all, role_kind).contains(&(role_ns.clone(), role_name.into())),
            "{role_kind} {role_ns}/{role_name} does not exist"
        );
        bound.insert(role_name.to_owned());
    }
    assert_eq!(
        bound,
        [
            "picokubelet:events",
            "picokubelet:lease",
            "picokubelet:node"
        ]
        .map(String::from)
        .into()
    );

    // The FlowSchema matches that account, for exactly what the roles grant, into its own level.
    let schema = fleet.iter().find(|o| o["kind"] == "FlowSchema").unwrap();
    let level = fleet
        .iter()
        .find(|o| o["kind"] == "PriorityLevelConfiguration")
        .unwrap();
    assert_eq!(
        schema["spec"]["priorityLevelConfiguration"]["name"],
        level["metadata"]["name"]
    );
    assert_eq!(level["spec"]["type"], "Limited");
    // Ahead of global-default (9900) and service-accounts (9000).
    assert!(schema["spec"]["matchingPrecedence"].as_u64().unwrap() < 9000);
    let rules = schema["spec"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(
        rules[0]["subjects"],
        json!([{"kind": "ServiceAccount", "serviceAccount": {"name": account, "namespace": namespace}}])
    );
    let mut matched = BTreeSet::new();
    for r in rules[0]["resourceRules"].as_array().unwrap() {
        let ns: Vec<String> = match r["namespaces"].as_array() {
            Some(n) => n.iter().map(|n| n.as_str().unwrap().to_owned()).collect(),
            None => vec![String::new()],
        };
        let list = |k: &str| -> Vec<String> {
            r[k].as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect()
        };
        for n in &ns {
            for g in list("apiGroups") {
                for res in list("resources") {
                    for v in list("verbs") {
                        matched.insert((n.clone(), g.clone(), res.clone(), v));
                    }
                }
            }
        }
    }
    let rbac =
        YamlLoader::load_from_str(&std::fs::read_to_string(deploy("rbac.yaml")).unwrap()).unwrap();
    let granted: BTreeSet<_> = grants(&rbac)
        .into_iter()
        .map(|(_, ns, g, res, v)| (ns, g, res, v))
        .collect();
    assert_eq!(matched, granted);
}

#[test]
fn the_fleets_in_cluster_kubeconfig_resolves_over_the_projected_token() {
    let all = manifests();
    let (_, map) = all
        .iter()
        .find(|(f, o)| f.starts_with("fleet/") && o["kind"] == "ConfigMap")
        .unwrap();
    let text = map["data"]["kubeconfig"].as_str().unwrap();
    // Laid out as the pod's projected volume: token, ca.crt and kubeconfig side by side.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, text).unwrap();
    std::fs::copy(common::fixture("ca.crt"), dir.path().join("ca.crt")).unwrap();
    std::fs::write(dir.path().join("token"), common::TOKEN).unwrap();
    let r = Kubeconfig::parse(text, &path)
        .unwrap()
        .resolve(&ResolveOptions::default())
        .unwrap();
    assert_eq!(
        r.cluster.server.host,
        ServerHost::Dns("kubernetes.default.svc".into())
    );
    assert_eq!(r.credentials.token.expose(), common::TOKEN);
    assert_eq!(
        r.credentials.source,
        TokenSource::File(dir.path().join("token"))
    );
}

/// Expands `$(NAME)` as the kubelet does for container args.
fn expand(arg: &str, env: &[(String, String)]) -> String {
    env.iter()
        .fold(arg.to_owned(), |a, (k, v)| a.replace(&format!("$({k})"), v))
}

#[test]
fn the_statefulset_shards_one_fleet_over_its_replicas_with_disjoint_node_names() {
    shards_one_fleet("picokubelet-fleet", "vb-fleet");
}

#[test]
fn the_bootstrap_statefulset_shards_one_fleet_too() {
    shards_one_fleet("picokubelet-fleet-bootstrap", "vb-boot");
}

/// The StatefulSet `set_name` runs one fleet `<base>-0001 ..` over its replicas, disjoint.
fn shards_one_fleet(set_name: &str, base: &str) {
    use clap::Parser;
    use picokubelet::cli::{Cli, Command};

    let all = manifests();
    let set = all
        .iter()
        .map(|(_, o)| o)
        .find(|o| o["kind"] == "StatefulSet" && o["metadata"]["name"] == set_name)
        .unwrap();
    let replicas = set["spec"]["replicas"].as_u64().unwrap();
    let container = &set["spec"]["template"]["spec"]["containers"][0];
    let env = container["env"].as_array().unwrap();
    let var = |name: &str| env.iter().find(|e| e["name"] == name).unwrap().clone();
    // The pod's index comes from the downward API (the StatefulSet controller's label).
    assert_eq!(
        var("SHARD_INDEX")["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.labels['apps.kubernetes.io/pod-index']"
    );
    assert_eq!(
        var("SHARD_COUNT")["value"].as_str().unwrap(),
        replicas.to_string(),
        "SHARD_COUNT must equal replicas"
    );
    let args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let mut seen = BTreeSet::new();
    let mut per_pod = 0;
    for index in 0..replicas {
        let env = [
            ("SHARD_INDEX".to_owned(), index.to_string()),
            ("SHARD_COUNT".to_owned(), replicas.to_string()),
        ];
        let argv: Vec<String> = std::iter::once("picokubelet".to_owned())
            .chain(args.iter().map(|a| expand(a, &env)))
            .collect();
        let cli = Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
        cli.check().unwrap_or_else(|e| panic!("{argv:?}: {e}"));
        let Command::Fleet(f) = &cli.command else {
            panic!("not a fleet: {argv:?}")
        };
        let shard = f
            .scale
            .shard(|| unreachable!("the index is explicit"))
            .unwrap();
        assert_eq!((shard.index, shard.count), (index as u32, replicas as u32));
        let base = f.node.node_name.as_deref().unwrap();
        let names = shard.names(base, f.count).unwrap();
        per_pod = names.len();
        for n in names {
            assert!(seen.insert(n.clone()), "{n} in two pods");
        }
    }
    assert_eq!(seen.len(), replicas as usize * per_pod);
    assert_eq!(seen.first(), Some(&format!("{base}-0001")));
    assert_eq!(seen.last(), Some(&format!("{base}-4000")));
}

/// deploy/bootstrap-rbac.yaml binds what the test API server's `BootstrapRbac::deploy_manifest`
/// grants (the testkit's tests show that a bootstrap token is then auto-approved).
#[test]
fn bootstrap_rbac_binds_what_the_test_server_emulates() {
    let text = std::fs::read_to_string(deploy("bootstrap-rbac.yaml")).unwrap();
    let docs = YamlLoader::load_from_str(&text).unwrap();
    let groups_of = |role: &str| -> Vec<String> {
        docs.iter()
            .filter(|d| d["kind"].as_str() == Some("ClusterRoleBinding"))
            .filter(|d| d["roleRef"]["name"].as_str() == Some(role))
            .flat_map(|d| d["subjects"].as_vec().unwrap().clone())
            .map(|s| {
                assert_eq!(s["kind"].as_str(), Some("Group"));
                s["name"].as_str().unwrap().to_owned()
            })
            .collect()
    };
    let emulated = picokubelet_testkit::BootstrapRbac::deploy_manifest();
    assert_eq!(
        groups_of("system:node-bootstrapper"),
        emulated.node_bootstrapper
    );
    assert_eq!(
        groups_of("system:certificates.k8s.io:certificatesigningrequests:nodeclient"),
        emulated.nodeclient
    );
    assert_eq!(
        groups_of("system:certificates.k8s.io:certificatesigningrequests:selfnodeclient"),
        emulated.selfnodeclient
    );
    assert_eq!(docs.len(), 3);
}

/// deploy/fleet-bootstrap: every board bootstraps its own identity from the token in the
/// Secret, through a bootstrap kubeconfig that resolves over the projected volume, and keeps
/// its certificates on a writable volume; the pod itself has no API credentials.
#[test]
fn the_bootstrap_fleet_reads_its_token_from_the_secret_and_keeps_certificates_writable() {
    use clap::Parser;
    use picokubelet::cli::{Cli, Command};

    let all = manifests();
    let set = all
        .iter()
        .map(|(_, o)| o)
        .find(|o| o["metadata"]["name"] == "picokubelet-fleet-bootstrap")
        .unwrap();
    let pod = &set["spec"]["template"]["spec"];
    assert_eq!(pod["automountServiceAccountToken"], false);
    let container = &pod["containers"][0];
    let args: Vec<String> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            expand(
                a.as_str().unwrap(),
                &[
                    ("SHARD_INDEX".into(), "0".into()),
                    ("SHARD_COUNT".into(), "4".into()),
                ],
            )
        })
        .collect();
    let cli = Cli::try_parse_from(std::iter::once("picokubelet".to_owned()).chain(args)).unwrap();
    let Command::Fleet(f) = &cli.command else {
        panic!("not a fleet")
    };
    assert!(f.bootstrap.is_active());
    let kubeconfig = f.bootstrap.bootstrap_kubeconfig.as_ref().unwrap();
    let cert_dir = f.bootstrap.cert_dir.as_ref().unwrap();
    let mounts = container["volumeMounts"].as_array().unwrap();
    let mount_of = |path: &std::path::Path| {
        mounts
            .iter()
            .filter(|m| path.starts_with(m["mountPath"].as_str().unwrap()))
            .max_by_key(|m| m["mountPath"].as_str().unwrap().len())
            .unwrap()
            .clone()
    };
    assert_eq!(mount_of(kubeconfig)["readOnly"], true);
    assert_ne!(
        mount_of(cert_dir)["readOnly"],
        true,
        "certificates must be writable"
    );
    let volumes = pod["volumes"].as_array().unwrap();
    let volume = |name: &Value| volumes.iter().find(|v| v["name"] == *name).unwrap().clone();
    assert!(volume(&mount_of(cert_dir)["name"])["emptyDir"].is_object());
    let sources = volume(&mount_of(kubeconfig)["name"])["projected"]["sources"].clone();
    let secret = sources
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["secret"].is_object())
        .unwrap();
    assert_eq!(secret["secret"]["items"][0]["path"], "token");

    // The kubeconfig, laid out as the projected volume, resolves to the token in the Secret.
    let (_, map) = all
        .iter()
        .find(|(_, o)| o["metadata"]["name"] == "picokubelet-fleet-bootstrap-kubeconfig")
        .unwrap();
    let text = map["data"]["bootstrap-kubelet.conf"].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bootstrap-kubelet.conf");
    std::fs::write(&path, text).unwrap();
    std::fs::copy(common::fixture("ca.crt"), dir.path().join("ca.crt")).unwrap();
    std::fs::write(dir.path().join("token"), "abcdef.0123456789abcdef").unwrap();
    let r = Kubeconfig::parse(text, &path)
        .unwrap()
        .resolve(&ResolveOptions::default())
        .unwrap();
    assert_eq!(
        r.credentials.bearer_token().unwrap().expose(),
        "abcdef.0123456789abcdef"
    );
}
