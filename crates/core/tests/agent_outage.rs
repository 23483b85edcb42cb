//! Outages, node deletion and reboots, in simulated time: what the lifecycle controller sees
//! and how fast the agent puts things right.
mod agent_support;

use std::time::Duration;

use agent_support::*;
use picokubelet_core::agent::AgentState;

fn first_at_or_after(records: &[Record], t: Duration) -> Record {
    records
        .iter()
        .find(|r| r.at >= t)
        .cloned()
        .expect("a request after t")
}

fn patch_sets_ready(r: &Record) -> bool {
    let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    body["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

/// An outage from 1 h + 3 s (just after a renewal) lasting `length`.
async fn outage(length: Duration) -> (World, AgentState) {
    let w = World::new();
    let state = AgentState::new();
    let (down, up) = (HOUR + 3 * SECOND, HOUR + 3 * SECOND + length);
    w.run(&config(), &state, up + 10 * MINUTE, async {
        w.at(down).await;
        w.server.set_down(true);
        w.at(up).await;
        w.server.set_down(false);
    })
    .await;
    (w, state)
}

#[tokio::test(start_paused = true)]
async fn a_35_second_outage_costs_no_ready() {
    local(async {
        let (w, state) = outage(35 * SECOND).await;
        let up = HOUR + 38 * SECOND;
        let s = &w.server;
        // Renewed within the fast backoff's cap (4 s) of the server's return, before the
        // controller's 50 s grace period ran out.
        let renewals = s.records(Route::RenewLease);
        let renewal = first_at_or_after(&renewals, up);
        assert_eq!(renewal.status, 200);
        assert!(renewal.at - up <= 4 * SECOND, "renewed at {:?}", renewal.at);
        let last_before = renewals
            .iter()
            .rev()
            .find(|r| r.at < HOUR + 3 * SECOND)
            .unwrap();
        assert!(renewal.at - last_before.at < GRACE);
        assert_eq!(s.st.borrow().unknown_marks, 0);
        // Nothing transitioned: Ready's time is still the registration's.
        let boot = rfc3339(wall_at(Duration::ZERO));
        assert_eq!(s.condition("Ready"), Some(("True".into(), boot)));
        // One reconnect after the outage; the refused connects in between were retried with
        // backoff (at most 500 ms, 1 s, 2 s, then 4 s apart: at least 8 in 35 s).
        assert_eq!(s.st.borrow().connections, 2);
        let refused = s.st.borrow().refused;
        assert!((8..=40).contains(&refused), "{refused} refused connects");
        let counters = state.counters();
        assert_eq!((counters.handshakes, counters.reconnects), (2, 1));
        assert_eq!(
            s.count(Route::PostEvent, 201),
            2,
            "no NodeReady for an outage without NotReady"
        );
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn after_a_120_second_outage_ready_is_reasserted_at_once() {
    local(async {
        let (w, state) = outage(120 * SECOND).await;
        let up = HOUR + 123 * SECOND;
        let s = &w.server;
        // The controller marked the node Unknown during the outage.
        assert_eq!(s.st.borrow().unknown_marks, 1);
        // Within one lease period of the server's return: renewed, Node read, Ready re-posted.
        let renewal = first_at_or_after(&s.records(Route::RenewLease), up);
        assert!(renewal.at - up <= 4 * SECOND, "renewed at {:?}", renewal.at);
        let read = first_at_or_after(&s.records(Route::GetNode), up);
        let push = first_at_or_after(&s.records(Route::PatchStatus), up);
        assert!(
            read.at <= push.at && push.at - up < 10 * SECOND,
            "pushed at {:?}",
            push.at
        );
        assert!(patch_sets_ready(&push));
        // Ready went Unknown → True: a transition, at the push. The pressure conditions, left
        // Unknown by the controller, are back too.
        let (status, since) = s.condition("Ready").unwrap();
        assert_eq!(status, "True");
        let since = parse_time(&since);
        assert!(since >= up && since <= push.at, "Ready since {since:?}");
        for kind in ["MemoryPressure", "DiskPressure", "PIDPressure"] {
            assert_eq!(s.condition(kind).unwrap().0, "False", "{kind}");
        }
        // The agent posts the NodeReady the controller never does.
        let events: Vec<_> = s
            .records(Route::PostEvent)
            .into_iter()
            .filter(|r| r.body.contains("\"NodeReady\""))
            .collect();
        assert_eq!(events.len(), 2);
        assert!(events[1].at >= push.at && events[1].at - up < 10 * SECOND);
        assert_eq!(state.stats().recoveries, 1);
        assert_eq!(s.st.borrow().renew_not_later, 0);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_deleted_node_is_registered_again_with_a_new_lease() {
    local(async {
        let w = World::new();
        let state = AgentState::new();
        let deleted = 2 * HOUR + 5 * SECOND;
        w.run(&config(), &state, 3 * HOUR, async {
            w.at(deleted).await;
            w.server.delete_node();
        })
        .await;
        let s = &w.server;
        let creates = s.records(Route::CreateNode);
        assert_eq!(creates.len(), 2);
        assert!(
            creates[1].at - deleted <= 10 * SECOND,
            "re-registered at {:?}",
            creates[1].at
        );
        assert_eq!(creates[1].status, 201);
        // The new Lease is owned by the new Node.
        let uid = s.node_uid().unwrap();
        let owner = s.st.borrow().lease.as_ref().unwrap()["metadata"]["ownerReferences"][0]["uid"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(owner, uid);
        assert_eq!(s.count(Route::CreateLease, 201), 2);
        assert_eq!(s.condition("Ready").unwrap().0, "True");
        // Renewals go on every 10 s after it, and the session survived it all.
        let after: Vec<_> = s
            .records(Route::RenewLease)
            .into_iter()
            .filter(|r| r.at > creates[1].at)
            .collect();
        assert!(after.iter().all(|r| r.status == 200));
        assert!(after.len() >= 355, "{} renewals", after.len());
        assert_eq!(s.st.borrow().connections, 1);
        assert_eq!(state.stats().registrations, 2);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_404_on_status_registers_again_and_adopts_the_existing_node() {
    local(async {
        let w = World::new();
        let state = AgentState::new();
        w.server.st.borrow_mut().rules.push(Rule {
            times: Some(1),
            ..Rule::new(
                Some(Route::PatchStatus),
                HOUR,
                2 * HOUR,
                Fault::Status {
                    code: 404,
                    retry_after: None,
                },
            )
        });
        w.run(&config(), &state, 2 * HOUR, async {}).await;
        let s = &w.server;
        // POST again: 409 (the Node is there), GET it, patch its status with details.
        assert_eq!(s.count(Route::CreateNode, 201), 1);
        assert_eq!(s.count(Route::CreateNode, 409), 1);
        let conflict = s.records(Route::CreateNode)[1].at;
        assert_eq!(conflict, HOUR);
        // At the same instant: the push that got 404, then the one with the details.
        let at_conflict: Vec<_> = s
            .records(Route::PatchStatus)
            .into_iter()
            .filter(|r| r.at == conflict)
            .collect();
        assert_eq!(
            at_conflict.iter().map(|r| r.status).collect::<Vec<_>>(),
            [404, 200]
        );
        let details = &at_conflict[1];
        assert!(
            details.body.contains("\"nodeInfo\"")
                && details.body.contains("\"$patch\":\"replace\"")
        );
        // Nothing transitioned.
        let boot = rfc3339(wall_at(Duration::ZERO));
        assert_eq!(s.condition("Ready"), Some(("True".into(), boot)));
        assert_eq!(state.stats().registrations, 2);
        assert_eq!(w.log.count("NodeMissing"), 1);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_reboot_keeps_transition_times_and_never_renews_backward() {
    local(async {
        let w = World::new();
        let first = AgentState::new();
        w.run(&config(), &first, HOUR, async {}).await;
        let before_ready = w.server.condition("Ready").unwrap();
        let last_renew = w.server.st.borrow().lease.as_ref().unwrap()["spec"]["renewTime"]
            .as_str()
            .unwrap()
            .to_string();

        // Reboot 20 s later with a new boot ID; the server's clock jumped back by 3 s, so a
        // renewTime from our new anchor would be earlier than the last one.
        w.at(HOUR + 20 * SECOND).await;
        w.reboot();
        w.server.st.borrow_mut().skew_secs = -3;
        let mut cfg = config();
        cfg.profile.ids = picokubelet_core::k8s::node_ids::NodeIds::new(
            [0x24, 0x0a, 0xc4, 0x12, 0x34, 0x56],
            [9; 16],
        );
        let second = AgentState::new();
        w.run(&cfg, &second, HOUR + 5 * MINUTE, async {}).await;
        let s = &w.server;
        assert_eq!(s.count(Route::CreateNode, 409), 1);
        assert_eq!(s.condition("Ready").unwrap(), before_ready);
        // Caffeinated is True again after the reboot: a transition at the reboot.
        let (caffeinated, since) = s.condition("Caffeinated").unwrap();
        assert_eq!(caffeinated, "True");
        assert!(parse_time(&since) >= HOUR + 17 * SECOND);
        let boot_id = s.st.borrow().node.as_ref().unwrap()["status"]["nodeInfo"]["bootID"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(boot_id, cfg.profile.ids.boot_id());
        // The Lease was read, not created again, and every renewal went forward.
        assert_eq!(s.count(Route::CreateLease, 201), 1);
        assert_eq!(s.count(Route::GetLease, 200), 1);
        assert_eq!(s.st.borrow().renew_not_later, 0);
        let next = first_at_or_after(&s.records(Route::RenewLease), HOUR + 20 * SECOND);
        assert!(next.body.as_str() > format!("{{\"spec\":{{\"renewTime\":\"{last_renew}").as_str());
        assert_eq!(second.stats().registrations, 1);
        assert_eq!(s.st.borrow().connections, 2);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn after_a_reboot_a_missing_taint_is_reported_and_labels_are_put_back() {
    local(async {
        let w = World::new();
        let first = AgentState::new();
        w.run(&config(), &first, 10 * MINUTE, async {}).await;
        {
            // Someone removed our taint and changed a label we own.
            let mut st = w.server.st.borrow_mut();
            let node = st.node.as_mut().unwrap();
            node["spec"]["taints"] = serde_json::json!([]);
            node["metadata"]["labels"]["kubernetes.io/arch"] = serde_json::json!("wrong");
        }
        w.reboot();
        let second = AgentState::new();
        w.run(&config(), &second, 20 * MINUTE, async {}).await;
        let s = &w.server;
        assert_eq!(second.stats().taint_missing, 1);
        assert_eq!(
            w.log
                .count("TaintMissing { key: \"picokubelet.dev/microcontroller\" }"),
            1
        );
        // Taints are create-only: the agent never tries to patch them.
        assert!(s
            .records(Route::PatchNode)
            .iter()
            .all(|r| !r.body.contains("taints")));
        let labels = s.records(Route::PatchNode);
        assert_eq!(labels.len(), 1);
        assert_eq!(labels[0].status, 200);
        let arch = s.st.borrow().node.as_ref().unwrap()["metadata"]["labels"]["kubernetes.io/arch"]
            .clone();
        assert_eq!(arch, "xtensa");
        assert_eq!(w.log.count("LabelsPatched"), 1);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn every_recovery_from_unknown_is_announced() {
    local(async {
        let w = World::new();
        let state = AgentState::new();
        // Two outages long enough for Unknown, five minutes apart.
        w.run(&config(), &state, 2 * HOUR, async {
            for start in [HOUR, HOUR + 7 * MINUTE] {
                w.at(start + 3 * SECOND).await;
                w.server.set_down(true);
                w.at(start + 123 * SECOND).await;
                w.server.set_down(false);
            }
        })
        .await;
        let s = &w.server;
        assert_eq!(s.st.borrow().unknown_marks, 2);
        let ready: Vec<_> = s
            .records(Route::PostEvent)
            .into_iter()
            .filter(|r| r.body.contains("\"NodeReady\""))
            .collect();
        // At registration and after each recovery, the second within 10 minutes of the first:
        // a transition to Ready is news every time (issue 13 item 5: it used to be dropped).
        assert_eq!(
            ready.len(),
            3,
            "{:?}",
            ready.iter().map(|r| r.at).collect::<Vec<_>>()
        );
        assert!(ready[1].at > HOUR && ready[1].at < HOUR + 3 * MINUTE);
        assert!(ready[2].at > HOUR + 7 * MINUTE && ready[2].at < HOUR + 10 * MINUTE);
        assert_eq!(w.log.count("EventDropped"), 0);
        assert_eq!(state.events_pending(), (0, 0));
        assert_eq!(state.stats().recoveries, 2);
        assert_eq!(s.condition("Ready").unwrap().0, "True");
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_deleted_lease_of_a_live_node_is_created_again_without_registering() {
    local(async {
        let w = World::new();
        let state = AgentState::new();
        let deleted = HOUR + 5 * SECOND;
        w.run(&config(), &state, HOUR + 5 * MINUTE, async {
            w.at(deleted).await;
            w.server.st.borrow_mut().lease = None;
        })
        .await;
        let s = &w.server;
        assert_eq!(s.count(Route::CreateNode, 201), 1);
        let creates = s.records(Route::CreateLease);
        assert_eq!(creates.len(), 2);
        // 404 on the renewal at 1 h 10 s, the Node is still there, the Lease is back within
        // the fast backoff's first step.
        assert!(
            creates[1].at >= HOUR + 10 * SECOND && creates[1].at <= HOUR + 10 * SECOND + SECOND / 2
        );
        assert!(creates[1].body.contains(&s.node_uid().unwrap()));
        assert_eq!(s.count(Route::RenewLease, 404), 1);
        assert_eq!(s.st.borrow().unknown_marks, 0);
        assert_eq!(state.stats().registrations, 1);
    })
    .await;
}
