//! A parsed HTTP request and the answer before HTTP framing: what the HTTP layer hands the API
//! and gets back.

use crate::auth::User;

/// A parsed HTTP request.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// Method, e.g. `GET`.
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// Raw query string (without `?`).
    pub query: String,
    /// Header fields in arrival order.
    pub headers: Vec<(String, String)>,
    /// Decoded body.
    pub body: Vec<u8>,
    /// The user of a verified client certificate.
    pub client_user: Option<User>,
    /// `X509SHA256=<hex>` of the verified client certificate (SelfSubjectReview's credential-id).
    pub client_credential: Option<String>,
}

impl Request {
    /// First header value by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A query parameter, percent-decoded (the first one of that name).
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k) == name).then(|| percent_decode(v))
        })
    }
}

/// The answer before HTTP framing: status, handler headers (sorted on the wire), body.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// Headers the handler set (the HTTP layer adds Date and framing).
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
    /// A `Content-Type` the handler did not set and Go's server sniffed from the body: written
    /// after `Content-Length`, as Go writes its own headers (recorded G3k).
    pub sniffed_type: Option<&'static str>,
    /// A watch: the head goes out at once and events follow (no body here).
    pub watch: Option<WatchSpec>,
}

/// How a watch streams (recorded A05): the head at once (chunked), then one event per chunk as
/// the objects change, then the last chunk when the clock reaches `until` (`timeoutSeconds`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchSpec {
    /// Clock time the stream ends.
    pub until: std::time::SystemTime,
    /// Start after this resourceVersion; `None`: the current objects first, as `ADDED`.
    pub after: Option<u64>,
}

/// A handled request plus who made it (for the request log).
#[derive(Debug, Clone)]
pub struct Handled {
    /// The answer.
    pub response: Response,
    /// Authenticated user name, if any.
    pub user: Option<String>,
}

/// Decodes `%XX` escapes (invalid ones stay as they are).
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
