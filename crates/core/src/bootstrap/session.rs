//! [`CsrFlow`] over one session: POST the request (or GET it by name), wait, look again, until
//! it is issued, refused, or the session breaks. The caller opens sessions (and reopens after
//! [`SessionEnd::Retry`] with its backoff) with the credentials it asks with: the bootstrap
//! token, or the current certificate when renewing.

use embedded_io_async::{Read, Write};

use super::csr_flow::{CsrFlow, CsrRefusal, Decision, Next};
use crate::client::{no_body, ApiClient, ApiRequest};
use crate::json::writer::JsonError;
use crate::k8s::body_error::BodyError;
use crate::k8s::csr::CsrResponse;
use crate::k8s::paths::{Accept, ApiPath, ContentType, Method};
use crate::runtime::Clock;

/// What the caller hears while the session runs (to log; nothing to decide).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CsrEvent<'a> {
    /// The server accepted the request under this name.
    Sent { name: &'a str },
    /// Undecided for a while: this cluster does not approve it automatically; a person must
    /// run `kubectl certificate approve <name>` (the board keeps waiting).
    AwaitingApproval { name: &'a str },
    /// The request is gone (404); a new one is sent.
    Resending { name: &'a str },
    /// The Denied or Failed condition that ends the request, just before
    /// [`SessionEnd::Refused`].
    Verdict { reason: &'a str, message: &'a str },
}

/// How a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionEnd {
    /// `status.certificate` (base64 of the PEM) is the first `len` bytes of the certificate
    /// buffer.
    Issued { len: usize },
    /// No certificate from this request (a Denied/Failed condition came as
    /// [`CsrEvent::Verdict`]).
    Refused(CsrRefusal),
    /// The session broke or the server said nothing useful: open a new one after a pause and
    /// call again with the same flow (a request already sent is polled, not sent again).
    Retry,
}

/// Runs `flow` over `client` until the request is decided or the session is done. `body` is
/// the CSR JSON ([`crate::k8s::csr::write_csr_create`]); `cert_buf` receives the issued
/// certificate ([`crate::k8s::csr::CERTIFICATE_TEXT_MAX`] holds any a board keeps).
pub async fn csr_session<S, C, E>(
    client: &mut ApiClient<'_, S, C>,
    clock: &C,
    flow: &mut CsrFlow,
    body: &[u8],
    cert_buf: &mut [u8],
    mut on_event: E,
) -> SessionEnd
where
    S: Read + Write,
    C: Clock,
    E: FnMut(CsrEvent<'_>),
{
    loop {
        if !client.is_usable() {
            return SessionEnd::Retry;
        }
        let mut csr = CsrResponse::new(cert_buf);
        let reply = match flow.next() {
            Next::Post => {
                let req = ApiRequest {
                    method: Method::Post,
                    path: ApiPath::CertificateSigningRequests,
                    content_type: Some(ContentType::Json),
                    accept: Accept::Json,
                };
                let write = |out: &mut [u8]| -> Result<usize, BodyError> {
                    let dst = out.get_mut(..body.len()).ok_or(BodyError::Json(
                        JsonError::BufferFull { needed: body.len() },
                    ))?;
                    dst.copy_from_slice(body);
                    Ok(body.len())
                };
                client.exchange(&req, write, &mut csr).await
            }
            Next::Get(name) => {
                let req = ApiRequest::get(ApiPath::CertificateSigningRequest(name));
                client.exchange(&req, no_body, &mut csr).await
            }
        };
        let Ok(reply) = reply else {
            return SessionEnd::Retry;
        };
        let parsed = reply.status < 300;
        if parsed {
            csr.finish();
        }
        let before = flow
            .name()
            .map(crate::bounded::BoundedStr::<253>::from_str_truncating);
        let decision = flow.on_answer(reply.status, parsed.then_some(&csr), clock.now());
        match decision {
            Decision::Issued => {
                return SessionEnd::Issued {
                    len: csr.certificate().map_or(0, str::len),
                }
            }
            Decision::Refused(refusal) => {
                if let Some(v) = csr.denied.or(csr.failed) {
                    on_event(CsrEvent::Verdict {
                        reason: v.reason.as_str(),
                        message: v.message.as_str(),
                    });
                }
                return SessionEnd::Refused(refusal);
            }
            Decision::Retry => return SessionEnd::Retry,
            Decision::Resend => {
                if let Some(gone) = &before {
                    on_event(CsrEvent::Resending {
                        name: gone.as_str(),
                    });
                }
            }
            Decision::Poll {
                after,
                sent,
                approval_hint,
            } => {
                let name = flow.name().unwrap_or_default();
                if sent {
                    on_event(CsrEvent::Sent { name });
                }
                if approval_hint {
                    on_event(CsrEvent::AwaitingApproval { name });
                }
                clock.sleep_until(clock.now().saturating_add(after)).await;
            }
        }
    }
}
