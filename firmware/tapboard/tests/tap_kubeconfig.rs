//! The harness with `--kubeconfig`, as a user runs it against a cluster of their own: the API
//! server is a process the harness did not start (the test API server's `serve` example, with
//! kubeadm's RSA chain instead of the default ECDSA one) and the board's flash record is made
//! from that server's kubelet-style kubeconfig, whose user is a client certificate with a P-256
//! key (record tags 0x0F/0x10). The boot set only (`--boot-only`: DHCP, DNS, the verified
//! certificate, Ready with taint and annotation, renewals, a wrong name refused; ~1 min): the
//! full set is the test API server's, in `tap_harness.rs`. Afterwards the server is asked whom
//! it took the board's requests for: the certificate's user, `system:node:<name>`.
//!
//! Needs what `tap_harness.rs` needs, and kubectl (the harness reads another server's Node
//! with it); skips with the reason otherwise.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use support::skip_reason;

/// The board's Node, in the name the certificate's CN carries.
const NODE: &str = "tapboard-kc-1";

/// The `serve` process and its query pipe; killed on drop.
struct Server {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Server {
    fn start(program: &Path, dir: &Path) -> Server {
        let mut child = Command::new(program)
            .arg("--dir")
            .arg(dir)
            .args(["--node", NODE, "--chain", "rsa"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{} does not start: {e}", program.display()));
        let stdin = child.stdin.take().expect("piped stdin");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut first = String::new();
        stdout.read_line(&mut first).expect("serve prints a line");
        assert!(
            first.starts_with("ready https://127.0.0.1:"),
            "serve said {first:?}"
        );
        Server {
            child,
            stdin,
            stdout,
        }
    }

    fn ask(&mut self, query: &str) -> String {
        writeln!(self.stdin, "{query}").expect("serve reads its stdin");
        let mut answer = String::new();
        self.stdout.read_line(&mut answer).expect("serve answers");
        answer.trim_end().to_owned()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn kubectl_missing() -> bool {
    !Command::new("kubectl")
        .args(["version", "--client"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The root workspace's `serve` example, built with exactly the command `scripts/tap-board.sh`
/// builds its pieces with (the script's build is then a no-op).
fn build_serve(root: &Path) -> PathBuf {
    let status = Command::new("cargo")
        .current_dir(root)
        .args([
            "build",
            "--locked",
            "-q",
            "-p",
            "picokubelet",
            "--bin",
            "picokubelet",
            "-p",
            "picokubelet-testkit",
            "--example",
            "serve",
        ])
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building the serve example: {status}");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    target.join("debug/examples/serve")
}

#[test]
fn the_board_with_a_client_certificate_against_a_server_it_did_not_start() {
    if let Some(reason) = skip_reason() {
        println!("skipped: {reason}");
        return;
    }
    if kubectl_missing() {
        println!("skipped: no kubectl (the harness reads another server's Node with it)");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let work = std::env::temp_dir().join(format!("pk-tapboard-kc-{}", std::process::id()));
    let server_dir = work.join("server");
    std::fs::create_dir_all(&server_dir).expect("a work directory");
    let mut server = Server::start(&build_serve(&root), &server_dir);
    let kubeconfig = server_dir.join("node-cert.kubeconfig");
    let kubeconfig_text = std::fs::read_to_string(&kubeconfig).expect("serve wrote it");
    assert!(
        kubeconfig_text.contains("client-certificate-data:") && !kubeconfig_text.contains("token:"),
        "{kubeconfig_text}"
    );

    let bin_dir = Path::new(env!("CARGO_BIN_EXE_tapboard-harness"))
        .parent()
        .expect("the harness has a directory");
    let harness_work = work.join("harness");
    let output = Command::new(root.join("scripts/tap-board.sh"))
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args([
            "--node-name",
            NODE,
            "--boot-only",
            "--seconds",
            "20",
            "--work",
        ])
        .arg(&harness_work)
        .env("TAPBOARD_BIN_DIR", bin_dir)
        .stderr(Stdio::inherit())
        .output()
        .expect("scripts/tap-board.sh runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    let failed: Vec<&str> = stdout.lines().filter(|l| l.starts_with('✗')).collect();
    assert!(
        failed.is_empty() && output.status.success(),
        "the harness failed ({}): {failed:#?}; logs in {}",
        output.status,
        harness_work.display()
    );
    assert!(
        stdout.contains("the Node is read with kubectl"),
        "the harness did not read the Node with kubectl"
    );
    for check in [
        "✓ DHCP lease → that address is the Node's InternalIP",
        "✓ API server reached by its DNS name",
        "✓ Node Ready with the taint and the heap annotation",
        "✓ renewals on time",
        "✓ a certificate that does not name the server → no session",
    ] {
        assert!(
            stdout.lines().any(|l| l.starts_with(check)),
            "no '{check}' in the harness's report"
        );
    }
    let verified = stdout
        .lines()
        .find(|l| l.starts_with("✓ certificate verified against the cluster CA"))
        .expect("the certificate check");
    assert!(
        verified.contains("the board's identity: client certificate ("),
        "the record carried no client certificate: {verified}"
    );
    // The server's side: the board authenticated as the certificate's user, and the Node it
    // registered is there (the harness read it with kubectl; this is the server's own view).
    assert_eq!(
        server.ask("users picokubelet/"),
        format!("system:node:{NODE}")
    );
    let node = server.ask(&format!("node {NODE}"));
    assert!(node.starts_with("True|"), "the server's Node: {node}");
    drop(server);
    let _ = std::fs::remove_dir_all(&work);
}
