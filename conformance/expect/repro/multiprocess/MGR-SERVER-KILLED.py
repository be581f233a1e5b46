"""multiprocess's Manager listens on an abstract-namespace AF_UNIX address
(b'\\0listener-...'), which the kernel frees with the socket: a killed server
leaves no socket file behind.  CPython's listens on a file in a pymp-
directory that a killed server leaves behind.
Run: python3 MGR-SERVER-KILLED.py [multiprocessing]  (default multiprocess)."""
import importlib, os, signal, sys

mp = importlib.import_module(sys.argv[1] if len(sys.argv) > 1 else 'multiprocess')

if __name__ == '__main__':
    m = mp.Manager()
    addr = m.address
    os.kill(m._process.pid, signal.SIGKILL)
    m._process.join()
    left = isinstance(addr, str) and os.path.lexists(addr)
    print(f'{mp.__name__}: address {addr!r}; after the server was killed '
          + ('its socket file is left' if left else 'no socket file is left'))
    if left:
        os.unlink(addr)
        os.rmdir(os.path.dirname(addr))
    sys.exit(1 if left else 0)
