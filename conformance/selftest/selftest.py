#!/usr/bin/env python3
"""Self-test of conformance/run.py: the runner fails closed.

  selftest.py --ok SUITE --abort SUITE --work DIR

SUITE-ok is conformance/selftest/fixtures.c (the `event` rows, misbehaving on
purpose) and the real status tests, linked to the reference library;
SUITE-abort is the same linked to a copy of the library that aborts when
loaded.  Three runs of run.py, each checked row by row:

  abort   the suite cannot start: every row `error`, exit 2
  broken  a failed assertion with non-daemonic descendants alive, a leaked
          child and a hung test: fail, fail, timeout; the rest pass; the
          orphans of the hung test are leftovers, killed; exit 1; no process
          of the run is left
  killed  the event runner is SIGKILLed while its 4th test hangs (its child
          and grandchild started): the rows it reported keep their results,
          the rest of event are `error`, status still passes; exit 2; no
          process of the run is left

Exit status 0 when every check holds, 1 otherwise.
"""
import argparse, json, os, signal, subprocess, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))
RUN = os.path.join(HERE, '..', 'run.py')
failures = []


def check(cond, what):
    print(('ok   ' if cond else 'FAIL ') + what)
    if not cond:
        failures.append(what)


def results(doc, comps=('event', 'status')):
    return {r['id']: r for r in doc['rows'] if r['component'] in comps}


def alive(pid):
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        return False


def processes_of(exe):
    """Processes (other than zombies) running the executable exe."""
    exe, found = os.path.realpath(exe), []
    for d in os.listdir('/proc'):
        if d.isdigit():
            try:
                if os.readlink(f'/proc/{d}/exe') == exe and alive(int(d)):
                    found.append(int(d))
            except OSError:
                pass
    return found


def descendants_of(root):
    """Live processes descended from root."""
    parent = {}
    for d in os.listdir('/proc'):
        if d.isdigit():
            try:
                with open(f'/proc/{d}/stat') as f:
                    parent[int(d)] = int(f.read().rsplit(')', 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    found, todo = [], [root]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        found += [c for c in kids if alive(c)]
        todo += kids
    return found


def start(suite, name, work, env=None):
    cmd = [sys.executable, RUN, '--suite', suite, '--name', name, '--out', work,
           '--only', 'event,status', '--runners', '2', '--', '-j1']
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def finish(p, name, work):
    out, _ = p.communicate(timeout=120)
    print('\n'.join('     | ' + x for x in out.strip().splitlines()[-6:]))
    with open(os.path.join(work, f'conformance-{name}.json')) as f:
        return p.returncode, json.load(f)


def case_abort(a):
    print('abort: the library aborts when loaded')
    rc, doc = finish(start(a.abort, 'abort', a.work), 'abort', a.work)
    check(rc == 2, f'exit status 2 (got {rc})')
    kinds = {r['result'] for r in doc['rows']}
    check(kinds == {'error'}, f'every one of {len(doc["rows"])} rows is error (got {sorted(kinds)})')
    check('SIGABRT' in doc['rows'][0]['message'],
          'the reason names the signal: ' + doc['rows'][0]['message'].splitlines()[0][:100])
    check(doc['summary']['error'] == len(doc['rows']) and doc['summary']['pass'] == 0,
          'summary: all error')


def case_broken(a):
    print('broken: failed assertion with descendants alive, a leaked child, a hung test')
    rc, doc = finish(start(a.ok, 'broken', a.work), 'broken', a.work)
    got = {k: v['result'] for k, v in results(doc).items()}
    want = {'EVT-CROSS-PROCESS': 'pass', 'EVT-NULL-ARGS': 'fail', 'EVT-SET-CLEAR': 'fail',
            'EVT-SET-WAKES-ALL': 'timeout', 'EVT-WAIT-TIMEOUT': 'pass',
            'ST-OK-ZERO': 'pass', 'ST-UNKNOWN': 'pass', 'ST-ERRMSG': 'pass'}
    check({k: got.get(k) for k in want} == want, f'row results {got}')
    check(all(v == 'absent' for k, v in got.items() if k not in want),
          'rows without a fixture test are absent')
    check(rc == 1, f'exit status 1 (got {rc})')
    check(all(r['status'] == 'exit status 0' and not r['error'] for r in doc['runners']),
          'no runner aborted: ' + ', '.join(f"{r['component']} {r['status']}" for r in doc['runners']))
    check(len(doc['leftovers']) >= 1, f"the hung test's orphans are leftovers: {doc['leftovers']}")
    check(not any(alive(p) for p in doc['leftovers']), 'every leftover is gone')
    check(not processes_of(a.ok), 'no process of the suite is left')


def case_killed(a):
    print('killed: the event runner is SIGKILLed midway')
    pids = os.path.join(a.work, 'runner-pids')
    if os.path.exists(pids):
        os.unlink(pids)
    env = dict(os.environ, MPT_RUNNER_PIDS=pids)
    p = start(a.ok, 'killed', a.work, env)
    log = os.path.join(a.work, 'conformance-killed.logs', 'event.log')
    killed, t0 = False, time.time()
    while not killed and time.time() - t0 < 60 and p.poll() is None:
        try:
            runner = {c: int(x) for c, x in (ln.split() for ln in open(pids))}.get('event')
            running = '[RUN ] event::EVT_SET_WAKES_ALL' in open(log).read()
        except (OSError, ValueError):
            runner, running = None, False
        # The test worker has started its child and grandchild: 3 below the runner.
        if runner and running and len(descendants_of(runner)) >= 3:
            os.kill(runner, signal.SIGKILL)
            killed = True
        else:
            time.sleep(0.02)
    check(killed, 'the event runner was killed while EVT_SET_WAKES_ALL ran')
    rc, doc = finish(p, 'killed', a.work)
    sock = f'/tmp/criterion_{runner}.sock'
    check(not os.path.lexists(sock), f'the killed runner left no socket file ({sock})')
    got = {k: v['result'] for k, v in results(doc).items()}
    want = {'EVT-CROSS-PROCESS': 'pass', 'EVT-NULL-ARGS': 'fail', 'EVT-SET-CLEAR': 'fail',
            'EVT-SET-WAKES-ALL': 'error', 'EVT-WAIT-TIMEOUT': 'error',
            'ST-OK-ZERO': 'pass', 'ST-UNKNOWN': 'pass', 'ST-ERRMSG': 'pass'}
    check({k: got.get(k) for k in want} == want, f'row results {got}')
    check(all(v == 'absent' for k, v in got.items() if k not in want),
          'rows without a fixture test are absent')
    msg = results(doc)['EVT-WAIT-TIMEOUT']['message']
    check('SIGKILL' in msg, 'the reason names the signal: ' + msg.splitlines()[0][:100])
    check(results(doc)['EVT-WAIT-TIMEOUT'].get('log', '').endswith('event.log'),
          'the row links the runner log')
    check(rc == 2, f'exit status 2 (got {rc})')
    check(len(doc['leftovers']) >= 1, f"the killed runner's workers are leftovers: {doc['leftovers']}")
    check(not processes_of(a.ok), 'no process of the suite is left')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--ok', required=True)
    ap.add_argument('--abort', required=True)
    ap.add_argument('--work', required=True)
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    t0 = time.time()
    case_abort(a)
    case_broken(a)
    case_killed(a)
    print(f'runner-selftest: {len(failures)} failed check(s) ({time.time() - t0:.1f} s)')
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
