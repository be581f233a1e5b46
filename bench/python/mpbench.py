#!/usr/bin/env python3
"""CPython's multiprocessing under the workloads of bench/c/mpbench.c.

Same command line, same rounds, same JSON line (see bench/README.md):
    mpbench.py WORKLOAD [key=value ...] [-n N] [-t SECONDS] [-s SAMPLES] [-q]
Standard library only.  Start method: fork (CPython's default on Linux up to
3.13), chosen explicitly so that a newer CPython measures the same thing.
Children get plain os.pipe() control pipes, as the C harness does.
"""
import importlib
import json
import os
import resource
import struct
import sys
import time

# The implementation measured: CPython's multiprocessing, or a peer with the
# same API (billiard, multiprocess; PyPy's own multiprocessing under pypy3):
# bench/run.py --peers sets this from conformance/impls/<name>.json.
mp = importlib.import_module(os.environ.get("MP_BENCH_MODULE") or "multiprocessing")
CTX = mp.get_context("fork")
# The calibration's constants, and the algorithm main() runs (as
# bench/common/bench.c does): one file for both harnesses.
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                       "calibration.json")) as _f:
    CAL = json.load(_f)
RES = struct.Struct("<i252s")  # the C harness's mpb_res: kind, message
OK, UNSUP, ERROR = 0, 1, 2
now_ns = time.monotonic_ns  # CLOCK_MONOTONIC, as in C
PARAMS = {}


class Fail(Exception):
    def __init__(self, msg, kind=ERROR):
        super().__init__(msg)
        self.kind = kind


def p_int(key, dflt):
    return int(PARAMS.get(key, dflt))


def p_str(key, dflt):
    return PARAMS.get(key, dflt)


def p_bool(key, dflt):
    v = PARAMS.get(key)
    return dflt if v is None else v in ("true", "1")


def busy(ns):
    """Busy for ns nanoseconds by the clock: a consumer's work per message
    (work_ns=N), as the C side's mpb_work."""
    end = now_ns() + ns
    while now_ns() < end:
        pass


def payload(size):
    return bytes((i * 31 + 7) & 0xFF for i in range(size)) if size < 4096 else \
        (bytes((i * 31 + 7) & 0xFF for i in range(256)) * (size // 256 + 1))[:size]


def read_full(fd, n):
    buf = b""
    while len(buf) < n:
        chunk = os.read(fd, n - len(buf))
        if not chunk:
            raise EOFError("pipe closed")
        buf += chunk
    return buf


# ------------------------------------------------------------------ team

class Team:
    """Children driven round by round: n on each child's control pipe (0 =
    stop), one RES record per child per round on the shared done pipe."""

    def __init__(self, targets):
        self.ctl = [os.pipe() for _ in targets]
        self.done = os.pipe()
        self.procs = []
        for i, fn in enumerate(targets):
            p = CTX.Process(target=self._child, args=(i, fn), daemon=True)
            p.start()
            self.procs.append(p)
        os.close(self.done[1])

    def _child(self, i, fn):
        while True:
            try:
                n = struct.unpack("<q", read_full(self.ctl[i][0], 8))[0]
            except EOFError:
                return
            if n <= 0:
                return
            kind, msg = OK, b""
            try:
                fn(n)
            except Exception as e:  # reported, never hidden
                kind, msg = ERROR, ("%s: %s" % (type(e).__name__, e)).encode()[:250]
            os.write(self.done[1], RES.pack(kind, msg))
            if kind != OK:
                return

    def go(self, n):
        for r, w in self.ctl:
            os.write(w, struct.pack("<q", n))

    def wait(self):
        import select
        got = 0
        while got < len(self.procs):
            ready, _, _ = select.select([self.done[0]], [], [], 1.0)
            if not ready:
                for i, p in enumerate(self.procs):
                    if not p.is_alive():
                        raise Fail("child %d ended in the middle of a round (exitcode %s)"
                                   % (i, p.exitcode))
                continue
            kind, msg = RES.unpack(read_full(self.done[0], RES.size))
            got += 1
            if kind != OK:
                raise Fail(msg.rstrip(b"\0").decode(errors="replace"), kind)

    def round(self, n):
        self.go(n)
        self.wait()

    def close(self):
        try:
            self.go(0)
        except OSError:
            pass
        for p in self.procs:
            p.join(5)
            if p.is_alive():
                p.kill()
                p.join()
        for r, w in self.ctl:
            os.close(r)
            os.close(w)
        os.close(self.done[0])


# ------------------------------------------------------------------ workloads
# Each: setup() -> state; round(state, n, ops) with ops a list to fill for
# latency workloads; teardown(state).

def make_queue():
    kind = p_str("kind", "Queue")
    if kind == "Queue":
        return CTX.Queue()
    if kind == "SimpleQueue":
        return CTX.SimpleQueue()
    raise Fail("unknown queue kind %r" % kind)


class QueueStream:
    """Queue.put/get of a bytes object (api=value: CPython objects, pickled).
    CPython's queues have no bytes API.  api=bytes on a SimpleQueue is its
    put/get without the pickling: the queue's own lock, then send_bytes /
    recv_bytes on its connection -- the send_bytes-style twin of the library's
    put_bytes.  A Queue pickles in its feeder thread, which has no such path:
    there api=bytes puts the bytes object, as api=value does."""
    metric, unit, n0, quick_n = "throughput", "msg/s", 64, 256

    def setup(self):
        self.size = p_int("size", 64)
        self.P, self.C = p_int("producers", 1), p_int("consumers", 1)
        self.work_ns = p_int("work_ns", 0)
        self.q = make_queue()
        self.raw = p_str("api", "bytes") == "bytes" and p_str("kind", "Queue") == "SimpleQueue"
        if self.raw and not all(hasattr(self.q, a) for a in ("_wlock", "_writer", "_rlock",
                                                              "_reader")):
            raise Fail("this SimpleQueue has no send_bytes path (_wlock/_writer)", UNSUP)
        self.msg = payload(self.size)
        self.team = Team([self.producer] * self.P + [self.consumer] * self.C)

    def producer(self, n):
        put, msg = self.q.put, self.msg
        if self.raw:
            lock, send = self.q._wlock, self.q._writer.send_bytes
            for _ in range(n // self.P):
                with lock:
                    send(msg)
            return
        for _ in range(n // self.P):
            put(msg)

    def consumer(self, n):
        get, size, work = self.q.get, self.size, self.work_ns
        if self.raw:
            lock, recv = self.q._rlock, self.q._reader.recv_bytes
            for _ in range(n // self.C):
                with lock:
                    m = recv()
                if len(m) != size:
                    raise Fail("queue.get: wrong size")
                if work:
                    busy(work)
            return
        for _ in range(n // self.C):
            if len(get()) != size:
                raise Fail("queue.get: wrong size")
            if work:
                busy(work)

    def round(self, n, ops):
        self.team.round(n)

    def teardown(self):
        self.team.close()


class QueueLatency:
    """put of a message stamped with the send time into an empty queue while
    the consumer child waits in get; the child answers the delay on a pipe.
    idle_us: pause before each put (so the getter is surely asleep)."""
    metric, unit, n0, quick_n = "latency", "s", 16, 64

    def setup(self):
        self.size = max(8, p_int("size", 64))
        self.q = make_queue()
        self.pad = payload(self.size - 8)
        self.ack = os.pipe()
        self.team = Team([self.consumer])

    def consumer(self, n):
        get, w = self.q.get, self.ack[1]
        for _ in range(n):
            m = get()
            t1 = now_ns()
            os.write(w, struct.pack("<q", t1 - struct.unpack_from("<q", m)[0]))

    def round(self, n, ops):
        self.team.go(n)
        put, r, pad = self.q.put, self.ack[0], self.pad
        idle = p_int("idle_us", 0) / 1e6
        for _ in range(n):
            if idle:
                time.sleep(idle)
            put(struct.pack("<q", now_ns()) + pad)
            ops.append(struct.unpack("<q", read_full(r, 8))[0])
        self.team.wait()

    def teardown(self):
        self.team.close()
        os.close(self.ack[0])
        os.close(self.ack[1])


class PipeStream:
    metric, unit, n0, quick_n = "throughput", "msg/s", 64, 256

    def setup(self):
        self.size = p_int("size", 64)
        self.value = p_str("api", "bytes") == "value"
        self.a, self.b = CTX.Pipe(p_bool("duplex", True))
        self.msg = payload(self.size)
        self.team = Team([self.sender, self.receiver])

    def sender(self, n):
        send = self.b.send if self.value else self.b.send_bytes
        msg = self.msg
        for _ in range(n):
            send(msg)

    def receiver(self, n):
        recv = self.a.recv if self.value else self.a.recv_bytes
        size = self.size
        for _ in range(n):
            if len(recv()) != size:
                raise Fail("recv: wrong size")

    def round(self, n, ops):
        self.team.round(n)

    def teardown(self):
        self.team.close()


def conn_pair(transport):
    """transport=pipe: CTX.Pipe(True).  unix|tcp: the two ends of one
    Listener/Client connection (no authkey), made before the children start,
    as bench/c/mpbench.c does."""
    if transport == "pipe":
        return CTX.Pipe(True)
    from multiprocessing.connection import Listener, Client
    if transport == "unix":
        l = Listener(family="AF_UNIX")
    elif transport == "tcp":
        l = Listener(("127.0.0.1", 0))
    else:
        raise Fail(f"transport={transport}: pipe, unix or tcp")
    with l:
        b = Client(l.address)
        a = l.accept()
    return a, b


class PipePingPong:
    metric, unit, n0, quick_n = "latency", "s", 16, 64

    def setup(self):
        if not p_bool("duplex", True):
            raise Fail("pipe.pingpong needs duplex=true")
        self.size = p_int("size", 64)
        self.value = p_str("api", "bytes") == "value"
        transport = p_str("transport", "pipe")
        pairs = p_int("pairs", 1)
        if not 1 <= pairs <= 8:
            raise Fail("pairs=%d: 1..8" % pairs)
        self.a, self.b = conn_pair(transport)
        # pairs=P: P-1 more pairs of children ping-pong at the same time, n
        # round trips each a round (as bench/c/mpbench.c does).
        self.more = [conn_pair(transport) for _ in range(pairs - 1)]
        self.msg = payload(self.size)
        kids = [lambda n: self.echo(self.b, n)]
        for a, b in self.more:
            kids += [lambda n, a=a: self.ping(a, n), lambda n, b=b: self.echo(b, n)]
        self.team = Team(kids)

    def echo(self, b, n):
        recv, send = (b.recv, b.send) if self.value else (b.recv_bytes, b.send_bytes)
        for _ in range(n):
            send(recv())

    def ping(self, a, n):
        recv, send = (a.recv, a.send) if self.value else (a.recv_bytes, a.send_bytes)
        for _ in range(n):
            send(self.msg)
            if len(recv()) != self.size:
                raise Fail("recv: wrong size")

    def round(self, n, ops):
        self.team.go(n)
        a, msg, size = self.a, self.msg, self.size
        recv, send = (a.recv, a.send) if self.value else (a.recv_bytes, a.send_bytes)
        for _ in range(n):
            t0 = now_ns()
            send(msg)
            if len(recv()) != size:
                raise Fail("recv: wrong size")
            ops.append(now_ns() - t0)
        self.team.wait()

    def teardown(self):
        self.team.close()


class ConnectionWait:
    """conns=N duplex Pipes; per operation: send on pipe i (round robin),
    multiprocessing.connection.wait over all N ends, receive the echo."""
    metric, unit, n0, quick_n = "latency", "s", 16, 64

    def setup(self):
        from multiprocessing.connection import wait
        self.wait = wait
        self.size = p_int("size", 64)
        self.value = p_str("api", "bytes") == "value"
        n = p_int("conns", 100)
        pairs = [CTX.Pipe(True) for _ in range(n)]
        self.ends = [a for a, _ in pairs]
        self.peers = [b for _, b in pairs]
        self.msg = payload(self.size)
        self.team = Team([self.echo])

    def echo(self, n):
        peers, k = self.peers, len(self.peers)
        for i in range(n):
            b = peers[i % k]
            if self.value:
                b.send(b.recv())
            else:
                b.send_bytes(b.recv_bytes())

    def round(self, n, ops):
        self.team.go(n)
        ends, k, msg, size, wait = self.ends, len(self.ends), self.msg, self.size, self.wait
        for i in range(n):
            a = ends[i % k]
            t0 = now_ns()
            a.send(msg) if self.value else a.send_bytes(msg)
            ready = wait(ends)
            if ready != [a]:
                raise Fail("wait: not the one pipe")
            got = a.recv() if self.value else a.recv_bytes()
            if len(got) != size:
                raise Fail("recv: wrong size")
            ops.append(now_ns() - t0)
        self.team.wait()

    def teardown(self):
        self.team.close()


class Spread:
    """processes=K: the round's n operations (self.ops) run in this process
    (K = 1) or in K children, n/K each."""

    def spread(self):
        self.procs = procs = p_int("processes", 1)
        self.team = Team([self.ops] * procs) if procs > 1 else None

    def round(self, n, ops):
        if self.team:
            self.team.round(n)
        else:
            self.ops(n)

    def teardown(self):
        if self.team:
            self.team.close()


class AcquireRelease(Spread):
    metric, unit, n0, quick_n = "throughput", "ops/s", 1024, 4096
    make = None

    def setup(self):
        self.obj = self.make()
        self.spread()

    def ops(self, n):
        acq, rel = self.obj.acquire, self.obj.release
        for _ in range(n // self.procs):
            acq()
            rel()


class LockAR(AcquireRelease):
    make = staticmethod(CTX.Lock)


class SemAR(AcquireRelease):
    make = staticmethod(lambda: CTX.Semaphore(1))


class EventPingPong:
    metric, unit, n0, quick_n = "latency", "s", 16, 64

    def setup(self):
        pairs = p_int("pairs", 1)
        if not 1 <= pairs <= 8:
            raise Fail("pairs=%d: 1..8" % pairs)
        self.e1, self.e2 = CTX.Event(), CTX.Event()
        # pairs=P: P-1 more pairs of children at the same time (as
        # bench/c/mpbench.c does).
        more = [(CTX.Event(), CTX.Event()) for _ in range(pairs - 1)]
        kids = [lambda n: self.child(self.e1, self.e2, n)]
        for e1, e2 in more:
            kids += [lambda n, e1=e1, e2=e2: self.ping(e1, e2, n),
                     lambda n, e1=e1, e2=e2: self.child(e1, e2, n)]
        self.team = Team(kids)

    @staticmethod
    def child(e1, e2, n):
        for _ in range(n):
            e1.wait()
            e1.clear()
            e2.set()

    @staticmethod
    def ping(e1, e2, n):
        for _ in range(n):
            e1.set()
            e2.wait()
            e2.clear()

    def round(self, n, ops):
        self.team.go(n)
        e1, e2 = self.e1, self.e2
        for _ in range(n):
            t0 = now_ns()
            e1.set()
            e2.wait()
            e2.clear()
            ops.append(now_ns() - t0)
        self.team.wait()

    def teardown(self):
        self.team.close()


def _trivial():
    pass


def _ident(x):
    return x


class ProcessStartJoin:
    metric, unit, n0, quick_n = "latency", "s", 4, 4

    def setup(self):
        pass

    def round(self, n, ops):
        for _ in range(n):
            t0 = now_ns()
            p = CTX.Process(target=_trivial)
            p.start()
            p.join()
            if p.exitcode != 0:
                raise Fail("process exitcode %s" % p.exitcode)
            ops.append(now_ns() - t0)

    def teardown(self):
        pass


class PoolBase:
    def setup(self):
        self.pool = CTX.Pool(p_int("workers", 2))
        self.args = []

    def prepare(self, n):
        """The map family's input list, as the C side builds its mp_value list."""
        if len(self.args) != n:
            self.args = list(range(n))

    def teardown(self):
        self.pool.close()
        self.pool.join()


class PoolApplyAsync(PoolBase):
    metric, unit, n0, quick_n = "throughput", "tasks/s", 64, 100

    def round(self, n, ops):
        rs = [self.pool.apply_async(_ident, (i,)) for i in range(n)]
        for i, r in enumerate(rs):
            if r.get() != i:
                raise Fail("apply_async: wrong result")


class PoolApply(PoolBase):
    metric, unit, n0, quick_n = "latency", "s", 16, 32

    def round(self, n, ops):
        apply = self.pool.apply
        for i in range(n):
            t0 = now_ns()
            if apply(_ident, (i,)) != i:
                raise Fail("apply: wrong result")
            ops.append(now_ns() - t0)


class PoolMap(PoolBase):
    """Every result is checked after the clock stops (check), as on the C side."""
    metric, unit, n0, quick_n = "throughput", "tasks/s", 256, 400

    def round(self, n, ops):
        cs = p_str("chunksize", "default")
        kw = {} if cs == "default" else {"chunksize": int(cs)}
        self.res = self.pool.map(_ident, self.args, **kw)

    def check(self, n):
        if self.res != self.args:  # result i is i, in order
            raise Fail("map: wrong results")


class PoolImapUnordered(PoolBase):
    metric, unit, n0, quick_n = "throughput", "tasks/s", 64, 100

    def round(self, n, ops):
        self.res = list(self.pool.imap_unordered(_ident, self.args))

    def check(self, n):
        if sorted(self.res) != self.args:  # each of 0..n-1 exactly once
            raise Fail("imap_unordered: results missing or repeated")


class PoolCreateCloseJoin:
    metric, unit, n0, quick_n = "latency", "s", 2, 1

    def setup(self):
        pass

    def round(self, n, ops):
        w = p_int("workers", 2)
        for _ in range(n):
            t0 = now_ns()
            pool = CTX.Pool(w)
            pool.close()
            pool.join()
            ops.append(now_ns() - t0)

    def teardown(self):
        pass


class ManagerBase:
    metric, unit, n0, quick_n = "throughput", "ops/s", 64, 100
    """Operations through proxies from the main process: each is one round
    trip to the manager's server process, as from any child."""

    def setup(self):
        self.mgr = CTX.Manager()
        self.d = self.mgr.dict()
        self.l = self.mgr.list()
        self.d["k"] = 1

    def teardown(self):
        self.mgr.shutdown()


class ManagerDictSet(Spread, ManagerBase):
    """processes=K > 1: K children share the dict, n/K sets each."""

    def setup(self):
        ManagerBase.setup(self)
        self.spread()

    def ops(self, n):
        d = self.d
        for i in range(n // self.procs):
            d[i & 1023] = i

    def teardown(self):
        Spread.teardown(self)
        ManagerBase.teardown(self)


class ManagerDictGet(ManagerBase):
    def round(self, n, ops):
        d = self.d
        for _ in range(n):
            d["k"]


class ManagerListAppend(ManagerBase):
    def round(self, n, ops):
        self.l[:] = []
        append = self.l.append
        for i in range(n):
            append(i)


def _flood(d, stop, ready, kind, keys):
    """The flooding client of ManagerGetUnderLoad (see mpbench.c)."""
    big = {(float("nan") if kind == "nan" else i): i for i in range(keys)}
    first = True
    while True:
        d["h"] = big
        if first:
            ready.set()
            first = False
        if stop.is_set():
            break


class ManagerGetUnderLoad(ManagerBase):
    """dict.get round trips while another client floods the manager with
    d['h'] = a dict of `keys` keys (hostile=big: ints; nan: NaN keys, each
    equal only to itself); hostile=none is the baseline."""
    metric, unit, n0, quick_n = "latency", "s", 16, 64

    def setup(self):
        ManagerBase.setup(self)
        self.kind = p_str("hostile", "none")
        self.proc = None
        if self.kind == "none":
            return
        if self.kind not in ("big", "nan"):
            raise Fail("hostile: none, big or nan")
        self.stop, ready = CTX.Event(), CTX.Event()
        self.proc = CTX.Process(target=_flood, daemon=True,
                                args=(self.d, self.stop, ready, self.kind, p_int("keys", 40000)))
        self.proc.start()
        if not ready.wait(60):
            raise Fail("the flooding client's first request")

    def round(self, n, ops):
        d = self.d
        for _ in range(n):
            t0 = now_ns()
            if d["k"] != 1:
                raise Fail("dict.get: wrong value")
            ops.append(now_ns() - t0)
        if self.proc is not None and not self.proc.is_alive():
            raise Fail("the flooding client ended early")

    def teardown(self):
        if self.proc is not None:
            self.stop.set()
            self.proc.join(30)
            if self.proc.is_alive():
                self.proc.kill()
                self.proc.join(5)
        ManagerBase.teardown(self)


WORKLOADS = {
    "queue.stream": QueueStream,
    "queue.latency": QueueLatency,
    "pipe.stream": PipeStream,
    "pipe.pingpong": PipePingPong,
    "connection.wait": ConnectionWait,
    "lock.acquire_release": LockAR,
    "semaphore.acquire_release": SemAR,
    "event.pingpong": EventPingPong,
    "process.start_join": ProcessStartJoin,
    "pool.apply_async": PoolApplyAsync,
    "pool.apply": PoolApply,
    "pool.map": PoolMap,
    "pool.imap_unordered": PoolImapUnordered,
    "pool.create_close_join": PoolCreateCloseJoin,
    "manager.dict_set": ManagerDictSet,
    "manager.dict_get": ManagerDictGet,
    "manager.list_append": ManagerListAppend,
    "manager.get_under_load": ManagerGetUnderLoad,
}


# ------------------------------------------------------------------ main

def round8(n):
    """round(n) of bench/calibration.json: a multiple of round_multiple (8: 1,
    2, 4 or 8 producers/consumers split a round evenly), at least one."""
    m = CAL["round_multiple"]
    return m if n < m else (n + m - 1) // m * m


TICK = 1.0 / (os.sysconf("SC_CLK_TCK") or 100)


def _children(pid):
    """The children of pid, through its tasks' children files, and its tids."""
    kids, tids = [], []
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return kids, tids
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                kids += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return kids, tids


def _proc_cost(pid, tids):
    """(cpu seconds, minor faults) of one descendant: its threads' run time
    (schedstat, ns) plus what its reaped children used (cutime/cstime,
    cminflt), as bench/common/bench.c's proc_cost_add()."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            text = f.read()
    except OSError:
        return 0.0, 0
    f = text[text.rindex(b")") + 2:].split()
    # f[0] state ... f[7] minflt f[8] cminflt f[11..14] utime stime cutime cstime
    run, have = 0.0, True
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as g:
                run += int(g.read().split()[0]) / 1e9
        except (OSError, ValueError, IndexError):
            have = False
    own = run if have else (int(f[11]) + int(f[12])) * TICK
    return own + (int(f[13]) + int(f[14])) * TICK, int(f[7]) + int(f[8])


def cost_now():
    """(cpu seconds, minor faults) of the whole side so far: this process
    and the children it reaped (getrusage), plus every live descendant
    (/proc), as bench/common/bench.c's cost_now() counts them."""
    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime
    flt = a.ru_minflt + b.ru_minflt
    todo = _children(os.getpid())[0]
    while todo and len(todo) < 256:
        pid = todo.pop()
        kids, tids = _children(pid)
        c, m = _proc_cost(pid, tids)
        cpu += c
        flt += m
        todo += kids
    return cpu, flt


def one_round(w, n, latency):
    """(sample, elapsed s, per-op ns or None, (cpu s, minor faults))."""
    ops = []
    if hasattr(w, "prepare"):  # the round's input, made before the clock starts
        w.prepare(n)
    c0 = cost_now()  # outside the clock: it reads /proc
    t0 = now_ns()
    w.round(n, ops)
    e = max((now_ns() - t0) / 1e9, 1e-9)
    c1 = cost_now()
    if hasattr(w, "check"):  # heavy result checks run after the clock stops
        w.check(n)
    cost = (round(c1[0] - c0[0], 6), c1[1] - c0[1])
    if latency:
        if len(ops) != n:
            raise Fail("internal: %d latencies for %d operations" % (len(ops), n))
        if p_int("pairs", 1) > 1 or p_int("cpus", 0) > 0 or p_int("hogs", 0) > 0:
            # the "no loss" conditions (pairs, cpus, hogs beside the side):
            # the round's wall time per operation, as common/bench.c's
            # latency_is_round_mean says why
            return e / n, e, ops, cost
        return sorted(ops)[n // 2] / 1e9, e, ops, cost
    return n / e, e, None, cost


def pin_cpus():
    """cpus=K (K >= 1): pins this process, before the workload starts any
    child, to the first K CPUs it may run on; the children inherit the mask
    (bench/common/bench.c's pin_cpus, the same on every side)."""
    k = p_int("cpus", 0)
    if k <= 0:
        return
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < k:
        raise Fail("cpus=%d: only %d CPUs allowed" % (k, len(allowed)))
    os.sched_setaffinity(0, allowed[:k])


def main(argv):
    n, seconds, samples, quick, name = 0, 0.2, 1, False, None
    it = iter(argv[1:])
    for a in it:
        if a == "-n":
            n = int(next(it))
        elif a == "-t":
            seconds = float(next(it))
        elif a == "-s":
            samples = int(next(it))
        elif a == "-q":
            quick = True
        elif a == "-l":
            print("\n".join(WORKLOADS))
            return 0
        elif "=" in a:
            k, v = a.split("=", 1)
            PARAMS[k] = v
        elif name is None and not a.startswith("-"):
            name = a
        else:
            print("usage: mpbench.py WORKLOAD [key=value ...] [-n N] [-t S] [-s K] [-q] | -l",
                  file=sys.stderr)
            return 2
    cls = WORKLOADS.get(name)
    if cls is None:
        print("mpbench.py: unknown workload %r (-l lists them)" % name, file=sys.stderr)
        return 2
    w = cls()
    if p_str("malloc", "default") == "fixed" and not all(
            os.environ.get(k) for k in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_",
                                        "MALLOC_TOP_PAD_")):
        # glibc reads its thresholds at the first malloc: too late to set here.
        sys.stdout.write(json.dumps({
            "status": "error", "workload": name, "metric": w.metric, "unit": w.unit, "n": 0,
            "samples": [], "message": "malloc=fixed needs MALLOC_MMAP_THRESHOLD_, "
            "MALLOC_TRIM_THRESHOLD_ and MALLOC_TOP_PAD_ (bench/run.py sets them)"}) + "\n")
        return 0
    latency = w.metric == "latency"
    nmax = CAL["n_max_latency"] if latency else CAL["n_max"]
    n0, qn = w.n0, w.quick_n
    size = p_int("size", 0)
    if size > 0:
        n0 = min(n0, CAL["first_round_bytes"] // size)
        qn = min(qn, CAL["quick_round_bytes"] // size)
    out = {"status": "ok", "workload": name, "metric": w.metric, "unit": w.unit,
           "n": 0, "samples": [], "message": ""}
    raws, vals, cpus, flts = [], [], [], []
    set_up = False
    try:
        pin_cpus()
        w.setup()
        set_up = True
        # Steps 1-4 of bench/calibration.json, as bench/common/bench.c runs them.
        if not quick and size > 0 and not latency:
            # Streams are steady-state figures: move warm_bytes (or as much as
            # warm_seconds allows) untimed first.
            goal, moved, wn, spent = CAL["warm_bytes"] // size, 0, n0, 0.0
            while moved < goal and spent < CAL["warm_seconds"]:
                wn = round8(min(wn, goal - moved))
                spent += one_round(w, wn, latency)[1]
                moved += wn
                wn *= CAL["warm_growth"]
        if quick:
            n, samples = round8(qn), 1
        elif n > 0:
            n = round8(min(n, nmax))
            one_round(w, round8(n // CAL["warmup_divisor"]), latency)
        else:
            n = round8(n0)
            while True:
                _, e, _, _ = one_round(w, n, latency)
                if e >= seconds / CAL["grow_until_divisor"] or n >= nmax:
                    break
                f = (seconds / CAL["grow_until_divisor"] / e * CAL["grow_overshoot"]
                     if e > 0 else CAL["grow_max"])
                f = min(CAL["grow_max"], max(CAL["grow_min"], f))
                n = min(nmax, round8(int(n * f)))
            # Cold first rounds can stop the growth early: rescale until a
            # round is long enough; the last one is this invocation's sample.
            for k in range(CAL["rescale_rounds"]):
                n = round8(min(nmax, int(n * seconds / e)))
                s, e, raw, cost = one_round(w, n, latency)
                if e >= seconds / CAL["rescale_until_divisor"] or n >= nmax:
                    break
            vals.append(s)
            cpus.append(cost[0])
            flts.append(cost[1])
            if latency:
                raws.append(raw)
            samples = 0
        for _ in range(samples):
            s, _, raw, cost = one_round(w, n, latency)
            vals.append(s)
            cpus.append(cost[0])
            flts.append(cost[1])
            if latency:
                raws.append(raw)
    except Fail as e:
        out["status"] = "unsupported" if e.kind == UNSUP else "error"
        out["message"] = str(e)
    except Exception as e:
        out["status"] = "error"
        out["message"] = "%s: %s" % (type(e).__name__, e)
    finally:
        if set_up:
            try:
                w.teardown()
            except Exception as e:
                if out["status"] == "ok":
                    out["status"], out["message"] = "error", "teardown: %s" % e
    out["n"] = n
    if out["status"] == "ok":
        out["samples"] = vals
        out["cpu_s"], out["minflt"] = cpus, flts
        if latency:
            out["raw_ns"] = raws
    sys.stdout.write(json.dumps(out, separators=(",", ":")) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
