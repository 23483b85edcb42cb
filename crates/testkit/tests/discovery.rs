//! Discovery as kubectl asks for it (recorded-2 D11, D12, D17, D20): aggregated discovery v2 for
//! `/api` and `/apis`, the legacy `APIVersions` for a plain `/api`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{assert_like, recorded, Harness};

const AGGREGATED_ACCEPT: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";

fn get(h: &Harness, target: &str, token: &str, accept: &str) -> common::Resp {
    let raw = format!(
        "GET {target} HTTP/1.1\r\nHost: 127.0.0.1:7443\r\nUser-Agent: picokubelet/0.1\r\nAuthorization: Bearer {token}\r\nAccept: {accept}\r\n\r\n"
    );
    h.client().send(raw.as_bytes()).unwrap()
}

#[test]
fn aggregated_discovery_is_served_as_recorded_d11_d12_d20() {
    let h = Harness::new("2026-12-02T15:33:59Z");
    let admin = h.server.admin_token();
    let api = get(&h, "/api?timeout=32s", &admin, AGGREGATED_ACCEPT);
    assert_like(
        "D11",
        &api,
        &recorded("D11-aggregated-discovery-api.response.http"),
    );
    assert!(api.chunked);
    let apis = get(&h, "/apis?timeout=32s", &admin, AGGREGATED_ACCEPT);
    assert_like(
        "D12",
        &apis,
        &recorded("D12-aggregated-discovery-apis.response.http"),
    );
    let node = h.server.node_token("esp-node-01");
    let as_node = get(&h, "/apis", &node, AGGREGATED_ACCEPT);
    assert_like(
        "D20",
        &as_node,
        &recorded("D20-aggregated-discovery-apis-as-node.response.http"),
    );
    assert_ne!(
        as_node.header("X-Kubernetes-Pf-Flowschema-Uid"),
        apis.header("X-Kubernetes-Pf-Flowschema-Uid"),
        "a node's discovery is in its own flow schema"
    );
}

#[test]
fn plain_api_answers_the_legacy_api_versions_d17() {
    let h = Harness::new("2026-12-02T15:34:00Z");
    let admin = h.server.admin_token();
    let got = get(&h, "/api", &admin, "application/json");
    assert_like(
        "D17",
        &got,
        &recorded("D17-legacy-discovery-api-plain.response.http"),
    );
}
