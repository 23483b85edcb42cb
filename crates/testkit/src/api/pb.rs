//! Kubernetes protobuf answers, byte for byte as kube-apiserver writes them (recorded-2 E02, E09,
//! hex in E11): the magic `k8s\0`, then a `runtime.Unknown` {typeMeta, raw, contentEncoding,
//! contentType} whose `raw` is the object.
//!
//! Hand-written rather than `prost`: the stored objects are JSON trees, and the bytes must be
//! those of the apiserver's gogo-protobuf marshallers, which emit every non-pointer field even
//! when empty (`12 00` for an empty `generateName`, `38 00` for `generation: 0`, `1a 00 22 00`
//! closing the envelope) and leave out pointer fields that are unset. prost's proto2/proto3 rules
//! would need a wrapper per field to do the same; a writer of a few functions states the rules
//! where they apply. Field numbers are those of k8s.io/api and k8s.io/apimachinery's
//! `generated.proto`.
//!
//! Only what the agent asks protobuf for is encoded: a Lease, a `Status`, and any object's
//! PartialObjectMetadata view (E04; the status push's answer). Anything else is `None`, and the
//! caller answers JSON.

use std::time::UNIX_EPOCH;

use serde_json::{Map, Value};

use crate::clock::parse_rfc3339;
use crate::json::encode_compact;

/// The four bytes before every Kubernetes protobuf message.
const MAGIC: &[u8] = b"k8s\0";

/// `body` (a rendered object or a `Status`, with `kind` and `apiVersion`) as the apiserver's
/// protobuf answer; `None` for kinds the test server cannot encode.
pub(super) fn encode(body: &Value) -> Option<Vec<u8>> {
    let kind = body.get("kind")?.as_str()?;
    let api_version = body.get("apiVersion")?.as_str()?;
    let raw = match (api_version, kind) {
        ("coordination.k8s.io/v1", "Lease") => lease(body),
        ("v1", "Status") => status(body),
        ("meta.k8s.io/v1", "PartialObjectMetadata") => {
            let mut m = Msg::default();
            m.message(
                1,
                &object_meta(body.get("metadata").unwrap_or(&Value::Null)),
            );
            m
        }
        _ => return None,
    };
    let mut type_meta = Msg::default();
    type_meta.string(1, api_version);
    type_meta.string(2, kind);
    let mut unknown = Msg::default();
    unknown.message(1, &type_meta);
    unknown.bytes(2, &raw.0);
    // contentEncoding and contentType: empty, and written all the same (E02's `1a 00 22 00`).
    unknown.string(3, "");
    unknown.string(4, "");
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&unknown.0);
    Some(out)
}

/// One message being written, fields in ascending number as gogo writes them.
#[derive(Default)]
struct Msg(Vec<u8>);

impl Msg {
    fn key(&mut self, field: u32, wire_type: u8) {
        put_varint(&mut self.0, u64::from(field) << 3 | u64::from(wire_type));
    }

    fn varint(&mut self, field: u32, v: u64) {
        self.key(field, 0);
        put_varint(&mut self.0, v);
    }

    /// An int32 or int64: negative values are sign-extended to ten bytes, as Go's
    /// `encodeVarintGenerated(uint64(v))` does.
    fn int(&mut self, field: u32, v: i64) {
        self.varint(field, v as u64);
    }

    fn bytes(&mut self, field: u32, b: &[u8]) {
        self.key(field, 2);
        put_varint(&mut self.0, b.len() as u64);
        self.0.extend_from_slice(b);
    }

    fn string(&mut self, field: u32, s: &str) {
        self.bytes(field, s.as_bytes());
    }

    fn message(&mut self, field: u32, m: &Msg) {
        self.bytes(field, &m.0);
    }

    /// A non-pointer string field: always written, empty when absent.
    fn text(&mut self, field: u32, obj: &Value, key: &str) {
        self.string(field, obj.get(key).and_then(Value::as_str).unwrap_or(""));
    }

    /// A `*string` field: written only when set.
    fn opt_text(&mut self, field: u32, obj: &Value, key: &str) {
        if let Some(s) = obj.get(key).and_then(Value::as_str) {
            self.string(field, s);
        }
    }

    /// A non-pointer integer: always written, 0 when absent.
    fn number(&mut self, field: u32, obj: &Value, key: &str) {
        self.int(field, obj.get(key).and_then(Value::as_i64).unwrap_or(0));
    }

    /// A `*int32` / `*int64`: written only when set.
    fn opt_number(&mut self, field: u32, obj: &Value, key: &str) {
        if let Some(n) = obj.get(key).and_then(Value::as_i64) {
            self.int(field, n);
        }
    }

    /// A `*bool`: written only when set.
    fn opt_bool(&mut self, field: u32, obj: &Value, key: &str) {
        if let Some(b) = obj.get(key).and_then(Value::as_bool) {
            self.varint(field, u64::from(b));
        }
    }

    /// A `*Time` / `*MicroTime`: written only when set (and a valid time).
    fn opt_time(&mut self, field: u32, obj: &Value, key: &str) {
        if let Some(t) = obj.get(key).and_then(timestamp) {
            self.message(field, &t);
        }
    }

    /// A `map<string, string>`: one entry message per key, keys sorted (the generated marshaller
    /// sorts them); nothing for an empty map.
    ///
    /// guess: E02/E04 hold a Lease without labels or annotations; the form of a non-empty map
    /// (entry {key = 1, value = 2}, sorted keys) is the generated marshaller's, not recorded. So
    /// are the deletion fields, finalizers and `controller`/`blockOwnerDeletion`.
    fn string_map(&mut self, field: u32, obj: &Value, key: &str) {
        let Some(Value::Object(map)) = obj.get(key) else {
            return;
        };
        let mut keys: Vec<&String> = map.keys().collect();
        keys.sort();
        for k in keys {
            let mut entry = Msg::default();
            entry.string(1, k);
            entry.string(2, map.get(k).and_then(Value::as_str).unwrap_or(""));
            self.message(field, &entry);
        }
    }

    /// A repeated message field.
    fn each(&mut self, field: u32, obj: &Value, key: &str, encode: fn(&Value) -> Msg) {
        if let Some(Value::Array(items)) = obj.get(key) {
            for item in items {
                self.message(field, &encode(item));
            }
        }
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// `metav1.Time` / `MicroTime` as the `Timestamp` message {seconds = 1, nanos = 2}, both always
/// written (E02: `08 8c f3 c0 d8 06 10 00`).
fn timestamp(v: &Value) -> Option<Msg> {
    let at = parse_rfc3339(v.as_str()?)?;
    let since = at.duration_since(UNIX_EPOCH).ok()?;
    let mut t = Msg::default();
    t.int(1, i64::try_from(since.as_secs()).ok()?);
    t.int(2, i64::from(since.subsec_nanos()));
    Some(t)
}

/// `coordination.k8s.io/v1` Lease {metadata = 1, spec = 2}.
fn lease(body: &Value) -> Msg {
    let null = Value::Null;
    let spec = body.get("spec").unwrap_or(&null);
    let mut s = Msg::default();
    s.opt_text(1, spec, "holderIdentity");
    s.opt_number(2, spec, "leaseDurationSeconds");
    s.opt_time(3, spec, "acquireTime");
    s.opt_time(4, spec, "renewTime");
    s.opt_number(5, spec, "leaseTransitions");
    s.opt_text(6, spec, "strategy");
    s.opt_text(7, spec, "preferredHolder");
    let mut m = Msg::default();
    m.message(1, &object_meta(body.get("metadata").unwrap_or(&null)));
    m.message(2, &s);
    m
}

/// `metav1.ObjectMeta`.
fn object_meta(meta: &Value) -> Msg {
    let mut m = Msg::default();
    m.text(1, meta, "name");
    m.text(2, meta, "generateName");
    m.text(3, meta, "namespace");
    m.text(4, meta, "selfLink");
    m.text(5, meta, "uid");
    m.text(6, meta, "resourceVersion");
    m.number(7, meta, "generation");
    // A non-pointer Time: an unset one marshals to an empty message.
    let created = meta.get("creationTimestamp").and_then(timestamp);
    m.message(8, &created.unwrap_or_default());
    m.opt_time(9, meta, "deletionTimestamp");
    m.opt_number(10, meta, "deletionGracePeriodSeconds");
    m.string_map(11, meta, "labels");
    m.string_map(12, meta, "annotations");
    m.each(13, meta, "ownerReferences", owner_reference);
    if let Some(Value::Array(finalizers)) = meta.get("finalizers") {
        for f in finalizers {
            m.string(14, f.as_str().unwrap_or(""));
        }
    }
    m.each(17, meta, "managedFields", managed_fields_entry);
    m
}

/// `metav1.OwnerReference` {kind = 1, name = 3, uid = 4, apiVersion = 5, controller = 6,
/// blockOwnerDeletion = 7}.
fn owner_reference(r: &Value) -> Msg {
    let mut m = Msg::default();
    m.text(1, r, "kind");
    m.text(3, r, "name");
    m.text(4, r, "uid");
    m.text(5, r, "apiVersion");
    m.opt_bool(6, r, "controller");
    m.opt_bool(7, r, "blockOwnerDeletion");
    m
}

/// `metav1.ManagedFieldsEntry`; `fieldsV1` is the JSON of the field set as raw bytes (E02).
fn managed_fields_entry(e: &Value) -> Msg {
    let mut m = Msg::default();
    m.text(1, e, "manager");
    m.text(2, e, "operation");
    m.text(3, e, "apiVersion");
    m.opt_time(4, e, "time");
    m.text(6, e, "fieldsType");
    if let Some(fields) = e.get("fieldsV1") {
        let mut json = encode_compact(fields);
        json.pop(); // the encoder's newline
        let mut raw = Msg::default();
        raw.bytes(1, &json);
        m.message(7, &raw);
    }
    m.text(8, e, "subresource");
    m
}

/// `metav1.Status` {metadata = 1 (ListMeta), status = 2, message = 3, reason = 4, details = 5,
/// code = 6}.
fn status(body: &Value) -> Msg {
    let empty = Value::Object(Map::new());
    let list_meta = body.get("metadata").unwrap_or(&empty);
    let mut lm = Msg::default();
    lm.text(1, list_meta, "selfLink");
    lm.text(2, list_meta, "resourceVersion");
    lm.text(3, list_meta, "continue");
    lm.opt_number(4, list_meta, "remainingItemCount");
    let mut m = Msg::default();
    m.message(1, &lm);
    m.text(2, body, "status");
    m.text(3, body, "message");
    m.text(4, body, "reason");
    if let Some(d) = body.get("details") {
        let mut details = Msg::default();
        details.text(1, d, "name");
        details.text(2, d, "group");
        details.text(3, d, "kind");
        details.each(4, d, "causes", |c| {
            let mut cause = Msg::default();
            cause.text(1, c, "reason");
            cause.text(2, c, "message");
            cause.text(3, c, "field");
            cause
        });
        details.number(5, d, "retryAfterSeconds");
        details.text(6, d, "uid");
        m.message(5, &details);
    }
    m.number(6, body, "code");
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn varints_and_negative_numbers_encode_as_go_does() {
        let mut m = Msg::default();
        m.int(7, 0);
        m.int(7, 300);
        m.int(7, -1);
        assert_eq!(
            m.0,
            [
                0x38, 0x00, 0x38, 0xac, 0x02, 0x38, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                0xff, 0x01
            ]
        );
    }

    #[test]
    fn other_kinds_are_left_to_json() {
        assert!(encode(&json!({"kind": "Node", "apiVersion": "v1"})).is_none());
        assert!(
            encode(&json!({"kind": "LeaseList", "apiVersion": "coordination.k8s.io/v1"})).is_none()
        );
        assert!(encode(&json!({"metadata": {}})).is_none());
    }

    #[test]
    fn a_status_has_its_empty_list_meta_and_code() {
        let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": "m", "reason": "NotFound",
            "details": {"name": "n", "kind": "leases", "group": "coordination.k8s.io"},
            "code": 404});
        let got = encode(&body).unwrap();
        let mut want = b"k8s\0".to_vec();
        // Unknown.typeMeta {apiVersion "v1", kind "Status"}
        want.extend_from_slice(&[0x0a, 0x0c, 0x0a, 0x02, b'v', b'1', 0x12, 0x06]);
        want.extend_from_slice(b"Status");
        let details: Vec<u8> = [
            &[0x0a, 0x01, b'n', 0x12, 0x13][..],
            b"coordination.k8s.io",
            &[0x1a, 0x06],
            b"leases",
            &[0x28, 0x00, 0x32, 0x00],
        ]
        .concat();
        let raw: Vec<u8> = [
            &[0x0a, 0x06, 0x0a, 0x00, 0x12, 0x00, 0x1a, 0x00][..],
            &[0x12, 0x07],
            b"Failure",
            &[0x1a, 0x01, b'm', 0x22, 0x08],
            b"NotFound",
            &[0x2a, details.len() as u8],
            &details,
            &[0x30, 0x94, 0x03],
        ]
        .concat();
        want.extend_from_slice(&[0x12, raw.len() as u8]);
        want.extend_from_slice(&raw);
        want.extend_from_slice(&[0x1a, 0x00, 0x22, 0x00]);
        assert_eq!(got, want);
    }
}
