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
    let (rv, objects): (&Value, Vec<&Value>) = match body.get("items") {
        Some(Value::Array(items)) => (&body["metadata"]["resourceVersion"], items.iter().collect()),
        Some(_) => return None,
        None if body.get("kind").and_then(Value::as_str) == Some(kind.kind()) => {
            (&body["metadata"]["resourceVersion"], vec![body])
        }
        None => return None,
    };
    let rows: Vec<Value> = objects
        .into_iter()
        .map(|object| {
            json!({
                "cells": cells(kind, object, now),
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
        "columnDefinitions": columns(kind),
        "rows": rows,
    }))
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
    fn a_status_body_is_not_a_table() {
        let status = json!({"kind": "Status", "apiVersion": "v1", "status": "Success"});
        assert!(table(Kind::Node, &status, SystemTime::UNIX_EPOCH).is_none());
    }
}
