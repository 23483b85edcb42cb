//! The board's uplinks (Ethernet and/or Wi-Fi, each an embassy-net stack) and which one is in
//! use now (the rule is `super::policy`).

use core::net::Ipv4Addr;

use embassy_futures::select::{select, Either};
use embassy_net::Stack;
use embassy_time::{Duration, Timer};

use super::policy::{choose_uplink, Readiness, UplinkKind};

/// How often [`Uplinks::wait_usable`] looks again.
const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// The stacks the board brought up. `Copy`: an embassy-net `Stack` is a handle.
#[derive(Clone, Copy)]
pub struct Uplinks {
    pub ethernet: Option<Stack<'static>>,
    pub wifi: Option<Stack<'static>>,
}

fn readiness(stack: Stack<'static>) -> Readiness {
    Readiness {
        link_up: stack.is_link_up(),
        has_ipv4: stack.config_v4().is_some(),
    }
}

impl Uplinks {
    /// The stack of `kind`, if the board has it.
    pub fn stack(&self, kind: UplinkKind) -> Option<Stack<'static>> {
        match kind {
            UplinkKind::Ethernet => self.ethernet,
            UplinkKind::Wifi => self.wifi,
        }
    }

    /// The uplink to connect through now, by `policy::choose_uplink`.
    pub fn active(&self) -> Option<(UplinkKind, Stack<'static>)> {
        let kind = choose_uplink(self.ethernet.map(readiness), self.wifi.map(readiness))?;
        Some((kind, self.stack(kind)?))
    }

    /// The DHCP address of `kind`, if it has one.
    pub fn ipv4(&self, kind: UplinkKind) -> Option<Ipv4Addr> {
        Some(self.stack(kind)?.config_v4()?.address.address())
    }

    /// Waits up to `timeout` for the Ethernet carrier (autonegotiation takes seconds after
    /// power-up). False without Ethernet or when it did not come up in time.
    pub async fn wait_ethernet_link(&self, timeout: Duration) -> bool {
        match self.ethernet {
            Some(stack) => matches!(
                select(stack.wait_link_up(), Timer::after(timeout)).await,
                Either::First(())
            ),
            None => false,
        }
    }

    /// Waits until some uplink is usable (link and IPv4) and returns it.
    pub async fn wait_usable(&self) -> (UplinkKind, Stack<'static>) {
        loop {
            if let Some(active) = self.active() {
                return active;
            }
            Timer::after(POLL_INTERVAL).await;
        }
    }
}
