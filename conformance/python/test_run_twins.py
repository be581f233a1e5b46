#!/usr/bin/env python3
"""Self-test of run_twins.py (`make twins-selftest`): the expectation logic and
the runner's fail-closed behaviour, with fake twins and a fake implementation
module in a temporary directory.  No real twin runs; a few seconds."""
import json, os, select, subprocess, sys, tempfile, textwrap, time, unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run_twins as rt  # noqa: E402

FAKE_TWINS = '''
import os, subprocess, sys, time
import twin
from twin import mp


def helper():
    return mp.Barrier(2)


def FAKE_PASS():
    assert mp.Lock is not None


def FAKE_FAIL():
    assert 1 == 2, 'the fake row fails'


def FAKE_UNSUP():
    helper()


@twin.uses('managers.NoSuchThing')
def FAKE_UNSUP_DECLARED():
    pass


def FAKE_HANG():
    time.sleep(60)


def FAKE_GRANDCHILD():
    # a grandchild that keeps stdout/stderr open after the twin exits
    p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])
    with open(os.environ['FAKE_PIDFILE'], 'w') as f:
        f.write(str(p.pid))
    print('grandchild started', file=sys.stderr)


def FAKE_CRASH():
    os.kill(os.getpid(), 9)


def FAKE_TMP_LEFT():
    # what a killed manager leaves: a directory under the temporary directory
    import tempfile
    d = tempfile.mkdtemp(prefix='pymp-')
    with open(os.environ['FAKE_PIDFILE'] + '.tmp', 'w') as f:
        f.write(d)
    os.kill(os.getpid(), 9)


def FAKE_KILL_ZYGOTE():
    # SIGKILLs the process that forked it (the zygote; never the test itself),
    # then hangs: the row and every later one must be errors, this one killed
    with open(os.environ['FAKE_PIDFILE'] + '.z', 'w') as f:
        f.write(str(os.getpid()))
    if os.getppid() != int(os.environ['FAKE_RUNNER_PID']):
        os.kill(os.getppid(), 9)
    time.sleep(60)


def FAKE_EXIT_PATH():
    # the normal exit path runs in a forked twin too: atexit, and
    # multiprocessing's exit function joining a non-daemonic child
    import atexit
    atexit.register(lambda: print('atexit ran', flush=True))
    threading_done = []
    import threading
    t = threading.Thread(target=lambda: (time.sleep(0.2), threading_done.append(1),
                                         print('thread joined', flush=True)))
    t.start()
'''

SUBS = ('util', 'connection', 'managers', 'pool', 'reduction', 'sharedctypes',
        'synchronize', 'queues')


def gone_within(pid, seconds):
    """True once process pid has ended (a zombie counts), waiting up to
    `seconds` for it: a SIGKILL sent to it a moment ago need not have taken
    effect yet on a busy machine.  Waits on a pidfd, which becomes readable
    when the process ends, so the wait is the event itself, not a guess."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        p = select.poll()
        p.register(fd, select.POLLIN)
        return bool(p.poll(seconds * 1000))
    finally:
        os.close(fd)


class Expectations(unittest.TestCase):
    def rows(self, *results):
        return [{'id': f'R-{i}', 'result': r} for i, r in enumerate(results)]

    def test_verdicts(self):
        v = rt.verdict
        self.assertEqual(v('pass', 'pass'), 'as expected')
        self.assertEqual(v('fail', 'fail'), 'as expected')
        self.assertEqual(v('pass', 'fail'), 'new failure')
        self.assertEqual(v('pass', 'timeout'), 'new failure')
        self.assertEqual(v('fail', 'timeout'), 'new failure')
        self.assertEqual(v('pass', 'absent'), 'new failure')
        self.assertEqual(v('fail', 'pass'), 'newly passing')
        self.assertEqual(v('unsupported', 'pass'), 'newly passing')
        self.assertEqual(v('pass', 'error'), 'error')
        self.assertEqual(v('error', 'error'), 'error')
        # an implementation intermittent on a row: either listed kind
        self.assertEqual(v('pass|timeout', 'pass'), 'as expected')
        self.assertEqual(v('pass|timeout', 'timeout'), 'as expected')
        self.assertEqual(v('pass|timeout', 'fail'), 'new failure')
        self.assertEqual(v('pass|timeout', 'error'), 'error')
        self.assertEqual(v('fail|timeout', 'pass'), 'newly passing')

    def test_exit_status(self):
        exp = {'R-0': ('pass', ''), 'R-1': ('fail', 'known'), 'R-2': ('absent', '')}
        self.assertEqual(rt.judge(self.rows('pass', 'fail', 'absent'), exp), 0)
        self.assertEqual(rt.judge(self.rows('pass', 'pass', 'absent'), exp), 0)  # newly passing
        self.assertEqual(rt.judge(self.rows('fail', 'fail', 'absent'), exp), 1)
        self.assertEqual(rt.judge(self.rows('fail', 'fail', 'error'), exp), 2)
        rows = self.rows('pass', 'pass', 'absent')
        rt.judge(rows, exp)
        self.assertEqual([r['verdict'] for r in rows], ['as expected', 'newly passing', 'as expected'])
        self.assertEqual(rows[1]['expected_reason'], 'known')

    def test_overlay_files(self):
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, 'cpython.tsv'), 'w') as f:
                f.write('# comment\nrow\texpected\treason\nA-ROW\tpass\tx\nB-ROW\tfail\tdiffers\n')
            with open(os.path.join(d, 'alt.tsv'), 'w') as f:
                f.write('A-ROW\tunsupported\talt lacks it\n')
            cat = [{'id': 'A-ROW', 'component': 'c', 'cpython': 'twin'},
                   {'id': 'B-ROW', 'component': 'c', 'cpython': 'differs: y'},
                   {'id': 'C-ROW', 'component': 'c', 'cpython': 'C-only: z'}]
            e = rt.expectations('alt', cat, {}, d)
            self.assertEqual(e['A-ROW'], ('unsupported', 'alt lacks it'))
            self.assertEqual(e['B-ROW'][0], 'fail')
            self.assertEqual(e['C-ROW'][0], 'absent')
            self.assertEqual(rt.expectations('cpython', cat, {}, d)['A-ROW'][0], 'pass')
            with open(os.path.join(d, 'bad.tsv'), 'w') as f:
                f.write('A-ROW\tbroken\twhy\n')
            self.assertRaises(ValueError, rt.expectations, 'bad', cat, {}, d)
            for bad in ('pass|error', 'pass|pass', 'pass|', 'pass|hang'):
                with open(os.path.join(d, 'bad.tsv'), 'w') as f:
                    f.write(f'A-ROW\t{bad}\twhy\n')
                self.assertRaises(ValueError, rt.expectations, 'bad', cat, {}, d)
            with open(os.path.join(d, 'alt.tsv'), 'w') as f:
                f.write('A-ROW\tpass|timeout\tan intermittent hang of its own\n')
            self.assertEqual(rt.expectations('alt', cat, {}, d)['A-ROW'][0], 'pass|timeout')

    def test_baseline(self):
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, 'b.json')
            with open(p, 'w') as f:
                json.dump({'impl': {'name': 'other'}, 'rows': [
                    {'id': 'R-0', 'result': 'pass'}, {'id': 'R-1', 'result': 'fail',
                                                      'message': 'boom'}]}, f)
            exp = rt.baseline_expectations(p)
            self.assertEqual(exp['R-1'], ('fail', 'baseline other: boom'))
            self.assertEqual(rt.judge(self.rows('pass', 'pass'), exp), 0)
            self.assertEqual(rt.judge(self.rows('fail', 'fail'), exp), 1)

    def test_no_twin_imports_multiprocessing(self):
        for c, (path, tree) in rt.twin_sources().items():
            for n in rt.ast.walk(tree):
                names = ([a.name for a in n.names] if isinstance(n, rt.ast.Import) else
                         [n.module or ''] if isinstance(n, rt.ast.ImportFrom) else [])
                for name in names:
                    self.assertNotEqual(name.split('.')[0], 'multiprocessing',
                                        f'{path}:{n.lineno} imports {name}: use `from twin import mp`')


class Runner(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        d = cls.tmp.name
        cls.twins = os.path.join(d, 'twins')
        pkg = os.path.join(d, 'mods', 'fakemp')
        os.makedirs(cls.twins)
        os.makedirs(pkg)
        with open(os.path.join(cls.twins, 'twins_fake.py'), 'w') as f:
            f.write(FAKE_TWINS)
        with open(os.path.join(pkg, '__init__.py'), 'w') as f:
            f.write('Lock = object\n')  # no Barrier
        for s in SUBS:
            open(os.path.join(pkg, s + '.py'), 'w').close()
        cls.pidfile = os.path.join(d, 'grandchild.pid')
        os.environ['FAKE_PIDFILE'] = cls.pidfile
        os.environ['PYTHONPATH'] = os.path.join(d, 'mods')
        cls.out = os.path.join(d, 'out')

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def impl(self, module):
        return {'name': 'fake', 'kind': 'python', 'interpreter': sys.executable,
                'module': module, 'version': 'python'}

    def run_fake(self, module, ids, timeout=4.0, mode='zygote', jobs=2):
        rows = [{'id': i, 'component': 'fake', 'cpython': 'twin'} for i in ids]
        t0 = time.monotonic()
        out, info = rt.run_impl(self.impl(module), rows, rt.twin_sources(self.twins), self.out,
                                timeout, jobs, self.twins, grace=0.2, mode=mode)
        return {r['id']: r for r in out}, info, time.monotonic() - t0

    def test_results_fresh(self):
        self.test_results('fresh')

    def test_results(self, mode='zygote'):
        ids = ['FAKE-PASS', 'FAKE-FAIL', 'FAKE-UNSUP', 'FAKE-UNSUP-DECLARED', 'FAKE-HANG',
               'FAKE-GRANDCHILD', 'FAKE-CRASH', 'FAKE-NONE']
        res, info, took = self.run_fake('fakemp', ids, mode=mode)
        got = {k: v['result'] for k, v in res.items()}
        self.assertEqual(got, {'FAKE-PASS': 'pass', 'FAKE-FAIL': 'fail',
                               'FAKE-UNSUP': 'unsupported', 'FAKE-UNSUP-DECLARED': 'unsupported',
                               'FAKE-HANG': 'timeout', 'FAKE-GRANDCHILD': 'pass',
                               'FAKE-CRASH': 'crash', 'FAKE-NONE': 'absent'}, res)
        self.assertIn('Barrier', res['FAKE-UNSUP']['message'])
        self.assertIn('managers.NoSuchThing', res['FAKE-UNSUP-DECLARED']['message'])
        self.assertIn('the fake row fails', res['FAKE-FAIL']['message'])
        # the full stderr of a row that did not pass is kept and named
        with open(os.path.join(self.out, res['FAKE-FAIL']['stderr'])) as f:
            self.assertIn('AssertionError', f.read())
        # the grandchild holding stderr: real result, recorded and killed
        # (well under the row's timeout: the twin's exit was seen, not the timeout;
        # the margin is for a busy machine)
        self.assertLess(res['FAKE-GRANDCHILD']['duration'], 3.5)
        with open(self.pidfile) as f:
            gpid = int(f.read())
        self.assertEqual([x['pid'] for x in res['FAKE-GRANDCHILD']['leftovers']], [gpid])
        self.assertTrue(gone_within(gpid, 5), 'the grandchild survived')
        self.assertGreaterEqual(res['FAKE-HANG']['duration'], 4.0)
        self.assertLess(took, 40)

    def test_exit_path(self):
        for mode in ('zygote', 'fresh'):
            res, _, _ = self.run_fake('fakemp', ['FAKE-EXIT-PATH'], mode=mode)
            self.assertEqual(res['FAKE-EXIT-PATH']['result'], 'pass', (mode, res))
            with open(os.path.join(self.out, 'twins-fake', 'FAKE-EXIT-PATH.stdout')) as f:
                self.assertEqual(f.read(), 'thread joined\natexit ran\n', mode)

    def test_temporary_files_removed(self):
        """What a twin leaves in its temporary directory (a manager killed on
        purpose leaves its pymp-* directory) is in a directory of the run's,
        outside the system's, and removed when the run ends."""
        for mode in ('zygote', 'fresh'):
            res, _, _ = self.run_fake('fakemp', ['FAKE-TMP-LEFT'], mode=mode)
            self.assertEqual(res['FAKE-TMP-LEFT']['result'], 'crash', (mode, res))
            with open(self.pidfile + '.tmp') as f:
                left = f.read()
            self.assertNotEqual(os.path.dirname(left), tempfile.gettempdir(), mode)
            self.assertTrue(os.path.basename(os.path.dirname(left)).startswith('twins-'), left)
            self.assertFalse(os.path.lexists(left), (mode, left))
            self.assertFalse(os.path.lexists(os.path.dirname(left)), (mode, left))

    def test_zygote_dies(self):
        """The zygote killed under a running twin: that row and every later
        one are errors naming it, the orphaned twin is killed, exit status 2."""
        os.environ['FAKE_RUNNER_PID'] = str(os.getpid())
        res, _, took = self.run_fake('fakemp', ['FAKE-KILL-ZYGOTE', 'FAKE-PASS', 'FAKE-FAIL'],
                                     timeout=60, jobs=1)
        self.assertEqual({k: v['result'] for k, v in res.items()},
                         {'FAKE-KILL-ZYGOTE': 'error', 'FAKE-PASS': 'error', 'FAKE-FAIL': 'error'})
        self.assertIn('zygote', res['FAKE-PASS']['message'])
        self.assertLess(took, 45, 'the runner waited for the orphan instead of ending it')
        with open(self.pidfile + '.z') as f:
            zpid = int(f.read())
        self.assertTrue(gone_within(zpid, 5), 'the twin of a dead zygote survived')
        self.assertEqual(rt.judge(list(res.values()), {}), 2)

    def test_zygote_does_not_start(self):
        """A module that starts a thread at import: the zygote refuses (a fork
        would lose the thread), every twin row is an error."""
        pkg = os.path.join(self.tmp.name, 'mods', 'threadmp')
        os.makedirs(pkg, exist_ok=True)
        with open(os.path.join(pkg, '__init__.py'), 'w') as f:
            f.write('import threading, time\nLock = object\n'
                    'threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n')
        for sub in SUBS:
            open(os.path.join(pkg, sub + '.py'), 'w').close()
        res, _, _ = self.run_fake('threadmp', ['FAKE-PASS', 'FAKE-NONE'])
        self.assertEqual(res['FAKE-PASS']['result'], 'error', res)
        self.assertIn('started threads', res['FAKE-PASS']['message'])
        self.assertEqual(res['FAKE-NONE']['result'], 'absent')

    def test_module_missing_is_error_everywhere(self):
        res, info, _ = self.run_fake('no_such_mp_module', ['FAKE-PASS', 'FAKE-FAIL', 'FAKE-NONE'])
        self.assertIn('error', info)
        self.assertEqual({k: v['result'] for k, v in res.items()},
                         {'FAKE-PASS': 'error', 'FAKE-FAIL': 'error', 'FAKE-NONE': 'absent'})
        self.assertEqual(rt.judge(list(res.values()), {'FAKE-PASS': ('pass', '')}), 2)

    def test_main_exit_2_when_module_missing(self):
        d = os.path.join(self.tmp.name, 'impls')
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, 'broken.json'), 'w') as f:
            json.dump(dict(self.impl('no_such_mp_module'), name='broken'), f)
        p = subprocess.run([sys.executable, os.path.join(HERE, 'run_twins.py'), '--impl', 'broken',
                            '--impls-dir', d, '--out', self.out, '--filter', 'EVENT-'],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        with open(os.path.join(self.out, 'conformance-broken.json')) as f:
            doc = json.load(f)
        self.assertTrue(doc['rows'] and all(r['result'] == 'error' for r in doc['rows']))
        p = subprocess.run([sys.executable, os.path.join(HERE, 'run_twins.py'), '--impl', 'nope',
                            '--impls-dir', d], capture_output=True, text=True)
        self.assertEqual(p.returncode, 2)


if __name__ == '__main__':
    unittest.main(verbosity=1)
