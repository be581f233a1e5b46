"""Python twins of conformance/catalogue/event.tsv (tests/test_event.c).

multiprocessing.Event: wait returns False on a timeout (MP_TIMEOUT).
"""
import os, select, sys, threading, time

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



def EVT_SET_WAKES_PROMPT():
    """15 rounds: two threads asleep in wait(); the median time from set() to
    the last one's return is far below a polling period."""
    import queue as q
    import statistics
    e = mp.Event()
    rounds = 15
    go, done, tids = threading.Semaphore(0), q.Queue(), q.Queue()

    def waiter():
        tids.put(threading.get_native_id())
        for _ in range(rounds):
            go.acquire()
            done.put((e.wait(30.0), twin.now()))

    ts = [threading.Thread(target=waiter) for _ in range(2)]
    for t in ts:
        t.start()
    ids = [tids.get(timeout=10) for _ in ts]
    lat = []
    for _ in range(rounds):
        e.clear()
        for _ in ts:
            go.release()
        for tid in ids:
            twin.wait_asleep(tid)  # blocked in wait
        t0 = twin.now()
        e.set()
        back = [done.get(timeout=10) for _ in ts]
        assert all(ok for ok, _ in back), 'a wait did not return True'
        lat.append(max(at for _, at in back) - t0)
    for t in ts:
        t.join()
    med = statistics.median(lat)
    assert med < 0.02, f'median {med:.4f} s from set to the last waiter\'s return'


def _child_set_loop(e, ready_w):
    """Loops set/clear; says so through a pipe after the first round, so the
    kill lands inside the loop (a child killed before it ever ran, which a
    busy machine allows, would test nothing)."""
    e.set()
    e.clear()
    os.write(ready_w, b'r')
    while True:
        e.set()
        e.clear()


def EVT_SETTER_KILLED_ANYTIME():
    """A child loops set/clear and is killed at a random instant (the C row
    single-steps; Python cannot); a thread asleep in wait meanwhile, and a live
    set() afterwards, must both come back within a bound.  CPython's set and
    clear hold the Event's Condition lock, which a killed child never gives
    back: the live set() blocks."""
    import random
    rng = random.Random(15)
    for r in range(10):
        e = mp.Event()
        back = []
        t = threading.Thread(target=lambda: back.append(e.wait(10.0)), daemon=True)
        t.start()
        rd, wr = os.pipe()
        p = mp.Process(target=_child_set_loop, args=(e, wr))
        p.start()
        os.close(wr)
        assert select.select([rd], [], [], 10)[0], f'round {r}: the setter never looped'
        os.close(rd)
        until = twin.now() + rng.uniform(0.005, 0.02)
        while twin.now() < until:  # a random instant, not a synchronisation
            pass
        twin.kill(p)
        p.join(10)
        assert p.exitcode == -9, p.exitcode
        s = threading.Thread(target=e.set, daemon=True)
        s.start()
        s.join(2.0)
        assert not s.is_alive(), f'round {r}: set() after the setter\'s death blocked for 2 s'
        t.join(2.0)
        assert back == [True], f'round {r}: the waiter is still in wait'
