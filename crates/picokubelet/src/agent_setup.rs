//! What every board of a process shares, worked out once from the resolved kubeconfig and the
//! flags: the provisioning record a board would get (`picokubelet provision` writes the same
//! fields; its rules check them here too), the CA, the token and the cadence. `run` and `fleet`
//! both build one; each board then gets its [`AgentConfig`] from the core's one builder
//! ([`AgentParts`]), as the firmware does from its record.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use picokubelet_core::agent::AgentConfig;
use picokubelet_core::client::{self, SharedToken};
use picokubelet_core::http::request::BearerToken;
use picokubelet_core::k8s::name::NodeName;
use picokubelet_core::k8s::node_ids::NodeIds;
use picokubelet_core::provision::{AgentParts, Cadence, ProvisionRecord};
use picokubelet_core::tls::{ClientIdentity, ServerTrust, TlsOpener};

use crate::args::{AgentArgs, NodeArgs};
use crate::board::{self, InternalIp};
use crate::board_opener::BoardOpener;
use crate::failure::Failure;
use crate::kubeconfig::exec_cache::system_clock;
use crate::kubeconfig::{self, ClientCertificate, ExecTokens, ResolvedConfig, ServerUrl};
use crate::provision::ca::{ca_der, core_trust};
use crate::provision::endpoint::Endpoint;
use crate::secret::Secret;

/// See the module notes. `Send + Sync`: the worker threads share one behind an `Arc`.
#[derive(Debug)]
pub struct AgentSetup {
    pub server: ServerUrl,
    /// The cluster CA, DER; `None`: the server is not verified (insecure-skip-tls-verify).
    ca_der: Option<Vec<u8>>,
    /// `Host` header, by the record's rule.
    host_header: String,
    /// The name the server certificate must carry, by the record's rule.
    server_name: String,
    /// `None`: the user authenticates with its client certificate only.
    token: Option<Secret>,
    /// Sent when the server asks for a client certificate (kube-apiserver always asks).
    client_certificate: Option<ClientCertificate>,
    /// The exec plugin's credential cache: when set, every request takes its token from it
    /// (refreshed before expiry and after a 401) instead of `token`.
    exec: Option<ExecTokens>,
    cadence: Cadence,
    internal_ip: Option<Ipv4Addr>,
    pub node: NodeArgs,
    pub signals_file: Option<PathBuf>,
}

impl AgentSetup {
    /// Decodes the CA and checks the record a board would get; `Usage` when either fails.
    pub fn new(
        resolved: &ResolvedConfig,
        node: &NodeArgs,
        agent: &AgentArgs,
        ip: InternalIp,
    ) -> Result<Self, Failure> {
        let cluster = &resolved.cluster;
        let ca_der = match &cluster.trust {
            kubeconfig::ServerTrust::Ca { pem, .. } => Some(
                ca_der(pem)
                    .map_err(|e| Failure::Usage(format!("the cluster CA cannot be used: {e}")))?,
            ),
            kubeconfig::ServerTrust::InsecureSkipVerify(_) => None,
        };
        let host = Endpoint {
            server: cluster.server.clone(),
            from_flag: false,
        }
        .record_host();
        let token = resolved.credentials.bearer_token().cloned();
        let exec = resolved
            .credentials
            .exec()
            .map(|e| ExecTokens::new(e.plugin.clone(), e.first.clone(), system_clock()));
        let trust = core_trust(ca_der.as_deref());
        // The record has no client-certificate field: with a certificate and no token, a
        // stand-in lets the record's rules check the other fields. It is never sent.
        let record_token = token.as_ref().map_or("client-certificate", Secret::expose);
        let mut record = ProvisionRecord::new(&host, trust, BearerToken::new(record_token));
        record.port = cluster.server.port;
        record.tls_server_name = cluster.tls_server_name.as_deref();
        record.profile = Some(node.profile.0);
        record
            .validate()
            .map_err(|e| Failure::Usage(format!("the board's configuration: {e}")))?;
        Ok(AgentSetup {
            server: cluster.server.clone(),
            host_header: record.host_header().as_str().to_owned(),
            server_name: record.server_name().to_owned(),
            ca_der,
            token,
            client_certificate: resolved.credentials.client_certificate.clone(),
            exec,
            cadence: Cadence {
                lease_renew_interval: Some(agent.lease_renew_interval),
                status_interval: Some(agent.status_interval),
                condition_check_interval: Some(agent.condition_check_interval),
            },
            internal_ip: ip.address(),
            node: node.clone(),
            signals_file: agent.signals_file.clone(),
        })
    }

    /// How the server's certificate is checked.
    pub fn trust(&self) -> ServerTrust<'_> {
        core_trust(self.ca_der.as_deref())
    }

    /// The client certificate to send when the server asks for one.
    pub fn client_identity(&self) -> Option<ClientIdentity<'_>> {
        self.client_certificate
            .as_ref()
            .map(ClientCertificate::identity)
    }

    /// The TLS opener every board of this process uses: the trust and the client identity —
    /// read at each handshake when an exec plugin hands out the certificate (it may renew it).
    pub fn opener(&self) -> BoardOpener<'_> {
        let opener = BoardOpener::new(TlsOpener::new(self.trust()));
        match (&self.exec, self.client_identity()) {
            (Some(exec), Some(_)) => opener.with_live_certificate(exec),
            (None, Some(identity)) => opener.with_client_identity(identity),
            (_, None) => opener,
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
        let mut config = AgentParts {
            host_header: &self.host_header,
            server_name: &self.server_name,
            token: self.fixed_token(),
            name: node_name,
            chip: self.node.profile.0,
            labels,
            ids: NodeIds::new(board::mac_from_name(name), board::boot_random()),
            internal_ip: self.internal_ip,
            cadence: self.cadence,
            memory_pressure_below_bytes: None,
        }
        .agent_config()
        .map_err(|e| Failure::Usage(format!("agent configuration of {name}: {e:?}")))?;
        config.token_source = self.token_source();
        Ok(config)
    }

    /// The token every request carries, unless an exec plugin's cache hands it out.
    fn fixed_token(&self) -> Option<BearerToken<'_>> {
        match self.exec {
            Some(_) => None,
            None => self.token.as_ref().map(|t| BearerToken::new(t.expose())),
        }
    }

    /// The exec plugin's cache, as the core reads it.
    fn token_source(&self) -> Option<SharedToken<'_>> {
        self.exec.as_ref().map(|e| SharedToken(e))
    }

    /// The name the server certificate must carry.
    pub fn server_name(&self) -> &str {
        &self.server_name
    }

    /// Where requests go and as whom (the agent's `Host` header and token).
    pub fn endpoint(&self) -> client::Endpoint<'_> {
        client::Endpoint {
            host: &self.host_header,
            token: self.fixed_token(),
            token_source: self.token_source(),
        }
    }

    /// The lease duration the Lease announces.
    pub fn lease_duration(&self) -> std::time::Duration {
        self.cadence.timing().lease_duration()
    }
}
