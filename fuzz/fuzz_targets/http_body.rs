#![no_main]
//! Body decoder (chunked and Content-Length): the first byte picks the framing and the split
//! points; the decoder must never panic, never return a body range outside its input, and never
//! deliver more than a Content-Length.
use libfuzzer_sys::fuzz_target;
use picokubelet_core::http::body::{BodyDecoder, BodyFraming};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let framing = match sel % 3 {
        0 => BodyFraming::Chunked,
        1 => BodyFraming::ContentLength(u64::from(sel)),
        _ => BodyFraming::UntilClose,
    };
    let cap = if sel & 0x80 != 0 { Some(64) } else { None };
    let mut dec = BodyDecoder::new(framing, cap);
    let step = usize::from(sel % 7) + 1;
    let mut delivered = 0u64;
    let mut input = rest;
    while !input.is_empty() {
        let piece = &input[..step.min(input.len())];
        match dec.decode(piece) {
            Ok(d) => {
                assert!(d.consumed <= piece.len());
                assert!(d.body.end <= piece.len() && d.body.start <= d.body.end);
                delivered += (d.body.end - d.body.start) as u64;
                if d.done {
                    break;
                }
                input = &input[d.consumed.max(1).min(input.len())..];
            }
            Err(_) => return,
        }
    }
    if let BodyFraming::ContentLength(n) = framing {
        assert!(delivered <= n);
    }
    if let Some(c) = cap {
        assert!(delivered <= c);
    }
    let _ = dec.finish();
});
