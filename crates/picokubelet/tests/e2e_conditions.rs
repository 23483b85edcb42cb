//! Conditions end to end: the real binary `run`, its board's heap set through
//! `--signals-file`, against the Kubernetes API test server. Low heap flips MemoryPressure True
//! and Vibes to False `Strained` (DESIGN.md §8); high heap flips them back, with a later
//! lastTransitionTime; Ready stays True throughout. A new address in the file (a DHCP lease on
//! a board) becomes the Node's InternalIP.
mod agent_process;

use agent_process::{
    condition, http_get, metrics_addr, parse_exposition, status_of, write_atomically, Agent,
};
use picokubelet_testkit::{ServerOptions, TestApiServer};

const NODE: &str = "esp-node-01";

fn renewals(server: &TestApiServer) -> usize {
    agent_process::renewals_after(server, NODE, 0)
}

/// The Node's `InternalIP` address.
fn internal_ip(server: &TestApiServer) -> Option<String> {
    let node = server.node(NODE)?;
    node["status"]["addresses"]
        .as_array()?
        .iter()
        .find(|a| a["type"] == "InternalIP")
        .and_then(|a| a["address"].as_str())
        .map(str::to_owned)
}

/// The Node's condition `kind` as (status, reason, lastTransitionTime).
fn read(server: &TestApiServer, kind: &str) -> Option<(String, String, String)> {
    let node = server.node(NODE)?;
    let c = condition(&node, kind)?;
    Some((
        c["status"].as_str()?.to_owned(),
        c["reason"].as_str()?.to_owned(),
        c["lastTransitionTime"].as_str()?.to_owned(),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heap_from_the_signals_file_flips_memory_pressure_and_back() {
    let server = TestApiServer::start(ServerOptions::default())
        .await
        .unwrap();
    let token = server.node_token(NODE);
    let dir = tempfile::tempdir().unwrap();
    let signals = dir.path().join("signals");
    let signals_arg = signals.to_str().unwrap().to_owned();
    // The file does not exist yet: the simulated heap (180–280 KB of 320 KB) is used.
    let mut agent = Agent::start(
        &server.kubeconfig(&token),
        &[
            "run",
            "--node-name",
            NODE,
            "--lease-renew-interval",
            "1s",
            "--status-interval",
            "3s",
            "--condition-check-interval",
            "200ms",
            "--signals-file",
            &signals_arg,
            "--metrics-addr",
            "127.0.0.1:0",
        ],
        "info",
    );
    let ready =
        |s: &TestApiServer| status_of(s.node(NODE).as_ref(), "Ready").as_deref() == Some("True");
    agent
        .wait_for("the Node to be Ready", || ready(&server))
        .await;
    assert_eq!(read(&server, "MemoryPressure").unwrap().0, "False");

    // 10 000 of 320 000 bytes free: below the 20 KiB pressure line and below 30 % (Strained).
    // The bad line is ignored, with one warning.
    write_atomically(
        &signals,
        "heap_free_bytes=10000\nheap_total_bytes=320000\ncolour=blue\n",
    );
    agent
        .wait_for("MemoryPressure True and Vibes Strained", || {
            assert!(ready(&server), "Ready left True");
            let memory = read(&server, "MemoryPressure");
            let vibes = read(&server, "Vibes");
            memory.is_some_and(|m| m.0 == "True" && m.1 == "KubeletHasInsufficientMemory")
                && vibes.is_some_and(|v| v.0 == "False" && v.1 == "Strained")
        })
        .await;
    let (_, _, pressure_since) = read(&server, "MemoryPressure").unwrap();
    // The metrics say so too (`run` serves them like `fleet`).
    let addr = metrics_addr(&agent.stderr_text()).expect("metrics address in the log");
    let (code, _, body) = http_get(&addr, "/metrics").await;
    assert_eq!(code, 200);
    let pressure = format!(
        "picokubelet_board_condition{{node=\"{NODE}\",type=\"MemoryPressure\",status=\"True\"}}"
    );
    assert!(parse_exposition(&body).contains(&(pressure, 1.0)), "{body}");

    // lastTransitionTime has second resolution: let a few renewals (1 s apart) pass first.
    let before = renewals(&server);
    agent
        .wait_for("three more renewals", || renewals(&server) >= before + 3)
        .await;
    assert_eq!(read(&server, "MemoryPressure").unwrap().2, pressure_since);

    write_atomically(
        &signals,
        "heap_free_bytes=300000\nheap_total_bytes=320000\n",
    );
    agent
        .wait_for("MemoryPressure False and Vibes True", || {
            assert!(ready(&server), "Ready left True");
            let memory = read(&server, "MemoryPressure");
            let vibes = read(&server, "Vibes");
            memory.is_some_and(|m| m.0 == "False" && m.1 == "KubeletHasSufficientMemory")
                && vibes.is_some_and(|v| v.0 == "True")
        })
        .await;
    let (_, _, relieved_at) = read(&server, "MemoryPressure").unwrap();

    // A new DHCP lease: the Node's InternalIP follows.
    assert_eq!(internal_ip(&server).as_deref(), Some("127.0.0.1"));
    write_atomically(
        &signals,
        "heap_free_bytes=300000\nheap_total_bytes=320000\nipv4=10.9.8.7\n",
    );
    agent
        .wait_for("the Node's InternalIP to be 10.9.8.7", || {
            internal_ip(&server).as_deref() == Some("10.9.8.7")
        })
        .await;
    assert!(ready(&server));
    // RFC 3339 in one format and zone: the string order is the time order.
    assert!(
        relieved_at > pressure_since,
        "{relieved_at} is not after {pressure_since}"
    );
    assert!(ready(&server));

    let exit = agent.terminate().await;
    let output = agent.output();
    assert!(exit.success(), "{exit:?}\n{output}");
    assert!(!output.contains(&token), "token in the output");
    assert_eq!(
        output.matches("unknown key \"colour\"").count(),
        1,
        "one warning for the bad line:\n{output}"
    );
    assert!(output.contains("stopping"), "{output}");
}
