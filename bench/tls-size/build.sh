#!/bin/sh
set -e
cd "$(dirname "$0")"
F=${1:+--features $1}
RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 RUSTFLAGS="-C linker=/usr/bin/ld.lld -C link-arg=--unresolved-symbols=ignore-all -C link-arg=--gc-sections" \
  /usr/bin/cargo build -q --release -Zbuild-std=core --target riscv32imac-unknown-none-elf $F
python3 sizes.py
