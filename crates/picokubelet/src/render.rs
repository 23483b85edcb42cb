//! `picokubelet render`: the exact bytes the agent would send, built by the core's builders with
//! the real condition rules, in buffers of the sizes the core states.

use clap::ValueEnum;
use picokubelet_core::conditions::{Condition, ConditionSet, ConditionThresholds, Signals};
use picokubelet_core::k8s::event::{write_node_event, EventType, NodeEvent, EVENT_MAX_LEN};
use picokubelet_core::k8s::identity::BodyError;
use picokubelet_core::k8s::lease::{
    write_lease_create, write_lease_renewal, DEFAULT_LEASE_DURATION_SECONDS, LEASE_CREATE_MAX_LEN,
    LEASE_RENEWAL_LEN,
};
use picokubelet_core::k8s::node::{
    write_node_labels_patch, write_node_registration, NodeProfile, NODE_LABELS_PATCH_MAX_LEN,
    NODE_REGISTRATION_MAX_LEN,
};
use picokubelet_core::k8s::status_patch::{
    write_status_patch, STATUS_PATCH_MAX_LEN, STATUS_PATCH_WITH_DETAILS_MAX_LEN,
};
use picokubelet_core::time::UnixMicros;

use crate::cli::SignalArgs;

/// Which request body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BodyKind {
    /// `POST /api/v1/nodes`: registration with taint and full status
    Node,
    /// Merge-patch of the labels we own (after a 409)
    Labels,
    /// Strategic-merge status patch: conditions and the heap annotation
    Status,
    /// Status patch that also resends capacity, addresses and nodeInfo
    StatusFull,
    /// `POST` of the Lease in kube-node-lease
    Lease,
    /// Lease renewal merge-patch
    Renew,
    /// A NodeReady Event in `default`
    Event,
}

impl BodyKind {
    /// The buffer the device gives this builder: the core's stated maximum.
    pub const fn buffer_len(self) -> usize {
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

    /// The name on the command line.
    pub fn name(self) -> &'static str {
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
}

impl SignalArgs {
    /// The signals as the core's rules take them.
    pub fn signals(&self) -> Signals {
        Signals {
            heap_free_bytes: self.heap_free,
            heap_total_bytes: self.heap_total,
            uptime_micros: u64::try_from(self.uptime.as_micros()).unwrap_or(u64::MAX),
            wifi_associations_recent: self.associations,
            bssid_changed_since_push: self.bssid_changed,
            consecutive_renewals: self.renewals,
            last_reanchor_skew_micros: self.skew_ms.map(|ms| ms.saturating_mul(1_000)),
            reconnects_recent: self.reconnects,
        }
    }
}

/// Everything a body is built from.
#[derive(Clone, Copy, Debug)]
pub struct RenderInput<'a> {
    pub profile: NodeProfile<'a>,
    pub signals: Signals,
    pub now: UnixMicros,
    /// The Node's uid (Lease ownerReference).
    pub node_uid: &'a str,
}

/// The conditions the core's rules give for `signals`, all transitioned at `now` (a fresh
/// start).
pub fn conditions(signals: &Signals, now: UnixMicros) -> [Condition; 9] {
    *ConditionSet::new(ConditionThresholds::DEFAULT, signals, now).conditions()
}

/// The kubelet's message for a NodeReady event.
pub fn node_ready_message(node: &str) -> String {
    format!("Node {node} status is now: NodeReady")
}

/// Builds the body in a buffer of [`BodyKind::buffer_len`] bytes and returns exactly the bytes
/// written.
pub fn render(kind: BodyKind, input: &RenderInput<'_>) -> Result<Vec<u8>, BodyError> {
    let mut buf = vec![0u8; kind.buffer_len()];
    let now = input.now;
    let conds = conditions(&input.signals, now);
    let heap = Some(u64::from(input.signals.heap_free_bytes));
    let name = input.profile.name;
    let n = match kind {
        BodyKind::Node => write_node_registration(&input.profile, &conds, now, &mut buf),
        BodyKind::Labels => write_node_labels_patch(&input.profile, &mut buf),
        BodyKind::Status => write_status_patch(&conds, now, heap, None, &mut buf),
        BodyKind::StatusFull => {
            write_status_patch(&conds, now, heap, Some(&input.profile), &mut buf)
        }
        BodyKind::Lease => write_lease_create(
            name,
            input.node_uid,
            DEFAULT_LEASE_DURATION_SECONDS,
            now,
            &mut buf,
        ),
        BodyKind::Renew => write_lease_renewal(now, &mut buf),
        BodyKind::Event => {
            let message = node_ready_message(name.as_str());
            let event = NodeEvent {
                kind: EventType::Normal,
                reason: "NodeReady",
                message: &message,
            };
            // As the kubelet: the event name's suffix is the time in nanoseconds.
            write_node_event(name, &event, now.0.saturating_mul(1_000), now, &mut buf)
        }
    }?;
    buf.truncate(n);
    Ok(buf)
}
