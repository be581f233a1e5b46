"""Python twins of conformance/catalogue/value.tsv: the value rows state what
CPython's own objects do (repr, equality, dict keys and order, deep copy), so
each twin checks the same cases as the C test on Python objects.  Where the
C test encodes and decodes, the twin pickles with multiprocessing's
ForkingPickler, the encoding Connection.send / Queue.put use; where it reads
a wire form, a hand-written pickle stands in for the msgpack bytes.
Statuses map to exceptions as in the README: MP_EKEY KeyError, MP_EINDEX
IndexError, MP_ETYPE TypeError."""
import copy
import math
import random
import struct
import time

import twin
from twin import mp
ForkingPickler = mp.reduction.ForkingPickler

INT64_MAX = (1 << 63) - 1
INT64_MIN = -(1 << 63)


def roundtrip(v):
    return ForkingPickler.loads(ForkingPickler.dumps(v))


def check_repr(v, want):
    got = repr(v)
    assert got == want, f'repr {got}, want {want}'


def sample():
    """A nested value using every type (the C test's sample())."""
    d = {1: '1', '2': 2, 0.25: None, (-7, b'k'): []}
    return [None, True, False, INT64_MIN, INT64_MAX, -0.0, 3.5e-300, 'h\u00e9llo \U0001f600',
            b'a\0b\xff', ((), (1,), [{}]), d, [math.inf, -math.inf]]


# -------------------------------------------------------------------- repr

def VAL_REPR_TUTORIAL_LIST():
    check_repr([42, None, 'hello'], "[42, None, 'hello']")


def VAL_REPR_TUTORIAL_DICT():
    d = {}
    for _ in range(10):  # each of the ten processes sets the same three keys
        d[1] = '1'
        d['2'] = 2
        d[0.25] = None
    assert len(d) == 3
    check_repr(d, "{1: '1', '2': 2, 0.25: None}")


def VAL_REPR_SCALARS():
    check_repr(None, 'None')
    check_repr(True, 'True')
    check_repr(False, 'False')
    check_repr(0, '0')
    check_repr(-42, '-42')
    check_repr(INT64_MAX, '9223372036854775807')
    check_repr(INT64_MIN, '-9223372036854775808')


def VAL_REPR_FLOAT():
    cases = [(0.1, '0.1'), (1.0, '1.0'), (-2.5, '-2.5'), (1e16, '1e+16'),
             (1e15, '1000000000000000.0'), (123456789012345678.0, '1.2345678901234568e+17'),
             (1e-05, '1e-05'), (0.0001, '0.0001'), (0.1 + 0.2, '0.30000000000000004'),
             (1.0 / 3, '0.3333333333333333'), (0.0, '0.0'), (-0.0, '-0.0'),
             (2.0 ** -24, '5.960464477539063e-08'), (5e-324, '5e-324'),
             (1.7976931348623157e308, '1.7976931348623157e+308'), (1.5e300, '1.5e+300'),
             (2.5e-7, '2.5e-07'), (100.0, '100.0'),
             (math.inf, 'inf'), (-math.inf, '-inf'), (math.nan, 'nan')]
    for d, want in cases:
        check_repr(d, want)


def VAL_REPR_STR_QUOTES():
    check_repr('hello', "'hello'")
    check_repr('', "''")
    check_repr("it's", '"it\'s"')
    check_repr('say "hi"', '\'say "hi"\'')
    check_repr('both \' and "', '\'both \\\' and "\'')


def VAL_REPR_STR_ESCAPES():
    check_repr('a\nb\tc\rd\\e', "'a\\nb\\tc\\rd\\\\e'")
    check_repr('\0\x1f\x7f', "'\\x00\\x1f\\x7f'")
    check_repr('h\u00e9 \u65e5\u672c \U0001f600', "'h\u00e9 \u65e5\u672c \U0001f600'")
    check_repr('\x80', "'\\x80'")                    # U+0080, a C1 control
    check_repr('\xa0|\xad', "'\\xa0|\\xad'")         # no-break space, soft hyphen
    check_repr('\u200b\u2028', "'\\u200b\\u2028'")
    check_repr('\ue000', "'\\ue000'")                # private use
    check_repr('\U0010ffff', "'\\U0010ffff'")        # a noncharacter
    check_repr('\u3000', "'\\u3000'")                # ideographic space
    # and the UTF-8 of the printable text is the text itself
    assert repr('h\u00e9').encode() == b"'h\xc3\xa9'"


def VAL_REPR_BYTES():
    check_repr(b'abc', "b'abc'")
    check_repr(b'', "b''")
    check_repr(b'\0\xff\x7f\x80 ~', "b'\\x00\\xff\\x7f\\x80 ~'")
    check_repr(b"it's", 'b"it\'s"')
    check_repr(b'\\\n\t\r\'"', 'b\'\\\\\\n\\t\\r\\\'"\'')
    check_repr(b'h\xc3\xa9', "b'h\\xc3\\xa9'")


def VAL_REPR_CONTAINERS():
    check_repr([], '[]')
    check_repr((), '()')
    check_repr({}, '{}')
    check_repr((1,), '(1,)')
    check_repr((1, 2), '(1, 2)')
    d = {'a': [None], (1, b'x'): 0.5}
    check_repr([1, ((),), d], "[1, ((),), {'a': [None], (1, b'x'): 0.5}]")


# ----------------------------------------------------------------- strings

def VAL_STR_UTF8():
    bad = [b'\xff', b'\xc0\x80', b'\xe0\x80\x80', b'\xed\xa0\x80', b'\xf4\x90\x80\x80',
           b'\xc3', b'\xe6\x97', b'\x80', b'a\xc3(', b'\xf8\x88\x80\x80\x80']
    for b in bad:
        twin.assert_raises(UnicodeDecodeError, b.decode, 'utf-8')
    # Python's str cannot hold a lone surrogate as UTF-8 either
    twin.assert_raises(UnicodeEncodeError, '\ud800'.encode, 'utf-8')
    s = b'a\0b'.decode('utf-8')
    assert len(s) == 3 and s == 'a\x00b' and s.encode() == b'a\0b'


# ---------------------------------------------------------------- equality

def VAL_EQ_NUMERIC():
    nan, nan2 = math.nan, float('nan')
    assert 1 == 1.0 and 1.0 == True and True == 1  # noqa: E712
    assert 0 == -0.0 and -0.0 == False and False == 0  # noqa: E712
    assert not (nan == nan), 'NaN == NaN'
    assert not (nan == nan2)
    assert INT64_MAX != 2.0 ** 63, '2**63-1 == 2.0**63 (must compare exactly)'
    assert (1 << 53) + 1 != 2.0 ** 53, '2**53+1 == 2.0**53 (must compare exactly)'
    assert 0 != 0.5 and 1 != 0.5
    assert 0 != None and False != None  # noqa: E711
    assert 1 != 0 and True != False


def VAL_EQ_CONTAINERS():
    assert [1, 2] != (1, 2), '[1, 2] == (1, 2)'
    assert [1, 2] == [True, 2.0], '[1, 2] != [True, 2.0]'
    assert [1, 2] != [1]
    assert 'a' != b'a', "'a' == b'a'"
    d1 = {'x': 1, 2: []}
    d2 = {2.0: [], 'x': 1.0}
    assert d1 == d2, 'dict equality depends on order'
    d2['x'] = 3
    assert d1 != d2
    assert d1 != None  # noqa: E711


def VAL_EQ_SAME_OBJECT():
    x = math.nan
    lst, l2 = [x], [float('nan')]
    assert not (lst[0] == lst[0]), 'x == x for x = nan'
    assert lst == lst, '[x] != [x] for the same x = nan'
    assert lst != l2, '[nan] == [another nan]'


# ----------------------------------------------------------- copy, sequences

def VAL_COPY():
    v = sample()
    c = copy.deepcopy(v)
    assert c == v and repr(c) == repr(v)
    assert type(c[9]) is tuple
    c.append(5)
    assert c != v and len(c) == len(v) + 1
    c[10]['new'] = 1
    assert 'new' not in v[10], 'the copy shares a dict with the original'


def VAL_SEQ_INDEX():
    lst = []
    for k in range(100):
        lst.append(k)
    assert len(lst) == 100
    assert lst[0] == 0 and lst[-1] == 99 and lst[-100] == 0
    for i in (100, -101, -(1 << 63), (1 << 63) - 1):
        twin.assert_raises(IndexError, lambda: lst[i])
    # A tuple cannot grow in place in Python; adding an item is t + (item,).
    t = ('a', 'b')
    t = t + ('c',)
    assert t[-1] == 'c' and len(t) == 3
    e = ()
    twin.assert_raises(IndexError, lambda: e[0])
    twin.assert_raises(IndexError, lambda: e[-1])


# ------------------------------------------------------------------- dicts

def VAL_DICT_KEY_NUMERIC_EQUAL():
    d = {}
    d[1] = 'int'
    d[True] = 'bool'
    d[1.0] = 'float'
    d[0.0] = 'zero'
    d[False] = 'false'
    d[1.5] = 'x'
    assert len(d) == 3
    check_repr(d, "{1: 'float', 0.0: 'false', 1.5: 'x'}")
    assert d[True] == 'float'
    del d[-0.0]
    assert len(d) == 2


def VAL_DICT_ORDER():
    d = {}
    for i, k in enumerate('zambycxdwevf'):
        d[k] = i
    d['m'] = 100
    del d['a']
    d['a'] = -1
    check_repr(d, "{'z': 0, 'm': 100, 'b': 3, 'y': 4, 'c': 5, 'x': 6, 'd': 7, 'w': 8, "
                  "'e': 9, 'v': 10, 'f': 11, 'a': -1}")
    items = list(d.items())
    assert items[1] == ('m', 100)
    assert items[11][0] == 'a'
    twin.assert_raises(IndexError, lambda: items[12])


def VAL_DICT_MISSING():
    d = {'a': 1}
    twin.assert_raises(KeyError, lambda: d[b'a'])
    def delete(k):
        del d[k]
    twin.assert_raises(KeyError, delete, b'a')
    twin.assert_raises(KeyError, lambda: d[None])
    d[None] = 2
    assert d[None] == 2
    delete('a')
    twin.assert_raises(KeyError, delete, 'a')
    twin.assert_raises(KeyError, lambda: d['a'])
    not_a_dict = 'a'
    twin.assert_raises(TypeError, lambda: not_a_dict['a'])


def VAL_DICT_UNHASHABLE():
    d = {}
    for key in ([], {}, (1, [])):
        def put(k=key):
            d[k] = 1
        twin.assert_raises(TypeError, put)
    twin.assert_raises(TypeError, lambda: d[[]])
    def delete():
        del d[[]]
    twin.assert_raises(TypeError, delete)
    d[(1, 'a')] = 'first'
    d[(1.0, 'a')] = 'second'
    d[((None,),)] = 'nested'
    assert len(d) == 2
    check_repr(d, "{(1, 'a'): 'second', ((None,),): 'nested'}")


def VAL_DICT_LARGE():
    n = 100000
    t0 = time.monotonic()
    d = {}
    for i in range(n):
        d[i] = -i
    for i in range(n):
        assert d[float(i)] == -i  # found through an equal float key
    for i in range(0, n, 2):
        del d[i]
    assert len(d) == n // 2
    for j, k in enumerate(d):
        assert k == 2 * j + 1
    el = time.monotonic() - t0
    assert el < 1.5, f'10^5 keys took {el:.3f} s'


def _unxorshift(x, s):
    r = x
    for _ in range(64 // s + 1):
        r = x ^ (r >> s)
    return r


def _flood_keys(kind, n):
    """The C test's colliding keys (see test_value.c flood_key).  The NaNs
    differ in their payload bits, so they are n distinct keys in every
    implementation: float('nan') n times is one object under `is` in PyPy
    (its floats are identical when their bits are), which would make the
    dict one key for a reason the row is not about."""
    m64 = (1 << 64) - 1
    inv1 = pow(0x94d049bb133111eb, -1, 1 << 64)
    inv2 = pow(0xbf58476d1ce4e5b9, -1, 1 << 64)
    for i in range(n):
        if kind == 0:
            yield struct.unpack('<d', struct.pack('<Q', 0x7ff8000000000000 | (i + 1)))[0]
        elif kind == 1:
            yield (i + 1) << 32
        else:
            y = ((i + 1) << 24) & m64
            y = _unxorshift(y, 31)
            y = (y * inv1) & m64
            y = _unxorshift(y, 27)
            y = (y * inv2) & m64
            y = _unxorshift(y, 30)
            yield y


def _flood_cost(keys, budget=None):
    """CPU seconds (this process: load does not stretch it) to build a dict of
    these keys key by key and round-trip it.  Past `budget` CPU seconds the
    key-by-key build stops (checked every 1024 keys) and the cost so far is
    returned, already over budget: a quadratic dict fails the row in seconds
    instead of taking minutes (the round trip, one uninterruptible call, comes
    second, only when the build kept within the budget)."""
    n = len(keys)
    t = time.process_time()
    d = {}
    for i, k in enumerate(keys):
        d[k] = None
        if budget is not None and not i & 1023 and time.process_time() - t > budget:
            return time.process_time() - t
    assert len(d) == n, len(d)
    d = roundtrip(dict.fromkeys(keys))  # pickle stands in for msgpack
    assert len(d) == n, len(d)
    return time.process_time() - t


def VAL_DICT_COLLIDING_KEYS_LINEAR():
    """CPython hashes NaN by identity (3.10+) and perturbs its probes with the
    whole hash, so these keys spread out.  Each flood costs at most 10x the
    CPU time of as many ordinary int keys, plus 0.5 s (the C test's rule)."""
    n = 200000
    # Making the keys is not what the row measures: done first.
    plain_keys = list(range(n))
    floods = [list(_flood_keys(kind, n)) for kind in range(3)]
    plain = min(_flood_cost(plain_keys), _flood_cost(plain_keys))
    for kind, keys in enumerate(floods):
        c = _flood_cost(keys, 10 * plain + 0.5)
        assert c <= 10 * plain + 0.5, \
            f'flood kind {kind}: {c:.3f} CPU s for {n} keys against {plain:.3f} s: not linear'


# ------------------------------------------------------------------- codec

def VAL_ROUNDTRIP_TYPES():
    v = sample()
    w = roundtrip(v)
    assert w == v
    assert repr(w) == repr(v)  # repr shows types: (), [], b'', -0.0
    assert list(w[10]) == list(v[10]), 'dict order changed'
    w = roundtrip(math.nan)
    assert type(w) is float and math.isnan(w)
    assert type(roundtrip(True)) is bool


def VAL_ROUNDTRIP_64MIB():
    # 16 MiB, not 64: pickling, unpickling and comparing 64 MiB takes several
    # seconds on this machine, and pickle's framing does not change between the
    # two sizes (BINBYTES8 starts at 4 GiB).  The bytes are random only in their
    # first MiB and repeat with an odd period after it (generating more takes
    # seconds too).
    n = 16 << 20
    base = random.Random(0x64d1b).randbytes((1 << 20) + 7)
    k, rest = divmod(n, len(base))
    p = b''.join([base] * k + [base[:rest]])
    q = roundtrip(p)
    assert type(q) is bytes and len(q) == n and q == p, f'{n} bytes came back different'


def VAL_DECODE_DUP_KEYS():
    # The pickle of {1: 'a', 1.0: 'b', True: 'c'} written by hand with three
    # SETITEMs, as the C test's map repeats the key three times.
    raw = b'}I1\nVa\nsF1.0\nVb\nsI01\nVc\ns.'
    check_repr(ForkingPickler.loads(raw), "{1: 'c'}")
    check_repr({1: 'a', 1.0: 'b', True: 'c'}, "{1: 'c'}")


def VAL_DEEP_NESTING():
    """differs: CPython's == raises RecursionError where mp_value_equal (a
    bool) says false; freeing, repr and copy behave alike."""
    def nested(depth):
        v = [1]
        for _ in range(depth):
            v = [v]
        return v
    a, b = nested(1000000), nested(1000000)
    twin.assert_raises(RecursionError, repr, a)
    twin.assert_raises(RecursionError, copy.deepcopy, a)
    assert a == a
    t = (1,)
    for _ in range(5000):
        t = (t,)
    try:
        hash(t)
    except RecursionError:
        pass
    else:
        raise AssertionError('CPython hashes a 5000-deep tuple (the row: not a usable key)')
    del t
    c = nested(500)
    assert copy.deepcopy(c) == c and len(repr(c)) == 501 * 2 + 1
    try:
        equal = a == b
    except RecursionError:
        raise AssertionError('== of two 1e6-deep lists raises RecursionError, not False')
    assert not equal
    del a, b  # the trashcan frees deep nesting without a crash
