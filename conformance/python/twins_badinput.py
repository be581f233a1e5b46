"""Python twins of conformance/catalogue/badinput.tsv, run against CPython's
multiprocessing (fork start method).  Each function checks the row it is
named after, in Python's terms (MP_CLOSED ~ ValueError/OSError, MP_ESTATE ~
AssertionError/ValueError, MP_EINVAL ~ ValueError/TypeError/AttributeError,
MP_EACCES ~ OSError), and raises AssertionError when CPython behaves
otherwise.  Rows marked 'differs' in the catalogue are expected to fail here:
their twins check what mp.h says, so the runner records how CPython differs."""
import math
import os
import queue
import signal
import threading
import time

import twin
from twin import mp

twin.kill_children_at_exit()
mp.set_start_method('fork', force=True)

NAN = float('nan')


def _wait(e):
    e.wait()


def _echo(x):
    return x


_GATE = None  # made before the pool, so that its forked workers share it


def _gate():
    _GATE.wait()
    return 1


def _raises(excs, fn, *args, **kw):
    """fn(*args) raises one of excs at once; returns the exception's name."""
    t0 = time.monotonic()
    try:
        fn(*args, **kw)
    except excs as e:
        el = time.monotonic() - t0
        assert el < 1.0, f'{getattr(fn, "__name__", fn)} took {el:.3f} s to raise'
        return type(e).__name__
    raise AssertionError(f'{getattr(fn, "__name__", fn)}{args} did not raise {excs}')


def _attribute_error(fn):
    """A proxy call the server refuses with AttributeError comes back as a
    RemoteError carrying that traceback: raise it as what it is."""
    def call():
        try:
            fn()
        except mp.managers.RemoteError as e:
            if 'AttributeError' in str(e):
                raise AttributeError(str(e).strip().splitlines()[-1]) from None
            raise
    return call


def _sweep(entries):
    """entries: (label, excs, fn); every one must raise at once.  All are run,
    then every mismatch is reported together."""
    bad = []
    for label, excs, fn in entries:
        try:
            with twin.bounded(5.0):
                _raises(excs, fn)
        except AssertionError as e:  # ours (not raised) or the implementation's assert
            bad.append(f'{label}: {e}' if str(e) else f'{label}: a bare AssertionError')
        except Exception as e:  # raised, but not what the row says
            bad.append(f'{label}: {type(e).__name__}: {e}')
    assert not bad, '; '.join(bad)


# ------------------------------------------------------------------ process

def BAD_PROCESS_CLOSED():
    for started in (False, True):
        p = mp.Process(target=_echo, args=(0,))
        if started:
            p.start()
            p.join()
        p.close()
        _sweep([(n, ValueError, (lambda n=n: getattr(p, n)()))
                for n in ('start', 'join', 'is_alive', 'terminate', 'kill')] +
               [(n, ValueError, (lambda n=n: getattr(p, n)))
                for n in ('pid', 'exitcode', 'name', 'daemon')] +
               [('set name', ValueError, lambda: setattr(p, 'name', 'x')),
                ('set daemon', ValueError, lambda: setattr(p, 'daemon', True))])
        p.close()  # idempotent


def BAD_ORDER_PROCESS():
    go = mp.Event()
    p = mp.Process(target=_wait, args=(go,))
    _sweep([('join', AssertionError, p.join),
            ('join(0)', AssertionError, lambda: p.join(0)),
            ('terminate', (AssertionError, ValueError), p.terminate),
            ('kill', (AssertionError, ValueError), p.kill)])
    p.start()
    try:
        _sweep([('start again', AssertionError, p.start),
                ('set daemon', AssertionError, lambda: setattr(p, 'daemon', True)),
                ('close running', ValueError, p.close)])
        assert p.is_alive()
    finally:
        go.set()
        p.join()
    assert p.exitcode == 0
    _raises(AssertionError, p.start)


# ---------------------------------------------------------- synchronisation

def BAD_ORDER_SYNC():
    lock, rlock = mp.Lock(), mp.RLock()
    bsem = mp.BoundedSemaphore(1)
    cv, cvl = mp.Condition(), mp.Condition(mp.Lock())
    bar = mp.Barrier(2)
    _sweep([('Lock.release', ValueError, lock.release),
            ('RLock.release', AssertionError, rlock.release),
            ('BoundedSemaphore.release', ValueError, bsem.release),
            ('Condition.release', AssertionError, cv.release),
            ('Condition(Lock).release', ValueError, cvl.release),
            ('Condition.wait', AssertionError, lambda: cv.wait(0)),
            ('Condition.wait forever', AssertionError, cv.wait),
            ('Condition.wait_for', AssertionError, lambda: cv.wait_for(lambda: False)),
            ('Condition.notify', AssertionError, cv.notify),
            ('Condition.notify_all', AssertionError, cv.notify_all)])
    assert bsem.get_value() == 1
    bar.abort()
    bar.abort()
    _sweep([('Barrier.wait', threading.BrokenBarrierError, bar.wait)])


# ------------------------------------------------------------------- queues

def BAD_QUEUE_CLOSED():
    q, sq, jq = mp.Queue(), mp.SimpleQueue(), mp.JoinableQueue()
    q.put(42)
    deadline = time.monotonic() + 5
    while q.empty() and time.monotonic() < deadline:
        time.sleep(0.001)  # the feeder thread's delay, not synchronisation
    for x in (q, sq, jq):
        x.close()
    _sweep([('put', (ValueError, OSError), lambda: q.put(1)),
            ('put forever', (ValueError, OSError), lambda: q.put(1, True, None)),
            ('put_nowait', (ValueError, OSError), lambda: q.put_nowait(1)),
            ('SimpleQueue.put', (ValueError, OSError), lambda: sq.put(1)),
            ('JoinableQueue.put', (ValueError, OSError), lambda: jq.put(1))])
    q.close()
    q.join_thread()
    assert q.get(False) == 42, 'the item queued before close is lost'
    _raises(queue.Empty, q.get, False)


def BAD_ORDER_QUEUE():
    q, sq, jq = mp.Queue(), mp.SimpleQueue(), mp.JoinableQueue()
    _sweep([('Queue.task_done', AttributeError, lambda: q.task_done()),
            ('SimpleQueue.task_done', AttributeError, lambda: sq.task_done()),
            ('Queue.join', AttributeError, lambda: q.join()),
            ('Queue.join_thread', AssertionError, q.join_thread),
            ('JoinableQueue.join_thread', AssertionError, jq.join_thread),
            ('task_done, nothing put', ValueError, jq.task_done)])
    jq.put(1)
    assert jq.get(timeout=5) == 1
    jq.task_done()
    _raises(ValueError, jq.task_done)
    twin.prompt(jq.join)
    for x in (q, jq):
        x.close()
        x.join_thread()


# -------------------------------------------------------------------- pipes

def BAD_PIPE_CLOSED():
    a, b = mp.Pipe()
    b.send('kept')
    a.close()
    _sweep([('send', OSError, lambda: a.send(1)),
            ('recv', OSError, a.recv),
            ('send_bytes', OSError, lambda: a.send_bytes(b'x')),
            ('send_bytes range', OSError, lambda: a.send_bytes(b'xy', 0, 1)),
            ('recv_bytes', OSError, a.recv_bytes),
            ('recv_bytes_into', OSError, lambda: a.recv_bytes_into(bytearray(8))),
            ('poll', OSError, a.poll),
            ('poll forever', OSError, lambda: a.poll(None)),
            ('fileno', OSError, a.fileno)])
    a.close()
    b.close()


def BAD_PIPE_DIRECTION():
    r, w = mp.Pipe(False)
    _sweep([('send on the receive end', OSError, lambda: r.send(1)),
            ('send_bytes on the receive end', OSError, lambda: r.send_bytes(b'x')),
            ('send_bytes range on the receive end', OSError, lambda: r.send_bytes(b'xy', 0, 1)),
            ('recv on the send end', OSError, w.recv),
            ('recv_bytes on the send end', OSError, w.recv_bytes),
            ('recv_bytes_into on the send end', OSError, lambda: w.recv_bytes_into(bytearray(8))),
            ('poll on the send end', OSError, w.poll),
            ('poll forever on the send end', OSError, lambda: w.poll(None))])
    r.fileno(), w.fileno()
    w.send('ok')
    assert r.recv() == 'ok'
    r.close()
    w.close()


def BAD_SIZE_RANGE():
    r, w = mp.Pipe()
    buf = b'abcd'
    _sweep([('offset > len', ValueError, lambda: w.send_bytes(buf, 5, 0)),
            ('offset + size > len', ValueError, lambda: w.send_bytes(buf, 2, 3)),
            ('huge size', ValueError, lambda: w.send_bytes(buf, 1, 2**64 - 1)),
            ('huge offset', ValueError, lambda: w.send_bytes(buf, 2**64 - 1, 2)),
            ('recv_bytes_into offset > len', ValueError,
             lambda: r.recv_bytes_into(bytearray(4), 5))])
    w.send_bytes(buf, 4, 0)
    assert r.recv_bytes_into(bytearray(4), 4) == 0
    assert not r.poll(0)
    r.close()
    w.close()


# --------------------------------------------------------------------- pool

def BAD_POOL_TYPE():
    with mp.Pool(1) as p:
        _sweep([('map', TypeError, lambda: p.map(_echo, 5)),
                ('map_async', TypeError, lambda: p.map_async(_echo, 5)),
                ('starmap', TypeError, lambda: p.starmap(_echo, 5)),
                ('starmap items', TypeError, lambda: p.starmap(_echo, [1, 2])),
                ('starmap_async items', TypeError,
                 lambda: p.starmap_async(_echo, [1, 2]).get(10)),
                ('imap', TypeError, lambda: next(p.imap(_echo, 5))),
                ('imap_unordered', TypeError, lambda: next(p.imap_unordered(_echo, 5)))])


def BAD_ORDER_POOL():
    global _GATE
    gate = _GATE = mp.Event()
    p = mp.Pool(1)
    r = p.apply_async(_gate)
    try:
        _bad_order_pool(p, r, gate)
    finally:
        # A failed sweep must not leave the gated worker holding the exit.
        # Its result is taken before terminate: billiard's worker, ended with
        # a result the pool has not yet counted, waits 30 s on its way out.
        gate.set()
        r.wait(10)
        p.terminate()
        p.join()


def _bad_order_pool(p, r, gate):
    _sweep([('join before close', ValueError, p.join),
            ('successful before ready', ValueError, r.successful)])
    p.close()
    p.close()
    subs = [('apply', lambda q: q.apply(_echo, (1,))),
            ('apply_async', lambda q: q.apply_async(_echo, (1,))),
            ('map', lambda q: q.map(_echo, [1])),
            ('map_async', lambda q: q.map_async(_echo, [1])),
            ('starmap', lambda q: q.starmap(_echo, [(1,)])),
            ('starmap_async', lambda q: q.starmap_async(_echo, [(1,)])),
            ('imap', lambda q: q.imap(_echo, [1])),
            ('imap_unordered', lambda q: q.imap_unordered(_echo, [1]))]
    _sweep([(f'{n} after close', ValueError, (lambda f=f: f(p))) for n, f in subs])
    gate.set()
    assert r.get(10) == 1
    p.join()
    p2 = mp.Pool(1)
    p2.terminate()
    _sweep([(f'{n} after terminate', ValueError, (lambda f=f: f(p2))) for n, f in subs])
    p2.join()


# ------------------------------------------------------------------ manager

def BAD_PROXY_TYPE():
    with mp.Manager() as m:
        lk, d = m.Lock(), m.dict({'k': 1})
        names = ['__getitem__', '__setitem__', '__delitem__', '__contains__', '__len__',
                 'keys', 'values', 'items', 'update', 'pop', 'setdefault', 'clear', 'copy',
                 'append', 'extend', 'insert', 'remove', 'index', 'count', 'sort',
                 '__getattribute__', '__setattr__', '__delattr__', 'get', 'set', 'set_',
                 'is_set', 'wait', 'put', 'qsize', 'notify', 'notify_all', 'abort', 'reset',
                 'task_done', 'join']
        _sweep([(f'Lock.{n}', AttributeError, _attribute_error(lambda n=n: lk._callmethod(n)))
                for n in names] +
               [(f'dict.{n}', AttributeError, _attribute_error(lambda n=n: d._callmethod(n)))
                for n in ('acquire', 'release')] +
               [('unknown method', AttributeError,
                 _attribute_error(lambda: d._callmethod('no_such_method')))])
        assert len(d) == 1


def BAD_MANAGER_CLOSED():
    m = mp.Manager()
    d, l, ns, v = m.dict(), m.list(), m.Namespace(), m.Value('i', 1)
    lk, e, q = m.Lock(), m.Event(), m.Queue()
    m.shutdown()
    m.shutdown()
    dead = (OSError, EOFError)
    _sweep([(f'manager.{n}', (ValueError, OSError, EOFError), (lambda n=n: getattr(m, n)()))
            for n in ('dict', 'list', 'Namespace', 'Lock', 'Event', 'Queue')] +
           [('dict', dead, lambda: d.keys()), ('list', dead, lambda: l.append(1)),
            ('Namespace', dead, lambda: setattr(ns, 'a', 1)), ('Value', dead, lambda: v.get()),
            ('Lock', dead, lambda: lk.acquire()), ('Event', dead, lambda: e.wait()),
            ('Queue', dead, lambda: q.get())])


# ----------------------------------------------------------------- timeouts

def BAD_TIMEOUT_NAN():
    global _GATE
    go = _GATE = mp.Event()
    p = mp.Process(target=_wait, args=(go,))
    p.start()
    lock, sem, cv, ev = mp.Lock(), mp.Semaphore(0), mp.Condition(), mp.Event()
    bar = mp.Barrier(2)
    q, jq = mp.Queue(), mp.JoinableQueue()
    a, b = mp.Pipe()
    pool = mp.Pool(1)
    r = pool.apply_async(_gate)
    it = pool.imap(_echo, [1])
    cv.acquire()
    bad = (ValueError, OSError)
    try:
        _sweep([('Process.join', bad, lambda: p.join(NAN)),
                ('Lock.acquire', bad, lambda: lock.acquire(True, NAN)),
                ('Semaphore.acquire', bad, lambda: sem.acquire(True, NAN)),
                ('Condition.wait', bad, lambda: cv.wait(NAN)),
                ('Condition.wait_for', bad, lambda: cv.wait_for(lambda: False, NAN)),
                ('Event.wait', bad, lambda: ev.wait(NAN)),
                ('Barrier.wait', bad, lambda: bar.wait(NAN)),
                ('Queue.put', bad, lambda: q.put(1, True, NAN)),
                ('Queue.get', bad, lambda: q.get(True, NAN)),
                ('Connection.poll', bad, lambda: a.poll(NAN)),
                ('imap next', bad, lambda: it.next(NAN)),
                ('AsyncResult.get', bad, lambda: r.get(NAN)),
                ('AsyncResult.wait', bad, lambda: r.wait(NAN))])
    finally:
        cv.release()
        go.set()
        p.join()
        r.get(10)
        pool.close()
        pool.join()


def BAD_TIMEOUT_NEGATIVE():
    global _GATE
    go = _GATE = mp.Event()
    p = mp.Process(target=_wait, args=(go,))
    p.start()
    lock, sem, cv, ev = mp.Lock(), mp.Semaphore(0), mp.Condition(), mp.Event()
    cvl = mp.Condition(lock)
    lock.acquire()
    cv.acquire()
    q, qfull = mp.Queue(), mp.Queue(1)
    qfull.put(3)
    twin.prompt(lambda: qfull.get(True, 5) == 3 and qfull.put(3))  # through the feeder
    a, b = mp.Pipe()
    pool = mp.Pool(1)
    r = pool.apply_async(_gate)
    it = pool.imap(_echo, [1])
    try:
        for t in (-1.0, -1e-300, -math.inf, -1e300):
            for label, fn in [
                    ('Process.join', lambda: (p.join(t), p.is_alive())[1]),
                    ('Lock.acquire', lambda: lock.acquire(True, t) is False),
                    ('Semaphore.acquire', lambda: sem.acquire(True, t) is False),
                    ('Condition(Lock).acquire', lambda: cvl.acquire(True, t) is False),
                    ('Condition.wait', lambda: cv.wait(t) is False),
                    ('Condition.wait_for', lambda: cv.wait_for(lambda: False, t) is False),
                    ('Event.wait', lambda: ev.wait(t) is False),
                    ('Connection.poll', lambda: a.poll(t) is False),
                    ('AsyncResult.wait', lambda: (r.wait(t), not r.ready())[1])]:
                ok = twin.prompt(fn)
                assert ok, f'{label}({t}) did not fail at once'
            _sweep([(f'Queue.put({t})', queue.Full, lambda: qfull.put(1, True, t)),
                    (f'Queue.get({t})', queue.Empty, lambda: q.get(True, t)),
                    (f'imap next({t})', mp.TimeoutError, lambda: it.next(t)),
                    (f'AsyncResult.get({t})', mp.TimeoutError, lambda: r.get(t))])
            assert twin.prompt(qfull.get, True, t) == 3, 'a ready get failed'
            qfull.put(3)
            sem.release()
            assert twin.prompt(sem.acquire, True, t), 'a ready acquire failed'
        bar = mp.Barrier(2)
        for t in (-1.0, -1e-300):
            _raises(threading.BrokenBarrierError, bar.wait, t)
            bar.reset()
    finally:
        cv.release()
        lock.release()
        go.set()
        p.join()
        r.get(10)
        pool.close()
        pool.join()


def BAD_TIMEOUT_NEGATIVE_MANAGER():
    with mp.Manager() as m:
        lk, e, qfull, qempty = m.Lock(), m.Event(), m.Queue(1), m.Queue()
        lk.acquire()
        qfull.put(4)
        bad = []
        for t in (-0.5, -1e-300, -1e300):  # -1 would block forever in the server
            for label, fn, ok in [('Lock.acquire', lambda: lk.acquire(True, t), False),
                                  ('Event.wait', lambda: e.wait(t), False)]:
                try:
                    if twin.prompt(fn) is not ok:
                        bad.append(f'{label}({t}) did not fail')
                except Exception as x:
                    bad.append(f'{label}({t}): {type(x).__name__}: {x}')
            for label, exc, fn in [('Queue.put', queue.Full, lambda: qfull.put(1, True, t)),
                                   ('Queue.get', queue.Empty, lambda: qempty.get(True, t))]:
                try:
                    _raises(exc, fn)
                except Exception as x:
                    bad.append(f'{label}({t}): {type(x).__name__}: {x}')
        lk.release()
        assert not bad, '; '.join(bad)


# -------------------------------------------------------------- EINTR, fds

class _Storm:
    """SIGALRM every millisecond, handler without SA_RESTART (Python's
    handlers never restart; PEP 475 retries in the interpreter)."""

    def __enter__(self):
        self.n = 0
        self.old = signal.signal(signal.SIGALRM, self._on)
        signal.siginterrupt(signal.SIGALRM, True)
        signal.setitimer(signal.ITIMER_REAL, 0.001, 0.001)
        return self

    def _on(self, *a):
        self.n += 1

    def __exit__(self, *a):
        signal.setitimer(signal.ITIMER_REAL, 0, 0)
        signal.signal(signal.SIGALRM, self.old)


def EINTR_RETRY_TIMED():
    T = 0.1
    go = mp.Event()
    p = mp.Process(target=_wait, args=(go,))
    p.start()
    lock, sem, cv, ev = mp.Lock(), mp.Semaphore(0), mp.Condition(), mp.Event()
    lock.acquire()
    cv.acquire()
    q = mp.Queue()
    a, b = mp.Pipe()
    try:
        with _Storm() as s:
            twin.assert_timed(lambda: p.join(T), None, T)
            twin.assert_timed(lambda: lock.acquire(True, T), None, T)
            twin.assert_timed(lambda: sem.acquire(True, T), None, T)
            twin.assert_timed(lambda: cv.wait(T), None, T)
            twin.assert_timed(lambda: ev.wait(T), None, T)
            for _ in range(3):  # see Q_GET_TIMEOUT_EMPTY: early by < 1 ms shows on most tries
                twin.assert_timed(lambda: q.get(True, T), queue.Empty, T)
                twin.assert_timed(lambda: a.poll(T), None, T)
        assert s.n > 100, f'only {s.n} signals arrived'
    finally:
        cv.release()
        lock.release()
        go.set()
        p.join()


def EINTR_RETRY_FOREVER():
    r, w = mp.Pipe(False)
    main = threading.get_native_id()

    def later():
        # as mpt_wait_asleep: the main thread seen asleep 5 times in a row
        deadline, streak = time.monotonic() + 10, 0
        while streak < 5 and time.monotonic() < deadline:
            with open(f'/proc/self/task/{main}/stat') as f:
                asleep = f.read().rsplit(')', 1)[1].split()[0] == 'S'
            streak = streak + 1 if asleep else 0
            time.sleep(0.002)
        w.send_bytes(b'hi')

    with _Storm() as s:
        t = threading.Thread(target=later)
        t.start()
        assert r.recv_bytes() == b'hi'
        t.join()
    assert s.n > 10, f'only {s.n} signals arrived'


def FD_CLOEXEC_ALL():
    before = set(os.listdir('/proc/self/fd'))
    objs = [mp.Pipe(), mp.Pipe(False), mp.Queue(), mp.SimpleQueue(), mp.JoinableQueue(),
            mp.Lock(), mp.RLock(), mp.Semaphore(1), mp.Condition(), mp.Event(), mp.Barrier(2)]
    go = mp.Event()
    p = mp.Process(target=_wait, args=(go,))
    p.start()
    pool = mp.Pool(1)
    m = mp.Manager()
    d = m.dict()
    d['k'] = 1
    try:
        new = set(os.listdir('/proc/self/fd')) - before
        leaky = []
        for fd in sorted(new, key=int):
            try:
                if os.get_inheritable(int(fd)):
                    leaky.append(f'{fd} -> {os.readlink(f"/proc/self/fd/{fd}")}')
            except OSError:
                pass  # the listing's own descriptor
        assert len(new) >= 5, f'only {len(new)} new descriptors'
        assert not leaky, 'inheritable: ' + ', '.join(leaky)
    finally:
        go.set()
        p.join()
        pool.close()
        pool.join()
        m.shutdown()
        del objs


# --------------------------------------------------------------- connection

def BAD_CONNECTION_CLOSED():
    # CPython differs: wait() on a send-only end blocks (the sweep's bound
    # ends the twin with a failure naming that call).
    l = mp.connection.Listener(family='AF_UNIX')
    l.close()
    a, b = mp.Pipe()
    a.close()
    ro, wo = mp.Pipe(False)
    _sweep([('accept', OSError, l.accept),
            ('wait on a closed connection', (OSError, ValueError),
             lambda: mp.connection.wait([a], None)),
            ('wait on a send-only end', (OSError, ValueError),
             lambda: mp.connection.wait([wo], None))])
    l.close()
