//! One certificate through the CSR API, sans I/O: which request comes next (POST the request,
//! or GET it by the name the server gave it) and what an answer means. The host's bootstrap
//! and the board's drive the same machine ([`super::session::csr_session`]).

use core::time::Duration;

use crate::bounded::BoundedStr;
use crate::k8s::csr::{CsrResponse, CsrState, CSR_NAME_LEN};
use crate::k8s::name::NodeName;
use crate::runtime::Instant;

/// A request still undecided after this long waits for a person (auto-approval takes
/// milliseconds, recorded-2 A05): say once what they must run.
pub const APPROVAL_HINT_AFTER: Duration = Duration::from_secs(3);
/// The first wait between two looks at a pending request; it grows by half up to
/// [`POLL_MAX`].
pub const POLL_FIRST: Duration = Duration::from_millis(250);
pub const POLL_MAX: Duration = Duration::from_secs(5);

/// The next request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next<'a> {
    /// POST the request (not sent yet, or the one sent is gone).
    Post,
    /// GET the request the server named.
    Get(NodeName<'a>),
}

/// Why no certificate will come of this request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CsrRefusal {
    /// 401: the server does not know the credentials (an expired or deleted token, a
    /// certificate from another cluster).
    Unauthorized,
    /// 403: the credentials may not create or read CSRs (no `system:node-bootstrapper`).
    Forbidden,
    /// A `Denied` condition.
    Denied,
    /// A `Failed` condition: the signer could not issue it.
    Failed,
    /// The answer to the POST named no request (or a name longer than a DNS name).
    Unnamed,
    /// Issued, but longer than the caller's certificate buffer.
    CertificateTooLarge,
}

/// What an answer means for the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// `status.certificate` is in the answer.
    Issued,
    /// Look again after `after`. `sent`: this answer named the request (log it once);
    /// `approval_hint`: it has waited [`APPROVAL_HINT_AFTER`] undecided (say once that it
    /// needs `kubectl certificate approve <name>`).
    Poll {
        after: Duration,
        sent: bool,
        approval_hint: bool,
    },
    /// The request is gone (404: deleted by an admin or the CSR cleaner): POST a new one now.
    Resend,
    /// An answer that says nothing (5xx, 429, no body): reconnect after a pause and go on.
    Retry,
    /// Give up on this request.
    Refused(CsrRefusal),
}

/// Where a request stands between answers and sessions.
#[derive(Clone, Copy, Debug, Default)]
pub struct CsrFlow {
    name: BoundedStr<CSR_NAME_LEN>,
    first_answer: Option<Instant>,
    poll: Option<Duration>,
    hinted: bool,
}

impl CsrFlow {
    pub const fn new() -> Self {
        CsrFlow {
            name: BoundedStr::new(),
            first_answer: None,
            poll: None,
            hinted: false,
        }
    }

    /// The server's name for the request, once it gave one.
    pub fn name(&self) -> Option<&str> {
        (!self.name.is_empty()).then(|| self.name.as_str())
    }

    /// The request to send next.
    pub fn next(&self) -> Next<'_> {
        match self.name().and_then(|n| NodeName::new(n).ok()) {
            Some(name) => Next::Get(name),
            None => Next::Post,
        }
    }

    /// What the answer to [`Self::next`] means. `csr` is the parsed body (after
    /// [`CsrResponse::finish`]) of an answer below 300, `None` otherwise; `now` times the
    /// approval hint.
    pub fn on_answer(
        &mut self,
        status: u16,
        csr: Option<&CsrResponse<'_>>,
        now: Instant,
    ) -> Decision {
        let posted = !self.name.is_empty();
        match status {
            200 | 201 => {}
            401 => return Decision::Refused(CsrRefusal::Unauthorized),
            403 => return Decision::Refused(CsrRefusal::Forbidden),
            404 if posted => {
                // guess: not recorded; the CSR cleaner's documented ages are 1 h for decided
                // requests and 24 h for pending ones. Ask again.
                self.name.clear();
                self.poll = None;
                return Decision::Resend;
            }
            _ => return Decision::Retry,
        }
        let Some(csr) = csr else {
            return Decision::Retry;
        };
        let mut sent = false;
        if !posted {
            // A cut name would poll another request.
            if csr.name.is_empty()
                || csr.name.is_truncated()
                || NodeName::new(csr.name.as_str()).is_err()
            {
                return Decision::Refused(CsrRefusal::Unnamed);
            }
            self.name = csr.name;
            sent = true;
        }
        let started = *self.first_answer.get_or_insert(now);
        match csr.state() {
            CsrState::Issued => return Decision::Issued,
            CsrState::Denied => return Decision::Refused(CsrRefusal::Denied),
            CsrState::Failed => return Decision::Refused(CsrRefusal::Failed),
            CsrState::Approved if csr.certificate_overflowed() => {
                return Decision::Refused(CsrRefusal::CertificateTooLarge)
            }
            CsrState::Pending | CsrState::Approved => {}
        }
        let approval_hint = csr.state() == CsrState::Pending
            && !self.hinted
            && now.saturating_since(started) >= APPROVAL_HINT_AFTER;
        self.hinted |= approval_hint;
        let after = self
            .poll
            .map_or(POLL_FIRST, |p| p.saturating_add(p / 2).min(POLL_MAX));
        self.poll = Some(after);
        Decision::Poll {
            after,
            sent,
            approval_hint,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::extract::Extractor;

    fn parse<'b>(json: &str, buf: &'b mut [u8]) -> CsrResponse<'b> {
        let mut csr = CsrResponse::new(buf);
        let mut x: Extractor = Extractor::new();
        x.feed(json.as_bytes(), &mut csr).unwrap();
        x.finish(&mut csr).unwrap();
        csr.finish();
        csr
    }

    const PENDING: &str = r#"{"metadata":{"name":"csr-abcde"},"status":{}}"#;
    const ISSUED: &str = r#"{"metadata":{"name":"csr-abcde"},"status":{"conditions":[{"type":"Approved","status":"True"}],"certificate":"QUJD"}}"#;

    fn at(ms: u64) -> Instant {
        Instant::from_micros(ms * 1000)
    }

    #[test]
    fn a_request_is_posted_then_polled_with_growing_pauses_until_issued() {
        let mut flow = CsrFlow::new();
        assert_eq!(flow.next(), Next::Post);
        let mut buf = [0u8; 64];
        let pending = parse(PENDING, &mut buf);
        assert_eq!(
            flow.on_answer(201, Some(&pending), at(0)),
            Decision::Poll {
                after: POLL_FIRST,
                sent: true,
                approval_hint: false
            }
        );
        assert_eq!(flow.next(), Next::Get(NodeName::new("csr-abcde").unwrap()));
        let mut pauses = [Duration::ZERO; 12];
        for (i, p) in pauses.iter_mut().enumerate() {
            match flow.on_answer(200, Some(&pending), at(10 * i as u64)) {
                Decision::Poll {
                    after,
                    sent: false,
                    approval_hint: false,
                } => *p = after,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(pauses[0], Duration::from_millis(375));
        assert!(pauses.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(pauses[11], POLL_MAX);
        let mut buf = [0u8; 64];
        assert_eq!(
            flow.on_answer(200, Some(&parse(ISSUED, &mut buf)), at(200)),
            Decision::Issued
        );
    }

    #[test]
    fn the_approval_hint_comes_once_after_three_seconds_pending() {
        let mut flow = CsrFlow::new();
        let mut buf = [0u8; 64];
        let pending = parse(PENDING, &mut buf);
        let hint = |d: Decision| {
            matches!(
                d,
                Decision::Poll {
                    approval_hint: true,
                    ..
                }
            )
        };
        assert!(!hint(flow.on_answer(201, Some(&pending), at(1_000))));
        assert!(!hint(flow.on_answer(200, Some(&pending), at(3_999))));
        assert!(hint(flow.on_answer(200, Some(&pending), at(4_000))));
        assert!(!hint(flow.on_answer(200, Some(&pending), at(9_000))));
    }

    #[test]
    fn refusals_end_the_request_and_a_vanished_one_is_sent_again() {
        let mut buf = [0u8; 64];
        let pending = parse(PENDING, &mut buf);
        let mut flow = CsrFlow::new();
        assert_eq!(
            flow.on_answer(401, None, at(0)),
            Decision::Refused(CsrRefusal::Unauthorized)
        );
        assert_eq!(
            flow.on_answer(403, None, at(0)),
            Decision::Refused(CsrRefusal::Forbidden)
        );
        assert_eq!(flow.on_answer(503, None, at(0)), Decision::Retry);
        assert_eq!(
            flow.on_answer(404, None, at(0)),
            Decision::Retry,
            "a 404 to the POST"
        );
        assert_eq!(flow.on_answer(201, None, at(0)), Decision::Retry, "no body");
        flow.on_answer(201, Some(&pending), at(0));
        assert_eq!(flow.on_answer(404, None, at(0)), Decision::Resend);
        assert_eq!(flow.next(), Next::Post);
        let mut buf = [0u8; 64];
        let denied = parse(
            r#"{"metadata":{"name":"csr-x"},"status":{"conditions":[{"type":"Denied","status":"True","reason":"No"}]}}"#,
            &mut buf,
        );
        assert_eq!(
            CsrFlow::new().on_answer(201, Some(&denied), at(0)),
            Decision::Refused(CsrRefusal::Denied)
        );
        let mut buf = [0u8; 64];
        let unnamed = parse(r#"{"metadata":{},"status":{}}"#, &mut buf);
        assert_eq!(
            CsrFlow::new().on_answer(201, Some(&unnamed), at(0)),
            Decision::Refused(CsrRefusal::Unnamed)
        );
        let mut small = [0u8; 2];
        let too_large = parse(ISSUED, &mut small);
        assert_eq!(
            CsrFlow::new().on_answer(201, Some(&too_large), at(0)),
            Decision::Refused(CsrRefusal::CertificateTooLarge)
        );
    }
}
