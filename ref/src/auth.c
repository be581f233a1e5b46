/* The manager's authentication: HMAC-SHA256 for the challenge/response
 * handshake, a constant-time comparison of digests and the random bytes of
 * nonces and the process authkey.  Every primitive is OpenSSL's libcrypto (or
 * the kernel's getrandom), never code of our own: this file only adapts
 * their calling conventions to mp.h's (size_t lengths, NULL with length 0,
 * mp_status).  Owns no state. */
#include "auth.h"
#include "manager.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

/* HMAC-SHA256 of msg under key into out[32] (mp.h [MGR-HMAC-RFC4231]).
 * Needs: key/msg non-NULL unless their length is 0; out non-NULL.
 * Returns MP_EINVAL for a NULL argument, MP_EOS if libcrypto fails. */
mp_status mp_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t msglen,
                         unsigned char out[32])
{
    if ((!key && keylen) || (!msg && msglen) || !out)
        return mp__err(MP_EINVAL, "hmac_sha256: NULL argument");
    static const unsigned char empty[1] = {0};
    unsigned char hashed[32];
    if (keylen > INT_MAX) {
        /* HMAC() takes an int key length.  RFC 2104 hashes a key longer than
         * the block before use, so hashing it here gives the same MAC. */
        if (!EVP_Digest(key, keylen, hashed, NULL, EVP_sha256(), NULL))
            return mp__err(MP_EOS, "hmac_sha256: libcrypto could not hash the key");
        key = hashed;
        keylen = sizeof hashed;
    }
    /* libcrypto refuses a NULL key even of length 0: give it an empty one. */
    unsigned int outlen = 0;
    if (!HMAC(EVP_sha256(), keylen ? key : empty, (int)keylen, msglen ? msg : empty, msglen, out,
              &outlen) ||
        outlen != 32)
        return mp__err(MP_EOS, "hmac_sha256: libcrypto failed");
    return MP_OK;
}

bool mp__digest_equal(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}

/* n unpredictable bytes into buf: the process authkey and handshake nonces.
 * The kernel's getrandom(2); should it be missing (ENOSYS: Linux < 3.17),
 * libcrypto's generator (seeded from /dev/urandom).  With neither there is no
 * secret to be had: abort rather than hand out a guessable key. */
void mp__mgr_random(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n) {
        ssize_t r = getrandom(p, n, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (n <= INT_MAX && RAND_bytes(p, (int)n) == 1)
                return;
            fputs("mp: no source of random bytes (getrandom, libcrypto): refusing to make a "
                  "guessable authkey or nonce\n",
                  stderr);
            abort();
        }
        p += r;
        n -= (size_t)r;
    }
}
