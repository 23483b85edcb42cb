//! One exchange as every reconciler makes it: lock the shared client for exactly this request,
//! write the [`Exchange`]'s body, apply the status-code policy and hand back one flat
//! [`Outcome`]; keep the LED's error class and the log up to date. Also the one retry helper.
use core::cell::Cell;

use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use embassy_sync::mutex::Mutex;
use embedded_io_async::{Read, Write};

use crate::agent::config::AgentConfig;
use crate::agent::exchange::{Exchange, Sent};
use crate::agent::log::{Log, LogEvent};
use crate::agent::outcome::{Outcome, SessionEnd, Setback};
use crate::agent::phase::ApiErrorClass;
use crate::agent::policy::{decide, Action};
use crate::agent::state::{AgentEvent, AgentState};
use crate::agent::timers::Timer;
use crate::client::api::{ApiClient, Reply};
use crate::client::counters::ClientError;
use crate::json::extract::Visitor;
use crate::runtime::{Board, Clock, Instant};
use crate::xorshift::XorShift64;

/// kube-apiserver answers a write within 34.5 s even while etcd stalls: 504 Timeout, the write
/// not stored (recorded-2 G3j, G3l). A session that has not answered by then is dead.
pub(crate) const SERVER_ANSWERS_WRITES_WITHIN: core::time::Duration =
    core::time::Duration::from_millis(35_000);

/// The client, shared by the tasks of one session.
pub(crate) type SharedClient<'s, T, C> = Mutex<NoopRawMutex, ApiClient<'s, T, C>>;

/// What the reconcilers of one session share besides the client.
pub(crate) struct Ctx<'r, C, B> {
    pub clock: &'r C,
    pub config: &'r AgentConfig<'r>,
    pub state: &'r AgentState,
    pub board: &'r B,
    pub log: &'r dyn Log,
    /// xorshift64 state for retry jitter, seeded from the board's RNG per session. Jitter needs
    /// no cryptographic quality, and a `Cell` lets every task draw without a borrow.
    jitter: Cell<XorShift64>,
    /// A 2xx arrived in this session: it worked, so a failure of it is no reason to wait
    /// before the next connect.
    pub progressed: Cell<bool>,
}

impl<'r, C: Clock, B: Board> Ctx<'r, C, B> {
    pub fn new(
        clock: &'r C,
        config: &'r AgentConfig<'r>,
        state: &'r AgentState,
        board: &'r B,
        log: &'r dyn Log,
        seed: u64,
    ) -> Self {
        Ctx {
            clock,
            config,
            state,
            board,
            log,
            jitter: Cell::new(XorShift64::new(seed)),
            progressed: Cell::new(false),
        }
    }

    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    /// A pseudo-random u32 for backoff jitter.
    fn random(&self) -> u32 {
        let mut x = self.jitter.get();
        let r = x.next_u32();
        self.jitter.set(x);
        r
    }

    /// The one retry helper: `timer` fires again after the backoff `setback` calls for (the
    /// timer's own backoff, so every reconciler backs off independently).
    pub fn retry_later(&self, timer: Timer, setback: Setback) {
        let now = self.now();
        let last_chance = (timer == Timer::Renew)
            .then(|| self.last_chance_to_renew())
            .flatten()
            .filter(|at| now < *at);
        self.state
            .back_off(timer, setback, self.random(), now, last_chance.is_some());
        if let Some(at) = last_chance {
            if self.state.timer(Timer::Renew) > at {
                self.state.set_timer(Timer::Renew, at);
            }
        }
    }

    /// The last moment a renewal could still land before the Lease runs out (one request
    /// timeout before; `None` before the first renewal). Until then a renewal is urgent: it
    /// retries on the fast backoff (after what `Retry-After` asks) and never past this moment,
    /// because the congested backoff that keeps a fleet off a struggling server would let a
    /// short burst of 429/503 take a Node NotReady (the fault campaign's 503 bursts did). That
    /// costs a board a few requests per outage, once: after the Lease ran out the congested
    /// backoff rules alone.
    fn last_chance_to_renew(&self) -> Option<Instant> {
        let timing = &self.config.timing;
        let last = self.state.lease().last_success()?;
        let expires = last.saturating_add(timing.lease_duration());
        let margin = crate::runtime::duration_micros(timing.request_timeout);
        Some(Instant::from_micros(
            expires.as_micros().saturating_sub(margin),
        ))
    }

    /// How long an exchange may wait for a slow answer on this session: until the last moment
    /// from which a new session (connect and open: `connect_timeout`) could still renew the
    /// Lease before it runs out (`leaseDurationSeconds` after the last accepted renewal). Once
    /// that moment has passed nothing is gained by hurrying, and a new session costs the server
    /// a handshake: wait as long as kube-apiserver takes to answer a write whose storage stalls
    /// ([`SERVER_ANSWERS_WRITES_WITHIN`]), unless the server has been throttling. Before any
    /// renewal an exchange gets the plain request timeout.
    fn patience(&self) -> Option<Instant> {
        let timing = &self.config.timing;
        let last = self.state.lease().last_success()?;
        let expires = last.saturating_add(timing.lease_duration());
        let urgent_until = Instant::from_micros(
            expires
                .as_micros()
                .saturating_sub(crate::runtime::duration_micros(timing.connect_timeout)),
        );
        let now = self.now();
        if now < urgent_until || self.state.last_api_error() == Some(ApiErrorClass::Throttled) {
            // A server that sheds load (429/503) is overloaded, not stalled: a slow answer there
            // is a queue, and ending the session lets every task wait for the paced reconnect
            // instead of each queueing more (fleet_overload counts the requests).
            Some(urgent_until)
        } else {
            Some(now.saturating_add(SERVER_ANSWERS_WRITES_WITHIN))
        }
    }

    /// Applies a cross-task effect (see [`AgentEvent`]).
    pub fn apply(&self, event: AgentEvent) {
        self.state.apply(event, self.now(), self.config, self.log);
    }

    /// Sleeps until `timer` fires (for ever if it is not armed).
    pub async fn sleep_until(&self, timer: Timer) {
        self.clock.sleep_until(self.state.timer(timer)).await
    }
}

/// What a 2xx answered, and what the request carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Answer {
    pub reply: Reply,
    pub sent: Sent,
}

/// One exchange on the shared client; see the module notes.
///
/// `visitor` is a trait object, not a type parameter: the exchange's future (HTTP writer,
/// response reader and JSON extractor, ~3.8 KB of code on a C6) is then instantiated once
/// instead of once per response type (BENCHMARKS.md "Firmware size").
pub(crate) async fn call<T, C, B>(
    ctx: &Ctx<'_, C, B>,
    client: &SharedClient<'_, T, C>,
    exchange: Exchange<'_>,
    visitor: &mut dyn Visitor,
) -> Outcome<Answer>
where
    T: Read + Write,
    C: Clock,
    B: Board,
{
    let op = exchange.operation();
    let req = exchange.request(ctx.config);
    let mut sent = Sent::default();
    let mut guard = client.lock().await;
    let body = |buf: &mut [u8]| {
        let (len, carried) = exchange.write_body(ctx.state, ctx.config, ctx.now(), buf)?;
        sent = carried;
        Ok(len)
    };
    match guard
        .exchange_patiently(&req, body, visitor, ctx.patience())
        .await
    {
        Ok(reply) => {
            let action = decide(op, reply.status, reply.retry_after);
            if action != Action::Done {
                ctx.log.log(&LogEvent::Refused {
                    op,
                    status: reply.status,
                    action,
                    message: guard.failure().message.as_str(),
                });
            }
            drop(guard);
            ctx.state
                .set_last_api_error(ApiErrorClass::from_status(reply.status));
            if (200..300).contains(&reply.status) {
                ctx.progressed.set(true);
            }
            Outcome::of(Answer { reply, sent }, reply.status, action)
        }
        Err(error) => {
            drop(guard);
            if error == ClientError::Unusable {
                // The server closed the session after the previous response: not a failure.
                return Outcome::End(SessionEnd::Closed);
            }
            ctx.log.log(&LogEvent::ExchangeFailed { op, error });
            if error.ends_session() {
                ctx.state.set_last_api_error(Some(ApiErrorClass::Transport));
            }
            Outcome::failed(error)
        }
    }
}
