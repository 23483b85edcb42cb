//! The agent's [`SessionOpener`] for TLS: every body (board and virtual board) opens its sessions
//! through this one type, so verification is decided once, here.
use embedded_io_async::{Read, Write};
use rand_core::{CryptoRng, RngCore};

use super::check::{Rejection, ServerIdentity};
use super::error::VerifyError;
use super::open::{open_noting, ClientIdentity, TlsOpenError, TlsVerification};
use crate::client::session::{OpenContext, OpenError, OpenFailure, SessionBuffers, SessionOpener};
use embedded_tls::{Aes128GcmSha256, TlsConnection};

/// How the server's certificate is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerTrust<'c> {
    /// Against this cluster CA (DER, see [`super::ca::decode_ca`]). The default and the only
    /// sound choice.
    Ca(&'c [u8]),
    /// Not at all (kubeconfig `insecure-skip-tls-verify: true`). The body must log this loudly
    /// whenever it builds an opener with it.
    InsecureSkipVerify,
}

/// Opens verified TLS 1.3 sessions for the agent and keeps why the last open failed (for
/// logs, the LED and metrics; the agent itself only sees [`OpenError`]): print
/// [`TlsOpener::last_error`] (`Display`) next to the agent's `OpenFailed`.
#[derive(Debug)]
pub struct TlsOpener<'c> {
    trust: ServerTrust<'c>,
    client: Option<ClientIdentity<'c>>,
    last_error: Option<TlsOpenError>,
}

impl<'c> TlsOpener<'c> {
    pub const fn new(trust: ServerTrust<'c>) -> Self {
        TlsOpener {
            trust,
            client: None,
            last_error: None,
        }
    }

    /// Authenticate with this client certificate and key whenever the server asks for one
    /// (kubeconfig `client-certificate` / `client-key`).
    pub const fn with_client_identity(mut self, client: ClientIdentity<'c>) -> Self {
        self.client = Some(client);
        self
    }

    /// The client certificate sent when the server asks, if any.
    pub const fn client_identity(&self) -> Option<ClientIdentity<'c>> {
        self.client
    }

    /// Why the last refused handshake was refused, if the verifier said.
    pub const fn last_rejection(&self) -> Option<Rejection> {
        match &self.last_error {
            Some(e) => e.rejection(),
            None => None,
        }
    }

    /// Why the last open failed (handshake error, or the verifier's reason with its facts),
    /// `None` after a successful open. `Display` gives one line a user can act on.
    pub const fn last_error(&self) -> Option<&TlsOpenError> {
        self.last_error.as_ref()
    }

    /// The verifier's reason with its facts, if it refused the server at the last open.
    pub const fn last_verify_error(&self) -> Option<&VerifyError> {
        match &self.last_error {
            Some(e) => e.verify_error(),
            None => None,
        }
    }

    pub const fn trust(&self) -> ServerTrust<'c> {
        self.trust
    }
}

impl OpenFailure for TlsOpenError {
    fn rejection(&self) -> Option<Rejection> {
        TlsOpenError::rejection(self)
    }

    fn advice(&self) -> Option<&'static str> {
        TlsOpenError::advice(self)
    }
}

fn classify(e: &TlsOpenError) -> OpenError {
    match e {
        TlsOpenError::BufferTooSmall => OpenError::Config,
        TlsOpenError::NotAuthenticated | TlsOpenError::ClientCertificateRefused { .. } => {
            OpenError::Certificate
        }
        TlsOpenError::Handshake {
            verify: Some(_), ..
        } => OpenError::Certificate,
        TlsOpenError::Handshake {
            error,
            verify: None,
        } => {
            use embedded_tls::TlsError;
            match error {
                TlsError::Io(kind) => OpenError::Io(*kind),
                TlsError::InvalidCertificate | TlsError::InvalidSignature => OpenError::Certificate,
                _ => OpenError::Handshake,
            }
        }
    }
}

impl<S: Read + Write> SessionOpener<S> for TlsOpener<'_> {
    type Session<'a>
        = TlsConnection<'a, S, Aes128GcmSha256>
    where
        Self: 'a,
        S: 'a;

    fn last_failure(&self) -> Option<&dyn OpenFailure> {
        self.last_error.as_ref().map(|e| e as &dyn OpenFailure)
    }

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
        let client = self.client;
        self.open_as_client(socket, bufs, ctx, client, rng).await
    }
}

impl<'c> TlsOpener<'c> {
    /// [`SessionOpener::open`] presenting `client` instead of the identity the opener was built
    /// with: the seam for a body whose client certificate changes while the agent runs (a
    /// renewed one, an exec plugin's), read just before each handshake. The session borrows
    /// only `bufs`, so `client` may borrow a value that lives for this call alone.
    pub async fn open_as_client<'a, S: Read + Write + 'a, R: RngCore + CryptoRng>(
        &'a mut self,
        socket: S,
        bufs: &'a mut SessionBuffers,
        ctx: OpenContext<'_>,
        client: Option<ClientIdentity<'_>>,
        rng: &mut R,
    ) -> Result<TlsConnection<'a, S, Aes128GcmSha256>, OpenError> {
        let identity = ServerIdentity::parse(ctx.server_name);
        let verification = match self.trust {
            ServerTrust::Ca(ca_der) => TlsVerification::Verify {
                ca_der,
                identity,
                now: ctx.wall_now,
            },
            ServerTrust::InsecureSkipVerify => TlsVerification::InsecureSkipVerify { identity },
        };
        let opened = open_noting(
            socket,
            &mut bufs.rx,
            &mut bufs.tx,
            verification,
            client,
            ctx.unchecked_validity,
            rng,
        );
        match opened.await {
            Ok(session) => {
                self.last_error = None;
                Ok(session)
            }
            Err(e) => {
                self.last_error = Some(e);
                Err(classify(&e))
            }
        }
    }
}
