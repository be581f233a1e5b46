# tutorial_pipe: CPython's program prints exactly one line, the str the child
# sent (print() of a str, not its repr: no quotes).
out=$(cat)
[ "$out" = "Hello World" ] || { echo "want exactly 'Hello World', got: $out"; exit 1; }
exit 0
