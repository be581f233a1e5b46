/* Manager typeids beyond dict/list/Namespace/Value/Lock/Event/Queue: RLock,
 * Semaphore, BoundedSemaphore, Condition, Barrier, JoinableQueue, Array
 * (CPython's SyncManager registrations, TestSyncManagerTypes).  Component
 * "manager", like test_manager.c. */
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mpt.h"

/* ------------------------------------------------------------ helpers */

static mp_manager *start(void)
{
    mp_manager *m = NULL;
    MP_ASSERT_OK(mp_manager_start(&m, NULL));
    cr_assert(m != NULL);
    return m;
}

/* The value v must have this repr; v is freed. */
static void expect(mp_value *v, const char *want)
{
    char *r = NULL;
    cr_assert(v != NULL);
    MP_ASSERT_OK(mp_value_repr(v, &r));
    cr_assert(strcmp(r, want) == 0, "got %s, want %s", r, want);
    free(r);
    mp_value_free(v);
}

/* Objects a child works on, and two events to pace it. */
struct arg {
    mp_proxy *obj, *ready, *go;
};

/* Start fn in a child, wait until it says it is ready. */
static mp_process *start_ready(mp_target_fn fn, struct arg *a)
{
    mp_process *p = mpt_start(fn, a);
    MP_ASSERT_OK(mp_mevent_wait(a->ready, 10));
    return p;
}

static void free_arg(struct arg *a)
{
    mp_proxy_free(a->obj);
    mp_proxy_free(a->ready);
    mp_proxy_free(a->go);
}

static void make_arg(mp_manager *m, struct arg *a)
{
    MP_ASSERT_OK(mp_manager_event(m, &a->ready));
    MP_ASSERT_OK(mp_manager_event(m, &a->go));
}

/* SIGKILL p (blocked in a manager call) and reap it. */
static void kill_reap(mp_process *p)
{
    MP_ASSERT_OK(mp_process_kill(p));
    MP_ASSERT_OK(mp_process_join(p, MP_FOREVER));
    int code = 0;
    MP_ASSERT_OK(mp_process_exitcode(p, &code));
    cr_assert_eq(code, -SIGKILL, "the child ended with %d, not killed in its call", code);
    mp_process_free(p);
}

/* ------------------------------------------------------------ RLock */

/* Acquire twice, say so, release once when told, then release again when
 * told a second time (go is cleared by the parent in between). */
static int hold_twice(void *arg)
{
    struct arg *a = arg;
    if (mp_mlock_acquire(a->obj, 0) || mp_mlock_acquire(a->obj, 0))
        return 1;
    if (mp_mevent_set(a->ready) || mp_mevent_wait(a->go, 30))
        return 2;
    if (mp_mlock_release(a->obj) || mp_mevent_clear(a->go) || mp_mevent_clear(a->ready) ||
        mp_mevent_set(a->ready))
        return 3;
    if (mp_mevent_wait(a->go, 30) || mp_mlock_release(a->obj))
        return 4;
    return 0;
}

MPT_TEST(manager, MGR_RLOCK_RECURSIVE,
         "MGR-RLOCK-RECURSIVE: a manager RLock's owner may acquire it again and must release it as "
         "often; others wait until the last release")
{
    mp_manager *m = start();
    struct arg a = {0};
    make_arg(m, &a);
    MP_ASSERT_OK(mp_manager_rlock(m, &a.obj));
    /* Ours, twice over. */
    MP_ASSERT_OK(mp_mlock_acquire(a.obj, 0));
    MP_ASSERT_OK(mp_mlock_acquire(a.obj, 0));
    MP_ASSERT_OK(mp_mlock_release(a.obj));
    MP_ASSERT_OK(mp_mlock_release(a.obj));
    /* A child's, twice: still held after its first release. */
    mp_process *p = start_ready(hold_twice, &a);
    MPT_ASSERT_PROMPT(mp_mlock_acquire(a.obj, 0), MP_TIMEOUT);
    MP_ASSERT_OK(mp_mevent_clear(a.ready));
    MP_ASSERT_OK(mp_mevent_set(a.go)); /* its first release */
    MP_ASSERT_OK(mp_mevent_wait(a.ready, 10));
    MPT_ASSERT_PROMPT(mp_mlock_acquire(a.obj, 0), MP_TIMEOUT);
    MP_ASSERT_OK(mp_mevent_set(a.go)); /* its last release */
    MP_ASSERT_OK(mp_mlock_acquire(a.obj, 10));
    cr_assert_eq(mpt_join(p), 0);
    MP_ASSERT_OK(mp_mlock_release(a.obj));
    free_arg(&a);
    mp_manager_free(m);
}

/* Release what the parent holds: must be refused. */
static int release_foreign(void *arg)
{
    struct arg *a = arg;
    return mp_mlock_release(a->obj) == MP_ENOTOWNER ? 0 : 1;
}

MPT_TEST(manager, MGR_RLOCK_RELEASE_NOT_OWNER,
         "MGR-RLOCK-RELEASE-NOT-OWNER: releasing a manager RLock held by another process, or not "
         "held, is MP_ENOTOWNER and changes nothing")
{
    mp_manager *m = start();
    struct arg a = {0};
    make_arg(m, &a);
    MP_ASSERT_OK(mp_manager_rlock(m, &a.obj));
    MP_ASSERT_STATUS(mp_mlock_release(a.obj), MP_ENOTOWNER);
    MP_ASSERT_OK(mp_mlock_acquire(a.obj, 0));
    cr_assert_eq(mpt_join(mpt_start(release_foreign, &a)), 0);
    MP_ASSERT_OK(mp_mlock_release(a.obj)); /* still ours: exactly one level */
    MP_ASSERT_STATUS(mp_mlock_release(a.obj), MP_ENOTOWNER);
    free_arg(&a);
    mp_manager_free(m);
}

/* Take the RLock twice, say so, then block until killed. */
static int rlock_killed_holding(void *arg)
{
    struct arg *a = arg;
    if (mp_mlock_acquire(a->obj, 0) || mp_mlock_acquire(a->obj, 0))
        return 1;
    if (mp_mevent_set(a->ready))
        return 2;
    mp_mevent_wait(a->go, MP_FOREVER); /* killed here */
    return 3;
}

MPT_TEST(manager, MGR_RLOCK_HOLDER_DISCONNECT,
         "MGR-RLOCK-HOLDER-DISCONNECT: a manager RLock whose owner was SIGKILLed holding it "
         "(twice) goes to the next acquirer with MP_EOWNERDEAD, held once")
{
    mp_manager *m = start();
    struct arg a = {0};
    make_arg(m, &a);
    MP_ASSERT_OK(mp_manager_rlock(m, &a.obj));
    mp_process *p = start_ready(rlock_killed_holding, &a);
    MPT_ASSERT_PROMPT(mp_mlock_acquire(a.obj, 0), MP_TIMEOUT);
    kill_reap(p);
    MPT_ASSERT_PROMPT(mp_mlock_acquire(a.obj, 5.0), MP_EOWNERDEAD);
    MP_ASSERT_OK(mp_mlock_acquire(a.obj, 0)); /* ours now: one level more */
    MP_ASSERT_OK(mp_mlock_release(a.obj));
    MP_ASSERT_OK(mp_mlock_release(a.obj));
    MP_ASSERT_STATUS(mp_mlock_release(a.obj), MP_ENOTOWNER); /* the dead one's levels are gone */
    free_arg(&a);
    mp_manager_free(m);
}

/* ------------------------------------------------------------ Semaphore */

/* Acquire (blocking) and report. */
static int sem_taker(void *arg)
{
    struct arg *a = arg;
    if (mp_mevent_set(a->ready))
        return 1;
    return mp_mlock_acquire(a->obj, 30) ? 2 : 0;
}

MPT_TEST(manager, MGR_SEMAPHORE_COUNT,
         "MGR-SEMAPHORE-COUNT: a manager Semaphore(2) lets two acquires through; the third waits "
         "for a release from another process, or times out")
{
    mp_manager *m = start();
    struct arg a = {0};
    make_arg(m, &a);
    MP_ASSERT_OK(mp_manager_semaphore(m, 2, &a.obj));
    MP_ASSERT_OK(mp_mlock_acquire(a.obj, 0));
    MP_ASSERT_OK(mp_mlock_acquire(a.obj, 0));
    MPT_ASSERT_PROMPT(mp_mlock_acquire(a.obj, 0), MP_TIMEOUT);
    MPT_ASSERT_TIMED(mp_mlock_acquire(a.obj, 0.2), MP_TIMEOUT, 0.2);
    mp_process *p = start_ready(sem_taker, &a);
    mpt_wait_asleep(mpt_pid(p));
    MP_ASSERT_OK(mp_mlock_release(a.obj)); /* goes to the child */
    cr_assert_eq(mpt_join(p), 0);
    MPT_ASSERT_PROMPT(mp_mlock_acquire(a.obj, 0), MP_TIMEOUT);
    MP_ASSERT_OK(mp_mlock_release(a.obj));
    MP_ASSERT_OK(mp_mlock_acquire(a.obj, 0));
    free_arg(&a);
    mp_manager_free(m);
}

MPT_TEST(manager, MGR_BSEM_OVER_RELEASE,
         "MGR-BSEM-OVER-RELEASE: releasing a manager BoundedSemaphore above its initial value is "
         "MP_ESTATE and changes nothing; a plain Semaphore goes above it")
{
    mp_manager *m = start();
    mp_proxy *b = NULL, *s = NULL;
    MP_ASSERT_OK(mp_manager_bounded_semaphore(m, 1, &b));
    MP_ASSERT_STATUS(mp_mlock_release(b), MP_ESTATE);
    MP_ASSERT_OK(mp_mlock_acquire(b, 0));
    MPT_ASSERT_PROMPT(mp_mlock_acquire(b, 0), MP_TIMEOUT); /* value still 0 */
    MP_ASSERT_OK(mp_mlock_release(b));
    MP_ASSERT_STATUS(mp_mlock_release(b), MP_ESTATE);
    MP_ASSERT_OK(mp_mlock_acquire(b, 0));
    MPT_ASSERT_PROMPT(mp_mlock_acquire(b, 0), MP_TIMEOUT); /* value was 1, not 2 */
    MP_ASSERT_OK(mp_manager_semaphore(m, 1, &s));
    MP_ASSERT_OK(mp_mlock_release(s)); /* 2 */
    MP_ASSERT_OK(mp_mlock_acquire(s, 0));
    MP_ASSERT_OK(mp_mlock_acquire(s, 0));
    MPT_ASSERT_PROMPT(mp_mlock_acquire(s, 0), MP_TIMEOUT);
    mp_proxy_free(b);
    mp_proxy_free(s);
    mp_manager_free(m);
}

/* ------------------------------------------------------------ Condition */

/* Take the Condition's lock, say so, wait for a notify; report holding the
 * lock afterwards (it was taken back) by releasing it. */
static int cond_waiter(void *arg)
{
    struct arg *a = arg;
    if (mp_mlock_acquire(a->obj, 10))
        return 1;
    if (mp_mevent_set(a->ready))
        return 2;
    mp_status st = mp_mcond_wait(a->obj, 30);
    if (st)
        return 10 + (int)st;
    return mp_mlock_release(a->obj) ? 3 : 0;
}

MPT_TEST(manager, MGR_CONDITION_NOTIFY,
         "MGR-CONDITION-NOTIFY: a manager Condition wait releases the lock, returns MP_OK on "
         "another process's notify, with the lock held again")
{
    mp_manager *m = start();
    struct arg a = {0};
    make_arg(m, &a);
    MP_ASSERT_OK(mp_manager_condition(m, &a.obj));
    mp_process *p = start_ready(cond_waiter, &a);
    /* Its wait released the lock: we can take it. */
    MP_ASSERT_OK(mp_mlock_acquire(a.obj, 10));
    MP_ASSERT_OK(mp_mcond_notify(a.obj, 1));
    MP_ASSERT_OK(mp_mlock_release(a.obj)); /* the waiter needs it back */
    cr_assert_eq(mpt_join(p), 0);
    MP_ASSERT_OK(mp_mlock_acquire(a.obj, 0)); /* it released it */
    MP_ASSERT_OK(mp_mlock_release(a.obj));
    free_arg(&a);
    mp_manager_free(m);
}

/* The lock is someone else's: acquire(0) must time out. */
static int cannot_take(void *arg)
{
    struct arg *a = arg;
    return mp_mlock_acquire(a->obj, 0) == MP_TIMEOUT ? 0 : 1;
}

MPT_TEST(manager, MGR_CONDITION_WAIT_TIMEOUT,
         "MGR-CONDITION-WAIT-TIMEOUT: a manager Condition wait without a notify is MP_TIMEOUT, "
         "never before the timeout, with the lock held again (recursion kept)")
{
    mp_manager *m = start();
    struct arg a = {0};
    make_arg(m, &a);
    MP_ASSERT_OK(mp_manager_condition(m, &a.obj));
    MP_ASSERT_OK(mp_mlock_acquire(a.obj, 0));
    MP_ASSERT_OK(mp_mlock_acquire(a.obj, 0));
    MPT_ASSERT_TIMED(mp_mcond_wait(a.obj, 0.3), MP_TIMEOUT, 0.3);
    MP_ASSERT_STATUS(mp_mcond_wait(a.obj, 0), MP_TIMEOUT);
    /* Held twice still: after one release, a child cannot take it. */
    MP_ASSERT_OK(mp_mlock_release(a.obj));
    cr_assert_eq(mpt_join(mpt_start(cannot_take, &a)), 0);
    MP_ASSERT_OK(mp_mlock_release(a.obj));
    MP_ASSERT_STATUS(mp_mlock_release(a.obj), MP_ENOTOWNER);
    free_arg(&a);
    mp_manager_free(m);
}

MPT_TEST(manager, MGR_CONDITION_NOT_OWNER,
         "MGR-CONDITION-NOT-OWNER: wait and notify on a manager Condition whose lock the caller "
         "does not hold are MP_ENOTOWNER")
{
    mp_manager *m = start();
    mp_proxy *c = NULL;
    MP_ASSERT_OK(mp_manager_condition(m, &c));
    MPT_ASSERT_PROMPT(mp_mcond_wait(c, 5.0), MP_ENOTOWNER);
    MP_ASSERT_STATUS(mp_mcond_notify(c, 1), MP_ENOTOWNER);
    MP_ASSERT_STATUS(mp_mcond_notify_all(c), MP_ENOTOWNER);
    MP_ASSERT_STATUS(mp_mlock_release(c), MP_ENOTOWNER);
    MP_ASSERT_OK(mp_mlock_acquire(c, 0));
    MP_ASSERT_OK(mp_mcond_notify(c, 1)); /* nobody waits: fine */
    MP_ASSERT_OK(mp_mcond_notify_all(c));
    MP_ASSERT_OK(mp_mlock_release(c));
    mp_proxy_free(c);
    mp_manager_free(m);
}

/* Three waiters; the parent counts the woken ones on a Queue. */
struct cvall {
    mp_proxy *cond, *woke, *ready;
};

static int cond_count_waiter(void *arg)
{
    struct cvall *a = arg;
    if (mp_mlock_acquire(a->cond, 10))
        return 1;
    mp_value *one = mp_int(1);
    mp_status st = mp_mqueue_put(a->ready, one, 5); /* while holding the lock */
    if (!st)
        st = mp_mcond_wait(a->cond, 30);
    if (!st)
        st = mp_mqueue_put(a->woke, one, 5);
    mp_value_free(one);
    return st || mp_mlock_release(a->cond) ? 2 : 0;
}

/* Wait until n waiters are in wait, then hold the lock.  Each put while
 * holding the lock, which it gives up only by waiting: once all n have put,
 * taking the lock means every one of them waits. */
static void all_waiting(struct cvall *a, int n)
{
    for (int i = 0; i < n; i++) {
        mp_value *v = NULL;
        MP_ASSERT_OK(mp_mqueue_get(a->ready, &v, 10));
        mp_value_free(v);
    }
    MP_ASSERT_OK(mp_mlock_acquire(a->cond, 10)); /* the last one is in wait */
}

MPT_TEST(manager, MGR_CONDITION_NOTIFY_ALL,
         "MGR-CONDITION-NOTIFY-ALL: notify(n) on a manager Condition wakes n waiters (0: none), "
         "notify_all every one")
{
    mp_manager *m = start();
    struct cvall a = {0};
    MP_ASSERT_OK(mp_manager_condition(m, &a.cond));
    MP_ASSERT_OK(mp_manager_queue(m, 0, &a.woke));
    MP_ASSERT_OK(mp_manager_queue(m, 0, &a.ready));
    mp_process *p[3];
    for (int i = 0; i < 3; i++)
        p[i] = mpt_start(cond_count_waiter, &a);
    all_waiting(&a, 3);
    MP_ASSERT_OK(mp_mcond_notify(a.cond, 0));
    MP_ASSERT_OK(mp_mcond_notify(a.cond, 1));
    MP_ASSERT_OK(mp_mlock_release(a.cond));
    mp_value *v = NULL;
    MP_ASSERT_OK(mp_mqueue_get(a.woke, &v, 10));
    mp_value_free(v);
    /* Exactly one: once it has released the lock, we hold it, and nobody
     * else was woken. */
    MP_ASSERT_OK(mp_mlock_acquire(a.cond, 10));
    size_t n = 9;
    MP_ASSERT_OK(mp_mqueue_qsize(a.woke, &n));
    cr_assert_eq(n, 0, "notify(0) + notify(1) woke %zu more", n);
    MP_ASSERT_OK(mp_mcond_notify_all(a.cond));
    MP_ASSERT_OK(mp_mlock_release(a.cond));
    for (int i = 0; i < 2; i++) {
        MP_ASSERT_OK(mp_mqueue_get(a.woke, &v, 10));
        mp_value_free(v);
    }
    for (int i = 0; i < 3; i++)
        cr_assert_eq(mpt_join(p[i]), 0);
    mp_proxy_free(a.cond);
    mp_proxy_free(a.woke);
    mp_proxy_free(a.ready);
    mp_manager_free(m);
}

/* Hold the Condition's lock, say so, and wait for a notify until killed. */
static int cond_wait_forever(void *arg)
{
    struct arg *a = arg;
    if (mp_mlock_acquire(a->obj, 10) || mp_mevent_set(a->ready))
        return 1;
    mp_mcond_wait(a->obj, MP_FOREVER); /* killed here */
    return 2;
}

MPT_TEST(manager, MGR_CLIENT_KILLED_COND_WAITER,
         "MGR-CLIENT-KILLED-COND-WAITER: a client SIGKILLed in a manager Condition wait is "
         "dropped: notify(1) then wakes a live waiter")
{
    mp_manager *m = start();
    struct arg a = {0};
    make_arg(m, &a);
    MP_ASSERT_OK(mp_manager_condition(m, &a.obj));
    mp_process *dead = start_ready(cond_wait_forever, &a);
    MP_ASSERT_OK(mp_mlock_acquire(a.obj, 10)); /* it is in wait */
    MP_ASSERT_OK(mp_mlock_release(a.obj));
    kill_reap(dead);
    MP_ASSERT_OK(mp_mevent_clear(a.ready));
    mp_process *live = start_ready(cond_waiter, &a);
    MP_ASSERT_OK(mp_mlock_acquire(a.obj, 10)); /* the live one is in wait */
    MP_ASSERT_OK(mp_mcond_notify(a.obj, 1));
    MP_ASSERT_OK(mp_mlock_release(a.obj));
    cr_assert_eq(mpt_join(live), 0, "the notify did not reach the live waiter");
    free_arg(&a);
    mp_manager_free(m);
}

/* ------------------------------------------------------------ Barrier */

/* Wait at the Barrier; exit with 100 + index, or 50 + status. */
static int bar_waiter(void *arg)
{
    struct arg *a = arg;
    unsigned i = 99;
    mp_status st = mp_mbarrier_wait(a->obj, 30, &i);
    return st ? 50 + (int)st : 100 + (int)i;
}

/* Poll until the Barrier has n waiters (the server's own count). */
static void until_waiting(mp_proxy *b, unsigned n)
{
    double end = mpt_now() + mpt_slack(10);
    unsigned w = 0;
    while (mp_mbarrier_n_waiting(b, &w) == MP_OK && w != n && mpt_now() < end)
        sched_yield();
    cr_assert_eq(w, n, "%u waiters, want %u", w, n);
}

MPT_TEST(manager, MGR_BARRIER_WAIT,
         "MGR-BARRIER-WAIT: a manager Barrier releases its parties together, each with its own "
         "arrival index, and is ready again")
{
    mp_manager *m = start();
    struct arg a = {0};
    unsigned parties = 0, idx = 9;
    MP_ASSERT_OK(mp_manager_barrier(m, 3, MP_FOREVER, &a.obj));
    MP_ASSERT_OK(mp_mbarrier_parties(a.obj, &parties));
    cr_assert_eq(parties, 3);
    for (int round = 0; round < 2; round++) {
        mp_process *p1 = mpt_start(bar_waiter, &a);
        until_waiting(a.obj, 1);
        mp_process *p2 = mpt_start(bar_waiter, &a);
        until_waiting(a.obj, 2);
        MPT_ASSERT_PROMPT(mp_mbarrier_wait(a.obj, 10, &idx), MP_OK);
        cr_assert_eq(idx, 2, "the last to arrive got %u", idx);
        int c1 = mpt_join(p1), c2 = mpt_join(p2);
        cr_assert_eq(c1, 100, "first arrival: exit %d", c1);
        cr_assert_eq(c2, 101, "second arrival: exit %d", c2);
        until_waiting(a.obj, 0);
    }
    bool broken = true;
    MP_ASSERT_OK(mp_mbarrier_broken(a.obj, &broken));
    cr_assert(!broken);
    mp_proxy_free(a.obj);
    mp_manager_free(m);
}

MPT_TEST(manager, MGR_BARRIER_BROKEN,
         "MGR-BARRIER-BROKEN: a manager Barrier wait that times out (never early) or an abort "
         "breaks it: waits are MP_EBROKEN; reset makes it whole again")
{
    mp_manager *m = start();
    struct arg a = {0};
    bool broken = false;
    MP_ASSERT_OK(mp_manager_barrier(m, 2, MP_FOREVER, &a.obj));
    MPT_ASSERT_TIMED(mp_mbarrier_wait(a.obj, 0.3, NULL), MP_EBROKEN, 0.3);
    MP_ASSERT_OK(mp_mbarrier_broken(a.obj, &broken));
    cr_assert(broken);
    MPT_ASSERT_PROMPT(mp_mbarrier_wait(a.obj, 5, NULL), MP_EBROKEN);
    MP_ASSERT_OK(mp_mbarrier_reset(a.obj));
    MP_ASSERT_OK(mp_mbarrier_broken(a.obj, &broken));
    cr_assert(!broken);
    /* abort breaks a waiter's wait. */
    mp_process *p = mpt_start(bar_waiter, &a);
    until_waiting(a.obj, 1);
    MP_ASSERT_OK(mp_mbarrier_abort(a.obj));
    cr_assert_eq(mpt_join(p), 50 + MP_EBROKEN);
    /* reset breaks a waiter's wait, and leaves the Barrier whole. */
    MP_ASSERT_OK(mp_mbarrier_reset(a.obj));
    p = mpt_start(bar_waiter, &a);
    until_waiting(a.obj, 1);
    MP_ASSERT_OK(mp_mbarrier_reset(a.obj));
    cr_assert_eq(mpt_join(p), 50 + MP_EBROKEN);
    MP_ASSERT_OK(mp_mbarrier_broken(a.obj, &broken));
    cr_assert(!broken);
    /* The Barrier's own timeout, for a wait given MP_FOREVER. */
    mp_proxy *t = NULL;
    MP_ASSERT_OK(mp_manager_barrier(m, 2, 0.2, &t));
    MPT_ASSERT_TIMED(mp_mbarrier_wait(t, MP_FOREVER, NULL), MP_EBROKEN, 0.2);
    mp_proxy_free(t);
    mp_proxy_free(a.obj);
    mp_manager_free(m);
}

/* Wait at the Barrier forever: killed there. */
static int bar_wait_forever(void *arg)
{
    struct arg *a = arg;
    mp_mbarrier_wait(a->obj, MP_FOREVER, NULL); /* killed here */
    return 2;
}

MPT_TEST(manager, MGR_CLIENT_KILLED_BARRIER,
         "MGR-CLIENT-KILLED-BARRIER: a client SIGKILLed in a manager Barrier wait breaks it: the "
         "other parties get MP_EBROKEN, not a wait for it")
{
    mp_manager *m = start();
    struct arg a = {0};
    MP_ASSERT_OK(mp_manager_barrier(m, 2, MP_FOREVER, &a.obj));
    mp_process *p = mpt_start(bar_wait_forever, &a);
    until_waiting(a.obj, 1);
    kill_reap(p);
    bool broken = false;
    double end = mpt_now() + mpt_slack(5);
    while (mp_mbarrier_broken(a.obj, &broken) == MP_OK && !broken && mpt_now() < end)
        sched_yield();
    cr_assert(broken, "the dead party's Barrier is not broken");
    MPT_ASSERT_PROMPT(mp_mbarrier_wait(a.obj, 10, NULL), MP_EBROKEN);
    mp_proxy_free(a.obj);
    mp_manager_free(m);
}

/* ------------------------------------------------------------ JoinableQueue */

/* Take every item, then call task_done for each when told. */
static int jq_worker(void *arg)
{
    struct arg *a = arg;
    for (int i = 0; i < 3; i++) {
        mp_value *v = NULL;
        if (mp_mqueue_get(a->obj, &v, 30))
            return 1;
        mp_value_free(v);
    }
    if (mp_mevent_set(a->ready) || mp_mevent_wait(a->go, 30))
        return 2;
    for (int i = 0; i < 3; i++)
        if (mp_mqueue_task_done(a->obj))
            return 3;
    return 0;
}

MPT_TEST(manager, MGR_JQ_TASK_DONE_JOIN,
         "MGR-JQ-TASK-DONE-JOIN: join on a manager JoinableQueue waits until task_done was called "
         "for every item put, in any process")
{
    mp_manager *m = start();
    struct arg a = {0};
    make_arg(m, &a);
    MP_ASSERT_OK(mp_manager_joinable_queue(m, 0, &a.obj));
    MPT_ASSERT_PROMPT(mp_mqueue_join(a.obj, 5), MP_OK); /* nothing put */
    mp_value *v = mp_int(7);
    for (int i = 0; i < 3; i++)
        MP_ASSERT_OK(mp_mqueue_put(a.obj, v, 5));
    mp_value_free(v);
    mp_process *p = start_ready(jq_worker, &a);
    size_t n = 9;
    MP_ASSERT_OK(mp_mqueue_qsize(a.obj, &n));
    cr_assert_eq(n, 0);
    MPT_ASSERT_TIMED(mp_mqueue_join(a.obj, 0.2), MP_TIMEOUT, 0.2); /* taken, not done */
    MP_ASSERT_OK(mp_mevent_set(a.go));
    MP_ASSERT_OK(mp_mqueue_join(a.obj, 10));
    cr_assert_eq(mpt_join(p), 0);
    MPT_ASSERT_PROMPT(mp_mqueue_join(a.obj, 5), MP_OK);
    free_arg(&a);
    mp_manager_free(m);
}

MPT_TEST(manager, MGR_JQ_TASK_DONE_TOO_MANY,
         "MGR-JQ-TASK-DONE-TOO-MANY: task_done on a manager JoinableQueue (or Queue) more often "
         "than items were put is MP_ESTATE")
{
    mp_manager *m = start();
    mp_proxy *q = NULL;
    MP_ASSERT_OK(mp_manager_joinable_queue(m, 0, &q));
    MP_ASSERT_STATUS(mp_mqueue_task_done(q), MP_ESTATE);
    mp_value *v = mp_str("x"), *got = NULL;
    MP_ASSERT_OK(mp_mqueue_put(q, v, 5));
    MP_ASSERT_OK(mp_mqueue_get(q, &got, 5));
    MP_ASSERT_OK(mp_mqueue_task_done(q));
    MP_ASSERT_STATUS(mp_mqueue_task_done(q), MP_ESTATE);
    MPT_ASSERT_PROMPT(mp_mqueue_join(q, 5), MP_OK);
    /* A plain Queue is a queue.Queue too. */
    mp_proxy *pq = NULL;
    MP_ASSERT_OK(mp_manager_queue(m, 0, &pq));
    MP_ASSERT_STATUS(mp_mqueue_task_done(pq), MP_ESTATE);
    MPT_ASSERT_PROMPT(mp_mqueue_join(pq, 5), MP_OK);
    mp_proxy_free(pq);
    mp_value_free(v);
    mp_value_free(got);
    mp_proxy_free(q);
    mp_manager_free(m);
}

/* ------------------------------------------------------------ Array */

static int array_child(void *arg)
{
    struct arg *a = arg;
    mp_value *v = NULL, *two = mp_int(2);
    size_t n = 0;
    int64_t i = 0;
    int r = 0;
    if (mp_marray_len(a->obj, &n) || n != 2)
        r = 1;
    else if (mp_marray_get(a->obj, 1, &v) || mp_value_get_int(v, &i) || i != 1)
        r = 2;
    else if (mp_marray_set(a->obj, -2, two))
        r = 3;
    mp_value_free(v);
    mp_value_free(two);
    return r;
}

MPT_TEST(manager, MGR_ARRAY_GET_SET,
         "MGR-ARRAY-GET-SET: a manager Array('i', [0, 1]) has len 2, items by index (negative from "
         "the end), set from another process, tolist")
{
    mp_manager *m = start();
    struct arg a = {0};
    mp_value *init = mp_list_of(2, mp_int(0), mp_int(1)), *v = NULL;
    MP_ASSERT_OK(mp_manager_array(m, 'i', init, &a.obj));
    mp_value_free(init);
    MP_ASSERT_OK(mp_marray_get(a.obj, 0, &v));
    expect(v, "0");
    MP_ASSERT_OK(mp_marray_get(a.obj, -1, &v));
    expect(v, "1");
    cr_assert_eq(mpt_join(mpt_start(array_child, &a)), 0);
    MP_ASSERT_OK(mp_marray_tolist(a.obj, &v));
    expect(v, "[2, 1]");
    /* 'd' keeps floats; an int given is stored as a float. */
    mp_proxy *d = NULL;
    init = mp_list_of(1, mp_float(0.5));
    MP_ASSERT_OK(mp_manager_array(m, 'd', init, &d));
    mp_value_free(init);
    v = mp_int(3);
    MP_ASSERT_OK(mp_marray_set(d, 0, v));
    mp_value_free(v);
    MP_ASSERT_OK(mp_marray_tolist(d, &v));
    expect(v, "[3.0]");
    mp_proxy_free(d);
    mp_proxy_free(a.obj);
    mp_manager_free(m);
}

MPT_TEST(manager, MGR_ARRAY_INDEX_ERROR,
         "MGR-ARRAY-INDEX-ERROR: a manager Array's index out of range is MP_EINDEX, an item of the "
         "wrong type MP_ETYPE; neither changes it")
{
    mp_manager *m = start();
    mp_proxy *a = NULL;
    mp_value *init = mp_list_of(2, mp_int(0), mp_int(1)), *v = NULL, *s = mp_str("x"),
             *one = mp_int(1);
    MP_ASSERT_OK(mp_manager_array(m, 'i', init, &a));
    MP_ASSERT_STATUS(mp_marray_get(a, 2, &v), MP_EINDEX);
    MP_ASSERT_STATUS(mp_marray_get(a, -3, &v), MP_EINDEX);
    MP_ASSERT_STATUS(mp_marray_set(a, 2, one), MP_EINDEX);
    MP_ASSERT_STATUS(mp_marray_set(a, 0, s), MP_ETYPE);
    MP_ASSERT_OK(mp_marray_tolist(a, &v));
    expect(v, "[0, 1]");
    mp_value_free(init);
    mp_value_free(s);
    mp_value_free(one);
    mp_proxy_free(a);
    mp_manager_free(m);
}

MPT_TEST(manager, MGR_ARRAY_TYPECHECK,
         "MGR-ARRAY-TYPECHECK: a manager Array's typecode must be one of array's (MP_EINVAL), its "
         "items of that type (MP_ETYPE) and range (MP_EINVAL); nothing is made")
{
    mp_manager *m = start();
    mp_proxy *a = NULL;
    size_t before = 0, after = 0;
    MP_ASSERT_OK(mp_manager_object_count(m, &before));
    mp_value *ints = mp_list_of(1, mp_int(300)), *strs = mp_list_of(1, mp_str("x"));
    MP_ASSERT_STATUS(mp_manager_array(m, 'z', ints, &a), MP_EINVAL);
    MP_ASSERT_STATUS(mp_manager_array(m, 'i', strs, &a), MP_ETYPE);
    MP_ASSERT_STATUS(mp_manager_array(m, 'b', ints, &a), MP_EINVAL);
    MP_ASSERT_STATUS(mp_manager_array(m, 'd', strs, &a), MP_ETYPE);
    MP_ASSERT_OK(mp_manager_object_count(m, &after));
    cr_assert_eq(before, after, "a refused Array was made");
    MP_ASSERT_OK(mp_manager_array(m, 'h', ints, &a));
    mp_value *big = mp_int(1 << 20);
    MP_ASSERT_STATUS(mp_marray_set(a, 0, big), MP_EINVAL);
    mp_value_free(big);
    mp_value_free(ints);
    mp_value_free(strs);
    mp_proxy_free(a);
    mp_manager_free(m);
}
