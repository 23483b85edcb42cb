//! The board's side of TLS bootstrap, one step per function so the body can report stages and
//! drive the LED between them; every buffer is the caller's ([`BootstrapBuffers`], stated
//! sizes), nothing is allocated.
//!
//! 1. [`discover`] (a record with a CA hash only): GET `kube-public/cluster-info` anonymously
//!    over a session that does not verify the server, check it ([`super::discovery`]), and
//!    keep its CA.
//! 2. [`CsrRequest::new`]: a fresh P-256 key from the board's RNG and the CSR body for
//!    `system:node:<name>`.
//! 3. [`request_certificate`]: one session (verified against the CA) with the bootstrap token;
//!    the CSR is posted, then polled ([`super::session::csr_session`]); called again with the
//!    same flow after a broken session.
//! 4. The certificate and key go to the identity store ([`super::store`]) and become the
//!    agent's client identity; the token is not sent again until the certificate expires or
//!    is refused.

use core::time::Duration;

use p256::ecdsa::SigningKey;
use rand_core::{CryptoRng, RngCore};

use super::csr_flow::CsrFlow;
use super::discovery::{check_cluster_info, DiscoveryError};
use super::session::{csr_session, CsrEvent, SessionEnd};
use crate::client::{
    no_body, ApiClient, ApiRequest, ClientMetrics, Endpoint, HttpBuffers, OpenContext,
    SessionBuffers, SessionOpener,
};
use crate::http::request::BearerToken;
use crate::k8s::cluster_info::{ClusterInfoResponse, KUBECONFIG_TEXT_MAX};
use crate::k8s::csr::{write_csr_create, CERTIFICATE_TEXT_MAX, CSR_CREATE_MAX_LEN};
use crate::k8s::name::NodeName;
use crate::k8s::paths::ApiPath;
use crate::provision::{CLIENT_KEY_LEN, MAX_CLIENT_CERT_LEN};
use crate::runtime::{Clock, Connector};
use crate::tls::csr::{write_node_csr, write_pem, CSR_DER_MAX, CSR_PEM_LABEL, CSR_PEM_MAX};
use crate::tls::jws::BootstrapToken;
use crate::tls::pin::CaPin;
use crate::tls::{base64_pem_to_der, CA_DER_MAX};

/// Each step's exchange gives up after this long (the agent's request timeout).
pub const STEP_TIMEOUT: Duration = Duration::from_secs(5);

/// What the steps work in: 4 KiB of cluster-info kubeconfig or issued certificate text (one at
/// a time), the CSR body and the certificate DER. 4096 + 1412 + 2048 bytes. The CA from
/// discovery goes to the caller's buffer ([`discover`]'s `ca`): it outlives the steps (every
/// session verifies the server with it), these do not.
pub struct BootstrapBuffers {
    /// cluster-info's kubeconfig, then the issued certificate (base64 of PEM).
    pub text: [u8; KUBECONFIG_TEXT_MAX],
    pub csr_body: [u8; CSR_CREATE_MAX_LEN],
    pub certificate: [u8; MAX_CLIENT_CERT_LEN],
}

const _: () = assert!(KUBECONFIG_TEXT_MAX >= CERTIFICATE_TEXT_MAX);

impl BootstrapBuffers {
    pub const fn new() -> Self {
        BootstrapBuffers {
            text: [0; KUBECONFIG_TEXT_MAX],
            csr_body: [0; CSR_CREATE_MAX_LEN],
            certificate: [0; MAX_CLIENT_CERT_LEN],
        }
    }
}

impl Default for BootstrapBuffers {
    fn default() -> Self {
        Self::new()
    }
}

/// Where the server is and the sessions' buffers, shared by the steps.
pub struct Link<'l, Cn, O, C> {
    pub connector: &'l mut Cn,
    pub opener: &'l mut O,
    pub clock: &'l C,
    pub session: &'l mut SessionBuffers,
    pub http: &'l mut HttpBuffers,
    pub metrics: &'l ClientMetrics,
    /// The `Host` header.
    pub host: &'l str,
    /// The name the server certificate must carry.
    pub server_name: &'l str,
    /// Wall time for the server certificate's validity, when the board knows it.
    pub wall_now: Option<crate::time::UnixMicros>,
}

/// Why a step did not get through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepError {
    /// No connection or no session (the opener's `last_failure` says why): try again later.
    Unreachable,
    /// The exchange broke or timed out: try again later.
    Exchange,
    /// cluster-info answered this status (403/404: the cluster is not set up for kubeadm
    /// discovery; a record with the CA instead of its hash is the way).
    // guess: 403/404 from a cluster without cluster-info was not recorded (B02: anonymous
    // reads of other ConfigMaps are 403).
    Status(u16),
    Discovery(DiscoveryError),
    /// The CSR could not be written (a node name longer than a certificate allows).
    Csr,
}

/// Reads cluster-info anonymously with `link` (whose opener must not verify the server: there
/// is no CA yet) and checks it with `token` and `pin`. Returns the CA (DER) in
/// `ca`, its length.
pub async fn discover<Cn, O, C, R>(
    link: Link<'_, Cn, O, C>,
    token: &BootstrapToken<'_>,
    pin: &CaPin,
    bufs: &mut BootstrapBuffers,
    ca: &mut [u8; CA_DER_MAX],
    rng: &mut R,
) -> Result<usize, StepError>
where
    Cn: Connector,
    O: SessionOpener<Cn::Socket>,
    C: Clock,
    R: RngCore + CryptoRng,
{
    link.connector.admit().await;
    let socket = link
        .connector
        .connect()
        .await
        .map_err(|_| StepError::Unreachable)?;
    let ctx = OpenContext {
        server_name: link.server_name,
        wall_now: link.wall_now,
        unchecked_validity: None,
    };
    let session = link
        .opener
        .open(socket, link.session, ctx, rng)
        .await
        .map_err(|_| StepError::Unreachable)?;
    let endpoint = Endpoint {
        host: link.host,
        token: None,
        token_source: None,
    };
    let mut client = ApiClient::new(
        session,
        link.clock,
        endpoint,
        link.http,
        link.metrics,
        STEP_TIMEOUT,
    );
    let mut info = ClusterInfoResponse::new(token.id(), &mut bufs.text);
    let reply = client
        .exchange(&ApiRequest::get(ApiPath::ClusterInfo), no_body, &mut info)
        .await
        .map_err(|_| StepError::Exchange)?;
    if reply.status != 200 {
        return Err(StepError::Status(reply.status));
    }
    let found = check_cluster_info(&info, token, core::slice::from_ref(pin), ca)
        .map_err(StepError::Discovery)?;
    Ok(found.ca_der.len())
}

/// A key and the CSR body for it, sent with the bootstrap token until a certificate comes.
pub struct CsrRequest {
    pub key: SigningKey,
    body_len: usize,
    pub flow: CsrFlow,
}

impl CsrRequest {
    /// A fresh key from `rng` (the hardware RNG on a board) and the CSR body for `node`
    /// (`system:node:<node>`, `system:nodes`) in `bufs.csr_body`.
    pub fn new<R: RngCore + CryptoRng>(
        node: NodeName<'_>,
        expiration_seconds: Option<u32>,
        bufs: &mut BootstrapBuffers,
        rng: &mut R,
    ) -> Result<Self, StepError> {
        let key = SigningKey::random(rng);
        let mut der = [0u8; CSR_DER_MAX];
        let der_len = write_node_csr(node, &key, &mut der).map_err(|_| StepError::Csr)?;
        let mut pem = [0u8; CSR_PEM_MAX];
        let pem_len = write_pem(CSR_PEM_LABEL, der.get(..der_len).unwrap_or(&[]), &mut pem)
            .map_err(|_| StepError::Csr)?;
        let body_len = write_csr_create(
            pem.get(..pem_len).unwrap_or(&[]),
            expiration_seconds,
            &mut bufs.csr_body,
        )
        .map_err(|_| StepError::Csr)?;
        Ok(CsrRequest {
            key,
            body_len,
            flow: CsrFlow::new(),
        })
    }

    /// The private scalar, as the identity store keeps it.
    pub fn key_bytes(&self) -> [u8; CLIENT_KEY_LEN] {
        self.key.to_bytes().into()
    }
}

/// What one [`request_certificate`] session came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requested {
    /// The certificate (DER) is the first `len` bytes of `bufs.certificate`.
    Issued { len: usize },
    /// The session ended undecided ([`SessionEnd::Retry`]) or could not be opened: call again
    /// after a pause, with the same request.
    Again(Option<StepError>),
    /// No certificate from this request ([`SessionEnd::Refused`]); 401 means the token is
    /// dead: the board says so (LED: auth failed) and retries slowly, a person must provision
    /// a new token.
    Refused(super::csr_flow::CsrRefusal),
    /// Issued, but not a certificate the board can keep (not base64 PEM, or too long).
    Unusable,
}

/// One session with `token` (the bootstrap token, or nothing: a caller may set a client
/// identity on the opener to renew with the current certificate) that posts or polls `req`.
pub async fn request_certificate<Cn, O, C, R, E>(
    link: Link<'_, Cn, O, C>,
    token: Option<BearerToken<'_>>,
    req: &mut CsrRequest,
    bufs: &mut BootstrapBuffers,
    rng: &mut R,
    on_event: E,
) -> Requested
where
    Cn: Connector,
    O: SessionOpener<Cn::Socket>,
    C: Clock,
    R: RngCore + CryptoRng,
    E: FnMut(CsrEvent<'_>),
{
    link.connector.admit().await;
    let Ok(socket) = link.connector.connect().await else {
        return Requested::Again(Some(StepError::Unreachable));
    };
    let ctx = OpenContext {
        server_name: link.server_name,
        wall_now: link.wall_now,
        unchecked_validity: None,
    };
    let Ok(session) = link.opener.open(socket, link.session, ctx, rng).await else {
        return Requested::Again(Some(StepError::Unreachable));
    };
    let endpoint = Endpoint {
        host: link.host,
        token,
        token_source: None,
    };
    let mut client = ApiClient::new(
        session,
        link.clock,
        endpoint,
        link.http,
        link.metrics,
        STEP_TIMEOUT,
    );
    let body = bufs.csr_body.get(..req.body_len).unwrap_or(&[]);
    let ended = csr_session(
        &mut client,
        link.clock,
        &mut req.flow,
        body,
        &mut bufs.text,
        on_event,
    )
    .await;
    match ended {
        SessionEnd::Issued { len } => {
            let text = bufs.text.get(..len).unwrap_or(&[]);
            match base64_pem_to_der(text, &mut bufs.certificate) {
                Ok(der) => Requested::Issued { len: der.len() },
                Err(_) => Requested::Unusable,
            }
        }
        SessionEnd::Refused(refusal) => Requested::Refused(refusal),
        SessionEnd::Retry => Requested::Again(Some(StepError::Exchange)),
    }
}
