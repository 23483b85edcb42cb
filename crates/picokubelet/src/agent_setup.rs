//! What every board of a process shares, worked out once from the resolved kubeconfig and the
//! flags: the CA, `Host` and server name, the token, the timing. `run` and `fleet` both build
//! one; each board then borrows its [`AgentConfig`] from it.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use picokubelet_core::agent::{AgentConfig, Timing};
use picokubelet_core::http::request::BearerToken;
use picokubelet_core::k8s::identity::{NodeIds, NodeName};
use picokubelet_core::tls::decode_ca;

use crate::args::{AgentArgs, NodeArgs};
use crate::board::{self, InternalIp};
use crate::failure::Failure;
use crate::kubeconfig::{ResolvedConfig, ServerTrust, ServerUrl};
use crate::secret::Secret;

/// See the module notes. `Send + Sync`: the worker threads share one behind an `Arc`.
#[derive(Debug)]
pub struct AgentSetup {
    pub server: ServerUrl,
    /// The cluster CA, DER; `None`: the server is not verified (insecure-skip-tls-verify).
    ca_der: Option<Vec<u8>>,
    /// `Host` header: `host:port`.
    host: String,
    /// The name the server certificate must carry.
    server_name: String,
    token: Secret,
    timing: Timing,
    internal_ip: Option<Ipv4Addr>,
    pub node: NodeArgs,
    pub signals_file: Option<PathBuf>,
}

impl AgentSetup {
    /// Decodes the CA and derives the timing; `Usage` when the CA cannot be used.
    pub fn new(
        resolved: &ResolvedConfig,
        node: &NodeArgs,
        agent: &AgentArgs,
        ip: InternalIp,
    ) -> Result<Self, Failure> {
        let cluster = &resolved.cluster;
        let ca_der = match &cluster.trust {
            ServerTrust::Ca { pem, .. } => {
                let mut buf = vec![0; pem.len()];
                let der = decode_ca(pem, &mut buf)
                    .map_err(|e| Failure::Usage(format!("the cluster CA cannot be used: {e:?}")))?;
                Some(der.to_vec())
            }
            ServerTrust::InsecureSkipVerify(_) => None,
        };
        let ip_name = cluster.server.host.to_string();
        let mut timing = Timing::DEFAULT;
        timing.lease_renew_interval = agent.lease_renew_interval;
        timing.status_interval = agent.status_interval;
        timing.condition_check_interval = agent.condition_check_interval;
        // A request must give up before the next renewal is due (short intervals are for tests).
        if timing.request_timeout >= agent.lease_renew_interval {
            timing.request_timeout = agent.lease_renew_interval / 2;
        }
        Ok(AgentSetup {
            server: cluster.server.clone(),
            ca_der,
            host: format!("{}:{}", cluster.server.host, cluster.server.port),
            server_name: cluster.verify_name().unwrap_or(&ip_name).to_owned(),
            token: resolved.credentials.token.clone(),
            timing,
            internal_ip: ip.address(),
            node: node.clone(),
            signals_file: agent.signals_file.clone(),
        })
    }

    /// How the server's certificate is checked.
    pub fn trust(&self) -> picokubelet_core::tls::ServerTrust<'_> {
        match &self.ca_der {
            Some(der) => picokubelet_core::tls::ServerTrust::Ca(der),
            None => picokubelet_core::tls::ServerTrust::InsecureSkipVerify,
        }
    }

    /// The server is not verified.
    pub fn is_insecure(&self) -> bool {
        self.ca_der.is_none()
    }

    /// The checked configuration of the board `name`, with the extra labels `labels`
    /// (`self.node.label_pairs()`, kept by the caller: the configuration borrows them).
    pub fn config<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
    ) -> Result<AgentConfig<'a>, Failure> {
        let node_name =
            NodeName::new(name).map_err(|e| Failure::Usage(format!("node name {name:?}: {e}")))?;
        let ids = NodeIds::new(board::mac_from_name(name), board::boot_random());
        let profile = self
            .node
            .node_profile(node_name, ids, self.internal_ip, labels);
        let mut config = AgentConfig::new(
            &self.host,
            Some(BearerToken::new(self.token.expose())),
            profile,
        );
        config.server_name = &self.server_name;
        config.timing = self.timing;
        config
            .validate()
            .map_err(|e| Failure::Usage(format!("agent configuration of {name}: {e:?}")))?;
        Ok(config)
    }

    /// The lease duration the Lease announces.
    pub fn lease_duration(&self) -> std::time::Duration {
        self.timing.lease_duration()
    }
}
