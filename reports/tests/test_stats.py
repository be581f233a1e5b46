"""Statistics checked on data whose answers are known by hand."""
import itertools
import math
import os
import random
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import stats as S  # noqa: E402


def brute_force_u_counts(n1, n2):
    """Counts of U over every way to choose which n1 of n1+n2 ranks are X's."""
    counts = [0] * (n1 * n2 + 1)
    for xs in itertools.combinations(range(n1 + n2), n1):
        # U = pairs (x, y) with x above y = sum over X of the Y's below it.
        u = sum(r - i for i, r in enumerate(xs))
        counts[u] += 1
    return counts


class Basic(unittest.TestCase):
    def test_median(self):
        self.assertEqual(S.median([3, 1, 2]), 2)
        self.assertEqual(S.median([4, 1, 3, 2]), 2.5)
        self.assertEqual(S.median([7]), 7)
        with self.assertRaises(ValueError):
            S.median([])

    def test_percentiles_type7(self):
        xs = [5, 1, 4, 2, 3]
        # h = (n-1)p: P05 -> 0.2 -> 1 + 0.2*(2-1); P95 -> 3.8 -> 4 + 0.8*(5-4)
        self.assertAlmostEqual(S.percentile(xs, 0.05), 1.2)
        self.assertAlmostEqual(S.percentile(xs, 0.25), 2.0)
        self.assertAlmostEqual(S.percentile(xs, 0.50), 3.0)
        self.assertAlmostEqual(S.percentile(xs, 0.75), 4.0)
        self.assertAlmostEqual(S.percentile(xs, 0.95), 4.8)
        self.assertEqual(S.percentile(xs, 0.0), 1)
        self.assertEqual(S.percentile(xs, 1.0), 5)
        # Even n: P25 of 1..4 is at h = 0.75 -> 1.75
        self.assertAlmostEqual(S.percentile([1, 2, 3, 4], 0.25), 1.75)

    def test_summary(self):
        s = S.summary([1, 2, 3, 4, 5])
        self.assertEqual((s['n'], s['median'], s['min'], s['max']), (5, 3, 1, 5))
        self.assertAlmostEqual(s['stdev'], math.sqrt(2.5))
        self.assertAlmostEqual(s['riqr'], 2 / 3)
        self.assertLessEqual(s['ci_low'], 3)
        self.assertGreaterEqual(s['ci_high'], 3)

    def test_geometric_mean_exact(self):
        self.assertAlmostEqual(S.geometric_mean([2, 8]), 4.0, places=12)
        self.assertAlmostEqual(S.geometric_mean([1, 10, 100]), 10.0, places=12)
        self.assertAlmostEqual(S.geometric_mean([0.5, 2.0]), 1.0, places=12)
        self.assertAlmostEqual(S.geometric_mean([3.0]), 3.0, places=12)
        with self.assertRaises(ValueError):
            S.geometric_mean([1, 0])


class MannWhitney(unittest.TestCase):
    # scipy.stats.mannwhitneyu documentation example (ages of males and females).
    MALES = [19, 22, 16, 29, 24]
    FEMALES = [20, 11, 17, 12]

    def test_counts_match_brute_force(self):
        for n1, n2 in ((1, 1), (2, 3), (3, 4), (4, 5), (5, 4), (6, 6)):
            c = S.mwu_counts(n1, n2)
            self.assertEqual(c, brute_force_u_counts(n1, n2), (n1, n2))
            self.assertEqual(sum(c), math.comb(n1 + n2, n1))

    def test_exact_textbook(self):
        # By hand: males above females: 19->3, 22->4, 16->2, 29->4, 24->4, U = 17
        # of n1*n2 = 20.  P(U >= 17) = P(U <= 3) = (1+1+2+3)/C(9,4) = 7/126, so the
        # two-sided p = 14/126 = 0.1111 (scipy prints 0.1111111111111111).
        u, p, method = S.mann_whitney(self.MALES, self.FEMALES)
        self.assertEqual(method, 'exact')
        self.assertEqual(u, 17)
        self.assertAlmostEqual(p, 14 / 126, places=12)
        # Symmetric: swapping the samples gives U2 = 20 - 17 and the same p.
        u2, p2, _ = S.mann_whitney(self.FEMALES, self.MALES)
        self.assertEqual(u2, 3)
        self.assertAlmostEqual(p2, p, places=12)

    def test_normal_textbook(self):
        # mu = 20/2 = 10, sigma^2 = 4*5*10/12 = 16.667, z = (|17-10| - 0.5)/4.0825
        # = 1.5922, p = 2*(1 - Phi(1.5922)) = 0.11135 (scipy method="asymptotic"
        # prints 0.11134688653314041).
        u, p, method = S.mann_whitney(self.MALES, self.FEMALES, method='normal')
        self.assertEqual((u, method), (17, 'normal'))
        self.assertAlmostEqual(p, 0.11134688653314041, places=9)

    def test_ties_by_hand(self):
        # x = 1 2 2 3, y = 2 3 4 5.  Pooled ranks: 1 -> 1, the three 2s -> 3,
        # the two 3s -> 5.5, 4 -> 7, 5 -> 8.  R1 = 1+3+3+5.5 = 12.5,
        # U1 = 12.5 - 4*5/2 = 2.5.  Ties t = 3 and 2: sum(t^3 - t) = 24 + 6 = 30.
        # var = 16/12 * (9 - 30/56) = 11.2857; z = (|2.5 - 8| - 0.5)/3.3594
        # = 1.4884; p = 2*(1 - Phi(1.4884)) = 0.1367.
        u, p, method = S.mann_whitney([1, 2, 2, 3], [2, 3, 4, 5])
        self.assertEqual((u, method), (2.5, 'normal'))
        self.assertAlmostEqual(p, 0.1367, places=3)
        self.assertAlmostEqual(p, math.erfc(5.0 / math.sqrt(16 / 12 * (9 - 30 / 56))
                                            / math.sqrt(2)), places=12)
        with self.assertRaises(ValueError):
            S.mann_whitney([1, 2, 2, 3], [2, 3, 4, 5], method='exact')

    def test_separated_samples(self):
        # Complete separation of 10 vs 10: p = 2/C(20,10) exactly.
        u, p, method = S.mann_whitney(range(10), range(100, 110))
        self.assertEqual((u, method), (0, 'exact'))
        self.assertAlmostEqual(p, 2 / math.comb(20, 10), places=15)

    def test_identical_and_degenerate(self):
        self.assertEqual(S.mann_whitney([5, 5, 5], [5, 5, 5])[1], 1.0)
        self.assertEqual(S.mann_whitney([1], [2])[1], 1.0)    # 2 * 1/2, capped
        self.assertEqual(S.mann_whitney([1, 2, 3], [1.5, 2.5, 3.5])[1], 0.7)

    def test_large_sample_uses_normal(self):
        rng = random.Random(1)
        xs = [rng.random() for _ in range(60)]
        ys = [rng.random() + 0.5 for _ in range(60)]
        u, p, method = S.mann_whitney(xs, ys)
        self.assertEqual(method, 'normal')
        self.assertLess(p, 1e-6)


class MedianInterval(unittest.TestCase):
    def test_ranks_of_the_sign_test_table(self):
        # 95% ranks of the usual tables (1-based): n=6 -> 1..6, n=11 ->
        # 2..10, n=15 -> 4..12, n=21 -> 6..16; n <= 5 has none.
        for n, (lo, hi) in ((6, (1, 6)), (11, (2, 10)), (15, (4, 12)), (21, (6, 16))):
            xs = list(range(n, 0, -1))
            got = S.median_interval(xs)
            self.assertEqual(got[:2], (lo, hi), n)
            self.assertGreaterEqual(got[2], 0.95)
        self.assertIsNone(S.median_interval([1, 2, 3, 4, 5]))
        self.assertEqual(S.median_interval([1, 2, 3, 4, 5], 0.9)[:2], (1, 5))

    def test_coverage_is_what_it_says(self):
        rng = random.Random(11)
        miss = 0
        for _ in range(4000):
            lo, hi, cover = S.median_interval([rng.expovariate(1.0) for _ in range(21)])
            miss += not lo <= math.log(2) <= hi
        self.assertLess(miss / 4000, 1 - 0.95)   # cover is 97.3% at n=21
        self.assertGreater(miss / 4000, 0.01)


class Bootstrap(unittest.TestCase):
    def test_interval_contains_true_median(self):
        # Quantiles of the exponential distribution: true median ln 2.
        n = 99
        xs = [-math.log(1 - (i - 0.5) / n) for i in range(1, n + 1)]
        lo, hi = S.bootstrap_median_ci(xs)
        self.assertLess(lo, math.log(2))
        self.assertGreater(hi, math.log(2))
        self.assertLess(hi - lo, 0.6)

    def test_interval_on_1_to_101(self):
        xs = list(range(1, 102))
        random.Random(3).shuffle(xs)
        lo, hi = S.bootstrap_median_ci(xs)
        self.assertTrue(40 <= lo <= 51 <= hi <= 62, (lo, hi))
        S._PAIRS.clear()
        self.assertEqual((lo, hi), S.bootstrap_median_ci(xs))   # fixed seed: reproducible

    def test_coverage(self):
        # 200 samples of 30 uniforms: about 95% of intervals hold 0.5.
        rng = random.Random(5)
        hits = 0
        for i in range(200):
            lo, hi = S.bootstrap_median_ci([rng.random() for _ in range(30)],
                                           resamples=400, stream=str(i))
            hits += lo <= 0.5 <= hi
        self.assertGreaterEqual(hits, 176)   # 88%
        self.assertLessEqual(hits, 200)

    def test_constant(self):
        self.assertEqual(S.bootstrap_median_ci([4.0] * 7), (4.0, 4.0))
        self.assertEqual(S.bootstrap_median_ci([4.0]), (4.0, 4.0))

    def test_ratio_of_medians(self):
        xs = list(range(1, 22))
        r, lo, hi = S.ratio_of_medians(xs, [2 * x for x in xs])
        self.assertEqual(r, 2.0)
        self.assertTrue(lo < 2.0 < hi, (lo, hi))
        self.assertEqual(S.ratio_of_medians([10] * 5, [20] * 5), (2.0, 2.0, 2.0))
        with self.assertRaises(ValueError):
            S.ratio_of_medians([0, 1], [1, 2])


class Verdicts(unittest.TestCase):
    def test_three_way(self):
        self.assertEqual(S.verdict(1.2, 1.3, 0.2, 0.05, 0.05), S.NOT_SIGNIFICANT)
        self.assertEqual(S.verdict(1.2, 1.3, None, 0.05, 0.05), S.NOT_SIGNIFICANT)
        self.assertEqual(S.verdict(1.2, 1.3, 0.01, 0.05, 0.05), S.REGRESSED)
        self.assertEqual(S.verdict(0.7, 0.8, 0.01, 0.05, 0.05), S.IMPROVED)
        self.assertEqual(S.verdict(1.01, 1.03, 0.01, 0.05, 0.05), S.WITHIN_NOISE)
        # An interval straddling the threshold is not a confident regression.
        self.assertEqual(S.verdict(1.03, 1.2, 0.01, 0.05, 0.05), S.WITHIN_NOISE)

    def test_format(self):
        self.assertEqual(S.fmt_factor(1.23, 1.18, 1.29), '1.23x slower [1.18, 1.29]')
        self.assertEqual(S.fmt_factor(0.5, 0.4, 0.625), '2.00x faster [1.60, 2.50]')

    def test_sample_warnings(self):
        self.assertEqual(S.sample_warnings([1, 1, 1, 1, 1]), [])
        self.assertIn('too few', S.sample_warnings([1, 1, 1])[0])
        self.assertIn('unstable', S.sample_warnings([1, 2, 1, 2, 1, 2])[0])



class Holm(unittest.TestCase):
    def test_known_values(self):
        # m = 4: sorted 0.01, 0.02, 0.03, 0.5 -> 0.04, 0.06, 0.06 (monotone), 0.5
        got = S.holm([0.03, 0.5, 0.01, 0.02])
        for g, w in zip(got, [0.06, 0.5, 0.04, 0.06]):
            self.assertAlmostEqual(g, w)

    def test_capped_at_one_and_empty(self):
        self.assertEqual(S.holm([0.9, 0.8]), [1.0, 1.0])
        self.assertEqual(S.holm([]), [])

if __name__ == '__main__':
    unittest.main()
