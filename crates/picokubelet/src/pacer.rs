//! The process-wide handshake pacer: at most K connects-plus-TLS-handshakes in flight across
//! every board of the process (`fleet --max-handshakes K`, default 4 per CPU).
//!
//! A fleet that lost its server reconnects all at once; without a limit, thousands of
//! handshakes queue at the server (and at this process's CPUs) past the connect time-out, every
//! one of them is retried, and the fleet never catches up (BENCHMARKS: 105,193 connect
//! time-outs at 5,000 boards). With the pacer a board waits for a slot *before* it connects, so
//! the server sees at most K handshakes from this process at any time. The wait counts against
//! the agent's connect time-out: a board that cannot get a slot in time has made no handshake
//! at all, and the core widens its reconnect backoff as after any handshake that timed out.
//!
//! The slot is taken in [`PacedConnector::connect`], travels with the socket
//! ([`PacedSocket`]), and is released by [`PacedOpener`] when the handshake ends, however it
//! ends (a dropped future drops the slot too).

use std::sync::Arc;

use embedded_io_async::{ErrorType, Read, Write};
use picokubelet_core::client::session::{OpenContext, OpenError, SessionBuffers, SessionOpener};
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
}

impl HandshakePacer {
    /// At most `limit` (at least 1) handshakes at once.
    pub fn new(limit: usize) -> Self {
        let limit = limit.clamp(1, Semaphore::MAX_PERMITS);
        HandshakePacer {
            slots: Arc::new(Semaphore::new(limit)),
            limit,
        }
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Handshakes in flight now.
    pub fn in_flight(&self) -> usize {
        self.limit.saturating_sub(self.slots.available_permits())
    }

    async fn slot(&self) -> Option<OwnedSemaphorePermit> {
        // The semaphore is never closed, so this is always Some.
        self.slots.clone().acquire_owned().await.ok()
    }
}

/// A [`Connector`] that first takes a pacer slot.
pub struct PacedConnector<C> {
    pub inner: C,
    pub pacer: HandshakePacer,
}

impl<C: Connector> Connector for PacedConnector<C> {
    type Socket = PacedSocket<C::Socket>;
    type Error = C::Error;

    async fn connect(&mut self) -> Result<Self::Socket, Self::Error> {
        let slot = self.pacer.slot().await;
        let socket = self.inner.connect().await?;
        Ok(PacedSocket { socket, slot })
    }
}

/// A connected socket still holding its pacer slot until the handshake is over.
pub struct PacedSocket<S> {
    socket: S,
    slot: Option<OwnedSemaphorePermit>,
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
        let _slot = socket.slot.take();
        self.0.open(socket, bufs, ctx, rng).await
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
                        let mut connector = PacedConnector {
                            inner: Loopback,
                            pacer,
                        };
                        let Ok(socket) = connector.connect().await;
                        connected.set(connected.get() + 1);
                        // The handshake lasts until the test releases it.
                        release.notified().await;
                        let mut opener = PacedOpener(PlainOpener);
                        let mut bufs = Box::new(SessionBuffers::new());
                        let ctx = OpenContext {
                            server_name: "x",
                            wall_now: None,
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
