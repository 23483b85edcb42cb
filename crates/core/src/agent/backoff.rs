//! Exponential backoff with jitter, in milliseconds, driven by a random number the caller
//! supplies (the board's RNG; a fixed sequence in tests).
//!
//! "Equal jitter": attempt n waits a random time in `[d/2, d]` with `d = min(cap, base · 2ⁿ)`.
//! The lower half keeps a fleet that lost the server together from retrying in lockstep; the
//! floor keeps a single board from hammering. The cap is what bounds recovery: after an outage
//! ends, the next attempt comes at most `cap` later.

/// Backoff state for one kind of retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    base_ms: u32,
    cap_ms: u32,
    attempt: u32,
}

/// Retrying a failed renewal or status push, and reconnecting. With a 4 s cap, an outage of
/// 30 s ends in a renewal within 4 s of the server's return: at most 10 s (renew period) + 30 s
/// + 4 s = 44 s after the last renewal, inside the node lifecycle controller's 50 s grace period.
pub const FAST: Backoff = Backoff::new(500, 4_000);

/// A server that is struggling: a connect or TLS handshake timed out, or a request was
/// throttled (429/503). Every retry of a fleet then lands in a queue that is already late, so
/// the delays grow past the fast cap to 30 s (attempt n waits at least 0.5, 1, 2, 4, 8, then
/// 15 s): under a server that stays overloaded a board makes at most about one attempt per
/// 15 s plus the time-out, instead of one per 2-4 s, and comes back at most 30 s after the
/// server does.
pub const CONGESTED: Backoff = Backoff::new(1_000, 30_000);

/// Forbidden (403) or a request the server rejects: nothing will change until someone fixes
/// RBAC or the configuration, so ask rarely, but keep asking.
pub const SLOW: Backoff = Backoff::new(10_000, 300_000);

/// Credentials rejected (401): a revoked or expired token comes back when someone restores or
/// rotates it, which the agent cannot see, so it asks again at most one renewal period (10 s)
/// later, as a kubelet does: a token refused for less than 30 s does not let the Node go
/// Unknown, and one refused longer is Ready again within 10 s of its return (issue 13 item 5:
/// 30.8 s against a real server, up to minutes with [`SLOW`]). 6 to 12 requests a minute per
/// reconciler while the token stays refused.
pub const CREDENTIALS: Backoff = Backoff::new(5_000, 10_000);

impl Backoff {
    /// `base_ms` is the first delay's upper bound; `cap_ms` bounds every delay. A base of 0 is
    /// raised to 1 ms so the sequence still grows.
    pub const fn new(base_ms: u32, cap_ms: u32) -> Self {
        let base_ms = if base_ms == 0 { 1 } else { base_ms };
        let cap_ms = if cap_ms < base_ms { base_ms } else { cap_ms };
        Backoff {
            base_ms,
            cap_ms,
            attempt: 0,
        }
    }

    /// The upper bound of the next delay, without consuming an attempt.
    pub fn ceiling_ms(&self) -> u32 {
        let shift = self.attempt.min(31);
        let grown = u64::from(self.base_ms) << shift;
        grown.min(u64::from(self.cap_ms)) as u32
    }

    /// The delay before the next attempt, in `[ceiling/2, ceiling]`, and one attempt counted.
    pub fn next_delay_ms(&mut self, random: u32) -> u32 {
        let ceiling = self.ceiling_ms();
        let half = ceiling / 2;
        let span = ceiling - half + 1;
        self.attempt = self.attempt.saturating_add(1);
        half + random % span
    }

    /// Failed attempts since the last success.
    pub const fn attempts(&self) -> u32 {
        self.attempt
    }

    /// Call after a success: the next failure starts from `base` again.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_the_cap_and_stays_within_half_to_full() {
        let mut b = FAST;
        let ceilings: std::vec::Vec<u32> = (0..8)
            .map(|_| {
                let c = b.ceiling_ms();
                b.next_delay_ms(0);
                c
            })
            .collect();
        assert_eq!(ceilings, [500, 1000, 2000, 4000, 4000, 4000, 4000, 4000]);
        let mut b = FAST;
        for _ in 0..100 {
            let c = b.ceiling_ms();
            let lo = Backoff {
                attempt: b.attempt,
                ..b
            }
            .next_delay_ms(0);
            let hi = Backoff {
                attempt: b.attempt,
                ..b
            }
            .next_delay_ms(u32::MAX - 1);
            assert!(lo >= c / 2 && hi <= c && lo <= hi);
            b.next_delay_ms(12345);
        }
    }

    #[test]
    fn reset_starts_over_and_many_failures_do_not_overflow() {
        let mut b = SLOW;
        for _ in 0..1000 {
            assert!(b.next_delay_ms(u32::MAX) <= 300_000);
        }
        assert_eq!(b.attempts(), 1000);
        b.reset();
        assert_eq!(b.ceiling_ms(), 10_000);
        assert_eq!(Backoff::new(0, 0).ceiling_ms(), 1);
    }

    #[test]
    fn a_thirty_second_outage_costs_no_ready() {
        // The worst case: the last renewal succeeded just before the outage began, the renewal
        // that was due 10 s later fails, and failures repeat until the server returns at 30 s.
        // The first attempt after the return must land before the 50 s grace period ends.
        for seed in [0u32, 1, 7, 0x5555_5555, u32::MAX] {
            let mut b = FAST;
            let mut t_ms: u64 = 10_000;
            let mut rng = seed;
            while t_ms < 30_000 {
                rng = rng.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                t_ms += u64::from(b.next_delay_ms(rng));
            }
            assert!(t_ms <= 34_000, "seed {seed}: recovered at {t_ms} ms");
        }
    }
}
