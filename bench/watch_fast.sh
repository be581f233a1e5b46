#!/bin/bash
# watch_fast.sh -- catch the host's "fast state" (bench/README.md: os.ring at
# 120-210 M msg/s instead of 30-80 M) and measure in it.  Every EVERY seconds
# it times the OS ring floor for 0.3 s; when that reads above THRESHOLD M
# msg/s it runs ROUNDS interleaved rounds of the Queue's 64 B bytes stream
# with each mpbench given, the floor timed again at the start of each round.
# One line per probe or round on stdout, "FAST" on the rounds.
#
#   bench/watch_fast.sh NAME=path/to/mpbench ...     (e.g. new=build/bench/mpbench-ref)
#   EVERY=20 THRESHOLD=110 ROUNDS=3 OSFLOOR=build/bench/osfloor  (the defaults)
#
# Runs until killed; keep other work off the machine while it runs.
set -u
EVERY=${EVERY:-20} THRESHOLD=${THRESHOLD:-110} ROUNDS=${ROUNDS:-3}
OSFLOOR=${OSFLOOR:-build/bench/osfloor}
[ $# -ge 1 ] || { echo "usage: $0 NAME=path/to/mpbench ..." >&2; exit 2; }
T=$(mktemp)
trap 'rm -f "$T"' EXIT
# m PROG ARGS...: PROG's first sample in M msg/s, or "error".  The line goes
# to a file and is read after PROG ends: a reader started beside it (python3
# is a slow-starting shim on some machines) would take a CPU from it.
m() {
    "$@" > "$T"
    python3 -c 'import json,sys
try: print("%.1f" % (json.loads(sys.stdin.read())["samples"][0] / 1e6))
except Exception: print("error")' < "$T"
}
ring() { m "$OSFLOOR" stream mech=ring size=64 -t 0.3; }
while :; do
    r=$(ring)
    echo "$(date -u +%T) probe os.ring=$r"
    if [ "$r" != error ] && python3 -c "import sys; sys.exit(0 if $r > $THRESHOLD else 1)"; then
        for ((i = 1; i <= ROUNDS; i++)); do
            line="$(date -u +%T) FAST os.ring=$(ring)"
            for side in "$@"; do
                line="$line ${side%%=*}=$(m "${side#*=}" queue.stream kind=Queue size=64 \
                    producers=1 consumers=1 api=bytes -t 0.5)"
            done
            echo "$line"
        done
    fi
    sleep "$EVERY"
done
