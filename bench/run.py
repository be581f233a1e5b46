#!/usr/bin/env python3
"""The benchmark driver: runs every workload against the implementation
under test (bench/c/mpbench.c linked with ref or IMPL), CPython
(bench/python/mpbench.py) and the raw OS floor (bench/os/osfloor.c), all
interleaved, then times the tutorial's examples with hyperfine, and writes
one result file in the format of bench/FORMAT.md.  Standard library only.

Interleaving: for each figure (workload + parameters) the samples are taken
one invocation each, the order of the sides rotating from sample to sample,
so that all of them see the same machine state.  A side's first invocation
calibrates the operations per sample (its growing rounds are its warm-up);
the later ones reuse that count after a warm-up round of a tenth of it.  Processes are not pinned to CPUs (users' programs are not).

A regress run (--kind regress, `make regress`) measures the tested library
beside one --impl-b library, the baseline's code, on EVERY figure and every
tutorial example, and nothing else (no CPython, no floors): the verdict
compares the two sides of one interleaved run, so the drift of the machine
between runs, which on a shared VM moves a figure by up to 3.5x for the same
code, cancels out (reports/compare.py regress).

Exit status: 0 when every program ran (figures are never judged), 1 when a
benchmark program is broken (crash, time-out, bad output, or a failing call:
status "error"), 2 on bad usage.
"""
import argparse
import concurrent.futures
import datetime
import json
import math
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PYBENCH = os.path.join(HERE, "python", "mpbench.py")
SIZES = [64, 1024, 65536, 1048576]
# tutorial_pool is left out: its tasks sleep 2 s each (8 s a run).
TUTORIALS = ["tutorial_process", "tutorial_subclass", "tutorial_lock", "tutorial_queue",
             "tutorial_pipe", "tutorial_manager"]
FORMAT_VERSION = 1
# A regress run times each example this many times per sample asked for
# (so 20 with 10 samples), after REGRESS_WARMUP untimed runs per side.
REGRESS_RUNS_PER_SAMPLE = 2
REGRESS_WARMUP = 2
# Scaling curves: processes on each side (producers, consumers, workers,
# clients); quick runs take the ends.
SCALE = (1, 2, 4, 8)
# Figures with a "tasks" parameter time exactly that many operations per
# sample on every side (no calibration).
TASKS = 1000000
# malloc=fixed figures: both sides (the library's program and CPython's) run
# with these glibc malloc thresholds, so neither returns its large message
# buffers to the OS between messages (and faults them back in).  Setting any
# of them also turns off glibc's dynamic mmap threshold.
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_TRIM_THRESHOLD_": str(256 << 20),
              "MALLOC_TOP_PAD_": str(16 << 20)}

# workload -> (metric, unit); the programs print the same (checked).
META = {
    "queue.stream": ("throughput", "msg/s"),
    "queue.latency": ("latency", "s"),
    "pipe.stream": ("throughput", "msg/s"),
    "pipe.pingpong": ("latency", "s"),
    "connection.wait": ("latency", "s"),
    "lock.acquire_release": ("throughput", "ops/s"),
    "semaphore.acquire_release": ("throughput", "ops/s"),
    "event.pingpong": ("latency", "s"),
    "process.start_join": ("latency", "s"),
    "pool.apply_async": ("throughput", "tasks/s"),
    "pool.apply": ("latency", "s"),
    "pool.map": ("throughput", "tasks/s"),
    "pool.imap_unordered": ("throughput", "tasks/s"),
    "pool.create_close_join": ("latency", "s"),
    "manager.dict_set": ("throughput", "ops/s"),
    "manager.dict_get": ("throughput", "ops/s"),
    "manager.list_append": ("throughput", "ops/s"),
    "manager.get_under_load": ("latency", "s"),
}


# The headline figures (result field "headline": true, the report's history
# section), chosen like for like: the library's value API against CPython's
# objects, its bytes API against CPython's send_bytes-style path (a
# SimpleQueue's put/get without pickling; a Pipe's send_bytes), the 1 MiB
# stream with both sides on the same malloc thresholds, and map on the same
# 1M tasks on both sides.  (workload, params that must match.)
HEADLINES = [
    ("queue.stream", {"kind": "Queue", "size": 64, "producers": 1, "consumers": 1,
                      "api": "value"}),
    ("queue.stream", {"kind": "SimpleQueue", "size": 64, "producers": 1, "consumers": 1,
                      "api": "bytes"}),
    ("queue.stream", {"kind": "Queue", "size": 1048576, "producers": 1, "consumers": 1,
                      "api": "bytes", "malloc": "fixed"}),
    ("pipe.stream", {"duplex": False, "api": "bytes", "size": 64}),
    ("pipe.pingpong", {"api": "bytes", "size": 64}),
    ("pool.apply_async", {"workers": 2}),
    ("pool.apply", {"workers": 2}),
    ("pool.map", {"chunksize": "default", "tasks": 1000000}),
    ("manager.dict_set", {}),
    ("process.start_join", {}),
]


IMPLS_DIR = os.path.join(ROOT, "conformance", "impls")


def load_peers(spec):
    """The Python peers named in spec ('' none, 'all', or 'a,b'), each a dict
    with name, interpreter (resolved on PATH) and module, from
    conformance/impls/<name>.json.  ValueError for an unknown or unusable
    name: a peer asked for and not measured would be a silent gap."""
    if not spec:
        return []
    if spec == "all":
        names = sorted(f[:-5] for f in os.listdir(IMPLS_DIR) if f.endswith(".json"))
    else:
        names = [n.strip() for n in spec.split(",") if n.strip()]
    peers = []
    for n in names:
        try:
            with open(os.path.join(IMPLS_DIR, n + ".json")) as f:
                d = json.load(f)
        except (OSError, ValueError) as e:
            raise ValueError("--peers: %s: %s" % (n, e))
        if d.get("kind") != "python" or d.get("name") == "cpython":
            if spec == "all":
                continue
            raise ValueError("--peers: %s is not a Python peer of cpython" % n)
        interp = shutil.which(d["interpreter"])
        if not interp:
            raise ValueError("--peers: %s: interpreter %s not found (make deps-matrix)"
                             % (n, d["interpreter"]))
        peers.append({"name": d["name"], "interpreter": interp, "module": d["module"]})
    return peers


TARGETS_JSON = os.path.join(ROOT, "reports", "targets.json")


def target_figures(path=TARGETS_JSON):
    """The figures of the tested implementation (and of --impl-b's second
    library) that issue #16's speed targets divide, from the one table of
    them, reports/targets.json: ([(workload, params)], {json key: rounds}).
    run.py --targets runs the groups holding them, each with at least the
    largest "rounds" of the rows naming its figures (a figure no row raises
    is not in the dict and takes --samples); --impl-b's library runs them
    beside the headline figures."""
    with open(path) as f:
        rows = json.load(f)["targets"]
    out, rounds = [], {}
    for t in rows:
        for side in (t["a"], t["b"]):
            fig = (side["workload"], side["params"])
            if not side["impl"].startswith("$"):
                continue
            if fig not in out:
                out.append(fig)
            if "rounds" in t:
                key = json.dumps(list(fig), sort_keys=True)
                rounds[key] = max(rounds.get(key, 0), t["rounds"])
    return out, rounds


TARGET_FIGURES, TARGET_ROUNDS = target_figures()
# Measured in the 64 B stream group, beside os.ring (its target's divisor).
QUEUE_VALUE_64 = ("queue.stream", {"kind": "Queue", "size": 64, "producers": 1, "consumers": 1,
                                   "api": "value"})
# Parameters that make a variant of a figure (the same workload under other
# conditions): a figure carrying one is a headline only if the headline's
# own parameters name it.
VARIANT_KEYS = ("malloc", "pairs", "cpus", "work_ns", "hogs")
# hogs=K figures: run.py starts K of these CPU-bound busy loops beside each
# invocation of every side of the figure (run_program), each in its own
# session, and kills and reaps them when the invocation ends.  They are
# run.py's children, not the side's, so no side's CPU time counts them.
HOG_ARGV = ["sh", "-c", "while :; do :; done"]


def is_headline(w, params):
    for hw, hp in HEADLINES:
        if hw == w and all(params.get(k) == v for k, v in hp.items()) and \
                (hp or not params) and all((k in hp) == (k in params) for k in VARIANT_KEYS):
            return True
    return False


def is_target_figure(w, params):
    return (w, params) in TARGET_FIGURES


def arg(v):
    return ("true" if v else "false") if isinstance(v, bool) else str(v)


class Side:
    """One program measured in a group: the impl name it reports as, its argv,
    and the figures (workload, params) its samples belong to.  A floor
    interleaved with several figures serves all of them."""

    def __init__(self, impl, argv, targets, env=None, windowed=False, hogs=0):
        self.impl, self.argv, self.targets, self.env = impl, argv, targets, env
        # windowed: a program that times a window rather than n operations
        # (ringcheck): every invocation is given -t SECONDS.
        self.windowed = windowed
        # hogs: CPU-bound processes run.py runs beside every invocation of
        # this side (the figure's hogs=K, HOG_ARGV).
        self.hogs = hogs
        self.key = "%s %s" % (impl, " ".join(argv[1:]))


def kv(p):
    return ["%s=%s" % (k, arg(v)) for k, v in p.items()]


def groups(cfg):
    """Groups of figures measured together, interleaved, in run order: each is
    a list of Sides.  Figures that share floors are grouped so that each floor
    is measured once, in the same machine state as all of them."""
    def impls(w, p):
        env = MALLOC_ENV if p.get("malloc") == "fixed" else None
        hogs = p.get("hogs", 0)  # every side of the figure alike
        sides = [Side(cfg.impl, [cfg.mpbench, w] + kv(p), [(w, p)], env, hogs=hogs),
                 Side("cpython", [sys.executable, "-S", PYBENCH, w] + kv(p), [(w, p)], env,
                      hogs=hogs)]
        if cfg.impl_b and (cfg.kind == "regress" or is_headline(w, p) or
                           is_target_figure(w, p)):
            # A second C library (--impl-b), its own mpbench, the same figure.
            for name, prog in cfg.impl_b:
                sides.append(Side(name, [prog, w] + kv(p), [(w, p)], env, hogs=hogs))
        if is_headline(w, p):  # peers run the headline figures, in the same group
            for peer in cfg.peers:
                penv = dict(env or {}, MP_BENCH_MODULE=peer["module"])
                sides.append(Side(peer["name"], [peer["interpreter"], PYBENCH, w] + kv(p),
                                  [(w, p)], penv, hogs=hogs))
        return sides

    def floor(name, w, targets, **kw):
        return Side(name, [cfg.osfloor, w] + kv(kw), targets, hogs=kw.get("hogs", 0))

    # Quick mode proves that the programs work: the smallest and the largest
    # message sizes cover their code paths.
    sizes = [SIZES[0], SIZES[-1]] if cfg.kind == "quick" else SIZES
    out = []
    for size in sizes:  # 1 -> 1 streams of bytes, with the channel floors
        figs = [("queue.stream", {"kind": k, "size": size, "producers": 1, "consumers": 1,
                                  "api": "bytes"}) for k in ("Queue", "SimpleQueue")]
        figs += [("pipe.stream", {"duplex": d, "api": "bytes", "size": size}) for d in (False, True)]
        if size == SIZES[-1]:
            # The same 1 MiB figures with both sides on fixed malloc thresholds
            # (MALLOC_ENV): glibc otherwise hands CPython's ~2 MiB buffers back
            # to the OS after every message and faults them in again.
            fixed = [(w, dict(p, malloc="fixed")) for w, p in figs]
            figs += fixed[:1] if cfg.kind == "quick" else fixed
        g = [s for w, p in figs for s in impls(w, p)]
        if size == SIZES[0]:
            # The value API of a Queue in the same group: its target is a
            # ratio to os.ring from one interleaving (reports/targets.json).
            g += impls(*QUEUE_VALUE_64)
        mechs = ["ring", "pipebuf", "sockbuf"] + (["pipe1mbuf"] if size >= 65536 else [])
        g += [floor("os." + m, "stream", figs, mech=m, size=size) for m in mechs]
        if size == SIZES[0] and cfg.ringcheck:
            # The independent ring (bench/os/ringcheck.c) as a side of the same
            # group: "os.ring >= 0.5x ringcheck" from one interleaved run (#16).
            g.append(Side("os.ringcheck", [cfg.ringcheck, "--json", str(size)], figs,
                          windowed=True))
        out.append(g)
    # A consumer that works 100 ns a message (by the clock, every side alike):
    # the producer is the faster side, so the queue's buffer fills and a put
    # waits for room as the consumer frees it -- where a producer that looks
    # at the consumer's index too often slows the consumer down.  Beside the
    # OS ring with the same work, whose consumer sets the pace as well.
    wk = ("queue.stream", {"kind": "Queue", "size": 64, "producers": 1, "consumers": 1,
                           "api": "bytes", "work_ns": 100})
    out.append(impls(*wk) + [floor("os.ring", "stream", [wk], mech="ring", size=64,
                                   work_ns=100)])
    # Scaling (#16): producers x consumers from 1x1 to 8x8 for a Queue of
    # 64-byte messages; other kinds and sizes at 2x1 and 2x2.
    scale = SCALE if cfg.kind != "quick" else (1, 8)
    for prod in scale:
        for cons in scale:
            if (prod, cons) != (1, 1):  # 1x1 is in the stream group above
                out.append(impls("queue.stream", {"kind": "Queue", "size": 64, "producers": prod,
                                                  "consumers": cons, "api": "bytes"}))
    for kind in ("Queue", "SimpleQueue"):
        for size in sizes:
            for prod, cons in ((2, 1), (2, 2)):
                if kind == "Queue" and size == 64:
                    continue  # in the grid above
                out.append(impls("queue.stream", {"kind": kind, "size": size, "producers": prod,
                                                  "consumers": cons, "api": "bytes"}))
        for prod, cons in ((1, 1), (2, 1), (2, 2)):
            fig = ("queue.stream", {"kind": kind, "size": 64, "producers": prod,
                                    "consumers": cons, "api": "value"})
            if fig != QUEUE_VALUE_64:  # in the 64 B stream group
                out.append(impls(*fig))
    for idle in (0, 1000):
        figs = [("queue.latency", {"kind": k, "size": 64, "idle_us": idle})
                for k in ("Queue", "SimpleQueue")]
        g = [s for w, p in figs for s in impls(w, p)]
        g += [floor("os." + m, "wake", figs, mech=m, size=64, idle_us=idle)
              for m in ("futex", "futexspin", "pipebuf")]
        out.append(g)
    for duplex in (False, True):
        for size in sizes:
            out.append(impls("pipe.stream", {"duplex": duplex, "api": "value", "size": size}))
    pb = ("pipe.pingpong", {"duplex": True, "api": "bytes", "size": 64})
    pv = ("pipe.pingpong", {"duplex": True, "api": "value", "size": 64})
    ev = ("event.pingpong", {})
    g = impls(*pb) + impls(*pv) + impls(*ev)
    # A Listener/Client round trip (Unix, TCP) beside the Pipe's (issue #18
    # target: within 10%), and wait() over 100 connections.
    for t in ("unix", "tcp"):
        g += impls("pipe.pingpong", {"duplex": True, "api": "bytes", "size": 64, "transport": t})
    g += impls("connection.wait", {"conns": 100, "api": "bytes", "size": 64})
    g += [floor("os." + m, "pingpong", [pb], mech=m, size=64) for m in ("pipebuf", "sockbuf")]
    g += [floor("os." + m, "pingpong", [pb, ev], mech=m, size=64) for m in ("futex", "futexspin")]
    out.append(g)
    # "No loss with 4 pairs on 2 CPUs, none when pinned to one CPU" (#16):
    # the bytes ping-pong with pairs=4 concurrent pairs, and with the whole
    # side pinned to one CPU (cpus=1, sched_setaffinity before it forks), on
    # every side alike, beside the blocking floors under the same conditions;
    # the Event ping-pong the same way, beside the blocking futex.
    # (Quick: pairs=4 cpus=1 covers the code of pairs=4 alone.)
    for pairs, cpus in ((4, 0), (1, 1), (4, 1))[1 if cfg.kind == "quick" else 0:]:
        extra = {"pairs": pairs} if pairs > 1 else {}
        if cpus:
            extra["cpus"] = cpus
        pp = ("pipe.pingpong", dict({"duplex": True, "api": "bytes", "size": 64}, **extra))
        ev1 = ("event.pingpong", dict(extra))
        figs = [pp, ev1]
        g = impls(*pp) + impls(*ev1)
        g += [floor("os.sockbuf", "pingpong", [pp], mech="sockbuf", size=64, **extra),
              floor("os.futex", "pingpong", figs, mech="futex", size=64, **extra)]
        out.append(g)
    # No loss beside two CPU-bound processes: run.py runs two busy loops
    # (HOG_ARGV) beside every invocation of every side, floors included, so
    # the CPUs are shared with work that never sleeps.  A side that waits by
    # spinning or by sched_yield() polling competes with them for the CPU its
    # peer needs; a side that blocks leaves it to the scheduler.  At 4a38435
    # ref's Event ping-pong stalled and its Manager calls ran 10-100x slower
    # beside two busy loops; the blocking floors were not.  (Quick: this group only, to show
    # the hogs path runs; quick runs two groups at a time, so its hogs load
    # the other group too, whose figures are not judged either.)
    hg = {"hogs": 2}
    ph = ("pipe.pingpong", dict({"duplex": True, "api": "bytes", "size": 64}, **hg))
    eh = ("event.pingpong", dict(hg))
    out.append(impls(*ph) + impls(*eh) +
               [floor("os.sockbuf", "pingpong", [ph], mech="sockbuf", size=64, **hg),
                floor("os.futex", "pingpong", [ph, eh], mech="futex", size=64, **hg)])
    if cfg.kind != "quick":
        # The Manager's round trips beside them (ref's client polls for the
        # reply): a throughput, so the latency rule does not enter.
        out.append(impls("manager.dict_set", dict(hg)))
    for procs in (1, 2):
        lk = ("lock.acquire_release", {"processes": procs})
        sm = ("semaphore.acquire_release", {"processes": procs})
        out.append(impls(*lk) + impls(*sm) + [floor("os.mutex", "mutex", [lk], processes=procs)])
    out.append(impls("process.start_join", {}) +
               [floor("os.fork", "fork", [("process.start_join", {})])])
    for w in scale:
        out.append(impls("pool.apply_async", {"workers": w}))
    out.append(impls("pool.apply", {"workers": 2}))
    out.append(impls("pool.map", {"workers": 2, "chunksize": 1}))
    # Default chunksize: both sides map the same 1M tasks a sample (TASKS),
    # so both split the list into the same chunks (CPython's default chunksize
    # is len / (4 x workers)) and a "1M tasks" label is what was timed.
    out.append(impls("pool.map", {"workers": 2, "chunksize": "default", "tasks": TASKS}))
    out.append(impls("pool.imap_unordered", {"workers": 2}))
    out.append(impls("pool.create_close_join", {"workers": 2}))
    for w in ("manager.dict_set", "manager.dict_get", "manager.list_append"):
        out.append(impls(w, {}))
    # Four clients on two CPUs: more callers than CPUs, where polling for a
    # reply must not starve the server (ref/src/manager.h).
    for procs in scale:  # processes=1 is the {} figure's work, labelled for the curve
        out.append(impls("manager.dict_set", {"processes": procs}))
    # One client's round trips while another floods the server with large or
    # hostile (all-NaN-key) requests: its p99 is what flooding costs others.
    out.append([s for h in ("none", "big", "nan")
                for s in impls("manager.get_under_load", {"hostile": h, "keys": 40000})])
    for g in out:
        for s in g:  # a side's hogs are its figures' (every side alike)
            if any(p.get("hogs", 0) != s.hogs for _, p in s.targets):
                raise AssertionError("side %s: hogs=%d, figures %r" % (s.key, s.hogs, s.targets))
    if cfg.kind == "regress":
        # The tested library and the baseline's, nothing else: a floor or
        # CPython does not enter the verdict and would only lengthen the run.
        names = {cfg.impl} | {name for name, _ in cfg.impl_b}
        out = [[s for s in g if s.impl in names] for g in out]
    if cfg.targets:
        # Only the groups holding a figure of reports/targets.json, whole (a
        # ratio's two figures come from one interleaved group).
        out = [g for g in out if any(is_target_figure(*t) for s in g for t in s.targets)]
    if cfg.only:
        out = [[s for s in g if any(t[0].startswith(o) for t in s.targets for o in cfg.only)]
               for g in out]
        # a floor alone measures nothing we asked for
        out = [g for g in out if any(not s.impl.startswith("os.") for s in g)]
    return out


# ------------------------------------------------------------------ running

def start_hogs(k):
    """k CPU-bound processes (HOG_ARGV), each in its own session, started
    before a side's invocation.  OSError when one cannot be started (those
    already started are stopped first)."""
    hogs = []
    try:
        for _ in range(k):
            hogs.append(subprocess.Popen(HOG_ARGV, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                         start_new_session=True, cwd=ROOT))
    except BaseException:
        stop_hogs(hogs)
        raise
    return hogs


def stop_hogs(hogs):
    """Kills (by process group) and reaps the hogs of start_hogs; returns how
    many of them had ended on their own before that: the side then ran
    without them for part of its invocation."""
    ended = 0
    for h in hogs:
        if h.poll() is not None:
            ended += 1  # reaped: its pid may be another process's by now
            continue
        try:
            os.killpg(h.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        h.wait()
    return ended


def run_program(argv, timeout, env=None, hogs=0):
    """(parsed JSON or None, error message); env: variables added to ours.
    hogs=K: K CPU-bound processes (start_hogs) run beside the program for
    its whole invocation; they are ours, not the program's, so its cost
    does not count them, and they are killed and reaped when it ends however
    it ends.  A hog that cannot be started, or that ends before the program
    does, makes the invocation an error: never a silent run without them."""
    try:
        hp = start_hogs(hogs)
    except OSError as e:
        return None, "cannot start the %d CPU-bound processes of hogs=%d: %s" % (hogs, hogs, e)
    try:
        res, err = run_one(argv, timeout, env)
    finally:
        ended = stop_hogs(hp)
    if ended and res is not None:
        return None, "%d of the %d CPU-bound processes of hogs=%d ended before the program" % (
            ended, hogs, hogs)
    return res, err


def run_one(argv, timeout, env=None):
    """run_program without hogs.
    The program runs in its own session; whatever of it is left afterwards (a
    child stuck on a failed peer) is killed by process group.  Output goes through a file so that a
    straggler holding stdout cannot stall us."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            p = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                 start_new_session=True, cwd=ROOT,
                                 env=dict(os.environ, **env) if env else None)
        except OSError as e:
            return None, "cannot run %s: %s" % (argv[0], e)
        timed_out = False
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        p.wait()
        out.seek(0)
        err.seek(0)
        text = out.read().decode(errors="replace")
        etext = err.read().decode(errors="replace").strip()
    tail = (" (stderr: %s)" % etext[-300:]) if etext else ""
    if timed_out:
        return None, "timed out after %g s%s" % (timeout, tail)
    if p.returncode != 0:
        return None, "exit status %d%s" % (p.returncode, tail)
    lines = [l for l in text.splitlines() if l.startswith("{")]
    try:
        res = json.loads(lines[-1])
    except (IndexError, ValueError):
        return None, "no result line in the output%s" % tail
    return res, ""


def percentile(sorted_vals, q):
    if not sorted_vals:
        return None
    k = (len(sorted_vals) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(sorted_vals) - 1)
    return sorted_vals[lo] + (sorted_vals[hi] - sorted_vals[lo]) * (k - lo)


def median(v):
    s = sorted(v)
    return percentile(s, 0.5)


def fmt(v, unit):
    if v is None:
        return "-"
    if unit == "s":
        for scale, u in ((1, "s"), (1e-3, "ms"), (1e-6, "us"), (1e-9, "ns")):
            if v >= scale:
                return "%.3g %s" % (v / scale, u)
        return "%.3g ns" % (v / 1e-9)
    for scale, u in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if v >= scale:
            return "%.3g%s %s" % (v / scale, u, unit)
    return "%.3g %s" % (v, unit)


def run_group(cfg, sides):
    """Measures the sides of a group interleaved; returns (figures, results)
    with figures the (workload, params) of the group in order."""
    st = {s.key: {"status": "ok", "message": "", "samples": [], "raw": [], "n": 0,
                  "cpu_s": [], "minflt": []} for s in sides}

    def invoke(s, extra):
        res, err = run_program(s.argv + extra, cfg.timeout, s.env, s.hogs)
        d = st[s.key]
        if res is None:
            d["status"], d["message"] = "error", err
            return None
        if res.get("status") != "ok":
            d["status"] = res.get("status") if res.get("status") in ("unsupported", "error") else "error"
            d["message"] = res.get("message") or "no message"
            return None
        want = META[s.targets[0][0]]
        if (res.get("metric"), res.get("unit")) != want:
            d["status"], d["message"] = "error", "program reports %s/%s, expected %s/%s" % (
                res.get("metric"), res.get("unit"), want[0], want[1])
            return None
        d["n"] = res.get("n", 0)
        d["samples"] += res["samples"]
        # Cost per sample (CPU seconds and minor faults of the whole side);
        # kept only while every invocation gave it for every sample.
        for k in ("cpu_s", "minflt"):
            if d[k] is not None and len(res.get(k) or []) == len(res["samples"]):
                d[k] += res[k]
            else:
                d[k] = None
        d["raw"] += res.get("raw_ns", [])
        return res

    if cfg.kind == "quick":
        for s in sides:
            invoke(s, ["-q"])
    elif cfg.kind == "regress":
        # Both libraries do the same work: every side calibrates once (its
        # samples dropped), then every sample of every side runs the same n,
        # the geometric mean of the sides' (with the largest, a side 20x
        # slower ran samples 20x longer).  With each side's own n, a side
        # calibrated in a slow moment ran samples a tenth as long, and a
        # stream's per-sample set-up made it up to 9.5x "slower" with the
        # very same code.
        for s in sides:
            if not s.windowed and not s.targets[0][1].get("tasks"):
                invoke(s, ["-t", str(cfg.seconds)])
                for k in ("samples", "cpu_s", "minflt", "raw"):
                    if st[s.key][k] is not None:
                        st[s.key][k] = []
        ns = {}  # figure -> the n its sides calibrated
        for s in sides:
            if st[s.key]["status"] == "ok" and st[s.key]["n"]:
                ns.setdefault(json.dumps(s.targets[0], sort_keys=True), []).append(st[s.key]["n"])
        n = {f: max(1, round(math.exp(sum(math.log(x) for x in v) / len(v))))
             for f, v in ns.items()}
        for k in range(cfg.samples):
            rot = k % len(sides)
            for s in sides[rot:] + sides[:rot]:
                if st[s.key]["status"] != "ok":
                    continue
                fixed = s.targets[0][1].get("tasks")
                fig = json.dumps(s.targets[0], sort_keys=True)
                invoke(s, ["-t", str(cfg.seconds)] if s.windowed else
                       ["-n", str(fixed or n.get(fig) or 1), "-s", "1"])
    else:
        for k in range(cfg.samples):
            rot = k % len(sides)
            for s in sides[rot:] + sides[:rot]:
                if st[s.key]["status"] != "ok":
                    continue
                if s.windowed:
                    invoke(s, ["-t", str(cfg.seconds)])
                    continue
                fixed = s.targets[0][1].get("tasks")
                # The first invocation calibrates n (its growing rounds are
                # its warm-up); the others run n after a warm-up round.  A
                # figure with "tasks" runs that n from the start.
                if fixed:
                    invoke(s, ["-n", str(fixed), "-s", "1"])
                else:
                    invoke(s, ["-t", str(cfg.seconds)] if k == 0 else
                           ["-n", str(st[s.key]["n"]), "-s", "1"])

    figs, results = [], []
    for s in sides:
        for t in s.targets:
            if t not in figs:
                figs.append(t)
    for w, params in figs:
        metric, unit = META[w]
        for s in sides:
            if (w, params) not in s.targets:
                continue
            d = st[s.key]
            r = {
                "workload": w, "impl": s.impl, "params": params, "metric": metric,
                "unit": unit, "higher_is_better": metric == "throughput",
                "samples": d["samples"] if d["status"] == "ok" else [],
                "status": d["status"], "message": d["message"],
                # extensions of FORMAT.md version 1 (readers ignore unknown fields):
                "ops_per_sample": d["n"],
                "command": [os.path.relpath(a, ROOT) if os.path.isabs(a) and a.startswith(ROOT)
                            else a for a in s.argv],
            }
            if len(s.targets) > 1:
                r["shared_measurement"] = True
            if s.env:
                r["env"] = s.env
            if is_headline(w, params):
                r["headline"] = True
            if d["status"] == "ok" and d["cpu_s"] is not None and d["minflt"] is not None:
                r["cpu_s"], r["minflt"] = d["cpu_s"], d["minflt"]
            if "size" in params:
                r["bytes_per_op"] = params["size"]
            if metric == "latency" and d["status"] == "ok":
                pooled = sorted(x for batch in d["raw"] for x in batch)
                if pooled:
                    r["p50"] = percentile(pooled, 0.50) / 1e9
                    r["p99"] = percentile(pooled, 0.99) / 1e9
            results.append(r)
    return figs, results


def progress_line(i, total, workload, params, results, secs):
    ps = " ".join("%s=%s" % (k, arg(v)) for k, v in params.items())
    parts = []
    for r in results:
        if r["status"] == "ok" and r["samples"]:
            parts.append("%s %s" % (r["impl"], fmt(median(r["samples"]), r["unit"])))
        else:
            parts.append("%s %s" % (r["impl"], r["status"]))
    print("[%3d/%d] %s %s: %s (%.1fs)" % (i, total, workload, ps, " | ".join(parts), secs),
          flush=True)


# ------------------------------------------------------------------ hyperfine

def hyperfine_runs(cfg, datadir, run_id):
    quick = cfg.kind == "quick"
    results, entries = [], []
    hf = shutil.which("hyperfine")
    for i, name in enumerate(TUTORIALS):
        cbin = os.path.join(cfg.examples, name)
        pyfile = os.path.join(HERE, "python", name + ".py")
        sides = [(cfg.impl, [os.path.abspath(cbin)], cbin), ("cpython", [sys.executable, pyfile], pyfile)]
        if i % 2:
            sides.reverse()
        t0 = time.time()
        line = []
        for impl, argv, path in sides:
            r = {"workload": "tutorial." + name, "impl": impl, "params": {}, "metric": "time",
                 "unit": "s", "higher_is_better": False, "samples": [], "status": "ok",
                 "message": "", "command": [os.path.relpath(a, ROOT) if os.path.isabs(a) else a
                                            for a in argv]}
            fname = "hyperfine-%s-%s.json" % (name, impl)
            if not hf:
                r["status"], r["message"] = "unsupported", "hyperfine is not installed"
            elif not os.path.exists(path):
                r["status"], r["message"] = "unsupported", "%s does not exist yet" % path
            else:
                # Full: between hf_runs/4 and hf_runs runs, as many as fit in
                # hyperfine's 3 s; a slow example (CPython's, on a loaded
                # machine) does not blow the budget.
                runs = (["--runs", str(cfg.hf_runs)] if quick else
                        ["--min-runs", str(max(2, cfg.hf_runs // 4)), "--max-runs", str(cfg.hf_runs)])
                cmd = [hf, "-N", "--style", "none", "--warmup", str(cfg.hf_warmup)] + runs + \
                      ["--export-json", os.path.join(datadir, fname), "-n", impl, " ".join(argv)]
                p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT,
                                   timeout=max(120, cfg.timeout))
                if p.returncode != 0:
                    r["status"] = "error"
                    r["message"] = "hyperfine: " + (p.stderr.strip() or p.stdout.strip())[-400:]
                else:
                    with open(os.path.join(datadir, fname)) as f:
                        r["samples"] = json.load(f)["results"][0]["times"]
                    entries.append({"name": name, "impl": impl,
                                    "file": "%s/%s" % (run_id, fname)})
            results.append(r)
            line.append("%s %s" % (impl, fmt(median(r["samples"]), "s") if r["samples"] else r["status"]))
        print("[hyperfine] %s: %s (%.1fs)" % (name, " | ".join(line), time.time() - t0), flush=True)
    return results, entries


def alternate_runs(cfg):
    """A regress run's tutorial figures: each example, built against the
    tested library and against the baseline's (--examples-b), run whole,
    the sides alternating run by run (A B B A ...: REGRESS_WARMUP untimed,
    then cfg.samples * REGRESS_RUNS_PER_SAMPLE timed each), wall time from
    spawn to exit.  Run by run, not in blocks of runs as hyperfine would: a
    load burst then falls on both sides alike (a block of one side's runs
    once caught one and made the same code 1.19x "slower")."""
    results = []
    runs = cfg.samples * REGRESS_RUNS_PER_SAMPLE
    for name in TUTORIALS:
        sides = [(cfg.impl, os.path.join(cfg.examples, name))]
        sides += [(nm, os.path.join(d, name)) for nm, d in cfg.examples_b]
        rs = {impl: {"workload": "tutorial." + name, "impl": impl, "params": {}, "metric": "time",
                     "unit": "s", "higher_is_better": False, "samples": [], "status": "ok",
                     "message": "", "command": [os.path.relpath(os.path.abspath(path), ROOT)]}
              for impl, path in sides}
        for impl, path in sides:
            if not os.path.exists(path):
                rs[impl].update(status="unsupported", message="%s does not exist" % path)
        t0 = time.time()
        for k in range(REGRESS_WARMUP + runs):
            order = sides if k % 2 == 0 else sides[::-1]
            for impl, path in order:
                r = rs[impl]
                if r["status"] != "ok":
                    continue
                t = time.perf_counter()
                try:
                    p = subprocess.run([os.path.abspath(path)], stdout=subprocess.DEVNULL,
                                       stderr=subprocess.PIPE, cwd=ROOT, timeout=cfg.timeout)
                except subprocess.TimeoutExpired:
                    r.update(status="error", samples=[], message="timed out after %g s" % cfg.timeout)
                    continue
                dt = time.perf_counter() - t
                if p.returncode != 0:
                    r.update(status="error", samples=[], message="exit %d: %s" % (
                        p.returncode, p.stderr.decode(errors="replace").strip()[-300:]))
                elif k >= REGRESS_WARMUP:
                    r["samples"].append(dt)
        line = ["%s %s" % (impl, fmt(median(rs[impl]["samples"]), "s") if rs[impl]["samples"]
                           else rs[impl]["status"]) for impl, _ in sides]
        print("[examples] %s: %s (%.1fs)" % (name, " | ".join(line), time.time() - t0), flush=True)
        results += [rs[impl] for impl, _ in sides]
    return results


# ------------------------------------------------------------------ metadata

def sh(cmd):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=10, cwd=ROOT)
        return (p.stdout or p.stderr).strip() if p.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def machine():
    cpu = re.search(r"^model name\s*:\s*(.*)$", read("/proc/cpuinfo"), re.M)
    mem = re.search(r"^MemTotal:\s*(\d+) kB", read("/proc/meminfo"), re.M)
    osr = re.search(r'^PRETTY_NAME="?([^"\n]*)"?', read("/etc/os-release"), re.M)
    virt = ""
    if shutil.which("systemd-detect-virt"):
        # Both layers: a container inside a VM is common on CI.
        layers = [sh(["systemd-detect-virt", "--vm"]), sh(["systemd-detect-virt", "--container"])]
        virt = "/".join(v for v in layers if v and v != "none") or "none"
    if not virt or virt == "none":
        vendor = read("/sys/class/dmi/id/sys_vendor").strip()
        product = read("/sys/class/dmi/id/product_name").strip()
        dmi = (vendor + " " + product).strip()
        virt = dmi if dmi else ("none" if not virt else virt)
    m = {
        "hostname": platform.node(),
        "cpu_model": cpu.group(1).strip() if cpu else platform.processor(),
        "cores": os.cpu_count(),
        "mem_bytes": int(mem.group(1)) * 1024 if mem else None,
        "kernel": platform.release(),
        "virtualization": virt or "unknown",
        "os": osr.group(1) if osr else platform.system(),
        # extensions:
        "hypervisor_flag": " hypervisor " in read("/proc/cpuinfo").replace("\n", " ") + " ",
        "cpus_allowed": len(os.sched_getaffinity(0)),
        "loadavg": read("/proc/loadavg").split()[:3],
        "aslr": read("/proc/sys/kernel/randomize_va_space").strip(),
    }
    return m


def tools(cfg):
    ver = lambda cmd: (sh(cmd).splitlines() or [""])[0]
    return {
        "cc": ver([cfg.cc.split()[0], "--version"]),
        "cflags": cfg.cflags,
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "hyperfine": ver(["hyperfine", "--version"]).replace("hyperfine ", ""),
        "gnuplot": ver(["gnuplot", "--version"]).replace("gnuplot ", ""),
        "msgpack-c": ver(["pkg-config", "--modversion", "msgpack-c"]) or
                     ver(["pkg-config", "--modversion", "msgpack"]),
    }


def git():
    commit = sh(["git", "rev-parse", "HEAD"])
    return {
        "commit": commit,
        "dirty": bool(sh(["git", "status", "--porcelain", "--untracked-files=no"])),
        "branch": sh(["git", "rev-parse", "--abbrev-ref", "HEAD"]),
    }


# ------------------------------------------------------------------ main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kind", choices=("full", "quick", "regress"), default="full",
                    help="regress: the tested library and one --impl-b (the baseline's code) "
                         "only, on every figure and example (make regress)")
    ap.add_argument("--impl", default="ref")
    ap.add_argument("--mpbench", required=True)
    ap.add_argument("--osfloor", required=True)
    ap.add_argument("--examples", required=True, help="directory of the tutorial's C examples")
    ap.add_argument("--out", required=True, help="directory of result files")
    ap.add_argument("--samples", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=0.2, help="target length of one sample")
    ap.add_argument("--timeout", type=float, default=None, help="per program invocation")
    ap.add_argument("--budget", type=float, default=500,
                    help="full run: seconds; fewer samples (>= 3) when the machine is too slow; "
                         "0: every figure gets --samples (make bench-targets: a target's "
                         "interval needs all its rounds)")
    ap.add_argument("--cc", default="cc")
    ap.add_argument("--cflags", default="")
    ap.add_argument("--only", action="append", default=[],
                    help="run only workloads starting with this prefix (repeatable; "
                         "'tutorial' for the hyperfine part)")
    ap.add_argument("--targets", action="store_true",
                    help="run only the groups that hold the figures of reports/targets.json "
                         "(issue #16's speed targets), and no hyperfine")
    ap.add_argument("--impl-b", action="append", default=[], metavar="NAME=MPBENCH",
                    help="a second C library's mpbench program (bench.mk: IMPL_B=NAME=lib), "
                         "measured as side NAME on the headline and target figures, in the same "
                         "interleaved groups (repeatable)")
    ap.add_argument("--examples-b", action="append", default=[], metavar="NAME=DIR",
                    help="regress: the tutorial's examples built against --impl-b NAME's library")
    ap.add_argument("--path-file", default="",
                    help="write the result file's path here once it is written (make regress "
                         "judges exactly that run, never an older one)")
    ap.add_argument("--base-commit", default="",
                    help="regress: the commit the --impl-b library was built from (recorded)")
    ap.add_argument("--ringcheck", default="",
                    help="bench/os/ringcheck.c's program: side os.ringcheck in the 64 B stream "
                         "group")
    ap.add_argument("--peers", default="",
                    help="Python implementations (conformance/impls/<name>.json, kind python; "
                         "'all' for every one but cpython) measured beside CPython on the "
                         "headline figures")
    cfg = ap.parse_args()
    if cfg.samples < 1 or cfg.seconds <= 0:
        ap.error("--samples >= 1 and --seconds > 0")
    try:
        cfg.peers = load_peers(cfg.peers)
    except ValueError as e:
        ap.error(str(e))
    impl_b = []
    for spec in cfg.impl_b:
        name, sep, prog = spec.partition("=")
        if not sep or not name or not os.access(prog, os.X_OK):
            ap.error("--impl-b %s: NAME=path/to/mpbench (an executable)" % spec)
        if name in (cfg.impl, "cpython") or name.startswith("os."):
            ap.error("--impl-b %s: the name must differ from the other sides'" % spec)
        impl_b.append((name, os.path.abspath(prog)))
    cfg.impl_b = impl_b
    examples_b = []
    for spec in cfg.examples_b:
        name, sep, d = spec.partition("=")
        if not sep or name not in {n for n, _ in impl_b} or not os.path.isdir(d):
            ap.error("--examples-b %s: NAME=DIR, NAME an --impl-b side, DIR a directory" % spec)
        examples_b.append((name, os.path.abspath(d)))
    cfg.examples_b = examples_b
    if cfg.kind == "regress" and (len(impl_b) != 1 or cfg.peers or cfg.targets):
        ap.error("--kind regress: exactly one --impl-b (the baseline's library), no --peers "
                 "or --targets")
    if cfg.ringcheck:
        if not os.access(cfg.ringcheck, os.X_OK):
            ap.error("--ringcheck %s: not an executable" % cfg.ringcheck)
        cfg.ringcheck = os.path.abspath(cfg.ringcheck)
    quick = cfg.kind == "quick"
    if cfg.timeout is None:
        cfg.timeout = 30.0 if quick else 60.0
    cfg.hf_warmup, cfg.hf_runs = (0, 1) if quick else (2, 20)
    cfg.mpbench, cfg.osfloor = os.path.abspath(cfg.mpbench), os.path.abspath(cfg.osfloor)
    for prog in (cfg.mpbench, cfg.osfloor):
        if not os.access(prog, os.X_OK):
            print("run.py: %s is missing (make builds it)" % prog, file=sys.stderr)
            return 2

    start = datetime.datetime.now(datetime.timezone.utc)
    g = git()
    run_id = start.strftime("%Y%m%dT%H%M%SZ") + "-" + (g["commit"][:7] or "nogit")
    if quick:
        run_id += "-quick"
    os.makedirs(cfg.out, exist_ok=True)
    base, k = run_id, 1
    while os.path.exists(os.path.join(cfg.out, run_id + ".json")):
        k += 1
        run_id = "%s.%d" % (base, k)
    datadir = os.path.join(cfg.out, run_id)
    os.makedirs(datadir, exist_ok=True)

    grps = groups(cfg)
    nfig = sum(len({(t[0], json.dumps(t[1], sort_keys=True)) for sd in g for t in sd.targets})
               for g in grps)
    run_tut = not cfg.targets and (not cfg.only or any(
        "tutorial".startswith(o) or o.startswith("tutorial") for o in cfg.only))
    print("bench: %s run %s, impl %s: %d figures in %d groups%s, %s" % (
        cfg.kind, run_id, cfg.impl, nfig, len(grps),
        (" + examples" if cfg.kind == "regress" else " + hyperfine") if run_tut else "",
        "each side once (quick)" if quick else
        "%d samples of ~%gs per side, interleaved" % (cfg.samples, cfg.seconds)), flush=True)
    meta = {
        "id": run_id,
        "date": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "kind": cfg.kind,
        "impl": cfg.impl,
        "git": g,
        "machine": machine(),
        "tools": tools(cfg),
        "params": {
            "samples": 1 if quick else cfg.samples,
            "sample_seconds": None if quick else cfg.seconds,
            # extensions:
            "calibration": "none (quick: fixed small n)" if quick else
                           "each side calibrates once (samples dropped), then every side runs "
                           "the geometric mean of their n" if cfg.kind == "regress" else
                           "a side's first invocation sizes n by growing rounds (its warm-up)",
            "warmup": "none" if quick else "a round of n/10 in every invocation",
            "order": "quick: one invocation per side, two groups at a time" if quick else
                     "sides rotate from sample to sample",
            "pinning": "none: processes are not pinned to CPUs, except in figures with "
                       "cpus=K (the whole side on the first K allowed CPUs, every side alike)",
            "python_start_method": "fork",
            # extension: what runs beside every invocation of a hogs=K figure
            # (K of them, run.py's children: in no side's cpu_s)
            "hogs_argv": HOG_ARGV,
            "malloc_fixed_env": MALLOC_ENV,
            "impl_b": {name: os.path.relpath(prog, ROOT) for name, prog in cfg.impl_b},
            "only": cfg.only,
            "targets_only": cfg.targets,
            "timeout_s": cfg.timeout,
            "hyperfine_warmup": cfg.hf_warmup,
            "hyperfine_runs": cfg.hf_runs if quick else
                              "none: the examples alternate run by run (%d warm-up, %d timed "
                              "a side)" % (REGRESS_WARMUP, cfg.samples * REGRESS_RUNS_PER_SAMPLE)
                              if cfg.kind == "regress" else
                              "%d..%d (as many as fit in 3 s)" % (max(2, cfg.hf_runs // 4), cfg.hf_runs),
        },
    }
    if cfg.kind == "regress":
        # What compare.py regress needs to judge this run on its own.
        meta["regress"] = {"base": cfg.impl_b[0][0], "base_commit": cfg.base_commit or None,
                           "base_mpbench": os.path.relpath(cfg.impl_b[0][1], ROOT)}
    results = []
    t_start = time.time()
    i = 0
    invocations, nominal = 0, cfg.samples
    fewest = nominal
    if quick:
        # Figures do not matter here, only that every program works: two
        # groups at a time (two CPUs) halve the wall time.
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as ex:
            t0 = time.time()
            for figs, rs in ex.map(lambda g: run_group(cfg, g), grps):
                results += rs
                for w, p in figs:
                    i += 1
                    progress_line(i, nfig, w, p, [r for r in rs if r["workload"] == w and
                                                  r["params"] == p], time.time() - t0)
        grps = []
    for gi, g in enumerate(grps):
        if cfg.kind == "full" and cfg.budget > 0 and invocations:
            # Keep within the budget on a loaded machine: fewer samples (never
            # under 3) for the groups left, from the cost per invocation so far.
            per = (time.time() - t_start) / invocations
            left = sum(len(x) for x in grps[gi:])
            room = cfg.budget - (time.time() - t_start) - (40 if run_tut else 0)
            fit = int(room / (per * left)) if left else nominal
            want = max(min(3, nominal), min(nominal, fit))
            if want != cfg.samples:
                cfg.samples = want
                fewest = min(fewest, want)
                print("bench: %s the %g s budget (%.2f s per invocation): %d samples from now"
                      % ("behind" if want < nominal else "back within", cfg.budget, per, want),
                      flush=True)
        t0 = time.time()
        if cfg.targets and cfg.budget <= 0:
            # A target row may ask more rounds of its groups (targets.json).
            cfg.samples = max([nominal] + [TARGET_ROUNDS.get(json.dumps(list(t), sort_keys=True), 0)
                                           for s in g for t in s.targets])
        invocations += len(g) * (1 if quick else cfg.samples)
        figs, rs = run_group(cfg, g)
        results += rs
        for w, p in figs:  # one progress line per figure, the group's time on each
            i += 1
            progress_line(i, nfig, w, p, [r for r in rs if r["workload"] == w and r["params"] == p],
                          time.time() - t0)
    hyper = []
    if run_tut and cfg.kind == "regress":
        results += alternate_runs(cfg)
    elif run_tut:
        rs, hyper = hyperfine_runs(cfg, datadir, run_id)
        results += rs
    meta["duration_s"] = round(time.time() - t_start, 1)  # extension
    if fewest != nominal:
        meta["params"]["samples_reduced_to"] = fewest  # extension: budget
    doc = {"format": "mp-bench", "version": FORMAT_VERSION, "run": meta, "results": results,
           "hyperfine": hyper}
    path = os.path.join(cfg.out, run_id + ".json")
    with open(path + ".tmp", "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    os.replace(path + ".tmp", path)
    if not os.listdir(datadir):
        os.rmdir(datadir)

    count = lambda s: sum(1 for r in results if r["status"] == s)
    if cfg.path_file:
        with open(cfg.path_file, "w") as f:
            f.write(path + "\n")
    print("bench: wrote %s in %.0f s: %d ok, %d unsupported, %d errors" % (
        path, time.time() - t_start, count("ok"), count("unsupported"), count("error")))
    errors = [r for r in results if r["status"] == "error"]
    for r in errors:
        print("bench: ERROR %s %s [%s]: %s" % (r["workload"], json.dumps(r["params"], sort_keys=True),
                                               r["impl"], r["message"]), file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
