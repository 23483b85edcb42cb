//! From a parsed record to what the agent runs with: the node name (from the record or derived
//! from the MAC), the `Host` header, and an [`AgentConfig`] borrowing both and the record.
use core::fmt::Write;
use core::net::Ipv4Addr;
use core::time::Duration;

use super::record::ProvisionRecord;
use crate::agent::config::{AgentConfig, ConfigError};
use crate::bounded::BoundedStr;
use crate::k8s::chip::Chip;
use crate::k8s::identity::{
    validate_dns_subdomain, BodyError, NameError, NodeIds, NodeName, MAX_SUBDOMAIN_LEN,
};
use crate::k8s::node::NodeProfile;

/// Longest `Host` header: a 253-byte name (or a bracketed IPv6 literal) and `:65535`.
pub const MAX_HOST_HEADER_LEN: usize = 253 + 6;

/// A node name held by value (a derived one has no buffer to borrow from).
pub type NodeNameBuf = BoundedStr<MAX_SUBDOMAIN_LEN>;
/// The `Host` header held by value.
pub type HostHeaderBuf = BoundedStr<MAX_HOST_HEADER_LEN>;

/// `<prefix>-<mac as 12 lowercase hex digits>`, e.g. `esp32c6-240ac4123456`: unique per board,
/// stable across reboots. Fails when the prefix makes it an invalid name (or too long).
pub fn derive_node_name(prefix: &str, mac: [u8; 6]) -> Result<NodeNameBuf, NameError> {
    let mut name = NodeNameBuf::new();
    name.push_str(prefix);
    name.push_str("-");
    for b in mac {
        // Never fails: BoundedStr's fmt::Write truncates and flags instead.
        let _ = write!(name, "{b:02x}");
    }
    if name.is_truncated() {
        let len = prefix.len().saturating_add(13);
        return Err(NameError::TooLong { len });
    }
    validate_dns_subdomain(name.as_str())?;
    Ok(name)
}

/// The strings the agent configuration borrows that are not in the record buffer. Built only
/// by [`ProvisionRecord::agent_strings`], so the name is always a valid node name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentStrings {
    node_name: NodeNameBuf,
    host_header: HostHeaderBuf,
}

impl AgentStrings {
    /// The record's node name, or `<chip>-<mac>`.
    pub fn node_name(&self) -> &str {
        self.node_name.as_str()
    }

    /// `host` (port 443), else `host:port`; IPv6 literals in brackets.
    pub fn host_header(&self) -> &str {
        self.host_header.as_str()
    }
}

impl<'a> ProvisionRecord<'a> {
    /// The board's chip: the record's profile, else `built_for` (the firmware's own chip).
    pub fn chip(&self, built_for: Chip) -> Chip {
        self.profile.unwrap_or(built_for)
    }

    /// The name the server certificate must carry: `tls-server-name`, else the host.
    pub fn server_name(&self) -> &'a str {
        self.tls_server_name.unwrap_or(self.host)
    }

    /// The node name and `Host` header for this board (`mac` derives the name when the record
    /// has none; the chip of `built_for` or the record's profile is its prefix).
    pub fn agent_strings(&self, mac: [u8; 6], built_for: Chip) -> Result<AgentStrings, NameError> {
        let node_name = match self.node_name {
            Some(n) => NodeNameBuf::from_str_truncating(n.as_str()),
            None => derive_node_name(self.chip(built_for).name(), mac)?,
        };
        let mut host_header = HostHeaderBuf::new();
        let ipv6 = self.host.contains(':');
        if ipv6 {
            host_header.push_str("[");
        }
        host_header.push_str(self.host);
        if ipv6 {
            host_header.push_str("]");
        }
        if self.port != 443 {
            let _ = write!(host_header, ":{}", self.port);
        }
        Ok(AgentStrings {
            node_name,
            host_header,
        })
    }

    /// The agent configuration: the record's fields over DESIGN.md's defaults, checked with
    /// [`AgentConfig::validate`]. `ids` comes from [`NodeIds::new`] (MAC and boot random).
    pub fn agent_config<'s>(
        &'s self,
        strings: &'s AgentStrings,
        built_for: Chip,
        ids: NodeIds,
        internal_ip: Ipv4Addr,
    ) -> Result<AgentConfig<'s>, ConfigError> {
        // Checked when the strings were built; this cannot fail.
        let name = NodeName::new(strings.node_name()).map_err(|_| {
            ConfigError::Profile(BodyError::Invalid {
                field: "metadata.name",
            })
        })?;
        let mut profile = NodeProfile::for_chip(self.chip(built_for), name, ids, internal_ip);
        profile.extra_labels = self.labels.as_slice();
        let mut config = AgentConfig::new(strings.host_header(), Some(self.token), profile);
        config.server_name = self.server_name();
        if let Some(s) = self.lease_renew_interval_secs {
            config.timing.lease_renew_interval = Duration::from_secs(u64::from(s));
        }
        if let Some(s) = self.status_interval_secs {
            config.timing.status_interval = Duration::from_secs(u64::from(s));
        }
        if let Some(b) = self.memory_pressure_below_bytes {
            config.thresholds.memory_pressure_below_bytes = b;
        }
        config.validate()?;
        Ok(config)
    }
}
