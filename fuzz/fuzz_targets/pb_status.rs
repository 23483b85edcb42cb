#![no_main]
//! The protobuf `Status` reader (`k8s::pb_status`) fed as the client feeds it, in pieces whose
//! sizes come from the input: no panics, every text within its bound, and the same answer however
//! the body is split (the reader keeps no state that depends on where a piece ends).
use libfuzzer_sys::fuzz_target;
use picokubelet_core::k8s::pb_status::{read_status, StatusReader};
use picokubelet_core::k8s::response::{StatusResponse, MESSAGE_LEN, NAME_LEN, SHORT_LEN};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let piece = usize::from(sel % 31) + 1;
    let mut split = StatusResponse::default();
    let mut reader = StatusReader::new();
    for chunk in body.chunks(piece) {
        reader.feed(chunk, &mut split);
    }
    reader.finish(&mut split);
    let whole = read_status(body);
    assert_eq!(split, whole, "pieces of {piece}");
    assert!(whole.message.len() <= MESSAGE_LEN);
    assert!(whole.reason.len() <= SHORT_LEN && whole.status.len() <= SHORT_LEN);
    assert!(whole.kind.len() <= SHORT_LEN && whole.details_kind.len() <= SHORT_LEN);
    assert!(whole.details_name.len() <= NAME_LEN);
    // Without the magic nothing is read.
    if !body.starts_with(b"k8s\0") {
        assert!(whole.malformed);
        assert_eq!(whole.code, None);
    }
});
