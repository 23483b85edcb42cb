//! `picokubelet check` end to end: the real binary against the Kubernetes API test server over
//! real TLS on 127.0.0.1, for a good identity and for the ways a setup goes wrong (another
//! node's name, a User missing its Lease binding, a CA of another cluster, a name the
//! certificate does not hold, a revoked token).

use std::process::{Command, Output};

use picokubelet_testkit::{Binding, ServerOptions, TestApiServer};

/// Runs `picokubelet check --kubeconfig <kubeconfig> <extra>` off the server's threads.
async fn check(kubeconfig: String, extra: &[&str]) -> (Output, String) {
    let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    let output = tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubeconfig");
        std::fs::write(&path, kubeconfig).unwrap();
        Command::new(env!("CARGO_BIN_EXE_picokubelet"))
            .args(["check", "--kubeconfig"])
            .arg(&path)
            .args(&extra)
            .env_remove("KUBECONFIG")
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    (output, stdout)
}

fn lines_marked(report: &str, mark: char) -> Vec<&str> {
    report.lines().filter(|l| l.starts_with(mark)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_identity_passes_every_check_and_nothing_is_written() {
    let server = TestApiServer::start(ServerOptions::default())
        .await
        .unwrap();
    let token = server.node_token("vb-good");
    let rv = server.resource_version();
    let (out, report) = check(server.kubeconfig(&token), &[]).await;
    println!("{report}");
    assert!(out.status.success(), "{report}");
    assert!(lines_marked(&report, '✗').is_empty(), "{report}");
    for expected in [
        "✓ server https://127.0.0.1:",
        "✓ TLS: the server's certificate chain verifies with the board's verifier",
        "✓ clock: ",
        "✓ credentials: system:node:vb-good (groups system:nodes, system:authenticated)",
        "✓ node name vb-good: taken from the node identity",
        "✓ may create nodes (register the Node)",
        "✓ may patch nodes/status vb-good (report conditions and heap)",
        "✓ may patch leases vb-good in kube-node-lease (renew the Lease every 10 s)",
        "✓ may create events in default (post Node events)",
        "✓ registration of Node vb-good: accepted by a server-side dry run",
        "✓ namespace kube-node-lease exists",
        "all 17 checks passed",
    ] {
        assert!(
            report.contains(expected),
            "missing {expected:?} in\n{report}"
        );
    }
    assert!(server.node("vb-good").is_none(), "check created the Node");
    assert!(server.lease("vb-good").is_none(), "check created the Lease");
    assert_eq!(server.resource_version(), rv, "check wrote something");
    assert!(!report.contains(&token));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_nodes_name_fails_with_the_name_to_use() {
    let server = TestApiServer::start(ServerOptions::default())
        .await
        .unwrap();
    let token = server.node_token("esp-test-01");
    let (out, report) = check(server.kubeconfig(&token), &["--node-name", "vb-demo"]).await;
    println!("{report}");
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(report.contains(
        "✗ node name \"vb-demo\" does not match the credentials' identity system:node:esp-test-01"
    ));
    assert!(report.contains("→ use --node-name esp-test-01 or leave --node-name out"));
    assert!(report.contains(
        "✗ may not get nodes vb-demo (needed to read the Node after a restart (409)): node 'esp-test-01' cannot read 'vb-demo', only its own Node object"
    ));
    assert!(report.contains(
        "✗ registration of Node vb-demo refused: nodes \"vb-demo\" is forbidden: node \"esp-test-01\" is not allowed to modify node \"vb-demo\""
    ));
    assert!(report.contains(
        "✗ may not patch leases vb-demo in kube-node-lease (needed to renew the Lease every 10 s): can only access node lease with the same name as the requesting node"
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_with_only_the_node_binding_is_told_the_lease_and_event_bindings() {
    let server = TestApiServer::start(ServerOptions::default())
        .await
        .unwrap();
    server.add_token("fleet-token-0123456789", "picokubelet-fleet", &[]);
    // The case: Nodes Ready for ~50 s, no Lease ever.
    server.bind("picokubelet-fleet", Binding::Node);
    let kubeconfig = server.kubeconfig("fleet-token-0123456789");
    let (out, report) = check(kubeconfig.clone(), &["--node-name", "vb-fleet-1"]).await;
    println!("{report}");
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(report.contains("✓ credentials: picokubelet-fleet (groups system:authenticated)"));
    assert!(report.contains("✓ may create nodes (register the Node)"));
    assert!(report.contains("✓ registration of Node vb-fleet-1: accepted by a server-side dry run"));
    assert_eq!(
        lines_marked(&report, '✗'),
        [
            "✗ may not create leases in kube-node-lease (needed to create the Lease)",
            "✗ may not get leases vb-fleet-1 in kube-node-lease (needed to read the Lease)",
            "✗ may not update leases vb-fleet-1 in kube-node-lease (needed to replace the Lease after a conflict)",
            "✗ may not patch leases vb-fleet-1 in kube-node-lease (needed to renew the Lease every 10 s)",
            "✗ may not create events in default (needed to post Node events)",
            "✗ Lease vb-fleet-1: the dry-run create got 403: leases.coordination.k8s.io is forbidden: User \"picokubelet-fleet\" cannot create resource \"leases\" in API group \"coordination.k8s.io\" in the namespace \"kube-node-lease\"",
        ]
    );
    assert!(report.contains("kubectl -n kube-node-lease create rolebinding picokubelet:lease:picokubelet-fleet --role=picokubelet:lease --user=picokubelet-fleet"));
    assert!(report.contains("kubectl -n default create rolebinding picokubelet:events:picokubelet-fleet --role=picokubelet:events --user=picokubelet-fleet"));
    // The fix said once per binding, not once per verb.
    assert_eq!(
        report.matches("--role=picokubelet:lease").count(),
        1,
        "{report}"
    );

    // With the other two bindings, everything passes.
    server.bind("picokubelet-fleet", Binding::Lease);
    server.bind("picokubelet-fleet", Binding::Events);
    let (out, report) = check(kubeconfig, &["--node-name", "vb-fleet-1"]).await;
    assert!(out.status.success(), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_credential_refusals_say_what_is_wrong() {
    let server = TestApiServer::start(ServerOptions::default())
        .await
        .unwrap();
    let other = TestApiServer::new(ServerOptions::default());
    let token = server.node_token("vb-1");

    // The CA of another cluster (of the same name, as kubeadm's are all CN=kubernetes).
    let (out, report) = check(other.kubeconfig_for(&server.url(), &token, None), &[]).await;
    println!("{report}");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        lines_marked(&report, '✗'),
        ["✗ TLS: the signature of CN=picokubelet-testkit-ca on CN=kube-apiserver: the signature does not verify"]
    );
    assert!(report.contains("→ use this cluster's CA as certificate-authority(-data)"));
    assert!(report.contains("means another cluster's CA"));

    // A tls-server-name the certificate does not hold: the names it holds are listed.
    let (out, report) = check(
        server.kubeconfig_for(&server.url(), &token, Some("api.example.com")),
        &[],
    )
    .await;
    println!("{report}");
    assert_eq!(out.status.code(), Some(1));
    assert!(report.contains(
        "✗ TLS: server certificate is not valid for api.example.com: it holds kubernetes, localhost, IP 127.0.0.1 (3 names)"
    ), "{report}");
    assert!(report.contains("→ set tls-server-name to one of the names the certificate holds"));

    // An IP address as tls-server-name is matched against the IP SANs (as kubectl does).
    let url = server.url().replace("127.0.0.1", "localhost");
    let (out, report) = check(server.kubeconfig_for(&url, &token, Some("127.0.0.1")), &[]).await;
    assert!(out.status.success(), "{report}");
    assert!(report.contains("name 127.0.0.1"), "{report}");

    // A revoked token.
    server.revoke_token(&token);
    let (out, report) = check(server.kubeconfig(&token), &[]).await;
    println!("{report}");
    assert_eq!(out.status.code(), Some(1));
    assert!(report.contains("✗ credentials: the server rejected them (401 Unauthorized)"));
    assert!(report.contains("→ the token is unknown, expired or revoked"));
}
