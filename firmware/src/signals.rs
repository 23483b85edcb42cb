//! What the board knows about itself, in one place: the LED inputs and the sensor readings the
//! agent turns into conditions (DESIGN.md §8).
//!
//! Writers are the Wi-Fi task (associations, BSSID, link state) and the agent's LED mirror
//! (phase, API errors, requests in flight); readers are the LED task and the agent (through
//! [`EspBoard`], the core's `runtime::Board`). Everything sits behind a critical-section mutex
//! and is copied out, so no reader holds a lock across an await. Wi-Fi figures are running
//! totals: the core turns them into its rolling window and "since the last push" flags.

use core::cell::RefCell;

use embassy_sync::{
    blocking_mutex::{raw::CriticalSectionRawMutex, Mutex},
    signal::Signal,
};
use picokubelet_core::{
    led::{led_state, AgentPhase, LedInputs, LedState},
    runtime::{Board, BoardSnapshot},
};

struct Wifi {
    associations: u32,
    bssid: Option<[u8; 6]>,
    bssid_changes: u32,
    link_up: bool,
}

struct Shared {
    wifi: Wifi,
    led: LedInputs,
}

static SHARED: Mutex<CriticalSectionRawMutex, RefCell<Shared>> = Mutex::new(RefCell::new(Shared {
    wifi: Wifi {
        associations: 0,
        bssid: None,
        bssid_changes: 0,
        link_up: false,
    },
    led: LedInputs {
        phase: AgentPhase::Booting,
        last_api_error: None,
        request_in_flight: false,
        warning: false,
        panicked: false,
    },
}));

/// Latest LED state for the LED task (a newer value overwrites an unread one).
static LED_STATE: Signal<CriticalSectionRawMutex, LedState> = Signal::new();

/// Changes the LED inputs; the LED task picks up the resulting state within one frame.
pub fn update_led(change: impl FnOnce(&mut LedInputs)) {
    let (before, after) = SHARED.lock(|shared| {
        let mut shared = shared.borrow_mut();
        let before = led_state(&shared.led);
        change(&mut shared.led);
        // However the agent sees it, a board without a link shows "disconnected".
        if !shared.wifi.link_up && shared.led.phase != AgentPhase::Booting {
            shared.led.phase = AgentPhase::LinkDown;
        }
        (before, led_state(&shared.led))
    });
    if before != after {
        LED_STATE.signal(after);
    }
}

/// For the LED task: the new state if it changed since the last call.
pub(crate) fn led_state_changed() -> Option<LedState> {
    LED_STATE.try_take()
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
        wifi.link_up = true;
    });
    update_led(|led| {
        if matches!(led.phase, AgentPhase::Booting | AgentPhase::LinkDown) {
            led.phase = AgentPhase::Connecting;
        }
    });
}

/// The Wi-Fi task lost (or failed to get) the association.
pub fn record_link_down() {
    SHARED.lock(|shared| shared.borrow_mut().wifi.link_up = false);
    update_led(|led| led.phase = AgentPhase::LinkDown);
}

/// The board's readings now: esp-alloc heap statistics (all regions) and the Wi-Fi counters.
pub fn snapshot() -> BoardSnapshot {
    let heap = esp_alloc::HEAP.stats();
    let total = heap.size;
    let free = total.saturating_sub(heap.current_usage);
    SHARED.lock(|shared| {
        let wifi = &shared.borrow().wifi;
        BoardSnapshot {
            heap_free_bytes: u32::try_from(free).unwrap_or(u32::MAX),
            heap_total_bytes: u32::try_from(total).unwrap_or(u32::MAX),
            wifi_associations: wifi.associations,
            bssid_changes: wifi.bssid_changes,
            link_up: wifi.link_up,
            // Filled from the uplink's DHCP lease once the network module reports it.
            ipv4: None,
        }
    })
}

/// The core's view of this board (`runtime::Board`).
#[derive(Clone, Copy, Debug, Default)]
pub struct EspBoard;

impl Board for EspBoard {
    fn snapshot(&self) -> BoardSnapshot {
        snapshot()
    }
}
