"""billiard's SimpleQueue.empty() raises AttributeError ('SimpleQueue' object
has no attribute '_poll'); CPython's returns True or False.
Run: python3 SQ-EMPTY.py [multiprocessing]  (default billiard)."""
import importlib, sys

mp = importlib.import_module(sys.argv[1] if len(sys.argv) > 1 else 'billiard')

if __name__ == '__main__':
    q = mp.SimpleQueue()
    try:
        print(f'{mp.__name__}: empty() of a new SimpleQueue: {q.empty()}')
        sys.exit(0)
    except AttributeError as e:
        print(f'{mp.__name__}: empty() raised AttributeError: {e}')
        sys.exit(1)
