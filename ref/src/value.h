/* Internal layout of mp_value, shared by the rooms of the value type:
 *   value.c       the core: construction, scalar blocks, UTF-8, free, copy,
 *                 typed access, sequences
 *   value_dict.c  keys: the keyed hash, equality (which must agree with it)
 *                 and the compact dict
 *   value_repr.c  repr(), as CPython 3.11 prints
 *   codec.c       the wire form (msgpack)
 * plus the encoder entry points the queue and the pipe use to avoid a copy. */
#ifndef MP_VALUE_H
#define MP_VALUE_H

#include "mp_internal.h"

/* ---- fast-path codec API for the queue and the pipe ------------------------
 * mp__value_encoded_size: exact size of v's encoding; MP_EINVAL for a NULL
 * value anywhere or nesting deeper than MP_VALUE_MAX_DEPTH, MP_EMSGSIZE for a
 * str/bytes/container too large for msgpack (> 2^32-1).
 * mp__value_encode_into: write that many bytes at buf (len must be the size
 * just returned for the same, unchanged value; asserted).
 * mp__value_encode_ex: mp_value_encode with `headroom` bytes left free before
 * the encoding (room for a frame header); *len counts the headroom too. */
MP__HIDDEN mp_status mp__value_encoded_size(const mp_value *v, size_t *len);
MP__HIDDEN void mp__value_encode_into(const mp_value *v, void *buf, size_t len);
MP__HIDDEN mp_status mp__value_encode_ex(const mp_value *v, size_t headroom, void **buf,
                                         size_t *len);

/* ---- layout ----------------------------------------------------------------*/
enum {
    MP__VF_STATIC = 1, /* the None/True/False singletons: never freed */
    MP__VF_INLINE = 2, /* str bytes or sequence items live right after the value */
    MP__VF_BLOCK = 4   /* a scalar node of an mp__vblock (see below) */
};

typedef struct mp__dent {
    mp_value *key; /* NULL: deleted (a tombstone until the next compaction) */
    mp_value *val;
    uint64_t hash;
} mp__dent;

typedef struct mp__dict {
    mp__dent *ent;   /* insertion order */
    uint32_t *index; /* open addressing, entry number + 1, 0 = empty; NULL while small */
    size_t n;        /* entries used, tombstones included */
    size_t live;
    size_t cap;
    size_t mask; /* index size - 1 */
} mp__dict;

struct mp_value {
    uint8_t type; /* mp_type */
    uint8_t flags;
    uint32_t blk; /* MP__VF_BLOCK: this node's index in its block */
    union {
        bool b;
        int64_t i;
        double d;
        struct {
            char *p; /* NUL-terminated (not counted in len) */
            size_t len;
        } s;
        struct {
            mp_value **items;
            size_t len, cap;
        } q;
        mp__dict *dict; /* allocated with the value (see value_dict.c) */
    } u;
};

/* Constructors the decoder uses: a sequence with room for n items stored
 * inline; a dict sized for n keys; a str/bytes of len uninitialised bytes. */
MP__HIDDEN mp_value *mp__seq_new(mp_type t, size_t n);
MP__HIDDEN mp_value *mp__dict_new(size_t n);
MP__HIDDEN mp_value *mp__blob_new(mp_type t, size_t len);
MP__HIDDEN bool mp__hashable(const mp_value *k);

/* Scalars in bulk.  A decoder of a long sequence takes its int and float
 * nodes from one block (one allocation, pages populated in one go when it is
 * large) instead of one malloc each; each node is still an ordinary value
 * that mp_value_free releases, and the block goes when its last node does.
 * A million-result map is a million such nodes.  new(n): room for n nodes, or
 * NULL (take malloc'd nodes then).  done(): no more nodes will be taken. */
typedef struct mp__vblock mp__vblock;
MP__HIDDEN mp__vblock *mp__vblock_new(size_t n);
MP__HIDDEN mp_value *mp__vblock_int(mp__vblock *b, int64_t i);
MP__HIDDEN mp_value *mp__vblock_float(mp__vblock *b, double d);
MP__HIDDEN void mp__vblock_done(mp__vblock *b);
/* UTF-8 as Python's codec accepts it (no surrogates, overlongs, > U+10FFFF). */
MP__HIDDEN bool mp__utf8_valid(const char *s, size_t len);

/* ---- shared by value.c, value_dict.c and value_repr.c ----------------------
 * Values built with the API may nest without limit.  Walks that recurse stop
 * here, as Python's repr/copy/== stop at its recursion limit with
 * RecursionError: copy and repr fail with MP_EINVAL, equal says false, and a
 * tuple nested deeper is not a usable key.  free never fails: below this
 * depth it recurses, deeper containers wait on a heap stack (value.c). */
#define MP__NEST_MAX 1000

/* Records "<what>: nested deeper than MP__NEST_MAX" and returns MP_EINVAL. */
MP__HIDDEN mp_status mp__too_deep(const char *what);

/* bool, int or float: the types that compare (and hash) as numbers. */
static inline bool mp__is_num(const mp_value *v)
{
    return v->type == MP_T_BOOL || v->type == MP_T_INT || v->type == MP_T_FLOAT;
}

/* The integer of a bool or int value. */
static inline int64_t mp__int_of(const mp_value *v)
{
    return v->type == MP_T_BOOL ? v->u.b : v->u.i;
}

/* Add key k -> v to d, k hashable and known to be absent (a copy's keys).
 * Takes k and v on MP_OK; on MP_ENOMEM both stay the caller's. */
MP__HIDDEN mp_status mp__dict_add_new(mp__dict *d, mp_value *k, mp_value *v);
/* mp_dict_set, but a value it replaces is not freed: it goes to *old (the
 * caller's to free; NULL when none was replaced). */
MP__HIDDEN mp_status mp__dict_set_keep(mp_value *dv, mp_value *key, mp_value *val, mp_value **old);

#endif
