#!/usr/bin/env python3
"""Regenerates the fixed report fixture (the committed JSON files are what
`make report-check` reads; this script only documents how they were made).

Three runs of impl "ref" on fixed synthetic data, A -> B -> C:
  B vs A: queue.stream ref size=64 throughput x0.75 (clear REGRESSION),
          pool.apply_async ref workers=2 x1.40 (clear IMPROVEMENT),
          queue.stream ref size=1024 x0.985 with 0.2% noise (significant but
          WITHIN NOISE), everything else the same distribution (NOT SIGNIFICANT:
          B's samples are A's, permuted, with +-0.1% jitter).
  C vs B: noise only, and measured on another host (different-machine warning).
process.start has 3 samples (too-few warning); manager.dict is unstable (30%).
Three conformance files: ref, cpython and `other` (one row of each result).

targets/run-t.json (a directory of its own, so it is no run of the others'
data directory): one run with the figures of reports/targets.json and known
ratios, read by reports/tests/test_targets.py and check.py (TARGETS_RUN's
comment lists the expected verdict of each target).
"""
import json
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))

MACHINE = {'hostname': 'ci-1', 'cpu_model': 'Intel(R) Xeon(R) Platinum 8272CL CPU @ 2.60GHz',
           'cores': 2, 'mem_bytes': 8 * 2 ** 30, 'kernel': '6.1.0-27-cloud-amd64',
           'virtualization': 'kvm', 'os': 'Debian GNU/Linux 12 (bookworm)'}
TOOLS = {'cc': 'gcc 12.2.0', 'cflags': '-O2 -g', 'python': '3.11.2',
         'hyperfine': '1.15.0', 'gnuplot': '5.4 patchlevel 4'}

QUEUE = {  # size -> msgs/s per impl
    64: {'ref': 2.0e6, 'cpython': 2.05e5, 'os.pipe': 1.5e6, 'os.shmring': 5.4e7},
    1024: {'ref': 1.5e6, 'cpython': 1.82e5, 'os.pipe': 8.4e5, 'os.shmring': 1.67e7},
    65536: {'ref': 6.0e4, 'cpython': 2.0e4, 'os.pipe': 2.5e4, 'os.shmring': 2.0e5},
    1048576: {'ref': 1.5e3, 'cpython': 4.96e2, 'os.pipe': 7.8e2, 'os.shmring': 1.4e4},
}
POOL = {1: {'ref': 2.0e5, 'cpython': 2.0e4}, 2: {'ref': 3.5e5, 'cpython': 2.6e4},
        4: {'ref': 3.8e5, 'cpython': 2.7e4}}
PINGPONG = {'ref': 20e-6, 'cpython': 61e-6, 'os.futex': 29e-6, 'os.pipe': 35e-6}
LOCK = {'ref': 25e-9, 'cpython': 55e-9, 'os.futex': 19e-9}
START = {'ref': 2.0e-4, 'cpython': 1.8e-3, 'os.fork': 1.6e-4}
MANAGER = {'ref': 5.0e4, 'cpython': 1.6e4}


def draw(rng, centre, noise, n):
    return [centre * rng.lognormvariate(0.0, noise) for _ in range(n)]


def base_results(rng):
    res = []

    def add(workload, impl, params, metric, unit, hib, samples, **extra):
        r = {'workload': workload, 'impl': impl, 'params': params, 'metric': metric,
             'unit': unit, 'higher_is_better': hib,
             'samples': [float(f'{x:.6g}') for x in samples], 'status': 'ok', 'message': ''}
        r.update(extra)
        res.append(r)

    for size, by in QUEUE.items():
        for impl, v in by.items():
            noise = 0.002 if (impl, size) == ('ref', 1024) else 0.02
            add('queue.stream', impl, {'size': size, 'producers': 1, 'consumers': 1,
                                       'api': 'bytes'},
                'throughput', 'msg/s', True, draw(rng, v, noise, 10))
    for w, by in POOL.items():
        for impl, v in by.items():
            add('pool.apply_async', impl, {'workers': w}, 'throughput', 'tasks/s', True,
                draw(rng, v, 0.03, 10))
    for impl, v in PINGPONG.items():
        s = draw(rng, v, 0.04, 10)
        add('pipe.pingpong', impl, {'size': 64}, 'latency', 's', False, s,
            p50=v, p99=v * 3.0)
    for impl, v in LOCK.items():
        add('lock.uncontended', impl, {}, 'time', 's', False, draw(rng, v, 0.03, 10))
    for impl, v in START.items():
        add('process.start', impl, {'method': 'fork'}, 'time', 's', False,
            draw(rng, v, 0.05, 3))
    for impl, v in MANAGER.items():
        add('manager.dict_set', impl, {}, 'throughput', 'ops/s', True,
            draw(rng, v, 0.30, 10))
    for name, by in (('tutorial_queue', {'ref': 4.0e-3, 'cpython': 4.5e-2}),
                     ('tutorial_lock', {'ref': 2.5e-3, 'cpython': 3.8e-2})):
        for impl, v in by.items():   # hyperfine wall times of whole programs
            add('tutorial.' + name, impl, {}, 'time', 's', False, draw(rng, v, 0.05, 10))
    res.append({'workload': 'sharedctypes.array', 'impl': 'ref', 'params': {},
                'metric': 'throughput', 'unit': 'ops/s', 'higher_is_better': True,
                'samples': [], 'status': 'unsupported', 'message': 'MP_ENOTSUP'})
    return res


def noise_copy(rng, results):
    """Same distribution: the samples permuted, with +-0.1% jitter."""
    out = []
    for r in results:
        r = json.loads(json.dumps(r))
        s = r['samples'][:]
        rng.shuffle(s)
        r['samples'] = [float(f'{x * (1 + rng.uniform(-0.001, 0.001)):.6g}') for x in s]
        out.append(r)
    return out


def scale(results, workload, impl, key, value, factor):
    for r in results:
        if r['workload'] == workload and r['impl'] == impl and r['params'].get(key) == value:
            r['samples'] = [float(f'{x * factor:.6g}') for x in r['samples']]


def run(rid, date, commit, results, machine=MACHINE, **extra):
    d = {'format': 'mp-bench', 'version': 1,
         'run': {'id': rid, 'date': date, 'kind': 'fixture', 'impl': 'ref',
                 'git': {'commit': commit, 'dirty': False, 'branch': 'main'},
                 'machine': machine, 'tools': TOOLS,
                 'params': {'samples': 10, 'sample_seconds': 0.2}},
         'results': results, 'hyperfine': []}
    d.update(extra)
    return d


def conformance(name, rows, machine=MACHINE):
    summ = {k: 0 for k in ('pass', 'fail', 'unsupported', 'crash', 'timeout', 'absent')}
    if any(r['result'] == 'error' for r in rows):
        summ['error'] = 0
    for r in rows:
        summ[r['result']] += 1
    return {'format': 'mp-conformance', 'version': 1,
            'impl': {'name': name, 'path': 'build/libmpref.a' if name == 'ref' else 'python3',
                     'build': {'cc': 'gcc 12.2.0', 'cflags': '-O2 -g', 'git': 'c0ffee1',
                               'dirty': False}},
            'machine': machine, 'date': '2026-11-22T10:00:00Z', 'rows': rows,
            'summary': summ, 'leftovers': []}


def conf_rows():
    spec = [('status', 'ST-OK-ZERO'), ('status', 'ST-UNKNOWN'), ('status', 'ST-ERRMSG'),
            ('queue', 'Q-PUT-GET-FIFO'), ('queue', 'Q-GET-TIMEOUT-EMPTY'),
            ('queue', 'Q-CLOSE-WAKES'), ('queue', 'Q-FULL-TIMEOUT'),
            ('pipe', 'P-DUPLEX-ROUNDTRIP'), ('pipe', 'P-EOF-ON-CLOSE'),
            ('pipe', 'P-POLL-TIMEOUT'), ('pool', 'POOL-MAP-ORDER'),
            ('pool', 'POOL-TERMINATE-KILLS')]
    ref, cpy = [], []
    for comp, rid in spec:
        r = {'id': rid, 'component': comp, 'result': 'pass', 'duration': 0.05, 'message': ''}
        c = dict(r, duration=0.4)
        if rid == 'Q-FULL-TIMEOUT':
            r.update(result='fail', message='test_queue.c:88: timed out after 0.05 s, want >= 0.1 s')
        if rid == 'POOL-TERMINATE-KILLS':
            r.update(result='unsupported', message='MP_ENOTSUP')
        if comp == 'status':
            c.update(result='absent', message='C-only row', duration=0.0)
        if rid == 'P-POLL-TIMEOUT':
            c.update(result='fail', message='poll returned early (CPython differs)')
        ref.append(r)
        cpy.append(c)
    return ref, cpy


# A third implementation with one row of each result the report must count.
OTHER = {'ST-OK-ZERO': ('absent', 'C-only row'), 'Q-PUT-GET-FIFO': ('fail', 'AssertionError: order'),
         'Q-GET-TIMEOUT-EMPTY': ('crash', 'signal 11'),
         'Q-CLOSE-WAKES': ('timeout', 'no result after 60 s'),
         'POOL-TERMINATE-KILLS': ('unsupported', 'mod lacks Pool.terminate'),
         'P-EOF-ON-CLOSE': ('error', 'twins_pipe does not import: SyntaxError')}


def other_rows(cpy):
    return [dict(c, **dict(zip(('result', 'message'), OTHER[c['id']])))
            if c['id'] in OTHER else dict(c, result='pass', message='') for c in cpy]


def dump(name, d):
    with open(os.path.join(HERE, name), 'w') as f:
        json.dump(d, f, indent=1)
        f.write('\n')


# reports/targets.json's figures, impl -> median (11 samples around it, the
# same factors for every side, so every per-round ratio is the ratio of the
# medians and its interval is that one value), cpu_s per sample when given
# (1000 operations a sample), and optionally the side's own factors.
# Expected (noise 0.05): queue-bytes 0.30 met; queue-value 0.08 missed;
# ring-check 0.625 met; pipe-pingpong 0.6 missed; event-pingpong 0.2 met;
# process 1.25 met; pingpong-pairs4 1.04 met (within the noise allowance);
# pingpong-cpus1 1.5 missed; pingpong-pairs4-cpus1 not measured (absent);
# event-cpus1 not measured (ref's result is an error); event-pairs4 1.0 not
# decided (ref's rounds swing 0.8x-1.3x: the interval [0.85, 1.25] holds 1.05);
# event-pairs4-cpus1 1.0 not decided (5 rounds: no 95% interval);
# pingpong-hogs2, event-hogs2 not measured (absent);
# cpu-queue-bytes 1.33 met; cpu-pipe-pingpong 2.5 missed; cpu-event-pingpong
# not measured (old records no CPU); cpu-process not measured (old has no
# such figure).
FACTORS = (0.99, 1.0, 1.01, 1.0, 1.02, 0.98, 1.0, 1.01, 0.995, 1.0, 1.005)
SWING = (0.8, 1.3, 0.9, 1.2, 1.0, 0.85, 1.25, 1.0, 0.95, 1.1, 1.05)
Q64 = {'kind': 'Queue', 'size': 64, 'producers': 1, 'consumers': 1}
PP = {'duplex': True, 'api': 'bytes', 'size': 64}
TARGETS_RUN = [
    ('queue.stream', dict(Q64, api='bytes'), 'throughput', 'msg/s',
     {'ref': (3.0e6, 0.002), 'old': (2.5e6, 0.0015), 'os.ring': (1.0e7, 0.0002),
      'os.ringcheck': (1.6e7, 0.0002)}),
    ('queue.stream', dict(Q64, api='value'), 'throughput', 'msg/s', {'ref': (0.8e6, 0.003)}),
    ('pipe.pingpong', PP, 'latency', 's',
     {'ref': (12e-6, 0.05), 'old': (15e-6, 0.02), 'os.sockbuf': (20e-6, 0.03)}),
    ('pipe.pingpong', dict(PP, pairs=4), 'latency', 's',
     {'ref': (41.6e-6, 0.1), 'os.sockbuf': (40e-6, 0.1)}),
    ('pipe.pingpong', dict(PP, cpus=1), 'latency', 's',
     {'ref': (30e-6, 0.03), 'os.sockbuf': (20e-6, 0.02)}),
    ('event.pingpong', {}, 'latency', 's',
     {'ref': (5e-6, 0.01), 'old': (6e-6, None), 'os.futex': (25e-6, 0.05)}),
    ('event.pingpong', {'cpus': 1}, 'latency', 's', {'ref': None, 'os.futex': (9e-6, 0.02)}),
    ('event.pingpong', {'pairs': 4}, 'latency', 's',
     {'ref': (40e-6, None, SWING), 'os.futex': (40e-6, None, (1.0,) * 11)}),
    ('event.pingpong', {'pairs': 4, 'cpus': 1}, 'latency', 's',
     {'ref': (60e-6, None, FACTORS[:5]), 'os.futex': (60e-6, None, FACTORS[:5])}),
    ('process.start_join', {}, 'latency', 's', {'ref': (2.0e-4, 0.2), 'os.fork': (1.6e-4, 0.15)}),
]


def targets_results():
    res = []
    for w, params, metric, unit, by in TARGETS_RUN:
        for impl, v in by.items():
            r = {'workload': w, 'impl': impl, 'params': params, 'metric': metric, 'unit': unit,
                 'higher_is_better': metric == 'throughput', 'samples': [], 'status': 'ok',
                 'message': '', 'ops_per_sample': 1000}
            if v is None:
                r.update(status='error', message='child 0 ended in the middle of a round')
            else:
                factors = v[2] if len(v) > 2 else FACTORS
                r['samples'] = [float(f'{v[0] * k:.6g}') for k in factors]
                if v[1] is not None:
                    r['cpu_s'] = [v[1]] * len(factors)
                    r['minflt'] = [0] * len(factors)
            res.append(r)
    return res


A_COMMIT = 'a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1'
BASE = 'base-a1a1a1a'


def regress_run(rid, date, commit, base_res, ref_res):
    """A regress run (make regress): ref beside BASE, run A's code."""
    results = [dict(r, impl=BASE) for r in base_res] + ref_res
    d = run(rid, date, commit, results)
    d['run']['kind'] = 'regress'
    d['run']['params'].update(impl_b={BASE: 'build/bench/mpbench-b-' + BASE}, only=[])
    d['run']['regress'] = {'base': BASE, 'base_commit': A_COMMIT,
                           'base_mpbench': 'build/bench/mpbench-b-' + BASE}
    return d


def regress_fixtures(a):
    """regress/: regress runs judged against run A as the baseline (whose
    commit is A_COMMIT), each side drawn from A's ref figures, the machine
    20% slower than in run A (the drift the verdict must not see):
      run-r (commit c3c3..., run C's): ref's queue.stream size=64 x0.75
        (REGRESSED), pool.apply_async workers=2 x1.40 (IMPROVED), the rest
        noise; sharedctypes.array unsupported on both sides (not judged);
      run-ok (commit e5e5...): noise only (exit 0);
    every figure has at least 10 samples a side (process.start's 3 repeated),
    enough for the Holm-adjusted verdict over 13 figures;
      run-err (commit e5e5...): noise, but ref's pipe.pingpong an error
        (exit 2: unjudged)."""
    rng = random.Random(9)
    mine = [r for r in a if r['impl'] == 'ref']
    slow = json.loads(json.dumps(mine))
    for r in slow:
        f = 0.8 if r['higher_is_better'] else 1.25
        xs = (r['samples'] * 4)[:max(10, len(r['samples']))]  # 10 samples: enough to judge
        r['samples'] = [float(f'{x * f:.6g}') for x in xs]
    base, ref = noise_copy(rng, slow), noise_copy(rng, slow)
    scale(ref, 'queue.stream', 'ref', 'size', 64, 0.75)
    scale(ref, 'pool.apply_async', 'ref', 'workers', 2, 1.40)
    os.makedirs(os.path.join(HERE, 'regress'), exist_ok=True)
    dump(os.path.join('regress', 'run-r.json'),
         regress_run('20261122T110000Z-c3c3c3c', '2026-11-22T11:00:00Z',
                     'c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3', base, ref))
    base, ref = noise_copy(rng, slow), noise_copy(rng, slow)
    dump(os.path.join('regress', 'run-ok.json'),
         regress_run('20261124T100000Z-e5e5e5e', '2026-11-24T10:00:00Z',
                     'e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5', base, ref))
    for r in ref:
        if r['workload'] == 'pipe.pingpong':
            r.update(status='error', samples=[], message='timed out after 60 s')
    dump(os.path.join('regress', 'run-err.json'),
         regress_run('20261124T110000Z-e5e5e5e', '2026-11-24T11:00:00Z',
                     'e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5', base, ref))


def main():
    rng = random.Random(8)
    a = base_results(rng)
    b = noise_copy(rng, a)
    scale(b, 'queue.stream', 'ref', 'size', 64, 0.75)
    scale(b, 'pool.apply_async', 'ref', 'workers', 2, 1.40)
    scale(b, 'queue.stream', 'ref', 'size', 1024, 0.985)
    c = noise_copy(rng, b)
    dump('run-a.json', run('20261120T100000Z-a1a1a1a', '2026-11-20T10:00:00Z',
                           'a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1', a))
    dump('run-b.json', run('20261121T100000Z-b2b2b2b', '2026-11-21T10:00:00Z',
                           'b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2', b))
    dump('run-c.json', run('20261122T100000Z-c3c3c3c', '2026-11-22T10:00:00Z',
                           'c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3', c,
                           machine=dict(MACHINE, hostname='ci-2'),
                           future_field={'readers': 'must ignore this'}))
    t = run('20261123T100000Z-d4d4d4d', '2026-11-23T10:00:00Z',
            'd4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4', targets_results())
    t['run']['params']['impl_b'] = {'old': 'build/bench/mpbench-b-old'}
    os.makedirs(os.path.join(HERE, 'targets'), exist_ok=True)
    dump(os.path.join('targets', 'run-t.json'), t)
    regress_fixtures(a)
    ref, cpy = conf_rows()
    dump('conformance-ref.json', conformance('ref', ref))
    dump('conformance-cpython.json', conformance('cpython', cpy))
    dump('conformance-other.json', conformance('other', other_rows(cpy)))


if __name__ == '__main__':
    main()
