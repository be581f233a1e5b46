#!/usr/bin/env python3
"""The report: conformance matrix, benchmark tables and gnuplot plots.

  report.py make --make MAKE [--impl ref] [--impl-path LIB]
        the `make report` job: runs `make conformance` / `make bench` when no
        fresh results exist, then renders reports/out/{index.html,report.md}
  report.py render [--data-dir D] [--conf-dir C] [--out O] [--impl ref]
        renders from whatever results exist (no make)
  report.py matrix [--conf-dir C] [--out O]
        the conformance matrix alone (matrix.md, matrix.html)
  report.py fresh {bench,conformance} [--impl ref]
        exit 0 if fresh results exist, 1 if not

Fresh: the results were made at the current git commit (HEAD) and are newer
than every source file they depend on (so uncommitted edits make them stale).
"""
import argparse
import html
import json
import os
import re
import shutil
import subprocess
import sys
import time

import compare as C
import plots as P
import runs as R
import stats as S
import targets as TG

SCALE_KEYS = ('workers', 'processes', 'producers', 'nworkers', 'pool_size')
SIZE_KEYS = ('size',)
RESULT_ORDER = ('pass', 'fail', 'unsupported', 'crash', 'timeout', 'absent', 'error')


# ---------------------------------------------------------------- freshness
def _git(*args):
    try:
        r = subprocess.run(['git', '-C', R.ROOT] + list(args), capture_output=True,
                           text=True, timeout=30)
        return r.stdout.strip() if r.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def head_commit():
    return _git('rev-parse', 'HEAD')


def newest_source_mtime(dirs, extra=()):
    newest = 0.0
    for d in dirs:
        base = os.path.join(R.ROOT, d)
        if os.path.isfile(base):
            newest = max(newest, os.path.getmtime(base))
            continue
        for root, subdirs, files in os.walk(base):
            subdirs[:] = [s for s in subdirs if s not in ('__pycache__', 'out', 'data')]
            for f in files:
                if not f.endswith(('.pyc', '.log')):
                    newest = max(newest, os.path.getmtime(os.path.join(root, f)))
    for f in extra:
        if f and os.path.exists(f):
            newest = max(newest, os.path.getmtime(f))
    return newest


BENCH_SOURCES = ('ref/src', 'ref/include', 'bench', 'Makefile')
CONF_SOURCES = ('ref/src', 'ref/include', 'conformance', 'Makefile')
CPY_SOURCES = ('conformance/python', 'conformance/catalogue')


def _same_commit(a, b):
    return bool(a and b) and (a.startswith(b) or b.startswith(a)) and min(len(a), len(b)) >= 7


def fresh_bench(data_dir, impl, impl_path=None):
    """(run or None, reason)."""
    head = head_commit()
    cands = R.list_runs(data_dir, impl=impl, kinds=('full', 'quick'))
    if not cands:
        return None, f'no benchmark run of {impl} in {R.rel(data_dir)}'
    d = cands[-1]
    commit = d['run'].get('git', {}).get('commit', '')
    if not _same_commit(commit, head or ''):
        return None, f'latest run {d["run"].get("id")} is of commit {commit[:7] or "?"}, HEAD is {(head or "?")[:7]}'
    if os.path.getmtime(d['_path']) < newest_source_mtime(BENCH_SOURCES, [impl_path]):
        return None, f'latest run {d["run"].get("id")} is older than the sources (uncommitted edits)'
    return d, f'run {d["run"].get("id")} is of HEAD and newer than the sources'


def fresh_conformance(conf_dir, impl, impl_path=None):
    path = os.path.join(conf_dir, f'conformance-{impl}.json')
    try:
        d = R.load_conformance(path)
    except R.InputError as e:
        return None, str(e)
    if impl == 'cpython':
        if os.path.getmtime(path) < newest_source_mtime(CPY_SOURCES):
            return None, f'{R.rel(path)} is older than the Python twins'
        return d, f'{R.rel(path)} is newer than the Python twins'
    build = (d.get('impl') or {}).get('build') or {}
    commit, head = str(build.get('git') or ''), head_commit() or ''
    if not _same_commit(commit, head):
        return None, f'{R.rel(path)} is of commit {commit[:7] or "?"}, HEAD is {head[:7] or "?"}'
    if os.path.getmtime(path) < newest_source_mtime(CONF_SOURCES, [impl_path]):
        return None, f'{R.rel(path)} is older than the sources (uncommitted edits)'
    return d, f'{R.rel(path)} is of HEAD and newer than the sources'


def run_make(make, target, args, log_dir):
    """Runs `make target`; returns (status, detail) with status ran|failed|missing."""
    os.makedirs(log_dir, exist_ok=True)
    log = os.path.join(log_dir, f'{target}.log')
    cmd = make.split() + ['--no-print-directory', '-C', R.ROOT, target] + args
    print(f'report: running {" ".join([target] + args)} (log: {R.rel(log)})', flush=True)
    t0 = time.monotonic()
    with open(log, 'w') as f:
        # close_fds=False keeps make's jobserver descriptors for the sub-make.
        rc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, close_fds=False).returncode
    dt = time.monotonic() - t0
    text = open(log, errors='replace').read()
    if rc != 0 and re.search(r"No rule to make target '?" + re.escape(target), text):
        return 'missing', f'`make {target}` does not exist yet (no rule to make target)'
    if rc != 0:
        tail = ' | '.join(text.strip().splitlines()[-3:])
        return 'failed', (f'`make {target}` exited {rc} after {dt:.0f} s '
                          f'(see {R.rel(log)}): {tail[:300]}')
    return 'ran', f'`make {target}` succeeded in {dt:.0f} s'


# ---------------------------------------------------------------- formatting
def _prefix(v, unit):
    """(factor, unit label) for a value, SI style."""
    if unit == 's':
        for f, u in ((1.0, 's'), (1e3, 'ms'), (1e6, 'us'), (1e9, 'ns')):
            if abs(v) * f >= 1.0:
                return f, u
        return 1e9, 'ns'
    for f, p in ((1e-9, 'G'), (1e-6, 'M'), (1e-3, 'k')):
        if abs(v) * f >= 1.0:
            return f, f'{p} {unit}'
    return 1.0, unit


def _num(x):
    return f'{x:.3g}'


def fmt_median_ci(s, unit):
    f, u = _prefix(s['median'], unit)
    return f'{_num(s["median"] * f)} [{_num(s["ci_low"] * f)}, {_num(s["ci_high"] * f)}] {u}'


def fmt_spread(s, unit):
    f, u = _prefix(s['median'], unit)
    return ' / '.join(_num(s[k] * f) for k in ('p05', 'p25', 'p75', 'p95')) + f' {u}'


def fmt_range(s, unit):
    f, u = _prefix(s['median'], unit)
    return f'{_num(s["min"] * f)} .. {_num(s["max"] * f)} {u}'


def cost_cells(r):
    """(operations per CPU-second, minor faults per operation) of a result
    that records its cost (cpu_s and minflt per sample, ops_per_sample), as
    medians over its samples; '' where it does not.  CPU is that of every
    process of the side, so 2 busy processes at 1 M msg/s show 0.5 M/CPU-s."""
    n = r.get('ops_per_sample') or 0
    cpu, flt = r.get('cpu_s'), r.get('minflt')
    per_cpu = per_op = ''
    if n > 0 and cpu and len(cpu) == len(r.get('samples') or []):
        vals = sorted(n / c for c in cpu if c > 0)
        if vals:
            per_cpu = _num((vals[(len(vals) - 1) // 2] + vals[len(vals) // 2]) / 2)
    if n > 0 and flt and len(flt) == len(r.get('samples') or []):
        f = sorted(flt)
        per_op = _num((f[(len(f) - 1) // 2] + f[len(f) // 2]) / 2 / n)
    return per_cpu, per_op


def cpu_per_op(r):
    """(median, min, max) CPU seconds per operation over r's samples, or
    None when r does not record its cost."""
    n = r.get('ops_per_sample') or 0
    cpu = r.get('cpu_s')
    if n <= 0 or not cpu or len(cpu) != len(r.get('samples') or []):
        return None
    v = sorted(c / n for c in cpu)
    return (v[(len(v) - 1) // 2] + v[len(v) // 2]) / 2, v[0], v[-1]


# ---------------------------------------------------------------- bench model
class Bench:
    """The figures the report shows: the primary run (all its impls) plus the
    latest run of every other tested implementation."""

    def __init__(self, data_dir, impl, primary=None, alpha=C.ALPHA, noise=C.NOISE):
        self.impl, self.alpha, self.noise = impl, alpha, noise
        self.runs = R.list_runs(data_dir)
        self.history = [d for d in self.runs if d['run'].get('impl') == impl]
        # The primary run: the latest that measured everything, not a
        # targets-only run (make bench-targets), unless there is no other.
        whole = [d for d in self.history if not targets_only(d)]
        self.primary = primary or (whole or self.history or [None])[-1]
        self.figures = []         # (result, run)
        self.other_runs = []
        if not self.primary:
            return
        for r in self.primary['results']:
            self.figures.append((r, self.primary))
        own = {r['impl'] for r in self.primary['results']}
        self.machine = R.machine_of(self.primary)
        # Other implementations' latest runs: from the primary's machine when
        # there is one (a run from another machine is used only when none is,
        # and its notes say so).
        latest_other = {}
        for d in self.runs:
            ri = d['run'].get('impl')
            if ri and ri != impl and ri not in own:
                if ri in latest_other and R.machine_of(latest_other[ri]) == self.machine \
                        and R.machine_of(d) != self.machine:
                    continue
                latest_other[ri] = d
        for ri, d in sorted(latest_other.items()):
            self.other_runs.append(d)
            for r in d['results']:
                if r['impl'] == ri:
                    self.figures.append((r, d))
        self._summ = {}

    def summary(self, r):
        k = id(r)
        if k not in self._summ:
            self._summ[k] = S.summary(r['samples'])
        return self._summ[k]

    def tested_impls(self):
        seen = []
        for r, _ in self.figures:
            i = r['impl']
            if i != 'cpython' and not i.startswith('os.') and i not in seen:
                seen.append(i)
        return seen

    def all_impls(self):
        seen = []
        for r, _ in sorted(self.figures, key=lambda f: R.impl_rank(f[0]['impl'])):
            if r['impl'] not in seen:
                seen.append(r['impl'])
        return seen

    def find(self, r, impl):
        k = R.figure_key(r, with_impl=False)
        for x, _ in self.figures:
            if x['impl'] == impl and R.figure_key(x, with_impl=False) == k:
                return x
        return None

    def vs(self, r, ref):
        """r compared with ref (ref = A, r = B): (slowdown, lo, hi, p, verdict)."""
        if not (R.usable(r) and R.usable(ref)) or r.get('unit') != ref.get('unit'):
            return None
        sd, lo, hi = C._slowdown(ref, r)
        p = S.mann_whitney(ref['samples'], r['samples'])[1]
        return sd, lo, hi, p, S.verdict(lo, hi, p, self.alpha, self.noise)

    def workloads(self):
        out = {}
        for r, d in self.figures:
            out.setdefault(r.get('workload', '?'), []).append((r, d))
        for w in out:
            out[w].sort(key=lambda f: R.sort_key(f[0]))
        return dict(sorted(out.items()))


def varying_params(figs):
    keys = sorted({k for r, _ in figs for k in (r.get('params') or {})})
    vary, const = [], {}
    for k in keys:
        vals = {json.dumps((r.get('params') or {}).get(k), sort_keys=True) for r, _ in figs}
        if len(vals) > 1:
            vary.append(k)
        else:
            const[k] = (figs[0][0].get('params') or {}).get(k)
    return vary, const


# ---------------------------------------------------------------- sections
def bench_tables(bench):
    """[(workload, const params, header, rows, notes)] with plain-text cells."""
    out = []
    for w, figs in bench.workloads().items():
        vary, const = varying_params(figs)
        os_impls = sorted({r['impl'] for r, _ in figs if r['impl'].startswith('os.')})
        has_cpy = any(r['impl'] == 'cpython' for r, _ in figs)
        metrics = sorted({r.get('metric', '') for r, _ in figs})
        has_cost = any(r.get('cpu_s') or r.get('minflt') for r, _ in figs)
        head = vary + ['impl'] + (['metric'] if len(metrics) > 1 else []) + \
            ['n', 'median [95% CI]', 'P05 / P25 / P75 / P95', 'min .. max'] + \
            (['ops per CPU-s', 'faults / op'] if has_cost else [])
        if has_cpy:
            head.append('vs cpython')
        head += [f'vs {o}' for o in os_impls]
        head.append('notes')
        rows, notes = [], []
        for r, d in figs:
            row = [str((r.get('params') or {}).get(k, '')) for k in vary] + [r['impl']]
            if len(metrics) > 1:
                row.append(r.get('metric', ''))
            note = []
            if d is not bench.primary:
                note.append(f'from run {d["run"].get("id")} (not interleaved)')
                if R.machine_of(d) != bench.machine:
                    note.append(f'ANOTHER MACHINE: {R.machine_of(d)}; not comparable')
            if not R.usable(r):
                row += [str(len(r.get('samples') or [])), r.get('status', '?'), '', '']
                if has_cost:
                    row += ['', '']
                if has_cpy:
                    row.append('')
                row += [''] * len(os_impls)
                note.append(r.get('message') or 'no usable samples')
                row.append('; '.join(note))
                rows.append(row)
                continue
            s = bench.summary(r)
            unit = r.get('unit', '')
            row += [str(s['n']), fmt_median_ci(s, unit), fmt_spread(s, unit), fmt_range(s, unit)]
            if has_cost:
                row += list(cost_cells(r))
            refs = (['cpython'] if has_cpy else []) + os_impls
            for ref_impl in refs:
                ref = bench.find(r, ref_impl) if ref_impl != r['impl'] else None
                v = bench.vs(r, ref) if ref else None
                if v is None:
                    row.append('')
                    continue
                sd, lo, hi, p, verdict = v
                cell = S.fmt_factor(sd, lo, hi)
                if verdict == S.NOT_SIGNIFICANT:
                    cell += f' (n.s., p={p:.2f})'
                if is_not_a_floor(r, ref_impl, verdict):
                    cell += ' ' + NOT_A_FLOOR
                row.append(cell)
            note += S.sample_warnings(r['samples'])
            if 'p50' in r or 'p99' in r:
                f, u = _prefix(r.get('p50', r.get('p99')), unit)
                note.append('per-op ' + ', '.join(f'{k} {_num(r[k] * f)} {u}'
                                                  for k in ('p50', 'p99') if k in r))
            row.append('; '.join(note))
            rows.append(row)
        if const:
            notes.append('all rows: ' + ', '.join(f'{k}={v}' for k, v in const.items()))
        if has_cost:
            notes.append('ops per CPU-s: operations of a sample / CPU seconds (user + system) '
                         'of every process of that side in it; faults / op: its minor page '
                         'faults per operation (medians over the samples)')
        if any((r.get('params') or {}).get('malloc') == 'fixed' for r, _ in figs):
            notes.append('malloc=fixed: both sides ran with the same glibc thresholds '
                         '(MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_, MALLOC_TOP_PAD_: '
                         'run.params.malloc_fixed_env); other rows: glibc defaults')
        out.append((w, const, head, rows, notes))
    return out


NOT_A_FLOOR = '[floor not a floor]'


def is_not_a_floor(r, floor_impl, verdict):
    """True when implementation r (not CPython, not a floor) beats the OS
    floor floor_impl beyond noise: that floor is not the best a careful C
    program does, and ratios against it say little (#16)."""
    return (floor_impl.startswith('os.') and verdict == S.IMPROVED and
            r['impl'] != 'cpython' and not r['impl'].startswith('os.'))


def floors_beaten(bench):
    """[(figure label, impl, floor, 'Nx faster ...')] of every figure of the
    primary run that beats one of its floors beyond noise."""
    out = []
    for r, d in bench.figures:
        if d is not bench.primary or not R.usable(r) or r['impl'].startswith('os.') \
                or r['impl'] == 'cpython':
            continue
        for fl in sorted({x['impl'] for x, _ in bench.figures if x['impl'].startswith('os.')}):
            ref = bench.find(r, fl)
            v = bench.vs(r, ref) if ref else None
            if v and is_not_a_floor(r, fl, v[4]):
                out.append((R.figure_label(r), r['impl'], fl, S.fmt_factor(*v[:3])))
    return out


def machines_lines(bench):
    """The runs of the data directory grouped by machine, the primary's first."""
    by = {}
    for d in bench.runs:
        by.setdefault(R.machine_of(d), []).append(d)
    if len(by) <= 1:
        return [f'all {len(bench.runs)} runs come from one machine: {bench.machine}']
    out = [f'runs from {len(by)} machines; figures are compared only within one machine '
           'unless a line says otherwise']
    for m in sorted(by, key=lambda m: (m != bench.machine, m)):
        runs = by[m]
        impls = sorted({d['run'].get('impl', '?') for d in runs})
        out.append(f'machine {m}{" (this report)" if m == bench.machine else ""}: '
                   f'{len(runs)} runs ({", ".join(impls)}), latest {runs[-1]["run"].get("id")}')
    return out


def regress_of(bench, data_dir, baseline, alpha, noise):
    """The verdict of the latest regress run (make regress, in
    <data_dir>/regress) of the primary run's commit: (comparison, problems)
    or None.  Only such a run judges regressions: it measures the baseline's
    code beside this code in one interleaved run."""
    commit = bench.primary['run'].get('git', {}).get('commit')
    rdir = os.path.join(data_dir, 'regress')
    if not commit or not os.path.isdir(rdir) or not os.path.exists(baseline):
        return None
    runs = [d for d in R.list_runs(rdir, impl=bench.impl, kinds=('regress',))
            if d['run'].get('git', {}).get('commit') == commit]
    if not runs:
        return None
    try:
        return C.regress_verdict(R.load_run(baseline), runs[-1], bench.impl, alpha, noise)
    except R.InputError:
        return None


def regress_line(rv):
    if rv is None:
        return ('regression verdict: no `make regress` run of this commit (it measures the '
                'baseline\'s code beside this code in one run; a comparison across runs cannot '
                'tell the code from the machine\'s drift)')
    c, problems = rv
    s = c['summary']
    verdict = ('REGRESSED' if s['regressed'] else
               f'not judged ({len(problems)} problems)' if problems else 'no regression')
    return (f'regression verdict (`make regress` run {c["b"]["title"]}, this code beside '
            f'{c["regress"]["base"]}, the baseline\'s code, in one run): {verdict} '
            f'({C.summary_line(c)})')


def speed_glance(bench, baseline_cmp, rv=None):
    """Lines for the top of the page: each headline figure of each tested
    implementation against CPython (ratio of medians, 95% interval), the
    regression verdict of `make regress` and the change across runs against
    the baseline or previous run (machine drift included: not a verdict)."""
    out = []
    for r in headline_figures(bench):
        ref = bench.find(r, 'cpython')
        v = bench.vs(r, ref) if ref is not None else None
        if v is None:
            continue
        sd, lo, hi, p, verdict = v
        out.append(f'{R.figure_label(r)}: {S.fmt_factor(sd, lo, hi)} than CPython'
                   + (' (not significant)' if verdict == S.NOT_SIGNIFICANT else ''))
    out.append(regress_line(rv))
    if baseline_cmp is not None:
        c, what = baseline_cmp
        out.append(f'change against {what}, across runs (the machine\'s drift included, '
                   f'so not a verdict): {C.summary_line(c)}')
    return out


TARGETS_TITLE = 'Speed targets (issue #16)'


def targets_only(d):
    """Whether run d is a targets-only run (make bench-targets)."""
    return bool((d['run'].get('params') or {}).get('targets_only'))


def targets_run(bench):
    """The run the targets table is computed on: the latest targets-only run
    (make bench-targets: 21 rounds, enough for an interval) of the primary's
    commit and machine, else the primary itself.  Either way ONE run."""
    commit = (bench.primary['run'].get('git') or {}).get('commit')
    for d in reversed(bench.history):
        if targets_only(d) and commit and (d['run'].get('git') or {}).get('commit') == commit \
                and R.machine_of(d) == bench.machine:
            return d
    return bench.primary


def speed_targets(bench, noise, errors):
    """(lines, head, rows) of the targets table (reports/targets.json) on one
    run (targets_run): both figures of a ratio come from one interleaved run.
    A targets table that does not load is a problem of the report (errors)."""
    d = targets_run(bench)
    try:
        rows = TG.evaluate(d, bench.impl, noise)
    except (OSError, ValueError) as e:
        errors.append(f'speed targets: {e}')
        return [], [], []
    run = d['run']
    lines = [f'{TG.summary_line(rows)}; run {run.get("id")}'
             + (' (make bench-targets, the same commit as the report\'s run)'
                if d is not bench.primary else '') + '; definitions: reports/targets.json']
    if run.get('kind') == 'quick':
        lines.append('a quick run (make bench-quick): one tiny sample per side, not a '
                     'measurement; these verdicts mean nothing')
    head, cells = TG.table(rows)
    return lines, head, cells


def floors_lines(bench):
    beaten = floors_beaten(bench)
    if not beaten:
        return ['Every figure is at or below each of its OS floors (none beaten beyond noise).']
    return [f'{NOT_A_FLOOR} {lab}: {impl} is {f} than {fl}; that floor is not the limit'
            for lab, impl, fl, f in beaten]


def _series_colour(bench):
    return P.impl_colours(bench.all_impls())


def make_plots(bench, out_dir, baseline_cmp, errors):
    """[(section, title, stem relative to out_dir)]"""
    pdir = os.path.join(out_dir, 'plots')
    shutil.rmtree(pdir, ignore_errors=True)     # no stale plots from an earlier report
    os.makedirs(pdir, exist_ok=True)
    made = []
    colours = _series_colour(bench)

    def attempt(section, title, stem, fn, *a, **k):
        try:
            fn(os.path.join(pdir, stem), *a, **k)
            made.append((section, title, 'plots/' + stem))
        except P.PlotError as e:
            errors.append(str(e))

    def point(r):
        s = bench.summary(r)
        return s['median'], s['ci_low'], s['ci_high']

    # Throughput (or any higher-is-better figure) against message size.
    for key_param, section, xlabel in ((SIZE_KEYS, 'size', 'message size (bytes, log scale)'),
                                       (SCALE_KEYS, 'scaling', 'worker processes')):
        groups = {}
        for r, _ in bench.figures:
            params = r.get('params') or {}
            k = next((k for k in key_param if isinstance(params.get(k), (int, float))), None)
            if not k or not R.usable(r) or not r.get('higher_is_better'):
                continue
            rest = {a: b for a, b in params.items() if a != k}
            g = (r.get('workload'), r.get('metric'), r.get('unit'), R.canon(rest), k)
            groups.setdefault(g, []).append(r)
        for (w, metric, unit, rest, k), rs in sorted(groups.items()):
            xs = sorted({r['params'][k] for r in rs})
            if len(xs) < 2:
                continue
            series = []
            for impl in bench.all_impls():
                pts = [(r['params'][k],) + point(r) for r in rs if r['impl'] == impl]
                if pts:
                    series.append((impl, colours[impl], pts))
            restp = R.params_label(json.loads(rest))
            title = f'{w}: {metric} vs {k}' + (f' ({restp})' if restp else '')
            stem = re.sub(r'[^A-Za-z0-9_.-]+', '_', f'{section}-{w}-{metric}-{restp}').strip('_')
            if section == 'size':
                tics = [(x, P.size_label(x)) for x in xs]
                vals = [p[1] for s in series for p in s[2]]
                attempt('size', title, stem, P.lines_with_errors, title, xlabel,
                        f'{metric} ({unit}, log scale; median, 95% CI)', series,
                        logx=True, logy=P._log_ok(vals) or True, xtics=tics, key='top right')
            else:
                tics = [(x, str(x)) for x in xs]
                vals = [p[1] for s in series for p in s[2]]
                logy = bool(P._log_ok(vals))
                xl = xlabel if k != 'producers' else 'producer processes'
                attempt('scaling', title, stem, P.lines_with_errors, title, xl,
                        f'{metric} ({unit}{", log scale" if logy else ""}; median, 95% CI)',
                        series, logx=False, logy=logy, xtics=tics, key='top left')
                # What each operation cost in CPU (every process of the side).
                cseries = []
                for impl, colour, _ in series:
                    pts = [(r['params'][k],) + c for r in rs if r['impl'] == impl
                           for c in [cpu_per_op(r)] if c]
                    if pts:
                        cseries.append((impl, colour, pts))
                if cseries:
                    f, u = P.unit_scale('s', [p[1] for s_ in cseries for p in s_[2]])
                    cseries = [(i, c, [(x, m * f, lo * f, hi * f) for x, m, lo, hi in pts])
                               for i, c, pts in cseries]
                    ctitle = f'{w}: CPU per operation vs {k}' + (f' ({restp})' if restp else '')
                    attempt('scaling', ctitle, stem + '-cpu', P.lines_with_errors, ctitle, xl,
                            f'CPU time per operation ({u}, user + system; median, '
                            'min..max of samples)', cseries, logx=False, logy=False,
                            xtics=tics, key='top left')

    # Latency / time distributions, one plot per workload; parameterless
    # workloads of one family (tutorial.*) share a plot.
    fams = {}
    for w, figs in bench.workloads().items():
        rs = [r for r, _ in figs if R.usable(r) and r.get('metric') in ('latency', 'time')
              and r.get('unit') == 's']
        if not rs:
            continue
        key = (w.split('.')[0] + '.*', rs[0].get('metric')) \
            if '.' in w and not any(r.get('params') for r in rs) else (w, None)
        fams.setdefault(key, []).append((w, rs))
    for (fam, _), members in sorted(fams.items()):
        merged = len(members) > 1
        rs = [r for _, x in members for r in x]
        factor, ulabel = P.unit_scale('s', [bench.summary(r)['median'] for r in rs])
        groups = []
        for w, x in members:
            vary, _ = varying_params([(r, None) for r in x])
            for r in x:
                lab = (w.split('.', 1)[1] + ' ' if merged else '') + r['impl'] + \
                    ''.join(f' {k}={r["params"].get(k)}' for k in vary)
                groups.append((lab, colours.get(r['impl'], '#777777'), bench.summary(r),
                               r['samples']))
        name = fam if merged else members[0][0]
        metric = rs[0].get('metric')
        ns = sorted({len(r['samples']) for r in rs})
        nlab = "-".join(map(str, ns[::max(1, len(ns) - 1)]))
        title = f'{name}: {metric} distribution ({nlab} sample{"s" if ns[-1] > 1 else ""} per box)'
        stem = re.sub(r'[^A-Za-z0-9_.-]+', '_', f'dist-{name.replace(".*", "-all")}').strip('_.')
        attempt('latency', title, stem, P.distributions, title,
                f'{metric} ({ulabel})', groups, unit_factor=factor)

    # Ratio bars: each tested implementation against CPython, noise band shaded;
    # charts of at most MAX_BARS bars, split between workloads.
    for impl in bench.tested_impls():
        items = []
        for r, _ in sorted(bench.figures, key=lambda f: R.sort_key(f[0])):
            if r['impl'] != impl:
                continue
            ref = bench.find(r, 'cpython')
            v = bench.vs(r, ref) if ref else None
            if v is not None:
                items.append((r, v))
        chunks = chunk_by_workload(items, lambda it: it[0].get('workload'))
        for n, chunk in enumerate(chunks, 1):
            rs = [r for r, _ in chunk]
            bars = [(lab, 1 / sd, 1 / hi, 1 / lo, P.VERDICT_COLOUR.get(verdict, '#9e9e9e'))
                    for lab, (_, (sd, lo, hi, p, verdict))
                    in zip(R.short_labels(rs, with_impl=False), chunk)]
            part = f' ({n}/{len(chunks)}: {_workload_span(rs)})' if len(chunks) > 1 else ''
            title = f'{impl} vs CPython{part}: speed ratio of medians'
            stem = f'ratio-{impl}-vs-cpython' + (f'-{n}' if len(chunks) > 1 else '')
            attempt('ratio', title, stem, P.ratio_bars, title,
                    f'speed of {impl} / speed of CPython (x, log scale; > 1 = {impl} faster)',
                    bars, bench.noise,
                    f'noise band +-{bench.noise:.0%}')
    if baseline_cmp is not None:
        c, what = baseline_cmp
        rows = [r for r in c['rows'] if r['verdict'] != 'unusable']
        chunks = chunk_by_workload(rows, lambda r: r.get('workload'))
        for n, chunk in enumerate(chunks, 1):
            part = f' ({n}/{len(chunks)}: {_workload_span(chunk)})' if len(chunks) > 1 else ''
            title = f'{bench.impl}: change against {what}, across runs{part}'
            stem = f'change-{bench.impl}' + (f'-{n}' if len(chunks) > 1 else '')
            attempt('ratio', title, stem, P.change_bars, c, title, rows=chunk)

    # History of each headline figure across saved runs.
    if len(bench.history) >= 2:
        hosts = {R.machine_of(d) for d in bench.history}
        # Across machines, every point says where it was measured.
        labels = [R.short_commit(d) + (f'@{d["run"].get("machine", {}).get("hostname", "?")}'
                                       if len(hosts) > 1 else '') for d in bench.history]
        for r in headline_figures(bench):
            key = R.figure_key(r)
            pts = []
            for i, d in enumerate(bench.history):
                x = next((y for y in d['results'] if R.figure_key(y) == key), None)
                if x is not None and R.usable(x):
                    s = S.summary(x['samples'])
                    pts.append((i, s['median'], s['ci_low'], s['ci_high']))
            if not pts:
                continue
            unit = r.get('unit', '')
            f, u = P.unit_scale(unit, [p[1] for p in pts])
            pts = [(i, m * f, lo * f, hi * f) for i, m, lo, hi in pts]
            title = f'history: {R.figure_label(r)} ({r.get("metric")})' + \
                (f', across {len(hosts)} machines' if len(hosts) > 1 else '')
            stem = re.sub(r'[^A-Za-z0-9_.-]+', '_', f'history-{R.figure_label(r)}').strip('_')
            attempt('history', title, stem, P.history, title,
                    f'{r.get("metric")} ({u}; median, 95% CI)', labels, pts,
                    colours.get(r['impl'], '#1f5fbf'))
    return made


MAX_BARS = 40


def chunk_by_workload(items, workload_of, limit=MAX_BARS):
    """Consecutive items in groups of at most `limit`, cut between workloads
    where possible (a workload larger than the limit is cut inside)."""
    runs, cur = [], []
    for it in items:
        if cur and workload_of(cur[-1]) != workload_of(it):
            runs.append(cur)
            cur = []
        cur.append(it)
    if cur:
        runs.append(cur)
    chunks, cur = [], []
    for run in runs:
        while len(run) > limit:
            if cur:
                chunks.append(cur)
                cur = []
            chunks.append(run[:limit])
            run = run[limit:]
        if len(cur) + len(run) > limit:
            chunks.append(cur)
            cur = []
        cur = cur + run
    if cur:
        chunks.append(cur)
    return chunks


def _workload_span(rs):
    ws = [r.get('workload', '?') for r in rs]
    return ws[0] if ws[0] == ws[-1] else f'{ws[0]} .. {ws[-1]}'


def headline_figures(bench):
    """Figures flagged "headline": true in the primary run; without flags, the
    first usable figure of the implementation under test per workload."""
    own = [r for r in bench.primary['results'] if r['impl'] == bench.impl]
    flagged = [r for r in own if r.get('headline')]
    if flagged:
        return sorted(flagged, key=R.sort_key)
    out, seen = [], set()
    for r in sorted(own, key=R.sort_key):
        if R.usable(r) and r.get('workload') not in seen:
            seen.add(r.get('workload'))
            out.append(r)
    return out


# ---------------------------------------------------------------- conformance
sys.path.insert(0, os.path.join(R.ROOT, 'conformance'))
import catalogue  # noqa: E402  (the one catalogue reader)

CATALOGUE_DIR = catalogue.CATALOGUE_DIR


def load_catalogue(cat_dir=CATALOGUE_DIR):
    """{row id: row} from conformance/catalogue.py's loader; unreadable or
    malformed files give what could be read (a report still renders)."""
    rows, _ = catalogue.load(cat_dir) if cat_dir else ([], [])
    return {r['id']: r for r in rows}


def conformance_matrix(conf_dir, cat_dir=CATALOGUE_DIR):
    """(impl names, [(component, id, behaviour, {impl: Cell})],
    per-component totals {comp: {impl: {result: n}}}, notes).  A Cell is
    (result, message, extra); extra holds the row's stderr log (an absolute
    path, when the run kept one and it exists), the expected result and its
    reason, and the verdict, as far as the run recorded them."""
    results, errors = R.list_conformance(conf_dir)
    notes = [f'unreadable: {e}' for e in errors]
    cat = load_catalogue(cat_dir)

    def rank(n):
        return (0 if n == 'ref' else 1 if n == 'cpython' else 2, n)
    impls = sorted({R.conf_impl_name(d) for d in results}, key=rank)
    by_impl = {R.conf_impl_name(d): d for d in results}
    rows = {}
    for name, d in by_impl.items():
        base = os.path.dirname(d['_path'])
        for x in d.get('rows') or []:
            rid = x.get('id', '?')
            comp = x.get('component') or cat.get(rid, {}).get('component', '?')
            log = os.path.join(base, x['stderr']) if x.get('stderr') else None
            extra = {'log': log if log and os.path.exists(log) else None,
                     'expected': x.get('expected'), 'reason': x.get('expected_reason', ''),
                     'verdict': x.get('verdict')}
            rows.setdefault(rid, {'component': comp, 'cells': {}})['cells'][name] = (
                x.get('result', '?'), x.get('message', ''), extra)
        if d.get('leftovers'):
            notes.append(f'{name}: {len(d["leftovers"])} leftover process(es) killed after '
                         'the suite: ' + ', '.join(map(str, d['leftovers'][:5])))
        meta = d.get('impl') if isinstance(d.get('impl'), dict) else {}
        build = meta.get('build') or {}
        notes.append(f'{name}: {R.rel(d["_path"])}, {d.get("date", "?")}'
                     + (f', {meta.get("path")}' if meta.get('path') else '')
                     + (f', {meta["module"]} {meta.get("module_version", "")}'.rstrip()
                        if meta.get('module') else '')
                     + (f', commit {str(build.get("git"))[:7]}' if build.get('git') else '')
                     + (' (dirty)' if build.get('dirty') else '')
                     + (f', {d["seconds"]} s' if d.get('seconds') is not None else ''))
    if by_impl:
        for rid, c in cat.items():
            rows.setdefault(rid, {'component': c['component'], 'cells': {}})
    table = []
    totals = {}
    for rid, v in sorted(rows.items(), key=lambda kv: (kv[1]['component'], kv[0])):
        cells = {i: v['cells'].get(i, ('absent', '', {})) for i in impls}
        table.append((v['component'], rid, cat.get(rid, {}).get('behaviour', ''), cells))
        for i, (res, _, _) in cells.items():
            t = totals.setdefault(v['component'], {}).setdefault(i, {})
            t[res] = t.get(res, 0) + 1
    return impls, table, totals, notes


REFERENCE = 'cpython'  # the implementation every other one is compared with


def differs_from_reference(cells, impl, ref=REFERENCE):
    """Whether impl's result for a row differs from the reference's, both
    having run it (absent and error on either side say nothing)."""
    if impl == ref or ref not in cells:
        return False
    a, b = cells[impl][0], cells[ref][0]
    return a != b and 'absent' not in (a, b) and 'error' not in (a, b)


def matrix_summary(impls, table):
    """Per implementation: how many rows had each result of RESULT_ORDER
    (pass ... error; a result outside it counts as 'other'), how many differ
    from CPython, how many ran, and the run's verdicts against its
    expectations when it recorded them."""
    out = []
    for i in impls:
        n = dict.fromkeys(RESULT_ORDER, 0)
        n.update({'other': 0, 'differ': 0, 'run': 0, 'new failure': 0, 'newly passing': 0,
                  'judged': False})
        for _, _, _, cells in table:
            res, _, extra = cells[i]
            n['run'] += res not in ('absent', 'error')
            n[res if res in RESULT_ORDER else 'other'] += 1
            n['differ'] += differs_from_reference(cells, i)
            if extra.get('verdict'):
                n['judged'] = True
                n[extra['verdict']] = n.get(extra['verdict'], 0) + 1
        out.append((i, n))
    return out


def _summary_status(i, n):
    if n['error']:
        return 'harness errors'
    if not n['judged']:
        return '-'
    if n['new failure']:
        return f'{n["new failure"]} new failure(s)'
    return 'as expected' + (f' ({n["newly passing"]} newly passing)' if n['newly passing'] else '')


SUMMARY_HEAD = (('implementation',) + RESULT_ORDER
                + (f'differ from {REFERENCE}', 'rows run', 'against expect/'))


def _summary_counts(i, n):
    """The count columns of one implementation's summary row, as strings:
    every result of RESULT_ORDER (error is the harness's), then the rows
    differing from the reference and the rows run; results outside
    RESULT_ORDER, if any, are added to the error column's text."""
    cols = [str(n[k]) for k in RESULT_ORDER]
    if n['other']:
        cols[RESULT_ORDER.index('error')] += f' (+{n["other"]} unknown)'
    return cols + ['-' if i == REFERENCE else str(n['differ']), str(n['run'])]


def matrix_summary_md(impls, table):
    if not impls:
        return []
    lines = ['| ' + ' | '.join(SUMMARY_HEAD) + ' |', '|' + '---|' * len(SUMMARY_HEAD)]
    for i, n in matrix_summary(impls, table):
        lines.append(f'| {i} | ' + ' | '.join(_summary_counts(i, n)) + ' | '
                     + _summary_status(i, n) + ' |')
    return lines + ['']


def matrix_summary_html(impls, table):
    """The at-a-glance table for the top of the page."""
    e = html.escape
    if not impls:
        return ('<p class="warn">No conformance results (reports/out/conformance-*.json): '
                'run <code>make matrix</code>.</p>')
    out = ['<table class="summary"><tr>' + ''.join(f'<th>{e(h)}</th>' for h in SUMMARY_HEAD)
           + '</tr>']
    for i, n in matrix_summary(impls, table):
        st = _summary_status(i, n)
        cls = 'r-fail' if n['error'] or n['new failure'] else 'r-pass' if st.startswith('as') else ''
        cells = ''.join(
            f'<td class="{"r-fail" if h == "error" and (n["error"] or n["other"]) else ""}">'
            f'{e(v)}</td>' for h, v in zip(SUMMARY_HEAD[1:], _summary_counts(i, n)))
        out.append(f'<tr><td><a href="#impl-{e(i)}">{e(i)}</a></td>{cells}'
                   f'<td class="{cls}">{e(st)}</td></tr>')
    out.append('</table>')
    return '\n'.join(out)


def matrix_md(impls, table, totals, notes):
    if not impls:
        return ['No conformance results (reports/out/conformance-*.json): run `make conformance`.', '']
    lines = ['### Totals per component', '',
             '| component | ' + ' | '.join(impls) + ' |', '|---|' + '---|' * len(impls)]
    grand = {i: {} for i in impls}
    for comp, t in sorted(totals.items()):
        lines.append(f'| {comp} | ' + ' | '.join(_total_cell(t.get(i, {})) for i in impls) + ' |')
        for i in impls:
            for k, n in t.get(i, {}).items():
                grand[i][k] = grand[i].get(k, 0) + n
    lines.append('| **all** | ' + ' | '.join(f'**{_total_cell(grand[i])}**' for i in impls) + ' |')
    diff = [r for r in table if any(differs_from_reference(r[3], i) for i in impls)]
    if REFERENCE in impls:
        lines += ['', f'### Differences from {REFERENCE}', '',
                  f'{len(diff)} rows where an implementation\'s result is not {REFERENCE}\'s.', '',
                  '| component | row | ' + ' | '.join(impls) + ' |', '|---|---|' + '---|' * len(impls)]
        for comp, rid, beh, cells in diff:
            lines.append(f'| {comp} | {rid} | ' + ' | '.join(
                (f'**{cells[i][0]}**' if differs_from_reference(cells, i) else cells[i][0])
                for i in impls) + ' |')
    lines += ['', '### Rows', '', '| component | row | behaviour | ' + ' | '.join(impls) + ' |',
              '|---|---|---|' + '---|' * len(impls)]
    for comp, rid, beh, cells in table:
        cs = []
        for i in impls:
            res, msg = cells[i][0], cells[i][1]
            cs.append(res if res == 'pass' or not msg else f'{res}: {msg}'.replace('|', '\\|'))
        lines.append(f'| {comp} | {rid} | {beh.replace("|", "/")} | ' + ' | '.join(cs) + ' |')
    lines.append('')
    lines += [f'- {n}' for n in notes] + ['']
    return lines


def _total_cell(t):
    total = sum(t.values())
    rest = [f'{t[k]} {k}' for k in RESULT_ORDER[1:] if t.get(k)]
    return f'{t.get("pass", 0)}/{total} pass' + (f' ({", ".join(rest)})' if rest else '')


def _cell_html(cell, link_from, short=120, differs=False):
    """One result cell: the result (a link to the row's stderr log when the
    run kept one), the message as a tooltip and, unless it passed, its last
    line (the exception, for a twin); the expected result and its reason
    in the tooltip when the row is expected not to pass."""
    e = html.escape
    res, msg, extra = cell
    label = e(res)
    log = extra.get('log')
    if log and link_from:
        label = f'<a href="{e(os.path.relpath(log, link_from))}">{label}</a>'
    if differs:
        label = f'<b>{label}</b>'
    tip = msg
    if extra.get('reason') and extra.get('expected') not in (None, 'pass', 'absent'):
        tip = (f'expected {extra["expected"]}: {extra["reason"]}\n' + msg).strip()
    last = [x for x in (msg or '').strip().splitlines() if x.strip()]
    small = last[-1].strip()[:short] if last and res != 'pass' else ''  # the exception line
    if extra.get('verdict') in ('new failure', 'newly passing'):
        small = f'{extra["verdict"]}' + (f': {small}' if small else '')
    return (f'<td class="r-{e(res)}" title="{e(tip)}">{label}'
            + (f'<br><small>{e(small)}</small>' if small else '') + '</td>')


def matrix_html(impls, table, totals, notes, link_from=None):
    """The matrix: differences from CPython first (open), then the totals per
    component and every row, collapsed.  link_from: the directory the page is
    written to, so cells can link to the rows' stderr logs."""
    e = html.escape
    if not impls:
        return '<p class="warn">No conformance results (reports/out/conformance-*.json): run <code>make conformance</code>.</p>'
    head = ''.join(f'<th id="impl-{e(i)}">{e(i)}</th>' for i in impls)
    out = []
    if REFERENCE in impls:
        diff = [r for r in table if any(differs_from_reference(r[3], i) for i in impls)]
        out += [f'<details open><summary><b>Differences from {e(REFERENCE)}</b>: {len(diff)} rows '
                f'where an implementation\'s result is not {e(REFERENCE)}\'s (bold); hover a cell '
                'for its message and expectation, click it for the log</summary>',
                '<table class="matrix"><tr><th>component</th><th>row</th><th>behaviour</th>'
                + ''.join(f'<th>{e(i)}</th>' for i in impls) + '</tr>']
        for comp, rid, beh, cells in diff:
            out.append(f'<tr><td>{e(comp)}</td><td><code>{e(rid)}</code></td><td>{e(beh)}</td>'
                       + ''.join(_cell_html(cells[i], link_from,
                                            differs=differs_from_reference(cells, i))
                                 for i in impls) + '</tr>')
        out.append('</table></details>')
    out += [f'<details><summary><b>Totals per component</b> ({len(totals)} components)</summary>',
            '<table><tr><th>component</th>' + ''.join(f'<th>{e(i)}</th>' for i in impls) + '</tr>']
    grand = {i: {} for i in impls}
    for comp, t in sorted(totals.items()):
        out.append(f'<tr><td>{e(comp)}</td>' + ''.join(
            f'<td class="{_total_class(t.get(i, {}))}">{e(_total_cell(t.get(i, {})))}</td>'
            for i in impls) + '</tr>')
        for i in impls:
            for k, n in t.get(i, {}).items():
                grand[i][k] = grand[i].get(k, 0) + n
    out.append('<tr class="total"><td>all</td>' + ''.join(
        f'<td class="{_total_class(grand[i])}">{e(_total_cell(grand[i]))}</td>' for i in impls)
        + '</tr></table></details>')
    out += [f'<details><summary><b>Rows</b>: all {len(table)}</summary>',
            '<table class="matrix"><tr><th>component</th><th>row</th>'
            '<th>behaviour</th>' + head + '</tr>']
    for comp, rid, beh, cells in table:
        cs = ''.join(_cell_html(cells[i], link_from, differs=differs_from_reference(cells, i))
                     for i in impls)
        out.append(f'<tr><td>{e(comp)}</td><td><code>{e(rid)}</code></td><td>{e(beh)}</td>{cs}</tr>')
    out.append('</table></details>')
    out.append('<ul class="notes">' + ''.join(f'<li>{e(n)}</li>' for n in notes) + '</ul>')
    return '\n'.join(out)


def _total_class(t):
    if not t:
        return ''
    bad = sum(t.get(k, 0) for k in ('fail', 'crash', 'timeout'))
    return 'r-fail' if bad else ('r-pass' if t.get('pass', 0) == sum(t.values()) else 'r-unsupported')


# ---------------------------------------------------------------- documents
CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1400px;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:13px}
td,th{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f0f0f0} tr.total td{font-weight:bold}
details{margin:.5em 0 1em} summary{cursor:pointer;margin:.3em 0}
.r-pass{background:#e6f4e6}.r-fail,.r-crash,.r-timeout{background:#fbe3e3}
.r-unsupported{background:#fff4d6}.r-absent{background:#f2f2f2;color:#777}
.warn{background:#fff4d6;border-left:4px solid #e0a800;padding:.4em .8em}
.fail{background:#fbe3e3;border-left:4px solid #c62828;padding:.4em .8em}
figure{display:inline-block;margin:0 1em 1.5em 0;vertical-align:top}
figure img{max-width:100%;border:1px solid #ddd}
figcaption{font-size:12px;color:#555}
code{background:#f5f5f5;padding:0 3px}
"""

IMG_SCRIPT = """<script>
/* Marks every image as loaded or not: the headless-browser check reads these. */
window.addEventListener('load', function () {
  var imgs = document.images, missing = 0;
  for (var i = 0; i < imgs.length; i++) {
    var ok = imgs[i].complete && imgs[i].naturalWidth > 0;
    imgs[i].setAttribute('data-loaded', ok ? 'yes' : 'no');
    imgs[i].setAttribute('data-natural-width', String(imgs[i].naturalWidth));
    if (!ok) missing++;
  }
  document.body.setAttribute('data-images', String(imgs.length));
  document.body.setAttribute('data-images-missing', String(missing));
});
</script>"""

SECTION_TITLES = [('size', 'Throughput against message size'),
                  ('latency', 'Latency and time distributions'),
                  ('scaling', 'Scaling with processes (queue producers x consumers, pool workers, manager clients), with CPU per operation'),
                  ('ratio', 'Ratios with the noise band'),
                  ('history', 'History of the headline figures')]


def _md_alt(t):
    return t.replace('[', '(').replace(']', ')')


def _meta_lines(d):
    run = d['run']
    m, t, g = run.get('machine', {}), run.get('tools', {}), run.get('git', {})
    mem = m.get('mem_bytes')
    return [
        f'run {run.get("id", "?")} ({run.get("kind", "?")}), {run.get("date", "?")}, '
        f'implementation {run.get("impl", "?")}',
        f'git {g.get("commit", "?")}' + (' (dirty tree)' if g.get('dirty') else '')
        + (f' on {g["branch"]}' if g.get('branch') else ''),
        f'machine: {m.get("cpu_model", "?")}, {m.get("cores", "?")} cores'
        + (f', {mem / 2 ** 30:.1f} GiB' if isinstance(mem, (int, float)) else '')
        + f', kernel {m.get("kernel", "?")}, {m.get("virtualization", "?")}, {m.get("os", "?")}'
        + f', host {m.get("hostname", "?")}',
        'tools: ' + ', '.join(f'{k} {v}' for k, v in t.items()),
        'parameters: ' + ', '.join(f'{k}={v}' for k, v in (run.get('params') or {}).items()),
    ]


def render(data_dir, conf_dir, out_dir, impl, notes=(), baseline=None, primary=None,
           alpha=C.ALPHA, noise=C.NOISE, cat_dir=CATALOGUE_DIR):
    """Writes index.html, report.md (and plots/) to out_dir; returns the list
    of problems met (plot errors), which the report also shows."""
    os.makedirs(out_dir, exist_ok=True)
    notes = list(notes)
    errors = []
    bench = Bench(data_dir, impl, primary=primary, alpha=alpha, noise=noise)
    baseline_cmp = None
    if bench.primary:
        bpath = baseline or os.path.join(R.BASELINE_DIR, f'{impl}.json')
        base = None
        if os.path.exists(bpath):
            try:
                base = R.load_run(bpath)
                what = f'the baseline ({R.rel(bpath)}, {R.short_commit(base)})'
            except R.InputError as e:
                errors.append(str(e))
        if base is not None and base['run'].get('id') == bench.primary['run'].get('id'):
            base = None
        if base is None and len(bench.history) >= 2:
            base = bench.history[-2]
            what = f'the previous run ({R.short_commit(base)})'
        if base is not None:
            c = C.compare_runs(base, bench.primary, only_impl=impl, alpha=alpha, noise=noise)
            if c['summary']['figures']:
                baseline_cmp = (c, what)
    rv = regress_of(bench, data_dir, baseline or os.path.join(R.BASELINE_DIR, f'{impl}.json'),
                    alpha, noise) if bench.primary else None
    plots = make_plots(bench, out_dir, baseline_cmp, errors) if bench.primary else []
    tables = bench_tables(bench) if bench.primary else []
    tg_lines, tg_head, tg_rows = speed_targets(bench, noise, errors) if bench.primary \
        else ([], [], [])
    impls, mtable, totals, mnotes = conformance_matrix(conf_dir, cat_dir)

    # ---- Markdown
    md = [f'# mp report: {impl}', '']
    stamp = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())
    md.append(f'Generated {stamp}. Statistics: medians with 95% bootstrap intervals '
              f'({S.RESAMPLES} resamples, seed {S.SEED}); ratios "Nx faster/slower" are ratios '
              f'of medians with bootstrap intervals; "n.s." = Mann-Whitney p >= {alpha:g}; '
              f'noise threshold +-{noise:.0%}.')
    md.append('')
    if notes or errors:
        md += ['## Notes', ''] + [f'- {n}' for n in notes] + [f'- problem: {e}' for e in errors] + ['']
    md += ['## Conformance matrix', ''] + matrix_summary_md(impls, mtable) \
        + matrix_md(impls, mtable, totals, mnotes)
    if bench.primary:
        md += ['## Speed at a glance', ''] + [f'- {x}' for x in speed_glance(bench, baseline_cmp, rv)] + ['']
    if tg_rows:
        md += [f'## {TARGETS_TITLE}', ''] + [f'- {x}' for x in tg_lines] + ['']
        md += R.md_table(tg_head, tg_rows)
        md.append('')
    md += ['## Benchmarks', '']
    if not bench.primary:
        md += [f'No benchmark results of {impl} in {R.rel(data_dir)}.', '']
    else:
        md += [f'- {x}' for x in _meta_lines(bench.primary)]
        md += [f'- {x}' for x in machines_lines(bench) + floors_lines(bench)]
        for d in bench.other_runs:
            md.append(f'- also: latest run of {d["run"].get("impl")}: {R.run_title(d)} '
                      '(a separate run: ratios against it are not interleaved)')
        md.append('')
        for w, const, head, rows, tnotes in tables:
            md += [f'### {w}', ''] + [f'_{n}_' for n in tnotes] + ([''] if tnotes else [])
            md.append('| ' + ' | '.join(head) + ' |')
            md.append('|' + '---|' * len(head))
            md += ['| ' + ' | '.join(c.replace('|', '\\|') for c in row) + ' |' for row in rows]
            md.append('')
        if baseline_cmp:
            md += C.render_md(baseline_cmp[0], f'Change against {baseline_cmp[1]} '
                              '(across runs: includes the machine\'s drift)').split('\n')
        md += ['## Plots', '']
        for sec, stitle in SECTION_TITLES:
            items = [p for p in plots if p[0] == sec]
            if items:
                md += [f'### {stitle}', '']
                md += [f'![{_md_alt(t)}]({s}.png) ([SVG]({s}.svg))' for _, t, s in items]
                md.append('')
    with open(os.path.join(out_dir, 'report.md'), 'w') as f:
        f.write('\n'.join(md) + '\n')

    # ---- HTML
    e = html.escape
    h = ['<!DOCTYPE html>', '<html lang="en"><head><meta charset="utf-8">',
         f'<title>mp report: {e(impl)}</title>', f'<style>{CSS}</style>', '</head><body>',
         f'<h1>mp report: {e(impl)}</h1>', f'<p>{e(md[2])}</p>',
         '<h2>Conformance at a glance</h2>', matrix_summary_html(impls, mtable)]
    if bench.primary:
        h.append('<h2>Speed at a glance</h2><ul>' +
                 ''.join(f'<li class="{"fail" if "REGRESSED" in x else ""}">{html.escape(x)}</li>'
                         for x in speed_glance(bench, baseline_cmp, rv)) + '</ul>')
    if tg_rows:
        h.append(f'<h2>{e(TARGETS_TITLE)}</h2><ul>' +
                 ''.join(f'<li>{e(x)}</li>' for x in tg_lines) + '</ul>')
        h.append('<table><tr>' + ''.join(f'<th>{e(c)}</th>' for c in tg_head) + '</tr>')
        for row in tg_rows:
            cls = {'met': 'r-pass', 'missed': 'r-fail', 'not decided': 'r-unsupported'}.get(
                row[tg_head.index('verdict')].split(' (')[0], '')
            h.append(f'<tr class="{cls}">' + ''.join(f'<td>{e(c)}</td>' for c in row) + '</tr>')
        h.append('</table>')
    if notes or errors:
        h.append('<h2>Notes</h2><ul>' + ''.join(f'<li class="warn">{e(n)}</li>' for n in notes)
                 + ''.join(f'<li class="fail">problem: {e(x)}</li>' for x in errors) + '</ul>')
    h += ['<h2>Conformance matrix</h2>', matrix_html(impls, mtable, totals, mnotes, out_dir),
          '<h2>Benchmarks</h2>']
    if not bench.primary:
        h.append(f'<p class="warn">No benchmark results of {e(impl)} in '
                 f'{e(R.rel(data_dir))}.</p>')
    else:
        h.append('<ul>' + ''.join(f'<li>{e(x)}</li>' for x in _meta_lines(bench.primary)) +
                 ''.join(f'<li>{e(x)}</li>' for x in machines_lines(bench)) +
                 ''.join(f'<li class="{"warn" if x.startswith(NOT_A_FLOOR) else ""}">{e(x)}</li>'
                         for x in floors_lines(bench)) + '</ul>')
        for w, const, head, rows, tnotes in tables:
            h.append(f'<h3>{e(w)}</h3>' + ''.join(f'<p><i>{e(n)}</i></p>' for n in tnotes))
            h.append('<table><tr>' + ''.join(f'<th>{e(c)}</th>' for c in head) + '</tr>')
            for row in rows:
                h.append('<tr>' + ''.join(f'<td>{e(c)}</td>' for c in row) + '</tr>')
            h.append('</table>')
        if baseline_cmp:
            c, what = baseline_cmp
            h.append(f'<h3>Change against {e(what)} (across runs: includes the machine\'s '
                     'drift; the verdict is make regress\'s)</h3>')
            h.append('<ul>' + ''.join(f'<li>{e(x)}</li>' for x in C.header_lines(c)) + '</ul>')
            h.append('<table><tr>' + ''.join(f'<th>{e(x)}</th>' for x in C.HEAD) + '</tr>')
            for row in C.table_rows(c):
                cls = {'REGRESSED': 'r-fail', 'IMPROVED': 'r-pass'}.get(row[-1], '')
                h.append(f'<tr class="{cls}">' + ''.join(f'<td>{e(x)}</td>' for x in row) + '</tr>')
            h.append('</table>')
            h.append(f'<p><b>Summary:</b> {e(C.summary_line(c))}</p>')
            if c['warnings']:
                h.append('<ul>' + ''.join(f'<li class="warn">{e(w)}</li>' for w in c['warnings']) + '</ul>')
        h.append('<h2>Plots</h2>')
        for sec, stitle in SECTION_TITLES:
            items = [p for p in plots if p[0] == sec]
            if items:
                h.append(f'<h3>{e(stitle)}</h3>')
                for _, t, s in items:
                    h.append(f'<figure><a href="{e(s)}.svg"><img src="{e(s)}.png" alt="{e(t)}"></a>'
                             f'<figcaption>{e(t)} (<a href="{e(s)}.svg">SVG</a>, '
                             f'<a href="{e(s)}.dat">data</a>, <a href="{e(s)}.gp">gnuplot</a>)'
                             '</figcaption></figure>')
    h += [IMG_SCRIPT, '</body></html>']
    with open(os.path.join(out_dir, 'index.html'), 'w') as f:
        f.write('\n'.join(h) + '\n')
    return errors


def write_matrix(conf_dir, out_dir, cat_dir=CATALOGUE_DIR):
    os.makedirs(out_dir, exist_ok=True)
    impls, table, totals, notes = conformance_matrix(conf_dir, cat_dir)
    with open(os.path.join(out_dir, 'matrix.md'), 'w') as f:
        f.write('\n'.join(['# Conformance matrix', ''] + matrix_summary_md(impls, table)
                          + matrix_md(impls, table, totals, notes)) + '\n')
    with open(os.path.join(out_dir, 'matrix.html'), 'w') as f:
        f.write('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
                f'<title>Conformance matrix</title><style>{CSS}</style></head><body>'
                '<h1>Conformance matrix</h1>' + matrix_summary_html(impls, table)
                + matrix_html(impls, table, totals, notes, out_dir)
                + '</body></html>\n')
    return impls, table


# ---------------------------------------------------------------- commands
def _dry_run():
    """make -n: MAKEFLAGS' first word holds the single-letter flags."""
    first = (os.environ.get('MAKEFLAGS') or '').split(' ')[0]
    return bool(first) and not first.startswith('-') and 'n' in first


def cmd_make(a):
    if _dry_run():
        for what, (d, why) in (('conformance', fresh_conformance(a.conf_dir, a.impl, a.impl_path)),
                               ('conformance-cpython', fresh_conformance(a.conf_dir, 'cpython')),
                               (a.bench_target, fresh_bench(a.data_dir, a.impl, a.impl_path))):
            print(f'report: {what}: ' + (f'fresh ({why})' if d is not None
                                         else f'would run make {what} ({why})'))
        print(f'report: would render {R.rel(os.path.join(a.out, "index.html"))} and report.md')
        return 0
    notes = []
    extra = [f'IMPL={a.impl_path}'] if a.impl_path else []
    logs = os.path.join(a.out, 'logs')
    d, why = fresh_conformance(a.conf_dir, a.impl, a.impl_path)
    if d is not None:
        notes.append(f'conformance ({a.impl}): fresh results reused: {why}')
    else:
        status, detail = run_make(a.make, 'conformance', extra, logs)
        d2, why2 = fresh_conformance(a.conf_dir, a.impl, a.impl_path)
        notes.append(f'conformance ({a.impl}): not fresh ({why}); {detail}'
                     + ('' if d2 is not None else f'; no fresh results afterwards: {why2}'))
    d, why = fresh_conformance(a.conf_dir, 'cpython')
    if d is not None:
        notes.append(f'conformance (cpython): fresh results reused: {why}')
    else:
        status, detail = run_make(a.make, 'conformance-cpython', [], logs)
        notes.append(f'conformance (cpython): not fresh ({why}); {detail}')
    run, why = fresh_bench(a.data_dir, a.impl, a.impl_path)
    if run is not None:
        notes.append(f'benchmarks ({a.impl}): fresh results reused: {why}')
    else:
        status, detail = run_make(a.make, a.bench_target, extra, logs)
        run, why2 = fresh_bench(a.data_dir, a.impl, a.impl_path)
        msg = f'benchmarks ({a.impl}): not fresh ({why}); {detail}'
        if run is None:
            latest = R.list_runs(a.data_dir, impl=a.impl, kinds=('full', 'quick'))
            msg += (f'; STALE: showing the latest available run {R.run_title(latest[-1])}'
                    if latest else '; no benchmark results to show')
        notes.append(msg)
    for n in notes:
        print('report:', n)
    primary = run
    if primary is None:
        latest = R.list_runs(a.data_dir, impl=a.impl, kinds=('full', 'quick'))
        primary = latest[-1] if latest else None
    errs = render(a.data_dir, a.conf_dir, a.out, a.impl, notes, baseline=a.baseline,
                  primary=primary, alpha=a.alpha, noise=a.noise, cat_dir=a.catalogue)
    for x in errs:
        print('report: problem:', x, file=sys.stderr)
    print(f'report: wrote {R.rel(os.path.join(a.out, "index.html"))} and report.md')
    return 1 if errs else 0


def cmd_render(a):
    errs = render(a.data_dir, a.conf_dir, a.out, a.impl, baseline=a.baseline,
                  alpha=a.alpha, noise=a.noise, cat_dir=a.catalogue)
    for x in errs:
        print('report: problem:', x, file=sys.stderr)
    print(f'report: wrote {R.rel(os.path.join(a.out, "index.html"))} and report.md')
    return 1 if errs else 0


def cmd_matrix(a):
    impls, table = write_matrix(a.conf_dir, a.out, a.catalogue)
    print(f'matrix: {len(table)} rows x {len(impls)} implementations ({", ".join(impls) or "none"}) '
          f'-> {R.rel(os.path.join(a.out, "matrix.md"))}, matrix.html')
    return 0 if impls else 2


def cmd_fresh(a):
    if a.what == 'bench':
        d, why = fresh_bench(a.data_dir, a.impl, a.impl_path)
    else:
        d, why = fresh_conformance(a.conf_dir, a.impl, a.impl_path)
    print(f'{a.what}: {"fresh" if d is not None else "not fresh"}: {why}')
    return 0 if d is not None else 1


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--data-dir', default=R.DATA_DIR)
    ap.add_argument('--conf-dir', default=R.OUT_DIR)
    ap.add_argument('--out', default=R.OUT_DIR)
    ap.add_argument('--impl', default='ref')
    ap.add_argument('--impl-path', default='')
    ap.add_argument('--baseline', help='baseline run file (default reports/baseline/<impl>.json)')
    ap.add_argument('--alpha', type=float, default=C.ALPHA)
    ap.add_argument('--noise', type=float, default=C.NOISE)
    ap.add_argument('--catalogue', default=CATALOGUE_DIR,
                    help='catalogue directory (behaviour text, rows without results)')
    sub = ap.add_subparsers(dest='cmd', required=True)
    p = sub.add_parser('make')
    p.add_argument('--make', default='make')
    p.add_argument('--bench-target', default='bench')
    sub.add_parser('render')
    sub.add_parser('matrix')
    p = sub.add_parser('fresh')
    p.add_argument('what', choices=('bench', 'conformance'))
    a = ap.parse_args(argv)
    return {'make': cmd_make, 'render': cmd_render, 'matrix': cmd_matrix,
            'fresh': cmd_fresh}[a.cmd](a)


if __name__ == '__main__':
    sys.exit(main())
