//! The token never shows in Debug output, error messages or the binary's output.
mod common;

use std::process::Command;

use common::{fixture, load_fixture, TOKEN};
use picokubelet::kubeconfig::ResolveOptions;
use picokubelet::secret::Secret;

#[test]
fn secret_debug_is_redacted() {
    let s = Secret::new(TOKEN);
    let shown = format!("{s:?} {s:#?}");
    assert!(!shown.contains(TOKEN), "{shown}");
    assert!(!shown.contains("eyJ"), "{shown}");
    assert!(shown.contains("redacted"));
    assert_eq!(s.expose(), TOKEN);
}

#[test]
fn resolved_config_and_kubeconfig_debug_hide_the_token() {
    for (file, context) in [
        ("token.yaml", None),
        ("multi.yaml", Some("lab-picokubelet")),
    ] {
        let config = load_fixture(file);
        let resolved = config
            .resolve(&ResolveOptions {
                context: context.map(str::to_owned),
                insecure_skip_tls_verify: false,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(resolved.credentials.token.expose(), TOKEN);
        for shown in [
            format!("{resolved:?}"),
            format!("{resolved:#?}"),
            format!("{:?}", resolved.credentials),
            format!("{config:?}"),
            format!("{config:#?}"),
        ] {
            assert!(!shown.contains(TOKEN), "{file}: {shown}");
            assert!(!shown.contains("eyJhbGci"), "{file}: {shown}");
        }
    }
}

#[test]
fn the_binary_never_prints_the_token() {
    // `--dry-run` resolves the whole kubeconfig, logs a summary and stops; the running agents'
    // output is checked for the token by tests/e2e_run.rs and tests/e2e_conditions.rs.
    let out = Command::new(env!("CARGO_BIN_EXE_picokubelet"))
        .args([
            "fleet",
            "--count",
            "1",
            "--node-name",
            "vb-test",
            "--dry-run",
            "--kubeconfig",
        ])
        .arg(fixture("token.yaml"))
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("kubeconfig resolved"), "{text}");
    assert!(!text.contains(TOKEN), "{text}");
    assert!(!text.contains("eyJhbGci"), "{text}");
}
