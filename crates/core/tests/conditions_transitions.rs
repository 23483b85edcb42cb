//! `lastTransitionTime` moves exactly when a status changes; pushes are tracked by generation.
use picokubelet_core::conditions::{
    evaluate, ConditionSet, ConditionStatus, ConditionThresholds, ConditionType, Signals,
};
use picokubelet_core::time::UnixMicros;
use proptest::prelude::*;
use ConditionStatus::{False, True, Unknown};

const KIB: u32 = 1024;
const MINUTE: u64 = 60_000_000;
/// 2026-11-24T13:04:12Z, from the recordings.
const BOOT: UnixMicros = UnixMicros(1_795_525_452_000_000);

fn at(minutes: u64) -> UnixMicros {
    BOOT.saturating_add_micros(minutes * MINUTE)
}

fn fresh() -> Signals {
    Signals {
        heap_free_bytes: 250 * KIB,
        heap_total_bytes: 320 * KIB,
        uptime_micros: 0,
        wifi_associations_recent: 1,
        bssid_changed_since_push: false,
        consecutive_renewals: 0,
        last_reanchor_skew_micros: None,
        reconnects_recent: 0,
    }
}

#[test]
fn new_set_is_evaluated_stamped_and_unpushed() {
    let set = ConditionSet::new(ConditionThresholds::default(), &fresh(), BOOT);
    let verdicts = evaluate(&fresh(), &ConditionThresholds::default());
    for ((c, kind), v) in set
        .conditions()
        .iter()
        .zip(ConditionType::ALL)
        .zip(verdicts)
    {
        assert_eq!(c.kind, kind);
        assert_eq!(
            (c.status, c.reason, c.message),
            (v.status, v.reason, v.message)
        );
        assert_eq!(c.last_transition, BOOT);
        assert_eq!(set.get(kind), c);
    }
    assert_eq!(set.get(ConditionType::Vibes).reason, "Immaculate");
    assert!(set.needs_push());
    assert_eq!(set.thresholds(), &ConditionThresholds::default());
}

#[test]
fn a_reason_change_alone_is_not_a_transition() {
    let mut set = ConditionSet::new(ConditionThresholds::default(), &fresh(), BOOT);
    set.mark_pushed(set.generation());
    // Immaculate → Cromulent after ten minutes: both True.
    let mut s = fresh();
    s.uptime_micros = 9 * MINUTE;
    assert!(!set.update(&s, at(9)));
    s.uptime_micros = 11 * MINUTE;
    // Caffeinated flips at ten minutes too (that is a transition); Vibes only changes reason.
    assert!(set.update(&s, at(11)));
    assert_eq!(set.get(ConditionType::Caffeinated).last_transition, at(11));
    let vibes = set.get(ConditionType::Vibes);
    assert_eq!((vibes.status, vibes.reason), (True, "Cromulent"));
    assert_eq!(vibes.last_transition, BOOT);
    // Existential Questioning → Accepting: True both, time stays.
    s.consecutive_renewals = 100;
    assert!(set.update(&s, at(20)));
    set.mark_pushed(set.generation());
    s.consecutive_renewals = 1_000;
    assert!(!set.update(&s, at(200)), "reason-only change");
    assert!(!set.needs_push());
    let e = set.get(ConditionType::Existential);
    assert_eq!(
        (e.status, e.reason, e.last_transition),
        (True, "Accepting", at(20))
    );
}

#[test]
fn a_status_change_is_a_transition_and_needs_a_push() {
    let mut set = ConditionSet::new(ConditionThresholds::default(), &fresh(), BOOT);
    set.mark_pushed(set.generation());
    assert!(!set.needs_push());
    let mut s = fresh();
    s.heap_free_bytes = 10 * KIB;
    assert!(set.update(&s, at(3)));
    assert!(set.needs_push());
    let m = set.get(ConditionType::MemoryPressure);
    assert_eq!((m.status, m.last_transition), (True, at(3)));
    // Unchanged conditions keep their time.
    assert_eq!(set.get(ConditionType::Ready).last_transition, BOOT);
}

#[test]
fn a_change_during_a_push_is_not_lost() {
    let mut set = ConditionSet::new(ConditionThresholds::default(), &fresh(), BOOT);
    let sent = set.generation();
    let mut s = fresh();
    s.bssid_changed_since_push = true;
    assert!(set.update(&s, at(1)));
    set.mark_pushed(sent); // the push that started before the change succeeds
    assert!(set.needs_push());
    set.mark_pushed(set.generation());
    assert!(!set.needs_push());
}

#[test]
fn adopting_the_servers_time_when_statuses_agree() {
    // After a reboot the Node exists with Ready True since long before.
    let mut set = ConditionSet::new(ConditionThresholds::default(), &fresh(), at(600));
    set.mark_pushed(set.generation());
    let long_ago = at(0);
    assert!(!set.adopt_from_server(ConditionType::Ready, True, long_ago, at(600)));
    assert!(!set.adopt_from_server(ConditionType::DiskPressure, False, long_ago, at(600)));
    assert_eq!(set.get(ConditionType::Ready).last_transition, long_ago);
    assert_eq!(
        set.get(ConditionType::DiskPressure).last_transition,
        long_ago
    );
    assert!(!set.needs_push());
    // The adopted time survives later updates that keep the status.
    assert!(!set.update(&fresh(), at(601)));
    assert_eq!(set.get(ConditionType::Ready).last_transition, long_ago);
}

#[test]
fn the_controllers_unknown_is_answered_with_a_transition() {
    let mut set = ConditionSet::new(ConditionThresholds::default(), &fresh(), BOOT);
    set.mark_pushed(set.generation());
    // The lifecycle controller marked Ready and the pressures Unknown at 13:05:07.
    let marked = at(1);
    for kind in [
        ConditionType::Ready,
        ConditionType::MemoryPressure,
        ConditionType::DiskPressure,
        ConditionType::PIDPressure,
    ] {
        assert!(
            set.adopt_from_server(kind, Unknown, marked, at(2)),
            "{kind:?}"
        );
        let c = set.get(kind);
        assert_ne!(c.status, Unknown);
        assert_eq!(c.last_transition, at(2));
    }
    assert!(set.needs_push());
    // A custom condition that the controller left alone is adopted as usual.
    assert!(!set.adopt_from_server(ConditionType::Vibes, True, BOOT, at(2)));
}

#[test]
fn a_stale_server_status_after_reboot_is_a_transition() {
    let mut set = ConditionSet::new(ConditionThresholds::default(), &fresh(), at(100));
    set.mark_pushed(set.generation());
    // Before the reboot the heap had run out.
    assert!(set.adopt_from_server(ConditionType::MemoryPressure, True, at(50), at(101)));
    let m = set.get(ConditionType::MemoryPressure);
    assert_eq!((m.status, m.last_transition), (False, at(101)));
    assert!(set.needs_push());
}

#[test]
fn both_unknown_is_agreement() {
    let mut s = fresh();
    s.reconnects_recent = 2;
    let mut set = ConditionSet::new(ConditionThresholds::default(), &s, BOOT);
    assert_eq!(set.get(ConditionType::Vibes).status, Unknown);
    assert!(!set.adopt_from_server(ConditionType::Vibes, Unknown, at(0), at(5)));
    assert_eq!(set.get(ConditionType::Vibes).last_transition, at(0));
}

fn any_signals() -> impl Strategy<Value = Signals> {
    (
        (0u32..400_000, prop_oneof![Just(0u32), 1u32..400_000]),
        0u64..(30 * MINUTE),
        0u32..6,
        any::<bool>(),
        prop_oneof![0u32..200, 900u32..1100, 9_900u32..10_100],
        proptest::option::of(-4_000_000i64..4_000_000),
        0u32..3,
    )
        .prop_map(
            |((free, total), uptime, assoc, bssid, renewals, skew, reconnects)| Signals {
                heap_free_bytes: free,
                heap_total_bytes: total,
                uptime_micros: uptime,
                wifi_associations_recent: assoc,
                bssid_changed_since_push: bssid,
                consecutive_renewals: renewals,
                last_reanchor_skew_micros: skew,
                reconnects_recent: reconnects,
            },
        )
}

proptest! {
    /// Over a long run of arbitrary signals, each condition's lastTransitionTime changes iff its
    /// status changes, `update` reports exactly whether any status changed, and reasons and
    /// messages always follow the rules.
    #[test]
    fn transition_time_changes_iff_status_changes(
        first in any_signals(),
        steps in proptest::collection::vec((any_signals(), 1u64..10 * MINUTE), 1..200),
    ) {
        let thresholds = ConditionThresholds::default();
        let mut now = BOOT;
        let mut set = ConditionSet::new(thresholds, &first, now);
        for (signals, dt) in steps {
            now = now.saturating_add_micros(dt);
            let before = *set.conditions();
            let generation = set.generation();
            let changed = set.update(&signals, now);
            let mut any_status_changed = false;
            for ((old, new), v) in before.iter().zip(set.conditions()).zip(evaluate(&signals, &thresholds)) {
                let status_changed = old.status != new.status;
                any_status_changed |= status_changed;
                prop_assert_eq!(status_changed, old.last_transition != new.last_transition);
                if status_changed {
                    prop_assert_eq!(new.last_transition, now);
                }
                prop_assert_eq!((new.status, new.reason, new.message), (v.status, v.reason, v.message));
            }
            prop_assert_eq!(changed, any_status_changed);
            prop_assert_eq!(changed, set.generation() != generation);
            if changed {
                prop_assert!(set.needs_push());
            }
        }
    }
}
