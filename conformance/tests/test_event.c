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
#include "step_kill.h"

static bool is_set(mp_event *e)
{
    bool b = true;
    MP_ASSERT_OK(mp_event_is_set(e, &b));
    return b;
}

MPT_TEST(event, EVT_SET_CLEAR, "EVT-SET-CLEAR: an Event starts clear; set makes is_set true and wait return MP_OK at once; clear undoes it")
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

MPT_TEST(event, EVT_WAIT_TIMEOUT, "EVT-WAIT-TIMEOUT: wait(t) on a clear Event is MP_TIMEOUT after t, never earlier; 0 and negative return at once")
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
};

struct slot {
    struct waiters *w;
    int i;
};

static void *wait_thread(void *arg)
{
    struct slot *s = arg;
    mp_semaphore_release(s->w->started);
    s->w->got[s->i] = mp_event_wait(s->w->e, 10.0);
    return NULL;
}

MPT_TEST(event, EVT_SET_WAKES_ALL, "EVT-SET-WAKES-ALL: set wakes every thread blocked in wait, each with MP_OK")
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
    MP_ASSERT_OK(mp_event_set(w.e));
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        MP_ASSERT_STATUS(w.got[i], MP_OK);
    }
    mp_semaphore_free(w.started);
    mp_event_free(w.e);
}

MPT_TEST(event, EVT_NULL_ARGS, "EVT-NULL-ARGS: NULL handles and outputs and a NaN timeout are MP_EINVAL")
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

MPT_TEST(event, EVT_CROSS_PROCESS, "EVT-CROSS-PROCESS: an Event set by the parent wakes a waiting child, and one set by the child wakes the waiting parent")
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

MPT_TEST(event, EVT_WAIT_TIMEOUT_CHILD, "EVT-WAIT-TIMEOUT-CHILD: a child's wait(t) on an Event nobody sets is MP_TIMEOUT after t, never earlier, and its next wait sees a set made afterwards")
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
#define PROMPT_ROUNDS 15

struct prompt {
    mp_event *e;
    sem_t go, done;
    _Atomic pid_t tid[2];
    _Atomic double back[2]; /* when each waiter returned, this round */
    _Atomic int bad;
};

struct prompt_arg {
    struct prompt *p;
    int i;
};

static void *prompt_thread(void *arg)
{
    struct prompt_arg *a = arg;
    struct prompt *p = a->p;
    atomic_store(&p->tid[a->i], (pid_t)syscall(SYS_gettid));
    for (int k = 0; k < PROMPT_ROUNDS; k++) {
        sem_wait(&p->go);
        if (mp_event_wait(p->e, 30.0) != MP_OK)
            atomic_store(&p->bad, 1);
        atomic_store(&p->back[a->i], mpt_now());
        sem_post(&p->done);
    }
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

MPT_TEST(event, EVT_SET_WAKES_PROMPT, "EVT-SET-WAKES-PROMPT: set wakes the threads asleep in wait at once (median time to the last one's return far below a polling period)")
{
    struct prompt p = {0};
    struct prompt_arg a[2] = {{&p, 0}, {&p, 1}};
    pthread_t t[2];
    double lat[PROMPT_ROUNDS];
    MP_ASSERT_OK(mp_event_new(&p.e));
    sem_init(&p.go, 0, 0);
    sem_init(&p.done, 0, 0);
    for (int i = 0; i < 2; i++)
        cr_assert(pthread_create(&t[i], NULL, prompt_thread, &a[i]) == 0);
    for (int k = 0; k < PROMPT_ROUNDS; k++) {
        MP_ASSERT_OK(mp_event_clear(p.e));
        sem_post(&p.go);
        sem_post(&p.go);
        for (int i = 0; i < 2; i++) {
            while (atomic_load(&p.tid[i]) == 0)
                sched_yield();
            mpt_wait_asleep(atomic_load(&p.tid[i])); /* blocked in wait */
        }
        double t0 = mpt_now();
        MP_ASSERT_OK(mp_event_set(p.e));
        sem_wait(&p.done);
        sem_wait(&p.done);
        double b0 = atomic_load(&p.back[0]), b1 = atomic_load(&p.back[1]);
        lat[k] = (b0 > b1 ? b0 : b1) - t0;
    }
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(atomic_load(&p.bad), 0, "a wait did not return MP_OK");
    qsort(lat, PROMPT_ROUNDS, sizeof lat[0], cmp_double);
    cr_assert(lat[PROMPT_ROUNDS / 2] < 0.02,
              "median %.4f s from set to the last waiter's return: set did not wake them all",
              lat[PROMPT_ROUNDS / 2]);
    sem_destroy(&p.go);
    sem_destroy(&p.done);
    mp_event_free(p.e);
}

/* EVT-SETTER-KILLED-ANYTIME: a setter killed at any instruction of set()
 * (here: at each one in turn, single-stepped) must not leave a waiter
 * asleep on a set Event.  set marks the Event and then wakes; a setter killed
 * between the two must still not strand a thread already asleep in wait.
 * After each kill: if the Event is set, the waiter must return MP_OK within
 * a bound (on odd rounds after a live process's set(), which finds the flag
 * already set, on even rounds by itself); if it is not, the waiter stays and
 * the sweep goes on with it; a live set() ends it at the last round. */
#define KILLED_WAIT 30.0 /* the waiter's own timeout: beyond the whole sweep */

struct kwaiter {
    mp_event *e;
    pthread_t t;
    _Atomic pid_t tid;
    _Atomic double back; /* when wait returned; 0 before */
    mp_status st;
};

static void *kwaiter_thread(void *arg)
{
    struct kwaiter *w = arg;
    atomic_store(&w->tid, (pid_t)syscall(SYS_gettid));
    w->st = mp_event_wait(w->e, KILLED_WAIT);
    atomic_store(&w->back, mpt_now());
    return NULL;
}

static void kwaiter_start(struct kwaiter *w)
{
    MP_ASSERT_OK(mp_event_new(&w->e));
    atomic_store(&w->tid, 0);
    atomic_store(&w->back, 0.0);
    w->st = MP_ENOTSUP;
    cr_assert(pthread_create(&w->t, NULL, kwaiter_thread, w) == 0);
    while (atomic_load(&w->tid) == 0)
        sched_yield();
    mpt_wait_asleep(atomic_load(&w->tid)); /* asleep in wait */
}

/* The waiter must return MP_OK within the bound after t0; it is looked at
 * every millisecond up to the bound (a failure is reported then, not at the
 * waiter's own timeout) and joined. */
static void kwaiter_end(struct kwaiter *w, double t0, long n, const char *how)
{
    while (atomic_load(&w->back) == 0 && mpt_now() - t0 < mpt_slack(1.0)) {
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    double back = atomic_load(&w->back);
    cr_assert(back != 0, "setter killed after %ld instructions, Event set: the waiter is still "
                         "asleep in wait %.3f s after %s", n, mpt_now() - t0, how);
    pthread_join(w->t, NULL);
    MP_ASSERT_STATUS(w->st, MP_OK);
    mp_event_free(w->e);
}

static void op_set(void *arg)
{
    mp_event_set(arg);
}

MPT_TEST(event, EVT_SETTER_KILLED_ANYTIME, "EVT-SETTER-KILLED-ANYTIME: a setter SIGKILLed at any instruction of set never leaves a thread asleep in wait on a set Event; a live set wakes it too")
{
    struct kwaiter w;
    /* A first call of set made here, not in each child: with a shared
     * library, the children step the same instructions every time. */
    MP_ASSERT_OK(mp_event_new(&w.e));
    MP_ASSERT_OK(mp_event_set(w.e));
    mp_event_free(w.e);
    kwaiter_start(&w);
    int landed = 0;
    long n = 0;
    for (bool over = false; !over; n++) {
        cr_assert(n < STEP_KILL_MAX, "set did not return within %d instructions", STEP_KILL_MAX);
        over = step_kill(op_set, w.e, n);
        if (!is_set(w.e)) {
            cr_assert(!over, "set returned but the Event is not set");
            continue; /* killed before it set: the same waiter sleeps on */
        }
        landed++;
        double t0 = mpt_now();
        if (n % 2)
            MP_ASSERT_OK(mp_event_set(w.e)); /* a live set of a set Event */
        kwaiter_end(&w, t0, n, n % 2 ? "a live set()" : "the setter's death");
        if (!over)
            kwaiter_start(&w);
    }
    cr_log_info("set swept over %ld instructions, %d kills after the Event was set",
                n, landed);
}
