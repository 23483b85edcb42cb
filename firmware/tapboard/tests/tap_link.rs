//! The tap board's links follow its TAP devices: the binary runs inside a network namespace
//! this test makes, with one TAP as Ethernet and one as Wi-Fi; taking a TAP down and up again
//! must show in the board's log as the chip's link tasks report it (carrier for the W5500,
//! association for the station). No DHCP server, no API server: only the links.
//!
//! Needs root (network namespaces, TAP devices), `/dev/net/tun` and iproute2's `ip`; skips
//! with the reason otherwise.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

/// Bound on waiting for one log line: a failure, not a synchronisation (lines are awaited).
const LINE_WAIT: Duration = Duration::from_secs(30);
const TAP: &str = "tapeth";
const WIFI_TAP: &str = "tapwifi";

fn skip_reason() -> Option<&'static str> {
    // SAFETY: geteuid(2) has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root: network namespaces and TAP devices need CAP_NET_ADMIN");
    }
    if !Path::new("/dev/net/tun").exists() {
        return Some("no /dev/net/tun");
    }
    if Command::new("ip").arg("-V").output().is_err() {
        return Some("no `ip` (iproute2)");
    }
    None
}

/// A network namespace, deleted on drop.
struct Netns(String);

impl Netns {
    fn new() -> Netns {
        let name = format!("pk-tapboard-link-{}", std::process::id());
        ip(&["netns", "add", &name]);
        Netns(name)
    }

    fn ip(&self, args: &[&str]) {
        let mut all = vec!["-n", self.0.as_str()];
        all.extend_from_slice(args);
        ip(&all);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn ip(args: &[&str]) {
    let status = Command::new("ip").args(args).status().expect("ip runs");
    assert!(status.success(), "ip {args:?}: {status}");
}

/// The board, killed on drop.
struct Board {
    child: Child,
    lines: Receiver<String>,
}

impl Board {
    fn start(netns: &Netns) -> Board {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &netns.0])
            .arg(env!("CARGO_BIN_EXE_picokubelet-tapboard"))
            .args(["--ethernet", TAP, "--wifi", WIFI_TAP, "--pkconfig"])
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pkconfig-lan.bin"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the tap board starts");
        let stdout = child.stdout.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                println!("board: {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Board { child, lines }
    }

    /// Reads the log until a line equal to `wanted`; panics with what came instead.
    fn expect_line(&self, wanted: &str) {
        self.expect_lines(&[wanted]);
    }

    /// Reads the log until each of `wanted` came, in any order (the tasks run concurrently).
    fn expect_lines(&self, wanted: &[&str]) {
        let mut missing: Vec<&str> = wanted.to_vec();
        while !missing.is_empty() {
            match self.lines.recv_timeout(LINE_WAIT) {
                Ok(line) => missing.retain(|w| *w != line),
                Err(e) => panic!("no {missing:?} in the board's log ({e})"),
            }
        }
    }
}

impl Drop for Board {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_links_follow_the_taps() {
    if let Some(reason) = skip_reason() {
        println!("skipped: {reason}");
        return;
    }
    let netns = Netns::new();
    for tap in [TAP, WIFI_TAP] {
        netns.ip(&["tuntap", "add", "dev", tap, "mode", "tap"]);
        netns.ip(&["link", "set", tap, "up"]);
    }
    let board = Board::start(&netns);
    board.expect_line("config: provisioning record from flash (server k3s.lab.example:6443)");
    // The record's Wi-Fi network goes to the second TAP.
    board.expect_line("Wi-Fi: 'lab' on TAP tapwifi");
    board.expect_lines(&[
        "Ethernet: carrier up",
        "Wi-Fi: associated, BSSID 02:70:6b:a9:00:01",
    ]);

    netns.ip(&["link", "set", WIFI_TAP, "down"]);
    board.expect_line("Wi-Fi: disconnected");
    netns.ip(&["link", "set", WIFI_TAP, "up"]);
    board.expect_line("Wi-Fi: associated, BSSID 02:70:6b:a9:00:01");

    netns.ip(&["link", "set", TAP, "down"]);
    board.expect_line("Ethernet: link down");
    netns.ip(&["link", "set", TAP, "up"]);
    board.expect_line("Ethernet: link up");
}
