"""Matching figures and verdicts on the fixture (reports/testdata)."""
import copy
import os
import sys
import unittest

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, HERE)
import compare as C  # noqa: E402
import runs as R  # noqa: E402

TD = os.path.join(HERE, 'testdata')
Q64 = 'queue.stream[api=bytes,consumers=1,producers=1,size=64]'


def load(x):
    return R.load_run(os.path.join(TD, f'run-{x}.json'))


class Matching(unittest.TestCase):
    def test_same_impl_full_identity(self):
        c = C.compare_runs(load('a'), load('b'))
        v = {r['figure']: r['verdict'] for r in c['rows']}
        self.assertEqual(v[Q64 + ' ref'], 'regressed')
        self.assertEqual(v[Q64 + ' cpython'], 'not significant')
        self.assertEqual(v['pool.apply_async[workers=2] ref'], 'improved')

    def test_two_files_of_different_impls(self):
        # B renamed to implementation "foo": its foo figures match A's ref ones
        # by workload+params+metric; cpython and os.* still match by identity.
        b = load('b')
        b = copy.deepcopy(b)
        b['run']['impl'] = 'foo'
        for r in b['results']:
            if r['impl'] == 'ref':
                r['impl'] = 'foo'
        c = C.compare_runs(load('a'), b)
        v = {r['figure']: r['verdict'] for r in c['rows']}
        self.assertEqual(v[Q64 + ' foo vs ref'], 'regressed')
        self.assertEqual(v[Q64 + ' cpython'], 'not significant')
        self.assertEqual(c['summary']['regressed'], 1)

    def test_higher_is_better_respected(self):
        # Latency: B twice as slow is a regression "2.00x slower".
        a = load('a')
        b = copy.deepcopy(a)
        for r in b['results']:
            if r['workload'] == 'pipe.pingpong' and r['impl'] == 'ref':
                r['samples'] = [x * 2 for x in r['samples']]
        c = C.compare_runs(a, b, only_impl='ref')
        row = next(r for r in c['rows'] if r['workload'] == 'pipe.pingpong')
        self.assertEqual(row['verdict'], 'regressed')
        self.assertTrue(row['change'].startswith('2.00x slower'), row['change'])
        # ...and throughput twice as high is an improvement "2.00x faster".
        b = copy.deepcopy(a)
        for r in b['results']:
            if r['workload'] == 'manager.dict_set' and r['impl'] == 'ref':
                r['samples'] = [x * 2 for x in r['samples']]
        c = C.compare_runs(a, b, only_impl='ref')
        row = next(r for r in c['rows'] if r['workload'] == 'manager.dict_set')
        self.assertTrue(row['change'].startswith('2.00x faster'), row['change'])

    def test_geomean_summary(self):
        a = load('a')
        b = copy.deepcopy(a)
        for r in b['results']:
            if r['impl'] == 'ref' and r['samples']:
                r['samples'] = [x / 1.25 if r['higher_is_better'] else x * 1.25
                                for x in r['samples']]
        c = C.compare_runs(a, b, only_impl='ref')
        self.assertAlmostEqual(c['summary']['geomean'], 1.25, places=9)
        self.assertEqual(c['summary']['geomean_text'], '1.25x slower')

    def test_version_check(self):
        import json
        import tempfile
        with open(os.path.join(TD, 'run-a.json')) as f:
            d = json.load(f)
        d['version'] = 2
        with tempfile.NamedTemporaryFile('w', suffix='.json', delete=False) as f:
            json.dump(d, f)
        try:
            with self.assertRaises(R.InputError):
                R.load_run(f.name)
        finally:
            os.unlink(f.name)


class RegressVerdict(unittest.TestCase):
    """compare.regress_verdict on testdata/regress/run-ok.json (noise only)."""

    def setUp(self):
        self.base = load('a')
        self.run = R.load_run(os.path.join(TD, 'regress', 'run-ok.json'))

    def set_status(self, impl, workload, status):
        for r in self.run['results']:
            if r['impl'] == impl and r['workload'] == workload:
                r.update(status=status, samples=[], message='MP_ENOTSUP')

    def test_noise_only_is_judged_clean(self):
        c, problems = C.regress_verdict(self.base, self.run, 'ref')
        self.assertEqual(problems, [])
        self.assertEqual(c['summary']['regressed'], 0)
        self.assertEqual(c['regress']['base'], 'base-a1a1a1a')
        # Across the runs the same code looks slower: the drift, not judged.
        self.assertAlmostEqual(c['drift']['geomean'], 1.25, delta=0.02)

    def test_a_call_the_baseline_lacked_is_not_judged_and_no_problem(self):
        self.set_status('base-a1a1a1a', 'lock.uncontended', 'unsupported')
        c, problems = C.regress_verdict(self.base, self.run, 'ref')
        self.assertEqual(problems, [])
        row = [r for r in c['rows'] if r['workload'] == 'lock.uncontended'][0]
        self.assertIn('not judged', row['warnings'][-1])

    def test_a_call_todays_code_lost_is_a_problem(self):
        self.set_status('ref', 'lock.uncontended', 'unsupported')
        _, problems = C.regress_verdict(self.base, self.run, 'ref')
        self.assertEqual(len(problems), 1)
        self.assertIn('lock.uncontended', problems[0])

    def test_an_error_on_the_baselines_side_is_a_problem(self):
        self.set_status('base-a1a1a1a', 'lock.uncontended', 'error')
        _, problems = C.regress_verdict(self.base, self.run, 'ref')
        self.assertEqual(len(problems), 1)

    def test_a_full_run_is_refused(self):
        with self.assertRaises(R.InputError):
            C.regress_verdict(self.base, load('b'), 'ref')


if __name__ == '__main__':
    unittest.main()
