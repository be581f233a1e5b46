"""A billiard child that returns from its target exits at once although its
own non-daemonic child still runs; CPython's child joins its non-daemonic
children before exiting (util._exit_function).
Run: python3 PROC-NONDAEMON-JOINED-AT-EXIT.py [multiprocessing]  (default billiard)."""
import importlib, os, sys, time

mp = importlib.import_module(sys.argv[1] if len(sys.argv) > 1 else 'billiard')


def grand(w):
    w.send(os.getpid())
    time.sleep(2)


def child(w):
    mp.Process(target=grand, args=(w,)).start()


if __name__ == '__main__':
    r, w = mp.Pipe(False)
    t0 = time.monotonic()
    p = mp.Process(target=child, args=(w,))
    p.start()
    g = r.recv()
    p.join()
    took = time.monotonic() - t0
    print(f'{mp.__name__}: the child exited after {took:.2f} s; its child sleeps 2 s')
    time.sleep(2.5)  # let the grandchild end before we do (demo only)
    sys.exit(0 if took >= 2 else 1)
