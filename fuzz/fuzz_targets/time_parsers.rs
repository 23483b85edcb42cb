#![no_main]
//! `Date:` and RFC 3339 parsers: no panics, and anything accepted formats back to a value that
//! parses to the same instant.
use libfuzzer_sys::fuzz_target;
use picokubelet_core::time::{format_microtime, parse_imf_fixdate, parse_rfc3339, MICROTIME_LEN};

fuzz_target!(|data: &[u8]| {
    if let Ok(t) = parse_imf_fixdate(data) {
        assert_eq!(t.subsec_micros(), 0);
    }
    if let Ok(t) = parse_rfc3339(data) {
        let mut out = [0u8; MICROTIME_LEN];
        let s = format_microtime(t, &mut out);
        assert_eq!(parse_rfc3339(s.as_bytes()), Ok(t));
    }
});
