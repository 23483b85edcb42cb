//! The connection scope: connect, open, run the reconcilers over the session until it ends,
//! reconnect. State lives in [`AgentState`], so every reconciler resumes where it was.
use core::cell::Cell;
use core::convert::Infallible;

use embassy_futures::select::{select, select4, Either, Either4};
use embassy_sync::mutex::Mutex;
use rand_core::{CryptoRng, RngCore};

use crate::agent::call::{Ctx, SharedClient};
use crate::agent::clock::{ensure_anchored, reanchor_task};
use crate::agent::config::{AgentConfig, ConfigError};
use crate::agent::event_task::event_task;
use crate::agent::lease::lease_task;
use crate::agent::log::{Log, LogEvent};
use crate::agent::outcome::{SessionEnd, TaskExit};
use crate::agent::registration::ensure_registered;
use crate::agent::retry::Reconnect;
use crate::agent::state::AgentEvent;
use crate::agent::state::AgentState;
use crate::agent::status::status_task;
use crate::client::api::{ApiClient, Endpoint, HttpBuffers};
use crate::client::counters::ClientError;
use crate::client::session::{OpenContext, OpenError, SessionBuffers, SessionOpener};
use crate::runtime::{Board, Clock, Connector};
use crate::tls::{TlsError, TlsOpenError, ValidityWindow};
use embedded_io_async::{Read, Write};

/// The buffers the agent needs, owned by the body: 20 736 bytes of TLS records
/// ([`SessionBuffers`]) and 7 168 bytes for HTTP ([`HttpBuffers`]).
///
/// `repr(C)`, HTTP first: with [`SessionBuffers`]' transmit buffer before its receive buffer,
/// what an agent writes in steady state (the fronts of each buffer) lies in the first ~15 KB
/// and only a large TLS record reaches further, so a host that allocates zeroed pages backs ~4
/// pages per board instead of scattered ones (picokubelet's fleet, BENCHMARKS "Fleet").
#[cfg_attr(feature = "zeroed-buffers", derive(zerocopy::FromZeros))]
#[repr(C)]
pub struct AgentBuffers {
    pub http: HttpBuffers,
    pub session: SessionBuffers,
}

impl AgentBuffers {
    pub const fn new() -> Self {
        AgentBuffers {
            http: HttpBuffers::new(),
            session: SessionBuffers::new(),
        }
    }
}

impl Default for AgentBuffers {
    fn default() -> Self {
        Self::new()
    }
}

/// What a body provides: see [`crate::runtime`].
pub struct Runtime<C, N, O, R, B, L> {
    pub clock: C,
    pub connector: N,
    pub opener: O,
    pub rng: R,
    pub board: B,
    pub log: L,
}

/// Runs the agent for ever: validates `config` (the only way it returns), then connects,
/// anchors the clock, registers the Node and keeps Lease, status and events current, reconnecting
/// whenever the session ends. `state` may be read meanwhile (metrics, LED) from the same
/// executor. Cancel-safe: dropping the future drops the session; `state` stays consistent.
pub async fn run_agent<C, N, O, R, B, L>(
    rt: &mut Runtime<C, N, O, R, B, L>,
    config: &AgentConfig<'_>,
    state: &AgentState,
    bufs: &mut AgentBuffers,
) -> Result<Infallible, ConfigError>
where
    C: Clock,
    N: Connector,
    O: SessionOpener<N::Socket>,
    R: RngCore + CryptoRng,
    B: Board,
    L: Log,
{
    config.validate()?;
    config.check_fits(&mut bufs.http.tx)?;
    let Runtime {
        clock,
        connector,
        opener,
        rng,
        board,
        log,
    } = rt;
    let clock = &*clock;
    let metrics = state.metrics();
    let endpoint = Endpoint {
        host: config.host,
        token: config.token,
        token_source: config.token_source,
    };
    let mut reconnect = Reconnect::NEW;
    let mut next_connect = clock.now();
    // A board's first handshake comes before it knows the time: the opener leaves the chain's
    // validity here, and the session checks it once `Date` gave the time.
    let unchecked: Cell<Option<ValidityWindow>> = Cell::new(None);
    loop {
        clock.sleep_until(next_connect).await;
        let link_up = board.snapshot().link_up;
        state.apply(
            AgentEvent::Connecting { link_up },
            clock.now(),
            config,
            &*log,
        );
        connector.admit().await;
        let started = clock.now();
        let deadline = started.saturating_add(config.timing.connect_timeout);
        let socket = match select(connector.connect(), clock.sleep_until(deadline)).await {
            Either::First(Ok(socket)) => Ok(socket),
            Either::First(Err(error)) => {
                log.log(&LogEvent::ConnectFailed { error: &error });
                Err(ClientError::Connect)
            }
            Either::Second(()) => Err(ClientError::ConnectTimeout),
        };
        let opened = match socket {
            Ok(socket) => {
                let ctx = OpenContext {
                    server_name: config.server_name,
                    wall_now: state.wall_now(clock.now()),
                    unchecked_validity: Some(&unchecked),
                };
                let open = opener.open(socket, &mut bufs.session, ctx, rng);
                match select(open, clock.sleep_until(deadline)).await {
                    Either::First(result) => result.map_err(ClientError::Open),
                    Either::Second(()) => Err(ClientError::ConnectTimeout),
                }
            }
            Err(e) => Err(e),
        };
        let session = match opened {
            Ok(session) => session,
            // Bound whole and consumed: no session value is left to borrow the opener, whose
            // reason for the failure goes into the log.
            failed => {
                let error = failed.err().unwrap_or(ClientError::Connect);
                if let ClientError::Open(open) = error {
                    log.log(&LogEvent::OpenFailed {
                        error: open,
                        tls: opener.last_failure(),
                    });
                }
                if error == ClientError::ConnectTimeout {
                    log.log(&LogEvent::ConnectTimedOut);
                }
                metrics.record_error(error);
                let delay = reconnect.after(Some(error), rng.next_u32());
                next_connect = clock.now().add_millis(delay);
                continue;
            }
        };
        let now = clock.now();
        metrics.update(|c| {
            c.handshakes = c.handshakes.saturating_add(1);
            if c.handshakes > 1 {
                c.reconnects = c.reconnects.saturating_add(1);
            }
        });
        let handshakes = metrics.snapshot().handshakes;
        log.log(&LogEvent::SessionOpened { handshakes });
        let opened = AgentEvent::SessionOpened {
            reconnect: handshakes > 1,
        };
        state.apply(opened, now, config, &*log);
        let ctx = Ctx::new(clock, config, state, &*board, &*log, rng.next_u64());
        let client = Mutex::new(ApiClient::new(
            session,
            clock,
            endpoint,
            &mut bufs.http,
            metrics,
            config.timing.request_timeout,
        ));
        let end = run_session(&ctx, &client, unchecked.take()).await;
        drop(client);
        let lasted_ms =
            u64::try_from(clock.now().saturating_since(now).as_millis()).unwrap_or(u64::MAX);
        let delay = reconnect.after_session(end, ctx.progressed.get(), lasted_ms, rng.next_u32());
        log.log(&LogEvent::SessionEnded {
            why: end,
            retry_in_ms: delay,
        });
        next_connect = clock.now().add_millis(delay);
    }
}

/// The reconcilers over one session: anchor, register, then clock, lease, status and events
/// side by side, each holding the client for one exchange at a time.
/// `unchecked`: the validity of a chain verified before the time was known, checked as soon
/// as it is.
async fn run_session<T: Read + Write, C: Clock, B: Board>(
    ctx: &Ctx<'_, C, B>,
    client: &SharedClient<'_, T, C>,
    mut unchecked: Option<ValidityWindow>,
) -> SessionEnd {
    loop {
        if let Err(end) = ensure_anchored(ctx, client).await {
            return end;
        }
        if let Some(window) = unchecked.take() {
            if let Err(end) = check_validity(ctx, &window) {
                return end;
            }
        }
        if let Err(end) = ensure_registered(ctx, client).await {
            return end;
        }
        let exit = match select4(
            reanchor_task(ctx, client),
            lease_task(ctx, client),
            status_task(ctx, client),
            event_task(ctx, client),
        )
        .await
        {
            Either4::First(e) | Either4::Second(e) | Either4::Third(e) | Either4::Fourth(e) => e,
        };
        match exit {
            TaskExit::End(end) => return end,
            TaskExit::Reregister => ctx.apply(AgentEvent::NodeGone),
        }
    }
}

/// The chain's validity at the time just learnt: outside it, the session ends as a handshake
/// at this time would have been refused, with the same sentence.
fn check_validity<C: Clock, B: Board>(
    ctx: &Ctx<'_, C, B>,
    window: &ValidityWindow,
) -> Result<(), SessionEnd> {
    let Some(now) = ctx.state.wall_now(ctx.now()) else {
        return Ok(());
    };
    let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    let Err(refused) = window.check(now) else {
        return Ok(());
    };
    let failure = TlsOpenError::Handshake {
        error: TlsError::InvalidCertificate,
        verify: Some(refused),
    };
    ctx.log.log(&LogEvent::OpenFailed {
        error: OpenError::Certificate,
        tls: Some(&failure),
    });
    Err(SessionEnd::Failed(ClientError::Open(
        OpenError::Certificate,
    )))
}
