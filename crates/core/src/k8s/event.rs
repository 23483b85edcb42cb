//! core/v1 Events about the Node, as the kubelet posts them: namespace `default` (an event about
//! a cluster-scoped object must live there, recording 09c) and `involvedObject.uid` = the node
//! name, so `kubectl describe node` finds them.
use crate::json::writer::JsonWriter;
use crate::k8s::body_error::check_text;
use crate::k8s::body_error::BodyError;
use crate::k8s::name::{NodeName, MAX_SUBDOMAIN_LEN};
use crate::time::{format_rfc3339, UnixMicros, RFC3339_LEN};

/// Namespace of events about the Node.
pub const EVENT_NAMESPACE: &str = "default";
/// `source.component` and `reportingComponent`.
pub const REPORTING_COMPONENT: &str = "picokubelet";
/// Longest `reason` (JSON-escaped).
pub const MAX_EVENT_REASON_LEN: usize = 128;
/// Longest `message` (JSON-escaped).
pub const MAX_EVENT_MESSAGE_LEN: usize = 1024;
/// Largest body of [`write_node_event`]: a 253-byte node name (the event name's prefix is cut
/// to fit 253 bytes), a 128-byte reason and a 1024-byte message (JSON-escaped), type `Warning`.
pub const EVENT_MAX_LEN: usize = 2_802;

/// `type` of an Event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Normal,
    Warning,
}

impl EventType {
    /// The API's spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// What happened: `reason` is a short UpperCamelCase word (`NodeReady`, `Starting`), `message`
/// a sentence for people.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeEvent<'a> {
    pub kind: EventType,
    pub reason: &'a str,
    pub message: &'a str,
}

/// `.` and 16 hex digits after the node name.
const NAME_SUFFIX_LEN: usize = 17;

/// The part of the node name that starts the event name: all of it when `<node>.<16 hex>` fits
/// 253 bytes, else cut to 236 bytes and then back to an alphanumeric end, so the event name is
/// still a DNS-1123 subdomain.
pub fn event_name_prefix<'a>(node: NodeName<'a>) -> &'a str {
    let name = node.as_str();
    let max = MAX_SUBDOMAIN_LEN - NAME_SUFFIX_LEN;
    if name.len() <= max {
        return name;
    }
    // The name is ASCII, so every byte offset is a char boundary.
    name.get(..max).unwrap_or(name).trim_end_matches(['-', '.'])
}

/// The body of `POST /api/v1/namespaces/default/events`. `metadata.name` is
/// `<node>.<unique as 16 hex digits>` (the kubelet uses the time in ns: pass something unique
/// per event). `firstTimestamp` = `lastTimestamp` = `now`, `count` 1. At most [`EVENT_MAX_LEN`]
/// bytes.
pub fn write_node_event(
    node: NodeName<'_>,
    event: &NodeEvent<'_>,
    unique: u64,
    now: UnixMicros,
    out: &mut [u8],
) -> Result<usize, BodyError> {
    check_text("reason", event.reason, MAX_EVENT_REASON_LEN)?;
    check_text("message", event.message, MAX_EVENT_MESSAGE_LEN)?;
    let mut time_buf = [0u8; RFC3339_LEN];
    let now_text = format_rfc3339(now, &mut time_buf);
    let mut w = JsonWriter::new(out);
    w.begin_object();
    w.field_str("apiVersion", "v1");
    w.field_str("kind", "Event");
    w.field_object("metadata");
    w.field_fmt(
        "name",
        format_args!("{}.{unique:016x}", event_name_prefix(node)),
    );
    w.field_str("namespace", EVENT_NAMESPACE);
    w.end_object();
    w.field_object("involvedObject");
    w.field_str("apiVersion", "v1");
    w.field_str("kind", "Node");
    w.field_str("name", node.as_str());
    w.field_str("uid", node.as_str());
    w.end_object();
    w.field_str("reason", event.reason);
    w.field_str("message", event.message);
    w.field_object("source");
    w.field_str("component", REPORTING_COMPONENT);
    w.field_str("host", node.as_str());
    w.end_object();
    w.field_str("firstTimestamp", now_text);
    w.field_str("lastTimestamp", now_text);
    w.field_u64("count", 1);
    w.field_str("type", event.kind.as_str());
    w.field_str("reportingComponent", REPORTING_COMPONENT);
    w.field_str("reportingInstance", node.as_str());
    w.end_object();
    Ok(w.finish()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;

    fn long_name(dash_at: usize) -> String {
        let head = ["a".repeat(63), "b".repeat(63), "c".repeat(63)].join(".") + ".";
        let mut tail = "d".repeat(61).into_bytes();
        tail[dash_at - head.len()] = b'-';
        head + core::str::from_utf8(&tail).unwrap()
    }

    #[test]
    fn short_names_are_kept_whole() {
        let n = NodeName::new("esp-node-01").unwrap();
        assert_eq!(event_name_prefix(n), "esp-node-01");
        let edge =
            "x".repeat(63) + "." + &"y".repeat(63) + "." + &"z".repeat(63) + "." + &"w".repeat(44);
        assert_eq!(edge.len(), 236);
        assert_eq!(event_name_prefix(NodeName::new(&edge).unwrap()), edge);
    }

    #[test]
    fn long_names_are_cut_to_an_alphanumeric_end() {
        let name = long_name(235);
        assert_eq!(name.len(), 253);
        let prefix = event_name_prefix(NodeName::new(&name).unwrap());
        assert_eq!(prefix.len(), 235);
        assert!(prefix.ends_with('d'));
        let mut buf = [0u8; EVENT_MAX_LEN];
        let ev = NodeEvent {
            kind: EventType::Normal,
            reason: "NodeReady",
            message: "",
        };
        let n = write_node_event(
            NodeName::new(&name).unwrap(),
            &ev,
            1,
            UnixMicros(0),
            &mut buf,
        )
        .unwrap();
        let body = core::str::from_utf8(&buf[..n]).unwrap();
        let event_name = std::format!("{prefix}.0000000000000001");
        assert!(NodeName::new(&event_name).is_ok());
        assert!(body.contains(&std::format!("\"name\":\"{event_name}\"")));
    }
}
