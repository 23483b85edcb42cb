//! The registration reconciler: make sure our Node exists and says what the board is.
//!
//! `POST /api/v1/nodes` with the taint and the full status (201: done, the status survives the
//! create). On 409 the Node exists (a reboot, or a re-registration): `GET` it, adopt the
//! `lastTransitionTime` of every condition whose status is unchanged, check our taint (taints are
//! create-only: a missing one can only be reported), merge-patch our labels if they differ, and
//! patch `/status` with addresses and nodeInfo (a fresh bootID) and all conditions.
use embedded_io_async::{Read, Write};

use crate::agent::call::{call, Answer, Ctx, SharedClient};
use crate::agent::exchange::Exchange;
use crate::agent::log::LogEvent;
use crate::agent::outcome::{Outcome, SessionEnd, Setback};
use crate::agent::policy::Action;
use crate::agent::state::AgentEvent;
use crate::agent::timers::Timer;
use crate::bounded::BoundedStr;
use crate::k8s::node::NodeProfile;
use crate::k8s::response::{NodeResponse, ObjectMeta, OwnedLabels, UID_LEN};
use crate::runtime::{Board, Clock};

/// Why an attempt did not register.
enum NotYet {
    Retry(Setback),
    End(SessionEnd),
}

/// Returns once the Node is registered (at once if it is).
pub(crate) async fn ensure_registered<T: Read + Write, C: Clock, B: Board>(
    ctx: &Ctx<'_, C, B>,
    client: &SharedClient<'_, T, C>,
) -> Result<(), SessionEnd> {
    while !ctx.state.registrar().is_registered() {
        ctx.sleep_until(Timer::Register).await;
        match register(ctx, client).await {
            Ok(()) => {}
            Err(NotYet::Retry(setback)) => ctx.retry_later(Timer::Register, setback),
            Err(NotYet::End(end)) => return Err(end),
        }
    }
    Ok(())
}

/// The answer of one step of the registration, or why it stops.
fn step<A>(outcome: Outcome<A>) -> Result<A, NotYet> {
    match outcome {
        Outcome::Done(a) => Ok(a),
        Outcome::End(end) => Err(NotYet::End(end)),
        Outcome::Retry(setback) => Err(NotYet::Retry(setback)),
        // Deleted between our POST and GET: the next attempt creates it.
        Outcome::Reregister => Err(NotYet::Retry(Setback::Refused(Action::Reregister))),
        Outcome::RecreateLease => Err(NotYet::Retry(Setback::Refused(Action::RecreateLease))),
        Outcome::AdoptExisting => Err(NotYet::Retry(Setback::Refused(Action::AdoptExisting))),
    }
}

/// One attempt: create, or adopt the existing Node.
async fn register<T: Read + Write, C: Clock, B: Board>(
    ctx: &Ctx<'_, C, B>,
    client: &SharedClient<'_, T, C>,
) -> Result<(), NotYet> {
    let mut model = ctx.state.model();
    // A Node we create is a new object (after a deletion too): its conditions' history starts
    // now, not on the deleted Node (issue 13 item 5).
    if let Some(wall) = ctx.state.wall_now(ctx.now()) {
        model.restart_history(wall);
        ctx.state.set_model(model);
    }
    let profile = model.profile(ctx.config.profile);
    let mut meta = ObjectMeta::default();
    let exchange = Exchange::RegisterNode {
        profile: &profile,
        heap_free_bytes: ctx.board.snapshot().heap_free_bytes,
    };
    match call(ctx, client, exchange, &mut meta).await {
        Outcome::AdoptExisting => adopt(ctx, client, &profile).await,
        outcome => {
            let answer = step(outcome)?;
            finish(ctx, &profile, answer, &meta.uid, true);
            Ok(())
        }
    }
}

/// The Node exists: read it, adopt, patch what differs.
async fn adopt<T: Read + Write, C: Clock, B: Board>(
    ctx: &Ctx<'_, C, B>,
    client: &SharedClient<'_, T, C>,
    profile: &NodeProfile<'_>,
) -> Result<(), NotYet> {
    let mut node = NodeResponse::default();
    step(call(ctx, client, Exchange::ReadNode, &mut node).await)?;
    let now = ctx.now();
    let wall = ctx
        .state
        .wall_now(now)
        .unwrap_or(crate::time::UnixMicros(0));
    let mut model = ctx.state.model();
    let adopted = model.adopt(&node, wall);
    ctx.state.set_model(model);
    ctx.log.log(&LogEvent::ConditionsAdopted {
        transitions: adopted.transitions,
    });
    if let Some(taint) = profile.taint {
        if !node.has_taint(taint.key, taint.effect) {
            let mut registrar = ctx.state.registrar();
            registrar.record_taint_missing();
            ctx.state.set_registrar(registrar);
            ctx.log.log(&LogEvent::TaintMissing { key: taint.key });
        }
    }
    if labels_differ(profile, &node.labels) {
        let mut meta = ObjectMeta::default();
        let exchange = Exchange::PatchNodeLabels { profile };
        step(call(ctx, client, exchange, &mut meta).await)?;
        ctx.log.log(&LogEvent::LabelsPatched);
    }
    let mut meta = ObjectMeta::default();
    let exchange = Exchange::PatchNodeStatus {
        heap_free_bytes: ctx.board.snapshot().heap_free_bytes,
        details: Some(profile),
    };
    let answer = step(call(ctx, client, exchange, &mut meta).await)?;
    finish(ctx, profile, answer, &node.meta.uid, false);
    Ok(())
}

/// Our labels on the server differ from the profile's (extra labels cannot be read back, so a
/// profile with any is always patched).
fn labels_differ(profile: &NodeProfile<'_>, have: &OwnedLabels) -> bool {
    fn same(have: &Option<BoundedStr<63>>, want: Option<&str>) -> bool {
        match want {
            Some(w) => have.as_ref().is_some_and(|h| *h == w),
            None => true,
        }
    }
    let hostname = profile
        .has_hostname_label()
        .then_some(profile.name.as_str());
    !(same(&have.hostname, hostname)
        && same(&have.arch, Some(profile.architecture))
        && same(&have.os, Some(profile.operating_system))
        && same(&have.instance_type, profile.instance_type)
        && profile.extra_labels.is_empty())
}

/// Registered: the status the request carried is on the server; the rest is cross-task
/// ([`AgentEvent::Registered`]).
fn finish<C: Clock, B: Board>(
    ctx: &Ctx<'_, C, B>,
    profile: &NodeProfile<'_>,
    answer: Answer,
    uid: &BoundedStr<UID_LEN>,
    created: bool,
) {
    let snapshot = ctx.board.snapshot();
    let mut model = ctx.state.model();
    model.pushed(
        answer.sent.generation,
        Some(profile.internal_ip),
        snapshot.bssid_changes,
    );
    ctx.state.set_model(model);
    let mut registrar = ctx.state.registrar();
    let first = registrar.registered(uid);
    ctx.state.set_registrar(registrar);
    ctx.log.log(&LogEvent::Registered {
        created,
        uid: uid.as_str(),
    });
    ctx.apply(AgentEvent::Registered { first });
}
