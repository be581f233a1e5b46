#!/usr/bin/env python3
"""The behaviour catalogue: conformance/catalogue/<component>.tsv.

Columns (tab-separated, header line first):
  id         row ID, [A-Z0-9-], unique across the catalogue (e.g. Q-GET-TIMEOUT-EMPTY)
  behaviour  one sentence
  source     where the behaviour comes from, one or more citations joined by '; ':
             'CPython test: Class.method' (a test of Lib/test/_test_multiprocessing.py
             that checks what the row says; several joined by ', '; a note in
             parentheses may follow), 'CPython docs: <docs.python.org section>',
             'tutorial §N' (a numbered statement of the tutorial the project
             implements) or 'STYLE: <practice>' (the project's style guide).
             The first citation must be one of these.
  cpython    (optional) 'twin' if a Python twin can check the row against CPython,
             'C-only: <reason>', or 'differs: <which is right and why>'
The test proving a row is the Criterion test <component>::<ID with '-' as '_'>.
ref/include/mp.h is the specification: every row has its sentence there, tagged
[ROW-ID], and every [ROW-ID] there must be a row (checked both ways).  Every
'CPython test: Class.method' must exist in the installed CPython's
test/_test_multiprocessing.py (or the file MP_CPYTHON_TESTS names); without
that file the check says so on stderr and skips only that part.

  catalogue.py check --suite BIN   every row has a test, every test a row, every row a
                                   tag in mp.h and every tag a row, every citation its
                                   form (exit 1 if not)
  catalogue.py md                  the catalogue as a Markdown table on stdout
"""
import argparse, ast, csv, glob, os, re, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))
ID_RE = re.compile(r'^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$')


CATALOGUE_DIR = os.path.join(HERE, 'catalogue')


def load(cat_dir=CATALOGUE_DIR):
    """(rows, errors): every row of every <component>.tsv in cat_dir, in file
    then line order, as a dict of its columns plus 'component'; errors lists
    what is malformed (the rows that can be read are still returned).  The one
    reader of the catalogue: conformance/, the twins, mutants and reports/ all
    call it."""
    rows, errors = [], []
    for path in sorted(glob.glob(os.path.join(cat_dir, '*.tsv'))):
        try:
            rows += _load_file(path, errors)
        except (OSError, csv.Error, UnicodeDecodeError) as e:
            errors.append(f'{path}: unreadable: {e}')
    seen = set()
    for r in rows:
        if r['id'] in seen:
            errors.append(f'duplicate row ID {r["id"]}')
        seen.add(r['id'])
    return rows, errors


def _load_file(path, errors):
    """The rows of one <component>.tsv; what is malformed goes to errors."""
    comp = os.path.splitext(os.path.basename(path))[0]
    rows = []
    with open(path, newline='') as f:
        reader = csv.reader(f, delimiter='\t', quoting=csv.QUOTE_NONE)
        header = next(reader, None) or []
        if header[:3] != ['id', 'behaviour', 'source']:
            errors.append(f'{path}: header must start with id, behaviour, source')
            return rows
        for n, rec in enumerate(reader, 2):
            if not rec or not ''.join(rec).strip():
                continue
            if len(rec) < 3 or not all(x.strip() for x in rec[:3]):
                errors.append(f'{path}:{n}: a row needs id, behaviour and source')
                continue
            row = dict(zip(header, rec))
            row['component'] = comp
            if not ID_RE.match(row['id']):
                errors.append(f'{path}:{n}: bad row ID {row["id"]!r}')
            rows.append(row)
    return rows


def parse_list(text):
    """Criterion's --list output -> {(suite, test)} (also run.py's reader)."""
    tests, suite = set(), None
    for line in text.splitlines():
        m = re.match(r'^(\w+): \d+ tests?$', line)
        if m:
            suite = m.group(1)
            continue
        m = re.match(r'^[│├└─\s]+(\w+)\s*$', line)
        if m and suite:
            tests.add((suite, m.group(1)))
    return tests


def suite_tests(binary):
    """The (suite, test) pairs a Criterion binary lists."""
    out = subprocess.run([binary, '--list'], capture_output=True, text=True, check=True).stdout
    return parse_list(out)


CITE_FORMS = (re.compile(r'^CPython test: (?P<tests>.+)$'),
              re.compile(r'^CPython docs: \S'),
              re.compile(r'^tutorial §\d+\b'),
              re.compile(r'^STYLE: \S'))
TEST_RE = re.compile(r'^(\w+\.\w+(?:, \w+\.\w+)*)(?: \([^()]+\))?$')


def cpython_test_methods():
    """({'Class.method', ...}, path) from the CPython test file, or (None, why)."""
    path = os.environ.get('MP_CPYTHON_TESTS')
    if not path:
        try:
            import test
            path = os.path.join(os.path.dirname(test.__file__), '_test_multiprocessing.py')
        except ImportError as e:
            return None, f'no CPython test package ({e})'
    try:
        tree = ast.parse(open(path, encoding='utf-8').read(), path)
    except (OSError, SyntaxError) as e:
        return None, f'{path}: {e}'
    have = set()
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            for m in node.body:
                if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    have.add(f'{node.name}.{m.name}')
    return have, path


def citation_errors(rows, methods):
    """Errors of the source column: every citation has a known form, every
    CPython test names Class.method, and (methods not None) that method exists."""
    errors = []
    for r in rows:
        parts = [x.strip() for x in r['source'].split('; ')]
        if not any(f.match(parts[0]) for f in CITE_FORMS):
            errors.append(f'row {r["id"]}: source {r["source"]!r} is none of '
                          "'CPython test: Class.method', 'CPython docs: ...', "
                          "'tutorial §N', 'STYLE: ...'")
        for part in parts:
            m = CITE_FORMS[0].match(part)
            if not m:
                continue
            t = TEST_RE.match(m.group('tests'))
            if not t:
                errors.append(f'row {r["id"]}: {part!r}: a CPython test citation is '
                              'Class.method (a bare method name is ambiguous)')
                continue
            for name in t.group(1).split(', '):
                if methods is not None and name not in methods:
                    errors.append(f'row {r["id"]}: {name} is not a test in CPython\'s '
                                  '_test_multiprocessing.py')
    return errors


def check(binary):
    rows, errors = load()
    want = {(r['component'], r['id'].replace('-', '_')) for r in rows}
    have = suite_tests(binary)
    for s, t in sorted(want - have):
        errors.append(f'row {t.replace("_", "-")} ({s}.tsv) has no test {s}::{t}')
    for s, t in sorted(have - want):
        errors.append(f'test {s}::{t} has no catalogue row')
    header = os.path.join(HERE, '..', 'ref', 'include', 'mp.h')
    ids = {r['id'] for r in rows}
    cited = set(re.findall(r'\[([A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+)\]', open(header).read()))
    for c in sorted(cited - ids):
        errors.append(f'mp.h cites [{c}], which is not a catalogue row')
    for r in rows:
        if r['id'] not in cited:
            errors.append(f'row {r["id"]} ({r["component"]}.tsv) has no [{r["id"]}] '
                          'sentence in mp.h')
    methods, where = cpython_test_methods()
    if methods is None:
        print(f'catalogue: ERROR: cannot verify CPython test citations: {where}; '
              'that part of the check is skipped (set MP_CPYTHON_TESTS to the file)',
              file=sys.stderr)
    errors += citation_errors(rows, methods)
    for e in errors:
        print('catalogue:', e, file=sys.stderr)
    comps = sorted({r['component'] for r in rows})
    print(f'catalogue: {len(rows)} rows in {len(comps)} components, '
          f'{len(have)} tests, {len(cited & ids)} of them tagged in mp.h, '
          f'citations checked against {where if methods is not None else "nothing"}: '
          f'{"OK" if not errors else "MISMATCH"}')
    return 1 if errors else 0


def md():
    rows, _ = load()
    print('| ID | component | behaviour | source |\n|---|---|---|---|')
    for r in rows:
        print(f"| `{r['id']}` | {r['component']} | {r['behaviour']} | {r['source']} |")
    return 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest='cmd', required=True)
    c = sub.add_parser('check'); c.add_argument('--suite', required=True)
    sub.add_parser('md')
    a = ap.parse_args()
    return check(a.suite) if a.cmd == 'check' else md()


if __name__ == '__main__':
    sys.exit(main())
