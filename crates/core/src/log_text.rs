//! The agent's log lines as text that does not depend on `#[derive(Debug)]`.
//!
//! The firmware is built with `-Zfmt-debug=shallow` (BENCHMARKS.md "Firmware size"): derived
//! `Debug` then prints a type's or variant's name only, and `Option`'s `Debug` only `Some`.
//! These wrappers spell out what the board's log must keep — every field of an event, the
//! whole error chain, the summary's counters — with `Formatter`'s builders, which the flag does
//! not touch. Their text is the derived `Debug` text (tests compare the two on the host),
//! except that the errors with a sentence of their own (`k8s::BodyError`, `ExtractError`,
//! the TLS opener's failure) print that sentence.
use core::fmt::{self, Debug, Display, Formatter};

use crate::agent::config::ConfigError;
use crate::agent::log::LogEvent;
use crate::agent::outcome::SessionEnd;
use crate::agent::policy::Action;
use crate::agent::state::AgentStats;
use crate::client::counters::{ClientCounters, ClientError};
use crate::client::session::OpenError;
use crate::http::reader::ReadError;
use crate::http::request::RequestError;

/// One agent event, as the firmware prints it after `agent: `.
pub struct EventText<'a, 'e>(pub &'a LogEvent<'e>);

/// A client error with its whole chain (`Http(Head(Malformed))`).
#[derive(Clone, Copy)]
pub struct ErrorText(pub ClientError);

/// The agent's totals, for the firmware's summary line.
pub struct StatsText(pub AgentStats);

/// The client's totals, for the firmware's summary line.
pub struct CountersText(pub ClientCounters);

/// `Some(…)`/`None` around `T`'s own text, as `Option`'s `Debug` (a derive) prints it unless
/// shallow. `Display` too, for a board's own lines.
pub struct Opt<T>(pub Option<T>);

impl<T: Debug> Display for Opt<T> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        Debug::fmt(self, f)
    }
}

impl<T: Debug> Debug for Opt<T> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(v) => f.debug_tuple("Some").field(v).finish(),
            None => f.write_str("None"),
        }
    }
}

/// A value printed through its `Display` where a `Debug` field is expected.
pub struct Said<T>(pub T);

impl<T: Display> Debug for Said<T> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        Display::fmt(&self.0, f)
    }
}

impl Debug for ErrorText {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        // The leaves (`ErrorKind`, `HeadError`, `http::BodyError`, `RequestField`) have no
        // fields: their derived `Debug` is their whole name even when shallow.
        match self.0 {
            ClientError::Connect => f.write_str("Connect"),
            ClientError::ConnectTimeout => f.write_str("ConnectTimeout"),
            ClientError::Open(e) => f.debug_tuple("Open").field(&OpenText(e)).finish(),
            ClientError::Timeout => f.write_str("Timeout"),
            ClientError::Io(kind) => f.debug_tuple("Io").field(&kind).finish(),
            ClientError::Http(e) => f.debug_tuple("Http").field(&ReadText(e)).finish(),
            ClientError::Request(e) => f.debug_tuple("Request").field(&RequestText(e)).finish(),
            ClientError::Body(e) => f.debug_tuple("Body").field(&Said(e)).finish(),
            ClientError::Json(e) => f.debug_tuple("Json").field(&Said(e)).finish(),
            ClientError::Unusable => f.write_str("Unusable"),
        }
    }
}

impl Display for ErrorText {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        Debug::fmt(self, f)
    }
}

struct OpenText(OpenError);

impl Debug for OpenText {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self.0 {
            OpenError::Io(kind) => f.debug_tuple("Io").field(&kind).finish(),
            OpenError::Handshake => f.write_str("Handshake"),
            OpenError::Certificate => f.write_str("Certificate"),
            OpenError::Config => f.write_str("Config"),
        }
    }
}

struct ReadText(ReadError);

impl Debug for ReadText {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self.0 {
            ReadError::Head(e) => f.debug_tuple("Head").field(&e).finish(),
            ReadError::Body(e) => f.debug_tuple("Body").field(&e).finish(),
            ReadError::UnexpectedUpgrade => f.write_str("UnexpectedUpgrade"),
            ReadError::ClosedBeforeResponse => f.write_str("ClosedBeforeResponse"),
            ReadError::TruncatedHead => f.write_str("TruncatedHead"),
            ReadError::SurplusBytes => f.write_str("SurplusBytes"),
        }
    }
}

struct RequestText(RequestError);

impl Debug for RequestText {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self.0 {
            RequestError::InvalidField(field) => {
                f.debug_tuple("InvalidField").field(&field).finish()
            }
            RequestError::BufferFull => f.write_str("BufferFull"),
        }
    }
}

struct EndText(SessionEnd);

impl Debug for EndText {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self.0 {
            SessionEnd::Closed => f.write_str("Closed"),
            SessionEnd::Failed(e) => f.debug_tuple("Failed").field(&ErrorText(e)).finish(),
            SessionEnd::ServerError(code) => f.debug_tuple("ServerError").field(&code).finish(),
        }
    }
}

struct ActionText(Action);

impl Debug for ActionText {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let name = match self.0 {
            Action::Forbidden { verb, resource } => {
                return f
                    .debug_struct("Forbidden")
                    .field("verb", &verb)
                    .field("resource", &resource)
                    .finish()
            }
            Action::Throttled { retry_after_secs } => {
                return f
                    .debug_struct("Throttled")
                    .field("retry_after_secs", &Opt(retry_after_secs))
                    .finish()
            }
            Action::Done => "Done",
            Action::RecreateLease => "RecreateLease",
            Action::Reregister => "Reregister",
            Action::AdoptExisting => "AdoptExisting",
            Action::RereadAndRetry => "RereadAndRetry",
            Action::CredentialsRejected => "CredentialsRejected",
            Action::Reconnect => "Reconnect",
            Action::Rejected => "Rejected",
        };
        f.write_str(name)
    }
}

impl Display for EventText<'_, '_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        // `Operation` and `ConditionType` have no fields: derived `Debug` is their whole name.
        match *self.0 {
            LogEvent::ConnectFailed { error } => f
                .debug_struct("ConnectFailed")
                .field("error", &error)
                .finish(),
            LogEvent::ConnectTimedOut => f.write_str("ConnectTimedOut"),
            LogEvent::OpenFailed { error, tls } => f
                .debug_struct("OpenFailed")
                .field("error", &OpenText(error))
                .field("tls", &Opt(tls.map(Said)))
                .finish(),
            LogEvent::SessionOpened { handshakes } => f
                .debug_struct("SessionOpened")
                .field("handshakes", &handshakes)
                .finish(),
            LogEvent::SessionEnded { why, retry_in_ms } => f
                .debug_struct("SessionEnded")
                .field("why", &EndText(why))
                .field("retry_in_ms", &retry_in_ms)
                .finish(),
            LogEvent::ClockAnchored { skew_micros } => f
                .debug_struct("ClockAnchored")
                .field("skew_micros", &Opt(skew_micros))
                .finish(),
            LogEvent::NoDate => f.write_str("NoDate"),
            LogEvent::Registered { created, uid } => f
                .debug_struct("Registered")
                .field("created", &created)
                .field("uid", &uid)
                .finish(),
            LogEvent::TaintMissing { key } => {
                f.debug_struct("TaintMissing").field("key", &key).finish()
            }
            LogEvent::LabelsPatched => f.write_str("LabelsPatched"),
            LogEvent::ConditionsAdopted { transitions } => f
                .debug_struct("ConditionsAdopted")
                .field("transitions", &transitions)
                .finish(),
            LogEvent::NodeMissing => f.write_str("NodeMissing"),
            LogEvent::LeaseCreated => f.write_str("LeaseCreated"),
            LogEvent::LeaseAdopted => f.write_str("LeaseAdopted"),
            LogEvent::LeaseRenewed { late_us } => f
                .debug_struct("LeaseRenewed")
                .field("late_us", &late_us)
                .finish(),
            LogEvent::Recovered { gap_ms } => f
                .debug_struct("Recovered")
                .field("gap_ms", &gap_ms)
                .finish(),
            LogEvent::ConditionFlipped { kind } => f
                .debug_struct("ConditionFlipped")
                .field("kind", &kind)
                .finish(),
            LogEvent::AddressPushed { internal_ip } => f
                .debug_struct("AddressPushed")
                .field("internal_ip", &internal_ip)
                .finish(),
            LogEvent::StatusPushed { periodic } => f
                .debug_struct("StatusPushed")
                .field("periodic", &periodic)
                .finish(),
            LogEvent::EventPosted { reason } => f
                .debug_struct("EventPosted")
                .field("reason", &reason)
                .finish(),
            LogEvent::EventDropped { reason } => f
                .debug_struct("EventDropped")
                .field("reason", &reason)
                .finish(),
            LogEvent::Refused {
                op,
                status,
                action,
                message,
            } => f
                .debug_struct("Refused")
                .field("op", &op)
                .field("status", &status)
                .field("action", &ActionText(action))
                .field("message", &message)
                .finish(),
            LogEvent::ExchangeFailed { op, error } => f
                .debug_struct("ExchangeFailed")
                .field("op", &op)
                .field("error", &ErrorText(error))
                .finish(),
        }
    }
}

impl Display for StatsText {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let s = &self.0;
        f.debug_struct("AgentStats")
            .field("anchors", &s.anchors)
            .field("registrations", &s.registrations)
            .field("lease_creations", &s.lease_creations)
            .field("renewals", &s.renewals)
            .field("renewal_failures", &s.renewal_failures)
            .field("status_pushes", &s.status_pushes)
            .field("status_push_failures", &s.status_push_failures)
            .field("recoveries", &s.recoveries)
            .field("taint_missing", &s.taint_missing)
            .field("events_posted", &s.events_posted)
            .finish()
    }
}

impl Display for CountersText {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let c = &self.0;
        f.debug_struct("ClientCounters")
            .field("requests", &c.requests)
            .field("responses_2xx", &c.responses_2xx)
            .field("responses_4xx", &c.responses_4xx)
            .field("responses_5xx", &c.responses_5xx)
            .field("responses_other", &c.responses_other)
            .field("bytes_out", &c.bytes_out)
            .field("bytes_in", &c.bytes_in)
            .field("handshakes", &c.handshakes)
            .field("reconnects", &c.reconnects)
            .field("connect_failures", &c.connect_failures)
            .field("timeouts", &c.timeouts)
            .field("last_error", &Opt(c.last_error.map(ErrorText)))
            .finish()
    }
}

/// The derived `Debug` text, with the profile's own sentence for `Profile`: a board halts with
/// it when the agent refuses its configuration.
impl Display for ConfigError {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match *self {
            ConfigError::Host => f.write_str("Host"),
            ConfigError::ServerName => f.write_str("ServerName"),
            ConfigError::Token => f.write_str("Token"),
            ConfigError::Profile(e) => f.debug_tuple("Profile").field(&Said(e)).finish(),
            ConfigError::Interval { field } => {
                f.debug_struct("Interval").field("field", &field).finish()
            }
            ConfigError::RenewNotBelowLeaseDuration => f.write_str("RenewNotBelowLeaseDuration"),
            ConfigError::TimeoutNotBelowRenewInterval => {
                f.write_str("TimeoutNotBelowRenewInterval")
            }
            ConfigError::RegistrationTooLarge { needed, available } => f
                .debug_struct("RegistrationTooLarge")
                .field("needed", &needed)
                .field("available", &available)
                .finish(),
        }
    }
}
