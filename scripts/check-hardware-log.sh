#!/usr/bin/env bash
# Reads a board's console log (`espflash monitor` output, or the tap board's) and says whether
# the firmware's bring-up passed, and if not, which stage failed and why.
#
#   scripts/check-hardware-log.sh [LOG]      (stdin without LOG)
#
# It reads the `pk-stage` / `pk-summary` lines the firmware body prints (format:
# firmware/README.md "Bring-up stages"; the plan of stages comes from the `boot` line itself).
# Only the last boot in the log is judged; earlier boots are counted (a reset during bring-up
# is a finding: watchdog, panic, brown-out). Anything else on a line (espflash's prefixes,
# colour codes, carriage returns) is ignored.
#
# Exit status: 0 the bring-up passed (`pk-summary ok`); 1 a stage failed (`pk-summary fail`, or
# a `fail` line the log ends on); 2 the log ends before any verdict (no summary yet: cut short,
# or the board hung); 3 no firmware bring-up in the log at all.
set -euo pipefail

log="${1:--}"
if [ "$log" != "-" ] && [ ! -r "$log" ]; then
  echo "check-hardware-log: cannot read '$log'" >&2
  exit 3
fi

# Plain POSIX awk (Debian's mawk): no gensub, no strtonum.
cat -- "$log" | tr -d '\r' | sed 's/\x1b\[[0-9;]*[A-Za-z]//g' | awk '
  function reset_boot() {
    nplan = 0; delete mark; delete detail; summary = ""; summary_line = ""; last_fail = ""
    panicked = 0
  }
  BEGIN { boots = 0; reset_boot(); ever_panicked = 0 }
  /PANIC|panicked at/ { panicked = 1; ever_panicked = 1 }
  {
    i = index($0, "pk-stage ")
    j = index($0, "pk-summary ")
    if (i > 0) {
      line = substr($0, i)
      n = split(line, f, " ")
      if (n < 3) next
      stage = f[2]; verdict = f[3]
      rest = ""
      for (k = 4; k <= n; k++) rest = rest (k > 4 ? " " : "") f[k]
      if (stage == "boot" && verdict == "ok") {
        if (boots > 0 && summary == "") unfinished = unfinished_stage()
        boots++
        reset_boot()
        p = index(rest, "; stages ")
        if (p > 0) nplan = split(substr(rest, p + 9), plan, " ")
        boot_detail = rest
      }
      mark[stage] = verdict; detail[stage] = rest
      if (verdict == "fail") last_fail = stage
      next
    }
    if (j > 0) { summary_line = substr($0, j); split(summary_line, s, " "); summary = s[2]; summary_at = s[5] }
  }
  function unfinished_stage(   k) {
    for (k = 1; k <= nplan; k++) if (mark[plan[k]] != "ok") return plan[k]
    return "?"
  }
  function first_missing(   k) {
    for (k = 1; k <= nplan; k++) if (mark[plan[k]] != "ok") return plan[k]
    return ""
  }
  END {
    if (boots == 0) {
      print "NO BRING-UP: no \"pk-stage boot\" line in the log (wrong serial port, an image without the stage lines, or the board did not start)."
      exit 3
    }
    if (boots > 1) {
      printf "note: %d boots in the log; only the last is judged.", boots
      if (unfinished != "") printf " A boot before it reset during stage \"%s\" (watchdog, panic or power).", unfinished
      print ""
    }
    print "firmware: " boot_detail
    if (summary == "ok") {
      print "PASS: " summary_line
      exit 0
    }
    if (summary == "fail") {
      st = summary_at
      print "FAIL at stage \"" st "\": " summary_line
      if (st in detail && mark[st] == "fail") print "  pk-stage " st " fail " detail[st]
      if (panicked) print "  the firmware panicked (see the PANIC block in the log)."
      exit 1
    }
    missing = first_missing()
    if (panicked) {
      print "FAIL: the firmware panicked during stage \"" missing "\" (see the PANIC block in the log)."
      exit 1
    }
    if (last_fail != "" && mark[last_fail] == "fail") {
      print "FAIL (no summary yet) at stage \"" last_fail "\": " detail[last_fail]
      exit 1
    }
    print "INCOMPLETE: no pk-summary line; the log ends before stage \"" missing "\" reported (log cut short, or the board hung there)."
    exit 2
  }'
