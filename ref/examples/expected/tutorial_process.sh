#!/usr/bin/env bash
# tutorial_process: main's info block, then the child's, then "hello bob";
# the child's parent is the main process.
mapfile -t L
fail() { echo "tutorial_process: $*" >&2; exit 1; }
[ ${#L[@]} -eq 9 ] || fail "want 9 lines, got ${#L[@]}"
[ "${L[0]}" = "main line" ] || fail "line 1: ${L[0]}"
[ "${L[4]}" = "function f" ] || fail "line 5: ${L[4]}"
[ "${L[8]}" = "hello bob" ] || fail "line 9: ${L[8]}"
for i in 1 5; do [ "${L[$i]}" = "module name: __main__" ] || fail "line $((i+1)): ${L[$i]}"; done
num() { [[ "$1" =~ ^$2\ ([0-9]+)$ ]] || fail "bad line: $1"; echo "${BASH_REMATCH[1]}"; }
main_ppid=$(num "${L[2]}" "parent process:") || exit 1
main_pid=$(num "${L[3]}" "process id:") || exit 1
child_ppid=$(num "${L[6]}" "parent process:") || exit 1
child_pid=$(num "${L[7]}" "process id:") || exit 1
[ "$child_ppid" = "$main_pid" ] || fail "child's parent $child_ppid is not the main process $main_pid"
[ "$child_pid" != "$main_pid" ] || fail "f ran in the main process"
[ "$main_ppid" != "$main_pid" ] || fail "main's parent equals its pid"
exit 0
