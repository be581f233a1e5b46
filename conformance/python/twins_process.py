"""Python twins of conformance/catalogue/process.tsv (tests/test_process.c).

Children report through Pipes and are sequenced with pipes, never sleeps.  Two
raw pipes made before the children mirror the C suite's T.d and T.l: every
child drops its copies of their write ends first (child_init), so a child
blocked on them sees EOF, and ends, if the twin's process dies.  A twin that
fails leaves no process behind: twin.kill_children_at_exit() (an atexit handler that runs before
multiprocessing's own) kills and joins the children still running.
"""
import atexit, ctypes, os, re, signal, sys, \
    threading, time

import twin
from twin import mp
from twin import join_code, pid_gone, prompt, start

_D = _L = None  # (read, write): test -> children releases; lifeline, never written


twin.kill_children_at_exit()


def _pipes():
    global _D, _L
    _D, _L = os.pipe(), os.pipe()


def child_init():
    """Drops this process's copies of the write ends, once: the numbers are
    forgotten too, as a later pipe may reuse them (and a grandchild inherits
    the forgetting)."""
    global _D, _L
    for pair in (_D, _L):
        if pair and pair[1] is not None:
            os.close(pair[1])
    _D = _D and (_D[0], None)
    _L = _L and (_L[0], None)


def release():
    os.write(_D[1], b'x')


def wait_release():
    os.read(_D[0], 1)


def block_forever():
    os.read(_L[0], 1)  # EOF only: nobody writes it
    os._exit(0)


def get(conn, timeout=10.0):
    assert conn.poll(timeout), f'child did not report within {timeout} s'
    return conn.recv()


def status(fn, *args):
    """The C status a call maps to: 'OK', 'ESTATE' (AssertionError/ValueError) or
    the name of any other exception."""
    try:
        fn(*args)
    except (AssertionError, ValueError):
        return 'ESTATE'
    except Exception as e:  # noqa: BLE001 - reported, not hidden
        return f'{type(e).__name__}: {e}'
    return 'OK'


def read_to_eof(fd):
    out = b''
    while True:
        b = os.read(fd, 4096)
        if not b:
            return out
        out += b


def ppid_of(pid):
    try:
        with open(f'/proc/{pid}/stat') as f:
            s = f.read()
    except OSError:
        return 0
    return int(s[s.rindex(')') + 2:].split()[1])


def gone_or_kill(pid):
    """pid_gone(); a process still there is killed (and reaped when it is an
    orphan reparented to us) before the caller asserts."""
    if pid <= 0 or pid_gone(pid):
        return True
    ours = ppid_of(pid) == os.getpid()
    os.kill(pid, signal.SIGKILL)
    if ours:
        os.waitpid(pid, 0)
    return False


# ------------------------------------------------------------- §3, §4, §5

def _report_name_pid(arg, w):
    child_init()
    w.send((arg, os.getpid(), mp.current_process().name))


def PROC_START_RUNS_TARGET():
    r, w = mp.Pipe(False)
    p = start(_report_name_pid, 'bob', w)
    s, child, name = get(r)
    assert s == 'bob', s
    assert child != os.getpid(), 'target ran in the calling process'
    assert child == p.pid, f'pid {p.pid} != child getpid {child}'
    assert name == p.name, f'current_process().name in the child: {name!r} != {p.name!r}'
    assert join_code(p) == 0


class _RunSelf(mp.Process):
    def __init__(self, data, w):
        super().__init__()
        self.data, self.w = data, w

    def run(self):
        child_init()
        self.w.send((self.data, self.name))


def PROC_RUN_CALLBACK():
    r, w = mp.Pipe(False)
    p = _RunSelf('payload', w)
    p.name = 'worker'
    assert p.data == 'payload'
    p.start()
    data, name = get(r)
    assert data == 'payload', data
    assert name == 'worker', name
    assert join_code(p) == 0


def _release_then_mark(w):
    child_init()
    wait_release()
    w.send('done')
    sys.exit(5)


def PROC_JOIN_WAITS():
    _pipes()
    r, w = mp.Pipe(False)
    p = start(_release_then_mark, w)
    w.close()
    release()
    p.join()
    # the child's last action is already visible: it has ended
    assert r.poll(0), 'join returned before the child\'s last write'
    assert r.recv() == 'done'
    assert p.exitcode == 5, p.exitcode
    assert not p.is_alive()


def _wait_release():
    child_init()
    wait_release()


def PROC_JOIN_TIMEOUT_RUNNING():
    _pipes()
    p = start(_wait_release)
    twin.assert_timed(lambda: p.join(0.3), None, 0.3)
    assert p.exitcode is None, f'exitcode {p.exitcode} after a timed-out join'
    release()
    assert join_code(p) == 0


def PROC_JOIN_ZERO_PROMPT():
    _pipes()
    p = start(_wait_release)
    prompt(p.join, 0)
    assert p.exitcode is None
    prompt(p.join, -1)
    assert p.exitcode is None
    release()
    assert join_code(p) == 0


def PROC_JOIN_TIMEOUT_ENDS():
    _pipes()
    p = start(_wait_release)
    release()
    prompt(p.join, 30.0, bound=2.0)
    assert p.exitcode == 0, p.exitcode


def _ret0():
    child_init()


def PROC_JOIN_ENDED_OK():
    p = start(_ret0)
    p.join()
    prompt(p.join, 0)
    prompt(p.join)
    assert p.exitcode == 0


# ------------------------------------------------------------- exit codes

def _ret_arg(n):
    child_init()
    return n


def PROC_EXITCODE_RETURN():
    p = start(_ret_arg, 3)
    code = join_code(p)
    assert code == 3, f'target returned 3, exitcode is {code}'
    assert join_code(start(_ret_arg, 0)) == 0


def _exit_arg(n):
    child_init()
    sys.exit(n)  # Python's way for a target to give its exit code


def PROC_EXITCODE_MASK():
    code = join_code(start(_exit_arg, 259))
    assert code == 3, f'exit status 259 gave exitcode {code}'


def _exit7():
    child_init()
    os._exit(7)


def PROC_EXITCODE_EXIT_CALL():
    code = join_code(start(_exit7))
    assert code == 7, code


def _ready_then_block(a):
    child_init()
    a.send('ready')
    block_forever()


def PROC_EXITCODE_SIGTERM():
    _pipes()
    r, w = mp.Pipe(False)
    p = start(_ready_then_block, w)
    get(r)
    p.terminate()
    code = join_code(p)
    assert code == -signal.SIGTERM, code


@twin.uses('Process.kill')  # the row is about kill() (3.7+)
def PROC_EXITCODE_SIGKILL():
    _pipes()
    r, w = mp.Pipe(False)
    p = start(_ready_then_block, w)
    get(r)
    p.kill()
    code = join_code(p)
    assert code == -signal.SIGKILL, code


def _handle_term(a, bfd):
    child_init()

    def on_term(sig, frame):
        os.write(bfd, bytes([sig]))
        os._exit(40)

    signal.signal(signal.SIGTERM, on_term)
    a.send('ready')
    block_forever()


def PROC_TERMINATE_SENDS_SIGTERM():
    _pipes()
    r, w = mp.Pipe(False)
    br, bw = os.pipe()
    p = start(_handle_term, w, bw)
    os.close(bw)  # EOF, not a hang, if the handler never runs
    get(r)
    p.terminate()
    sig = os.read(br, 1)
    assert sig == bytes([signal.SIGTERM]), f'child\'s handler saw {sig!r}'
    assert join_code(p) == 40
    os.close(br)


def _buffered_write(fd, ready):
    child_init()
    # A block-buffered sys.stdout on the pipe, whatever PYTHONUNBUFFERED says.
    sys.stdout = open(os.dup(fd), 'w', buffering=4096)
    sys.stdout.write('buffered')
    if ready is not None:
        ready.send('ready')
        block_forever()


def PROC_EXIT_FLUSHES_STDIO():
    br, bw = os.pipe()
    sys.stdout.flush()
    p = start(_buffered_write, bw, None)
    assert join_code(p) == 0
    os.close(bw)
    out = read_to_eof(br)
    os.close(br)
    assert out == b'buffered', out


def _append_child():
    child_init()
    sys.stdout.write('child')


def PROC_START_FLUSHES_STDIO():
    br, bw = os.pipe()
    sys.stdout.flush()
    saved = sys.stdout
    # A block-buffered sys.stdout on the pipe, written by both sides.
    sys.stdout = open(os.dup(bw), 'w', buffering=4096)
    try:
        sys.stdout.write('parent-')
        p = start(_append_child)
        assert join_code(p) == 0
        sys.stdout.close()
    finally:
        sys.stdout = saved
    os.close(bw)
    out = read_to_eof(br)
    os.close(br)
    assert out == b'parent-child', out


def PROC_TERMINATE_NO_EXIT_HANDLING():
    _pipes()
    br, bw = os.pipe()
    r, w = mp.Pipe(False)
    sys.stdout.flush()
    p = start(_buffered_write, bw, w)
    get(r)
    p.terminate()
    assert join_code(p) == -signal.SIGTERM
    os.close(bw)
    out = read_to_eof(br)
    os.close(br)
    assert out == b'', f'output flushed: {out!r}'


def _grand_report_wait_block(b):
    """Reports its pid, then, once released, reports it again -- proof that
    it outlived its parent -- and blocks."""
    b.send(os.getpid())
    wait_release()
    b.send(os.getpid())
    block_forever()


def _grand_report_block(b):
    child_init()
    _grand_report_wait_block(b)


def _start_grand_then_block(a, b):
    child_init()
    g = mp.Process(target=_grand_report_block, args=(b,))
    g.start()
    a.send('ready')
    block_forever()


def _fork_grand_then_block(a, b):
    child_init()
    if os.fork() == 0:
        _grand_report_wait_block(b)
    a.send('ready')
    block_forever()


def _orphan_twin(target, same_group=False):
    """Starts target(a, b), which makes a grandchild, terminates the child and
    asks the grandchild whether it is still alive (asked, not read from /proc:
    a signal sent to it may not have been delivered yet).  This process is made
    the subreaper, as the C suite's runner is, so the orphan comes to us."""
    PR_SET_CHILD_SUBREAPER = 36
    assert ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    _pipes()
    ra, wa = mp.Pipe(False)
    rb, wb = mp.Pipe(False)
    p = start(target, wa, wb)
    get(ra)
    g = get(rb)
    if same_group:
        assert os.getpgid(g) == os.getpgid(p.pid), 'the fork()ed grandchild left the child\'s group'
    p.terminate()
    # join() without a timeout: CPython's join(t) waits for EOF on the child's
    # sentinel pipe, whose write end the orphan inherited, so it would return
    # only after t here, though the child is dead.
    p.join()
    code = p.exitcode
    wb.close()
    release()
    try:
        again = get(rb)
    except EOFError:
        again = None
    parent = ppid_of(g)
    try:
        os.kill(g, signal.SIGKILL)
    except ProcessLookupError:
        pass
    reaped = os.waitpid(g, 0)[0] if parent == os.getpid() else None
    assert code == -signal.SIGTERM, code
    assert again == g, f'grandchild {g} was ended with its parent'
    assert parent == os.getpid(), f'orphan\'s parent is {parent}, not this subreaper'
    assert reaped == g


def PROC_TERMINATE_ORPHANS():
    _orphan_twin(_start_grand_then_block)


def PROC_TERMINATE_ORPHANS_FORK():
    # The grandchild comes from a plain os.fork(), so it shares the child's
    # process group: a terminate that signals the group would end it too.
    _orphan_twin(_fork_grand_then_block, same_group=True)


@twin.uses('Process.kill')  # the row is about kill() (3.7+)
def PROC_TERMINATE_ENDED_NOOP():
    p = start(_exit_arg, 6)
    p.join()
    p.terminate()
    p.kill()
    assert p.exitcode == 6, p.exitcode
    p.join()
    assert p.exitcode == 6, p.exitcode


_atexit_fd = None


def _atexit_probe():
    if _atexit_fd is not None:
        os.write(_atexit_fd, b'A')


def PROC_CHILD_NO_ATEXIT():
    global _atexit_fd
    br, bw = os.pipe()
    atexit.register(_atexit_probe)
    _atexit_fd = bw
    p = start(_ret0)
    _atexit_fd = None
    assert join_code(p) == 0
    atexit.unregister(_atexit_probe)
    os.close(bw)
    out = read_to_eof(br)
    os.close(br)
    assert out == b'', 'the parent\'s atexit handler ran in the child'


# ------------------------------------------------------------------ state

def PROC_EXITCODE_NONE():
    _pipes()
    p = mp.Process(target=_wait_release)
    assert p.exitcode is None, p.exitcode
    p.start()
    assert p.exitcode is None, p.exitcode
    release()
    assert join_code(p) == 0


def PROC_IS_ALIVE():
    _pipes()
    p = mp.Process(target=_wait_release)
    assert not p.is_alive()
    p.start()
    assert p.is_alive()
    release()
    p.join()
    assert not p.is_alive()


def _report_pid(w):
    child_init()
    parent = mp.parent_process()
    w.send((os.getpid(), mp.current_process().pid, parent.pid if parent else None))


def _report_own_pid(w):
    child_init()
    w.send((os.getpid(),))


def PROC_PID():
    r, w = mp.Pipe(False)
    p = mp.Process(target=_report_own_pid, args=(w,))
    assert p.pid is None, p.pid
    p.start()
    assert p.pid == get(r)[0]
    p.join()
    assert p.pid is not None and p.pid > 0, f'pid after the end: {p.pid}'
    assert p.exitcode == 0


def PROC_PARENT_PID():
    assert mp.current_process().pid == os.getpid()
    r, w = mp.Pipe(False)
    p = start(_report_pid, w)
    me, cur, parent = get(r)
    assert cur == me, f'current_process().pid {cur} != getpid {me}'
    assert parent == os.getpid(), f'parent_process().pid {parent} != {os.getpid()}'
    assert join_code(p) == 0


def _number(name):
    m = re.fullmatch(r'Process-(\d+)', name)
    assert m, f'name {name!r}'
    return int(m.group(1))


def PROC_NAME_DEFAULT():
    a, b = mp.Process(target=_ret0), mp.Process(target=_ret0)
    ka, kb = _number(a.name), _number(b.name)
    assert ka >= 1
    assert kb == ka + 1, f'{a.name} then {b.name}'


def _report_current_name(w):
    child_init()
    w.send(mp.current_process().name)


def PROC_NAME_SET():
    r, w = mp.Pipe(False)
    name = 'alpha'
    p = mp.Process(target=_report_current_name, args=(w,))
    p.name = name
    name = 'beta'  # noqa: F841 - the process keeps its own copy
    assert p.name == 'alpha', p.name
    p.start()
    got = get(r)
    assert got == 'alpha', got
    assert join_code(p) == 0


def _report_grand_names(w):
    child_init()
    g1, g2 = mp.Process(target=_ret0), mp.Process(target=_ret0)
    w.send((g1.name, g2.name))


def PROC_NAME_GRANDCHILD():
    r, w = mp.Pipe(False)
    p = mp.Process(target=_report_grand_names, args=(w,))
    p.start()
    n1, n2 = get(r)
    assert n1 == f'{p.name}:1', n1
    assert n2 == f'{p.name}:2', n2
    assert join_code(p) == 0


def PROC_CURRENT_NAME_MAIN():
    name = mp.current_process().name
    assert name == 'MainProcess', name


def PROC_DAEMON_FLAG():
    _pipes()
    p = mp.Process(target=_wait_release)
    assert p.daemon is False
    p.daemon = True
    assert p.daemon is True
    p.start()
    s = status(setattr, p, 'daemon', False)
    assert s == 'ESTATE', f'setting daemon after start: {s}'
    assert p.daemon is True
    release()
    assert join_code(p) == 0


def _daemon_tries_child(w):
    child_init()
    g = mp.Process(target=_ret0)
    w.send(status(g.start))
    if g.pid:
        g.join()


def PROC_DAEMON_NO_CHILDREN():
    r, w = mp.Pipe(False)
    p = mp.Process(target=_daemon_tries_child, args=(w,), daemon=True)
    p.start()
    s = get(r)
    assert s == 'ESTATE', f'start in a daemon: {s}'
    assert join_code(p) == 0


def _grand_ready_block(c):
    child_init()
    c.send('ready')
    block_forever()


def _grand_report_wait(b):
    child_init()
    b.send(os.getpid())
    wait_release()


def _start_grand_and_return(daemon, b, then_exit):
    child_init()
    if daemon:
        rc, wc = mp.Pipe(False)
        g = mp.Process(target=_grand_ready_block, args=(wc,), daemon=True)
        g.start()
        get(rc)  # the grandchild runs
        b.send(g.pid)
    else:
        g = mp.Process(target=_grand_report_wait, args=(b,))
        g.start()
    if then_exit:
        sys.exit(0)  # leaves through SystemExit rather than by returning


def PROC_DAEMON_TERMINATED_AT_EXIT():
    _pipes()
    rb, wb = mp.Pipe(False)
    p = start(_start_grand_and_return, True, wb, False)
    g = get(rb)
    p.join(30.0)
    assert p.exitcode == 0, p.exitcode
    assert gone_or_kill(g), f'daemonic grandchild {g} still exists'


def PROC_NONDAEMON_JOINED_AT_EXIT():
    _pipes()
    rb, wb = mp.Pipe(False)
    p = start(_start_grand_and_return, False, wb, False)
    g = get(rb)
    # the child has returned from its target but waits for its child
    t0 = twin.now()
    p.join(0.3)
    el = twin.now() - t0
    early = p.exitcode
    release()
    p.join(30.0)
    reaped = gone_or_kill(g)
    assert early is None, f'the child exited ({early}) before its child ended'
    assert 0.3 <= el <= 2.3, f'join(0.3) took {el:.3f} s'
    assert p.exitcode == 0, p.exitcode
    assert reaped, f'grandchild {g} not reaped by its parent'


def PROC_ATEXIT_TERMINATES_DAEMONS():
    _pipes()
    rb, wb = mp.Pipe(False)
    p = start(_start_grand_and_return, True, wb, True)
    g = get(rb)
    p.join(30.0)
    assert p.exitcode == 0, p.exitcode
    assert gone_or_kill(g), f'daemonic grandchild {g} still exists'


class _SelfChecks(mp.Process):
    def __init__(self, w):
        super().__init__()
        self.w = w

    def run(self):
        child_init()
        res = [status(self.join, 0), status(self.join)]
        try:
            res.append(self.is_alive())
        except Exception as e:  # noqa: BLE001
            res.append(f'{type(e).__name__}: {e}')
        res.append(self.pid == os.getpid())
        res.append(self.exitcode is None)
        self.w.send(res)


def PROC_JOIN_SELF():
    r, w = mp.Pipe(False)
    p = _SelfChecks(w)
    p.start()
    j0, jf, alive, pid_ok, code_none = get(r)
    assert j0 == 'ESTATE', f'join(self, 0): {j0}'
    assert jf == 'ESTATE', f'join(self): {jf}'
    assert alive is True, f'is_alive(self): {alive}'
    assert pid_ok, 'pid(self) != getpid()'
    assert code_none, 'exitcode(self) is not None'
    assert join_code(p) == 0


def _sibling_checks(sib, b):
    child_init()
    b.send([status(sib.join, 0), status(sib.is_alive), status(sib.close)])


def PROC_JOIN_NOT_PARENT():
    _pipes()
    sib = start(_wait_release)
    rb, wb = mp.Pipe(False)
    p = start(_sibling_checks, sib, wb)
    j, a, c = get(rb)
    assert j == 'ESTATE', f'join of a sibling: {j}'
    assert a == 'ESTATE', f'is_alive of a sibling: {a}'
    assert c == 'ESTATE', f'close of a running sibling: {c}'
    assert join_code(p) == 0
    release()
    assert join_code(sib) == 0


def _start_other(q, b):
    child_init()
    b.send(status(q.start))
    if q.pid:
        q.join()


def PROC_START_NOT_CREATOR():
    q = mp.Process(target=_ret0)
    rb, wb = mp.Pipe(False)
    p = start(_start_other, q, wb)
    s = get(rb)
    assert s == 'ESTATE', f'start of the parent\'s process object: {s}'
    assert join_code(p) == 0
    assert q.pid is None, q.pid


# ----------------------------------------------------------------- misuse

def PROC_START_TWICE():
    _pipes()
    p = start(_wait_release)
    s = status(p.start)
    assert s == 'ESTATE', f'second start: {s}'
    release()
    p.join()
    s = status(p.start)
    assert s == 'ESTATE', f'start after the end: {s}'
    assert p.exitcode == 0


def PROC_JOIN_BEFORE_START():
    p = mp.Process(target=_ret0)
    for args in ((0,), ()):
        s = status(p.join, *args)
        assert s == 'ESTATE', f'join{args} before start: {s}'


def PROC_TERMINATE_BEFORE_START():
    p = mp.Process(target=_ret0)
    for fn in (p.terminate, p.kill):
        s = status(fn)
        assert s == 'ESTATE', f'{fn.__name__} before start: {s}'


def PROC_CLOSE_RUNNING():
    _pipes()
    p = start(_wait_release)
    s = status(p.close)
    assert s == 'ESTATE', f'close while running: {s}'
    assert p.is_alive()
    release()
    p.join()
    p.close()
    p.close()


def _closed_calls(p):
    """Every call but close; MP_CLOSED is CPython's ValueError('process object is closed')."""
    calls = {
        'start': p.start, 'join(0)': lambda: p.join(0), 'is_alive': p.is_alive,
        'pid': lambda: p.pid, 'exitcode': lambda: p.exitcode, 'terminate': p.terminate,
        'kill': p.kill, 'name = x': lambda: setattr(p, 'name', 'x'), 'name': lambda: p.name,
        'daemon = True': lambda: setattr(p, 'daemon', True), 'daemon': lambda: p.daemon,
    }
    bad = []
    for what, fn in calls.items():
        try:
            fn()
        except ValueError:
            continue
        except Exception as e:  # noqa: BLE001
            bad.append(f'{what} raised {type(e).__name__}: {e}')
            continue
        bad.append(f'{what} succeeded')
    p.close()
    return bad


def PROC_CLOSED_CALLS():
    p = start(_ret0)
    p.join()
    p.close()
    bad = _closed_calls(p)
    q = mp.Process(target=_ret0)  # closing one that never started is allowed too
    q.close()
    bad += [f'{b} (never started)' for b in _closed_calls(q)]
    assert not bad, 'after close: ' + '; '.join(bad)


def PROC_CPU_COUNT():
    n = mp.cpu_count()
    assert n >= 1, n
    online = os.sysconf('SC_NPROCESSORS_ONLN')
    if online >= 1:
        assert n == online, f'cpu_count {n}, online {online}'


# ---------------------------------------------------------------- threads

def _write_one(fd):
    child_init()
    os.write(fd, b'x')


def PROC_START_THREADS():
    ar, aw = os.pipe()
    res = [{'bad': [], 'ids': []} for _ in range(4)]

    def starter(r):
        for _ in range(2):
            try:
                p = mp.Process(target=_write_one, args=(aw,))
                r['ids'].append(_number(p.name))
                p.start()
                p.join()
                if p.exitcode is None:
                    # CPython's join() may return before it knows the exit
                    # code when another thread's start() reaped the child
                    # (repro/cpython/JOIN-EXITCODE-NONE-THREADS.py): an
                    # exit-code defect, not this row's; shown, not failed.
                    print(f'note: {p.name}: exitcode None after join()', file=sys.stderr)
                elif p.exitcode != 0:
                    r['bad'].append(f'{p.name} exit code {p.exitcode}')
            except Exception as e:  # noqa: BLE001 - recorded as a failure
                r['bad'].append(f'{type(e).__name__}: {e}')

    th = [threading.Thread(target=starter, args=(r,)) for r in res]
    for t in th:
        t.start()
    for t in th:
        t.join()
    os.close(aw)
    out = read_to_eof(ar)
    os.close(ar)
    assert len(out) == 8, f'{len(out)} of 8 processes ran'
    for i, r in enumerate(res):
        assert not r['bad'], f'thread {i}: ' + '; '.join(r['bad'])
    ids = [k for r in res for k in r['ids']]
    assert len(ids) == 8 and len(set(ids)) == 8, f'duplicate names: {sorted(ids)}'


# ------------------------------------------- sentinel, active_children, parent

def _readable(fd, timeout=0.0):
    import select
    return bool(select.select([fd], [], [], timeout)[0])


def _wait_release_child():
    child_init()
    wait_release()


def PROC_SENTINEL_READY_AT_END():
    _pipes()
    p = start(_wait_release_child)
    fd = p.sentinel
    assert p.sentinel == fd, 'a second look gave another descriptor'
    assert not _readable(fd), 'the sentinel is readable while the child runs'
    assert not _readable(fd, 0.05), 'the sentinel became readable while the child runs'
    release()
    assert _readable(fd, 10.0), 'the sentinel is not readable after the child ended'
    assert join_code(p) == 0


def PROC_SENTINEL_AFTER_JOIN():
    p = start(_exit_arg, 5)
    p.join()
    fd = p.sentinel
    assert p.sentinel == fd
    assert _readable(fd), 'the sentinel of a joined child is not readable'
    p.close()


def PROC_SENTINEL_BEFORE_START():
    p = mp.Process(target=_ret0)
    assert status(lambda: p.sentinel) == 'ESTATE', status(lambda: p.sentinel)


def PROC_ACTIVE_CHILDREN():
    _pipes()
    idle = mp.Process(target=_ret0)
    assert idle not in mp.active_children()
    assert mp.active_children() == [], mp.active_children()
    p = start(_wait_release_child)
    assert mp.active_children() == [p], mp.active_children()
    release()
    p.join()
    assert mp.active_children() == [], 'a joined child is listed'


def _wait_zombie(pid, timeout=10.0):
    """Whether pid becomes a zombie (ended, not yet reaped) within timeout s.
    A sentinel that is a pipe (CPython's) is readable as soon as the exiting
    child's files are closed, a moment before it has ended."""
    until = twin.now() + timeout
    while twin.now() < until:
        with open(f'/proc/{pid}/stat') as f:
            if f.read().rsplit(')', 1)[1].split()[0] == 'Z':
                return True
        time.sleep(0.001)  # polling another process's state: nothing to wait on
    return False


def PROC_ACTIVE_CHILDREN_REAPS():
    p = start(_exit_arg, 3)
    assert _readable(p.sentinel, 10.0), 'the child did not end'
    assert _wait_zombie(p.pid), 'the child did not end'
    assert not pid_gone(p.pid), 'the ended child was reaped before active_children'
    assert mp.active_children() == [], 'an ended child is listed'
    assert pid_gone(p.pid), f'active_children left the zombie of pid {p.pid}'
    assert p.exitcode == 3, p.exitcode


def PROC_PARENT_PROCESS_MAIN():
    assert mp.parent_process() is None, mp.parent_process()


def _report_parent(w):
    child_init()
    h = mp.parent_process()
    out = {'pid': h.pid, 'alive': h.is_alive(), 'name': h.name,
           'readable': _readable(h.sentinel)}
    h.join(0.05)
    out['alive_after_join'] = h.is_alive()
    out['terminate'] = status(h.terminate)
    out['exitcode'] = h.exitcode
    w.send(out)


def PROC_PARENT_PROCESS_CHILD():
    _pipes()
    r, w = mp.Pipe(False)
    p = start(_report_parent, w)
    out = get(r)
    assert join_code(p) == 0
    assert out['pid'] == os.getpid(), out
    assert out['alive'] and out['alive_after_join'], out
    assert out['name'] == 'MainProcess', out
    assert not out['readable'], out
    assert out['exitcode'] is None, out
    assert out['terminate'] == 'ESTATE', out   # CPython: AttributeError (differs)


def _grand_watch_parent(w):
    child_init()
    w.send(os.getpid())
    h = mp.parent_process()
    w.send(h is not None)
    h.join()
    out = [h.is_alive(), _readable(h.sentinel)]
    h2 = mp.parent_process()
    out += [h2.is_alive(), _readable(h2.sentinel)]
    w.send(out)


def _start_watcher_then_block(w, a):
    child_init()
    g = mp.Process(target=_grand_watch_parent, args=(w,))
    g.start()
    a.send('started')
    block_forever()


def PROC_PARENT_PROCESS_DIES():
    PR_SET_CHILD_SUBREAPER = 36
    assert ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    _pipes()
    r, w = mp.Pipe(False)
    ra, wa = mp.Pipe(False)
    p = start(_start_watcher_then_block, w, wa)
    get(ra)
    g = get(r)
    assert get(r) is True, 'no parent handle in the grandchild'
    p.terminate()
    assert join_code(p) == -signal.SIGTERM
    out = get(r, 30.0)
    _, st = os.waitpid(g, 0)
    assert out == [False, True, False, True], out
    assert os.WIFEXITED(st) and os.WEXITSTATUS(st) == 0, st


def _init_block():
    child_init()
    block_forever()


def PROC_MANY_TERMINATE():
    _pipes()
    ps = [start(_init_block) for _ in range(100)]
    for p in ps:
        p.terminate()
    codes = [join_code(p) for p in ps]
    bad = [c for c in codes if c != -signal.SIGTERM]
    assert not bad, f'{len(bad)} of 100 did not report -SIGTERM: {bad[:5]}'


# ------------------------------------------------ CPython's tests, continued

def _tree_visit(w, node):
    """Sends node (the path from the root), then, above depth 2, starts and
    joins child node+[0] and then child node+[1]; a failing child fails it."""
    w.send(node)
    if len(node) < 2:
        for i in range(2):
            p = start(_tree_visit, w, node + [i])
            p.join()
            if p.exitcode:
                sys.exit(p.exitcode)


def PROC_NESTED_TREE():
    r, w = mp.Pipe(False)
    _tree_visit(w, [])
    got = []
    while r.poll(0):
        got.append(r.recv())
    assert got == [[], [0], [0, 0], [0, 1], [1], [1, 0], [1, 1]], got
