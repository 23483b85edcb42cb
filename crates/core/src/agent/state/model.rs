//! The Node's status as the agent models it: the nine conditions, the board readings they are
//! computed from, and what the server last accepted (address, BSSID baseline). Both status
//! writers use it — the registration (create, or adopt and patch) and the status reporter —
//! so neither reaches into the other; the condition rules themselves live in
//! [`crate::conditions`].
use core::net::Ipv4Addr;

use crate::conditions::{
    AssociationWindow, ConditionSet, ConditionStatus, ConditionThresholds, ConditionType,
    ReconnectWindow, RollingWindow, Signals,
};
use crate::k8s::node::NodeProfile;
use crate::k8s::response::NodeResponse;
use crate::runtime::{BoardSnapshot, Instant};
use crate::time::UnixMicros;

/// What the agent's own counters add to the board's readings for the condition rules.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct AgentSignals {
    pub consecutive_renewals: u32,
    pub last_reanchor_skew_micros: Option<i64>,
}

/// What adopting the server's conditions found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Adopted {
    /// Conditions whose status differed from ours (a transition now).
    pub transitions: u32,
    /// The server's Ready was anything but True.
    pub server_not_ready: bool,
}

/// See the module notes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NodeModel {
    /// Created at the first anchoring (lastTransitionTime needs wall time).
    conditions: Option<ConditionSet>,
    seen_associations: u32,
    associations: AssociationWindow,
    reconnects: ReconnectWindow,
    latest: BoardSnapshot,
    /// The board's BSSID change count at the last accepted push.
    bssid_changes_at_push: u32,
    /// The `InternalIP` the Node carries, as far as we know.
    address_on_server: Option<Ipv4Addr>,
}

impl NodeModel {
    pub const NEW: NodeModel = NodeModel {
        conditions: None,
        seen_associations: 0,
        associations: RollingWindow::new(),
        reconnects: RollingWindow::new(),
        latest: BoardSnapshot {
            heap_free_bytes: 0,
            heap_total_bytes: 0,
            wifi_associations: 0,
            bssid_changes: 0,
            link_up: false,
            ipv4: None,
        },
        bssid_changes_at_push: 0,
        address_on_server: None,
    };

    pub fn conditions(&self) -> Option<&ConditionSet> {
        self.conditions.as_ref()
    }

    /// The board as last read.
    pub fn latest(&self) -> BoardSnapshot {
        self.latest
    }

    /// A session was opened after the first one (feeds `Vibes`).
    pub fn record_reconnect(&mut self, now: Instant) {
        self.reconnects.record(now.as_micros());
    }

    /// Reads the board into the condition signals at `now`.
    fn signals(&mut self, now: Instant, snap: BoardSnapshot, agent: AgentSignals) -> Signals {
        let new = snap.wifi_associations.wrapping_sub(self.seen_associations);
        // The window keeps only its capacity of stamps: recording more changes nothing.
        for _ in 0..new.min(RollingWindow::CAPACITY as u32) {
            self.associations.record(now.as_micros());
        }
        self.seen_associations = snap.wifi_associations;
        self.latest = snap;
        Signals {
            heap_free_bytes: snap.heap_free_bytes,
            heap_total_bytes: snap.heap_total_bytes,
            uptime_micros: now.as_micros(),
            wifi_associations_recent: self.associations.count_recent(now.as_micros()),
            bssid_changed_since_push: snap.bssid_changes != self.bssid_changes_at_push,
            consecutive_renewals: agent.consecutive_renewals,
            last_reanchor_skew_micros: agent.last_reanchor_skew_micros,
            reconnects_recent: self.reconnects.count_recent(now.as_micros()),
        }
    }

    /// At the first anchoring: the conditions as the board reads now.
    pub fn start(
        &mut self,
        thresholds: ConditionThresholds,
        now: Instant,
        wall: UnixMicros,
        snap: BoardSnapshot,
        agent: AgentSignals,
    ) {
        if self.conditions.is_none() {
            let signals = self.signals(now, snap, agent);
            self.conditions = Some(ConditionSet::new(thresholds, &signals, wall));
        }
    }

    /// Re-reads the board and re-evaluates the conditions; the types whose status flipped.
    pub fn evaluate(
        &mut self,
        now: Instant,
        wall: Option<UnixMicros>,
        snap: BoardSnapshot,
        agent: AgentSignals,
    ) -> [Option<ConditionType>; 9] {
        let signals = self.signals(now, snap, agent);
        let mut flips = [None; 9];
        let (Some(wall), Some(set)) = (wall, self.conditions.as_mut()) else {
            return flips;
        };
        let before = *set.conditions();
        set.update(&signals, wall);
        for ((slot, b), a) in flips.iter_mut().zip(before.iter()).zip(set.conditions()) {
            if b.status != a.status {
                *slot = Some(a.kind);
            }
        }
        flips
    }

    /// Adopts the server's `lastTransitionTime`s where the status agrees; a differing status is
    /// a transition at `wall`.
    pub fn adopt(&mut self, node: &NodeResponse, wall: UnixMicros) -> Adopted {
        let mut adopted = Adopted::default();
        let Some(set) = self.conditions.as_mut() else {
            return adopted;
        };
        for kind in ConditionType::ALL {
            let Some(observed) = node.condition(kind) else {
                continue;
            };
            let (Some(status), Some(since)) = (observed.status, observed.last_transition) else {
                continue;
            };
            if kind == ConditionType::Ready {
                adopted.server_not_ready = status != ConditionStatus::True;
            }
            if set.adopt_from_server(kind, status, since, wall) {
                adopted.transitions = adopted.transitions.saturating_add(1);
            }
        }
        adopted
    }

    /// The Node is about to be created: the conditions' history starts at `wall`.
    pub fn restart_history(&mut self, wall: UnixMicros) {
        if let Some(set) = self.conditions.as_mut() {
            set.restart_history(wall);
        }
    }

    /// The board's address when the Node does not carry it yet.
    pub fn address_to_push(&self) -> Option<Ipv4Addr> {
        self.latest
            .ipv4
            .filter(|ip| Some(*ip) != self.address_on_server)
    }

    /// Something the server has not heard yet: a flip, or a new address.
    pub fn needs_push(&self) -> bool {
        self.conditions.is_some_and(|c| c.needs_push()) || self.address_to_push().is_some()
    }

    pub fn ready_is_true(&self) -> bool {
        self.conditions
            .is_some_and(|c| c.get(ConditionType::Ready).status == ConditionStatus::True)
    }

    /// The server accepted the conditions of `generation`; `address` is the `InternalIP` the
    /// request carried, if it carried the addresses (`None`: it did not), `bssid_changes` the
    /// board's count the push answers for.
    pub fn pushed(
        &mut self,
        generation: u32,
        address: Option<Option<Ipv4Addr>>,
        bssid_changes: u32,
    ) {
        if let Some(c) = self.conditions.as_mut() {
            c.mark_pushed(generation);
        }
        if let Some(address) = address {
            self.address_on_server = address;
        }
        self.bssid_changes_at_push = bssid_changes;
    }

    /// The configured profile with the board's current address (a DHCP lease may differ from
    /// the configured one, and may change while the board runs).
    pub fn profile<'a>(&self, configured: NodeProfile<'a>) -> NodeProfile<'a> {
        let mut profile = configured;
        if let Some(ip) = self.latest.ipv4 {
            profile.internal_ip = Some(ip);
        }
        profile
    }
}
