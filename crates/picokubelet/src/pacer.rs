//! The process-wide handshake pacer: at most K connects-plus-TLS-handshakes in flight across
//! every board of the process (`fleet --max-handshakes K`, default 4 per CPU).
//!
//! A fleet that lost its server reconnects all at once; without a limit, thousands of
//! handshakes queue at the server (and at this process's CPUs) past the connect time-out, every
//! one of them is retried, and the fleet never catches up (BENCHMARKS: 105,193 connect
//! time-outs at 5,000 boards). With the pacer a board waits for a slot *before* it connects, so
//! the server sees at most K handshakes from this process at any time.
//!
//! The slot is taken in [`PacedConnector`]'s `admit` (the core awaits it before it starts the
//! connect time-out, so a board's turn in the queue never eats its time-out and the server is
//! never handed a handshake with a second left to live), travels with the socket
//! ([`PacedSocket`]), and is released by [`PacedOpener`] when the handshake ends, however it
//! ends (a dropped future drops the slot too).
//!
//! The window adapts (additive increase, multiplicative decrease, as TCP's congestion window):
//! a connect or handshake abandoned at the agent's time-out halves the window (at least
//! one), each completed handshake gives one back, up to the limit. A server slow to finish
//! handshakes then gets them one or two at a time — ones that can finish — instead of K that
//! all time out after costing it their key exchange.

use std::sync::{Arc, Mutex};

use embedded_io_async::{ErrorType, Read, Write};
use picokubelet_core::client::session::{
    OpenContext, OpenError, OpenFailure, SessionBuffers, SessionOpener,
};
use picokubelet_core::runtime::Connector;
use rand_core::{CryptoRng, RngCore};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Handshakes in flight per CPU by default: a handshake is mostly waiting (network, the
/// server's signature), a few hundred microseconds of this process's CPU.
pub const HANDSHAKES_PER_CPU: usize = 4;

/// The default limit for a machine with `cpus` CPUs.
pub fn default_max_handshakes(cpus: usize) -> usize {
    cpus.max(1).saturating_mul(HANDSHAKES_PER_CPU)
}

/// The slots, shared by every board of the process (all worker threads).
#[derive(Clone, Debug)]
pub struct HandshakePacer {
    slots: Arc<Semaphore>,
    limit: usize,
    window: Arc<Mutex<Window>>,
}

/// The adaptive part: how many slots exist now, and how many held ones are to vanish when
/// they come back (the window shrank while they were out).
#[derive(Debug)]
struct Window {
    size: usize,
    owed: usize,
}

/// What the pacer shows in `/metrics`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacerFigures {
    pub in_flight: usize,
    pub window: usize,
    pub limit: usize,
}

impl HandshakePacer {
    /// At most `limit` (at least 1) handshakes at once.
    pub fn new(limit: usize) -> Self {
        let limit = limit.clamp(1, Semaphore::MAX_PERMITS);
        HandshakePacer {
            slots: Arc::new(Semaphore::new(limit)),
            limit,
            window: Arc::new(Mutex::new(Window {
                size: limit,
                owed: 0,
            })),
        }
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    fn window(&self) -> std::sync::MutexGuard<'_, Window> {
        // A poisoned lock only means another thread panicked mid-update of two integers.
        self.window.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Slots in flight, the current window and the limit.
    pub fn figures(&self) -> PacerFigures {
        let w = self.window();
        let existing = w.size.saturating_add(w.owed);
        PacerFigures {
            in_flight: existing.saturating_sub(self.slots.available_permits()),
            window: w.size,
            limit: self.limit,
        }
    }

    /// Handshakes in flight now.
    pub fn in_flight(&self) -> usize {
        self.figures().in_flight
    }

    async fn slot(&self) -> Option<Slot> {
        // The semaphore is never closed, so this is always Some.
        let permit = self.slots.clone().acquire_owned().await.ok()?;
        Some(Slot {
            permit: Some(permit),
            pacer: self.clone(),
            completed: false,
        })
    }

    /// A slot for a session opened outside the agent (a certificate request's, which has its
    /// own TLS stack): held until [`PacerTurn::done`], or shrinking the window when dropped
    /// without it, as the agent's.
    pub async fn turn(&self) -> Option<PacerTurn> {
        self.slot().await.map(PacerTurn)
    }

    /// A handshake completed: one more slot, up to the limit.
    fn grow(&self) {
        let mut w = self.window();
        if w.size >= self.limit {
            return;
        }
        w.size += 1;
        if w.owed > 0 {
            w.owed -= 1;
        } else {
            self.slots.add_permits(1);
        }
    }

    /// A connect or handshake timed out: halve the window (at least one slot).
    fn shrink(&self) {
        let mut w = self.window();
        let target = (w.size / 2).max(1);
        let cut = w.size - target;
        w.size = target;
        let gone = self.slots.forget_permits(cut);
        w.owed += cut - gone;
    }

    /// A slot comes back: it vanishes if the window shrank meanwhile.
    fn give_back(&self, permit: OwnedSemaphorePermit) {
        let mut w = self.window();
        if w.owed > 0 {
            w.owed -= 1;
            permit.forget();
        }
    }
}

/// One pacer slot, held from before the connect until the handshake ends. Dropped without
/// [`Slot::finish`], the connect or handshake was abandoned (the agent's time-out): the
/// window shrinks.
struct Slot {
    permit: Option<OwnedSemaphorePermit>,
    pacer: HandshakePacer,
    completed: bool,
}

impl Slot {
    /// The handshake ended: `opened` or refused (a refusal says nothing about load).
    fn finish(mut self, opened: bool) {
        self.completed = true;
        if opened {
            self.pacer.grow();
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if !self.completed {
            self.pacer.shrink();
        }
        if let Some(permit) = self.permit.take() {
            self.pacer.give_back(permit);
        }
    }
}

/// A pacer slot held by code that opens its sessions itself ([`HandshakePacer::turn`]).
pub struct PacerTurn(Slot);

impl PacerTurn {
    /// The handshake ended: `opened`, or refused or unreachable (neither says the server is
    /// busy). Dropping the turn instead means it was abandoned at a time-out.
    pub fn done(self, opened: bool) {
        self.0.finish(opened);
    }
}

/// A [`Connector`] that first takes a pacer slot.
pub struct PacedConnector<C> {
    inner: C,
    pacer: HandshakePacer,
    admitted: Option<Slot>,
}

impl<C> PacedConnector<C> {
    pub fn new(inner: C, pacer: HandshakePacer) -> Self {
        PacedConnector {
            inner,
            pacer,
            admitted: None,
        }
    }
}

impl<C: Connector> Connector for PacedConnector<C> {
    type Socket = PacedSocket<C::Socket>;
    type Error = C::Error;

    async fn admit(&mut self) {
        if self.admitted.is_none() {
            self.admitted = self.pacer.slot().await;
        }
    }

    async fn connect(&mut self) -> Result<Self::Socket, Self::Error> {
        let slot = match self.admitted.take() {
            Some(slot) => Some(slot),
            None => self.pacer.slot().await,
        };
        match self.inner.connect().await {
            Ok(socket) => Ok(PacedSocket { socket, slot }),
            Err(e) => {
                // Refused or unreachable: an answer, not a sign of a server too busy.
                if let Some(slot) = slot {
                    slot.finish(false);
                }
                Err(e)
            }
        }
    }
}

/// A connected socket still holding its pacer slot until the handshake is over.
pub struct PacedSocket<S> {
    socket: S,
    slot: Option<Slot>,
}

impl<S: ErrorType> ErrorType for PacedSocket<S> {
    type Error = S::Error;
}

impl<S: Read> Read for PacedSocket<S> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        self.socket.read(buf).await
    }
}

impl<S: Write> Write for PacedSocket<S> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.socket.write(buf).await
    }

    async fn flush(&mut self) -> Result<(), Self::Error> {
        self.socket.flush().await
    }
}

/// A [`SessionOpener`] that gives the socket's pacer slot back when the handshake is over.
pub struct PacedOpener<O>(pub O);

impl<S, O> SessionOpener<PacedSocket<S>> for PacedOpener<O>
where
    S: Read + Write,
    O: SessionOpener<PacedSocket<S>>,
{
    type Session<'a>
        = O::Session<'a>
    where
        Self: 'a,
        S: 'a;

    async fn open<'a, R: RngCore + CryptoRng>(
        &'a mut self,
        mut socket: PacedSocket<S>,
        bufs: &'a mut SessionBuffers,
        ctx: OpenContext<'_>,
        rng: &mut R,
    ) -> Result<Self::Session<'a>, OpenError>
    where
        PacedSocket<S>: 'a,
    {
        let slot = socket.slot.take();
        // On the heap for the handshake only: its state (key exchange, transcript, the server's
        // certificate chain being verified) is the largest of the agent's, and inline it would
        // sit in every board's task for the board's life; boxed, only the K handshakes in
        // flight hold it, and each board's task keeps just the session's own state.
        let opened = Box::pin(self.0.open(socket, bufs, ctx, rng)).await;
        if let Some(slot) = slot {
            slot.finish(opened.is_ok());
        }
        opened
    }

    fn last_failure(&self) -> Option<&dyn OpenFailure> {
        self.0.last_failure()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use picokubelet_core::client::PlainOpener;
    use std::cell::Cell;
    use std::rc::Rc;

    /// Connects at once; counts the handshakes that are between connect and open's end.
    struct Loopback;

    impl Connector for Loopback {
        type Socket = embedded_io_adapters::tokio_1::FromTokio<tokio::io::DuplexStream>;
        type Error = std::convert::Infallible;

        async fn connect(&mut self) -> Result<Self::Socket, Self::Error> {
            let (ours, _theirs) = tokio::io::duplex(64);
            Ok(embedded_io_adapters::tokio_1::FromTokio::new(ours))
        }
    }

    #[tokio::test]
    async fn time_outs_halve_the_window_and_handshakes_grow_it_back() {
        let pacer = HandshakePacer::new(8);
        let window = |p: &HandshakePacer| p.figures().window;
        // Three slots out, then abandoned (the agent's time-out dropped them): 8 → 4 → 2 → 1.
        let held: Vec<Slot> = [
            pacer.slot().await.unwrap(),
            pacer.slot().await.unwrap(),
            pacer.slot().await.unwrap(),
        ]
        .into();
        assert_eq!(pacer.in_flight(), 3);
        drop(held);
        assert_eq!(window(&pacer), 1);
        assert_eq!(pacer.in_flight(), 0);
        // Only one at a time now.
        let one = pacer.slot().await.unwrap();
        assert_eq!(pacer.slots.available_permits(), 0);
        // It completes: the window grows by one, and so on up to the limit.
        one.finish(true);
        assert_eq!(window(&pacer), 2);
        assert_eq!(pacer.slots.available_permits(), 2);
        for _ in 0..20 {
            pacer.slot().await.unwrap().finish(true);
        }
        assert_eq!(window(&pacer), 8);
        assert_eq!(pacer.slots.available_permits(), 8);
        // A refused handshake changes nothing.
        pacer.slot().await.unwrap().finish(false);
        assert_eq!(window(&pacer), 8);
        // Shrinking while slots are out: they vanish as they come back.
        let out: Vec<Slot> = vec![pacer.slot().await.unwrap(), pacer.slot().await.unwrap()];
        let lost = pacer.slot().await.unwrap();
        // 8 → 4 while two are out: four of the five free slots vanish at once.
        drop(lost);
        assert_eq!(window(&pacer), 4);
        for s in out {
            s.finish(true); // each grows the window by one: 5, 6
        }
        let f = pacer.figures();
        assert_eq!((f.in_flight, f.window), (0, 6));
        assert_eq!(pacer.slots.available_permits(), 6);
    }

    #[test]
    fn the_default_is_four_per_cpu() {
        assert_eq!(default_max_handshakes(2), 8);
        assert_eq!(default_max_handshakes(0), 4);
        assert_eq!(HandshakePacer::new(0).limit(), 1);
    }

    #[tokio::test]
    async fn no_more_than_the_limit_connect_until_their_handshakes_end() {
        let pacer = HandshakePacer::new(3);
        let local = tokio::task::LocalSet::new();
        let connected = Rc::new(Cell::new(0usize));
        let release = Rc::new(tokio::sync::Notify::new());
        local
            .run_until(async {
                let mut boards = Vec::new();
                for _ in 0..10 {
                    let pacer = pacer.clone();
                    let connected = connected.clone();
                    let release = release.clone();
                    boards.push(tokio::task::spawn_local(async move {
                        let mut connector = PacedConnector::new(Loopback, pacer);
                        let Ok(socket) = connector.connect().await;
                        connected.set(connected.get() + 1);
                        // The handshake lasts until the test releases it.
                        release.notified().await;
                        let mut opener = PacedOpener(PlainOpener);
                        let mut bufs = Box::new(SessionBuffers::new());
                        let ctx = OpenContext {
                            server_name: "x",
                            wall_now: None,
                            unchecked_validity: None,
                        };
                        let mut rng = rand_core::OsRng;
                        let opened = opener.open(socket, &mut bufs, ctx, &mut rng).await;
                        assert!(opened.is_ok());
                    }));
                }
                for round in 1..=4 {
                    tokio::task::yield_now().await;
                    let expected = (round * 3).min(10);
                    assert_eq!(connected.get(), expected, "round {round}");
                    assert!(pacer.in_flight() <= 3);
                    // End the handshakes in flight: as many more may connect.
                    for _ in 0..3 {
                        release.notify_one();
                    }
                    for _ in 0..5 {
                        tokio::task::yield_now().await;
                    }
                }
                for b in boards {
                    b.await.unwrap();
                }
                assert_eq!(pacer.in_flight(), 0);
            })
            .await;
    }
}
