# tutorial_manager: 10 children each append 'a', then print the list: 0..4
# followed by k 'a', k being the appends done by then.  append and print are
# two operations (two round trips, in CPython too), so two children may see
# the same k.  What always holds: sorted, the i-th smallest k is at least i
# (the last of those i prints follows i appends), and the largest is 10 (the
# last print follows every append).  The parent then prints the dict and the
# full list, exactly as CPython does.
out=$(cat)
n=$(printf '%s\n' "$out" | wc -l)
[ "$n" -eq 12 ] || { echo "want 12 lines, got $n"; exit 1; }
dline=$(printf '%s\n' "$out" | sed -n 11p)
lline=$(printf '%s\n' "$out" | sed -n 12p)
[ "$dline" = "{1: '1', '2': 2, 0.25: None}" ] || { echo "bad dict line: $dline"; exit 1; }
want="[0, 1, 2, 3, 4, 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a']"
[ "$lline" = "$want" ] || { echo "bad list line: $lline"; exit 1; }
counts=""
while IFS= read -r line; do
  case "$line" in
    "[0, 1, 2, 3, 4"*"]") ;;
    *) echo "bad child line: $line"; exit 1 ;;
  esac
  rest=${line#"[0, 1, 2, 3, 4"}
  rest=${rest%"]"}
  # what remains must be k copies of ", 'a'" with k >= 1
  k=0
  while [ -n "$rest" ]; do
    case "$rest" in
      ", 'a'"*) rest=${rest#", 'a'"}; k=$((k+1)) ;;
      *) echo "bad child line: $line"; exit 1 ;;
    esac
  done
  counts="$counts $k"
done < <(printf '%s\n' "$out" | sed -n 1,10p)
i=0
for k in $(printf '%s\n' $counts | sort -n); do
  i=$((i+1))
  [ "$k" -ge "$i" ] && [ "$k" -le 10 ] || { echo "child counts:$counts (sorted, the i-th must be in i..10)"; exit 1; }
done
[ "$k" -eq 10 ] || { echo "child counts:$counts (the last print must see 10)"; exit 1; }
exit 0
