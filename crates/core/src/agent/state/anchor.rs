//! The clock reconciler's state (`agent/clock.rs` acts on it): the wall clock and what the
//! anchorings measured.
use crate::runtime::Instant;
use crate::time::{DateSample, UnixMicros, WallClock};

/// The clock reconciler's state: the wall clock and what the anchorings measured.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ClockAnchor {
    wall: WallClock,
    /// Skew at the last re-anchoring (ours minus the server's).
    last_skew: Option<i64>,
    anchors: u32,
}

impl ClockAnchor {
    pub const NEW: ClockAnchor = ClockAnchor {
        wall: WallClock::new(),
        last_skew: None,
        anchors: 0,
    };

    /// Wall time at `mono` (`None` before the first anchoring).
    pub fn wall_now(&self, mono: Instant) -> Option<UnixMicros> {
        self.wall.now(mono.as_micros())
    }

    pub fn is_anchored(&self) -> bool {
        self.wall.is_anchored()
    }

    pub fn last_skew(&self) -> Option<i64> {
        self.last_skew
    }

    /// Successful anchorings (the first one included).
    pub fn anchors(&self) -> u32 {
        self.anchors
    }

    /// Anchors on `sample`; `Some(skew)` when it was accepted (the skew is `None` for the first
    /// anchoring).
    pub fn take(&mut self, sample: &DateSample) -> Option<Option<i64>> {
        let reanchoring = self.wall.anchor(sample).ok()?;
        self.anchors = self.anchors.saturating_add(1);
        if let Some(r) = reanchoring {
            self.last_skew = Some(r.skew_micros);
        }
        Some(reanchoring.map(|r| r.skew_micros))
    }
}
