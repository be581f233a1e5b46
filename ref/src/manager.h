/* Internal pieces shared by the manager's client (manager_client.h) and its
 * server (manager_server.h): the wire constants and small msgpack writers. */
#ifndef MP_MANAGER_H
#define MP_MANAGER_H

#include "value.h"
#include "wait.h"

#include <string.h>

#define MGR__NONCE 32
#define MGR__DIGEST 32
#define MGR__TAG_CHALLENGE "#CHALLENGE#"
#define MGR__TAG_WELCOME "#WELCOME#"
#define MGR__TAG_FAILURE "#FAILURE#"
#define MGR__TAG_CH_LEN 11
#define MGR__TAG_OK_LEN 9
/* Handshake frames are small; a longer one is garbage (CPython: 256). */
#define MGR__HANDSHAKE_MAX 256

/* How the client (waiting for its reply) and the server (waiting for the next
 * request) poll before they sleep: wait.h, mp__wait_tunings.mgr. */

/* MGR__T_ITER (an iterator over a dict or list, made by their __iter__) is
 * not a typeid create() accepts: only the types before it are. */
enum {
    MGR__T_DICT,
    MGR__T_LIST,
    MGR__T_NS,
    MGR__T_VALUE,
    MGR__T_LOCK,
    MGR__T_EVENT,
    MGR__T_QUEUE,
    MGR__T_RLOCK,
    MGR__T_SEM,
    MGR__T_BSEM,
    MGR__T_COND,
    MGR__T_BARRIER,
    MGR__T_JQUEUE,
    MGR__T_ARRAY,
    MGR__T_ITER,
    MGR__T_COUNT
};
MP__HIDDEN extern const char *const mp__mgr_typeids[MGR__T_COUNT];
MP__HIDDEN int mp__mgr_typeid(const char *name); /* -1 when unknown */

MP__HIDDEN void mp__mgr_random(void *buf, size_t n);

/* The server; never returns.  lfd listens; sock_path/dir (may be NULL) are
 * removed when it ends; parent is the pid whose death ends it. */
MP__HIDDEN _Noreturn void mp__mgr_serve(int lfd, const unsigned char *key, size_t keylen,
                                        const char *sock_path, const char *dir, pid_t parent,
                                        bool tcp);

static inline void mgr__be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static inline uint32_t mgr__rd32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* msgpack writers for the envelopes; each returns the bytes written. */
static inline size_t mgr__uint_size(uint64_t u)
{
    return u < 128 ? 1 : u < 256 ? 2 : u < 65536 ? 3 : u <= UINT32_MAX ? 5 : 9;
}

static inline size_t mgr__put_uint(unsigned char *p, uint64_t u)
{
    if (u < 128) {
        p[0] = (unsigned char)u;
        return 1;
    }
    int n = u < 256 ? 1 : u < 65536 ? 2 : u <= UINT32_MAX ? 4 : 8;
    p[0] = n == 1 ? 0xcc : n == 2 ? 0xcd : n == 4 ? 0xce : 0xcf;
    for (int i = 0; i < n; i++)
        p[1 + i] = (unsigned char)(u >> (8 * (n - 1 - i)));
    return (size_t)n + 1;
}

static inline size_t mgr__array_size(size_t n) { return n < 16 ? 1 : n < 65536 ? 3 : 5; }

static inline size_t mgr__put_array(unsigned char *p, size_t n)
{
    if (n < 16) {
        p[0] = (unsigned char)(0x90 | n);
        return 1;
    }
    if (n < 65536) {
        p[0] = 0xdc;
        p[1] = (unsigned char)(n >> 8);
        p[2] = (unsigned char)n;
        return 3;
    }
    p[0] = 0xdd;
    mgr__be32(p + 1, (uint32_t)n);
    return 5;
}

static inline size_t mgr__str_size(size_t n)
{
    return n + (n < 32 ? 1 : n < 256 ? 2 : n < 65536 ? 3 : 5);
}

static inline size_t mgr__put_str(unsigned char *p, const char *s, size_t n)
{
    size_t h;
    if (n < 32) {
        p[0] = (unsigned char)(0xa0 | n);
        h = 1;
    } else if (n < 256) {
        p[0] = 0xd9;
        p[1] = (unsigned char)n;
        h = 2;
    } else if (n < 65536) {
        p[0] = 0xda;
        p[1] = (unsigned char)(n >> 8);
        p[2] = (unsigned char)n;
        h = 3;
    } else {
        p[0] = 0xdb;
        mgr__be32(p + 1, (uint32_t)n);
        h = 5;
    }
    memcpy(p + h, s, n);
    return h + n;
}

#endif
