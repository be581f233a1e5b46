"""Statistics for benchmark samples, in the standard library only.

Conventions (so results are reproducible and checkable by hand):
- percentile(): linear interpolation between closest ranks (Hyndman-Fan type 7,
  the default of R, numpy and Excel's PERCENTILE.INC).
- Bootstrap intervals are percentile intervals of the resampled statistic
  (RESAMPLES resamples).  The resampling draws come from a fixed seed and
  depend only on the sample size (see _median_pairs), so two runs of the
  report print the same numbers whatever the order of figures.
- mann_whitney(): two-sided.  Exact when there are no ties and the samples are
  small (n1*n2 <= EXACT_LIMIT), otherwise the normal approximation with tie
  correction and continuity correction (as scipy.stats.mannwhitneyu).
"""
import math
import random

SEED = 20261126          # fixed: intervals are reproducible
RESAMPLES = 2000         # bootstrap resamples
EXACT_LIMIT = 2500       # n1*n2 up to which Mann-Whitney is exact (no ties)
MIN_SAMPLES = 5          # fewer samples than this: a warning
UNSTABLE_CV = 0.10       # stdev/mean above this: unstable (pyperf uses 10%)
UNSTABLE_RIQR = 0.10     # IQR/median above this: unstable


def _sorted(xs):
    xs = sorted(float(x) for x in xs)
    if not xs:
        raise ValueError('empty sample')
    return xs


def median(xs):
    s = _sorted(xs)
    n = len(s)
    m = n // 2
    return s[m] if n % 2 else (s[m - 1] + s[m]) / 2.0


def _median_sorted(s):
    n = len(s)
    m = n // 2
    return s[m] if n % 2 else (s[m - 1] + s[m]) / 2.0


def _pct_sorted(s, p):
    if not 0.0 <= p <= 1.0:
        raise ValueError('percentile outside [0, 1]')
    h = (len(s) - 1) * p
    lo = math.floor(h)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (h - lo) * (s[hi] - s[lo])


def percentile(xs, p):
    """p in [0, 1]; type-7 linear interpolation."""
    return _pct_sorted(_sorted(xs), p)


def mean(xs):
    xs = list(xs)
    if not xs:
        raise ValueError('empty sample')
    return math.fsum(xs) / len(xs)


def stdev(xs):
    """Sample standard deviation (n-1); 0 for a single value."""
    xs = [float(x) for x in xs]
    if len(xs) < 2:
        return 0.0
    m = mean(xs)
    return math.sqrt(math.fsum((x - m) ** 2 for x in xs) / (len(xs) - 1))


_PAIRS = {}


def _median_pairs(n, resamples, stream):
    """For `resamples` bootstrap resamples of a sorted sample of size n, the
    positions (i, j) of the two middle values (i == j for odd n): a resample's
    median is (s[i] + s[j]) / 2.  The positions do not depend on the data, so
    they are drawn once per (n, resamples, stream) from the fixed seed and
    shared by every figure: reproducible, and cheap enough for hundreds of
    figures.  Streams keep the two sides of a ratio independent."""
    key = (n, resamples, stream)
    pairs = _PAIRS.get(key)
    if pairs is None:
        rng = random.Random(f'{SEED}:{stream}:{n}')
        choices, pop = rng.choices, range(n)
        m = n // 2
        pairs = []
        for _ in range(resamples):
            idx = sorted(choices(pop, k=n))
            pairs.append((idx[m], idx[m]) if n % 2 else (idx[m - 1], idx[m]))
        _PAIRS[key] = pairs
    return pairs


def _boot_medians(s, resamples, stream):
    return [(s[i] + s[j]) / 2.0 for i, j in _median_pairs(len(s), resamples, stream)]


def bootstrap_median_ci(xs, level=0.95, resamples=RESAMPLES, stream='x'):
    """Percentile bootstrap interval of the median: (low, high)."""
    s = _sorted(xs)
    if len(s) == 1 or s[0] == s[-1]:
        return (s[0], s[-1])
    meds = sorted(_boot_medians(s, resamples, stream))
    a = (1.0 - level) / 2.0
    return _pct_sorted(meds, a), _pct_sorted(meds, 1.0 - a)


def median_interval(xs, level=0.95):
    """Distribution-free interval of the median from order statistics:
    (low, high, coverage) = (x(k), x(n+1-k), 1 - 2 P(Bin(n, 1/2) < k)) for
    the largest k whose coverage is at least level (the narrowest such
    interval of this form).  None when even [min, max] covers less than
    level: at 95% that is n <= 5 (min..max of 5 covers 93.75%).  Exact for
    any continuous distribution; no resampling, so small samples are not
    given a confidence they do not have."""
    s = _sorted(xs)
    n = len(s)
    best, below = None, 0.0  # below = P(Bin(n, 1/2) <= k)
    for k in range((n + 1) // 2):
        below += math.comb(n, k) / 2.0 ** n
        cover = 1.0 - 2.0 * below  # of [s[k], s[n-1-k]]: k values or fewer below the median
        if cover < level:
            break
        best = (s[k], s[n - 1 - k], cover)
    return best


def ratio_of_medians(xs, ys, level=0.95, resamples=RESAMPLES):
    """median(ys)/median(xs) with a bootstrap interval (each side resampled
    independently): (ratio, low, high).  Samples must be positive."""
    sx, sy = _sorted(xs), _sorted(ys)
    if sx[0] <= 0 or sy[0] <= 0:
        raise ValueError('ratio of medians needs positive samples')
    r = _median_sorted(sy) / _median_sorted(sx)
    rs = sorted(b / a for a, b in zip(_boot_medians(sx, resamples, 'x'),
                                      _boot_medians(sy, resamples, 'y')))
    a = (1.0 - level) / 2.0
    return r, _pct_sorted(rs, a), _pct_sorted(rs, 1.0 - a)


def _ranks(values):
    """Mid-ranks (1-based) and the tie group sizes."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    ties = []
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        r = (i + j) / 2.0 + 1.0
        for k in range(i, j + 1):
            ranks[order[k]] = r
        if j > i:
            ties.append(j - i + 1)
        i = j + 1
    return ranks, ties


def mwu_counts(n1, n2):
    """Number of orderings giving U = 0..n1*n2 with no ties (their sum is
    C(n1+n2, n1)): the coefficients of the Gaussian binomial
    prod_{k=1..n1} (1 - q^(n2+k)) / (1 - q^k), in truncated power series."""
    size = n1 * n2 + 1
    c = [0] * size
    c[0] = 1
    for k in range(1, n1 + 1):
        a = n2 + k
        for u in range(size - 1, a - 1, -1):
            c[u] -= c[u - a]
        for u in range(k, size):
            c[u] += c[u - k]
    return c


def normal_sf(z):
    """P(Z > z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def mann_whitney(xs, ys, method='auto'):
    """Two-sided Mann-Whitney U test.  Returns (U1, p, method) where U1 is the
    statistic of xs (the number of pairs with x > y, ties counting 1/2).
    method: 'auto' | 'exact' | 'normal'."""
    xs = [float(x) for x in xs]
    ys = [float(y) for y in ys]
    n1, n2 = len(xs), len(ys)
    if n1 == 0 or n2 == 0:
        raise ValueError('empty sample')
    ranks, ties = _ranks(xs + ys)
    r1 = math.fsum(ranks[:n1])
    u1 = r1 - n1 * (n1 + 1) / 2.0
    if method == 'auto':
        method = 'exact' if not ties and n1 * n2 <= EXACT_LIMIT else 'normal'
    if method == 'exact':
        if ties:
            raise ValueError('the exact test needs samples without ties')
        c = mwu_counts(min(n1, n2), max(n1, n2))
        total = math.comb(n1 + n2, n1)
        u = int(round(u1))
        below = sum(c[:u + 1])           # P(U <= u) * total
        above = sum(c[u:])               # P(U >= u) * total
        p = min(1.0, 2.0 * min(below, above) / total)
        return u1, p, 'exact'
    n = n1 + n2
    mu = n1 * n2 / 2.0
    tie_term = sum(t ** 3 - t for t in ties) / (n * (n - 1)) if n > 1 else 0.0
    var = n1 * n2 / 12.0 * ((n + 1) - tie_term)
    if var <= 0:
        return u1, 1.0, 'normal'         # every value equal: no evidence
    d = abs(u1 - mu) - 0.5               # continuity correction
    if d <= 0:
        return u1, 1.0, 'normal'
    return u1, min(1.0, 2.0 * normal_sf(d / math.sqrt(var))), 'normal'


def holm(ps):
    """Holm's step-down adjusted p-values, in the order given: the i-th
    smallest p times (m - i + 1), made monotone, capped at 1.  Rejecting
    where the adjusted p < alpha keeps the family-wise error rate (the
    chance of one or more false rejections among all m) under alpha."""
    m = len(ps)
    order = sorted(range(m), key=lambda i: ps[i])
    out = [0.0] * m
    run = 0.0
    for rank, i in enumerate(order):
        run = max(run, min(1.0, (m - rank) * ps[i]))
        out[i] = run
    return out


def geometric_mean(xs):
    xs = [float(x) for x in xs]
    if not xs:
        raise ValueError('empty sample')
    if any(x <= 0 for x in xs):
        raise ValueError('geometric mean needs positive values')
    return math.exp(math.fsum(math.log(x) for x in xs) / len(xs))


def summary(xs):
    """Everything a table row needs about one sample."""
    s = _sorted(xs)
    med = _median_sorted(s)
    lo, hi = bootstrap_median_ci(s)
    m = mean(s)
    sd = stdev(s)
    p25, p75 = _pct_sorted(s, 0.25), _pct_sorted(s, 0.75)
    return {
        'n': len(s), 'median': med, 'ci_low': lo, 'ci_high': hi,
        'p05': _pct_sorted(s, 0.05), 'p25': p25, 'p75': p75,
        'p95': _pct_sorted(s, 0.95), 'min': s[0], 'max': s[-1],
        'mean': m, 'stdev': sd,
        'cv': sd / m if m else 0.0,
        'riqr': (p75 - p25) / med if med else 0.0,
    }


def sample_warnings(xs, min_samples=MIN_SAMPLES, cv_limit=UNSTABLE_CV,
                    riqr_limit=UNSTABLE_RIQR):
    """Warnings about one sample: too few values, unstable data."""
    out = []
    n = len(xs)
    if n < min_samples:
        out.append(f'too few samples ({n} < {min_samples})')
    if n >= 2:
        m, sd = mean(xs), stdev(xs)
        cv = sd / m if m else 0.0
        s = _sorted(xs)
        med = _median_sorted(s)
        riqr = (_pct_sorted(s, 0.75) - _pct_sorted(s, 0.25)) / med if med else 0.0
        if cv > cv_limit or riqr > riqr_limit:
            out.append(f'unstable (stdev {cv:.0%} of mean, IQR {riqr:.0%} of median; '
                       f'limit {max(cv_limit, riqr_limit):.0%})')
    return out


# Verdicts, criterion.rs style: a change counts only when it is significant
# AND its whole interval lies beyond the noise threshold.
NOT_SIGNIFICANT = 'not significant'
WITHIN_NOISE = 'within noise'
IMPROVED = 'improved'
REGRESSED = 'regressed'


def verdict(slowdown_low, slowdown_high, p, alpha, noise):
    """slowdown = time(B)/time(A) (> 1: B is slower), with its interval.
    The noise band is [1/(1+noise), 1+noise], symmetric in log space."""
    if p is None or p >= alpha:
        return NOT_SIGNIFICANT
    if slowdown_low > 1.0 + noise:
        return REGRESSED
    if slowdown_high < 1.0 / (1.0 + noise):
        return IMPROVED
    return WITHIN_NOISE


def fmt_factor(slowdown, low=None, high=None):
    """'1.23x slower [1.18, 1.29]' / '1.10x faster [1.05, 1.16]'."""
    if slowdown >= 1.0:
        s = f'{slowdown:.2f}x slower'
        if low is not None:
            s += f' [{low:.2f}, {high:.2f}]'
    else:
        s = f'{1.0 / slowdown:.2f}x faster'
        if low is not None:
            s += f' [{1.0 / high:.2f}, {1.0 / low:.2f}]'
    return s
