//! Streaming JSON field extractor: a push (sans-I/O) tokenizer that reports scalar values with
//! their path to a [`Visitor`], fed a response body in chunks of any size.
//!
//! ```
//! use picokubelet_core::json::extract::{Extractor, Path, Scalar, Visitor};
//! use picokubelet_core::bounded::BoundedStr;
//!
//! #[derive(Default)]
//! struct ResourceVersion(BoundedStr<32>);
//! impl Visitor for ResourceVersion {
//!     fn value(&mut self, path: &Path<'_>, value: Scalar<'_>) {
//!         if path.is(&["metadata", "resourceVersion"]) {
//!             if let Scalar::Str(text) = value {
//!                 self.0 = text.to_bounded();
//!             }
//!         }
//!     }
//! }
//!
//! let mut rv = ResourceVersion::default();
//! let mut extractor: Extractor = Extractor::new();
//! for chunk in br#"{"metadata":{"resourceVersion":"656"}}"#.chunks(3) {
//!     extractor.feed(chunk, &mut rv).unwrap();
//! }
//! extractor.finish(&mut rv).unwrap();
//! assert_eq!(rv.0, "656");
//! ```
//!
//! # Limits (all fixed; the extractor is about 1.2 KiB with the default scratch)
//! - **Path depth** [`MAX_PATH_DEPTH`] = 12: values nested deeper are not reported, but their
//!   input is still fully validated. Kubernetes objects put what the agent reads at depth ≤ 4;
//!   `managedFields` reaches ~10 and is never read.
//! - **Nesting** [`MAX_NESTING`] = 128 containers: deeper input is [`ErrorKind::NestingTooDeep`]
//!   (bracket matching needs one bit per open container, and serde_json stops at the same depth).
//! - **Keys** [`MAX_KEY_LEN`] = 64 bytes after unescaping: a longer key is reported as
//!   [`Segment::OverlongKey`], which no [`Step`] matches. Not an error.
//! - **String and number values** are decoded into a scratch buffer of `SCRATCH` bytes (default
//!   [`DEFAULT_SCRATCH`] = 256). A longer value is cut on a `char` boundary and reported with
//!   `truncated: true`; the rest is still validated. Capture targets ([`BoundedStr`]) larger than
//!   the scratch therefore only ever receive `SCRATCH` bytes, flagged as truncated.
//!
//! # Strictness
//! RFC 8259 exactly: one value per document with surrounding whitespace (space, tab, CR, LF), no
//! BOM, no comments, no trailing commas, no leading zeros, no unescaped control characters, only
//! the standard escapes, `\u` surrogates properly paired, strings valid UTF-8 (no overlong forms,
//! no encoded surrogates, nothing above U+10FFFF). Any violation is an [`ExtractError`] with the
//! byte offset where it was detected; the extractor stays failed until [`Extractor::reset`].
//! Values reported before an error belong to a document that turned out broken: discard them.
//!
//! # Why not a crate
//! The no_std JSON crates looked at do not fit a body that arrives in arbitrary pieces and may be
//! megabytes long: `serde-json-core`, `lite-json` and `justjson` need the whole document in one
//! slice; `json-event-parser`'s low-level parser needs std and returns "0 bytes consumed" for a
//! token cut by a chunk boundary, so the caller must buffer the whole token; `nom`'s streaming
//! mode likewise re-parses from a buffered start; `picojson`'s `PushParser` copies a string that
//! straddles a chunk boundary into the caller's scratch and fails when it does not fit, so one
//! long annotation (kubectl's `last-applied-configuration` is kilobytes) would make the whole
//! Node unreadable. None tracks paths. A byte-at-a-time state machine with a truncating scratch
//! is ~500 lines and has none of these limits.

use core::fmt;

use crate::bounded::BoundedStr;

/// Values at paths longer than this are validated but not reported.
pub const MAX_PATH_DEPTH: usize = 12;
/// Object keys longer than this (bytes, after unescaping) never match a pattern.
pub const MAX_KEY_LEN: usize = 64;
/// More open containers than this is an error.
pub const MAX_NESTING: usize = 128;
/// Default size of the buffer string and number values are decoded into.
pub const DEFAULT_SCRATCH: usize = 256;

/// Why a document was rejected, and where.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExtractError {
    /// Offset, from the first byte ever fed, of the byte where the problem was detected (for
    /// [`ErrorKind::UnexpectedEnd`]: the total number of bytes fed).
    pub offset: u64,
    pub kind: ErrorKind,
}

/// What was wrong with a document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// A byte that cannot start or continue anything at this point (e.g. `T` of a plain-text
    /// body, a missing `:` or `,`, a trailing comma, a byte ≥ 0x80 outside a string).
    UnexpectedByte(u8),
    /// Something other than whitespace after the complete top-level value.
    TrailingData,
    /// A `]` closing an object or a `}` closing an array.
    MismatchedBracket,
    /// A raw byte below 0x20 inside a string (JSON requires it escaped).
    ControlCharacterInString,
    /// A backslash followed by something other than `" \ / b f n r t u`.
    InvalidEscape,
    /// `\u` not followed by four hex digits.
    InvalidUnicodeEscape,
    /// A `\u` surrogate escape without its partner.
    LoneSurrogate,
    /// Invalid UTF-8 inside a string.
    InvalidUtf8,
    /// A number with a superfluous leading zero (`01`, `-00`).
    LeadingZero,
    /// A malformed number (`-`, `1.`, `1e`, `1.e5`).
    InvalidNumber,
    /// A misspelled `true`, `false` or `null`.
    InvalidLiteral,
    /// More than [`MAX_NESTING`] open containers.
    NestingTooDeep,
    /// The input ended inside the document (or there was no document).
    UnexpectedEnd,
}

impl fmt::Display for ExtractError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            ErrorKind::UnexpectedByte(b) => {
                return write!(f, "unexpected byte 0x{b:02x} at offset {}", self.offset)
            }
            ErrorKind::TrailingData => "data after the JSON document",
            ErrorKind::MismatchedBracket => "mismatched bracket",
            ErrorKind::ControlCharacterInString => "unescaped control character in string",
            ErrorKind::InvalidEscape => "invalid escape",
            ErrorKind::InvalidUnicodeEscape => "invalid \\u escape",
            ErrorKind::LoneSurrogate => "unpaired surrogate escape",
            ErrorKind::InvalidUtf8 => "invalid UTF-8 in string",
            ErrorKind::LeadingZero => "number with leading zero",
            ErrorKind::InvalidNumber => "malformed number",
            ErrorKind::InvalidLiteral => "malformed literal",
            ErrorKind::NestingTooDeep => "nesting too deep",
            ErrorKind::UnexpectedEnd => "unexpected end of JSON",
        };
        write!(f, "{what} at offset {}", self.offset)
    }
}

impl core::error::Error for ExtractError {}

/// One step of a [`Path`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Segment<'a> {
    /// An object member, by its (unescaped) key.
    Key(&'a str),
    /// An array element, by its position (saturating at `u32::MAX`).
    Index(u32),
    /// An object member whose key is longer than [`MAX_KEY_LEN`]: matches no [`Step`].
    OverlongKey,
}

/// One step of a pattern a [`Path`] is matched against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step<'p> {
    /// The object member with exactly this key.
    Key(&'p str),
    /// The array element at this position.
    Index(u32),
    /// Any object member (but not an [`Segment::OverlongKey`]).
    AnyKey,
    /// Any array element.
    AnyIndex,
}

impl Step<'_> {
    fn matches(&self, segment: Segment<'_>) -> bool {
        match (*self, segment) {
            (Step::Key(want), Segment::Key(have)) => want == have,
            (Step::Index(want), Segment::Index(have)) => want == have,
            (Step::AnyKey, Segment::Key(_)) | (Step::AnyIndex, Segment::Index(_)) => true,
            _ => false,
        }
    }
}

/// The position of a value: the keys and indexes from the document root, outermost first. The
/// root value itself has the empty path.
#[derive(Clone, Copy)]
pub struct Path<'a> {
    levels: &'a [Level],
}

impl<'a> Path<'a> {
    /// Number of segments.
    pub fn len(&self) -> usize {
        self.levels.len()
    }

    /// True for the document root.
    pub fn is_empty(&self) -> bool {
        self.levels.is_empty()
    }

    /// Segment `i` (0 = outermost).
    pub fn segment(&self, i: usize) -> Option<Segment<'a>> {
        self.levels.get(i).map(Level::segment)
    }

    /// All segments, outermost first.
    pub fn segments(&self) -> impl Iterator<Item = Segment<'a>> + 'a {
        self.levels.iter().map(Level::segment)
    }

    /// The key of segment `i`, if it is an object member (with a key of matchable length).
    pub fn key(&self, i: usize) -> Option<&'a str> {
        match self.segment(i)? {
            Segment::Key(k) => Some(k),
            _ => None,
        }
    }

    /// The index of segment `i`, if it is an array element.
    pub fn index(&self, i: usize) -> Option<u32> {
        match self.segment(i)? {
            Segment::Index(n) => Some(n),
            _ => None,
        }
    }

    /// True if the path has exactly as many segments as `pattern` and each matches its step.
    pub fn matches(&self, pattern: &[Step<'_>]) -> bool {
        self.len() == pattern.len() && self.starts_with(pattern)
    }

    /// True if the first `pattern.len()` segments match `pattern`.
    pub fn starts_with(&self, pattern: &[Step<'_>]) -> bool {
        pattern.len() <= self.len()
            && pattern
                .iter()
                .zip(self.segments())
                .all(|(step, segment)| step.matches(segment))
    }

    /// True if the path is exactly these object keys, e.g. `["metadata", "resourceVersion"]`.
    pub fn is(&self, keys: &[&str]) -> bool {
        self.len() == keys.len()
            && keys
                .iter()
                .zip(self.segments())
                .all(|(want, segment)| segment == Segment::Key(want))
    }
}

/// JSONPath-like, e.g. `$["status"]["conditions"][3]["type"]`.
impl fmt::Debug for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("$")?;
        for segment in self.segments() {
            match segment {
                Segment::Key(k) => write!(f, "[{k:?}]")?,
                Segment::Index(i) => write!(f, "[{i}]")?,
                Segment::OverlongKey => f.write_str("[<overlong key>]")?,
            }
        }
        Ok(())
    }
}

/// A decoded string value (escapes resolved, always valid UTF-8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Text<'a> {
    /// The value, or its first `SCRATCH` bytes (cut on a `char` boundary) if `truncated`.
    pub value: &'a str,
    /// True if the value was longer than the extractor's scratch buffer.
    pub truncated: bool,
}

impl Text<'_> {
    /// A copy in a [`BoundedStr`], truncated (and flagged) if either buffer was too small.
    pub fn to_bounded<const N: usize>(&self) -> BoundedStr<N> {
        let mut out = BoundedStr::from_str_truncating(self.value);
        if self.truncated {
            out.mark_truncated();
        }
        out
    }

    /// The value, unless it was truncated.
    pub fn complete(&self) -> Option<&str> {
        (!self.truncated).then_some(self.value)
    }
}

/// A number as written in the document (JSON syntax already validated).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Number<'a> {
    raw: &'a str,
    truncated: bool,
}

impl<'a> Number<'a> {
    /// The text as written, e.g. `40`, `-1.5e3` (a prefix if [`Self::is_truncated`]).
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    /// True if the number had more digits than the scratch buffer holds.
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }

    /// The value if it is a non-negative integer that fits (no fraction, no exponent).
    pub fn as_u64(&self) -> Option<u64> {
        if self.truncated {
            return None;
        }
        self.raw.parse().ok()
    }

    /// The value if it is an integer that fits (no fraction, no exponent).
    pub fn as_i64(&self) -> Option<i64> {
        if self.truncated {
            return None;
        }
        self.raw.parse().ok()
    }
}

/// A scalar value found in the document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scalar<'a> {
    Null,
    Bool(bool),
    Number(Number<'a>),
    Str(Text<'a>),
}

impl<'a> Scalar<'a> {
    /// The string, if this is a string.
    pub fn text(&self) -> Option<Text<'a>> {
        match *self {
            Scalar::Str(t) => Some(t),
            _ => None,
        }
    }

    /// The number, if this is a number.
    pub fn number(&self) -> Option<Number<'a>> {
        match *self {
            Scalar::Number(n) => Some(n),
            _ => None,
        }
    }

    /// A copy of the string in a [`BoundedStr`]; `None` for anything but a string.
    pub fn to_bounded<const N: usize>(&self) -> Option<BoundedStr<N>> {
        self.text().map(|t| t.to_bounded())
    }
}

/// Receives every scalar value of a document (at depth ≤ [`MAX_PATH_DEPTH`]) in document order.
pub trait Visitor {
    /// Called once per string, number, boolean or null, with its complete path.
    fn value(&mut self, path: &Path<'_>, value: Scalar<'_>);

    /// Called with each decoded character of a string value (one whole UTF-8 character,
    /// escapes resolved) as it is read, before [`Visitor::value`] reports the string: a
    /// visitor that needs a string longer than the scratch (a base64 certificate, an embedded
    /// kubeconfig) copies or hashes it from here into its own bounded buffer. Keys are not
    /// reported. Does nothing unless implemented.
    fn text_piece(&mut self, path: &Path<'_>, piece: &str) {
        let _ = (path, piece);
    }
}

impl<V: Visitor + ?Sized> Visitor for &mut V {
    fn value(&mut self, path: &Path<'_>, value: Scalar<'_>) {
        (**self).value(path, value);
    }

    fn text_piece(&mut self, path: &Path<'_>, piece: &str) {
        (**self).text_piece(path, piece);
    }
}

/// Both visitors see every value (to read, e.g., an object's metadata and its kind-specific
/// fields in one pass).
impl<A: Visitor, B: Visitor> Visitor for (A, B) {
    fn value(&mut self, path: &Path<'_>, value: Scalar<'_>) {
        self.0.value(path, value);
        self.1.value(path, value);
    }

    fn text_piece(&mut self, path: &Path<'_>, piece: &str) {
        self.0.text_piece(path, piece);
        self.1.text_piece(path, piece);
    }
}

/// A closure as a visitor.
pub struct VisitFn<F>(pub F);

impl<F: FnMut(&Path<'_>, Scalar<'_>)> Visitor for VisitFn<F> {
    fn value(&mut self, path: &Path<'_>, value: Scalar<'_>) {
        (self.0)(path, value)
    }
}

/// One open container on the tracked part of the path.
#[derive(Clone, Copy)]
struct Level {
    is_object: bool,
    /// Array: position of the current element.
    index: u32,
    /// Object: the current member's key (unescaped).
    key: [u8; MAX_KEY_LEN],
    key_len: u8,
    key_overlong: bool,
}

impl Level {
    const EMPTY: Level = Level {
        is_object: false,
        index: 0,
        key: [0; MAX_KEY_LEN],
        key_len: 0,
        key_overlong: false,
    };

    fn segment(&self) -> Segment<'_> {
        if !self.is_object {
            return Segment::Index(self.index);
        }
        if self.key_overlong {
            return Segment::OverlongKey;
        }
        // Keys are stored as whole UTF-8 characters, so this never fails.
        let key = self
            .key
            .get(..usize::from(self.key_len))
            .and_then(|b| core::str::from_utf8(b).ok())
            .unwrap_or("");
        Segment::Key(key)
    }

    fn push_key(&mut self, bytes: &[u8]) {
        if self.key_overlong {
            return;
        }
        let start = usize::from(self.key_len);
        let end = start.saturating_add(bytes.len());
        match self.key.get_mut(start..end) {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                // end ≤ MAX_KEY_LEN = 64 fits u8.
                self.key_len = u8::try_from(end).unwrap_or(u8::MAX);
            }
            None => self.key_overlong = true,
        }
    }
}

/// Where the tokenizer is in the grammar.
#[derive(Clone, Copy, Debug)]
enum State {
    /// A value must follow: document start, after `:`, after `,` in an array.
    Value,
    /// After `[`: a value or `]`.
    ValueOrClose,
    /// After `{`: a key or `}`.
    KeyOrClose,
    /// After `,` in an object: a key.
    Key,
    /// After a key: `:`.
    Colon,
    /// After a value inside a container: `,` or the closing bracket.
    AfterValue,
    /// After the top-level value: only whitespace.
    Done,
    /// Inside a string (a key if `is_key`).
    Str { is_key: bool, esc: Esc },
    /// Inside a number.
    Num(Num),
    /// Inside `true`/`false`/`null`, `matched` bytes in.
    Lit { lit: Lit, matched: u8 },
}

/// String sub-state: escapes and multi-byte UTF-8 sequences in progress.
#[derive(Clone, Copy, Debug)]
enum Esc {
    None,
    /// After `\`.
    Backslash,
    /// In `\uXXXX` with `digits` read; `high` is a pending high surrogate.
    Hex {
        digits: u8,
        unit: u16,
        high: Option<u16>,
    },
    /// After a high surrogate escape: `\` of the low one must follow.
    LowBackslash(u16),
    /// After a high surrogate escape and `\`: `u` must follow.
    LowU(u16),
    /// In a multi-byte UTF-8 character: `left` bytes to go, the next in `lo..=hi`.
    Utf8 {
        left: u8,
        lo: u8,
        hi: u8,
        buf: [u8; 4],
        len: u8,
    },
}

/// Number sub-state (RFC 8259 §6 grammar).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Num {
    Minus,
    Zero,
    Int,
    Dot,
    Frac,
    Exp,
    ExpSign,
    ExpDigits,
}

enum NumNext {
    More(Num),
    End,
    Invalid(ErrorKind),
}

impl Num {
    fn next(self, b: u8) -> NumNext {
        use Num::*;
        use NumNext::*;
        match (self, b) {
            (Minus, b'0') => More(Zero),
            (Minus, b'1'..=b'9') | (Int, b'0'..=b'9') => More(Int),
            (Zero, b'0'..=b'9') => Invalid(ErrorKind::LeadingZero),
            (Zero | Int, b'.') => More(Dot),
            (Dot | Frac, b'0'..=b'9') => More(Frac),
            (Zero | Int | Frac, b'e' | b'E') => More(Exp),
            (Exp, b'+' | b'-') => More(ExpSign),
            (Exp | ExpSign | ExpDigits, b'0'..=b'9') => More(ExpDigits),
            (Minus | Dot | Exp | ExpSign, _) => Invalid(ErrorKind::InvalidNumber),
            (Zero | Int | Frac | ExpDigits, _) => End,
        }
    }

    fn is_complete(self) -> bool {
        matches!(self, Num::Zero | Num::Int | Num::Frac | Num::ExpDigits)
    }
}

#[derive(Clone, Copy, Debug)]
enum Lit {
    True,
    False,
    Null,
}

impl Lit {
    fn text(self) -> &'static [u8] {
        match self {
            Lit::True => b"true",
            Lit::False => b"false",
            Lit::Null => b"null",
        }
    }

    fn scalar(self) -> Scalar<'static> {
        match self {
            Lit::True => Scalar::Bool(true),
            Lit::False => Scalar::Bool(false),
            Lit::Null => Scalar::Null,
        }
    }
}

/// For a UTF-8 lead byte ≥ 0x80: (continuation bytes, range of the first continuation byte).
/// The narrowed ranges reject overlong forms, UTF-16 surrogates and code points above U+10FFFF.
fn utf8_lead(b: u8) -> Option<(u8, u8, u8)> {
    match b {
        0xC2..=0xDF => Some((1, 0x80, 0xBF)),
        0xE0 => Some((2, 0xA0, 0xBF)),
        0xE1..=0xEC | 0xEE..=0xEF => Some((2, 0x80, 0xBF)),
        0xED => Some((2, 0x80, 0x9F)),
        0xF0 => Some((3, 0x90, 0xBF)),
        0xF1..=0xF3 => Some((3, 0x80, 0xBF)),
        0xF4 => Some((3, 0x80, 0x8F)),
        _ => None,
    }
}

fn hex_value(b: u8) -> Option<u16> {
    match b {
        b'0'..=b'9' => Some(u16::from(b - b'0')),
        b'a'..=b'f' => Some(u16::from(b - b'a') + 10),
        b'A'..=b'F' => Some(u16::from(b - b'A') + 10),
        _ => None,
    }
}

/// The push tokenizer. Feed it the body with [`Extractor::feed`] in pieces of any size (even one
/// byte), then call [`Extractor::finish`]. It never holds more of the body than one key (≤
/// [`MAX_KEY_LEN`] bytes per path level) and one value (≤ `SCRATCH` bytes).
pub struct Extractor<const SCRATCH: usize = DEFAULT_SCRATCH> {
    state: State,
    /// Number of open containers.
    nesting: usize,
    /// Bit `i` set: container `i` (0 = outermost) is an object. One bit per level up to
    /// [`MAX_NESTING`], beyond the tracked path, so deep brackets are still matched.
    object_bits: u128,
    levels: [Level; MAX_PATH_DEPTH],
    scratch: [u8; SCRATCH],
    scratch_len: usize,
    scratch_truncated: bool,
    /// Bytes fed so far.
    offset: u64,
    error: Option<ExtractError>,
}

impl<const SCRATCH: usize> Default for Extractor<SCRATCH> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const SCRATCH: usize> Extractor<SCRATCH> {
    /// A tokenizer at the start of a document.
    pub const fn new() -> Self {
        Extractor {
            state: State::Value,
            nesting: 0,
            object_bits: 0,
            levels: [Level::EMPTY; MAX_PATH_DEPTH],
            scratch: [0; SCRATCH],
            scratch_len: 0,
            scratch_truncated: false,
            offset: 0,
            error: None,
        }
    }

    /// Back to the start of a new document (e.g. the next response on a kept-alive connection).
    pub fn reset(&mut self) {
        *self = Self::new();
    }

    /// Bytes fed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// True once the top-level value is complete (only whitespace may follow). A top-level
    /// number is complete only at [`Extractor::finish`], since `1` may continue as `12`.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done) && self.error.is_none()
    }

    /// Tokenizes `chunk`, reporting every complete scalar to `visitor`. After an error every
    /// further call returns the same error.
    pub fn feed<V: Visitor + ?Sized>(
        &mut self,
        chunk: &[u8],
        visitor: &mut V,
    ) -> Result<(), ExtractError> {
        if let Some(err) = self.error {
            return Err(err);
        }
        for &byte in chunk {
            if let Err(kind) = self.step(byte, visitor) {
                return Err(self.fail(kind));
            }
            self.offset = self.offset.saturating_add(1);
        }
        Ok(())
    }

    /// Ends the document: an error if it is incomplete (or was never started). Reports a
    /// top-level number, which only the end of input can complete.
    pub fn finish<V: Visitor + ?Sized>(&mut self, visitor: &mut V) -> Result<(), ExtractError> {
        if let Some(err) = self.error {
            return Err(err);
        }
        match self.state {
            State::Done => Ok(()),
            State::Num(num) if num.is_complete() && self.nesting == 0 => {
                self.emit_number(visitor);
                self.state = State::Done;
                Ok(())
            }
            _ => Err(self.fail(ErrorKind::UnexpectedEnd)),
        }
    }

    fn fail(&mut self, kind: ErrorKind) -> ExtractError {
        let err = ExtractError {
            offset: self.offset,
            kind,
        };
        self.error = Some(err);
        err
    }

    fn step<V: Visitor + ?Sized>(&mut self, b: u8, v: &mut V) -> Result<(), ErrorKind> {
        match self.state {
            State::Str { is_key, esc } => self.string_byte(is_key, esc, b, v),
            State::Num(num) => match num.next(b) {
                NumNext::More(next) => {
                    self.state = State::Num(next);
                    self.push_value_bytes(&[b]);
                    Ok(())
                }
                NumNext::End => {
                    self.emit_number(v);
                    self.value_done();
                    // The byte that ended the number belongs to what follows it.
                    self.structural(b)
                }
                NumNext::Invalid(kind) => Err(kind),
            },
            State::Lit { lit, matched } => {
                let text = lit.text();
                if text.get(usize::from(matched)) != Some(&b) {
                    return Err(ErrorKind::InvalidLiteral);
                }
                let matched = matched.saturating_add(1);
                if usize::from(matched) == text.len() {
                    self.emit(v, lit.scalar());
                    self.value_done();
                } else {
                    self.state = State::Lit { lit, matched };
                }
                Ok(())
            }
            _ => self.structural(b),
        }
    }

    /// Handles a byte between tokens.
    fn structural(&mut self, b: u8) -> Result<(), ErrorKind> {
        if matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            return Ok(());
        }
        match self.state {
            State::Value => self.begin_value(b),
            State::ValueOrClose if b == b']' => self.close(false),
            State::ValueOrClose => self.begin_value(b),
            State::KeyOrClose if b == b'}' => self.close(true),
            State::KeyOrClose | State::Key if b == b'"' => {
                self.begin_key();
                Ok(())
            }
            State::Colon if b == b':' => {
                self.state = State::Value;
                Ok(())
            }
            State::AfterValue => match b {
                b',' => {
                    if self.top_is_object() {
                        self.state = State::Key;
                    } else {
                        if let Some(level) = self.top_level_mut() {
                            level.index = level.index.saturating_add(1);
                        }
                        self.state = State::Value;
                    }
                    Ok(())
                }
                b']' => self.close(false),
                b'}' => self.close(true),
                _ => Err(ErrorKind::UnexpectedByte(b)),
            },
            State::Done => Err(ErrorKind::TrailingData),
            _ => Err(ErrorKind::UnexpectedByte(b)),
        }
    }

    fn begin_value(&mut self, b: u8) -> Result<(), ErrorKind> {
        self.state = match b {
            b'{' => return self.open(true),
            b'[' => return self.open(false),
            b'"' => {
                self.clear_scratch();
                State::Str {
                    is_key: false,
                    esc: Esc::None,
                }
            }
            b'-' | b'0'..=b'9' => {
                self.clear_scratch();
                self.push_value_bytes(&[b]);
                State::Num(match b {
                    b'-' => Num::Minus,
                    b'0' => Num::Zero,
                    _ => Num::Int,
                })
            }
            b't' => State::Lit {
                lit: Lit::True,
                matched: 1,
            },
            b'f' => State::Lit {
                lit: Lit::False,
                matched: 1,
            },
            b'n' => State::Lit {
                lit: Lit::Null,
                matched: 1,
            },
            _ => return Err(ErrorKind::UnexpectedByte(b)),
        };
        Ok(())
    }

    fn begin_key(&mut self) {
        if let Some(level) = self.top_level_mut() {
            level.key_len = 0;
            level.key_overlong = false;
        }
        self.state = State::Str {
            is_key: true,
            esc: Esc::None,
        };
    }

    fn open(&mut self, is_object: bool) -> Result<(), ErrorKind> {
        let depth = self.nesting;
        if depth >= MAX_NESTING {
            return Err(ErrorKind::NestingTooDeep);
        }
        let bit = 1u128.checked_shl(depth as u32).unwrap_or(0);
        if is_object {
            self.object_bits |= bit;
        } else {
            self.object_bits &= !bit;
        }
        if let Some(level) = self.levels.get_mut(depth) {
            *level = Level {
                is_object,
                ..Level::EMPTY
            };
        }
        self.nesting = depth.saturating_add(1);
        self.state = if is_object {
            State::KeyOrClose
        } else {
            State::ValueOrClose
        };
        Ok(())
    }

    fn close(&mut self, is_object: bool) -> Result<(), ErrorKind> {
        if self.nesting == 0 {
            return Err(ErrorKind::MismatchedBracket);
        }
        if self.top_is_object() != is_object {
            return Err(ErrorKind::MismatchedBracket);
        }
        self.nesting -= 1;
        self.value_done();
        Ok(())
    }

    fn value_done(&mut self) {
        self.state = if self.nesting == 0 {
            State::Done
        } else {
            State::AfterValue
        };
    }

    fn top_is_object(&self) -> bool {
        let Some(top) = self.nesting.checked_sub(1) else {
            return false;
        };
        let bit = 1u128.checked_shl(top as u32).unwrap_or(0);
        self.object_bits & bit != 0
    }

    /// The innermost container's path level, if it is within the tracked depth.
    fn top_level_mut(&mut self) -> Option<&mut Level> {
        let top = self.nesting.checked_sub(1)?;
        self.levels.get_mut(top)
    }

    fn string_byte<V: Visitor + ?Sized>(
        &mut self,
        is_key: bool,
        esc: Esc,
        b: u8,
        v: &mut V,
    ) -> Result<(), ErrorKind> {
        let next = match esc {
            Esc::None => match b {
                b'"' => {
                    if is_key {
                        self.state = State::Colon;
                    } else {
                        self.emit_text(v);
                        self.value_done();
                    }
                    return Ok(());
                }
                b'\\' => Esc::Backslash,
                0x00..=0x1F => return Err(ErrorKind::ControlCharacterInString),
                0x20..=0x7F => {
                    // One ASCII character: a `str` without a UTF-8 check (most of a response's
                    // bytes take this path, one call each).
                    let mut buf = [0u8; 4];
                    self.push_text(is_key, char::from(b).encode_utf8(&mut buf), v);
                    Esc::None
                }
                _ => {
                    let (left, lo, hi) = utf8_lead(b).ok_or(ErrorKind::InvalidUtf8)?;
                    Esc::Utf8 {
                        left,
                        lo,
                        hi,
                        buf: [b, 0, 0, 0],
                        len: 1,
                    }
                }
            },
            Esc::Utf8 {
                left,
                lo,
                hi,
                mut buf,
                len,
            } => {
                if b < lo || b > hi {
                    return Err(ErrorKind::InvalidUtf8);
                }
                if let Some(slot) = buf.get_mut(usize::from(len)) {
                    *slot = b;
                }
                let len = len.saturating_add(1);
                if left <= 1 {
                    // The lead and continuation ranges above admit only valid sequences.
                    let piece = core::str::from_utf8(buf.get(..usize::from(len)).unwrap_or(&[]))
                        .map_err(|_| ErrorKind::InvalidUtf8)?;
                    self.push_text(is_key, piece, v);
                    Esc::None
                } else {
                    Esc::Utf8 {
                        left: left - 1,
                        lo: 0x80,
                        hi: 0xBF,
                        buf,
                        len,
                    }
                }
            }
            Esc::Backslash => {
                let decoded = match b {
                    b'"' => b'"',
                    b'\\' => b'\\',
                    b'/' => b'/',
                    b'b' => 0x08,
                    b'f' => 0x0C,
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'u' => {
                        self.state = State::Str {
                            is_key,
                            esc: Esc::Hex {
                                digits: 0,
                                unit: 0,
                                high: None,
                            },
                        };
                        return Ok(());
                    }
                    _ => return Err(ErrorKind::InvalidEscape),
                };
                let mut buf = [0u8; 4];
                self.push_text(is_key, char::from(decoded).encode_utf8(&mut buf), v);
                Esc::None
            }
            Esc::Hex { digits, unit, high } => {
                let unit = (unit << 4) | hex_value(b).ok_or(ErrorKind::InvalidUnicodeEscape)?;
                if digits < 3 {
                    Esc::Hex {
                        digits: digits + 1,
                        unit,
                        high,
                    }
                } else {
                    match (high, unit) {
                        (Some(high), 0xDC00..=0xDFFF) => {
                            let code = 0x10000
                                + ((u32::from(high) - 0xD800) << 10)
                                + (u32::from(unit) - 0xDC00);
                            self.push_char(is_key, code, v)?;
                            Esc::None
                        }
                        (Some(_), _) | (None, 0xDC00..=0xDFFF) => {
                            return Err(ErrorKind::LoneSurrogate)
                        }
                        (None, 0xD800..=0xDBFF) => Esc::LowBackslash(unit),
                        (None, _) => {
                            self.push_char(is_key, u32::from(unit), v)?;
                            Esc::None
                        }
                    }
                }
            }
            Esc::LowBackslash(high) if b == b'\\' => Esc::LowU(high),
            Esc::LowU(high) if b == b'u' => Esc::Hex {
                digits: 0,
                unit: 0,
                high: Some(high),
            },
            Esc::LowBackslash(_) | Esc::LowU(_) => return Err(ErrorKind::LoneSurrogate),
        };
        self.state = State::Str { is_key, esc: next };
        Ok(())
    }

    fn push_char<V: Visitor + ?Sized>(
        &mut self,
        is_key: bool,
        code: u32,
        v: &mut V,
    ) -> Result<(), ErrorKind> {
        let c = char::from_u32(code).ok_or(ErrorKind::LoneSurrogate)?;
        let mut buf = [0u8; 4];
        self.push_text(is_key, c.encode_utf8(&mut buf), v);
        Ok(())
    }

    /// Stores one whole decoded character of a key or string value, if its path is tracked,
    /// and hands a value's character to [`Visitor::text_piece`].
    fn push_text<V: Visitor + ?Sized>(&mut self, is_key: bool, piece: &str, v: &mut V) {
        if is_key {
            if let Some(level) = self.top_level_mut() {
                level.push_key(piece.as_bytes());
            }
        } else {
            self.push_value_bytes(piece.as_bytes());
            if let Some(levels) = self.levels.get(..self.nesting) {
                v.text_piece(&Path { levels }, piece);
            }
        }
    }

    /// Appends to the scratch, all or nothing, so it always ends on a character boundary. Values
    /// too deep to be reported are not stored at all.
    fn push_value_bytes(&mut self, bytes: &[u8]) {
        if self.scratch_truncated || self.nesting > MAX_PATH_DEPTH {
            return;
        }
        if let [b] = bytes {
            // The common case, without a `memcpy` call for one byte.
            match self.scratch.get_mut(self.scratch_len) {
                Some(slot) => {
                    *slot = *b;
                    self.scratch_len += 1;
                }
                None => self.scratch_truncated = true,
            }
            return;
        }
        let end = self.scratch_len.saturating_add(bytes.len());
        match self.scratch.get_mut(self.scratch_len..end) {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                self.scratch_len = end;
            }
            None => self.scratch_truncated = true,
        }
    }

    fn clear_scratch(&mut self) {
        self.scratch_len = 0;
        self.scratch_truncated = false;
    }

    fn scratch_str(&self) -> &str {
        // Only whole characters (strings) or ASCII (numbers) are ever stored.
        self.scratch
            .get(..self.scratch_len)
            .and_then(|b| core::str::from_utf8(b).ok())
            .unwrap_or("")
    }

    fn emit<V: Visitor + ?Sized>(&self, v: &mut V, value: Scalar<'_>) {
        // `get` fails exactly when the value is deeper than the tracked path.
        if let Some(levels) = self.levels.get(..self.nesting) {
            v.value(&Path { levels }, value);
        }
    }

    fn emit_text<V: Visitor + ?Sized>(&self, v: &mut V) {
        let text = Text {
            value: self.scratch_str(),
            truncated: self.scratch_truncated,
        };
        self.emit(v, Scalar::Str(text));
    }

    fn emit_number<V: Visitor + ?Sized>(&self, v: &mut V) {
        let number = Number {
            raw: self.scratch_str(),
            truncated: self.scratch_truncated,
        };
        self.emit(v, Scalar::Number(number));
    }
}

/// Runs `visitor` over a complete in-memory body (tests, small bodies): feed plus finish.
pub fn extract<V: Visitor + ?Sized>(body: &[u8], visitor: &mut V) -> Result<(), ExtractError> {
    let mut extractor: Extractor = Extractor::new();
    extractor.feed(body, visitor)?;
    extractor.finish(visitor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::{String, ToString};
    use std::vec::Vec;
    use std::{format, vec};

    /// Every reported value as `path = value`, in order.
    #[derive(Default)]
    struct Log(Vec<String>);

    impl Visitor for Log {
        fn value(&mut self, path: &Path<'_>, value: Scalar<'_>) {
            let v = match value {
                Scalar::Null => "null".to_string(),
                Scalar::Bool(b) => b.to_string(),
                Scalar::Number(n) => {
                    format!("#{}{}", n.raw(), if n.is_truncated() { "…" } else { "" })
                }
                Scalar::Str(t) => format!("{:?}{}", t.value, if t.truncated { "…" } else { "" }),
            };
            self.0.push(format!("{path:?} = {v}"));
        }
    }

    fn log(doc: &[u8]) -> Result<Vec<String>, ExtractError> {
        let mut l = Log::default();
        extract(doc, &mut l).map(|()| l.0)
    }

    fn log_bytewise(doc: &[u8]) -> Result<Vec<String>, ExtractError> {
        let mut l = Log::default();
        let mut ex: Extractor = Extractor::new();
        for b in doc {
            ex.feed(core::slice::from_ref(b), &mut l)?;
        }
        ex.finish(&mut l).map(|()| l.0)
    }

    fn err(doc: &[u8]) -> (u64, ErrorKind) {
        let e = log(doc).unwrap_err();
        assert_eq!(log_bytewise(doc).unwrap_err(), e, "bytewise differs");
        (e.offset, e.kind)
    }

    #[test]
    fn reports_scalars_with_paths() {
        let doc = br#" {"a":{"b":[1,-2.5e3,{"c":true}],"d":null},"e":"x\"y","":false} "#;
        let expected = vec![
            r#"$["a"]["b"][0] = #1"#,
            r#"$["a"]["b"][1] = #-2.5e3"#,
            r#"$["a"]["b"][2]["c"] = true"#,
            r#"$["a"]["d"] = null"#,
            r#"$["e"] = "x\"y""#,
            r#"$[""] = false"#,
        ];
        assert_eq!(log(doc).unwrap(), expected);
        assert_eq!(log_bytewise(doc).unwrap(), expected);
    }

    #[test]
    fn string_values_arrive_piecewise_whole_past_the_scratch_and_keys_do_not() {
        struct Pieces(std::string::String, std::vec::Vec<std::string::String>);
        impl Visitor for Pieces {
            fn value(&mut self, _: &Path<'_>, _: Scalar<'_>) {}
            fn text_piece(&mut self, path: &Path<'_>, piece: &str) {
                self.0.push_str(piece);
                self.1.push(std::format!("{path:?}"));
            }
        }
        let long = "x".repeat(300);
        let body = std::format!(r#"{{"k\u00e9y":"a\n\"\u00e9\ud83d\ude00é","n":1,"l":"{long}"}}"#);
        for chunk in [1, 3, 1000] {
            let mut p = Pieces(std::string::String::new(), std::vec::Vec::new());
            let mut x: Extractor<16> = Extractor::new();
            for c in body.as_bytes().chunks(chunk) {
                x.feed(c, &mut p).unwrap();
            }
            x.finish(&mut p).unwrap();
            assert_eq!(p.0, std::format!("a\n\"é😀é{long}"));
            assert_eq!(p.1[0], "$[\"kéy\"]");
            assert!(p.1.iter().all(|path| path != "$[\"n\"]"));
        }
    }

    #[test]
    fn top_level_scalars_have_the_empty_path() {
        assert_eq!(log(b"42").unwrap(), vec!["$ = #42"]);
        assert_eq!(log(b" 0 \n").unwrap(), vec!["$ = #0"]);
        assert_eq!(log(b"\"s\"").unwrap(), vec!["$ = \"s\""]);
        assert_eq!(log(b"null").unwrap(), vec!["$ = null"]);
        assert_eq!(log(b"[]").unwrap(), Vec::<String>::new());
        assert_eq!(log(b"{}").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn decodes_escapes_and_surrogate_pairs() {
        let doc = br#"["\u0041\u00e9\u20AC\uD83D\uDE00\/\b\f\n\r\t\\\u0000", "\u00e9"]"#;
        assert_eq!(
            log_bytewise(doc).unwrap(),
            vec![
                "$[0] = \"Aé€😀/\\u{8}\\u{c}\\n\\r\\t\\\\\\0\"",
                "$[1] = \"é\""
            ]
        );
        // Raw UTF-8 of every length passes through.
        assert_eq!(
            log_bytewise("[\"é€😀\"]".as_bytes()).unwrap(),
            vec!["$[0] = \"é€😀\""]
        );
    }

    #[test]
    fn escaped_keys_are_matched_decoded() {
        let doc = br#"{"k:{\"type\":\"Ready\"}":{"\u0066:x":1}}"#;
        let mut hit = false;
        extract(
            doc,
            &mut VisitFn(|p: &Path<'_>, _v: Scalar<'_>| {
                hit |= p.is(&["k:{\"type\":\"Ready\"}", "f:x"]);
            }),
        )
        .unwrap();
        assert!(hit);
    }

    #[test]
    fn rejects_malformed_documents_with_offsets() {
        use ErrorKind::*;
        let cases: &[(&[u8], u64, ErrorKind)] = &[
            (b"Too many requests", 0, UnexpectedByte(b'T')),
            (b"", 0, UnexpectedEnd),
            (b"  \n", 3, UnexpectedEnd),
            (b"{\"a\":1", 6, UnexpectedEnd),
            (b"{\"a\":1}}", 7, TrailingData),
            (b"{\"a\":1} x", 8, TrailingData),
            (b"[1,]", 3, UnexpectedByte(b']')),
            (b"{\"a\":1,}", 7, UnexpectedByte(b'}')),
            (b"[1}", 2, MismatchedBracket),
            (b"{\"a\":1]", 6, MismatchedBracket),
            (b"{\"a\" 1}", 5, UnexpectedByte(b'1')),
            (b"{a:1}", 1, UnexpectedByte(b'a')),
            (b"[01]", 2, LeadingZero),
            (b"-01", 2, LeadingZero),
            (b"[-]", 2, InvalidNumber),
            (b"[1.]", 3, InvalidNumber),
            (b"[1e]", 3, InvalidNumber),
            (b"[.5]", 1, UnexpectedByte(b'.')),
            (b"[+1]", 1, UnexpectedByte(b'+')),
            (b"1.5.3", 3, TrailingData),
            (b"1e+5e3", 4, TrailingData),
            (b"[1e5.3]", 4, UnexpectedByte(b'.')),
            (b"[1.5e-]", 6, InvalidNumber),
            (b"\"\t\"", 1, ControlCharacterInString),
            (b"\"\x1f\"", 1, ControlCharacterInString),
            (b"-", 1, UnexpectedEnd),
            (b"1e+", 3, UnexpectedEnd),
            (b"[tru]", 4, InvalidLiteral),
            (b"nul", 3, UnexpectedEnd),
            (b"[True]", 1, UnexpectedByte(b'T')),
            (b"\"a\nb\"", 2, ControlCharacterInString),
            (b"\"\\x\"", 2, InvalidEscape),
            (b"\"\\u12G4\"", 5, InvalidUnicodeEscape),
            (b"\"\\uD800\"", 7, LoneSurrogate),
            (b"\"\\uD800\\n\"", 8, LoneSurrogate),
            (b"\"\\uD800\\u0041\"", 12, LoneSurrogate),
            (b"\"\\uDC00\"", 6, LoneSurrogate),
            (b"\"\xff\"", 1, InvalidUtf8),
            (b"\"\xc0\xaf\"", 1, InvalidUtf8),     // overlong '/'
            (b"\"\xe0\x80\xaf\"", 2, InvalidUtf8), // overlong
            (b"\"\xed\xa0\x80\"", 2, InvalidUtf8), // encoded surrogate
            (b"\"\xf4\x90\x80\x80\"", 2, InvalidUtf8), // > U+10FFFF
            (b"\"\xe2\x82\"", 3, InvalidUtf8),     // cut by the closing quote
            (b"\xef\xbb\xbf{}", 0, UnexpectedByte(0xEF)), // BOM
            (b"\"abc", 4, UnexpectedEnd),
            (b"[\"a\" \"b\"]", 5, UnexpectedByte(b'"')),
        ];
        for &(doc, offset, kind) in cases {
            assert_eq!(
                err(doc),
                (offset, kind),
                "{:?}",
                String::from_utf8_lossy(doc)
            );
        }
    }

    #[test]
    fn stays_failed_after_an_error() {
        let mut ex: Extractor = Extractor::new();
        let mut l = Log::default();
        let e = ex.feed(b"[1,,", &mut l).unwrap_err();
        assert_eq!(ex.feed(b"2]", &mut l), Err(e));
        assert_eq!(ex.finish(&mut l), Err(e));
        ex.reset();
        ex.feed(b"[2]", &mut l).unwrap();
        ex.finish(&mut l).unwrap();
        assert_eq!(l.0, vec!["$[0] = #1", "$[0] = #2"]);
    }

    #[test]
    fn long_values_are_cut_on_a_char_boundary_and_flagged() {
        // 3 bytes of room: "aé" (3 bytes) fits, "€" (3 more) does not; the rest is still checked.
        let mut l = Log::default();
        let mut ex: Extractor<3> = Extractor::new();
        ex.feed("[\"aé€x\",\"ab\",12345,123]".as_bytes(), &mut l)
            .unwrap();
        ex.finish(&mut l).unwrap();
        assert_eq!(
            l.0,
            vec![
                "$[0] = \"aé\"…",
                "$[1] = \"ab\"",
                "$[2] = #123…",
                "$[3] = #123"
            ]
        );
        let mut ex: Extractor<3> = Extractor::new();
        assert_eq!(
            ex.feed(b"[\"abcdef\xff\"]", &mut l).unwrap_err().kind,
            ErrorKind::InvalidUtf8
        );
    }

    #[test]
    fn truncated_numbers_give_no_integer() {
        let n = Number {
            raw: "123",
            truncated: true,
        };
        assert_eq!(n.as_u64(), None);
        let n = Number {
            raw: "40",
            truncated: false,
        };
        assert_eq!((n.as_u64(), n.as_i64()), (Some(40), Some(40)));
        let n = Number {
            raw: "-4",
            truncated: false,
        };
        assert_eq!((n.as_u64(), n.as_i64()), (None, Some(-4)));
        let n = Number {
            raw: "1e3",
            truncated: false,
        };
        assert_eq!(n.as_u64(), None);
        let n = Number {
            raw: "18446744073709551616",
            truncated: false,
        };
        assert_eq!(n.as_u64(), None);
    }

    fn nested(depth: usize, leaf: &str) -> String {
        let mut s = String::new();
        for i in 0..depth {
            s.push_str(if i % 2 == 0 { "{\"k\":" } else { "[" });
        }
        s.push_str(leaf);
        for i in (0..depth).rev() {
            s.push(if i % 2 == 0 { '}' } else { ']' });
        }
        s
    }

    #[test]
    fn values_deeper_than_the_path_limit_are_validated_but_not_reported() {
        let at_limit = nested(MAX_PATH_DEPTH, "\"v\"");
        assert_eq!(log(at_limit.as_bytes()).unwrap().len(), 1);
        let too_deep = nested(MAX_PATH_DEPTH + 1, "\"v\"");
        assert_eq!(log(too_deep.as_bytes()).unwrap(), Vec::<String>::new());
        let broken = nested(MAX_PATH_DEPTH + 5, "\"\\q\"");
        assert_eq!(err(broken.as_bytes()).1, ErrorKind::InvalidEscape);
        // Mismatched brackets are caught beyond the tracked depth too.
        let mut s = nested(MAX_PATH_DEPTH + 20, "1");
        let pos = s.find(']').unwrap();
        s.replace_range(pos..=pos, "}");
        assert_eq!(err(s.as_bytes()).1, ErrorKind::MismatchedBracket);
        // And a shallow value after a deep subtree gets its path back.
        let doc = format!("[{},\"after\"]", nested(40, "2"));
        assert_eq!(log(doc.as_bytes()).unwrap(), vec!["$[1] = \"after\""]);
    }

    #[test]
    fn nesting_beyond_the_limit_is_an_error() {
        let ok = nested(MAX_NESTING, "1");
        assert!(log(ok.as_bytes()).is_ok());
        let deep = "[".repeat(MAX_NESTING + 1);
        assert_eq!(
            err(deep.as_bytes()),
            (MAX_NESTING as u64, ErrorKind::NestingTooDeep)
        );
    }

    #[test]
    fn overlong_keys_match_nothing() {
        let long = "k".repeat(MAX_KEY_LEN + 1);
        let exact = "k".repeat(MAX_KEY_LEN);
        let doc = format!("{{\"{long}\":{{\"x\":1}},\"{exact}\":2}}");
        let mut seen = Vec::new();
        extract(
            doc.as_bytes(),
            &mut VisitFn(|p: &Path<'_>, _v: Scalar<'_>| {
                seen.push((
                    p.segment(0).map(|s| format!("{s:?}")),
                    p.matches(&[Step::AnyKey, Step::Key("x")]),
                    p.is(&[&exact]),
                ));
            }),
        )
        .unwrap();
        assert_eq!(
            seen,
            vec![
                (Some("OverlongKey".to_string()), false, false),
                (Some(format!("Key({exact:?})")), false, true)
            ]
        );
    }

    #[test]
    fn patterns_match_keys_indexes_and_wildcards() {
        let doc = br#"{"status":{"conditions":[{"type":"A"},{"type":"B"}]}}"#;
        let mut types = Vec::new();
        extract(
            doc,
            &mut VisitFn(|p: &Path<'_>, v: Scalar<'_>| {
                use Step::*;
                if p.matches(&[Key("status"), Key("conditions"), AnyIndex, Key("type")]) {
                    types.push((p.index(2), v.text().map(|t| t.value.to_string())));
                }
                assert!(!p.matches(&[Key("status"), Key("conditions"), AnyKey, Key("type")]));
                assert!(p.starts_with(&[Key("status"), AnyKey]));
                assert!(!p.starts_with(&[Key("status"), AnyIndex]));
                assert_eq!(p.key(0), Some("status"));
                assert_eq!(p.key(2), None);
            }),
        )
        .unwrap();
        assert_eq!(
            types,
            vec![
                (Some(0), Some("A".to_string())),
                (Some(1), Some("B".to_string()))
            ]
        );
    }

    #[test]
    fn a_pair_of_borrowed_visitors_sees_every_value() {
        let (mut a, mut b) = (Log::default(), Log::default());
        extract(br#"{"x":[1]}"#, &mut (&mut a, &mut b)).unwrap();
        assert_eq!(a.0, vec![r#"$["x"][0] = #1"#]);
        assert_eq!(a.0, b.0);
    }

    #[test]
    fn array_indexes_count_elements_of_any_kind() {
        assert_eq!(
            log(b"[[],{},[[1]],\"x\",[null,2]]").unwrap(),
            vec![
                "$[2][0][0] = #1",
                "$[3] = \"x\"",
                "$[4][0] = null",
                "$[4][1] = #2"
            ]
        );
    }

    #[test]
    fn a_megabyte_string_is_streamed_in_constant_memory() {
        let mut doc = Vec::from(&b"{\"big\":\""[..]);
        doc.extend(core::iter::repeat_n(b'x', 1 << 20));
        doc.extend_from_slice(b"\",\"after\":7}");
        let mut l = Log::default();
        let mut ex: Extractor = Extractor::new();
        for chunk in doc.chunks(1000) {
            ex.feed(chunk, &mut l).unwrap();
        }
        ex.finish(&mut l).unwrap();
        assert_eq!(l.0.len(), 2);
        assert!(l.0[0].ends_with("\"…"));
        assert_eq!(l.0[1], "$[\"after\"] = #7");
        assert!(
            core::mem::size_of::<Extractor>() < 1300,
            "{}",
            core::mem::size_of::<Extractor>()
        );
    }
}
