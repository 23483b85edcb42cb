//! The TLS opener every board uses: the core's [`TlsOpener`], and, when the client certificate
//! can change while the agent runs (an exec plugin's `clientCertificateData`), the certificate
//! read just before each handshake through [`CertificateSource`] — the TLS counterpart of the
//! core's `TokenSource` — so a new certificate reaches the running agent on its next
//! connection, without a restart.
//!
//! The time for the certificates' validity: the agent's (anchored to the server's `Date`) once
//! it has one, this machine's clock before — a host's clock is trusted from the first
//! handshake, where a board without a real-time clock checks its first chain only once the
//! server's `Date` gave it the time (the core's `tls::validity`).

use embedded_io_async::{Read, Write};
use picokubelet_core::client::session::{
    OpenContext, OpenError, OpenFailure, SessionBuffers, SessionOpener,
};
use picokubelet_core::time::UnixMicros;
use picokubelet_core::tls::{Aes128GcmSha256, ClientIdentity, TlsConnection, TlsOpener};
use rand_core::{CryptoRng, RngCore};

pub use crate::kubeconfig::CertificateSource;
use crate::kubeconfig::ClientCertificate;

/// See the module notes.
pub struct BoardOpener<'c> {
    inner: TlsOpener<'c>,
    live: Option<&'c dyn CertificateSource>,
}

impl<'c> BoardOpener<'c> {
    pub fn new(inner: TlsOpener<'c>) -> Self {
        BoardOpener { inner, live: None }
    }

    /// Present this fixed certificate (a kubeconfig's, a bootstrapped board's).
    pub fn with_client_identity(self, identity: ClientIdentity<'c>) -> Self {
        BoardOpener {
            inner: self.inner.with_client_identity(identity),
            live: None,
        }
    }

    /// Present whatever `source` holds at each handshake.
    pub fn with_live_certificate(self, source: &'c dyn CertificateSource) -> Self {
        BoardOpener {
            live: Some(source),
            ..self
        }
    }

    /// The core opener (its last error, its trust).
    pub fn tls(&self) -> &TlsOpener<'c> {
        &self.inner
    }
}

impl<S: Read + Write> SessionOpener<S> for BoardOpener<'_> {
    type Session<'a>
        = TlsConnection<'a, S, Aes128GcmSha256>
    where
        Self: 'a,
        S: 'a;

    async fn open<'a, R: RngCore + CryptoRng>(
        &'a mut self,
        socket: S,
        bufs: &'a mut SessionBuffers,
        ctx: OpenContext<'_>,
        rng: &mut R,
    ) -> Result<Self::Session<'a>, OpenError>
    where
        S: 'a,
    {
        let ctx = OpenContext {
            wall_now: ctx.wall_now.or_else(system_now),
            ..ctx
        };
        match self.live {
            None => SessionOpener::<S>::open(&mut self.inner, socket, bufs, ctx, rng).await,
            Some(source) => {
                // Held for this handshake only: the session keeps no reference to it.
                let certificate = source.certificate();
                let identity = certificate.as_deref().map(ClientCertificate::identity);
                self.inner
                    .open_as_client(socket, bufs, ctx, identity, rng)
                    .await
            }
        }
    }

    fn last_failure(&self) -> Option<&dyn OpenFailure> {
        SessionOpener::<S>::last_failure(&self.inner)
    }
}

/// This machine's wall clock; `None` before 1970 (then nothing can be checked).
fn system_now() -> Option<UnixMicros> {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    Some(UnixMicros(
        u64::try_from(since.as_micros()).unwrap_or(u64::MAX),
    ))
}
