//! The harness, as CI runs it: `scripts/tap-board.sh --quick` against the project's test API
//! server, with this build's tap board and harness. Every check it prints must pass: DHCP,
//! DNS, the verified certificate (and a wrong name refused), Node Ready with taint and heap annotation, renewals, a
//! status push, a renumbered network, failover to Wi-Fi and the cable's return, link flaps of
//! 5 s and 35 s, the watchdog, the flash record's precedence. About 2.5 minutes, most of it the
//! flaps' and the steady state's real time.
//!
//! Needs root, `/dev/net/tun`, iproute2 and dnsmasq (and cargo, to build the test server and
//! `picokubelet` in the root workspace); skips with the reason otherwise. The Node is read with
//! kubectl where there is one, else through the test server's own view.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};

use support::skip_reason;

#[test]
fn the_board_against_the_test_api_server() {
    if let Some(reason) = skip_reason() {
        println!("skipped: {reason}");
        return;
    }
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_tapboard-harness"))
        .parent()
        .expect("the harness has a directory");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/tap-board.sh");
    let work = std::env::temp_dir().join(format!("pk-tapboard-ci-{}", std::process::id()));
    let output = Command::new(script)
        .args(["--quick", "--seconds", "20", "--work"])
        .arg(&work)
        .env("TAPBOARD_BIN_DIR", bin_dir)
        .stderr(Stdio::inherit())
        .output()
        .expect("scripts/tap-board.sh runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    let failed: Vec<&str> = stdout.lines().filter(|l| l.starts_with('✗')).collect();
    assert!(
        failed.is_empty() && output.status.success(),
        "the harness failed ({}): {failed:#?}; logs in {}",
        output.status,
        work.display()
    );
    // The scenarios the quick set promises all ran.
    for check in [
        "✓ DHCP lease → that address is the Node's InternalIP",
        "✓ certificate verified against the cluster CA",
        "✓ a certificate that does not name the server → no session",
        "✓ renewals on time",
        "✓ the DHCP server hands out a new address → InternalIP follows",
        "✓ Ethernet carrier down → the agent moves to the Wi-Fi uplink and stays Ready",
        "✓ link flap of 35 s on the only uplink",
        "✓ the executor starved → the watchdog rule trips (exit 3)",
        "✓ pkconfig: a corrupt record, incomplete defaults → the board stops",
    ] {
        assert!(
            stdout.lines().any(|l| l.starts_with(check)),
            "no '{check}' in the harness's report"
        );
    }
    let _ = std::fs::remove_dir_all(&work);
}
