#!/usr/bin/env python3
"""CPython's own tests as the checklist: conformance/coverage/cpython-3.11.tsv.

The file maps every test method of the classes of CPython's
Lib/test/_test_multiprocessing.py listed in CLASSES (those about Process, the
queues, Pipe/Connection with Listener/Client and connection.wait, the
synchronisation primitives, Manager and Pool) to one status:

  covered       the catalogue rows whose tests check what the CPython test checks
  out-of-scope  why not: one reason of REASONS, then ': ' and a sentence
  pending       in scope, not covered yet: the issue and the missing API or row

Lines: 'Class.method<TAB>status<TAB>rows-or-reason[<TAB>note]'; '#' lines and
blank lines are comments.  The check fails (exit 1) when a method of CLASSES
in the installed test file is missing or listed twice, a listed method does
not exist there, a covered method names no row or a row that is not in
conformance/catalogue/*.tsv, a status or reason is not one of the fixed
words, or a line maps to nothing.  Pending methods do not fail the check:
they are the open work of their issue, printed as a count and a list.

The test file is the installed CPython's test/_test_multiprocessing.py, or
the file MP_CPYTHON_TESTS names (found by catalogue.cpython_test_methods);
without it the check prints an error naming it and exits 1.

  coverage.py [--file TSV]     check; print the counts and the pending list
"""
import argparse, os, re, sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import catalogue  # noqa: E402  (the one reader of the catalogue and the test file)

COVERAGE_FILE = os.path.join(HERE, 'coverage', 'cpython-3.11.tsv')

# The classes whose subject is a component of mp.h, and why; every other
# class of the file is about something mp.h does not offer (shared ctypes and
# the heap, SharedMemory, Finalize, logging, start methods and contexts, the
# resource tracker, fork-aware locks, import of the package, fds closed by
# spawn), so its methods are not listed at all.
CLASSES = (
    # Process
    '_TestProcess', '_TestSubclassingProcess',
    'TestStdinBadfiledescriptor',   # processes that make a Queue or a Pool
    # the queues
    '_TestQueue', 'TestSimpleQueue',
    # Pipe / Connection, Listener / Client, connection.wait
    '_TestConnection', '_TestListener', '_TestListenerClient', '_TestPoll',
    '_TestPollEintr', '_TestPicklingConnections', 'TestWait', 'TestInvalidFamily',
    'TestIgnoreEINTR', 'TestTimeouts',
    'OtherTest',                    # the connection handshake's authentication
    # the synchronisation primitives
    '_TestLock', '_TestSemaphore', '_TestCondition', '_TestEvent', '_TestBarrier',
    'SemLockTests',
    # Manager, its proxies and containers
    '_TestContainers', '_TestMyManager', '_TestRemoteManager', '_TestManagerRestart',
    'TestSyncManagerTypes',
    # Pool
    '_TestPool', '_TestPoolWorkerErrors', '_TestPoolWorkerLifetime',
    'TestPoolNotLeakOnFailure',
    'TestInitializers',             # the pool's and the manager's initializer
)
STATUSES = ('covered', 'out-of-scope', 'pending')
REASONS = ('spawn/forkserver', 'pickling/Python objects', 'Python-only API',
           'CPython implementation detail')
REASON_RE = re.compile(r'^(?P<reason>[^:(]+?)(?: \([^()]*\))?: \S')
PENDING_RE = re.compile(r'^(#\d+|no issue): \S')


def in_scope(methods):
    """The test methods of CLASSES among methods ({'Class.method', ...})."""
    return {m for m in methods
            if m.split('.')[0] in CLASSES and m.split('.')[1].startswith('test')}


def load(path):
    """([(lineno, method, status, what, note)], errors) of a coverage file."""
    entries, errors = [], []
    with open(path, encoding='utf-8') as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip('\n')
            if not line.strip() or line.startswith('#'):
                continue
            cols = line.split('\t')
            if len(cols) not in (3, 4) or not all(c.strip() for c in cols):
                errors.append(f'{path}:{n}: want Class.method<TAB>status<TAB>'
                              f'rows-or-reason[<TAB>note], got {line!r}')
                continue
            entries.append((n, cols[0], cols[1], cols[2], cols[3] if len(cols) == 4 else ''))
    return entries, errors


def entry_errors(path, entries, methods, row_ids):
    """Errors of the entries against the test file's methods and the catalogue."""
    errors, seen = [], {}
    want = in_scope(methods)
    for n, method, status, what, _note in entries:
        where = f'{path}:{n}: {method}'
        if method in seen:
            errors.append(f'{where}: listed again (first on line {seen[method]})')
        seen.setdefault(method, n)
        if method not in want:
            errors.append(f'{where}: not a test method of a class in CLASSES in the '
                          'CPython test file')
        if status not in STATUSES:
            errors.append(f'{where}: status {status!r} is none of {", ".join(STATUSES)}')
        elif status == 'covered':
            rows = [r.strip() for r in what.split(',')]
            if not rows or not all(rows):
                errors.append(f'{where}: covered by no row')
            for r in rows:
                if r and r not in row_ids:
                    errors.append(f'{where}: {r} is not a catalogue row')
        elif status == 'out-of-scope':
            m = REASON_RE.match(what)
            if not m or m.group('reason') not in REASONS:
                errors.append(f'{where}: out-of-scope reason {what!r} must start with one '
                              f'of {"; ".join(REASONS)}, then ": " and a sentence')
        elif not PENDING_RE.match(what):
            errors.append(f'{where}: pending needs "#N: " (or "no issue: ") and the '
                          'missing API or row')
    for m in sorted(want - set(seen)):
        errors.append(f'{path}: {m} maps to nothing (add a covered, out-of-scope or '
                      'pending line)')
    return errors


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--file', default=COVERAGE_FILE)
    a = ap.parse_args()
    methods, where = catalogue.cpython_test_methods()
    if methods is None:
        print(f'coverage: ERROR: cannot read CPython\'s test file: {where}; '
              'set MP_CPYTHON_TESTS to Lib/test/_test_multiprocessing.py', file=sys.stderr)
        return 1
    rows, cat_errors = catalogue.load()
    entries, errors = load(a.file)
    errors += [f'catalogue: {e}' for e in cat_errors]
    errors += entry_errors(a.file, entries, methods, {r['id'] for r in rows})
    for e in errors:
        print('coverage:', e, file=sys.stderr)
    counts = {s: sum(1 for e in entries if e[2] == s) for s in STATUSES}
    pending = [e for e in entries if e[2] == 'pending']
    print(f'coverage: {len(entries)} CPython test methods of {len(CLASSES)} classes in '
          f'{where}: ' + ', '.join(f'{counts[s]} {s}' for s in STATUSES) +
          f': {"OK" if not errors else "MISMATCH"}')
    if pending:
        print(f'coverage: {len(pending)} pending (in scope, not covered yet; not a failure):')
        for _n, method, _s, what, _note in pending:
            print(f'  {method}: {what}')
    return 1 if errors else 0


if __name__ == '__main__':
    sys.exit(main())
