//! Overload mode: the server past its capacity, as a kube-apiserver on a small machine behaves
//! under a fleet too large for it (measured: 4,000 boards against a 2-core server; issue 14).
//!
//! The server has `seats` requests' worth of concurrency, each request holding a seat for
//! `request_time` (API Priority and Fairness' concurrency shares, the CPU behind them). Up to
//! that concurrency a request is answered after `request_time`; past it, requests wait for a
//! seat, so latency grows with the load. At most `queue_length` requests wait (APF's queues);
//! one more is rejected at once with APF's own 429 (`Retry-After: 1`, plain text, recorded 16a:
//! [`crate::api`]'s `apf_rejection`), the answer the real server gave 9,420 times in the
//! measured run ("queue-full" in `global-default`). TLS handshakes wait for a seat too and
//! hold it `handshake_cost` times as long (the server's key exchange and signature), but are
//! never rejected — a real server accepts the TCP connection and is merely slow to finish
//! the handshake, which is what makes clients time out and, if they retry eagerly, amplify
//! the load.
//!
//! guess: not recorded — the shape of latency growth (one FIFO over all seats, a fixed
//! seat time per request) is a model, not a measurement; the real server's queueing is per flow and
//! its handshakes run outside APF on Go's scheduler. The 429 bytes are recorded.
//!
//! Deterministic on the injected clock: the wait is computed from the clock, never measured.

use std::time::{Duration, SystemTime};

/// How the server behaves past its capacity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Overload {
    /// Requests served at once at full speed.
    pub seats: u32,
    /// Seat time of one request.
    pub request_time: Duration,
    /// Requests that may wait for a seat; one more gets APF's 429.
    pub queue_length: u32,
    /// Seat time of a TLS handshake, in requests.
    pub handshake_cost: u32,
}

impl Overload {
    /// Requests per second the server completes at most.
    pub fn capacity_per_sec(&self) -> f64 {
        f64::from(self.seats.max(1)) / self.request_time.as_secs_f64().max(1e-9)
    }
}

/// What a request gets from the queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Answered after this much clock time.
    After(Duration),
    /// The queue is full: APF's 429.
    Rejected,
}

/// The seats: when each frees up. Work goes to the seat that frees first (one FIFO).
#[derive(Debug)]
pub(crate) struct SeatQueue {
    mode: Overload,
    free_at: Vec<SystemTime>,
}

impl SeatQueue {
    pub(crate) fn new(mode: Overload) -> Self {
        SeatQueue {
            mode,
            free_at: vec![SystemTime::UNIX_EPOCH; mode.seats.max(1) as usize],
        }
    }

    /// Requests waiting for a seat at `now` (those in service not counted).
    pub(crate) fn waiting(&self, now: SystemTime) -> u32 {
        let per_request = self.mode.request_time.as_nanos().max(1);
        let queued: u128 = self
            .free_at
            .iter()
            .filter_map(|t| t.duration_since(now).ok())
            .map(|backlog| backlog.as_nanos().saturating_sub(1) / per_request)
            .sum();
        u32::try_from(queued).unwrap_or(u32::MAX)
    }

    /// Takes the first free seat for `cost` requests' time; the clock time until done.
    fn take(&mut self, now: SystemTime, cost: u32) -> Duration {
        let held = self.mode.request_time.saturating_mul(cost.max(1));
        let Some(seat) = self.free_at.iter_mut().min() else {
            return held;
        };
        let start = (*seat).max(now);
        *seat = start + held;
        seat.duration_since(now).unwrap_or_default()
    }

    /// A request arriving at `now`.
    pub(crate) fn admit_request(&mut self, now: SystemTime) -> Admission {
        if self.waiting(now) >= self.mode.queue_length {
            return Admission::Rejected;
        }
        Admission::After(self.take(now, 1))
    }

    /// A TLS handshake starting at `now`: how long until the server completes it.
    pub(crate) fn admit_handshake(&mut self, now: SystemTime) -> Duration {
        self.take(now, self.mode.handshake_cost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    const MODE: Overload = Overload {
        seats: 4,
        request_time: Duration::from_millis(100),
        queue_length: 8,
        handshake_cost: 5,
    };

    #[test]
    fn latency_is_flat_up_to_the_seats_then_grows_then_429() {
        let mut q = SeatQueue::new(MODE);
        let t = UNIX_EPOCH + Duration::from_secs(1000);
        assert_eq!(MODE.capacity_per_sec(), 40.0);
        // A burst at one instant: four get a seat at once, the next four wait one request
        // time, the next four two, then the queue (eight) is full.
        let answers: Vec<Admission> = (0..16).map(|_| q.admit_request(t)).collect();
        let ms = |n: u64| Admission::After(Duration::from_millis(n));
        assert!(answers[..4].iter().all(|a| *a == ms(100)));
        assert!(answers[4..8].iter().all(|a| *a == ms(200)));
        assert!(answers[8..12].iter().all(|a| *a == ms(300)));
        assert!(answers[12..].iter().all(|a| *a == Admission::Rejected));
        // Once the backlog drains, a request is served at full speed again.
        assert_eq!(q.admit_request(t + Duration::from_secs(1)), ms(100));
        // Requests spaced at the capacity never queue.
        let mut q = SeatQueue::new(MODE);
        for i in 0..100 {
            let at = t + Duration::from_millis(25 * i);
            assert_eq!(q.admit_request(at), ms(100), "request {i}");
        }
    }

    #[test]
    fn handshakes_are_slow_under_load_and_never_rejected() {
        let mut q = SeatQueue::new(MODE);
        let t = UNIX_EPOCH;
        assert_eq!(q.admit_handshake(t), Duration::from_millis(500));
        for _ in 0..99 {
            q.admit_handshake(t);
        }
        // 100 handshakes of 500 ms each on 4 seats: the next one finishes after 25 rounds.
        let late = q.admit_handshake(t);
        assert_eq!(late, Duration::from_millis(26 * 500));
        assert_eq!(q.admit_request(t), Admission::Rejected);
    }
}
