"""billiard's Connection.poll(t) (and so Queue.get(True, t)) can return before
t seconds: billiard.connection._poll passes int(t * 1000) ms to poll(2),
truncating, where CPython's selectors round the milliseconds up.
Run: python3 EINTR-RETRY-TIMED.py [multiprocessing]  (default billiard)."""
import importlib, queue, sys, time

mp = importlib.import_module(sys.argv[1] if len(sys.argv) > 1 else 'billiard')
a, b = mp.Pipe()
q = mp.Queue()
early = []
for t in (0.1, 0.0995, 0.0505, 0.0017):
    for _ in range(20):
        t0 = time.monotonic()
        assert a.poll(t) is False
        el = time.monotonic() - t0
        if el < t:
            early.append(('poll', t, el))
        t0 = time.monotonic()
        try:
            q.get(True, t)
        except queue.Empty:
            pass
        el = time.monotonic() - t0
        if el < t:
            early.append(('Queue.get', t, el))
for what, t, el in early[:5]:
    print(f'{mp.__name__}: {what}({t}) returned after {el:.6f} s')
print(f'{mp.__name__}: {len(early)} of 160 timed waits returned early')
sys.exit(1 if early else 0)
