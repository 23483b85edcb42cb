//! Reading requests: heads (httparse), chunked bodies, and reads that end on a server shutdown.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::watch;

const MAX_HEAD: usize = 1 << 20;
pub(super) const MAX_BODY: usize = 3 << 20;

pub(super) enum Read {
    Data,
    Eof,
    Shutdown,
}

pub(super) async fn read_more<IO: AsyncRead + Unpin, S>(
    io: &mut IO,
    buf: &mut Vec<u8>,
    shutdown: &mut watch::Receiver<S>,
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

pub(super) struct Head {
    pub(super) method: String,
    pub(super) target: String,
    pub(super) http10: bool,
    pub(super) headers: Vec<(String, String)>,
    pub(super) len: usize,
}

pub(super) enum HeadResult {
    Complete(Head),
    Partial,
    Bad(u16),
}

pub(super) fn parse_head(buf: &[u8]) -> HeadResult {
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

pub(super) fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

pub(super) fn has_token(headers: &[(String, String)], name: &str, token: &str) -> bool {
    headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .flat_map(|(_, v)| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

fn find_crlf(b: &[u8]) -> Option<usize> {
    b.windows(2).position(|w| w == b"\r\n")
}

pub(super) enum BodyError {
    Io(io::Error),
    Closed,
    Bad(u16),
}

/// Reads a chunked body starting at `buf[start..]`; returns (body, end offset in buf).
pub(super) async fn read_chunked<IO: AsyncRead + Unpin, S>(
    io: &mut IO,
    buf: &mut Vec<u8>,
    start: usize,
    shutdown: &mut watch::Receiver<S>,
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

#[cfg(test)]
mod tests {
    use super::*;

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
