"""pypy3 FD-CLOEXEC-ALL.py -- the heap arena behind Value/Array: PyPy's
multiprocessing leaves its /dev/shm/pym-* descriptor inheritable (no
close-on-exec); CPython's descriptors are non-inheritable (PEP 446)."""
import multiprocessing as mp, os
v = mp.Value('i', 0)
for fd in os.listdir('/proc/self/fd'):
    try:
        target = os.readlink(f'/proc/self/fd/{fd}')
    except OSError:
        continue
    if 'pym-' in target:
        print(fd, target, 'inheritable:', os.get_inheritable(int(fd)))
