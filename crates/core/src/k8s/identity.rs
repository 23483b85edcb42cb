//! Who the node is: its validated name, the label keys it may set, the machine/system/boot IDs it
//! reports, and the error every body builder returns.
//!
//! A node identity (`system:node:<name>`) gets 403 from NodeRestriction for a bad name or a
//! forbidden label before the API server validates anything (recordings 02b, 07c, 14d), so a 403
//! would hide the real cause. These checks give it locally, with the position of the fault.
use core::fmt;

use crate::conditions::ConditionType;
use crate::json::writer::JsonError;

/// Longest DNS-1123 subdomain (and so longest node name).
pub const MAX_SUBDOMAIN_LEN: usize = 253;
/// Longest DNS label, label-key name part and label value.
pub const MAX_LABEL_LEN: usize = 63;

/// What is wrong with a DNS-1123 subdomain. Positions are byte offsets into the checked text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameError {
    /// The name is empty.
    Empty,
    /// Longer than [`MAX_SUBDOMAIN_LEN`].
    TooLong { len: usize },
    /// A character other than `a-z`, `0-9`, `-`, `.` (upper case included).
    InvalidChar { at: usize, byte: u8 },
    /// Two dots in a row, or a dot at the start or end.
    EmptyLabel { at: usize },
    /// A dot-separated label is longer than [`MAX_LABEL_LEN`].
    LabelTooLong { at: usize, len: usize },
    /// A label starts or ends with `-` (labels must start and end alphanumeric).
    HyphenAtLabelEdge { at: usize },
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            NameError::Empty => f.write_str("name is empty"),
            NameError::TooLong { len } => {
                write!(
                    f,
                    "name is {len} bytes, at most {MAX_SUBDOMAIN_LEN} allowed"
                )
            }
            NameError::InvalidChar { at, byte } => write!(
                f,
                "byte {byte:#04x} at {at} is not allowed (only a-z, 0-9, '-' and '.')"
            ),
            NameError::EmptyLabel { at } => {
                write!(f, "empty label at {at} ('..' or a dot at an end)")
            }
            NameError::LabelTooLong { at, len } => write!(
                f,
                "label at {at} is {len} bytes, at most {MAX_LABEL_LEN} allowed"
            ),
            NameError::HyphenAtLabelEdge { at } => {
                write!(f, "'-' at {at} starts or ends a label")
            }
        }
    }
}

/// Checks a DNS-1123 subdomain: at most 253 bytes of dot-separated labels, each 1..=63 bytes of
/// `a-z0-9-`, starting and ending alphanumeric. Positions in the error are offsets into `s`.
pub fn validate_dns_subdomain(s: &str) -> Result<(), NameError> {
    let bytes = s.as_bytes();
    if bytes.is_empty() {
        return Err(NameError::Empty);
    }
    if bytes.len() > MAX_SUBDOMAIN_LEN {
        return Err(NameError::TooLong { len: bytes.len() });
    }
    let mut label_start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'a'..=b'z' | b'0'..=b'9' | b'-' => {}
            b'.' => {
                check_dns_label(bytes, label_start, i)?;
                label_start = i + 1;
            }
            _ => return Err(NameError::InvalidChar { at: i, byte: b }),
        }
    }
    check_dns_label(bytes, label_start, bytes.len())
}

fn check_dns_label(bytes: &[u8], start: usize, end: usize) -> Result<(), NameError> {
    let len = end.saturating_sub(start);
    if len == 0 {
        return Err(NameError::EmptyLabel { at: start });
    }
    if len > MAX_LABEL_LEN {
        return Err(NameError::LabelTooLong { at: start, len });
    }
    if bytes.get(start) == Some(&b'-') {
        return Err(NameError::HyphenAtLabelEdge { at: start });
    }
    let last = end.saturating_sub(1);
    if bytes.get(last) == Some(&b'-') {
        return Err(NameError::HyphenAtLabelEdge { at: last });
    }
    Ok(())
}

/// A node name that passed [`validate_dns_subdomain`]: safe in URL paths, JSON and label values
/// of up to 63 bytes without escaping.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NodeName<'a>(&'a str);

impl<'a> NodeName<'a> {
    /// Validates `name`.
    pub fn new(name: &'a str) -> Result<Self, NameError> {
        validate_dns_subdomain(name)?;
        Ok(NodeName(name))
    }

    /// The name as given.
    pub fn as_str(&self) -> &'a str {
        self.0
    }

    /// Length in bytes (1..=253).
    #[allow(clippy::len_without_is_empty)] // never empty by construction
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl fmt::Display for NodeName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// Which part of a label (or a taint, which follows the same rules) is wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabelError {
    /// The prefix before `/` is not a DNS-1123 subdomain (positions are offsets into the key).
    Prefix(NameError),
    /// The key's name part (after the optional `prefix/`) is wrong; positions are offsets into
    /// the key.
    Name(SegmentError),
    /// The value is wrong; positions are offsets into the value.
    Value(SegmentError),
    /// NodeRestriction forbids a node to set this key; the API server would answer 403
    /// ("is not allowed to set the following labels").
    ForbiddenForNode,
}

/// What is wrong with a label name part or value: at most 63 bytes of `A-Za-z0-9-_.`, starting
/// and ending alphanumeric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentError {
    /// A key name part must not be empty (a value may).
    Empty,
    TooLong {
        len: usize,
    },
    InvalidChar {
        at: usize,
        byte: u8,
    },
    /// Starts or ends with `-`, `_` or `.`.
    NonAlphanumericEdge {
        at: usize,
    },
}

impl fmt::Display for SegmentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            SegmentError::Empty => f.write_str("is empty"),
            SegmentError::TooLong { len } => {
                write!(f, "is {len} bytes, at most {MAX_LABEL_LEN} allowed")
            }
            SegmentError::InvalidChar { at, byte } => write!(
                f,
                "has byte {byte:#04x} at {at} (only A-Z, a-z, 0-9, '-', '_', '.')"
            ),
            SegmentError::NonAlphanumericEdge { at } => {
                write!(f, "must start and end alphanumeric (offset {at})")
            }
        }
    }
}

impl fmt::Display for LabelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LabelError::Prefix(e) => write!(f, "label key prefix: {e}"),
            LabelError::Name(e) => write!(f, "label key name {e}"),
            LabelError::Value(e) => write!(f, "label value {e}"),
            LabelError::ForbiddenForNode => f.write_str(
                "NodeRestriction forbids a node to set this label key (the server answers 403)",
            ),
        }
    }
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`, at most 63 bytes; `offset` is added to reported
/// positions.
fn check_segment(s: &str, offset: usize) -> Result<(), SegmentError> {
    let bytes = s.as_bytes();
    if bytes.len() > MAX_LABEL_LEN {
        return Err(SegmentError::TooLong { len: bytes.len() });
    }
    for (i, &b) in bytes.iter().enumerate() {
        let at = offset.saturating_add(i);
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => {}
            b'-' | b'_' | b'.' => {
                if i == 0 || i + 1 == bytes.len() {
                    return Err(SegmentError::NonAlphanumericEdge { at });
                }
            }
            _ => return Err(SegmentError::InvalidChar { at, byte: b }),
        }
    }
    Ok(())
}

/// Checks a label key: a qualified name, `[prefix/]name` with a DNS-1123 subdomain prefix.
pub fn validate_label_key(key: &str) -> Result<(), LabelError> {
    let (prefix, name, name_offset) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n, p.len().saturating_add(1)),
        None => (None, key, 0),
    };
    if let Some(p) = prefix {
        validate_dns_subdomain(p).map_err(LabelError::Prefix)?;
    }
    if name.is_empty() {
        return Err(LabelError::Name(SegmentError::Empty));
    }
    check_segment(name, name_offset).map_err(LabelError::Name)
}

/// Checks a label value: empty, or a name part (at most 63 bytes, alphanumeric edges).
pub fn validate_label_value(value: &str) -> Result<(), LabelError> {
    check_segment(value, 0).map_err(LabelError::Value)
}

/// Label keys a kubelet may set on its own Node (`k8s.io/kubelet/apis.IsKubeletLabel`).
const KUBELET_LABELS: [&str; 11] = [
    "kubernetes.io/hostname",
    "kubernetes.io/arch",
    "kubernetes.io/os",
    "node.kubernetes.io/instance-type",
    "topology.kubernetes.io/region",
    "topology.kubernetes.io/zone",
    "beta.kubernetes.io/arch",
    "beta.kubernetes.io/os",
    "beta.kubernetes.io/instance-type",
    "failure-domain.beta.kubernetes.io/region",
    "failure-domain.beta.kubernetes.io/zone",
];

/// Label namespaces (and their subdomains) a kubelet may use freely.
const KUBELET_NAMESPACES: [&str; 2] = ["kubelet.kubernetes.io", "node.kubernetes.io"];

fn is_in_namespace(namespace: &str, domain: &str) -> bool {
    namespace == domain
        || namespace
            .strip_suffix(domain)
            .is_some_and(|head| head.ends_with('.'))
}

/// Mirrors NodeRestriction's `getForbiddenLabels` for a node writing its own labels: keys in
/// the `kubernetes.io` / `k8s.io` namespaces (and their subdomains, `node-role.kubernetes.io`
/// among them) are refused unless they are kubelet labels (the list above, or the
/// `kubelet.kubernetes.io` / `node.kubernetes.io` namespaces). Keys without a prefix and other
/// prefixes are allowed. Values are not checked by NodeRestriction, so `kubernetes.io/os=none`
/// passes (recording 01). Note that `beta.kubernetes.io` and `failure-domain.beta.kubernetes.io`
/// allow only the keys listed, as the server does, not every key in those namespaces.
pub fn node_may_set_label(key: &str) -> bool {
    let namespace = key.split_once('/').map_or("", |(p, _)| p);
    let kubernetes =
        is_in_namespace(namespace, "kubernetes.io") || is_in_namespace(namespace, "k8s.io");
    if !kubernetes {
        return true;
    }
    KUBELET_LABELS.contains(&key)
        || KUBELET_NAMESPACES
            .iter()
            .any(|ns| is_in_namespace(namespace, ns))
}

/// Checks a label this node wants to put on itself: key and value syntax, then NodeRestriction.
pub fn validate_node_label(key: &str, value: &str) -> Result<(), LabelError> {
    validate_label_key(key)?;
    validate_label_value(value)?;
    if node_may_set_label(key) {
        Ok(())
    } else {
        Err(LabelError::ForbiddenForNode)
    }
}

/// Length of a UUID in text form.
pub const UUID_TEXT_LEN: usize = 36;
/// Length of a machine ID (32 lowercase hex digits, as systemd's machine-id).
pub const MACHINE_ID_LEN: usize = 32;

/// The IDs the Node reports in `status.nodeInfo`, as text.
///
/// * `systemUUID` is an RFC 9562 version-8 UUID derived from the board's MAC only, so it is the
///   same on every boot: the first eight bytes are ASCII `picokube` (with the version nibble set
///   to 8: `7069636f-6b75-8265-…`), then the variant bits `80 00`, then the six MAC bytes in the
///   node field, where UUID version 1 keeps the MAC too. `24:0a:c4:12:34:56` gives
///   `7069636f-6b75-8265-8000-240ac4123456`.
/// * `machineID` is the same 16 bytes as 32 hex digits without dashes.
/// * `bootID` is a version-4 UUID from 16 random bytes the caller draws at boot (the version and
///   variant bits are overwritten, the other 122 bits are kept).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeIds {
    machine_id: [u8; MACHINE_ID_LEN],
    system_uuid: [u8; UUID_TEXT_LEN],
    boot_id: [u8; UUID_TEXT_LEN],
}

impl NodeIds {
    /// Derives the IDs; see the type's documentation for the layout.
    pub fn new(mac: [u8; 6], boot_random: [u8; 16]) -> Self {
        let mut system = *b"picokube\x80\x00\0\0\0\0\0\0";
        for (dst, src) in system.iter_mut().skip(10).zip(mac) {
            *dst = src;
        }
        set_version_and_variant(&mut system, 8);
        let mut boot = boot_random;
        set_version_and_variant(&mut boot, 4);
        let mut machine_id = [0u8; MACHINE_ID_LEN];
        for (pair, byte) in machine_id.chunks_exact_mut(2).zip(system) {
            put_hex_byte(pair, byte);
        }
        NodeIds {
            machine_id,
            system_uuid: uuid_text(&system),
            boot_id: uuid_text(&boot),
        }
    }

    /// `status.nodeInfo.machineID`.
    pub fn machine_id(&self) -> &str {
        ascii(&self.machine_id)
    }

    /// `status.nodeInfo.systemUUID`.
    pub fn system_uuid(&self) -> &str {
        ascii(&self.system_uuid)
    }

    /// `status.nodeInfo.bootID`.
    pub fn boot_id(&self) -> &str {
        ascii(&self.boot_id)
    }
}

fn set_version_and_variant(bytes: &mut [u8; 16], version: u8) {
    bytes[6] = (bytes[6] & 0x0f) | (version << 4);
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
}

fn put_hex_byte(out: &mut [u8], b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    if let [hi, lo] = out {
        *hi = HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0');
        *lo = HEX.get(usize::from(b & 0x0f)).copied().unwrap_or(b'0');
    }
}

fn uuid_text(bytes: &[u8; 16]) -> [u8; UUID_TEXT_LEN] {
    let mut out = [b'-'; UUID_TEXT_LEN];
    let mut at = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            at += 1;
        }
        if let Some(pair) = out.get_mut(at..at + 2) {
            put_hex_byte(pair, b);
        }
        at += 2;
    }
    out
}

fn ascii(bytes: &[u8]) -> &str {
    // Only ever hex digits and dashes.
    core::str::from_utf8(bytes).unwrap_or("")
}

/// Which label of a Node body an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabelSlot {
    /// `kubernetes.io/arch` (from the profile's architecture).
    Arch,
    /// `kubernetes.io/os`.
    Os,
    /// `node.kubernetes.io/instance-type`.
    InstanceType,
    /// The profile's taint (key and value follow label rules).
    Taint,
    /// `extra_labels[i]`.
    Extra(usize),
}

/// Why a body builder wrote nothing usable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyError {
    /// The buffer is too small, or (a bug) the builder wrote unbalanced JSON.
    Json(JsonError),
    /// A label (or the taint) is malformed or forbidden for a node.
    Label { slot: LabelSlot, error: LabelError },
    /// Two labels have the same key (the server would keep only one).
    DuplicateLabel { slot: LabelSlot },
    /// More extra labels than the builder's stated maximum.
    TooManyLabels { count: usize, max: usize },
    /// A text field is longer (JSON-escaped) than the builder allows; `field` is its JSON path.
    TooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
    /// Two conditions of one type (the list is keyed by `type`).
    DuplicateCondition(ConditionType),
    /// A resource quantity (capacity/allocatable) is not a Kubernetes quantity.
    InvalidQuantity { field: &'static str },
    /// A number outside what the field accepts (e.g. leaseDurationSeconds of 0).
    OutOfRange { field: &'static str },
    /// A text field that must hold a name or UID does not (e.g. an empty owner UID).
    Invalid { field: &'static str },
}

impl From<JsonError> for BodyError {
    fn from(e: JsonError) -> Self {
        BodyError::Json(e)
    }
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::Json(e) => write!(f, "{e}"),
            BodyError::Label { slot, error } => write!(f, "label {slot:?}: {error}"),
            BodyError::DuplicateLabel { slot } => write!(f, "label {slot:?} repeats a key"),
            BodyError::TooManyLabels { count, max } => {
                write!(f, "{count} extra labels, at most {max} allowed")
            }
            BodyError::TooLong { field, len, max } => {
                write!(f, "{field} is {len} bytes (escaped), at most {max} allowed")
            }
            BodyError::DuplicateCondition(t) => {
                write!(f, "condition {} appears twice", t.as_str())
            }
            BodyError::InvalidQuantity { field } => write!(f, "{field} is not a quantity"),
            BodyError::OutOfRange { field } => write!(f, "{field} is out of range"),
            BodyError::Invalid { field } => write!(f, "{field} is not valid"),
        }
    }
}

/// Fails with [`BodyError::TooLong`] when `s`, JSON-escaped, is longer than `max` bytes.
pub(crate) fn check_text(field: &'static str, s: &str, max: usize) -> Result<(), BodyError> {
    let len = crate::json::writer::escaped_len(s);
    if len > max {
        Err(BodyError::TooLong { field, len, max })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;

    #[test]
    fn accepts_good_node_names() {
        for name in ["a", "esp-node-01", "esp32s3-eth-a1b2c3d4", "a.b-c.d0", "0x"] {
            assert_eq!(NodeName::new(name).map(|n| n.as_str()), Ok(name));
        }
        let longest = [[
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(61),
        ]
        .join(".")];
        assert_eq!(longest[0].len(), 253);
        assert!(NodeName::new(&longest[0]).is_ok());
    }

    #[test]
    fn names_are_rejected_with_cause_and_position() {
        assert_eq!(NodeName::new(""), Err(NameError::Empty));
        assert_eq!(
            NodeName::new("ESP_Node"),
            Err(NameError::InvalidChar { at: 0, byte: b'E' })
        );
        assert_eq!(
            NodeName::new("esp_node"),
            Err(NameError::InvalidChar { at: 3, byte: b'_' })
        );
        assert_eq!(NodeName::new("a..b"), Err(NameError::EmptyLabel { at: 2 }));
        assert_eq!(NodeName::new(".a"), Err(NameError::EmptyLabel { at: 0 }));
        assert_eq!(NodeName::new("a."), Err(NameError::EmptyLabel { at: 2 }));
        assert_eq!(
            NodeName::new("-a"),
            Err(NameError::HyphenAtLabelEdge { at: 0 })
        );
        assert_eq!(
            NodeName::new("ab.c-"),
            Err(NameError::HyphenAtLabelEdge { at: 4 })
        );
        assert_eq!(
            NodeName::new("ab-.c"),
            Err(NameError::HyphenAtLabelEdge { at: 2 })
        );
        let long_label = std::format!("x.{}", "a".repeat(64));
        assert_eq!(
            NodeName::new(&long_label),
            Err(NameError::LabelTooLong { at: 2, len: 64 })
        );
        let too_long: String = [[
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(62),
        ]
        .join(".")]
        .concat();
        assert_eq!(
            NodeName::new(&too_long),
            Err(NameError::TooLong { len: 254 })
        );
        assert_eq!(
            NodeName::new("é"),
            Err(NameError::InvalidChar { at: 0, byte: 0xc3 })
        );
    }

    #[test]
    fn label_keys_and_values() {
        assert_eq!(validate_label_key("app"), Ok(()));
        assert_eq!(validate_label_key("example.com/My_Key.1"), Ok(()));
        assert_eq!(
            validate_label_key("Example.com/x"),
            Err(LabelError::Prefix(NameError::InvalidChar {
                at: 0,
                byte: b'E'
            }))
        );
        assert_eq!(
            validate_label_key("example.com/"),
            Err(LabelError::Name(SegmentError::Empty))
        );
        assert_eq!(
            validate_label_key("/x"),
            Err(LabelError::Prefix(NameError::Empty))
        );
        assert_eq!(
            validate_label_key("a/b/c"),
            Err(LabelError::Name(SegmentError::InvalidChar {
                at: 3,
                byte: b'/'
            }))
        );
        assert_eq!(
            validate_label_key("ex.com/-x"),
            Err(LabelError::Name(SegmentError::NonAlphanumericEdge {
                at: 7
            }))
        );
        assert_eq!(
            validate_label_key(&"k".repeat(64)),
            Err(LabelError::Name(SegmentError::TooLong { len: 64 }))
        );
        assert_eq!(validate_label_value(""), Ok(()));
        assert_eq!(validate_label_value("xtensa"), Ok(()));
        assert_eq!(
            validate_label_value("a b"),
            Err(LabelError::Value(SegmentError::InvalidChar {
                at: 1,
                byte: b' '
            }))
        );
        assert_eq!(
            validate_label_value("x."),
            Err(LabelError::Value(SegmentError::NonAlphanumericEdge {
                at: 1
            }))
        );
    }

    #[test]
    fn node_restriction_rules() {
        for allowed in [
            "kubernetes.io/hostname",
            "kubernetes.io/arch",
            "kubernetes.io/os",
            "node.kubernetes.io/instance-type",
            "node.kubernetes.io/anything",
            "sub.node.kubernetes.io/x",
            "kubelet.kubernetes.io/x",
            "topology.kubernetes.io/zone",
            "topology.kubernetes.io/region",
            "beta.kubernetes.io/arch",
            "failure-domain.beta.kubernetes.io/zone",
            "picokubelet.dev/board",
            "plain",
            "notkubernetes.io/x",
        ] {
            assert!(node_may_set_label(allowed), "{allowed}");
        }
        for forbidden in [
            "node-role.kubernetes.io/edge",
            "node-role.kubernetes.io/control-plane",
            "node-restriction.kubernetes.io/x",
            "kubernetes.io/foo",
            "k8s.io/foo",
            "x.k8s.io/foo",
            "topology.kubernetes.io/rack",
            "beta.kubernetes.io/foo",
        ] {
            assert!(!node_may_set_label(forbidden), "{forbidden}");
        }
        assert_eq!(
            validate_node_label("node-role.kubernetes.io/edge", ""),
            Err(LabelError::ForbiddenForNode)
        );
        assert_eq!(validate_node_label("kubernetes.io/os", "none"), Ok(()));
    }

    #[test]
    fn ids_are_deterministic_and_well_formed() {
        let mac = [0x24, 0x0a, 0xc4, 0x12, 0x34, 0x56];
        let ids = NodeIds::new(mac, [0xff; 16]);
        assert_eq!(ids.system_uuid(), "7069636f-6b75-8265-8000-240ac4123456");
        assert_eq!(ids.machine_id(), "7069636f6b7582658000240ac4123456");
        assert_eq!(ids.boot_id(), "ffffffff-ffff-4fff-bfff-ffffffffffff");
        let zero = NodeIds::new(mac, [0; 16]);
        assert_eq!(zero.boot_id(), "00000000-0000-4000-8000-000000000000");
        assert_eq!(zero.system_uuid(), ids.system_uuid());
        let other = NodeIds::new([0x24, 0x0a, 0xc4, 0x12, 0x34, 0x57], [0; 16]);
        assert_ne!(other.machine_id(), ids.machine_id());
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        /// The rules restated plainly, as an independent reference.
        fn reference_subdomain(s: &str) -> bool {
            (1..=253).contains(&s.len())
                && s.split('.').all(|l| {
                    (1..=63).contains(&l.len())
                        && l.bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                        && !l.starts_with('-')
                        && !l.ends_with('-')
                })
        }

        fn reference_segment(s: &str) -> bool {
            s.len() <= 63
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
                && s.bytes().next().is_none_or(|b| b.is_ascii_alphanumeric())
                && s.bytes().last().is_none_or(|b| b.is_ascii_alphanumeric())
        }

        fn reference_key(s: &str) -> bool {
            match s.split_once('/') {
                Some((p, n)) => reference_subdomain(p) && !n.is_empty() && reference_segment(n),
                None => !s.is_empty() && reference_segment(s),
            }
        }

        /// Mostly-valid names with faults sprinkled in, and lengths around the limits.
        fn candidate() -> impl Strategy<Value = String> {
            prop_oneof![
                "[a-z0-9.-]{0,20}",
                "[a-z0-9A-Z_./é-]{0,12}",
                ("[a-z0-9]{1,70}", 1usize..6).prop_map(|(l, n)| std::vec![l; n].join(".")),
                ("[a-z]", 240usize..260).prop_map(|(c, n)| c.repeat(n)),
            ]
        }

        proptest! {
            #[test]
            fn subdomain_check_agrees_with_reference(s in candidate()) {
                prop_assert_eq!(validate_dns_subdomain(&s).is_ok(), reference_subdomain(&s), "{:?}", s);
            }

            #[test]
            fn label_checks_agree_with_reference(p in candidate(), n in candidate(), slash in any::<bool>()) {
                let key = if slash { std::format!("{p}/{n}") } else { n.clone() };
                prop_assert_eq!(validate_label_key(&key).is_ok(), reference_key(&key), "{:?}", key);
                prop_assert_eq!(validate_label_value(&n).is_ok(), reference_segment(&n), "{:?}", n);
            }
        }
    }
}
