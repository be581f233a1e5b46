"""Python twins of conformance/catalogue/condition.tsv (tests/test_condition.c).

multiprocessing.Condition: wait/wait_for return False on a timeout
(MP_TIMEOUT); use without the lock raises AssertionError (MP_ENOTOWNER).  A
thread that is "waiting" is known to be inside wait() because it announced
itself while holding the lock and only wait() released it.
"""
import multiprocessing as mp, multiprocessing.util, sys, threading

import twin
from twin import prompt, locked


twin.kill_children_at_exit()


def notowner(fn, *args):
    """'ENOTOWNER' when fn raises AssertionError, else what it did."""
    try:
        fn(*args)
    except AssertionError:
        return 'ENOTOWNER'
    except Exception as e:  # noqa: BLE001
        return f'{type(e).__name__}: {e}'
    return 'OK'


class Pool:
    """Five waiter threads; on return from __init__ the lock is held and all
    five are inside wait()."""

    def __init__(self):
        self.c = mp.Condition()
        self.arrived, self.woke = threading.Semaphore(0), threading.Semaphore(0)
        self.woken, self.bad = 0, []
        self.t = [threading.Thread(target=self.waiter) for _ in range(5)]
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
