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

#endif
