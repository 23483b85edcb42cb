//! Label keys and values, and the ones a node may set itself (NodeRestriction answers a bare
//! 403 for a forbidden one, recording 07c): checked locally with the position of the fault.
use core::fmt;

use crate::k8s::name::{validate_dns_subdomain, NameError, MAX_LABEL_LEN};

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;

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
