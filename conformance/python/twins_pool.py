"""Python twins of conformance/catalogue/pool.tsv (tests/test_pool.c), run
against CPython's multiprocessing.Pool (fork start method).  Each function
checks the row it is named after and raises AssertionError when CPython
behaves otherwise.

Mapping: a C task is a module-level function (pickled by reference); its
failure status is an exception (MP_EINVAL -> ValueError, MP_ETYPE ->
TypeError); MP_TIMEOUT is multiprocessing.TimeoutError; MP_ESTATE is
ValueError; mp_pool_size is len(pool._pool); chunksize 0 is chunksize=None.
What tasks share with the twin (an Event they block on, counters, a Barrier)
is made before the pool and reaches the workers by fork, as the C suite's
MAP_SHARED fixtures do.  Tasks report that they have started through a
Semaphore, never through sleeps.

'differs' rows (a dying worker, terminate with results pending, waiting in a
callback) hang CPython; their twins wait at most LOST seconds for what the
row promises and then fail with the reason; a failing `with pool()` block
kills the workers and ends the twin at once (pool()), so nothing outlives the
twin and no clean-up decides between a fail and a timeout.  imap(f, 3) raises its
TypeError at the first next() (CPython iterates the argument lazily); the
twin accepts it there."""
import contextlib
import math
import os
import random
import re
import select
import signal
import struct
import sys
import threading
import time

import twin
from twin import mp
from twin import prompt_raises

LONG = 30.0  # bound for things that must happen (never reached when they do)
LOST = 5.0   # how long a differs twin waits for what CPython never delivers
FINISH_GRACE = 5.0  # finish(): how long workers get to leave on their own

twin.kill_children_at_exit()

@contextlib.contextmanager
def pool(*args, **kw):
    """`with pool(...) as p:` is `with mp.Pool(...) as p:` (terminate at the
    end) while the block succeeds; when it raises, the twin has failed and
    ends at once through twin.fail_now(), never through terminate, which
    waits up to 30 s per worker in billiard: a failing row would otherwise
    be a 'fail' or a 'timeout' depending on the machine's load."""
    with mp.Pool(*args, **kw) as p:
        try:
            yield p
        except BaseException:  # noqa: BLE001 - reported, then the process ends
            twin.fail_now()


# -------------------------------------------------------------- fixtures
# Made by fixtures() before the pool, so every worker (and every
# replacement, forked later from this process) inherits them.

_EV = _STARTED = _CUR = _MAX = _INITS = _PID = _BARRIER = None
_SEQ = 0          # tasks this worker ran before (per process)
_INIT_VALUE = -1  # what the initializer got (per process)


def fixtures():
    global _EV, _STARTED, _CUR, _MAX, _INITS, _PID, _BARRIER
    _EV = mp.Event()
    _STARTED = mp.Semaphore(0)
    _CUR, _MAX, _INITS, _PID = (mp.Value('i', 0) for _ in range(4))
    _BARRIER = mp.Barrier(2)


def wait_started(n):
    for i in range(n):
        assert _STARTED.acquire(timeout=LONG), f'only {i} of {n} tasks started in {LONG} s'


def never_arrives(what, get, reason, since=None):
    """get() must end (with a value or an exception) within LOST seconds of
    `since` (twin.now() when the task was submitted or its worker killed;
    default: now); CPython's TimeoutError there is the row's difference.
    Counting from the event, not from whenever the twin gets to ask, keeps
    the verdict from depending on how long the twin's other checks took
    (billiard reports a lost worker ~11 s after its death, its
    lost_worker_timeout: always later than LOST, never "sometimes")."""
    wait = LOST if since is None else max(0.0, since + LOST - twin.now())
    try:
        return get(wait)
    except mp.TimeoutError:
        raise AssertionError(f'{what}: still pending {LOST} s after it was due '
                             f'({reason})') from None


def finish(p):
    """The end of a twin whose row says nothing of how a pool shuts down,
    once its checks passed: close, give the workers FINISH_GRACE s to leave on
    their sentinel, SIGKILL any still there, then terminate and join.  A
    billiard worker that ran a chunk of a map credited to another worker
    waits 30 s before exiting, on close+join and on terminate alike
    (expect/repro/billiard/POOL-JOIN-AFTER-MAP.py): no part of these rows,
    and it would put them at the runner's timeout.  Only workers past their
    sentinel are killed, so no lock of the pool dies held (CPython's
    terminate would then hang).  The rows about shutdown (POOL-JOIN-WAITS,
    POOL-TERMINATE-*, POOL-SCOPED, ...) use close/join/terminate alone."""
    workers = list(getattr(p, '_pool', ()))
    p.close()
    deadline = twin.now() + FINISH_GRACE
    left = [w for w in workers if w.sentinel is not None]
    while left and twin.now() < deadline:
        ready = mp.connection.wait([w.sentinel for w in left], deadline - twin.now())
        left = [w for w in left if w.sentinel not in ready]
    for w in left:
        try:
            os.kill(w.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    p.terminate()
    p.join()


def nxt(it, timeout):
    """The iterator's next item within timeout.  CPython's imap with a
    chunksize above 1 returns a plain generator (no next(timeout)): its
    next() then runs on a helper thread, waited for at most timeout."""
    if hasattr(it, 'next'):
        return it.next(timeout)
    out = []

    def run():
        try:
            out.append((True, next(it)))
        except BaseException as e:  # noqa: BLE001 - handed to the caller
            out.append((False, e))
    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout)
    if not out:
        raise mp.TimeoutError
    ok, v = out[0]
    if ok:
        return v
    raise v


class Rec:
    """Callback records: values, the threads they ran on, errors."""

    def __init__(self):
        self.mu = threading.Lock()
        self.vals, self.thr, self.errs = [], [], []

    def ok(self, v):
        with self.mu:
            self.vals.append(v)
            self.thr.append(threading.get_ident())

    def err(self, e):
        with self.mu:
            self.errs.append(e)


# ------------------------------------------------------------------ tasks

def t_sq(i):
    return i * i


def t_ident(a):
    return a


def t_none(_):
    pass


def t_fail(i):
    raise ValueError(f'bad item {i}')


def t_sq_fail3(i):
    if i == 3:
        raise ValueError('three is bad')
    return i * i


def t_pid(_):
    return os.getpid()


def t_wait(a):
    """Says it started, then waits for the twin's event."""
    _STARTED.release()
    _EV.wait()
    return a


def t_work(ms):
    """Sleeps ms milliseconds (the work being modelled), counting concurrency."""
    with _CUR.get_lock():
        _CUR.value += 1
        with _MAX.get_lock():
            _MAX.value = max(_MAX.value, _CUR.value)
    time.sleep(ms / 1000)
    with _CUR.get_lock():
        _CUR.value -= 1
    return ms


def t_sigkill(_):
    os.kill(os.getpid(), signal.SIGKILL)


def t_abort(_):
    os.abort()


def t_exit3(_):
    os._exit(3)


def t_report_and_block(_):
    _PID.value = os.getpid()
    _STARTED.release()
    _EV.wait()


def t_add(a, b):
    return a + b


def t_alarm(k, us):
    """Arms a one-shot timer of us microseconds (SIGALRM, default action:
    the worker dies a moment later, wherever it then is) and returns k * k."""
    if us > 0:
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGALRM})
        signal.setitimer(signal.ITIMER_REAL, us / 1e6)
    return k * k


def t_meet(_):
    """Two tasks that must run at once to finish."""
    _BARRIER.wait(10)
    return os.getpid()


def t_pid_seq(_):
    global _SEQ
    r = (os.getpid(), _SEQ)
    _SEQ += 1
    return r


def init_fn(v):
    global _INIT_VALUE
    with _INITS.get_lock():
        _INITS.value += 1
    _INIT_VALUE = v


def t_init_value(_):
    return (_INIT_VALUE, os.getpid())


def t_name(_):
    return (mp.current_process().name, os.getpid())


# ==================================================================== new

def POOL_NEW_SIZE():
    fixtures()
    with pool(3) as p:
        assert len(p._pool) == 3, f'{len(p._pool)} workers'
        rs = [p.apply_async(t_wait, (i,)) for i in range(3)]
        wait_started(3)  # three distinct processes: the three run at once
        _EV.set()
        assert [r.get(LONG) for r in rs] == [0, 1, 2]
        finish(p)


def POOL_DEFAULT_SIZE():
    with pool(None) as p:
        assert len(p._pool) == os.cpu_count(), f'{len(p._pool)} != {os.cpu_count()}'
        finish(p)


# ================================================================== apply

def POOL_APPLY_RESULT():
    with pool(2) as p:
        for i in range(5):
            r = p.apply(t_sq, (i + 3,))
            assert r == (i + 3) ** 2, r
        finish(p)


def POOL_APPLY_NONE():
    with pool(1) as p:
        assert p.apply(t_none, (1,)) is None
        finish(p)


def POOL_APPLY_BLOCKS():
    fixtures()
    with pool(2) as p:
        t0 = twin.now()
        assert p.apply(t_work, (150,)) == 150
        assert twin.now() - t0 >= 0.150, 'apply returned before the task\'s work was done'
        assert _CUR.value == 0, 'the task was still running when apply returned'
        assert _MAX.value == 1
        finish(p)


def POOL_APPLY_ERROR():
    with pool(1) as p:
        try:
            p.apply(t_fail, (42,))
        except ValueError as e:  # the task's "status" is its exception type
            assert 'bad item 42' in str(e), str(e)
        else:
            raise AssertionError('apply of a failing task did not raise')
        assert p.apply(t_sq, (42,)) == 42 * 42, 'the pool did not go on'
        finish(p)


def POOL_VALUES_ROUNDTRIP():
    a = ({'k': [None, True, 2.5], -7: b'\0\1\2'}, 'h\u00e9llo', -2**63, 2**63 - 1)
    with pool(1) as p:
        r = p.apply(t_ident, (a,))
        assert type(r) is tuple, type(r)
        assert r == a and repr(r) == repr(a), f'{r!r} != {a!r}'
        finish(p)


def POOL_LARGE_VALUES():
    a = os.urandom(6 << 20)
    with pool(2) as p:
        for _ in range(2):
            r = p.apply(t_ident, (a,))
            assert type(r) is bytes and r == a, 'the bytes changed on their way'
        finish(p)


# ============================================================ apply_async

def POOL_APPLY_ASYNC_RETURNS_AT_ONCE():
    fixtures()
    with pool(1) as p:
        r = twin.prompt(p.apply_async, t_wait, (5,))
        assert not r.ready()
        _EV.set()
        assert r.get(LONG) == 5
        assert r.ready()
        finish(p)


def POOL_APPLY_ASYNC_CALLBACK():
    rc = Rec()
    with pool(2) as p:
        r = p.apply_async(t_sq, (9,), callback=rc.ok, error_callback=rc.err)
        assert r.get(LONG) == 81
        with rc.mu:
            assert rc.vals == [81], f'callback not run before get returned: {rc.vals}'
            assert rc.errs == []
        finish(p)


def POOL_ERROR_CALLBACK():
    rc = Rec()
    with pool(1) as p:
        r = p.apply_async(t_fail, (17,), callback=rc.ok, error_callback=rc.err)
        try:
            r.get(LONG)
        except ValueError as e:
            assert 'bad item 17' in str(e), str(e)
        else:
            raise AssertionError('get of a failing task did not raise')
        with rc.mu:
            assert len(rc.errs) == 1, rc.errs
            assert rc.vals == []
            assert isinstance(rc.errs[0], ValueError) and 'bad item 17' in str(rc.errs[0]), \
                f'error_callback got {rc.errs[0]!r}'
        finish(p)


def t_gated(i):
    """Returns i once the parent sets _GATES[i] (inherited: set before the pool)."""
    assert _GATES[i].wait(LONG), f'gate {i} never opened'
    return i


def POOL_CALLBACK_ONE_THREAD():
    global _GATES
    rc = Rec()
    _GATES = [mp.Event() for _ in range(6)]
    order = [3, 0, 5, 1, 4, 2]  # completion order differs from submission order
    with pool(6) as p:  # one worker per task, so each waits on its own gate
        rs = [p.apply_async(t_gated, (i,), callback=rc.ok) for i in range(6)]
        for i in order:  # task i completes, its callback runs, then the next
            _GATES[i].set()
            rs[i].wait(LONG)
            assert rs[i].ready()
        with rc.mu:
            assert len(set(rc.thr)) == 1, 'callbacks ran on two threads'
            assert rc.thr[0] != threading.get_ident(), 'callbacks ran on the caller\'s thread'
            assert rc.vals == order, f'completion order {order}, callbacks {rc.vals}'
        finish(p)


def POOL_CALLBACK_CAN_SUBMIT():
    second = []
    with pool(2) as p:
        def submit(v):
            second.append(p.apply_async(t_sq, (v + 1,)))
        r = p.apply_async(t_sq, (3,), callback=submit)
        r.wait(LONG)  # the callback has run
        assert r.ready()
        assert len(second) == 1, 'the callback could not submit'
        assert second[0].get(LONG) == 100
        finish(p)


def POOL_WAIT_IN_CALLBACK():
    fixtures()
    out = []
    with pool(2) as p:
        pending = p.apply_async(t_wait, (1,))

        def wait_in_callback(_):
            try:
                pending.wait()
                out.append('returned')
            except Exception as e:  # noqa: BLE001 - the status the row asks for
                out.append(e)

        r = p.apply_async(t_sq, (1,), callback=wait_in_callback)
        try:
            r.wait(LOST)
            if not r.ready():
                raise AssertionError(f'the callback\'s wait() on a pending result was '
                                     f'still blocked after {LOST} s: the result-handler '
                                     f'thread is deadlocked')
            assert out and isinstance(out[0], Exception), \
                f'the wait in the callback gave {out} (ready() {r.ready()})'
        finally:
            _EV.set()  # the pending task may end now
            if not out:
                # The callback is still blocked in wait(): only the result-
                # handler thread it blocks could set `pending`, and terminate()
                # would join that thread forever.
                pending._event.set()
        assert pending.get(LONG) == 1
        finish(p)


# ============================================================ AsyncResult

def POOL_GET_TIMEOUT():
    fixtures()
    with pool(1) as p:
        r = p.apply_async(t_wait, (1,))
        twin.assert_timed(lambda: r.get(0.3), mp.TimeoutError, 0.3)
        twin.assert_timed(lambda: r.wait(0.2), None, 0.2)
        assert not r.ready()
        _EV.set()
        assert r.get(10) == 1
        finish(p)


def POOL_GET_TIMEOUT_ZERO_NOT_READY():
    fixtures()
    with pool(1) as p:
        r = p.apply_async(t_wait, (1,))
        prompt_raises(mp.TimeoutError, r.get, 0)
        prompt_raises(mp.TimeoutError, r.get, -1)
        twin.prompt(r.wait, 0)
        assert not r.ready()
        try:
            r.get(math.nan)
        except mp.TimeoutError:
            raise AssertionError('get(nan) raised TimeoutError: a NaN timeout is taken '
                                 'as 0, not rejected') from None
        except ValueError:
            pass
        else:
            raise AssertionError('get(nan) of an unfinished task returned')
        _EV.set()
        r.wait(LONG)
        assert twin.prompt(r.get, 0) == 1
        finish(p)


def POOL_GET_TIMEOUT_MAP_QUEUED():
    fixtures()
    with pool(1) as p:
        m = p.map_async(t_wait, [5], chunksize=1)
        wait_started(1)
        q = p.apply_async(t_sq, (3,))
        twin.assert_timed(lambda: m.get(0.25), mp.TimeoutError, 0.25)
        twin.assert_timed(lambda: q.get(0.15), mp.TimeoutError, 0.15)
        assert not q.ready(), 'the task queued behind a blocked one is ready'
        _EV.set()
        assert m.get(LONG) == [5]
        assert q.get(LONG) == 9
        p.close()
        p.join()


def POOL_READY_WAIT():
    fixtures()
    with pool(1) as p:
        r = p.apply_async(t_wait, (1,))
        assert not r.ready()
        _EV.set()
        r.wait(LONG)
        assert r.ready()
        twin.prompt(r.wait, 0)
        finish(p)


def POOL_SUCCESSFUL_NOT_READY():
    fixtures()
    with pool(1) as p:
        r = p.apply_async(t_wait, (1,))
        twin.assert_raises(ValueError, r.successful)
        _EV.set()
        r.wait(LONG)
        assert r.successful() is True
        finish(p)


def POOL_SUCCESSFUL():
    with pool(2) as p:
        good = p.apply_async(t_sq, (1,))
        bad = p.apply_async(t_fail, (1,))
        good.wait(LONG)
        bad.wait(LONG)
        assert good.successful() is True
        assert bad.successful() is False
        finish(p)


# ==================================================================== map

def POOL_MAP_ORDER():
    with pool(3) as p:
        for cs in (None, 3, 6):
            r = p.map(t_sq, list(range(100)), chunksize=cs)
            assert type(r) is list
            assert r == [i * i for i in range(100)], f'chunksize {cs}: {r}'
        assert p.map(t_sq, (4, 5, 6)) == [16, 25, 36]
        finish(p)


def POOL_MAP_EMPTY():
    with pool(2) as p:
        assert p.map(t_sq, []) == []
        assert p.starmap(t_add, []) == []
        finish(p)


def assert_chunks(r, n, cs):
    """With maxtasksperchild=1 every chunk (one task) runs in a fresh worker,
    so chunk boundaries are where the pid changes and an item's place in its
    worker's sequence is its place in its chunk."""
    assert len(r) == n
    for i, (pid, seq) in enumerate(r):
        if i > 0:
            same = pid == r[i - 1][0]
            assert same == (i % cs != 0), \
                f'item {i} {"shares" if same else "is not in"} the chunk of item {i - 1} ' \
                f'(chunks of {cs})'
        assert seq == i % cs, f'item {i} ran out of its chunk\'s order'


def POOL_MAP_CHUNKSIZE():
    with pool(2, maxtasksperchild=1) as p:
        assert_chunks(p.map(t_pid_seq, range(23), chunksize=5), 23, 5)
        finish(p)


def POOL_MAP_DEFAULT_CHUNKSIZE():
    with pool(2, maxtasksperchild=1) as p:
        # ceil(41 / 8) = 6, not 5
        assert_chunks(p.map(t_pid_seq, range(41)), 41, 6)
        finish(p)


def POOL_MAP_ERROR():
    with pool(2) as p:
        try:
            p.map(t_sq_fail3, range(10), chunksize=2)
        except ValueError as e:
            assert 'three is bad' in str(e), str(e)
        else:
            raise AssertionError('map with a failing item did not raise')
        assert p.map(t_sq, range(10), chunksize=2) == [i * i for i in range(10)]
        finish(p)


def POOL_MAP_NOT_SEQUENCE():
    """The refused call is an error the program handles, so the pool must
    still close and join as usual afterwards (the C row frees it): close +
    join, not finish(), whose terminate() could overtake a result handler
    that dies on the refused imap (billiard: repro/billiard/
    POOL-MAP-NOT-SEQUENCE.py), making the verdict a race."""
    with pool(1) as p:
        twin.assert_raises(TypeError, p.map, t_sq, 3)
        # CPython iterates imap's argument lazily: the TypeError comes at the
        # first next(), not at the call.
        twin.assert_raises(TypeError, lambda: next(p.imap(t_sq, 3)))
        p.close()
        p.join()


def POOL_MAP_ASYNC():
    fixtures()
    rc = Rec()
    with pool(2) as p:
        r = twin.prompt(lambda: p.map_async(t_wait, range(6), chunksize=1, callback=rc.ok,
                                            error_callback=rc.err))
        assert not r.ready()
        _EV.set()
        assert r.get(LONG) == list(range(6))
        with rc.mu:
            assert rc.vals == [list(range(6))], f'callback got {rc.vals}'
            assert rc.errs == []
        finish(p)


def POOL_MAP_ASYNC_ERROR_CALLBACK():
    rc = Rec()
    with pool(2) as p:
        r = p.map_async(t_sq_fail3, range(8), chunksize=1, callback=rc.ok,
                        error_callback=rc.err)
        twin.assert_raises(ValueError, r.get, LONG)
        p.close()
        p.join()  # every chunk is back
        with rc.mu:
            assert len(rc.errs) == 1, rc.errs
            assert rc.vals == []
            assert 'three is bad' in str(rc.errs[0]), str(rc.errs[0])


def POOL_STARMAP():
    with pool(2) as p:
        r = p.starmap(t_add, [(i, 10 * i) for i in range(10)], chunksize=3)
        assert r == [11 * i for i in range(10)], r
        twin.assert_raises(TypeError, p.starmap, t_add, [(1, 2), 3])
        finish(p)


def POOL_STARMAP_ASYNC():
    rc = Rec()
    with pool(2) as p:
        r = p.starmap_async(t_add, [[i, i] for i in range(7)], callback=rc.ok)
        want = [2 * i for i in range(7)]
        assert r.get(LONG) == want
        with rc.mu:
            assert rc.vals == [want], rc.vals
        finish(p)


# =================================================================== imap

def POOL_IMAP_ORDER():
    with pool(3) as p:
        for cs in (1, 7):
            it = p.imap(t_sq, range(50), chunksize=cs)
            for i in range(50):
                assert nxt(it, LONG) == i * i
            twin.assert_raises(StopIteration, nxt, it, LONG)
            # timeout 0 (an exhausted generator cannot block: plain next)
            twin.assert_raises(StopIteration, getattr(it, 'next', lambda _: next(it)), 0)
        finish(p)


def t_held_or_quick(a):
    """300 waits for the twin's event (after saying it started); any other
    value comes back at once."""
    if a == 300:
        return t_wait(a)
    return a


def POOL_IMAP_UNORDERED_ALL():
    """The first task is held until the other four results have come back
    (an event, not a 300 ms sleep that a busy machine can outlast): so its
    result must come last."""
    fixtures()
    with pool(2) as p:
        it = p.imap_unordered(t_held_or_quick, [300, 1, 2, 3, 4], chunksize=1)
        wait_started(1)
        got = [it.next(LONG) for _ in range(4)]
        _EV.set()
        got.append(it.next(LONG))
        twin.assert_raises(StopIteration, it.next, LONG)
        assert sorted(got) == [1, 2, 3, 4, 300], f'not every result once: {got}'
        assert got[4] == 300, f'the slow task\'s result should come last: {got}'
        finish(p)


def POOL_IMAP_NEXT_TIMEOUT():
    fixtures()
    with pool(1) as p:
        it = p.imap(t_wait, range(2), chunksize=1)
        twin.assert_timed(lambda: it.next(0.25), mp.TimeoutError, 0.25)
        prompt_raises(mp.TimeoutError, it.next, 0)
        _EV.set()
        assert [it.next(LONG) for _ in range(2)] == [0, 1]
        finish(p)


def POOL_IMAP_ERROR():
    with pool(2) as p:
        it = p.imap(t_sq_fail3, range(6), chunksize=1)
        for i in range(6):
            if i == 3:
                try:
                    it.next(LONG)
                except ValueError as e:
                    assert 'three is bad' in str(e), str(e)
                else:
                    raise AssertionError('the failing item gave a value')
                continue
            assert it.next(LONG) == i * i
        twin.assert_raises(StopIteration, it.next, LONG)
        finish(p)


# ============================================================= busy waits

def POOL_BUSY_WAITS():
    fixtures()
    T = 60  # ms of modelled work per task
    with pool(3) as p:
        t0 = twin.now()
        rs = [p.apply_async(t_work, (T,)) for _ in range(10)]
        for r in rs:
            r.wait(LONG)
            assert r.ready()
        el = twin.now() - t0
        mx = _MAX.value
        assert mx <= 3, f'{mx} tasks ran at once in Pool(3)'
        assert mx >= 2, f'tasks did not run in parallel (at most {mx} at once)'
        assert el >= 4 * T / 1000, f'10 tasks of {T} ms took {el:.3f} s < ceil(10/3)*T'
        assert el <= 4 * T / 1000 + 2.0, f'10 tasks of {T} ms took {el:.3f} s'
        finish(p)


# ================================================== close/join/terminate

def POOL_CLOSE_THEN_SUBMIT():
    with pool(1) as p:
        p.close()
        p.close()  # idempotent
        l3 = [0, 1, 2]
        for name, call in (('apply', lambda: p.apply(t_sq, (2,))),
                           ('apply_async', lambda: p.apply_async(t_sq, (2,))),
                           ('map', lambda: p.map(t_sq, l3)),
                           ('map_async', lambda: p.map_async(t_sq, l3)),
                           ('starmap', lambda: p.starmap(t_add, l3)),
                           ('imap', lambda: p.imap(t_sq, l3)),
                           ('imap_unordered', lambda: p.imap_unordered(t_sq, l3))):
            try:
                call()
            except ValueError:  # MP_ESTATE; the wording is CPython's own
                pass
            else:
                raise AssertionError(f'{name} after close did not raise')
        p.join()


def POOL_JOIN_BEFORE_CLOSE():
    with pool(1) as p:
        prompt_raises(ValueError, p.join)
        p.close()
        p.join()


def POOL_JOIN_WAITS():
    fixtures()
    rc = Rec()
    with pool(2) as p:
        for _ in range(6):
            p.apply_async(t_work, (80,), callback=rc.ok)
        t0 = twin.now()
        p.close()
        p.join()
        assert twin.now() - t0 >= 0.080 * 3 - 0.080, 'join returned before the tasks could finish'
        with rc.mu:
            assert len(rc.vals) == 6, f'join returned before every callback ran: {rc.vals}'
        assert _CUR.value == 0
        twin.prompt(p.join)  # again: nothing left to wait for


def POOL_TERMINATE_PROMPT():
    fixtures()
    with pool(2) as p:
        for _ in range(2):
            p.apply_async(t_wait, (1,))
        wait_started(2)
        twin.prompt(p.terminate)
        twin.prompt(p.join)
        assert all(w.exitcode is not None for w in p._pool), 'a worker outlived join'


def POOL_TERMINATE_PENDING_FAIL():
    fixtures()
    rc = Rec()
    with pool(1) as p:
        running = p.apply_async(t_wait, (1,), error_callback=rc.err)
        queued = p.apply_async(t_sq, (1,), error_callback=rc.err)
        it = p.imap(t_sq, range(4), chunksize=2)
        p.terminate()
        reason = 'CPython leaves results pending at terminate unresolved forever'
        for what, get in (('the running task\'s get()', running.get),
                          ('the queued task\'s get()', queued.get),
                          ('imap\'s next()', lambda t: nxt(it, t))):
            try:
                never_arrives(what, get, reason)
            except AssertionError:
                raise
            except Exception:  # noqa: BLE001 - failing is what the row asks
                pass
            else:
                raise AssertionError(f'{what} returned a value after terminate')
        with rc.mu:
            assert len(rc.errs) == 2, f'error_callback ran {len(rc.errs)} times, want 2'
        p.join()


def POOL_SCOPED():
    fixtures()
    # A terminate that hangs (billiard's waits up to 30 s a worker) is this
    # row's failure: bounded, it is one in seconds, never a runner timeout.
    with twin.bounded(5.0):
        with pool(2) as p:
            r = p.apply_async(t_wait, (1,))
            t0 = twin.now()
    el = twin.now() - t0
    assert el < 1.0, f'leaving `with Pool()` took {el:.3f} s: it did not terminate the pool'
    assert not r.ready()
    try:
        never_arrives('get() of a result of the terminated pool', r.get,
                      'CPython leaves results pending at terminate unresolved forever')
    except AssertionError:
        raise
    except Exception:  # noqa: BLE001 - failing is what the row asks
        pass
    else:
        raise AssertionError('get() returned a value from a terminated task')


def POOL_MANY_TASKS():
    N = 12000
    with pool(2) as p:
        rs = [p.apply_async(t_sq, (i,)) for i in range(N)]
        for i, r in enumerate(rs):
            v = r.get(LONG)
            assert v == i * i, f'task {i} gave {v}'
        finish(p)


# ========================================================= dying workers

def assert_lost(fn, want):
    """The task fn kills its worker: it must fail (naming how, one of want),
    once through error_callback, while the other tasks complete and the pool
    goes on.  The others are checked first, so a CPython that loses the task
    shows that it got that far."""
    rc = Rec()
    with pool(2) as p:
        t_lost = twin.now()
        lost = p.apply_async(fn, (7,), error_callback=rc.err)
        others = [p.apply_async(t_sq, (7,)) for _ in range(8)]
        assert [o.get(LONG) for o in others] == [49] * 8
        assert p.apply(t_sq, (7,)) == 49  # the pool goes on with a replacement
        try:
            never_arrives('the task whose worker died', lost.get,
                          'bpo-22393: CPython replaces the worker and loses its task',
                          since=t_lost)
        except AssertionError:
            raise
        except Exception as e:  # noqa: BLE001 - checked below
            assert any(w in str(e) for w in want), f'{e!r} names none of {want}'
        else:
            raise AssertionError('the task whose worker died returned a value')
        with rc.mu:
            assert len(rc.errs) == 1, f'error_callback ran {len(rc.errs)} times'
        finish(p)


def POOL_WORKER_KILLED_NO_HANG():
    assert_lost(t_sigkill, ('signal 9', 'SIGKILL'))


def POOL_WORKER_ABORT():
    assert_lost(t_abort, ('SIGABRT',))


def POOL_WORKER_EXIT():
    assert_lost(t_exit3, ('code 3',))


def POOL_WORKER_KILLED_EXTERNALLY():
    fixtures()
    with pool(2) as p:
        victim = p.apply_async(t_report_and_block, (5,))
        wait_started(1)
        t_kill = twin.now()
        os.kill(_PID.value, signal.SIGKILL)
        # Bounded: a map that never ends after the kill (PyPy, at times) is
        # this row's fail with its reason, not the runner's timeout.
        r = p.map_async(t_sq, range(20), chunksize=1)
        try:
            got = r.get(20.0)
        except mp.TimeoutError:
            raise AssertionError('map after a worker was killed did not finish in 20 s')
        assert got == [i * i for i in range(20)]
        try:
            never_arrives('the task of the killed worker', victim.get,
                          'bpo-22393: CPython replaces the worker and loses its task',
                          since=t_kill)
        except AssertionError:
            raise
        except Exception as e:  # noqa: BLE001 - checked below
            assert 'signal 9' in str(e) or 'SIGKILL' in str(e), repr(e)
        else:
            raise AssertionError('the task of the killed worker returned a value')
        finish(p)


def POOL_WORKER_REPLACED():
    fixtures()
    with pool(2) as p:
        t_lost = twin.now()
        lost = p.apply_async(t_sigkill, (1,))
        m1 = p.apply_async(t_meet, (1,))
        m2 = p.apply_async(t_meet, (1,))
        v1, v2 = m1.get(LONG), m2.get(LONG)
        assert v1 != v2, 'both halves of the rendezvous ran in one worker'
        try:
            never_arrives('the task whose worker died', lost.get,
                          'CPython replaces the worker but loses the task', since=t_lost)
        except AssertionError:
            raise
        except Exception:  # noqa: BLE001 - failing is what the row asks
            pass
        else:
            raise AssertionError('the task whose worker died returned a value')
        finish(p)


def POOL_WORKER_LOST_IN_MAP():
    with pool(2) as p:
        r = p.map_async(t_sigkill, range(4), chunksize=1)
        try:
            never_arrives('a map whose chunk lost its worker', r.get,
                          'bpo-22393: CPython replaces the worker and loses the chunk')
        except AssertionError:
            raise
        except Exception:  # noqa: BLE001 - failing is what the row asks
            pass
        else:
            raise AssertionError('the map returned a value')
        assert p.map(t_sq, range(4), chunksize=1) == [0, 1, 4, 9]
        finish(p)


# ====================================== a worker killed at any instant
# The C rows' sweeps, shorter: CPython loses a task whose worker dies (its
# get() never returns, bpo-22393), which the first few calls show.

ALARM_SWEEP = 40


def alarm_outcome(what, k, get):
    """The task's outcome within LOST seconds: True if it gave k * k, False if
    it failed (a worker lost); CPython's TimeoutError is the difference."""
    try:
        v = never_arrives(f'{what} #{k}', get, 'bpo-22393: CPython loses the task of a '
                          'worker that dies')
    except AssertionError:
        raise
    except Exception:  # noqa: BLE001 - a lost worker is an allowed outcome
        return False
    assert v == k * k, f'{what} #{k} gave {v!r}'
    return True


def alarm_usable(p, n, k):
    """One of n + 1 calls of a task arming no timer gives its result (at most
    n timers, one per worker, are still pending), and so does apply."""
    ok = False
    for _ in range(n + 1):
        if alarm_outcome('the pool after the sweep', k, p.apply_async(t_alarm, (k, 0)).get):
            ok = True
            break
    assert ok, f'none of {n + 1} calls after the sweep gave a result'
    assert p.apply(t_alarm, (k, 0)) == k * k


def POOL_APPLY_WORKER_KILLED_ANYTIME():
    rng = random.Random()
    with pool(2) as p:
        # apply(f, a) is apply_async(f, a).get(): the get bounded here
        for k in range(ALARM_SWEEP):
            alarm_outcome('apply', k, p.apply_async(t_alarm, (k, rng.randint(1, 60))).get)
        alarm_usable(p, 2, 11)
        p.close()
        p.join()


def POOL_ASYNC_WORKER_KILLED_ANYTIME():
    rng = random.Random()
    with pool(2) as p:
        k = 0
        while k < ALARM_SWEEP:
            burst = 8 if (k // 8) % 2 else 1
            rs = [p.apply_async(t_alarm, (k + b, rng.randint(1, 60))) for b in range(burst)]
            for r in rs:
                alarm_outcome('apply_async', k, r.get)
                k += 1
        for m in range(ALARM_SWEEP // 8):
            # the C task takes one (k, us) tuple: starmap is its Python spelling
            r = p.starmap_async(t_alarm, [(i, rng.randint(1, 60)) for i in range(4)],
                                chunksize=1)
            try:
                v = never_arrives(f'map_async #{m}', r.get, 'bpo-22393: CPython loses the '
                                  'chunk of a worker that dies')
            except AssertionError:
                raise
            except Exception:  # noqa: BLE001 - a lost worker is an allowed outcome
                continue
            assert v == [i * i for i in range(4)], f'map_async #{m} gave {v!r}'
        alarm_usable(p, 2, 12)
        p.close()
        p.join()


# ======================================================= maxtasksperchild

def POOL_MAXTASKSPERCHILD_RECYCLE():
    with pool(2, maxtasksperchild=2) as p:
        r = p.map(t_pid, range(12), chunksize=1)
        assert len(r) == 12
        for pid in set(r):
            assert r.count(pid) <= 2, f'worker {pid} ran {r.count(pid)} tasks'
        assert len(set(r)) >= 6, f'only {len(set(r))} workers for 12 tasks at 2 each'
        finish(p)


def POOL_MAXTASKSPERCHILD_CLOSE():
    rc = Rec()
    with pool(2, maxtasksperchild=1) as p:
        rs = [p.apply_async(t_sq, (i,), callback=rc.ok) for i in range(8)]
        p.close()
        p.join()
        with rc.mu:
            assert len(rc.vals) == 8, f'{len(rc.vals)} callbacks ran before join returned'
        for i, r in enumerate(rs):
            assert twin.prompt(r.get, 0) == i * i


# ============================================================ initializer

def POOL_INITIALIZER():
    fixtures()
    with pool(3, initializer=init_fn, initargs=(1234,)) as p:
        r = p.map(t_init_value, range(30), chunksize=1)
        assert all(v == 1234 for v, _ in r), 'a task ran in a worker without its initializer'
        p.close()
        p.join()
    assert _INITS.value == 3, f'initializer ran {_INITS.value} times for 3 workers'
    assert _INIT_VALUE == -1, 'the initializer ran in the parent'


def POOL_INITIALIZER_REPLACEMENT():
    fixtures()
    with pool(2, initializer=init_fn, initargs=[99], maxtasksperchild=1) as p:
        r = p.map(t_init_value, range(6), chunksize=1)
        assert all(v == 99 for v, _ in r), r
        p.close()
        p.join()
    assert _INITS.value >= 6, f'initializer ran {_INITS.value} times for 6 workers'


# =============================================================== tutorial

def foo(i):
    time.sleep(0.1)  # the tutorial's 2 s of work, shortened
    return i + 100


def POOL_TUTORIAL_EXAMPLE():
    order, mu = [], threading.Lock()

    def bar(v):
        with mu:
            order.append(v)

    with pool(3) as p:
        t0 = twin.now()
        for i in range(10):
            p.apply_async(foo, (i,), callback=bar)
        assert twin.now() - t0 < 0.1, 'the submits waited for the tasks'
        with mu:
            order.append('end')
        p.close()
        p.join()
    assert len(order) == 11, order
    assert order[0] == 'end', f'\'end\' was not first: {order}'
    assert sorted(order[1:]) == list(range(100, 110)), order


# ============================================================ worker name

def POOL_WORKER_NAME():
    with pool(2) as p:
        r = p.map(t_name, range(40), chunksize=1)
        for i, (name, pid) in enumerate(r):
            assert re.fullmatch(r'ForkPoolWorker-[1-9][0-9]*', name), f'a worker is named {name!r}'
            assert pid != os.getpid(), 'a task ran in the parent'
            for name2, pid2 in r[:i]:
                assert (pid == pid2) == (name == name2), f'pids {pid2}/{pid} but names {name2}/{name}'
        finish(p)
    assert mp.current_process().name == 'MainProcess', "the parent's name changed"


# ================================================ terminate sends SIGTERM

_REC = struct.Struct('ii')  # (pid, signal) written whole: one write < PIPE_BUF


_TERM_W = None  # the worker's end of the pipe that records SIGTERM


def init_sigterm(ready_w, term_w):
    global _TERM_W
    _TERM_W = term_w
    os.write(ready_w, _REC.pack(os.getpid(), 0))


def t_wait_recording_term(a):
    """t_wait with a SIGTERM handler that records the signal.  The task sets
    it, not the initializer: billiard's worker installs its own SIGTERM
    handler after running the initializer."""
    def on_term(signum, _frame):
        os.write(_TERM_W, _REC.pack(os.getpid(), signum))
        os._exit(0)
    signal.signal(signal.SIGTERM, on_term)
    return t_wait(a)


def t_wait_ignoring_term(a):
    """t_wait in a worker that ignores SIGTERM (set by the task: see above)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    return t_wait(a)


def read_recs(fd, n, timeout=LONG):
    got = []
    deadline = twin.now() + timeout
    while len(got) < n:
        left = deadline - twin.now()
        assert left > 0 and select.select([fd], [], [], left)[0], \
            f'{len(got)} of {n} records after {timeout} s'
        got.append(_REC.unpack(os.read(fd, _REC.size)))
    return got


def POOL_TERMINATE_SIGTERM():
    fixtures()
    ready_r, ready_w = os.pipe()
    term_r, term_w = os.pipe()
    try:
        with pool(2, initializer=init_sigterm, initargs=(ready_w, term_w)) as p:
            workers = {pid for pid, _ in read_recs(ready_r, 2)}
            # Busy workers: CPython's terminate signals only the workers still
            # running after its task handler has sent every worker the None
            # sentinel, so idle ones usually leave on that sentinel unsignalled.
            # (Like the C test, this does not check the row's SIGKILL after 1 s:
            # CPython has none, and its terminate then waits forever in join.)
            for _ in range(2):
                p.apply_async(t_wait_recording_term, (1,))
            wait_started(2)
            p.terminate()
            p.join()
        # join has seen the workers end: what they wrote is in the pipe
        got = read_recs(term_r, 2, timeout=1.0)
        assert {pid for pid, _ in got} == workers, f'signalled {got}, workers {workers}'
        assert all(s == signal.SIGTERM for _, s in got), f'signals {got}'
    finally:
        for fd in (ready_r, ready_w, term_r, term_w):
            os.close(fd)


def init_ignore_sigterm(ready_w):
    os.write(ready_w, _REC.pack(os.getpid(), 0))


def _grace_scenario(ready_w, done_w):
    p = mp.Pool(2, initializer=init_ignore_sigterm, initargs=(ready_w,))
    for _ in range(2):  # busy, so terminate signals them (see POOL_TERMINATE_SIGTERM)
        p.apply_async(t_wait_ignoring_term, (1,))
    wait_started(2)
    p.terminate()
    p.join()
    os.write(done_w, b'd')


def POOL_TERMINATE_SIGKILL_GRACE():
    """differs: CPython's terminate() waits forever for a worker that ignores
    SIGTERM.  The pool lives in a child process given LOST seconds; then the
    child and its workers (their pids came through the ready pipe) are killed."""
    fixtures()
    ready_r, ready_w = os.pipe()
    done_r, done_w = os.pipe()
    c = mp.Process(target=_grace_scenario, args=(ready_w, done_w))
    c.start()
    workers = []
    try:
        workers = [pid for pid, _ in read_recs(ready_r, 2)]
        ok = select.select([done_r], [], [], LOST)[0]
        assert ok, f'terminate() still waiting after {LOST} s for workers that ignore SIGTERM'
    finally:
        for pid in workers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        twin.kill(c)
        c.join()
        for fd in (ready_r, ready_w, done_r, done_w):
            os.close(fd)


# ------------------------------------------------ CPython's tests, continued

def POOL_MAP_ASYNC_EMPTY():
    with pool(2) as p:
        for cs in (None, 1):
            r = p.map_async(t_sq, [], chunksize=cs)
            assert twin.prompt(r.get, LONG) == [], f'chunksize {cs}'
        finish(p)


def _pool_in_child():
    """A child's own Pool(2): map, check, close, join (an assertion failing
    here is the child's exit code 1)."""
    p = mp.Pool(2)
    assert p.map(t_sq, range(10)) == [i * i for i in range(10)]
    p.close()
    p.join()


def POOL_IN_CHILD():
    # Eight children one after another: a hang that strikes one run in two
    # (billiard's pool join) is then a fail nearly always, not a coin toss.
    for attempt in range(8):
        c = twin.start(_pool_in_child)
        assert twin.join_code(c, 15.0) == 0, f'attempt {attempt}: exit code {c.exitcode}'


_live_meet = _live_started = None


def _live_init(meet, started):
    global _live_meet, _live_started
    _live_meet, _live_started = meet, started


def _live_pid(i):
    """A map task: the first two meet at a barrier, so both workers run a
    chunk of the map; returns its worker's pid."""
    if i < 2:
        _live_meet.wait(LONG)
    return os.getpid()


def _live_block(_):
    """A task still running when its process ends: reports its worker's
    pid, then blocks until that worker is ended."""
    _live_started.put(os.getpid())
    threading.Event().wait()


def _live_pool_at_exit(mode, w):
    """Makes a Pool(2), maps on it (a chunk on each worker), with mode & 2
    leaves a task running on each worker, sends the workers' pids on w, then
    ends with the pool still running: sys.exit(0) (C's exit(0)) when mode &
    1, else by returning."""
    started = mp.SimpleQueue()
    p = mp.Pool(2, initializer=_live_init, initargs=(mp.Barrier(2), started))
    pids = set(p.map(_live_pid, range(8), chunksize=1))
    if mode & 2:
        for i in range(2):
            p.apply_async(_live_block, (i,))
        pids |= {started.get(), started.get()}
    w.send(sorted(pids))
    w.close()
    if mode & 1:
        sys.exit(0)


def POOL_LIVE_AT_EXIT():
    # Busy first: a pool whose workers are in a task when their process ends
    # (billiard's exit then waits 30 s, every time); then idle pools, both
    # ways out each.
    for mode in (2, 3, 0, 1, 0, 1):
        how = ('return' if mode & 1 == 0 else 'sys.exit(0)') + (', tasks running' if mode & 2 else ', idle')
        r, w = mp.Pipe(False)
        c = twin.start(_live_pool_at_exit, mode, w)
        w.close()
        assert r.poll(LONG), f'{how}: the child sent no worker pids'
        pids = r.recv()
        r.close()
        assert len(pids) == 2, f'{how}: worker pids {pids}, want 2'
        c.join(20.0)
        assert c.exitcode is not None, f'{how}: the process has not exited after 20 s'
        assert c.exitcode == 0, f'{how}: exit code {c.exitcode}'
        deadline = twin.now() + 10.0
        while not all(twin.pid_gone(pid) for pid in pids) and twin.now() < deadline:
            time.sleep(0.002)  # polling: an orphan's end has no event here
        assert all(twin.pid_gone(pid) for pid in pids), \
            f'{how}: workers {pids} still there after their process ended'


def _tasks_of_uid(uid):
    n = 0
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open(f'/proc/{pid}/status') as f:
                st = dict(l.split(':', 1) for l in f if ':' in l)
        except OSError:
            continue
        if int(st['Uid'].split()[0]) == uid:
            n += int(st['Threads'])
    return n


def _pool_fails_midway():
    """In a forked child: the step that failed, 0 when all held."""
    import resource
    ctx = mp.get_context('fork')
    # Import what starting a pool imports while root can still read it all.
    warm = ctx.Pool(1)
    warm.close()
    warm.join()
    uid = 60000 + os.getpid() % 5000
    others = _tasks_of_uid(uid)
    soft, hard = resource.getrlimit(resource.RLIMIT_NPROC)
    if hard != resource.RLIM_INFINITY and hard < others + 6:
        return 2
    # this process + 4 workers (+ 1 of slack); the 5th fork fails.
    resource.setrlimit(resource.RLIMIT_NPROC, (others + 6, hard))
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    try:
        p = ctx.Pool(6)
    except OSError:
        pass
    else:
        p.terminate()
        return 4
    try:
        os.waitpid(-1, os.WNOHANG)
        return 7  # a worker (or its zombie) is left
    except ChildProcessError:
        pass
    p = ctx.Pool(2)
    p.close()
    p.join()
    return 0


def POOL_NEW_FAILS_MIDWAY():
    assert os.geteuid() == 0, \
        'cannot check: needs root to run as another uid with RLIMIT_NPROC enforced'
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = _pool_fails_midway()
        except BaseException:  # noqa: BLE001 - shown, then step 1
            import traceback
            traceback.print_exc()
        finally:
            os._exit(code)
    _, st = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(st) == 0, f'failed at step {st >> 8} (status {st:#x})'
