//! Fleet benchmark: the release `picokubelet fleet --count N` against the Kubernetes API test
//! server (in this process, on a multi-thread runtime), measured over a steady window.
//!
//!     cargo bench -p picokubelet --bench fleet -- --boards 2000 --seconds 120
//!
//! Flags: `--boards N` (2000), `--seconds S` steady window (120), `--warmup S` after the last
//! board is Ready (10), `--spread S` start spread (40), `--interval S` lease renewal (10),
//! `--threads N` agent worker threads (the agent's default), `--callgrind` (the fleet runs under
//! valgrind's callgrind, instrumented only in the steady window: instructions per renewal, which
//! a loaded machine does not move; the CPU and lateness figures of such a run mean nothing).
//! `FLEET_BENCH_BINARY=<path>` runs another build's `picokubelet` as the fleet (before/after).
//!
//! Another server: `--kubeconfig FILE` starts no server; the fleet runs against the cluster in
//! FILE (see `fleet/external.rs`: `--server-pid PID`, `--node-name NAME`, `--fleet-arg ARG`,
//! `--skip-check`), e.g. a second test server process or a real kube-apiserver.
//!
//! Identity: every board uses the test server's admin token (`system:masters`). A node token
//! acts only for its own Node and Lease (NodeRestriction), and a fleet shares one kubeconfig.
//!
//! Linux only: CPU and RSS come from /proc.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use picokubelet::open_files;
use picokubelet_testkit::{RequestRecord, ServerOptions, TestApiServer};

#[path = "fleet/external.rs"]
mod external;

const LEASE_PREFIX: &str = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/";
const BOUNDS: [&str; 12] = [
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf",
];

struct Options {
    boards: u32,
    seconds: u64,
    warmup: u64,
    spread: u64,
    interval: u64,
    threads: Option<u32>,
    /// Run the fleet under callgrind and count its instructions in the steady window.
    callgrind: bool,
    /// The cluster to run against instead of the embedded test server.
    kubeconfig: Option<PathBuf>,
    /// That cluster's API server, when it is a local process (its CPU is then measured).
    server_pid: Option<u32>,
    /// The fleet's node name base against an external server.
    node_name: String,
    /// Extra `fleet` flags, passed through as given (external server only).
    fleet_args: Vec<String>,
    /// Skip the `picokubelet check` preflight against the external server.
    skip_check: bool,
}

/// A bad command line: says so and stops (exit status 2), no panic.
fn usage_error(what: &str) -> ! {
    eprintln!("fleet bench: {what}");
    std::process::exit(2);
}

fn options() -> Options {
    let mut o = Options {
        boards: 2000,
        seconds: 120,
        warmup: 10,
        spread: 40,
        interval: 10,
        threads: None,
        callgrind: false,
        kubeconfig: None,
        server_pid: None,
        node_name: "bench".to_owned(),
        fleet_args: Vec::new(),
        skip_check: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut text = |name: &str| -> String {
            args.next()
                .unwrap_or_else(|| usage_error(&format!("{name} wants a value")))
        };
        let mut value = |name: &str| -> u64 {
            text(name)
                .parse()
                .unwrap_or_else(|_| usage_error(&format!("{name} wants a number")))
        };
        match a.as_str() {
            "--boards" => o.boards = value("--boards") as u32,
            "--seconds" => o.seconds = value("--seconds"),
            "--warmup" => o.warmup = value("--warmup"),
            "--spread" => o.spread = value("--spread"),
            "--interval" => o.interval = value("--interval"),
            "--threads" => o.threads = Some(value("--threads") as u32),
            "--callgrind" => o.callgrind = true,
            "--kubeconfig" => o.kubeconfig = Some(PathBuf::from(text("--kubeconfig"))),
            "--server-pid" => o.server_pid = Some(value("--server-pid") as u32),
            "--node-name" => o.node_name = text("--node-name"),
            "--fleet-arg" => o.fleet_args.push(text("--fleet-arg")),
            "--skip-check" => o.skip_check = true,
            // cargo bench passes --bench to every bench target.
            "--bench" => {}
            other => usage_error(&format!("unknown argument {other:?}")),
        }
    }
    if o.kubeconfig.is_none() {
        let external_only = [
            ("--server-pid", o.server_pid.is_some()),
            ("--fleet-arg", !o.fleet_args.is_empty()),
            ("--skip-check", o.skip_check),
            ("--node-name", o.node_name != "bench"),
        ];
        for (flag, given) in external_only {
            if given {
                usage_error(&format!(
                    "{flag} is for a run against another server: give --kubeconfig FILE too"
                ));
            }
        }
    }
    if o.kubeconfig.is_some() && o.callgrind {
        usage_error("--callgrind runs only against the embedded test server (drop --kubeconfig)");
    }
    o
}

/// utime + stime of `/proc/<pid>/stat`, in clock ticks.
fn cpu_ticks(stat: &Path) -> u64 {
    let text = std::fs::read_to_string(stat).unwrap();
    let rest = &text[text.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the command: state is field 3, utime 14, stime 15.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

fn ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

/// Context switches of all a process's threads so far: voluntary (a thread blocked: in the
/// fleet, a worker with nothing to do sleeping in epoll_wait until its next timer or socket) and
/// involuntary. Per renewal they still move with the load (how many events a wake-up finds
/// waiting): 2.2–3.0 voluntary for the same build at 1,000 boards.
fn context_switches(pid: u32) -> (u64, u64) {
    let mut total = (0, 0);
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return total;
    };
    for task in tasks.flatten() {
        let text = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        for line in text.lines() {
            let value = |l: &str| l.split_whitespace().nth(1)?.parse::<u64>().ok();
            if line.starts_with("voluntary_ctxt_switches:") {
                total.0 += value(line).unwrap_or(0);
            } else if line.starts_with("nonvoluntary_ctxt_switches:") {
                total.1 += value(line).unwrap_or(0);
            }
        }
    }
    total
}

/// VmRSS of a process, KiB.
fn rss_kib(pid: u32) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = text.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The fleet binary: this build's, or `FLEET_BENCH_BINARY` (another build's, for a comparison
/// on the same machine at the same time of day).
fn fleet_binary() -> String {
    std::env::var("FLEET_BENCH_BINARY")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_picokubelet").to_owned())
}

fn spawn_fleet(kubeconfig: &Path, log: &Path, args: &[String], wrap: &[String]) -> Child {
    let binary = fleet_binary();
    let mut command = match wrap.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(&binary);
            c
        }
        None => Command::new(&binary),
    };
    command
        .arg("fleet")
        .args(args)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .env("RUST_LOG", "info")
        .env_remove("KUBECONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(log).unwrap()))
        .spawn()
        .unwrap()
}

fn terminate(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let exit = child.wait().unwrap();
    assert!(exit.success(), "the fleet exited with {exit:?}");
}

fn ready(server: &TestApiServer, name: &str) -> bool {
    server.node(name).is_some_and(|n| {
        n["status"]["conditions"].as_array().is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
    })
}

async fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn callgrind_control(args: &[&str]) {
    let status = Command::new("callgrind_control")
        .args(args)
        .stdout(Stdio::null())
        .status()
        .expect("callgrind_control (valgrind) must be installed for --callgrind");
    assert!(status.success(), "callgrind_control {args:?}: {status}");
}

/// The instructions (`Ir`) of every callgrind dump in `dir` (the `--dump` of the window; the
/// instrumentation was off before it, so nothing else counts).
fn callgrind_total(dir: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("callgrind.out") {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        if let Some(n) = text
            .lines()
            .find_map(|l| {
                l.strip_prefix("summary: ")
                    .or_else(|| l.strip_prefix("totals: "))
            })
            .and_then(|n| n.trim().parse::<u64>().ok())
        {
            total += n;
        }
    }
    total
}

/// `GET /metrics` (plain HTTP/1.1, `Connection: close`).
async fn scrape(addr: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8(out).unwrap();
    text.split_once("\r\n\r\n").unwrap().1.to_owned()
}

/// The process-wide renewals total and the cumulative lateness buckets.
fn renewals_and_buckets(text: &str) -> (f64, [f64; 12]) {
    let mut renewals = 0.0;
    let mut buckets = [0.0; 12];
    for line in text.lines() {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let value: f64 = value.parse().unwrap_or(0.0);
        if series == "picokubelet_lease_renewals_total" {
            renewals = value;
        } else if let Some(le) = series
            .strip_prefix("picokubelet_lease_renewal_lateness_seconds_bucket{le=\"")
            .and_then(|s| s.strip_suffix("\"}"))
        {
            if let Some(i) = BOUNDS.iter().position(|b| *b == le) {
                buckets[i] = value;
            }
        }
    }
    (renewals, buckets)
}

/// The upper bound of the bucket holding quantile `q` of the (cumulative) counts.
fn quantile(cumulative: &[f64; 12], q: f64) -> &'static str {
    let total = cumulative[11];
    if total <= 0.0 {
        return "n/a";
    }
    let rank = (q * total).ceil().max(1.0);
    let i = cumulative.iter().position(|c| *c >= rank).unwrap_or(11);
    BOUNDS[i]
}

fn highest(cumulative: &[f64; 12]) -> &'static str {
    let mut previous = 0.0;
    let mut top = "n/a";
    for (c, b) in cumulative.iter().zip(BOUNDS) {
        if *c > previous {
            top = b;
        }
        previous = *c;
    }
    top
}

/// Last accepted renewal per node in `records`, and the gaps longer than `allowed` between
/// consecutive ones (`last` carries the previous window's last renewals in).
fn late_at_server(
    records: &[RequestRecord],
    last: &mut HashMap<String, SystemTime>,
    allowed: Duration,
) -> (usize, usize) {
    let mut renewals = 0;
    let mut late = 0;
    for r in records {
        let Some(node) = r.target.strip_prefix(LEASE_PREFIX) else {
            continue;
        };
        if r.method != "PATCH" || r.status != Some(200) {
            continue;
        }
        renewals += 1;
        if let Some(prev) = last.insert(node.to_owned(), r.at) {
            if r.at.duration_since(prev).unwrap_or_default() > allowed {
                late += 1;
            }
        }
    }
    (renewals, late)
}

fn main() {
    let o = options();
    check_open_files(&o);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    match o.kubeconfig.clone() {
        Some(kubeconfig) => rt.block_on(external::bench(o, kubeconfig)),
        None => rt.block_on(bench(o)),
    }
}

/// The open-file limit is per process: the server's sockets are in this process, the boards' in
/// the fleet child, which inherits this process's limit (and checks it again itself). The fleet
/// needs a socket per board plus its margin, and so does the test server (one descriptor per
/// accepted socket: it makes a reset abortive through the socket it serves, so a hard limit of
/// 20,000 no longer stops it at 9,994 connections as the second handle it kept did).
fn check_open_files(o: &Options) {
    let boards = u64::from(o.boards);
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let threads = o.threads.map_or(cpus as u64, u64::from).min(boards.max(1));
    let max_handshakes = picokubelet::pacer::default_max_handshakes(cpus) as u64;
    // The server: a descriptor per accepted socket (the solo board's is gone before the fleet
    // starts), its runtime's worker threads, the bench's scrapes.
    let server = open_files::Budget {
        boards,
        overhead: (cpus as u64 + 1) * 2 + open_files::BASE_MARGIN,
    };
    let fleet = open_files::Budget::fleet(boards, threads, max_handshakes);
    let limits = open_files::limits();
    // Against another server this process holds no board's socket.
    let server = o.kubeconfig.is_none().then_some(server);
    for (who, budget) in [
        ("the test server (this process)", server),
        ("the fleet (the child process)", Some(fleet)),
    ] {
        let Some(budget) = budget else {
            continue;
        };
        if let Err(e) = open_files::check(&format!("{who}, for {boards} boards,"), budget, limits) {
            eprintln!("{e}");
            std::process::exit(2);
        }
    }
}

async fn bench(o: Options) {
    let server = TestApiServer::start(ServerOptions::default())
        .await
        .unwrap();
    println!("server: the embedded test API server (this process)");
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, server.kubeconfig(&server.admin_token())).unwrap();
    let tck = ticks_per_second();
    let interval = format!("{}s", o.interval);
    let limit = Duration::from_secs(o.spread + 300);

    // One board: time to Ready, and the RSS baseline.
    let solo_log = dir.path().join("solo.log");
    let spawned = Instant::now();
    let mut solo = spawn_fleet(
        &kubeconfig,
        &solo_log,
        &[
            "--count",
            "1",
            "--node-name",
            "solo",
            "--start-spread",
            "0s",
            "--lease-renew-interval",
            &interval,
        ]
        .map(String::from),
        &[],
    );
    wait_until("the solo board Ready", limit, || ready(&server, "solo-1")).await;
    let to_ready = spawned.elapsed();
    let before = server.requests().len();
    wait_until("two solo renewals", limit, || {
        server.requests()[before..]
            .iter()
            .filter(|r| r.method == "PATCH" && r.target.starts_with(LEASE_PREFIX))
            .count()
            >= 2
    })
    .await;
    let solo_rss = rss_kib(solo.id());
    terminate(&mut solo);

    // N boards.
    let log = dir.path().join("fleet.log");
    let count = o.boards.to_string();
    let spread = format!("{}s", o.spread);
    let mut args: Vec<String> = [
        "--count",
        &count,
        "--node-name",
        "bench",
        "--start-spread",
        &spread,
        "--lease-renew-interval",
        &interval,
        "--metrics-addr",
        "127.0.0.1:0",
    ]
    .map(String::from)
    .to_vec();
    if let Some(t) = o.threads {
        args.extend(["--threads".to_owned(), t.to_string()]);
    }
    // Kept after the run, for `callgrind_annotate`.
    let callgrind_dir = std::env::temp_dir().join(format!("fleet-bench-{}", std::process::id()));
    if o.callgrind {
        std::fs::create_dir_all(&callgrind_dir).unwrap();
    }
    let callgrind_out = callgrind_dir.join("callgrind.out");
    let wrap: Vec<String> = if o.callgrind {
        vec![
            "valgrind".into(),
            "--tool=callgrind".into(),
            "--instr-atstart=no".into(),
            format!("--callgrind-out-file={}", callgrind_out.display()),
        ]
    } else {
        Vec::new()
    };
    let mut fleet = spawn_fleet(&kubeconfig, &log, &args, &wrap);
    let pid = fleet.id();
    let stat = format!("/proc/{pid}/stat");
    let mut addr = String::new();
    wait_until("the metrics address", limit, || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        match text.split_once("metrics listening on ") {
            Some((_, rest)) => {
                addr = rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                true
            }
            None => false,
        }
    })
    .await;
    let width = count.len();
    let names: Vec<String> = (1..=o.boards)
        .map(|i| format!("bench-{i:0width$}"))
        .collect();
    let mut pending = names.clone();
    let start = Instant::now();
    while !pending.is_empty() {
        if start.elapsed() >= limit {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let warnings: Vec<&str> = text.lines().filter(|l| l.contains("WARN")).collect();
            let tail = warnings.len().saturating_sub(20);
            eprintln!("fleet warnings (last 20 of {}):", warnings.len());
            for line in &warnings[tail..] {
                eprintln!("  {line}");
            }
            for name in pending.iter().take(5) {
                eprintln!(
                    "{name}: {:?}",
                    server.node(name).map(|n| n["status"]["conditions"].clone())
                );
            }
            panic!(
                "{} boards never Ready: {:?}…",
                pending.len(),
                &pending[..pending.len().min(5)]
            );
        }
        // Each look copies a Node out of the server's store under its lock: at thousands of
        // boards, looking at boards that have not started yet loads the server being measured
        // (and did collapse it at 6,000). Board i starts at i * spread / N, in name order.
        let due = start.elapsed().as_secs_f64() / o.spread.max(1) as f64 * f64::from(o.boards);
        let started = names.len().min(due as usize + 1);
        let first_unstarted = names.get(started).cloned();
        let not_started = |n: &String| first_unstarted.as_ref().is_some_and(|f| n >= f);
        pending.retain(|n| not_started(n) || !ready(&server, n));
        tokio::time::sleep(Duration::from_millis(1_000)).await;
    }
    println!(
        "all {} boards Ready {:?} after the spawn",
        o.boards,
        start.elapsed()
    );
    tokio::time::sleep(Duration::from_secs(o.warmup)).await;

    // The steady window. Scrapes fall outside the CPU samples.
    let allowed = Duration::from_secs(o.interval + 1);
    let mut last = HashMap::new();
    late_at_server(&server.take_requests(), &mut last, allowed);
    let (renewals_0, buckets_0) = renewals_and_buckets(&scrape(&addr).await);
    if o.callgrind {
        callgrind_control(&["--instr=on", &pid.to_string()]);
    }
    let switches_0 = context_switches(pid);
    let agent_cpu_0 = cpu_ticks(Path::new(&stat));
    let server_cpu_0 = cpu_ticks(Path::new("/proc/self/stat"));
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(o.seconds)).await;
    let agent_cpu_1 = cpu_ticks(Path::new(&stat));
    let switches_1 = context_switches(pid);
    let server_cpu_1 = cpu_ticks(Path::new("/proc/self/stat"));
    let window = t0.elapsed().as_secs_f64();
    let rss = rss_kib(pid);
    let instructions = o.callgrind.then(|| {
        callgrind_control(&["--dump", &pid.to_string()]);
        println!(
            "callgrind profile of the window: {}",
            callgrind_dir.display()
        );
        callgrind_total(&callgrind_dir)
    });
    let (renewals_1, buckets_1) = renewals_and_buckets(&scrape(&addr).await);
    let (server_renewals, server_late) =
        late_at_server(&server.take_requests(), &mut last, allowed);
    terminate(&mut fleet);

    let mut lateness = [0.0; 12];
    for (d, (a, b)) in lateness.iter_mut().zip(buckets_1.iter().zip(buckets_0)) {
        *d = a - b;
    }
    let renewals = renewals_1 - renewals_0;
    let agent_cpu_s = (agent_cpu_1 - agent_cpu_0) as f64 / tck as f64;
    let server_cpu_s = (server_cpu_1 - server_cpu_0) as f64 / tck as f64;
    let rss_per_board = rss.saturating_sub(solo_rss) as f64 / f64::from(o.boards);
    println!("boards                         {}", o.boards);
    println!("steady window                  {window:.1} s");
    println!(
        "renewals (agent /metrics)      {renewals} ({:.1}/s)",
        renewals / window
    );
    println!(
        "renewals (server log)          {server_renewals} ({:.1}/s)",
        server_renewals as f64 / window
    );
    println!(
        "renewal lateness (bucket bound) p50 <= {} s, p99 <= {} s, max <= {} s",
        quantile(&lateness, 0.50),
        quantile(&lateness, 0.99),
        highest(&lateness)
    );
    println!(
        "late at the server (gap > {} s) {server_late}",
        allowed.as_secs()
    );
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
    if let Some(ir) = instructions {
        println!(
            "agent instructions (callgrind)  {ir} ({:.0} per renewal)",
            ir as f64 / renewals.max(1.0)
        );
    }
    println!("spawn to first Node Ready      {to_ready:?} (1 board, polled every 10 ms)");
    println!(
        "server CPU (this process)      {server_cpu_s:.2} s ({:.1} % of a core)",
        server_cpu_s * 100.0 / window
    );
}
