//! The event reconciler: posts the queued Node Events ([`crate::agent::events`]), oldest
//! first, one exchange at a time.
use embedded_io_async::{Read, Write};

use crate::agent::call::{call, Ctx, SharedClient};
use crate::agent::events::{EventQueue, EventReason, Pushed};
use crate::agent::exchange::Exchange;
use crate::agent::log::LogEvent;
use crate::agent::outcome::{Outcome, Setback, TaskExit};
use crate::agent::policy::Action;
use crate::agent::timers::Timer;
use crate::k8s::event::NodeEvent;
use crate::k8s::response::ObjectMeta;
use crate::runtime::{Board, Clock, Instant};
use crate::time::UnixMicros;
use core::time::Duration;

/// The event reconciler's state: the queue and a sequence for unique names.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EventPoster {
    queue: EventQueue,
    sequence: u32,
    posted: u32,
}

impl EventPoster {
    pub const NEW: EventPoster = EventPoster {
        queue: EventQueue::new(),
        sequence: 0,
        posted: 0,
    };

    /// Events waiting, and dropped so far.
    pub fn pending(&self) -> (usize, u32) {
        (self.queue.len(), self.queue.dropped)
    }

    /// Events posted (201 or 409).
    pub fn posted(&self) -> u32 {
        self.posted
    }

    /// Queues `reason` (rate-limited per reason; only [`crate::agent::state::AgentEvent`]s call
    /// this).
    pub(crate) fn queue(
        &mut self,
        reason: EventReason,
        at: Option<UnixMicros>,
        now: Instant,
        min_interval: Duration,
    ) -> Pushed {
        self.queue.push(reason, at, now, min_interval)
    }
}

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
        let Some(event) = ctx.state.poster().queue.front() else {
            ctx.state.event_wake.wait().await;
            continue;
        };
        ctx.sleep_until(Timer::Event).await;
        let now = ctx.now();
        let sequence = update(ctx, |p| {
            p.sequence = p.sequence.wrapping_add(1);
            p.sequence
        });
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
                update(ctx, |p| {
                    p.queue.pop();
                    p.posted = p.posted.saturating_add(1);
                });
                ctx.state.succeeded(Timer::Event, ctx.now());
                ctx.log.log(&LogEvent::EventPosted {
                    reason: event.reason.as_str(),
                });
                continue;
            }
            Outcome::Retry(Setback::Refused(Action::Rejected)) => {
                // The server will never take this one: drop it.
                update(ctx, |p| {
                    p.queue.pop();
                    p.queue.dropped = p.queue.dropped.saturating_add(1);
                });
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
