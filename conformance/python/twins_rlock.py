"""Python twins of conformance/catalogue/rlock.tsv (tests/test_rlock.c).

multiprocessing.RLock: a release by a non-owner raises AssertionError
(MP_ENOTOWNER); acquire returns False on a timeout (MP_TIMEOUT).  Children
report through their exit code; ordering uses Events.
"""
import sys, threading

import twin
from twin import mp
from twin import join_code, locked, notowner, prompt, start
import twins_lock


twin.kill_children_at_exit()


def RLOCK_REENTRANT():
    lk = mp.RLock()
    assert prompt(lk.acquire) is True
    assert prompt(lambda: lk.acquire(timeout=0)) is True
    assert prompt(lk.acquire) is True
    for i in range(3):
        assert locked(lk), f'free after {i} of 3 releases'
        lk.release()
    assert not locked(lk)
    s = notowner(lk.release)
    assert s == 'ENOTOWNER', f'fourth release: {s}'


def RLOCK_RELEASE_UNOWNED():
    lk = mp.RLock()
    s = notowner(lk.release)
    assert s == 'ENOTOWNER', f'release of a free RLock: {s}'
    assert not locked(lk)


def RLOCK_OTHER_THREAD():
    lk = mp.RLock()
    assert lk.acquire() and lk.acquire()
    o = {}

    def other():
        o['release'] = notowner(lk.release)
        o['try0'] = lk.acquire(timeout=0)
        t0 = twin.now()
        o['timed'] = lk.acquire(timeout=0.15)
        o['waited'] = twin.now() - t0

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert o['release'] == 'ENOTOWNER', f'release by another thread: {o["release"]}'
    assert o['try0'] is False, o['try0']
    assert o['timed'] is False, o['timed']
    assert 0.15 <= o['waited'] < 2.15, f'waited {o["waited"]:.3f} s'
    # the owner's depth is untouched by the failed release
    lk.release()
    assert locked(lk)
    lk.release()
    assert not locked(lk)


def RLOCK_HANDOFF():
    lk = mp.RLock()
    started = threading.Event()
    h = {}

    def blocked():
        started.set()
        h['got'] = lk.acquire(timeout=10.0)
        # re-entrant for the new owner too, and released by it
        try:
            h['depth_ok'] = lk.acquire(timeout=0) is True
            lk.release()
            lk.release()
        except Exception as e:  # noqa: BLE001
            h['depth_ok'] = f'{type(e).__name__}: {e}'

    assert lk.acquire() and lk.acquire()
    t = threading.Thread(target=blocked)
    t.start()
    assert started.wait(5.0)
    lk.release()
    lk.release()
    t.join()
    assert h['got'] is True, h
    assert h['depth_ok'] is True, h
    assert not locked(lk)


def _child_misuse(lk):
    if notowner(lk.release) != 'ENOTOWNER':
        sys.exit(1)
    if lk.acquire(timeout=0) is not False:
        sys.exit(2)
    sys.exit(0)


def RLOCK_OTHER_PROCESS():
    lk = mp.RLock()
    assert lk.acquire()
    code = join_code(start(_child_misuse, lk))
    assert code == 0, {1: 'release in the child was not refused',
                       2: 'acquire(timeout=0) in the child did not time out'}.get(code, code)
    assert locked(lk)
    lk.release()


def _child_owns(lk):
    # The child's thread is another owner than the parent's, although fork
    # copied the parent's memory: it takes and releases on its own.
    if not (lk.acquire(timeout=0) and lk.acquire(timeout=0)):
        sys.exit(1)
    try:
        lk.release()
        lk.release()
    except Exception:  # noqa: BLE001
        sys.exit(2)
    sys.exit(0 if notowner(lk.release) == 'ENOTOWNER' else 3)


def RLOCK_CHILD_OWNER():
    lk = mp.RLock()
    assert lk.acquire()
    lk.release()
    code = join_code(start(_child_owns, lk))
    assert code == 0, {1: 'child could not acquire twice', 2: 'child could not release twice',
                       3: 'a third release in the child was not refused'}.get(code, code)
    assert not locked(lk)
    s = notowner(lk.release)
    assert s == 'ENOTOWNER', f'release in the parent: {s}'


def _child_hold(lk, held):
    if not (lk.acquire() and lk.acquire()):
        sys.exit(1)
    held.set()
    threading.Event().wait()  # killed by the parent while owning the lock


def RLOCK_OWNER_DEAD():
    lk, held = mp.RLock(), mp.Event()
    p = start(_child_hold, lk, held)
    assert held.wait(10.0)
    twin.kill(p)
    assert join_code(p) == -9
    # No EOWNERDEAD in Python: the nearest thing is that acquire succeeds.
    t0 = twin.now()
    got = lk.acquire(timeout=1.0)
    el = twin.now() - t0
    assert got, (f'acquire(timeout=1.0) after the owner was killed returned {got} after '
                 f'{el:.2f} s: the dead owner\'s RLock is never given back')
    lk.release()
    assert not locked(lk), 'taken over at a depth other than 1'


def RLOCK_OWNER_KILLED_ANYTIME():
    twins_lock.killed_anytime(mp.RLock(), 2)
