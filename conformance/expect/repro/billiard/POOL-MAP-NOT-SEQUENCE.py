"""After imap(f, 3) (not iterable: TypeError, as in CPython), billiard's pool
cannot be shut down cleanly: on close()+join() its result handler thread
crashes on the IMapIterator left in the cache ("'IMapIterator' object has no
attribute '_write_to'") and billiard ends the whole process with a non-zero
status.  CPython closes and joins the pool normally.
Run: python3 POOL-MAP-NOT-SEQUENCE.py [multiprocessing]  (default billiard);
the exit status is the verdict."""
import importlib, sys

mp = importlib.import_module(sys.argv[1] if len(sys.argv) > 1 else 'billiard')


def sq(i):
    return i * i


if __name__ == '__main__':
    p = mp.Pool(1)
    try:
        next(p.imap(sq, 3))
    except TypeError as e:
        print(f'{mp.__name__}: imap(f, 3): TypeError: {e}')
    p.close()
    p.join()
    print(f'{mp.__name__}: close+join done')
