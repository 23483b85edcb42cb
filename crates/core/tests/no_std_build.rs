//! The core must build where there is no `std` and no `alloc`: bare-metal RISC-V with only
//! `core` in the sysroot (Debian's rustc-web + `-Zbuild-std=core`, installed by
//! scripts/setup.sh). A dependency that pulls in `std`, or an `extern crate alloc`, fails here.
use std::path::Path;
use std::process::Command;

#[test]
fn core_builds_for_bare_metal_riscv_without_std_or_alloc() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    assert!(
        Path::new("/usr/bin/cargo").exists()
            && Path::new("/usr/lib/rustlib/src/rust/library/core").exists(),
        "Debian's cargo-web/rust-web-src are missing: run scripts/setup.sh"
    );
    let out = Command::new(repo.join("scripts/cross-core.sh"))
        .output()
        .expect("scripts/cross-core.sh runs");
    assert!(
        out.status.success(),
        "no_std build failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    for target in [
        "riscv32imac-unknown-none-elf",
        "riscv32imc-unknown-none-elf",
    ] {
        assert!(stdout.contains(target), "{target} not built:\n{stdout}");
    }
}
