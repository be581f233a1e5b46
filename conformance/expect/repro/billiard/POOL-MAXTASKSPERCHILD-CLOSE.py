"""billiard's Pool(maxtasksperchild=1): tasks still queued at close() are
dropped -- join() returns after only the first workers' tasks (2 of 8 here),
the rest never run and their results stay not ready.  CPython replaces the
recycled workers until every task submitted before close has run.
Run: python3 POOL-MAXTASKSPERCHILD-CLOSE.py [multiprocessing]  (default billiard)."""
import importlib, sys

mp = importlib.import_module(sys.argv[1] if len(sys.argv) > 1 else 'billiard')


def sq(i):
    return i * i


if __name__ == '__main__':
    vals = []
    p = mp.Pool(2, maxtasksperchild=1)
    rs = [p.apply_async(sq, (i,), callback=vals.append) for i in range(8)]
    p.close()
    p.join()
    ready = sum(r.ready() for r in rs)
    print(f'{mp.__name__}: after close+join {len(vals)} of 8 callbacks ran, {ready} results ready')
    sys.exit(0 if ready == 8 else 1)
