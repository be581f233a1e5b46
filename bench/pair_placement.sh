#!/bin/bash
# pair_placement.sh -- what a fresh ping-pong pair costs before the kernel
# puts its two processes on two CPUs (README, "Slow starts").
# On a machine whose CPUs share no cache the kernel knows of (here: no
# /sys/devices/system/cpu/cpu0/cache), a wake-up through a pipe or socket
# puts the woken process on its waker's CPU; a pair that then polls with
# sched_yield() sleeps no more, and stays on that CPU, each yield handing it
# to the other, until the load balancer moves one of them.
#
# Prints, for ROUNDS rounds, ref's Pipe and Event ping-pong in short (0.3 s)
# and long (2 s) invocations beside the blocking socketpair's, then the
# course of two longer invocations of each, in 50 ms windows.  (A scheduler
# trace such as `perf record -e sched:sched_switch -a` can show the pair on
# one CPU, but perf's own work at the start changes where the kernel puts the
# pair: most traced runs here were split at once.)
#
#   bench/pair_placement.sh [ROUNDS]        (from the checkout, after `make`)
set -u
R=${1:-5}
MPB=${MPB:-build/bench/mpbench-ref} OSF=${OSF:-build/bench/osfloor}
us() { python3 -c 'import json,sys
try: print("%.1f" % (json.loads(sys.stdin.read())["samples"][0] * 1e6))
except Exception: print("error")'; }
echo "# $(date -u +%FT%TZ) $(uname -r) $(nproc) CPUs; cache info: $(ls /sys/devices/system/cpu/cpu0/cache 2>/dev/null | tr '\n' ' ' || true)"
for ((i = 1; i <= R; i++)); do
    line="$(date -u +%T) r$i socketpair=$($OSF pingpong mech=sockbuf size=64 -t 0.3 | us)"
    for t in 0.3 2; do
        line="$line pipe-t$t=$($MPB pipe.pingpong duplex=true api=bytes size=64 -t $t | us)"
        line="$line event-t$t=$($MPB event.pingpong -t $t | us)"
    done
    echo "$line  (us per round trip)"
done
# course(ARGS): one invocation's round trips in 50 ms windows (its sample
# only: an untimed warm-up round of a tenth of n comes first).
course() {
    "$MPB" "$@" -s 1 | python3 -c 'import json,sys
raw, t, ws, wn, out = json.load(sys.stdin)["raw_ns"][0], 0, 0, 0, []
for x in raw:
    t, ws, wn = t + x, ws + x, wn + 1
    if ws >= 50e6:
        out.append("%d:%.1f" % (t / 1e6, ws / wn / 1e3))
        ws = wn = 0
print(" ".join(out[:16]))'
}
for k in 1 2; do
    echo "$(date -u +%T) pipe n=100000, ms:us per round trip: $(course pipe.pingpong duplex=true api=bytes size=64 -n 100000)"
    echo "$(date -u +%T) event n=400000, ms:us per round trip: $(course event.pingpong -n 400000)"
done
