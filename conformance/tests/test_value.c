/* value: the value type (Python's None/bool/int/float/str/bytes/list/tuple/
 * dict semantics, repr as CPython 3.11 prints it) and its wire codec. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "mpt.h"

/* ------------------------------------------------------------ helpers */

/* repr(v) must be `want`; takes v. */
static void check_repr(mp_value *v, const char *want)
{
    cr_assert(v != NULL, "value for %s not made: %s", want, mp_errmsg());
    char *got = NULL;
    MP_ASSERT_OK(mp_value_repr(v, &got));
    cr_assert_str_eq(got, want);
    free(got);
    mp_value_free(v);
}

static mp_value *roundtrip(const mp_value *v)
{
    void *buf = NULL;
    size_t len = 0;
    mp_value *out = NULL;
    MP_ASSERT_OK(mp_value_encode(v, &buf, &len));
    MP_ASSERT_OK(mp_value_decode(buf, len, &out));
    free(buf);
    return out;
}

static char *repr_of(const mp_value *v)
{
    char *s = NULL;
    MP_ASSERT_OK(mp_value_repr(v, &s));
    return s;
}

/* decode must fail with MP_EPROTO and say why. */
static void check_bad(const void *buf, size_t len, const char *what)
{
    mp_value *out = NULL;
    mp_status s = mp_value_decode(buf, len, &out);
    cr_assert(s == MP_EPROTO, "%s: decode gave %s, want MP_EPROTO", what, mp_status_name(s));
    cr_assert(out == NULL, "%s: output written on failure", what);
    cr_assert(strlen(mp_errmsg()) > 0, "%s: no detail message", what);
}

static uint64_t rng_state;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static long max_rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* A nested value using every type. */
static mp_value *sample(void)
{
    mp_value *d = mp_dict();
    mp_dict_set(d, mp_int(1), mp_str("1"));
    mp_dict_set(d, mp_str("2"), mp_int(2));
    mp_dict_set(d, mp_float(0.25), mp_none());
    mp_dict_set(d, mp_tuple_of(2, mp_int(-7), mp_bytes("k", 1)), mp_list());
    return mp_list_of(
        12, mp_none(), mp_bool(true), mp_bool(false), mp_int(INT64_MIN), mp_int(INT64_MAX),
        mp_float(-0.0), mp_float(3.5e-300), mp_str("h\xc3\xa9llo \xf0\x9f\x98\x80"),
        mp_bytes("a\0b\xff", 4),
        mp_tuple_of(3, mp_tuple(), mp_tuple_of(1, mp_int(1)), mp_list_of(1, mp_dict())), d,
        mp_list_of(2, mp_float(INFINITY), mp_float(-INFINITY)));
}

/* ------------------------------------------------------------------ repr */

MPT_TEST(value, VAL_REPR_TUTORIAL_LIST,
         "VAL-REPR-TUTORIAL-LIST: [42, None, 'hello'] prints as Python prints it")
{
    check_repr(mp_list_of(3, mp_int(42), mp_none(), mp_str("hello")), "[42, None, 'hello']");
}

MPT_TEST(
    value, VAL_REPR_TUTORIAL_DICT,
    "VAL-REPR-TUTORIAL-DICT: the manager dict of ten processes prints {1: '1', '2': 2, 0.25: None}")
{
    mp_value *d = mp_dict();
    for (int i = 0; i < 10; i++) { /* each of the ten processes sets the same three keys */
        MP_ASSERT_OK(mp_dict_set(d, mp_int(1), mp_str("1")));
        MP_ASSERT_OK(mp_dict_set(d, mp_str("2"), mp_int(2)));
        MP_ASSERT_OK(mp_dict_set(d, mp_float(0.25), mp_none()));
    }
    size_t n = 0;
    MP_ASSERT_OK(mp_dict_len(d, &n));
    cr_assert_eq(n, 3);
    check_repr(d, "{1: '1', '2': 2, 0.25: None}");
}

MPT_TEST(value, VAL_REPR_SCALARS, "VAL-REPR-SCALARS: None, True, False and ints print as in Python")
{
    check_repr(mp_none(), "None");
    check_repr(mp_bool(true), "True");
    check_repr(mp_bool(false), "False");
    check_repr(mp_int(0), "0");
    check_repr(mp_int(-42), "-42");
    check_repr(mp_int(INT64_MAX), "9223372036854775807");
    check_repr(mp_int(INT64_MIN), "-9223372036854775808");
}

MPT_TEST(value, VAL_REPR_FLOAT,
         "VAL-REPR-FLOAT: floats print with CPython's shortest round-trip repr")
{
    static const struct {
        double d;
        const char *want;
    } cases[] = {
        {0.1, "0.1"},
        {1.0, "1.0"},
        {-2.5, "-2.5"},
        {1e16, "1e+16"},
        {1e15, "1000000000000000.0"},
        {123456789012345678.0, "1.2345678901234568e+17"},
        {1e-05, "1e-05"},
        {0.0001, "0.0001"},
        {0.1 + 0.2, "0.30000000000000004"},
        {1.0 / 3, "0.3333333333333333"},
        {0.0, "0.0"},
        {-0.0, "-0.0"},
        {0x1p-24, "5.960464477539063e-08"}, /* a power of two: the lower gap is narrower */
        {5e-324, "5e-324"},
        {1.7976931348623157e308, "1.7976931348623157e+308"},
        {1.5e300, "1.5e+300"},
        {2.5e-7, "2.5e-07"},
        {100.0, "100.0"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_repr(mp_float(cases[i].d), cases[i].want);
    check_repr(mp_float(INFINITY), "inf");
    check_repr(mp_float(-INFINITY), "-inf");
    check_repr(mp_float(NAN), "nan");
}

MPT_TEST(value, VAL_REPR_STR_QUOTES,
         "VAL-REPR-STR-QUOTES: str repr uses ' unless the text has ' and no \"")
{
    check_repr(mp_str("hello"), "'hello'");
    check_repr(mp_str(""), "''");
    check_repr(mp_str("it's"), "\"it's\"");
    check_repr(mp_str("say \"hi\""), "'say \"hi\"'");
    check_repr(mp_str("both ' and \""), "'both \\' and \"'");
}

MPT_TEST(value, VAL_REPR_STR_ESCAPES,
         "VAL-REPR-STR-ESCAPES: control and non-printable characters are escaped, printable "
         "non-ASCII kept")
{
    check_repr(mp_str("a\nb\tc\rd\\e"), "'a\\nb\\tc\\rd\\\\e'");
    check_repr(mp_strn("\0\x1f\x7f", 3), "'\\x00\\x1f\\x7f'");
    check_repr(mp_str("h\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80"),
               "'h\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80'"); /* é 日本 😀 */
    check_repr(mp_str("\xc2\x80"), "'\\x80'");                           /* U+0080, a C1 control */
    check_repr(mp_str("\xc2\xa0|\xc2\xad"), "'\\xa0|\\xad'"); /* no-break space, soft hyphen */
    check_repr(mp_str("\xe2\x80\x8b\xe2\x80\xa8"), "'\\u200b\\u2028'");
    check_repr(mp_str("\xee\x80\x80"), "'\\ue000'");         /* private use */
    check_repr(mp_str("\xf4\x8f\xbf\xbf"), "'\\U0010ffff'"); /* a noncharacter */
    check_repr(mp_str("\xe3\x80\x80"), "'\\u3000'");         /* ideographic space */
}

MPT_TEST(value, VAL_REPR_BYTES, "VAL-REPR-BYTES: bytes print as b'...' with \\x escapes")
{
    check_repr(mp_bytes("abc", 3), "b'abc'");
    check_repr(mp_bytes("", 0), "b''");
    check_repr(mp_bytes("\0\xff\x7f\x80 ~", 6), "b'\\x00\\xff\\x7f\\x80 ~'");
    check_repr(mp_bytes("it's", 4), "b\"it's\"");
    check_repr(mp_bytes("\\\n\t\r'\"", 6), "b'\\\\\\n\\t\\r\\'\"'");
    check_repr(mp_bytes("h\xc3\xa9", 3), "b'h\\xc3\\xa9'");
}

MPT_TEST(value, VAL_REPR_CONTAINERS,
         "VAL-REPR-CONTAINERS: lists, tuples (one-item tuples with a comma) and dicts print as in "
         "Python")
{
    check_repr(mp_list(), "[]");
    check_repr(mp_tuple(), "()");
    check_repr(mp_dict(), "{}");
    check_repr(mp_tuple_of(1, mp_int(1)), "(1,)");
    check_repr(mp_tuple_of(2, mp_int(1), mp_int(2)), "(1, 2)");
    mp_value *d = mp_dict();
    MP_ASSERT_OK(mp_dict_set(d, mp_str("a"), mp_list_of(1, mp_none())));
    MP_ASSERT_OK(mp_dict_set(d, mp_tuple_of(2, mp_int(1), mp_bytes("x", 1)), mp_float(0.5)));
    check_repr(mp_list_of(3, mp_int(1), mp_tuple_of(1, mp_tuple()), d),
               "[1, ((),), {'a': [None], (1, b'x'): 0.5}]");
}

/* -------------------------------------------------------------- strings */

MPT_TEST(
    value, VAL_STR_UTF8,
    "VAL-STR-UTF8: str holds valid UTF-8 only; NUL is a character; invalid input makes no value")
{
    static const char *bad[] = {
        "\xff", "\xc0\x80", "\xe0\x80\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80",
        "\xc3", "\xe6\x97", "\x80",         "a\xc3(",       "\xf8\x88\x80\x80\x80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mp_value *v = mp_str(bad[i]);
        cr_assert(v == NULL, "invalid UTF-8 #%zu accepted", i);
        cr_assert(strlen(mp_errmsg()) > 0);
    }
    cr_assert(mp_str(NULL) == NULL);
    mp_value *v = mp_strn("a\0b", 3);
    cr_assert(v != NULL);
    const char *s = NULL;
    size_t len = 0;
    MP_ASSERT_OK(mp_value_get_str(v, &s, &len));
    cr_assert_eq(len, 3);
    cr_assert(memcmp(s, "a\0b", 4) == 0, "text not kept (or not NUL-terminated)");
    mp_value_free(v);
}

/* ------------------------------------------------------------- equality */

MPT_TEST(value, VAL_EQ_NUMERIC,
         "VAL-EQ-NUMERIC: numbers compare by value across bool, int and float; NaN equals nothing")
{
    mp_value *one = mp_int(1), *onef = mp_float(1.0), *t = mp_bool(true), *zero = mp_int(0),
             *nz = mp_float(-0.0), *f = mp_bool(false), *nan = mp_float(NAN), *nan2 = mp_float(NAN),
             *big = mp_int(INT64_MAX), *p63 = mp_float(0x1p63),
             *i53 = mp_int(((int64_t)1 << 53) + 1), *f53 = mp_float(0x1p53), *half = mp_float(0.5),
             *none = mp_none();
    cr_assert(mp_value_equal(one, onef) && mp_value_equal(onef, t) && mp_value_equal(t, one));
    cr_assert(mp_value_equal(zero, nz) && mp_value_equal(nz, f) && mp_value_equal(f, zero));
    cr_assert(!mp_value_equal(nan, nan), "NaN == NaN");
    cr_assert(!mp_value_equal(nan, nan2));
    cr_assert(!mp_value_equal(big, p63), "2**63-1 == 2.0**63 (must compare exactly)");
    cr_assert(!mp_value_equal(i53, f53), "2**53+1 == 2.0**53 (must compare exactly)");
    cr_assert(!mp_value_equal(zero, half) && !mp_value_equal(one, half));
    cr_assert(!mp_value_equal(zero, none) && !mp_value_equal(f, none));
    cr_assert(!mp_value_equal(one, zero) && !mp_value_equal(t, f));
    mp_value *all[] = {one, onef, t, zero, nz, f, nan, nan2, big, p63, i53, f53, half, none};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        mp_value_free(all[i]);
}

MPT_TEST(
    value, VAL_EQ_CONTAINERS,
    "VAL-EQ-CONTAINERS: list vs tuple and str vs bytes never equal; dict equality ignores order")
{
    mp_value *l = mp_list_of(2, mp_int(1), mp_int(2)), *t = mp_tuple_of(2, mp_int(1), mp_int(2));
    mp_value *l2 = mp_list_of(2, mp_bool(true), mp_float(2.0)), *l3 = mp_list_of(1, mp_int(1));
    cr_assert(!mp_value_equal(l, t), "[1, 2] == (1, 2)");
    cr_assert(mp_value_equal(l, l2), "[1, 2] != [True, 2.0]");
    cr_assert(!mp_value_equal(l, l3));
    mp_value *s = mp_str("a"), *b = mp_bytes("a", 1);
    cr_assert(!mp_value_equal(s, b), "'a' == b'a'");
    mp_value *d1 = mp_dict(), *d2 = mp_dict();
    MP_ASSERT_OK(mp_dict_set(d1, mp_str("x"), mp_int(1)));
    MP_ASSERT_OK(mp_dict_set(d1, mp_int(2), mp_list()));
    MP_ASSERT_OK(mp_dict_set(d2, mp_float(2.0), mp_list()));
    MP_ASSERT_OK(mp_dict_set(d2, mp_str("x"), mp_float(1.0)));
    cr_assert(mp_value_equal(d1, d2), "dict equality depends on order");
    MP_ASSERT_OK(mp_dict_set(d2, mp_str("x"), mp_int(3)));
    cr_assert(!mp_value_equal(d1, d2));
    cr_assert(!mp_value_equal(d1, NULL) && !mp_value_equal(NULL, d1));
    mp_value *all[] = {l, t, l2, l3, s, b, d1, d2};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        mp_value_free(all[i]);
}

MPT_TEST(
    value, VAL_EQ_SAME_OBJECT,
    "VAL-EQ-SAME-OBJECT: a container equals itself even holding NaN (identity), a NaN never does")
{
    mp_value *l = mp_list_of(1, mp_float(NAN)), *l2 = mp_list_of(1, mp_float(NAN));
    const mp_value *nan = NULL;
    MP_ASSERT_OK(mp_seq_get(l, 0, &nan));
    cr_assert(!mp_value_equal(nan, nan), "x == x for x = nan");
    cr_assert(mp_value_equal(l, l), "[x] != [x] for the same x = nan");
    cr_assert(!mp_value_equal(l, l2), "[nan] == [another nan]");
    mp_value_free(l);
    mp_value_free(l2);
}

/* ---------------------------------------------------- copy and accessors */

MPT_TEST(value, VAL_COPY,
         "VAL-COPY: a copy is deep: equal, same types, independent of the original")
{
    mp_value *v = sample(), *c = mp_value_copy(v);
    cr_assert(c != NULL);
    cr_assert(mp_value_equal(v, c));
    char *a = repr_of(v), *b = repr_of(c);
    cr_assert_str_eq(a, b);
    const mp_value *inner = NULL;
    MP_ASSERT_OK(mp_seq_get(c, 9, &inner)); /* the tuple */
    cr_assert_eq(mp_value_type(inner), MP_T_TUPLE);
    MP_ASSERT_OK(mp_seq_append(c, mp_int(5)));
    cr_assert(!mp_value_equal(v, c));
    size_t n1, n2;
    MP_ASSERT_OK(mp_seq_len(v, &n1));
    MP_ASSERT_OK(mp_seq_len(c, &n2));
    cr_assert_eq(n1 + 1, n2);
    free(a);
    free(b);
    mp_value_free(v);
    mp_value_free(c);
    cr_assert(mp_value_copy(NULL) == NULL);
    mp_value_free(NULL);
}

MPT_TEST(value, VAL_ACCESSORS,
         "VAL-ACCESSORS: typed getters return the content; wrong type MP_ETYPE, NULL MP_EINVAL")
{
    mp_value *i = mp_int(-5), *f = mp_float(2.5), *t = mp_bool(true), *s = mp_str("hi"),
             *b = mp_bytes("\0\1", 2), *l = mp_list();
    int64_t iv;
    double dv;
    bool bv;
    const char *sv;
    const void *pv;
    size_t len;
    MP_ASSERT_OK(mp_value_get_int(i, &iv));
    cr_assert_eq(iv, -5);
    MP_ASSERT_OK(mp_value_get_int(t, &iv)); /* bool is an int subclass */
    cr_assert_eq(iv, 1);
    MP_ASSERT_OK(mp_value_get_float(f, &dv));
    cr_assert_eq(dv, 2.5);
    MP_ASSERT_OK(mp_value_get_float(i, &dv));
    cr_assert_eq(dv, -5.0);
    MP_ASSERT_OK(mp_value_get_bool(t, &bv));
    cr_assert(bv);
    MP_ASSERT_OK(mp_value_get_str(s, &sv, &len));
    cr_assert(len == 2 && strcmp(sv, "hi") == 0);
    MP_ASSERT_OK(mp_value_get_bytes(b, &pv, &len));
    cr_assert(len == 2 && memcmp(pv, "\0\1", 2) == 0);
    cr_assert_eq(mp_value_type(l), MP_T_LIST);
    cr_assert_eq(mp_value_type(b), MP_T_BYTES);
    MP_ASSERT_STATUS(mp_value_get_int(f, &iv), MP_ETYPE);
    MP_ASSERT_STATUS(mp_value_get_bool(i, &bv), MP_ETYPE);
    MP_ASSERT_STATUS(mp_value_get_float(s, &dv), MP_ETYPE);
    MP_ASSERT_STATUS(mp_value_get_str(b, &sv, &len), MP_ETYPE);
    MP_ASSERT_STATUS(mp_value_get_bytes(s, &pv, &len), MP_ETYPE);
    MP_ASSERT_STATUS(mp_value_get_int(NULL, &iv), MP_EINVAL);
    MP_ASSERT_STATUS(mp_value_get_int(i, NULL), MP_EINVAL);
    MP_ASSERT_STATUS(mp_value_get_str(NULL, &sv, &len), MP_EINVAL);
    char *rs = NULL;
    MP_ASSERT_STATUS(mp_value_repr(NULL, &rs), MP_EINVAL);
    MP_ASSERT_STATUS(mp_value_repr(i, NULL), MP_EINVAL);
    MP_ASSERT_STATUS(mp_seq_len(i, &len), MP_ETYPE);
    MP_ASSERT_STATUS(mp_dict_len(l, &len), MP_ETYPE);
    MP_ASSERT_STATUS(mp_seq_len(NULL, &len), MP_EINVAL);
    mp_value *all[] = {i, f, t, s, b, l};
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
        mp_value_free(all[k]);
}

/* ------------------------------------------------------------ sequences */

MPT_TEST(value, VAL_SEQ_INDEX,
         "VAL-SEQ-INDEX: append, len and get with negative indexes; out of range is MP_EINDEX")
{
    mp_value *l = mp_list();
    for (int k = 0; k < 100; k++)
        MP_ASSERT_OK(mp_seq_append(l, mp_int(k)));
    size_t n = 0;
    MP_ASSERT_OK(mp_seq_len(l, &n));
    cr_assert_eq(n, 100);
    const mp_value *it = NULL;
    int64_t x;
    MP_ASSERT_OK(mp_seq_get(l, 0, &it));
    MP_ASSERT_OK(mp_value_get_int(it, &x));
    cr_assert_eq(x, 0);
    MP_ASSERT_OK(mp_seq_get(l, -1, &it));
    MP_ASSERT_OK(mp_value_get_int(it, &x));
    cr_assert_eq(x, 99);
    MP_ASSERT_OK(mp_seq_get(l, -100, &it));
    MP_ASSERT_OK(mp_value_get_int(it, &x));
    cr_assert_eq(x, 0);
    MP_ASSERT_STATUS(mp_seq_get(l, 100, &it), MP_EINDEX);
    MP_ASSERT_STATUS(mp_seq_get(l, -101, &it), MP_EINDEX);
    MP_ASSERT_STATUS(mp_seq_get(l, PTRDIFF_MIN, &it), MP_EINDEX);
    MP_ASSERT_STATUS(mp_seq_get(l, PTRDIFF_MAX, &it), MP_EINDEX);
    mp_value *t = mp_tuple_of(2, mp_str("a"), mp_str("b"));
    MP_ASSERT_OK(mp_seq_append(t, mp_str("c")));
    MP_ASSERT_OK(mp_seq_get(t, -1, &it));
    const char *s;
    MP_ASSERT_OK(mp_value_get_str(it, &s, NULL));
    cr_assert_str_eq(s, "c");
    mp_value *e = mp_tuple();
    MP_ASSERT_STATUS(mp_seq_get(e, 0, &it), MP_EINDEX);
    MP_ASSERT_STATUS(mp_seq_get(e, -1, &it), MP_EINDEX);
    mp_value_free(l);
    mp_value_free(t);
    mp_value_free(e);
}

MPT_TEST(value, VAL_SEQ_ERRORS,
         "VAL-SEQ-ERRORS: a NULL item fails mp_list_of/mp_tuple_of; append to a non-sequence is "
         "MP_ETYPE")
{
    cr_assert(mp_list_of(3, mp_int(1), NULL, mp_str("x")) == NULL);
    cr_assert(mp_tuple_of(2, NULL, mp_list()) == NULL);
    mp_value *d = mp_dict(), *l = mp_list();
    MP_ASSERT_STATUS(mp_seq_append(d, mp_int(1)), MP_ETYPE); /* the item is taken and freed */
    MP_ASSERT_STATUS(mp_seq_append(NULL, mp_int(1)), MP_EINVAL);
    MP_ASSERT_STATUS(mp_seq_append(l, NULL), MP_EINVAL);
    MP_ASSERT_STATUS(mp_seq_append(l, l), MP_EINVAL);
    size_t n = 9;
    MP_ASSERT_OK(mp_seq_len(l, &n));
    cr_assert_eq(n, 0);
    mp_value_free(d);
    mp_value_free(l);
}

/* ---------------------------------------------------------------- dicts */

MPT_TEST(value, VAL_DICT_KEY_NUMERIC_EQUAL,
         "VAL-DICT-KEY-NUMERIC-EQUAL: 1, 1.0 and True are one key; the first key object stays")
{
    mp_value *d = mp_dict();
    MP_ASSERT_OK(mp_dict_set(d, mp_int(1), mp_str("int")));
    MP_ASSERT_OK(mp_dict_set(d, mp_bool(true), mp_str("bool")));
    MP_ASSERT_OK(mp_dict_set(d, mp_float(1.0), mp_str("float")));
    MP_ASSERT_OK(mp_dict_set(d, mp_float(0.0), mp_str("zero")));
    MP_ASSERT_OK(mp_dict_set(d, mp_bool(false), mp_str("false")));
    MP_ASSERT_OK(mp_dict_set(d, mp_float(1.5), mp_str("x")));
    size_t n = 0;
    MP_ASSERT_OK(mp_dict_len(d, &n));
    cr_assert_eq(n, 3);
    char *r = repr_of(d);
    cr_assert_str_eq(r, "{1: 'float', 0.0: 'false', 1.5: 'x'}");
    free(r);
    mp_value *k = mp_bool(true);
    const mp_value *v = NULL;
    MP_ASSERT_OK(mp_dict_get(d, k, &v));
    const char *s;
    MP_ASSERT_OK(mp_value_get_str(v, &s, NULL));
    cr_assert_str_eq(s, "float");
    mp_value *nz = mp_float(-0.0);
    MP_ASSERT_OK(mp_dict_del(d, nz));
    MP_ASSERT_OK(mp_dict_len(d, &n));
    cr_assert_eq(n, 2);
    mp_value_free(k);
    mp_value_free(nz);
    mp_value_free(d);
}

MPT_TEST(value, VAL_DICT_ORDER,
         "VAL-DICT-ORDER: items stay in insertion order; replacing keeps the place, delete+set "
         "moves to the end")
{
    mp_value *d = mp_dict();
    const char *keys[] = {"z", "a", "m", "b", "y", "c", "x", "d", "w", "e", "v", "f"};
    for (int i = 0; i < 12; i++)
        MP_ASSERT_OK(mp_dict_set(d, mp_str(keys[i]), mp_int(i)));
    MP_ASSERT_OK(mp_dict_set(d, mp_str("m"), mp_int(100)));
    mp_value *k = mp_str("a");
    MP_ASSERT_OK(mp_dict_del(d, k));
    MP_ASSERT_OK(mp_dict_set(d, mp_str("a"), mp_int(-1)));
    char *r = repr_of(d);
    cr_assert_str_eq(r,
                     "{'z': 0, 'm': 100, 'b': 3, 'y': 4, 'c': 5, 'x': 6, 'd': 7, 'w': 8, 'e': 9, "
                     "'v': 10, 'f': 11, 'a': -1}");
    free(r);
    const mp_value *kk, *vv;
    MP_ASSERT_OK(mp_dict_item(d, 1, &kk, &vv));
    const char *s;
    int64_t x;
    MP_ASSERT_OK(mp_value_get_str(kk, &s, NULL));
    MP_ASSERT_OK(mp_value_get_int(vv, &x));
    cr_assert(strcmp(s, "m") == 0 && x == 100);
    MP_ASSERT_OK(mp_dict_item(d, 11, &kk, &vv));
    MP_ASSERT_OK(mp_value_get_str(kk, &s, NULL));
    cr_assert_str_eq(s, "a");
    MP_ASSERT_STATUS(mp_dict_item(d, 12, &kk, &vv), MP_EINDEX);
    mp_value_free(k);
    mp_value_free(d);
}

MPT_TEST(
    value, VAL_DICT_MISSING,
    "VAL-DICT-MISSING: get and del of a missing key are MP_EKEY; 'a' and b'a' are different keys")
{
    mp_value *d = mp_dict(), *sa = mp_str("a"), *ba = mp_bytes("a", 1), *none = mp_none();
    MP_ASSERT_OK(mp_dict_set(d, mp_str("a"), mp_int(1)));
    const mp_value *v = NULL;
    MP_ASSERT_STATUS(mp_dict_get(d, ba, &v), MP_EKEY);
    MP_ASSERT_STATUS(mp_dict_del(d, ba), MP_EKEY);
    MP_ASSERT_STATUS(mp_dict_get(d, none, &v), MP_EKEY);
    MP_ASSERT_OK(mp_dict_set(d, mp_none(), mp_int(2)));
    MP_ASSERT_OK(mp_dict_get(d, none, &v));
    MP_ASSERT_OK(mp_dict_del(d, sa));
    MP_ASSERT_STATUS(mp_dict_del(d, sa), MP_EKEY);
    MP_ASSERT_STATUS(mp_dict_get(d, sa, &v), MP_EKEY);
    MP_ASSERT_STATUS(mp_dict_get(NULL, sa, &v), MP_EINVAL);
    MP_ASSERT_STATUS(mp_dict_get(d, NULL, &v), MP_EINVAL);
    MP_ASSERT_STATUS(mp_dict_get(sa, sa, &v), MP_ETYPE);
    mp_value_free(d);
    mp_value_free(sa);
    mp_value_free(ba);
}

MPT_TEST(value, VAL_DICT_UNHASHABLE,
         "VAL-DICT-UNHASHABLE: list, dict and tuple-holding-list keys are MP_ETYPE; tuples of "
         "scalars are keys")
{
    mp_value *d = mp_dict();
    MP_ASSERT_STATUS(mp_dict_set(d, mp_list(), mp_int(1)), MP_ETYPE);
    MP_ASSERT_STATUS(mp_dict_set(d, mp_dict(), mp_int(1)), MP_ETYPE);
    MP_ASSERT_STATUS(mp_dict_set(d, mp_tuple_of(2, mp_int(1), mp_list()), mp_int(1)), MP_ETYPE);
    mp_value *lk = mp_list();
    const mp_value *v;
    MP_ASSERT_STATUS(mp_dict_get(d, lk, &v), MP_ETYPE);
    MP_ASSERT_STATUS(mp_dict_del(d, lk), MP_ETYPE);
    MP_ASSERT_OK(mp_dict_set(d, mp_tuple_of(2, mp_int(1), mp_str("a")), mp_str("first")));
    MP_ASSERT_OK(mp_dict_set(d, mp_tuple_of(2, mp_float(1.0), mp_str("a")), mp_str("second")));
    MP_ASSERT_OK(mp_dict_set(d, mp_tuple_of(1, mp_tuple_of(1, mp_none())), mp_str("nested")));
    size_t n;
    MP_ASSERT_OK(mp_dict_len(d, &n));
    cr_assert_eq(n, 2);
    char *r = repr_of(d);
    cr_assert_str_eq(r, "{(1, 'a'): 'second', ((None,),): 'nested'}");
    free(r);
    mp_value_free(lk);
    mp_value_free(d);
}

MPT_TEST(value, VAL_DICT_LARGE,
         "VAL-DICT-LARGE: a dict of 10^5 keys sets, finds and deletes in O(1) average and keeps "
         "its order")
{
    enum { N = 100000 };
    double t0 = mpt_now();
    mp_value *d = mp_dict();
    for (int i = 0; i < N; i++)
        MP_ASSERT_OK(mp_dict_set(d, mp_int(i), mp_int(-i)));
    for (int i = 0; i < N; i++) {
        mp_value *k = mp_float(i); /* found through an equal float key */
        const mp_value *v;
        int64_t x;
        MP_ASSERT_OK(mp_dict_get(d, k, &v));
        MP_ASSERT_OK(mp_value_get_int(v, &x));
        cr_assert_eq(x, -i);
        mp_value_free(k);
    }
    for (int i = 0; i < N; i += 2) {
        mp_value *k = mp_int(i);
        MP_ASSERT_OK(mp_dict_del(d, k));
        mp_value_free(k);
    }
    size_t n;
    MP_ASSERT_OK(mp_dict_len(d, &n));
    cr_assert_eq(n, N / 2);
    for (size_t j = 0; j < n; j++) {
        const mp_value *k;
        int64_t x;
        MP_ASSERT_OK(mp_dict_item(d, j, &k, NULL));
        MP_ASSERT_OK(mp_value_get_int(k, &x));
        cr_assert_eq(x, (int64_t)(2 * j + 1));
    }
    mp_value_free(d);
    double el = mpt_now() - t0;
    cr_assert(el < mpt_slack(1.5), "10^5 keys took %.3f s", el);
}

/* Keys that collide in common dict hashes, in msgpack: n NaNs (one hash for
 * all of them unless NaN hashes by identity, as CPython >= 3.10 does), and n
 * ints that collide in an unkeyed int hash: values differing only above bit
 * 32 (an identity hash -- CPython's is the value mod 2^61-1 -- masked to the
 * index bits, with no probe perturbation), and inverses of splitmix64's
 * finalizer with the low 24 bits zero (a common int mixer).  (Multiples of
 * 2^61-1, CPython's full-hash collisions, are only four in int64.)  Every key
 * maps to nil. */
/* FLOOD_PLAIN, ordinary ints 0..n-1, is the control the others are measured
 * against. */
enum { FLOOD_PLAIN, FLOOD_NAN, FLOOD_HIGH_BITS, FLOOD_SPLITMIX, FLOOD_KINDS };
static const char *const flood_name[] = {"ordinary ints", "NaN", "ints differing above bit 32",
                                         "splitmix64-inverted ints"};

static uint64_t unxorshift(uint64_t x, int s)
{
    uint64_t r = x;
    for (int i = 0; i < 64 / s + 1; i++)
        r = x ^ (r >> s);
    return r;
}

static uint64_t inverse_odd(uint64_t a) /* a * result == 1 mod 2^64 */
{
    uint64_t x = a;
    for (int i = 0; i < 6; i++)
        x *= 2 - a * x;
    return x;
}

static int64_t flood_key(int kind, uint64_t i)
{
    switch (kind) {
    case FLOOD_PLAIN:
        return (int64_t)i;
    case FLOOD_HIGH_BITS:
        return (int64_t)((i + 1) << 32);
    default: { /* splitmix64's finalizer run backwards from (i + 1) << 24 */
        uint64_t y = (i + 1) << 24;
        y = unxorshift(y, 31);
        y *= inverse_odd(0x94d049bb133111ebull);
        y = unxorshift(y, 27);
        y *= inverse_odd(0xbf58476d1ce4e5b9ull);
        return (int64_t)unxorshift(y, 30);
    }
    }
}

static void be_put(unsigned char *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

/* The msgpack map {key: None, ...} of n keys of one kind; *len its size. */
static unsigned char *flood_map(int kind, size_t n, size_t *len)
{
    unsigned char *b = malloc(5 + n * 10), *p = b;
    cr_assert(b != NULL);
    *p = 0xdf;
    be_put(p + 1, n, 4);
    p += 5;
    for (size_t i = 0; i < n; i++) {
        uint64_t bits;
        if (kind == FLOOD_NAN) {
            double d = NAN;
            memcpy(&bits, &d, sizeof bits);
            *p = 0xcb;
        } else {
            bits = (uint64_t)flood_key(kind, i);
            *p = 0xd3;
        }
        be_put(p + 1, bits, 8);
        p[9] = 0xc0;
        p += 10;
    }
    *len = (size_t)(p - b);
    return b;
}

/* CPU seconds of this process.  Unlike the wall clock, a busy machine does
 * not stretch it, so the ratio of two of them measures work, not load. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU seconds to decode a map of n keys of one kind, check its size, build
 * the same dict with mp_dict_set and find its int keys again. */
static double flood_cost(int kind, size_t n)
{
    size_t len, got = 0;
    unsigned char *buf = flood_map(kind, n, &len);
    mp_value *v = NULL;
    double t = cpu_now();
    MP_ASSERT_OK(mp_value_decode(buf, len, &v));
    free(buf);
    MP_ASSERT_OK(mp_dict_len(v, &got));
    cr_assert_eq(got, n, "%s: %zu keys decoded", flood_name[kind], got);
    mp_value_free(v);
    mp_value *d = mp_dict();
    for (size_t i = 0; i < n; i++)
        MP_ASSERT_OK(mp_dict_set(d, kind == FLOOD_NAN ? mp_float(NAN) : mp_int(flood_key(kind, i)),
                                 mp_none()));
    MP_ASSERT_OK(mp_dict_len(d, &got));
    cr_assert_eq(got, n, "%s: %zu keys set", flood_name[kind], got);
    for (size_t i = 0; kind != FLOOD_NAN && i < n; i += 997) {
        mp_value *k = mp_int(flood_key(kind, i));
        const mp_value *x = NULL;
        MP_ASSERT_OK(mp_dict_get(d, k, &x));
        mp_value_free(k);
    }
    mp_value_free(d);
    return cpu_now() - t;
}

MPT_TEST(value, VAL_DICT_COLLIDING_KEYS_LINEAR,
         "VAL-DICT-COLLIDING-KEYS-LINEAR: 200,000 NaN keys, or ints crafted to collide, decode and "
         "insert in linear time")
{
    /* A complexity check, not a speed test, and blind to the machine's load:
     * each flood costs at most 10x the CPU time of as many ordinary int keys
     * (plus 0.5 s), where a quadratic dict costs thousands of times more
     * (40,000 NaN keys alone took 3-4 s against ~10 ms).  The control is the
     * cheaper of two runs, one before and one after the floods. */
    enum { N = 200000 };
    double cost[FLOOD_KINDS];
    for (int kind = 0; kind < FLOOD_KINDS; kind++)
        cost[kind] = flood_cost(kind, N);
    double plain = fmin(cost[FLOOD_PLAIN], flood_cost(FLOOD_PLAIN, N));
    for (int kind = 0; kind < FLOOD_KINDS; kind++) {
        cr_log_info("%s: %d keys decoded and set in %.3f CPU s", flood_name[kind], N, cost[kind]);
        cr_assert(cost[kind] <= 10 * plain + 0.5,
                  "%s: %.3f CPU s for %d keys, against %.3f s for ordinary ints: not linear",
                  flood_name[kind], cost[kind], N, plain);
    }
}

/* ---------------------------------------------------------------- codec */

MPT_TEST(value, VAL_ROUNDTRIP_TYPES,
         "VAL-ROUNDTRIP-TYPES: encode then decode keeps every type, equality and dict order")
{
    mp_value *v = sample(), *w = roundtrip(v);
    cr_assert(mp_value_equal(v, w));
    char *a = repr_of(v), *b = repr_of(w); /* repr shows types: (), [], b'', -0.0 */
    cr_assert_str_eq(a, b);
    free(a);
    free(b);
    mp_value_free(v);
    mp_value_free(w);
    /* NaN is not equal to itself: compare it by type and class instead */
    v = mp_float(NAN);
    w = roundtrip(v);
    double d = 0;
    MP_ASSERT_OK(mp_value_get_float(w, &d));
    cr_assert(mp_value_type(w) == MP_T_FLOAT && isnan(d));
    mp_value_free(v);
    mp_value_free(w);
    v = mp_bool(true);
    w = roundtrip(v);
    cr_assert_eq(mp_value_type(w), MP_T_BOOL);
    mp_value_free(v);
    mp_value_free(w);
}

MPT_TEST(
    value, VAL_ROUNDTRIP_BOUNDARIES,
    "VAL-ROUNDTRIP-BOUNDARIES: ints, lengths and counts at every msgpack size boundary round trip")
{
    for (int k = 0; k < 64; k++) {
        /* p +- 1 and -p +- 1 for p = 2^k, in unsigned arithmetic so that 2^63
         * wraps to INT64_MIN (and INT64_MIN - 1 to INT64_MAX) without UB */
        uint64_t p = (uint64_t)1 << k;
        uint64_t xs[] = {p, p - 1, p + 1, -p, -p - 1, -p + 1};
        for (size_t j = 0; j < 6; j++) {
            int64_t x;
            memcpy(&x, &xs[j], sizeof x);
            mp_value *v = mp_int(x), *w = roundtrip(v);
            int64_t y;
            MP_ASSERT_OK(mp_value_get_int(w, &y));
            cr_assert(y == x && mp_value_type(w) == MP_T_INT, "%lld came back as %lld",
                      (long long)x, (long long)y);
            mp_value_free(v);
            mp_value_free(w);
        }
    }
    static const size_t lens[] = {0, 1, 2, 4, 8, 15, 16, 31, 32, 255, 256, 65535, 65536, 70000};
    char *buf = malloc(70000);
    for (size_t i = 0; i < 70000; i++)
        buf[i] = (char)('a' + i % 26);
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        size_t n = lens[i];
        mp_value *l = mp_list(), *t = mp_tuple(), *d = mp_dict();
        for (size_t j = 0; j < n && n <= 65536; j++) {
            MP_ASSERT_OK(mp_seq_append(l, mp_none()));
            MP_ASSERT_OK(mp_seq_append(t, mp_int((int64_t)j)));
            MP_ASSERT_OK(mp_dict_set(d, mp_int((int64_t)j), mp_bool(j & 1)));
        }
        mp_value *vs[] = {mp_strn(buf, n), mp_bytes(buf, n), l, t, d};
        for (size_t j = 0; j < 5; j++) {
            mp_value *w = roundtrip(vs[j]);
            cr_assert(mp_value_equal(vs[j], w) && mp_value_type(w) == mp_value_type(vs[j]),
                      "type %d of length %zu", mp_value_type(vs[j]), n);
            mp_value_free(w);
            mp_value_free(vs[j]);
        }
    }
    free(buf);
}

MPT_TEST(value, VAL_ROUNDTRIP_64MIB, "VAL-ROUNDTRIP-64MIB: a 64 MiB bytes value round trips intact")
{
    size_t n = (size_t)64 << 20;
    uint64_t *p = malloc(n);
    cr_assert(p != NULL);
    rng_state = 0x64d1b;
    for (size_t i = 0; i < n / 8; i++)
        p[i] = rng();
    mp_value *v = mp_bytes(p, n);
    cr_assert(v != NULL);
    mp_value *w = roundtrip(v);
    const void *q;
    size_t len;
    MP_ASSERT_OK(mp_value_get_bytes(w, &q, &len));
    cr_assert(len == n && memcmp(p, q, n) == 0, "64 MiB came back as %zu different bytes", len);
    mp_value_free(v);
    mp_value_free(w);
    free(p);
}

MPT_TEST(value, VAL_ENCODE_WIRE,
         "VAL-ENCODE-WIRE: the wire is msgpack: nil, bool, ints, float64, str, bin, array, map, "
         "tuple as ext 1")
{
    static const struct {
        const char *repr;
        const char *hex;
    } cases[] = {
        {"None", "c0"},
        {"True", "c3"},
        {"False", "c2"},
        {"42", "2a"},
        {"-1", "ff"},
        {"-33", "d0df"},
        {"128", "cc80"},
        {"1.5", "cb3ff8000000000000"},
        {"'hello'", "a568656c6c6f"},
        {"b''", "c400"},
        {"[1, 2]", "920102"},
        {"(1,)", "d5019101"},
        {"()", "d40190"},
        {"{}", "80"},
        {"{'a': None}", "81a161c0"},
    };
    mp_value *vs[] = {mp_none(),
                      mp_bool(true),
                      mp_bool(false),
                      mp_int(42),
                      mp_int(-1),
                      mp_int(-33),
                      mp_int(128),
                      mp_float(1.5),
                      mp_str("hello"),
                      mp_bytes("", 0),
                      mp_list_of(2, mp_int(1), mp_int(2)),
                      mp_tuple_of(1, mp_int(1)),
                      mp_tuple(),
                      mp_dict(),
                      mp_dict()};
    MP_ASSERT_OK(mp_dict_set(vs[14], mp_str("a"), mp_none()));
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *r = repr_of(vs[i]);
        cr_assert_str_eq(r, cases[i].repr);
        void *buf;
        size_t len;
        MP_ASSERT_OK(mp_value_encode(vs[i], &buf, &len));
        char hex[64] = "";
        for (size_t j = 0; j < len && j < 31; j++)
            sprintf(hex + 2 * j, "%02x", ((unsigned char *)buf)[j]);
        cr_assert_str_eq(hex, cases[i].hex, "%s encodes as %s", r, hex);
        free(buf);
        free(r);
        mp_value_free(vs[i]);
    }
    void *buf;
    size_t len;
    MP_ASSERT_STATUS(mp_value_encode(NULL, &buf, &len), MP_EINVAL);
}

MPT_TEST(value, VAL_DECODE_TRUNCATED,
         "VAL-DECODE-TRUNCATED: every proper prefix of an encoding is MP_EPROTO, never a crash")
{
    mp_value *v = sample();
    MP_ASSERT_OK(mp_seq_append(v, mp_bytes("0123456789abcdef0123456789abcdef0", 33)));
    MP_ASSERT_OK(mp_seq_append(v, mp_float(0.1)));
    void *buf;
    size_t len;
    MP_ASSERT_OK(mp_value_encode(v, &buf, &len));
    for (size_t n = 0; n < len; n++) {
        /* a copy of exactly n bytes, so that reading past it is an ASan error */
        void *p = malloc(n ? n : 1);
        memcpy(p, buf, n);
        char what[64];
        snprintf(what, sizeof what, "prefix of %zu bytes", n);
        check_bad(p, n, what);
        free(p);
    }
    mp_value *w = NULL;
    MP_ASSERT_OK(mp_value_decode(buf, len, &w));
    cr_assert(mp_value_equal(v, w));
    free(buf);
    mp_value_free(v);
    mp_value_free(w);
}

MPT_TEST(value, VAL_DECODE_TRAILING,
         "VAL-DECODE-TRAILING: bytes after the value and empty input are MP_EPROTO")
{
    static const unsigned char two[] = {0xc0, 0xc0}, arr[] = {0x91, 0x01, 0x02};
    check_bad(two, sizeof two, "nil nil");
    check_bad(arr, sizeof arr, "[1] then 2");
    check_bad("", 0, "empty input");
    mp_value *out = NULL;
    MP_ASSERT_STATUS(mp_value_decode(NULL, 1, &out), MP_EINVAL);
    MP_ASSERT_STATUS(mp_value_decode(two, 1, NULL), MP_EINVAL);
}

MPT_TEST(value, VAL_DECODE_HUGE_COUNT,
         "VAL-DECODE-HUGE-COUNT: a few bytes declaring 2^32 elements or bytes are MP_EPROTO "
         "without allocating")
{
    static const unsigned char cases[][7] = {
        {0xdd, 0xff, 0xff, 0xff, 0xff},       /* array32 of 2^32-1 */
        {0xdf, 0xff, 0xff, 0xff, 0xff},       /* map32 */
        {0xdb, 0xff, 0xff, 0xff, 0xff},       /* str32 */
        {0xc6, 0xff, 0xff, 0xff, 0xff},       /* bin32 */
        {0xc9, 0xff, 0xff, 0xff, 0xff, 0x01}, /* ext32 tuple */
        {0xdc, 0xff, 0xff, 0xc0, 0xc0},       /* array16 of 65535 with two items */
        {0xde, 0x00, 0x02, 0xc0, 0xc0, 0xc0}, /* map16 of two pairs, three bytes */
        {0xd4, 0x01, 0xdd, 0, 0, 0, 0},       /* tuple whose array claims more than its ext */
    };
    static const size_t lens[] = {5, 5, 5, 5, 6, 5, 6, 7};
    long rss0 = max_rss_kib();
    double t0 = mpt_now();
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "case %zu", i);
        check_bad(cases[i], lens[i], what);
    }
    cr_assert(mpt_now() - t0 < mpt_slack(0.5), "huge counts took %.3f s", mpt_now() - t0);
    long grown = max_rss_kib() - rss0;
    cr_assert(grown < 64 * 1024, "decoding 5-byte inputs grew the peak RSS by %ld KiB", grown);
}

static unsigned char *nested(size_t depth, unsigned char open, size_t *len)
{
    unsigned char *p = malloc(depth + 1);
    memset(p, open, depth);
    p[depth] = 0xc0;
    *len = depth + 1;
    return p;
}

MPT_TEST(value, VAL_DECODE_DEPTH_BOMB,
         "VAL-DECODE-DEPTH-BOMB: nesting beyond MP_VALUE_MAX_DEPTH is MP_EPROTO (encode: "
         "MP_EINVAL), never a stack overflow")
{
    size_t len;
    unsigned char *p = nested(MP_VALUE_MAX_DEPTH, 0x91, &len);
    mp_value *v = NULL;
    MP_ASSERT_OK(mp_value_decode(p, len, &v)); /* exactly at the limit */
    void *buf;
    size_t blen;
    MP_ASSERT_OK(mp_value_encode(v, &buf, &blen));
    cr_assert(blen == len && memcmp(buf, p, len) == 0);
    free(buf);
    mp_value *deeper = mp_list_of(1, v);
    MP_ASSERT_STATUS(mp_value_encode(deeper, &buf, &blen), MP_EINVAL);
    mp_value_free(deeper);
    free(p);
    p = nested(MP_VALUE_MAX_DEPTH + 1, 0x91, &len);
    check_bad(p, len, "depth limit + 1");
    free(p);
    p = nested(1000000, 0x91, &len);
    check_bad(p, len, "a million nested arrays");
    free(p);
    p = nested(1000000, 0x81, &len); /* {{{...: ...}}} keys are maps: rejected too */
    check_bad(p, len, "a million nested maps");
    free(p);
    /* tuples nest through ext: d5 01 91 (d5 01 91 (... c0)) is not valid past the
     * first level since lengths must match, so build it from the inside out */
    size_t depth = MP_VALUE_MAX_DEPTH + 1;
    size_t cap = depth * 8 + 1, n = 1;
    unsigned char *q = malloc(cap), *tmp = malloc(cap);
    q[0] = 0xc0;
    for (size_t k = 0; k < depth; k++) {
        size_t payload = n + 1; /* 0x91 + inner */
        size_t h = 0;
        tmp[h++] = 0xc7;
        tmp[h++] = (unsigned char)payload;
        if (payload > 255) {
            tmp[0] = 0xc8;
            tmp[1] = (unsigned char)(payload >> 8);
            tmp[h++] = (unsigned char)payload;
        }
        tmp[h++] = 0x01;
        tmp[h++] = 0x91;
        memcpy(tmp + h, q, n);
        n += h;
        memcpy(q, tmp, n);
    }
    check_bad(q, n, "tuples nested past the limit");
    free(q);
    free(tmp);
}

MPT_TEST(value, VAL_DECODE_INVALID,
         "VAL-DECODE-INVALID: never-used bytes, unknown ext types, bad UTF-8, ints past int64, bad "
         "tuples, unhashable keys are MP_EPROTO")
{
    static const struct {
        unsigned char b[12];
        size_t n;
        const char *what;
    } cases[] = {
        {{0xc1}, 1, "byte 0xc1"},
        {{0xd6, 0xff, 0, 0, 0, 0}, 6, "timestamp ext -1"},
        {{0xd4, 0x02, 0xc0}, 3, "ext type 2"},
        {{0xa2, 0xc3, 0x28}, 3, "str with bad UTF-8"},
        {{0xa3, 0xed, 0xa0, 0x80}, 4, "str with a surrogate"},
        {{0xcf, 0x80, 0, 0, 0, 0, 0, 0, 0}, 9, "uint64 2^63"},
        {{0xd4, 0x01, 0xc0}, 3, "tuple payload not an array"},
        {{0xd5, 0x01, 0x90, 0xc0}, 4, "tuple payload with trailing bytes"},
        {{0xc7, 0x00, 0x01}, 3, "empty tuple payload"},
        {{0x81, 0x90, 0xc0}, 3, "list as a map key"},
        {{0x81, 0x80, 0xc0}, 3, "dict as a map key"},
        {{0x81, 0xd5, 0x01, 0x91, 0x90, 0xc0}, 6, "tuple holding a list as a map key"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_bad(cases[i].b, cases[i].n, cases[i].what);
    /* accepted forms a msgpack writer may choose: float32, str8 for a short str */
    static const unsigned char f32[] = {0xca, 0x3f, 0xc0, 0, 0}, s8[] = {0xd9, 0x01, 'x'};
    mp_value *v = NULL;
    MP_ASSERT_OK(mp_value_decode(f32, sizeof f32, &v));
    double d;
    MP_ASSERT_OK(mp_value_get_float(v, &d));
    cr_assert_eq(d, 1.5);
    mp_value_free(v);
    MP_ASSERT_OK(mp_value_decode(s8, sizeof s8, &v));
    cr_assert_eq(mp_value_type(v), MP_T_STR);
    mp_value_free(v);
}

MPT_TEST(value, VAL_DECODE_DUP_KEYS,
         "VAL-DECODE-DUP-KEYS: a map repeating an equal key keeps the first key and the last value")
{
    /* {1: 'a', 1.0: 'b', True: 'c'} */
    static const unsigned char m[] = {0x83, 0x01, 0xa1, 'a', 0xcb, 0x3f, 0xf0, 0,    0,
                                      0,    0,    0,    0,   0xa1, 'b',  0xc3, 0xa1, 'c'};
    mp_value *v = NULL;
    MP_ASSERT_OK(mp_value_decode(m, sizeof m, &v));
    check_repr(v, "{1: 'c'}");
}

MPT_TEST(value, VAL_DECODE_FUZZ,
         "VAL-DECODE-FUZZ: random and mutated inputs decode to MP_EPROTO or a value that "
         "re-encodes, never a crash")
{
    mp_value *s = sample();
    void *good;
    size_t glen;
    MP_ASSERT_OK(mp_value_encode(s, &good, &glen));
    mp_value_free(s);
    rng_state = 0x5eed1234abcdull;
    size_t ok = 0, bad = 0;
    for (int iter = 0; iter < 20000; iter++) {
        size_t n;
        unsigned char *p;
        if (iter % 2) { /* a valid encoding with a few bytes changed */
            n = glen;
            p = malloc(n);
            memcpy(p, good, n);
            for (int k = 1 + (int)(rng() % 4); k > 0; k--)
                p[rng() % n] = (unsigned char)rng();
        } else { /* random bytes, biased towards container headers */
            n = (size_t)(rng() % 48);
            p = malloc(n ? n : 1);
            for (size_t k = 0; k < n; k++) {
                uint64_t r = rng();
                p[k] = (r & 0x300) ? (unsigned char)r : (unsigned char)(0x90 | (r & 0x1f));
            }
        }
        mp_value *v = NULL;
        mp_status st = mp_value_decode(p, n, &v);
        cr_assert(st == MP_OK || st == MP_EPROTO, "input %d: %s", iter, mp_status_name(st));
        if (st == MP_OK) {
            ok++;
            mp_value *w = roundtrip(v);
            char *a = repr_of(v), *b = repr_of(w);
            cr_assert_str_eq(a, b);
            free(a);
            free(b);
            mp_value_free(w);
            mp_value_free(v);
        } else {
            bad++;
            cr_assert(v == NULL);
        }
        free(p);
    }
    free(good);
    cr_assert(ok > 100 && bad > 100, "fuzz did not reach both outcomes: %zu ok, %zu bad", ok, bad);
}

/* A list nested `depth` deep: [[[...[1]...]]]. */
static mp_value *nested_list(long depth)
{
    mp_value *v = mp_list_of(1, mp_int(1));
    for (long i = 0; i < depth && v; i++)
        v = mp_list_of(1, v);
    cr_assert_not_null(v);
    return v;
}

MPT_TEST(value, VAL_DEEP_NESTING,
         "VAL-DEEP-NESTING: a value nested 1e6 deep frees without a crash; copy/repr fail, equal "
         "is false")
{
    mp_value *a = nested_list(1000000), *b = nested_list(1000000);
    char *r = NULL;
    MP_ASSERT_STATUS(mp_value_repr(a, &r), MP_EINVAL);
    cr_assert_null(r);
    cr_assert_null(mp_value_copy(a));
    cr_assert_str_neq(mp_errmsg(), "", "copy failed without a message");
    cr_assert(!mp_value_equal(a, b), "equal of two 1e6-deep lists");
    cr_assert(mp_value_equal(a, a), "a value equals itself");
    mp_value *t = mp_tuple_of(1, mp_int(1));
    for (int i = 0; i < 5000; i++)
        t = mp_tuple_of(1, t);
    mp_value *d = mp_dict();
    MP_ASSERT_STATUS(mp_dict_set(d, t, mp_none()), MP_ETYPE); /* takes both */
    mp_value_free(d);
    mp_value_free(a);
    mp_value_free(b);
    /* shallow enough: everything works as usual */
    mp_value *c = nested_list(500), *c2 = mp_value_copy(c);
    cr_assert_not_null(c2);
    cr_assert(mp_value_equal(c, c2));
    MP_ASSERT_OK(mp_value_repr(c, &r));
    cr_assert_eq(strlen(r), 501 * 2 + 1);
    free(r);
    mp_value_free(c);
    mp_value_free(c2);
}
