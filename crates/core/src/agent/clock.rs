//! The clock reconciler: the wall clock is anchored on `GET /version`'s `Date` before anything
//! else (every body needs wall time), retried with backoff until it works, then re-anchored every
//! `reanchor_interval`; the skew measured then feeds the `Haunted` condition.
use embedded_io_async::{Read, Write};

use crate::agent::call::{call, Ctx, Failure, Setback, SharedClient};
use crate::agent::log::LogEvent;
use crate::agent::policy::{Action, Operation};
use crate::agent::run::{SessionEnd, TaskExit};
use crate::client::api::{no_body, ApiRequest};
use crate::conditions::ConditionSet;
use crate::k8s::paths::ApiPath;
use crate::k8s::response::VersionResponse;
use crate::runtime::{Clock, Instant};
use crate::time::DateSample;

/// Returns once the wall clock is anchored (at once if it already is).
pub(crate) async fn ensure_anchored<T: Read + Write, C: Clock>(
    ctx: &Ctx<'_, C>,
    client: &SharedClient<'_, T, C>,
) -> Result<(), SessionEnd> {
    loop {
        let (anchored, at) = ctx
            .state
            .with(|s| (s.clock.wall.is_anchored(), s.clock.next_attempt));
        if anchored {
            return Ok(());
        }
        ctx.clock.sleep_until(at).await;
        anchor(ctx, client).await?;
    }
}

/// Re-anchors every `reanchor_interval`; returns only when the session ends.
pub(crate) async fn reanchor_task<T: Read + Write, C: Clock>(
    ctx: &Ctx<'_, C>,
    client: &SharedClient<'_, T, C>,
) -> TaskExit {
    let interval = ctx.config.timing.reanchor_interval;
    loop {
        let at = ctx.state.with(|s| {
            let due = s
                .clock
                .last_anchor
                .map_or(Instant::ZERO, |t| t.saturating_add(interval));
            due.max(s.clock.next_attempt)
        });
        ctx.clock.sleep_until(at).await;
        if let Err(end) = anchor(ctx, client).await {
            return TaskExit::End(end);
        }
    }
}

/// One `GET /version`. On success the clock is (re-)anchored; otherwise the next attempt is
/// scheduled. Creates the condition set at the first anchoring.
async fn anchor<T: Read + Write, C: Clock>(
    ctx: &Ctx<'_, C>,
    client: &SharedClient<'_, T, C>,
) -> Result<(), SessionEnd> {
    let mut version = VersionResponse::default();
    let result = call(
        ctx,
        client,
        Operation::Version,
        ApiRequest::get(ApiPath::Version),
        no_body,
        &mut version,
    )
    .await;
    let setback = match result {
        Err(Failure::End(end)) => return Err(end),
        Err(Failure::Local(error)) => Setback::Failed(error),
        Ok(answer) if answer.action != Action::Done => Setback::Refused(answer.action),
        Ok(answer) => match answer.reply.date {
            None => {
                ctx.log.log(&LogEvent::NoDate);
                Setback::Refused(Action::Reconnect)
            }
            Some(date) => {
                let sample = DateSample {
                    sent_mono: answer.reply.sent.as_micros(),
                    received_mono: answer.reply.received.as_micros(),
                    date,
                };
                if let Some(skew_micros) = take_sample(ctx, &sample) {
                    ctx.log.log(&LogEvent::ClockAnchored { skew_micros });
                    return Ok(());
                }
                Setback::Refused(Action::Reconnect)
            }
        },
    };
    let delay = ctx
        .state
        .with(|s| ctx.delay_for(&mut s.clock.retry, setback));
    let at = ctx.after_ms(delay);
    ctx.state.with(|s| s.clock.next_attempt = at);
    Ok(())
}

/// Anchors on `sample`; `Some(skew)` when it was accepted (the skew is `None` for the first
/// anchoring). Creates the condition set the first time.
fn take_sample<C: Clock>(ctx: &Ctx<'_, C>, sample: &DateSample) -> Option<Option<i64>> {
    let now = ctx.now();
    let snapshot = ctx.board.snapshot();
    let thresholds = ctx.config.thresholds;
    ctx.state.with(|s| {
        let reanchoring = s.clock.wall.anchor(sample).ok()?;
        s.clock.last_anchor = Some(now);
        s.clock.retry.reset();
        s.stats.anchors = s.stats.anchors.saturating_add(1);
        if let Some(r) = reanchoring {
            s.clock.last_skew = Some(r.skew_micros);
        }
        if s.conditions.is_none() {
            let signals = s.signals(now, snapshot);
            let wall = s.wall_now(now)?;
            s.conditions = Some(ConditionSet::new(thresholds, &signals, wall));
        }
        Some(reanchoring.map(|r| r.skew_micros))
    })
}
