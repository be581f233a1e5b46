/* Values: what Python sends through queues and pipes.
 *
 * None/True/False are static singletons (no allocation; free ignores them).
 * str/bytes keep their bytes right after the value (one allocation), and so do
 * the items of a sequence made with a known size (decoder, mp_list_of).  A dict
 * is an insertion-ordered entry array plus, once it has more than a few
 * entries, an open-addressing index of entry numbers (CPython's compact dict).
 * Deletion leaves a tombstone that the next growth or positional access
 * compacts away, so del is O(1) amortised as in Python. */
#include "value.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <stddef.h>
#include <pthread.h>
#include <sys/auxv.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>

#define DICT_SMALL 8 /* up to this many entries a linear scan beats hashing */
/* Values built with the API may nest without limit.  Walks that recurse stop
 * here, as Python's repr/copy/== stop at its recursion limit with
 * RecursionError: copy and repr fail with MP_EINVAL, equal says false, and a
 * tuple nested deeper is not a usable key.  free never fails: below this
 * depth it recurses, deeper containers wait on a heap stack (free_rec). */
#define NEST_MAX 1000

static mp_value none_v = {.type = MP_T_NONE, .flags = MP__VF_STATIC};
static mp_value true_v = {.type = MP_T_BOOL, .flags = MP__VF_STATIC, .u.b = true};
static mp_value false_v = {.type = MP_T_BOOL, .flags = MP__VF_STATIC, .u.b = false};

static mp_value *oom(const char *what)
{
    mp__err(MP_ENOMEM, "%s: out of memory", what);
    return NULL;
}

static mp_value *scalar_new(mp_type t)
{
    mp_value *v = malloc(sizeof *v);
    if (!v)
        return oom("value");
    v->type = (uint8_t)t;
    v->flags = 0;
    return v;
}

/* ------------------------------------------------------------ blocks */

struct mp__vblock {
    _Atomic size_t refs; /* nodes alive + 1 until done() */
    size_t cap, used, bytes;
    bool mapped;
    mp_value node[];
};

/* From this size a block is mapped with its pages populated: one system call
 * instead of a page fault per 4 KiB (several microseconds each on a VM). */
#define VBLOCK_MAP ((size_t)256 << 10)

mp__vblock *mp__vblock_new(size_t n)
{
    if (n == 0 || n > UINT32_MAX || n > (SIZE_MAX - sizeof(mp__vblock)) / sizeof(mp_value))
        return NULL;
    size_t bytes = sizeof(mp__vblock) + n * sizeof(mp_value);
    mp__vblock *b;
    bool mapped = bytes >= VBLOCK_MAP;
    if (mapped) {
        b = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
                 -1, 0);
        if (b == MAP_FAILED)
            return NULL;
    } else if (!(b = malloc(bytes))) {
        return NULL;
    }
    atomic_init(&b->refs, 1);
    b->cap = n;
    b->used = 0;
    b->bytes = bytes;
    b->mapped = mapped;
    return b;
}

static void vblock_unref(mp__vblock *b, size_t k)
{
    if (atomic_fetch_sub_explicit(&b->refs, k, memory_order_acq_rel) != k)
        return;
    if (b->mapped)
        munmap(b, b->bytes);
    else
        free(b);
}

static mp_value *vblock_take(mp__vblock *b, mp_type t)
{
    if (!b || b->used == b->cap)
        return scalar_new(t);
    mp_value *v = &b->node[b->used];
    v->type = (uint8_t)t;
    v->flags = MP__VF_BLOCK;
    v->blk = (uint32_t)b->used++;
    atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
    return v;
}

mp_value *mp__vblock_int(mp__vblock *b, int64_t i)
{
    mp_value *v = vblock_take(b, MP_T_INT);
    if (v)
        v->u.i = i;
    return v;
}

mp_value *mp__vblock_float(mp__vblock *b, double d)
{
    mp_value *v = vblock_take(b, MP_T_FLOAT);
    if (v)
        v->u.d = d;
    return v;
}

void mp__vblock_done(mp__vblock *b)
{
    if (b)
        vblock_unref(b, 1);
}

mp_value *mp_none(void) { return &none_v; }
mp_value *mp_bool(bool b) { return b ? &true_v : &false_v; }

mp_value *mp_int(int64_t i)
{
    mp_value *v = scalar_new(MP_T_INT);
    if (v)
        v->u.i = i;
    return v;
}

mp_value *mp_float(double d)
{
    mp_value *v = scalar_new(MP_T_FLOAT);
    if (v)
        v->u.d = d;
    return v;
}

mp_value *mp__blob_new(mp_type t, size_t len)
{
    if (len > SIZE_MAX - sizeof(mp_value) - 1)
        return oom("value");
    mp_value *v = malloc(sizeof *v + len + 1);
    if (!v)
        return oom("value");
    v->type = (uint8_t)t;
    v->flags = MP__VF_INLINE;
    v->u.s.p = (char *)(v + 1);
    v->u.s.len = len;
    v->u.s.p[len] = 0;
    return v;
}

bool mp__utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str, *end = s + len;
    while (s < end) {
        /* ASCII runs are the common case: 8 bytes at a time. */
        while (end - s >= 8) {
            uint64_t w;
            memcpy(&w, s, 8);
            if (w & 0x8080808080808080ull)
                break;
            s += 8;
        }
        if (s == end)
            break;
        unsigned c = *s;
        if (c < 0x80) {
            s++;
            continue;
        }
        size_t n;
        uint32_t cp, min;
        if (c >= 0xc2 && c <= 0xdf)
            n = 1, cp = c & 0x1f, min = 0x80;
        else if (c >= 0xe0 && c <= 0xef)
            n = 2, cp = c & 0x0f, min = 0x800;
        else if (c >= 0xf0 && c <= 0xf4)
            n = 3, cp = c & 0x07, min = 0x10000;
        else
            return false;
        if ((size_t)(end - s) <= n)
            return false;
        for (size_t k = 1; k <= n; k++) {
            if ((s[k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        s += n + 1;
    }
    return true;
}

mp_value *mp_strn(const char *s, size_t len)
{
    if (!s && len) {
        mp__err(MP_EINVAL, "mp_strn: NULL string");
        return NULL;
    }
    if (!mp__utf8_valid(s, len)) {
        mp__err(MP_EINVAL, "mp_str: not valid UTF-8");
        return NULL;
    }
    mp_value *v = mp__blob_new(MP_T_STR, len);
    if (v && len)
        memcpy(v->u.s.p, s, len);
    return v;
}

mp_value *mp_str(const char *s)
{
    if (!s) {
        mp__err(MP_EINVAL, "mp_str: NULL string");
        return NULL;
    }
    return mp_strn(s, strlen(s));
}

mp_value *mp_bytes(const void *p, size_t len)
{
    if (!p && len) {
        mp__err(MP_EINVAL, "mp_bytes: NULL pointer");
        return NULL;
    }
    mp_value *v = mp__blob_new(MP_T_BYTES, len);
    if (v && len)
        memcpy(v->u.s.p, p, len);
    return v;
}

mp_value *mp__seq_new(mp_type t, size_t n)
{
    if (n > (SIZE_MAX - sizeof(mp_value)) / sizeof(mp_value *))
        return oom("value");
    mp_value *v = malloc(sizeof *v + n * sizeof(mp_value *));
    if (!v)
        return oom("value");
    v->type = (uint8_t)t;
    v->flags = n ? MP__VF_INLINE : 0;
    v->u.q.items = n ? (mp_value **)(v + 1) : NULL;
    v->u.q.len = 0;
    v->u.q.cap = n;
    return v;
}

mp_value *mp_list(void) { return mp__seq_new(MP_T_LIST, 0); }
mp_value *mp_tuple(void) { return mp__seq_new(MP_T_TUPLE, 0); }

static mp_value *seq_of(mp_type t, size_t n, va_list ap)
{
    mp_value *v = mp__seq_new(t, n);
    bool bad = false;
    for (size_t k = 0; k < n; k++) {
        mp_value *it = va_arg(ap, mp_value *);
        if (!it)
            bad = true;
        if (v)
            v->u.q.items[v->u.q.len++] = it;
        else
            mp_value_free(it);
    }
    if (v && bad) {
        mp_value_free(v); /* frees the non-NULL items */
        mp__err(MP_EINVAL, "%s_of: a NULL item", t == MP_T_LIST ? "mp_list" : "mp_tuple");
        return NULL;
    }
    return v;
}

mp_value *mp_list_of(size_t n, ...)
{
    va_list ap;
    va_start(ap, n);
    mp_value *v = seq_of(MP_T_LIST, n, ap);
    va_end(ap);
    return v;
}

mp_value *mp_tuple_of(size_t n, ...)
{
    va_list ap;
    va_start(ap, n);
    mp_value *v = seq_of(MP_T_TUPLE, n, ap);
    va_end(ap);
    return v;
}

/* ------------------------------------------------------------------ hashing */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* The per-process secret every hash is keyed with, so that no peer can aim
 * colliding keys at a dict [VAL-DICT-COLLIDING-KEYS-LINEAR]: an unkeyed int
 * hash (CPython's is the value mod 2^61-1; an unkeyed mixer can be inverted)
 * lets one message put thousands of distinct keys on one probe chain, and
 * decoding it becomes quadratic.  Hash values never leave the process (no
 * mp.h call returns one), so they need not equal Python's hash().  Taken from
 * getrandom(); the kernel's AT_RANDOM bytes (which glibc also uses for its
 * stack canary and pointer guard, hence mixed, never used raw) are the
 * fallback.  A forked child keeps its parent's secret, as CPython keeps
 * PYTHONHASHSEED's. */
static uint64_t hash_key[2];
static pthread_once_t hash_key_once = PTHREAD_ONCE_INIT;

static void hash_key_init(void)
{
    uint64_t k[2] = {0, 0};
    if (getrandom(k, sizeof k, GRND_NONBLOCK) != (ssize_t)sizeof k) {
        const unsigned char *r = (const unsigned char *)getauxval(AT_RANDOM);
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (r)
            memcpy(k, r, sizeof k);
        k[0] = mix64(k[0] ^ mix64((uint64_t)t.tv_nsec ^ 0x6d70686173680001ull));
        k[1] = mix64(k[1] ^ mix64((uint64_t)getpid() ^ (uint64_t)(uintptr_t)&t));
    }
    hash_key[0] = k[0] | 1;
    hash_key[1] = k[1];
}

/* A 64-bit word hashed with the secret: two keyed rounds, so that a
 * difference between two inputs says nothing about their slots. */
static uint64_t hash_word(uint64_t x)
{
    pthread_once(&hash_key_once, hash_key_init);
    return mix64(mix64(x ^ hash_key[0]) + hash_key[1]);
}

static uint64_t hash_bytes(const unsigned char *p, size_t n, uint64_t h)
{
    h = hash_word((uint64_t)n ^ (h << 60));
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = mix64(h ^ w) + 0x9e3779b97f4a7c15ull;
    }
    uint64_t w = 0;
    memcpy(&w, p, n);
    return mix64(h ^ w ^ ((uint64_t)n << 56));
}

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
        return hash_bytes((const unsigned char *)k->u.s.p, k->u.s.len, 1);
    case MP_T_BYTES:
        return hash_bytes((const unsigned char *)k->u.s.p, k->u.s.len, 2);
    case MP_T_TUPLE: {
        uint64_t h = hash_word(k->u.q.len ^ 0x7475706c65ull);
        for (size_t j = 0; j < k->u.q.len; j++)
            h = mix64(h ^ hash_value(k->u.q.items[j])) + j;
        return h;
    }
    default:
        assert(!"unhashable");
        return 0;
    }
}

static bool hashable(const mp_value *k, int depth)
{
    if (k->type == MP_T_LIST || k->type == MP_T_DICT)
        return false;
    if (k->type == MP_T_TUPLE) {
        if (depth >= NEST_MAX)
            return false;
        for (size_t j = 0; j < k->u.q.len; j++)
            if (!hashable(k->u.q.items[j], depth + 1))
                return false;
    }
    return true;
}

/* hash_value recurses only into keys that passed this (depth < NEST_MAX). */
bool mp__hashable(const mp_value *k) { return hashable(k, 0); }

/* ----------------------------------------------------------------- equality */

static bool is_num(const mp_value *v)
{
    return v->type == MP_T_BOOL || v->type == MP_T_INT || v->type == MP_T_FLOAT;
}

static int64_t int_of(const mp_value *v) { return v->type == MP_T_BOOL ? v->u.b : v->u.i; }

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
        return float_as_int(a->u.d, &i) && i == int_of(b);
    return int_of(a) == int_of(b);
}

static size_t dict_find(const mp__dict *d, const mp_value *k, uint64_t h);
static bool value_eq(const mp_value *a, const mp_value *b, int depth);

/* Containers compare their items as PyObject_RichCompareBool does: the same
 * object is equal to itself (only reachable when comparing v with v). */
static bool item_eq(const mp_value *a, const mp_value *b, int depth)
{
    return a == b || value_eq(a, b, depth);
}

static bool value_eq(const mp_value *a, const mp_value *b, int depth)
{
    if (is_num(a) && is_num(b))
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
        if (a->u.q.len != b->u.q.len || depth >= NEST_MAX)
            return false;
        for (size_t j = 0; j < a->u.q.len; j++)
            if (!item_eq(a->u.q.items[j], b->u.q.items[j], depth + 1))
                return false;
        return true;
    case MP_T_DICT: {
        const mp__dict *da = a->u.dict, *db = b->u.dict;
        if (da->live != db->live || depth >= NEST_MAX)
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

mp_value *mp__dict_new(size_t n)
{
    dict_block *b = calloc(1, sizeof *b);
    if (!b)
        return oom("dict");
    b->v.type = MP_T_DICT;
    b->v.u.dict = &b->d;
    if (n && n <= DICT_SMALL) {
        /* Sized up front for the decoder; bigger dicts grow (and index) as
         * keys arrive, so a lying count cannot make us allocate. */
        b->d.ent = malloc(n * sizeof *b->d.ent);
        if (!b->d.ent) {
            free(b);
            return oom("dict");
        }
        b->d.cap = n;
    }
    return &b->v;
}

mp_value *mp_dict(void) { return mp__dict_new(0); }

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

static mp_status check_dict(const mp_value *d, const char *what)
{
    if (!d)
        return mp__err(MP_EINVAL, "%s: NULL dict", what);
    if (d->type != MP_T_DICT)
        return mp__err(MP_ETYPE, "%s: not a dict", what);
    return MP_OK;
}

static mp_status check_key(const mp_value *k, const char *what)
{
    if (!k)
        return mp__err(MP_EINVAL, "%s: NULL key", what);
    if (!mp__hashable(k))
        return mp__err(MP_ETYPE, "%s: unhashable type: '%s'%s", what,
                       k->type == MP_T_LIST ? "list" : k->type == MP_T_DICT ? "dict" : "tuple",
                       k->type == MP_T_TUPLE ? " (or nested too deep)" : "");
    return MP_OK;
}

mp_status mp_dict_set(mp_value *dv, mp_value *key, mp_value *val)
{
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
        if (e->val != val)
            mp_value_free(e->val);
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

/* ------------------------------------------------------- free, copy, access */

typedef struct vstack {
    mp_value **v;
    size_t n, cap;
} vstack;

static void free_rec(mp_value *v, int depth, vstack *later)
{
    if (!v || (v->flags & MP__VF_STATIC))
        return;
    if (v->flags & MP__VF_BLOCK) {
        vblock_unref((mp__vblock *)((char *)(v - v->blk) - offsetof(mp__vblock, node)), 1);
        return;
    }
    bool container = v->type == MP_T_LIST || v->type == MP_T_TUPLE || v->type == MP_T_DICT;
    if (container && depth >= NEST_MAX) {
        if (later->n == later->cap) {
            size_t cap = later->cap ? later->cap * 2 : 16;
            mp_value **q = realloc(later->v, cap * sizeof *q);
            if (q) {
                later->v = q;
                later->cap = cap;
            }
        }
        if (later->n < later->cap) {
            later->v[later->n++] = v;
            return;
        } /* out of memory: recurse on, the stack is all there is */
    }
    switch ((mp_type)v->type) {
    case MP_T_LIST:
    case MP_T_TUPLE:
        for (size_t j = 0; j < v->u.q.len; j++)
            free_rec(v->u.q.items[j], depth + 1, later);
        if (!(v->flags & MP__VF_INLINE))
            free(v->u.q.items);
        break;
    case MP_T_DICT: {
        mp__dict *d = v->u.dict;
        for (size_t j = 0; j < d->n; j++) {
            free_rec(d->ent[j].key, depth + 1, later);
            free_rec(d->ent[j].val, depth + 1, later);
        }
        free(d->ent);
        free(d->index);
        break;
    }
    default:
        break;
    }
    free(v);
}

void mp_value_free(mp_value *v)
{
    if (!v || (v->flags & MP__VF_STATIC))
        return;
    if (v->flags & MP__VF_BLOCK) {
        vblock_unref((mp__vblock *)((char *)(v - v->blk) - offsetof(mp__vblock, node)), 1);
        return;
    }
    vstack later = {0};
    free_rec(v, 0, &later);
    while (later.n)
        free_rec(later.v[--later.n], 0, &later);
    free(later.v);
}

static mp_value *too_deep(const char *what)
{
    mp__err(MP_EINVAL, "%s: nested deeper than %d (Python: RecursionError)", what, NEST_MAX);
    return NULL;
}

static mp_value *copy_rec(const mp_value *v, int depth)
{
    mp_value *c = NULL;
    switch ((mp_type)v->type) {
    case MP_T_NONE:
    case MP_T_BOOL:
        return (mp_value *)v; /* the singletons */
    case MP_T_INT:
        return mp_int(v->u.i);
    case MP_T_FLOAT:
        return mp_float(v->u.d);
    case MP_T_STR:
    case MP_T_BYTES:
        if ((c = mp__blob_new((mp_type)v->type, v->u.s.len)))
            memcpy(c->u.s.p, v->u.s.p, v->u.s.len);
        return c;
    case MP_T_LIST:
    case MP_T_TUPLE:
        if (depth >= NEST_MAX)
            return too_deep("value.copy");
        if (!(c = mp__seq_new((mp_type)v->type, v->u.q.len)))
            return NULL;
        for (size_t j = 0; j < v->u.q.len; j++) {
            mp_value *it = copy_rec(v->u.q.items[j], depth + 1);
            if (!it) {
                mp_value_free(c);
                return NULL;
            }
            c->u.q.items[c->u.q.len++] = it;
        }
        return c;
    case MP_T_DICT: {
        const mp__dict *d = v->u.dict;
        if (depth >= NEST_MAX)
            return too_deep("value.copy");
        if (!(c = mp__dict_new(0)))
            return NULL;
        for (size_t j = 0; j < d->n; j++) {
            const mp__dent *e = &d->ent[j];
            if (!e->key)
                continue;
            mp_value *k = copy_rec(e->key, depth + 1), *x = k ? copy_rec(e->val, depth + 1) : NULL;
            if (!x || dict_reserve(c->u.dict)) {
                mp_value_free(k);
                mp_value_free(x);
                mp_value_free(c);
                return NULL;
            }
            dict_append(c->u.dict, k, x, hash_value(k)); /* a NaN's is its own */
        }
        return c;
    }
    }
    return NULL;
}

mp_value *mp_value_copy(const mp_value *v)
{
    if (!v) {
        mp__err(MP_EINVAL, "value.copy: NULL value");
        return NULL;
    }
    return copy_rec(v, 0);
}

mp_type mp_value_type(const mp_value *v) { return v ? (mp_type)v->type : MP_T_NONE; }

static const char *const type_names[] = {"NoneType", "bool", "int",   "float", "str",
                                         "bytes",    "list", "tuple", "dict"};

static mp_status check_get(const mp_value *v, const void *out, bool ok, const char *what)
{
    if (!v || !out)
        return mp__err(MP_EINVAL, "value.get_%s: NULL %s", what, v ? "output" : "value");
    if (!ok)
        return mp__err(MP_ETYPE, "value.get_%s: value is a %s", what, type_names[v->type]);
    return MP_OK;
}

mp_status mp_value_get_bool(const mp_value *v, bool *out)
{
    mp_status s = check_get(v, out, v && v->type == MP_T_BOOL, "bool");
    if (!s)
        *out = v->u.b;
    return s;
}

mp_status mp_value_get_int(const mp_value *v, int64_t *out)
{
    mp_status s = check_get(v, out, v && (v->type == MP_T_INT || v->type == MP_T_BOOL), "int");
    if (!s)
        *out = int_of(v);
    return s;
}

mp_status mp_value_get_float(const mp_value *v, double *out)
{
    mp_status s = check_get(v, out, v && is_num(v), "float");
    if (!s)
        *out = v->type == MP_T_FLOAT ? v->u.d : (double)int_of(v);
    return s;
}

mp_status mp_value_get_str(const mp_value *v, const char **p, size_t *len)
{
    mp_status s = check_get(v, p, v && v->type == MP_T_STR, "str");
    if (!s) {
        *p = v->u.s.p;
        if (len)
            *len = v->u.s.len;
    }
    return s;
}

mp_status mp_value_get_bytes(const mp_value *v, const void **p, size_t *len)
{
    mp_status s = check_get(v, p, v && v->type == MP_T_BYTES, "bytes");
    if (!s) {
        *p = v->u.s.p;
        if (len)
            *len = v->u.s.len;
    }
    return s;
}

/* ---------------------------------------------------------------- sequences */

static mp_status check_seq(const mp_value *q, const char *what)
{
    if (!q)
        return mp__err(MP_EINVAL, "%s: NULL sequence", what);
    if (q->type != MP_T_LIST && q->type != MP_T_TUPLE)
        return mp__err(MP_ETYPE, "%s: a %s is not a list or tuple", what, type_names[q->type]);
    return MP_OK;
}

mp_status mp_seq_append(mp_value *q, mp_value *item)
{
    mp_status s = check_seq(q, "seq.append");
    if (!s && !item)
        s = mp__err(MP_EINVAL, "seq.append: NULL item");
    if (!s && item == q)
        s = mp__err(MP_EINVAL, "seq.append: a sequence cannot contain itself");
    if (s) {
        if (item != q)
            mp_value_free(item);
        return s;
    }
    if (q->u.q.len == q->u.q.cap) {
        size_t ncap = q->u.q.cap < 4 ? 4 : q->u.q.cap * 2;
        mp_value **items;
        if (ncap > SIZE_MAX / sizeof *items / 2)
            items = NULL;
        else if (q->flags & MP__VF_INLINE) {
            if ((items = malloc(ncap * sizeof *items)))
                memcpy(items, q->u.q.items, q->u.q.len * sizeof *items);
        } else
            items = realloc(q->u.q.items, ncap * sizeof *items);
        if (!items) {
            mp_value_free(item);
            return mp__err(MP_ENOMEM, "seq.append: out of memory");
        }
        q->flags &= (uint8_t)~MP__VF_INLINE;
        q->u.q.items = items;
        q->u.q.cap = ncap;
    }
    q->u.q.items[q->u.q.len++] = item;
    return MP_OK;
}

mp_status mp_seq_len(const mp_value *q, size_t *len)
{
    mp_status s = check_seq(q, "seq.len");
    if (!s && !len)
        s = mp__err(MP_EINVAL, "seq.len: NULL output");
    if (!s)
        *len = q->u.q.len;
    return s;
}

mp_status mp_seq_get(const mp_value *q, ptrdiff_t i, const mp_value **item)
{
    mp_status s = check_seq(q, "seq.get");
    if (!s && !item)
        s = mp__err(MP_EINVAL, "seq.get: NULL output");
    if (s)
        return s;
    size_t n = q->u.q.len;
    size_t j = i < 0 ? n - (size_t)-(i + 1) - 1 : (size_t)i; /* -i overflows for PTRDIFF_MIN */
    if (i < 0 ? (size_t)-(i + 1) >= n : j >= n)
        return mp__err(MP_EINDEX, "%s index out of range", type_names[q->type]);
    *item = q->u.q.items[j];
    return MP_OK;
}

/* --------------------------------------------------------------------- repr */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
} sbuf;

static bool sb_grow(sbuf *b, size_t more)
{
    if (b->oom)
        return false;
    if (b->len + more + 1 <= b->cap)
        return true;
    size_t ncap = b->cap ? b->cap : 64;
    while (ncap < b->len + more + 1) {
        if (ncap > SIZE_MAX / 2) {
            b->oom = true;
            return false;
        }
        ncap *= 2;
    }
    char *p = realloc(b->p, ncap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->p = p;
    b->cap = ncap;
    return true;
}

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (sb_grow(b, n)) {
        memcpy(b->p + b->len, s, n);
        b->len += n;
    }
}

static void sb_puts(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_putc(sbuf *b, char c)
{
    if (sb_grow(b, 1))
        b->p[b->len++] = c;
}

static void sb_hex(sbuf *b, const char *pfx, uint32_t x, int digits)
{
    static const char hex[] = "0123456789abcdef";
    char t[16];
    size_t n = strlen(pfx);
    memcpy(t, pfx, n);
    for (int k = digits - 1; k >= 0; k--)
        t[n++] = hex[(x >> (4 * k)) & 15];
    sb_put(b, t, n);
}

/* Code points >= 0x80 that str.isprintable() rejects (categories Cc Cf Cs Co
 * Cn Zl Zp Zs), as inclusive ranges.  Generated from CPython 3.11.7
 * (unicodedata 14.0.0):
 *   [(a, b) for runs of c in range(0x80, 0x110000) if not chr(c).isprintable()] */
static const uint32_t nonprintable[][2] = {
    {0x80, 0xa0}, {0xad, 0xad}, {0x378, 0x379}, {0x380, 0x383}, {0x38b, 0x38b},
    {0x38d, 0x38d}, {0x3a2, 0x3a2}, {0x530, 0x530}, {0x557, 0x558}, {0x58b, 0x58c},
    {0x590, 0x590}, {0x5c8, 0x5cf}, {0x5eb, 0x5ee}, {0x5f5, 0x605}, {0x61c, 0x61c},
    {0x6dd, 0x6dd}, {0x70e, 0x70f}, {0x74b, 0x74c}, {0x7b2, 0x7bf}, {0x7fb, 0x7fc},
    {0x82e, 0x82f}, {0x83f, 0x83f}, {0x85c, 0x85d}, {0x85f, 0x85f}, {0x86b, 0x86f},
    {0x88f, 0x897}, {0x8e2, 0x8e2}, {0x984, 0x984}, {0x98d, 0x98e}, {0x991, 0x992},
    {0x9a9, 0x9a9}, {0x9b1, 0x9b1}, {0x9b3, 0x9b5}, {0x9ba, 0x9bb}, {0x9c5, 0x9c6},
    {0x9c9, 0x9ca}, {0x9cf, 0x9d6}, {0x9d8, 0x9db}, {0x9de, 0x9de}, {0x9e4, 0x9e5},
    {0x9ff, 0xa00}, {0xa04, 0xa04}, {0xa0b, 0xa0e}, {0xa11, 0xa12}, {0xa29, 0xa29},
    {0xa31, 0xa31}, {0xa34, 0xa34}, {0xa37, 0xa37}, {0xa3a, 0xa3b}, {0xa3d, 0xa3d},
    {0xa43, 0xa46}, {0xa49, 0xa4a}, {0xa4e, 0xa50}, {0xa52, 0xa58}, {0xa5d, 0xa5d},
    {0xa5f, 0xa65}, {0xa77, 0xa80}, {0xa84, 0xa84}, {0xa8e, 0xa8e}, {0xa92, 0xa92},
    {0xaa9, 0xaa9}, {0xab1, 0xab1}, {0xab4, 0xab4}, {0xaba, 0xabb}, {0xac6, 0xac6},
    {0xaca, 0xaca}, {0xace, 0xacf}, {0xad1, 0xadf}, {0xae4, 0xae5}, {0xaf2, 0xaf8},
    {0xb00, 0xb00}, {0xb04, 0xb04}, {0xb0d, 0xb0e}, {0xb11, 0xb12}, {0xb29, 0xb29},
    {0xb31, 0xb31}, {0xb34, 0xb34}, {0xb3a, 0xb3b}, {0xb45, 0xb46}, {0xb49, 0xb4a},
    {0xb4e, 0xb54}, {0xb58, 0xb5b}, {0xb5e, 0xb5e}, {0xb64, 0xb65}, {0xb78, 0xb81},
    {0xb84, 0xb84}, {0xb8b, 0xb8d}, {0xb91, 0xb91}, {0xb96, 0xb98}, {0xb9b, 0xb9b},
    {0xb9d, 0xb9d}, {0xba0, 0xba2}, {0xba5, 0xba7}, {0xbab, 0xbad}, {0xbba, 0xbbd},
    {0xbc3, 0xbc5}, {0xbc9, 0xbc9}, {0xbce, 0xbcf}, {0xbd1, 0xbd6}, {0xbd8, 0xbe5},
    {0xbfb, 0xbff}, {0xc0d, 0xc0d}, {0xc11, 0xc11}, {0xc29, 0xc29}, {0xc3a, 0xc3b},
    {0xc45, 0xc45}, {0xc49, 0xc49}, {0xc4e, 0xc54}, {0xc57, 0xc57}, {0xc5b, 0xc5c},
    {0xc5e, 0xc5f}, {0xc64, 0xc65}, {0xc70, 0xc76}, {0xc8d, 0xc8d}, {0xc91, 0xc91},
    {0xca9, 0xca9}, {0xcb4, 0xcb4}, {0xcba, 0xcbb}, {0xcc5, 0xcc5}, {0xcc9, 0xcc9},
    {0xcce, 0xcd4}, {0xcd7, 0xcdc}, {0xcdf, 0xcdf}, {0xce4, 0xce5}, {0xcf0, 0xcf0},
    {0xcf3, 0xcff}, {0xd0d, 0xd0d}, {0xd11, 0xd11}, {0xd45, 0xd45}, {0xd49, 0xd49},
    {0xd50, 0xd53}, {0xd64, 0xd65}, {0xd80, 0xd80}, {0xd84, 0xd84}, {0xd97, 0xd99},
    {0xdb2, 0xdb2}, {0xdbc, 0xdbc}, {0xdbe, 0xdbf}, {0xdc7, 0xdc9}, {0xdcb, 0xdce},
    {0xdd5, 0xdd5}, {0xdd7, 0xdd7}, {0xde0, 0xde5}, {0xdf0, 0xdf1}, {0xdf5, 0xe00},
    {0xe3b, 0xe3e}, {0xe5c, 0xe80}, {0xe83, 0xe83}, {0xe85, 0xe85}, {0xe8b, 0xe8b},
    {0xea4, 0xea4}, {0xea6, 0xea6}, {0xebe, 0xebf}, {0xec5, 0xec5}, {0xec7, 0xec7},
    {0xece, 0xecf}, {0xeda, 0xedb}, {0xee0, 0xeff}, {0xf48, 0xf48}, {0xf6d, 0xf70},
    {0xf98, 0xf98}, {0xfbd, 0xfbd}, {0xfcd, 0xfcd}, {0xfdb, 0xfff}, {0x10c6, 0x10c6},
    {0x10c8, 0x10cc}, {0x10ce, 0x10cf}, {0x1249, 0x1249}, {0x124e, 0x124f},
    {0x1257, 0x1257}, {0x1259, 0x1259}, {0x125e, 0x125f}, {0x1289, 0x1289},
    {0x128e, 0x128f}, {0x12b1, 0x12b1}, {0x12b6, 0x12b7}, {0x12bf, 0x12bf},
    {0x12c1, 0x12c1}, {0x12c6, 0x12c7}, {0x12d7, 0x12d7}, {0x1311, 0x1311},
    {0x1316, 0x1317}, {0x135b, 0x135c}, {0x137d, 0x137f}, {0x139a, 0x139f},
    {0x13f6, 0x13f7}, {0x13fe, 0x13ff}, {0x1680, 0x1680}, {0x169d, 0x169f},
    {0x16f9, 0x16ff}, {0x1716, 0x171e}, {0x1737, 0x173f}, {0x1754, 0x175f},
    {0x176d, 0x176d}, {0x1771, 0x1771}, {0x1774, 0x177f}, {0x17de, 0x17df},
    {0x17ea, 0x17ef}, {0x17fa, 0x17ff}, {0x180e, 0x180e}, {0x181a, 0x181f},
    {0x1879, 0x187f}, {0x18ab, 0x18af}, {0x18f6, 0x18ff}, {0x191f, 0x191f},
    {0x192c, 0x192f}, {0x193c, 0x193f}, {0x1941, 0x1943}, {0x196e, 0x196f},
    {0x1975, 0x197f}, {0x19ac, 0x19af}, {0x19ca, 0x19cf}, {0x19db, 0x19dd},
    {0x1a1c, 0x1a1d}, {0x1a5f, 0x1a5f}, {0x1a7d, 0x1a7e}, {0x1a8a, 0x1a8f},
    {0x1a9a, 0x1a9f}, {0x1aae, 0x1aaf}, {0x1acf, 0x1aff}, {0x1b4d, 0x1b4f},
    {0x1b7f, 0x1b7f}, {0x1bf4, 0x1bfb}, {0x1c38, 0x1c3a}, {0x1c4a, 0x1c4c},
    {0x1c89, 0x1c8f}, {0x1cbb, 0x1cbc}, {0x1cc8, 0x1ccf}, {0x1cfb, 0x1cff},
    {0x1f16, 0x1f17}, {0x1f1e, 0x1f1f}, {0x1f46, 0x1f47}, {0x1f4e, 0x1f4f},
    {0x1f58, 0x1f58}, {0x1f5a, 0x1f5a}, {0x1f5c, 0x1f5c}, {0x1f5e, 0x1f5e},
    {0x1f7e, 0x1f7f}, {0x1fb5, 0x1fb5}, {0x1fc5, 0x1fc5}, {0x1fd4, 0x1fd5},
    {0x1fdc, 0x1fdc}, {0x1ff0, 0x1ff1}, {0x1ff5, 0x1ff5}, {0x1fff, 0x200f},
    {0x2028, 0x202f}, {0x205f, 0x206f}, {0x2072, 0x2073}, {0x208f, 0x208f},
    {0x209d, 0x209f}, {0x20c1, 0x20cf}, {0x20f1, 0x20ff}, {0x218c, 0x218f},
    {0x2427, 0x243f}, {0x244b, 0x245f}, {0x2b74, 0x2b75}, {0x2b96, 0x2b96},
    {0x2cf4, 0x2cf8}, {0x2d26, 0x2d26}, {0x2d28, 0x2d2c}, {0x2d2e, 0x2d2f},
    {0x2d68, 0x2d6e}, {0x2d71, 0x2d7e}, {0x2d97, 0x2d9f}, {0x2da7, 0x2da7},
    {0x2daf, 0x2daf}, {0x2db7, 0x2db7}, {0x2dbf, 0x2dbf}, {0x2dc7, 0x2dc7},
    {0x2dcf, 0x2dcf}, {0x2dd7, 0x2dd7}, {0x2ddf, 0x2ddf}, {0x2e5e, 0x2e7f},
    {0x2e9a, 0x2e9a}, {0x2ef4, 0x2eff}, {0x2fd6, 0x2fef}, {0x2ffc, 0x3000},
    {0x3040, 0x3040}, {0x3097, 0x3098}, {0x3100, 0x3104}, {0x3130, 0x3130},
    {0x318f, 0x318f}, {0x31e4, 0x31ef}, {0x321f, 0x321f}, {0xa48d, 0xa48f},
    {0xa4c7, 0xa4cf}, {0xa62c, 0xa63f}, {0xa6f8, 0xa6ff}, {0xa7cb, 0xa7cf},
    {0xa7d2, 0xa7d2}, {0xa7d4, 0xa7d4}, {0xa7da, 0xa7f1}, {0xa82d, 0xa82f},
    {0xa83a, 0xa83f}, {0xa878, 0xa87f}, {0xa8c6, 0xa8cd}, {0xa8da, 0xa8df},
    {0xa954, 0xa95e}, {0xa97d, 0xa97f}, {0xa9ce, 0xa9ce}, {0xa9da, 0xa9dd},
    {0xa9ff, 0xa9ff}, {0xaa37, 0xaa3f}, {0xaa4e, 0xaa4f}, {0xaa5a, 0xaa5b},
    {0xaac3, 0xaada}, {0xaaf7, 0xab00}, {0xab07, 0xab08}, {0xab0f, 0xab10},
    {0xab17, 0xab1f}, {0xab27, 0xab27}, {0xab2f, 0xab2f}, {0xab6c, 0xab6f},
    {0xabee, 0xabef}, {0xabfa, 0xabff}, {0xd7a4, 0xd7af}, {0xd7c7, 0xd7ca},
    {0xd7fc, 0xf8ff}, {0xfa6e, 0xfa6f}, {0xfada, 0xfaff}, {0xfb07, 0xfb12},
    {0xfb18, 0xfb1c}, {0xfb37, 0xfb37}, {0xfb3d, 0xfb3d}, {0xfb3f, 0xfb3f},
    {0xfb42, 0xfb42}, {0xfb45, 0xfb45}, {0xfbc3, 0xfbd2}, {0xfd90, 0xfd91},
    {0xfdc8, 0xfdce}, {0xfdd0, 0xfdef}, {0xfe1a, 0xfe1f}, {0xfe53, 0xfe53},
    {0xfe67, 0xfe67}, {0xfe6c, 0xfe6f}, {0xfe75, 0xfe75}, {0xfefd, 0xff00},
    {0xffbf, 0xffc1}, {0xffc8, 0xffc9}, {0xffd0, 0xffd1}, {0xffd8, 0xffd9},
    {0xffdd, 0xffdf}, {0xffe7, 0xffe7}, {0xffef, 0xfffb}, {0xfffe, 0xffff},
    {0x1000c, 0x1000c}, {0x10027, 0x10027}, {0x1003b, 0x1003b}, {0x1003e, 0x1003e},
    {0x1004e, 0x1004f}, {0x1005e, 0x1007f}, {0x100fb, 0x100ff}, {0x10103, 0x10106},
    {0x10134, 0x10136}, {0x1018f, 0x1018f}, {0x1019d, 0x1019f}, {0x101a1, 0x101cf},
    {0x101fe, 0x1027f}, {0x1029d, 0x1029f}, {0x102d1, 0x102df}, {0x102fc, 0x102ff},
    {0x10324, 0x1032c}, {0x1034b, 0x1034f}, {0x1037b, 0x1037f}, {0x1039e, 0x1039e},
    {0x103c4, 0x103c7}, {0x103d6, 0x103ff}, {0x1049e, 0x1049f}, {0x104aa, 0x104af},
    {0x104d4, 0x104d7}, {0x104fc, 0x104ff}, {0x10528, 0x1052f}, {0x10564, 0x1056e},
    {0x1057b, 0x1057b}, {0x1058b, 0x1058b}, {0x10593, 0x10593}, {0x10596, 0x10596},
    {0x105a2, 0x105a2}, {0x105b2, 0x105b2}, {0x105ba, 0x105ba}, {0x105bd, 0x105ff},
    {0x10737, 0x1073f}, {0x10756, 0x1075f}, {0x10768, 0x1077f}, {0x10786, 0x10786},
    {0x107b1, 0x107b1}, {0x107bb, 0x107ff}, {0x10806, 0x10807}, {0x10809, 0x10809},
    {0x10836, 0x10836}, {0x10839, 0x1083b}, {0x1083d, 0x1083e}, {0x10856, 0x10856},
    {0x1089f, 0x108a6}, {0x108b0, 0x108df}, {0x108f3, 0x108f3}, {0x108f6, 0x108fa},
    {0x1091c, 0x1091e}, {0x1093a, 0x1093e}, {0x10940, 0x1097f}, {0x109b8, 0x109bb},
    {0x109d0, 0x109d1}, {0x10a04, 0x10a04}, {0x10a07, 0x10a0b}, {0x10a14, 0x10a14},
    {0x10a18, 0x10a18}, {0x10a36, 0x10a37}, {0x10a3b, 0x10a3e}, {0x10a49, 0x10a4f},
    {0x10a59, 0x10a5f}, {0x10aa0, 0x10abf}, {0x10ae7, 0x10aea}, {0x10af7, 0x10aff},
    {0x10b36, 0x10b38}, {0x10b56, 0x10b57}, {0x10b73, 0x10b77}, {0x10b92, 0x10b98},
    {0x10b9d, 0x10ba8}, {0x10bb0, 0x10bff}, {0x10c49, 0x10c7f}, {0x10cb3, 0x10cbf},
    {0x10cf3, 0x10cf9}, {0x10d28, 0x10d2f}, {0x10d3a, 0x10e5f}, {0x10e7f, 0x10e7f},
    {0x10eaa, 0x10eaa}, {0x10eae, 0x10eaf}, {0x10eb2, 0x10eff}, {0x10f28, 0x10f2f},
    {0x10f5a, 0x10f6f}, {0x10f8a, 0x10faf}, {0x10fcc, 0x10fdf}, {0x10ff7, 0x10fff},
    {0x1104e, 0x11051}, {0x11076, 0x1107e}, {0x110bd, 0x110bd}, {0x110c3, 0x110cf},
    {0x110e9, 0x110ef}, {0x110fa, 0x110ff}, {0x11135, 0x11135}, {0x11148, 0x1114f},
    {0x11177, 0x1117f}, {0x111e0, 0x111e0}, {0x111f5, 0x111ff}, {0x11212, 0x11212},
    {0x1123f, 0x1127f}, {0x11287, 0x11287}, {0x11289, 0x11289}, {0x1128e, 0x1128e},
    {0x1129e, 0x1129e}, {0x112aa, 0x112af}, {0x112eb, 0x112ef}, {0x112fa, 0x112ff},
    {0x11304, 0x11304}, {0x1130d, 0x1130e}, {0x11311, 0x11312}, {0x11329, 0x11329},
    {0x11331, 0x11331}, {0x11334, 0x11334}, {0x1133a, 0x1133a}, {0x11345, 0x11346},
    {0x11349, 0x1134a}, {0x1134e, 0x1134f}, {0x11351, 0x11356}, {0x11358, 0x1135c},
    {0x11364, 0x11365}, {0x1136d, 0x1136f}, {0x11375, 0x113ff}, {0x1145c, 0x1145c},
    {0x11462, 0x1147f}, {0x114c8, 0x114cf}, {0x114da, 0x1157f}, {0x115b6, 0x115b7},
    {0x115de, 0x115ff}, {0x11645, 0x1164f}, {0x1165a, 0x1165f}, {0x1166d, 0x1167f},
    {0x116ba, 0x116bf}, {0x116ca, 0x116ff}, {0x1171b, 0x1171c}, {0x1172c, 0x1172f},
    {0x11747, 0x117ff}, {0x1183c, 0x1189f}, {0x118f3, 0x118fe}, {0x11907, 0x11908},
    {0x1190a, 0x1190b}, {0x11914, 0x11914}, {0x11917, 0x11917}, {0x11936, 0x11936},
    {0x11939, 0x1193a}, {0x11947, 0x1194f}, {0x1195a, 0x1199f}, {0x119a8, 0x119a9},
    {0x119d8, 0x119d9}, {0x119e5, 0x119ff}, {0x11a48, 0x11a4f}, {0x11aa3, 0x11aaf},
    {0x11af9, 0x11bff}, {0x11c09, 0x11c09}, {0x11c37, 0x11c37}, {0x11c46, 0x11c4f},
    {0x11c6d, 0x11c6f}, {0x11c90, 0x11c91}, {0x11ca8, 0x11ca8}, {0x11cb7, 0x11cff},
    {0x11d07, 0x11d07}, {0x11d0a, 0x11d0a}, {0x11d37, 0x11d39}, {0x11d3b, 0x11d3b},
    {0x11d3e, 0x11d3e}, {0x11d48, 0x11d4f}, {0x11d5a, 0x11d5f}, {0x11d66, 0x11d66},
    {0x11d69, 0x11d69}, {0x11d8f, 0x11d8f}, {0x11d92, 0x11d92}, {0x11d99, 0x11d9f},
    {0x11daa, 0x11edf}, {0x11ef9, 0x11faf}, {0x11fb1, 0x11fbf}, {0x11ff2, 0x11ffe},
    {0x1239a, 0x123ff}, {0x1246f, 0x1246f}, {0x12475, 0x1247f}, {0x12544, 0x12f8f},
    {0x12ff3, 0x12fff}, {0x1342f, 0x143ff}, {0x14647, 0x167ff}, {0x16a39, 0x16a3f},
    {0x16a5f, 0x16a5f}, {0x16a6a, 0x16a6d}, {0x16abf, 0x16abf}, {0x16aca, 0x16acf},
    {0x16aee, 0x16aef}, {0x16af6, 0x16aff}, {0x16b46, 0x16b4f}, {0x16b5a, 0x16b5a},
    {0x16b62, 0x16b62}, {0x16b78, 0x16b7c}, {0x16b90, 0x16e3f}, {0x16e9b, 0x16eff},
    {0x16f4b, 0x16f4e}, {0x16f88, 0x16f8e}, {0x16fa0, 0x16fdf}, {0x16fe5, 0x16fef},
    {0x16ff2, 0x16fff}, {0x187f8, 0x187ff}, {0x18cd6, 0x18cff}, {0x18d09, 0x1afef},
    {0x1aff4, 0x1aff4}, {0x1affc, 0x1affc}, {0x1afff, 0x1afff}, {0x1b123, 0x1b14f},
    {0x1b153, 0x1b163}, {0x1b168, 0x1b16f}, {0x1b2fc, 0x1bbff}, {0x1bc6b, 0x1bc6f},
    {0x1bc7d, 0x1bc7f}, {0x1bc89, 0x1bc8f}, {0x1bc9a, 0x1bc9b}, {0x1bca0, 0x1ceff},
    {0x1cf2e, 0x1cf2f}, {0x1cf47, 0x1cf4f}, {0x1cfc4, 0x1cfff}, {0x1d0f6, 0x1d0ff},
    {0x1d127, 0x1d128}, {0x1d173, 0x1d17a}, {0x1d1eb, 0x1d1ff}, {0x1d246, 0x1d2df},
    {0x1d2f4, 0x1d2ff}, {0x1d357, 0x1d35f}, {0x1d379, 0x1d3ff}, {0x1d455, 0x1d455},
    {0x1d49d, 0x1d49d}, {0x1d4a0, 0x1d4a1}, {0x1d4a3, 0x1d4a4}, {0x1d4a7, 0x1d4a8},
    {0x1d4ad, 0x1d4ad}, {0x1d4ba, 0x1d4ba}, {0x1d4bc, 0x1d4bc}, {0x1d4c4, 0x1d4c4},
    {0x1d506, 0x1d506}, {0x1d50b, 0x1d50c}, {0x1d515, 0x1d515}, {0x1d51d, 0x1d51d},
    {0x1d53a, 0x1d53a}, {0x1d53f, 0x1d53f}, {0x1d545, 0x1d545}, {0x1d547, 0x1d549},
    {0x1d551, 0x1d551}, {0x1d6a6, 0x1d6a7}, {0x1d7cc, 0x1d7cd}, {0x1da8c, 0x1da9a},
    {0x1daa0, 0x1daa0}, {0x1dab0, 0x1deff}, {0x1df1f, 0x1dfff}, {0x1e007, 0x1e007},
    {0x1e019, 0x1e01a}, {0x1e022, 0x1e022}, {0x1e025, 0x1e025}, {0x1e02b, 0x1e0ff},
    {0x1e12d, 0x1e12f}, {0x1e13e, 0x1e13f}, {0x1e14a, 0x1e14d}, {0x1e150, 0x1e28f},
    {0x1e2af, 0x1e2bf}, {0x1e2fa, 0x1e2fe}, {0x1e300, 0x1e7df}, {0x1e7e7, 0x1e7e7},
    {0x1e7ec, 0x1e7ec}, {0x1e7ef, 0x1e7ef}, {0x1e7ff, 0x1e7ff}, {0x1e8c5, 0x1e8c6},
    {0x1e8d7, 0x1e8ff}, {0x1e94c, 0x1e94f}, {0x1e95a, 0x1e95d}, {0x1e960, 0x1ec70},
    {0x1ecb5, 0x1ed00}, {0x1ed3e, 0x1edff}, {0x1ee04, 0x1ee04}, {0x1ee20, 0x1ee20},
    {0x1ee23, 0x1ee23}, {0x1ee25, 0x1ee26}, {0x1ee28, 0x1ee28}, {0x1ee33, 0x1ee33},
    {0x1ee38, 0x1ee38}, {0x1ee3a, 0x1ee3a}, {0x1ee3c, 0x1ee41}, {0x1ee43, 0x1ee46},
    {0x1ee48, 0x1ee48}, {0x1ee4a, 0x1ee4a}, {0x1ee4c, 0x1ee4c}, {0x1ee50, 0x1ee50},
    {0x1ee53, 0x1ee53}, {0x1ee55, 0x1ee56}, {0x1ee58, 0x1ee58}, {0x1ee5a, 0x1ee5a},
    {0x1ee5c, 0x1ee5c}, {0x1ee5e, 0x1ee5e}, {0x1ee60, 0x1ee60}, {0x1ee63, 0x1ee63},
    {0x1ee65, 0x1ee66}, {0x1ee6b, 0x1ee6b}, {0x1ee73, 0x1ee73}, {0x1ee78, 0x1ee78},
    {0x1ee7d, 0x1ee7d}, {0x1ee7f, 0x1ee7f}, {0x1ee8a, 0x1ee8a}, {0x1ee9c, 0x1eea0},
    {0x1eea4, 0x1eea4}, {0x1eeaa, 0x1eeaa}, {0x1eebc, 0x1eeef}, {0x1eef2, 0x1efff},
    {0x1f02c, 0x1f02f}, {0x1f094, 0x1f09f}, {0x1f0af, 0x1f0b0}, {0x1f0c0, 0x1f0c0},
    {0x1f0d0, 0x1f0d0}, {0x1f0f6, 0x1f0ff}, {0x1f1ae, 0x1f1e5}, {0x1f203, 0x1f20f},
    {0x1f23c, 0x1f23f}, {0x1f249, 0x1f24f}, {0x1f252, 0x1f25f}, {0x1f266, 0x1f2ff},
    {0x1f6d8, 0x1f6dc}, {0x1f6ed, 0x1f6ef}, {0x1f6fd, 0x1f6ff}, {0x1f774, 0x1f77f},
    {0x1f7d9, 0x1f7df}, {0x1f7ec, 0x1f7ef}, {0x1f7f1, 0x1f7ff}, {0x1f80c, 0x1f80f},
    {0x1f848, 0x1f84f}, {0x1f85a, 0x1f85f}, {0x1f888, 0x1f88f}, {0x1f8ae, 0x1f8af},
    {0x1f8b2, 0x1f8ff}, {0x1fa54, 0x1fa5f}, {0x1fa6e, 0x1fa6f}, {0x1fa75, 0x1fa77},
    {0x1fa7d, 0x1fa7f}, {0x1fa87, 0x1fa8f}, {0x1faad, 0x1faaf}, {0x1fabb, 0x1fabf},
    {0x1fac6, 0x1facf}, {0x1fada, 0x1fadf}, {0x1fae8, 0x1faef}, {0x1faf7, 0x1faff},
    {0x1fb93, 0x1fb93}, {0x1fbcb, 0x1fbef}, {0x1fbfa, 0x1ffff}, {0x2a6e0, 0x2a6ff},
    {0x2b739, 0x2b73f}, {0x2b81e, 0x2b81f}, {0x2cea2, 0x2ceaf}, {0x2ebe1, 0x2f7ff},
    {0x2fa1e, 0x2ffff}, {0x3134b, 0xe00ff}, {0xe01f0, 0x10ffff},
};
#define n_nonprintable (sizeof nonprintable / sizeof nonprintable[0])

/* Python's str.isprintable() for one code point >= 0x80 (Unicode 14.0, the
 * database of CPython 3.11). */
static bool printable(uint32_t cp)
{
    size_t lo = 0, hi = n_nonprintable;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < nonprintable[mid][0])
            hi = mid;
        else if (cp > nonprintable[mid][1])
            lo = mid + 1;
        else
            return false;
    }
    return true;
}

/* CPython's quote choice: ' unless the text has ' and no ". */
static char pick_quote(const char *s, size_t n)
{
    return memchr(s, '\'', n) && !memchr(s, '"', n) ? '"' : '\'';
}

/* unicode_repr() of CPython 3.11 (the str is valid UTF-8, checked on entry). */
static void repr_str(sbuf *b, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str, *end = s + n;
    char q = pick_quote(str, n);
    sb_putc(b, q);
    while (s < end) {
        const unsigned char *run = s;
        while (s < end && *s >= 0x20 && *s < 0x7f && *s != q && *s != '\\')
            s++;
        sb_put(b, (const char *)run, (size_t)(s - run));
        if (s == end)
            break;
        unsigned c = *s;
        if (c < 0x80) {
            s++;
            if (c == (unsigned char)q || c == '\\') {
                char t[2] = {'\\', (char)c};
                sb_put(b, t, 2);
            } else if (c == '\t')
                sb_put(b, "\\t", 2);
            else if (c == '\n')
                sb_put(b, "\\n", 2);
            else if (c == '\r')
                sb_put(b, "\\r", 2);
            else
                sb_hex(b, "\\x", c, 2);
            continue;
        }
        size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
        uint32_t cp = c & (0x7f >> len);
        for (size_t k = 1; k < len; k++)
            cp = cp << 6 | (s[k] & 0x3f);
        if (printable(cp))
            sb_put(b, (const char *)s, len);
        else if (cp <= 0xff)
            sb_hex(b, "\\x", cp, 2);
        else if (cp <= 0xffff)
            sb_hex(b, "\\u", cp, 4);
        else
            sb_hex(b, "\\U", cp, 8);
        s += len;
    }
    sb_putc(b, q);
}

/* bytes_repr() of CPython 3.11. */
static void repr_bytes(sbuf *b, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    char q = pick_quote(str, n);
    sb_putc(b, 'b');
    sb_putc(b, q);
    for (size_t k = 0; k < n; k++) {
        unsigned c = s[k];
        if (c == (unsigned char)q || c == '\\') {
            char t[2] = {'\\', (char)c};
            sb_put(b, t, 2);
        } else if (c == '\t')
            sb_put(b, "\\t", 2);
        else if (c == '\n')
            sb_put(b, "\\n", 2);
        else if (c == '\r')
            sb_put(b, "\\r", 2);
        else if (c < 0x20 || c >= 0x7f)
            sb_hex(b, "\\x", c, 2);
        else
            sb_putc(b, (char)c);
    }
    sb_putc(b, q);
}

/* The digits and exponent of "%.*e" output ("-1.25e-07" -> "125", -7). */
static size_t sci_digits(const char *t, char *digits, int *e)
{
    size_t nd = 0;
    for (t += *t == '-'; *t != 'e'; t++)
        if (*t != '.')
            digits[nd++] = *t;
    *e = atoi(t + 1);
    return nd;
}

static bool reads_back(const char *digits, size_t nd, int e, double want)
{
    char t[48];
    size_t n = 0;
    t[n++] = digits[0];
    t[n++] = '.';
    memcpy(t + n, digits + 1, nd - 1);
    n += nd - 1;
    snprintf(t + n, sizeof t - n, "e%d", e);
    return strtod(t, NULL) == want;
}

/* The next nd-digit decimal above (dir > 0) or below d.ddd * 10^e. */
static void step_digits(char *digits, size_t nd, int *e, int dir)
{
    size_t k = nd;
    if (dir > 0) {
        while (k > 0 && digits[k - 1] == '9')
            digits[--k] = '0';
        if (k == 0) {
            digits[0] = '1';
            ++*e;
        } else
            digits[k - 1]++;
    } else {
        while (k > 0 && digits[k - 1] == '0')
            digits[--k] = '9';
        digits[k - 1]--;
        if (digits[0] == '0') { /* 1.000e5 -> 9.999e4 */
            memset(digits, '9', nd);
            --*e;
        }
    }
}

/* Shortest digits that read back as d > 0, the nearest of those (David Gay's
 * mode 0, which CPython's repr uses).  The correctly rounded p-digit decimal
 * is the nearest candidate, but at a power of two the gap below d is half the
 * gap above, so it can miss while its neighbour on the other side reads back
 * (repr(2.0**-24) == '5.960464477539063e-08'). */
static size_t shortest_digits(double d, char *digits, int *e)
{
    char t[40];
    for (int p = 1;; p++) {
        snprintf(t, sizeof t, "%.*e", p - 1, d);
        size_t nd = sci_digits(t, digits, e);
        double r = strtod(t, NULL);
        if (r == d || p == 17) /* 17 significant digits always read back */
            return nd;
        char alt[24];
        int ae = *e;
        memcpy(alt, digits, nd);
        step_digits(alt, nd, &ae, r < d ? 1 : -1);
        if (reads_back(alt, nd, ae, d)) {
            memcpy(digits, alt, nd);
            *e = ae;
            return nd;
        }
    }
}

/* float_repr() of CPython 3.11: the shortest round-trip digits laid out as
 * format_float_short() does for 'r': exponent form when the decimal point
 * falls before -4 or after 16 digits. */
static void repr_float(sbuf *b, double d)
{
    if (isnan(d)) {
        sb_puts(b, "nan");
        return;
    }
    if (isinf(d)) {
        sb_puts(b, d < 0 ? "-inf" : "inf");
        return;
    }
    if (signbit(d))
        sb_putc(b, '-');
    if (d == 0) {
        sb_puts(b, "0.0");
        return;
    }
    char digits[24];
    int e;
    size_t nd = shortest_digits(fabs(d), digits, &e);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    int decpt = e + 1; /* d = 0.DIGITS * 10^decpt */
    if (decpt <= -4 || decpt > 16) {
        sb_putc(b, digits[0]);
        if (nd > 1) {
            sb_putc(b, '.');
            sb_put(b, digits + 1, nd - 1);
        }
        char ex[16];
        snprintf(ex, sizeof ex, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
        sb_puts(b, ex);
    } else if (decpt <= 0) {
        sb_puts(b, "0.");
        for (int k = 0; k < -decpt; k++)
            sb_putc(b, '0');
        sb_put(b, digits, nd);
    } else if ((size_t)decpt < nd) {
        sb_put(b, digits, (size_t)decpt);
        sb_putc(b, '.');
        sb_put(b, digits + decpt, nd - (size_t)decpt);
    } else {
        sb_put(b, digits, nd);
        for (size_t k = nd; k < (size_t)decpt; k++)
            sb_putc(b, '0');
        sb_puts(b, ".0");
    }
}

/* false: nested deeper than NEST_MAX */
static bool repr_value(sbuf *b, const mp_value *v, int depth)
{
    char t[24];
    switch ((mp_type)v->type) {
    case MP_T_NONE:
        sb_puts(b, "None");
        return true;
    case MP_T_BOOL:
        sb_puts(b, v->u.b ? "True" : "False");
        return true;
    case MP_T_INT:
        snprintf(t, sizeof t, "%" PRId64, v->u.i);
        sb_puts(b, t);
        return true;
    case MP_T_FLOAT:
        repr_float(b, v->u.d);
        return true;
    case MP_T_STR:
        repr_str(b, v->u.s.p, v->u.s.len);
        return true;
    case MP_T_BYTES:
        repr_bytes(b, v->u.s.p, v->u.s.len);
        return true;
    case MP_T_LIST:
    case MP_T_TUPLE: {
        bool list = v->type == MP_T_LIST;
        if (depth >= NEST_MAX)
            return false;
        sb_putc(b, list ? '[' : '(');
        for (size_t j = 0; j < v->u.q.len; j++) {
            if (j)
                sb_put(b, ", ", 2);
            if (!repr_value(b, v->u.q.items[j], depth + 1))
                return false;
        }
        if (!list && v->u.q.len == 1)
            sb_putc(b, ',');
        sb_putc(b, list ? ']' : ')');
        return true;
    }
    case MP_T_DICT: {
        const mp__dict *d = v->u.dict;
        bool first = true;
        if (depth >= NEST_MAX)
            return false;
        sb_putc(b, '{');
        for (size_t j = 0; j < d->n; j++) {
            if (!d->ent[j].key)
                continue;
            if (!first)
                sb_put(b, ", ", 2);
            first = false;
            if (!repr_value(b, d->ent[j].key, depth + 1))
                return false;
            sb_put(b, ": ", 2);
            if (!repr_value(b, d->ent[j].val, depth + 1))
                return false;
        }
        sb_putc(b, '}');
        return true;
    }
    }
    return true;
}

mp_status mp_value_repr(const mp_value *v, char **out)
{
    if (!v || !out)
        return mp__err(MP_EINVAL, "value.repr: NULL %s", v ? "output" : "value");
    sbuf b = {0};
    if (!repr_value(&b, v, 0)) {
        free(b.p);
        too_deep("value.repr");
        return MP_EINVAL;
    }
    if (!sb_grow(&b, 0)) {
        free(b.p);
        return mp__err(MP_ENOMEM, "value.repr: out of memory");
    }
    b.p[b.len] = 0;
    *out = b.p;
    return MP_OK;
}
