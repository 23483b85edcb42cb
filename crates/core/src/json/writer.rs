//! A JSON writer into a caller-owned byte buffer: no allocation, no panics.
//!
//! The writer places commas itself (a small stack of "is object" / "has items" bits, one per
//! nesting level, at most [`MAX_DEPTH`] deep) and escapes strings as RFC 8259 requires. Errors are
//! sticky: after the first one every later call is a no-op, so a body builder can write its whole
//! document and look at the outcome once, in [`JsonWriter::finish`].
//!
//! When the buffer is too small the writer keeps counting what it would have written, so
//! [`JsonError::BufferFull`] reports the exact size the document needs. Nothing is ever written
//! past the end of the buffer, and the writer never writes half a token.
//!
//! ```
//! use picokubelet_core::json::writer::JsonWriter;
//! let mut buf = [0u8; 64];
//! let mut w = JsonWriter::new(&mut buf);
//! w.begin_object();
//! w.field_str("name", "esp \"one\"");
//! w.field_u64("port", 10250);
//! w.end_object();
//! let n = w.finish().unwrap();
//! assert_eq!(&buf[..n], br#"{"name":"esp \"one\"","port":10250}"#);
//! ```
use core::fmt;

/// Deepest nesting the writer accepts. Our deepest body (a Node) nests 5 levels.
pub const MAX_DEPTH: usize = 16;

/// Why a document could not be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonError {
    /// The buffer is too small; `needed` is the full length of the document as far as it was
    /// written (its exact size when the rest of the document was well-formed).
    BufferFull { needed: usize },
    /// `finish` found open objects/arrays, no value at all, or an `end_*` closed the wrong
    /// kind of container (or none).
    Unbalanced,
    /// More than [`MAX_DEPTH`] containers were open at once.
    TooDeep,
    /// A key outside an object, a value inside an object without a key, two keys in a row, or a
    /// second top-level value.
    Misplaced,
    /// A `Display` implementation used by [`JsonWriter::string_fmt`] returned an error.
    Format,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonError::BufferFull { needed } => {
                write!(
                    f,
                    "JSON buffer too small: the document needs {needed} bytes"
                )
            }
            JsonError::Unbalanced => f.write_str("JSON objects/arrays are not balanced"),
            JsonError::TooDeep => write!(f, "JSON nests deeper than {MAX_DEPTH} levels"),
            JsonError::Misplaced => f.write_str("JSON key or value in the wrong place"),
            JsonError::Format => f.write_str("a formatter failed while writing a JSON string"),
        }
    }
}

/// Length of `s` once escaped as the body of a JSON string (without the quotes).
pub fn escaped_len(s: &str) -> usize {
    s.bytes()
        .map(|b| match escape_of(b) {
            Escape::None => 1,
            Escape::Short(_) => 2,
            Escape::Unicode => 6,
        })
        .fold(0usize, usize::saturating_add)
}

enum Escape {
    None,
    Short(u8),
    Unicode,
}

/// RFC 8259 §7: `"`, `\` and U+0000..U+001F must be escaped; every other UTF-8 sequence
/// (including DEL, U+2028 and U+2029) may pass through unchanged.
const fn escape_of(b: u8) -> Escape {
    match b {
        b'"' => Escape::Short(b'"'),
        b'\\' => Escape::Short(b'\\'),
        b'\n' => Escape::Short(b'n'),
        b'\r' => Escape::Short(b'r'),
        b'\t' => Escape::Short(b't'),
        0x08 => Escape::Short(b'b'),
        0x0c => Escape::Short(b'f'),
        0x00..=0x1f => Escape::Unicode,
        _ => Escape::None,
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Writes one JSON document into a borrowed buffer. See the module documentation.
pub struct JsonWriter<'a> {
    buf: &'a mut [u8],
    /// Bytes the document has so far; may exceed `buf.len()` once the buffer overflowed.
    len: usize,
    /// Open containers.
    depth: usize,
    /// Bit `i`: the container at depth `i + 1` is an object (else an array).
    is_object: u16,
    /// Bit `i`: the container at depth `i + 1` already holds an element (a comma is due).
    has_items: u16,
    /// A key was written; its value is due.
    after_key: bool,
    /// A complete top-level value was written.
    top_done: bool,
    /// First structural error; `BufferFull` is derived from `len` instead.
    error: Option<JsonError>,
}

impl<'a> JsonWriter<'a> {
    /// A writer that fills `buf` from its start.
    pub fn new(buf: &'a mut [u8]) -> Self {
        JsonWriter {
            buf,
            len: 0,
            depth: 0,
            is_object: 0,
            has_items: 0,
            after_key: false,
            top_done: false,
            error: None,
        }
    }

    /// The document's length if it is complete and fit, else the first error. A structural error
    /// is reported before `BufferFull`: a larger buffer would not fix it.
    pub fn finish(self) -> Result<usize, JsonError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.depth != 0 || self.after_key || !self.top_done {
            return Err(JsonError::Unbalanced);
        }
        if self.len > self.buf.len() {
            return Err(JsonError::BufferFull { needed: self.len });
        }
        Ok(self.len)
    }

    /// Bytes the document has so far (counting those that did not fit).
    pub fn len(&self) -> usize {
        self.len
    }

    /// True before anything was written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Opens an object (as a value: after a key, in an array, or at the top).
    pub fn begin_object(&mut self) {
        self.begin(true, b'{');
    }

    /// Closes the innermost object.
    pub fn end_object(&mut self) {
        self.end(true, b'}');
    }

    /// Opens an array.
    pub fn begin_array(&mut self) {
        self.begin(false, b'[');
    }

    /// Closes the innermost array.
    pub fn end_array(&mut self) {
        self.end(false, b']');
    }

    /// Writes an object key; the next call must write its value.
    pub fn key(&mut self, key: &str) {
        if self.error.is_some() {
            return;
        }
        if self.depth == 0 || !self.top_is_object() || self.after_key {
            self.fail(JsonError::Misplaced);
            return;
        }
        self.comma_if_due();
        self.push(b"\"");
        self.push_escaped(key);
        self.push(b"\":");
        self.after_key = true;
    }

    /// Writes a string value, escaped.
    pub fn string(&mut self, value: &str) {
        if self.value_start() {
            self.push(b"\"");
            self.push_escaped(value);
            self.push(b"\"");
        }
    }

    /// Writes a string value produced by `format_args!`, escaped while it is formatted (no
    /// intermediate buffer).
    pub fn string_fmt(&mut self, args: fmt::Arguments<'_>) {
        if self.value_start() {
            self.push(b"\"");
            if fmt::write(&mut EscapingAdapter { w: self }, args).is_err() {
                self.fail(JsonError::Format);
                return;
            }
            self.push(b"\"");
        }
    }

    /// Writes an unsigned integer.
    pub fn u64(&mut self, value: u64) {
        if self.value_start() {
            self.push_u64(value);
        }
    }

    /// Writes a signed integer.
    pub fn i64(&mut self, value: i64) {
        if self.value_start() {
            if value < 0 {
                self.push(b"-");
            }
            self.push_u64(value.unsigned_abs());
        }
    }

    /// Writes `true` or `false`.
    pub fn bool(&mut self, value: bool) {
        if self.value_start() {
            self.push(if value { b"true" } else { b"false" });
        }
    }

    /// Writes `null`.
    pub fn null(&mut self) {
        if self.value_start() {
            self.push(b"null");
        }
    }

    /// `"key":"value"`.
    pub fn field_str(&mut self, key: &str, value: &str) {
        self.key(key);
        self.string(value);
    }

    /// `"key":"…"` with the value formatted from `args`.
    pub fn field_fmt(&mut self, key: &str, args: fmt::Arguments<'_>) {
        self.key(key);
        self.string_fmt(args);
    }

    /// `"key":123`.
    pub fn field_u64(&mut self, key: &str, value: u64) {
        self.key(key);
        self.u64(value);
    }

    /// `"key":{` — close it with [`JsonWriter::end_object`].
    pub fn field_object(&mut self, key: &str) {
        self.key(key);
        self.begin_object();
    }

    /// `"key":[` — close it with [`JsonWriter::end_array`].
    pub fn field_array(&mut self, key: &str) {
        self.key(key);
        self.begin_array();
    }

    fn top_bit(&self) -> u16 {
        // depth >= 1 whenever this is called; depth <= MAX_DEPTH = 16 keeps the shift in range.
        1u16.checked_shl(self.depth.saturating_sub(1) as u32)
            .unwrap_or(0)
    }

    fn top_is_object(&self) -> bool {
        self.is_object & self.top_bit() != 0
    }

    /// Checks that a value may start here and writes the comma before it if one is due.
    fn value_start(&mut self) -> bool {
        if self.error.is_some() {
            return false;
        }
        if self.depth == 0 {
            if self.top_done {
                self.fail(JsonError::Misplaced);
                return false;
            }
            self.top_done = true;
            return true;
        }
        if self.top_is_object() {
            if !self.after_key {
                self.fail(JsonError::Misplaced);
                return false;
            }
            self.after_key = false;
        } else {
            self.comma_if_due();
        }
        true
    }

    /// In the innermost container: a comma if it already has an element; then marks it non-empty.
    fn comma_if_due(&mut self) {
        let bit = self.top_bit();
        if self.has_items & bit != 0 {
            self.push(b",");
        }
        self.has_items |= bit;
    }

    fn begin(&mut self, object: bool, open: u8) {
        if !self.value_start() {
            return;
        }
        if self.depth >= MAX_DEPTH {
            self.fail(JsonError::TooDeep);
            return;
        }
        self.depth += 1;
        let bit = self.top_bit();
        if object {
            self.is_object |= bit;
        } else {
            self.is_object &= !bit;
        }
        self.has_items &= !bit;
        self.push(&[open]);
    }

    fn end(&mut self, object: bool, close: u8) {
        if self.error.is_some() {
            return;
        }
        if self.depth == 0 || self.top_is_object() != object || self.after_key {
            self.fail(JsonError::Unbalanced);
            return;
        }
        self.depth -= 1;
        self.push(&[close]);
    }

    fn fail(&mut self, e: JsonError) {
        if self.error.is_none() {
            self.error = Some(e);
        }
    }

    /// Appends `bytes` whole or not at all. Once one write did not fit, `len` is past the end of
    /// the buffer, so every later write is only counted: the output never has a torn token.
    fn push(&mut self, bytes: &[u8]) {
        let start = self.len;
        let end = start.saturating_add(bytes.len());
        if let Some(dst) = self.buf.get_mut(start..end) {
            dst.copy_from_slice(bytes);
        }
        self.len = end;
    }

    fn push_escaped(&mut self, s: &str) {
        let bytes = s.as_bytes();
        let mut run_start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let esc = escape_of(b);
            if matches!(esc, Escape::None) {
                continue;
            }
            if let Some(run) = bytes.get(run_start..i) {
                self.push(run);
            }
            match esc {
                Escape::Short(c) => self.push(&[b'\\', c]),
                _ => {
                    let hi = HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0');
                    let lo = HEX.get(usize::from(b & 0xf)).copied().unwrap_or(b'0');
                    self.push(&[b'\\', b'u', b'0', b'0', hi, lo]);
                }
            }
            run_start = i + 1;
        }
        if let Some(run) = bytes.get(run_start..) {
            self.push(run);
        }
    }

    fn push_u64(&mut self, value: u64) {
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        let mut v = value;
        loop {
            at -= 1;
            if let Some(d) = digits.get_mut(at) {
                *d = b'0' + (v % 10) as u8;
            }
            v /= 10;
            if v == 0 || at == 0 {
                break;
            }
        }
        if let Some(d) = digits.get(at..) {
            self.push(d);
        }
    }
}

/// Lets `core::fmt` write straight into a JSON string, escaping as it goes.
struct EscapingAdapter<'w, 'a> {
    w: &'w mut JsonWriter<'a>,
}

impl fmt::Write for EscapingAdapter<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // Never report overflow to the formatter: the writer counts on, so BufferFull knows the
        // full size.
        self.w.push_escaped(s);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;
    use std::vec;

    fn render(f: impl Fn(&mut JsonWriter<'_>), size: usize) -> Result<String, JsonError> {
        let mut buf = vec![0u8; size];
        let mut w = JsonWriter::new(&mut buf);
        f(&mut w);
        let n = w.finish()?;
        Ok(String::from_utf8(buf[..n].to_vec()).unwrap())
    }

    #[test]
    fn commas_are_placed_between_elements_at_every_level() {
        let out = render(
            |w| {
                w.begin_object();
                w.field_array("a");
                w.u64(1);
                w.begin_object();
                w.end_object();
                w.begin_array();
                w.null();
                w.bool(true);
                w.end_array();
                w.end_array();
                w.field_str("b", "x");
                w.key("c");
                w.i64(-5);
                w.end_object();
            },
            100,
        )
        .unwrap();
        assert_eq!(out, r#"{"a":[1,{},[null,true]],"b":"x","c":-5}"#);
    }

    #[test]
    fn escapes_quotes_backslashes_and_control_characters() {
        let out = render(
            |w| w.string("a\"b\\c\n\r\t\u{8}\u{c}\u{1}\u{1f}\u{7f}é€😀"),
            100,
        )
        .unwrap();
        assert_eq!(
            out,
            "\"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u001f\u{7f}é€😀\""
        );
        assert_eq!(escaped_len("a\"\u{1}é"), 1 + 2 + 6 + 2);
    }

    #[test]
    fn formats_arguments_with_escaping() {
        let out = render(
            |w| w.string_fmt(format_args!("{}\"{:04x}", "q\n", 0xabu8)),
            32,
        )
        .unwrap();
        assert_eq!(out, r#""q\n\"00ab""#);
    }

    #[test]
    fn integer_extremes() {
        assert_eq!(
            render(|w| w.u64(u64::MAX), 32).unwrap(),
            "18446744073709551615"
        );
        assert_eq!(render(|w| w.u64(0), 32).unwrap(), "0");
        assert_eq!(
            render(|w| w.i64(i64::MIN), 32).unwrap(),
            "-9223372036854775808"
        );
        assert_eq!(
            render(|w| w.i64(i64::MAX), 32).unwrap(),
            "9223372036854775807"
        );
    }

    #[test]
    fn overflow_reports_exact_needed_size_and_never_writes_past_the_end() {
        let doc = |w: &mut JsonWriter<'_>| {
            w.begin_object();
            w.field_str("k", "value");
            w.field_u64("n", 12345);
            w.end_object();
        };
        let full = render(doc, 64).unwrap();
        for size in 0..full.len() {
            let mut buf = vec![0xAAu8; size + 8];
            let mut w = JsonWriter::new(&mut buf[..size]);
            doc(&mut w);
            assert_eq!(
                w.finish(),
                Err(JsonError::BufferFull { needed: full.len() })
            );
            assert!(buf[size..].iter().all(|&b| b == 0xAA), "wrote past {size}");
        }
    }

    #[test]
    fn structural_misuse_is_reported() {
        assert_eq!(render(|w| w.begin_object(), 8), Err(JsonError::Unbalanced));
        assert_eq!(render(|_| {}, 8), Err(JsonError::Unbalanced));
        assert_eq!(render(|w| w.end_array(), 8), Err(JsonError::Unbalanced));
        assert_eq!(
            render(
                |w| {
                    w.begin_object();
                    w.end_array();
                },
                8
            ),
            Err(JsonError::Unbalanced)
        );
        assert_eq!(
            render(
                |w| {
                    w.begin_object();
                    w.key("a");
                    w.end_object();
                },
                8
            ),
            Err(JsonError::Unbalanced)
        );
        assert_eq!(
            render(
                |w| {
                    w.begin_object();
                    w.u64(1);
                    w.end_object();
                },
                8
            ),
            Err(JsonError::Misplaced)
        );
        assert_eq!(
            render(
                |w| {
                    w.begin_array();
                    w.key("a");
                    w.end_array();
                },
                8
            ),
            Err(JsonError::Misplaced)
        );
        assert_eq!(
            render(
                |w| {
                    w.u64(1);
                    w.u64(2);
                },
                8
            ),
            Err(JsonError::Misplaced)
        );
    }

    #[test]
    fn structural_error_wins_over_buffer_full() {
        assert_eq!(
            render(
                |w| {
                    w.begin_object();
                    w.field_str("long key", "long value");
                },
                4
            ),
            Err(JsonError::Unbalanced)
        );
    }

    #[test]
    fn depth_limit() {
        let ok = render(
            |w| {
                for _ in 0..MAX_DEPTH {
                    w.begin_array();
                }
                for _ in 0..MAX_DEPTH {
                    w.end_array();
                }
            },
            64,
        );
        assert_eq!(ok.unwrap().len(), 2 * MAX_DEPTH);
        let deep = render(
            |w| {
                for _ in 0..=MAX_DEPTH {
                    w.begin_array();
                }
                for _ in 0..=MAX_DEPTH {
                    w.end_array();
                }
            },
            64,
        );
        assert_eq!(deep, Err(JsonError::TooDeep));
    }

    #[test]
    fn failing_display_is_reported() {
        struct Bad;
        impl fmt::Display for Bad {
            fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
                Err(fmt::Error)
            }
        }
        assert_eq!(
            render(|w| w.string_fmt(format_args!("{}", Bad)), 16),
            Err(JsonError::Format)
        );
    }

    mod props {
        use super::*;
        use proptest::prelude::*;
        use serde_json::Value;

        fn write_value(w: &mut JsonWriter<'_>, v: &Value) {
            match v {
                Value::Null => w.null(),
                Value::Bool(b) => w.bool(*b),
                Value::Number(n) => match (n.as_u64(), n.as_i64()) {
                    (Some(u), _) => w.u64(u),
                    (None, Some(i)) => w.i64(i),
                    _ => unreachable!("strategy makes integers only"),
                },
                Value::String(s) => w.string(s),
                Value::Array(items) => {
                    w.begin_array();
                    for item in items {
                        write_value(w, item);
                    }
                    w.end_array();
                }
                Value::Object(map) => {
                    w.begin_object();
                    for (k, item) in map {
                        w.key(k);
                        write_value(w, item);
                    }
                    w.end_object();
                }
            }
        }

        /// Short strings that favour what needs escaping, plus arbitrary Unicode.
        fn short_string() -> impl Strategy<Value = String> {
            prop_oneof![
                "[\\x00-\\x1f\"\\\\a-z]{0,6}",
                "\\PC{0,6}",
                prop::collection::vec(any::<char>(), 0..4).prop_map(|v| v.into_iter().collect()),
            ]
        }

        fn json_value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<u64>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                short_string().prop_map(Value::String),
            ];
            leaf.prop_recursive(4, 24, 4, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                    prop::collection::btree_map(short_string(), inner, 0..5)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        proptest! {
            #[test]
            fn any_string_round_trips_through_serde_json(s in any::<String>()) {
                let mut buf = vec![0u8; 2 + escaped_len(&s)];
                let mut w = JsonWriter::new(&mut buf);
                w.string(&s);
                let n = w.finish().unwrap();
                prop_assert_eq!(n, buf.len());
                let back: String = serde_json::from_slice(&buf[..n]).unwrap();
                prop_assert_eq!(back, s);
            }

            #[test]
            fn formatted_strings_match_plain_ones(s in any::<String>(), n in any::<u32>()) {
                let plain = std::format!("{s}/{n}");
                let a = render(|w| w.string(&plain), 4096).unwrap();
                let b = render(|w| w.string_fmt(format_args!("{s}/{n}")), 4096).unwrap();
                prop_assert_eq!(a, b);
            }

            #[test]
            fn any_document_round_trips_and_overflows_below_its_size(v in json_value()) {
                let mut big = vec![0u8; 1 << 16];
                let mut w = JsonWriter::new(&mut big);
                write_value(&mut w, &v);
                let n = w.finish().unwrap();
                let back: Value = serde_json::from_slice(&big[..n]).unwrap();
                prop_assert_eq!(&back, &v);
                for size in 0..n {
                    let mut buf = vec![0x55u8; n + 4];
                    let mut w = JsonWriter::new(&mut buf[..size]);
                    write_value(&mut w, &v);
                    prop_assert_eq!(w.finish(), Err(JsonError::BufferFull { needed: n }));
                    prop_assert!(buf[size..].iter().all(|&b| b == 0x55));
                    // What was written is a prefix of the document; the rest is untouched.
                    let k = (0..size).find(|&i| buf[i] != big[i]).unwrap_or(size);
                    prop_assert!(buf[k..].iter().all(|&b| b == 0x55));
                }
            }
        }
    }
}
