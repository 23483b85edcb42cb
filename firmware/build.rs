//! Writes a linker map next to the ELF (target/<triple>/<profile>/picokubelet-firmware.map), so
//! build.sh can attribute flash and RAM to crates and to the Wi-Fi blobs. Emitted here rather
//! than in .cargo/config.toml rustflags so that the map does not change the dependencies'
//! fingerprints (a rustflags change rebuilds everything).
use std::{env, path::PathBuf};

fn main() {
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    // OUT_DIR = target/<triple>/<profile>/build/<pkg>-<hash>/out
    if let Some(profile_dir) = out_dir.ancestors().nth(3) {
        let map = profile_dir.join("picokubelet-firmware.map");
        // RISC-V links with ld.lld directly; Xtensa (espup) links through gcc, which needs -Wl.
        let prefix = match env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
            Ok("xtensa") => "-Wl,",
            _ => "",
        };
        println!("cargo:rustc-link-arg-bins={prefix}-Map={}", map.display());
    }
    println!("cargo:rerun-if-changed=build.rs");
}
