"""Issue #16's speed targets, computed from one benchmark run.

The targets themselves are data: reports/targets.json (its "doc" says what a
row means).  This module reads that table and evaluates each row against the
results of ONE run, so the two figures a ratio divides come from the same
interleaved group and machine state.  The report (reports/report.py) shows the
rows as "Speed targets (issue #16)"; nothing here asserts a target.
"""
import argparse
import json
import os
import sys

import runs as R
import stats as S

HERE = os.path.dirname(os.path.abspath(__file__))
TARGETS = os.path.join(HERE, 'targets.json')
HEAD = ['target', 'a', 'b', 'a figure', 'b figure', 'ratio a/b', '95% interval', 'goal',
        'verdict', 'CPU/op a', 'CPU/op b']
MET, MISSED, UNDECIDED, ABSENT = 'met', 'missed', 'not decided', 'not measured'
LEVEL = 0.95
# Samples a targets run takes (make bench-targets): 21 per-round ratios give
# an interval from the 6th to the 16th of them (97.3%).
TARGET_SAMPLES = 21
_SIDE_KEYS = {'workload', 'impl', 'params'}


def load(path=TARGETS):
    """The target rows of path, checked: every row has an id, a label, sides
    a and b (workload, impl, params), a quantity 'median' or 'cpu_per_op', an
    op '>=' or '<=', a positive target, and rounds (when given) an integer no
    smaller than TARGET_SAMPLES.  ValueError names the first bad
    row: a malformed table must not render as a table of 'not measured'."""
    with open(path) as f:
        rows = json.load(f).get('targets')
    if not isinstance(rows, list) or not rows:
        raise ValueError(f'{path}: no "targets" list')
    seen = set()
    for i, t in enumerate(rows):
        where = f'{path}: target {i} ({t.get("id", "?") if isinstance(t, dict) else "?"})'
        if not isinstance(t, dict) or not t.get('id') or not t.get('label'):
            raise ValueError(f'{where}: needs an id and a label')
        if t['id'] in seen:
            raise ValueError(f'{where}: duplicate id')
        seen.add(t['id'])
        for side in ('a', 'b'):
            s = t.get(side)
            if not isinstance(s, dict) or set(s) != _SIDE_KEYS or \
                    not isinstance(s['params'], dict):
                raise ValueError(f'{where}: side {side} needs exactly workload, impl, params')
        if t.get('quantity') not in ('median', 'cpu_per_op'):
            raise ValueError(f'{where}: quantity is median or cpu_per_op')
        if t.get('op') not in ('>=', '<='):
            raise ValueError(f'{where}: op is >= or <=')
        if not isinstance(t.get('target'), (int, float)) or t['target'] <= 0:
            raise ValueError(f'{where}: target is a positive number')
        r = t.get('rounds', TARGET_SAMPLES)
        if not isinstance(r, int) or isinstance(r, bool) or r < TARGET_SAMPLES:
            raise ValueError(f'{where}: rounds is an integer >= {TARGET_SAMPLES}')
    return rows


def cpu_per_op(r):
    """Median CPU seconds per operation of result r (the whole side), or
    None when r does not record its cost for every sample."""
    per = _per_sample(r, 'cpu_per_op')
    return S.median(per) if per else None


def _impl_b(run):
    names = sorted(((run.get('run') or {}).get('params') or {}).get('impl_b') or {})
    return names[0] if names else None


def _find(run, side, impl, impl_b):
    """(result or None, impl name or None) for one side of a row in run."""
    name = side['impl'].replace('$impl_b', impl_b or '\0').replace('$impl', impl) \
        if side['impl'].startswith('$') else side['impl']
    if '\0' in name:
        return None, None
    want = R.canon(side['params'])
    for r in run.get('results') or []:
        if r.get('workload') == side['workload'] and r.get('impl') == name and \
                R.canon(r.get('params')) == want:
            return r, name
    return None, name


def _value(r, quantity):
    if r is None or not R.usable(r):
        return None
    return S.median(r['samples']) if quantity == 'median' else cpu_per_op(r)


def _per_sample(r, quantity):
    """The quantity of each sample of r (its figure, or CPU seconds per
    operation), or None where r does not record it for every sample."""
    if quantity == 'median':
        return list(r['samples'])
    n = r.get('ops_per_sample') or 0
    cpu = r.get('cpu_s')
    if n <= 0 or not cpu or len(cpu) != len(r['samples']):
        return None
    return [c / n for c in cpu]


def paired_ratios(ra, rb, quantity):
    """a/b of each round of the run: sample k of every side of a group was
    taken in round k, one after another (bench/run.py rotates the sides), so
    a ratio of the same round sees the same machine state and the drift from
    round to round cancels.  None when the two do not have one sample per
    round each (different counts) or a value is not positive."""
    xa, xb = _per_sample(ra, quantity), _per_sample(rb, quantity)
    if not xa or not xb or len(xa) != len(xb) or min(xa) <= 0 or min(xb) <= 0:
        return None
    return [a / b for a, b in zip(xa, xb)]


def evaluate(run, impl, noise, targets=None):
    """One dict per target row of the run (a loaded result file): id, label,
    a/b (impl names), a_value/b_value (medians) and unit, ratio (the median
    of the per-round ratios a/b, or None), low/high (their LEVEL interval,
    from order statistics: S.median_interval) and rounds, op, goal (the
    target, widened by noise for "noise" rows), verdict, why (for any
    verdict but met and missed), a_cpu/b_cpu (CPU seconds per operation, None
    where not recorded).

    Verdicts: met (the whole interval on the goal's side), missed (the whole
    interval on the other side), not decided (the interval holds the goal,
    or too few rounds for an interval, or samples that are not paired), not
    measured (a figure missing or unusable).  A ratio's point estimate alone
    never decides: two runs of the same code flip a target on its edge."""
    targets = load() if targets is None else targets
    impl_b = _impl_b(run)
    out = []
    for t in targets:
        ra, na = _find(run, t['a'], impl, impl_b)
        rb, nb = _find(run, t['b'], impl, impl_b)
        q = t['quantity']
        va, vb = _value(ra, q), _value(rb, q)
        goal = t['target'] * (1 + noise if t.get('noise') and t['op'] == '<=' else
                              1 - noise if t.get('noise') else 1)
        row = {'id': t['id'], 'label': t['label'], 'a': na or t['a']['impl'],
               'b': nb or t['b']['impl'], 'a_value': va, 'b_value': vb,
               'unit': 's' if q == 'cpu_per_op' else (ra or rb or {}).get('unit', ''),
               'b_unit': 's' if q == 'cpu_per_op' else (rb or {}).get('unit', ''),
               'ratio': None, 'op': t['op'], 'target': t['target'], 'goal': goal,
               'noise': bool(t.get('noise')), 'quantity': q, 'verdict': ABSENT, 'why': '',
               'low': None, 'high': None, 'rounds': 0,
               'a_cpu': cpu_per_op(ra) if ra else None,
               'b_cpu': cpu_per_op(rb) if rb else None}
        if na is None or nb is None:
            row['why'] = 'no second library in this run (make bench IMPL_B=NAME=lib)'
        elif ra is None or rb is None:
            missing = [f'{n} {s["workload"]}[{R.params_label(s["params"])}]'
                       for r, n, s in ((ra, na, t['a']), (rb, nb, t['b'])) if r is None]
            row['why'] = 'not in this run: ' + '; '.join(missing)
        elif va is None or vb is None or vb <= 0:
            bad = [n for v, n, r in ((va, na, ra), (vb, nb, rb)) if v is None]
            row['why'] = ('no CPU time recorded: ' if q == 'cpu_per_op' else
                          'no usable samples: ') + ', '.join(
                n + ('' if r.get('status') == 'ok' else
                     f' ({r.get("status")}: {r.get("message") or "no message"})')
                for n, r in ((na, ra), (nb, rb)) if n in bad)
        else:
            ratios = paired_ratios(ra, rb, q)
            if ratios is None:
                row['ratio'] = va / vb
                row['verdict'] = UNDECIDED
                row['why'] = (f'no per-round ratios: {len(ra["samples"])} and '
                              f'{len(rb["samples"])} samples (one positive sample a round '
                              'each needed)')
            else:
                row['ratio'] = S.median(ratios)
                row['rounds'] = len(ratios)
                iv = S.median_interval(ratios, LEVEL)
                if iv is None:
                    row['verdict'] = UNDECIDED
                    row['why'] = (f'{len(ratios)} rounds give no {LEVEL:.0%} interval; '
                                  f'make bench-targets takes {TARGET_SAMPLES}')
                else:
                    lo, hi, _ = iv
                    row['low'], row['high'] = lo, hi
                    good = (lambda x: x >= goal) if t['op'] == '>=' else (lambda x: x <= goal)
                    row['verdict'] = MET if good(lo) and good(hi) else \
                        MISSED if not good(lo) and not good(hi) else UNDECIDED
                    if row['verdict'] == UNDECIDED:
                        row['why'] = 'the interval holds the goal'
        out.append(row)
    return out


def _fmt(v, unit):
    if v is None:
        return '-'
    if unit == 's':
        for f, u in ((1.0, 's'), (1e3, 'ms'), (1e6, 'us'), (1e9, 'ns')):
            if abs(v) * f >= 1.0:
                return f'{v * f:.3g} {u}'
        return f'{v * 1e9:.3g} ns'
    for f, p in ((1e-9, 'G'), (1e-6, 'M'), (1e-3, 'k')):
        if abs(v) * f >= 1.0:
            return f'{v * f:.3g}{p} {unit}'
    return f'{v:.3g} {unit}'


def goal_text(row):
    g = f'{row["op"]} {row["target"]:g}'
    if row['noise']:
        g += f' (+ noise: {row["goal"]:.3g})'
    return g


def table(rows):
    """(HEAD, rows of strings) for Markdown and HTML."""
    out = []
    for r in rows:
        q = ' CPU/op' if r['quantity'] == 'cpu_per_op' else ''
        verdict = r['verdict'] + (f' ({r["why"]})' if r['why'] else '')
        iv = '-' if r['low'] is None else \
            f'[{r["low"]:.3g}, {r["high"]:.3g}] of {r["rounds"]} rounds'
        out.append([r['label'], r['a'], r['b'],
                    _fmt(r['a_value'], r['unit']) + (q if r['a_value'] is not None else ''),
                    _fmt(r['b_value'], r['b_unit']) + (q if r['b_value'] is not None else ''),
                    '-' if r['ratio'] is None else f'{r["ratio"]:.3g}', iv, goal_text(r), verdict,
                    _fmt(r['a_cpu'], 's'), _fmt(r['b_cpu'], 's')])
    return HEAD, out


def summary_line(rows):
    n = {v: sum(1 for r in rows if r['verdict'] == v) for v in (MET, MISSED, UNDECIDED, ABSENT)}
    return (f'{n[MET]} met, {n[MISSED]} missed, {n[UNDECIDED]} not decided, {n[ABSENT]} not '
            f'measured (a ratio is the median of its per-round ratios in one run; met or missed '
            f'only when the whole {LEVEL:.0%} interval is on one side of the goal; a goal '
            '"+ noise" allows the report\'s noise threshold)')


def main(argv=None):
    """python3 reports/targets.py RUN.json ...: each run's targets table in
    Markdown, as the report computes it, so that a table quoted elsewhere
    (the README's) can be checked against its runs.  Exit 2 when a run or
    the table does not load."""
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('runs', nargs='+', help='result files (make bench-targets: reports/data/)')
    ap.add_argument('--impl', default='ref')
    ap.add_argument('--noise', type=float, default=0.05, help='as make report\'s NOISE')
    a = ap.parse_args(argv)
    for path in a.runs:
        try:
            rows = evaluate(R.load_run(path), a.impl, a.noise)
        except (OSError, ValueError, R.InputError) as e:
            print(f'targets: {e}', file=sys.stderr)
            return 2
        head, cells = table(rows)
        print(f'{path}: {summary_line(rows)}\n')
        print('\n'.join(R.md_table(head, cells)) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
