#!/usr/bin/env bash
# Runs every example and compares its output with the rules in
# ref/examples/expected/<name>.sh (a script reading the output on stdin).
set -u
# Examples that sleep to model work (the pool example) use short sleeps here.
export MP_EXAMPLE_FAST=1
dir=${1:-build/examples}
here=$(dirname "$0")
fail=0; n=0
for exp in "$here"/expected/*.sh; do
  [ -e "$exp" ] || continue
  name=$(basename "$exp" .sh); n=$((n+1))
  if out=$(timeout 60 "$dir/$name" 2>&1) && printf '%s\n' "$out" | bash "$exp"; then
    echo "example $name: ok"
  else
    echo "example $name: FAILED"; printf '%s\n' "$out" | sed 's/^/    /' | head -40; fail=1
  fi
done
echo "examples: $n checked, $([ $fail = 0 ] && echo all ok || echo FAILURES)"
exit $fail
