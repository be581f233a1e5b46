/* Pool: apply, apply_async with callbacks, the map family, close / join /
 * terminate, and workers that die without hanging the pool.
 *
 * Tasks run in forked workers: what they share with the test lives in
 * MAP_SHARED memory or in synchronisation objects made before the pool. */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mpt.h"

/* ------------------------------------------------------------ fixtures */

typedef struct shared {
    _Atomic int cur, max; /* tasks running now / at most */
    _Atomic int started;  /* tasks that have started */
    _Atomic int pid;      /* a worker's pid, reported by a task */
    _Atomic int inits;    /* initializer runs */
    _Atomic int rendezvous;
    _Atomic int64_t init_arg; /* what the initializer got */
} shared;

static shared *sh;
static mp_event *ev; /* tasks blocked on it run until the test sets it */

static void fixtures_new(bool with_event)
{
    void *m = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert(m != MAP_FAILED);
    sh = m;
    ev = NULL;
    if (with_event)
        MP_ASSERT_OK(mp_event_new(&ev));
}

static void fixtures_free(void)
{
    mp_event_free(ev);
    ev = NULL;
    munmap(sh, sizeof *sh);
    sh = NULL;
}

static mp_pool *pool_new(int n)
{
    mp_pool *p = NULL;
    MP_ASSERT_OK(mp_pool_new(&p, n, NULL, NULL, 0));
    return p;
}

static void pool_end(mp_pool *p)
{
    MP_ASSERT_OK(mp_pool_close(p));
    MP_ASSERT_OK(mp_pool_join(p));
    mp_pool_free(p);
}

static int64_t as_int(const mp_value *v)
{
    int64_t i = -1;
    MP_ASSERT_OK(mp_value_get_int(v, &i));
    return i;
}

static mp_value *ints(int64_t from, int64_t to)
{
    mp_value *l = mp_list();
    for (int64_t i = from; i < to; i++)
        MP_ASSERT_OK(mp_seq_append(l, mp_int(i)));
    return l;
}

static int thread_count(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/task");
    for (struct dirent *e; d && (e = readdir(d));)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

/* --------------------------------------------------------------- tasks */

static mp_status t_sq(const mp_value *a, mp_value **r)
{
    int64_t i;
    mp_status s = mp_value_get_int(a, &i);
    if (s)
        return s;
    *r = mp_int(i * i);
    return MP_OK;
}

static mp_status t_ident(const mp_value *a, mp_value **r)
{
    *r = mp_value_copy(a);
    return *r ? MP_OK : MP_ENOMEM;
}

static mp_status t_none(const mp_value *a, mp_value **r)
{
    (void)a;
    (void)r;
    return MP_OK;
}

static mp_status t_fail(const mp_value *a, mp_value **r)
{
    (void)r;
    int64_t i = -1;
    mp_value_get_int(a, &i);
    return mp_task_error(MP_EINVAL, "bad item %lld", (long long)i);
}

/* squares, but item 3 fails */
static mp_status t_sq_fail3(const mp_value *a, mp_value **r)
{
    int64_t i = -1;
    mp_value_get_int(a, &i);
    if (i == 3)
        return mp_task_error(MP_EINVAL, "three is bad");
    *r = mp_int(i * i);
    return MP_OK;
}

static mp_status t_pid(const mp_value *a, mp_value **r)
{
    (void)a;
    *r = mp_int(getpid());
    return MP_OK;
}

/* waits for the event, then returns its argument */
static mp_status t_wait(const mp_value *a, mp_value **r)
{
    atomic_fetch_add(&sh->started, 1);
    mp_status s = mp_event_wait(ev, MP_FOREVER);
    if (s)
        return s;
    *r = mp_value_copy(a);
    return MP_OK;
}

/* sleeps arg milliseconds (the work being modelled), counting concurrency */
static mp_status t_work(const mp_value *a, mp_value **r)
{
    int64_t ms = 0;
    mp_value_get_int(a, &ms);
    int now = atomic_fetch_add(&sh->cur, 1) + 1;
    for (int m = atomic_load(&sh->max);
         now > m && !atomic_compare_exchange_weak(&sh->max, &m, now);) {
    }
    mpt_sleep((double)ms / 1000);
    atomic_fetch_sub(&sh->cur, 1);
    *r = mp_int(ms);
    return MP_OK;
}

static mp_status t_sigkill(const mp_value *a, mp_value **r)
{
    (void)a;
    (void)r;
    raise(SIGKILL);
    return MP_OK;
}

static mp_status t_abort(const mp_value *a, mp_value **r)
{
    (void)a;
    (void)r;
    abort();
}

/* _exit, not exit: exit() would run the atexit handlers the worker inherited
 * (under ASan, LeakSanitizer's, which changes the exit code). */
static mp_status t_exit3(const mp_value *a, mp_value **r)
{
    (void)a;
    (void)r;
    _exit(3);
}

/* reports its pid, then blocks until killed */
static mp_status t_report_and_block(const mp_value *a, mp_value **r)
{
    (void)a;
    (void)r;
    atomic_store(&sh->pid, getpid());
    mp_event_wait(ev, MP_FOREVER);
    return MP_OK;
}

/* arg (a, b) -> a + b */
static mp_status t_add(const mp_value *a, mp_value **r)
{
    const mp_value *x, *y;
    mp_status s;
    if ((s = mp_seq_get(a, 0, &x)) || (s = mp_seq_get(a, 1, &y)))
        return s;
    *r = mp_int(as_int(x) + as_int(y));
    return MP_OK;
}

/* two tasks that both must run at once to finish */
static mp_status t_meet(const mp_value *a, mp_value **r)
{
    (void)a;
    atomic_fetch_add(&sh->rendezvous, 1);
    for (double t0 = mpt_now(); atomic_load(&sh->rendezvous) < 2;) {
        if (mpt_now() - t0 > 10)
            return mp_task_error(MP_TIMEOUT, "partner never came");
        sched_yield();
    }
    *r = mp_int(getpid());
    return MP_OK;
}

/* (pid, number of tasks this worker ran before) */
static int64_t task_seq;
static mp_status t_pid_seq(const mp_value *a, mp_value **r)
{
    (void)a;
    *r = mp_tuple_of(2, mp_int(getpid()), mp_int(task_seq++));
    return *r ? MP_OK : MP_ENOMEM;
}

static int64_t init_value = -1;
static void init_fn(const mp_value *args)
{
    const mp_value *v = NULL;
    atomic_fetch_add(&sh->inits, 1);
    if (mp_seq_get(args, 0, &v) == MP_OK)
        mp_value_get_int(v, &init_value);
}

static mp_status t_init_value(const mp_value *a, mp_value **r)
{
    (void)a;
    *r = mp_tuple_of(2, mp_int(init_value), mp_int(getpid()));
    return MP_OK;
}

/* ------------------------------------------------------- callbacks */

typedef struct rec {
    pthread_mutex_t mu;
    int n, nerr;
    int64_t vals[64];
    pthread_t thr[64];
    mp_status st[64];
    char msg[256];
} rec;

static void on_result(const mp_value *v, void *ud)
{
    rec *r = ud;
    pthread_mutex_lock(&r->mu);
    int64_t i = -1;
    if (mp_value_type(v) == MP_T_INT)
        mp_value_get_int(v, &i);
    else if (mp_value_type(v) == MP_T_LIST)
        mp_seq_len(v, (size_t *)&i);
    if (r->n < 64) {
        r->thr[r->n] = pthread_self();
        r->vals[r->n] = i;
    }
    r->n++;
    pthread_mutex_unlock(&r->mu);
}

static void on_error(mp_status s, const char *msg, void *ud)
{
    rec *r = ud;
    pthread_mutex_lock(&r->mu);
    if (r->nerr < 64)
        r->st[r->nerr] = s;
    snprintf(r->msg, sizeof r->msg, "%s", msg);
    r->nerr++;
    pthread_mutex_unlock(&r->mu);
}

#define REC_INIT                                                                                   \
    {                                                                                              \
        .mu = PTHREAD_MUTEX_INITIALIZER                                                            \
    }

/* ================================================================ new */

MPT_TEST(pool, POOL_NEW_SIZE, "POOL-NEW-SIZE: Pool(3) has 3 worker processes")
{
    fixtures_new(true);
    mp_pool *p = pool_new(3);
    int n = 0;
    MP_ASSERT_OK(mp_pool_size(p, &n));
    cr_assert_eq(n, 3);
    /* three distinct processes: three tasks that must all run at once */
    mp_async_result *r[3];
    for (int i = 0; i < 3; i++) {
        mp_value *a = mp_int(i);
        MP_ASSERT_OK(mp_pool_apply_async(p, t_wait, a, NULL, NULL, NULL, &r[i]));
        mp_value_free(a);
    }
    for (double t0 = mpt_now(); atomic_load(&sh->started) < 3 && mpt_now() - t0 < 10;)
        sched_yield();
    cr_assert_eq(atomic_load(&sh->started), 3, "3 tasks should run at once in Pool(3)");
    MP_ASSERT_OK(mp_event_set(ev));
    for (int i = 0; i < 3; i++) {
        MP_ASSERT_OK(mp_async_result_wait(r[i], MP_FOREVER));
        mp_async_result_free(r[i]);
    }
    pool_end(p);
    fixtures_free();
}

MPT_TEST(pool, POOL_DEFAULT_SIZE, "POOL-DEFAULT-SIZE: processes <= 0 means mp_cpu_count()")
{
    mp_pool *p = NULL;
    MP_ASSERT_OK(mp_pool_new(&p, 0, NULL, NULL, 0));
    int n = 0;
    MP_ASSERT_OK(mp_pool_size(p, &n));
    cr_assert_eq(n, mp_cpu_count());
    pool_end(p);
}

MPT_TEST(pool, POOL_NULL_ARGS, "POOL-NULL-ARGS: NULL handles and arguments are MP_EINVAL")
{
    mp_value *a = mp_int(1), *r = NULL;
    MP_ASSERT_STATUS(mp_pool_new(NULL, 1, NULL, NULL, 0), MP_EINVAL);
    MP_ASSERT_STATUS(mp_pool_apply(NULL, t_sq, a, &r), MP_EINVAL);
    MP_ASSERT_STATUS(mp_pool_close(NULL), MP_EINVAL);
    MP_ASSERT_STATUS(mp_pool_join(NULL), MP_EINVAL);
    MP_ASSERT_STATUS(mp_async_result_get(NULL, 0, NULL), MP_EINVAL);
    MP_ASSERT_STATUS(mp_imap_next(NULL, 0, &r), MP_EINVAL);
    mp_pool *p = pool_new(1);
    MP_ASSERT_STATUS(mp_pool_apply(p, NULL, a, &r), MP_EINVAL);
    MP_ASSERT_STATUS(mp_pool_apply(p, t_sq, NULL, &r), MP_EINVAL);
    MP_ASSERT_STATUS(mp_pool_apply_async(p, t_sq, a, NULL, NULL, NULL, NULL), MP_EINVAL);
    MP_ASSERT_STATUS(mp_pool_map(p, t_sq, NULL, 0, &r), MP_EINVAL);
    mp_pool_free(NULL);
    mp_async_result_free(NULL);
    mp_imap_free(NULL);
    mp_value_free(a);
    pool_end(p);
}

/* ============================================================== apply */

MPT_TEST(pool, POOL_APPLY_RESULT, "POOL-APPLY-RESULT: apply returns the task's result")
{
    mp_pool *p = pool_new(2);
    for (int i = 0; i < 5; i++) {
        mp_value *a = mp_int(i + 3), *r = NULL;
        MP_ASSERT_OK(mp_pool_apply(p, t_sq, a, &r));
        cr_assert_eq(as_int(r), (i + 3) * (i + 3));
        mp_value_free(a);
        mp_value_free(r);
    }
    pool_end(p);
}

MPT_TEST(pool, POOL_APPLY_NONE, "POOL-APPLY-NONE: a task that stores no result returns None")
{
    mp_pool *p = pool_new(1);
    mp_value *a = mp_int(1), *r = NULL;
    MP_ASSERT_OK(mp_pool_apply(p, t_none, a, &r));
    cr_assert(r != NULL);
    cr_assert_eq(mp_value_type(r), MP_T_NONE);
    mp_value_free(a);
    mp_value_free(r);
    pool_end(p);
}

MPT_TEST(pool, POOL_APPLY_BLOCKS,
         "POOL-APPLY-BLOCKS: apply returns only after the task has finished")
{
    fixtures_new(false);
    mp_pool *p = pool_new(2);
    mp_value *a = mp_int(150), *r = NULL;
    double t0 = mpt_now();
    MP_ASSERT_OK(mp_pool_apply(p, t_work, a, &r));
    cr_assert(mpt_now() - t0 >= 0.150, "apply returned before the task's work was done");
    cr_assert_eq(atomic_load(&sh->cur), 0, "the task was still running when apply returned");
    cr_assert_eq(atomic_load(&sh->max), 1);
    mp_value_free(a);
    mp_value_free(r);
    pool_end(p);
    fixtures_free();
}

MPT_TEST(pool, POOL_APPLY_ERROR,
         "POOL-APPLY-ERROR: a failing task gives MP_EREMOTE with its status name and message")
{
    mp_pool *p = pool_new(1);
    mp_value *a = mp_int(42), *r = NULL;
    MP_ASSERT_STATUS(mp_pool_apply(p, t_fail, a, &r), MP_EREMOTE);
    cr_assert(r == NULL);
    cr_assert(strstr(mp_errmsg(), "bad item 42"), "message: %s", mp_errmsg());
    cr_assert(strstr(mp_errmsg(), "MP_EINVAL"), "message: %s", mp_errmsg());
    /* the pool goes on */
    MP_ASSERT_OK(mp_pool_apply(p, t_sq, a, &r));
    cr_assert_eq(as_int(r), 42 * 42);
    mp_value_free(r);
    mp_value_free(a);
    pool_end(p);
}

MPT_TEST(pool, POOL_VALUES_ROUNDTRIP,
         "POOL-VALUES-ROUNDTRIP: nested values of every type travel to a task and back unchanged")
{
    mp_pool *p = pool_new(1);
    mp_value *d = mp_dict();
    MP_ASSERT_OK(
        mp_dict_set(d, mp_str("k"), mp_list_of(3, mp_none(), mp_bool(true), mp_float(2.5))));
    MP_ASSERT_OK(mp_dict_set(d, mp_int(-7), mp_bytes("\0\1\2", 3)));
    mp_value *a = mp_tuple_of(4, d, mp_str("h\xc3\xa9llo"), mp_int(INT64_MIN), mp_int(INT64_MAX));
    mp_value *r = NULL;
    MP_ASSERT_OK(mp_pool_apply(p, t_ident, a, &r));
    cr_assert(mp_value_equal(a, r));
    cr_assert_eq(mp_value_type(r), MP_T_TUPLE);
    mp_value_free(a);
    mp_value_free(r);
    pool_end(p);
}

MPT_TEST(pool, POOL_LARGE_VALUES,
         "POOL-LARGE-VALUES: arguments and results of several MiB travel intact")
{
    mp_pool *p = pool_new(2);
    size_t n = (size_t)6 << 20;
    unsigned char *buf = malloc(n);
    for (size_t i = 0; i < n; i++)
        buf[i] = (unsigned char)(i * 7 + (i >> 13));
    mp_value *a = mp_bytes(buf, n), *r = NULL;
    for (int k = 0; k < 2; k++) {
        MP_ASSERT_OK(mp_pool_apply(p, t_ident, a, &r));
        cr_assert(mp_value_equal(a, r));
        mp_value_free(r);
    }
    mp_value_free(a);
    free(buf);
    pool_end(p);
}

/* ======================================================== apply_async */

MPT_TEST(pool, POOL_APPLY_ASYNC_RETURNS_AT_ONCE,
         "POOL-APPLY-ASYNC-RETURNS-AT-ONCE: apply_async returns before the task finishes")
{
    fixtures_new(true);
    mp_pool *p = pool_new(1);
    mp_value *a = mp_int(5);
    mp_async_result *r = NULL;
    bool ready = true;
    MPT_ASSERT_PROMPT(mp_pool_apply_async(p, t_wait, a, NULL, NULL, NULL, &r), MP_OK);
    MP_ASSERT_OK(mp_async_result_ready(r, &ready));
    cr_assert(!ready);
    MP_ASSERT_OK(mp_event_set(ev));
    const mp_value *v = NULL;
    MP_ASSERT_OK(mp_async_result_get(r, MP_FOREVER, &v));
    cr_assert_eq(as_int(v), 5);
    MP_ASSERT_OK(mp_async_result_ready(r, &ready));
    cr_assert(ready);
    mp_async_result_free(r);
    mp_value_free(a);
    pool_end(p);
    fixtures_free();
}

MPT_TEST(pool, POOL_APPLY_ASYNC_CALLBACK,
         "POOL-APPLY-ASYNC-CALLBACK: the callback gets the result before get() returns")
{
    mp_pool *p = pool_new(2);
    rec rc = REC_INIT;
    mp_value *a = mp_int(9);
    mp_async_result *r = NULL;
    MP_ASSERT_OK(mp_pool_apply_async(p, t_sq, a, on_result, on_error, &rc, &r));
    const mp_value *v = NULL;
    MP_ASSERT_OK(mp_async_result_get(r, MP_FOREVER, &v));
    pthread_mutex_lock(&rc.mu);
    cr_assert_eq(rc.n, 1, "callback not run before get returned");
    cr_assert_eq(rc.vals[0], 81);
    cr_assert_eq(rc.nerr, 0);
    pthread_mutex_unlock(&rc.mu);
    mp_async_result_free(r);
    mp_value_free(a);
    pool_end(p);
}

MPT_TEST(pool, POOL_ERROR_CALLBACK,
         "POOL-ERROR-CALLBACK: error_callback gets MP_EREMOTE and the task's message; the callback "
         "does not run")
{
    mp_pool *p = pool_new(1);
    rec rc = REC_INIT;
    mp_value *a = mp_int(17);
    mp_async_result *r = NULL;
    MP_ASSERT_OK(mp_pool_apply_async(p, t_fail, a, on_result, on_error, &rc, &r));
    const mp_value *v = NULL;
    MP_ASSERT_STATUS(mp_async_result_get(r, MP_FOREVER, &v), MP_EREMOTE);
    cr_assert(strstr(mp_errmsg(), "bad item 17"));
    pthread_mutex_lock(&rc.mu);
    cr_assert_eq(rc.nerr, 1);
    cr_assert_eq(rc.n, 0);
    cr_assert_eq(rc.st[0], MP_EREMOTE);
    cr_assert(strstr(rc.msg, "bad item 17"), "error_callback message: %s", rc.msg);
    pthread_mutex_unlock(&rc.mu);
    mp_async_result_free(r);
    mp_value_free(a);
    pool_end(p);
}

MPT_TEST(pool, POOL_CALLBACK_ONE_THREAD,
         "POOL-CALLBACK-ONE-THREAD: callbacks run in the parent on one thread (not the caller's), "
         "in completion order")
{
    fixtures_new(false);
    mp_pool *p = pool_new(3);
    rec rc = REC_INIT;
    /* durations chosen so that completion order differs from submission order */
    static const int ms[6] = {400, 10, 250, 100, 600, 50};
    mp_async_result *r[6];
    for (int i = 0; i < 6; i++) {
        mp_value *a = mp_int(ms[i]);
        MP_ASSERT_OK(mp_pool_apply_async(p, t_work, a, on_result, NULL, &rc, &r[i]));
        mp_value_free(a);
    }
    for (int i = 0; i < 6; i++)
        MP_ASSERT_OK(mp_async_result_wait(r[i], MP_FOREVER));
    pthread_mutex_lock(&rc.mu);
    cr_assert_eq(rc.n, 6);
    for (int i = 0; i < 6; i++) {
        cr_assert(pthread_equal(rc.thr[i], rc.thr[0]), "callbacks ran on two threads");
        cr_assert(!pthread_equal(rc.thr[i], pthread_self()));
    }
    /* completion order: Pool(3) runs 400,10,250 first; then 100 (after 10),
     * 600 (after 100), 50 (after 250): ends at 10,110,250,300,400,710 ms */
    static const int64_t want[6] = {10, 100, 250, 50, 400, 600};
    for (int i = 0; i < 6; i++)
        cr_assert_eq(rc.vals[i], want[i], "callback %d got %lld, want %lld", i,
                     (long long)rc.vals[i], (long long)want[i]);
    pthread_mutex_unlock(&rc.mu);
    for (int i = 0; i < 6; i++)
        mp_async_result_free(r[i]);
    pool_end(p);
    fixtures_free();
}

static mp_pool *cb_pool;
static mp_async_result *cb_second;
static mp_status cb_second_status = MP_ENOTSUP;

static void submit_from_callback(const mp_value *v, void *ud)
{
    (void)ud;
    mp_value *a = mp_int(as_int(v) + 1);
    cb_second_status = mp_pool_apply_async(cb_pool, t_sq, a, NULL, NULL, NULL, &cb_second);
    mp_value_free(a);
}

MPT_TEST(pool, POOL_CALLBACK_CAN_SUBMIT,
         "POOL-CALLBACK-CAN-SUBMIT: a callback may submit another task to the pool")
{
    cb_pool = pool_new(2);
    mp_value *a = mp_int(3);
    mp_async_result *r = NULL;
    MP_ASSERT_OK(mp_pool_apply_async(cb_pool, t_sq, a, submit_from_callback, NULL, NULL, &r));
    MP_ASSERT_OK(mp_async_result_wait(r, MP_FOREVER)); /* the callback has run */
    MP_ASSERT_OK(cb_second_status);
    const mp_value *v = NULL;
    MP_ASSERT_OK(mp_async_result_get(cb_second, MP_FOREVER, &v));
    cr_assert_eq(as_int(v), 100);
    mp_async_result_free(cb_second);
    mp_async_result_free(r);
    mp_value_free(a);
    pool_end(cb_pool);
}

static mp_async_result *cb_pending;
static mp_status cb_wait_status = MP_ENOTSUP;

static void wait_in_callback(const mp_value *v, void *ud)
{
    (void)v;
    (void)ud;
    cb_wait_status = mp_async_result_wait(cb_pending, MP_FOREVER);
}

MPT_TEST(pool, POOL_WAIT_IN_CALLBACK,
         "POOL-WAIT-IN-CALLBACK: waiting in a callback on a result not yet ready is MP_ESTATE, not "
         "a deadlock")
{
    fixtures_new(true);
    mp_pool *p = pool_new(2);
    mp_value *a = mp_int(1);
    mp_async_result *r = NULL;
    MP_ASSERT_OK(mp_pool_apply_async(p, t_wait, a, NULL, NULL, NULL, &cb_pending));
    MP_ASSERT_OK(mp_pool_apply_async(p, t_sq, a, wait_in_callback, NULL, NULL, &r));
    MP_ASSERT_OK(mp_async_result_wait(r, 10));
    MP_ASSERT_STATUS(cb_wait_status, MP_ESTATE);
    MP_ASSERT_OK(mp_event_set(ev));
    MP_ASSERT_OK(mp_async_result_wait(cb_pending, MP_FOREVER));
    mp_async_result_free(cb_pending);
    mp_async_result_free(r);
    mp_value_free(a);
    pool_end(p);
    fixtures_free();
}

/* ====================================================== AsyncResult */

MPT_TEST(pool, POOL_GET_TIMEOUT,
         "POOL-GET-TIMEOUT: get(t) of a running task returns MP_TIMEOUT after t, never earlier")
{
    fixtures_new(true);
    mp_pool *p = pool_new(1);
    mp_value *a = mp_int(1);
    mp_async_result *r = NULL;
    const mp_value *v = NULL;
    MP_ASSERT_OK(mp_pool_apply_async(p, t_wait, a, NULL, NULL, NULL, &r));
    MPT_ASSERT_TIMED(mp_async_result_get(r, 0.3, &v), MP_TIMEOUT, 0.3);
    cr_assert(v == NULL);
    MPT_ASSERT_TIMED(mp_async_result_wait(r, 0.2), MP_TIMEOUT, 0.2);
    MP_ASSERT_OK(mp_event_set(ev));
    MP_ASSERT_OK(mp_async_result_get(r, 10, &v));
    cr_assert_eq(as_int(v), 1);
    mp_async_result_free(r);
    mp_value_free(a);
    pool_end(p);
    fixtures_free();
}

MPT_TEST(pool, POOL_GET_TIMEOUT_ZERO_NOT_READY,
         "POOL-GET-TIMEOUT-ZERO-NOT-READY: get(0) (or a negative timeout) of an unfinished task is "
         "MP_TIMEOUT at once; NaN is MP_EINVAL")
{
    fixtures_new(true);
    mp_pool *p = pool_new(1);
    mp_value *a = mp_int(1);
    mp_async_result *r = NULL;
    const mp_value *v = NULL;
    MP_ASSERT_OK(mp_pool_apply_async(p, t_wait, a, NULL, NULL, NULL, &r));
    MPT_ASSERT_PROMPT(mp_async_result_get(r, 0, &v), MP_TIMEOUT);
    MPT_ASSERT_PROMPT(mp_async_result_get(r, -1, &v), MP_TIMEOUT);
    MPT_ASSERT_PROMPT(mp_async_result_wait(r, MP_NOWAIT), MP_TIMEOUT);
    MP_ASSERT_STATUS(mp_async_result_get(r, NAN, &v), MP_EINVAL);
    MP_ASSERT_OK(mp_event_set(ev));
    MP_ASSERT_OK(mp_async_result_wait(r, MP_FOREVER));
    MPT_ASSERT_PROMPT(mp_async_result_get(r, 0, &v), MP_OK);
    mp_async_result_free(r);
    mp_value_free(a);
    pool_end(p);
    fixtures_free();
}

MPT_TEST(pool, POOL_GET_TIMEOUT_MAP_QUEUED,
         "POOL-GET-TIMEOUT-MAP-QUEUED: get(t) of a map_async whose chunk runs blocked, and of an "
         "apply_async queued behind it, return MP_TIMEOUT after t, never earlier; both succeed "
         "once the chunk can finish")
{
    fixtures_new(true);
    mp_pool *p = pool_new(1);
    mp_value *l = ints(5, 6), *a = mp_int(3);
    mp_async_result *m = NULL, *q = NULL;
    const mp_value *v = NULL;
    MP_ASSERT_OK(mp_pool_map_async(p, t_wait, l, 1, NULL, NULL, NULL, &m));
    for (double t0 = mpt_now(); atomic_load(&sh->started) < 1;) {
        cr_assert(mpt_now() - t0 < mpt_slack(10), "the chunk never started");
        MPT_ASSERT_TIMED(mp_async_result_get(m, 0.01, &v), MP_TIMEOUT, 0.01);
    }
    MP_ASSERT_OK(mp_pool_apply_async(p, t_sq, a, NULL, NULL, NULL, &q));
    MPT_ASSERT_TIMED(mp_async_result_get(m, 0.25, &v), MP_TIMEOUT, 0.25);
    MPT_ASSERT_TIMED(mp_async_result_get(q, 0.15, &v), MP_TIMEOUT, 0.15);
    cr_assert(v == NULL);
    bool ready = true;
    MP_ASSERT_OK(mp_async_result_ready(q, &ready));
    cr_assert(!ready, "the task queued behind a blocked one is ready");
    MP_ASSERT_OK(mp_event_set(ev));
    MP_ASSERT_OK(mp_async_result_get(m, 10, &v));
    size_t n = 0;
    MP_ASSERT_OK(mp_seq_len(v, &n));
    cr_assert_eq(n, 1);
    const mp_value *it = NULL;
    MP_ASSERT_OK(mp_seq_get(v, 0, &it));
    cr_assert_eq(as_int(it), 5);
    MP_ASSERT_OK(mp_async_result_get(q, 10, &v));
    cr_assert_eq(as_int(v), 9);
    mp_async_result_free(m);
    mp_async_result_free(q);
    mp_value_free(a);
    mp_value_free(l);
    pool_end(p);
    fixtures_free();
}

MPT_TEST(pool, POOL_GET_SAME_VALUE,
         "POOL-GET-SAME-VALUE: every get of a finished result returns the same borrowed value")
{
    mp_pool *p = pool_new(1);
    mp_value *a = mp_int(6);
    mp_async_result *r = NULL;
    const mp_value *v1 = NULL, *v2 = NULL;
    MP_ASSERT_OK(mp_pool_apply_async(p, t_sq, a, NULL, NULL, NULL, &r));
    MP_ASSERT_OK(mp_async_result_get(r, MP_FOREVER, &v1));
    MP_ASSERT_OK(mp_async_result_get(r, 0, &v2));
    cr_assert(v1 == v2);
    cr_assert_eq(as_int(v2), 36);
    mp_async_result_free(r);
    mp_value_free(a);
    pool_end(p);
}

MPT_TEST(pool, POOL_READY_WAIT,
         "POOL-READY-WAIT: ready() is false while the task runs and true after; wait() returns "
         "MP_OK once it is")
{
    fixtures_new(true);
    mp_pool *p = pool_new(1);
    mp_value *a = mp_int(1);
    mp_async_result *r = NULL;
    bool ready = true;
    MP_ASSERT_OK(mp_pool_apply_async(p, t_wait, a, NULL, NULL, NULL, &r));
    MP_ASSERT_OK(mp_async_result_ready(r, &ready));
    cr_assert(!ready);
    MP_ASSERT_OK(mp_event_set(ev));
    MP_ASSERT_OK(mp_async_result_wait(r, MP_FOREVER));
    MP_ASSERT_OK(mp_async_result_ready(r, &ready));
    cr_assert(ready);
    MP_ASSERT_OK(mp_async_result_wait(r, 0));
    mp_async_result_free(r);
    mp_value_free(a);
    pool_end(p);
    fixtures_free();
}

MPT_TEST(pool, POOL_SUCCESSFUL_NOT_READY,
         "POOL-SUCCESSFUL-NOT-READY: successful() before the result is ready is MP_ESTATE "
         "(CPython's ValueError)")
{
    fixtures_new(true);
    mp_pool *p = pool_new(1);
    mp_value *a = mp_int(1);
    mp_async_result *r = NULL;
    bool ok = true;
    MP_ASSERT_OK(mp_pool_apply_async(p, t_wait, a, NULL, NULL, NULL, &r));
    MP_ASSERT_STATUS(mp_async_result_successful(r, &ok), MP_ESTATE);
    MP_ASSERT_OK(mp_event_set(ev));
    MP_ASSERT_OK(mp_async_result_wait(r, MP_FOREVER));
    MP_ASSERT_OK(mp_async_result_successful(r, &ok));
    cr_assert(ok);
    mp_async_result_free(r);
    mp_value_free(a);
    pool_end(p);
    fixtures_free();
}

MPT_TEST(pool, POOL_SUCCESSFUL,
         "POOL-SUCCESSFUL: successful() is true after a task that succeeded and false after one "
         "that failed")
{
    mp_pool *p = pool_new(2);
    mp_value *a = mp_int(1);
    mp_async_result *good = NULL, *bad = NULL;
    bool ok = false;
    MP_ASSERT_OK(mp_pool_apply_async(p, t_sq, a, NULL, NULL, NULL, &good));
    MP_ASSERT_OK(mp_pool_apply_async(p, t_fail, a, NULL, NULL, NULL, &bad));
    MP_ASSERT_OK(mp_async_result_wait(good, MP_FOREVER));
    MP_ASSERT_OK(mp_async_result_wait(bad, MP_FOREVER));
    MP_ASSERT_OK(mp_async_result_successful(good, &ok));
    cr_assert(ok);
    MP_ASSERT_OK(mp_async_result_successful(bad, &ok));
    cr_assert(!ok);
    mp_async_result_free(good);
    mp_async_result_free(bad);
    mp_value_free(a);
    pool_end(p);
}

MPT_TEST(pool, POOL_RESULT_FREED_EARLY,
         "POOL-RESULT-FREED-EARLY: freeing an AsyncResult before its task ends is allowed; the "
         "task still runs and its callback runs")
{
    fixtures_new(true);
    mp_pool *p = pool_new(1);
    rec rc = REC_INIT;
    mp_value *a = mp_int(8);
    mp_async_result *r = NULL;
    MP_ASSERT_OK(mp_pool_apply_async(p, t_wait, a, on_result, NULL, &rc, &r));
    mp_async_result_free(r);
    MP_ASSERT_OK(mp_event_set(ev));
    MP_ASSERT_OK(mp_pool_close(p));
    MP_ASSERT_OK(mp_pool_join(p));
    cr_assert_eq(rc.n, 1);
    cr_assert_eq(rc.vals[0], 8);
    mp_pool_free(p);
    mp_value_free(a);
    fixtures_free();
}

/* ================================================================ map */

MPT_TEST(pool, POOL_MAP_ORDER,
         "POOL-MAP-ORDER: map returns the results as a list in the order of the arguments")
{
    mp_pool *p = pool_new(3);
    mp_value *l = ints(0, 100), *r = NULL;
    for (size_t cs = 0; cs < 8; cs += 3) {
        MP_ASSERT_OK(mp_pool_map(p, t_sq, l, cs, &r));
        cr_assert_eq(mp_value_type(r), MP_T_LIST);
        size_t n = 0;
        MP_ASSERT_OK(mp_seq_len(r, &n));
        cr_assert_eq(n, 100);
        for (size_t i = 0; i < n; i++) {
            const mp_value *v = NULL;
            MP_ASSERT_OK(mp_seq_get(r, (ptrdiff_t)i, &v));
            cr_assert_eq(as_int(v), (int64_t)(i * i));
        }
        mp_value_free(r);
    }
    mp_value *t = mp_tuple_of(3, mp_int(4), mp_int(5), mp_int(6));
    MP_ASSERT_OK(mp_pool_map(p, t_sq, t, 0, &r));
    mp_value *want = mp_list_of(3, mp_int(16), mp_int(25), mp_int(36));
    cr_assert(mp_value_equal(r, want));
    mp_value_free(want);
    mp_value_free(t);
    mp_value_free(r);
    mp_value_free(l);
    pool_end(p);
}

MPT_TEST(pool, POOL_MAP_EMPTY, "POOL-MAP-EMPTY: map of no arguments returns an empty list")
{
    mp_pool *p = pool_new(2);
    mp_value *l = mp_list(), *r = NULL;
    MP_ASSERT_OK(mp_pool_map(p, t_sq, l, 0, &r));
    size_t n = 1;
    MP_ASSERT_OK(mp_seq_len(r, &n));
    cr_assert_eq(n, 0);
    mp_value_free(r);
    MP_ASSERT_OK(mp_pool_starmap(p, t_add, l, 0, &r));
    MP_ASSERT_OK(mp_seq_len(r, &n));
    cr_assert_eq(n, 0);
    mp_value_free(r);
    mp_value_free(l);
    pool_end(p);
}

/* With maxtasksperchild=1 every chunk (one task) runs in a fresh worker, so
 * the chunk boundaries are exactly where the pid changes, and an item's
 * place in its worker's sequence is its place in its chunk. */
static void assert_chunks(const mp_value *r, size_t n, size_t cs)
{
    int64_t prev = -1;
    for (size_t i = 0; i < n; i++) {
        const mp_value *v, *pid, *seq;
        MP_ASSERT_OK(mp_seq_get(r, (ptrdiff_t)i, &v));
        MP_ASSERT_OK(mp_seq_get(v, 0, &pid));
        MP_ASSERT_OK(mp_seq_get(v, 1, &seq));
        if (i > 0) {
            bool same = as_int(pid) == prev;
            cr_assert_eq(same, i % cs != 0, "item %zu %s the chunk of item %zu (chunks of %zu)", i,
                         same ? "shares" : "is not in", i - 1, cs);
        }
        cr_assert_eq(as_int(seq), (int64_t)(i % cs), "item %zu ran out of its chunk's order", i);
        prev = as_int(pid);
    }
}

static mp_pool *pool_one_task_per_worker(int n)
{
    mp_pool *p = NULL;
    MP_ASSERT_OK(mp_pool_new(&p, n, NULL, NULL, 1));
    return p;
}

MPT_TEST(pool, POOL_MAP_CHUNKSIZE,
         "POOL-MAP-CHUNKSIZE: with chunksize k the arguments travel in chunks of k items, each run "
         "by one worker in order")
{
    mp_pool *p = pool_one_task_per_worker(2);
    mp_value *l = ints(0, 23), *r = NULL;
    MP_ASSERT_OK(mp_pool_map(p, t_pid_seq, l, 5, &r));
    assert_chunks(r, 23, 5);
    mp_value_free(r);
    mp_value_free(l);
    pool_end(p);
}

MPT_TEST(
    pool, POOL_MAP_DEFAULT_CHUNKSIZE,
    "POOL-MAP-DEFAULT-CHUNKSIZE: chunksize 0 is ceil(len / (4 * processes)), CPython's default")
{
    mp_pool *p = pool_one_task_per_worker(2);
    mp_value *l = ints(0, 41), *r = NULL; /* ceil(41 / 8) = 6, not 5 */
    MP_ASSERT_OK(mp_pool_map(p, t_pid_seq, l, 0, &r));
    assert_chunks(r, 41, 6);
    mp_value_free(r);
    mp_value_free(l);
    pool_end(p);
}

MPT_TEST(pool, POOL_MAP_ERROR,
         "POOL-MAP-ERROR: map with a failing item fails as a whole with that item's message")
{
    mp_pool *p = pool_new(2);
    mp_value *l = ints(0, 10), *r = NULL;
    MP_ASSERT_STATUS(mp_pool_map(p, t_sq_fail3, l, 2, &r), MP_EREMOTE);
    cr_assert(r == NULL);
    cr_assert(strstr(mp_errmsg(), "three is bad"), "%s", mp_errmsg());
    MP_ASSERT_OK(mp_pool_map(p, t_sq, l, 2, &r));
    mp_value_free(r);
    mp_value_free(l);
    pool_end(p);
}

MPT_TEST(pool, POOL_MAP_NOT_SEQUENCE,
         "POOL-MAP-NOT-SEQUENCE: map of something that is not a list or tuple is MP_ETYPE")
{
    mp_pool *p = pool_new(1);
    mp_value *a = mp_int(3), *r = NULL;
    mp_imap *it = NULL;
    MP_ASSERT_STATUS(mp_pool_map(p, t_sq, a, 0, &r), MP_ETYPE);
    MP_ASSERT_STATUS(mp_pool_imap(p, t_sq, a, 0, &it), MP_ETYPE);
    mp_value_free(a);
    pool_end(p);
}

MPT_TEST(pool, POOL_MAP_ASYNC,
         "POOL-MAP-ASYNC: map_async returns at once; its callback gets the whole list before get() "
         "returns it")
{
    fixtures_new(true);
    mp_pool *p = pool_new(2);
    rec rc = REC_INIT;
    mp_value *l = ints(0, 6);
    mp_async_result *r = NULL;
    MPT_ASSERT_PROMPT(mp_pool_map_async(p, t_wait, l, 1, on_result, on_error, &rc, &r), MP_OK);
    bool ready = true;
    MP_ASSERT_OK(mp_async_result_ready(r, &ready));
    cr_assert(!ready);
    MP_ASSERT_OK(mp_event_set(ev));
    const mp_value *v = NULL;
    MP_ASSERT_OK(mp_async_result_get(r, MP_FOREVER, &v));
    cr_assert(mp_value_equal(v, l));
    cr_assert_eq(rc.n, 1);
    cr_assert_eq(rc.vals[0], 6); /* on_result records a list's length */
    mp_async_result_free(r);
    mp_value_free(l);
    pool_end(p);
    fixtures_free();
}

MPT_TEST(pool, POOL_MAP_ASYNC_ERROR_CALLBACK,
         "POOL-MAP-ASYNC-ERROR-CALLBACK: a failing map_async calls error_callback once with the "
         "item's message")
{
    mp_pool *p = pool_new(2);
    rec rc = REC_INIT;
    mp_value *l = ints(0, 8);
    mp_async_result *r = NULL;
    MP_ASSERT_OK(mp_pool_map_async(p, t_sq_fail3, l, 1, on_result, on_error, &rc, &r));
    const mp_value *v = NULL;
    MP_ASSERT_STATUS(mp_async_result_get(r, MP_FOREVER, &v), MP_EREMOTE);
    MP_ASSERT_OK(mp_pool_close(p));
    MP_ASSERT_OK(mp_pool_join(p)); /* every chunk is back */
    cr_assert_eq(rc.nerr, 1);
    cr_assert_eq(rc.n, 0);
    cr_assert(strstr(rc.msg, "three is bad"), "%s", rc.msg);
    mp_async_result_free(r);
    mp_value_free(l);
    mp_pool_free(p);
}

MPT_TEST(pool, POOL_STARMAP,
         "POOL-STARMAP: starmap calls the task with each item's tuple as its arguments")
{
    mp_pool *p = pool_new(2);
    mp_value *l = mp_list(), *r = NULL;
    for (int i = 0; i < 10; i++)
        MP_ASSERT_OK(mp_seq_append(l, mp_tuple_of(2, mp_int(i), mp_int(10 * i))));
    MP_ASSERT_OK(mp_pool_starmap(p, t_add, l, 3, &r));
    for (int i = 0; i < 10; i++) {
        const mp_value *v;
        MP_ASSERT_OK(mp_seq_get(r, i, &v));
        cr_assert_eq(as_int(v), 11 * i);
    }
    mp_value_free(r);
    mp_value *bad = mp_list_of(2, mp_tuple_of(2, mp_int(1), mp_int(2)), mp_int(3));
    MP_ASSERT_STATUS(mp_pool_starmap(p, t_add, bad, 0, &r), MP_ETYPE);
    mp_value_free(bad);
    mp_value_free(l);
    pool_end(p);
}

MPT_TEST(pool, POOL_STARMAP_ASYNC,
         "POOL-STARMAP-ASYNC: starmap_async gives starmap's list through get and the callback")
{
    mp_pool *p = pool_new(2);
    rec rc = REC_INIT;
    mp_value *l = mp_list();
    for (int i = 0; i < 7; i++)
        MP_ASSERT_OK(mp_seq_append(l, mp_list_of(2, mp_int(i), mp_int(i))));
    mp_async_result *r = NULL;
    MP_ASSERT_OK(mp_pool_starmap_async(p, t_add, l, 0, on_result, NULL, &rc, &r));
    const mp_value *v = NULL;
    MP_ASSERT_OK(mp_async_result_get(r, MP_FOREVER, &v));
    for (int i = 0; i < 7; i++) {
        const mp_value *x;
        MP_ASSERT_OK(mp_seq_get(v, i, &x));
        cr_assert_eq(as_int(x), 2 * i);
    }
    cr_assert_eq(rc.n, 1);
    mp_async_result_free(r);
    mp_value_free(l);
    pool_end(p);
}

/* =============================================================== imap */

MPT_TEST(pool, POOL_IMAP_ORDER,
         "POOL-IMAP-ORDER: imap yields every result in the order of the arguments, then MP_EOF")
{
    mp_pool *p = pool_new(3);
    mp_value *l = ints(0, 50);
    for (size_t cs = 0; cs <= 7; cs += 7) {
        mp_imap *it = NULL;
        MP_ASSERT_OK(mp_pool_imap(p, t_sq, l, cs, &it));
        for (int i = 0; i < 50; i++) {
            mp_value *v = NULL;
            MP_ASSERT_OK(mp_imap_next(it, MP_FOREVER, &v));
            cr_assert_eq(as_int(v), i * i);
            mp_value_free(v);
        }
        mp_value *v = NULL;
        MP_ASSERT_STATUS(mp_imap_next(it, MP_FOREVER, &v), MP_EOF);
        MP_ASSERT_STATUS(mp_imap_next(it, 0, &v), MP_EOF);
        mp_imap_free(it);
    }
    mp_value_free(l);
    pool_end(p);
}

MPT_TEST(pool, POOL_IMAP_UNORDERED_ALL,
         "POOL-IMAP-UNORDERED-ALL: imap_unordered yields every result once, in completion order")
{
    fixtures_new(false);
    mp_pool *p = pool_new(2);
    /* 300 ms first, then short ones: the first result comes last */
    mp_value *l = mp_list_of(5, mp_int(300), mp_int(1), mp_int(2), mp_int(3), mp_int(4));
    mp_imap *it = NULL;
    MP_ASSERT_OK(mp_pool_imap_unordered(p, t_work, l, 0, &it));
    int64_t got[5];
    int seen = 0;
    for (int i = 0; i < 5; i++) {
        mp_value *v = NULL;
        MP_ASSERT_OK(mp_imap_next(it, MP_FOREVER, &v));
        got[i] = as_int(v);
        seen |= 1 << (got[i] == 300 ? 0 : got[i]);
        mp_value_free(v);
    }
    mp_value *v = NULL;
    MP_ASSERT_STATUS(mp_imap_next(it, MP_FOREVER, &v), MP_EOF);
    cr_assert_eq(seen, 0x1f, "not every result once");
    cr_assert_eq(got[4], 300, "the slow task's result should come last");
    mp_imap_free(it);
    mp_value_free(l);
    pool_end(p);
    fixtures_free();
}

MPT_TEST(pool, POOL_IMAP_NEXT_TIMEOUT,
         "POOL-IMAP-NEXT-TIMEOUT: next(t) with no result ready returns MP_TIMEOUT after t, never "
         "earlier; next(0) at once")
{
    fixtures_new(true);
    mp_pool *p = pool_new(1);
    mp_value *l = ints(0, 2);
    mp_imap *it = NULL;
    MP_ASSERT_OK(mp_pool_imap(p, t_wait, l, 1, &it));
    mp_value *v = NULL;
    MPT_ASSERT_TIMED(mp_imap_next(it, 0.25, &v), MP_TIMEOUT, 0.25);
    MPT_ASSERT_PROMPT(mp_imap_next(it, 0, &v), MP_TIMEOUT);
    MP_ASSERT_OK(mp_event_set(ev));
    for (int i = 0; i < 2; i++) {
        MP_ASSERT_OK(mp_imap_next(it, MP_FOREVER, &v));
        cr_assert_eq(as_int(v), i);
        mp_value_free(v);
    }
    mp_imap_free(it);
    mp_value_free(l);
    pool_end(p);
    fixtures_free();
}

MPT_TEST(pool, POOL_IMAP_ERROR,
         "POOL-IMAP-ERROR: a failing item gives its MP_EREMOTE at its place in imap, and the "
         "iteration goes on after it")
{
    mp_pool *p = pool_new(2);
    mp_value *l = ints(0, 6);
    mp_imap *it = NULL;
    MP_ASSERT_OK(mp_pool_imap(p, t_sq_fail3, l, 1, &it));
    for (int i = 0; i < 6; i++) {
        mp_value *v = NULL;
        if (i == 3) {
            MP_ASSERT_STATUS(mp_imap_next(it, MP_FOREVER, &v), MP_EREMOTE);
            cr_assert(strstr(mp_errmsg(), "three is bad"));
            continue;
        }
        MP_ASSERT_OK(mp_imap_next(it, MP_FOREVER, &v));
        cr_assert_eq(as_int(v), i * i);
        mp_value_free(v);
    }
    mp_value *v = NULL;
    MP_ASSERT_STATUS(mp_imap_next(it, MP_FOREVER, &v), MP_EOF);
    mp_imap_free(it);
    mp_value_free(l);
    pool_end(p);
}

MPT_TEST(pool, POOL_IMAP_FREE_EARLY,
         "POOL-IMAP-FREE-EARLY: an iterator freed before it is exhausted leaves the pool working")
{
    mp_pool *p = pool_new(2);
    mp_value *l = ints(0, 40), *r = NULL;
    mp_imap *it = NULL;
    MP_ASSERT_OK(mp_pool_imap_unordered(p, t_sq, l, 3, &it));
    MP_ASSERT_OK(mp_imap_next(it, MP_FOREVER, &r));
    mp_value_free(r);
    mp_imap_free(it);
    MP_ASSERT_OK(mp_pool_map(p, t_sq, l, 0, &r));
    mp_value_free(r);
    mp_value_free(l);
    pool_end(p);
}

/* ========================================================== busy waits */

MPT_TEST(pool, POOL_BUSY_WAITS,
         "POOL-BUSY-WAITS: with Pool(3) at most 3 tasks run at once, and 10 tasks of T take at "
         "least ceil(10/3)*T")
{
    fixtures_new(false);
    mp_pool *p = pool_new(3);
    const int T = 60; /* ms of modelled work per task */
    mp_async_result *r[10];
    double t0 = mpt_now();
    for (int i = 0; i < 10; i++) {
        mp_value *a = mp_int(T);
        MP_ASSERT_OK(mp_pool_apply_async(p, t_work, a, NULL, NULL, NULL, &r[i]));
        mp_value_free(a);
    }
    for (int i = 0; i < 10; i++) {
        MP_ASSERT_OK(mp_async_result_wait(r[i], MP_FOREVER));
        mp_async_result_free(r[i]);
    }
    double el = mpt_now() - t0;
    int mx = atomic_load(&sh->max);
    cr_assert(mx <= 3, "%d tasks ran at once in Pool(3)", mx);
    cr_assert(mx >= 2, "tasks did not run in parallel (at most %d at once)", mx);
    cr_assert(el >= 4 * T / 1000.0, "10 tasks of %d ms took %.3f s < ceil(10/3)*T", T, el);
    cr_assert(el <= 4 * T / 1000.0 + mpt_slack(2.0), "10 tasks of %d ms took %.3f s", T, el);
    pool_end(p);
    fixtures_free();
}

/* ==================================================== close/join/terminate */

MPT_TEST(pool, POOL_CLOSE_THEN_SUBMIT,
         "POOL-CLOSE-THEN-SUBMIT: after close every submit is MP_ESTATE (CPython's ValueError: "
         "Pool not running)")
{
    mp_pool *p = pool_new(1);
    MP_ASSERT_OK(mp_pool_close(p));
    MP_ASSERT_OK(mp_pool_close(p)); /* idempotent */
    mp_value *a = mp_int(2), *l = ints(0, 3), *r = NULL;
    mp_async_result *ar = NULL;
    mp_imap *it = NULL;
    MP_ASSERT_STATUS(mp_pool_apply(p, t_sq, a, &r), MP_ESTATE);
    MP_ASSERT_STATUS(mp_pool_apply_async(p, t_sq, a, NULL, NULL, NULL, &ar), MP_ESTATE);
    MP_ASSERT_STATUS(mp_pool_map(p, t_sq, l, 0, &r), MP_ESTATE);
    MP_ASSERT_STATUS(mp_pool_map_async(p, t_sq, l, 0, NULL, NULL, NULL, &ar), MP_ESTATE);
    MP_ASSERT_STATUS(mp_pool_starmap(p, t_add, l, 0, &r), MP_ESTATE);
    MP_ASSERT_STATUS(mp_pool_imap(p, t_sq, l, 0, &it), MP_ESTATE);
    MP_ASSERT_STATUS(mp_pool_imap_unordered(p, t_sq, l, 0, &it), MP_ESTATE);
    MP_ASSERT_OK(mp_pool_join(p));
    mp_pool_free(p);
    mp_value_free(a);
    mp_value_free(l);
}

MPT_TEST(pool, POOL_JOIN_BEFORE_CLOSE,
         "POOL-JOIN-BEFORE-CLOSE: join of a running pool is MP_ESTATE")
{
    mp_pool *p = pool_new(1);
    MPT_ASSERT_PROMPT(mp_pool_join(p), MP_ESTATE);
    pool_end(p);
}

MPT_TEST(
    pool, POOL_JOIN_WAITS,
    "POOL-JOIN-WAITS: close then join waits for every task submitted before close and its callback")
{
    fixtures_new(false);
    mp_pool *p = pool_new(2);
    rec rc = REC_INIT;
    for (int i = 0; i < 6; i++) {
        mp_value *a = mp_int(80);
        mp_async_result *r = NULL;
        MP_ASSERT_OK(mp_pool_apply_async(p, t_work, a, on_result, NULL, &rc, &r));
        mp_async_result_free(r);
        mp_value_free(a);
    }
    double t0 = mpt_now();
    MP_ASSERT_OK(mp_pool_close(p));
    MP_ASSERT_OK(mp_pool_join(p));
    cr_assert(mpt_now() - t0 >= 0.080 * 3 - 0.080, "join returned before the tasks could finish");
    cr_assert_eq(rc.n, 6, "join returned before every callback ran");
    cr_assert_eq(atomic_load(&sh->cur), 0);
    MP_ASSERT_OK(mp_pool_join(p)); /* again: nothing left to wait for */
    mp_pool_free(p);
    fixtures_free();
}

MPT_TEST(pool, POOL_TERMINATE_PROMPT,
         "POOL-TERMINATE-PROMPT: terminate stops workers running long tasks at once")
{
    fixtures_new(true);
    mp_pool *p = pool_new(2);
    mp_value *a = mp_int(1);
    mp_async_result *r[2];
    for (int i = 0; i < 2; i++)
        MP_ASSERT_OK(mp_pool_apply_async(p, t_wait, a, NULL, NULL, NULL, &r[i]));
    for (double t0 = mpt_now(); atomic_load(&sh->started) < 2 && mpt_now() - t0 < 10;)
        sched_yield();
    MPT_ASSERT_PROMPT(mp_pool_terminate(p), MP_OK);
    MPT_ASSERT_PROMPT(mp_pool_join(p), MP_OK);
    for (int i = 0; i < 2; i++)
        mp_async_result_free(r[i]);
    mp_pool_free(p);
    mp_value_free(a);
    fixtures_free();
}

MPT_TEST(pool, POOL_TERMINATE_PENDING_FAIL,
         "POOL-TERMINATE-PENDING-FAIL: results pending at terminate fail with MP_CLOSED (get and "
         "error_callback), they do not hang")
{
    fixtures_new(true);
    mp_pool *p = pool_new(1);
    rec rc = REC_INIT;
    mp_value *a = mp_int(1), *l = ints(0, 4);
    mp_async_result *running = NULL, *queued = NULL;
    mp_imap *it = NULL;
    MP_ASSERT_OK(mp_pool_apply_async(p, t_wait, a, NULL, on_error, &rc, &running));
    MP_ASSERT_OK(mp_pool_apply_async(p, t_sq, a, NULL, on_error, &rc, &queued));
    MP_ASSERT_OK(mp_pool_imap(p, t_sq, l, 2, &it));
    MP_ASSERT_OK(mp_pool_terminate(p));
    const mp_value *v = NULL;
    mp_value *item = NULL;
    MPT_ASSERT_PROMPT(mp_async_result_get(running, MP_FOREVER, &v), MP_CLOSED);
    MPT_ASSERT_PROMPT(mp_async_result_get(queued, MP_FOREVER, &v), MP_CLOSED);
    MPT_ASSERT_PROMPT(mp_imap_next(it, MP_FOREVER, &item), MP_CLOSED);
    cr_assert_eq(rc.nerr, 2);
    cr_assert_eq(rc.st[0], MP_CLOSED);
    cr_assert_eq(rc.st[1], MP_CLOSED);
    mp_imap_free(it);
    mp_async_result_free(running);
    mp_async_result_free(queued);
    MP_ASSERT_OK(mp_pool_join(p));
    mp_pool_free(p);
    mp_value_free(a);
    mp_value_free(l);
    fixtures_free();
}

MPT_TEST(pool, POOL_SCOPED,
         "POOL-SCOPED: free of a running pool (the end of `with Pool()`) terminates it; its "
         "results stay valid and report MP_CLOSED")
{
    fixtures_new(true);
    mp_pool *p = pool_new(2);
    mp_value *a = mp_int(1);
    mp_async_result *r = NULL;
    MP_ASSERT_OK(mp_pool_apply_async(p, t_wait, a, NULL, NULL, NULL, &r));
    double t0 = mpt_now();
    mp_pool_free(p);
    cr_assert(mpt_now() - t0 < mpt_slack(1.0), "free did not terminate the pool");
    const mp_value *v = NULL;
    MPT_ASSERT_PROMPT(mp_async_result_get(r, MP_FOREVER, &v), MP_CLOSED);
    mp_async_result_free(r);
    mp_value_free(a);
    fixtures_free();
}

MPT_TEST(pool, POOL_NO_LEAKS,
         "POOL-NO-LEAKS: after free no thread, descriptor or worker process of the pool is left")
{
    int threads = thread_count();
    for (int k = 0; k < 3; k++) {
        mp_pool *p = pool_new(2);
        mp_value *a = mp_int(k), *r = NULL;
        MP_ASSERT_OK(mp_pool_apply(p, t_sq, a, &r));
        mp_value_free(r);
        mp_value_free(a);
        if (k == 0)
            pool_end(p);
        else
            mp_pool_free(p); /* terminate path */
    }
    cr_assert_eq(thread_count(), threads, "threads left behind");
    /* descriptors and child processes: checked by the test's teardown */
}

MPT_TEST(pool, POOL_FORKED_CHILD_ESTATE,
         "POOL-FORKED-CHILD-ESTATE: a forked child using its parent's pool gets MP_ESTATE")
{
    mp_pool *p = pool_new(1);
    pid_t pid = fork();
    if (pid == 0) {
        mp_value *a = mp_int(1), *r = NULL;
        mp_status s = mp_pool_apply(p, t_sq, a, &r);
        _exit(s == MP_ESTATE ? 0 : 1);
    }
    cr_assert(pid > 0);
    int st = -1;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child could use the parent's pool");
    pool_end(p);
}

MPT_TEST(pool, POOL_MANY_TASKS,
         "POOL-MANY-TASKS: many more tasks than fit in the task ring all run, each result with its "
         "own task")
{
    mp_pool *p = pool_new(2);
    enum { N = 12000 };
    mp_async_result **r = malloc(N * sizeof *r);
    for (int i = 0; i < N; i++) {
        mp_value *a = mp_int(i);
        MP_ASSERT_OK(mp_pool_apply_async(p, t_sq, a, NULL, NULL, NULL, &r[i]));
        mp_value_free(a);
    }
    for (int i = 0; i < N; i++) {
        const mp_value *v = NULL;
        MP_ASSERT_OK(mp_async_result_get(r[i], MP_FOREVER, &v));
        cr_assert_eq(as_int(v), (int64_t)i * i);
        mp_async_result_free(r[i]);
    }
    free(r);
    pool_end(p);
}

/* ======================================================= dying workers */

static void assert_lost(mp_task_fn fn, const char *want)
{
    mp_pool *p = pool_new(2);
    mp_value *a = mp_int(7), *r = NULL;
    rec rc = REC_INIT;
    mp_async_result *lost = NULL, *others[8];
    MP_ASSERT_OK(mp_pool_apply_async(p, fn, a, NULL, on_error, &rc, &lost));
    for (int i = 0; i < 8; i++)
        MP_ASSERT_OK(mp_pool_apply_async(p, t_sq, a, NULL, NULL, NULL, &others[i]));
    const mp_value *v = NULL;
    MP_ASSERT_STATUS(mp_async_result_get(lost, 30, &v), MP_EWORKERLOST);
    cr_assert(strstr(mp_errmsg(), want), "message \"%s\" lacks \"%s\"", mp_errmsg(), want);
    cr_assert_eq(rc.nerr, 1);
    cr_assert_eq(rc.st[0], MP_EWORKERLOST);
    for (int i = 0; i < 8; i++) {
        MP_ASSERT_OK(mp_async_result_get(others[i], 30, &v));
        cr_assert_eq(as_int(v), 49);
        mp_async_result_free(others[i]);
    }
    /* the pool goes on with a replacement worker */
    MP_ASSERT_OK(mp_pool_apply(p, t_sq, a, &r));
    cr_assert_eq(as_int(r), 49);
    mp_value_free(r);
    mp_async_result_free(lost);
    mp_value_free(a);
    pool_end(p);
}

MPT_TEST(pool, POOL_WORKER_KILLED_NO_HANG,
         "POOL-WORKER-KILLED-NO-HANG: a task whose worker is killed (SIGKILL) fails with "
         "MP_EWORKERLOST naming the signal; the other tasks complete")
{
    assert_lost(t_sigkill, "signal 9");
}

MPT_TEST(pool, POOL_WORKER_ABORT,
         "POOL-WORKER-ABORT: a task that calls abort() fails with MP_EWORKERLOST naming SIGABRT; "
         "the pool goes on")
{
    assert_lost(t_abort, "SIGABRT");
}

MPT_TEST(pool, POOL_WORKER_EXIT,
         "POOL-WORKER-EXIT: a task that calls _exit(3) fails with MP_EWORKERLOST naming exit code "
         "3; the pool goes on")
{
    assert_lost(t_exit3, "exited with code 3");
}

MPT_TEST(pool, POOL_WORKER_KILLED_EXTERNALLY,
         "POOL-WORKER-KILLED-EXTERNALLY: a worker killed from outside while it holds a task fails "
         "that task only")
{
    fixtures_new(true);
    mp_pool *p = pool_new(2);
    mp_value *a = mp_int(5);
    mp_async_result *victim = NULL;
    MP_ASSERT_OK(mp_pool_apply_async(p, t_report_and_block, a, NULL, NULL, NULL, &victim));
    for (double t0 = mpt_now(); !atomic_load(&sh->pid) && mpt_now() - t0 < 10;)
        sched_yield();
    pid_t pid = atomic_load(&sh->pid);
    cr_assert(pid > 0);
    cr_assert_eq(kill(pid, SIGKILL), 0);
    const mp_value *v = NULL;
    MP_ASSERT_STATUS(mp_async_result_get(victim, 30, &v), MP_EWORKERLOST);
    cr_assert(strstr(mp_errmsg(), "signal 9"), "%s", mp_errmsg());
    mp_value *l = ints(0, 20), *r = NULL;
    MP_ASSERT_OK(mp_pool_map(p, t_sq, l, 1, &r));
    mp_value_free(r);
    mp_value_free(l);
    mp_async_result_free(victim);
    mp_value_free(a);
    pool_end(p);
    fixtures_free();
}

MPT_TEST(pool, POOL_WORKER_REPLACED,
         "POOL-WORKER-REPLACED: after a worker dies the pool has its full size again (two tasks "
         "that need each other both run)")
{
    fixtures_new(false);
    mp_pool *p = pool_new(2);
    mp_value *a = mp_int(1), *r = NULL;
    MP_ASSERT_STATUS(mp_pool_apply(p, t_sigkill, a, &r), MP_EWORKERLOST);
    mp_async_result *m1 = NULL, *m2 = NULL;
    MP_ASSERT_OK(mp_pool_apply_async(p, t_meet, a, NULL, NULL, NULL, &m1));
    MP_ASSERT_OK(mp_pool_apply_async(p, t_meet, a, NULL, NULL, NULL, &m2));
    const mp_value *v1 = NULL, *v2 = NULL;
    MP_ASSERT_OK(mp_async_result_get(m1, 30, &v1));
    MP_ASSERT_OK(mp_async_result_get(m2, 30, &v2));
    cr_assert_neq(as_int(v1), as_int(v2));
    mp_async_result_free(m1);
    mp_async_result_free(m2);
    mp_value_free(a);
    pool_end(p);
    fixtures_free();
}

MPT_TEST(pool, POOL_WORKER_LOST_IN_MAP,
         "POOL-WORKER-LOST-IN-MAP: a map whose chunk loses its worker fails with MP_EWORKERLOST "
         "instead of hanging")
{
    mp_pool *p = pool_new(2);
    mp_value *l = mp_list(), *r = NULL;
    for (int i = 0; i < 4; i++)
        MP_ASSERT_OK(mp_seq_append(l, mp_int(i)));
    MP_ASSERT_STATUS(mp_pool_map(p, t_sigkill, l, 1, &r), MP_EWORKERLOST);
    MP_ASSERT_OK(mp_pool_map(p, t_sq, l, 1, &r));
    mp_value_free(r);
    mp_value_free(l);
    pool_end(p);
}

/* ============================================ a worker killed at any instant
 *
 * t_alarm arms a one-shot timer of arg[1] microseconds (1-60) and returns
 * arg[0] squared at once: SIGALRM, default action, kills the worker a moment
 * after the task returned, at whatever instruction it is then running --
 * sending the result, publishing it, claiming the next task, going to sleep.
 * Whatever the instant, the task's outcome must be the correct result or
 * MP_EWORKERLOST, never a wait without end.  (The timer may also fire before
 * the task returns, or in a task the same worker claimed next.) */
static mp_status t_alarm(const mp_value *a, mp_value **r)
{
    const mp_value *x, *u;
    mp_status s;
    if ((s = mp_seq_get(a, 0, &x)) || (s = mp_seq_get(a, 1, &u)))
        return s;
    int64_t us = as_int(u), v = as_int(x);
    if (us > 0) {
        sigset_t al;
        sigemptyset(&al);
        sigaddset(&al, SIGALRM);
        signal(SIGALRM, SIG_DFL);
        sigprocmask(SIG_UNBLOCK, &al, NULL);
        struct itimerval it = {.it_value = {.tv_sec = 0, .tv_usec = (suseconds_t)us}};
        setitimer(ITIMER_REAL, &it, NULL);
    }
    *r = mp_int(v * v);
    return MP_OK;
}

/* The (k, us) argument of call k: a timer of 1-60 us, from a seeded LCG so a
 * failure names its seed. */
static mp_value *alarm_arg(int k, unsigned *seed, int *us)
{
    *seed = *seed * 1103515245u + 12345u;
    *us = 1 + (int)((*seed >> 16) % 60);
    return mp_tuple_of(2, mp_int(k), mp_int(*us));
}

/* An outcome of a timed task: the correct result or MP_EWORKERLOST. */
static void assert_ok_or_lost(const char *what, int k, int us, unsigned seed, mp_status s,
                              const char *msg, int64_t got, int *lost)
{
    cr_assert(s == MP_OK || s == MP_EWORKERLOST,
              "%s #%d (timer %d us, seed %u): %s (%s), want MP_OK or MP_EWORKERLOST", what, k, us,
              seed, mp_status_name(s), msg);
    if (s == MP_OK)
        cr_assert_eq(got, (int64_t)k * k, "%s #%d: result %lld, want %lld", what, k, (long long)got,
                     (long long)k * k);
    else
        ++*lost;
}

/* With n workers at most n timers are still pending after a sweep (one per
 * worker), so one of n + 1 calls of a task arming none meets a worker that
 * lives: that call must give the correct result -- the pool still works. */
static void assert_pool_usable(mp_pool *p, int n, int k)
{
    mp_status s = MP_EWORKERLOST;
    mp_value *a = mp_tuple_of(2, mp_int(k), mp_int(0)), *r = NULL;
    for (int t = 0; t <= n && s == MP_EWORKERLOST; t++) {
        mp_async_result *ar = NULL;
        const mp_value *v = NULL;
        MP_ASSERT_OK(mp_pool_apply_async(p, t_alarm, a, NULL, NULL, NULL, &ar));
        s = mp_async_result_get(ar, mpt_slack(10), &v);
        if (s == MP_OK)
            cr_assert_eq(as_int(v), (int64_t)k * k);
        mp_async_result_free(ar);
    }
    MP_ASSERT_STATUS(s, MP_OK);
    MP_ASSERT_OK(mp_pool_apply(p, t_alarm, a, &r));
    cr_assert_eq(as_int(r), (int64_t)k * k);
    mp_value_free(r);
    mp_value_free(a);
}

enum { SWEEP = 160, ASYNC_SWEEP = 120 };

/* apply has no timeout: the calls run on this thread, which posts a
 * semaphore after each, and the test waits for each post with a bound. */
typedef struct {
    mp_pool *p;
    mp_semaphore *step;
    unsigned seed;
    int us[SWEEP];
    mp_status st[SWEEP];
    int64_t got[SWEEP];
    char msg[SWEEP][96];
} apply_sweep;

static void *apply_sweep_run(void *arg)
{
    apply_sweep *w = arg;
    unsigned seed = w->seed;
    for (int k = 0; k < SWEEP; k++) {
        mp_value *a = alarm_arg(k, &seed, &w->us[k]), *r = NULL;
        w->st[k] = mp_pool_apply(w->p, t_alarm, a, &r);
        snprintf(w->msg[k], sizeof w->msg[k], "%s", mp_errmsg());
        w->got[k] = -1;
        if (w->st[k] == MP_OK)
            mp_value_get_int(r, &w->got[k]);
        mp_value_free(r);
        mp_value_free(a);
        mp_semaphore_release(w->step);
    }
    return NULL;
}

MPT_TEST(pool, POOL_APPLY_WORKER_KILLED_ANYTIME,
         "POOL-APPLY-WORKER-KILLED-ANYTIME: apply whose worker dies at any instant after the task "
         "returned gives the result or MP_EWORKERLOST, never a hang")
{
    apply_sweep *w = calloc(1, sizeof *w);
    cr_assert(w);
    w->p = pool_new(2);
    w->seed = (unsigned)time(NULL);
    MP_ASSERT_OK(mp_semaphore_new(&w->step, 0));
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, apply_sweep_run, w), 0);
    int lost = 0;
    for (int k = 0; k < SWEEP; k++) {
        mp_status s = mp_semaphore_acquire(w->step, mpt_slack(10));
        cr_assert(s == MP_OK, "apply #%d (timer %d us, seed %u) still blocked after %.0f s: %s", k,
                  w->us[k], w->seed, mpt_slack(10), mp_status_name(s));
        assert_ok_or_lost("apply", k, w->us[k], w->seed, w->st[k], w->msg[k], w->got[k], &lost);
    }
    cr_assert_eq(pthread_join(th, NULL), 0);
    cr_log_info("POOL-APPLY-WORKER-KILLED-ANYTIME: %d of %d lost", lost, SWEEP);
    assert_pool_usable(w->p, 2, 11);
    mp_semaphore_free(w->step);
    pool_end(w->p);
    free(w);
}

MPT_TEST(pool, POOL_ASYNC_WORKER_KILLED_ANYTIME,
         "POOL-ASYNC-WORKER-KILLED-ANYTIME: apply_async and map_async tasks whose worker dies at "
         "any instant after they returned give the result or MP_EWORKERLOST, never a hang")
{
    mp_pool *p = pool_new(2);
    unsigned seed0 = (unsigned)time(NULL), seed = seed0;
    int lost = 0, us[ASYNC_SWEEP];
    /* apply_async: one at a time, and in bursts of 8 (tasks then wait in the
     * ring while a worker dies) */
    for (int k = 0; k < ASYNC_SWEEP;) {
        int burst = (k / 8) % 2 ? 8 : 1;
        mp_async_result *r[8];
        for (int b = 0; b < burst; b++) {
            mp_value *a = alarm_arg(k + b, &seed, &us[k + b]);
            MP_ASSERT_OK(mp_pool_apply_async(p, t_alarm, a, NULL, NULL, NULL, &r[b]));
            mp_value_free(a);
        }
        for (int b = 0; b < burst; b++, k++) {
            const mp_value *v = NULL;
            mp_status s = mp_async_result_get(r[b], mpt_slack(10), &v);
            assert_ok_or_lost("apply_async", k, us[k], seed0, s, mp_errmsg(),
                              s == MP_OK ? as_int(v) : -1, &lost);
            mp_async_result_free(r[b]);
        }
    }
    /* map_async, chunksize 1: the map fails as a whole or is all correct */
    for (int m = 0; m < ASYNC_SWEEP / 8; m++) {
        mp_value *l = mp_list();
        for (int i = 0; i < 4; i++)
            MP_ASSERT_OK(mp_seq_append(l, alarm_arg(i, &seed, &us[i])));
        mp_async_result *r = NULL;
        const mp_value *v = NULL;
        MP_ASSERT_OK(mp_pool_map_async(p, t_alarm, l, 1, NULL, NULL, NULL, &r));
        mp_status s = mp_async_result_get(r, mpt_slack(10), &v);
        cr_assert(s == MP_OK || s == MP_EWORKERLOST,
                  "map_async #%d (seed %u): %s (%s), want MP_OK or MP_EWORKERLOST", m, seed0,
                  mp_status_name(s), mp_errmsg());
        for (int i = 0; s == MP_OK && i < 4; i++) {
            const mp_value *it = NULL;
            MP_ASSERT_OK(mp_seq_get(v, i, &it));
            cr_assert_eq(as_int(it), i * i);
        }
        lost += s != MP_OK;
        mp_async_result_free(r);
        mp_value_free(l);
    }
    cr_log_info("POOL-ASYNC-WORKER-KILLED-ANYTIME: %d of %d lost", lost,
                ASYNC_SWEEP + ASYNC_SWEEP / 8);
    assert_pool_usable(p, 2, 12);
    pool_end(p);
}

/* ==================================================== maxtasksperchild */

MPT_TEST(pool, POOL_MAXTASKSPERCHILD_RECYCLE,
         "POOL-MAXTASKSPERCHILD-RECYCLE: with maxtasksperchild=k a worker runs at most k tasks, is "
         "replaced, and no task is lost")
{
    mp_pool *p = NULL;
    MP_ASSERT_OK(mp_pool_new(&p, 2, NULL, NULL, 2));
    mp_value *l = ints(0, 12), *r = NULL;
    MP_ASSERT_OK(mp_pool_map(p, t_pid, l, 1, &r));
    size_t n = 0;
    MP_ASSERT_OK(mp_seq_len(r, &n));
    cr_assert_eq(n, 12);
    int distinct = 0;
    for (size_t i = 0; i < n; i++) {
        const mp_value *v;
        MP_ASSERT_OK(mp_seq_get(r, (ptrdiff_t)i, &v));
        int same = 0, first = 1;
        for (size_t k = 0; k < n; k++) {
            const mp_value *w;
            MP_ASSERT_OK(mp_seq_get(r, (ptrdiff_t)k, &w));
            if (as_int(w) == as_int(v)) {
                same++;
                if (k < i)
                    first = 0;
            }
        }
        cr_assert(same <= 2, "worker %lld ran %d tasks", (long long)as_int(v), same);
        distinct += first;
    }
    cr_assert(distinct >= 6, "only %d workers for 12 tasks at 2 each", distinct);
    mp_value_free(r);
    mp_value_free(l);
    pool_end(p);
}

MPT_TEST(pool, POOL_MAXTASKSPERCHILD_CLOSE,
         "POOL-MAXTASKSPERCHILD-CLOSE: with maxtasksperchild=1, tasks still queued at close all "
         "complete before join returns")
{
    mp_pool *p = NULL;
    MP_ASSERT_OK(mp_pool_new(&p, 2, NULL, NULL, 1));
    rec rc = REC_INIT;
    mp_async_result *r[8];
    for (int i = 0; i < 8; i++) {
        mp_value *a = mp_int(i);
        MP_ASSERT_OK(mp_pool_apply_async(p, t_sq, a, on_result, NULL, &rc, &r[i]));
        mp_value_free(a);
    }
    MP_ASSERT_OK(mp_pool_close(p));
    MP_ASSERT_OK(mp_pool_join(p));
    cr_assert_eq(rc.n, 8);
    for (int i = 0; i < 8; i++) {
        const mp_value *v = NULL;
        MPT_ASSERT_PROMPT(mp_async_result_get(r[i], 0, &v), MP_OK);
        cr_assert_eq(as_int(v), i * i);
        mp_async_result_free(r[i]);
    }
    mp_pool_free(p);
}

/* ========================================================= initializer */

MPT_TEST(
    pool, POOL_INITIALIZER,
    "POOL-INITIALIZER: the initializer runs once in every worker with initargs before its tasks")
{
    fixtures_new(false);
    mp_value *ia = mp_tuple_of(1, mp_int(1234));
    mp_pool *p = NULL;
    MP_ASSERT_OK(mp_pool_new(&p, 3, init_fn, ia, 0));
    mp_value_free(ia); /* the pool keeps its own copy */
    mp_value *l = ints(0, 30), *r = NULL;
    MP_ASSERT_OK(mp_pool_map(p, t_init_value, l, 1, &r));
    for (int i = 0; i < 30; i++) {
        const mp_value *v, *x;
        MP_ASSERT_OK(mp_seq_get(r, i, &v));
        MP_ASSERT_OK(mp_seq_get(v, 0, &x));
        cr_assert_eq(as_int(x), 1234, "a task ran in a worker without its initializer");
    }
    mp_value_free(r);
    mp_value_free(l);
    pool_end(p);
    cr_assert_eq(atomic_load(&sh->inits), 3, "initializer ran %d times for 3 workers",
                 atomic_load(&sh->inits));
    cr_assert_eq(init_value, -1, "the initializer ran in the parent");
    fixtures_free();
}

MPT_TEST(pool, POOL_INITIALIZER_REPLACEMENT,
         "POOL-INITIALIZER-REPLACEMENT: replacement workers (maxtasksperchild, deaths) run the "
         "initializer too")
{
    fixtures_new(false);
    mp_value *ia = mp_list_of(1, mp_int(99));
    mp_pool *p = NULL;
    MP_ASSERT_OK(mp_pool_new(&p, 2, init_fn, ia, 1));
    mp_value_free(ia);
    mp_value *l = ints(0, 6), *r = NULL;
    MP_ASSERT_OK(mp_pool_map(p, t_init_value, l, 1, &r));
    for (int i = 0; i < 6; i++) {
        const mp_value *v, *x;
        MP_ASSERT_OK(mp_seq_get(r, i, &v));
        MP_ASSERT_OK(mp_seq_get(v, 0, &x));
        cr_assert_eq(as_int(x), 99);
    }
    mp_value_free(r);
    mp_value_free(l);
    pool_end(p);
    cr_assert(atomic_load(&sh->inits) >= 6, "initializer ran %d times for 6 workers",
              atomic_load(&sh->inits));
    fixtures_free();
}

/* ============================================================ tutorial */

typedef struct tut {
    pthread_mutex_t mu;
    int n;
    int64_t order[16]; /* -1 stands for 'end' */
} tut;

static void bar(const mp_value *v, void *ud)
{
    tut *t = ud;
    pthread_mutex_lock(&t->mu);
    t->order[t->n++] = as_int(v);
    pthread_mutex_unlock(&t->mu);
}

static mp_status foo(const mp_value *a, mp_value **r)
{
    mpt_sleep(0.1); /* the tutorial's 2 s of work, shortened */
    *r = mp_int(as_int(a) + 100);
    return MP_OK;
}

MPT_TEST(pool, POOL_TUTORIAL_EXAMPLE,
         "POOL-TUTORIAL-EXAMPLE: Pool(3), 10 apply_async(Foo, i, callback=Bar): 'end' comes first, "
         "then each of 100..109 once")
{
    tut t = {.mu = PTHREAD_MUTEX_INITIALIZER};
    mp_pool *p = pool_new(3);
    double t0 = mpt_now();
    for (int i = 0; i < 10; i++) {
        mp_value *a = mp_int(i);
        mp_async_result *r = NULL;
        MP_ASSERT_OK(mp_pool_apply_async(p, foo, a, bar, NULL, &t, &r));
        mp_async_result_free(r);
        mp_value_free(a);
    }
    cr_assert(mpt_now() - t0 < 0.1, "the submits waited for the tasks");
    pthread_mutex_lock(&t.mu);
    t.order[t.n++] = -1; /* print('end') */
    pthread_mutex_unlock(&t.mu);
    MP_ASSERT_OK(mp_pool_close(p));
    MP_ASSERT_OK(mp_pool_join(p));
    mp_pool_free(p);
    cr_assert_eq(t.n, 11);
    cr_assert_eq(t.order[0], -1, "'end' was not first");
    int seen = 0;
    for (int i = 1; i < 11; i++) {
        cr_assert(t.order[i] >= 100 && t.order[i] <= 109);
        seen |= 1 << (t.order[i] - 100);
    }
    cr_assert_eq(seen, 0x3ff);
}

/* ============================================================ identity */

static mp_status t_name(const mp_value *a, mp_value **r)
{
    (void)a;
    *r = mp_tuple_of(2, mp_str(mp_current_name()), mp_int(getpid()));
    return *r ? MP_OK : MP_ENOMEM;
}

static bool pool_worker_name(const char *s)
{
    const char *pre = "ForkPoolWorker-";
    if (strncmp(s, pre, strlen(pre)) != 0)
        return false;
    s += strlen(pre);
    if (*s < '1' || *s > '9')
        return false;
    while (*s >= '0' && *s <= '9')
        s++;
    return *s == 0;
}

MPT_TEST(pool, POOL_WORKER_NAME,
         "POOL-WORKER-NAME: in a worker mp_current_name() is ForkPoolWorker-N, one N per worker")
{
    mp_pool *p = pool_new(2);
    mp_value *l = ints(0, 40), *r = NULL;
    MP_ASSERT_OK(mp_pool_map(p, t_name, l, 1, &r));
    const char *names[40];
    int64_t pids[40];
    for (int i = 0; i < 40; i++) {
        const mp_value *t, *x;
        MP_ASSERT_OK(mp_seq_get(r, i, &t));
        MP_ASSERT_OK(mp_seq_get(t, 0, &x));
        MP_ASSERT_OK(mp_value_get_str(x, &names[i], NULL));
        MP_ASSERT_OK(mp_seq_get(t, 1, &x));
        pids[i] = as_int(x);
        cr_assert(pool_worker_name(names[i]), "a worker is named '%s'", names[i]);
        cr_assert_neq(pids[i], getpid(), "a task ran in the parent");
        for (int k = 0; k < i; k++)
            cr_assert_eq(pids[k] == pids[i], strcmp(names[k], names[i]) == 0,
                         "pids %lld/%lld but names %s/%s", (long long)pids[k], (long long)pids[i],
                         names[k], names[i]);
    }
    cr_assert_str_eq(mp_current_name(), "MainProcess", "the parent's name changed");
    mp_value_free(r);
    mp_value_free(l);
    pool_end(p);
}

static int term_fd = -1;

/* Both workers of p busy in t_wait (ev never set): a busy worker cannot leave
 * on the pool's stop flag before terminate's signal reaches it. */
static void two_busy(mp_pool *p, mp_async_result *r[2])
{
    for (int i = 0; i < 2; i++) {
        mp_value *a = mp_int(i);
        MP_ASSERT_OK(mp_pool_apply_async(p, t_wait, a, NULL, NULL, NULL, &r[i]));
        mp_value_free(a);
    }
    for (double t0 = mpt_now(); atomic_load(&sh->started) < 2 && mpt_now() - t0 < 10;)
        sched_yield();
    cr_assert_eq(atomic_load(&sh->started), 2, "the two tasks did not start");
}

static void on_term(int sig)
{
    (void)sig;
    ssize_t w = write(term_fd, "T", 1);
    (void)w;
    _exit(0);
}

static void init_term(const mp_value *args)
{
    (void)args;
    struct sigaction sa = {.sa_handler = on_term};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    ssize_t w = write(term_fd, "I", 1);
    (void)w;
}

/* Pool(2) whose initializer `init` writes "I" to the pipe fds: returns once
 * both workers ran it and are busy in t_wait (results in r). */
static mp_pool *busy_pool(mp_pool_init_fn init, int fds[2], mp_async_result *r[2])
{
    fixtures_new(true);
    cr_assert_eq(pipe(fds), 0);
    term_fd = fds[1];
    mp_pool *p = NULL;
    MP_ASSERT_OK(mp_pool_new(&p, 2, init, NULL, 0));
    char buf[3] = {0};
    for (size_t got = 0; got < 2;) { /* both workers have their handler */
        ssize_t n = read(fds[0], buf + got, 2 - got);
        cr_assert(n > 0, "a worker did not start");
        got += (size_t)n;
    }
    cr_assert_str_eq(buf, "II");
    two_busy(p, r);
    return p;
}

static void busy_pool_end(mp_async_result *r[2])
{
    for (int i = 0; i < 2; i++)
        mp_async_result_free(r[i]);
    fixtures_free();
}

MPT_TEST(pool, POOL_TERMINATE_SIGTERM,
         "POOL-TERMINATE-SIGTERM: terminate stops each worker with SIGTERM, as CPython's "
         "Process.terminate")
{
    int fds[2];
    mp_async_result *r[2];
    mp_pool *p = busy_pool(init_term, fds, r);
    MP_ASSERT_OK(mp_pool_terminate(p));
    MP_ASSERT_OK(mp_pool_join(p));
    mp_pool_free(p);
    busy_pool_end(r);
    close(fds[1]);
    char buf[8] = {0};
    size_t got = 0;
    for (ssize_t n;
         got < sizeof buf - 1 && (n = read(fds[0], buf + got, sizeof buf - 1 - got)) > 0;)
        got += (size_t)n;
    close(fds[0]);
    cr_assert_str_eq(buf, "TT", "the workers' SIGTERM handlers wrote '%s'", buf);
}

static void init_ignore_term(const mp_value *args)
{
    (void)args;
    signal(SIGTERM, SIG_IGN);
    ssize_t w = write(term_fd, "I", 1);
    (void)w;
}

MPT_TEST(pool, POOL_TERMINATE_SIGKILL_GRACE,
         "POOL-TERMINATE-SIGKILL-GRACE: a worker that ignores SIGTERM gets SIGKILL after 1 s and "
         "terminate returns")
{
    int fds[2];
    mp_async_result *r[2];
    mp_pool *p = busy_pool(init_ignore_term, fds, r);
    MPT_ASSERT_TIMED(mp_pool_terminate(p), MP_OK, 1.0);
    MPT_ASSERT_PROMPT(mp_pool_join(p), MP_OK);
    mp_pool_free(p);
    busy_pool_end(r);
    close(fds[0]);
    close(fds[1]);
}

/* ------------------------------------------- CPython's tests, continued */

MPT_TEST(pool, POOL_MAP_ASYNC_EMPTY,
         "POOL-MAP-ASYNC-EMPTY: map_async of no arguments, with chunksize 1 or the default, is "
         "ready at once: get gives an empty list without waiting")
{
    mp_pool *p = pool_new(2);
    mp_value *l = mp_list();
    for (size_t cs = 0; cs < 2; cs++) {
        mp_async_result *r = NULL;
        MP_ASSERT_OK(mp_pool_map_async(p, t_sq, l, cs, NULL, NULL, NULL, &r));
        const mp_value *v = NULL;
        MPT_ASSERT_PROMPT(mp_async_result_get(r, mpt_slack(10.0), &v), MP_OK); /* no stall */
        size_t n = 99;
        MP_ASSERT_OK(mp_seq_len(v, &n));
        cr_assert_eq(n, 0, "chunksize %zu: %zu results of no arguments", cs, n);
        mp_async_result_free(r);
    }
    mp_value_free(l);
    pool_end(p);
}

/* Contract: the target of a child that makes its own Pool(2), maps t_sq over
 * 0..9, checks the squares, then closes, joins and frees it.  Returns 0 when
 * all of that worked, else the step that failed (2..6): a child cannot use
 * Criterion's assertions. */
static int pool_in_child(void *arg)
{
    (void)arg;
    mp_pool *p = NULL;
    if (mp_pool_new(&p, 2, NULL, NULL, 0) != MP_OK)
        return 2;
    mp_value *a = mp_list(), *r = NULL;
    for (int i = 0; i < 10; i++)
        mp_seq_append(a, mp_int(i));
    int rc = mp_pool_map(p, t_sq, a, 0, &r) == MP_OK ? 0 : 3;
    size_t n = 0;
    if (!rc && (mp_seq_len(r, &n) != MP_OK || n != 10))
        rc = 4;
    for (size_t i = 0; !rc && i < n; i++) {
        const mp_value *v;
        int64_t x = -1;
        if (mp_seq_get(r, (ptrdiff_t)i, &v) != MP_OK || mp_value_get_int(v, &x) != MP_OK ||
            x != (int64_t)(i * i))
            rc = 5;
    }
    if ((mp_pool_close(p) != MP_OK || mp_pool_join(p) != MP_OK) && !rc)
        rc = 6;
    mp_pool_free(p);
    mp_value_free(a);
    mp_value_free(r);
    return rc;
}

MPT_TEST(pool, POOL_IN_CHILD,
         "POOL-IN-CHILD: a Pool made in a child process runs its tasks there and closes and joins: "
         "the child exits 0 and leaves no worker behind")
{
    mp_process *c = mpt_start(pool_in_child, NULL);
    int code = mpt_join(c);
    cr_assert_eq(code, 0, "the child's pool failed at step %d (see pool_in_child)", code);
    /* no worker of the child's pool left: checked by the teardown (the test
     * process is a subreaper, so an orphaned worker would be ours) */
}

/* Contract: a task still running when its process ends: writes one byte on
 * live_started_w, then blocks until its worker is ended. */
static int live_started_w = -1;
static mp_status t_start_and_block(const mp_value *a, mp_value **r)
{
    (void)a;
    (void)r;
    if (write(live_started_w, "s", 1) != 1)
        _exit(4);
    for (;;)
        pause();
}

/* Contract: the target of a child that makes a Pool(2), runs a map on it,
 * with live_mode & 2 leaves a task running
 * on each worker, then ends with the pool still running: through exit(0)
 * when live_mode & 1, else by returning 0.  A failure before that returns
 * 2 (3: the running tasks did not start within 30 s). */
static int live_mode;
/* What the child still holds when it ends: reachable from here, so that
 * LeakSanitizer does not count the live pool's inputs as leaks. */
static mp_value *live_args, *live_squares;
static mp_async_result *live_busy[2];
static int live_pool_at_exit(void *arg)
{
    (void)arg;
    int fd[2];
    if (pipe(fd) != 0)
        return 2;
    live_started_w = fd[1];
    mp_pool *p = NULL;
    if (mp_pool_new(&p, 2, NULL, NULL, 0) != MP_OK)
        return 2;
    live_args = mp_list();
    for (int i = 0; i < 8; i++)
        mp_seq_append(live_args, mp_int(i));
    size_t n = 0;
    if (mp_pool_map(p, t_sq, live_args, 1, &live_squares) != MP_OK ||
        mp_seq_len(live_squares, &n) != MP_OK || n != 8)
        return 2;
    if (live_mode & 2) {
        for (int i = 0; i < 2; i++)
            if (mp_pool_apply_async(p, t_start_and_block, live_args, NULL, NULL, NULL,
                                    &live_busy[i]) != MP_OK)
                return 2;
        for (int got = 0; got < 2; got++) {
            struct pollfd pfd = {.fd = fd[0], .events = POLLIN};
            char c;
            if (poll(&pfd, 1, 30000) != 1 || read(fd[0], &c, 1) != 1)
                return 3;
        }
    }
    if (live_mode & 1)
        exit(0); /* the pool, never closed, is still running */
    return 0;
}

/* Contract: true once this process has no child left, reaping every one that
 * ends, within `timeout` seconds.  The test process is a child subreaper, so
 * the workers of a pool whose process ended are its children now. */
static bool children_all_end(double timeout)
{
    double end = mpt_now() + timeout;
    for (;;) {
        pid_t w = waitpid(-1, NULL, WNOHANG);
        if (w < 0 && errno == ECHILD)
            return true;
        if (w > 0)
            continue;
        if (mpt_now() > end)
            return false;
        struct timespec ts = {0, 2000000}; /* polling: an orphan's end has no event here */
        nanosleep(&ts, NULL);
    }
}

MPT_TEST(pool, POOL_LIVE_AT_EXIT,
         "POOL-LIVE-AT-EXIT: a process that ends with a Pool it never closed, idle or with a task "
         "still running on every worker, by exit(0) or by its target returning 0, exits 0 "
         "promptly and its workers end with it")
{
    /* busy first, then idle; both ways out each */
    static const int modes[] = {2, 3, 0, 1};
    static const char *const hows[] = {"return 0, idle", "exit(0), idle", "return 0, tasks running",
                                       "exit(0), tasks running"};
    for (size_t k = 0; k < sizeof modes / sizeof *modes; k++) {
        live_mode = modes[k];
        const char *how = hows[live_mode];
        mp_process *c = mpt_start(live_pool_at_exit, NULL);
        MP_ASSERT_STATUS(mp_process_join(c, mpt_slack(20.0)), MP_OK); /* no hang */
        int code = 99;
        MP_ASSERT_OK(mp_process_exitcode(c, &code));
        mp_process_free(c);
        cr_assert_eq(code, 0, "%s with a live pool: exit code %d", how, code);
        cr_assert(children_all_end(mpt_slack(10.0)),
                  "%s: a worker of the pool is still running after its process ended", how);
    }
}

/* ------------------------------------------- creation failing midway */

/* Tasks (threads) whose real uid is uid, from /proc: a snapshot. */
static long tasks_of_uid(uid_t uid)
{
    DIR *d = opendir("/proc");
    if (!d)
        return -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        char path[300], line[256];
        snprintf(path, sizeof path, "/proc/%s/status", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue; /* gone meanwhile */
        long ruid = -1, threads = 0;
        while (fgets(line, sizeof line, f)) {
            if (strncmp(line, "Uid:", 4) == 0)
                ruid = strtol(line + 4, NULL, 10);
            else if (strncmp(line, "Threads:", 8) == 0)
                threads = strtol(line + 8, NULL, 10);
        }
        fclose(f);
        if (ruid == (long)uid)
            n += threads;
    }
    closedir(d);
    return n;
}

/* In a forked child, as an unprivileged uid whose RLIMIT_NPROC leaves room
 * for the pool's thread and three workers (plus one task of slack): Pool(4)
 * must fail at the fourth fork, leave no child, and leave the room free --
 * a Pool(2) then starts under the same limit.  Exit code 0 or the failed
 * step. */
static int pool_fails_midway(void)
{
    uid_t uid = (uid_t)(60000 + getpid() % 5000); /* a uid nothing else runs as */
    long others = tasks_of_uid(uid);
    if (others < 0)
        return 2;
    /* 1 (this process) + 1 (handler thread) + 3 workers. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NPROC, &rl) != 0 || rl.rlim_max < (rlim_t)(others + 5))
        return 2;
    rl.rlim_cur = (rlim_t)(others + 5); /* the hard limit stays */
    if (setrlimit(RLIMIT_NPROC, &rl) != 0 || setgroups(0, NULL) != 0 ||
        setresgid(uid, uid, uid) != 0 || setresuid(uid, uid, uid) != 0)
        return 3;
    mp_pool *p = NULL;
    mp_status s = mp_pool_new(&p, 4, NULL, NULL, 0);
    if (s == MP_OK)
        return 4;
    if (s != MP_EOS)
        return 5;
    if (p)
        return 6;
    if (waitpid(-1, NULL, WNOHANG) != -1 || errno != ECHILD)
        return 7; /* a worker (or its zombie) is left */
    if ((s = mp_pool_new(&p, 2, NULL, NULL, 0)) != MP_OK)
        return 8;
    if (mp_pool_close(p) != MP_OK || mp_pool_join(p) != MP_OK)
        return 9;
    mp_pool_free(p);
    if (waitpid(-1, NULL, WNOHANG) != -1 || errno != ECHILD)
        return 10;
    return 0;
}

MPT_TEST(pool, POOL_NEW_FAILS_MIDWAY,
         "POOL-NEW-FAILS-MIDWAY: when a worker's fork fails after others started (RLIMIT_NPROC), "
         "creation is MP_EOS and every started worker is gone, reaped")
{
    cr_assert(geteuid() == 0,
              "cannot check: needs root to run as another uid with RLIMIT_NPROC enforced");
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0)
        _exit(pool_fails_midway());
    int st = 0;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
              "failed at step %d (status %#x): 2 /proc or hard limit, 3 setrlimit/setuid, 4 "
              "Pool(4) started, 5 not MP_EOS, "
              "6 *out set, 7 a worker left, 8 Pool(2) did not start, 9/10 Pool(2) end",
              WIFEXITED(st) ? WEXITSTATUS(st) : -1, st);
}
