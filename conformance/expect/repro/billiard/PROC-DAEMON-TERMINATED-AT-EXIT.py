"""A billiard child that returns from its target while its own daemonic child
still runs leaves that grandchild running (CPython's child terminates and
joins its daemonic children on the way out, util._exit_function).  The
grandchild also holds the billiard child's sentinel pipe (inherited by fork),
so the parent's join(t) of the child waits the whole t.
Run: python3 PROC-DAEMON-TERMINATED-AT-EXIT.py [multiprocessing]  (default billiard)."""
import importlib, os, signal, sys, time

mp = importlib.import_module(sys.argv[1] if len(sys.argv) > 1 else 'billiard')


def grand(w):
    w.send(os.getpid())
    time.sleep(60)


def child(w):
    g = mp.Process(target=grand, args=(w,), daemon=True)
    g.start()
    time.sleep(0.5)  # the grandchild has reported its pid


if __name__ == '__main__':
    r, w = mp.Pipe(False)
    t0 = time.monotonic()
    p = mp.Process(target=child, args=(w,))
    p.start()
    g = r.recv()
    p.join()
    took = time.monotonic() - t0
    try:
        os.kill(g, 0)
        alive = True
        os.kill(g, signal.SIGKILL)
    except ProcessLookupError:
        alive = False
    print(f'{mp.__name__}: child exited {p.exitcode} after {took:.1f} s; '
          f'daemonic grandchild {"still running" if alive else "gone"}')
    sys.exit(1 if alive else 0)
