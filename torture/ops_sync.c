/* ops_sync.c -- torture scenarios of Lock, RLock, Semaphore, Condition,
 * Event and Barrier (torture/README.md says what each asserts and why). */
#include "torture.h"

#include <stdio.h>

/* The objects of the current trial; set before the children are started,
 * so each child has them. */
static struct {
    mp_lock *l;
    bool rlock;
    mp_semaphore *sem;
    unsigned units;
    mp_condition *c;
    bool notify_all;
    mp_event *ev_v, *ev_p;
    mp_barrier *b;
} G;

#define VICTIM_ID 1
#define PEER_ID 2

static bool acquired(mp_status s) { return s == MP_OK || s == MP_EOWNERDEAD; }

/* Enter the critical section as `me`: whoever was inside must have left,
 * unless the lock was just taken over from a dead owner. */
static void cs_enter(int me, mp_status how)
{
    int prev = atomic_exchange(&S->cs_owner, me);
    if (prev != 0 && how != MP_EOWNERDEAD)
        child_fail("two holders at once: %d entered while %d was inside (acquire said %s)", me,
                   prev, mp_status_name(how));
}

static void cs_leave(void) { atomic_store(&S->cs_owner, 0); }

/* The number of MP_EOWNERDEAD a death in phase ph allows: exactly one when the
 * victim held the lock, none when it held nothing, either inside a call. */
static void check_ownerdead(trial *t, const char *what)
{
    int n = atomic_load(&S->ownerdead);
    if (!t->killed)
        return;
    if (t->death_phase == PH_HELD && n != 1)
        fail(t, "%s: the holder died holding it, survivors saw MP_EOWNERDEAD %d times (want 1)",
             what, n);
    else if (t->death_phase == PH_IDLE && n != 0)
        fail(t, "%s: the victim died holding nothing, yet MP_EOWNERDEAD was returned %d times",
             what, n);
    else if (n > 1)
        fail(t, "%s: MP_EOWNERDEAD returned %d times for one death", what, n);
}

/* ----------------------------------------------------------- Lock, RLock */
/* Victim: acquire (an RLock twice), critical section, release, forever. */
static int lock_victim(void *arg)
{
    trial *t = arg;
    for (long i = 0; i < 10000000; i++) {
        victim_tick(t, i);
        set_phase(PH_CALL);
        mp_status s = mp_lock_acquire(G.l, BOUND);
        if (!acquired(s)) {
            child_fail("victim: acquire: %s", mp_status_name(s));
            return 1;
        }
        set_phase(PH_HELD);
        if (G.rlock && (s = mp_lock_acquire(G.l, BOUND)) != MP_OK) {
            child_fail("victim: re-entrant acquire: %s", mp_status_name(s));
            return 1;
        }
        cs_enter(VICTIM_ID, s);
        cs_leave();
        if (G.rlock && (s = mp_lock_release(G.l)) != MP_OK) {
            child_fail("victim: inner release: %s", mp_status_name(s));
            return 1;
        }
        set_phase(PH_CALL);
        if ((s = mp_lock_release(G.l)) != MP_OK) {
            child_fail("victim: release: %s", mp_status_name(s));
            return 1;
        }
        set_phase(PH_IDLE);
        atomic_fetch_add(&S->v_ops, 1);
    }
    return 0;
}

/* Peer: the same until told to stop; an acquire that times out means the
 * lock stays held by the dead. */
static int lock_peer(void *arg)
{
    (void)arg;
    while (!atomic_load(&S->stop)) {
        double t0 = now();
        mp_status s = TIMED("survivor's acquire", mp_lock_acquire(G.l, BOUND));
        if (s == MP_TIMEOUT) {
            child_fail("survivor: acquire timed out after %.1f s (victim died %s): the lock "
                       "stays held",
                       now() - t0, phase_name(atomic_load(&S->phase)));
            return 1;
        }
        if (!acquired(s)) {
            child_fail("survivor: acquire: %s", mp_status_name(s));
            return 1;
        }
        if (s == MP_EOWNERDEAD)
            atomic_fetch_add(&S->ownerdead, 1);
        cs_enter(PEER_ID, s);
        cs_leave();
        if ((s = mp_lock_release(G.l)) != MP_OK) {
            child_fail("survivor: release: %s", mp_status_name(s));
            return 1;
        }
        atomic_fetch_add(&S->peer_ops[0], 1);
    }
    return 0;
}

static void lock_trial(trial *t, bool rlock)
{
    G.rlock = rlock;
    mp_status s = rlock ? mp_rlock_new(&G.l) : mp_lock_new(&G.l);
    if (s != MP_OK) {
        fail(t, "lock_new: %s", mp_status_name(s));
        t->fatal = true;
        return;
    }
    mp_process *peer, *victim;
    if (spawn(t, &peer, lock_peer, t)) {
        if (spawn(t, &victim, lock_victim, t))
            kill_victim(t, victim);
        long base = atomic_load(&S->peer_ops[0]);
        if (!wait_peer_ops(0, base + 3) && !atomic_load(&S->child_fail))
            fail(t, "the survivor made no progress within %.0f s after the victim died %s", BOUND,
                 phase_name(t->death_phase));
        atomic_store(&S->stop, 1);
        finish(t, peer, "the survivor");
    }
    collect_child_failures(t);
    check_ownerdead(t, rlock ? "RLock" : "Lock");
    /* Both gone: the lock must be free now (not asked again after a failure,
     * which costs the bound once already). */
    if (t->failures)
        ;
    else if ((s = mp_lock_acquire(G.l, BOUND)) != MP_OK)
        fail(t, "after both processes ended, acquire is %s (want MP_OK)", mp_status_name(s));
    else if ((s = mp_lock_release(G.l)) != MP_OK)
        fail(t, "release: %s", mp_status_name(s));
    mp_lock_free(G.l);
}

void sc_lock(trial *t, void **ctx)
{
    (void)ctx;
    lock_trial(t, false);
}

void sc_rlock(trial *t, void **ctx)
{
    (void)ctx;
    lock_trial(t, true);
}

/* ------------------------------------------------------------- Semaphore */
/* Victim and two peers share `units` units; the victim's unit is lost when it
 * dies holding one, kept when it dies holding none. */
static int sem_role(void *arg)
{
    trial *t = arg;
    bool victim = t != NULL;
    int me = victim ? -1 : atomic_fetch_add(&S->turn, 1);
    for (long i = 0; victim ? i < 10000000 : !atomic_load(&S->stop); i++) {
        if (victim) {
            victim_tick(t, i);
            set_phase(PH_CALL);
        }
        mp_status s = victim ? mp_semaphore_acquire(G.sem, BOUND)
                             : TIMED("survivor's acquire", mp_semaphore_acquire(G.sem, BOUND));
        if (s != MP_OK) {
            child_fail("%s: acquire: %s", victim ? "victim" : "survivor", mp_status_name(s));
            return 1;
        }
        if (victim)
            set_phase(PH_HELD);
        long inuse = atomic_fetch_add(&S->counter, 1) + 1;
        if (inuse > (long)G.units)
            child_fail("%ld holders of a Semaphore(%u)", inuse, G.units);
        if (victim)
            set_phase(PH_CALL); /* counter and unit are given back in this phase */
        atomic_fetch_sub(&S->counter, 1);
        if ((s = mp_semaphore_release(G.sem)) != MP_OK) {
            child_fail("%s: release: %s", victim ? "victim" : "survivor", mp_status_name(s));
            return 1;
        }
        if (victim)
            set_phase(PH_IDLE);
        else
            atomic_fetch_add(&S->peer_ops[me], 1);
    }
    return 0;
}

void sc_semaphore(trial *t, void **ctx)
{
    (void)ctx;
    bool bounded = rnd(t) & 1;
    G.units = 2;
    mp_status s = bounded ? mp_bounded_semaphore_new(&G.sem, G.units)
                          : mp_semaphore_new(&G.sem, G.units);
    if (s != MP_OK) {
        fail(t, "semaphore_new: %s", mp_status_name(s));
        t->fatal = true;
        return;
    }
    mp_process *p1 = NULL, *p2 = NULL, *victim;
    if (spawn(t, &p1, sem_role, NULL) && spawn(t, &p2, sem_role, NULL)) {
        if (spawn(t, &victim, sem_role, t))
            kill_victim(t, victim);
        long b0 = atomic_load(&S->peer_ops[0]), b1 = atomic_load(&S->peer_ops[1]);
        if (!(wait_peer_ops(0, b0 + 3) && wait_peer_ops(1, b1 + 3)) && !atomic_load(&S->child_fail))
            fail(t, "a survivor made no progress within %.0f s after the victim died %s", BOUND,
                 phase_name(t->death_phase));
    }
    atomic_store(&S->stop, 1);
    finish(t, p1, "survivor 1");
    finish(t, p2, "survivor 2");
    collect_child_failures(t);
    /* Everyone alive is gone: value is units, less the dead victim's unit
     * if it held one [SEM-KILLED-HOLDER] [SEM-KILLED-WAITER]. */
    unsigned v = 0;
    if ((s = mp_semaphore_value(G.sem, &v)) != MP_OK)
        fail(t, "value: %s", mp_status_name(s));
    else if (t->killed) {
        unsigned lo = t->death_phase == PH_IDLE ? G.units : G.units - 1;
        unsigned hi = t->death_phase == PH_HELD ? G.units - 1 : G.units;
        if (v < lo || v > hi)
            fail(t, "%sSemaphore(%u) value %u after a victim died %s (want %u..%u)",
                 bounded ? "Bounded" : "", G.units, v, phase_name(t->death_phase), lo, hi);
        /* Give the lost unit back, as a survivor would [BSEM-KILLED-HOLDER-RELEASE]. */
        for (; v < G.units; v++)
            if ((s = mp_semaphore_release(G.sem)) != MP_OK)
                fail(t, "releasing the dead holder's unit: %s", mp_status_name(s));
        for (unsigned k = 0; k < G.units; k++)
            if ((s = mp_semaphore_acquire(G.sem, MP_NOWAIT)) != MP_OK)
                fail(t, "acquire of unit %u of %u: %s", k + 1, G.units, mp_status_name(s));
        if ((s = mp_semaphore_acquire(G.sem, MP_NOWAIT)) != MP_TIMEOUT)
            fail(t, "a unit more than Semaphore(%u) holds: %s", G.units, mp_status_name(s));
    }
    mp_semaphore_free(G.sem);
}

/* ------------------------------------------------------------- Condition */
/* The lock was taken over from a dead holder: that holder is out of the
 * critical section now, so its marker goes (the taker may not enter it yet:
 * it waits for its turn, and the peer, woken, may enter first). */
static void ownerdead_taken(long *got_ownerdead)
{
    ++*got_ownerdead;
    cs_leave();
}

/* A ping-pong: side `me` waits for S->turn == me, passes the turn and
 * notifies.  The victim is side 0; after its death the runner plays side 0. */
static bool pingpong_round(int me, bool victim, long *got_ownerdead)
{
    if (victim)
        set_phase(PH_CALL);
    mp_status s = victim ? mp_condition_acquire(G.c, BOUND)
                         : TIMED("acquire", mp_condition_acquire(G.c, BOUND));
    if (!acquired(s)) {
        child_fail("side %d: acquire: %s", me, mp_status_name(s));
        return false;
    }
    if (victim)
        set_phase(PH_HELD);
    if (s == MP_EOWNERDEAD)
        ownerdead_taken(got_ownerdead);
    double end = now() + BOUND;
    while (atomic_load(&S->turn) != me && !atomic_load(&S->stop)) {
        double left = end - now();
        if (left <= 0) {
            child_fail("side %d: no notify within %.0f s", me, BOUND);
            return false;
        }
        if (victim)
            set_phase(PH_CALL);
        s = victim ? mp_condition_wait(G.c, left) : TIMED("wait", mp_condition_wait(G.c, left));
        if (victim)
            set_phase(PH_HELD);
        if (s == MP_EOWNERDEAD)
            ownerdead_taken(got_ownerdead);
        else if (s != MP_OK && s != MP_TIMEOUT) {
            child_fail("side %d: wait: %s", me, mp_status_name(s));
            return false;
        }
    }
    cs_enter(me + 1, *got_ownerdead ? MP_EOWNERDEAD : MP_OK);
    atomic_store(&S->turn, !me);
    cs_leave();
    s = G.notify_all ? mp_condition_notify_all(G.c) : mp_condition_notify(G.c, 1);
    if (s != MP_OK) {
        child_fail("side %d: notify: %s", me, mp_status_name(s));
        return false;
    }
    if (victim)
        set_phase(PH_CALL);
    if ((s = mp_condition_release(G.c)) != MP_OK) {
        child_fail("side %d: release: %s", me, mp_status_name(s));
        return false;
    }
    if (victim)
        set_phase(PH_IDLE);
    return true;
}

static int cond_victim(void *arg)
{
    trial *t = arg;
    long od = 0;
    for (long i = 0; i < 10000000; i++) {
        victim_tick(t, i);
        if (!pingpong_round(0, true, &od))
            return 1;
    }
    return 0;
}

static int cond_peer(void *arg)
{
    (void)arg;
    while (!atomic_load(&S->stop)) {
        long od = 0;
        if (!pingpong_round(1, false, &od))
            return 1;
        atomic_fetch_add(&S->ownerdead, (int)od);
        atomic_fetch_add(&S->peer_ops[0], 1);
    }
    return 0;
}

void sc_condition(trial *t, void **ctx)
{
    (void)ctx;
    G.l = NULL;
    G.notify_all = rnd(t) & 1;
    bool own_lock = rnd(t) & 1; /* a Lock of ours, or the Condition's own RLock */
    mp_status s = own_lock ? mp_lock_new(&G.l) : MP_OK;
    if (s == MP_OK)
        s = mp_condition_new(&G.c, G.l);
    if (s != MP_OK) {
        fail(t, "condition_new: %s", mp_status_name(s));
        t->fatal = true;
        return;
    }
    mp_process *peer, *victim;
    if (spawn(t, &peer, cond_peer, NULL)) {
        if (spawn(t, &victim, cond_victim, t))
            kill_victim(t, victim);
        trace("condition: runner plays the victim's side");
        /* Play the dead side for three rounds. */
        long od = 0;
        for (int k = 0; k < 3 && !atomic_load(&S->child_fail); k++)
            if (!pingpong_round(0, false, &od))
                break;
        atomic_fetch_add(&S->ownerdead, (int)od);
        trace("condition: runner's rounds done");
        atomic_store(&S->stop, 1);
        if ((s = mp_condition_acquire(G.c, BOUND)) == MP_OK || s == MP_EOWNERDEAD) {
            mp_condition_notify_all(G.c);
            mp_condition_release(G.c);
        } else {
            fail(t, "acquire to stop the survivor: %s", mp_status_name(s));
        }
        finish(t, peer, "the survivor");
    }
    collect_child_failures(t);
    check_ownerdead(t, "Condition's lock");
    mp_condition_free(G.c);
    mp_lock_free(G.l);
}

/* ----------------------------------------------------------------- Event */
/* Two events pass a token: the victim waits for ev_v, clears it, sets ev_p;
 * the survivor the other way round.  After the victim's death the runner
 * sets ev_p (the token may have died with it) and plays the victim's side. */
static int event_victim(void *arg)
{
    trial *t = arg;
    for (long i = 0; i < 10000000; i++) {
        victim_tick(t, i);
        set_phase(PH_CALL);
        mp_status s = mp_event_wait(G.ev_v, BOUND);
        if (s == MP_OK)
            s = mp_event_clear(G.ev_v);
        if (s == MP_OK)
            s = mp_event_set(G.ev_p);
        if (s != MP_OK) {
            child_fail("victim: %s", mp_status_name(s));
            return 1;
        }
        set_phase(PH_IDLE);
    }
    return 0;
}

static int event_peer(void *arg)
{
    (void)arg;
    while (!atomic_load(&S->stop)) {
        mp_status s = TIMED("survivor's wait", mp_event_wait(G.ev_p, BOUND));
        if (atomic_load(&S->stop))
            return 0;
        if (s == MP_OK)
            s = mp_event_clear(G.ev_p);
        if (s == MP_OK)
            s = mp_event_set(G.ev_v);
        if (s != MP_OK) {
            child_fail("survivor: %s%s", mp_status_name(s),
                       s == MP_TIMEOUT ? ": no set within the bound" : "");
            return 1;
        }
        atomic_fetch_add(&S->peer_ops[0], 1);
    }
    return 0;
}

void sc_event(trial *t, void **ctx)
{
    (void)ctx;
    mp_status s = mp_event_new(&G.ev_v);
    if (s == MP_OK && (s = mp_event_new(&G.ev_p)) != MP_OK)
        mp_event_free(G.ev_v);
    if (s != MP_OK) {
        fail(t, "event_new: %s", mp_status_name(s));
        t->fatal = true;
        return;
    }
    mp_event_set(G.ev_v);
    mp_process *peer, *victim;
    if (spawn(t, &peer, event_peer, NULL)) {
        if (spawn(t, &victim, event_victim, t))
            kill_victim(t, victim);
        if ((s = mp_event_set(G.ev_p)) != MP_OK)
            fail(t, "set: %s", mp_status_name(s));
        trace("event: runner plays the victim's side");
        for (int k = 0; k < 3 && !t->failures; k++) {
            s = TIMED("runner's wait", mp_event_wait(G.ev_v, BOUND));
            if (s != MP_OK) {
                fail(t, "wait for the survivor's set: %s (victim died %s)", mp_status_name(s),
                     phase_name(t->death_phase));
                break;
            }
            bool set = false;
            if (mp_event_is_set(G.ev_v, &set) != MP_OK || !set)
                fail(t, "is_set after a successful wait is not true");
            mp_event_clear(G.ev_v);
            mp_event_set(G.ev_p);
        }
        trace("event: runner's rounds done");
        atomic_store(&S->stop, 1);
        mp_event_set(G.ev_p);
        finish(t, peer, "the survivor");
    }
    collect_child_failures(t);
    mp_event_free(G.ev_v);
    mp_event_free(G.ev_p);
}

/* --------------------------------------------------------------- Barrier */
/* Barrier(3): the victim and two survivors wait in a loop.  A survivor that
 * sees MP_EBROKEN parks until the runner has reset the barrier.  After the
 * victim's death the runner is the third party: it resets a broken barrier
 * and then must pass three generations with the survivors. */
static int bar_action(void *arg)
{
    (void)arg;
    atomic_fetch_add(&S->counter, 1);
    return 0;
}

static int bar_victim(void *arg)
{
    trial *t = arg;
    for (long i = 0; i < 10000000; i++) {
        victim_tick(t, i);
        set_phase(PH_CALL);
        mp_status s = mp_barrier_wait(G.b, BOUND, NULL);
        if (s != MP_OK) {
            child_fail("victim: wait: %s with every party alive", mp_status_name(s));
            return 1;
        }
        set_phase(PH_IDLE);
    }
    return 0;
}

static int bar_peer(void *arg)
{
    int me = (int)(long)arg;
    while (!atomic_load(&S->stop)) {
        double t0 = now();
        mp_status s = mp_barrier_wait(G.b, BOUND, NULL);
        if (!atomic_load(&S->stop))
            late_check("survivor's wait", t0, s);
        if (atomic_load(&S->stop))
            return 0;
        if (s == MP_OK) {
            atomic_fetch_add(&S->peer_ops[me], 1);
            continue;
        }
        if (s != MP_EBROKEN) {
            child_fail("survivor %d: wait: %s", me, mp_status_name(s));
            return 1;
        }
        if (now() - t0 > BOUND * 0.9) {
            child_fail("survivor %d: wait broke only by its own timeout (%.1f s)", me, now() - t0);
            return 1;
        }
        int e = atomic_load(&S->epoch);
        atomic_store(&S->parked[me], e + 1);
        double end = now() + 3 * BOUND;
        while (atomic_load(&S->epoch) == e && !atomic_load(&S->stop) && now() < end)
            pause_for(100e-6);
    }
    return 0;
}

struct parked_at {
    int epoch;
};

static bool both_parked(void *arg)
{
    struct parked_at *p = arg;
    return atomic_load(&S->parked[0]) == p->epoch + 1 && atomic_load(&S->parked[1]) == p->epoch + 1;
}

void sc_barrier(trial *t, void **ctx)
{
    (void)ctx;
    mp_status s = mp_barrier_new(&G.b, 3, bar_action, NULL, BOUND);
    if (s != MP_OK) {
        fail(t, "barrier_new: %s", mp_status_name(s));
        t->fatal = true;
        return;
    }
    mp_process *p1 = NULL, *p2 = NULL, *victim;
    if (spawn(t, &p1, bar_peer, (void *)0L) && spawn(t, &p2, bar_peer, (void *)1L)) {
        if (spawn(t, &victim, bar_victim, t))
            kill_victim(t, victim);
        long actions0 = atomic_load(&S->counter);
        int passed = 0, resets = 0;
        double end = now() + 3 * BOUND;
        while (passed < 3 && now() < end && !atomic_load(&S->child_fail)) {
            double t0 = now();
            s = TIMED("runner's wait", mp_barrier_wait(G.b, BOUND, NULL));
            if (s == MP_OK) {
                passed++;
                continue;
            }
            if (s != MP_EBROKEN || now() - t0 > BOUND * 0.9 || resets > 1) {
                fail(t, "runner's wait: %s after %.1f s (%d resets; victim died %s)",
                     mp_status_name(s), now() - t0, resets, phase_name(t->death_phase));
                break;
            }
            struct parked_at pa = {atomic_load(&S->epoch)};
            if (!wait_until(both_parked, &pa, BOUND)) {
                fail(t, "the survivors did not see MP_EBROKEN within %.0f s", BOUND);
                break;
            }
            if ((s = mp_barrier_reset(G.b)) != MP_OK) {
                fail(t, "reset: %s", mp_status_name(s));
                break;
            }
            resets++;
            atomic_fetch_add(&S->epoch, 1);
        }
        if (passed == 3 && atomic_load(&S->counter) - actions0 != 3)
            fail(t, "3 generations passed but the action ran %ld times",
                 atomic_load(&S->counter) - actions0);
        else if (passed < 3 && !t->failures && !atomic_load(&S->child_fail))
            fail(t, "only %d of 3 generations passed after the victim died", passed);
    }
    atomic_store(&S->stop, 1);
    mp_barrier_abort(G.b);
    finish(t, p1, "survivor 1");
    finish(t, p2, "survivor 2");
    collect_child_failures(t);
    mp_barrier_free(G.b);
}
