//! Every request body the agent sends, by kind, in one place: the host's `picokubelet render`,
//! the core's `render` example and the README's size-table test all build bodies through
//! [`render`], so what they print is what the agent sends.
use core::net::Ipv4Addr;

use crate::conditions::{Condition, ConditionSet, ConditionThresholds, Signals};
use crate::k8s::body_error::BodyError;
use crate::k8s::chip::Chip;
use crate::k8s::event::{write_node_event, EventType, NodeEvent, EVENT_MAX_LEN};
use crate::k8s::lease::{
    write_lease_create, write_lease_renewal, LEASE_CREATE_MAX_LEN, LEASE_RENEWAL_LEN,
};
use crate::k8s::name::{NameError, NodeName};
use crate::k8s::node::{
    write_node_labels_patch, write_node_registration, NodeProfile, NODE_LABELS_PATCH_MAX_LEN,
    NODE_REGISTRATION_MAX_LEN,
};
use crate::k8s::node_ids::NodeIds;
use crate::k8s::status_patch::{
    write_status_patch, STATUS_PATCH_MAX_LEN, STATUS_PATCH_WITH_DETAILS_MAX_LEN,
};
use crate::time::UnixMicros;

/// Which request body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BodyKind {
    Node,
    Labels,
    Status,
    StatusFull,
    Lease,
    Renew,
    Event,
}

impl BodyKind {
    /// Every kind, in the order the README lists them.
    pub const ALL: [BodyKind; 7] = [
        BodyKind::Node,
        BodyKind::Labels,
        BodyKind::Status,
        BodyKind::StatusFull,
        BodyKind::Lease,
        BodyKind::Renew,
        BodyKind::Event,
    ];

    /// The name on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            BodyKind::Node => "node",
            BodyKind::Labels => "labels",
            BodyKind::Status => "status",
            BodyKind::StatusFull => "status-full",
            BodyKind::Lease => "lease",
            BodyKind::Renew => "renew",
            BodyKind::Event => "event",
        }
    }

    /// The kind called `name` (see [`BodyKind::name`]).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// What the body is, for help texts.
    pub const fn description(self) -> &'static str {
        match self {
            BodyKind::Node => {
                "`POST /api/v1/nodes`: registration with taint, heap annotation and full status"
            }
            BodyKind::Labels => "Merge-patch of the labels we own (after a 409)",
            BodyKind::Status => "Strategic-merge status patch: conditions and the heap annotation",
            BodyKind::StatusFull => {
                "Status patch that also resends capacity, addresses and nodeInfo"
            }
            BodyKind::Lease => "`POST` of the Lease in kube-node-lease",
            BodyKind::Renew => "Lease renewal merge-patch",
            BodyKind::Event => "A NodeReady Event in `default`",
        }
    }

    /// The builder's stated maximum: a buffer of this size always suffices.
    pub const fn max_len(self) -> usize {
        match self {
            BodyKind::Node => NODE_REGISTRATION_MAX_LEN,
            BodyKind::Labels => NODE_LABELS_PATCH_MAX_LEN,
            BodyKind::Status => STATUS_PATCH_MAX_LEN,
            BodyKind::StatusFull => STATUS_PATCH_WITH_DETAILS_MAX_LEN,
            BodyKind::Lease => LEASE_CREATE_MAX_LEN,
            BodyKind::Renew => LEASE_RENEWAL_LEN,
            BodyKind::Event => EVENT_MAX_LEN,
        }
    }
}

/// Everything a body is built from.
#[derive(Clone, Copy, Debug)]
pub struct BodyInput<'a> {
    pub profile: NodeProfile<'a>,
    pub conditions: &'a [Condition],
    /// The heap annotation (registration and status patches).
    pub heap_bytes_free: Option<u64>,
    /// Wall-clock time of the request: heartbeats, renewTime, the event's times.
    pub now: UnixMicros,
    /// The Node's uid (the Lease's ownerReference).
    pub node_uid: &'a str,
    pub lease_duration_secs: u32,
    /// What the Event body reports.
    pub event: NodeEvent<'a>,
}

/// Builds `kind` into `out` (at least [`BodyKind::max_len`] bytes always suffices); returns the
/// length written.
pub fn render(kind: BodyKind, input: &BodyInput<'_>, out: &mut [u8]) -> Result<usize, BodyError> {
    let (profile, conditions, heap, now) = (
        &input.profile,
        input.conditions,
        input.heap_bytes_free,
        input.now,
    );
    match kind {
        BodyKind::Node => write_node_registration(profile, conditions, heap, now, out),
        BodyKind::Labels => write_node_labels_patch(profile, out),
        BodyKind::Status => write_status_patch(conditions, now, heap, None, out),
        BodyKind::StatusFull => write_status_patch(conditions, now, heap, Some(profile), out),
        BodyKind::Lease => write_lease_create(
            profile.name,
            input.node_uid,
            input.lease_duration_secs,
            now,
            out,
        ),
        BodyKind::Renew => write_lease_renewal(now, out),
        // As the kubelet: the event name's suffix is the time in nanoseconds.
        BodyKind::Event => write_node_event(
            profile.name,
            &input.event,
            now.0.saturating_mul(1_000),
            now,
            out,
        ),
    }
}

/// The conditions the core's rules give for `signals`, all transitioned at `now` (a fresh
/// start).
pub fn fresh_conditions(signals: &Signals, now: UnixMicros) -> [Condition; 9] {
    *ConditionSet::new(ConditionThresholds::DEFAULT, signals, now).conditions()
}

/// The README's sample board: an ESP32-S3 with a 20-character name, 3 minutes after boot.
pub mod sample {
    use super::*;
    use crate::k8s::lease::DEFAULT_LEASE_DURATION_SECONDS;

    /// 20 characters: a board name with the last four MAC bytes.
    pub const NODE_NAME: &str = "esp32s3-eth-a1b2c3d4";
    pub const MAC: [u8; 6] = [0x24, 0x0a, 0xa1, 0xb2, 0xc3, 0xd4];
    pub const BOOT_RANDOM: [u8; 16] = [
        0x7f, 0x1c, 0x2d, 0x3e, 0x4b, 0x5a, 0x4c, 0x6d, 0x8e, 0x9f, 0x0a, 0x1b, 0x2c, 0x3d, 0x4e,
        0x5f,
    ];
    pub const INTERNAL_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 4, 23);
    /// 2026-11-24T13:04:12Z, the time of recording 01.
    pub const NOW: UnixMicros = UnixMicros(1_795_525_452_000_000);
    /// The uid the server gave the Node in recording 01.
    pub const NODE_UID: &str = "3478a007-cc90-4afa-8d33-6973abfdb2b8";
    pub const HEAP_BYTES_FREE: u64 = 51_234;
    pub const EVENT: NodeEvent<'static> = NodeEvent {
        kind: EventType::Normal,
        reason: "NodeReady",
        message: "Node esp32s3-eth-a1b2c3d4 status is now: NodeReady",
    };
    /// 178 KiB of a 250 KiB heap free, one Wi-Fi association, 12 renewals in a row.
    pub const SIGNALS: Signals = Signals {
        heap_free_bytes: 178 * 1024,
        heap_total_bytes: 250 * 1024,
        uptime_micros: 180_000_000,
        wifi_associations_recent: 1,
        bssid_changed_since_push: false,
        consecutive_renewals: 12,
        last_reanchor_skew_micros: None,
        reconnects_recent: 0,
    };

    /// The sample board's input, with `conditions` from [`fresh_conditions`] of [`SIGNALS`].
    /// (The name is a valid constant: this never fails.)
    pub fn input(conditions: &[Condition]) -> Result<BodyInput<'_>, NameError> {
        let name = NodeName::new(NODE_NAME)?;
        Ok(BodyInput {
            profile: NodeProfile::for_chip(
                Chip::Esp32s3,
                name,
                NodeIds::new(MAC, BOOT_RANDOM),
                INTERNAL_IP,
            ),
            conditions,
            heap_bytes_free: Some(HEAP_BYTES_FREE),
            now: NOW,
            node_uid: NODE_UID,
            lease_duration_secs: DEFAULT_LEASE_DURATION_SECONDS,
            event: EVENT,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_rfc3339;

    #[test]
    fn names_round_trip_and_the_sample_is_what_it_says() {
        for kind in BodyKind::ALL {
            assert_eq!(BodyKind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(parse_rfc3339(b"2026-11-24T13:04:12Z"), Ok(sample::NOW));
        assert!(NodeName::new(sample::NODE_NAME).is_ok());
        assert_eq!(sample::NODE_NAME.len(), 20);
    }
}
