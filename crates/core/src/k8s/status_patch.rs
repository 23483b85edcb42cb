//! The periodic status report: one strategic-merge patch on `/api/v1/nodes/{name}/status`.
//!
//! Strategic merge merges `conditions` by `type` (a JSON merge-patch would replace the whole
//! list, recording 10), and `/status` keeps metadata changes (recording 08), so the heap
//! annotation rides in the same request instead of a second one.
use crate::conditions::Condition;
use crate::json::writer::JsonWriter;
use crate::k8s::body_error::BodyError;
pub use crate::k8s::node::HEAP_ANNOTATION;
use crate::k8s::node::{
    validate_conditions, write_board_status, write_conditions, write_heap_annotation,
    write_resources_both, AddressList, NodeProfile,
};
use crate::time::UnixMicros;

/// Largest body of [`write_status_patch`] without board details: the heap annotation with
/// `u64::MAX`, and all 9 condition types with status `Unknown`, 64-byte reasons and 192-byte
/// messages (JSON-escaped).
pub const STATUS_PATCH_MAX_LEN: usize = 3_787;
/// Largest body of [`write_status_patch`] with board details, for the worst-case profile of
/// [`crate::k8s::node::NODE_REGISTRATION_MAX_LEN`].
pub const STATUS_PATCH_WITH_DETAILS_MAX_LEN: usize = 5_082;

/// The strategic-merge patch (`application/strategic-merge-patch+json`):
///
/// `{"metadata":{"annotations":{"node.specht.dev/heap-bytes-free":"N"}},"status":{"conditions":[…]}}`
///
/// * `heap_bytes_free`: the annotation; `None` leaves `metadata` out.
/// * `conditions`: all of them, every time: after the node went Unknown the controller leaves
///   the pressure conditions Unknown until the agent re-posts them (recording 12f).
///   `lastHeartbeatTime` is `now`; `lastTransitionTime` comes from each condition.
/// * `details`: also resend capacity, allocatable, addresses (replacing the list),
///   daemonEndpoints and nodeInfo — after a 409 on registration, or when the address changed.
///
/// At most [`STATUS_PATCH_MAX_LEN`] bytes without details, [`STATUS_PATCH_WITH_DETAILS_MAX_LEN`]
/// with.
pub fn write_status_patch(
    conditions: &[Condition],
    now: UnixMicros,
    heap_bytes_free: Option<u64>,
    details: Option<&NodeProfile<'_>>,
    out: &mut [u8],
) -> Result<usize, BodyError> {
    validate_conditions(conditions)?;
    if let Some(p) = details {
        p.validate()?;
    }
    let mut w = JsonWriter::new(out);
    w.begin_object();
    if let Some(free) = heap_bytes_free {
        w.field_object("metadata");
        write_heap_annotation(&mut w, free);
        w.end_object();
    }
    w.field_object("status");
    if let Some(p) = details {
        write_resources_both(&mut w, p);
    }
    write_conditions(&mut w, conditions, now);
    if let Some(p) = details {
        write_board_status(&mut w, p, AddressList::ReplaceInPatch);
    }
    w.end_object();
    w.end_object();
    Ok(w.finish()?)
}
