//! `picokubelet demo` end to end (the real binary): it writes a private kubeconfig and prints
//! where, its boards' Nodes are Ready when read through that kubeconfig, and SIGINT/SIGTERM
//! remove what it wrote unless `--keep`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use picokubelet::kubeconfig::{locate, Kubeconfig, LookupEnv, ResolveOptions, ServerTrust};
use picokubelet::provision::ca::ca_der;
use serde_json::Value;

/// A generous bound for a loaded machine: the tests wait for outcomes, they time nothing.
const LIMIT: Duration = Duration::from_secs(90);

struct Demo {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
    /// `XDG_RUNTIME_DIR` of the demo.
    runtime_dir: tempfile::TempDir,
}

impl Demo {
    fn start(args: &[&str]) -> Demo {
        let runtime_dir = tempfile::tempdir().unwrap();
        let stdout = runtime_dir.path().join("stdout");
        let stderr = runtime_dir.path().join("stderr");
        let child = Command::new(env!("CARGO_BIN_EXE_picokubelet"))
            .arg("demo")
            .args(args)
            .env("XDG_RUNTIME_DIR", runtime_dir.path())
            .env("RUST_LOG", "info")
            .env_remove("KUBECONFIG")
            .stdout(Stdio::from(std::fs::File::create(&stdout).unwrap()))
            .stderr(Stdio::from(std::fs::File::create(&stderr).unwrap()))
            .spawn()
            .unwrap();
        Demo {
            child,
            stdout,
            stderr,
            runtime_dir,
        }
    }

    fn stdout_text(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Polls `done` every 100 ms until it holds; fails (showing the demo's output) after LIMIT.
    fn wait_for(&mut self, what: &str, mut done: impl FnMut(&Demo) -> bool) {
        let start = Instant::now();
        while !done(self) {
            if let Some(exit) = self.child.try_wait().unwrap() {
                panic!(
                    "the demo exited ({exit:?}) while waiting for {what}:\n{}{}",
                    self.stdout_text(),
                    self.stderr_text()
                );
            }
            assert!(
                start.elapsed() < LIMIT,
                "gave up waiting for {what}:\n{}{}",
                self.stdout_text(),
                self.stderr_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The kubeconfig path from the printed `export KUBECONFIG=…` line, once printed.
    fn kubeconfig(&self) -> Option<PathBuf> {
        self.stdout_text()
            .lines()
            .find_map(|l| l.trim().strip_prefix("export KUBECONFIG="))
            .map(PathBuf::from)
    }

    fn signal(&mut self, signal: &str) -> ExitStatus {
        let sent = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let start = Instant::now();
        loop {
            if let Some(exit) = self.child.try_wait().unwrap() {
                return exit;
            }
            assert!(start.elapsed() < LIMIT, "the demo did not stop on {signal}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `GET path` with the server, CA and token of `kubeconfig`: the JSON body.
fn get_json(kubeconfig: &Path, path: &str) -> Value {
    let env = LookupEnv {
        kubeconfig: None,
        home: None,
    };
    let config = Kubeconfig::load(&locate(Some(kubeconfig), &env).unwrap()).unwrap();
    let resolved = config.resolve(&ResolveOptions::default()).unwrap();
    let ServerTrust::Ca { pem, .. } = &resolved.cluster.trust else {
        panic!("the demo's kubeconfig must carry its CA");
    };
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca_der(pem).unwrap().into()).unwrap();
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let server = &resolved.cluster.server;
    let host = server.host.to_string();
    let name = rustls::pki_types::ServerName::try_from(host.clone()).unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(tls), name).unwrap();
    let tcp = TcpStream::connect((host.as_str(), server.port)).unwrap();
    tcp.set_read_timeout(Some(LIMIT)).unwrap();
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {}\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
        resolved.credentials.token.expose()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    // The server closes with close_notify after `Connection: close`.
    stream.read_to_end(&mut response).unwrap();
    let text = String::from_utf8(response).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    let body = if head.contains("Transfer-Encoding: chunked") {
        dechunk(body)
    } else {
        body.to_owned()
    };
    serde_json::from_str(&body).unwrap()
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, after) = rest.split_once("\r\n").unwrap();
        let size = usize::from_str_radix(size.trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.push_str(&after[..size]);
        rest = &after[size + 2..];
    }
}

/// The names of the Nodes whose Ready condition is True.
fn ready_nodes(kubeconfig: &Path) -> Vec<String> {
    let list = get_json(kubeconfig, "/api/v1/nodes");
    let mut names: Vec<String> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| {
            n["status"]["conditions"].as_array().is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
        })
        .map(|n| n["metadata"]["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn demo_boards_are_ready_through_its_kubeconfig_and_sigint_removes_it() {
    let mut demo = Demo::start(&["--boards", "2"]);
    demo.wait_for("the kubeconfig line", |d| d.kubeconfig().is_some());
    let kubeconfig = demo.kubeconfig().unwrap();
    assert!(
        kubeconfig.starts_with(demo.runtime_dir.path()),
        "{} is not under XDG_RUNTIME_DIR",
        kubeconfig.display()
    );
    #[cfg(unix)]
    assert_eq!(mode(&kubeconfig), 0o600, "the kubeconfig holds a token");
    let out = demo.stdout_text();
    assert!(out.contains("kubectl get nodes -owide"), "{out}");
    assert!(out.contains("kubectl describe node demo-1"), "{out}");

    demo.wait_for("both boards Ready", |_| {
        ready_nodes(&kubeconfig) == ["demo-1", "demo-2"]
    });
    demo.wait_for("the all-Ready log line", |d| {
        d.stderr_text().contains("all 2 boards Ready")
    });

    let exit = demo.signal("-INT");
    assert!(exit.success(), "{exit:?}\n{}", demo.stderr_text());
    assert!(!kubeconfig.exists(), "the kubeconfig is removed");
    assert!(!kubeconfig.parent().unwrap().exists(), "its directory too");
}

#[test]
fn keep_leaves_the_kubeconfig_after_sigterm() {
    let mut demo = Demo::start(&["--boards", "1", "--keep"]);
    demo.wait_for("the kubeconfig line", |d| d.kubeconfig().is_some());
    let kubeconfig = demo.kubeconfig().unwrap();
    demo.wait_for("the board Ready", |_| {
        ready_nodes(&kubeconfig) == ["demo-1"]
    });
    let exit = demo.signal("-TERM");
    assert!(exit.success(), "{exit:?}\n{}", demo.stderr_text());
    assert!(kubeconfig.exists(), "--keep keeps the kubeconfig");
    #[cfg(unix)]
    assert_eq!(mode(&kubeconfig), 0o600);
}

#[test]
fn the_embedded_server_listens_on_loopback_only() {
    let out = Command::new(env!("CARGO_BIN_EXE_picokubelet"))
        .args(["demo", "--addr", "0.0.0.0:6443"])
        .env_remove("KUBECONFIG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("listens on 127.0.0.1 only"), "{err}");
}

#[test]
fn with_kubeconfig_the_boards_join_that_cluster_and_nothing_is_written() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = rt
        .block_on(picokubelet_testkit::TestApiServer::start(
            picokubelet_testkit::ServerOptions::default(),
        ))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("admin.kubeconfig");
    std::fs::write(&path, server.kubeconfig(&server.admin_token())).unwrap();
    let mut demo = Demo::start(&["--boards", "2", "--kubeconfig", path.to_str().unwrap()]);
    demo.wait_for("both boards Ready on the given cluster", |_| {
        ["demo-1", "demo-2"].iter().all(|n| {
            server.node(n).is_some_and(|node| {
                node["status"]["conditions"].as_array().is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True")
                })
            })
        })
    });
    assert!(demo
        .stdout_text()
        .contains(&format!("export KUBECONFIG={}", path.display())));
    let exit = demo.signal("-TERM");
    assert!(exit.success(), "{exit:?}\n{}", demo.stderr_text());
    let written: Vec<_> = std::fs::read_dir(demo.runtime_dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "stdout" && n != "stderr")
        .collect();
    assert!(written.is_empty(), "{written:?}");
    assert!(path.exists(), "the user's kubeconfig is left alone");
}

/// The recorded kubectl session against the real kube-apiserver (recorded-2 D01–D10).
fn recorded_stdout(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testkit/testdata/recorded-2")
        .join(name);
    let log = std::fs::read_to_string(path).unwrap();
    let after = log.split_once("# stdout:\n").unwrap().1;
    after.split_once("# rc=").unwrap().0.to_owned()
}

/// kubectl's table output as cells (columns are separated by at least two spaces).
fn cells(table: &str) -> Vec<Vec<String>> {
    table
        .lines()
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .collect()
}

/// An AGE cell as kubectl prints a young object's: seconds, or minutes and seconds.
fn is_age(cell: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    match cell.strip_suffix('s') {
        Some(rest) => match rest.split_once('m') {
            Some((m, s)) => digits(m) && digits(s),
            None => digits(rest),
        },
        None => false,
    }
}

#[test]
fn kubectl_sees_the_demo_boards_as_it_saw_boards_on_the_real_server() {
    let Some(kubectl) = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("kubectl"))
            .find(|k| k.is_file())
    }) else {
        eprintln!("SKIPPED: no kubectl on PATH; install kubernetes-client to run this test");
        return;
    };
    let mut demo = Demo::start(&["--boards", "3"]);
    demo.wait_for("the kubeconfig line", |d| d.kubeconfig().is_some());
    let kubeconfig = demo.kubeconfig().unwrap();
    demo.wait_for("three boards Ready", |_| {
        ready_nodes(&kubeconfig).len() == 3
    });
    let cache = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| -> String {
        let out = Command::new(&kubectl)
            .args(args)
            .arg("--cache-dir")
            .arg(cache.path())
            .env("KUBECONFIG", &kubeconfig)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };

    // get nodes -owide (D02): the same header; per row the recorded cells but for the name,
    // the age and KERNEL-VERSION's architecture (the demo boards are ESP32-S3: xtensa too).
    let got = cells(&run(&["get", "nodes", "-owide"]));
    let want = cells(&recorded_stdout("D02-get-nodes-owide.kubectl-v9.txt"));
    assert_eq!(got[0], want[0], "the -owide header");
    assert_eq!(got.len(), 4, "{got:?}");
    for (i, row) in got.iter().skip(1).enumerate() {
        let recorded = &want[1];
        assert_eq!(row[0], format!("demo-{}", i + 1));
        assert!(is_age(&row[3]), "AGE {:?}", row[3]);
        for col in [1, 2, 4, 5, 6, 7, 8, 9] {
            assert_eq!(
                row[col], recorded[col],
                "column {} of {row:?}",
                want[0][col]
            );
        }
    }

    // describe (D04): the same sections in the same order.
    let sections = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| !l.starts_with(' '))
            .filter_map(|l| l.split_once(':').map(|(k, _)| k.to_owned()))
            .collect()
    };
    let got = run(&["describe", "node", "demo-1"]);
    assert_eq!(
        sections(&got),
        sections(&recorded_stdout("D04-describe-node.kubectl-v9.txt")),
        "{got}"
    );
    assert!(
        got.contains("Non-terminated Pods:          (0 in total)"),
        "{got}"
    );

    // cordon (D07) and delete (D10): the recorded answers, for these names.
    let want = recorded_stdout("D07-cordon.kubectl-v9.txt").replace("esp-boot-01", "demo-1");
    assert_eq!(run(&["cordon", "demo-1"]), want);
    let got = cells(&run(&["get", "node", "demo-1"]));
    assert_eq!(got[1][1], "Ready,SchedulingDisabled");
    let uid = |kc: &Path| -> Option<String> {
        get_json(kc, "/api/v1/nodes")["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["metadata"]["name"] == "demo-3")
            .map(|n| n["metadata"]["uid"].as_str().unwrap().to_owned())
    };
    let before = uid(&kubeconfig).unwrap();
    let want = recorded_stdout("D10-delete-node.kubectl-v9.txt").replace("esp-test-03", "demo-3");
    assert_eq!(run(&["delete", "node", "demo-3"]), want);
    // The board notices at its next renewal and registers a new Node.
    demo.wait_for("demo-3 registered again", |_| {
        uid(&kubeconfig).is_some_and(|u| u != before) && ready_nodes(&kubeconfig).len() == 3
    });
    let exit = demo.signal("-INT");
    assert!(exit.success(), "{exit:?}\n{}", demo.stderr_text());
}
