"""Issue #16's speed targets (reports/targets.py, reports/targets.json) on the
fixture run testdata/targets/run-t.json (made by testdata/gen_fixture.py,
whose TARGETS_RUN comment lists these expected verdicts)."""
import contextlib
import copy
import io
import json
import os
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, HERE)
import runs as R  # noqa: E402
import targets as T  # noqa: E402

RUN = os.path.join(HERE, 'testdata', 'targets', 'run-t.json')
EXPECTED = {  # id -> (verdict, ratio or None)
    'queue-bytes': ('met', 0.30), 'queue-value': ('missed', 0.08),
    'ring-check': ('met', 0.625), 'pipe-pingpong': ('missed', 0.6),
    'event-pingpong': ('met', 0.2), 'process': ('met', 1.25),
    'pingpong-pairs4': ('met', 1.04), 'pingpong-cpus1': ('missed', 1.5),
    'pingpong-pairs4-cpus1': ('not measured', None), 'event-cpus1': ('not measured', None),
    'event-pairs4': ('not decided', 1.0), 'event-pairs4-cpus1': ('not decided', 1.0),
    'pingpong-hogs2': ('not measured', None), 'event-hogs2': ('not measured', None),
    'cpu-queue-bytes': ('met', 2.0 / 1.5), 'cpu-pipe-pingpong': ('missed', 2.5),
    'cpu-event-pingpong': ('not measured', None), 'cpu-process': ('not measured', None),
}


class Targets(unittest.TestCase):
    def setUp(self):
        self.run = R.load_run(RUN)
        self.rows = {r['id']: r for r in T.evaluate(self.run, 'ref', 0.05)}

    def test_table_is_the_issues_list(self):
        ids = [t['id'] for t in T.load()]
        self.assertEqual(sorted(ids), sorted(EXPECTED))

    def test_verdicts_and_ratios(self):
        for tid, (verdict, ratio) in EXPECTED.items():
            r = self.rows[tid]
            self.assertEqual(r['verdict'], verdict, tid)
            if ratio is None or verdict == 'not decided':
                self.assertTrue(r['why'], tid)
            if ratio is None:
                self.assertIsNone(r['ratio'], tid)
            else:
                self.assertAlmostEqual(r['ratio'], ratio, places=6, msg=tid)

    def test_noise_allowance_only_on_no_loss_rows(self):
        self.assertAlmostEqual(self.rows['pingpong-pairs4']['goal'], 1.05)
        self.assertEqual(self.rows['pipe-pingpong']['goal'], 0.5)
        # Without the allowance the 1.04 row is missed.
        rows = {r['id']: r for r in T.evaluate(self.run, 'ref', 0.0)}
        self.assertEqual(rows['pingpong-pairs4']['verdict'], 'missed')

    def test_interval_decides_not_the_point_estimate(self):
        # ref's rounds swing 0.8x-1.3x around the floor: the median ratio 1.0
        # is within the goal, the 95% interval [0.85, 1.25] is not.
        r = self.rows['event-pairs4']
        self.assertEqual((r['low'], r['high'], r['rounds']), (0.85, 1.25, 11))
        self.assertIn('interval holds the goal', r['why'])
        # Five rounds give no 95% interval (min..max covers 93.75%).
        r = self.rows['event-pairs4-cpus1']
        self.assertIsNone(r['low'])
        self.assertIn('5 rounds give no 95% interval', r['why'])

    def test_rounds_are_paired_not_pooled(self):
        # Machine drift that slows both sides of a round alike cancels: the
        # floor swinging with ref round by round makes every ratio 1.0 (met);
        # the same floor samples in another order make the row not decided.
        run = copy.deepcopy(self.run)
        fig = [r for r in run['results']
               if r['workload'] == 'event.pingpong' and r['params'] == {'pairs': 4}]
        ref = [r for r in fig if r['impl'] == 'ref'][0]
        floor = [r for r in fig if r['impl'] == 'os.futex'][0]
        floor['samples'] = list(ref['samples'])
        rows = {r['id']: r for r in T.evaluate(run, 'ref', 0.05)}
        self.assertEqual(rows['event-pairs4']['verdict'], 'met')
        floor['samples'] = sorted(ref['samples'])
        rows = {r['id']: r for r in T.evaluate(run, 'ref', 0.05)}
        self.assertEqual(rows['event-pairs4']['verdict'], 'not decided')

    def test_unpaired_samples_are_not_decided(self):
        run = copy.deepcopy(self.run)
        for r in run['results']:
            if r['workload'] == 'pipe.pingpong' and r['impl'] == 'os.sockbuf' and \
                    r['params'] == {'duplex': True, 'api': 'bytes', 'size': 64}:
                r['samples'] = r['samples'][:7]
        rows = {r['id']: r for r in T.evaluate(run, 'ref', 0.05)}
        self.assertEqual(rows['pipe-pingpong']['verdict'], 'not decided')
        self.assertIn('11 and 7 samples', rows['pipe-pingpong']['why'])

    def test_cpu_per_op_of_each_side(self):
        r = self.rows['pipe-pingpong']
        self.assertAlmostEqual(r['a_cpu'], 50e-6)
        self.assertAlmostEqual(r['b_cpu'], 30e-6)

    def test_second_library_named_by_the_run(self):
        self.assertEqual(self.rows['cpu-queue-bytes']['b'], 'old')
        run = copy.deepcopy(self.run)
        del run['run']['params']['impl_b']
        rows = {r['id']: r for r in T.evaluate(run, 'ref', 0.05)}
        self.assertEqual(rows['cpu-queue-bytes']['verdict'], 'not measured')
        self.assertIn('IMPL_B', rows['cpu-queue-bytes']['why'])

    def test_the_tested_impl_is_substituted(self):
        run = copy.deepcopy(self.run)
        for r in run['results']:
            if r['impl'] == 'ref':
                r['impl'] = 'other'
        rows = {r['id']: r for r in T.evaluate(run, 'other', 0.05)}
        self.assertEqual(rows['queue-bytes']['verdict'], 'met')
        rows = {r['id']: r for r in T.evaluate(run, 'ref', 0.05)}
        self.assertEqual(rows['queue-bytes']['verdict'], 'not measured')

    def test_table_text(self):
        head, rows = T.table(T.evaluate(self.run, 'ref', 0.05))
        self.assertEqual(len(head), len(rows[0]))
        pp = [x for x in rows if x[0].startswith('Pipe ping-pong 64 B')][0]
        self.assertEqual(pp[3:9], ['12 us', '20 us', '0.6', '[0.6, 0.6] of 11 rounds', '<= 0.5',
                                   'missed'])

    def test_report_takes_targets_from_a_targets_run_of_its_commit(self):
        import report as RP  # noqa: E402
        import shutil
        d = tempfile.mkdtemp()
        try:
            full = copy.deepcopy(self.run)
            full['run'].update(id='20261205T100000Z-full', date='2026-12-05T10:00:00Z')
            tg = copy.deepcopy(self.run)
            tg['run'].update(id='20261205T110000Z-tg', date='2026-12-05T11:00:00Z')
            tg['run']['params']['targets_only'] = True
            other = copy.deepcopy(tg)  # another commit's targets run: never used
            other['run'].update(id='20261205T120000Z-other', date='2026-12-05T12:00:00Z')
            other['run']['git'] = dict(other['run'].get('git') or {}, commit='f' * 40)
            for run in (full, tg, other):
                with open(os.path.join(d, run['run']['id'] + '.json'), 'w') as f:
                    json.dump(run, f)
            bench = RP.Bench(d, 'ref')
            self.assertEqual(bench.primary['run']['id'], '20261205T100000Z-full')
            self.assertEqual(RP.targets_run(bench)['run']['id'], '20261205T110000Z-tg')
            lines, _, _ = RP.speed_targets(bench, 0.05, [])
            self.assertIn('20261205T110000Z-tg (make bench-targets', lines[0])
            os.unlink(os.path.join(d, '20261205T110000Z-tg.json'))
            bench = RP.Bench(d, 'ref')
            self.assertIs(RP.targets_run(bench), bench.primary)
        finally:
            shutil.rmtree(d)

    def test_malformed_table_fails_closed(self):
        good = T.load()
        for bad in ({'op': '=='}, {'quantity': 'mean'}, {'target': 0}, {'a': {'impl': 'ref'}},
                    {'id': ''}, {'rounds': 5}, {'rounds': 40.5}, {'rounds': True}):
            t = copy.deepcopy(good)
            t[0].update(bad)
            with tempfile.NamedTemporaryFile('w', suffix='.json', delete=False) as f:
                json.dump({'targets': t}, f)
            try:
                with self.assertRaises(ValueError, msg=str(bad)):
                    T.load(f.name)
            finally:
                os.unlink(f.name)

    def test_rounds_of_a_targets_run(self):
        # bench/run.py gives each figure the largest 'rounds' of the rows
        # naming it; a figure no row raises takes --samples.
        import importlib.util
        spec = importlib.util.spec_from_file_location(
            'bench_run', os.path.join(HERE, '..', 'bench', 'run.py'))
        B = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(B)
        rows = {t['id']: t for t in T.load()}
        got = B.target_figures()[1]
        key = json.dumps([rows['process']['a']['workload'], rows['process']['a']['params']],
                         sort_keys=True)
        self.assertEqual(got[key], rows['process']['rounds'])
        q = rows['queue-bytes']['a']
        self.assertNotIn(json.dumps([q['workload'], q['params']], sort_keys=True), got)
        for t in rows.values():
            if 'rounds' in t and t['a']['impl'].startswith('$'):
                k = json.dumps([t['a']['workload'], t['a']['params']], sort_keys=True)
                self.assertGreaterEqual(got[k], t['rounds'])

    def test_cli_prints_each_runs_table_and_fails_closed(self):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            self.assertEqual(T.main([RUN]), 0)
            self.assertEqual(T.main([RUN, os.path.join(HERE, 'no-such-run.json')]), 2)
        text = out.getvalue()
        self.assertEqual(text.count('| target | a | b |'), 2)  # the good run, before the bad one
        for r in self.rows.values():
            self.assertIn(f'| {r["label"]} |', text)
        self.assertIn('no-such-run.json', err.getvalue())


if __name__ == '__main__':
    unittest.main()
