//! Posts the queued Node Events, oldest first, one exchange at a time.
use embedded_io_async::{Read, Write};

use crate::agent::call::{call, Ctx, Failure, Setback, SharedClient};
use crate::agent::log::LogEvent;
use crate::agent::policy::{Action, Operation};
use crate::agent::run::TaskExit;
use crate::client::api::ApiRequest;
use crate::k8s::event::{write_node_event, NodeEvent};
use crate::k8s::paths::ApiWrite;
use crate::k8s::response::ObjectMeta;
use crate::runtime::Clock;
use crate::time::UnixMicros;

/// Drains the event queue; returns only when the session ends.
pub(crate) async fn event_task<T: Read + Write, C: Clock>(
    ctx: &Ctx<'_, C>,
    client: &SharedClient<'_, T, C>,
) -> TaskExit {
    let name = ctx.config.profile.name;
    loop {
        let (front, at) = ctx
            .state
            .with(|s| (s.events.queue.front(), s.events.next_attempt));
        let Some(event) = front else {
            ctx.state.event_wake.wait().await;
            continue;
        };
        ctx.clock.sleep_until(at).await;
        let now = ctx.now();
        let (wall, sequence) = ctx.state.with(|s| {
            s.events.sequence = s.events.sequence.wrapping_add(1);
            (s.wall_now(now).unwrap_or(UnixMicros(0)), s.events.sequence)
        });
        // Like the kubelet's nanosecond suffix: unique per event even when two are posted in
        // the same microsecond.
        let unique = wall
            .0
            .saturating_mul(1_000)
            .saturating_add(u64::from(sequence % 1_000));
        let body = NodeEvent {
            kind: event.reason.kind(),
            reason: event.reason.as_str(),
            message: event.reason.message(),
        };
        let mut meta = ObjectMeta::default();
        let answer = call(
            ctx,
            client,
            Operation::PostEvent,
            ApiRequest::write(ApiWrite::PostEvent, name),
            |buf| write_node_event(name, &body, unique, event.at.unwrap_or(wall), buf),
            &mut meta,
        )
        .await;
        let setback = match answer {
            Err(Failure::End(end)) => return TaskExit::End(end),
            Err(Failure::Local(e)) => Setback::Failed(e),
            Ok(a) => match a.action {
                Action::Done => {
                    ctx.state.with(|s| {
                        s.events.queue.pop();
                        s.events.retry.reset();
                        s.stats.events_posted = s.stats.events_posted.saturating_add(1);
                    });
                    ctx.log.log(&LogEvent::EventPosted {
                        reason: event.reason.as_str(),
                    });
                    continue;
                }
                Action::Rejected => {
                    // The server will never take this one: drop it.
                    ctx.state.with(|s| {
                        s.events.queue.pop();
                        s.events.queue.dropped = s.events.queue.dropped.saturating_add(1);
                    });
                    ctx.log.log(&LogEvent::EventDropped {
                        reason: event.reason.as_str(),
                    });
                    continue;
                }
                other => Setback::Refused(other),
            },
        };
        let delay = ctx
            .state
            .with(|s| ctx.delay_for(&mut s.events.retry, setback));
        let at = ctx.after_ms(delay);
        ctx.state.with(|s| s.events.next_attempt = at);
    }
}
