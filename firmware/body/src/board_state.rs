//! What the board knows about itself, in one place: the LED inputs and the sensor readings the
//! agent turns into conditions (DESIGN.md §8).
//!
//! Writers are the Wi-Fi task (associations, BSSID, link state), the Ethernet link task, the
//! configuration (its health) and the agent's LED mirror
//! (phase, API errors, requests in flight); readers are the LED task and the agent (through
//! [`BodyBoard`], the core's `runtime::Board`). The heap figures come from the board's
//! allocator through a [`HeapGauge`] (esp-alloc on a chip, a counting allocator on Linux).
//! Everything sits behind a critical-section mutex and is copied out, so no reader holds a lock across an await. Wi-Fi figures are running
//! totals: the core turns them into its rolling window and "since the last push" flags.
//!
//! This module only stores facts: what the LED shows, link and configuration health included,
//! is the core's `led::led_state`. A change of a fact the agent reads wakes it
//! (`Board::changed`); a change of the LED state wakes the LED task.

use core::{cell::RefCell, net::Ipv4Addr};

use embassy_sync::{
    blocking_mutex::{raw::CriticalSectionRawMutex, Mutex},
    signal::Signal,
};
use picokubelet_core::{
    agent::AgentPhase,
    led::{led_state, LedInputs, LedState, Link},
    runtime::{Board, BoardSnapshot},
};

use crate::net::{policy::UplinkKind, uplink::Uplinks};

struct Wifi {
    associations: u32,
    bssid: Option<[u8; 6]>,
    bssid_changes: u32,
    link_up: bool,
}

/// How the configuration went (see `crate::config`): the core's LED input.
pub use picokubelet_core::led::ConfigHealth;

struct Shared {
    wifi: Wifi,
    /// The uplink the agent's last connection went through.
    uplink: Option<UplinkKind>,
    /// Carrier of the W5500 (false on boards without one).
    ethernet_link_up: bool,
    config: ConfigHealth,
    /// The network was started: the link is reported from now on.
    network_started: bool,
    led: LedInputs,
}

impl Shared {
    fn link_up(&self) -> bool {
        self.wifi.link_up || self.ethernet_link_up
    }

    /// The LED's inputs: the agent's (mirrored into `led`) with this board's facts.
    fn shown(&self) -> LedState {
        let link = if !self.network_started {
            Link::NotReported
        } else if self.link_up() {
            Link::Up
        } else {
            Link::Down
        };
        led_state(&LedInputs {
            link,
            config: self.config,
            ..self.led
        })
    }
}

static SHARED: Mutex<CriticalSectionRawMutex, RefCell<Shared>> = Mutex::new(RefCell::new(Shared {
    wifi: Wifi {
        associations: 0,
        bssid: None,
        bssid_changes: 0,
        link_up: false,
    },
    uplink: None,
    ethernet_link_up: false,
    config: ConfigHealth::Fine,
    network_started: false,
    led: LedInputs {
        phase: AgentPhase::Booting,
        link: Link::NotReported,
        config: ConfigHealth::Fine,
        last_api_error: None,
        request_in_flight: false,
        warning: false,
        panicked: false,
    },
}));

/// Latest LED state for the LED task (a newer value overwrites an unread one).
static LED_STATE: Signal<CriticalSectionRawMutex, LedState> = Signal::new();

/// A reading the agent uses changed (associations, BSSID, link): wakes its status task.
static BOARD_CHANGED: Signal<CriticalSectionRawMutex, ()> = Signal::new();

/// Changes the shared state; a new LED state wakes the LED task.
fn update(change: impl FnOnce(&mut Shared)) {
    let (before, after) = SHARED.lock(|shared| {
        let mut shared = shared.borrow_mut();
        let before = shared.shown();
        change(&mut shared);
        (before, shared.shown())
    });
    if before != after {
        LED_STATE.signal(after);
    }
}

/// Changes the LED inputs (the agent's mirror, the Wi-Fi task).
pub fn update_led(change: impl FnOnce(&mut LedInputs)) {
    update(|shared| change(&mut shared.led));
}

/// Records how the configuration went (once, at boot).
pub fn record_config_health(health: ConfigHealth) {
    update(|shared| shared.config = health);
}

/// For the LED task: waits for the next state change.
pub async fn led_state_changed() -> LedState {
    LED_STATE.wait().await
}

/// The Wi-Fi task associated with `bssid`.
pub fn record_association(bssid: [u8; 6]) {
    SHARED.lock(|shared| {
        let wifi = &mut shared.borrow_mut().wifi;
        wifi.associations = wifi.associations.saturating_add(1);
        if wifi.bssid.is_some_and(|previous| previous != bssid) {
            wifi.bssid_changes = wifi.bssid_changes.saturating_add(1);
        }
        wifi.bssid = Some(bssid);
    });
    record_link(|shared| shared.wifi.link_up = true);
    BOARD_CHANGED.signal(());
}

/// The Wi-Fi task lost (or failed to get) the association.
pub fn record_wifi_down() {
    record_link(|shared| shared.wifi.link_up = false);
}

/// The W5500's carrier changed.
pub fn record_ethernet_link(up: bool) {
    record_link(|shared| shared.ethernet_link_up = up);
}

/// The agent's connector chose `kind` for its connection.
pub fn record_uplink(kind: UplinkKind) {
    SHARED.lock(|shared| shared.borrow_mut().uplink = Some(kind));
}

/// The network is being brought up: Booting ends, the LED follows the links from now on.
pub fn record_network_starting() {
    record_link(|_| {});
}

fn record_link(change: impl FnOnce(&mut Shared)) {
    update(|shared| {
        let before = shared.link_up();
        change(shared);
        shared.network_started = true;
        if shared.link_up() != before {
            BOARD_CHANGED.signal(());
        }
    });
}

/// What the board's allocator has, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeapFigures {
    pub free: usize,
    pub total: usize,
}

/// The board's heap, as its allocator counts it.
pub trait HeapGauge {
    fn figures(&self) -> HeapFigures;
}

/// The board's readings now: the heap as `heap` counts it (all regions) and the Wi-Fi counters.
pub fn snapshot(heap: &impl HeapGauge) -> BoardSnapshot {
    let HeapFigures { free, total } = heap.figures();
    SHARED.lock(|shared| {
        let shared = shared.borrow();
        BoardSnapshot {
            heap_free_bytes: u32::try_from(free).unwrap_or(u32::MAX),
            heap_total_bytes: u32::try_from(total).unwrap_or(u32::MAX),
            wifi_associations: shared.wifi.associations,
            bssid_changes: shared.wifi.bssid_changes,
            link_up: shared.link_up(),
            // Needs the stacks, which are not in this static: `BodyBoard::snapshot` fills it.
            ipv4: None,
        }
    })
}

/// The uplink the agent's last connection went through, if it connected yet.
pub fn uplink_in_use() -> Option<UplinkKind> {
    SHARED.lock(|shared| shared.borrow().uplink)
}

/// The core's view of this board (`runtime::Board`). Holds the stacks (not `Send`, so not in
/// the shared static) to read the current DHCP address, and the board's heap gauge.
#[derive(Clone, Copy)]
pub struct BodyBoard<H> {
    pub uplinks: Uplinks,
    pub heap: H,
}

impl<H> BodyBoard<H> {
    /// The uplink the agent uses (before its first connect: the one it would pick) and that
    /// uplink's DHCP address now.
    pub fn uplink(&self) -> Option<(UplinkKind, Option<Ipv4Addr>)> {
        let kind = uplink_in_use().or_else(|| self.uplinks.active().map(|(kind, _)| kind))?;
        Some((kind, self.uplinks.ipv4(kind)))
    }
}

impl<H: HeapGauge> Board for BodyBoard<H> {
    /// The shared readings plus the DHCP address of the uplink in use: when Ethernet and Wi-Fi
    /// trade places (or DHCP moves the board) the core pushes the new `InternalIP`.
    fn snapshot(&self) -> BoardSnapshot {
        BoardSnapshot {
            ipv4: self.uplink().and_then(|(_, address)| address),
            ..snapshot(&self.heap)
        }
    }

    /// Signalled by the Wi-Fi and Ethernet tasks (heap and DHCP changes are seen at the
    /// agent's regular condition check).
    async fn changed(&self) {
        BOARD_CHANGED.wait().await
    }
}
