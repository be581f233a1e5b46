"""billiard's Pool(maxtasksperchild=1).map() fails with WorkerLostError
('Worker exited prematurely: exitcode 155'); 155 is billiard's EX_RECYCLE, the
status of a worker leaving after its maxtasksperchild tasks, so a normal
recycling is reported as a lost worker.  CPython's map completes.
Run: python3 POOL-MAP-CHUNKSIZE.py [multiprocessing [N]]  (default billiard, 3 tries)."""
import importlib, sys, os
mp = importlib.import_module(sys.argv[1] if len(sys.argv) > 1 else 'billiard')
def f(i): return os.getpid()
if __name__ == '__main__':
    bad = 0
    for k in range(int(sys.argv[2]) if len(sys.argv)>2 else 3):
        with mp.Pool(2, maxtasksperchild=1) as p:
            try:
                r = p.map(f, range(12), chunksize=1)
            except Exception as e:
                bad += 1; print(type(e).__name__, str(e).strip()[:100])
    print(mp.__name__, bad, 'of the maps failed')
    sys.exit(1 if bad else 0)
