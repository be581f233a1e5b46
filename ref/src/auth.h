/* The manager's authentication primitives (auth.c), on OpenSSL's libcrypto:
 * nothing cryptographic is written by hand in this library. */
#ifndef MP_AUTH_H
#define MP_AUTH_H

#include "mp_internal.h"

#include <stddef.h>

/* True when the n bytes at a and b are equal, in a time that depends on n
 * only (CRYPTO_memcmp), so that a peer timing our answer learns nothing about
 * how much of a forged digest was right. */
MP__HIDDEN bool mp__digest_equal(const void *a, const void *b, size_t n);

#endif
