//! The agent's log hook: typed events, printed by the body (esp-println on the device, tracing
//! on the host). No event carries the bearer token: the types that could hold it
//! ([`crate::http::request::BearerToken`]) are never part of one.
use core::fmt::Debug;
use core::net::Ipv4Addr;

use crate::agent::outcome::SessionEnd;
use crate::agent::policy::{Action, Operation};
use crate::client::counters::ClientError;
use crate::client::session::OpenError;
use crate::client::session::OpenFailure;
use crate::conditions::ConditionType;

/// Something the agent did or saw.
#[derive(Clone, Copy, Debug)]
pub enum LogEvent<'a> {
    /// The connector failed; its own error, shown with `Debug`.
    ConnectFailed { error: &'a dyn Debug },
    /// Connect or open took longer than the connect timeout.
    ConnectTimedOut,
    /// The session could not be opened (TLS). `tls`: the TLS opener's reason with the
    /// verifier's facts (names held, issuer, validity, key), when the opener has one.
    OpenFailed {
        error: OpenError,
        tls: Option<&'a dyn OpenFailure>,
    },
    /// A session is open; `handshakes` counts them since boot.
    SessionOpened { handshakes: u32 },
    /// The session ended; the agent reconnects after `retry_in_ms`.
    SessionEnded { why: SessionEnd, retry_in_ms: u64 },
    /// The wall clock was anchored on `/version`; `skew_micros` (ours minus the server's) from
    /// the second anchoring on.
    ClockAnchored { skew_micros: Option<i64> },
    /// The server's response had no usable `Date`: the clock could not be anchored.
    NoDate,
    /// The Node exists: `created` by our POST, or adopted after a 409.
    Registered { created: bool, uid: &'a str },
    /// The Node lacks the taint we create it with. Taints can be set only at creation, so the
    /// agent cannot add it: someone removed it, or the Node was created without it.
    TaintMissing { key: &'a str },
    /// Our labels differed from the server's and were patched.
    LabelsPatched,
    /// The server's conditions were read and adopted (after a reboot or an outage);
    /// `transitions` is how many of ours differed from the server's.
    ConditionsAdopted { transitions: u32 },
    /// The Node is gone (404): the agent registers it again.
    NodeMissing,
    /// The Lease was created (after a 404, or the first time).
    LeaseCreated,
    /// The Lease existed and was adopted.
    LeaseAdopted,
    /// A renewal succeeded; `late_us`: how long after its instant on the cadence it completed
    /// (retries, outages and the request itself included), the figure a fleet's "renewals on
    /// time" is judged by.
    LeaseRenewed { late_us: u64 },
    /// A renewal succeeded after a gap longer than the lease duration.
    Recovered { gap_ms: u64 },
    /// A condition changed status.
    ConditionFlipped { kind: ConditionType },
    /// The board's address changed and the Node's `InternalIP` was updated to it.
    AddressPushed { internal_ip: Ipv4Addr },
    /// The status patch was accepted; `periodic`: it was the regular one, not a flip.
    StatusPushed { periodic: bool },
    /// A Node Event was posted.
    EventPosted { reason: &'a str },
    /// A Node Event was dropped: queue full, rate-limited, or refused by the server.
    EventDropped { reason: &'a str },
    /// A response the policy did not count as done: what it was and what the agent does. For
    /// 403, `action` names the verb and resource RBAC must allow. `message` is the server's
    /// `Status` message (empty if there was none).
    Refused {
        op: Operation,
        status: u16,
        action: Action,
        message: &'a str,
    },
    /// An exchange failed without a usable response.
    ExchangeFailed { op: Operation, error: ClientError },
}

/// Receives the agent's log events. `&self`: a printer keeps no state worth a `&mut`.
pub trait Log {
    fn log(&self, event: &LogEvent<'_>);
}

/// Drops every event.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoLog;

impl Log for NoLog {
    fn log(&self, _: &LogEvent<'_>) {}
}
