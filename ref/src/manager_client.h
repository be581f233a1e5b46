/* Internal to the manager's client side, shared by its three files:
 *   manager_client.c  process-wide state, endpoints, connections and the call
 *                     (one request, one reply) -- the only file doing I/O with
 *                     a server;
 *   manager_start.c   starting the server process (unix or TCP listener),
 *                     connecting to a running one, stopping, the manager handle;
 *   manager_proxy.c   proxies: making one, the generic call, the typed calls.
 * The server (manager_*.c, manager_server.h) shares only manager.h. */
#ifndef MP_MANAGER_CLIENT_H
#define MP_MANAGER_CLIENT_H

#include "address.h"
#include "manager.h"

#include <pthread.h>
#include <sys/types.h>
#include <sys/un.h>

/* One server as seen from this process: its address, the authkey and the
 * idle authenticated connections (struct conn is manager_client.c's).  Shared,
 * counted, by the manager handle and its proxies; fields other than address,
 * key and keylen are guarded by mp__mgr_mu. */
typedef struct ep {
    long refs;
    char *address;
    unsigned char *key;
    size_t keylen;
    struct conn *idle, *all;
    struct ep *prev, *next;
} ep;

struct mp_manager {
    ep *ep;
    pid_t owner; /* the process that started the server; 0 when connected */
    pid_t pid;
    int pidfd;
    char *sock_path, *dir;
    bool closed, listed;
    struct mp_manager *prev, *next; /* started managers, for the exit handler */
};

struct mp_proxy {
    ep *ep;
    int64_t oid;
    int type;
    pid_t owner;
};

/* A parsed address: unix:PATH or tcp:HOST:PORT (address.h). */
typedef mp__addr addr;

/* ---- process-wide state (manager_client.c) ----
 * mp__mgr_mu guards every endpoint's lists and the list of started managers;
 * it is never held across I/O.  mp__mgr_authkey is the process authkey, made
 * before main() so that every child inherits it. */
MP__HIDDEN extern pthread_mutex_t mp__mgr_mu;
MP__HIDDEN extern mp_manager *mp__mgr_started;
MP__HIDDEN extern unsigned char mp__mgr_authkey[32];
/* Installs the fork and exit handlers once (idempotent, thread-safe). */
MP__HIDDEN void mp__mgr_once(void);
/* getpid() without a system call; renewed in every forked child. */
MP__HIDDEN pid_t mp__mgr_self_pid(void);

/* ---- endpoints and calls (manager_client.c) ---- */
MP__HIDDEN mp_status mp__mgr_ep_new(ep **out, const char *address, const void *key, size_t keylen);
MP__HIDDEN void mp__mgr_ep_ref(ep *e);
MP__HIDDEN void mp__mgr_ep_unref(ep *e);
MP__HIDDEN mp_status mp__mgr_ep_authenticate(ep *e);
MP__HIDDEN mp_status mp__mgr_call(ep *e, int64_t oid, const char *method,
                                  const mp_value *const *args, size_t nargs, mp_value **result);

/* ---- typed calls shared by manager_proxy.c and manager_proxy_sync.c ---- */
/* A call of method on p, which must be a proxy of type (MP_EINVAL else), with
 * n arguments, none NULL (MP_EINVAL else). */
MP__HIDDEN mp_status mp__mgr_tcall(mp_proxy *p, int type, const char *method, size_t n,
                                   const mp_value *const *args, mp_value **res);
/* The same with a timeout as the last argument (after item when non-NULL):
 * NaN MP_EINVAL, negative 0.  true_or_timeout: r (consumed), the bool result
 * of a timed wait; false is MP_TIMEOUT.  get_size/get_bool: r (consumed),
 * an int / bool result, into *out. */
MP__HIDDEN mp_status mp__mgr_timed(mp_proxy *p, int type, const char *method, const mp_value *item,
                                   double timeout, mp_value **res);
MP__HIDDEN mp_status mp__mgr_true_or_timeout(mp_value *r, mp_status st, const char *what,
                                             double timeout);
MP__HIDDEN mp_status mp__mgr_get_size(mp_value *r, mp_status st, size_t *out);
MP__HIDDEN mp_status mp__mgr_get_bool(mp_value *r, mp_status st, bool *out);
/* mp_manager_create of typeid with one int, n, as its init (Queue(maxsize),
 * Semaphore(value), ...); MP_ENOMEM when the int cannot be made. */
MP__HIDDEN mp_status mp__mgr_create_int(mp_manager *m, const char *typeid, int64_t n,
                                        mp_proxy **out);

/* ---- the manager handle (manager_start.c) ---- */
/* MP_EINVAL for NULL, MP_CLOSED once shut down; what names the operation. */
MP__HIDDEN mp_status mp__mgr_check(mp_manager *m, const char *what);
/* The exit handler: stops every server this process started. */
MP__HIDDEN void mp__mgr_shutdown_all(void);

#endif
