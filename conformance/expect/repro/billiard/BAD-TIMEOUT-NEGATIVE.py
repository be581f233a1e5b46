"""billiard's Queue.get(True, t) with t <= 0 raises queue.Empty even when an
item is there (get computes deadline - now and gives up when it is below 0,
before polling); CPython polls once and returns the item.
Run: python3 BAD-TIMEOUT-NEGATIVE.py [multiprocessing]  (default billiard)."""
import importlib, queue, sys, time

mp = importlib.import_module(sys.argv[1] if len(sys.argv) > 1 else 'billiard')

if __name__ == '__main__':
    q = mp.Queue()
    q.put(3)
    time.sleep(0.2)  # let the feeder thread write it (q.empty() is not reliable)
    try:
        print(f'{mp.__name__}: get(True, -1) with an item queued returned {q.get(True, -1)!r}')
        sys.exit(0)
    except queue.Empty:
        print(f'{mp.__name__}: get(True, -1) with an item queued raised queue.Empty')
        sys.exit(1)
