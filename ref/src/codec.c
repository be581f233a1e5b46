/* The wire form of values: msgpack.
 *
 *   None nil | bool true/false | int the smallest int/uint form (int64 range)
 *   float float64 (float32 accepted) | str str (UTF-8) | bytes bin
 *   list array | tuple ext type 1 whose payload is exactly one array
 *   dict map, in insertion order
 *
 * The encoder is msgpack-c's packer writing into a buffer sized exactly by a
 * first pass (one allocation; the queue can encode straight into its shared
 * ring).  The decoder is written against the format rather than with
 * msgpack_unpack(), because msgpack-c allocates containers from their declared
 * counts before reading them: five bytes claiming 2^32 elements would cost
 * gigabytes.  Here every declared element must be backed by at least one byte
 * of input before anything is allocated, so memory stays proportional to the
 * input, and nesting is bounded by MP_VALUE_MAX_DEPTH.
 *
 * Arrays of values with no list around them (codec.h) use the same pieces:
 * the pool frames a task's arguments and a task's results that way. */
#include "codec.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#define EXT_TUPLE 1

/* ------------------------------------------------------------------ sizing */

static size_t int_len(int64_t d)
{
    if (d < -(1LL << 5))
        return d < -(1LL << 31) ? 9 : d < -(1LL << 15) ? 5 : d < -(1LL << 7) ? 3 : 2;
    if (d < (1 << 7))
        return 1;
    return d < (1 << 8) ? 2 : d < (1LL << 16) ? 3 : d < (1LL << 32) ? 5 : 9;
}

static size_t count_hdr(size_t n) { return n < 16 ? 1 : n < 65536 ? 3 : 5; }
static size_t str_hdr(size_t n) { return n < 32 ? 1 : n < 256 ? 2 : n < 65536 ? 3 : 5; }
static size_t bin_hdr(size_t n) { return n < 256 ? 2 : n < 65536 ? 3 : 5; }

static size_t ext_hdr(size_t n)
{
    if (n == 1 || n == 2 || n == 4 || n == 8 || n == 16)
        return 2;
    return n < 256 ? 3 : n < 65536 ? 4 : 6;
}

static mp_status too_big(const char *what, size_t n)
{
    return mp__err(MP_EMSGSIZE, "value.encode: %s of %zu exceeds msgpack's 2^32-1 limit", what, n);
}

static mp_status value_size(const mp_value *v, int depth, size_t *out);

/* The array inside a tuple's ext, or a list. */
static mp_status seq_size(const mp_value *v, int depth, size_t *out)
{
    size_t n = v->u.q.len, total = count_hdr(n);
    if (n > UINT32_MAX)
        return too_big("a sequence", n);
    for (size_t j = 0; j < n; j++) {
        size_t s;
        mp_status st = value_size(v->u.q.items[j], depth, &s);
        if (st)
            return st;
        total += s;
    }
    *out = total;
    return MP_OK;
}

/* The exact encoded size of v at nesting `depth`; MP_EINVAL for a NULL
 * value or nesting past MP_VALUE_MAX_DEPTH, MP_EMSGSIZE past msgpack's limits. */
static mp_status value_size(const mp_value *v, int depth, size_t *out)
{
    if (!v)
        return mp__err(MP_EINVAL, "value.encode: NULL value");
    mp_status st;
    switch ((mp_type)v->type) {
    case MP_T_NONE:
    case MP_T_BOOL:
        *out = 1;
        return MP_OK;
    case MP_T_INT:
        *out = int_len(v->u.i);
        return MP_OK;
    case MP_T_FLOAT:
        *out = 9;
        return MP_OK;
    case MP_T_STR:
    case MP_T_BYTES:
        if (v->u.s.len > UINT32_MAX)
            return too_big(v->type == MP_T_STR ? "a str" : "a bytes", v->u.s.len);
        *out = (v->type == MP_T_STR ? str_hdr(v->u.s.len) : bin_hdr(v->u.s.len)) + v->u.s.len;
        return MP_OK;
    default:
        break;
    }
    if (depth >= MP_VALUE_MAX_DEPTH)
        return mp__err(MP_EINVAL, "value.encode: nested deeper than %d", MP_VALUE_MAX_DEPTH);
    if (v->type == MP_T_LIST)
        return seq_size(v, depth + 1, out);
    if (v->type == MP_T_TUPLE) {
        size_t inner;
        if ((st = seq_size(v, depth + 1, &inner)))
            return st;
        if (inner > UINT32_MAX)
            return too_big("a tuple's payload", inner);
        *out = ext_hdr(inner) + inner;
        return MP_OK;
    }
    const mp__dict *d = v->u.dict;
    if (d->live > UINT32_MAX)
        return too_big("a dict", d->live);
    size_t total = count_hdr(d->live);
    for (size_t j = 0; j < d->n; j++) {
        size_t ks, vs;
        if (!d->ent[j].key)
            continue;
        if ((st = value_size(d->ent[j].key, depth + 1, &ks)) ||
            (st = value_size(d->ent[j].val, depth + 1, &vs)))
            return st;
        total += ks + vs;
    }
    *out = total;
    return MP_OK;
}

mp_status mp__value_encoded_size(const mp_value *v, size_t *len) { return value_size(v, 0, len); }

/* ----------------------------------------------------------------- packing */

typedef struct wbuf {
    char *p, *end;
} wbuf;

/* msgpack-c's write callback: copies into the exactly sized buffer. */
static int wb_write(void *data, const char *buf, size_t len)
{
    wbuf *w = data;
    /* Sizes come from value_size(); a mismatch is a bug, never input. */
    assert((size_t)(w->end - w->p) >= len);
    if ((size_t)(w->end - w->p) < len)
        return -1;
    memcpy(w->p, buf, len);
    w->p += len;
    return 0;
}

/* Packs v (already sized by value_size, so nothing can fail here). */
static void pack(msgpack_packer *pk, const mp_value *v)
{
    switch ((mp_type)v->type) {
    case MP_T_NONE:
        msgpack_pack_nil(pk);
        return;
    case MP_T_BOOL:
        if (v->u.b)
            msgpack_pack_true(pk);
        else
            msgpack_pack_false(pk);
        return;
    case MP_T_INT:
        msgpack_pack_int64(pk, v->u.i);
        return;
    case MP_T_FLOAT:
        msgpack_pack_double(pk, v->u.d);
        return;
    case MP_T_STR:
        msgpack_pack_str_with_body(pk, v->u.s.p, v->u.s.len);
        return;
    case MP_T_BYTES:
        msgpack_pack_bin_with_body(pk, v->u.s.p, v->u.s.len);
        return;
    case MP_T_TUPLE:
    case MP_T_LIST:
        if (v->type == MP_T_TUPLE) {
            /* Recomputing the payload size costs O(size x tuple nesting),
             * bounded by MP_VALUE_MAX_DEPTH; storing it would grow every value. */
            size_t inner = 0;
            mp_status st = seq_size(v, 0, &inner); /* checked by the sizing pass */
            assert(st == MP_OK);
            (void)st;
            msgpack_pack_ext(pk, inner, EXT_TUPLE);
        }
        msgpack_pack_array(pk, v->u.q.len);
        for (size_t j = 0; j < v->u.q.len; j++)
            pack(pk, v->u.q.items[j]);
        return;
    case MP_T_DICT: {
        const mp__dict *d = v->u.dict;
        msgpack_pack_map(pk, d->live);
        for (size_t j = 0; j < d->n; j++) {
            if (!d->ent[j].key)
                continue;
            pack(pk, d->ent[j].key);
            pack(pk, d->ent[j].val);
        }
        return;
    }
    }
}

void mp__value_encode_into(const mp_value *v, void *buf, size_t len)
{
    wbuf w = {buf, (char *)buf + len};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &w, wb_write);
    pack(&pk, v);
    assert(w.p == w.end);
}

/* Contract in value.h. */
mp_status mp__value_encode_ex(const mp_value *v, size_t headroom, void **buf, size_t *len)
{
    size_t n;
    mp_status st = value_size(v, 0, &n);
    if (st)
        return st;
    if (n > SIZE_MAX - headroom)
        return too_big("an encoding", n);
    char *p = malloc(headroom + n);
    if (!p)
        return mp__err(MP_ENOMEM, "value.encode: out of memory for %zu bytes", headroom + n);
    mp__value_encode_into(v, p + headroom, n);
    *buf = p;
    *len = headroom + n;
    return MP_OK;
}

mp_status mp_value_encode(const mp_value *v, void **buf, size_t *len)
{
    if (!v || !buf || !len)
        return mp__err(MP_EINVAL, "value.encode: NULL %s", v ? "output" : "value");
    return mp__value_encode_ex(v, 0, buf, len);
}

/* ------------------------------------------------- arrays of values (codec.h) */

/* Contract in codec.h.  Sizes without writing: value_size walks the same
 * cases as pack, so mp__values_encode_into can assert that it wrote exactly
 * len. */
mp_status mp__values_encoded_size(const mp_value *const *v, size_t n, size_t *len)
{
    if (n > UINT32_MAX)
        return too_big("an array", n);
    size_t total = count_hdr(n);
    for (size_t j = 0; j < n; j++) {
        size_t s;
        mp_status st = value_size(v[j], 0, &s);
        if (st)
            return st;
        total += s;
    }
    *len = total;
    return MP_OK;
}

/* Contract in codec.h.  buf must hold len bytes, len from
 * mp__values_encoded_size for the same values (asserted at the end). */
void mp__values_encode_into(const mp_value *const *v, size_t n, void *buf, size_t len)
{
    wbuf w = {buf, (char *)buf + len};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &w, wb_write);
    msgpack_pack_array(&pk, n);
    for (size_t j = 0; j < n; j++)
        pack(&pk, v[j]);
    assert(w.p == w.end);
}

/* Contract in codec.h.  n <= UINT32_MAX (asserted: the caller sized the
 * array with mp__values_encoded_size, which refuses more). */
size_t mp__array_header_encode(size_t n, void *buf)
{
    assert(n <= UINT32_MAX);
    size_t len = count_hdr(n);
    wbuf w = {buf, (char *)buf + len};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &w, wb_write);
    msgpack_pack_array(&pk, n);
    assert(w.p == w.end);
    return len;
}

/* ---------------------------------------------------------------- decoding */

typedef mp__decoder dec; /* codec.h */

static mp_status bad(const dec *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Records MP_EPROTO with the message and the byte offset of d->p. */
static mp_status bad(const dec *d, const char *fmt, ...)
{
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return mp__err(MP_EPROTO, "value.decode: %s (at byte %zu)", what, (size_t)(d->p - d->start));
}

static size_t left(const dec *d) { return (size_t)(d->end - d->p); }

static uint64_t be(const uint8_t *p, size_t n)
{
    uint64_t x = 0;
    for (size_t k = 0; k < n; k++)
        x = x << 8 | p[k];
    return x;
}

/* An n-byte big-endian field; false when the input ends first. */
static bool field(dec *d, size_t n, uint64_t *x)
{
    if (left(d) < n)
        return false;
    *x = be(d->p, n);
    d->p += n;
    return true;
}

/* Every dec_* function writes *out only on success. */
static mp_status dec_value(dec *d, int depth, mp_value **out);

/* The first byte of an int or a float. */
static bool is_number(uint8_t c) { return c <= 0x7f || c >= 0xe0 || (c >= 0xca && c <= 0xd3); }

/* Decode n values of nesting depth `depth` into items[0..n); *got counts
 * those decoded, also on failure.  With MP__DEC_BULK the numbers of the run
 * take their nodes from one block (see codec.h); a nested container starts
 * its own. */
static mp_status dec_items(dec *d, int depth, size_t n, mp_value **items, size_t *got)
{
    mp__vblock *outer = d->blk, *blk = NULL;
    mp_status st = MP_OK;
    d->blk = NULL;
    for (size_t j = 0; j < n; j++) {
        if ((d->flags & MP__DEC_BULK) && !blk && n - j >= MP__BULK_MIN && d->p < d->end &&
            is_number(*d->p))
            d->blk = blk = mp__vblock_new(n - j);
        if ((st = dec_value(d, depth, &items[j])))
            break;
        *got = j + 1;
    }
    mp__vblock_done(blk);
    d->blk = outer;
    return st;
}

/* n items of a list or tuple (type t); MP_EPROTO past MP_VALUE_MAX_DEPTH
 * or when the input cannot hold n items, before anything is allocated. */
static mp_status dec_seq(dec *d, int depth, uint64_t n, mp_type t, mp_value **out)
{
    if (depth >= MP_VALUE_MAX_DEPTH)
        return bad(d, "nested deeper than %d", MP_VALUE_MAX_DEPTH);
    if (n > left(d)) /* each item takes at least one byte */
        return bad(d, "%s of %llu items longer than the input", t == MP_T_LIST ? "array" : "tuple",
                   (unsigned long long)n);
    mp_value *v = mp__seq_new(t, (size_t)n);
    if (!v)
        return MP_ENOMEM;
    mp_status st = dec_items(d, depth + 1, (size_t)n, v->u.q.items, &v->u.q.len);
    if (st) {
        mp_value_free(v);
        return st;
    }
    *out = v;
    return MP_OK;
}

/* n key/value pairs into a dict; keys must be hashable, and the last of
 * equal keys wins (Python's dict(pairs)).  Input must hold 2n bytes first. */
static mp_status dec_map(dec *d, int depth, uint64_t n, mp_value **out)
{
    if (depth >= MP_VALUE_MAX_DEPTH)
        return bad(d, "nested deeper than %d", MP_VALUE_MAX_DEPTH);
    if (n > left(d) / 2)
        return bad(d, "map of %llu pairs longer than the input", (unsigned long long)n);
    mp_value *v = mp__dict_new((size_t)n);
    if (!v)
        return MP_ENOMEM;
    mp__vblock *outer = d->blk;
    d->blk = NULL; /* keys and values take malloc'd nodes */
    for (size_t j = 0; j < n; j++) {
        mp_value *k = NULL, *x = NULL;
        const uint8_t *at = d->p;
        mp_status st = dec_value(d, depth + 1, &k);
        if (!st && !mp__hashable(k)) {
            d->p = at;
            st = bad(d, "unhashable map key (a %s)",
                     k->type == MP_T_LIST   ? "list"
                     : k->type == MP_T_DICT ? "dict"
                                            : "tuple holding one");
        }
        if (!st)
            st = dec_value(d, depth + 1, &x);
        if (!st)
            st = mp_dict_set(v, k, x); /* takes k and x; equal keys: the last value wins */
        else {
            mp_value_free(k);
            mp_value_free(x);
        }
        if (st) {
            mp_value_free(v);
            d->blk = outer;
            return st;
        }
    }
    d->blk = outer;
    *out = v;
    return MP_OK;
}

/* A str (UTF-8 checked) or bin of n bytes (type t). */
static mp_status dec_blob(dec *d, uint64_t n, mp_type t, mp_value **out)
{
    if (n > left(d))
        return bad(d, "%s of %llu bytes longer than the input", t == MP_T_STR ? "str" : "bin",
                   (unsigned long long)n);
    if (t == MP_T_STR && !(d->flags & MP__DEC_TRUSTED) &&
        !mp__utf8_valid((const char *)d->p, (size_t)n))
        return bad(d, "str of %llu bytes is not valid UTF-8", (unsigned long long)n);
    mp_value *v = mp__blob_new(t, (size_t)n);
    if (!v)
        return MP_ENOMEM;
    memcpy(v->u.s.p, d->p, (size_t)n);
    d->p += n;
    *out = v;
    return MP_OK;
}

/* An ext of n payload bytes: only type 1 (a tuple), whose payload must be
 * exactly one array. */
static mp_status dec_ext(dec *d, int depth, uint64_t n, mp_value **out)
{
    uint64_t type;
    if (!field(d, 1, &type))
        return bad(d, "truncated ext header");
    if ((int8_t)type != EXT_TUPLE)
        return bad(d, "unknown ext type %d", (int8_t)type);
    if (n > left(d))
        return bad(d, "ext of %llu bytes longer than the input", (unsigned long long)n);
    dec sub = {d->p, d->p + n, d->start, d->flags, NULL};
    uint64_t count = 0;
    uint8_t c = 0;
    if (n == 0 || ((c = *sub.p++) & 0xf0) != 0x90) {
        if (c == 0xdc || c == 0xdd) {
            if (!field(&sub, c == 0xdc ? 2 : 4, &count))
                return bad(&sub, "truncated tuple header");
        } else
            return bad(d, "tuple payload is not an array");
    } else
        count = c & 0x0f;
    mp_value *t = NULL;
    mp_status st = dec_seq(&sub, depth, count, MP_T_TUPLE, &t);
    if (st)
        return st;
    if (sub.p != sub.end) {
        mp_value_free(t);
        return bad(&sub, "%llu bytes after the array in a tuple",
                   (unsigned long long)(sub.end - sub.p));
    }
    d->p = sub.end;
    *out = t;
    return MP_OK;
}

/* A value made by a constructor: MP_ENOMEM when it could not be made. */
static mp_status mk(mp_value *v, mp_value **out)
{
    if (!v)
        return MP_ENOMEM;
    *out = v;
    return MP_OK;
}

/* An int or a float: from the current block (MP__DEC_BULK), else malloc'd. */
static mp_status mk_int(dec *d, int64_t i, mp_value **out)
{
    return mk(d->blk ? mp__vblock_int(d->blk, i) : mp_int(i), out);
}

static mp_status mk_float(dec *d, double f, mp_value **out)
{
    return mk(d->blk ? mp__vblock_float(d->blk, f) : mp_float(f), out);
}

/* The error of a type byte c whose length or value field is cut short. */
static mp_status truncated_after(dec *d, uint8_t c)
{
    return bad(d, "truncated input after type byte 0x%02x", c);
}

/* float 32 (0xca) and float 64 (0xcb). */
static mp_status dec_float(dec *d, uint8_t c, mp_value **out)
{
    uint64_t x;
    if (!field(d, c == 0xca ? 4 : 8, &x))
        return truncated_after(d, c);
    if (c == 0xca) {
        uint32_t u = (uint32_t)x;
        float f;
        memcpy(&f, &u, sizeof f);
        return mk_float(d, f, out);
    }
    double f;
    memcpy(&f, &x, sizeof f);
    return mk_float(d, f, out);
}

/* uint 8..64 (0xcc..0xcf): past the int64 range is an error, not a wrap. */
static mp_status dec_uint(dec *d, uint8_t c, mp_value **out)
{
    uint64_t x;
    if (!field(d, (size_t)1 << (c - 0xcc), &x))
        return truncated_after(d, c);
    if (x > INT64_MAX) {
        d->p -= 9;
        return bad(d, "integer %llu out of the int64 range", (unsigned long long)x);
    }
    return mk_int(d, (int64_t)x, out);
}

/* int 8..64 (0xd0..0xd3), sign-extended. */
static mp_status dec_int(dec *d, uint8_t c, mp_value **out)
{
    uint64_t x;
    size_t n = (size_t)1 << (c - 0xd0);
    if (!field(d, n, &x))
        return truncated_after(d, c);
    int64_t i = n == 8 ? (int64_t)x : (int64_t)(x << (64 - 8 * n)) >> (64 - 8 * n);
    return mk_int(d, i, out);
}

/* The families with a length or count field after the type byte: bin 8..32,
 * ext 8..32, fixext 1..16 (length in the type byte), str 8..32, array 16/32,
 * map 16/32.  Any other byte here is invalid (0xc1). */
static mp_status dec_sized(dec *d, int depth, uint8_t c, mp_value **out)
{
    uint64_t n;
    if (c >= 0xd4 && c <= 0xd8) /* fixext */
        return dec_ext(d, depth, (uint64_t)1 << (c - 0xd4), out);
    if (c >= 0xc4 && c <= 0xc9) { /* bin, ext: 1, 2, 4 bytes */
        uint8_t first = c <= 0xc6 ? 0xc4 : 0xc7;
        if (!field(d, (size_t)1 << (c - first), &n))
            return truncated_after(d, c);
        return c <= 0xc6 ? dec_blob(d, n, MP_T_BYTES, out) : dec_ext(d, depth, n, out);
    }
    if (c >= 0xd9 && c <= 0xdb) { /* str: 1, 2, 4 bytes */
        if (!field(d, (size_t)1 << (c - 0xd9), &n))
            return truncated_after(d, c);
        return dec_blob(d, n, MP_T_STR, out);
    }
    if (c >= 0xdc && c <= 0xdf) { /* array, map: 2, 4 bytes */
        if (!field(d, (c & 1) ? 4 : 2, &n))
            return truncated_after(d, c);
        return c <= 0xdd ? dec_seq(d, depth, n, MP_T_LIST, out) : dec_map(d, depth, n, out);
    }
    d->p--; /* 0xc1: never used */
    return bad(d, "invalid msgpack byte 0x%02x", c);
}

/* One value at d->p, nested `depth` deep: the fix families (one byte holds
 * the type and a small value, length or count) first, as they are the most
 * common, then one step per family.  Writes *out only on success. */
static mp_status dec_value(dec *d, int depth, mp_value **out)
{
    if (d->p >= d->end)
        return bad(d, "truncated input");
    uint8_t c = *d->p++;
    if (c <= 0x7f)
        return mk_int(d, c, out);
    if (c >= 0xe0)
        return mk_int(d, (int8_t)c, out);
    if (c <= 0x8f)
        return dec_map(d, depth, c & 0x0f, out);
    if (c <= 0x9f)
        return dec_seq(d, depth, c & 0x0f, MP_T_LIST, out);
    if (c <= 0xbf)
        return dec_blob(d, c & 0x1f, MP_T_STR, out);
    if (c == 0xc0)
        return mk(mp_none(), out);
    if (c == 0xc2 || c == 0xc3)
        return mk(mp_bool(c == 0xc3), out);
    if (c == 0xca || c == 0xcb)
        return dec_float(d, c, out);
    if (c >= 0xcc && c <= 0xcf)
        return dec_uint(d, c, out);
    if (c >= 0xd0 && c <= 0xd3)
        return dec_int(d, c, out);
    return dec_sized(d, depth, c, out);
}

/* Contract in mp.h: exactly one value filling buf; MP_EPROTO otherwise. */
mp_status mp_value_decode(const void *buf, size_t len, mp_value **out)
{
    if (!out || (!buf && len))
        return mp__err(MP_EINVAL, "value.decode: NULL %s", out ? "buffer" : "output");
    if (len == 0)
        return mp__err(MP_EPROTO, "value.decode: empty input");
    dec d = {buf, (const uint8_t *)buf + len, buf, 0, NULL};
    mp_value *v = NULL;
    mp_status st = dec_value(&d, 0, &v);
    if (st)
        return st;
    if (d.p != d.end) {
        mp_value_free(v);
        return bad(&d, "%llu trailing bytes after the value", (unsigned long long)(d.end - d.p));
    }
    *out = v;
    return MP_OK;
}

/* Contract in codec.h.  Reads only the array header; a count larger than
 * the bytes left is refused here, so that no caller allocates for it. */
mp_status mp__values_open(mp__decoder *d, const void *buf, size_t len, unsigned flags, size_t *n)
{
    *d = (dec){buf, (const uint8_t *)buf + len, buf, flags, NULL};
    uint64_t count = 0;
    uint8_t c = len ? *d->p++ : 0;
    if ((c & 0xf0) == 0x90)
        count = c & 0x0f;
    else if ((c != 0xdc && c != 0xdd) || !field(d, c == 0xdc ? 2 : 4, &count))
        return bad(d, "not an array of values");
    if (count > left(d)) /* each item takes at least one byte */
        return bad(d, "array of %llu items longer than the input", (unsigned long long)count);
    *n = (size_t)count;
    return MP_OK;
}

mp_status mp__values_next(mp__decoder *d, mp_value **out) { return dec_value(d, 0, out); }

/* Contract in codec.h.  On any error the items decoded so far are freed and
 * *items, *n are left untouched. */
mp_status mp__values_decode(const void *buf, size_t len, unsigned flags, mp_value ***items,
                            size_t *n)
{
    dec d;
    size_t count;
    mp_status st = mp__values_open(&d, buf, len, flags, &count);
    if (st)
        return st;
    mp_value **v = malloc((count ? count : 1) * sizeof *v);
    if (!v)
        return mp__err(MP_ENOMEM, "value.decode: out of memory for %zu items", count);
    size_t got = 0;
    st = dec_items(&d, 0, count, v, &got);
    if (!st && d.p != d.end)
        st = bad(&d, "%llu trailing bytes after the array", (unsigned long long)(d.end - d.p));
    if (st) {
        for (size_t j = 0; j < got; j++)
            mp_value_free(v[j]);
        free(v);
        return st;
    }
    *items = v;
    *n = count;
    return MP_OK;
}
