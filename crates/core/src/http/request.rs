//! HTTP/1.1 request head writer.
//!
//! Writes the request line and the fixed set of headers the agent sends into a caller buffer. The
//! body is not written here: the caller sends it after the head, and states its length up front
//! (`Content-Length`), because the agent never streams request bodies of unknown size.
//!
//! Every caller-supplied string is checked before a single byte is written, so a bearer token or a
//! resource name holding CR/LF cannot smuggle extra header lines onto the wire.

use core::fmt;

/// `User-Agent` value. The API server pretty-prints JSON only for curl's user agent; any other
/// value gets the compact JSON the extractors are tuned for.
pub const USER_AGENT: &str = concat!("picokubelet/", env!("CARGO_PKG_VERSION"));

/// Longest accepted request target (path and query). Kubernetes paths of the agent are well under
/// 200 bytes; the bound keeps a runaway caller from producing an absurd request line.
pub const MAX_TARGET_LEN: usize = 1024;

/// The request methods the agent uses. `HEAD` is deliberately absent: the response parser would
/// have to know the request was a `HEAD` to frame the (empty) body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    /// The method token as it appears on the request line.
    pub const fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }

    /// Methods whose request carries a body by definition: without one, `Content-Length: 0` is
    /// still sent, since some servers answer 411 to a bodiless POST without it.
    pub const fn carries_body(self) -> bool {
        matches!(self, Method::Post | Method::Put | Method::Patch)
    }
}

/// What the agent asks the answer to be (`Accept`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Accept {
    /// `application/json`: every answer the agent reads.
    #[default]
    Json,
    /// Kubernetes protobuf first, anything else after it: for answers the agent does not read
    /// when they succeed (the Lease renewal). kube-apiserver picks the first clause one of its
    /// serializers matches, concrete types before `*/*`, so a built-in resource comes back as
    /// protobuf (recorded-2 E02: 841 B on the wire against JSON's 1,143 B), and a server or
    /// resource without protobuf answers JSON instead of 406. Errors come in the same encoding
    /// ([`crate::k8s::pb_status`] reads them).
    Protobuf,
    /// Only the object's metadata, in protobuf (`;as=PartialObjectMetadata;g=meta.k8s.io;v=v1`,
    /// recorded-2 E04), else anything: for a large object whose answer the agent does not read
    /// (the Node after a status push, ~4.9 KB in JSON). For a small one the longer header eats
    /// the saving (the Lease: 818 B against protobuf's 841 B, for 45 more bytes of `Accept`).
    ProtobufMetadata,
}

impl Accept {
    /// The header value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Accept::Json => "application/json",
            Accept::Protobuf => "application/vnd.kubernetes.protobuf,*/*",
            Accept::ProtobufMetadata => {
                "application/vnd.kubernetes.protobuf;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,*/*"
            }
        }
    }
}

/// A bearer token borrowed from the caller's credential store.
///
/// Its `Debug` output never shows the token, so request heads can be logged safely.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct BearerToken<'a>(&'a str);

impl<'a> BearerToken<'a> {
    /// Wraps a token (without the `Bearer ` prefix). Validated when the head is written.
    pub const fn new(token: &'a str) -> Self {
        BearerToken(token)
    }

    /// The token itself, for the writer (and for callers that must hand it elsewhere).
    pub const fn expose(&self) -> &'a str {
        self.0
    }
}

impl fmt::Debug for BearerToken<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

/// Everything that goes into one request head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestHead<'a> {
    pub method: Method,
    /// Origin-form target: absolute path plus optional query, already percent-encoded
    /// (`/api/v1/nodes/esp-node-01`). Must start with `/`.
    pub target: &'a str,
    /// `Host` header value: `host` or `host:port` as in the server URL.
    pub host: &'a str,
    /// Sent as `Authorization: Bearer <token>` when present.
    pub bearer_token: Option<BearerToken<'a>>,
    /// `Content-Type` of the body, e.g. `application/strategic-merge-patch+json`.
    pub content_type: Option<&'a str>,
    /// `Accept`: what the answer should be.
    pub accept: Accept,
    /// Length of the body the caller sends after the head. `None` means no body; for POST, PUT
    /// and PATCH that is written as `Content-Length: 0`.
    pub body_len: Option<usize>,
    /// Ask the server to close the connection after the response. HTTP/1.1 keeps connections
    /// alive by default, so without this flag no `Connection` header is sent.
    pub connection_close: bool,
}

impl<'a> RequestHead<'a> {
    /// A keep-alive request without body, token or content type.
    pub const fn new(method: Method, target: &'a str, host: &'a str) -> Self {
        RequestHead {
            method,
            target,
            host,
            bearer_token: None,
            content_type: None,
            accept: Accept::Json,
            body_len: None,
            connection_close: false,
        }
    }
}

/// The caller-supplied value that failed validation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RequestField {
    Target,
    Host,
    Authorization,
    ContentType,
}

/// Why a request head could not be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RequestError {
    /// The value holds a byte that is not allowed there: CR, LF or another control byte
    /// anywhere; non-ASCII anywhere; a space in the target, host or token; an empty value; a
    /// target not starting with `/` or longer than [`MAX_TARGET_LEN`].
    InvalidField(RequestField),
    /// The head does not fit into the output buffer. Nothing written counts: the buffer content
    /// is unspecified and must not be sent.
    BufferFull,
}

/// Writes the request head (request line, headers, terminating empty line) into `out` and
/// returns its length. The caller then sends `out[..len]` followed by exactly `body_len` body
/// bytes.
///
/// Header order follows the recorded exchanges: `Host`, `User-Agent`, `Authorization`, `Accept`,
/// `Content-Type`, `Content-Length`, `Connection`.
pub fn write_request_head(head: &RequestHead<'_>, out: &mut [u8]) -> Result<usize, RequestError> {
    validate(head)?;
    let mut w = Cursor { out, len: 0 };
    w.put(head.method.as_str())?;
    w.put(" ")?;
    w.put(head.target)?;
    w.put(" HTTP/1.1\r\nHost: ")?;
    w.put(head.host)?;
    w.put("\r\nUser-Agent: ")?;
    w.put(USER_AGENT)?;
    if let Some(token) = head.bearer_token {
        w.put("\r\nAuthorization: Bearer ")?;
        w.put(token.expose())?;
    }
    w.put("\r\nAccept: ")?;
    w.put(head.accept.as_str())?;
    if let Some(content_type) = head.content_type {
        w.put("\r\nContent-Type: ")?;
        w.put(content_type)?;
    }
    let content_length = match head.body_len {
        Some(n) => Some(n),
        None if head.method.carries_body() => Some(0),
        None => None,
    };
    if let Some(n) = content_length {
        w.put("\r\nContent-Length: ")?;
        w.put_decimal(n)?;
    }
    if head.connection_close {
        w.put("\r\nConnection: close")?;
    }
    w.put("\r\n\r\n")?;
    Ok(w.len)
}

fn validate(head: &RequestHead<'_>) -> Result<(), RequestError> {
    let target = head.target.as_bytes();
    if target.first() != Some(&b'/')
        || target.len() > MAX_TARGET_LEN
        || !target.iter().all(|&b| is_visible_ascii(b))
    {
        return Err(RequestError::InvalidField(RequestField::Target));
    }
    if !is_token_like(head.host) {
        return Err(RequestError::InvalidField(RequestField::Host));
    }
    if let Some(token) = head.bearer_token {
        if !is_token_like(token.expose()) {
            return Err(RequestError::InvalidField(RequestField::Authorization));
        }
    }
    if let Some(content_type) = head.content_type {
        // Media types may hold spaces around parameters (`application/json; charset=utf-8`),
        // but must not start or end with whitespace, which would blur the header syntax.
        let bytes = content_type.as_bytes();
        let ok = !bytes.is_empty()
            && bytes.first() != Some(&b' ')
            && bytes.last() != Some(&b' ')
            && bytes.iter().all(|&b| b == b' ' || is_visible_ascii(b));
        if !ok {
            return Err(RequestError::InvalidField(RequestField::ContentType));
        }
    }
    Ok(())
}

/// Non-empty, visible ASCII only (no spaces, no control bytes, no obs-text).
fn is_token_like(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_visible_ascii)
}

const fn is_visible_ascii(b: u8) -> bool {
    matches!(b, 0x21..=0x7e)
}

/// Append-only writer over the caller buffer that refuses to write past its end.
struct Cursor<'o> {
    out: &'o mut [u8],
    len: usize,
}

impl Cursor<'_> {
    fn put(&mut self, s: &str) -> Result<(), RequestError> {
        self.put_bytes(s.as_bytes())
    }

    fn put_bytes(&mut self, bytes: &[u8]) -> Result<(), RequestError> {
        let end = self
            .len
            .checked_add(bytes.len())
            .ok_or(RequestError::BufferFull)?;
        let dst = self
            .out
            .get_mut(self.len..end)
            .ok_or(RequestError::BufferFull)?;
        dst.copy_from_slice(bytes);
        self.len = end;
        Ok(())
    }

    fn put_decimal(&mut self, mut n: usize) -> Result<(), RequestError> {
        // u64::MAX has 20 decimal digits; usize is at most 64 bits.
        let mut digits = [0u8; 20];
        let mut start = digits.len();
        loop {
            start = start.saturating_sub(1);
            if let Some(d) = digits.get_mut(start) {
                *d = b'0' + (n % 10) as u8;
            }
            n /= 10;
            if n == 0 || start == 0 {
                break;
            }
        }
        self.put_bytes(digits.get(start..).unwrap_or(&[]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;

    fn write(head: &RequestHead<'_>) -> std::string::String {
        let mut buf = [0u8; 512];
        let n = write_request_head(head, &mut buf).unwrap();
        std::string::String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    #[test]
    fn get_matches_recorded_shape() {
        let mut head = RequestHead::new(Method::Get, "/api/v1/nodes/esp-node-01", "127.0.0.1:6443");
        head.bearer_token = Some(BearerToken::new("abc.def"));
        assert_eq!(
            write(&head),
            format!(
                "GET /api/v1/nodes/esp-node-01 HTTP/1.1\r\nHost: 127.0.0.1:6443\r\n\
                 User-Agent: picokubelet/{}\r\nAuthorization: Bearer abc.def\r\n\
                 Accept: application/json\r\n\r\n",
                env!("CARGO_PKG_VERSION")
            )
        );
    }

    #[test]
    fn protobuf_accept_asks_protobuf_first() {
        let mut head = RequestHead::new(Method::Patch, "/x", "h");
        head.accept = Accept::Protobuf;
        head.content_type = Some("application/merge-patch+json");
        head.body_len = Some(52);
        let text = write(&head);
        assert!(
            text.contains(
                "\r\nAccept: application/vnd.kubernetes.protobuf,*/*\r\nContent-Type: application/merge-patch+json\r\n"
            ),
            "{text}"
        );
        // 23 bytes more than JSON's header: what the renewal pays for a 302-byte smaller answer.
        assert_eq!(
            Accept::Protobuf.as_str().len() - Accept::Json.as_str().len(),
            23
        );
    }

    #[test]
    fn decimal_writer_covers_zero_and_max() {
        for n in [0usize, 7, 10, 809, usize::MAX] {
            let mut buf = [0u8; 32];
            let mut w = Cursor {
                out: &mut buf,
                len: 0,
            };
            w.put_decimal(n).unwrap();
            let len = w.len;
            assert_eq!(&buf[..len], format!("{n}").as_bytes());
        }
    }

    #[test]
    fn token_is_redacted_in_debug() {
        let mut head = RequestHead::new(Method::Get, "/", "h");
        head.bearer_token = Some(BearerToken::new("s3cr3t-token"));
        let shown = format!("{head:?} {:?}", head.bearer_token);
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("redacted"));
    }
}
