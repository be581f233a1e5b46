"""Reading benchmark runs (bench/FORMAT.md) and conformance results
(conformance/FORMAT.md).  Readers ignore unknown fields and refuse only a
different major version."""
import glob
import json
import os

BENCH_FORMAT, BENCH_MAJOR = 'mp-bench', 1
CONF_FORMAT, CONF_MAJOR = 'mp-conformance', 1

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DATA_DIR = os.path.join(HERE, 'data')
OUT_DIR = os.path.join(HERE, 'out')
BASELINE_DIR = os.path.join(HERE, 'baseline')

# Machine fields whose difference makes two runs incomparable in principle.
MACHINE_KEYS = ('hostname', 'cpu_model', 'cores', 'mem_bytes', 'kernel',
                'virtualization', 'os')
TOOL_KEYS = ('cc', 'cflags', 'python')


def rel(path):
    """A path as the report shows it: relative to the project root when inside."""
    a = os.path.abspath(path)
    return os.path.relpath(a, ROOT) if a.startswith(ROOT + os.sep) else a


class InputError(Exception):
    """An unusable or incomparable input (exit status 2)."""


def _major(version):
    try:
        return int(str(version).split('.')[0])
    except ValueError:
        return None


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise InputError(f'{path}: no such file') from None
    except (OSError, ValueError) as e:
        raise InputError(f'{path}: cannot read: {e}') from None


def load_run(path):
    d = load_json(path)
    if not isinstance(d, dict) or d.get('format') != BENCH_FORMAT:
        raise InputError(f'{path}: not an {BENCH_FORMAT} file')
    if _major(d.get('version')) != BENCH_MAJOR:
        raise InputError(f'{path}: format version {d.get("version")}, '
                         f'this reader knows major version {BENCH_MAJOR}')
    if not isinstance(d.get('results'), list):
        raise InputError(f'{path}: no results list')
    d.setdefault('run', {})
    d['_path'] = path
    for r in d['results']:
        r.setdefault('params', {})
        r.setdefault('status', 'ok')
        r.setdefault('samples', [])
        r.setdefault('unit', '')
        r.setdefault('higher_is_better', r.get('metric') == 'throughput')
        r.setdefault('impl', d['run'].get('impl', '?'))
    return d


def load_conformance(path):
    d = load_json(path)
    if not isinstance(d, dict) or d.get('format') != CONF_FORMAT:
        raise InputError(f'{path}: not an {CONF_FORMAT} file')
    if _major(d.get('version')) != CONF_MAJOR:
        raise InputError(f'{path}: format version {d.get("version")}, '
                         f'this reader knows major version {CONF_MAJOR}')
    d['_path'] = path
    return d


def md_table(head, rows):
    """A Markdown table (a list of lines) of head and rows of strings; a '|'
    inside a cell is escaped so that it cannot split the cell."""
    def line(cells):
        return '| ' + ' | '.join(c.replace('|', '\\|') for c in cells) + ' |'
    return [line(head), '|' + '---|' * len(head)] + [line(r) for r in rows]


def canon(params):
    return json.dumps(params or {}, sort_keys=True, separators=(',', ':'))


def figure_key(r, with_impl=True):
    k = (r.get('workload', '?'), canon(r.get('params')), r.get('metric', '?'))
    return (r.get('impl', '?'),) + k if with_impl else k


def _natural(v):
    return (0, v, '') if isinstance(v, (int, float)) and not isinstance(v, bool) else (1, 0, str(v))


def sort_key(r):
    """Workload, then params in natural order (size 64 before 1024), then impl."""
    p = tuple((k, _natural(v)) for k, v in sorted((r.get('params') or {}).items()))
    return (r.get('workload', ''), p, r.get('metric', ''), impl_rank(r.get('impl', '')))


def impl_rank(impl):
    """Order of implementations in tables: the tested ones, CPython, OS floors."""
    if impl == 'cpython':
        return (1, impl)
    if impl.startswith('os.'):
        return (2, impl)
    return (0, impl)


def params_label(params):
    return ','.join(f'{k}={v}' for k, v in sorted((params or {}).items()))


def figure_label(r, with_impl=True):
    p = params_label(r.get('params'))
    s = r.get('workload', '?') + (f'[{p}]' if p else '')
    if with_impl:
        s += ' ' + r.get('impl', '?')
    if r.get('metric') not in (None, 'throughput', 'latency', 'time'):
        s += ' ' + r['metric']
    return s


def short_labels(items, with_impl=None):
    """Labels that show only the params varying within each workload among
    items (for plots, where 'api=bytes,consumers=1,...' on every bar is noise).
    with_impl None: add the impl when items have more than one."""
    vary = {}
    for r in items:
        for k, v in (r.get('params') or {}).items():
            vary.setdefault(r.get('workload'), {}).setdefault(k, set()).add(canon(v))
    if with_impl is None:
        with_impl = len({r.get('impl') for r in items}) > 1
    out = []
    for r in items:
        keys = [k for k, vs in vary.get(r.get('workload'), {}).items() if len(vs) > 1]
        p = ','.join(f'{k}={(r.get("params") or {}).get(k)}' for k in sorted(keys)
                     if k in (r.get('params') or {}))
        out.append(r.get('workload', '?') + (f'[{p}]' if p else '')
                   + (' ' + r.get('impl', '?') if with_impl else ''))
    return out


def usable(r):
    """A result with samples a statistic can use (positive numbers)."""
    s = r.get('samples') or []
    return (r.get('status', 'ok') == 'ok' and len(s) > 0 and
            all(isinstance(x, (int, float)) and x > 0 for x in s))


def run_sort_key(d):
    return (d.get('run', {}).get('date') or '', os.path.getmtime(d['_path'])
            if os.path.exists(d['_path']) else 0)


def list_runs(data_dir=DATA_DIR, impl=None, kinds=None):
    """Every readable run in data_dir, oldest first (by run date)."""
    runs = []
    for p in glob.glob(os.path.join(data_dir, '*.json')):
        try:
            d = load_run(p)
        except InputError:
            continue
        run = d['run']
        if impl is not None and run.get('impl') != impl:
            continue
        if kinds is not None and run.get('kind') not in kinds:
            continue
        runs.append(d)
    runs.sort(key=run_sort_key)
    return runs


def resolve_run(spec, data_dir=DATA_DIR, impl=None):
    """A run file from a path, a run id in data_dir, 'latest' or 'previous'
    (of the runs of impl), or 'baseline' (reports/baseline/<impl>.json)."""
    if spec in ('latest', 'previous'):
        runs = list_runs(data_dir, impl=impl)
        need = 1 if spec == 'latest' else 2
        if len(runs) < need:
            raise InputError(f'no {spec} run of {impl or "any implementation"} '
                             f'in {os.path.relpath(data_dir)}')
        return runs[-need]
    if spec == 'baseline':
        return load_run(os.path.join(BASELINE_DIR, f'{impl or "ref"}.json'))
    if os.path.isfile(spec):
        return load_run(spec)
    cand = os.path.join(data_dir, spec if spec.endswith('.json') else spec + '.json')
    if os.path.isfile(cand):
        return load_run(cand)
    raise InputError(f'{spec}: no such run file (nor {os.path.relpath(cand)})')


def machine_differences(a, b):
    """Human-readable differences of machine (and compiler) metadata."""
    out = []
    ma, mb = a.get('run', {}).get('machine', {}), b.get('run', {}).get('machine', {})
    for k in MACHINE_KEYS:
        if k in ma and k in mb and ma[k] != mb[k]:
            out.append(f'{k}: {ma[k]!r} vs {mb[k]!r}')
    ta, tb = a.get('run', {}).get('tools', {}), b.get('run', {}).get('tools', {})
    for k in TOOL_KEYS:
        if k in ta and k in tb and ta[k] != tb[k]:
            out.append(f'{k}: {ta[k]!r} vs {tb[k]!r}')
    return out


def machine_of(d):
    """The machine a run was measured on, as a short label: host, CPU model
    and cores.  Runs with different labels are never compared silently."""
    m = d.get('run', {}).get('machine', {})
    return f'{m.get("hostname", "?")} ({m.get("cpu_model", "?")}, {m.get("cores", "?")} cores)'


def run_title(d):
    run = d.get('run', {})
    git = run.get('git', {})
    c = (git.get('commit') or '?')[:7] + ('+dirty' if git.get('dirty') else '')
    return (f'{run.get("impl", "?")} @ {c}, {run.get("date", "?")}, '
            f'{run.get("kind", "?")} run {run.get("id", "?")}')


def short_commit(d):
    git = d.get('run', {}).get('git', {})
    return (git.get('commit') or '?')[:7] + ('*' if git.get('dirty') else '')


def list_conformance(conf_dir):
    """Every readable conformance-*.json in conf_dir, by implementation name;
    returns (results, errors)."""
    out, errors = [], []
    for p in sorted(glob.glob(os.path.join(conf_dir, 'conformance-*.json'))):
        try:
            out.append(load_conformance(p))
        except InputError as e:
            errors.append(str(e))
    return out, errors


def conf_impl_name(d):
    impl = d.get('impl')
    if isinstance(impl, dict) and impl.get('name'):
        return impl['name']
    if isinstance(impl, str):
        return impl
    base = os.path.basename(d['_path'])
    return base[len('conformance-'):-len('.json')]
