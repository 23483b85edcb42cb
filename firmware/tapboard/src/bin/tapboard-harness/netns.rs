//! The harness's network: one namespace with the board's two TAPs (the kernel's ends), the
//! API server's address on the namespace's loopback, and dnsmasq serving DHCP on both TAPs and
//! answering the API server's name. Deleted with everything in it on drop.

use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The Ethernet TAP and its network (the namespace's end is the router, DHCP and DNS server).
pub const ETHERNET_TAP: &str = "tapeth";
pub const ETHERNET_ROUTER: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
/// The "Wi-Fi" TAP and its network.
pub const WIFI_TAP: &str = "tapwifi";
pub const WIFI_ROUTER: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 1);
/// Where the API server's name points: an address on the namespace's loopback, reachable from
/// both networks through the namespace's routing (the forwarder listens there).
pub const API_ADDRESS: Ipv4Addr = Ipv4Addr::new(10, 79, 0, 1);
/// The name the board's record dials (dnsmasq answers it with [`API_ADDRESS`]).
pub const API_NAME: &str = "api.tapboard.test";

/// The Ethernet pool at boot and the one the DHCP server switches to (a renumbered network).
pub const ETHERNET_POOL: (u8, u8) = (50, 99);
pub const ETHERNET_POOL_RENUMBERED: (u8, u8) = (150, 199);
const WIFI_POOL: (u8, u8) = (50, 99);

/// Runs `ip ARGS`; an error names the command.
pub fn ip(args: &[&str]) -> Result<(), String> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// A network namespace the harness made.
pub struct Netns {
    pub name: String,
}

impl Netns {
    /// The namespace with the TAPs (up, with carrier once the board opens them) and the API
    /// address.
    pub fn create(name: String) -> Result<Netns, String> {
        ip(&["netns", "add", &name])?;
        let netns = Netns { name };
        let eth = format!("{ETHERNET_ROUTER}/24");
        let wifi = format!("{WIFI_ROUTER}/24");
        let api = format!("{API_ADDRESS}/32");
        for args in [
            &["link", "set", "lo", "up"][..],
            &["addr", "add", &api, "dev", "lo"],
            &["tuntap", "add", "dev", ETHERNET_TAP, "mode", "tap"],
            &["addr", "add", &eth, "dev", ETHERNET_TAP],
            &["link", "set", ETHERNET_TAP, "up"],
            &["tuntap", "add", "dev", WIFI_TAP, "mode", "tap"],
            &["addr", "add", &wifi, "dev", WIFI_TAP],
            &["link", "set", WIFI_TAP, "up"],
        ] {
            netns.ip(args)?;
        }
        Ok(netns)
    }

    /// `ip -n NAME ARGS`.
    pub fn ip(&self, args: &[&str]) -> Result<(), String> {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// Pulls (`false`) or plugs (`true`) the cable of `tap`: the board's driver reads the
    /// TAP's administrative state and carrier.
    pub fn set_link(&self, tap: &str, up: bool) -> Result<(), String> {
        self.ip(&["link", "set", tap, if up { "up" } else { "down" }])
    }

    /// The namespace's file, for `setns(2)`.
    pub fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }

    /// Bytes through `tap` (both directions, Ethernet frames), as the kernel counts them.
    pub fn tap_bytes(&self, tap: &str) -> Result<u64, String> {
        let tap = tap.to_owned();
        in_netns(&self.path(), move || {
            // A thread's own /proc entry shows its network namespace (sysfs shows the one it
            // was mounted in).
            let dev = std::fs::read_to_string("/proc/thread-self/net/dev")
                .map_err(|e| format!("reading /proc/thread-self/net/dev: {e}"))?;
            parse_net_dev(&dev, &tap).ok_or_else(|| format!("no {tap} in /proc/net/dev"))
        })?
    }

    /// A command run inside the namespace.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.name])
            .arg(program)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default());
        command
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.name]);
    }
}

/// Received plus sent bytes of `interface` in a `/proc/net/dev` text.
fn parse_net_dev(text: &str, interface: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (name, counters) = line.split_once(':')?;
        if name.trim() != interface {
            return None;
        }
        let fields: Vec<u64> = counters
            .split_whitespace()
            .map(|f| f.parse().ok())
            .collect::<Option<_>>()?;
        // rx: bytes packets errs drop fifo frame compressed multicast; tx: bytes …
        Some(fields.first()? + fields.get(8)?)
    })
}

/// Runs `f` on a thread that entered the namespace at `path` (only that thread moves).
pub fn in_netns<T: Send + 'static>(
    path: &Path,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    let path = path.to_owned();
    std::thread::spawn(move || {
        let ns = File::open(&path).map_err(|e| format!("opening {}: {e}", path.display()))?;
        // SAFETY: setns(2) on a namespace fd we hold; it moves only this thread.
        let entered = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
        if entered != 0 {
            return Err(format!(
                "setns into {}: {}",
                path.display(),
                std::io::Error::last_os_error()
            ));
        }
        Ok(f())
    })
    .join()
    .map_err(|_| "the namespace thread panicked".to_owned())?
}

/// dnsmasq in the namespace: DHCP on both TAPs, and the API server's name. Killed on drop.
pub struct Dnsmasq {
    child: Child,
}

impl Dnsmasq {
    /// Starts dnsmasq; `ethernet_pool`: the last octets of the Ethernet range. `work`: where
    /// its lease file and log go (a fresh lease file each start: a renumbered server forgets).
    pub fn start(netns: &Netns, work: &Path, ethernet_pool: (u8, u8)) -> Result<Dnsmasq, String> {
        let leases = work.join("dnsmasq.leases");
        let _ = std::fs::remove_file(&leases);
        let range = |router: Ipv4Addr, (low, high): (u8, u8)| {
            let [a, b, c, _] = router.octets();
            format!("--dhcp-range={a}.{b}.{c}.{low},{a}.{b}.{c}.{high},1h")
        };
        let child = netns
            .command("dnsmasq")
            .args([
                "--no-daemon",
                "--conf-file=/dev/null",
                "--no-resolv",
                "--no-hosts",
                "--pid-file=",
                "--bind-dynamic",
                "--log-dhcp",
                "--log-queries",
            ])
            .args(["--interface", ETHERNET_TAP, "--interface", WIFI_TAP])
            .arg(range(ETHERNET_ROUTER, ethernet_pool))
            .arg(range(WIFI_ROUTER, WIFI_POOL))
            .arg(format!("--dhcp-leasefile={}", leases.display()))
            .arg(format!("--address=/{API_NAME}/{API_ADDRESS}"))
            .arg(format!(
                "--log-facility={}",
                work.join("dnsmasq.log").display()
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("dnsmasq does not start: {e}"))?;
        Ok(Dnsmasq { child })
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::parse_net_dev;

    #[test]
    fn net_dev_counts_both_directions() {
        let text = "Inter-|   Receive |  Transmit\n face |bytes packets errs drop fifo frame compressed multicast|bytes packets\n    lo: 10 1 0 0 0 0 0 0 10 1 0 0 0 0 0 0\ntapeth: 1500 9 0 0 0 0 0 0 700 5 0 0 0 0 0 0\n";
        assert_eq!(parse_net_dev(text, "tapeth"), Some(2200));
        assert_eq!(parse_net_dev(text, "tapwifi"), None);
    }
}
