//! The event reconciler: posts the queued Node Events ([`crate::agent::events`]), oldest
//! first, one exchange at a time.
use embedded_io_async::{Read, Write};

use crate::agent::call::{call, Ctx, SharedClient};
use crate::agent::exchange::Exchange;
use crate::agent::log::LogEvent;
use crate::agent::outcome::{Outcome, Setback, TaskExit};
use crate::agent::policy::Action;
use crate::agent::state::EventPoster;
use crate::agent::timers::Timer;
use crate::k8s::event::NodeEvent;
use crate::k8s::response::ObjectMeta;
use crate::runtime::{Board, Clock};

fn update<C, B, R>(ctx: &Ctx<'_, C, B>, f: impl FnOnce(&mut EventPoster) -> R) -> R {
    let mut poster = ctx.state.poster();
    let r = f(&mut poster);
    ctx.state.set_poster(poster);
    r
}

/// Drains the event queue; returns only when the session ends.
pub(crate) async fn event_task<T: Read + Write, C: Clock, B: Board>(
    ctx: &Ctx<'_, C, B>,
    client: &SharedClient<'_, T, C>,
) -> TaskExit {
    loop {
        let Some(event) = ctx.state.poster().front() else {
            ctx.state.event_wake.wait().await;
            continue;
        };
        ctx.sleep_until(Timer::Event).await;
        let now = ctx.now();
        let sequence = update(ctx, EventPoster::next_sequence);
        let wall = ctx.state.wall_now(now).unwrap_or_default();
        // Like the kubelet's nanosecond suffix: unique per event even when two are posted in
        // the same microsecond.
        let unique = wall
            .0
            .saturating_mul(1_000)
            .saturating_add(u64::from(sequence % 1_000));
        let exchange = Exchange::PostEvent {
            event: NodeEvent {
                kind: event.reason.kind(),
                reason: event.reason.as_str(),
                message: event.reason.message(),
            },
            unique,
            at: Some(event.at.unwrap_or(wall)),
        };
        let mut meta = ObjectMeta::default();
        let setback = match call(ctx, client, exchange, &mut meta).await {
            Outcome::End(end) => return TaskExit::End(end),
            Outcome::Done(_) => {
                update(ctx, EventPoster::posted_front);
                ctx.state.succeeded(Timer::Event, ctx.now());
                ctx.log.log(&LogEvent::EventPosted {
                    reason: event.reason.as_str(),
                });
                continue;
            }
            Outcome::Retry(Setback::Refused(Action::Rejected)) => {
                // The server will never take this one: drop it.
                update(ctx, EventPoster::dropped_front);
                ctx.log.log(&LogEvent::EventDropped {
                    reason: event.reason.as_str(),
                });
                continue;
            }
            Outcome::Retry(setback) => setback,
            Outcome::Reregister => Setback::Refused(Action::Reregister),
            Outcome::RecreateLease => Setback::Refused(Action::RecreateLease),
            Outcome::AdoptExisting => Setback::Refused(Action::AdoptExisting),
        };
        ctx.retry_later(Timer::Event, setback);
    }
}
