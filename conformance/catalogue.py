#!/usr/bin/env python3
"""The behaviour catalogue: conformance/catalogue/<component>.tsv.

Columns (tab-separated, header line first):
  id         row ID, [A-Z0-9-], unique across the catalogue (e.g. Q-GET-TIMEOUT-EMPTY)
  behaviour  one sentence
  source     'tutorial §N', 'CPython docs: ...', or 'CPython test: ...'
  cpython    (optional) 'twin' if a Python twin can check the row against CPython,
             'C-only: <reason>', or 'differs: <which is right and why>'
The test proving a row is the Criterion test <component>::<ID with '-' as '_'>.
Every [ROW-ID] cited in ref/include/mp.h must be a row.

  catalogue.py check --suite BIN   every row has a test, every test a row (exit 1 if not)
  catalogue.py md                  the catalogue as a Markdown table on stdout
"""
import argparse, csv, glob, os, re, subprocess, sys

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


def suite_tests(binary):
    out = subprocess.run([binary, '--list'], capture_output=True, text=True, check=True).stdout
    tests, suite = set(), None
    for line in out.splitlines():
        m = re.match(r'^(\w+): \d+ tests?$', line)
        if m:
            suite = m.group(1)
            continue
        m = re.match(r'^[│├└─\s]+(\w+)\s*$', line)
        if m and suite:
            tests.add((suite, m.group(1)))
    return tests


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
    for e in errors:
        print('catalogue:', e, file=sys.stderr)
    comps = sorted({r['component'] for r in rows})
    print(f'catalogue: {len(rows)} rows in {len(comps)} components, '
          f'{len(have)} tests, {len(cited)} rows cited in mp.h: '
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
