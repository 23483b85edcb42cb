//! JSON as the apiserver writes and rejects it.
//!
//! Writing follows Go's `encoding/json`: compact `Encode` output ends with `\n`, `MarshalIndent`
//! output (two spaces) does not; `<`, `>`, `&`, U+2028 and U+2029 are escaped as `\u003c` etc.
//! Syntax errors are reported with the messages of Go's JSON scanner
//! (`unexpected end of JSON input`, `invalid character 'x' looking for beginning of value`, …),
//! because clients and the recordings see those strings.

use serde_json::Value;

/// Compact encoding followed by a newline, as `json.NewEncoder(w).Encode(v)` writes it.
pub fn encode_compact(v: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_value(&mut out, v, None, 0);
    out.push(b'\n');
    out
}

/// `json.MarshalIndent(v, "", "  ")`: no trailing newline.
pub fn encode_pretty(v: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    write_value(&mut out, v, Some("  "), 0);
    out
}

fn newline(out: &mut Vec<u8>, indent: Option<&str>, depth: usize) {
    if let Some(unit) = indent {
        out.push(b'\n');
        for _ in 0..depth {
            out.extend_from_slice(unit.as_bytes());
        }
    }
}

fn write_value(out: &mut Vec<u8>, v: &Value, indent: Option<&str>, depth: usize) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            if items.is_empty() {
                out.extend_from_slice(b"[]");
                return;
            }
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                newline(out, indent, depth + 1);
                write_value(out, item, indent, depth + 1);
            }
            newline(out, indent, depth);
            out.push(b']');
        }
        Value::Object(map) => {
            if map.is_empty() {
                out.extend_from_slice(b"{}");
                return;
            }
            out.push(b'{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                newline(out, indent, depth + 1);
                write_string(out, k);
                out.push(b':');
                if indent.is_some() {
                    out.push(b' ');
                }
                write_value(out, item, indent, depth + 1);
            }
            newline(out, indent, depth);
            out.push(b'}');
        }
    }
}

fn write_string(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            '<' | '>' | '&' | '\u{0}'..='\u{1f}' => {
                let b = c as u8;
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 0xf) as usize]);
            }
            '\u{2028}' => out.extend_from_slice(b"\\u2028"),
            '\u{2029}' => out.extend_from_slice(b"\\u2029"),
            _ => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// Parses `input` as one JSON value; on failure returns Go's error message for it.
pub fn parse(input: &[u8]) -> Result<Value, String> {
    check_go_syntax(input)?;
    serde_json::from_slice(input).map_err(|e| e.to_string())
}

/// Go's `quoteChar`: how the scanner names the offending byte.
fn quote_char(c: u8) -> String {
    match c {
        b'\'' => "'\\''".to_string(),
        b'"' => "'\"'".to_string(),
        b'\n' => "'\\n'".to_string(),
        b'\r' => "'\\r'".to_string(),
        b'\t' => "'\\t'".to_string(),
        0x07 => "'\\a'".to_string(),
        0x08 => "'\\b'".to_string(),
        0x0c => "'\\f'".to_string(),
        0x0b => "'\\v'".to_string(),
        b'\\' => "'\\\\'".to_string(),
        0x20..=0x7e => format!("'{}'", c as char),
        0x00..=0x1f | 0x7f => format!("'\\x{c:02x}'"),
        // Go converts the byte to a rune first (string(c)), so 0x80.. print as Latin-1 letters.
        _ => format!("'{}'", char::from(c)),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Frame {
    ObjectKey,
    ObjectValue,
    Array,
}

#[derive(Clone, Copy, PartialEq)]
enum St {
    BeginValue,
    BeginValueOrEmpty,
    BeginStringOrEmpty,
    BeginString,
    EndValue,
    EndTop,
    InString,
    InStringEsc,
    InStringEscU(u8),
    Neg,
    One,
    Zero,
    Dot,
    Dot0,
    E,
    ESign,
    E0,
    Lit(&'static [u8], u8, &'static str),
}

/// A transcription of Go's `encoding/json` scanner state machine, for its error messages.
fn check_go_syntax(input: &[u8]) -> Result<(), String> {
    let mut stack: Vec<Frame> = Vec::new();
    let mut st = St::BeginValue;
    let err = |c: u8, ctx: &str| Err(format!("invalid character {} {}", quote_char(c), ctx));
    let is_space = |c: u8| matches!(c, b' ' | b'\t' | b'\r' | b'\n');
    for &c in input {
        // Loop so that "end of number" style transitions can re-examine the byte.
        loop {
            match st {
                St::BeginValueOrEmpty | St::BeginValue => {
                    if is_space(c) {
                        break;
                    }
                    if st == St::BeginValueOrEmpty && c == b']' {
                        st = St::EndValue;
                        continue;
                    }
                    st = match c {
                        b'{' => {
                            stack.push(Frame::ObjectKey);
                            St::BeginStringOrEmpty
                        }
                        b'[' => {
                            stack.push(Frame::Array);
                            St::BeginValueOrEmpty
                        }
                        b'"' => St::InString,
                        b'-' => St::Neg,
                        b'0' => St::Zero,
                        b'1'..=b'9' => St::One,
                        b't' => St::Lit(b"rue", 0, "true"),
                        b'f' => St::Lit(b"alse", 0, "false"),
                        b'n' => St::Lit(b"ull", 0, "null"),
                        _ => return err(c, "looking for beginning of value"),
                    };
                    break;
                }
                St::BeginStringOrEmpty => {
                    if is_space(c) {
                        break;
                    }
                    if c == b'}' {
                        if let Some(top) = stack.last_mut() {
                            *top = Frame::ObjectValue;
                        }
                        st = St::EndValue;
                        continue;
                    }
                    st = St::BeginString;
                    continue;
                }
                St::BeginString => {
                    if is_space(c) {
                        break;
                    }
                    if c == b'"' {
                        st = St::InString;
                        break;
                    }
                    return err(c, "looking for beginning of object key string");
                }
                St::EndValue => {
                    let Some(top) = stack.last().copied() else {
                        st = St::EndTop;
                        continue;
                    };
                    if is_space(c) {
                        break;
                    }
                    match top {
                        Frame::ObjectKey => {
                            if c == b':' {
                                if let Some(t) = stack.last_mut() {
                                    *t = Frame::ObjectValue;
                                }
                                st = St::BeginValue;
                                break;
                            }
                            return err(c, "after object key");
                        }
                        Frame::ObjectValue => {
                            if c == b',' {
                                if let Some(t) = stack.last_mut() {
                                    *t = Frame::ObjectKey;
                                }
                                st = St::BeginString;
                                break;
                            }
                            if c == b'}' {
                                stack.pop();
                                st = St::EndValue;
                                break;
                            }
                            return err(c, "after object key:value pair");
                        }
                        Frame::Array => {
                            if c == b',' {
                                st = St::BeginValue;
                                break;
                            }
                            if c == b']' {
                                stack.pop();
                                st = St::EndValue;
                                break;
                            }
                            return err(c, "after array element");
                        }
                    }
                }
                St::EndTop => {
                    if !is_space(c) {
                        return err(c, "after top-level value");
                    }
                    break;
                }
                St::InString => {
                    match c {
                        b'"' => st = St::EndValue,
                        b'\\' => st = St::InStringEsc,
                        0..=0x1f => return err(c, "in string literal"),
                        _ => {}
                    }
                    break;
                }
                St::InStringEsc => {
                    st = match c {
                        b'b' | b'f' | b'n' | b'r' | b't' | b'\\' | b'/' | b'"' => St::InString,
                        b'u' => St::InStringEscU(0),
                        _ => return err(c, "in string escape code"),
                    };
                    break;
                }
                St::InStringEscU(n) => {
                    if !c.is_ascii_hexdigit() {
                        return err(c, "in \\u hexadecimal character escape");
                    }
                    st = if n == 3 {
                        St::InString
                    } else {
                        St::InStringEscU(n + 1)
                    };
                    break;
                }
                St::Neg => {
                    st = match c {
                        b'0' => St::Zero,
                        b'1'..=b'9' => St::One,
                        _ => return err(c, "in numeric literal"),
                    };
                    break;
                }
                St::One => {
                    if c.is_ascii_digit() {
                        break;
                    }
                    st = St::Zero;
                    continue;
                }
                St::Zero => {
                    match c {
                        b'.' => st = St::Dot,
                        b'e' | b'E' => st = St::E,
                        _ => {
                            st = St::EndValue;
                            continue;
                        }
                    }
                    break;
                }
                St::Dot => {
                    if c.is_ascii_digit() {
                        st = St::Dot0;
                        break;
                    }
                    return err(c, "after decimal point in numeric literal");
                }
                St::Dot0 => {
                    match c {
                        b'0'..=b'9' => {}
                        b'e' | b'E' => st = St::E,
                        _ => {
                            st = St::EndValue;
                            continue;
                        }
                    }
                    break;
                }
                St::E => {
                    if c == b'+' || c == b'-' {
                        st = St::ESign;
                        break;
                    }
                    st = St::ESign;
                    continue;
                }
                St::ESign => {
                    if c.is_ascii_digit() {
                        st = St::E0;
                        break;
                    }
                    return err(c, "in exponent of numeric literal");
                }
                St::E0 => {
                    if c.is_ascii_digit() {
                        break;
                    }
                    st = St::EndValue;
                    continue;
                }
                St::Lit(rest, i, word) => {
                    let want = rest[i as usize];
                    if c != want {
                        return err(
                            c,
                            &format!("in literal {word} (expecting {})", quote_char(want)),
                        );
                    }
                    st = if i as usize + 1 == rest.len() {
                        St::EndValue
                    } else {
                        St::Lit(rest, i + 1, word)
                    };
                    break;
                }
            }
        }
    }
    // End of input: only a finished top-level value (possibly a number awaiting its end) is valid.
    match st {
        St::EndTop => Ok(()),
        St::EndValue | St::One | St::Zero | St::Dot0 | St::E0 if stack.is_empty() => Ok(()),
        _ => Err("unexpected end of JSON input".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compact_and_pretty_match_go() {
        let v = json!({"kind":"Status","metadata":{},"items":[],"code":401,"m":"a<b>&c\u{2028}"});
        assert_eq!(
            String::from_utf8(encode_compact(&v)).unwrap(),
            "{\"kind\":\"Status\",\"metadata\":{},\"items\":[],\"code\":401,\"m\":\"a\\u003cb\\u003e\\u0026c\\u2028\"}\n"
        );
        let pretty = String::from_utf8(encode_pretty(&json!({"a":{"b":[1,2]},"c":{}}))).unwrap();
        assert_eq!(
            pretty,
            "{\n  \"a\": {\n    \"b\": [\n      1,\n      2\n    ]\n  },\n  \"c\": {}\n}"
        );
    }

    #[test]
    fn syntax_errors_read_like_go() {
        let e = |s: &str| parse(s.as_bytes()).unwrap_err();
        assert_eq!(
            e("{\"status\":{\"conditions\":[{\"type\":\"Ready\","),
            "unexpected end of JSON input"
        );
        assert_eq!(e(""), "unexpected end of JSON input");
        assert_eq!(
            e("x"),
            "invalid character 'x' looking for beginning of value"
        );
        assert_eq!(e("{\"a\" 1}"), "invalid character '1' after object key");
        assert_eq!(
            e("{\"a\":1 \"b\"}"),
            "invalid character '\"' after object key:value pair"
        );
        assert_eq!(e("[1 2]"), "invalid character '2' after array element");
        assert_eq!(
            e("{1:2}"),
            "invalid character '1' looking for beginning of object key string"
        );
        assert_eq!(e("{} x"), "invalid character 'x' after top-level value");
        assert_eq!(e("tru"), "unexpected end of JSON input");
        assert_eq!(
            e("trux"),
            "invalid character 'x' in literal true (expecting 'e')"
        );
        assert_eq!(e("\"a\nb\""), "invalid character '\\n' in string literal");
        assert_eq!(e("-x"), "invalid character 'x' in numeric literal");
        assert!(parse(b" {\"a\":[1,-2.5e3,true,null,\"\\u00e9\"]} ").is_ok());
        assert!(parse(b"12").is_ok());
    }
}
