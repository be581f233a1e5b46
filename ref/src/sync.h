/* Internal pieces of the synchronisation objects (sync.c, sync_cond.c). */
#ifndef MP_SYNC_H
#define MP_SYNC_H

#include "wait.h"

/* Lock and RLock share this struct, in anonymous MAP_SHARED memory; a
 * Queue's two side locks are two more of it (queue_internal.h).
 *
 * word is the whole state, as in the kernel's robust-futex protocol: 0 when
 * free, else the holder's tid (bits 0-29) plus MP__LOCK_WAITERS when someone
 * may sleep on it.  Acquire is one CAS 0 -> tid, release one exchange to 0
 * (then a wake if MP__LOCK_WAITERS was set), a takeover one CAS from the dead
 * holder's exact word to the taker's.  Each of these changes who holds the
 * lock and who is recorded as holding it in the same atomic instruction, so
 * a holder killed at any instruction either does not hold the lock or is
 * named by word -- there is no window in which a dead holder is invisible to
 * the waiters' liveness check (an owner field stored in a second step had
 * one).  count is the RLock depth, touched only by the holder and set anew
 * by whoever takes the word, so a depth left half-updated by a dead holder is
 * never read.  A dead holder is told from a live one by mp__tid_alive (a
 * zombie counts as dead); only a tid reused by a new thread before a waiter
 * looks would make the lock seem held until that thread ends. */
#define MP__LOCK_WAITERS 0x80000000u
#define MP__LOCK_TID 0x3fffffffu /* FUTEX_TID_MASK; pid_max is at most 2^22 */

struct mp_lock {
    _Atomic uint32_t word;
    uint32_t count;
    bool recursive;
};

/* The tid holding l (0: free).  Only the holder itself may rely on the answer
 * staying true. */
static inline int32_t mp__lock_owner(mp_lock *l)
{
    return (int32_t)(atomic_load_explicit(&l->word, memory_order_relaxed) & MP__LOCK_TID);
}

/* The fast path of every taker: one CAS that takes l if free and names tid
 * as its holder in the same instruction (acquire order).  On failure *seen
 * is the word found (a holder's). */
static inline bool mp__lock_grab(mp_lock *l, int32_t tid, uint32_t *seen)
{
    *seen = 0;
    return atomic_compare_exchange_strong_explicit(&l->word, seen, (uint32_t)tid,
                                                   memory_order_acquire, memory_order_relaxed);
}

/* Take the word of l for tid (blocking until d): MP_OK, MP_TIMEOUT, or
 * MP_EOWNERDEAD (taken over from a dead holder).  Leaves count alone. */
MP__HIDDEN mp_status mp__lock_take(mp_lock *l, int32_t tid, const mp__deadline *d);
/* One look at l for tid, never sleeping: MP_OK (it was free and is taken),
 * MP_EOWNERDEAD (taken over from a holder whose thread is gone), or
 * MP_TIMEOUT (a live holder has it).  Leaves count alone. */
MP__HIDDEN mp_status mp__lock_try(mp_lock *l, int32_t tid);
/* Drop the word (one exchange to 0) and wake a sleeper if one may sleep;
 * returns the old word (0: was not held). */
MP__HIDDEN uint32_t mp__lock_drop(mp_lock *l);

/* Flagged locks (a Queue's side locks).  A sleeper announces itself in a word
 * of its own, *want, and sleeps on that word, instead of setting
 * MP__LOCK_WAITERS in l's word.  The release is then a plain store, and the
 * full barrier it needs between that store and its look at *want can be one
 * its caller pays anyway: a Queue's commit needs one for its own wake
 * protocol (queue.c), so that a put or get costs two locked instructions, not
 * three.  The word still names the holder, so a dead holder is taken over as
 * before.  A flagged lock is taken only through these calls and the fast
 * path mp__lock_grab, and never has MP__LOCK_WAITERS set.
 *
 * Why no wake is lost: a sleeper stores *want = 1, then looks at the word,
 * and sleeps on *want while it holds 1 (both seq_cst); a releaser stores the
 * word 0, then a seq_cst fence, then looks at *want.  Either the releaser
 * sees 1, clears it and wakes a sleeper (whose FUTEX_WAIT on *want, if not
 * yet asleep, then finds 0 and returns), or the sleeper sees the free word.
 * A sleeper that leaves the slow path (woken, at its deadline, or holding
 * the lock) leaves *want up, so the next release wakes the next sleeper; a
 * releaser killed between its store and its wake leaves sleepers to find
 * the word free at their next liveness slice. */
MP__HIDDEN mp_status mp__lock_take_flagged(mp_lock *l, _Atomic uint32_t *want, int32_t tid,
                                           const mp__deadline *d);
/* mp__lock_try for a flagged lock (a takeover raises *want: others may
 * sleep). */
MP__HIDDEN mp_status mp__lock_try_flagged(mp_lock *l, _Atomic uint32_t *want, int32_t tid);

/* A seq_cst fence: the barrier of a flagged release.  gcc refuses fences
 * under -fsanitize=thread (TSan does not model them), so a TSan build, which
 * checks the data's happens-before and not the flags' Dekker order, makes it
 * a seq_cst read-modify-write of a word of its own instead (on x86 the same
 * locked instruction). */
static inline void mp__fence(void)
{
#ifdef __SANITIZE_THREAD__
    static _Thread_local _Atomic uint32_t word;
    atomic_fetch_add(&word, 0);
#else
    atomic_thread_fence(memory_order_seq_cst);
#endif
}

/* The first step of a flagged release: the word is free after this store.
 * The caller then issues a seq_cst fence (mp__fence) and calls
 * mp__lock_wake_flagged -- or calls mp__lock_drop_flagged, which does all
 * three. */
static inline void mp__lock_store_free(mp_lock *l)
{
    atomic_store_explicit(&l->word, 0, memory_order_release);
}

/* The last step of a flagged release, after the fence: wake one sleeper if
 * one announced itself. */
static inline void mp__lock_wake_flagged(_Atomic uint32_t *want)
{
    if (MP__UNLIKELY(atomic_load(want)) && atomic_exchange(want, 0))
        mp__futex_wake(want, 1);
}

static inline void mp__lock_drop_flagged(mp_lock *l, _Atomic uint32_t *want)
{
    mp__lock_store_free(l);
    mp__fence();
    mp__lock_wake_flagged(want);
}

#endif
