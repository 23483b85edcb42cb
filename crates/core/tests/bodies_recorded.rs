//! Our bodies next to what a real kube-apiserver v1.36.2 accepted (testdata/k8s/recorded-compact).
//! Where we send the same thing the bytes are compared; elsewhere the parsed JSON is compared
//! after applying the differences we chose on purpose, each named in the test.
mod bodies_fixtures;

use bodies_fixtures::*;
use picokubelet_core::conditions::{Condition, ConditionStatus, ConditionType};
use picokubelet_core::k8s::event::{write_node_event, EventType, NodeEvent};
use picokubelet_core::k8s::label::{validate_node_label, LabelError};
use picokubelet_core::k8s::lease::{write_lease_create, write_lease_renewal};
use picokubelet_core::k8s::name::{NameError, NodeName};
use picokubelet_core::k8s::node::{write_node_registration, NodeProfile};
use picokubelet_core::k8s::node_ids::NodeIds;
use picokubelet_core::k8s::paths::{ApiWrite, ContentType, Method};
use picokubelet_core::k8s::status_patch::write_status_patch;
use serde_json::{json, Value};

fn parse(s: &str) -> Value {
    serde_json::from_str(s).unwrap()
}

#[test]
fn lease_renewals_equal_the_recorded_bytes() {
    for (case, t) in [
        ("05-patch-lease-merge-200", "2026-11-24T13:04:14.040789Z"),
        ("12d-patch-lease-renew", "2026-11-24T13:05:15.996286Z"),
    ] {
        let rec = recorded_request(case);
        let micros = at(&format!("{}Z", &t[..19])).0 + t[20..26].parse::<u64>().unwrap();
        let ours =
            render(|out| write_lease_renewal(picokubelet_core::time::UnixMicros(micros), out));
        assert_eq!(ours, rec.body, "{case}");
    }
}

#[test]
fn lease_create_equals_the_recorded_bytes() {
    let rec = recorded_request("04-post-lease-201");
    let renew = picokubelet_core::time::UnixMicros(at("2026-11-24T13:04:13Z").0 + 8_661);
    let ours =
        render(|out| write_lease_create(name("esp-node-01"), RECORDED_NODE_UID, 40, renew, out));
    assert_eq!(ours, rec.body);
}

#[test]
fn ready_only_status_patch_equals_the_recorded_bytes() {
    let rec = recorded_request("12e-patch-status-ready-true");
    let t = at("2026-11-24T13:05:16Z");
    let ready = Condition {
        kind: ConditionType::Ready,
        status: ConditionStatus::True,
        reason: "KubeletReady",
        message: "picokubelet is posting ready status",
        last_transition: t,
    };
    let ours = render(|out| write_status_patch(&[ready], t, None, None, out));
    assert_eq!(ours, rec.body);
}

#[test]
fn status_patch_with_annotation_matches_recording_08() {
    let rec = recorded_request("08-patch-node-status-smp-custom-condition");
    let t = at("2026-11-24T13:04:15Z");
    let c = |kind, reason, message| Condition {
        kind,
        status: ConditionStatus::True,
        reason,
        message,
        last_transition: t,
    };
    let conds = [
        c(
            ConditionType::Ready,
            "KubeletReady",
            "picokubelet is posting ready status",
        ),
        c(ConditionType::Vibes, "Immaculate", "all good"),
    ];
    let ours = parse(&render(|out| {
        write_status_patch(&conds, t, Some(51_234), None, out)
    }));
    let mut expected = parse(&rec.body);
    // 08 tried an arbitrary annotation; ours is the heap one.
    expected["metadata"]["annotations"] = json!({"node.specht.dev/heap-bytes-free": "51234"});
    assert_eq!(ours, expected);
}

#[test]
fn node_registration_matches_recording_01() {
    let rec = recorded_request("01-post-node-201");
    let ids = NodeIds::new([0x24, 0x0a, 0xc4, 0x12, 0x34, 0x56], [0x11; 16]);
    let profile = NodeProfile {
        instance_type: None,
        kernel_version: "FreeRTOS 10.5.1",
        os_image: "ESP-IDF v5.3 (picokubelet)",
        kubelet_version: "v1.36.2-picokubelet.0",
        ..NodeProfile::esp32s3(name("esp-node-01"), ids, [127, 0, 0, 1].into())
    };
    let conds = recorded_01_conditions();
    let ours = parse(&render(|out| {
        write_node_registration(
            &profile,
            &conds,
            Some(51_234),
            at("2026-11-24T13:04:12Z"),
            out,
        )
    }));
    let mut expected = parse(&rec.body);
    // 01 predates the heap annotation; ours registers with it (status patch 08 carries it too).
    expected["metadata"]["annotations"] = json!({"node.specht.dev/heap-bytes-free": "51234"});
    // The recording used hand-made IDs; ours are derived from the MAC and boot entropy.
    let info = &mut expected["status"]["nodeInfo"];
    info["machineID"] = json!(ids.machine_id());
    info["systemUUID"] = json!(ids.system_uuid());
    info["bootID"] = json!(ids.boot_id());
    assert_eq!(ours, expected);
}

#[test]
fn core_event_matches_recording_09a() {
    let rec = recorded_request("09a-post-core-event");
    let ev = NodeEvent {
        kind: EventType::Normal,
        reason: "Starting",
        message: "Starting picokubelet.",
    };
    let ours = parse(&render(|out| {
        write_node_event(
            name("esp-node-01"),
            &ev,
            0x18eafce375396b97,
            at("2026-11-24T13:04:15Z"),
            out,
        )
    }));
    let mut expected = parse(&rec.body);
    // As the kubelet does: involvedObject names its apiVersion and uses the node name as uid;
    // we report as picokubelet, not kubelet.
    expected["involvedObject"]["apiVersion"] = json!("v1");
    expected["involvedObject"]["uid"] = json!("esp-node-01");
    expected["source"]["component"] = json!("picokubelet");
    expected["reportingComponent"] = json!("picokubelet");
    assert_eq!(ours, expected);
}

#[test]
fn each_write_uses_the_recorded_method_path_and_content_type() {
    let node = name("esp-node-01");
    for (write, case) in [
        (ApiWrite::RegisterNode, "01-post-node-201"),
        (ApiWrite::CreateLease, "04-post-lease-201"),
        (ApiWrite::RenewLease, "05-patch-lease-merge-200"),
        (ApiWrite::PatchNodeLabels, "07-patch-node-annotation-merge"),
        (
            ApiWrite::PatchNodeStatus,
            "08-patch-node-status-smp-custom-condition",
        ),
        (ApiWrite::PostEvent, "09a-post-core-event"),
    ] {
        let rec = recorded_request(case);
        assert_eq!(write.method().as_str(), rec.method, "{case}");
        assert_eq!(write.path(node).to_string(), rec.path, "{case}");
        assert_eq!(
            Some(write.content_type().as_str()),
            rec.content_type.as_deref(),
            "{case}"
        );
    }
}

#[test]
fn no_patch_is_sent_as_plain_json_which_is_415() {
    let rec = recorded_request("14f-patch-unsupported-content-type-415");
    assert_eq!(
        (rec.method.as_str(), rec.content_type.as_deref()),
        ("PATCH", Some("application/json"))
    );
    assert!(
        recorded_response_body("14f-patch-unsupported-content-type-415").contains("\"code\":415")
    );
    for w in [
        ApiWrite::RegisterNode,
        ApiWrite::PatchNodeLabels,
        ApiWrite::PatchNodeStatus,
        ApiWrite::CreateLease,
        ApiWrite::RenewLease,
        ApiWrite::PostEvent,
    ] {
        if w.method() == Method::Patch {
            assert_ne!(w.content_type(), ContentType::Json, "{w:?}");
        }
    }
}

/// The labels the server accepted (01) pass; the one it refused with 403 (02b, 07c) is refused
/// locally, and it is the one the server's message names.
#[test]
fn label_checks_agree_with_node_restriction() {
    let accepted = parse(&recorded_request("01-post-node-201").body);
    for (k, v) in accepted["metadata"]["labels"].as_object().unwrap() {
        assert_eq!(validate_node_label(k, v.as_str().unwrap()), Ok(()), "{k}");
    }
    for case in [
        "02b-post-node-forbidden-label-403",
        "07c-patch-node-forbidden-label-403",
    ] {
        let status = parse(&recorded_response_body(case));
        assert_eq!(status["code"], 403);
        let message = status["message"].as_str().unwrap();
        let refused = message.rsplit(": ").next().unwrap();
        assert_eq!(refused, "node-role.kubernetes.io/edge");
        let body = parse(&recorded_request(case).body);
        for (k, v) in body["metadata"]["labels"].as_object().unwrap() {
            let expect = if k == refused {
                Err(LabelError::ForbiddenForNode)
            } else {
                Ok(())
            };
            assert_eq!(
                validate_node_label(k, v.as_str().unwrap()),
                expect,
                "{case} {k}"
            );
        }
    }
}

/// The name an admin gets 422 for (and a node 403) is refused locally, with its cause.
#[test]
fn invalid_recorded_name_is_refused() {
    let body = parse(&recorded_request("14e-post-invalid-name-as-admin-422").body);
    let bad = body["metadata"]["name"].as_str().unwrap();
    assert_eq!(bad, "ESP_Node");
    assert_eq!(
        NodeName::new(bad),
        Err(NameError::InvalidChar { at: 0, byte: b'E' })
    );
    let status = parse(&recorded_response_body(
        "14e-post-invalid-name-as-admin-422",
    ));
    assert_eq!(status["code"], 422);
    assert_eq!(status["details"]["causes"][0]["field"], "metadata.name");
}
