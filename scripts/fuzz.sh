#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/, one at a time, each to a number of executions or a time
# budget, and prints a markdown table of executions, crashes and coverage (libFuzzer's own
# figures). The corpus of each target is kept, minimised, in fuzz/corpus/<target> (committed);
# a crash stops the run and leaves its input in fuzz/artifacts/<target>/.
#
#   scripts/fuzz.sh [--runs N] [--time SECONDS] [--write FILE] [--no-cmin] [TARGET...]
#
#   --runs N        executions per target (default 10000000)
#   --time SECONDS  wall-time cap per target (default none; whichever comes first)
#   --write FILE    also write the table to FILE
#   --no-cmin       keep the corpus as the run left it (default: minimise with cargo fuzz cmin)
#   --sanitizer S   none (default) or address. Everything fuzzed is safe Rust (the core forbids
#                   unsafe; vendor/embedded-tls has one pointer subtraction), so AddressSanitizer
#                   adds little and halves the executions; a panic is a crash either way.
#
# cargo-fuzz needs nightly flags (-Zsanitizer); the stable toolchain accepts them with
# RUSTC_BOOTSTRAP=1, so no nightly install is needed. One fuzzer process, single-threaded: the
# machine is shared.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

runs=10000000
time_budget=0
write=""
cmin=1
sanitizer=none
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs="$2"; shift 2 ;;
        --time) time_budget="$2"; shift 2 ;;
        --write) write="$2"; shift 2 ;;
        --no-cmin) cmin=0; shift ;;
        --sanitizer) sanitizer="$2"; shift 2 ;;
        -h|--help) sed -n 2,19p "$0"; exit 0 ;;
        -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
        *) targets+=("$1"); shift ;;
    esac
done

export RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: cargo-fuzz is missing; installing it (cargo install cargo-fuzz --locked)" >&2
    cargo install cargo-fuzz --locked
fi
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list)
fi

# Largest input per target: a TLS flight with a certificate chain needs more than a response head.
max_len() {
    case "$1" in
        tls_server_records) echo 16384 ;;
        *) echo 4096 ;;
    esac
}

# Read-only seed directories, used besides the target's own corpus.
seeds() {
    case "$1" in
        http_head|http_reader|http_body|json_extract) echo ../testdata/k8s/recorded-compact ;;
    esac
}

# 10000000 -> 10,000,000
commas() { echo "$1" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta'; }

mkdir -p logs
rows=()
status=0
for t in "${targets[@]}"; do
    corpus="corpus/$t"
    mkdir -p "$corpus" "artifacts/$t"
    seed_dirs=()
    for s in $(seeds "$t"); do [ -d "$s" ] && seed_dirs+=("$s"); done
    flags=(-runs="$runs" -max_len="$(max_len "$t")" -print_final_stats=1 -timeout=10
           -rss_limit_mb=2048)
    [ "$time_budget" -gt 0 ] && flags+=(-max_total_time="$time_budget")
    cmd="cargo fuzz run -O -s $sanitizer $t $corpus -- ${flags[*]}"
    echo "== $t: $cmd" >&2
    cargo fuzz build -O -s "$sanitizer" "$t" >&2
    log="logs/$t.log"
    start=$(date +%s)
    rc=0
    cargo fuzz run -O -s "$sanitizer" "$t" "$corpus" "${seed_dirs[@]}" -- "${flags[@]}" >"$log" 2>&1 || rc=$?
    wall=$(( $(date +%s) - start ))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    crashes=$(find "artifacts/$t" -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' \) | wc -l)
    if [ "$rc" -ne 0 ] || [ "$crashes" -gt 0 ]; then
        echo "fuzz.sh: $t FAILED (exit $rc); log $PWD/$log; artifacts:" >&2
        find "artifacts/$t" -type f >&2
        grep -m1 -A25 -E 'panicked|ERROR: libFuzzer|SUMMARY' "$log" >&2 || tail -30 "$log" >&2
        status=1
    fi
    if [ "$cmin" -eq 1 ] && [ "$rc" -eq 0 ]; then
        cargo fuzz cmin -O -s "$sanitizer" "$t" "$corpus" -- -max_len="$(max_len "$t")" >"logs/$t.cmin.log" 2>&1
    fi
    files=$(find "$corpus" -type f | wc -l)
    size=$(( ( $(find "$corpus" -type f -exec cat {} + | wc -c) + 1023 ) / 1024 ))
    rows+=("| \`$t\` | $(commas "${execs:-0}") | $(commas "${rate:-0}") | $crashes | ${cov:-?} | ${ft:-?} | $files ($size KiB) | ${wall} s |")
    [ "$status" -ne 0 ] && break
done

table=$(
    echo "Command: \`scripts/fuzz.sh --runs $runs$([ "$time_budget" -gt 0 ] && echo " --time $time_budget")\`" \
        "(each target: \`cargo fuzz run -O -s $sanitizer <target> corpus/<target> -- -runs=$runs -max_len=<4096, 16384 for TLS>\`," \
        "RUSTC_BOOTSTRAP=1, stable $(rustc --version | cut -d' ' -f2), sanitizer $sanitizer, one process), $(date -u +%Y-%m-%d)"
    echo
    echo "| target | executions | exec/s | crashes | cov (edges) | ft (features) | corpus after cmin | wall |"
    echo "|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
)
echo "$table"
[ -n "$write" ] && echo "$table" >"$write"
exit "$status"
