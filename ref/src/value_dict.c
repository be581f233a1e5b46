/* Keys: the keyed hash, equality and the dict.
 *
 * These three live together because they must agree: equal values hash equal
 * across bool/int/float (as Python's hash()), a NaN equals only itself and so
 * hashes by identity, and a dict lookup compares keys with the same equality
 * mp_value_equal uses (inlined into the probe loop here).
 *
 * A dict is an insertion-ordered entry array plus, once it has more than a few
 * entries, an open-addressing index of entry numbers (CPython's compact dict).
 * Deletion leaves a tombstone that the next growth or positional access
 * compacts away, so del is O(1) amortised as in Python.  With the hash keyed
 * by a per-process secret, no peer can aim keys at one probe chain: building
 * a dict is linear in its keys for any input [VAL-DICT-COLLIDING-KEYS-LINEAR].
 *
 * Owns: hashing, equality, mp__dict and its index.  Touches: the value layout
 * (value.h); frees values through mp_value_free (value.c). */
#include "value.h"

#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>

#define DICT_SMALL 8 /* up to this many entries a linear scan beats hashing */

/* ------------------------------------------------------------------ hashing */

/* The per-process secret every hash is keyed with, so that no peer can aim
 * colliding keys at a dict [VAL-DICT-COLLIDING-KEYS-LINEAR]: an unkeyed int
 * hash (CPython's is the value mod 2^61-1) lets one message put thousands of
 * distinct keys on one probe chain, and decoding it becomes quadratic.  The
 * keyed hash is SipHash-2-4 from libsodium (crypto_shorthash), the function
 * CPython and Rust key their string hashes with, not a mixer of our own; its
 * key comes from libsodium's randombytes (getrandom).  Hash values never
 * leave the process (no mp.h call returns one), so they need not equal
 * Python's hash().  A forked child keeps its parent's secret, as CPython
 * keeps PYTHONHASHSEED's.  Three keys separate the domains (numbers, str,
 * bytes), so that equal text and bytes do not share a hash. */
enum { KEY_WORD, KEY_STR, KEY_BYTES, KEY_TUPLE, KEYS };
static unsigned char hash_key[KEYS][crypto_shorthash_KEYBYTES];
static pthread_once_t hash_key_once = PTHREAD_ONCE_INIT;

/* Fills hash_key once per process (pthread_once).  libsodium that cannot
 * start leaves no safe key: abort with a message, as auth.c does for want
 * of random bytes. */
static void hash_key_init(void)
{
    if (sodium_init() < 0) {
        fputs("mp: libsodium failed to start: no key for the dict hash\n", stderr);
        abort();
    }
    randombytes_buf(hash_key, sizeof hash_key);
}

/* SipHash-2-4 of n bytes at p with the key of a domain. */
static uint64_t siphash(int key, const void *p, size_t n)
{
    pthread_once(&hash_key_once, hash_key_init);
    unsigned char out[crypto_shorthash_BYTES];
    crypto_shorthash(out, p, n, hash_key[key]);
    uint64_t h;
    memcpy(&h, out, sizeof h);
    return h;
}

/* A 64-bit word (a number's canonical bits) hashed with the secret. */
static uint64_t hash_word(uint64_t x) { return siphash(KEY_WORD, &x, sizeof x); }

/* A double that equals an int64 (integral and in range) converted, else false. */
static bool float_as_int(double d, int64_t *i)
{
    if (!(d >= -0x1p63 && d < 0x1p63) || d != floor(d))
        return false;
    *i = (int64_t)d;
    return true;
}

/* Equal numbers hash equal across bool/int/float, as Python's hash().  A NaN
 * equals nothing but itself, so it hashes by identity, as CPython >= 3.10
 * does: n NaN keys are n distinct keys, and with one shared hash they would
 * all sit on one probe chain.  So a NaN's hash is its node's; a copy of it is
 * a new NaN with a new hash (value.copy recomputes them). */
static uint64_t hash_value(const mp_value *k)
{
    int64_t i;
    switch ((mp_type)k->type) {
    case MP_T_NONE:
        return 0x6e6f6e65ull;
    case MP_T_BOOL:
        return hash_word((uint64_t)k->u.b);
    case MP_T_INT:
        return hash_word((uint64_t)k->u.i);
    case MP_T_FLOAT:
        if (float_as_int(k->u.d, &i))
            return hash_word((uint64_t)i);
        if (isnan(k->u.d))
            return hash_word((uint64_t)(uintptr_t)k ^ 0x6e616e0000000000ull);
        uint64_t bits;
        memcpy(&bits, &k->u.d, sizeof bits);
        return hash_word(bits ^ 0xf10a7ull);
    case MP_T_STR:
        return siphash(KEY_STR, k->u.s.p, k->u.s.len);
    case MP_T_BYTES:
        return siphash(KEY_BYTES, k->u.s.p, k->u.s.len);
    case MP_T_TUPLE: {
        /* Chained: each step hashes (hash so far, item's hash), so order
         * counts and (a, b) and (b, a) differ. */
        uint64_t h[2] = {k->u.q.len, 0};
        for (size_t j = 0; j < k->u.q.len; j++) {
            h[1] = hash_value(k->u.q.items[j]);
            h[0] = siphash(KEY_TUPLE, h, sizeof h);
        }
        return h[0];
    }
    default:
        assert(!"unhashable");
        return 0;
    }
}

/* No list or dict anywhere in k, and tuples nested within MP__NEST_MAX. */
static bool hashable(const mp_value *k, int depth)
{
    if (k->type == MP_T_LIST || k->type == MP_T_DICT)
        return false;
    if (k->type == MP_T_TUPLE) {
        if (depth >= MP__NEST_MAX)
            return false;
        for (size_t j = 0; j < k->u.q.len; j++)
            if (!hashable(k->u.q.items[j], depth + 1))
                return false;
    }
    return true;
}

/* hash_value recurses only into keys that passed this (depth < MP__NEST_MAX). */
bool mp__hashable(const mp_value *k) { return hashable(k, 0); }

/* ----------------------------------------------------------------- equality */

/* Python's == between two numbers (bool, int, float in any mix). */
static bool num_eq(const mp_value *a, const mp_value *b)
{
    if (a->type == MP_T_FLOAT && b->type == MP_T_FLOAT)
        return a->u.d == b->u.d;
    if (b->type == MP_T_FLOAT) {
        const mp_value *t = a;
        a = b;
        b = t;
    }
    int64_t i;
    if (a->type == MP_T_FLOAT) /* exact: 2^63 as a float is not INT64_MAX */
        return float_as_int(a->u.d, &i) && i == mp__int_of(b);
    return mp__int_of(a) == mp__int_of(b);
}

static size_t dict_find(const mp__dict *d, const mp_value *k, uint64_t h);
static bool value_eq(const mp_value *a, const mp_value *b, int depth);

/* Containers compare their items as PyObject_RichCompareBool does: the same
 * object is equal to itself (only reachable when comparing v with v). */
static bool item_eq(const mp_value *a, const mp_value *b, int depth)
{
    return a == b || value_eq(a, b, depth);
}

/* Python's == of a and b (no NULLs); false past MP__NEST_MAX levels. */
static bool value_eq(const mp_value *a, const mp_value *b, int depth)
{
    if (mp__is_num(a) && mp__is_num(b))
        return num_eq(a, b);
    if (a->type != b->type)
        return false;
    switch ((mp_type)a->type) {
    case MP_T_NONE:
        return true;
    case MP_T_STR:
    case MP_T_BYTES:
        return a->u.s.len == b->u.s.len && memcmp(a->u.s.p, b->u.s.p, a->u.s.len) == 0;
    case MP_T_LIST:
    case MP_T_TUPLE:
        if (a->u.q.len != b->u.q.len || depth >= MP__NEST_MAX)
            return false;
        for (size_t j = 0; j < a->u.q.len; j++)
            if (!item_eq(a->u.q.items[j], b->u.q.items[j], depth + 1))
                return false;
        return true;
    case MP_T_DICT: {
        const mp__dict *da = a->u.dict, *db = b->u.dict;
        if (da->live != db->live || depth >= MP__NEST_MAX)
            return false;
        for (size_t j = 0; j < da->n; j++) {
            const mp__dent *e = &da->ent[j];
            if (!e->key)
                continue;
            size_t f = dict_find(db, e->key, e->hash);
            if (f == SIZE_MAX || !item_eq(e->val, db->ent[f].val, depth + 1))
                return false;
        }
        return true;
    }
    default:
        return false;
    }
}

bool mp_value_equal(const mp_value *a, const mp_value *b)
{
    if (!a || !b)
        return false;
    return value_eq(a, b, 0);
}

/* -------------------------------------------------------------------- dicts */

typedef struct dict_block {
    mp_value v;
    mp__dict d;
} dict_block;

/* A dict with its table in the same allocation as the value; n > 0 sizes the
 * entry array of a small dict up front (the decoder's count). */
mp_value *mp__dict_new(size_t n)
{
    dict_block *b = calloc(1, sizeof *b);
    if (!b)
        goto oom;
    b->v.type = MP_T_DICT;
    b->v.u.dict = &b->d;
    if (n && n <= DICT_SMALL) {
        /* Sized up front for the decoder; bigger dicts grow (and index) as
         * keys arrive, so a lying count cannot make us allocate. */
        b->d.ent = malloc(n * sizeof *b->d.ent);
        if (!b->d.ent)
            goto oom;
        b->d.cap = n;
    }
    return &b->v;
oom:
    free(b);
    mp__err(MP_ENOMEM, "dict: out of memory");
    return NULL;
}

mp_value *mp_dict(void) { return mp__dict_new(0); }

/* The entry number of key k (hash h) in d, or SIZE_MAX when it is absent. */
static size_t dict_find(const mp__dict *d, const mp_value *k, uint64_t h)
{
    if (!d->index) {
        for (size_t j = 0; j < d->n; j++) {
            const mp__dent *e = &d->ent[j];
            if (e->key && e->hash == h && item_eq(e->key, k, 0))
                return j;
        }
        return SIZE_MAX;
    }
    for (size_t s = h & d->mask;; s = (s + 1) & d->mask) {
        uint32_t x = d->index[s];
        if (!x)
            return SIZE_MAX;
        const mp__dent *e = &d->ent[x - 1];
        if (e->key && e->hash == h && item_eq(e->key, k, 0))
            return x - 1;
    }
}

/* Rebuild the index (d->index, d->mask set) from the live entries. */
static void index_fill(mp__dict *d)
{
    memset(d->index, 0, (d->mask + 1) * sizeof *d->index);
    for (size_t j = 0; j < d->n; j++) {
        if (!d->ent[j].key)
            continue;
        size_t s = d->ent[j].hash & d->mask;
        while (d->index[s])
            s = (s + 1) & d->mask;
        d->index[s] = (uint32_t)(j + 1);
    }
}

/* Drop the tombstones; the index (same size) is rebuilt. */
static void dict_compact(mp__dict *d)
{
    if (d->live == d->n)
        return;
    size_t w = 0;
    for (size_t j = 0; j < d->n; j++)
        if (d->ent[j].key)
            d->ent[w++] = d->ent[j];
    d->n = w;
    if (d->index)
        index_fill(d);
}

/* Room for one more entry: compact when tombstones are at least half the
 * entries, else double; the index keeps a load factor <= 1/2. */
static mp_status dict_reserve(mp__dict *d)
{
    if (d->n < d->cap)
        return MP_OK;
    if (d->n - d->live >= d->n / 2 && d->n > 0) {
        dict_compact(d);
        if (d->n < d->cap)
            return MP_OK;
    }
    size_t ncap = d->cap ? d->cap * 2 : 4;
    if (ncap > (size_t)UINT32_MAX / 4)
        return mp__err(MP_ENOMEM, "dict: too many keys");
    mp__dent *ent = realloc(d->ent, ncap * sizeof *ent);
    if (!ent)
        return mp__err(MP_ENOMEM, "dict: out of memory");
    d->ent = ent;
    d->cap = ncap;
    if (ncap > DICT_SMALL) {
        /* Without an index (allocation failed) lookups fall back to a scan:
         * slower, still right; the next growth tries again. */
        free(d->index);
        d->index = NULL;
        dict_compact(d);
        uint32_t *ix = malloc(ncap * 2 * sizeof *ix);
        if (ix) {
            d->index = ix;
            d->mask = ncap * 2 - 1;
            index_fill(d);
        }
    }
    return MP_OK;
}

/* Add a key known to be absent. */
static void dict_append(mp__dict *d, mp_value *k, mp_value *v, uint64_t h)
{
    assert(d->n < d->cap);
    size_t j = d->n++;
    d->ent[j] = (mp__dent){k, v, h};
    d->live++;
    if (d->index) {
        size_t s = h & d->mask;
        while (d->index[s])
            s = (s + 1) & d->mask;
        d->index[s] = (uint32_t)(j + 1);
    }
}

mp_status mp__dict_add_new(mp__dict *d, mp_value *k, mp_value *v)
{
    mp_status s = dict_reserve(d);
    if (!s)
        dict_append(d, k, v, hash_value(k));
    return s;
}

/* MP_OK when d is a dict; else the error, recorded under `what`. */
static mp_status check_dict(const mp_value *d, const char *what)
{
    if (!d)
        return mp__err(MP_EINVAL, "%s: NULL dict", what);
    if (d->type != MP_T_DICT)
        return mp__err(MP_ETYPE, "%s: not a dict", what);
    return MP_OK;
}

/* MP_OK when k can be a key (hashable, nested within MP__NEST_MAX). */
static mp_status check_key(const mp_value *k, const char *what)
{
    if (!k)
        return mp__err(MP_EINVAL, "%s: NULL key", what);
    if (!mp__hashable(k))
        return mp__err(MP_ETYPE, "%s: unhashable type: '%s'%s", what,
                       k->type == MP_T_LIST   ? "list"
                       : k->type == MP_T_DICT ? "dict"
                                              : "tuple",
                       k->type == MP_T_TUPLE ? " (or nested too deep)" : "");
    return MP_OK;
}

/* Contract in mp.h: takes key and val, also on failure (freed); an equal key
 * already present keeps its first key object and gets the new value. */
mp_status mp_dict_set(mp_value *dv, mp_value *key, mp_value *val)
{
    return mp__dict_set_keep(dv, key, val, NULL);
}

/* See value.h. */
mp_status mp__dict_set_keep(mp_value *dv, mp_value *key, mp_value *val, mp_value **old)
{
    if (old)
        *old = NULL;
    mp_status s = check_dict(dv, "dict.set");
    if (!s)
        s = check_key(key, "dict.set");
    if (!s && !val)
        s = mp__err(MP_EINVAL, "dict.set: NULL value");
    if (!s && (key == dv || val == dv))
        s = mp__err(MP_EINVAL, "dict.set: a dict cannot contain itself");
    if (!s && key == val && !(key->flags & MP__VF_STATIC))
        s = mp__err(MP_EINVAL, "dict.set: one value cannot be both key and value");
    if (s) {
        if (key != dv)
            mp_value_free(key);
        if (val != dv && val != key)
            mp_value_free(val);
        return s;
    }
    mp__dict *d = dv->u.dict;
    uint64_t h = hash_value(key);
    size_t f = dict_find(d, key, h);
    if (f != SIZE_MAX) {
        /* Python keeps the first key object: d[1] = a; d[True] = b -> {1: b} */
        mp__dent *e = &d->ent[f];
        if (e->val != val) {
            if (old)
                *old = e->val;
            else
                mp_value_free(e->val);
        }
        e->val = val;
        if (key != e->key && key != val)
            mp_value_free(key);
        return MP_OK;
    }
    if ((s = dict_reserve(d))) {
        mp_value_free(key);
        mp_value_free(val);
        return s;
    }
    dict_append(d, key, val, h);
    return MP_OK;
}

/* Contract in mp.h: *val borrowed from the dict; MP_EKEY when absent. */
mp_status mp_dict_get(const mp_value *dv, const mp_value *key, const mp_value **val)
{
    mp_status s = check_dict(dv, "dict.get");
    if (!s)
        s = check_key(key, "dict.get");
    if (!s && !val)
        s = mp__err(MP_EINVAL, "dict.get: NULL output");
    if (s)
        return s;
    size_t f = dict_find(dv->u.dict, key, hash_value(key));
    if (f == SIZE_MAX)
        return mp__err(MP_EKEY, "dict.get: key not found");
    *val = dv->u.dict->ent[f].val;
    return MP_OK;
}

/* Contract in mp.h: removes and frees the entry; MP_EKEY when absent. */
mp_status mp_dict_del(mp_value *dv, const mp_value *key)
{
    mp_status s = check_dict(dv, "dict.del");
    if (!s)
        s = check_key(key, "dict.del");
    if (s)
        return s;
    mp__dict *d = dv->u.dict;
    size_t f = dict_find(d, key, hash_value(key));
    if (f == SIZE_MAX)
        return mp__err(MP_EKEY, "dict.del: key not found");
    mp__dent *e = &d->ent[f];
    mp_value *k = e->key, *v = e->val;
    e->key = e->val = NULL;
    d->live--;
    if (!d->index) /* small: keep it dense at once */
        dict_compact(d);
    mp_value_free(k); /* last: key may be one of the dict's own keys */
    mp_value_free(v);
    return MP_OK;
}

/* Contract in mp.h: *len = number of keys. */
mp_status mp_dict_len(const mp_value *dv, size_t *len)
{
    mp_status s = check_dict(dv, "dict.len");
    if (!s && !len)
        s = mp__err(MP_EINVAL, "dict.len: NULL output");
    if (s)
        return s;
    *len = dv->u.dict->live;
    return MP_OK;
}

/* Contract in mp.h: the i-th entry in insertion order, borrowed; MP_EINDEX
 * when i >= len. */
mp_status mp_dict_item(const mp_value *dv, size_t i, const mp_value **key, const mp_value **val)
{
    mp_status s = check_dict(dv, "dict.item");
    if (s)
        return s;
    mp__dict *d = dv->u.dict;
    if (i >= d->live)
        return mp__err(MP_EINDEX, "dict.item: index %zu out of range (len %zu)", i, d->live);
    /* Positional access needs a dense array: compact (a write behind a const
     * pointer; values are not shared between threads). */
    if (d->live != d->n)
        dict_compact(d);
    if (key)
        *key = d->ent[i].key;
    if (val)
        *val = d->ent[i].val;
    return MP_OK;
}
