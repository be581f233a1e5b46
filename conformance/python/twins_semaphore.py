"""Python twins of conformance/catalogue/semaphore.tsv (tests/test_semaphore.c).

multiprocessing.Semaphore / BoundedSemaphore: acquire returns False on a
timeout (MP_TIMEOUT), get_value() is mp_semaphore_value, and an over-release
of a BoundedSemaphore raises ValueError (MP_ESTATE).
"""
import os, signal, sys, threading

import twin
from twin import mp
from twin import prompt


twin.kill_children_at_exit()


def SEM_ACQUIRE_RELEASE():
    s = mp.Semaphore(2)
    assert s.get_value() == 2
    assert prompt(s.acquire) is True
    assert prompt(lambda: s.acquire(timeout=0)) is True
    assert s.get_value() == 0
    assert prompt(lambda: s.acquire(timeout=0)) is False
    s.release()
    assert s.get_value() == 1
    assert s.acquire(timeout=0) is True
    s.release()
    s.release()
    assert s.get_value() == 2, s.get_value()


def SEM_UNBOUNDED_RELEASE():
    s = mp.Semaphore(0)
    assert s.get_value() == 0
    for _ in range(3):
        s.release()
    assert s.get_value() == 3, s.get_value()


def SEM_ACQUIRE_TIMEOUT():
    s = mp.Semaphore(0)
    twin.assert_timed(lambda: s.acquire(timeout=0.2), None, 0.2)
    assert prompt(lambda: s.acquire(timeout=0)) is False
    assert prompt(lambda: s.acquire(timeout=-1.0)) is False
    assert s.get_value() == 0


def SEM_RELEASE_WAKES():
    s = mp.Semaphore(0)
    started = threading.Event()
    got = []

    def acquirer():
        started.set()
        got.append(s.acquire(timeout=10.0))

    t = threading.Thread(target=acquirer)
    t.start()
    assert started.wait(5.0)
    s.release()
    t.join()
    assert got == [True], got
    assert s.get_value() == 0


def BSEM_OVER_RELEASE():
    s = mp.BoundedSemaphore(2)

    def over():
        try:
            s.release()
        except ValueError:
            return
        raise AssertionError('release above the initial value succeeded')

    over()
    assert s.get_value() == 2, s.get_value()
    assert s.acquire(timeout=0)
    s.release()
    over()
    assert s.get_value() == 2, s.get_value()


def _child_limit(s, sh):
    # sh: [inside, most, passes] in shared memory, guarded by its own lock
    for _ in range(200):
        if not s.acquire(timeout=10.0):
            sys.exit(1)
        with sh.get_lock():
            sh[0] += 1
            sh[1] = max(sh[1], sh[0])
        os.sched_yield()
        with sh.get_lock():
            sh[0] -= 1
            sh[2] += 1
        s.release()
    sys.exit(0)


def SEM_CROSS_PROCESS_LIMIT():
    sh = mp.Array('i', 3)
    s = mp.BoundedSemaphore(2)
    ps = [mp.Process(target=_child_limit, args=(s, sh)) for _ in range(6)]
    for p in ps:
        p.start()
    for i, p in enumerate(ps):
        p.join(30.0)
        assert p.exitcode == 0, f'child {i} failed ({p.exitcode})'
    assert sh[2] == 6 * 200, sh[2]
    assert 1 <= sh[1] <= 2, f'{sh[1]} inside at once'
    assert s.get_value() == 2


# ------------------------------------------------------- killed processes

from twins_queue import wait_asleep  # noqa: E402


def _child_acquire(s, ready):
    ready.set()
    sys.exit(0 if s.acquire(timeout=5.0) else 3)


def _child_hold_unit(s, ready):
    if not s.acquire(False):
        sys.exit(1)
    ready.set()
    while True:
        threading.Event().wait(100)  # killed by the parent while holding the unit


def _start_ready(fn, s, ready, asleep):
    ready.clear()
    p = mp.Process(target=fn, args=(s, ready))
    p.start()
    assert ready.wait(10.0)
    if asleep:
        wait_asleep(p.pid)
    return p


def SEM_KILLED_WAITER():
    s, ready = mp.Semaphore(0), mp.Event()
    twin.kill_join(_start_ready(_child_acquire, s, ready, True))
    assert s.get_value() == 0, s.get_value()
    prompt(s.release)
    assert s.get_value() == 1, 'the dead waiter took the release'
    assert prompt(lambda: s.acquire(False)) is True
    live = _start_ready(_child_acquire, s, ready, True)
    t0 = twin.now()
    prompt(s.release)
    live.join(10)
    assert live.exitcode == 0, f'the live waiter was not served ({live.exitcode})'
    assert twin.now() - t0 < 2.0, f'the live waiter took {twin.now() - t0:.3f} s'
    assert s.get_value() == 0, s.get_value()


def SEM_KILLED_HOLDER():
    s, ready = mp.Semaphore(2), mp.Event()
    p = _start_ready(_child_hold_unit, s, ready, False)
    assert s.get_value() == 1
    twin.kill_join(p)
    assert s.get_value() == 1, "the dead holder's unit came back"
    assert prompt(lambda: s.acquire(False)) is True
    twin.assert_timed(lambda: s.acquire(timeout=0.1), None, 0.1)
    s.release()  # on the dead holder's behalf
    assert prompt(lambda: s.acquire(False)) is True
    assert s.get_value() == 0


def BSEM_KILLED_HOLDER_RELEASE():
    s, ready = mp.BoundedSemaphore(1), mp.Event()
    twin.kill_join(_start_ready(_child_hold_unit, s, ready, False))
    assert s.get_value() == 0
    assert prompt(lambda: s.acquire(False)) is False
    prompt(s.release)
    assert s.get_value() == 1
    twin.assert_raises(ValueError, s.release)
    assert s.get_value() == 1


def SEM_RELEASE_WAKES_PROMPT():
    """15 hand-offs to a thread asleep in acquire(): the median time from
    release() to its return is far below a polling period."""
    import queue as q
    import statistics
    s = mp.Semaphore(0)
    rounds = 15
    go, done, tids = threading.Semaphore(0), q.Queue(), q.Queue()

    def waiter():
        tids.put(threading.get_native_id())
        for _ in range(rounds):
            go.acquire()
            done.put((s.acquire(timeout=30.0), twin.now()))

    t = threading.Thread(target=waiter)
    t.start()
    tid = tids.get(timeout=10)
    lat = []
    for _ in range(rounds):
        go.release()
        twin.wait_asleep(tid)  # blocked in acquire
        t0 = twin.now()
        s.release()
        ok, at = done.get(timeout=10)
        assert ok, 'acquire did not succeed'
        lat.append(at - t0)
    t.join()
    assert s.get_value() == 0
    med = statistics.median(lat)
    assert med < 0.02, f'median hand-off {med:.4f} s'


def _child_release_once(s):
    s.release()
    while True:
        signal.pause()  # os.pause is CPython's only: PyPy has none


def SEM_RELEASER_KILLED_ANYTIME():
    """A child releases once and is killed at a random instant around it (the
    C row single-steps every instruction; Python cannot).  If the unit is
    there, the thread asleep in acquire must take it within a bound; if not,
    a live release must wake it.  (glibc's sem_post, under CPython's SemLock,
    also adds the unit before it wakes, with no bounded sleep behind it; the
    window of a few instructions is out of reach of random kills.)"""
    import random
    rng = random.Random(15)
    for r in range(20):
        s = mp.Semaphore(0)
        back = []
        t = threading.Thread(target=lambda: back.append(s.acquire(timeout=10.0)), daemon=True)
        t.start()
        twin.wait_asleep(t.native_id)
        p = mp.Process(target=_child_release_once, args=(s,))
        p.start()
        until = twin.now() + rng.uniform(0.0, 0.01)
        while twin.now() < until:  # a random instant, not a synchronisation
            pass
        twin.kill(p)
        p.join(10)
        assert p.exitcode == -9, p.exitcode
        if not back and s.get_value() == 0:
            s.release()  # the child had not released: a live release
        t.join(2.0)
        assert back == [True], f'round {r}: the waiter is still asleep in acquire'
