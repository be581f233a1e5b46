/* ops_pool.c -- torture scenarios of Pool apply, apply_async, map and imap:
 * the worker running a task is killed at any instant -- from outside while the
 * task runs, or by a 1-60 us SIGKILL timer the task arms as it starts or just
 * before it returns (while the worker sends the result).
 *
 * mp.h: a task whose worker died is MP_EWORKERLOST, the worker is replaced
 * and the other tasks complete [POOL-WORKER-KILLED-NO-HANG]
 * [POOL-WORKER-KILLED-EXTERNALLY] [POOL-WORKER-LOST-IN-MAP]; a map fails as
 * a whole, imap gives a failed chunk's outcome once and goes on
 * [POOL-IMAP-ERROR].  So every call returns within the bound, with MP_OK and
 * an intact result or MP_EWORKERLOST, and one kill loses at most one task. */
#include "torture.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define NTASKS 12

struct pool_ctx {
    mp_pool *p;
};

static mp_pool *pool_get(trial *t, void **ctx)
{
    struct pool_ctx *c = *ctx;
    if (!c) {
        c = calloc(1, sizeof *c);
        mp_status s = c ? mp_pool_new(&c->p, 2, NULL, NULL, 0) : MP_ENOMEM;
        if (s != MP_OK) {
            fail(t, "pool_new: %s", mp_status_name(s));
            t->fatal = true;
            free(c);
            return NULL;
        }
        *ctx = c;
    }
    return c->p;
}

void pool_teardown(void *ctx)
{
    struct pool_ctx *c = ctx;
    mp_pool_free(c->p);
    free(c);
}

/* Task arguments: [seq, spin_us, timer_us, timer_at_start, victim, nbytes]. */
enum { A_SEQ, A_SPIN, A_TIMER, A_AT_START, A_VICTIM, A_NBYTES, A_N };

static int64_t arg_int(const mp_value *arg, int i)
{
    const mp_value *v;
    int64_t x = 0;
    if (mp_seq_get(arg, i, &v) == MP_OK)
        mp_value_get_int(v, &x);
    return x;
}

/* The task: spin, return an intact payload naming seq; the victim task records
 * its worker's pid and may arm the kill timer. */
static mp_status task_work(const mp_value *arg, mp_value **result)
{
    bool victim = arg_int(arg, A_VICTIM) != 0;
    long timer = (long)arg_int(arg, A_TIMER);
    bool at_start = arg_int(arg, A_AT_START) != 0;
    if (victim) {
        set_phase(PH_CALL);
        atomic_store(&S->victim_pid, getpid());
        atomic_store(&S->started, 1);
        if (timer && at_start)
            arm_kill_timer(timer);
    }
    spin_for((double)arg_int(arg, A_SPIN) * 1e-6);
    *result = payload_value(1, (unsigned)arg_int(arg, A_SEQ), (size_t)arg_int(arg, A_NBYTES));
    if (victim) {
        set_phase(PH_IDLE);
        if (timer && !at_start)
            arm_kill_timer(timer); /* dies while the worker hands the result back */
    }
    return *result ? MP_OK : MP_ENOMEM;
}

static mp_value *task_arg(trial *t, long seq, bool victim)
{
    bool timer = victim && t->mode == KILL_TIMER;
    return mp_list_of(A_N, mp_int(seq),
                      mp_int(timer ? rnd_range(t, 0, 100) : rnd_range(t, 0, 2000)),
                      mp_int(timer ? t->usec : 0), mp_int(rnd(t) % 10 < 3), mp_int(victim),
                      mp_int((int64_t)payload_len(t, 65536)));
}

static mp_value *task_args(trial *t, long *victim_index)
{
    *victim_index = rnd_range(t, 0, NTASKS - 1);
    mp_value *l = mp_list();
    for (long i = 0; l && i < NTASKS; i++)
        if (mp_seq_append(l, task_arg(t, i, i == *victim_index)) != MP_OK) {
            mp_value_free(l);
            return NULL;
        }
    return l;
}

static bool victim_ran(void *arg)
{
    (void)arg;
    return atomic_load(&S->victim_pid) != 0;
}

/* External mode: kill the victim task's worker after the trial's delay.  Timer
 * mode: the task kills its worker itself. */
static void kill_worker(trial *t)
{
    if (t->mode == KILL_TIMER) {
        t->killed = true;
        t->death_phase = PH_CALL;
        return;
    }
    if (!wait_until(victim_ran, NULL, BOUND)) {
        fail(t, "the victim task never started");
        return;
    }
    pause_for(t->delay);
    t->death_phase = atomic_load(&S->phase);
    t->killed = kill(atomic_load(&S->victim_pid), SIGKILL) == 0;
}

/* A result: MP_OK with the payload of seq, or MP_EWORKERLOST (counted). */
static void check_result(trial *t, const char *what, mp_status s, const mp_value *res, long seq,
                         int *lost)
{
    unsigned id, got;
    if (s == MP_EWORKERLOST) {
        ++*lost;
        t->mid = true;
    } else if (s != MP_OK)
        fail(t, "%s: %s (%s)", what, mp_status_name(s), mp_errmsg());
    else if (payload_value_check(res, &id, &got) != 0 || id != 1 || (long)got != seq)
        fail(t, "%s: a wrong or corrupt result (want task %ld's)", what, seq);
}

/* ------------------------------------------------------------- apply */
struct call {
    mp_pool *p;
    mp_value *arg, *res;
    mp_status s;
};

static void *apply_thread(void *arg)
{
    struct call *c = arg;
    c->s = mp_pool_apply(c->p, task_work, c->arg, &c->res);
    return NULL;
}

/* mp_pool_apply has no timeout: it runs in a thread joined with one.  On a
 * hang the pool is left to the stuck thread and the operation stops. */
static bool bounded_apply(trial *t, mp_pool *p, mp_value *arg, mp_status *s, mp_value **res,
                          bool kill)
{
    struct call *c = calloc(1, sizeof *c);
    pthread_t th;
    if (c) {
        c->p = p;
        c->arg = arg;
    }
    if (!c || pthread_create(&th, NULL, apply_thread, c) != 0) {
        free(c);
        fail(t, "cannot start the apply thread");
        t->fatal = true;
        return false;
    }
    double t0 = now();
    if (kill)
        kill_worker(t);
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += (time_t)BOUND;
    if (pthread_timedjoin_np(th, NULL, &dl) != 0) {
        if (kill && t->mode == KILL_TIMER)
            fail(t,
                 "apply did not return within %.0f s: its worker was killed %ld us after "
                 "the task %s",
                 BOUND, t->usec, arg_int(arg, A_AT_START) ? "started" : "returned");
        else
            fail(t, "apply did not return within %.0f s (its worker killed %s)", BOUND,
                 kill ? phase_name(t->death_phase) : "earlier");
        pthread_detach(th); /* it keeps c, arg and the pool */
        t->fatal = true;
        return false;
    }
    *s = c->s;
    *res = c->res;
    free(c);
    late_check("apply", t0, *s);
    collect_child_failures(t);
    return true;
}

void sc_pool_apply(trial *t, void **ctx)
{
    mp_pool *p = pool_get(t, ctx);
    if (!p)
        return;
    long seq = t->iter % MAXSEQ;
    mp_value *arg = task_arg(t, seq, true), *res = NULL;
    mp_status s;
    int lost = 0;
    if (!bounded_apply(t, p, arg, &s, &res, true))
        return;
    check_result(t, "apply", s, res, seq, &lost);
    mp_value_free(res);
    mp_value_free(arg);
    res = NULL;
    arg = task_arg(t, seq, false);
    if (!bounded_apply(t, p, arg, &s, &res, false))
        return;
    check_result(t, "the apply after the kill", s, res, seq, &lost);
    if (lost > 1)
        fail(t, "the apply after the kill lost its worker too");
    mp_value_free(res);
    mp_value_free(arg);
}

/* ------------------------------------------------------- apply_async */
static _Atomic int cb_ok, cb_err;

static void on_result(const mp_value *result, void *ud)
{
    (void)result;
    (void)ud;
    atomic_fetch_add(&cb_ok, 1);
}

static void on_error(mp_status status, const char *msg, void *ud)
{
    (void)status;
    (void)msg;
    (void)ud;
    atomic_fetch_add(&cb_err, 1);
}

/* NTASKS/3 tasks at once, one the victim: each get within the bound, at most
 * one lost, and every task's callback (or error callback) has run when its
 * get returns [POOL-APPLY-ASYNC-CALLBACK] [POOL-CALLBACK-ONE-THREAD]. */
void sc_pool_async(trial *t, void **ctx)
{
    mp_pool *p = pool_get(t, ctx);
    if (!p)
        return;
    enum { N = 4 };
    long vi = rnd_range(t, 0, N - 1);
    mp_async_result *r[N] = {0};
    atomic_store(&cb_ok, 0);
    atomic_store(&cb_err, 0);
    for (long i = 0; i < N; i++) {
        mp_value *arg = task_arg(t, i, i == vi);
        mp_status s = mp_pool_apply_async(p, task_work, arg, on_result, on_error, NULL, &r[i]);
        mp_value_free(arg);
        if (s != MP_OK) {
            fail(t, "apply_async: %s", mp_status_name(s));
            t->fatal = true;
            break;
        }
    }
    if (!t->fatal)
        kill_worker(t);
    int lost = 0, returned = 0;
    for (long i = 0; i < N && r[i]; i++) {
        const mp_value *res = NULL;
        mp_status s = TIMED("get", mp_async_result_get(r[i], BOUND, &res));
        if (s == MP_TIMEOUT) {
            fail(t, "get of task %ld (victim: %ld) timed out after %.0f s", i, vi, BOUND);
            t->fatal = true; /* a pool with a task stuck: free could hang too */
            continue;
        }
        returned++;
        check_result(t, "get", s, res, i, &lost);
    }
    if (lost > 1)
        fail(t, "one kill lost %d tasks", lost);
    if (returned == N &&
        (atomic_load(&cb_ok) + atomic_load(&cb_err) != N || atomic_load(&cb_err) != lost))
        fail(t, "%d callbacks and %d error callbacks for %d tasks, %d lost", atomic_load(&cb_ok),
             atomic_load(&cb_err), N, lost);
    for (long i = 0; i < N; i++)
        mp_async_result_free(r[i]);
    collect_child_failures(t);
}

/* ---------------------------------------------------------------- map */
void sc_pool_map(trial *t, void **ctx)
{
    mp_pool *p = pool_get(t, ctx);
    if (!p)
        return;
    long vi;
    mp_value *args = task_args(t, &vi);
    size_t chunk = (size_t)rnd_range(t, 1, 3);
    mp_async_result *r = NULL;
    mp_status s = mp_pool_map_async(p, task_work, args, chunk, NULL, NULL, NULL, &r);
    mp_value_free(args);
    if (s != MP_OK) {
        fail(t, "map_async: %s", mp_status_name(s));
        t->fatal = true;
        return;
    }
    kill_worker(t);
    const mp_value *res = NULL;
    s = TIMED("map's get", mp_async_result_get(r, BOUND, &res));
    size_t n = 0;
    if (s == MP_TIMEOUT) {
        fail(t, "map (chunksize %zu, victim task %ld) did not end within %.0f s", chunk, vi, BOUND);
        t->fatal = true;
    } else if (s == MP_EWORKERLOST)
        t->mid = true;
    else if (s != MP_OK)
        fail(t, "map: %s (%s)", mp_status_name(s), mp_errmsg());
    else if (mp_seq_len(res, &n) != MP_OK || n != NTASKS)
        fail(t, "map returned %zu results for %d tasks", n, NTASKS);
    else
        for (size_t i = 0; i < n; i++) {
            const mp_value *item;
            int lost = 0;
            mp_seq_get(res, (ptrdiff_t)i, &item);
            check_result(t, "map item", MP_OK, item, (long)i, &lost);
        }
    mp_async_result_free(r);
    collect_child_failures(t);
}

/* --------------------------------------------------------------- imap */
void sc_pool_imap(trial *t, void **ctx)
{
    mp_pool *p = pool_get(t, ctx);
    if (!p)
        return;
    long vi;
    mp_value *args = task_args(t, &vi);
    size_t chunk = (size_t)rnd_range(t, 1, 3);
    bool ordered = rnd(t) & 1;
    mp_imap *it = NULL;
    mp_status s = ordered ? mp_pool_imap(p, task_work, args, chunk, &it)
                          : mp_pool_imap_unordered(p, task_work, args, chunk, &it);
    mp_value_free(args);
    if (s != MP_OK) {
        fail(t, "imap: %s", mp_status_name(s));
        t->fatal = true;
        return;
    }
    kill_worker(t);
    bool seen[NTASKS] = {0};
    int ok = 0, lost = 0;
    long last = -1;
    for (int k = 0; k <= NTASKS; k++) {
        mp_value *item = NULL;
        s = TIMED("imap next", mp_imap_next(it, BOUND, &item));
        if (s == MP_EOF)
            break;
        if (s == MP_TIMEOUT) {
            fail(t, "imap next timed out after %.0f s (%d results, %d lost chunks so far)", BOUND,
                 ok, lost);
            t->fatal = true;
            break;
        }
        unsigned id, seq;
        if (s == MP_EWORKERLOST) {
            lost++;
            t->mid = true;
        } else if (s != MP_OK)
            fail(t, "imap next: %s (%s)", mp_status_name(s), mp_errmsg());
        else if (payload_value_check(item, &id, &seq) != 0 || id != 1 || seq >= NTASKS)
            fail(t, "imap: a wrong or corrupt result");
        else if (seen[seq] || (ordered && (long)seq <= last))
            fail(t, "imap: result %u again or out of order", seq);
        else {
            seen[seq] = true;
            last = seq;
            ok++;
        }
        mp_value_free(item);
    }
    if (s != MP_EOF && !t->failures)
        fail(t, "imap gave more than %d outcomes", NTASKS);
    if (lost > 1 || ok + lost * (int)chunk < NTASKS)
        fail(t, "imap: %d results and %d lost chunks of %zu for %d tasks", ok, lost, chunk, NTASKS);
    mp_imap_free(it);
    collect_child_failures(t);
}
