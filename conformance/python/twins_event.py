"""Python twins of conformance/catalogue/event.tsv (tests/test_event.c).

multiprocessing.Event: wait returns False on a timeout (MP_TIMEOUT).
"""
import sys, threading, time

import twin
from twin import mp
from twin import prompt


twin.kill_children_at_exit()


def EVT_SET_CLEAR():
    e = mp.Event()
    assert not e.is_set()
    e.set()
    assert e.is_set()
    e.set()  # idempotent
    assert prompt(e.wait) is True
    assert prompt(e.wait, 0) is True
    e.clear()
    assert not e.is_set()
    e.clear()
    assert not e.is_set()
    assert prompt(e.wait, 0) is False


def EVT_WAIT_TIMEOUT():
    e = mp.Event()
    twin.assert_timed(lambda: e.wait(0.2), None, 0.2)
    assert prompt(e.wait, 0) is False
    assert prompt(e.wait, -5.0) is False
    assert not e.is_set()


def EVT_SET_WAKES_ALL():
    e = mp.Event()
    started = threading.Semaphore(0)
    got = [None] * 4

    def waiter(i):
        started.release()
        got[i] = e.wait(10.0)

    th = [threading.Thread(target=waiter, args=(i,)) for i in range(4)]
    for t in th:
        t.start()
    for _ in range(4):
        assert started.acquire(timeout=10.0)
    e.set()
    for t in th:
        t.join()
    assert got == [True] * 4, got


def _child_ping(go, reply):
    if not go.wait(10.0):
        sys.exit(1)
    reply.set()
    sys.exit(0)


def EVT_CROSS_PROCESS():
    go, reply = mp.Event(), mp.Event()
    p = mp.Process(target=_child_ping, args=(go, reply))
    p.start()
    go.set()
    assert reply.wait(10.0), 'the child\'s set did not wake the parent'
    assert reply.is_set()
    p.join(30.0)
    assert p.exitcode == 0, f'the parent\'s set did not wake the child (exitcode {p.exitcode})'


def _child_timed_wait(go, reply):
    t0 = time.monotonic()
    r = go.wait(0.3)
    el = time.monotonic() - t0
    reply.set()
    if r is not False:
        sys.exit(1)
    if el < 0.3:
        sys.exit(2)
    sys.exit(0 if go.wait(10.0) else 4)


def EVT_WAIT_TIMEOUT_CHILD():
    go, reply = mp.Event(), mp.Event()
    p = mp.Process(target=_child_timed_wait, args=(go, reply))
    p.start()
    assert reply.wait(30.0), 'the child\'s timed wait did not end'
    go.set()
    p.join(30.0)
    assert p.exitcode != 1, 'the child\'s wait(0.3) did not return False'
    assert p.exitcode != 2, 'the child\'s wait(0.3) returned early'
    assert p.exitcode == 0, f'child exit code {p.exitcode}'
