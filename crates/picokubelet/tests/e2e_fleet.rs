//! `picokubelet fleet` end to end: five boards in one process against the Kubernetes API test
//! server, their metrics on `/metrics`, stopped by SIGTERM.
mod agent_process;

use agent_process::{http_get, metrics_addr, parse_exposition, status_of, Agent};
use picokubelet_testkit::{ServerOptions, TestApiServer};

const NAMES: [&str; 5] = ["fleet-1", "fleet-2", "fleet-3", "fleet-4", "fleet-5"];

/// The value of the series `series`, written exactly so.
fn sample(samples: &[(String, f64)], series: &str) -> Option<f64> {
    samples.iter().find(|(s, _)| s == series).map(|(_, v)| *v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_boards_register_renew_and_report_metrics() {
    let server = TestApiServer::start(ServerOptions::default())
        .await
        .unwrap();
    // One kubeconfig for the whole fleet: a node token may act only for its own Node
    // (NodeRestriction), so the fleet uses the admin identity.
    let token = server.admin_token();
    let started = std::time::Instant::now();
    let mut agent = Agent::start(
        &server.kubeconfig(&token),
        &[
            "fleet",
            "--count",
            "5",
            "--node-name",
            "fleet",
            "--threads",
            "2",
            "--start-spread",
            "1s",
            "--lease-renew-interval",
            "1s",
            "--status-interval",
            "3s",
            "--metrics-addr",
            "127.0.0.1:0",
            // Five boards: every board's own series, not only the troubled ones'.
            "--metrics-per-board",
        ],
        "info",
    );
    let log = agent.stderr.clone();
    let mut addr = None;
    agent
        .wait_for("the metrics address in the log", || {
            addr = metrics_addr(&std::fs::read_to_string(&log).unwrap_or_default());
            addr.is_some()
        })
        .await;
    let addr = addr.unwrap();

    agent
        .wait_for("all five Nodes Ready", || {
            NAMES
                .iter()
                .all(|n| status_of(server.node(n).as_ref(), "Ready").as_deref() == Some("True"))
        })
        .await;

    // Every board renews: poll the endpoint until each reports a renewal.
    let mut polls = 0;
    let text = loop {
        let (code, head, body) = http_get(&addr, "/metrics").await;
        assert_eq!(code, 200, "{head}");
        assert!(
            head.contains("Content-Type: text/plain; version=0.0.4"),
            "{head}"
        );
        let samples = parse_exposition(&body);
        let renewed = NAMES.iter().all(|n| {
            let series = format!("picokubelet_board_lease_renewals_total{{node=\"{n}\"}}");
            sample(&samples, &series).is_some_and(|v| v > 0.0)
        });
        if renewed {
            break body;
        }
        polls += 1;
        assert!(
            polls < 900,
            "no renewal from every board:\n{body}\n{}",
            agent.stderr_text()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let samples = parse_exposition(&text);
    assert_eq!(sample(&samples, "picokubelet_boards"), Some(5.0));
    let registered = "picokubelet_boards_by_phase{phase=\"Registered\"}";
    assert_eq!(sample(&samples, registered), Some(5.0));
    assert!(sample(&samples, "picokubelet_lease_renewals_total").unwrap() >= 5.0);
    assert!(sample(&samples, "picokubelet_tls_handshakes_total").unwrap() >= 5.0);
    assert!(sample(&samples, "picokubelet_process_start_time_seconds").unwrap() > 1.7e9);
    // Every renewal is in the lateness histogram, and the +Inf bucket holds them all.
    let lateness = "picokubelet_lease_renewal_lateness_seconds";
    let observed = sample(&samples, &format!("{lateness}_count")).unwrap();
    assert!(observed >= 5.0);
    assert_eq!(
        sample(&samples, &format!("{lateness}_bucket{{le=\"+Inf\"}}")),
        Some(observed)
    );
    for n in NAMES {
        let ready =
            format!("picokubelet_board_condition{{node=\"{n}\",type=\"Ready\",status=\"True\"}}");
        assert_eq!(sample(&samples, &ready), Some(1.0), "{n}");
        let phase = format!("picokubelet_board_phase{{node=\"{n}\",phase=\"Registered\"}}");
        assert_eq!(sample(&samples, &phase), Some(1.0), "{n}");
        let age = format!("picokubelet_board_last_renewal_age_seconds{{node=\"{n}\"}}");
        // Renewed since the fleet started, and within one 40 s lease duration (the Node is Ready).
        let since_start = started.elapsed().as_secs_f64();
        let a = sample(&samples, &age).unwrap_or(-1.0);
        assert!(
            (0.0..=since_start).contains(&a) && a < 40.0,
            "{n}: last renewal age {a} s, {since_start} s after the start"
        );
        let ok = format!("picokubelet_board_responses_total{{node=\"{n}\",class=\"2xx\"}}");
        assert!(sample(&samples, &ok).unwrap() > 0.0, "{n}");
    }
    let (code, _, _) = http_get(&addr, "/").await;
    assert_eq!(code, 404);

    let exit = agent.terminate().await;
    let output = agent.output();
    assert!(exit.success(), "{exit:?}\n{output}");
    assert!(!output.contains(&token), "token in the output");
    assert!(output.contains("stopping"), "{output}");
    // Per-board routine events are at debug in fleet mode: no "Registered" lines at info.
    assert!(!output.contains("Registered {"), "{output}");
}
