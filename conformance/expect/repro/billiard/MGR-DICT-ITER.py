"""billiard's DictProxy does not expose __iter__: iter(d) falls back to the
sequence protocol, d[0], d[1], ..., and raises KeyError: 0 (or lists values
for int keys 0..n-1); CPython's iterates the keys (MGR-DICT-ITER,
MGR-DICT-ITER-CHANGED-SIZE).
Run: /usr/bin/python3 MGR-DICT-ITER.py [multiprocessing]  (default billiard)."""
import importlib
import sys

mp = importlib.import_module(sys.argv[1] if len(sys.argv) > 1 else 'billiard')

if __name__ == '__main__':
    with mp.get_context('fork').Manager() as m:
        d = m.dict({65: 'A', 66: 'B'})
        try:
            print(f'{mp.__name__}: list(iter(dict proxy)): {list(iter(d))}')
        except Exception as e:  # noqa: BLE001 - what it raises is the point
            print(f'{mp.__name__}: list(iter(dict proxy)) raised {type(e).__name__}: {e}')
            sys.exit(1)
