"""billiard's Process.join(timeout) closes the process's sentinel even when
the child is still running (BaseProcess.join calls self.close() whatever
wait() returned), so the next timed join -- join(t), join(0), join(-1) --
raises TypeError ('argument must be an int, or have a fileno() method').
CPython's join(t) leaves a running process as it was.
Run: python3 PROC-JOIN-TIMEOUT-RUNNING.py [multiprocessing]  (default billiard)."""
import importlib, os, sys

mp = importlib.import_module(sys.argv[1] if len(sys.argv) > 1 else 'billiard')


def block(fd):
    os.read(fd, 1)


if __name__ == '__main__':
    r, w = os.pipe()
    p = mp.Process(target=block, args=(r,))
    p.start()
    bad = 0
    for t in (0.2, 0.2, 0, -1):
        try:
            p.join(t)
            print(f'{mp.__name__}: join({t}) of a running child: exitcode {p.exitcode}')
        except Exception as e:  # noqa: BLE001 - the difference shown
            bad += 1
            print(f'{mp.__name__}: join({t}) of a running child raised {type(e).__name__}: {e}')
    os.write(w, b'x')
    p.join()
    sys.exit(1 if bad else 0)
