//! Fault injection and the request/connection log.

use std::time::{Duration, SystemTime};

/// What a matching request gets instead of (or on top of) its normal answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// A `Status` error with this HTTP code (500 InternalError, 503 ServiceUnavailable, 504
    /// Timeout, …), optionally with `Retry-After` (and `details.retryAfterSeconds`).
    Status {
        /// HTTP status code.
        code: u16,
        /// Seconds for `Retry-After`.
        retry_after: Option<u32>,
    },
    /// API Priority and Fairness rejection, byte for byte as recorded (16a): 429, `text/plain`,
    /// `Retry-After: 1`, `Too many requests, please try again later.`.
    TooManyRequests,
    /// Drop the connection without an answer (TCP RST on a real socket; no TLS close_notify).
    Reset,
    /// Close the connection cleanly (close_notify, FIN) without an answer.
    Close,
    /// Never answer; the connection stays open until the client or a restart closes it.
    Stall,
    /// Answer normally after this much clock time (the request takes effect at once; only the
    /// answer waits).
    Delay(Duration),
    /// Send only the first N bytes of the normal answer, then drop the connection.
    Truncate(usize),
    /// Send only the first N bytes of the normal answer, then close cleanly (TLS close_notify,
    /// FIN): a peer that shuts down mid-answer, which a client must not take for a whole answer.
    CloseMidAnswer(usize),
    /// Answer normally with a `Date` this many seconds off the server's clock (a server whose
    /// wall clock was stepped; the controller and the stored times keep the true clock).
    SkewDate(i64),
    /// Answer normally with an extra `X-Padding` header of `header_bytes` bytes (guess: not
    /// recorded; a proxy or webhook adding headers) and `body_bytes` of trailing whitespace
    /// after the JSON (still valid JSON, longer than any buffer of a small client).
    Oversized {
        /// Bytes of the `X-Padding` header value.
        header_bytes: usize,
        /// Bytes of whitespace appended to the body.
        body_bytes: usize,
    },
}

impl Fault {
    /// 503 with `Retry-After`.
    pub fn unavailable(retry_after: u32) -> Self {
        Fault::Status {
            code: 503,
            retry_after: Some(retry_after),
        }
    }

    /// A Status error without `Retry-After`.
    pub fn status(code: u16) -> Self {
        Fault::Status {
            code,
            retry_after: None,
        }
    }
}

/// A fault for the next `times` requests that match (method and path prefix, if given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    /// The fault.
    pub fault: Fault,
    /// How many matching requests get it.
    pub times: usize,
    /// Only requests with this method.
    pub method: Option<String>,
    /// Only requests whose path starts with this.
    pub path_prefix: Option<String>,
}

impl FaultRule {
    /// Applies `fault` to the next matching request.
    pub fn new(fault: Fault) -> Self {
        FaultRule {
            fault,
            times: 1,
            method: None,
            path_prefix: None,
        }
    }

    /// Applies to the next `n` matching requests.
    pub fn times(mut self, n: usize) -> Self {
        self.times = n;
        self
    }

    /// Only for requests with this method (e.g. `PATCH`).
    pub fn method(mut self, method: &str) -> Self {
        self.method = Some(method.to_ascii_uppercase());
        self
    }

    /// Only for paths starting with `prefix` (e.g. `/apis/coordination.k8s.io/`).
    pub fn path_prefix(mut self, prefix: &str) -> Self {
        self.path_prefix = Some(prefix.to_string());
        self
    }

    pub(crate) fn matches(&self, method: &str, path: &str) -> bool {
        self.times > 0
            && self.method.as_deref().is_none_or(|m| m == method)
            && self
                .path_prefix
                .as_deref()
                .is_none_or(|p| path.starts_with(p))
    }
}

/// One request as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// Connection id (see [`ConnectionRecord::id`]).
    pub connection: u64,
    /// Clock time when the request was complete.
    pub at: SystemTime,
    /// Method.
    pub method: String,
    /// Path and query as sent.
    pub target: String,
    /// Status code answered (None when reset, closed or stalled).
    pub status: Option<u16>,
    /// Bytes of the request on the wire (head and body, chunk framing included).
    pub request_bytes: usize,
    /// Bytes of the answer written (head and body, chunk framing included).
    pub response_bytes: usize,
    /// Authenticated user, if any.
    pub user: Option<String>,
    /// `User-Agent`.
    pub user_agent: Option<String>,
    /// The fault applied, if any.
    pub fault: Option<Fault>,
}

/// How a connection's TLS handshake went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handshake {
    /// Plain HTTP (no TLS layer in this server).
    None,
    /// Full handshake.
    Full {
        /// e.g. `TLSv1_3`.
        version: String,
        /// e.g. `TLS13_AES_128_GCM_SHA256`.
        suite: String,
    },
    /// Session resumption (PSK).
    Resumed {
        /// e.g. `TLSv1_3`.
        version: String,
        /// e.g. `TLS13_AES_128_GCM_SHA256`.
        suite: String,
    },
    /// The handshake failed.
    Failed(String),
}

/// One connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionRecord {
    /// Sequential id, from 1.
    pub id: u64,
    /// Clock time of accept.
    pub opened: SystemTime,
    /// TLS outcome.
    pub handshake: Handshake,
    /// Client certificate user, if one was presented and known.
    pub client_cert_user: Option<String>,
}
