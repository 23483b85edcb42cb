//! The session every `check` shares: connect, the TLS handshake with the board's verifier (the
//! chain, the names, the clock), then the questions of one kind of check ([`Questions`]: `run`'s
//! credentials, or TLS bootstrap's token), and the clock skew from the server's `Date`.

use embedded_io_async::{Read, Write};
use picokubelet_core::client::{no_body, ApiClient, ApiRequest, ClientError};
use picokubelet_core::k8s::paths::ApiPath;
use picokubelet_core::k8s::response::VersionResponse;
use picokubelet_core::runtime::Clock;

use super::advice;
use super::ask::{self, Attributes, Decision};
use super::report::Report;
use super::wire::{self, now_micros, Wire, WireError, STEP_TIMEOUT};
use crate::agent_setup::AgentSetup;
use crate::board;
use crate::cli::RunArgs;
use crate::failure::Failure;
use crate::kubeconfig::ResolvedConfig;

/// Clock skew beyond which `check` fails: the board anchors its clock to the server's `Date`,
/// but a host clock this far off makes certificate validity checks before the anchor wrong.
const MAX_SKEW_SECS: i64 = 60;

/// What one kind of check asks once the session is up.
pub trait Questions {
    /// Whose CA the chain was verified against, for the TLS line.
    fn ca(&self) -> &'static str;

    /// Asks, one report line per answer.
    #[allow(async_fn_in_trait)] // used in this crate only, never as `dyn`
    async fn ask<S: Read + Write, C: Clock>(
        &self,
        client: &mut ApiClient<'_, S, C>,
        setup: &AgentSetup,
        report: &mut Report,
    ) -> Result<(), Broken>;
}

/// What to do when the agent's setup fails, for each kind of check.
pub struct SetupFixes {
    /// The board's configuration cannot be built from the credentials' file and the flags.
    pub config: &'static str,
    /// The server is not verified (insecure-skip-tls-verify).
    pub insecure: &'static str,
}

/// The agent's setup from `resolved` and `args`, as `run` builds it: `None` (the line written)
/// when it cannot be built; a ✗ line, and the setup, when the server is not verified.
pub fn agent_setup(
    resolved: &ResolvedConfig,
    args: &RunArgs,
    fixes: &SetupFixes,
    report: &mut Report,
) -> Option<AgentSetup> {
    let ip = board::internal_ip(Some(&resolved.cluster.server));
    let setup = match AgentSetup::new(resolved, &args.node, &args.agent, ip) {
        Ok(s) => s,
        Err(e) => {
            report.fail(format!("board configuration: {e}"), fixes.config);
            return None;
        }
    };
    if setup.is_insecure() {
        report.fail(
            "TLS: server verification is off (insecure-skip-tls-verify)",
            fixes.insecure,
        );
    }
    Some(setup)
}

/// The runtime every check's session runs on.
pub fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Usage(format!("cannot start the async runtime: {e}")))
}

/// Connects, checks the server, its chain and the TLS identity, then asks `questions`.
pub async fn probe<Q: Questions>(setup: &AgentSetup, questions: &Q, report: &mut Report) {
    let server = &setup.server;
    let socket = match wire::connect(server).await {
        Ok(s) => s,
        Err(e) => {
            let what = match e {
                WireError::Connect(e) => e.to_string(),
                WireError::Timeout(step) => format!("{step} took longer than {STEP_TIMEOUT:?}"),
                WireError::Tls(e) => e.to_string(),
            };
            report.fail(
                format!("server {server} unreachable: {what}"),
                "is the address right and reachable from here (firewall, port 6443)?",
            );
            return;
        }
    };
    report.pass(format!("server {server} reachable"));
    let mut wire = Wire::default();
    let wall = now_micros();
    let server_name = setup.server_name();
    let session = match wire::handshake(
        socket,
        &mut wire.tls,
        setup.trust(),
        setup.client_identity(),
        server_name,
        wall,
    )
    .await
    {
        Ok(s) => s,
        Err(WireError::Tls(e)) => {
            let fix = e.advice().unwrap_or_else(|| advice::tls_fix(e.rejection()));
            report.fail(e.to_string(), fix);
            return;
        }
        Err(e) => {
            report.fail(format!("TLS: {e:?}"), "is this a kube-apiserver?");
            return;
        }
    };
    if !setup.is_insecure() {
        report.pass(format!(
            "TLS: the server's certificate chain verifies with the board's verifier ({} CA, name {server_name}, this machine's clock)",
            questions.ca()
        ));
    }
    let mut client = ApiClient::new(
        session,
        &wire.clock,
        setup.endpoint(),
        &mut wire.http,
        &wire.metrics,
        STEP_TIMEOUT,
    );
    if questions.ask(&mut client, setup, report).await.is_err() {
        report.fail(
            "the session to the server broke off; later checks were not run",
            "run check again; if it repeats, something between here and the server cuts connections",
        );
    }
}

/// A request failed below HTTP (the line is written): stop asking.
pub struct Broken;

pub fn transport(report: &mut Report, what: &str, e: ClientError) -> Broken {
    report.fail(
        format!("{what}: the request failed ({e:?})"),
        "run check again; a timeout or reset here also hits `run`",
    );
    Broken
}

/// Whether the credentials may do `what` (a SelfSubjectAccessReview of `attrs`): the server's
/// decision, or `None` when it answered none (reported as a failure; the caller stops asking).
pub async fn access<S: Read + Write, C: Clock>(
    client: &mut ApiClient<'_, S, C>,
    report: &mut Report,
    attrs: &Attributes<'_>,
    what: &str,
) -> Result<Option<Decision>, Broken> {
    let answer = ask::may_i(client, attrs)
        .await
        .map_err(|e| transport(report, "SelfSubjectAccessReview", e))?;
    if !matches!(answer.reply.status, 200 | 201) {
        report.fail(
            format!(
                "may {what}? SelfSubjectAccessReview answered {}: {}",
                answer.reply.status,
                answer.failure.message.as_str()
            ),
            "the API server must serve authorization.k8s.io/v1 SelfSubjectAccessReview",
        );
        return Ok(None);
    }
    Ok(Some(answer.value))
}

/// Clock skew from the server's Date.
pub async fn clock<S: Read + Write, C: Clock>(
    client: &mut ApiClient<'_, S, C>,
    report: &mut Report,
) -> Result<(), Broken> {
    let mut version = VersionResponse::default();
    let reply = client
        .exchange(&ApiRequest::get(ApiPath::Version), no_body, &mut version)
        .await
        .map_err(|e| transport(report, "GET /version", e))?;
    match reply.date {
        Some(date) => {
            let skew = (i128::from(now_micros().0) - i128::from(date.0)) / 1_000_000;
            let skew = i64::try_from(skew).unwrap_or(i64::MAX);
            if skew.abs() <= MAX_SKEW_SECS {
                report.pass(format!(
                    "clock: {skew:+} s from the Date of the server (Kubernetes {})",
                    version.git_version.as_str()
                ));
            } else {
                report.fail(
                    format!("clock: {skew:+} s from the server's Date"),
                    "set this machine's clock (NTP): certificate validity is checked against it before the agent anchors to the server",
                );
            }
        }
        None => report.fail(
            "clock: the server's /version answer has no Date header",
            "the agent anchors its clock to Date: is this a kube-apiserver?",
        ),
    }
    Ok(())
}
