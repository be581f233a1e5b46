# tutorial_lock: exactly ten lines "hello world <i>", each i in 0..9 once,
# in any order (the processes race for the lock), none torn.
out=$(cat)
[ "$(printf '%s\n' "$out" | wc -l)" -eq 10 ] || { echo "want 10 lines"; exit 1; }
printf '%s\n' "$out" | grep -Evq '^hello world [0-9]$' && { echo "torn or unexpected line"; exit 1; }
[ "$(printf '%s\n' "$out" | sort -u | wc -l)" -eq 10 ] || { echo "a number repeats"; exit 1; }
exit 0
