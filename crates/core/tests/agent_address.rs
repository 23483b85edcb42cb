//! The board's DHCP address reaches the Node: at registration, and by a status patch (with the
//! board details, the address list replaced whole) at the next condition check after it changes.
//! Simulated time throughout.
mod agent_support;

use std::net::Ipv4Addr;
use std::time::Duration;

use agent_support::*;
use picokubelet_core::agent::AgentState;

const FIRST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 7);
const SECOND_LEASE: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 42);

fn internal_ip_in(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let list = v["status"]["addresses"].as_array()?;
    list.iter()
        .find(|a| a["type"] == "InternalIP")
        .and_then(|a| a["address"].as_str())
        .map(str::to_owned)
}

#[tokio::test(start_paused = true)]
async fn a_new_dhcp_lease_is_pushed_once_at_the_next_check() {
    local(async {
        let w = World::new();
        let state = AgentState::new();
        let board = w.board.clone();
        let mut b = board.get();
        b.ipv4 = Some(FIRST);
        board.set(b);
        w.run(&config(), &state, 2 * HOUR, async {
            w.at(HOUR + 2 * SECOND).await;
            let mut b = board.get();
            b.ipv4 = Some(SECOND_LEASE);
            board.set(b);
            // The interface loses its lease for a while: unknown keeps what the Node has.
            w.at(HOUR + 30 * MINUTE).await;
            b.ipv4 = None;
            board.set(b);
        })
        .await;
        let s = &w.server;

        // Registered with the board's address, not the configured 192.168.1.50.
        let created = s.records(Route::CreateNode);
        assert_eq!(created.len(), 1);
        assert_eq!(
            internal_ip_in(&created[0].body).as_deref(),
            Some("10.0.0.7")
        );

        let pushes = s.records(Route::PatchStatus);
        let with_addresses: Vec<_> = pushes
            .iter()
            .filter(|r| r.body.contains("\"addresses\""))
            .collect();
        assert_eq!(
            with_addresses.len(),
            1,
            "exactly one push carries addresses"
        );
        let moved = with_addresses[0];
        assert_eq!(moved.at, HOUR + 10 * SECOND, "at the next condition check");
        assert_eq!(moved.status, 200);
        assert_eq!(internal_ip_in(&moved.body).as_deref(), Some("10.0.0.42"));
        assert!(moved.body.contains("\"nodeInfo\""));
        assert!(w.log.count("AddressPushed { internal_ip: 10.0.0.42 }") == 1);

        // Before the change and after it, pushes are the plain condition patch on the cadence.
        assert!(between(&pushes, Duration::ZERO, HOUR + 10 * SECOND)
            .iter()
            .all(|r| !r.body.contains("\"addresses\"")));
        let after = between(&pushes, HOUR + 11 * SECOND, 2 * HOUR);
        assert!(!after.is_empty());
        assert!(after.iter().all(|r| !r.body.contains("\"addresses\"")));
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_refused_address_push_is_retried_until_accepted() {
    local(async {
        let w = World::new();
        let state = AgentState::new();
        let board = w.board.clone();
        {
            let mut st = w.server.st.borrow_mut();
            st.rules.push(Rule {
                times: Some(1),
                ..Rule::new(
                    Some(Route::PatchStatus),
                    // After the regular push at 1 h, so the address push meets it.
                    HOUR + 5 * SECOND,
                    2 * HOUR,
                    Fault::Status {
                        code: 500,
                        retry_after: None,
                    },
                )
            });
        }
        w.run(&config(), &state, HOUR + 5 * MINUTE, async {
            w.at(HOUR + 2 * SECOND).await;
            let mut b = board.get();
            b.ipv4 = Some(SECOND_LEASE);
            board.set(b);
        })
        .await;
        let pushes = between(
            &w.server.records(Route::PatchStatus),
            HOUR,
            HOUR + 5 * MINUTE,
        );
        let carrying: Vec<(u16, Option<String>)> = pushes
            .iter()
            .filter(|r| r.body.contains("\"addresses\""))
            .map(|r| (r.status, internal_ip_in(&r.body)))
            .collect();
        assert_eq!(
            carrying,
            [
                (500, Some("10.0.0.42".to_owned())),
                (200, Some("10.0.0.42".to_owned()))
            ]
        );
    })
    .await;
}
