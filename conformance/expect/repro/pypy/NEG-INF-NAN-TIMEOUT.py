"""pypy3 NEG-INF-NAN-TIMEOUT.py -- PyPy's SemLock.acquire blocks for a timeout
of -inf or NaN (CPython: -inf is 0, i.e. False at once; NaN raises ValueError
in some calls).  Rows: LOCK-TRYACQUIRE-HELD, Q-PUT-NEGATIVE-TIMEOUT,
BAD-TIMEOUT-NEGATIVE (BAD-TIMEOUT-NAN fails on both, differently)."""
import multiprocessing as mp, sys, threading

lk = mp.Lock()
lk.acquire()
for t in (-1.0, float('-inf'), float('nan')):
    out = []
    def call(t=t):
        try:
            out.append(repr(lk.acquire(timeout=t)))
        except Exception as e:
            out.append(f"{type(e).__name__}: {e}")
    th = threading.Thread(target=call, daemon=True)
    th.start()
    th.join(3)
    print(f'Lock.acquire(timeout={t}):', out[0] if out else 'still blocked after 3 s')
sys.exit(0)
