//! HTTP/1.1 as Go's net/http serves it, over any byte stream.
//!
//! Heads: the handler's headers sorted by name, then `Date`, then `Content-Length` for bodies of
//! at most 2048 bytes or `Transfer-Encoding: chunked` (one chunk, lowercase hex) for larger ones,
//! with `Connection: close` between them when the request asked to close. Keep-alive needs no
//! header. Requests may be pipelined; bodies may be chunked; `Expect: 100-continue` is answered.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

use crate::api::{Request, Response};
use crate::auth::User;
use crate::faults::RequestRecord;
use crate::server::{Outcome, Shared};

/// Go's `bufferBeforeChunkingSize`: larger bodies are chunked.
pub const CHUNKING_THRESHOLD: usize = 2048;
const MAX_HEAD: usize = 1 << 20;
const MAX_BODY: usize = 3 << 20;

/// Go's `http.StatusText`.
pub fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        409 => "Conflict",
        410 => "Gone",
        413 => "Request Entity Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

/// Serializes an answer exactly as Go's server would put it on the wire.
pub fn encode_response(resp: &Response, date: &str, close: bool, http10: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(resp.body.len() + 512);
    let proto = if http10 { "HTTP/1.0" } else { "HTTP/1.1" };
    out.extend_from_slice(
        format!("{proto} {} {}\r\n", resp.status, reason_phrase(resp.status)).as_bytes(),
    );
    let mut headers = resp.headers.clone();
    headers.sort_by(|a, b| a.0.cmp(&b.0));
    for (k, v) in &headers {
        out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(format!("Date: {date}\r\n").as_bytes());
    let chunked = resp.body.len() > CHUNKING_THRESHOLD && !http10;
    if !chunked {
        out.extend_from_slice(format!("Content-Length: {}\r\n", resp.body.len()).as_bytes());
    }
    if close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    if chunked {
        out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if chunked {
        out.extend_from_slice(format!("{:x}\r\n", resp.body.len()).as_bytes());
        out.extend_from_slice(&resp.body);
        out.extend_from_slice(b"\r\n0\r\n\r\n");
    } else {
        out.extend_from_slice(&resp.body);
    }
    out
}

fn go_plain_error(code: u16) -> Vec<u8> {
    let text = format!("{code} {}", reason_phrase(code));
    format!(
        "HTTP/1.1 {text}\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n{text}"
    )
    .into_bytes()
}

/// Per-connection context.
pub struct ConnCtx {
    /// Connection id for the log.
    pub id: u64,
    /// User of a verified client certificate.
    pub client_user: Option<User>,
    /// Changes when the server restarts: the connection is dropped.
    pub shutdown: watch::Receiver<u64>,
    /// Called before an abortive close (sets SO_LINGER 0 on TCP).
    pub on_reset: Option<Box<dyn Fn() + Send + Sync>>,
    /// Close a kept-alive connection after this much clock time without a request.
    pub idle_timeout: Option<Duration>,
    /// Close when a request head (the first on a connection included) takes longer.
    pub header_timeout: Option<Duration>,
    /// Clock time the connection was accepted.
    pub opened: std::time::SystemTime,
}

enum Read {
    Data,
    Eof,
    Shutdown,
}

async fn read_more<IO: AsyncRead + Unpin>(
    io: &mut IO,
    buf: &mut Vec<u8>,
    shutdown: &mut watch::Receiver<u64>,
) -> io::Result<Read> {
    let mut tmp = [0u8; 16 * 1024];
    tokio::select! {
        r = io.read(&mut tmp) => {
            let n = r?;
            if n == 0 {
                return Ok(Read::Eof);
            }
            buf.extend_from_slice(&tmp[..n]);
            Ok(Read::Data)
        }
        _ = shutdown.changed() => Ok(Read::Shutdown),
    }
}

struct Head {
    method: String,
    target: String,
    http10: bool,
    headers: Vec<(String, String)>,
    len: usize,
}

enum HeadResult {
    Complete(Head),
    Partial,
    Bad(u16),
}

fn parse_head(buf: &[u8]) -> HeadResult {
    let mut storage = [httparse::EMPTY_HEADER; 128];
    let mut req = httparse::Request::new(&mut storage);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => HeadResult::Complete(Head {
            method: req.method.unwrap_or("").to_string(),
            target: req.path.unwrap_or("").to_string(),
            http10: req.version == Some(0),
            headers: req
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_string(),
                        String::from_utf8_lossy(h.value).trim().to_string(),
                    )
                })
                .collect(),
            len,
        }),
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => HeadResult::Bad(431),
        Ok(httparse::Status::Partial) => HeadResult::Partial,
        Err(httparse::Error::TooManyHeaders) => HeadResult::Bad(431),
        Err(_) => HeadResult::Bad(400),
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn has_token(headers: &[(String, String)], name: &str, token: &str) -> bool {
    headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .flat_map(|(_, v)| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

fn find_crlf(b: &[u8]) -> Option<usize> {
    b.windows(2).position(|w| w == b"\r\n")
}

enum BodyError {
    Io(io::Error),
    Closed,
    Bad(u16),
}

/// Reads a chunked body starting at `buf[start..]`; returns (body, end offset in buf).
async fn read_chunked<IO: AsyncRead + Unpin>(
    io: &mut IO,
    buf: &mut Vec<u8>,
    start: usize,
    shutdown: &mut watch::Receiver<u64>,
) -> Result<(Vec<u8>, usize), BodyError> {
    let mut pos = start;
    let mut body = Vec::new();
    loop {
        let line_end = loop {
            if let Some(i) = find_crlf(&buf[pos..]) {
                break pos + i;
            }
            if buf.len() - pos > 1024 {
                return Err(BodyError::Bad(400));
            }
            match read_more(io, buf, shutdown).await.map_err(BodyError::Io)? {
                Read::Data => {}
                _ => return Err(BodyError::Closed),
            }
        };
        let line = String::from_utf8_lossy(&buf[pos..line_end]).to_string();
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| BodyError::Bad(400))?;
        pos = line_end + 2;
        if size == 0 {
            loop {
                let end = loop {
                    if let Some(i) = find_crlf(&buf[pos..]) {
                        break pos + i;
                    }
                    match read_more(io, buf, shutdown).await.map_err(BodyError::Io)? {
                        Read::Data => {}
                        _ => return Err(BodyError::Closed),
                    }
                };
                let empty = end == pos;
                pos = end + 2;
                if empty {
                    return Ok((body, pos));
                }
            }
        }
        if body.len() + size > MAX_BODY {
            return Err(BodyError::Bad(413));
        }
        while buf.len() < pos + size + 2 {
            match read_more(io, buf, shutdown).await.map_err(BodyError::Io)? {
                Read::Data => {}
                _ => return Err(BodyError::Closed),
            }
        }
        body.extend_from_slice(&buf[pos..pos + size]);
        pos += size + 2;
    }
}

/// Serves HTTP/1.1 requests on `io` until the peer closes, a request asks to close, a fault
/// ends the connection, or the server restarts.
pub async fn serve<IO>(shared: Arc<Shared>, mut io: IO, mut ctx: ConnCtx) -> io::Result<()>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send,
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
        let mut head_started = (!buf.is_empty()).then(|| shared.clock().now());
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
                    let timer = shared.clock().sleep_until(at);
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
                        head_started.get_or_insert_with(|| shared.clock().now());
                    }
                    Read::Eof | Read::Shutdown => return Ok(()),
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
        };
        let (outcome, date, at) = shared.dispatch(&request);
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
            Outcome::Delay(delay, handled, fault) => {
                record.fault = Some(fault);
                let wake = shared.clock().sleep_until(at + delay);
                tokio::select! {
                    _ = wake => {}
                    _ = ctx.shutdown.changed() => {
                        shared.record(record);
                        return Ok(());
                    }
                }
                idle_from = shared.clock().now();
                let date = crate::clock::format_http_date(idle_from);
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
            Outcome::Truncate(keep, handled, fault) => {
                record.fault = Some(fault);
                let bytes = encode_response(&handled.response, &date, close, head.http10);
                let part = &bytes[..keep.min(bytes.len())];
                record.user = handled.user;
                record.response_bytes = part.len();
                shared.record(record);
                let _ = io.write_all(part).await;
                let _ = io.flush().await;
                if let Some(reset) = &ctx.on_reset {
                    reset();
                }
                return Ok(());
            }
            Outcome::Reset(fault) => {
                record.fault = Some(fault);
                shared.record(record);
                if let Some(reset) = &ctx.on_reset {
                    reset();
                }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(len: usize) -> Response {
        Response {
            status: 200,
            headers: vec![
                ("X-Kubernetes-Pf-Flowschema-Uid".into(), "f".into()),
                ("Audit-Id".into(), "a".into()),
                ("Content-Type".into(), "application/json".into()),
            ],
            body: vec![b'x'; len],
        }
    }

    #[test]
    fn framing_switches_to_chunked_above_2048_bytes() {
        let small = String::from_utf8(encode_response(&resp(2048), "D", false, false)).unwrap();
        assert!(small.starts_with(
            "HTTP/1.1 200 OK\r\nAudit-Id: a\r\nContent-Type: application/json\r\nX-Kubernetes-Pf-Flowschema-Uid: f\r\nDate: D\r\nContent-Length: 2048\r\n\r\n"
        ));
        let big = String::from_utf8(encode_response(&resp(2049), "D", true, false)).unwrap();
        assert!(big
            .contains("Date: D\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n801\r\n"));
        assert!(big.ends_with("x\r\n0\r\n\r\n"));
        let closing = String::from_utf8(encode_response(&resp(1), "D", true, false)).unwrap();
        assert!(closing.contains("Content-Length: 1\r\nConnection: close\r\n\r\nx"));
    }

    #[test]
    fn heads_parse_and_reject() {
        assert!(
            matches!(parse_head(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"), HeadResult::Complete(h) if h.len == 27)
        );
        assert!(matches!(
            parse_head(b"GET / HTTP/1.1\r\nHo"),
            HeadResult::Partial
        ));
        assert!(matches!(
            parse_head(b"GET / HTTP/1.1\r\nHo st: x\r\n\r\n"),
            HeadResult::Bad(400)
        ));
    }
}
