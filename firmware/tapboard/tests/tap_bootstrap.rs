//! kubelet TLS bootstrap on the tap board, as CI runs it: `scripts/tap-board.sh --bootstrap`
//! against the test API server started with a bootstrap token and CSR auto-approval. The board
//! is provisioned with `picokubelet provision --bootstrap-token-file` (no node name, so it
//! derives `<chip>-<mac>`), gets its certificate through a CSR, keeps it in the `pkident`
//! partition of its flash image file and is Ready as `system:node:<chip>-<mac>`; booted again
//! on the same image it reuses the certificate (the server's CSR count does not move); with
//! the newest slot corrupted it says so and asks with the token again; and a second board
//! provisioned with `--discovery-token-ca-cert-hash` (no CA) finds the CA in cluster-info; and
//! a third, on the test server's test-only 40-second certificates, renews at its renewal point
//! with its certificate (a second CSR, a higher slot sequence, the Node Ready again), and its
//! next renewal, denied, sends it back to the bootstrap token (a new identity, Ready).
//!
//! Needs what `tap_harness.rs` needs; skips with the reason otherwise. About 2–3 minutes.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};

use support::skip_reason;

#[test]
fn the_board_bootstraps_its_own_certificate_and_keeps_it() {
    if let Some(reason) = skip_reason() {
        println!("skipped: {reason}");
        return;
    }
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_tapboard-harness"))
        .parent()
        .expect("the harness has a directory");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/tap-board.sh");
    let work = std::env::temp_dir().join(format!("pk-tapboard-boot-{}", std::process::id()));
    let output = Command::new(script)
        .args(["--bootstrap", "--work"])
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
    for check in [
        "✓ bootstrap token → CSR → certificate in pkident → Node Ready as system:node:",
        "✓ the board's requests were taken for its own node user",
        "✓ reboot with the same flash → the stored certificate, no new CSR",
        "✓ a corrupt identity slot → said, and the bootstrap token again",
        "✓ bootstrap token + CA hash (no CA in the record) → discovery → Node Ready",
        "✓ renewal point → a new CSR with the certificate → stored (slot sequence up) → Node Ready; \
         a denied renewal → the bootstrap token → a new identity → Ready",
    ] {
        assert!(
            stdout.lines().any(|l| l.starts_with(check)),
            "no '{check}' in the harness's report"
        );
    }
    let _ = std::fs::remove_dir_all(&work);
}
