//! The agent's vocabulary for where it is and how its last request failed: read by the LED
//! model ([`crate::led`]) and the metrics, written only by the agent.

/// Where the agent is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AgentPhase {
    /// Before the network interface is up.
    Booting,
    /// The link (Wi-Fi association or Ethernet carrier) is down.
    LinkDown,
    /// The link is up; DHCP, TLS, the clock anchor or registration are not done yet (also while
    /// reconnecting after a failure).
    Connecting,
    /// The Node is registered and the agent renews its Lease.
    Registered,
}

/// How the most recent failed API request failed, as far as the LED cares. The agent clears it
/// (sets `LedInputs::last_api_error` to `None`) on the next success.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ApiErrorClass {
    /// 401: the credentials were rejected.
    Unauthorized,
    /// 403: the credentials work but RBAC forbids the request.
    Forbidden,
    /// 429 or 503: the server asked us to come back later.
    Throttled,
    /// Any other 5xx.
    ServerError,
    /// Timeout, connection reset, TLS failure: no HTTP status at all.
    Transport,
}

impl ApiErrorClass {
    /// The class of an HTTP status code; `None` for codes that are not failures of this kind
    /// (2xx, and 404/409, which the agent handles as part of its protocol).
    pub const fn from_status(code: u16) -> Option<Self> {
        match code {
            401 => Some(ApiErrorClass::Unauthorized),
            403 => Some(ApiErrorClass::Forbidden),
            429 | 503 => Some(ApiErrorClass::Throttled),
            500..=599 => Some(ApiErrorClass::ServerError),
            _ => None,
        }
    }

    /// A human has to fix credentials or RBAC; retrying alone will not help.
    pub const fn is_auth(self) -> bool {
        matches!(self, ApiErrorClass::Unauthorized | ApiErrorClass::Forbidden)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_classes_from_status_codes() {
        use ApiErrorClass::*;
        assert_eq!(ApiErrorClass::from_status(401), Some(Unauthorized));
        assert_eq!(ApiErrorClass::from_status(403), Some(Forbidden));
        assert_eq!(ApiErrorClass::from_status(429), Some(Throttled));
        assert_eq!(ApiErrorClass::from_status(503), Some(Throttled));
        assert_eq!(ApiErrorClass::from_status(500), Some(ServerError));
        assert_eq!(ApiErrorClass::from_status(599), Some(ServerError));
        for ok in [200, 201, 404, 409, 0, 600, u16::MAX] {
            assert_eq!(ApiErrorClass::from_status(ok), None, "{ok}");
        }
    }
}
