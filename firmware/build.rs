//! 1. Writes a linker map next to the ELF (target/<triple>/<profile>/picokubelet-firmware.map),
//!    so build.sh can attribute flash and RAM to crates and to the Wi-Fi blobs. Emitted here
//!    rather than in .cargo/config.toml rustflags so that the map does not change the
//!    dependencies' fingerprints (a rustflags change rebuilds everything).
//! 2. Embeds the cluster CA: `$OUT_DIR/cluster-ca` holds the file named by `PK_CA_PEM_FILE`
//!    (PEM or DER), else the text of `PK_CA_B64` (base64 of the PEM, as kubeconfig's
//!    `certificate-authority-data`), else nothing. The firmware decodes it at boot with
//!    `picokubelet_core::tls::decode_ca` and refuses to talk to the server without it.
use std::{env, fs, path::PathBuf};

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

    println!("cargo:rerun-if-env-changed=PK_CA_PEM_FILE");
    println!("cargo:rerun-if-env-changed=PK_CA_B64");
    let ca = match (env::var_os("PK_CA_PEM_FILE"), env::var("PK_CA_B64")) {
        (Some(path), _) if !path.is_empty() => {
            println!("cargo:rerun-if-changed={}", PathBuf::from(&path).display());
            fs::read(&path).unwrap_or_else(|e| {
                panic!("PK_CA_PEM_FILE={}: {e}", PathBuf::from(&path).display())
            })
        }
        (_, Ok(b64)) => b64.into_bytes(),
        _ => Vec::new(),
    };
    fs::write(out_dir.join("cluster-ca"), ca).expect("OUT_DIR is writable");
}
