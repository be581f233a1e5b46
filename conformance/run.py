#!/usr/bin/env python3
"""Run the conformance suite against one implementation and record one result
per catalogue row (format: conformance/FORMAT.md).

  run.py --suite BIN --name NAME [--path LIB] [--out DIR] [--runners N]
         [--only COMP,...] [--strict] [-- criterion args]

The driver fails closed: a row gets a result only from a runner that reported
it, and a row that should have run but has none is `error`, with the reason.

- The suite binary is first asked for its list of tests (`--list`).  If that
  fails (the library does not load, a constructor crashes, ...), every row is
  `error` and nothing else runs.
- Then one Criterion runner per component (`--filter '<component>/*'`), N at a
  time, each with its own XML report and log (`<out>/conformance-<name>.logs/
  <component>.log`, linked from the JSON).  A runner that dies midway (the
  "test has already ended, invalid state 'timeout'" abort, a signal, the suite
  timeout) costs only its own component: rows it reported in its live output
  before dying keep that result, the rest are `error` with the runner's exit
  status and last lines of output.  (Criterion writes its XML, TAP and JSON
  reports only when the run ends; the live [PASS]/[FAIL] lines are what
  survives a runner that dies.)
- This process is a child subreaper: every process the run orphans (Criterion
  puts each test worker in a session of its own) is reparented here.  After
  the runners, every process still descended from this one is recorded in
  `leftovers`, killed and reaped.

Exit status: 2 when any row is `error` (the harness could not run it); else 1
when a row failed, crashed or timed out, or processes were left over (with
--strict, unsupported and absent rows fail too); else 0.
"""
import argparse, ctypes, datetime, json, os, platform, re, signal, stat, subprocess, sys
import threading, time
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import catalogue  # noqa: E402

RESULTS = ('pass', 'fail', 'unsupported', 'crash', 'timeout', 'absent', 'error')
PR_SET_CHILD_SUBREAPER = 36


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:
        return ''


def machine():
    cpu = ''
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    cpu = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    return {'hostname': platform.node(), 'cpu_model': cpu, 'cores': os.cpu_count(),
            'kernel': platform.release()}


# ------------------------------------------------------------ processes

def become_subreaper():
    """Orphans of the run (test workers, their children) reparent to us."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), 'prctl(PR_SET_CHILD_SUBREAPER)')


def descendants():
    """[(pid, state, command)] of every process descended from this one."""
    procs = {}
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        try:
            with open(f'/proc/{d}/stat') as f:
                stat = f.read()
        except OSError:
            continue
        rp = stat.rfind(')')
        fields = stat[rp + 2:].split()
        procs[int(d)] = (int(fields[1]), fields[0], stat[stat.find('(') + 1:rp])
    mine, todo = [], [os.getpid()]
    while todo:
        parent = todo.pop()
        for pid, (ppid, state, comm) in procs.items():
            if ppid == parent:
                mine.append((pid, state, comm))
                todo.append(pid)
    return mine


def cmdline(pid, comm):
    try:
        with open(f'/proc/{pid}/cmdline', 'rb') as f:
            return f.read().replace(b'\0', b' ').decode(errors='replace').strip() or comm
    except OSError:
        return comm


def sweep(limit=10.0):
    """Kill (SIGKILL) and reap every descendant, until none is left; returns
    {pid: command} of those alive when first seen."""
    found, t0 = {}, time.time()
    while True:
        procs = descendants()
        for pid, state, comm in procs:
            if state != 'Z' and pid not in found:
                found[pid] = cmdline(pid, comm)
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        except ChildProcessError:
            pass
        if not procs or time.time() - t0 > limit:
            return found
        time.sleep(0.01)


def remove_ipc_socket(pid, rc):
    """After a Criterion runner (process pid) ended with status rc: the socket
    file it listened on for its workers' reports, which it removes only when it
    exits normally, is removed for it.  Criterion 2.4 names it
    /tmp/criterion_<pid>.sock, whatever TMPDIR says; a runner killed by a
    signal or the suite timeout would otherwise leave one per run.  Only a
    socket is removed, only when rc is not 0, and right after the caller
    reaped the runner (until then no other process can have its pid)."""
    if rc == 0:
        return
    path = f'/tmp/criterion_{pid}.sock'
    try:
        if stat.S_ISSOCK(os.lstat(path).st_mode):
            os.unlink(path)
    except OSError:
        pass


def describe_exit(rc):
    if rc is None:
        return 'did not exit'
    if rc < 0:
        try:
            return f'killed by {signal.Signals(-rc).name}'
        except ValueError:
            return f'killed by signal {-rc}'
    return f'exit status {rc}'


def tail(path, n=8):
    try:
        with open(path, errors='replace') as f:
            lines = [x.rstrip() for x in f if x.strip()]
    except OSError:
        return ''
    return '\n'.join(lines[-n:])


# ------------------------------------------------------------ results

parse_list = catalogue.parse_list  # Criterion's --list output -> {(suite, test)}


def verdict(status, kind, msg):
    if status == 'PASSED':
        return 'pass'
    if kind == 'timeout':
        return 'timeout'
    if status == 'ERRORED':
        return 'crash'
    if status == 'SKIPPED':
        return 'error'
    if re.search(r'\bgot MP_ENOTSUP\b', msg):
        return 'unsupported'
    return 'fail'


def parse_xml(path, comp):
    """{test: (result, seconds, message)} of one component from an XML report."""
    out = {}
    root = ET.parse(path).getroot()
    for suite in root.iter('testsuite'):
        if suite.get('name') != comp:
            continue
        for tc in suite.iter('testcase'):
            msg, kind = '', None
            for child in tc:
                kind = child.get('type')
                msg = (child.text or child.get('message') or '').strip()
                if child.tag == 'error' and not msg:
                    msg = child.get('message', '')
            status = tc.get('status')
            if status == 'SKIPPED':
                msg = 'the runner skipped this test'
            out[tc.get('name')] = (verdict(status, kind, msg), float(tc.get('time') or 0), msg)
    return out


LIVE_RE = re.compile(r'^\[(PASS|FAIL)\] (\w+)::(\w+): ?(.*)$')


def parse_live(path, comp):
    """{test: (result, seconds, message)} from a runner's verbose output: the
    [PASS]/[FAIL] lines it printed as each test ended (used when the runner
    died before writing its XML report)."""
    out, pending, desc = {}, [], False
    try:
        f = open(path, errors='replace')
    except OSError:
        return out
    with f:
        for line in f:
            line = line.rstrip('\n')
            m = LIVE_RE.match(line)
            if line.startswith('[RUN ] '):
                pending, desc = [], True  # the next [----] line is the description
                continue
            if not m:
                if line.startswith('[----] ') and not desc:
                    pending.append(line[7:].strip())
                desc = False
                continue
            st, suite, test, rest = m.groups()
            secs = re.search(r'\((\d+(?:\.\d+)?)s\)', rest)
            secs = float(secs.group(1)) if secs else 0.0
            msg = '\n'.join(x for x in pending if x)
            pending = []
            if suite != comp:
                continue
            if st == 'PASS':
                out[test] = ('pass', secs, '')
            elif 'Timed out' in rest:
                out[test] = ('timeout', secs, 'timed out (from the live output)')
            elif 'CRASH' in rest:
                out[test] = ('crash', secs, (rest + '\n' + msg).strip())
            else:
                out[test] = (verdict('FAILED', None, msg), secs, msg)
    return out


# ------------------------------------------------------------ runners

class Runner:
    """One Criterion runner on one component's tests."""

    def __init__(self, comp, a, logdir):
        self.comp = comp
        self.log = os.path.join(logdir, f'{comp}.log')
        self.xml = os.path.join(logdir, f'{comp}.xml')  # removed once read
        self.cmd = [a.suite, f'--filter={comp}/*', f'--xml={self.xml}', '--always-succeed',
                    '--verbose', '--color=never'] + a.rest
        self.rc, self.reason, self.results, self.elapsed = None, '', {}, 0.0
        self.deadline_hit = False

    def run(self, deadline, started):
        t0 = time.time()
        try:
            os.unlink(self.xml)  # a stale report must never stand in for this run's
        except FileNotFoundError:
            pass
        if t0 >= deadline:
            self.reason = f'the runner of {self.comp} did not start: the suite timeout had passed'
            return
        try:
            with open(self.log, 'w') as log:
                p = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=subprocess.STDOUT)
        except OSError as e:
            self.reason = f'cannot run the suite: {e}'
            return
        started(self.comp, p.pid)
        try:
            self.rc = p.wait(timeout=max(1.0, deadline - time.time()))
        except subprocess.TimeoutExpired:
            self.deadline_hit = True
            p.kill()
            self.rc = p.wait()
        remove_ipc_socket(p.pid, self.rc)
        self.elapsed = time.time() - t0
        xml_err = None
        try:
            self.results = parse_xml(self.xml, self.comp)
        except (OSError, ET.ParseError) as e:
            xml_err = e
        finally:
            try:
                os.unlink(self.xml)
            except OSError:
                pass
        if xml_err is None and self.rc == 0:
            return
        # The runner died or wrote no report: keep what its live output says.
        live = parse_live(self.log, self.comp)
        for k, v in live.items():
            self.results.setdefault(k, v)
        why = 'the suite timeout ended it' if self.deadline_hit else describe_exit(self.rc)
        self.reason = (f'the runner of {self.comp} {why}' +
                       ('' if xml_err is None else ', no XML report') +
                       f'; last lines of {self.log}:\n{tail(self.log)}')


def run_all(runners, jobs, deadline, on_start):
    queue, lock = list(runners), threading.Lock()

    def worker():
        while True:
            with lock:
                if not queue:
                    return
                r = queue.pop(0)
            try:
                r.run(deadline, on_start)
            except Exception as e:  # the driver's own bug: the rows are errors
                r.reason = f'the driver failed on {r.comp}: {e!r}'

    threads = [threading.Thread(target=worker) for _ in range(max(1, jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def order(comps, rows, previous):
    """Longest first (by the previous run's durations, else by row count), so
    that N runners finish close together."""
    weight = {c: 0.0 for c in comps}
    for r in rows:
        if r['component'] in weight:
            weight[r['component']] += previous.get(r['id'], 0.3)
    return sorted(comps, key=lambda c: -weight[c])


def previous_durations(path):
    try:
        with open(path) as f:
            return {r['id']: float(r.get('duration') or 0) + 0.15 for r in json.load(f)['rows']}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


# ------------------------------------------------------------ main

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--suite', required=True)
    ap.add_argument('--name', required=True)
    ap.add_argument('--path', default='')
    ap.add_argument('--out', default='reports/out')
    ap.add_argument('--suite-timeout', type=float, default=1500)
    ap.add_argument('--runners', type=int, default=2,
                    help='components run at the same time (one Criterion runner each)')
    ap.add_argument('--only', default='', help='comma-separated components (the rest are absent)')
    ap.add_argument('--strict', action='store_true',
                    help='unsupported and absent rows fail too (the reference implements every row)')
    ap.add_argument('rest', nargs='*', help='arguments for every Criterion runner (default -j1)')
    a = ap.parse_args()
    a.rest = a.rest or ['-j1']

    t0 = time.time()
    become_subreaper()
    rows, errors = catalogue.load()
    if errors:
        print('\n'.join(errors), file=sys.stderr)
    os.makedirs(a.out, exist_ok=True)
    base = os.path.join(a.out, f'conformance-{a.name}')
    logdir = base + '.logs'
    os.makedirs(logdir, exist_ok=True)
    only = set(filter(None, a.only.split(',')))
    comps = sorted({r['component'] for r in rows if not only or r['component'] in only})

    # Does the suite start at all, and which tests does it have?
    listing, start_error = set(), ''
    list_log = os.path.join(logdir, 'list.log')
    try:
        with open(list_log, 'w') as log:
            lp = subprocess.run([a.suite, '--list'], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=log, text=True, timeout=120)
        with open(list_log, 'a') as log:
            log.write(lp.stdout)
        listing = parse_list(lp.stdout)
        if lp.returncode != 0 or not listing:
            start_error = (f'the suite failed to start ({describe_exit(lp.returncode)}'
                           f'{", listed no tests" if not listing else ""}); '
                           f'last lines of {list_log}:\n{tail(list_log)}')
    except (OSError, subprocess.SubprocessError) as e:
        start_error = f'cannot run the suite {a.suite}: {e}'

    runners = {}
    if not start_error:
        prev = previous_durations(base + '.json')
        todo = [c for c in order(comps, rows, prev) if any(s == c for s, _ in listing)]
        runners = {c: Runner(c, a, logdir) for c in todo}
        started = {}

        def on_start(comp, pid):
            started[comp] = pid
            if os.environ.get('MPT_RUNNER_PIDS'):  # for the runner's own self-test
                with open(os.environ['MPT_RUNNER_PIDS'], 'a') as f:
                    f.write(f'{comp} {pid}\n')

        run_all(list(runners.values()), a.runners, t0 + a.suite_timeout, on_start)
    left = sweep()

    out_rows = []
    summary = dict.fromkeys(RESULTS, 0)
    for r in rows:
        comp, test = r['component'], r['id'].replace('-', '_')
        run = runners.get(comp)
        log = os.path.relpath(run.log, a.out) if run else ''
        if start_error:
            res, dur, msg, log = 'error', 0.0, start_error, os.path.relpath(list_log, a.out)
        elif only and comp not in only:
            res, dur, msg = 'absent', 0.0, 'component not run (--only)'
        elif (comp, test) not in listing:
            res, dur, msg = 'absent', 0.0, 'no test for this row in the suite'
        elif test in run.results:
            res, dur, msg = run.results[test]
            if run.reason and res != 'pass':
                msg = (msg + '\n' if msg else '') + '(' + run.reason.split('\n')[0] + ')'
        else:
            res, dur, msg = 'error', 0.0, (run.reason or
                                           f'the runner of {comp} ended normally without a '
                                           'result for this test')
        summary[res] += 1
        row = {'id': r['id'], 'component': comp, 'result': res,
               'duration': round(dur, 4), 'message': msg[:2000]}
        if res != 'pass' and log:
            row['log'] = log
        out_rows.append(row)

    commit = sh('git rev-parse --short HEAD')
    doc = {
        'format': 'mp-conformance', 'version': 1,
        'impl': {'name': a.name, 'path': a.path,
                 'build': {'cc': sh('${CC:-cc} --version | head -1'), 'git': commit,
                           'dirty': bool(sh('git status --porcelain --untracked-files=no'))}},
        'machine': machine(),
        'date': datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ'),
        'elapsed': round(time.time() - t0, 2),
        'rows': out_rows, 'summary': summary,
        'runners': [{'component': c, 'status': describe_exit(r.rc), 'elapsed': round(r.elapsed, 2),
                     'log': os.path.relpath(r.log, a.out), 'error': r.reason.split('\n')[0]}
                    for c, r in runners.items()],
        'leftovers': sorted(left),
        'leftover_commands': {str(p): c for p, c in sorted(left.items())},
    }
    if start_error:
        doc['error'] = start_error
    with open(base + '.json', 'w') as f:
        json.dump(doc, f, indent=1)
    with open(base + '.md', 'w') as f:
        f.write(f'# Conformance of `{a.name}`\n\n' +
                ' · '.join(f'{k}: {v}' for k, v in summary.items()) + '\n\n')
        if start_error:
            f.write(f'**The suite could not run:** {start_error.splitlines()[0]}\n\n')
        f.write('| row | component | result | s | message |\n|---|---|---|---|---|\n')
        for r in out_rows:
            m = r['message'].replace('|', '\\|').replace('\n', ' ')[:160]
            f.write(f"| `{r['id']}` | {r['component']} | {r['result']} | {r['duration']:.2f} | {m} |\n")
    for c, r in runners.items():
        if r.reason:
            print(f'conformance[{a.name}]: error: {r.reason}', file=sys.stderr)
    if start_error:
        print(f'conformance[{a.name}]: error: {start_error}', file=sys.stderr)
    for p, c in sorted(left.items()):
        print(f'conformance[{a.name}]: leftover process {p} killed: {c[:200]}', file=sys.stderr)
    bad = summary['fail'] + summary['crash'] + summary['timeout']
    if a.strict:
        bad += summary['unsupported'] + summary['absent']
    print(f'conformance[{a.name}]: ' + ', '.join(f'{k} {v}' for k, v in summary.items()) +
          (f', leftover processes killed: {len(left)}' if left else '') +
          f' ({time.time() - t0:.0f} s) -> {base}.json')
    if summary['error'] or start_error:
        return 2
    return 1 if bad or left else 0


if __name__ == '__main__':
    try:
        sys.exit(main())
    except Exception:  # a bug of this driver is a harness error, never a pass
        import traceback
        traceback.print_exc()
        sys.exit(2)
