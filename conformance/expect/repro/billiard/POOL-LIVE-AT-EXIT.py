"""A billiard process that ends with a Pool still running (no close, no
join) while a task runs on each worker does not exit for 30 s: at exit
billiard terminates the pool, the SIGTERMed workers leave their task through
the worker loop's `finally`, and there the worker whose map chunks were
credited to the other worker waits 300 x 0.1 s for a counter that never gets
there (the defect of POOL-JOIN-AFTER-MAP.py; the map's first two tasks meet
at a barrier, so both workers run a chunk of it).  With idle workers the same
wait happens about one exit in ten (when the SIGTERM beats the sentinel).
CPython's child exits 0 in well under a second, its workers gone
(POOL-LIVE-AT-EXIT).
Run: /usr/bin/python3 POOL-LIVE-AT-EXIT.py [multiprocessing]  (default billiard)."""
import importlib
import os
import signal
import sys
import threading
import time

mp = importlib.import_module(sys.argv[1] if len(sys.argv) > 1 else 'billiard')
STUCK = 10.0  # seconds
_meet = _started = None


def init(meet, started):
    global _meet, _started
    _meet, _started = meet, started


def pid_of(i):
    if i < 2:
        _meet.wait(STUCK)
    return os.getpid()


def block(_):
    _started.put(os.getpid())
    threading.Event().wait()


def child(exit_mode, w):
    started = mp.SimpleQueue()
    p = mp.Pool(2, initializer=init, initargs=(mp.Barrier(2), started))
    p.map(pid_of, range(8), chunksize=1)
    for i in range(2):
        p.apply_async(block, (i,))
    w.send(sorted([started.get(), started.get()]))
    w.close()
    # ends with the pool running (returning, or sys.exit(0)): the exit must end it
    if exit_mode:
        sys.exit(0)


if __name__ == '__main__':
    stuck = 0
    for attempt in range(1, 5):
        r, w = mp.Pipe(False)
        c = mp.Process(target=child, args=(attempt % 2, w))
        t0 = time.monotonic()
        c.start()
        w.close()
        if not r.poll(STUCK):
            print(f'attempt {attempt}: the child sent no worker pids in {STUCK} s', flush=True)
            os.kill(c.pid, signal.SIGKILL)  # billiard's Process has no kill()
            sys.exit(1)
        r.recv()
        c.join(STUCK)
        took = time.monotonic() - t0
        if c.exitcode is None:
            stuck += 1
            print(f'attempt {attempt}: the child has not exited after {took:.1f} s (pool left running)',
                  flush=True)
            os.kill(c.pid, signal.SIGKILL)
            c.join()
        else:
            print(f'attempt {attempt}: exited {c.exitcode} in {took:.2f} s', flush=True)
    print(f'{stuck} of 4 exits stuck')
    sys.exit(1 if stuck else 0)
