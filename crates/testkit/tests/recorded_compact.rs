//! Replays testdata/k8s/recorded-compact in recorded order against the test server over real
//! TLS, with the simulated clock set to each recorded `Date`, and compares every answer: status
//! line, header names, order and values (Audit-Id excepted), framing, and the body byte for byte
//! after mapping uids and resourceVersions to the recorded ones.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use picokubelet_testkit::{Fault, FaultRule};
use serde_json::Value;

fn pair(name: &str) -> (Vec<RecordedRequest>, Vec<RecordedResponse>) {
    (
        read_requests(&format!("recorded-compact/{name}.request.txt")),
        read_responses(&format!("recorded-compact/{name}.response.http")),
    )
}

/// Sends each recorded request of `name` on `c` and compares the answers.
fn replay(h: &Harness, c: &mut Client, name: &str, subst: &mut Subst) -> Vec<Resp> {
    let (reqs, resps) = pair(name);
    assert_eq!(reqs.len(), resps.len(), "{name}: requests vs responses");
    let mut out = Vec::new();
    for (i, (req, want)) in reqs.iter().zip(&resps).enumerate() {
        h.advance_to(want.date());
        let got = c.send(&req.to_wire(h, subst)).unwrap();
        assert_matches(&format!("{name}#{i}"), &got, want, subst);
        out.push(got);
    }
    out
}

/// Event lists hold events of earlier Nodes of the same name; compare the current Node's ones.
fn replay_event_list(h: &Harness, c: &mut Client, name: &str, node_uid: &str, subst: &mut Subst) {
    let (reqs, resps) = pair(name);
    h.advance_to(resps[0].date());
    let got = c.send(&reqs[0].to_wire(h, subst)).unwrap();
    assert_eq!(got.status_line, resps[0].status_line);
    let ours = got.json();
    let theirs: Value = serde_json::from_slice(&resps[0].body).unwrap();
    let recorded_items: Vec<&Value> = theirs["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["involvedObject"]["uid"] == node_uid)
        .collect();
    let our_items = ours["items"].as_array().unwrap();
    assert_eq!(
        our_items.len(),
        recorded_items.len(),
        "{name}: events about the node\n{}",
        serde_json::to_string_pretty(&ours).unwrap()
    );
    for (i, (o, r)) in our_items.iter().zip(recorded_items).enumerate() {
        let step = format!("{name} item {i} ({})", r["reason"]);
        if r["source"]["component"] == "node-controller" {
            // The controller names events after the nanosecond of recording.
            subst.learn(
                o["metadata"]["name"].as_str().unwrap(),
                r["metadata"]["name"].as_str().unwrap(),
                &step,
            );
        }
        learn_masked(&step, o, r, subst, "");
        let ours = subst.to_recorded(&serde_json::to_string(o).unwrap());
        assert_eq!(ours, serde_json::to_string(r).unwrap(), "{step}");
    }
}

fn lease_pad_patch(h: &Harness, c: &mut Client, pad: Option<usize>) {
    let token = h.server.node_token("esp-node-01");
    let body = match pad {
        Some(n) => format!(
            "{{\"metadata\":{{\"annotations\":{{\"picokubelet.dev/pad\":\"{}\"}}}}}}",
            "x".repeat(n)
        ),
        None => "{\"metadata\":{\"annotations\":null}}".to_string(),
    };
    let r = c.request(
        "PATCH",
        "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/esp-node-01",
        &token,
        Some("application/merge-patch+json"),
        &body,
    );
    assert_eq!(r.status, 200);
}

#[test]
fn replays_the_compact_recordings_in_order() {
    let h = Harness::new("2026-11-24T13:04:12Z");
    let mut s = Subst::default();
    let mut c = h.client();

    // Registration, NodeRestriction, the controller's reaction.
    for name in [
        "01-post-node-201",
        "02-post-node-again-409",
        "02b-post-node-forbidden-label-403",
    ] {
        replay(&h, &mut c, name, &mut s);
    }
    replay(&h, &mut c, "03-get-node-200", &mut s);
    // Lease create, merge-patch renewal, PUT with resourceVersion.
    for name in [
        "04-post-lease-201",
        "05-patch-lease-merge-200",
        "06-put-lease-200",
    ] {
        replay(&h, &mut c, name, &mut s);
    }
    // Node patches, /status strategic merge with a custom condition and an annotation.
    for name in [
        "07-patch-node-annotation-merge",
        "07b-patch-node-remove-taints-403",
        "07c-patch-node-forbidden-label-403",
        "08-patch-node-status-smp-custom-condition",
    ] {
        replay(&h, &mut c, name, &mut s);
    }
    // Events.
    for name in [
        "09a-post-core-event",
        "09b-post-events-k8s-io-event",
        "09c-post-core-event-kube-system",
    ] {
        replay(&h, &mut c, name, &mut s);
    }
    // Keep-alive: three answers on one connection.
    let mut keepalive = h.client();
    replay(&h, &mut keepalive, "10-keepalive-3-requests", &mut s);
    assert_eq!(h.server.connections().len(), 2, "10 reused its connection");

    // Connection: close, honoured per request.
    let (reqs, resps) = pair("11-connection-close");
    for (i, (req, want)) in reqs.iter().zip(&resps).enumerate() {
        let mut fresh = h.client();
        let got = fresh.send(&req.to_wire(&h, &s)).unwrap();
        assert_matches(&format!("11#{i}"), &got, want, &mut s);
        assert!(
            fresh.is_closed(),
            "11#{i}: server closes after Connection: close"
        );
    }

    // Lifecycle: no renewal since 13:04:15 → Unknown at 13:05:07 (tick), taint, event.
    let node_uid = "3478a007-cc90-4afa-8d33-6973abfdb2b8";
    // (A new connection: an unused one would be closed by the 32 s header timeout.)
    h.advance_to(pair("12b-get-node-unknown").1[0].date());
    let mut c = h.client();
    replay(&h, &mut c, "12b-get-node-unknown", &mut s);
    replay_event_list(&h, &mut c, "12c-get-events-admin", node_uid, &mut s);
    replay(&h, &mut c, "12d-patch-lease-renew", &mut s);
    replay(&h, &mut c, "12e-patch-status-ready-true", &mut s);
    replay(&h, &mut c, "12f-get-node-after-10s", &mut s);
    replay_event_list(
        &h,
        &mut c,
        "12g-get-events-after-recovery",
        node_uid,
        &mut s,
    );

    // Bad requests.
    for name in [
        "14a-patch-malformed-json-400",
        "14b-patch-malformed-json-smp-400",
        "14c-post-malformed-json-400",
        "14d-post-invalid-name-as-node",
        "14e-post-invalid-name-as-admin-422",
        "14f-patch-unsupported-content-type-415",
    ] {
        replay(&h, &mut c, name, &mut s);
    }
    // Heads and body sizes (15f, the OpenAPI document, is not served).
    for name in [
        "15a-headers-api-v1-discovery",
        "15b-headers-get-node",
        "15c-headers-get-lease",
        "15d-headers-version",
        "15e-headers-api-v1-discovery-gzip",
    ] {
        replay(&h, &mut c, name, &mut s);
    }
    // The 2048-byte threshold, with the Lease padded as recorded.
    h.advance_to(parse_http_date("Tue, 24 Nov 2026 13:06:03 GMT"));
    lease_pad_patch(&h, &mut c, Some(1146));
    replay(&h, &mut c, "15g-headers-lease-body-2048", &mut s);
    lease_pad_patch(&h, &mut c, Some(1147));
    replay(&h, &mut c, "15h-headers-lease-body-2049", &mut s);
    lease_pad_patch(&h, &mut c, None);

    // Deletion and garbage collection.
    replay(&h, &mut c, "13a-get-lease-before-delete", &mut s);
    replay(&h, &mut c, "13b-delete-node-admin", &mut s);
    replay(&h, &mut c, "13d-get-lease-after-gc", &mut s);
    replay(&h, &mut c, "13e-get-node-after-delete", &mut s);
    replay_event_list(&h, &mut c, "13f-get-events-after-delete", node_uid, &mut s);

    // APF rejection through the fault hook.
    h.server
        .add_token("throttle", "picokubelet-throttle-test", &[]);
    h.server
        .inject(FaultRule::new(Fault::TooManyRequests).method("POST"));
    let (reqs, resps) = pair("16a-probe-under-pressure");
    let mut req = reqs[0].clone();
    req.headers
        .push(("Authorization".into(), "Bearer throttle".into()));
    h.advance_to(resps[0].date());
    let got = c.send(&req.to_wire(&h, &s)).unwrap();
    assert_matches("16a", &got, &resps[0], &mut s);
}
