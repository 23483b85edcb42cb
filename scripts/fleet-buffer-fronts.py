#!/usr/bin/env python3
# Reads a running fleet's buffer arenas (/proc/PID/mem; root or the same user with ptrace
# allowed) and says, per buffer, how far the boards wrote (the last non-zero byte: the buffer's
# "front"), and how many of the arenas' pages hold a non-zero byte (~ the arenas' RSS).
# BENCHMARKS.md "Fleet", session 7 RSS, gives an invocation; the arguments:
#   PID  BASE (hex start of the arenas' mapping, scripts/fleet-rss-maps.sh shows it)
#   ARENAS (worker threads)  BOARDS (per worker)  STRIDE (bytes per board: 28672, 27904 before)
#   OFFSET (bytes from the mapping's start to the first board: glibc's 16-byte header)
#   FIELDS name:offset:length,... (offsets within a board's buffers)
import sys, statistics
pid, base, arenas, boards, stride, off0 = int(sys.argv[1]), int(sys.argv[2],16), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
fields = [(n, int(o), int(l)) for n, o, l in (f.split(':') for f in sys.argv[7].split(','))]
maplen = -(-(boards*stride + 16)//4096)*4096
fronts = {n: [] for n, _, _ in fields}
pages = 0
with open(f'/proc/{pid}/mem','rb') as m:
    for a in range(arenas):
        start = base + a*maplen + off0
        m.seek(base + a*maplen); whole = m.read(maplen)
        pages += sum(1 for p in range(0, maplen, 4096) if any(whole[p:p+4096]))
        for b in range(boards):
            r = whole[off0 + b*stride: off0 + (b+1)*stride]
            for n, o, l in fields:
                f = r[o:o+l].rstrip(b'\0')
                fronts[n].append(len(f))
for n, _, l in fields:
    v = sorted(fronts[n]); k = len(v)
    print(f'{n:10} len {l:6}  front median {v[k//2]:6} p90 {v[int(k*.9)]:6} max {v[-1]:6}')
print(f'pages with a non-zero byte: {pages} ({pages*4/(arenas*boards):.2f} KiB per board)')
