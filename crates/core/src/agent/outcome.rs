//! What an exchange, a reconciler task and a session end with. Their own module, below every
//! reconciler and the connection scope, so that neither imports the other for them.
use crate::agent::policy::Action;
use crate::client::counters::ClientError;

/// Why a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionEnd {
    /// The server closed it after a complete response (`Connection: close`, or an idle
    /// keep-alive connection it timed out). Reconnect at once.
    Closed,
    /// An exchange failed: timeout, transport error, broken framing. Reconnect at once if the
    /// session had worked, else after a backoff.
    Failed(ClientError),
    /// The server answered 5xx (other than 503) or a code the policy does not know: reconnect
    /// after a backoff.
    ServerError(u16),
}

/// Why a reconciler task returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TaskExit {
    /// The Node is gone: register again on the same session.
    Reregister,
    End(SessionEnd),
}

/// Why a reconciler must try again later.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Setback {
    /// The server answered, and the policy did not call it done.
    Refused(Action),
    /// The exchange failed but the session lives on (nothing was sent, or a response body was
    /// broken but framed).
    Failed(ClientError),
}

/// What one exchange came to, flat: every reconciler answers it with one `match`.
/// `Action::Reconnect` (5xx) and a broken session are both [`Outcome::End`]; the protocol's own
/// answers (404 → re-register or recreate, 409 on create → adopt) are variants of their own;
/// everything else the policy refuses is a [`Outcome::Retry`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome<A> {
    /// 2xx, with what came back.
    Done(A),
    /// Try again later, after the backoff this setback calls for.
    Retry(Setback),
    /// 404 on the Node: it is gone.
    Reregister,
    /// 404 on the Lease: it is gone.
    RecreateLease,
    /// 409 on a create: it exists.
    AdoptExisting,
    /// The session is over; every task leaves and the agent reconnects.
    End(SessionEnd),
}

impl<A> Outcome<A> {
    /// The outcome of a response the policy answered with `action`.
    pub(crate) fn of(answer: A, status: u16, action: Action) -> Self {
        match action {
            Action::Done => Outcome::Done(answer),
            Action::Reregister => Outcome::Reregister,
            Action::RecreateLease => Outcome::RecreateLease,
            Action::AdoptExisting => Outcome::AdoptExisting,
            Action::Reconnect => Outcome::End(SessionEnd::ServerError(status)),
            Action::RereadAndRetry
            | Action::CredentialsRejected
            | Action::Forbidden { .. }
            | Action::Throttled { .. }
            | Action::Rejected => Outcome::Retry(Setback::Refused(action)),
        }
    }

    /// The outcome of an exchange that got no response.
    pub(crate) fn failed(error: ClientError) -> Self {
        match error {
            ClientError::Unusable => Outcome::End(SessionEnd::Closed),
            e if e.ends_session() => Outcome::End(SessionEnd::Failed(e)),
            e => Outcome::Retry(Setback::Failed(e)),
        }
    }
}
