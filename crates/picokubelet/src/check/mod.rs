//! `picokubelet check`: a preflight against a live cluster that changes nothing. It takes the
//! flags `run` takes and asks, one check per line, what `run` would need: the kubeconfig, the
//! server, the certificate chain as the board's verifier sees it, the clock, who the
//! credentials are, every permission the agent uses, the node name against a node identity, a
//! server-side dry run of the registration (the agent's own body) and the Lease namespace.
//! Exit status 1 when anything fails.
//!
//! - [`ask`]: the questions (SelfSubjectReview, SelfSubjectAccessReview, dry-run creates).
//! - [`wire`]: the session (TCP, the core's TLS verifier, the core's client).
//! - [`session`]: what every check does first (server, chain, clock) and its questions.
//! - [`bootstrap`]: the checks with `run`'s TLS bootstrap flags.
//! - [`identity`]: the node-name rule `run` shares.
//! - [`needs`]: the permissions and the RBAC that grants each.
//! - [`advice`], [`report`]: what to do about a refused handshake; the printed report.
//! - [`whoami`]: `run`'s question at start.

pub mod advice;
pub mod ask;
pub mod bootstrap;
pub mod identity;
pub mod needs;
pub mod report;
pub mod session;
pub mod whoami;
pub mod wire;

use embedded_io_async::{Read, Write};
use picokubelet_core::client::ApiClient;
use picokubelet_core::k8s::event::{EventType, NodeEvent};
use picokubelet_core::k8s::lease::DEFAULT_LEASE_DURATION_SECONDS;
use picokubelet_core::k8s::paths::ApiPath;
use picokubelet_core::k8s::render::{fresh_conditions, render, sample, BodyInput, BodyKind};
use picokubelet_core::runtime::Clock;

use crate::agent_setup::AgentSetup;
use crate::board;
use crate::cli::{RunArgs, SAMPLE_NODE_UID};
use crate::failure::Failure;
use crate::kubeconfig::{locate, Kubeconfig, LookupEnv, ResolveOptions, ResolvedConfig};
use ask::Identity;
use identity::{choose_node_name, NodeNameChoice};
use report::Report;
use session::{clock, transport, Broken};
use wire::now_micros;

/// Runs every check with `run`'s flags, prints the report; `Failure::Checks` when any failed.
pub fn execute(args: &RunArgs, env: &LookupEnv) -> Result<(), Failure> {
    let mut report = Report::default();
    run_checks(args, env, &mut report)?;
    print!("{report}");
    match report.failures() {
        0 => Ok(()),
        n => Err(Failure::Checks(n)),
    }
}

fn load(
    args: &RunArgs,
    env: &LookupEnv,
) -> Result<ResolvedConfig, crate::kubeconfig::KubeconfigError> {
    let located = locate(args.cluster.kubeconfig.as_deref(), env)?;
    let config = Kubeconfig::load(&located)?;
    config.resolve(&ResolveOptions {
        context: args.cluster.context.clone(),
        insecure_skip_tls_verify: args.cluster.insecure_skip_tls_verify,
        ..Default::default()
    })
}

fn run_checks(args: &RunArgs, env: &LookupEnv, report: &mut Report) -> Result<(), Failure> {
    if args.bootstrap.is_active() {
        return bootstrap::run_checks(args, env, report);
    }
    let resolved = match load(args, env) {
        Ok(r) => r,
        Err(e) => {
            report.fail(
                format!("kubeconfig: {e}"),
                "see deploy/README.md (The kubeconfig) for what picokubelet reads",
            );
            return Ok(());
        }
    };
    report.pass(format!(
        "kubeconfig: context {}, user {}, server {}",
        resolved.selection.context, resolved.selection.user, resolved.cluster.server
    ));
    let fixes = session::SetupFixes {
        config: "fix the kubeconfig or the flags it names",
        insecure: "give the cluster CA as certificate-authority(-data): anyone on the path can read the token",
    };
    let Some(setup) = session::agent_setup(&resolved, args, &fixes, report) else {
        return Ok(());
    };
    session::runtime()?.block_on(session::probe(&setup, &AgentQuestions(args), report));
    Ok(())
}

/// Everything `run` needs with these credentials.
struct AgentQuestions<'a>(&'a RunArgs);

impl session::Questions for AgentQuestions<'_> {
    fn ca(&self) -> &'static str {
        "the kubeconfig's"
    }

    async fn ask<S: Read + Write, C: Clock>(
        &self,
        client: &mut ApiClient<'_, S, C>,
        setup: &AgentSetup,
        report: &mut Report,
    ) -> Result<(), Broken> {
        ask_all(client, setup, self.0, report).await
    }
}

async fn ask_all<S: Read + Write, C: Clock>(
    client: &mut ApiClient<'_, S, C>,
    setup: &AgentSetup,
    args: &RunArgs,
    report: &mut Report,
) -> Result<(), Broken> {
    clock(client, report).await?;

    // Who the credentials are.
    let who = ask::who_am_i(client)
        .await
        .map_err(|e| transport(report, "SelfSubjectReview", e))?;
    let identity = match who.reply.status {
        200 | 201 => {
            let id = who.value;
            report.pass(format!(
                "credentials: {} (groups {})",
                id.username,
                id.groups.join(", ")
            ));
            Some(id)
        }
        401 => {
            report.fail(
                "credentials: the server rejected them (401 Unauthorized)",
                "the token is unknown, expired or revoked: mint a new one (deploy/README.md, Which identity)",
            );
            return Ok(());
        }
        code => {
            report.fail(
                format!(
                    "credentials: SelfSubjectReview answered {code}: {}",
                    who.failure.message.as_str()
                ),
                "the API server must be v1.28 or newer (SelfSubjectReview) and the credentials must authenticate",
            );
            None
        }
    };

    // The node name against a node identity.
    let given = args.node.node_name.as_deref();
    let default = || board::default_node_name(&board::hostname());
    let name = match &identity {
        Some(id) => match choose_node_name(id, given, default) {
            Ok(choice) => {
                let name = choice.name().to_owned();
                match choice {
                    NodeNameChoice::FromIdentity(_) => report.pass(format!(
                        "node name {name}: taken from the node identity (run does the same without --node-name)"
                    )),
                    NodeNameChoice::Matches(_) => {
                        report.pass(format!("node name {name}: matches the node identity"))
                    }
                    NodeNameChoice::NotANode(_) => report.pass(format!(
                        "node name {name}: the credentials are not a node identity, so RBAC alone decides (NodeRestriction does not confine them)"
                    )),
                }
                name
            }
            Err(mismatch) => {
                report.fail(mismatch.why(), mismatch.fix());
                mismatch.given
            }
        },
        None => given.map_or_else(default, str::to_owned),
    };

    // Every permission the agent uses.
    let anyone = Identity::default();
    let who = identity.as_ref().unwrap_or(&anyone);
    for need in needs::needs(&name) {
        let what = needs::describe(&need.attrs);
        let Some(decision) = session::access(client, report, &need.attrs, &what).await? else {
            break;
        };
        if decision.allowed {
            report.pass(format!("may {what} ({})", need.purpose));
        } else {
            let reason = if decision.reason.is_empty() {
                String::new()
            } else {
                format!(": {}", decision.reason)
            };
            report.fail(
                format!("may not {what} (needed to {}){reason}", need.purpose),
                needs::fix(need.grant, who),
            );
        }
    }

    // The registration, as the agent would send it, checked by the server and not stored.
    let labels = setup.node.label_pairs();
    let config = match setup.config(&name, &labels) {
        Ok(c) => c,
        Err(e) => {
            report.fail(format!("node configuration: {e}"), "fix the flags");
            return Ok(());
        }
    };
    let now = now_micros();
    let conditions = fresh_conditions(&sample::SIGNALS, now);
    let mut input = BodyInput {
        profile: config.profile,
        conditions: &conditions,
        heap_bytes_free: Some(u64::from(sample::SIGNALS.heap_free_bytes)),
        now,
        node_uid: SAMPLE_NODE_UID,
        lease_duration_secs: DEFAULT_LEASE_DURATION_SECONDS,
        event: NodeEvent {
            kind: EventType::Normal,
            reason: "NodeReady",
            message: "",
        },
    };
    let mut body = vec![0u8; BodyKind::Node.max_len()];
    let len = match render(BodyKind::Node, &input, &mut body) {
        Ok(n) => n,
        Err(e) => {
            report.fail(format!("registration body: {e}"), "fix the flags (labels)");
            return Ok(());
        }
    };
    let node = ask::dry_run_create(client, ApiPath::NodesDryRun, &body[..len])
        .await
        .map_err(|e| transport(report, "registration dry run", e))?;
    let message = node.failure.message.as_str().to_owned();
    let node_uid = match node.reply.status {
        200 | 201 => {
            report.pass(format!(
                "registration of Node {name}: accepted by a server-side dry run (nothing was stored)"
            ));
            Some(node.value)
        }
        409 => {
            report.pass(format!(
                "registration of Node {name}: it exists already; run adopts it"
            ));
            None
        }
        403 if message.contains("is not allowed to modify node") => {
            report.fail(
                format!("registration of Node {name} refused: {message}"),
                "the credentials may register only the Node of their own identity: see the node name line",
            );
            None
        }
        403 if message.contains("labels") => {
            report.fail(
                format!("registration of Node {name} refused: {message}"),
                "drop that --label: NodeRestriction keeps kubernetes.io and k8s.io labels for itself",
            );
            None
        }
        code => {
            report.fail(
                format!("registration of Node {name}: the dry run got {code}: {message}"),
                "the permission lines above say which binding is missing",
            );
            None
        }
    };

    // The Lease namespace: a dry-run create of the Lease (a node may not read namespaces).
    let uid = node_uid.unwrap_or_default();
    if !uid.is_empty() {
        input.node_uid = &uid;
    }
    let mut body = vec![0u8; BodyKind::Lease.max_len()];
    let len = match render(BodyKind::Lease, &input, &mut body) {
        Ok(n) => n,
        Err(e) => {
            report.fail(format!("Lease body: {e}"), "report this as a bug");
            return Ok(());
        }
    };
    let lease = ask::dry_run_create(client, ApiPath::LeasesDryRun, &body[..len])
        .await
        .map_err(|e| transport(report, "Lease dry run", e))?;
    let message = lease.failure.message.as_str();
    match lease.reply.status {
        200 | 201 | 409 => report.pass(format!(
            "namespace kube-node-lease exists (a dry-run create of Lease {name} got {})",
            lease.reply.status
        )),
        404 => report.fail(
            format!("namespace kube-node-lease: {message}"),
            "kubectl create namespace kube-node-lease (every cluster since v1.14 has it)",
        ),
        code => report.fail(
            format!("Lease {name}: the dry-run create got {code}: {message}"),
            "the permission lines above say which binding is missing",
        ),
    }
    Ok(())
}
