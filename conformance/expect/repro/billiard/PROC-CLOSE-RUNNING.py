"""billiard's Process.close() of a process still running succeeds (it only
closes the sentinel); CPython's raises ValueError ('Cannot close a process
while it is still running').
Run: python3 PROC-CLOSE-RUNNING.py [multiprocessing]  (default billiard)."""
import importlib, os, sys

mp = importlib.import_module(sys.argv[1] if len(sys.argv) > 1 else 'billiard')


def block(fd):
    os.read(fd, 1)


if __name__ == '__main__':
    r, w = os.pipe()
    p = mp.Process(target=block, args=(r,))
    p.start()
    try:
        p.close()
        got = 'no error'
    except ValueError as e:
        got = f'ValueError: {e}'
    os.write(w, b'x')
    os.waitpid(p.pid, 0)
    print(f'{mp.__name__}: close() of a running process: {got}')
    sys.exit(0 if got.startswith('ValueError') else 1)
