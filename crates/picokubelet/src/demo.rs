//! `picokubelet demo`: the first five minutes. An embedded Kubernetes API server (the project's
//! test API server, `picokubelet-testkit`) on loopback with a CA generated at start, a kubeconfig
//! for kubectl, and N virtual boards joining it through the same runner as `fleet`. With
//! `--kubeconfig`, the same boards join that cluster instead.
//!
//! Threads: the `demo` thread owns the embedded server, the SIGINT/SIGTERM watch (installed
//! before any file is written, so a signal never leaves files behind) and the view of the
//! boards ([`show_boards`]); the calling thread runs the boards (`fleet`'s runner) until the
//! watch fires, then removes what the demo wrote.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use picokubelet_testkit::{ServerOptions, TestApiServer};
use tokio::sync::oneshot;
use tracing::{info, warn};

use crate::cli::{Cli, Command, DemoArgs, FleetArgs};
use crate::failure::Failure;
use crate::kubeconfig::LookupEnv;
use crate::ui::ServerFaults;

/// Request and connection records the embedded server keeps (nobody reads them in a demo; a
/// demo left running for a day makes ~30,000 requests per board).
const SERVER_LOG_LIMIT: usize = 10_000;

/// The demo boards are `demo-1` … `demo-N`.
pub const DEMO_NODE_NAME: &str = "demo";

/// What the demo thread hands over once it is up.
struct Embedded {
    url: String,
    kubeconfig: String,
    faults: EmbeddedFaults,
}

/// The embedded server's hooks behind the terminal view's server keys.
pub struct EmbeddedFaults {
    server: Arc<TestApiServer>,
    /// The runtime that serves it (a restart runs there).
    runtime: tokio::runtime::Handle,
    /// The one token every board uses (the boards act as admin: NodeRestriction lets a node
    /// token touch only its own Node).
    token: String,
}

impl EmbeddedFaults {
    /// Hooks for `server`, served by `runtime`, whose boards all use `token`.
    pub fn new(server: Arc<TestApiServer>, runtime: tokio::runtime::Handle, token: String) -> Self {
        EmbeddedFaults {
            server,
            runtime,
            token,
        }
    }
}

impl ServerFaults for EmbeddedFaults {
    fn describe(&self) -> String {
        format!("embedded API server {}", self.server.url())
    }

    fn set_stalled(&self, stalled: bool) -> Result<(), String> {
        self.server.etcd_stall(stalled);
        Ok(())
    }

    fn restart(&self) -> Result<(), String> {
        let server = self.server.clone();
        self.runtime.spawn(async move {
            if let Err(e) = server.restart(true).await {
                tracing::error!("the embedded API server did not restart: {e}");
            }
        });
        Ok(())
    }

    fn revoke_token(&self, _node: &str) -> Result<(), String> {
        // Every board shares the token: all of them get 401 from now on.
        self.server.revoke_token(&self.token);
        Ok(())
    }

    fn delete_node(&self, node: &str) -> Result<(), String> {
        if self.server.delete_node(node) {
            Ok(())
        } else {
            Err(format!("there is no Node {node} (yet)"))
        }
    }
}

/// Runs the demo until SIGINT/SIGTERM.
pub fn execute(args: &DemoArgs, env: &LookupEnv) -> Result<(), Failure> {
    let port = match args.addr {
        Some(addr) if addr.ip() == IpAddr::V4(Ipv4Addr::LOCALHOST) => addr.port(),
        Some(addr) => return Err(off_loopback(addr)),
        None => 0,
    };
    let started = Instant::now();
    let names = crate::fleet_args::Shard::WHOLE
        .names(DEMO_NODE_NAME, args.boards)
        .map_err(Failure::Usage)?;
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let (up_tx, up_rx) = std::sync::mpsc::channel::<Result<Option<Embedded>, String>>();
    let (quit_tx, quit_rx) = oneshot::channel::<()>();
    let embedded = args.kubeconfig.is_none();
    let view_names = names.clone();
    let demo_thread = std::thread::Builder::new()
        .name("demo".into())
        .spawn(move || {
            demo_thread(
                embedded.then_some(port),
                view_names,
                started,
                up_tx,
                stop_tx,
                quit_rx,
            )
        })
        .map_err(Failure::Output)?;
    let up = up_rx
        .recv()
        .map_err(|_| Failure::Usage("the demo thread stopped before it was up".into()))
        .and_then(|r| r.map_err(Failure::Usage));
    let result = up.and_then(|server| match (server, &args.kubeconfig) {
        (Some(server), _) => run_embedded(args, &names, server, stop_rx, env),
        (None, Some(path)) => {
            println!("{}", instructions(None, path, &names, false));
            run_boards(path, args, stop_rx, env, None)
        }
        (None, None) => Err(Failure::Usage("no API server and no --kubeconfig".into())),
    });
    let _ = quit_tx.send(());
    if demo_thread.join().is_err() {
        warn!("the demo thread panicked");
    }
    result
}

fn off_loopback(addr: SocketAddr) -> Failure {
    let port = addr.port();
    Failure::Usage(format!(
        "--addr {addr}: the embedded API server listens on 127.0.0.1 only (try 127.0.0.1:{port})"
    ))
}

/// Writes the kubeconfig, runs the boards against the embedded server, removes the files.
fn run_embedded(
    args: &DemoArgs,
    names: &[String],
    server: Embedded,
    stop: oneshot::Receiver<()>,
    env: &LookupEnv,
) -> Result<(), Failure> {
    let dir = demo_dir();
    let path = write_kubeconfig(&dir, &server.kubeconfig)?;
    info!(server = %server.url, kubeconfig = %path.display(), "embedded API server up");
    println!(
        "{}",
        instructions(Some(&server.url), &path, names, args.keep)
    );
    let result = run_boards(&path, args, stop, env, Some(Box::new(server.faults)));
    if args.keep {
        info!(kubeconfig = %path.display(), "kept (--keep)");
    } else if let Err(e) = std::fs::remove_dir_all(&dir) {
        warn!(dir = %dir.display(), "cannot remove the demo's files: {e}");
    } else {
        info!(dir = %dir.display(), "removed the demo's files");
    }
    result
}

/// The boards, as `picokubelet fleet --kubeconfig PATH --count N --node-name demo
/// --start-spread 0s [--ui]` runs them, until `stop`. `faults`: the embedded server's hooks for
/// the terminal view's server keys.
fn run_boards(
    kubeconfig: &Path,
    args: &DemoArgs,
    stop: oneshot::Receiver<()>,
    env: &LookupEnv,
    faults: Option<Box<dyn ServerFaults>>,
) -> Result<(), Failure> {
    let fleet = fleet_args(kubeconfig, args.boards, args.ui)?;
    crate::app::boards_until(
        &fleet.cluster,
        &fleet.node,
        &fleet.agent,
        Some(&fleet),
        env,
        async move {
            let _ = stop.await;
        },
        faults,
    )
}

/// `fleet`'s flags for the demo, parsed by `fleet`'s own parser (so every other flag has
/// `fleet`'s default).
fn fleet_args(kubeconfig: &Path, boards: u32, ui: bool) -> Result<FleetArgs, Failure> {
    let mut argv: Vec<OsString> = vec![
        "picokubelet".into(),
        "fleet".into(),
        "--kubeconfig".into(),
        kubeconfig.as_os_str().to_owned(),
        "--count".into(),
        boards.to_string().into(),
        "--node-name".into(),
        DEMO_NODE_NAME.into(),
        "--start-spread".into(),
        "0s".into(),
    ];
    if ui {
        argv.push("--ui".into());
    }
    match Cli::try_parse_from(argv) {
        Ok(Cli {
            command: Command::Fleet(fleet),
        }) => Ok(fleet),
        Ok(_) => Err(Failure::Usage(
            "the demo's fleet flags parsed as another command".into(),
        )),
        Err(e) => Err(Failure::Usage(format!("the demo's fleet flags: {e}"))),
    }
}

/// The demo thread: signal watch first, then the embedded server (when `port` is given) and
/// the view of the boards, until `quit`.
fn demo_thread(
    port: Option<u16>,
    names: Vec<String>,
    started: Instant,
    up: std::sync::mpsc::Sender<Result<Option<Embedded>, String>>,
    stop: oneshot::Sender<()>,
    quit: oneshot::Receiver<()>,
) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = up.send(Err(format!("cannot start the demo's runtime: {e}")));
            return;
        }
    };
    rt.block_on(async move {
        // Before anything is written: from here on a signal stops the demo cleanly.
        let signal = crate::fleet::shutdown_signal();
        tokio::pin!(signal);
        // Registers the handlers (the future does so on its first poll).
        if poll_once(signal.as_mut()).await.is_some() {
            let _ = up.send(Err("stopped by a signal while starting".into()));
            return;
        }
        let server = match port {
            Some(port) => {
                let opts = ServerOptions {
                    port,
                    log_limit: Some(SERVER_LOG_LIMIT),
                    ..ServerOptions::default()
                };
                match TestApiServer::start(opts).await {
                    Ok(server) => Some(Arc::new(server)),
                    Err(e) => {
                        let _ = up.send(Err(format!(
                            "the embedded API server cannot listen on 127.0.0.1:{port}: {e}"
                        )));
                        return;
                    }
                }
            }
            None => None,
        };
        let handed = server.as_ref().map(|s| Embedded {
            url: s.url(),
            kubeconfig: s.kubeconfig(&s.admin_token()),
            faults: EmbeddedFaults::new(
                s.clone(),
                tokio::runtime::Handle::current(),
                s.admin_token(),
            ),
        });
        if up.send(Ok(handed)).is_err() {
            return;
        }
        let view = async {
            match &server {
                Some(server) => show_boards(server, &names, started).await,
                None => std::future::pending().await,
            }
        };
        let mut quit = quit;
        tokio::select! {
            () = &mut signal => {
                info!("stopping (signal)");
                let _ = stop.send(());
                // The boards stop; the server serves them until the caller is done.
                let _ = quit.await;
            }
            // The boards ended on their own (an error): nothing to wait for.
            _ = &mut quit => {}
            () = view => {}
        }
    });
}

/// Polls `f` once, so a future that registers something on its first poll has done so.
async fn poll_once<F: std::future::Future + Unpin>(mut f: F) -> Option<F::Output> {
    std::future::poll_fn(|cx| {
        std::task::Poll::Ready(match std::pin::Pin::new(&mut f).poll(cx) {
            std::task::Poll::Ready(v) => Some(v),
            std::task::Poll::Pending => None,
        })
    })
    .await
}

/// The plain-log view of the boards: one line when a board's Node first shows Ready (with the
/// time since the demo started), one when all are Ready, and one per later change of a Node's
/// Ready condition (or its deletion). The seam for a richer view: it gets the server handle.
pub async fn show_boards(server: &TestApiServer, names: &[String], started: Instant) {
    let mut last: Vec<Option<String>> = vec![None; names.len()];
    let mut all_ready = false;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tick.tick().await;
        for (name, last) in names.iter().zip(last.iter_mut()) {
            let now = ready_status(server, name);
            if now == *last {
                continue;
            }
            let secs = started.elapsed().as_secs_f64();
            match (&now, last.is_some()) {
                (Some(status), _) => {
                    info!(node = %name, ready = %status, "Ready is {status} ({secs:.1} s after start)")
                }
                (None, true) => info!(node = %name, "the Node is gone ({secs:.1} s after start)"),
                (None, false) => {}
            }
            *last = now;
        }
        if !all_ready && last.iter().all(|s| s.as_deref() == Some("True")) {
            all_ready = true;
            info!(
                boards = names.len(),
                "all {} boards Ready {:.1} s after start",
                names.len(),
                started.elapsed().as_secs_f64()
            );
        }
    }
}

/// The Node's Ready status (`True`, `False`, `Unknown`), or `None` while there is no Node or
/// no Ready condition.
fn ready_status(server: &TestApiServer, name: &str) -> Option<String> {
    let node = server.node(name)?;
    node["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")?["status"]
        .as_str()
        .map(str::to_owned)
}

/// `$XDG_RUNTIME_DIR/picokubelet-demo-<pid>` (private to the user), else the same under the
/// temporary directory.
fn demo_dir() -> PathBuf {
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|d| d.is_dir())
        .unwrap_or_else(std::env::temp_dir);
    base.join(format!("picokubelet-demo-{}", std::process::id()))
}

/// Creates `dir` (0700) and `dir/kubeconfig` (0600: it holds the admin token).
fn write_kubeconfig(dir: &Path, text: &str) -> Result<PathBuf, Failure> {
    use std::io::Write as _;
    let cannot = |what: &Path, e: std::io::Error| {
        Failure::Usage(format!("cannot write {}: {e}", what.display()))
    };
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => Failure::Usage(format!(
            "{} exists (left by an earlier `demo --keep`?): remove it and start again",
            dir.display()
        )),
        _ => cannot(dir, e),
    })?;
    let path = dir.join("kubeconfig");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path).map_err(|e| cannot(&path, e))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| cannot(&path, e))?;
    Ok(path)
}

/// What to type next.
fn instructions(server: Option<&str>, kubeconfig: &Path, names: &[String], keep: bool) -> String {
    let first = names.first().map_or("demo-1", String::as_str);
    let last = names.last().map_or("demo-1", String::as_str);
    let kc = shell_quote(&kubeconfig.display().to_string());
    let mut out = String::new();
    let _ = match server {
        Some(url) => writeln!(
            out,
            "\npicokubelet demo: an API server on {url} (embedded; its CA was generated at start) \
             and {} virtual boards ({first} … {last}).",
            names.len()
        ),
        None => writeln!(
            out,
            "\npicokubelet demo: {} virtual boards ({first} … {last}) joining the cluster of {kc}.",
            names.len()
        ),
    };
    let _ = writeln!(out, "In another terminal:\n\n  export KUBECONFIG={kc}");
    for cmd in [
        "kubectl get nodes -owide".to_string(),
        format!("kubectl describe node {first}"),
        "kubectl get leases -n kube-node-lease".into(),
        "kubectl get events".into(),
        format!("kubectl cordon {first}; kubectl uncordon {first}"),
        format!("kubectl label node {first} demo=yes; kubectl annotate node {first} note=hi"),
        format!("kubectl delete node {last}"),
    ] {
        let _ = writeln!(out, "  {cmd}");
    }
    let _ = match (server, keep) {
        (Some(_), false) => writeln!(
            out,
            "\nCtrl-C stops the boards and the server and removes {kc} (--keep keeps it)."
        ),
        (Some(_), true) => writeln!(out, "\nCtrl-C stops the boards and the server; {kc} stays."),
        (None, _) => writeln!(
            out,
            "\nCtrl-C stops the boards (their Nodes stay in the cluster: kubectl delete node …)."
        ),
    };
    out
}

/// `s` as one word for a POSIX shell.
fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:=@%".contains(c))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_quoted_for_the_shell_only_when_needed() {
        assert_eq!(
            shell_quote("/run/user/1000/x/kubeconfig"),
            "/run/user/1000/x/kubeconfig"
        );
        assert_eq!(shell_quote("/tmp/a b"), "'/tmp/a b'");
        assert_eq!(shell_quote("/tmp/it's"), r"'/tmp/it'\''s'");
    }

    #[test]
    fn the_boards_are_fleet_boards_named_demo_n_starting_at_once() {
        let fleet = fleet_args(Path::new("/x/kubeconfig"), 3, false).unwrap();
        assert_eq!(fleet.count, 3);
        assert_eq!(fleet.node.node_name.as_deref(), Some("demo"));
        assert_eq!(fleet.start_spread, Duration::ZERO);
        assert_eq!(
            fleet.cluster.kubeconfig.as_deref(),
            Some(Path::new("/x/kubeconfig"))
        );
    }

    #[test]
    fn demo_ui_runs_the_boards_with_the_terminal_view() {
        let fleet = fleet_args(Path::new("/x/kubeconfig"), 3, true).unwrap();
        assert!(fleet.agent.ui);
        assert!(
            !fleet_args(Path::new("/x/kubeconfig"), 3, false)
                .unwrap()
                .agent
                .ui
        );
    }

    #[test]
    fn the_server_keys_act_on_the_embedded_server_and_say_what_failed() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let server = Arc::new(
            rt.block_on(TestApiServer::start(ServerOptions::default()))
                .unwrap(),
        );
        let faults = EmbeddedFaults::new(server.clone(), rt.handle().clone(), server.admin_token());
        assert_eq!(
            faults.describe(),
            format!("embedded API server {}", server.url())
        );
        let missing = faults.delete_node("demo-9").unwrap_err();
        assert!(missing.contains("demo-9"), "{missing}");
        assert!(faults.set_stalled(true).is_ok());
        assert!(faults.set_stalled(false).is_ok());
    }

    #[test]
    fn the_kubeconfig_is_private() {
        let base = std::env::temp_dir().join(format!("pk-demo-test-{}", std::process::id()));
        let dir = base.join("d");
        std::fs::create_dir_all(&base).unwrap();
        let path = write_kubeconfig(&dir, "apiVersion: v1\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(&dir), 0o700);
        }
        assert!(write_kubeconfig(&dir, "x").is_err(), "never overwrites");
        std::fs::remove_dir_all(&base).unwrap();
    }
}
