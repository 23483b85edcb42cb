//! HTTP/1.1 as Go's net/http serves it, over any byte stream.
//!
//! Heads: the handler's headers sorted by name, then `Date`, then `Content-Length` for bodies of
//! at most 2048 bytes or `Transfer-Encoding: chunked` (one chunk, lowercase hex) for larger ones,
//! with `Connection: close` between them when the request asked to close. Keep-alive needs no
//! header. Requests may be pipelined; bodies may be chunked; `Expect: 100-continue` is answered.
//! A watch answer streams: its head at once, then one event per chunk (recorded A05).
//!
//! The layer knows the API only through [`Dispatch`], which the server implements: `read`
//! takes requests off the stream, `wire` frames answers, this module runs the connection.

mod abort;
mod read;
mod wire;

use std::io;
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

use crate::auth::User;
use crate::clock::{format_http_date, Sleep};
use crate::faults::{Fault, RequestRecord};
use crate::message::{Handled, Request, Response, WatchSpec};

pub(crate) use abort::{Abortive, Orderly};
use read::{
    has_token, header, parse_head, read_chunked, read_more, BodyError, HeadResult, Read, MAX_BODY,
};
use wire::{encode_response, encode_watch_head, go_plain_error};

pub use wire::CHUNKING_THRESHOLD;

/// What the HTTP layer does with one request.
pub(crate) enum Outcome {
    /// Answer at once (with the fault that shaped the answer, if any).
    Respond(Handled, Option<Fault>),
    /// Answer after this much clock time.
    Delay(Duration, Handled, Fault),
    /// Send only this many bytes of the answer, then reset.
    Truncate(usize, Handled, Fault),
    /// Send only this many bytes of the answer, then close cleanly (close_notify, FIN).
    CloseMidAnswer(usize, Handled, Fault),
    /// Answer at once with this `Date` (a stepped server clock).
    Dated(Handled, SystemTime, Fault),
    /// Reset the connection without an answer.
    Reset(Fault),
    /// Close the connection cleanly without an answer.
    Close(Fault),
    /// Never answer.
    Stall(Fault),
    /// Storage is stalled: wait silently until it thaws (then [`Dispatch::resume`]) or until
    /// this clock time (then answer with the timeout answer).
    Held(SystemTime, Handled),
}

/// Why open connections are being closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Stop {
    /// Bumped on every close-everything event.
    pub generation: u64,
    /// A graceful shutdown (Go's `Server.Shutdown`): close with close_notify and FIN; otherwise
    /// drop the stream as a crashing process would.
    pub graceful: bool,
}

/// The server as the HTTP layer sees it: a clock, a request handler, a request log.
pub(crate) trait Dispatch {
    /// The clock's current time.
    fn now(&self) -> SystemTime;
    /// Completes at clock time `at`.
    fn sleep_until(&self, at: SystemTime) -> Sleep;
    /// Handles a request at the clock's current time; returns the outcome and that time.
    fn dispatch(&self, req: &Request) -> (Outcome, SystemTime);
    /// Appends to the request log.
    fn record(&self, r: RequestRecord);
    /// Completes when storage is not stalled.
    fn storage_thawed(&self) -> Sleep;
    /// Handles a held request after the thaw, with the clock time it arrived; returns the
    /// answer and the time to date it.
    fn resume(&self, req: &Request, arrived: SystemTime) -> (Handled, SystemTime);
    /// The events of watch `req` after resourceVersion `after` (`None`: the current objects as
    /// `ADDED`), one encoded event each, and the resourceVersion they reach.
    fn watch_events(&self, req: &Request, after: Option<u64>) -> (Vec<Vec<u8>>, u64);
    /// Completes at the next change of the served objects.
    fn changed(&self) -> Sleep;
}

/// Per-connection context.
pub(crate) struct ConnCtx {
    /// Connection id for the log.
    pub id: u64,
    /// User of a verified client certificate.
    pub client_user: Option<User>,
    /// `X509SHA256=<hex>` of that certificate.
    pub client_credential: Option<String>,
    /// Changes when the server restarts or shuts down: the connection is closed.
    pub shutdown: watch::Receiver<Stop>,
    /// Close a kept-alive connection after this much clock time without a request.
    pub idle_timeout: Option<Duration>,
    /// Close when a request head (the first on a connection included) takes longer.
    pub header_timeout: Option<Duration>,
    /// Clock time the connection was accepted.
    pub opened: std::time::SystemTime,
}

/// Serves HTTP/1.1 requests on `io` until the peer closes, a request asks to close, a fault
/// ends the connection, or the server restarts.
pub(crate) async fn serve<D, IO>(shared: &D, mut io: IO, mut ctx: ConnCtx) -> io::Result<()>
where
    D: Dispatch + ?Sized,
    IO: AsyncRead + AsyncWrite + Abortive + Unpin + Send,
{
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut served = 0usize;
    // When the connection last became idle: accepted, or its last answer went out. Taken from
    // the request's clock time rather than read after writing, so a simulated clock advanced by
    // the client right after it got the answer cannot move the deadline.
    let mut idle_from = ctx.opened;
    loop {
        // Go's server: IdleTimeout between requests, ReadHeaderTimeout for the first request of
        // a connection and for a head in progress (counted from its first bytes).
        let mut head_started = (!buf.is_empty()).then(|| shared.now());
        let head = loop {
            if !buf.is_empty() {
                match parse_head(&buf) {
                    HeadResult::Complete(h) => break h,
                    HeadResult::Partial => {}
                    HeadResult::Bad(code) => {
                        io.write_all(&go_plain_error(code)).await?;
                        let _ = io.shutdown().await;
                        return Ok(());
                    }
                }
            }
            let deadline = match (buf.is_empty(), served, head_started) {
                (true, 0, _) => ctx.header_timeout.map(|d| idle_from + d),
                (true, _, _) => ctx.idle_timeout.map(|d| idle_from + d),
                (false, _, Some(t)) => ctx.header_timeout.map(|d| t + d),
                (false, _, None) => None,
            };
            let read = match deadline {
                Some(at) => {
                    let timer = shared.sleep_until(at);
                    tokio::select! {
                        r = read_more(&mut io, &mut buf, &mut ctx.shutdown) => Some(r),
                        _ = timer => None,
                    }
                }
                None => Some(read_more(&mut io, &mut buf, &mut ctx.shutdown).await),
            };
            match read {
                Some(r) => match r? {
                    Read::Data => {
                        head_started.get_or_insert_with(|| shared.now());
                    }
                    Read::Eof => return Ok(()),
                    Read::Shutdown => {
                        if ctx.shutdown.borrow().graceful {
                            let _ = io.shutdown().await;
                        }
                        return Ok(());
                    }
                },
                None => {
                    // Timed out: close as Go does (TLS close_notify, then FIN).
                    let _ = io.shutdown().await;
                    return Ok(());
                }
            }
        };
        served += 1;
        if !head.http10 && header(&head.headers, "Host").is_none() {
            // net/http's statusError form: the text is repeated in the status line.
            let text = "400 Bad Request: missing required Host header";
            let raw = format!(
                "HTTP/1.1 {text}\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n{text}"
            );
            io.write_all(raw.as_bytes()).await?;
            let _ = io.shutdown().await;
            return Ok(());
        }
        // Body.
        let chunked = has_token(&head.headers, "Transfer-Encoding", "chunked");
        let length = if chunked {
            None
        } else {
            match header(&head.headers, "Content-Length").map(str::parse::<usize>) {
                Some(Ok(n)) => Some(n),
                Some(Err(_)) => {
                    io.write_all(&go_plain_error(400)).await?;
                    let _ = io.shutdown().await;
                    return Ok(());
                }
                None => Some(0),
            }
        };
        if length.unwrap_or(1) > 0 && has_token(&head.headers, "Expect", "100-continue") {
            io.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
            io.flush().await?;
        }
        let (body, consumed) = match length {
            Some(n) if n > MAX_BODY => {
                io.write_all(&go_plain_error(413)).await?;
                let _ = io.shutdown().await;
                return Ok(());
            }
            Some(n) => {
                while buf.len() < head.len + n {
                    match read_more(&mut io, &mut buf, &mut ctx.shutdown).await? {
                        Read::Data => {}
                        Read::Eof | Read::Shutdown => return Ok(()),
                    }
                }
                (buf[head.len..head.len + n].to_vec(), head.len + n)
            }
            None => match read_chunked(&mut io, &mut buf, head.len, &mut ctx.shutdown).await {
                Ok(r) => r,
                Err(BodyError::Io(e)) => return Err(e),
                Err(BodyError::Closed) => return Ok(()),
                Err(BodyError::Bad(code)) => {
                    io.write_all(&go_plain_error(code)).await?;
                    let _ = io.shutdown().await;
                    return Ok(());
                }
            },
        };
        buf.drain(..consumed);
        let close = has_token(&head.headers, "Connection", "close")
            || (head.http10 && !has_token(&head.headers, "Connection", "keep-alive"));
        let (path, query) = match head.target.split_once('?') {
            Some((p, q)) => (p.to_string(), q.to_string()),
            None => (head.target.clone(), String::new()),
        };
        let user_agent = header(&head.headers, "User-Agent").map(str::to_string);
        let request = Request {
            method: head.method.clone(),
            path,
            query,
            headers: head.headers,
            body,
            client_user: ctx.client_user.clone(),
            client_credential: ctx.client_credential.clone(),
        };
        let (outcome, at) = shared.dispatch(&request);
        let date = format_http_date(at);
        idle_from = at;
        let mut record = RequestRecord {
            connection: ctx.id,
            at,
            method: head.method,
            target: head.target,
            status: None,
            request_bytes: consumed,
            response_bytes: 0,
            user: None,
            user_agent,
            fault: None,
        };
        match outcome {
            Outcome::Respond(handled, fault) if handled.response.watch.is_some() => {
                record.fault = fault;
                record.status = Some(handled.response.status);
                record.user = handled.user.clone();
                shared.record(record);
                let spec = handled.response.watch.unwrap_or(WatchSpec {
                    until: at,
                    after: None,
                });
                let answer = (&handled.response, spec);
                let ended =
                    stream_watch(shared, &mut io, &mut ctx, &request, answer, &date, close).await?;
                idle_from = shared.now();
                if close || !ended {
                    let _ = io.shutdown().await;
                    return Ok(());
                }
            }
            Outcome::Respond(handled, fault) => {
                record.fault = fault;
                let bytes = encode_response(&handled.response, &date, close, head.http10);
                record.status = Some(handled.response.status);
                record.user = handled.user;
                record.response_bytes = bytes.len();
                // Logged before writing, so a client that saw the answer also sees the record.
                shared.record(record);
                io.write_all(&bytes).await?;
                io.flush().await?;
                if close {
                    let _ = io.shutdown().await;
                    return Ok(());
                }
            }
            Outcome::Dated(handled, dated, fault) => {
                record.fault = Some(fault);
                let date = format_http_date(dated);
                let bytes = encode_response(&handled.response, &date, close, head.http10);
                record.status = Some(handled.response.status);
                record.user = handled.user;
                record.response_bytes = bytes.len();
                // Logged before writing, so a client that saw the answer also sees the record.
                shared.record(record);
                io.write_all(&bytes).await?;
                io.flush().await?;
                if close {
                    let _ = io.shutdown().await;
                    return Ok(());
                }
            }
            Outcome::Delay(delay, handled, fault) => {
                record.fault = Some(fault);
                let wake = shared.sleep_until(at + delay);
                tokio::select! {
                    _ = wake => {}
                    _ = ctx.shutdown.changed() => {
                        shared.record(record);
                        return Ok(());
                    }
                }
                idle_from = shared.now();
                let date = format_http_date(idle_from);
                let bytes = encode_response(&handled.response, &date, close, head.http10);
                record.status = Some(handled.response.status);
                record.user = handled.user;
                record.response_bytes = bytes.len();
                // Logged before writing, so a client that saw the answer also sees the record.
                shared.record(record);
                io.write_all(&bytes).await?;
                io.flush().await?;
                if close {
                    let _ = io.shutdown().await;
                    return Ok(());
                }
            }
            Outcome::Held(until, timeout) => {
                let thawed = shared.storage_thawed();
                let deadline = shared.sleep_until(until);
                let (handled, answered_at) = tokio::select! {
                    _ = thawed => shared.resume(&request, at),
                    _ = deadline => (timeout, until),
                    _ = ctx.shutdown.changed() => {
                        shared.record(record);
                        return Ok(());
                    }
                };
                idle_from = answered_at;
                let date = format_http_date(answered_at);
                let bytes = encode_response(&handled.response, &date, close, head.http10);
                record.status = Some(handled.response.status);
                record.user = handled.user;
                record.response_bytes = bytes.len();
                shared.record(record);
                io.write_all(&bytes).await?;
                io.flush().await?;
                if close {
                    let _ = io.shutdown().await;
                    return Ok(());
                }
            }
            Outcome::Truncate(keep, handled, fault) => {
                record.fault = Some(fault);
                let bytes = encode_response(&handled.response, &date, close, head.http10);
                let part = &bytes[..keep.min(bytes.len())];
                record.user = handled.user;
                record.response_bytes = part.len();
                shared.record(record);
                let _ = io.write_all(part).await;
                let _ = io.flush().await;
                io.set_abortive();
                return Ok(());
            }
            Outcome::CloseMidAnswer(keep, handled, fault) => {
                record.fault = Some(fault);
                let bytes = encode_response(&handled.response, &date, close, head.http10);
                let part = &bytes[..keep.min(bytes.len())];
                record.user = handled.user;
                record.response_bytes = part.len();
                shared.record(record);
                let _ = io.write_all(part).await;
                let _ = io.flush().await;
                let _ = io.shutdown().await;
                return Ok(());
            }
            Outcome::Reset(fault) => {
                record.fault = Some(fault);
                shared.record(record);
                io.set_abortive();
                return Ok(());
            }
            Outcome::Close(fault) => {
                record.fault = Some(fault);
                shared.record(record);
                let _ = io.shutdown().await;
                return Ok(());
            }
            Outcome::Stall(fault) => {
                record.fault = Some(fault);
                shared.record(record);
                let mut sink = Vec::new();
                loop {
                    match read_more(&mut io, &mut sink, &mut ctx.shutdown).await {
                        Ok(Read::Data) => sink.clear(),
                        _ => return Ok(()),
                    }
                }
            }
        }
    }
}

/// A watch answer on the wire (recorded A05): the head at once, one event per chunk as the
/// objects change, the last chunk when the clock reaches the watch's end. `Ok(true)` when it
/// ended at its time (the connection can serve the next request), `Ok(false)` when the server
/// closed it.
async fn stream_watch<D, IO>(
    shared: &D,
    io: &mut IO,
    ctx: &mut ConnCtx,
    req: &Request,
    (resp, spec): (&Response, WatchSpec),
    date: &str,
    close: bool,
) -> io::Result<bool>
where
    D: Dispatch + ?Sized,
    IO: AsyncWrite + Unpin + Send,
{
    io.write_all(&encode_watch_head(resp, date, close)).await?;
    io.flush().await?;
    let mut after = spec.after;
    loop {
        // Subscribe before reading, so a change in between still wakes the loop.
        let changed = shared.changed();
        let (events, reached) = shared.watch_events(req, after);
        after = Some(reached);
        for event in &events {
            let mut chunk = format!("{:x}\r\n", event.len()).into_bytes();
            chunk.extend_from_slice(event);
            chunk.extend_from_slice(b"\r\n");
            io.write_all(&chunk).await?;
        }
        if !events.is_empty() {
            io.flush().await?;
        }
        tokio::select! {
            _ = changed => {}
            _ = shared.sleep_until(spec.until) => {
                io.write_all(b"0\r\n\r\n").await?;
                io.flush().await?;
                return Ok(true);
            }
            _ = ctx.shutdown.changed() => return Ok(false),
        }
    }
}
