//! ResponseReader end to end over every recorded exchange, driven like the client will drive it:
//! a fixed receive buffer of `max_head_len` bytes, refilled by reads of arbitrary size.
//!
//! The recordings are `curl -i` output, so chunked bodies are stored already de-chunked. The
//! tests re-chunk them (in varying chunk sizes) to rebuild what was on the wire.

use picokubelet_core::http::body::{BodyError, BodyFraming};
use picokubelet_core::http::reader::{Event, ReadError, ReaderLimits, ResponseReader};
use picokubelet_core::http::response::{
    parse_response_head, ContentClass, HeadError, ResponseHead, DEFAULT_MAX_HEAD_LEN,
};
use proptest::prelude::*;
use std::path::PathBuf;

const BUF_LEN: usize = DEFAULT_MAX_HEAD_LEN;

/// How one response ended.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    heads: Vec<ResponseHead>,
    body: Vec<u8>,
    /// `Ok((reusable, bytes left after the end))` or the error.
    end: Result<(bool, Vec<u8>), ReadError>,
}

/// The client's loop: fixed buffer, reads of the sizes the `pieces` give, EOF after the last.
fn drive(limits: ReaderLimits, pieces: &[&[u8]]) -> Outcome {
    let mut reader = ResponseReader::new(limits);
    let mut buf = [0u8; BUF_LEN];
    let mut filled = 0;
    let mut network: Vec<u8> = Vec::new();
    // Reads return at most one piece, cut to the free space of the buffer.
    let mut read_sizes: std::collections::VecDeque<usize> =
        pieces.iter().map(|p| p.len()).collect();
    for p in pieces {
        network.extend_from_slice(p);
    }
    let mut net_pos = 0;
    let mut out = Outcome {
        heads: Vec::new(),
        body: Vec::new(),
        end: Err(ReadError::ClosedBeforeResponse),
    };
    loop {
        let step = match reader.step(&buf[..filled]) {
            Ok(step) => step,
            Err(e) => {
                out.end = Err(e);
                return out;
            }
        };
        let consumed = step.consumed;
        assert!(consumed <= filled);
        let need_more = match step.event {
            Event::Head(h) => {
                out.heads.push(h);
                false
            }
            Event::Body(b) => {
                assert!(!b.is_empty());
                out.body.extend_from_slice(b);
                false
            }
            Event::End { reusable } => {
                let in_buffer = filled - step.consumed;
                if in_buffer > 0 {
                    assert!(
                        !reusable,
                        "surplus in the buffer must make the connection unusable"
                    );
                }
                let mut left = buf[step.consumed..filled].to_vec();
                left.extend_from_slice(&network[net_pos..]);
                if in_buffer == 0 && !left.is_empty() {
                    // Surplus that arrives later shows up on the next step.
                    assert_eq!(reader.step(&left), Err(ReadError::SurplusBytes));
                }
                out.end = Ok((reusable && left.is_empty(), left));
                return out;
            }
            Event::NeedMore => true,
        };
        buf.copy_within(consumed..filled, 0);
        filled -= consumed;
        if need_more {
            assert!(filled < BUF_LEN, "reader stalled on a full buffer");
            let want = loop {
                match read_sizes.front_mut() {
                    Some(0) => {
                        read_sizes.pop_front();
                    }
                    Some(n) => break Some(n),
                    None => break None,
                }
            };
            match want {
                None => {
                    out.end = reader.finish().map(|()| (false, Vec::new()));
                    return out;
                }
                Some(n) => {
                    let take = (*n).min(BUF_LEN - filled);
                    buf[filled..filled + take].copy_from_slice(&network[net_pos..net_pos + take]);
                    filled += take;
                    net_pos += take;
                    *n -= take;
                }
            }
        }
    }
}

fn drive_whole(bytes: &[u8]) -> Outcome {
    drive(ReaderLimits::default(), &[bytes])
}

fn testdata(dir: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/k8s")
        .join(dir)
}

/// One response as recorded: its head bytes and its (de-chunked) body.
#[derive(Clone, Debug)]
struct Recorded {
    name: String,
    head: ResponseHead,
    head_bytes: Vec<u8>,
    body: Vec<u8>,
    /// `Some(n)`: a head-only capture whose body (`n` bytes) was not stored.
    head_only: Option<u64>,
}

const HEAD_ONLY_MARK: &[u8] = b"# body bytes received: ";

/// Splits a recording file into its responses (two files hold several back to back).
fn split_recording(name: &str, bytes: &[u8]) -> Vec<Recorded> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let head = parse_response_head(rest, DEFAULT_MAX_HEAD_LEN)
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let (head_bytes, after) = rest.split_at(head.head_len);
        if let Some(count) = after.strip_prefix(HEAD_ONLY_MARK) {
            let n = std::str::from_utf8(count).unwrap().trim().parse().unwrap();
            out.push(Recorded {
                name: name.to_string(),
                head,
                head_bytes: head_bytes.to_vec(),
                body: Vec::new(),
                head_only: Some(n),
            });
            break;
        }
        let body_len = match head.framing {
            BodyFraming::ContentLength(n) => n as usize,
            // curl printed the chunked body decoded; it runs to the end of the file.
            BodyFraming::Chunked => after.len(),
            other => panic!("{name}: unexpected framing {other:?}"),
        };
        out.push(Recorded {
            name: name.to_string(),
            head,
            head_bytes: head_bytes.to_vec(),
            body: after[..body_len].to_vec(),
            head_only: None,
        });
        rest = &after[body_len..];
    }
    out
}

fn all_recorded() -> Vec<Recorded> {
    let mut all = Vec::new();
    for dir in ["recorded-compact", "recorded"] {
        let mut paths: Vec<_> = std::fs::read_dir(testdata(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().ends_with(".response.http"))
            .collect();
        paths.sort();
        for p in paths {
            let name = format!("{dir}/{}", p.file_name().unwrap().to_string_lossy());
            all.extend(split_recording(&name, &std::fs::read(&p).unwrap()));
        }
    }
    all
}

/// Chunked encoding of `body` in chunks of the given sizes (cycled).
fn chunk(body: &[u8], sizes: &[usize]) -> (Vec<u8>, u64) {
    let mut out = Vec::new();
    let mut sum = 0u64;
    let mut rest = body;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes[i % sizes.len()].clamp(1, rest.len());
        out.extend_from_slice(format!("{n:x}\r\n").as_bytes());
        out.extend_from_slice(&rest[..n]);
        out.extend_from_slice(b"\r\n");
        sum += n as u64;
        rest = &rest[n..];
        i += 1;
    }
    out.extend_from_slice(b"0\r\n\r\n");
    (out, sum)
}

/// The bytes as they were on the wire, and the length the framing announces (Content-Length or
/// the sum of the chunk sizes).
fn wire(r: &Recorded, chunk_sizes: &[usize]) -> (Vec<u8>, u64) {
    let mut w = r.head_bytes.clone();
    let announced = match r.head.framing {
        BodyFraming::Chunked => {
            let (chunked, sum) = chunk(&r.body, chunk_sizes);
            w.extend_from_slice(&chunked);
            sum
        }
        BodyFraming::ContentLength(n) => {
            w.extend_from_slice(&r.body);
            n
        }
        other => panic!("{other:?}"),
    };
    (w, announced)
}

#[test]
fn every_recorded_response_reads_completely() {
    let all = all_recorded();
    assert!(all.len() >= 60, "{}", all.len());
    let mut json_bodies = 0;
    for r in all.iter().filter(|r| r.head_only.is_none()) {
        for sizes in [&[2048usize][..], &[1], &[7, 300, 64], &[4000]] {
            let (w, announced) = wire(r, sizes);
            let o = drive_whole(&w);
            assert_eq!(o.heads, vec![r.head], "{}", r.name);
            assert_eq!(o.body.len() as u64, announced, "{}", r.name);
            assert_eq!(o.body, r.body, "{}", r.name);
            assert_eq!(o.end, Ok((r.head.keep_alive(), Vec::new())), "{}", r.name);
        }
        if r.head.content_class == ContentClass::Json {
            serde_json::from_slice::<serde_json::Value>(&r.body)
                .unwrap_or_else(|e| panic!("{}: {e}", r.name));
            json_bodies += 1;
        }
    }
    assert!(json_bodies >= 50, "{json_bodies}");
}

#[test]
fn recorded_chunked_samples() {
    let all = all_recorded();
    let find = |suffix: &str| {
        all.iter()
            .find(|r| r.name.ends_with(suffix))
            .unwrap_or_else(|| panic!("{suffix}"))
            .clone()
    };
    for name in [
        "03-get-node-200.response.http",
        "14-get-api-v1-discovery.response.http",
    ] {
        let r = find(name);
        assert_eq!(r.head.framing, BodyFraming::Chunked);
        let (w, sum) = wire(&r, &[512]);
        let o = drive(ReaderLimits::default(), &w.chunks(1).collect::<Vec<_>>());
        assert_eq!(o.body.len() as u64, sum);
        assert_eq!(o.body, r.body);
        let v: serde_json::Value = serde_json::from_slice(&o.body).unwrap();
        assert!(v.get("kind").is_some());
    }
    // The exact chunking threshold of the server: 2048 bytes framed, 2049 chunked.
    let at = find("15g-headers-lease-body-2048.response.http");
    assert_eq!(
        (at.head.framing, at.body.len()),
        (BodyFraming::ContentLength(2048), 2048)
    );
    let over = find("15h-headers-lease-body-2049.response.http");
    assert_eq!(
        (over.head.framing, over.body.len()),
        (BodyFraming::Chunked, 2049)
    );
    let throttled = find("16a-probe-under-pressure.response.http");
    assert_eq!(
        throttled.body,
        b"Too many requests, please try again later.\n"
    );
}

#[test]
fn head_only_captures_are_truncated_not_successful() {
    let head_only: Vec<_> = all_recorded()
        .into_iter()
        .filter(|r| r.head_only.is_some())
        .collect();
    assert_eq!(head_only.len(), 6, "15a-15f");
    for r in head_only {
        let announced = r.head_only.unwrap();
        if let Some(n) = r.head.content_length {
            assert_eq!(n, announced, "{}", r.name);
        }
        // Head, then the connection closes: the body is missing.
        let o = drive_whole(&r.head_bytes);
        assert_eq!(o.heads, vec![r.head], "{}", r.name);
        assert_eq!(
            o.end,
            Err(ReadError::Body(BodyError::Truncated)),
            "{}",
            r.name
        );
        // The file as stored (head plus the recorder's note) is no complete response either.
        let file = std::fs::read(
            testdata(r.name.split('/').next().unwrap()).join(r.name.split('/').nth(1).unwrap()),
        )
        .unwrap();
        let o = drive_whole(&file);
        let expected = if r.head.chunked {
            ReadError::Body(BodyError::InvalidChunkSize)
        } else {
            ReadError::Body(BodyError::Truncated)
        };
        assert_eq!(o.end, Err(expected), "{}", r.name);
    }
}

#[test]
fn keep_alive_recording_holds_three_responses() {
    let bytes =
        std::fs::read(testdata("recorded-compact").join("10-keepalive-3-requests.response.http"))
            .unwrap();
    let parts = split_recording("10", &bytes);
    let framings: Vec<_> = parts.iter().map(|r| r.head.framing).collect();
    assert_eq!(
        framings,
        [
            BodyFraming::ContentLength(365),
            BodyFraming::ContentLength(809),
            BodyFraming::Chunked
        ]
    );
    assert!(parts.iter().all(|r| r.head.keep_alive()));
    // Fed back to back to one reader, the second response is surplus for the first.
    let mut wire_all = Vec::new();
    for r in &parts {
        wire_all.extend_from_slice(&wire(r, &[1000]).0);
    }
    let mut rest = wire_all.clone();
    for r in &parts {
        let o = drive_whole(&rest);
        assert_eq!(o.body, r.body);
        let (reusable, left) = o.end.unwrap();
        assert_eq!(reusable, left.is_empty());
        rest = left;
    }
    assert!(rest.is_empty());

    let bytes =
        std::fs::read(testdata("recorded-compact").join("11-connection-close.response.http"))
            .unwrap();
    let parts = split_recording("11", &bytes);
    assert_eq!(parts.len(), 2);
    for r in &parts {
        assert!(r.head.connection_close);
        let o = drive_whole(&wire(r, &[100]).0);
        assert_eq!(
            o.end,
            Ok((false, Vec::new())),
            "Connection: close is never reused"
        );
    }
}

#[test]
fn interim_responses_are_skipped_in_place() {
    let w = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
    // All in one read: the reader must not ask for more while the final head is buffered.
    let o = drive_whole(w);
    assert_eq!(o.heads.len(), 1);
    assert_eq!(o.heads[0].status, 200);
    assert_eq!(
        (o.body.as_slice(), o.end),
        (&b"hi"[..], Ok((true, Vec::new())))
    );
    let bytewise = drive(ReaderLimits::default(), &w.chunks(1).collect::<Vec<_>>());
    assert_eq!(bytewise, drive_whole(w));
}

#[test]
fn upgrade_is_refused() {
    let o = drive_whole(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n");
    assert_eq!(o.end, Err(ReadError::UnexpectedUpgrade));
}

#[test]
fn eof_cases() {
    assert_eq!(drive_whole(b"").end, Err(ReadError::ClosedBeforeResponse));
    assert_eq!(
        drive_whole(b"HTTP/1.1 200").end,
        Err(ReadError::TruncatedHead)
    );
    // An until-close body is complete at EOF, and the connection is gone.
    let o = drive_whole(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nbye");
    assert_eq!(
        (o.body.as_slice(), o.end),
        (&b"bye"[..], Ok((false, Vec::new())))
    );
    // 204 without framing: done right after the head.
    let o = drive_whole(b"HTTP/1.1 204 No Content\r\nDate: x\r\n\r\n");
    assert_eq!((o.body.len(), o.end), (0, Ok((true, Vec::new()))));
}

#[test]
fn finish_after_end_is_fine_and_step_after_end_sees_surplus() {
    let mut reader = ResponseReader::new(ReaderLimits::default());
    let w = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx";
    let s = reader.step(w).unwrap();
    assert!(matches!(s.event, Event::Head(_)));
    let s2 = reader.step(&w[s.consumed..]).unwrap();
    assert_eq!(s2.event, Event::Body(b"x"));
    assert_eq!(
        reader.step(&[]).unwrap().event,
        Event::End { reusable: true }
    );
    assert_eq!(
        reader.step(&[]).unwrap().event,
        Event::End { reusable: true }
    );
    assert_eq!(reader.step(b"H"), Err(ReadError::SurplusBytes));
    assert_eq!(reader.finish(), Ok(()));
}

#[test]
fn head_bound_with_a_buffer_of_that_size() {
    let mut w = b"HTTP/1.1 200 OK\r\nX-Pad: ".to_vec();
    w.resize(3000, b'p');
    w.extend_from_slice(b"\r\nContent-Length: 0\r\n\r\n");
    let o = drive(ReaderLimits::default(), &w.chunks(100).collect::<Vec<_>>());
    assert_eq!(o.end, Err(ReadError::Head(HeadError::HeadTooLarge)));
    let small = ReaderLimits {
        max_head_len: 256,
        max_body_len: None,
    };
    let o = drive(small, &[&w]);
    assert_eq!(o.end, Err(ReadError::Head(HeadError::HeadTooLarge)));
}

#[test]
fn body_cap_from_the_limits() {
    let limits = ReaderLimits {
        max_head_len: BUF_LEN,
        max_body_len: Some(3),
    };
    let o = drive(
        limits,
        &[b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabcd"],
    );
    assert_eq!(o.end, Err(ReadError::Body(BodyError::BodyTooLarge)));
    let o = drive(
        limits,
        &[b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"],
    );
    assert_eq!(o.end, Ok((true, Vec::new())));
    let o = drive(
        limits,
        &[b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n"],
    );
    assert_eq!(
        (o.body.as_slice(), o.end),
        (&b"ab"[..], Err(ReadError::Body(BodyError::BodyTooLarge)))
    );
}

/// Splits `input` at the given cut points.
fn split<'a>(input: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    points.sort_unstable();
    let mut pieces = Vec::new();
    let mut last = 0;
    for p in points {
        pieces.push(&input[last..p]);
        last = p;
    }
    pieces.push(&input[last..]);
    pieces
}

fn recorded_wire() -> impl Strategy<Value = Vec<u8>> {
    let all: Vec<Recorded> = all_recorded()
        .into_iter()
        .filter(|r| r.head_only.is_none())
        .collect();
    (0..all.len(), proptest::collection::vec(1usize..5000, 1..5))
        .prop_map(move |(i, sizes)| wire(&all[i], &sizes).0)
}

/// A recorded wire image with a few bytes changed, cut or appended.
fn damaged_wire() -> impl Strategy<Value = Vec<u8>> {
    (
        recorded_wire(),
        proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
        proptest::option::of(any::<usize>()),
        proptest::collection::vec(any::<u8>(), 0..8),
    )
        .prop_map(|(mut w, edits, cut, tail)| {
            for (i, v) in edits {
                let i = i % w.len();
                w[i] = v;
            }
            if let Some(c) = cut {
                w.truncate(c % (w.len() + 1));
            }
            w.extend_from_slice(&tail);
            w
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn any_split_of_a_recorded_response_gives_the_same_result(
        w in recorded_wire(),
        cuts in proptest::collection::vec(any::<usize>(), 0..20),
    ) {
        let whole = drive_whole(&w);
        prop_assert!(whole.end.is_ok());
        prop_assert_eq!(drive(ReaderLimits::default(), &split(&w, &cuts)), whole);
    }

    #[test]
    fn any_split_of_a_damaged_response_gives_the_same_result(
        w in damaged_wire(),
        cuts in proptest::collection::vec(any::<usize>(), 0..20),
        cap in proptest::option::of(0u64..5000),
    ) {
        let limits = ReaderLimits { max_head_len: BUF_LEN, max_body_len: cap };
        prop_assert_eq!(drive(limits, &split(&w, &cuts)), drive(limits, &[&w]));
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..4000),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let _ = drive(ReaderLimits::default(), &split(&bytes, &cuts));
    }
}
