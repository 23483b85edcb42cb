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
