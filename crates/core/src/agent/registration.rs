//! The registration reconciler: make sure our Node exists and says what the board is.
//!
//! `POST /api/v1/nodes` with the taint and the full status (201: done, the status survives the
//! create). On 409 the Node exists (a reboot, or a re-registration): `GET` it, adopt the
//! `lastTransitionTime` of every condition whose status is unchanged, check our taint (taints are
//! create-only: a missing one can only be reported), merge-patch our labels if they differ, and
//! patch `/status` with addresses and nodeInfo (a fresh bootID) and all conditions.
use embedded_io_async::{Read, Write};

use crate::agent::call::{call, Ctx, Failure, Setback, SharedClient};
use crate::agent::events::EventReason;
use crate::agent::log::LogEvent;
use crate::agent::policy::{Action, Operation};
use crate::agent::run::SessionEnd;
use crate::bounded::BoundedStr;
use crate::client::api::{no_body, ApiRequest};
use crate::conditions::{ConditionSet, ConditionType};
use crate::k8s::identity::BodyError;
use crate::k8s::node::{write_node_labels_patch, write_node_registration, NodeProfile};
use crate::k8s::paths::{ApiPath, ApiWrite};
use crate::k8s::response::{NodeResponse, ObjectMeta, OwnedLabels, TaintEffect, UID_LEN};
use crate::k8s::status_patch::write_status_patch;
use crate::led::AgentPhase;
use crate::runtime::Clock;
use crate::time::UnixMicros;

/// Returns once the Node is registered (at once if it is).
pub(crate) async fn ensure_registered<T: Read + Write, C: Clock>(
    ctx: &Ctx<'_, C>,
    client: &SharedClient<'_, T, C>,
) -> Result<(), SessionEnd> {
    loop {
        let (registered, at) = ctx.state.with(|s| (s.node.registered, s.node.next_attempt));
        if registered {
            return Ok(());
        }
        ctx.clock.sleep_until(at).await;
        if let Err(setback) = register(ctx, client).await? {
            let delay = ctx
                .state
                .with(|s| ctx.delay_for(&mut s.node.retry, setback));
            let at = ctx.after_ms(delay);
            ctx.state.with(|s| s.node.next_attempt = at);
        }
    }
}

/// The body closure's error when there is no condition set (only before the first anchoring,
/// which `ensure_anchored` rules out).
const NO_CONDITIONS: BodyError = BodyError::Invalid {
    field: "status.conditions",
};

fn with_conditions<C: Clock, R>(
    ctx: &Ctx<'_, C>,
    f: impl FnOnce(&ConditionSet) -> Result<R, BodyError>,
) -> Result<R, BodyError> {
    ctx.state
        .with(|s| s.conditions.as_ref().map(f))
        .unwrap_or(Err(NO_CONDITIONS))
}

/// The configured profile with the board's current address (a DHCP lease may differ from the
/// configured one, and may change while the board runs).
pub(crate) fn current_profile<'a, C: Clock>(ctx: &Ctx<'a, C>) -> NodeProfile<'a> {
    let mut profile = ctx.config.profile;
    if let Some(ip) = ctx.state.with(|s| s.board.latest.ipv4) {
        profile.internal_ip = Some(ip);
    }
    profile
}

/// One attempt: `Ok(Ok(()))` registered, `Ok(Err(_))` try again later, `Err` session over.
async fn register<T: Read + Write, C: Clock>(
    ctx: &Ctx<'_, C>,
    client: &SharedClient<'_, T, C>,
) -> Result<Result<(), Setback>, SessionEnd> {
    let profile = &current_profile(ctx);
    let mut meta = ObjectMeta::default();
    let mut generation = 0;
    let heap = u64::from(ctx.board.snapshot().heap_free_bytes);
    let answer = call(
        ctx,
        client,
        Operation::CreateNode,
        ApiRequest::write(ApiWrite::RegisterNode, profile.name),
        |buf| {
            let wall = wall_now(ctx);
            with_conditions(ctx, |c| {
                generation = c.generation();
                write_node_registration(profile, c.conditions(), Some(heap), wall, buf)
            })
        },
        &mut meta,
    )
    .await;
    match answer {
        Err(Failure::End(end)) => Err(end),
        Err(Failure::Local(e)) => Ok(Err(Setback::Failed(e))),
        Ok(a) => match a.action {
            Action::Done => {
                ctx.state.with(|s| {
                    if let Some(c) = s.conditions.as_mut() {
                        c.mark_pushed(generation);
                    }
                    s.status.address_on_server = profile.internal_ip;
                });
                finish(ctx, &meta.uid, true);
                Ok(Ok(()))
            }
            Action::AdoptExisting => adopt(ctx, client).await,
            other => Ok(Err(Setback::Refused(other))),
        },
    }
}

fn wall_now<C: Clock>(ctx: &Ctx<'_, C>) -> UnixMicros {
    let now = ctx.now();
    ctx.state.with(|s| s.wall_now(now)).unwrap_or(UnixMicros(0))
}

/// The Node exists: read it, adopt, patch what differs.
async fn adopt<T: Read + Write, C: Clock>(
    ctx: &Ctx<'_, C>,
    client: &SharedClient<'_, T, C>,
) -> Result<Result<(), Setback>, SessionEnd> {
    let profile = &current_profile(ctx);
    let mut node = NodeResponse::default();
    let answer = call(
        ctx,
        client,
        Operation::ReadNode,
        ApiRequest::get(ApiPath::Node(profile.name)),
        no_body,
        &mut node,
    )
    .await;
    match answer {
        Err(Failure::End(end)) => return Err(end),
        Err(Failure::Local(e)) => return Ok(Err(Setback::Failed(e))),
        // Deleted between our POST and GET: the next attempt creates it.
        Ok(a) if a.action == Action::Reregister => return Ok(Err(Setback::Refused(a.action))),
        Ok(a) if a.action != Action::Done => return Ok(Err(Setback::Refused(a.action))),
        Ok(_) => {}
    }
    adopt_conditions(ctx, &node);
    if let Some(taint) = profile.taint {
        let effect = TaintEffect::parse(taint.effect.as_str());
        let present = effect.is_some_and(|e| node.has_taint(taint.key, e));
        if !present {
            ctx.state
                .with(|s| s.stats.taint_missing = s.stats.taint_missing.saturating_add(1));
            ctx.log.log(&LogEvent::TaintMissing { key: taint.key });
        }
    }
    if labels_differ(profile, &node.labels) {
        let mut meta = ObjectMeta::default();
        let answer = call(
            ctx,
            client,
            Operation::PatchNode,
            ApiRequest::write(ApiWrite::PatchNodeLabels, profile.name),
            |buf| write_node_labels_patch(profile, buf),
            &mut meta,
        )
        .await;
        match answer {
            Err(Failure::End(end)) => return Err(end),
            Err(Failure::Local(e)) => return Ok(Err(Setback::Failed(e))),
            Ok(a) if a.action != Action::Done => return Ok(Err(Setback::Refused(a.action))),
            Ok(_) => ctx.log.log(&LogEvent::LabelsPatched),
        }
    }
    let mut meta = ObjectMeta::default();
    let mut generation = 0;
    let heap = u64::from(ctx.board.snapshot().heap_free_bytes);
    let answer = call(
        ctx,
        client,
        Operation::PatchNode,
        ApiRequest::write(ApiWrite::PatchNodeStatus, profile.name),
        |buf| {
            let wall = wall_now(ctx);
            with_conditions(ctx, |c| {
                generation = c.generation();
                write_status_patch(c.conditions(), wall, Some(heap), Some(profile), buf)
            })
        },
        &mut meta,
    )
    .await;
    match answer {
        Err(Failure::End(end)) => Err(end),
        Err(Failure::Local(e)) => Ok(Err(Setback::Failed(e))),
        Ok(a) if a.action != Action::Done => Ok(Err(Setback::Refused(a.action))),
        Ok(_) => {
            ctx.state.with(|s| {
                if let Some(c) = s.conditions.as_mut() {
                    c.mark_pushed(generation);
                }
                s.status.address_on_server = profile.internal_ip;
            });
            finish(ctx, &node.meta.uid, false);
            Ok(Ok(()))
        }
    }
}

/// Adopts the server's `lastTransitionTime`s where the status agrees; a differing status is a
/// transition now. Returns whether the server's Ready was anything but True.
pub(crate) fn adopt_conditions<C: Clock>(ctx: &Ctx<'_, C>, node: &NodeResponse) -> bool {
    let wall = wall_now(ctx);
    let mut transitions = 0u32;
    let mut server_not_ready = false;
    ctx.state.with(|s| {
        let Some(set) = s.conditions.as_mut() else {
            return;
        };
        for kind in ConditionType::ALL {
            let Some(observed) = node.condition(kind) else {
                continue;
            };
            let (Some(status), Some(since)) = (observed.status, observed.last_transition) else {
                continue;
            };
            if kind == ConditionType::Ready {
                server_not_ready = status != crate::conditions::ConditionStatus::True;
            }
            if set.adopt_from_server(kind, status, since, wall) {
                transitions = transitions.saturating_add(1);
            }
        }
    });
    ctx.log.log(&LogEvent::ConditionsAdopted { transitions });
    server_not_ready
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

/// Registered: remember the uid, start the other reconcilers' schedules, queue the events.
fn finish<C: Clock>(ctx: &Ctx<'_, C>, uid: &BoundedStr<UID_LEN>, created: bool) {
    let now = ctx.now();
    let timing = ctx.config.timing;
    let snapshot = ctx.board.snapshot();
    let first = ctx.state.with(|s| {
        s.node.registered = true;
        s.node.uid = uid.clone();
        s.node.retry.reset();
        s.stats.registrations = s.stats.registrations.saturating_add(1);
        // A new Node needs a new Lease (the old one dies with the old Node); an adopted one
        // may have one: the lease task reads it first either way.
        s.lease.known = false;
        s.lease.next_at = now;
        s.status.periodic_at = now.saturating_add(timing.status_interval);
        s.status.check_at = now.saturating_add(timing.condition_check_interval);
        s.status.retry_at = now;
        s.status.suspect_unknown = false;
        s.status.bssid_changes_at_push = snapshot.bssid_changes;
        s.phase = AgentPhase::Registered;
        !core::mem::replace(&mut s.node.started_queued, true)
    });
    ctx.log.log(&LogEvent::Registered {
        created,
        uid: uid.as_str(),
    });
    if first {
        ctx.queue_event(EventReason::Starting);
    }
    ctx.queue_event(EventReason::NodeReady);
}
