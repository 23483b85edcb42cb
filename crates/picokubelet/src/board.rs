//! The virtual board's identity on a Linux host: its default name, a stable MAC, a fresh boot ID
//! and the address it would report as `InternalIP`.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs, UdpSocket};

use picokubelet_core::k8s::name::MAX_LABEL_LEN;

use crate::kubeconfig::{ServerHost, ServerUrl};

/// Prefix of default node names: "virtual board".
pub const DEFAULT_NAME_PREFIX: &str = "vb-";

/// `vb-<hostname>`, made a valid node name: lowercased, every run of characters other than
/// `a-z0-9` turned into one `-`, trimmed, and cut to 63 bytes so the `kubernetes.io/hostname`
/// label fits too. Falls back to `vb-host` when nothing usable is left.
pub fn default_node_name(hostname: &str) -> String {
    let mut tail = String::new();
    for c in hostname.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            tail.push(c);
        } else if !tail.ends_with('-') {
            tail.push('-');
        }
    }
    let max_tail = MAX_LABEL_LEN - DEFAULT_NAME_PREFIX.len();
    tail.truncate(max_tail);
    let tail = tail.trim_matches('-');
    let tail = if tail.is_empty() { "host" } else { tail };
    format!("{DEFAULT_NAME_PREFIX}{tail}")
}

/// This machine's host name, as the OS reports it (lossy for non-UTF-8).
pub fn hostname() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

/// A stable, locally administered unicast MAC for a virtual board, from its name (FNV-1a): the
/// same name always gives the same `systemUUID`/`machineID`, different names differ.
pub fn mac_from_name(name: &str) -> [u8; 6] {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let bytes = hash.to_be_bytes();
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&bytes[2..]);
    // Locally administered (bit 1 set), unicast (bit 0 clear).
    mac[0] = (mac[0] & 0xfc) | 0x02;
    mac
}

/// 16 fresh random bytes for the boot ID. std's `RandomState` is seeded from the OS per
/// process; a boot ID needs uniqueness, not secrecy.
pub fn boot_random() -> [u8; 16] {
    let state = RandomState::new();
    let a = state.hash_one(0u8).to_le_bytes();
    let b = state.hash_one(1u8).to_le_bytes();
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&a);
    out[8..].copy_from_slice(&b);
    out
}

/// The local address the OS would use to reach `target` (a connected UDP socket sends nothing).
pub fn local_ip_towards(target: SocketAddr) -> Option<IpAddr> {
    let bind: SocketAddr = match target {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(bind).ok()?;
    socket.connect(target).ok()?;
    socket.local_addr().ok().map(|a| a.ip())
}

/// What the Node reports as `InternalIP`, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InternalIp {
    /// The address of the interface routing to the API server.
    Routed(Ipv4Addr),
    /// No server known: loopback.
    Loopback,
    /// The server is reachable over IPv6 only; the core reports IPv4 `InternalIP`s only, so the
    /// address is left out.
    Ipv6Only(Ipv6Addr),
    /// The server's name did not resolve, or no route: the address is left out.
    Unknown,
}

impl InternalIp {
    /// The value for `NodeProfile::internal_ip`.
    pub fn address(self) -> Option<Ipv4Addr> {
        match self {
            InternalIp::Routed(a) => Some(a),
            InternalIp::Loopback => Some(Ipv4Addr::LOCALHOST),
            InternalIp::Ipv6Only(_) | InternalIp::Unknown => None,
        }
    }
}

/// The `InternalIP` for a board talking to `server` (`None`: no kubeconfig, loopback). IPv4
/// addresses of the server are preferred. A DNS name is resolved here.
pub fn internal_ip(server: Option<&ServerUrl>) -> InternalIp {
    let Some(server) = server else {
        return InternalIp::Loopback;
    };
    let targets: Vec<SocketAddr> = match &server.host {
        ServerHost::Ipv4(a) => vec![(*a, server.port).into()],
        ServerHost::Ipv6(a) => vec![(*a, server.port).into()],
        ServerHost::Dns(name) => match (name.as_str(), server.port).to_socket_addrs() {
            Ok(addrs) => addrs.collect(),
            Err(_) => return InternalIp::Unknown,
        },
    };
    let mut v6 = None;
    for target in targets
        .iter()
        .filter(|t| t.is_ipv4())
        .chain(targets.iter().filter(|t| t.is_ipv6()))
    {
        match local_ip_towards(*target) {
            Some(IpAddr::V4(a)) => return InternalIp::Routed(a),
            Some(IpAddr::V6(a)) => {
                if let Some(mapped) = a.to_ipv4_mapped() {
                    return InternalIp::Routed(mapped);
                }
                v6.get_or_insert(a);
            }
            None => {}
        }
    }
    v6.map_or(InternalIp::Unknown, InternalIp::Ipv6Only)
}
