"""Python twins of conformance/catalogue/condition.tsv (tests/test_condition.c).

multiprocessing.Condition: wait/wait_for return False on a timeout
(MP_TIMEOUT); use without the lock raises AssertionError (MP_ENOTOWNER).  A
thread that is "waiting" is known to be inside wait() because it announced
itself while holding the lock and only wait() released it.
"""
import os, select, sys, threading

import twin
from twin import mp
from twin import notowner, prompt, locked


twin.kill_children_at_exit()


class Pool:
    """Five waiter threads; on return from __init__ the lock is held and all
    five are inside wait()."""

    def __init__(self):
        self.c = mp.Condition()
        self.arrived, self.woke = threading.Semaphore(0), threading.Semaphore(0)
        self.woken, self.bad = 0, []
        # daemon: a twin that fails holding the lock must still exit
        self.t = [threading.Thread(target=self.waiter, daemon=True) for _ in range(5)]
        for t in self.t:
            t.start()
        for _ in range(5):
            assert self.arrived.acquire(timeout=10.0)
        assert self.c.acquire()

    def waiter(self):
        self.c.acquire()
        self.arrived.release()  # lock still held until wait()
        ok = self.c.wait(10.0)
        if ok is not True:
            self.bad.append(ok)
        self.woken += 1
        self.c.release()
        self.woke.release()

    def expect_woken(self, n):
        """Exactly n waiters report (and no more within 0.1 s)."""
        for i in range(n):
            assert self.woke.acquire(timeout=10.0), f'only {i} of {n} waiters woke'
        assert not self.woke.acquire(timeout=0.1), f'more than {n} waiters woke'

    def end(self):
        for t in self.t:
            t.join()
        assert not self.bad, f'wait returned {self.bad}'
        assert self.woken == 5


def COND_NOTIFY():
    p = Pool()
    for k in range(1, 6):
        p.c.notify()
        p.c.release()
        p.expect_woken(1)
        assert p.c.acquire()
        assert p.woken == k, (p.woken, k)
    p.c.release()
    p.end()


def COND_NOTIFY_N():
    p = Pool()
    p.c.notify(0)
    p.c.notify(2)
    p.c.release()
    p.expect_woken(2)
    assert p.c.acquire()
    assert p.woken == 2, p.woken
    p.c.notify(10)
    p.c.release()
    p.expect_woken(3)
    p.end()


def COND_NOTIFY_ALL():
    p = Pool()
    p.c.notify_all()
    p.c.release()
    for i in range(5):
        assert p.woke.acquire(timeout=10.0), f'only {i} of 5 waiters woke'
    p.end()


def COND_WAIT_TIMEOUT():
    c = mp.Condition()
    assert c.acquire()
    twin.assert_timed(lambda: c.wait(0.2), None, 0.2)
    assert prompt(c.wait, 0) is False
    assert prompt(c.wait, -1) is False
    # still held: notify is allowed, and release succeeds exactly once
    c.notify()
    c.release()
    s = notowner(c.release)
    assert s == 'ENOTOWNER', f'second release: {s}'


def COND_NOT_OWNER():
    c = mp.Condition()
    held, done = threading.Event(), threading.Event()
    checks = lambda: [prompt(notowner, c.wait, 1.0), notowner(c.notify),  # noqa: E731
                      notowner(c.notify_all)]
    free = checks()
    assert free == ['ENOTOWNER'] * 3, f'wait, notify, notify_all on a free lock: {free}'

    def hold():
        c.acquire()
        held.set()
        done.wait(10.0)
        c.release()

    t = threading.Thread(target=hold)
    t.start()
    assert held.wait(10.0)
    other = checks() + [prompt(notowner, c.wait_for, lambda: False, 1.0)]
    done.set()
    t.join()
    assert other == ['ENOTOWNER'] * 4, \
        f'wait, notify, notify_all, wait_for while another thread holds the lock: {other}'


def COND_RLOCK_DEPTH():
    lk = mp.RLock()
    c = mp.Condition(lk)
    got = []

    def take_notify():
        ok = lk.acquire(timeout=10.0)  # possible only if wait released every level
        got.append(ok)
        if ok:
            c.notify()
            lk.release()

    assert c.acquire()
    assert lk.acquire()
    t = threading.Thread(target=take_notify)
    t.start()
    ok = c.wait(10.0)
    t.join()
    assert got == [True], f'the other thread\'s acquire: {got}'
    assert ok is True, ok
    lk.release()
    assert locked(lk), 'depth 2 not restored'
    c.release()
    assert not locked(lk)


def COND_USER_LOCK():
    lk = mp.Lock()
    c = mp.Condition(lk)
    assert c.acquire()
    assert locked(lk)
    assert c.acquire(timeout=0) is False, 'a Lock is not re-entrant'
    twin.assert_timed(lambda: c.wait(0.05), None, 0.05)
    c.release()
    assert not locked(lk)
    try:
        c.release()
    except ValueError:  # the Lock's own misuse error (MP_ESTATE)
        pass
    else:
        raise AssertionError('second release succeeded')


class Counter:
    def __init__(self):
        self.value = self.calls = 0

    def reached3(self):
        self.calls += 1
        return self.value >= 3


def COND_WAIT_FOR():
    c, k = mp.Condition(), Counter()
    assert c.acquire()
    k.value = 3
    assert prompt(c.wait_for, k.reached3, 0) is True
    assert k.calls == 1, k.calls
    k.value = 0

    def bump():
        for _ in range(3):
            c.acquire()
            k.value += 1
            c.notify_all()
            c.release()

    t = threading.Thread(target=bump)
    t.start()
    assert c.wait_for(k.reached3, 10.0) is True
    assert k.value >= 3
    c.release()
    t.join()


def COND_WAIT_FOR_TIMEOUT():
    # The row's NULL predicate and NaN timeout are C-only parts (catalogue:
    # COND-NULL-ARGS says why); the timeout is checked here.
    c, k = mp.Condition(), Counter()
    assert c.acquire()
    twin.assert_timed(lambda: c.wait_for(k.reached3, 0.2), None, 0.2)
    assert k.calls >= 2, f'predicate called {k.calls} times: not checked after waiting'
    assert prompt(c.wait_for, k.reached3, 0) is False
    c.release()


def _child_wait(c, ready):
    c.acquire()
    ready.value = 1
    c.notify_all()
    ok = c.wait(10.0)
    c.release()
    sys.exit(0 if ok else 2)


def COND_CROSS_PROCESS():
    c, ready = mp.Condition(), mp.RawValue('i', 0)
    p = mp.Process(target=_child_wait, args=(c, ready))
    p.start()
    assert c.acquire()
    assert c.wait_for(lambda: ready.value != 0, 10.0), 'the child\'s notify did not wake wait_for'
    c.notify()
    c.release()
    p.join(30.0)
    assert p.exitcode == 0, f'the child\'s wait: exitcode {p.exitcode}'


# ------------------------------------------------------- killed processes
# A child "is in wait" once the parent could take the lock after the child
# announced itself holding it.  Exit code 0: wait returned True; 3: False.

import time  # noqa: E402

from twins_queue import wait_asleep  # noqa: E402


def _child_cwait(c, ready, timeout):
    with c:
        ready.set()
        r = c.wait(timeout)
    sys.exit(0 if r else 3)


def _start_cwaiter(c, ready, timeout=10.0):
    ready.clear()
    p = mp.Process(target=_child_cwait, args=(c, ready, timeout))
    p.start()
    assert ready.wait(10.0)
    assert c.acquire(timeout=10.0)
    c.release()
    return p


def _bounded(fn, limit):
    """fn() in a daemon thread; fails when it has not returned within limit s,
    and raises what fn raised."""
    out, err = [], []

    def run():
        try:
            out.append(fn())
        except BaseException as e:  # noqa: BLE001 - re-raised below
            err.append(e)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(limit)
    assert not t.is_alive(), f'{getattr(fn, "__name__", fn)} blocked for {limit} s'
    if err:
        raise err[0]
    return out[0] if out else None


def _notify(c, n):
    def run():
        with c:
            if n is None:
                c.notify_all()
            elif n == 1:
                c.notify()  # notify(n=1): the plain call every version has
            else:
                c.notify(n)
    run.__name__ = 'notify_all' if n is None else f'notify({n})'
    return run


def _ended_within(p, limit):
    """Whether p ends within limit s, watched through its documented sentinel,
    not join(limit): billiard's join closes the sentinel even when it times
    out, so a later join(t) raises TypeError (repro/billiard/PROC-JOIN-TIMEOUT-RUNNING.py)."""
    return bool(select.select([p.sentinel], [], [], limit)[0])


def _exit_within(p, limit, what):
    assert _ended_within(p, limit), f'{what} still blocked after {limit} s'
    p.join()
    return p.exitcode


def COND_WAITER_KILLED_NOTIFY():
    c, ready = mp.Condition(), mp.Event()
    dead = _start_cwaiter(c, ready)
    live = _start_cwaiter(c, ready)
    wait_asleep(dead.pid)
    twin.kill_join(dead)
    _bounded(_notify(c, 1), 2.0)
    assert _exit_within(live, 2.0, 'the live waiter') == 0


def COND_WAITER_KILLED_NOTIFY_ALL():
    c, ready = mp.Condition(), mp.Event()
    a = _start_cwaiter(c, ready)
    dead = _start_cwaiter(c, ready)
    z = _start_cwaiter(c, ready)
    wait_asleep(dead.pid)
    twin.kill_join(dead)
    _bounded(_notify(c, None), 2.0)
    assert _exit_within(a, 2.0, 'the first live waiter') == 0
    assert _exit_within(z, 2.0, 'the last live waiter') == 0


def COND_WAITER_KILLED_NOTIFIED():
    c, ready = mp.Condition(), mp.Event()
    # CPython's notify wakes whichever sleeper the semaphore serves first:
    # both asleep in arrival order makes that the oldest (futex FIFO).
    dead = _start_cwaiter(c, ready)
    wait_asleep(dead.pid)
    nxt = _start_cwaiter(c, ready)
    wait_asleep(nxt.pid)
    assert c.acquire(timeout=10.0)
    c.notify()  # one, the oldest: dead
    wait_asleep(dead.pid)  # blocked on the lock we hold: still in wait()
    twin.kill_join(dead)
    c.release()
    assert not _ended_within(nxt, 0.3), 'the notification was passed on'
    assert twin.locked(c) is False, 'the lock was left held'
    _bounded(_notify(c, 1), 2.0)
    assert _exit_within(nxt, 2.0, 'the next waiter') == 0


def _child_notify_hold(c, ready):
    c.acquire()
    c.notify()
    ready.set()
    while True:
        time.sleep(100)  # killed by the parent holding the lock


def COND_LOCK_HOLDER_KILLED():
    # Python has no MP_EOWNERDEAD: the twin checks that the waiter returns.
    c, ready = mp.Condition(), mp.Event()
    waiter = _start_cwaiter(c, ready)
    ready.clear()
    holder = mp.Process(target=_child_notify_hold, args=(c, ready))
    holder.start()
    assert ready.wait(10.0)
    twin.kill(holder)
    _exit_within(waiter, 3.0, 'the notified waiter')
    holder.join(10)


def _child_hold_silent(c, ready):
    c.acquire()
    ready.set()
    while True:
        time.sleep(100)  # killed by the parent holding the lock


def COND_HOLDER_KILLED_WAKES_WAITERS():
    """CPython: the dead holder's lock is never released, so the acquire
    after its death times out and the waiters stay blocked."""
    c, ready = mp.Condition(), mp.Event()
    a = _start_cwaiter(c, ready)
    b = _start_cwaiter(c, ready)
    ready.clear()
    h = mp.Process(target=_child_hold_silent, args=(c, ready))
    h.start()
    assert ready.wait(10.0)
    twin.kill_join(h)
    assert c.acquire(timeout=5.0), 'the lock of the killed holder was never given back'
    c.release()
    assert _exit_within(a, 2.0, 'the first waiter') == 0
    assert _exit_within(b, 2.0, 'the second waiter') == 0


def _child_notify_loop(c, ready_w):
    """Loops acquire/notify(1)/release; says so through a pipe after the
    first round, so the kill lands inside the loop (a child killed before it
    ever ran, which a busy machine allows, would test nothing)."""
    with c:
        c.notify(1)
    os.write(ready_w, b'r')
    while True:
        with c:
            c.notify(1)


def COND_NOTIFIER_KILLED_ANYTIME():
    """A child loops acquire/notify/release and is killed at a random instant
    (the C row single-steps every instruction; Python cannot); a live
    notify(1) afterwards must get through and the waiter come back."""
    import random
    rng = random.Random(15)
    for r in range(5):
        c, ready = mp.Condition(), mp.Event()
        w = _start_cwaiter(c, ready)
        wait_asleep(w.pid)
        rd, wr = os.pipe()
        p = mp.Process(target=_child_notify_loop, args=(c, wr))
        p.start()
        os.close(wr)
        assert select.select([rd], [], [], 10)[0], f'round {r}: the notifier never looped'
        os.close(rd)
        until = twin.now() + rng.uniform(0.005, 0.02)
        while twin.now() < until:  # a random instant, not a synchronisation
            pass
        twin.kill_join(p)
        _bounded(_notify(c, 1), 3.0)
        assert _exit_within(w, 2.0, f'round {r}: the waiter') == 0
