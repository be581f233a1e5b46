"""A billiard process that ends with a Pool still running (no close, no
join) often does not exit: at exit billiard terminates the pool, and that
waits 30 s when a worker ran a chunk credited to another (the defect of
POOL-JOIN-AFTER-MAP.py; it depends on how the chunks fell, so this tries up
to 16 children and stops at the first stuck one).  CPython's child exits 0 in
well under a second, its workers gone (POOL-LIVE-AT-EXIT).
Run: /usr/bin/python3 POOL-LIVE-AT-EXIT.py [multiprocessing]  (default billiard)."""
import importlib
import os
import signal
import sys
import time

mp = importlib.import_module(sys.argv[1] if len(sys.argv) > 1 else 'billiard')
STUCK = 10.0  # seconds


def sq(x):
    return x * x


def child(exit_mode, w):
    p = mp.Pool(2)
    assert p.map(sq, range(8), chunksize=1) == [i * i for i in range(8)]
    w.send([x.pid for x in p._pool])
    w.close()
    # ends with the pool running (returning, or sys.exit(0)): the exit must end it
    if exit_mode:
        sys.exit(0)


if __name__ == '__main__':
    for attempt in range(1, 17):
        r, w = mp.Pipe(False)
        c = mp.Process(target=child, args=(attempt % 2, w))
        t0 = time.monotonic()
        c.start()
        w.close()
        if not r.poll(STUCK):
            print(f'attempt {attempt}: the child sent no worker pids in {STUCK} s (stuck in its map)',
                  flush=True)
            os.kill(c.pid, signal.SIGKILL)  # billiard's Process has no kill()
            sys.exit(1)
        r.recv()
        c.join(STUCK)
        took = time.monotonic() - t0
        if c.exitcode is None:
            print(f'attempt {attempt}: the child has not exited after {took:.1f} s (pool left running)',
                  flush=True)
            os.kill(c.pid, signal.SIGKILL)  # billiard's Process has no kill()
            c.join()
            sys.exit(1)
        print(f'attempt {attempt}: exited {c.exitcode} in {took:.2f} s', flush=True)
    print('no stuck exit in 16 attempts')
