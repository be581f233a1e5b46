/* badinput: the exhaustive sweep of bad input over every public call of mp.h.
 *
 * Each row is one kind of bad input for one component.  Its table is an
 * X-macro whose entries name the function they call, the status mp.h
 * documents, and the call itself:
 *
 *   X("mp_queue_put", MP_EINVAL, mp_queue_put(NULL, c->v, 0))
 *
 * The same macro expands to the table (names, statuses, call text) and to the
 * code that makes call number i, so the tables double as the coverage list
 * that conformance/badinput_coverage.py checks against mp.h.  Calls that do
 * not return a status (frees, value constructors, names) sit in BX(...) rows
 * whose expression is the documented outcome.
 *
 * For every entry the sweep checks: the status is the documented one, the
 * call returned promptly (bad input never blocks), the entry's expression
 * really calls the function it names, and every failure left a fresh,
 * non-empty mp_errmsg() (the sweep plants a marker message before each call).
 * A crash fails the row (Criterion runs each test in its own process).
 * Tables are run in full before the row fails, so one run lists every
 * mismatch. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "mpt.h"

/* ---------------------------------------------------------------- the sweep */

typedef struct entry {
    const char *fn;
    mp_status want;
    const char *expr;
} entry;

typedef mp_status (*call_fn)(size_t i, void *ctx);
typedef bool (*bcall_fn)(size_t i, void *ctx);

#define MARK "badinput: marker planted before the call"

#define ENTRY_(fn, want, expr) {fn, want, #expr},
#define CASE_(fn, want, expr)                                                                      \
    if (i == k++)                                                                                  \
        return (expr);
#define BENTRY_(fn, expr) {fn, MP_OK, #expr},
#define BCASE_(fn, expr)                                                                           \
    if (i == k++)                                                                                  \
        return (expr);

/* A status table: NAME(X) lists X(fn, want, expr) over a context CTX *c. */
#define SWEEP(name, TABLE, CTX)                                                                    \
    static mp_status name##_call(size_t i, void *vc)                                               \
    {                                                                                              \
        CTX *c = vc;                                                                               \
        size_t k = 0;                                                                              \
        (void)c;                                                                                   \
        TABLE(CASE_)                                                                               \
        return MP__STATUS_COUNT;                                                                   \
    }                                                                                              \
    static const entry name##_tab[] = {TABLE(ENTRY_)};
/* A table of BX(fn, expr): expr is true when the call behaved as documented. */
#define BSWEEP(name, TABLE, CTX)                                                                   \
    static bool name##_call(size_t i, void *vc)                                                    \
    {                                                                                              \
        CTX *c = vc;                                                                               \
        size_t k = 0;                                                                              \
        (void)c;                                                                                   \
        TABLE(BCASE_)                                                                              \
        return false;                                                                              \
    }                                                                                              \
    static const entry name##_tab[] = {TABLE(BENTRY_)};

#define RUN(name, ctx)                                                                             \
    sweep(#name, name##_tab, sizeof name##_tab / sizeof *name##_tab, name##_call, ctx)
#define BRUN(name, ctx)                                                                            \
    bsweep(#name, name##_tab, sizeof name##_tab / sizeof *name##_tab, name##_call, ctx)

/* The entry's expression must call the function it names. */
static bool names_call(const entry *e)
{
    char pat[80];
    snprintf(pat, sizeof pat, "%s(", e->fn);
    return strstr(e->expr, pat) != NULL;
}

static int sweep(const char *table, const entry *t, size_t n, call_fn call, void *ctx)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        const entry *e = &t[i];
        if (!names_call(e)) {
            cr_log_error("%s[%zu]: entry %s does not call %s", table, i, e->expr, e->fn);
            bad++;
            continue;
        }
        mp_task_error(MP_EOS, "%s", MARK);
        double t0 = mpt_now();
        mp_status s = call(i, ctx);
        double el = mpt_now() - t0;
        const char *msg = mp_errmsg();
        if (s != e->want) {
            cr_log_error("%s[%zu]: %s: got %s (%s), want %s", table, i, e->expr, mp_status_name(s),
                         msg, mp_status_name(e->want));
            bad++;
        } else if (s != MP_OK && (!msg[0] || strcmp(msg, MARK) == 0)) {
            cr_log_error("%s[%zu]: %s: %s without a message of its own", table, i, e->expr,
                         mp_status_name(s));
            bad++;
        }
        if (el > mpt_slack(1.0)) {
            cr_log_error("%s[%zu]: %s blocked for %.3f s", table, i, e->expr, el);
            bad++;
        }
    }
    cr_assert(bad == 0, "%s: %d of %zu entries misbehaved (listed above)", table, bad, n);
    return (int)n;
}

static int bsweep(const char *table, const entry *t, size_t n, bcall_fn call, void *ctx)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        const entry *e = &t[i];
        if (!names_call(e)) {
            cr_log_error("%s[%zu]: entry %s does not call %s", table, i, e->expr, e->fn);
            bad++;
            continue;
        }
        double t0 = mpt_now();
        bool ok = call(i, ctx);
        double el = mpt_now() - t0;
        if (!ok) {
            cr_log_error("%s[%zu]: %s is false (%s)", table, i, e->expr, mp_errmsg());
            bad++;
        }
        if (el > mpt_slack(1.0)) {
            cr_log_error("%s[%zu]: %s blocked for %.3f s", table, i, e->expr, el);
            bad++;
        }
    }
    cr_assert(bad == 0, "%s: %d of %zu entries misbehaved (listed above)", table, bad, n);
    return (int)n;
}

/* ------------------------------------------------------------- fixtures */

static int child_noop(void *arg)
{
    (void)arg;
    return 0;
}

static int run_noop(mp_process *self)
{
    (void)self;
    return 0;
}

/* A child that runs until the event is set. */
static int child_wait_event(void *arg) { return mp_event_wait(arg, MP_FOREVER) == MP_OK ? 0 : 1; }

static bool pred_false(void *arg)
{
    (void)arg;
    return false;
}

static mp_value *nested(int depth)
{
    mp_value *v = mp_int(0);
    for (int i = 0; i < depth; i++) {
        mp_value *l = mp_list();
        cr_assert(l && v);
        MP_ASSERT_OK(mp_seq_append(l, v));
        v = l;
    }
    return v;
}

static bool is_str(const char *got, const char *want) { return got && strcmp(got, want) == 0; }

/* ================================================================= status */

typedef struct stctx {
    volatile const char *nullfmt;
} stctx;

#define STATUS_ANY(BX)                                                                             \
    BX("mp_status_name", is_str(mp_status_name((mp_status)-1), "MP_UNKNOWN"))                      \
    BX("mp_status_name", is_str(mp_status_name(MP__STATUS_COUNT), "MP_UNKNOWN"))                   \
    BX("mp_status_name", is_str(mp_status_name((mp_status)INT_MAX), "MP_UNKNOWN"))                 \
    BX("mp_strerror", is_str(mp_strerror((mp_status)-1), "unknown status"))                        \
    BX("mp_strerror", is_str(mp_strerror((mp_status)INT_MIN), "unknown status"))                   \
    BX("mp_task_error", mp_task_error(MP_ETYPE, (const char *)c->nullfmt) == MP_ETYPE)             \
    BX("mp_task_error", mp_task_error((mp_status)-7, "%s", "x") == (mp_status)-7)
BSWEEP(status_any, STATUS_ANY, stctx)

MPT_TEST(badinput, BAD_STATUS_ANY_INT,
         "BAD-STATUS-ANY-INT: status names and messages accept any int and mp_task_error a NULL "
         "format, never crashing.")
{
    stctx c = {NULL};
    BRUN(status_any, &c);
}

/* ================================================================ process */

typedef struct pctx {
    mp_process *p, *out;
    void *d;
    const char *s;
    bool b;
    pid_t pid;
    int code;
    int fd;
    size_t n;
    mp_process *ps[1];
} pctx;

#define PROCESS_NULL(X)                                                                            \
    X("mp_process_new", MP_EINVAL, mp_process_new(NULL, child_noop, NULL))                         \
    X("mp_process_new", MP_EINVAL, mp_process_new(&c->out, NULL, NULL))                            \
    X("mp_process_new_run", MP_EINVAL, mp_process_new_run(NULL, run_noop, NULL))                   \
    X("mp_process_new_run", MP_EINVAL, mp_process_new_run(&c->out, NULL, NULL))                    \
    X("mp_process_data", MP_EINVAL, mp_process_data(NULL, &c->d))                                  \
    X("mp_process_data", MP_EINVAL, mp_process_data(c->p, NULL))                                   \
    X("mp_process_set_name", MP_EINVAL, mp_process_set_name(NULL, "x"))                            \
    X("mp_process_set_name", MP_EINVAL, mp_process_set_name(c->p, NULL))                           \
    X("mp_process_name", MP_EINVAL, mp_process_name(NULL, &c->s))                                  \
    X("mp_process_name", MP_EINVAL, mp_process_name(c->p, NULL))                                   \
    X("mp_process_set_daemon", MP_EINVAL, mp_process_set_daemon(NULL, true))                       \
    X("mp_process_daemon", MP_EINVAL, mp_process_daemon(NULL, &c->b))                              \
    X("mp_process_daemon", MP_EINVAL, mp_process_daemon(c->p, NULL))                               \
    X("mp_process_start", MP_EINVAL, mp_process_start(NULL))                                       \
    X("mp_process_join", MP_EINVAL, mp_process_join(NULL, 0))                                      \
    X("mp_process_join", MP_EINVAL, mp_process_join(NULL, MP_FOREVER))                             \
    X("mp_process_is_alive", MP_EINVAL, mp_process_is_alive(NULL, &c->b))                          \
    X("mp_process_is_alive", MP_EINVAL, mp_process_is_alive(c->p, NULL))                           \
    X("mp_process_pid", MP_EINVAL, mp_process_pid(NULL, &c->pid))                                  \
    X("mp_process_pid", MP_EINVAL, mp_process_pid(c->p, NULL))                                     \
    X("mp_process_exitcode", MP_EINVAL, mp_process_exitcode(NULL, &c->code))                       \
    X("mp_process_exitcode", MP_EINVAL, mp_process_exitcode(c->p, NULL))                           \
    X("mp_process_terminate", MP_EINVAL, mp_process_terminate(NULL))                               \
    X("mp_process_kill", MP_EINVAL, mp_process_kill(NULL))                                         \
    X("mp_process_close", MP_EINVAL, mp_process_close(NULL))                                       \
    X("mp_process_sentinel", MP_EINVAL, mp_process_sentinel(NULL, &c->fd))                         \
    X("mp_process_sentinel", MP_EINVAL, mp_process_sentinel(c->p, NULL))                           \
    X("mp_active_children", MP_EINVAL, mp_active_children(NULL, 1, &c->n))                         \
    X("mp_active_children", MP_EINVAL, mp_active_children(c->ps, 1, NULL))                         \
    X("mp_parent_process", MP_EINVAL, mp_parent_process(NULL))
SWEEP(process_null, PROCESS_NULL, pctx)

#define PROCESS_NULL_B(BX) BX("mp_process_free", (mp_process_free(NULL), true))
BSWEEP(process_null_b, PROCESS_NULL_B, pctx)

MPT_TEST(badinput, BAD_PROCESS_NULL,
         "BAD-PROCESS-NULL: every mp_process_* call (and mp_active_children, mp_parent_process) "
         "given a NULL handle, output or callback is MP_EINVAL with a message and writes no "
         "output; mp_process_free(NULL) is a no-op.")
{
    pctx c = {0};
    MP_ASSERT_OK(mp_process_new(&c.p, child_noop, NULL));
    RUN(process_null, &c);
    BRUN(process_null_b, &c);
    cr_assert(c.out == NULL, "a failed constructor wrote its output");
    const char *name = NULL;
    MP_ASSERT_OK(mp_process_name(c.p, &name));
    cr_assert(name && strncmp(name, "Process-", 8) == 0, "name changed: %s", name);
    mp_process_free(c.p);
}

#define PROCESS_CLOSED(X)                                                                          \
    X("mp_process_data", MP_CLOSED, mp_process_data(c->p, &c->d))                                  \
    X("mp_process_set_name", MP_CLOSED, mp_process_set_name(c->p, "x"))                            \
    X("mp_process_name", MP_CLOSED, mp_process_name(c->p, &c->s))                                  \
    X("mp_process_set_daemon", MP_CLOSED, mp_process_set_daemon(c->p, true))                       \
    X("mp_process_daemon", MP_CLOSED, mp_process_daemon(c->p, &c->b))                              \
    X("mp_process_start", MP_CLOSED, mp_process_start(c->p))                                       \
    X("mp_process_join", MP_CLOSED, mp_process_join(c->p, 0))                                      \
    X("mp_process_join", MP_CLOSED, mp_process_join(c->p, MP_FOREVER))                             \
    X("mp_process_is_alive", MP_CLOSED, mp_process_is_alive(c->p, &c->b))                          \
    X("mp_process_pid", MP_CLOSED, mp_process_pid(c->p, &c->pid))                                  \
    X("mp_process_exitcode", MP_CLOSED, mp_process_exitcode(c->p, &c->code))                       \
    X("mp_process_terminate", MP_CLOSED, mp_process_terminate(c->p))                               \
    X("mp_process_kill", MP_CLOSED, mp_process_kill(c->p))                                         \
    X("mp_process_sentinel", MP_CLOSED, mp_process_sentinel(c->p, &c->fd))                         \
    X("mp_process_close", MP_OK, mp_process_close(c->p))
SWEEP(process_closed, PROCESS_CLOSED, pctx)

MPT_TEST(badinput, BAD_PROCESS_CLOSED,
         "BAD-PROCESS-CLOSED: after close every mp_process_* call but close (MP_OK again) and free "
         "is MP_CLOSED, for a process never started and for one that ran.")
{
    pctx c = {0};
    MP_ASSERT_OK(mp_process_new(&c.p, child_noop, NULL));
    MP_ASSERT_OK(mp_process_close(c.p));
    RUN(process_closed, &c);
    mp_process_free(c.p);

    c.p = mpt_start(child_noop, NULL);
    MP_ASSERT_OK(mp_process_join(c.p, MP_FOREVER));
    MP_ASSERT_OK(mp_process_close(c.p));
    RUN(process_closed, &c);
    mp_process_free(c.p);
}

#define PROCESS_BEFORE_START(X)                                                                    \
    X("mp_process_join", MP_ESTATE, mp_process_join(c->p, 0))                                      \
    X("mp_process_join", MP_ESTATE, mp_process_join(c->p, MP_FOREVER))                             \
    X("mp_process_terminate", MP_ESTATE, mp_process_terminate(c->p))                               \
    X("mp_process_kill", MP_ESTATE, mp_process_kill(c->p))
SWEEP(process_before_start, PROCESS_BEFORE_START, pctx)

#define PROCESS_RUNNING(X)                                                                         \
    X("mp_process_start", MP_ESTATE, mp_process_start(c->p))                                       \
    X("mp_process_set_daemon", MP_ESTATE, mp_process_set_daemon(c->p, true))                       \
    X("mp_process_set_daemon", MP_ESTATE, mp_process_set_daemon(c->p, false))                      \
    X("mp_process_close", MP_ESTATE, mp_process_close(c->p))
SWEEP(process_running, PROCESS_RUNNING, pctx)

#define PROCESS_ENDED(X) X("mp_process_start", MP_ESTATE, mp_process_start(c->p))
SWEEP(process_ended, PROCESS_ENDED, pctx)

MPT_TEST(badinput, BAD_ORDER_PROCESS,
         "BAD-ORDER-PROCESS: join (also forever), terminate and kill before start are MP_ESTATE at "
         "once; start again, set_daemon or close while running are MP_ESTATE; start after the end "
         "is MP_ESTATE.")
{
    pctx c = {0};
    mp_event *go = NULL;
    MP_ASSERT_OK(mp_event_new(&go));
    MP_ASSERT_OK(mp_process_new(&c.p, child_wait_event, go));
    RUN(process_before_start, &c);
    MP_ASSERT_OK(mp_process_start(c.p));
    RUN(process_running, &c);
    bool alive = false;
    MP_ASSERT_OK(mp_process_is_alive(c.p, &alive));
    cr_assert(alive, "the misuse disturbed the running child");
    MP_ASSERT_OK(mp_event_set(go));
    MP_ASSERT_OK(mp_process_join(c.p, MP_FOREVER));
    RUN(process_ended, &c);
    MP_ASSERT_OK(mp_process_exitcode(c.p, &c.code));
    cr_assert_eq(c.code, 0);
    mp_process_free(c.p);
    mp_event_free(go);
}

/* ======================================================== synchronisation */

typedef struct sctx {
    mp_lock *l, *rl, *lout;
    mp_semaphore *s, *bs, *sout;
    mp_condition *cv, *cvl, *cout;
    mp_event *e, *eout;
    mp_barrier *b, *bout;
    bool flag;
    unsigned u;
} sctx;

#define SYNC_NULL(X)                                                                               \
    X("mp_lock_new", MP_EINVAL, mp_lock_new(NULL))                                                 \
    X("mp_rlock_new", MP_EINVAL, mp_rlock_new(NULL))                                               \
    X("mp_lock_acquire", MP_EINVAL, mp_lock_acquire(NULL, 0))                                      \
    X("mp_lock_acquire", MP_EINVAL, mp_lock_acquire(NULL, MP_FOREVER))                             \
    X("mp_lock_release", MP_EINVAL, mp_lock_release(NULL))                                         \
    X("mp_lock_locked", MP_EINVAL, mp_lock_locked(NULL, &c->flag))                                 \
    X("mp_lock_locked", MP_EINVAL, mp_lock_locked(c->l, NULL))                                     \
    X("mp_lock_locked", MP_EINVAL, mp_lock_locked(c->rl, NULL))                                    \
    X("mp_semaphore_new", MP_EINVAL, mp_semaphore_new(NULL, 1))                                    \
    X("mp_bounded_semaphore_new", MP_EINVAL, mp_bounded_semaphore_new(NULL, 1))                    \
    X("mp_semaphore_acquire", MP_EINVAL, mp_semaphore_acquire(NULL, 0))                            \
    X("mp_semaphore_acquire", MP_EINVAL, mp_semaphore_acquire(NULL, MP_FOREVER))                   \
    X("mp_semaphore_release", MP_EINVAL, mp_semaphore_release(NULL))                               \
    X("mp_semaphore_value", MP_EINVAL, mp_semaphore_value(NULL, &c->u))                            \
    X("mp_semaphore_value", MP_EINVAL, mp_semaphore_value(c->s, NULL))                             \
    X("mp_condition_new", MP_EINVAL, mp_condition_new(NULL, NULL))                                 \
    X("mp_condition_new", MP_EINVAL, mp_condition_new(NULL, c->l))                                 \
    X("mp_condition_acquire", MP_EINVAL, mp_condition_acquire(NULL, 0))                            \
    X("mp_condition_acquire", MP_EINVAL, mp_condition_acquire(NULL, MP_FOREVER))                   \
    X("mp_condition_release", MP_EINVAL, mp_condition_release(NULL))                               \
    X("mp_condition_wait", MP_EINVAL, mp_condition_wait(NULL, 0))                                  \
    X("mp_condition_wait", MP_EINVAL, mp_condition_wait(NULL, MP_FOREVER))                         \
    X("mp_condition_wait_for", MP_EINVAL, mp_condition_wait_for(NULL, pred_false, NULL, 0))        \
    X("mp_condition_wait_for", MP_EINVAL, mp_condition_wait_for(c->cv, NULL, NULL, 0))             \
    X("mp_condition_notify", MP_EINVAL, mp_condition_notify(NULL, 1))                              \
    X("mp_condition_notify_all", MP_EINVAL, mp_condition_notify_all(NULL))                         \
    X("mp_event_new", MP_EINVAL, mp_event_new(NULL))                                               \
    X("mp_event_set", MP_EINVAL, mp_event_set(NULL))                                               \
    X("mp_event_clear", MP_EINVAL, mp_event_clear(NULL))                                           \
    X("mp_event_is_set", MP_EINVAL, mp_event_is_set(NULL, &c->flag))                               \
    X("mp_event_is_set", MP_EINVAL, mp_event_is_set(c->e, NULL))                                   \
    X("mp_event_wait", MP_EINVAL, mp_event_wait(NULL, 0))                                          \
    X("mp_event_wait", MP_EINVAL, mp_event_wait(NULL, MP_FOREVER))                                 \
    X("mp_barrier_new", MP_EINVAL, mp_barrier_new(NULL, 1, NULL, NULL, MP_FOREVER))                \
    X("mp_barrier_wait", MP_EINVAL, mp_barrier_wait(NULL, 0, &c->u))                               \
    X("mp_barrier_wait", MP_EINVAL, mp_barrier_wait(NULL, MP_FOREVER, NULL))                       \
    X("mp_barrier_abort", MP_EINVAL, mp_barrier_abort(NULL))                                       \
    X("mp_barrier_reset", MP_EINVAL, mp_barrier_reset(NULL))                                       \
    X("mp_barrier_parties", MP_EINVAL, mp_barrier_parties(NULL, &c->u))                            \
    X("mp_barrier_parties", MP_EINVAL, mp_barrier_parties(c->b, NULL))                             \
    X("mp_barrier_n_waiting", MP_EINVAL, mp_barrier_n_waiting(NULL, &c->u))                        \
    X("mp_barrier_n_waiting", MP_EINVAL, mp_barrier_n_waiting(c->b, NULL))                         \
    X("mp_barrier_broken", MP_EINVAL, mp_barrier_broken(NULL, &c->flag))                           \
    X("mp_barrier_broken", MP_EINVAL, mp_barrier_broken(c->b, NULL))
SWEEP(sync_null, SYNC_NULL, sctx)

#define SYNC_NULL_B(BX)                                                                            \
    BX("mp_lock_free", (mp_lock_free(NULL), true))                                                 \
    BX("mp_semaphore_free", (mp_semaphore_free(NULL), true))                                       \
    BX("mp_condition_free", (mp_condition_free(NULL), true))                                       \
    BX("mp_event_free", (mp_event_free(NULL), true))                                               \
    BX("mp_barrier_free", (mp_barrier_free(NULL), true))
BSWEEP(sync_null_b, SYNC_NULL_B, sctx)

static void sync_make(sctx *c)
{
    memset(c, 0, sizeof *c);
    MP_ASSERT_OK(mp_lock_new(&c->l));
    MP_ASSERT_OK(mp_rlock_new(&c->rl));
    MP_ASSERT_OK(mp_semaphore_new(&c->s, 1));
    MP_ASSERT_OK(mp_bounded_semaphore_new(&c->bs, 1));
    MP_ASSERT_OK(mp_condition_new(&c->cv, NULL));
    MP_ASSERT_OK(mp_condition_new(&c->cvl, c->l));
    MP_ASSERT_OK(mp_event_new(&c->e));
    MP_ASSERT_OK(mp_barrier_new(&c->b, 2, NULL, NULL, MP_FOREVER));
}

static void sync_free(sctx *c)
{
    mp_barrier_free(c->b);
    mp_event_free(c->e);
    mp_condition_free(c->cvl);
    mp_condition_free(c->cv);
    mp_semaphore_free(c->bs);
    mp_semaphore_free(c->s);
    mp_lock_free(c->rl);
    mp_lock_free(c->l);
}

MPT_TEST(badinput, BAD_SYNC_NULL,
         "BAD-SYNC-NULL: every Lock, RLock, Semaphore, Condition, Event and Barrier call given a "
         "NULL handle, output or predicate is MP_EINVAL with a message and changes nothing; every "
         "*_free(NULL) is a no-op.")
{
    sctx c;
    sync_make(&c);
    RUN(sync_null, &c);
    BRUN(sync_null_b, &c);
    bool locked = true;
    MP_ASSERT_OK(mp_lock_locked(c.l, &locked));
    cr_assert(!locked);
    unsigned v = 0;
    MP_ASSERT_OK(mp_semaphore_value(c.s, &v));
    cr_assert_eq(v, 1);
    bool broken = true;
    MP_ASSERT_OK(mp_barrier_broken(c.b, &broken));
    cr_assert(!broken);
    sync_free(&c);
}

#define SYNC_ORDER(X)                                                                              \
    X("mp_lock_release", MP_ESTATE, mp_lock_release(c->l))                                         \
    X("mp_lock_release", MP_ENOTOWNER, mp_lock_release(c->rl))                                     \
    X("mp_semaphore_release", MP_ESTATE, mp_semaphore_release(c->bs))                              \
    X("mp_condition_release", MP_ENOTOWNER, mp_condition_release(c->cv))                           \
    X("mp_condition_release", MP_ESTATE, mp_condition_release(c->cvl))                             \
    X("mp_condition_wait", MP_ENOTOWNER, mp_condition_wait(c->cv, 0))                              \
    X("mp_condition_wait", MP_ENOTOWNER, mp_condition_wait(c->cv, MP_FOREVER))                     \
    X("mp_condition_wait", MP_ENOTOWNER, mp_condition_wait(c->cvl, MP_FOREVER))                    \
    X("mp_condition_wait_for", MP_ENOTOWNER,                                                       \
      mp_condition_wait_for(c->cv, pred_false, NULL, MP_FOREVER))                                  \
    X("mp_condition_notify", MP_ENOTOWNER, mp_condition_notify(c->cv, 1))                          \
    X("mp_condition_notify", MP_ENOTOWNER, mp_condition_notify(c->cvl, 1))                         \
    X("mp_condition_notify_all", MP_ENOTOWNER, mp_condition_notify_all(c->cv))                     \
    X("mp_barrier_abort", MP_OK, mp_barrier_abort(c->b))                                           \
    X("mp_barrier_abort", MP_OK, mp_barrier_abort(c->b))                                           \
    X("mp_barrier_wait", MP_EBROKEN, mp_barrier_wait(c->b, MP_FOREVER, &c->u))                     \
    X("mp_barrier_wait", MP_EBROKEN, mp_barrier_wait(c->b, MP_BARRIER_DEFAULT, NULL))
SWEEP(sync_order, SYNC_ORDER, sctx)

MPT_TEST(
    badinput, BAD_ORDER_SYNC,
    "BAD-ORDER-SYNC: releasing an unheld Lock or over-releasing a BoundedSemaphore is MP_ESTATE, "
    "an unheld RLock MP_ENOTOWNER; Condition release/wait/wait_for/notify/notify_all without the "
    "lock fail at once (MP_ENOTOWNER, MP_ESTATE for a plain Lock's release); a wait on an aborted "
    "Barrier is MP_EBROKEN at once.")
{
    sctx c;
    sync_make(&c);
    RUN(sync_order, &c);
    unsigned v = 0;
    MP_ASSERT_OK(mp_semaphore_value(c.bs, &v));
    cr_assert_eq(v, 1, "the refused over-release changed the value to %u", v);
    sync_free(&c);
}

/* ================================================================= values */

typedef struct vctx {
    mp_value *i, *s, *b, *l, *t, *d, *out;
    const mp_value *cout, *cout2;
    char *repr;
    bool flag;
    int64_t i64;
    double dbl;
    const char *str;
    const void *ptr;
    size_t n;
    void *buf;
} vctx;

#define VALUE_NULL(X)                                                                              \
    X("mp_value_repr", MP_EINVAL, mp_value_repr(NULL, &c->repr))                                   \
    X("mp_value_repr", MP_EINVAL, mp_value_repr(c->i, NULL))                                       \
    X("mp_value_get_bool", MP_EINVAL, mp_value_get_bool(NULL, &c->flag))                           \
    X("mp_value_get_bool", MP_EINVAL, mp_value_get_bool(c->b, NULL))                               \
    X("mp_value_get_int", MP_EINVAL, mp_value_get_int(NULL, &c->i64))                              \
    X("mp_value_get_int", MP_EINVAL, mp_value_get_int(c->i, NULL))                                 \
    X("mp_value_get_float", MP_EINVAL, mp_value_get_float(NULL, &c->dbl))                          \
    X("mp_value_get_float", MP_EINVAL, mp_value_get_float(c->i, NULL))                             \
    X("mp_value_get_str", MP_EINVAL, mp_value_get_str(NULL, &c->str, &c->n))                       \
    X("mp_value_get_str", MP_EINVAL, mp_value_get_str(c->s, NULL, &c->n))                          \
    X("mp_value_get_bytes", MP_EINVAL, mp_value_get_bytes(NULL, &c->ptr, &c->n))                   \
    X("mp_value_get_bytes", MP_EINVAL, mp_value_get_bytes(c->b, NULL, &c->n))                      \
    X("mp_seq_append", MP_EINVAL, mp_seq_append(NULL, mp_int(1)))                                  \
    X("mp_seq_append", MP_EINVAL, mp_seq_append(c->l, NULL))                                       \
    X("mp_seq_len", MP_EINVAL, mp_seq_len(NULL, &c->n))                                            \
    X("mp_seq_len", MP_EINVAL, mp_seq_len(c->l, NULL))                                             \
    X("mp_seq_get", MP_EINVAL, mp_seq_get(NULL, 0, &c->cout))                                      \
    X("mp_seq_get", MP_EINVAL, mp_seq_get(c->l, 0, NULL))                                          \
    X("mp_dict_set", MP_EINVAL, mp_dict_set(NULL, mp_int(1), mp_int(2)))                           \
    X("mp_dict_set", MP_EINVAL, mp_dict_set(c->d, NULL, mp_int(2)))                                \
    X("mp_dict_set", MP_EINVAL, mp_dict_set(c->d, mp_int(1), NULL))                                \
    X("mp_dict_get", MP_EINVAL, mp_dict_get(NULL, c->i, &c->cout))                                 \
    X("mp_dict_get", MP_EINVAL, mp_dict_get(c->d, NULL, &c->cout))                                 \
    X("mp_dict_get", MP_EINVAL, mp_dict_get(c->d, c->i, NULL))                                     \
    X("mp_dict_del", MP_EINVAL, mp_dict_del(NULL, c->i))                                           \
    X("mp_dict_del", MP_EINVAL, mp_dict_del(c->d, NULL))                                           \
    X("mp_dict_len", MP_EINVAL, mp_dict_len(NULL, &c->n))                                          \
    X("mp_dict_len", MP_EINVAL, mp_dict_len(c->d, NULL))                                           \
    X("mp_dict_item", MP_EINVAL, mp_dict_item(NULL, 0, &c->cout, &c->cout2))                       \
    X("mp_value_encode", MP_EINVAL, mp_value_encode(NULL, &c->buf, &c->n))                         \
    X("mp_value_encode", MP_EINVAL, mp_value_encode(c->i, NULL, &c->n))                            \
    X("mp_value_encode", MP_EINVAL, mp_value_encode(c->i, &c->buf, NULL))                          \
    X("mp_value_decode", MP_EINVAL, mp_value_decode(NULL, 1, &c->out))                             \
    X("mp_value_decode", MP_EINVAL, mp_value_decode("\xc0", 1, NULL))
SWEEP(value_null, VALUE_NULL, vctx)

#define VALUE_NULL_B(BX)                                                                           \
    BX("mp_str", mp_str(NULL) == NULL)                                                             \
    BX("mp_strn", mp_strn(NULL, 1) == NULL)                                                        \
    BX("mp_bytes", mp_bytes(NULL, 1) == NULL)                                                      \
    BX("mp_list_of", mp_list_of(2, mp_int(1), NULL) == NULL)                                       \
    BX("mp_tuple_of", mp_tuple_of(2, NULL, mp_str("x")) == NULL)                                   \
    BX("mp_value_free", (mp_value_free(NULL), true))                                               \
    BX("mp_value_copy", mp_value_copy(NULL) == NULL)                                               \
    BX("mp_value_equal", !mp_value_equal(NULL, NULL))                                              \
    BX("mp_value_equal", !mp_value_equal(c->i, NULL))                                              \
    BX("mp_value_type", mp_value_type(NULL) == MP_T_NONE)
BSWEEP(value_null_b, VALUE_NULL_B, vctx)

static void value_make(vctx *c)
{
    memset(c, 0, sizeof *c);
    c->i = mp_int(7);
    c->s = mp_str("s");
    c->b = mp_bytes("b", 1);
    c->l = mp_list_of(1, mp_int(1));
    c->t = mp_tuple_of(1, mp_int(1));
    c->d = mp_dict();
    cr_assert(c->i && c->s && c->b && c->l && c->t && c->d);
    MP_ASSERT_OK(mp_dict_set(c->d, mp_int(7), mp_str("seven")));
}

static void value_free(vctx *c)
{
    mp_value *all[] = {c->i, c->s, c->b, c->l, c->t, c->d, c->out};
    for (size_t k = 0; k < sizeof all / sizeof *all; k++)
        mp_value_free(all[k]);
    free(c->repr);
    free(c->buf);
}

static void value_unchanged(vctx *c)
{
    size_t n = 0;
    MP_ASSERT_OK(mp_seq_len(c->l, &n));
    cr_assert_eq(n, 1, "the list has %zu items", n);
    MP_ASSERT_OK(mp_dict_len(c->d, &n));
    cr_assert_eq(n, 1, "the dict has %zu items", n);
    cr_assert(c->out == NULL && c->repr == NULL && c->buf == NULL, "an output was written");
}

MPT_TEST(
    badinput, BAD_VALUE_NULL,
    "BAD-VALUE-NULL: every value call given a NULL value, item, key or output is MP_EINVAL "
    "(constructors and copy NULL, equal false, type MP_T_NONE, free a no-op) and changes nothing.")
{
    vctx c;
    value_make(&c);
    RUN(value_null, &c);
    BRUN(value_null_b, &c);
    value_unchanged(&c);
    value_free(&c);
}

#define VALUE_TYPE(X)                                                                              \
    X("mp_value_get_bool", MP_ETYPE, mp_value_get_bool(c->i, &c->flag))                            \
    X("mp_value_get_int", MP_ETYPE, mp_value_get_int(c->s, &c->i64))                               \
    X("mp_value_get_float", MP_ETYPE, mp_value_get_float(c->s, &c->dbl))                           \
    X("mp_value_get_str", MP_ETYPE, mp_value_get_str(c->b, &c->str, NULL))                         \
    X("mp_value_get_bytes", MP_ETYPE, mp_value_get_bytes(c->s, &c->ptr, NULL))                     \
    X("mp_seq_append", MP_ETYPE, mp_seq_append(c->d, mp_int(1)))                                   \
    X("mp_seq_len", MP_ETYPE, mp_seq_len(c->s, &c->n))                                             \
    X("mp_seq_get", MP_ETYPE, mp_seq_get(c->d, 0, &c->cout))                                       \
    X("mp_dict_set", MP_ETYPE, mp_dict_set(c->l, mp_int(1), mp_int(2)))                            \
    X("mp_dict_set", MP_ETYPE, mp_dict_set(c->d, mp_list(), mp_int(2)))                            \
    X("mp_dict_set", MP_ETYPE, mp_dict_set(c->d, mp_tuple_of(1, mp_dict()), mp_int(2)))            \
    X("mp_dict_get", MP_ETYPE, mp_dict_get(c->t, c->i, &c->cout))                                  \
    X("mp_dict_get", MP_ETYPE, mp_dict_get(c->d, c->l, &c->cout))                                  \
    X("mp_dict_del", MP_ETYPE, mp_dict_del(c->i, c->i))                                            \
    X("mp_dict_del", MP_ETYPE, mp_dict_del(c->d, c->d))                                            \
    X("mp_dict_len", MP_ETYPE, mp_dict_len(c->l, &c->n))                                           \
    X("mp_dict_item", MP_ETYPE, mp_dict_item(c->l, 0, &c->cout, NULL))                             \
    X("mp_seq_append", MP_EINVAL, mp_seq_append(c->l, c->l))                                       \
    X("mp_dict_set", MP_EINVAL, mp_dict_set(c->d, mp_int(1), c->d))                                \
    X("mp_seq_get", MP_EINDEX, mp_seq_get(c->l, 1, &c->cout))                                      \
    X("mp_seq_get", MP_EINDEX, mp_seq_get(c->l, -2, &c->cout))                                     \
    X("mp_seq_get", MP_EINDEX, mp_seq_get(c->l, PTRDIFF_MIN, &c->cout))                            \
    X("mp_seq_get", MP_EINDEX, mp_seq_get(c->t, PTRDIFF_MAX, &c->cout))                            \
    X("mp_dict_item", MP_EINDEX, mp_dict_item(c->d, 1, &c->cout, NULL))                            \
    X("mp_dict_item", MP_EINDEX, mp_dict_item(c->d, SIZE_MAX, NULL, NULL))                         \
    X("mp_dict_get", MP_EKEY, mp_dict_get(c->d, c->s, &c->cout))                                   \
    X("mp_dict_del", MP_EKEY, mp_dict_del(c->d, c->s))
SWEEP(value_type, VALUE_TYPE, vctx)

#define VALUE_TYPE_B(BX)                                                                           \
    BX("mp_str", mp_str("\xff") == NULL)                                                           \
    BX("mp_strn", mp_strn("a\xc3", 2) == NULL)                                                     \
    BX("mp_strn", mp_strn("\xed\xa0\x80", 3) == NULL)
BSWEEP(value_type_b, VALUE_TYPE_B, vctx)

MPT_TEST(
    badinput, BAD_VALUE_TYPE,
    "BAD-VALUE-TYPE: every typed value call on the wrong type is MP_ETYPE (unhashable keys too), a "
    "container added to itself MP_EINVAL, an index out of range (also PTRDIFF_MIN/MAX, SIZE_MAX) "
    "MP_EINDEX, a missing key MP_EKEY, invalid UTF-8 a NULL str, and nothing changes.")
{
    vctx c;
    value_make(&c);
    RUN(value_type, &c);
    BRUN(value_type_b, &c);
    value_unchanged(&c);
    value_free(&c);
}

/* ================================================================== queue */

typedef struct qctx {
    mp_queue *q, *sq, *jq, *out;
    mp_value *v, *got;
    void *buf;
    size_t n;
    bool flag;
} qctx;

#define QUEUE_NULL(X)                                                                              \
    X("mp_queue_new", MP_EINVAL, mp_queue_new(NULL, 0))                                            \
    X("mp_simple_queue_new", MP_EINVAL, mp_simple_queue_new(NULL))                                 \
    X("mp_joinable_queue_new", MP_EINVAL, mp_joinable_queue_new(NULL, 0))                          \
    X("mp_queue_put", MP_EINVAL, mp_queue_put(NULL, c->v, 0))                                      \
    X("mp_queue_put", MP_EINVAL, mp_queue_put(NULL, c->v, MP_FOREVER))                             \
    X("mp_queue_put", MP_EINVAL, mp_queue_put(c->q, NULL, 0))                                      \
    X("mp_queue_get", MP_EINVAL, mp_queue_get(NULL, &c->got, 0))                                   \
    X("mp_queue_get", MP_EINVAL, mp_queue_get(NULL, &c->got, MP_FOREVER))                          \
    X("mp_queue_get", MP_EINVAL, mp_queue_get(c->q, NULL, 0))                                      \
    X("mp_queue_put_bytes", MP_EINVAL, mp_queue_put_bytes(NULL, "x", 1, 0))                        \
    X("mp_queue_put_bytes", MP_EINVAL, mp_queue_put_bytes(c->q, NULL, 1, 0))                       \
    X("mp_queue_get_bytes", MP_EINVAL, mp_queue_get_bytes(NULL, &c->buf, &c->n, 0))                \
    X("mp_queue_get_bytes", MP_EINVAL, mp_queue_get_bytes(c->q, NULL, &c->n, 0))                   \
    X("mp_queue_get_bytes", MP_EINVAL, mp_queue_get_bytes(c->q, &c->buf, NULL, 0))                 \
    X("mp_queue_qsize", MP_EINVAL, mp_queue_qsize(NULL, &c->n))                                    \
    X("mp_queue_qsize", MP_EINVAL, mp_queue_qsize(c->q, NULL))                                     \
    X("mp_queue_empty", MP_EINVAL, mp_queue_empty(NULL, &c->flag))                                 \
    X("mp_queue_empty", MP_EINVAL, mp_queue_empty(c->q, NULL))                                     \
    X("mp_queue_full", MP_EINVAL, mp_queue_full(NULL, &c->flag))                                   \
    X("mp_queue_full", MP_EINVAL, mp_queue_full(c->q, NULL))                                       \
    X("mp_queue_close", MP_EINVAL, mp_queue_close(NULL))                                           \
    X("mp_queue_join_thread", MP_EINVAL, mp_queue_join_thread(NULL))                               \
    X("mp_queue_cancel_join_thread", MP_EINVAL, mp_queue_cancel_join_thread(NULL))                 \
    X("mp_queue_task_done", MP_EINVAL, mp_queue_task_done(NULL))                                   \
    X("mp_queue_join", MP_EINVAL, mp_queue_join(NULL, 0))                                          \
    X("mp_queue_join", MP_EINVAL, mp_queue_join(NULL, MP_FOREVER))                                 \
    X("mp_queue_put_nowait", MP_EINVAL, mp_queue_put_nowait(NULL, c->v))                           \
    X("mp_queue_put_nowait", MP_EINVAL, mp_queue_put_nowait(c->q, NULL))                           \
    X("mp_queue_get_nowait", MP_EINVAL, mp_queue_get_nowait(NULL, &c->got))                        \
    X("mp_queue_get_nowait", MP_EINVAL, mp_queue_get_nowait(c->q, NULL))
SWEEP(queue_null, QUEUE_NULL, qctx)

#define QUEUE_NULL_B(BX) BX("mp_queue_free", (mp_queue_free(NULL), true))
BSWEEP(queue_null_b, QUEUE_NULL_B, qctx)

static void queue_make(qctx *c)
{
    memset(c, 0, sizeof *c);
    c->v = mp_int(42);
    cr_assert(c->v);
    MP_ASSERT_OK(mp_queue_new(&c->q, 0));
    MP_ASSERT_OK(mp_simple_queue_new(&c->sq));
    MP_ASSERT_OK(mp_joinable_queue_new(&c->jq, 0));
    MP_ASSERT_OK(mp_queue_put(c->q, c->v, 0));
}

static void queue_free(qctx *c)
{
    mp_queue_free(c->q);
    mp_queue_free(c->sq);
    mp_queue_free(c->jq);
    mp_value_free(c->v);
    mp_value_free(c->got);
    free(c->buf);
}

/* The one item queue_make() put is still there, intact. */
static void queue_intact(qctx *c)
{
    size_t n = 0;
    MP_ASSERT_OK(mp_queue_qsize(c->q, &n));
    cr_assert_eq(n, 1, "qsize %zu after the sweep", n);
    mp_value *v = NULL;
    MP_ASSERT_OK(mp_queue_get(c->q, &v, MP_FOREVER));
    cr_assert(mp_value_equal(v, c->v), "the queued item changed");
    mp_value_free(v);
}

MPT_TEST(badinput, BAD_QUEUE_NULL,
         "BAD-QUEUE-NULL: every mp_queue_* / mp_simple_queue_* / mp_joinable_queue_* call given a "
         "NULL handle, value, buffer or output is MP_EINVAL at once (also with MP_FOREVER), with a "
         "message, taking and queueing nothing; mp_queue_free(NULL) is a no-op.")
{
    qctx c;
    queue_make(&c);
    RUN(queue_null, &c);
    BRUN(queue_null_b, &c);
    cr_assert(c.got == NULL && c.buf == NULL, "an output was written");
    queue_intact(&c);
    queue_free(&c);
}

#define QUEUE_CLOSED(X)                                                                            \
    X("mp_queue_put", MP_CLOSED, mp_queue_put(c->q, c->v, 0))                                      \
    X("mp_queue_put", MP_CLOSED, mp_queue_put(c->q, c->v, MP_FOREVER))                             \
    X("mp_queue_put_bytes", MP_CLOSED, mp_queue_put_bytes(c->q, "x", 1, 0))                        \
    X("mp_queue_put_bytes", MP_CLOSED, mp_queue_put_bytes(c->q, "x", 1, MP_FOREVER))               \
    X("mp_queue_put_nowait", MP_CLOSED, mp_queue_put_nowait(c->q, c->v))                           \
    X("mp_queue_put", MP_CLOSED, mp_queue_put(c->sq, c->v, 0))                                     \
    X("mp_queue_put_bytes", MP_CLOSED, mp_queue_put_bytes(c->jq, "", 0, 1.0))                      \
    X("mp_queue_qsize", MP_OK, mp_queue_qsize(c->q, &c->n))                                        \
    X("mp_queue_empty", MP_OK, mp_queue_empty(c->q, &c->flag))                                     \
    X("mp_queue_full", MP_OK, mp_queue_full(c->q, &c->flag))                                       \
    X("mp_queue_close", MP_OK, mp_queue_close(c->q))                                               \
    X("mp_queue_join_thread", MP_OK, mp_queue_join_thread(c->q))                                   \
    X("mp_queue_cancel_join_thread", MP_OK, mp_queue_cancel_join_thread(c->q))                     \
    X("mp_queue_get", MP_OK, mp_queue_get(c->q, &c->got, 0))                                       \
    X("mp_queue_get", MP_EMPTY, mp_queue_get(c->q, &c->got, 0))                                    \
    X("mp_queue_get_bytes", MP_EMPTY, mp_queue_get_bytes(c->q, &c->buf, &c->n, 0))                 \
    X("mp_queue_get_nowait", MP_EMPTY, mp_queue_get_nowait(c->q, &c->got))                         \
    X("mp_queue_join", MP_OK, mp_queue_join(c->jq, 0))                                             \
    X("mp_queue_task_done", MP_ESTATE, mp_queue_task_done(c->jq))
SWEEP(queue_closed, QUEUE_CLOSED, qctx)

MPT_TEST(badinput, BAD_QUEUE_CLOSED,
         "BAD-QUEUE-CLOSED: after close every put (put, put_bytes, put_nowait; any timeout; every "
         "kind of queue) is MP_CLOSED at once, close is MP_OK again, join_thread is allowed, and "
         "what was queued can still be got, then MP_EMPTY.")
{
    qctx c;
    queue_make(&c);
    MP_ASSERT_OK(mp_queue_close(c.q));
    MP_ASSERT_OK(mp_queue_close(c.sq));
    MP_ASSERT_OK(mp_queue_close(c.jq));
    RUN(queue_closed, &c);
    cr_assert(mp_value_equal(c.got, c.v), "the item queued before close was not got");
    queue_free(&c);
}

#define QUEUE_KIND(X)                                                                              \
    X("mp_queue_task_done", MP_EINVAL, mp_queue_task_done(c->q))                                   \
    X("mp_queue_task_done", MP_EINVAL, mp_queue_task_done(c->sq))                                  \
    X("mp_queue_join", MP_EINVAL, mp_queue_join(c->q, 0))                                          \
    X("mp_queue_join", MP_EINVAL, mp_queue_join(c->sq, MP_FOREVER))                                \
    X("mp_queue_join_thread", MP_ESTATE, mp_queue_join_thread(c->q))                               \
    X("mp_queue_join_thread", MP_ESTATE, mp_queue_join_thread(c->jq))                              \
    X("mp_queue_task_done", MP_ESTATE, mp_queue_task_done(c->jq))                                  \
    X("mp_queue_put", MP_OK, mp_queue_put(c->jq, c->v, 0))                                         \
    X("mp_queue_task_done", MP_OK, mp_queue_task_done(c->jq))                                      \
    X("mp_queue_task_done", MP_ESTATE, mp_queue_task_done(c->jq))                                  \
    X("mp_queue_join", MP_OK, mp_queue_join(c->jq, MP_FOREVER))
SWEEP(queue_kind, QUEUE_KIND, qctx)

MPT_TEST(badinput, BAD_ORDER_QUEUE,
         "BAD-ORDER-QUEUE: task_done/join on a Queue or SimpleQueue are MP_EINVAL (AttributeError) "
         "at once, join_thread before close is MP_ESTATE, and task_done more often than items put "
         "is MP_ESTATE without spoiling join.")
{
    qctx c;
    queue_make(&c);
    RUN(queue_kind, &c);
    queue_intact(&c);
    queue_free(&c);
}

/* =================================================================== pipe */

typedef struct cctx {
    mp_conn *a, *b, *out;
    mp_value *v, *got;
    void *buf;
    char small[8];
    size_t n;
    int fd;
} cctx;

#define PIPE_NULL(X)                                                                               \
    X("mp_pipe", MP_EINVAL, mp_pipe(NULL, &c->out, true))                                          \
    X("mp_pipe", MP_EINVAL, mp_pipe(&c->out, NULL, false))                                         \
    X("mp_conn_send", MP_EINVAL, mp_conn_send(NULL, c->v))                                         \
    X("mp_conn_send", MP_EINVAL, mp_conn_send(c->b, NULL))                                         \
    X("mp_conn_recv", MP_EINVAL, mp_conn_recv(NULL, &c->got))                                      \
    X("mp_conn_recv", MP_EINVAL, mp_conn_recv(c->a, NULL))                                         \
    X("mp_conn_send_bytes", MP_EINVAL, mp_conn_send_bytes(NULL, "x", 1))                           \
    X("mp_conn_send_bytes", MP_EINVAL, mp_conn_send_bytes(c->b, NULL, 1))                          \
    X("mp_conn_send_bytes_range", MP_EINVAL, mp_conn_send_bytes_range(NULL, "xy", 2, 0, 1))        \
    X("mp_conn_send_bytes_range", MP_EINVAL, mp_conn_send_bytes_range(c->b, NULL, 2, 0, 1))        \
    X("mp_conn_recv_bytes", MP_EINVAL, mp_conn_recv_bytes(NULL, &c->buf, &c->n, 0))                \
    X("mp_conn_recv_bytes", MP_EINVAL, mp_conn_recv_bytes(c->a, NULL, &c->n, 0))                   \
    X("mp_conn_recv_bytes", MP_EINVAL, mp_conn_recv_bytes(c->a, &c->buf, NULL, 0))                 \
    X("mp_conn_recv_bytes_into", MP_EINVAL, mp_conn_recv_bytes_into(NULL, c->small, 8, 0, &c->n))  \
    X("mp_conn_recv_bytes_into", MP_EINVAL, mp_conn_recv_bytes_into(c->a, NULL, 8, 0, &c->n))      \
    X("mp_conn_recv_bytes_into", MP_EINVAL, mp_conn_recv_bytes_into(c->a, c->small, 8, 0, NULL))   \
    X("mp_conn_poll", MP_EINVAL, mp_conn_poll(NULL, 0))                                            \
    X("mp_conn_poll", MP_EINVAL, mp_conn_poll(NULL, MP_FOREVER))                                   \
    X("mp_conn_fileno", MP_EINVAL, mp_conn_fileno(NULL, &c->fd))                                   \
    X("mp_conn_fileno", MP_EINVAL, mp_conn_fileno(c->a, NULL))                                     \
    X("mp_conn_send_fd", MP_EINVAL, mp_conn_send_fd(NULL, 2))                                      \
    X("mp_conn_send_fd", MP_EINVAL, mp_conn_send_fd(c->b, -1))                                     \
    X("mp_conn_send_fd", MP_EINVAL, mp_conn_send_fd(c->b, 1 << 20))                                \
    X("mp_conn_recv_fd", MP_EINVAL, mp_conn_recv_fd(NULL, &c->fd))                                 \
    X("mp_conn_recv_fd", MP_EINVAL, mp_conn_recv_fd(c->a, NULL))                                   \
    X("mp_conn_close", MP_EINVAL, mp_conn_close(NULL))
SWEEP(pipe_null, PIPE_NULL, cctx)

#define PIPE_NULL_B(BX) BX("mp_conn_free", (mp_conn_free(NULL), true))
BSWEEP(pipe_null_b, PIPE_NULL_B, cctx)

static void pipe_make(cctx *c, bool duplex)
{
    memset(c, 0, sizeof *c);
    c->v = mp_str("kept");
    cr_assert(c->v);
    MP_ASSERT_OK(mp_pipe(&c->a, &c->b, duplex));
}

static void pipe_free(cctx *c)
{
    mp_conn_free(c->a);
    mp_conn_free(c->b);
    mp_value_free(c->v);
    mp_value_free(c->got);
    free(c->buf);
}

MPT_TEST(badinput, BAD_PIPE_NULL,
         "BAD-PIPE-NULL: every mp_pipe / mp_conn_* call given a NULL end, value, buffer or output "
         "is MP_EINVAL at once with a message, sending and consuming nothing; mp_conn_free(NULL) "
         "is a no-op.")
{
    cctx c;
    pipe_make(&c, true);
    MP_ASSERT_OK(mp_conn_send(c.b, c.v));
    RUN(pipe_null, &c);
    BRUN(pipe_null_b, &c);
    cr_assert(c.out == NULL && c.got == NULL && c.buf == NULL, "an output was written");
    MP_ASSERT_OK(mp_conn_recv(c.a, &c.got));
    cr_assert(mp_value_equal(c.got, c.v), "the pending message changed");
    MPT_ASSERT_PROMPT(mp_conn_poll(c.a, 0), MP_TIMEOUT);
    pipe_free(&c);
}

#define PIPE_CLOSED(X)                                                                             \
    X("mp_conn_send", MP_CLOSED, mp_conn_send(c->a, c->v))                                         \
    X("mp_conn_recv", MP_CLOSED, mp_conn_recv(c->a, &c->got))                                      \
    X("mp_conn_send_bytes", MP_CLOSED, mp_conn_send_bytes(c->a, "x", 1))                           \
    X("mp_conn_send_bytes_range", MP_CLOSED, mp_conn_send_bytes_range(c->a, "xy", 2, 0, 1))        \
    X("mp_conn_recv_bytes", MP_CLOSED, mp_conn_recv_bytes(c->a, &c->buf, &c->n, 0))                \
    X("mp_conn_recv_bytes_into", MP_CLOSED, mp_conn_recv_bytes_into(c->a, c->small, 8, 0, &c->n))  \
    X("mp_conn_poll", MP_CLOSED, mp_conn_poll(c->a, 0))                                            \
    X("mp_conn_poll", MP_CLOSED, mp_conn_poll(c->a, MP_FOREVER))                                   \
    X("mp_conn_fileno", MP_CLOSED, mp_conn_fileno(c->a, &c->fd))                                   \
    X("mp_conn_send_fd", MP_CLOSED, mp_conn_send_fd(c->a, 2))                                      \
    X("mp_conn_recv_fd", MP_CLOSED, mp_conn_recv_fd(c->a, &c->fd))                                 \
    X("mp_conn_close", MP_OK, mp_conn_close(c->a))
SWEEP(pipe_closed, PIPE_CLOSED, cctx)

MPT_TEST(badinput, BAD_PIPE_CLOSED,
         "BAD-PIPE-CLOSED: after close every mp_conn_* call on the end is MP_CLOSED at once (also "
         "poll with MP_FOREVER, and with a message still pending) and close again is MP_OK.")
{
    cctx c;
    pipe_make(&c, true);
    MP_ASSERT_OK(mp_conn_send(c.b, c.v));
    MP_ASSERT_OK(mp_conn_close(c.a));
    RUN(pipe_closed, &c);
    cr_assert(c.got == NULL && c.buf == NULL, "an output was written");
    pipe_free(&c);
}

#define PIPE_DIRECTION(X)                                                                          \
    X("mp_conn_send", MP_EACCES, mp_conn_send(c->a, c->v))                                         \
    X("mp_conn_send_bytes", MP_EACCES, mp_conn_send_bytes(c->a, "x", 1))                           \
    X("mp_conn_send_bytes_range", MP_EACCES, mp_conn_send_bytes_range(c->a, "xy", 2, 0, 1))        \
    X("mp_conn_recv", MP_EACCES, mp_conn_recv(c->b, &c->got))                                      \
    X("mp_conn_recv_bytes", MP_EACCES, mp_conn_recv_bytes(c->b, &c->buf, &c->n, 0))                \
    X("mp_conn_recv_bytes_into", MP_EACCES, mp_conn_recv_bytes_into(c->b, c->small, 8, 0, &c->n))  \
    X("mp_conn_poll", MP_EACCES, mp_conn_poll(c->b, 0))                                            \
    X("mp_conn_poll", MP_EACCES, mp_conn_poll(c->b, MP_FOREVER))                                   \
    X("mp_conn_send_fd", MP_EACCES, mp_conn_send_fd(c->a, 2))                                      \
    X("mp_conn_recv_fd", MP_EACCES, mp_conn_recv_fd(c->b, &c->fd))                                 \
    X("mp_conn_fileno", MP_OK, mp_conn_fileno(c->a, &c->fd))                                       \
    X("mp_conn_fileno", MP_OK, mp_conn_fileno(c->b, &c->fd))
SWEEP(pipe_direction, PIPE_DIRECTION, cctx)

MPT_TEST(badinput, BAD_PIPE_DIRECTION,
         "BAD-PIPE-DIRECTION: on a one-way Pipe every send call on the receive end and every "
         "receive call (poll too, even MP_FOREVER) on the send end is MP_EACCES at once, and the "
         "pipe still works afterwards.")
{
    cctx c;
    pipe_make(&c, false);
    RUN(pipe_direction, &c);
    MP_ASSERT_OK(mp_conn_send(c.b, c.v));
    MP_ASSERT_OK(mp_conn_recv(c.a, &c.got));
    cr_assert(mp_value_equal(c.got, c.v));
    pipe_free(&c);
}

/* ============================================================ connection */

typedef struct nctx {
    mp_listener *l, *lout;
    mp_conn *a, *b, *ro, *wo, *out;
    mp_waitable w[1], wneg[1], wbad[1], wclosed[1], wsendonly[1];
    const char *s;
    int fd;
    size_t n;
} nctx;

#define CONNECTION_NULL(X)                                                                         \
    X("mp_connection_wait", MP_EINVAL, mp_connection_wait(NULL, 1, 0, &c->n))                      \
    X("mp_connection_wait", MP_EINVAL, mp_connection_wait(NULL, 1, MP_FOREVER, &c->n))             \
    X("mp_connection_wait", MP_EINVAL, mp_connection_wait(NULL, 0, MP_FOREVER, &c->n))             \
    X("mp_connection_wait", MP_EINVAL, mp_connection_wait(c->w, 1, NAN, &c->n))                    \
    X("mp_connection_wait", MP_EINVAL, mp_connection_wait(c->wneg, 1, MP_FOREVER, &c->n))          \
    X("mp_connection_wait", MP_EINVAL, mp_connection_wait(c->wbad, 1, MP_FOREVER, &c->n))          \
    X("mp_listener_new", MP_EINVAL, mp_listener_new(NULL, NULL, 0, NULL, 0))                       \
    X("mp_listener_new", MP_EINVAL, mp_listener_new(&c->lout, NULL, 0, NULL, 3))                   \
    X("mp_listener_new", MP_EINVAL, mp_listener_new(&c->lout, NULL, -1, NULL, 0))                  \
    X("mp_listener_new", MP_EINVAL, mp_listener_new(&c->lout, "bogus", 0, NULL, 0))                \
    X("mp_listener_new", MP_EINVAL, mp_listener_new(&c->lout, "unix:", 0, NULL, 0))                \
    X("mp_listener_new", MP_EINVAL, mp_listener_new(&c->lout, "tcp:127.0.0.1:99999", 0, NULL, 0))  \
    X("mp_listener_accept", MP_EINVAL, mp_listener_accept(NULL, &c->out))                          \
    X("mp_listener_accept", MP_EINVAL, mp_listener_accept(c->l, NULL))                             \
    X("mp_listener_address", MP_EINVAL, mp_listener_address(NULL, &c->s))                          \
    X("mp_listener_address", MP_EINVAL, mp_listener_address(c->l, NULL))                           \
    X("mp_listener_fileno", MP_EINVAL, mp_listener_fileno(NULL, &c->fd))                           \
    X("mp_listener_fileno", MP_EINVAL, mp_listener_fileno(c->l, NULL))                             \
    X("mp_listener_close", MP_EINVAL, mp_listener_close(NULL))                                     \
    X("mp_client", MP_EINVAL, mp_client(NULL, "unix:/nonexistent/x", NULL, 0))                     \
    X("mp_client", MP_EINVAL, mp_client(&c->out, NULL, NULL, 0))                                   \
    X("mp_client", MP_EINVAL, mp_client(&c->out, "unix:/nonexistent/x", NULL, 3))                  \
    X("mp_client", MP_EINVAL, mp_client(&c->out, "tcp:nohost", NULL, 0))                           \
    X("mp_client", MP_EINVAL, mp_client(&c->out, "bogus", NULL, 0))
SWEEP(connection_null, CONNECTION_NULL, nctx)

#define CONNECTION_NULL_B(BX) BX("mp_listener_free", (mp_listener_free(NULL), true))
BSWEEP(connection_null_b, CONNECTION_NULL_B, nctx)

static void connection_make(nctx *c)
{
    memset(c, 0, sizeof *c);
    MP_ASSERT_OK(mp_listener_new(&c->l, NULL, 0, NULL, 0));
    MP_ASSERT_OK(mp_pipe(&c->a, &c->b, true));
    MP_ASSERT_OK(mp_pipe(&c->ro, &c->wo, false));
    c->w[0] = (mp_waitable){.conn = c->a};
    c->wneg[0] = (mp_waitable){.fd = -1};
    c->wbad[0] = (mp_waitable){.fd = 1 << 20}; /* never open: beyond RLIMIT_NOFILE */
    c->wsendonly[0] = (mp_waitable){.conn = c->wo};
}

static void connection_free(nctx *c)
{
    mp_listener_free(c->l);
    mp_listener_free(c->lout);
    mp_conn_free(c->a);
    mp_conn_free(c->b);
    mp_conn_free(c->ro);
    mp_conn_free(c->wo);
    mp_conn_free(c->out);
}

MPT_TEST(
    badinput, BAD_CONNECTION_NULL,
    "BAD-CONNECTION-NULL: every mp_connection_wait / mp_listener_* / mp_client call given a NULL "
    "handle or output, a negative or unopened descriptor, a NaN timeout, nothing to wait for "
    "forever, a NULL authkey of nonzero length, a negative backlog or a malformed address is "
    "MP_EINVAL at once with a message, writing no output; mp_listener_free(NULL) is a no-op.")
{
    nctx c;
    connection_make(&c);
    MP_ASSERT_OK(mp_conn_send_bytes(c.b, "kept", 4));
    RUN(connection_null, &c);
    BRUN(connection_null_b, &c);
    cr_assert(c.lout == NULL && c.out == NULL && c.n == 0, "an output was written");
    void *buf = NULL;
    size_t n = 0;
    MP_ASSERT_OK(mp_conn_recv_bytes(c.a, &buf, &n, 0));
    cr_assert(n == 4 && memcmp(buf, "kept", 4) == 0, "the pending message changed");
    free(buf);
    connection_free(&c);
}

#define CONNECTION_CLOSED(X)                                                                       \
    X("mp_listener_accept", MP_CLOSED, mp_listener_accept(c->l, &c->out))                          \
    X("mp_listener_address", MP_CLOSED, mp_listener_address(c->l, &c->s))                          \
    X("mp_listener_fileno", MP_CLOSED, mp_listener_fileno(c->l, &c->fd))                           \
    X("mp_listener_close", MP_OK, mp_listener_close(c->l))                                         \
    X("mp_connection_wait", MP_CLOSED, mp_connection_wait(c->w, 1, MP_FOREVER, &c->n))             \
    X("mp_connection_wait", MP_EACCES, mp_connection_wait(c->wsendonly, 1, MP_FOREVER, &c->n))
SWEEP(connection_closed, CONNECTION_CLOSED, nctx)

MPT_TEST(badinput, BAD_CONNECTION_CLOSED,
         "BAD-CONNECTION-CLOSED: after close every mp_listener_* call is MP_CLOSED at once and "
         "close again MP_OK; wait (even MP_FOREVER) on a closed connection is MP_CLOSED and on a "
         "send-only end MP_EACCES, at once.")
{
    nctx c;
    connection_make(&c);
    MP_ASSERT_OK(mp_listener_close(c.l));
    MP_ASSERT_OK(mp_conn_close(c.a));
    RUN(connection_closed, &c);
    cr_assert(c.out == NULL && c.n == 0, "an output was written");
    connection_free(&c);
}

/* ============================================================ size limits */

typedef struct zctx {
    mp_queue *q;
    mp_conn *a, *b;
    mp_value *deep, *out, *l;
    const mp_value *cout;
    mp_barrier *bar;
    mp_semaphore *sem, *top;
    char small[8];
    void *buf;
    size_t n;
} zctx;

/* msgpack: an array claiming 2^32-1 items, a str claiming 2^32-1 bytes, a map
 * claiming 2^32-1 pairs, a bin claiming 2^32-1 bytes: 5 bytes each. */
static const char huge_array[] = "\xdd\xff\xff\xff\xff";
static const char huge_str[] = "\xdb\xff\xff\xff\xff";
static const char huge_map[] = "\xdf\xff\xff\xff\xff";
static const char huge_bin[] = "\xc6\xff\xff\xff\xff";

#define SIZE_LIMIT(X)                                                                              \
    X("mp_queue_put_bytes", MP_EMSGSIZE, mp_queue_put_bytes(c->q, c->small, MP_MSG_MAX + 1, 0))    \
    X("mp_queue_put_bytes", MP_EMSGSIZE, mp_queue_put_bytes(c->q, c->small, SIZE_MAX, MP_FOREVER)) \
    X("mp_conn_send_bytes", MP_EMSGSIZE, mp_conn_send_bytes(c->b, c->small, MP_MSG_MAX + 1))       \
    X("mp_conn_send_bytes", MP_EMSGSIZE, mp_conn_send_bytes(c->b, c->small, SIZE_MAX))             \
    X("mp_conn_send_bytes_range", MP_EMSGSIZE,                                                     \
      mp_conn_send_bytes_range(c->b, c->small, SIZE_MAX, 0, MP_MSG_MAX + 1))                       \
    X("mp_value_encode", MP_EINVAL, mp_value_encode(c->deep, &c->buf, &c->n))                      \
    X("mp_value_decode", MP_EPROTO, mp_value_decode(huge_array, 5, &c->out))                       \
    X("mp_value_decode", MP_EPROTO, mp_value_decode(huge_str, 5, &c->out))                         \
    X("mp_value_decode", MP_EPROTO, mp_value_decode(huge_map, 5, &c->out))                         \
    X("mp_value_decode", MP_EPROTO, mp_value_decode(huge_bin, 5, &c->out))                         \
    X("mp_value_decode", MP_EPROTO, mp_value_decode(c->small, 0, &c->out))                         \
    X("mp_queue_put", MP_EINVAL, mp_queue_put(c->q, c->deep, 0))                                   \
    X("mp_conn_send", MP_EINVAL, mp_conn_send(c->b, c->deep))                                      \
    X("mp_barrier_new", MP_EINVAL, mp_barrier_new(&c->bar, 0, NULL, NULL, MP_FOREVER))             \
    X("mp_barrier_new", MP_EINVAL, mp_barrier_new(&c->bar, 2, NULL, NULL, NAN))                    \
    X("mp_barrier_new", MP_EINVAL, mp_barrier_new(&c->bar, 2, NULL, NULL, MP_BARRIER_DEFAULT))     \
    X("mp_semaphore_new", MP_EINVAL, mp_semaphore_new(&c->sem, UINT_MAX))                          \
    X("mp_semaphore_release", MP_OK, mp_semaphore_release(c->top))                                 \
    X("mp_semaphore_release", MP_ESTATE, mp_semaphore_release(c->top))
SWEEP(size_limit, SIZE_LIMIT, zctx)

MPT_TEST(
    badinput, BAD_SIZE_LIMIT,
    "BAD-SIZE-LIMIT: lengths beyond MP_MSG_MAX (up to SIZE_MAX, with a buffer far smaller) are "
    "MP_EMSGSIZE before any byte is read or sent, values nested deeper than MP_VALUE_MAX_DEPTH "
    "MP_EINVAL for encode/put/send, input claiming 2^32-1 items or bytes MP_EPROTO without "
    "allocating, a Barrier of 0 parties or NaN default timeout and a plain Semaphore(UINT_MAX) "
    "MP_EINVAL, a release past UINT_MAX MP_ESTATE; nothing is queued or sent.")
{
    zctx c = {0};
    c.deep = nested(MP_VALUE_MAX_DEPTH + 1);
    MP_ASSERT_OK(mp_queue_new(&c.q, 0));
    MP_ASSERT_OK(mp_pipe(&c.a, &c.b, true));
    MP_ASSERT_OK(mp_semaphore_new(&c.top, UINT_MAX - 1));
    RUN(size_limit, &c);
    cr_assert(!c.out && !c.buf && !c.bar && !c.sem, "an output was written");
    unsigned v = 0;
    MP_ASSERT_OK(mp_semaphore_value(c.top, &v));
    cr_assert_eq(v, UINT_MAX, "the refused release changed the value to %u", v);
    mp_semaphore_free(c.top);
    bool empty = false;
    MP_ASSERT_OK(mp_queue_empty(c.q, &empty));
    cr_assert(empty, "something was queued");
    MPT_ASSERT_PROMPT(mp_conn_poll(c.a, 0), MP_TIMEOUT);
    mp_value *ok = nested(MP_VALUE_MAX_DEPTH);
    MP_ASSERT_OK(mp_value_encode(ok, &c.buf, &c.n));
    mp_value_free(ok);
    free(c.buf);
    mp_value_free(c.deep);
    mp_conn_free(c.a);
    mp_conn_free(c.b);
    mp_queue_free(c.q);
}

#define SIZE_RANGE(X)                                                                              \
    X("mp_conn_send_bytes_range", MP_EINVAL, mp_conn_send_bytes_range(c->b, c->small, 4, 5, 0))    \
    X("mp_conn_send_bytes_range", MP_EINVAL, mp_conn_send_bytes_range(c->b, c->small, 4, 2, 3))    \
    X("mp_conn_send_bytes_range", MP_EINVAL,                                                       \
      mp_conn_send_bytes_range(c->b, c->small, 4, 1, SIZE_MAX))                                    \
    X("mp_conn_send_bytes_range", MP_EINVAL,                                                       \
      mp_conn_send_bytes_range(c->b, c->small, 4, SIZE_MAX, 2))                                    \
    X("mp_conn_recv_bytes_into", MP_EINVAL, mp_conn_recv_bytes_into(c->a, c->small, 4, 5, &c->n))  \
    X("mp_conn_recv_bytes_into", MP_EINVAL,                                                        \
      mp_conn_recv_bytes_into(c->a, c->small, 4, SIZE_MAX, &c->n))                                 \
    X("mp_conn_send_bytes_range", MP_OK, mp_conn_send_bytes_range(c->b, c->small, 4, 4, 0))        \
    X("mp_conn_recv_bytes_into", MP_OK, mp_conn_recv_bytes_into(c->a, c->small, 4, 4, &c->n))
SWEEP(size_range, SIZE_RANGE, zctx)

MPT_TEST(badinput, BAD_SIZE_RANGE,
         "BAD-SIZE-RANGE: send_bytes_range with offset or offset + size beyond the buffer (also "
         "when offset + size wraps around SIZE_MAX) and recv_bytes_into with offset beyond the "
         "buffer are MP_EINVAL, sending or consuming nothing; offset == buflen with size 0 is a "
         "valid empty message.")
{
    zctx c = {0};
    MP_ASSERT_OK(mp_pipe(&c.a, &c.b, true));
    RUN(size_range, &c);
    cr_assert_eq(c.n, 0, "the empty message arrived as %zu bytes", c.n);
    MPT_ASSERT_PROMPT(mp_conn_poll(c.a, 0), MP_TIMEOUT);
    mp_conn_free(c.a);
    mp_conn_free(c.b);
}

/* =================================================================== pool */

/* Tasks run in the workers, forked after the gate was made: they share it. */
static mp_event *g_gate;

static mp_status task_echo(const mp_value *arg, mp_value **result)
{
    *result = mp_value_copy(arg);
    return *result ? MP_OK : MP_ENOMEM;
}

static mp_status task_gate(const mp_value *arg, mp_value **result)
{
    (void)arg;
    (void)result;
    return mp_event_wait(g_gate, MP_FOREVER);
}

typedef struct poolctx {
    mp_pool *p, *out;
    mp_value *arg, *args, *sargs, *res;
    const mp_value *cres;
    mp_async_result *r, *rout;
    mp_imap *it, *itout;
    int n;
    bool flag;
} poolctx;

#define POOL_NULL(X)                                                                               \
    X("mp_pool_new", MP_EINVAL, mp_pool_new(NULL, 1, NULL, NULL, 0))                               \
    X("mp_pool_size", MP_EINVAL, mp_pool_size(NULL, &c->n))                                        \
    X("mp_pool_size", MP_EINVAL, mp_pool_size(c->p, NULL))                                         \
    X("mp_pool_apply", MP_EINVAL, mp_pool_apply(NULL, task_echo, c->arg, &c->res))                 \
    X("mp_pool_apply", MP_EINVAL, mp_pool_apply(c->p, NULL, c->arg, &c->res))                      \
    X("mp_pool_apply", MP_EINVAL, mp_pool_apply(c->p, task_echo, NULL, &c->res))                   \
    X("mp_pool_apply", MP_EINVAL, mp_pool_apply(c->p, task_echo, c->arg, NULL))                    \
    X("mp_pool_apply_async", MP_EINVAL,                                                            \
      mp_pool_apply_async(NULL, task_echo, c->arg, NULL, NULL, NULL, &c->rout))                    \
    X("mp_pool_apply_async", MP_EINVAL,                                                            \
      mp_pool_apply_async(c->p, NULL, c->arg, NULL, NULL, NULL, &c->rout))                         \
    X("mp_pool_apply_async", MP_EINVAL,                                                            \
      mp_pool_apply_async(c->p, task_echo, NULL, NULL, NULL, NULL, &c->rout))                      \
    X("mp_pool_apply_async", MP_EINVAL,                                                            \
      mp_pool_apply_async(c->p, task_echo, c->arg, NULL, NULL, NULL, NULL))                        \
    X("mp_pool_map", MP_EINVAL, mp_pool_map(NULL, task_echo, c->args, 0, &c->res))                 \
    X("mp_pool_map", MP_EINVAL, mp_pool_map(c->p, NULL, c->args, 0, &c->res))                      \
    X("mp_pool_map", MP_EINVAL, mp_pool_map(c->p, task_echo, NULL, 0, &c->res))                    \
    X("mp_pool_map", MP_EINVAL, mp_pool_map(c->p, task_echo, c->args, 0, NULL))                    \
    X("mp_pool_map_async", MP_EINVAL,                                                              \
      mp_pool_map_async(NULL, task_echo, c->args, 0, NULL, NULL, NULL, &c->rout))                  \
    X("mp_pool_map_async", MP_EINVAL,                                                              \
      mp_pool_map_async(c->p, NULL, c->args, 0, NULL, NULL, NULL, &c->rout))                       \
    X("mp_pool_map_async", MP_EINVAL,                                                              \
      mp_pool_map_async(c->p, task_echo, NULL, 0, NULL, NULL, NULL, &c->rout))                     \
    X("mp_pool_map_async", MP_EINVAL,                                                              \
      mp_pool_map_async(c->p, task_echo, c->args, 0, NULL, NULL, NULL, NULL))                      \
    X("mp_pool_starmap", MP_EINVAL, mp_pool_starmap(NULL, task_echo, c->sargs, 0, &c->res))        \
    X("mp_pool_starmap", MP_EINVAL, mp_pool_starmap(c->p, NULL, c->sargs, 0, &c->res))             \
    X("mp_pool_starmap", MP_EINVAL, mp_pool_starmap(c->p, task_echo, NULL, 0, &c->res))            \
    X("mp_pool_starmap", MP_EINVAL, mp_pool_starmap(c->p, task_echo, c->sargs, 0, NULL))           \
    X("mp_pool_starmap_async", MP_EINVAL,                                                          \
      mp_pool_starmap_async(NULL, task_echo, c->sargs, 0, NULL, NULL, NULL, &c->rout))             \
    X("mp_pool_starmap_async", MP_EINVAL,                                                          \
      mp_pool_starmap_async(c->p, NULL, c->sargs, 0, NULL, NULL, NULL, &c->rout))                  \
    X("mp_pool_starmap_async", MP_EINVAL,                                                          \
      mp_pool_starmap_async(c->p, task_echo, NULL, 0, NULL, NULL, NULL, &c->rout))                 \
    X("mp_pool_starmap_async", MP_EINVAL,                                                          \
      mp_pool_starmap_async(c->p, task_echo, c->sargs, 0, NULL, NULL, NULL, NULL))                 \
    X("mp_pool_imap", MP_EINVAL, mp_pool_imap(NULL, task_echo, c->args, 0, &c->itout))             \
    X("mp_pool_imap", MP_EINVAL, mp_pool_imap(c->p, NULL, c->args, 0, &c->itout))                  \
    X("mp_pool_imap", MP_EINVAL, mp_pool_imap(c->p, task_echo, NULL, 0, &c->itout))                \
    X("mp_pool_imap", MP_EINVAL, mp_pool_imap(c->p, task_echo, c->args, 0, NULL))                  \
    X("mp_pool_imap_unordered", MP_EINVAL,                                                         \
      mp_pool_imap_unordered(NULL, task_echo, c->args, 0, &c->itout))                              \
    X("mp_pool_imap_unordered", MP_EINVAL,                                                         \
      mp_pool_imap_unordered(c->p, NULL, c->args, 0, &c->itout))                                   \
    X("mp_pool_imap_unordered", MP_EINVAL,                                                         \
      mp_pool_imap_unordered(c->p, task_echo, NULL, 0, &c->itout))                                 \
    X("mp_pool_imap_unordered", MP_EINVAL,                                                         \
      mp_pool_imap_unordered(c->p, task_echo, c->args, 0, NULL))                                   \
    X("mp_imap_next", MP_EINVAL, mp_imap_next(NULL, 0, &c->res))                                   \
    X("mp_imap_next", MP_EINVAL, mp_imap_next(NULL, MP_FOREVER, &c->res))                          \
    X("mp_imap_next", MP_EINVAL, mp_imap_next(c->it, 0, NULL))                                     \
    X("mp_async_result_get", MP_EINVAL, mp_async_result_get(NULL, 0, &c->cres))                    \
    X("mp_async_result_get", MP_EINVAL, mp_async_result_get(NULL, MP_FOREVER, &c->cres))           \
    X("mp_async_result_get", MP_EINVAL, mp_async_result_get(c->r, 0, NULL))                        \
    X("mp_async_result_wait", MP_EINVAL, mp_async_result_wait(NULL, 0))                            \
    X("mp_async_result_wait", MP_EINVAL, mp_async_result_wait(NULL, MP_FOREVER))                   \
    X("mp_async_result_ready", MP_EINVAL, mp_async_result_ready(NULL, &c->flag))                   \
    X("mp_async_result_ready", MP_EINVAL, mp_async_result_ready(c->r, NULL))                       \
    X("mp_async_result_successful", MP_EINVAL, mp_async_result_successful(NULL, &c->flag))         \
    X("mp_async_result_successful", MP_EINVAL, mp_async_result_successful(c->r, NULL))             \
    X("mp_pool_close", MP_EINVAL, mp_pool_close(NULL))                                             \
    X("mp_pool_terminate", MP_EINVAL, mp_pool_terminate(NULL))                                     \
    X("mp_pool_join", MP_EINVAL, mp_pool_join(NULL))
SWEEP(pool_null, POOL_NULL, poolctx)

#define POOL_NULL_B(BX)                                                                            \
    BX("mp_imap_free", (mp_imap_free(NULL), true))                                                 \
    BX("mp_async_result_free", (mp_async_result_free(NULL), true))                                 \
    BX("mp_pool_free", (mp_pool_free(NULL), true))
BSWEEP(pool_null_b, POOL_NULL_B, poolctx)

/* A pool of one worker, busy with c->r (a task waiting for g_gate), and an
 * imap queued behind it. */
static void pool_make(poolctx *c)
{
    memset(c, 0, sizeof *c);
    MP_ASSERT_OK(mp_event_new(&g_gate));
    c->arg = mp_int(5);
    c->args = mp_list_of(2, mp_int(1), mp_int(2));
    c->sargs = mp_list_of(1, mp_tuple_of(1, mp_int(1)));
    cr_assert(c->arg && c->args && c->sargs);
    MP_ASSERT_OK(mp_pool_new(&c->p, 1, NULL, NULL, 0));
    MP_ASSERT_OK(mp_pool_apply_async(c->p, task_gate, c->arg, NULL, NULL, NULL, &c->r));
    MP_ASSERT_OK(mp_pool_imap(c->p, task_echo, c->args, 0, &c->it));
}

static void pool_free(poolctx *c)
{
    MP_ASSERT_OK(mp_event_set(g_gate));
    const mp_value *res = NULL;
    MP_ASSERT_OK(mp_async_result_get(c->r, MP_FOREVER, &res));
    MP_ASSERT_OK(mp_pool_close(c->p));
    MP_ASSERT_OK(mp_pool_join(c->p));
    mp_pool_free(c->p);
    mp_async_result_free(c->r);
    mp_imap_free(c->it);
    mp_value_free(c->arg);
    mp_value_free(c->args);
    mp_value_free(c->sargs);
    mp_value_free(c->res);
    mp_event_free(g_gate);
    g_gate = NULL;
}

MPT_TEST(badinput, BAD_POOL_NULL,
         "BAD-POOL-NULL: every mp_pool_* / mp_async_result_* / mp_imap_* call given a NULL pool, "
         "result, iterator, function, argument or output is MP_EINVAL at once (also with "
         "MP_FOREVER), submitting nothing; the *_free(NULL) calls are no-ops.")
{
    poolctx c;
    pool_make(&c);
    RUN(pool_null, &c);
    BRUN(pool_null_b, &c);
    cr_assert(!c.out && !c.rout && !c.itout && !c.res, "an output was written");
    pool_free(&c);
}

#define POOL_TYPE(X)                                                                               \
    X("mp_pool_map", MP_ETYPE, mp_pool_map(c->p, task_echo, c->arg, 0, &c->res))                   \
    X("mp_pool_map_async", MP_ETYPE,                                                               \
      mp_pool_map_async(c->p, task_echo, c->arg, 0, NULL, NULL, NULL, &c->rout))                   \
    X("mp_pool_starmap", MP_ETYPE, mp_pool_starmap(c->p, task_echo, c->arg, 0, &c->res))           \
    X("mp_pool_starmap", MP_ETYPE, mp_pool_starmap(c->p, task_echo, c->args, 0, &c->res))          \
    X("mp_pool_starmap_async", MP_ETYPE,                                                           \
      mp_pool_starmap_async(c->p, task_echo, c->args, 0, NULL, NULL, NULL, &c->rout))              \
    X("mp_pool_imap", MP_ETYPE, mp_pool_imap(c->p, task_echo, c->arg, 0, &c->itout))               \
    X("mp_pool_imap_unordered", MP_ETYPE,                                                          \
      mp_pool_imap_unordered(c->p, task_echo, c->arg, 0, &c->itout))
SWEEP(pool_type, POOL_TYPE, poolctx)

MPT_TEST(badinput, BAD_POOL_TYPE,
         "BAD-POOL-TYPE: map, map_async, imap and imap_unordered of args that are not a list or "
         "tuple, and starmap/starmap_async of args or items that are not, are MP_ETYPE at once, "
         "submitting nothing.")
{
    poolctx c;
    pool_make(&c);
    RUN(pool_type, &c);
    cr_assert(!c.rout && !c.itout && !c.res, "an output was written");
    pool_free(&c);
}

#define POOL_ORDER_OPEN(X)                                                                         \
    X("mp_pool_join", MP_ESTATE, mp_pool_join(c->p))                                               \
    X("mp_async_result_successful", MP_ESTATE, mp_async_result_successful(c->r, &c->flag))         \
    X("mp_pool_close", MP_OK, mp_pool_close(c->p))                                                 \
    X("mp_pool_close", MP_OK, mp_pool_close(c->p))
SWEEP(pool_order_open, POOL_ORDER_OPEN, poolctx)

#define POOL_ORDER_CLOSED(X)                                                                       \
    X("mp_pool_apply", MP_ESTATE, mp_pool_apply(c->p, task_echo, c->arg, &c->res))                 \
    X("mp_pool_apply_async", MP_ESTATE,                                                            \
      mp_pool_apply_async(c->p, task_echo, c->arg, NULL, NULL, NULL, &c->rout))                    \
    X("mp_pool_map", MP_ESTATE, mp_pool_map(c->p, task_echo, c->args, 0, &c->res))                 \
    X("mp_pool_map_async", MP_ESTATE,                                                              \
      mp_pool_map_async(c->p, task_echo, c->args, 0, NULL, NULL, NULL, &c->rout))                  \
    X("mp_pool_starmap", MP_ESTATE, mp_pool_starmap(c->p, task_echo, c->sargs, 0, &c->res))        \
    X("mp_pool_starmap_async", MP_ESTATE,                                                          \
      mp_pool_starmap_async(c->p, task_echo, c->sargs, 0, NULL, NULL, NULL, &c->rout))             \
    X("mp_pool_imap", MP_ESTATE, mp_pool_imap(c->p, task_echo, c->args, 0, &c->itout))             \
    X("mp_pool_imap_unordered", MP_ESTATE,                                                         \
      mp_pool_imap_unordered(c->p, task_echo, c->args, 0, &c->itout))                              \
    X("mp_pool_size", MP_OK, mp_pool_size(c->p, &c->n))
SWEEP(pool_order_closed, POOL_ORDER_CLOSED, poolctx)

MPT_TEST(
    badinput, BAD_ORDER_POOL,
    "BAD-ORDER-POOL: join before close and successful before ready are MP_ESTATE at once; after "
    "close (idempotent) and after terminate every submit (apply, apply_async, map, map_async, "
    "starmap, starmap_async, imap, imap_unordered) is MP_ESTATE at once and submits nothing.")
{
    poolctx c;
    pool_make(&c);
    RUN(pool_order_open, &c);
    RUN(pool_order_closed, &c);
    cr_assert(!c.rout && !c.itout && !c.res, "an output was written");
    pool_free(&c);

    mp_pool *p = NULL;
    MP_ASSERT_OK(mp_pool_new(&p, 1, NULL, NULL, 0));
    MP_ASSERT_OK(mp_pool_terminate(p));
    memset(&c, 0, sizeof c);
    c.p = p;
    c.arg = mp_int(1);
    c.args = mp_list_of(1, mp_int(1));
    c.sargs = mp_list_of(1, mp_tuple_of(1, mp_int(1)));
    RUN(pool_order_closed, &c);
    cr_assert(!c.rout && !c.itout && !c.res, "an output was written");
    MP_ASSERT_OK(mp_pool_join(p));
    mp_pool_free(p);
    mp_value_free(c.arg);
    mp_value_free(c.args);
    mp_value_free(c.sargs);
}

/* ================================================================ manager */

typedef struct mctx {
    mp_manager *m, *mout;
    mp_proxy *d, *l, *ns, *v, *lk, *e, *q, *pout;
    mp_value *key, *val, *lst, *dct, *res;
    const char *s;
    const void *kp;
    pid_t pid;
    size_t n;
    unsigned u;
    bool flag;
    unsigned char mac[32];
    char addr[256];
} mctx;

#define MANAGER_NULL(X)                                                                            \
    X("mp_manager_start", MP_EINVAL, mp_manager_start(NULL, NULL))                                 \
    X("mp_manager_connect", MP_EINVAL, mp_manager_connect(NULL, c->s, NULL, 0))                    \
    X("mp_manager_connect", MP_EINVAL, mp_manager_connect(&c->mout, NULL, NULL, 0))                \
    X("mp_manager_address", MP_EINVAL, mp_manager_address(NULL, &c->s))                            \
    X("mp_manager_address", MP_EINVAL, mp_manager_address(c->m, NULL))                             \
    X("mp_manager_pid", MP_EINVAL, mp_manager_pid(NULL, &c->pid))                                  \
    X("mp_manager_pid", MP_EINVAL, mp_manager_pid(c->m, NULL))                                     \
    X("mp_manager_object_count", MP_EINVAL, mp_manager_object_count(NULL, &c->n))                  \
    X("mp_manager_object_count", MP_EINVAL, mp_manager_object_count(c->m, NULL))                   \
    X("mp_manager_shutdown", MP_EINVAL, mp_manager_shutdown(NULL))                                 \
    X("mp_current_authkey", MP_EINVAL, mp_current_authkey(NULL, &c->n))                            \
    X("mp_current_authkey", MP_EINVAL, mp_current_authkey(&c->kp, NULL))                           \
    X("mp_hmac_sha256", MP_EINVAL, mp_hmac_sha256(NULL, 3, "msg", 3, c->mac))                      \
    X("mp_hmac_sha256", MP_EINVAL, mp_hmac_sha256("key", 3, NULL, 3, c->mac))                      \
    X("mp_hmac_sha256", MP_EINVAL, mp_hmac_sha256("key", 3, "msg", 3, NULL))                       \
    X("mp_manager_create", MP_EINVAL, mp_manager_create(NULL, "dict", NULL, NULL, &c->pout))       \
    X("mp_manager_create", MP_EINVAL, mp_manager_create(c->m, NULL, NULL, NULL, &c->pout))         \
    X("mp_manager_create", MP_EINVAL, mp_manager_create(c->m, "dict", NULL, NULL, NULL))           \
    X("mp_manager_dict", MP_EINVAL, mp_manager_dict(NULL, NULL, &c->pout))                         \
    X("mp_manager_dict", MP_EINVAL, mp_manager_dict(c->m, NULL, NULL))                             \
    X("mp_manager_list", MP_EINVAL, mp_manager_list(NULL, NULL, &c->pout))                         \
    X("mp_manager_list", MP_EINVAL, mp_manager_list(c->m, NULL, NULL))                             \
    X("mp_manager_namespace", MP_EINVAL, mp_manager_namespace(NULL, &c->pout))                     \
    X("mp_manager_namespace", MP_EINVAL, mp_manager_namespace(c->m, NULL))                         \
    X("mp_manager_value", MP_EINVAL, mp_manager_value(NULL, c->val, &c->pout))                     \
    X("mp_manager_value", MP_EINVAL, mp_manager_value(c->m, c->val, NULL))                         \
    X("mp_manager_lock", MP_EINVAL, mp_manager_lock(NULL, &c->pout))                               \
    X("mp_manager_lock", MP_EINVAL, mp_manager_lock(c->m, NULL))                                   \
    X("mp_manager_event", MP_EINVAL, mp_manager_event(NULL, &c->pout))                             \
    X("mp_manager_event", MP_EINVAL, mp_manager_event(c->m, NULL))                                 \
    X("mp_manager_queue", MP_EINVAL, mp_manager_queue(NULL, 0, &c->pout))                          \
    X("mp_manager_queue", MP_EINVAL, mp_manager_queue(c->m, 0, NULL))                              \
    X("mp_proxy_call", MP_EINVAL, mp_proxy_call(NULL, "keys", NULL, &c->res))                      \
    X("mp_proxy_call", MP_EINVAL, mp_proxy_call(c->d, NULL, NULL, &c->res))                        \
    X("mp_proxy_typeid", MP_EINVAL, mp_proxy_typeid(NULL, &c->s))                                  \
    X("mp_proxy_typeid", MP_EINVAL, mp_proxy_typeid(c->d, NULL))                                   \
    X("mp_mdict_get", MP_EINVAL, mp_mdict_get(NULL, c->key, &c->res))                              \
    X("mp_mdict_get", MP_EINVAL, mp_mdict_get(c->d, NULL, &c->res))                                \
    X("mp_mdict_get", MP_EINVAL, mp_mdict_get(c->d, c->key, NULL))                                 \
    X("mp_mdict_set", MP_EINVAL, mp_mdict_set(NULL, c->key, c->val))                               \
    X("mp_mdict_set", MP_EINVAL, mp_mdict_set(c->d, NULL, c->val))                                 \
    X("mp_mdict_set", MP_EINVAL, mp_mdict_set(c->d, c->key, NULL))                                 \
    X("mp_mdict_del", MP_EINVAL, mp_mdict_del(NULL, c->key))                                       \
    X("mp_mdict_del", MP_EINVAL, mp_mdict_del(c->d, NULL))                                         \
    X("mp_mdict_contains", MP_EINVAL, mp_mdict_contains(NULL, c->key, &c->flag))                   \
    X("mp_mdict_contains", MP_EINVAL, mp_mdict_contains(c->d, NULL, &c->flag))                     \
    X("mp_mdict_contains", MP_EINVAL, mp_mdict_contains(c->d, c->key, NULL))                       \
    X("mp_mdict_len", MP_EINVAL, mp_mdict_len(NULL, &c->n))                                        \
    X("mp_mdict_len", MP_EINVAL, mp_mdict_len(c->d, NULL))                                         \
    X("mp_mdict_keys", MP_EINVAL, mp_mdict_keys(NULL, &c->res))                                    \
    X("mp_mdict_keys", MP_EINVAL, mp_mdict_keys(c->d, NULL))                                       \
    X("mp_mdict_values", MP_EINVAL, mp_mdict_values(NULL, &c->res))                                \
    X("mp_mdict_values", MP_EINVAL, mp_mdict_values(c->d, NULL))                                   \
    X("mp_mdict_items", MP_EINVAL, mp_mdict_items(NULL, &c->res))                                  \
    X("mp_mdict_items", MP_EINVAL, mp_mdict_items(c->d, NULL))                                     \
    X("mp_mdict_update", MP_EINVAL, mp_mdict_update(NULL, c->dct))                                 \
    X("mp_mdict_update", MP_EINVAL, mp_mdict_update(c->d, NULL))                                   \
    X("mp_mdict_pop", MP_EINVAL, mp_mdict_pop(NULL, c->key, NULL, &c->res))                        \
    X("mp_mdict_pop", MP_EINVAL, mp_mdict_pop(c->d, NULL, c->val, &c->res))                        \
    X("mp_mdict_pop", MP_EINVAL, mp_mdict_pop(c->d, c->key, c->val, NULL))                         \
    X("mp_mdict_setdefault", MP_EINVAL, mp_mdict_setdefault(NULL, c->key, c->val, &c->res))        \
    X("mp_mdict_setdefault", MP_EINVAL, mp_mdict_setdefault(c->d, NULL, c->val, &c->res))          \
    X("mp_mdict_setdefault", MP_EINVAL, mp_mdict_setdefault(c->d, c->key, c->val, NULL))           \
    X("mp_mdict_clear", MP_EINVAL, mp_mdict_clear(NULL))                                           \
    X("mp_mdict_copy", MP_EINVAL, mp_mdict_copy(NULL, &c->res))                                    \
    X("mp_mdict_copy", MP_EINVAL, mp_mdict_copy(c->d, NULL))                                       \
    X("mp_mlist_append", MP_EINVAL, mp_mlist_append(NULL, c->val))                                 \
    X("mp_mlist_append", MP_EINVAL, mp_mlist_append(c->l, NULL))                                   \
    X("mp_mlist_extend", MP_EINVAL, mp_mlist_extend(NULL, c->lst))                                 \
    X("mp_mlist_extend", MP_EINVAL, mp_mlist_extend(c->l, NULL))                                   \
    X("mp_mlist_insert", MP_EINVAL, mp_mlist_insert(NULL, 0, c->val))                              \
    X("mp_mlist_insert", MP_EINVAL, mp_mlist_insert(c->l, 0, NULL))                                \
    X("mp_mlist_pop", MP_EINVAL, mp_mlist_pop(NULL, -1, &c->res))                                  \
    X("mp_mlist_pop", MP_EINVAL, mp_mlist_pop(c->l, -1, NULL))                                     \
    X("mp_mlist_remove", MP_EINVAL, mp_mlist_remove(NULL, c->val))                                 \
    X("mp_mlist_remove", MP_EINVAL, mp_mlist_remove(c->l, NULL))                                   \
    X("mp_mlist_index", MP_EINVAL, mp_mlist_index(NULL, c->val, &c->n))                            \
    X("mp_mlist_index", MP_EINVAL, mp_mlist_index(c->l, NULL, &c->n))                              \
    X("mp_mlist_index", MP_EINVAL, mp_mlist_index(c->l, c->val, NULL))                             \
    X("mp_mlist_count", MP_EINVAL, mp_mlist_count(NULL, c->val, &c->n))                            \
    X("mp_mlist_count", MP_EINVAL, mp_mlist_count(c->l, NULL, &c->n))                              \
    X("mp_mlist_count", MP_EINVAL, mp_mlist_count(c->l, c->val, NULL))                             \
    X("mp_mlist_get", MP_EINVAL, mp_mlist_get(NULL, 0, &c->res))                                   \
    X("mp_mlist_get", MP_EINVAL, mp_mlist_get(c->l, 0, NULL))                                      \
    X("mp_mlist_set", MP_EINVAL, mp_mlist_set(NULL, 0, c->val))                                    \
    X("mp_mlist_set", MP_EINVAL, mp_mlist_set(c->l, 0, NULL))                                      \
    X("mp_mlist_del", MP_EINVAL, mp_mlist_del(NULL, 0))                                            \
    X("mp_mlist_len", MP_EINVAL, mp_mlist_len(NULL, &c->n))                                        \
    X("mp_mlist_len", MP_EINVAL, mp_mlist_len(c->l, NULL))                                         \
    X("mp_mlist_slice", MP_EINVAL, mp_mlist_slice(NULL, 0, 1, 1, &c->res))                         \
    X("mp_mlist_slice", MP_EINVAL, mp_mlist_slice(c->l, 0, 1, 1, NULL))                            \
    X("mp_mlist_set_slice", MP_EINVAL, mp_mlist_set_slice(NULL, 0, 1, 1, c->lst))                  \
    X("mp_mlist_set_slice", MP_EINVAL, mp_mlist_set_slice(c->l, 0, 1, 1, NULL))                    \
    X("mp_mlist_del_slice", MP_EINVAL, mp_mlist_del_slice(NULL, 0, 1, 1))                          \
    X("mp_mlist_copy", MP_EINVAL, mp_mlist_copy(NULL, &c->res))                                    \
    X("mp_mlist_copy", MP_EINVAL, mp_mlist_copy(c->l, NULL))                                       \
    X("mp_mlist_sort", MP_EINVAL, mp_mlist_sort(NULL, false))                                      \
    X("mp_mns_get", MP_EINVAL, mp_mns_get(NULL, "a", &c->res))                                     \
    X("mp_mns_get", MP_EINVAL, mp_mns_get(c->ns, NULL, &c->res))                                   \
    X("mp_mns_get", MP_EINVAL, mp_mns_get(c->ns, "a", NULL))                                       \
    X("mp_mns_set", MP_EINVAL, mp_mns_set(NULL, "a", c->val))                                      \
    X("mp_mns_set", MP_EINVAL, mp_mns_set(c->ns, NULL, c->val))                                    \
    X("mp_mns_set", MP_EINVAL, mp_mns_set(c->ns, "a", NULL))                                       \
    X("mp_mns_del", MP_EINVAL, mp_mns_del(NULL, "a"))                                              \
    X("mp_mns_del", MP_EINVAL, mp_mns_del(c->ns, NULL))                                            \
    X("mp_mvalue_get", MP_EINVAL, mp_mvalue_get(NULL, &c->res))                                    \
    X("mp_mvalue_get", MP_EINVAL, mp_mvalue_get(c->v, NULL))                                       \
    X("mp_mvalue_set", MP_EINVAL, mp_mvalue_set(NULL, c->val))                                     \
    X("mp_mvalue_set", MP_EINVAL, mp_mvalue_set(c->v, NULL))                                       \
    X("mp_mlock_acquire", MP_EINVAL, mp_mlock_acquire(NULL, 0))                                    \
    X("mp_mlock_acquire", MP_EINVAL, mp_mlock_acquire(NULL, MP_FOREVER))                           \
    X("mp_mlock_release", MP_EINVAL, mp_mlock_release(NULL))                                       \
    X("mp_mevent_set", MP_EINVAL, mp_mevent_set(NULL))                                             \
    X("mp_mevent_clear", MP_EINVAL, mp_mevent_clear(NULL))                                         \
    X("mp_mevent_is_set", MP_EINVAL, mp_mevent_is_set(NULL, &c->flag))                             \
    X("mp_mevent_is_set", MP_EINVAL, mp_mevent_is_set(c->e, NULL))                                 \
    X("mp_mevent_wait", MP_EINVAL, mp_mevent_wait(NULL, 0))                                        \
    X("mp_mevent_wait", MP_EINVAL, mp_mevent_wait(NULL, MP_FOREVER))                               \
    X("mp_mqueue_put", MP_EINVAL, mp_mqueue_put(NULL, c->val, 0))                                  \
    X("mp_mqueue_put", MP_EINVAL, mp_mqueue_put(c->q, NULL, 0))                                    \
    X("mp_mqueue_get", MP_EINVAL, mp_mqueue_get(NULL, &c->res, 0))                                 \
    X("mp_mqueue_get", MP_EINVAL, mp_mqueue_get(c->q, NULL, 0))                                    \
    X("mp_mqueue_qsize", MP_EINVAL, mp_mqueue_qsize(NULL, &c->n))                                  \
    X("mp_mqueue_qsize", MP_EINVAL, mp_mqueue_qsize(c->q, NULL))                                   \
    X("mp_manager_rlock", MP_EINVAL, mp_manager_rlock(NULL, &c->pout))                             \
    X("mp_manager_rlock", MP_EINVAL, mp_manager_rlock(c->m, NULL))                                 \
    X("mp_manager_semaphore", MP_EINVAL, mp_manager_semaphore(NULL, 1, &c->pout))                  \
    X("mp_manager_semaphore", MP_EINVAL, mp_manager_semaphore(c->m, 1, NULL))                      \
    X("mp_manager_bounded_semaphore", MP_EINVAL, mp_manager_bounded_semaphore(NULL, 1, &c->pout))  \
    X("mp_manager_bounded_semaphore", MP_EINVAL, mp_manager_bounded_semaphore(c->m, 1, NULL))      \
    X("mp_manager_condition", MP_EINVAL, mp_manager_condition(NULL, &c->pout))                     \
    X("mp_manager_condition", MP_EINVAL, mp_manager_condition(c->m, NULL))                         \
    X("mp_manager_barrier", MP_EINVAL, mp_manager_barrier(NULL, 2, MP_FOREVER, &c->pout))          \
    X("mp_manager_barrier", MP_EINVAL, mp_manager_barrier(c->m, 2, MP_FOREVER, NULL))              \
    X("mp_manager_joinable_queue", MP_EINVAL, mp_manager_joinable_queue(NULL, 0, &c->pout))        \
    X("mp_manager_joinable_queue", MP_EINVAL, mp_manager_joinable_queue(c->m, 0, NULL))            \
    X("mp_manager_array", MP_EINVAL, mp_manager_array(NULL, 'i', c->lst, &c->pout))                \
    X("mp_manager_array", MP_EINVAL, mp_manager_array(c->m, 'i', c->lst, NULL))                    \
    X("mp_mcond_wait", MP_EINVAL, mp_mcond_wait(NULL, 0))                                          \
    X("mp_mcond_wait", MP_EINVAL, mp_mcond_wait(NULL, MP_FOREVER))                                 \
    X("mp_mcond_notify", MP_EINVAL, mp_mcond_notify(NULL, 1))                                      \
    X("mp_mcond_notify_all", MP_EINVAL, mp_mcond_notify_all(NULL))                                 \
    X("mp_mbarrier_wait", MP_EINVAL, mp_mbarrier_wait(NULL, MP_FOREVER, &c->u))                    \
    X("mp_mbarrier_abort", MP_EINVAL, mp_mbarrier_abort(NULL))                                     \
    X("mp_mbarrier_reset", MP_EINVAL, mp_mbarrier_reset(NULL))                                     \
    X("mp_mbarrier_parties", MP_EINVAL, mp_mbarrier_parties(NULL, &c->u))                          \
    X("mp_mbarrier_n_waiting", MP_EINVAL, mp_mbarrier_n_waiting(NULL, &c->u))                      \
    X("mp_mbarrier_broken", MP_EINVAL, mp_mbarrier_broken(NULL, &c->flag))                         \
    X("mp_mqueue_task_done", MP_EINVAL, mp_mqueue_task_done(NULL))                                 \
    X("mp_mqueue_join", MP_EINVAL, mp_mqueue_join(NULL, MP_FOREVER))                               \
    X("mp_marray_get", MP_EINVAL, mp_marray_get(NULL, 0, &c->res))                                 \
    X("mp_marray_set", MP_EINVAL, mp_marray_set(NULL, 0, c->val))                                  \
    X("mp_marray_len", MP_EINVAL, mp_marray_len(NULL, &c->n))                                      \
    X("mp_marray_tolist", MP_EINVAL, mp_marray_tolist(NULL, &c->res))                              \
    X("mp_mdict_iter", MP_EINVAL, mp_mdict_iter(NULL, &c->pout))                                   \
    X("mp_mdict_iter", MP_EINVAL, mp_mdict_iter(c->d, NULL))                                       \
    X("mp_mlist_iter", MP_EINVAL, mp_mlist_iter(NULL, &c->pout))                                   \
    X("mp_mlist_iter", MP_EINVAL, mp_mlist_iter(c->l, NULL))                                       \
    X("mp_proxy_iter_next", MP_EINVAL, mp_proxy_iter_next(NULL, &c->res))                          \
    X("mp_proxy_iter_next", MP_EINVAL, mp_proxy_iter_next(c->d, NULL))                             \
    X("mp_mdict_set_proxy", MP_EINVAL, mp_mdict_set_proxy(NULL, c->key, c->l))                     \
    X("mp_mdict_set_proxy", MP_EINVAL, mp_mdict_set_proxy(c->d, NULL, c->l))                       \
    X("mp_mdict_set_proxy", MP_EINVAL, mp_mdict_set_proxy(c->d, c->key, NULL))                     \
    X("mp_mdict_get_proxy", MP_EINVAL, mp_mdict_get_proxy(NULL, c->key, &c->pout))                 \
    X("mp_mdict_get_proxy", MP_EINVAL, mp_mdict_get_proxy(c->d, NULL, &c->pout))                   \
    X("mp_mdict_get_proxy", MP_EINVAL, mp_mdict_get_proxy(c->d, c->key, NULL))                     \
    X("mp_mlist_append_proxy", MP_EINVAL, mp_mlist_append_proxy(NULL, c->d))                       \
    X("mp_mlist_append_proxy", MP_EINVAL, mp_mlist_append_proxy(c->l, NULL))                       \
    X("mp_mlist_get_proxy", MP_EINVAL, mp_mlist_get_proxy(NULL, 0, &c->pout))                      \
    X("mp_mlist_get_proxy", MP_EINVAL, mp_mlist_get_proxy(c->l, 0, NULL))
SWEEP(manager_null, MANAGER_NULL, mctx)

#define MANAGER_NULL_B(BX)                                                                         \
    BX("mp_manager_free", (mp_manager_free(NULL), true))                                           \
    BX("mp_proxy_free", (mp_proxy_free(NULL), true))
BSWEEP(manager_null_b, MANAGER_NULL_B, mctx)

/* A manager with one proxy of each type: the dict {"k": 1}, the list [1],
 * the Queue holding 1; c->s is the address. */
static void manager_make(mctx *c)
{
    memset(c, 0, sizeof *c);
    c->key = mp_str("k");
    c->val = mp_int(1);
    c->lst = mp_list_of(1, mp_int(2));
    c->dct = mp_dict();
    cr_assert(c->key && c->val && c->lst && c->dct);
    MP_ASSERT_OK(mp_manager_start(&c->m, NULL));
    MP_ASSERT_OK(mp_manager_address(c->m, &c->s));
    snprintf(c->addr, sizeof c->addr, "%s", c->s);
    MP_ASSERT_OK(mp_manager_dict(c->m, NULL, &c->d));
    MP_ASSERT_OK(mp_manager_list(c->m, NULL, &c->l));
    MP_ASSERT_OK(mp_manager_namespace(c->m, &c->ns));
    MP_ASSERT_OK(mp_manager_value(c->m, c->val, &c->v));
    MP_ASSERT_OK(mp_manager_lock(c->m, &c->lk));
    MP_ASSERT_OK(mp_manager_event(c->m, &c->e));
    MP_ASSERT_OK(mp_manager_queue(c->m, 0, &c->q));
    MP_ASSERT_OK(mp_mdict_set(c->d, c->key, c->val));
    MP_ASSERT_OK(mp_mlist_append(c->l, c->val));
    MP_ASSERT_OK(mp_mqueue_put(c->q, c->val, 0));
}

static void manager_free(mctx *c)
{
    mp_proxy *all[] = {c->d, c->l, c->ns, c->v, c->lk, c->e, c->q};
    for (size_t k = 0; k < sizeof all / sizeof *all; k++)
        mp_proxy_free(all[k]);
    mp_manager_free(c->m);
    mp_value_free(c->key);
    mp_value_free(c->val);
    mp_value_free(c->lst);
    mp_value_free(c->dct);
    mp_value_free(c->res);
}

static void manager_unchanged(mctx *c, size_t objects)
{
    size_t n = 0;
    MP_ASSERT_OK(mp_mdict_len(c->d, &n));
    cr_assert_eq(n, 1, "the dict has %zu items", n);
    MP_ASSERT_OK(mp_mlist_len(c->l, &n));
    cr_assert_eq(n, 1, "the list has %zu items", n);
    MP_ASSERT_OK(mp_mqueue_qsize(c->q, &n));
    cr_assert_eq(n, 1, "the queue has %zu items", n);
    MP_ASSERT_OK(mp_manager_object_count(c->m, &n));
    cr_assert_eq(n, objects, "%zu objects on the server, want %zu", n, objects);
}

MPT_TEST(
    badinput, BAD_MANAGER_NULL,
    "BAD-MANAGER-NULL: every mp_manager_* / mp_proxy_* / typed proxy call (and mp_current_authkey, "
    "mp_hmac_sha256) given a NULL handle, proxy, string, key, value or output is MP_EINVAL at once "
    "with a message, and no object changes or is made; the frees of NULL are no-ops.")
{
    mctx c;
    manager_make(&c);
    RUN(manager_null, &c);
    BRUN(manager_null_b, &c);
    cr_assert(!c.mout && !c.pout && !c.res, "an output was written");
    manager_unchanged(&c, 7);
    manager_free(&c);
}

/* Every typed call on a proxy of another type: AttributeError (MP_EINVAL),
 * made before anything is sent.  The Lock proxy has none of the other
 * types' methods, the dict none of the Lock's. */
#define PROXY_TYPE(X)                                                                              \
    X("mp_mdict_get", MP_EINVAL, mp_mdict_get(c->lk, c->key, &c->res))                             \
    X("mp_mdict_set", MP_EINVAL, mp_mdict_set(c->lk, c->key, c->val))                              \
    X("mp_mdict_del", MP_EINVAL, mp_mdict_del(c->lk, c->key))                                      \
    X("mp_mdict_contains", MP_EINVAL, mp_mdict_contains(c->lk, c->key, &c->flag))                  \
    X("mp_mdict_len", MP_EINVAL, mp_mdict_len(c->lk, &c->n))                                       \
    X("mp_mdict_keys", MP_EINVAL, mp_mdict_keys(c->lk, &c->res))                                   \
    X("mp_mdict_values", MP_EINVAL, mp_mdict_values(c->lk, &c->res))                               \
    X("mp_mdict_items", MP_EINVAL, mp_mdict_items(c->lk, &c->res))                                 \
    X("mp_mdict_update", MP_EINVAL, mp_mdict_update(c->lk, c->dct))                                \
    X("mp_mdict_pop", MP_EINVAL, mp_mdict_pop(c->lk, c->key, NULL, &c->res))                       \
    X("mp_mdict_setdefault", MP_EINVAL, mp_mdict_setdefault(c->lk, c->key, c->val, &c->res))       \
    X("mp_mdict_clear", MP_EINVAL, mp_mdict_clear(c->lk))                                          \
    X("mp_mdict_copy", MP_EINVAL, mp_mdict_copy(c->lk, &c->res))                                   \
    X("mp_mlist_append", MP_EINVAL, mp_mlist_append(c->lk, c->val))                                \
    X("mp_mlist_extend", MP_EINVAL, mp_mlist_extend(c->lk, c->lst))                                \
    X("mp_mlist_insert", MP_EINVAL, mp_mlist_insert(c->lk, 0, c->val))                             \
    X("mp_mlist_pop", MP_EINVAL, mp_mlist_pop(c->lk, -1, &c->res))                                 \
    X("mp_mlist_remove", MP_EINVAL, mp_mlist_remove(c->lk, c->val))                                \
    X("mp_mlist_index", MP_EINVAL, mp_mlist_index(c->lk, c->val, &c->n))                           \
    X("mp_mlist_count", MP_EINVAL, mp_mlist_count(c->lk, c->val, &c->n))                           \
    X("mp_mlist_get", MP_EINVAL, mp_mlist_get(c->lk, 0, &c->res))                                  \
    X("mp_mlist_set", MP_EINVAL, mp_mlist_set(c->lk, 0, c->val))                                   \
    X("mp_mlist_del", MP_EINVAL, mp_mlist_del(c->lk, 0))                                           \
    X("mp_mlist_len", MP_EINVAL, mp_mlist_len(c->lk, &c->n))                                       \
    X("mp_mlist_slice", MP_EINVAL, mp_mlist_slice(c->lk, 0, 1, 1, &c->res))                        \
    X("mp_mlist_set_slice", MP_EINVAL, mp_mlist_set_slice(c->lk, 0, 1, 1, c->lst))                 \
    X("mp_mlist_del_slice", MP_EINVAL, mp_mlist_del_slice(c->lk, 0, 1, 1))                         \
    X("mp_mlist_copy", MP_EINVAL, mp_mlist_copy(c->lk, &c->res))                                   \
    X("mp_mlist_sort", MP_EINVAL, mp_mlist_sort(c->lk, false))                                     \
    X("mp_mns_get", MP_EINVAL, mp_mns_get(c->lk, "a", &c->res))                                    \
    X("mp_mns_set", MP_EINVAL, mp_mns_set(c->lk, "a", c->val))                                     \
    X("mp_mns_del", MP_EINVAL, mp_mns_del(c->lk, "a"))                                             \
    X("mp_mvalue_get", MP_EINVAL, mp_mvalue_get(c->lk, &c->res))                                   \
    X("mp_mvalue_set", MP_EINVAL, mp_mvalue_set(c->lk, c->val))                                    \
    X("mp_mlock_acquire", MP_EINVAL, mp_mlock_acquire(c->d, 0))                                    \
    X("mp_mlock_acquire", MP_EINVAL, mp_mlock_acquire(c->d, MP_FOREVER))                           \
    X("mp_mlock_release", MP_EINVAL, mp_mlock_release(c->d))                                       \
    X("mp_mevent_set", MP_EINVAL, mp_mevent_set(c->lk))                                            \
    X("mp_mevent_clear", MP_EINVAL, mp_mevent_clear(c->lk))                                        \
    X("mp_mevent_is_set", MP_EINVAL, mp_mevent_is_set(c->lk, &c->flag))                            \
    X("mp_mevent_wait", MP_EINVAL, mp_mevent_wait(c->lk, MP_FOREVER))                              \
    X("mp_mqueue_put", MP_EINVAL, mp_mqueue_put(c->lk, c->val, MP_FOREVER))                        \
    X("mp_mqueue_get", MP_EINVAL, mp_mqueue_get(c->lk, &c->res, MP_FOREVER))                       \
    X("mp_mqueue_qsize", MP_EINVAL, mp_mqueue_qsize(c->lk, &c->n))                                 \
    X("mp_mcond_wait", MP_EINVAL, mp_mcond_wait(c->lk, MP_FOREVER))                                \
    X("mp_mcond_notify", MP_EINVAL, mp_mcond_notify(c->lk, 1))                                     \
    X("mp_mcond_notify_all", MP_EINVAL, mp_mcond_notify_all(c->lk))                                \
    X("mp_mbarrier_wait", MP_EINVAL, mp_mbarrier_wait(c->lk, MP_FOREVER, &c->u))                   \
    X("mp_mbarrier_abort", MP_EINVAL, mp_mbarrier_abort(c->lk))                                    \
    X("mp_mbarrier_reset", MP_EINVAL, mp_mbarrier_reset(c->lk))                                    \
    X("mp_mbarrier_parties", MP_EINVAL, mp_mbarrier_parties(c->lk, &c->u))                         \
    X("mp_mbarrier_n_waiting", MP_EINVAL, mp_mbarrier_n_waiting(c->lk, &c->u))                     \
    X("mp_mbarrier_broken", MP_EINVAL, mp_mbarrier_broken(c->lk, &c->flag))                        \
    X("mp_mqueue_task_done", MP_EINVAL, mp_mqueue_task_done(c->lk))                                \
    X("mp_mqueue_join", MP_EINVAL, mp_mqueue_join(c->lk, MP_FOREVER))                              \
    X("mp_marray_get", MP_EINVAL, mp_marray_get(c->lk, 0, &c->res))                                \
    X("mp_marray_set", MP_EINVAL, mp_marray_set(c->lk, 0, c->val))                                 \
    X("mp_marray_len", MP_EINVAL, mp_marray_len(c->lk, &c->n))                                     \
    X("mp_marray_tolist", MP_EINVAL, mp_marray_tolist(c->l, &c->res))                              \
    X("mp_mlock_acquire", MP_EINVAL, mp_mlock_acquire(c->e, MP_FOREVER))                           \
    X("mp_proxy_call", MP_EINVAL, mp_proxy_call(c->lk, "keys", NULL, &c->res))                     \
    X("mp_mdict_iter", MP_EINVAL, mp_mdict_iter(c->l, &c->pout))                                   \
    X("mp_mlist_iter", MP_EINVAL, mp_mlist_iter(c->d, &c->pout))                                   \
    X("mp_proxy_iter_next", MP_EINVAL, mp_proxy_iter_next(c->d, &c->res))                          \
    X("mp_mdict_set_proxy", MP_EINVAL, mp_mdict_set_proxy(c->l, c->key, c->d))                     \
    X("mp_mdict_get_proxy", MP_EINVAL, mp_mdict_get_proxy(c->l, c->key, &c->pout))                 \
    X("mp_mlist_append_proxy", MP_EINVAL, mp_mlist_append_proxy(c->d, c->l))                       \
    X("mp_mlist_get_proxy", MP_EINVAL, mp_mlist_get_proxy(c->d, 0, &c->pout))                      \
    X("mp_proxy_call", MP_EINVAL, mp_proxy_call(c->d, "no_such_method", NULL, NULL))
SWEEP(proxy_type, PROXY_TYPE, mctx)

MPT_TEST(badinput, BAD_PROXY_TYPE,
         "BAD-PROXY-TYPE: every typed proxy call (mp_mdict_*, mp_mlist_*, mp_mns_*, mp_mvalue_*, "
         "mp_mlock_*, mp_mevent_*, mp_mqueue_*, mp_mcond_*, mp_mbarrier_*, mp_marray_*) on a proxy "
         "of another type, and an unknown method, is MP_EINVAL (AttributeError) at once, also with "
         "MP_FOREVER, and changes nothing.")
{
    mctx c;
    manager_make(&c);
    RUN(proxy_type, &c);
    cr_assert(!c.res && !c.pout, "an output was written");
    manager_unchanged(&c, 7);
    manager_free(&c);
}

#define MANAGER_CLOSED(X)                                                                          \
    X("mp_manager_address", MP_CLOSED, mp_manager_address(c->m, &c->s))                            \
    X("mp_manager_pid", MP_CLOSED, mp_manager_pid(c->m, &c->pid))                                  \
    X("mp_manager_object_count", MP_CLOSED, mp_manager_object_count(c->m, &c->n))                  \
    X("mp_manager_create", MP_CLOSED, mp_manager_create(c->m, "dict", NULL, NULL, &c->pout))       \
    X("mp_manager_dict", MP_CLOSED, mp_manager_dict(c->m, NULL, &c->pout))                         \
    X("mp_manager_list", MP_CLOSED, mp_manager_list(c->m, NULL, &c->pout))                         \
    X("mp_manager_namespace", MP_CLOSED, mp_manager_namespace(c->m, &c->pout))                     \
    X("mp_manager_value", MP_CLOSED, mp_manager_value(c->m, c->val, &c->pout))                     \
    X("mp_manager_lock", MP_CLOSED, mp_manager_lock(c->m, &c->pout))                               \
    X("mp_manager_event", MP_CLOSED, mp_manager_event(c->m, &c->pout))                             \
    X("mp_manager_queue", MP_CLOSED, mp_manager_queue(c->m, 0, &c->pout))                          \
    X("mp_manager_shutdown", MP_OK, mp_manager_shutdown(c->m))                                     \
    X("mp_proxy_typeid", MP_OK, mp_proxy_typeid(c->d, &c->s))                                      \
    X("mp_proxy_call", MP_EDEAD, mp_proxy_call(c->d, "keys", NULL, &c->res))                       \
    X("mp_mdict_get", MP_EDEAD, mp_mdict_get(c->d, c->key, &c->res))                               \
    X("mp_mdict_set", MP_EDEAD, mp_mdict_set(c->d, c->key, c->val))                                \
    X("mp_mdict_del", MP_EDEAD, mp_mdict_del(c->d, c->key))                                        \
    X("mp_mdict_contains", MP_EDEAD, mp_mdict_contains(c->d, c->key, &c->flag))                    \
    X("mp_mdict_len", MP_EDEAD, mp_mdict_len(c->d, &c->n))                                         \
    X("mp_mdict_keys", MP_EDEAD, mp_mdict_keys(c->d, &c->res))                                     \
    X("mp_mdict_values", MP_EDEAD, mp_mdict_values(c->d, &c->res))                                 \
    X("mp_mdict_items", MP_EDEAD, mp_mdict_items(c->d, &c->res))                                   \
    X("mp_mdict_update", MP_EDEAD, mp_mdict_update(c->d, c->dct))                                  \
    X("mp_mdict_pop", MP_EDEAD, mp_mdict_pop(c->d, c->key, NULL, &c->res))                         \
    X("mp_mdict_setdefault", MP_EDEAD, mp_mdict_setdefault(c->d, c->key, c->val, &c->res))         \
    X("mp_mdict_clear", MP_EDEAD, mp_mdict_clear(c->d))                                            \
    X("mp_mdict_copy", MP_EDEAD, mp_mdict_copy(c->d, &c->res))                                     \
    X("mp_mlist_append", MP_EDEAD, mp_mlist_append(c->l, c->val))                                  \
    X("mp_mlist_extend", MP_EDEAD, mp_mlist_extend(c->l, c->lst))                                  \
    X("mp_mlist_insert", MP_EDEAD, mp_mlist_insert(c->l, 0, c->val))                               \
    X("mp_mlist_pop", MP_EDEAD, mp_mlist_pop(c->l, -1, &c->res))                                   \
    X("mp_mlist_remove", MP_EDEAD, mp_mlist_remove(c->l, c->val))                                  \
    X("mp_mlist_index", MP_EDEAD, mp_mlist_index(c->l, c->val, &c->n))                             \
    X("mp_mlist_count", MP_EDEAD, mp_mlist_count(c->l, c->val, &c->n))                             \
    X("mp_mlist_get", MP_EDEAD, mp_mlist_get(c->l, 0, &c->res))                                    \
    X("mp_mlist_set", MP_EDEAD, mp_mlist_set(c->l, 0, c->val))                                     \
    X("mp_mlist_del", MP_EDEAD, mp_mlist_del(c->l, 0))                                             \
    X("mp_mlist_len", MP_EDEAD, mp_mlist_len(c->l, &c->n))                                         \
    X("mp_mlist_slice", MP_EDEAD, mp_mlist_slice(c->l, 0, 1, 1, &c->res))                          \
    X("mp_mlist_set_slice", MP_EDEAD, mp_mlist_set_slice(c->l, 0, 1, 1, c->lst))                   \
    X("mp_mlist_del_slice", MP_EDEAD, mp_mlist_del_slice(c->l, 0, 1, 1))                           \
    X("mp_mlist_copy", MP_EDEAD, mp_mlist_copy(c->l, &c->res))                                     \
    X("mp_mlist_sort", MP_EDEAD, mp_mlist_sort(c->l, false))                                       \
    X("mp_mns_get", MP_EDEAD, mp_mns_get(c->ns, "a", &c->res))                                     \
    X("mp_mns_set", MP_EDEAD, mp_mns_set(c->ns, "a", c->val))                                      \
    X("mp_mns_del", MP_EDEAD, mp_mns_del(c->ns, "a"))                                              \
    X("mp_mvalue_get", MP_EDEAD, mp_mvalue_get(c->v, &c->res))                                     \
    X("mp_mvalue_set", MP_EDEAD, mp_mvalue_set(c->v, c->val))                                      \
    X("mp_mlock_acquire", MP_EDEAD, mp_mlock_acquire(c->lk, MP_FOREVER))                           \
    X("mp_mlock_release", MP_EDEAD, mp_mlock_release(c->lk))                                       \
    X("mp_mevent_set", MP_EDEAD, mp_mevent_set(c->e))                                              \
    X("mp_mevent_clear", MP_EDEAD, mp_mevent_clear(c->e))                                          \
    X("mp_mevent_is_set", MP_EDEAD, mp_mevent_is_set(c->e, &c->flag))                              \
    X("mp_mevent_wait", MP_EDEAD, mp_mevent_wait(c->e, MP_FOREVER))                                \
    X("mp_mqueue_put", MP_EDEAD, mp_mqueue_put(c->q, c->val, MP_FOREVER))                          \
    X("mp_mqueue_get", MP_EDEAD, mp_mqueue_get(c->q, &c->res, MP_FOREVER))                         \
    X("mp_mqueue_qsize", MP_EDEAD, mp_mqueue_qsize(c->q, &c->n))                                   \
    X("mp_mdict_iter", MP_EDEAD, mp_mdict_iter(c->d, &c->pout))                                    \
    X("mp_mlist_iter", MP_EDEAD, mp_mlist_iter(c->l, &c->pout))                                    \
    X("mp_mdict_set_proxy", MP_EDEAD, mp_mdict_set_proxy(c->d, c->key, c->l))                      \
    X("mp_mdict_get_proxy", MP_EDEAD, mp_mdict_get_proxy(c->d, c->key, &c->pout))                  \
    X("mp_mlist_append_proxy", MP_EDEAD, mp_mlist_append_proxy(c->l, c->d))                        \
    X("mp_mlist_get_proxy", MP_EDEAD, mp_mlist_get_proxy(c->l, 0, &c->pout))                       \
    X("mp_manager_connect", MP_EDEAD, mp_manager_connect(&c->mout, c->addr, NULL, 0))
SWEEP(manager_closed, MANAGER_CLOSED, mctx)

MPT_TEST(badinput, BAD_MANAGER_CLOSED,
         "BAD-MANAGER-CLOSED: after shutdown every call on the manager handle is MP_CLOSED and "
         "shutdown again MP_OK; every proxy call is MP_EDEAD at once (its typeid is still "
         "readable) and connecting to the old address is MP_EDEAD.")
{
    mctx c;
    manager_make(&c);
    MP_ASSERT_OK(mp_manager_shutdown(c.m));
    RUN(manager_closed, &c);
    cr_assert(!c.mout && !c.pout && !c.res, "an output was written");
    manager_free(&c);
}

static const mp_manager_opts opts_bad_address = {.address = "carrier-pigeon:coop", .authkey = NULL};
static const mp_manager_opts opts_tcp_no_key = {.address = "tcp:127.0.0.1:0", .authkey = NULL};
static const mp_manager_opts opts_tcp_empty_key = {.address = "tcp:127.0.0.1:0", .authkey = ""};
static const mp_manager_opts opts_unix_no_dir = {.address = "unix:/nonexistent-badinput/sock",
                                                 .authkey = NULL};

#define MANAGER_ARGS(X)                                                                            \
    X("mp_manager_start", MP_EINVAL, mp_manager_start(&c->mout, &opts_bad_address))                \
    X("mp_manager_start", MP_EINVAL, mp_manager_start(&c->mout, &opts_tcp_no_key))                 \
    X("mp_manager_start", MP_EINVAL, mp_manager_start(&c->mout, &opts_tcp_empty_key))              \
    X("mp_manager_start", MP_EOS, mp_manager_start(&c->mout, &opts_unix_no_dir))                   \
    X("mp_manager_connect", MP_EINVAL,                                                             \
      mp_manager_connect(&c->mout, "carrier-pigeon:coop", NULL, 0))                                \
    X("mp_manager_connect", MP_EDEAD,                                                              \
      mp_manager_connect(&c->mout, "unix:/nonexistent-badinput/sock", NULL, 0))                    \
    X("mp_manager_create", MP_EINVAL,                                                              \
      mp_manager_create(c->m, "no_such_type", NULL, NULL, &c->pout))                               \
    X("mp_manager_create", MP_ETYPE, mp_manager_create(c->m, "list", NULL, "badinput", &c->pout))  \
    X("mp_mdict_get", MP_ETYPE, mp_mdict_get(c->d, c->lst, &c->res))                               \
    X("mp_mdict_set", MP_ETYPE, mp_mdict_set(c->d, c->lst, c->val))                                \
    X("mp_mdict_get", MP_EKEY, mp_mdict_get(c->d, c->val, &c->res))                                \
    X("mp_mdict_del", MP_EKEY, mp_mdict_del(c->d, c->val))                                         \
    X("mp_mdict_pop", MP_EKEY, mp_mdict_pop(c->d, c->val, NULL, &c->res))                          \
    X("mp_mlist_get", MP_EINDEX, mp_mlist_get(c->l, PTRDIFF_MIN, &c->res))                         \
    X("mp_mlist_get", MP_EINDEX, mp_mlist_get(c->l, PTRDIFF_MAX, &c->res))                         \
    X("mp_mlist_set", MP_EINDEX, mp_mlist_set(c->l, 1, c->val))                                    \
    X("mp_mlist_del", MP_EINDEX, mp_mlist_del(c->l, -2))                                           \
    X("mp_mlist_pop", MP_EINDEX, mp_mlist_pop(c->l, PTRDIFF_MIN, &c->res))                         \
    X("mp_mlist_slice", MP_EINVAL, mp_mlist_slice(c->l, MP_SLICE_NONE, MP_SLICE_NONE, 0, &c->res)) \
    X("mp_mlist_set_slice", MP_EINVAL,                                                             \
      mp_mlist_set_slice(c->l, MP_SLICE_NONE, MP_SLICE_NONE, 0, c->lst))                           \
    X("mp_mlist_del_slice", MP_EINVAL, mp_mlist_del_slice(c->l, MP_SLICE_NONE, MP_SLICE_NONE, 0))  \
    X("mp_mlist_remove", MP_EINVAL, mp_mlist_remove(c->l, c->key))                                 \
    X("mp_mlist_index", MP_EINVAL, mp_mlist_index(c->l, c->key, &c->n))                            \
    X("mp_mns_get", MP_EKEY, mp_mns_get(c->ns, "missing", &c->res))                                \
    X("mp_mns_del", MP_EKEY, mp_mns_del(c->ns, "missing"))                                         \
    X("mp_mlock_release", MP_ESTATE, mp_mlock_release(c->lk))                                      \
    X("mp_manager_create", MP_ETYPE, mp_manager_create(c->m, "Queue", c->key, NULL, &c->pout))     \
    X("mp_manager_create", MP_ETYPE, mp_manager_create(c->m, "Namespace", c->lst, NULL, &c->pout)) \
    X("mp_manager_create", MP_ETYPE, mp_manager_create(c->m, "Lock", c->val, NULL, &c->pout))      \
    X("mp_manager_create", MP_ETYPE, mp_manager_create(c->m, "Event", c->val, NULL, &c->pout))     \
    X("mp_manager_list", MP_ETYPE, mp_manager_list(c->m, c->dct, &c->pout))                        \
    X("mp_manager_dict", MP_ETYPE, mp_manager_dict(c->m, c->lst, &c->pout))                        \
    X("mp_proxy_call", MP_ETYPE, mp_proxy_call(c->d, "__len__", c->val, &c->res))                  \
    X("mp_mdict_update", MP_ETYPE, mp_mdict_update(c->d, c->lst))                                  \
    X("mp_mlist_extend", MP_ETYPE, mp_mlist_extend(c->l, c->val))
SWEEP(manager_args, MANAGER_ARGS, mctx)

MPT_TEST(
    badinput, BAD_MANAGER_ARGS,
    "BAD-MANAGER-ARGS: a malformed address, TCP without a non-empty authkey or an unknown typeid "
    "is MP_EINVAL, a named object of another typeid, an init, call args, update or extend argument "
    "of the wrong type and unhashable keys MP_ETYPE, missing keys and attributes MP_EKEY, indexes "
    "out of range (also PTRDIFF_MIN/MAX) MP_EINDEX, slice step 0 and missing list items MP_EINVAL, "
    "releasing an unlocked Lock proxy MP_ESTATE; nothing changes.")
{
    mctx c;
    manager_make(&c);
    mp_proxy *named = NULL;
    MP_ASSERT_OK(mp_manager_create(c.m, "dict", NULL, "badinput", &named));
    RUN(manager_args, &c);
    cr_assert(!c.mout && !c.pout && !c.res, "an output was written");
    mp_proxy_free(named); /* a named object lives on: 8 objects */
    manager_unchanged(&c, 8);
    manager_free(&c);
}

/* =============================================================== timeouts */

/* Objects in the state where each timed call would block: a child running
 * until g_gate is set, a held Lock, a Semaphore at 0, a Condition whose own
 * RLock is held, one on the held Lock, an unset Event, a Barrier of 2, an
 * empty Queue, a Queue(1) holding one item, a JoinableQueue with one
 * unfinished item, an empty Pipe, a pool result and an imap waiting for
 * g_gate. */
typedef struct tctx {
    double t;
    mp_process *p;
    mp_lock *l;
    mp_semaphore *s;
    mp_condition *cv, *cvl;
    mp_event *e;
    mp_barrier *b, *bout;
    mp_queue *q, *qfull, *jq;
    mp_conn *a, *bb;
    mp_pool *pool;
    mp_async_result *r;
    mp_imap *it;
    mp_value *v, *args, *got;
    const mp_value *cres;
    void *buf;
    size_t n;
    unsigned u;
} tctx;

static void timeouts_make(tctx *c)
{
    memset(c, 0, sizeof *c);
    MP_ASSERT_OK(mp_event_new(&g_gate));
    c->v = mp_int(3);
    c->args = mp_list_of(1, mp_int(1));
    cr_assert(c->v && c->args);
    c->p = mpt_start(child_wait_event, g_gate);
    MP_ASSERT_OK(mp_lock_new(&c->l));
    MP_ASSERT_OK(mp_lock_acquire(c->l, 0));
    MP_ASSERT_OK(mp_semaphore_new(&c->s, 0));
    MP_ASSERT_OK(mp_condition_new(&c->cv, NULL));
    MP_ASSERT_OK(mp_condition_acquire(c->cv, 0));
    MP_ASSERT_OK(mp_condition_new(&c->cvl, c->l));
    MP_ASSERT_OK(mp_event_new(&c->e));
    MP_ASSERT_OK(mp_barrier_new(&c->b, 2, NULL, NULL, MP_FOREVER));
    MP_ASSERT_OK(mp_queue_new(&c->q, 0));
    MP_ASSERT_OK(mp_queue_new(&c->qfull, 1));
    MP_ASSERT_OK(mp_queue_put(c->qfull, c->v, 0));
    MP_ASSERT_OK(mp_joinable_queue_new(&c->jq, 0));
    MP_ASSERT_OK(mp_queue_put(c->jq, c->v, 0));
    MP_ASSERT_OK(mp_pipe(&c->a, &c->bb, true));
    MP_ASSERT_OK(mp_pool_new(&c->pool, 1, NULL, NULL, 0));
    MP_ASSERT_OK(mp_pool_apply_async(c->pool, task_gate, c->v, NULL, NULL, NULL, &c->r));
    MP_ASSERT_OK(mp_pool_imap(c->pool, task_echo, c->args, 0, &c->it));
}

/* Nothing changed by the calls that failed. */
static void timeouts_unchanged(tctx *c)
{
    size_t n = 9;
    MP_ASSERT_OK(mp_queue_qsize(c->q, &n));
    cr_assert_eq(n, 0, "the empty queue holds %zu", n);
    MP_ASSERT_OK(mp_queue_qsize(c->qfull, &n));
    cr_assert_eq(n, 1, "the full queue holds %zu", n);
    unsigned u = 9;
    MP_ASSERT_OK(mp_semaphore_value(c->s, &u));
    cr_assert_eq(u, 0);
    bool f = true;
    MP_ASSERT_OK(mp_barrier_broken(c->b, &f));
    cr_assert(!f, "the barrier broke");
    MP_ASSERT_OK(mp_event_is_set(c->e, &f));
    cr_assert(!f);
    MP_ASSERT_OK(mp_process_is_alive(c->p, &f));
    cr_assert(f);
    MP_ASSERT_OK(mp_async_result_ready(c->r, &f));
    cr_assert(!f);
    /* the Condition's RLock is still held at depth 1, the Lock still held */
    MP_ASSERT_OK(mp_condition_notify(c->cv, 1));
    MPT_ASSERT_PROMPT(mp_lock_acquire(c->l, 0), MP_TIMEOUT);
}

static void timeouts_free(tctx *c)
{
    MP_ASSERT_OK(mp_event_set(g_gate));
    cr_assert_eq(mpt_join(c->p), 0);
    const mp_value *res = NULL;
    MP_ASSERT_OK(mp_async_result_get(c->r, MP_FOREVER, &res));
    MP_ASSERT_OK(mp_pool_close(c->pool));
    MP_ASSERT_OK(mp_pool_join(c->pool));
    mp_async_result_free(c->r);
    mp_imap_free(c->it);
    mp_pool_free(c->pool);
    MP_ASSERT_OK(mp_condition_release(c->cv));
    mp_condition_free(c->cv);
    mp_condition_free(c->cvl);
    MP_ASSERT_OK(mp_lock_release(c->l));
    mp_lock_free(c->l);
    mp_semaphore_free(c->s);
    mp_event_free(c->e);
    mp_barrier_free(c->b);
    mp_queue_free(c->q);
    mp_queue_free(c->qfull);
    mp_queue_free(c->jq);
    mp_conn_free(c->a);
    mp_conn_free(c->bb);
    mp_value_free(c->v);
    mp_value_free(c->args);
    mp_value_free(c->got);
    free(c->buf);
    mp_event_free(g_gate);
    g_gate = NULL;
}

/* The manager's blocking objects: a Lock proxy held by this client, an
 * unset Event, a Queue(1) holding one item and an empty Queue. */
typedef struct tmctx {
    double t;
    mp_manager *m;
    mp_proxy *lk, *e, *qfull, *qempty;
    mp_value *v, *got;
} tmctx;

static void tm_make(tmctx *c)
{
    memset(c, 0, sizeof *c);
    c->v = mp_int(4);
    cr_assert(c->v);
    MP_ASSERT_OK(mp_manager_start(&c->m, NULL));
    MP_ASSERT_OK(mp_manager_lock(c->m, &c->lk));
    MP_ASSERT_OK(mp_manager_event(c->m, &c->e));
    MP_ASSERT_OK(mp_manager_queue(c->m, 1, &c->qfull));
    MP_ASSERT_OK(mp_manager_queue(c->m, 0, &c->qempty));
    MP_ASSERT_OK(mp_mlock_acquire(c->lk, 0));
    MP_ASSERT_OK(mp_mqueue_put(c->qfull, c->v, 0));
}

static void tm_free(tmctx *c)
{
    size_t n = 9;
    MP_ASSERT_OK(mp_mqueue_qsize(c->qfull, &n));
    cr_assert_eq(n, 1, "the full queue holds %zu", n);
    MP_ASSERT_OK(mp_mqueue_qsize(c->qempty, &n));
    cr_assert_eq(n, 0, "the empty queue holds %zu", n);
    MP_ASSERT_OK(mp_mlock_release(c->lk));
    mp_proxy_free(c->lk);
    mp_proxy_free(c->e);
    mp_proxy_free(c->qfull);
    mp_proxy_free(c->qempty);
    mp_manager_free(c->m);
    mp_value_free(c->v);
    mp_value_free(c->got);
}

#define TIMEOUT_NAN(X)                                                                             \
    X("mp_process_join", MP_EINVAL, mp_process_join(c->p, NAN))                                    \
    X("mp_lock_acquire", MP_EINVAL, mp_lock_acquire(c->l, NAN))                                    \
    X("mp_lock_acquire", MP_EINVAL, mp_lock_acquire(c->l, -NAN))                                   \
    X("mp_semaphore_acquire", MP_EINVAL, mp_semaphore_acquire(c->s, NAN))                          \
    X("mp_condition_acquire", MP_EINVAL, mp_condition_acquire(c->cvl, NAN))                        \
    X("mp_condition_acquire", MP_EINVAL, mp_condition_acquire(c->cv, NAN))                         \
    X("mp_condition_wait", MP_EINVAL, mp_condition_wait(c->cv, NAN))                               \
    X("mp_condition_wait_for", MP_EINVAL, mp_condition_wait_for(c->cv, pred_false, NULL, NAN))     \
    X("mp_event_wait", MP_EINVAL, mp_event_wait(c->e, NAN))                                        \
    X("mp_barrier_wait", MP_EINVAL, mp_barrier_wait(c->b, NAN, &c->u))                             \
    X("mp_barrier_new", MP_EINVAL, mp_barrier_new(&c->bout, 2, NULL, NULL, NAN))                   \
    X("mp_queue_put", MP_EINVAL, mp_queue_put(c->q, c->v, NAN))                                    \
    X("mp_queue_put", MP_EINVAL, mp_queue_put(c->qfull, c->v, NAN))                                \
    X("mp_queue_put_bytes", MP_EINVAL, mp_queue_put_bytes(c->q, "x", 1, NAN))                      \
    X("mp_queue_get", MP_EINVAL, mp_queue_get(c->qfull, &c->got, NAN))                             \
    X("mp_queue_get", MP_EINVAL, mp_queue_get(c->q, &c->got, -NAN))                                \
    X("mp_queue_get_bytes", MP_EINVAL, mp_queue_get_bytes(c->qfull, &c->buf, &c->n, NAN))          \
    X("mp_queue_join", MP_EINVAL, mp_queue_join(c->jq, NAN))                                       \
    X("mp_conn_poll", MP_EINVAL, mp_conn_poll(c->a, NAN))                                          \
    X("mp_imap_next", MP_EINVAL, mp_imap_next(c->it, NAN, &c->got))                                \
    X("mp_async_result_get", MP_EINVAL, mp_async_result_get(c->r, NAN, &c->cres))                  \
    X("mp_async_result_wait", MP_EINVAL, mp_async_result_wait(c->r, NAN))
SWEEP(timeout_nan, TIMEOUT_NAN, tctx)

#define TIMEOUT_NAN_MGR(X)                                                                         \
    X("mp_mlock_acquire", MP_EINVAL, mp_mlock_acquire(c->lk, NAN))                                 \
    X("mp_mevent_wait", MP_EINVAL, mp_mevent_wait(c->e, NAN))                                      \
    X("mp_mqueue_put", MP_EINVAL, mp_mqueue_put(c->qempty, c->v, NAN))                             \
    X("mp_mqueue_get", MP_EINVAL, mp_mqueue_get(c->qfull, &c->got, NAN))
SWEEP(timeout_nan_mgr, TIMEOUT_NAN_MGR, tmctx)

MPT_TEST(badinput, BAD_TIMEOUT_NAN,
         "BAD-TIMEOUT-NAN: every call taking a timeout (process join, Lock/Semaphore/Condition "
         "acquire, Condition wait/wait_for, Event and Barrier wait, Barrier default, Queue "
         "put/get/put_bytes/get_bytes/join, Pipe poll, imap next, result get/wait, and the "
         "Lock/Event/Queue proxies) is MP_EINVAL for NaN at once, even when it could complete, and "
         "changes nothing.")
{
    tctx c;
    timeouts_make(&c);
    RUN(timeout_nan, &c);
    cr_assert(!c.got && !c.buf && !c.bout && !c.cres, "an output was written");
    timeouts_unchanged(&c);
    timeouts_free(&c);

    tmctx m;
    tm_make(&m);
    RUN(timeout_nan_mgr, &m);
    cr_assert(!m.got, "an output was written");
    tm_free(&m);
}

/* Timed calls that would block: with c->t <= 0 they fail at once, with
 * c->t > 0 after c->t. */
#define TIMED_SYNC(X)                                                                              \
    X("mp_process_join", MP_TIMEOUT, mp_process_join(c->p, c->t))                                  \
    X("mp_lock_acquire", MP_TIMEOUT, mp_lock_acquire(c->l, c->t))                                  \
    X("mp_semaphore_acquire", MP_TIMEOUT, mp_semaphore_acquire(c->s, c->t))                        \
    X("mp_condition_acquire", MP_TIMEOUT, mp_condition_acquire(c->cvl, c->t))                      \
    X("mp_condition_wait", MP_TIMEOUT, mp_condition_wait(c->cv, c->t))                             \
    X("mp_condition_wait_for", MP_TIMEOUT, mp_condition_wait_for(c->cv, pred_false, NULL, c->t))   \
    X("mp_event_wait", MP_TIMEOUT, mp_event_wait(c->e, c->t))
SWEEP(timed_sync, TIMED_SYNC, tctx)

#define TIMED_IO(X)                                                                                \
    X("mp_queue_put", MP_FULL, mp_queue_put(c->qfull, c->v, c->t))                                 \
    X("mp_queue_put_bytes", MP_FULL, mp_queue_put_bytes(c->qfull, "x", 1, c->t))                   \
    X("mp_queue_get", MP_EMPTY, mp_queue_get(c->q, &c->got, c->t))                                 \
    X("mp_queue_get_bytes", MP_EMPTY, mp_queue_get_bytes(c->q, &c->buf, &c->n, c->t))              \
    X("mp_queue_join", MP_TIMEOUT, mp_queue_join(c->jq, c->t))                                     \
    X("mp_conn_poll", MP_TIMEOUT, mp_conn_poll(c->a, c->t))                                        \
    X("mp_imap_next", MP_TIMEOUT, mp_imap_next(c->it, c->t, &c->got))                              \
    X("mp_async_result_get", MP_TIMEOUT, mp_async_result_get(c->r, c->t, &c->cres))                \
    X("mp_async_result_wait", MP_TIMEOUT, mp_async_result_wait(c->r, c->t))
SWEEP(timed_io, TIMED_IO, tctx)

#define TIMED_MGR(X)                                                                               \
    X("mp_mlock_acquire", MP_TIMEOUT, mp_mlock_acquire(c->lk, c->t))                               \
    X("mp_mevent_wait", MP_TIMEOUT, mp_mevent_wait(c->e, c->t))                                    \
    X("mp_mqueue_put", MP_FULL, mp_mqueue_put(c->qfull, c->v, c->t))                               \
    X("mp_mqueue_get", MP_EMPTY, mp_mqueue_get(c->qempty, &c->got, c->t))
SWEEP(timed_mgr, TIMED_MGR, tmctx)

/* Negative means "try once": a call that can complete does. */
#define NEGATIVE_READY(X)                                                                          \
    X("mp_queue_get", MP_OK, mp_queue_get(c->qfull, &c->got, c->t))                                \
    X("mp_queue_put", MP_OK, mp_queue_put(c->qfull, c->got, c->t))                                 \
    X("mp_semaphore_release", MP_OK, mp_semaphore_release(c->s))                                   \
    X("mp_semaphore_acquire", MP_OK, mp_semaphore_acquire(c->s, c->t))                             \
    X("mp_event_set", MP_OK, mp_event_set(c->e))                                                   \
    X("mp_event_wait", MP_OK, mp_event_wait(c->e, c->t))                                           \
    X("mp_event_clear", MP_OK, mp_event_clear(c->e))                                               \
    X("mp_condition_acquire", MP_OK, mp_condition_acquire(c->cv, c->t))                            \
    X("mp_condition_release", MP_OK, mp_condition_release(c->cv))
SWEEP(negative_ready, NEGATIVE_READY, tctx)

/* A Barrier wait that times out breaks the Barrier (BrokenBarrierError);
 * -INFINITY is MP_BARRIER_DEFAULT, so it is not among the values here. */
#define BARRIER_NEGATIVE(X)                                                                        \
    X("mp_barrier_wait", MP_EBROKEN, mp_barrier_wait(c->b, -1.0, &c->u))                           \
    X("mp_barrier_reset", MP_OK, mp_barrier_reset(c->b))                                           \
    X("mp_barrier_wait", MP_EBROKEN, mp_barrier_wait(c->b, -1e-300, NULL))                         \
    X("mp_barrier_reset", MP_OK, mp_barrier_reset(c->b))
SWEEP(barrier_negative, BARRIER_NEGATIVE, tctx)

static const double negatives[] = {-1.0, -1e-300, -INFINITY, -1e300};

MPT_TEST(badinput, BAD_TIMEOUT_NEGATIVE,
         "BAD-TIMEOUT-NEGATIVE: every call taking a timeout treats a negative one (-1, -1e-300, "
         "-1e300, -INFINITY) as 0: it fails at once when it would block (MP_TIMEOUT, MP_FULL, "
         "MP_EMPTY; MP_EBROKEN for a Barrier) and completes when it can.")
{
    tctx c;
    timeouts_make(&c);
    for (size_t k = 0; k < sizeof negatives / sizeof *negatives; k++) {
        c.t = negatives[k];
        RUN(timed_sync, &c);
        RUN(timed_io, &c);
        RUN(negative_ready, &c);
        mp_value_free(c.got); /* put copies it into the queue */
        c.got = NULL;
    }
    RUN(barrier_negative, &c);
    cr_assert(!c.got && !c.buf && !c.cres, "an output was written");
    timeouts_unchanged(&c);
    timeouts_free(&c);
}

MPT_TEST(badinput, BAD_TIMEOUT_NEGATIVE_MANAGER,
         "BAD-TIMEOUT-NEGATIVE-MANAGER: the Lock, Event and Queue proxies also treat a negative "
         "timeout (-1, -1e-300, -1e300, -INFINITY) as 0: MP_TIMEOUT, MP_FULL or MP_EMPTY at once.")
{
    tmctx m;
    tm_make(&m);
    for (size_t k = 0; k < sizeof negatives / sizeof *negatives; k++) {
        m.t = negatives[k];
        RUN(timed_mgr, &m);
    }
    cr_assert(!m.got, "an output was written");
    tm_free(&m);
}

/* ================================================================= EINTR */

#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

static volatile sig_atomic_t g_alarms;

static void on_alarm(int sig)
{
    (void)sig;
    g_alarms++;
}

/* SIGALRM every millisecond to the calling thread, from a handler installed
 * without SA_RESTART: every blocking system call of that thread sees EINTR. */
typedef struct storm {
    timer_t timer;
    struct sigaction old;
} storm;

static void storm_start(storm *s)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    cr_assert(sigaction(SIGALRM, &sa, &s->old) == 0);
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = SIGALRM;
    sev.sigev_notify_thread_id = (pid_t)syscall(SYS_gettid);
    cr_assert(timer_create(CLOCK_MONOTONIC, &sev, &s->timer) == 0, "timer_create: %s",
              strerror(errno));
    struct itimerspec its = {{0, 1000000}, {0, 1000000}};
    cr_assert(timer_settime(s->timer, 0, &its, NULL) == 0);
    g_alarms = 0;
}

static void storm_stop(storm *s)
{
    timer_delete(s->timer);
    sigaction(SIGALRM, &s->old, NULL);
}

#define EINTR_WAIT 0.1
#define EINTR_MIN_SIGNALS 10
#define EINTR_ATTEMPTS 5

/* Each timed entry must take its whole timeout (never less), under the storm,
 * and return its real outcome.  The storm must really reach the call: on a
 * busy machine the thread may run too seldom to take EINTR_MIN_SIGNALS
 * signals in 0.1 s, and then the call is made again (up to EINTR_ATTEMPTS
 * times; every attempt is held to the status and to the bounds). */
static void sweep_timed(const char *table, const entry *t, size_t n, call_fn call, void *ctx)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        int most = 0;
        for (int attempt = 0; attempt < EINTR_ATTEMPTS && most < EINTR_MIN_SIGNALS; attempt++) {
            sig_atomic_t before = g_alarms;
            double t0 = mpt_now();
            mp_status s = call(i, ctx);
            double el = mpt_now() - t0;
            int got = (int)(g_alarms - before);
            most = got > most ? got : most;
            if (s != t[i].want) {
                cr_log_error("%s[%zu]: %s under signals: got %s (%s), want %s", table, i, t[i].expr,
                             mp_status_name(s), mp_errmsg(), mp_status_name(t[i].want));
                bad++;
            }
            if (el < EINTR_WAIT || el > EINTR_WAIT + mpt_slack(5.0)) {
                cr_log_error("%s[%zu]: %s took %.6f s for %.3f s under signals", table, i,
                             t[i].expr, el, EINTR_WAIT);
                bad++;
            }
        }
        if (most < EINTR_MIN_SIGNALS) {
            cr_log_error("%s[%zu]: at most %d signals arrived during one of %d calls", table, i,
                         most, EINTR_ATTEMPTS);
            bad++;
        }
    }
    cr_assert(bad == 0, "%s: %d failures under signals (listed above)", table, bad);
}

#define RUN_TIMED(name, ctx)                                                                       \
    sweep_timed(#name, name##_tab, sizeof name##_tab / sizeof *name##_tab, name##_call, ctx)

MPT_TEST(badinput, EINTR_RETRY_TIMED,
         "EINTR-RETRY-TIMED: with SIGALRM arriving every millisecond (handler without SA_RESTART), "
         "every timed wait of 0.1 s (process join, Lock/Semaphore/Condition acquire, Condition "
         "wait/wait_for, Event wait, Queue put/get/join, Pipe poll, imap next, result get/wait, "
         "Lock/Event/Queue proxies) still waits its whole timeout and returns its real outcome.")
{
    tctx c;
    timeouts_make(&c);
    tmctx m;
    tm_make(&m);
    c.t = m.t = EINTR_WAIT;
    storm s;
    storm_start(&s);
    RUN_TIMED(timed_sync, &c);
    RUN_TIMED(timed_io, &c);
    RUN_TIMED(timed_mgr, &m);
    storm_stop(&s);
    timeouts_unchanged(&c);
    timeouts_free(&c);
    tm_free(&m);
}

/* A helper thread that waits until the main thread sleeps in its call, then
 * does what ends the wait. */
typedef struct releaser {
    pid_t tid;
    void (*act)(void *);
    void *arg;
} releaser;

static void *release_main(void *vr)
{
    releaser *r = vr;
    mpt_wait_asleep(r->tid);
    r->act(r->arg);
    return NULL;
}

static pthread_t release_later(releaser *r, void (*act)(void *), void *arg)
{
    r->tid = (pid_t)syscall(SYS_gettid);
    r->act = act;
    r->arg = arg;
    pthread_t th;
    cr_assert(pthread_create(&th, NULL, release_main, r) == 0);
    return th;
}

static void act_send(void *c) { mp_conn_send_bytes(((tctx *)c)->bb, "hi", 2); }
static void act_put(void *c) { mp_queue_put_bytes(((tctx *)c)->q, "hi", 2, 0); }
static void act_unlock(void *c) { mp_lock_release(((tctx *)c)->l); }
static void act_open_gate(void *c)
{
    (void)c;
    mp_event_set(g_gate);
}

MPT_TEST(
    badinput, EINTR_RETRY_FOREVER,
    "EINTR-RETRY-FOREVER: with SIGALRM arriving every millisecond (no SA_RESTART), calls blocked "
    "without a timeout (Pipe recv_bytes, Queue get_bytes, Lock acquire, process join, result get) "
    "keep waiting and return their real outcome when another thread ends the wait.")
{
    tctx c;
    timeouts_make(&c);
    storm s;
    storm_start(&s);
    releaser r;
    pthread_t th;
    int before = g_alarms;

    th = release_later(&r, act_send, &c);
    MP_ASSERT_OK(mp_conn_recv_bytes(c.a, &c.buf, &c.n, 0));
    pthread_join(th, NULL);
    cr_assert(c.n == 2 && memcmp(c.buf, "hi", 2) == 0);
    free(c.buf);
    c.buf = NULL;

    th = release_later(&r, act_put, &c);
    MP_ASSERT_OK(mp_queue_get_bytes(c.q, &c.buf, &c.n, MP_FOREVER));
    pthread_join(th, NULL);
    cr_assert(c.n == 2 && memcmp(c.buf, "hi", 2) == 0);
    free(c.buf);
    c.buf = NULL;

    th = release_later(&r, act_unlock, &c);
    MP_ASSERT_OK(mp_lock_acquire(c.l, MP_FOREVER));
    pthread_join(th, NULL);

    th = release_later(&r, act_open_gate, &c);
    MP_ASSERT_OK(mp_process_join(c.p, MP_FOREVER));
    pthread_join(th, NULL);
    MP_ASSERT_OK(mp_async_result_get(c.r, MP_FOREVER, &c.cres));

    storm_stop(&s);
    cr_assert(g_alarms - before > 20, "only %d signals arrived", (int)(g_alarms - before));
    int code = -1;
    MP_ASSERT_OK(mp_process_exitcode(c.p, &code));
    cr_assert_eq(code, 0);
    timeouts_free(&c);
}

/* ========================================================= close-on-exec */

#define MAX_FD 4096

static void open_fds(bool *open)
{
    memset(open, 0, MAX_FD * sizeof *open);
    for (int fd = 0; fd < MAX_FD; fd++)
        if (fcntl(fd, F_GETFD) != -1)
            open[fd] = true;
}

MPT_TEST(badinput, FD_CLOEXEC_ALL,
         "FD-CLOEXEC-ALL: every descriptor the library creates (Pipe ends, Queues, the sync "
         "objects, a started process, a pool with results and an imap, a manager, its proxies and "
         "a connected handle) is close-on-exec.")
{
    static bool before[MAX_FD], after[MAX_FD];
    open_fds(before);

    tctx c;
    timeouts_make(&c);
    mp_conn *a1 = NULL, *b1 = NULL;
    MP_ASSERT_OK(mp_pipe(&a1, &b1, false));
    mp_queue *sq = NULL;
    MP_ASSERT_OK(mp_simple_queue_new(&sq));
    mctx m;
    manager_make(&m);
    mp_manager *conn = NULL;
    MP_ASSERT_OK(mp_manager_connect(&conn, m.addr, NULL, 0));
    size_t n = 0;
    MP_ASSERT_OK(mp_manager_object_count(conn, &n));
    bool set = true;
    MP_ASSERT_OK(mp_mevent_is_set(m.e, &set));

    open_fds(after);
    int leaky = 0, made = 0;
    for (int fd = 0; fd < MAX_FD; fd++) {
        if (!after[fd] || before[fd])
            continue;
        made++;
        int fl = fcntl(fd, F_GETFD);
        if (!(fl & FD_CLOEXEC)) {
            char path[64], target[256] = "?";
            snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
            ssize_t k = readlink(path, target, sizeof target - 1);
            target[k > 0 ? k : 1] = 0;
            cr_log_error("fd %d (%s) is not close-on-exec", fd, target);
            leaky++;
        }
    }
    cr_assert(made >= 5, "only %d new descriptors: the objects made none?", made);
    cr_assert(leaky == 0, "%d of %d new descriptors are not close-on-exec", leaky, made);

    mp_manager_free(conn);
    manager_free(&m);
    mp_queue_free(sq);
    mp_conn_free(a1);
    mp_conn_free(b1);
    timeouts_free(&c);
}
