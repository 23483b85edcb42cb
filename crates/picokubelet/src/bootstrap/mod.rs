//! kubelet TLS bootstrap for `run`: from a bootstrap token to the node's own client certificate,
//! as the kubelet does it, and kubeadm's discovery from a token and a CA hash.
//!
//! - `run --bootstrap-kubeconfig FILE`: the server, CA and bootstrap token come from FILE
//!   (kubeadm's `bootstrap-kubelet.conf`).
//! - `run --bootstrap-token ID.SECRET --discovery-token-ca-cert-hash sha256:… --server HOST:PORT`:
//!   the server and CA come from `kube-public/cluster-info`, checked ([`discovery`]).
//!
//! Then: a valid certificate for this node in the certificate directory ([`cert_dir`]) is used
//! as it is; otherwise a fresh P-256 key (OsRng) and a CSR sent with the token ([`request`]).
//! The agent runs with the certificate until a random point in 70–90 % of its lifetime, then a
//! new key and CSR are sent with the current certificate (the token when that is refused or has
//! expired), and the agent restarts with the new one. Everything is per node: `fleet` can run
//! one [`Bootstrapper`] per board.

pub mod args;
pub mod cert_dir;
pub mod discovery;
pub mod figures;
pub mod fleet;
pub mod request;
pub mod run;

pub use args::BootstrapArgs;

use std::path::{Path, PathBuf};
use std::time::Duration;

use p256::ecdsa::SigningKey;
use picokubelet_core::tls::jws::BootstrapToken;
use rand_core::OsRng;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::agent_setup::AgentSetup;
use crate::args::{AgentArgs, NodeArgs};
use crate::board;
use crate::failure::Failure;
use crate::kubeconfig::{
    locate, CaSource, ClientCertificate, ClusterConfig, Credentials, Kubeconfig, LookupEnv,
    ResolveOptions, ResolvedConfig, Selection, ServerTrust, TokenSource,
};
use crate::pacer::HandshakePacer;
use crate::secret::Secret;
use cert_dir::{unix_now, CertDir, StoredIdentity};
use request::{request_certificate, CsrFailure, CsrJob, CsrObserver};

/// Where the cluster is and the bootstrap token.
#[derive(Clone, Debug)]
pub struct BootstrapCluster {
    cluster: ClusterConfig,
    token: Secret,
    selection: Selection,
}

/// The default certificate directory of `node`.
pub fn default_cert_dir(node: &str) -> Result<PathBuf, String> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| Path::new(&h).join(".local").join("state"))
        })
        .ok_or("neither XDG_STATE_HOME nor HOME is set: give --cert-dir")?;
    Ok(state.join("picokubelet").join(node).join("pki"))
}

/// The cluster and token from the bootstrap kubeconfig, or by discovery.
pub async fn bootstrap_cluster(
    bootstrap: &BootstrapArgs,
    cluster_args: &crate::args::ClusterArgs,
    env: &LookupEnv,
) -> Result<BootstrapCluster, Failure> {
    if let Some(path) = &bootstrap.bootstrap_kubeconfig {
        let located = locate(Some(path), env)?;
        let config = Kubeconfig::load(&located)?;
        let resolved = config.resolve(&ResolveOptions {
            context: cluster_args.context.clone(),
            insecure_skip_tls_verify: cluster_args.insecure_skip_tls_verify,
            ..Default::default()
        })?;
        let token = resolved
            .credentials
            .bearer_token()
            .cloned()
            .ok_or_else(|| {
                Failure::Usage(format!(
                    "the bootstrap kubeconfig {} has no token: its user needs `token:` with a \
                 bootstrap token (ID.SECRET, as kubeadm's bootstrap-kubelet.conf)",
                    path.display()
                ))
            })?;
        if BootstrapToken::parse(token.expose()).is_err() {
            // A ServiceAccount or static token may be allowed to create CSRs too; say so.
            warn!("the bootstrap kubeconfig's token is not a bootstrap token (ID.SECRET); using it anyway");
        }
        info!(
            server = %resolved.cluster.server,
            kubeconfig = %path.display(),
            "TLS bootstrap with the bootstrap kubeconfig's token"
        );
        return Ok(BootstrapCluster {
            cluster: resolved.cluster,
            token,
            selection: resolved.selection,
        });
    }
    let (Some(text), Some(server)) = (&bootstrap.bootstrap_token, &bootstrap.server) else {
        return Err(Failure::Usage(
            "TLS bootstrap needs --bootstrap-kubeconfig, or --bootstrap-token with \
             --discovery-token-ca-cert-hash and --server"
                .to_owned(),
        ));
    };
    let token = BootstrapToken::parse(text).map_err(|e| Failure::Usage(e.to_string()))?;
    let endpoint = discovery::parse_endpoint(server)
        .map_err(|e| Failure::Usage(format!("--server {server}: {e}")))?;
    let found = discovery::discover(&endpoint, &token, &bootstrap.discovery_token_ca_cert_hash)
        .await
        .map_err(Failure::Bootstrap)?;
    info!(
        server = %found.server,
        ca = %found.pin,
        "discovered the cluster from cluster-info: the signature matches the token and the CA the hash"
    );
    Ok(BootstrapCluster {
        cluster: ClusterConfig {
            server: found.server,
            tls_server_name: None,
            trust: ServerTrust::Ca {
                pem: found.ca_pem,
                source: CaSource::Inline,
            },
        },
        token: Secret::new(text.clone()),
        selection: Selection {
            context: "discovery".to_owned(),
            cluster: "cluster-info".to_owned(),
            user: format!("system:bootstrap:{}", token.id()),
        },
    })
}

/// The cluster with the bootstrap token as its credentials.
pub(crate) fn with_token(target: &BootstrapCluster) -> ResolvedConfig {
    ResolvedConfig {
        selection: target.selection.clone(),
        cluster: target.cluster.clone(),
        credentials: Credentials {
            token: target.token.clone(),
            source: TokenSource::Inline,
            client_certificate: None,
        },
    }
}

/// The cluster with the node's certificate as its only credentials.
pub(crate) fn with_certificate(
    target: &BootstrapCluster,
    certificate: ClientCertificate,
) -> ResolvedConfig {
    ResolvedConfig {
        selection: Selection {
            user: "kubelet-client-current".to_owned(),
            ..target.selection.clone()
        },
        cluster: target.cluster.clone(),
        credentials: Credentials {
            token: Secret::new(String::new()),
            source: TokenSource::None,
            client_certificate: Some(certificate),
        },
    }
}

/// When to renew: at a random point in 70–90 % of the certificate's lifetime (as the kubelet's
/// certificate manager), measured from notBefore; now if that is past.
pub fn renewal_delay(identity: &StoredIdentity, now: i64, random: u32) -> Duration {
    let at = picokubelet_core::bootstrap::renewal::renewal_at(
        identity.not_before,
        identity.not_after,
        random,
    );
    Duration::from_secs(u64::try_from(at.saturating_sub(now)).unwrap_or(0))
}

/// One node's certificate life cycle (per board: a fleet can hold one per board).
pub struct Bootstrapper<'a> {
    node: &'a NodeArgs,
    agent: &'a AgentArgs,
    target: &'a BootstrapCluster,
    dir: CertDir,
    lifetime: Option<Duration>,
    gate: Option<&'a HandshakePacer>,
    observer: Option<&'a dyn CsrObserver>,
}

impl<'a> Bootstrapper<'a> {
    /// The life cycle of the node `node.node_name` (which must be set), certificates in `dir`.
    pub fn new(
        node: &'a NodeArgs,
        agent: &'a AgentArgs,
        target: &'a BootstrapCluster,
        dir: CertDir,
        lifetime: Option<Duration>,
    ) -> Self {
        Bootstrapper {
            node,
            agent,
            target,
            dir,
            lifetime,
            gate: None,
            observer: None,
        }
    }

    /// One board of a fleet: its sessions wait for the fleet's handshake pacer, its requests
    /// are reported to `observer` (the fleet's summary) and its routine steps logged at debug.
    pub fn in_fleet(mut self, gate: &'a HandshakePacer, observer: &'a dyn CsrObserver) -> Self {
        self.gate = Some(gate);
        self.observer = Some(observer);
        self
    }

    fn quiet(&self) -> bool {
        self.observer.is_some()
    }

    fn name(&self) -> &str {
        self.node.node_name.as_deref().unwrap_or_default()
    }

    fn expiration_seconds(&self) -> Option<u32> {
        self.lifetime.and_then(|d| u32::try_from(d.as_secs()).ok())
    }

    fn setup(&self, resolved: &ResolvedConfig) -> Result<AgentSetup, CsrFailure> {
        let ip = board::internal_ip(Some(&resolved.cluster.server));
        AgentSetup::new(resolved, self.node, self.agent, ip)
            .map_err(|e| CsrFailure::Unusable(e.to_string()))
    }

    /// The stored certificate if it is usable, else one from the bootstrap token.
    pub async fn identity(
        &self,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<StoredIdentity, CsrFailure> {
        let now = unix_now();
        match self.dir.load(self.name(), now) {
            Ok(Some(identity)) => {
                if !self.stored_refused(&identity).await? {
                    if let Some(observer) = self.observer {
                        observer.reused();
                        debug!(
                            certificate = %identity.path.display(),
                            "the certificate directory holds a valid certificate for {}",
                            self.name()
                        );
                    } else {
                        info!(
                            certificate = %identity.path.display(),
                            "the certificate directory holds a valid certificate for {}",
                            self.name()
                        );
                    }
                    return Ok(identity);
                }
                warn!(
                    certificate = %identity.path.display(),
                    "the API server refuses the stored client certificate (401: another \
                     cluster's, or its client CA changed): asking for a new one with the \
                     bootstrap token"
                );
            }
            Ok(None) if self.quiet() => debug!(
                dir = %self.dir.path().display(),
                "no client certificate yet: asking the cluster for one with the bootstrap token"
            ),
            Ok(None) => info!(
                dir = %self.dir.path().display(),
                "no client certificate yet: asking the cluster for one with the bootstrap token"
            ),
            Err(why) => warn!(
                certificate = %self.dir.current_path().display(),
                "the stored client certificate cannot be used ({why}): asking for a new one with the bootstrap token"
            ),
        }
        self.with_bootstrap_token(stop).await
    }

    /// Does the server refuse the stored `identity`? Asked over a session of its own; in a fleet
    /// only until one board's stored certificate was accepted (they come from the same cluster
    /// and client CA), so a restarted fleet adds no second handshake per board.
    async fn stored_refused(&self, identity: &StoredIdentity) -> Result<bool, CsrFailure> {
        if self
            .observer
            .is_some_and(|o| o.stored_certificates_accepted())
        {
            return Ok(false);
        }
        let setup = self.setup(&with_certificate(self.target, identity.certificate.clone()))?;
        let accepted = request::credentials_accepted(&setup, self.gate).await;
        if let (Some(observer), Some(true)) = (self.observer, accepted) {
            observer.stored_certificate_accepted();
        }
        Ok(accepted == Some(false))
    }

    async fn with_bootstrap_token(
        &self,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<StoredIdentity, CsrFailure> {
        let setup = self.setup(&with_token(self.target))?;
        self.request(&setup, "the bootstrap token", stop).await
    }

    /// A new key and certificate, asked for with `setup`'s credentials, stored.
    async fn request(
        &self,
        setup: &AgentSetup,
        credentials: &str,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<StoredIdentity, CsrFailure> {
        let key = SigningKey::random(&mut OsRng);
        let job = CsrJob {
            setup,
            node: self.name(),
            key: &key,
            expiration_seconds: self.expiration_seconds(),
            credentials,
            gate: self.gate,
            observer: self.observer,
        };
        let pem = request_certificate(&job, stop).await?;
        let stored = self
            .dir
            .store(&pem, &key, self.name(), unix_now())
            .map_err(|why| CsrFailure::Unusable(format!("the issued certificate: {why}")))?;
        if self.quiet() {
            debug!(
                certificate = %stored.path.display(),
                "the cluster issued a client certificate for system:node:{}",
                self.name()
            );
            return Ok(stored);
        }
        info!(
            certificate = %stored.path.display(),
            "the cluster issued a client certificate for system:node:{}",
            self.name()
        );
        Ok(stored)
    }

    /// Renews `current`: with itself while it is valid, else (or when it is refused) with the
    /// bootstrap token.
    pub async fn renew(
        &self,
        current: &StoredIdentity,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<StoredIdentity, CsrFailure> {
        if current.remaining(unix_now()) > 0 {
            let setup = self.setup(&with_certificate(self.target, current.certificate.clone()))?;
            match self.request(&setup, "the current certificate", stop).await {
                Err(e @ (CsrFailure::Unauthorized { .. } | CsrFailure::Forbidden { .. })) => {
                    warn!("renewing with the current certificate failed: {e}; trying the bootstrap token");
                }
                done => return done,
            }
        } else {
            warn!(
                "the client certificate has expired: asking for a new one with the bootstrap token"
            );
        }
        self.with_bootstrap_token(stop).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(not_before: i64, not_after: i64) -> StoredIdentity {
        StoredIdentity {
            certificate: test_certificate(),
            path: PathBuf::from("/x"),
            not_before,
            not_after,
        }
    }

    fn test_certificate() -> ClientCertificate {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = rcgen::CertificateParams::new(Vec::<String>::new())
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let pem = format!("{}{}", cert.pem(), key.serialize_pem());
        ClientCertificate::from_pem(
            pem.as_bytes(),
            crate::kubeconfig::PemSource::Inline,
            pem.as_bytes(),
            crate::kubeconfig::PemSource::Inline,
        )
        .unwrap()
    }

    #[test]
    fn renewal_falls_in_70_to_90_percent_of_the_lifetime() {
        let id = identity(1_000, 11_000);
        assert_eq!(renewal_delay(&id, 1_000, 0), Duration::from_secs(7_000));
        assert_eq!(
            renewal_delay(&id, 1_000, u32::MAX),
            Duration::from_secs(8_990)
        );
        let mid = renewal_delay(&id, 1_000, u32::MAX / 2);
        assert!(
            mid > Duration::from_secs(7_900) && mid < Duration::from_secs(8_100),
            "{mid:?}"
        );
        // Measured from notBefore (the signer backdates it 5 minutes), not from now.
        assert_eq!(renewal_delay(&id, 3_000, 0), Duration::from_secs(5_000));
        // Past the point: now.
        assert_eq!(renewal_delay(&id, 10_500, 0), Duration::ZERO);
    }

    #[test]
    fn the_default_directory_is_per_node() {
        let dir = default_cert_dir("esp-boot-01");
        if let Ok(dir) = dir {
            assert!(
                dir.ends_with("picokubelet/esp-boot-01/pki"),
                "{}",
                dir.display()
            );
        }
    }
}
