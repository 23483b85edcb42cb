//! One exchange as every reconciler makes it: lock the shared client for exactly this request,
//! apply the status-code policy, keep the LED's error class and the log up to date.
use core::cell::Cell;

use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use embassy_sync::mutex::Mutex;
use embedded_io_async::{Read, Write};

use crate::agent::config::AgentConfig;
use crate::agent::log::{Log, LogEvent};
use crate::agent::policy::{decide, Action, Operation};
use crate::agent::retry::Retry;
use crate::agent::run::SessionEnd;
use crate::agent::state::AgentState;
use crate::client::api::{ApiClient, ApiRequest, Reply};
use crate::client::counters::ClientError;
use crate::json::extract::Visitor;
use crate::k8s::identity::BodyError;
use crate::led::ApiErrorClass;
use crate::runtime::{Board, Clock, Instant};

/// The client, shared by the tasks of one session.
pub(crate) type SharedClient<'s, T, C> = Mutex<NoopRawMutex, ApiClient<'s, T, C>>;

/// What the reconcilers of one session share besides the client.
pub(crate) struct Ctx<'r, C> {
    pub clock: &'r C,
    pub config: &'r AgentConfig<'r>,
    pub state: &'r AgentState,
    pub board: &'r dyn Board,
    pub log: &'r dyn Log,
    /// xorshift64 state for retry jitter, seeded from the board's RNG per session. Jitter needs
    /// no cryptographic quality, and a `Cell` lets every task draw without a borrow.
    jitter: Cell<u64>,
    /// A 2xx arrived in this session: it worked, so a failure of it is no reason to wait
    /// before the next connect.
    pub progressed: Cell<bool>,
}

impl<'r, C: Clock> Ctx<'r, C> {
    pub fn new(
        clock: &'r C,
        config: &'r AgentConfig<'r>,
        state: &'r AgentState,
        board: &'r dyn Board,
        log: &'r dyn Log,
        seed: u64,
    ) -> Self {
        Ctx {
            clock,
            config,
            state,
            board,
            log,
            // xorshift must not start at 0.
            jitter: Cell::new(seed | 1),
            progressed: Cell::new(false),
        }
    }

    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    /// A pseudo-random u32 for backoff jitter.
    pub fn random(&self) -> u32 {
        let mut x = self.jitter.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.jitter.set(x);
        (x >> 32) as u32
    }

    /// `now + delay_ms`.
    pub fn after_ms(&self, delay_ms: u64) -> Instant {
        self.now().add_millis(delay_ms)
    }

    /// The delay after `setback`, from `retry`'s backoff.
    pub fn delay_for(&self, retry: &mut Retry, setback: Setback) -> u64 {
        match setback {
            Setback::Refused(action) => retry.after_action(action, self.random()),
            Setback::Failed(error) => retry.after_error(error, self.random()),
        }
    }
}

/// Why a reconciler must try again later.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Setback {
    /// The server answered, and the policy did not call it done.
    Refused(Action),
    /// The exchange failed but the session lives on.
    Failed(ClientError),
}

/// A response and the policy's decision on it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Answer {
    pub reply: Reply,
    pub action: Action,
}

/// Why `call` has no answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The session is over; every task leaves and the agent reconnects.
    End(SessionEnd),
    /// The exchange failed but the session is fine (nothing was sent, or a response body was
    /// broken but framed).
    Local(ClientError),
}

/// One exchange on the shared client; see the module notes. `Action::Reconnect` (5xx) ends the
/// session here, so reconcilers never see it.
pub(crate) async fn call<T, C, V, F>(
    ctx: &Ctx<'_, C>,
    client: &SharedClient<'_, T, C>,
    op: Operation,
    req: ApiRequest<'_>,
    body: F,
    visitor: &mut V,
) -> Result<Answer, Failure>
where
    T: Read + Write,
    C: Clock,
    V: Visitor + ?Sized,
    F: FnOnce(&mut [u8]) -> Result<usize, BodyError>,
{
    let mut guard = client.lock().await;
    match guard.exchange(&req, body, visitor).await {
        Ok(reply) => {
            let action = decide(op, reply.status, reply.retry_after);
            let success = (200..300).contains(&reply.status);
            ctx.state
                .with(|s| s.last_api_error = ApiErrorClass::from_status(reply.status));
            if success {
                ctx.progressed.set(true);
            }
            if action != Action::Done {
                ctx.log.log(&LogEvent::Refused {
                    op,
                    status: reply.status,
                    action,
                    message: guard.failure().message.as_str(),
                });
            }
            drop(guard);
            if action == Action::Reconnect {
                return Err(Failure::End(SessionEnd::ServerError(reply.status)));
            }
            Ok(Answer { reply, action })
        }
        Err(error) => {
            drop(guard);
            if error == ClientError::Unusable {
                // The server closed the session after the previous response: not a failure.
                return Err(Failure::End(SessionEnd::Closed));
            }
            ctx.log.log(&LogEvent::ExchangeFailed { op, error });
            if error.ends_session() {
                ctx.state
                    .with(|s| s.last_api_error = Some(ApiErrorClass::Transport));
                Err(Failure::End(SessionEnd::Failed(error)))
            } else {
                Err(Failure::Local(error))
            }
        }
    }
}

impl<C: Clock> Ctx<'_, C> {
    /// Queues a Node Event (rate-limited per reason) and wakes the event task.
    pub fn queue_event(&self, reason: crate::agent::events::EventReason) {
        let now = self.now();
        let min_interval = self.config.timing.event_min_interval;
        let pushed = self.state.with(|s| {
            let at = s.wall_now(now);
            s.events.queue.push(reason, at, now, min_interval)
        });
        match pushed {
            crate::agent::events::Pushed::Queued => {}
            crate::agent::events::Pushed::QueuedDroppingOldest(old) => {
                self.log.log(&LogEvent::EventDropped {
                    reason: old.as_str(),
                })
            }
            crate::agent::events::Pushed::RateLimited => self.log.log(&LogEvent::EventDropped {
                reason: reason.as_str(),
            }),
        }
        self.state.event_wake.signal(());
    }
}
