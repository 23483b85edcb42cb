//! What the harness tests share: whether this machine can run the harness at all.

use std::path::Path;
use std::process::{Command, Stdio};

/// Why the harness cannot run here, if it cannot.
pub fn skip_reason() -> Option<&'static str> {
    // SAFETY: geteuid(2) has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root: network namespaces and TAP devices need CAP_NET_ADMIN");
    }
    if !Path::new("/dev/net/tun").exists() {
        return Some("no /dev/net/tun");
    }
    let runs = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    };
    if !runs("ip", &["-V"]) {
        return Some("no `ip` (iproute2)");
    }
    if !runs("dnsmasq", &["--version"]) {
        return Some("no dnsmasq (Debian: dnsmasq-base; scripts/setup.sh installs it)");
    }
    None
}
