#!/usr/bin/env bash
# The whole test suite, as CI runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
# The firmware's hardware-free decisions (config source, uplink choice), on the host.
firmware/host-tests/test.sh
# The firmware body on Linux (the tap board): its flash image through the body's loader; as root,
# its links, DHCP and the harness against the test API server (scripts/tap-board.sh --quick).
firmware/tapboard/test.sh
echo "test: all green"
