//! The Node and its Lease as the API server holds them, read with kubectl (on the host, over
//! loopback, with the harness's kubeconfig) or, without kubectl, asked of the test API server
//! process (`crates/testkit/examples/serve.rs` answers queries on its stdin); and a watcher that
//! records the Node's Ready condition once a second so a scenario can ask whether it stayed
//! True throughout.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, ChildStdout, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The microcontroller taint the agent registers with (picokubelet-core `k8s::taint`).
pub const TAINT_KEY: &str = "picokubelet.dev/microcontroller";
/// The heap annotation (picokubelet-core `k8s::node`), dots escaped for jsonpath.
const HEAP_ANNOTATION_PATH: &str = r"node\.specht\.dev/heap-bytes-free";
/// How often the watcher reads the Node.
const WATCH_INTERVAL: Duration = Duration::from_secs(1);

/// What the checks read from a Node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeView {
    /// The Ready condition's status ("True", "False", "Unknown"), empty without one.
    pub ready: String,
    pub internal_ip: String,
    /// The effect of the microcontroller taint, empty without it.
    pub taint_effect: String,
    pub heap_free: String,
}

/// The test API server process's query pipe.
pub struct ServerPipe {
    pub stdin: ChildStdin,
    pub stdout: BufReader<ChildStdout>,
}

impl ServerPipe {
    /// Sends one query line, returns the answer line.
    pub fn ask(&mut self, query: &str) -> Result<String, String> {
        writeln!(self.stdin, "{query}").map_err(|e| format!("the test API server: {e}"))?;
        let mut answer = String::new();
        match self.stdout.read_line(&mut answer) {
            Ok(0) | Err(_) => Err("the test API server stopped answering".into()),
            Ok(_) => match answer.trim_end().strip_prefix("error: ") {
                Some(error) => Err(error.to_owned()),
                None => Ok(answer.trim_end().to_owned()),
            },
        }
    }
}

/// How the API is read.
#[derive(Clone)]
enum Reader {
    Kubectl(PathBuf),
    Server(Arc<Mutex<ServerPipe>>),
}

/// One Node and its Lease, read through kubectl or the test server's pipe.
#[derive(Clone)]
pub struct Api {
    reader: Reader,
    node: String,
}

impl Api {
    /// Reads with kubectl and `kubeconfig`.
    pub fn kubectl(kubeconfig: &Path, node: &str) -> Api {
        Api {
            reader: Reader::Kubectl(kubeconfig.to_owned()),
            node: node.to_owned(),
        }
    }

    /// Asks the test API server process.
    pub fn test_server(pipe: Arc<Mutex<ServerPipe>>, node: &str) -> Api {
        Api {
            reader: Reader::Server(pipe),
            node: node.to_owned(),
        }
    }

    /// The same reader for another Node.
    pub fn for_node(&self, node: &str) -> Api {
        Api {
            reader: self.reader.clone(),
            node: node.to_owned(),
        }
    }

    /// What reads the API, for the report.
    pub fn describe(&self) -> &'static str {
        match self.reader {
            Reader::Kubectl(_) => "kubectl",
            Reader::Server(_) => "the test API server's own view (no kubectl here)",
        }
    }

    fn ask_server(&self, query: &str) -> Option<Result<String, String>> {
        let Reader::Server(pipe) = &self.reader else {
            return None;
        };
        Some(match pipe.lock() {
            Ok(mut pipe) => pipe.ask(&format!("{query} {}", self.node)),
            Err(_) => Err("the test API server's pipe is poisoned".into()),
        })
    }

    fn kubectl_run(&self, args: &[&str]) -> Result<String, String> {
        let Reader::Kubectl(kubeconfig) = &self.reader else {
            return Err("no kubectl".into());
        };
        let output = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(["--request-timeout", "5s"])
            .args(args)
            .output()
            .map_err(|e| format!("cannot run kubectl: {e}"))?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(format!(
                "kubectl {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        }
    }

    /// The Node, or why it cannot be read (e.g. not registered yet).
    pub fn node(&self) -> Result<NodeView, String> {
        let text = match self.ask_server("node") {
            Some(answer) => answer?,
            None => self.kubectl_node()?,
        };
        let mut fields = text.trim().split('|').map(str::to_owned);
        let mut next = || fields.next().unwrap_or_default();
        Ok(NodeView {
            ready: next(),
            internal_ip: next(),
            taint_effect: next(),
            heap_free: next(),
        })
    }

    /// kubectl's `READY|INTERNAL-IP|TAINT-EFFECT|HEAP-FREE`, as the test server answers.
    fn kubectl_node(&self) -> Result<String, String> {
        let path = format!(
            "{{.status.conditions[?(@.type==\"Ready\")].status}}|{{.status.addresses[?(@.type==\"InternalIP\")].address}}|{{.spec.taints[?(@.key==\"{TAINT_KEY}\")].effect}}|{{.metadata.annotations.{HEAP_ANNOTATION_PATH}}}"
        );
        self.kubectl_run(&["get", "node", &self.node, "-o", &format!("jsonpath={path}")])
    }

    /// The Lease's renewTime (RFC 3339 with microseconds).
    pub fn lease_renew_time(&self) -> Result<String, String> {
        if let Some(answer) = self.ask_server("lease") {
            return answer;
        }
        self.kubectl_run(&[
            "get",
            "lease",
            "-n",
            "kube-node-lease",
            &self.node,
            "-o",
            "jsonpath={.spec.renewTime}",
        ])
        .map(|t| t.trim().to_owned())
    }

    /// Polls until `accept` takes the Node (at most `bound`: a failure, not a
    /// synchronisation); the last view or error otherwise.
    pub fn wait_node(
        &self,
        bound: Duration,
        mut accept: impl FnMut(&NodeView) -> bool,
    ) -> Result<NodeView, String> {
        let deadline = Instant::now() + bound;
        loop {
            let last = self.node();
            if let Ok(view) = &last {
                if accept(view) {
                    return last;
                }
            }
            if Instant::now() >= deadline {
                return Err(match last {
                    Ok(view) => format!("the Node stayed {view:?}"),
                    Err(e) => e,
                });
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Starts recording the Node's Ready status once a second.
    pub fn watch_ready(&self) -> ReadyWatch {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (api, into, stopped) = (self.clone(), samples.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                // A failed read (kubectl timing out on a loaded machine) is no reading at all.
                let ready = api.node().map(|n| n.ready);
                if let Ok(mut samples) = into.lock() {
                    samples.push(ready);
                }
                // A sampling period, not a synchronisation: the Ready condition is read, and
                // the server's lifecycle controller runs, at each request.
                std::thread::sleep(WATCH_INTERVAL);
            }
        });
        ReadyWatch {
            samples,
            stop,
            thread: Some(thread),
        }
    }
}

/// The Ready samples of [`Api::watch_ready`].
pub struct ReadyWatch {
    samples: Arc<Mutex<Vec<Result<String, String>>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ReadyWatch {
    /// Stops; what was read.
    pub fn finish(mut self) -> ReadySummary {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let samples = self.samples.lock().map(|s| s.clone()).unwrap_or_default();
        let mut summary = ReadySummary::default();
        for sample in samples {
            match sample {
                Ok(ready) => {
                    summary.reads += 1;
                    if ready != "True" && summary.not_ready.last() != Some(&ready) {
                        summary.not_ready.push(ready);
                    }
                }
                Err(_) => summary.failed_reads += 1,
            }
        }
        summary
    }
}

/// The Ready reads of a [`ReadyWatch`].
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ReadySummary {
    /// Successful reads.
    pub reads: usize,
    /// Statuses other than "True" read, consecutive repeats dropped.
    pub not_ready: Vec<String>,
    /// Reads that failed (no answer is no evidence either way).
    pub failed_reads: usize,
}

impl ReadySummary {
    /// Ready in every read, and at least one read.
    pub fn throughout(&self) -> Result<String, String> {
        let failed = match self.failed_reads {
            0 => String::new(),
            n => format!(", {n} read(s) failed"),
        };
        if !self.not_ready.is_empty() {
            Err(format!(
                "the Node's Ready read {:?}{failed}",
                self.not_ready
            ))
        } else if self.reads == 0 {
            Err(format!("the Node was never read{failed}"))
        } else {
            Ok(format!("Ready in all {} reads{failed}", self.reads))
        }
    }
}

impl Drop for ReadyWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::ReadySummary;

    #[test]
    fn ready_throughout_needs_reads_and_no_other_status() {
        let all = ReadySummary {
            reads: 3,
            not_ready: vec![],
            failed_reads: 1,
        };
        assert_eq!(
            all.throughout(),
            Ok("Ready in all 3 reads, 1 read(s) failed".into())
        );
        let lapsed = ReadySummary {
            reads: 3,
            not_ready: vec!["Unknown".into()],
            failed_reads: 0,
        };
        assert!(lapsed.throughout().unwrap_err().contains("Unknown"));
        assert!(ReadySummary {
            reads: 0,
            not_ready: vec![],
            failed_reads: 4
        }
        .throughout()
        .is_err());
    }
}
