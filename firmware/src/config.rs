//! The image's compile-time defaults: the `PK_*` build environment (see the README's table) as
//! the body's `BuildDefaults`, the fallback when the `pkconfig` flash partition holds no usable
//! record (the rules: `picokubelet_firmware_body::config`).

use picokubelet_core::provision::WifiCredentials;
use picokubelet_firmware_body::config::BuildDefaults;

/// Compile-time setting with a default: `env_or!("NAME", "default")`.
macro_rules! env_or {
    ($name:literal, $default:expr) => {
        match option_env!($name) {
            Some(value) => value,
            None => $default,
        }
    };
}

/// What this image falls back to.
pub const DEFAULTS: BuildDefaults = BuildDefaults {
    wifi: Some(WifiCredentials {
        ssid: env_or!("PK_WIFI_SSID", "picokubelet"),
        password: env_or!("PK_WIFI_PASSWORD", "picokubelet"),
    }),
    api_host: option_env!("PK_API_HOST"),
    tls_server_name: option_env!("PK_TLS_SERVER_NAME"),
    node_name: option_env!("PK_NODE_NAME"),
    node_token: option_env!("PK_NODE_TOKEN"),
    // As configured at build time (see build.rs): PEM, DER or base64 of PEM; empty when none.
    cluster_ca: include_bytes!(concat!(env!("OUT_DIR"), "/cluster-ca")),
};
