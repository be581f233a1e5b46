"""gnuplot plots: each writes <stem>.dat (flat data), <stem>.gp (the script,
re-runnable with `gnuplot <stem>.gp` in its directory), <stem>.png and
<stem>.svg.  Every plot has a title, axis labels with units and a legend."""
import math
import os
import subprocess

W, H = 900, 540
FONT = 'sans,10'

# Implementations under test get strong colours; CPython orange; OS floors grey-green.
TESTED = ['#1f5fbf', '#8e24aa', '#00897b', '#c62828', '#5d4037']
CPYTHON = '#ef6c00'
OS = ['#2e7d32', '#757575', '#9e9d24', '#00838f', '#6d4c41']
VERDICT_COLOUR = {'regressed': '#c62828', 'improved': '#2e7d32',
                  'within noise': '#9e9e9e', 'not significant': '#bdbdbd'}


class PlotError(Exception):
    pass


def q(s):
    """A gnuplot single-quoted string (no escapes inside but '')."""
    return "'" + str(s).replace("'", "''") + "'"


def impl_colours(impls):
    out, t, o = {}, 0, 0
    for i in impls:
        if i == 'cpython':
            out[i] = CPYTHON
        elif i.startswith('os.'):
            out[i] = OS[o % len(OS)]
            o += 1
        else:
            out[i] = TESTED[t % len(TESTED)]
            t += 1
    return out


def unit_scale(unit, values):
    """(factor, label) so seconds read as us/ms/ns."""
    if unit != 's' or not values:
        return 1.0, unit
    m = max(values)
    for f, u in ((1.0, 's'), (1e3, 'ms'), (1e6, 'us'), (1e9, 'ns')):
        if m * f >= 1.0:
            return f, u
    return 1e9, 'ns'


def size_label(n):
    n = int(n)
    for f, u in ((1 << 30, 'GiB'), (1 << 20, 'MiB'), (1 << 10, 'KiB')):
        if n >= f and n % f == 0:
            return f'{n // f} {u}'
    return f'{n} B'


def _terminals(stem, body, w=W, h=H):
    """The same plot body rendered to PNG and SVG."""
    base = os.path.basename(stem)
    return '\n'.join([
        f'set terminal pngcairo size {w},{h} noenhanced font {q(FONT)} background rgb "white"',
        f'set output {q(base + ".png")}',
        body,
        f'set terminal svg size {w},{h} dynamic noenhanced font {q(FONT)} background rgb "white"',
        f'set output {q(base + ".svg")}',
        'replot',
        'unset output',
        ''])


COMMON = '\n'.join([
    'set border lw 1 lc rgb "#444444"',
    'set grid xtics ytics mxtics mytics lc rgb "#e0e0e0" lw 1',
    'set key box opaque',
    'set style fill solid 0.5 border',
])


def _write_and_run(stem, data, script):
    with open(stem + '.dat', 'w') as f:
        f.write(data)
    with open(stem + '.gp', 'w') as f:
        f.write(script)
    try:
        r = subprocess.run(['gnuplot', os.path.basename(stem) + '.gp'],
                           cwd=os.path.dirname(stem) or '.', capture_output=True,
                           text=True, timeout=60)
    except FileNotFoundError:
        raise PlotError('gnuplot is not installed (make deps)') from None
    if r.returncode != 0 or not os.path.exists(stem + '.png'):
        raise PlotError(f'gnuplot failed on {stem}.gp: {r.stderr.strip()[:500]}')
    return stem + '.png'


def _log_ok(values):
    vals = [v for v in values if v > 0]
    return vals and max(vals) / min(vals) > 20


def lines_with_errors(stem, title, xlabel, ylabel, series, logx=False, logy=False,
                      xtics=None, key='top left'):
    """series: [(name, colour, [(x, y, ylow, yhigh)])] drawn with error bars."""
    data, plots = [], []
    idx = 0
    for name, colour, pts in series:
        if not pts:
            continue
        data.append(f'# {name}: x median ci_low ci_high')
        data.extend(f'{x:.9g} {y:.9g} {lo:.9g} {hi:.9g}' for x, y, lo, hi in sorted(pts))
        data.append('\n')
        plots.append(f'{q(os.path.basename(stem) + ".dat")} index {idx} using 1:2:3:4 '
                     f'with yerrorlines lw 2 pt 7 ps 0.8 lc rgb {q(colour)} title {q(name)}')
        idx += 1
    if not plots:
        raise PlotError(f'{stem}: no data')
    body = [COMMON, f'set title {q(title)}', f'set xlabel {q(xlabel)}',
            f'set ylabel {q(ylabel)}', f'set key {key}']
    if logx:
        body.append('set logscale x 2' if xtics else 'set logscale x')
    if logy:
        body.append('set logscale y')
        body.append('set format y "%.0s%c"')
    else:
        body.append('set yrange [0:*]')
        if max(p[1] for _, _, pts in series for p in pts) >= 1000:
            body.append('set format y "%.1s%c"')
    if xtics:
        body.append('set xtics (' + ', '.join(f'{q(lab)} {x:.9g}' for x, lab in xtics) + ')')
        xs = [x for x, _ in xtics]
        lo, hi = min(xs), max(xs)
        if logx:
            body.append(f'set xrange [{lo / 1.5:.9g}:{hi * 1.5:.9g}]')
        else:
            pad = max((hi - lo) * 0.08, 0.5)
            body.append(f'set xrange [{lo - pad:.9g}:{hi + pad:.9g}]')
    body.append('plot ' + ', \\\n     '.join(plots))
    return _write_and_run(stem, '\n'.join(data) + '\n', _terminals(stem, '\n'.join(body)))


def distributions(stem, title, ylabel, groups, unit_factor=1.0):
    """Box per group: P25-P75 box, P05-P95 whiskers, median bar, samples as
    points.  groups: [(label, colour, summary, samples)]."""
    if not groups:
        raise PlotError(f'{stem}: no data')
    data = ['# x p25 p05 p95 p75 median colour']
    pts = ['# x sample']
    colours = {}
    for i, (label, colour, s, samples) in enumerate(groups, 1):
        f = unit_factor
        c = int(colour.lstrip('#'), 16)
        colours[label] = colour
        data.append(f'{i} {s["p25"] * f:.9g} {s["p05"] * f:.9g} {s["p95"] * f:.9g} '
                    f'{s["p75"] * f:.9g} {s["median"] * f:.9g} {c}')
        n = len(samples)
        for j, v in enumerate(samples):
            jitter = (j - (n - 1) / 2) / max(n, 1) * 0.5
            pts.append(f'{i + jitter:.4f} {v * f:.9g}')
    # Rotated tic labels need room below: grow the image rather than squash the plot.
    extra = int(max(len(g[0]) for g in groups) * 0.25) if len(groups) > 4 else 0
    vals = [s['p05'] * unit_factor for _, _, s, _ in groups] + \
           [s['p95'] * unit_factor for _, _, s, _ in groups]
    base = os.path.basename(stem)
    body = [COMMON, f'set title {q(title)}', 'set xlabel "implementation / parameters"',
            f'set ylabel {q(ylabel)}', 'set key outside right top vertical Left reverse',
            'set offsets 0, 0, graph 0.08, 0',
            f'set xrange [0.4:{len(groups) + 0.6}]', 'set boxwidth 0.5',
            'set xtics (' + ', '.join(f'{q(g[0])} {i}' for i, g in enumerate(groups, 1)) + ')',
            'set xtics rotate by -25 left' if len(groups) > 4 else '',
            f'set bmargin {extra + 4}']
    if _log_ok(vals):
        body += ['set logscale y', 'set format y "%.0s%c"']
    else:
        body.append('set yrange [0:*]')
    body.append(
        f'plot {q(base + ".dat")} index 0 using 1:2:3:4:5:7 with candlesticks whiskerbars 0.5 '
        f'lc rgb variable fs solid 0.35 title "P25-P75 box, P05-P95 whiskers", \\\n'
        f'     {q(base + ".dat")} index 0 using 1:6:6:6:6 with candlesticks lw 3 '
        f'lc rgb "#000000" title "median", \\\n'
        f'     {q(base + ".dat")} index 1 using 1:2 with points pt 7 ps 0.45 '
        f'lc rgb "#555555" title "samples"')
    return _write_and_run(stem, '\n'.join(data) + '\n\n\n' + '\n'.join(pts) + '\n',
                          _terminals(stem, '\n'.join(body), w=W + 200, h=H + 12 * extra))


def ratio_bars(stem, title, xlabel, bars, noise, band_label, verdict_legend=True):
    """Horizontal bars of speed ratios (> 1 = faster) from 1, with 95% error
    bars and the +-noise band shaded; labels read horizontally, first on top.
    bars: [(label, ratio, low, high, colour)]."""
    if not bars:
        raise PlotError(f'{stem}: no data')
    data = ['# y ratio low high colour']
    for i, (label, r, lo, hi, colour) in enumerate(bars, 1):
        data.append(f'{i} {r:.9g} {lo:.9g} {hi:.9g} {int(colour.lstrip("#"), 16)}')
    vals = [b[2] for b in bars] + [b[3] for b in bars] + [1 / (1 + noise), 1 + noise]
    lo, hi = min(vals) / 1.15, max(vals) * 1.15
    base = os.path.basename(stem)
    n = len(bars)
    longest = max(len(b[0]) for b in bars)
    wide = max(W, min(1800, 560 + 7 * longest))
    tall = 230 + 20 * n
    legend = []
    if verdict_legend:
        legend = [f'NaN with boxes fs solid 0.6 lc rgb {q(VERDICT_COLOUR[k])} title {q(t)}'
                  for k, t in (('improved', 'significantly faster'),
                               ('regressed', 'significantly slower'),
                               ('not significant', 'not significant or within noise'))]
    body = [COMMON, f'set title {q(title)}', f'set xlabel {q(xlabel)}',
            'set ylabel "figure"', 'set key outside bottom center horizontal maxrows 3',
            f'set yrange [{n + 0.6}:0.4]', f'set xrange [{lo:.9g}:{hi:.9g}]',
            'set logscale x', _ratio_tics(lo, hi).replace('set ytics', 'set xtics'),
            'set ytics (' + ', '.join(f'{q(b[0])} {i}' for i, b in enumerate(bars, 1)) + ')',
            'set ytics nomirror', 'set grid noytics nomytics', 'set bmargin 8',
            f'set object 1 rect from first {1 / (1 + noise):.9g}, graph 0 to first '
            f'{1 + noise:.9g}, graph 1 fc rgb "#fff2b3" fs solid 1.0 noborder behind',
            'set arrow 1 from first 1, graph 0 to first 1, graph 1 nohead lc rgb "#444444" dt 2',
            f'plot {q(base + ".dat")} using 2:1:(1):2:($1-0.35):($1+0.35):5 '
            'with boxxyerror lc rgb variable fs solid 0.6 notitle, \\\n'
            + ''.join(f'     {x}, \\\n' for x in legend)
            + f'     {q(base + ".dat")} using 2:1:3:4 with xerrorbars pt 7 ps 0.35 lw 1.5 '
            f'lc rgb "#000000" title "median ratio, 95% interval", \\\n'
            f'     NaN with boxes fs solid 1.0 lc rgb "#fff2b3" title {q(band_label)}']
    return _write_and_run(stem, '\n'.join(data) + '\n',
                          _terminals(stem, '\n'.join(body), w=wide, h=tall))


NICE_RATIOS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 0.67, 0.8, 0.9, 0.95, 1, 1.05, 1.1, 1.25,
               1.5, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000)


def _ratio_tics(lo, hi):
    """Readable tics on a log axis of ratios (gnuplot would show only '1')."""
    gap = (math.log(hi) - math.log(lo)) / 14      # at most ~14 tics, evenly readable
    vals = [1.0]
    for side in ([v for v in NICE_RATIOS if 1 < v <= hi],
                 [v for v in reversed(NICE_RATIOS) if lo <= v < 1]):
        last = 1.0
        for v in side:
            if abs(math.log(v) - math.log(last)) >= gap:
                vals.append(v)
                last = v
    vals.sort()
    return 'set ytics (' + ', '.join(f'"{v:g}" {v:g}' for v in vals) + ')'


def change_bars(stem, c, title, rows=None):
    """Ratio bars of a comparison (compare.compare_runs result), of all its
    usable rows or of the given ones."""
    import runs
    if rows is None:
        rows = [r for r in c['rows'] if r['verdict'] != 'unusable']
    bars = []
    for lab, r in zip(runs.short_labels(rows), rows):
        bars.append((lab, 1 / r['slowdown'], 1 / r['slowdown_high'],
                     1 / r['slowdown_low'], VERDICT_COLOUR.get(r['verdict'], '#9e9e9e')))
    return ratio_bars(stem, title, 'speed of B / speed of A (x, log scale; > 1 = B faster)',
                      bars, c['noise'], f'noise band +-{c["noise"]:.0%}')


def history(stem, title, ylabel, labels, pts, colour):
    """Run order on x (commit labels), median with its interval on y.
    pts: [(index, median, low, high)]."""
    tics = [(i, labels[i]) for i in range(len(labels))]
    body_series = [('median, 95% interval', colour, pts)]
    return lines_with_errors(stem, title, 'run (oldest to newest), commit', ylabel,
                             body_series, xtics=tics, key='bottom left')

