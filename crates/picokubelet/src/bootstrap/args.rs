//! The flags of `run`'s TLS bootstrap, checked by clap with the core's rules (a bootstrap
//! token's shape, a CA hash, a lifetime the API server accepts).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use picokubelet_core::tls::jws::BootstrapToken;
use picokubelet_core::tls::pin::CaPin;

/// How `run` gets its credentials by TLS bootstrap. Without any of these flags `run` uses the
/// kubeconfig as before.
#[derive(Clone, Debug, Default, Args)]
pub struct BootstrapArgs {
    /// Join with a bootstrap kubeconfig (kubeadm's bootstrap-kubelet.conf: the server, its CA
    /// and a bootstrap token): get this node's own client certificate through a CSR, keep it in
    /// --cert-dir and renew it
    #[arg(long, value_name = "PATH", conflicts_with_all = ["kubeconfig", "bootstrap_token"])]
    pub bootstrap_kubeconfig: Option<PathBuf>,
    /// Join with a bootstrap token alone (`kubeadm token create --print-join-command` prints
    /// one): discover the server and CA from kube-public/cluster-info; needs
    /// --discovery-token-ca-cert-hash and --server
    #[arg(long, value_name = "ID.SECRET", conflicts_with = "kubeconfig",
          requires_all = ["discovery_token_ca_cert_hash", "server"], value_parser = parse_token)]
    pub bootstrap_token: Option<String>,
    /// The CA's public-key hash to trust for discovery, `sha256:<hex>` (repeatable, as kubeadm)
    #[arg(long, value_name = "sha256:HEX", requires = "bootstrap_token", value_parser = parse_pin)]
    pub discovery_token_ca_cert_hash: Vec<CaPin>,
    /// The API server to discover the cluster from, `HOST:PORT` or `https://HOST:PORT`
    #[arg(long, value_name = "HOST:PORT", requires = "bootstrap_token")]
    pub server: Option<String>,
    /// Where the node's key and certificates live (kubelet-client-current.pem; `fleet`: one
    /// directory per board in it, DIR/<node-name>) [default:
    /// $XDG_STATE_HOME/picokubelet/<node>/pki, else ~/.local/state/picokubelet/<node>/pki]
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,
    /// The lifetime to ask for (spec.expirationSeconds, at least 10m; the signer may give less)
    /// [default: the signer's, one year for kube-controller-manager]
    #[arg(long, value_name = "DURATION", value_parser = parse_expiration)]
    pub certificate_lifetime: Option<Duration>,
}

fn parse_token(s: &str) -> Result<String, String> {
    BootstrapToken::parse(s)
        .map(|_| s.to_owned())
        .map_err(|e| e.to_string())
}

fn parse_pin(s: &str) -> Result<CaPin, String> {
    CaPin::parse(s).map_err(|e| e.to_string())
}

fn parse_expiration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| e.to_string())?;
    let min = picokubelet_core::k8s::csr::MIN_EXPIRATION_SECONDS;
    if d.as_secs() < u64::from(min) || u32::try_from(d.as_secs()).is_err() {
        return Err(format!(
            "must be at least {} (the API server's minimum) and below 136 years",
            humantime::format_duration(Duration::from_secs(u64::from(min)))
        ));
    }
    Ok(d)
}

impl BootstrapArgs {
    /// Any bootstrap flag given: `run` bootstraps.
    pub fn is_active(&self) -> bool {
        self.bootstrap_kubeconfig.is_some() || self.bootstrap_token.is_some()
    }
}
