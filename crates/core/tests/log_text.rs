//! The log text the firmware prints (`log_text`, shallow-`Debug`-proof) says what the derived
//! `Debug` says: the same text for every event whose fields are numbers, names and error
//! chains, and the error's own sentence where one exists.
use core::net::Ipv4Addr;

use embedded_io_async::ErrorKind;
use picokubelet_core::agent::policy::{Action, Operation};
use picokubelet_core::agent::{AgentStats, ConfigError, LogEvent, SessionEnd};
use picokubelet_core::client::session::{OpenError, OpenFailure};
use picokubelet_core::client::{ClientCounters, ClientError};
use picokubelet_core::conditions::ConditionType;
use picokubelet_core::http::body::BodyError as HttpBodyError;
use picokubelet_core::http::reader::ReadError;
use picokubelet_core::http::request::{RequestError, RequestField};
use picokubelet_core::http::response::HeadError;
use picokubelet_core::json::extract::{ErrorKind as JsonKind, ExtractError};
use picokubelet_core::k8s::body_error::BodyError;
use picokubelet_core::log_text::{CountersText, ErrorText, EventText, StatsText};
use picokubelet_core::tls::check::Rejection;

fn chains() -> Vec<ClientError> {
    vec![
        ClientError::Connect,
        ClientError::ConnectTimeout,
        ClientError::Open(OpenError::Io(ErrorKind::ConnectionReset)),
        ClientError::Open(OpenError::Handshake),
        ClientError::Open(OpenError::Certificate),
        ClientError::Open(OpenError::Config),
        ClientError::Timeout,
        ClientError::Io(ErrorKind::BrokenPipe),
        ClientError::Http(ReadError::Head(HeadError::Malformed)),
        ClientError::Http(ReadError::Body(HttpBodyError::Truncated)),
        ClientError::Http(ReadError::UnexpectedUpgrade),
        ClientError::Http(ReadError::ClosedBeforeResponse),
        ClientError::Http(ReadError::TruncatedHead),
        ClientError::Http(ReadError::SurplusBytes),
        ClientError::Request(RequestError::InvalidField(RequestField::Host)),
        ClientError::Request(RequestError::BufferFull),
        ClientError::Unusable,
    ]
}

fn events() -> Vec<LogEvent<'static>> {
    let mut events = vec![
        LogEvent::ConnectFailed { error: &"dns" },
        LogEvent::ConnectTimedOut,
        LogEvent::OpenFailed {
            error: OpenError::Certificate,
            tls: None,
        },
        LogEvent::SessionOpened { handshakes: 3 },
        LogEvent::SessionEnded {
            why: SessionEnd::Closed,
            retry_in_ms: 0,
        },
        LogEvent::SessionEnded {
            why: SessionEnd::ServerError(502),
            retry_in_ms: 4000,
        },
        LogEvent::ClockAnchored { skew_micros: None },
        LogEvent::ClockAnchored {
            skew_micros: Some(-1250),
        },
        LogEvent::NoDate,
        LogEvent::Registered {
            created: true,
            uid: "4f0c\"x",
        },
        LogEvent::TaintMissing {
            key: "picokubelet.io/microcontroller",
        },
        LogEvent::LabelsPatched,
        LogEvent::ConditionsAdopted { transitions: 2 },
        LogEvent::NodeMissing,
        LogEvent::LeaseCreated,
        LogEvent::LeaseAdopted,
        LogEvent::LeaseRenewed { late_us: 5120 },
        LogEvent::Recovered { gap_ms: 61_000 },
        LogEvent::ConditionFlipped {
            kind: ConditionType::Haunted,
        },
        LogEvent::AddressPushed {
            internal_ip: Ipv4Addr::new(10, 0, 0, 7),
        },
        LogEvent::StatusPushed { periodic: true },
        LogEvent::EventPosted { reason: "Starting" },
        LogEvent::EventDropped { reason: "Rebooted" },
    ];
    let actions = [
        Action::Done,
        Action::RecreateLease,
        Action::Reregister,
        Action::AdoptExisting,
        Action::RereadAndRetry,
        Action::CredentialsRejected,
        Action::Forbidden {
            verb: "patch",
            resource: "nodes, nodes/status",
        },
        Action::Throttled {
            retry_after_secs: Some(7),
        },
        Action::Throttled {
            retry_after_secs: None,
        },
        Action::Reconnect,
        Action::Rejected,
    ];
    for action in actions {
        events.push(LogEvent::Refused {
            op: Operation::RenewLease,
            status: 403,
            action,
            message: "forbidden: \"x\"",
        });
    }
    for error in chains() {
        events.push(LogEvent::ExchangeFailed {
            op: Operation::PostEvent,
            error,
        });
        events.push(LogEvent::SessionEnded {
            why: SessionEnd::Failed(error),
            retry_in_ms: 1000,
        });
    }
    events
}

#[test]
fn every_event_reads_as_its_derived_debug() {
    for event in events() {
        assert_eq!(EventText(&event).to_string(), format!("{event:?}"));
    }
}

#[test]
fn pretty_printing_keeps_the_derived_layout() {
    for event in events() {
        assert_eq!(format!("{:#}", EventText(&event)), format!("{event:#?}"));
    }
}

#[test]
fn errors_with_a_sentence_print_the_sentence() {
    let body = BodyError::TooLong {
        field: "metadata.name",
        len: 300,
        max: 253,
    };
    let json = ExtractError {
        offset: 17,
        kind: JsonKind::UnexpectedByte(b'}'),
    };
    assert_eq!(
        ErrorText(ClientError::Body(body)).to_string(),
        format!("Body({body})")
    );
    assert_eq!(
        ErrorText(ClientError::Json(json)).to_string(),
        "Json(unexpected byte 0x7d at offset 17)"
    );
}

#[derive(Debug)]
struct Refused;

impl core::fmt::Display for Refused {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("TLS: the server's certificate names 'a', not 'b'")
    }
}

impl OpenFailure for Refused {
    fn rejection(&self) -> Option<Rejection> {
        None
    }
}

#[test]
fn a_tls_failure_prints_the_openers_sentence() {
    let event = LogEvent::OpenFailed {
        error: OpenError::Certificate,
        tls: Some(&Refused),
    };
    assert_eq!(
        EventText(&event).to_string(),
        "OpenFailed { error: Certificate, tls: Some(TLS: the server's certificate names 'a', not 'b') }"
    );
}

#[test]
fn the_summary_counters_read_as_their_derived_debug() {
    let stats = AgentStats {
        anchors: 1,
        registrations: 2,
        lease_creations: 3,
        renewals: 4,
        renewal_failures: 5,
        status_pushes: 6,
        status_push_failures: 7,
        recoveries: 8,
        taint_missing: 9,
        events_posted: 10,
    };
    assert_eq!(StatsText(stats).to_string(), format!("{stats:?}"));
    let mut counters = ClientCounters {
        requests: 11,
        bytes_in: 12,
        handshakes: 13,
        ..ClientCounters::default()
    };
    assert_eq!(CountersText(counters).to_string(), format!("{counters:?}"));
    for error in chains() {
        counters.last_error = Some(error);
        assert_eq!(CountersText(counters).to_string(), format!("{counters:?}"));
    }
}

#[test]
fn a_configuration_error_reads_as_its_derived_debug_but_for_the_profiles_sentence() {
    for error in [
        ConfigError::Host,
        ConfigError::ServerName,
        ConfigError::Token,
        ConfigError::Interval {
            field: "renew_interval",
        },
        ConfigError::RenewNotBelowLeaseDuration,
        ConfigError::TimeoutNotBelowRenewInterval,
        ConfigError::RegistrationTooLarge {
            needed: 5300,
            available: 5120,
        },
    ] {
        assert_eq!(error.to_string(), format!("{error:?}"));
    }
    let body = BodyError::TooManyLabels { count: 20, max: 16 };
    assert_eq!(
        ConfigError::Profile(body).to_string(),
        format!("Profile({body})")
    );
}

#[test]
fn a_tls_failure_keeps_the_servers_alert_and_the_der_reason() {
    use picokubelet_core::tls::der::DerError;
    use picokubelet_core::tls::embedded_tls::alert::{AlertDescription, AlertLevel};
    use picokubelet_core::tls::x509::X509Error;
    use picokubelet_core::tls::{TlsError, TlsOpenError};

    let aborted = TlsError::HandshakeAborted(AlertLevel::Fatal, AlertDescription::BadCertificate);
    let handshake = TlsOpenError::Handshake {
        error: aborted,
        verify: None,
    }
    .to_string();
    assert!(
        handshake.starts_with("TLS handshake failed (HandshakeAborted(Fatal, BadCertificate)): "),
        "{handshake}"
    );
    let refused = TlsOpenError::ClientCertificateRefused { error: aborted }.to_string();
    assert!(
        refused.contains("(HandshakeAborted(Fatal, BadCertificate))"),
        "{refused}"
    );
    let parse = TlsOpenError::ClientCertificateRefused {
        error: TlsError::InvalidRecord,
    }
    .to_string();
    assert!(parse.contains("(InvalidRecord)"), "{parse}");

    assert_eq!(
        format!("{:?}", X509Error::Der(DerError::UnexpectedTag)),
        "Der(UnexpectedTag)"
    );
    assert_eq!(format!("{:?}", X509Error::NotV3), "NotV3");
}

#[test]
fn a_label_slot_keeps_its_index() {
    use picokubelet_core::k8s::body_error::LabelSlot;
    assert_eq!(format!("{:?}", LabelSlot::Extra(3)), "Extra(3)");
    assert_eq!(format!("{:?}", LabelSlot::InstanceType), "InstanceType");
    let body = BodyError::DuplicateLabel {
        slot: LabelSlot::Extra(2),
    };
    assert_eq!(body.to_string(), "label Extra(2) repeats a key");
}
