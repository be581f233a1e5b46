"""Intermittent, so NOT in expect/pypy.tsv: PyPy's multiprocessing (its 3.9
standard library) sometimes never completes a map on a Pool with
maxtasksperchild=1 -- about one map in 20 here (the twin timed out in 1 of 2
full runs).  CPython 3.11 completed 20 of 20.  The stacks of a hung twin are
in reports/out/twins-pypy/POOL-INITIALIZER-REPLACEMENT.stderr (the main thread
waits in MapResult.get; the result handler waits for a result that never
comes).
Run: pypy3 POOL-INITIALIZER-REPLACEMENT.py [N]   (N maps, default 30)."""
import multiprocessing as mp
import sys


def init(v):
    global V
    V = v


def f(_):
    return V


if __name__ == '__main__':
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    for k in range(n):
        with mp.Pool(2, initializer=init, initargs=[99], maxtasksperchild=1) as p:
            r = p.map_async(f, range(6), chunksize=1)
            r.wait(10)
            if not r.ready():
                print(f'{sys.implementation.name}: map {k + 1} of {n} still pending after 10 s')
                sys.exit(1)
            p.close()
            p.join()
    print(f'{sys.implementation.name}: {n} maps completed')
