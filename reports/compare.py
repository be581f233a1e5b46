#!/usr/bin/env python3
"""Compare two benchmark runs; save and check a baseline.

  compare.py compare A B [--a-impl X] [--b-impl Y]    exit 0, or 2 on bad input
  compare.py regress [--impl ref] [--baseline F] [--latest L]
                                     judges a regress run (make regress): the
                                     tested code against the baseline's code
                                     measured beside it in the same run;
                                     exit 0 no significant regression,
                                          1 regression beyond the threshold,
                                          2 unusable or incomparable inputs
  compare.py baseline [--impl ref] [--run L]   save a run as the baseline
  compare.py base-commit [--baseline F]        the commit the baseline measured

A run is a file, a run id in reports/data, 'latest', 'previous' or
'baseline'.  B is the new side: "1.23x slower" means B is slower than A.
Verdicts (criterion.rs style): 'not significant' when the Mann-Whitney p >=
alpha; else 'within noise' unless the whole 95% interval of the ratio lies
beyond the noise threshold, then 'improved' or 'regressed'.
"""
import argparse
import json
import math
import os
import shutil
import sys

import runs as R
import stats as S

ALPHA = 0.05
NOISE = 0.05


def fmt_value(v, unit):
    """A number with an SI prefix suited to its unit."""
    if v is None:
        return '-'
    if unit == 's':
        for scale, u in ((1.0, 's'), (1e-3, 'ms'), (1e-6, 'us'), (1e-9, 'ns')):
            if abs(v) >= scale or u == 'ns':
                return f'{v / scale:.3g} {u}'
    for scale, p in ((1e9, 'G'), (1e6, 'M'), (1e3, 'k'), (1.0, '')):
        if abs(v) >= scale or scale == 1.0:
            return f'{v / scale:.3g}{p} {unit}'.rstrip()
    return str(v)


def _slowdown(ra, rb):
    """time(B)/time(A) with its interval, respecting higher_is_better."""
    r, lo, hi = S.ratio_of_medians(ra['samples'], rb['samples'])
    if rb.get('higher_is_better', ra.get('higher_is_better')):
        return 1.0 / r, 1.0 / hi, 1.0 / lo
    return r, lo, hi


def compare_runs(a, b, a_impl=None, b_impl=None, only_impl=None,
                 alpha=ALPHA, noise=NOISE, holm=False):
    """The comparison of runs a and b as a dict (rows, summary, warnings).
    holm: the p of each figure is Holm-adjusted over all judged figures, so
    that the chance of ANY figure being called changed by chance stays under
    alpha for the whole comparison (a gate judging ~100 figures at alpha
    0.05 each would otherwise see about five by chance in every run)."""
    impl_a = a['run'].get('impl')
    impl_b = b['run'].get('impl')
    warnings = []
    pairs = []          # (label, ra, rb)
    only_a, only_b = [], []

    def match(sel_a, sel_b, with_impl, label_impl):
        ia = {R.figure_key(r, with_impl): r for r in a['results'] if sel_a(r)}
        ib = {R.figure_key(r, with_impl): r for r in b['results'] if sel_b(r)}
        for k, ra in ia.items():
            if k in ib:
                lab = R.figure_label(ra, with_impl=with_impl)
                if label_impl:
                    lab += ' ' + label_impl
                pairs.append((lab, ra, ib[k]))
            else:
                only_a.append(R.figure_label(ra))
        only_b.extend(R.figure_label(r) for k, r in ib.items() if k not in ia)

    if a_impl or b_impl:
        xa, xb = a_impl or impl_a, b_impl or impl_b
        match(lambda r: r['impl'] == xa, lambda r: r['impl'] == xb, False,
              f'{xb} vs {xa}' if xa != xb else xb)
    elif impl_a != impl_b:
        match(lambda r: r['impl'] == impl_a, lambda r: r['impl'] == impl_b, False,
              f'{impl_b} vs {impl_a}')
        match(lambda r: r['impl'] not in (impl_a, impl_b),
              lambda r: r['impl'] not in (impl_a, impl_b), True, '')
    else:
        match(lambda r: True, lambda r: True, True, '')

    if only_impl is not None:
        pairs = [p for p in pairs if p[2]['impl'] == only_impl]
        only_a = [x for x in only_a if x.endswith(' ' + only_impl)]
        only_b = [x for x in only_b if x.endswith(' ' + only_impl)]

    rows = []
    for label, ra, rb in sorted(pairs, key=lambda p: R.sort_key(p[2]) + (p[0],)):
        row = {'figure': label, 'workload': rb.get('workload'),
               'params': rb.get('params'), 'metric': rb.get('metric'),
               'impl': rb.get('impl'), 'unit': rb.get('unit'),
               'higher_is_better': rb.get('higher_is_better'), 'warnings': []}
        rows.append(row)
        if not (R.usable(ra) and R.usable(rb)):
            why = []
            for side, r in (('A', ra), ('B', rb)):
                if not R.usable(r):
                    why.append(f'{side}: {r.get("status")}'
                               + (f' ({r["message"]})' if r.get('message') else '')
                               if r.get('status') != 'ok' else f'{side}: no usable samples')
            row['verdict'] = 'unusable'
            row['warnings'].append('; '.join(why))
            continue
        if ra.get('unit') != rb.get('unit'):
            row['verdict'] = 'unusable'
            row['warnings'].append(f'units differ: {ra.get("unit")} vs {rb.get("unit")}')
            continue
        if bool(ra.get('higher_is_better')) != bool(rb.get('higher_is_better')):
            row['warnings'].append('higher_is_better differs between A and B; B used')
        sa = S.summary(ra['samples'])
        sb = S.summary(rb['samples'])
        sd, lo, hi = _slowdown(ra, rb)
        _, p, method = S.mann_whitney(ra['samples'], rb['samples'])
        row.update({'a': sa, 'b': sb, 'slowdown': sd, 'slowdown_low': lo,
                    'slowdown_high': hi, 'p': p, 'p_method': method,
                    'change': S.fmt_factor(sd, lo, hi),
                    'verdict': S.verdict(lo, hi, p, alpha, noise)})
        for side, r in (('A', ra), ('B', rb)):
            row['warnings'].extend(f'{side}: {w}' for w in S.sample_warnings(r['samples']))

    judged = [r for r in rows if r['verdict'] != 'unusable']
    if holm:
        for r, padj in zip(judged, S.holm([r['p'] for r in judged])):
            r['p_raw'], r['p'] = r['p'], padj
            r['verdict'] = S.verdict(r['slowdown_low'], r['slowdown_high'], padj, alpha, noise)
    summ = {
        'figures': len(judged),
        'improved': sum(r['verdict'] == S.IMPROVED for r in judged),
        'regressed': sum(r['verdict'] == S.REGRESSED for r in judged),
        'within_noise': sum(r['verdict'] == S.WITHIN_NOISE for r in judged),
        'not_significant': sum(r['verdict'] == S.NOT_SIGNIFICANT for r in judged),
        'unusable': len(rows) - len(judged),
    }
    if judged:
        summ['geomean'] = S.geometric_mean(r['slowdown'] for r in judged)
        summ['geomean_text'] = S.fmt_factor(summ['geomean'])
    diffs = R.machine_differences(a, b)
    if diffs:
        warnings.append('runs from different machines or toolchains: ' + '; '.join(diffs))
    for side, d in ((('A', a), ('B', b)) if a is not b else (('the run', b),)):
        git = d['run'].get('git', {})
        if git.get('dirty'):
            warnings.append(f'{side} was measured on a dirty tree (uncommitted changes)')
    if only_a:
        warnings.append(f'{len(only_a)} figure(s) only in A: ' + ', '.join(sorted(only_a)))
    if only_b:
        warnings.append(f'{len(only_b)} figure(s) only in B: ' + ', '.join(sorted(only_b)))
    return {'a': {'path': a['_path'], 'title': R.run_title(a)},
            'b': {'path': b['_path'], 'title': R.run_title(b)},
            'alpha': alpha, 'noise': noise, 'level': 0.95, 'holm': holm,
            'resamples': S.RESAMPLES, 'seed': S.SEED,
            'rows': rows, 'summary': summ, 'warnings': warnings,
            'different_machines': bool(diffs)}


def header_lines(c):
    if c.get('regress'):
        reg = c['regress']
        return [
            f'run: {c["b"]["title"]}  ({os.path.relpath(c["b"]["path"])})',
            f'A: {reg["base"]}, the baseline\'s code'
            + (f' (commit {reg["base_commit"][:7]})' if reg.get('base_commit') else '')
            + '; B: the code under test; both measured in this run, interleaved',
        ] + _stat_lines(c)
    return [
        f'A: {c["a"]["title"]}  ({os.path.relpath(c["a"]["path"])})',
        f'B: {c["b"]["title"]}  ({os.path.relpath(c["b"]["path"])})',
    ] + _stat_lines(c)


def _stat_lines(c):
    return [
        f'alpha = {c["alpha"]:g} (Mann-Whitney U, two-sided'
        + (f'; p Holm-adjusted over the {c["summary"]["figures"]} figures' if c.get('holm') else '')
        + '); noise threshold = '
        f'+-{c["noise"]:.0%} (ratio within [{1 / (1 + c["noise"]):.3f}, {1 + c["noise"]:.3f}]); '
        f'intervals: {c["level"]:.0%} bootstrap, {c["resamples"]} resamples, seed {c["seed"]}',
        '"Nx slower" = B takes N times as long as A (throughput: A/B; latency and time: B/A).',
    ]


def summary_line(c):
    s = c['summary']
    g = f'geometric mean {s["geomean_text"]} over {s["figures"]} figures; ' if s.get('figures') else ''
    return (f'{g}{s["improved"]} faster, {s["regressed"]} slower, '
            f'{s["within_noise"] + s["not_significant"]} unchanged '
            f'({s["within_noise"]} within noise, {s["not_significant"]} not significant)'
            + (f', {s["unusable"]} unusable' if s['unusable'] else ''))


def _p(p):
    return '-' if p is None else (f'{p:.4f}' if p >= 0.0001 else f'{p:.1e}')


def table_rows(c):
    out = []
    for r in c['rows']:
        if r['verdict'] == 'unusable':
            out.append([r['figure'], '-', '-', '-', '-', 'UNUSABLE'])
            continue
        v = r['verdict']
        out.append([r['figure'], fmt_value(r['a']['median'], r['unit']),
                    fmt_value(r['b']['median'], r['unit']), r['change'], _p(r['p']),
                    v.upper() if v in (S.IMPROVED, S.REGRESSED) else v])
    return out


HEAD = ['figure', 'A median', 'B median', 'B vs A [95% interval]', 'p', 'verdict']


def render_text(c):
    lines = header_lines(c) + ['']
    rows = table_rows(c)
    w = [max(len(x[i]) for x in rows + [HEAD]) for i in range(len(HEAD))]
    for x in [HEAD] + rows:
        lines.append('  '.join(v.ljust(w[i]) if i in (0, 5) else v.rjust(w[i])
                               for i, v in enumerate(x)).rstrip())
    lines += ['', 'summary: ' + summary_line(c)]
    warns = list(c['warnings'])
    for r in c['rows']:
        warns.extend(f'{r["figure"]}: {w}' for w in r['warnings'])
    if warns:
        lines.append('warnings:')
        lines.extend('  - ' + w for w in warns)
    return '\n'.join(lines) + '\n'


def render_md(c, title='Comparison'):
    lines = [f'## {title}', ''] + [f'- {h}' for h in header_lines(c)] + ['']
    lines += R.md_table(HEAD, table_rows(c))
    lines += ['', '**Summary:** ' + summary_line(c), '']
    warns = list(c['warnings'])
    for r in c['rows']:
        warns.extend(f'{r["figure"]}: {w}' for w in r['warnings'])
    if warns:
        lines.append('**Warnings:**')
        lines.append('')
        lines.extend('- ' + w for w in warns)
        lines.append('')
    return '\n'.join(lines)


def _write_outputs(c, out_prefix, title):
    if not out_prefix:
        return
    os.makedirs(os.path.dirname(out_prefix) or '.', exist_ok=True)
    with open(out_prefix + '.json', 'w') as f:
        json.dump(c, f, indent=1, sort_keys=True)
    with open(out_prefix + '.md', 'w') as f:
        f.write(render_md(c, title))


def cmd_compare(args):
    a = R.resolve_run(args.A, args.data_dir, impl=args.impl)
    b = R.resolve_run(args.B, args.data_dir, impl=args.impl)
    c = compare_runs(a, b, args.a_impl, args.b_impl, alpha=args.alpha, noise=args.noise)
    if not c['summary']['figures']:
        sys.stdout.write(render_text(c))
        raise R.InputError('no figure can be compared (no common usable figures)')
    sys.stdout.write(render_text(c))
    _write_outputs(c, args.out, 'Comparison')
    if args.plot:
        import plots
        try:
            plots.change_bars(args.plot, c, title='B vs A: speed ratio of medians')
            print(f'compare: plot {os.path.relpath(args.plot)}.png / .svg')
        except plots.PlotError as e:
            print(f'compare: no plot: {e}', file=sys.stderr)
    return 0


def _baseline(args):
    """The committed baseline run of args.impl (InputError when missing)."""
    bpath = args.baseline or os.path.join(R.BASELINE_DIR, f'{args.impl}.json')
    if not os.path.exists(bpath):
        raise R.InputError(f'no baseline {os.path.relpath(bpath)}: run `make baseline` '
                           '(and commit the file)')
    return R.load_run(bpath)


def _expected_figures(base, impl, only):
    """Labels of impl's usable figures in the baseline run that a regress run
    restricted to the workload prefixes `only` ([]: all) must judge."""
    return {R.figure_label(r, with_impl=False) for r in base['results']
            if r['impl'] == impl and R.usable(r)
            and (not only or any(r['workload'].startswith(o) for o in only))}


def regress_verdict(base, run, impl, alpha=ALPHA, noise=NOISE):
    """Judges a regress run (bench/run.py --kind regress): impl against the
    baseline's code measured beside it in the same interleaved groups.
    Returns (comparison, problems): problems are reasons the run cannot be
    judged (exit 2).  The baseline run says which code the baseline is; its
    own figures only measure how far the machine drifted since."""
    problems = []
    reg = run['run'].get('regress')
    if run['run'].get('kind') != 'regress' or not isinstance(reg, dict) or not reg.get('base'):
        raise R.InputError(
            f'{R.rel(run["_path"])} is not a regress run: `make regress` measures the '
            'baseline\'s code beside this code in one run.  A verdict across two runs would '
            'blame the code for the machine\'s drift between them (up to 3.5x for the same code '
            'on a shared VM); `make compare A=baseline B=...` shows that comparison unjudged')
    if run['run'].get('impl') != impl:
        raise R.InputError(f'the run is of {run["run"].get("impl")!r}, not {impl!r}')
    bcommit = base['run'].get('git', {}).get('commit')
    if reg.get('base_commit') and bcommit and reg['base_commit'] != bcommit:
        raise R.InputError(f'the run measured {reg["base_commit"][:7]} as the baseline\'s code, '
                           f'the baseline file was measured at {bcommit[:7]}')
    c = compare_runs(run, run, a_impl=reg['base'], b_impl=impl, alpha=alpha, noise=noise,
                     holm=True)
    c['regress'] = {'base': reg['base'], 'base_commit': reg.get('base_commit')}
    m = c['summary']['figures']
    weak = [r['figure'] for r in c['rows'] if r['verdict'] != 'unusable'
            and m * 2.0 / math.comb(r['a']['n'] + r['b']['n'], r['a']['n']) >= alpha]
    if weak:
        # Even samples that do not overlap at all could not reach alpha
        # after the adjustment over m figures: such a figure is not judged.
        problems.append(f'{len(weak)} figure(s) have too few samples to be judged among {m} '
                        f'(make regress takes REGRESS_SAMPLES=10 per side): '
                        + ', '.join(weak[:5]) + (' ...' if len(weak) > 5 else ''))
    status = {(R.figure_key(r, False), r['impl']): r.get('status') for r in run['results']}
    for r in c['rows']:
        if r['verdict'] != 'unusable':
            continue
        k = (r['workload'], R.canon(r['params']), r['metric'])
        sa, sb = status.get((k, reg['base'])), status.get((k, impl))
        # Not judged and not a problem: a call neither side has, or one
        # today's code has and the baseline's did not have yet.  Anything
        # else (an error, a call today's code lost) leaves the run unjudged.
        if sa == 'unsupported' and sb in ('ok', 'unsupported'):
            r['warnings'].append('not judged: ' + ('neither side supports it' if sb != 'ok' else
                                                   'the baseline\'s code does not support it'))
        else:
            problems.append(f'{r["figure"]}: ' + '; '.join(r['warnings']))
    present = {R.figure_label(r, with_impl=False) for r in run['results'] if r['impl'] == impl}
    missing = sorted(_expected_figures(base, impl, run['run'].get('params', {}).get('only') or [])
                     - present)
    if missing:
        problems.append(f'{len(missing)} figure(s) of the baseline not measured in this run: '
                        + ', '.join(missing))
    drift = compare_runs(base, run, a_impl=impl, b_impl=reg['base'], alpha=alpha, noise=noise)
    ds = [r['slowdown'] for r in drift['rows'] if r['verdict'] != 'unusable']
    if ds:
        c['drift'] = {'figures': len(ds), 'geomean': S.geometric_mean(ds),
                      'min': min(ds), 'max': max(ds),
                      'regressed': drift['summary']['regressed'],
                      'improved': drift['summary']['improved'],
                      'different_machines': drift['different_machines']}
    return c, problems


def drift_line(c):
    d = c.get('drift')
    if not d:
        return None
    return (f'machine drift since the baseline run (the baseline\'s code then and now, '
            f'{d["figures"]} figures): geometric mean {S.fmt_factor(d["geomean"])}, from '
            f'{S.fmt_factor(d["min"])} to {S.fmt_factor(d["max"])}; compared across the two runs '
            f'the same code would be {d["regressed"]} figures "slower" and {d["improved"]} '
            f'"faster"' + (' (and the runs come from different machines)'
                           if d['different_machines'] else ''))


def cmd_regress(args):
    base = _baseline(args)
    latest = R.resolve_run(args.latest, args.data_dir, impl=args.impl)
    c, problems = regress_verdict(base, latest, args.impl, args.alpha, args.noise)
    dl = drift_line(c)
    if dl:
        c['warnings'].append(dl)
    c['problems'] = problems
    s = c['summary']
    regs = [r for r in c['rows'] if r['verdict'] == S.REGRESSED]
    # `make` turns every failing recipe into exit 2: the verdict is also in
    # OUT.json ("regressed", "unjudged" or "ok") for a CI to tell them apart.
    c['verdict'] = 'regressed' if regs else 'unjudged' if problems or not s['figures'] else 'ok'
    sys.stdout.write(render_text(c))
    _write_outputs(c, args.out, 'Regression check: this code against the baseline\'s, one run')
    if problems:
        print(f'regress: ERROR: {len(problems)} problem(s) leave figures unjudged:')
        for x in problems:
            print(f'  {x}')
    if not s['figures']:
        raise R.InputError(f'no figure of {args.impl} can be compared with the baseline\'s code')
    if c.get('drift', {}).get('different_machines') and args.strict_machine:
        # The verdict is within one run; the machines differ only in the
        # drift line, but --strict-machine asks for one machine throughout.
        raise R.InputError('the baseline run and this run come from different machines '
                           '(--strict-machine)')
    if regs:
        print(f'regress: FAIL: {len(regs)} significant regression(s) beyond '
              f'+-{args.noise:.0%} (alpha {args.alpha:g}) against {c["regress"]["base"]}, '
              'measured in the same run:')
        for r in regs:
            print(f'  {r["figure"]}: {r["change"]} (p {_p(r["p"])})')
        return 1
    if problems:
        return 2
    print(f'regress: OK: no significant regression beyond +-{args.noise:.0%} '
          f'(alpha {args.alpha:g}) in {s["figures"]} figures against {c["regress"]["base"]}, '
          'measured in the same run')
    return 0


def cmd_base_commit(args):
    """Prints the commit the baseline was measured at (make regress builds it)."""
    base = _baseline(args)
    git = base['run'].get('git', {})
    if not git.get('commit'):
        raise R.InputError('the baseline records no commit')
    if git.get('dirty'):
        raise R.InputError(f'the baseline was measured on a dirty tree at {git["commit"][:7]}: '
                           'its code is not in git; save a run of a clean tree (make baseline)')
    print(git['commit'])
    return 0


def cmd_baseline(args):
    d = R.resolve_run(args.run, args.data_dir, impl=args.impl)
    os.makedirs(R.BASELINE_DIR, exist_ok=True)
    dst = os.path.join(R.BASELINE_DIR, f'{args.impl}.json')
    shutil.copyfile(d['_path'], dst)
    print(f'baseline: {os.path.relpath(dst)} <- {os.path.relpath(d["_path"])} '
          f'({R.run_title(d)})')
    run = d['run']
    if run.get('kind') != 'full':
        print(f'baseline: warning: a {run.get("kind")!r} run, not a full one')
    if run.get('git', {}).get('dirty'):
        print('baseline: warning: measured on a dirty tree')
    print('baseline: commit this file so CI (make regress) can use it')
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--data-dir', default=R.DATA_DIR)
    ap.add_argument('--alpha', type=float, default=ALPHA)
    ap.add_argument('--noise', type=float, default=NOISE)
    ap.add_argument('--impl', default='ref', help='implementation under test')
    sub = ap.add_subparsers(dest='cmd', required=True)
    p = sub.add_parser('compare')
    p.add_argument('A')
    p.add_argument('B')
    p.add_argument('--a-impl')
    p.add_argument('--b-impl')
    p.add_argument('--out', help='also write OUT.json and OUT.md')
    p.add_argument('--plot', help='also write a ratio-bar plot (PNG and SVG) to this path stem')
    p = sub.add_parser('regress')
    p.add_argument('--baseline')
    p.add_argument('--latest', default='latest')
    p.add_argument('--out')
    p.add_argument('--strict-machine', action='store_true',
                   help='exit 2 when the runs come from different machines')
    p = sub.add_parser('baseline')
    p.add_argument('--run', default='latest')
    p = sub.add_parser('base-commit')
    p.add_argument('--baseline')
    args = ap.parse_args(argv)
    try:
        return {'compare': cmd_compare, 'regress': cmd_regress, 'baseline': cmd_baseline,
                'base-commit': cmd_base_commit}[args.cmd](args)
    except R.InputError as e:
        print(f'{args.cmd}: unusable input: {e}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
