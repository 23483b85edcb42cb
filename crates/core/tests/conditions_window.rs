//! The rolling 5-minute window of association (or reconnect) timestamps.
use picokubelet_core::conditions::{RollingWindow, ROLLING_WINDOW_MICROS};

const MINUTE: u64 = 60_000_000;

#[test]
fn empty_window_counts_nothing() {
    let w = RollingWindow::new();
    assert_eq!(w.count_recent(0), 0);
    assert_eq!(w.count_recent(u64::MAX), 0);
    assert_eq!(w, RollingWindow::default());
}

#[test]
fn events_leave_the_window_after_exactly_five_minutes() {
    let mut w = RollingWindow::new();
    w.record(10 * MINUTE);
    assert_eq!(w.count_recent(10 * MINUTE), 1);
    assert_eq!(w.count_recent(10 * MINUTE + ROLLING_WINDOW_MICROS - 1), 1);
    assert_eq!(w.count_recent(10 * MINUTE + ROLLING_WINDOW_MICROS), 0);
}

#[test]
fn the_window_rolls() {
    let mut w = RollingWindow::new();
    for t in [0, 3 * MINUTE, 6 * MINUTE] {
        w.record(t);
    }
    // At 6 minutes the first one has left, at 8 the second is still in, at 11 only the last.
    assert_eq!(w.count_recent(6 * MINUTE), 2);
    assert_eq!(w.count_recent(8 * MINUTE - 1), 2);
    assert_eq!(w.count_recent(8 * MINUTE), 1);
    assert_eq!(w.count_recent(11 * MINUTE), 0);
    w.record(11 * MINUTE);
    assert_eq!(w.count_recent(11 * MINUTE), 1);
}

#[test]
fn a_burst_beyond_capacity_saturates_and_then_drains() {
    let mut w = RollingWindow::new();
    let n = RollingWindow::CAPACITY as u64 * 3;
    for i in 0..n {
        w.record(i * 1_000_000);
    }
    let now = n * 1_000_000;
    assert_eq!(w.count_recent(now), RollingWindow::CAPACITY as u32);
    // The kept ones are the latest: they leave the window one by one, not all at once.
    let oldest_kept = (n - RollingWindow::CAPACITY as u64) * 1_000_000;
    assert_eq!(
        w.count_recent(oldest_kept + ROLLING_WINDOW_MICROS),
        RollingWindow::CAPACITY as u32 - 1
    );
    assert_eq!(w.count_recent(now + ROLLING_WINDOW_MICROS), 0);
}

#[test]
fn stamps_from_the_future_count_as_now() {
    let mut w = RollingWindow::new();
    w.record(u64::MAX);
    assert_eq!(w.count_recent(0), 1);
}

proptest::proptest! {
    /// Against a naive count over every event: exact below capacity, saturated at it.
    #[test]
    fn matches_a_naive_count(
        gaps in proptest::collection::vec(0u64..(3 * MINUTE), 0..40),
        probe_after in 0u64..(10 * MINUTE),
    ) {
        let mut w = RollingWindow::new();
        let mut all = Vec::new();
        let mut t = 0u64;
        for g in gaps {
            t += g;
            w.record(t);
            all.push(t);
        }
        let now = t + probe_after;
        let naive = all.iter().filter(|&&e| now - e < ROLLING_WINDOW_MICROS).count();
        let expected = naive.min(RollingWindow::CAPACITY) as u32;
        proptest::prop_assert_eq!(w.count_recent(now), expected);
    }
}
