//! The machine ID, system UUID and boot ID a Node reports, derived from the MAC and the boot's
//! random bytes.

/// Length of a UUID in text form.
pub const UUID_TEXT_LEN: usize = 36;
/// Length of a machine ID (32 lowercase hex digits, as systemd's machine-id).
pub const MACHINE_ID_LEN: usize = 32;

/// The IDs the Node reports in `status.nodeInfo`, as text.
///
/// * `systemUUID` is an RFC 9562 version-8 UUID derived from the board's MAC only, so it is the
///   same on every boot: the first eight bytes are ASCII `picokube` (with the version nibble set
///   to 8: `7069636f-6b75-8265-…`), then the variant bits `80 00`, then the six MAC bytes in the
///   node field, where UUID version 1 keeps the MAC too. `24:0a:c4:12:34:56` gives
///   `7069636f-6b75-8265-8000-240ac4123456`.
/// * `machineID` is the same 16 bytes as 32 hex digits without dashes.
/// * `bootID` is a version-4 UUID from 16 random bytes the caller draws at boot (the version and
///   variant bits are overwritten, the other 122 bits are kept).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeIds {
    machine_id: [u8; MACHINE_ID_LEN],
    system_uuid: [u8; UUID_TEXT_LEN],
    boot_id: [u8; UUID_TEXT_LEN],
}

impl NodeIds {
    /// Derives the IDs; see the type's documentation for the layout.
    pub fn new(mac: [u8; 6], boot_random: [u8; 16]) -> Self {
        let mut system = *b"picokube\x80\x00\0\0\0\0\0\0";
        for (dst, src) in system.iter_mut().skip(10).zip(mac) {
            *dst = src;
        }
        set_version_and_variant(&mut system, 8);
        let mut boot = boot_random;
        set_version_and_variant(&mut boot, 4);
        let mut machine_id = [0u8; MACHINE_ID_LEN];
        for (pair, byte) in machine_id.chunks_exact_mut(2).zip(system) {
            put_hex_byte(pair, byte);
        }
        NodeIds {
            machine_id,
            system_uuid: uuid_text(&system),
            boot_id: uuid_text(&boot),
        }
    }

    /// `status.nodeInfo.machineID`.
    pub fn machine_id(&self) -> &str {
        ascii(&self.machine_id)
    }

    /// `status.nodeInfo.systemUUID`.
    pub fn system_uuid(&self) -> &str {
        ascii(&self.system_uuid)
    }

    /// `status.nodeInfo.bootID`.
    pub fn boot_id(&self) -> &str {
        ascii(&self.boot_id)
    }
}

fn set_version_and_variant(bytes: &mut [u8; 16], version: u8) {
    bytes[6] = (bytes[6] & 0x0f) | (version << 4);
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
}

fn put_hex_byte(out: &mut [u8], b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    if let [hi, lo] = out {
        *hi = HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0');
        *lo = HEX.get(usize::from(b & 0x0f)).copied().unwrap_or(b'0');
    }
}

fn uuid_text(bytes: &[u8; 16]) -> [u8; UUID_TEXT_LEN] {
    let mut out = [b'-'; UUID_TEXT_LEN];
    let mut at = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            at += 1;
        }
        if let Some(pair) = out.get_mut(at..at + 2) {
            put_hex_byte(pair, b);
        }
        at += 2;
    }
    out
}

fn ascii(bytes: &[u8]) -> &str {
    // Only ever hex digits and dashes.
    core::str::from_utf8(bytes).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_deterministic_and_well_formed() {
        let mac = [0x24, 0x0a, 0xc4, 0x12, 0x34, 0x56];
        let ids = NodeIds::new(mac, [0xff; 16]);
        assert_eq!(ids.system_uuid(), "7069636f-6b75-8265-8000-240ac4123456");
        assert_eq!(ids.machine_id(), "7069636f6b7582658000240ac4123456");
        assert_eq!(ids.boot_id(), "ffffffff-ffff-4fff-bfff-ffffffffffff");
        let zero = NodeIds::new(mac, [0; 16]);
        assert_eq!(zero.boot_id(), "00000000-0000-4000-8000-000000000000");
        assert_eq!(zero.system_uuid(), ids.system_uuid());
        let other = NodeIds::new([0x24, 0x0a, 0xc4, 0x12, 0x34, 0x57], [0; 16]);
        assert_ne!(other.machine_id(), ids.machine_id());
    }
}
