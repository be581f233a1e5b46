/* Event: set/clear/is_set, timeouts, waking every waiter, processes. */
#include <pthread.h>

#include "mpt.h"

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
