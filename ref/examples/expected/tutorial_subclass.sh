#!/usr/bin/env bash
# tutorial_subclass: run() printed the greetings in the child, whose pid the
# main reports and whose parent is the main process.
mapfile -t L
fail() { echo "tutorial_subclass: $*" >&2; exit 1; }
[ ${#L[@]} -eq 4 ] || fail "want 4 lines, got ${#L[@]}"
[ "${L[0]}" = "Greeter-1: hello alice (1)" ] || fail "line 1: ${L[0]}"
[ "${L[1]}" = "Greeter-1: hello alice (2)" ] || fail "line 2: ${L[1]}"
[[ "${L[2]}" =~ ^Greeter-1:\ pid\ ([0-9]+),\ parent\ ([0-9]+)$ ]] || fail "line 3: ${L[2]}"
cpid=${BASH_REMATCH[1]} cparent=${BASH_REMATCH[2]}
[[ "${L[3]}" =~ ^main:\ Greeter-1\ \(pid\ ([0-9]+)\)\ exited\ with\ 0\;\ main\ pid\ ([0-9]+)$ ]] || fail "line 4: ${L[3]}"
[ "${BASH_REMATCH[1]}" = "$cpid" ] || fail "main saw pid ${BASH_REMATCH[1]}, child is $cpid"
[ "${BASH_REMATCH[2]}" = "$cparent" ] || fail "child's parent $cparent is not main ${BASH_REMATCH[2]}"
[ "$cpid" != "$cparent" ] || fail "run() ran in the main process"
exit 0
