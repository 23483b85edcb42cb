//! xorshift64 (Marsaglia 2003): cheap, repeatable, non-cryptographic numbers for what needs
//! spread, not secrecy — retry jitter in the agent, the virtual board's simulated sensors.
//! Anything cryptographic takes the body's `CryptoRng`.

/// One xorshift64 sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XorShift64(u64);

impl XorShift64 {
    /// The sequence from `seed` (0, the one state xorshift never leaves, is moved to 1).
    pub const fn new(seed: u64) -> Self {
        XorShift64(seed | 1)
    }

    /// The next 64 bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// The next 32 bits (the high half, the better-mixed one).
    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::XorShift64;

    #[test]
    fn a_zero_seed_still_moves_and_seeds_repeat() {
        let mut z = XorShift64::new(0);
        let first = z.next_u64();
        assert_ne!(first, 0);
        assert_ne!(z.next_u64(), first);
        let (mut a, mut b) = (XorShift64::new(42), XorShift64::new(42));
        assert_eq!(a.next_u32(), b.next_u32());
        // The reference value of xorshift64 (13, 7, 17) from state 1.
        assert_eq!(XorShift64::new(1).next_u64(), 1_082_269_761);
    }
}
