//! Node names: DNS-1123 subdomains, checked locally with the position of the fault (a node
//! identity gets a bare 403 from NodeRestriction for a bad name, recordings 02b, 14d).
use core::fmt;

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
}
