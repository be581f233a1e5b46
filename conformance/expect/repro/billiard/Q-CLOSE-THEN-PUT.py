"""billiard's Queue.put() after close() raises a bare AssertionError (an
assert statement); CPython 3.8+ raises ValueError('Queue ... is closed').
Run: python3 Q-CLOSE-THEN-PUT.py [multiprocessing]  (default billiard)."""
import importlib, sys

mp = importlib.import_module(sys.argv[1] if len(sys.argv) > 1 else 'billiard')

if __name__ == '__main__':
    q = mp.Queue()
    q.close()
    try:
        q.put(1)
        print(f'{mp.__name__}: put after close: no error')
        sys.exit(1)
    except Exception as e:  # noqa: BLE001 - the difference shown
        print(f'{mp.__name__}: put after close raised {type(e).__name__}')
        sys.exit(0 if isinstance(e, ValueError) else 1)
