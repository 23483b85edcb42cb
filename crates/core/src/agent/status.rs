//! The status reconciler: one strategic-merge patch on `/status` with all nine conditions (the
//! four standard ones always: the lifecycle controller leaves them Unknown until we re-post
//! them) and the heap annotation.
//!
//! Pushed on a fixed cadence (`status_interval` from the registration), as soon as a status
//! flips — the board's [`Board::changed`] wakes the task, so a flip from the board reaches the
//! server in the same instant; `condition_check_interval` re-reads the board as well, for what
//! changes without a signal (time-based rules, the agent's own counters) — and at once after an
//! outage long enough for the lifecycle controller to have marked the node Unknown: the Node is
//! read first, its conditions adopted (a differing status is a transition now), then Ready is
//! re-asserted. A 404 means the Node is gone: register again.
use core::time::Duration;

use embassy_futures::select::{select3, Either3};
use embedded_io_async::{Read, Write};

use crate::agent::call::{call, Ctx, SharedClient};
use crate::agent::events::EventReason;
use crate::agent::exchange::Exchange;
use crate::agent::log::LogEvent;
use crate::agent::outcome::{Outcome, Setback, TaskExit};
use crate::agent::policy::Action;
use crate::agent::state::{AgentEvent, StatusReporter};
use crate::agent::timers::Timer;
use crate::k8s::response::{NodeResponse, ObjectMeta};
use crate::runtime::{Board, Clock, Instant};

/// `at + interval`, or `now + interval` if that has passed already (after an outage).
fn advance(at: Instant, interval: Duration, now: Instant) -> Instant {
    let next = at.saturating_add(interval);
    if next > now {
        next
    } else {
        now.saturating_add(interval)
    }
}

fn update<C, B, R>(ctx: &Ctx<'_, C, B>, f: impl FnOnce(&mut StatusReporter) -> R) -> R {
    let mut status = ctx.state.status();
    let r = f(&mut status);
    ctx.state.set_status(status);
    r
}

/// When the task must next look: the condition check, or the push (at once after a flip, but
/// never inside a backoff).
fn wake_at<C: Clock, B: Board>(ctx: &Ctx<'_, C, B>) -> Instant {
    let timers = ctx.state.timers();
    let pending = ctx.state.status().is_suspect() || ctx.state.model().needs_push();
    let retry = timers.at(Timer::StatusRetry);
    let push_at = if pending {
        retry
    } else {
        timers.at(Timer::StatusPeriodic).max(retry)
    };
    timers.at(Timer::StatusCheck).min(push_at)
}

/// Keeps the status current; returns only when the session ends or the Node is gone.
pub(crate) async fn status_task<T: Read + Write, C: Clock, B: Board>(
    ctx: &Ctx<'_, C, B>,
    client: &SharedClient<'_, T, C>,
) -> TaskExit {
    let timing = ctx.config.timing;
    loop {
        let woke = select3(
            ctx.clock.sleep_until(wake_at(ctx)),
            ctx.state.status_wake.wait(),
            ctx.board.changed(),
        )
        .await;
        let now = ctx.now();
        let timers = ctx.state.timers();
        if timers.is_due(Timer::StatusCheck, now) {
            evaluate(ctx, now);
            let next = advance(
                timers.at(Timer::StatusCheck),
                timing.condition_check_interval,
                now,
            );
            ctx.state.set_timer(Timer::StatusCheck, next);
        } else if matches!(woke, Either3::Third(())) {
            // The board changed: look now, the regular check stays on its cadence.
            evaluate(ctx, now);
        }
        // No renewal for longer than the lease duration: the node may be Unknown by now. Read
        // the Node once per such episode before pushing a Ready with an old time.
        let last_renewal = ctx.state.lease().last_success();
        let stale = last_renewal.is_some_and(|t| now.saturating_since(t) > timing.lease_duration());
        let suspect = update(ctx, |s| {
            if stale {
                s.stale_renewals(last_renewal)
            } else {
                s.is_suspect()
            }
        });
        if !ctx.state.timers().is_due(Timer::StatusRetry, now) {
            continue;
        }
        if suspect {
            match read_and_adopt(ctx, client).await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(exit) => return exit,
            }
        }
        let periodic = ctx.state.timers().is_due(Timer::StatusPeriodic, now);
        if periodic || ctx.state.model().needs_push() {
            if let Err(exit) = push_status(ctx, client, periodic, now).await {
                return exit;
            }
        }
    }
}

/// Re-reads the board and re-evaluates the conditions; logs each status flip.
fn evaluate<C: Clock, B: Board>(ctx: &Ctx<'_, C, B>, now: Instant) {
    let snapshot = ctx.board.snapshot();
    let wall = ctx.state.wall_now(now);
    let signals = ctx.state.agent_signals();
    let mut model = ctx.state.model();
    let flips = model.evaluate(now, wall, snapshot, signals);
    ctx.state.set_model(model);
    let mut flipped = false;
    for kind in flips.into_iter().flatten() {
        ctx.log.log(&LogEvent::ConditionFlipped { kind });
        flipped = true;
    }
    if flipped {
        ctx.state.led_changed();
    }
}

fn retry_later<C: Clock, B: Board>(ctx: &Ctx<'_, C, B>, setback: Setback) {
    ctx.retry_later(Timer::StatusRetry, setback);
    update(ctx, StatusReporter::push_failed);
}

/// The outcomes a status step has no special answer for; `Err` for a Node that is gone or a
/// session that ended.
fn setback_or_exit<A, C: Clock, B: Board>(
    ctx: &Ctx<'_, C, B>,
    outcome: Outcome<A>,
) -> Result<(), TaskExit> {
    let setback = match outcome {
        Outcome::End(end) => return Err(TaskExit::End(end)),
        Outcome::Reregister => {
            ctx.log.log(&LogEvent::NodeMissing);
            return Err(TaskExit::Reregister);
        }
        Outcome::Retry(setback) => setback,
        Outcome::Done(_) => Setback::Refused(Action::Done),
        Outcome::RecreateLease => Setback::Refused(Action::RecreateLease),
        Outcome::AdoptExisting => Setback::Refused(Action::AdoptExisting),
    };
    retry_later(ctx, setback);
    Ok(())
}

/// Reads the Node and adopts its conditions. `Ok(true)`: go on and push.
async fn read_and_adopt<T: Read + Write, C: Clock, B: Board>(
    ctx: &Ctx<'_, C, B>,
    client: &SharedClient<'_, T, C>,
) -> Result<bool, TaskExit> {
    let mut node = NodeResponse::default();
    match call(ctx, client, Exchange::ReadNode, &mut node).await {
        Outcome::Done(_) => {
            let wall = ctx.state.wall_now(ctx.now()).unwrap_or_default();
            let mut model = ctx.state.model();
            let adopted = model.adopt(&node, wall);
            ctx.state.set_model(model);
            ctx.log.log(&LogEvent::ConditionsAdopted {
                transitions: adopted.transitions,
            });
            update(ctx, |s| s.adopted(adopted.server_not_ready));
            Ok(true)
        }
        outcome => setback_or_exit(ctx, outcome).map(|()| false),
    }
}

async fn push_status<T: Read + Write, C: Clock, B: Board>(
    ctx: &Ctx<'_, C, B>,
    client: &SharedClient<'_, T, C>,
    periodic: bool,
    woke: Instant,
) -> Result<(), TaskExit> {
    let model = ctx.state.model();
    // A new address goes out with the board details (the addresses list is replaced whole).
    let moved = model.address_to_push();
    let profile = model.profile(ctx.config.profile);
    let mut meta = ObjectMeta::default();
    let exchange = Exchange::PatchNodeStatus {
        heap_free_bytes: model.latest().heap_free_bytes,
        details: moved.map(|_| &profile),
    };
    match call(ctx, client, exchange, &mut meta).await {
        Outcome::Done(answer) => {
            let now = ctx.now();
            let mut model = ctx.state.model();
            let address = moved.map(|_| profile.internal_ip);
            let bssid = model.latest().bssid_changes;
            model.pushed(answer.sent.generation, address, bssid);
            ctx.state.set_model(model);
            if periodic {
                let at = ctx.state.timers().at(Timer::StatusPeriodic);
                let next = advance(at, ctx.config.timing.status_interval, now);
                ctx.state.set_timer(Timer::StatusPeriodic, next);
            }
            ctx.state.succeeded(Timer::StatusRetry, woke);
            let announce = update(ctx, StatusReporter::pushed) && model.ready_is_true();
            ctx.log.log(&LogEvent::StatusPushed { periodic });
            if let Some(internal_ip) = moved {
                ctx.log.log(&LogEvent::AddressPushed { internal_ip });
            }
            if announce {
                ctx.apply(AgentEvent::Announce(EventReason::NodeReady));
            }
            Ok(())
        }
        outcome => setback_or_exit(ctx, outcome),
    }
}
