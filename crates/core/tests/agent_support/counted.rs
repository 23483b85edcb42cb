//! A client socket that counts the bytes crossing it (the TLS records, both ways), shared by the
//! TLS tests and the bytes-on-the-wire benchmark.
use std::cell::Cell;
use std::rc::Rc;

use embedded_io_adapters::tokio_1::FromTokio;
use tokio::io::DuplexStream;

/// Bytes through the client's end of the pipes, both ways.
#[derive(Default)]
pub struct Wire {
    pub tx: Cell<u64>,
    pub rx: Cell<u64>,
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
}

impl embedded_io_async::ErrorType for Counted {
    type Error = std::io::Error;
}

impl embedded_io_async::Read for Counted {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        let n = self.inner.read(buf).await?;
        self.wire.rx.set(self.wire.rx.get() + n as u64);
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
        Ok(n)
    }
    async fn flush(&mut self) -> Result<(), Self::Error> {
        self.inner.flush().await
    }
}
