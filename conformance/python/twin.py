"""Helpers shared by the Python twins (standard library only)."""
import atexit
import multiprocessing as mp
import threading
import time


def now():
    return time.monotonic()


def assert_timed(fn, exc, timeout, slack=2.0):
    """fn() must raise exc (or return False when exc is None) no earlier than
    timeout seconds and within timeout + slack."""
    t0 = now()
    if exc is None:
        r = fn()
        assert r is False or r is None, f'expected a timeout, got {r!r}'
    else:
        try:
            fn()
        except exc:
            pass
        else:
            raise AssertionError(f'{exc.__name__} not raised')
    el = now() - t0
    assert el >= timeout, f'returned early: {el:.6f} s < {timeout} s'
    assert el <= timeout + slack, f'took {el:.3f} s for {timeout} s'


def assert_raises(exc, fn, *args, **kw):
    try:
        fn(*args, **kw)
    except exc:
        return
    raise AssertionError(f'{exc.__name__} not raised by {getattr(fn, "__name__", fn)}')


def kill_children_at_exit():
    """Kill and join any child still running when the twin's interpreter
    exits, so a failing twin leaves nothing behind."""
    def _cleanup():
        for p in mp.active_children():
            p.kill()
            p.join()
    atexit.register(_cleanup)


def prompt(fn, *args, bound=1.0):
    t0 = now()
    r = fn(*args)
    el = now() - t0
    assert el <= bound, f'{getattr(fn, "__name__", fn)}{args} blocked for {el:.3f} s'
    return r


def locked(lock):
    """Whether another thread finds the lock taken (it gives it back at once)."""
    got = []

    def probe():
        ok = lock.acquire(False)
        got.append(ok)
        if ok:
            lock.release()

    t = threading.Thread(target=probe)
    t.start()
    t.join()
    return not got[0]


def wait_asleep(tid, timeout=10.0):
    """Until /proc shows thread `tid` of this process asleep ('S') in five
    readings in a row, 2 ms apart: how a twin knows a thread is blocked in a
    call (mpt_wait_asleep in conformance/mpt.c)."""
    path = f'/proc/self/task/{tid}/stat'
    deadline = now() + timeout
    seen = 0
    while seen < 5:
        assert now() < deadline, f'thread {tid} not asleep after {timeout} s'
        with open(path) as f:
            state = f.read().rsplit(')', 1)[1].split()[0]
        seen = seen + 1 if state == 'S' else 0
        time.sleep(0.002)
