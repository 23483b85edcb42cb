//! Every body we send, validated against the API server's own OpenAPI v3 schemas
//! (testdata/k8s/openapi, from kube-apiserver v1.36.2): a JSON-schema check (types, enums,
//! required fields, date-time formats) plus a strict field check like
//! `kubectl --validate=strict`, since the schemas allow unknown fields and the server would drop
//! a misspelled one silently. Patches are checked against the object's schema (a merge patch is a
//! partial object), after removing strategic-merge directives such as `{"$patch":"replace"}`.
mod bodies_fixtures;

use std::sync::OnceLock;

use bodies_fixtures::*;
use picokubelet_core::k8s::event::{write_node_event, EventType, NodeEvent};
use picokubelet_core::k8s::lease::{write_lease_create, write_lease_renewal};
use picokubelet_core::k8s::node::{write_node_labels_patch, write_node_registration, NodeProfile};
use picokubelet_core::k8s::node_ids::NodeIds;
use picokubelet_core::k8s::status_patch::write_status_patch;
use picokubelet_core::time::UnixMicros;
use serde_json::{json, Map, Value};

const NODE: &str = "io.k8s.api.core.v1.Node";
const LEASE: &str = "io.k8s.api.coordination.v1.Lease";
const EVENT: &str = "io.k8s.api.core.v1.Event";

/// The documents were serialised from kube-openapi's Go structs, so each schema is wrapped as
/// `{"SchemaProps":{…},"ArbitraryKeys":{x-kubernetes-…},"SwaggerSchemaProps":{},"$ref":…}`.
/// Unwrap that into plain JSON Schema.
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

/// All component schemas of the core/v1 and coordination.k8s.io/v1 documents.
fn schemas() -> &'static Map<String, Value> {
    static SCHEMAS: OnceLock<Map<String, Value>> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        let mut all = Map::new();
        for file in ["openapi-v3-core-v1.json", "openapi-v3-coordination-v1.json"] {
            let text = std::fs::read_to_string(testdata(&format!("openapi/{file}"))).unwrap();
            let doc: Value = serde_json::from_str(&text).unwrap();
            let flat = flatten(&doc["components"]["schemas"]);
            for (k, v) in flat.as_object().unwrap() {
                all.insert(k.clone(), v.clone());
            }
        }
        assert!(all.contains_key(NODE) && all.contains_key(LEASE) && all.contains_key(EVENT));
        all
    })
}

fn validator(kind: &str) -> &'static jsonschema::Validator {
    static V: OnceLock<Vec<(String, jsonschema::Validator)>> = OnceLock::new();
    let all = V.get_or_init(|| {
        [NODE, LEASE, EVENT]
            .iter()
            .map(|k| {
                let root = json!({
                    "allOf": [{"$ref": format!("#/components/schemas/{k}")}],
                    "components": {"schemas": schemas()},
                });
                let v = jsonschema::draft4::options()
                    .should_validate_formats(true)
                    .build(&root)
                    .unwrap();
                (k.to_string(), v)
            })
            .collect()
    });
    &all.iter().find(|(k, _)| k == kind).unwrap().1
}

fn schema_errors(kind: &str, body: &Value) -> Vec<String> {
    validator(kind)
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// The schema node a `$ref` / `allOf` chain stands for, as a list of the concrete parts.
fn resolve<'a>(node: &'a Value, out: &mut Vec<&'a Value>) {
    if let Some(r) = node.get("$ref").and_then(Value::as_str) {
        let name = r.strip_prefix("#/components/schemas/").unwrap();
        resolve(&schemas()[name], out);
    }
    if let Some(all) = node.get("allOf").and_then(Value::as_array) {
        for part in all {
            resolve(part, out);
        }
    }
    out.push(node);
}

/// Strict field validation: every object key must be a declared property (or fall under
/// `additionalProperties`, as in maps such as labels). Returns the paths of unknown fields.
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
            if let Some(item_schema) = parts.iter().find_map(|p| p.get("items")) {
                for (i, v) in items.iter().enumerate() {
                    unknown_fields(item_schema, v, &format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

/// Removes strategic-merge-patch directives (`$patch`, `$setElementOrder/…`, `$retainKeys`, …),
/// which the server consumes before it validates the result, and returns what it removed.
fn strip_directives(v: &mut Value, found: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            let keys: Vec<String> = m.keys().filter(|k| k.starts_with('$')).cloned().collect();
            for k in keys {
                found.push(format!("{k}={}", m.remove(&k).unwrap()));
            }
            m.values_mut().for_each(|x| strip_directives(x, found));
        }
        Value::Array(a) => {
            a.iter_mut().for_each(|x| strip_directives(x, found));
            a.retain(|x| !matches!(x, Value::Object(m) if m.is_empty()));
        }
        _ => {}
    }
}

/// Schema errors plus unknown fields of `body` as an instance of `kind`.
fn problems(kind: &str, body: &Value) -> Vec<String> {
    let mut errs = schema_errors(kind, body);
    let mut unknown = Vec::new();
    unknown_fields(&schemas()[kind], body, "", &mut unknown);
    errs.extend(unknown.into_iter().map(|p| format!("unknown field {p}")));
    errs
}

fn assert_valid(what: &str, kind: &str, body: &str, strategic_merge: bool) -> Vec<String> {
    let mut v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{what}: {e}"));
    let mut directives = Vec::new();
    if strategic_merge {
        strip_directives(&mut v, &mut directives);
    }
    let errs = problems(kind, &v);
    assert!(
        errs.is_empty(),
        "{what} is not a valid {kind}: {errs:#?}\n{body}"
    );
    directives
}

fn minimal_profile() -> NodeProfile<'static> {
    NodeProfile {
        taint: None,
        internal_ip: None,
        instance_type: None,
        ..NodeProfile::esp32c6(
            name("c6"),
            NodeIds::new([0; 6], [0; 16]),
            [10, 0, 0, 2].into(),
        )
    }
}

#[test]
fn the_recorded_bodies_pass_so_the_checker_reads_the_schemas_right() {
    for (case, kind) in [
        ("01-post-node-201", NODE),
        ("04-post-lease-201", LEASE),
        ("05-patch-lease-merge-200", LEASE),
        ("06-put-lease-200", LEASE),
        ("07-patch-node-annotation-merge", NODE),
        ("08-patch-node-status-smp-custom-condition", NODE),
        ("09a-post-core-event", EVENT),
    ] {
        assert_valid(case, kind, &recorded_request(case).body, true);
    }
}

#[test]
fn node_bodies_are_valid_nodes() {
    let now = at("2026-11-24T13:04:12Z");
    let conds = sample_conditions(now);
    let wc = WorstCase::new(253);
    let worst = wc.profile(wc.extra_labels());
    let worst_conds = wc.conditions();
    let profiles = [
        ("sample", sample_profile(), &conds),
        ("minimal", minimal_profile(), &conds),
        ("worst case", worst, &worst_conds),
    ];
    for (what, p, c) in &profiles {
        let node = render(|out| write_node_registration(p, c, Some(1), now, out));
        assert_valid(&format!("{what} registration"), NODE, &node, false);
        let labels = render(|out| write_node_labels_patch(p, out));
        assert_valid(&format!("{what} label patch"), NODE, &labels, false);
        let status = render(|out| write_status_patch(c, now, Some(1), None, out));
        assert_valid(&format!("{what} status patch"), NODE, &status, true);
        let no_heap = render(|out| write_status_patch(&c[..1], now, None, None, out));
        assert_valid(
            &format!("{what} status patch without heap"),
            NODE,
            &no_heap,
            true,
        );
        let full = render(|out| write_status_patch(c, now, Some(u64::MAX), Some(p), out));
        let directives = assert_valid(&format!("{what} full status patch"), NODE, &full, true);
        assert_eq!(
            directives,
            ["$patch=\"replace\""],
            "addresses are replaced, not merged"
        );
    }
}

#[test]
fn lease_bodies_are_valid_leases() {
    let wc = WorstCase::new(253);
    let uid = escaped_text(64);
    let t = at("2026-11-24T13:04:13Z");
    let create = render(|out| write_lease_create(name(SAMPLE_NAME), RECORDED_NODE_UID, 40, t, out));
    assert_valid("lease", LEASE, &create, false);
    let worst = render(|out| {
        write_lease_create(
            name(&wc.name),
            &uid,
            i32::MAX as u32,
            UnixMicros(u64::MAX),
            out,
        )
    });
    assert_valid("worst-case lease", LEASE, &worst, false);
    for t in [UnixMicros(0), t, UnixMicros(u64::MAX)] {
        let renew = render(|out| write_lease_renewal(t, out));
        assert_valid("renewal", LEASE, &renew, false);
    }
}

#[test]
fn event_bodies_are_valid_events() {
    let wc = WorstCase::new(253);
    let reason = escaped_text(128);
    let message = escaped_text(1024);
    let t = at("2026-11-24T13:04:15Z");
    let cases = [
        (
            SAMPLE_NAME,
            NodeEvent {
                kind: EventType::Normal,
                reason: "NodeReady",
                message: "ready",
            },
        ),
        (
            wc.name.as_str(),
            NodeEvent {
                kind: EventType::Warning,
                reason: &reason,
                message: &message,
            },
        ),
    ];
    for (node, ev) in &cases {
        let body = render(|out| write_node_event(name(node), ev, u64::MAX, t, out));
        assert_valid("event", EVENT, &body, false);
    }
}

/// Plain schema validation lets a misspelled field through (the schemas allow unknown
/// fields, and the server would drop it); the strict check catches it.
#[test]
fn a_misspelled_field_is_caught() {
    let now = at("2026-11-24T13:04:12Z");
    let body = render(|out| {
        write_node_registration(
            &sample_profile(),
            &sample_conditions(now),
            Some(51_234),
            now,
            out,
        )
    });
    for (right, wrong, path) in [
        (
            "lastHeartbeatTime",
            "lastHeartBeatTime",
            ".status.conditions[0].lastHeartBeatTime",
        ),
        (
            "kubeletEndpoint",
            "kubeletEndpiont",
            ".status.daemonEndpoints.kubeletEndpiont",
        ),
        ("\"taints\"", "\"taint\"", ".spec.taint"),
    ] {
        let bad: Value = serde_json::from_str(&body.replacen(right, wrong, 1)).unwrap();
        assert!(
            schema_errors(NODE, &bad).is_empty(),
            "the schema alone accepts {wrong}"
        );
        assert_eq!(problems(NODE, &bad), [format!("unknown field {path}")]);
    }
    // Labels are a map: any key is declared there.
    assert!(problems(
        NODE,
        &json!({"metadata": {"labels": {"anything.example/x": "y"}}})
    )
    .is_empty());
}

#[test]
fn wrong_types_enums_formats_and_missing_fields_are_caught() {
    let t = at("2026-11-24T13:04:12Z");
    let node: Value = serde_json::from_str(&render(|out| {
        write_node_registration(
            &sample_profile(),
            &sample_conditions(t),
            Some(51_234),
            t,
            out,
        )
    }))
    .unwrap();
    let mutate = |f: &dyn Fn(&mut Value)| {
        let mut v = node.clone();
        f(&mut v);
        schema_errors(NODE, &v)
    };
    assert!(!mutate(
        &|v| v["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"] = json!("10250")
    )
    .is_empty());
    assert!(!mutate(&|v| v["spec"]["taints"][0]["effect"] = json!("NoSchedul")).is_empty());
    assert!(
        !mutate(&|v| v["status"]["conditions"][0]["lastHeartbeatTime"] = json!("yesterday"))
            .is_empty()
    );
    assert!(!mutate(&|v| {
        v["status"]["addresses"][0]
            .as_object_mut()
            .unwrap()
            .remove("address");
    })
    .is_empty());
    assert!(!mutate(&|v| {
        v["status"]["nodeInfo"]
            .as_object_mut()
            .unwrap()
            .remove("kubeProxyVersion");
    })
    .is_empty());
    let lease = json!({"spec": {"renewTime": "2026-11-24 13:04:12", "leaseDurationSeconds": "40"}});
    assert_eq!(
        schema_errors(LEASE, &lease).len(),
        2,
        "{:?}",
        schema_errors(LEASE, &lease)
    );
    let event = json!({"metadata": {}, "count": 1});
    assert!(
        !schema_errors(EVENT, &event).is_empty(),
        "involvedObject is required"
    );
}
