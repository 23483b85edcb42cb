//! Node Events the agent posts (core/v1, namespace `default`): a small bounded queue with a
//! per-reason rate limit, and the task that drains it.
//!
//! Events are best effort: at most [`EVENT_QUEUE_LEN`] wait (the oldest is dropped to make
//! room), a rate-limited reason ([`EventReason::rate_limited`]) is queued at most once per
//! `event_min_interval` (10 min by default), and an event the server refuses (4xx other than
//! 409) is dropped. Each drop is counted.
use core::time::Duration;

use crate::k8s::event::EventType;
use crate::runtime::Instant;
use crate::time::UnixMicros;

/// Events that can wait to be posted.
pub const EVENT_QUEUE_LEN: usize = 8;

/// Why the agent posts an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventReason {
    /// The agent started (once per boot, after the first registration).
    Starting,
    /// The node is Ready: after registration, and after an outage that made it NotReady.
    NodeReady,
}

impl EventReason {
    pub const ALL: [EventReason; 2] = [EventReason::Starting, EventReason::NodeReady];

    const fn index(self) -> usize {
        match self {
            EventReason::Starting => 0,
            EventReason::NodeReady => 1,
        }
    }

    /// The Event's `reason`, as the kubelet writes it.
    pub const fn as_str(self) -> &'static str {
        match self {
            EventReason::Starting => "Starting",
            EventReason::NodeReady => "NodeReady",
        }
    }

    /// The Event's `message`.
    pub const fn message(self) -> &'static str {
        match self {
            EventReason::Starting => "Starting picokubelet.",
            EventReason::NodeReady => "Node status is now: NodeReady",
        }
    }

    pub const fn kind(self) -> EventType {
        EventType::Normal
    }

    /// Whether the per-reason minimum interval applies. Not to `NodeReady`: it is queued only
    /// on a transition to Ready (a registration, or the push that ends an Unknown the
    /// lifecycle controller set), which the controller's 50 s grace already spaces out, and a
    /// dropped one hides a recovery from whoever watches the events (issue 13 item 5: dropped
    /// after a re-registration or a recovery within 10 min of the last one).
    pub const fn rate_limited(self) -> bool {
        match self {
            EventReason::Starting => true,
            EventReason::NodeReady => false,
        }
    }
}

/// One waiting event: why, and when it happened (wall time, if the clock was anchored).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueuedEvent {
    pub reason: EventReason,
    pub at: Option<UnixMicros>,
}

/// What [`EventQueue::push`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pushed {
    Queued,
    /// Queued; the oldest waiting event was dropped to make room.
    QueuedDroppingOldest(EventReason),
    /// Not queued: the same reason was queued less than the minimum interval ago.
    RateLimited,
}

/// A ring of at most [`EVENT_QUEUE_LEN`] events, oldest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventQueue {
    ring: [Option<QueuedEvent>; EVENT_QUEUE_LEN],
    head: usize,
    len: usize,
    last_queued: [Option<Instant>; EventReason::ALL.len()],
    /// Events dropped: queue full, rate-limited or refused by the server.
    pub dropped: u32,
}

impl EventQueue {
    pub const fn new() -> Self {
        EventQueue {
            ring: [None; EVENT_QUEUE_LEN],
            head: 0,
            len: 0,
            last_queued: [None; EventReason::ALL.len()],
            dropped: 0,
        }
    }

    pub const fn len(&self) -> usize {
        self.len
    }

    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Queues `reason` unless it was queued less than `min_interval` before `now`.
    pub fn push(
        &mut self,
        reason: EventReason,
        at: Option<UnixMicros>,
        now: Instant,
        min_interval: Duration,
    ) -> Pushed {
        let last = self.last_queued.get_mut(reason.index());
        if let (true, Some(Some(t))) = (reason.rate_limited(), last.as_deref()) {
            if now.saturating_since(*t) < min_interval {
                self.dropped = self.dropped.saturating_add(1);
                return Pushed::RateLimited;
            }
        }
        if let Some(slot) = last {
            *slot = Some(now);
        }
        let mut result = Pushed::Queued;
        if self.len == EVENT_QUEUE_LEN {
            if let Some(old) = self.front() {
                result = Pushed::QueuedDroppingOldest(old.reason);
            }
            self.pop();
            self.dropped = self.dropped.saturating_add(1);
        }
        let tail = (self.head + self.len) % EVENT_QUEUE_LEN;
        if let Some(slot) = self.ring.get_mut(tail) {
            *slot = Some(QueuedEvent { reason, at });
            self.len += 1;
        }
        result
    }

    /// The oldest waiting event.
    pub fn front(&self) -> Option<QueuedEvent> {
        if self.len == 0 {
            return None;
        }
        self.ring.get(self.head).copied().flatten()
    }

    /// Removes the oldest waiting event (posted, or dropped).
    pub fn pop(&mut self) {
        if self.len == 0 {
            return;
        }
        if let Some(slot) = self.ring.get_mut(self.head) {
            *slot = None;
        }
        self.head = (self.head + 1) % EVENT_QUEUE_LEN;
        self.len -= 1;
    }
}

impl Default for EventQueue {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEN_MIN: Duration = Duration::from_secs(600);

    fn at_secs(s: u64) -> Instant {
        Instant::from_micros(s * 1_000_000)
    }

    #[test]
    fn fifo_order_and_rate_limit_per_reason() {
        let mut q = EventQueue::new();
        assert_eq!(
            q.push(EventReason::Starting, None, at_secs(0), TEN_MIN),
            Pushed::Queued
        );
        assert_eq!(
            q.push(EventReason::NodeReady, None, at_secs(0), TEN_MIN),
            Pushed::Queued
        );
        assert_eq!(
            q.push(EventReason::Starting, None, at_secs(599), TEN_MIN),
            Pushed::RateLimited
        );
        // Every transition to Ready is news: never rate-limited.
        assert_eq!(
            q.push(EventReason::NodeReady, None, at_secs(60), TEN_MIN),
            Pushed::Queued
        );
        assert_eq!(q.len(), 3);
        assert_eq!(q.front().unwrap().reason, EventReason::Starting);
        q.pop();
        assert_eq!(q.front().unwrap().reason, EventReason::NodeReady);
        q.pop();
        q.pop();
        assert!(q.is_empty() && q.front().is_none());
        q.pop();
        assert!(q.is_empty());
        assert_eq!(
            q.push(EventReason::Starting, None, at_secs(600), TEN_MIN),
            Pushed::Queued
        );
        assert_eq!(q.dropped, 1);
    }

    #[test]
    fn a_full_queue_drops_the_oldest() {
        let mut q = EventQueue::new();
        for i in 0..EVENT_QUEUE_LEN as u64 {
            let reason = EventReason::ALL[(i % 2) as usize];
            let t = Some(UnixMicros(i));
            assert_eq!(q.push(reason, t, at_secs(i * 600), TEN_MIN), Pushed::Queued);
        }
        assert_eq!(q.len(), EVENT_QUEUE_LEN);
        let pushed = q.push(
            EventReason::NodeReady,
            Some(UnixMicros(99)),
            at_secs(100_000),
            TEN_MIN,
        );
        assert_eq!(pushed, Pushed::QueuedDroppingOldest(EventReason::Starting));
        assert_eq!(q.len(), EVENT_QUEUE_LEN);
        assert_eq!(q.dropped, 1);
        assert_eq!(q.front().unwrap().at, Some(UnixMicros(1)));
        for _ in 0..EVENT_QUEUE_LEN - 1 {
            q.pop();
        }
        assert_eq!(q.front().unwrap().at, Some(UnixMicros(99)));
    }
}
