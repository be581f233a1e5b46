/* JoinableQueue: a Queue with task_done() and join().  Children report
 * through exit codes and a shared mapping; processes are sequenced with
 * pipes, never with sleeps. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mpt.h"

static void put_u32(mp_queue *q, uint32_t v)
{
    MP_ASSERT_OK(mp_queue_put_bytes(q, &v, sizeof v, MP_NOWAIT));
}

static void get_any(mp_queue *q)
{
    void *b = NULL;
    size_t n = 0;
    MP_ASSERT_OK(mp_queue_get_bytes(q, &b, &n, MP_NOWAIT));
    free(b);
}

MPT_TEST(joinable_queue, JQ_NEW_NULL_OUT,
         "JQ-NEW-NULL-OUT: mp_joinable_queue_new(NULL, n) is MP_EINVAL")
{
    MP_ASSERT_STATUS(mp_joinable_queue_new(NULL, 0), MP_EINVAL);
}

MPT_TEST(joinable_queue, JQ_TASK_DONE_TOO_MANY,
         "JQ-TASK-DONE-TOO-MANY: task_done more times than items put is MP_ESTATE")
{
    mp_queue *q = NULL;
    MP_ASSERT_OK(mp_joinable_queue_new(&q, 0));
    MP_ASSERT_STATUS(mp_queue_task_done(q), MP_ESTATE);
    put_u32(q, 1);
    put_u32(q, 2);
    get_any(q);
    get_any(q);
    MP_ASSERT_OK(mp_queue_task_done(q));
    MP_ASSERT_OK(mp_queue_task_done(q));
    MP_ASSERT_STATUS(mp_queue_task_done(q), MP_ESTATE);
    MPT_ASSERT_PROMPT(mp_queue_join(q, MP_FOREVER), MP_OK);
    mp_queue_free(q);
}

MPT_TEST(joinable_queue, JQ_JOIN_NOTHING_PUT,
         "JQ-JOIN-NOTHING-PUT: join on a queue with nothing unfinished returns MP_OK at once")
{
    mp_queue *q = NULL;
    MP_ASSERT_OK(mp_joinable_queue_new(&q, 0));
    MPT_ASSERT_PROMPT(mp_queue_join(q, MP_FOREVER), MP_OK);
    MPT_ASSERT_PROMPT(mp_queue_join(q, 0), MP_OK);
    mp_queue_free(q);
}

MPT_TEST(joinable_queue, JQ_JOIN_TIMEOUT,
         "JQ-JOIN-TIMEOUT: join with unfinished items waits for its timeout, then MP_TIMEOUT")
{
    mp_queue *q = NULL;
    MP_ASSERT_OK(mp_joinable_queue_new(&q, 0));
    put_u32(q, 1);
    get_any(q); /* got but not done */
    MPT_ASSERT_TIMED(mp_queue_join(q, 0.3), MP_TIMEOUT, 0.3);
    MP_ASSERT_OK(mp_queue_task_done(q));
    MPT_ASSERT_PROMPT(mp_queue_join(q, 0.3), MP_OK);
    mp_queue_free(q);
}

MPT_TEST(
    joinable_queue, JQ_JOIN_NOWAIT,
    "JQ-JOIN-NOWAIT: join with timeout 0 or negative and unfinished items is MP_TIMEOUT at once")
{
    mp_queue *q = NULL;
    MP_ASSERT_OK(mp_joinable_queue_new(&q, 0));
    put_u32(q, 1);
    MPT_ASSERT_PROMPT(mp_queue_join(q, 0), MP_TIMEOUT);
    MPT_ASSERT_PROMPT(mp_queue_join(q, -1), MP_TIMEOUT);
    MP_ASSERT_STATUS(mp_queue_join(q, NAN), MP_EINVAL);
    mp_queue_free(q);
}

MPT_TEST(
    joinable_queue, JQ_TASK_DONE_COUNTS_PUTS,
    "JQ-TASK-DONE-COUNTS-PUTS: task_done counts against puts, not gets: it may come before the get")
{
    mp_queue *q = NULL;
    MP_ASSERT_OK(mp_joinable_queue_new(&q, 0));
    put_u32(q, 1);
    MP_ASSERT_OK(mp_queue_task_done(q));
    MPT_ASSERT_PROMPT(mp_queue_join(q, 0), MP_OK);
    size_t n = 0;
    MP_ASSERT_OK(mp_queue_qsize(q, &n));
    cr_assert_eq(n, 1, "the item must still be queued");
    get_any(q);
    MP_ASSERT_STATUS(mp_queue_task_done(q), MP_ESTATE);
    mp_queue_free(q);
}

MPT_TEST(joinable_queue, JQ_MAXSIZE,
         "JQ-MAXSIZE: JoinableQueue(2) takes two items; the third put is MP_FULL")
{
    mp_queue *q = NULL;
    MP_ASSERT_OK(mp_joinable_queue_new(&q, 2));
    put_u32(q, 1);
    put_u32(q, 2);
    uint32_t v = 3;
    MPT_ASSERT_PROMPT(mp_queue_put_bytes(q, &v, 4, MP_NOWAIT), MP_FULL);
    MPT_ASSERT_TIMED(mp_queue_put_bytes(q, &v, 4, 0.2), MP_FULL, 0.2);
    mp_queue_free(q);
}

typedef struct jq_shared {
    mp_queue *q;
    _Atomic uint32_t processed;
    int go_r;
} jq_shared;

static int worker(void *a)
{
    jq_shared *s = a;
    char c;
    if (s->go_r >= 0 && read(s->go_r, &c, 1) != 1)
        return 2;
    for (;;) {
        void *b = NULL;
        size_t n = 0;
        if (mp_queue_get_bytes(s->q, &b, &n, 10.0))
            return 1;
        uint32_t v;
        memcpy(&v, b, sizeof v);
        free(b);
        if (v == UINT32_MAX) {
            /* the sentinel is a task too */
            return mp_queue_task_done(s->q) ? 3 : 0;
        }
        atomic_fetch_add(&s->processed, 1);
        if (mp_queue_task_done(s->q))
            return 3;
    }
}

MPT_TEST(joinable_queue, JQ_JOIN_WAITS,
         "JQ-JOIN-WAITS: join returns only after every item put has been task_done()d by another "
         "process")
{
    jq_shared *s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert(s != MAP_FAILED);
    MP_ASSERT_OK(mp_joinable_queue_new(&s->q, 0));
    int fd[2];
    cr_assert(pipe2(fd, O_CLOEXEC) == 0);
    s->go_r = fd[0];
    mp_process *p = mpt_start(worker, s);
    for (uint32_t i = 0; i < 50; i++)
        put_u32(s->q, i);
    char c = 1;
    cr_assert(write(fd[1], &c, 1) == 1);
    MP_ASSERT_OK(mp_queue_join(s->q, MP_FOREVER));
    cr_assert_eq(atomic_load(&s->processed), 50, "join returned after %u of 50 tasks",
                 atomic_load(&s->processed));
    put_u32(s->q, UINT32_MAX);
    cr_assert_eq(mpt_join(p), 0);
    MP_ASSERT_OK(mp_queue_join(s->q, 10.0));
    close(fd[0]);
    close(fd[1]);
    mp_queue_free(s->q);
    munmap(s, sizeof *s);
}

MPT_TEST(joinable_queue, JQ_WORKERS,
         "JQ-WORKERS: with several worker processes calling task_done, join returns once all items "
         "are done")
{
    jq_shared *s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert(s != MAP_FAILED);
    MP_ASSERT_OK(mp_joinable_queue_new(&s->q, 4));
    s->go_r = -1;
    mp_process *w[3];
    for (int i = 0; i < 3; i++)
        w[i] = mpt_start(worker, s);
    for (uint32_t i = 0; i < 300; i++)
        MP_ASSERT_OK(mp_queue_put_bytes(s->q, &i, sizeof i, 10.0));
    MP_ASSERT_OK(mp_queue_join(s->q, 20.0));
    cr_assert_eq(atomic_load(&s->processed), 300);
    for (int i = 0; i < 3; i++) {
        uint32_t stop = UINT32_MAX;
        MP_ASSERT_OK(mp_queue_put_bytes(s->q, &stop, sizeof stop, 10.0));
    }
    for (int i = 0; i < 3; i++)
        cr_assert_eq(mpt_join(w[i]), 0);
    MPT_ASSERT_PROMPT(mp_queue_join(s->q, 10.0), MP_OK);
    mp_queue_free(s->q);
    munmap(s, sizeof *s);
}

/* --------------------------------------- task_done killed at any instruction
 * (mpt_kat in mpt.h; the same sweep as Q-KILLED-WAKER-ANYTIME) */

#include <poll.h>
#include <pthread.h>

typedef struct join_sweep {
    mp_queue *q;
    int done[2];       /* the joiner writes its status here */
    _Atomic pid_t tid; /* the joining thread */
} join_sweep;

static void *joiner(void *a)
{
    join_sweep *s = a;
    atomic_store(&s->tid, gettid());
    int st = mp_queue_join(s->q, 60.0);
    while (write(s->done[1], &st, sizeof st) < 0 && errno == EINTR) {
    }
    return NULL;
}

/* 1 when nothing is unfinished (a join that does not wait says so). */
static size_t all_done(void *a)
{
    join_sweep *s = a;
    return mp_queue_join(s->q, 0) == MP_OK;
}

static int victim_task_done(void *a)
{
    join_sweep *s = a;
    return mp_queue_task_done(s->q) ? 1 : 0;
}

/* The joiner's status within `timeout` seconds; -1 if it did not return. */
static int joiner_status(join_sweep *s, double timeout)
{
    struct pollfd pf = {s->done[0], POLLIN, 0};
    int n, st = -1;
    while ((n = poll(&pf, 1, (int)(timeout * 1000) + 1)) < 0 && errno == EINTR) {
    }
    if (n == 1)
        cr_assert(read(s->done[0], &st, sizeof st) == (ssize_t)sizeof st);
    return st;
}

/* One unfinished item and a thread asleep in join. */
static pthread_t start_joiner(join_sweep *s)
{
    put_u32(s->q, 7);
    get_any(s->q);
    atomic_store(&s->tid, 0);
    pthread_t t;
    cr_assert(pthread_create(&t, NULL, joiner, s) == 0);
    while (!atomic_load(&s->tid))
        sched_yield();
    mpt_wait_asleep_quick(s->tid);
    return t;
}

/* After the victim's task_done was killed before instruction `at` (or
 * completed): if it counted, the joiner returns without help (checked when
 * `alone`); the survivor's task_done (MP_OK, or MP_ESTATE if the victim's
 * counted) then lets it return in any case. */
static void settle_join(join_sweep *s, pthread_t t, bool alone, size_t at)
{
    double bound = mpt_slack(5.0);
    int st = -1;
    if (alone && all_done(s)) {
        st = joiner_status(s, bound);
        cr_assert(st == MP_OK,
                  "task_done killed before instruction %zu: every task is "
                  "done, but join did not return within %.1f s (%d)",
                  at, bound, st);
    }
    mp_status td = mp_queue_task_done(s->q);
    cr_assert(td == MP_OK || td == MP_ESTATE, "task_done: %s", mp_status_name(td));
    if (st == -1)
        st = joiner_status(s, bound);
    cr_assert(st == MP_OK,
              "task_done killed before instruction %zu: join did not return "
              "within %.1f s of the last task_done (%d)",
              at, bound, st);
    pthread_join(t, NULL);
}

MPT_TEST(joinable_queue, JQ_KILLED_TASK_DONE_ANYTIME,
         "JQ-KILLED-TASK-DONE-ANYTIME: a process killed before any instruction of task_done never "
         "leaves join asleep: it returns if the task counted, and after the next task_done")
{
    join_sweep s = {0};
    MP_ASSERT_OK(mp_joinable_queue_new(&s.q, 0));
    cr_assert(pipe2(s.done, O_CLOEXEC) == 0);
    /* A first round, so that the victims find everything resolved. */
    pthread_t t = start_joiner(&s);
    settle_join(&s, t, false, 0);
    mpt_kat k = {.call = victim_task_done, .probe = all_done, .arg = &s};
    t = start_joiner(&s);
    mpt_kat_calibrate(&k);
    settle_join(&s, t, true, k.n);
    size_t missed = 0, trials = 0;
    for (size_t i = 0; i < k.n; i++) {
        if (!mpt_kat_swept(&k, i))
            continue;
        t = start_joiner(&s);
        missed += mpt_kat_kill_at(&k, i) == MPT_KAT_MISSED;
        trials++;
        settle_join(&s, t, (i - k.publish) % MPT_KAT_STRIDE == 1, i);
    }
    cr_assert(missed <= trials / 10, "%zu of %zu kills missed their instruction", missed, trials);
    mpt_kat_free(&k);
    close(s.done[0]);
    close(s.done[1]);
    mp_queue_free(s.q);
}

/* ------------------------------------------------------ prompt hand-off */

static void jq_one_unfinished(void *a)
{
    put_u32(a, 9);
    get_any(a);
}

static mp_status jq_join(void *a) { return mp_queue_join(a, 30.0); }

static void jq_task_done(void *a) { MP_ASSERT_OK(mp_queue_task_done(a)); }

MPT_TEST(joinable_queue, JQ_TASK_DONE_WAKES_PROMPT,
         "JQ-TASK-DONE-WAKES-PROMPT: the last task_done wakes a join asleep at once (median "
         "hand-off far below a polling period)")
{
    mp_queue *q = NULL;
    MP_ASSERT_OK(mp_joinable_queue_new(&q, 0));
    mpt_prompt h = {.arg = q,
                    .prepare = jq_one_unfinished,
                    .wait = jq_join,
                    .wake = jq_task_done,
                    .want = MP_OK};
    double median = mpt_prompt_median(&h);
    cr_assert(median < MPT_PROMPT_MEDIAN_S,
              "median hand-off %.4f s: task_done did not wake the "
              "sleeping join",
              median);
    mp_queue_free(q);
}
