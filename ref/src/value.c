/* Values: what Python sends through queues and pipes -- the core.
 *
 * None/True/False are static singletons (no allocation; free ignores them).
 * str/bytes keep their bytes right after the value (one allocation), and so do
 * the items of a sequence made with a known size (decoder, mp_list_of).  Ints
 * and floats a decoder makes in bulk come from one block (mp__vblock).
 *
 * Owns: construction, scalar blocks, UTF-8 validation, free, copy, typed
 * access, sequences.  The dict, hashing and equality are in value_dict.c,
 * repr in value_repr.c, the wire form in codec.c; all share value.h. */
#include "value.h"

#include <assert.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static mp_value none_v = {.type = MP_T_NONE, .flags = MP__VF_STATIC};
static mp_value true_v = {.type = MP_T_BOOL, .flags = MP__VF_STATIC, .u.b = true};
static mp_value false_v = {.type = MP_T_BOOL, .flags = MP__VF_STATIC, .u.b = false};

/* Records MP_ENOMEM for `what`; returns NULL for the constructors to pass on. */
static mp_value *oom(const char *what)
{
    mp__err(MP_ENOMEM, "%s: out of memory", what);
    return NULL;
}

/* A malloc'd scalar node of type t (value unset), or NULL with MP_ENOMEM. */
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

/* Room for n scalar nodes in one allocation, mapped with its pages populated
 * from VBLOCK_MAP bytes; NULL when n is 0 or too large or memory runs out
 * (the caller then takes malloc'd nodes: mp__vblock_int/float accept NULL). */
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

/* Drop k references to b; the last one frees (or unmaps) it. */
static void vblock_unref(mp__vblock *b, size_t k)
{
    if (atomic_fetch_sub_explicit(&b->refs, k, memory_order_acq_rel) != k)
        return;
    if (b->mapped)
        munmap(b, b->bytes);
    else
        free(b);
}

/* The next node of b (one more reference on b), or a malloc'd node when b is
 * NULL or full; NULL with MP_ENOMEM when that fails. */
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

/* Release a node of a block (MP__VF_BLOCK): its block goes with its last node. */
static void vblock_release(mp_value *v)
{
    vblock_unref((mp__vblock *)((char *)(v - v->blk) - offsetof(mp__vblock, node)), 1);
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

/* A str or bytes (type t) of len bytes stored after the value, NUL-terminated,
 * contents unset; NULL with MP_ENOMEM. */
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

/* Contract in value.h.  Every byte is checked; ASCII 8 bytes at a time. */
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

/* Contract in mp.h: NULL with MP_EINVAL for a NULL pointer with len > 0 or
 * text that is not valid UTF-8 [VAL-STR-UTF8]. */
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

/* Contract in mp.h: a copy of len bytes; NULL with MP_EINVAL for a NULL
 * pointer with len > 0. */
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

/* A list or tuple (type t) with room for n items stored inline, len 0; NULL
 * with MP_ENOMEM. */
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

/* mp_list_of / mp_tuple_of: takes all n items whatever happens; NULL (every
 * item freed) when one is NULL or memory runs out. */
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

/* ------------------------------------------------------- free, copy, access */

typedef struct vstack {
    mp_value **v;
    size_t n, cap;
} vstack;

/* Frees v and everything in it, recursing below MP__NEST_MAX levels; deeper
 * containers are pushed on `later` for the caller to free from depth 0. */
static void free_rec(mp_value *v, int depth, vstack *later)
{
    if (!v || (v->flags & MP__VF_STATIC))
        return;
    if (v->flags & MP__VF_BLOCK) {
        vblock_release(v);
        return;
    }
    bool container = v->type == MP_T_LIST || v->type == MP_T_TUPLE || v->type == MP_T_DICT;
    if (container && depth >= MP__NEST_MAX) {
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

/* Contract in mp.h: NULL and the singletons are ignored; never fails, however
 * deep v nests [VAL-DEEP-NESTING]. */
void mp_value_free(mp_value *v)
{
    if (!v || (v->flags & MP__VF_STATIC))
        return;
    if (v->flags & MP__VF_BLOCK) {
        vblock_release(v);
        return;
    }
    vstack later = {0};
    free_rec(v, 0, &later);
    while (later.n)
        free_rec(later.v[--later.n], 0, &later);
    free(later.v);
}

mp_status mp__too_deep(const char *what)
{
    return mp__err(MP_EINVAL, "%s: nested deeper than %d (Python: RecursionError)", what,
                   MP__NEST_MAX);
}

/* A deep copy of v; NULL (with the error recorded) when memory runs out or v
 * nests deeper than MP__NEST_MAX.  The singletons are returned as they are. */
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
        if (depth >= MP__NEST_MAX) {
            mp__too_deep("value.copy");
            return NULL;
        }
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
        if (depth >= MP__NEST_MAX) {
            mp__too_deep("value.copy");
            return NULL;
        }
        if (!(c = mp__dict_new(0)))
            return NULL;
        for (size_t j = 0; j < d->n; j++) {
            const mp__dent *e = &d->ent[j];
            if (!e->key)
                continue;
            mp_value *k = copy_rec(e->key, depth + 1), *x = k ? copy_rec(e->val, depth + 1) : NULL;
            /* hashed anew: a copied NaN is a new NaN with a hash of its own */
            if (!x || mp__dict_add_new(c->u.dict, k, x)) {
                mp_value_free(k);
                mp_value_free(x);
                mp_value_free(c);
                return NULL;
            }
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
        *out = mp__int_of(v);
    return s;
}

mp_status mp_value_get_float(const mp_value *v, double *out)
{
    mp_status s = check_get(v, out, v && mp__is_num(v), "float");
    if (!s)
        *out = v->type == MP_T_FLOAT ? v->u.d : (double)mp__int_of(v);
    return s;
}

/* The bytes of a str or bytes value (type t): *p, and *len unless len is NULL. */
static mp_status get_blob(const mp_value *v, mp_type t, const char **p, size_t *len)
{
    mp_status s = check_get(v, p, v && v->type == t, t == MP_T_STR ? "str" : "bytes");
    if (!s) {
        *p = v->u.s.p;
        if (len)
            *len = v->u.s.len;
    }
    return s;
}

mp_status mp_value_get_str(const mp_value *v, const char **p, size_t *len)
{
    return get_blob(v, MP_T_STR, p, len);
}

mp_status mp_value_get_bytes(const mp_value *v, const void **p, size_t *len)
{
    const char *c;
    mp_status s = get_blob(v, MP_T_BYTES, p ? &c : NULL, len);
    if (!s)
        *p = c;
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

/* Contract in mp.h: takes item, also on failure (freed); MP_EINVAL for a NULL
 * item or the sequence itself, MP_ETYPE for a non-sequence [VAL-SEQ-ERRORS]. */
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

/* Contract in mp.h: *len = number of items of a list or tuple. */
mp_status mp_seq_len(const mp_value *q, size_t *len)
{
    mp_status s = check_seq(q, "seq.len");
    if (!s && !len)
        s = mp__err(MP_EINVAL, "seq.len: NULL output");
    if (!s)
        *len = q->u.q.len;
    return s;
}

/* Contract in mp.h: item i (negative counts from the end, as in Python), a
 * borrowed pointer; MP_EINDEX when out of range [VAL-SEQ-INDEX]. */
mp_status mp_seq_get(const mp_value *q, ptrdiff_t i, const mp_value **item)
{
    mp_status s = check_seq(q, "seq.get");
    if (!s && !item)
        s = mp__err(MP_EINVAL, "seq.get: NULL output");
    if (s)
        return s;
    size_t n = q->u.q.len;
    size_t j = i < 0 ? n - (size_t) - (i + 1) - 1 : (size_t)i; /* -i overflows for PTRDIFF_MIN */
    if (i < 0 ? (size_t) - (i + 1) >= n : j >= n)
        return mp__err(MP_EINDEX, "%s index out of range", type_names[q->type]);
    *item = q->u.q.items[j];
    return MP_OK;
}
