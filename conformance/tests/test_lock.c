/* Lock: acquire/release, timeouts, misuse, sharing between processes, owner
 * death, and the tutorial's §15 example.  Children report through their exit
 * code (never cr_assert in a child); ordering uses Events, never sleeps. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "mpt.h"

static mp_lock *new_lock(void)
{
    mp_lock *l = NULL;
    MP_ASSERT_OK(mp_lock_new(&l));
    cr_assert(l != NULL);
    return l;
}

MPT_TEST(lock, LOCK_ACQUIRE_RELEASE,
         "LOCK-ACQUIRE-RELEASE: acquire takes a free Lock, release frees it")
{
    mp_lock *l = new_lock();
    cr_assert(!mpt_locked(l));
    MPT_ASSERT_PROMPT(mp_lock_acquire(l, MP_FOREVER), MP_OK);
    cr_assert(mpt_locked(l));
    MP_ASSERT_OK(mp_lock_release(l));
    cr_assert(!mpt_locked(l));
    MP_ASSERT_OK(mp_lock_acquire(l, MP_NOWAIT));
    MP_ASSERT_OK(mp_lock_release(l));
    mp_lock_free(l);
}

MPT_TEST(lock, LOCK_TRYACQUIRE_HELD,
         "LOCK-TRYACQUIRE-HELD: acquire(0) or acquire(-1) of a held Lock is MP_TIMEOUT at once, "
         "even for the holder")
{
    mp_lock *l = new_lock();
    MP_ASSERT_OK(mp_lock_acquire(l, MP_FOREVER));
    MPT_ASSERT_PROMPT(mp_lock_acquire(l, MP_NOWAIT), MP_TIMEOUT);
    MPT_ASSERT_PROMPT(mp_lock_acquire(l, -1.0), MP_TIMEOUT);
    MPT_ASSERT_PROMPT(mp_lock_acquire(l, -INFINITY), MP_TIMEOUT);
    cr_assert(mpt_locked(l));
    MP_ASSERT_OK(mp_lock_release(l));
    mp_lock_free(l);
}

MPT_TEST(
    lock, LOCK_ACQUIRE_TIMEOUT,
    "LOCK-ACQUIRE-TIMEOUT: acquire(t) of a held Lock is MP_TIMEOUT after t seconds, never earlier")
{
    mp_lock *l = new_lock();
    MP_ASSERT_OK(mp_lock_acquire(l, MP_FOREVER));
    MPT_ASSERT_TIMED(mp_lock_acquire(l, 0.2), MP_TIMEOUT, 0.2);
    MPT_ASSERT_TIMED(mp_lock_acquire(l, 0.01), MP_TIMEOUT, 0.01);
    MP_ASSERT_OK(mp_lock_release(l));
    mp_lock_free(l);
}

MPT_TEST(lock, LOCK_RELEASE_UNLOCKED,
         "LOCK-RELEASE-UNLOCKED: release of an unlocked Lock is MP_ESTATE")
{
    mp_lock *l = new_lock();
    MP_ASSERT_STATUS(mp_lock_release(l), MP_ESTATE);
    MP_ASSERT_OK(mp_lock_acquire(l, MP_FOREVER));
    MP_ASSERT_OK(mp_lock_release(l));
    MP_ASSERT_STATUS(mp_lock_release(l), MP_ESTATE);
    cr_assert(!mpt_locked(l));
    mp_lock_free(l);
}

MPT_TEST(lock, LOCK_NULL_ARGS,
         "LOCK-NULL-ARGS: NULL handles and outputs are MP_EINVAL; free(NULL) is a no-op")
{
    bool b;
    mp_lock *l = new_lock();
    MP_ASSERT_STATUS(mp_lock_new(NULL), MP_EINVAL);
    MP_ASSERT_STATUS(mp_rlock_new(NULL), MP_EINVAL);
    MP_ASSERT_STATUS(mp_lock_acquire(NULL, 0), MP_EINVAL);
    MP_ASSERT_STATUS(mp_lock_release(NULL), MP_EINVAL);
    MP_ASSERT_STATUS(mp_lock_locked(NULL, &b), MP_EINVAL);
    MP_ASSERT_STATUS(mp_lock_locked(l, NULL), MP_EINVAL);
    mp_lock_free(NULL);
    mp_lock_free(l);
}

MPT_TEST(lock, LOCK_NAN_TIMEOUT,
         "LOCK-NAN-TIMEOUT: acquire with a NaN timeout is MP_EINVAL and leaves the Lock as it was")
{
    mp_lock *l = new_lock();
    MP_ASSERT_STATUS(mp_lock_acquire(l, NAN), MP_EINVAL);
    cr_assert(!mpt_locked(l));
    MP_ASSERT_OK(mp_lock_acquire(l, MP_FOREVER));
    MP_ASSERT_STATUS(mp_lock_acquire(l, NAN), MP_EINVAL);
    MP_ASSERT_OK(mp_lock_release(l));
    mp_lock_free(l);
}

/* ------------------------------------------------------------- threads */

struct counter {
    mp_lock *l;
    long n; /* guarded by l only: a data race if the Lock failed */
    int bad;
};

static void *count_thread(void *arg)
{
    struct counter *c = arg;
    for (int i = 0; i < 20000; i++) {
        if (mp_lock_acquire(c->l, MP_FOREVER) != MP_OK)
            c->bad = 1;
        long v = c->n;
        if ((i & 255) == 0)
            sched_yield(); /* invite a competitor into the section */
        c->n = v + 1;
        if (mp_lock_release(c->l) != MP_OK)
            c->bad = 1;
    }
    return NULL;
}

MPT_TEST(lock, LOCK_MUTEX_THREADS,
         "LOCK-MUTEX-THREADS: 4 threads contending for a Lock never lose an update")
{
    struct counter c = {.l = new_lock()};
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        cr_assert(pthread_create(&t[i], NULL, count_thread, &c) == 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(c.bad, 0);
    cr_assert_eq(c.n, 4 * 20000L);
    cr_assert(!mpt_locked(c.l));
    mp_lock_free(c.l);
}

struct waiter {
    mp_lock *l;
    mp_event *started;
    mp_status got;
};

static void *acquire_thread(void *arg)
{
    struct waiter *w = arg;
    mp_event_set(w->started);
    w->got = mp_lock_acquire(w->l, 10.0);
    if (w->got == MP_OK)
        w->got = mp_lock_release(w->l);
    return NULL;
}

MPT_TEST(lock, LOCK_RELEASE_WAKES,
         "LOCK-RELEASE-WAKES: release by another thread hands the Lock to a blocked acquirer")
{
    struct waiter w = {.l = new_lock(), .got = MP_ENOTSUP};
    MP_ASSERT_OK(mp_event_new(&w.started));
    MP_ASSERT_OK(mp_lock_acquire(w.l, MP_FOREVER));
    pthread_t t;
    cr_assert(pthread_create(&t, NULL, acquire_thread, &w) == 0);
    MP_ASSERT_OK(mp_event_wait(w.started, 5.0));
    MP_ASSERT_OK(mp_lock_release(w.l));
    pthread_join(t, NULL);
    MP_ASSERT_STATUS(w.got, MP_OK);
    cr_assert(!mpt_locked(w.l));
    mp_event_free(w.started);
    mp_lock_free(w.l);
}

/* ------------------------------------------------------------ processes */

static int child_try(void *arg)
{
    mp_lock *l = arg;
    if (mp_lock_acquire(l, MP_NOWAIT) != MP_TIMEOUT)
        return 1;
    double t0 = mpt_now();
    if (mp_lock_acquire(l, 0.1) != MP_TIMEOUT || mpt_now() - t0 < 0.1)
        return 2;
    return 0;
}

MPT_TEST(lock, LOCK_CROSS_PROCESS_HELD,
         "LOCK-CROSS-PROCESS-HELD: a Lock held by the parent makes a child's acquire(0) and "
         "acquire(0.1) return MP_TIMEOUT")
{
    mp_lock *l = new_lock();
    MP_ASSERT_OK(mp_lock_acquire(l, MP_FOREVER));
    cr_assert_eq(mpt_join(mpt_start(child_try, l)), 0);
    MP_ASSERT_OK(mp_lock_release(l));
    mp_lock_free(l);
}

static int child_release(void *arg) { return (int)mp_lock_release(arg); }

MPT_TEST(lock, LOCK_RELEASE_OTHER_PROCESS,
         "LOCK-RELEASE-OTHER-PROCESS: a child may release a Lock the parent acquired")
{
    mp_lock *l = new_lock();
    MP_ASSERT_OK(mp_lock_acquire(l, MP_FOREVER));
    cr_assert_eq(mpt_join(mpt_start(child_release, l)), MP_OK);
    cr_assert(!mpt_locked(l));
    MP_ASSERT_OK(mp_lock_acquire(l, MP_NOWAIT));
    MP_ASSERT_OK(mp_lock_release(l));
    mp_lock_free(l);
}

struct holder {
    mp_lock *l;
    mp_event *held;
};

static int child_hold(void *arg)
{
    struct holder *h = arg;
    if (mp_lock_acquire(h->l, MP_FOREVER) != MP_OK)
        return 1;
    mp_event_set(h->held);
    for (;;)
        pause(); /* killed by the parent while holding the lock */
}

MPT_TEST(lock, LOCK_OWNER_DEAD,
         "LOCK-OWNER-DEAD: when the holder is killed, a waiter's acquire returns MP_EOWNERDEAD "
         "within a bounded time and holds the Lock")
{
    struct holder h = {.l = new_lock()};
    MP_ASSERT_OK(mp_event_new(&h.held));
    mp_process *p = mpt_start(child_hold, &h);
    MP_ASSERT_OK(mp_event_wait(h.held, 10.0));
    MP_ASSERT_STATUS(mp_lock_acquire(h.l, MP_NOWAIT), MP_TIMEOUT);
    MP_ASSERT_OK(mp_process_kill(p));
    cr_assert_eq(mpt_join(p), -9);
    double t0 = mpt_now();
    MP_ASSERT_STATUS(mp_lock_acquire(h.l, 30.0), MP_EOWNERDEAD);
    cr_assert(mpt_now() - t0 < mpt_slack(3.0), "took %.3f s to notice", mpt_now() - t0);
    cr_assert(mpt_locked(h.l));
    MP_ASSERT_STATUS(mp_lock_acquire(h.l, MP_NOWAIT), MP_TIMEOUT);
    MP_ASSERT_OK(mp_lock_release(h.l));
    MP_ASSERT_OK(mp_lock_acquire(h.l, MP_NOWAIT));
    MP_ASSERT_OK(mp_lock_release(h.l));
    mp_event_free(h.held);
    mp_lock_free(h.l);
}

MPT_TEST(lock, LOCK_OWNER_DEAD_UNJOINED,
         "LOCK-OWNER-DEAD-UNJOINED: a holder killed but not yet joined (a zombie) is recognised as "
         "dead too")
{
    struct holder h = {.l = new_lock()};
    MP_ASSERT_OK(mp_event_new(&h.held));
    mp_process *p = mpt_start(child_hold, &h);
    MP_ASSERT_OK(mp_event_wait(h.held, 10.0));
    MP_ASSERT_OK(mp_process_kill(p));
    /* No join: the killed holder stays a zombie while we wait for the lock. */
    double t0 = mpt_now();
    MP_ASSERT_STATUS(mp_lock_acquire(h.l, 30.0), MP_EOWNERDEAD);
    cr_assert(mpt_now() - t0 < mpt_slack(3.0), "took %.3f s to notice", mpt_now() - t0);
    MP_ASSERT_OK(mp_lock_release(h.l));
    cr_assert_eq(mpt_join(p), -9);
    mp_event_free(h.held);
    mp_lock_free(h.l);
}

/* LOCK-RELEASE-WAKES-PROMPT: a waiter asleep in acquire() is woken by release(),
 * not left to find the Lock free at some later poll.  The waiter's state is
 * read from /proc until the kernel shows it sleeping, then the Lock is
 * released and the hand-off latency measured; the median of many hand-offs
 * must be far below anything a polling waiter would show (0.1 s slices in
 * ref, and any poll period a wake-up-less implementation might use). */
static void pl_acquire_main(void *l) { MP_ASSERT_OK(mp_lock_acquire(l, 10.0)); }

static mp_status pl_acquire(void *l) { return mp_lock_acquire(l, 30.0); }

static void pl_release_waiter(void *l) { mp_lock_release(l); }

static void pl_release(void *l) { MP_ASSERT_OK(mp_lock_release(l)); }

MPT_TEST(lock, LOCK_RELEASE_WAKES_PROMPT,
         "LOCK-RELEASE-WAKES-PROMPT: release wakes a waiter asleep in acquire at once (median "
         "hand-off far below a polling period)")
{
    mp_lock *l = new_lock();
    mpt_prompt h = {.arg = l,
                    .prepare = pl_acquire_main,
                    .wait = pl_acquire,
                    .after = pl_release_waiter,
                    .wake = pl_release,
                    .want = MP_OK,
                    .rounds = 31};
    double median = mpt_prompt_median(&h);
    cr_assert(median < MPT_PROMPT_MEDIAN_S,
              "median hand-off %.4f s: release did not wake the sleeping waiter", median);
    mp_lock_free(l);
}

/* §15: ten processes print "hello world i" under the lock.  Each line goes
 * out in three write()s with yields between, so without mutual exclusion the
 * pieces of different lines would interleave in the shared file. */
struct hello {
    mp_lock *l;
    int fd;
    int i;
};

static bool put(int fd, const char *s)
{
    size_t n = strlen(s);
    return write(fd, s, n) == (ssize_t)n;
}

static int child_hello(void *arg)
{
    struct hello *h = arg;
    char num[16];
    snprintf(num, sizeof num, "%d", h->i);
    if (mp_lock_acquire(h->l, MP_FOREVER) != MP_OK)
        return 1;
    bool ok = put(h->fd, "hello world ");
    sched_yield();
    ok = ok && put(h->fd, num);
    sched_yield();
    ok = ok && put(h->fd, "\n");
    if (mp_lock_release(h->l) != MP_OK)
        return 2;
    return ok ? 0 : 3;
}

MPT_TEST(lock, LOCK_TUTORIAL_15,
         "LOCK-TUTORIAL-15: ten processes each print \"hello world i\" holding one Lock; no line "
         "is torn")
{
    FILE *f = mpt_tmpfile();
    struct hello h[10];
    mp_process *p[10];
    mp_lock *l = new_lock();
    for (int i = 0; i < 10; i++) {
        h[i] = (struct hello){l, fileno(f), i};
        p[i] = mpt_start(child_hello, &h[i]);
    }
    for (int i = 0; i < 10; i++)
        cr_assert_eq(mpt_join(p[i]), 0, "child %d failed", i);
    rewind(f);
    char line[64];
    int seen[10] = {0}, lines = 0;
    while (fgets(line, sizeof line, f)) {
        int i = -1;
        char end = 0;
        cr_assert(sscanf(line, "hello world %d%c", &i, &end) == 2 && end == '\n' && i >= 0 &&
                      i < 10,
                  "torn or unexpected line: %s", line);
        seen[i]++;
        lines++;
    }
    cr_assert_eq(lines, 10);
    for (int i = 0; i < 10; i++)
        cr_assert_eq(seen[i], 1, "line %d seen %d times", i, seen[i]);
    cr_assert(!mpt_locked(l));
    mp_lock_free(l);
    fclose(f);
}

/* LOCK-OWNER-KILLED-ANYTIME: a holder may die at any instruction of acquire or
 * release -- also between taking the lock and recording itself as the owner
 * -- and a waiter must still get the Lock, at once or by taking it over.  A
 * child loops acquire/release until it is SIGKILLed at a random instant (by
 * its own microsecond timer or by the parent); after each death the parent's
 * bounded acquire must succeed (MP_OK or MP_EOWNERDEAD), never time out. */
#define KILL_ROUNDS 80

static int child_churn(void *arg)
{
    mp_lock *l = arg;
    for (;;) {
        if (mp_lock_acquire(l, MP_FOREVER) != MP_OK)
            return 1;
        if (mp_lock_release(l) != MP_OK)
            return 2;
    }
}

MPT_TEST(lock, LOCK_OWNER_KILLED_ANYTIME,
         "LOCK-OWNER-KILLED-ANYTIME: a holder killed at any instant of acquire/release never "
         "leaves the Lock held for good: a waiter gets it with MP_OK or MP_EOWNERDEAD")
{
    mp_lock *l = new_lock();
    int dead = 0;
    for (int r = 0; r < KILL_ROUNDS; r++) {
        cr_assert_eq(mpt_kill_at_random(child_churn, l, (unsigned)r), -9, "round %d", r);
        double t0 = mpt_now();
        mp_status s = mp_lock_acquire(l, mpt_slack(3.0));
        cr_assert(s == MP_OK || s == MP_EOWNERDEAD,
                  "round %d: acquire after the holder's death: %s (%s) after %.3f s", r,
                  mp_status_name(s), mp_errmsg(), mpt_now() - t0);
        dead += s == MP_EOWNERDEAD;
        MP_ASSERT_STATUS(mp_lock_acquire(l, MP_NOWAIT), MP_TIMEOUT);
        MP_ASSERT_OK(mp_lock_release(l));
        cr_assert(!mpt_locked(l));
    }
    cr_log_info("%d rounds, %d taken over from a dead holder", KILL_ROUNDS, dead);
    mp_lock_free(l);
}
