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
 * Locks.  Producers are serialised by one lock and consumers by another, the
 * library's own (sync.h, as Lock's, but "flagged": sleepers announce
 * themselves in a word of their own): a word naming the holder's tid, taken
 * with one CAS and dropped with one plain store, and taken over by a waiter
 * from a holder whose thread is gone, however it died -- at most one slice
 * after the death.  (A robust pthread mutex, used until December, cost a
 * third of the CPU of a small message: issue #16.)  Nobody sleeps holding a
 * lock except a streamer (queue_stream.c).  Sleeping is a futex on a
 * sequence word with a "someone sleeps" flag: the waker pays a syscall only
 * when the flag is set and clears it, and a killed sleeper costs at most one
 * spurious wake (a counter of waiters would stay wrong forever).  Every
 * sleep is bounded by one liveness slice (mp__nap), after which the sleeper
 * re-checks and raises its flag again, so a waker killed half-way through
 * its wake costs a survivor at most one slice (see "wake / wait" for why no
 * window wedges a survivor).
 *
 * Cache lines.  One producer and one consumer never contend: the header's
 * words are grouped by writer, one 128-byte block each (queue_internal.h:
 * Intel fetches 64-byte lines in pairs), and each side keeps, under its own
 * lock, a copy of the other's index (rseen, wseen).  rpos and wpos only move
 * forward, so an old copy only under-estimates room (bytes and maxsize
 * items) or data; a side reads the other's index only when its copy says
 * "full" or "empty".  So a put touches the consumer's lines only when the
 * queue looks full, and a get touches wpos only when it has taken all it
 * knew of.  What each message still costs: two locked instructions a side
 * (the lock's CAS, and one fence after the commit and the unlock, which both
 * wake protocols need: commit_unlock in queue_internal.h) and the record's
 * own cache lines moving from producer to consumer.
 *
 * Messages up to SINGLE_MAX are one record.  The producer copies, then
 * advances the tail; the consumer copies out, then advances the head.  So:
 *   - a put killed before its commit is not delivered, and nothing partial is
 *     ever visible;
 *   - a get killed before its commit leaves the record in place: the next
 *     consumer (which takes the lock over) receives it.
 * Larger messages (up to MP_MSG_MAX) are streamed through the ring in chunks
 * with both side locks held (queue_stream.c, which says what a death
 * mid-stream costs).
 *
 * put() returns once the message is in shared memory: there is no feeder
 * thread, so a child may exit right after putting and its parent may join it
 * before draining the queue (CPython's "joining processes that use queues"
 * deadlock cannot happen).  The ring is the bound of an "unbounded" queue:
 * when RING_BYTES are waiting, put blocks (or MP_FULL at its deadline), as a
 * full queue does -- not a hang at exit.
 */
#include "queue_internal.h"
#include "value.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

/* mp_queue_put and mp_queue_get keep an encoding of up to this many bytes in
 * a buffer on their stack rather than in a malloc()ed one: a small value then
 * costs no malloc/free beside the value's own (issue #16). */
#define SMALL_MSG 512u

/* ------------------------------------------------------------ wake / wait */

/* The protocol, and why no window wedges a survivor.
 *
 * A sleeper waits for a word W (wpos, rpos, done) to change.  It reads the
 * sequence word (v = seq), raises its side's flag, re-reads W, and only if W
 * is unchanged calls FUTEX_WAIT(seq, v) -- for at most a slice (mp__nap).  A
 * publisher stores W (its commit), then, only if the flag is up, clears it,
 * bumps seq and calls FUTEX_WAKE.  All of it is seq_cst (a single-record
 * commit: a release store, then a seq_cst fence, commit_unlock), so either
 * the publisher sees the flag or the sleeper sees the new W; and a wake
 * landing between the sleeper's read of seq and its FUTEX_WAIT changed seq,
 * so the kernel refuses to sleep.  No wake is lost while every process runs
 * on.
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
    uint32_t want; /* the spin waits for lo(*p) to move this far (0: any change) */
};

/* A try of mp__queue_wait_change's spin (mp__wait_tunings.queue or
 * queue_room): *p moved on, by at least want bytes. */
static inline bool changed(void *arg)
{
    struct change_try *a = arg;
    uint64_t v = atomic_load_explicit(a->p, memory_order_relaxed);
    return v != a->seen && lo(v) - lo(a->seen) >= a->want;
}

/* Sleep per the protocol above until *p differs from seen, the handle is
 * closed (closed, may be NULL), *word2 differs from word2_seen (word2 may
 * be NULL), a wake, the deadline or one slice.  want > 0: the spin before
 * the sleep (queue_room's, which looks rarely) waits for lo(*p) to move by
 * want bytes; the sleep still ends at any change.  Only a streamer
 * (queue_stream.c) calls it holding its side's lock; the others drop it
 * first.  Returns nothing: the caller re-checks its condition and
 * deadline. */
void mp__queue_wait_change(_Atomic uint64_t *p, uint64_t seen, uint32_t want, _Atomic uint32_t *seq,
                           _Atomic uint32_t *flag, _Atomic bool *closed, _Atomic uint32_t *word2,
                           uint32_t word2_seen, const mp__deadline *d)
{
    struct change_try a = {.p = p, .seen = seen, .want = want};
    if (want ? mp__spin_until(NULL, &mp__wait_tunings.queue_room, changed, &a)
             : mp__spin_until(NULL, &mp__wait_tunings.queue, changed, &a))
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

/* The result st of taking side's lock (mp__lock_try_flagged,
 * mp__lock_take_flagged): on MP_EOWNERDEAD repairs the producer side (the
 * consumer side's repair is data driven, cs_active, done by the caller) and
 * says MP_OK, the lock being held; any other result as it is.  For side_lock
 * and the streaming consumer's probe of the producer lock (queue_stream.c). */
mp_status mp__queue_locked(mp_queue *q, int side, mp_status st)
{
    if (st != MP_EOWNERDEAD)
        return st;
    if (side == SIDE_P)
        repair_producer(q);
    return MP_OK;
}

/* MP_OK (lock held), MP_TIMEOUT, MP_CLOSED (producers of a closed handle).
 * The fast path is one CAS that takes the lock and names its holder.  A
 * waiter re-checks close every slice and takes the lock over from a holder
 * whose thread is gone (sync.h), so a dead holder costs it at most one
 * slice.  A try-once caller (deadline passed) still waits for a holder that
 * is merely copying, but not for a streamer, which may hold the lock as long
 * as its message lasts: then the queue is full (or empty) for now. */
static mp_status side_lock(mp_queue *q, int side, const mp__deadline *d)
{
    struct qshm *s = q->s;
    mp_lock *l = side_lock_of(q, side);
    _Atomic uint32_t *want = side_want(q, side);
    int32_t me = mp__gettid();
    uint32_t held;
    if (MP__LIKELY(mp__lock_grab(l, me, &held)))
        return MP_OK;
    bool once = !d->forever && mp__deadline_passed(d);
    for (;;) {
        if (side == SIDE_P && atomic_load(&q->closed))
            return MP_CLOSED;
        if (once && (side == SIDE_P ? atomic_load(&s->pstream) != 0
                                    : __atomic_load_n(&s->cs_active, __ATOMIC_RELAXED) != 0))
            return MP_TIMEOUT;
        mp__deadline sl;
        mp__deadline_slice(once ? NULL : d, once ? 0.001 : LOCK_SLICE_S, &sl);
        mp_status st = mp__lock_take_flagged(l, want, me, &sl);
        if (st == MP_TIMEOUT) /* a slice with the lock held: is its holder alive? */
            st = mp__lock_try_flagged(l, want, me);
        if (st != MP_TIMEOUT)
            return mp__queue_locked(q, side, st);
        if (!once && mp__deadline_passed(d))
            return MP_TIMEOUT;
    }
}

/* ---------------------------------------------------------------- create */

/* The one constructor of the three kinds: maps header and ring (zeroed:
 * both side locks free).  maxsize <= 0 or >= UINT32_MAX is unbounded.  On
 * failure nothing is left allocated; what names the kind in messages. */
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

/* Producer lock held, w the tail and r rpos or an older copy of it: is
 * there room for need bytes of records and one more item (maxsize)?  An
 * old r only under-estimates both. */
static inline bool room_for(const struct qshm *s, uint64_t w, uint64_t r, size_t need)
{
    assert(lo(w) - lo(r) <= s->cap); /* the consumer never passes wpos */
    bool room_items = !s->maxsize || hi(w) - hi(r) < s->maxsize;
    return room_items && s->cap - (lo(w) - lo(r)) >= need;
}

/* A put found no room for need bytes at tail w and rpos r: how far rpos
 * should move before its spin ends (mp__queue_wait_change's want).  Full
 * by maxsize: 0, any get, since the put may go as soon as one item is
 * taken.  Full by bytes: room for need and ROOM_SLACK more (or all the
 * ring's data, when less).  A producer that took each record's room as it
 * came was back looking at rpos after every get, in lock step with the
 * consumer, and each look took rpos's line out of the consumer's cache so
 * that its next commit waited for it: the slower side was slowed further
 * (mp__wait_tunings.queue_room).  A spin that ends early (the consumer
 * stopped) leaves the put to the caller's next look, at once. */
#define ROOM_SLACK ((uint32_t)64 << 10)
static inline uint32_t room_want(const struct qshm *s, uint64_t w, uint64_t r, size_t need)
{
    if (s->maxsize && hi(w) - hi(r) >= s->maxsize)
        return 0;
    uint32_t used = lo(w) - lo(r);
    size_t want = need - (s->cap - used) + ROOM_SLACK; /* room < need */
    return want < used ? (uint32_t)want : used;
}

/* Put len bytes of buf as one message: a single record committed with one
 * store after the copy, or streamed (queue_stream.c) when too big for one.
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
                return mp__queue_put_stream(q, buf, len, &d, what);
            uint32_t at = lo(w);
            ring_prefetch_w(q, at);
            ring_set_word(q, at, (uint64_t)len | (uint64_t)K_MSG << 32);
            if (len)
                ring_put(q, at + HDR, buf, len);
            commit_unlock(q, SIDE_P, &s->wpos, pos(hi(w) + 1, at + (uint32_t)rec), &s->data_seq,
                          &s->data_flag);
            return MP_OK;
        }
        side_unlock(q, SIDE_P);
        if (!d.forever && mp__deadline_passed(&d))
            return put_full(&d, what);
        mp__queue_wait_change(&s->rpos, r, room_want(s, w, r, need), &s->room_seq, &s->room_flag,
                              &q->closed, NULL, 0, &d);
    }
}

mp_status mp_queue_put_bytes(mp_queue *q, const void *buf, size_t len, double timeout)
{
    return put_raw(q, buf, len, timeout, "queue.put_bytes");
}

/* Contract in mp.h.  Encodes first, so the lock is never held while
 * encoding: an encoding of up to SMALL_MSG bytes into a buffer on the stack
 * (no malloc per message), a larger one into a malloc()ed buffer of its exact
 * size.  MP_ENOMEM when that buffer cannot be had (nothing is put). */
mp_status mp_queue_put(mp_queue *q, const mp_value *v, double timeout)
{
    if (!q)
        return mp__err(MP_EINVAL, "queue.put: queue is NULL");
    if (!v)
        return mp__err(MP_EINVAL, "queue.put: value is NULL");
    if (isnan(timeout))
        return mp__err(MP_EINVAL, "queue.put: timeout is NaN");
    size_t len = 0;
    mp_status st = mp__value_encoded_size(v, &len);
    if (st)
        return st;
    if (len <= SMALL_MSG) {
        alignas(8) uint8_t small[SMALL_MSG];
        mp__value_encode_into(v, small, len);
        return put_raw(q, small, len, timeout, "queue.put");
    }
    void *buf = malloc(len);
    if (!buf)
        return mp__err(MP_ENOMEM, "queue.put: no memory for a %zu-byte encoding", len);
    mp__value_encode_into(v, buf, len);
    st = put_raw(q, buf, len, timeout, "queue.put");
    free(buf);
    return st;
}

/* ------------------------------------------------------------------- get */

/* A large buffer from malloc() is a fresh mapping: faulting it in page by
 * page costs more than the copy (much more in a VM).  One madvise fills it;
 * where that is unknown (before Linux 5.14) the copy faults as usual. */
void mp__queue_prefault(void *p, size_t n)
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

/* Take one message into *out of *outlen bytes: a single record copied out
 * then committed, or a stream received whole (a withdrawn one is skipped).
 * A single record of at most small_cap bytes is copied into the caller's
 * buffer small (then *out == small; small may be NULL with small_cap 0),
 * any other message into a malloc()ed buffer the caller frees.  MP_EMPTY at
 * the deadline, MP_ENOMEM (a streamed message is then dropped, a single
 * record left in the queue), MP_EINVAL.  For mp_queue_get and
 * mp_queue_get_bytes. */
static mp_status get_raw(mp_queue *q, void **out, size_t *outlen, void *small, size_t small_cap,
                         double timeout, const char *what)
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
            mp__queue_read_stream(q, NULL);
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
                void *p = small && n <= small_cap ? small : malloc(n ? n : 1);
                if (!p) {
                    side_unlock(q, SIDE_C);
                    return mp__err(MP_ENOMEM, "%s: no memory for %u bytes", what, n);
                }
                mp__queue_prefault(p, n);
                ring_get(q, lo(r) + HDR, p, n);
                /* The commit, after the copy: a consumer killed before it
                 * leaves the message to the next one. */
                commit_unlock(q, SIDE_C, &s->rpos, pos(hi(r) + 1, lo(r) + HDR + (uint32_t)pad8(n)),
                              &s->room_seq, &s->room_flag);
                *out = p;
                *outlen = n;
                return MP_OK;
            }
            if (kind == K_FIRST) {
                st = mp__queue_get_stream(q, r, n, out, outlen, what);
                if (st != MP__STATUS_COUNT)
                    return st;
                continue; /* a withdrawn message: wait for the next one */
            }
            /* A chunk with no stream: cannot happen unless the header was
             * damaged; step over it rather than wedge. */
            commit_unlock(q, SIDE_C, &s->rpos,
                          pos(hi(r) + (kind == K_FINAL ? 1 : 0), lo(r) + HDR + (uint32_t)pad8(n)),
                          &s->room_seq, &s->room_flag);
            continue;
        }
        side_unlock(q, SIDE_C);
        if (!d.forever && mp__deadline_passed(&d)) {
            if (!(timeout > 0))
                return mp__err(MP_EMPTY, "%s: queue is empty", what);
            return mp__err(MP_EMPTY, "%s: nothing after %.3f s", what, timeout);
        }
        mp__queue_wait_change(&s->wpos, w, 0, &s->data_seq, &s->data_flag, NULL, NULL, 0, &d);
    }
}

mp_status mp_queue_get_bytes(mp_queue *q, void **buf, size_t *len, double timeout)
{
    return get_raw(q, buf, len, NULL, 0, timeout, "queue.get_bytes");
}

/* Contract in mp.h.  Decodes after the consumer lock is released; the
 * message is consumed even when it does not decode.  A message of up to
 * SMALL_MSG bytes is copied out into a buffer on the stack (no malloc per
 * message), a larger one into a malloc()ed buffer. */
mp_status mp_queue_get(mp_queue *q, mp_value **out, double timeout)
{
    if (!q)
        return mp__err(MP_EINVAL, "queue.get: queue is NULL");
    if (!out)
        return mp__err(MP_EINVAL, "queue.get: out is NULL");
    alignas(8) uint8_t small[SMALL_MSG];
    void *buf = NULL;
    size_t len = 0;
    mp_status st = get_raw(q, &buf, &len, small, sizeof small, timeout, "queue.get");
    if (st)
        return st;
    st = mp_value_decode(buf, len, out); /* the message is consumed either way */
    if (buf != small)
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
 * mp__queue_wait_change, so a task_done either sees it or is seen. */
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
