/* libFuzzer target: the value decoder (mp_value_decode).
 *
 * Whatever the input, decode must return a status and never crash, leak or
 * read outside the buffer (ASan/UBSan/LSan watch that).  When the input does
 * decode, the value must survive the rest of the value API: its encoding
 * decodes again to a value that encodes to the very same bytes (the codec is
 * a fixed point after one round), it equals its copy and its re-decoded form
 * unless it holds a NaN (NaN != NaN in Python too), and repr() works. */
#include "mp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_value: check failed: %s (%s:%d) errmsg=%s\n", #c, __FILE__,      \
                    __LINE__, mp_errmsg());                                                        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static bool has_nan(const mp_value *v)
{
    switch (mp_value_type(v)) {
    case MP_T_FLOAT: {
        double d;
        return mp_value_get_float(v, &d) == MP_OK && isnan(d);
    }
    case MP_T_LIST:
    case MP_T_TUPLE: {
        size_t n = 0;
        mp_seq_len(v, &n);
        for (size_t i = 0; i < n; i++) {
            const mp_value *it;
            if (mp_seq_get(v, (ptrdiff_t)i, &it) == MP_OK && has_nan(it))
                return true;
        }
        return false;
    }
    case MP_T_DICT: {
        size_t n = 0;
        mp_dict_len(v, &n);
        for (size_t i = 0; i < n; i++) {
            const mp_value *k, *x;
            if (mp_dict_item(v, i, &k, &x) == MP_OK && (has_nan(k) || has_nan(x)))
                return true;
        }
        return false;
    }
    default:
        return false;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mp_value *v = NULL;
    mp_status s = mp_value_decode(data, size, &v);
    if (s != MP_OK) {
        CHECK(s == MP_EPROTO || s == MP_ENOMEM);
        CHECK(v == NULL);
        return 0;
    }
    CHECK(v != NULL);

    void *e1 = NULL, *e2 = NULL;
    size_t n1 = 0, n2 = 0;
    CHECK(mp_value_encode(v, &e1, &n1) == MP_OK);
    mp_value *w = NULL;
    CHECK(mp_value_decode(e1, n1, &w) == MP_OK);
    CHECK(mp_value_type(w) == mp_value_type(v));
    CHECK(mp_value_encode(w, &e2, &n2) == MP_OK);
    CHECK(n1 == n2 && memcmp(e1, e2, n1) == 0);

    mp_value *c = mp_value_copy(v);
    CHECK(c != NULL);
    if (!has_nan(v)) {
        CHECK(mp_value_equal(v, w));
        CHECK(mp_value_equal(v, c));
    }
    char *r = NULL;
    CHECK(mp_value_repr(v, &r) == MP_OK && r != NULL);

    free(r);
    free(e1);
    free(e2);
    mp_value_free(c);
    mp_value_free(w);
    mp_value_free(v);
    return 0;
}
