"""billiard's Pool.join() after close() takes ~30 s once a map's chunks ran on
more than one worker: each worker, before exiting, waits (300 x 0.1 s) for its
on_ready counter to reach the number of tasks it completed, but the result
handler credits every chunk of a job to the job's first worker only, so the
other worker's counter never gets there ('could not ensure all messages were
consumed prior to exiting').  terminate() waits the same way: the SIGTERMed
worker runs the same wait on its way out (seen as 60 s runner timeouts of pool
twins, stacks in billiard's Process.join from Pool._terminate_pool).
CPython's join returns as soon as the workers have taken their sentinel.
Run: python3 POOL-JOIN-AFTER-MAP.py [multiprocessing]  (default billiard)."""
import importlib, sys, time

mp = importlib.import_module(sys.argv[1] if len(sys.argv) > 1 else 'billiard')


def sq(i):
    return i * i


if __name__ == '__main__':
    p = mp.Pool(2)
    assert p.map(sq, range(40), chunksize=1) == [i * i for i in range(40)]
    p.close()
    t0 = time.monotonic()
    p.join()
    el = time.monotonic() - t0
    print(f'{mp.__name__}: join after close took {el:.2f} s')
    sys.exit(1 if el > 10 else 0)
