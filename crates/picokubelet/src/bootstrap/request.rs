//! One client certificate through the CSR API: POST the request (the core writes it), then GET
//! it until it is issued, denied or failed — over the core's TLS client and [`ApiClient`], as a
//! board would. A dropped session is reopened; the request is posted once and polled by name.

use std::time::{Duration, Instant};

use base64::Engine as _;
use p256::ecdsa::SigningKey;
use picokubelet_core::client::{no_body, ApiClient, ApiRequest, Reply};
use picokubelet_core::json::writer::JsonError;
use picokubelet_core::k8s::body_error::BodyError;
use picokubelet_core::k8s::csr::{
    write_csr_create, CsrResponse, CsrState, CERTIFICATE_TEXT_MAX, CSR_CREATE_MAX_LEN,
};
use picokubelet_core::k8s::name::NodeName;
use picokubelet_core::k8s::paths::{ApiPath, ContentType, Method};
use picokubelet_core::tls::csr::{
    write_node_csr, write_pem, CSR_DER_MAX, CSR_PEM_LABEL, CSR_PEM_MAX,
};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::agent_setup::AgentSetup;
use crate::check::advice::tls_fix;
use crate::check::wire::{self, Session, Wire, WireError, STEP_TIMEOUT};
use crate::pacer::HandshakePacer;

/// A request still undecided after this long is waiting for a person (auto-approval takes
/// milliseconds, recorded-2 A05): say once what they must run.
pub const APPROVAL_HINT_AFTER: Duration = Duration::from_secs(3);
/// The first wait between two looks at a pending request; it grows by half up to
/// [`POLL_MAX`].
const POLL_FIRST: Duration = Duration::from_millis(250);
const POLL_MAX: Duration = Duration::from_secs(5);
/// Waits between attempts to reach the server.
const RETRY_FIRST: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(30);

/// What to ask for, as whom.
pub struct CsrJob<'a> {
    /// Where the server is and the credentials to ask with: the bootstrap token, or the
    /// current certificate (renewal).
    pub setup: &'a AgentSetup,
    pub node: &'a str,
    pub key: &'a SigningKey,
    /// `spec.expirationSeconds` (the signer may cap it).
    pub expiration_seconds: Option<u32>,
    /// How the credentials are named in messages ("the bootstrap token", "the current
    /// certificate").
    pub credentials: &'a str,
    /// The process's handshake pacer (a fleet's): every session waits for a slot first.
    pub gate: Option<&'a HandshakePacer>,
    /// Told where the request stands (a fleet's summary); without one, a request waiting for
    /// a person is logged here.
    pub observer: Option<&'a dyn CsrObserver>,
}

/// What a fleet hears of one board's certificate request.
pub trait CsrObserver {
    /// The request `name` is still pending after [`APPROVAL_HINT_AFTER`]: a person must
    /// approve it.
    fn waiting_for_approval(&self, name: &str);
    /// The request `name` is decided (`issued`, or denied or failed) or gone.
    fn settled(&self, name: &str, issued: bool);
    /// The board uses the certificate it had stored (no request).
    fn reused(&self);
    /// The server accepted a board's stored certificate.
    fn stored_certificate_accepted(&self);
    /// The server accepted some board's stored certificate already: the others need not ask.
    fn stored_certificates_accepted(&self) -> bool;
}

/// Connects and shakes hands with `setup`'s server as `client`, first waiting for a slot of
/// `gate` when there is one (so a fleet's certificate requests add no more handshakes at once
/// than its agents may).
pub async fn open_session<'a>(
    setup: &AgentSetup,
    gate: Option<&HandshakePacer>,
    client: Option<picokubelet_core::tls::ClientIdentity<'_>>,
    tls: &'a mut picokubelet_core::client::session::SessionBuffers,
) -> Result<Session<'a>, WireError> {
    let turn = match gate {
        Some(pacer) => pacer.turn().await,
        None => None,
    };
    let opened = match wire::connect(&setup.server).await {
        Ok(socket) => {
            wire::handshake(
                socket,
                tls,
                setup.trust(),
                client,
                setup.server_name(),
                wire::now_micros(),
            )
            .await
        }
        Err(e) => Err(e),
    };
    if let Some(turn) = turn {
        match &opened {
            Ok(_) => turn.done(true),
            // An answer (refused, a TLS error) says nothing about load; a time-out drops the
            // turn, which narrows the window.
            Err(WireError::Connect(_) | WireError::Tls(_)) => turn.done(false),
            Err(WireError::Timeout(_)) => drop(turn),
        }
    }
    opened
}

/// Why no certificate came.
#[derive(Debug, PartialEq, Eq)]
pub enum CsrFailure {
    /// 401: the server does not know the credentials.
    Unauthorized { credentials: String },
    /// 403, with the server's message.
    Forbidden { message: String },
    /// The request was denied.
    Denied {
        name: String,
        reason: String,
        message: String,
    },
    /// The signer failed.
    Failed {
        name: String,
        reason: String,
        message: String,
    },
    /// The request could not be built, or the issued certificate is unusable.
    Unusable(String),
    /// Shut down while waiting.
    Stopped,
}

impl std::fmt::Display for CsrFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CsrFailure::Unauthorized { credentials } => write!(
                f,
                "the API server does not accept {credentials} (401 Unauthorized): a bootstrap \
                 token may have expired or been deleted (`kubeadm token list`; make a new one \
                 with `kubeadm token create --print-join-command`)"
            ),
            CsrFailure::Forbidden { message } => write!(
                f,
                "the API server refused the certificate request (403): {message}; bootstrap \
                 tokens need the `system:node-bootstrapper` ClusterRole, which kubeadm binds and \
                 k3s does not: `kubectl apply -f deploy/bootstrap-rbac.yaml` (deploy/README.md)"
            ),
            CsrFailure::Denied {
                name,
                reason,
                message,
            } => write!(
                f,
                "certificate request {name} was denied ({reason}: {message}); ask the cluster's \
                 admin why, then start picokubelet again to send a new one"
            ),
            CsrFailure::Failed {
                name,
                reason,
                message,
            } => write!(
                f,
                "the signer could not issue certificate request {name} ({reason}: {message}); \
                 check kube-controller-manager's --cluster-signing-* flags"
            ),
            CsrFailure::Unusable(why) => f.write_str(why),
            CsrFailure::Stopped => f.write_str("stopped while waiting for the certificate"),
        }
    }
}

/// The JSON body of the request for `node` with `key` (the core's PKCS#10, PEM and CSR body).
pub fn csr_body(
    node: &str,
    key: &SigningKey,
    expiration_seconds: Option<u32>,
) -> Result<Vec<u8>, CsrFailure> {
    let name = NodeName::new(node)
        .map_err(|e| CsrFailure::Unusable(format!("node name {node:?}: {e}")))?;
    let mut der = [0u8; CSR_DER_MAX];
    let der_len = write_node_csr(name, key, &mut der).map_err(|e| {
        CsrFailure::Unusable(format!("cannot write the certificate request: {e:?}"))
    })?;
    let mut pem = [0u8; CSR_PEM_MAX];
    let pem_len =
        write_pem(CSR_PEM_LABEL, der.get(..der_len).unwrap_or(&[]), &mut pem).map_err(|e| {
            CsrFailure::Unusable(format!("cannot write the certificate request: {e:?}"))
        })?;
    let mut body = vec![0; CSR_CREATE_MAX_LEN];
    let len = write_csr_create(
        pem.get(..pem_len).unwrap_or(&[]),
        expiration_seconds,
        &mut body,
    )
    .map_err(|e| CsrFailure::Unusable(format!("cannot write the certificate request body: {e}")))?;
    body.truncate(len);
    Ok(body)
}

/// Sleeps `d`; `false` when `stop` fired first.
pub async fn sleep_or_stop(d: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    if *stop.borrow() {
        return false;
    }
    tokio::select! {
        () = tokio::time::sleep(d) => true,
        _ = stop.wait_for(|stopped| *stopped) => false,
    }
}

/// Where the request stands between sessions.
#[derive(Default)]
struct Progress {
    /// The server's name for it, once posted.
    name: Option<String>,
    /// The approval hint was logged.
    hinted: bool,
    poll: Option<Duration>,
}

enum RoundEnd {
    Done(Vec<u8>),
    Fatal(CsrFailure),
    /// Reconnect (after a pause) and go on; the text says why, for the log.
    Retry(String),
}

/// Asks for a certificate and waits until it is issued; returns its PEM.
pub async fn request_certificate(
    job: &CsrJob<'_>,
    stop: &mut watch::Receiver<bool>,
) -> Result<Vec<u8>, CsrFailure> {
    let body = csr_body(job.node, job.key, job.expiration_seconds)?;
    let started = Instant::now();
    let mut progress = Progress::default();
    let mut retry = RETRY_FIRST;
    let mut last_why = String::new();
    loop {
        match round(job, &body, &mut progress, started, stop).await {
            RoundEnd::Done(pem) => return Ok(pem),
            RoundEnd::Fatal(failure) => return Err(failure),
            RoundEnd::Retry(why) => {
                if why != last_why {
                    warn!(server = %job.setup.server, "certificate request: {why}; retrying");
                    last_why = why;
                }
                if !sleep_or_stop(retry, stop).await {
                    return Err(CsrFailure::Stopped);
                }
                retry = (retry * 2).min(RETRY_MAX);
            }
        }
    }
}

/// One session: post (if not yet) and poll until done or the session breaks.
async fn round(
    job: &CsrJob<'_>,
    body: &[u8],
    progress: &mut Progress,
    started: Instant,
    stop: &mut watch::Receiver<bool>,
) -> RoundEnd {
    let setup = job.setup;
    let mut wire = Wire::default();
    let session = match open_session(setup, job.gate, setup.client_identity(), &mut wire.tls).await
    {
        Ok(s) => s,
        Err(e @ (WireError::Connect(_) | WireError::Timeout("TCP connect"))) => {
            return RoundEnd::Retry(format!("cannot reach {}: {e:?}", setup.server))
        }
        Err(WireError::Tls(e)) => {
            return RoundEnd::Retry(format!(
                "{e}; {}",
                e.advice()
                    .unwrap_or_else(|| tls_fix(e.rejection()))
                    .replace('\n', " ")
            ))
        }
        Err(e) => return RoundEnd::Retry(format!("{e:?}")),
    };
    let mut client = ApiClient::new(
        session,
        &wire.clock,
        setup.endpoint(),
        &mut wire.http,
        &wire.metrics,
        STEP_TIMEOUT,
    );
    let mut cert_buf = vec![0u8; CERTIFICATE_TEXT_MAX];
    loop {
        let name = progress.name.clone();
        let (reply, csr) = match exchange(&mut client, name.as_deref(), body, &mut cert_buf).await {
            Ok(r) => r,
            Err(why) => return RoundEnd::Retry(why),
        };
        let failure_message = client.failure().message.as_str().to_owned();
        match (reply.status, &name) {
            (200 | 201, _) => {}
            (401, _) => {
                return RoundEnd::Fatal(CsrFailure::Unauthorized {
                    credentials: job.credentials.to_owned(),
                })
            }
            (403, _) => {
                return RoundEnd::Fatal(CsrFailure::Forbidden {
                    message: failure_message,
                })
            }
            (404, Some(gone)) => {
                if let Some(observer) = job.observer {
                    observer.settled(gone, false);
                }
                // Deleted (by an admin, or by kube-controller-manager's CSR cleaner).
                // guess: not recorded; the cleaner's documented ages are 1 h for decided
                // requests and 24 h for pending ones. Ask again.
                warn!("certificate request {gone} is gone (404); sending a new one");
                progress.name = None;
                continue;
            }
            (code, _) => {
                return RoundEnd::Retry(format!("the server answered {code} ({failure_message})"))
            }
        }
        let Some(csr) = csr else {
            return RoundEnd::Retry("the answer had no body".to_owned());
        };
        if name.is_none() {
            if csr.name.is_empty() {
                return RoundEnd::Fatal(CsrFailure::Unusable(
                    "the server's answer to the certificate request names no request".to_owned(),
                ));
            }
            if job.observer.is_some() {
                debug!(csr = %csr.name, node = job.node, "certificate request {} sent with {}", csr.name, job.credentials);
            } else {
                info!(csr = %csr.name, node = job.node, "certificate request {} sent with {}", csr.name, job.credentials);
            }
            progress.name = Some(csr.name.clone());
        }
        let name = progress.name.clone().unwrap_or_default();
        if let (Some(observer), CsrState::Issued | CsrState::Denied | CsrState::Failed) =
            (job.observer, csr.state)
        {
            observer.settled(&name, csr.state == CsrState::Issued);
        }
        match csr.state {
            CsrState::Issued => return decode_certificate(&csr.certificate),
            CsrState::Denied | CsrState::Failed => {
                let (reason, message) = csr.verdict.clone();
                return RoundEnd::Fatal(if csr.state == CsrState::Denied {
                    CsrFailure::Denied { name, reason, message }
                } else {
                    CsrFailure::Failed { name, reason, message }
                });
            }
            CsrState::Approved if csr.certificate_overflowed => {
                return RoundEnd::Fatal(CsrFailure::Unusable(format!(
                    "the certificate issued for {name} is longer than {CERTIFICATE_TEXT_MAX} bytes of base64, more than a board keeps"
                )))
            }
            CsrState::Pending if !progress.hinted && started.elapsed() >= APPROVAL_HINT_AFTER => {
                progress.hinted = true;
                if let Some(observer) = job.observer {
                    observer.waiting_for_approval(&name);
                } else {
                    warn!(
                    csr = %name,
                    "certificate request {name} is waiting for approval: this cluster does not \
                     approve it automatically. Approve it with `kubectl certificate approve {name}` \
                     (picokubelet keeps waiting)"
                    );
                }
            }
            CsrState::Pending | CsrState::Approved => {}
        }
        let poll = progress
            .poll
            .map_or(POLL_FIRST, |p| (p + p / 2).min(POLL_MAX));
        progress.poll = Some(poll);
        if !sleep_or_stop(poll, stop).await {
            return RoundEnd::Fatal(CsrFailure::Stopped);
        }
        if !client.is_usable() {
            return RoundEnd::Retry("the server closed the connection".to_owned());
        }
    }
}

/// Does the server accept `setup`'s credentials? `Some(false)` for a 401, or when the server
/// answers only without the client certificate (a certificate from an unknown CA ends the
/// handshake, not in a 401); `None` when the server could not be asked at all.
pub async fn credentials_accepted(
    setup: &AgentSetup,
    gate: Option<&HandshakePacer>,
) -> Option<bool> {
    match who_am_i_status(setup, gate, setup.client_identity()).await {
        Some(401) => Some(false),
        Some(200 | 201) => Some(true),
        Some(_) => None,
        None if setup.client_identity().is_some() => {
            who_am_i_status(setup, gate, None).await.map(|_| false)
        }
        None => None,
    }
}

/// The status of a SelfSubjectReview over a new session with `client`; `None` when the
/// session or the exchange failed.
async fn who_am_i_status(
    setup: &AgentSetup,
    gate: Option<&HandshakePacer>,
    client: Option<picokubelet_core::tls::ClientIdentity<'_>>,
) -> Option<u16> {
    let mut wire = Wire::default();
    let session = open_session(setup, gate, client, &mut wire.tls)
        .await
        .ok()?;
    let endpoint = if client.is_some() {
        setup.endpoint()
    } else {
        picokubelet_core::client::Endpoint {
            token: None,
            token_source: None,
            ..setup.endpoint()
        }
    };
    let mut api = ApiClient::new(
        session,
        &wire.clock,
        endpoint,
        &mut wire.http,
        &wire.metrics,
        STEP_TIMEOUT,
    );
    let answer = crate::check::ask::who_am_i(&mut api).await.ok()?;
    Some(answer.reply.status)
}

/// What one answer said about the request.
struct CsrView {
    name: String,
    state: CsrState,
    certificate: String,
    certificate_overflowed: bool,
    verdict: (String, String),
}

/// POST the request (`name` is `None`) or GET it; the reply and, for a success, what it said.
async fn exchange<S, C>(
    client: &mut ApiClient<'_, S, C>,
    name: Option<&str>,
    body: &[u8],
    cert_buf: &mut [u8],
) -> Result<(Reply, Option<CsrView>), String>
where
    S: embedded_io_async::Read + embedded_io_async::Write,
    C: picokubelet_core::runtime::Clock,
{
    let mut csr = CsrResponse::new(cert_buf);
    let reply = match name {
        None => {
            let req = ApiRequest {
                method: Method::Post,
                path: ApiPath::CertificateSigningRequests,
                content_type: Some(ContentType::Json),
            };
            let write =
                |out: &mut [u8]| -> Result<usize, BodyError> {
                    let dst = out.get_mut(..body.len()).ok_or(BodyError::Json(
                        JsonError::BufferFull { needed: body.len() },
                    ))?;
                    dst.copy_from_slice(body);
                    Ok(body.len())
                };
            client.exchange(&req, write, &mut csr).await
        }
        Some(name) => {
            let name = NodeName::new(name).map_err(|e| {
                format!("the server named the request {name:?}, not a DNS name: {e}")
            })?;
            let req = ApiRequest::get(ApiPath::CertificateSigningRequest(name));
            client.exchange(&req, no_body, &mut csr).await
        }
    }
    .map_err(|e| format!("the request failed ({e:?})"))?;
    if reply.status >= 300 {
        return Ok((reply, None));
    }
    csr.finish();
    let verdict = csr
        .denied
        .or(csr.failed)
        .map(|v| (v.reason.as_str().to_owned(), v.message.as_str().to_owned()))
        .unwrap_or_default();
    let view = CsrView {
        // A cut name would poll another request.
        name: if csr.name.is_truncated() {
            String::new()
        } else {
            csr.name.as_str().to_owned()
        },
        state: csr.state(),
        certificate: csr.certificate().unwrap_or_default().to_owned(),
        certificate_overflowed: csr.certificate_overflowed(),
        verdict,
    };
    Ok((reply, Some(view)))
}

/// `status.certificate` (base64 of PEM) → the PEM.
fn decode_certificate(text: &str) -> RoundEnd {
    match base64::engine::general_purpose::STANDARD.decode(text) {
        Ok(pem) => RoundEnd::Done(pem),
        Err(e) => RoundEnd::Fatal(CsrFailure::Unusable(format!(
            "the issued certificate is not base64 ({e})"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_carries_a_request_for_the_node_that_verifies() {
        let key = SigningKey::from_slice(&[9u8; 32]).unwrap();
        let body = csr_body("esp-boot-01", &key, Some(3600)).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            json["spec"]["signerName"],
            "kubernetes.io/kube-apiserver-client-kubelet"
        );
        assert_eq!(json["spec"]["expirationSeconds"], 3600);
        let pem = base64::engine::general_purpose::STANDARD
            .decode(json["spec"]["request"].as_str().unwrap())
            .unwrap();
        let pem = String::from_utf8(pem).unwrap();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE REQUEST-----\n"));
        assert!(matches!(
            csr_body("Not A Name", &key, None),
            Err(CsrFailure::Unusable(_))
        ));
    }
}
