//! `picokubelet run` end to end through the chaos proxy: the real binary, real TLS on
//! 127.0.0.1, faults from the proxy (resets, TLS garbage, a stall, refused and reset dials) and
//! from the test server (500 and 429 bursts, a revoked token, the Lease and the Node deleted, a
//! restart), each followed by renewals on the server. The agent must ride them all out without
//! exiting, end with a Ready Node, and stop on SIGTERM.
//!
//! Every wait polls an outcome at the server (or the proxy) with a generous limit; nothing is
//! timed.

mod agent_process;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use picokubelet_testkit::{burst, ChaosProxy, Fault, Handshake, ServerOptions, TestApiServer};

const NODE: &str = "esp-node-01";
/// Per wait: an outcome that normally comes within a few seconds (the slow 401 backoff waits
/// up to 10 s), bounded generously for a loaded CI machine.
const LIMIT: Duration = Duration::from_secs(90);

/// Successful renewals on connections opened after connection `after` (0: all).
fn renewals_after(server: &TestApiServer, after: u64) -> usize {
    agent_process::renewals_after(server, NODE, after)
}

fn last_connection(server: &TestApiServer) -> u64 {
    server.connections().last().map_or(0, |c| c.id)
}

fn answered(server: &TestApiServer, status: u16) -> usize {
    server
        .requests()
        .iter()
        .filter(|r| r.status == Some(status))
        .count()
}

fn agent_log_count(stderr: &std::path::Path, needle: &str) -> usize {
    std::fs::read_to_string(stderr)
        .unwrap_or_default()
        .matches(needle)
        .count()
}

fn rejected_renewals(server: &TestApiServer) -> usize {
    let lease = agent_process::lease_path(NODE);
    server
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH" && r.target == lease && r.status == Some(401))
        .count()
}

fn ready(server: &TestApiServer) -> bool {
    server.node(NODE).is_some_and(|n| {
        n["status"]["conditions"].as_array().is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
    })
}

struct Agent {
    child: Child,
    stderr: PathBuf,
    _dir: tempfile::TempDir,
}

impl Agent {
    fn spawn(kubeconfig_text: &str) -> Agent {
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig, kubeconfig_text).unwrap();
        let stdout = dir.path().join("stdout");
        let stderr = dir.path().join("stderr");
        let child = Command::new(env!("CARGO_BIN_EXE_picokubelet"))
            .args(["run", "--kubeconfig"])
            .arg(&kubeconfig)
            .args([
                "--node-name",
                NODE,
                "--lease-renew-interval",
                "500ms",
                "--status-interval",
                "2s",
            ])
            .env("RUST_LOG", "debug")
            .env_remove("KUBECONFIG")
            .stdout(Stdio::from(std::fs::File::create(stdout).unwrap()))
            .stderr(Stdio::from(std::fs::File::create(&stderr).unwrap()))
            .spawn()
            .unwrap();
        Agent {
            child,
            stderr,
            _dir: dir,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Polls `done` every 50 ms; fails if the agent exits or after [`LIMIT`].
    async fn wait_for(&mut self, what: &str, mut done: impl FnMut() -> bool) {
        let start = Instant::now();
        loop {
            if let Some(exit) = self.child.try_wait().unwrap() {
                panic!(
                    "the agent exited ({exit:?}) while waiting for {what}:\n{}",
                    self.log()
                );
            }
            if done() {
                println!("{what}: after {:?}", start.elapsed());
                return;
            }
            if start.elapsed() > LIMIT {
                panic!(
                    "gave up waiting for {what}; the agent said:\n{}",
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        // Only when the test failed before its SIGTERM: do not leave the process behind.
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn phase(server: &TestApiServer, proxy: &ChaosProxy, name: &str) {
    let s = proxy.stats();
    let resumed = server
        .connections()
        .iter()
        .filter(|c| matches!(c.handshake, Handshake::Resumed { .. }))
        .count();
    println!(
        "{name}: {} TLS handshakes ({resumed} resumed), {} requests at the server; proxy: {} accepted, {} resets, {} passed-on resets, {} garbage",
        server.tls_handshakes(),
        server.requests().len(),
        s.accepted,
        s.resets,
        s.peer_resets,
        s.garbage_injections
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_rides_out_every_fault_through_the_chaos_proxy() {
    let server = TestApiServer::start(ServerOptions::default().with_seed(42))
        .await
        .unwrap();
    let proxy = ChaosProxy::in_front_of(&server).await.unwrap();
    let token = server.node_token(NODE);
    let mut agent = Agent::spawn(&proxy.kubeconfig(&server, &token));
    let agent_stderr = agent.stderr.clone();

    agent
        .wait_for("the Node Ready and 3 renewals", || {
            ready(&server) && renewals_after(&server, 0) >= 3
        })
        .await;
    assert!(proxy.stats().accepted >= 1, "the agent bypassed the proxy");
    phase(&server, &proxy, "registered");

    // 1. Every connection reset (RST).
    let last = last_connection(&server);
    agent
        .wait_for("an open connection to reset", || proxy.stats().open >= 1)
        .await;
    assert!(proxy.reset_all() >= 1);
    agent
        .wait_for("3 renewals on a new session after the reset", || {
            renewals_after(&server, last) >= 3
        })
        .await;
    assert!(proxy.stats().resets >= 1);
    phase(&server, &proxy, "after reset_all");

    // 2. Garbage where the next TLS record should be.
    let last = last_connection(&server);
    agent
        .wait_for("an open connection for garbage", || proxy.stats().open >= 1)
        .await;
    assert!(proxy.inject_garbage(64) >= 1);
    agent
        .wait_for("3 renewals on a new session after the garbage", || {
            proxy.stats().garbage_injections >= 1 && renewals_after(&server, last) >= 3
        })
        .await;
    phase(&server, &proxy, "after garbage");

    // 3. A stall: the agent gives up on the silent session and dials again (its hello is held
    // too); after the resume it renews on a new session.
    let last = last_connection(&server);
    let accepted = proxy.stats().accepted;
    proxy.stall(true);
    agent
        .wait_for("the agent to dial again during the stall", || {
            let s = proxy.stats();
            s.accepted > accepted && s.held_to_server > 0
        })
        .await;
    assert_eq!(
        last_connection(&server),
        last,
        "a handshake passed the stall"
    );
    proxy.stall(false);
    agent
        .wait_for("3 renewals on a new session after the stall", || {
            renewals_after(&server, last) >= 3
        })
        .await;
    phase(&server, &proxy, "after the stall");

    // 4. The port refused (the open session reset too), then the first two dials reset on
    // accept: the agent keeps dialling.
    let last = last_connection(&server);
    let failed_dials = agent
        .log()
        .matches("cannot connect to the API server")
        .count();
    proxy.refuse(true).await.unwrap();
    proxy.reset_all();
    agent
        .wait_for("a refused dial", || {
            agent_log_count(&agent_stderr, "cannot connect to the API server") > failed_dials
        })
        .await;
    let resets = proxy.stats().resets;
    proxy.reset_next_connections(2);
    proxy.refuse(false).await.unwrap();
    agent
        .wait_for("3 renewals after two dials reset on accept", || {
            proxy.stats().resets >= resets + 2 && renewals_after(&server, last) >= 3
        })
        .await;
    phase(&server, &proxy, "after refusals");

    // 5. HTTP bursts: the server's own fault hooks (the proxy cannot see inside TLS).
    let errors = answered(&server, 500);
    burst(&server, Fault::status(500), 3);
    agent
        .wait_for("the 500 burst to be served", || {
            answered(&server, 500) >= errors + 3
        })
        .await;
    phase(&server, &proxy, "after the 500 burst");
    let throttled = answered(&server, 429);
    burst(&server, Fault::TooManyRequests, 3);
    agent
        .wait_for("the 429 burst to be served", || {
            answered(&server, 429) >= throttled + 3
        })
        .await;
    let renewed = renewals_after(&server, 0);
    agent
        .wait_for("3 renewals after the bursts", || {
            renewals_after(&server, 0) >= renewed + 3
        })
        .await;
    phase(&server, &proxy, "after the bursts");

    // 6. The token revoked: a renewal gets 401 (then the slow backoff), then valid again.
    let rejected = answered(&server, 401);
    let renewals_rejected = rejected_renewals(&server);
    server.revoke_token(&token);
    agent
        .wait_for("a renewal answered 401", || {
            rejected_renewals(&server) > renewals_rejected
        })
        .await;
    server.add_token(&token, &format!("system:node:{NODE}"), &["system:nodes"]);
    let renewed = renewals_after(&server, 0);
    agent
        .wait_for("3 renewals with the token restored", || {
            renewals_after(&server, 0) >= renewed + 3
        })
        .await;
    phase(&server, &proxy, "after the token came back");
    println!("401 answers: {}", answered(&server, 401) - rejected);

    // 7. The Lease, then the Node deleted behind the agent's back: both come back.
    assert!(server.delete_lease(NODE));
    let renewed = renewals_after(&server, 0);
    agent
        .wait_for("the Lease recreated and renewed", || {
            server.lease(NODE).is_some() && renewals_after(&server, 0) >= renewed + 2
        })
        .await;
    let uid = server.node(NODE).unwrap()["metadata"]["uid"].clone();
    assert!(server.delete_node(NODE));
    let renewed = renewals_after(&server, 0);
    agent
        .wait_for("the Node registered again, Ready, and renewing", || {
            server
                .node(NODE)
                .is_some_and(|n| n["metadata"]["uid"] != uid)
                && ready(&server)
                && renewals_after(&server, 0) >= renewed + 2
        })
        .await;
    let lease = server.lease(NODE).unwrap();
    let node = server.node(NODE).unwrap();
    assert_eq!(
        lease["metadata"]["ownerReferences"][0]["uid"], node["metadata"]["uid"],
        "the new Lease belongs to the new Node"
    );
    phase(&server, &proxy, "after the deletions");

    // 8. A server restart behind the proxy (same port, TLS tickets forgotten).
    let last = last_connection(&server);
    server.restart(true).await.unwrap();
    agent
        .wait_for("3 renewals on a new session after the restart", || {
            renewals_after(&server, last) >= 3
        })
        .await;
    phase(&server, &proxy, "after the restart");

    assert!(ready(&server), "the Node is not Ready at the end");
    assert!(
        agent.child.try_wait().unwrap().is_none(),
        "the agent exited"
    );

    let status = Command::new("kill")
        .args(["-TERM", &agent.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let start = Instant::now();
    let exit = loop {
        if let Some(exit) = agent.child.try_wait().unwrap() {
            break exit;
        }
        assert!(start.elapsed() < LIMIT, "the agent did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let log = agent.log();
    assert!(exit.success(), "{exit:?}\n{log}");
    let stopping = log.lines().rev().find(|l| l.contains("stopping"));
    assert!(stopping.is_some(), "{log}");
    println!("{}", stopping.unwrap_or_default());
    assert!(!log.contains(&token), "token in the log");
}
