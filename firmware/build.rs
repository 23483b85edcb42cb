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
        println!("cargo:rustc-link-arg-bins=-Map={}", map.display());
    }
    println!("cargo:rerun-if-changed=build.rs");
}
