//! Prints the exact body each builder writes for a sample ESP32-S3 board, and its size.
//!
//! ```text
//! cargo run -p picokubelet-core --example render -- node|labels|status|status-full|lease|renew|event
//! ```
//! The body goes to stdout, `<kind>: <bytes> bytes` to stderr.
use std::io::Write;
use std::net::Ipv4Addr;
use std::process::ExitCode;

use picokubelet_core::conditions::{Condition, ConditionSet, ConditionThresholds, Signals};
use picokubelet_core::k8s::event::{write_node_event, EventType, NodeEvent};
use picokubelet_core::k8s::identity::{NodeIds, NodeName};
use picokubelet_core::k8s::lease::{
    write_lease_create, write_lease_renewal, DEFAULT_LEASE_DURATION_SECONDS,
};
use picokubelet_core::k8s::node::{write_node_labels_patch, write_node_registration, NodeProfile};
use picokubelet_core::k8s::status_patch::write_status_patch;
use picokubelet_core::time::{parse_rfc3339, UnixMicros};

/// 20 characters: a board name with the last four MAC bytes.
const NODE_NAME: &str = "esp32s3-eth-a1b2c3d4";
const MAC: [u8; 6] = [0x24, 0x0a, 0xa1, 0xb2, 0xc3, 0xd4];
const BOOT_RANDOM: [u8; 16] = [
    0x7f, 0x1c, 0x2d, 0x3e, 0x4b, 0x5a, 0x4c, 0x6d, 0x8e, 0x9f, 0x0a, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f,
];
/// The uid the server gave the Node in recording 01.
const NODE_UID: &str = "3478a007-cc90-4afa-8d33-6973abfdb2b8";

/// The conditions the real rules compute for a board 3 minutes after boot with 178 KiB of its
/// 250 KiB heap free, one Wi-Fi association and 12 renewals in a row.
fn conditions(now: UnixMicros) -> [Condition; 9] {
    let signals = Signals {
        heap_free_bytes: 178 * 1024,
        heap_total_bytes: 250 * 1024,
        uptime_micros: 180_000_000,
        wifi_associations_recent: 1,
        bssid_changed_since_push: false,
        consecutive_renewals: 12,
        last_reanchor_skew_micros: None,
        reconnects_recent: 0,
    };
    *ConditionSet::new(ConditionThresholds::default(), &signals, now).conditions()
}

fn main() -> ExitCode {
    let kind = std::env::args().nth(1).unwrap_or_default();
    let name = NodeName::new(NODE_NAME).expect("sample name is valid");
    let profile = NodeProfile::esp32s3(
        name,
        NodeIds::new(MAC, BOOT_RANDOM),
        Ipv4Addr::new(192, 168, 4, 23),
    );
    let now = parse_rfc3339(b"2026-11-24T13:04:12Z").expect("sample time");
    let conds = conditions(now);
    let mut buf = [0u8; 8192];
    let result = match kind.as_str() {
        "node" => write_node_registration(&profile, &conds, now, &mut buf),
        "labels" => write_node_labels_patch(&profile, &mut buf),
        "status" => write_status_patch(&conds, now, Some(51_234), None, &mut buf),
        "status-full" => write_status_patch(&conds, now, Some(51_234), Some(&profile), &mut buf),
        "lease" => write_lease_create(
            name,
            NODE_UID,
            DEFAULT_LEASE_DURATION_SECONDS,
            now.saturating_add_micros(1_008_661),
            &mut buf,
        ),
        "renew" => write_lease_renewal(now.saturating_add_micros(2_040_789), &mut buf),
        "event" => write_node_event(
            name,
            &NodeEvent {
                kind: EventType::Normal,
                reason: "NodeReady",
                message: "Node esp32s3-eth-a1b2c3d4 status is now: NodeReady",
            },
            now.0.saturating_mul(1_000),
            now,
            &mut buf,
        ),
        _ => {
            eprintln!("usage: render node|labels|status|status-full|lease|renew|event");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(n) => {
            let mut out = std::io::stdout();
            let _ = out.write_all(&buf[..n]).and_then(|()| out.write_all(b"\n"));
            eprintln!("{kind}: {n} bytes");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{kind}: {e}");
            ExitCode::FAILURE
        }
    }
}
