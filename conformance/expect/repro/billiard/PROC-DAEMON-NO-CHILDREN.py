"""billiard lets a daemonic process start children (deliberately, for
Celery's workers); CPython's start() in a daemon raises AssertionError
('daemonic processes are not allowed to have children').
Run: python3 PROC-DAEMON-NO-CHILDREN.py [multiprocessing]  (default billiard)."""
import importlib, sys

mp = importlib.import_module(sys.argv[1] if len(sys.argv) > 1 else 'billiard')


def nothing():
    pass


def daemon(w):
    try:
        c = mp.Process(target=nothing)
        c.start()
        c.join()
        w.send('started a child')
    except AssertionError as e:
        w.send(f'AssertionError: {e}')


if __name__ == '__main__':
    r, w = mp.Pipe(False)
    p = mp.Process(target=daemon, args=(w,), daemon=True)
    p.start()
    got = r.recv()
    p.join()
    print(f'{mp.__name__}: a daemon starting a child: {got}')
    sys.exit(0 if got.startswith('AssertionError') else 1)
