/* The manager server's Array: CPython's SyncManager.Array(typecode, seq) is
 * an array.array in the server, reached through ArrayProxy (__len__,
 * __getitem__, __setitem__).  Here o->v is the list of its items and
 * o->typecode its typecode; every item is checked against the typecode as
 * array.array does: integer codes take ints (bools too) within the C type's
 * range, 'f' and 'd' take ints or floats, kept as floats.
 *
 * May touch: the object's list. */
#include "manager_server.h"

#include <string.h>

/* The integer typecodes with their ranges (array.array's, on Linux x86-64
 * and aarch64: int 32 bits, long 64). */
static const struct {
    char code;
    int64_t lo;
    uint64_t hi;
} ranges[] = {{'b', INT8_MIN, INT8_MAX},   {'B', 0, UINT8_MAX},         {'h', INT16_MIN, INT16_MAX},
              {'H', 0, UINT16_MAX},        {'i', INT32_MIN, INT32_MAX}, {'I', 0, UINT32_MAX},
              {'l', INT64_MIN, INT64_MAX}, {'L', 0, INT64_MAX},         {'q', INT64_MIN, INT64_MAX},
              {'Q', 0, INT64_MAX}};

/* The item v (taken on success) checked for typecode tc into *out: a new
 * float for 'f'/'d', v itself else.  TypeError for the wrong type,
 * OverflowError (MP_EINVAL) outside the range. */
static mp_status check_item(char tc, mp_value *v, mp_value **out)
{
    int64_t i;
    double d;
    if (tc == 'f' || tc == 'd') {
        if ((v->type != MP_T_INT && v->type != MP_T_FLOAT && v->type != MP_T_BOOL) ||
            mp_value_get_float(v, &d))
            return mp__err(MP_ETYPE, "TypeError: must be real number");
        if (v->type == MP_T_FLOAT) {
            *out = v;
            return MP_OK;
        }
        if (!(*out = mp_float(d)))
            return oom();
        mp_value_free(v);
        return MP_OK;
    }
    if ((v->type != MP_T_INT && v->type != MP_T_BOOL) || mp_value_get_int(v, &i))
        return mp__err(MP_ETYPE, "TypeError: array item must be integer");
    for (size_t r = 0; r < sizeof ranges / sizeof *ranges; r++)
        if (ranges[r].code == tc && (i < ranges[r].lo || (i > 0 && (uint64_t)i > ranges[r].hi)))
            return mp__err(MP_EINVAL, "OverflowError: value %lld out of range for typecode '%c'",
                           (long long)i, tc);
    *out = v;
    return MP_OK;
}

/* See manager_server.h.  init: [typecode, list or tuple of items]; an
 * unknown typecode is ValueError, a bad item TypeError or OverflowError. */
mp_status mp__mgr_init_array(obj *o, mp_value *init)
{
    const char *tc;
    size_t len;
    if (!init || init->type != MP_T_LIST || init->u.q.len != 2 ||
        mp_value_get_str(init->u.q.items[0], &tc, &len) ||
        (init->u.q.items[1]->type != MP_T_LIST && init->u.q.items[1]->type != MP_T_TUPLE))
        return mp__err(MP_ETYPE, "TypeError: Array needs [typecode, sequence]");
    if (len != 1 || !strchr("bBhHiIlLqQfd", tc[0]))
        return mp__err(MP_EINVAL, "ValueError: bad typecode (must be b, B, h, H, i, I, l, L, "
                                  "q, Q, f or d)");
    mp_value *seq = init->u.q.items[1];
    for (size_t i = 0; i < seq->u.q.len; i++) {
        mp_value *item = NULL;
        mp_status st = check_item(tc[0], seq->u.q.items[i], &item);
        if (st)
            return st;
        seq->u.q.items[i] = item;
    }
    seq->type = MP_T_LIST;
    o->typecode = tc[0];
    o->v = seq;
    init->u.q.items[1] = NULL;
    mp_value_free(init);
    return MP_OK;
}

/* The position of index argument a (negative: from the end) in o's items;
 * IndexError outside. */
static mp_status position(call *k, size_t *pos)
{
    int64_t i;
    mp_status st = get_index(k->a[0], &i, "array");
    if (st)
        return st;
    size_t n = k->o->v->u.q.len;
    if (i < 0)
        i += (int64_t)n;
    if (i < 0 || (uint64_t)i >= n)
        return mp__err(MP_EINDEX, "IndexError: array index out of range");
    *pos = (size_t)i;
    return MP_OK;
}

/* __getitem__(i): the item (borrowed into the reply). */
static mp_status ar_get(call *k)
{
    size_t p;
    mp_status st = position(k, &p);
    if (!st)
        k->bres = k->o->v->u.q.items[p];
    return st;
}

/* __setitem__(i, v): v checked against the typecode, then stored (taken). */
static mp_status ar_set(call *k)
{
    size_t p;
    mp_value *item = NULL;
    mp_status st = position(k, &p);
    if (st || (st = check_item(k->o->typecode, k->a[1], &item)))
        return st;
    k->a[1] = NULL;
    mp_value_free(k->o->v->u.q.items[p]);
    k->o->v->u.q.items[p] = item;
    return MP_OK;
}

/* typecode: the one-character str. */
static mp_status ar_typecode(call *k)
{
    char tc[2] = {k->o->typecode, 0};
    return set_res(k, mp_str(tc));
}

/* ---- method tables */

const method mp__mgr_array_methods[] = {
    {"__len__", mp__mgr_len, 0, 0}, {"__getitem__", ar_get, 1, 1},   {"__setitem__", ar_set, 2, 2},
    {"tolist", mp__mgr_copy, 0, 0}, {"typecode", ar_typecode, 0, 0}, {NULL, NULL, 0, 0}};
