//! The lease reconciler: the node's heartbeat.
//!
//! At start (and after every registration) the Lease is read: 200 adopts its `renewTime` (so a
//! rebooted board never renews to an earlier time), 404 creates it with an ownerReference to
//! the Node's uid. Then a merge-patch of `renewTime` every `lease_renew_interval` on a fixed
//! cadence, `renewTime` = [`crate::time::next_renew_time`] so it never goes backward. A 404 on
//! renewal means the Lease is gone: if the Node is gone too, the agent registers again;
//! otherwise the Lease is created again. Failures retry with the fast backoff, 401/403 with the
//! slow one.
//!
//! The path from timer to socket: [`lease_task`] sleeps on [`Timer::Renew`], [`renew`] builds
//! [`Exchange::RenewLease`] and hands it to [`call`], which locks the client, writes the body
//! and reads the reply; the [`Outcome`] comes back up to one `match` here.
use embedded_io_async::{Read, Write};

use crate::agent::call::{call, Ctx, SharedClient};
use crate::agent::exchange::Exchange;
use crate::agent::log::LogEvent;
use crate::agent::outcome::{Outcome, SessionEnd, Setback, TaskExit};
use crate::agent::policy::Action;
use crate::agent::state::{AgentEvent, LeaseKeeper};
use crate::agent::timers::Timer;
use crate::k8s::response::{LeaseResponse, ObjectMeta};
use crate::runtime::{Board, Clock, Instant};
use crate::time::UnixMicros;

/// Keeps the Lease; returns only when the session ends or the Node must be registered again.
pub(crate) async fn lease_task<T: Read + Write, C: Clock, B: Board>(
    ctx: &Ctx<'_, C, B>,
    client: &SharedClient<'_, T, C>,
) -> TaskExit {
    loop {
        ctx.sleep_until(Timer::Renew).await;
        let scheduled = ctx.state.timer(Timer::Renew);
        let result = if ctx.state.lease().is_known() {
            renew(ctx, client, scheduled).await
        } else {
            acquire(ctx, client).await
        };
        if let Err(exit) = result {
            return exit;
        }
    }
}

fn update<C, B>(ctx: &Ctx<'_, C, B>, f: impl FnOnce(&mut LeaseKeeper)) {
    let mut lease = ctx.state.lease();
    f(&mut lease);
    ctx.state.set_lease(lease);
}

/// Reads the Lease, or creates it.
async fn acquire<T: Read + Write, C: Clock, B: Board>(
    ctx: &Ctx<'_, C, B>,
    client: &SharedClient<'_, T, C>,
) -> Result<(), TaskExit> {
    let mut lease = LeaseResponse::default();
    match call(ctx, client, Exchange::ReadLease, &mut lease).await {
        Outcome::Done(_) => {
            let now = ctx.now();
            update(ctx, |l| l.adopted(lease.renew_time, now));
            // Renew at once: after a reboot the Lease may be close to expiry.
            ctx.state.succeeded(Timer::Renew, now);
            ctx.log.log(&LogEvent::LeaseAdopted);
            Ok(())
        }
        Outcome::RecreateLease => create(ctx, client).await,
        outcome => retry_or_end(ctx, outcome),
    }
}

/// The outcomes a lease step has no special answer for.
fn retry_or_end<A, C: Clock, B: Board>(
    ctx: &Ctx<'_, C, B>,
    outcome: Outcome<A>,
) -> Result<(), TaskExit> {
    let setback = match outcome {
        Outcome::End(end) => return Err(TaskExit::End(end)),
        Outcome::Retry(setback) => setback,
        Outcome::Done(_) => Setback::Refused(Action::Done),
        Outcome::Reregister => Setback::Refused(Action::Reregister),
        Outcome::RecreateLease => Setback::Refused(Action::RecreateLease),
        // Someone created it first: read it (after a short backoff, so a server that answers
        // 409 to the create and 404 to the read is not hammered).
        Outcome::AdoptExisting => Setback::Refused(Action::AdoptExisting),
    };
    ctx.retry_later(Timer::Renew, setback);
    Ok(())
}

async fn create<T: Read + Write, C: Clock, B: Board>(
    ctx: &Ctx<'_, C, B>,
    client: &SharedClient<'_, T, C>,
) -> Result<(), TaskExit> {
    let uid = *ctx.state.registrar().uid();
    let mut meta = ObjectMeta::default();
    let exchange = Exchange::CreateLease {
        owner_uid: uid.as_str(),
    };
    match call(ctx, client, exchange, &mut meta).await {
        Outcome::Done(answer) => {
            let now = ctx.now();
            let next = now.saturating_add(ctx.config.timing.lease_renew_interval);
            update(ctx, |l| l.created(answer.sent.renew_time, now, next));
            ctx.state.succeeded(Timer::Renew, next);
            ctx.log.log(&LogEvent::LeaseCreated);
            Ok(())
        }
        outcome => retry_or_end(ctx, outcome),
    }
}

/// One renewal, due at `scheduled`.
async fn renew<T: Read + Write, C: Clock, B: Board>(
    ctx: &Ctx<'_, C, B>,
    client: &SharedClient<'_, T, C>,
    scheduled: Instant,
) -> Result<(), TaskExit> {
    let mut meta = ObjectMeta::default();
    let outcome = call(ctx, client, Exchange::RenewLease, &mut meta).await;
    match outcome {
        Outcome::Done(answer) => {
            renewed(ctx, answer.sent.renew_time, scheduled);
            return Ok(());
        }
        // A session the server closed after its last answer: this renewal was not tried.
        Outcome::End(SessionEnd::Closed) => return Err(TaskExit::End(SessionEnd::Closed)),
        _ => update(ctx, LeaseKeeper::failed),
    }
    match outcome {
        Outcome::RecreateLease => node_still_there(ctx, client).await,
        outcome => retry_or_end(ctx, outcome),
    }
}

fn renewed<C: Clock, B: Board>(ctx: &Ctx<'_, C, B>, sent: UnixMicros, scheduled: Instant) {
    let now = ctx.now();
    let timing = ctx.config.timing;
    let mut lease = ctx.state.lease();
    let (next, late, long_gap) = lease.renewed(
        sent,
        scheduled,
        now,
        timing.lease_renew_interval,
        timing.lease_duration(),
    );
    ctx.state.set_lease(lease);
    ctx.state.succeeded(Timer::Renew, next);
    ctx.log.log(&LogEvent::LeaseRenewed {
        late_us: u64::try_from(late.as_micros()).unwrap_or(u64::MAX),
    });
    if let Some(gap) = long_gap {
        ctx.log.log(&LogEvent::Recovered {
            gap_ms: u64::try_from(gap.as_millis()).unwrap_or(u64::MAX),
        });
    }
    ctx.apply(AgentEvent::Renewed {
        after_long_gap: long_gap.is_some(),
    });
}

/// The Lease is gone (404). Garbage collection deletes it with its Node, so read the Node:
/// gone too → register again; still there → create the Lease again.
async fn node_still_there<T: Read + Write, C: Clock, B: Board>(
    ctx: &Ctx<'_, C, B>,
    client: &SharedClient<'_, T, C>,
) -> Result<(), TaskExit> {
    let mut meta = ObjectMeta::default();
    match call(ctx, client, Exchange::ReadNode, &mut meta).await {
        Outcome::Done(_) => {
            ctx.apply(AgentEvent::NodeFound { uid: meta.uid });
            update(ctx, LeaseKeeper::forget);
            // Create it again after the fast backoff's first step (≤ 0.5 s): a Lease that
            // keeps vanishing must not become a tight loop.
            ctx.retry_later(Timer::Renew, Setback::Refused(Action::RecreateLease));
            Ok(())
        }
        Outcome::Reregister => {
            ctx.log.log(&LogEvent::NodeMissing);
            Err(TaskExit::Reregister)
        }
        outcome => retry_or_end(ctx, outcome),
    }
}
