//! What a failure the agent reports means, as a sentence with what to do, keyed by its cause:
//! the log says each distinct cause once (then counts it), a fleet summarises refusals by
//! cause, and the metrics show AuthFailed. Normal protocol answers (404 before the first Lease,
//! 409 for an existing Node) are no refusals.

use picokubelet_core::agent::policy::{Action, Operation};
use picokubelet_core::agent::LogEvent;
use picokubelet_core::client::OpenError;

use crate::check::advice::tls_fix;

/// How loud a cause is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// Transient or the server's own trouble: retried with backoff.
    Warn,
    /// Needs a human (credentials, RBAC, CA, names): retried slowly, never fixes itself.
    Error,
}

/// A distinct cause of failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cause {
    /// Stable, short: the label a fleet summary counts by (`403 patch leases…`, `tls
    /// untrusted_chain`, `401`).
    pub key: String,
    pub severity: Severity,
    /// What happened and what to do, as sentences.
    pub sentence: String,
    /// 401/403: the LED's and the metrics' AuthFailed.
    pub auth: bool,
}

/// What the agent was doing, in words.
pub fn doing(op: Operation) -> &'static str {
    match op {
        Operation::Version => "reading /version (the clock anchor)",
        Operation::CreateNode => "registering the Node",
        Operation::ReadNode => "reading the Node",
        Operation::PatchNode => "updating the Node",
        Operation::CreateLease => "creating the Lease",
        Operation::ReadLease => "reading the Lease",
        Operation::RenewLease => "renewing the Lease",
        Operation::PostEvent => "posting an Event",
    }
}

fn with_message(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

/// The cause behind `event`, if it reports a failure.
pub fn cause_of(event: &LogEvent<'_>) -> Option<Cause> {
    let warn = |key: String, sentence: String| Cause {
        key,
        severity: Severity::Warn,
        sentence,
        auth: false,
    };
    Some(match *event {
        LogEvent::ConnectFailed { error } => warn(
            format!("connect {error:?}"),
            format!("cannot connect to the API server ({error:?}); retrying with backoff"),
        ),
        LogEvent::ConnectTimedOut => warn(
            "connect timeout".into(),
            "connecting to the API server timed out; retrying with backoff".into(),
        ),
        LogEvent::OpenFailed { tls: Some(e), .. } => {
            let refused = e.rejection();
            Cause {
                key: match refused {
                    Some(r) => format!("tls {}", r.as_str()),
                    None => "tls handshake".into(),
                },
                // A refusal with its own advice (a refused client certificate) needs a human too.
                severity: if refused.is_some() || e.advice().is_some() {
                    Severity::Error
                } else {
                    Severity::Warn
                },
                sentence: format!(
                    "cannot open a TLS session to the API server: {e}. What to do: {}",
                    e.advice()
                        .unwrap_or_else(|| tls_fix(refused))
                        .replace('\n', " ")
                ),
                auth: false,
            }
        }
        LogEvent::OpenFailed { error, tls: None } => warn(
            format!("tls {error:?}"),
            match error {
                OpenError::Io(kind) => format!(
                    "the connection broke during the TLS handshake ({kind:?}); retrying with backoff"
                ),
                other => format!("the TLS handshake failed ({other:?}); retrying with backoff"),
            },
        ),
        LogEvent::Refused {
            op,
            status,
            action,
            message,
        } => match action {
            Action::CredentialsRejected => Cause {
                key: "401".into(),
                severity: Severity::Error,
                sentence: format!(
                    "the API server rejected the credentials (401 Unauthorized) while {}: the token is unknown, expired or revoked. What to do: mint a new one (deploy/README.md) and run `picokubelet check`; retrying slowly",
                    doing(op)
                ),
                auth: true,
            },
            Action::Forbidden { verb, resource } => Cause {
                key: format!("403 {verb} {resource}"),
                severity: Severity::Error,
                sentence: format!(
                    "the API server refused {} (403 Forbidden){}. The credentials need `{verb}` on {resource}. What to do: a node identity may act only for its own name; a User or ServiceAccount needs all three bindings of deploy/rbac.yaml (`picokubelet check` prints the one to create); retrying slowly",
                    doing(op),
                    with_message(message)
                ),
                auth: true,
            },
            Action::Throttled { retry_after_secs } => warn(
                format!("{status} throttled"),
                format!(
                    "the API server is busy ({status}) while {}{}; waiting {} and retrying",
                    doing(op),
                    with_message(message),
                    retry_after_secs.map_or("with backoff".to_owned(), |s| format!("{s} s"))
                ),
            ),
            Action::Reconnect => warn(
                format!("{status}"),
                format!(
                    "the API server failed ({status}) while {}{}; reconnecting with backoff",
                    doing(op),
                    with_message(message)
                ),
            ),
            Action::Rejected => Cause {
                key: format!("{status} {op:?}"),
                severity: Severity::Error,
                sentence: format!(
                    "the API server rejected the request ({status}) while {}{}. Retrying the same request cannot help: a label or name the server refuses, or a bug (please report it)",
                    doing(op),
                    with_message(message)
                ),
                auth: false,
            },
            // 2xx, 404 and 409 are the protocol's own answers.
            Action::Done
            | Action::RecreateLease
            | Action::Reregister
            | Action::AdoptExisting
            | Action::RereadAndRetry => return None,
        },
        LogEvent::ExchangeFailed { op, error } => warn(
            format!("exchange {error:?}"),
            format!(
                "the request failed while {} ({error:?}); reconnecting",
                doing(op)
            ),
        ),
        _ => return None,
    })
}

/// The agent worked again since its last failure: every cause may be said again.
pub fn is_recovery(event: &LogEvent<'_>) -> bool {
    matches!(
        event,
        LogEvent::Registered { .. }
            | LogEvent::LeaseCreated
            | LogEvent::LeaseAdopted
            | LogEvent::LeaseRenewed { .. }
            | LogEvent::StatusPushed { .. }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_answers_are_no_refusals_and_auth_failures_are() {
        let first_boot = LogEvent::Refused {
            op: Operation::ReadLease,
            status: 404,
            action: Action::RecreateLease,
            message: "leases.coordination.k8s.io \"vb-1\" not found",
        };
        assert_eq!(cause_of(&first_boot), None);
        let forbidden = LogEvent::Refused {
            op: Operation::RenewLease,
            status: 403,
            action: Action::Forbidden {
                verb: "patch",
                resource: "leases.coordination.k8s.io in kube-node-lease",
            },
            message: "leases.coordination.k8s.io \"vb-1\" is forbidden: User \"u\" cannot patch resource \"leases\"",
        };
        let cause = cause_of(&forbidden).unwrap();
        assert!(cause.auth);
        assert_eq!(cause.severity, Severity::Error);
        assert_eq!(
            cause.key,
            "403 patch leases.coordination.k8s.io in kube-node-lease"
        );
        assert!(cause.sentence.starts_with(
            "the API server refused renewing the Lease (403 Forbidden): leases.coordination.k8s.io \"vb-1\" is forbidden"
        ));
        assert!(cause.sentence.contains("deploy/rbac.yaml"));
    }

    #[test]
    fn a_refused_client_certificate_says_what_to_do_about_the_certificate() {
        use picokubelet_core::client::OpenError;
        use picokubelet_core::tls::{TlsError, TlsOpenError};
        let refused = TlsOpenError::ClientCertificateRefused {
            error: TlsError::Io(embedded_io_async::ErrorKind::BrokenPipe),
        };
        let event = LogEvent::OpenFailed {
            error: OpenError::Certificate,
            tls: Some(&refused),
        };
        let cause = cause_of(&event).unwrap();
        assert_eq!(cause.severity, Severity::Error);
        assert!(
            cause.sentence.contains("after our client certificate"),
            "{}",
            cause.sentence
        );
        assert!(
            cause.sentence.contains(
                "What to do: the client certificate must be issued by the cluster's client CA"
            ),
            "{}",
            cause.sentence
        );
        assert!(
            !cause.sentence.contains("TLS 1.3 with"),
            "{}",
            cause.sentence
        );
    }
}
