#!/usr/bin/env bash
# The firmware body (the tap board) against an API server, checked: DHCP, DNS, verified TLS,
# Node Ready, renewals, a renumbered network, failover to Wi-Fi, link flaps, the watchdog and
# the flash record's precedence; then the figures (firmware/README.md "The tap board").
#
#   scripts/tap-board.sh [--kubeconfig FILE] [--seconds N] [--quick] [--flaps 5,20,35]
#                        [--boot-only] [--bootstrap] [--node-name NAME] [--work DIR]
#
# Without --kubeconfig it starts the project's test API server (crates/testkit/examples/serve.rs)
# on 127.0.0.1; with it, the API server, CA and credentials of that kubeconfig (the server must
# be on the host's loopback; the board's flash record is made from the kubeconfig with
# `picokubelet provision`; --node-name must be a name its credentials may register). --seconds:
# the steady-state period the figures are measured over (default 60); --quick: the shorter
# scenario set CI runs; --flaps: the link flaps' lengths; --boot-only: boot to Ready, the
# steady state and the wrong-name refusal only (~1 min, a quick look at another server);
# --bootstrap: kubelet TLS bootstrap only (the test server with a bootstrap token: CSR, the
# stored certificate reused at a reboot, a corrupt slot, discovery from a CA hash). Needs
# root, /dev/net/tun, iproute2 and dnsmasq, and kubectl with --kubeconfig (without it the test
# server reports the Node itself); everything it makes stays in one network namespace (deleted
# at the end) and the host's loopback.
#
# TAPBOARD_BIN_DIR: where picokubelet-tapboard and tapboard-harness are already built (the
# cargo test passes its own); otherwise they are built here.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# The arguments, with the paths made absolute (the builds below run in the repository).
kubeconfig=
args=()
while [ $# -gt 0 ]; do
    case "$1" in
    --kubeconfig | --work)
        [ $# -ge 2 ] || { echo "$1 needs a value" >&2; exit 2; }
        path=$(realpath -m -- "$2")
        [ "$1" = --kubeconfig ] && kubeconfig=$path
        args+=("$1" "$path")
        shift 2
        ;;
    *)
        args+=("$1")
        shift
        ;;
    esac
done
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}
# The test server is built with --kubeconfig too: one feature set for the two (built apart, they
# unify dependencies' features differently and each build redoes the other's).
cargo build --locked -q -p picokubelet --bin picokubelet -p picokubelet-testkit --example serve
server=()
[ -n "$kubeconfig" ] || server=(--server "$target/debug/examples/serve")
if [ -z "${TAPBOARD_BIN_DIR:-}" ]; then
    host=$(rustc -vV | sed -n 's/^host: //p')
    (cd firmware/tapboard && cargo build --locked -q --target "$host" --bins)
    TAPBOARD_BIN_DIR=${CARGO_TARGET_DIR:-$root/firmware/tapboard/target}/$host/debug
fi
"$TAPBOARD_BIN_DIR/tapboard-harness" --board "$TAPBOARD_BIN_DIR/picokubelet-tapboard" \
    --picokubelet "$target/debug/picokubelet" "${server[@]}" "${args[@]}" &
harness=$!
# Interrupted: the harness cannot clean up after itself, so its namespace (named after its pid)
# goes here, with what runs in it (the boards, dnsmasq); the test server ends with its stdin.
cleanup() {
    kill "$harness" 2>/dev/null || true
    wait "$harness" 2>/dev/null || true
    ns=pk-tap-$harness
    if ip netns list | grep -qw "$ns"; then
        ip netns pids "$ns" | xargs -r kill 2>/dev/null || true
        ip netns del "$ns" || true
    fi
    exit 130
}
trap cleanup INT TERM
wait "$harness"
