//! The test API server as a process, for clients that are not Rust tests in this workspace
//! (the tap board's harness, `scripts/tap-board.sh`): listens on 127.0.0.1, writes an admin
//! kubeconfig and a node's kubeconfig into a directory, prints `ready <URL>` and serves until
//! its standard input closes (or it is killed). Meanwhile it answers, one line each, what a
//! harness without kubectl asks on its standard input:
//! - `node NAME` → `READY|INTERNAL-IP|TAINT-EFFECT|HEAP-FREE` (the Ready condition's status,
//!   the InternalIP, the effect of the `picokubelet.dev/microcontroller` taint, the
//!   `node.specht.dev/heap-bytes-free` annotation; empty fields where absent);
//! - `lease NAME` → the Lease's renewTime;
//! - `users AGENT` → the users the server authenticated on requests whose `User-Agent` starts
//!   with AGENT (e.g. `picokubelet/`), sorted, comma-separated (empty: none);
//! - `csrs all` → how many CertificateSigningRequests the server holds, then their names
//!   (`N name,name…`);
//! - `csr-auto-approval on|off` → `ok BOOL` (the controller-manager's approver);
//! - `csr-deny NAME` → `ok NAME` (as `kubectl certificate deny`);
//! - `csr-max-duration SECS` → `ok SECS`: TEST-ONLY, as `--csr-max-duration` (0: off);
//! - else, or without that object, `error: …`.
//!
//! ```text
//! cargo run -p picokubelet-testkit --example serve -- --dir DIR --node NAME [--san NAME]…
//!     [--port P] [--chain ecdsa|ecdsa-intermediate|rsa|rsa-intermediate|ecdsa-under-rsa]
//!     [--bootstrap-token ID.SECRET] [--csr-max-duration SECS]
//! ```
//!
//! `--san`: extra names the server certificate carries (a board that dials the server by a DNS
//! name verifies that name). `--chain`: the server certificate chain (default `ecdsa`, k3s's;
//! `rsa` is kubeadm's). Files: `admin.kubeconfig` (system:masters), `node.kubeconfig`
//! (`system:node:NAME`, the token NodeRestriction lets touch only that Node),
//! `node-cert.kubeconfig` (the same user as a client certificate with a P-256 key, group
//! `system:nodes`, as kubeadm writes a kubelet's), all naming `https://127.0.0.1:PORT`.
//! `--bootstrap-token`: a bootstrap token as `kubeadm token create` makes it (both usages), with
//! CSRs approved automatically (kubeadm's default), for boards doing kubelet TLS bootstrap.
//! `--csr-max-duration`: TEST-ONLY, issued certificates valid SECS from their issue (no
//! backdating); a real controller-manager grants at least 600 s, backdated 5 minutes. For
//! watching a board renew its certificate within a test.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use picokubelet_testkit::{ServerChain, ServerOptions, TestApiServer, TlsOptions};
use serde_json::Value;

/// Request and connection records kept (a harness run makes a few thousand requests; nobody
/// reads them).
const LOG_LIMIT: usize = 10_000;

struct Args {
    dir: PathBuf,
    node: String,
    sans: Vec<String>,
    port: u16,
    chain: ServerChain,
    bootstrap_token: Option<picokubelet_testkit::BootstrapToken>,
    csr_max_duration: Option<std::time::Duration>,
}

const USAGE: &str = "usage: serve --dir DIR --node NAME [--san NAME]... [--port PORT] \
[--chain ecdsa|ecdsa-intermediate|rsa|rsa-intermediate|ecdsa-under-rsa] \
[--bootstrap-token ID.SECRET] [--csr-max-duration SECS, test-only] (serves until stdin closes)";

/// `--chain`'s names for the chains a board can verify.
const CHAINS: [(&str, ServerChain); 5] = [
    ("ecdsa", ServerChain::EcdsaP256),
    ("ecdsa-intermediate", ServerChain::EcdsaIntermediate),
    ("rsa", ServerChain::Rsa),
    ("rsa-intermediate", ServerChain::RsaIntermediate),
    ("ecdsa-under-rsa", ServerChain::EcdsaUnderRsa),
];

fn parse(mut argv: impl Iterator<Item = String>) -> Result<Args, String> {
    let (mut dir, mut node, mut sans, mut port) = (None, None, Vec::new(), 0);
    let mut chain = ServerChain::default();
    let mut bootstrap_token = None;
    let mut csr_max_duration = None;
    while let Some(flag) = argv.next() {
        let value = argv
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        match flag.as_str() {
            "--dir" => dir = Some(PathBuf::from(value)),
            "--node" => node = Some(value),
            "--san" => sans.push(value),
            "--port" => {
                port = value
                    .parse()
                    .map_err(|_| format!("--port {value} is not a port number"))?
            }
            "--chain" => {
                chain = CHAINS
                    .iter()
                    .find(|(name, _)| *name == value)
                    .map(|&(_, chain)| chain)
                    .ok_or_else(|| format!("--chain {value}: not a chain name\n{USAGE}"))?
            }
            "--bootstrap-token" => {
                bootstrap_token = Some(
                    picokubelet_testkit::BootstrapToken::parse(&value).ok_or_else(|| {
                        format!("--bootstrap-token {value}: not ID.SECRET (6 and 16 of [a-z0-9])")
                    })?,
                )
            }
            "--csr-max-duration" => {
                // test-only: see the module notes.
                let secs: u64 =
                    value.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                        format!("--csr-max-duration {value}: not whole seconds > 0")
                    })?;
                csr_max_duration = Some(std::time::Duration::from_secs(secs));
            }
            other => return Err(format!("unknown argument '{other}'\n{USAGE}")),
        }
    }
    Ok(Args {
        dir: dir.ok_or_else(|| format!("--dir is required\n{USAGE}"))?,
        node: node.ok_or_else(|| format!("--node is required\n{USAGE}"))?,
        sans,
        port,
        chain,
        bootstrap_token,
        csr_max_duration,
    })
}

fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("serve: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let opts = ServerOptions {
        port: args.port,
        log_limit: Some(LOG_LIMIT),
        nodes: vec![args.node.clone()],
        tls: TlsOptions {
            extra_sans: args.sans.clone(),
            chain: args.chain,
            ..TlsOptions::default()
        },
        ..ServerOptions::default()
    };
    let server = match runtime.block_on(TestApiServer::start(opts)) {
        Ok(server) => server,
        Err(e) => {
            eprintln!(
                "serve: the test API server cannot listen on 127.0.0.1:{}: {e}",
                args.port
            );
            return ExitCode::FAILURE;
        }
    };
    if let Some(token) = args.bootstrap_token.clone() {
        server.add_bootstrap_token(token);
        server.set_csr_auto_approval(true);
    }
    server.set_csr_max_duration(args.csr_max_duration);
    let node_cert =
        server.issue_client_cert(&format!("system:node:{}", args.node), &["system:nodes"]);
    let files = [
        ("admin.kubeconfig", server.kubeconfig(&server.admin_token())),
        (
            "node.kubeconfig",
            server.kubeconfig(&server.node_token(&args.node)),
        ),
        (
            "node-cert.kubeconfig",
            server.client_cert_kubeconfig(&node_cert),
        ),
    ];
    for (name, text) in files {
        let path = args.dir.join(name);
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!("serve: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    println!("ready {}", server.url());
    // Serves (on the runtime's worker) until the parent closes our stdin.
    for line in std::io::stdin().lock().lines().map_while(Result::ok) {
        println!("{}", answer(&server, line.trim()));
    }
    drop(server);
    ExitCode::SUCCESS
}

/// The answer to one query line (see the module's documentation).
fn answer(server: &TestApiServer, query: &str) -> String {
    match query.split_once(' ') {
        Some(("node", name)) => match server.node(name) {
            Some(node) => node_line(&node),
            None => format!("error: no Node {name}"),
        },
        Some(("lease", name)) => match server.lease(name) {
            Some(lease) => text(&lease["spec"]["renewTime"]).to_owned(),
            None => format!("error: no Lease {name}"),
        },
        Some(("users", agent)) => users_of(server, agent),
        // test-only: see `--csr-max-duration` (0: the controller-manager's rules again).
        Some(("csr-max-duration", secs)) => match secs.parse::<u64>() {
            Ok(secs) => {
                server
                    .set_csr_max_duration((secs > 0).then(|| std::time::Duration::from_secs(secs)));
                format!("ok {secs}")
            }
            Err(_) => format!("error: csr-max-duration {secs}: not whole seconds"),
        },
        // kube-controller-manager's approver off (k3s-like) or on again.
        Some(("csr-auto-approval", on)) => {
            server.set_csr_auto_approval(on == "on");
            format!("ok {}", on == "on")
        }
        // `kubectl certificate deny NAME`.
        Some(("csr-deny", name)) => {
            if server.deny_csr(name) {
                format!("ok {name}")
            } else {
                format!("error: no CSR {name} to deny")
            }
        }
        Some(("csrs", _)) => {
            let names = server.csr_names();
            format!("{} {}", names.len(), names.join(","))
        }
        _ => format!(
            "error: '{query}' is not 'node NAME', 'lease NAME',      'users AGENT', 'csrs all', \
             'csr-max-duration SECS', 'csr-auto-approval on|off' or 'csr-deny NAME'"
        ),
    }
}

/// Who the server took the requests of clients named `agent` for (the kept log's).
fn users_of(server: &TestApiServer, agent: &str) -> String {
    let users: std::collections::BTreeSet<String> = server
        .requests()
        .into_iter()
        .filter(|r| {
            r.user_agent
                .as_deref()
                .is_some_and(|a| a.starts_with(agent))
        })
        .filter_map(|r| r.user)
        .collect();
    users.into_iter().collect::<Vec<_>>().join(",")
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}

/// The element of the array `list` whose `key` is `wanted`, else null.
fn find<'a>(list: &'a Value, key: &str, wanted: &str) -> &'a Value {
    list.as_array()
        .and_then(|items| items.iter().find(|item| text(&item[key]) == wanted))
        .unwrap_or(&Value::Null)
}

fn node_line(node: &Value) -> String {
    let ready = find(&node["status"]["conditions"], "type", "Ready");
    let address = find(&node["status"]["addresses"], "type", "InternalIP");
    let taint = find(
        &node["spec"]["taints"],
        "key",
        "picokubelet.dev/microcontroller",
    );
    let heap = &node["metadata"]["annotations"]["node.specht.dev/heap-bytes-free"];
    format!(
        "{}|{}|{}|{}",
        text(&ready["status"]),
        text(&address["address"]),
        text(&taint["effect"]),
        text(heap)
    )
}
