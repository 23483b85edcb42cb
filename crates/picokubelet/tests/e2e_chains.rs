//! The clusters people run serve other chains than k3s' single ECDSA certificate: `picokubelet
//! run` joins the test API server with a node token (a) over an ECDSA chain with an
//! intermediate and (b) over kubeadm's RSA-2048 leaf under an RSA-4096 root — with a client
//! certificate too — and `check` passes against every chain the board verifies (also RSA with an
//! intermediate and ECDSA under RSA). A chain the board cannot verify — a name the certificate
//! does not hold, an expired certificate, a signature algorithm it does not implement — is said
//! once, as a sentence naming the cause. The real binary against the server over real TLS on
//! 127.0.0.1.
mod agent_process;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use agent_process::{status_of, Agent, LIMIT};
use picokubelet_testkit::{Handshake, ServerChain, ServerOptions, TestApiServer, TlsOptions};

/// Polls `done` every 100 ms until it holds (a generous bound; nothing is timed).
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
            start.elapsed() < LIMIT,
            "gave up waiting for {what}:\n{}",
            agent.output()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs `picokubelet check` to its end.
async fn check(kubeconfig: &str, node: &str) -> (bool, String) {
    let mut agent = Agent::start(kubeconfig, &["check", "--node-name", node], "warn");
    let start = Instant::now();
    let exit = loop {
        if let Some(exit) = agent.child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            start.elapsed() < LIMIT,
            "check did not end:\n{}",
            agent.output()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    (exit.success(), agent.output())
}

async fn server_with(tls: TlsOptions) -> TestApiServer {
    TestApiServer::start(ServerOptions {
        tls,
        ..ServerOptions::default()
    })
    .await
    .unwrap()
}

/// How the kubeconfig authenticates.
#[derive(Clone, Copy)]
enum Creds {
    Token,
    ClientCertificate,
}

/// `run` registers, renews and gets Ready over `chain`; the node's name comes from the
/// credentials' identity.
async fn run_joins_over(chain: ServerChain, node: &str, creds: Creds) {
    let server = server_with(TlsOptions::default().with_chain(chain)).await;
    let kubeconfig = match creds {
        Creds::Token => server.kubeconfig(&server.node_token(node)),
        Creds::ClientCertificate => server.client_cert_kubeconfig(
            &server.issue_client_cert(&format!("system:node:{node}"), &["system:nodes"]),
        ),
    };
    let mut agent = Agent::start(&kubeconfig, &["run"], "info");
    wait_for(&mut agent, "a Ready Node", || {
        status_of(server.node(node).as_ref(), "Ready").as_deref() == Some("True")
    })
    .await;
    wait_for(&mut agent, "two renewals", || {
        agent_process::renewals_after(&server, node, 0) >= 2
    })
    .await;
    agent.child.kill().unwrap();
    agent.child.wait().unwrap();
    let log = agent.stderr_text();
    assert!(!log.contains(" WARN ") && !log.contains("ERROR"), "{log}");
    let connections = server.connections();
    assert!(!connections.is_empty());
    for c in &connections {
        assert!(
            matches!(
                c.handshake,
                Handshake::Full { .. } | Handshake::Resumed { .. }
            ),
            "{c:?}"
        );
    }
    // The token's user did everything.
    for r in server.requests() {
        assert_eq!(
            r.user.as_deref(),
            Some(format!("system:node:{node}").as_str()),
            "{r:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_joins_over_an_ecdsa_chain_with_an_intermediate() {
    run_joins_over(ServerChain::EcdsaIntermediate, "esp-chain-ec", Creds::Token).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_joins_over_kubeadms_rsa_2048_leaf_under_an_rsa_4096_root() {
    run_joins_over(ServerChain::Rsa, "esp-chain-rsa", Creds::Token).await;
}

/// kubeadm's own pairing: an RSA server chain and a kubeconfig with a client certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_with_a_client_certificate_joins_over_kubeadms_rsa_chain() {
    run_joins_over(ServerChain::Rsa, "esp-chain-cert", Creds::ClientCertificate).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_passes_over_every_chain_the_board_verifies() {
    for chain in [
        ServerChain::EcdsaIntermediate,
        ServerChain::Rsa,
        ServerChain::RsaIntermediate,
        ServerChain::EcdsaUnderRsa,
    ] {
        let server = server_with(TlsOptions::default().with_chain(chain)).await;
        let token = server.node_token("esp-check");
        let (ok, report) = check(&server.kubeconfig(&token), "esp-check").await;
        assert!(ok, "{chain:?}:\n{report}");
        assert!(
            report.contains(
                "✓ TLS: the server's certificate chain verifies with the board's verifier"
            ),
            "{chain:?}:\n{report}"
        );
        assert!(
            !report.lines().any(|l| l.starts_with('✗')),
            "{chain:?}:\n{report}"
        );
    }
}

/// A server the board cannot trust, and what the one log line must name.
struct Bad {
    what: &'static str,
    tls: TlsOptions,
    cause: &'static str,
    says: &'static [&'static str],
}

fn bad_servers() -> Vec<Bad> {
    let year = |y: u64| UNIX_EPOCH + Duration::from_secs((y - 1970) * 31_556_952);
    let now = SystemTime::now();
    vec![
        Bad {
            what: "a certificate for other names",
            tls: TlsOptions {
                sans_override: Some(vec!["api.example.com".into(), "10.96.0.1".into()]),
                ..TlsOptions::default()
            },
            cause: "cause=tls name_mismatch",
            says: &[
                "server certificate is not valid for IP 127.0.0.1: it holds api.example.com, IP 10.96.0.1 (2 names)",
                "What to do: set tls-server-name to one of the names the certificate holds",
            ],
        },
        Bad {
            what: "an expired certificate",
            tls: TlsOptions {
                leaf_validity: Some((year(2020), year(2021))),
                ..TlsOptions::default()
            },
            cause: "cause=tls expired",
            says: &[
                "server certificate CN=kube-apiserver has expired: valid from 2020-",
                "our clock says",
                "What to do: if this machine's clock is right, renew the server certificate",
            ],
        },
        Bad {
            what: "a certificate not valid yet",
            tls: TlsOptions {
                leaf_validity: Some((now + Duration::from_secs(86_400 * 30), year(2049))),
                ..TlsOptions::default()
            },
            cause: "cause=tls not_yet_valid",
            says: &["server certificate CN=kube-apiserver is not valid yet"],
        },
        Bad {
            what: "an Ed25519 root",
            tls: TlsOptions::default().with_chain(ServerChain::EcdsaUnderEd25519),
            cause: "cause=tls unsupported_signature",
            says: &[
                "CN=picokubelet-testkit-ed25519-ca on CN=kube-apiserver",
                "What to do: the board verifies ECDSA P-256/P-384 and RSA 2048-4096 keys",
            ],
        },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_the_board_cannot_verify_is_said_once_with_its_cause() {
    for bad in bad_servers() {
        let server = server_with(bad.tls).await;
        let token = server.node_token("esp-bad");
        let mut agent = Agent::start(
            &server.kubeconfig(&token),
            &["run", "--node-name", "esp-bad"],
            "info",
        );
        // The host checks validity from the first handshake on (its clock is trusted; the
        // board's rule, after the first Date, is tested in the core's agent_tls_testkit).
        let failed = || {
            server
                .connections()
                .iter()
                .filter(|c| matches!(c.handshake, Handshake::Failed(_)))
                .count()
        };
        wait_for(&mut agent, "three refused handshakes", || failed() >= 3).await;
        agent.child.kill().unwrap();
        agent.child.wait().unwrap();
        let log = agent.stderr_text();
        let said: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("cannot open a TLS session to the API server"))
            .collect();
        assert_eq!(
            said.len(),
            1,
            "{}: said {} times:\n{log}",
            bad.what,
            said.len()
        );
        assert!(said[0].contains("ERROR"), "{}:\n{log}", bad.what);
        assert!(
            said[0].contains(bad.cause),
            "{}: no {}:\n{log}",
            bad.what,
            bad.cause
        );
        for s in bad.says {
            assert!(
                said[0].contains(s),
                "{}: no {s:?} in\n{}",
                bad.what,
                said[0]
            );
        }
        assert!(!log.contains("OpenFailed"), "a Debug struct:\n{log}");
        assert!(server.node("esp-bad").is_none());
        assert!(
            server.requests().is_empty(),
            "{}: a request reached the server",
            bad.what
        );

        // check says the same and fails.
        let (ok, report) = check(&server.kubeconfig(&token), "esp-bad").await;
        assert!(!ok, "{}:\n{report}", bad.what);
        // The first fragment is the cause itself, as the agent's log says it.
        assert!(
            report
                .lines()
                .any(|l| l.starts_with("✗ TLS: ") && l.contains(bad.says[0])),
            "{}:\n{report}",
            bad.what
        );
    }
}
