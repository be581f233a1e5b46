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

MPT_TEST(joinable_queue, JQ_NEW_NULL_OUT, "JQ-NEW-NULL-OUT: mp_joinable_queue_new(NULL, n) is MP_EINVAL")
{
    MP_ASSERT_STATUS(mp_joinable_queue_new(NULL, 0), MP_EINVAL);
}

MPT_TEST(joinable_queue, JQ_TASK_DONE_TOO_MANY, "JQ-TASK-DONE-TOO-MANY: task_done more times than items put is MP_ESTATE")
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

MPT_TEST(joinable_queue, JQ_JOIN_NOTHING_PUT, "JQ-JOIN-NOTHING-PUT: join on a queue with nothing unfinished returns MP_OK at once")
{
    mp_queue *q = NULL;
    MP_ASSERT_OK(mp_joinable_queue_new(&q, 0));
    MPT_ASSERT_PROMPT(mp_queue_join(q, MP_FOREVER), MP_OK);
    MPT_ASSERT_PROMPT(mp_queue_join(q, 0), MP_OK);
    mp_queue_free(q);
}

MPT_TEST(joinable_queue, JQ_JOIN_TIMEOUT, "JQ-JOIN-TIMEOUT: join with unfinished items waits for its timeout, then MP_TIMEOUT")
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

MPT_TEST(joinable_queue, JQ_JOIN_NOWAIT, "JQ-JOIN-NOWAIT: join with timeout 0 or negative and unfinished items is MP_TIMEOUT at once")
{
    mp_queue *q = NULL;
    MP_ASSERT_OK(mp_joinable_queue_new(&q, 0));
    put_u32(q, 1);
    MPT_ASSERT_PROMPT(mp_queue_join(q, 0), MP_TIMEOUT);
    MPT_ASSERT_PROMPT(mp_queue_join(q, -1), MP_TIMEOUT);
    MP_ASSERT_STATUS(mp_queue_join(q, NAN), MP_EINVAL);
    mp_queue_free(q);
}

MPT_TEST(joinable_queue, JQ_TASK_DONE_COUNTS_PUTS, "JQ-TASK-DONE-COUNTS-PUTS: task_done counts against puts, not gets: it may come before the get")
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

MPT_TEST(joinable_queue, JQ_MAXSIZE, "JQ-MAXSIZE: JoinableQueue(2) takes two items; the third put is MP_FULL")
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

MPT_TEST(joinable_queue, JQ_JOIN_WAITS, "JQ-JOIN-WAITS: join returns only after every item put has been task_done()d by another process")
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

MPT_TEST(joinable_queue, JQ_WORKERS, "JQ-WORKERS: with several worker processes calling task_done, join returns once all items are done")
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
