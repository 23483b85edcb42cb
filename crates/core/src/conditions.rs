//! Node conditions: the four standard ones plus our own, computed from real signals
//! (DESIGN.md §8), with `lastTransitionTime` that moves only when a status changes.
use crate::time::UnixMicros;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConditionStatus {
    True,
    False,
    Unknown,
}

impl ConditionStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            ConditionStatus::True => "True",
            ConditionStatus::False => "False",
            ConditionStatus::Unknown => "Unknown",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConditionType {
    Ready,
    MemoryPressure,
    DiskPressure,
    PIDPressure,
    Vibes,
    Caffeinated,
    Existential,
    Peckish,
    Haunted,
}

impl ConditionType {
    /// Every condition we report, in the order we send them.
    pub const ALL: [ConditionType; 9] = [
        ConditionType::Ready,
        ConditionType::MemoryPressure,
        ConditionType::DiskPressure,
        ConditionType::PIDPressure,
        ConditionType::Vibes,
        ConditionType::Caffeinated,
        ConditionType::Existential,
        ConditionType::Peckish,
        ConditionType::Haunted,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            ConditionType::Ready => "Ready",
            ConditionType::MemoryPressure => "MemoryPressure",
            ConditionType::DiskPressure => "DiskPressure",
            ConditionType::PIDPressure => "PIDPressure",
            ConditionType::Vibes => "Vibes",
            ConditionType::Caffeinated => "Caffeinated",
            ConditionType::Existential => "Existential",
            ConditionType::Peckish => "Peckish",
            ConditionType::Haunted => "Haunted",
        }
    }
}

/// One entry of `status.conditions`, as sent. `reason` and `message` are static: messages are
/// short, dry, fixed texts, so a condition is `Copy` and has a known size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Condition {
    pub kind: ConditionType,
    pub status: ConditionStatus,
    pub reason: &'static str,
    pub message: &'static str,
    pub last_transition: UnixMicros,
}
