//! One client certificate through the CSR API: POST the request (the core writes it), then GET
//! it until it is issued, denied or failed — over the core's TLS client and [`ApiClient`], as a
//! board would. A dropped session is reopened; the request is posted once and polled by name.

use std::time::Duration;

use base64::Engine as _;
use p256::ecdsa::SigningKey;
use picokubelet_core::bootstrap::csr_flow::{CsrFlow, CsrRefusal};
use picokubelet_core::bootstrap::session::{csr_session, CsrEvent, SessionEnd};
use picokubelet_core::client::ApiClient;
use picokubelet_core::k8s::csr::{write_csr_create, CERTIFICATE_TEXT_MAX, CSR_CREATE_MAX_LEN};
use picokubelet_core::k8s::name::NodeName;
use picokubelet_core::tls::csr::{
    write_node_csr, write_pem, CSR_DER_MAX, CSR_PEM_LABEL, CSR_PEM_MAX,
};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::agent_setup::AgentSetup;
use crate::check::advice::tls_fix;
use crate::check::wire::{self, Session, Wire, WireError, STEP_TIMEOUT};
use crate::pacer::HandshakePacer;

pub use picokubelet_core::bootstrap::csr_flow::APPROVAL_HINT_AFTER;
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

enum RoundEnd {
    Done(Vec<u8>),
    Fatal(CsrFailure),
    /// Reconnect (after a pause) and go on; the text says why, for the log.
    Retry(String),
}

/// Asks for a certificate and waits until it is issued; returns its PEM. The request itself
/// is the core's [`CsrFlow`], as on a board; this adds the sessions, the log and the stop.
pub async fn request_certificate(
    job: &CsrJob<'_>,
    stop: &mut watch::Receiver<bool>,
) -> Result<Vec<u8>, CsrFailure> {
    let body = csr_body(job.node, job.key, job.expiration_seconds)?;
    let mut flow = CsrFlow::new();
    let mut retry = RETRY_FIRST;
    let mut last_why = String::new();
    loop {
        let ended = {
            let mut stopped = stop.clone();
            tokio::select! {
                end = round(job, &body, &mut flow) => end,
                _ = stopped.wait_for(|s| *s) => return Err(CsrFailure::Stopped),
            }
        };
        match ended {
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
async fn round(job: &CsrJob<'_>, body: &[u8], flow: &mut CsrFlow) -> RoundEnd {
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
    let mut verdict = (String::new(), String::new());
    let on_event = |event: CsrEvent<'_>| match event {
        // A fleet sums these up; one board logs them.
        CsrEvent::Sent { name } if job.observer.is_some() => debug!(
            csr = %name,
            node = job.node,
            "certificate request {name} sent with {}",
            job.credentials
        ),
        CsrEvent::Sent { name } => info!(
            csr = %name,
            node = job.node,
            "certificate request {name} sent with {}",
            job.credentials
        ),
        CsrEvent::AwaitingApproval { name } => match job.observer {
            Some(observer) => observer.waiting_for_approval(name),
            None => warn!(
                csr = %name,
                "certificate request {name} is waiting for approval: this cluster does not \
                 approve it automatically. Approve it with `kubectl certificate approve {name}` \
                 (picokubelet keeps waiting)"
            ),
        },
        CsrEvent::Resending { name } => {
            if let Some(observer) = job.observer {
                observer.settled(name, false);
            }
            warn!("certificate request {name} is gone (404); sending a new one");
        }
        CsrEvent::Verdict { reason, message } => {
            verdict = (reason.to_owned(), message.to_owned());
        }
    };
    let ended = csr_session(
        &mut client,
        &wire.clock,
        flow,
        body,
        &mut cert_buf,
        on_event,
    )
    .await;
    let name = flow.name().unwrap_or_default().to_owned();
    if let Some(observer) = job.observer {
        match &ended {
            SessionEnd::Issued { .. } => observer.settled(&name, true),
            SessionEnd::Refused(CsrRefusal::Denied | CsrRefusal::Failed) => {
                observer.settled(&name, false)
            }
            _ => {}
        }
    }
    match ended {
        SessionEnd::Issued { len } => {
            decode_certificate(std::str::from_utf8(cert_buf.get(..len).unwrap_or(&[])).unwrap_or(""))
        }
        SessionEnd::Retry => RoundEnd::Retry(if client.is_usable() {
            format!(
                "the server answered without a usable answer ({})",
                client.failure().message.as_str()
            )
        } else {
            "the connection broke".to_owned()
        }),
        SessionEnd::Refused(refusal) => RoundEnd::Fatal(match refusal {
            CsrRefusal::Unauthorized => CsrFailure::Unauthorized {
                credentials: job.credentials.to_owned(),
            },
            CsrRefusal::Forbidden => CsrFailure::Forbidden {
                message: client.failure().message.as_str().to_owned(),
            },
            CsrRefusal::Denied => CsrFailure::Denied {
                name,
                reason: verdict.0,
                message: verdict.1,
            },
            CsrRefusal::Failed => CsrFailure::Failed {
                name,
                reason: verdict.0,
                message: verdict.1,
            },
            CsrRefusal::Unnamed => CsrFailure::Unusable(
                "the server's answer to the certificate request names no request".to_owned(),
            ),
            CsrRefusal::CertificateTooLarge => CsrFailure::Unusable(format!(
                "the certificate issued for {name} is longer than {CERTIFICATE_TEXT_MAX} bytes of base64, more than a board keeps"
            )),
        }),
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
