#!/usr/bin/env python3
"""Run the Python twins of the catalogue against CPython's multiprocessing.

A twin is a function named after its row (Q-GET-TIMEOUT-EMPTY -> Q_GET_TIMEOUT_EMPTY)
in conformance/python/twins_<component>.py; it raises AssertionError when CPython
does not behave as the row says.  Each twin runs in its own interpreter with a
timeout, so a hang or a crash is that row's result, never the runner's.

Rows whose `cpython` column is 'C-only: ...' are recorded as `absent` with the
reason; rows marked 'differs: ...' run their twin and record the outcome with
the catalogue's explanation.  Output: reports/out/conformance-cpython.json in
the format of conformance/FORMAT.md.  Standard library only.
"""
import argparse, concurrent.futures as cf, datetime, importlib.util, json, os, platform, \
    subprocess, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import catalogue  # noqa: E402
import run as crun  # noqa: E402


def twins_of(component):
    path = os.path.join(HERE, f'twins_{component}.py')
    if not os.path.exists(path):
        return set()
    spec = importlib.util.spec_from_file_location(f'twins_{component}', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return {n for n in dir(mod) if n.isupper() and callable(getattr(mod, n))}


def run_one(component, fn, timeout):
    code = (f'import sys; sys.path.insert(0, {HERE!r}); import twins_{component} as m; '
            f'm.{fn}()')
    t0 = time.time()
    try:
        p = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                           timeout=timeout, start_new_session=True)
    except subprocess.TimeoutExpired:
        return 'timeout', time.time() - t0, f'no result after {timeout} s'
    dur = time.time() - t0
    if p.returncode == 0:
        return 'pass', dur, ''
    err = p.stderr.strip().splitlines()
    last = err[-1] if err else f'exit {p.returncode}'
    if p.returncode < 0:
        return 'crash', dur, f'signal {-p.returncode}: {last}'
    return 'fail', dur, '\n'.join(err[-6:])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--out', default='reports/out')
    ap.add_argument('--timeout', type=float, default=60)
    ap.add_argument('--filter', default='')
    a = ap.parse_args()
    rows, _ = catalogue.load()
    rows = [r for r in rows if a.filter in r['id']]
    cache, jobs = {}, {}
    out = []
    with cf.ThreadPoolExecutor(max_workers=2) as ex:
        for r in rows:
            comp, fn = r['component'], r['id'].replace('-', '_')
            cp = r.get('cpython', '').strip()
            if comp not in cache:
                cache[comp] = twins_of(comp)
            if cp.startswith('C-only'):
                continue
            if fn in cache[comp]:
                jobs[r['id']] = ex.submit(run_one, comp, fn, a.timeout)
        for r in rows:
            cp = r.get('cpython', '').strip()
            if r['id'] in jobs:
                res, dur, msg = jobs[r['id']].result()
                if cp.startswith('differs') and res != 'pass':
                    msg = f'{cp} | {msg}'
            elif cp.startswith('C-only'):
                res, dur, msg = 'absent', 0.0, cp
            else:
                res, dur, msg = 'absent', 0.0, 'no Python twin written yet'
            out.append({'id': r['id'], 'component': r['component'], 'result': res,
                        'duration': round(dur, 4), 'message': msg[:2000]})
    summary = dict.fromkeys(['pass', 'fail', 'unsupported', 'crash', 'timeout', 'absent'], 0)
    for r in out:
        summary[r['result']] += 1
    doc = {'format': 'mp-conformance', 'version': 1,
           'impl': {'name': 'cpython', 'path': sys.executable,
                    'build': {'python': platform.python_version(),
                              'implementation': platform.python_implementation()}},
           'machine': crun.machine(),
           'date': datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ'),
           'rows': out, 'summary': summary, 'leftovers': []}
    os.makedirs(a.out, exist_ok=True)
    path = os.path.join(a.out, 'conformance-cpython.json')
    with open(path, 'w') as f:
        json.dump(doc, f, indent=1)
    print('conformance[cpython]: ' + ', '.join(f'{k} {v}' for k, v in summary.items()) +
          f' -> {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
