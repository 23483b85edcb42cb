#!/usr/bin/env bash
# The tap board (the firmware body on Linux): clippy, and its tests: the flash image through the
# body's configuration loader (no network); as root, the links, DHCP/DNS/TCP and the harness
# against the test API server (scripts/tap-board.sh --quick, ~2.5 min) and, with --kubeconfig,
# against a second server process (--boot-only, ~1 min), in network namespaces.
# The firmware's .cargo/config.toml (one directory up) sets a RISC-V default target, hence the
# explicit host target here.
set -euo pipefail
cd "$(dirname "$0")"
host=$(rustc -vV | sed -n 's/^host: //p')
cargo fmt --check
cargo clippy --locked --all-targets --target "$host" -- -D warnings
cargo test --locked --target "$host" "$@"
