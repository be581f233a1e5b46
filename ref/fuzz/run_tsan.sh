#!/usr/bin/env bash
# run_tsan.sh DRIVER...  Runs each ThreadSanitizer driver; any TSan report
# (exit 66) or failed check fails the run.
set -u
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:exitcode=66:second_deadlock_stack=1}
fail=0
for d in "$@"; do
  log=$d.log
  start=$(date +%s.%N)
  timeout 300 "$d" >"$log" 2>&1; rc=$?
  t=$(printf '%.1f' "$(echo "$(date +%s.%N) - $start" | bc)")
  if [ $rc = 0 ] && ! grep -q 'WARNING: ThreadSanitizer' "$log"; then
    echo "tsan $(basename "$d"): ok (${t}s)"
  else
    echo "tsan $(basename "$d"): FAILED (rc $rc, ${t}s) -- $log"
    grep -m1 -A30 -E 'WARNING: ThreadSanitizer|REQUIRE failed' "$log"; fail=1
  fi
done
exit $fail
