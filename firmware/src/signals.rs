//! What the board knows about itself, in one place: the LED inputs and the sensor readings the
//! agent turns into conditions (DESIGN.md §8).
//!
//! Writers are the Wi-Fi task (associations, BSSID, link state) and the agent/probe (phase, API
//! errors, requests in flight); readers are the LED task and the agent. Everything sits behind
//! a critical-section mutex and is copied out, so no reader ever holds a lock across an await.

use core::cell::RefCell;

use embassy_sync::{
    blocking_mutex::{raw::CriticalSectionRawMutex, Mutex},
    signal::Signal,
};
use embassy_time::{Duration, Instant};
use picokubelet_core::led::{led_state, AgentPhase, LedInputs, LedState};

/// The rolling window Vibes counts associations in.
pub const ASSOCIATION_WINDOW: Duration = Duration::from_secs(5 * 60);
/// Associations remembered for the window. The conditions only distinguish "< 3" from "≥ 3",
/// so 8 is plenty; more than 8 in 5 minutes reads as 8.
pub const ASSOCIATION_HISTORY: usize = 8;

/// A copy of the board's readings at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BoardSnapshot {
    /// Free heap (esp-alloc, all regions), bytes.
    pub heap_free: usize,
    /// Heap size (esp-alloc, all regions), bytes.
    pub heap_total: usize,
    /// Time since boot (embassy-time).
    pub uptime: Duration,
    /// Wi-Fi associations within the last [`ASSOCIATION_WINDOW`] (at most [`ASSOCIATION_HISTORY`]).
    pub associations_in_window: u8,
    /// Wi-Fi associations since boot.
    pub associations_total: u32,
    /// Times the station associated with a different BSSID than the previous time, since
    /// boot. Monotonic: the agent remembers the value it last pushed and compares.
    pub bssid_changes: u32,
    /// The station is associated now.
    pub link_up: bool,
}

struct WifiHistory {
    /// Ring of the most recent association times; `None` = never.
    recent: [Option<Instant>; ASSOCIATION_HISTORY],
    next: usize,
    total: u32,
    bssid: Option<[u8; 6]>,
    bssid_changes: u32,
    link_up: bool,
}

struct Board {
    wifi: WifiHistory,
    led: LedInputs,
}

static BOARD: Mutex<CriticalSectionRawMutex, RefCell<Board>> = Mutex::new(RefCell::new(Board {
    wifi: WifiHistory {
        recent: [None; ASSOCIATION_HISTORY],
        next: 0,
        total: 0,
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
    let (before, after) = BOARD.lock(|board| {
        let mut board = board.borrow_mut();
        let before = led_state(&board.led);
        change(&mut board.led);
        (before, led_state(&board.led))
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
    let now = Instant::now();
    BOARD.lock(|board| {
        let wifi = &mut board.borrow_mut().wifi;
        if let Some(slot) = wifi.recent.get_mut(wifi.next) {
            *slot = Some(now);
        }
        wifi.next = (wifi.next + 1) % ASSOCIATION_HISTORY;
        wifi.total = wifi.total.saturating_add(1);
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
    BOARD.lock(|board| board.borrow_mut().wifi.link_up = false);
    update_led(|led| led.phase = AgentPhase::LinkDown);
}

/// The board's readings now.
pub fn snapshot() -> BoardSnapshot {
    let now = Instant::now();
    let heap = esp_alloc::HEAP.stats();
    let heap_total = heap.size;
    let heap_free = heap_total.saturating_sub(heap.current_usage);
    BOARD.lock(|board| {
        let wifi = &board.borrow().wifi;
        let in_window = wifi
            .recent
            .iter()
            .flatten()
            .filter(|at| now.saturating_duration_since(**at) < ASSOCIATION_WINDOW)
            .count();
        BoardSnapshot {
            heap_free,
            heap_total,
            uptime: Duration::from_ticks(now.as_ticks()),
            associations_in_window: u8::try_from(in_window).unwrap_or(u8::MAX),
            associations_total: wifi.total,
            bssid_changes: wifi.bssid_changes,
            link_up: wifi.link_up,
        }
    })
}
