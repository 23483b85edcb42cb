//! Property tests of the streaming JSON extractor: chunking never changes the outcome, no input
//! panics, its verdict on (mutated) documents agrees with serde_json, and every value it reports
//! is the one serde_json sees at that path.

use picokubelet_core::json::extract::{
    extract, ExtractError, Extractor, Path, Scalar, Segment, Visitor, DEFAULT_SCRATCH, MAX_KEY_LEN,
    MAX_PATH_DEPTH,
};
use proptest::prelude::*;
use serde_json::Value;
use std::fmt::Write as _;

#[derive(Clone, Debug, PartialEq)]
enum Seg {
    Key(String),
    Index(u32),
    Overlong,
}

#[derive(Clone, Debug, PartialEq)]
enum Val {
    Null,
    Bool(bool),
    Num(String, bool),
    Str(String, bool),
}

/// Every reported value with its owned path, in document order.
#[derive(Default, Debug, PartialEq)]
struct Rec(Vec<(Vec<Seg>, Val)>);

impl Visitor for Rec {
    fn value(&mut self, path: &Path<'_>, value: Scalar<'_>) {
        let p = path
            .segments()
            .map(|s| match s {
                Segment::Key(k) => Seg::Key(k.to_string()),
                Segment::Index(i) => Seg::Index(i),
                Segment::OverlongKey => Seg::Overlong,
            })
            .collect();
        let v = match value {
            Scalar::Null => Val::Null,
            Scalar::Bool(b) => Val::Bool(b),
            Scalar::Number(n) => Val::Num(n.raw().to_string(), n.is_truncated()),
            Scalar::Str(t) => Val::Str(t.value.to_string(), t.truncated),
        };
        self.0.push((p, v));
    }
}

fn whole(doc: &[u8]) -> (Rec, Result<(), ExtractError>) {
    let mut rec = Rec::default();
    let result = extract(doc, &mut rec);
    (rec, result)
}

/// Feeds `doc` split at `cuts` (positions taken modulo the length, in any order).
fn chunked(doc: &[u8], cuts: &[usize]) -> (Rec, Result<(), ExtractError>) {
    let mut at: Vec<usize> = cuts.iter().map(|c| c % (doc.len() + 1)).collect();
    at.push(0);
    at.push(doc.len());
    at.sort_unstable();
    let mut rec = Rec::default();
    let mut ex: Extractor = Extractor::new();
    let mut result = Ok(());
    for pair in at.windows(2) {
        result = ex.feed(&doc[pair[0]..pair[1]], &mut rec);
        if result.is_err() {
            break;
        }
    }
    if result.is_ok() {
        result = ex.finish(&mut rec);
    }
    (rec, result)
}

/// A small deterministic generator for the serializer's choices.
struct Choices(u64);

impl Choices {
    fn next(&mut self, n: u64) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}

/// Serializes like any JSON writer may: random whitespace between tokens and each character
/// either raw or escaped (`\uXXXX` in either case, surrogate pairs above the BMP, short forms).
fn write_json(v: &Value, c: &mut Choices, out: &mut String) {
    fn ws(c: &mut Choices, out: &mut String) {
        for _ in 0..c.next(4).saturating_sub(2) {
            out.push([' ', '\t', '\n', '\r'][c.next(4) as usize]);
        }
    }
    fn string(s: &str, c: &mut Choices, out: &mut String) {
        out.push('"');
        for ch in s.chars() {
            let must = ch < ' ' || ch == '"' || ch == '\\';
            if !must && c.next(4) != 0 {
                out.push(ch);
                continue;
            }
            let short = match ch {
                '"' => Some("\\\""),
                '\\' => Some("\\\\"),
                '\n' => Some("\\n"),
                '\t' => Some("\\t"),
                '\r' => Some("\\r"),
                '\u{8}' => Some("\\b"),
                '\u{c}' => Some("\\f"),
                '/' => Some("\\/"),
                _ => None,
            };
            match short {
                Some(s) if c.next(2) == 0 => out.push_str(s),
                _ => {
                    let mut units = [0u16; 2];
                    for u in ch.encode_utf16(&mut units) {
                        if c.next(2) == 0 {
                            write!(out, "\\u{:04x}", u).unwrap();
                        } else {
                            write!(out, "\\u{:04X}", u).unwrap();
                        }
                    }
                }
            }
        }
        out.push('"');
    }
    ws(c, out);
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => string(s, c, out),
        Value::Array(items) => {
            out.push('[');
            ws(c, out);
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, c, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            ws(c, out);
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                ws(c, out);
                string(k, c, out);
                ws(c, out);
                out.push(':');
                write_json(item, c, out);
            }
            out.push('}');
        }
    }
    ws(c, out);
}

/// What the extractor must report for `v`: every scalar at depth ≤ MAX_PATH_DEPTH, in order,
/// long keys as `Overlong`, long strings cut to the scratch on a char boundary.
fn expected(v: &Value, path: &mut Vec<Seg>, out: &mut Vec<(Vec<Seg>, Val)>) {
    let scalar = match v {
        Value::Null => Val::Null,
        Value::Bool(b) => Val::Bool(*b),
        Value::Number(n) => Val::Num(n.to_string(), false),
        Value::String(s) => {
            let mut end = s.len().min(DEFAULT_SCRATCH);
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            Val::Str(s[..end].to_string(), end < s.len())
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(Seg::Index(i as u32));
                expected(item, path, out);
                path.pop();
            }
            return;
        }
        Value::Object(map) => {
            for (k, item) in map {
                path.push(if k.len() > MAX_KEY_LEN {
                    Seg::Overlong
                } else {
                    Seg::Key(k.clone())
                });
                expected(item, path, out);
                path.pop();
            }
            return;
        }
    };
    if path.len() <= MAX_PATH_DEPTH {
        out.push((path.clone(), scalar));
    }
}

fn arb_string() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z0-9./:_-]{0,12}",
        2 => any::<String>(),
        1 => "[\\x00-\\x7f]{0,8}",
        1 => "[é€😀\"\\\\/]{0,6}",
        1 => "[a-z]{60,70}",
        1 => "[é€😀x]{80,140}",
    ]
}

fn arb_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        (-1000i32..1000, -30i32..30).prop_map(|(m, e)| Value::from(m as f64 * 10f64.powi(e))),
        arb_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(16, 96, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((arb_string(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn arb_document() -> impl Strategy<Value = (Value, String)> {
    (arb_value(), any::<u64>()).prop_map(|(v, seed)| {
        let mut text = String::new();
        write_json(&v, &mut Choices(seed | 1), &mut text);
        (v, text)
    })
}

/// A byte that, inserted or substituted, is likely to break (or subtly change) JSON.
fn arb_poison() -> impl Strategy<Value = u8> {
    prop_oneof![
        prop::sample::select(
            &b"{}[],:\"\\u0123456789eE.-+tfnl \t\r\n\x00\x1f\x7f\x80\xbf\xc0\xc3\xe2\xed\xf0\xf4\xf5\xff"[..]
        ),
        any::<u8>(),
    ]
}

#[derive(Clone, Debug)]
enum Mutation {
    Insert(usize, u8),
    Replace(usize, u8),
    Delete(usize),
    Truncate(usize),
}

fn arb_mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), arb_poison()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<usize>(), arb_poison()).prop_map(|(i, b)| Mutation::Replace(i, b)),
        any::<usize>().prop_map(Mutation::Delete),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(doc: &mut Vec<u8>, m: &Mutation) {
    let n = doc.len();
    match *m {
        Mutation::Insert(i, b) => doc.insert(i % (n + 1), b),
        Mutation::Replace(i, b) if n > 0 => doc[i % n] = b,
        Mutation::Delete(i) if n > 0 => {
            doc.remove(i % n);
        }
        Mutation::Truncate(i) => doc.truncate(i % (n + 1)),
        _ => {}
    }
}

/// String content that is always valid.
const PLAIN_PIECES: &[&[u8]] = &[
    b"a",
    b" ",
    b"\\n",
    b"\\/",
    b"\\\"",
    b"\\\\",
    b"\\u00e9",
    b"\xc3\xa9",
    b"\xe2\x82\xac",
    b"\xf0\x9f\x98\x80",
];

/// String content on both sides of the rules: escapes (paired, lone and broken surrogates, bad
/// hex), UTF-8 boundaries of every length, overlong forms, encoded surrogates, code points past
/// U+10FFFF, control bytes.
const TRICKY_PIECES: &[&[u8]] = &[
    b"\\x",
    b"\\",
    b"\\U00e9",
    b"\\u00E9",
    b"\\u0000",
    b"\\uD83D\\uDE00",
    b"\\ud83d\\ude00",
    b"\\uD800",
    b"\\uDC00",
    b"\\uDBFF\\uDFFF",
    b"\\uD83D\\u0041",
    b"\\uD800\\uD800",
    b"\\uDBFF\\uE000",
    b"\\uD83D\\n",
    b"\\u12",
    b"\\u12G4",
    b"\xc3",
    b"\xe2\x82",
    b"\xed\x9f\xbf",
    b"\xed\xa0\x80",
    b"\xee\x80\x80",
    b"\xf4\x8f\xbf\xbf",
    b"\xf4\x90\x80\x80",
    b"\xf5\x80\x80\x80",
    b"\xc0\xaf",
    b"\xc1\xbf",
    b"\xc2\x80",
    b"\xe0\x80\xaf",
    b"\xe0\xa0\x80",
    b"\xf0\x80\x80\x80",
    b"\xf0\x90\x80\x80",
    b"\x80",
    b"\xbf",
    b"\xff",
    b"\x00",
    b"\x01",
    b"\x1f",
    b"\x7f",
    b"\t",
    b"\"",
];

fn arb_soup_string() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec(prop::sample::select(PLAIN_PIECES), 0..3),
        prop::option::of(prop::sample::select(TRICKY_PIECES)),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(mut pieces, tricky, at)| {
            if let Some(t) = tricky {
                let i = at.index(pieces.len() + 1);
                pieces.insert(i, t);
            }
            [&b"\""[..], &pieces.concat(), b"\""].concat()
        })
}

fn arb_soup_leaf() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(prop::sample::select(&b"-0123456789.eE+"[..]), 1..7),
        arb_soup_string(),
        prop::sample::select(&["true", "false", "null", "tru", "nul", "nulll", "True", "-"][..])
            .prop_map(|s| s.as_bytes().to_vec()),
    ]
}

/// Documents whose verdict hinges on number, literal, escape and UTF-8 rules: mostly one
/// questionable leaf (or key) in a valid frame, sometimes a small tree of them.
fn arb_soup_document() -> impl Strategy<Value = Vec<u8>> {
    let framed = (arb_soup_leaf(), arb_soup_string(), 0..5usize).prop_map(|(leaf, key, frame)| {
        let (pre, post): (&[u8], &[u8]) = match frame {
            0 => (b"", b""),
            1 => (b"[", b"]"),
            2 => (b"{\"a\":", b"}"),
            3 => (b"[1,", b",2]"),
            _ => return [&b"{"[..], &key, b":0}"].concat(),
        };
        [pre, &leaf, post].concat()
    });
    let tree = arb_soup_leaf().prop_recursive(3, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3)
                .prop_map(|items| { [&b"["[..], &items.join(&b","[..]), b"]"].concat() }),
            prop::collection::vec((arb_soup_string(), inner), 0..3).prop_map(|members| {
                let members: Vec<Vec<u8>> = members
                    .into_iter()
                    .map(|(k, v)| [k, b":".to_vec(), v].concat())
                    .collect();
                [&b"{"[..], &members.join(&b","[..]), b"}"].concat()
            }),
        ]
    });
    const TAILS: &[&[u8]] = &[b"", b"", b"", b" ", b"\n", b" x", b"}", b"\xef\xbb\xbf"];
    (
        prop_oneof![3 => framed, 1 => tree],
        prop::sample::select(TAILS),
    )
        .prop_map(|(d, tail)| [&d[..], tail].concat())
}

/// serde_json's verdict, or `None` where it rejects valid JSON syntax for a reason of its own.
fn serde_accepts(doc: &[u8]) -> Option<bool> {
    match serde_json::from_slice::<Value>(doc) {
        Ok(_) => Some(true),
        Err(e) if e.to_string().contains("number out of range") => None,
        Err(_) => Some(false),
    }
}

fn recorded_bodies() -> Vec<(String, Vec<u8>)> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/k8s");
    let mut out = Vec::new();
    for dir in ["recorded-compact", "recorded"] {
        let mut files: Vec<_> = std::fs::read_dir(format!("{root}/{dir}"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().ends_with(".response.http"))
            .collect();
        files.sort();
        for f in files {
            let raw = std::fs::read(&f).unwrap();
            let at = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
            out.push((f.display().to_string(), raw[at + 4..].to_vec()));
        }
    }
    assert!(out.len() > 50, "recordings not found under {root}");
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn generated_documents_report_exactly_serde_jsons_values(
        (value, text) in arb_document(),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        // The generator's output is JSON as serde_json reads it.
        prop_assert_eq!(&serde_json::from_str::<Value>(&text).unwrap(), &value);
        let mut want = Vec::new();
        expected(&value, &mut Vec::new(), &mut want);
        let (got, result) = chunked(text.as_bytes(), &cuts);
        prop_assert_eq!(result, Ok(()));
        prop_assert_eq!(got.0, want);
    }

    #[test]
    fn chunking_never_changes_the_outcome(
        (_, text) in arb_document(),
        mutations in prop::collection::vec(arb_mutation(), 0..3),
        cuts in prop::collection::vec(any::<usize>(), 1..40),
    ) {
        let mut doc = text.into_bytes();
        for m in &mutations {
            mutate(&mut doc, m);
        }
        prop_assert_eq!(chunked(&doc, &cuts), whole(&doc));
        let bytewise: Vec<usize> = (0..doc.len()).collect();
        prop_assert_eq!(chunked(&doc, &bytewise), whole(&doc));
    }

    #[test]
    fn verdict_on_mutated_documents_agrees_with_serde_json(
        (_, text) in arb_document(),
        mutations in prop::collection::vec(arb_mutation(), 1..4),
    ) {
        let mut doc = text.into_bytes();
        for m in &mutations {
            mutate(&mut doc, m);
        }
        if let Some(serde) = serde_accepts(&doc) {
            let (_, ours) = whole(&doc);
            prop_assert_eq!(
                ours.is_ok(), serde,
                "ours {:?} on {:?}", ours, String::from_utf8_lossy(&doc)
            );
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_errors_point_into_the_input(
        doc in prop::collection::vec(any::<u8>(), 0..300),
        cuts in prop::collection::vec(any::<usize>(), 0..10),
    ) {
        let (rec, result) = chunked(&doc, &cuts);
        prop_assert_eq!((rec, result), whole(&doc));
        if let Err(e) = result {
            prop_assert!(e.offset <= doc.len() as u64);
        }
        if let Some(serde) = serde_accepts(&doc) {
            prop_assert_eq!(result.is_ok(), serde);
        }
    }

    #[test]
    fn recorded_bodies_give_the_same_values_in_any_chunking(
        cuts in prop::collection::vec(any::<usize>(), 1..30),
    ) {
        for (name, body) in recorded_bodies() {
            let (rec, result) = chunked(&body, &cuts);
            let (rec_whole, result_whole) = whole(&body);
            prop_assert_eq!(&result, &result_whole, "{}", name);
            prop_assert_eq!(&rec, &rec_whole, "{}", name);
        }
    }
}

proptest! {
    // Tiny documents: many cases are cheap, and each rule needs its own lucky draw.
    #![proptest_config(ProptestConfig::with_cases(2048))]
    #[test]
    fn verdict_on_lexically_tricky_documents_agrees_with_serde_json(doc in arb_soup_document()) {
        if let Some(serde) = serde_accepts(&doc) {
            let (_, ours) = whole(&doc);
            prop_assert_eq!(
                ours.is_ok(), serde,
                "ours {:?} on {:?}", ours, String::from_utf8_lossy(&doc)
            );
            prop_assert_eq!(chunked(&doc, &(0..doc.len()).collect::<Vec<_>>()), whole(&doc));
        }
    }

}

#[test]
fn recorded_json_bodies_agree_with_serde_json() {
    let mut json_bodies = 0;
    for (name, body) in recorded_bodies() {
        let (rec, result) = whole(&body);
        match serde_json::from_slice::<Value>(&body) {
            Ok(value) => {
                assert_eq!(result, Ok(()), "{name}");
                // serde_json's map is sorted by key, the document is not: compare as sets.
                let mut want = Vec::new();
                expected(&value, &mut Vec::new(), &mut want);
                let mut got = rec.0;
                want.sort_by_key(|e| format!("{e:?}"));
                got.sort_by_key(|e| format!("{e:?}"));
                assert_eq!(got, want, "{name}");
                json_bodies += 1;
            }
            // Plain-text bodies (429), header-only captures, multi-response captures.
            Err(_) => assert!(
                result.is_err(),
                "{name}: we accepted what serde_json rejects"
            ),
        }
    }
    assert!(json_bodies >= 40, "{json_bodies}");
}
