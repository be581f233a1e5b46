/* Barrier (threading.Barrier's semantics, shared between processes). */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "mpt.h"

struct party {
    mp_barrier *b;
    double timeout;
    int rounds;
    mp_status got[4];
    unsigned index[4];
    _Atomic int *actions;
    int seen[4];
};

static void *party_thread(void *arg)
{
    struct party *p = arg;
    for (int r = 0; r < p->rounds; r++) {
        p->got[r] = mp_barrier_wait(p->b, p->timeout, &p->index[r]);
        if (p->actions)
            p->seen[r] = atomic_load(p->actions);
    }
    return NULL;
}

/* Runs n threads through the barrier `rounds` times. */
static void run_parties(mp_barrier *b, int n, int rounds, double timeout, struct party *p,
                        _Atomic int *actions)
{
    pthread_t t[8];
    for (int i = 0; i < n; i++) {
        p[i] = (struct party){.b = b, .timeout = timeout, .rounds = rounds, .actions = actions};
        cr_assert(pthread_create(&t[i], NULL, party_thread, &p[i]) == 0);
    }
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
}

MPT_TEST(barrier, BAR_WAIT_INDEX,
         "BAR-WAIT-INDEX: each of the parties gets a distinct index 0..parties-1, and the barrier "
         "can be used again")
{
    mp_barrier *b = NULL;
    struct party p[3];
    MP_ASSERT_OK(mp_barrier_new(&b, 3, NULL, NULL, MP_FOREVER));
    run_parties(b, 3, 3, 10.0, p, NULL);
    for (int r = 0; r < 3; r++) {
        unsigned mask = 0;
        for (int i = 0; i < 3; i++) {
            MP_ASSERT_STATUS(p[i].got[r], MP_OK);
            cr_assert_lt(p[i].index[r], 3);
            mask |= 1u << p[i].index[r];
        }
        cr_assert_eq(mask, 7u, "round %d: indexes not distinct", r);
    }
    bool broken = true;
    MP_ASSERT_OK(mp_barrier_broken(b, &broken));
    cr_assert(!broken);
    mp_barrier_free(b);
}

static int count_action(void *arg)
{
    atomic_fetch_add((_Atomic int *)arg, 1);
    return 0;
}

MPT_TEST(barrier, BAR_ACTION,
         "BAR-ACTION: the action runs once per generation, before any party is released")
{
    _Atomic int actions = 0;
    mp_barrier *b = NULL;
    struct party p[3];
    MP_ASSERT_OK(mp_barrier_new(&b, 3, count_action, &actions, MP_FOREVER));
    run_parties(b, 3, 2, 10.0, p, &actions);
    cr_assert_eq(atomic_load(&actions), 2);
    for (int i = 0; i < 3; i++)
        for (int r = 0; r < 2; r++) {
            MP_ASSERT_STATUS(p[i].got[r], MP_OK);
            cr_assert_geq(p[i].seen[r], r + 1, "party %d returned from round %d before its action",
                          i, r);
        }
    mp_barrier_free(b);
}

static int failing_action(void *arg)
{
    (void)arg;
    return -1;
}

MPT_TEST(barrier, BAR_ACTION_FAIL,
         "BAR-ACTION-FAIL: an action returning non-zero breaks the barrier: every party and later "
         "waits get MP_EBROKEN")
{
    mp_barrier *b = NULL;
    struct party p[3];
    MP_ASSERT_OK(mp_barrier_new(&b, 3, failing_action, NULL, MP_FOREVER));
    run_parties(b, 3, 1, 10.0, p, NULL);
    for (int i = 0; i < 3; i++)
        MP_ASSERT_STATUS(p[i].got[0], MP_EBROKEN);
    bool broken = false;
    MP_ASSERT_OK(mp_barrier_broken(b, &broken));
    cr_assert(broken);
    MPT_ASSERT_PROMPT(mp_barrier_wait(b, 10.0, NULL), MP_EBROKEN);
    mp_barrier_free(b);
}

MPT_TEST(barrier, BAR_TIMEOUT,
         "BAR-TIMEOUT: a wait(t) that the other parties miss is MP_EBROKEN after t (never earlier) "
         "and breaks the barrier for everyone")
{
    mp_barrier *b = NULL;
    MP_ASSERT_OK(mp_barrier_new(&b, 2, NULL, NULL, MP_FOREVER));
    unsigned idx = 99;
    MPT_ASSERT_TIMED(mp_barrier_wait(b, 0.2, &idx), MP_EBROKEN, 0.2);
    cr_assert_eq(idx, 99, "index written on failure");
    bool broken = false;
    MP_ASSERT_OK(mp_barrier_broken(b, &broken));
    cr_assert(broken);
    MPT_ASSERT_PROMPT(mp_barrier_wait(b, MP_FOREVER, NULL), MP_EBROKEN);
    MP_ASSERT_OK(mp_barrier_reset(b));
    MPT_ASSERT_PROMPT(mp_barrier_wait(b, 0, NULL), MP_EBROKEN);
    MP_ASSERT_OK(mp_barrier_reset(b));
    MPT_ASSERT_PROMPT(mp_barrier_wait(b, -1, NULL), MP_EBROKEN);
    mp_barrier_free(b);
}

/* A party asleep in wait: 0 when a wait elsewhere broke the barrier (its own
 * 30 s never ran out), 1 for another status, 2 when it was not woken. */
static int party_waits_broken(void *arg)
{
    mp_barrier *b = arg;
    double t0 = mpt_now();
    mp_status s = mp_barrier_wait(b, 30.0, NULL);
    if (s != MP_EBROKEN)
        return 1;
    return mpt_now() - t0 < 20.0 ? 0 : 2;
}

MPT_TEST(barrier, BAR_TIMEOUT_WAKES_PARTIES,
         "BAR-TIMEOUT-WAKES-PARTIES: a wait(t) that times out returns MP_EBROKEN after t, never "
         "earlier, and a party asleep in wait in another process gets MP_EBROKEN")
{
    mp_barrier *b = NULL;
    MP_ASSERT_OK(mp_barrier_new(&b, 3, NULL, NULL, MP_FOREVER));
    mp_process *p = mpt_start(party_waits_broken, b);
    pid_t pid = 0;
    MP_ASSERT_OK(mp_process_pid(p, &pid));
    mpt_wait_asleep(pid);
    MPT_ASSERT_TIMED(mp_barrier_wait(b, 0.3, NULL), MP_EBROKEN, 0.3);
    int code = mpt_join(p);
    cr_assert(code != 2, "the party asleep in wait was not woken when the barrier broke");
    cr_assert_eq(code, 0, "the sleeping party's wait did not return MP_EBROKEN (exit %d)", code);
    bool broken = false;
    MP_ASSERT_OK(mp_barrier_broken(b, &broken));
    cr_assert(broken);
    mp_barrier_free(b);
}

MPT_TEST(barrier, BAR_DEFAULT_TIMEOUT,
         "BAR-DEFAULT-TIMEOUT: wait(MP_BARRIER_DEFAULT) uses the barrier's default timeout")
{
    mp_barrier *b = NULL;
    MP_ASSERT_OK(mp_barrier_new(&b, 2, NULL, NULL, 0.15));
    MPT_ASSERT_TIMED(mp_barrier_wait(b, MP_BARRIER_DEFAULT, NULL), MP_EBROKEN, 0.15);
    mp_barrier_free(b);
}

MPT_TEST(barrier, BAR_SINGLE_PARTY,
         "BAR-SINGLE-PARTY: a barrier of one party never blocks and returns index 0")
{
    mp_barrier *b = NULL;
    unsigned idx = 99;
    MP_ASSERT_OK(mp_barrier_new(&b, 1, NULL, NULL, MP_FOREVER));
    for (int i = 0; i < 3; i++) {
        MPT_ASSERT_PROMPT(mp_barrier_wait(b, MP_FOREVER, &idx), MP_OK);
        cr_assert_eq(idx, 0);
    }
    mp_barrier_free(b);
}

struct stuck {
    mp_barrier *b;
    mp_status got;
    double timeout; /* 0: 10 s */
};

static void *stuck_thread(void *arg)
{
    struct stuck *s = arg;
    s->got = mp_barrier_wait(s->b, s->timeout != 0 ? s->timeout : 10.0, NULL);
    return NULL;
}

/* Starts one party of a 3-party barrier; returns once it is waiting. */
static void start_waiter(struct stuck *s, pthread_t *t)
{
    s->got = MP_ENOTSUP;
    cr_assert(pthread_create(t, NULL, stuck_thread, s) == 0);
    unsigned n = 0;
    double t0 = mpt_now();
    /* n_waiting is the observable fact that the party has arrived */
    while (mp_barrier_n_waiting(s->b, &n) == MP_OK && n < 1 && mpt_now() - t0 < 10)
        sched_yield();
    cr_assert_eq(n, 1);
}

MPT_TEST(barrier, BAR_ABORT,
         "BAR-ABORT: abort wakes waiting parties with MP_EBROKEN and leaves the barrier broken "
         "until reset")
{
    struct stuck s = {0};
    pthread_t t;
    MP_ASSERT_OK(mp_barrier_new(&s.b, 3, NULL, NULL, MP_FOREVER));
    start_waiter(&s, &t);
    MP_ASSERT_OK(mp_barrier_abort(s.b));
    pthread_join(t, NULL);
    MP_ASSERT_STATUS(s.got, MP_EBROKEN);
    bool broken = false;
    MP_ASSERT_OK(mp_barrier_broken(s.b, &broken));
    cr_assert(broken);
    MPT_ASSERT_PROMPT(mp_barrier_wait(s.b, 10.0, NULL), MP_EBROKEN);
    MP_ASSERT_OK(mp_barrier_reset(s.b));
    MP_ASSERT_OK(mp_barrier_broken(s.b, &broken));
    cr_assert(!broken);
    struct party p[3];
    run_parties(s.b, 3, 1, 10.0, p, NULL);
    for (int i = 0; i < 3; i++)
        MP_ASSERT_STATUS(p[i].got[0], MP_OK);
    mp_barrier_free(s.b);
}

MPT_TEST(barrier, BAR_RESET,
         "BAR-RESET: reset while a party waits gives it MP_EBROKEN; the barrier is then usable and "
         "not broken")
{
    struct stuck s = {0};
    pthread_t t;
    MP_ASSERT_OK(mp_barrier_new(&s.b, 3, NULL, NULL, MP_FOREVER));
    start_waiter(&s, &t);
    MP_ASSERT_OK(mp_barrier_reset(s.b));
    pthread_join(t, NULL);
    MP_ASSERT_STATUS(s.got, MP_EBROKEN);
    bool broken = true;
    MP_ASSERT_OK(mp_barrier_broken(s.b, &broken));
    cr_assert(!broken);
    unsigned n = 99;
    MP_ASSERT_OK(mp_barrier_n_waiting(s.b, &n));
    cr_assert_eq(n, 0);
    struct party p[3];
    run_parties(s.b, 3, 2, 10.0, p, NULL);
    for (int i = 0; i < 3; i++)
        MP_ASSERT_STATUS(p[i].got[1], MP_OK);
    mp_barrier_free(s.b);
}

MPT_TEST(barrier, BAR_N_WAITING,
         "BAR-N-WAITING: parties reports the size and n_waiting the parties currently waiting")
{
    struct stuck s = {0};
    pthread_t t;
    unsigned n = 0;
    MP_ASSERT_OK(mp_barrier_new(&s.b, 2, NULL, NULL, MP_FOREVER));
    MP_ASSERT_OK(mp_barrier_parties(s.b, &n));
    cr_assert_eq(n, 2);
    MP_ASSERT_OK(mp_barrier_n_waiting(s.b, &n));
    cr_assert_eq(n, 0);
    start_waiter(&s, &t); /* asserts n_waiting == 1 */
    MP_ASSERT_OK(mp_barrier_wait(s.b, 10.0, NULL));
    pthread_join(t, NULL);
    MP_ASSERT_STATUS(s.got, MP_OK);
    MP_ASSERT_OK(mp_barrier_n_waiting(s.b, &n));
    cr_assert_eq(n, 0);
    mp_barrier_free(s.b);
}

MPT_TEST(barrier, BAR_BAD_ARGS,
         "BAR-BAD-ARGS: zero parties, NULL handles or outputs and NaN timeouts are MP_EINVAL")
{
    mp_barrier *b = NULL;
    unsigned n;
    bool broken;
    MP_ASSERT_STATUS(mp_barrier_new(&b, 0, NULL, NULL, MP_FOREVER), MP_EINVAL);
    MP_ASSERT_STATUS(mp_barrier_new(NULL, 2, NULL, NULL, MP_FOREVER), MP_EINVAL);
    MP_ASSERT_STATUS(mp_barrier_new(&b, 2, NULL, NULL, NAN), MP_EINVAL);
    MP_ASSERT_STATUS(mp_barrier_wait(NULL, 0, NULL), MP_EINVAL);
    MP_ASSERT_STATUS(mp_barrier_abort(NULL), MP_EINVAL);
    MP_ASSERT_STATUS(mp_barrier_reset(NULL), MP_EINVAL);
    MP_ASSERT_STATUS(mp_barrier_parties(NULL, &n), MP_EINVAL);
    MP_ASSERT_STATUS(mp_barrier_n_waiting(NULL, &n), MP_EINVAL);
    MP_ASSERT_STATUS(mp_barrier_broken(NULL, &broken), MP_EINVAL);
    MP_ASSERT_OK(mp_barrier_new(&b, 2, NULL, NULL, MP_FOREVER));
    MP_ASSERT_STATUS(mp_barrier_wait(b, NAN, NULL), MP_EINVAL);
    MP_ASSERT_STATUS(mp_barrier_parties(b, NULL), MP_EINVAL);
    MP_ASSERT_STATUS(mp_barrier_n_waiting(b, NULL), MP_EINVAL);
    MP_ASSERT_STATUS(mp_barrier_broken(b, NULL), MP_EINVAL);
    MP_ASSERT_OK(mp_barrier_broken(b, &broken));
    cr_assert(!broken, "a NaN wait must not break the barrier");
    mp_barrier_free(b);
    mp_barrier_free(NULL);
}

/* Three processes meet twice; the action (run in one of them) and the
 * indexes are recorded in memory all of them map. */
struct xbar {
    mp_barrier *b;
    _Atomic int *shared; /* [0]: actions; [1..]: index bits per round */
};

static int shared_action(void *arg)
{
    atomic_fetch_add(&((_Atomic int *)arg)[0], 1);
    return 0;
}

static int child_party(void *arg)
{
    struct xbar *x = arg;
    for (int r = 0; r < 2; r++) {
        unsigned idx;
        if (mp_barrier_wait(x->b, 10.0, &idx) != MP_OK || idx > 2)
            return 1 + r;
        if (atomic_load(&x->shared[0]) < r + 1)
            return 10; /* released before the action ran */
        atomic_fetch_or(&x->shared[1 + r], 1 << idx);
    }
    return 0;
}

MPT_TEST(barrier, BAR_CROSS_PROCESS,
         "BAR-CROSS-PROCESS: three processes pass a Barrier(3) twice with distinct indexes and one "
         "action per round")
{
    struct xbar x;
    x.shared = mmap(NULL, 4 * sizeof(int), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
                    0);
    cr_assert(x.shared != MAP_FAILED);
    MP_ASSERT_OK(mp_barrier_new(&x.b, 3, shared_action, x.shared, MP_FOREVER));
    mp_process *p[3];
    for (int i = 0; i < 3; i++)
        p[i] = mpt_start(child_party, &x);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(mpt_join(p[i]), 0, "child %d failed", i);
    cr_assert_eq(atomic_load(&x.shared[0]), 2);
    cr_assert_eq(atomic_load(&x.shared[1]), 7);
    cr_assert_eq(atomic_load(&x.shared[2]), 7);
    mp_barrier_free(x.b);
    munmap((void *)x.shared, 4 * sizeof(int));
}

/* ------------------------------------------------------ killed processes */

/* n_waiting is the observable fact that parties have arrived. */
static void await_n_waiting(mp_barrier *b, unsigned want)
{
    unsigned n = 0;
    double t0 = mpt_now();
    while (mp_barrier_n_waiting(b, &n) == MP_OK && n < want && mpt_now() - t0 < mpt_slack(10))
        sched_yield();
    cr_assert_eq(n, want);
}

static int child_bwait(void *arg) { return (int)mp_barrier_wait(arg, MP_FOREVER, NULL); }

/* Starts a child party and returns once it is asleep in wait, the
 * `arrived`-th party. */
static mp_process *start_child_party(mp_barrier *b, unsigned arrived)
{
    mp_process *p = mpt_start(child_bwait, b);
    await_n_waiting(b, arrived);
    pid_t pid = 0;
    MP_ASSERT_OK(mp_process_pid(p, &pid));
    mpt_wait_asleep(pid);
    return p;
}

static void start_thread_party(struct stuck *s, pthread_t *t, mp_barrier *b, double timeout)
{
    *s = (struct stuck){.b = b, .got = MP_ENOTSUP};
    s->timeout = timeout;
    cr_assert(pthread_create(t, NULL, stuck_thread, s) == 0);
}

MPT_TEST(barrier, BAR_PARTY_KILLED,
         "BAR-PARTY-KILLED: a party SIGKILLed while waiting breaks the barrier: survivors, even "
         "with MP_FOREVER, get MP_EBROKEN within a bounded time")
{
    mp_barrier *b = NULL;
    MP_ASSERT_OK(mp_barrier_new(&b, 4, NULL, NULL, MP_FOREVER));
    mp_process *dead = start_child_party(b, 1);
    struct stuck s[2];
    pthread_t t[2];
    start_thread_party(&s[0], &t[0], b, MP_FOREVER);
    start_thread_party(&s[1], &t[1], b, 30.0);
    await_n_waiting(b, 3);
    /* Not joined until the survivors are out: a zombie is dead too. */
    MP_ASSERT_OK(mp_process_kill(dead));
    double t0 = mpt_now();
    for (int i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
        MP_ASSERT_STATUS(s[i].got, MP_EBROKEN);
    }
    cr_assert(mpt_now() - t0 < mpt_slack(2.0), "the survivors took %.3f s", mpt_now() - t0);
    cr_assert_eq(mpt_join(dead), -SIGKILL);
    bool broken = false;
    MP_ASSERT_OK(mp_barrier_broken(b, &broken));
    cr_assert(broken);
    MPT_ASSERT_PROMPT(mp_barrier_wait(b, MP_FOREVER, NULL), MP_EBROKEN);
    mp_barrier_free(b);
}

MPT_TEST(barrier, BAR_PARTY_KILLED_LAST_ARRIVES,
         "BAR-PARTY-KILLED-LAST-ARRIVES: the arrival that completes a generation with a killed "
         "party gets MP_EBROKEN at once; no action runs")
{
    _Atomic int actions = 0;
    mp_barrier *b = NULL;
    MP_ASSERT_OK(mp_barrier_new(&b, 2, count_action, &actions, MP_FOREVER));
    mp_process *dead = start_child_party(b, 1);
    MP_ASSERT_OK(mp_process_kill(dead));
    cr_assert_eq(mpt_join(dead), -SIGKILL);
    unsigned idx = 99;
    MPT_ASSERT_PROMPT(mp_barrier_wait(b, MP_FOREVER, &idx), MP_EBROKEN);
    cr_assert_eq(idx, 99, "index written on failure");
    cr_assert_eq(atomic_load(&actions), 0, "the action ran for a generation with a dead party");
    bool broken = false;
    MP_ASSERT_OK(mp_barrier_broken(b, &broken));
    cr_assert(broken);
    unsigned n = 99;
    MP_ASSERT_OK(mp_barrier_n_waiting(b, &n));
    cr_assert_eq(n, 0);
    mp_barrier_free(b);
}

MPT_TEST(barrier, BAR_PARTY_KILLED_RESET,
         "BAR-PARTY-KILLED-RESET: reset right after a party was killed in wait makes the barrier "
         "usable: live parties pass within a bounded time")
{
    mp_barrier *b = NULL;
    MP_ASSERT_OK(mp_barrier_new(&b, 2, NULL, NULL, MP_FOREVER));
    mp_process *dead = start_child_party(b, 1);
    MP_ASSERT_OK(mp_process_kill(dead));
    cr_assert_eq(mpt_join(dead), -SIGKILL);
    /* Nobody has looked at the dead party yet: reset must still work. */
    MPT_ASSERT_PROMPT(mp_barrier_reset(b), MP_OK);
    bool broken = true;
    MP_ASSERT_OK(mp_barrier_broken(b, &broken));
    cr_assert(!broken);
    struct party p[2];
    double t0 = mpt_now();
    run_parties(b, 2, 2, 30.0, p, NULL);
    cr_assert(mpt_now() - t0 < mpt_slack(2.0), "the live parties took %.3f s", mpt_now() - t0);
    for (int i = 0; i < 2; i++)
        for (int r = 0; r < 2; r++)
            MP_ASSERT_STATUS(p[i].got[r], MP_OK);
    cr_assert_eq(p[0].index[0] + p[1].index[0], 1u, "indexes %u %u", p[0].index[0], p[1].index[0]);
    mp_barrier_free(b);
}

/* The action blocks in the victim process only, which is killed there. */
static bool in_victim;

static int blocking_action(void *arg)
{
    if (in_victim) {
        mp_event_set(arg);
        for (;;)
            pause();
    }
    return 0;
}

static int child_victim(void *arg)
{
    in_victim = true;
    return (int)mp_barrier_wait(arg, MP_FOREVER, NULL);
}

MPT_TEST(barrier, BAR_ACTION_KILLED,
         "BAR-ACTION-KILLED: a party SIGKILLed while running the action breaks the barrier: the "
         "waiting parties get MP_EBROKEN within a bounded time")
{
    mp_event *in_action = NULL;
    MP_ASSERT_OK(mp_event_new(&in_action));
    mp_barrier *b = NULL;
    MP_ASSERT_OK(mp_barrier_new(&b, 3, blocking_action, in_action, MP_FOREVER));
    struct stuck s[2];
    pthread_t t[2];
    start_thread_party(&s[0], &t[0], b, MP_FOREVER);
    start_thread_party(&s[1], &t[1], b, MP_FOREVER);
    await_n_waiting(b, 2);
    mp_process *victim = mpt_start(child_victim, b); /* the last: it runs the action */
    MP_ASSERT_OK(mp_event_wait(in_action, 10.0));
    MP_ASSERT_OK(mp_process_kill(victim));
    double t0 = mpt_now();
    for (int i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
        MP_ASSERT_STATUS(s[i].got, MP_EBROKEN);
    }
    cr_assert(mpt_now() - t0 < mpt_slack(2.0), "the survivors took %.3f s", mpt_now() - t0);
    cr_assert_eq(mpt_join(victim), -SIGKILL);
    bool broken = false;
    MP_ASSERT_OK(mp_barrier_broken(b, &broken));
    cr_assert(broken);
    MP_ASSERT_OK(mp_barrier_reset(b));
    struct party p[3];
    run_parties(b, 3, 1, 10.0, p, NULL);
    for (int i = 0; i < 3; i++)
        MP_ASSERT_STATUS(p[i].got[0], MP_OK);
    mp_barrier_free(b);
    mp_event_free(in_action);
}

/* BAR-KILLED-ANYTIME: a caller killed at any instruction of a Barrier call --
 * also right after taking the Barrier's internal lock or right before letting
 * it go -- must not leave that lock held for good.  A child loops abort() and
 * reset() on a Barrier(1) (each takes and drops the lock) until it is
 * SIGKILLed at a random instant; then a wait, run in a thread so that a hang
 * fails the test instead of stalling it, must return within a bounded time:
 * MP_OK, or MP_EBROKEN when the death left the barrier broken, after which
 * reset() and a second wait pass. */
#define KILL_ROUNDS 60

static int child_abort_reset(void *arg)
{
    for (;;)
        if (mp_barrier_abort(arg) != MP_OK || mp_barrier_reset(arg) != MP_OK)
            return 1;
}

struct bounded {
    mp_barrier *b;
    mp_status first, second;
    unsigned index;
    _Atomic bool done;
};

static void *bounded_thread(void *arg)
{
    struct bounded *w = arg;
    w->first = mp_barrier_wait(w->b, 3.0, &w->index);
    w->second = MP_OK;
    if (w->first == MP_EBROKEN) {
        w->second = mp_barrier_reset(w->b);
        if (w->second == MP_OK)
            w->second = mp_barrier_wait(w->b, 3.0, &w->index);
    }
    atomic_store(&w->done, true);
    return NULL;
}

MPT_TEST(barrier, BAR_KILLED_ANYTIME,
         "BAR-KILLED-ANYTIME: a caller killed at any instant of abort/reset never leaves the "
         "Barrier's lock held: the next wait returns in bounded time (MP_OK, or MP_EBROKEN, then "
         "reset makes it pass)")
{
    mp_barrier *b = NULL;
    MP_ASSERT_OK(mp_barrier_new(&b, 1, NULL, NULL, MP_FOREVER));
    int broken = 0;
    for (int r = 0; r < KILL_ROUNDS; r++) {
        cr_assert_eq(mpt_kill_at_random(child_abort_reset, b, (unsigned)r), -SIGKILL, "round %d",
                     r);
        struct bounded w = {.b = b};
        pthread_t t;
        cr_assert(pthread_create(&t, NULL, bounded_thread, &w) == 0);
        double t0 = mpt_now();
        while (!atomic_load(&w.done) && mpt_now() - t0 < mpt_slack(8.0)) {
            struct timespec ms = {0, 1000000};
            nanosleep(&ms, NULL); /* polls for the result, within a bound */
        }
        cr_assert(atomic_load(&w.done),
                  "round %d: a wait after the caller's death is still blocked after %.1f s", r,
                  mpt_now() - t0);
        pthread_join(t, NULL);
        cr_assert(w.first == MP_OK || w.first == MP_EBROKEN, "round %d: first wait: %s", r,
                  mp_status_name(w.first));
        MP_ASSERT_STATUS(w.second, MP_OK);
        cr_assert_eq(w.index, 0);
        broken += w.first == MP_EBROKEN;
    }
    cr_log_info("%d rounds, %d found the barrier broken", KILL_ROUNDS, broken);
    mp_barrier_free(b);
}

/* ------------------------------------------------ CPython's tests, continued */

enum { THOUSAND = 1000 };

struct thousand {
    mp_barrier *b;
    int fd; /* the write end of a pipe all parties share */
};

/* Contract: a child party passing x->b THOUSAND times, writing the pass
 * number i (4 bytes: one atomic pipe write) after each pass.  Returns 0, or
 * 1 when a wait or a write failed. */
static int thousand_party(void *arg)
{
    struct thousand *x = arg;
    for (int32_t i = 0; i < THOUSAND; i++)
        if (mp_barrier_wait(x->b, MP_FOREVER, NULL) != MP_OK ||
            write(x->fd, &i, sizeof i) != sizeof i)
            return 1;
    return 0;
}

MPT_TEST(barrier, BAR_THOUSAND,
         "BAR-THOUSAND: three processes pass one Barrier(3) 1000 times in step: every party's "
         "report of pass i comes before any report of pass i+1")
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    struct thousand x = {.fd = fds[1]};
    MP_ASSERT_OK(mp_barrier_new(&x.b, 3, NULL, NULL, MP_FOREVER));
    mp_process *p[3];
    for (int i = 0; i < 3; i++)
        p[i] = mpt_start(thousand_party, &x);
    close(fds[1]);
    for (int32_t i = 0; i < THOUSAND; i++)
        for (int k = 0; k < 3; k++) {
            int32_t got = -1;
            cr_assert_eq(read(fds[0], &got, sizeof got), (ssize_t)sizeof got,
                         "the parties stopped reporting at pass %d", (int)i);
            cr_assert_eq(got, i, "report %d of pass %d was pass %d: not in step", k, (int)i,
                         (int)got);
        }
    close(fds[0]);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(mpt_join(p[i]), 0, "party %d failed", i);
    mp_barrier_free(x.b);
}
