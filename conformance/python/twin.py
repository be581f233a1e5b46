"""Helpers shared by the Python twins (standard library only).

The implementation under test is the module named by the environment variable
MP_TWIN_MODULE (default `multiprocessing`; conformance/impls/*.json names
`billiard`, `multiprocess`, ...).  Twins never import multiprocessing
themselves: they take `mp` from here (`from twin import mp`) and reach the
submodules as attributes (mp.managers, mp.connection, mp.reduction, mp.util,
mp.pool), all imported below so that those attributes exist.
"""
import atexit
import faulthandler
import importlib
import os
import sys
import threading
import time
import traceback

MODULE = os.environ.get('MP_TWIN_MODULE', 'multiprocessing')
mp = importlib.import_module(MODULE)
SUBMODULES = ('util', 'connection', 'managers', 'pool', 'reduction', 'sharedctypes',
              'synchronize', 'queues')
for _sub in SUBMODULES:
    importlib.import_module(f'{MODULE}.{_sub}')


def uses(*apis):
    """Declare the documented API a twin needs beyond what it names as mp.X in
    its own code (which the runner reads itself): dotted paths from the module
    under test, e.g. @uses('managers.SyncManager.Barrier', 'Queue.cancel_join_thread').
    An implementation without one of them reports the row `unsupported`
    without running it."""
    def mark(fn):
        fn.twin_uses = tuple(getattr(fn, 'twin_uses', ())) + apis
        return fn
    return mark


def lacks(path):
    """Whether the module under test lacks the dotted API path (a first part
    naming a submodule is imported)."""
    obj = mp
    for i, part in enumerate(path.split('.')):
        if not hasattr(obj, part) and i == 0:
            try:
                importlib.import_module(f'{MODULE}.{part}')
            except ImportError:
                return True
        if not hasattr(obj, part):
            return True
        obj = getattr(obj, part)
    return False


def now():
    return time.monotonic()


def assert_timed(fn, exc, timeout, slack=2.0):
    """fn() must raise exc (or return False when exc is None) no earlier than
    timeout seconds and within timeout + slack."""
    t0 = now()
    if exc is None:
        r = fn()
        assert r is False or r is None, f'expected a timeout, got {r!r}'
    else:
        try:
            fn()
        except exc:
            pass
        else:
            raise AssertionError(f'{exc.__name__} not raised')
    el = now() - t0
    assert el >= timeout, f'returned early: {el:.6f} s < {timeout} s'
    assert el <= timeout + slack, f'took {el:.3f} s for {timeout} s'


def assert_raises(exc, fn, *args, **kw):
    try:
        fn(*args, **kw)
    except exc:
        return
    raise AssertionError(f'{getattr(exc, "__name__", exc)} not raised by {getattr(fn, "__name__", fn)}')


def kill(p):
    """SIGKILL a started Process through os.kill: the documented way every
    implementation has (Process.kill() is 3.7+ and billiard lacks it)."""
    try:
        os.kill(p.pid, 9)
    except ProcessLookupError:
        pass


def kill_children_at_exit():
    """Kill and join any child still running when the twin's interpreter
    exits, so a failing twin leaves nothing behind."""
    def _cleanup():
        for p in mp.active_children():
            try:
                os.kill(p.pid, 9)
            except ProcessLookupError:
                pass
            p.join()
    atexit.register(_cleanup)


def _session_others_of(me):
    """The live processes of session `me` other than process `me`."""
    found = []
    for d in os.listdir('/proc'):
        if not d.isdigit() or int(d) == me:
            continue
        try:
            with open(f'/proc/{d}/stat') as f:
                fields = f.read().rsplit(')', 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != 'Z' and int(fields[3]) == me:
            found.append(int(d))
    return found


def kill_own():
    """SIGKILLs every process the twin started: its children now, and, when
    the twin leads its session (as the runner starts it; never the shell's
    session of a twin run by hand), every other process in it once the twin
    has exited, from a forked sweeper (before, a pool's handler thread may
    fork a replacement for a worker killed under it).  For the twin's
    failure exits only, just before os._exit: a failed row leaves nothing
    behind for the runner to record as the implementation's leftovers."""
    for p in mp.active_children():
        try:
            os.kill(p.pid, 9)
        except ProcessLookupError:
            pass
    if os.getsid(0) != os.getpid():
        return
    me = os.getpid()
    if os.fork() == 0:
        # The sweeper: once the twin is gone (its threads can fork no more:
        # a pool's handler replaces the workers killed under it), kill what
        # is left of the session, then leave.
        try:
            until = time.monotonic() + 10.0
            while os.getppid() == me and time.monotonic() < until:
                time.sleep(0.001)  # polling for the twin's exit
            for _ in range(20):
                left = [pid for pid in _session_others_of(me) if pid != os.getpid()]
                if not left:
                    break
                for pid in left:
                    try:
                        os.kill(pid, 9)
                    except ProcessLookupError:
                        pass
        finally:
            os._exit(0)


def fail_now():
    """From an `except` block: the twin has failed, so print the exception,
    SIGKILL the children (kill_own) and exit with status 1 at once, skipping
    every clean-up on the way out (a pool's terminate can wait 30 s in
    billiard: the verdict must not hang on tidying up after it was reached)."""
    traceback.print_exc()
    sys.stderr.flush()
    kill_own()
    os._exit(1)


def _expired(seconds):
    sys.stderr.write(f'twin.bounded: the call did not finish within {seconds} s\n')
    sys.stderr.flush()
    faulthandler.dump_traceback(all_threads=True)
    kill_own()
    os._exit(1)


class bounded:
    """`with twin.bounded(seconds):` a call that must not block: if the block
    has not finished after `seconds`, a watchdog thread prints every thread's
    stack, kills what the twin started (kill_own) and ends the twin with exit
    status 1 (a fail that names the stuck call), instead of hanging until the
    runner's timeout.  Should the watchdog never get to run (the stuck call
    holding the interpreter), faulthandler ends the twin 5 s later without
    the clean-up.  Not nestable."""

    def __init__(self, seconds):
        self.seconds = seconds

    def __enter__(self):
        faulthandler.dump_traceback_later(self.seconds + 5.0, exit=True)
        self.timer = threading.Timer(self.seconds, _expired, (self.seconds,))
        self.timer.daemon = True
        self.timer.start()

    def __exit__(self, *exc):
        self.timer.cancel()
        faulthandler.cancel_dump_traceback_later()


def prompt(fn, *args, bound=1.0):
    t0 = now()
    with bounded(bound + 5.0):
        r = fn(*args)
    el = now() - t0
    assert el <= bound, f'{getattr(fn, "__name__", fn)}{args} blocked for {el:.3f} s'
    return r


def start(target, *args, **kw):
    """A started mp.Process running target(*args) (keyword arguments go to
    Process, e.g. daemon=True)."""
    p = mp.Process(target=target, args=args, **kw)
    p.start()
    return p


def join_code(p, timeout=30.0):
    """Joins p for at most timeout seconds and returns its exit code; fails
    when it is still running then."""
    p.join(timeout)
    assert p.exitcode is not None, f'{p.name} still running after {timeout} s'
    return p.exitcode


def kill_join(p):
    """SIGKILLs a started Process (kill) and joins it: it must have died of
    that signal (exit code -9) within 10 s."""
    kill(p)
    p.join(10)
    assert p.exitcode == -9, p.exitcode


def notowner(fn, *args):
    """'ENOTOWNER' when fn(*args) raises AssertionError (what CPython raises
    for a release by a non-owner), 'OK' when it returns, else the exception
    as 'Type: message'."""
    try:
        fn(*args)
    except AssertionError:
        return 'ENOTOWNER'
    except Exception as e:  # noqa: BLE001
        return f'{type(e).__name__}: {e}'
    return 'OK'


def prompt_raises(exc, fn, *args, bound=1.0, **kw):
    """fn(*args, **kw) must raise exc within bound seconds; returns the
    exception, its traceback dropped (a connection in its frames would stay
    open and keep a peer waiting for our hang-up)."""
    t0 = now()
    try:
        fn(*args, **kw)
    except exc as e:
        el = now() - t0
        e.__traceback__ = None
        assert el <= bound, f'{getattr(fn, "__name__", fn)} blocked for {el:.3f} s'
        return e
    raise AssertionError(f'{getattr(fn, "__name__", fn)}{args} did not raise {exc}')


def locked(lock):
    """Whether another thread finds the lock taken (it gives it back at once)."""
    got = []

    def probe():
        ok = lock.acquire(False)
        got.append(ok)
        if ok:
            lock.release()

    t = threading.Thread(target=probe)
    t.start()
    t.join()
    return not got[0]


def wait_asleep(pid, path=None, timeout=10.0):
    """After a process or thread said its next step is a blocking call, watch
    it until /proc shows it asleep ('S') in five readings in a row, 2 ms apart
    (mpt_wait_asleep in conformance/mpt.c).  A thread id works as a pid here:
    /proc/<tid>/stat exists for every thread."""
    path = path or f'/proc/{pid}/stat'
    deadline, streak = now() + timeout, 0
    while streak < 5:
        try:
            with open(path) as f:
                s = f.read()
            st = s[s.rindex(')') + 2]
        except OSError:
            st = '?'
        streak = streak + 1 if st == 'S' else 0
        assert now() < deadline, f'{pid} never went to sleep'
        time.sleep(0.002)  # observation interval, not synchronisation


def manager_pid(m):
    """The pid of started manager m's server, through documented API only:
    BaseManager.start() runs the server as a child of this process, and the
    twins that ask have no other child, so it is active_children()'s one
    entry (the manager's `_process` attribute is private)."""
    kids = mp.active_children()
    assert len(kids) == 1, f'expected the manager server as the only child, got {kids}'
    return kids[0].pid


def pid_gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False
