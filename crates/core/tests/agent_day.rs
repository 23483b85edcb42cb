//! A simulated day of the agent against the scripted server (tokio's paused clock): the exact
//! number of renewals, status pushes and re-anchorings, one connection all day, stable
//! lastTransitionTimes, and the traffic it costs.
mod agent_support;

use agent_support::*;
use picokubelet_core::agent::AgentState;
use picokubelet_core::led::{led_state, LedInputs, LedState};

fn at_or_before(records: &[Record], t: std::time::Duration) -> usize {
    records.iter().filter(|r| r.at <= t).count()
}

#[tokio::test(start_paused = true)]
async fn a_quiet_day_costs_one_connection_and_the_expected_requests() {
    local(async {
        let w = World::new();
        let mut cfg = config();
        // The boot buzz wears off at 10 min 5 s, so the flip does not coincide with the
        // regular push at 10 min.
        cfg.thresholds.caffeinated_uptime_below_micros = 605_000_000;
        let state = AgentState::new();
        let board = w.board.clone();
        w.run(&cfg, &state, DAY + SECOND, async {
            w.at(3 * HOUR + 7 * SECOND).await;
            let mut b = board.get();
            b.heap_free_bytes = 10_000; // MemoryPressure, Peckish, Vibes flip together
            board.set(b);
            w.at(HOUR).await;
            assert_eq!(led_state(&LedInputs::of_agent(&state)), LedState::Healthy);
            w.at(4 * HOUR + 7 * SECOND).await;
            b.heap_free_bytes = 250_000;
            board.set(b);
        })
        .await;

        let s = &w.server;
        // One connection, one handshake, all day.
        assert_eq!(s.st.borrow().connections, 1);
        let counters = state.counters();
        assert_eq!((counters.handshakes, counters.reconnects), (1, 0));

        // Renewals every 10 s: at 10 s … 86 400 s.
        let renewals = s.records(Route::RenewLease);
        assert_eq!(at_or_before(&renewals, DAY), 8_640);
        assert!(renewals.iter().all(|r| r.status == 200));
        assert!(renewals
            .windows(2)
            .all(|p| p[1].at - p[0].at == 10 * SECOND));
        assert_eq!(s.count(Route::GetLease, 404), 1);
        assert_eq!(s.count(Route::CreateLease, 201), 1);
        assert_eq!(s.st.borrow().renew_not_later, 0);
        assert_eq!(s.st.borrow().renew_bad_format, 0);
        assert_eq!(state.stats().renewals, renewals.len() as u64);
        // Every renewal is reported, and on a server that answers at once none is late.
        assert_eq!(w.log.count("LeaseRenewed {"), renewals.len());
        assert_eq!(w.log.count("LeaseRenewed { late_us: 0 }"), renewals.len());

        // 288 regular pushes (every 5 min from registration) plus one per flip: Caffeinated
        // (10 min 10 s), Existential (100th renewal, 1000 s), and the heap dip and recovery
        // (3 h 10 s, 4 h 10 s).
        let pushes = s.records(Route::PatchStatus);
        assert!(pushes.iter().all(|r| r.status == 200));
        let regular = pushes
            .iter()
            .filter(|r| r.at <= DAY && r.at.as_secs() % 300 == 0 && r.at.subsec_nanos() == 0)
            .count();
        let extra: Vec<u64> = pushes
            .iter()
            .filter(|r| r.at <= DAY && !(r.at.as_secs() % 300 == 0 && r.at.subsec_nanos() == 0))
            .map(|r| r.at.as_secs())
            .collect();
        assert_eq!(regular, 288);
        assert_eq!(extra.len(), 4, "{extra:?}");
        assert_eq!(extra[0], 610);
        assert!(extra[1] == 1_000 || extra[1] == 1_010, "{extra:?}");
        assert_eq!(&extra[2..], &[3 * 3600 + 10, 4 * 3600 + 10]);
        // Every push carries all nine conditions and the heap annotation.
        for p in &pushes {
            let body: serde_json::Value = serde_json::from_str(&p.body).unwrap();
            assert_eq!(body["status"]["conditions"].as_array().unwrap().len(), 9);
            assert!(body["metadata"]["annotations"]["node.specht.dev/heap-bytes-free"].is_string());
        }

        // The clock: anchored at start, then every 30 min.
        assert_eq!(at_or_before(&s.records(Route::Version), DAY), 49);

        // Registration once, two events.
        assert_eq!(s.count(Route::CreateNode, 201), 1);
        assert_eq!(s.count(Route::PostEvent, 201), 2);
        assert_eq!(s.st.borrow().unknown_marks, 0);

        // lastTransitionTime moves only on status changes.
        let boot = rfc3339(wall_at(std::time::Duration::ZERO));
        assert_eq!(s.condition("Ready"), Some(("True".into(), boot.clone())));
        assert_eq!(
            s.condition("DiskPressure"),
            Some(("False".into(), boot.clone()))
        );
        assert_eq!(
            s.condition("Caffeinated"),
            Some(("False".into(), rfc3339(wall_at(610 * SECOND))))
        );
        assert_eq!(
            s.condition("MemoryPressure"),
            Some(("False".into(), rfc3339(wall_at(4 * HOUR + 10 * SECOND))))
        );

        let total = counters.bytes_in + counters.bytes_out;
        println!(
            "quiet day: {} opens, {} requests, {} B out + {} B in = {} B/node-hour",
            counters.handshakes,
            counters.requests,
            counters.bytes_out,
            counters.bytes_in,
            total / 24
        );
        // The only answer that was not a success: the Lease did not exist yet.
        assert_eq!(w.log.count("Refused"), 1);
        assert_eq!(w.log.count("Refused { op: ReadLease, status: 404"), 1);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn an_hour_with_a_service_account_sized_token() {
    // A bound service-account token is a ~1 KB JWT; every request head carries it.
    let token = format!(
        "eyJhbGciOiJSUzI1NiIsImtpZCI6Im5vZGUifQ.{}.sig",
        "x".repeat(960)
    );
    local(async {
        let w = World::new();
        w.server.st.borrow_mut().token = token.clone();
        let mut cfg = config();
        cfg.token = Some(picokubelet_core::http::request::BearerToken::new(&token));
        let state = AgentState::new();
        // Skip the start-up hour: measure a steady one, between two quiet instants.
        let samples = std::cell::RefCell::new(Vec::new());
        w.run(&cfg, &state, 2 * HOUR + 10 * SECOND, async {
            for t in [HOUR + 5 * SECOND, 2 * HOUR + 5 * SECOND] {
                w.at(t).await;
                samples.borrow_mut().push(state.counters());
            }
        })
        .await;
        let (before, after) = (samples.borrow()[0], samples.borrow()[1]);
        let (out, inb) = (
            after.bytes_out - before.bytes_out,
            after.bytes_in - before.bytes_in,
        );
        let requests = after.requests - before.requests;
        println!(
            "steady hour, {}-byte token: {requests} requests, {out} B out + {inb} B in = {} B",
            token.len(),
            out + inb
        );
        // 360 renewals, 12 status pushes, 2 re-anchorings.
        assert_eq!(requests, 374);
        assert!(w
            .server
            .records(Route::RenewLease)
            .iter()
            .all(|r| r.status == 200));
        assert_eq!(after.handshakes, 1);
    })
    .await;
}
