//! Shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

use picokubelet::kubeconfig::{Kubeconfig, KubeconfigError};

/// The (fake) ServiceAccount token in `fixtures/token.yaml` and `fixtures/secrets/node.token`.
pub const TOKEN: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImZpeHR1cmUifQ.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6cGljb2t1YmVsZXQ6dmItdGVzdCJ9.Zml4dHVyZS1zaWduYXR1cmU";

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
        .join(name)
}

/// Parses a fixture file.
pub fn load_fixture(name: &str) -> Kubeconfig {
    let path = fixture(name);
    let text = std::fs::read_to_string(&path).unwrap();
    Kubeconfig::parse(&text, &path).unwrap()
}

/// Parses YAML as if it were the file `dir/config`.
pub fn parse_in(dir: &std::path::Path, yaml: &str) -> Result<Kubeconfig, KubeconfigError> {
    Kubeconfig::parse(yaml, &dir.join("config"))
}

/// The CA of the fixtures, base64 (as certificate-authority-data).
pub fn ca_data() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(std::fs::read(fixture("ca.crt")).unwrap())
}

/// A `picokubelet` process whose log (stderr) goes to a file, killed when dropped.
pub struct Agent {
    pub child: std::process::Child,
    pub log_path: PathBuf,
}

impl Agent {
    /// Starts `picokubelet ARGS` with `RUST_LOG=info`, no `KUBECONFIG`, its log in `log_path`.
    pub fn spawn<A: AsRef<std::ffi::OsStr>>(
        args: impl IntoIterator<Item = A>,
        log_path: PathBuf,
    ) -> Agent {
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_picokubelet"))
            .args(args)
            .env("RUST_LOG", "info")
            .env_remove("KUBECONFIG")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::from(
                std::fs::File::create(&log_path).unwrap(),
            ))
            .spawn()
            .unwrap();
        Agent { child, log_path }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Polls `done` until it holds; panics with the log when the process exits first or after
    /// a generous bound for a loaded machine (nothing is timed).
    pub async fn wait_for(&mut self, what: &str, mut done: impl FnMut(&str) -> bool) {
        let start = std::time::Instant::now();
        loop {
            if done(&self.log()) {
                return;
            }
            if let Some(exit) = self.child.try_wait().unwrap() {
                panic!(
                    "picokubelet exited ({exit:?}) before {what}:\n{}",
                    self.log()
                );
            }
            assert!(
                start.elapsed() < std::time::Duration::from_secs(60),
                "no {what}:\n{}",
                self.log()
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// Waits for the process to exit by itself; its status and log.
    pub fn exit(mut self) -> (std::process::ExitStatus, String) {
        let status = self.child.wait().unwrap();
        (status, self.log())
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Node `name` on `server` has Ready=True.
pub fn node_ready(server: &picokubelet_testkit::TestApiServer, name: &str) -> bool {
    server.node(name).is_some_and(|n| {
        n["status"]["conditions"].as_array().is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
    })
}
