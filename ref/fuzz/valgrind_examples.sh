#!/usr/bin/env bash
# valgrind_examples.sh [EXAMPLES_DIR]
# Runs every example under valgrind memcheck, following forked children, and
# checks its output with ref/examples/expected/<name>.sh as check.sh does.
# A process with a memory error or a definite leak fails the run; each
# process's report is in EXAMPLES_DIR/valgrind/<name>.<pid>.log.
set -u
export MP_EXAMPLE_FAST=1
dir=${1:-build/examples}
here=$(cd "$(dirname "$0")" && pwd)
exp=$here/../examples/expected
out=$dir/valgrind
rm -rf "$out"; mkdir -p "$out"
fail=0; n=0
for bin in "$dir"/*; do
  [ -f "$bin" ] && [ -x "$bin" ] || continue
  name=$(basename "$bin"); n=$((n+1))
  start=$(date +%s)
  res=$(timeout 300 valgrind -q --tool=memcheck --error-exitcode=1 --leak-check=full \
        --errors-for-leak-kinds=definite --show-leak-kinds=definite --trace-children=yes \
        --child-silent-after-fork=no --log-file="$out/$name.%p.log" "$bin" 2>&1)
  rc=$?
  secs=$(( $(date +%s) - start ))
  procs=$(ls "$out/$name".*.log 2>/dev/null | wc -l)
  # -q leaves only errors ("==pid==" lines) and valgrind's own warnings
  # ("--pid--", e.g. pidfd_open (434), which valgrind 3.19 does not know: the
  # library then takes its fallback path) in a process's log.
  bad=$(grep -l '^==[0-9]*==' "$out/$name".*.log 2>/dev/null)
  warn=$(cat "$out/$name".*.log 2>/dev/null | grep -o 'unhandled amd64-linux syscall: [0-9]*' | sort -u | sed 's/.*: /syscall /' | paste -sd, -)
  outok=ok
  if [ -f "$exp/$name.sh" ] && ! printf '%s\n' "$res" | bash "$exp/$name.sh" >/dev/null 2>&1; then
    outok="output differs from expected/$name.sh"
  fi
  if [ $rc = 0 ] && [ -z "$bad" ] && [ "$outok" = ok ]; then
    echo "valgrind $name: clean ($procs processes, ${secs}s${warn:+; valgrind lacks $warn})"
  else
    echo "valgrind $name: FAILED (rc $rc, $procs processes, ${secs}s; $outok)"; fail=1
    for f in $bad; do echo "  --- $f"; sed 's/^/    /' "$f" | head -60; done
  fi
done
echo "valgrind: $n examples, $([ $fail = 0 ] && echo all clean || echo FAILURES)"
exit $fail
