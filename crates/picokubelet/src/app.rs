//! What each subcommand does with its checked flags.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use picokubelet_core::k8s::event::{EventType, NodeEvent};
use picokubelet_core::k8s::lease::DEFAULT_LEASE_DURATION_SECONDS;
use picokubelet_core::k8s::name::NodeName;
use picokubelet_core::k8s::node_ids::NodeIds;
use picokubelet_core::k8s::render::{fresh_conditions, BodyInput};
use picokubelet_core::time::UnixMicros;
use tracing::{info, warn};

use crate::agent_setup::AgentSetup;
use crate::args::{AgentArgs, ClusterArgs, NodeArgs};
use crate::board::{self, InternalIp};
use crate::cli::{FleetArgs, RenderArgs};
use crate::failure::Failure;
use crate::fleet;
use crate::kubeconfig::{
    locate, ClusterConfig, InsecureSource, Kubeconfig, LookupEnv, Origin, ResolveOptions,
    ResolvedConfig, ServerTrust, ServerUrl,
};
use crate::render::{node_ready_message, render_body};
use crate::telemetry::PerBoard;

/// `--node-name`, else `vb-<hostname>`.
pub(crate) fn base_node_name(node: &NodeArgs) -> String {
    node.node_name
        .clone()
        .unwrap_or_else(|| board::default_node_name(&board::hostname()))
}

fn now_micros() -> UnixMicros {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    UnixMicros(u64::try_from(since.as_micros()).unwrap_or(u64::MAX))
}

/// Prints the loud warning for an unverified server; says how the server is checked otherwise.
fn announce_trust(cluster: &ClusterConfig) {
    match &cluster.trust {
        ServerTrust::InsecureSkipVerify(source) => {
            let why = match source {
                InsecureSource::Flag => "--insecure-skip-tls-verify",
                InsecureSource::Kubeconfig => "the kubeconfig sets insecure-skip-tls-verify: true",
            };
            insecure_banner(why, Some(&cluster.server));
        }
        ServerTrust::Ca { source, .. } => {
            let name = cluster
                .verify_name()
                .map_or_else(|| cluster.server.host.to_string(), str::to_owned);
            info!(ca = ?source, name, "the server certificate is verified against the CA")
        }
    }
}

pub(crate) fn insecure_banner(why: &str, server: Option<&ServerUrl>) {
    let server = server.map_or("the API server".to_owned(), |s| s.to_string());
    eprintln!(
        "\n\
         !!! WARNING: TLS SERVER VERIFICATION IS OFF ({why}).\n\
         !!! The certificate of {server} is NOT checked: anyone on the network path can\n\
         !!! impersonate it and read this node's token. Use this for tests only.\n"
    );
    warn!(reason = why, "TLS server verification is off");
}

fn report_located(located: &crate::kubeconfig::Located) {
    for skipped in &located.skipped {
        warn!(path = %skipped.display(), "KUBECONFIG names a file that does not exist; skipped");
    }
    let files: Vec<String> = located
        .files
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    match (located.origin, files.len()) {
        (Origin::Env, n) if n > 1 => {
            info!(files = ?files, "KUBECONFIG: merging {n} files, the first to set a value wins")
        }
        (origin, _) => info!(files = ?files, ?origin, "kubeconfig"),
    }
}

fn report_internal_ip(ip: InternalIp) {
    match ip {
        InternalIp::Routed(a) => {
            info!(internal_ip = %a, "InternalIP: the address routing to the server")
        }
        InternalIp::Loopback => info!("InternalIP: 127.0.0.1 (no kubeconfig given)"),
        InternalIp::Ipv6Only(a) => warn!(
            local = %a,
            "the server is reachable over IPv6 only; the Node reports IPv4 InternalIPs only, so none is sent"
        ),
        InternalIp::Unknown => {
            warn!("no route to the server (or its name did not resolve): no InternalIP is sent")
        }
    }
}

pub(crate) fn render_command(args: &RenderArgs, env: &LookupEnv) -> Result<(), Failure> {
    if args.cluster.insecure_skip_tls_verify {
        insecure_banner("--insecure-skip-tls-verify", None);
    }
    let name = base_node_name(&args.node);
    // A kubeconfig only when one is named (flag or KUBECONFIG): render must work anywhere.
    let named =
        args.cluster.kubeconfig.is_some() || env.kubeconfig.as_ref().is_some_and(|v| !v.is_empty());
    let server = if named {
        let located = locate(args.cluster.kubeconfig.as_deref(), env)?;
        report_located(&located);
        let config = Kubeconfig::load(&located)?;
        let selection = config.select(args.cluster.context.as_deref())?;
        let cluster = config.cluster(&selection, args.cluster.insecure_skip_tls_verify)?;
        if cluster.trust != ServerTrust::InsecureSkipVerify(InsecureSource::Flag) {
            announce_trust(&cluster);
        }
        if let Err(e) = config.credentials(&selection) {
            warn!("`run` would refuse this kubeconfig: {e}");
        }
        Some(cluster.server)
    } else {
        None
    };
    let ip = board::internal_ip(server.as_ref());
    report_internal_ip(ip);
    let node_name =
        NodeName::new(&name).map_err(|e| Failure::Usage(format!("node name {name:?}: {e}")))?;
    let ids = NodeIds::new(
        board::mac_from_name(&name),
        args.boot_random.unwrap_or_else(board::boot_random),
    );
    let labels = args.node.label_pairs();
    let signals = args.signals.signals();
    let now = args.now.unwrap_or_else(now_micros);
    let conditions = fresh_conditions(&signals, now);
    let message = node_ready_message(&name);
    let input = BodyInput {
        profile: args
            .node
            .node_profile(node_name, ids, ip.address(), &labels),
        conditions: &conditions,
        heap_bytes_free: Some(u64::from(signals.heap_free_bytes)),
        now,
        node_uid: &args.node_uid,
        lease_duration_secs: DEFAULT_LEASE_DURATION_SECONDS,
        event: NodeEvent {
            kind: EventType::Normal,
            reason: "NodeReady",
            message: &message,
        },
    };
    let kind = args.body.0;
    let body = render_body(kind, &input).map_err(Failure::Body)?;
    let mut out = std::io::stdout().lock();
    out.write_all(&body)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush())
        .map_err(Failure::Output)?;
    eprintln!(
        "{}: {} bytes (buffer {} bytes)",
        kind.name(),
        body.len(),
        kind.max_len()
    );
    Ok(())
}

pub(crate) fn agent_command(
    cluster: &ClusterArgs,
    node: &NodeArgs,
    agent: &AgentArgs,
    fleet: Option<&FleetArgs>,
    env: &LookupEnv,
) -> Result<(), Failure> {
    boards_until(
        cluster,
        node,
        agent,
        fleet,
        env,
        fleet::shutdown_signal(),
        None,
    )
}

/// `run` (no `fleet`) or `fleet`, until `stop` completes. `server`: the fault hooks of an API
/// server this process embeds (`demo`), for the terminal view's server keys.
pub(crate) fn boards_until(
    cluster: &ClusterArgs,
    node: &NodeArgs,
    agent: &AgentArgs,
    fleet: Option<&FleetArgs>,
    env: &LookupEnv,
    stop: impl std::future::Future<Output = ()>,
    server: Option<Box<dyn crate::ui::ServerFaults>>,
) -> Result<(), Failure> {
    if cluster.insecure_skip_tls_verify {
        insecure_banner("--insecure-skip-tls-verify", None);
    }
    let located = locate(cluster.kubeconfig.as_deref(), env)?;
    report_located(&located);
    let config = Kubeconfig::load(&located)?;
    let resolved = config.resolve(&ResolveOptions {
        context: cluster.context.clone(),
        insecure_skip_tls_verify: cluster.insecure_skip_tls_verify,
        ..Default::default()
    })?;
    boards_resolved(&resolved, node, agent, fleet, stop, server, None)
}

/// [`boards_until`] with the cluster and credentials already worked out (from a kubeconfig, or
/// by the kubelet TLS bootstrap: `crate::bootstrap`). `bootstrap`: a fleet whose boards each
/// bootstrap their own certificate (then `resolved` carries no credentials).
pub(crate) fn boards_resolved(
    resolved: &ResolvedConfig,
    node: &NodeArgs,
    agent: &AgentArgs,
    fleet: Option<&FleetArgs>,
    stop: impl std::future::Future<Output = ()>,
    server: Option<Box<dyn crate::ui::ServerFaults>>,
    bootstrap: Option<Arc<crate::bootstrap::fleet::FleetBootstrap>>,
) -> Result<(), Failure> {
    let base = base_node_name(node);
    let names = match fleet {
        Some(f) => f
            .scale
            .shard(board::hostname)
            .and_then(|shard| shard.names(&base, f.count))
            .map_err(Failure::Usage)?,
        None => vec![base],
    };
    if resolved.cluster.trust != ServerTrust::InsecureSkipVerify(InsecureSource::Flag) {
        announce_trust(&resolved.cluster);
    }
    info!(
        context = %resolved.selection.context,
        cluster = %resolved.selection.cluster,
        user = %resolved.selection.user,
        server = %resolved.cluster.server,
        token = ?resolved.credentials.source,
        client_certificate = ?resolved.credentials.client_certificate.as_ref().map(|c| &c.certificate_source),
        "kubeconfig resolved"
    );
    let ip = board::internal_ip(Some(&resolved.cluster.server));
    report_internal_ip(ip);
    let setup = AgentSetup::new(resolved, node, agent, ip)?;
    if setup.is_insecure() {
        insecure_banner("insecure-skip-tls-verify", Some(&resolved.cluster.server));
    }
    let labels = node.label_pairs();
    for name in &names {
        setup.config(name, &labels)?;
    }
    info!(
        boards = names.len(),
        first = %names.first().map_or("", String::as_str),
        profile = ?node.profile,
        lease_renew_interval = %humantime::format_duration(agent.lease_renew_interval),
        status_interval = %humantime::format_duration(agent.status_interval),
        metrics_addr = ?agent.metrics_addr,
        "configuration checked"
    );
    if agent.dry_run {
        return Ok(());
    }
    // Each bootstrapped board is system:node:<its name> by construction: nothing to ask.
    let names = match bootstrap {
        Some(_) => names,
        None => crate::check::whoami::settle_names(
            &setup,
            node.node_name.as_deref(),
            names,
            fleet.is_some(),
        )?,
    };
    for name in &names {
        setup.config(name, &labels)?;
    }
    let available = std::thread::available_parallelism().map_or(1, usize::from);
    let plan = match fleet {
        Some(f) => fleet::Plan {
            names,
            threads: f.threads.map_or(available, |t| t as usize),
            start_spread: f.start_spread,
            quiet: true,
            summary_every: Some(FLEET_SUMMARY_EVERY),
            metrics_addr: agent.metrics_addr,
            per_board: f.scale.per_board(),
            max_handshakes: f.scale.max_handshakes(available),
            timer_tick: f.scale.timer_tick,
            lease_duration: setup.lease_duration(),
            bootstrap,
        },
        None => fleet::Plan {
            names,
            threads: 1,
            start_spread: Duration::ZERO,
            quiet: false,
            summary_every: None,
            metrics_addr: agent.metrics_addr,
            per_board: PerBoard::All,
            max_handshakes: 1,
            timer_tick: Duration::ZERO,
            lease_duration: setup.lease_duration(),
            bootstrap: None,
        },
    };
    if fleet.is_some() {
        check_open_files(&plan, server.is_some())?;
    }
    if agent.ui {
        return crate::ui::run(Arc::new(setup), plan, stop, server);
    }
    fleet::run_until(Arc::new(setup), plan, stop)
}

/// Refuses a fleet whose boards could not all hold a socket (see [`crate::open_files`]).
/// `with_server`: `demo`'s API server runs in this process, a socket per board on its side too.
fn check_open_files(plan: &fleet::Plan, with_server: bool) -> Result<(), Failure> {
    let boards = plan.names.len() as u64;
    let threads = plan.threads.clamp(1, plan.names.len().max(1)) as u64;
    let mut budget = crate::open_files::Budget::fleet(boards, threads, plan.max_handshakes as u64);
    if with_server {
        budget.boards = budget.boards.saturating_mul(2);
    }
    let who = format!("this fleet of {boards} boards");
    crate::open_files::check(&who, budget, crate::open_files::limits()).map_err(Failure::Usage)
}

/// How often `fleet` logs its summary line.
const FLEET_SUMMARY_EVERY: Duration = Duration::from_secs(60);

/// `fleet --bootstrap-kubeconfig` (or the discovery flags): every board bootstraps its own
/// certificate; see the module notes.
pub(crate) fn fleet_bootstrap_command(args: &FleetArgs, env: &LookupEnv) -> Result<(), Failure> {
    let base = base_node_name(&args.node);
    let root = match &args.bootstrap.cert_dir {
        Some(dir) => dir.clone(),
        None => crate::bootstrap::default_cert_dir(&base).map_err(Failure::Usage)?,
    };
    if args.agent.dry_run && args.bootstrap.bootstrap_kubeconfig.is_none() {
        info!(
            cert_dir = %root.display(),
            "configuration checked: discovery is not tried in a dry run (it would connect); \
             each board would keep its certificate in {}/<node-name>",
            root.display()
        );
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Usage(format!("cannot start the async runtime: {e}")))?;
    let target = runtime.block_on(crate::bootstrap::bootstrap_cluster(
        &args.bootstrap,
        &args.cluster,
        env,
    ))?;
    drop(runtime);
    info!(
        cert_dir = %root.display(),
        "TLS bootstrap for every board: each asks for its own certificate (system:node:<name>) \
         and keeps it in {}/<node-name>",
        root.display()
    );
    let fleet = Arc::new(crate::bootstrap::fleet::FleetBootstrap::new(
        target,
        &args.node,
        &args.agent,
        root,
        args.bootstrap.certificate_lifetime,
    ));
    let resolved = fleet.shared_credentials();
    boards_resolved(
        &resolved,
        &args.node,
        &args.agent,
        Some(args),
        crate::fleet::shutdown_signal(),
        None,
        Some(fleet),
    )
}
