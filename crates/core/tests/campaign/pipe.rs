//! The chaos proxy's byte-level faults (`picokubelet_testkit::ChaosProxy`: `reset_all`,
//! `reset_next_connections`, `refuse`, `stall`, `inject_garbage`, `cut_after_bytes`) on the
//! client's end of an in-memory `tokio::io::duplex` pipe, so they run under tokio's paused clock;
//! plus `truncate_next_record` (a TLS record cut short, then a clean end of stream), which a
//! proxy on TCP does with a FIN after part of a record.
//!
//! Same names and meaning as the proxy's, on one executor (`Rc`, `Cell`): a control takes effect
//! on the next read or write of every open socket, and a socket blocked in a read wakes up for it.

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;

use embedded_io_adapters::tokio_1::FromTokio;
use embedded_io_async::{Read, Write};
use tokio::io::DuplexStream;
use tokio::sync::watch;

/// TLS record header: content type, version, length.
const RECORD_HEADER: usize = 5;

/// The controls, shared by the campaign and every socket.
pub struct PipeChaos {
    /// Bumped by `reset_all`: sockets opened before fail with a reset.
    generation: Cell<u64>,
    reset_next: Cell<u32>,
    refuse: Cell<bool>,
    stall: Cell<bool>,
    garbage: RefCell<Option<Vec<u8>>>,
    /// Reset after this many more server → client bytes.
    cut_after: Cell<Option<u64>>,
    /// End the stream cleanly after this many bytes of the next server record.
    truncate_record: Cell<Option<usize>>,
    rng: Cell<u64>,
    /// Bumped by every control, so blocked sockets look again.
    changed: watch::Sender<u64>,
    pub stats: PipeStats,
}

/// What the pipe did, counted.
#[derive(Default)]
pub struct PipeStats {
    pub accepted: Cell<u64>,
    pub refused: Cell<u64>,
    pub resets: Cell<u64>,
    pub garbage_injections: Cell<u64>,
    pub cuts: Cell<u64>,
    pub truncated_records: Cell<u64>,
}

fn bump(c: &Cell<u64>) {
    c.set(c.get() + 1);
}

impl PipeChaos {
    pub fn new(seed: u64) -> Rc<Self> {
        Rc::new(PipeChaos {
            generation: Cell::new(0),
            reset_next: Cell::new(0),
            refuse: Cell::new(false),
            stall: Cell::new(false),
            garbage: RefCell::new(None),
            cut_after: Cell::new(None),
            truncate_record: Cell::new(None),
            rng: Cell::new(seed | 1),
            changed: watch::channel(0).0,
            stats: PipeStats::default(),
        })
    }

    fn poke(&self) {
        self.changed.send_modify(|n| *n += 1);
    }

    /// Resets every open connection.
    pub fn reset_all(&self) {
        self.generation.set(self.generation.get() + 1);
        self.poke();
    }

    /// The next `n` connections are accepted and reset at once.
    pub fn reset_next_connections(&self, n: u32) {
        self.reset_next.set(n);
    }

    /// Refuses connects (`true`) or accepts them again; open connections are left alone.
    pub fn refuse(&self, on: bool) {
        self.refuse.set(on);
    }

    /// Holds bytes both ways on every connection, new ones included; `false` delivers them.
    pub fn stall(&self, on: bool) {
        self.stall.set(on);
        self.poke();
    }

    /// `n` random bytes that are no TLS record, at the next server record boundary.
    pub fn inject_garbage(&self, n: usize) {
        let mut out = Vec::with_capacity(n + 8);
        while out.len() < n {
            out.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        out.truncate(n.max(1));
        if (20..=24).contains(&out[0]) {
            out[0] |= 0x80;
        }
        *self.garbage.borrow_mut() = Some(out);
        self.poke();
    }

    /// Resets the connection once `n` more server → client bytes went through.
    pub fn cut_after_bytes(&self, n: u64) {
        self.cut_after.set(Some(n));
        self.poke();
    }

    /// Ends the stream cleanly (no close_notify: a FIN) after `keep` bytes of the next record.
    pub fn truncate_next_record(&self, keep: usize) {
        self.truncate_record.set(Some(keep));
        self.poke();
    }

    /// Forgets pending one-shot faults (garbage, cut, truncation) that found no traffic.
    pub fn clear_pending(&self) {
        self.garbage.borrow_mut().take();
        self.cut_after.set(None);
        self.truncate_record.set(None);
        self.reset_next.set(0);
    }

    fn next_u64(&self) -> u64 {
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.set(x);
        x
    }

    /// A connect through the pipe: refused, reset at once, or a socket over `client_end`.
    pub fn connect(self: &Rc<Self>, client_end: DuplexStream) -> Result<ChaosSocket, &'static str> {
        if self.refuse.get() {
            bump(&self.stats.refused);
            return Err("connection refused");
        }
        bump(&self.stats.accepted);
        let mut generation = self.generation.get();
        if self.reset_next.get() > 0 {
            self.reset_next.set(self.reset_next.get() - 1);
            bump(&self.stats.resets);
            generation = generation.wrapping_sub(1);
        }
        Ok(ChaosSocket {
            inner: FromTokio::new(client_end),
            chaos: self.clone(),
            changed: self.changed.subscribe(),
            generation,
            inbox: Vec::new(),
            inbox_at: 0,
            record: RecordCursor::default(),
            held_out: Vec::new(),
            cut_left: None,
            eof_after: None,
            ended: false,
        })
    }
}

/// Where the server → client stream is within its TLS records.
#[derive(Default)]
struct RecordCursor {
    header: [u8; RECORD_HEADER],
    header_seen: usize,
    body_left: usize,
}

impl RecordCursor {
    fn at_boundary(&self) -> bool {
        self.header_seen == 0 && self.body_left == 0
    }

    /// Bytes up to the next boundary, or to the end of the header when the length is unknown.
    fn to_boundary(&self) -> usize {
        if self.body_left > 0 {
            self.body_left
        } else {
            RECORD_HEADER - self.header_seen
        }
    }

    fn advance(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.body_left > 0 {
                let n = self.body_left.min(bytes.len());
                self.body_left -= n;
                bytes = &bytes[n..];
                continue;
            }
            self.header[self.header_seen] = bytes[0];
            self.header_seen += 1;
            bytes = &bytes[1..];
            if self.header_seen == RECORD_HEADER {
                self.header_seen = 0;
                self.body_left = usize::from(u16::from_be_bytes([self.header[3], self.header[4]]));
            }
        }
    }
}

/// The client's end of one connection through the pipe.
pub struct ChaosSocket {
    inner: FromTokio<DuplexStream>,
    chaos: Rc<PipeChaos>,
    changed: watch::Receiver<u64>,
    generation: u64,
    /// Server bytes read and not yet given to the client.
    inbox: Vec<u8>,
    inbox_at: usize,
    record: RecordCursor,
    /// Client bytes held by a stall.
    held_out: Vec<u8>,
    cut_left: Option<u64>,
    eof_after: Option<usize>,
    ended: bool,
}

fn reset() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionReset, "connection reset by chaos")
}

impl ChaosSocket {
    fn check_reset(&self) -> io::Result<()> {
        if self.generation != self.chaos.generation.get() {
            return Err(reset());
        }
        Ok(())
    }

    async fn flush_held(&mut self) -> io::Result<()> {
        if !self.held_out.is_empty() {
            let held = std::mem::take(&mut self.held_out);
            self.inner.write_all(&held).await?;
        }
        Ok(())
    }

    /// Takes the one-shot faults aimed at "the next bytes" for this socket.
    fn arm(&mut self) {
        if let Some(n) = self.chaos.cut_after.take() {
            self.cut_left = Some(n);
        }
    }

    /// Fills the inbox; false at the end of the stream.
    async fn fill(&mut self) -> io::Result<bool> {
        let mut tmp = [0u8; 4096];
        loop {
            self.check_reset()?;
            if self.chaos.stall.get() {
                let _ = self.changed.changed().await;
                continue;
            }
            tokio::select! {
                r = self.inner.read(&mut tmp) => {
                    let n = r?;
                    if n == 0 {
                        return Ok(false);
                    }
                    self.inbox.clear();
                    self.inbox.extend_from_slice(&tmp[..n]);
                    self.inbox_at = 0;
                    return Ok(true);
                }
                _ = self.changed.changed() => {}
            }
        }
    }
}

impl embedded_io_async::ErrorType for ChaosSocket {
    type Error = io::Error;
}

impl Read for ChaosSocket {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, io::Error> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            self.check_reset()?;
            if self.ended || self.eof_after == Some(0) {
                self.ended = true;
                return Ok(0);
            }
            if self.chaos.stall.get() {
                let _ = self.changed.changed().await;
                continue;
            }
            self.flush_held().await?;
            self.arm();
            if self.cut_left == Some(0) {
                bump(&self.chaos.stats.cuts);
                bump(&self.chaos.stats.resets);
                // The connection is dead for good, like a TCP RST.
                self.generation = self.generation.wrapping_sub(1);
                return Err(reset());
            }
            if self.record.at_boundary() {
                if let Some(garbage) = self.chaos.garbage.borrow_mut().take() {
                    bump(&self.chaos.stats.garbage_injections);
                    // Whatever the client reads next is garbage; what fits now, the rest lost
                    // (a TLS client fails on the first byte anyway).
                    let n = garbage.len().min(buf.len());
                    buf[..n].copy_from_slice(&garbage[..n]);
                    return Ok(n);
                }
                if let Some(keep) = self.chaos.truncate_record.take() {
                    bump(&self.chaos.stats.truncated_records);
                    self.eof_after = Some(keep.max(1));
                }
            }
            if self.inbox_at == self.inbox.len() && !self.fill().await? {
                self.ended = true;
                return Ok(0);
            }
            let avail = self.inbox.len() - self.inbox_at;
            let mut n = avail.min(buf.len());
            let one_shot_pending =
                self.chaos.garbage.borrow().is_some() || self.chaos.truncate_record.get().is_some();
            if one_shot_pending {
                n = n.min(self.record.to_boundary());
            }
            if let Some(left) = self.cut_left {
                n = n.min(usize::try_from(left).unwrap_or(usize::MAX));
            }
            if let Some(left) = self.eof_after {
                n = n.min(left);
            }
            if n == 0 {
                continue;
            }
            let chunk = &self.inbox[self.inbox_at..self.inbox_at + n];
            buf[..n].copy_from_slice(chunk);
            self.record.advance(chunk);
            self.inbox_at += n;
            if let Some(left) = self.cut_left.as_mut() {
                *left -= n as u64;
            }
            if let Some(left) = self.eof_after.as_mut() {
                *left -= n;
            }
            return Ok(n);
        }
    }
}

impl Write for ChaosSocket {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, io::Error> {
        self.check_reset()?;
        if self.ended {
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "stream ended"));
        }
        if self.chaos.stall.get() {
            self.held_out.extend_from_slice(buf);
            return Ok(buf.len());
        }
        self.flush_held().await?;
        self.inner.write(buf).await
    }

    async fn flush(&mut self) -> Result<(), io::Error> {
        self.check_reset()?;
        if self.chaos.stall.get() {
            return Ok(());
        }
        self.flush_held().await?;
        self.inner.flush().await
    }
}
