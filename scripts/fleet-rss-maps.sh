#!/bin/sh
# A process's mappings with more than 1 MiB resident: size, Rss (KiB), name. For a fleet:
# the buffer arenas (one anonymous mmap per worker thread, often merged into one range), the
# worker threads' malloc arenas (64 MiB reservations: the boards' task futures and slots), the
# main [heap]. Usage: scripts/fleet-rss-maps.sh PID
awk '/^[0-9a-f]+-[0-9a-f]+ /{split($1,a,"-"); name=$6; range=$1} /^Size:/{size=$2} /^Rss:/{if ($2>1024) printf "%-30s size %8d KiB rss %8d KiB %s\n", range, size, $2, name}' /proc/$1/smaps
grep -E "VmRSS|RssAnon|Threads" /proc/$1/status
