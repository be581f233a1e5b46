/* The manager server's private header: its state (srv, client, obj, waiter)
 * and the seams between its files.  Only the server's files include it (and
 * ref/fuzz/fuzz_manager.c, which drives the real loop through mp__mgr_turn).
 *
 *   manager_loop.c     the process: signals, accept, deadlines, the epoll
 *                      loop and one turn of it (mp__mgr_turn), shutdown
 *   manager_conn.c     one connection: framing, read/write buffers, the
 *                      handshake, replies, drop, finishing a waiter
 *   manager_objects.c  the object table, requests -> method dispatch, the
 *                      manager's own methods (create, incref, decref, ...)
 *   manager_dict.c     dict, Namespace (a dict of attribute names), Value
 *   manager_list.c     list, with Python's slices and sort
 *   manager_sync.c     Lock (with its holder) and Event
 *   manager_cond.c     RLock, Semaphore, BoundedSemaphore, Condition, Barrier
 *   manager_queue.c    Queue, JoinableQueue
 *   manager_array.c    Array (array.array of one typecode)
 *   manager_offload.c  the helper thread: decodes large requests, frees
 *                      large values, off the loop
 *
 * Every request runs to completion on the server's loop thread, so a
 * handler owns the whole state while it runs: nothing here is locked.  The
 * helper thread of manager_offload.c touches none of it: it only turns
 * bytes into a value and frees values handed to it. */
#ifndef MP_MANAGER_SERVER_H
#define MP_MANAGER_SERVER_H

#include "manager.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#define DEFER ((mp_status)1000) /* a handler's "the reply comes later" */
/* Connections that have not yet passed the handshake.  Enough for a burst of
 * legitimate clients connecting at once (each needs one round trip); a
 * stranger is pushed out only by MGR__UNAUTH_MAX newer ones, so a client
 * that knows the key passes unless that many connect during its round trip. */
#define MGR__UNAUTH_MAX 256

enum { C_AUTH, C_READY };
/* W_ACQUIRE: Lock, RLock, Semaphore, Condition acquire; W_COND: a Condition
 * wait before its notify or deadline, W_REACQ: after it, taking the lock back
 * (w->count the recursion to restore, w->ok what wait returns); W_BARRIER: a
 * Barrier wait (w->count its index); W_JOIN: JoinableQueue.join. */
enum { W_ACQUIRE, W_EVENT, W_GET, W_PUT, W_COND, W_REACQ, W_BARRIER, W_JOIN };

typedef struct obj obj;
typedef struct client client;
typedef struct mgr_job mgr_job;
typedef struct mgr_offload mgr_offload;

typedef struct waiter {
    client *c;
    obj *o;
    int kind;
    double deadline; /* INFINITY: none */
    mp_value *item;  /* W_PUT: the item to put */
    long count;      /* W_COND, W_REACQ: recursion to restore; W_BARRIER: index */
    bool ok;         /* W_REACQ: notified (true) or timed out (false) */
    struct waiter *prev, *next;
} waiter;

struct client {
    int fd;
    int state;
    bool dead, resume;
    uint32_t events;
    unsigned char nonce[MGR__NONCE];
    unsigned char *in;
    size_t in_off, in_len, in_cap;
    unsigned char *out;
    size_t out_off, out_len, out_cap;
    waiter *w;
    mgr_job *job;          /* its request being decoded off the loop (manager_offload.c) */
    bool unwatched;        /* out of the epoll set while job is out */
    double since;          /* C_AUTH: when accepted (the handshake deadline runs from it) */
    unsigned held;         /* Locks this connection holds */
    client *aprev, *anext; /* C_AUTH: the strangers, oldest first */
    client *prev, *next;   /* live clients */
    client *dnext;         /* dead list: freed at the end of the loop turn */
    client *rnext;         /* resume list: buffered frames to serve */
};

struct obj {
    int type;
    bool used;
    bool flag;       /* Lock: locked; Event: set */
    bool orphan;     /* Lock: its holder's connection closed while holding it */
    client *holder;  /* Lock, RLock, Condition: the connection whose acquire took it */
    long count;      /* RLock, Condition: recursion; Semaphore: value */
    long bound;      /* BoundedSemaphore: initial value; Barrier: parties */
    double btimeout; /* Barrier: default timeout (INFINITY: none) */
    bool broken;     /* Barrier */
    long unfinished; /* JoinableQueue: items put and not yet task_done */
    char typecode;   /* Array: its array.array typecode; o->v the list of items */
    uint32_t gen;
    long refs;
    mp_value *v;  /* dict, list, Namespace (a dict), Value */
    mp_value **q; /* Queue: ring */
    size_t qhead, qlen, qcap;
    long maxsize;
    waiter *wh, *wt;
    uint32_t next_free;
    /* Iterator: the id of the dict or list it walks (one reference on it),
     * the next position, the dict's size when made, and its state. */
    int64_t target;
    size_t pos, isize;
    /* dict, list: the objects a proxy stored in it refers to (a dict oid ->
     * None; NULL: none), each holding one reference until o is released. */
    mp_value *held;
    uint8_t istate; /* ITER_LIVE, ITER_DONE (StopIteration), ITER_BROKEN (RuntimeError) */
};
enum { ITER_LIVE, ITER_DONE, ITER_BROKEN };

typedef struct srv {
    int ep;
    int lfd, pfd;
    bool tcp;
    const unsigned char *key;
    size_t keylen;
    obj *objs;
    uint32_t nobj, cap_obj, free_head; /* free_head: index + 1, 0 = none */
    size_t live_objs;
    mp_value *names; /* dict: name -> oid */
    client *clients, *dead, *resumes;
    client *strangers, *strangers_tail; /* C_AUTH clients, oldest first */
    size_t nstrangers;
    size_t pushed_out, timed_out; /* strangers dropped since the last log line */
    double quiet_until;           /* no such log line before this */
    double listen_rearm;          /* 0: armed */
    mp__spinner idle;             /* polls for work (mp__wait_tunings.mgr); off on one CPU */
    mgr_offload *off;             /* the helper thread; NULL: everything inline */
    size_t offload_min;           /* frames from this size are decoded by it */
    mp_value *unref;              /* while releasing: ids whose reference is to be given back */
} srv;

/* ---- manager_loop.c: the process and its loop ------------------------------ */

/* Set up s around the listening socket lfd (-1: none, as in the fuzzer):
 * the epoll set and the name table; the listener is not yet watched.
 * Returns false (errno set, or s->names NULL: out of memory) on failure;
 * mp__mgr_srv_fini() then still cleans up. */
MP__HIDDEN bool mp__mgr_srv_init(srv *s, int lfd, const unsigned char *key, size_t keylen,
                                 bool tcp);
/* Drop every client, free every object and close the epoll set. */
MP__HIDDEN void mp__mgr_srv_fini(srv *s);
/* Take the connected, non-blocking socket fd as a new client: a stranger
 * that is sent its challenge at once and must answer it in time.  On
 * failure fd is closed.  (accept_all() calls it for each connection.) */
MP__HIDDEN void mp__mgr_adopt(srv *s, int fd);
/* One turn of the server's loop: expire deadlines, serve clients with
 * buffered frames, wait for events (block: until the next deadline; else
 * not at all), handle them, free the clients dropped meanwhile.  Returns
 * MGR__TURN_STOP when the server must end (epoll failed, the parent died),
 * MGR__TURN_BUSY when anything was done or is pending, else MGR__TURN_IDLE. */
enum { MGR__TURN_STOP = -1, MGR__TURN_IDLE = 0, MGR__TURN_BUSY = 1 };
MP__HIDDEN int mp__mgr_turn(srv *s, const sigset_t *waitmask, bool block);

/* ---- manager_conn.c: one connection ---------------------------------------- */

/* One line on stderr, "mp manager <pid>: ...", written at once. */
MP__HIDDEN void mp__mgr_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Watch c for what it can do now: output pending -> EPOLLOUT, else input
 * unless it has a waiter; hang-ups always. */
MP__HIDDEN void mp__mgr_arm(srv *s, client *c);
/* Close c's connection and forget it (freed at the end of the loop turn);
 * why: a log line, or NULL.  Safe to call again, and from inside a reply to c. */
MP__HIDDEN void mp__mgr_drop(srv *s, client *c, const char *why);
/* Send what c's output buffer holds, as far as the socket takes it. */
MP__HIDDEN void mp__mgr_flush(srv *s, client *c);
/* Queue a frame of len payload bytes; returns where to write them (NULL:
 * out of memory, c dropped). */
MP__HIDDEN unsigned char *mp__mgr_frame(srv *s, client *c, size_t len);
/* Queue c's reply [st, res or the error message] and send it. */
MP__HIDDEN void mp__mgr_reply(srv *s, client *c, mp_status st, const mp_value *res);
/* A waiter's request is over: answer it, let its client go on. */
MP__HIDDEN void mp__mgr_finish(srv *s, waiter *w, mp_status st, const mp_value *res);
/* c is a new stranger (C_AUTH), the newest. */
MP__HIDDEN void mp__mgr_stranger_add(srv *s, client *c);
/* Handle the complete frames in c's buffer, then read more while allowed. */
MP__HIDDEN void mp__mgr_serve_input(srv *s, client *c, bool readable);
/* c's request, decoded off the loop, is back: st and req (taken) as
 * mp_value_decode gave them.  Apply it (or drop c: malformed), then let c go
 * on: watched again, its buffered frames served next turn. */
MP__HIDDEN void mp__mgr_decoded(srv *s, client *c, mp_status st, mp_value *req);

/* ---- manager_offload.c: the helper thread ----------------------------------- */

/* Frames from this size go to the helper (the real server only). */
#define MGR__OFFLOAD_MIN ((size_t)64 << 10)
/* Start the helper, its eventfd watched by s->ep (data.ptr: s->off); frames
 * of min bytes or more are then decoded by it.  false (errno): not started,
 * everything stays inline. */
MP__HIDDEN bool mp__mgr_offload_start(srv *s, size_t min);
/* Stop the helper (after the job it is on), free every job left; a client
 * whose job was out no longer has one.  Nothing when not started. */
MP__HIDDEN void mp__mgr_offload_stop(srv *s);
/* Hand c's request frame p[0..n) (copied) to the helper when it runs and n
 * reaches s->offload_min: then true, c->job set; c is answered through
 * mp__mgr_decoded.  false: decode it inline. */
MP__HIDDEN bool mp__mgr_offload_decode(srv *s, client *c, const unsigned char *p, size_t n);
/* c is being dropped: its job's result, if one is out, is freed unapplied. */
MP__HIDDEN void mp__mgr_offload_cancel(client *c);
/* The eventfd is readable: apply every decoded request that is back, in the
 * order the helper finished them (mp__mgr_decoded). */
MP__HIDDEN void mp__mgr_offload_done(srv *s);
/* Free v (taken; NULL: nothing): a large dict or list by the helper, the
 * rest at once. */
MP__HIDDEN void mp__mgr_dispose(srv *s, mp_value *v);

/* ---- manager_objects.c: objects, dispatch --------------------------------- */

typedef struct call {
    srv *s;
    client *c;
    obj *o;
    mp_value **a; /* arguments; a handler may take one (set it NULL) */
    size_t n;
    const char *method;
    mp_value *res;        /* owned result */
    const mp_value *bres; /* or a borrowed one */
} call;

/* A handler answers k: MP_OK with k->res or k->bres (NULL: None), an error
 * status with mp__err's message set, or DEFER (mp__mgr_defer). */
typedef mp_status (*handler)(call *k);
typedef struct method {
    const char *name;
    handler fn;
    uint8_t min, max; /* how many arguments it takes */
} method;

/* Decode the request frame p[0..n) of c, run its method, reply (unless the
 * method deferred).  A malformed request drops c. */
MP__HIDDEN void mp__mgr_request(srv *s, client *c, const unsigned char *p, size_t n);
/* The same for the decoded request req (borrowed; a handler may take its
 * arguments, set NULL): the caller frees it. */
MP__HIDDEN void mp__mgr_apply(srv *s, client *c, mp_value *req);
/* Free o: its waiters are answered MP_CLOSED, its slot goes to the free list. */
MP__HIDDEN void mp__mgr_obj_release(srv *s, obj *o);
/* Make k's client wait on k->o (kind W_*, timeout seconds, INFINITY: none;
 * item: W_PUT's item, taken).  Returns DEFER, or MP_ENOMEM. */
MP__HIDDEN mp_status mp__mgr_defer(call *k, int kind, double timeout, mp_value *item);
/* Handlers several types share: len() and copy(). */
MP__HIDDEN mp_status mp__mgr_len(call *k);
MP__HIDDEN mp_status mp__mgr_copy(call *k);
/* A proxy stored in a container is the tuple ("<proxy>", typeid, oid)
 * marked with MGR__VF_REF, a flag the decoder never sets, so a client
 * cannot forge one; the container holds a reference on the object.
 * make_ref: k->a[ai], an oid, becomes that tuple (TypeError: not an int;
 * MP_CLOSED: no such object).  give_ref: k->bres, the item just read,
 * becomes the result [typeid, oid] with one more reference on the object,
 * the caller's (TypeError when the item is not a proxy). */
#define MGR__VF_REF 0x80
MP__HIDDEN mp_status mp__mgr_make_ref(call *k, size_t ai);
MP__HIDDEN mp_status mp__mgr_give_ref(call *k);
/* __iter__ of a dict (over its keys) or a list: a new Iterator object
 * holding one reference on k->o; its id is the result. */
MP__HIDDEN mp_status mp__mgr_iter(call *k);

/* The method tables, one per type (NULL-terminated). */
MP__HIDDEN extern const method mp__mgr_dict_methods[], mp__mgr_ns_methods[],
    mp__mgr_value_methods[], mp__mgr_list_methods[], mp__mgr_lock_methods[],
    mp__mgr_event_methods[], mp__mgr_queue_methods[], mp__mgr_iter_methods[],
    mp__mgr_rlock_methods[], mp__mgr_sem_methods[], mp__mgr_bsem_methods[], mp__mgr_cond_methods[],
    mp__mgr_barrier_methods[], mp__mgr_array_methods[];

/* ---- manager_sync.c -------------------------------------------------------- */

/* The connection holding the Lock, RLock or Condition o closed: o goes to
 * its first waiter or stays orphaned (see manager_sync.c, manager_cond.c). */
MP__HIDDEN void mp__mgr_lock_holder_gone(srv *s, obj *o);

/* ---- manager_cond.c: RLock, Semaphore, Condition, Barrier ------------------ */

/* See mp__mgr_lock_holder_gone: for an RLock or a Condition. */
MP__HIDDEN void mp__mgr_rlock_holder_gone(srv *s, obj *o);
/* The deadline of the W_COND or W_BARRIER waiter w passed: a Condition wait
 * goes on to take its lock back (then answers False); a Barrier breaks. */
MP__HIDDEN void mp__mgr_cond_expire(srv *s, waiter *w);
/* Break the Barrier o: every waiter is answered MP_EBROKEN (a waiter's
 * connection closed, its deadline passed, or abort). */
MP__HIDDEN void mp__mgr_barrier_break(srv *s, obj *o);
/* create's init for the new types (see manager_objects.c init_obj). */
MP__HIDDEN mp_status mp__mgr_init_sync(obj *o, mp_value *init);
MP__HIDDEN mp_status mp__mgr_init_array(obj *o, mp_value *init);

/* ---- small helpers of the handlers ----------------------------------------- */

static inline mp_status oom(void)
{
    return mp__err(MP_ENOMEM, "MemoryError: server out of memory");
}

/* A library status from a value call, as the Python exception it stands for. */
static inline mp_status wrap(mp_status st)
{
    char m[200];
    snprintf(m, sizeof m, "%s", mp_errmsg());
    return mp__err(st, "%s: %s",
                   st == MP_ENOMEM  ? "MemoryError"
                   : st == MP_ETYPE ? "TypeError"
                                    : "Error",
                   m);
}

/* k's result is v (owned); NULL: out of memory. */
static inline mp_status set_res(call *k, mp_value *v)
{
    if (!v)
        return oom();
    k->res = v;
    return MP_OK;
}

static inline mp_status key_error(const mp_value *key)
{
    char *r = NULL;
    mp_value_repr(key, &r);
    mp_status st = mp__err(MP_EKEY, "KeyError: %s", r ? r : "?");
    free(r);
    return st;
}

/* A timeout argument: None (or absent) -> INFINITY, negative -> 0, NaN or
 * not a number -> ValueError. */
static inline mp_status get_timeout(const mp_value *v, double *t)
{
    if (!v || v->type == MP_T_NONE) {
        *t = INFINITY;
        return MP_OK;
    }
    if (mp_value_get_float(v, t) != MP_OK || isnan(*t))
        return mp__err(MP_EINVAL, "ValueError: timeout must be a number, not NaN");
    if (*t < 0)
        *t = 0;
    return MP_OK;
}

static inline mp_status get_index(const mp_value *v, int64_t *i, const char *what)
{
    if (!v || (v->type != MP_T_INT && v->type != MP_T_BOOL))
        return mp__err(MP_ETYPE, "TypeError: %s indices must be integers", what);
    mp_value_get_int(v, i);
    return MP_OK;
}

#endif
