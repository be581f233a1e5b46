"""billiard's Process.join() closes the sentinel: the fd Process.sentinel gives
after join is closed (select: EBADF), or another file's if the number was
reused; CPython's stays open, readable, until close() (PROC-SENTINEL-AFTER-JOIN).
Run: /usr/bin/python3 PROC-SENTINEL-AFTER-JOIN.py [multiprocessing]  (default billiard)."""
import importlib
import select
import sys

mp = importlib.import_module(sys.argv[1] if len(sys.argv) > 1 else 'billiard')


def five():
    sys.exit(5)


if __name__ == '__main__':
    p = mp.get_context('fork').Process(target=five)
    p.start()
    p.join()
    fd = p.sentinel
    try:
        print(f'{mp.__name__}: sentinel {fd} after join readable: {bool(select.select([fd], [], [], 0)[0])}')
    except OSError as e:
        print(f'{mp.__name__}: sentinel {fd} after join: {e}')
        sys.exit(1)
