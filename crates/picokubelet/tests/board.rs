//! The virtual board's identity.
use picokubelet::board::{default_node_name, internal_ip, mac_from_name, InternalIp};
use picokubelet::kubeconfig::parse_server_url;
use picokubelet_core::k8s::name::NodeName;
use proptest::prelude::*;
use std::net::Ipv4Addr;

#[test]
fn default_names() {
    assert_eq!(default_node_name("raspberrypi"), "vb-raspberrypi");
    assert_eq!(
        default_node_name("Bob's MacBook-Pro.local"),
        "vb-bob-s-macbook-pro-local"
    );
    assert_eq!(default_node_name("--"), "vb-host");
    assert_eq!(default_node_name(""), "vb-host");
    assert_eq!(default_node_name("ÜBER_host"), "vb-ber-host");
    let long = default_node_name(&"x".repeat(100));
    assert_eq!(long.len(), 63);
}

proptest! {
    /// Any host name gives a valid node name short enough for the hostname label.
    #[test]
    fn default_name_is_always_valid(host in "\\PC{0,80}") {
        let name = default_node_name(&host);
        prop_assert!(NodeName::new(&name).is_ok(), "{:?} -> {:?}", host, name);
        prop_assert!(name.len() <= 63);
        prop_assert!(name.starts_with("vb-"));
    }
}

#[test]
fn macs_are_stable_local_unicast_and_distinct() {
    let a = mac_from_name("vb-a");
    assert_eq!(a, mac_from_name("vb-a"));
    assert_ne!(a, mac_from_name("vb-b"));
    assert_eq!(a[0] & 0x03, 0x02, "locally administered, unicast");
    let fleet: std::collections::HashSet<[u8; 6]> = (1..=1000)
        .map(|i| mac_from_name(&format!("vb-x-{i:04}")))
        .collect();
    assert_eq!(fleet.len(), 1000);
}

#[test]
fn internal_ip_without_and_with_a_loopback_server() {
    assert_eq!(internal_ip(None), InternalIp::Loopback);
    assert_eq!(internal_ip(None).address(), Some(Ipv4Addr::LOCALHOST));
    // Routing to a loopback server picks the loopback interface (a UDP connect sends nothing).
    let server = parse_server_url("https://127.0.0.1:6443").unwrap();
    assert_eq!(
        internal_ip(Some(&server)),
        InternalIp::Routed(Ipv4Addr::LOCALHOST)
    );
}
