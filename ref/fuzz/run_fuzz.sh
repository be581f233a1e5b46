#!/usr/bin/env bash
# run_fuzz.sh BUILD_DIR SECONDS TARGET...
# For each target: replay ref/fuzz/regressions/<target>/ and the committed
# corpus (every input once), then fuzz for SECONDS from a working copy of the
# corpus (BUILD_DIR/work/<target>: the committed corpus is not grown).
# Prints execs and execs/s per target; any crash leaves its input in
# BUILD_DIR/artifacts/ and fails the run -- minimise it (-minimize_crash=1)
# and add it to ref/fuzz/regressions/<target>/ once understood.
set -u
bdir=$1; secs=$2; shift 2
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$bdir/artifacts" "$bdir/logs"
# No input of these targets needs more than a few MiB at once: a larger
# malloc is a finding (a length taken from the input and trusted).
common=(-rss_limit_mb=2048 -malloc_limit_mb=64 -timeout=20 -print_final_stats=1)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
fail=0
summary=()
for t in "$@"; do
  bin=$bdir/fuzz_$t
  extra=()
  [ -f "$here/$t.dict" ] && extra+=(-dict="$here/$t.dict")
  [ "$t" = manager ] && extra+=(-close_fd_mask=2) # the server logs each dropped client
  [ "$t" = conn ] && extra+=(-max_len=140000)
  # 1. regressions and corpus, each input once
  regs=("$here/regressions/$t"/*)
  [ -e "${regs[0]}" ] || regs=()
  if ! { { [ ${#regs[@]} = 0 ] || "$bin" "${common[@]}" "${regs[@]}"; } &&
         "$bin" "${common[@]}" -runs=0 "$here/corpus/$t"; } >"$bdir/logs/$t-replay.log" 2>&1; then
    echo "fuzz $t: REPLAY FAILED (regressions/corpus) -- $bdir/logs/$t-replay.log"
    grep -E 'Running:|ERROR|runtime error|check failed|deadly signal|SUMMARY|malloc[(]' "$bdir/logs/$t-replay.log"
    fail=1; replay=FAILED
  else replay=ok
  fi
  nreg=${#regs[@]}
  ncorp=$(ls "$here/corpus/$t" | wc -l)
  # 2. fuzz for a bounded time
  work=$bdir/work/$t
  mkdir -p "$work"
  log=$bdir/logs/$t.log
  "$bin" "${common[@]}" "${extra[@]}" -max_total_time="$secs" \
    -artifact_prefix="$bdir/artifacts/$t-" "$work" "$here/corpus/$t" >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
  if [ $rc -ne 0 ]; then
    echo "fuzz $t: CRASH (rc $rc) -- $log; input: $(ls -t "$bdir/artifacts/$t-"* 2>/dev/null | head -1)"
    grep -m1 -A25 -E 'ERROR|runtime error|check failed|deadly signal' "$log"
    fail=1
  fi
  line="fuzz $t: ${secs}s, ${execs:-?} execs, ${rate:-?} exec/s, ${cov:-cov ?}, corpus $ncorp seeds -> $(ls "$work" | wc -l) in work, $nreg regressions + corpus replayed: $replay, $([ $rc = 0 ] && echo 'no crash' || echo CRASH)"
  echo "$line"; summary+=("$line")
done
printf '%s\n' "${summary[@]}" >"$bdir/summary.txt"
exit $fail
