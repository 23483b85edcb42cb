//! The abortive close (RST instead of FIN) that a fault asks for, reached through the stream.
//!
//! A crashing server's sockets close with RST; SO_LINGER 0 set just before the drop makes the
//! kernel do that. Setting it through the stream the connection already holds, rather than
//! through a second handle on the socket, keeps one descriptor per connection: with two, a
//! hard limit of 20,000 open files stopped the server at 9,994 connections.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A stream whose coming close can be made abortive.
pub(crate) trait Abortive {
    /// Makes the next close of the stream an abortive one, where its transport has such a
    /// close; best effort (the connection is being torn down either way).
    fn set_abortive(&self);
}

impl Abortive for TcpStream {
    fn set_abortive(&self) {
        // Linger 0 does not block the drop: the close sends RST at once.
        let _ = self.set_zero_linger();
    }
}

impl<IO: Abortive> Abortive for tokio_rustls::server::TlsStream<IO> {
    fn set_abortive(&self) {
        self.get_ref().0.set_abortive();
    }
}

/// A stream without an abortive close (an in-memory pipe, a caller's own stream): a reset
/// closes it as any close does.
pub(crate) struct Orderly<IO>(pub IO);

impl<IO> Abortive for Orderly<IO> {
    fn set_abortive(&self) {}
}

impl<IO: AsyncRead + Unpin> AsyncRead for Orderly<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Orderly<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
