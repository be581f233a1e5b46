/* SimpleQueue: an unbounded queue with put, get, empty and close; the same
 * transport as Queue.  Children report through exit codes; processes are
 * sequenced with pipes, never with sleeps. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mpt.h"

typedef struct sq_arg {
    mp_queue *q;
    int go_r, go_w;
} sq_arg;

MPT_TEST(simple_queue, SQ_NEW_NULL_OUT, "SQ-NEW-NULL-OUT: mp_simple_queue_new(NULL) is MP_EINVAL")
{
    MP_ASSERT_STATUS(mp_simple_queue_new(NULL), MP_EINVAL);
}

MPT_TEST(simple_queue, SQ_PUT_GET, "SQ-PUT-GET: values and bytes put come out equal and in order")
{
    mp_queue *q = NULL;
    MP_ASSERT_OK(mp_simple_queue_new(&q));
    mp_value *v = mp_list_of(3, mp_int(42), mp_none(), mp_str("hello"));
    cr_assert(v != NULL);
    MP_ASSERT_OK(mp_queue_put(q, v, MP_FOREVER));
    MP_ASSERT_OK(mp_queue_put_bytes(q, "raw", 3, MP_FOREVER));
    mp_value *out = NULL;
    MP_ASSERT_OK(mp_queue_get(q, &out, MP_FOREVER));
    cr_assert(mp_value_equal(v, out));
    mpt_get_str(q, "raw", MP_FOREVER);
    mp_value_free(v);
    mp_value_free(out);
    mp_queue_free(q);
}

MPT_TEST(simple_queue, SQ_EMPTY,
         "SQ-EMPTY: empty is true on a new queue, false after a put, true after the get")
{
    mp_queue *q = NULL;
    MP_ASSERT_OK(mp_simple_queue_new(&q));
    bool e = false;
    MP_ASSERT_OK(mp_queue_empty(q, &e));
    cr_assert(e);
    MP_ASSERT_OK(mp_queue_put_bytes(q, "x", 1, MP_FOREVER));
    MP_ASSERT_OK(mp_queue_empty(q, &e));
    cr_assert(!e);
    mpt_get_str(q, "x", MP_NOWAIT);
    MP_ASSERT_OK(mp_queue_empty(q, &e));
    cr_assert(e);
    mp_queue_free(q);
}

MPT_TEST(
    simple_queue, SQ_UNBOUNDED,
    "SQ-UNBOUNDED: a SimpleQueue has no maxsize: thousands of puts without a get succeed at once")
{
    mp_queue *q = NULL;
    MP_ASSERT_OK(mp_simple_queue_new(&q));
    for (uint32_t i = 0; i < 10000; i++)
        MP_ASSERT_OK(mp_queue_put_bytes(q, &i, sizeof i, MP_NOWAIT));
    size_t n = 0;
    MP_ASSERT_OK(mp_queue_qsize(q, &n));
    cr_assert_eq(n, 10000);
    for (uint32_t i = 0; i < 10000; i++) {
        void *b = NULL;
        size_t len = 0;
        MP_ASSERT_OK(mp_queue_get_bytes(q, &b, &len, MP_NOWAIT));
        cr_assert(len == 4 && *(uint32_t *)b == i);
        free(b);
    }
    mp_queue_free(q);
}

static int child_puts(void *a)
{
    sq_arg *s = a;
    char c;
    if (s->go_r >= 0 && read(s->go_r, &c, 1) != 1)
        return 2;
    for (uint32_t i = 0; i < 100; i++)
        if (mp_queue_put_bytes(s->q, &i, sizeof i, MP_FOREVER))
            return 1;
    return 0;
}

MPT_TEST(simple_queue, SQ_CROSS_PROCESS,
         "SQ-CROSS-PROCESS: a child's messages reach the parent in order")
{
    mp_queue *q = NULL;
    MP_ASSERT_OK(mp_simple_queue_new(&q));
    sq_arg s = {q, -1, -1};
    mp_process *p = mpt_start(child_puts, &s);
    for (uint32_t i = 0; i < 100; i++) {
        void *b = NULL;
        size_t len = 0;
        MP_ASSERT_OK(mp_queue_get_bytes(q, &b, &len, 10.0));
        cr_assert(len == 4 && *(uint32_t *)b == i);
        free(b);
    }
    cr_assert_eq(mpt_join(p), 0);
    mp_queue_free(q);
}

MPT_TEST(simple_queue, SQ_GET_BLOCKS,
         "SQ-GET-BLOCKS: get waits for a message put later by another process")
{
    mp_queue *q = NULL;
    MP_ASSERT_OK(mp_simple_queue_new(&q));
    int fd[2];
    cr_assert(pipe2(fd, O_CLOEXEC) == 0);
    sq_arg s = {q, fd[0], fd[1]};
    mp_process *p = mpt_start(child_puts, &s);
    char c = 1;
    cr_assert(write(fd[1], &c, 1) == 1);
    void *b = NULL;
    size_t len = 0;
    MP_ASSERT_OK(mp_queue_get_bytes(q, &b, &len, MP_FOREVER));
    cr_assert(len == 4 && *(uint32_t *)b == 0);
    free(b);
    cr_assert_eq(mpt_join(p), 0);
    close(fd[0]);
    close(fd[1]);
    mp_queue_free(q);
}

MPT_TEST(simple_queue, SQ_GET_TIMEOUT_EMPTY,
         "SQ-GET-TIMEOUT-EMPTY: get with a timeout on an empty SimpleQueue waits that long, then "
         "MP_EMPTY")
{
    mp_queue *q = NULL;
    MP_ASSERT_OK(mp_simple_queue_new(&q));
    void *b = NULL;
    size_t len = 0;
    MPT_ASSERT_TIMED(mp_queue_get_bytes(q, &b, &len, 0.2), MP_EMPTY, 0.2);
    MPT_ASSERT_PROMPT(mp_queue_get_bytes(q, &b, &len, MP_NOWAIT), MP_EMPTY);
    mp_queue_free(q);
}

MPT_TEST(simple_queue, SQ_CLOSE,
         "SQ-CLOSE: after close put is MP_CLOSED and queued messages can still be got")
{
    mp_queue *q = NULL;
    MP_ASSERT_OK(mp_simple_queue_new(&q));
    MP_ASSERT_OK(mp_queue_put_bytes(q, "a", 1, MP_FOREVER));
    MP_ASSERT_OK(mp_queue_close(q));
    MP_ASSERT_OK(mp_queue_close(q));
    MP_ASSERT_STATUS(mp_queue_put_bytes(q, "b", 1, MP_FOREVER), MP_CLOSED);
    mpt_get_str(q, "a", MP_NOWAIT);
    void *b = NULL;
    size_t len = 0;
    MPT_ASSERT_PROMPT(mp_queue_get_bytes(q, &b, &len, MP_NOWAIT), MP_EMPTY);
    mp_queue_free(q);
}

MPT_TEST(simple_queue, SQ_TASK_DONE_EINVAL,
         "SQ-TASK-DONE-EINVAL: task_done and join on a SimpleQueue are MP_EINVAL")
{
    mp_queue *q = NULL;
    MP_ASSERT_OK(mp_simple_queue_new(&q));
    MP_ASSERT_OK(mp_queue_put_bytes(q, "a", 1, MP_FOREVER));
    MP_ASSERT_STATUS(mp_queue_task_done(q), MP_EINVAL);
    MP_ASSERT_STATUS(mp_queue_join(q, MP_FOREVER), MP_EINVAL);
    mp_queue_free(q);
}
