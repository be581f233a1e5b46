/* Condition and Barrier.  Both live in one MAP_SHARED mapping each and are
 * guarded by an mp_lock (sync.c); sleeping is on process-shared futexes. */
#include "sync.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>

static const mp__deadline forever = {.forever = true};

/* ------------------------------------------------------------ condition */

/* notify(n) must wake exactly min(n, waiting) -- CPython's test_notify_n
 * counts -- which a futex sequence counter cannot promise (a wake may hit a
 * thread that has not started sleeping, or none).  So each waiter takes a
 * slot with its own futex word; notify marks the n oldest slots signalled.
 * All slot fields except state are guarded by the condition's lock, which
 * wait and notify require anyway.  The array is fixed because the object must
 * live in shared memory that other processes mapped at fork.
 *
 * A waiter SIGKILLed in wait() must not count as woken.  Its slot's `alive`
 * is a robust process-shared mutex that the waiter holds from before it
 * takes the slot until after it gives it back; the kernel marks it
 * (FUTEX_OWNER_DIED) when its holder dies, so that a trylock tells a dead
 * waiter from a live one in user space -- zombies and reused tids included
 * -- where reading /proc cost ~11 us per woken waiter (the Barrier's slots,
 * below, work the same way).
 *
 * Why nobody killed at any instruction leaves a waiter asleep that a notify
 * meant to wake (or a later one should): there is no count of waiters to get
 * out of step with the slots -- notify counts and picks the SLOT_WAITING
 * slots themselves, below `span`, which only grows and may only be too high.
 * The one step that notifies a waiter is the store of SLOT_SIGNALLED into its
 * slot; the futex wake after it only hurries the waiter, who otherwise finds
 * the store at the end of its current liveness slice (cond_wait sleeps one
 * slice at a time).  So a notifier killed before that store has not notified
 * that waiter, whom the next notify finds still waiting; one killed after it
 * has, and the waiter returns within a slice.
 *
 * A holder of the lock may also be killed after it changed what the waiters
 * wait for and before its notify (or inside it).  Whoever then takes the
 * lock over from the dead holder through the Condition (acquire, or a
 * waiter's wait getting it back) wakes every waiter, as notify_all would:
 * they return MP_OK and re-check their predicate (as wait_for does), rather
 * than sleep on for a notify that died with its notifier. */
#define COND_SLOTS 128

enum { SLOT_FREE, SLOT_WAITING, SLOT_SIGNALLED };

struct cond_slot {
    _Atomic uint32_t state; /* the futex word its waiter sleeps on */
    uint64_t ticket;        /* arrival order: notify wakes the oldest first */
    pthread_mutex_t alive;  /* held by the slot's waiter; robust */
};

struct mp_condition {
    mp_lock *lock;
    mp_lock own; /* the RLock used when the caller gives none */
    uint64_t next_ticket;
    uint32_t span; /* slot[span..] were never taken: only grows */
    struct cond_slot slot[COND_SLOTS];
};

/* Contract in mp.h.  Every slot's `alive` mutex is set up here, robust and
 * process-shared, before any process can fork with the condition; lock NULL
 * means the condition's own RLock. */
mp_status mp_condition_new(mp_condition **out, mp_lock *lock)
{
    if (!out)
        return mp__err(MP_EINVAL, "Condition: out is NULL");
    mp_condition *c;
    mp_status s = mp__shm_alloc(sizeof *c, (void **)&c);
    if (s != MP_OK)
        return s;
    pthread_mutexattr_t a;
    int e = pthread_mutexattr_init(&a);
    if (e == 0 && (e = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED)) == 0)
        e = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    for (int i = 0; e == 0 && i < COND_SLOTS; i++)
        e = pthread_mutex_init(&c->slot[i].alive, &a);
    pthread_mutexattr_destroy(&a);
    if (e != 0) {
        mp__shm_free(c, sizeof *c);
        return mp__errno(e, "Condition: mutex init");
    }
    c->own.recursive = true;
    c->lock = lock ? lock : &c->own;
    *out = c;
    return MP_OK;
}

static void wake_all(mp_condition *c);

/* Contract: the lock's acquire; MP_EOWNERDEAD (taken over from a dead
 * holder) also wakes every waiter (see above). */
mp_status mp_condition_acquire(mp_condition *c, double timeout)
{
    if (!c)
        return mp__err(MP_EINVAL, "condition.acquire: condition is NULL");
    mp_status s = mp_lock_acquire(c->lock, timeout);
    if (s == MP_EOWNERDEAD)
        wake_all(c);
    return s;
}

mp_status mp_condition_release(mp_condition *c)
{
    if (!c)
        return mp__err(MP_EINVAL, "condition.release: condition is NULL");
    return mp_lock_release(c->lock);
}

static bool holds(mp_condition *c, int32_t tid) { return mp__lock_owner(c->lock) == tid; }

/* Trylock a slot's `alive`: true when the caller now holds it, i.e. no live
 * waiter does (a dead holder's is made consistent and handed over). */
static bool slot_claim(struct cond_slot *s)
{
    int e = pthread_mutex_trylock(&s->alive);
    if (e == EOWNERDEAD)
        pthread_mutex_consistent(&s->alive);
    return e == 0 || e == EOWNERDEAD;
}

/* With the lock held: the lowest free slot, else one whose waiter died
 * (killed while waiting or after it was notified); its `alive` held, span
 * covering it. */
static struct cond_slot *slot_get(mp_condition *c)
{
    for (int pass = 0; pass < 2; pass++)
        for (uint32_t i = 0; i < (pass == 0 ? COND_SLOTS : c->span); i++) {
            struct cond_slot *s = &c->slot[i];
            uint32_t st = atomic_load_explicit(&s->state, memory_order_relaxed);
            /* A free slot whose `alive` is busy: its waiter is on its way out. */
            if ((st == SLOT_FREE) == (pass == 0) && slot_claim(s)) {
                if (c->span <= i)
                    c->span = i + 1; /* before the slot can be SLOT_WAITING */
                return s;
            }
        }
    return NULL;
}

/* The caller holds the lock (checked).  Releases every RLock level, sleeps,
 * takes the lock back at any cost (as CPython does), restores the depth. */
static mp_status cond_wait(mp_condition *c, int32_t tid, const mp__deadline *d)
{
    struct cond_slot *s = slot_get(c);
    if (!s)
        return mp__err(MP_ENOMEM, "condition.wait: more than %d waiters at once", COND_SLOTS);
    assert((uint32_t)(s - c->slot) < c->span); /* so that notify looks at it */
    s->ticket = c->next_ticket++;
    atomic_store_explicit(&s->state, SLOT_WAITING, memory_order_relaxed);
    mp_lock *l = c->lock;
    uint32_t depth = l->count;
    mp__lock_drop(l);
    /* One liveness slice at a time: a notifier killed between marking the
     * slot and waking it costs this waiter one slice. */
    while (atomic_load_explicit(&s->state, memory_order_acquire) == SLOT_WAITING)
        if (mp__nap(&s->state, SLOT_WAITING, d) == MP__NAP_DEADLINE)
            break;
    mp_status r = mp__lock_take(l, tid, &forever);
    if (l->recursive)
        l->count = depth;
    /* Signalled after the timeout but before we got the lock back counts as
     * notified: the notifier has counted this waiter as woken. */
    uint32_t st = atomic_load_explicit(&s->state, memory_order_relaxed);
    atomic_store_explicit(&s->state, SLOT_FREE, memory_order_relaxed);
    pthread_mutex_unlock(&s->alive);
    if (r != MP_OK) { /* MP_EOWNERDEAD: held again, but the lock's data is suspect */
        wake_all(c);
        return r;
    }
    if (st != SLOT_SIGNALLED)
        return mp__err(MP_TIMEOUT, "condition.wait: not notified before the timeout");
    return MP_OK;
}

/* What mp_condition_wait and wait_for check before they wait: *d becomes
 * the deadline of timeout (MP_EINVAL for NaN), *tid the caller's thread,
 * which must hold the condition's lock (MP_ENOTOWNER, "<what>: the lock is
 * not held by the caller").  Changes nothing. */
static mp_status wait_begin(mp_condition *c, double timeout, const char *what, mp__deadline *d,
                            int32_t *tid)
{
    mp_status s = mp__deadline_init(d, timeout);
    if (s != MP_OK)
        return s;
    *tid = mp__gettid();
    if (!holds(c, *tid))
        return mp__err(MP_ENOTOWNER, "%s: the lock is not held by the caller", what);
    return MP_OK;
}

/* Contract in mp.h.  The ownership check comes before any slot is taken, so
 * a caller that does not hold the lock changes nothing. */
mp_status mp_condition_wait(mp_condition *c, double timeout)
{
    if (!c)
        return mp__err(MP_EINVAL, "condition.wait: condition is NULL");
    mp__deadline d;
    int32_t tid;
    mp_status s = wait_begin(c, timeout, "condition.wait", &d, &tid);
    return s != MP_OK ? s : cond_wait(c, tid, &d);
}

/* Contract in mp.h.  One deadline for all the waits: the predicate is
 * re-checked after each wake (a notify, a takeover or a timeout), and an
 * MP_EOWNERDEAD from cond_wait ends the loop, the lock held. */
mp_status mp_condition_wait_for(mp_condition *c, mp_predicate_fn pred, void *arg, double timeout)
{
    if (!c || !pred)
        return mp__err(MP_EINVAL, "condition.wait_for: NULL argument");
    mp__deadline d;
    int32_t tid;
    mp_status s = wait_begin(c, timeout, "condition.wait_for", &d, &tid);
    if (s != MP_OK)
        return s;
    while (!pred(arg)) {
        if (mp__deadline_passed(&d))
            return mp__err(MP_TIMEOUT, "condition.wait_for: predicate still false at the deadline");
        s = cond_wait(c, tid, &d);
        if (s != MP_OK && s != MP_TIMEOUT)
            return s;
    }
    return MP_OK;
}

/* Contract: with the lock held, notify the waiter of a SLOT_WAITING slot:
 * 1 if it was live (its slot is SLOT_SIGNALLED -- the one store that
 * notifies it -- and woken), 0 if its thread is gone (the slot is freed
 * rather than counted as woken).  Killed before the store: not notified, the
 * slot still waiting (or, if killed holding its `alive`, reclaimable as a
 * dead waiter's); killed after it: notified, the waiter sees it within a
 * liveness slice. */
static unsigned signal_slot(struct cond_slot *s)
{
    if (slot_claim(s)) { /* its waiter died */
        atomic_store_explicit(&s->state, SLOT_FREE, memory_order_relaxed);
        pthread_mutex_unlock(&s->alive);
        return 0;
    }
    atomic_store_explicit(&s->state, SLOT_SIGNALLED, memory_order_release);
    mp__futex_wake(&s->state, 1);
    return 1;
}

static bool slot_waiting(const struct cond_slot *s)
{
    return atomic_load_explicit(&s->state, memory_order_relaxed) == SLOT_WAITING;
}

/* Contract: wakes min(n, live waiters) waiters, oldest first, counting and
 * choosing them from the slots alone (nothing to be left inconsistent by a
 * caller killed half-way).  No system call when nobody waits. */
static mp_status notify(mp_condition *c, unsigned n, const char *what)
{
    if (!c)
        return mp__err(MP_EINVAL, "condition.%s: condition is NULL", what);
    if (!holds(c, mp__gettid()))
        return mp__err(MP_ENOTOWNER, "condition.%s: the lock is not held by the caller", what);
    const uint32_t span = c->span;
    assert(span <= COND_SLOTS); /* only ever slot_get's i + 1 */
    unsigned waiting = 0;
    for (uint32_t i = 0; i < span; i++)
        waiting += slot_waiting(&c->slot[i]);
    if (n >= waiting) { /* everyone: order does not matter */
        for (uint32_t i = 0; i < span; i++)
            if (slot_waiting(&c->slot[i]))
                signal_slot(&c->slot[i]);
        return MP_OK;
    }
    while (n > 0) {
        struct cond_slot *oldest = NULL;
        for (uint32_t i = 0; i < span; i++) {
            struct cond_slot *s = &c->slot[i];
            if (slot_waiting(s) && (!oldest || s->ticket < oldest->ticket))
                oldest = s;
        }
        if (!oldest)
            break;
        n -= signal_slot(oldest);
    }
    return MP_OK;
}

/* With the lock taken over from a dead holder: notify_all. */
static void wake_all(mp_condition *c)
{
    assert(c->span <= COND_SLOTS); /* only ever slot_get's i + 1 */
    for (uint32_t i = 0; i < c->span; i++)
        if (slot_waiting(&c->slot[i]))
            signal_slot(&c->slot[i]);
}

mp_status mp_condition_notify(mp_condition *c, unsigned n) { return notify(c, n, "notify"); }
mp_status mp_condition_notify_all(mp_condition *c) { return notify(c, UINT_MAX, "notify_all"); }

void mp_condition_free(mp_condition *c) { mp__shm_free(c, sizeof *c); }

/* -------------------------------------------------------------- barrier */

/* threading.Barrier's state machine (multiprocessing uses it with a shared
 * Condition): filling, draining (releasing one generation), resetting,
 * broken.  Waiting is a broadcast-only condition variable: seq changes at
 * every state change and sleepers wait for it to differ.
 *
 * A caller SIGKILLed inside wait() never leaves nor arrives, so a generation
 * could never fill correctly nor drain (CPython's Barrier hangs).  Each call
 * therefore holds a slot for all but its first and last few instructions: a
 * robust process-shared mutex, which the kernel marks (FUTEX_OWNER_DIED) when
 * its holder dies, so that a trylock tells a dead caller from a live one in
 * user space -- zombies and reused tids included -- where reading /proc costs
 * ~10 us.  The trylock that takes a slot is the claim itself, made before the
 * barrier's lock is taken and undone after it is dropped, so that a caller
 * killed while queueing for the lock or on its way out is watched too.  Sleepers
 * wake every liveness slice and, at most once a slice between them all,
 * sweep the slots; the last arrival sweeps before tripping.  A dead caller
 * breaks the barrier, like abort() [BAR-PARTY-KILLED] (after a reset() it is
 * only forgotten [BAR-PARTY-KILLED-RESET]), and one that had arrived is
 * counted out, so that draining ends.  There are `parties` slots: a caller
 * beyond them (more threads than parties calling at once) waits unwatched. */
enum { B_RESETTING = -1, B_BROKEN = -2, B_FILLING = 0, B_DRAINING = 1 };

enum { SLOT_RAW, SLOT_INITING, SLOT_READY };

struct b_slot {
    pthread_mutex_t held;  /* by the caller in the slot; robust */
    _Atomic uint32_t init; /* SLOT_*: held is set up lazily, parties may be huge */
    int32_t idx;           /* the holder's arrival index, else -1; under the lock */
};

struct mp_barrier {
    mp_lock lock; /* guards everything below but the reads of n_waiting/broken */
    _Atomic uint32_t seq;
    _Atomic uint32_t sleepers;
    _Atomic int32_t state;
    _Atomic uint32_t count; /* arrived and not left: slots with idx >= 0 + unwatched */
    uint32_t unwatched;     /* arrived callers without a slot */
    _Atomic uint32_t span;  /* slot[span..] were never claimed: sweeps stop there */
    uint32_t parties;
    double swept; /* mp__now() of the last sweep */
    mp_barrier_action_fn action;
    void *arg;
    double timeout;
    struct b_slot slot[];
};

static size_t b_size(uint32_t parties)
{
    return sizeof(mp_barrier) + (size_t)parties * sizeof(struct b_slot);
}

static void b_broadcast(mp_barrier *b)
{
    atomic_fetch_add(&b->seq, 1);
    if (atomic_load(&b->sleepers) > 0)
        mp__futex_wake(&b->seq, INT_MAX);
}

static void b_break(mp_barrier *b)
{
    atomic_store(&b->state, B_BROKEN);
    b_broadcast(b);
}

/* Without the lock: set up slot s's robust `held` mutex the first time
 * anyone needs it (INITING by CAS, so one caller does it).  True when s is
 * usable; false while another caller sets it up or if the set-up failed (it
 * is then RAW again for a later try).  For b_slot_take only. */
static bool b_slot_ready(struct b_slot *s)
{
    uint32_t st = atomic_load(&s->init);
    if (st == SLOT_READY)
        return true;
    if (st != SLOT_RAW || !atomic_compare_exchange_strong(&s->init, &st, SLOT_INITING))
        return false; /* another caller is setting it up */
    pthread_mutexattr_t a;
    int e = pthread_mutexattr_init(&a);
    if (e == 0 && (e = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED)) == 0 &&
        (e = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST)) == 0)
        e = pthread_mutex_init(&s->held, &a);
    pthread_mutexattr_destroy(&a);
    s->idx = -1;
    atomic_store(&s->init, e == 0 ? SLOT_READY : SLOT_RAW);
    return e == 0;
}

/* Without the lock: claim a free slot for the calling thread (NULL if none).
 * *heir: it was held by a caller that died unswept. */
static struct b_slot *b_slot_take(mp_barrier *b, bool *heir)
{
    for (uint32_t i = 0; i < b->parties; i++) {
        struct b_slot *s = &b->slot[i];
        if (!b_slot_ready(s))
            continue;
        uint32_t sp = atomic_load(&b->span);
        while (sp <= i && !atomic_compare_exchange_weak(&b->span, &sp, i + 1))
            ;
        int e = pthread_mutex_trylock(&s->held);
        if (e == EOWNERDEAD)
            pthread_mutex_consistent(&s->held);
        if (e == 0 || e == EOWNERDEAD) {
            *heir = e == EOWNERDEAD;
            return s;
        }
    }
    return NULL;
}

/* After the lock is dropped, so that a caller killed on its way out is
 * watched to the end (idx was reset under the lock). */
static void b_slot_give(struct b_slot *s)
{
    if (s)
        pthread_mutex_unlock(&s->held);
}

/* With the lock held: find the callers that died inside wait, break the
 * barrier for them (not after a reset) and count out those that had arrived;
 * also repairs a count left half updated by a holder of the lock that died.
 * Unless forced, at most once a liveness slice.  Whether it found any. */
static bool b_sweep(mp_barrier *b, bool force)
{
    double now = mp__now();
    if (!force && now - b->swept < mp__wait_tunings.liveness_slice_s)
        return false;
    b->swept = now;
    bool dead = false;
    uint32_t n = b->unwatched, span = atomic_load(&b->span);
    assert(span <= b->parties); /* only ever b_slot_take's i + 1 */
    for (uint32_t i = 0; i < span; i++) {
        struct b_slot *s = &b->slot[i];
        if (atomic_load(&s->init) != SLOT_READY)
            continue;
        /* Busy: held by a live caller, maybe this one (a robust mutex's
         * trylock by its holder is EBUSY too). */
        int e = pthread_mutex_trylock(&s->held);
        if (e == EBUSY) {
            n += s->idx >= 0;
            continue;
        }
        if (e == EOWNERDEAD) {
            pthread_mutex_consistent(&s->held);
            dead = true;
        }
        s->idx = -1;
        if (e == 0 || e == EOWNERDEAD)
            pthread_mutex_unlock(&s->held);
    }
    atomic_store(&b->count, n);
    int32_t st = atomic_load(&b->state);
    if (dead && (st == B_FILLING || st == B_DRAINING)) {
        b_break(b);
    } else if (n == 0 && (st == B_DRAINING || st == B_RESETTING)) {
        atomic_store(&b->state, B_FILLING);
        b_broadcast(b);
    }
    return dead;
}

static void b_lock(mp_barrier *b, int32_t tid)
{
    /* A process killed inside wait() may have left count/state half done. */
    if (mp__lock_take(&b->lock, tid, &forever) == MP_EOWNERDEAD) {
        b_break(b);
        b_sweep(b, true);
    }
}

/* Called and returns with the lock held; sweeps after a slice. */
static enum mp__nap b_sleep(mp_barrier *b, int32_t tid, const mp__deadline *d)
{
    uint32_t s = atomic_load(&b->seq);
    atomic_fetch_add(&b->sleepers, 1);
    mp__lock_drop(&b->lock);
    enum mp__nap r = mp__nap(&b->seq, s, d);
    b_lock(b, tid);
    atomic_fetch_sub(&b->sleepers, 1);
    if (r == MP__NAP_SLICE)
        b_sweep(b, false);
    return r;
}

/* Contract in mp.h.  The slots come zeroed (SLOT_RAW) from the shared
 * mapping and are set up lazily by b_slot_ready: parties may be large. */
mp_status mp_barrier_new(mp_barrier **out, unsigned parties, mp_barrier_action_fn action, void *arg,
                         double default_timeout)
{
    if (!out || parties == 0)
        return mp__err(MP_EINVAL, "Barrier: %s", out ? "parties must be > 0" : "out is NULL");
    if (isnan(default_timeout) || default_timeout == MP_BARRIER_DEFAULT)
        return mp__err(MP_EINVAL, "Barrier: default_timeout must be seconds or MP_FOREVER");
    mp_barrier *b;
    mp_status s = mp__shm_alloc(b_size(parties), (void **)&b);
    if (s != MP_OK)
        return s;
    b->parties = parties;
    b->action = action;
    b->arg = arg;
    b->timeout = default_timeout;
    *out = b;
    return MP_OK;
}

/* Contract in mp.h.  Order matters: the slot is claimed before the lock is
 * taken and given back after it is dropped, so a caller killed anywhere
 * between is seen by a sweep; the last arrival sweeps before it trips, so a
 * generation with a dead party is broken rather than released. */
mp_status mp_barrier_wait(mp_barrier *b, double timeout, unsigned *index)
{
    if (!b)
        return mp__err(MP_EINVAL, "barrier.wait: barrier is NULL");
    mp__deadline d;
    mp_status r = mp__deadline_init(&d, timeout == MP_BARRIER_DEFAULT ? b->timeout : timeout);
    if (r != MP_OK)
        return r;
    bool heir = false;
    struct b_slot *slot = b_slot_take(b, &heir);
    int32_t tid = mp__gettid();
    b_lock(b, tid);
    if (heir) {       /* a death found by the claim: as by a sweep */
        assert(slot); /* heir is set only with a slot */
        slot->idx = -1;
        if (atomic_load(&b->state) >= B_FILLING)
            b_break(b);
        b_sweep(b, true);
    }
    /* Wait for the previous generation to drain or a reset to finish. */
    while (atomic_load(&b->state) == B_DRAINING || atomic_load(&b->state) == B_RESETTING)
        b_sleep(b, tid, &forever);
    if (atomic_load(&b->state) == B_BROKEN) {
        mp__lock_drop(&b->lock);
        b_slot_give(slot);
        return mp__err(MP_EBROKEN, "barrier.wait: the barrier is broken");
    }
    uint32_t idx = atomic_fetch_add(&b->count, 1);
    if (slot)
        slot->idx = (int32_t)idx;
    else
        b->unwatched++;
    if (idx + 1 == b->parties) {
        /* The last to arrive runs the action before anyone is released, but
         * not for a generation with a dead party. */
        if (idx > 0 && b_sweep(b, true)) {
            r = mp__err(MP_EBROKEN,
                        "barrier.wait: a party died while waiting; the barrier is broken");
        } else if (b->action && b->action(b->arg) != 0) {
            b_break(b);
            r = mp__err(MP_EBROKEN, "barrier.wait: the action failed; the barrier is broken");
        } else {
            atomic_store(&b->state, B_DRAINING);
            b_broadcast(b);
        }
    } else {
        while (atomic_load(&b->state) == B_FILLING)
            if (b_sleep(b, tid, &d) == MP__NAP_DEADLINE && atomic_load(&b->state) == B_FILLING) {
                b_break(b);
                break;
            }
        if (atomic_load(&b->state) < 0)
            r = mp__err(MP_EBROKEN, "barrier.wait: the barrier was broken (timeout, abort, reset "
                                    "or a party died)");
    }
    if (slot)
        slot->idx = -1;
    else
        b->unwatched--;
    if (atomic_fetch_sub(&b->count, 1) == 1) {
        int32_t st = atomic_load(&b->state);
        if (st == B_DRAINING || st == B_RESETTING) {
            atomic_store(&b->state, B_FILLING);
            b_broadcast(b);
        }
    }
    mp__lock_drop(&b->lock);
    b_slot_give(slot);
    if (r == MP_OK && index)
        *index = idx;
    return r;
}

/* Contract in mp.h.  Takes the lock (b_lock sweeps after a dead holder), so
 * the state change and broadcast are ordered with every waiter's re-check. */
mp_status mp_barrier_abort(mp_barrier *b)
{
    if (!b)
        return mp__err(MP_EINVAL, "barrier.abort: barrier is NULL");
    b_lock(b, mp__gettid());
    b_break(b);
    mp__lock_drop(&b->lock);
    return MP_OK;
}

/* Contract in mp.h.  Under the lock: with nobody inside the barrier it
 * fills again at once; otherwise the waiters leave broken and the last one
 * out refills, except that a draining generation finishes normally. */
mp_status mp_barrier_reset(mp_barrier *b)
{
    if (!b)
        return mp__err(MP_EINVAL, "barrier.reset: barrier is NULL");
    b_lock(b, mp__gettid());
    /* Waiters still filling leave with MP_EBROKEN and the last one out
     * refills; a generation being released drains normally. */
    if (atomic_load(&b->count) == 0)
        atomic_store(&b->state, B_FILLING);
    else if (atomic_load(&b->state) != B_DRAINING)
        atomic_store(&b->state, B_RESETTING);
    b_broadcast(b);
    mp__lock_drop(&b->lock);
    return MP_OK;
}

mp_status mp_barrier_parties(mp_barrier *b, unsigned *parties)
{
    if (!b || !parties)
        return mp__err(MP_EINVAL, "barrier.parties: NULL argument");
    *parties = b->parties;
    return MP_OK;
}

mp_status mp_barrier_n_waiting(mp_barrier *b, unsigned *n)
{
    if (!b || !n)
        return mp__err(MP_EINVAL, "barrier.n_waiting: NULL argument");
    *n = atomic_load(&b->state) == B_FILLING ? atomic_load(&b->count) : 0;
    return MP_OK;
}

mp_status mp_barrier_broken(mp_barrier *b, bool *broken)
{
    if (!b || !broken)
        return mp__err(MP_EINVAL, "barrier.broken: NULL argument");
    *broken = atomic_load(&b->state) == B_BROKEN;
    return MP_OK;
}

void mp_barrier_free(mp_barrier *b)
{
    if (b)
        mp__shm_free(b, b_size(b->parties));
}
