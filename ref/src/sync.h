/* Internal pieces of the synchronisation objects (sync.c, sync_cond.c). */
#ifndef MP_SYNC_H
#define MP_SYNC_H

#include "mp_internal.h"

/* Lock and RLock share this struct, in anonymous MAP_SHARED memory.
 * word is Drepper's mutex ("Futexes are tricky", mutex 3): 0 free, 1 held,
 * 2 held and maybe waiters, so an uncontended acquire/release is one atomic
 * each and the release wakes only when someone may sleep.  owner is the tid
 * of the holder, written right after taking word and cleared right before
 * dropping it: a waiter that finds it naming a dead thread takes the lock
 * over (MP_EOWNERDEAD).  count is the RLock depth, touched only by the owner. */
struct mp_lock {
    _Atomic uint32_t word;
    _Atomic int32_t owner;
    uint32_t count;
    bool recursive;
};

/* Take the word of l for tid (blocking until d): MP_OK, MP_TIMEOUT, or
 * MP_EOWNERDEAD (taken over from a dead holder).  Leaves count alone. */
MP__HIDDEN mp_status mp__lock_take(mp_lock *l, int32_t tid, const mp__deadline *d);
/* How long a waiter sleeps before it checks that its peers are alive. */
#define MP__LIVENESS_SLICE 0.1

/* Sleep while *w == val, until d or the end of one liveness slice. */
enum mp__nap { MP__NAP_WOKEN, MP__NAP_SLICE, MP__NAP_DEADLINE };
MP__HIDDEN enum mp__nap mp__nap(_Atomic uint32_t *w, uint32_t val, const mp__deadline *d);

/* Clear owner and drop the word; returns the old word (0: was not held). */
MP__HIDDEN uint32_t mp__lock_drop(mp_lock *l);

#endif
