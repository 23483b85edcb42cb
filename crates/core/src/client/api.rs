//! [`ApiClient`]: one session to the API server and one request/response exchange at a time,
//! through fixed buffers.
//!
//! An exchange composes the request in [`HttpBuffers::tx`] (body first, then the path, then the
//! head, so nothing is copied), writes head and body, and reads the response through
//! [`HttpBuffers::rx`] with [`ResponseReader`]. JSON bodies are fed, piece by piece, to one
//! [`Extractor`] with the caller's visitor, or with [`StatusResponse`] for a status ≥ 400, so no
//! buffer grows with the response.
//!
//! Every exchange runs against a deadline. A timeout drops the exchange wherever it was, so the
//! session is then unusable ([`ClientError::Unusable`] for every later exchange); so is a session
//! whose server said `Connection: close` or broke the framing. The caller then drops the client
//! and opens a new session.
use embassy_futures::select::{select, Either};
use embedded_io_async::{Read, Write};

use crate::client::counters::{ClientError, ClientMetrics};
use crate::client::credential::{with_token, SharedToken};
use crate::http::reader::{Event, ReadError, ReaderLimits, ResponseReader};
use crate::http::request::{
    write_request_head, Accept, BearerToken, Method, RequestError, RequestField, RequestHead,
};
use crate::http::response::{ContentClass, RetryAfter, DEFAULT_MAX_HEAD_LEN};
use crate::json::extract::{Extractor, Visitor};
use crate::json::writer::JsonError;
use crate::k8s::body_error::BodyError;
use crate::k8s::name::NodeName;
use crate::k8s::paths::{ApiPath, ApiWrite, ContentType};
use crate::k8s::pb_status::StatusReader;
use crate::k8s::response::StatusResponse;
use crate::runtime::{Clock, Instant};
use crate::time::UnixMicros;
use core::time::Duration;

/// Receive buffer: a complete response head must fit (the API server's are 200–560 bytes);
/// bodies stream through it in pieces.
pub const HTTP_RX_LEN: usize = 2_048;
/// Transmit buffer: request body, path and head together. The largest body of a realistic
/// profile is the registration (~2.6 KB with all nine conditions); a head is ~250 bytes plus the
/// bearer token, so service-account tokens up to ~1.9 KB fit
/// ([`crate::agent::AgentConfig::check_fits`] says for a given config). A body or head that does
/// not fit is a typed error ([`ClientError::Body`], [`ClientError::Request`]) and nothing is sent.
pub const HTTP_TX_LEN: usize = 5_120;

/// The client's buffers: [`HTTP_RX_LEN`] + [`HTTP_TX_LEN`] bytes.
#[cfg_attr(feature = "zeroed-buffers", derive(zerocopy::FromZeros))]
#[repr(C)]
pub struct HttpBuffers {
    pub rx: [u8; HTTP_RX_LEN],
    pub tx: [u8; HTTP_TX_LEN],
}

impl HttpBuffers {
    pub const fn new() -> Self {
        HttpBuffers {
            rx: [0; HTTP_RX_LEN],
            tx: [0; HTTP_TX_LEN],
        }
    }
}

impl Default for HttpBuffers {
    fn default() -> Self {
        Self::new()
    }
}

/// Where requests go and as whom. The token is only ever written into request heads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoint<'a> {
    /// `Host` header: `host` or `host:port` of the server URL.
    pub host: &'a str,
    pub token: Option<BearerToken<'a>>,
    /// When set, the token comes from here (each request) instead of `token`, and hears of a
    /// 401.
    pub token_source: Option<SharedToken<'a>>,
}

/// One request: method, target and body type. The body itself is written by the closure passed
/// to [`ApiClient::exchange`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApiRequest<'a> {
    pub method: Method,
    pub path: ApiPath<'a>,
    pub content_type: Option<ContentType>,
    /// What the answer should be. A successful answer reaches the visitor only as JSON; an
    /// error reaches [`ApiClient::failure`] as JSON or protobuf.
    pub accept: Accept,
}

impl<'a> ApiRequest<'a> {
    /// A GET of `path`.
    pub const fn get(path: ApiPath<'a>) -> Self {
        ApiRequest {
            method: Method::Get,
            path,
            content_type: None,
            accept: Accept::Json,
        }
    }

    /// One of the agent's writes for `node`.
    pub const fn write(write: ApiWrite, node: NodeName<'a>) -> Self {
        ApiRequest {
            method: write.method(),
            path: write.path(node),
            content_type: Some(write.content_type()),
            accept: write.accept(),
        }
    }
}

/// A body writer for requests without a body.
pub fn no_body(_: &mut [u8]) -> Result<usize, BodyError> {
    Ok(0)
}

/// What came back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    /// The `Date` header, if there was exactly one valid one.
    pub date: Option<UnixMicros>,
    pub retry_after: Option<RetryAfter>,
    pub content_class: ContentClass,
    /// Just before the first byte of the request was written.
    pub sent: Instant,
    /// When the response head had been read.
    pub received: Instant,
    /// The session can carry the next request.
    pub reusable: bool,
}

/// One session and everything an exchange needs besides it.
///
/// State: the session `T` (a TLS connection is ~400 bytes plus its record buffers, which live
/// in [`crate::client::SessionBuffers`]), the borrowed [`HttpBuffers`], one [`Extractor`]
/// (~1.2 KiB) and the last [`StatusResponse`] (~0.5 KiB).
pub struct ApiClient<'s, T, C> {
    io: T,
    clock: &'s C,
    endpoint: Endpoint<'s>,
    bufs: &'s mut HttpBuffers,
    metrics: &'s ClientMetrics,
    timeout: Duration,
    extractor: Extractor,
    failure: StatusResponse,
    usable: bool,
}

impl<'s, T: Read + Write, C: Clock> ApiClient<'s, T, C> {
    /// A client over a freshly opened session. `timeout` bounds each whole exchange.
    pub fn new(
        io: T,
        clock: &'s C,
        endpoint: Endpoint<'s>,
        bufs: &'s mut HttpBuffers,
        metrics: &'s ClientMetrics,
        timeout: Duration,
    ) -> Self {
        ApiClient {
            io,
            clock,
            endpoint,
            bufs,
            metrics,
            timeout,
            extractor: Extractor::new(),
            failure: StatusResponse::default(),
            usable: true,
        }
    }

    /// The session can carry another request.
    pub fn is_usable(&self) -> bool {
        self.usable
    }

    /// The `Status` object of the last response with a status ≥ 400 (empty if it had none, e.g.
    /// the plain-text 429).
    pub fn failure(&self) -> &StatusResponse {
        &self.failure
    }

    /// Sends `req` with the body `body` writes into the buffer it is given (called only for
    /// methods that carry a body; it returns the length written), and reads the response. A
    /// JSON body of a response < 400 goes to `visitor`; of a response ≥ 400 to
    /// [`Self::failure`]. Any status is an `Ok`: the caller's policy decides what it means.
    pub async fn exchange<V, F>(
        &mut self,
        req: &ApiRequest<'_>,
        body: F,
        visitor: &mut V,
    ) -> Result<Reply, ClientError>
    where
        V: Visitor + ?Sized,
        F: FnOnce(&mut [u8]) -> Result<usize, BodyError>,
    {
        self.exchange_patiently(req, body, visitor, None).await
    }

    /// [`Self::exchange`], waiting for the answer until `patience` if that is later than the
    /// request timeout. A slow answer is not a broken session (an API server whose etcd
    /// stalls answers a write only after 34.5 s), and giving up on it costs a new handshake that
    /// the stalled server answers no sooner; the caller decides how long it can afford to wait.
    pub async fn exchange_patiently<V, F>(
        &mut self,
        req: &ApiRequest<'_>,
        body: F,
        mut visitor: &mut V,
        patience: Option<Instant>,
    ) -> Result<Reply, ClientError>
    where
        V: Visitor + ?Sized,
        F: FnOnce(&mut [u8]) -> Result<usize, BodyError>,
    {
        let result = if self.usable {
            let clock = self.clock;
            let deadline = clock.now().saturating_add(self.timeout);
            let deadline = patience.map_or(deadline, |p| p.max(deadline));
            let in_flight = InFlight::new(self.metrics);
            let raced = select(
                self.exchange_inner(req, body, &mut visitor),
                clock.sleep_until(deadline),
            )
            .await;
            drop(in_flight);
            match raced {
                Either::First(result) => result,
                Either::Second(()) => {
                    self.usable = false;
                    Err(ClientError::Timeout)
                }
            }
        } else {
            Err(ClientError::Unusable)
        };
        if let Err(e) = result {
            self.metrics.record_error(e);
        }
        result
    }

    /// `visitor` as a trait object: this future is the bulk of an exchange's code and is
    /// instantiated once per body writer, not once per response type too.
    async fn exchange_inner<F>(
        &mut self,
        req: &ApiRequest<'_>,
        body: F,
        visitor: &mut dyn Visitor,
    ) -> Result<Reply, ClientError>
    where
        F: FnOnce(&mut [u8]) -> Result<usize, BodyError>,
    {
        let ApiClient {
            io,
            clock,
            endpoint,
            bufs,
            metrics,
            extractor,
            failure,
            usable,
            ..
        } = self;

        // Compose: body, then path, then head, all in `tx`.
        let carries_body = req.method.carries_body();
        let tx = &mut bufs.tx[..];
        let body_len = if carries_body {
            body(tx).map_err(ClientError::Body)?
        } else {
            0
        };
        let (body_bytes, rest) =
            tx.split_at_mut_checked(body_len)
                .ok_or(ClientError::Body(BodyError::Json(JsonError::BufferFull {
                    needed: body_len,
                })))?;
        let path_len = req
            .path
            .write_to(rest)
            .map_err(|_| ClientError::Request(RequestError::BufferFull))?;
        let (path_bytes, head_buf) = rest
            .split_at_mut_checked(path_len)
            .ok_or(ClientError::Request(RequestError::BufferFull))?;
        let target = core::str::from_utf8(path_bytes)
            .map_err(|_| ClientError::Request(RequestError::InvalidField(RequestField::Target)))?;
        let head_len = with_token(endpoint.token, endpoint.token_source, |bearer_token| {
            let head = RequestHead {
                method: req.method,
                target,
                host: endpoint.host,
                bearer_token,
                content_type: req.content_type.map(ContentType::as_str),
                accept: req.accept,
                body_len: carries_body.then_some(body_len),
                connection_close: false,
            };
            write_request_head(&head, &mut *head_buf)
        })
        .map_err(ClientError::Request)?;
        let head_bytes = head_buf.get(..head_len).unwrap_or(&[]);

        // Send. From here on, a failure or a drop leaves the session unusable.
        *usable = false;
        metrics.update(|c| c.requests = c.requests.saturating_add(1));
        let sent = clock.now();
        io.write_all(head_bytes).await.map_err(io_error)?;
        if !body_bytes.is_empty() {
            io.write_all(body_bytes).await.map_err(io_error)?;
        }
        io.flush().await.map_err(io_error)?;
        let out = (head_len as u64).saturating_add(body_len as u64);
        metrics.update(|c| c.bytes_out = c.bytes_out.saturating_add(out));

        // Receive.
        extractor.reset();
        *failure = StatusResponse::default();
        let rx = &mut bufs.rx[..];
        let mut reader = ResponseReader::new(ReaderLimits {
            max_head_len: rx.len().min(DEFAULT_MAX_HEAD_LEN),
            max_body_len: None,
        });
        let mut filled = 0usize;
        let mut head = None;
        let mut received = sent;
        let mut json_error = None;
        let mut fed = false;
        // A protobuf error answer (the request asked for protobuf) goes to `failure` through
        // this reader; a protobuf success answer is not read (see [`ApiRequest::accept`]).
        let mut protobuf_failure: Option<StatusReader> = None;
        let reusable = loop {
            let step = reader
                .step(rx.get(..filled).unwrap_or(&[]))
                .map_err(ClientError::Http)?;
            let consumed = step.consumed;
            let mut need_more = false;
            match step.event {
                Event::Head(h) => {
                    received = clock.now();
                    metrics.record_status(h.status);
                    if h.status == 401 {
                        if let Some(SharedToken(source)) = endpoint.token_source {
                            source.rejected();
                        }
                    }
                    head = Some(h);
                }
                Event::Body(bytes) => {
                    let json = head.is_some_and(|h| h.content_class == ContentClass::Json);
                    let protobuf_error = head.is_some_and(|h| {
                        h.content_class == ContentClass::Protobuf && h.status >= 400
                    });
                    if protobuf_error {
                        protobuf_failure
                            .get_or_insert_with(StatusReader::new)
                            .feed(bytes, failure);
                    }
                    if json && json_error.is_none() {
                        fed = true;
                        // One `feed` instantiation for both (the extractor is the largest
                        // generic function on the device path).
                        let target: &mut dyn Visitor = if head.is_some_and(|h| h.status >= 400) {
                            failure
                        } else {
                            visitor
                        };
                        let fed_ok = extractor.feed(bytes, target);
                        json_error = fed_ok.err();
                    }
                }
                Event::End { reusable } => break reusable,
                Event::NeedMore => need_more = true,
            }
            if consumed > filled {
                return Err(ClientError::Http(ReadError::SurplusBytes));
            }
            rx.copy_within(consumed..filled, 0);
            filled -= consumed;
            if need_more {
                let free = rx.get_mut(filled..).unwrap_or(&mut []);
                if free.is_empty() {
                    // Cannot happen (the reader never asks for more with a full buffer); an
                    // empty read would look like EOF, so say what it is.
                    return Err(ClientError::Http(ReadError::Head(
                        crate::http::response::HeadError::HeadTooLarge,
                    )));
                }
                let n = io.read(free).await.map_err(io_error)?;
                metrics.update(|c| c.bytes_in = c.bytes_in.saturating_add(n as u64));
                if n == 0 {
                    reader.finish().map_err(ClientError::Http)?;
                    break false;
                }
                filled = filled.saturating_add(n);
            }
        };
        let head = head.ok_or(ClientError::Http(ReadError::ClosedBeforeResponse))?;
        if let Some(mut reader) = protobuf_failure {
            reader.finish(failure);
        }
        if fed && json_error.is_none() {
            json_error = if head.status >= 400 {
                extractor.finish(failure)
            } else {
                extractor.finish(visitor)
            }
            .err();
        }
        *usable = reusable;
        if let (Some(e), true) = (json_error, head.status < 400) {
            return Err(ClientError::Json(e));
        }
        Ok(Reply {
            status: head.status,
            date: head.date.ok(),
            retry_after: head.retry_after,
            content_class: head.content_class,
            sent,
            received,
            reusable,
        })
    }
}

/// Sets the in-flight bit for as long as it lives: also when the exchange is dropped half-way
/// by a caller that cancels the agent.
struct InFlight<'m>(&'m ClientMetrics);

impl<'m> InFlight<'m> {
    fn new(metrics: &'m ClientMetrics) -> Self {
        metrics.set_in_flight(true);
        InFlight(metrics)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.set_in_flight(false);
    }
}

fn io_error<E: embedded_io_async::Error>(e: E) -> ClientError {
    ClientError::Io(e.kind())
}
