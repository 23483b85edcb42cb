//! The Node this board registers: its profile, the registration body (`POST /api/v1/nodes`) and
//! the label merge-patch for the re-registration (409) path.
//!
//! Everything the server needs to schedule nothing onto us goes into the first POST: taints can
//! be set by a node only at creation (a later PATCH is 403, recording 07b), and the whole status
//! survives the create (recording 01), so no status patch is needed right after it.
use core::net::Ipv4Addr;

use crate::conditions::Condition;
use crate::json::writer::JsonWriter;
use crate::k8s::body_error::check_text;
use crate::k8s::body_error::{BodyError, LabelSlot};
use crate::k8s::chip::Chip;
use crate::k8s::label::{validate_label_key, validate_label_value, validate_node_label};
use crate::k8s::name::{NodeName, MAX_LABEL_LEN};
use crate::k8s::node_ids::NodeIds;
use crate::k8s::taint::{Taint, MICROCONTROLLER_TAINT};
use crate::time::{format_rfc3339, UnixMicros, RFC3339_LEN};

/// `status.nodeInfo.kubeletVersion` by default: a valid semver whose prerelease says what we are.
pub const DEFAULT_KUBELET_VERSION: &str = "v1.36.2-picokubelet.0.1.0";
/// `status.nodeInfo.osImage` by default.
pub const DEFAULT_OS_IMAGE: &str = "picokubelet on bare metal";
/// `status.nodeInfo.containerRuntimeVersion` by default: there is no runtime, and it says so.
pub const DEFAULT_CONTAINER_RUNTIME_VERSION: &str = "lies://0.1.0";
/// `status.nodeInfo.kernelVersion` by default: there is no kernel either.
pub const DEFAULT_KERNEL_VERSION: &str = "none";
/// `kubernetes.io/os` and `status.nodeInfo.operatingSystem`. NodeRestriction checks label keys,
/// not values, so `none` is accepted (recording 01).
pub const OPERATING_SYSTEM: &str = "none";
/// `status.daemonEndpoints.kubeletEndpoint.Port` by default.
pub const DEFAULT_KUBELET_PORT: u16 = 10250;

/// Annotation with the free heap in bytes, as a decimal string: on the registration and on every
/// status patch.
pub const HEAP_ANNOTATION: &str = "node.specht.dev/heap-bytes-free";

/// Label keys the profile writes itself.
pub const LABEL_HOSTNAME: &str = "kubernetes.io/hostname";
pub const LABEL_ARCH: &str = "kubernetes.io/arch";
pub const LABEL_OS: &str = "kubernetes.io/os";
pub const LABEL_INSTANCE_TYPE: &str = "node.kubernetes.io/instance-type";

/// Most extra labels a profile may carry; bounds the body sizes stated below.
pub const MAX_EXTRA_LABELS: usize = 4;
/// Longest nodeInfo text (kubeletVersion, osImage, containerRuntimeVersion, kernelVersion),
/// counted JSON-escaped.
pub const MAX_INFO_TEXT_LEN: usize = 64;
/// Longest resource quantity text (`240m`, `320Ki`, …).
pub const MAX_QUANTITY_LEN: usize = 16;
/// Longest condition `reason`, counted JSON-escaped.
pub const MAX_CONDITION_REASON_LEN: usize = 64;
/// Longest condition `message`, counted JSON-escaped.
pub const MAX_CONDITION_MESSAGE_LEN: usize = 192;

/// Largest body [`write_node_registration`] writes: a 253-byte name (too long for the hostname
/// label, so that label is left out), 63-byte arch/os/instance-type values, a taint with a
/// 317-byte key, 63-byte value and effect `PreferNoSchedule`, the heap annotation with `u64::MAX`, [`MAX_EXTRA_LABELS`] labels with
/// 317-byte keys and 63-byte values, 16-byte quantities, 64-byte (escaped) nodeInfo texts, an
/// InternalIP of 15 characters, port 65535, and all 9 condition types with status `Unknown`,
/// 64-byte reasons and 192-byte messages (escaped). A buffer of this size always suffices.
pub const NODE_REGISTRATION_MAX_LEN: usize = 7_634;
/// Largest body [`write_node_labels_patch`] writes (same worst case as above).
pub const NODE_LABELS_PATCH_MAX_LEN: usize = 1_933;

/// `status.capacity` / `status.allocatable`, as Kubernetes quantities.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resources<'a> {
    pub cpu: &'a str,
    pub memory: &'a str,
    pub pods: &'a str,
}

/// What an ESP32 offers: a quarter of a 240 MHz core, the 320 KiB of its SRAM, and no pods.
pub const DEFAULT_RESOURCES: Resources<'static> = Resources {
    cpu: "240m",
    memory: "320Ki",
    pods: "0",
};

/// Everything the Node body says about this board. Fields are public so the configuration can
/// override any default; the builders validate the profile every time they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeProfile<'a> {
    pub name: NodeName<'a>,
    /// `kubernetes.io/arch` and `nodeInfo.architecture`: `xtensa` or `riscv32`.
    pub architecture: &'a str,
    /// `kubernetes.io/os` and `nodeInfo.operatingSystem`.
    pub operating_system: &'a str,
    /// `node.kubernetes.io/instance-type` (the chip), left out when `None`.
    pub instance_type: Option<&'a str>,
    /// Set at registration only; `None` registers an untainted node.
    pub taint: Option<Taint<'a>>,
    pub capacity: Resources<'a>,
    pub allocatable: Resources<'a>,
    pub kubelet_version: &'a str,
    pub os_image: &'a str,
    pub container_runtime_version: &'a str,
    pub kernel_version: &'a str,
    /// machineID, systemUUID and bootID.
    pub ids: NodeIds,
    /// The `InternalIP` address, left out when `None`. The `Hostname` address (the node name) is
    /// always sent.
    pub internal_ip: Option<Ipv4Addr>,
    pub kubelet_port: u16,
    /// More labels, at most [`MAX_EXTRA_LABELS`], each checked against NodeRestriction.
    pub extra_labels: &'a [(&'a str, &'a str)],
}

impl<'a> NodeProfile<'a> {
    /// Defaults shared by all boards.
    pub const fn new(
        name: NodeName<'a>,
        architecture: &'a str,
        instance_type: &'a str,
        ids: NodeIds,
        internal_ip: Ipv4Addr,
    ) -> Self {
        NodeProfile {
            name,
            architecture,
            operating_system: OPERATING_SYSTEM,
            instance_type: Some(instance_type),
            taint: Some(MICROCONTROLLER_TAINT),
            capacity: DEFAULT_RESOURCES,
            allocatable: DEFAULT_RESOURCES,
            kubelet_version: DEFAULT_KUBELET_VERSION,
            os_image: DEFAULT_OS_IMAGE,
            container_runtime_version: DEFAULT_CONTAINER_RUNTIME_VERSION,
            kernel_version: DEFAULT_KERNEL_VERSION,
            ids,
            internal_ip: Some(internal_ip),
            kubelet_port: DEFAULT_KUBELET_PORT,
            extra_labels: &[],
        }
    }

    /// The profile of a board with this chip: its architecture and instance type.
    pub const fn for_chip(
        chip: Chip,
        name: NodeName<'a>,
        ids: NodeIds,
        internal_ip: Ipv4Addr,
    ) -> Self {
        Self::new(name, chip.architecture(), chip.name(), ids, internal_ip)
    }

    /// [`Self::for_chip`] with [`Chip::Esp32s3`].
    pub const fn esp32s3(name: NodeName<'a>, ids: NodeIds, internal_ip: Ipv4Addr) -> Self {
        Self::for_chip(Chip::Esp32s3, name, ids, internal_ip)
    }

    /// [`Self::for_chip`] with [`Chip::Esp32c6`].
    pub const fn esp32c6(name: NodeName<'a>, ids: NodeIds, internal_ip: Ipv4Addr) -> Self {
        Self::for_chip(Chip::Esp32c6, name, ids, internal_ip)
    }

    /// [`Self::for_chip`] with [`Chip::Esp32c3`].
    pub const fn esp32c3(name: NodeName<'a>, ids: NodeIds, internal_ip: Ipv4Addr) -> Self {
        Self::for_chip(Chip::Esp32c3, name, ids, internal_ip)
    }

    /// Whether the name can also be the `kubernetes.io/hostname` label value (at most 63 bytes).
    /// A longer name gets no hostname label: the server would reject the value (422).
    pub fn has_hostname_label(&self) -> bool {
        self.name.len() <= MAX_LABEL_LEN
    }

    /// Checks every field against the server's rules and the limits above.
    pub fn validate(&self) -> Result<(), BodyError> {
        let label = |slot, key: &str, value: &str| {
            validate_node_label(key, value).map_err(|error| BodyError::Label { slot, error })
        };
        label(LabelSlot::Arch, LABEL_ARCH, self.architecture)?;
        label(LabelSlot::Os, LABEL_OS, self.operating_system)?;
        if let Some(it) = self.instance_type {
            label(LabelSlot::InstanceType, LABEL_INSTANCE_TYPE, it)?;
        }
        if self.extra_labels.len() > MAX_EXTRA_LABELS {
            return Err(BodyError::TooManyLabels {
                count: self.extra_labels.len(),
                max: MAX_EXTRA_LABELS,
            });
        }
        for (i, &(key, value)) in self.extra_labels.iter().enumerate() {
            let slot = LabelSlot::Extra(i);
            label(slot, key, value)?;
            let builtin = [LABEL_HOSTNAME, LABEL_ARCH, LABEL_OS, LABEL_INSTANCE_TYPE];
            let earlier = self.extra_labels.iter().take(i).map(|&(k, _)| k);
            if builtin.contains(&key) || earlier.into_iter().any(|k| k == key) {
                return Err(BodyError::DuplicateLabel { slot });
            }
        }
        if let Some(t) = self.taint {
            let error = validate_label_key(t.key)
                .and_then(|()| validate_label_value(t.value))
                .err();
            if let Some(error) = error {
                return Err(BodyError::Label {
                    slot: LabelSlot::Taint,
                    error,
                });
            }
        }
        for (field, q) in [
            ("status.capacity.cpu", self.capacity.cpu),
            ("status.capacity.memory", self.capacity.memory),
            ("status.capacity.pods", self.capacity.pods),
            ("status.allocatable.cpu", self.allocatable.cpu),
            ("status.allocatable.memory", self.allocatable.memory),
            ("status.allocatable.pods", self.allocatable.pods),
        ] {
            check_text(field, q, MAX_QUANTITY_LEN)?;
            if !is_quantity(q) {
                return Err(BodyError::InvalidQuantity { field });
            }
        }
        check_text(
            "status.nodeInfo.kubeletVersion",
            self.kubelet_version,
            MAX_INFO_TEXT_LEN,
        )?;
        check_text("status.nodeInfo.osImage", self.os_image, MAX_INFO_TEXT_LEN)?;
        check_text(
            "status.nodeInfo.containerRuntimeVersion",
            self.container_runtime_version,
            MAX_INFO_TEXT_LEN,
        )?;
        check_text(
            "status.nodeInfo.kernelVersion",
            self.kernel_version,
            MAX_INFO_TEXT_LEN,
        )?;
        Ok(())
    }
}

/// A Kubernetes resource quantity: `[+-]` then `123`, `1.5`, `1.` or `.5`, then an optional
/// suffix `Ki|Mi|Gi|Ti|Pi|Ei`, `m|k|M|G|T|P|E`, or an exponent `e3`/`E-2`.
pub fn is_quantity(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let digits = |from: usize| {
        b.get(from..)
            .map_or(0, |r| r.iter().take_while(|c| c.is_ascii_digit()).count())
    };
    let whole = digits(i);
    i += whole;
    let mut frac = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        frac = digits(i);
        i += frac;
    }
    if whole == 0 && frac == 0 {
        return false;
    }
    match b.get(i..).unwrap_or(&[]) {
        [] | [b'm' | b'k' | b'M' | b'G' | b'T' | b'P' | b'E'] => true,
        [b'K' | b'M' | b'G' | b'T' | b'P' | b'E', b'i'] => true,
        [b'e' | b'E', rest @ ..] => {
            let rest = match rest {
                [b'+' | b'-', r @ ..] => r,
                r => r,
            };
            !rest.is_empty() && rest.iter().all(u8::is_ascii_digit)
        }
        _ => false,
    }
}

/// Checks a condition list: reasons and messages within their limits, one entry per type.
pub fn validate_conditions(conditions: &[Condition]) -> Result<(), BodyError> {
    for (i, c) in conditions.iter().enumerate() {
        check_text(
            "status.conditions[].reason",
            c.reason,
            MAX_CONDITION_REASON_LEN,
        )?;
        check_text(
            "status.conditions[].message",
            c.message,
            MAX_CONDITION_MESSAGE_LEN,
        )?;
        if conditions.iter().take(i).any(|e| e.kind == c.kind) {
            return Err(BodyError::DuplicateCondition(c.kind));
        }
    }
    Ok(())
}

/// `"conditions":[…]` with `lastHeartbeatTime` = `now`. Field order as the recorded status
/// patches (12e): type, status, reason, message, lastHeartbeatTime, lastTransitionTime.
pub(crate) fn write_conditions(w: &mut JsonWriter<'_>, conditions: &[Condition], now: UnixMicros) {
    let mut now_buf = [0u8; RFC3339_LEN];
    let now_text = format_rfc3339(now, &mut now_buf);
    w.field_array("conditions");
    for c in conditions {
        let mut since_buf = [0u8; RFC3339_LEN];
        w.begin_object();
        w.field_str("type", c.kind.as_str());
        w.field_str("status", c.status.as_str());
        w.field_str("reason", c.reason);
        w.field_str("message", c.message);
        w.field_str("lastHeartbeatTime", now_text);
        w.field_str(
            "lastTransitionTime",
            format_rfc3339(c.last_transition, &mut since_buf),
        );
        w.end_object();
    }
    w.end_array();
}

/// `"annotations":{"node.specht.dev/heap-bytes-free":"N"}`, inside `metadata`.
pub(crate) fn write_heap_annotation(w: &mut JsonWriter<'_>, free: u64) {
    w.field_object("annotations");
    w.field_fmt(HEAP_ANNOTATION, format_args!("{free}"));
    w.end_object();
}

fn write_labels(w: &mut JsonWriter<'_>, p: &NodeProfile<'_>) {
    w.field_object("labels");
    if p.has_hostname_label() {
        w.field_str(LABEL_HOSTNAME, p.name.as_str());
    }
    w.field_str(LABEL_ARCH, p.architecture);
    w.field_str(LABEL_OS, p.operating_system);
    if let Some(it) = p.instance_type {
        w.field_str(LABEL_INSTANCE_TYPE, it);
    }
    for &(k, v) in p.extra_labels {
        w.field_str(k, v);
    }
    w.end_object();
}

fn write_resources(w: &mut JsonWriter<'_>, key: &str, r: &Resources<'_>) {
    w.field_object(key);
    w.field_str("cpu", r.cpu);
    w.field_str("memory", r.memory);
    w.field_str("pods", r.pods);
    w.end_object();
}

/// How `status.addresses` is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AddressList {
    /// A plain list (the create POST).
    Plain,
    /// For a strategic-merge patch: ends with `{"$patch":"replace"}`. The list's merge key
    /// (`type`) is not unique enough (the schema says so, see kubernetes PR 79391), so the
    /// kubelet replaces the whole list; so do we, or a changed InternalIP could linger.
    ReplaceInPatch,
}

/// `capacity` and `allocatable`.
pub(crate) fn write_resources_both(w: &mut JsonWriter<'_>, p: &NodeProfile<'_>) {
    write_resources(w, "capacity", &p.capacity);
    write_resources(w, "allocatable", &p.allocatable);
}

/// `addresses`, `daemonEndpoints` and `nodeInfo`: what describes the board rather than its health.
pub(crate) fn write_board_status(w: &mut JsonWriter<'_>, p: &NodeProfile<'_>, list: AddressList) {
    write_addresses(w, p, list);
    w.field_object("daemonEndpoints");
    w.field_object("kubeletEndpoint");
    w.field_u64("Port", u64::from(p.kubelet_port));
    w.end_object();
    w.end_object();
    w.field_object("nodeInfo");
    w.field_str("machineID", p.ids.machine_id());
    w.field_str("systemUUID", p.ids.system_uuid());
    w.field_str("bootID", p.ids.boot_id());
    w.field_str("kernelVersion", p.kernel_version);
    w.field_str("osImage", p.os_image);
    w.field_str("containerRuntimeVersion", p.container_runtime_version);
    w.field_str("kubeletVersion", p.kubelet_version);
    // Deprecated but still required by the schema; kubelets since 1.31 send it empty.
    w.field_str("kubeProxyVersion", "");
    w.field_str("operatingSystem", p.operating_system);
    w.field_str("architecture", p.architecture);
    w.end_object();
}

fn write_addresses(w: &mut JsonWriter<'_>, p: &NodeProfile<'_>, list: AddressList) {
    w.field_array("addresses");
    if let Some(ip) = p.internal_ip {
        w.begin_object();
        w.field_str("type", "InternalIP");
        w.field_fmt("address", format_args!("{ip}"));
        w.end_object();
    }
    w.begin_object();
    w.field_str("type", "Hostname");
    w.field_str("address", p.name.as_str());
    w.end_object();
    if list == AddressList::ReplaceInPatch {
        w.begin_object();
        w.field_str("$patch", "replace");
        w.end_object();
    }
    w.end_array();
}

/// The body of `POST /api/v1/nodes`: metadata (name, labels, and the heap annotation when
/// `heap_bytes_free` is given, so the Node carries it from the start, not only after the first
/// status push), `spec.taints` (the profile's taint), and the full status (capacity,
/// allocatable, `conditions` with lastHeartbeatTime = `now`, addresses, daemonEndpoints,
/// nodeInfo). At most [`NODE_REGISTRATION_MAX_LEN`] bytes.
pub fn write_node_registration(
    profile: &NodeProfile<'_>,
    conditions: &[Condition],
    heap_bytes_free: Option<u64>,
    now: UnixMicros,
    out: &mut [u8],
) -> Result<usize, BodyError> {
    profile.validate()?;
    validate_conditions(conditions)?;
    let mut w = JsonWriter::new(out);
    w.begin_object();
    w.field_str("apiVersion", "v1");
    w.field_str("kind", "Node");
    w.field_object("metadata");
    w.field_str("name", profile.name.as_str());
    write_labels(&mut w, profile);
    if let Some(free) = heap_bytes_free {
        write_heap_annotation(&mut w, free);
    }
    w.end_object();
    if let Some(t) = profile.taint {
        w.field_object("spec");
        w.field_array("taints");
        w.begin_object();
        w.field_str("key", t.key);
        w.field_str("value", t.value);
        w.field_str("effect", t.effect.as_str());
        w.end_object();
        w.end_array();
        w.end_object();
    }
    w.field_object("status");
    write_resources_both(&mut w, profile);
    write_conditions(&mut w, conditions, now);
    write_board_status(&mut w, profile, AddressList::Plain);
    w.end_object();
    w.end_object();
    Ok(w.finish()?)
}

/// The merge-patch (`application/merge-patch+json`) on `/api/v1/nodes/{name}` that puts our
/// labels back after a 409: `{"metadata":{"labels":{…}}}`. Labels others set are kept; taints
/// are not touched (a node may not change them, 07b). At most [`NODE_LABELS_PATCH_MAX_LEN`] bytes.
pub fn write_node_labels_patch(
    profile: &NodeProfile<'_>,
    out: &mut [u8],
) -> Result<usize, BodyError> {
    profile.validate()?;
    let mut w = JsonWriter::new(out);
    w.begin_object();
    w.field_object("metadata");
    write_labels(&mut w, profile);
    w.end_object();
    w.end_object();
    Ok(w.finish()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::label::LabelError;
    use std::string::String;
    use std::vec;

    fn profile(name: &str) -> NodeProfile<'_> {
        NodeProfile::esp32c3(
            NodeName::new(name).unwrap(),
            NodeIds::new([1, 2, 3, 4, 5, 6], [7; 16]),
            Ipv4Addr::new(10, 1, 2, 3),
        )
    }

    fn body(p: &NodeProfile<'_>) -> Result<String, BodyError> {
        let mut buf = vec![0u8; NODE_REGISTRATION_MAX_LEN];
        let n = write_node_registration(p, &[], None, UnixMicros(0), &mut buf)?;
        Ok(String::from_utf8(buf[..n].to_vec()).unwrap())
    }

    #[test]
    fn quantities() {
        for ok in [
            "0", "240m", "320Ki", "1.5", ".5", "1.", "+3", "-1e3", "2E-2", "7Ei", "9k",
        ] {
            assert!(is_quantity(ok), "{ok}");
        }
        for bad in [
            "", "m", ".", "1.2.3", "1Kb", "1 Ki", "1e", "1e+", "ki", "1mi", "0x10",
        ] {
            assert!(!is_quantity(bad), "{bad}");
        }
    }

    #[test]
    fn board_profiles() {
        let p = profile("c3");
        assert_eq!(
            (p.architecture, p.instance_type),
            ("riscv32", Some("esp32c3"))
        );
        let n = NodeName::new("s3").unwrap();
        let ids = NodeIds::new([0; 6], [0; 16]);
        let s3 = NodeProfile::esp32s3(n, ids, Ipv4Addr::LOCALHOST);
        assert_eq!(
            (s3.architecture, s3.instance_type),
            ("xtensa", Some("esp32s3"))
        );
        let c6 = NodeProfile::esp32c6(n, ids, Ipv4Addr::LOCALHOST);
        assert_eq!(
            (c6.architecture, c6.instance_type),
            ("riscv32", Some("esp32c6"))
        );
        assert_eq!(s3.taint, Some(MICROCONTROLLER_TAINT));
        assert_eq!(s3.capacity, DEFAULT_RESOURCES);
        assert_eq!(s3.validate(), Ok(()));
    }

    #[test]
    fn hostname_label_only_for_names_that_fit_a_label_value() {
        let short = "a".repeat(63);
        assert!(body(&profile(&short))
            .unwrap()
            .contains("\"kubernetes.io/hostname\""));
        let long = std::format!("{}.b", "a".repeat(63));
        let b = body(&profile(&long)).unwrap();
        assert!(!b.contains("\"kubernetes.io/hostname\""));
        assert!(b.contains(&std::format!(
            "{{\"type\":\"Hostname\",\"address\":\"{long}\"}}"
        )));
    }

    #[test]
    fn bad_labels_are_refused_with_their_slot() {
        let base = profile("n");
        let forbidden = [("node-role.kubernetes.io/edge", "")];
        assert_eq!(
            body(&NodeProfile {
                extra_labels: &forbidden,
                ..base
            }),
            Err(BodyError::Label {
                slot: LabelSlot::Extra(0),
                error: LabelError::ForbiddenForNode
            })
        );
        let dup = [("a", "1"), ("b", "2"), ("a", "3")];
        assert_eq!(
            body(&NodeProfile {
                extra_labels: &dup,
                ..base
            }),
            Err(BodyError::DuplicateLabel {
                slot: LabelSlot::Extra(2)
            })
        );
        let builtin = [("kubernetes.io/arch", "x")];
        assert_eq!(
            body(&NodeProfile {
                extra_labels: &builtin,
                ..base
            }),
            Err(BodyError::DuplicateLabel {
                slot: LabelSlot::Extra(0)
            })
        );
        let many = [("a", ""), ("b", ""), ("c", ""), ("d", ""), ("e", "")];
        assert_eq!(
            body(&NodeProfile {
                extra_labels: &many,
                ..base
            }),
            Err(BodyError::TooManyLabels {
                count: 5,
                max: MAX_EXTRA_LABELS
            })
        );
        assert!(matches!(
            body(&NodeProfile {
                architecture: "Xtensa LX7",
                ..base
            }),
            Err(BodyError::Label {
                slot: LabelSlot::Arch,
                ..
            })
        ));
        let bad_taint = Taint {
            key: "bad key",
            ..MICROCONTROLLER_TAINT
        };
        assert!(matches!(
            body(&NodeProfile {
                taint: Some(bad_taint),
                ..base
            }),
            Err(BodyError::Label {
                slot: LabelSlot::Taint,
                ..
            })
        ));
        let res = Resources {
            memory: "lots",
            ..DEFAULT_RESOURCES
        };
        assert_eq!(
            body(&NodeProfile {
                allocatable: res,
                ..base
            }),
            Err(BodyError::InvalidQuantity {
                field: "status.allocatable.memory"
            })
        );
    }

    #[test]
    fn the_registration_carries_the_heap_annotation_when_given() {
        let mut buf = vec![0u8; NODE_REGISTRATION_MAX_LEN];
        let n = write_node_registration(&profile("n"), &[], Some(51_234), UnixMicros(0), &mut buf)
            .unwrap();
        let text = core::str::from_utf8(&buf[..n]).unwrap();
        assert!(
            text.contains(r#""annotations":{"node.specht.dev/heap-bytes-free":"51234"}},"spec""#),
            "{text}"
        );
        assert!(!body(&profile("n")).unwrap().contains("annotations"));
    }

    #[test]
    fn duplicate_conditions_are_refused() {
        let c = Condition {
            kind: crate::conditions::ConditionType::Vibes,
            status: crate::conditions::ConditionStatus::Unknown,
            reason: "Indeterminate",
            message: "",
            last_transition: UnixMicros(0),
        };
        let mut buf = [0u8; 4096];
        assert_eq!(
            write_node_registration(&profile("n"), &[c, c], None, UnixMicros(0), &mut buf),
            Err(BodyError::DuplicateCondition(c.kind))
        );
    }
}
