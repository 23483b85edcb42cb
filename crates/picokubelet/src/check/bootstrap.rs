//! `check` with `run`'s TLS bootstrap flags: what the bootstrap needs from the cluster, asked
//! with the bootstrap token and changing nothing (no certificate request is sent).
//!
//! - where the cluster is: the bootstrap kubeconfig, or discovery (cluster-info, its JWS for
//!   the token, its CA against `--discovery-token-ca-cert-hash`);
//! - the server, its chain and the clock, as for `run`;
//! - the token (SelfSubjectReview: `system:bootstrap:<id>` in `system:bootstrappers`);
//! - the permissions: create and get certificatesigningrequests (`system:node-bootstrapper`),
//!   and create `certificatesigningrequests/nodeclient`, which is what kube-controller-manager's
//!   approver asks before it approves a node's first request automatically.

use embedded_io_async::{Read, Write};
use picokubelet_core::client::ApiClient;
use picokubelet_core::k8s::name::NodeName;
use picokubelet_core::runtime::Clock;
use picokubelet_core::tls::jws::BootstrapToken;

use super::ask::{self, Attributes};
use super::report::Report;
use super::session::{self, clock, probe, transport, Broken, Questions};
use crate::agent_setup::AgentSetup;
use crate::board;
use crate::bootstrap::{bootstrap_cluster, with_token};
use crate::cli::RunArgs;
use crate::failure::Failure;
use crate::kubeconfig::LookupEnv;

/// The fix for a missing bootstrap binding.
const APPLY_BOOTSTRAP_RBAC: &str = "kubectl apply -f deploy/bootstrap-rbac.yaml (it binds \
     system:node-bootstrapper and the auto-approval ClusterRoles to system:bootstrappers; kubeadm \
     clusters have kubeadm's own bindings for its token group)";

/// The checks with the bootstrap flags of `args`.
pub fn run_checks(args: &RunArgs, env: &LookupEnv, report: &mut Report) -> Result<(), Failure> {
    let bootstrap = &args.bootstrap;
    let runtime = session::runtime()?;
    let target = match runtime.block_on(bootstrap_cluster(bootstrap, &args.cluster, env)) {
        Ok(t) => t,
        Err(e) => {
            match (&bootstrap.bootstrap_kubeconfig, &bootstrap.server) {
                (Some(path), _) => report.fail(
                    format!("bootstrap kubeconfig {}: {e}", path.display()),
                    "kubeadm writes it as /etc/kubernetes/bootstrap-kubelet.conf: a cluster, its CA and a user with `token: <id>.<secret>`",
                ),
                (None, server) => report.fail(
                    format!(
                        "discovery from {}: {e}",
                        server.as_deref().unwrap_or("--server")
                    ),
                    "`kubeadm token create --print-join-command` on the control plane prints a token and hash that work",
                ),
            }
            return Ok(());
        }
    };
    let resolved = with_token(&target);
    let token_text = resolved
        .credentials
        .bearer_token()
        .map(|t| t.expose().to_owned())
        .unwrap_or_default();
    let token = BootstrapToken::parse(&token_text).ok();
    let token_id = token.as_ref().map(|t| t.id().to_owned());
    match &bootstrap.bootstrap_kubeconfig {
        Some(path) => report.pass(format!(
            "bootstrap kubeconfig {}: server {}, {}",
            path.display(),
            resolved.cluster.server,
            token_id.as_deref().map_or_else(
                || "a token that is not a bootstrap token (ID.SECRET)".to_owned(),
                |id| format!("bootstrap token id {id}")
            )
        )),
        None => report.pass(format!(
            "discovery: cluster-info is signed for token id {} and its CA matches the hash; server {}",
            token_id.as_deref().unwrap_or_default(),
            resolved.cluster.server
        )),
    }
    let name = args
        .node
        .node_name
        .clone()
        .unwrap_or_else(|| board::default_node_name(&board::hostname()));
    if let Err(e) = NodeName::new(&name) {
        report.fail(
            format!("node name {name:?}: {e}"),
            "give --node-name a DNS-1123 name (lower case, digits, '-', '.')",
        );
        return Ok(());
    }
    let fixes = session::SetupFixes {
        config: "fix the bootstrap kubeconfig or the flags",
        insecure: "give the cluster CA in the bootstrap kubeconfig, or use discovery with --discovery-token-ca-cert-hash",
    };
    let Some(setup) = session::agent_setup(&resolved, args, &fixes, report) else {
        return Ok(());
    };
    let questions = BootstrapQuestions {
        token_id: token_id.as_deref(),
        node: &name,
    };
    runtime.block_on(probe(&setup, &questions, report));
    Ok(())
}

/// The CSR permission `subresource` (empty: the resource) with `verb`.
fn csr_attributes<'a>(verb: &'a str, subresource: &'a str) -> Attributes<'a> {
    Attributes {
        verb,
        group: "certificates.k8s.io",
        resource: "certificatesigningrequests",
        subresource,
        namespace: "",
        name: "",
    }
}

/// What TLS bootstrap needs from a bootstrap token (`token_id`: its id, when it has the
/// bootstrap token's shape), for the node `node`.
struct BootstrapQuestions<'a> {
    token_id: Option<&'a str>,
    node: &'a str,
}

impl Questions for BootstrapQuestions<'_> {
    fn ca(&self) -> &'static str {
        "the cluster's"
    }

    async fn ask<S: Read + Write, C: Clock>(
        &self,
        client: &mut ApiClient<'_, S, C>,
        _setup: &AgentSetup,
        report: &mut Report,
    ) -> Result<(), Broken> {
        ask_all(client, self.token_id, self.node, report).await
    }
}

/// The questions over the session with the bootstrap token.
async fn ask_all<S: Read + Write, C: Clock>(
    client: &mut ApiClient<'_, S, C>,
    token_id: Option<&str>,
    node: &str,
    report: &mut Report,
) -> Result<(), Broken> {
    clock(client, report).await?;
    let who = ask::who_am_i(client)
        .await
        .map_err(|e| transport(report, "SelfSubjectReview", e))?;
    match who.reply.status {
        200 | 201 => {
            let id = who.value;
            let want = token_id.map(|t| format!("system:bootstrap:{t}"));
            let bootstrapper = id.groups.iter().any(|g| g == "system:bootstrappers");
            if want.as_deref() == Some(id.username.as_str()) && bootstrapper {
                report.pass(format!(
                    "bootstrap token: the server knows it as {} (groups {})",
                    id.username,
                    id.groups.join(", ")
                ));
            } else {
                report.fail(
                    format!(
                        "bootstrap token: the server knows the token as {} (groups {}), not as a bootstrap token",
                        id.username,
                        id.groups.join(", ")
                    ),
                    "use a bootstrap token (`kubeadm token create`, or a bootstrap-token-<id> Secret in kube-system); a node's own credentials need no bootstrap",
                );
            }
        }
        401 => {
            let secret = token_id.map_or_else(
                || "bootstrap-token-<id>".to_owned(),
                |id| format!("bootstrap-token-{id}"),
            );
            report.fail(
                "bootstrap token: the server rejects it (401 Unauthorized): it is unknown, its secret is wrong, or it has expired (the tokencleaner then deletes it)",
                format!(
                    "make a new one: `kubeadm token create --print-join-command` (`kubeadm token list` shows the live ones; `kubectl -n kube-system get secret {secret} -o jsonpath='{{.data.expiration}}' | base64 -d` its expiry)"
                ),
            );
            return Ok(());
        }
        code => report.fail(
            format!(
                "bootstrap token: SelfSubjectReview answered {code}: {}",
                who.failure.message.as_str()
            ),
            "the API server must be v1.28 or newer (SelfSubjectReview)",
        ),
    }

    // Without auto-approval `run` still joins, once someone approves each node's request (as
    // on k3s): a warning, not a failure. Without the CSR permissions it never can.
    let checks = [
        (
            csr_attributes("create", ""),
            "create certificatesigningrequests (send this node's certificate request)",
            APPLY_BOOTSTRAP_RBAC,
            true,
        ),
        (
            csr_attributes("get", ""),
            "get certificatesigningrequests (read whether it was issued)",
            APPLY_BOOTSTRAP_RBAC,
            true,
        ),
        (
            csr_attributes("create", "nodeclient"),
            "create certificatesigningrequests/nodeclient (kube-controller-manager approves the request automatically)",
            "run waits until someone approves each node's first request: `kubectl get csr`, then `kubectl certificate approve <csr>` (run and fleet print the name); to have them approved automatically: kubectl apply -f deploy/bootstrap-rbac.yaml",
            false,
        ),
    ];
    for (attrs, what, fix, required) in checks {
        let Some(decision) = session::access(client, report, &attrs, what).await? else {
            break;
        };
        if decision.allowed {
            report.pass(format!("may {what}"));
        } else if required {
            report.fail(format!("may not {what}"), fix);
        } else {
            report.warn(format!("may not {what}: run waits for approval"), fix);
        }
    }
    report.pass(format!(
        "node name {node}: the certificate will be for system:node:{node} (O=system:nodes)"
    ));
    Ok(())
}
