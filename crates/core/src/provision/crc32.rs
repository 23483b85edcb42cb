//! CRC-32 (IEEE 802.3, the zlib/PNG one: reflected polynomial 0xEDB88320, initial and final
//! XOR 0xFFFFFFFF). Bitwise and table-free: a record is at most 8 KiB and is checked once per
//! boot, so 1 KiB of table in flash buys nothing.

/// The CRC-32 of `data`. `crc32(b"123456789") == 0xCBF4_3926` (the standard check value).
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::crc32;

    #[test]
    fn standard_check_values() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"a"), 0xE8B7_BE43);
    }
}
