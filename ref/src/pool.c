/* Pool: worker processes fed through shared memory.
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
 * The wire format between the parent and its workers is private (both ends
 * are this file): a tag byte per value, varints for lengths and zigzag ints.
 * Like codec.c it reads and builds values through their internal layout
 * (value.h): a map of a million items is mostly this codec's time. */
#include "mp_internal.h"
#include "value.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define NSLOT 4096u
#define ARENA_SOFT ((size_t)4 << 20)
#define SMALL_MAX (ARENA_SOFT / 4)
#define RRING ((size_t)512 << 10)
#define MAX_WORKERS 1024
#define CL 64
/* How long an idle thread (worker, handler, waiter) spins before it sleeps.
 * A futex or eventfd wake costs a system call on each side and a context
 * switch (about 5 us each on a paravirtualised machine); a pipeline that
 * keeps moving within this window makes none. */
#define SPIN_S 50e-6
/* A worker that spins while a lower-numbered worker spins too is a spare:
 * past this it yields its CPU between checks, to the submitter or the
 * handler that would otherwise wait for it (more threads than CPUs).  Pool(2)
 * apply_async on 2 vCPUs: 150 k -> 300 k tasks/s; the last spinner stays
 * prompt, so one worker, apply() and map() are unchanged. */
#define SPARE_YIELD_S 20e-6

#define TERM_GRACE 1.0 /* seconds a worker has to die of SIGTERM before SIGKILL */
#define VBLOCK_MIN 16 /* sequences with this many numbers left use an mp__vblock */
#define NBOX 64
#define BOXCAP (4096 - 16)
#define REPLY_LAZY 64
#define ST_REPLIED 0xffffu /* result header status of a reply-box marker */

/* Worker phases (the futex word a worker sleeps on). */
enum { PH_BUSY, PH_IDLE, PH_SLEEP };

/* ------------------------------------------------------------------ codec */

enum { W_NONE, W_FALSE, W_TRUE, W_INT, W_FLOAT, W_STR, W_BYTES, W_LIST, W_TUPLE, W_DICT };

struct wbuf {
    uint8_t *p;
    size_t n, cap;
};

static bool wb_grow(struct wbuf *b, size_t more)
{
    if (b->cap >= b->n && b->cap - b->n >= more)
        return true;
    if (more > SIZE_MAX / 2 - b->n)
        return false;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + more) {
        if (cap > SIZE_MAX / 2)
            return false;
        cap *= 2;
    }
    uint8_t *q = realloc(b->p, cap);
    if (!q)
        return false;
    b->p = q;
    b->cap = cap;
    return true;
}

static inline uint8_t *put_varint(uint8_t *q, uint64_t v)
{
    while (v >= 0x80) {
        *q++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *q++ = (uint8_t)v;
    return q;
}

static inline bool get_varint(const uint8_t **pp, const uint8_t *end, uint64_t *v)
{
    uint64_t r = 0;
    const uint8_t *p = *pp;
    for (int sh = 0; p < end && sh < 64; sh += 7) {
        uint8_t c = *p++;
        r |= (uint64_t)(c & 0x7f) << sh;
        if (!(c & 0x80)) {
            *v = r;
            *pp = p;
            return true;
        }
    }
    return false;
}

static mp_status enc(struct wbuf *b, const mp_value *v, int depth)
{
    if (!v)
        return mp__err(MP_EINVAL, "pool: NULL value in the arguments");
    if (!wb_grow(b, 1 + 10 + 8))
        return mp__err(MP_ENOMEM, "pool: out of memory encoding a value");
    uint8_t *q = b->p + b->n;
    mp_type t = (mp_type)v->type;
    switch (t) {
    case MP_T_NONE:
        *q++ = W_NONE;
        break;
    case MP_T_BOOL:
        *q++ = v->u.b ? W_TRUE : W_FALSE;
        break;
    case MP_T_INT:
        *q++ = W_INT;
        q = put_varint(q, ((uint64_t)v->u.i << 1) ^ (uint64_t)(v->u.i >> 63));
        break;
    case MP_T_FLOAT:
        *q++ = W_FLOAT;
        memcpy(q, &v->u.d, sizeof v->u.d);
        q += sizeof v->u.d;
        break;
    case MP_T_STR:
    case MP_T_BYTES: {
        size_t len = v->u.s.len;
        *q++ = t == MP_T_STR ? W_STR : W_BYTES;
        q = put_varint(q, len);
        b->n = (size_t)(q - b->p);
        if (len > MP_MSG_MAX || !wb_grow(b, len))
            return mp__err(len > MP_MSG_MAX ? MP_EMSGSIZE : MP_ENOMEM,
                           "pool: a %zu-byte string does not fit a message", len);
        if (len)
            memcpy(b->p + b->n, v->u.s.p, len);
        b->n += len;
        return MP_OK;
    }
    case MP_T_LIST:
    case MP_T_TUPLE:
    case MP_T_DICT: {
        if (depth >= MP_VALUE_MAX_DEPTH)
            return mp__err(MP_EINVAL, "pool: value nested deeper than %d levels",
                           MP_VALUE_MAX_DEPTH);
        size_t len = 0;
        if (t == MP_T_DICT)
            mp_dict_len(v, &len);
        else
            len = v->u.q.len;
        *q++ = t == MP_T_LIST ? W_LIST : t == MP_T_TUPLE ? W_TUPLE : W_DICT;
        q = put_varint(q, len);
        b->n = (size_t)(q - b->p);
        mp_status s = MP_OK;
        for (size_t i = 0; i < len && !s; i++) {
            if (t == MP_T_DICT) {
                const mp_value *k = NULL, *val = NULL;
                mp_dict_item(v, i, &k, &val);
                if (!(s = enc(b, k, depth + 1)))
                    s = enc(b, val, depth + 1);
            } else {
                s = enc(b, v->u.q.items[i], depth + 1);
            }
        }
        return s;
    }
    default:
        return mp__err(MP_ETYPE, "pool: value of unknown type %d", (int)t);
    }
    b->n = (size_t)(q - b->p);
    return MP_OK;
}

/* blk: where an int or float takes its node (NULL: malloc). */
static mp_status dec(const uint8_t **pp, const uint8_t *end, mp_value **out, int depth,
                     mp__vblock *blk)
{
    const uint8_t *p = *pp;
    uint64_t n = 0;
    mp_value *v = NULL;
    if (p >= end)
        return mp__err(MP_EPROTO, "pool: truncated value");
    uint8_t tag = *p++;
    switch (tag) {
    case W_NONE:
        v = mp_none();
        break;
    case W_FALSE:
    case W_TRUE:
        v = mp_bool(tag == W_TRUE);
        break;
    case W_INT:
        if (!get_varint(&p, end, &n))
            return mp__err(MP_EPROTO, "pool: bad int");
        v = mp__vblock_int(blk, (int64_t)((n >> 1) ^ (0 - (n & 1))));
        break;
    case W_FLOAT: {
        double d;
        if (end - p < (ptrdiff_t)sizeof d)
            return mp__err(MP_EPROTO, "pool: truncated float");
        memcpy(&d, p, sizeof d);
        p += sizeof d;
        v = mp__vblock_float(blk, d);
        break;
    }
    case W_STR:
    case W_BYTES:
        /* the other end encoded a valid value: no UTF-8 check again */
        if (!get_varint(&p, end, &n) || n > (uint64_t)(end - p))
            return mp__err(MP_EPROTO, "pool: bad string length");
        if ((v = mp__blob_new(tag == W_STR ? MP_T_STR : MP_T_BYTES, (size_t)n)) && n)
            memcpy(v->u.s.p, p, (size_t)n);
        p += n;
        break;
    case W_LIST:
    case W_TUPLE:
        if (!get_varint(&p, end, &n) || n > (uint64_t)(end - p) ||
            depth >= MP_VALUE_MAX_DEPTH)
            return mp__err(MP_EPROTO, "pool: bad sequence");
        if (!(v = mp__seq_new(tag == W_LIST ? MP_T_LIST : MP_T_TUPLE, (size_t)n)))
            return mp__err(MP_ENOMEM, "pool: out of memory decoding a value");
        mp__vblock *nb = NULL;
        for (uint64_t i = 0; i < n; i++) {
            /* a long run of numbers (a map's results): their nodes in one block */
            if (!nb && n - i >= VBLOCK_MIN && p < end && (*p == W_INT || *p == W_FLOAT))
                nb = mp__vblock_new((size_t)(n - i));
            mp_status s = dec(&p, end, &v->u.q.items[v->u.q.len], depth + 1, nb);
            if (s) {
                mp_value_free(v);
                mp__vblock_done(nb);
                return s;
            }
            v->u.q.len++;
        }
        mp__vblock_done(nb);
        break;
    case W_DICT: {
        if (!get_varint(&p, end, &n) || n > (uint64_t)(end - p) ||
            depth >= MP_VALUE_MAX_DEPTH)
            return mp__err(MP_EPROTO, "pool: bad dict");
        if (!(v = mp__dict_new((size_t)n)))
            return mp__err(MP_ENOMEM, "pool: out of memory decoding a value");
        for (uint64_t i = 0; i < n; i++) {
            mp_value *a = NULL, *b = NULL;
            mp_status s = dec(&p, end, &a, depth + 1, NULL);
            if (!s && (s = dec(&p, end, &b, depth + 1, NULL)))
                mp_value_free(a);
            if (!s)
                s = mp_dict_set(v, a, b); /* takes both, also on failure */
            if (s) {
                mp_value_free(v);
                return s;
            }
        }
        break;
    }
    default:
        return mp__err(MP_EPROTO, "pool: bad tag %u", tag);
    }
    if (!v)
        return mp__err(MP_ENOMEM, "pool: out of memory decoding a value");
    *pp = p;
    *out = v;
    return MP_OK;
}

/* ----------------------------------------------------------- shared memory */

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
    _Alignas(CL) _Atomic uint64_t pub; /* slots published (producer) */
    _Alignas(CL) _Atomic uint64_t claim; /* next slot to claim (a hint) */
    _Alignas(CL) _Atomic uint32_t hsleep; /* the handler sleeps in poll() */
    _Atomic uint32_t stop;    /* workers exit once the ring is empty */
    _Atomic uint32_t pending; /* tasks wait in the parent for ring space */
    _Atomic uint32_t eager;   /* closing: every reply marker wakes the handler */
};

struct wslot {
    _Alignas(CL) _Atomic uint64_t cur; /* task the worker holds, 0 = none */
    _Atomic uint32_t waiting;          /* PH_*; futex while PH_SLEEP */
    _Atomic uint32_t rwait;            /* futex: asleep waiting for ring space */
    _Atomic uint64_t rhead;            /* result bytes written */
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

struct rhdr {
    uint64_t id;
    uint32_t status; /* MP_OK: count + values; else the message text */
    uint32_t len;
};

/* ------------------------------------------------------------------- jobs */

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

/* ------------------------------------------------------------------- pool */

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

struct pend {
    struct pend *next;
    uint64_t id;
    mp_task_fn fn;
    int box;
    size_t len;
    uint8_t data[];
};

struct ent {
    uint64_t id;
    mp_async_result *job;
};

struct done {
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
    uint64_t boxfree;          /* bit i: box i is free */
    uint8_t boxrefs[NBOX];     /* the caller's and the handler's */
    struct ent *tab;
    size_t tabcap, tabn;
    unsigned tabshift;
    size_t live; /* tasks (chunks) submitted and not yet accounted for */
    struct wbuf enc;
    /* the handler thread's (and, for w[], read by workers right after fork) */
    struct worker *w;
    int nalive;
    struct rd *rd;
    double last_check, hlast;
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Spin up to SPIN_S until ready(arg); true if it became ready.  Adaptive:
 * a thread spins only if its previous wait (*last, seconds, updated here on
 * success and by the caller after it slept) was shorter than the window.  In
 * a ping-pong such as apply(), where every wait is a whole round trip, the
 * threads then sleep at once and leave the CPUs to the one with work; in a
 * stream they keep catching work without system calls.  spare: yield the CPU
 * between checks after SPARE_YIELD_S. */
static bool spin(double *last, bool (*ready)(const void *), const void *arg, double *start,
                 bool spare)
{
    *start = mp__now();
    if (*last > SPIN_S)
        return ready(arg);
    for (unsigned k = 1;; k++) {
        if (ready(arg)) {
            *last = mp__now() - *start;
            return true;
        }
        cpu_relax();
        if ((k & 31) == 0) {
            double t = mp__now() - *start;
            if (t >= SPIN_S)
                return false;
            if (spare && t >= SPARE_YIELD_S)
                sched_yield();
        }
    }
}

/* getpid() is a system call; the pid changes only across fork. */
static _Atomic pid_t self_pid;
static pthread_once_t pid_once = PTHREAD_ONCE_INIT;

static void pid_refresh(void)
{
    atomic_store(&self_pid, getpid());
}

static void pid_init(void)
{
    pid_refresh();
    pthread_atfork(NULL, NULL, pid_refresh);
}

static pid_t my_pid(void)
{
    pthread_once(&pid_once, pid_init);
    return atomic_load_explicit(&self_pid, memory_order_relaxed);
}

static pthread_condattr_t cond_mono;
static pthread_once_t cond_once = PTHREAD_ONCE_INIT;

static void cond_attr_init(void)
{
    pthread_condattr_init(&cond_mono);
    pthread_condattr_setclock(&cond_mono, CLOCK_MONOTONIC);
}

static void cond_init(pthread_cond_t *c)
{
    pthread_once(&cond_once, cond_attr_init);
    pthread_cond_init(c, &cond_mono);
}

static const char *state_name(int s)
{
    return s == P_RUN ? "running" : s == P_CLOSE ? "closed" : "terminated";
}

/* -------------------------------------------------------------- task table */

static size_t tab_hash(const mp_pool *p, uint64_t id)
{
    return (size_t)((id * 0x9E3779B97F4A7C15ull) >> p->tabshift);
}

static bool tab_grow(mp_pool *p)
{
    size_t cap = p->tabcap ? p->tabcap * 2 : 1024;
    struct ent *t = calloc(cap, sizeof *t);
    if (!t)
        return false;
    struct ent *old = p->tab;
    size_t oldcap = p->tabcap;
    p->tab = t;
    p->tabcap = cap;
    p->tabshift = 64u - (unsigned)__builtin_ctzll(cap);
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].id) {
            size_t k = tab_hash(p, old[i].id);
            while (t[k].id)
                k = (k + 1) & (cap - 1);
            t[k] = old[i];
        }
    free(old);
    return true;
}

static bool tab_put(mp_pool *p, uint64_t id, mp_async_result *j)
{
    if ((p->tabn + 1) * 2 > p->tabcap && !tab_grow(p))
        return false;
    size_t k = tab_hash(p, id);
    while (p->tab[k].id)
        k = (k + 1) & (p->tabcap - 1);
    p->tab[k].id = id;
    p->tab[k].job = j;
    p->tabn++;
    return true;
}

static mp_async_result *tab_take(mp_pool *p, uint64_t id)
{
    if (!p->tabcap || !id)
        return NULL;
    size_t mask = p->tabcap - 1, i = tab_hash(p, id);
    while (p->tab[i].id != id) {
        if (!p->tab[i].id)
            return NULL;
        i = (i + 1) & mask;
    }
    mp_async_result *j = p->tab[i].job;
    /* backward-shift deletion keeps probe chains intact without tombstones */
    for (size_t k = i;;) {
        k = (k + 1) & mask;
        if (!p->tab[k].id)
            break;
        size_t h = tab_hash(p, p->tab[k].id);
        bool stays = i <= k ? (i < h && h <= k) : (i < h || h <= k);
        if (!stays) {
            p->tab[i] = p->tab[k];
            i = k;
        }
    }
    p->tab[i].id = 0;
    p->tabn--;
    return j;
}

/* ------------------------------------------------------------------ worker */

static void wake_handler(mp_pool *p)
{
    if (atomic_load(&p->sh->hsleep) && atomic_exchange(&p->sh->hsleep, 0)) {
        uint64_t one = 1;
        while (write(p->efd, &one, sizeof one) < 0 && errno == EINTR) {
        }
    }
}

struct wctx {
    mp_pool *p;
    int i, lazy;
    struct wslot *ws;
    uint8_t *ring;
    uint64_t head;
    struct wbuf in, out;
};

/* Copy into the result ring, streaming when the message is larger than the
 * free space: publish what is written, wake the handler, sleep until it has
 * made room. */
static void rput(struct wctx *c, const uint8_t *s, size_t n)
{
    static const mp__deadline forever = {.forever = true};
    while (n) {
        uint64_t tail = atomic_load_explicit(&c->ws->rtail, memory_order_acquire);
        size_t room = RRING - (size_t)(c->head - tail);
        if (room == 0) {
            atomic_store(&c->ws->rhead, c->head);
            wake_handler(c->p);
            atomic_store(&c->ws->rwait, 1);
            if (atomic_load(&c->ws->rtail) == tail)
                mp__futex_wait(&c->ws->rwait, 1, &forever);
            atomic_store(&c->ws->rwait, 0);
            continue;
        }
        size_t at = (size_t)(c->head % RRING), k = n < room ? n : room;
        if (k > RRING - at)
            k = RRING - at;
        memcpy(c->ring + at, s, k);
        s += k;
        n -= k;
        c->head += k;
    }
}

static bool task_or_stop(const void *arg)
{
    const struct shm_hdr *sh = arg;
    return atomic_load_explicit(&sh->claim, memory_order_relaxed) <
               atomic_load_explicit(&sh->pub, memory_order_relaxed) ||
           atomic_load_explicit(&sh->stop, memory_order_relaxed);
}

/* Wake sleeping workers until the unclaimed tasks have as many idle workers
 * as they need.  Idle (spinning) workers count: they take a task without
 * being woken, so a busy submitter with a worker keeping up makes no system
 * call.  self: the calling worker (-1 in the parent). */
static void wake_workers(mp_pool *p, int self)
{
    struct shm_hdr *sh = p->sh;
    uint64_t pub = atomic_load(&sh->pub), c = atomic_load(&sh->claim);
    if (c >= pub)
        return;
    uint64_t need = pub - c;
    for (int i = 0; i < p->n && need; i++)
        if (i != self && atomic_load(&p->ws[i].waiting) == PH_IDLE)
            need--;
    for (int t = 0; t < p->n && need; t++) {
        int i = (self + 1 + t) % p->n;
        uint32_t want = PH_SLEEP;
        if (i != self &&
            atomic_compare_exchange_strong(&p->ws[i].waiting, &want, (uint32_t)PH_IDLE)) {
            mp__futex_wake(&p->ws[i].waiting, 1);
            need--;
        }
    }
}

static struct tslot *claim(mp_pool *p, int i, double *last)
{
    static const mp__deadline forever = {.forever = true};
    struct shm_hdr *sh = p->sh;
    struct wslot *ws = &p->ws[i];
    for (;;) {
        uint64_t c = atomic_load(&sh->claim);
        if (c < atomic_load(&sh->pub)) {
            struct tslot *s = &p->slots[c % NSLOT];
            uint32_t want = S_READY;
            bool got = atomic_load_explicit(&s->state, memory_order_relaxed) == S_READY &&
                       atomic_compare_exchange_strong(&s->state, &want,
                                                      (uint32_t)(S_CLAIMED + i));
            /* advance the hint past c (helping a peer that claimed it) */
            atomic_compare_exchange_strong(&sh->claim, &c, c + 1);
            if (got) {
                atomic_store(&ws->waiting, PH_BUSY);
                /* more tasks than idle workers: pass the wake-up on */
                wake_workers(p, i);
                return s;
            }
            continue;
        }
        if (atomic_load(&sh->stop))
            return NULL;
        atomic_store(&ws->waiting, PH_IDLE);
        double t0;
        bool spare = false; /* another worker, lower-numbered, waits too */
        for (int j = 0; j < i && !spare; j++)
            spare = atomic_load_explicit(&p->ws[j].waiting, memory_order_relaxed) == PH_IDLE;
        if (spin(last, task_or_stop, sh, &t0, spare))
            continue;
        /* Dekker with the producer, which stores pub and then reads our
         * phase: one of us sees the other. */
        atomic_store(&ws->waiting, PH_SLEEP);
        if (atomic_load(&sh->claim) >= atomic_load(&sh->pub) && !atomic_load(&sh->stop))
            mp__futex_wait(&ws->waiting, PH_SLEEP, &forever);
        atomic_store(&ws->waiting, PH_IDLE);
        *last = mp__now() - t0;
    }
}

static void run_task(struct wctx *c, struct tslot *s)
{
    mp_pool *p = c->p;
    uint64_t id = s->id;
    mp_task_fn fn = s->fn;
    int box = s->box;
    size_t len = (size_t)s->len;
    const uint8_t *src = p->arena + (s->big ? ARENA_SOFT : (size_t)(s->pos % ARENA_SOFT));
    atomic_store(&c->ws->cur, id);
    c->in.n = 0;
    bool have = wb_grow(&c->in, len);
    if (have)
        memcpy(c->in.p, src, len);
    atomic_store_explicit(&s->state, S_DONE, memory_order_release);
    if (atomic_load(&p->sh->pending))
        wake_handler(p);

    struct rhdr h = {.id = id, .status = MP_OK};
    c->out.n = sizeof h;
    const uint8_t *q = c->in.p, *end = q + len;
    uint64_t n = 0;
    mp_status st = MP_OK;
    char msg[320] = "";
    if (!have || !wb_grow(&c->out, 10)) {
        st = MP_ENOMEM;
        snprintf(msg, sizeof msg, "MP_ENOMEM: worker out of memory");
    } else if (!get_varint(&q, end, &n)) {
        st = MP_EPROTO;
        snprintf(msg, sizeof msg, "MP_EPROTO: malformed task");
    } else {
        c->out.n = (size_t)(put_varint(c->out.p + c->out.n, n) - c->out.p);
    }
    for (uint64_t k = 0; k < n && !st; k++) {
        mp_value *arg = NULL, *res = NULL;
        mp_status ts = dec(&q, end, &arg, 0, NULL);
        if (ts) {
            st = ts;
            snprintf(msg, sizeof msg, "%s: argument could not be decoded: %s",
                     mp_status_name(ts), mp_errmsg());
            break;
        }
        if (*mp_errmsg())
            mp__err(MP_OK, "%s", ""); /* a stale message must not name this task */
        ts = fn(arg, &res);
        mp_value_free(arg);
        if (ts) {
            const char *m = mp_errmsg();
            st = MP_EREMOTE;
            snprintf(msg, sizeof msg, "%s: %s", mp_status_name(ts), *m ? m : mp_strerror(ts));
            mp_value_free(res);
            break;
        }
        if (!res) {
            if (!wb_grow(&c->out, 1)) {
                st = MP_ENOMEM;
                snprintf(msg, sizeof msg, "MP_ENOMEM: worker out of memory");
                break;
            }
            c->out.p[c->out.n++] = W_NONE;
            continue;
        }
        ts = enc(&c->out, res, 0);
        mp_value_free(res);
        if (ts) {
            st = MP_EREMOTE;
            snprintf(msg, sizeof msg, "%s: the result could not be sent: %s",
                     mp_status_name(ts), mp_errmsg());
        }
    }
    if (st) {
        size_t ml = strlen(msg);
        c->out.n = sizeof h;
        if (wb_grow(&c->out, ml)) {
            memcpy(c->out.p + c->out.n, msg, ml);
            c->out.n += ml;
        }
        h.status = (uint32_t)(st == MP_EREMOTE ? MP_EREMOTE : st);
    }
    if (c->out.n - sizeof h > MP_MSG_MAX) {
        static const char big[] = "MP_EMSGSIZE: the result is larger than MP_MSG_MAX";
        memcpy(c->out.p + sizeof h, big, sizeof big - 1);
        c->out.n = sizeof h + sizeof big - 1;
        h.status = MP_EREMOTE;
    }
    h.len = (uint32_t)(c->out.n - sizeof h);
    if (box >= 0 && h.len <= BOXCAP) {
        /* The reply-box protocol: fill, publish, wake; the marker after. */
        struct box *b = &p->boxes[box];
        memcpy(b->data, c->out.p + sizeof h, h.len);
        b->status = h.status;
        b->len = h.len;
        atomic_store(&b->state, BOX_FULL);
        if (atomic_load(&b->sleeping))
            mp__futex_wake(&b->state, 1);
        struct rhdr m = {.id = id, .status = ST_REPLIED, .len = 0};
        rput(c, (const uint8_t *)&m, sizeof m);
        atomic_store(&c->ws->rhead, c->head);
        atomic_store(&c->ws->cur, 0);
        if (++c->lazy >= REPLY_LAZY || atomic_load(&p->sh->eager)) {
            c->lazy = 0;
            wake_handler(p);
        }
    } else {
        memcpy(c->out.p, &h, sizeof h);
        rput(c, c->out.p, c->out.n);
        atomic_store(&c->ws->rhead, c->head);
        atomic_store(&c->ws->cur, 0);
        c->lazy = 0;
        wake_handler(p);
    }
    /* Do not keep a huge buffer of one odd task for the worker's lifetime. */
    if (c->in.cap > ((size_t)8 << 20)) {
        free(c->in.p);
        c->in = (struct wbuf){0};
    }
    if (c->out.cap > ((size_t)8 << 20)) {
        free(c->out.p);
        c->out = (struct wbuf){0};
    }
}

static _Noreturn void worker_main(mp_pool *p, int i, mp__child_id *id)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != p->owner)
        _exit(70); /* the parent died before PDEATHSIG was armed */
    mp__child_adopt(id);
    /* The parent's unflushed stdio is the parent's to write, not ours too. */
    __fpurge(stdout);
    __fpurge(stderr);
    for (int k = 0; k < p->n; k++)
        if (p->w[k].pidfd >= 0)
            close(p->w[k].pidfd);
    pthread_sigmask(SIG_SETMASK, &p->mask, NULL);
    if (p->init) {
        mp_value *none = p->initargs ? NULL : mp_none();
        p->init(p->initargs ? p->initargs : none);
        mp_value_free(none);
    }
    struct wctx c = {.p = p, .i = i, .ws = &p->ws[i], .ring = p->rings + (size_t)i * RRING};
    long done = 0;
    double last = 0;
    for (;;) {
        struct tslot *s = claim(p, i, &last);
        if (!s)
            break;
        run_task(&c, s);
        if (p->maxtasks > 0 && ++done >= p->maxtasks)
            break;
    }
    fflush(stdout);
    fflush(stderr);
    _exit(0);
}

/* ---------------------------------------------------------------- producer */

static void reclaim(mp_pool *p)
{
    while (p->free_seq < p->pubseq) {
        struct tslot *s = &p->slots[p->free_seq % NSLOT];
        if (atomic_load_explicit(&s->state, memory_order_acquire) != S_DONE)
            break;
        if (s->big) {
            size_t pg = (size_t)sysconf(_SC_PAGESIZE);
            size_t len = ((size_t)s->len + pg - 1) / pg * pg;
            madvise(p->arena + ARENA_SOFT, len, MADV_REMOVE);
            p->big_busy = false;
        } else {
            p->atail = s->pos + s->len;
        }
        atomic_store_explicit(&s->state, S_FREE, memory_order_relaxed);
        p->free_seq++;
    }
}

/* Room for a task of len bytes: a slot and arena space.  false: it waits. */
static bool place(mp_pool *p, size_t len, uint64_t *pos, bool *big)
{
    for (int pass = 0; pass < 2; pass++) {
        if (pass)
            reclaim(p);
        if (p->pubseq - p->free_seq >= NSLOT)
            continue;
        if (len > SMALL_MAX) {
            if (p->big_busy)
                continue;
            p->big_busy = true;
            *big = true;
            *pos = 0;
            return true;
        }
        uint64_t start = p->apos;
        if (start % ARENA_SOFT + len > ARENA_SOFT)
            start += ARENA_SOFT - start % ARENA_SOFT;
        if (start + len - p->atail > ARENA_SOFT)
            continue;
        p->apos = start + len;
        *pos = start;
        *big = false;
        return true;
    }
    return false;
}

static void publish(mp_pool *p, uint64_t id, mp_task_fn fn, int box, const uint8_t *data,
                    size_t len, uint64_t pos, bool big)
{
    struct tslot *s = &p->slots[p->pubseq % NSLOT];
    memcpy(p->arena + (big ? ARENA_SOFT : (size_t)(pos % ARENA_SOFT)), data, len);
    s->box = (int16_t)box;
    s->id = id;
    s->fn = fn;
    s->pos = pos;
    s->len = len;
    s->big = big;
    atomic_store_explicit(&s->state, S_READY, memory_order_release);
    atomic_store(&p->sh->pub, ++p->pubseq);
}

static size_t feed(mp_pool *p)
{
    size_t k = 0;
    while (p->ph) {
        struct pend *e = p->ph;
        uint64_t pos;
        bool big;
        if (!place(p, e->len, &pos, &big))
            break;
        publish(p, e->id, e->fn, e->box, e->data, e->len, pos, big);
        p->ph = e->next;
        if (!p->ph)
            p->pt = NULL;
        free(e);
        k++;
    }
    atomic_store(&p->sh->pending, p->ph != NULL);
    return k;
}

static mp_status enqueue(mp_pool *p, uint64_t id, mp_task_fn fn, int box, const uint8_t *data,
                         size_t len, size_t *published)
{
    uint64_t pos;
    bool big;
    if (!p->ph && place(p, len, &pos, &big)) {
        publish(p, id, fn, box, data, len, pos, big);
        ++*published;
        return MP_OK;
    }
    struct pend *e = malloc(sizeof *e + len);
    if (!e)
        return mp__err(MP_ENOMEM, "pool: out of memory queueing a task");
    e->next = NULL;
    e->id = id;
    e->fn = fn;
    e->box = box;
    e->len = len;
    memcpy(e->data, data, len);
    if (p->pt)
        p->pt->next = e;
    else
        p->ph = e;
    p->pt = e;
    atomic_store(&p->sh->pending, 1);
    return MP_OK;
}

/* ------------------------------------------------------------------- jobs */

static mp_async_result *job_new(int kind, size_t nchunks, mp_result_cb cb, mp_error_cb ecb,
                                void *ud)
{
    size_t sz = kind == J_IMAP || kind == J_IMAPU ? sizeof(struct mp_imap)
                                                  : sizeof(mp_async_result);
    mp_async_result *j = calloc(1, sz);
    if (!j)
        return NULL;
    if (nchunks > 1 || (nchunks == 1 && kind != J_APPLY)) {
        j->chunks = calloc(nchunks, sizeof *j->chunks);
        if (kind == J_IMAPU && j->chunks)
            j->order = calloc(nchunks, sizeof *j->order);
        if (!j->chunks || (kind == J_IMAPU && !j->order)) {
            free(j->chunks);
            free(j);
            return NULL;
        }
    } else {
        j->chunks = &j->one;
    }
    atomic_init(&j->refs, 1);
    atomic_init(&j->ready, false);
    j->box = -1;
    j->kind = kind;
    pthread_mutex_init(&j->mu, NULL);
    cond_init(&j->cv);
    j->cb = cb;
    j->ecb = ecb;
    j->ud = ud;
    j->nchunks = nchunks;
    return j;
}

static void chunk_clear(struct chunk *c)
{
    for (size_t i = 0; i < c->n; i++)
        mp_value_free(c->items ? c->items[i] : NULL);
    free(c->items);
    free(c->msg);
    c->items = NULL;
    c->msg = NULL;
    c->n = 0;
}

static void list_drop(mp_async_result *j)
{
    for (size_t i = 0; i < j->nchunks; i++)
        if (j->chunks[i].arrived)
            for (size_t k = 0; k < j->chunks[i].n; k++)
                mp_value_free(j->list->u.q.items[i * j->cs + k]);
    mp_value_free(j->list); /* len 0: frees the list alone */
    j->list = NULL;
    for (size_t i = 0; i < j->nchunks; i++)
        j->chunks[i].n = 0;
}

static void job_unref(mp_async_result *j)
{
    if (!j || atomic_fetch_sub(&j->refs, 1) != 1)
        return;
    if (j->list)
        list_drop(j);
    for (size_t i = 0; i < j->nchunks; i++)
        chunk_clear(&j->chunks[i]);
    if (j->chunks != &j->one)
        free(j->chunks);
    free(j->order);
    free(j->msg);
    mp_value_free(j->value);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j);
}

/* The outcome is decided: build the value, run the callback, then mark the
 * result ready (CPython's order: a get() that returns has seen the callback). */
static void job_complete(mp_async_result *j)
{
    if (j->st == MP_OK) {
        if (j->kind == J_APPLY) {
            j->value = j->one.items[0];
            j->one.items[0] = NULL;
        } else {
            j->list->u.q.len = j->nitems;
            j->value = j->list;
            j->list = NULL;
            for (size_t i = 0; i < j->nchunks; i++)
                j->chunks[i].n = 0; /* the items are the list's now */
        }
    }
    if (j->st == MP_OK) {
        if (j->cb)
            j->cb(j->value, j->ud);
    } else if (j->ecb) {
        j->ecb(j->st, j->msg ? j->msg : mp_strerror(j->st), j->ud);
    }
    pthread_mutex_lock(&j->mu);
    atomic_store_explicit(&j->ready, true, memory_order_release);
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

static void done_free(struct done *d)
{
    struct chunk tmp = {.items = d->items, .n = d->n, .msg = d->msg};
    chunk_clear(&tmp);
    d->items = NULL;
    d->msg = NULL;
}

static void deliver(struct done *d)
{
    mp_async_result *j = d->job;
    size_t ci = (size_t)(d->id - j->base);
    bool finish = false;
    pthread_mutex_lock(&j->mu);
    struct chunk *c = &j->chunks[ci];
    if (d->st == (mp_status)ST_REPLIED) {
        j->completed = true; /* the caller took the result from the box */
    } else if (j->kind == J_IMAP || j->kind == J_IMAPU) {
        c->items = d->items;
        c->n = d->n;
        c->st = d->st;
        c->msg = d->msg;
        c->arrived = true;
        if (j->kind == J_IMAPU)
            j->order[j->norder++] = ci;
        pthread_cond_broadcast(&j->cv);
    } else if (j->completed) {
        struct chunk tmp = {.items = d->items, .n = d->n, .msg = d->msg};
        chunk_clear(&tmp);
    } else if (d->st != MP_OK) {
        j->completed = finish = true;
        j->st = d->st;
        j->msg = d->msg;
        struct chunk tmp = {.items = d->items, .n = d->n};
        chunk_clear(&tmp);
    } else if (j->kind == J_MAP) {
        size_t want = j->nitems - ci * j->cs < j->cs ? j->nitems - ci * j->cs : j->cs;
        if (d->n != want) {
            j->completed = finish = true;
            j->st = MP_EPROTO;
            j->msg = strdup("MP_EPROTO: a chunk came back with the wrong number of results");
            done_free(d);
        } else {
            memcpy(j->list->u.q.items + ci * j->cs, d->items, d->n * sizeof *d->items);
            free(d->items);
            c->n = d->n;
            c->arrived = true;
            if (--j->okleft == 0)
                j->completed = finish = true;
        }
    } else {
        c->items = d->items;
        c->n = d->n;
        c->arrived = true;
        if (--j->okleft == 0)
            j->completed = finish = true;
    }
    bool release = --j->outstanding == 0;
    pthread_mutex_unlock(&j->mu);
    d->items = NULL;
    d->msg = NULL;
    if (finish)
        job_complete(j);
    if (release)
        job_unref(j);
}

/* ---------------------------------------------------------------- handler */

static struct done *dl_push(struct dlist *l)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        struct done *d = realloc(l->d, cap * sizeof *d);
        if (!d)
            return NULL;
        l->d = d;
        l->cap = cap;
    }
    struct done *d = &l->d[l->n++];
    memset(d, 0, sizeof *d);
    return d;
}

/* One complete result message: decode it into the list (no lock held). */
static void emit(struct dlist *l, const struct rhdr *h, const uint8_t *p, size_t len,
                 bool discarded)
{
    struct done *d = dl_push(l);
    if (!d)
        return; /* out of memory: the task is failed when its worker goes */
    d->id = h->id;
    if (discarded) {
        d->st = MP_ENOMEM;
        d->msg = strdup("MP_ENOMEM: out of memory receiving the result");
        return;
    }
    if (h->status == ST_REPLIED) {
        d->st = (mp_status)ST_REPLIED;
        return;
    }
    if (h->status != MP_OK) {
        d->st = (mp_status)h->status;
        d->msg = strndup((const char *)p, len);
        return;
    }
    const uint8_t *q = p, *end = p + len;
    uint64_t n = 0;
    mp_status s = MP_OK;
    if (!get_varint(&q, end, &n) || n > len) {
        s = mp__err(MP_EPROTO, "pool: malformed result");
    } else if (!(d->items = calloc(n ? (size_t)n : 1, sizeof *d->items))) {
        s = mp__err(MP_ENOMEM, "pool: out of memory receiving a result");
    } else {
        mp__vblock *b = NULL;
        for (; d->n < n && !s; d->n++) {
            if (!b && n - d->n >= VBLOCK_MIN && q < end && (*q == W_INT || *q == W_FLOAT))
                b = mp__vblock_new((size_t)(n - d->n));
            if ((s = dec(&q, end, &d->items[d->n], 0, b)))
                break;
        }
        mp__vblock_done(b);
    }
    if (s) {
        char m[300];
        snprintf(m, sizeof m, "%s: the result could not be received: %s", mp_status_name(s),
                 mp_errmsg());
        done_free(d);
        d->st = s;
        d->msg = strdup(m);
    }
}

static void ring_copy(uint8_t *dst, const uint8_t *ring, uint64_t pos, size_t n)
{
    size_t at = (size_t)(pos % RRING), k = n < RRING - at ? n : RRING - at;
    memcpy(dst, ring + at, k);
    if (n > k)
        memcpy(dst + k, ring, n - k);
}

/* Read what worker i has written.  Returns the number of messages. */
static size_t drain_ring(mp_pool *p, int i, struct dlist *l)
{
    struct wslot *ws = &p->ws[i];
    struct rd *r = &p->rd[i];
    const uint8_t *ring = p->rings + (size_t)i * RRING;
    uint64_t tail = atomic_load_explicit(&ws->rtail, memory_order_relaxed);
    uint64_t head = atomic_load_explicit(&ws->rhead, memory_order_acquire);
    size_t msgs = 0;
    while (head != tail) {
        if (!r->hdr) {
            if (head - tail < sizeof r->h)
                break;
            ring_copy((uint8_t *)&r->h, ring, tail, sizeof r->h);
            size_t at = (size_t)((tail + sizeof r->h) % RRING);
            if (head - tail - sizeof r->h >= r->h.len && at + r->h.len <= RRING) {
                emit(l, &r->h, ring + at, r->h.len, false);
                tail += sizeof r->h + r->h.len;
                msgs++;
                continue;
            }
            tail += sizeof r->h;
            r->hdr = true;
            r->got = 0;
            r->discard = false;
            if (r->cap < r->h.len) {
                free(r->buf);
                r->buf = malloc(r->h.len);
                r->cap = r->buf ? r->h.len : 0;
                r->discard = !r->buf;
            }
        }
        size_t k = r->h.len - r->got;
        if (k > head - tail)
            k = (size_t)(head - tail);
        if (!r->discard)
            ring_copy(r->buf + r->got, ring, tail, k);
        r->got += k;
        tail += k;
        if (r->got == r->h.len) {
            emit(l, &r->h, r->buf, r->h.len, r->discard);
            r->hdr = false;
            msgs++;
            if (r->cap > ((size_t)8 << 20)) {
                free(r->buf);
                r->buf = NULL;
                r->cap = 0;
            }
        } else {
            /* a message streamed through: make room for the rest now */
            atomic_store(&ws->rtail, tail);
            if (atomic_load(&ws->rwait) && atomic_exchange(&ws->rwait, 0))
                mp__futex_wake(&ws->rwait, 1);
            head = atomic_load_explicit(&ws->rhead, memory_order_acquire);
        }
    }
    atomic_store(&ws->rtail, tail);
    if (atomic_load(&ws->rwait) && atomic_exchange(&ws->rwait, 0))
        mp__futex_wake(&ws->rwait, 1);
    return msgs;
}

/* Under mu: attach each result to its job (dropping results of tasks already
 * accounted for: terminated, or failed by a worker's death). */
static void box_release(mp_pool *p, int box)
{
    if (--p->boxrefs[box] == 0)
        p->boxfree |= (uint64_t)1 << box;
}

/* Under mu: task d->id of job d->job is accounted for.  A caller waiting on
 * the task's reply box without a reply in it is sent to the job; one with a
 * reply published (its worker died before the marker) keeps it.  Either way
 * a sleeping caller is woken: the worker may have died between publishing
 * and its futex wake (the reply-box protocol). */
static void account(mp_pool *p, struct done *d)
{
    mp_async_result *j = d->job;
    p->live--;
    if (j->box < 0)
        return;
    if (d->st != (mp_status)ST_REPLIED) {
        struct box *b = &p->boxes[j->box];
        uint32_t want = BOX_EMPTY;
        atomic_compare_exchange_strong(&b->state, &want, (uint32_t)BOX_JOB);
        if (atomic_load(&b->sleeping))
            mp__futex_wake(&b->state, 1);
    }
    box_release(p, j->box);
}

static void collect(mp_pool *p, struct dlist *l, size_t from)
{
    for (size_t k = from; k < l->n; k++) {
        struct done *d = &l->d[k];
        if (d->job)
            continue;
        d->job = tab_take(p, d->id);
        if (d->job)
            account(p, d);
        else
            done_free(d);
    }
}

static void deliver_all(struct dlist *l)
{
    for (size_t k = 0; k < l->n; k++)
        if (l->d[k].job)
            deliver(&l->d[k]);
        else
            done_free(&l->d[k]);
    l->n = 0;
}

static mp_status spawn(mp_pool *p, int i)
{
    struct wslot *ws = &p->ws[i];
    atomic_store(&ws->cur, 0);
    atomic_store(&ws->waiting, PH_BUSY);
    atomic_store(&ws->rwait, 0);
    atomic_store(&ws->rhead, 0);
    atomic_store(&ws->rtail, 0);
    p->rd[i].hdr = false;
    mp__child_id id; /* in this frame, which the child never leaves */
    mp__child_prepare(&id, "ForkPoolWorker");
    pid_t pid = fork();
    if (pid < 0) {
        p->w[i].need_spawn = true;
        return mp__errno(errno, "pool: fork of a worker");
    }
    if (pid == 0)
        worker_main(p, i, &id);
    int fd = (int)syscall(SYS_pidfd_open, pid, 0); /* born close-on-exec */
    p->w[i] = (struct worker){.pid = pid, .pidfd = fd, .alive = true};
    p->nalive++;
    return MP_OK;
}

static bool want_workers(const mp_pool *p)
{
    return p->state == P_RUN || (p->state == P_CLOSE && p->live > 0);
}

static void describe_exit(char *buf, size_t len, pid_t pid, int wst, bool known)
{
    if (!known)
        snprintf(buf, len, "worker %d died (its exit status was reaped elsewhere)", (int)pid);
    else if (WIFSIGNALED(wst))
        snprintf(buf, len, "worker %d was killed by signal %d (SIG%s)", (int)pid,
                 WTERMSIG(wst), sigabbrev_np(WTERMSIG(wst)) ? sigabbrev_np(WTERMSIG(wst)) : "?");
    else
        snprintf(buf, len, "worker %d exited with code %d", (int)pid, WEXITSTATUS(wst));
}

/* Fail, with st and msg, every task of worker i's that has not come back. */
static void fail_held(mp_pool *p, int i, struct dlist *l, mp_status st, const char *msg)
{
    uint64_t ids[1 + NSLOT];
    size_t nid = 0;
    uint64_t cur = atomic_load(&p->ws[i].cur);
    if (cur)
        ids[nid++] = cur;
    for (uint64_t s = p->free_seq; s < p->pubseq; s++) {
        struct tslot *t = &p->slots[s % NSLOT];
        if (atomic_load(&t->state) == (uint32_t)(S_CLAIMED + i)) {
            ids[nid++] = t->id;
            atomic_store(&t->state, S_DONE);
        }
    }
    for (size_t k = 0; k < nid; k++) {
        mp_async_result *j = tab_take(p, ids[k]);
        if (!j)
            continue;
        struct done tmp = {.id = ids[k], .job = j, .st = st}, *d = dl_push(l);
        account(p, &tmp);
        if (!d)
            continue;
        *d = tmp;
        d->msg = strdup(msg);
    }
}

static void worker_gone(mp_pool *p, int i, int wst, bool known, struct dlist *l)
{
    char why[200], msg[256];
    describe_exit(why, sizeof why, p->w[i].pid, wst, known);
    drain_ring(p, i, l); /* everything it finished counts */
    p->rd[i].hdr = false;
    pthread_mutex_lock(&p->mu);
    collect(p, l, 0);
    snprintf(msg, sizeof msg, "%s while running the task", why);
    fail_held(p, i, l, MP_EWORKERLOST, msg);
    if (p->w[i].pidfd >= 0)
        close(p->w[i].pidfd);
    p->w[i].pidfd = -1;
    p->w[i].alive = false;
    p->nalive--;
    /* It may have died in wake_workers() between marking a sleeping peer
     * PH_IDLE and its futex wake: that peer would sleep on, counted as idle,
     * never woken again.  A spurious wake-up costs a peer one look. */
    for (int k = 0; k < p->n; k++)
        if (k != i && p->w[k].alive && atomic_load(&p->ws[k].waiting) == PH_IDLE)
            mp__futex_wake(&p->ws[k].waiting, 1);
    reclaim(p);
    if (feed(p))
        wake_workers(p, -1);
    if (want_workers(p))
        spawn(p, i);
    pthread_mutex_unlock(&p->mu);
    deliver_all(l);
}

static void reap(mp_pool *p, int i, int flags, struct dlist *l)
{
    int wst = 0;
    pid_t r;
    do
        r = waitpid(p->w[i].pid, &wst, flags);
    while (r < 0 && errno == EINTR);
    if (r == 0)
        return; /* WNOHANG: still running */
    worker_gone(p, i, wst, r > 0, l);
}

/* Sleep until a result, a death or a poke; timeout_ms 0: just look. */
static void wait_events(mp_pool *p, int timeout_ms, struct dlist *l)
{
    struct pollfd fds[1 + MAX_WORKERS];
    int nf = 0, idx[MAX_WORKERS];
    bool fallback = false;
    fds[nf++] = (struct pollfd){.fd = p->efd, .events = POLLIN};
    for (int i = 0; i < p->n; i++) {
        if (!p->w[i].alive)
            continue;
        if (p->w[i].pidfd < 0) {
            fallback = true;
            continue;
        }
        idx[nf - 1] = i;
        fds[nf++] = (struct pollfd){.fd = p->w[i].pidfd, .events = POLLIN};
    }
    if (fallback && (timeout_ms < 0 || timeout_ms > 20))
        timeout_ms = 20; /* no pidfd (old kernel): look with waitpid */
    int r = poll(fds, (nfds_t)nf, timeout_ms);
    atomic_store(&p->sh->hsleep, 0);
    if (r < 0)
        return;
    if (fds[0].revents) {
        uint64_t v;
        while (read(p->efd, &v, sizeof v) < 0 && errno == EINTR) {
        }
    }
    for (int k = 1; k < nf; k++)
        if (fds[k].revents)
            reap(p, idx[k - 1], 0, l);
    if (fallback)
        for (int i = 0; i < p->n; i++)
            if (p->w[i].alive && p->w[i].pidfd < 0)
                reap(p, i, WNOHANG, l);
    p->last_check = mp__now();
}

static bool rings_busy(mp_pool *p)
{
    for (int i = 0; i < p->n; i++)
        if (p->w[i].alive &&
            atomic_load(&p->ws[i].rhead) != atomic_load_explicit(&p->ws[i].rtail,
                                                                 memory_order_relaxed))
            return true;
    return false;
}

static bool rings_busy_v(const void *arg)
{
    return rings_busy((mp_pool *)arg);
}

static void do_terminate(mp_pool *p, struct dlist *l)
{
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->sh->stop, 1);
    for (int i = 0; i < p->n; i++)
        if (p->w[i].alive)
            kill(p->w[i].pid, SIGTERM);
    pthread_mutex_unlock(&p->mu);
    /* SIGTERM, as CPython's terminate() sends; a worker that blocks or handles it
     * (a task's own business) gets SIGKILL after TERM_GRACE, so terminate always
     * returns. */
    mp__deadline grace;
    mp__deadline_init(&grace, TERM_GRACE);
    for (int i = 0; i < p->n; i++) {
        if (!p->w[i].alive)
            continue;
        struct pollfd pfd = {.fd = p->w[i].pidfd, .events = POLLIN};
        int r = 1;
        while (pfd.fd >= 0 && (r = poll(&pfd, 1, mp__deadline_poll_ms(&grace))) < 0 &&
               errno == EINTR) {
        }
        if (r == 0 || pfd.fd < 0)
            kill(p->w[i].pid, SIGKILL);
    }
    for (int i = 0; i < p->n; i++) {
        if (!p->w[i].alive)
            continue;
        int wst;
        while (waitpid(p->w[i].pid, &wst, 0) < 0 && errno == EINTR) {
        }
        if (p->w[i].pidfd >= 0)
            close(p->w[i].pidfd);
        p->w[i].pidfd = -1;
        p->w[i].alive = false;
        p->nalive--;
        drain_ring(p, i, l); /* results finished before the kill still count */
    }
    pthread_mutex_lock(&p->mu);
    collect(p, l, 0);
    for (size_t k = 0; k < p->tabcap; k++) {
        if (!p->tab[k].id)
            continue;
        struct done tmp = {.id = p->tab[k].id, .job = p->tab[k].job, .st = MP_CLOSED};
        struct done *d = dl_push(l);
        account(p, &tmp);
        if (!d)
            continue;
        *d = tmp;
        d->msg = strdup("MP_CLOSED: the pool was terminated before the task finished");
    }
    memset(p->tab, 0, p->tabcap * sizeof *p->tab);
    p->tabn = 0;
    while (p->ph) {
        struct pend *e = p->ph;
        p->ph = e->next;
        free(e);
    }
    p->pt = NULL;
    pthread_mutex_unlock(&p->mu);
    deliver_all(l);
}

static void pool_release(mp_pool *p);

static void *handler_main(void *arg)
{
    mp_pool *p = arg;
    struct dlist l = {0};
    pthread_mutex_lock(&p->mu);
    mp_status st = MP_OK;
    for (int i = 0; i < p->n && !st; i++)
        st = spawn(p, i);
    p->start_st = st;
    if (st)
        snprintf(p->start_msg, sizeof p->start_msg, "%s", mp_errmsg());
    p->started = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    if (st) {
        do_terminate(p, &l);
        free(l.d);
        return NULL;
    }
    for (;;) {
        size_t got = 0;
        for (int i = 0; i < p->n; i++)
            if (p->w[i].alive)
                got += drain_ring(p, i, &l);
        pthread_mutex_lock(&p->mu);
        collect(p, &l, 0);
        reclaim(p);
        if (feed(p))
            wake_workers(p, -1);
        if (p->state == P_CLOSE && p->live == 0 && !p->stop_sent) {
            p->stop_sent = true;
            atomic_store(&p->sh->stop, 1);
            for (int i = 0; i < p->n; i++) {
                atomic_store(&p->ws[i].waiting, PH_IDLE);
                mp__futex_wake(&p->ws[i].waiting, 1);
            }
        }
        for (int i = 0; i < p->n; i++)
            if (!p->w[i].alive && p->w[i].need_spawn && want_workers(p))
                spawn(p, i);
        int state = p->state;
        bool tasks_out = p->live > 0;
        bool respawn = false;
        for (int i = 0; i < p->n; i++)
            respawn |= p->w[i].need_spawn && !p->w[i].alive;
        pthread_mutex_unlock(&p->mu);
        deliver_all(&l);
        if (state == P_TERM) {
            do_terminate(p, &l);
            break;
        }
        if (state == P_CLOSE && p->stop_sent && p->nalive == 0)
            break;
        if (got) {
            /* busy: still look at the pidfds now and then */
            if (mp__now() - p->last_check > 0.002)
                wait_events(p, 0, &l);
            continue;
        }
        double t0;
        if (tasks_out && spin(&p->hlast, rings_busy_v, p, &t0, false))
            continue;
        atomic_store(&p->sh->hsleep, 1);
        if (rings_busy(p)) {
            atomic_store(&p->sh->hsleep, 0);
            continue;
        }
        wait_events(p, respawn ? 100 : -1, &l);
        if (tasks_out)
            p->hlast = mp__now() - t0;
    }
    free(l.d);
    pthread_mutex_lock(&p->mu);
    bool self_free = p->free_on_exit;
    pthread_mutex_unlock(&p->mu);
    if (self_free) {
        pthread_detach(pthread_self());
        pool_release(p);
    }
    return NULL;
}

/* ---------------------------------------------------------------- public */

mp_status mp_task_error(mp_status s, const char *fmt, ...)
{
    if (!fmt)
        return mp__err(s, "%s", "");
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return mp__err(s, "%s", buf);
}

static void poke(mp_pool *p)
{
    uint64_t one = 1;
    while (write(p->efd, &one, sizeof one) < 0 && errno == EINTR) {
    }
}

static void pool_release(mp_pool *p)
{
    if (p->map)
        munmap(p->map, p->maplen);
    if (p->efd >= 0)
        close(p->efd);
    if (p->rd)
        for (int i = 0; i < p->n; i++)
            free(p->rd[i].buf);
    free(p->rd);
    free(p->w);
    free(p->tab);
    while (p->ph) {
        struct pend *e = p->ph;
        p->ph = e->next;
        free(e);
    }
    free(p->enc.p);
    mp_value_free(p->initargs);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}

static mp_status map_shm(mp_pool *p)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
#define UP(x) (((x) + pg - 1) / pg * pg)
    size_t o_ws = UP(sizeof(struct shm_hdr));
    size_t o_slots = UP(o_ws + (size_t)p->n * sizeof(struct wslot));
    size_t o_boxes = UP(o_slots + NSLOT * sizeof(struct tslot));
    size_t o_rings = UP(o_boxes + NBOX * sizeof(struct box));
    size_t o_arena = o_rings + (size_t)p->n * RRING;
    /* The big region is address space only (MAP_NORESERVE); fall back to
     * less where address space is limited. */
    static const size_t bigs[] = {MP_MSG_MAX, (size_t)256 << 20, (size_t)32 << 20};
    for (size_t k = 0; k < sizeof bigs / sizeof bigs[0]; k++) {
        size_t len = o_arena + ARENA_SOFT + UP(bigs[k]);
        void *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m == MAP_FAILED)
            continue;
        p->map = m;
        p->maplen = len;
        p->bigmax = bigs[k];
        p->sh = m;
        p->ws = (struct wslot *)((uint8_t *)m + o_ws);
        p->slots = (struct tslot *)((uint8_t *)m + o_slots);
        p->boxes = (struct box *)((uint8_t *)m + o_boxes);
        p->rings = (uint8_t *)m + o_rings;
        p->arena = (uint8_t *)m + o_arena;
        return MP_OK;
    }
#undef UP
    return mp__errno(errno, "pool: mmap of the shared rings");
}

mp_status mp_pool_new(mp_pool **out, int processes, mp_pool_init_fn initializer,
                      const mp_value *initargs, long maxtasksperchild)
{
    if (!out)
        return mp__err(MP_EINVAL, "pool.new: NULL out");
    int n = processes > 0 ? processes : mp_cpu_count();
    if (n < 1)
        n = 1;
    if (n > MAX_WORKERS)
        return mp__err(MP_EINVAL, "pool.new: %d processes (at most %d)", n, MAX_WORKERS);
    mp_pool *p = calloc(1, sizeof *p);
    if (!p)
        return mp__err(MP_ENOMEM, "pool.new: out of memory");
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    /* held briefly by submitters and the handler: spin rather than sleep */
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ADAPTIVE_NP);
    pthread_mutex_init(&p->mu, &ma);
    pthread_mutexattr_destroy(&ma);
    cond_init(&p->cv);
    p->efd = -1;
    p->n = n;
    p->owner = my_pid();
    p->init = initializer;
    p->maxtasks = maxtasksperchild > 0 ? maxtasksperchild : 0;
    p->next_id = 1;
    p->boxfree = ~(uint64_t)0;
    mp_status s = MP_OK;
    if (initargs && !(p->initargs = mp_value_copy(initargs)))
        s = mp__err(MP_ENOMEM, "pool.new: out of memory copying initargs");
    if (!s)
        s = map_shm(p);
    if (!s && (p->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
        s = mp__errno(errno, "pool.new: eventfd");
    if (!s) {
        p->w = calloc((size_t)n, sizeof *p->w);
        p->rd = calloc((size_t)n, sizeof *p->rd);
        if (!p->w || !p->rd || !tab_grow(p))
            s = mp__err(MP_ENOMEM, "pool.new: out of memory");
        for (int i = 0; p->w && i < n; i++)
            p->w[i].pidfd = -1;
    }
    if (!s) {
        /* The handler thread takes no signals (they belong to the
         * application's threads); workers get the creator's mask back. */
        sigset_t all;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &p->mask);
        int e = pthread_create(&p->thr, NULL, handler_main, p);
        pthread_sigmask(SIG_SETMASK, &p->mask, NULL);
        if (e)
            s = mp__errno(e, "pool.new: pthread_create");
    }
    if (s) {
        pool_release(p);
        return s;
    }
    pthread_mutex_lock(&p->mu);
    while (!p->started)
        pthread_cond_wait(&p->cv, &p->mu);
    s = p->start_st;
    pthread_mutex_unlock(&p->mu);
    if (s) {
        pthread_join(p->thr, NULL);
        char m[256];
        snprintf(m, sizeof m, "%s", p->start_msg);
        pool_release(p);
        return mp__err(s, "%s", m);
    }
    *out = p;
    return MP_OK;
}

mp_status mp_pool_size(mp_pool *p, int *processes)
{
    if (!p || !processes)
        return mp__err(MP_EINVAL, "pool.size: NULL argument");
    *processes = p->n;
    return MP_OK;
}

static mp_status check_pool(mp_pool *p, const char *what)
{
    if (!p)
        return mp__err(MP_EINVAL, "%s: NULL pool", what);
    if (my_pid() != p->owner)
        return mp__err(MP_ESTATE, "%s: the pool belongs to process %d", what, (int)p->owner);
    return MP_OK;
}

/* Encode and queue the chunks of job j: items [0, nitems) of args (or args
 * itself when single), cs per chunk. */
static mp_status submit(mp_pool *p, mp_async_result *j, mp_task_fn fn, const mp_value *args,
                        bool single, size_t nitems, size_t cs, const char *what)
{
    pthread_mutex_lock(&p->mu);
    if (p->state != P_RUN) {
        int st = p->state;
        pthread_mutex_unlock(&p->mu);
        return mp__err(MP_ESTATE, "%s: pool not running (%s)", what, state_name(st));
    }
    j->handler = p->thr;
    j->base = p->next_id;
    size_t published = 0, k = 0;
    mp_status s = MP_OK;
    for (; k < j->nchunks; k++) {
        size_t from = k * cs, cnt = nitems - from < cs ? nitems - from : cs;
        struct wbuf *b = &p->enc;
        b->n = 0;
        if (!wb_grow(b, 10)) {
            s = mp__err(MP_ENOMEM, "%s: out of memory", what);
            break;
        }
        b->n = (size_t)(put_varint(b->p, single ? 1 : cnt) - b->p);
        if (single) {
            s = enc(b, args, 0);
        } else {
            for (size_t i = 0; i < cnt && !s; i++) {
                const mp_value *it = NULL;
                mp_seq_get(args, (ptrdiff_t)(from + i), &it);
                s = enc(b, it, 0);
            }
        }
        if (!s && b->n > p->bigmax)
            s = mp__err(MP_EMSGSIZE, "%s: a task of %zu bytes is larger than %zu", what,
                        b->n, p->bigmax);
        if (s)
            break;
        uint64_t id = j->base + k;
        if (!tab_put(p, id, j)) {
            s = mp__err(MP_ENOMEM, "%s: out of memory", what);
            break;
        }
        int box = -1;
        if (j->want_box && p->boxfree) {
            box = __builtin_ctzll(p->boxfree);
            p->boxfree &= ~((uint64_t)1 << box);
            p->boxrefs[box] = 2;
            atomic_store(&p->boxes[box].state, BOX_EMPTY);
            atomic_store(&p->boxes[box].sleeping, 0);
        }
        if ((s = enqueue(p, id, fn, box, b->p, b->n, &published))) {
            tab_take(p, id);
            if (box >= 0)
                p->boxfree |= (uint64_t)1 << box;
            break;
        }
        j->box = box;
        p->live++;
    }
    if (s) {
        /* Chunks already queued still run; their results find no job. */
        for (size_t i = 0; i < k; i++)
            if (tab_take(p, j->base + i))
                p->live--;
    } else {
        p->next_id += j->nchunks;
        j->outstanding = j->nchunks;
        j->okleft = j->nchunks;
        atomic_fetch_add(&j->refs, 1);
    }
    if (s)
        p->next_id += j->nchunks; /* never reuse ids a worker may answer */
    if (published)
        wake_workers(p, -1);
    if (p->enc.cap > ((size_t)8 << 20)) {
        free(p->enc.p);
        p->enc = (struct wbuf){0};
    }
    pthread_mutex_unlock(&p->mu);
    return s;
}

static mp_status check_seq_arg(const mp_value *args, size_t *n, bool star, const char *what)
{
    if (!args)
        return mp__err(MP_EINVAL, "%s: NULL args", what);
    mp_type t = mp_value_type(args);
    if (t != MP_T_LIST && t != MP_T_TUPLE)
        return mp__err(MP_ETYPE, "%s: args must be a list or tuple", what);
    mp_seq_len(args, n);
    for (size_t i = 0; star && i < *n; i++) {
        const mp_value *it = NULL;
        mp_seq_get(args, (ptrdiff_t)i, &it);
        mp_type u = mp_value_type(it);
        if (u != MP_T_LIST && u != MP_T_TUPLE)
            return mp__err(MP_ETYPE, "%s: item %zu is not a list or tuple", what, i);
    }
    return MP_OK;
}

static bool job_ready(const void *arg)
{
    const mp_async_result *j = arg;
    return atomic_load_explicit(&j->ready, memory_order_acquire);
}

static mp_status job_wait(mp_async_result *j, double timeout, const char *what)
{
    mp__deadline d;
    mp_status s = mp__deadline_init(&d, timeout);
    if (s)
        return s;
    if (atomic_load_explicit(&j->ready, memory_order_acquire))
        return MP_OK;
    if (!d.forever && mp__deadline_passed(&d))
        return mp__err(MP_TIMEOUT, "%s: not ready after %.3f s", what, timeout < 0 ? 0 : timeout);
    if (pthread_equal(pthread_self(), j->handler))
        return mp__err(MP_ESTATE, "%s: waiting in a pool callback for a task that cannot "
                                  "finish before the callback returns", what);
    static _Thread_local double last;
    double t0;
    if (spin(&last, job_ready, j, &t0, false))
        return MP_OK;
    pthread_mutex_lock(&j->mu);
    while (!atomic_load_explicit(&j->ready, memory_order_relaxed)) {
        if (d.forever) {
            pthread_cond_wait(&j->cv, &j->mu);
        } else if (pthread_cond_timedwait(&j->cv, &j->mu, &d.at) == ETIMEDOUT &&
                   !atomic_load_explicit(&j->ready, memory_order_relaxed)) {
            pthread_mutex_unlock(&j->mu);
            return mp__err(MP_TIMEOUT, "%s: not ready after %.3f s", what, timeout);
        }
    }
    pthread_mutex_unlock(&j->mu);
    last = mp__now() - t0;
    return MP_OK;
}

static mp_status job_outcome(mp_async_result *j)
{
    if (j->st == MP_OK)
        return MP_OK;
    return mp__err(j->st, "%s", j->msg ? j->msg : mp_strerror(j->st));
}

static mp_status start_job(mp_pool *p, int kind, mp_task_fn fn, const mp_value *args,
                           size_t chunksize, mp_result_cb cb, mp_error_cb ecb, void *ud,
                           mp_async_result **out, const char *what, bool want_box)
{
    mp_status s = check_pool(p, what);
    if (s)
        return s;
    if (!fn || !out)
        return mp__err(MP_EINVAL, "%s: NULL %s", what, fn ? "out" : "function");
    pthread_mutex_lock(&p->mu);
    int state = p->state;
    pthread_mutex_unlock(&p->mu);
    if (state != P_RUN) /* as CPython's _check_running(), before the arguments */
        return mp__err(MP_ESTATE, "%s: pool not running (%s)", what, state_name(state));
    bool single = kind == J_APPLY, star = false;
    if (kind < 0) { /* starmap */
        kind = J_MAP;
        star = true;
    }
    size_t n = 1, cs = 1;
    if (single) {
        if (!args)
            return mp__err(MP_EINVAL, "%s: NULL arg", what);
    } else {
        if ((s = check_seq_arg(args, &n, star, what)))
            return s;
        if (chunksize)
            cs = chunksize;
        else if (kind == J_MAP) /* CPython: divmod(len, 4 * processes), rounded up */
            cs = n ? (n + 4 * (size_t)p->n - 1) / (4 * (size_t)p->n) : 1;
    }
    size_t nchunks = single ? 1 : (n + cs - 1) / cs;
    mp_async_result *j = job_new(kind, nchunks, cb, ecb, ud);
    if (!j)
        return mp__err(MP_ENOMEM, "%s: out of memory", what);
    if (kind == J_MAP && nchunks) {
        j->cs = cs;
        j->nitems = n;
        if (!(j->list = mp__seq_new(MP_T_LIST, n))) {
            job_unref(j);
            return mp__err(MP_ENOMEM, "%s: out of memory", what);
        }
    }
    if (nchunks == 0) {
        /* As CPython: an empty map is ready at once (no callback runs). */
        if (kind == J_MAP && !(j->value = mp_list())) {
            job_unref(j);
            return mp__err(MP_ENOMEM, "%s: out of memory", what);
        }
        pthread_mutex_lock(&p->mu);
        int st = p->state;
        j->handler = p->thr;
        pthread_mutex_unlock(&p->mu);
        if (st != P_RUN) {
            job_unref(j);
            return mp__err(MP_ESTATE, "%s: pool not running (%s)", what, state_name(st));
        }
        j->completed = true;
        atomic_store(&j->ready, true);
        *out = j;
        return MP_OK;
    }
    j->want_box = want_box;
    if ((s = submit(p, j, fn, args, single, n, cs, what))) {
        job_unref(j);
        return s;
    }
    *out = j;
    return MP_OK;
}

mp_status mp_pool_apply_async(mp_pool *p, mp_task_fn fn, const mp_value *arg,
                              mp_result_cb callback, mp_error_cb error_callback, void *ud,
                              mp_async_result **out)
{
    return start_job(p, J_APPLY, fn, arg, 1, callback, error_callback, ud, out,
                     "pool.apply_async", false);
}

mp_status mp_pool_map_async(mp_pool *p, mp_task_fn fn, const mp_value *args, size_t chunksize,
                            mp_result_cb callback, mp_error_cb error_callback, void *ud,
                            mp_async_result **out)
{
    return start_job(p, J_MAP, fn, args, chunksize, callback, error_callback, ud, out,
                     "pool.map_async", false);
}

mp_status mp_pool_starmap_async(mp_pool *p, mp_task_fn fn, const mp_value *args,
                                size_t chunksize, mp_result_cb callback,
                                mp_error_cb error_callback, void *ud, mp_async_result **out)
{
    return start_job(p, -1, fn, args, chunksize, callback, error_callback, ud, out,
                     "pool.starmap_async", false);
}

static bool box_ready(const void *arg)
{
    const struct box *b = arg;
    return atomic_load_explicit(&b->state, memory_order_acquire) != BOX_EMPTY;
}

/* apply's wait: the worker's reply, straight from its box. */
static mp_status box_wait(mp_pool *p, mp_async_result *j, mp_value **result, const char *what)
{
    static const mp__deadline forever = {.forever = true};
    static _Thread_local double last;
    struct box *b = &p->boxes[j->box];
    double t0;
    if (!spin(&last, box_ready, b, &t0, false)) {
        atomic_store(&b->sleeping, 1);
        while (atomic_load(&b->state) == BOX_EMPTY)
            mp__futex_wait(&b->state, BOX_EMPTY, &forever);
        atomic_store(&b->sleeping, 0);
        last = mp__now() - t0;
    }
    mp_status s;
    if (atomic_load_explicit(&b->state, memory_order_acquire) == BOX_FULL) {
        const uint8_t *q = b->data, *end = q + b->len;
        uint64_t n = 0;
        if (b->status != MP_OK)
            s = mp__err((mp_status)b->status, "%.*s", (int)b->len, (const char *)b->data);
        else if (!get_varint(&q, end, &n) || n != 1)
            s = mp__err(MP_EPROTO, "%s: malformed reply", what);
        else
            s = dec(&q, end, result, 0, NULL);
    } else if (!(s = job_wait(j, MP_FOREVER, what)) && !(s = job_outcome(j))) {
        *result = j->value;
        j->value = NULL;
    }
    pthread_mutex_lock(&p->mu);
    box_release(p, j->box);
    pthread_mutex_unlock(&p->mu);
    return s;
}

/* The blocking forms: submit, wait, hand the value over. */
static mp_status run_sync(mp_pool *p, int kind, mp_task_fn fn, const mp_value *args,
                          size_t chunksize, mp_value **result, const char *what)
{
    if (!result)
        return mp__err(MP_EINVAL, "%s: NULL result", what);
    if (p && p->owner == my_pid() && pthread_equal(pthread_self(), p->thr))
        return mp__err(MP_ESTATE, "%s: would wait forever inside a pool callback", what);
    mp_async_result *j = NULL;
    mp_status s = start_job(p, kind, fn, args, chunksize, NULL, NULL, NULL, &j, what,
                            kind == J_APPLY);
    if (s)
        return s;
    if (j->box >= 0) {
        s = box_wait(p, j, result, what);
        job_unref(j);
        return s;
    }
    s = job_wait(j, MP_FOREVER, what);
    if (!s && !(s = job_outcome(j))) {
        *result = j->value;
        j->value = NULL;
    }
    job_unref(j);
    return s;
}

mp_status mp_pool_apply(mp_pool *p, mp_task_fn fn, const mp_value *arg, mp_value **result)
{
    return run_sync(p, J_APPLY, fn, arg, 1, result, "pool.apply");
}

mp_status mp_pool_map(mp_pool *p, mp_task_fn fn, const mp_value *args, size_t chunksize,
                      mp_value **result)
{
    return run_sync(p, J_MAP, fn, args, chunksize, result, "pool.map");
}

mp_status mp_pool_starmap(mp_pool *p, mp_task_fn fn, const mp_value *args, size_t chunksize,
                          mp_value **result)
{
    return run_sync(p, -1, fn, args, chunksize, result, "pool.starmap");
}

mp_status mp_pool_imap(mp_pool *p, mp_task_fn fn, const mp_value *args, size_t chunksize,
                       mp_imap **out)
{
    if (!out)
        return mp__err(MP_EINVAL, "pool.imap: NULL argument");
    mp_async_result *j = NULL;
    mp_status s = start_job(p, J_IMAP, fn, args, chunksize, NULL, NULL, NULL, &j, "pool.imap", false);
    if (!s)
        *out = (mp_imap *)j;
    return s;
}

mp_status mp_pool_imap_unordered(mp_pool *p, mp_task_fn fn, const mp_value *args,
                                 size_t chunksize, mp_imap **out)
{
    if (!out)
        return mp__err(MP_EINVAL, "pool.imap_unordered: NULL argument");
    mp_async_result *j = NULL;
    mp_status s = start_job(p, J_IMAPU, fn, args, chunksize, NULL, NULL, NULL, &j,
                            "pool.imap_unordered", false);
    if (!s)
        *out = (mp_imap *)j;
    return s;
}

mp_status mp_imap_next(mp_imap *it, double timeout, mp_value **item)
{
    if (!it || !item)
        return mp__err(MP_EINVAL, "imap.next: NULL argument");
    mp__deadline d;
    mp_status s = mp__deadline_init(&d, timeout);
    if (s)
        return s;
    mp_async_result *j = &it->r;
    pthread_mutex_lock(&j->mu);
    for (;;) {
        struct chunk *c = NULL;
        if (j->kind == J_IMAP) {
            if (j->cur >= j->nchunks)
                break;
            if (j->chunks[j->cur].arrived)
                c = &j->chunks[j->cur];
        } else {
            if (j->opos < j->norder)
                c = &j->chunks[j->order[j->opos]];
            else if (j->opos >= j->nchunks)
                break;
        }
        if (c) {
            size_t *pos = j->kind == J_IMAP ? &j->cur : &j->opos;
            if (c->st != MP_OK) {
                ++*pos;
                s = mp__err(c->st, "%s", c->msg ? c->msg : mp_strerror(c->st));
                pthread_mutex_unlock(&j->mu);
                return s;
            }
            *item = c->items[j->item];
            c->items[j->item] = NULL;
            if (++j->item == c->n) {
                j->item = 0;
                ++*pos;
            }
            pthread_mutex_unlock(&j->mu);
            return MP_OK;
        }
        if (!d.forever && mp__deadline_passed(&d)) {
            pthread_mutex_unlock(&j->mu);
            return mp__err(MP_TIMEOUT, "imap.next: nothing ready after %.3f s",
                           timeout < 0 ? 0 : timeout);
        }
        if (pthread_equal(pthread_self(), j->handler)) {
            pthread_mutex_unlock(&j->mu);
            return mp__err(MP_ESTATE, "imap.next: waiting in a pool callback for a task "
                                      "that cannot finish before the callback returns");
        }
        if (d.forever)
            pthread_cond_wait(&j->cv, &j->mu);
        else
            pthread_cond_timedwait(&j->cv, &j->mu, &d.at);
    }
    pthread_mutex_unlock(&j->mu);
    return mp__err(MP_EOF, "imap.next: no more results");
}

void mp_imap_free(mp_imap *it)
{
    if (it)
        job_unref(&it->r);
}

mp_status mp_async_result_get(mp_async_result *r, double timeout, const mp_value **result)
{
    if (!r || !result)
        return mp__err(MP_EINVAL, "async_result.get: NULL argument");
    mp_status s = job_wait(r, timeout, "async_result.get");
    if (!s && !(s = job_outcome(r)))
        *result = r->value;
    return s;
}

mp_status mp_async_result_wait(mp_async_result *r, double timeout)
{
    if (!r)
        return mp__err(MP_EINVAL, "async_result.wait: NULL result");
    return job_wait(r, timeout, "async_result.wait");
}

mp_status mp_async_result_ready(mp_async_result *r, bool *ready)
{
    if (!r || !ready)
        return mp__err(MP_EINVAL, "async_result.ready: NULL argument");
    *ready = atomic_load_explicit(&r->ready, memory_order_acquire);
    return MP_OK;
}

mp_status mp_async_result_successful(mp_async_result *r, bool *successful)
{
    if (!r || !successful)
        return mp__err(MP_EINVAL, "async_result.successful: NULL argument");
    if (!atomic_load_explicit(&r->ready, memory_order_acquire))
        return mp__err(MP_ESTATE, "async_result.successful: result is not ready");
    *successful = r->st == MP_OK;
    return MP_OK;
}

void mp_async_result_free(mp_async_result *r)
{
    job_unref(r);
}

mp_status mp_pool_close(mp_pool *p)
{
    mp_status s = check_pool(p, "pool.close");
    if (s)
        return s;
    /* before the poke: see the reply-box protocol */
    atomic_store(&p->sh->eager, 1);
    pthread_mutex_lock(&p->mu);
    if (p->state == P_RUN)
        p->state = P_CLOSE;
    pthread_mutex_unlock(&p->mu);
    poke(p);
    return MP_OK;
}

static void join_thread(mp_pool *p)
{
    pthread_mutex_lock(&p->mu);
    while (p->joining && !p->joined)
        pthread_cond_wait(&p->cv, &p->mu);
    if (!p->joined) {
        p->joining = true;
        pthread_mutex_unlock(&p->mu);
        pthread_join(p->thr, NULL);
        pthread_mutex_lock(&p->mu);
        p->joined = true;
        pthread_cond_broadcast(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
}

mp_status mp_pool_terminate(mp_pool *p)
{
    mp_status s = check_pool(p, "pool.terminate");
    if (s)
        return s;
    pthread_mutex_lock(&p->mu);
    p->state = P_TERM;
    pthread_mutex_unlock(&p->mu);
    poke(p);
    if (pthread_equal(pthread_self(), p->thr))
        return MP_OK; /* from a callback: the handler terminates when it returns */
    join_thread(p);
    return MP_OK;
}

mp_status mp_pool_join(mp_pool *p)
{
    mp_status s = check_pool(p, "pool.join");
    if (s)
        return s;
    pthread_mutex_lock(&p->mu);
    int st = p->state;
    pthread_mutex_unlock(&p->mu);
    if (st == P_RUN)
        return mp__err(MP_ESTATE, "pool.join: the pool is still running (close or terminate "
                                  "it first)");
    if (pthread_equal(pthread_self(), p->thr))
        return mp__err(MP_ESTATE, "pool.join: called from a pool callback");
    join_thread(p);
    return MP_OK;
}

void mp_pool_free(mp_pool *p)
{
    if (!p || my_pid() != p->owner)
        return; /* an inherited copy in a child: the parent's to release */
    if (pthread_equal(pthread_self(), p->thr)) {
        pthread_mutex_lock(&p->mu);
        p->state = P_TERM;
        p->free_on_exit = true;
        pthread_mutex_unlock(&p->mu);
        poke(p);
        return;
    }
    mp_pool_terminate(p);
    pool_release(p);
}
