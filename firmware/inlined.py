#!/usr/bin/env python3
"""Where one function's flash goes: its bytes by the inlined calls they came from.

    firmware/inlined.py ELF SYMBOL [DEPTH] [--top N]

SYMBOL is matched against the demangled names `nm -C` prints: a name ending in SYMBOL, or,
with a leading `^`, a name starting with the rest (e.g. '^picokubelet_core::agent::run::run_agent::<').
Every 2-byte slot of the function (the C extension's instruction granule) is looked up with
`llvm-addr2line -i` in the ELF's DWARF (the release profile keeps `debug = 2`) and counted
under the chain of inlined calls DEPTH levels below the function itself: an async task's poll
function is mostly other functions' state machines inlined into it, which `nm` cannot see.

Needs binutils' nm and LLVM's llvm-addr2line (Debian's `llvm` package: llvm-addr2line-NN).
"""
import collections
import json
import shutil
import subprocess
import sys


def addr2line():
    for name in ["llvm-addr2line"] + [f"llvm-addr2line-{v}" for v in range(30, 13, -1)]:
        if shutil.which(name):
            return name
    sys.exit("inlined.py: no llvm-addr2line on PATH (apt-get install llvm)")


def main():
    args = [a for a in sys.argv[1:]]
    top = 40
    if "--top" in args:
        i = args.index("--top")
        top = int(args[i + 1])
        del args[i : i + 2]
    if len(args) < 2:
        sys.exit(__doc__)
    elf, sym = args[0], args[1]
    depth = int(args[2]) if len(args) > 2 else 1
    prefix = sym[1:] if sym.startswith("^") else None
    nm = subprocess.run(["nm", "-S", "-C", elf], capture_output=True, text=True, check=True)
    found = None
    for line in nm.stdout.splitlines():
        f = line.split(None, 3)
        if len(f) != 4 or f[2] not in "tT":
            continue
        name = f[3].strip()
        if (prefix is not None and name.startswith(prefix)) or (prefix is None and name.endswith(sym)):
            found = (int(f[0], 16), int(f[1], 16), name)
            break
    if found is None:
        sys.exit(f"inlined.py: no function matching {sym!r} in {elf}")
    start, size, name = found
    print(f"{size} B  {name[:160]}")
    slots = "\n".join(hex(a) for a in range(start, start + size, 2))
    out = subprocess.run(
        [addr2line(), "-e", elf, "-f", "-i", "-C", "--output-style=JSON"],
        input=slots,
        capture_output=True,
        text=True,
        check=True,
    )
    bytes_by = collections.Counter()
    for line in out.stdout.splitlines():
        try:
            frames = json.loads(line)["Symbol"]
        except (ValueError, KeyError):
            continue
        chain = [fr["FunctionName"] for fr in frames][::-1]  # outermost first
        key = " > ".join(c[:100] for c in chain[1 : 1 + depth]) or "(the function itself)"
        bytes_by[key] += 2
    for key, n in bytes_by.most_common(top):
        print(f"{n:8d}  {key}")


if __name__ == "__main__":
    main()
