#![no_main]
//! Response head parser: arbitrary bytes must give a head or a typed error, never a panic, and a
//! parsed head never claims more bytes than it was given.
use libfuzzer_sys::fuzz_target;
use picokubelet_core::http::response::{parse_response_head, DEFAULT_MAX_HEAD_LEN};

fuzz_target!(|data: &[u8]| {
    if let Ok(head) = parse_response_head(data, DEFAULT_MAX_HEAD_LEN) {
        assert!(head.head_len <= data.len());
        assert!(head.head_len <= DEFAULT_MAX_HEAD_LEN);
    }
});
