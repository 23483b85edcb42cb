//! Every builder's stated maximum: the worst case it allows renders to exactly that size, a
//! buffer of that size always suffices, and every smaller buffer gives `BufferFull` with the size
//! that was needed, never a panic and never a write past the buffer.
mod bodies_fixtures;

use bodies_fixtures::*;
use picokubelet_core::json::writer::JsonError;
use picokubelet_core::k8s::body_error::BodyError;
use picokubelet_core::k8s::event::{
    write_node_event, EventType, NodeEvent, EVENT_MAX_LEN, MAX_EVENT_MESSAGE_LEN,
    MAX_EVENT_REASON_LEN,
};
use picokubelet_core::k8s::lease::{
    write_lease_create, write_lease_renewal, LEASE_CREATE_MAX_LEN, LEASE_RENEWAL_LEN, MAX_UID_LEN,
};
use picokubelet_core::k8s::node::{
    write_node_labels_patch, write_node_registration, NODE_LABELS_PATCH_MAX_LEN,
    NODE_REGISTRATION_MAX_LEN,
};
use picokubelet_core::k8s::status_patch::{
    write_status_patch, STATUS_PATCH_MAX_LEN, STATUS_PATCH_WITH_DETAILS_MAX_LEN,
};
use picokubelet_core::time::UnixMicros;
use proptest::prelude::*;

const GUARD: u8 = 0xA5;

/// Renders into buffers of every size from 0 to `max` and checks the outcome of each.
fn check_all_sizes(
    max: usize,
    expect_exact: bool,
    build: &dyn Fn(&mut [u8]) -> Result<usize, BodyError>,
) -> usize {
    let mut big = vec![0u8; max.max(16 * 1024)];
    let n = build(&mut big).unwrap();
    if expect_exact {
        assert_eq!(
            n, max,
            "the worst case should reach the stated maximum exactly"
        );
    } else {
        assert!(n <= max, "{n} bytes exceed the stated maximum {max}");
    }
    serde_json::from_slice::<serde_json::Value>(&big[..n]).expect("valid JSON");
    for size in 0..=n {
        let mut buf = vec![GUARD; n + 16];
        let r = build(&mut buf[..size]);
        if size < n {
            assert_eq!(
                r,
                Err(BodyError::Json(JsonError::BufferFull { needed: n })),
                "size {size}"
            );
        } else {
            assert_eq!(r, Ok(n));
            assert_eq!(&buf[..n], &big[..n]);
        }
        assert!(buf[size..].iter().all(|&b| b == GUARD), "wrote past {size}");
    }
    n
}

#[test]
fn node_registration_worst_case() {
    let wc = WorstCase::new(253);
    let profile = wc.profile(wc.extra_labels());
    let conds = wc.conditions();
    check_all_sizes(NODE_REGISTRATION_MAX_LEN, true, &|out| {
        write_node_registration(&profile, &conds, Some(u64::MAX), UnixMicros(u64::MAX), out)
    });
}

#[test]
fn node_labels_patch_worst_case_has_a_63_byte_name() {
    let wc = WorstCase::new(63);
    let profile = wc.profile(wc.extra_labels());
    check_all_sizes(NODE_LABELS_PATCH_MAX_LEN, true, &|out| {
        write_node_labels_patch(&profile, out)
    });
    // A longer name drops the hostname label, so the patch gets shorter, not longer.
    let wc = WorstCase::new(253);
    let profile = wc.profile(wc.extra_labels());
    check_all_sizes(NODE_LABELS_PATCH_MAX_LEN, false, &|out| {
        write_node_labels_patch(&profile, out)
    });
}

#[test]
fn status_patch_worst_cases() {
    let wc = WorstCase::new(253);
    let profile = wc.profile(wc.extra_labels());
    let conds = wc.conditions();
    check_all_sizes(STATUS_PATCH_MAX_LEN, true, &|out| {
        write_status_patch(&conds, UnixMicros(u64::MAX), Some(u64::MAX), None, out)
    });
    check_all_sizes(STATUS_PATCH_WITH_DETAILS_MAX_LEN, true, &|out| {
        write_status_patch(
            &conds,
            UnixMicros(u64::MAX),
            Some(u64::MAX),
            Some(&profile),
            out,
        )
    });
}

#[test]
fn lease_worst_cases() {
    let wc = WorstCase::new(253);
    let uid = escaped_text(MAX_UID_LEN);
    check_all_sizes(LEASE_CREATE_MAX_LEN, true, &|out| {
        write_lease_create(
            name(&wc.name),
            &uid,
            i32::MAX as u32,
            UnixMicros(u64::MAX),
            out,
        )
    });
    for t in [
        UnixMicros(0),
        UnixMicros(u64::MAX),
        at("2026-11-24T13:04:14Z"),
    ] {
        check_all_sizes(LEASE_RENEWAL_LEN, true, &|out| write_lease_renewal(t, out));
    }
}

#[test]
fn event_worst_case() {
    let wc = WorstCase::new(253);
    let reason = escaped_text(MAX_EVENT_REASON_LEN);
    let message = escaped_text(MAX_EVENT_MESSAGE_LEN);
    let ev = NodeEvent {
        kind: EventType::Warning,
        reason: &reason,
        message: &message,
    };
    check_all_sizes(EVENT_MAX_LEN, true, &|out| {
        write_node_event(name(&wc.name), &ev, u64::MAX, UnixMicros(u64::MAX), out)
    });
}

#[test]
fn limits_are_enforced_one_byte_past_them() {
    let wc = WorstCase::new(253);
    let profile = wc.profile(wc.extra_labels());
    let mut buf = vec![0u8; 16 * 1024];
    let long = escaped_text(MAX_EVENT_MESSAGE_LEN + 1);
    let ev = NodeEvent {
        kind: EventType::Normal,
        reason: "R",
        message: &long,
    };
    assert!(matches!(
        write_node_event(name(&wc.name), &ev, 0, UnixMicros(0), &mut buf),
        Err(BodyError::TooLong {
            field: "message",
            ..
        })
    ));
    let uid = escaped_text(MAX_UID_LEN + 1);
    assert!(matches!(
        write_lease_create(name(&wc.name), &uid, 40, UnixMicros(0), &mut buf),
        Err(BodyError::TooLong { .. })
    ));
    let info = escaped_text(65);
    let p = picokubelet_core::k8s::node::NodeProfile {
        os_image: &info,
        ..profile
    };
    assert!(matches!(
        write_node_registration(&p, &[], None, UnixMicros(0), &mut buf),
        Err(BodyError::TooLong {
            field: "status.nodeInfo.osImage",
            len: 65,
            max: 64
        })
    ));
    let mut conds = wc.conditions();
    let msg: &'static str = escaped_text(193).leak();
    conds[3].message = msg;
    assert!(matches!(
        write_status_patch(&conds, UnixMicros(0), None, None, &mut buf),
        Err(BodyError::TooLong {
            field: "status.conditions[].message",
            len: 193,
            ..
        })
    ));
}

/// Arbitrary text of at most `max` escaped bytes.
fn text(max: usize) -> impl Strategy<Value = String> {
    any::<String>().prop_map(move |s| {
        let mut out = String::new();
        for c in s.chars() {
            let mut t = out.clone();
            t.push(c);
            if escaped_len(&t) > max {
                break;
            }
            out = t;
        }
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_bodies_stay_within_their_maxima(
        name_len in 1usize..=253,
        info in text(64),
        reason in text(64),
        message in text(192),
        ev_reason in text(128),
        ev_message in text(1024),
        n_conditions in 0usize..=9,
        heap in any::<Option<u64>>(),
        now in any::<u64>(),
        unique in any::<u64>(),
    ) {
        // Cutting a 253-byte subdomain keeps it valid unless it ends in a dot.
        let mut node = subdomain_253('z')[..name_len].to_string();
        if node.ends_with('.') { node.pop(); }
        let profile = picokubelet_core::k8s::node::NodeProfile {
            os_image: &info,
            kernel_version: &info,
            ..picokubelet_core::k8s::node::NodeProfile::esp32c6(
                name(&node),
                picokubelet_core::k8s::node_ids::NodeIds::new([1; 6], [2; 16]),
                std::net::Ipv4Addr::new(10, 0, 0, 1),
            )
        };
        let reason: &'static str = reason.leak();
        let message: &'static str = message.leak();
        let mut conds = sample_conditions(UnixMicros(now));
        conds.truncate(n_conditions);
        for c in &mut conds { c.reason = reason; c.message = message; }
        let now = UnixMicros(now);
        let ev = NodeEvent { kind: EventType::Normal, reason: &ev_reason, message: &ev_message };
        let mut buf = vec![0u8; 8 * 1024];
        let n = write_node_registration(&profile, &conds, heap, now, &mut buf).unwrap();
        prop_assert!(n <= NODE_REGISTRATION_MAX_LEN);
        let n = write_node_labels_patch(&profile, &mut buf).unwrap();
        prop_assert!(n <= NODE_LABELS_PATCH_MAX_LEN);
        let n = write_status_patch(&conds, now, heap, None, &mut buf).unwrap();
        prop_assert!(n <= STATUS_PATCH_MAX_LEN);
        let n = write_status_patch(&conds, now, heap, Some(&profile), &mut buf).unwrap();
        prop_assert!(n <= STATUS_PATCH_WITH_DETAILS_MAX_LEN);
        let n = write_lease_create(name(&node), RECORDED_NODE_UID, 40, now, &mut buf).unwrap();
        prop_assert!(n <= LEASE_CREATE_MAX_LEN);
        let n = write_node_event(name(&node), &ev, unique, now, &mut buf).unwrap();
        prop_assert!(n <= EVENT_MAX_LEN);
        let v: serde_json::Value = serde_json::from_slice(&buf[..n]).unwrap();
        prop_assert_eq!(v["message"].as_str().unwrap(), ev_message.as_str());
        // The event name is a valid subdomain of at most 253 bytes.
        let ev_name = v["metadata"]["name"].as_str().unwrap();
        prop_assert!(picokubelet_core::k8s::name::NodeName::new(ev_name).is_ok(), "{}", ev_name);
    }
}
