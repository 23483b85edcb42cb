#!/usr/bin/env bash
# Builds the firmware and reports its size.
#
#   firmware/build.sh [c6|c3|all] [--top N] [--bin]
#
#   c6 (default)  ESP32-C6, riscv32imac-unknown-none-elf, --features esp32c6
#   c3            ESP32-C3, riscv32imc-unknown-none-elf, --no-default-features --features esp32c3
#   all           both
#   --top N       also list the N biggest contributors (Wi-Fi blobs per library from the linker
#                 map, Rust code per crate from the symbol table)
#   --bin         also write a flashable image with `espflash save-image --partition-table
#                 partitions.csv` (if espflash exists)
#
# The ESP32-S3 (Xtensa) cannot be built with Debian's rustc; use Espressif's toolchain (espup):
#   cargo +esp build --release --target xtensa-esp32s3-none-elf --no-default-features --features esp32s3
#
# Uses Debian's rustc/cargo (rustup's have no riscv targets here) and only binutils (readelf, nm)
# for the report (plain POSIX awk: Debian's default mawk has no strtonum).
#   flash      = every allocated PROGBITS section (code, rodata, .data initialisers, IRAM code,
#                app descriptor) except .text_gap (alignment padding, not image content)
#   static RAM = .data* + .bss* (+ RTC RAM), NOT the linker's .stack reservation (all RAM left over)
#   RAM code   = .trap + .rwtext* (code copied to SRAM at boot; on the C3/C6 it shares the SRAM)
#   reclaimed  = .dram2_uninit (heap in RAM the 2nd-stage bootloader used; free after boot)
set -euo pipefail
cd "$(dirname "$0")"

chips=()
top=0
want_bin=0
while [ $# -gt 0 ]; do
  case "$1" in
    c6|c3) chips+=("$1") ;;
    all) chips+=(c6 c3) ;;
    --top) top="$2"; shift ;;
    --bin) want_bin=1 ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift
done
[ ${#chips[@]} -gt 0 ] || chips=(c6)

export RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1
CARGO=/usr/bin/cargo

report() {
  local chip="$1" elf="$2" map="$3"
  readelf -SW "$elf" | sed -n 's/^ *\[ *[0-9]*\] *//p' | awk -v chip="$chip" '
    function hex(s,   i, c, v) { v = 0; s = tolower(s); for (i = 1; i <= length(s); i++) { c = index("0123456789abcdef", substr(s, i, 1)); if (c == 0) break; v = v * 16 + c - 1 }; return v }
    # name type addr off size es flg ...
    NF >= 7 && $1 != "NULL" {
      name = $1; type = $2; size = hex($5); flags = $7
      if (flags !~ /A/) next
      if (type == "PROGBITS" && name != ".text_gap") flash += size
      if (name ~ /^\.(data|bss)/ || name ~ /^\.rtc_(fast|slow)\.(data|bss|persistent)/) ram += size
      if (name == ".trap" || name ~ /^\.rwtext/) iram += size
      if (name == ".dram2_uninit") reclaimed += size
      if (name == ".stack") stack += size
    }
    END {
      printf "%s: flash %d B (%.1f KiB) | static RAM %d B (%.1f KiB) + RAM code %d B (%.1f KiB) | reclaimed heap %d B | stack reservation %d B (not counted)\n",
        chip, flash, flash / 1024, ram, ram / 1024, iram, iram / 1024, reclaimed, stack
    }'
  if [ "$top" -gt 0 ]; then
    if [ -f "$map" ]; then
      echo "  biggest libraries (linker map): flash bytes, static RAM bytes, library (all Rust is one LTO object)"
      # lld map columns: VMA LMA Size Align (33 chars), then the output section at column 34,
      # input sections ("path:(section)") indented by 8 more, symbols by 16 (ignored).
      awk '
        function hex(s,   i, c, v) { v = 0; s = tolower(s); for (i = 1; i <= length(s); i++) { c = index("0123456789abcdef", substr(s, i, 1)); if (c == 0) break; v = v * 16 + c - 1 }; return v }
        substr($0, 34, 1) != " " { out = $5; next }
        substr($0, 34, 8) == "        " && substr($0, 42, 1) != " " {
          size = hex($3); file = $5
          sub(/:\(.*$/, "", file); sub(/\(.*$/, "", file)
          n = split(file, parts, "/"); file = parts[n]
          if (file ~ /\.rcgu\.o$|\.rlib$/) file = "Rust (all crates, fat LTO)"
          if (out == ".text_gap" || out == ".stack" || out == ".dram2_uninit") next
          isflash = (out ~ /^\.(trap|rwtext|data|flash\.appdesc|rodata|text|rtc_fast\.(text|data))/)
          isram = (out ~ /^\.(data|bss)/)
          if (isflash) flash[file] += size
          if (isram) ram[file] += size
          if (isflash || isram) seen[file] = 1
        }
        END { for (f in seen) if (flash[f] + ram[f] > 0) printf "%10d %10d  %s\n", flash[f], ram[f], f }' "$map" | sort -rn | head -n "$top"
    fi
    echo "  biggest contributors by symbol (nm): flash bytes, static RAM bytes, crate (first path segment)"
    nm -S -C --size-sort "$elf" 2>/dev/null | awk '
      function hex(s,   i, c, v) { v = 0; s = tolower(s); for (i = 1; i <= length(s); i++) { c = index("0123456789abcdef", substr(s, i, 1)); if (c == 0) break; v = v * 16 + c - 1 }; return v }
      NF >= 4 {
        size = hex($2); t = tolower($3); name = $4
        for (i = 5; i <= NF; i++) name = name " " $i
        sub(/^[<&]+/, "", name); sub(/^(dyn|mut) /, "", name)
        crate = name
        if (crate ~ /::/) sub(/::.*/, "", crate); else crate = "(C symbols: Wi-Fi/PHY blobs, ROM glue)"
        if (t == "t" || t == "r" || t == "d") flash[crate] += size
        if (t == "d" || t == "b") ram[crate] += size
        seen[crate] = 1
      }
      END { for (c in seen) printf "%10d %10d  %s\n", flash[c], ram[c], c }' | sort -rn | head -n "$top"
  fi
}

for chip in "${chips[@]}"; do
  case "$chip" in
    c6) target=riscv32imac-unknown-none-elf; features=(--features esp32c6); esp=esp32c6 ;;
    c3) target=riscv32imc-unknown-none-elf; features=(--no-default-features --features esp32c3); esp=esp32c3 ;;
  esac
  start=$(date +%s)
  $CARGO build --release --locked --target "$target" "${features[@]}"
  echo "build.sh: $chip built in $(( $(date +%s) - start )) s"
  elf="target/$target/release/picokubelet-firmware"
  report "$chip" "$elf" "target/$target/release/picokubelet-firmware.map"
  if [ "$want_bin" -eq 1 ]; then
    if command -v espflash >/dev/null; then
      espflash save-image --chip "$esp" --partition-table partitions.csv "$elf" "target/$target/release/picokubelet-firmware-$chip.bin"
      ls -l "target/$target/release/picokubelet-firmware-$chip.bin"
    else
      echo "build.sh: espflash not installed (cargo install espflash --locked), no .bin written"
    fi
  fi
done
