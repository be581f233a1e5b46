/* Semaphore and BoundedSemaphore: counting, timeouts, over-release, and a
 * limit that holds across processes. */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "mpt.h"

static unsigned value_of(mp_semaphore *s)
{
    unsigned v = 12345;
    MP_ASSERT_OK(mp_semaphore_value(s, &v));
    return v;
}

MPT_TEST(semaphore, SEM_ACQUIRE_RELEASE,
         "SEM-ACQUIRE-RELEASE: Semaphore(2) admits two acquires, the third times out; release "
         "gives one back")
{
    mp_semaphore *s = NULL;
    MP_ASSERT_OK(mp_semaphore_new(&s, 2));
    cr_assert_eq(value_of(s), 2);
    MPT_ASSERT_PROMPT(mp_semaphore_acquire(s, MP_FOREVER), MP_OK);
    MPT_ASSERT_PROMPT(mp_semaphore_acquire(s, MP_NOWAIT), MP_OK);
    cr_assert_eq(value_of(s), 0);
    MPT_ASSERT_PROMPT(mp_semaphore_acquire(s, MP_NOWAIT), MP_TIMEOUT);
    MP_ASSERT_OK(mp_semaphore_release(s));
    cr_assert_eq(value_of(s), 1);
    MP_ASSERT_OK(mp_semaphore_acquire(s, MP_NOWAIT));
    MP_ASSERT_OK(mp_semaphore_release(s));
    MP_ASSERT_OK(mp_semaphore_release(s));
    cr_assert_eq(value_of(s), 2);
    mp_semaphore_free(s);
}

MPT_TEST(semaphore, SEM_UNBOUNDED_RELEASE,
         "SEM-UNBOUNDED-RELEASE: a plain Semaphore may be released above its initial value")
{
    mp_semaphore *s = NULL;
    MP_ASSERT_OK(mp_semaphore_new(&s, 0));
    cr_assert_eq(value_of(s), 0);
    for (int i = 0; i < 3; i++)
        MP_ASSERT_OK(mp_semaphore_release(s));
    cr_assert_eq(value_of(s), 3);
    mp_semaphore_free(s);
}

MPT_TEST(semaphore, SEM_ACQUIRE_TIMEOUT,
         "SEM-ACQUIRE-TIMEOUT: acquire(t) at value 0 is MP_TIMEOUT after t, never earlier; 0 and "
         "negative return at once")
{
    mp_semaphore *s = NULL;
    MP_ASSERT_OK(mp_semaphore_new(&s, 0));
    MPT_ASSERT_TIMED(mp_semaphore_acquire(s, 0.2), MP_TIMEOUT, 0.2);
    MPT_ASSERT_PROMPT(mp_semaphore_acquire(s, MP_NOWAIT), MP_TIMEOUT);
    MPT_ASSERT_PROMPT(mp_semaphore_acquire(s, -1.0), MP_TIMEOUT);
    cr_assert_eq(value_of(s), 0);
    mp_semaphore_free(s);
}

struct waiter {
    mp_semaphore *s;
    mp_event *started;
    mp_status got;
};

static void *acquire_thread(void *arg)
{
    struct waiter *w = arg;
    mp_event_set(w->started);
    w->got = mp_semaphore_acquire(w->s, 10.0);
    return NULL;
}

MPT_TEST(semaphore, SEM_RELEASE_WAKES,
         "SEM-RELEASE-WAKES: release wakes a thread blocked in acquire, which takes the unit")
{
    struct waiter w = {.got = MP_ENOTSUP};
    MP_ASSERT_OK(mp_semaphore_new(&w.s, 0));
    MP_ASSERT_OK(mp_event_new(&w.started));
    pthread_t t;
    cr_assert(pthread_create(&t, NULL, acquire_thread, &w) == 0);
    MP_ASSERT_OK(mp_event_wait(w.started, 5.0));
    MP_ASSERT_OK(mp_semaphore_release(w.s));
    pthread_join(t, NULL);
    MP_ASSERT_STATUS(w.got, MP_OK);
    cr_assert_eq(value_of(w.s), 0);
    mp_event_free(w.started);
    mp_semaphore_free(w.s);
}

MPT_TEST(semaphore, BSEM_OVER_RELEASE,
         "BSEM-OVER-RELEASE: releasing a BoundedSemaphore above its initial value is MP_ESTATE and "
         "changes nothing")
{
    mp_semaphore *s = NULL;
    MP_ASSERT_OK(mp_bounded_semaphore_new(&s, 2));
    MP_ASSERT_STATUS(mp_semaphore_release(s), MP_ESTATE);
    cr_assert_eq(value_of(s), 2);
    MP_ASSERT_OK(mp_semaphore_acquire(s, MP_NOWAIT));
    MP_ASSERT_OK(mp_semaphore_release(s));
    MP_ASSERT_STATUS(mp_semaphore_release(s), MP_ESTATE);
    cr_assert_eq(value_of(s), 2);
    mp_semaphore_free(s);
}

MPT_TEST(semaphore, SEM_NULL_ARGS,
         "SEM-NULL-ARGS: NULL handles and outputs and a NaN timeout are MP_EINVAL")
{
    mp_semaphore *s = NULL;
    unsigned v;
    MP_ASSERT_STATUS(mp_semaphore_new(NULL, 1), MP_EINVAL);
    MP_ASSERT_STATUS(mp_bounded_semaphore_new(NULL, 1), MP_EINVAL);
    MP_ASSERT_STATUS(mp_semaphore_acquire(NULL, 0), MP_EINVAL);
    MP_ASSERT_STATUS(mp_semaphore_release(NULL), MP_EINVAL);
    MP_ASSERT_STATUS(mp_semaphore_value(NULL, &v), MP_EINVAL);
    MP_ASSERT_OK(mp_semaphore_new(&s, 1));
    MP_ASSERT_STATUS(mp_semaphore_value(s, NULL), MP_EINVAL);
    MP_ASSERT_STATUS(mp_semaphore_acquire(s, NAN), MP_EINVAL);
    cr_assert_eq(value_of(s), 1);
    mp_semaphore_free(s);
    mp_semaphore_free(NULL);
}

/* Several children pass through a Semaphore(2); a counter in memory they all
 * map records how many are inside at once. */
struct shared {
    _Atomic int inside, most, passes;
};

struct limit_arg {
    mp_semaphore *s;
    struct shared *sh;
};

static int child_limit(void *arg)
{
    struct limit_arg *a = arg;
    for (int i = 0; i < 200; i++) {
        if (mp_semaphore_acquire(a->s, 10.0) != MP_OK)
            return 1;
        int n = atomic_fetch_add(&a->sh->inside, 1) + 1;
        int m = atomic_load(&a->sh->most);
        while (n > m && !atomic_compare_exchange_weak(&a->sh->most, &m, n))
            ;
        sched_yield();
        atomic_fetch_sub(&a->sh->inside, 1);
        atomic_fetch_add(&a->sh->passes, 1);
        if (mp_semaphore_release(a->s) != MP_OK)
            return 2;
    }
    return 0;
}

MPT_TEST(semaphore, SEM_CROSS_PROCESS_LIMIT,
         "SEM-CROSS-PROCESS-LIMIT: six processes sharing a Semaphore(2) are never more than two "
         "inside at once")
{
    struct shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                             -1, 0);
    cr_assert(sh != MAP_FAILED);
    struct limit_arg a = {.sh = sh};
    MP_ASSERT_OK(mp_bounded_semaphore_new(&a.s, 2));
    mp_process *p[6];
    for (int i = 0; i < 6; i++)
        p[i] = mpt_start(child_limit, &a);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(mpt_join(p[i]), 0, "child %d failed", i);
    cr_assert_eq(atomic_load(&sh->passes), 6 * 200);
    cr_assert(atomic_load(&sh->most) >= 1 && atomic_load(&sh->most) <= 2, "%d inside at once",
              atomic_load(&sh->most));
    cr_assert_eq(value_of(a.s), 2);
    mp_semaphore_free(a.s);
    munmap(sh, sizeof *sh);
}

/* ------------------------------------------------------ killed processes */

struct semkid {
    mp_semaphore *s;
    mp_event *ready;
};

/* Says it is about to block, then blocks in acquire: the first child is
 * killed there, the second is served by a release. */
static int child_acquire(void *arg)
{
    struct semkid *k = arg;
    mp_event_set(k->ready);
    return (int)mp_semaphore_acquire(k->s, 5.0);
}

/* Takes a unit, says so, and keeps it until it is killed. */
static int child_hold_unit(void *arg)
{
    struct semkid *k = arg;
    if (mp_semaphore_acquire(k->s, MP_NOWAIT) != MP_OK)
        return 1;
    mp_event_set(k->ready);
    for (;;)
        pause();
}

/* Starts fn, and returns once the child said so (and, when `asleep`, once
 * the kernel shows it asleep in the call that followed). */
static mp_process *start_ready(mp_target_fn fn, struct semkid *k, bool asleep)
{
    MP_ASSERT_OK(mp_event_clear(k->ready));
    mp_process *p = mpt_start(fn, k);
    MP_ASSERT_OK(mp_event_wait(k->ready, 10.0));
    if (asleep)
        mpt_wait_asleep(mpt_pid(p));
    return p;
}

MPT_TEST(semaphore, SEM_KILLED_WAITER,
         "SEM-KILLED-WAITER: a process SIGKILLed while blocked in acquire takes no unit; a later "
         "release serves a live waiter")
{
    struct semkid k = {0};
    MP_ASSERT_OK(mp_semaphore_new(&k.s, 0));
    MP_ASSERT_OK(mp_event_new(&k.ready));
    mp_process *dead = start_ready(child_acquire, &k, true);
    MP_ASSERT_OK(mp_process_kill(dead));
    cr_assert_eq(mpt_join(dead), -SIGKILL);
    cr_assert_eq(value_of(k.s), 0);
    /* With nobody waiting, the released unit stays there. */
    MPT_ASSERT_PROMPT(mp_semaphore_release(k.s), MP_OK);
    cr_assert_eq(value_of(k.s), 1);
    MPT_ASSERT_PROMPT(mp_semaphore_acquire(k.s, MP_NOWAIT), MP_OK);
    /* With a live waiter asleep, one release wakes it. */
    mp_process *live = start_ready(child_acquire, &k, true);
    double t0 = mpt_now();
    MPT_ASSERT_PROMPT(mp_semaphore_release(k.s), MP_OK);
    cr_assert_eq(mpt_join(live), MP_OK, "the live waiter was not served");
    cr_assert(mpt_now() - t0 < mpt_slack(2.0), "the live waiter took %.3f s", mpt_now() - t0);
    cr_assert_eq(value_of(k.s), 0);
    mp_event_free(k.ready);
    mp_semaphore_free(k.s);
}

MPT_TEST(semaphore, SEM_KILLED_HOLDER,
         "SEM-KILLED-HOLDER: a unit taken by a process that is then killed is lost (no owner) "
         "until some process releases one")
{
    struct semkid k = {0};
    MP_ASSERT_OK(mp_semaphore_new(&k.s, 2));
    MP_ASSERT_OK(mp_event_new(&k.ready));
    mp_process *p = start_ready(child_hold_unit, &k, false);
    cr_assert_eq(value_of(k.s), 1);
    MP_ASSERT_OK(mp_process_kill(p));
    cr_assert_eq(mpt_join(p), -SIGKILL);
    cr_assert_eq(value_of(k.s), 1, "the dead holder's unit came back");
    MPT_ASSERT_PROMPT(mp_semaphore_acquire(k.s, MP_NOWAIT), MP_OK);
    MPT_ASSERT_TIMED(mp_semaphore_acquire(k.s, 0.1), MP_TIMEOUT, 0.1);
    MP_ASSERT_OK(mp_semaphore_release(k.s)); /* on the dead holder's behalf */
    MPT_ASSERT_PROMPT(mp_semaphore_acquire(k.s, MP_NOWAIT), MP_OK);
    cr_assert_eq(value_of(k.s), 0);
    mp_event_free(k.ready);
    mp_semaphore_free(k.s);
}

MPT_TEST(semaphore, BSEM_KILLED_HOLDER_RELEASE,
         "BSEM-KILLED-HOLDER-RELEASE: a survivor may release the unit of a killed BoundedSemaphore "
         "holder; one more release is MP_ESTATE")
{
    struct semkid k = {0};
    MP_ASSERT_OK(mp_bounded_semaphore_new(&k.s, 1));
    MP_ASSERT_OK(mp_event_new(&k.ready));
    mp_process *p = start_ready(child_hold_unit, &k, false);
    MP_ASSERT_OK(mp_process_kill(p));
    cr_assert_eq(mpt_join(p), -SIGKILL);
    cr_assert_eq(value_of(k.s), 0);
    MPT_ASSERT_PROMPT(mp_semaphore_acquire(k.s, MP_NOWAIT), MP_TIMEOUT);
    MPT_ASSERT_PROMPT(mp_semaphore_release(k.s), MP_OK);
    cr_assert_eq(value_of(k.s), 1);
    MPT_ASSERT_PROMPT(mp_semaphore_release(k.s), MP_ESTATE);
    cr_assert_eq(value_of(k.s), 1);
    mp_event_free(k.ready);
    mp_semaphore_free(k.s);
}

/* SEM-RELEASE-WAKES-PROMPT: without the wake-up a waiter would only find the
 * unit at its next look (a liveness check, a poll), tenths of a second later
 * in ref; the median over 15 hand-offs from release() to the sleeping
 * waiter's return must be far below that. */
static mp_status ps_acquire(void *s) { return mp_semaphore_acquire(s, 30.0); }

static void ps_release(void *s) { MP_ASSERT_OK(mp_semaphore_release(s)); }

MPT_TEST(semaphore, SEM_RELEASE_WAKES_PROMPT,
         "SEM-RELEASE-WAKES-PROMPT: release wakes a thread asleep in acquire at once (median "
         "hand-off far below a polling period)")
{
    mp_semaphore *sem = NULL;
    MP_ASSERT_OK(mp_semaphore_new(&sem, 0));
    mpt_prompt h = {.arg = sem, .wait = ps_acquire, .wake = ps_release, .want = MP_OK};
    double median = mpt_prompt_median(&h);
    cr_assert_eq(value_of(sem), 0);
    cr_assert(median < MPT_PROMPT_MEDIAN_S,
              "median hand-off %.4f s: release did not wake the sleeping waiter", median);
    mp_semaphore_free(sem);
}

/* SEM-RELEASER-KILLED-ANYTIME: a releaser killed at any instruction of
 * release (here: before each one in turn, mpt_kat) must not leave a thread
 * asleep in acquire while the unit it released is there.  After each kill: a
 * unit there (value 1), or a waiter already back, means the release
 * happened, and the waiter must have the unit within a bound, with no other
 * release to wake it; otherwise the release did not happen (or the waiter
 * took the unit and is on its way out, which a later round sees) and the
 * sweep goes on with the same waiter.  The calibration (a release run to its
 * end) and a live release after the sweep must wake their waiters too. */
#define KILLED_WAIT 30.0 /* the waiter's own timeout: beyond the whole sweep */

static mp_status kw_acquire(void *s) { return mp_semaphore_acquire(s, KILLED_WAIT); }

/* A thread asleep in acquire on s. */
static void kwaiter_start(mpt_sleeper *w, mp_semaphore *s)
{
    *w = (mpt_sleeper){.call = kw_acquire, .arg = s};
    mpt_sleeper_start(w);
}

/* The waiter must be back with MP_OK within the bound after t0 (a failure
 * shows then, not at its timeout); then any unit it did not need (it had one
 * from an earlier round) is taken back, so that the value is 0 again. */
static void kwaiter_end(mpt_sleeper *w, double t0, long n, const char *how)
{
    cr_assert(mpt_sleeper_wait(w, t0 + mpt_slack(1.0)),
              "releaser killed before instruction %ld: the waiter is still asleep in acquire "
              "%.3f s after %s, the Semaphore at %u",
              n, mpt_now() - t0, how, value_of(w->arg));
    MP_ASSERT_STATUS(w->st, MP_OK);
    while (mp_semaphore_acquire(w->arg, MP_NOWAIT) == MP_OK)
        ;
}

static int op_release(void *arg)
{
    mp_semaphore_release(arg);
    return 0;
}

MPT_TEST(semaphore, SEM_RELEASER_KILLED_ANYTIME,
         "SEM-RELEASER-KILLED-ANYTIME: a releaser SIGKILLed at any instruction of release never "
         "leaves a thread asleep in acquire while the unit it released is there")
{
    mpt_sleeper w;
    mp_semaphore *s = NULL;
    MP_ASSERT_OK(mp_semaphore_new(&s, 1));
    /* First calls made here, not in each child: with a shared library, the
     * children run the same instructions every time. */
    MP_ASSERT_OK(mp_semaphore_acquire(s, MP_NOWAIT));
    MP_ASSERT_OK(mp_semaphore_release(s));
    MP_ASSERT_OK(mp_semaphore_acquire(s, MP_NOWAIT));
    mpt_kat k = {.call = op_release, .arg = s};
    kwaiter_start(&w, s);
    mpt_kat_calibrate(&k);
    kwaiter_end(&w, mpt_now(), (long)k.n, "release returned");
    kwaiter_start(&w, s);
    int landed = 0;
    size_t missed = 0;
    for (size_t i = 0; i < k.n; i++) {
        int r = mpt_kat_kill_at(&k, i);
        missed += r == MPT_KAT_MISSED;
        unsigned v = value_of(s);
        cr_assert(v <= 1, "value %u after one release", v);
        double t0 = mpt_now();
        if (v == 1 || atomic_load(&w.back) != 0) {
            landed++;
            kwaiter_end(&w, t0, (long)i, "the releaser's death");
        } else if (r == MPT_KAT_MISSED) {
            kwaiter_end(&w, t0, (long)i, "release returned");
        } else {
            continue; /* not released (or taken, the waiter on its way): sweep on */
        }
        kwaiter_start(&w, s);
    }
    double t0 = mpt_now();
    MP_ASSERT_OK(mp_semaphore_release(s));
    kwaiter_end(&w, t0, (long)k.n, "a live release()");
    cr_log_info("release swept over %zu instructions, %d kills after the unit was added, %zu "
                "trials ran another path",
                k.n, landed, missed);
    mpt_kat_free(&k);
    mp_semaphore_free(s);
}
