//! What the client counts, for metrics and the LED. Plain `Copy` values in a `Cell`: the agent
//! and its readers share one executor, and a snapshot is a copy.
use core::cell::Cell;

use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use embassy_sync::signal::Signal;
use embedded_io_async::ErrorKind;

use crate::client::session::OpenError;
use crate::http::reader::ReadError;
use crate::http::request::RequestError;
use crate::json::extract::ExtractError;
use crate::k8s::body_error::BodyError;

/// Why a connection, an open or an exchange failed. Small and `Copy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientError {
    /// The connector failed (its own error went to the log).
    Connect,
    /// The connector or the opener did not finish within the connect timeout.
    ConnectTimeout,
    /// The session could not be opened (TLS).
    Open(OpenError),
    /// The exchange did not complete within the request timeout.
    Timeout,
    /// Reading or writing the session failed.
    Io(ErrorKind),
    /// The response was not valid HTTP/1.1, or the connection ended inside it.
    Http(ReadError),
    /// The request head could not be written (a bad host or token, or no room for it).
    Request(RequestError),
    /// The request body could not be written (no room for it, or a value the builder refuses).
    Body(BodyError),
    /// A success response carried a body that is not valid JSON.
    Json(ExtractError),
    /// The session cannot carry another request: the server closed it, or an earlier exchange
    /// broke off.
    Unusable,
}

impl ClientError {
    /// After this error the session cannot carry another request. `Body`, `Request` and `Json`
    /// leave it usable: nothing was sent, or the response was framed and read completely.
    pub const fn ends_session(&self) -> bool {
        !matches!(
            self,
            ClientError::Body(_) | ClientError::Request(_) | ClientError::Json(_)
        )
    }
}

/// Running totals since boot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientCounters {
    /// Requests written (whatever became of them).
    pub requests: u64,
    /// Responses by status class.
    pub responses_2xx: u64,
    pub responses_4xx: u64,
    pub responses_5xx: u64,
    /// 1xx final (impossible), 3xx and codes outside 100..=599.
    pub responses_other: u64,
    /// Bytes of request heads and bodies written (HTTP layer, before TLS).
    pub bytes_out: u64,
    /// Bytes of responses read (HTTP layer, after TLS).
    pub bytes_in: u64,
    /// Sessions opened successfully (a TLS handshake each on a real board).
    pub handshakes: u32,
    /// Sessions opened after the first one.
    pub reconnects: u32,
    /// Connects or opens that failed or timed out.
    pub connect_failures: u32,
    /// Exchanges that hit the request timeout.
    pub timeouts: u32,
    /// The most recent failure of a connection or an exchange (never cleared).
    pub last_error: Option<ClientError>,
}

/// The counters plus the "request in flight" bit the LED shows.
pub struct ClientMetrics {
    counters: Cell<ClientCounters>,
    in_flight: Cell<bool>,
    /// Signalled whenever `in_flight` changes (the LED follows it without polling).
    in_flight_changed: Signal<NoopRawMutex, ()>,
}

impl core::fmt::Debug for ClientMetrics {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ClientMetrics")
            .field("counters", &self.counters.get())
            .field("in_flight", &self.in_flight.get())
            .finish()
    }
}

impl Default for ClientMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientMetrics {
    pub const fn new() -> Self {
        ClientMetrics {
            counters: Cell::new(ClientCounters {
                requests: 0,
                responses_2xx: 0,
                responses_4xx: 0,
                responses_5xx: 0,
                responses_other: 0,
                bytes_out: 0,
                bytes_in: 0,
                handshakes: 0,
                reconnects: 0,
                connect_failures: 0,
                timeouts: 0,
                last_error: None,
            }),
            in_flight: Cell::new(false),
            in_flight_changed: Signal::new(),
        }
    }

    /// A copy of the counters.
    pub fn snapshot(&self) -> ClientCounters {
        self.counters.get()
    }

    /// A request is on the wire and its response not read yet.
    pub fn in_flight(&self) -> bool {
        self.in_flight.get()
    }

    pub(crate) fn set_in_flight(&self, on: bool) {
        if self.in_flight.replace(on) != on {
            self.in_flight_changed.signal(());
        }
    }

    /// Completes when the in-flight bit changed (one waiter at a time).
    pub async fn in_flight_changed(&self) {
        self.in_flight_changed.wait().await
    }

    pub(crate) fn update(&self, f: impl FnOnce(&mut ClientCounters)) {
        let mut c = self.counters.get();
        f(&mut c);
        self.counters.set(c);
    }

    pub(crate) fn record_error(&self, error: ClientError) {
        self.update(|c| {
            c.last_error = Some(error);
            match error {
                ClientError::Timeout => c.timeouts = c.timeouts.saturating_add(1),
                ClientError::Connect | ClientError::ConnectTimeout | ClientError::Open(_) => {
                    c.connect_failures = c.connect_failures.saturating_add(1)
                }
                _ => {}
            }
        });
    }

    pub(crate) fn record_status(&self, status: u16) {
        self.update(|c| {
            let slot = match status {
                200..=299 => &mut c.responses_2xx,
                400..=499 => &mut c.responses_4xx,
                500..=599 => &mut c.responses_5xx,
                _ => &mut c.responses_other,
            };
            *slot = slot.saturating_add(1);
        });
    }
}
