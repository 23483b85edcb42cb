//! The node's Lease in `kube-node-lease`: the heartbeat the lifecycle controller watches.
use crate::json::writer::JsonWriter;
use crate::k8s::body_error::check_text;
use crate::k8s::body_error::BodyError;
use crate::k8s::name::NodeName;
use crate::time::{format_microtime, UnixMicros, MICROTIME_LEN};

/// Namespace of node leases.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";
/// `spec.leaseDurationSeconds` the kubelet uses. The controller's grace period (50 s) is what
/// actually marks the node Unknown.
pub const DEFAULT_LEASE_DURATION_SECONDS: u32 = 40;
/// Longest owner UID accepted (JSON-escaped); server UIDs are 36-character UUIDs.
pub const MAX_UID_LEN: usize = 64;
/// Largest body of [`write_lease_create`]: a 253-byte node name, a 64-byte (escaped) UID and a
/// 10-digit duration.
pub const LEASE_CREATE_MAX_LEN: usize = 1_108;
/// Exact length of every [`write_lease_renewal`] body.
pub const LEASE_RENEWAL_LEN: usize = 52;

/// The body of `POST /apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases`: name and
/// holder = the node, an ownerReference to the Node (`node_uid` from the Node the server
/// returned) so the Lease is garbage-collected with it (recording 13c), and `renewTime` as a
/// MicroTime. `duration_seconds` must be 1..=2^31-1. At most [`LEASE_CREATE_MAX_LEN`] bytes.
pub fn write_lease_create(
    node: NodeName<'_>,
    node_uid: &str,
    duration_seconds: u32,
    renew_time: UnixMicros,
    out: &mut [u8],
) -> Result<usize, BodyError> {
    if node_uid.is_empty() {
        return Err(BodyError::Invalid {
            field: "metadata.ownerReferences[].uid",
        });
    }
    check_text("metadata.ownerReferences[].uid", node_uid, MAX_UID_LEN)?;
    if duration_seconds == 0 || i32::try_from(duration_seconds).is_err() {
        return Err(BodyError::OutOfRange {
            field: "spec.leaseDurationSeconds",
        });
    }
    let mut time_buf = [0u8; MICROTIME_LEN];
    let mut w = JsonWriter::new(out);
    w.begin_object();
    w.field_str("apiVersion", "coordination.k8s.io/v1");
    w.field_str("kind", "Lease");
    w.field_object("metadata");
    w.field_str("name", node.as_str());
    w.field_str("namespace", LEASE_NAMESPACE);
    w.field_array("ownerReferences");
    w.begin_object();
    w.field_str("apiVersion", "v1");
    w.field_str("kind", "Node");
    w.field_str("name", node.as_str());
    w.field_str("uid", node_uid);
    w.end_object();
    w.end_array();
    w.end_object();
    w.field_object("spec");
    w.field_str("holderIdentity", node.as_str());
    w.field_u64("leaseDurationSeconds", u64::from(duration_seconds));
    w.field_str("renewTime", format_microtime(renew_time, &mut time_buf));
    w.end_object();
    w.end_object();
    Ok(w.finish()?)
}

/// The renewal merge-patch (`application/merge-patch+json`): `{"spec":{"renewTime":"…"}}`, a
/// complete renewal without resourceVersion (recording 05). The caller sends
/// `max(now, last + 1 µs)`: the controller ignores a renewTime that is not later than the last.
/// Always [`LEASE_RENEWAL_LEN`] bytes.
pub fn write_lease_renewal(renew_time: UnixMicros, out: &mut [u8]) -> Result<usize, BodyError> {
    let mut time_buf = [0u8; MICROTIME_LEN];
    let mut w = JsonWriter::new(out);
    w.begin_object();
    w.field_object("spec");
    w.field_str("renewTime", format_microtime(renew_time, &mut time_buf));
    w.end_object();
    w.end_object();
    Ok(w.finish()?)
}
