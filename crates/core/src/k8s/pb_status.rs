//! A `Status` in Kubernetes protobuf, read as it streams in: the error answer to a request that
//! asked for `application/vnd.kubernetes.protobuf` (the Lease renewal).
//!
//! The body is the magic `k8s\0` and a `runtime.Unknown` {typeMeta = 1 {apiVersion = 1, kind = 2},
//! raw = 2, contentEncoding = 3, contentType = 4} whose `raw` is a `meta.k8s.io/v1` Status
//! {metadata = 1, status = 2, message = 3, reason = 4, details = 5, code = 6}; of
//! StatusDetails {name = 1, group = 2, kind = 3, causes = 4, retryAfterSeconds = 5, uid = 6}
//! (k8s.io/apimachinery's `generated.proto`; recorded-2 E11 shows the envelope). The reader fills
//! the same [`StatusResponse`] the JSON path fills, with the same conventions: text fields are
//! kept cut and flagged when long, a field of the wrong wire type or invalid UTF-8 sets
//! `malformed`, and a body that is not such a message sets `malformed` and is ignored from there.
//!
//! Bounds: no buffer; the state is a few words plus [`MAX_DEPTH`] open messages (envelope, Status,
//! details; typeMeta in place of the Status). Every byte is looked at once, so the cost is linear
//! in the body; nothing the server sends can make it panic, loop or allocate (fuzzed with the
//! HTTP readers: `fuzz/fuzz_targets/http_response.rs`).

use crate::bounded::BoundedStr;
use crate::k8s::response::StatusResponse;

/// Open messages at most: the envelope, the Status (or typeMeta), the details.
pub const MAX_DEPTH: usize = 3;

/// The four bytes before every Kubernetes protobuf message.
pub const MAGIC: [u8; 4] = *b"k8s\0";

/// Which message a field belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Msg {
    Unknown,
    TypeMeta,
    Status,
    Details,
}

/// A string field the reader keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Text {
    Kind,
    Status,
    Message,
    Reason,
    DetailsName,
    DetailsKind,
}

/// An integer field the reader keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Number {
    Code,
    RetryAfterSeconds,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// The first bytes: `k8s\0` (how many matched so far is `pos`).
    Magic,
    /// A field key (varint).
    Key { value: u64, shift: u8 },
    /// The length of field `field` (varint).
    Length { field: u32, value: u64, shift: u8 },
    /// A varint value, kept when `keep` names a field.
    Varint {
        keep: Option<Number>,
        value: u64,
        shift: u8,
    },
    /// Bytes to pass over, up to `until`.
    Skip { until: u32 },
    /// A string field's bytes, up to `until`.
    Text { text: Text, until: u32 },
    /// The body broke the structure: ignore the rest.
    Broken,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Frame {
    msg: Msg,
    /// Body offset where the message ends.
    end: u32,
}

/// Reads one protobuf `Status` body fed in pieces; see the module notes.
#[derive(Clone, Debug)]
pub struct StatusReader {
    /// Body bytes consumed.
    pos: u32,
    stage: Stage,
    frames: [Frame; MAX_DEPTH],
    depth: usize,
    /// The bytes of a UTF-8 character split between pieces (or between bytes).
    pending: [u8; 4],
    pending_len: usize,
}

impl Default for StatusReader {
    fn default() -> Self {
        Self::new()
    }
}

const ROOT: Frame = Frame {
    msg: Msg::Unknown,
    end: u32::MAX,
};

impl StatusReader {
    pub const fn new() -> Self {
        StatusReader {
            pos: 0,
            stage: Stage::Magic,
            frames: [ROOT; MAX_DEPTH],
            depth: 1,
            pending: [0; 4],
            pending_len: 0,
        }
    }

    /// Reads the next piece of the body into `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut StatusResponse) {
        let mut rest = bytes;
        while !rest.is_empty() {
            if self.stage == Stage::Broken {
                return;
            }
            // Whole runs of skipped bytes at once; everything else byte by byte.
            if let Stage::Skip { until } = self.stage {
                let room = until.saturating_sub(self.pos) as usize;
                let n = room.min(rest.len());
                rest = rest.get(n..).unwrap_or(&[]);
                self.advance(n);
                self.close_fields(out);
                continue;
            }
            let Some((&b, tail)) = rest.split_first() else {
                return;
            };
            rest = tail;
            self.byte(b, out);
        }
    }

    /// The body has ended: a message cut short marks the answer `malformed`.
    pub fn finish(&mut self, out: &mut StatusResponse) {
        let at_boundary = matches!(self.stage, Stage::Key { shift: 0, .. }) && self.depth == 1;
        if !at_boundary {
            out.malformed = true;
            if let Stage::Text { text, .. } = self.stage {
                target(out, text).mark_truncated();
            }
            self.stage = Stage::Broken;
        }
    }

    fn broken(&mut self, out: &mut StatusResponse) {
        out.malformed = true;
        self.stage = Stage::Broken;
    }

    fn advance(&mut self, n: usize) {
        self.pos = self
            .pos
            .saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
    }

    fn frame(&self) -> Frame {
        self.frames
            .get(self.depth.saturating_sub(1))
            .copied()
            .unwrap_or(ROOT)
    }

    fn byte(&mut self, b: u8, out: &mut StatusResponse) {
        self.advance(1);
        match self.stage {
            Stage::Magic => {
                let seen = self.pos as usize;
                if MAGIC.get(seen.saturating_sub(1)) != Some(&b) {
                    return self.broken(out);
                }
                if seen == MAGIC.len() {
                    self.stage = Stage::Key { value: 0, shift: 0 };
                }
            }
            Stage::Key { value, shift } => match varint_step(value, shift, b) {
                Step::More(value, shift) => self.stage = Stage::Key { value, shift },
                Step::Done(key) => self.key(key, out),
                Step::TooLong => self.broken(out),
            },
            Stage::Length {
                field,
                value,
                shift,
            } => match varint_step(value, shift, b) {
                Step::More(value, shift) => {
                    self.stage = Stage::Length {
                        field,
                        value,
                        shift,
                    }
                }
                Step::Done(len) => self.length(field, len, out),
                Step::TooLong => self.broken(out),
            },
            Stage::Varint { keep, value, shift } => match varint_step(value, shift, b) {
                Step::More(value, shift) => self.stage = Stage::Varint { keep, value, shift },
                Step::Done(v) => {
                    match keep {
                        Some(Number::Code) => match u16::try_from(v) {
                            Ok(code) => out.code = Some(code),
                            Err(_) => out.malformed = true,
                        },
                        Some(Number::RetryAfterSeconds) => match u32::try_from(v) {
                            Ok(secs) => out.retry_after_seconds = Some(secs),
                            Err(_) => out.malformed = true,
                        },
                        None => {}
                    }
                    self.stage = Stage::Key { value: 0, shift: 0 };
                    self.close_fields(out);
                }
                Step::TooLong => self.broken(out),
            },
            Stage::Text { text, until } => {
                self.text_byte(text, b, out);
                if self.pos >= until {
                    self.end_text(text, out);
                    self.stage = Stage::Key { value: 0, shift: 0 };
                    self.close_fields(out);
                }
            }
            // Handled in `feed`.
            Stage::Skip { .. } | Stage::Broken => {}
        }
    }

    /// A complete key: what to do with the field's value.
    fn key(&mut self, key: u64, out: &mut StatusResponse) {
        let Ok(field) = u32::try_from(key >> 3) else {
            return self.broken(out);
        };
        if field == 0 {
            return self.broken(out);
        }
        let msg = self.frame().msg;
        self.stage = match key & 7 {
            0 => Stage::Varint {
                keep: match (msg, field) {
                    (Msg::Status, 6) => Some(Number::Code),
                    (Msg::Details, 5) => Some(Number::RetryAfterSeconds),
                    (Msg::Status, 2..=5) | (Msg::Details, 1..=4 | 6) | (Msg::TypeMeta, _) => {
                        // A string or message field sent as a number: not a Status we know.
                        out.malformed = true;
                        None
                    }
                    _ => None,
                },
                value: 0,
                shift: 0,
            },
            1 => self.skip(8),
            2 => Stage::Length {
                field,
                value: 0,
                shift: 0,
            },
            5 => self.skip(4),
            // Groups (3, 4) are long gone from protobuf; 6 and 7 do not exist.
            _ => return self.broken(out),
        };
        if let Stage::Skip { until } = self.stage {
            if until > self.frame().end {
                self.broken(out);
            }
        }
    }

    fn skip(&self, n: u32) -> Stage {
        Stage::Skip {
            until: self.pos.saturating_add(n),
        }
    }

    /// A complete length of length-delimited `field`: enter it, keep it or skip it.
    fn length(&mut self, field: u32, len: u64, out: &mut StatusResponse) {
        let end = u32::try_from(len)
            .ok()
            .and_then(|len| self.pos.checked_add(len))
            .filter(|end| *end <= self.frame().end && *end < u32::MAX);
        let Some(end) = end else {
            return self.broken(out);
        };
        let msg = self.frame().msg;
        let enter = match (msg, field) {
            (Msg::Unknown, 1) => Some(Msg::TypeMeta),
            (Msg::Unknown, 2) => Some(Msg::Status),
            (Msg::Status, 5) => Some(Msg::Details),
            _ => None,
        };
        let text = match (msg, field) {
            (Msg::TypeMeta, 2) => Some(Text::Kind),
            (Msg::Status, 2) => Some(Text::Status),
            (Msg::Status, 3) => Some(Text::Message),
            (Msg::Status, 4) => Some(Text::Reason),
            (Msg::Details, 1) => Some(Text::DetailsName),
            (Msg::Details, 3) => Some(Text::DetailsKind),
            _ => None,
        };
        if matches!((msg, field), (Msg::Status, 6) | (Msg::Details, 5)) {
            // A number sent as bytes.
            out.malformed = true;
        }
        self.stage = Stage::Key { value: 0, shift: 0 };
        if let Some(inner) = enter {
            match self.frames.get_mut(self.depth) {
                Some(slot) => {
                    *slot = Frame { msg: inner, end };
                    self.depth = self.depth.saturating_add(1);
                }
                None => return self.broken(out),
            }
        } else if let Some(text) = text {
            // The last occurrence of a field wins, as in protobuf.
            target(out, text).clear();
            self.pending_len = 0;
            if end > self.pos {
                self.stage = Stage::Text { text, until: end };
                return;
            }
        } else if end > self.pos {
            self.stage = Stage::Skip { until: end };
            return;
        }
        self.close_fields(out);
    }

    /// Closes the messages that end here.
    fn close_fields(&mut self, out: &mut StatusResponse) {
        if let Stage::Skip { until } = self.stage {
            if self.pos < until {
                return;
            }
            self.stage = Stage::Key { value: 0, shift: 0 };
        }
        while self.depth > 1 && self.frame().end <= self.pos {
            if self.frame().end < self.pos {
                return self.broken(out);
            }
            self.depth = self.depth.saturating_sub(1);
        }
    }

    /// One byte of a kept string, assembled into UTF-8 characters.
    fn text_byte(&mut self, text: Text, b: u8, out: &mut StatusResponse) {
        if let Some(slot) = self.pending.get_mut(self.pending_len) {
            *slot = b;
            self.pending_len = self.pending_len.saturating_add(1);
        }
        let want = match self.pending.first() {
            Some(0x00..=0x7f) => 1,
            Some(0xc2..=0xdf) => 2,
            Some(0xe0..=0xef) => 3,
            Some(0xf0..=0xf4) => 4,
            _ => 0,
        };
        if want == 0 {
            return self.invalid_text(text, out);
        }
        if self.pending_len < want {
            return;
        }
        let chunk = self.pending.get(..want).unwrap_or(&[]);
        match core::str::from_utf8(chunk) {
            Ok(ch) => {
                let dst = target(out, text);
                if !dst.is_truncated() {
                    dst.push_str(ch);
                }
                self.pending_len = 0;
            }
            Err(_) => self.invalid_text(text, out),
        }
    }

    /// Not UTF-8: keep what came before, cut and flagged.
    fn invalid_text(&mut self, text: Text, out: &mut StatusResponse) {
        out.malformed = true;
        target(out, text).mark_truncated();
        self.pending_len = 0;
    }

    fn end_text(&mut self, text: Text, out: &mut StatusResponse) {
        if self.pending_len != 0 {
            self.invalid_text(text, out);
        }
    }
}

/// The [`StatusResponse`] field a kept string goes into.
fn target(out: &mut StatusResponse, text: Text) -> &mut dyn TextSink {
    match text {
        Text::Kind => &mut out.kind,
        Text::Status => &mut out.status,
        Text::Message => &mut out.message,
        Text::Reason => &mut out.reason,
        Text::DetailsName => &mut out.details_name,
        Text::DetailsKind => &mut out.details_kind,
    }
}

/// A [`BoundedStr`] of any capacity.
trait TextSink {
    fn push_str(&mut self, s: &str) -> bool;
    fn mark_truncated(&mut self);
    fn clear(&mut self);
    fn is_truncated(&self) -> bool;
}

impl<const N: usize> TextSink for BoundedStr<N> {
    fn push_str(&mut self, s: &str) -> bool {
        BoundedStr::push_str(self, s)
    }
    fn mark_truncated(&mut self) {
        BoundedStr::mark_truncated(self)
    }
    fn clear(&mut self) {
        BoundedStr::clear(self)
    }
    fn is_truncated(&self) -> bool {
        BoundedStr::is_truncated(self)
    }
}

enum Step {
    More(u64, u8),
    Done(u64),
    TooLong,
}

/// One byte of a base-128 varint (at most ten bytes, as protobuf allows).
fn varint_step(value: u64, shift: u8, b: u8) -> Step {
    if shift >= 64 {
        return Step::TooLong;
    }
    let value = value | (u64::from(b & 0x7f) << shift);
    if b & 0x80 == 0 {
        Step::Done(value)
    } else {
        Step::More(value, shift.saturating_add(7))
    }
}

/// Reads a whole protobuf Status body at once (tests, tools).
pub fn read_status(body: &[u8]) -> StatusResponse {
    let mut out = StatusResponse::default();
    let mut reader = StatusReader::new();
    reader.feed(body, &mut out);
    reader.finish(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn field(n: u8, bytes: &[u8]) -> Vec<u8> {
        let mut out = std::vec![(n << 3) | 2];
        let mut len = bytes.len();
        while len >= 0x80 {
            out.push((len as u8) | 0x80);
            len >>= 7;
        }
        out.push(len as u8);
        out.extend_from_slice(bytes);
        out
    }

    /// The 404 the test server (and, by `ErrorNegotiated`, kube-apiserver) sends for a missing
    /// Lease, as `testkit::api::pb` encodes it.
    fn not_found() -> Vec<u8> {
        let type_meta = [field(1, b"v1"), field(2, b"Status")].concat();
        let details = [
            field(1, b"esp-node-01"),
            field(2, b"coordination.k8s.io"),
            field(3, b"leases"),
            std::vec![0x28, 0x00],
            field(6, b""),
        ]
        .concat();
        let status = [
            field(1, &[0x0a, 0x00, 0x12, 0x00, 0x1a, 0x00]),
            field(2, b"Failure"),
            field(3, b"leases.coordination.k8s.io \"esp-node-01\" not found"),
            field(4, b"NotFound"),
            field(5, &details),
            std::vec![0x30, 0x94, 0x03],
        ]
        .concat();
        [
            MAGIC.to_vec(),
            field(1, &type_meta),
            field(2, &status),
            field(3, b""),
            field(4, b""),
        ]
        .concat()
    }

    #[test]
    fn reads_a_status_in_any_pieces() {
        let body = not_found();
        let whole = read_status(&body);
        assert!(whole.is_status());
        assert!(!whole.malformed, "{whole:?}");
        assert_eq!(whole.status, "Failure");
        assert_eq!(whole.reason, "NotFound");
        assert_eq!(whole.code, Some(404));
        assert_eq!(
            whole.message,
            "leases.coordination.k8s.io \"esp-node-01\" not found"
        );
        assert_eq!(whole.details_name, "esp-node-01");
        assert_eq!(whole.details_kind, "leases");
        assert_eq!(whole.retry_after_seconds, Some(0));
        for size in 1..body.len() {
            let mut out = StatusResponse::default();
            let mut r = StatusReader::new();
            for piece in body.chunks(size) {
                r.feed(piece, &mut out);
            }
            r.finish(&mut out);
            assert_eq!(out, whole, "pieces of {size}");
        }
    }

    #[test]
    fn a_cut_body_is_malformed_but_keeps_what_it_read() {
        let body = not_found();
        // Cut anywhere inside the magic, typeMeta or raw: malformed. (A cut between two fields
        // of the envelope is a valid shorter message; the HTTP framing rules that out.)
        let raw_end = body.len() - 4;
        for cut in 0..raw_end {
            let out = read_status(&body[..cut]);
            let boundary = cut == MAGIC.len() || cut == MAGIC.len() + 2 + 12;
            assert!(out.malformed || boundary, "cut at {cut}: {out:?}");
        }
        // Cut inside the message: the message is flagged as cut.
        let at = body.windows(9).position(|w| w == b"not found").unwrap();
        let out = read_status(&body[..at]);
        assert!(out.malformed);
        assert!(out.message.is_truncated());
        assert_ne!(out.message, "leases.coordination.k8s.io \"esp-node-01\" ");
    }

    #[test]
    fn long_texts_are_cut_and_flagged() {
        let long = [b'x'; 1000];
        let status = [
            field(3, &long),
            field(4, b"Invalid"),
            std::vec![0x30, 0xa6, 0x03],
        ]
        .concat();
        let body = [MAGIC.to_vec(), field(2, &status)].concat();
        let out = read_status(&body);
        assert!(out.message.is_truncated());
        assert_eq!(out.message.len(), crate::k8s::response::MESSAGE_LEN);
        assert_eq!(out.reason, "Invalid");
        assert_eq!(out.code, Some(422));
        assert!(!out.malformed);
    }

    #[test]
    fn utf8_split_between_pieces_survives_and_invalid_utf8_is_flagged() {
        let status = [field(3, "Zeit überschritten ⏳".as_bytes())].concat();
        let body = [MAGIC.to_vec(), field(2, &status)].concat();
        for size in 1..body.len() {
            let mut out = StatusResponse::default();
            let mut r = StatusReader::new();
            for piece in body.chunks(size) {
                r.feed(piece, &mut out);
            }
            r.finish(&mut out);
            assert_eq!(out.message, "Zeit überschritten ⏳", "pieces of {size}");
        }
        let bad = [MAGIC.to_vec(), field(2, &field(4, b"Not\xffFound"))].concat();
        let out = read_status(&bad);
        assert!(out.malformed);
        assert!(out.reason.is_truncated());
        assert_eq!(out.reason.as_str(), "Not");
    }

    #[test]
    fn not_a_protobuf_status_is_malformed_and_ignored() {
        for body in [
            &b"{\"kind\":\"Status\"}"[..],
            b"k8s",
            b"k8s\0\x0b",                                             // wire type 3
            b"k8s\0\x12\x05\x30\x94",                                 // raw longer than the body
            b"k8s\0\x12\x02\x22\x09ab",                               // reason longer than raw
            b"k8s\0\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", // 11-byte varint
            b"k8s\0\x00",                                             // field 0
        ] {
            let out = read_status(body);
            assert!(out.malformed, "{body:?}");
        }
        // A code that is not a u16, and a string sent as a number: flagged, the rest read.
        let body = [
            MAGIC.to_vec(),
            field(
                2,
                &[0x30, 0xff, 0xff, 0x04, 0x20, 0x01, 0x22, 0x02, b'N', b'o'],
            ),
        ]
        .concat();
        let out = read_status(&body);
        assert!(out.malformed);
        assert_eq!(out.code, None);
        assert_eq!(out.reason, "No");
    }

    #[test]
    fn fields_of_unknown_numbers_and_types_are_skipped() {
        let status = [
            std::vec![0x3d, 1, 2, 3, 4],             // field 7, fixed32
            std::vec![0x41, 1, 2, 3, 4, 5, 6, 7, 8], // field 8, fixed64
            std::vec![0x48, 0x96, 0x01],             // field 9, varint
            field(10, b"ignored"),
            field(4, b"Conflict"),
            std::vec![0x30, 0x99, 0x03],
        ]
        .concat();
        let body = [
            MAGIC.to_vec(),
            field(2, &status),
            field(3, b""),
            field(4, b""),
        ]
        .concat();
        let out = read_status(&body);
        assert!(!out.malformed, "{out:?}");
        assert_eq!(out.reason, "Conflict");
        assert_eq!(out.code, Some(409));
    }

    #[test]
    fn nesting_is_bounded_by_the_message_types() {
        // details inside details is just a field of Details (5 = retryAfterSeconds as bytes).
        let deep = field(5, &field(5, &field(5, &[0x30, 0x01])));
        let body = [MAGIC.to_vec(), field(2, &deep)].concat();
        let out = read_status(&body);
        assert!(out.malformed);
        assert_eq!(out.code, None);
    }
}
