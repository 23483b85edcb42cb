//! The status reconciler: one strategic-merge patch on `/status` with all nine conditions (the
//! four standard ones always: the lifecycle controller leaves them Unknown until we re-post
//! them) and the heap annotation.
//!
//! Pushed on a fixed cadence (`status_interval` from the registration), at the next condition
//! check after a status flip, and at once after an outage long enough for the lifecycle
//! controller to have marked the node Unknown: the Node is read first, its conditions adopted
//! (a differing status is a transition now), then Ready is re-asserted. A 404 means the Node is
//! gone: register again.
use embassy_futures::select::select;
use embedded_io_async::{Read, Write};

use crate::agent::call::{call, Ctx, Failure, Setback, SharedClient};
use crate::agent::events::EventReason;
use crate::agent::log::LogEvent;
use crate::agent::policy::{Action, Operation};
use crate::agent::registration::{adopt_conditions, current_profile};
use crate::agent::run::TaskExit;
use crate::client::api::{no_body, ApiRequest};
use crate::conditions::ConditionType;
use crate::k8s::identity::BodyError;
use crate::k8s::paths::{ApiPath, ApiWrite};
use crate::k8s::response::{NodeResponse, ObjectMeta};
use crate::k8s::status_patch::write_status_patch;
use crate::runtime::{Clock, Instant};
use crate::time::UnixMicros;
use core::time::Duration;

/// `at + interval`, or `now + interval` if that has passed already (after an outage).
fn advance(at: Instant, interval: Duration, now: Instant) -> Instant {
    let next = at.saturating_add(interval);
    if next > now {
        next
    } else {
        now.saturating_add(interval)
    }
}

/// Keeps the status current; returns only when the session ends or the Node is gone.
pub(crate) async fn status_task<T: Read + Write, C: Clock>(
    ctx: &Ctx<'_, C>,
    client: &SharedClient<'_, T, C>,
) -> TaskExit {
    let timing = ctx.config.timing;
    loop {
        let wake_at = ctx.state.with(|s| {
            let st = &s.status;
            let pending = st.suspect_unknown
                || s.conditions.is_some_and(|c| c.needs_push())
                || s.address_to_push().is_some();
            let push_at = if pending {
                st.retry_at
            } else {
                st.periodic_at.max(st.retry_at)
            };
            st.check_at.min(push_at)
        });
        select(ctx.clock.sleep_until(wake_at), ctx.state.status_wake.wait()).await;
        let now = ctx.now();
        let check_due = ctx.state.with(|s| now >= s.status.check_at);
        if check_due {
            evaluate(ctx, now);
            ctx.state.with(|s| {
                s.status.check_at = advance(s.status.check_at, timing.condition_check_interval, now)
            });
        }
        let (retry_due, suspect) = ctx.state.with(|s| {
            // No renewal for longer than the lease duration: the node may be Unknown by now.
            // Read the Node once per such episode before pushing a Ready with an old time.
            let stale = s
                .lease
                .last_success
                .is_some_and(|t| now.saturating_since(t) > timing.lease_duration());
            if stale && !s.status.stale_flagged {
                s.status.stale_flagged = true;
                s.status.suspect_unknown = true;
            }
            (now >= s.status.retry_at, s.status.suspect_unknown)
        });
        if !retry_due {
            continue;
        }
        if suspect {
            match read_and_adopt(ctx, client).await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(exit) => return exit,
            }
        }
        let (push, periodic) = ctx.state.with(|s| {
            let periodic = now >= s.status.periodic_at;
            let flipped = s.conditions.is_some_and(|c| c.needs_push());
            let moved = s.address_to_push().is_some();
            (periodic || flipped || moved, periodic)
        });
        if push {
            if let Err(exit) = push_status(ctx, client, periodic).await {
                return exit;
            }
        }
    }
}

/// Re-reads the board and re-evaluates the conditions; logs each status flip.
fn evaluate<C: Clock>(ctx: &Ctx<'_, C>, now: Instant) {
    let snapshot = ctx.board.snapshot();
    let flips = ctx.state.with(|s| {
        let signals = s.signals(now, snapshot);
        let wall = s.wall_now(now)?;
        let set = s.conditions.as_mut()?;
        let before = *set.conditions();
        set.update(&signals, wall);
        let after = set.conditions();
        let mut flips = [None; 9];
        for ((slot, b), a) in flips.iter_mut().zip(before.iter()).zip(after.iter()) {
            if b.status != a.status {
                *slot = Some(a.kind);
            }
        }
        Some(flips)
    });
    for kind in flips.into_iter().flatten().flatten() {
        ctx.log.log(&LogEvent::ConditionFlipped { kind });
    }
}

fn retry_later<C: Clock>(ctx: &Ctx<'_, C>, setback: Setback) {
    let delay = ctx
        .state
        .with(|s| ctx.delay_for(&mut s.status.retry, setback));
    let at = ctx.after_ms(delay);
    ctx.state.with(|s| {
        s.status.retry_at = at;
        s.stats.status_push_failures = s.stats.status_push_failures.saturating_add(1);
    });
}

/// Reads the Node and adopts its conditions. `Ok(true)`: go on and push.
async fn read_and_adopt<T: Read + Write, C: Clock>(
    ctx: &Ctx<'_, C>,
    client: &SharedClient<'_, T, C>,
) -> Result<bool, TaskExit> {
    let mut node = NodeResponse::default();
    let answer = call(
        ctx,
        client,
        Operation::ReadNode,
        ApiRequest::get(ApiPath::Node(ctx.config.profile.name)),
        no_body,
        &mut node,
    )
    .await;
    match answer {
        Err(Failure::End(end)) => Err(TaskExit::End(end)),
        Err(Failure::Local(e)) => {
            retry_later(ctx, Setback::Failed(e));
            Ok(false)
        }
        Ok(a) => match a.action {
            Action::Done => {
                let not_ready = adopt_conditions(ctx, &node);
                ctx.state.with(|s| {
                    s.status.suspect_unknown = false;
                    s.status.announce_ready |= not_ready;
                });
                Ok(true)
            }
            Action::Reregister => {
                ctx.log.log(&LogEvent::NodeMissing);
                Err(TaskExit::Reregister)
            }
            other => {
                retry_later(ctx, Setback::Refused(other));
                Ok(false)
            }
        },
    }
}

async fn push_status<T: Read + Write, C: Clock>(
    ctx: &Ctx<'_, C>,
    client: &SharedClient<'_, T, C>,
    periodic: bool,
) -> Result<(), TaskExit> {
    let mut meta = ObjectMeta::default();
    let mut generation = 0;
    // A new address goes out with the board details (the addresses list is replaced whole).
    let moved = ctx.state.with(|s| s.address_to_push());
    let profile = current_profile(ctx);
    let details = moved.map(|_| &profile);
    let answer = call(
        ctx,
        client,
        Operation::PatchNode,
        ApiRequest::write(ApiWrite::PatchNodeStatus, ctx.config.profile.name),
        |buf| {
            let now = ctx.now();
            ctx.state.with(|s| {
                let wall = s.wall_now(now).unwrap_or(UnixMicros(0));
                let heap = u64::from(s.board.latest.heap_free_bytes);
                let set = s.conditions.as_ref().ok_or(BodyError::Invalid {
                    field: "status.conditions",
                })?;
                generation = set.generation();
                write_status_patch(set.conditions(), wall, Some(heap), details, buf)
            })
        },
        &mut meta,
    )
    .await;
    match answer {
        Err(Failure::End(end)) => Err(TaskExit::End(end)),
        Err(Failure::Local(e)) => {
            retry_later(ctx, Setback::Failed(e));
            Ok(())
        }
        Ok(a) => match a.action {
            Action::Done => {
                let now = ctx.now();
                let interval = ctx.config.timing.status_interval;
                let announce = ctx.state.with(|s| {
                    if let Some(c) = s.conditions.as_mut() {
                        c.mark_pushed(generation);
                    }
                    s.status.bssid_changes_at_push = s.board.latest.bssid_changes;
                    if moved.is_some() {
                        s.status.address_on_server = profile.internal_ip;
                    }
                    if periodic {
                        s.status.periodic_at = advance(s.status.periodic_at, interval, now);
                    }
                    s.status.retry.reset();
                    s.stats.status_pushes = s.stats.status_pushes.saturating_add(1);
                    let ready = s.conditions.is_some_and(|c| {
                        c.get(ConditionType::Ready).status
                            == crate::conditions::ConditionStatus::True
                    });
                    core::mem::take(&mut s.status.announce_ready) && ready
                });
                ctx.log.log(&LogEvent::StatusPushed { periodic });
                if let Some(internal_ip) = moved {
                    ctx.log.log(&LogEvent::AddressPushed { internal_ip });
                }
                if announce {
                    ctx.queue_event(EventReason::NodeReady);
                }
                Ok(())
            }
            Action::Reregister => {
                ctx.log.log(&LogEvent::NodeMissing);
                Err(TaskExit::Reregister)
            }
            other => {
                retry_later(ctx, Setback::Refused(other));
                Ok(())
            }
        },
    }
}
