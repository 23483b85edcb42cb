//! Failures the agent cannot fix itself are said once, as sentences with what to do, and show
//! as AuthFailed in the metrics; the retries go on quietly (the real binary against the test
//! server over TLS on 127.0.0.1).
mod agent_process;

use std::time::{Duration, Instant};

use agent_process::{http_get, metrics_addr, parse_exposition, Agent};
use picokubelet_testkit::{Binding, Handshake, ServerOptions, TestApiServer};

/// Polls `done` every 100 ms (a generous bound for a loaded machine; nothing is timed).
async fn wait_for(agent: &mut Agent, what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        if let Some(exit) = agent.child.try_wait().unwrap() {
            panic!(
                "the agent exited ({exit:?}) before {what}:\n{}",
                agent.output()
            );
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "gave up waiting for {what}:\n{}",
            agent.output()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn lines_with<'a>(log: &'a str, needle: &str) -> Vec<&'a str> {
    log.lines().filter(|l| l.contains(needle)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_without_the_lease_binding_is_told_once_and_shows_auth_failed() {
    let server = TestApiServer::start(ServerOptions::default())
        .await
        .unwrap();
    server.add_token("fleet-token-0123456789", "picokubelet-fleet", &[]);
    server.bind("picokubelet-fleet", Binding::Node);
    server.bind("picokubelet-fleet", Binding::Events);
    let mut agent = Agent::start(
        &server.kubeconfig("fleet-token-0123456789"),
        &[
            "run",
            "--node-name",
            "vb-r-1",
            "--metrics-addr",
            "127.0.0.1:0",
        ],
        "info",
    );
    let refused_leases = || {
        server
            .requests()
            .iter()
            .filter(|r| r.target.contains("/leases") && r.status == Some(403))
            .count()
    };
    wait_for(&mut agent, "two refused Lease requests", || {
        refused_leases() >= 2
    })
    .await;
    let log = agent.stderr_text();
    println!("{log}");
    let said = lines_with(&log, "the API server refused");
    assert_eq!(said.len(), 1, "said more than once:\n{log}");
    assert!(said[0].contains("ERROR"), "{log}");
    assert!(
        said[0].contains("AuthFailed: the API server refused"),
        "{log}"
    );
    assert!(said[0].contains("(403 Forbidden)"), "{log}");
    assert!(said[0].contains("deploy/rbac.yaml"), "{log}");
    assert!(said[0].contains("cause=403"), "{log}");
    assert!(
        !log.contains("Refused {"),
        "a Debug struct in the log:\n{log}"
    );

    let addr = metrics_addr(&log).expect("metrics address in the log");
    let (code, _, body) = http_get(&addr, "/metrics").await;
    assert_eq!(code, 200);
    let samples = parse_exposition(&body);
    let phase = |p: &str| {
        samples
            .iter()
            .find(|(s, _)| {
                s == &format!("picokubelet_board_phase{{node=\"vb-r-1\",phase=\"{p}\"}}")
            })
            .map(|(_, v)| *v)
    };
    assert_eq!(phase("AuthFailed"), Some(1.0), "{body}");
    assert_eq!(phase("Registered"), Some(0.0), "{body}");
    agent.child.kill().unwrap();
    agent.child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_clusters_ca_is_said_once_with_the_fix() {
    let server = TestApiServer::start(ServerOptions::default())
        .await
        .unwrap();
    let other = TestApiServer::new(ServerOptions::default());
    let token = server.node_token("vb-tls");
    let mut agent = Agent::start(
        &other.kubeconfig_for(&server.url(), &token, None),
        &["run", "--node-name", "vb-tls"],
        "info",
    );
    let failed = || {
        server
            .connections()
            .iter()
            .filter(|c| matches!(c.handshake, Handshake::Failed(_)))
            .count()
    };
    // The identity question at start, then the agent's first tries.
    wait_for(&mut agent, "four refused handshakes", || failed() >= 4).await;
    let log = agent.stderr_text();
    println!("{log}");
    let said = lines_with(&log, "cannot open a TLS session to the API server");
    assert_eq!(said.len(), 1, "said more than once:\n{log}");
    assert!(said[0].contains("ERROR"), "{log}");
    assert!(
        said[0].contains("the signature of CN=picokubelet-testkit-ca on CN=kube-apiserver"),
        "{log}"
    );
    assert!(
        said[0].contains("What to do: use this cluster's CA"),
        "{log}"
    );
    assert!(
        !log.contains("OpenFailed"),
        "a Debug struct in the log:\n{log}"
    );
    agent.child.kill().unwrap();
    agent.child.wait().unwrap();
}
