//! tapboard-harness: the firmware body (the tap board) against an API server, checked from the
//! outside. `scripts/tap-board.sh` builds the pieces and runs it; see firmware/README.md "The
//! tap board" for what it checks.
//!
//! Everything it makes stays inside one network namespace (the board's two TAPs, dnsmasq, the
//! API server's address) and the host's loopback (the API server; a forwarder joins the two).
//! The API server is the project's test server (`crates/testkit/examples/serve.rs`) unless
//! `--kubeconfig` names another one on loopback; the board's flash record is made from that
//! kubeconfig by `picokubelet provision`.

mod api;
mod board;
mod bootstrap;
mod forward;
mod netns;
mod scenarios;
mod sniff;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex};

use crate::api::ServerPipe;
use crate::scenarios::{Harness, Report};

const USAGE: &str = "\
usage: tapboard-harness --picokubelet PATH (--server PATH | --kubeconfig FILE)
                        [--board PATH] [--node-name NAME] [--seconds N] [--quick]
                        [--flaps LIST] [--boot-only] [--bootstrap] [--work DIR]
  --server      the test API server (cargo build -p picokubelet-testkit --example serve)
  --kubeconfig  another API server on the host's loopback, its CA and credentials instead
  --node-name   the board's Node (with --kubeconfig: the name its credentials may register)
  --seconds     the steady-state period the figures are measured over (default 60)
  --quick       the shorter scenario set (CI): link flaps of 5 s and 35 s only
  --flaps LIST  the link flaps' lengths instead, seconds, e.g. 5,20,35
  --boot-only   boot to Ready, renewals and the wrong-name refusal only (a quick look at
                another server: ~1 min)
  --bootstrap   kubelet TLS bootstrap only: the test server with a bootstrap token, boards
                provisioned with it (and with the CA's hash), a reboot, a corrupt slot
  --work        where the flash image, kubeconfigs and logs go (default: a new /tmp directory)";

/// The board's Node name unless `--node-name` says otherwise.
const DEFAULT_NODE_NAME: &str = "tapboard-1";

pub struct Args {
    pub picokubelet: PathBuf,
    pub server: Option<PathBuf>,
    pub kubeconfig: Option<PathBuf>,
    pub board: PathBuf,
    pub node_name: String,
    pub seconds: u64,
    /// The link flaps' lengths, seconds.
    pub flaps: Vec<u64>,
    /// Only boot → Ready, the steady state and the wrong-name refusal.
    pub boot_only: bool,
    /// Only the kubelet TLS bootstrap scenarios (`bootstrap.rs`).
    pub bootstrap: bool,
    pub work: PathBuf,
}

fn parse_args(mut argv: impl Iterator<Item = String>) -> Result<Args, String> {
    let (mut picokubelet, mut server, mut kubeconfig, mut board, mut work) =
        (None, None, None, None, None);
    let mut node_name = DEFAULT_NODE_NAME.to_owned();
    let (mut seconds, mut quick, mut flaps, mut boot_only) = (60, false, None, false);
    let mut bootstrap = false;
    while let Some(flag) = argv.next() {
        if flag == "--quick" {
            quick = true;
            continue;
        }
        if flag == "--boot-only" {
            boot_only = true;
            continue;
        }
        if flag == "--bootstrap" {
            bootstrap = true;
            continue;
        }
        if flag == "-h" || flag == "--help" {
            return Err(USAGE.into());
        }
        let value = argv
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        match flag.as_str() {
            "--picokubelet" => picokubelet = Some(PathBuf::from(value)),
            "--server" => server = Some(PathBuf::from(value)),
            "--kubeconfig" => kubeconfig = Some(PathBuf::from(value)),
            "--board" => board = Some(PathBuf::from(value)),
            "--work" => work = Some(PathBuf::from(value)),
            "--node-name" => node_name = value,
            "--flaps" => {
                let parsed: Option<Vec<u64>> = value
                    .split(',')
                    .map(|s| s.trim().parse().ok().filter(|&s| s > 0))
                    .collect();
                flaps = Some(parsed.ok_or_else(|| {
                    format!("--flaps {value}: give whole seconds, comma-separated")
                })?);
            }
            "--seconds" => {
                seconds =
                    value.parse().ok().filter(|&s| s >= 10).ok_or_else(|| {
                        format!("--seconds {value}: give whole seconds, at least 10")
                    })?
            }
            other => return Err(format!("unknown argument '{other}'\n{USAGE}")),
        }
    }
    if server.is_none() && kubeconfig.is_none() {
        return Err(format!("give --server PATH or --kubeconfig FILE\n{USAGE}"));
    }
    let board = match board {
        Some(board) => board,
        None => std::env::current_exe()
            .map_err(|e| format!("cannot find this program's directory: {e}"))?
            .with_file_name("picokubelet-tapboard"),
    };
    let work = work.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("pk-tapboard-{}", std::process::id()))
    });
    Ok(Args {
        picokubelet: picokubelet.ok_or_else(|| format!("--picokubelet is required\n{USAGE}"))?,
        server,
        kubeconfig,
        board,
        node_name,
        seconds,
        flaps: flaps.unwrap_or_else(|| if quick { vec![5, 35] } else { vec![5, 20, 35] }),
        boot_only,
        bootstrap,
        work,
    })
}

/// Why this machine cannot run the harness, if it cannot.
fn missing_prerequisite() -> Option<String> {
    // SAFETY: geteuid(2) has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root: network namespaces and TAP devices need CAP_NET_ADMIN".into());
    }
    if !Path::new("/dev/net/tun").exists() {
        return Some("no /dev/net/tun".into());
    }
    for (program, flag, hint) in [
        ("ip", "-V", "iproute2"),
        (
            "dnsmasq",
            "--version",
            "Debian: dnsmasq-base; scripts/setup.sh installs it",
        ),
    ] {
        let mut command = Command::new(program);
        command
            .arg(flag)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if command.status().is_err() {
            return Some(format!("no {program} ({hint})"));
        }
    }
    None
}

/// Whether kubectl runs here.
pub fn have_kubectl() -> bool {
    Command::new("kubectl")
        .args(["version", "--client"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The test API server process; stops when its stdin closes (on drop).
pub struct TestServer {
    child: Child,
    /// Its query pipe (stdin, stdout), for reading the Node without kubectl.
    pub pipe: Arc<Mutex<ServerPipe>>,
}

impl TestServer {
    /// Starts `program` writing its kubeconfigs into `dir`; returns once it listens.
    fn start(
        program: &Path,
        dir: &Path,
        node: &str,
        bootstrap: bool,
    ) -> Result<TestServer, String> {
        let mut command = Command::new(program);
        if bootstrap {
            command.args(["--bootstrap-token", bootstrap::TOKEN]);
        }
        let mut child = command
            .arg("--dir")
            .arg(dir)
            .args(["--node", node, "--san", netns::API_NAME])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| {
                format!(
                    "the test API server {} does not start: {e}",
                    program.display()
                )
            })?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err("the server's stdin and stdout are not piped".into());
        };
        let mut stdout = BufReader::new(stdout);
        let mut first = String::new();
        let _ = stdout.read_line(&mut first);
        let server = TestServer {
            child,
            pipe: Arc::new(Mutex::new(ServerPipe { stdin, stdout })),
        };
        if first.starts_with("ready ") {
            Ok(server)
        } else {
            Err(format!(
                "the test API server did not come up (it said {first:?})"
            ))
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    if let Some(reason) = missing_prerequisite() {
        eprintln!("tapboard-harness: cannot run here: {reason}");
        return ExitCode::from(2);
    }
    if let Err(e) = std::fs::create_dir_all(&args.work) {
        eprintln!("tapboard-harness: cannot make {}: {e}", args.work.display());
        return ExitCode::from(2);
    }
    println!(
        "tapboard-harness: logs and files in {}",
        args.work.display()
    );
    let server = match &args.server {
        Some(program) if args.kubeconfig.is_none() => {
            match TestServer::start(program, &args.work, &args.node_name, args.bootstrap) {
                Ok(server) => Some(server),
                Err(e) => {
                    eprintln!("tapboard-harness: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        _ => None,
    };
    let mut report = Report::default();
    match Harness::set_up(&args, server.as_ref()) {
        Ok(harness) => harness.run(&args, &mut report),
        Err(e) => report.fail("set-up", &e),
    }
    report.print_figures();
    if report.failed == 0 {
        println!("tapboard-harness: all checks passed");
        ExitCode::SUCCESS
    } else {
        println!("tapboard-harness: {} check(s) failed", report.failed);
        ExitCode::FAILURE
    }
}
