//! The fixed documents: `/version` and `/api/v1` discovery, as recorded.

use std::sync::OnceLock;

use serde_json::Value;

/// The `/version` body, recorded-2's B04 byte for byte (379 bytes, always indented, the
/// emulation fields of 1.31+; the same document whichever identity asks, A08 and G3g).
pub(super) fn version_body() -> &'static str {
    const RECORDED: &str =
        include_str!("../../testdata/recorded-2/B04-anonymous-version.response.http");
    // The file is CRLF-framed like the wire; its body is the rest after the blank line.
    RECORDED
        .split_once("\r\n\r\n")
        .or_else(|| RECORDED.split_once("\n\n"))
        .map_or("{}", |(_, body)| body)
}

/// `/api/v1` (recorded 14), parsed once.
pub(super) fn discovery() -> &'static Value {
    static DISCOVERY: OnceLock<Value> = OnceLock::new();
    DISCOVERY.get_or_init(|| {
        let recorded =
            include_str!("../../../../testdata/k8s/recorded/14-get-api-v1-discovery.response.http");
        let body = recorded.split_once("\r\n\r\n").map_or("{}", |(_, b)| b);
        serde_json::from_str(body).unwrap_or(Value::Null)
    })
}

const AGGREGATED_API: &str =
    include_str!("../../testdata/recorded-2/D11-aggregated-discovery-api.response.http");
const AGGREGATED_APIS: &str =
    include_str!("../../testdata/recorded-2/D12-aggregated-discovery-apis.response.http");

/// The media type of aggregated discovery v2.
pub(super) const AGGREGATED_TYPE: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Whether an `Accept` asks for aggregated discovery v2 (kubectl's first choice).
pub(super) fn wants_aggregated(accept: Option<&str>) -> bool {
    accept.unwrap_or("").split(',').any(|range| {
        let params: Vec<&str> = range.split(';').map(str::trim).collect();
        params.contains(&"as=APIGroupDiscoveryList")
            && params.contains(&"g=apidiscovery.k8s.io")
            && params.contains(&"v=v2")
    })
}

/// The recorded aggregated discovery document (`/api`: D11, `/apis`: D12, the same for a node
/// in D20) and its `Etag`. Served verbatim: the testkit has fewer resources than the recorded
/// server, but a client caching discovery sees what it saw there.
pub(super) fn aggregated(apis: bool) -> (&'static str, &'static str) {
    let recorded = if apis {
        AGGREGATED_APIS
    } else {
        AGGREGATED_API
    };
    let (head, body) = recorded.split_once("\r\n\r\n").unwrap_or(("", ""));
    let etag = head
        .lines()
        .find_map(|l| l.strip_prefix("Etag: "))
        .unwrap_or("");
    (body, etag)
}
