//! Response head parser: recorded heads, every typed error, every bound, prefix consistency.

use picokubelet_core::http::body::BodyFraming;
use picokubelet_core::http::response::{
    parse_response_head, ContentClass, DateProblem, HeadError, ResponseHead, RetryAfter,
    DEFAULT_MAX_HEAD_LEN, MAX_HEADERS,
};
use picokubelet_core::time::{TimeParseError, UnixMicros};
use proptest::prelude::*;
use std::path::PathBuf;

fn testdata(dir: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/k8s")
        .join(dir)
}

fn recording(dir: &str, name: &str) -> Vec<u8> {
    std::fs::read(testdata(dir).join(format!("{name}.response.http"))).expect("recording")
}

fn response_files(dir: &str) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(testdata(dir))
        .expect("testdata dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.to_string_lossy().ends_with(".response.http"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    files.sort();
    files
}

fn parse(head: &str) -> Result<ResponseHead, HeadError> {
    parse_response_head(head.as_bytes(), DEFAULT_MAX_HEAD_LEN)
}

/// A minimal head with the given extra header lines.
fn with_headers(status: &str, lines: &[&str]) -> String {
    let mut h = format!("HTTP/1.1 {status}\r\n");
    for l in lines {
        h.push_str(l);
        h.push_str("\r\n");
    }
    h.push_str("\r\n");
    h
}

const NOV24_130413: UnixMicros = UnixMicros::from_secs(1_795_525_453);

#[test]
fn every_recorded_http11_head_parses() {
    let mut count = 0;
    for dir in ["recorded-compact", "recorded"] {
        for (name, bytes) in response_files(dir) {
            let head = parse_response_head(&bytes, DEFAULT_MAX_HEAD_LEN)
                .unwrap_or_else(|e| panic!("{dir}/{name}: {e:?}"));
            let status_line = std::str::from_utf8(&bytes[..12]).unwrap();
            assert_eq!(status_line, format!("HTTP/1.1 {}", head.status), "{name}");
            assert!(head.date.is_ok(), "{name}: {:?}", head.date);
            assert!(head.head_len < 600, "{name}: {}", head.head_len);
            assert_eq!(&bytes[head.head_len - 4..head.head_len], b"\r\n\r\n");
            assert_ne!(head.content_class, ContentClass::Missing, "{name}");
            assert!(
                head.chunked != head.content_length.is_some(),
                "{name}: always framed"
            );
            // The name's status suffix, where it has one, agrees.
            if let Some(code) = name
                .trim_end_matches(".response.http")
                .rsplit('-')
                .next()
                .and_then(|s| s.parse::<u16>().ok())
                .filter(|c| (100..600).contains(c))
            {
                assert_eq!(head.status, code, "{name}");
            }
            count += 1;
        }
    }
    assert!(count >= 57, "only {count} recordings found");
}

#[test]
fn recorded_samples_have_the_expected_fields() {
    let node =
        parse_response_head(&recording("recorded-compact", "03-get-node-200"), 2048).unwrap();
    assert_eq!(node.status, 200);
    assert_eq!(node.framing, BodyFraming::Chunked);
    assert!(node.chunked && node.content_length.is_none());
    assert_eq!(node.date, Ok(NOV24_130413));
    assert_eq!(node.content_class, ContentClass::Json);
    assert_eq!(node.retry_after, None);
    assert!(!node.connection_close && node.keep_alive());
    assert_eq!(node.head_len, 341);

    let discovery =
        parse_response_head(&recording("recorded", "14-get-api-v1-discovery"), 2048).unwrap();
    assert_eq!(
        (discovery.status, discovery.framing),
        (200, BodyFraming::Chunked)
    );

    let lease =
        parse_response_head(&recording("recorded-compact", "04-post-lease-201"), 2048).unwrap();
    assert_eq!(lease.status, 201);
    assert_eq!(lease.framing, BodyFraming::ContentLength(809));
    assert_eq!(lease.content_length, Some(809));
    assert_eq!(lease.date, Ok(NOV24_130413));

    let throttled = parse_response_head(
        &recording("recorded-compact", "16a-probe-under-pressure"),
        2048,
    )
    .unwrap();
    assert_eq!(throttled.status, 429);
    assert_eq!(throttled.retry_after, Some(RetryAfter::Seconds(1)));
    assert_eq!(throttled.content_class, ContentClass::Text);
    assert_eq!(throttled.framing, BodyFraming::ContentLength(43));
    assert_eq!(throttled.date, Ok(UnixMicros::from_secs(1_795_525_638)));

    let close =
        parse_response_head(&recording("recorded-compact", "11-connection-close"), 2048).unwrap();
    assert!(close.connection_close && !close.keep_alive());

    let unauthorized =
        parse_response_head(&recording("recorded", "03-bad-token-401"), 2048).unwrap();
    assert_eq!(
        (unauthorized.status, unauthorized.framing),
        (401, BodyFraming::ContentLength(157))
    );

    let openapi = parse_response_head(
        &recording("recorded-compact", "15f-headers-openapi-v3-core-gzip"),
        2048,
    )
    .unwrap();
    assert_eq!(openapi.framing, BodyFraming::ContentLength(1_999_976));
    assert_eq!(openapi.head_len, 558);
}

#[test]
fn http2_recordings_are_not_http11() {
    let files = response_files("recorded/http2");
    assert!(files.len() >= 15);
    for (name, bytes) in files {
        assert_eq!(
            parse_response_head(&bytes, DEFAULT_MAX_HEAD_LEN),
            Err(HeadError::NotHttp11),
            "{name}"
        );
    }
    for other in [
        "HTTP/1.0 200 OK\r\n\r\n",
        "HTTP/2 200 \r\n\r\n",
        "HTTP/3 200\r\n",
        "HTTP/1.2",
    ] {
        assert_eq!(parse(other), Err(HeadError::NotHttp11), "{other:?}");
    }
}

#[test]
fn every_prefix_of_a_recorded_head_is_partial() {
    let bytes = recording("recorded-compact", "16a-probe-under-pressure");
    let full = parse_response_head(&bytes, 2048).unwrap();
    for len in 0..full.head_len {
        assert_eq!(
            parse_response_head(&bytes[..len], 2048),
            Err(HeadError::Partial),
            "prefix {len}"
        );
    }
    assert_eq!(parse_response_head(&bytes[..full.head_len], 2048), Ok(full));
}

#[test]
fn head_length_bound() {
    // Pad a header so that the whole head is exactly `limit` bytes.
    let head_of_len = |len: usize| {
        let base = with_headers("200 OK", &["Content-Length: 0", "X-Pad: "]).len();
        with_headers(
            "200 OK",
            &[
                "Content-Length: 0",
                &format!("X-Pad: {}", "p".repeat(len - base)),
            ],
        )
    };
    for limit in [64, 512, DEFAULT_MAX_HEAD_LEN] {
        let exact = head_of_len(limit);
        assert_eq!(exact.len(), limit);
        assert_eq!(
            parse_response_head(exact.as_bytes(), limit).map(|h| h.head_len),
            Ok(limit)
        );
        let over = head_of_len(limit + 1);
        assert_eq!(
            parse_response_head(over.as_bytes(), limit),
            Err(HeadError::HeadTooLarge)
        );
        // Below the limit, an incomplete head is just partial.
        assert_eq!(
            parse_response_head(&over.as_bytes()[..limit - 1], limit),
            Err(HeadError::Partial)
        );
    }
}

#[test]
fn header_count_bound() {
    let lines: Vec<String> = (0..=MAX_HEADERS).map(|i| format!("X-H{i}: v")).collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let at_bound = with_headers("204 No Content", &refs[..MAX_HEADERS]);
    assert_eq!(parse(&at_bound).map(|h| h.status), Ok(204));
    let over = with_headers("204 No Content", &refs);
    assert_eq!(parse(&over), Err(HeadError::TooManyHeaders));
}

#[test]
fn malformed_heads() {
    for bad in [
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1 099 Low\r\n\r\n",
        "HTTP/1.1 abc OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nNo colon\r\n\r\n",
        "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX: \0\r\n\r\n",
        "HTTP/1.1 200 OK\r\n\rX",
    ] {
        assert_eq!(parse(bad), Err(HeadError::Malformed), "{bad:?}");
    }
    for not_http in ["hello", "<html>", "\x16\x03\x01 TLS"] {
        assert_eq!(parse(not_http), Err(HeadError::NotHttp11), "{not_http:?}");
    }
}

#[test]
fn framing_conflicts_and_invalid_lengths() {
    use HeadError::*;
    for (lines, expected) in [
        (
            &["Content-Length: 5", "Transfer-Encoding: chunked"][..],
            ConflictingFraming,
        ),
        (
            &["Transfer-Encoding: chunked", "Content-Length: 5"],
            ConflictingFraming,
        ),
        (
            &["Content-Length: 5", "Content-Length: 6"],
            ConflictingContentLength,
        ),
        (&["Content-Length: 5, 6"], ConflictingContentLength),
        (&["Content-Length: abc"], InvalidContentLength),
        (&["Content-Length: -1"], InvalidContentLength),
        (&["Content-Length: +1"], InvalidContentLength),
        (&["Content-Length: 1 2"], InvalidContentLength),
        (&["Content-Length: 0x10"], InvalidContentLength),
        (
            &["Content-Length: 18446744073709551616"],
            InvalidContentLength,
        ),
        (&["Content-Length:"], InvalidContentLength),
        (&["Content-Length: 5,"], InvalidContentLength),
        (&["Transfer-Encoding: gzip"], UnsupportedTransferEncoding),
        (
            &["Transfer-Encoding: gzip, chunked"],
            UnsupportedTransferEncoding,
        ),
        (
            &["Transfer-Encoding: chunked, chunked"],
            UnsupportedTransferEncoding,
        ),
        (
            &["Transfer-Encoding: chunked", "Transfer-Encoding: chunked"],
            UnsupportedTransferEncoding,
        ),
        (
            &["Transfer-Encoding: identity"],
            UnsupportedTransferEncoding,
        ),
        (&["Transfer-Encoding:"], UnsupportedTransferEncoding),
        (
            &["Content-Encoding: gzip", "Content-Length: 5"],
            UnsupportedContentEncoding,
        ),
        (
            &["Content-Encoding: identity, br"],
            UnsupportedContentEncoding,
        ),
    ] {
        assert_eq!(
            parse(&with_headers("200 OK", lines)),
            Err(expected),
            "{lines:?}"
        );
    }
}

#[test]
fn accepted_framing_variants() {
    let framing = |lines: &[&str]| parse(&with_headers("200 OK", lines)).map(|h| h.framing);
    assert_eq!(
        framing(&["Content-Length: 5", "content-length: 5"]),
        Ok(BodyFraming::ContentLength(5))
    );
    assert_eq!(
        framing(&["Content-Length: 5 , 5"]),
        Ok(BodyFraming::ContentLength(5))
    );
    assert_eq!(
        framing(&["Content-Length: 007"]),
        Ok(BodyFraming::ContentLength(7))
    );
    assert_eq!(
        framing(&["Content-Length: 18446744073709551615"]),
        Ok(BodyFraming::ContentLength(u64::MAX))
    );
    assert_eq!(
        framing(&["transfer-encoding: Chunked"]),
        Ok(BodyFraming::Chunked)
    );
    assert_eq!(
        framing(&["Content-Encoding: identity", "Content-Length: 1"]),
        Ok(BodyFraming::ContentLength(1))
    );
    assert_eq!(
        framing(&["Content-Length: 0"]),
        Ok(BodyFraming::ContentLength(0))
    );
}

#[test]
fn no_body_statuses_and_unframed_responses() {
    for status in [
        "100 Continue",
        "103 Early Hints",
        "204 No Content",
        "304 Not Modified",
    ] {
        let head = parse(&with_headers(status, &[])).unwrap();
        assert_eq!(head.framing, BodyFraming::Empty, "{status}");
        assert!(head.keep_alive());
    }
    // A 304 may announce the length of the representation it does not send.
    let head = parse(&with_headers("304 Not Modified", &["Content-Length: 809"])).unwrap();
    assert_eq!(
        (head.framing, head.content_length),
        (BodyFraming::Empty, Some(809))
    );
    // No length on a 200: the body runs until close, and the connection is not reused.
    let head = parse(&with_headers("200 OK", &["Content-Type: application/json"])).unwrap();
    assert_eq!(head.framing, BodyFraming::UntilClose);
    assert!(!head.keep_alive());
    assert!(!head.is_interim());
    assert!(parse(&with_headers("100 Continue", &[]))
        .unwrap()
        .is_interim());
}

#[test]
fn connection_header_tokens() {
    let close = |v: &str| {
        parse(&with_headers(
            "200 OK",
            &["Content-Length: 0", &format!("Connection: {v}")],
        ))
        .unwrap()
        .connection_close
    };
    assert!(close("close"));
    assert!(close("Keep-Alive, CLOSE"));
    assert!(!close("keep-alive"));
    assert!(!close("closed"));
}

#[test]
fn date_problems_do_not_fail_the_response() {
    let date = |lines: &[&str]| parse(&with_headers("200 OK", lines)).unwrap().date;
    assert_eq!(
        date(&["Date: Tue, 24 Nov 2026 13:04:13 GMT"]),
        Ok(NOV24_130413)
    );
    assert_eq!(date(&[]), Err(DateProblem::Missing));
    assert_eq!(
        date(&["Date: yesterday"]),
        Err(DateProblem::Unparseable(TimeParseError::Malformed))
    );
    assert_eq!(
        date(&["Date: Wed, 24 Nov 2026 13:04:13 GMT"]),
        Err(DateProblem::Unparseable(TimeParseError::Malformed))
    );
    assert_eq!(
        date(&[
            "Date: Tue, 24 Nov 2026 13:04:13 GMT",
            "Date: Tue, 24 Nov 2026 13:04:13 GMT"
        ]),
        Err(DateProblem::Repeated)
    );
}

#[test]
fn retry_after_forms() {
    let retry = |lines: &[&str]| parse(&with_headers("503 Busy", lines)).unwrap().retry_after;
    const DATE: &str = "Date: Tue, 24 Nov 2026 13:04:13 GMT";
    assert_eq!(retry(&[]), None);
    assert_eq!(retry(&["Retry-After: 1"]), Some(RetryAfter::Seconds(1)));
    assert_eq!(retry(&["Retry-After: 0"]), Some(RetryAfter::Seconds(0)));
    assert_eq!(
        retry(&["Retry-After: 99999999999999"]),
        Some(RetryAfter::Seconds(u32::MAX))
    );
    assert_eq!(
        retry(&[DATE, "Retry-After: Tue, 24 Nov 2026 13:06:13 GMT"]),
        Some(RetryAfter::Seconds(120))
    );
    assert_eq!(
        retry(&[DATE, "Retry-After: Tue, 24 Nov 2026 13:00:00 GMT"]),
        Some(RetryAfter::Seconds(0))
    );
    // An HTTP-date cannot be measured without a valid Date.
    assert_eq!(
        retry(&["Retry-After: Tue, 24 Nov 2026 13:06:13 GMT"]),
        Some(RetryAfter::Unknown)
    );
    for bad in [
        "Retry-After: soon",
        "Retry-After: -1",
        "Retry-After: 1.5",
        "Retry-After:",
    ] {
        assert_eq!(retry(&[DATE, bad]), Some(RetryAfter::Unknown), "{bad}");
    }
    assert_eq!(
        retry(&["Retry-After: 1", "Retry-After: 2"]),
        Some(RetryAfter::Unknown)
    );
}

#[test]
fn content_classes_from_heads() {
    let class = |lines: &[&str]| parse(&with_headers("200 OK", lines)).unwrap().content_class;
    assert_eq!(
        class(&["Content-Type: application/json"]),
        ContentClass::Json
    );
    assert_eq!(
        class(&["Content-Type: text/plain; charset=utf-8"]),
        ContentClass::Text
    );
    assert_eq!(
        class(&["Content-Type: application/vnd.kubernetes.protobuf"]),
        ContentClass::Protobuf
    );
    assert_eq!(class(&[]), ContentClass::Missing);
    assert_eq!(
        class(&["Content-Type: application/json", "Content-Type: text/plain"]),
        ContentClass::Other
    );
}

/// Recorded heads with bytes replaced at random positions.
fn mutated_head() -> impl Strategy<Value = Vec<u8>> {
    let base = recording("recorded-compact", "16a-probe-under-pressure");
    let len = base.len();
    proptest::collection::vec((0..len, any::<u8>()), 0..4).prop_map(move |edits| {
        let mut b = base.clone();
        for (i, v) in edits {
            b[i] = v;
        }
        b
    })
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..3000), limit in 0usize..3000) {
        let _ = parse_response_head(&bytes, limit);
    }

    /// Every prefix is either Partial or already the final answer: reading more never changes a
    /// verdict, so any split of the input gives the same result.
    #[test]
    fn prefixes_agree_with_the_whole(bytes in mutated_head(), limit in 200usize..600) {
        let whole = parse_response_head(&bytes, limit);
        for len in 0..=bytes.len() {
            let prefix = parse_response_head(&bytes[..len], limit);
            if prefix != Err(HeadError::Partial) {
                prop_assert_eq!(prefix, whole, "prefix {}", len);
            }
        }
    }
}
