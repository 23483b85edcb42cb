//! The body's network path for real, on Linux: inside a network namespace this test makes, a
//! TAP as the board's Ethernet, dnsmasq on its other end as DHCP and DNS server (it answers
//! the record's API host with its own address), and a TCP listener there on the API port. The
//! board must take a DHCP lease, resolve the host through the DNS server DHCP named, and open
//! a TCP connection to it from its leased address (the listener then closes it; TLS is not
//! part of this test).
//!
//! Needs root, `/dev/net/tun`, iproute2's `ip` and dnsmasq; skips with the reason otherwise.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

/// Bound on waiting for an event: a failure, not a synchronisation.
const WAIT: Duration = Duration::from_secs(60);
const TAP: &str = "tapeth";
/// The namespace's end of the TAP: DHCP server, DNS server and "API server".
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
/// The record's API host and port (tests/data/pkconfig-lan.bin).
const API_HOST: &str = "k3s.lab.example";
const API_PORT: u16 = 6443;

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
    if Command::new("dnsmasq").arg("--version").output().is_err() {
        return Some("no dnsmasq (Debian: dnsmasq-base; scripts/setup.sh installs it)");
    }
    None
}

fn ip(args: &[&str]) {
    let status = Command::new("ip").args(args).status().expect("ip runs");
    assert!(status.success(), "ip {args:?}: {status}");
}

/// A network namespace, deleted on drop (with everything in it).
struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// A child process, killed on drop.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Accepts one connection on `SERVER:API_PORT` inside `netns` (from a thread that entered it)
/// and sends the peer's address.
fn listen_in(netns: &str) -> Receiver<SocketAddr> {
    let path = PathBuf::from("/run/netns").join(netns);
    let (ready_tx, ready) = mpsc::channel();
    let (tx, accepted) = mpsc::channel();
    std::thread::spawn(move || {
        let ns = File::open(&path).expect("the namespace's file");
        // SAFETY: setns(2) on a namespace fd we hold; it moves only this thread.
        let entered = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(entered, 0, "setns: {}", std::io::Error::last_os_error());
        let listener = TcpListener::bind((SERVER, API_PORT)).expect("bind in the namespace");
        ready_tx.send(()).expect("the test waits");
        if let Ok((_stream, peer)) = listener.accept() {
            let _ = tx.send(peer);
        }
    });
    ready.recv_timeout(WAIT).expect("the listener is bound");
    accepted
}

#[test]
fn dhcp_dns_and_tcp_over_the_tap() {
    if let Some(reason) = skip_reason() {
        println!("skipped: {reason}");
        return;
    }
    let netns = Netns(format!("pk-tapboard-dhcp-{}", std::process::id()));
    ip(&["netns", "add", &netns.0]);
    let server = format!("{SERVER}/24");
    for args in [
        &["link", "set", "lo", "up"][..],
        &["tuntap", "add", "dev", TAP, "mode", "tap"],
        &["addr", "add", &server, "dev", TAP],
        &["link", "set", TAP, "up"],
    ] {
        let mut all = vec!["-n", netns.0.as_str()];
        all.extend_from_slice(args);
        ip(&all);
    }
    let leases = std::env::temp_dir().join(format!("{}.leases", netns.0));
    let dhcp_log = std::env::temp_dir().join(format!("{}.dnsmasq.log", netns.0));
    let _dnsmasq = Killed(
        Command::new("ip")
            .args(["netns", "exec", &netns.0, "dnsmasq", "--no-daemon"])
            .args([
                "--conf-file=/dev/null",
                "--no-resolv",
                "--no-hosts",
                "--pid-file=",
            ])
            .args(["--interface", TAP, "--bind-interfaces"])
            .arg("--dhcp-range=10.77.0.50,10.77.0.99,1h")
            .arg(format!("--dhcp-leasefile={}", leases.display()))
            .arg(format!("--log-facility={}", dhcp_log.display()))
            .arg("--log-dhcp")
            .arg(format!("--address=/{API_HOST}/{SERVER}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dnsmasq starts"),
    );
    let accepted = listen_in(&netns.0);

    let mut board = Command::new("ip")
        .args(["netns", "exec", &netns.0])
        .arg(env!("CARGO_BIN_EXE_picokubelet-tapboard"))
        .args(["--ethernet", TAP, "--pkconfig"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pkconfig-lan.bin"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the tap board starts");
    let stdout = board.stdout.take().expect("piped");
    let _board = Killed(board);
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("board: {line}");
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let leased: Ipv4Addr = loop {
        let line = lines
            .recv_timeout(WAIT)
            .expect("the board reports its uplink");
        if let Some(address) = line.strip_prefix("uplink: Ethernet usable, DHCP address ") {
            break address.parse().expect("an IPv4 address");
        }
    };
    assert!(
        (50..=99).contains(&leased.octets()[3]) && leased.octets()[..3] == [10, 77, 0],
        "{leased} is not from the DHCP range"
    );
    let peer = accepted
        .recv_timeout(WAIT)
        .expect("the board connects to the address DNS gave for the API host");
    assert_eq!(
        peer.ip(),
        leased,
        "the connection comes from the leased address"
    );
    // One DISCOVER per boot, as a board sends (the TAP driver holds frames the stack sends
    // before it has seen the link up; embassy-net's link-up reset would repeat the first).
    let log = std::fs::read_to_string(&dhcp_log).expect("dnsmasq's log");
    assert_eq!(
        log.matches(&format!("DHCPDISCOVER({TAP})")).count(),
        1,
        "DISCOVERs in dnsmasq's log:\n{log}"
    );
    let _ = std::fs::remove_file(leases);
    let _ = std::fs::remove_file(dhcp_log);
}
