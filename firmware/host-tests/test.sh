#!/usr/bin/env bash
# Host tests of the firmware's hardware-free decisions (see src/lib.rs). The firmware's
# .cargo/config.toml (one directory up) sets a RISC-V default target, hence the explicit host
# target here.
set -euo pipefail
cd "$(dirname "$0")"
host=$(rustc -vV | sed -n 's/^host: //p')
cargo clippy --locked --all-targets --target "$host" -- -D warnings
cargo test --locked --target "$host" "$@"
