//! The scene of the kubectl recordings (recorded-2 D01–D16): three picokubelet Nodes created at
//! the recorded times (esp-boot-01 at 15:30:20, esp-test-02 at 15:33:15, esp-test-03 at
//! 15:33:31) with the recorded Node body, Leases for the first two, on a simulated clock, so
//! ages and times come out as recorded.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, SystemTime};

use picokubelet_testkit::{format_micro_time, parse_rfc3339, Clock};
use serde_json::{json, Value};

use crate::common::{recorded_2, Harness};

pub const NODES: [&str; 3] = ["esp-boot-01", "esp-test-02", "esp-test-03"];

/// (name, created, first renewal); renewals follow every 10 s.
pub const LEASES: [(&str, &str, &str); 2] = [
    (
        "esp-boot-01",
        "2026-12-02T15:30:20.1Z",
        "2026-12-02T15:30:28Z",
    ),
    (
        "esp-test-02",
        "2026-12-02T15:33:16Z",
        "2026-12-02T15:33:26Z",
    ),
];

/// A recorded kubectl log (D01–D10).
pub fn kubectl_log(name: &str) -> String {
    std::fs::read_to_string(recorded_2(name)).unwrap()
}

/// What kubectl printed on stdout in a recorded log.
pub fn recorded_stdout(log: &str) -> String {
    let after = log.split_once("# stdout:\n").unwrap().1;
    after.split_once("# rc=").unwrap().0.to_string()
}

/// The Node as the picokubelet agent created it (the first response body of D04, without what
/// the server and the controller add).
pub fn node_body(name: &str) -> Value {
    let log = kubectl_log("D04-describe-node.kubectl-v9.txt");
    let line = log
        .lines()
        .find(|l| l.starts_with("\t{\"kind\":\"Node\""))
        .unwrap();
    let mut node: Value = serde_json::from_str(line.trim()).unwrap();
    let meta = node["metadata"].as_object_mut().unwrap();
    for server_side in [
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "managedFields",
    ] {
        meta.remove(server_side);
    }
    meta["name"] = json!(name);
    let labels = meta["labels"].as_object_mut().unwrap();
    labels.retain(|k, _| !k.starts_with("beta."));
    labels["kubernetes.io/hostname"] = json!(name);
    meta["annotations"]
        .as_object_mut()
        .unwrap()
        .remove("node.alpha.kubernetes.io/ttl");
    node["status"]["addresses"][1]["address"] = json!(name);
    node
}

/// When the scene's server starts: the node controller's 5 s monitor ticks then fall at
/// x0.5 s and x5.5 s, which puts the `RegisteredNode` events at the recorded seconds
/// (esp-boot-01 created at 15:30:20.0 and registered at the tick 0.5 s later; esp-test-02
/// created just after the tick at 15:33:15.5, registered at 15:33:20.5).
pub const START: &str = "2026-12-02T15:30:00.5Z";

/// Node creations at these instants (their creationTimestamp is the second).
const CREATED: [&str; 3] = [
    "2026-12-02T15:30:20.0Z",
    "2026-12-02T15:33:15.9Z",
    "2026-12-02T15:33:31.0Z",
];

type Step = Box<dyn Fn(&Harness)>;

/// Every step of the scene, in time order, up to `until`: Node and Lease creations, and each
/// board's Lease renewal every 10 s (esp-boot-01's last one before the describe is at 15:33:28,
/// as recorded).
fn steps(until: SystemTime) -> Vec<(SystemTime, Step)> {
    let mut steps: Vec<(SystemTime, Step)> = Vec::new();
    for (name, at) in NODES.into_iter().zip(CREATED) {
        steps.push((
            parse_rfc3339(at).unwrap(),
            Box::new(move |h: &Harness| {
                let token = h.server.node_token(name);
                let body = node_body(name).to_string();
                let r = h.client().request(
                    "POST",
                    "/api/v1/nodes",
                    &token,
                    Some("application/json"),
                    &body,
                );
                assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
            }),
        ));
    }
    for (name, at, renew) in LEASES {
        let created = parse_rfc3339(at).unwrap();
        steps.push((
            created,
            Box::new(move |h: &Harness| {
                let token = h.server.node_token(name);
                let node = h.server.node(name).unwrap();
                let body = json!({
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "Lease",
                    "metadata": {"name": name, "namespace": "kube-node-lease",
                        "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": name,
                            "uid": node["metadata"]["uid"]}]},
                    "spec": {"holderIdentity": name, "leaseDurationSeconds": 40,
                        "renewTime": format_micro_time(h.clock.now())},
                });
                let r = h.client().request(
                    "POST",
                    "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
                    &token,
                    Some("application/json"),
                    &body.to_string(),
                );
                assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
            }),
        ));
        let mut renewal = parse_rfc3339(renew).unwrap();
        while renewal <= until {
            steps.push((
                renewal,
                Box::new(move |h: &Harness| {
                    if h.server.lease(name).is_none() {
                        return;
                    }
                    let body = json!({"spec": {"renewTime": format_micro_time(h.clock.now())}});
                    let r = h.client().request(
                        "PATCH",
                        &format!(
                            "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name}"
                        ),
                        &h.server.node_token(name),
                        Some("application/merge-patch+json"),
                        &body.to_string(),
                    );
                    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
                }),
            ));
            renewal += Duration::from_secs(10);
        }
    }
    steps.retain(|(at, _)| *at <= until);
    steps.sort_by_key(|(at, _)| *at);
    steps
}

/// Plays the scene from `from` (exclusive) to `until` (RFC 3339) and leaves the clock there.
pub fn play(h: &Harness, from: &str, until: &str) {
    let from = parse_rfc3339(from).unwrap();
    let until = parse_rfc3339(until).unwrap();
    for (at, step) in steps(until) {
        if at > from {
            h.advance_to(at);
            step(h);
        }
    }
    h.advance_to(until);
}

/// The harness at [`START`] with the scene played up to `until`.
pub fn build(until: &str) -> Harness {
    let h = Harness::new(START);
    play(&h, START, until);
    h
}
