//! Shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

use picokubelet::kubeconfig::{Kubeconfig, KubeconfigError};

/// The (fake) ServiceAccount token in `fixtures/token.yaml` and `fixtures/secrets/node.token`.
pub const TOKEN: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImZpeHR1cmUifQ.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6cGljb2t1YmVsZXQ6dmItdGVzdCJ9.Zml4dHVyZS1zaWduYXR1cmU";

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
        .join(name)
}

/// Parses a fixture file.
pub fn load_fixture(name: &str) -> Kubeconfig {
    let path = fixture(name);
    let text = std::fs::read_to_string(&path).unwrap();
    Kubeconfig::parse(&text, &path).unwrap()
}

/// Parses YAML as if it were the file `dir/config`.
pub fn parse_in(dir: &std::path::Path, yaml: &str) -> Result<Kubeconfig, KubeconfigError> {
    Kubeconfig::parse(yaml, &dir.join("config"))
}

/// The CA of the fixtures, base64 (as certificate-authority-data).
pub fn ca_data() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(std::fs::read(fixture("ca.crt")).unwrap())
}
