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
use crate::runtime::{Board, Clock, Instant};
use crate::time::{DateSample, UnixMicros, WallClock};

/// The clock reconciler's state: the wall clock and what the anchorings measured.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ClockAnchor {
    wall: WallClock,
    /// Skew at the last re-anchoring (ours minus the server's).
    last_skew: Option<i64>,
    anchors: u32,
}

impl ClockAnchor {
    pub const NEW: ClockAnchor = ClockAnchor {
        wall: WallClock::new(),
        last_skew: None,
        anchors: 0,
    };

    /// Wall time at `mono` (`None` before the first anchoring).
    pub fn wall_now(&self, mono: Instant) -> Option<UnixMicros> {
        self.wall.now(mono.as_micros())
    }

    pub fn is_anchored(&self) -> bool {
        self.wall.is_anchored()
    }

    pub fn last_skew(&self) -> Option<i64> {
        self.last_skew
    }

    /// Successful anchorings (the first one included).
    pub fn anchors(&self) -> u32 {
        self.anchors
    }

    /// Anchors on `sample`; `Some(skew)` when it was accepted (the skew is `None` for the first
    /// anchoring).
    fn take(&mut self, sample: &DateSample) -> Option<Option<i64>> {
        let reanchoring = self.wall.anchor(sample).ok()?;
        self.anchors = self.anchors.saturating_add(1);
        if let Some(r) = reanchoring {
            self.last_skew = Some(r.skew_micros);
        }
        Some(reanchoring.map(|r| r.skew_micros))
    }
}

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
