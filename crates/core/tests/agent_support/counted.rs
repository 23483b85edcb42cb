//! A client socket that counts the bytes crossing it (the TLS records, both ways), shared by the
//! TLS tests and the bytes-on-the-wire benchmark.
use std::cell::Cell;
use std::rc::Rc;

use embedded_io_adapters::tokio_1::FromTokio;
use tokio::io::DuplexStream;

/// Bytes (and TLS records) through the client's end of the pipes, both ways.
#[derive(Default)]
pub struct Wire {
    pub tx: Cell<u64>,
    pub rx: Cell<u64>,
    /// TLS records the client sent and received (their 5-byte headers, read off the stream).
    pub tx_records: Cell<u64>,
    pub rx_records: Cell<u64>,
    /// Reads that returned bytes (each a `recv` on a real socket).
    pub reads: Cell<u64>,
}

impl Wire {
    pub fn total(&self) -> u64 {
        self.tx.get() + self.rx.get()
    }
}

/// The client's end of one connection, counting what crosses it.
pub struct Counted {
    pub inner: FromTokio<DuplexStream>,
    pub wire: Rc<Wire>,
    tx_scan: RecordScan,
    rx_scan: RecordScan,
}

impl Counted {
    pub fn new(inner: FromTokio<DuplexStream>, wire: Rc<Wire>) -> Self {
        Counted {
            inner,
            wire,
            tx_scan: RecordScan::default(),
            rx_scan: RecordScan::default(),
        }
    }
}

/// Finds TLS record boundaries in one direction of a connection: a 5-byte header (type,
/// version, length), then `length` bytes.
#[derive(Default)]
struct RecordScan {
    header: Vec<u8>,
    remaining: usize,
}

impl RecordScan {
    /// Records that start in `bytes`.
    fn scan(&mut self, mut bytes: &[u8]) -> u64 {
        let mut started = 0;
        while !bytes.is_empty() {
            if self.remaining > 0 {
                let n = self.remaining.min(bytes.len());
                self.remaining -= n;
                bytes = &bytes[n..];
                continue;
            }
            let need = 5 - self.header.len();
            let n = need.min(bytes.len());
            self.header.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if self.header.len() == 5 {
                started += 1;
                self.remaining = usize::from(u16::from_be_bytes([self.header[3], self.header[4]]));
                self.header.clear();
            }
        }
        started
    }
}

impl embedded_io_async::ErrorType for Counted {
    type Error = std::io::Error;
}

impl embedded_io_async::Read for Counted {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        let n = self.inner.read(buf).await?;
        self.wire.rx.set(self.wire.rx.get() + n as u64);
        let records = self.rx_scan.scan(&buf[..n]);
        self.wire
            .rx_records
            .set(self.wire.rx_records.get() + records);
        if n > 0 {
            self.wire.reads.set(self.wire.reads.get() + 1);
        }
        Ok(n)
    }
}

impl embedded_io_async::Write for Counted {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        let n = self.inner.write(buf).await?;
        self.wire.tx.set(self.wire.tx.get() + n as u64);
        let records = self.tx_scan.scan(&buf[..n]);
        self.wire
            .tx_records
            .set(self.wire.tx_records.get() + records);
        Ok(n)
    }
    async fn flush(&mut self) -> Result<(), Self::Error> {
        self.inner.flush().await
    }
}
