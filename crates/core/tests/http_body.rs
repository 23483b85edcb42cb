//! Body framing decoder: Content-Length, chunked, until-close; every bound; any input split.

use picokubelet_core::http::body::{
    BodyDecoder, BodyError, BodyFraming, MAX_CHUNK_LINE_LEN, MAX_TRAILER_LEN,
};
use proptest::prelude::*;

/// What feeding a whole input produced: the body and either the bytes after its end or the error.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    body: Vec<u8>,
    result: Result<Vec<u8>, BodyError>,
}

/// Feeds `pieces` one after the other as a caller with a growing receive buffer would, then
/// signals EOF if the body is not done.
fn feed(framing: BodyFraming, cap: Option<u64>, pieces: &[&[u8]]) -> Outcome {
    let mut decoder = BodyDecoder::new(framing, cap);
    let mut body = Vec::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut next = 0;
    loop {
        match decoder.decode(&pending) {
            Err(e) => {
                return Outcome {
                    body,
                    result: Err(e),
                }
            }
            Ok(step) => {
                assert!(step.body.end <= step.consumed && step.consumed <= pending.len());
                // Either progress or a request for more input: never a stall.
                assert!(step.done || step.consumed > 0 || pending.is_empty());
                body.extend_from_slice(&pending[step.body.clone()]);
                pending.drain(..step.consumed);
                if step.done {
                    let mut rest = pending.clone();
                    for p in &pieces[next..] {
                        rest.extend_from_slice(p);
                    }
                    assert!(decoder.is_done());
                    assert_eq!(decoder.delivered(), body.len() as u64);
                    return Outcome {
                        body,
                        result: Ok(rest),
                    };
                }
                if pending.is_empty() {
                    match pieces.get(next) {
                        Some(p) => {
                            pending.extend_from_slice(p);
                            next += 1;
                        }
                        None => {
                            let result = decoder.finish().map(|()| Vec::new());
                            return Outcome { body, result };
                        }
                    }
                }
            }
        }
    }
}

fn whole(framing: BodyFraming, input: &[u8]) -> Outcome {
    feed(framing, None, &[input])
}

fn bytewise(framing: BodyFraming, input: &[u8]) -> Outcome {
    let pieces: Vec<&[u8]> = input.chunks(1).collect();
    feed(framing, None, &pieces)
}

/// Chunked encoding of `body` with chunks of the given sizes (cycled), plus `trailer` lines.
fn chunk(body: &[u8], sizes: &[usize], trailer: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = body;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes[i % sizes.len()].clamp(1, rest.len());
        out.extend_from_slice(format!("{n:x}\r\n").as_bytes());
        out.extend_from_slice(&rest[..n]);
        out.extend_from_slice(b"\r\n");
        rest = &rest[n..];
        i += 1;
    }
    out.extend_from_slice(b"0\r\n");
    out.extend_from_slice(trailer);
    out.extend_from_slice(b"\r\n");
    out
}

#[test]
fn content_length_delivers_exactly_and_leaves_the_rest() {
    for o in [
        whole(BodyFraming::ContentLength(5), b"helloHTTP/1.1"),
        bytewise(BodyFraming::ContentLength(5), b"helloHTTP/1.1"),
    ] {
        assert_eq!(o.body, b"hello");
        assert_eq!(o.result, Ok(b"HTTP/1.1".to_vec()));
    }
}

#[test]
fn content_length_short_input_is_truncated() {
    let o = whole(
        BodyFraming::ContentLength(809),
        b"# body bytes received: 809\n",
    );
    assert_eq!(o.body.len(), 27);
    assert_eq!(o.result, Err(BodyError::Truncated));
}

#[test]
fn empty_and_zero_length_bodies_are_done_at_once() {
    for framing in [BodyFraming::Empty, BodyFraming::ContentLength(0)] {
        let mut d = BodyDecoder::new(framing, Some(0));
        assert!(d.is_done());
        let step = d.decode(b"HTTP/1.1 200 OK").unwrap();
        assert_eq!((step.consumed, step.body, step.done), (0, 0..0, true));
        assert_eq!(d.finish(), Ok(()));
    }
}

#[test]
fn until_close_ends_at_eof_only() {
    let o = whole(BodyFraming::UntilClose, b"all of it");
    assert_eq!(o.body, b"all of it");
    assert_eq!(o.result, Ok(Vec::new()));
}

#[test]
fn chunked_decodes_extensions_and_skips_trailers() {
    let input = b"4;a=b;c\r\nWiki\r\n5\t;x=\"y\"\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nExpires: never\r\nX: y\r\n\r\nNEXT";
    for o in [
        whole(BodyFraming::Chunked, input),
        bytewise(BodyFraming::Chunked, input),
    ] {
        assert_eq!(o.body, b"Wikipedia in\r\n\r\nchunks.");
        assert_eq!(o.result, Ok(b"NEXT".to_vec()));
    }
}

#[test]
fn chunked_without_trailers_ends_after_last_crlf() {
    let o = whole(BodyFraming::Chunked, b"3\r\nabc\r\n0\r\n\r\n");
    assert_eq!(o.body, b"abc");
    assert_eq!(o.result, Ok(Vec::new()));
    // Missing final CRLF: not done.
    let o = whole(BodyFraming::Chunked, b"3\r\nabc\r\n0\r\n");
    assert_eq!(o.result, Err(BodyError::Truncated));
}

#[test]
fn chunked_syntax_errors() {
    use BodyError::*;
    for (input, err) in [
        (&b"\r\n"[..], InvalidChunkSize),
        (b"g\r\n", InvalidChunkSize),
        (b";ext\r\n", InvalidChunkSize),
        (b"-1\r\n", InvalidChunkSize),
        (b"0x3\r\nabc\r\n", InvalidChunkSize),
        (b"3 3\r\n", InvalidChunkSize),
        (b"3;\x01\r\n", InvalidChunkSize),
        (b"3\n", BadLineEnding),
        (b"3;e\n", BadLineEnding),
        (b"3\rX", BadLineEnding),
        (b"3\r\nabcX", BadLineEnding),
        (b"3\r\nabc\rX", BadLineEnding),
        (b"3\r\nabc\n", BadLineEnding),
        (b"0\r\nX: y\n", BadLineEnding),
        (b"0\r\nX: \x00\r\n\r\n", MalformedTrailer),
        (b"0\r\n\rX", BadLineEnding),
    ] {
        assert_eq!(
            whole(BodyFraming::Chunked, input).result,
            Err(err),
            "{input:?}"
        );
        assert_eq!(
            bytewise(BodyFraming::Chunked, input).result,
            Err(err),
            "{input:?}"
        );
    }
}

#[test]
fn chunk_size_overflow_is_detected() {
    // 16 hex digits fit in u64 (the size line itself is fine; the data is then truncated).
    let o = whole(BodyFraming::Chunked, b"ffffffffffffffff\r\nab");
    assert_eq!(o.body, b"ab");
    assert_eq!(o.result, Err(BodyError::Truncated));
    let o = whole(BodyFraming::Chunked, b"10000000000000000\r\n");
    assert_eq!(o.result, Err(BodyError::ChunkSizeOverflow));
    // Leading zeros do not count towards overflow.
    let mut line = vec![b'0'; 100];
    line.extend_from_slice(b"3\r\nabc\r\n0\r\n\r\n");
    assert_eq!(whole(BodyFraming::Chunked, &line).body, b"abc");
}

#[test]
fn chunk_line_length_bound() {
    let line = |len: usize| {
        // "3" plus an extension padded to `len` bytes before the CRLF.
        let mut l = b"3;".to_vec();
        l.resize(len, b'x');
        l.extend_from_slice(b"\r\nabc\r\n0\r\n\r\n");
        l
    };
    let at_bound = line(MAX_CHUNK_LINE_LEN);
    assert_eq!(whole(BodyFraming::Chunked, &at_bound).body, b"abc");
    let over = line(MAX_CHUNK_LINE_LEN + 1);
    assert_eq!(
        whole(BodyFraming::Chunked, &over).result,
        Err(BodyError::ChunkLineTooLong)
    );
    // Digits count too.
    let mut zeros = vec![b'0'; MAX_CHUNK_LINE_LEN + 1];
    zeros.extend_from_slice(b"\r\n");
    assert_eq!(
        bytewise(BodyFraming::Chunked, &zeros).result,
        Err(BodyError::ChunkLineTooLong)
    );
}

#[test]
fn trailer_section_bound() {
    // The bound counts every trailer byte including the final CRLF.
    let with_trailer = |total: usize| {
        let mut t = b"X: ".to_vec();
        t.resize(total - 4, b'y');
        t.extend_from_slice(b"\r\n");
        chunk(b"abc", &[3], &t)
    };
    let at_bound = with_trailer(MAX_TRAILER_LEN);
    let o = whole(BodyFraming::Chunked, &at_bound);
    assert_eq!((o.body.as_slice(), o.result), (&b"abc"[..], Ok(Vec::new())));
    let over = with_trailer(MAX_TRAILER_LEN + 1);
    assert_eq!(
        whole(BodyFraming::Chunked, &over).result,
        Err(BodyError::TrailersTooLarge)
    );
}

#[test]
fn body_cap_is_enforced_for_every_framing() {
    let cap = Some(4);
    // Content-Length over the cap fails before any byte is delivered.
    let o = feed(BodyFraming::ContentLength(5), cap, &[b"hello"]);
    assert_eq!((o.body.len(), o.result), (0, Err(BodyError::BodyTooLarge)));
    let o = feed(BodyFraming::ContentLength(4), cap, &[b"hell"]);
    assert_eq!(
        (o.body.as_slice(), o.result),
        (&b"hell"[..], Ok(Vec::new()))
    );
    // Chunked: the chunk that would cross the cap is refused at its size line.
    let o = feed(BodyFraming::Chunked, cap, &[&chunk(b"hello", &[2], b"")]);
    assert_eq!(
        (o.body.as_slice(), o.result),
        (&b"hell"[..], Err(BodyError::BodyTooLarge))
    );
    let o = feed(BodyFraming::Chunked, cap, &[&chunk(b"hell", &[3], b"")]);
    assert_eq!(
        (o.body.as_slice(), o.result),
        (&b"hell"[..], Ok(Vec::new()))
    );
    // Until close: the first `cap` bytes are delivered, the next one is refused.
    let o = feed(BodyFraming::UntilClose, cap, &[b"hel", b"lo"]);
    assert_eq!(
        (o.body.as_slice(), o.result),
        (&b"hell"[..], Err(BodyError::BodyTooLarge))
    );
    let o = feed(BodyFraming::UntilClose, cap, &[b"he", b"ll"]);
    assert_eq!(
        (o.body.as_slice(), o.result),
        (&b"hell"[..], Ok(Vec::new()))
    );
}

#[test]
fn finish_mid_chunk_is_truncated() {
    let o = whole(BodyFraming::Chunked, b"5\r\nabc");
    assert_eq!(
        (o.body.as_slice(), o.result),
        (&b"abc"[..], Err(BodyError::Truncated))
    );
}

fn framing() -> impl Strategy<Value = BodyFraming> {
    prop_oneof![
        Just(BodyFraming::Empty),
        (0u64..64).prop_map(BodyFraming::ContentLength),
        Just(BodyFraming::Chunked),
        Just(BodyFraming::UntilClose),
    ]
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

proptest! {
    #[test]
    fn chunked_round_trips_any_chunking(
        body in proptest::collection::vec(any::<u8>(), 0..3000),
        sizes in proptest::collection::vec(1usize..600, 1..8),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        let wire = chunk(&body, &sizes, b"");
        let o = feed(BodyFraming::Chunked, None, &split(&wire, &cuts));
        prop_assert_eq!(o.body, body);
        prop_assert_eq!(o.result, Ok(Vec::new()));
    }

    #[test]
    fn any_split_gives_the_same_outcome(
        framing in framing(),
        cap in proptest::option::of(0u64..80),
        input in proptest::collection::vec(
            prop_oneof![Just(b'\r'), Just(b'\n'), Just(b'0'), Just(b'3'), Just(b';'), Just(b' '), any::<u8>()],
            0..120),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        let reference = feed(framing, cap, &[&input]);
        prop_assert_eq!(feed(framing, cap, &split(&input, &cuts)), reference);
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        framing in framing(),
        input in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let pieces: Vec<&[u8]> = input.chunks(1).collect();
        let _ = feed(framing, Some(100), &pieces);
        let _ = feed(framing, None, &[&input]);
    }
}
