/* Queue: the private header of its two rooms.
 *
 *   queue.c         the design (file head), creating, the wake / wait
 *                   protocol, the side locks and their repair, single-record
 *                   put and get, qsize / empty / full / close, JoinableQueue
 *   queue_stream.c  messages larger than SINGLE_MAX, streamed through the
 *                   ring in chunks while both side locks are held
 *
 * Here: the shared header's layout (struct qshm), the record format and the
 * small inline steps both rooms take on every message (ring copies, looks
 * at the peer's index, wake, unlock). */
#ifndef MP_QUEUE_INTERNAL_H
#define MP_QUEUE_INTERNAL_H

#include "sync.h"

#include <assert.h>
#include <limits.h>
#include <stdalign.h>
#include <string.h>

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
    alignas(QLINE) mp_lock plock;
    _Atomic uint32_t pwant; /* plock's sleepers (a flagged lock: sync.h) */
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
    alignas(QLINE) mp_lock clock_;
    _Atomic uint32_t cwant; /* clock_'s sleepers */
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
static inline void ring_put(mp_queue *q, uint32_t at, const void *src, size_t n)
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
static inline void ring_get(mp_queue *q, uint32_t at, void *dst, size_t n)
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

/* The producer's next lines, fetched for writing while it works on this
 * record.  A 16 MiB ring's lines were last touched a whole ring ago, so
 * each is a cache miss; a locked instruction (the lock's CAS, the seq_cst
 * commit) waits for every store before it to own its line, so without this
 * each put waited out the misses of its own record one at a time (issue
 * #16: 1.55x the 1 -> 1 64 B stream; 2 KiB to 64 KiB ahead measured alike).
 * x86's prefetchw is a NOP on CPUs without it; elsewhere the builtin. */
#define PREFETCH_AHEAD 8192u
static inline void ring_prefetch_w(mp_queue *q, uint32_t at)
{
    const uint8_t *p = q->ring + ((at + PREFETCH_AHEAD) & q->mask);
#if defined(__x86_64__) || defined(__i386__)
    __asm__ __volatile__("prefetchw %0" : : "m"(*p));
#else
    __builtin_prefetch(p, 1, 3);
#endif
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

/* Publishers call this after their commit store and a seq_cst barrier (the
 * protocol: "wake / wait" in queue.c).  Killed anywhere in here, a sleeper
 * notices at its next slice. */
static inline void wake(_Atomic uint32_t *seq, _Atomic uint32_t *flag)
{
    if (MP__UNLIKELY(atomic_load(flag)) && atomic_exchange(flag, 0)) {
        atomic_fetch_add(seq, 1);
        mp__futex_wake(seq, INT_MAX);
    }
}

static inline mp_lock *side_lock_of(mp_queue *q, int side)
{
    return side == SIDE_P ? &q->s->plock : &q->s->clock_;
}

static inline _Atomic uint32_t *side_want(mp_queue *q, int side)
{
    return side == SIDE_P ? &q->s->pwant : &q->s->cwant;
}

/* Release side's lock (a flagged lock: sync.h). */
static inline void side_unlock(mp_queue *q, int side)
{
    mp__lock_drop_flagged(side_lock_of(q, side), side_want(q, side));
}

/* The end of every single-record put and get: commit the new index *p = v
 * (bytes and item count at once, after the copy), release side's lock, and
 * wake the sleepers these changes concern -- the other side's (seq, flag)
 * and this side's lock's.  Both releases are plain stores and one seq_cst
 * fence serves both wake protocols, which each need a full barrier between
 * a store and the look at a flag: two locked instructions a message with
 * the lock's CAS, not three.  Killed between the stores, the lock names the
 * dead holder (taken over at a waiter's next slice, the commit made);
 * killed before a wake, the sleepers notice at their next slice. */
static inline void commit_unlock(mp_queue *q, int side, _Atomic uint64_t *p, uint64_t v,
                                 _Atomic uint32_t *seq, _Atomic uint32_t *flag)
{
    atomic_store_explicit(p, v, memory_order_release);
    mp__lock_store_free(side_lock_of(q, side));
    mp__fence();
    wake(seq, flag);
    mp__lock_wake_flagged(side_want(q, side));
}

/* ---------------------------------------------------------- across rooms */

/* queue.c: the wait of the "wake / wait" protocol; the result of taking a
 * side's lock (repairs a dead producer's state); a large buffer faulted in
 * at once. */
MP__HIDDEN void mp__queue_wait_change(_Atomic uint64_t *p, uint64_t seen, uint32_t want,
                                      _Atomic uint32_t *seq, _Atomic uint32_t *flag,
                                      _Atomic bool *closed, _Atomic uint32_t *word2,
                                      uint32_t word2_seen, const mp__deadline *d);
MP__HIDDEN mp_status mp__queue_locked(mp_queue *q, int side, mp_status st);
MP__HIDDEN void mp__queue_prefault(void *p, size_t n);

/* queue_stream.c: the streaming producer and consumer. */
enum { STREAM_DONE, STREAM_ABORTED };
MP__HIDDEN mp_status mp__queue_put_stream(mp_queue *q, const uint8_t *buf, size_t len,
                                          const mp__deadline *d, const char *what);
MP__HIDDEN int mp__queue_read_stream(mp_queue *q, uint8_t *dst);
MP__HIDDEN mp_status mp__queue_get_stream(mp_queue *q, uint64_t r, uint32_t n, void **out,
                                          size_t *outlen, const char *what);

#endif
