/* Semaphore and BoundedSemaphore: counting, timeouts, over-release, and a
 * limit that holds across processes. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/mman.h>

#include "mpt.h"

static unsigned value_of(mp_semaphore *s)
{
    unsigned v = 12345;
    MP_ASSERT_OK(mp_semaphore_value(s, &v));
    return v;
}

MPT_TEST(semaphore, SEM_ACQUIRE_RELEASE, "SEM-ACQUIRE-RELEASE: Semaphore(2) admits two acquires, the third times out; release gives one back")
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

MPT_TEST(semaphore, SEM_UNBOUNDED_RELEASE, "SEM-UNBOUNDED-RELEASE: a plain Semaphore may be released above its initial value")
{
    mp_semaphore *s = NULL;
    MP_ASSERT_OK(mp_semaphore_new(&s, 0));
    cr_assert_eq(value_of(s), 0);
    for (int i = 0; i < 3; i++)
        MP_ASSERT_OK(mp_semaphore_release(s));
    cr_assert_eq(value_of(s), 3);
    mp_semaphore_free(s);
}

MPT_TEST(semaphore, SEM_ACQUIRE_TIMEOUT, "SEM-ACQUIRE-TIMEOUT: acquire(t) at value 0 is MP_TIMEOUT after t, never earlier; 0 and negative return at once")
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

MPT_TEST(semaphore, SEM_RELEASE_WAKES, "SEM-RELEASE-WAKES: release wakes a thread blocked in acquire, which takes the unit")
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

MPT_TEST(semaphore, BSEM_OVER_RELEASE, "BSEM-OVER-RELEASE: releasing a BoundedSemaphore above its initial value is MP_ESTATE and changes nothing")
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

MPT_TEST(semaphore, SEM_NULL_ARGS, "SEM-NULL-ARGS: NULL handles and outputs and a NaN timeout are MP_EINVAL")
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

MPT_TEST(semaphore, SEM_CROSS_PROCESS_LIMIT, "SEM-CROSS-PROCESS-LIMIT: six processes sharing a Semaphore(2) are never more than two inside at once")
{
    struct shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
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
