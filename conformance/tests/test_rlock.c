/* RLock: re-entrancy, ownership by thread, timeouts, processes, owner death.
 * Children report through their exit code; ordering uses Events. */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "mpt.h"

static mp_lock *new_rlock(void)
{
    mp_lock *l = NULL;
    MP_ASSERT_OK(mp_rlock_new(&l));
    cr_assert(l != NULL);
    return l;
}

MPT_TEST(
    rlock, RLOCK_REENTRANT,
    "RLOCK-REENTRANT: the owner acquires again without blocking; it is free after as many releases")
{
    mp_lock *l = new_rlock();
    for (int i = 0; i < 3; i++)
        MPT_ASSERT_PROMPT(mp_lock_acquire(l, i == 1 ? MP_NOWAIT : MP_FOREVER), MP_OK);
    for (int i = 0; i < 3; i++) {
        cr_assert(mpt_locked(l), "free after %d of 3 releases", i);
        MP_ASSERT_OK(mp_lock_release(l));
    }
    cr_assert(!mpt_locked(l));
    MP_ASSERT_STATUS(mp_lock_release(l), MP_ENOTOWNER);
    mp_lock_free(l);
}

MPT_TEST(rlock, RLOCK_RELEASE_UNOWNED,
         "RLOCK-RELEASE-UNOWNED: release of an RLock nobody holds is MP_ENOTOWNER")
{
    mp_lock *l = new_rlock();
    MP_ASSERT_STATUS(mp_lock_release(l), MP_ENOTOWNER);
    cr_assert(!mpt_locked(l));
    mp_lock_free(l);
}

struct other {
    mp_lock *l;
    mp_status release, try0, timed;
    double waited;
};

static void *other_thread(void *arg)
{
    struct other *o = arg;
    o->release = mp_lock_release(o->l);
    o->try0 = mp_lock_acquire(o->l, MP_NOWAIT);
    double t0 = mpt_now();
    o->timed = mp_lock_acquire(o->l, 0.15);
    o->waited = mpt_now() - t0;
    return NULL;
}

MPT_TEST(rlock, RLOCK_OTHER_THREAD,
         "RLOCK-OTHER-THREAD: another thread's release is MP_ENOTOWNER and its acquire(0) / "
         "acquire(t) time out (never early)")
{
    struct other o = {.l = new_rlock()};
    MP_ASSERT_OK(mp_lock_acquire(o.l, MP_FOREVER));
    MP_ASSERT_OK(mp_lock_acquire(o.l, MP_FOREVER));
    pthread_t t;
    cr_assert(pthread_create(&t, NULL, other_thread, &o) == 0);
    pthread_join(t, NULL);
    MP_ASSERT_STATUS(o.release, MP_ENOTOWNER);
    MP_ASSERT_STATUS(o.try0, MP_TIMEOUT);
    MP_ASSERT_STATUS(o.timed, MP_TIMEOUT);
    cr_assert(o.waited >= 0.15 && o.waited < 0.15 + mpt_slack(2.0), "waited %.3f s", o.waited);
    /* the owner's depth is untouched by the failed release */
    MP_ASSERT_OK(mp_lock_release(o.l));
    cr_assert(mpt_locked(o.l));
    MP_ASSERT_OK(mp_lock_release(o.l));
    cr_assert(!mpt_locked(o.l));
    mp_lock_free(o.l);
}

struct handoff {
    mp_lock *l;
    mp_event *started;
    mp_status got;
    int depth_ok;
};

static void *blocked_thread(void *arg)
{
    struct handoff *h = arg;
    mp_event_set(h->started);
    h->got = mp_lock_acquire(h->l, 10.0);
    /* re-entrant for the new owner too, and released by it */
    h->depth_ok = mp_lock_acquire(h->l, MP_NOWAIT) == MP_OK && mp_lock_release(h->l) == MP_OK &&
                  mp_lock_release(h->l) == MP_OK;
    return NULL;
}

MPT_TEST(rlock, RLOCK_HANDOFF,
         "RLOCK-HANDOFF: a thread blocked on an RLock gets it once the owner releases every level")
{
    struct handoff h = {.l = new_rlock(), .got = MP_ENOTSUP};
    MP_ASSERT_OK(mp_event_new(&h.started));
    MP_ASSERT_OK(mp_lock_acquire(h.l, MP_FOREVER));
    MP_ASSERT_OK(mp_lock_acquire(h.l, MP_FOREVER));
    pthread_t t;
    cr_assert(pthread_create(&t, NULL, blocked_thread, &h) == 0);
    MP_ASSERT_OK(mp_event_wait(h.started, 5.0));
    MP_ASSERT_OK(mp_lock_release(h.l));
    MP_ASSERT_OK(mp_lock_release(h.l));
    pthread_join(t, NULL);
    MP_ASSERT_STATUS(h.got, MP_OK);
    cr_assert(h.depth_ok);
    cr_assert(!mpt_locked(h.l));
    mp_event_free(h.started);
    mp_lock_free(h.l);
}

static int child_misuse(void *arg)
{
    mp_lock *l = arg;
    if (mp_lock_release(l) != MP_ENOTOWNER)
        return 1;
    if (mp_lock_acquire(l, MP_NOWAIT) != MP_TIMEOUT)
        return 2;
    return 0;
}

MPT_TEST(rlock, RLOCK_OTHER_PROCESS,
         "RLOCK-OTHER-PROCESS: in a child, an RLock held by the parent cannot be released "
         "(MP_ENOTOWNER) nor acquired (MP_TIMEOUT)")
{
    mp_lock *l = new_rlock();
    MP_ASSERT_OK(mp_lock_acquire(l, MP_FOREVER));
    cr_assert_eq(mpt_join(mpt_start(child_misuse, l)), 0);
    cr_assert(mpt_locked(l));
    MP_ASSERT_OK(mp_lock_release(l));
    mp_lock_free(l);
}

static int child_owns(void *arg)
{
    /* The child's thread is a different owner from the parent's, although
     * fork copied the parent's memory: it takes and releases on its own. */
    mp_lock *l = arg;
    if (mp_lock_acquire(l, MP_NOWAIT) != MP_OK || mp_lock_acquire(l, MP_NOWAIT) != MP_OK)
        return 1;
    if (mp_lock_release(l) != MP_OK || mp_lock_release(l) != MP_OK)
        return 2;
    return mp_lock_release(l) == MP_ENOTOWNER ? 0 : 3;
}

MPT_TEST(rlock, RLOCK_CHILD_OWNER,
         "RLOCK-CHILD-OWNER: a child acquires a free RLock re-entrantly and releases it; the "
         "parent then finds it free")
{
    mp_lock *l = new_rlock();
    MP_ASSERT_OK(mp_lock_acquire(l, MP_FOREVER));
    MP_ASSERT_OK(mp_lock_release(l));
    cr_assert_eq(mpt_join(mpt_start(child_owns, l)), 0);
    cr_assert(!mpt_locked(l));
    MP_ASSERT_STATUS(mp_lock_release(l), MP_ENOTOWNER);
    mp_lock_free(l);
}

struct holder {
    mp_lock *l;
    mp_event *held;
};

static int child_hold(void *arg)
{
    struct holder *h = arg;
    if (mp_lock_acquire(h->l, MP_FOREVER) != MP_OK || mp_lock_acquire(h->l, MP_FOREVER) != MP_OK)
        return 1;
    mp_event_set(h->held);
    for (;;)
        pause();
}

MPT_TEST(rlock, RLOCK_OWNER_DEAD,
         "RLOCK-OWNER-DEAD: an RLock whose owner was killed at depth 2 is taken over with "
         "MP_EOWNERDEAD at depth 1")
{
    struct holder h = {.l = new_rlock()};
    MP_ASSERT_OK(mp_event_new(&h.held));
    mp_process *p = mpt_start(child_hold, &h);
    MP_ASSERT_OK(mp_event_wait(h.held, 10.0));
    MP_ASSERT_OK(mp_process_kill(p));
    cr_assert_eq(mpt_join(p), -9);
    double t0 = mpt_now();
    MP_ASSERT_STATUS(mp_lock_acquire(h.l, 30.0), MP_EOWNERDEAD);
    cr_assert(mpt_now() - t0 < mpt_slack(3.0), "took %.3f s to notice", mpt_now() - t0);
    MP_ASSERT_OK(mp_lock_release(h.l));
    cr_assert(!mpt_locked(h.l));
    mp_event_free(h.held);
    mp_lock_free(h.l);
}

/* RLOCK-OWNER-KILLED-ANYTIME: as LOCK-OWNER-KILLED-ANYTIME, for an owner
 * that churns between depth 0, 1 and 2 and is killed at a random instant
 * (also between taking the RLock and recording itself, or half-way through
 * a depth change): a waiter's bounded acquire gets it with MP_OK or
 * MP_EOWNERDEAD, at depth 1 either way (one release frees it). */
#define KILL_ROUNDS 80

static int child_churn(void *arg)
{
    mp_lock *l = arg;
    for (;;) {
        if (mp_lock_acquire(l, MP_FOREVER) != MP_OK || mp_lock_acquire(l, MP_FOREVER) != MP_OK)
            return 1;
        if (mp_lock_release(l) != MP_OK || mp_lock_release(l) != MP_OK)
            return 2;
    }
}

MPT_TEST(
    rlock, RLOCK_OWNER_KILLED_ANYTIME,
    "RLOCK-OWNER-KILLED-ANYTIME: an owner killed at any instant of acquire/release (depth 1 or 2) "
    "never leaves the RLock held for good: a waiter owns it at depth 1 with MP_OK or MP_EOWNERDEAD")
{
    mp_lock *l = new_rlock();
    int dead = 0;
    for (int r = 0; r < KILL_ROUNDS; r++) {
        cr_assert_eq(mpt_kill_at_random(child_churn, l, (unsigned)r), -9, "round %d", r);
        double t0 = mpt_now();
        mp_status s = mp_lock_acquire(l, mpt_slack(3.0));
        cr_assert(s == MP_OK || s == MP_EOWNERDEAD,
                  "round %d: acquire after the owner's death: %s (%s) after %.3f s", r,
                  mp_status_name(s), mp_errmsg(), mpt_now() - t0);
        dead += s == MP_EOWNERDEAD;
        MP_ASSERT_OK(mp_lock_acquire(l, MP_NOWAIT)); /* re-entrant: ours */
        MP_ASSERT_OK(mp_lock_release(l));
        cr_assert(mpt_locked(l), "round %d: depth below 1 after the takeover", r);
        MP_ASSERT_OK(mp_lock_release(l));
        cr_assert(!mpt_locked(l), "round %d: depth above 1 after the takeover", r);
        MP_ASSERT_STATUS(mp_lock_release(l), MP_ENOTOWNER);
    }
    cr_log_info("%d rounds, %d taken over from a dead owner", KILL_ROUNDS, dead);
    mp_lock_free(l);
}

MPT_TEST(rlock, RLOCK_NAN_TIMEOUT,
         "RLOCK-NAN-TIMEOUT: acquire with a NaN timeout is MP_EINVAL, also for the owner, and the "
         "depth is unchanged")
{
    mp_lock *l = new_rlock();
    MP_ASSERT_STATUS(mp_lock_acquire(l, NAN), MP_EINVAL);
    cr_assert(!mpt_locked(l));
    MP_ASSERT_OK(mp_lock_acquire(l, MP_FOREVER));
    MP_ASSERT_STATUS(mp_lock_acquire(l, NAN), MP_EINVAL);
    MP_ASSERT_OK(mp_lock_release(l));
    cr_assert(!mpt_locked(l));
    mp_lock_free(l);
}
