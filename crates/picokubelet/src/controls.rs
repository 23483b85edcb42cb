//! Per-board fault controls, for the terminal view's keys: cut the board's connection now, and
//! override its free heap (as `--signals-file heap_free_bytes=…` does). They live on the board's
//! worker thread (`Rc`, `Cell`) next to its `AgentState`; another thread reaches them only
//! through the worker's request channel ([`crate::fleet::FleetHandle::act`]).

use std::cell::Cell;
use std::rc::Rc;

use embedded_io_async::{ErrorType, Read, Write};
use tokio::sync::Notify;

/// What the view can do to one board.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BoardAction {
    /// Drop the board's session now, as a dead access point or a reset by a middlebox would:
    /// the agent's next read or write fails and it reconnects (one more handshake).
    CutSession,
    /// Free heap reads as this many bytes until `None` again.
    HeapOverride(Option<u32>),
}

/// Free heap the "low heap" key sets: as `--signals-file heap_free_bytes=10000`, far below
/// every chip profile's MemoryPressure threshold.
pub const LOW_HEAP_BYTES: u32 = 10_000;

/// One board's controls.
#[derive(Debug, Default)]
pub struct BoardControls {
    pub session: Rc<SessionCut>,
    pub heap: Rc<HeapOverride>,
}

impl BoardControls {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn apply(&self, action: BoardAction) {
        match action {
            BoardAction::CutSession => self.session.cut(),
            BoardAction::HeapOverride(bytes) => self.heap.set(bytes),
        }
    }
}

/// Cuts every socket opened before the last [`SessionCut::cut`]. Sockets remember the
/// generation they were opened in; a cut moves the generation on and wakes the ones waiting.
#[derive(Debug, Default)]
pub struct SessionCut {
    generation: Cell<u64>,
    cut: Notify,
}

impl SessionCut {
    pub fn cut(&self) {
        self.generation.set(self.generation.get().wrapping_add(1));
        self.cut.notify_waiters();
    }

    /// Wraps a freshly opened socket: it fails once this control cuts.
    pub fn guard<S>(self: &Rc<Self>, inner: S) -> CuttableSocket<S> {
        CuttableSocket {
            inner,
            generation: self.generation.get(),
            control: self.clone(),
        }
    }
}

/// A socket that fails with `ConnectionAborted` from the moment its [`SessionCut`] cuts, also
/// in the middle of a pending read or write.
#[derive(Debug)]
pub struct CuttableSocket<S> {
    inner: S,
    generation: u64,
    control: Rc<SessionCut>,
}

fn aborted() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::ConnectionAborted,
        "the connection was cut from the terminal view",
    )
}

/// Runs `op` unless or until `control` cuts the sockets of `generation`.
async fn unless_cut<T>(
    control: &SessionCut,
    generation: u64,
    op: impl std::future::Future<Output = Result<T, std::io::Error>>,
) -> Result<T, std::io::Error> {
    // Registered before the check, so a cut between the two is not missed.
    let cut = control.cut.notified();
    if control.generation.get() != generation {
        return Err(aborted());
    }
    tokio::select! {
        r = op => r,
        () = cut => Err(aborted()),
    }
}

impl<S: ErrorType<Error = std::io::Error>> ErrorType for CuttableSocket<S> {
    type Error = std::io::Error;
}

impl<S: Read + ErrorType<Error = std::io::Error>> Read for CuttableSocket<S> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        unless_cut(&self.control, self.generation, self.inner.read(buf)).await
    }
}

impl<S: Write + ErrorType<Error = std::io::Error>> Write for CuttableSocket<S> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        unless_cut(&self.control, self.generation, self.inner.write(buf)).await
    }

    async fn flush(&mut self) -> Result<(), Self::Error> {
        unless_cut(&self.control, self.generation, self.inner.flush()).await
    }
}

/// A free-heap figure that replaces the simulated (and the signals file's) one while set.
#[derive(Debug, Default)]
pub struct HeapOverride {
    bytes: Cell<Option<u32>>,
    changed: Notify,
}

impl HeapOverride {
    pub fn get(&self) -> Option<u32> {
        self.bytes.get()
    }

    pub fn set(&self, bytes: Option<u32>) {
        if self.bytes.replace(bytes) != bytes {
            // A permit: the board's `changed` sees it even if nobody waits right now.
            self.changed.notify_one();
        }
    }

    /// Completes at the next change (at once if one happened since the last completion).
    pub async fn changed(&self) {
        self.changed.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_io_adapters::tokio_1::FromTokio;

    #[tokio::test]
    async fn a_cut_fails_the_open_socket_and_spares_the_next() {
        let control = Rc::new(SessionCut::default());
        let (a, b) = tokio::io::duplex(64);
        let mut old = control.guard(FromTokio::new(a));
        let mut peer = FromTokio::new(b);
        old.write(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        peer.read(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        control.cut();
        let e = old.write(b"x").await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionAborted);
        assert!(old.read(&mut buf).await.is_err());
        let (c, _d) = tokio::io::duplex(64);
        let mut fresh = control.guard(FromTokio::new(c));
        assert_eq!(fresh.write(b"ok").await.unwrap(), 2);
    }

    #[tokio::test]
    async fn a_cut_ends_a_pending_read() {
        let control = Rc::new(SessionCut::default());
        let (a, _b) = tokio::io::duplex(64);
        let mut socket = control.guard(FromTokio::new(a));
        let mut buf = [0u8; 4];
        let read = socket.read(&mut buf);
        let cut = async {
            tokio::task::yield_now().await;
            control.cut();
        };
        let (r, ()) = tokio::join!(read, cut);
        assert_eq!(r.unwrap_err().kind(), std::io::ErrorKind::ConnectionAborted);
    }

    #[tokio::test(start_paused = true)]
    async fn a_heap_override_wakes_the_board_at_once() {
        use picokubelet_core::runtime::Board;
        let heap = Rc::new(HeapOverride::default());
        let board = crate::runtime::SimulatedBoard::new(7).with_heap_override(heap.clone());
        let simulated = board.snapshot().heap_free_bytes;
        assert_ne!(simulated, LOW_HEAP_BYTES);
        let start = tokio::time::Instant::now();
        let set = async {
            tokio::task::yield_now().await;
            heap.set(Some(LOW_HEAP_BYTES));
        };
        tokio::join!(board.changed(), set);
        assert_eq!(
            tokio::time::Instant::now(),
            start,
            "woken by the override, not by the next sample"
        );
        assert_eq!(board.snapshot().heap_free_bytes, LOW_HEAP_BYTES);
        heap.set(None);
        board.changed().await;
        assert_eq!(tokio::time::Instant::now(), start);
        assert_eq!(board.snapshot().heap_free_bytes, simulated);
    }

    #[tokio::test]
    async fn a_heap_change_is_not_lost_while_nobody_waits() {
        let heap = HeapOverride::default();
        heap.set(Some(LOW_HEAP_BYTES));
        // No waiter when it changed: the permit completes the next wait at once.
        heap.changed().await;
        assert_eq!(heap.get(), Some(LOW_HEAP_BYTES));
        heap.set(None);
        heap.changed().await;
        assert_eq!(heap.get(), None);
    }
}
