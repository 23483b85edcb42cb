#![no_main]
//! Provisioning record parser: no panics on any input, and any record it accepts writes back to
//! bytes that parse to the same record. The input is tried as a whole record, and also as the
//! entries of a record with a correct header and CRC (random bytes almost never get a CRC right,
//! so without the second form the entry parser would hardly be reached).
use libfuzzer_sys::fuzz_target;
use picokubelet_core::provision::{crc32, parse, write, FORMAT_VERSION, MAGIC, MAX_RECORD_LEN};

fn round_trip(bytes: &[u8]) {
    if let Ok(record) = parse(bytes) {
        let mut out = [0u8; MAX_RECORD_LEN];
        let n = write(&record, &mut out).expect("a parsed record writes");
        let again = parse(out.get(..n).expect("n fits")).expect("a written record parses");
        assert_eq!(again, record);
    }
}

fuzz_target!(|data: &[u8]| {
    round_trip(data);
    let mut wrapped = [0u8; MAX_RECORD_LEN];
    let total = data.len() + 12;
    if total > MAX_RECORD_LEN {
        return;
    }
    wrapped[..4].copy_from_slice(&MAGIC);
    wrapped[4] = FORMAT_VERSION;
    wrapped[6..8].copy_from_slice(&(total as u16).to_le_bytes());
    wrapped[8..8 + data.len()].copy_from_slice(data);
    let crc = crc32(&wrapped[..total - 4]);
    wrapped[total - 4..total].copy_from_slice(&crc.to_le_bytes());
    round_trip(&wrapped[..total]);
});
