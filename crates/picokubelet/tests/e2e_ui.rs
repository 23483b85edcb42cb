//! `fleet --ui` end to end: the real binary against the test API server. Under a
//! pseudo-terminal (util-linux `script`) its keys reach the boards (low heap → the Node's
//! MemoryPressure turns True; cut → a new TLS handshake) and `q` restores the terminal; with
//! no terminal it falls back to the plain log.
mod agent_process;

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use agent_process::{status_of, Agent};
use picokubelet_testkit::{ServerOptions, TestApiServer};

/// A generous bound for a loaded machine: this waits for outcomes, it times nothing.
const LIMIT: Duration = Duration::from_secs(60);

/// `script` and its child, killed if the test fails first.
struct UnderPty {
    child: Child,
    output: std::path::PathBuf,
}

impl UnderPty {
    fn output(&self) -> String {
        read(&self.output)
    }

    fn press(&mut self, keys: &[u8]) {
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(keys).unwrap();
        stdin.flush().unwrap();
    }

    async fn wait_for(&mut self, what: &str, mut done: impl FnMut() -> bool) {
        let start = Instant::now();
        while !done() {
            if let Some(exit) = self.child.try_wait().unwrap() {
                panic!("the view exited ({exit:?}) while waiting for {what}");
            }
            assert!(start.elapsed() < LIMIT, "gave up waiting for {what}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for UnderPty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_reach_the_boards_and_q_restores_the_terminal() {
    let server = TestApiServer::start(ServerOptions::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, server.kubeconfig(&server.admin_token())).unwrap();
    let output = dir.path().join("pty-output");
    let command = format!(
        "stty rows 30 cols 130; exec {} fleet --ui --count 2 --node-name ui --threads 2 \
         --start-spread 0s --lease-renew-interval 1s --condition-check-interval 1s \
         --kubeconfig {}",
        env!("CARGO_BIN_EXE_picokubelet"),
        kubeconfig.display()
    );
    let child = Command::new("script")
        .args(["--quiet", "--return", "--command", &command, "/dev/null"])
        .env("RUST_LOG", "info")
        .env_remove("KUBECONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::from(std::fs::File::create(&output).unwrap()))
        .stderr(Stdio::null())
        .spawn()
        .expect("util-linux `script` runs the view under a pseudo-terminal");
    let mut view = UnderPty { child, output };

    view.wait_for("both Nodes Ready", || {
        ["ui-1", "ui-2"]
            .iter()
            .all(|n| status_of(server.node(n).as_ref(), "Ready").as_deref() == Some("True"))
    })
    .await;
    let screen = view.output.clone();
    view.wait_for("the boards on screen", || {
        let out = read(&screen);
        out.contains("ui-1") && out.contains("Registered")
    })
    .await;

    // The first board is selected: low heap.
    view.press(b"m");
    view.wait_for("ui-1's MemoryPressure True on the server", || {
        status_of(server.node("ui-1").as_ref(), "MemoryPressure").as_deref() == Some("True")
    })
    .await;
    assert_eq!(
        status_of(server.node("ui-2").as_ref(), "MemoryPressure").as_deref(),
        Some("False"),
        "only the selected board"
    );

    // Cut its connection: the agent opens a new session.
    let handshakes = server.tls_handshakes();
    view.press(b"c");
    view.wait_for("a new TLS handshake", || {
        server.tls_handshakes() > handshakes
    })
    .await;

    view.press(b"q");
    let start = Instant::now();
    let exit = loop {
        if let Some(exit) = view.child.try_wait().unwrap() {
            break exit;
        }
        assert!(start.elapsed() < LIMIT, "q did not end the view");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "{exit:?}");
    let out = view.output();
    let entered = out
        .find("\u{1b}[?1049h")
        .expect("entered the alternate screen");
    let left = out
        .rfind("\u{1b}[?1049l")
        .expect("left the alternate screen");
    assert!(left > entered);
    assert!(
        out[left..].contains("\u{1b}[?25h"),
        "the cursor is shown again"
    );
    // The log kept while the view owned the screen comes out afterwards.
    assert!(out[left..].contains("stopping"), "{}", &out[left..]);
}

fn read(path: &std::path::Path) -> String {
    String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_terminal_ui_falls_back_to_the_plain_log() {
    let server = TestApiServer::start(ServerOptions::default())
        .await
        .unwrap();
    let mut agent = Agent::start(
        &server.kubeconfig(&server.admin_token()),
        &[
            "fleet",
            "--ui",
            "--count",
            "1",
            "--node-name",
            "plain",
            "--start-spread",
            "0s",
        ],
        "info",
    );
    agent
        .wait_for("the Node Ready", || {
            status_of(server.node("plain-1").as_ref(), "Ready").as_deref() == Some("True")
        })
        .await;
    let exit = agent.terminate().await;
    assert!(exit.success(), "{exit:?}");
    let log = agent.stderr_text();
    assert_eq!(log.matches("--ui: no terminal").count(), 1, "{log}");
    assert!(log.contains("stopping"), "{log}");
    assert!(
        std::fs::read(&agent.stdout).unwrap().is_empty(),
        "nothing drawn on a pipe"
    );
}
