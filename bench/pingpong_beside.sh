#!/bin/bash
# pingpong_beside.sh -- ref's Pipe and Event ping-pong started quietly, and
# beside other work (the top-level README, "The Pipe's slow episodes").  A
# polling pair needs both CPUs of a 2-CPU machine: when other processes take
# one, the two share the other, each sched_yield() handing it to its peer,
# and a round trip costs about what the blocking socketpair's does.  A script
# that pipes each short invocation into an interpreter slow to start (pyenv's
# python3 shim runs several processes first: about 0.4 s) times that.
#
# Per round, 0.3 s invocations of the blocking socketpair, ref's Pipe and
# ref's Event, each three ways: quiet (the JSON line to a file, read after
# the invocation ends, as bench/run.py does), beside a burst of 100 runs of
# /bin/true started with it, and piped into `python3` as the hand-made A/B
# scripts did (which costs nothing where python3 is not a shim).  Prints us
# per round trip.
#
#   bench/pingpong_beside.sh [ROUNDS]        (from the checkout, after `make`)
set -u
R=${1:-5}
MPB=${MPB:-build/bench/mpbench-ref} OSF=${OSF:-build/bench/osfloor}
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
US='import json, sys
try: print("%.1f" % (json.loads(sys.stdin.read())["samples"][0] * 1e6))
except Exception: print("error")'
burst() { for ((k = 0; k < 100; k++)); do /bin/true; done; }
quiet() { "$@" > "$d/o"; /usr/bin/env python3 -c "$US" < "$d/o"; }
beside() {
    burst &
    "$@" > "$d/o"
    wait
    /usr/bin/env python3 -c "$US" < "$d/o"
}
piped() { "$@" | python3 -c "$US"; }
s=$EPOCHREALTIME
burst
e=$EPOCHREALTIME
echo "# $(date -u +%FT%TZ) $(nproc) CPUs; the burst alone: $(awk "BEGIN { printf \"%.2f s\", $e - $s }"); python3 is $(command -v python3)"
for ((i = 1; i <= R; i++)); do
    line="$(date -u +%T) r$i"
    for w in socketpair pipe event; do
        case $w in
        socketpair) cmd=("$OSF" pingpong mech=sockbuf size=64 -t 0.3) ;;
        pipe) cmd=("$MPB" pipe.pingpong duplex=true api=bytes size=64 -t 0.3) ;;
        event) cmd=("$MPB" event.pingpong -t 0.3) ;;
        esac
        line="$line  $w quiet=$(quiet "${cmd[@]}") beside=$(beside "${cmd[@]}") piped=$(piped "${cmd[@]}")"
    done
    echo "$line"
done
