//! Server-side printing: answers to `Accept: application/json;as=Table;v=v1;g=meta.k8s.io` (what
//! `kubectl get` asks for), built as the apiserver's printers build them (`printNode`,
//! `printLease`, `printEvent`, always with the wide columns: the client hides priority-1 columns
//! unless `-owide`). Column definitions are the recorded ones (D13 nodes, D14 leases, D15
//! events); each row carries the object's metadata as a `PartialObjectMetadata`, as recorded.

use std::sync::OnceLock;
use std::time::SystemTime;

use serde_json::{json, Map, Value};

use crate::clock::parse_rfc3339;
use crate::store::{v1_to_core, Kind};

const NODES: &str = include_str!("../../testdata/recorded-2/D13-table-nodes.response.http");
const LEASES: &str = include_str!("../../testdata/recorded-2/D14-table-leases.response.http");
const EVENTS: &str = include_str!("../../testdata/recorded-2/D15-table-events.response.http");

/// Whether an `Accept` asks for a `meta.k8s.io/v1` Table. The apiserver also serves `v1beta1`
/// Tables; kubectl lists `v1` first, so only `v1` is served (a `v1beta1`-only client gets the
/// plain object).
pub(super) fn wants_table(accept: Option<&str>) -> bool {
    accept.unwrap_or("").split(',').any(|range| {
        let params: Vec<&str> = range.split(';').map(str::trim).collect();
        params.first() == Some(&"application/json")
            && params.contains(&"as=Table")
            && params.contains(&"g=meta.k8s.io")
            && params.contains(&"v=v1")
    })
}

/// The Table for an answer `body` of `kind` (one object, or a `…List`) at `now`; `None` when the
/// body is neither (a `Status`).
pub(super) fn table(kind: Kind, body: &Value, now: SystemTime) -> Option<Value> {
    build(kind.kind(), body, columns(kind), |object| {
        cells(kind, object, now)
    })
}

/// `printCertificateSigningRequest`'s Table for a CSR answer `body` (one, or a list) at `now`.
pub(super) fn csr_table(body: &Value, now: SystemTime) -> Option<Value> {
    build("CertificateSigningRequest", body, csr_columns(), |csr| {
        csr_cells(csr, now)
    })
}

/// A Table of the objects in `body` (of `kind`, or a list of them) with `columns` and a row of
/// `cells` each; `None` when the body is neither (a `Status`).
fn build(
    kind: &str,
    body: &Value,
    columns: &Value,
    cells: impl Fn(&Value) -> Vec<Value>,
) -> Option<Value> {
    let (rv, objects): (&Value, Vec<&Value>) = match body.get("items") {
        Some(Value::Array(items)) => (&body["metadata"]["resourceVersion"], items.iter().collect()),
        Some(_) => return None,
        None if body.get("kind").and_then(Value::as_str) == Some(kind) => {
            (&body["metadata"]["resourceVersion"], vec![body])
        }
        None => return None,
    };
    let rows: Vec<Value> = objects
        .into_iter()
        .map(|object| {
            json!({
                "cells": cells(object),
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": object.get("metadata").cloned().unwrap_or_else(|| json!({})),
                },
            })
        })
        .collect();
    let mut metadata = Map::new();
    if let Some(rv) = rv.as_str() {
        metadata.insert("resourceVersion".into(), rv.into());
    }
    // An empty list has `"rows":[]` (the list printers allocate the slice): guess: not recorded.
    Some(json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": columns,
        "rows": rows,
    }))
}

/// guess: no CSR Table is recorded. The columns of the apiserver's CSR printer (NAME, AGE,
/// SIGNERNAME, REQUESTOR, REQUESTEDDURATION, CONDITION; kubectl documents them); Name's and
/// Age's definitions are the recorded ObjectMeta ones (D14), the others' descriptions the
/// certificates.k8s.io/v1 OpenAPI's for the fields the printer names (Requestor's is the
/// `request` field's, as the printer has it).
fn csr_columns() -> &'static Value {
    static CSR: OnceLock<Value> = OnceLock::new();
    CSR.get_or_init(|| {
        let lease = columns(Kind::Lease).as_array().cloned().unwrap_or_default();
        let named = |name: &str| {
            lease
                .iter()
                .find(|c| c["name"] == name)
                .cloned()
                .unwrap_or_else(|| json!({}))
        };
        let column = |name: &str, description: &str| {
            json!({"name": name, "type": "string", "format": "", "description": description, "priority": 0})
        };
        json!([
            named("Name"),
            named("Age"),
            column("SignerName", CSR_SIGNER_NAME_DOC),
            column("Requestor", CSR_REQUEST_DOC),
            column("RequestedDuration", CSR_EXPIRATION_SECONDS_DOC),
            column("Condition", CSR_CONDITIONS_DOC),
        ])
    })
}

/// The field descriptions of /work/shared/k8s/openapi/openapi-v3-certificates-v1.json.
const CSR_SIGNER_NAME_DOC: &str = "signerName indicates the requested signer, and is a qualified name.\n\nList/watch requests for CertificateSigningRequests can filter on this field using a \"spec.signerName=NAME\" fieldSelector.\n\nWell-known Kubernetes signers are:\n 1. \"kubernetes.io/kube-apiserver-client\": issues client certificates that can be used to authenticate to kube-apiserver.\n  Requests for this signer are never auto-approved by kube-controller-manager, can be issued by the \"csrsigning\" controller in kube-controller-manager.\n 2. \"kubernetes.io/kube-apiserver-client-kubelet\": issues client certificates that kubelets use to authenticate to kube-apiserver.\n  Requests for this signer can be auto-approved by the \"csrapproving\" controller in kube-controller-manager, and can be issued by the \"csrsigning\" controller in kube-controller-manager.\n 3. \"kubernetes.io/kubelet-serving\" issues serving certificates that kubelets use to serve TLS endpoints, which kube-apiserver can connect to securely.\n  Requests for this signer are never auto-approved by kube-controller-manager, and can be issued by the \"csrsigning\" controller in kube-controller-manager.\n\nMore details are available at https://k8s.io/docs/reference/access-authn-authz/certificate-signing-requests/#kubernetes-signers\n\nCustom signerNames can also be specified. The signer defines:\n 1. Trust distribution: how trust (CA bundles) are distributed.\n 2. Permitted subjects: and behavior when a disallowed subject is requested.\n 3. Required, permitted, or forbidden x509 extensions in the request (including whether subjectAltNames are allowed, which types, restrictions on allowed values) and behavior when a disallowed extension is requested.\n 4. Required, permitted, or forbidden key usages / extended key usages.\n 5. Expiration/certificate lifetime: whether it is fixed by the signer, configurable by the admin.\n 6. Whether or not requests for CA certificates are allowed.";
const CSR_REQUEST_DOC: &str = "request contains an x509 certificate signing request encoded in a \"CERTIFICATE REQUEST\" PEM block. When serialized as JSON or YAML, the data is additionally base64-encoded.";
const CSR_EXPIRATION_SECONDS_DOC: &str = "expirationSeconds is the requested duration of validity of the issued certificate. The certificate signer may issue a certificate with a different validity duration so a client must check the delta between the notBefore and and notAfter fields in the issued certificate to determine the actual duration.\n\nThe v1.22+ in-tree implementations of the well-known Kubernetes signers will honor this field as long as the requested duration is not greater than the maximum duration they will honor per the --cluster-signing-duration CLI flag to the Kubernetes controller manager.\n\nCertificate signers may not honor this field for various reasons:\n\n  1. Old signer that is unaware of the field (such as the in-tree\n     implementations prior to v1.22)\n  2. Signer whose configured maximum is shorter than the requested duration\n  3. Signer whose configured minimum is longer than the requested duration\n\nThe minimum valid value for expirationSeconds is 600, i.e. 10 minutes.";
const CSR_CONDITIONS_DOC: &str = "conditions applied to the request. Known conditions are \"Approved\", \"Denied\", and \"Failed\".";

/// `printCertificateSigningRequest`: name, age, signer (`<none>` without one), the requesting
/// user, the requested duration (`<none>` without `expirationSeconds`), the condition.
fn csr_cells(csr: &Value, now: SystemTime) -> Vec<Value> {
    let spec = &csr["spec"];
    let or_none = |s: String| {
        if s.is_empty() {
            "<none>".to_string()
        } else {
            s
        }
    };
    let duration = spec["expirationSeconds"].as_i64().map_or_else(
        || "<none>".to_string(),
        |secs| human_duration(i128::from(secs) * 1_000_000_000),
    );
    vec![
        text(&csr["metadata"]["name"]).into(),
        age(&csr["metadata"]["creationTimestamp"], now).into(),
        or_none(text(&spec["signerName"])).into(),
        text(&spec["username"]).into(),
        duration.into(),
        csr_condition(csr).into(),
    ]
}

/// `extractCSRStatus`: Denied over Approved over Pending, then `,Failed` and `,Issued`.
fn csr_condition(csr: &Value) -> String {
    let has = |wanted: &str| {
        csr["status"]["conditions"]
            .as_array()
            .is_some_and(|cs| cs.iter().any(|c| c["type"] == wanted))
    };
    let mut status = if has("Denied") {
        "Denied"
    } else if has("Approved") {
        "Approved"
    } else {
        "Pending"
    }
    .to_string();
    if has("Failed") {
        status.push_str(",Failed");
    }
    if !text(&csr["status"]["certificate"]).is_empty() {
        status.push_str(",Issued");
    }
    status
}

/// The recorded column definitions of `kind`'s printer.
fn columns(kind: Kind) -> &'static Value {
    static NODE: OnceLock<Value> = OnceLock::new();
    static LEASE: OnceLock<Value> = OnceLock::new();
    static EVENT: OnceLock<Value> = OnceLock::new();
    let (cell, recorded) = match kind {
        Kind::Node => (&NODE, NODES),
        Kind::Lease => (&LEASE, LEASES),
        Kind::Event | Kind::EventV1 => (&EVENT, EVENTS),
    };
    cell.get_or_init(|| {
        let body = recorded.split_once("\r\n\r\n").map_or("{}", |(_, b)| b);
        serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|t| t.get("columnDefinitions").cloned())
            .unwrap_or_else(|| json!([]))
    })
}

fn cells(kind: Kind, object: &Value, now: SystemTime) -> Vec<Value> {
    match kind {
        Kind::Node => node_cells(object, now),
        Kind::Lease => vec![
            text(&object["metadata"]["name"]).into(),
            text(&object["spec"]["holderIdentity"]).into(),
            age(&object["metadata"]["creationTimestamp"], now).into(),
        ],
        Kind::Event => event_cells(object, now),
        Kind::EventV1 => event_cells(&v1_to_core(object), now),
    }
}

/// `printNode`: Ready or NotReady (Unknown without the condition), SchedulingDisabled when
/// cordoned; roles from `node-role.kubernetes.io/<role>` and `kubernetes.io/role` labels.
fn node_cells(node: &Value, now: SystemTime) -> Vec<Value> {
    let mut status: Vec<&str> = Vec::new();
    let ready = node["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"));
    match ready {
        Some(c) if c["status"] == "True" => status.push("Ready"),
        Some(_) => status.push("NotReady"),
        None => status.push("Unknown"),
    }
    if node["spec"]["unschedulable"] == true {
        status.push("SchedulingDisabled");
    }
    let mut roles: Vec<&str> = node["metadata"]["labels"]
        .as_object()
        .map(|labels| {
            labels
                .iter()
                .filter_map(|(k, v)| match k.strip_prefix("node-role.kubernetes.io/") {
                    Some(role) if !role.is_empty() => Some(role),
                    Some(_) => None,
                    None if k == "kubernetes.io/role" => v.as_str().filter(|r| !r.is_empty()),
                    None => None,
                })
                .collect()
        })
        .unwrap_or_default();
    roles.sort_unstable();
    roles.dedup();
    let roles = if roles.is_empty() {
        "<none>".to_string()
    } else {
        roles.join(",")
    };
    let info = &node["status"]["nodeInfo"];
    let or_unknown = |v: &Value| {
        let s = text(v);
        if s.is_empty() {
            "<unknown>".to_string()
        } else {
            s
        }
    };
    let address = |kind: &str| {
        node["status"]["addresses"]
            .as_array()
            .and_then(|a| a.iter().find(|a| a["type"] == kind))
            .map_or_else(|| "<none>".to_string(), |a| text(&a["address"]))
    };
    vec![
        text(&node["metadata"]["name"]).into(),
        status.join(",").into(),
        roles.into(),
        age(&node["metadata"]["creationTimestamp"], now).into(),
        text(&info["kubeletVersion"]).into(),
        address("InternalIP").into(),
        address("ExternalIP").into(),
        or_unknown(&info["osImage"]).into(),
        kernel_cell(
            or_unknown(&info["kernelVersion"]),
            &text(&info["architecture"]),
        )
        .into(),
        or_unknown(&info["containerRuntimeVersion"]).into(),
    ]
}

/// The KERNEL-VERSION cell: recorded as `none (xtensa)` for kernelVersion `none` and
/// architecture `xtensa` (D13). Without an architecture the plain version is a guess: not
/// recorded.
fn kernel_cell(kernel: String, architecture: &str) -> String {
    if architecture.is_empty() {
        kernel
    } else {
        format!("{kernel} ({architecture})")
    }
}

/// `printEvent` with the wide columns: last seen, type, reason, object, subobject, source,
/// message, first seen, count, name.
fn event_cells(event: &Value, now: SystemTime) -> Vec<Value> {
    let mut first = age(&event["firstTimestamp"], now);
    if event["firstTimestamp"].is_null() {
        first = age(&event["eventTime"], now);
    }
    let mut last = if event["lastTimestamp"].is_null() {
        first.clone()
    } else {
        age(&event["lastTimestamp"], now)
    };
    let mut count = event["count"].as_i64().unwrap_or(0);
    if event["series"].is_object() {
        last = age(&event["series"]["lastObservedTime"], now);
        count = event["series"]["count"].as_i64().unwrap_or(0);
    } else if count == 0 {
        count = 1;
    }
    let involved = &event["involvedObject"];
    let name = text(&involved["name"]);
    let kind = text(&involved["kind"]).to_lowercase();
    let target = if name.is_empty() {
        kind
    } else {
        format!("{kind}/{name}")
    };
    let first_non_empty = |a: &Value, b: &Value| {
        let a = text(a);
        if a.is_empty() {
            text(b)
        } else {
            a
        }
    };
    let component = first_non_empty(&event["source"]["component"], &event["reportingComponent"]);
    let instance = first_non_empty(&event["source"]["host"], &event["reportingInstance"]);
    let source = if instance.is_empty() {
        component
    } else {
        format!("{component}, {instance}")
    };
    vec![
        last.into(),
        text(&event["type"]).into(),
        text(&event["reason"]).into(),
        target.into(),
        text(&involved["fieldPath"]).into(),
        source.into(),
        text(&event["message"]).trim().into(),
        first.into(),
        count.into(),
        text(&event["metadata"]["name"]).into(),
    ]
}

/// A string field, or "" when absent or null.
fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// `translateTimestampSince`: `<unknown>` for a zero (absent) time, else the age.
fn age(timestamp: &Value, now: SystemTime) -> String {
    match timestamp.as_str().and_then(parse_rfc3339) {
        Some(t) => human_duration(signed_nanos(now, t)),
        None => "<unknown>".to_string(),
    }
}

/// `now - then` in nanoseconds, negative when `then` is later.
fn signed_nanos(now: SystemTime, then: SystemTime) -> i128 {
    match now.duration_since(then) {
        Ok(d) => i128::try_from(d.as_nanos()).unwrap_or(i128::MAX),
        Err(e) => -i128::try_from(e.duration().as_nanos()).unwrap_or(i128::MAX),
    }
}

/// Go's `k8s.io/apimachinery/pkg/util/duration.HumanDuration` (the AGE and LAST SEEN cells).
fn human_duration(nanos: i128) -> String {
    const SECOND: i128 = 1_000_000_000;
    let seconds = nanos / SECOND;
    if seconds < -1 {
        return "<invalid>".to_string();
    }
    if seconds < 0 {
        return "0s".to_string();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    let days = hours / 24;
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{days}d")
        } else {
            format!("{days}d{h}h")
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{days}d");
    }
    if hours < 24 * 365 * 8 {
        let d = days % 365;
        return if d == 0 {
            format!("{}y", days / 365)
        } else {
            format!("{}y{d}d", days / 365)
        };
    }
    format!("{}y", days / 365)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: i128) -> String {
        human_duration(s * 1_000_000_000)
    }

    #[test]
    fn ages_read_as_kubectl_prints_them() {
        // The recorded cells: 0s, 16s, 44s, 3m11s, 3m39s, 18m (D01, D13, D15).
        assert_eq!(secs(0), "0s");
        assert_eq!(secs(16), "16s");
        assert_eq!(secs(119), "119s");
        assert_eq!(secs(120), "2m");
        assert_eq!(secs(191), "3m11s");
        assert_eq!(secs(18 * 60 + 59), "18m");
        assert_eq!(secs(3 * 3600 + 60), "3h1m");
        assert_eq!(secs(8 * 3600 + 60), "8h");
        assert_eq!(secs(3 * 86400 + 3600), "3d1h");
        assert_eq!(secs(800 * 86400), "2y70d");
        assert_eq!(human_duration(-1_500_000_000), "0s");
        assert_eq!(secs(-2), "<invalid>");
    }

    #[test]
    fn only_a_v1_table_is_served() {
        assert!(wants_table(Some(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
        )));
        assert!(wants_table(Some(
            "application/json;as=Table;g=meta.k8s.io;v=v1"
        )));
        assert!(!wants_table(Some(
            "application/json;as=Table;v=v1beta1;g=meta.k8s.io"
        )));
        assert!(!wants_table(Some("application/json")));
        assert!(!wants_table(None));
    }

    #[test]
    fn node_status_and_roles_follow_print_node() {
        let node = json!({
            "metadata": {"name": "n", "labels": {
                "node-role.kubernetes.io/edge": "", "node-role.kubernetes.io/": "",
                "kubernetes.io/role": "edge", "node-role.kubernetes.io/a": "x"}},
            "spec": {"unschedulable": true},
            "status": {"conditions": [{"type": "Ready", "status": "Unknown"}], "nodeInfo": {}},
        });
        let cells = node_cells(&node, SystemTime::UNIX_EPOCH);
        assert_eq!(cells[1], "NotReady,SchedulingDisabled");
        assert_eq!(cells[2], "a,edge");
        assert_eq!(cells[3], "<unknown>");
        assert_eq!(cells[5], "<none>");
        assert_eq!(cells[7], "<unknown>");
        let bare = json!({"metadata": {"name": "n"}});
        assert_eq!(node_cells(&bare, SystemTime::UNIX_EPOCH)[1], "Unknown");
    }

    #[test]
    fn csr_cells_follow_print_certificate_signing_request() {
        let now = parse_rfc3339("2026-12-02T15:31:00Z").unwrap();
        let csr = json!({
            "kind": "CertificateSigningRequest",
            "metadata": {"name": "c", "creationTimestamp": "2026-12-02T15:30:00Z"},
            "spec": {"signerName": "s", "username": "u", "expirationSeconds": 600},
            "status": {"conditions": [{"type": "Approved"}, {"type": "Failed"}]},
        });
        let table = csr_table(&csr, now).unwrap();
        assert_eq!(
            table["rows"][0]["cells"],
            json!(["c", "60s", "s", "u", "10m", "Approved,Failed"])
        );
        let names: Vec<&Value> = table["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| &c["name"])
            .collect();
        assert_eq!(
            names,
            [
                "Name",
                "Age",
                "SignerName",
                "Requestor",
                "RequestedDuration",
                "Condition"
            ]
        );
        let bare = json!({"metadata": {"name": "b"}, "status": {"certificate": "Zm9v",
            "conditions": [{"type": "Approved"}, {"type": "Denied"}]}});
        let cells = csr_cells(&bare, now);
        assert_eq!(cells[2], "<none>");
        assert_eq!(cells[4], "<none>");
        assert_eq!(cells[5], "Denied,Issued");
        assert_eq!(csr_condition(&json!({})), "Pending");
    }

    #[test]
    fn a_status_body_is_not_a_table() {
        let status = json!({"kind": "Status", "apiVersion": "v1", "status": "Success"});
        assert!(table(Kind::Node, &status, SystemTime::UNIX_EPOCH).is_none());
    }
}
