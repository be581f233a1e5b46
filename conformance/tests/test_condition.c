/* Condition: notify / notify(n) / notify_all counts, timeouts, ownership,
 * RLock depth, wait_for, and processes.  A thread that is "waiting" is known
 * to be inside wait() because it announced itself while holding the lock and
 * only wait() released it. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "mpt.h"

struct pool {
    mp_condition *c;
    mp_semaphore *arrived; /* one unit per waiter about to wait */
    mp_semaphore *woke;    /* one unit per waiter that returned */
    int woken;             /* guarded by the condition's lock */
    int bad;
};

static void *waiter(void *arg)
{
    struct pool *p = arg;
    if (mp_condition_acquire(p->c, MP_FOREVER) != MP_OK) {
        p->bad = 1;
        return NULL;
    }
    mp_semaphore_release(p->arrived); /* lock still held until wait() */
    mp_status s = mp_condition_wait(p->c, 10.0);
    if (s != MP_OK)
        p->bad = 1;
    p->woken++;
    mp_condition_release(p->c);
    mp_semaphore_release(p->woke);
    return NULL;
}

/* Starts 5 waiters; returns with the lock held and all five in wait(): each
 * announced itself holding the lock, which only wait() gives up. */
static void start_pool(struct pool *p, pthread_t *t)
{
    MP_ASSERT_OK(mp_condition_new(&p->c, NULL));
    MP_ASSERT_OK(mp_semaphore_new(&p->arrived, 0));
    MP_ASSERT_OK(mp_semaphore_new(&p->woke, 0));
    for (int i = 0; i < 5; i++)
        cr_assert(pthread_create(&t[i], NULL, waiter, p) == 0);
    for (int i = 0; i < 5; i++)
        MP_ASSERT_OK(mp_semaphore_acquire(p->arrived, 10.0));
    MP_ASSERT_OK(mp_condition_acquire(p->c, MP_FOREVER));
}

/* Waits for exactly n waiters to report (and no more within 0.1 s). */
static void expect_woken(struct pool *p, int n)
{
    for (int i = 0; i < n; i++)
        MP_ASSERT_OK(mp_semaphore_acquire(p->woke, 10.0));
    MP_ASSERT_STATUS(mp_semaphore_acquire(p->woke, 0.1), MP_TIMEOUT);
}

static void end_pool(struct pool *p, pthread_t *t)
{
    for (int i = 0; i < 5; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(p->bad, 0);
    cr_assert_eq(p->woken, 5);
    mp_semaphore_free(p->woke);
    mp_semaphore_free(p->arrived);
    mp_condition_free(p->c);
}

MPT_TEST(condition, COND_NOTIFY,
         "COND-NOTIFY: notify() wakes exactly one waiter, which returns MP_OK holding the lock")
{
    struct pool p = {0};
    pthread_t t[5];
    start_pool(&p, t);
    for (int k = 1; k <= 5; k++) {
        MP_ASSERT_OK(mp_condition_notify(p.c, 1));
        MP_ASSERT_OK(mp_condition_release(p.c));
        expect_woken(&p, 1);
        MP_ASSERT_OK(mp_condition_acquire(p.c, MP_FOREVER));
        cr_assert_eq(p.woken, k);
    }
    MP_ASSERT_OK(mp_condition_release(p.c));
    end_pool(&p, t);
}

MPT_TEST(condition, COND_NOTIFY_N,
         "COND-NOTIFY-N: notify(n) wakes exactly min(n, waiting) waiters; notify(0) none")
{
    struct pool p = {0};
    pthread_t t[5];
    start_pool(&p, t);
    MP_ASSERT_OK(mp_condition_notify(p.c, 0));
    MP_ASSERT_OK(mp_condition_notify(p.c, 2));
    MP_ASSERT_OK(mp_condition_release(p.c));
    expect_woken(&p, 2);
    MP_ASSERT_OK(mp_condition_acquire(p.c, MP_FOREVER));
    cr_assert_eq(p.woken, 2);
    MP_ASSERT_OK(mp_condition_notify(p.c, 10));
    MP_ASSERT_OK(mp_condition_release(p.c));
    expect_woken(&p, 3);
    end_pool(&p, t);
}

MPT_TEST(condition, COND_NOTIFY_ALL, "COND-NOTIFY-ALL: notify_all wakes every waiter")
{
    struct pool p = {0};
    pthread_t t[5];
    start_pool(&p, t);
    MP_ASSERT_OK(mp_condition_notify_all(p.c));
    MP_ASSERT_OK(mp_condition_release(p.c));
    for (int i = 0; i < 5; i++)
        MP_ASSERT_OK(mp_semaphore_acquire(p.woke, 10.0));
    end_pool(&p, t);
}

MPT_TEST(condition, COND_WAIT_TIMEOUT,
         "COND-WAIT-TIMEOUT: wait(t) without a notify is MP_TIMEOUT after t, never earlier, with "
         "the lock held again")
{
    mp_condition *c = NULL;
    MP_ASSERT_OK(mp_condition_new(&c, NULL));
    MP_ASSERT_OK(mp_condition_acquire(c, MP_FOREVER));
    MPT_ASSERT_TIMED(mp_condition_wait(c, 0.2), MP_TIMEOUT, 0.2);
    MPT_ASSERT_PROMPT(mp_condition_wait(c, 0), MP_TIMEOUT);
    MPT_ASSERT_PROMPT(mp_condition_wait(c, -1), MP_TIMEOUT);
    /* still held: notify is allowed, and release succeeds exactly once */
    MP_ASSERT_OK(mp_condition_notify(c, 1));
    MP_ASSERT_OK(mp_condition_release(c));
    MP_ASSERT_STATUS(mp_condition_release(c), MP_ENOTOWNER);
    mp_condition_free(c);
}

struct holder {
    mp_condition *c;
    mp_event *held, *done;
};

static void *hold_thread(void *arg)
{
    struct holder *h = arg;
    mp_condition_acquire(h->c, MP_FOREVER);
    mp_event_set(h->held);
    mp_event_wait(h->done, 10.0);
    mp_condition_release(h->c);
    return NULL;
}

static bool never(void *arg)
{
    (void)arg;
    return false;
}

MPT_TEST(condition, COND_NOT_OWNER,
         "COND-NOT-OWNER: wait, wait_for and notify without holding the lock (free, or held by "
         "another thread) are MP_ENOTOWNER")
{
    struct holder h;
    MP_ASSERT_OK(mp_condition_new(&h.c, NULL));
    MP_ASSERT_OK(mp_event_new(&h.held));
    MP_ASSERT_OK(mp_event_new(&h.done));
    MPT_ASSERT_PROMPT(mp_condition_wait(h.c, 1.0), MP_ENOTOWNER);
    MP_ASSERT_STATUS(mp_condition_notify(h.c, 1), MP_ENOTOWNER);
    MP_ASSERT_STATUS(mp_condition_notify_all(h.c), MP_ENOTOWNER);
    pthread_t t;
    cr_assert(pthread_create(&t, NULL, hold_thread, &h) == 0);
    MP_ASSERT_OK(mp_event_wait(h.held, 10.0));
    MPT_ASSERT_PROMPT(mp_condition_wait(h.c, 1.0), MP_ENOTOWNER);
    MPT_ASSERT_PROMPT(mp_condition_wait_for(h.c, never, NULL, 1.0), MP_ENOTOWNER);
    MP_ASSERT_STATUS(mp_condition_notify(h.c, 1), MP_ENOTOWNER);
    MP_ASSERT_STATUS(mp_condition_notify_all(h.c), MP_ENOTOWNER);
    MP_ASSERT_OK(mp_event_set(h.done));
    pthread_join(t, NULL);
    mp_event_free(h.held);
    mp_event_free(h.done);
    mp_condition_free(h.c);
}

struct depth {
    mp_lock *l;
    mp_condition *c;
    mp_status got;
};

static void *take_notify(void *arg)
{
    struct depth *d = arg;
    d->got = mp_lock_acquire(d->l, 10.0); /* possible only if wait released every level */
    if (d->got == MP_OK) {
        mp_condition_notify(d->c, 1);
        mp_lock_release(d->l);
    }
    return NULL;
}

MPT_TEST(condition, COND_RLOCK_DEPTH,
         "COND-RLOCK-DEPTH: wait on a Condition over an RLock held twice releases both levels and "
         "restores them")
{
    struct depth d = {.got = MP_ENOTSUP};
    MP_ASSERT_OK(mp_rlock_new(&d.l));
    MP_ASSERT_OK(mp_condition_new(&d.c, d.l));
    MP_ASSERT_OK(mp_condition_acquire(d.c, MP_FOREVER));
    MP_ASSERT_OK(mp_lock_acquire(d.l, MP_FOREVER));
    pthread_t t;
    cr_assert(pthread_create(&t, NULL, take_notify, &d) == 0);
    MP_ASSERT_OK(mp_condition_wait(d.c, 10.0));
    pthread_join(t, NULL);
    MP_ASSERT_STATUS(d.got, MP_OK);
    MP_ASSERT_OK(mp_lock_release(d.l));
    bool locked = false;
    MP_ASSERT_OK(mp_lock_locked(d.l, &locked));
    cr_assert(locked, "depth 2 not restored");
    MP_ASSERT_OK(mp_condition_release(d.c));
    MP_ASSERT_OK(mp_lock_locked(d.l, &locked));
    cr_assert(!locked);
    mp_condition_free(d.c);
    mp_lock_free(d.l);
}

MPT_TEST(condition, COND_USER_LOCK,
         "COND-USER-LOCK: a Condition made over a Lock acquires and releases that Lock")
{
    mp_lock *l = NULL;
    mp_condition *c = NULL;
    bool locked = false;
    MP_ASSERT_OK(mp_lock_new(&l));
    MP_ASSERT_OK(mp_condition_new(&c, l));
    MP_ASSERT_OK(mp_condition_acquire(c, MP_FOREVER));
    MP_ASSERT_OK(mp_lock_locked(l, &locked));
    cr_assert(locked);
    MP_ASSERT_STATUS(mp_condition_acquire(c, MP_NOWAIT), MP_TIMEOUT); /* a Lock is not re-entrant */
    MPT_ASSERT_TIMED(mp_condition_wait(c, 0.05), MP_TIMEOUT, 0.05);
    MP_ASSERT_OK(mp_condition_release(c));
    MP_ASSERT_OK(mp_lock_locked(l, &locked));
    cr_assert(!locked);
    MP_ASSERT_STATUS(mp_condition_release(c), MP_ESTATE);
    mp_condition_free(c);
    mp_lock_free(l);
}

struct counter {
    mp_condition *c;
    int value; /* guarded by the lock */
    int calls;
};

static bool reached3(void *arg)
{
    struct counter *k = arg;
    k->calls++;
    return k->value >= 3;
}

static void *bump_thread(void *arg)
{
    struct counter *k = arg;
    for (int i = 0; i < 3; i++) {
        mp_condition_acquire(k->c, MP_FOREVER);
        k->value++;
        mp_condition_notify_all(k->c);
        mp_condition_release(k->c);
    }
    return NULL;
}

MPT_TEST(condition, COND_WAIT_FOR,
         "COND-WAIT-FOR: wait_for returns MP_OK at once when the predicate holds, else after "
         "notifications make it true")
{
    struct counter k = {0};
    MP_ASSERT_OK(mp_condition_new(&k.c, NULL));
    MP_ASSERT_OK(mp_condition_acquire(k.c, MP_FOREVER));
    k.value = 3;
    MPT_ASSERT_PROMPT(mp_condition_wait_for(k.c, reached3, &k, 0), MP_OK);
    cr_assert_eq(k.calls, 1);
    k.value = 0;
    pthread_t t;
    cr_assert(pthread_create(&t, NULL, bump_thread, &k) == 0);
    MP_ASSERT_OK(mp_condition_wait_for(k.c, reached3, &k, 10.0));
    cr_assert_geq(k.value, 3);
    MP_ASSERT_OK(mp_condition_release(k.c));
    pthread_join(t, NULL);
    mp_condition_free(k.c);
}

MPT_TEST(condition, COND_WAIT_FOR_TIMEOUT,
         "COND-WAIT-FOR-TIMEOUT: wait_for with a predicate that stays false is MP_TIMEOUT after t, "
         "never earlier; NULL predicate and NaN are MP_EINVAL")
{
    struct counter k = {0};
    MP_ASSERT_OK(mp_condition_new(&k.c, NULL));
    MP_ASSERT_OK(mp_condition_acquire(k.c, MP_FOREVER));
    MPT_ASSERT_TIMED(mp_condition_wait_for(k.c, reached3, &k, 0.2), MP_TIMEOUT, 0.2);
    cr_assert_geq(k.calls, 2); /* checked before and after waiting */
    MPT_ASSERT_PROMPT(mp_condition_wait_for(k.c, reached3, &k, 0), MP_TIMEOUT);
    MP_ASSERT_STATUS(mp_condition_wait_for(k.c, NULL, &k, 1.0), MP_EINVAL);
    MP_ASSERT_STATUS(mp_condition_wait_for(k.c, reached3, &k, NAN), MP_EINVAL);
    MP_ASSERT_OK(mp_condition_release(k.c));
    mp_condition_free(k.c);
}

MPT_TEST(condition, COND_NULL_ARGS,
         "COND-NULL-ARGS: NULL handles are MP_EINVAL, a NaN wait timeout too")
{
    mp_condition *c = NULL;
    MP_ASSERT_STATUS(mp_condition_new(NULL, NULL), MP_EINVAL);
    MP_ASSERT_STATUS(mp_condition_acquire(NULL, 0), MP_EINVAL);
    MP_ASSERT_STATUS(mp_condition_release(NULL), MP_EINVAL);
    MP_ASSERT_STATUS(mp_condition_wait(NULL, 0), MP_EINVAL);
    MP_ASSERT_STATUS(mp_condition_wait_for(NULL, reached3, NULL, 0), MP_EINVAL);
    MP_ASSERT_STATUS(mp_condition_notify(NULL, 1), MP_EINVAL);
    MP_ASSERT_STATUS(mp_condition_notify_all(NULL), MP_EINVAL);
    MP_ASSERT_OK(mp_condition_new(&c, NULL));
    MP_ASSERT_OK(mp_condition_acquire(c, MP_FOREVER));
    MP_ASSERT_STATUS(mp_condition_wait(c, NAN), MP_EINVAL);
    MP_ASSERT_STATUS(mp_condition_acquire(c, NAN), MP_EINVAL);
    MP_ASSERT_OK(mp_condition_release(c));
    mp_condition_free(c);
    mp_condition_free(NULL);
}

/* Across processes: the child announces itself and waits; the parent waits
 * for the announcement (a notify in the other direction), then notifies. */
struct xproc {
    mp_condition *c;
    int *ready; /* in memory both map */
};

static bool child_ready(void *arg) { return *((struct xproc *)arg)->ready != 0; }

static int child_wait(void *arg)
{
    struct xproc *x = arg;
    if (mp_condition_acquire(x->c, MP_FOREVER) != MP_OK)
        return 1;
    *x->ready = 1;
    mp_condition_notify_all(x->c);
    mp_status s = mp_condition_wait(x->c, 10.0);
    mp_condition_release(x->c);
    return s == MP_OK ? 0 : 2;
}

MPT_TEST(condition, COND_CROSS_PROCESS,
         "COND-CROSS-PROCESS: a child's notify wakes the parent's wait_for, and the parent's "
         "notify wakes the child's wait")
{
    struct xproc x;
    x.ready = mmap(NULL, sizeof(int), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert(x.ready != MAP_FAILED);
    MP_ASSERT_OK(mp_condition_new(&x.c, NULL));
    mp_process *p = mpt_start(child_wait, &x);
    MP_ASSERT_OK(mp_condition_acquire(x.c, MP_FOREVER));
    MP_ASSERT_OK(mp_condition_wait_for(x.c, child_ready, &x, 10.0));
    MP_ASSERT_OK(mp_condition_notify(x.c, 1));
    MP_ASSERT_OK(mp_condition_release(x.c));
    cr_assert_eq(mpt_join(p), 0);
    mp_condition_free(x.c);
    munmap(x.ready, sizeof(int));
}

/* ------------------------------------------------------ killed processes */

/* A child "is in wait" once the parent could take the lock after the child
 * announced itself holding it: only wait() gives it up. */
struct ck {
    mp_condition *c;
    mp_event *ready;
    double timeout;
};

/* Exit code: the status of wait (the lock released after it). */
static int child_cwait(void *arg)
{
    struct ck *k = arg;
    if (mp_condition_acquire(k->c, MP_FOREVER) != MP_OK)
        return 100;
    mp_event_set(k->ready);
    mp_status s = mp_condition_wait(k->c, k->timeout);
    mp_condition_release(k->c);
    return (int)s;
}

static mp_process *start_cwaiter(struct ck *k, double timeout)
{
    k->timeout = timeout;
    MP_ASSERT_OK(mp_event_clear(k->ready));
    mp_process *p = mpt_start(child_cwait, k);
    MP_ASSERT_OK(mp_event_wait(k->ready, 10.0));
    MP_ASSERT_OK(mp_condition_acquire(k->c, MP_FOREVER));
    MP_ASSERT_OK(mp_condition_release(k->c));
    return p;
}

static void ck_new(struct ck *k)
{
    MP_ASSERT_OK(mp_condition_new(&k->c, NULL));
    MP_ASSERT_OK(mp_event_new(&k->ready));
}

static void ck_free(struct ck *k)
{
    mp_event_free(k->ready);
    mp_condition_free(k->c);
}

static void kill_join(mp_process *p)
{
    MP_ASSERT_OK(mp_process_kill(p));
    cr_assert_eq(mpt_join(p), -SIGKILL);
}

MPT_TEST(condition, COND_WAITER_KILLED_NOTIFY,
         "COND-WAITER-KILLED-NOTIFY: notify(1) skips a waiter SIGKILLed in wait and wakes the next "
         "live one")
{
    struct ck k;
    ck_new(&k);
    mp_process *dead = start_cwaiter(&k, 10.0); /* the oldest: notify's first pick */
    mp_process *live = start_cwaiter(&k, 10.0);
    mpt_wait_asleep(mpt_pid(dead));
    kill_join(dead);
    double t0 = mpt_now();
    MPT_ASSERT_PROMPT(mp_condition_acquire(k.c, MP_FOREVER), MP_OK);
    MPT_ASSERT_PROMPT(mp_condition_notify(k.c, 1), MP_OK);
    MP_ASSERT_OK(mp_condition_release(k.c));
    cr_assert_eq(mpt_join(live), MP_OK, "the live waiter was not notified");
    cr_assert(mpt_now() - t0 < mpt_slack(2.0), "the live waiter took %.3f s", mpt_now() - t0);
    ck_free(&k);
}

MPT_TEST(condition, COND_WAITER_KILLED_NOTIFY_ALL,
         "COND-WAITER-KILLED-NOTIFY-ALL: with a waiter SIGKILLed in wait, notify_all returns at "
         "once and wakes every live waiter")
{
    struct ck k;
    ck_new(&k);
    mp_process *a = start_cwaiter(&k, 10.0);
    mp_process *dead = start_cwaiter(&k, 10.0);
    mp_process *c = start_cwaiter(&k, 10.0);
    mpt_wait_asleep(mpt_pid(dead));
    kill_join(dead);
    double t0 = mpt_now();
    MP_ASSERT_OK(mp_condition_acquire(k.c, MP_FOREVER));
    MPT_ASSERT_PROMPT(mp_condition_notify_all(k.c), MP_OK);
    MP_ASSERT_OK(mp_condition_release(k.c));
    cr_assert_eq(mpt_join(a), MP_OK, "the first live waiter was not woken");
    cr_assert_eq(mpt_join(c), MP_OK, "the last live waiter was not woken");
    cr_assert(mpt_now() - t0 < mpt_slack(2.0), "the live waiters took %.3f s", mpt_now() - t0);
    ck_free(&k);
}

MPT_TEST(condition, COND_WAITER_KILLED_NOTIFIED,
         "COND-WAITER-KILLED-NOTIFIED: a waiter killed after notify(1) chose it, before it got the "
         "lock back, takes that notification with it; the lock is free")
{
    struct ck k;
    ck_new(&k);
    mp_process *dead = start_cwaiter(&k, 10.0);
    mp_process *next = start_cwaiter(&k, 10.0);
    MP_ASSERT_OK(mp_condition_acquire(k.c, MP_FOREVER));
    MP_ASSERT_OK(mp_condition_notify(k.c, 1)); /* the oldest: dead */
    /* Asleep: waking, or blocked on the lock we hold -- in wait() either way. */
    mpt_wait_asleep(mpt_pid(dead));
    kill_join(dead);
    MP_ASSERT_OK(mp_condition_release(k.c));
    /* The notification is not passed on: the next waiter stays in wait. */
    MP_ASSERT_STATUS(mp_process_join(next, 0.3), MP_TIMEOUT);
    /* The dead waiter never held the lock again, so it is not abandoned. */
    MPT_ASSERT_PROMPT(mp_condition_acquire(k.c, MP_FOREVER), MP_OK);
    MP_ASSERT_OK(mp_condition_notify(k.c, 1));
    MP_ASSERT_OK(mp_condition_release(k.c));
    cr_assert_eq(mpt_join(next), MP_OK, "a later notify did not wake the next waiter");
    ck_free(&k);
}

/* Takes the lock (free only once the waiter is in wait), notifies, says so,
 * and is killed holding the lock. */
static int child_notify_hold(void *arg)
{
    struct ck *k = arg;
    if (mp_condition_acquire(k->c, MP_FOREVER) != MP_OK)
        return 1;
    if (mp_condition_notify(k->c, 1) != MP_OK)
        return 2;
    mp_event_set(k->ready);
    for (;;)
        pause();
}

MPT_TEST(condition, COND_LOCK_HOLDER_KILLED,
         "COND-LOCK-HOLDER-KILLED: a notified waiter whose notifier is SIGKILLed holding the lock "
         "returns MP_EOWNERDEAD from wait, holding the lock")
{
    struct ck k;
    ck_new(&k);
    mp_process *waiter = start_cwaiter(&k, 10.0);
    MP_ASSERT_OK(mp_event_clear(k.ready));
    mp_process *holder = mpt_start(child_notify_hold, &k);
    MP_ASSERT_OK(mp_event_wait(k.ready, 10.0));
    /* Not joined yet: the dead holder is a zombie while the waiter decides. */
    MP_ASSERT_OK(mp_process_kill(holder));
    double t0 = mpt_now();
    cr_assert_eq(mpt_join(waiter), MP_EOWNERDEAD, "wait did not report the dead holder");
    cr_assert(mpt_now() - t0 < mpt_slack(3.0), "took %.3f s to notice", mpt_now() - t0);
    cr_assert_eq(mpt_join(holder), -SIGKILL);
    /* The waiter released the lock it took over. */
    MPT_ASSERT_PROMPT(mp_condition_acquire(k.c, MP_NOWAIT), MP_OK);
    MP_ASSERT_OK(mp_condition_release(k.c));
    ck_free(&k);
}

/* Takes the lock and is killed holding it, without notifying: as if it had
 * changed what the waiters wait for and died before its notify. */
static int child_hold_silent(void *arg)
{
    struct ck *k = arg;
    if (mp_condition_acquire(k->c, MP_FOREVER) != MP_OK)
        return 1;
    mp_event_set(k->ready);
    for (;;)
        pause();
}

MPT_TEST(condition, COND_HOLDER_KILLED_WAKES_WAITERS,
         "COND-HOLDER-KILLED-WAKES-WAITERS: taking the lock over from a holder SIGKILLed before it "
         "could notify wakes every waiter, which returns MP_OK")
{
    struct ck k;
    ck_new(&k);
    mp_process *a = start_cwaiter(&k, 10.0);
    mp_process *b = start_cwaiter(&k, 10.0);
    MP_ASSERT_OK(mp_event_clear(k.ready));
    mp_process *holder = mpt_start(child_hold_silent, &k);
    MP_ASSERT_OK(mp_event_wait(k.ready, 10.0));
    kill_join(holder);
    double t0 = mpt_now();
    MP_ASSERT_STATUS(mp_condition_acquire(k.c, 5.0), MP_EOWNERDEAD);
    MP_ASSERT_OK(mp_condition_release(k.c));
    cr_assert_eq(mpt_join(a), MP_OK, "the first waiter was not woken");
    cr_assert_eq(mpt_join(b), MP_OK, "the second waiter was not woken");
    cr_assert(mpt_now() - t0 < mpt_slack(2.0), "the waiters took %.3f s", mpt_now() - t0);
    ck_free(&k);
}

/* COND-NOTIFIER-KILLED-ANYTIME: a notifier killed at any instruction of
 * acquire + notify(1) (here: before each one in turn, mpt_kat; it dies
 * holding the lock once it has it, and after the whole call in the calibration) must not leave the
 * thread asleep in wait unwoken: after the kill a live thread takes the lock (MP_OK, or
 * MP_EOWNERDEAD from the dead notifier), notifies and releases, and the
 * waiter must be back from wait within a bound -- notified by the dead
 * notifier or by the live one.  Each kill costs a liveness slice (the lock's
 * takeover), so rounds run in batches of lanes, each lane its own Condition,
 * waiter and checker thread; the kills are placed from the main thread
 * (the tracer). */
#define LANES 24
#define KILLED_WAIT 30.0 /* the waiter's own timeout: beyond the whole sweep */

struct lane {
    mp_condition *c;
    pthread_t waiter, checker;
    _Atomic pid_t tid;
    _Atomic int in;      /* the waiter holds the lock, about to wait */
    _Atomic double back; /* when its wait returned; 0 before */
    mp_status wst, ast;  /* the waiter's wait, the checker's acquire */
    double late;         /* from the checker's release to the waiter's return */
    long n;
};

static void *lane_waiter(void *arg)
{
    struct lane *l = arg;
    atomic_store(&l->tid, (pid_t)syscall(SYS_gettid));
    if ((l->wst = mp_condition_acquire(l->c, MP_FOREVER)) != MP_OK)
        return NULL;
    atomic_store(&l->in, 1);
    l->wst = mp_condition_wait(l->c, KILLED_WAIT);
    atomic_store(&l->back, mpt_now());
    mp_condition_release(l->c);
    return NULL;
}

static void *lane_checker(void *arg)
{
    struct lane *l = arg;
    l->ast = mp_condition_acquire(l->c, 5.0);
    if (l->ast != MP_OK && l->ast != MP_EOWNERDEAD)
        return NULL;
    mp_condition_notify(l->c, 1);
    mp_condition_release(l->c);
    double t0 = mpt_now();
    while (atomic_load(&l->back) == 0 && mpt_now() - t0 < mpt_slack(1.0)) {
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    double back = atomic_load(&l->back);
    l->late = back == 0 ? mpt_now() - t0 : back - t0;
    return NULL;
}

/* The victim's call: acquire + notify the Condition *arg points at (a lane's,
 * set by the tracer before each trial). */
static int op_notify(void *arg)
{
    mp_condition *c = *(mp_condition **)arg;
    mp_condition_acquire(c, MP_FOREVER);
    mp_condition_notify(c, 1);
    return 0;
}

MPT_TEST(
    condition, COND_NOTIFIER_KILLED_ANYTIME,
    "COND-NOTIFIER-KILLED-ANYTIME: a notifier SIGKILLed at any instruction of acquire + notify "
    "never leaves the waiter asleep: a live notify afterwards (or the dead one) wakes it")
{
    static struct lane lane[LANES];
    /* First calls made here, not in each child: with a shared library, the
     * children step the same instructions every time. */
    mp_condition *c0 = NULL;
    MP_ASSERT_OK(mp_condition_new(&c0, NULL));
    MP_ASSERT_OK(mp_condition_acquire(c0, MP_FOREVER));
    MP_ASSERT_OK(mp_condition_notify(c0, 1));
    MP_ASSERT_OK(mp_condition_release(c0));
    mp_condition_free(c0);
    mp_condition *target = NULL;
    mpt_kat k = {.call = op_notify, .arg = &target};
    long n = -1; /* -1: the calibration, the call run to its end */
    int owner_dead = 0;
    while (n < (long)k.n) {
        for (int i = 0; i < LANES; i++) { /* a waiter asleep in wait in each lane */
            struct lane *l = &lane[i];
            *l = (struct lane){.n = -2}; /* -2: no kill, only the live notify */
            MP_ASSERT_OK(mp_condition_new(&l->c, NULL));
            cr_assert(pthread_create(&l->waiter, NULL, lane_waiter, l) == 0);
            while (!atomic_load(&l->in) && l->wst == MP_OK)
                sched_yield();
            MP_ASSERT_OK(l->wst);
            /* Free only once the waiter is inside wait. */
            MP_ASSERT_OK(mp_condition_acquire(l->c, MP_FOREVER));
            MP_ASSERT_OK(mp_condition_release(l->c));
            mpt_wait_asleep(atomic_load(&l->tid));
        }
        for (int used = 0; used < LANES && n < (long)k.n; used++, n++) {
            lane[used].n = n;
            target = lane[used].c;
            if (n < 0)
                mpt_kat_calibrate(&k);
            else
                mpt_kat_kill_at(&k, (size_t)n);
        }
        for (int i = 0; i < LANES; i++)
            cr_assert(pthread_create(&lane[i].checker, NULL, lane_checker, &lane[i]) == 0);
        for (int i = 0; i < LANES; i++) {
            struct lane *l = &lane[i];
            pthread_join(l->checker, NULL);
            cr_assert(l->ast == MP_OK || l->ast == MP_EOWNERDEAD,
                      "notifier killed before instruction %ld (-1: after the call): the live "
                      "acquire got %s",
                      l->n, mp_status_name(l->ast));
            cr_assert(atomic_load(&l->back) != 0,
                      "notifier killed before instruction %ld (-1: after the call): the waiter "
                      "is still asleep in wait %.3f s after a live notify",
                      l->n, l->late);
            pthread_join(l->waiter, NULL);
            cr_assert(l->wst == MP_OK || l->wst == MP_EOWNERDEAD,
                      "notifier killed before instruction %ld (-1: after the call): wait "
                      "returned %s",
                      l->n, mp_status_name(l->wst));
            owner_dead += (l->ast == MP_EOWNERDEAD) + (l->wst == MP_EOWNERDEAD);
            mp_condition_free(l->c);
        }
    }
    cr_log_info("acquire + notify swept over %zu instructions; the lock was taken over from the "
                "dead notifier %d times",
                k.n, owner_dead);
    mpt_kat_free(&k);
}
