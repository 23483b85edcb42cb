//! The fixed documents: `/version` and `/api/v1` discovery, as recorded.

use std::sync::OnceLock;

use serde_json::Value;

/// The recorded `/version` body (365 bytes, always indented).
pub(super) const VERSION_BODY: &str = "{\n  \"major\": \"1\",\n  \"minor\": \"36\",\n  \"emulationMajor\": \"1\",\n  \"emulationMinor\": \"36\",\n  \"minCompatibilityMajor\": \"1\",\n  \"minCompatibilityMinor\": \"35\",\n  \"gitVersion\": \"v1.36.2\",\n  \"gitCommit\": \"microshift-deps-8e16b12fda\",\n  \"gitTreeState\": \"clean\",\n  \"buildDate\": \"2026-11-24T12:25:04Z\",\n  \"goVersion\": \"go1.27.3\",\n  \"compiler\": \"gc\",\n  \"platform\": \"linux/amd64\"\n}";

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
