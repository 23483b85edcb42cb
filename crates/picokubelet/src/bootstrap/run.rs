//! `run` with TLS bootstrap: the node's certificate from [`super::Bootstrapper`], then the agent
//! with it, restarted with each renewed one, until SIGINT/SIGTERM.

use std::path::Path;
use std::time::Duration;

use rand_core::{OsRng, RngCore};
use tokio::sync::watch;
use tracing::info;

use super::cert_dir::{unix_now, CertDir};
use super::request::CsrFailure;
use super::{
    bootstrap_cluster, default_cert_dir, renewal_delay, with_certificate, with_token,
    BootstrapArgs, Bootstrapper,
};
use crate::agent_setup::AgentSetup;
use crate::args::{AgentArgs, NodeArgs};
use crate::board;
use crate::failure::Failure;
use crate::kubeconfig::LookupEnv;

/// `run` with TLS bootstrap, until SIGINT/SIGTERM.
pub fn run(
    bootstrap: &BootstrapArgs,
    cluster_args: &crate::args::ClusterArgs,
    node: &NodeArgs,
    agent: &AgentArgs,
    env: &LookupEnv,
) -> Result<(), Failure> {
    let name = crate::app::base_node_name(node);
    let cert_dir = match &bootstrap.cert_dir {
        Some(dir) => dir.clone(),
        None => default_cert_dir(&name).map_err(Failure::Usage)?,
    };
    if agent.dry_run {
        return dry_run(bootstrap, cluster_args, node, agent, env, &name, &cert_dir);
    }
    let dir = CertDir::open(&cert_dir).map_err(Failure::Usage)?;
    let stop = shutdown_watch();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Usage(format!("cannot start the async runtime: {e}")))?;
    let target = runtime.block_on(bootstrap_cluster(bootstrap, cluster_args, env))?;
    let mut node = node.clone();
    node.node_name = Some(name.clone());
    let bootstrapper =
        Bootstrapper::new(&node, agent, &target, dir, bootstrap.certificate_lifetime);
    let mut stop_rx = stop.clone();
    let mut identity = match runtime.block_on(bootstrapper.identity(&mut stop_rx)) {
        Ok(identity) => identity,
        Err(CsrFailure::Stopped) => return Ok(()),
        Err(e) => return Err(Failure::Bootstrap(e.to_string())),
    };
    loop {
        let renew_in = renewal_delay(&identity, unix_now(), OsRng.next_u32());
        info!(
            node = %name,
            certificate = %identity.path.display(),
            expires_in = %humantime::format_duration(Duration::from_secs(u64::try_from(identity.remaining(unix_now())).unwrap_or(0))),
            renew_in = %humantime::format_duration(renew_in),
            "using the node's client certificate"
        );
        let resolved = with_certificate(&target, identity.certificate.clone());
        // The renewal runs beside the agent, which keeps its Node Ready with the current
        // certificate until the new one is there (a cluster that approves renewals by hand may
        // take a while); the boards then restart with it.
        let renewed = std::cell::RefCell::new(None);
        let renewal = async {
            let mut stopped = stop.clone();
            tokio::select! {
                () = tokio::time::sleep(renew_in) => {}
                _ = stopped.wait_for(|s| *s) => return,
            }
            info!(node = %name, "renewing the node's client certificate");
            let mut stopped = stop.clone();
            *renewed.borrow_mut() = Some(bootstrapper.renew(&identity, &mut stopped).await);
        };
        crate::app::boards_resolved(&resolved, &node, agent, None, renewal, None, None)?;
        match renewed.into_inner() {
            None | Some(Err(CsrFailure::Stopped)) => return Ok(()),
            Some(Ok(next)) => identity = next,
            Some(Err(e)) => return Err(Failure::Bootstrap(e.to_string())),
        }
    }
}

/// `run --dry-run` with bootstrap flags: checks the flags and the bootstrap kubeconfig (no
/// discovery: that would connect) and says where the certificate would be kept.
fn dry_run(
    bootstrap: &BootstrapArgs,
    cluster_args: &crate::args::ClusterArgs,
    node: &NodeArgs,
    agent: &AgentArgs,
    env: &LookupEnv,
    name: &str,
    cert_dir: &Path,
) -> Result<(), Failure> {
    if bootstrap.bootstrap_kubeconfig.is_some() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(|e| Failure::Usage(format!("cannot start the async runtime: {e}")))?;
        let target = runtime.block_on(bootstrap_cluster(bootstrap, cluster_args, env))?;
        let resolved = with_token(&target);
        let ip = board::internal_ip(Some(&resolved.cluster.server));
        AgentSetup::new(&resolved, node, agent, ip)?;
    }
    info!(
        node = name,
        cert_dir = %cert_dir.display(),
        "configuration checked: TLS bootstrap would keep the certificate for {name} in {}",
        cert_dir.display()
    );
    Ok(())
}

/// A watch that turns true at SIGINT/SIGTERM, for every phase (agent, CSR waits) alike.
fn shutdown_watch() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    std::thread::spawn(move || {
        if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            rt.block_on(crate::fleet::shutdown_signal());
            let _ = tx.send(true);
        }
    });
    rx
}
