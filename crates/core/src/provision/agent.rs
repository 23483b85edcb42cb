//! From a parsed record to what the agent runs with: the node name (from the record or derived
//! from the MAC), the `Host` header, the timing, and an [`AgentConfig`] built by the one builder
//! ([`AgentParts`]) the firmware and the host share.
use core::fmt::Write;
use core::net::Ipv4Addr;
use core::time::Duration;

use super::record::ProvisionRecord;
use crate::agent::config::{AgentConfig, ConfigError, Timing};
use crate::bounded::BoundedStr;
use crate::http::request::BearerToken;
use crate::k8s::body_error::BodyError;
use crate::k8s::chip::Chip;
use crate::k8s::name::{validate_dns_subdomain, NameError, NodeName, MAX_SUBDOMAIN_LEN};
use crate::k8s::node::NodeProfile;
use crate::k8s::node_ids::NodeIds;
use crate::tls::{ClientIdentity, ClientKey, ServerTrust, TlsOpener};
use p256::ecdsa::SigningKey;

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

    /// The `Host` header: `host` (port 443), else `host:port`; IPv6 literals in brackets.
    pub fn host_header(&self) -> HostHeaderBuf {
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
        host_header
    }

    /// The node name and `Host` header for this board (`mac` derives the name when the record
    /// has none; the chip of `built_for` or the record's profile is its prefix).
    pub fn agent_strings(&self, mac: [u8; 6], built_for: Chip) -> Result<AgentStrings, NameError> {
        let node_name = match self.node_name {
            Some(n) => NodeNameBuf::from_str_truncating(n.as_str()),
            None => derive_node_name(self.chip(built_for).name(), mac)?,
        };
        Ok(AgentStrings {
            node_name,
            host_header: self.host_header(),
        })
    }

    /// The record's periods.
    pub fn cadence(&self) -> Cadence {
        let secs = |s: Option<u32>| s.map(|s| Duration::from_secs(u64::from(s)));
        Cadence {
            lease_renew_interval: secs(self.lease_renew_interval_secs),
            status_interval: secs(self.status_interval_secs),
            condition_check_interval: None,
        }
    }

    /// The TLS opener the board uses: the record's trust and, when the record holds a client
    /// certificate, the board's identity with `key` — the record's
    /// [`ClientCertificate::signing_key`](super::ClientCertificate::signing_key), kept by the
    /// caller because the opener borrows it. Without a key (a token record) the opener sends
    /// no certificate. A discovery record has no CA yet: its opener trusts nothing (every
    /// handshake fails) until the caller builds one with the CA from cluster-info.
    pub fn tls_opener<'s>(&'s self, key: Option<&'s SigningKey>) -> TlsOpener<'s> {
        let opener = TlsOpener::new(self.trust.server().unwrap_or(ServerTrust::Ca(&[])));
        match (self.client_certificate, key) {
            (Some(client), Some(key)) => opener.with_client_identity(ClientIdentity {
                certificate_der: client.certificate_der,
                key: ClientKey::P256(key),
            }),
            _ => opener,
        }
    }

    /// The agent configuration from the record, as the firmware builds it at boot (and
    /// `picokubelet provision` checks it before writing): [`AgentParts::agent_config`].
    /// `ids` comes from [`NodeIds::new`] (MAC and boot random).
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
        AgentParts {
            host_header: strings.host_header(),
            server_name: self.server_name(),
            token: self.token,
            name,
            chip: self.chip(built_for),
            labels: self.labels.as_slice(),
            ids,
            internal_ip: Some(internal_ip),
            cadence: self.cadence(),
            memory_pressure_below_bytes: self.memory_pressure_below_bytes,
        }
        .agent_config()
    }
}

/// Periods over DESIGN.md's defaults: a record's (whole seconds) or the host's flags (any
/// length; `None` keeps the default).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cadence {
    pub lease_renew_interval: Option<Duration>,
    pub status_interval: Option<Duration>,
    pub condition_check_interval: Option<Duration>,
}

impl Cadence {
    /// DESIGN.md's timing with these periods. A request must give up before the next renewal
    /// is due: with a renewal period at or below the default request timeout (5 s), the
    /// timeout is half the period.
    pub fn timing(&self) -> Timing {
        let mut timing = Timing::DEFAULT;
        if let Some(d) = self.lease_renew_interval {
            timing.lease_renew_interval = d;
        }
        if let Some(d) = self.status_interval {
            timing.status_interval = d;
        }
        if let Some(d) = self.condition_check_interval {
            timing.condition_check_interval = d;
        }
        if timing.request_timeout >= timing.lease_renew_interval {
            timing.request_timeout = timing.lease_renew_interval / 2;
        }
        timing
    }
}

/// Everything an [`AgentConfig`] is built from. The one builder of agent configurations: the
/// firmware reaches it through [`ProvisionRecord::agent_config`], the host's `run` and `fleet`
/// with the parts of the record they build from the kubeconfig and their flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AgentParts<'a> {
    /// From [`ProvisionRecord::host_header`].
    pub host_header: &'a str,
    /// From [`ProvisionRecord::server_name`].
    pub server_name: &'a str,
    pub token: Option<BearerToken<'a>>,
    pub name: NodeName<'a>,
    pub chip: Chip,
    pub labels: &'a [(&'a str, &'a str)],
    pub ids: NodeIds,
    /// `None` sends no InternalIP.
    pub internal_ip: Option<Ipv4Addr>,
    pub cadence: Cadence,
    pub memory_pressure_below_bytes: Option<u32>,
}

impl<'a> AgentParts<'a> {
    /// The configuration, checked with [`AgentConfig::validate`].
    pub fn agent_config(&self) -> Result<AgentConfig<'a>, ConfigError> {
        let ip = self.internal_ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
        let mut profile = NodeProfile::for_chip(self.chip, self.name, self.ids, ip);
        profile.internal_ip = self.internal_ip;
        profile.extra_labels = self.labels;
        let mut config = AgentConfig::new(self.host_header, self.token, profile);
        config.server_name = self.server_name;
        config.timing = self.cadence.timing();
        if let Some(b) = self.memory_pressure_below_bytes {
            config.thresholds.memory_pressure_below_bytes = b;
        }
        config.validate()?;
        Ok(config)
    }
}
