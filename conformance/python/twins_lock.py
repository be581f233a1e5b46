"""Python twins of conformance/catalogue/lock.tsv (tests/test_lock.c).

multiprocessing.Lock: acquire(block, timeout) returns False where the C API
returns MP_TIMEOUT; release of an unlocked Lock raises ValueError (MP_ESTATE).
Children report through their exit code (sys.exit); ordering uses Events.
"""
import math, os, sys, tempfile, \
    threading

import twin
from twin import mp
from twin import join_code, locked, prompt, start


twin.kill_children_at_exit()


def raises(exc, fn, *args):
    try:
        fn(*args)
    except exc:
        return True
    except Exception as e:  # noqa: BLE001
        raise AssertionError(f'{fn.__name__} raised {type(e).__name__}: {e}, not {exc.__name__}')
    return False


def LOCK_ACQUIRE_RELEASE():
    lk = mp.Lock()
    assert not locked(lk)
    assert prompt(lk.acquire) is True
    assert locked(lk)
    lk.release()
    assert not locked(lk)
    assert lk.acquire(timeout=0) is True
    lk.release()


def LOCK_TRYACQUIRE_HELD():
    lk = mp.Lock()
    assert lk.acquire()
    assert prompt(lk.acquire, False) is False
    assert prompt(lambda: lk.acquire(timeout=0)) is False
    assert prompt(lambda: lk.acquire(timeout=-1.0)) is False
    assert prompt(lambda: lk.acquire(timeout=-math.inf)) is False
    assert locked(lk)
    lk.release()


def LOCK_ACQUIRE_TIMEOUT():
    lk = mp.Lock()
    assert lk.acquire()
    twin.assert_timed(lambda: lk.acquire(timeout=0.2), None, 0.2)
    twin.assert_timed(lambda: lk.acquire(timeout=0.01), None, 0.01)
    lk.release()


def LOCK_RELEASE_UNLOCKED():
    lk = mp.Lock()
    assert raises(ValueError, lk.release), 'release of a fresh Lock'
    assert lk.acquire()
    lk.release()
    assert raises(ValueError, lk.release), 'second release'
    assert not locked(lk)


def LOCK_MUTEX_THREADS():
    lk = mp.Lock()
    c = {'n': 0, 'bad': 0}

    def count():
        for i in range(20000):
            if not lk.acquire():
                c['bad'] += 1
            v = c['n']
            if (i & 255) == 0:
                os.sched_yield()  # invite a competitor into the section
            c['n'] = v + 1
            lk.release()

    th = [threading.Thread(target=count) for _ in range(4)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    assert c['bad'] == 0
    assert c['n'] == 4 * 20000, f'{4 * 20000 - c["n"]} updates lost'
    assert not locked(lk)


def LOCK_RELEASE_WAKES():
    lk = mp.Lock()
    started = threading.Event()
    got = []

    def acquirer():
        started.set()
        ok = lk.acquire(timeout=10.0)
        got.append(ok)
        if ok:
            lk.release()

    assert lk.acquire()
    t = threading.Thread(target=acquirer)
    t.start()
    assert started.wait(5.0)
    lk.release()
    t.join()
    assert got == [True], got
    assert not locked(lk)


def _child_try(lk):
    if lk.acquire(False) is not False:
        sys.exit(1)
    t0 = twin.now()
    if lk.acquire(timeout=0.1) is not False or twin.now() - t0 < 0.1:
        sys.exit(2)
    sys.exit(0)


def LOCK_CROSS_PROCESS_HELD():
    lk = mp.Lock()
    assert lk.acquire()
    code = join_code(start(_child_try, lk))
    assert code == 0, {1: 'acquire(False) in the child did not fail',
                       2: 'acquire(timeout=0.1) in the child did not time out (or was early)'}.get(code, code)
    lk.release()


def _child_release(lk):
    lk.release()


def LOCK_RELEASE_OTHER_PROCESS():
    lk = mp.Lock()
    assert lk.acquire()
    code = join_code(start(_child_release, lk))
    assert code == 0, f'release in the child failed (exitcode {code})'
    assert not locked(lk)
    assert lk.acquire(False)
    lk.release()


def _child_hold(lk, held):
    if not lk.acquire():
        sys.exit(1)
    held.set()
    threading.Event().wait()  # killed by the parent while holding the lock


def _owner_dead(join_first):
    lk, held = mp.Lock(), mp.Event()
    p = start(_child_hold, lk, held)
    assert held.wait(10.0)
    assert lk.acquire(False) is False
    twin.kill(p)
    if join_first:
        assert join_code(p) == -9
    # No EOWNERDEAD in Python: the nearest thing is that acquire succeeds.
    t0 = twin.now()
    got = lk.acquire(timeout=1.0)
    el = twin.now() - t0
    if not join_first:
        p.join()
    assert got, (f'acquire(timeout=1.0) after the holder was killed returned {got} after '
                 f'{el:.2f} s: the dead holder\'s Lock is never given back')
    lk.release()


def LOCK_OWNER_DEAD():
    _owner_dead(True)


def LOCK_OWNER_DEAD_UNJOINED():
    _owner_dead(False)


def _child_churn(lk, started, depth):
    started.set()
    while True:
        for _ in range(depth):
            lk.acquire()
        for _ in range(depth):
            lk.release()


def killed_anytime(lk, depth, rounds=40):
    """A child loops acquire/release (depth levels) and is killed at a random
    instant; each time, a bounded acquire must get the lock back, and at
    depth 1 (one release frees it).  Shared with twins_rlock.py."""
    import random
    rng = random.Random(15)
    for r in range(rounds):
        started = mp.Event()
        p = start(_child_churn, lk, started, depth)
        assert started.wait(10.0)
        until = twin.now() + rng.uniform(0.0, 0.002)
        while twin.now() < until:  # a random instant, not a synchronisation
            pass
        p.kill()
        assert join_code(p) == -9
        # No EOWNERDEAD in Python: the nearest thing is that acquire succeeds.
        t0 = twin.now()
        got = lk.acquire(timeout=3.0)
        el = twin.now() - t0
        assert got, (f'round {r}: acquire(timeout=3.0) after the holder was killed at a random '
                     f'instant returned {got} after {el:.2f} s: the dead holder\'s lock is never '
                     f'given back')
        if depth > 1:
            assert lk.acquire(False), f'round {r}: not re-entrant after the takeover'
            lk.release()
        lk.release()
        assert not locked(lk), f'round {r}: still held after the release'


def LOCK_OWNER_KILLED_ANYTIME():
    killed_anytime(mp.Lock(), 1)


def _child_hello(lk, fd, i):
    if not lk.acquire():
        sys.exit(1)
    ok = os.write(fd, b'hello world ') == 12
    os.sched_yield()
    num = str(i).encode()
    ok = ok and os.write(fd, num) == len(num)
    os.sched_yield()
    ok = ok and os.write(fd, b'\n') == 1
    lk.release()
    sys.exit(0 if ok else 3)


def LOCK_TUTORIAL_15():
    lk = mp.Lock()
    with tempfile.TemporaryFile() as f:
        fd = f.fileno()  # one open file: the children share its offset
        ps = [start(_child_hello, lk, fd, i) for i in range(10)]
        for i, p in enumerate(ps):
            assert join_code(p) == 0, f'child {i} failed'
        os.lseek(fd, 0, os.SEEK_SET)
        data = b''
        while chunk := os.read(fd, 4096):
            data += chunk
    lines = data.decode().split('\n')
    assert lines[-1] == '', f'torn last line: {lines[-1]!r}'
    want = {f'hello world {i}' for i in range(10)}
    assert len(lines[:-1]) == 10 and set(lines[:-1]) == want, f'torn or unexpected lines: {lines}'
    assert not locked(lk)


def LOCK_RELEASE_WAKES_PROMPT():
    """31 hand-offs to a thread asleep in acquire(): the median time from
    release() to the waiter holding the lock is far below a polling period."""
    import queue as q
    import statistics
    lk = mp.Lock()
    go, done, tids = threading.Semaphore(0), q.Queue(), q.Queue()
    released_at = [0.0]

    def waiter():
        tids.put(threading.get_native_id())
        for _ in range(31):
            go.acquire()
            ok = lk.acquire(timeout=10.0)
            done.put((ok, twin.now() - released_at[0]))
            if ok:
                lk.release()

    t = threading.Thread(target=waiter)
    t.start()
    tid = tids.get(timeout=10)
    lat = []
    for _ in range(31):
        assert lk.acquire(timeout=10.0)
        go.release()
        twin.wait_asleep(tid)  # the waiter is blocked in acquire
        released_at[0] = twin.now()
        lk.release()
        ok, el = done.get(timeout=10)
        assert ok, 'the waiter did not get the lock'
        lat.append(el)
    t.join()
    median = statistics.median(lat)
    assert median < 0.02, f'median hand-off {median:.4f} s: release did not wake the waiter'
