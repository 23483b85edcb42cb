//! A struggling server, in simulated time: one that answers every request 429 (API Priority
//! and Fairness with its queues full) and one whose connects and TLS handshakes time out. The
//! agent must not multiply the load — a bounded number of requests and handshakes per renewal
//! that falls due — and must be back (renewing, Ready) soon after the load drops.
mod agent_support;

use std::time::Duration;

use agent_support::*;
use picokubelet_core::agent::AgentState;

/// The overload window: ten minutes from 1 h + 3 s (just after a renewal), 60 renewals due.
const FROM: Duration = Duration::from_secs(3600 + 3);
const UNTIL: Duration = Duration::from_secs(3600 + 3 + 600);
const RENEWALS_DUE: usize = 60;

fn first_ok_at_or_after(records: &[Record], t: Duration) -> Record {
    records
        .iter()
        .find(|r| r.at >= t && r.status == 200)
        .cloned()
        .expect("a successful request after t")
}

/// Renewal attempts on the fast backoff (delays of at least 0.25, 0.5, 1, then 2 s under equal
/// jitter) between the first failed renewal (10 s after the last good one) and the last chance
/// to renew (35 s after it: one request time-out before the Lease runs out):
/// 0.25 + 0.5 + 1 + 11 × 2 = 23.75 s ≤ 25 s, so at most 14, and 1 at the last chance itself.
const URGENT_RENEWALS: usize = 15;

#[tokio::test(start_paused = true)]
async fn a_server_that_throttles_everything_gets_no_more_requests_than_in_normal_times() {
    local(async {
        let w = World::new();
        let state = AgentState::new();
        // APF's answer, to every request: 429, `Retry-After: 1`.
        w.server.st.borrow_mut().rules.push(Rule::new(
            None,
            FROM,
            UNTIL,
            Fault::Status {
                code: 429,
                retry_after: Some(1),
            },
        ));
        w.run(&config(), &state, UNTIL + 5 * MINUTE, async {}).await;
        let s = &w.server;
        let all: Vec<Record> = s.st.borrow().records.clone();
        let during = between(&all, FROM, UNTIL);
        assert!(during.iter().all(|r| r.status == 429));
        // Bound: every reconciler's retries of a throttled request are spaced by the congested
        // backoff (at least 0.5, 1, 2, 4, 8, then 15 s), so the renewals make at most
        // 5 + 585 / 15 = 44 requests, and the status task (which reads the Node once renewals
        // fail) as many: 88 at most, against 600 if `Retry-After: 1` were taken literally.
        // And hardly more than the same ten minutes cost without overload (a renewal every 10 s
        // plus the status pushes): only the urgent renewals while the Lease is still live (the
        // fast backoff, 0.5 to 4 s, over the 25 s between the first failed renewal and the last
        // chance to renew: at most URGENT_RENEWALS more), once.
        let renewals = during
            .iter()
            .filter(|r| r.route == Route::RenewLease)
            .count();
        assert!(renewals <= 44, "{renewals} renewal attempts");
        assert!(during.len() <= 88, "{} requests", during.len());
        let normal = between(&all, FROM - 10 * MINUTE, FROM).len();
        eprintln!(
            "agent_overload: 429 for 10 min: {} requests ({renewals} renewal attempts), {normal} in the 10 min before",
            during.len()
        );
        assert!(normal >= RENEWALS_DUE);
        assert!(
            during.len() <= normal + URGENT_RENEWALS,
            "{} requests under overload, {normal} in normal times",
            during.len()
        );
        // Throttling is no reason to reconnect: no handshake was added.
        assert_eq!(s.st.borrow().connections, 1);
        // Back within the congested cap (30 s) of the load dropping, and Ready.
        let back = first_ok_at_or_after(&s.records(Route::RenewLease), UNTIL);
        assert!(back.at - UNTIL <= 30 * SECOND, "renewed at {:?}", back.at);
        assert_eq!(s.condition("Ready").unwrap().0, "True");
        // And on the ten-second cadence again afterwards.
        let after = between(&s.records(Route::RenewLease), back.at, UNTIL + 5 * MINUTE);
        assert!(after.iter().all(|r| r.status == 200));
        assert!(after.len() >= 25, "{} renewals after", after.len());
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn handshakes_that_time_out_widen_the_reconnect_backoff() {
    local(async {
        let w = World::new();
        let state = AgentState::new();
        w.run(&config(), &state, UNTIL + 5 * MINUTE, async {
            w.at(FROM).await;
            w.server.set_stalling(true);
            w.at(UNTIL).await;
            w.server.set_stalling(false);
        })
        .await;
        let s = &w.server;
        // Bound: each attempt costs the 10 s connect time-out plus a congested delay (at least
        // 0.5, 1, 2, 4, 8, then 15 s), so 5 attempts take 65.5 s and the rest one per 25 s:
        // at most 5 + 535 / 25 = 26 in ten minutes, under half a handshake per renewal due.
        // (With the fast backoff's 4 s cap it would be up to 58.)
        let stalled = s.st.borrow().stalled_connects;
        eprintln!("agent_overload: connects hanging for 10 min: {stalled} attempts");
        assert!(stalled <= 27, "{stalled} handshakes attempted");
        assert!(stalled >= 15, "{stalled}: the agent kept trying");
        // One new session after the load dropped, within the congested cap plus a time-out.
        assert_eq!(s.st.borrow().connections, 2);
        assert_eq!(state.counters().handshakes, 2);
        let back = first_ok_at_or_after(&s.records(Route::RenewLease), UNTIL);
        assert!(back.at - UNTIL <= 40 * SECOND, "renewed at {:?}", back.at);
        // The controller marked the node Unknown meanwhile; the agent made it Ready again.
        assert_eq!(s.st.borrow().unknown_marks, 1);
        assert_eq!(s.condition("Ready").unwrap().0, "True");
        assert_eq!(state.stats().recoveries, 1);
    })
    .await;
}
