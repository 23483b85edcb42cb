//! Server-side Tables (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`) against the
//! recorded ones: D13 (nodes, cordoned and labelled), D14 (leases), D15 (events), D16/D19 (one
//! node, as admin and as the node itself), D18 (the node may not list nodes: 403).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod kubectl_scene;

use common::{assert_like, recorded, Harness, Resp};
use kubectl_scene::{build, play};
use serde_json::Value;

const TABLE_ACCEPT: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

fn get_table(h: &Harness, target: &str, token: &str) -> Resp {
    let raw = format!(
        "GET {target} HTTP/1.1\r\nHost: 127.0.0.1:7443\r\nUser-Agent: picokubelet/0.1\r\nAuthorization: Bearer {token}\r\nAccept: {TABLE_ACCEPT}\r\n\r\n"
    );
    h.client().send(raw.as_bytes()).unwrap()
}

/// The recorded scene at 15:33:59: esp-boot-01 cordoned, labelled and annotated `a=b`,
/// esp-test-03 deleted (D07–D10 at 15:33:32).
fn scene_at_d13() -> Harness {
    let h = build("2026-12-02T15:33:32Z");
    let admin = h.server.admin_token();
    let node = "/api/v1/nodes/esp-boot-01";
    for (ct, body) in [
        (
            "application/strategic-merge-patch+json",
            r#"{"spec":{"unschedulable":true}}"#,
        ),
        (
            "application/merge-patch+json",
            r#"{"metadata":{"labels":{"a":"b"}}}"#,
        ),
        (
            "application/merge-patch+json",
            r#"{"metadata":{"annotations":{"a":"b"}}}"#,
        ),
    ] {
        let r = h.client().request("PATCH", node, &admin, Some(ct), body);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }
    let r = h
        .client()
        .request("DELETE", "/api/v1/nodes/esp-test-03", &admin, None, "");
    assert_eq!(r.status, 200);
    play(&h, "2026-12-02T15:33:32Z", "2026-12-02T15:33:59Z");
    h
}

/// Compares a Table with the recorded one: framing, column definitions, every cell, and each
/// row's object (kind, apiVersion, name, namespace, labels, annotations).
fn assert_table(step: &str, got: &Resp, recorded_name: &str, skip_rows: &[&str]) {
    let want = recorded(recorded_name);
    assert_eq!(got.status_line, want.status_line, "{step}");
    let names = |h: &[(String, String)]| h.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
    assert_eq!(names(&got.headers), names(&want.headers), "{step}: headers");
    let got: Value = serde_json::from_slice(&got.body).unwrap();
    let want: Value = serde_json::from_slice(&want.body).unwrap();
    for field in ["kind", "apiVersion", "columnDefinitions"] {
        assert_eq!(got[field], want[field], "{step}: {field}");
    }
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&got), keys(&want), "{step}: fields");
    assert_eq!(keys(&got["metadata"]), keys(&want["metadata"]), "{step}");
    let want_rows: Vec<&Value> = want["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| !skip_rows.iter().any(|s| r["cells"].to_string().contains(s)))
        .collect();
    let got_rows = got["rows"].as_array().unwrap();
    assert_eq!(got_rows.len(), want_rows.len(), "{step}: rows\n{got}");
    for (g, w) in got_rows.iter().zip(want_rows) {
        assert_eq!(g["cells"], w["cells"], "{step}: cells");
        let (go, wo) = (&g["object"], &w["object"]);
        assert_eq!(keys(go), keys(wo), "{step}: row object");
        for field in ["kind", "apiVersion"] {
            assert_eq!(go[field], wo[field], "{step}: row object {field}");
        }
        for field in ["name", "namespace", "labels", "annotations"] {
            assert_eq!(
                go["metadata"][field], wo["metadata"][field],
                "{step}: row metadata {field}"
            );
        }
    }
}

#[test]
fn node_and_lease_tables_are_the_recorded_d13_d14_d16() {
    let h = scene_at_d13();
    let admin = h.server.admin_token();
    let nodes = get_table(&h, "/api/v1/nodes?limit=500", &admin);
    assert!(nodes.chunked);
    assert_table("D13", &nodes, "D13-table-nodes.response.http", &[]);
    let leases = get_table(
        &h,
        "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases?limit=500",
        &admin,
    );
    assert_table("D14", &leases, "D14-table-leases.response.http", &[]);
    h.advance_to(picokubelet_testkit::parse_rfc3339("2026-12-02T15:34:00Z").unwrap());
    let one = get_table(&h, "/api/v1/nodes/esp-boot-01", &admin);
    assert_table("D16", &one, "D16-table-single-node.response.http", &[]);
    let rv = h.server.node("esp-boot-01").unwrap()["metadata"]["resourceVersion"].clone();
    assert_eq!(
        one.json()["metadata"]["resourceVersion"],
        rv,
        "one object: its own resourceVersion"
    );
}

#[test]
fn a_node_gets_its_own_row_but_may_not_list_d18_d19() {
    let h = scene_at_d13();
    h.advance_to(picokubelet_testkit::parse_rfc3339("2026-12-02T15:34:00Z").unwrap());
    let token = h.server.node_token("esp-boot-01");
    let own = get_table(&h, "/api/v1/nodes/esp-boot-01", &token);
    assert_table("D19", &own, "D19-table-own-node-as-node.response.http", &[]);
    let list = get_table(&h, "/api/v1/nodes?limit=500", &token);
    assert_like(
        "D18",
        &list,
        &recorded("D18-table-nodes-as-node-403.response.http"),
    );
}

#[test]
fn events_table_has_the_recorded_columns_and_cells_d15() {
    let h = scene_at_d13();
    let admin = h.server.admin_token();
    let events = get_table(&h, "/api/v1/namespaces/default/events?limit=500", &admin);
    let mut got = events.json();
    // The generated part of an event's name differs; the node part must not.
    for row in got["rows"].as_array_mut().unwrap() {
        let name = row["cells"][9]
            .as_str()
            .unwrap()
            .split('.')
            .next()
            .unwrap()
            .to_string();
        row["cells"][9] = Value::String(name);
    }
    let want = recorded("D15-table-events.response.http");
    let want: Value = serde_json::from_slice(&want.body).unwrap();
    assert_eq!(got["columnDefinitions"], want["columnDefinitions"]);
    let want_cells: Vec<Value> = want["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| !r["cells"].to_string().contains("openshift"))
        .map(|r| {
            let mut c = r["cells"].clone();
            let name = c[9]
                .as_str()
                .unwrap()
                .split('.')
                .next()
                .unwrap()
                .to_string();
            c[9] = Value::String(name);
            c
        })
        .collect();
    let got_cells: Vec<Value> = got["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["cells"].clone())
        .collect();
    // The recorded list is from before esp-test-03's RemovingNode event: compare the events of
    // the two Nodes that remain.
    let got_cells: Vec<Value> = got_cells
        .into_iter()
        .filter(|c| c[2] != "RemovingNode" && c[3] != "node/esp-test-03")
        .collect();
    assert_eq!(got_cells, want_cells);
}

#[test]
fn describe_lists_events_across_namespaces_and_no_pods_d04() {
    let h = build("2026-12-02T15:33:32Z");
    let admin = h.server.admin_token();
    let uid = h.server.node("esp-boot-01").unwrap()["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    let target = format!(
        "/api/v1/events?fieldSelector=involvedObject.name%3Desp-boot-01%2CinvolvedObject.namespace%3D%2CinvolvedObject.kind%3DNode%2CinvolvedObject.uid%3D{uid}&limit=500"
    );
    let events = h.client().request("GET", &target, &admin, None, "").json();
    assert_eq!(events["kind"], "EventList");
    let reasons: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["RegisteredNode"]);
    let other = target.replace(&uid, "esp-boot-01");
    let none = h.client().request("GET", &other, &admin, None, "").json();
    assert_eq!(none["items"], serde_json::json!([]));
    let pods = h.client().request(
        "GET",
        "/api/v1/pods?fieldSelector=spec.nodeName%3Desp-boot-01%2Cstatus.phase%21%3DSucceeded%2Cstatus.phase%21%3DFailed&limit=500",
        &admin,
        None,
        "",
    );
    assert_eq!(pods.status, 200);
    assert_eq!(pods.json()["kind"], "PodList");
    assert_eq!(pods.json()["items"], serde_json::json!([]));
    // Across all namespaces, events can only be listed.
    let post = h.client().request(
        "POST",
        "/api/v1/events",
        &admin,
        Some("application/json"),
        "{}",
    );
    assert_eq!(post.status, 405);
}

#[test]
fn label_selectors_filter_lists() {
    let h = scene_at_d13();
    let admin = h.server.admin_token();
    let names = |selector: &str| -> Vec<String> {
        let r = h.client().request(
            "GET",
            &format!("/api/v1/nodes?labelSelector={selector}"),
            &admin,
            None,
            "",
        );
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        r.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names("a%3Db"), ["esp-boot-01"]);
    assert_eq!(names("a%21%3Db"), ["esp-test-02"]);
    assert_eq!(names("kubernetes.io%2Farch%3Dxtensa").len(), 2);
    let bad = h.client().request(
        "GET",
        "/api/v1/nodes?labelSelector=a%20in%20(b)",
        &admin,
        None,
        "",
    );
    assert_eq!(bad.status, 400);
}

#[test]
fn a_patch_asking_for_a_table_gets_one_e10() {
    let h = build("2026-12-02T15:33:32Z");
    let token = h.server.node_token("esp-boot-01");
    let body = r#"{"spec":{"renewTime":"2026-12-02T15:33:32.269082Z"}}"#;
    let raw = format!(
        "PATCH /apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/esp-boot-01 HTTP/1.1\r\nHost: 127.0.0.1:7443\r\nUser-Agent: picokubelet/0.1\r\nAuthorization: Bearer {token}\r\nAccept: application/json;as=Table;g=meta.k8s.io;v=v1\r\nContent-Type: application/merge-patch+json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let r = h.client().send(raw.as_bytes()).unwrap();
    assert_eq!(r.status, 200);
    let table = r.json();
    assert_eq!(table["kind"], "Table");
    assert_eq!(
        table["rows"][0]["cells"],
        serde_json::json!(["esp-boot-01", "esp-boot-01", "3m12s"])
    );
    let rv = h.server.lease("esp-boot-01").unwrap()["metadata"]["resourceVersion"].clone();
    assert_eq!(table["metadata"]["resourceVersion"], rv);
}
