//! Networking: the Wi-Fi and Ethernet uplinks, each with its own embassy-net stack and DHCP,
//! and the choice between them (`policy`, `uplink`). The agent's connector (`crate::body`)
//! asks [`uplink::Uplinks::active`] on every connect.

pub mod ethernet;
pub mod policy;
pub mod uplink;
pub mod wifi;

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
