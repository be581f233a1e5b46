/* queue: Queue, SimpleQueue and JoinableQueue over a shared-memory ring.
 *
 * Layout.  One anonymous MAP_SHARED mapping per queue (inherited by fork,
 * nothing in /dev/shm): a 4 KiB header, then a byte ring of RING_BYTES.  The
 * ring holds framed records [u32 len | u32 kind][payload padded to 8], so a
 * header never straddles the end of the ring and a payload is at most two
 * memcpy()s.  Pages are touched only as the ring is used.  16 MiB: a child
 * can put ~10 MiB and exit with nobody reading yet, and 1 MiB messages
 * pipeline several deep.
 *
 * Positions.  wpos = (items pushed << 32) | tail and rpos = (items popped <<
 * 32) | head, free-running 32-bit counters (the ring is smaller than 2^31).
 * Each side commits with ONE 64-bit store, so "bytes published" and "items
 * counted" can never disagree, even when a process dies between two
 * instructions: qsize = pushed - popped, maxsize compares the same numbers,
 * and JoinableQueue's unfinished count is pushed - task_done()s.
 *
 * Locks.  Producers are serialised by one process-shared ROBUST mutex and
 * consumers by another; the two sides touch different cache lines, so one
 * producer and one consumer never contend.  Nobody sleeps holding a lock
 * except a streamer (below).  Sleeping is a futex on a sequence word with a
 * "someone sleeps" flag: the waker pays a syscall only when the flag is set
 * and clears it, and a killed sleeper costs at most one spurious wake (a
 * counter of waiters would stay wrong forever).  Every sleep is bounded by
 * one liveness slice (mp__nap), after which the sleeper re-checks and raises its flag again,
 * so a waker killed half-way through its wake costs a survivor at most one
 * slice (see "wake / wait" for why no window wedges a survivor).
 *
 * Messages up to SINGLE_MAX are one record.  The producer copies, then
 * advances the tail; the consumer copies out, then advances the head.  So:
 *   - a put killed before its commit is not delivered, and nothing partial is
 *     ever visible;
 *   - a get killed before its commit leaves the record in place: the next
 *     consumer (which takes the lock with EOWNERDEAD) receives it.
 * Larger messages (up to MP_MSG_MAX) are streamed through the ring in chunks
 * (FIRST, CONT..., FINAL) while the producer holds the producer lock and one
 * consumer holds the consumer lock; the item is counted with the FINAL chunk.
 *   - A streaming producer killed (or timing out, or closed) mid-message:
 *     its stream id is withdrawn (by itself, or by whoever next takes the
 *     producer lock with EOWNERDEAD, or by the consumer, which probes that
 *     lock every PROBE_S while it waits for the next chunk); the consumer
 *     discards the partial message.  Not delivered.
 *   - A consumer killed mid-stream: the next consumer finds the stream state
 *     in the header and discards the rest of that message.  That one message
 *     is lost; every later message is intact.
 * A get that has begun receiving a streamed message finishes it (the producer
 * is copying, or gives up at its own deadline); its timeout bounds the wait
 * for a message to begin.
 *
 * put() returns once the message is in shared memory: there is no feeder
 * thread, so a child may exit right after putting and its parent may join it
 * before draining the queue (CPython's "joining processes that use queues"
 * deadlock cannot happen).  The ring is the bound of an "unbounded" queue:
 * when RING_BYTES are waiting, put blocks (or MP_FULL at its deadline), as a
 * full queue does -- not a hang at exit.
 */
#include "wait.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define RING_BYTES ((uint32_t)16 << 20) /* 16 MiB virtual; touched as used */
#define RING_OFF 4096u
#define HDR 8u
#define SINGLE_MAX (RING_BYTES / 2) /* larger records are streamed */
#define CHUNK_MAX ((size_t)1 << 20)
#define CHUNK_MIN ((size_t)64 << 10) /* streamers wait for this much room */
#define PROBE_S 0.02                 /* streaming consumer checks the producer */
#define LOCK_SLICE_S 0.05            /* lock waiters re-check close this often */

enum { K_MSG = 1, K_FIRST = 2, K_CONT = 3, K_FINAL = 4 };
enum { KIND_QUEUE, KIND_SIMPLE, KIND_JOINABLE };
enum { SIDE_P, SIDE_C };

/* The header's words in groups by writer, each group in a 128-byte block of
 * its own: Intel's adjacent-line prefetcher fetches 64-byte lines in pairs,
 * so a word written on every message by one side and a word the other side
 * touches must not share a 128-byte pair, or each message moves the pair
 * between the two cores (before this layout wpos shared a pair with the
 * consumer's lock, and rpos one with the producer's wake flag). */
#define QLINE 128

struct qshm {
    uint32_t cap;     /* read-only after creation */
    uint32_t maxsize; /* 0: unbounded */
    /* producer side, written only by the producer lock's holder.  rseen is
     * a copy of rpos from a recent look: rpos only moves forward, so a stale
     * copy only under-estimates the room (bytes and maxsize items) and the
     * producer re-reads rpos only when the copy says "full".  Invariant:
     * lo(wpos) - lo(rseen) <= cap, as every advance of wpos is checked
     * against it (or against a fresh rpos, which is then stored here). */
    alignas(QLINE) pthread_mutex_t plock;
    _Atomic uint64_t rseen;
    _Atomic uint32_t pstream; /* id of the message being streamed in, 0 none */
    uint32_t stream_next;
    /* The producer's commit word, read by the consumer when its copy says
     * "empty" (and spun on by a consumer that waits). */
    alignas(QLINE) _Atomic uint64_t wpos;
    /* consumer side: the state of a stream being received, so that the next
     * consumer can discard its rest if this one dies; wseen is a copy of
     * wpos from a recent look, as rseen (rpos <= wseen <= wpos: every load
     * of wpos under the consumer lock is stored here). */
    alignas(QLINE) pthread_mutex_t clock_;
    _Atomic uint64_t wseen;
    uint32_t cs_active, cs_id;
    uint64_t cs_total, cs_got;
    alignas(QLINE) _Atomic uint64_t rpos;
    /* the flags each publisher reads on every message (wake()): written
     * only by a side about to sleep, so they stay shared in both caches */
    alignas(QLINE) _Atomic uint32_t data_seq;
    _Atomic uint32_t data_flag;
    alignas(QLINE) _Atomic uint32_t room_seq;
    _Atomic uint32_t room_flag;
    alignas(QLINE) _Atomic uint32_t done; /* task_done() count (JoinableQueue) */
    _Atomic uint32_t join_flag;
};
_Static_assert(sizeof(struct qshm) <= RING_OFF, "queue header fits its page");

struct mp_queue {
    struct qshm *s;
    uint8_t *ring;
    uint32_t mask;
    int kind;
    _Atomic bool closed; /* per process, as CPython's close() */
};

static inline uint32_t lo(uint64_t p) { return (uint32_t)p; }
static inline uint32_t hi(uint64_t p) { return (uint32_t)(p >> 32); }
static inline uint64_t pos(uint32_t count, uint32_t at) { return (uint64_t)count << 32 | at; }
static inline size_t pad8(size_t n) { return (n + 7) & ~(size_t)7; }

/* ------------------------------------------------------------------ ring */

/* Copy n bytes from src into the ring at position at, in two pieces when
 * they cross the end.  Requires n <= cap (checked) and the caller holding
 * the producer lock with at..at+n unpublished room; changes nothing shared
 * but those bytes. */
static void ring_put(mp_queue *q, uint32_t at, const void *src, size_t n)
{
    assert(n <= q->s->cap);
    uint32_t off = at & q->mask;
    size_t first = (size_t)q->s->cap - off;
    if (n <= first) {
        memcpy(q->ring + off, src, n);
    } else {
        memcpy(q->ring + off, src, first);
        memcpy(q->ring, (const uint8_t *)src + first, n - first);
    }
}

/* Copy n bytes at position at out of the ring into dst, in two pieces when
 * they cross the end.  Requires n <= cap (checked) and the caller holding
 * the consumer lock over published bytes; changes nothing shared. */
static void ring_get(mp_queue *q, uint32_t at, void *dst, size_t n)
{
    assert(n <= q->s->cap);
    uint32_t off = at & q->mask;
    size_t first = (size_t)q->s->cap - off;
    if (n <= first) {
        memcpy(dst, q->ring + off, n);
    } else {
        memcpy(dst, q->ring + off, first);
        memcpy((uint8_t *)dst + first, q->ring, n - first);
    }
}

/* 8-byte aligned: never wraps. */
static inline uint64_t ring_word(mp_queue *q, uint32_t at)
{
    assert((at & 7) == 0);
    uint64_t w;
    memcpy(&w, q->ring + (at & q->mask), 8);
    return w;
}

static inline void ring_set_word(mp_queue *q, uint32_t at, uint64_t w)
{
    assert((at & 7) == 0);
    memcpy(q->ring + (at & q->mask), &w, 8);
}

/* Producer lock held: rpos now, also kept as the copy rseen (see struct
 * qshm).  Every producer's look at rpos goes through here, which keeps the
 * invariant lo(wpos) - lo(rseen) <= cap. */
static inline uint64_t look_rpos(struct qshm *s)
{
    uint64_t r = atomic_load(&s->rpos);
    atomic_store_explicit(&s->rseen, r, memory_order_relaxed);
    return r;
}

/* Consumer lock held: wpos now, also kept as the copy wseen.  Every
 * consumer's look at wpos goes through here, so rpos never passes wseen. */
static inline uint64_t look_wpos(struct qshm *s)
{
    uint64_t w = atomic_load(&s->wpos);
    atomic_store_explicit(&s->wseen, w, memory_order_relaxed);
    return w;
}

/* ------------------------------------------------------------ wake / wait */

/* The protocol, and why no window wedges a survivor.
 *
 * A sleeper waits for a word W (wpos, rpos, done) to change.  It reads the
 * sequence word (v = seq), raises its side's flag, re-reads W, and only if W
 * is unchanged calls FUTEX_WAIT(seq, v) -- for at most a slice (mp__nap).  A
 * publisher stores W (its commit), then, only if the flag is up, clears it,
 * bumps seq and calls FUTEX_WAKE.  All of it is seq_cst, so either the
 * publisher sees the flag or the sleeper sees the new W; and a wake landing
 * between the sleeper's read of seq and its FUTEX_WAIT changed seq, so the
 * kernel refuses to sleep.  No wake is lost while every process runs on.
 *
 * A process can be SIGKILLed at any instruction, though.  A publisher killed
 * after its commit but before its FUTEX_WAKE (before, in the middle of, or
 * after clearing the flag) leaves a sleeper asleep with W changed, and the
 * flag possibly down, so that later publishers skip the wake too.  No
 * ordering of the three steps closes that: some instant always lies between
 * the commit and the syscall.  So no sleep is unbounded: after a slice the
 * sleeper returns to its caller, which re-checks its condition (and its
 * deadline) and, to sleep again, comes back here and raises the flag again.
 * A dead waker thus costs each survivor at most one slice, like a dead lock
 * holder (the locks' liveness slice is the same 0.1 s), and the flag is
 * never left down under a sleeper for longer than that.  A killed sleeper
 * leaves the flag up: one spurious FUTEX_WAKE by the next publisher.
 *
 * The slice does not cost the fast path: a publisher still pays no syscall
 * when nobody sleeps, and a sleeper spins before it sleeps.  In a running
 * stream a sleeper is woken by a FUTEX_WAKE long before its slice ends; a
 * slice runs out only when nothing happens for 0.1 s (an idle queue, where
 * one re-check per slice is noise) or when a waker died. */

/* Publishers call this after their seq_cst commit store.  Killed anywhere
 * in here, a sleeper notices at its next slice. */
static inline void wake(_Atomic uint32_t *seq, _Atomic uint32_t *flag)
{
    if (MP__UNLIKELY(atomic_load(flag)) && atomic_exchange(flag, 0)) {
        atomic_fetch_add(seq, 1);
        mp__futex_wake(seq, INT_MAX);
    }
}

/* wake() whether or not the flag is up (close, a withdrawn stream). */
static void wake_force(_Atomic uint32_t *seq, _Atomic uint32_t *flag)
{
    atomic_store(flag, 0);
    atomic_fetch_add(seq, 1);
    mp__futex_wake(seq, INT_MAX);
}

/* Wait until *p differs from seen (or a wake on seq, or the deadline, or one
 * slice: the caller re-checks its condition and deadline and calls again).
 * The sequence is read before the flag is raised, and *p re-read after: a
 * publisher either sees the flag or its commit is seen here (both sides
 * seq_cst), and a wake that lands before the sleep changes seq so the futex
 * does not sleep. */
struct change_try {
    _Atomic uint64_t *p;
    uint64_t seen;
};

/* A try of wait_change's spin (mp__wait_tunings.queue): *p moved on. */
static inline bool changed(void *arg)
{
    struct change_try *a = arg;
    return atomic_load_explicit(a->p, memory_order_relaxed) != a->seen;
}

/* Sleep per the protocol above until *p differs from seen, the handle is
 * closed (closed, may be NULL), *word2 differs from word2_seen (word2 may
 * be NULL), a wake, the deadline or one slice.  Only a streamer
 * (put_stream, read_stream) calls it holding its side's lock; the others
 * drop it first.  Returns nothing: the caller re-checks its condition and
 * deadline. */
static void wait_change(_Atomic uint64_t *p, uint64_t seen, _Atomic uint32_t *seq,
                        _Atomic uint32_t *flag, _Atomic bool *closed, _Atomic uint32_t *word2,
                        uint32_t word2_seen, const mp__deadline *d)
{
    struct change_try a = {.p = p, .seen = seen};
    if (mp__spin_until(NULL, &mp__wait_tunings.queue, changed, &a))
        return;
    uint32_t v = atomic_load(seq);
    atomic_store(flag, 1);
    if (atomic_load(p) != seen || (closed && atomic_load(closed)) ||
        (word2 && atomic_load(word2) != word2_seen))
        return;
    mp__nap(seq, v, d);
}

/* ------------------------------------------------------------------ locks */

/* The holder of the producer lock died.  Its single-record put had not
 * committed (nothing to undo); a stream it was sending is withdrawn, and a
 * consumer waiting for its next chunk is woken to discard it. */
static void repair_producer(mp_queue *q)
{
    struct qshm *s = q->s;
    if (atomic_load(&s->pstream)) {
        atomic_store(&s->pstream, 0);
        wake_force(&s->data_seq, &s->data_flag);
    }
}

/* The result r of locking side's mutex: on EOWNERDEAD repairs the producer
 * side (the consumer side's repair is the caller's) and makes the mutex
 * consistent.  MP_OK with the lock held, else the error of r with it not
 * held.  For side_lock and read_stream's probe. */
static mp_status locked(mp_queue *q, int side, int r)
{
    pthread_mutex_t *m = side == SIDE_P ? &q->s->plock : &q->s->clock_;
    if (r == EOWNERDEAD) {
        /* The consumer side's repair is data driven (cs_active), done by
         * the caller. */
        if (side == SIDE_P)
            repair_producer(q);
        pthread_mutex_consistent(m);
        return MP_OK;
    }
    if (r != 0)
        return mp__errno(r, side == SIDE_P ? "queue: producer lock" : "queue: consumer lock");
    return MP_OK;
}

/* MP_OK (lock held), MP_TIMEOUT, MP_CLOSED (producers of a closed handle).
 * A try-once caller (deadline passed) still waits for a holder that is
 * merely copying, but not for a streamer, which may hold the lock as long as
 * its message lasts: then the queue is full (or empty) for now. */
static mp_status side_lock(mp_queue *q, int side, const mp__deadline *d)
{
    struct qshm *s = q->s;
    pthread_mutex_t *m = side == SIDE_P ? &s->plock : &s->clock_;
    int r = pthread_mutex_trylock(m);
    if (MP__LIKELY(r != EBUSY))
        return locked(q, side, r);
    bool once = !d->forever && mp__deadline_passed(d);
    for (;;) {
        if (side == SIDE_P && atomic_load(&q->closed))
            return MP_CLOSED;
        if (once && (side == SIDE_P ? atomic_load(&s->pstream) != 0
                                    : __atomic_load_n(&s->cs_active, __ATOMIC_RELAXED) != 0))
            return MP_TIMEOUT;
        mp__deadline sl;
        mp__deadline_slice(once ? NULL : d, once ? 0.001 : LOCK_SLICE_S, &sl);
        r = pthread_mutex_clocklock(m, CLOCK_MONOTONIC, &sl.at);
        if (r != ETIMEDOUT)
            return locked(q, side, r);
        if (!once && mp__deadline_passed(d))
            return MP_TIMEOUT;
    }
}

static void side_unlock(mp_queue *q, int side)
{
    pthread_mutex_unlock(side == SIDE_P ? &q->s->plock : &q->s->clock_);
}

/* ---------------------------------------------------------------- create */

/* The one constructor of the three kinds: maps header and ring, initialises
 * the two robust process-shared mutexes.  maxsize <= 0 or >= UINT32_MAX is
 * unbounded.  On failure nothing is left allocated; what names the kind in
 * messages. */
static mp_status queue_new(mp_queue **out, long maxsize, int kind, const char *what)
{
    if (!out)
        return mp__err(MP_EINVAL, "%s: out is NULL", what);
    mp_queue *q = calloc(1, sizeof *q);
    if (!q)
        return mp__err(MP_ENOMEM, "%s: out of memory", what);
    void *mem = NULL;
    mp_status st = mp__shm_alloc((size_t)RING_OFF + RING_BYTES, &mem);
    if (st) {
        free(q);
        return st;
    }
    struct qshm *s = mem;
    pthread_mutexattr_t a;
    int r = pthread_mutexattr_init(&a);
    if (!r)
        r = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    if (!r)
        r = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    if (!r)
        r = pthread_mutex_init(&s->plock, &a);
    if (!r && (r = pthread_mutex_init(&s->clock_, &a)))
        pthread_mutex_destroy(&s->plock);
    pthread_mutexattr_destroy(&a);
    if (r) {
        mp__shm_free(mem, (size_t)RING_OFF + RING_BYTES);
        free(q);
        return mp__errno(r, "queue: mutex init");
    }
    s->cap = RING_BYTES;
    s->maxsize = maxsize <= 0 ? 0 : maxsize >= (long)UINT32_MAX ? 0 : (uint32_t)maxsize;
    q->s = s;
    q->ring = (uint8_t *)mem + RING_OFF;
    q->mask = RING_BYTES - 1;
    q->kind = kind;
    atomic_init(&q->closed, false);
    *out = q;
    return MP_OK;
}

mp_status mp_queue_new(mp_queue **out, long maxsize)
{
    return queue_new(out, maxsize, KIND_QUEUE, "Queue");
}

mp_status mp_simple_queue_new(mp_queue **out)
{
    return queue_new(out, 0, KIND_SIMPLE, "SimpleQueue");
}

mp_status mp_joinable_queue_new(mp_queue **out, long maxsize)
{
    return queue_new(out, maxsize, KIND_JOINABLE, "JoinableQueue");
}

void mp_queue_free(mp_queue *q)
{
    if (!q)
        return;
    /* Only this process's mapping goes: the queue lives on in the others. */
    mp__shm_free(q->s, (size_t)RING_OFF + RING_BYTES);
    free(q);
}

/* ------------------------------------------------------------------- put */

static mp_status put_full(const mp__deadline *d, const char *what)
{
    if (d->forever)
        return mp__err(MP_FULL, "%s: queue is full", what);
    return mp__err(MP_FULL, "%s: queue full until the deadline", what);
}

/* Holding the producer lock with room for a first chunk: stream buf in. */
static mp_status put_stream(mp_queue *q, const uint8_t *buf, size_t len, const mp__deadline *d,
                            const char *what)
{
    struct qshm *s = q->s;
    uint32_t id = ++s->stream_next;
    if (!id)
        id = ++s->stream_next;
    atomic_store(&s->pstream, id);
    size_t off = 0;
    bool first = true;
    mp_status st = MP_OK;
    for (;;) {
        uint64_t w = atomic_load_explicit(&s->wpos, memory_order_relaxed);
        uint64_t r = look_rpos(s);
        assert(lo(w) - lo(r) <= s->cap); /* the consumer never passes wpos */
        size_t room = s->cap - (lo(w) - lo(r));
        size_t meta = first ? 8 : 0;
        size_t avail = room > HDR + meta ? (room - HDR - meta) & ~(size_t)7 : 0;
        size_t left = len - off, n;
        bool final = !first && left <= CHUNK_MAX && pad8(left) <= avail;
        n = final ? left : (avail < CHUNK_MAX ? avail : CHUNK_MAX);
        if (final || n >= CHUNK_MIN) {
            uint32_t at = lo(w);
            uint32_t kind = first ? K_FIRST : final ? K_FINAL : K_CONT;
            ring_set_word(q, at, (uint64_t)(meta + n) | (uint64_t)kind << 32);
            if (first)
                ring_set_word(q, at + HDR, (uint64_t)id << 32 | (uint32_t)len);
            ring_put(q, at + HDR + (uint32_t)meta, buf + off, n);
            uint32_t tail = at + HDR + (uint32_t)pad8(meta + n);
            atomic_store(&s->wpos, pos(hi(w) + (final ? 1 : 0), tail));
            wake(&s->data_seq, &s->data_flag);
            off += n;
            first = false;
            if (final)
                break;
            continue;
        }
        if (atomic_load(&q->closed)) {
            st = mp__err(MP_CLOSED, "%s: queue closed during the put; not delivered", what);
            break;
        }
        if (!d->forever && mp__deadline_passed(d)) {
            st = mp__err(MP_FULL, "%s: deadline passed after %zu of %zu bytes; not delivered", what,
                         off, len);
            break;
        }
        wait_change(&s->rpos, r, &s->room_seq, &s->room_flag, &q->closed, NULL, 0, d);
    }
    /* The tail (with the item count) was stored before the stream id is
     * withdrawn: a consumer that sees no stream id also sees the FINAL. */
    atomic_store(&s->pstream, 0);
    if (st)
        wake(&s->data_seq, &s->data_flag);
    side_unlock(q, SIDE_P);
    return st;
}

/* Producer lock held, w the tail and r rpos or an older copy of it: is
 * there room for need bytes of records and one more item (maxsize)?  An
 * old r only under-estimates both. */
static inline bool room_for(const struct qshm *s, uint64_t w, uint64_t r, size_t need)
{
    assert(lo(w) - lo(r) <= s->cap); /* the consumer never passes wpos */
    bool room_items = !s->maxsize || hi(w) - hi(r) < s->maxsize;
    return room_items && s->cap - (lo(w) - lo(r)) >= need;
}

/* Put len bytes of buf as one message: a single record committed with one
 * store after the copy, or streamed (put_stream) when too big for one.
 * MP_FULL at the deadline, MP_CLOSED, MP_EINVAL, MP_EMSGSIZE; never holds
 * the producer lock while it sleeps for room.  For mp_queue_put and
 * mp_queue_put_bytes. */
static mp_status put_raw(mp_queue *q, const void *buf, size_t len, double timeout, const char *what)
{
    if (!q)
        return mp__err(MP_EINVAL, "%s: queue is NULL", what);
    if (!buf && len)
        return mp__err(MP_EINVAL, "%s: buffer is NULL", what);
    if (len > MP_MSG_MAX)
        return mp__err(MP_EMSGSIZE, "%s: %zu bytes > MP_MSG_MAX (%zu)", what, len,
                       (size_t)MP_MSG_MAX);
    mp__deadline d;
    mp_status st = mp__deadline_init(&d, timeout);
    if (st)
        return st;
    if (atomic_load(&q->closed))
        return mp__err(MP_CLOSED, "%s: queue is closed", what);
    struct qshm *s = q->s;
    size_t rec = HDR + pad8(len);
    bool stream = rec > SINGLE_MAX;
    size_t need = stream ? HDR + 8 + CHUNK_MIN : rec;
    for (;;) {
        st = side_lock(q, SIDE_P, &d);
        if (st == MP_TIMEOUT)
            return put_full(&d, what);
        if (st == MP_CLOSED)
            return mp__err(MP_CLOSED, "%s: queue is closed", what);
        if (st)
            return st;
        if (atomic_load(&q->closed)) {
            side_unlock(q, SIDE_P);
            return mp__err(MP_CLOSED, "%s: queue is closed", what);
        }
        uint64_t w = atomic_load_explicit(&s->wpos, memory_order_relaxed);
        /* The copy first: it says "room" for most puts without touching the
         * consumer's line; only "full" by the copy looks at rpos itself. */
        uint64_t r = atomic_load_explicit(&s->rseen, memory_order_relaxed);
        if (!room_for(s, w, r, need))
            r = look_rpos(s);
        if (room_for(s, w, r, need)) {
            if (stream)
                return put_stream(q, buf, len, &d, what);
            uint32_t at = lo(w);
            ring_set_word(q, at, (uint64_t)len | (uint64_t)K_MSG << 32);
            if (len)
                ring_put(q, at + HDR, buf, len);
            /* The commit: bytes and item count at once, after the copy. */
            atomic_store(&s->wpos, pos(hi(w) + 1, at + (uint32_t)rec));
            side_unlock(q, SIDE_P);
            wake(&s->data_seq, &s->data_flag);
            return MP_OK;
        }
        side_unlock(q, SIDE_P);
        if (!d.forever && mp__deadline_passed(&d))
            return put_full(&d, what);
        wait_change(&s->rpos, r, &s->room_seq, &s->room_flag, &q->closed, NULL, 0, &d);
    }
}

mp_status mp_queue_put_bytes(mp_queue *q, const void *buf, size_t len, double timeout)
{
    return put_raw(q, buf, len, timeout, "queue.put_bytes");
}

/* Contract in mp.h.  Encodes first, so the lock is never held while
 * encoding. */
mp_status mp_queue_put(mp_queue *q, const mp_value *v, double timeout)
{
    if (!q)
        return mp__err(MP_EINVAL, "queue.put: queue is NULL");
    if (!v)
        return mp__err(MP_EINVAL, "queue.put: value is NULL");
    if (isnan(timeout))
        return mp__err(MP_EINVAL, "queue.put: timeout is NaN");
    void *buf = NULL;
    size_t len = 0;
    mp_status st = mp_value_encode(v, &buf, &len);
    if (st)
        return st;
    st = put_raw(q, buf, len, timeout, "queue.put");
    free(buf);
    return st;
}

/* ------------------------------------------------------------------- get */

/* A large buffer from malloc() is a fresh mapping: faulting it in page by
 * page costs more than the copy (much more in a VM).  One madvise fills it;
 * where that is unknown (before Linux 5.14) the copy faults as usual. */
static void prefault(void *p, size_t n)
{
#ifdef MADV_POPULATE_WRITE
    if (n < ((size_t)4 << 20))
        return;
    uintptr_t a = ((uintptr_t)p + 4095) & ~(uintptr_t)4095;
    uintptr_t e = ((uintptr_t)p + n) & ~(uintptr_t)4095;
    if (e > a)
        madvise((void *)a, e - a, MADV_POPULATE_WRITE);
#else
    (void)p;
    (void)n;
#endif
}

enum { STREAM_DONE, STREAM_ABORTED };

/* Consumer lock held, cs_* describe the stream: receive its remaining
 * chunks into dst (NULL: discard them).  Waits only while the producer is
 * alive and still sending this stream. */
static int read_stream(mp_queue *q, uint8_t *dst)
{
    struct qshm *s = q->s;
    for (;;) {
        uint64_t r = atomic_load_explicit(&s->rpos, memory_order_relaxed);
        uint64_t w = look_wpos(s);
        assert(lo(w) - lo(r) <= s->cap); /* no producer passes rpos + cap */
        if (lo(r) != lo(w)) {
            uint64_t h = ring_word(q, lo(r));
            uint32_t kind = hi(h), n = lo(h);
            if (kind != K_CONT && kind != K_FINAL) {
                s->cs_active = 0; /* its producer gave up: the next message */
                return STREAM_ABORTED;
            }
            /* A published header's record was published with it. */
            assert(HDR + pad8(n) <= lo(w) - lo(r));
            if (dst && s->cs_got + n <= s->cs_total)
                ring_get(q, lo(r) + HDR, dst + s->cs_got, n);
            s->cs_got += n;
            bool final = kind == K_FINAL;
            if (final)
                s->cs_active = 0;
            atomic_store(&s->rpos, pos(hi(r) + (final ? 1 : 0), lo(r) + HDR + (uint32_t)pad8(n)));
            wake(&s->room_seq, &s->room_flag);
            if (final)
                return s->cs_got == s->cs_total ? STREAM_DONE : STREAM_ABORTED;
            continue;
        }
        if (atomic_load(&s->pstream) != s->cs_id) {
            if (atomic_load(&s->wpos) != w)
                continue; /* the FINAL landed just before the id went */
            s->cs_active = 0;
            return STREAM_ABORTED;
        }
        mp__deadline sl;
        mp__deadline_slice(NULL, PROBE_S, &sl);
        wait_change(&s->wpos, w, &s->data_seq, &s->data_flag, NULL, &s->pstream, s->cs_id, &sl);
        if (atomic_load(&s->wpos) == w && mp__deadline_passed(&sl)) {
            /* Silence: is the producer still there?  Its robust lock tells. */
            int rc = pthread_mutex_trylock(&s->plock);
            if (rc == EOWNERDEAD || rc == 0) {
                locked(q, SIDE_P, rc);
                pthread_mutex_unlock(&s->plock);
            }
        }
    }
}

/* Consumer side lock held, the record at r a stream's first chunk (K_FIRST,
 * n bytes: the 8-byte meta word, then payload).  Takes the chunk, reads the
 * rest of the stream (read_stream) and releases the side lock.  MP_OK with
 * the message in *out, *outlen; MP_ENOMEM when it could not be kept (the
 * stream is consumed and dropped); MP__STATUS_COUNT when the producer
 * withdrew it (nothing to return: the caller waits for the next message). */
static mp_status get_stream(mp_queue *q, uint64_t r, uint32_t n, void **out, size_t *outlen,
                            const char *what)
{
    struct qshm *s = q->s;
    assert(n >= 8 && HDR + pad8(n) <= lo(atomic_load(&s->wpos)) - lo(r)); /* as K_MSG */
    uint64_t meta = ring_word(q, lo(r) + HDR);
    size_t total = lo(meta);
    uint8_t *p = malloc(total ? total : 1);
    if (p)
        prefault(p, total);
    s->cs_id = hi(meta);
    s->cs_total = total;
    s->cs_got = n - 8;
    s->cs_active = 1;
    if (p && n - 8 <= total)
        ring_get(q, lo(r) + HDR + 8, p, n - 8);
    atomic_store(&s->rpos, pos(hi(r), lo(r) + HDR + (uint32_t)pad8(n)));
    wake(&s->room_seq, &s->room_flag);
    int rs = read_stream(q, p);
    side_unlock(q, SIDE_C);
    if (rs == STREAM_DONE && p) {
        *out = p;
        *outlen = total;
        return MP_OK;
    }
    free(p);
    if (rs == STREAM_DONE)
        return mp__err(MP_ENOMEM, "%s: no memory for %zu bytes (message dropped)", what, total);
    return MP__STATUS_COUNT;
}

/* Take one message into a malloc()ed *out of *outlen bytes (the caller
 * frees it): a single record copied out then committed, or a stream
 * received whole (a withdrawn one is skipped).  MP_EMPTY at the deadline,
 * MP_ENOMEM (a streamed message is then dropped), MP_EINVAL.  For
 * mp_queue_get and mp_queue_get_bytes. */
static mp_status get_raw(mp_queue *q, void **out, size_t *outlen, double timeout, const char *what)
{
    if (!q)
        return mp__err(MP_EINVAL, "%s: queue is NULL", what);
    if (!out || !outlen)
        return mp__err(MP_EINVAL, "%s: output pointer is NULL", what);
    mp__deadline d;
    mp_status st = mp__deadline_init(&d, timeout);
    if (st)
        return st;
    struct qshm *s = q->s;
    for (;;) {
        st = side_lock(q, SIDE_C, &d);
        if (st == MP_TIMEOUT)
            return mp__err(MP_EMPTY, "%s: nothing by the deadline", what);
        if (st)
            return st;
        if (s->cs_active) /* the previous holder died mid-stream */
            read_stream(q, NULL);
        uint64_t r = atomic_load_explicit(&s->rpos, memory_order_relaxed);
        /* The copy first: only "empty" by the copy looks at wpos itself. */
        uint64_t w = atomic_load_explicit(&s->wseen, memory_order_relaxed);
        if (lo(r) == lo(w))
            w = look_wpos(s);
        assert(lo(w) - lo(r) <= s->cap); /* no producer passes rpos + cap */
        if (lo(r) != lo(w)) {
            uint64_t h = ring_word(q, lo(r));
            uint32_t kind = hi(h), n = lo(h);
            if (kind == K_MSG) {
                /* A published header's record was published with it. */
                assert(HDR + pad8(n) <= lo(w) - lo(r));
                void *p = malloc(n ? n : 1);
                if (!p) {
                    side_unlock(q, SIDE_C);
                    return mp__err(MP_ENOMEM, "%s: no memory for %u bytes", what, n);
                }
                prefault(p, n);
                ring_get(q, lo(r) + HDR, p, n);
                /* The commit, after the copy: a consumer killed before it
                 * leaves the message to the next one. */
                atomic_store(&s->rpos, pos(hi(r) + 1, lo(r) + HDR + (uint32_t)pad8(n)));
                side_unlock(q, SIDE_C);
                wake(&s->room_seq, &s->room_flag);
                *out = p;
                *outlen = n;
                return MP_OK;
            }
            if (kind == K_FIRST) {
                st = get_stream(q, r, n, out, outlen, what);
                if (st != MP__STATUS_COUNT)
                    return st;
                continue; /* a withdrawn message: wait for the next one */
            }
            /* A chunk with no stream: cannot happen unless the header was
             * damaged; step over it rather than wedge. */
            atomic_store(&s->rpos,
                         pos(hi(r) + (kind == K_FINAL ? 1 : 0), lo(r) + HDR + (uint32_t)pad8(n)));
            side_unlock(q, SIDE_C);
            wake(&s->room_seq, &s->room_flag);
            continue;
        }
        side_unlock(q, SIDE_C);
        if (!d.forever && mp__deadline_passed(&d)) {
            if (!(timeout > 0))
                return mp__err(MP_EMPTY, "%s: queue is empty", what);
            return mp__err(MP_EMPTY, "%s: nothing after %.3f s", what, timeout);
        }
        wait_change(&s->wpos, w, &s->data_seq, &s->data_flag, NULL, NULL, 0, &d);
    }
}

mp_status mp_queue_get_bytes(mp_queue *q, void **buf, size_t *len, double timeout)
{
    return get_raw(q, buf, len, timeout, "queue.get_bytes");
}

/* Contract in mp.h.  Decodes after the consumer lock is released; the
 * message is consumed even when it does not decode. */
mp_status mp_queue_get(mp_queue *q, mp_value **out, double timeout)
{
    if (!q)
        return mp__err(MP_EINVAL, "queue.get: queue is NULL");
    if (!out)
        return mp__err(MP_EINVAL, "queue.get: out is NULL");
    void *buf = NULL;
    size_t len = 0;
    mp_status st = get_raw(q, &buf, &len, timeout, "queue.get");
    if (st)
        return st;
    st = mp_value_decode(buf, len, out); /* the message is consumed either way */
    free(buf);
    return st;
}

/* ----------------------------------------------------------------- state */

static uint32_t items(mp_queue *q)
{
    uint64_t r = atomic_load(&q->s->rpos); /* first: popped <= pushed */
    uint64_t w = atomic_load(&q->s->wpos);
    return hi(w) - hi(r);
}

mp_status mp_queue_qsize(mp_queue *q, size_t *n)
{
    if (!q || !n)
        return mp__err(MP_EINVAL, "queue.qsize: NULL argument");
    *n = items(q);
    return MP_OK;
}

mp_status mp_queue_empty(mp_queue *q, bool *empty)
{
    if (!q || !empty)
        return mp__err(MP_EINVAL, "queue.empty: NULL argument");
    *empty = items(q) == 0;
    return MP_OK;
}

/* Contract in mp.h.  Full by count (maxsize) or by bytes (not even an empty
 * record fits); a snapshot, read without a lock. */
mp_status mp_queue_full(mp_queue *q, bool *full)
{
    if (!q || !full)
        return mp__err(MP_EINVAL, "queue.full: NULL argument");
    struct qshm *s = q->s;
    uint64_t r = atomic_load(&s->rpos);
    uint64_t w = atomic_load(&s->wpos);
    *full = (s->maxsize && hi(w) - hi(r) >= s->maxsize) || s->cap - (lo(w) - lo(r)) < HDR;
    return MP_OK;
}

/* Contract in mp.h.  Closes this process's handle only, as CPython's
 * close(). */
mp_status mp_queue_close(mp_queue *q)
{
    if (!q)
        return mp__err(MP_EINVAL, "queue.close: queue is NULL");
    atomic_store(&q->closed, true);
    /* Wake every putter; those of other processes find their handle open
     * and sleep again. */
    wake_force(&q->s->room_seq, &q->s->room_flag);
    return MP_OK;
}

mp_status mp_queue_join_thread(mp_queue *q)
{
    if (!q)
        return mp__err(MP_EINVAL, "queue.join_thread: queue is NULL");
    if (!atomic_load(&q->closed))
        return mp__err(MP_ESTATE, "queue.join_thread: the queue is not closed");
    return MP_OK;
}

mp_status mp_queue_cancel_join_thread(mp_queue *q)
{
    if (!q)
        return mp__err(MP_EINVAL, "queue.cancel_join_thread: queue is NULL");
    return MP_OK;
}

/* ------------------------------------------------------------- joinable */

/* Contract in mp.h.  The CAS refuses to count past the items pushed, so
 * done never exceeds the pushed count whoever races. */
mp_status mp_queue_task_done(mp_queue *q)
{
    if (!q)
        return mp__err(MP_EINVAL, "queue.task_done: queue is NULL");
    if (q->kind != KIND_JOINABLE)
        return mp__err(MP_EINVAL, "queue.task_done: not a JoinableQueue");
    struct qshm *s = q->s;
    uint32_t dn = atomic_load(&s->done);
    for (;;) {
        if (hi(atomic_load(&s->wpos)) == dn)
            return mp__err(MP_ESTATE, "queue.task_done: called too many times");
        if (atomic_compare_exchange_weak(&s->done, &dn, dn + 1))
            break;
    }
    /* The same protocol as wake(), on the done word itself: a task_done
     * killed between its increment and the FUTEX_WAKE costs a joiner one
     * slice. */
    if (atomic_load(&s->join_flag) && atomic_exchange(&s->join_flag, 0))
        mp__futex_wake(&s->done, INT_MAX);
    return MP_OK;
}

/* Contract in mp.h.  The flag is raised before the re-check, as in
 * wait_change, so a task_done either sees it or is seen. */
mp_status mp_queue_join(mp_queue *q, double timeout)
{
    if (!q)
        return mp__err(MP_EINVAL, "queue.join: queue is NULL");
    if (q->kind != KIND_JOINABLE)
        return mp__err(MP_EINVAL, "queue.join: not a JoinableQueue");
    mp__deadline d;
    mp_status st = mp__deadline_init(&d, timeout);
    if (st)
        return st;
    struct qshm *s = q->s;
    for (;;) {
        uint32_t dn = atomic_load(&s->done);
        if (hi(atomic_load(&s->wpos)) == dn)
            return MP_OK;
        atomic_store(&s->join_flag, 1);
        if (hi(atomic_load(&s->wpos)) == atomic_load(&s->done))
            return MP_OK;
        if (!d.forever && mp__deadline_passed(&d))
            return mp__err(MP_TIMEOUT, "queue.join: tasks unfinished at the deadline");
        mp__nap(&s->done, dn, &d); /* bounded: see "wake / wait" (a killed task_done) */
    }
}
