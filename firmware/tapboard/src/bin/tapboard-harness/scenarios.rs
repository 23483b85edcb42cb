//! The checks, in the order a board lives them: boot to Ready over Ethernet, a renumbered
//! network, failover to Wi-Fi and the cable's return, link flaps on the only uplink; then the
//! watchdog and the flash record's precedence, each on a board of its own. Each check prints
//! one line, ✓ or ✗; the figures come at the end. Waits are bounded (a bound that runs out is a
//! failure, never a synchronisation); link flaps last as long as they say (the length is the
//! scenario), and only outcomes are asserted, never durations.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::api::{Api, NodeView, ServerPipe};
use crate::board::{agent_event, heap_peak, renewal_lateness_us, Board, Log};
use crate::forward::{self, Traffic};
use crate::netns::{
    Dnsmasq, Netns, API_ADDRESS, API_NAME, ETHERNET_POOL, ETHERNET_POOL_RENUMBERED, ETHERNET_TAP,
    WIFI_TAP,
};
use crate::sniff::{self, SocketPeaks};
use crate::{have_kubectl, Args, TestServer};

/// Bound on the board reaching a state (lease, registration, a reconnect).
pub const BOUND: Duration = Duration::from_secs(90);
/// Bound on the agent's reconnect after a link comes back or a failover (request time-out,
/// backoff, TLS handshake).
const RECOVERY_BOUND: Duration = Duration::from_secs(120);
/// The agent's Lease renewal period (the firmware's default).
const RENEW_INTERVAL_SECS: u64 = 10;
/// How long the returned cable is watched for the policy (the session stays on Wi-Fi).
const CABLE_BACK_WATCH: Duration = Duration::from_secs(20);
/// Heap figures every this many seconds (the board prints them; the last one holds the peak).
const HEAP_REPORT_SECS: &str = "5";
/// The watchdog scenario's board starves its executor after this long.
const STARVE_AFTER_SECS: &str = "2";
/// Exit status of the tap board's watchdog "reset".
const WATCHDOG_EXIT: i32 = 3;

/// ✓/✗ lines and the figures.
#[derive(Default)]
pub struct Report {
    pub failed: usize,
    figures: Vec<(String, String)>,
}

impl Report {
    pub fn pass(&mut self, what: &str) {
        println!("✓ {what}");
    }

    pub fn fail(&mut self, what: &str, why: &str) {
        self.failed += 1;
        println!("✗ {what}: {why}");
    }

    /// One line for `result`: `what` with the success's detail, or the failure's reason.
    pub fn check(&mut self, what: &str, result: Result<String, String>) -> bool {
        match result {
            Ok(detail) if detail.is_empty() => self.pass(what),
            Ok(detail) => self.pass(&format!("{what} ({detail})")),
            Err(why) => {
                self.fail(what, &why);
                return false;
            }
        }
        true
    }

    pub fn figure(&mut self, name: &str, value: String) {
        self.figures.push((name.to_owned(), value));
    }

    pub fn print_figures(&self) {
        for (name, value) in &self.figures {
            println!("figure: {name}: {value}");
        }
    }
}

/// What the scenarios share: the namespace and its services, the flash image, the API.
pub struct Harness {
    netns: Netns,
    dnsmasq: Option<Dnsmasq>,
    traffic: Arc<Traffic>,
    socket_peaks: Arc<Mutex<SocketPeaks>>,
    pub api: Api,
    pkconfig: PathBuf,
    /// The API server's CA for the compile-time defaults rows (PK_CA_B64 or PK_CA_PEM_FILE).
    ca_env: (&'static str, String),
    pub port: u16,
    work: PathBuf,
    /// The kubeconfig the record was made from.
    pub board_kubeconfig: PathBuf,
    /// The test API server's query pipe (none with `--kubeconfig`).
    server_pipe: Option<Arc<Mutex<ServerPipe>>>,
}

impl Harness {
    /// The namespace, dnsmasq, the forwarder and the board's flash record.
    pub fn set_up(args: &Args, server: Option<&TestServer>) -> Result<Harness, String> {
        let (read_kubeconfig, board_kubeconfig) = match &args.kubeconfig {
            None => (
                args.work.join("admin.kubeconfig"),
                args.work.join("node.kubeconfig"),
            ),
            Some(given) => (given.clone(), board_kubeconfig(given, &args.work)?),
        };
        let text = std::fs::read_to_string(&board_kubeconfig)
            .map_err(|e| format!("reading {}: {e}", board_kubeconfig.display()))?;
        let port = loopback_port(&text)?;
        let ca_env = ca_env(&text)?;
        let api = match server {
            Some(server) if !have_kubectl() => {
                Api::test_server(server.pipe.clone(), &args.node_name)
            }
            None if !have_kubectl() => {
                return Err("--kubeconfig: the Node is read with kubectl, which is not here".into())
            }
            _ => Api::kubectl(&read_kubeconfig, &args.node_name),
        };
        println!("tapboard-harness: the Node is read with {}", api.describe());
        let netns = Netns::create(format!("pk-tap-{}", std::process::id()))?;
        let dnsmasq = Dnsmasq::start(&netns, &args.work, ETHERNET_POOL)?;
        let traffic = forward::start(&netns.path(), (API_ADDRESS, port), port)?;
        let socket_peaks = sniff::start(
            &netns.path(),
            &args.work.join("taps.pcap"),
            (API_ADDRESS, port),
        )?;
        let pkconfig = args.work.join("pkconfig.bin");
        provision(args, &board_kubeconfig, &pkconfig)?;
        Ok(Harness {
            netns,
            dnsmasq: Some(dnsmasq),
            traffic,
            socket_peaks,
            api,
            pkconfig,
            ca_env,
            port,
            work: args.work.clone(),
            board_kubeconfig,
            server_pipe: server.map(|s| s.pipe.clone()),
        })
    }

    /// One query to the test API server process (`serve`'s stdin protocol).
    pub fn ask_server(&self, query: &str) -> Result<String, String> {
        let pipe = self
            .server_pipe
            .as_ref()
            .ok_or("no test API server to ask (--kubeconfig)")?;
        let mut pipe = pipe
            .lock()
            .map_err(|_| "the test API server's pipe is poisoned")?;
        pipe.ask(query)
    }

    pub fn board_command(&self, args: &Args) -> Command {
        let mut command = self.netns.command(&args.board);
        command.args([
            "--ethernet",
            ETHERNET_TAP,
            "--heap-report-secs",
            HEAP_REPORT_SECS,
        ]);
        command
    }

    /// Every scenario; failures are counted in `report`.
    pub fn run(mut self, args: &Args, report: &mut Report) {
        if args.bootstrap {
            crate::bootstrap::run(&self, args, report);
            return;
        }
        if let Err(e) = self.network_scenarios(args, report) {
            report.fail("the network scenarios stopped", &e);
        }
        // The boards below boot on Ethernet: the cable goes back in, whatever the flaps left.
        if let Err(e) = self.netns.set_link(ETHERNET_TAP, true) {
            report.fail("plugging the Ethernet TAP back", &e);
        }
        self.wrong_name(args, report);
        if args.boot_only {
            return;
        }
        self.watchdog(args, report);
        self.precedence(args, report);
    }

    /// The other half of "certificate verified": a record that expects a name the server's
    /// certificate does not carry gets no session.
    fn wrong_name(&self, args: &Args, report: &mut Report) {
        let result = std::fs::read_to_string(&self.board_kubeconfig)
            .map_err(|e| e.to_string())
            .and_then(|text| {
                let kubeconfig = args.work.join("wrong-name.kubeconfig");
                let text = with_server_name(&text, "not-the-api-server.example");
                std::fs::write(&kubeconfig, text).map_err(|e| e.to_string())?;
                let pkconfig = args.work.join("pkconfig-wrong-name.bin");
                provision(args, &kubeconfig, &pkconfig)?;
                let mut command = self.board_command(args);
                command.arg("--pkconfig").arg(&pkconfig);
                let board = Board::start(command, &args.work.join("board-wrong-name.log"))?;
                let refused = board.log.wait(0, BOUND, |l| {
                    let (_, event) = agent_event(l)?;
                    if event.starts_with("OpenFailed") {
                        Some(Ok(()))
                    } else if event.starts_with("SessionOpened") {
                        Some(Err("a session opened".to_owned()))
                    } else {
                        None
                    }
                });
                match refused {
                    Some((_, outcome)) => outcome.map(|()| String::new()),
                    None => Err("no OpenFailed in the board's log".into()),
                }
            });
        report.check(
            "a certificate that does not name the server → no session (OpenFailed)",
            result,
        );
    }

    /// Boot → Ready, renumbering, failover, the cable's return and the link flaps, on one
    /// board. An `Err` stops them (a later step needs the earlier one).
    fn network_scenarios(&mut self, args: &Args, report: &mut Report) -> Result<(), String> {
        // Wi-Fi out of range at boot: the board boots on Ethernet.
        self.netns.set_link(WIFI_TAP, false)?;
        let mut command = self.board_command(args);
        command
            .args(["--wifi", WIFI_TAP])
            .arg("--pkconfig")
            .arg(&self.pkconfig);
        let board = Board::start(command, &args.work.join("board.log"))?;
        let log = board.log.clone();

        // DHCP lease → InternalIP; DNS name; certificate; Ready with taint and annotation.
        let leased = log
            .wait(0, BOUND, |l| {
                l.strip_prefix("uplink: Ethernet usable, DHCP address ")
                    .and_then(|a| a.parse::<Ipv4Addr>().ok())
            })
            .map(|(_, a)| a)
            .ok_or("the board reported no Ethernet lease")?;
        let registered = log
            .wait(0, BOUND, |l| {
                let (ms, event) = agent_event(l)?;
                event.starts_with("Registered").then_some(ms)
            })
            .map(|(_, ms)| ms);
        let node = self.api.wait_node(BOUND, |n| n.ready == "True");
        let Ok(node) = node else {
            return Err(format!(
                "the Node did not become Ready: {}",
                node.err().unwrap_or_default()
            ));
        };
        let ready_after = board.started.elapsed();
        report.check(
            "DHCP lease → that address is the Node's InternalIP",
            same_address(&node, leased),
        );
        report.check(
            &format!("API server reached by its DNS name {API_NAME}"),
            self.reached_by_name(&args.work, leased),
        );
        report.check(
            "certificate verified against the cluster CA",
            verified(&log),
        );
        report.check(
            "Node Ready with the taint and the heap annotation",
            tainted(&node),
        );
        if let Some(ms) = registered {
            report.figure(
                "boot → Node registered Ready (board clock)",
                format!("{:.2} s", ms as f64 / 1000.0),
            );
        }
        report.figure(
            "boot → Node Ready read from the API server (polled every 0.5 s)",
            format!("{:.1} s", ready_after.as_secs_f64()),
        );
        // The steady state: renewals on time, and the figures.
        self.steady_state(args, &log, report)?;
        if args.boot_only {
            self.end_figures(&log, report);
            return Ok(());
        }

        // The DHCP server renumbers the network; a carrier bounce makes the board ask again.
        self.renumber(args, &log, report)?;
        // The record keeps the firmware's status period (5 min, so the figures above are a
        // board's); pushes come with flips, reconnects and the new address.
        report.check(
            "a status push",
            log.wait(0, BOUND, |l| {
                agent_event(l).and_then(|(_, e)| e.strip_prefix("StatusPushed").map(str::to_owned))
            })
            .map(|(_, detail)| detail.trim().to_owned())
            .ok_or_else(|| "no StatusPushed within the bound".to_owned()),
        );

        // Failover to Wi-Fi and the cable's return.
        self.failover(&log, report)?;

        // Link flaps on the only uplink (Wi-Fi: Ethernet unplugged).
        self.netns.set_link(ETHERNET_TAP, false)?;
        for &secs in &args.flaps {
            self.flap(&log, secs, report)?;
        }
        drop(board);
        self.end_figures(&log, report);
        Ok(())
    }

    /// The figures of the network scenarios' board, once it stopped.
    fn end_figures(&self, log: &Log, report: &mut Report) {
        if let Some(peak) = log.since(0).iter().rev().find_map(|l| heap_peak(&l.text)) {
            report.figure(
                "peak heap of the agent path (counting allocator, from the agent's start)",
                format!("{peak} B"),
            );
        }
        if let Ok(peaks) = self.socket_peaks.lock() {
            report.figure(
                "peak socket-buffer use (from the TCP headers at the TAPs)",
                format!(
                    "rx {} of {} B, tx ≥ {} of {} B unacknowledged ({} frames in taps.pcap)",
                    peaks.rx,
                    sniff::BOARD_RX_BYTES,
                    peaks.tx_unacked,
                    sniff::BOARD_RX_BYTES,
                    peaks.frames
                ),
            );
        }
    }

    fn reached_by_name(&self, work: &Path, leased: Ipv4Addr) -> Result<String, String> {
        let dns_log = std::fs::read_to_string(work.join("dnsmasq.log")).unwrap_or_default();
        let query = format!("query[A] {API_NAME} from {leased}");
        if !dns_log.contains(&query) {
            return Err(format!("dnsmasq logged no '{query}'"));
        }
        let peers = self.traffic.peers();
        if !peers.iter().any(|p| p.ip() == leased) {
            return Err(format!(
                "the forwarder on {API_ADDRESS} saw no connection from {leased} (peers {peers:?})"
            ));
        }
        Ok(format!(
            "dnsmasq answered {API_ADDRESS}, connection from {leased}"
        ))
    }

    fn steady_state(&self, args: &Args, log: &Log, report: &mut Report) -> Result<(), String> {
        let before_tap = self.netns.tap_bytes(ETHERNET_TAP)?;
        let before_tcp =
            self.traffic.up.load(Ordering::Relaxed) + self.traffic.down.load(Ordering::Relaxed);
        let before_renew = self.api.lease_renew_time()?;
        let from = log.len();
        let started = Instant::now();
        // The measuring period: its length is the figure's denominator.
        std::thread::sleep(Duration::from_secs(args.seconds));
        let elapsed = started.elapsed().as_secs_f64();
        let tap = self.netns.tap_bytes(ETHERNET_TAP)? - before_tap;
        let tcp = self.traffic.up.load(Ordering::Relaxed)
            + self.traffic.down.load(Ordering::Relaxed)
            - before_tcp;
        let after_renew = self.api.lease_renew_time()?;
        let lateness: Vec<u64> = log
            .since(from)
            .iter()
            .filter_map(|l| renewal_lateness_us(&l.text))
            .collect();
        let expected = args.seconds / RENEW_INTERVAL_SECS;
        let late_bound_us = RENEW_INTERVAL_SECS * 1_000_000 / 2;
        let on_time = if (lateness.len() as u64) + 1 < expected {
            Err(format!(
                "{} renewal(s) in {} s, the cadence is one per {RENEW_INTERVAL_SECS} s",
                lateness.len(),
                args.seconds
            ))
        } else if let Some(late) = lateness.iter().find(|&&l| l > late_bound_us) {
            Err(format!(
                "a renewal came {} ms after its instant",
                late / 1000
            ))
        } else if after_renew == before_renew {
            Err(format!("the Lease's renewTime stayed {before_renew}"))
        } else {
            Ok(format!(
                "{} in {} s, renewTime {before_renew} → {after_renew}",
                lateness.len(),
                args.seconds
            ))
        };
        report.check("renewals on time", on_time);
        let per_hour = |bytes: u64| (bytes as f64 * 3600.0 / elapsed) as u64;
        report.figure(
            "bytes through the Ethernet TAP per node-hour (frames, both ways)",
            format!("{} B/h ({tap} B in {elapsed:.0} s)", per_hour(tap)),
        );
        report.figure(
            "TCP payload (TLS records) per node-hour, at the forwarder",
            format!("{} B/h", per_hour(tcp)),
        );
        if let Some(&max) = lateness.iter().max() {
            let mut sorted = lateness.clone();
            sorted.sort_unstable();
            report.figure(
                "renewal lateness (median / max)",
                format!(
                    "{:.1} / {:.1} ms over {} renewals",
                    sorted[sorted.len() / 2] as f64 / 1000.0,
                    max as f64 / 1000.0,
                    sorted.len()
                ),
            );
        }
        Ok(())
    }

    fn renumber(&mut self, args: &Args, log: &Log, report: &mut Report) -> Result<(), String> {
        drop(self.dnsmasq.take());
        self.dnsmasq = Some(Dnsmasq::start(
            &self.netns,
            &args.work,
            ETHERNET_POOL_RENUMBERED,
        )?);
        let from = log.len();
        self.netns.set_link(ETHERNET_TAP, false)?;
        log.wait_text(from, BOUND, "Ethernet: link down")
            .ok_or("the board did not see the carrier go")?;
        self.netns.set_link(ETHERNET_TAP, true)?;
        let (low, high) = ETHERNET_POOL_RENUMBERED;
        let renumbered = |n: &NodeView| {
            n.internal_ip
                .parse::<Ipv4Addr>()
                .is_ok_and(|a| (low..=high).contains(&a.octets()[3]))
        };
        let result = self
            .api
            .wait_node(RECOVERY_BOUND, renumbered)
            .and_then(|node| {
                log.wait(from, BOUND, |l| {
                    agent_event(l).and_then(|(_, e)| e.starts_with("AddressPushed").then_some(()))
                })
                .ok_or("no AddressPushed in the board's log")?;
                Ok(format!("InternalIP {}", node.internal_ip))
            });
        report.check(
            "the DHCP server hands out a new address → InternalIP follows",
            result,
        );
        Ok(())
    }

    fn failover(&self, log: &Log, report: &mut Report) -> Result<(), String> {
        let from = log.len();
        self.netns.set_link(WIFI_TAP, true)?;
        log.wait_text(from, BOUND, "Wi-Fi: associated")
            .ok_or("the board did not associate with the Wi-Fi TAP")?;
        wait_for_lease(&self.work, WIFI_TAP)?;
        let watch = self.api.watch_ready();
        let from = log.len();
        self.netns.set_link(ETHERNET_TAP, false)?;
        let moved = log.wait(from, RECOVERY_BOUND, |l| {
            l.strip_prefix("uplink: Wifi now")
                .and_then(|rest| rest.split_once("address Some("))
                .and_then(|(_, a)| a.strip_suffix(')')?.parse::<Ipv4Addr>().ok())
        });
        let result = match moved {
            None => Err("the agent did not reconnect over Wi-Fi".to_owned()),
            Some((index, wifi)) => self
                .renewed_after(log, index)
                .and_then(|()| {
                    self.api
                        .wait_node(BOUND, |n| n.internal_ip == wifi.to_string())
                        .map_err(|e| format!("InternalIP did not follow to {wifi}: {e}"))
                })
                .map(|_| format!("InternalIP {wifi}")),
        };
        let ready = watch.finish();
        report.check(
            "Ethernet carrier down → the agent moves to the Wi-Fi uplink and stays Ready",
            result.and_then(|detail| ready.throughout().map(|r| format!("{detail}, {r}"))),
        );

        // The cable returns: README "Networking": used from the next reconnect on, a healthy
        // Wi-Fi session is not torn down for it.
        let watch = self.api.watch_ready();
        let from = log.len();
        self.netns.set_link(ETHERNET_TAP, true)?;
        log.wait_text(from, BOUND, "Ethernet: link up")
            .ok_or("the board did not see the carrier return")?;
        // The policy is about what does not happen while the session is healthy: watch it.
        std::thread::sleep(CABLE_BACK_WATCH);
        let lines = log.since(from);
        let session_ended = lines
            .iter()
            .position(|l| agent_event(&l.text).is_some_and(|(_, e)| e.starts_with("SessionEnded")));
        let to_ethernet = lines
            .iter()
            .position(|l| l.text.starts_with("uplink: Ethernet now"));
        let renewed = lines.iter().any(|l| renewal_lateness_us(&l.text).is_some());
        let ready = watch.finish();
        // Leaving for the cable is allowed only after the Wi-Fi session ended by itself.
        let left_early = to_ethernet.is_some_and(|switch| session_ended.is_none_or(|e| e > switch));
        let kept = if left_early {
            Err("the agent left a healthy Wi-Fi session for the cable".to_owned())
        } else if !renewed {
            Err("no renewal over the kept session".to_owned())
        } else if to_ethernet.is_some() {
            Ok("the session ended on its own; the next one took the cable".to_owned())
        } else {
            Ok(format!(
                "Wi-Fi session kept for {} s, the cable waits for the next reconnect",
                CABLE_BACK_WATCH.as_secs()
            ))
        };
        report.check(
            "Ethernet carrier back → the README's policy",
            kept.and_then(|d| ready.throughout().map(|r| format!("{d}, {r}"))),
        );
        Ok(())
    }

    /// A renewal after line `index`, within the recovery bound.
    fn renewed_after(&self, log: &Log, index: usize) -> Result<(), String> {
        log.wait(index, RECOVERY_BOUND, renewal_lateness_us)
            .map(|_| ())
            .ok_or_else(|| "no renewal after it".to_owned())
    }

    /// The Wi-Fi (the only uplink) drops for `secs` and comes back.
    fn flap(&self, log: &Log, secs: u64, report: &mut Report) -> Result<(), String> {
        let watch = self.api.watch_ready();
        self.netns.set_link(WIFI_TAP, false)?;
        // The flap's length is the scenario.
        std::thread::sleep(Duration::from_secs(secs));
        let from = log.len();
        self.netns.set_link(WIFI_TAP, true)?;
        let resumed = self.renewed_after(log, from);
        // One more lifecycle-controller look after the renewal.
        std::thread::sleep(Duration::from_secs(2));
        let ready = watch.finish();
        report.check(
            &format!(
                "link flap of {secs} s on the only uplink → Ready throughout, renewals resume"
            ),
            resumed.and_then(|()| ready.throughout()),
        );
        Ok(())
    }

    /// A board whose executor stops: the watchdog thread "resets" it (exit status 3).
    fn watchdog(&self, args: &Args, report: &mut Report) {
        let mut command = self.board_command(args);
        command
            .arg("--pkconfig")
            .arg(&self.pkconfig)
            .args(["--starve-after-secs", STARVE_AFTER_SECS]);
        let result =
            Board::start(command, &args.work.join("board-watchdog.log")).and_then(|mut board| {
                let status = board
                    .wait_exit(BOUND)
                    .ok_or("the board still runs with a starved executor")?;
                let line = board
                    .log
                    .wait_text(0, Duration::from_secs(5), "watchdog: not fed for")
                    .and_then(|i| board.log.since(i).first().map(|l| l.text.clone()));
                match (status.code(), line) {
                    (Some(WATCHDOG_EXIT), Some(line)) => Ok(line),
                    (code, line) => Err(format!("exit {code:?}, watchdog line {line:?}")),
                }
            });
        report.check(
            "the executor starved → the watchdog rule trips (exit 3)",
            result,
        );
    }

    /// The firmware README's precedence table, row by row, with its log lines.
    fn precedence(&self, args: &Args, report: &mut Report) {
        let corrupt = args.work.join("pkconfig-corrupt.bin");
        let no_partition = args.work.join("partitions-without-pkconfig.csv");
        let prepared = std::fs::read(&self.pkconfig)
            .map_err(|e| e.to_string())
            .and_then(|mut bytes| {
                // A byte inside the record: the CRC no longer matches.
                if let Some(byte) = bytes.get_mut(40) {
                    *byte ^= 0x5a;
                }
                std::fs::write(&corrupt, bytes).map_err(|e| e.to_string())
            })
            .and_then(|()| {
                let csv: String = picokubelet_tapboard::args::FIRMWARE_PARTITIONS_CSV
                    .lines()
                    .filter(|l| !l.starts_with("pkconfig"))
                    .map(|l| format!("{l}\n"))
                    .collect();
                std::fs::write(&no_partition, csv).map_err(|e| e.to_string())
            });
        if let Err(e) = prepared {
            report.fail(
                "the precedence table",
                &format!("preparing the flash images: {e}"),
            );
            return;
        }
        let valid = format!(
            "config: provisioning record from flash (server {API_NAME}:{})",
            self.port
        );
        let rows: [(&str, Vec<&str>, bool, &[&str]); 5] = [
            (
                "a valid record → the record",
                vec!["--pkconfig", path(&self.pkconfig)],
                true,
                &[&valid],
            ),
            (
                "erased pkconfig → the compile-time defaults",
                vec![],
                true,
                &["config: pkconfig partition is erased: compile-time defaults"],
            ),
            (
                "no pkconfig in the partition table → the compile-time defaults",
                vec!["--partition-table", path(&no_partition)],
                true,
                &["config: no pkconfig partition in the partition table: compile-time defaults"],
            ),
            (
                "a corrupt record, complete defaults → the defaults, with the error",
                vec!["--pkconfig", path(&corrupt)],
                true,
                &[
                    "config: ERROR: the provisioning record in flash is INVALID: ",
                    "config: running with the (complete) compile-time defaults instead",
                ],
            ),
            (
                "a corrupt record, incomplete defaults → the board stops",
                vec!["--pkconfig", path(&corrupt)],
                false,
                &[
                    "config: ERROR: the provisioning record in flash is INVALID: ",
                    "— NOT RUNNING; provision the board again",
                ],
            ),
        ];
        for (i, (what, flash, defaults, lines)) in rows.into_iter().enumerate() {
            let mut command = self.board_command(args);
            command.args(flash);
            if defaults {
                command
                    .env("PK_API_HOST", API_NAME)
                    .env(self.ca_env.0, &self.ca_env.1)
                    .env("PK_NODE_TOKEN", "harness-precedence-row");
            }
            let log_file = args.work.join(format!("board-precedence-{}.log", i + 1));
            let result = Board::start(command, &log_file).and_then(|board| {
                let mut from = 0;
                for line in lines {
                    from = board
                        .log
                        .wait_text(from, BOUND, line)
                        .ok_or_else(|| format!("no '{line}' in {}", log_file.display()))?;
                }
                Ok(format!("'{}'", lines[lines.len() - 1].trim()))
            });
            report.check(&format!("pkconfig: {what}"), result);
        }
    }
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
}

fn same_address(node: &NodeView, leased: Ipv4Addr) -> Result<String, String> {
    if node.internal_ip == leased.to_string() {
        Ok(leased.to_string())
    } else {
        Err(format!(
            "leased {leased}, InternalIP {:?}",
            node.internal_ip
        ))
    }
}

/// The TLS session opened with the CA in the record (no skip-verify) and names the server.
fn verified(log: &Log) -> Result<String, String> {
    let lines = log.since(0);
    if lines
        .iter()
        .any(|l| l.text.contains("insecure-skip-tls-verify"))
    {
        return Err("the record skips verification".into());
    }
    let name = lines
        .iter()
        .find_map(|l| {
            l.text
                .split_once("(certificate must name ")
                .map(|(_, n)| n.trim_end_matches(')').to_owned())
        })
        .ok_or("the agent's start line is missing")?;
    lines
        .iter()
        .find(|l| agent_event(&l.text).is_some_and(|(_, e)| e.starts_with("SessionOpened")))
        .ok_or("no TLS session opened")?;
    // The record's identity: tags 0x0F/0x10 (a client certificate and its key) or a token.
    let identity = lines
        .iter()
        .find_map(|l| {
            l.text
                .strip_prefix("config: client certificate (")
                .and_then(|rest| rest.split_once(" bytes)"))
                .map(|(bytes, _)| format!("client certificate ({bytes} B DER)"))
        })
        .unwrap_or_else(|| "bearer token".to_owned());
    Ok(format!(
        "TLS 1.3 session, server certificate names {name}; the board's identity: {identity}"
    ))
}

fn tainted(node: &NodeView) -> Result<String, String> {
    if node.taint_effect != "NoSchedule" {
        return Err(format!("taint effect {:?}", node.taint_effect));
    }
    let free: u64 = node
        .heap_free
        .parse()
        .map_err(|_| format!("heap annotation {:?}", node.heap_free))?;
    Ok(format!(
        "{} NoSchedule, heap-bytes-free {free}",
        crate::api::TAINT_KEY
    ))
}

/// Waits until dnsmasq (its log in `work`) leased an address on `tap`.
fn wait_for_lease(work: &Path, tap: &str) -> Result<(), String> {
    let deadline = Instant::now() + BOUND;
    let wanted = format!("DHCPACK({tap})");
    loop {
        let text = std::fs::read_to_string(work.join("dnsmasq.log")).unwrap_or_default();
        if text.contains(&wanted) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!("dnsmasq logged no {wanted}"));
        }
        // Polling a file another process appends to.
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The kubeconfig the board is provisioned from: `given`, or (without `tls-server-name`) a
/// copy naming `kubernetes`, the name kubeadm and k3s put in every API server certificate: the
/// board dials [`API_NAME`], which that certificate does not carry.
fn board_kubeconfig(given: &Path, work: &Path) -> Result<PathBuf, String> {
    let text =
        std::fs::read_to_string(given).map_err(|e| format!("reading {}: {e}", given.display()))?;
    if text.contains("tls-server-name:") {
        return Ok(given.to_owned());
    }
    let out = with_server_name(&text, "kubernetes");
    let copy = work.join("board.kubeconfig");
    std::fs::write(&copy, out).map_err(|e| format!("writing {}: {e}", copy.display()))?;
    Ok(copy)
}

/// `kubeconfig` with `tls-server-name: NAME` under each `server:` (any earlier one dropped).
fn with_server_name(kubeconfig: &str, name: &str) -> String {
    let mut out = String::new();
    for line in kubeconfig.lines() {
        if line.trim_start().starts_with("tls-server-name:") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
        if line.trim_start().starts_with("server:") {
            let indent = &line[..line.len() - line.trim_start().len()];
            out.push_str(&format!("{indent}tls-server-name: {name}\n"));
        }
    }
    out
}

/// The port of the kubeconfig's (first) server, which must be on the host's loopback.
fn loopback_port(kubeconfig: &str) -> Result<u16, String> {
    let server = kubeconfig
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("server:"))
        .map(|s| s.trim().trim_matches('"'))
        .ok_or("the kubeconfig names no server")?;
    let authority = server
        .strip_prefix("https://")
        .ok_or_else(|| format!("server {server}: not https"))?
        .trim_end_matches('/');
    let (host, port) = authority
        .rsplit_once(':')
        .ok_or_else(|| format!("server {server}: give the port"))?;
    if !matches!(host, "127.0.0.1" | "localhost") {
        return Err(format!(
            "server {server}: the harness reaches API servers on the host's loopback only"
        ));
    }
    port.parse()
        .map_err(|_| format!("server {server}: bad port"))
}

/// The CA as the compile-time defaults take it: kubeconfig's `certificate-authority-data`
/// (PK_CA_B64) or its `certificate-authority` file (PK_CA_PEM_FILE).
fn ca_env(kubeconfig: &str) -> Result<(&'static str, String), String> {
    for line in kubeconfig.lines().map(str::trim_start) {
        if let Some(data) = line.strip_prefix("certificate-authority-data:") {
            return Ok(("PK_CA_B64", data.trim().to_owned()));
        }
        if let Some(file) = line.strip_prefix("certificate-authority:") {
            return Ok(("PK_CA_PEM_FILE", file.trim().to_owned()));
        }
    }
    Err("the kubeconfig names no certificate-authority(-data)".into())
}

/// `picokubelet provision` from `kubeconfig`: the board dials [`API_NAME`] on the
/// kubeconfig's port and joins the "Wi-Fi" (an open network); the firmware's periods.
fn provision(args: &Args, kubeconfig: &Path, out: &Path) -> Result<(), String> {
    let output = Command::new(&args.picokubelet)
        .arg("provision")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["--api-host", API_NAME, "--node-name", &args.node_name])
        .args([
            "--profile",
            "esp32c6",
            "--wifi-ssid",
            "tapwifi",
            "--wifi-open",
        ])
        .arg("--out")
        .arg(out)
        .arg("--force")
        .output()
        .map_err(|e| format!("cannot run {}: {e}", args.picokubelet.display()))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "picokubelet provision: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KUBECONFIG: &str = "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: TFMwdA==\n    server: https://127.0.0.1:6443\n  name: k\n";

    #[test]
    fn the_kubeconfig_gives_port_ca_and_server_name() {
        assert_eq!(loopback_port(KUBECONFIG), Ok(6443));
        assert_eq!(ca_env(KUBECONFIG), Ok(("PK_CA_B64", "TFMwdA==".to_owned())));
        let named = with_server_name(KUBECONFIG, "kubernetes");
        assert!(
            named.contains("    server: https://127.0.0.1:6443\n    tls-server-name: kubernetes\n"),
            "{named}"
        );
        let renamed = with_server_name(&named, "other.example");
        assert_eq!(renamed.matches("tls-server-name").count(), 1, "{renamed}");
        assert!(renamed.contains("tls-server-name: other.example"));
        let remote = KUBECONFIG.replace("127.0.0.1", "10.0.0.5");
        assert!(loopback_port(&remote)
            .unwrap_err()
            .contains("loopback only"));
        assert!(loopback_port("kind: Config\n").is_err());
    }
}
