/* The manager server's list (o->v, an MP_T_LIST value): item access and
 * mutation with Python's index rules, slices (getslice/setslice/delslice, as
 * PySlice_Unpack + PySlice_AdjustIndices), index/count/remove by equality,
 * and a stable sort with Python's < (TypeError for unorderable items, the
 * list then unchanged).  Handlers take their arguments from k->a (a taken
 * one is set NULL) and answer through k->res / k->bres (manager_server.h).
 *
 * May touch: the object's list only. */
#include "manager_server.h"

#include <string.h>

/* ---- list */

/* The list's items and length. */
static mp_value **L(call *k) { return k->o->v->u.q.items; }
static size_t LN(call *k) { return k->o->v->u.q.len; }

/* Room for need items in l (its inline items moved out); false when out of
 * memory or too large, l unchanged. */
static bool list_reserve(mp_value *l, size_t need)
{
    if (need <= l->u.q.cap)
        return true;
    size_t n = l->u.q.cap < 4 ? 4 : l->u.q.cap;
    while (n < need)
        n *= 2;
    if (n > SIZE_MAX / sizeof(mp_value *))
        return false;
    mp_value **items;
    if (l->flags & MP__VF_INLINE) {
        if ((items = malloc(n * sizeof *items)))
            memcpy(items, l->u.q.items, l->u.q.len * sizeof *items);
    } else
        items = realloc(l->u.q.items, n * sizeof *items);
    if (!items)
        return false;
    l->flags &= (uint8_t)~MP__VF_INLINE;
    l->u.q.items = items;
    l->u.q.cap = n;
    return true;
}

/* Insert n items at i (taking them). */
static mp_status list_insert(call *k, size_t i, mp_value **items, size_t n)
{
    mp_value *l = k->o->v;
    if (n > UINT32_MAX - l->u.q.len || !list_reserve(l, l->u.q.len + n))
        return oom();
    memmove(l->u.q.items + i + n, l->u.q.items + i, (l->u.q.len - i) * sizeof *items);
    memcpy(l->u.q.items + i, items, n * sizeof *items);
    l->u.q.len += n;
    return MP_OK;
}

/* Remove n items at i, freeing them if free_items (else the caller took them). */
static void list_remove(call *k, size_t i, size_t n, bool free_items)
{
    mp_value *l = k->o->v;
    if (free_items)
        for (size_t j = i; j < i + n; j++)
            mp_value_free(l->u.q.items[j]);
    memmove(l->u.q.items + i, l->u.q.items + i + n, (l->u.q.len - i - n) * sizeof(mp_value *));
    l->u.q.len -= n;
}

/* Python's index i (negative: from the end) into [0, n); false when out of range. */
static bool norm(size_t n, int64_t i, size_t *out)
{
    if (i < 0)
        i += (int64_t)n;
    if (i < 0 || (uint64_t)i >= n)
        return false;
    *out = (size_t)i;
    return true;
}

/* The item a call's first argument names, as l[i] resolves it: *j its
 * position.  MP_ETYPE for a non-integer index (get_index), MP_EINDEX with
 * Python's message "IndexError: <oor>" when out of range. */
static mp_status item_index(call *k, const char *oor, size_t *j)
{
    int64_t i;
    mp_status st = get_index(k->a[0], &i, "list");
    if (st)
        return st;
    if (!norm(LN(k), i, j))
        return mp__err(MP_EINDEX, "IndexError: %s", oor);
    return MP_OK;
}

/* append(x) (taken). */
static mp_status l_append(call *k)
{
    mp_status st = list_insert(k, LN(k), &k->a[0], 1);
    if (!st)
        k->a[0] = NULL;
    return st;
}

/* extend(list or tuple): its items move to the end of the list. */
static mp_status l_extend(call *k)
{
    mp_value *src = k->a[0];
    if (src->type != MP_T_LIST && src->type != MP_T_TUPLE)
        return mp__err(MP_ETYPE, "TypeError: extend() needs a list or tuple");
    mp_status st = list_insert(k, LN(k), src->u.q.items, src->u.q.len);
    if (!st)
        src->u.q.len = 0; /* the items moved */
    return st;
}

/* insert(i, x): i clamped to [0, len] as Python does. */
static mp_status l_insert(call *k)
{
    int64_t i;
    mp_status st = get_index(k->a[0], &i, "list");
    if (st)
        return st;
    int64_t n = (int64_t)LN(k);
    if (i < 0)
        i = i + n < 0 ? 0 : i + n;
    if (i > n)
        i = n;
    if (!(st = list_insert(k, (size_t)i, &k->a[1], 1)))
        k->a[1] = NULL;
    return st;
}

/* pop([i]): the item at i (default last), removed; IndexError when empty or
 * out of range. */
static mp_status l_pop(call *k)
{
    int64_t i = -1;
    size_t j;
    mp_status st = k->n ? get_index(k->a[0], &i, "list") : MP_OK;
    if (st)
        return st;
    if (!LN(k))
        return mp__err(MP_EINDEX, "IndexError: pop from empty list");
    if (!norm(LN(k), i, &j))
        return mp__err(MP_EINDEX, "IndexError: pop index out of range");
    k->res = L(k)[j];
    list_remove(k, j, 1, false);
    return MP_OK;
}

/* ValueError: <repr of x> is not in list. */
static mp_status not_in_list(const mp_value *x)
{
    char *r = NULL;
    mp_value_repr(x, &r);
    mp_status st = mp__err(MP_EINVAL, "ValueError: %s is not in list", r ? r : "?");
    free(r);
    return st;
}

/* remove(x): the first item equal to x; ValueError when none is. */
static mp_status l_remove(call *k)
{
    for (size_t j = 0; j < LN(k); j++)
        if (mp_value_equal(L(k)[j], k->a[0])) {
            list_remove(k, j, 1, true);
            return MP_OK;
        }
    return mp__err(MP_EINVAL, "ValueError: list.remove(x): x not in list");
}

/* Python's slice bounds for index(x, i, j): clamped, negative from the end. */
static size_t clamp_bound(const mp_value *v, size_t n, size_t dflt)
{
    int64_t i;
    if (!v || v->type == MP_T_NONE || mp_value_get_int(v, &i))
        return dflt;
    if (i < 0)
        i = i + (int64_t)n < 0 ? 0 : i + (int64_t)n;
    return (uint64_t)i > n ? n : (size_t)i;
}

/* index(x[, i[, j]]): the first position of x within [i, j); ValueError. */
static mp_status l_index(call *k)
{
    size_t n = LN(k), a = clamp_bound(k->n > 1 ? k->a[1] : NULL, n, 0),
           b = clamp_bound(k->n > 2 ? k->a[2] : NULL, n, n);
    for (size_t j = a; j < b; j++)
        if (mp_value_equal(L(k)[j], k->a[0]))
            return set_res(k, mp_int((int64_t)j));
    return not_in_list(k->a[0]);
}

/* count(x): how many items equal x. */
static mp_status l_count(call *k)
{
    int64_t c = 0;
    for (size_t j = 0; j < LN(k); j++)
        c += mp_value_equal(L(k)[j], k->a[0]);
    return set_res(k, mp_int(c));
}

/* x in l: by equality. */
static mp_status l_contains(call *k)
{
    for (size_t j = 0; j < LN(k); j++)
        if (mp_value_equal(L(k)[j], k->a[0])) {
            k->bres = mp_bool(true);
            return MP_OK;
        }
    k->bres = mp_bool(false);
    return MP_OK;
}

/* l[i] (negative from the end): IndexError out of range, TypeError for a
 * non-integer index. */
static mp_status l_getitem(call *k)
{
    size_t j;
    mp_status st = item_index(k, "list index out of range", &j);
    if (st)
        return st;
    k->bres = L(k)[j];
    return MP_OK;
}

/* l[i] = x (taken): IndexError out of range. */
static mp_status l_setitem(call *k)
{
    size_t j;
    mp_status st = item_index(k, "list assignment index out of range", &j);
    if (st)
        return st;
    mp_value_free(L(k)[j]);
    L(k)[j] = k->a[1];
    k->a[1] = NULL;
    return MP_OK;
}

/* del l[i]: IndexError out of range. */
static mp_status l_delitem(call *k)
{
    size_t j;
    mp_status st = item_index(k, "list assignment index out of range", &j);
    if (st)
        return st;
    list_remove(k, j, 1, true);
    return MP_OK;
}

/* One bound of a slice as PySlice_AdjustIndices leaves it, for a sequence
 * of N items and step st: `none` for None, else the integer v taken from the
 * end when negative and clamped to the range the step can reach. */
static int64_t slice_bound(const mp_value *v, int64_t none, int64_t st, int64_t N)
{
    int64_t x;
    if (v->type == MP_T_NONE)
        return none;
    mp_value_get_int(v, &x);
    if (x < 0)
        return x < -N ? (st < 0 ? -1 : 0) : x + N;
    if (x >= N)
        return st < 0 ? N - 1 : N;
    return x;
}

/* PySlice_Unpack + PySlice_AdjustIndices. */
static mp_status slice(call *k, size_t n, int64_t *start, int64_t *step, size_t *len)
{
    int64_t st = 1, a, b, N = (int64_t)n;
    const mp_value *vs[3] = {k->a[0], k->a[1], k->a[2]};
    for (int i = 0; i < 3; i++)
        if (vs[i]->type != MP_T_NONE && vs[i]->type != MP_T_INT && vs[i]->type != MP_T_BOOL)
            return mp__err(MP_ETYPE, "TypeError: slice indices must be integers or None");
    if (vs[2]->type != MP_T_NONE)
        mp_value_get_int(vs[2], &st);
    if (st == 0)
        return mp__err(MP_EINVAL, "ValueError: slice step cannot be zero");
    if (st < -INT64_MAX)
        st = -INT64_MAX;
    a = slice_bound(vs[0], st < 0 ? N - 1 : 0, st, N);
    b = slice_bound(vs[1], st < 0 ? -1 : N, st, N);
    if (st < 0)
        *len = b < a ? (size_t)((uint64_t)(a - b - 1) / (uint64_t)-st + 1) : 0;
    else
        *len = a < b ? (size_t)((uint64_t)(b - a - 1) / (uint64_t)st + 1) : 0;
    *start = a;
    *step = st;
    return MP_OK;
}

static size_t at(int64_t start, int64_t step, size_t i)
{
    return (size_t)(start + (int64_t)i * step);
}

/* getslice(start, stop, step): a new list of copies. */
static mp_status l_getslice(call *k)
{
    int64_t a, st;
    size_t len;
    mp_status s = slice(k, LN(k), &a, &st, &len);
    if (s)
        return s;
    mp_value *l = mp__seq_new(MP_T_LIST, len);
    if (!l)
        return oom();
    for (size_t i = 0; i < len; i++) {
        mp_value *c = mp_value_copy(L(k)[at(a, st, i)]);
        if (!c) {
            mp_value_free(l);
            return oom();
        }
        l->u.q.items[l->u.q.len++] = c;
    }
    k->res = l;
    return MP_OK;
}

/* delslice(start, stop, step): the items of the slice removed, in one pass. */
static mp_status l_delslice(call *k)
{
    int64_t a, st;
    size_t len;
    mp_status s = slice(k, LN(k), &a, &st, &len);
    if (s || !len)
        return s;
    if (st < 0) { /* the same items, walked upwards */
        a = (int64_t)at(a, st, len - 1);
        st = -st;
    }
    if (st == 1) {
        list_remove(k, (size_t)a, len, true);
        return MP_OK;
    }
    mp_value **it = L(k);
    size_t n = LN(k), w = (size_t)a, next = 0;
    for (size_t r = (size_t)a; r < n; r++) {
        if (next < len && r == at(a, st, next)) {
            mp_value_free(it[r]);
            next++;
            continue;
        }
        it[w++] = it[r];
    }
    k->o->v->u.q.len = w;
    return MP_OK;
}

/* setslice(start, stop, step, seq): step 1 replaces the slice by seq's items
 * (any length); an extended slice needs exactly as many (ValueError). */
static mp_status l_setslice(call *k)
{
    int64_t a, st;
    size_t len;
    mp_value *src = k->a[3];
    if (src->type != MP_T_LIST && src->type != MP_T_TUPLE)
        return mp__err(MP_ETYPE, "TypeError: can only assign a list or tuple to a slice");
    mp_status s = slice(k, LN(k), &a, &st, &len);
    if (s)
        return s;
    size_t m = src->u.q.len;
    if (st == 1) {
        /* l[a:b] = seq with b < a inserts at a. */
        if (!list_reserve(k->o->v, LN(k) + m))
            return oom();
        for (size_t j = 0; j < len; j++)
            mp_value_free(L(k)[(size_t)a + j]);
        list_remove(k, (size_t)a, len, false);
        list_insert(k, (size_t)a, src->u.q.items, m); /* room reserved: cannot fail */
        src->u.q.len = 0;
        return MP_OK;
    }
    if (m != len)
        return mp__err(MP_EINVAL,
                       "ValueError: attempt to assign sequence of size %zu to "
                       "extended slice of size %zu",
                       m, len);
    for (size_t i = 0; i < len; i++) {
        mp_value **slot = &L(k)[at(a, st, i)];
        mp_value_free(*slot);
        *slot = src->u.q.items[i];
    }
    src->u.q.len = 0;
    return MP_OK;
}

/* Python's < for the types that have it; *err set for unorderable pairs. */
static const char *const pytype[] = {"NoneType", "bool", "int",   "float", "str",
                                     "bytes",    "list", "tuple", "dict"};

static bool is_num(const mp_value *v)
{
    return v->type == MP_T_INT || v->type == MP_T_BOOL || v->type == MP_T_FLOAT;
}

/* a < b as Python compares: numbers by value, str/bytes by code points,
 * lists/tuples lexicographically; other pairs set *err (TypeError, the first
 * message kept) and return false. */
static bool py_lt(const mp_value *a, const mp_value *b, bool *err)
{
    if (is_num(a) && is_num(b)) {
        if (a->type != MP_T_FLOAT && b->type != MP_T_FLOAT) {
            int64_t x, y;
            mp_value_get_int(a, &x);
            mp_value_get_int(b, &y);
            return x < y;
        }
        /* long double holds every int64 exactly on x86-64; elsewhere close enough. */
        long double x = a->type == MP_T_FLOAT
                            ? a->u.d
                            : (long double)(a->type == MP_T_BOOL ? a->u.b : a->u.i);
        long double y = b->type == MP_T_FLOAT
                            ? b->u.d
                            : (long double)(b->type == MP_T_BOOL ? b->u.b : b->u.i);
        return x < y;
    }
    if (a->type == b->type && (a->type == MP_T_STR || a->type == MP_T_BYTES)) {
        /* UTF-8 byte order is code point order. */
        size_t n = a->u.s.len < b->u.s.len ? a->u.s.len : b->u.s.len;
        int c = memcmp(a->u.s.p, b->u.s.p, n);
        return c ? c < 0 : a->u.s.len < b->u.s.len;
    }
    if (a->type == b->type && (a->type == MP_T_LIST || a->type == MP_T_TUPLE)) {
        size_t n = a->u.q.len < b->u.q.len ? a->u.q.len : b->u.q.len;
        for (size_t i = 0; i < n; i++)
            if (!mp_value_equal(a->u.q.items[i], b->u.q.items[i]))
                return py_lt(a->u.q.items[i], b->u.q.items[i], err);
        return a->u.q.len < b->u.q.len;
    }
    if (!*err)
        mp__err(MP_ETYPE, "TypeError: '<' not supported between instances of '%s' and '%s'",
                pytype[a->type], pytype[b->type]);
    *err = true;
    return false;
}

/* Stable merge sort of v[0..n) by py_lt, tmp: n pointers of scratch; stops
 * early once *err is set (the order of v is then unspecified). */
static void merge_sort(mp_value **v, mp_value **tmp, size_t n, bool *err)
{
    if (n < 2 || *err)
        return;
    size_t h = n / 2;
    merge_sort(v, tmp, h, err);
    merge_sort(v + h, tmp, n - h, err);
    size_t i = 0, j = h, o = 0;
    while (i < h && j < n)
        tmp[o++] = py_lt(v[j], v[i], err) ? v[j++] : v[i++]; /* ties: left first (stable) */
    while (i < h)
        tmp[o++] = v[i++];
    while (j < n)
        tmp[o++] = v[j++];
    memcpy(v, tmp, n * sizeof *v);
}

/* Reverse v[0..n) in place. */
static void reverse(mp_value **v, size_t n)
{
    for (size_t i = 0; i < n / 2; i++) {
        mp_value *t = v[i];
        v[i] = v[n - 1 - i];
        v[n - 1 - i] = t;
    }
}

/* sort([reverse]): stable, by Python's <; on an unorderable pair TypeError
 * and the list as it was. */
static mp_status l_sort(call *k)
{
    bool rev = false, err = false;
    if (k->n && mp_value_get_bool(k->a[0], &rev))
        return mp__err(MP_ETYPE, "TypeError: reverse must be a bool");
    size_t n = LN(k);
    /* Sort a copy of the item pointers: a failed comparison leaves the list as it was. */
    mp_value **v = malloc((n ? n : 1) * sizeof *v), **tmp = malloc((n ? n : 1) * sizeof *v);
    if (!v || !tmp) {
        free(v);
        free(tmp);
        return oom();
    }
    if (n) /* an empty list has no item array (NULL) */
        memcpy(v, L(k), n * sizeof *v);
    if (rev)
        reverse(v, n); /* as CPython: reverse, stable sort, reverse keeps ties in order */
    merge_sort(v, tmp, n, &err);
    if (rev)
        reverse(v, n);
    if (!err && n)
        memcpy(L(k), v, n * sizeof *v);
    free(v);
    free(tmp);
    return err ? MP_ETYPE : MP_OK;
}

static mp_status l_reverse(call *k)
{
    reverse(L(k), LN(k));
    return MP_OK;
}

/* appendproxy(oid): append the proxy of that object (the list holds it). */
static mp_status l_appendproxy(call *k)
{
    mp_status st = mp__mgr_make_ref(k, 0);
    return st ? st : l_append(k);
}

/* getproxy(i) -> [typeid, oid]: l[i], which must be a stored proxy. */
static mp_status l_getproxy(call *k)
{
    mp_status st = l_getitem(k);
    return st ? st : mp__mgr_give_ref(k);
}

/* ---- method tables */

const method mp__mgr_list_methods[] = {{"append", l_append, 1, 1},
                                       {"__getitem__", l_getitem, 1, 1},
                                       {"__len__", mp__mgr_len, 0, 0},
                                       {"__setitem__", l_setitem, 2, 2},
                                       {"__delitem__", l_delitem, 1, 1},
                                       {"__contains__", l_contains, 1, 1},
                                       {"extend", l_extend, 1, 1},
                                       {"insert", l_insert, 2, 2},
                                       {"pop", l_pop, 0, 1},
                                       {"remove", l_remove, 1, 1},
                                       {"index", l_index, 1, 3},
                                       {"count", l_count, 1, 1},
                                       {"sort", l_sort, 0, 1},
                                       {"reverse", l_reverse, 0, 0},
                                       {"copy", mp__mgr_copy, 0, 0},
                                       {"getslice", l_getslice, 3, 3},
                                       {"setslice", l_setslice, 4, 4},
                                       {"delslice", l_delslice, 3, 3},
                                       {"__iter__", mp__mgr_iter, 0, 0},
                                       {"appendproxy", l_appendproxy, 1, 1},
                                       {"getproxy", l_getproxy, 1, 1},
                                       {NULL, NULL, 0, 0}};
