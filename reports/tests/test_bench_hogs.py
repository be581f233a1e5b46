"""bench/run.py's hogs=K: the CPU-bound processes it runs beside a side's
invocation are there for the whole invocation and gone when run_program
returns, however the side ended (ok, failed, timed out), and a hog that
cannot run makes the invocation an error, never a run without it.  Here
because `make report-check` (part of `make check`) runs reports/tests, and
test_targets.py loads bench/run.py the same way."""
import importlib.util
import json
import os
import re
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
spec = importlib.util.spec_from_file_location(
    'bench_run_hogs', os.path.join(HERE, '..', 'bench', 'run.py'))
B = importlib.util.module_from_spec(spec)
spec.loader.exec_module(B)

# The side: finds the hogs among its parent's (run_program's caller's)
# children by their command line, says their pids on stderr, then does what
# argv[1] says: ok (prints a result line), fail (exit 3), hang (sleeps).
SIDE = r'''
import json, os, sys, time
want, me = json.loads(sys.argv[2]), os.getppid()
pids = []
for d in os.listdir('/proc'):
    try:
        with open('/proc/%s/stat' % d) as f:
            ppid = int(f.read().rpartition(')')[2].split()[1])
        with open('/proc/%s/cmdline' % d, 'rb') as f:
            cmd = f.read().split(b'\0')[:-1]
    except (OSError, ValueError, IndexError):
        continue
    if ppid == me and [c.decode() for c in cmd] == want:
        pids.append(int(d))
sys.stderr.write('hogs %s\n' % json.dumps(pids))
sys.stderr.flush()
if sys.argv[1] == 'ok':
    print(json.dumps({'status': 'ok', 'hogs': pids}))
elif sys.argv[1] == 'fail':
    sys.exit(3)
else:
    time.sleep(60)
'''


class Hogs(unittest.TestCase):
    def side(self, what, hogs, timeout=20.0):
        return B.run_program([sys.executable, '-S', '-c', SIDE, what, json.dumps(B.HOG_ARGV)],
                             timeout, hogs=hogs)

    def assert_gone(self, pids):
        # Killed and reaped: no process, not even a zombie, by those pids.
        for pid in pids:
            self.assertFalse(os.path.exists('/proc/%d' % pid), 'hog %d left behind' % pid)

    def test_ok_side_runs_beside_its_hogs_and_they_are_reaped(self):
        res, err = self.side('ok', 2)
        self.assertEqual(err, '')
        self.assertEqual(len(res['hogs']), 2, res)
        self.assert_gone(res['hogs'])

    def test_no_hogs_without_the_parameter(self):
        res, err = self.side('ok', 0)
        self.assertEqual((err, res['hogs']), ('', []))

    def test_failed_and_timed_out_sides_leave_no_hog(self):
        for what, timeout, msg in (('fail', 20.0, 'exit status 3'), ('hang', 3.0, 'timed out')):
            res, err = self.side(what, 2, timeout)
            self.assertIsNone(res, what)
            self.assertIn(msg, err)
            pids = json.loads(re.search(r'hogs (\[[^\]]*\])', err).group(1))
            self.assertEqual(len(pids), 2, (what, err))
            self.assert_gone(pids)

    def test_a_hog_that_cannot_run_is_an_error(self):
        saved = B.HOG_ARGV
        try:
            with tempfile.TemporaryDirectory() as d:
                # cannot be started: the side never runs
                mark = os.path.join(d, 'ran')
                B.HOG_ARGV = [os.path.join(d, 'no-such-hog')]
                res, err = B.run_program(['sh', '-c', 'touch %s; echo "{}"' % mark], 20.0,
                                         hogs=2)
                self.assertIsNone(res)
                self.assertIn('cannot start', err)
                self.assertFalse(os.path.exists(mark))
                # starts but ends before the side does: stop_hogs counts it
                # (waited for here, not slept for), and run_program turns
                # that count into an error
                B.HOG_ARGV = ['true']
                hp = B.start_hogs(2)
                for h in hp:
                    h.wait()
                self.assertEqual(B.stop_hogs(hp), 2)
                real_stop = B.stop_hogs
                B.stop_hogs = lambda hp: (real_stop(hp), len(hp))[1]  # as if all had ended
                try:
                    res, err = B.run_program(['sh', '-c', 'echo "{}"'], 20.0, hogs=2)
                finally:
                    B.stop_hogs = real_stop
                self.assertIsNone(res)
                self.assertIn('2 of the 2 CPU-bound processes of hogs=2 ended before', err)
        finally:
            B.HOG_ARGV = saved

    def test_every_side_of_a_hogs_group_has_its_hogs(self):
        class Cfg:
            impl, mpbench, osfloor, impl_b, peers, ringcheck = 'ref', 'mpb', 'osf', [], [], ''
            targets, only = False, []
        for kind in ('full', 'quick'):
            Cfg.kind = kind
            gs = [g for g in B.groups(Cfg) if any('hogs' in p for s in g for _, p in s.targets)]
            self.assertEqual(len(gs), 2 if kind == 'full' else 1, kind)
            for g in gs:
                for s in g:
                    self.assertEqual(s.hogs, 2, s.key)
                    self.assertIn('hogs=2', s.argv, s.key)
            impls = sorted(s.impl for s in gs[0])
            self.assertEqual(impls, ['cpython', 'cpython', 'os.futex', 'os.sockbuf', 'ref', 'ref'])
        self.assertIn('hogs', B.VARIANT_KEYS)


if __name__ == '__main__':
    unittest.main()
