#!/usr/bin/env python3
"""Run the conformance suite against one implementation and record one result
per catalogue row (format: conformance/FORMAT.md).

  run.py --suite BIN --name NAME [--path LIB] [--out DIR] [-- criterion args]

Each test already runs in its own process with a timeout (Criterion's model,
`.timeout` in MPT_TEST); this driver adds a whole-suite timeout, runs the suite
in its own session and kills whatever of that session is left when it ends
(reported as `leftovers`), so a broken implementation fails rows, never the
driver.  Exit status: 0 when every row passed or is unsupported/absent, 1
otherwise (with --strict, unsupported and absent rows fail too), 2 when the
suite could not be run.
"""
import argparse, datetime, json, os, platform, re, signal, subprocess, sys, tempfile, time
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import catalogue  # noqa: E402


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


def session_leftovers(sid):
    left = []
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        try:
            stat = open(f'/proc/{d}/stat').read()
        except OSError:
            continue
        fields = stat[stat.rfind(')') + 2:].split()
        if int(fields[3]) == sid:  # field 6 of stat: session id
            left.append(int(d))
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return left


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--suite', required=True)
    ap.add_argument('--name', required=True)
    ap.add_argument('--path', default='')
    ap.add_argument('--out', default='reports/out')
    ap.add_argument('--suite-timeout', type=float, default=1500)
    ap.add_argument('--strict', action='store_true',
                    help='unsupported and absent rows fail too (the reference implements every row)')
    ap.add_argument('rest', nargs='*')
    a = ap.parse_args()

    rows, errors = catalogue.load()
    if errors:
        print('\n'.join(errors), file=sys.stderr)
    os.makedirs(a.out, exist_ok=True)
    xml_path = tempfile.mktemp(suffix='.xml')
    cmd = [a.suite, f'--xml={xml_path}', '--always-succeed'] + (a.rest or ['-j2'])
    t0 = time.time()
    try:
        p = subprocess.Popen(cmd, start_new_session=True)
    except OSError as e:
        print(f'conformance: cannot run {a.suite}: {e}', file=sys.stderr)
        return 2
    try:
        p.wait(timeout=a.suite_timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    leftovers = session_leftovers(p.pid)

    tests = {}
    try:
        root = ET.parse(xml_path).getroot()
        for suite in root.iter('testsuite'):
            for tc in suite.iter('testcase'):
                msg, kind = '', None
                for child in tc:
                    kind = child.get('type')
                    msg = (child.text or child.get('message') or '').strip()
                    if child.tag == 'error' and not msg:
                        msg = child.get('message', '')
                tests[(suite.get('name'), tc.get('name'))] = (tc.get('status'), kind, msg,
                                                              float(tc.get('time') or 0))
        os.unlink(xml_path)
    except (OSError, ET.ParseError) as e:
        print(f'conformance: no usable results from the suite ({e})', file=sys.stderr)

    out_rows = []
    summary = dict.fromkeys(['pass', 'fail', 'unsupported', 'crash', 'timeout', 'absent'], 0)
    for r in rows:
        key = (r['component'], r['id'].replace('-', '_'))
        st = tests.get(key)
        if st is None:
            res, dur, msg = 'absent', 0.0, 'no test ran for this row'
        else:
            status, kind, msg, dur = st
            if status == 'PASSED':
                res = 'pass'
            elif kind == 'timeout':
                res = 'timeout'
            elif status == 'ERRORED':
                res = 'crash'
            elif re.search(r'\bgot MP_ENOTSUP\b', msg):
                res = 'unsupported'
            else:
                res = 'fail'
        summary[res] += 1
        out_rows.append({'id': r['id'], 'component': r['component'], 'result': res,
                         'duration': round(dur, 4), 'message': msg[:2000]})

    commit = sh('git rev-parse --short HEAD')
    doc = {
        'format': 'mp-conformance', 'version': 1,
        'impl': {'name': a.name, 'path': a.path,
                 'build': {'cc': sh('${CC:-cc} --version | head -1'), 'git': commit,
                           'dirty': bool(sh('git status --porcelain --untracked-files=no'))}},
        'machine': machine(),
        'date': datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ'),
        'elapsed': round(time.time() - t0, 2),
        'rows': out_rows, 'summary': summary, 'leftovers': leftovers,
    }
    base = os.path.join(a.out, f'conformance-{a.name}')
    with open(base + '.json', 'w') as f:
        json.dump(doc, f, indent=1)
    with open(base + '.md', 'w') as f:
        f.write(f'# Conformance of `{a.name}`\n\n' +
                ' · '.join(f'{k}: {v}' for k, v in summary.items()) + '\n\n')
        f.write('| row | component | result | s | message |\n|---|---|---|---|---|\n')
        for r in out_rows:
            m = r['message'].replace('|', '\\|').replace('\n', ' ')[:160]
            f.write(f"| `{r['id']}` | {r['component']} | {r['result']} | {r['duration']:.2f} | {m} |\n")
    bad = summary['fail'] + summary['crash'] + summary['timeout']
    if a.strict:
        bad += summary['unsupported'] + summary['absent']
    print(f'conformance[{a.name}]: ' + ', '.join(f'{k} {v}' for k, v in summary.items()) +
          (f', leftover processes killed: {len(leftovers)}' if leftovers else '') +
          f' -> {base}.json')
    return 1 if bad or leftovers else 0


if __name__ == '__main__':
    sys.exit(main())
