#![no_main]
//! Whole-response reader driven like the client drives it, over a fixed 2048-byte receive buffer
//! refilled in pieces whose sizes come from the input: no panics, no infinite loops, bounded work.
use libfuzzer_sys::fuzz_target;
use picokubelet_core::http::reader::{Event, ReaderLimits, ResponseReader};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, wire)) = data.split_first() else {
        return;
    };
    let piece = usize::from(sel % 61) + 1;
    let mut reader = ResponseReader::new(ReaderLimits {
        max_head_len: 2048,
        max_body_len: Some(1 << 16),
    });
    let mut buf = [0u8; 2048];
    let mut filled = 0usize;
    let mut offered = 0usize;
    for _ in 0..100_000 {
        let step = match reader.step(&buf[..filled]) {
            Ok(s) => s,
            Err(_) => return,
        };
        let consumed = step.consumed;
        assert!(consumed <= filled);
        let need_more = match step.event {
            Event::End { .. } => return,
            Event::NeedMore => true,
            _ => false,
        };
        buf.copy_within(consumed..filled, 0);
        filled -= consumed;
        if need_more {
            let n = piece.min(wire.len() - offered).min(buf.len() - filled);
            if n == 0 {
                let _ = reader.finish();
                return;
            }
            buf[filled..filled + n].copy_from_slice(&wire[offered..offered + n]);
            filled += n;
            offered += n;
        }
    }
    panic!("reader made no progress");
});
