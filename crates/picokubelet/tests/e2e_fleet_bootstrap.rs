//! `fleet` with TLS bootstrap end to end: five boards from one bootstrap token against the test
//! API server (bootstrap tokens, the CSR API with kube-controller-manager's approver and
//! signer) over real TLS on 127.0.0.1. Each board gets, stores and uses its own certificate;
//! a restarted fleet reuses them; without auto-approval the fleet lists the requests to approve
//! once; a refused token is counted by cause.

mod common;

use std::path::Path;

use common::{node_ready, Agent};
use picokubelet_testkit::{BootstrapToken, RequestRecord, ServerOptions, TestApiServer};

const TOKEN_ID: &str = "abcdef";
const TOKEN_SECRET: &str = "0123456789abcdef";
const BOARDS: [&str; 5] = ["fb-1", "fb-2", "fb-3", "fb-4", "fb-5"];

async fn server_with_token() -> (TestApiServer, BootstrapToken) {
    let server = TestApiServer::start(ServerOptions::default())
        .await
        .unwrap();
    let token = BootstrapToken::new(TOKEN_ID, TOKEN_SECRET);
    server.add_bootstrap_token(token.clone());
    (server, token)
}

/// `fleet --count 5 --bootstrap-kubeconfig dir/bootstrap-kubelet.conf --cert-dir dir/pki`.
fn fleet(dir: &Path, log: &str, extra: &[&str]) -> Agent {
    let kubeconfig = dir.join("bootstrap-kubelet.conf");
    let pki = dir.join("pki");
    let mut args = vec![
        "fleet",
        "--count",
        "5",
        "--node-name",
        "fb",
        "--threads",
        "2",
        "--start-spread",
        "1s",
        "--lease-renew-interval",
        "1s",
        "--bootstrap-kubeconfig",
        kubeconfig.to_str().unwrap(),
        "--cert-dir",
        pki.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    Agent::spawn(args, dir.join(log))
}

/// The board a request is about, from its path (`…/nodes/fb-3`, `…/leases/fb-3?…`).
fn board_of(r: &RequestRecord) -> Option<&'static str> {
    let path = r.target.split('?').next().unwrap_or_default();
    let last = path.rsplit('/').next().unwrap_or_default();
    let node = path
        .split('/')
        .skip_while(|s| *s != "nodes" && *s != "leases")
        .nth(1)
        .unwrap_or(last);
    BOARDS.iter().copied().find(|b| *b == node)
}

/// Every board's Node is Ready and it has written its Lease (a request naming the board: the
/// Node's create does not).
fn ready_and_leased(server: &TestApiServer) -> bool {
    let requests = server.requests();
    BOARDS.iter().all(|b| {
        node_ready(server, b)
            && requests
                .iter()
                .any(|r| board_of(r) == Some(*b) && r.target.contains("/leases"))
    })
}

/// Every request a board made about its Node or Lease was authenticated as that board.
fn each_board_is_itself(requests: &[RequestRecord]) {
    let mut seen = std::collections::BTreeSet::new();
    for r in requests {
        if let Some(board) = board_of(r) {
            assert_eq!(
                r.user.as_deref(),
                Some(format!("system:node:{board}").as_str()),
                "{r:?}"
            );
            seen.insert(board);
        }
    }
    assert_eq!(seen.len(), BOARDS.len(), "{seen:?}");
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_board_gets_uses_and_keeps_its_own_certificate() {
    let (server, token) = server_with_token().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bootstrap-kubelet.conf"),
        server.bootstrap_kubeconfig(&token),
    )
    .unwrap();
    let mut agent = fleet(dir.path(), "first.log", &[]);
    agent
        .wait_for("five Ready Nodes, each with its Lease", |_| {
            ready_and_leased(&server)
        })
        .await;
    let log = agent.log();
    drop(agent);
    assert!(!log.contains(" WARN ") && !log.contains("ERROR"), "{log}");

    // One request per board, each sent with the bootstrap token and issued to that board.
    let csrs = server.csr_names();
    assert_eq!(csrs.len(), BOARDS.len(), "{csrs:?}");
    let mut subjects: Vec<String> = Vec::new();
    for name in &csrs {
        let csr = server.csr(name).unwrap();
        assert_eq!(csr["spec"]["username"], "system:bootstrap:abcdef");
        let issued = server.issued_certificate(name).unwrap();
        subjects.push(issued);
    }
    for r in server.requests() {
        if r.target.contains("certificatesigningrequests") {
            assert_eq!(r.user.as_deref(), Some("system:bootstrap:abcdef"), "{r:?}");
        }
    }
    each_board_is_itself(&server.requests());
    for board in BOARDS {
        let current = dir
            .path()
            .join("pki")
            .join(board)
            .join("kubelet-client-current.pem");
        let stored = std::fs::read_to_string(&current).unwrap();
        let certificate = stored.split("-----END CERTIFICATE-----").next().unwrap();
        // The stored certificate is one the server issued, and each board's is different.
        assert_eq!(
            subjects
                .iter()
                .filter(
                    |s| s.split("-----END CERTIFICATE-----").next().unwrap().trim()
                        == certificate.trim()
                )
                .count(),
            1,
            "{board}"
        );
        assert!(stored.contains("-----BEGIN EC PRIVATE KEY-----"));
        #[cfg(unix)]
        {
            assert_eq!(mode(&dir.path().join("pki").join(board)), 0o700);
            assert_eq!(mode(&std::fs::canonicalize(&current).unwrap()), 0o600);
        }
    }

    // Restart without the token: every board uses its stored certificate, no new request.
    server.remove_bootstrap_token(TOKEN_ID);
    let before = server.requests().len();
    let mut agent = fleet(dir.path(), "second.log", &[]);
    agent
        .wait_for("a Lease renewal from every board", |_| {
            let after = server.requests();
            BOARDS.iter().all(|b| {
                after[before..].iter().any(|r| {
                    board_of(r) == Some(*b)
                        && r.target.contains("/leases/")
                        && r.status == Some(200)
                })
            })
        })
        .await;
    assert_eq!(server.csr_names().len(), BOARDS.len());
    let after = server.requests();
    for r in &after[before..] {
        assert!(
            r.user
                .as_deref()
                .is_some_and(|u| u.starts_with("system:node:fb-")),
            "{r:?}"
        );
    }
    each_board_is_itself(&after[before..]);
    let log = agent.log();
    assert!(!log.contains(" WARN ") && !log.contains("ERROR"), "{log}");
}

/// The value of the series `series`, written exactly so, in a scrape.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Scrapes `/metrics` at the address the fleet logged.
async fn scrape(log: &str) -> String {
    let addr = log
        .lines()
        .find_map(|l| l.split("metrics listening on ").nth(1))
        .map(|a| a.trim().to_owned())
        .unwrap();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).await.unwrap();
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_auto_approval_the_fleet_lists_the_requests_to_approve_once() {
    let (server, token) = server_with_token().await;
    server.set_csr_auto_approval(false);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bootstrap-kubelet.conf"),
        server.bootstrap_kubeconfig(&token),
    )
    .unwrap();
    let mut agent = fleet(dir.path(), "fleet.log", &["--metrics-addr", "127.0.0.1:0"]);
    agent
        .wait_for("every request listed for approval", |log| {
            let csrs = server.csr_names();
            csrs.len() == BOARDS.len() && csrs.iter().all(|c| log.contains(c.as_str()))
        })
        .await;
    let log = agent.log();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("kubectl certificate approve"))
        .collect();
    let csrs = server.csr_names();
    for csr in &csrs {
        let listed = lines
            .iter()
            .filter(|l| l.split(['`', ' ']).any(|w| w == csr))
            .count();
        assert_eq!(listed, 1, "{csr} listed {listed} times:\n{log}");
    }
    assert!(
        lines
            .iter()
            .all(|l| l.contains("certificate request") && l.contains("wait")),
        "{log}"
    );
    let metrics = scrape(&log).await;
    assert_eq!(
        sample(
            &metrics,
            "picokubelet_certificate_requests_awaiting_approval"
        ),
        Some(5.0),
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "picokubelet_boards_without_certificate"),
        Some(5.0),
        "{metrics}"
    );
    assert!(BOARDS.iter().all(|b| server.node(b).is_none()));
    for csr in &csrs {
        assert!(server.approve_csr(csr));
    }
    agent
        .wait_for(
            "five Ready Nodes after the approval, each with its Lease",
            |_| ready_and_leased(&server),
        )
        .await;
    each_board_is_itself(&server.requests());
    let metrics = scrape(&agent.log()).await;
    assert_eq!(
        sample(
            &metrics,
            "picokubelet_certificate_requests_awaiting_approval"
        ),
        Some(0.0),
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "picokubelet_certificates_issued_total"),
        Some(5.0),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_is_said_once_and_counted_by_cause() {
    let (server, _) = server_with_token().await;
    let dir = tempfile::tempdir().unwrap();
    // A token the server does not know: every board's request gets a 401.
    let unknown = BootstrapToken::new("zzzzzz", "0123456789abcdef");
    std::fs::write(
        dir.path().join("bootstrap-kubelet.conf"),
        server.bootstrap_kubeconfig(&unknown),
    )
    .unwrap();
    let mut agent = fleet(dir.path(), "fleet.log", &["--metrics-addr", "127.0.0.1:0"]);
    let mut metrics = String::new();
    agent
        .wait_for("a refusal from every board", |log| {
            if !log.contains("metrics listening on") {
                return false;
            }
            metrics = std::thread::scope(|s| {
                s.spawn(|| {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap()
                        .block_on(scrape(log))
                })
                .join()
                .unwrap()
            });
            sample(
                &metrics,
                "picokubelet_certificate_request_failures_total{cause=\"unauthorized\"}",
            )
            .is_some_and(|n| n >= 5.0)
        })
        .await;
    let log = agent.log();
    let said = log
        .lines()
        .filter(|l| l.contains("certificate request failed"))
        .count();
    assert_eq!(said, 1, "{log}");
    assert!(log.contains("401 Unauthorized"), "{log}");
    assert!(server.csr_names().is_empty());
    assert!(BOARDS.iter().all(|b| server.node(b).is_none()));
}

/// Figures, not a check (BENCHMARKS.md, "Fleet with TLS bootstrap"): what a fleet's bootstrap
/// costs the server in requests and TLS connections, at the first start and at a restart.
///
///     PK_BOARDS=1000 cargo test -p picokubelet --test e2e_fleet_bootstrap -- --ignored --nocapture join_figures
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run by hand"]
async fn join_figures() {
    let boards: usize = std::env::var("PK_BOARDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let (server, token) = server_with_token().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bootstrap-kubelet.conf"),
        server.bootstrap_kubeconfig(&token),
    )
    .unwrap();
    let width = boards.to_string().len();
    let names: Vec<String> = (1..=boards).map(|i| format!("fj-{i:0width$}")).collect();
    let count = boards.to_string();
    let spawn = |log: &str| {
        let kubeconfig = dir.path().join("bootstrap-kubelet.conf");
        let pki = dir.path().join("pki");
        Agent::spawn(
            [
                "fleet",
                "--count",
                &count,
                "--node-name",
                "fj",
                "--start-spread",
                "20s",
                "--bootstrap-kubeconfig",
                kubeconfig.to_str().unwrap(),
                "--cert-dir",
                pki.to_str().unwrap(),
            ],
            dir.path().join(log),
        )
    };
    let mut agent = spawn("first.log");
    let took = wait_all_ready(&server, &names, &mut agent).await;
    drop(agent);
    let requests = server.take_requests();
    let connections = server.connections();
    let csr_posts = requests
        .iter()
        .filter(|r| r.method == "POST" && r.target.contains("certificatesigningrequests"))
        .count();
    let csr_gets = requests
        .iter()
        .filter(|r| r.method == "GET" && r.target.contains("certificatesigningrequests/"))
        .count();
    println!(
        "first start: {boards} boards Ready {took:?} after the spawn (20 s spread); \
         {csr_posts} CSR POSTs, {csr_gets} CSR GETs, {} TLS connections ({:.2} per board), \
         {} requests",
        connections.len(),
        connections.len() as f64 / boards as f64,
        requests.len()
    );
    // A restart: the same boards from their stored certificates.
    for n in &names {
        assert!(server.delete_node(n));
    }
    let before = server.connections().len();
    let mut agent = spawn("second.log");
    let took = wait_all_ready(&server, &names, &mut agent).await;
    drop(agent);
    let requests = server.take_requests();
    let connections = server.connections().len() - before;
    let csr = requests
        .iter()
        .filter(|r| r.target.contains("certificatesigningrequests"))
        .count();
    println!(
        "restart: Ready {took:?} after the spawn; {csr} CSR requests, {connections} TLS \
         connections ({:.2} per board), {} requests",
        connections as f64 / boards as f64,
        requests.len()
    );
}

/// Time until every board in `names` is Ready (a generous bound; a measurement, not a check).
async fn wait_all_ready(
    server: &TestApiServer,
    names: &[String],
    agent: &mut Agent,
) -> std::time::Duration {
    let started = std::time::Instant::now();
    let mut pending: Vec<&String> = names.iter().collect();
    loop {
        pending.retain(|n| !node_ready(server, n));
        if pending.is_empty() {
            return started.elapsed();
        }
        assert!(agent.child.try_wait().unwrap().is_none(), "{}", agent.log());
        if started.elapsed() > std::time::Duration::from_secs(600) {
            let log = agent.log();
            let warnings: Vec<&str> = log.lines().filter(|l| !l.contains(" INFO ")).collect();
            panic!(
                "{} boards never Ready ({:?}…); the log's last warnings:\n{}\nlast lines:\n{}",
                pending.len(),
                &pending[..pending.len().min(5)],
                warnings[warnings.len().saturating_sub(30)..].join("\n"),
                log.lines().rev().take(10).collect::<Vec<_>>().join("\n")
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

/// `fleet --dry-run` with a bootstrap kubeconfig checks the flags and the file and connects to
/// nothing (the server here does not exist).
#[test]
fn a_dry_run_checks_the_bootstrap_kubeconfig_without_connecting() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("bootstrap-kubelet.conf");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: c\n\
             clusters:\n- name: k\n  cluster:\n    server: https://127.0.0.1:1\n    certificate-authority-data: {}\n\
             contexts:\n- name: c\n  context:\n    cluster: k\n    user: b\n\
             users:\n- name: b\n  user:\n    token: abcdef.0123456789abcdef\n",
            common::ca_data()
        ),
    )
    .unwrap();
    let agent = Agent::spawn(
        [
            "fleet",
            "--count",
            "3",
            "--node-name",
            "fb",
            "--dry-run",
            "--bootstrap-kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--cert-dir",
            dir.path().join("pki").to_str().unwrap(),
        ],
        dir.path().join("dry.log"),
    );
    let (status, log) = agent.exit();
    assert!(status.success(), "{log}");
    assert!(log.contains("configuration checked"), "{log}");
    assert!(
        !log.contains("0123456789abcdef"),
        "the token is never logged:\n{log}"
    );
}

/// The discovery form: a fleet from the token and the CA hash alone, every board its own
/// certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_joins_from_the_token_and_ca_hash_alone() {
    let (server, token) = server_with_token().await;
    let dir = tempfile::tempdir().unwrap();
    let address = server.url();
    let hash = server.ca_cert_hash();
    let token_text = token.token();
    let pki = dir.path().join("pki");
    let mut agent = Agent::spawn(
        [
            "fleet",
            "--count",
            "5",
            "--node-name",
            "fb",
            "--start-spread",
            "1s",
            "--lease-renew-interval",
            "1s",
            "--bootstrap-token",
            &token_text,
            "--discovery-token-ca-cert-hash",
            &hash,
            "--server",
            address.trim_start_matches("https://"),
            "--cert-dir",
            pki.to_str().unwrap(),
        ],
        dir.path().join("fleet.log"),
    );
    agent
        .wait_for("five Ready Nodes, each with its Lease", |_| {
            ready_and_leased(&server)
        })
        .await;
    assert!(agent
        .log()
        .contains("discovered the cluster from cluster-info"));
    assert_eq!(server.csr_names().len(), BOARDS.len());
    each_board_is_itself(&server.requests());
}
