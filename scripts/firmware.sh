#!/usr/bin/env bash
# Builds the ESP32-C6 and ESP32-C3 release images, as CI runs it, and prints their sizes.
#
#   scripts/firmware.sh [--top N] [--bin]     (arguments go to firmware/build.sh)
#   scripts/firmware.sh --install-espflash --bin   (CI: installs espflash first, ~10 min cold)
#
# Needs Debian's rustc-web + rust-web-src and lld (scripts/setup.sh). Cold: ~9 min (C6) +
# ~5 min (C3) on 2 cores; cache firmware/target to avoid it. The images are built without a
# cluster CA or token (the firmware then refuses to connect); set PK_CA_PEM_FILE etc. to build
# a real one (firmware/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
args=()
for a in "$@"; do
  if [ "$a" = --install-espflash ]; then
    if ! command -v espflash >/dev/null; then
      # espflash's serial support links libudev.
      sudo_cmd=""
      [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
      if ! pkg-config --exists libudev 2>/dev/null; then
        $sudo_cmd apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq libudev-dev pkg-config
      fi
      cargo install espflash --locked --version 4.7.0
    fi
  else
    args+=("$a")
  fi
done
set -- "${args[@]}"
cd firmware
cargo fmt --check
log=$(mktemp)
trap 'rm -f "$log"' EXIT
./build.sh all "$@" 2>&1 | tee "$log"
echo
echo "firmware sizes (flash = image content; static RAM = .data + .bss, heap included):"
grep -E '^(c6|c3): flash' "$log"
grep -E 'espflash|\.bin' "$log" || true
