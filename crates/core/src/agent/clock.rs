//! The clock reconciler: the wall clock is anchored on `GET /version`'s `Date` before anything
//! else (every body needs wall time), retried with backoff until it works, then re-anchored every
//! `reanchor_interval`; the skew measured then feeds the `Haunted` condition.
use embedded_io_async::{Read, Write};

use crate::agent::call::{call, Ctx, SharedClient};
use crate::agent::exchange::Exchange;
use crate::agent::log::LogEvent;
use crate::agent::outcome::{Outcome, SessionEnd, Setback, TaskExit};
use crate::agent::policy::Action;
use crate::agent::state::AgentEvent;
use crate::agent::timers::Timer;
use crate::k8s::response::VersionResponse;
use crate::runtime::{Board, Clock};
use crate::time::DateSample;

/// Returns once the wall clock is anchored (at once if it already is).
pub(crate) async fn ensure_anchored<T: Read + Write, C: Clock, B: Board>(
    ctx: &Ctx<'_, C, B>,
    client: &SharedClient<'_, T, C>,
) -> Result<(), SessionEnd> {
    while !ctx.state.anchor().is_anchored() {
        ctx.sleep_until(Timer::Anchor).await;
        anchor(ctx, client).await?;
    }
    Ok(())
}

/// Re-anchors every `reanchor_interval`; returns only when the session ends.
pub(crate) async fn reanchor_task<T: Read + Write, C: Clock, B: Board>(
    ctx: &Ctx<'_, C, B>,
    client: &SharedClient<'_, T, C>,
) -> TaskExit {
    loop {
        ctx.sleep_until(Timer::Anchor).await;
        if let Err(end) = anchor(ctx, client).await {
            return TaskExit::End(end);
        }
    }
}

/// One `GET /version`. On success the clock is (re-)anchored and the next re-anchoring
/// scheduled; otherwise the next attempt.
async fn anchor<T: Read + Write, C: Clock, B: Board>(
    ctx: &Ctx<'_, C, B>,
    client: &SharedClient<'_, T, C>,
) -> Result<(), SessionEnd> {
    let mut version = VersionResponse::default();
    let setback = match call(ctx, client, Exchange::Version, &mut version).await {
        Outcome::End(end) => return Err(end),
        Outcome::Retry(setback) => setback,
        Outcome::Done(answer) => match answer.reply.date {
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
                let mut anchor = ctx.state.anchor();
                match anchor.take(&sample) {
                    Some(skew_micros) => {
                        ctx.state.set_anchor(anchor);
                        ctx.apply(AgentEvent::Anchored {
                            board: ctx.board.snapshot(),
                        });
                        ctx.log.log(&LogEvent::ClockAnchored { skew_micros });
                        return Ok(());
                    }
                    None => Setback::Refused(Action::Reconnect),
                }
            }
        },
        // Not answers to a GET of /version (the policy maps its 404 to a reconnect).
        Outcome::Reregister | Outcome::RecreateLease | Outcome::AdoptExisting => {
            Setback::Refused(Action::Reconnect)
        }
    };
    ctx.retry_later(Timer::Anchor, setback);
    Ok(())
}
