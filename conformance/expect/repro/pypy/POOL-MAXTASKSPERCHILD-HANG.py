"""PyPy's Pool with maxtasksperchild now and then never completes a map: a
task or its result is lost while workers are replaced, and every thread of
the pool then waits (the main thread in MapResult.get, the result handler in
recv, the task handler for new tasks, the worker handler in wait).  Upstream:
pypy/pypy#3111 (open), "about 1 in 10 runs" of imap_unordered with
maxtasksperchild=1.  Here, 2026-12-05: 1 of 150 maps of POOL-MAXTASKSPERCHILD-
RECYCLE's shape (Pool(2, maxtasksperchild=2), 12 tasks, chunksize 1) hung,
under a load of about 8 on 2 cores; CPython 3.11 and Debian's 3.11: 0 of 250.
Intermittent, so expect/pypy.tsv lists the five twins that run a map on a
pool with maxtasksperchild as `pass|timeout`: each runs once, and either
result is PyPy's.
Run: pypy3 POOL-MAXTASKSPERCHILD-HANG.py [N]   (N maps, default 150; exit 1
if one hung)."""
import multiprocessing as mp
import os
import sys
import time


def t_pid(_):
    return os.getpid()


if __name__ == '__main__':
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 150
    hung, t0 = 0, time.monotonic()
    for k in range(n):
        p = mp.Pool(2, maxtasksperchild=2)
        try:
            p.map_async(t_pid, range(12), chunksize=1).get(10)
        except mp.TimeoutError:
            hung += 1
            print(f'map {k}: not complete after 10 s', flush=True)
        p.terminate()
        p.join()
    print(f'{hung} of {n} maps hung ({time.monotonic() - t0:.0f} s)')
    sys.exit(1 if hung else 0)
