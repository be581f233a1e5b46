#!/usr/bin/env python3
"""Mutation testing of the conformance suite: does it catch broken libraries?

  mutate.py --suite BIN --base-lib LIB --objdir DIR --cc CC --cflags FLAGS --libs LIBS
            [--work DIR] [--out DIR] [--jobs 2] [--quick] [--check] [NAME ...]

Each conformance/mutants/<NAME>.mut is one small, realistic bug in the
reference implementation (format: README.md beside this file).  For each
mutant this driver

  1. copies ref/src to <work>/<NAME>/src and applies the mutant there (ref/src
     itself is never touched); a snippet that does not occur exactly once makes
     the mutant STALE, which fails the run: mutants must follow ref as it
     evolves;
  2. compiles the mutated file(s) with the library's flags (-Wno-error: a bug
     may well warn) and links them with the unmutated objects of the build
     into <work>/<NAME>/<soname>, a drop-in replacement of the base library;
  3. runs the ONE suite binary, built once against the base library through
     the Makefile's IMPL= rule, with LD_LIBRARY_PATH pointing at the mutant, so
     the suite sees the mutant exactly as it sees any other implementation
     (mp.h and a shared object);
  4. runs the tests of the mutant's component (its expected rows first), one
     test per run of the binary, and stops at the first row that fails,
     crashes, times out or leaves a process behind TWICE in a row: that row
     killed the mutant, if the unmutated library passes it right after (the
     second run and that check keep a test that is merely flaky under load
     from counting; such a row is reported as flaky).
     A hang is bounded by Criterion's --timeout, 10x the test's baseline time
     (at least 5 s), and by a limit on the whole mutant; whatever a run leaves
     behind is killed.

A baseline run of the same suites against the unmutated library comes first:
rows failing there are never run against mutants (and are reported), and its
times set the per-test limits.  Two mutants run at a time (--jobs).

Output: <out>/mutants.json and <out>/mutants.md, and a score line
"mutants: K/N killed (P%)".  Exit status 0 when every mutant was killed (or is
documented as equivalent), 1 when one survived, is stale or does not build, 2
on a usage error.
"""
import argparse, concurrent.futures, datetime, glob, json, os, queue, re, shlex, shutil
import signal, subprocess, sys, tempfile, threading, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, '..', '..'))
sys.path.insert(0, os.path.join(ROOT, 'conformance'))
import run as conformance_run  # noqa: E402  (machine)
import catalogue  # noqa: E402

ROW_SUITE = {r['id']: r['component'] for r in catalogue.load()[0]}

# The suites that test each component of ref/src.  A mutant may name others
# with `suites:`.
COMPONENT_SUITES = {
    'process': ['process'],
    'sync': ['lock', 'rlock', 'semaphore', 'event', 'condition', 'barrier'],
    'queue': ['queue', 'simple_queue', 'joinable_queue'],
    'pipe': ['pipe'],
    'value': ['value'],
    'pool': ['pool'],
    'manager': ['manager'],
}
KEYS = {'file', 'component', 'suites', 'description', 'expect', 'quick', 'equivalent'}
LINE_RE = re.compile(r'^\[(RUN |PASS|FAIL|SKIP|ERR |WARN|----|====)\] ?(.*)$')
NAME_RE = re.compile(r'^(\w+)::(\w+)(?::\s*(.*))?$')


class MutantError(Exception):
    pass


# ------------------------------------------------------------------ mutants

def parse_mutant(path):
    """Header lines `key: value`, then one or more hunks:
         <<<<<<< original
         exact text (occurs exactly once in the file)
         =======
         replacement text
         >>>>>>> mutant
    """
    name = os.path.splitext(os.path.basename(path))[0]
    m = {'name': name, 'path': os.path.relpath(path, ROOT), 'hunks': [], 'quick': False,
         'equivalent': '', 'suites': [], 'expect': []}
    lines = open(path, encoding='utf-8').read().split('\n')
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith('<<<<<<< original'):
            try:
                mid = lines.index('=======', i + 1)
                end = next(j for j in range(mid + 1, len(lines))
                           if lines[j].startswith('>>>>>>> '))
            except (ValueError, StopIteration):
                raise MutantError(f'{path}:{i + 1}: hunk without ======= or >>>>>>> line')
            m['hunks'].append(('\n'.join(lines[i + 1:mid]), '\n'.join(lines[mid + 1:end])))
            i = end + 1
            continue
        if line.strip() and not line.startswith('#'):
            k, sep, v = line.partition(':')
            k = k.strip()
            if not sep or k not in KEYS:
                raise MutantError(f'{path}:{i + 1}: expected "key: value" ({", ".join(sorted(KEYS))})')
            v = v.strip()
            if k in ('suites', 'expect'):
                m[k] = v.split()
            elif k == 'quick':
                m[k] = v.lower() in ('yes', 'true', '1')
            else:
                m[k] = v
        i += 1
    for k in ('file', 'component', 'description'):
        if not m.get(k):
            raise MutantError(f'{path}: missing "{k}:"')
    if not m['hunks']:
        raise MutantError(f'{path}: no <<<<<<< original hunk')
    if not m['suites']:
        if m['component'] not in COMPONENT_SUITES:
            raise MutantError(f'{path}: component {m["component"]!r} has no default suites; '
                              'give "suites:"')
        m['suites'] = COMPONENT_SUITES[m['component']]
    for orig, repl in m['hunks']:
        if orig == repl:
            raise MutantError(f'{path}: a hunk replaces a snippet by itself')
    return m


def apply_mutant(m, srcdir):
    """Apply m's hunks to the files under srcdir; MutantError (stale) unless
    every original snippet occurs exactly once."""
    changed = set()
    for n, (orig, repl) in enumerate(m['hunks'], 1):
        f = os.path.join(srcdir, m['file'])
        if not os.path.exists(f):
            raise MutantError(f'stale: ref/src/{m["file"]} does not exist')
        text = open(f, encoding='utf-8').read()
        count = text.count(orig)
        if count != 1:
            first = orig.strip().split('\n')[0][:70]
            raise MutantError(f'stale: hunk {n} ("{first}") occurs {count} times in '
                              f'ref/src/{m["file"]}, not exactly once')
        open(f, 'w', encoding='utf-8').write(text.replace(orig, repl, 1))
        changed.add(m['file'])
    return changed


# ------------------------------------------------------------------ building

def build_mutant(m, cfg):
    """<work>/<name>/<soname>; returns its directory."""
    d = os.path.join(cfg.work, m['name'])
    shutil.rmtree(d, ignore_errors=True)
    src = os.path.join(d, 'src')
    shutil.copytree(os.path.join(ROOT, 'ref', 'src'), src)
    changed = apply_mutant(m, src)
    # A header change recompiles every file; a .c change only itself.
    units = sorted(f for f in os.listdir(src) if f.endswith('.c'))
    if not all(c.endswith('.c') for c in changed):
        recompile = units
    else:
        recompile = sorted(changed)
    objdir = os.path.join(d, 'obj')
    os.makedirs(objdir)
    objs = []
    cflags = shlex.split(cfg.cflags) + ['-Wno-error', '-I' + src]
    for u in units:
        base = os.path.join(cfg.objdir, u[:-2] + '.o')
        if u not in recompile:
            if not os.path.exists(base):
                raise MutantError(f'build: base object {base} missing (make lib first)')
            objs.append(os.path.abspath(base))
            continue
        o = os.path.join(objdir, u[:-2] + '.o')
        cmd = [cfg.cc] + cflags + ['-c', os.path.join(src, u), '-o', o]
        r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        if r.returncode:
            raise MutantError(f'build: {u} does not compile:\n{r.stderr[-2000:]}')
        objs.append(o)
    lib = os.path.join(d, cfg.soname)
    cmd = [cfg.cc, '-shared', f'-Wl,-soname,{cfg.soname}', '-o', lib] + objs + shlex.split(cfg.libs)
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if r.returncode:
        raise MutantError(f'build: link failed:\n{r.stderr[-2000:]}')
    return d


def check_resolution(libdir, cfg):
    """The suite must load the library from libdir (LD_LIBRARY_PATH beats the
    suite's RUNPATH); otherwise every mutant would silently 'survive'."""
    env = dict(os.environ, LD_LIBRARY_PATH=os.path.abspath(libdir))
    out = subprocess.run(['ldd', cfg.suite], env=env, capture_output=True, text=True).stdout
    want = os.path.join(os.path.abspath(libdir), cfg.soname)
    for line in out.splitlines():
        if line.strip().startswith(cfg.soname + ' '):
            got = line.split('=>')[-1].split('(')[0].strip()
            if os.path.realpath(got) == os.path.realpath(want):
                return
            raise MutantError(f'the suite loads {got}, not {want}')
    raise MutantError(f'the suite does not link {cfg.soname}')


# ------------------------------------------------------------------- running

def run_criterion(libdir, pattern, cfg, timeout, deadline, logf=None):
    """One run of the suite binary (-j1, verbose) on the tests matching
    pattern, against the library in libdir.  Returns (results, leftovers,
    limit_hit): results maps (suite, test) to (result, seconds, message) with
    result pass | fail | crash | timeout; a test still running when `deadline`
    (absolute) passed is a timeout.  Whatever the run leaves is killed."""
    cmd = [cfg.suite, '--verbose', '--color=never', '-j1', f'--timeout={timeout:g}',
           '--filter', pattern]
    env = dict(os.environ, LD_LIBRARY_PATH=os.path.abspath(libdir))
    if logf:
        logf.write('$ ' + ' '.join(shlex.quote(c) for c in cmd) + '\n')
        logf.flush()
    # Under conformance/reap.py, a subreaper of its own: what the run leaves
    # (test workers live in sessions of their own) is found and killed there.
    fd, report = tempfile.mkstemp(prefix='mutant-reap-', suffix='.json')
    os.close(fd)
    cmd = [sys.executable, os.path.join(ROOT, 'conformance', 'reap.py'), '--report', report,
           '--'] + cmd
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, start_new_session=True)
    lines = queue.Queue()

    def reader():
        for raw in iter(p.stdout.readline, b''):
            lines.put(raw.decode('utf-8', 'replace').rstrip('\n'))
        lines.put(None)

    threading.Thread(target=reader, daemon=True).start()
    results, notes, current, limit_hit = {}, {}, None, False
    while True:
        left = deadline - time.time()
        if left <= 0:
            limit_hit = True
            break
        try:
            line = lines.get(timeout=min(left, 1.0))
        except queue.Empty:
            continue
        if line is None:
            break
        if logf:
            logf.write(line + '\n')
        mm = LINE_RE.match(line)
        if not mm:
            continue
        tag, rest = mm.group(1), mm.group(2)
        nm = NAME_RE.match(rest)
        if tag == 'RUN ' and nm:
            current = (nm.group(1), nm.group(2))
            notes[current] = []
        elif tag == '----' and current in notes:
            notes[current].append(rest.strip())
        elif tag in ('PASS', 'FAIL') and nm:
            key = (nm.group(1), nm.group(2))
            why = (nm.group(3) or '').strip()
            secs = re.search(r'\(([\d.]+)s\)', why)
            secs = float(secs.group(1)) if secs else 0.0
            if tag == 'PASS':
                results[key] = ('pass', secs, '')
            else:
                result = ('timeout' if 'Timed out' in why else
                          'crash' if 'CRASH' in why else 'fail')
                msg = ' '.join(n for n in notes.get(key, []) if n)
                results[key] = (result, secs, (why + ' ' + msg).strip()[:500])
            current = None
    if limit_hit:
        p.terminate()  # reap.py kills the suite's group, then sweeps
        if current and current not in results:
            results[current] = ('timeout', 0.0, 'still running when the run limit ended it')
    try:
        p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    try:
        with open(report) as f:
            leftovers = json.load(f)
    except (OSError, ValueError):
        leftovers = []  # reap.py itself was killed: nothing was swept
    finally:
        os.unlink(report)
    return results, leftovers, limit_hit


def pattern_of(suites):
    return suites[0] + '/*' if len(suites) == 1 else '@(' + '|'.join(suites) + ')/*'


def run_baseline(base_dir, suites, cfg):
    """The suites against the unmutated library, as two batches in parallel
    (the load the mutants run under).  Returns (durations, failing rows)."""
    groups = [suites[i::cfg.jobs] for i in range(cfg.jobs) if suites[i::cfg.jobs]]
    deadline = time.time() + 1200

    def go(g):
        return run_criterion(base_dir, pattern_of(g), cfg, cfg.test_timeout, deadline)

    with concurrent.futures.ThreadPoolExecutor(cfg.jobs) as ex:
        outs = list(ex.map(go, groups))
    durations, failing = {}, []
    for results, leftovers, limit_hit in outs:
        if limit_hit:
            raise MutantError('baseline: the unmutated run did not finish')
        for key, (res, secs, msg) in results.items():
            durations[key] = secs
            if res != 'pass':
                failing.append(key[1].replace('_', '-'))
    return durations, sorted(failing)


def test_timeout(key, cfg, durations):
    """Criterion's limit for one test of a mutant: generous against its
    baseline time, so that a hang costs seconds, not the default minute."""
    return min(cfg.test_timeout, max(cfg.min_test_timeout, 10 * durations.get(key, 1.0)))


def run_mutant(libdir, tests, cfg, durations, logf):
    """Run the tests one by one; stop at the first that fails twice (the
    second run confirms the kill, so a test that is merely flaky under load
    never kills a mutant).  Returns (killed_by, flaky, tests run)."""
    deadline = time.time() + cfg.mutant_timeout
    flaky, ran = [], 0
    for key in tests:
        if time.time() >= deadline:
            return ([{'row': None, 'suite': None, 'result': 'timeout',
                      'message': f'the mutant\'s tests exceeded {cfg.mutant_timeout:.0f} s'}],
                    flaky, ran)
        row = key[1].replace('_', '-')
        pat = f'{key[0]}/{key[1]}'
        t = test_timeout(key, cfg, durations)
        outcomes = []
        for attempt in range(2):
            results, leftovers, limit_hit = run_criterion(libdir, pat, cfg, t, deadline + 2 * t,
                                                          logf)
            res, secs, msg = results.get(key, ('crash', 0.0, 'the test did not report'))
            if res == 'pass' and leftovers:
                res, msg = 'leftovers', f'{len(leftovers)} process(es) of the test left behind'
            outcomes.append((res, msg))
            if res == 'pass':
                break
        ran += 1
        if all(o[0] != 'pass' for o in outcomes):
            # Twice: and the unmutated library passes it right now?  If not,
            # the row is unreliable at the moment, not a witness.
            results, _, _ = run_criterion(cfg.base_dir, pat, cfg, t, time.time() + 2 * t, logf)
            if results.get(key, ('crash',))[0] == 'pass':
                res, msg = outcomes[0]
                return ([{'row': row, 'suite': key[0], 'result': res, 'message': msg}],
                        flaky, ran)
            flaky.append({'row': row, 'result': outcomes[0][0],
                          'message': 'failed twice, but also failed against the unmutated '
                                     'library: ' + outcomes[0][1]})
        elif outcomes[0][0] != 'pass':
            flaky.append({'row': row, 'result': outcomes[0][0], 'message': outcomes[0][1]})
    return [], flaky, ran


# ------------------------------------------------------------------ the run

def one(m, cfg, ignore, durations, suite_tests):
    r = {k: m[k] for k in ('name', 'path', 'file', 'component', 'description', 'suites',
                           'expect')}
    if m['equivalent']:
        r['equivalent'] = m['equivalent']
    t0 = time.time()
    try:
        d = build_mutant(m, cfg)
        r['build_s'] = round(time.time() - t0, 2)
        check_resolution(d, cfg)
    except MutantError as e:
        r.update(status='stale' if str(e).startswith('stale') else 'build-error',
                 error=str(e), killed_by=[], seconds=round(time.time() - t0, 2))
        return r
    # The expected rows first (the likely killers), then the rest of the
    # component's suites; rows failing against the base library never run.
    first = [(ROW_SUITE[x], x.replace('-', '_')) for x in m['expect'] if x in ROW_SUITE]
    rest = sorted(k for k in suite_tests if k[0] in m['suites'])
    tests = [k for k in dict.fromkeys(first + rest)
             if k in suite_tests and k[1].replace('_', '-') not in ignore]
    t1 = time.time()
    with open(os.path.join(d, 'run.log'), 'w') as logf:
        killed_by, flaky, ran = run_mutant(d, tests, cfg, durations, logf)
    r.update(run_s=round(time.time() - t1, 2), tests_run=ran, killed_by=killed_by)
    if flaky:
        r['flaky'] = flaky
    if killed_by:
        r['status'] = 'killed'
    else:
        r['status'] = 'equivalent' if m['equivalent'] else 'survived'
    r['seconds'] = round(time.time() - t0, 2)
    if not cfg.keep:
        shutil.rmtree(os.path.join(d, 'src'), ignore_errors=True)
        shutil.rmtree(os.path.join(d, 'obj'), ignore_errors=True)
    return r


def conformance_catalogue_tests(binary):
    try:
        return catalogue.suite_tests(binary)
    except (subprocess.CalledProcessError, OSError):
        return set()


def killers(r):
    out = []
    for f in r['killed_by']:
        out.append(f"{f['row'] or '(run)'} ({f['result']})" if f['result'] != 'fail'
                   else f['row'])
    return ', '.join(out)


def report_stem(cfg):
    # A subset never overwrites the report of the full run.
    return 'mutants-subset' if cfg.names else 'mutants-quick' if cfg.quick else 'mutants'


def write_reports(results, baseline, cfg, elapsed):
    n = len(results)
    counted = [r for r in results if r['status'] != 'equivalent']
    killed = sum(r['status'] == 'killed' for r in counted)
    pct = 100.0 * killed / len(counted) if counted else 100.0
    score = f'mutants: {killed}/{len(counted)} killed ({pct:.1f}%)'
    commit = conformance_run.sh('git rev-parse --short HEAD')
    doc = {
        'format': 'mp-mutants', 'version': 1,
        'date': datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ'),
        'git': commit, 'machine': conformance_run.machine(),
        'suite': os.path.relpath(cfg.suite, ROOT), 'quick': cfg.quick,
        'elapsed': round(elapsed, 1), 'jobs': cfg.jobs,
        'test_timeout': cfg.test_timeout, 'mutant_timeout': cfg.mutant_timeout,
        'baseline': baseline,
        'summary': {'total': n, 'killed': killed, 'counted': len(counted),
                    'survived': sum(r['status'] == 'survived' for r in results),
                    'equivalent': n - len(counted),
                    'stale': sum(r['status'] == 'stale' for r in results),
                    'build_error': sum(r['status'] == 'build-error' for r in results),
                    'score': round(pct, 1)},
        'mutants': results,
    }
    os.makedirs(cfg.out, exist_ok=True)
    stem = report_stem(cfg)
    with open(os.path.join(cfg.out, stem + '.json'), 'w') as f:
        json.dump(doc, f, indent=1)
    with open(os.path.join(cfg.out, stem + '.md'), 'w') as f:
        f.write(f'# Mutation testing of the conformance suite\n\n**{score}** '
                f'· {n} mutants · {elapsed:.0f} s on {cfg.jobs} jobs · git {commit}\n\n')
        f.write('Each mutant is one small bug put into a copy of ref/src '
                '(conformance/mutants/*.mut).  The tests of its component run against it one '
                'at a time, its expected rows first, and stop at the first row that fails, '
                'crashes, times out or leaves a process behind twice in a row while the '
                'unmutated library passes it: that row killed the mutant.\n\n')
        if baseline.get('ignored'):
            f.write('Rows failing against the unmutated library (never counted as kills): '
                    + ', '.join(f'`{x}`' for x in baseline['ignored']) + '\n\n')
        f.write('| mutant | component | description | killed by | s |\n|---|---|---|---|---|\n')
        for r in results:
            st = r['status']
            if st == 'killed':
                by = killers(r)
            elif st == 'survived':
                by = '**SURVIVED**'
                if r.get('flaky'):
                    by += ' (failed once, then passed: ' + ', '.join(
                        f"{x['row']} ({x['result']})" for x in r['flaky']) + ')'
            elif st == 'equivalent':
                by = f'equivalent: {r.get("equivalent", "")}'
            else:
                by = f'**{st.upper()}**: ' + r.get('error', '').split('\n')[0]
            desc = r['description'].replace('|', '\\|')
            f.write(f"| `{r['name']}` | {r['component']} | {desc} | {by} | "
                    f"{r.get('seconds', 0):.1f} |\n")
        f.write(f'\n{score}\n')
    return score, doc


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--suite', help='the suite binary, linked against the base library')
    ap.add_argument('--base-lib', help='the unmutated shared library the suite is linked to')
    ap.add_argument('--objdir', help='objects of the unmutated library ($(B)/obj)')
    ap.add_argument('--cc', default='cc')
    ap.add_argument('--cflags', default='')
    ap.add_argument('--libs', default='')
    ap.add_argument('--work', default='build/mutants')
    ap.add_argument('--out', default='reports/out')
    ap.add_argument('--jobs', type=int, default=2)
    ap.add_argument('--test-timeout', type=float, default=30,
                    help="the most a test may take (s); a mutant's test gets 10x its baseline "
                         "time, within [--min-test-timeout, this]")
    ap.add_argument('--min-test-timeout', type=float, default=5)
    ap.add_argument('--mutant-timeout', type=float, default=150,
                    help="limit on the tests of one mutant (s)")
    ap.add_argument('--quick', action='store_true', help='only the mutants marked "quick: yes"')
    ap.add_argument('--check', action='store_true',
                    help='only check that every mutant parses and applies')
    ap.add_argument('--no-baseline', action='store_true')
    ap.add_argument('--keep', action='store_true', help='keep each mutant\'s sources and objects')
    ap.add_argument('names', nargs='*', help='run only these mutants')
    cfg = ap.parse_args()

    paths = sorted(glob.glob(os.path.join(HERE, '*.mut')))
    mutants, bad = [], []
    for p in paths:
        try:
            mutants.append(parse_mutant(p))
        except MutantError as e:
            bad.append(str(e))
    if bad:
        print('\n'.join('mutants: ' + b for b in bad), file=sys.stderr)
        return 1
    # Every mutant must still apply, whichever subset runs.
    stale = []
    for m in mutants:
        tmp = os.path.join(cfg.work, '.check', m['name'])
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(os.path.join(ROOT, 'ref', 'src'), tmp)
        try:
            apply_mutant(m, tmp)
        except MutantError as e:
            stale.append(f'{m["name"]}: {e}')
        shutil.rmtree(tmp, ignore_errors=True)
    if stale:
        print('mutants: STALE (ref changed under them; update the .mut files):\n  '
              + '\n  '.join(stale), file=sys.stderr)
    unknown_rows = sorted({x for m in mutants for x in m['expect'] if x not in ROW_SUITE})
    if unknown_rows:
        print('mutants: WARNING: expected rows not in the catalogue: ' + ' '.join(unknown_rows),
              file=sys.stderr)
    if cfg.check:
        print(f'mutants: {len(mutants)} parse, {len(mutants) - len(stale)} apply')
        return 1 if stale else 0
    if not (cfg.suite and cfg.base_lib and cfg.objdir):
        ap.error('--suite, --base-lib and --objdir are required')
    cfg.soname = os.path.basename(cfg.base_lib)
    cfg.base_dir = os.path.dirname(cfg.base_lib)
    if cfg.names:
        unknown = set(cfg.names) - {m['name'] for m in mutants}
        if unknown:
            ap.error('unknown mutants: ' + ' '.join(sorted(unknown)))
        mutants = [m for m in mutants if m['name'] in cfg.names]
    elif cfg.quick:
        mutants = [m for m in mutants if m['quick']]
    os.makedirs(cfg.work, exist_ok=True)

    t0 = time.time()
    try:
        check_resolution(os.path.dirname(cfg.base_lib), cfg)
    except MutantError as e:
        print(f'mutants: {e}', file=sys.stderr)
        return 2
    # Longest first (by the last full run), so two jobs finish together.
    prev = {}
    try:
        for r in json.load(open(os.path.join(cfg.out, 'mutants.json')))['mutants']:
            prev[r['name']] = r.get('seconds', 0)
    except (OSError, ValueError, KeyError):
        pass
    mutants.sort(key=lambda m: -prev.get(m['name'], 30))

    # Baseline: the same suites against the unmutated library.  Rows that
    # fail there say nothing about a mutant; the times set each test's limit.
    base_dir = os.path.dirname(cfg.base_lib)
    suites = sorted({s for m in mutants for s in m['suites']} |
                    {ROW_SUITE[x] for m in mutants for x in m['expect'] if x in ROW_SUITE})
    suite_tests = {k for k in conformance_catalogue_tests(cfg.suite) if k[0] in suites}
    if not suite_tests:
        print(f'mutants: {cfg.suite} lists no tests', file=sys.stderr)
        return 2
    baseline = {'ignored': [], 'seconds': 0, 'suites': suites}
    durations = {}
    if not cfg.no_baseline:
        try:
            durations, failing = run_baseline(base_dir, suites, cfg)
        except MutantError as e:
            print(f'mutants: {e}', file=sys.stderr)
            return 1
        baseline['ignored'] = failing
        baseline['seconds'] = round(time.time() - t0, 1)
        if failing:
            print('mutants: WARNING: rows failing against the unmutated library (never run '
                  'against mutants): ' + ' '.join(failing), file=sys.stderr)
        print(f'mutants: baseline of {len(suites)} suites ({len(durations)} tests) in '
              f'{baseline["seconds"]} s')

    ignore = frozenset(baseline['ignored'])
    results = []
    with concurrent.futures.ThreadPoolExecutor(cfg.jobs) as ex:
        futs = {ex.submit(one, m, cfg, ignore, durations, suite_tests): m for m in mutants}
        for fut in concurrent.futures.as_completed(futs):
            r = fut.result()
            results.append(r)
            st = r['status']
            extra = killers(r) if st == 'killed' else r.get('error', '').split('\n')[0]
            print(f'  {st.upper():<11} {r["name"]:<34} {r.get("seconds", 0):6.1f} s  {extra}',
                  flush=True)
    order = {m['name']: i for i, m in enumerate(sorted(mutants, key=lambda m: (m['component'],
                                                                               m['name'])))}
    results.sort(key=lambda r: order[r['name']])
    score, doc = write_reports(results, baseline, cfg, time.time() - t0)
    stem = report_stem(cfg)
    print(f'{score} -> {os.path.join(cfg.out, stem)}.md ({time.time() - t0:.0f} s)')
    survivors = [r for r in results if r['status'] == 'survived']
    for r in survivors:
        print(f'  SURVIVED {r["name"]}: {r["description"]} (expected: '
              f'{" ".join(r["expect"]) or "-"})', file=sys.stderr)
    broken = [r for r in results if r['status'] in ('stale', 'build-error')]
    return 1 if survivors or broken or stale else 0


if __name__ == '__main__':
    sys.exit(main())
