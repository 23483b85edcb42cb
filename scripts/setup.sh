#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian 12 machine with rustup's stable toolchain:
# Debian's rustc-web/cargo-web/rust-web-src (1.96 with library sources) for the no_std
# cross builds (-Zbuild-std), lld to link them, and dnsmasq for the tap board's tests.
set -euo pipefail
need=()
[ -x /usr/bin/cargo ] || need+=(cargo-web)
[ -x /usr/bin/rustc ] || need+=(rustc-web)
[ -d /usr/lib/rustlib/src/rust/library/core ] || need+=(rust-web-src)
command -v ld.lld >/dev/null || need+=(lld)
# DHCP + DNS server of the tap board's network tests (firmware/tapboard/tests/tap_dhcp.rs);
# -base: the binary only, no service started.
command -v dnsmasq >/dev/null || need+=(dnsmasq-base)
if [ ${#need[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need[@]}"
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true
cargo fetch --locked 2>/dev/null || cargo fetch
echo "setup: ok ($(/usr/bin/rustc --version))"
