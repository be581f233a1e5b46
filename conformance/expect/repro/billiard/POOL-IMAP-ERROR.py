"""billiard's imap next() for a failing item raises a plain Exception whose
message is the worker's traceback text, not the task's exception (here
ValueError); CPython re-raises the task's exception.
Run: python3 POOL-IMAP-ERROR.py [multiprocessing]  (default billiard)."""
import importlib, sys

mp = importlib.import_module(sys.argv[1] if len(sys.argv) > 1 else 'billiard')


def f(i):
    if i == 1:
        raise ValueError('one is bad')
    return i


if __name__ == '__main__':
    p = mp.Pool(1)
    it = p.imap(f, range(3))
    got = []
    for _ in range(3):
        try:
            got.append(it.next(10))
        except Exception as e:  # noqa: BLE001 - the difference shown
            got.append(type(e).__name__)
    p.terminate()
    p.join()
    print(f'{mp.__name__}: imap of [ok, ValueError, ok] gave {got}')
    sys.exit(0 if got == [0, 'ValueError', 2] else 1)
