/* Pool: worker processes fed through shared memory.  The private header of
 * the pool's four rooms:
 *
 *   pool_ring.c     the shared memory: its layout, the task ring (slots and
 *                   arena, both ends), the result rings (both ends), the
 *                   reply boxes, the wake-ups between them
 *   pool_worker.c   a worker process: its loop and one task's steps
 *   pool_handler.c  the parent's handler thread: results, dead workers and
 *                   their replacement, close and terminate
 *   pool_job.c      the job behind an AsyncResult or an imap iterator: the
 *                   task table, delivery of results, waiting, the
 *                   mp_async_result_* and mp_imap_* calls
 *   pool.c          the mp_pool_* calls: creating, submitting, closing
 *
 * Tasks.  One multi-consumer ring in MAP_SHARED memory: an array of slot
 * descriptors plus a byte arena holding the encoded arguments.  The parent is
 * the only producer (under the pool mutex).  A worker claims a slot with one
 * CAS on the slot's state word, and the value it writes there names the
 * worker, so a worker killed at any instant leaves a trace the parent can
 * read: the slot it claimed, or its `cur` task id (written before the slot is
 * released).  No lock is ever held across processes, so a dead worker cannot
 * wedge the others (CPython's shared pipe and its lock can: bpo-22393).
 * Arguments up to SMALL_MAX live in a 4 MiB ring; a larger one takes a
 * separate region reserved (MAP_NORESERVE, so it costs nothing until used)
 * up to MP_MSG_MAX, one at a time, and its pages are returned with
 * MADV_REMOVE once a worker has copied it.  What does not fit waits in the
 * parent (pending list) and is fed in by the handler thread.
 *
 * Results.  One single-producer byte ring per worker, read by the pool's one
 * handler thread, which also runs the callbacks (in completion order) and
 * watches the workers through pidfds.  A result larger than its ring is
 * streamed through it.
 *
 * Wake-ups.  Workers wake the handler (eventfd) only when it sleeps, and the
 * producer wakes a worker (futex) only when that worker sleeps, so a full
 * pipeline makes no system call per task.
 *
 * apply() takes the handler off its path: its task carries a reply box in
 * shared memory, which the worker fills, publishes (one atomic store) and
 * futex-wakes the caller through; only then does it leave a small "replied"
 * marker in its result ring for the handler's bookkeeping, without waking it
 * (it reads the markers on its next wake-up, at the latest every REPLY_LAZY
 * markers, or at once while the pool closes).  A task that fails otherwise
 * (worker lost, terminate) marks the box "see the job" instead, with one CAS
 * that loses to a box already published: see "The reply-box protocol".
 *
 * Workers are forked by the handler thread: PR_SET_PDEATHSIG fires when the
 * forking *thread* ends, which is then exactly when the pool is gone (or the
 * parent died), never earlier.
 *
 * The wire format between the parent and its workers is codec.c's msgpack: a
 * task's arguments and a task's results are each one array of values
 * (codec.h), decoded with MP__DEC_TRUSTED (both ends are this library) and,
 * for results, MP__DEC_BULK (a map of a million items is mostly decoding). */
#ifndef MP_POOL_INTERNAL_H
#define MP_POOL_INTERNAL_H

#include "codec.h"
#include "mp_internal.h"
#include "wait.h"
#include "value.h"

#include <assert.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#define NSLOT 4096u
#define ARENA_SOFT ((size_t)4 << 20)
#define SMALL_MAX (ARENA_SOFT / 4)
#define RRING ((size_t)512 << 10)
#define MAX_WORKERS 1024
#define CL 64
/* How long an idle thread (worker, handler, waiter) spins before it sleeps,
 * and when a spare worker yields: wait.h, mp__wait_tunings.pool and
 * .pool_spare. */

#define TERM_GRACE 1.0 /* seconds a worker has to die of SIGTERM before SIGKILL */
#define NBOX 64
#define BOXCAP (4096 - 16)
#define REPLY_LAZY 64
#define ST_REPLIED 0xffffu         /* result header status of a reply-box marker */
#define KEEP_MAX ((size_t)8 << 20) /* larger scratch buffers are not kept */

/* Worker phases (the futex word a worker sleeps on). */
enum { PH_BUSY, PH_IDLE, PH_SLEEP };

/* ----------------------------------------------------- the shared memory */

/* A task slot's state: FREE (the producer's) -> READY (published) ->
 * CLAIMED + i (worker i holds it) -> DONE (the worker has its arguments; the
 * producer may reuse the space) -> FREE (reclaimed, in ring order). */
enum { S_FREE, S_READY, S_DONE, S_CLAIMED /* + worker index */ };

struct tslot {
    _Atomic uint32_t state;
    uint16_t big;
    int16_t box; /* reply box, -1: none */
    uint64_t id;
    mp_task_fn fn;
    uint64_t pos; /* absolute position in the small ring (big: unused) */
    uint64_t len;
};

struct shm_hdr {
    _Alignas(CL) _Atomic uint64_t pub;    /* slots published (producer) */
    _Alignas(CL) _Atomic uint64_t claim;  /* next slot to claim (a hint) */
    _Alignas(CL) _Atomic uint32_t hsleep; /* the handler sleeps in poll() */
    _Atomic uint32_t stop;                /* workers exit once the ring is empty */
    _Atomic uint32_t pending;             /* tasks wait in the parent for ring space */
    _Atomic uint32_t eager;               /* closing: every reply marker wakes the handler */
};

struct wslot {
    _Alignas(CL) _Atomic uint64_t cur;   /* task the worker holds, 0 = none */
    _Atomic uint32_t waiting;            /* PH_*; futex while PH_SLEEP */
    _Atomic uint32_t rwait;              /* futex: asleep waiting for ring space */
    _Atomic uint64_t rhead;              /* result bytes written */
    _Alignas(CL) _Atomic uint64_t rtail; /* result bytes read by the handler */
};

/* The reply-box protocol (apply).  A box's state word decides, once, who
 * answers the caller: it goes EMPTY -> FULL (the worker, after filling data,
 * status and len: one release store publishes the whole reply) or EMPTY ->
 * JOB (the handler, by CAS, when the task was accounted for without a reply:
 * its worker died, or terminate).  Never both, never back while the box is
 * held: the caller and the handler each hold a reference and the box is
 * reused only when both are released.
 *
 * The worker's order: fill; FULL; wake the caller if it sleeps; then the
 * ring marker (ST_REPLIED) and its commit (rhead); then cur = 0.  So a worker
 * killed at any instruction leaves one of:
 *   - no FULL: the task is still its `cur` (or its claimed slot), and
 *     worker_gone fails it: account()'s CAS EMPTY -> JOB wins and the caller
 *     gets MP_EWORKERLOST from the job;
 *   - FULL but no committed marker: `cur` still names the task, worker_gone
 *     fails it, account()'s CAS loses (the box is FULL) and the caller takes
 *     the complete reply; account() futex-wakes the caller in case the
 *     worker died before its own wake;
 *   - a committed marker: worker_gone's drain reads it, the task is
 *     accounted for as replied, and `cur` finds no job any more.
 * The marker never precedes FULL: a handler that reads a marker (the worker
 * alive or not) takes the task off its table, so nothing could fail it after.
 * Once the caller holds its reply it may close the pool; the handler must
 * then still see the marker to know the task is done.  close sets
 * shm_hdr.eager before it pokes the handler; the worker loads eager after
 * committing its marker: either it sees eager and wakes the handler, or the
 * handler's drain after the poke sees the marker (Dekker, both seq_cst). */
enum { BOX_EMPTY, BOX_FULL, BOX_JOB };

struct box {
    _Atomic uint32_t state;    /* BOX_*; the caller's futex */
    _Atomic uint32_t sleeping; /* the caller sleeps on state */
    uint32_t status, len;      /* as struct rhdr */
    uint8_t data[BOXCAP];
};

/* A message of a result ring: this header, then len bytes. */
struct rhdr {
    uint64_t id;
    uint32_t status; /* MP_OK: an array of values (codec.h); else the message text */
    uint32_t len;
};

/* ------------------------------------------------- the job (its layout) */

enum { J_APPLY, J_MAP, J_IMAP, J_IMAPU };

struct chunk {
    mp_value **items;
    size_t n;
    mp_status st;
    char *msg;
    bool arrived;
};

/* The job behind an AsyncResult or an imap iterator.  Two references while
 * tasks are out: the caller's and the pool's (dropped when the last chunk has
 * come back, so late chunks of a failed map still find it). */
struct mp_async_result {
    _Atomic int refs;
    int kind;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t handler;
    mp_result_cb cb;
    mp_error_cb ecb;
    void *ud;
    uint64_t base; /* task id of chunk 0 */
    size_t nchunks, outstanding, okleft;
    /* map: the result list, sized up front; chunk i fills items [i*cs, ...)
     * and its len is set when every chunk is in */
    mp_value *list;
    size_t cs, nitems;
    int box; /* apply's reply box, -1: none */
    bool want_box;
    struct chunk *chunks;
    struct chunk one;
    bool completed;
    _Atomic bool ready;
    mp_status st;
    char *msg;
    mp_value *value;
    /* imap: ordered cursor (cur, item) or arrival order (order, opos) */
    size_t cur, item, *order, norder, opos;
};

struct mp_imap {
    struct mp_async_result r;
};

/* --------------------------------------------------- the pool (parent side) */

struct worker {
    pid_t pid;
    int pidfd;
    bool alive, need_spawn;
};

struct rd { /* the handler's parse state of one result ring */
    bool hdr, discard;
    struct rhdr h;
    uint8_t *buf;
    size_t cap, got;
};

struct pend { /* a task waiting in the parent for ring space */
    struct pend *next;
    uint64_t id;
    mp_task_fn fn;
    int box;
    size_t len;
    uint8_t data[];
};

struct ent { /* the task table: task id -> job */
    uint64_t id;
    mp_async_result *job;
};

struct done { /* one task accounted for, on its way to its job */
    uint64_t id;
    mp_async_result *job;
    mp_status st;
    char *msg;
    mp_value **items;
    size_t n;
};

struct dlist {
    struct done *d;
    size_t n, cap;
};

enum { P_RUN, P_CLOSE, P_TERM };

struct mp_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pid_t owner;
    int n;
    mp_pool_init_fn init;
    mp_value *initargs;
    long maxtasks;
    sigset_t mask; /* the creator's signal mask, restored in workers */
    void *map;
    size_t maplen, bigmax;
    struct shm_hdr *sh;
    struct wslot *ws;
    struct tslot *slots;
    struct box *boxes;
    uint8_t *rings, *arena;
    int efd;
    pthread_t thr;
    /* guarded by mu */
    int state;
    bool started, stop_sent, joining, joined, free_on_exit;
    mp_status start_st;
    char start_msg[256];
    uint64_t pubseq, free_seq, apos, atail;
    bool big_busy;
    struct pend *ph, *pt;
    uint64_t next_id;
    uint64_t boxfree;      /* bit i: box i is free */
    uint8_t boxrefs[NBOX]; /* the caller's and the handler's */
    struct ent *tab;
    size_t tabcap, tabn;
    unsigned tabshift;
    size_t live; /* tasks (chunks) submitted and not yet accounted for */
    /* the handler thread's (and, for w[], read by workers right after fork) */
    struct worker *w;
    int nalive;
    struct rd *rd;
    double last_check, hlast;
};

/* ------------------------------------------------------ waiting by spinning */

/* Spin until ready(arg) (wait.h: mp__wait_tunings.pool, or .pool_spare for a
 * worker that spins while a lower-numbered worker spins too); true if it
 * became ready.  Adaptive: a thread spins only if its previous wait (*last,
 * seconds, set here on success and by the caller after it slept: *last =
 * mp__now() - *start) was within the window.  In a ping-pong such as apply(),
 * where every wait is a whole round trip, the threads then sleep at once and
 * leave the CPUs to the one with work; in a stream they keep catching work
 * without system calls. */
static inline bool spin(double *last, bool (*ready)(void *), void *arg, double *start, bool spare)
{
    mp__spinner st = {.last = *last};
    bool r = mp__spin_until(&st, spare ? &mp__wait_tunings.pool_spare : &mp__wait_tunings.pool,
                            ready, arg);
    *last = st.last;
    *start = st.start;
    return r;
}

/* ------------------------------------------- pool_ring.c: the shared memory */

/* Map the shared region for p->n workers (p->map, sh, ws, slots, boxes,
 * rings, arena, bigmax).  pool.c, once, before the handler starts. */
MP__HIDDEN mp_status mp__pool_map_shm(mp_pool *p);

/* Producer side of the task ring; the caller holds p->mu.  enqueue: publish
 * the task whose arguments are the array v[0..n) encoded in len bytes (sized
 * by mp__values_encoded_size), or queue it in the parent when the ring is
 * full (MP_ENOMEM then only); *published counts ring publications.  reclaim:
 * free the slots workers are done with.  feed: move pending tasks into the
 * ring; returns how many. */
MP__HIDDEN mp_status mp__pool_enqueue(mp_pool *p, uint64_t id, mp_task_fn fn, int box,
                                      const mp_value *const *v, size_t n, size_t len,
                                      size_t *published);
MP__HIDDEN void mp__pool_reclaim(mp_pool *p);
MP__HIDDEN size_t mp__pool_feed(mp_pool *p);
/* Wake sleeping workers for the unclaimed tasks (self: the calling worker,
 * -1 in the parent).  Anyone, any time. */
MP__HIDDEN void mp__pool_wake_workers(mp_pool *p, int self);

/* Consumer side (worker i): the next task's slot, claimed, or NULL once the
 * pool stops; *last is the worker's spin history.  args: where a claimed
 * slot's argument bytes are.  release: the worker is done with them. */
MP__HIDDEN struct tslot *mp__pool_claim(mp_pool *p, int i, double *last);
MP__HIDDEN const uint8_t *mp__pool_task_args(const mp_pool *p, const struct tslot *s);
MP__HIDDEN void mp__pool_task_release(mp_pool *p, struct tslot *s);

/* The writer of worker i's result ring (the worker only).  put: copy n
 * bytes, streaming through the ring when they do not fit (may sleep until
 * the handler makes room); commit: publish what was put. */
struct rwriter {
    mp_pool *p;
    struct wslot *ws;
    uint8_t *ring;
    uint64_t head;
};
MP__HIDDEN void mp__pool_rput(struct rwriter *w, const void *s, size_t n);
MP__HIDDEN void mp__pool_rcommit(struct rwriter *w);
/* Wake the handler if it sleeps (a worker; anyone). */
MP__HIDDEN void mp__pool_wake_handler(mp_pool *p);

/* The reader (the handler thread only): parse what worker i has written,
 * handing each complete message to mp__pool_emit; returns how many.
 * rings_busy: some live worker's ring holds unread bytes. */
MP__HIDDEN size_t mp__pool_drain(mp_pool *p, int i, struct dlist *l);
MP__HIDDEN bool mp__pool_rings_busy(const mp_pool *p);

/* Reply boxes (the reply-box protocol above).  take (under mu): a free box
 * held by the caller and the handler, or -1.  publish (the worker): the
 * reply.  fail (under mu, the handler): send the caller to the job unless a
 * reply is in.  release (under mu): drop one reference.  wait (the caller):
 * until the box is not EMPTY; returns its state. */
MP__HIDDEN int mp__pool_box_take(mp_pool *p);
MP__HIDDEN void mp__pool_box_publish(mp_pool *p, int box, uint32_t status, const void *data,
                                     uint32_t len);
MP__HIDDEN void mp__pool_box_fail(mp_pool *p, int box);
MP__HIDDEN void mp__pool_box_release(mp_pool *p, int box);
MP__HIDDEN uint32_t mp__pool_box_wait(mp_pool *p, int box);

/* --------------------------------------------------- pool_worker.c, pool_handler.c */

/* The child's side of fork (spawn): never returns. */
MP__HIDDEN _Noreturn void mp__pool_worker_main(mp_pool *p, int i, mp__child_id *id);
/* The handler thread (pthread_create in mp_pool_new). */
MP__HIDDEN void *mp__pool_handler_main(void *arg);
/* One complete result message, from mp__pool_drain: decoded into l. */
MP__HIDDEN void mp__pool_emit(struct dlist *l, const struct rhdr *h, const uint8_t *p, size_t len,
                              bool discarded);
/* Free p and everything it holds (no thread or worker may use it). */
MP__HIDDEN void mp__pool_release(mp_pool *p);

/* --------------------------------------------------------- pool_job.c */

/* The task table (under mu): put false when out of memory; take NULL when
 * id is not there (accounted for already). */
MP__HIDDEN bool mp__tab_grow(mp_pool *p);
MP__HIDDEN bool mp__tab_put(mp_pool *p, uint64_t id, mp_async_result *j);
MP__HIDDEN mp_async_result *mp__tab_take(mp_pool *p, uint64_t id);

MP__HIDDEN void mp__pool_cond_init(pthread_cond_t *c); /* CLOCK_MONOTONIC */
MP__HIDDEN mp_async_result *mp__job_new(int kind, size_t nchunks, mp_result_cb cb, mp_error_cb ecb,
                                        void *ud);
MP__HIDDEN void mp__job_unref(mp_async_result *j);
/* Hand d's outcome to its job (no pool lock held: callbacks run here). */
MP__HIDDEN void mp__job_deliver(struct done *d);
MP__HIDDEN void mp__done_free(struct done *d);
MP__HIDDEN mp_status mp__job_wait(mp_async_result *j, double timeout, const char *what);
MP__HIDDEN mp_status mp__job_outcome(mp_async_result *j);

#endif
