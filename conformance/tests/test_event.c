/* Event: set/clear/is_set, timeouts, waking every waiter, processes, a
 * setter killed at every instruction of set. */
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "mpt.h"

static bool is_set(mp_event *e)
{
    bool b = true;
    MP_ASSERT_OK(mp_event_is_set(e, &b));
    return b;
}

MPT_TEST(event, EVT_SET_CLEAR,
         "EVT-SET-CLEAR: an Event starts clear; set makes is_set true and wait return MP_OK at "
         "once; clear undoes it")
{
    mp_event *e = NULL;
    MP_ASSERT_OK(mp_event_new(&e));
    cr_assert(!is_set(e));
    MP_ASSERT_OK(mp_event_set(e));
    cr_assert(is_set(e));
    MP_ASSERT_OK(mp_event_set(e)); /* idempotent */
    MPT_ASSERT_PROMPT(mp_event_wait(e, MP_FOREVER), MP_OK);
    MPT_ASSERT_PROMPT(mp_event_wait(e, 0), MP_OK);
    MP_ASSERT_OK(mp_event_clear(e));
    cr_assert(!is_set(e));
    MP_ASSERT_OK(mp_event_clear(e));
    cr_assert(!is_set(e));
    MPT_ASSERT_PROMPT(mp_event_wait(e, 0), MP_TIMEOUT);
    mp_event_free(e);
}

MPT_TEST(event, EVT_WAIT_TIMEOUT,
         "EVT-WAIT-TIMEOUT: wait(t) on a clear Event is MP_TIMEOUT after t, never earlier; 0 and "
         "negative return at once")
{
    mp_event *e = NULL;
    MP_ASSERT_OK(mp_event_new(&e));
    MPT_ASSERT_TIMED(mp_event_wait(e, 0.2), MP_TIMEOUT, 0.2);
    MPT_ASSERT_PROMPT(mp_event_wait(e, MP_NOWAIT), MP_TIMEOUT);
    MPT_ASSERT_PROMPT(mp_event_wait(e, -5.0), MP_TIMEOUT);
    cr_assert(!is_set(e));
    mp_event_free(e);
}

struct waiters {
    mp_event *e;
    mp_semaphore *started;
    mp_status got[4];
    _Atomic pid_t tid[4];
};

struct slot {
    struct waiters *w;
    int i;
};

static void *wait_thread(void *arg)
{
    struct slot *s = arg;
    atomic_store(&s->w->tid[s->i], (pid_t)syscall(SYS_gettid));
    mp_semaphore_release(s->w->started);
    s->w->got[s->i] = mp_event_wait(s->w->e, 10.0);
    return NULL;
}

MPT_TEST(event, EVT_SET_WAKES_ALL,
         "EVT-SET-WAKES-ALL: set wakes every thread blocked in wait, each with MP_OK")
{
    struct waiters w;
    struct slot s[4];
    pthread_t t[4];
    MP_ASSERT_OK(mp_event_new(&w.e));
    MP_ASSERT_OK(mp_semaphore_new(&w.started, 0));
    for (int i = 0; i < 4; i++) {
        w.got[i] = MP_ENOTSUP;
        s[i] = (struct slot){&w, i};
        cr_assert(pthread_create(&t[i], NULL, wait_thread, &s[i]) == 0);
    }
    for (int i = 0; i < 4; i++)
        MP_ASSERT_OK(mp_semaphore_acquire(w.started, 10.0));
    /* All four asleep in wait, so set must wake each (a set that lands
     * while they still spin would pass a set that wakes only one). */
    for (int i = 0; i < 4; i++)
        mpt_wait_asleep(atomic_load(&w.tid[i]));
    MP_ASSERT_OK(mp_event_set(w.e));
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        MP_ASSERT_STATUS(w.got[i], MP_OK);
    }
    mp_semaphore_free(w.started);
    mp_event_free(w.e);
}

MPT_TEST(event, EVT_NULL_ARGS,
         "EVT-NULL-ARGS: NULL handles and outputs and a NaN timeout are MP_EINVAL")
{
    mp_event *e = NULL;
    bool b;
    MP_ASSERT_STATUS(mp_event_new(NULL), MP_EINVAL);
    MP_ASSERT_STATUS(mp_event_set(NULL), MP_EINVAL);
    MP_ASSERT_STATUS(mp_event_clear(NULL), MP_EINVAL);
    MP_ASSERT_STATUS(mp_event_is_set(NULL, &b), MP_EINVAL);
    MP_ASSERT_STATUS(mp_event_wait(NULL, 0), MP_EINVAL);
    MP_ASSERT_OK(mp_event_new(&e));
    MP_ASSERT_STATUS(mp_event_is_set(e, NULL), MP_EINVAL);
    MP_ASSERT_STATUS(mp_event_wait(e, NAN), MP_EINVAL);
    mp_event_free(e);
    mp_event_free(NULL);
}

struct ping {
    mp_event *go, *reply;
};

static int child_ping(void *arg)
{
    struct ping *p = arg;
    if (mp_event_wait(p->go, 10.0) != MP_OK)
        return 1;
    return mp_event_set(p->reply) == MP_OK ? 0 : 2;
}

MPT_TEST(event, EVT_CROSS_PROCESS,
         "EVT-CROSS-PROCESS: an Event set by the parent wakes a waiting child, and one set by the "
         "child wakes the waiting parent")
{
    struct ping p;
    MP_ASSERT_OK(mp_event_new(&p.go));
    MP_ASSERT_OK(mp_event_new(&p.reply));
    mp_process *c = mpt_start(child_ping, &p);
    MP_ASSERT_OK(mp_event_set(p.go));
    MP_ASSERT_OK(mp_event_wait(p.reply, 10.0));
    cr_assert(is_set(p.reply));
    cr_assert_eq(mpt_join(c), 0);
    mp_event_free(p.go);
    mp_event_free(p.reply);
}

/* The child times its own wait: 0 when wait(0.3) was MP_TIMEOUT no earlier
 * than 0.3 s and the next wait(10) saw the parent's set, else a code. */
static int child_timed_wait(void *arg)
{
    struct ping *p = arg;
    double t0 = mpt_now();
    mp_status s = mp_event_wait(p->go, 0.3);
    double el = mpt_now() - t0;
    if (mp_event_set(p->reply) != MP_OK)
        return 3;
    if (s != MP_TIMEOUT)
        return 1;
    if (el < 0.3)
        return 2;
    return mp_event_wait(p->go, 10.0) == MP_OK ? 0 : 4;
}

MPT_TEST(event, EVT_WAIT_TIMEOUT_CHILD,
         "EVT-WAIT-TIMEOUT-CHILD: a child's wait(t) on an Event nobody sets is MP_TIMEOUT after t, "
         "never earlier, and its next wait sees a set made afterwards")
{
    struct ping p;
    MP_ASSERT_OK(mp_event_new(&p.go));
    MP_ASSERT_OK(mp_event_new(&p.reply));
    mp_process *c = mpt_start(child_timed_wait, &p);
    /* Set only once the child's timed wait is over (it sets reply then). */
    MP_ASSERT_OK(mp_event_wait(p.reply, 30.0));
    MP_ASSERT_OK(mp_event_set(p.go));
    int code = mpt_join(c);
    cr_assert(code != 1, "the child's wait(0.3) was not MP_TIMEOUT");
    cr_assert(code != 2, "the child's wait(0.3) returned early");
    cr_assert_eq(code, 0, "child exit code %d", code);
    mp_event_free(p.go);
    mp_event_free(p.reply);
}

/* EVT-SET-WAKES-PROMPT: without the wake-up a waiter would only notice the
 * set at its next look (a liveness check, a poll), tenths of a second later
 * in ref; the median over 15 rounds of the time from set() until both
 * sleeping waiters have returned must be far below that. */
static void pe_clear(void *e) { MP_ASSERT_OK(mp_event_clear(e)); }

static mp_status pe_wait(void *e) { return mp_event_wait(e, 30.0); }

static void pe_set(void *e) { MP_ASSERT_OK(mp_event_set(e)); }

MPT_TEST(event, EVT_SET_WAKES_PROMPT,
         "EVT-SET-WAKES-PROMPT: set wakes the threads asleep in wait at once (median time to the "
         "last one's return far below a polling period)")
{
    mp_event *e = NULL;
    MP_ASSERT_OK(mp_event_new(&e));
    mpt_prompt h = {.arg = e,
                    .prepare = pe_clear,
                    .wait = pe_wait,
                    .wake = pe_set,
                    .want = MP_OK,
                    .waiters = 2};
    double median = mpt_prompt_median(&h);
    cr_assert(median < MPT_PROMPT_MEDIAN_S,
              "median %.4f s from set to the last waiter's return: set did not wake them all",
              median);
    mp_event_free(e);
}

/* EVT-SETTER-KILLED-ANYTIME: a setter killed at any instruction of set()
 * (here: before each one in turn, mpt_kat) must not leave a waiter asleep on
 * a set Event.  set marks the Event and then wakes; a setter killed between
 * the two must still not strand a thread already asleep in wait.  After each
 * kill: if the Event is set, the waiter must return MP_OK within a bound (on
 * odd instructions after a live process's set(), which finds the flag
 * already set, on even ones by itself); if it is not, the waiter stays and
 * the sweep goes on with it.  The calibration (a set run to its end) and a
 * live set() after the sweep must wake their waiters too. */
#define KILLED_WAIT 30.0 /* the waiter's own timeout: beyond the whole sweep */

static mp_status kw_wait(void *e) { return mp_event_wait(e, KILLED_WAIT); }

/* A new Event, and a thread asleep in wait on it. */
static void kwaiter_start(mpt_sleeper *w)
{
    mp_event *e = NULL;
    MP_ASSERT_OK(mp_event_new(&e));
    *w = (mpt_sleeper){.call = kw_wait, .arg = e};
    mpt_sleeper_start(w);
}

/* The waiter must return MP_OK within the bound after t0 (a failure is
 * reported then, not at the waiter's own timeout); frees its Event. */
static void kwaiter_end(mpt_sleeper *w, double t0, long n, const char *how)
{
    cr_assert(mpt_sleeper_wait(w, t0 + mpt_slack(1.0)),
              "setter killed before instruction %ld, Event set: the waiter is still asleep "
              "in wait %.3f s after %s",
              n, mpt_now() - t0, how);
    MP_ASSERT_STATUS(w->st, MP_OK);
    mp_event_free(w->arg);
}

/* The victim's call: set the waiter's current Event. */
static int op_set(void *arg)
{
    mpt_sleeper *w = arg;
    mp_event_set(w->arg);
    return 0;
}

MPT_TEST(event, EVT_SETTER_KILLED_ANYTIME,
         "EVT-SETTER-KILLED-ANYTIME: a setter SIGKILLed at any instruction of set never leaves a "
         "thread asleep in wait on a set Event; a live set wakes it too")
{
    mpt_sleeper w;
    /* A first call of set made here, not in each child: with a shared
     * library, the children run the same instructions every time. */
    mp_event *e0 = NULL;
    MP_ASSERT_OK(mp_event_new(&e0));
    MP_ASSERT_OK(mp_event_set(e0));
    mp_event_free(e0);
    mpt_kat k = {.call = op_set, .arg = &w};
    kwaiter_start(&w);
    mpt_kat_calibrate(&k);
    cr_assert(is_set(w.arg), "set returned but the Event is not set");
    kwaiter_end(&w, mpt_now(), (long)k.n, "set returned");
    kwaiter_start(&w);
    int landed = 0;
    size_t missed = 0;
    for (size_t i = 0; i < k.n; i++) {
        missed += mpt_kat_kill_at(&k, i) == MPT_KAT_MISSED;
        if (!is_set(w.arg))
            continue; /* killed before it set: the same waiter sleeps on */
        landed++;
        double t0 = mpt_now();
        if (i % 2)
            MP_ASSERT_OK(mp_event_set(w.arg)); /* a live set of a set Event */
        kwaiter_end(&w, t0, (long)i, i % 2 ? "a live set()" : "the setter's death");
        kwaiter_start(&w);
    }
    double t0 = mpt_now();
    MP_ASSERT_OK(mp_event_set(w.arg));
    kwaiter_end(&w, t0, (long)k.n, "a live set()");
    cr_log_info("set swept over %zu instructions, %d kills after the Event was set, %zu "
                "trials ran another path",
                k.n, landed, missed);
    mpt_kat_free(&k);
}
