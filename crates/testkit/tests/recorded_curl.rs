//! Replays testdata/k8s/recorded (curl's user agent, so the apiserver pretty-prints) in order:
//! version, 404, 401, Node create with defaults, 409, Lease create/PUT, stale resourceVersion
//! 409, strategic merge vs JSON merge on /status, 403s from the Node authorizer and
//! NodeRestriction, discovery. Everything is compared byte for byte after mapping uids and
//! resourceVersions.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;

fn replay(h: &Harness, c: &mut Client, name: &str, subst: &mut Subst) -> Resp {
    let mut req = read_requests(&format!("recorded/{name}.request.txt")).remove(0);
    let want = read_responses(&format!("recorded/{name}.response.http")).remove(0);
    // The recordings omit it, but curl sent its user agent (hence the indented JSON).
    req.headers
        .insert(1, ("User-Agent".into(), "curl/8.5.0".into()));
    h.advance_to(want.date());
    let got = c.send(&req.to_wire(h, subst)).unwrap();
    assert_matches(name, &got, &want, subst);
    got
}

#[test]
fn replays_the_curl_recordings_in_order() {
    let h = Harness::new("2026-11-24T12:37:32Z");
    let mut s = Subst::default();
    let mut c = h.client();
    for name in [
        "01-get-version",
        "02-get-node-404",
        "03-bad-token-401",
        "04-post-node-201",
        "05-post-node-again-409",
        "06-post-lease-201",
        "07-put-lease-200",
        "08-put-lease-stale-rv-409",
    ] {
        replay(&h, &mut c, name, &mut s);
    }
    // The controller's reaction to the create (labels, TTL, the not-ready taint removed because
    // no Ready condition was posted) lands within the same second.
    h.clock.advance(Duration::from_millis(600));
    for name in [
        "09-patch-node-status-strategic-merge",
        "10-patch-node-status-json-merge",
        "11-get-lease",
        "12-node-reads-other-node-403",
        "13-post-other-node-403",
        "14-get-api-v1-discovery",
        "15-get-nodes-list",
    ] {
        replay(&h, &mut c, name, &mut s);
    }
}

#[test]
fn bad_token_401_matches_recorded_03_and_has_no_flow_headers() {
    let h = Harness::new("2026-11-24T12:37:32Z");
    let mut c = h.client();
    let mut s = Subst::default();
    let got = replay(&h, &mut c, "03-bad-token-401", &mut s);
    assert!(got.header("X-Kubernetes-Pf-Flowschema-Uid").is_none());
    // The same for a compact client, and for a token revoked after use.
    let token = h.server.node_token("esp-node-01");
    let ok = c.request("GET", "/api/v1/nodes/esp-node-01", &token, None, "");
    assert_eq!(ok.status, 404);
    h.server.revoke_token(&token);
    let denied = c.request("GET", "/api/v1/nodes/esp-node-01", &token, None, "");
    assert_eq!(denied.status, 401);
    assert_eq!(
        denied.body,
        b"{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\"Unauthorized\",\"reason\":\"Unauthorized\",\"code\":401}\n"
    );
}
