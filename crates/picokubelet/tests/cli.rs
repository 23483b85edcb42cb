//! The built binary: render output equals the core builders' output, and bad flags fail with the
//! core's own messages and exit status 2.
mod common;

use std::net::Ipv4Addr;
use std::process::{Command, Output};

use common::fixture;
use picokubelet::board::mac_from_name;
use picokubelet::cli::SAMPLE_NODE_UID;
use picokubelet_core::conditions::{ConditionSet, ConditionThresholds, Signals};
use picokubelet_core::k8s::event::{write_node_event, EventType, NodeEvent};
use picokubelet_core::k8s::label::LabelError;
use picokubelet_core::k8s::lease::{write_lease_create, write_lease_renewal};
use picokubelet_core::k8s::name::NodeName;
use picokubelet_core::k8s::node::{write_node_labels_patch, write_node_registration, NodeProfile};
use picokubelet_core::k8s::node_ids::NodeIds;
use picokubelet_core::k8s::status_patch::write_status_patch;
use picokubelet_core::time::parse_rfc3339;

const NOW: &str = "2026-11-24T13:04:12Z";
const BOOT_HEX: &str = "7f1c2d3e4b5a4c6d8e9f0a1b2c3d4e5f";
const BOOT: [u8; 16] = [
    0x7f, 0x1c, 0x2d, 0x3e, 0x4b, 0x5a, 0x4c, 0x6d, 0x8e, 0x9f, 0x0a, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f,
];

/// The binary with a clean environment: no KUBECONFIG, an empty HOME.
fn picokubelet(args: &[&str]) -> Output {
    let home = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_picokubelet"))
        .args(args)
        .env_remove("KUBECONFIG")
        .env("HOME", home.path())
        .env("RUST_LOG", "info")
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The documented defaults of `render`'s signal flags, restated.
fn default_signals() -> Signals {
    Signals {
        heap_free_bytes: 178 * 1024,
        heap_total_bytes: 250 * 1024,
        uptime_micros: 180_000_000,
        wifi_associations_recent: 1,
        bssid_changed_since_push: false,
        consecutive_renewals: 12,
        last_reanchor_skew_micros: None,
        reconnects_recent: 0,
    }
}

/// What the core builders write for node `vb-test` (esp32c6, one extra label, loopback IP).
fn expected(kind: &str) -> Vec<u8> {
    let name = NodeName::new("vb-test").unwrap();
    let labels = [("picokubelet.dev/board", "devkit")];
    let mut profile = NodeProfile::esp32c6(
        name,
        NodeIds::new(mac_from_name("vb-test"), BOOT),
        Ipv4Addr::LOCALHOST,
    );
    profile.extra_labels = &labels;
    let now = parse_rfc3339(NOW.as_bytes()).unwrap();
    let signals = default_signals();
    let conds = *ConditionSet::new(ConditionThresholds::DEFAULT, &signals, now).conditions();
    let heap = Some(u64::from(signals.heap_free_bytes));
    let mut buf = vec![0u8; 16 * 1024];
    let n = match kind {
        "node" => write_node_registration(&profile, &conds, heap, now, &mut buf),
        "labels" => write_node_labels_patch(&profile, &mut buf),
        "status" => write_status_patch(&conds, now, heap, None, &mut buf),
        "status-full" => write_status_patch(&conds, now, heap, Some(&profile), &mut buf),
        "lease" => write_lease_create(name, SAMPLE_NODE_UID, 40, now, &mut buf),
        "renew" => write_lease_renewal(now, &mut buf),
        "event" => write_node_event(
            name,
            &NodeEvent {
                kind: EventType::Normal,
                reason: "NodeReady",
                message: "Node vb-test status is now: NodeReady",
            },
            now.0 * 1_000,
            now,
            &mut buf,
        ),
        _ => unreachable!(),
    }
    .unwrap();
    buf.truncate(n);
    buf
}

#[test]
fn render_equals_the_core_builders() {
    for kind in [
        "node",
        "labels",
        "status",
        "status-full",
        "lease",
        "renew",
        "event",
    ] {
        let out = picokubelet(&[
            "render",
            kind,
            "--node-name",
            "vb-test",
            "--profile",
            "esp32c6",
            "--label",
            "picokubelet.dev/board=devkit",
            "--now",
            NOW,
            "--boot-random",
            BOOT_HEX,
        ]);
        assert!(out.status.success(), "{kind}: {}", stderr(&out));
        let body = out.stdout.strip_suffix(b"\n").unwrap();
        let want = expected(kind);
        assert_eq!(
            String::from_utf8_lossy(body),
            String::from_utf8_lossy(&want),
            "{kind}"
        );
        serde_json::from_slice::<serde_json::Value>(body)
            .unwrap_or_else(|e| panic!("{kind}: not JSON: {e}"));
        let size_line = format!("{kind}: {} bytes", want.len());
        assert!(
            stderr(&out).contains(&size_line),
            "{kind}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn render_uses_the_real_condition_rules() {
    let out = picokubelet(&[
        "render",
        "status",
        "--node-name",
        "vb-test",
        "--heap-free",
        "10000",
        "--now",
        NOW,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let conds = v["status"]["conditions"].as_array().unwrap();
    let memory = conds
        .iter()
        .find(|c| c["type"] == "MemoryPressure")
        .unwrap();
    assert_eq!(memory["status"], "True");
    assert_eq!(memory["reason"], "KubeletHasInsufficientMemory");
    assert_eq!(
        v["metadata"]["annotations"]["node.specht.dev/heap-bytes-free"],
        "10000"
    );
}

#[test]
fn render_defaults_the_name_from_the_hostname() {
    let out = picokubelet(&["render", "node", "--now", NOW]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let name = v["metadata"]["name"].as_str().unwrap();
    assert!(name.starts_with("vb-"), "{name}");
    assert!(NodeName::new(name).is_ok());
    // Different boots get different boot IDs unless one is given.
    let again = picokubelet(&["render", "node", "--now", NOW]);
    let w: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_ne!(
        v["status"]["nodeInfo"]["bootID"],
        w["status"]["nodeInfo"]["bootID"]
    );
    assert_eq!(
        v["status"]["nodeInfo"]["systemUUID"],
        w["status"]["nodeInfo"]["systemUUID"]
    );
}

#[test]
fn render_with_kubeconfig_routes_to_the_server_and_warns_about_the_user() {
    let kubeconfig = fixture("k3s.yaml");
    let out = picokubelet(&[
        "render",
        "node",
        "--node-name",
        "vb-test",
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"]["addresses"][0]["type"], "InternalIP");
    assert_eq!(v["status"]["addresses"][0]["address"], "127.0.0.1");
    let err = stderr(&out);
    assert!(err.contains("`run` would refuse"), "{err}");
    assert!(err.contains("client-certificate-data"), "{err}");
}

fn assert_usage_error(args: &[&str], needle: &str) {
    let out = picokubelet(args);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    assert!(
        stderr(&out).contains(needle),
        "{args:?}: want {needle:?} in {}",
        stderr(&out)
    );
    assert!(out.stdout.is_empty(), "{args:?}");
}

#[test]
fn bad_node_names_fail_with_the_core_message() {
    assert_usage_error(
        &["render", "node", "--node-name", "ESP_1"],
        "byte 0x45 at 0 is not allowed",
    );
    assert_usage_error(&["run", "--node-name", "a..b"], "empty label at 2");
    assert_usage_error(&["render", "node", "--node-name", ""], "name is empty");
    // The fleet's longest name must be valid too: 61 + "-100" breaks the 63-byte label limit.
    let base = "a".repeat(61);
    assert_usage_error(
        &["fleet", "--count", "100", "--node-name", &base],
        "at most 63 allowed",
    );
    assert_usage_error(&["fleet", "--count", "0"], "--count");
}

#[test]
fn bad_labels_fail_with_the_core_message() {
    let forbidden = LabelError::ForbiddenForNode.to_string();
    assert_usage_error(
        &["render", "node", "--label", "node-role.kubernetes.io/edge="],
        &forbidden,
    );
    assert_usage_error(&["run", "--label", "kubernetes.io/foo=bar"], &forbidden);
    assert_usage_error(
        &["render", "node", "--label", "novalue"],
        "expected KEY=VALUE",
    );
    assert_usage_error(
        &["render", "node", "--label", "app=a b"],
        "label value has byte 0x20 at 1",
    );
    assert_usage_error(
        &["render", "node", "--label", "kubernetes.io/arch=amd64"],
        "set by picokubelet itself",
    );
    assert_usage_error(
        &["render", "node", "--label", "a=1", "--label", "a=2"],
        "--label a is given twice",
    );
    assert_usage_error(
        &[
            "render", "node", "--label", "a=1", "--label", "b=1", "--label", "c=1", "--label",
            "d=1", "--label", "e=1",
        ],
        "at most 4 allowed",
    );
}

#[test]
fn interval_and_flag_checks() {
    assert_usage_error(&["run", "--lease-renew-interval", "0s"], "longer than zero");
    assert_usage_error(
        &["run", "--lease-renew-interval", "45s"],
        "40 s lease duration",
    );
    assert_usage_error(&["run", "--status-interval", "soon"], "--status-interval");
    assert_usage_error(&["run", "--metrics-addr", "nowhere"], "--metrics-addr");
    assert_usage_error(
        &["run", "--condition-check-interval", "0s"],
        "longer than zero",
    );
    assert_usage_error(&["fleet", "--count", "2", "--threads", "0"], "--threads");
    assert_usage_error(&["fleet", "--count", "2", "--shard", "4/4"], "0 to N-1");
    assert_usage_error(
        &["fleet", "--count", "2", "--max-handshakes", "0"],
        "--max-handshakes",
    );
    // A 58-character base leaves no room in the 63-byte label for "-" and five digits.
    let base = "a".repeat(58);
    assert_usage_error(
        &[
            "fleet",
            "--count",
            "10",
            "--shard",
            "3/1000",
            "--node-name",
            &base,
        ],
        "63",
    );
    assert_usage_error(
        &["fleet", "--count", "2", "--start-spread", "soon"],
        "--start-spread",
    );
    // Fleet-only flags are not `run` flags.
    assert_usage_error(
        &["run", "--threads", "2"],
        "unexpected argument '--threads'",
    );
    // No abbreviations: skipping verification must be spelled out.
    assert_usage_error(&["run", "--insecure"], "unexpected argument '--insecure'");
    assert_usage_error(&["render", "nodes"], "invalid value 'nodes'");
}

#[test]
fn fleet_dry_run_checks_everything_then_stops() {
    // The agents themselves run in tests/e2e_run.rs and tests/e2e_conditions.rs.
    let kubeconfig = fixture("token.yaml");
    let k = kubeconfig.to_str().unwrap();
    let args = vec![
        "fleet",
        "--kubeconfig",
        k,
        "--count",
        "3",
        "--lease-renew-interval",
        "500ms",
        "--status-interval",
        "2s",
        "--metrics-addr",
        "127.0.0.1:9100",
        "--threads",
        "2",
        "--start-spread",
        "1s",
        "--dry-run",
    ];
    {
        let out = picokubelet(&args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("configuration checked"),
            "{}",
            stderr(&out)
        );
        assert!(
            stderr(&out).contains("kubeconfig resolved"),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn run_refuses_an_unsupported_kubeconfig_with_status_1() {
    let kubeconfig = fixture("k3s.yaml");
    let out = picokubelet(&["run", "--kubeconfig", kubeconfig.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("client-certificate-data"),
        "{}",
        stderr(&out)
    );
    // Without any kubeconfig: the paths tried are named.
    let out = picokubelet(&["run"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains(".kube/config"), "{}", stderr(&out));
}

#[test]
fn insecure_is_printed_loudly() {
    let kubeconfig = fixture("token.yaml");
    // `--dry-run` stops after the checks, so the banner is all it does.
    let out = picokubelet(&[
        "fleet",
        "--count",
        "1",
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "--insecure-skip-tls-verify",
        "--dry-run",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("!!! WARNING: TLS SERVER VERIFICATION IS OFF"),
        "{}",
        stderr(&out)
    );
}
