"""billiard's Pool.apply() after close() does not raise (it returns None
without running the task); CPython raises ValueError('Pool not running') for
every submit after close.
Run: python3 POOL-CLOSE-THEN-SUBMIT.py [multiprocessing]  (default billiard)."""
import importlib, sys

mp = importlib.import_module(sys.argv[1] if len(sys.argv) > 1 else 'billiard')


def sq(i):
    return i * i


if __name__ == '__main__':
    p = mp.Pool(1)
    p.close()
    try:
        r = p.apply(sq, (3,))
        print(f'{mp.__name__}: apply after close returned {r!r}')
        bad = 1
    except ValueError as e:
        print(f'{mp.__name__}: apply after close raised ValueError: {e}')
        bad = 0
    p.terminate()
    p.join()
    sys.exit(bad)
