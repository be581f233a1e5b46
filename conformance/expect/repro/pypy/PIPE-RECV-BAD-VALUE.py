"""pypy3 PIPE-RECV-BAD-VALUE.py -- recv of bytes that are no pickle: PyPy's
pure-Python pickle raises KeyError for an unknown opcode; CPython's _pickle
raises UnpicklingError (the pickle docs allow other exceptions)."""
import multiprocessing as mp, pickle
a, b = mp.Pipe()
b.send_bytes(b'\xc1\xc1\xc1')
try:
    a.recv()
except pickle.UnpicklingError as e:
    print('UnpicklingError (as CPython):', e)
except Exception as e:
    print(f'{type(e).__name__}: {e}  (not UnpicklingError)')
