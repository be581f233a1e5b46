/* codec.c beyond one whole value (the declarations of the one-value entry
 * points are in value.h): arrays of values with no list around them, for a
 * component that frames several values in one message -- the pool's task
 * (its arguments) and result (its return values).
 *
 * The wire form is msgpack's array, so such a message is itself one valid
 * msgpack value (a list); only nesting is counted differently: each item is a
 * value of its own, so it may nest MP_VALUE_MAX_DEPTH levels as the same
 * value sent alone could. */
#ifndef MP_CODEC_H
#define MP_CODEC_H

#include "value.h"

/* Exact size of the array of v[0..n).  Errors as mp__value_encoded_size. */
MP__HIDDEN mp_status mp__values_encoded_size(const mp_value *const *v, size_t n, size_t *len);
/* Write it at buf; len must be the size just returned for the same values
 * (asserted). */
MP__HIDDEN void mp__values_encode_into(const mp_value *const *v, size_t n, void *buf, size_t len);

/* The header of an array of n items (n <= UINT32_MAX), for a writer that
 * appends the items one at a time with mp__value_encode_into.  Returns its
 * length, at most MP__ARRAY_HDR_MAX. */
#define MP__ARRAY_HDR_MAX 5
MP__HIDDEN size_t mp__array_header_encode(size_t n, void *buf);

/* Decoder options.
 * MP__DEC_TRUSTED: the bytes were written by this library's encoder from
 *   values it built (another process of the same program, through memory no
 *   one else maps): str is not validated as UTF-8 a second time.
 * MP__DEC_BULK: in a sequence, from the first number with at least
 *   MP__BULK_MIN items left, the ints and floats take their nodes from one
 *   mp__vblock (a million-result map is a million such nodes). */
enum { MP__DEC_TRUSTED = 1, MP__DEC_BULK = 2 };
#define MP__BULK_MIN 16

/* Decode an array written as above: *items (malloc'd, n entries; the caller
 * frees each value and the array) and *n.  The whole input must be the one
 * array.  MP_EPROTO for malformed input, MP_ENOMEM; nothing is returned then. */
MP__HIDDEN mp_status mp__values_decode(const void *buf, size_t len, unsigned flags,
                                       mp_value ***items, size_t *n);

/* The same array read one item at a time, so that a consumer can free each
 * item before the next is made (a worker running a chunk's arguments).
 * open: *n items follow (the buffer must stay unchanged while reading).
 * next: the next item (decoded as a value of its own).  Errors as above. */
typedef struct mp__decoder {
    const uint8_t *p, *end, *start;
    unsigned flags;  /* MP__DEC_* */
    mp__vblock *blk; /* MP__DEC_BULK: where the current sequence's numbers go */
} mp__decoder;
MP__HIDDEN mp_status mp__values_open(mp__decoder *d, const void *buf, size_t len, unsigned flags,
                                     size_t *n);
MP__HIDDEN mp_status mp__values_next(mp__decoder *d, mp_value **out);

#endif
