#!/usr/bin/env python3
"""Run the Python twins of the catalogue against one Python implementation of
multiprocessing, and judge the results against that implementation's
expected outcomes.

  run_twins.py [--impl NAME] [--filter S] [--baseline OTHER.json]
  run_twins.py --gen-expect        rewrite conformance/expect/cpython.tsv from the catalogue

The implementation is data: conformance/impls/NAME.json gives the interpreter
and the module (multiprocessing, billiard, multiprocess, ...); the twins reach
it through conformance/python/twin.py, which imports the module named by
MP_TWIN_MODULE.  A twin is a function named after its row (Q-GET-TIMEOUT-EMPTY ->
Q_GET_TIMEOUT_EMPTY) in conformance/python/twins_<component>.py; it raises
when the implementation does not behave as the row says.

Results (conformance/FORMAT.md): pass, fail, crash (killed by a signal),
timeout, unsupported (the implementation lacks an API the twin uses: the mp.X
names in its code and its @twin.uses declarations; the twin is not run),
absent (no twin: C-only row or none written), error (the harness could not run
the row: the module or the twins file does not import).

Each twin runs in its own session with its output in files, so a grandchild
holding stderr cannot turn an exit into a timeout; after the twin's process
ends, whatever is left of its session is killed and recorded as leftovers.
By default (--mode zygote) each twin's process is forked from one
interpreter per implementation that imported the module under test once (the
"zygote"), instead of a fresh interpreter per twin (--mode fresh); the twin
imports its twins file, runs and exits through Python's normal exit path as
before.  Rows whose verdict could depend on that run fresh (FRESH_ROWS).
The full stderr of a row that does not pass is kept in
reports/out/twins-NAME/<ROW>.stderr and named in the JSON.

Expected outcomes: conformance/expect/cpython.tsv (generated from the
catalogue's cpython column) for every implementation, overlaid by
conformance/expect/NAME.tsv (row, expected, reason; expected may list several
result kinds joined by '|' where the implementation itself is intermittent,
e.g. pass|timeout: a hang of its own that a reproducer shows to be
occasional; the row still runs once).  Each row's verdict is
'as expected', 'new failure' or 'newly passing' (or 'error'); --baseline
compares with another run's JSON instead.  Exit status: 0 when nothing is a new
failure, 1 on a new failure, 2 on a harness error.  Standard library only.
"""
import argparse, ast, concurrent.futures as cf, csv, datetime, json, os, shutil, signal, \
    subprocess, sys, tempfile, threading, time

HERE = os.path.dirname(os.path.abspath(__file__))
CONF = os.path.dirname(HERE)
ROOT = os.path.dirname(CONF)
IMPLS = os.path.join(CONF, 'impls')
EXPECT = os.path.join(CONF, 'expect')
sys.path.insert(0, CONF)
import catalogue  # noqa: E402

RESULTS = ('pass', 'fail', 'unsupported', 'crash', 'timeout', 'absent', 'error')
HARNESS_EXIT = 97   # the bootstrap could not import twin.py / the module / the twins file
GRACE = 2.0         # how long a twin's leftovers get to end on their own
SUBMODULES = ('util', 'connection', 'managers', 'pool', 'reduction', 'sharedctypes',
              'synchronize', 'queues', 'shared_memory', 'context', 'heap', 'process',
              'resource_tracker', 'spawn', 'popen_fork', 'dummy')


# ------------------------------------------------------------------ implementations
def load_impl(name, impls_dir=IMPLS):
    """conformance/impls/NAME.json as a dict; exit status 2 if there is none."""
    path = os.path.join(impls_dir, f'{name}.json')
    try:
        with open(path) as f:
            impl = json.load(f)
    except (OSError, ValueError) as e:
        print(f'run_twins: no implementation {name!r} ({path}: {e})', file=sys.stderr)
        sys.exit(2)
    if impl.get('kind') != 'python':
        print(f'run_twins: {name} is of kind {impl.get("kind")!r}; `make conformance '
              'IMPL=...` runs C libraries', file=sys.stderr)
        sys.exit(2)
    return impl


# ------------------------------------------------------------------ twins and their API
def twin_sources(twins_dir=HERE):
    """{component: (path, ast.Module)} for every twins_<component>.py."""
    out = {}
    for fn in sorted(os.listdir(twins_dir)):
        if fn.startswith('twins_') and fn.endswith('.py'):
            path = os.path.join(twins_dir, fn)
            with open(path) as f:
                out[fn[6:-3]] = (path, ast.parse(f.read(), path))
    return out


def mp_names(node):
    """The mp.X (and mp.<submodule>.X) paths named under an AST node."""
    found = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == 'mp':
            found.add(n.attr)
        if (isinstance(n, ast.Attribute) and isinstance(n.value, ast.Attribute)
                and isinstance(n.value.value, ast.Name) and n.value.value.id == 'mp'
                and n.value.attr in SUBMODULES):
            found.discard(n.value.attr)
            found.add(f'{n.value.attr}.{n.attr}')
    return found


def _shared_defs(twins_dir=HERE):
    """twin.py's top-level functions and classes: helpers the twins share."""
    path = os.path.join(twins_dir, 'twin.py')
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    return {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}


def api_uses(tree, shared=None):
    """{twin name: sorted API paths it names}, following calls to the module's
    own functions and classes and to twin.py's shared helpers (twin.X, or X
    imported from twin), so that a twin that starts its processes through
    twin.start still declares mp.Process."""
    if shared is None:
        shared = _shared_defs()
    from_twin = {a.asname or a.name for n in tree.body if isinstance(n, ast.ImportFrom)
                 and n.module == 'twin' for a in n.names}
    own = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    defs = dict(own)
    for k, v in shared.items():
        defs.setdefault('twin.' + k, v)
        if k in from_twin and k not in own:
            defs[k] = v

    def called(node, in_shared):
        out = set()
        for n in ast.walk(node):
            if isinstance(n, ast.Name):
                if n.id in defs and (not in_shared or 'twin.' + n.id in defs):
                    out.add(n.id if not in_shared else 'twin.' + n.id)
            elif (isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)
                  and n.value.id == 'twin' and 'twin.' + n.attr in defs):
                out.add('twin.' + n.attr)
        return out
    direct = {k: mp_names(v) for k, v in defs.items()}
    calls = {k: called(v, k.startswith('twin.') or (k in from_twin and k not in own))
             for k, v in defs.items()}
    out = {}
    for name in own:
        if not (name.isupper() and isinstance(own[name], ast.FunctionDef)):
            continue
        seen, todo, apis = set(), [name], set()
        while todo:
            k = todo.pop()
            if k in seen:
                continue
            seen.add(k)
            apis |= direct[k]
            todo.extend(calls[k])
        out[name] = sorted(apis)
    return out


PROBE = r'''
import json, platform, sys, traceback
sys.path[:0] = [{here!r}, {twins!r}]
uses = json.loads({uses!r})
out = {{'executable': sys.executable, 'python': platform.python_version(),
        'python_implementation': platform.python_implementation(), 'components': {{}}}}
try:
    import twin
except BaseException:
    out['error'] = traceback.format_exc()
    print(json.dumps(out)); sys.exit(0)
v = {version!r}
out['module'] = twin.MODULE
out['module_version'] = platform.python_version() if v == 'python' else str(getattr(twin.mp, v, '?'))
for comp, fns in uses.items():
    try:
        m = __import__('twins_' + comp)
    except BaseException:
        out['components'][comp] = {{'error': traceback.format_exc()}}
        continue
    res = {{}}
    for fn, apis in fns.items():
        f = getattr(m, fn, None)
        if f is None:
            continue
        apis = sorted(set(apis) | set(getattr(f, 'twin_uses', ())))
        res[fn] = [a for a in apis if twin.lacks(a)]
    out['components'][comp] = {{'missing': res}}
print(json.dumps(out))
'''

# SIGUSR1 (no twin uses it) makes a twin print every thread's stack: the
# runner sends it before killing a twin that timed out, so the log says where.
RUN = ('import faulthandler, signal, sys, traceback\n'
       'faulthandler.register(signal.SIGUSR1, all_threads=True)\n'
       'sys.path[:0] = [{here!r}, {twins!r}]\n'
       'try:\n    import twin, twins_{comp} as m\n'
       'except BaseException:\n    traceback.print_exc()\n    sys.exit({code})\n'
       'm.{fn}()\n')


# The zygote: the implementation's interpreter imports twin.py (and so the
# module under test and its submodules) once, then forks one child per request
# read from its stdin ({"id", "comp", "fn", "out", "err"}, a JSON line).  It
# answers on its stdout: "ready PID", "started ID PID", "exited ID STATUS" (the
# raw wait status).  The child starts a session, puts /dev/null and the row's
# files on fds 0-2, closes the zygote's own fds, imports twins_<comp> and runs
# the twin at top level, so it ends as a fresh interpreter's `-c` would:
# uncaught exception -> traceback, exit 1; atexit, multiprocessing's exit
# function and threading's shutdown all run.  The zygote never starts a thread
# (refuses to serve if importing the module did: fork would lose it).
ZYGOTE = r'''
import faulthandler, json, os, select, signal, sys, traceback
sys.path[:0] = [{here!r}, {twins!r}]
try:
    import twin
except BaseException:
    traceback.print_exc()
    os._exit({code})
import threading
if threading.active_count() != 1:
    sys.stderr.write('zygote: importing %s started threads\n' % twin.MODULE)
    os._exit({code})
_r, _w = os.pipe()
os.set_blocking(_w, False)
signal.signal(signal.SIGCHLD, lambda *a: None)
signal.set_wakeup_fd(_w)
_kids, _buf, _job = {{}}, b'', None
def _say(*words):
    os.write(1, (' '.join(map(str, words)) + '\n').encode())
_say('ready', os.getpid())
while _job is None:
    try:
        _ready = select.select([0, _r], [], [])[0]
    except InterruptedError:
        continue
    if _r in _ready:
        os.read(_r, 4096)
    while _kids:
        _pid, _st = os.waitpid(-1, os.WNOHANG)
        if _pid == 0:
            break
        _say('exited', _kids.pop(_pid), _st)
    if 0 in _ready:
        _data = os.read(0, 65536)
        if not _data:
            os._exit(0)  # the runner is gone; it ends the twins' sessions
        _buf += _data
        while _job is None and b'\n' in _buf:
            _line, _buf = _buf.split(b'\n', 1)
            _req = json.loads(_line)
            _pid = os.fork()
            if _pid == 0:
                _job = _req
            else:
                _kids[_pid] = _req['id']
                _say('started', _req['id'], _pid)
try:
    os.setsid()
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.close(_r)
    os.close(_w)
    for _fd, _path, _flags in ((0, os.devnull, os.O_RDONLY),
                               (1, _job['out'], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
                               (2, _job['err'], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)):
        _f = os.open(_path, _flags, 0o644)
        os.dup2(_f, _fd)
        os.close(_f)
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    del _kids, _buf, _data, _line, _req, _pid, _ready, _fd, _path, _flags, _f
    m = __import__('twins_' + _job['comp'])
    _fn = getattr(m, _job['fn'])
except BaseException:
    traceback.print_exc()
    sys.exit({code})
_fn()
'''
ZYGOTE_START = 120.0  # how long the zygote may take to import the module
ZYGOTE_FORK = 30.0    # how long it may take to answer a request with a child

# Rows that always run in a fresh interpreter, even in zygote mode, each with
# the reason (the place to declare a row whose verdict depends on the zygote).
FRESH_ROWS = {
}


def child_env(impl):
    env = dict(os.environ, MP_TWIN_MODULE=impl['module'], PYTHONDONTWRITEBYTECODE='1')
    return env


def probe(impl, uses, twins_dir=HERE, timeout=120):
    """Ask the implementation's interpreter which twins it can run: a dict with
    the interpreter's identity and, per component, the APIs each twin lacks
    (or the traceback of an import that failed)."""
    code = PROBE.format(here=HERE, twins=twins_dir, uses=json.dumps(uses),
                        version=impl.get('version', 'python'))
    try:
        p = subprocess.run([impl['interpreter'], '-c', code], capture_output=True, text=True,
                           env=child_env(impl), timeout=timeout, cwd=ROOT,
                           stdin=subprocess.DEVNULL, start_new_session=True)
    except (OSError, subprocess.TimeoutExpired) as e:
        return {'error': f'cannot run {impl["interpreter"]}: {e}'}
    try:
        return json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {'error': f'{impl["interpreter"]} exited {p.returncode}: {p.stderr[-2000:]}'}


# ------------------------------------------------------------------ running one twin
def session_members(sid):
    """Live (not zombie) processes whose session id is sid, as (pid, cmdline)."""
    found = []
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        try:
            with open(f'/proc/{d}/stat') as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(')') + 2:].split()
        if int(fields[3]) == sid and fields[0] != 'Z':
            try:
                with open(f'/proc/{d}/cmdline', 'rb') as f:
                    cmd = f.read().replace(b'\0', b' ').decode(errors='replace').strip()
            except OSError:
                cmd = '?'
            found.append((int(d), cmd[:200]))
    return found


def end_session(sid, grace):
    """Give the session's remaining processes `grace` seconds to end, then kill
    them; return what had to be killed."""
    deadline = time.monotonic() + grace
    left = session_members(sid)
    while left and time.monotonic() < deadline:
        time.sleep(0.02)  # polling for others' exit, no synchronisation to wait on
        left = session_members(sid)
    for pid, _ in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return [{'pid': pid, 'cmdline': cmd} for pid, cmd in left]


def run_one(argv, env, cwd, logbase, timeout, grace=GRACE):
    """Run one twin process in its own session, output to logbase.{out,err}.
    Returns (result, duration, message, leftovers)."""
    t0 = time.monotonic()
    with open(logbase + '.stdout', 'wb') as out, open(logbase + '.stderr', 'wb') as err:
        try:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                 env=env, cwd=cwd, start_new_session=True)
        except OSError as e:
            return 'error', 0.0, f'cannot start {argv[0]}: {e}', []
    try:
        rc, timed_out = p.wait(timeout), False
    except subprocess.TimeoutExpired:
        timed_out = True
        try:
            os.kill(p.pid, signal.SIGUSR1)  # the stacks, into the row's stderr
            p.wait(1.0)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        rc = p.wait()
    dur = time.monotonic() - t0
    leftovers = end_session(p.pid, 0 if timed_out else grace)
    return outcome(rc, timed_out, dur, logbase, timeout, leftovers)


def outcome(rc, timed_out, dur, logbase, timeout, leftovers):
    """The row's (result, duration, message, leftovers) from its process's
    exit code (negative: the signal) and whether it timed out."""
    with open(logbase + '.stderr', 'rb') as f:
        lines = f.read().decode(errors='replace').strip().splitlines()
    last = '\n'.join(lines[-6:])
    if timed_out:
        return 'timeout', dur, f'no result after {timeout} s\n{last}'.strip(), leftovers
    if rc == 0:
        return 'pass', dur, '', leftovers
    if rc < 0:
        return 'crash', dur, f'signal {-rc}\n{last}'.strip(), leftovers
    if rc == HARNESS_EXIT:
        return 'error', dur, f'the twin could not be loaded\n{last}', leftovers
    return 'fail', dur, last or f'exit {rc}', leftovers


class Zygote:
    """One running ZYGOTE of an implementation: run() has it fork a twin and
    judges that twin as run_one judges a fresh one.  Fails closed: a zygote
    that does not start, dies, or stops answering makes every row it had
    not finished, and every later one, an 'error' naming why (the twins it
    started are killed with their sessions)."""

    def __init__(self, exe, env, twins_dir, logdir, start=ZYGOTE_START):
        code = ZYGOTE.format(here=HERE, twins=twins_dir, code=HARNESS_EXIT)
        self.errpath = os.path.join(logdir, '_zygote.stderr')
        self.lock = threading.Lock()
        self.jobs, self.next_id, self.dead = {}, 0, None
        self.ready = threading.Event()
        try:
            with open(self.errpath, 'wb') as err:
                self.p = subprocess.Popen([exe, '-c', code], stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, stderr=err, env=env,
                                          cwd=ROOT, start_new_session=True)
        except OSError as e:
            self.p, self.dead = None, f'cannot start the zygote ({exe}): {e}'
            return
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        if not self.ready.wait(start) and self.dead is None:
            self._die(f'the zygote did not start within {start} s')
            self.close()

    def _stderr_tail(self):
        try:
            with open(self.errpath, 'rb') as f:
                return '\n'.join(f.read().decode(errors='replace').strip().splitlines()[-6:])
        except OSError:
            return ''

    def _die(self, why):
        """Marks the zygote dead (the first reason stays) and wakes every waiter."""
        with self.lock:
            if self.dead is None:
                self.dead = why
            jobs = list(self.jobs.values())
        self.ready.set()
        for rec in jobs:
            rec['started'].set()
            rec['done'].set()

    def _read(self):
        for line in self.p.stdout:
            w = line.decode(errors='replace').split()
            if w[:1] == ['ready']:
                self.ready.set()
                continue
            rec = self.jobs.get(int(w[1])) if len(w) == 3 else None
            if rec is None:
                self._die(f'the zygote said {line!r}')
                break
            if w[0] == 'started':
                rec['pid'] = int(w[2])
                rec['started'].set()
            elif w[0] == 'exited':
                rec['status'] = int(w[2])
                rec['done'].set()
        self.p.wait()
        self._die(f'the zygote ended (status {self.p.returncode})\n{self._stderr_tail()}'.strip())

    def run(self, comp, fn, logbase, timeout, grace=GRACE):
        """Like run_one, for twin fn of twins_<comp>, forked from the zygote."""
        t0 = time.monotonic()
        for ext in ('.stdout', '.stderr'):
            open(logbase + ext, 'wb').close()
        rec = {'started': threading.Event(), 'done': threading.Event()}
        with self.lock:
            if self.dead is None:
                rid = self.next_id = self.next_id + 1
                self.jobs[rid] = rec
                req = {'id': rid, 'comp': comp, 'fn': fn, 'out': logbase + '.stdout',
                       'err': logbase + '.stderr'}
                try:
                    self.p.stdin.write((json.dumps(req) + '\n').encode())
                    self.p.stdin.flush()
                except OSError as e:
                    self.dead = f'the zygote stopped reading requests: {e}'
            dead = self.dead
        if dead is not None and not rec['started'].is_set():
            return 'error', 0.0, f'zygote: {dead}', []
        if not rec['started'].wait(ZYGOTE_FORK):
            self._die(f'the zygote forked no child within {ZYGOTE_FORK} s')
        pid = rec.get('pid')
        if pid is None:
            return 'error', time.monotonic() - t0, f'zygote: {self.dead}', []
        timed_out = not rec['done'].wait(max(0.0, t0 + timeout - time.monotonic()))
        if timed_out and 'status' not in rec:
            try:
                os.kill(pid, signal.SIGUSR1)  # the stacks, into the row's stderr
            except ProcessLookupError:
                pass
            rec['done'].wait(1.0)
            if 'status' not in rec:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            rec['done'].wait(ZYGOTE_FORK)
        else:
            timed_out = False
        dur = time.monotonic() - t0
        if 'status' not in rec:  # the zygote died, or never reaped the twin
            if self.dead is None:
                self._die(f'the zygote did not report twin {pid}\'s end')
            left = end_session(pid, 0)
            return 'error', dur, f'zygote: {self.dead}', left
        leftovers = end_session(pid, 0 if timed_out else grace)
        return outcome(os.waitstatus_to_exitcode(rec['status']), timed_out, dur, logbase,
                       timeout, leftovers)

    def close(self):
        """Ends the zygote (its stdin closed, then killed if it lingers)."""
        if self.p is None:
            return
        try:
            self.p.stdin.close()
        except OSError:
            pass
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.p.pid, signal.SIGKILL)
            self.p.wait()
        self.reader.join(10)
        self.p.stdout.close()
        end_session(self.p.pid, 0)


# ------------------------------------------------------------------ expectations
def catalogue_expectations(rows, sources):
    """The CPython expectation of every row, from the catalogue's cpython
    column: twin -> pass, differs -> fail, C-only -> absent; a row without the
    column or without a twin function -> absent."""
    have = {c: set(api_uses(t)) for c, (_, t) in sources.items()}
    exp = {}
    for r in rows:
        cp = (r.get('cpython') or '').strip()
        fn = r['id'].replace('-', '_')
        if cp.startswith('C-only'):
            exp[r['id']] = ('absent', cp)
        elif cp.startswith('differs'):
            exp[r['id']] = ('fail', cp)
        elif cp == 'twin':
            exp[r['id']] = ('pass', 'catalogue: twin')
        elif fn in have.get(r['component'], ()):
            exp[r['id']] = ('pass', 'a twin without a cpython column')
        else:
            exp[r['id']] = ('absent', 'no Python twin written yet')
    return exp


def read_expect(path):
    """{row: (expected, reason)} from a TSV file (row, expected, reason; '#'
    lines and a header line starting with 'row' are skipped)."""
    exp = {}
    if not os.path.exists(path):
        return exp
    with open(path, newline='') as f:
        for n, rec in enumerate(csv.reader(f, delimiter='\t', quoting=csv.QUOTE_NONE), 1):
            if not rec or rec[0].startswith('#') or rec[0] == 'row':
                continue
            kinds = rec[1].split('|') if len(rec) > 1 else []
            if (not kinds or any(k not in RESULTS or k == 'error' for k in kinds)
                    or len(set(kinds)) != len(kinds)):
                raise ValueError(f'{path}:{n}: want row<TAB>result<TAB>reason, '
                                 f'result one of {RESULTS[:-1]}, or two or more of them '
                                 f'joined by | (an implementation that is itself '
                                 f'intermittent there)')
            exp[rec[0]] = (rec[1], rec[2] if len(rec) > 2 else '')
    return exp


def write_expect(path, exp, header):
    with open(path, 'w') as f:
        f.write(header)
        f.write('row\texpected\treason\n')
        for row, (res, why) in exp.items():
            f.write(f'{row}\t{res}\t{why}\n')


def expectations(name, rows, sources, expect_dir=EXPECT):
    """cpython.tsv (or, without it, the catalogue) overlaid by NAME.tsv."""
    exp = catalogue_expectations(rows, sources)
    exp.update(read_expect(os.path.join(expect_dir, 'cpython.tsv')))
    if name != 'cpython':
        exp.update(read_expect(os.path.join(expect_dir, f'{name}.tsv')))
    return exp


def verdict(expected, got):
    """expected is one result kind, or several joined by '|': the
    implementation's own intermittent outcomes on that row (each seen, with a
    reproducer measuring how often; the row runs once, never retried)."""
    if got == 'error':
        return 'error'
    if got in expected.split('|'):
        return 'as expected'
    return 'newly passing' if got == 'pass' else 'new failure'


def judge(out_rows, exp):
    """Set each row's expected/verdict; return the exit status (0, 1 or 2)."""
    status = 0
    for r in out_rows:
        e, why = exp.get(r['id'], ('absent', 'not in the expectations'))
        r['expected'], r['expected_reason'] = e, why
        r['verdict'] = verdict(e, r['result'])
        if r['verdict'] == 'error':
            status = 2
        elif r['verdict'] == 'new failure' and status == 0:
            status = 1
    return status


def baseline_expectations(path):
    with open(path) as f:
        doc = json.load(f)
    name = doc.get('impl', {}).get('name', path)
    return {r['id']: (r['result'] if r['result'] != 'error' else 'absent',
                      f'baseline {name}: ' + (r.get('message') or '').split('\n')[0][:200])
            for r in doc['rows']}


# ------------------------------------------------------------------ the run
def machine():
    try:
        import run as crun
        return crun.machine()
    except Exception as e:  # noqa: BLE001 - the report says what is missing
        return {'error': f'conformance/run.py machine(): {e}'}


def previous_durations(path):
    """{row: seconds} from an earlier run's JSON (empty when there is none):
    the order in which to start the twins."""
    try:
        with open(path) as f:
            return {r['id']: float(r.get('duration') or 0) for r in json.load(f)['rows']}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def run_impl(impl, rows, sources, out_dir, timeout, jobs, twins_dir=HERE, grace=GRACE,
             mode='zygote'):
    """Run every row's twin under impl (rows: catalogue dicts with id,
    component, cpython); return (rows with results, probe info).  The twins
    start longest first, by the durations of the previous run of the same
    implementation (a row without one counts as long), so that no long twin
    starts last and runs alone while the other job slots sit idle; the
    results keep the catalogue's order."""
    uses = {c: api_uses(t) for c, (_, t) in sources.items()}
    info = probe(impl, uses, twins_dir)
    before = previous_durations(os.path.join(out_dir, f'conformance-{impl["name"]}.json'))
    rows_in = rows
    rows = sorted(rows, key=lambda r: -before.get(r['id'], timeout))
    logdir = os.path.join(out_dir, f'twins-{impl["name"]}')
    os.makedirs(logdir, exist_ok=True)
    for fn in os.listdir(logdir):
        os.unlink(os.path.join(logdir, fn))
    results, jobs_of = {}, {}
    # The twins' temporary files go to a directory of this run's, removed at
    # its end: a twin that kills a manager or a pool on purpose leaves that
    # process's pymp-* directory (and the listener socket in it) behind.
    tmp = tempfile.mkdtemp(prefix='twins-')
    env = dict(child_env(impl), TMPDIR=tmp)
    exe = info.get('executable') or impl['interpreter']
    zyg = None
    try:
        if mode == 'zygote' and 'error' not in info:
            zyg = Zygote(exe, env, twins_dir, logdir)
        return _run_rows(impl, rows, rows_in, uses, info, logdir, out_dir, timeout, jobs,
                         twins_dir, grace, env, exe, zyg, results, jobs_of)
    finally:
        if zyg is not None:
            zyg.close()
        shutil.rmtree(tmp, ignore_errors=True)


def _run_rows(impl, rows, rows_in, uses, info, logdir, out_dir, timeout, jobs, twins_dir,
              grace, env, exe, zyg, results, jobs_of):
    """run_impl's loop: every row's result, the twins run `jobs` at a time
    (forked by zyg, or fresh interpreters when zyg is None or the row is in
    FRESH_ROWS)."""
    with cf.ThreadPoolExecutor(max_workers=jobs) as ex:
        for r in rows:
            comp, fn = r['component'], r['id'].replace('-', '_')
            cp = (r.get('cpython') or '').strip()
            if cp.startswith('C-only'):
                results[r['id']] = ('absent', 0.0, cp, [])
            elif fn not in uses.get(comp, {}):
                results[r['id']] = ('absent', 0.0, 'no Python twin written yet', [])
            elif 'error' in info:
                results[r['id']] = ('error', 0.0, f'{impl["name"]}: {info["error"]}'.strip(), [])
            elif 'error' in info['components'].get(comp, {}):
                results[r['id']] = ('error', 0.0, 'twins_%s does not import: %s'
                                    % (comp, info['components'][comp]['error']), [])
            elif info['components'].get(comp, {}).get('missing', {}).get(fn):
                lacks = info['components'][comp]['missing'][fn]
                results[r['id']] = ('unsupported', 0.0, f'{impl["module"]} lacks '
                                    + ', '.join(lacks), [])
            elif zyg is not None and r['id'] not in FRESH_ROWS:
                jobs_of[r['id']] = ex.submit(zyg.run, comp, fn, os.path.join(logdir, r['id']),
                                             timeout, grace)
            else:
                code = RUN.format(here=HERE, twins=twins_dir, comp=comp, fn=fn,
                                  code=HARNESS_EXIT)
                jobs_of[r['id']] = ex.submit(run_one, [exe, '-c', code], env, ROOT,
                                             os.path.join(logdir, r['id']), timeout, grace)
        out = []
        for r in rows_in:
            res, dur, msg, left = (jobs_of[r['id']].result() if r['id'] in jobs_of
                                   else results[r['id']])
            row = {'id': r['id'], 'component': r['component'], 'result': res,
                   'duration': round(dur, 4), 'message': msg[:2000]}
            if r['id'] in jobs_of:
                base = os.path.join(logdir, r['id'])
                if res == 'pass':
                    os.unlink(base + '.stderr')
                else:
                    row['stderr'] = os.path.relpath(base + '.stderr', out_dir)
                if os.path.getsize(base + '.stdout') == 0:
                    os.unlink(base + '.stdout')
            if left:
                row['leftovers'] = left
            out.append(row)
    return out, info


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--impl', default='cpython', help='an entry of conformance/impls/')
    ap.add_argument('--out', default=os.path.join(ROOT, 'reports', 'out'))
    ap.add_argument('--timeout', type=float, default=60)
    ap.add_argument('--jobs', type=int, default=2)
    ap.add_argument('--mode', choices=('zygote', 'fresh'), default='zygote',
                    help='fork each twin from one pre-imported interpreter (zygote, the '
                    'default) or start a fresh interpreter per twin')
    ap.add_argument('--filter', default='', help='only rows whose ID contains one of these (comma-separated)')
    ap.add_argument('--baseline', help="judge against another run's JSON")
    ap.add_argument('--expect-dir', default=EXPECT)
    ap.add_argument('--impls-dir', default=IMPLS)
    ap.add_argument('--gen-expect', action='store_true',
                    help='write expect/cpython.tsv from the catalogue and exit')
    a = ap.parse_args(argv)
    rows, errors = catalogue.load()
    if errors:
        print('\n'.join(errors), file=sys.stderr)
        return 2
    sources = twin_sources()
    if a.gen_expect:
        path = os.path.join(a.expect_dir, 'cpython.tsv')
        write_expect(path, catalogue_expectations(rows, sources),
                     '# Generated by `conformance/python/run_twins.py --gen-expect` from the\n'
                     "# catalogue's cpython column; do not edit (edit the catalogue).\n")
        print(f'wrote {path}')
        return 0
    impl = load_impl(a.impl, a.impls_dir)
    rows = [r for r in rows if any(f in r['id'] for f in a.filter.split(','))]
    t0 = time.monotonic()
    out, info = run_impl(impl, rows, sources, a.out, a.timeout, a.jobs, mode=a.mode)
    exp = (baseline_expectations(a.baseline) if a.baseline
           else expectations(impl['name'], rows, sources, a.expect_dir))
    status = judge(out, exp)
    summary = dict.fromkeys(RESULTS, 0)
    verdicts = dict.fromkeys(['as expected', 'new failure', 'newly passing', 'error'], 0)
    for r in out:
        summary[r['result']] += 1
        verdicts[r['verdict']] += 1
    doc = {'format': 'mp-conformance', 'version': 1,
           'impl': {'name': impl['name'], 'kind': 'python', 'path': info.get('executable'),
                    'module': impl['module'], 'module_version': info.get('module_version'),
                    'build': {'python': info.get('python'),
                              'implementation': info.get('python_implementation'),
                              'interpreter': impl['interpreter']}},
           'machine': machine(),
           'date': datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ'),
           'judged_against': a.baseline or 'expect', 'mode': a.mode,
           'rows': out, 'summary': summary, 'verdicts': verdicts,
           'leftovers': [dict(x, row=r['id']) for r in out for x in r.get('leftovers', [])],
           'seconds': round(time.monotonic() - t0, 1)}
    if 'error' in info:
        doc['error'] = info['error']
    os.makedirs(a.out, exist_ok=True)
    path = os.path.join(a.out, f'conformance-{impl["name"]}.json')
    with open(path, 'w') as f:
        json.dump(doc, f, indent=1)
    for r in out:
        if r['verdict'] != 'as expected':
            print(f'  {r["verdict"]:13} {r["id"]}: {r["result"]} (expected {r["expected"]})'
                  + (f' -> {r["stderr"]}' if r.get('stderr') else ''))
    print(f'conformance[{impl["name"]}]: ' + ', '.join(f'{k} {v}' for k, v in summary.items())
          + ' | ' + ', '.join(f'{k} {v}' for k, v in verdicts.items())
          + f' | leftovers {len(doc["leftovers"])} | {doc["seconds"]} s -> {path}')
    return status


if __name__ == '__main__':
    sys.exit(main())
