//! Networking: the board's uplinks (Ethernet and/or Wi-Fi, each its own embassy-net stack with
//! DHCP, created by the board with its driver) and the choice between them (`policy`,
//! `uplink`). The agent's connector (`crate::connector`) asks [`uplink::Uplinks::active`] on
//! every connect.

pub mod policy;
pub mod uplink;

/// Sockets per stack: DHCP, DNS, one TCP connection, one spare.
pub const STACK_SOCKETS: usize = 4;

/// Formats a MAC address / BSSID as `aa:bb:cc:dd:ee:ff`.
pub struct Mac<'a>(pub &'a [u8; 6]);

impl core::fmt::Display for Mac<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let [a, b, c, d, e, g] = *self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

/// The Ethernet MAC from the base (Wi-Fi station) MAC: locally administered, last byte + 3 (as
/// ESP-IDF offsets its Ethernet MAC), so it differs from the station's and the soft AP's.
pub fn ethernet_mac(base: [u8; 6]) -> [u8; 6] {
    let [a, b, c, d, e, f] = base;
    [a | 0x02, b, c, d, e, f.wrapping_add(3)]
}
