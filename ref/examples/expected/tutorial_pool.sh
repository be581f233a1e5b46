# tutorial_pool: 'end' first (apply_async returns at once while the tasks
# work), then ten lines "-->exec done: N", each N in 100..109 exactly once, in
# completion order (any order).
out=$(cat)
[ "$(printf '%s\n' "$out" | head -1)" = "end" ] || { echo "'end' is not the first line"; exit 1; }
rest=$(printf '%s\n' "$out" | tail -n +2)
[ "$(printf '%s\n' "$rest" | wc -l)" -eq 10 ] || { echo "want 10 lines after 'end'"; exit 1; }
printf '%s\n' "$rest" | grep -Evq '^-->exec done: 10[0-9]$' && { echo "unexpected line"; exit 1; }
[ "$(printf '%s\n' "$rest" | sort -u | wc -l)" -eq 10 ] || { echo "a result repeats"; exit 1; }
exit 0
