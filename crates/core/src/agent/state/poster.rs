//! The event reconciler's state (`agent/event_task.rs` acts on it): the queue and a sequence
//! for unique names.
use core::time::Duration;

use crate::agent::events::{EventQueue, EventReason, Pushed, QueuedEvent};
use crate::runtime::Instant;
use crate::time::UnixMicros;

/// The event reconciler's state: the queue and a sequence for unique names.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EventPoster {
    queue: EventQueue,
    sequence: u32,
    posted: u32,
}

impl EventPoster {
    pub const NEW: EventPoster = EventPoster {
        queue: EventQueue::new(),
        sequence: 0,
        posted: 0,
    };

    /// Events waiting, and dropped so far.
    pub fn pending(&self) -> (usize, u32) {
        (self.queue.len(), self.queue.dropped)
    }

    /// The oldest waiting event.
    pub fn front(&self) -> Option<QueuedEvent> {
        self.queue.front()
    }

    /// The next event's sequence number (for a unique name).
    pub fn next_sequence(&mut self) -> u32 {
        self.sequence = self.sequence.wrapping_add(1);
        self.sequence
    }

    /// The oldest event was posted.
    pub fn posted_front(&mut self) {
        self.queue.pop();
        self.posted = self.posted.saturating_add(1);
    }

    /// The server refused the oldest event for good.
    pub fn dropped_front(&mut self) {
        self.queue.pop();
        self.queue.dropped = self.queue.dropped.saturating_add(1);
    }

    /// Events posted (201 or 409).
    pub fn posted(&self) -> u32 {
        self.posted
    }

    /// Queues `reason` (rate-limited per reason; only [`super::AgentEvent`]s call
    /// this).
    pub(crate) fn queue(
        &mut self,
        reason: EventReason,
        at: Option<UnixMicros>,
        now: Instant,
        min_interval: Duration,
    ) -> Pushed {
        self.queue.push(reason, at, now, min_interval)
    }
}
