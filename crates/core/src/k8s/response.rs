//! The few fields the agent reads from API responses, as fixed-size [`Visitor`]s.
//!
//! Run one with [`crate::json::extract::extract`] on a small body, or feed an
//! [`crate::json::extract::Extractor`] the body as it arrives. Each response type picks its
//! values out of the stream; everything else in the body is validated and dropped.
//!
//! Conventions, for every type here:
//! - Text fields are [`BoundedStr`]s: a value longer than the field is kept cut and flagged, and
//!   then equals no `&str` (so a cut `resourceVersion` can never be sent back as if it were whole).
//! - A field that may legitimately be empty and whose absence means something (label values,
//!   addresses) is an `Option`; otherwise an absent string field stays empty.
//! - `null` counts as absent. A value of the wrong JSON type, or a time that does not parse, is
//!   ignored and sets `malformed`, for diagnostics; it is never an error, since the rest of the
//!   response is still good.
//! - If the extractor reports an error, the response is broken: discard what was collected.

use crate::bounded::BoundedStr;
use crate::conditions::{ConditionStatus, ConditionType};
use crate::json::extract::{Path, Scalar, Step, Visitor};
use crate::k8s::taint::TaintEffect;
use crate::time::{parse_rfc3339, UnixMicros};

/// Capacity for object names (ours are RFC 1123 labels: ≤ 63 bytes).
pub const NAME_LEN: usize = 64;
/// Capacity for `metadata.uid` (a 36-byte UUID).
pub const UID_LEN: usize = 40;
/// Capacity for `metadata.resourceVersion` (etcd revisions: decimal u64, ≤ 20 bytes).
pub const RESOURCE_VERSION_LEN: usize = 32;
/// Capacity for a condition `type`, a Status `reason` and a `kind`.
pub const SHORT_LEN: usize = 32;
/// Capacity for label values (Kubernetes allows ≤ 63 bytes).
pub const LABEL_VALUE_LEN: usize = 63;
/// Capacity for taint keys (ours and the node controller's are ≤ 31 bytes).
pub const TAINT_KEY_LEN: usize = 64;
/// Capacity for a Status `message` (longer ones, e.g. validation errors, are cut and flagged).
pub const MESSAGE_LEN: usize = 256;
/// How many `status.conditions` entries of known type a [`NodeResponse`] keeps.
pub const MAX_CONDITIONS: usize = 16;
/// How many `spec.taints` entries a [`NodeResponse`] keeps.
pub const MAX_TAINTS: usize = 8;

/// The taint every picokubelet Node is created with (`…:NoSchedule`), keeping ordinary
/// workloads off a board that cannot run them.
pub const MICROCONTROLLER_TAINT_KEY: &str = crate::k8s::taint::MICROCONTROLLER_TAINT.key;

/// Label keys the agent owns on its Node (NodeRestriction lets a node set these).
pub use crate::k8s::node::{LABEL_ARCH, LABEL_HOSTNAME, LABEL_INSTANCE_TYPE, LABEL_OS};

fn capture<const N: usize>(dst: &mut BoundedStr<N>, value: Scalar<'_>, malformed: &mut bool) {
    match value {
        Scalar::Str(text) => *dst = text.to_bounded(),
        Scalar::Null => {}
        _ => *malformed = true,
    }
}

fn capture_opt<const N: usize>(
    dst: &mut Option<BoundedStr<N>>,
    value: Scalar<'_>,
    malformed: &mut bool,
) {
    match value {
        Scalar::Str(text) => *dst = Some(text.to_bounded()),
        Scalar::Null => {}
        _ => *malformed = true,
    }
}

/// An RFC 3339 time (`metav1.Time` or `MicroTime`); `None` for null, unparseable or cut values.
fn time(value: Scalar<'_>, malformed: &mut bool) -> Option<UnixMicros> {
    match value {
        Scalar::Str(text) => {
            let parsed = text
                .complete()
                .and_then(|s| parse_rfc3339(s.as_bytes()).ok());
            *malformed |= parsed.is_none();
            parsed
        }
        Scalar::Null => None,
        _ => {
            *malformed = true;
            None
        }
    }
}

fn integer<T: TryFrom<u64>>(value: Scalar<'_>, malformed: &mut bool) -> Option<T> {
    match value {
        Scalar::Null => None,
        _ => {
            let n = value
                .number()
                .and_then(|n| n.as_u64())
                .and_then(|n| T::try_from(n).ok());
            *malformed |= n.is_none();
            n
        }
    }
}

/// Parses a condition `status`.
pub fn parse_condition_status(s: &str) -> Option<ConditionStatus> {
    match s {
        "True" => Some(ConditionStatus::True),
        "False" => Some(ConditionStatus::False),
        "Unknown" => Some(ConditionStatus::Unknown),
        _ => None,
    }
}

/// The condition type with this wire name, if it is one the agent reports.
pub fn parse_condition_type(s: &str) -> Option<ConditionType> {
    ConditionType::ALL.iter().copied().find(|t| t.as_str() == s)
}

/// An object's `kind` and the identity fields of its `metadata`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Top-level `kind` (`Node`, `Lease`, `Status`, …).
    pub kind: BoundedStr<SHORT_LEN>,
    pub name: BoundedStr<NAME_LEN>,
    pub uid: BoundedStr<UID_LEN>,
    pub resource_version: BoundedStr<RESOURCE_VERSION_LEN>,
    /// A field had the wrong JSON type.
    pub malformed: bool,
}

impl ObjectMeta {
    /// Takes `value` if it is one of ours; returns whether it was.
    fn take(&mut self, path: &Path<'_>, value: Scalar<'_>) -> bool {
        let m = &mut self.malformed;
        if path.is(&["kind"]) {
            capture(&mut self.kind, value, m);
        } else if path.is(&["metadata", "name"]) {
            capture(&mut self.name, value, m);
        } else if path.is(&["metadata", "uid"]) {
            capture(&mut self.uid, value, m);
        } else if path.is(&["metadata", "resourceVersion"]) {
            capture(&mut self.resource_version, value, m);
        } else {
            return false;
        }
        true
    }
}

impl Visitor for ObjectMeta {
    fn value(&mut self, path: &Path<'_>, value: Scalar<'_>) {
        self.take(path, value);
    }
}

/// Array entries kept by their position in the document, at most `N`. An entry whose content
/// turns out to be uninteresting may be reclaimed for a later position.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Slots<T, const N: usize> {
    entries: [(Option<u32>, T); N],
    overflowed: bool,
}

impl<T: Default, const N: usize> Default for Slots<T, N> {
    fn default() -> Self {
        Slots {
            entries: core::array::from_fn(|_| (None, T::default())),
            overflowed: false,
        }
    }
}

impl<T: Default, const N: usize> Slots<T, N> {
    /// The entry for array position `index`: existing, else a free or reclaimable one (an
    /// earlier position for which `reclaimable` holds: array positions only grow). `None` (and
    /// `overflowed`) when all `N` are taken.
    fn entry(&mut self, index: u32, reclaimable: impl Fn(&T) -> bool) -> Option<&mut T> {
        let pos = match self.entries.iter().position(|(i, _)| *i == Some(index)) {
            Some(pos) => pos,
            None => {
                let free = self.entries.iter().position(|(i, t)| match *i {
                    None => true,
                    Some(i) => i < index && reclaimable(t),
                });
                let Some(pos) = free else {
                    self.overflowed = true;
                    return None;
                };
                if let Some(e) = self.entries.get_mut(pos) {
                    *e = (Some(index), T::default());
                }
                pos
            }
        };
        self.entries.get_mut(pos).map(|(_, t)| t)
    }

    fn iter(&self) -> impl Iterator<Item = &T> {
        self.entries
            .iter()
            .filter(|(i, _)| i.is_some())
            .map(|(_, t)| t)
    }
}

/// One entry of a Node's `status.conditions`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObservedCondition {
    /// `type` as sent.
    pub type_name: BoundedStr<SHORT_LEN>,
    /// `type`, if it is one the agent reports.
    pub kind: Option<ConditionType>,
    /// `None` if absent or not one of True/False/Unknown.
    pub status: Option<ConditionStatus>,
    pub last_transition: Option<UnixMicros>,
}

/// One entry of a Node's `spec.taints` (its `value` is not needed).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObservedTaint {
    pub key: BoundedStr<TAINT_KEY_LEN>,
    pub effect: Option<TaintEffect>,
}

/// Values of the labels the agent owns; `None` when the label is absent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OwnedLabels {
    /// `kubernetes.io/hostname`
    pub hostname: Option<BoundedStr<LABEL_VALUE_LEN>>,
    /// `kubernetes.io/arch`
    pub arch: Option<BoundedStr<LABEL_VALUE_LEN>>,
    /// `kubernetes.io/os`
    pub os: Option<BoundedStr<LABEL_VALUE_LEN>>,
    /// `node.kubernetes.io/instance-type`
    pub instance_type: Option<BoundedStr<LABEL_VALUE_LEN>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AddressKind {
    InternalIp,
    Hostname,
    Other,
}

/// The `status.addresses` entry being read: `type` and `address` may come in either order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct AddressEntry {
    index: Option<u32>,
    kind: Option<AddressKind>,
    address: Option<BoundedStr<NAME_LEN>>,
}

/// What the agent reads from a Node (GET, or the body of a create/patch response).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeResponse {
    pub meta: ObjectMeta,
    conditions: Slots<ObservedCondition, MAX_CONDITIONS>,
    taints: Slots<ObservedTaint, MAX_TAINTS>,
    pub labels: OwnedLabels,
    /// `status.nodeInfo.bootID` (empty if absent).
    pub boot_id: BoundedStr<UID_LEN>,
    /// The first `status.addresses` entry of type `InternalIP`.
    pub internal_ip: Option<BoundedStr<NAME_LEN>>,
    /// The first `status.addresses` entry of type `Hostname`.
    pub hostname_address: Option<BoundedStr<NAME_LEN>>,
    address_entry: AddressEntry,
    /// A field we read had the wrong type or an unparseable time.
    pub malformed: bool,
}

impl NodeResponse {
    /// The conditions of a type the agent knows, in no particular order. Entries of other types
    /// (another controller's) are ignored.
    pub fn conditions(&self) -> impl Iterator<Item = &ObservedCondition> {
        self.conditions.iter().filter(|c| c.kind.is_some())
    }

    /// The first condition of this type.
    pub fn condition(&self, kind: ConditionType) -> Option<&ObservedCondition> {
        self.conditions().find(|c| c.kind == Some(kind))
    }

    /// True if a condition of known type was dropped because [`MAX_CONDITIONS`] were taken
    /// (only possible with duplicate types).
    pub fn conditions_overflowed(&self) -> bool {
        self.conditions.overflowed
    }

    /// The taints, at most [`MAX_TAINTS`].
    pub fn taints(&self) -> impl Iterator<Item = &ObservedTaint> {
        self.taints.iter()
    }

    /// True if more than [`MAX_TAINTS`] taints were sent (the rest are not known).
    pub fn taints_overflowed(&self) -> bool {
        self.taints.overflowed
    }

    /// True if a taint with exactly this key and effect is present.
    pub fn has_taint(&self, key: &str, effect: TaintEffect) -> bool {
        self.taints()
            .any(|t| t.key == key && t.effect == Some(effect))
    }

    /// True if `picokubelet.dev/microcontroller:NoSchedule` is present.
    pub fn has_microcontroller_taint(&self) -> bool {
        self.has_taint(MICROCONTROLLER_TAINT_KEY, TaintEffect::NoSchedule)
    }

    fn condition_field(&mut self, index: u32, field: &str, value: Scalar<'_>) {
        // A slot whose type turned out unknown (or never came) is free for a later entry.
        let Some(c) = self.conditions.entry(index, |c| c.kind.is_none()) else {
            return;
        };
        let m = &mut self.malformed;
        match field {
            "type" => {
                capture(&mut c.type_name, value, m);
                c.kind = if c.type_name.is_truncated() {
                    None
                } else {
                    parse_condition_type(c.type_name.as_str())
                };
            }
            "status" => match value {
                Scalar::Str(t) => c.status = parse_condition_status(t.value),
                Scalar::Null => {}
                _ => *m = true,
            },
            "lastTransitionTime" => c.last_transition = time(value, m),
            _ => {}
        }
    }

    fn taint_field(&mut self, index: u32, field: &str, value: Scalar<'_>) {
        let Some(t) = self.taints.entry(index, |_| false) else {
            return;
        };
        let m = &mut self.malformed;
        match field {
            "key" => capture(&mut t.key, value, m),
            "effect" => match value {
                Scalar::Str(text) => t.effect = TaintEffect::parse(text.value),
                Scalar::Null => {}
                _ => *m = true,
            },
            _ => {}
        }
    }

    fn address_field(&mut self, index: u32, field: &str, value: Scalar<'_>) {
        let entry = &mut self.address_entry;
        if entry.index != Some(index) {
            *entry = AddressEntry {
                index: Some(index),
                ..AddressEntry::default()
            };
        }
        let m = &mut self.malformed;
        match field {
            "type" => match value {
                Scalar::Str(t) => {
                    entry.kind = Some(match t.value {
                        "InternalIP" => AddressKind::InternalIp,
                        "Hostname" => AddressKind::Hostname,
                        _ => AddressKind::Other,
                    })
                }
                Scalar::Null => {}
                _ => *m = true,
            },
            "address" => capture_opt(&mut entry.address, value, m),
            _ => return,
        }
        let dst = match entry.kind {
            Some(AddressKind::InternalIp) => &mut self.internal_ip,
            Some(AddressKind::Hostname) => &mut self.hostname_address,
            _ => return,
        };
        if dst.is_none() {
            dst.clone_from(&entry.address);
        }
    }
}

impl Visitor for NodeResponse {
    fn value(&mut self, path: &Path<'_>, value: Scalar<'_>) {
        use Step::{AnyIndex, AnyKey, Key};
        if self.meta.take(path, value) {
            return;
        }
        let entry_field = |array: [&str; 2]| {
            if path.matches(&[Key(array[0]), Key(array[1]), AnyIndex, AnyKey]) {
                path.index(2).zip(path.key(3))
            } else {
                None
            }
        };
        if let Some((i, field)) = entry_field(["status", "conditions"]) {
            self.condition_field(i, field, value);
        } else if let Some((i, field)) = entry_field(["spec", "taints"]) {
            self.taint_field(i, field, value);
        } else if let Some((i, field)) = entry_field(["status", "addresses"]) {
            self.address_field(i, field, value);
        } else if path.matches(&[Key("metadata"), Key("labels"), AnyKey]) {
            let labels = &mut self.labels;
            let dst = match path.key(2) {
                Some(LABEL_HOSTNAME) => &mut labels.hostname,
                Some(LABEL_ARCH) => &mut labels.arch,
                Some(LABEL_OS) => &mut labels.os,
                Some(LABEL_INSTANCE_TYPE) => &mut labels.instance_type,
                _ => return,
            };
            capture_opt(dst, value, &mut self.malformed);
        } else if path.is(&["status", "nodeInfo", "bootID"]) {
            capture(&mut self.boot_id, value, &mut self.malformed);
        }
    }
}

/// What the agent reads from its Lease.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeaseResponse {
    pub meta: ObjectMeta,
    /// `spec.holderIdentity` (empty if absent).
    pub holder_identity: BoundedStr<NAME_LEN>,
    /// `spec.leaseDurationSeconds`.
    pub lease_duration_seconds: Option<u32>,
    /// `spec.renewTime` (MicroTime); the agent never renews to an earlier time than this.
    pub renew_time: Option<UnixMicros>,
    /// `metadata.ownerReferences[0].uid`: the Node this Lease dies with (empty if absent).
    pub owner_uid: BoundedStr<UID_LEN>,
    /// A field we read had the wrong type or an unparseable time.
    pub malformed: bool,
}

impl Visitor for LeaseResponse {
    fn value(&mut self, path: &Path<'_>, value: Scalar<'_>) {
        use Step::{Index, Key};
        if self.meta.take(path, value) {
            return;
        }
        let m = &mut self.malformed;
        if path.is(&["spec", "holderIdentity"]) {
            capture(&mut self.holder_identity, value, m);
        } else if path.is(&["spec", "leaseDurationSeconds"]) {
            self.lease_duration_seconds = integer(value, m);
        } else if path.is(&["spec", "renewTime"]) {
            self.renew_time = time(value, m);
        } else if path.matches(&[
            Key("metadata"),
            Key("ownerReferences"),
            Index(0),
            Key("uid"),
        ]) {
            capture(&mut self.owner_uid, value, m);
        }
    }
}

/// A `Status` object: what the server says about a failed (or a delete) request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatusResponse {
    /// Top-level `kind`; `Status` for a real Status object (see [`Self::is_status`]).
    pub kind: BoundedStr<SHORT_LEN>,
    /// `Success` or `Failure`.
    pub status: BoundedStr<SHORT_LEN>,
    /// The HTTP status code the server meant.
    pub code: Option<u16>,
    /// Machine-readable reason, e.g. `AlreadyExists`, `Forbidden`, `Conflict`.
    pub reason: BoundedStr<SHORT_LEN>,
    /// Human-readable message; long ones are cut ([`BoundedStr::is_truncated`]).
    pub message: BoundedStr<MESSAGE_LEN>,
    /// `details.name`: the object concerned.
    pub details_name: BoundedStr<NAME_LEN>,
    /// `details.kind`: its resource (e.g. `nodes`) or kind.
    pub details_kind: BoundedStr<SHORT_LEN>,
    /// `details.retryAfterSeconds` (the server sends the same as `Retry-After`).
    pub retry_after_seconds: Option<u32>,
    /// A field we read had the wrong type.
    pub malformed: bool,
}

impl StatusResponse {
    /// True if the body was a `Status` object.
    pub fn is_status(&self) -> bool {
        self.kind == "Status"
    }
}

impl Visitor for StatusResponse {
    fn value(&mut self, path: &Path<'_>, value: Scalar<'_>) {
        let m = &mut self.malformed;
        if path.is(&["kind"]) {
            capture(&mut self.kind, value, m);
        } else if path.is(&["status"]) {
            capture(&mut self.status, value, m);
        } else if path.is(&["code"]) {
            self.code = integer(value, m);
        } else if path.is(&["reason"]) {
            capture(&mut self.reason, value, m);
        } else if path.is(&["message"]) {
            capture(&mut self.message, value, m);
        } else if path.is(&["details", "name"]) {
            capture(&mut self.details_name, value, m);
        } else if path.is(&["details", "kind"]) {
            capture(&mut self.details_kind, value, m);
        } else if path.is(&["details", "retryAfterSeconds"]) {
            self.retry_after_seconds = integer(value, m);
        }
    }
}

/// The server's `/version`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VersionResponse {
    /// E.g. `v1.36.2`.
    pub git_version: BoundedStr<SHORT_LEN>,
    /// E.g. `1`.
    pub major: BoundedStr<8>,
    /// E.g. `36` (some distributions send `36+`).
    pub minor: BoundedStr<8>,
    /// A field we read had the wrong type.
    pub malformed: bool,
}

impl Visitor for VersionResponse {
    fn value(&mut self, path: &Path<'_>, value: Scalar<'_>) {
        let m = &mut self.malformed;
        if path.is(&["gitVersion"]) {
            capture(&mut self.git_version, value, m);
        } else if path.is(&["major"]) {
            capture(&mut self.major, value, m);
        } else if path.is(&["minor"]) {
            capture(&mut self.minor, value, m);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::extract::{extract, ErrorKind};

    #[test]
    fn conditions_of_unknown_type_free_their_slot() {
        // 20 foreign conditions first, then ours: ours must all be kept.
        let mut doc = std::string::String::from(r#"{"status":{"conditions":["#);
        for i in 0..20 {
            doc.push_str(&std::format!(
                r#"{{"status":"True","type":"Foreign{i}","lastTransitionTime":"2026-01-01T00:00:00Z"}},"#
            ));
        }
        for t in ConditionType::ALL {
            doc.push_str(&std::format!(
                r#"{{"lastTransitionTime":"2026-11-24T13:05:07Z","status":"False","type":"{}"}},"#,
                t.as_str()
            ));
        }
        doc.pop();
        doc.push_str("]}}");
        let mut node = NodeResponse::default();
        extract(doc.as_bytes(), &mut node).unwrap();
        assert_eq!(node.conditions().count(), ConditionType::ALL.len());
        assert!(!node.conditions_overflowed());
        for t in ConditionType::ALL {
            let c = node.condition(t).unwrap();
            assert_eq!(c.status, Some(ConditionStatus::False));
            assert_eq!(c.type_name, t.as_str());
            assert_eq!(
                c.last_transition,
                Some(parse_rfc3339(b"2026-11-24T13:05:07Z").unwrap())
            );
        }
    }

    #[test]
    fn duplicate_known_conditions_beyond_capacity_overflow() {
        let mut doc = std::string::String::from(r#"{"status":{"conditions":["#);
        for _ in 0..(MAX_CONDITIONS + 1) {
            doc.push_str(r#"{"type":"Ready","status":"True"},"#);
        }
        doc.pop();
        doc.push_str("]}}");
        let mut node = NodeResponse::default();
        extract(doc.as_bytes(), &mut node).unwrap();
        assert_eq!(node.conditions().count(), MAX_CONDITIONS);
        assert!(node.conditions_overflowed());
    }

    #[test]
    fn taints_beyond_capacity_are_flagged() {
        let mut doc = std::string::String::from(r#"{"spec":{"taints":["#);
        for i in 0..(MAX_TAINTS + 1) {
            doc.push_str(&std::format!(r#"{{"key":"k{i}","effect":"NoExecute"}},"#));
        }
        doc.push_str(r#"{"effect":"NoSchedule","key":"picokubelet.dev/microcontroller"}]}}"#);
        let mut node = NodeResponse::default();
        extract(doc.as_bytes(), &mut node).unwrap();
        assert_eq!(node.taints().count(), MAX_TAINTS);
        assert!(node.taints_overflowed());
        assert!(!node.has_microcontroller_taint());
        assert!(node.has_taint("k0", TaintEffect::NoExecute));
    }

    #[test]
    fn microcontroller_taint_needs_key_and_effect() {
        let check = |doc: &str| {
            let mut node = NodeResponse::default();
            extract(doc.as_bytes(), &mut node).unwrap();
            node.has_microcontroller_taint()
        };
        assert!(check(
            r#"{"spec":{"taints":[{"effect":"NoSchedule","value":"true","key":"picokubelet.dev/microcontroller"}]}}"#
        ));
        assert!(!check(
            r#"{"spec":{"taints":[{"key":"picokubelet.dev/microcontroller","effect":"NoExecute"}]}}"#
        ));
        assert!(!check(
            r#"{"spec":{"taints":[{"key":"picokubelet.dev/microcontroller"},{"effect":"NoSchedule"}]}}"#
        ));
        assert!(!check(r#"{"spec":{}}"#));
    }

    #[test]
    fn addresses_in_any_field_order_first_wins() {
        let doc = br#"{"status":{"addresses":[
            {"address":"10.0.0.7","type":"InternalIP"},
            {"type":"ExternalIP","address":"1.2.3.4"},
            {"type":"InternalIP","address":"fd00::7"},
            {"type":"Hostname","address":"esp-node-01"}]}}"#;
        let mut node = NodeResponse::default();
        extract(doc, &mut node).unwrap();
        assert_eq!(node.internal_ip.unwrap(), "10.0.0.7");
        assert_eq!(node.hostname_address.unwrap(), "esp-node-01");
    }

    #[test]
    fn wrong_types_and_bad_times_are_flagged_not_errors() {
        let doc = br#"{"kind":7,"spec":{"leaseDurationSeconds":"40","renewTime":"yesterday","holderIdentity":null}}"#;
        let mut lease = LeaseResponse::default();
        extract(doc, &mut lease).unwrap();
        assert!(lease.meta.malformed);
        assert!(lease.malformed);
        assert_eq!(lease.lease_duration_seconds, None);
        assert_eq!(lease.renew_time, None);
        assert!(lease.holder_identity.is_empty());

        let mut lease = LeaseResponse::default();
        extract(
            br#"{"spec":{"renewTime":null,"leaseDurationSeconds":4294967296}}"#,
            &mut lease,
        )
        .unwrap();
        assert_eq!(lease.renew_time, None);
        assert_eq!(lease.lease_duration_seconds, None);
        assert!(lease.malformed, "u32 overflow is malformed, null is not");
    }

    #[test]
    fn labels_absent_empty_and_present_differ() {
        let doc = br#"{"metadata":{"labels":{"kubernetes.io/arch":"","kubernetes.io/os":"none","kubernetes.io/arch-other":"x"}}}"#;
        let mut node = NodeResponse::default();
        extract(doc, &mut node).unwrap();
        assert_eq!(node.labels.arch.unwrap(), "");
        assert_eq!(node.labels.os.unwrap(), "none");
        assert_eq!(node.labels.hostname, None);
        assert_eq!(node.labels.instance_type, None);
    }

    #[test]
    fn long_message_is_cut_and_flagged() {
        let long = "é".repeat(200);
        let doc = std::format!(r#"{{"kind":"Status","message":"{long}","code":422}}"#);
        let mut status = StatusResponse::default();
        extract(doc.as_bytes(), &mut status).unwrap();
        assert!(status.message.is_truncated());
        assert_eq!(status.message.len(), MESSAGE_LEN);
        assert!(long.starts_with(status.message.as_str()));
        assert_eq!(status.code, Some(422));
    }

    #[test]
    fn plain_text_is_an_error_and_collects_nothing() {
        let mut status = StatusResponse::default();
        let err =
            extract(b"Too many requests, please try again later.\n", &mut status).unwrap_err();
        assert_eq!(err.offset, 0);
        assert_eq!(err.kind, ErrorKind::UnexpectedByte(b'T'));
        assert_eq!(status, StatusResponse::default());
        assert!(!status.is_status());
    }
}
