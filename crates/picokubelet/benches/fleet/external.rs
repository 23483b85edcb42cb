//! The fleet bench against a server it did not start (`--kubeconfig FILE`): a second test
//! server process, a kind/k3s cluster, a real kube-apiserver.
//!
//!     cargo bench -p picokubelet --bench fleet -- --kubeconfig FILE --boards N --seconds S
//!         [--server-pid PID] [--node-name NAME] [--fleet-arg ARG]... [--skip-check]
//!
//! The bench cannot read that server's store, so everything it reports comes from the agent
//! side: the fleet's own `/metrics` (Ready as the boards last evaluated it, renewals, lateness,
//! failures, handshakes) and /proc for the fleet's CPU and RSS. The server's columns need its
//! CPU: `--server-pid PID` when the server is a local process; else they say
//! "n/a (external server)".
//!
//! Before the fleet, `picokubelet check` (changes nothing) asks the server what `run` needs,
//! so an unreachable server or a bad kubeconfig stops the bench with the check's report
//! instead of a fleet retrying forever; `--skip-check` when a check fails on something the
//! fleet does not use (e.g. a kubeconfig for TLS bootstrap, passed with `--fleet-arg`).
//!
//! Every Node the bench registers carries the label [`LABEL`]; `fleet` has no path that deletes
//! its Nodes, so they stay in the cluster (NotReady once the fleet stops) until deleted with
//! the command the bench prints. Their Leases name the Node as owner, so the cluster's garbage
//! collector removes them with it.
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use super::{
    context_switches, cpu_ticks, fleet_binary, highest, quantile, renewals_and_buckets, rss_kib,
    scrape, spawn_fleet, terminate, ticks_per_second, Options,
};

/// The label every bench Node carries (`picokubelet.dev/` is a prefix NodeRestriction lets a
/// node set on itself).
const LABEL: &str = "picokubelet.dev/bench=fleet";

const READY_TRUE: &str = "picokubelet_boards_by_condition{type=\"Ready\",status=\"True\"}";

/// The value of one series in an exposition (`None`: not there).
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let (name, value) = l.rsplit_once(' ')?;
        (name == series).then(|| value.parse().ok()).flatten()
    })
}

/// What to tell the user on the way out: where the bench's Nodes are and how to delete them.
fn cleanup_hint(kubeconfig: &Path) {
    println!(
        "the fleet's Nodes stay in the cluster (NotReady from now on) until deleted:\n  \
         kubectl --kubeconfig {} delete nodes -l {LABEL}",
        kubeconfig.display()
    );
}

/// Stops the run with a sentence (exit status 1), the fleet stopped and the cleanup told.
fn give_up(fleet: Option<&mut Child>, log: &Path, kubeconfig: &Path, why: &str) -> ! {
    if let Some(fleet) = fleet {
        let _ = fleet.kill();
        let _ = fleet.wait();
    }
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR") || l.starts_with("error"))
        .collect();
    let tail = lines.len().saturating_sub(20);
    eprintln!("fleet warnings and errors (last 20 of {}):", lines.len());
    for line in &lines[tail..] {
        eprintln!("  {line}");
    }
    eprintln!("fleet bench: {why}");
    cleanup_hint(kubeconfig);
    std::process::exit(1);
}

/// The `server:` of the kubeconfig's clusters, for the report (the file's own words: this is
/// what the user wrote, not what the fleet resolved).
fn servers_named(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("server:"))
        .map(|s| s.trim().trim_matches('"').to_owned())
        .collect()
}

/// `picokubelet check` with the fleet's kubeconfig: its report on failure, exit status 2.
fn preflight(kubeconfig: &Path, node: &str) {
    let out = Command::new(fleet_binary())
        .arg("check")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["--node-name", node])
        .env_remove("KUBECONFIG")
        .output();
    match out {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            eprint!("{}", String::from_utf8_lossy(&out.stdout));
            eprint!("{}", String::from_utf8_lossy(&out.stderr));
            eprintln!(
                "fleet bench: `picokubelet check --kubeconfig {}` failed ({}): the server is \
                 unreachable or refuses what the fleet needs (its report is above). Fix that, \
                 or pass --skip-check if the failing check is one the fleet does not need.",
                kubeconfig.display(),
                out.status
            );
            std::process::exit(2);
        }
        Err(e) => {
            eprintln!("fleet bench: could not run {} check: {e}", fleet_binary());
            std::process::exit(2);
        }
    }
}

/// Scrapes the fleet until `done` holds for the exposition, or gives up: the fleet exited, or
/// `limit` passed. Polls once a second (a scrape walks every board).
async fn wait_for_metrics(
    what: &str,
    fleet: &mut Child,
    addr: &str,
    log: &Path,
    kubeconfig: &Path,
    limit: Duration,
    mut done: impl FnMut(&str) -> bool,
) -> String {
    let start = Instant::now();
    loop {
        if let Ok(Some(exit)) = fleet.try_wait() {
            give_up(
                None,
                log,
                kubeconfig,
                &format!("the fleet exited ({exit}) before {what}"),
            );
        }
        let text = scrape(addr).await;
        if done(&text) {
            return text;
        }
        if start.elapsed() >= limit {
            let ready = metric(&text, READY_TRUE).unwrap_or(0.0);
            let phases: Vec<String> = text
                .lines()
                .filter_map(|l| l.strip_prefix("picokubelet_boards_by_phase"))
                .map(str::to_owned)
                .collect();
            give_up(
                Some(fleet),
                log,
                kubeconfig,
                &format!(
                    "gave up waiting {limit:?} for {what}: {ready} boards Ready; phases {}",
                    phases.join(", ")
                ),
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The fleet's metrics address from its log (`--metrics-addr 127.0.0.1:0`).
async fn metrics_addr(fleet: &mut Child, log: &Path, kubeconfig: &Path) -> String {
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some((_, rest)) = text.split_once("metrics listening on ") {
            return rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned();
        }
        if let Ok(Some(exit)) = fleet.try_wait() {
            give_up(
                None,
                log,
                kubeconfig,
                &format!("the fleet exited ({exit}) at its start"),
            );
        }
        if start.elapsed() > Duration::from_secs(60) {
            give_up(
                Some(fleet),
                log,
                kubeconfig,
                "the fleet never served /metrics",
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn fleet_flags(o: &Options, count: u32, name: &str, spread: u64) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "--count".into(),
        count.to_string(),
        "--node-name".into(),
        name.into(),
        "--start-spread".into(),
        format!("{spread}s"),
        "--lease-renew-interval".into(),
        format!("{}s", o.interval),
        "--metrics-addr".into(),
        "127.0.0.1:0".into(),
        "--label".into(),
        LABEL.into(),
    ];
    if let Some(t) = o.threads {
        args.extend(["--threads".to_owned(), t.to_string()]);
    }
    args.extend(o.fleet_args.iter().cloned());
    args
}

pub async fn bench(o: Options, kubeconfig: PathBuf) {
    let text = match std::fs::read_to_string(&kubeconfig) {
        Ok(t) => t,
        Err(e) => {
            eprintln!(
                "fleet bench: cannot read the kubeconfig {}: {e}; give --kubeconfig a \
                 readable kubeconfig file",
                kubeconfig.display()
            );
            std::process::exit(2);
        }
    };
    let server_stat = o.server_pid.map(|pid| {
        let stat = PathBuf::from(format!("/proc/{pid}/stat"));
        if !stat.exists() {
            eprintln!(
                "fleet bench: --server-pid {pid}: no such process here; give the pid of the \
                 local API server process, or leave the flag out"
            );
            std::process::exit(2);
        }
        stat
    });
    let servers = servers_named(&text);
    println!(
        "server: external, from {} (server: {}){}",
        kubeconfig.display(),
        if servers.is_empty() {
            "?".to_owned()
        } else {
            servers.join(", ")
        },
        o.server_pid
            .map_or(String::new(), |p| format!(", local process {p}"))
    );
    let solo_name = format!("{}-solo", o.node_name);
    if !o.skip_check {
        preflight(&kubeconfig, &format!("{solo_name}-1"));
    }
    let dir = tempfile::tempdir().unwrap();
    let tck = ticks_per_second();
    let limit = Duration::from_secs(o.spread + 300);

    // One board: time to Ready (as the board sees it, by a scrape a second) and the RSS
    // baseline.
    let solo_log = dir.path().join("solo.log");
    let spawned = Instant::now();
    let mut solo = spawn_fleet(
        &kubeconfig,
        &solo_log,
        &fleet_flags(&o, 1, &solo_name, 0),
        &[],
    );
    let solo_addr = metrics_addr(&mut solo, &solo_log, &kubeconfig).await;
    wait_for_metrics(
        "the solo board Ready",
        &mut solo,
        &solo_addr,
        &solo_log,
        &kubeconfig,
        limit,
        |t| metric(t, READY_TRUE) == Some(1.0),
    )
    .await;
    let to_ready = spawned.elapsed();
    wait_for_metrics(
        "two solo renewals",
        &mut solo,
        &solo_addr,
        &solo_log,
        &kubeconfig,
        limit,
        |t| metric(t, "picokubelet_lease_renewals_total").unwrap_or(0.0) >= 2.0,
    )
    .await;
    let solo_rss = rss_kib(solo.id());
    terminate(&mut solo);

    // N boards.
    let log = dir.path().join("fleet.log");
    let mut fleet = spawn_fleet(
        &kubeconfig,
        &log,
        &fleet_flags(&o, o.boards, &o.node_name, o.spread),
        &[],
    );
    let pid = fleet.id();
    let stat = format!("/proc/{pid}/stat");
    let addr = metrics_addr(&mut fleet, &log, &kubeconfig).await;
    let start = Instant::now();
    let boards = f64::from(o.boards);
    wait_for_metrics(
        "every board Ready",
        &mut fleet,
        &addr,
        &log,
        &kubeconfig,
        limit,
        |t| metric(t, READY_TRUE) == Some(boards),
    )
    .await;
    println!(
        "all {} boards Ready (the boards' view) {:?} after the spawn",
        o.boards,
        start.elapsed()
    );
    tokio::time::sleep(Duration::from_secs(o.warmup)).await;

    // The steady window. Scrapes fall outside the CPU samples.
    let first = scrape(&addr).await;
    let (renewals_0, buckets_0) = renewals_and_buckets(&first);
    let count = |t: &str, series: &str| metric(t, series).unwrap_or(0.0);
    let failures_0 = count(&first, "picokubelet_lease_renewal_failures_total");
    let handshakes_0 = count(&first, "picokubelet_tls_handshakes_total");
    let switches_0 = context_switches(pid);
    let agent_cpu_0 = cpu_ticks(Path::new(&stat));
    let server_cpu_0 = server_stat.as_deref().map(cpu_ticks);
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(o.seconds)).await;
    let agent_cpu_1 = cpu_ticks(Path::new(&stat));
    let switches_1 = context_switches(pid);
    let server_cpu_1 = server_stat.as_deref().map(cpu_ticks);
    let window = t0.elapsed().as_secs_f64();
    let rss = rss_kib(pid);
    let last = scrape(&addr).await;
    let (renewals_1, buckets_1) = renewals_and_buckets(&last);
    let failures = count(&last, "picokubelet_lease_renewal_failures_total") - failures_0;
    let handshakes_total = count(&last, "picokubelet_tls_handshakes_total");
    let handshakes = handshakes_total - handshakes_0;
    let ready_after = count(&last, READY_TRUE);
    terminate(&mut fleet);

    let mut lateness = [0.0; 12];
    for (d, (a, b)) in lateness.iter_mut().zip(buckets_1.iter().zip(buckets_0)) {
        *d = a - b;
    }
    let renewals = renewals_1 - renewals_0;
    let agent_cpu_s = (agent_cpu_1 - agent_cpu_0) as f64 / tck as f64;
    let rss_per_board = rss.saturating_sub(solo_rss) as f64 / boards;
    let na = "n/a (external server)";
    println!("boards                         {}", o.boards);
    println!(
        "Ready after the window         {ready_after} of {} (the boards' view)",
        o.boards
    );
    println!("steady window                  {window:.1} s");
    println!(
        "renewals (agent /metrics)      {renewals} ({:.1}/s), {failures} failed",
        renewals / window
    );
    println!(
        "TLS handshakes                 {handshakes} in the window, {handshakes_total} since the start"
    );
    println!("renewals (server log)          {na}");
    println!(
        "renewal lateness (bucket bound) p50 <= {} s, p99 <= {} s, max <= {} s",
        quantile(&lateness, 0.50),
        quantile(&lateness, 0.99),
        highest(&lateness)
    );
    println!("late at the server             {na}");
    println!(
        "agent CPU                      {agent_cpu_s:.2} s ({:.0} µs per renewal, {:.1} % of a core)",
        agent_cpu_s * 1e6 / renewals.max(1.0),
        agent_cpu_s * 100.0 / window
    );
    println!(
        "agent RSS                      {rss} KiB; 1 board {solo_rss} KiB; {rss_per_board:.1} KiB per board"
    );
    let per_renewal = |n: u64| n as f64 / renewals.max(1.0);
    println!(
        "agent context switches         {:.2} voluntary + {:.2} involuntary per renewal",
        per_renewal(switches_1.0 - switches_0.0),
        per_renewal(switches_1.1 - switches_0.1)
    );
    println!(
        "spawn to first Node Ready      {to_ready:?} (1 board, its own view, scraped every 1 s)"
    );
    match (server_cpu_0, server_cpu_1, o.server_pid) {
        (Some(a), Some(b), Some(p)) => {
            let server_cpu_s = (b - a) as f64 / tck as f64;
            println!(
                "server CPU (process {p})       {server_cpu_s:.2} s ({:.1} % of a core)",
                server_cpu_s * 100.0 / window
            );
        }
        _ => println!("server CPU                     {na}"),
    }
    cleanup_hint(&kubeconfig);
}
