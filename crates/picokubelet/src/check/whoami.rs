//! `run` and `fleet` at start: ask the server who the credentials are (SelfSubjectReview) and
//! settle the node name by [`choose_node_name`] before any board starts, so a name the
//! credentials may not use is refused with the name to use instead of an endless 403.

use picokubelet_core::client::ApiClient;
use tracing::{info, warn};

use super::advice::tls_fix;
use super::ask::{who_am_i, Identity};
use super::identity::{choose_node_name, NodeNameChoice};
use super::wire::now_micros;
use super::wire::{self, Wire, WireError, STEP_TIMEOUT};
use crate::agent_setup::AgentSetup;
use crate::failure::Failure;

/// Who the credentials are; `Err` says why the question got no answer (and what to do).
pub async fn ask_identity(setup: &AgentSetup) -> Result<Identity, String> {
    let socket = wire::connect(&setup.server)
        .await
        .map_err(|e| format!("cannot reach {}: {e:?}", setup.server))?;
    let mut wire = Wire::default();
    let session = wire::handshake(
        socket,
        &mut wire.tls,
        setup.trust(),
        setup.client_identity(),
        setup.server_name(),
        now_micros(),
    )
    .await
    .map_err(|e| match e {
        WireError::Tls(e) => format!(
            "{e}; {}",
            e.advice()
                .unwrap_or_else(|| tls_fix(e.rejection()))
                .replace('\n', " ")
        ),
        e => format!("{e:?}"),
    })?;
    let mut client = ApiClient::new(
        session,
        &wire.clock,
        setup.endpoint(),
        &mut wire.http,
        &wire.metrics,
        STEP_TIMEOUT,
    );
    let answer = who_am_i(&mut client)
        .await
        .map_err(|e| format!("the request failed ({e:?})"))?;
    match answer.reply.status {
        200 | 201 => Ok(answer.value),
        401 => Err(
            "the server rejected the credentials (401 Unauthorized): the token is \
                    unknown, expired or revoked; `picokubelet check` says more"
                .to_owned(),
        ),
        code => Err(format!(
            "SelfSubjectReview answered {code} ({}); servers before v1.28 do not serve it",
            answer.failure.message.as_str()
        )),
    }
}

/// The boards' names once the server said who the credentials are. `names` are the names
/// from the flags (`given` is `--node-name`); `fleet` runs many boards on one identity.
pub fn settle_names(
    setup: &AgentSetup,
    given: Option<&str>,
    names: Vec<String>,
    fleet: bool,
) -> Result<Vec<String>, Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Usage(format!("cannot start the async runtime: {e}")))?;
    let identity = match runtime.block_on(ask_identity(setup)) {
        Ok(id) => id,
        Err(why) => {
            warn!(
                server = %setup.server,
                "could not ask the server who the credentials are: {why}; going on with the node name from the flags"
            );
            return Ok(names);
        }
    };
    info!(
        user = %identity.username,
        groups = ?identity.groups,
        "the server says the credentials are {}",
        identity.username
    );
    if fleet {
        return match identity.node_name() {
            Some(own) => Err(Failure::Usage(format!(
                "a fleet's boards share one kubeconfig, but its credentials are the node \
                 identity system:node:{own}, which may act only for Node {own:?}: use a User or \
                 ServiceAccount bound by deploy/rbac.yaml (deploy/README.md, A virtual fleet), \
                 or `picokubelet run` for the one board {own:?}"
            ))),
            None => Ok(names),
        };
    }
    let fallback = names.first().cloned().unwrap_or_default();
    match choose_node_name(&identity, given, || fallback) {
        Ok(NodeNameChoice::FromIdentity(name)) => {
            info!(node = %name, "node name {name:?}: taken from the credentials' node identity");
            Ok(vec![name])
        }
        Ok(choice) => Ok(vec![choice.name().to_owned()]),
        Err(mismatch) => Err(Failure::Usage(format!(
            "{}.\n{}",
            mismatch.why(),
            mismatch.fix()
        ))),
    }
}
