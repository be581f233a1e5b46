"""Python twins of conformance/catalogue/barrier.tsv (tests/test_barrier.c).

multiprocessing.Barrier (threading.Barrier's semantics on shared state):
BrokenBarrierError is MP_EBROKEN; wait() returns the party's index.  An
action fails in Python by raising (its return value is ignored): that is the
twin of a C action returning non-zero.
"""
import functools, os, sys, threading

import twin
from twin import mp
from twin import prompt

Broken = threading.BrokenBarrierError


twin.kill_children_at_exit()


def outcome(fn, *args):
    """wait's result as ('OK', index), ('EBROKEN', None) or (exception, None)."""
    try:
        return 'OK', fn(*args)
    except Broken:
        return 'EBROKEN', None
    except Exception as e:  # noqa: BLE001
        return e, None


def run_parties(b, n, rounds, timeout, actions=None):
    """n threads pass b `rounds` times; per party a list of (status, index, seen)."""
    res = [[] for _ in range(n)]

    def party(i):
        for _ in range(rounds):
            st, idx = outcome(b.wait, timeout)
            res[i].append((st, idx, actions[0] if actions is not None else None))

    th = [threading.Thread(target=party, args=(i,)) for i in range(n)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    return res


def BAR_WAIT_INDEX():
    b = mp.Barrier(3)
    res = run_parties(b, 3, 3, 10.0)
    for r in range(3):
        got = [res[i][r] for i in range(3)]
        assert all(st == 'OK' for st, _, _ in got), f'round {r}: {got}'
        assert sorted(idx for _, idx, _ in got) == [0, 1, 2], f'round {r}: indexes {got}'
    assert not b.broken


def BAR_ACTION():
    actions = [0]

    def count():
        actions[0] += 1

    b = mp.Barrier(3, action=count)
    res = run_parties(b, 3, 2, 10.0, actions)
    assert actions[0] == 2, f'{actions[0]} actions for 2 generations'
    for i in range(3):
        for r in range(2):
            st, _, seen = res[i][r]
            assert st == 'OK', (i, r, st)
            assert seen >= r + 1, f'party {i} returned from round {r} before its action'


class ActionFailed(Exception):
    pass


def _failing_action():
    raise ActionFailed('action failed')


def BAR_ACTION_FAIL():
    b = mp.Barrier(3, action=_failing_action)
    res = run_parties(b, 3, 1, 10.0)
    got = [res[i][0][0] for i in range(3)]
    # The party that ran the action gets the action's own exception (Python's
    # form of the action's failure); every other party gets BrokenBarrierError.
    own = [g for g in got if isinstance(g, ActionFailed)]
    assert len(own) <= 1 and all(g == 'EBROKEN' or g in own for g in got), \
        f'parties of the generation: {got}'
    assert b.broken
    st, _ = prompt(outcome, b.wait, 10.0)
    assert st == 'EBROKEN', f'a later wait: {st}'


def BAR_TIMEOUT():
    b = mp.Barrier(2)
    twin.assert_timed(lambda: b.wait(0.2), Broken, 0.2)
    assert b.broken
    st, _ = prompt(outcome, b.wait)
    assert st == 'EBROKEN', f'wait() on the broken Barrier: {st}'
    b.reset()
    st, _ = prompt(outcome, b.wait, 0)
    assert st == 'EBROKEN', f'wait(0) alone: {st}'
    b.reset()
    st, _ = prompt(outcome, b.wait, -1)
    assert st == 'EBROKEN', f'wait(-1) alone: {st}'


def _party_waits_broken(b):
    t0 = time.monotonic()
    try:
        b.wait(30.0)
    except Broken:
        sys.exit(0 if time.monotonic() - t0 < 20.0 else 2)
    sys.exit(1)


def BAR_TIMEOUT_WAKES_PARTIES():
    b = mp.Barrier(3)
    p = mp.Process(target=_party_waits_broken, args=(b,))
    p.start()
    wait_asleep(p.pid)
    twin.assert_timed(lambda: b.wait(0.3), Broken, 0.3)
    p.join(30.0)
    assert p.exitcode != 2, 'the party asleep in wait was not woken when the barrier broke'
    assert p.exitcode == 0, f'the sleeping party\'s wait did not raise BrokenBarrierError ({p.exitcode})'
    assert b.broken


def BAR_DEFAULT_TIMEOUT():
    b = mp.Barrier(2, timeout=0.15)
    twin.assert_timed(b.wait, Broken, 0.15)


def BAR_SINGLE_PARTY():
    b = mp.Barrier(1)
    for _ in range(3):
        assert prompt(b.wait) == 0


def start_waiter(b):
    """One party waiting on b (in a thread); returns once n_waiting shows it."""
    got = []
    t = threading.Thread(target=lambda: got.append(outcome(b.wait, 10.0)[0]))
    t.start()
    t0 = twin.now()
    # n_waiting is the observable fact that the party has arrived
    while b.n_waiting < 1 and twin.now() - t0 < 10:
        os.sched_yield()
    assert b.n_waiting == 1, b.n_waiting
    return t, got


def BAR_ABORT():
    b = mp.Barrier(3)
    t, got = start_waiter(b)
    b.abort()
    t.join()
    assert got == ['EBROKEN'], got
    assert b.broken
    st, _ = prompt(outcome, b.wait, 10.0)
    assert st == 'EBROKEN', f'wait after abort: {st}'
    b.reset()
    assert not b.broken
    res = run_parties(b, 3, 1, 10.0)
    assert all(res[i][0][0] == 'OK' for i in range(3)), res


def BAR_RESET():
    b = mp.Barrier(3)
    t, got = start_waiter(b)
    b.reset()
    t.join()
    assert got == ['EBROKEN'], got
    assert not b.broken
    assert b.n_waiting == 0, b.n_waiting
    res = run_parties(b, 3, 2, 10.0)
    assert all(res[i][r][0] == 'OK' for i in range(3) for r in range(2)), res


def BAR_N_WAITING():
    b = mp.Barrier(2)
    assert b.parties == 2
    assert b.n_waiting == 0
    t, got = start_waiter(b)  # asserts n_waiting == 1
    st, _ = outcome(b.wait, 10.0)
    t.join()
    assert st == 'OK' and got == ['OK'], (st, got)
    assert b.n_waiting == 0, b.n_waiting


def _shared_action(shared):
    with shared.get_lock():
        shared[0] += 1


def _child_party(b, shared):
    # shared: [actions, index bits of round 0, index bits of round 1]
    for r in range(2):
        try:
            idx = b.wait(10.0)
        except Broken:
            sys.exit(1 + r)
        if not 0 <= idx <= 2:
            sys.exit(5)
        if shared[0] < r + 1:
            sys.exit(10)  # released before the action ran
        with shared.get_lock():
            shared[1 + r] |= 1 << idx
    sys.exit(0)


def BAR_CROSS_PROCESS():
    shared = mp.Array('i', 3)
    b = mp.Barrier(3, action=functools.partial(_shared_action, shared))
    ps = [mp.Process(target=_child_party, args=(b, shared)) for _ in range(3)]
    for p in ps:
        p.start()
    for i, p in enumerate(ps):
        p.join(30.0)
        assert p.exitcode == 0, f'child {i} failed ({p.exitcode})'
    assert shared[0] == 2, f'{shared[0]} actions for 2 rounds'
    assert shared[1] == 7 and shared[2] == 7, f'index bits {shared[1]:#o} {shared[2]:#o}'


# ------------------------------------------------------- killed processes
# CPython hangs in each of these (the rows say 'differs'): every wait is run
# in a daemon thread and judged after a bounded time, so a twin fails fast.

import time  # noqa: E402

from twins_queue import wait_asleep  # noqa: E402


def _child_bwait(b):
    try:
        b.wait()
    except Broken:
        sys.exit(3)
    sys.exit(0)


def _await_n_waiting(b, want):
    t0 = time.monotonic()
    while b.n_waiting < want:
        assert time.monotonic() - t0 < 10, f'n_waiting {b.n_waiting}, want {want}'
        time.sleep(0.001)  # polling an observable fact, not synchronisation


def _start_child_party(b, arrived):
    p = mp.Process(target=_child_bwait, args=(b,))
    p.start()
    _await_n_waiting(b, arrived)
    wait_asleep(p.pid)
    return p


class _Party(threading.Thread):
    def __init__(self, b, timeout=None):
        super().__init__(daemon=True)
        self.b, self.timeout, self.got = b, timeout, None
        self.start()

    def run(self):
        self.got = outcome(self.b.wait, self.timeout)[0]


def _results_within(parties, limit):
    t0 = time.monotonic()
    for t in parties:
        t.join(max(0.0, limit - (time.monotonic() - t0)))
    got = [t.got if not t.is_alive() else 'blocked' for t in parties]
    return got


def BAR_PARTY_KILLED():
    b = mp.Barrier(4)
    dead = _start_child_party(b, 1)
    ts = [_Party(b, None), _Party(b, 30.0)]
    _await_n_waiting(b, 3)
    twin.kill(dead)
    got = _results_within(ts, 3.0)
    assert got == ['EBROKEN', 'EBROKEN'], f'survivors: {got}'
    dead.join(10)
    assert b.broken
    assert prompt(outcome, b.wait)[0] == 'EBROKEN'


def BAR_PARTY_KILLED_LAST_ARRIVES():
    actions = []
    b = mp.Barrier(2, action=lambda: actions.append(1))
    twin.kill_join(_start_child_party(b, 1))
    got = _results_within([_Party(b, None)], 1.0)
    assert got == ['EBROKEN'], f'the last arrival: {got}'
    assert actions == [], 'the action ran for a generation with a dead party'
    assert b.broken


def BAR_PARTY_KILLED_RESET():
    b = mp.Barrier(2)
    twin.kill_join(_start_child_party(b, 1))
    t = threading.Thread(target=b.reset, daemon=True)
    t.start()
    t.join(1.0)
    assert not t.is_alive(), 'reset blocked'
    assert not b.broken
    ts = [_Party(b, 30.0), _Party(b, 30.0)]
    got = _results_within(ts, 2.0)
    assert got == ['OK', 'OK'], f'live parties: {got}'


_in_victim = False
_in_action = None


def _blocking_action():
    if _in_victim:
        _in_action.set()
        while True:
            time.sleep(100)  # killed here


def _child_victim(b):
    global _in_victim
    _in_victim = True
    _child_bwait(b)


def BAR_ACTION_KILLED():
    global _in_action
    _in_action = mp.Event()
    b = mp.Barrier(3, action=_blocking_action)
    ts = [_Party(b, None), _Party(b, None)]
    _await_n_waiting(b, 2)
    victim = mp.Process(target=_child_victim, args=(b,))
    victim.start()
    assert _in_action.wait(10.0)
    twin.kill(victim)
    got = _results_within(ts, 3.0)
    assert got == ['EBROKEN', 'EBROKEN'], f'waiting parties: {got}'
    victim.join(10)


def _child_abort_reset(b, started):
    started.set()
    while True:
        b.abort()
        b.reset()


class _WaitResetWait(threading.Thread):
    """wait(3); on EBROKEN reset() and wait(3) again; got is both outcomes."""
    def __init__(self, b):
        super().__init__(daemon=True)
        self.b, self.got = b, None
        self.start()

    def run(self):
        first = outcome(self.b.wait, 3.0)[0]
        second = 'OK'
        if first == 'EBROKEN':
            self.b.reset()
            second = outcome(self.b.wait, 3.0)[0]
        self.got = (first, second)


def BAR_KILLED_ANYTIME():
    import random
    rng = random.Random(15)
    b = mp.Barrier(1)
    for r in range(30):
        started = mp.Event()
        p = mp.Process(target=_child_abort_reset, args=(b, started))
        p.start()
        assert started.wait(10.0)
        until = time.monotonic() + rng.uniform(0.0, 0.002)
        while time.monotonic() < until:  # a random instant, not a synchronisation
            pass
        twin.kill_join(p)
        got = _results_within([_WaitResetWait(b)], 8.0)[0]
        assert got != 'blocked', (f'round {r}: a wait after a caller was killed at a random instant '
                                  f'is still blocked after 8 s: the Barrier\'s lock is never given back')
        assert got[0] in ('OK', 'EBROKEN') and got[1] == 'OK', f'round {r}: {got}'


# ------------------------------------------------ CPython's tests, continued

THOUSAND = 1000


def _thousand_party(b, fd):
    """Passes b THOUSAND times, writing the pass number (4 bytes, one atomic
    pipe write) after each pass."""
    for i in range(THOUSAND):
        b.wait()
        os.write(fd, i.to_bytes(4, 'little'))


def BAR_THOUSAND():
    r, w = os.pipe()
    b = mp.Barrier(3)
    ps = [twin.start(_thousand_party, b, w) for _ in range(3)]
    os.close(w)
    with os.fdopen(r, 'rb') as f:
        for i in range(THOUSAND):
            for k in range(3):
                got = f.read(4)
                assert len(got) == 4, f'the parties stopped reporting at pass {i}'
                got = int.from_bytes(got, 'little')
                assert got == i, f'report {k} of pass {i} was pass {got}: not in step'
    for i, p in enumerate(ps):
        assert twin.join_code(p, 30.0) == 0, f'party {i} failed ({p.exitcode})'
