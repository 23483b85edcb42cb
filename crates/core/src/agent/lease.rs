//! The lease reconciler: the node's heartbeat.
//!
//! At start (and after every registration) the Lease is read: 200 adopts its `renewTime` (so a
//! rebooted board never renews to an earlier time), 404 creates it with an ownerReference to
//! the Node's uid. Then a merge-patch of `renewTime` every `lease_renew_interval` on a fixed
//! cadence, `renewTime` = [`next_renew_time`] so it never goes backward. A 404 on renewal means
//! the Lease is gone: if the Node is gone too, the agent registers again; otherwise the Lease is
//! created again. Failures retry with the fast backoff, 401/403 with the slow one.
use embedded_io_async::{Read, Write};

use crate::agent::call::{call, Ctx, Failure, Setback, SharedClient};
use crate::agent::log::LogEvent;
use crate::agent::policy::{Action, Operation};
use crate::agent::run::{SessionEnd, TaskExit};
use crate::client::api::{no_body, ApiRequest};
use crate::k8s::lease::{write_lease_create, write_lease_renewal};
use crate::k8s::paths::{ApiPath, ApiWrite};
use crate::k8s::response::{LeaseResponse, ObjectMeta};
use crate::led::AgentPhase;
use crate::runtime::{Clock, Instant};
use crate::time::{next_renew_time, UnixMicros};

/// Keeps the Lease; returns only when the session ends or the Node must be registered again.
pub(crate) async fn lease_task<T: Read + Write, C: Clock>(
    ctx: &Ctx<'_, C>,
    client: &SharedClient<'_, T, C>,
) -> TaskExit {
    loop {
        let (known, at) = ctx.state.with(|s| (s.lease.known, s.lease.next_at));
        ctx.clock.sleep_until(at).await;
        let result = if known {
            renew(ctx, client, at).await
        } else {
            acquire(ctx, client).await
        };
        if let Err(exit) = result {
            return exit;
        }
    }
}

/// The `renewTime` to send now.
fn renew_time<C: Clock>(ctx: &Ctx<'_, C>) -> UnixMicros {
    let now = ctx.now();
    ctx.state.with(|s| {
        let wall = s.wall_now(now).unwrap_or(UnixMicros(0));
        next_renew_time(wall, s.lease.last_renew_time)
    })
}

fn retry_later<C: Clock>(ctx: &Ctx<'_, C>, setback: Setback) {
    let delay = ctx
        .state
        .with(|s| ctx.delay_for(&mut s.lease.retry, setback));
    let at = ctx.after_ms(delay);
    ctx.state.with(|s| s.lease.next_at = at);
}

/// Reads the Lease, or creates it.
async fn acquire<T: Read + Write, C: Clock>(
    ctx: &Ctx<'_, C>,
    client: &SharedClient<'_, T, C>,
) -> Result<(), TaskExit> {
    let name = ctx.config.profile.name;
    let mut lease = LeaseResponse::default();
    let answer = call(
        ctx,
        client,
        Operation::ReadLease,
        ApiRequest::get(ApiPath::Lease(name)),
        no_body,
        &mut lease,
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
                ctx.state.with(|s| {
                    s.lease.known = true;
                    s.lease.last_renew_time = s.lease.last_renew_time.max(lease.renew_time);
                    s.lease.retry.reset();
                    // Renew at once: after a reboot the Lease may be close to expiry.
                    s.lease.next_at = now;
                    s.lease.due_at = now;
                });
                ctx.log.log(&LogEvent::LeaseAdopted);
                Ok(())
            }
            Action::RecreateLease => create(ctx, client).await,
            other => {
                retry_later(ctx, Setback::Refused(other));
                Ok(())
            }
        },
    }
}

async fn create<T: Read + Write, C: Clock>(
    ctx: &Ctx<'_, C>,
    client: &SharedClient<'_, T, C>,
) -> Result<(), TaskExit> {
    let name = ctx.config.profile.name;
    let duration = ctx.config.timing.lease_duration_secs;
    let uid = ctx.state.with(|s| s.node.uid.clone());
    let mut sent = UnixMicros(0);
    let mut meta = ObjectMeta::default();
    let answer = call(
        ctx,
        client,
        Operation::CreateLease,
        ApiRequest::write(ApiWrite::CreateLease, name),
        |buf| {
            sent = renew_time(ctx);
            write_lease_create(name, uid.as_str(), duration, sent, buf)
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
                let interval = ctx.config.timing.lease_renew_interval;
                ctx.state.with(|s| {
                    s.lease.known = true;
                    s.lease.last_renew_time = Some(sent);
                    s.lease.retry.reset();
                    s.lease.last_success = Some(now);
                    s.lease.next_at = now.saturating_add(interval);
                    s.lease.due_at = s.lease.next_at;
                    s.stats.lease_creations = s.stats.lease_creations.saturating_add(1);
                });
                ctx.log.log(&LogEvent::LeaseCreated);
                Ok(())
            }
            // Someone created it first: read it (after a short backoff, so a server that
            // answers 409 to the create and 404 to the read is not hammered).
            Action::AdoptExisting => {
                retry_later(ctx, Setback::Refused(Action::AdoptExisting));
                Ok(())
            }
            other => {
                retry_later(ctx, Setback::Refused(other));
                Ok(())
            }
        },
    }
}

/// One renewal, due at `scheduled`.
async fn renew<T: Read + Write, C: Clock>(
    ctx: &Ctx<'_, C>,
    client: &SharedClient<'_, T, C>,
    scheduled: Instant,
) -> Result<(), TaskExit> {
    let name = ctx.config.profile.name;
    let mut sent = UnixMicros(0);
    let mut meta = ObjectMeta::default();
    let answer = call(
        ctx,
        client,
        Operation::RenewLease,
        ApiRequest::write(ApiWrite::RenewLease, name),
        |buf| {
            sent = renew_time(ctx);
            write_lease_renewal(sent, buf)
        },
        &mut meta,
    )
    .await;
    let setback = match answer {
        Err(Failure::End(SessionEnd::Closed)) => return Err(TaskExit::End(SessionEnd::Closed)),
        Err(Failure::End(end)) => {
            renewal_failed(ctx);
            return Err(TaskExit::End(end));
        }
        Err(Failure::Local(e)) => Setback::Failed(e),
        Ok(a) => match a.action {
            Action::Done => {
                renewed(ctx, sent, scheduled);
                return Ok(());
            }
            Action::RecreateLease => {
                renewal_failed(ctx);
                return node_still_there(ctx, client).await;
            }
            other => Setback::Refused(other),
        },
    };
    renewal_failed(ctx);
    retry_later(ctx, setback);
    Ok(())
}

fn renewed<C: Clock>(ctx: &Ctx<'_, C>, sent: UnixMicros, scheduled: Instant) {
    let now = ctx.now();
    let timing = ctx.config.timing;
    let (gap, late) = ctx.state.with(|s| {
        let late = now.saturating_since(s.lease.due_at);
        let gap = s.lease.last_success.map(|t| now.saturating_since(t));
        s.lease.last_renew_time = Some(sent);
        s.lease.last_success = Some(now);
        s.lease.consecutive = s.lease.consecutive.saturating_add(1);
        s.lease.retry.reset();
        s.status.stale_flagged = false;
        s.stats.renewals = s.stats.renewals.saturating_add(1);
        s.phase = AgentPhase::Registered;
        // Fixed cadence; after an outage, from now.
        let next = scheduled.saturating_add(timing.lease_renew_interval);
        s.lease.next_at = if next > now {
            next
        } else {
            now.saturating_add(timing.lease_renew_interval)
        };
        s.lease.due_at = s.lease.next_at;
        let long = gap.filter(|g| *g > timing.lease_duration());
        if long.is_some() {
            s.stats.recoveries = s.stats.recoveries.saturating_add(1);
            s.status.suspect_unknown = true;
        }
        (long, late)
    });
    ctx.log.log(&LogEvent::LeaseRenewed {
        late_us: u64::try_from(late.as_micros()).unwrap_or(u64::MAX),
    });
    if let Some(gap) = gap {
        ctx.log.log(&LogEvent::Recovered {
            gap_ms: u64::try_from(gap.as_millis()).unwrap_or(u64::MAX),
        });
        // The lifecycle controller may have marked the node Unknown: the status task reads the
        // Node and re-asserts Ready now rather than at its next period.
        ctx.state.status_wake.signal(());
    }
}

fn renewal_failed<C: Clock>(ctx: &Ctx<'_, C>) {
    ctx.state.with(|s| {
        s.lease.consecutive = 0;
        s.stats.renewal_failures = s.stats.renewal_failures.saturating_add(1);
    });
}

/// The Lease is gone (404). Garbage collection deletes it with its Node, so read the Node:
/// gone too → register again; still there → create the Lease again.
async fn node_still_there<T: Read + Write, C: Clock>(
    ctx: &Ctx<'_, C>,
    client: &SharedClient<'_, T, C>,
) -> Result<(), TaskExit> {
    let name = ctx.config.profile.name;
    let mut meta = ObjectMeta::default();
    let answer = call(
        ctx,
        client,
        Operation::ReadNode,
        ApiRequest::get(ApiPath::Node(name)),
        no_body,
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
                ctx.state.with(|s| {
                    if !meta.uid.is_empty() && !meta.uid.is_truncated() {
                        s.node.uid = meta.uid.clone();
                    }
                    s.lease.known = false;
                });
                // Create it again after the fast backoff's first step (≤ 0.5 s): a Lease that
                // keeps vanishing must not become a tight loop.
                retry_later(ctx, Setback::Refused(Action::RecreateLease));
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
