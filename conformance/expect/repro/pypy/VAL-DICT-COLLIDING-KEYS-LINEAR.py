"""PyPy (3.9 semantics) hashes every NaN to 0; CPython 3.10+ hashes a NaN by
its identity.  Distinct NaN objects (here: distinct payload bits) as dict keys
therefore all collide in PyPy and building the dict takes quadratic time:
doubling the keys about quadruples the time.  In the twin (200,000 keys,
the row's 10 s bound) the insertion does not return for minutes, and the
SIGALRM meant to stop it is not delivered until it does, so the row is a
timeout.  CPython: linear, milliseconds.
Run: pypy3 VAL-DICT-COLLIDING-KEYS-LINEAR.py   (or /usr/bin/python3 ...)"""
import struct
import sys
import time


def nans(n):
    return [struct.unpack('<d', struct.pack('<Q', 0x7ff8000000000000 | (i + 1)))[0]
            for i in range(n)]


if __name__ == '__main__':
    print(f'{sys.implementation.name}: hash of two NaNs: {hash(nans(2)[0])}, {hash(nans(2)[1])}')
    prev = None
    for n in (5000, 10000, 20000):
        keys = nans(n)
        t0 = time.process_time()
        d = dict.fromkeys(keys)
        el = time.process_time() - t0
        assert len(d) == n
        print(f'{sys.implementation.name}: {n} NaN keys: {el:.3f} CPU-s'
              + (f' (x{el / prev:.1f} for x2 keys)' if prev else ''))
        prev = max(el, 1e-6)
