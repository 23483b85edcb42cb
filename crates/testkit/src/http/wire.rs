//! What goes on the wire for an answer: Go's status texts, head order and framing.

use crate::message::Response;

/// Go's `bufferBeforeChunkingSize`: larger bodies are chunked.
pub const CHUNKING_THRESHOLD: usize = 2048;

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
    if let Some(sniffed) = resp.sniffed_type {
        out.extend_from_slice(format!("Content-Type: {sniffed}\r\n").as_bytes());
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

/// The head of a watch answer: the handler's headers, `Date`, then `Transfer-Encoding: chunked`
/// (A05); the events follow as chunks.
pub fn encode_watch_head(resp: &Response, date: &str, close: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(
        format!(
            "HTTP/1.1 {} {}\r\n",
            resp.status,
            reason_phrase(resp.status)
        )
        .as_bytes(),
    );
    let mut headers = resp.headers.clone();
    headers.sort_by(|a, b| a.0.cmp(&b.0));
    for (k, v) in &headers {
        out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(format!("Date: {date}\r\n").as_bytes());
    if close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
    out
}

/// Go's plain-text answer for a request it could not read (the connection closes after it).
pub(super) fn go_plain_error(code: u16) -> Vec<u8> {
    let text = format!("{code} {}", reason_phrase(code));
    format!(
        "HTTP/1.1 {text}\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n{text}"
    )
    .into_bytes()
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
            sniffed_type: None,
            watch: None,
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
}
