//! The agent's configuration: where the server is, who we are, and the cadences. Defaults follow
//! DESIGN.md; [`AgentConfig::validate`] refuses what would break the protocol with a typed error.
use core::time::Duration;

use crate::client::credential::{with_token, SharedToken};
use crate::conditions::{ConditionSet, ConditionThresholds, Signals};
use crate::http::request::{write_request_head, BearerToken, RequestError, RequestHead};
use crate::k8s::body_error::BodyError;
use crate::k8s::lease::DEFAULT_LEASE_DURATION_SECONDS;
use crate::k8s::node::{write_node_registration, NodeProfile};
use crate::k8s::paths::{ApiPath, ApiWrite};
use crate::time::UnixMicros;

/// Cadences and timeouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// Lease renewal period (kubelet: 10 s, a quarter of the lease duration).
    pub lease_renew_interval: Duration,
    /// `spec.leaseDurationSeconds` (kubelet: 40). A renewal gap longer than this means the node
    /// lifecycle controller may have marked the node Unknown (its grace period is 50 s).
    pub lease_duration_secs: u32,
    /// Status push period when nothing changes (kubelet: 5 min).
    pub status_interval: Duration,
    /// How often the board's signals are read and the conditions re-evaluated; a status flip is
    /// pushed at the next check.
    pub condition_check_interval: Duration,
    /// Re-anchoring of the wall clock on `/version` (skew feeds `Haunted`).
    pub reanchor_interval: Duration,
    /// Deadline of one request/response exchange. A stalled exchange ends the session.
    pub request_timeout: Duration,
    /// Deadline of connect plus session open (TCP and the TLS handshake).
    pub connect_timeout: Duration,
    /// Events of one reason are posted at most once per this period.
    pub event_min_interval: Duration,
}

impl Timing {
    /// DESIGN.md's cadences.
    pub const DEFAULT: Timing = Timing {
        lease_renew_interval: Duration::from_secs(10),
        lease_duration_secs: DEFAULT_LEASE_DURATION_SECONDS,
        status_interval: Duration::from_secs(5 * 60),
        condition_check_interval: Duration::from_secs(10),
        reanchor_interval: Duration::from_secs(30 * 60),
        request_timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(10),
        event_min_interval: Duration::from_secs(10 * 60),
    };

    /// The lease duration as a [`Duration`].
    pub const fn lease_duration(&self) -> Duration {
        Duration::from_secs(self.lease_duration_secs as u64)
    }
}

impl Default for Timing {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Everything the agent needs to know. Borrowed strings: the body keeps them (flash, a parsed
/// kubeconfig). `Debug` never shows the token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AgentConfig<'a> {
    /// `Host` header: `host` or `host:port` of the server URL.
    pub host: &'a str,
    /// The name the server certificate must carry (kubeconfig's `tls-server-name`, else the
    /// host name without port). Handed to the [`crate::client::SessionOpener`].
    pub server_name: &'a str,
    /// Bearer token of the node identity (`system:node:<name>`); `None` sends no
    /// `Authorization` (a test server, or client certificates in the opener).
    pub token: Option<BearerToken<'a>>,
    /// When set, each request takes its token from here instead of `token` (a host's exec
    /// credential plugin, whose tokens expire); see [`crate::client::credential`].
    pub token_source: Option<SharedToken<'a>>,
    /// What the Node says about the board.
    pub profile: NodeProfile<'a>,
    /// Lines of the condition rules (DESIGN.md §8).
    pub thresholds: ConditionThresholds,
    pub timing: Timing,
}

/// Why a configuration was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// The host is empty or holds a space, a control byte or non-ASCII.
    Host,
    /// The server name is empty or holds a space, a control byte or non-ASCII.
    ServerName,
    /// The token is empty or holds a space, a control byte or non-ASCII.
    Token,
    /// The node profile breaks a server rule or a builder limit.
    Profile(BodyError),
    /// A period or timeout is zero, or longer than a day.
    Interval { field: &'static str },
    /// The renewal period must be shorter than the lease duration, or the lease expires
    /// between renewals.
    RenewNotBelowLeaseDuration,
    /// The request timeout must be shorter than the renewal period, so one stalled exchange
    /// cannot cost a renewal.
    TimeoutNotBelowRenewInterval,
    /// The registration request (body and head with this token) does not fit the client's
    /// transmit buffer of `available` bytes.
    RegistrationTooLarge { needed: usize, available: usize },
}

const ONE_DAY: Duration = Duration::from_secs(24 * 60 * 60);

fn visible_ascii(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| matches!(b, 0x21..=0x7e))
}

impl<'a> AgentConfig<'a> {
    /// A configuration with DESIGN.md's defaults for everything but the server and the node.
    pub const fn new(
        host: &'a str,
        token: Option<BearerToken<'a>>,
        profile: NodeProfile<'a>,
    ) -> Self {
        AgentConfig {
            host,
            server_name: host,
            token,
            token_source: None,
            profile,
            thresholds: ConditionThresholds::DEFAULT,
            timing: Timing::DEFAULT,
        }
    }

    /// Checks every field; see [`ConfigError`]. Does not need a buffer: the size check that
    /// does is [`Self::check_fits`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !visible_ascii(self.host) {
            return Err(ConfigError::Host);
        }
        if !visible_ascii(self.server_name) {
            return Err(ConfigError::ServerName);
        }
        let token_ok = with_token(self.token, self.token_source, |token| {
            token.is_none_or(|t| visible_ascii(t.expose()))
        });
        if !token_ok {
            return Err(ConfigError::Token);
        }
        self.profile.validate().map_err(ConfigError::Profile)?;
        let t = &self.timing;
        for (field, d) in [
            ("lease_renew_interval", t.lease_renew_interval),
            ("status_interval", t.status_interval),
            ("condition_check_interval", t.condition_check_interval),
            ("reanchor_interval", t.reanchor_interval),
            ("request_timeout", t.request_timeout),
            ("connect_timeout", t.connect_timeout),
            ("event_min_interval", t.event_min_interval),
        ] {
            if d.is_zero() || d > ONE_DAY {
                return Err(ConfigError::Interval { field });
            }
        }
        if t.lease_duration_secs == 0 || i32::try_from(t.lease_duration_secs).is_err() {
            return Err(ConfigError::Interval {
                field: "lease_duration_secs",
            });
        }
        if t.lease_renew_interval >= t.lease_duration() {
            return Err(ConfigError::RenewNotBelowLeaseDuration);
        }
        if t.request_timeout >= t.lease_renew_interval {
            return Err(ConfigError::TimeoutNotBelowRenewInterval);
        }
        Ok(())
    }

    /// Writes the registration request as the client would (body, path and head, with all
    /// conditions as they read at boot) into `tx` and checks that it fits, with 256 bytes to
    /// spare for longer condition texts later. The registration is the largest request.
    pub fn check_fits(&self, tx: &mut [u8]) -> Result<(), ConfigError> {
        const SPARE: usize = 256;
        let available = tx.len();
        let too_large = |needed: usize| ConfigError::RegistrationTooLarge { needed, available };
        let signals = Signals::default();
        let conditions = ConditionSet::new(self.thresholds, &signals, UnixMicros(0));
        let body_len = match write_node_registration(
            &self.profile,
            conditions.conditions(),
            Some(u64::MAX),
            UnixMicros(0),
            tx,
        ) {
            Ok(n) => n,
            Err(BodyError::Json(crate::json::writer::JsonError::BufferFull { needed })) => {
                return Err(too_large(needed.saturating_add(SPARE)))
            }
            Err(e) => return Err(ConfigError::Profile(e)),
        };
        let write = ApiWrite::RegisterNode;
        let path = ApiPath::Nodes;
        let rest = tx.get_mut(body_len..).unwrap_or(&mut []);
        let rest_len = rest.len();
        let head_room = rest_len.saturating_sub(path.len());
        let written = with_token(self.token, self.token_source, |bearer_token| {
            let mut head = RequestHead::new(write.method(), "/api/v1/nodes", self.host);
            head.bearer_token = bearer_token;
            head.content_type = Some(write.content_type().as_str());
            head.body_len = Some(body_len);
            write_request_head(&head, rest.get_mut(..head_room).unwrap_or(&mut []))
        });
        let head_len = match written {
            Ok(n) => n,
            Err(RequestError::BufferFull) => {
                return Err(too_large(available.saturating_add(SPARE).saturating_add(1)))
            }
            Err(RequestError::InvalidField(_)) => return Err(ConfigError::Token),
        };
        let needed = body_len + path.len() + head_len + SPARE;
        if needed > available {
            return Err(too_large(needed));
        }
        Ok(())
    }
}
