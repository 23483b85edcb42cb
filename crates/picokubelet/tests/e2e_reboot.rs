//! Across a reboot: `picokubelet run` killed with SIGKILL mid-flight (no shutdown, nothing
//! flushed) and started again keeps every condition's `lastTransitionTime` — the new process
//! finds its Node (409), adopts the server's times for the conditions whose status it agrees
//! with — and the Lease's `renewTime` never goes backward.
mod agent_process;

use std::collections::BTreeMap;
use std::sync::Mutex;

use agent_process::{lease_path, status_of, Agent};
use picokubelet_testkit::{ServerOptions, TestApiServer};

const NODE: &str = "esp-node-01";
const ARGS: &[&str] = &[
    "run",
    "--node-name",
    NODE,
    "--lease-renew-interval",
    "1s",
    "--status-interval",
    "3s",
];

/// type -> (status, lastTransitionTime) of every condition of the stored Node.
fn transitions(server: &TestApiServer) -> BTreeMap<String, (String, String)> {
    let node = server.node(NODE).expect("the Node exists");
    node["status"]["conditions"]
        .as_array()
        .expect("the Node has conditions")
        .iter()
        .map(|c| {
            let field = |k: &str| c[k].as_str().unwrap_or_default().to_owned();
            (
                field("type"),
                (field("status"), field("lastTransitionTime")),
            )
        })
        .collect()
}

/// Every `renewTime` seen on the stored Lease, in order of observation; fails as soon as one is
/// earlier than the one before (RFC 3339 with six digits in UTC: string order is time order).
#[derive(Default)]
struct RenewTimes(Mutex<Vec<String>>);

impl RenewTimes {
    fn observe(&self, server: &TestApiServer) {
        let Some(lease) = server.lease(NODE) else {
            return;
        };
        let Some(t) = lease["spec"]["renewTime"].as_str() else {
            return;
        };
        let mut seen = self.0.lock().unwrap();
        if let Some(last) = seen.last() {
            assert!(t >= last.as_str(), "renewTime went back from {last} to {t}");
        }
        seen.push(t.to_owned());
    }

    fn last(&self) -> String {
        self.0.lock().unwrap().last().cloned().expect("a renewTime")
    }
}

/// Successful `method`s of `target` on connections opened after connection `after`.
fn answered(server: &TestApiServer, method: &str, target: &str, code: u16, after: u64) -> usize {
    server
        .requests()
        .iter()
        .filter(|r| {
            r.method == method
                && r.target == target
                && r.status == Some(code)
                && r.connection > after
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_and_restart_keep_every_last_transition_time() {
    let server = TestApiServer::start(ServerOptions::default())
        .await
        .unwrap();
    let token = server.node_token(NODE);
    let kubeconfig = server.kubeconfig(&token);
    let status_path = format!("/api/v1/nodes/{NODE}/status");
    let lease = lease_path(NODE);
    let renew_times = RenewTimes::default();

    let mut first = Agent::start(&kubeconfig, ARGS, "info");
    first
        .wait_for("the Node to be Ready", || {
            renew_times.observe(&server);
            status_of(server.node(NODE).as_ref(), "Ready").as_deref() == Some("True")
        })
        .await;
    // lastTransitionTime has second resolution: let renewals 1 s apart pass, so a restarted
    // process that stamped its own transition times would stamp different ones.
    first
        .wait_for("three renewals", || {
            renew_times.observe(&server);
            answered(&server, "PATCH", &lease, 200, 0) >= 3
        })
        .await;
    let before = transitions(&server);
    assert!(before.contains_key("Ready"), "{before:?}");
    assert!(before.values().all(|(_, t)| !t.is_empty()), "{before:?}");

    // SIGKILL: no SIGTERM handler runs, whatever was in flight is cut off.
    first.child.kill().unwrap();
    let exit = first.child.wait().unwrap();
    assert!(!exit.success(), "{exit:?}");
    renew_times.observe(&server);
    let renewed_before_kill = renew_times.last();
    // The premise: a process stamping its own times now would stamp a later second than the
    // Ready transition it is to keep (seconds: the first 19 characters of both forms).
    assert!(
        renewed_before_kill[..19] > before["Ready"].1[..19],
        "renewTime {renewed_before_kill} is in the second of Ready's transition {:?}",
        before["Ready"]
    );
    let last_connection = server
        .requests()
        .iter()
        .map(|r| r.connection)
        .max()
        .unwrap();

    let mut second = Agent::start(&kubeconfig, ARGS, "info");
    second
        .wait_for(
            "the new process to renew three times and push status twice",
            || {
                renew_times.observe(&server);
                answered(&server, "PATCH", &lease, 200, last_connection) >= 3
                    && answered(&server, "PATCH", &status_path, 200, last_connection) >= 2
            },
        )
        .await;
    assert!(
        answered(&server, "POST", "/api/v1/nodes", 409, last_connection) >= 1,
        "the new process registered anew instead of finding its Node"
    );
    assert_eq!(
        transitions(&server),
        before,
        "the restart changed a condition; the new process said:\n{}",
        second.stderr_text()
    );
    assert!(
        renew_times.last() > renewed_before_kill,
        "the new process's renewals did not move renewTime past {renewed_before_kill}"
    );

    let exit = second.terminate().await;
    let output = second.output();
    assert!(exit.success(), "{exit:?}\n{output}");
    assert!(!output.contains(&token), "token in the output");
}
