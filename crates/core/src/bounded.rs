//! Fixed-capacity strings for values read from the network.
//!
//! A server may send a `resourceVersion` of any length; the board keeps at most `N` bytes of it and
//! remembers that it had to cut, so a truncated value is never mistaken for the real one.

use core::fmt;

/// A UTF-8 string of at most `N` bytes, stored inline (no allocation).
///
/// Text offered beyond the capacity is cut at a `char` boundary and [`is_truncated`] becomes true.
/// The stored text is then always a prefix of what was offered: once truncated, later appends are
/// ignored, so a short tail can never be glued onto a cut head.
///
/// Equality with `&str` is exact-value equality: a truncated string equals **no** `&str`, because
/// the real value is unknown. Compare [`as_str`] when a prefix is good enough.
///
/// [`is_truncated`]: BoundedStr::is_truncated
/// [`as_str`]: BoundedStr::as_str
#[derive(Clone, Copy)]
pub struct BoundedStr<const N: usize> {
    bytes: [u8; N],
    len: usize,
    truncated: bool,
}

impl<const N: usize> BoundedStr<N> {
    /// The capacity in bytes.
    pub const CAPACITY: usize = N;

    /// An empty string.
    pub const fn new() -> Self {
        BoundedStr {
            bytes: [0; N],
            len: 0,
            truncated: false,
        }
    }

    /// `s`, cut to `N` bytes on a `char` boundary if it is longer (then [`Self::is_truncated`]).
    pub fn from_str_truncating(s: &str) -> Self {
        let mut out = Self::new();
        out.push_str(s);
        out
    }

    /// Appends as much of `s` as fits, cutting on a `char` boundary. Returns `false` if anything
    /// was left out (now or by an earlier call): the string is then truncated and stays so until
    /// [`Self::clear`].
    pub fn push_str(&mut self, s: &str) -> bool {
        if self.truncated {
            return false;
        }
        let room = N.saturating_sub(self.len);
        let mut take = s.len().min(room);
        while !s.is_char_boundary(take) {
            // Terminates: 0 is always a char boundary.
            take = take.saturating_sub(1);
        }
        let end = self.len.saturating_add(take);
        match (self.bytes.get_mut(self.len..end), s.as_bytes().get(..take)) {
            (Some(dst), Some(src)) => {
                dst.copy_from_slice(src);
                self.len = end;
            }
            _ => self.truncated = true,
        }
        if take < s.len() {
            self.truncated = true;
        }
        !self.truncated
    }

    /// Records that the source of this value was itself cut (e.g. by a parser's scratch buffer),
    /// so the stored text is only a prefix of the real value.
    pub fn mark_truncated(&mut self) {
        self.truncated = true;
    }

    /// Empties the string and clears the truncation flag.
    pub fn clear(&mut self) {
        self.len = 0;
        self.truncated = false;
    }

    /// The stored text (a prefix of the offered text if [`Self::is_truncated`]).
    pub fn as_str(&self) -> &str {
        // Only whole `str` prefixes cut on char boundaries are ever stored, so this never fails.
        self.bytes
            .get(..self.len)
            .and_then(|b| core::str::from_utf8(b).ok())
            .unwrap_or("")
    }

    /// The stored bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.as_str().as_bytes()
    }

    /// Stored length in bytes.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// True if nothing is stored (and nothing was cut).
    pub const fn is_empty(&self) -> bool {
        self.len == 0 && !self.truncated
    }

    /// True if more text was offered than fits in `N` bytes.
    pub const fn is_truncated(&self) -> bool {
        self.truncated
    }
}

impl<const N: usize> Default for BoundedStr<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> PartialEq for BoundedStr<N> {
    fn eq(&self, other: &Self) -> bool {
        self.truncated == other.truncated && self.as_str() == other.as_str()
    }
}

impl<const N: usize> Eq for BoundedStr<N> {}

impl<const N: usize> PartialEq<&str> for BoundedStr<N> {
    fn eq(&self, other: &&str) -> bool {
        !self.truncated && self.as_str() == *other
    }
}

impl<const N: usize> PartialEq<str> for BoundedStr<N> {
    fn eq(&self, other: &str) -> bool {
        !self.truncated && self.as_str() == other
    }
}

impl<const N: usize> fmt::Debug for BoundedStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)?;
        if self.truncated {
            f.write_str("…(truncated)")?;
        }
        Ok(())
    }
}

impl<const N: usize> fmt::Display for BoundedStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Writing never fails: text that does not fit is cut and flagged, as with [`BoundedStr::push_str`].
impl<const N: usize> fmt::Write for BoundedStr<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push_str(s);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::fmt::Write;

    #[test]
    fn stores_text_that_fits() {
        let s = BoundedStr::<8>::from_str_truncating("abc");
        assert_eq!(s.as_str(), "abc");
        assert!(!s.is_truncated());
        assert_eq!(s, "abc");
        assert_ne!(s, "abcd");
        let full = BoundedStr::<3>::from_str_truncating("abc");
        assert_eq!(full, "abc");
        assert!(!full.is_truncated());
    }

    #[test]
    fn cuts_on_a_char_boundary_and_flags_it() {
        // "é" is 2 bytes: 3 bytes of room hold "aé" but not "aé€" (€ is 3 bytes).
        let s = BoundedStr::<5>::from_str_truncating("aé€");
        assert_eq!(s.as_str(), "aé");
        assert!(s.is_truncated());
        // A truncated string equals no &str, not even its own prefix.
        assert_ne!(s, "aé");
        let tiny = BoundedStr::<1>::from_str_truncating("€");
        assert_eq!(tiny.as_str(), "");
        assert!(tiny.is_truncated());
        assert!(!tiny.is_empty());
        let zero = BoundedStr::<0>::from_str_truncating("x");
        assert_eq!(zero.as_str(), "");
        assert!(zero.is_truncated());
    }

    #[test]
    fn stays_a_prefix_after_truncation() {
        let mut s = BoundedStr::<4>::new();
        assert!(s.push_str("ab"));
        assert!(!s.push_str("cde"));
        assert_eq!(s.as_str(), "abcd");
        // The tail "x" would fit after a clear-less cut only if we allowed it; we must not.
        let mut t = BoundedStr::<4>::new();
        assert!(!t.push_str("abc€"));
        assert_eq!(t.as_str(), "abc");
        assert!(!t.push_str("x"));
        assert_eq!(t.as_str(), "abc");
        t.clear();
        assert!(t.is_empty());
        assert!(t.push_str("x"));
        assert_eq!(t, "x");
    }

    #[test]
    fn marked_truncation_breaks_equality() {
        let mut s = BoundedStr::<8>::from_str_truncating("abc");
        s.mark_truncated();
        assert_ne!(s, "abc");
        assert_eq!(s.as_str(), "abc");
    }

    #[test]
    fn fmt_write_truncates_instead_of_failing() {
        let mut s = BoundedStr::<6>::new();
        assert!(write!(s, "{}-{}", 1234, 5678).is_ok());
        assert_eq!(s.as_str(), "1234-5");
        assert!(s.is_truncated());
        assert_eq!(std::format!("{s:?}"), "\"1234-5\"…(truncated)");
    }

    #[test]
    fn equality_between_bounded_strings_includes_the_flag() {
        let a = BoundedStr::<3>::from_str_truncating("abcd");
        let b = BoundedStr::<3>::from_str_truncating("abc");
        assert_eq!(a.as_str(), b.as_str());
        assert_ne!(a, b);
        assert_eq!(a, BoundedStr::<3>::from_str_truncating("abcz"));
    }
}
