//! The seam between a connected socket and the byte stream HTTP runs over: TLS on every real
//! board, plain bytes in tests.
//!
//! embedded-tls borrows its record buffers for as long as a session lives and gives them back
//! only when the session is dropped, so the session is opened inside the agent's connection
//! scope and the buffers ([`SessionBuffers`]) are owned by the caller of
//! [`crate::agent::run_agent`], reused by every reconnect.
use core::future::Future;

use embedded_io_async::{ErrorKind, Read, Write};
use rand_core::{CryptoRng, RngCore};

use core::cell::Cell;

use crate::time::UnixMicros;
use crate::tls::check::Rejection;
use crate::tls::validity::ValidityWindow;

/// Receive record buffer of a session: one whole TLS record must fit, and the largest a peer may
/// send is 2^14 bytes of plaintext + 256 bytes of expansion (RFC 8446 5.2) = 16 640. embedded-tls
/// does not reassemble records; a smaller buffer fails with `InsufficientSpace` on the first big
/// response. (The max_fragment_length extension could shrink it, but Go's crypto/tls, i.e.
/// kube-apiserver, ignores it.) The TLS opener checks against this figure.
pub const TLS_RX_LEN: usize = 16_640;
/// Transmit record buffer of a session: writes are split into records of at most this size
/// minus 128 bytes of overhead, so it only has to hold the ClientHello (~250 bytes with SNI) and
/// a request head; 4 KiB sends a typical request (head + JSON body) as one record.
pub const TLS_TX_LEN: usize = 4_096;

/// The record buffers of one session: [`TLS_RX_LEN`] + [`TLS_TX_LEN`] = 20 736 bytes. Unused by
/// [`PlainOpener`].
/// `repr(C)`, receive buffer last: its tail is reached only by a large record (see
/// [`crate::agent::AgentBuffers`]).
#[cfg_attr(feature = "zeroed-buffers", derive(zerocopy::FromZeros))]
#[repr(C)]
pub struct SessionBuffers {
    pub tx: [u8; TLS_TX_LEN],
    pub rx: [u8; TLS_RX_LEN],
}

impl SessionBuffers {
    pub const fn new() -> Self {
        SessionBuffers {
            tx: [0; TLS_TX_LEN],
            rx: [0; TLS_RX_LEN],
        }
    }
}

impl Default for SessionBuffers {
    fn default() -> Self {
        Self::new()
    }
}

/// What an opener may need beyond the socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenContext<'a> {
    /// The name the server's certificate must carry (kubeconfig's `tls-server-name`, else the
    /// server's host name).
    pub server_name: &'a str,
    /// Wall time for the certificate's validity period, once the clock is anchored. The first
    /// session is opened before the first anchoring (the anchor comes over it), so `None` is
    /// normal at start.
    pub wall_now: Option<UnixMicros>,
    /// Without `wall_now`: where a verifying opener puts the validity of the chain it verified
    /// without the time (or `None` when it checked it), so the agent can check it once the
    /// first `Date` gives the time ([`crate::tls::validity`]). `None`: not asked for.
    pub unchecked_validity: Option<&'a Cell<Option<ValidityWindow>>>,
}

/// Why a session could not be opened. Small and `Copy`: it is kept as the client's last error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenError {
    /// The socket failed during the handshake.
    Io(ErrorKind),
    /// The handshake failed: an alert, an unexpected message, no common cipher suite.
    Handshake,
    /// The server's certificate did not verify against the configured CA or name.
    Certificate,
    /// Our own TLS configuration is unusable (a CA that does not parse, an identity too long).
    Config,
}

/// Turns a connected socket into the stream HTTP runs over.
///
/// `open` is called once per connection; the returned session borrows `bufs` (and the opener)
/// until it is dropped. The agent counts a successful `open` as one handshake.
pub trait SessionOpener<S: Read + Write> {
    type Session<'a>: Read + Write
    where
        Self: 'a,
        S: 'a;

    fn open<'a, R: RngCore + CryptoRng>(
        &'a mut self,
        socket: S,
        bufs: &'a mut SessionBuffers,
        ctx: OpenContext<'_>,
        rng: &mut R,
    ) -> impl Future<Output = Result<Self::Session<'a>, OpenError>>
    where
        S: 'a;

    /// Why the last `open` failed, with the facts, when the opener knows more than
    /// [`OpenError`] says (for the log; `None` otherwise).
    fn last_failure(&self) -> Option<&dyn OpenFailure> {
        None
    }
}

/// An opener's account of a failed open: one line a user can act on (`Display`, with the
/// verifier's facts for TLS) and, when the server's certificate was refused, which check failed.
pub trait OpenFailure: core::fmt::Display + core::fmt::Debug {
    /// The verifier's reason, when it refused the server.
    fn rejection(&self) -> Option<Rejection>;

    /// What to do, when the failure knows better than its [`Rejection`] says (e.g. the server
    /// refused our client certificate).
    fn advice(&self) -> Option<&'static str> {
        None
    }
}

/// No TLS: the socket is the session. For tests and for a loopback test server only; a real
/// API server is always reached over TLS.
#[derive(Clone, Copy, Debug, Default)]
pub struct PlainOpener;

impl<S: Read + Write> SessionOpener<S> for PlainOpener {
    type Session<'a>
        = S
    where
        S: 'a;

    async fn open<'a, R: RngCore + CryptoRng>(
        &'a mut self,
        socket: S,
        _bufs: &'a mut SessionBuffers,
        _ctx: OpenContext<'_>,
        _rng: &mut R,
    ) -> Result<S, OpenError>
    where
        S: 'a,
    {
        Ok(socket)
    }
}
