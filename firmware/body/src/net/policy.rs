//! Which uplink the agent's next connection goes through — pure, no hardware (host-tested in
//! `firmware/host-tests`).
//!
//! Ethernet is preferred whenever its carrier is up and DHCP gave it an IPv4 configuration;
//! otherwise Wi-Fi, when it has an IPv4 configuration; otherwise none (the connect fails and the
//! agent backs off and tries again). The decision is taken per connect, so a session that
//! breaks (cable pulled: the next request times out) reconnects over the other uplink, and a
//! returning cable is used from the next reconnect on.

/// One of the board's network interfaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UplinkKind {
    /// Wired: a W5500 over SPI on a chip, a TAP device on the tap board.
    Ethernet,
    /// Wi-Fi: the esp-radio station on a chip, a second TAP device on the tap board.
    Wifi,
}

/// What an uplink looks like right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Readiness {
    /// Carrier (Ethernet) or association (Wi-Fi) as embassy-net sees it.
    pub link_up: bool,
    /// DHCP gave an IPv4 configuration.
    pub has_ipv4: bool,
}

impl Readiness {
    fn usable(self) -> bool {
        self.link_up && self.has_ipv4
    }
}

/// The uplink to use; `None` for an absent uplink (no W5500 on the board, no Wi-Fi
/// credentials).
pub fn choose_uplink(ethernet: Option<Readiness>, wifi: Option<Readiness>) -> Option<UplinkKind> {
    if ethernet.is_some_and(Readiness::usable) {
        Some(UplinkKind::Ethernet)
    } else if wifi.is_some_and(Readiness::usable) {
        Some(UplinkKind::Wifi)
    } else {
        None
    }
}
