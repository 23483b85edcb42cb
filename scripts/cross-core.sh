#!/usr/bin/env bash
# Proves picokubelet-core is no_std and alloc-free by building it for bare-metal RISC-V
# (ESP32-C6: riscv32imac, ESP32-C3: riscv32imc) with Debian's rustc and -Zbuild-std=core
# (no alloc in the sysroot: any `extern crate alloc`/`std` fails to build).
set -euo pipefail
cd "$(dirname "$0")/.."
for target in riscv32imac-unknown-none-elf riscv32imc-unknown-none-elf; do
  RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 /usr/bin/cargo build --release --locked \
    -p picokubelet-core --target "$target" -Zbuild-std=core \
    --target-dir target/cross
  echo "cross-core: picokubelet-core builds for $target (core only, no alloc, no std)"
done
