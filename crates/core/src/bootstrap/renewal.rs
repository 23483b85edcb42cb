//! When the node's certificate is renewed, and when it can no longer be used: as the kubelet's
//! certificate manager, a random point in 70–90 % of its lifetime measured from notBefore (the
//! signer backdates notBefore by 5 minutes, recorded-2 A06).

/// What to do with a stored certificate at `now` (Unix seconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// Use it; renew at `renew_at` (Unix seconds; may be now).
    Use { renew_at: i64 },
    /// Not valid yet (a clock behind the signer's) or expired: back to the bootstrap token.
    Unusable,
}

/// The renewal point of a certificate valid from `not_before` to `not_after`: 70 % of the
/// lifetime plus `random`'s share of another 20 %.
pub fn renewal_at(not_before: i64, not_after: i64, random: u32) -> i64 {
    let lifetime = not_after.saturating_sub(not_before).max(0);
    // 0.7 + 0.2 * random/2^32, in 1/1000s of the lifetime (700..=899).
    let permille = 700 + i64::from(random / (u32::MAX / 200 + 1));
    not_before.saturating_add(lifetime.saturating_mul(permille) / 1000)
}

/// [`Standing`] of a certificate valid from `not_before` to `not_after` at `now`. A board
/// without a clock yet (`now` unknown) should not call this: it uses the certificate and lets
/// the server say (a 401 sends it back to the token).
pub fn standing(not_before: i64, not_after: i64, now: i64, random: u32) -> Standing {
    if now < not_before || now >= not_after {
        return Standing::Unusable;
    }
    Standing::Use {
        renew_at: renewal_at(not_before, not_after, random),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_falls_in_70_to_90_percent_of_the_lifetime() {
        assert_eq!(renewal_at(1_000, 11_000, 0), 8_000);
        assert_eq!(renewal_at(1_000, 11_000, u32::MAX), 9_990);
        let mid = renewal_at(1_000, 11_000, u32::MAX / 2);
        assert!((8_900..=9_100).contains(&mid), "{mid}");
        assert_eq!(
            renewal_at(10, 5, 7),
            10,
            "an inverted validity renews at once"
        );
        assert_eq!(
            renewal_at(i64::MIN, i64::MAX, u32::MAX),
            renewal_at(i64::MIN, i64::MAX, u32::MAX)
        );
    }

    #[test]
    fn an_expired_or_future_certificate_sends_the_board_back_to_the_token() {
        assert_eq!(standing(100, 200, 99, 0), Standing::Unusable);
        assert_eq!(standing(100, 200, 200, 0), Standing::Unusable);
        assert_eq!(standing(100, 200, 100, 0), Standing::Use { renew_at: 170 });
        assert_eq!(standing(100, 200, 199, 0), Standing::Use { renew_at: 170 });
    }

    proptest::proptest! {
        #[test]
        fn the_point_is_always_within_the_window(nb in -1_000_000i64..1_000_000, life in 0i64..100_000_000, r: u32) {
            let at = renewal_at(nb, nb + life, r);
            proptest::prop_assert!(at >= nb + life * 7 / 10 && at <= nb + life * 9 / 10);
        }
    }
}
