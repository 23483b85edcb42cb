//! The real binary as a child process against the test API server: start it, wait for outcomes
//! on the server, stop it with SIGTERM. Shared by the agent end-to-end tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use picokubelet_testkit::TestApiServer;
use serde_json::Value;

/// The path of `node`'s Lease.
pub fn lease_path(node: &str) -> String {
    format!("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{node}")
}

/// Successful renewals of `node`'s Lease on connections opened after connection `after`
/// (0: all).
pub fn renewals_after(server: &TestApiServer, node: &str, after: u64) -> usize {
    let lease = lease_path(node);
    server
        .requests()
        .iter()
        .filter(|r| {
            r.method == "PATCH"
                && r.target == lease
                && r.status == Some(200)
                && r.connection > after
        })
        .count()
}

/// A generous bound for a loaded machine: the tests wait for outcomes, they time nothing.
pub const LIMIT: Duration = Duration::from_secs(90);

pub struct Agent {
    pub child: Child,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
    _dir: tempfile::TempDir,
}

impl Agent {
    /// Starts `picokubelet <args>` with `kubeconfig`'s text as its kubeconfig, logging at
    /// `log_level`.
    pub fn start(kubeconfig: &str, args: &[&str], log_level: &str) -> Agent {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubeconfig");
        std::fs::write(&path, kubeconfig).unwrap();
        let stdout = dir.path().join("stdout");
        let stderr = dir.path().join("stderr");
        let child = Command::new(env!("CARGO_BIN_EXE_picokubelet"))
            .args(args)
            .arg("--kubeconfig")
            .arg(&path)
            .env("RUST_LOG", log_level)
            .env_remove("KUBECONFIG")
            .stdout(Stdio::from(std::fs::File::create(&stdout).unwrap()))
            .stderr(Stdio::from(std::fs::File::create(&stderr).unwrap()))
            .spawn()
            .unwrap();
        Agent {
            child,
            stdout,
            stderr,
            _dir: dir,
        }
    }

    pub fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    pub fn output(&self) -> String {
        format!(
            "{}{}",
            std::fs::read_to_string(&self.stdout).unwrap_or_default(),
            self.stderr_text()
        )
    }

    /// Polls `done` every 100 ms until it holds; fails (showing the agent's log) after
    /// [`LIMIT`].
    pub async fn wait_for(&mut self, what: &str, mut done: impl FnMut() -> bool) {
        let start = Instant::now();
        while !done() {
            if let Some(exit) = self.child.try_wait().unwrap() {
                panic!(
                    "the agent exited ({exit:?}) while waiting for {what}:\n{}",
                    self.stderr_text()
                );
            }
            if start.elapsed() > LIMIT {
                panic!(
                    "gave up waiting for {what}; the agent said:\n{}",
                    self.stderr_text()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sends SIGTERM and waits for the exit.
    pub async fn terminate(&mut self) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let start = Instant::now();
        loop {
            if let Some(exit) = self.child.try_wait().unwrap() {
                return exit;
            }
            assert!(start.elapsed() < LIMIT, "the agent did not stop on SIGTERM");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        // A failed test must not leave the child running.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The condition `kind` of a Node object.
pub fn condition<'a>(node: &'a Value, kind: &str) -> Option<&'a Value> {
    node["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

/// `status` of condition `kind` ("True", "False", "Unknown"), if the Node has it.
pub fn status_of(node: Option<&Value>, kind: &str) -> Option<String> {
    condition(node?, kind).and_then(|c| c["status"].as_str().map(str::to_owned))
}

/// The address after "metrics listening on " in the log, once it is there.
pub fn metrics_addr(log: &str) -> Option<String> {
    let at = log.find("metrics listening on ")? + "metrics listening on ".len();
    let rest = log.get(at..)?;
    let end = rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len());
    Some(rest.get(..end)?.to_owned())
}

/// `GET <path>` over plain HTTP/1.1: the status code and the body.
pub async fn http_get(addr: &str, path: &str) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/plain\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8(response).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let code = head.split(' ').nth(1).unwrap().parse().unwrap();
    (code, head.to_owned(), body.to_owned())
}

/// Checks the exposition syntax: every line is a `# HELP`/`# TYPE` comment or
/// `name{labels} value`; returns the samples as (series, value).
pub fn parse_exposition(text: &str) -> Vec<(String, f64)> {
    let mut samples = Vec::new();
    for line in text.lines() {
        if line.starts_with("# HELP ") || line.starts_with("# TYPE ") {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("not a sample: {line:?}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value: {line:?}"));
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "bad name: {line:?}"
        );
        let labels = &series[name_end..];
        assert!(
            labels.is_empty() || (labels.starts_with('{') && labels.ends_with('}')),
            "bad labels: {line:?}"
        );
        samples.push((series.to_owned(), value));
    }
    samples
}

/// Writes `text` to `path` through a rename, so a reader never sees half a file.
pub fn write_atomically(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}
