//! HTTP/1.1 response head parser.
//!
//! Parses the status line and headers with `httparse` straight from the caller's receive buffer
//! and keeps only what the agent acts on: status, body framing, `Connection: close`, `Date` (the
//! clock anchor), `Retry-After` and the class of `Content-Type`. Nothing borrowed from the buffer
//! survives the call, so the caller may reuse the buffer for the body at once.
//!
//! Bounds: the head may use at most `max_head_len` bytes of the buffer (the API server's heads are
//! 200–560 bytes; [`DEFAULT_MAX_HEAD_LEN`] is 2048) and hold at most [`MAX_HEADERS`] header lines
//! (the server sends 7–11). The header table lives on the stack: [`MAX_HEADERS`] × 4 words.
//!
//! Framing decisions (RFC 9112 §6.3):
//! * 1xx, 204 and 304 never have a body, whatever their headers say.
//! * `Transfer-Encoding` must be exactly `chunked`; anything else (gzip, a list, `identity`) is
//!   refused: we never ask for a transfer coding, and an unknown one cannot be framed.
//! * `Content-Length` together with `Transfer-Encoding` is refused (request-smuggling shape), as
//!   are two different `Content-Length` values; repeats of the same value are accepted.
//! * `Content-Encoding` other than `identity` is refused: we never send `Accept-Encoding`, so
//!   compressed content would be unreadable anyway.
//! * No length at all: the body runs until the server closes ([`BodyFraming::UntilClose`]), as
//!   the RFC demands even on a keep-alive connection; such a connection is never reused. The API
//!   server always frames its bodies, so this is for intermediaries only.
//! * Only `HTTP/1.1` is accepted; `HTTP/1.0` and `HTTP/2` status lines are [`HeadError::NotHttp11`]
//!   (1.0 would mean close-delimited bodies and no keep-alive, which the client does not plan for).

use super::body::BodyFraming;
use crate::time::{parse_imf_fixdate, TimeParseError, UnixMicros};

/// Default bound on the response head, status line to the empty line included.
pub const DEFAULT_MAX_HEAD_LEN: usize = 2048;

/// Most header lines a response head may carry.
pub const MAX_HEADERS: usize = 32;

/// Why a response head was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HeadError {
    /// The head is not complete yet: read more bytes and parse again from the start.
    Partial,
    /// No complete head within `max_head_len` bytes.
    HeadTooLarge,
    /// More than [`MAX_HEADERS`] header lines.
    TooManyHeaders,
    /// Not an HTTP response head (bad status line, header syntax or line ending).
    Malformed,
    /// A status line of another HTTP version (`HTTP/2 200`, `HTTP/1.0 200 OK`).
    NotHttp11,
    /// Both `Content-Length` and `Transfer-Encoding`.
    ConflictingFraming,
    /// `Content-Length` given with different values.
    ConflictingContentLength,
    /// `Content-Length` that is not a decimal number fitting in 64 bits.
    InvalidContentLength,
    /// A `Transfer-Encoding` other than exactly `chunked`.
    UnsupportedTransferEncoding,
    /// A `Content-Encoding` other than `identity` (e.g. gzip, which we never ask for).
    UnsupportedContentEncoding,
}

/// Why a response carries no usable `Date`. Never fails the response: the clock simply gets no
/// anchor from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DateProblem {
    Missing,
    /// More than one `Date` header: neither is trusted.
    Repeated,
    /// Not an IMF-fixdate (RFC 9110 §5.6.7), the only form servers may send.
    Unparseable(TimeParseError),
}

/// The `Retry-After` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RetryAfter {
    /// Wait this long. Delta-seconds are taken as given (saturating at `u32::MAX`); the HTTP-date
    /// form is converted using the response's own `Date` (0 when already past).
    Seconds(u32),
    /// Present but unusable: malformed, repeated, or an HTTP-date without a valid `Date` to
    /// measure it against. Callers fall back to their own backoff.
    Unknown,
}

/// What kind of body the `Content-Type` announces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ContentClass {
    /// `application/json` or `application/*+json`: a Kubernetes object or `Status`.
    Json,
    /// `text/*`, e.g. the API priority-and-fairness 429 body.
    Text,
    /// `application/vnd.kubernetes.protobuf`: a Kubernetes object or `Status` in protobuf
    /// (`k8s\0` + runtime.Unknown), the answer to a request that asked for it.
    Protobuf,
    /// Any other or a repeated `Content-Type`.
    Other,
    /// No `Content-Type`.
    Missing,
}

/// The parts of a response head the client acts on. Owns no buffer bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    /// How the body is delimited (already resolved against the status code).
    pub framing: BodyFraming,
    /// The `Content-Length` header value, when present (also on a 304 or 204).
    pub content_length: Option<u64>,
    /// `Transfer-Encoding: chunked` was present.
    pub chunked: bool,
    /// The server announced `Connection: close`.
    pub connection_close: bool,
    pub date: Result<UnixMicros, DateProblem>,
    pub retry_after: Option<RetryAfter>,
    pub content_class: ContentClass,
    /// Bytes of the buffer the head used; the body starts right after them.
    pub head_len: usize,
}

impl ResponseHead {
    /// The connection can carry the next request once this body is read completely.
    pub fn keep_alive(&self) -> bool {
        !self.connection_close && self.framing != BodyFraming::UntilClose
    }

    /// A 1xx interim response: another head follows on the connection.
    pub fn is_interim(&self) -> bool {
        (100..200).contains(&self.status)
    }
}

/// Parses the response head at the start of `buf`, looking at most at `max_head_len` bytes.
///
/// Returns [`HeadError::Partial`] while the head is incomplete and `buf` is shorter than
/// `max_head_len`; the caller then reads more and calls again with the whole buffer.
pub fn parse_response_head(buf: &[u8], max_head_len: usize) -> Result<ResponseHead, HeadError> {
    let window = buf.get(..max_head_len).unwrap_or(buf);
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(window) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if window.len() >= max_head_len => {
            return Err(HeadError::HeadTooLarge)
        }
        Ok(httparse::Status::Partial) => return Err(HeadError::Partial),
        Err(httparse::Error::Version) => return Err(HeadError::NotHttp11),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooManyHeaders),
        Err(_) => return Err(HeadError::Malformed),
    };
    if response.version != Some(1) {
        return Err(HeadError::NotHttp11);
    }
    let status = match response.code {
        Some(code) if code >= 100 => code,
        _ => return Err(HeadError::Malformed),
    };
    let fields = HeaderFields::collect(response.headers)?;
    let no_body = (100..200).contains(&status) || status == 204 || status == 304;
    let framing = if no_body {
        BodyFraming::Empty
    } else if fields.chunked {
        BodyFraming::Chunked
    } else {
        match fields.content_length {
            Some(n) => BodyFraming::ContentLength(n),
            None => BodyFraming::UntilClose,
        }
    };
    let date = fields.date();
    let retry_after = fields.retry_after.map(|value| retry_after(value, date));
    Ok(ResponseHead {
        status,
        framing,
        content_length: fields.content_length,
        chunked: fields.chunked,
        connection_close: fields.connection_close,
        date,
        retry_after,
        content_class: fields.content_class,
        head_len,
    })
}

/// A header that may appear at most once.
#[derive(Clone, Copy)]
enum Single<'b> {
    Absent,
    One(&'b [u8]),
    Repeated,
}

impl<'b> Single<'b> {
    fn add(self, value: &'b [u8]) -> Self {
        match self {
            Single::Absent => Single::One(value),
            _ => Single::Repeated,
        }
    }
}

struct HeaderFields<'b> {
    content_length: Option<u64>,
    chunked: bool,
    connection_close: bool,
    date: Single<'b>,
    retry_after: Option<Single<'b>>,
    content_class: ContentClass,
}

impl<'b> HeaderFields<'b> {
    fn collect(headers: &[httparse::Header<'b>]) -> Result<Self, HeadError> {
        let mut content_length: Option<u64> = None;
        let mut transfer_encoding_seen = false;
        let mut transfer_codings = 0usize;
        let mut chunked_only = true;
        let mut connection_close = false;
        let mut date = Single::Absent;
        let mut retry_after: Option<Single<'b>> = None;
        let mut content_type = Single::Absent;
        for header in headers {
            let name = header.name;
            let value = header.value;
            if name.eq_ignore_ascii_case("content-length") {
                for element in list_elements(value) {
                    let n = parse_decimal(element).ok_or(HeadError::InvalidContentLength)?;
                    if content_length.is_some_and(|seen| seen != n) {
                        return Err(HeadError::ConflictingContentLength);
                    }
                    content_length = Some(n);
                }
                if content_length.is_none() {
                    // An empty value (or only commas) says nothing usable.
                    return Err(HeadError::InvalidContentLength);
                }
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                transfer_encoding_seen = true;
                for coding in list_elements(value).filter(|e| !e.is_empty()) {
                    transfer_codings = transfer_codings.saturating_add(1);
                    chunked_only &= coding.eq_ignore_ascii_case(b"chunked");
                }
            } else if name.eq_ignore_ascii_case("content-encoding") {
                let identity = list_elements(value)
                    .filter(|e| !e.is_empty())
                    .all(|coding| coding.eq_ignore_ascii_case(b"identity"));
                if !identity {
                    return Err(HeadError::UnsupportedContentEncoding);
                }
            } else if name.eq_ignore_ascii_case("connection") {
                connection_close |= list_elements(value).any(|t| t.eq_ignore_ascii_case(b"close"));
            } else if name.eq_ignore_ascii_case("date") {
                date = date.add(trim_ows(value));
            } else if name.eq_ignore_ascii_case("retry-after") {
                let seen = retry_after.unwrap_or(Single::Absent);
                retry_after = Some(seen.add(trim_ows(value)));
            } else if name.eq_ignore_ascii_case("content-type") {
                content_type = content_type.add(trim_ows(value));
            }
        }
        if transfer_encoding_seen && content_length.is_some() {
            return Err(HeadError::ConflictingFraming);
        }
        if transfer_encoding_seen && !(transfer_codings == 1 && chunked_only) {
            return Err(HeadError::UnsupportedTransferEncoding);
        }
        Ok(HeaderFields {
            content_length,
            chunked: transfer_encoding_seen,
            connection_close,
            date,
            retry_after,
            content_class: match content_type {
                Single::Absent => ContentClass::Missing,
                Single::One(v) => classify_content_type(v),
                Single::Repeated => ContentClass::Other,
            },
        })
    }

    fn date(&self) -> Result<UnixMicros, DateProblem> {
        match self.date {
            Single::Absent => Err(DateProblem::Missing),
            Single::Repeated => Err(DateProblem::Repeated),
            Single::One(v) => parse_imf_fixdate(v).map_err(DateProblem::Unparseable),
        }
    }
}

fn retry_after(value: Single<'_>, date: Result<UnixMicros, DateProblem>) -> RetryAfter {
    let Single::One(v) = value else {
        return RetryAfter::Unknown;
    };
    if !v.is_empty() && v.iter().all(u8::is_ascii_digit) {
        // RFC 9110 §10.2.3: delta-seconds may be arbitrarily long; saturate rather than reject.
        let secs = v.iter().fold(0u32, |acc, &d| {
            acc.saturating_mul(10).saturating_add(u32::from(d - b'0'))
        });
        return RetryAfter::Seconds(secs);
    }
    match (parse_imf_fixdate(v), date) {
        (Ok(at), Ok(now)) => {
            let secs = at.as_secs().saturating_sub(now.as_secs());
            RetryAfter::Seconds(u32::try_from(secs).unwrap_or(u32::MAX))
        }
        _ => RetryAfter::Unknown,
    }
}

fn classify_content_type(value: &[u8]) -> ContentClass {
    let media_type = trim_ows(value.split(|&b| b == b';').next().unwrap_or(value));
    let mut parts = media_type.splitn(2, |&b| b == b'/');
    let kind = parts.next().unwrap_or(&[]);
    let Some(subtype) = parts.next() else {
        return ContentClass::Other;
    };
    if kind.eq_ignore_ascii_case(b"application")
        && (subtype.eq_ignore_ascii_case(b"json") || ends_with_ignore_case(subtype, b"+json"))
    {
        ContentClass::Json
    } else if kind.eq_ignore_ascii_case(b"text") && !subtype.is_empty() {
        ContentClass::Text
    } else if kind.eq_ignore_ascii_case(b"application")
        && subtype.eq_ignore_ascii_case(b"vnd.kubernetes.protobuf")
    {
        ContentClass::Protobuf
    } else {
        ContentClass::Other
    }
}

fn ends_with_ignore_case(s: &[u8], suffix: &[u8]) -> bool {
    s.len() > suffix.len()
        && s.get(s.len().saturating_sub(suffix.len())..)
            .is_some_and(|tail| tail.eq_ignore_ascii_case(suffix))
}

/// Elements of a comma-separated header list, each trimmed of optional whitespace. Empty
/// elements are kept; callers decide whether they matter.
fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&b| b == b',').map(trim_ows)
}

fn trim_ows(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// `1*DIGIT` as u64; `None` when empty, not all digits, or overflowing.
fn parse_decimal(v: &[u8]) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    v.iter().try_fold(0u64, |acc, &d| {
        if d.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_classes() {
        use ContentClass::*;
        for (value, class) in [
            (&b"application/json"[..], Json),
            (b"Application/JSON; charset=utf-8", Json),
            (b"application/merge-patch+json", Json),
            (b"application/+json", Other),
            (b"text/plain; charset=utf-8", Text),
            (b"application/vnd.kubernetes.protobuf", Protobuf),
            (
                b"application/vnd.kubernetes.protobuf;stream=watch",
                Protobuf,
            ),
            (b"application/vnd.kubernetes.protobufx", Other),
            (b"json", Other),
            (b"text/", Other),
        ] {
            assert_eq!(classify_content_type(value), class, "{value:?}");
        }
    }

    #[test]
    fn decimal_parsing_bounds() {
        assert_eq!(parse_decimal(b"0"), Some(0));
        assert_eq!(parse_decimal(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_decimal(b"18446744073709551616"), None);
        assert_eq!(parse_decimal(b"+1"), None);
        assert_eq!(parse_decimal(b""), None);
    }

    #[test]
    fn ows_trimming() {
        assert_eq!(trim_ows(b" \t a b\t "), b"a b");
        assert_eq!(trim_ows(b"   "), b"");
    }
}
