"""A billiard Pool made in a child process (forked by billiard.Process) often
does not finish: the child maps, closes, then stays in Pool.join() for 30 s
(the defect of POOL-JOIN-AFTER-MAP.py: a worker that ran a chunk credited to
another waits 30 s before it exits; it depends on how the chunks fell, so
this tries up to 4 children and stops at the first stuck one); CPython's
child maps, closes, joins and exits 0 in well under a second (POOL-IN-CHILD;
CPython's test_pool_in_process).
Run: /usr/bin/python3 POOL-IN-CHILD.py [multiprocessing]  (default billiard)."""
import importlib
import sys
import time

mp = importlib.import_module(sys.argv[1] if len(sys.argv) > 1 else 'billiard')
STUCK = 10.0  # seconds: CPython's child takes well under 1 s, billiard's stuck one 30 s


def sq(x):
    return x * x


def child():
    p = mp.Pool(2)
    assert p.map(sq, range(10)) == [i * i for i in range(10)]
    p.close()
    p.join()


if __name__ == '__main__':
    for attempt in range(1, 5):
        c = mp.get_context('fork').Process(target=child)
        t0 = time.monotonic()
        c.start()
        c.join(STUCK)
        if c.exitcode is None:
            c.terminate()
            c.join()
            print(f'{mp.__name__}: child {attempt}: still running after {STUCK:.0f} s '
                  '(its Pool mapped and closed; join does not return)')
            sys.exit(1)
        print(f'{mp.__name__}: child {attempt}: exited {c.exitcode} after '
              f'{time.monotonic() - t0:.2f} s')
