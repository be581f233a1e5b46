# tutorial_queue: CPython's program prints exactly two lines, the repr of the
# list each child put, prefixed by print()'s 'data1:' and 'data2:'.
out=$(cat)
want="data1: [42, None, 'hello']
data2: [42, None, 'hello']"
[ "$out" = "$want" ] || { echo "want:"; echo "$want"; echo "got:"; echo "$out"; exit 1; }
exit 0
