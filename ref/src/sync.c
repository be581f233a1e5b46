/* Lock, RLock, Semaphore, BoundedSemaphore and Event on process-shared
 * futexes (Condition and Barrier are in sync_cond.c).  Every object is one
 * anonymous MAP_SHARED mapping, so processes forked later share it; the
 * handle is its address, which fork keeps.  Fast paths are one atomic and no
 * system call; waiter counts keep releases from calling futex_wake when
 * nobody sleeps (musl's sem_post / sem_timedwait scheme). */
#include "sync.h"

#include <limits.h>

/* ----------------------------------------------------------------- lock */

/* One try of mp__lock_take's spin (mp__wait_tunings.lock): take the free
 * word (a->got), or end the spin once another waiter may sleep -- queue up
 * behind it rather than spin. */
struct lock_try {
    mp_lock *l;
    _Atomic uint32_t *want; /* a flagged lock's (sync.h), else NULL */
    uint32_t me;
    bool got;
};

/* The try described above: true ends the spin, with a->got when the CAS
 * took the free word (acquire order); false to spin on.  Changes only
 * a->got. */
static inline bool lock_try(void *arg)
{
    struct lock_try *a = arg;
    uint32_t c = 0;
    if (atomic_compare_exchange_weak_explicit(&a->l->word, &c, a->me, memory_order_acquire,
                                              memory_order_relaxed)) {
        a->got = true;
        return true;
    }
    if (a->want)
        return atomic_load_explicit(a->want, memory_order_relaxed) != 0;
    return c & MP__LOCK_WAITERS;
}

/* c, a word of l naming a holder: if that holder's thread is gone, take l
 * over for me with one CAS from that exact word (true, MP_EOWNERDEAD
 * recorded as the message) -- so it cannot steal from a holder that released
 * meanwhile (nor from a new one), and of several takers that find the same
 * dead holder exactly one wins.  Others may sleep on l: the taken word has
 * MP__LOCK_WAITERS, or a flagged lock's *want (want not NULL) is raised. */
static bool took_over(mp_lock *l, _Atomic uint32_t *want, uint32_t c, uint32_t me)
{
    int32_t o = (int32_t)(c & MP__LOCK_TID);
    if (o == 0 || o == (int32_t)me || mp__tid_alive(o))
        return false;
    if (!atomic_compare_exchange_strong_explicit(&l->word, &c, want ? me : me | MP__LOCK_WAITERS,
                                                 memory_order_acquire, memory_order_relaxed))
        return false;
    if (want)
        atomic_store(want, 1);
    mp__err(MP_EOWNERDEAD, "lock.acquire: tid %d died holding the lock; the caller holds it now",
            (int)o);
    return true;
}

/* Contract: returns holding l -- its word naming tid, with MP__LOCK_WAITERS
 * -- with MP_OK, or with MP_EOWNERDEAD after taking it over from a holder
 * whose thread is gone; else MP_TIMEOUT at d, not holding it.
 *
 * Why a takeover cannot miss a dead holder: whoever holds l is named by word
 * from the very instruction that took it (CAS 0 -> tid here and in
 * mp_lock_acquire) to the one that lets it go (the exchange in
 * mp__lock_drop), so after a holder's death word either is 0 or names it.
 * Sleepers wake every liveness slice and check the tid in word (took_over). */
mp_status mp__lock_take(mp_lock *l, int32_t tid, const mp__deadline *d)
{
    const uint32_t me = (uint32_t)tid;
    struct lock_try a = {.l = l, .me = me};
    if (mp__spin_until(NULL, &mp__wait_tunings.lock, lock_try, &a) && a.got)
        return MP_OK;
    /* From here on the word is taken with MP__LOCK_WAITERS (others may sleep,
     * so our release must wake), and every pass that finds it held sets the
     * bit before sleeping so that the release wakes us.  A futex that
     * returned woken is followed by another try even past the deadline: the
     * wake may have been meant for us, and dropping it would strand another
     * sleeper. */
    uint32_t c = atomic_load_explicit(&l->word, memory_order_relaxed);
    for (;;) {
        if (c == 0) {
            if (atomic_compare_exchange_strong_explicit(&l->word, &c, me | MP__LOCK_WAITERS,
                                                        memory_order_acquire, memory_order_relaxed))
                return MP_OK;
            continue; /* c is the word that beat us */
        }
        if (!(c & MP__LOCK_WAITERS)) {
            if (!atomic_compare_exchange_strong_explicit(
                    &l->word, &c, c | MP__LOCK_WAITERS, memory_order_relaxed, memory_order_relaxed))
                continue;
            c |= MP__LOCK_WAITERS;
        }
        enum mp__nap r = mp__nap(&l->word, c, d);
        if (r == MP__NAP_DEADLINE)
            return MP_TIMEOUT;
        c = atomic_load_explicit(&l->word, memory_order_relaxed);
        if (r != MP__NAP_SLICE)
            continue;
        if (took_over(l, NULL, c, me))
            return MP_EOWNERDEAD;
        /* Alive, released or taken over by someone else meanwhile. */
        c = atomic_load_explicit(&l->word, memory_order_relaxed);
    }
}

/* Contract in sync.h.  A kill() and a /proc read only when l is held. */
mp_status mp__lock_try(mp_lock *l, int32_t tid)
{
    uint32_t c;
    if (mp__lock_grab(l, tid, &c))
        return MP_OK;
    return took_over(l, NULL, c, (uint32_t)tid) ? MP_EOWNERDEAD : MP_TIMEOUT;
}

/* Contract in sync.h: as mp__lock_take, for a flagged lock.  Every pass of
 * the slow path raises *want before it looks at the word, and sleeps on
 * *want, not on the word: the word can return to the value seen (the same
 * holder taking it again) while a wake meant for us went by, but *want only
 * goes from 1 to 0 by a release's wake, and a FUTEX_WAIT for 1 then returns
 * at once. */
mp_status mp__lock_take_flagged(mp_lock *l, _Atomic uint32_t *want, int32_t tid,
                                const mp__deadline *d)
{
    const uint32_t me = (uint32_t)tid;
    struct lock_try a = {.l = l, .want = want, .me = me};
    if (mp__spin_until(NULL, &mp__wait_tunings.lock, lock_try, &a) && a.got)
        return MP_OK;
    for (;;) {
        atomic_store(want, 1);
        uint32_t c = atomic_load(&l->word);
        if (c == 0) {
            if (atomic_compare_exchange_strong_explicit(&l->word, &c, me, memory_order_acquire,
                                                        memory_order_relaxed))
                return MP_OK; /* *want stays up: others may sleep */
            continue;
        }
        enum mp__nap r = mp__nap(want, 1, d);
        if (r == MP__NAP_DEADLINE)
            return MP_TIMEOUT; /* *want is up: the next release wakes another */
        if (r == MP__NAP_SLICE && took_over(l, want, atomic_load(&l->word), me))
            return MP_EOWNERDEAD;
    }
}

/* Contract in sync.h. */
mp_status mp__lock_try_flagged(mp_lock *l, _Atomic uint32_t *want, int32_t tid)
{
    uint32_t c;
    if (mp__lock_grab(l, tid, &c))
        return MP_OK;
    return took_over(l, want, c, (uint32_t)tid) ? MP_EOWNERDEAD : MP_TIMEOUT;
}

/* Contract: one exchange to 0, so the lock is held (and named) up to that
 * instruction and free after it; wakes one sleeper if the word said some may
 * sleep.  A caller killed between the exchange and the wake leaves the
 * sleepers to find the word free at their next liveness slice. */
uint32_t mp__lock_drop(mp_lock *l)
{
    uint32_t c = atomic_exchange_explicit(&l->word, 0, memory_order_release);
    if (c & MP__LOCK_WAITERS)
        mp__futex_wake(&l->word, 1);
    return c;
}

/* The constructor of Lock and RLock: a zeroed (free) lock in its own shared
 * mapping, so that processes forked later share it.  what names the kind. */
static mp_status lock_new(mp_lock **out, bool recursive, const char *what)
{
    if (!out)
        return mp__err(MP_EINVAL, "%s: out is NULL", what);
    mp_lock *l;
    mp_status s = mp__shm_alloc(sizeof *l, (void **)&l);
    if (s != MP_OK)
        return s;
    l->recursive = recursive;
    *out = l;
    return MP_OK;
}

mp_status mp_lock_new(mp_lock **out) { return lock_new(out, false, "Lock"); }
mp_status mp_rlock_new(mp_lock **out) { return lock_new(out, true, "RLock"); }

/* Contract in mp.h.  The fast path is one CAS that names the holder;
 * otherwise mp__lock_take, which may take the lock over from a dead holder
 * (MP_EOWNERDEAD, held).  An RLock's count is set after the word is ours. */
mp_status mp_lock_acquire(mp_lock *l, double timeout)
{
    if (!l)
        return mp__err(MP_EINVAL, "lock.acquire: lock is NULL");
    if (isnan(timeout))
        return mp__err(MP_EINVAL, "lock.acquire: timeout is NaN");
    int32_t tid = mp__gettid();
    if (l->recursive && mp__lock_owner(l) == tid) {
        if (l->count == UINT32_MAX)
            return mp__err(MP_ESTATE, "rlock.acquire: recursion depth overflow");
        l->count++;
        return MP_OK;
    }
    /* The fast path: one CAS both takes the lock and names its holder. */
    uint32_t c;
    mp_status s = MP_OK;
    if (!mp__lock_grab(l, tid, &c)) {
        if (!(timeout > 0))
            return mp__err(MP_TIMEOUT, "lock.acquire: held by another (timeout %g)", timeout);
        mp__deadline d;
        mp__deadline_init(&d, timeout);
        s = mp__lock_take(l, tid, &d);
        if (s == MP_TIMEOUT)
            return mp__err(MP_TIMEOUT, "lock.acquire: timed out after %.3f s", timeout);
    }
    if (l->recursive)
        l->count = 1;
    return s;
}

/* Contract in mp.h.  An RLock checks its owner and drops only the last
 * level; a Lock may be released by any thread (as CPython's), and of two
 * racing releases the exchange in mp__lock_drop lets exactly one succeed. */
mp_status mp_lock_release(mp_lock *l)
{
    if (!l)
        return mp__err(MP_EINVAL, "lock.release: lock is NULL");
    if (l->recursive) {
        if (mp__lock_owner(l) != mp__gettid())
            return mp__err(MP_ENOTOWNER, "rlock.release: not owned by the calling thread");
        if (--l->count > 0)
            return MP_OK;
    } else if (atomic_load_explicit(&l->word, memory_order_relaxed) == 0) {
        return mp__err(MP_ESTATE, "lock.release: lock is not acquired");
    }
    /* Two racing releases of one Lock: the loser sees 0 from the exchange. */
    if (mp__lock_drop(l) == 0)
        return mp__err(MP_ESTATE, "lock.release: lock is not acquired");
    return MP_OK;
}

mp_status mp_lock_locked(mp_lock *l, bool *locked)
{
    if (!l || !locked)
        return mp__err(MP_EINVAL, "lock.locked: NULL argument");
    *locked = atomic_load(&l->word) != 0;
    return MP_OK;
}

void mp_lock_free(mp_lock *l) { mp__shm_free(l, sizeof *l); }

/* ------------------------------------------------------------ semaphore */

struct mp_semaphore {
    _Atomic uint32_t value;
    _Atomic uint32_t waiters; /* threads that may sleep on value */
    uint32_t max;             /* the bound, or UINT32_MAX */
};

/* The constructor of Semaphore and BoundedSemaphore: value in a fresh
 * shared mapping, max the bound (UINT32_MAX when unbounded, so an unbounded
 * value stays below it).  MP_EINVAL for a value too large. */
static mp_status sem_new(mp_semaphore **out, unsigned value, bool bounded, const char *what)
{
    if (!out)
        return mp__err(MP_EINVAL, "%s: out is NULL", what);
    if (value > UINT32_MAX - (bounded ? 0 : 1))
        return mp__err(MP_EINVAL, "%s: value %u too large", what, value);
    mp_semaphore *s;
    mp_status st = mp__shm_alloc(sizeof *s, (void **)&s);
    if (st != MP_OK)
        return st;
    s->value = value;
    s->max = bounded ? value : UINT32_MAX;
    *out = s;
    return MP_OK;
}

mp_status mp_semaphore_new(mp_semaphore **out, unsigned value)
{
    return sem_new(out, value, false, "Semaphore");
}

mp_status mp_bounded_semaphore_new(mp_semaphore **out, unsigned value)
{
    return sem_new(out, value, true, "BoundedSemaphore");
}

/* Take one unit if there is one, by CAS (acquire order): true when taken.
 * Never sleeps; any caller. */
static bool sem_trydown(mp_semaphore *s)
{
    uint32_t v = atomic_load_explicit(&s->value, memory_order_relaxed);
    while (v > 0)
        if (atomic_compare_exchange_weak_explicit(&s->value, &v, v - 1, memory_order_acquire,
                                                  memory_order_relaxed))
            return true;
    return false;
}

/* sem_trydown as a try of mp__spin_until (mp__wait_tunings.sem). */
static inline bool sem_try(void *s) { return sem_trydown(s); }

/* Contract in mp.h.  Try, spin, then sleep counted in waiters, one liveness
 * slice at a time (below). */
mp_status mp_semaphore_acquire(mp_semaphore *s, double timeout)
{
    if (!s)
        return mp__err(MP_EINVAL, "semaphore.acquire: semaphore is NULL");
    if (isnan(timeout))
        return mp__err(MP_EINVAL, "semaphore.acquire: timeout is NaN");
    if (sem_trydown(s))
        return MP_OK;
    if (!(timeout > 0))
        return mp__err(MP_TIMEOUT, "semaphore.acquire: value is 0 (timeout %g)", timeout);
    if (mp__spin_until(NULL, &mp__wait_tunings.sem, sem_try, s))
        return MP_OK;
    mp__deadline d;
    mp__deadline_init(&d, timeout);
    mp_status r = MP_OK;
    /* seq_cst increment, then re-check: a release either sees us counted or
     * we see its increment (and futex_wait refuses to sleep on a changed 0).
     * Each sleep is one liveness slice at most, after which the value is
     * looked at again: a wake that never comes (its releaser killed between
     * the increment and the wake, or a woken waiter killed before it took
     * the unit) costs one slice, not the whole wait. */
    atomic_fetch_add(&s->waiters, 1);
    while (!sem_trydown(s)) {
        if (mp__nap(&s->value, 0, &d) == MP__NAP_DEADLINE && !sem_trydown(s)) {
            r = mp__err(MP_TIMEOUT, "semaphore.acquire: timed out after %.3f s", timeout);
            break;
        }
    }
    atomic_fetch_sub(&s->waiters, 1);
    return r;
}

/* Contract: one CAS adds the unit, then a wake if anyone may sleep.  A
 * releaser killed at any instruction has either not added the unit or added
 * it; in the second case a sleeper that its wake never reached takes the
 * unit at the end of its current liveness slice (mp_semaphore_acquire), so
 * no acquire sleeps on for longer than one slice while a unit is there.
 * waiters can only be left too high (a waiter killed between its increment
 * and decrement), which costs a futile wake, never a missed one. */
mp_status mp_semaphore_release(mp_semaphore *s)
{
    if (!s)
        return mp__err(MP_EINVAL, "semaphore.release: semaphore is NULL");
    uint32_t v = atomic_load_explicit(&s->value, memory_order_relaxed);
    do {
        if (v >= s->max)
            return mp__err(MP_ESTATE, s->max == UINT32_MAX
                                          ? "semaphore.release: value would overflow"
                                          : "semaphore.release: released too many times");
    } while (!atomic_compare_exchange_weak(&s->value, &v, v + 1));
    if (atomic_load(&s->waiters) > 0)
        mp__futex_wake(&s->value, 1);
    return MP_OK;
}

mp_status mp_semaphore_value(mp_semaphore *s, unsigned *value)
{
    if (!s || !value)
        return mp__err(MP_EINVAL, "semaphore.get_value: NULL argument");
    *value = atomic_load(&s->value);
    return MP_OK;
}

void mp_semaphore_free(mp_semaphore *s) { mp__shm_free(s, sizeof *s); }

/* ---------------------------------------------------------------- event */

/* word = (number of clears << 2) | SLEEPERS | SET.  A waiter sleeps on the
 * clear word it saw, with SLEEPERS raised; the word changes only by a set
 * (SET) and then a clear (SET and SLEEPERS dropped, the count one up), so a
 * waiter returns MP_OK once the word, SLEEPERS aside, differs from the one
 * it first saw: also when a clear() followed the set at once
 * (threading.Event's behaviour).
 *
 * Why a setter killed at any instruction leaves nobody asleep on a set
 * Event, with no liveness slice (an untimed wait has no timer at all): set
 * either finds SLEEPERS down and raises SET with one CAS -- nobody sleeps on
 * such a word, a waiter raises SLEEPERS (a CAS, so the two exclude each
 * other) before it sleeps -- or finds SLEEPERS up and raises SET and wakes
 * every sleeper in one system call (mp__futex_or_wake).  Killed before
 * either, it changed nothing; after, the sleepers are woken.  A waiter
 * killed inside wait leaves SLEEPERS up until the next clear: a futile
 * system call for the next set, never a missed wake. */
enum { EV_SET = 1u, EV_SLEEPERS = 2u };

struct mp_event {
    _Atomic uint32_t word;
};

mp_status mp_event_new(mp_event **out)
{
    if (!out)
        return mp__err(MP_EINVAL, "Event: out is NULL");
    return mp__shm_alloc(sizeof(mp_event), (void **)out);
}

/* Contract: raises SET; with sleepers, in the same system call that wakes
 * them all (see above).  No system call when nobody sleeps, nothing at all
 * when the Event is set already. */
mp_status mp_event_set(mp_event *e)
{
    if (!e)
        return mp__err(MP_EINVAL, "event.set: event is NULL");
    uint32_t w = atomic_load(&e->word);
    while (!(w & EV_SET)) {
        if (w & EV_SLEEPERS) {
            /* A release that changes nothing, so that what this thread wrote
             * before set() is ordered before the kernel's OR (a later RMW of
             * the word: the release sequence), for the waiter's acquire load
             * -- and for ThreadSanitizer, which cannot see the kernel's. */
            atomic_fetch_or_explicit(&e->word, 0, memory_order_release);
            mp__futex_or_wake(&e->word, EV_SET, INT_MAX);
            break;
        }
        if (atomic_compare_exchange_weak(&e->word, &w, w | EV_SET))
            break;
    }
    return MP_OK;
}

/* Contract: drops SET and SLEEPERS and counts the clear, in one CAS; nothing
 * when the Event is clear (nobody sleeps on a set word, so nobody is left
 * with SLEEPERS down). */
mp_status mp_event_clear(mp_event *e)
{
    if (!e)
        return mp__err(MP_EINVAL, "event.clear: event is NULL");
    uint32_t w = atomic_load(&e->word);
    while ((w & EV_SET) && !atomic_compare_exchange_weak(&e->word, &w, (w | 3u) + 1u))
        ;
    return MP_OK;
}

mp_status mp_event_is_set(mp_event *e, bool *set)
{
    if (!e || !set)
        return mp__err(MP_EINVAL, "event.is_set: NULL argument");
    *set = atomic_load(&e->word) & EV_SET;
    return MP_OK;
}

/* This thread's memory of its previous Event wait (it gates the spin). */
static _Thread_local mp__spinner ev_spinner;

struct ev_try {
    mp_event *e;
    uint32_t seen;
};

/* A try of mp_event_wait's spin: the word moved on from the clear word seen. */
static bool ev_changed(void *arg)
{
    struct ev_try *t = arg;
    return (atomic_load_explicit(&t->e->word, memory_order_acquire) & ~(uint32_t)EV_SLEEPERS) !=
           t->seen;
}

/* Contract: MP_OK once the word differs from the clear word first seen (a
 * set happened, even if cleared again since), MP_TIMEOUT at the deadline if
 * it never did.  Sleeps with SLEEPERS raised (see above). */
mp_status mp_event_wait(mp_event *e, double timeout)
{
    if (!e)
        return mp__err(MP_EINVAL, "event.wait: event is NULL");
    if (isnan(timeout))
        return mp__err(MP_EINVAL, "event.wait: timeout is NaN");
    uint32_t w = atomic_load(&e->word);
    if (w & EV_SET)
        return MP_OK;
    if (!(timeout > 0))
        return mp__err(MP_TIMEOUT, "event.wait: not set (timeout %g)", timeout);
    /* Spin first (mp__wait_tunings.event), SLEEPERS not yet raised, so a set
     * that lands within the window costs neither side a system call. */
    struct ev_try t = {e, w & ~(uint32_t)EV_SLEEPERS};
    ev_spinner.off = !mp__cpus_many(); /* on one CPU the poller holds the setter's */
    if (mp__spin_until(&ev_spinner, &mp__wait_tunings.event, ev_changed, &t))
        return MP_OK;
    mp__deadline d;
    mp__deadline_init(&d, timeout);
    mp_status r = MP_OK;
    for (;;) {
        w = atomic_load(&e->word);
        if ((w & ~(uint32_t)EV_SLEEPERS) != t.seen)
            break;
        if (!(w & EV_SLEEPERS) && !atomic_compare_exchange_weak(&e->word, &w, w | EV_SLEEPERS))
            continue;
        if (mp__futex_wait(&e->word, t.seen | EV_SLEEPERS, &d) == MP_TIMEOUT &&
            (atomic_load(&e->word) & ~(uint32_t)EV_SLEEPERS) == t.seen) {
            r = mp__err(MP_TIMEOUT, "event.wait: not set after %.3f s", timeout);
            break;
        }
    }
    mp__spin_slept(&ev_spinner);
    return r;
}

void mp_event_free(mp_event *e) { mp__shm_free(e, sizeof *e); }
