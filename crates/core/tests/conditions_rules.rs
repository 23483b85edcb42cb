//! The rules of DESIGN.md §8 at their boundaries.
use picokubelet_core::conditions::{
    evaluate, ConditionStatus, ConditionThresholds, ConditionType, RollingWindow, Signals, Verdict,
};
use ConditionStatus::{False, True, Unknown};

const KIB: u32 = 1024;
const MINUTE: u64 = 60_000_000;

/// A calm, settled board: 60 % of a 320 KiB heap free, up for an hour, nothing odd.
fn settled() -> Signals {
    Signals {
        heap_free_bytes: 192 * KIB,
        heap_total_bytes: 320 * KIB,
        uptime_micros: 60 * MINUTE,
        wifi_associations_recent: 1,
        bssid_changed_since_push: false,
        consecutive_renewals: 50,
        last_reanchor_skew_micros: Some(0),
        reconnects_recent: 0,
    }
}

fn verdict(s: &Signals, kind: ConditionType) -> Verdict {
    evaluate(s, &ConditionThresholds::default())[kind.index()]
}

fn status_reason(s: &Signals, kind: ConditionType) -> (ConditionStatus, &'static str) {
    let v = verdict(s, kind);
    (v.status, v.reason)
}

/// A heap of 100 000 bytes (1 000 bytes per percent) with `free` bytes free: well above the
/// 20 KiB line from 21 % on, so only the percentage rules act.
fn with_percent_free(mut s: Signals, free: u32) -> Signals {
    s.heap_total_bytes = 100_000;
    s.heap_free_bytes = free;
    s
}

#[test]
fn index_matches_the_order_of_all() {
    for (i, kind) in ConditionType::ALL.iter().enumerate() {
        assert_eq!(kind.index(), i);
    }
}

#[test]
fn ready_is_true_while_the_agent_runs() {
    let v = verdict(&settled(), ConditionType::Ready);
    assert_eq!((v.status, v.reason), (True, "KubeletReady"));
    assert_eq!(
        status_reason(&Signals::default(), ConditionType::Ready),
        (True, "KubeletReady")
    );
}

#[test]
fn memory_pressure_starts_below_20_kib() {
    let mut s = settled();
    s.heap_free_bytes = 20 * KIB;
    assert_eq!(
        status_reason(&s, ConditionType::MemoryPressure),
        (False, "KubeletHasSufficientMemory")
    );
    s.heap_free_bytes = 20 * KIB - 1;
    assert_eq!(
        status_reason(&s, ConditionType::MemoryPressure),
        (True, "KubeletHasInsufficientMemory")
    );
    s.heap_free_bytes = 0;
    assert_eq!(status_reason(&s, ConditionType::MemoryPressure).0, True);
}

#[test]
fn memory_pressure_line_is_configurable() {
    let t = ConditionThresholds {
        memory_pressure_below_bytes: 64 * KIB,
        ..ConditionThresholds::default()
    };
    let mut s = settled();
    s.heap_free_bytes = 63 * KIB;
    assert_eq!(
        evaluate(&s, &t)[ConditionType::MemoryPressure.index()].status,
        True
    );
    assert_eq!(
        evaluate(&s, &t)[ConditionType::Peckish.index()].reason,
        "Hungry"
    );
    s.heap_free_bytes = 64 * KIB;
    assert_eq!(
        evaluate(&s, &t)[ConditionType::MemoryPressure.index()].status,
        False
    );
}

#[test]
fn disk_and_pid_pressure_are_false_and_say_why() {
    for s in [settled(), Signals::default()] {
        let disk = verdict(&s, ConditionType::DiskPressure);
        assert_eq!(
            (disk.status, disk.reason),
            (False, "KubeletHasNoDiskPressure")
        );
        assert!(disk.message.contains("no disk"), "{}", disk.message);
        let pid = verdict(&s, ConditionType::PIDPressure);
        assert_eq!((pid.status, pid.reason), (False, "KubeletHasSufficientPID"));
        assert!(pid.message.contains("no PIDs"), "{}", pid.message);
    }
}

#[test]
fn vibes_cursed_at_three_associations() {
    let mut s = settled();
    s.wifi_associations_recent = 2;
    assert_eq!(status_reason(&s, ConditionType::Vibes), (True, "Cromulent"));
    s.wifi_associations_recent = 3;
    assert_eq!(status_reason(&s, ConditionType::Vibes), (False, "Cursed"));
    // Cursed wins over every heap rule.
    let s = with_percent_free(s, 10_000);
    assert_eq!(status_reason(&s, ConditionType::Vibes), (False, "Cursed"));
}

#[test]
fn vibes_cursed_from_a_real_window() {
    // Three associations within 5 minutes vs. the same three spread over 6 minutes.
    let mut w = RollingWindow::new();
    for t in [0, 2 * MINUTE, 4 * MINUTE] {
        w.record(t);
    }
    let mut s = settled();
    s.wifi_associations_recent = w.count_recent(4 * MINUTE + 1);
    assert_eq!(status_reason(&s, ConditionType::Vibes), (False, "Cursed"));

    let mut w = RollingWindow::new();
    for t in [0, 3 * MINUTE, 6 * MINUTE] {
        w.record(t);
    }
    s.wifi_associations_recent = w.count_recent(6 * MINUTE);
    assert_eq!(s.wifi_associations_recent, 2);
    assert_eq!(status_reason(&s, ConditionType::Vibes), (True, "Cromulent"));
}

#[test]
fn vibes_strained_below_30_percent() {
    let s = with_percent_free(settled(), 30_000);
    assert_eq!(
        status_reason(&s, ConditionType::Vibes),
        (Unknown, "Indeterminate")
    );
    let s = with_percent_free(settled(), 29_999);
    assert_eq!(status_reason(&s, ConditionType::Vibes), (False, "Strained"));
}

#[test]
fn vibes_cromulent_above_50_percent_without_reconnects() {
    let s = with_percent_free(settled(), 50_000);
    assert_eq!(
        status_reason(&s, ConditionType::Vibes),
        (Unknown, "Indeterminate")
    );
    let mut s = with_percent_free(settled(), 50_001);
    assert_eq!(status_reason(&s, ConditionType::Vibes), (True, "Cromulent"));
    s.reconnects_recent = 1;
    assert_eq!(
        status_reason(&s, ConditionType::Vibes),
        (Unknown, "Indeterminate")
    );
}

#[test]
fn vibes_immaculate_above_70_percent_fresh_and_without_reconnects() {
    let mut s = with_percent_free(settled(), 70_001);
    s.uptime_micros = 10 * MINUTE - 1;
    assert_eq!(
        status_reason(&s, ConditionType::Vibes),
        (True, "Immaculate")
    );
    // Exactly 70 % is not above it.
    let at_line = with_percent_free(s, 70_000);
    assert_eq!(
        status_reason(&at_line, ConditionType::Vibes),
        (True, "Cromulent")
    );
    // Ten minutes of uptime end it.
    s.uptime_micros = 10 * MINUTE;
    assert_eq!(status_reason(&s, ConditionType::Vibes), (True, "Cromulent"));
    // So does a reconnect, and then nothing else is left.
    s.uptime_micros = 0;
    s.reconnects_recent = 1;
    assert_eq!(
        status_reason(&s, ConditionType::Vibes),
        (Unknown, "Indeterminate")
    );
}

#[test]
fn vibes_with_unknown_heap_total_are_indeterminate() {
    let mut s = settled();
    s.heap_total_bytes = 0;
    s.heap_free_bytes = 100 * KIB;
    s.uptime_micros = 0;
    assert_eq!(
        status_reason(&s, ConditionType::Vibes),
        (Unknown, "Indeterminate")
    );
    assert_eq!(status_reason(&s, ConditionType::Peckish), (False, "Sated"));
    s.heap_free_bytes = 0;
    assert_eq!(
        status_reason(&s, ConditionType::Vibes),
        (Unknown, "Indeterminate")
    );
    assert_eq!(status_reason(&s, ConditionType::Peckish), (True, "Hungry"));
}

#[test]
fn extreme_heap_readings_do_not_overflow() {
    let s = Signals {
        heap_free_bytes: u32::MAX,
        heap_total_bytes: u32::MAX,
        ..settled()
    };
    assert_eq!(status_reason(&s, ConditionType::Vibes), (True, "Cromulent"));
    // More free than total (a racy reading) is simply "a lot free".
    let s = Signals {
        heap_free_bytes: u32::MAX,
        heap_total_bytes: 1,
        ..settled()
    };
    assert_eq!(status_reason(&s, ConditionType::Peckish), (False, "Sated"));
}

#[test]
fn caffeinated_for_the_first_ten_minutes() {
    let mut s = settled();
    s.uptime_micros = 0;
    assert_eq!(
        status_reason(&s, ConditionType::Caffeinated),
        (True, "FreshlyBrewed")
    );
    s.uptime_micros = 10 * MINUTE - 1;
    assert_eq!(
        status_reason(&s, ConditionType::Caffeinated),
        (True, "FreshlyBrewed")
    );
    s.uptime_micros = 10 * MINUTE;
    assert_eq!(
        status_reason(&s, ConditionType::Caffeinated),
        (False, "Decaf")
    );
    s.uptime_micros = u64::MAX;
    assert_eq!(
        status_reason(&s, ConditionType::Caffeinated),
        (False, "Decaf")
    );
}

#[test]
fn existential_by_consecutive_renewals() {
    let mut s = settled();
    for (n, expected) in [
        (0, (False, "Innocent")),
        (99, (False, "Innocent")),
        (100, (True, "Questioning")),
        (999, (True, "Questioning")),
        (1_000, (True, "Accepting")),
        (9_999, (True, "Accepting")),
        (10_000, (True, "Transcendent")),
        (u32::MAX, (True, "Transcendent")),
    ] {
        s.consecutive_renewals = n;
        assert_eq!(
            status_reason(&s, ConditionType::Existential),
            expected,
            "{n}"
        );
    }
}

#[test]
fn peckish_hungry_then_snacky_below_40_percent() {
    let s = with_percent_free(settled(), 40_000);
    assert_eq!(status_reason(&s, ConditionType::Peckish), (False, "Sated"));
    let s = with_percent_free(settled(), 39_999);
    assert_eq!(status_reason(&s, ConditionType::Peckish), (True, "Snacky"));
    // Below the 20 KiB line: Hungry, whatever the percentage.
    let mut s = settled();
    s.heap_total_bytes = 20 * KIB;
    s.heap_free_bytes = 20 * KIB - 1;
    assert_eq!(status_reason(&s, ConditionType::Peckish), (True, "Hungry"));
}

#[test]
fn haunted_by_bssid_changes_and_time_slips() {
    let mut s = settled();
    assert_eq!(status_reason(&s, ConditionType::Haunted), (False, "Calm"));
    s.last_reanchor_skew_micros = None;
    assert_eq!(status_reason(&s, ConditionType::Haunted), (False, "Calm"));
    for skew in [2_000_000, -2_000_000] {
        s.last_reanchor_skew_micros = Some(skew);
        assert_eq!(
            status_reason(&s, ConditionType::Haunted),
            (False, "Calm"),
            "{skew}"
        );
    }
    for skew in [2_000_001, -2_000_001, i64::MIN, i64::MAX] {
        s.last_reanchor_skew_micros = Some(skew);
        assert_eq!(
            status_reason(&s, ConditionType::Haunted),
            (True, "TimeSlipped"),
            "{skew}"
        );
    }
    s.bssid_changed_since_push = true;
    assert_eq!(
        status_reason(&s, ConditionType::Haunted),
        (True, "NewGhost")
    );
    s.last_reanchor_skew_micros = Some(0);
    assert_eq!(
        status_reason(&s, ConditionType::Haunted),
        (True, "NewGhost")
    );
}

#[test]
fn cursed_threshold_above_window_capacity_saturates() {
    let t = ConditionThresholds {
        cursed_at_associations: 100,
        ..ConditionThresholds::default()
    };
    let mut w = RollingWindow::new();
    for i in 0..20 {
        w.record(i);
    }
    let mut s = settled();
    s.wifi_associations_recent = w.count_recent(20);
    assert_eq!(
        evaluate(&s, &t)[ConditionType::Vibes.index()].reason,
        "Cursed"
    );
    s.wifi_associations_recent = RollingWindow::CAPACITY as u32 - 1;
    assert_eq!(
        evaluate(&s, &t)[ConditionType::Vibes.index()].reason,
        "Cromulent"
    );
}

#[test]
fn reasons_are_camel_case_and_messages_short() {
    let mut samples = vec![settled(), Signals::default()];
    let mut s = settled();
    s.bssid_changed_since_push = true;
    s.consecutive_renewals = 10_000;
    s.wifi_associations_recent = 5;
    samples.push(s);
    for s in &samples {
        for v in evaluate(s, &ConditionThresholds::default()) {
            assert!(v.reason.chars().next().unwrap().is_ascii_uppercase());
            assert!(
                v.reason.chars().all(|c| c.is_ascii_alphanumeric()),
                "{}",
                v.reason
            );
            assert!(
                !v.message.is_empty() && v.message.len() <= 64,
                "{}",
                v.message
            );
            assert!(v.message.is_ascii() && !v.message.contains('"'));
        }
    }
}

#[test]
fn innocent_says_it_is_early_not_that_the_lease_lapsed() {
    // The old text ("Has not renewed its lease for long.") read as the opposite of the rule:
    // Innocent is a node renewing fine, fewer than 100 times in a row so far.
    let mut s = settled();
    s.consecutive_renewals = 99;
    let v = verdict(&s, ConditionType::Existential);
    assert_eq!((v.status, v.reason), (False, "Innocent"));
    assert!(!v.message.contains("not renewed"), "{}", v.message);
    assert!(v.message.contains("renewals"), "{}", v.message);
}
