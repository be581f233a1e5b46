/* Queue: put/get with every timeout path, maxsize, close, message sizes from
 * 0 bytes to 64 MiB, many producers and consumers, and peers killed in the
 * middle of a put or a get.  Children report through exit codes, pipes or a
 * shared mapping (never cr_assert in a child); processes are sequenced with
 * pipes and by watching a child's scheduler state, never with sleeps. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "mpt.h"

/* ---------------------------------------------------------------- helpers */

#define MIB ((size_t)1 << 20)

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* A buffer whose every byte depends on seed and position. */
static void fill(void *buf, size_t n, uint64_t seed)
{
    uint8_t *p = buf;
    for (size_t i = 0; i < n; i += 8) {
        uint64_t v = mix(seed * 0x100000001b3ull ^ i);
        memcpy(p + i, &v, n - i < 8 ? n - i : 8);
    }
}

static bool intact(const void *buf, size_t n, uint64_t seed)
{
    const uint8_t *p = buf;
    for (size_t i = 0; i < n; i += 8) {
        uint64_t v = mix(seed * 0x100000001b3ull ^ i);
        if (memcmp(p + i, &v, n - i < 8 ? n - i : 8) != 0)
            return false;
    }
    return true;
}

/* put / get of a seeded message of n bytes */
static mp_status put_seeded(mp_queue *q, size_t n, uint64_t seed, double timeout)
{
    void *b = malloc(n ? n : 1);
    if (!b)
        return MP_ENOMEM;
    fill(b, n, seed);
    mp_status st = mp_queue_put_bytes(q, b, n, timeout);
    free(b);
    return st;
}

static void get_seeded(mp_queue *q, size_t n, uint64_t seed, double timeout)
{
    void *b = NULL;
    size_t len = 0;
    MP_ASSERT_OK(mp_queue_get_bytes(q, &b, &len, timeout));
    cr_assert_eq(len, n, "got %zu bytes, want %zu", len, n);
    cr_assert(intact(b, len, seed), "message of %zu bytes (seed %llu) damaged", n,
              (unsigned long long)seed);
    free(b);
}

static void put_str(mp_queue *q, const char *s)
{
    MP_ASSERT_OK(mp_queue_put_bytes(q, s, strlen(s), MP_NOWAIT));
}

static size_t qsize(mp_queue *q)
{
    size_t n = 99;
    MP_ASSERT_OK(mp_queue_qsize(q, &n));
    return n;
}

static void signal_byte(int fd)
{
    char c = 1;
    while (write(fd, &c, 1) < 0 && errno == EINTR) {
    }
}

static void await_byte(int fd)
{
    char c;
    ssize_t r;
    while ((r = read(fd, &c, 1)) < 0 && errno == EINTR) {
    }
    cr_assert(r == 1, "handshake pipe: %zd", r);
}

/* Child-side version: returns false instead of asserting. */
static bool child_await_byte(int fd)
{
    char c;
    ssize_t r;
    while ((r = read(fd, &c, 1)) < 0 && errno == EINTR) {
    }
    return r == 1;
}

/* After a child has said (through a pipe) that its next step is a blocking
 * queue call, watch it until it is asleep in that call. */
static void wait_asleep(mp_process *p)
{
    pid_t pid = 0;
    MP_ASSERT_OK(mp_process_pid(p, &pid));
    mpt_wait_asleep(pid);
}

static void *shared_mem(size_t n)
{
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert(p != MAP_FAILED, "mmap: %s", strerror(errno));
    return p;
}

/* ------------------------------------------------------------- arguments */

MPT_TEST(queue, Q_NEW_NULL_OUT, "Q-NEW-NULL-OUT: constructors with a NULL out are MP_EINVAL")
{
    MP_ASSERT_STATUS(mp_queue_new(NULL, 0), MP_EINVAL);
    MP_ASSERT_STATUS(mp_queue_new(NULL, 5), MP_EINVAL);
    mp_queue_free(NULL); /* a no-op */
}

MPT_TEST(queue, Q_NULL_HANDLE, "Q-NULL-HANDLE: every call on a NULL queue is MP_EINVAL")
{
    void *b = NULL;
    size_t n = 0;
    bool f = false;
    mp_value *v = mp_int(1);
    mp_value *out = NULL;
    MP_ASSERT_STATUS(mp_queue_put(NULL, v, 0), MP_EINVAL);
    MP_ASSERT_STATUS(mp_queue_get(NULL, &out, 0), MP_EINVAL);
    MP_ASSERT_STATUS(mp_queue_put_bytes(NULL, "x", 1, 0), MP_EINVAL);
    MP_ASSERT_STATUS(mp_queue_get_bytes(NULL, &b, &n, 0), MP_EINVAL);
    MP_ASSERT_STATUS(mp_queue_qsize(NULL, &n), MP_EINVAL);
    MP_ASSERT_STATUS(mp_queue_empty(NULL, &f), MP_EINVAL);
    MP_ASSERT_STATUS(mp_queue_full(NULL, &f), MP_EINVAL);
    MP_ASSERT_STATUS(mp_queue_close(NULL), MP_EINVAL);
    MP_ASSERT_STATUS(mp_queue_join_thread(NULL), MP_EINVAL);
    MP_ASSERT_STATUS(mp_queue_cancel_join_thread(NULL), MP_EINVAL);
    MP_ASSERT_STATUS(mp_queue_task_done(NULL), MP_EINVAL);
    MP_ASSERT_STATUS(mp_queue_join(NULL, 0), MP_EINVAL);
    mp_value_free(v);
}

MPT_TEST(queue, Q_NULL_ARGS, "Q-NULL-ARGS: NULL value, buffer or output pointers are MP_EINVAL")
{
    mp_queue *q = NULL;
    MP_ASSERT_OK(mp_queue_new(&q, 0));
    void *b = NULL;
    size_t n = 0;
    MP_ASSERT_STATUS(mp_queue_put(q, NULL, 0), MP_EINVAL);
    MP_ASSERT_STATUS(mp_queue_put_bytes(q, NULL, 3, 0), MP_EINVAL);
    put_str(q, "kept");
    MP_ASSERT_STATUS(mp_queue_get(q, NULL, 0), MP_EINVAL);
    MP_ASSERT_STATUS(mp_queue_get_bytes(q, NULL, &n, 0), MP_EINVAL);
    MP_ASSERT_STATUS(mp_queue_get_bytes(q, &b, NULL, 0), MP_EINVAL);
    MP_ASSERT_STATUS(mp_queue_qsize(q, NULL), MP_EINVAL);
    MP_ASSERT_STATUS(mp_queue_empty(q, NULL), MP_EINVAL);
    MP_ASSERT_STATUS(mp_queue_full(q, NULL), MP_EINVAL);
    cr_assert_eq(qsize(q), 1, "a rejected call consumed the message");
    mpt_get_str(q, "kept", 0);
    mp_queue_free(q);
}

MPT_TEST(queue, Q_NAN_TIMEOUT, "Q-NAN-TIMEOUT: a NaN timeout is MP_EINVAL for put and get")
{
    mp_queue *q = NULL;
    MP_ASSERT_OK(mp_queue_new(&q, 0));
    MP_ASSERT_STATUS(mp_queue_put_bytes(q, "x", 1, NAN), MP_EINVAL);
    cr_assert_eq(qsize(q), 0);
    put_str(q, "x");
    void *b = NULL;
    size_t n = 0;
    MP_ASSERT_STATUS(mp_queue_get_bytes(q, &b, &n, NAN), MP_EINVAL);
    cr_assert_eq(qsize(q), 1);
    mp_queue_free(q);
}

/* ----------------------------------------------------------- put and get */

MPT_TEST(queue, Q_PUT_GET_BYTES,
         "Q-PUT-GET-BYTES: get_bytes returns the bytes put, in a malloc()ed buffer")
{
    mp_queue *q = NULL;
    MP_ASSERT_OK(mp_queue_new(&q, 0));
    MP_ASSERT_OK(put_seeded(q, 1000, 7, MP_FOREVER));
    get_seeded(q, 1000, 7, MP_FOREVER);
    mp_queue_free(q);
}

MPT_TEST(queue, Q_PUT_GET_VALUE, "Q-PUT-GET-VALUE: get returns a value equal to the one put")
{
    mp_queue *q = NULL;
    MP_ASSERT_OK(mp_queue_new(&q, 0));
    mp_value *d = mp_dict();
    cr_assert(d != NULL);
    MP_ASSERT_OK(mp_dict_set(d, mp_str("k"), mp_list_of(2, mp_float(1.5), mp_bytes("\0z", 2))));
    MP_ASSERT_OK(mp_dict_set(d, mp_int(-3), mp_tuple_of(2, mp_bool(true), mp_none())));
    mp_value *v = mp_list_of(4, mp_int(42), mp_none(), mp_str("hello"), d);
    cr_assert(v != NULL);
    MP_ASSERT_OK(mp_queue_put(q, v, MP_FOREVER));
    mp_value *out = NULL;
    MP_ASSERT_OK(mp_queue_get(q, &out, MP_FOREVER));
    cr_assert(mp_value_equal(v, out), "the value changed on its way");
    mp_value_free(v);
    mp_value_free(out);
    mp_queue_free(q);
}

MPT_TEST(queue, Q_FIFO, "Q-FIFO: messages come out in the order they were put")
{
    mp_queue *q = NULL;
    MP_ASSERT_OK(mp_queue_new(&q, 0));
    for (uint32_t i = 0; i < 1000; i++)
        MP_ASSERT_OK(mp_queue_put_bytes(q, &i, sizeof i, MP_NOWAIT));
    for (uint32_t i = 0; i < 1000; i++) {
        void *b = NULL;
        size_t n = 0;
        MP_ASSERT_OK(mp_queue_get_bytes(q, &b, &n, MP_NOWAIT));
        cr_assert(n == 4 && *(uint32_t *)b == i, "message %u out of order", i);
        free(b);
    }
    mp_queue_free(q);
}

typedef struct prod_arg {
    mp_queue *q;
    uint32_t id, count;
} prod_arg;

static int producer_seq(void *a)
{
    prod_arg *p = a;
    for (uint32_t i = 0; i < p->count; i++) {
        uint32_t m[2] = {p->id, i};
        if (mp_queue_put_bytes(p->q, m, sizeof m, 10.0))
            return 1;
    }
    return 0;
}

MPT_TEST(
    queue, Q_FIFO_PER_PRODUCER,
    "Q-FIFO-PER-PRODUCER: with two producer processes, each one's messages arrive in its order")
{
    mp_queue *q = NULL;
    MP_ASSERT_OK(mp_queue_new(&q, 0));
    prod_arg a[2] = {{q, 0, 500}, {q, 1, 500}};
    mp_process *p0 = mpt_start(producer_seq, &a[0]);
    mp_process *p1 = mpt_start(producer_seq, &a[1]);
    uint32_t next[2] = {0, 0};
    for (int i = 0; i < 1000; i++) {
        void *b = NULL;
        size_t n = 0;
        MP_ASSERT_OK(mp_queue_get_bytes(q, &b, &n, 10.0));
        uint32_t m[2];
        cr_assert_eq(n, sizeof m);
        memcpy(m, b, sizeof m);
        free(b);
        cr_assert(m[0] < 2 && m[1] == next[m[0]], "producer %u: got %u, want %u", m[0], m[1],
                  next[m[0] & 1]);
        next[m[0]]++;
    }
    cr_assert_eq(mpt_join(p0), 0);
    cr_assert_eq(mpt_join(p1), 0);
    mp_queue_free(q);
}

static void *thread_producer(void *a)
{
    producer_seq(a);
    return NULL;
}

MPT_TEST(queue, Q_THREADS, "Q-THREADS: threads of one process may share a queue handle")
{
    mp_queue *q = NULL;
    MP_ASSERT_OK(mp_queue_new(&q, 8));
    prod_arg a[2] = {{q, 0, 2000}, {q, 1, 2000}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        cr_assert(pthread_create(&t[i], NULL, thread_producer, &a[i]) == 0);
    uint32_t next[2] = {0, 0};
    for (int i = 0; i < 4000; i++) {
        void *b = NULL;
        size_t n = 0;
        MP_ASSERT_OK(mp_queue_get_bytes(q, &b, &n, 10.0));
        uint32_t m[2];
        memcpy(m, b, sizeof m);
        free(b);
        cr_assert(m[0] < 2 && m[1] == next[m[0]], "thread %u: out of order", m[0]);
        next[m[0]]++;
    }
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    mp_queue_free(q);
}

/* -------------------------------------------------------------- put: full */

static mp_queue *full_queue(long maxsize)
{
    mp_queue *q = NULL;
    MP_ASSERT_OK(mp_queue_new(&q, maxsize));
    for (long i = 0; i < maxsize; i++)
        put_str(q, "f");
    return q;
}

MPT_TEST(queue, Q_PUT_NOWAIT_FULL,
         "Q-PUT-NOWAIT-FULL: put without blocking on a full queue is MP_FULL at once")
{
    mp_queue *q = full_queue(2);
    mp_value *v = mp_int(7);
    MPT_ASSERT_PROMPT(mp_queue_put_bytes(q, "x", 1, MP_NOWAIT), MP_FULL);
    MPT_ASSERT_PROMPT(mp_queue_put_nowait(q, v), MP_FULL);
    cr_assert_eq(qsize(q), 2);
    mp_value_free(v);
    mp_queue_free(q);
}

MPT_TEST(queue, Q_PUT_TIMEOUT_FULL,
         "Q-PUT-TIMEOUT-FULL: put with a timeout on a full queue waits that long, then MP_FULL")
{
    mp_queue *q = full_queue(1);
    MPT_ASSERT_TIMED(mp_queue_put_bytes(q, "x", 1, 0.3), MP_FULL, 0.3);
    cr_assert_eq(qsize(q), 1);
    mp_queue_free(q);
}

MPT_TEST(
    queue, Q_PUT_NEGATIVE_TIMEOUT,
    "Q-PUT-NEGATIVE-TIMEOUT: put with timeout 0 or negative on a full queue is MP_FULL at once")
{
    mp_queue *q = full_queue(1);
    MPT_ASSERT_PROMPT(mp_queue_put_bytes(q, "x", 1, 0.0), MP_FULL);
    MPT_ASSERT_PROMPT(mp_queue_put_bytes(q, "x", 1, -1.0), MP_FULL);
    MPT_ASSERT_PROMPT(mp_queue_put_bytes(q, "x", 1, -INFINITY), MP_FULL);
    mp_queue_free(q);
}

typedef struct hs_arg {
    mp_queue *q;
    mpt_pipefd go;
} hs_arg;

static int get_after_go(void *a)
{
    hs_arg *h = a;
    if (!child_await_byte(h->go.r))
        return 2;
    void *b = NULL;
    size_t n = 0;
    if (mp_queue_get_bytes(h->q, &b, &n, 10.0))
        return 1;
    int ok = n == 1 && *(char *)b == 'f';
    free(b);
    return ok ? 0 : 3;
}

MPT_TEST(queue, Q_PUT_BLOCKS_UNTIL_ROOM,
         "Q-PUT-BLOCKS-UNTIL-ROOM: a blocking put on a full queue returns once another process "
         "makes room")
{
    mp_queue *q = full_queue(1);
    hs_arg h = {q, mpt_pipe()};
    mp_process *p = mpt_start(get_after_go, &h);
    signal_byte(h.go.w);
    MP_ASSERT_OK(mp_queue_put_bytes(q, "y", 1, MP_FOREVER));
    cr_assert_eq(mpt_join(p), 0, "the child did not get the first message");
    mpt_get_str(q, "y", MP_NOWAIT);
    mpt_closepipe(&h.go);
    mp_queue_free(q);
}

MPT_TEST(queue, Q_PUT_TIMEOUT_ROOM,
         "Q-PUT-TIMEOUT-ROOM: a put with a timeout succeeds when room appears before the deadline")
{
    mp_queue *q = full_queue(1);
    hs_arg h = {q, mpt_pipe()};
    mp_process *p = mpt_start(get_after_go, &h);
    signal_byte(h.go.w);
    MP_ASSERT_OK(mp_queue_put_bytes(q, "y", 1, 30.0));
    cr_assert_eq(mpt_join(p), 0);
    mpt_get_str(q, "y", MP_NOWAIT);
    mpt_closepipe(&h.go);
    mp_queue_free(q);
}

/* Q-BYTES-FULL-ONE-GET: messages of KB_MSG bytes, the first 8 their index,
 * the rest a pattern of it; up to KB_MAX of them (64 MiB) are put looking
 * for a bound by bytes. */
#define KB_MSG 1024
#define KB_MAX 65536

static void kb_fill(uint8_t *m, uint64_t i)
{
    memcpy(m, &i, 8);
    for (size_t k = 8; k < KB_MSG; k++)
        m[k] = (uint8_t)(i * 31 + k);
}

/* Get one message with timeout t: is it message i, intact? */
static bool kb_get(mp_queue *q, uint64_t i, double t)
{
    uint8_t want[KB_MSG];
    kb_fill(want, i);
    void *b = NULL;
    size_t n = 0;
    if (mp_queue_get_bytes(q, &b, &n, t) != MP_OK)
        return false;
    bool ok = n == KB_MSG && memcmp(b, want, KB_MSG) == 0;
    free(b);
    return ok;
}

static int kb_get_first_after_go(void *a)
{
    hs_arg *h = a;
    if (!child_await_byte(h->go.r))
        return 2;
    return kb_get(h->q, 0, 10.0) ? 0 : 1;
}

MPT_TEST(queue, Q_BYTES_FULL_ONE_GET,
         "Q-BYTES-FULL-ONE-GET: an unbounded queue full by bytes: one get lets a waiting put go")
{
    mp_queue *q = NULL;
    MP_ASSERT_OK(mp_queue_new(&q, 0));
    uint8_t m[KB_MSG];
    uint64_t n = 0;
    mp_status st = MP_OK;
    for (; n < KB_MAX; n++) {
        kb_fill(m, n);
        if ((st = mp_queue_put_bytes(q, m, KB_MSG, MP_NOWAIT)) != MP_OK)
            break;
    }
    if (n < KB_MAX) { /* a bound by bytes: the put waits for one get */
        cr_assert_eq(st, MP_FULL, "put without blocking: %s, not MP_OK or MP_FULL",
                     mp_status_name(st));
        cr_assert(n > 0, "an empty unbounded queue took no message of %d bytes", KB_MSG);
        hs_arg h = {q, mpt_pipe()};
        mp_process *p = mpt_start(kb_get_first_after_go, &h);
        signal_byte(h.go.w);
        kb_fill(m, n);
        MP_ASSERT_OK(mp_queue_put_bytes(q, m, KB_MSG, 5.0));
        cr_assert_eq(mpt_join(p), 0, "the child did not get message 0 intact");
        mpt_closepipe(&h.go);
        n++;
    } else { /* none within 64 MiB: every put went in; message 0 is got here */
        cr_assert(kb_get(q, 0, MP_NOWAIT), "message 0 of %d", KB_MAX);
    }
    for (uint64_t i = 1; i < n; i++)
        cr_assert(kb_get(q, i, MP_NOWAIT), "message %llu of %llu is missing or damaged",
                  (unsigned long long)i, (unsigned long long)n);
    cr_assert_eq(qsize(q), 0);
    mp_queue_free(q);
}

/* ------------------------------------------------------------- get: empty */

MPT_TEST(queue, Q_GET_NOWAIT_EMPTY,
         "Q-GET-NOWAIT-EMPTY: get without blocking on an empty queue is MP_EMPTY at once")
{
    mp_queue *q = NULL;
    MP_ASSERT_OK(mp_queue_new(&q, 0));
    void *b = NULL;
    size_t n = 0;
    mp_value *v = NULL;
    MPT_ASSERT_PROMPT(mp_queue_get_bytes(q, &b, &n, MP_NOWAIT), MP_EMPTY);
    MPT_ASSERT_PROMPT(mp_queue_get_nowait(q, &v), MP_EMPTY);
    cr_assert(b == NULL && v == NULL, "outputs written on failure");
    mp_queue_free(q);
}

MPT_TEST(queue, Q_GET_NOWAIT_AVAILABLE,
         "Q-GET-NOWAIT-AVAILABLE: get without blocking returns an available item at once")
{
    mp_queue *q = NULL;
    MP_ASSERT_OK(mp_queue_new(&q, 0));
    put_str(q, "here");
    double t0 = mpt_now();
    mpt_get_str(q, "here", MP_NOWAIT);
    cr_assert(mpt_now() - t0 < mpt_slack(1.0));
    mp_queue_free(q);
}

MPT_TEST(queue, Q_GET_TIMEOUT_EMPTY,
         "Q-GET-TIMEOUT-EMPTY: get with a timeout on an empty queue waits that long, then MP_EMPTY")
{
    mp_queue *q = NULL;
    MP_ASSERT_OK(mp_queue_new(&q, 0));
    void *b = NULL;
    size_t n = 0;
    MPT_ASSERT_TIMED(mp_queue_get_bytes(q, &b, &n, 0.3), MP_EMPTY, 0.3);
    mp_value *v = NULL;
    MPT_ASSERT_TIMED(mp_queue_get(q, &v, 0.2), MP_EMPTY, 0.2);
    mp_queue_free(q);
}

MPT_TEST(
    queue, Q_GET_NEGATIVE_TIMEOUT,
    "Q-GET-NEGATIVE-TIMEOUT: get with timeout 0 or negative on an empty queue is MP_EMPTY at once")
{
    mp_queue *q = NULL;
    MP_ASSERT_OK(mp_queue_new(&q, 0));
    void *b = NULL;
    size_t n = 0;
    MPT_ASSERT_PROMPT(mp_queue_get_bytes(q, &b, &n, 0.0), MP_EMPTY);
    MPT_ASSERT_PROMPT(mp_queue_get_bytes(q, &b, &n, -1.0), MP_EMPTY);
    MPT_ASSERT_PROMPT(mp_queue_get_bytes(q, &b, &n, -INFINITY), MP_EMPTY);
    mp_queue_free(q);
}

static int put_after_go(void *a)
{
    hs_arg *h = a;
    if (!child_await_byte(h->go.r))
        return 2;
    return mp_queue_put_bytes(h->q, "late", 4, MP_FOREVER) ? 1 : 0;
}

MPT_TEST(queue, Q_GET_BLOCKS_UNTIL_PUT,
         "Q-GET-BLOCKS-UNTIL-PUT: a blocking get returns the item another process puts later")
{
    mp_queue *q = NULL;
    MP_ASSERT_OK(mp_queue_new(&q, 0));
    hs_arg h = {q, mpt_pipe()};
    mp_process *p = mpt_start(put_after_go, &h);
    signal_byte(h.go.w);
    mpt_get_str(q, "late", MP_FOREVER);
    cr_assert_eq(mpt_join(p), 0);
    mpt_closepipe(&h.go);
    mp_queue_free(q);
}

MPT_TEST(queue, Q_GET_TIMEOUT_RECEIVES,
         "Q-GET-TIMEOUT-RECEIVES: a get with a timeout returns an item put before the deadline")
{
    mp_queue *q = NULL;
    MP_ASSERT_OK(mp_queue_new(&q, 0));
    hs_arg h = {q, mpt_pipe()};
    mp_process *p = mpt_start(put_after_go, &h);
    signal_byte(h.go.w);
    mpt_get_str(q, "late", 30.0);
    cr_assert_eq(mpt_join(p), 0);
    mpt_closepipe(&h.go);
    mp_queue_free(q);
}

/* ------------------------------------------------------- size and state */

MPT_TEST(queue, Q_MAXSIZE_EXACT,
         "Q-MAXSIZE-EXACT: Queue(3) takes exactly 3 items; the 4th put is MP_FULL until a get")
{
    mp_queue *q = NULL;
    MP_ASSERT_OK(mp_queue_new(&q, 3));
    for (int i = 0; i < 3; i++)
        MP_ASSERT_OK(mp_queue_put_bytes(q, "abc", 3, MP_NOWAIT));
    MPT_ASSERT_PROMPT(mp_queue_put_bytes(q, "abc", 3, MP_NOWAIT), MP_FULL);
    MPT_ASSERT_PROMPT(mp_queue_put_bytes(q, "", 0, MP_NOWAIT), MP_FULL);
    mpt_get_str(q, "abc", MP_NOWAIT);
    MP_ASSERT_OK(mp_queue_put_bytes(q, "abc", 3, MP_NOWAIT));
    MPT_ASSERT_PROMPT(mp_queue_put_bytes(q, "abc", 3, MP_NOWAIT), MP_FULL);
    cr_assert_eq(qsize(q), 3);
    mp_queue_free(q);
}

MPT_TEST(queue, Q_MAXSIZE_UNBOUNDED,
         "Q-MAXSIZE-UNBOUNDED: maxsize 0 or negative is unbounded: many puts, none MP_FULL")
{
    long sizes[] = {0, -1, -100};
    for (int k = 0; k < 3; k++) {
        mp_queue *q = NULL;
        MP_ASSERT_OK(mp_queue_new(&q, sizes[k]));
        for (int i = 0; i < 5000; i++)
            MP_ASSERT_OK(mp_queue_put_bytes(q, "0123456789", 10, MP_NOWAIT));
        cr_assert_eq(qsize(q), 5000);
        bool full = true;
        MP_ASSERT_OK(mp_queue_full(q, &full));
        cr_assert(!full);
        mp_queue_free(q);
    }
}

MPT_TEST(queue, Q_QSIZE_EMPTY_FULL,
         "Q-QSIZE-EMPTY-FULL: qsize counts items; empty and full follow puts and gets")
{
    mp_queue *q = NULL;
    MP_ASSERT_OK(mp_queue_new(&q, 2));
    bool e = false, f = true;
    MP_ASSERT_OK(mp_queue_empty(q, &e));
    MP_ASSERT_OK(mp_queue_full(q, &f));
    cr_assert(e && !f && qsize(q) == 0);
    put_str(q, "1");
    MP_ASSERT_OK(mp_queue_empty(q, &e));
    MP_ASSERT_OK(mp_queue_full(q, &f));
    cr_assert(!e && !f && qsize(q) == 1);
    put_str(q, "22");
    MP_ASSERT_OK(mp_queue_full(q, &f));
    cr_assert(f && qsize(q) == 2);
    mpt_get_str(q, "1", 0);
    mpt_get_str(q, "22", 0);
    MP_ASSERT_OK(mp_queue_empty(q, &e));
    cr_assert(e && qsize(q) == 0);
    mp_queue_free(q);
}

/* ------------------------------------------------------------------ close */

MPT_TEST(queue, Q_CLOSE_THEN_PUT,
         "Q-CLOSE-THEN-PUT: after close every put is MP_CLOSED; close is idempotent")
{
    mp_queue *q = NULL;
    MP_ASSERT_OK(mp_queue_new(&q, 0));
    MP_ASSERT_OK(mp_queue_close(q));
    MP_ASSERT_OK(mp_queue_close(q));
    mp_value *v = mp_int(1);
    MP_ASSERT_STATUS(mp_queue_put_bytes(q, "x", 1, MP_NOWAIT), MP_CLOSED);
    MP_ASSERT_STATUS(mp_queue_put_bytes(q, "x", 1, MP_FOREVER), MP_CLOSED);
    MP_ASSERT_STATUS(mp_queue_put(q, v, 1.0), MP_CLOSED);
    cr_assert_eq(qsize(q), 0);
    mp_value_free(v);
    mp_queue_free(q);
}

MPT_TEST(queue, Q_CLOSE_GET_REMAINING,
         "Q-CLOSE-GET-REMAINING: items queued before close can still be got, then MP_EMPTY")
{
    mp_queue *q = NULL;
    MP_ASSERT_OK(mp_queue_new(&q, 0));
    put_str(q, "a");
    put_str(q, "b");
    MP_ASSERT_OK(mp_queue_close(q));
    mpt_get_str(q, "a", MP_NOWAIT);
    mpt_get_str(q, "b", 1.0);
    void *b = NULL;
    size_t n = 0;
    MPT_ASSERT_PROMPT(mp_queue_get_bytes(q, &b, &n, MP_NOWAIT), MP_EMPTY);
    mp_queue_free(q);
}

typedef struct putter {
    mp_queue *q;
    _Atomic pid_t tid;
    mp_status st;
} putter;

static void *blocked_putter(void *a)
{
    putter *p = a;
    atomic_store(&p->tid, gettid());
    p->st = mp_queue_put_bytes(p->q, "z", 1, MP_FOREVER);
    return NULL;
}

MPT_TEST(queue, Q_CLOSE_WAKES_PUTTER,
         "Q-CLOSE-WAKES-PUTTER: close wakes a put blocked on a full queue; it returns MP_CLOSED")
{
    mp_queue *q = full_queue(1);
    putter p = {q, 0, MP_OK};
    pthread_t t;
    cr_assert(pthread_create(&t, NULL, blocked_putter, &p) == 0);
    while (atomic_load(&p.tid) == 0)
        sched_yield();
    mpt_wait_asleep(atomic_load(&p.tid));
    double t0 = mpt_now();
    MP_ASSERT_OK(mp_queue_close(q));
    pthread_join(t, NULL);
    cr_assert(mpt_now() - t0 < mpt_slack(1.0), "the putter took %.3f s to wake", mpt_now() - t0);
    cr_assert_eq(p.st, MP_CLOSED, "putter got %s", mp_status_name(p.st));
    cr_assert_eq(qsize(q), 1);
    mp_queue_free(q);
}

static int put_after_go_status(void *a)
{
    hs_arg *h = a;
    if (!child_await_byte(h->go.r))
        return 2;
    return mp_queue_put_bytes(h->q, "child", 5, 5.0) == MP_OK ? 0 : 1;
}

MPT_TEST(queue, Q_CLOSE_PER_PROCESS,
         "Q-CLOSE-PER-PROCESS: close ends putting in the calling process only; another process can "
         "still put")
{
    mp_queue *q = NULL;
    MP_ASSERT_OK(mp_queue_new(&q, 0));
    hs_arg h = {q, mpt_pipe()};
    mp_process *p = mpt_start(put_after_go_status, &h);
    MP_ASSERT_OK(mp_queue_close(q));
    signal_byte(h.go.w);
    cr_assert_eq(mpt_join(p), 0, "the child's put failed after the parent's close");
    mpt_get_str(q, "child", 5.0);
    mpt_closepipe(&h.go);
    mp_queue_free(q);
}

MPT_TEST(queue, Q_JOIN_THREAD,
         "Q-JOIN-THREAD: join_thread is MP_ESTATE before close and MP_OK after")
{
    mp_queue *q = NULL;
    MP_ASSERT_OK(mp_queue_new(&q, 0));
    put_str(q, "x");
    MP_ASSERT_STATUS(mp_queue_join_thread(q), MP_ESTATE);
    MP_ASSERT_OK(mp_queue_close(q));
    MPT_ASSERT_PROMPT(mp_queue_join_thread(q), MP_OK);
    mpt_get_str(q, "x", 0);
    mp_queue_free(q);
}

MPT_TEST(
    queue, Q_CANCEL_JOIN_THREAD,
    "Q-CANCEL-JOIN-THREAD: cancel_join_thread is MP_OK before or after close and loses nothing")
{
    mp_queue *q = NULL;
    MP_ASSERT_OK(mp_queue_new(&q, 0));
    put_str(q, "x");
    MP_ASSERT_OK(mp_queue_cancel_join_thread(q));
    MP_ASSERT_OK(mp_queue_close(q));
    MP_ASSERT_OK(mp_queue_cancel_join_thread(q));
    mpt_get_str(q, "x", 0);
    mp_queue_free(q);
}

/* ---------------------------------------------------------- message sizes */

MPT_TEST(queue, Q_MSG_EMPTY,
         "Q-MSG-EMPTY: a 0-byte message is a message: counted, got with length 0")
{
    mp_queue *q = NULL;
    MP_ASSERT_OK(mp_queue_new(&q, 0));
    MP_ASSERT_OK(mp_queue_put_bytes(q, NULL, 0, MP_NOWAIT));
    MP_ASSERT_OK(mp_queue_put_bytes(q, "", 0, MP_NOWAIT));
    cr_assert_eq(qsize(q), 2);
    for (int i = 0; i < 2; i++) {
        void *b = NULL;
        size_t n = 99;
        MP_ASSERT_OK(mp_queue_get_bytes(q, &b, &n, MP_NOWAIT));
        cr_assert(b != NULL && n == 0);
        free(b);
    }
    cr_assert_eq(qsize(q), 0);
    mp_queue_free(q);
}

MPT_TEST(queue, Q_MSG_SIZES,
         "Q-MSG-SIZES: messages of every size class up to 12 MiB, and many MiB of traffic, arrive "
         "intact")
{
    mp_queue *q = NULL;
    MP_ASSERT_OK(mp_queue_new(&q, 0));
    static const size_t sizes[] = {
        1,    7,    8,     9,       63,          64,          65,          4095,
        4096, 4097, 65539, MIB + 5, 8 * MIB - 8, 8 * MIB - 7, 8 * MIB + 1, 12 * MIB + 3};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        MP_ASSERT_OK(put_seeded(q, sizes[i], i, 5.0));
        get_seeded(q, sizes[i], i, 5.0);
    }
    /* Keep three messages in flight while 60 MiB go through. */
    for (int i = 0; i < 3; i++)
        MP_ASSERT_OK(put_seeded(q, 3 * MIB + 11 * (size_t)i, 100 + i, 5.0));
    for (int i = 3; i < 20; i++) {
        get_seeded(q, 3 * MIB + 11 * (size_t)(i - 3), 100 + i - 3, 5.0);
        MP_ASSERT_OK(put_seeded(q, 3 * MIB + 11 * (size_t)i, 100 + i, 5.0));
    }
    for (int i = 17; i < 20; i++)
        get_seeded(q, 3 * MIB + 11 * (size_t)i, 100 + i, 5.0);
    cr_assert_eq(qsize(q), 0);
    mp_queue_free(q);
}

/* A bytes value of n bytes, seeded by n (fill). */
static mp_value *sized_value(size_t n)
{
    unsigned char *b = malloc(n ? n : 1);
    cr_assert(b != NULL);
    fill(b, n, n);
    mp_value *v = mp_bytes(b, n);
    free(b);
    cr_assert(v != NULL);
    return v;
}

static void get_sized(mp_queue *q, size_t n)
{
    mp_value *want = sized_value(n), *got = NULL;
    MP_ASSERT_OK(mp_queue_get(q, &got, 5.0));
    cr_assert(mp_value_equal(want, got), "the %zu-byte value changed on its way", n);
    mp_value_free(want);
    mp_value_free(got);
}

static void put_sized(mp_queue *q, size_t n)
{
    mp_value *v = sized_value(n);
    MP_ASSERT_OK(mp_queue_put(q, v, 5.0));
    mp_value_free(v);
}

MPT_TEST(queue, Q_VALUE_SIZES,
         "Q-VALUE-SIZES: values of every encoding size from 2 to 603 bytes, 4 KiB, 1 MiB and "
         "9 MiB arrive equal, one at a time and 601 in flight")
{
    mp_queue *q = NULL;
    MP_ASSERT_OK(mp_queue_new(&q, 0));
    static const size_t big[] = {4096, MIB, 9 * MIB};
    for (size_t n = 0; n <= 600; n++) {
        put_sized(q, n);
        get_sized(q, n);
    }
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
        put_sized(q, big[i]);
        get_sized(q, big[i]);
    }
    for (size_t n = 0; n <= 600; n++)
        put_sized(q, n);
    for (size_t n = 0; n <= 600; n++)
        get_sized(q, n);
    cr_assert_eq(qsize(q), 0);
    mp_queue_free(q);
}

typedef struct big_arg {
    mp_queue *q;
    size_t size;
    uint64_t seed;
} big_arg;

static int put_big(void *a)
{
    big_arg *b = a;
    return put_seeded(b->q, b->size, b->seed, 30.0) ? 1 : 0;
}

#define FULL_N 24

static int put_full_stream(void *a)
{
    big_arg *b = a;
    for (int i = 0; i < FULL_N; i++)
        if (put_seeded(b->q, b->size, b->seed + (uint64_t)i, 30.0))
            return 1;
    return 0;
}

/* The space a get frees must not be reused before the message is copied
 * out.  4 MiB - 8 bytes: with an 8-byte header, four such messages fill a
 * 16 MiB buffer exactly, so in a library built that way (ref) the waiting
 * put lands right on the message being got; any other layout just streams. */
MPT_TEST(queue, Q_FULL_STREAM_INTACT,
         "Q-FULL-STREAM-INTACT: a producer kept waiting for room; every message arrives intact, in "
         "order")
{
    mp_queue *q = NULL;
    MP_ASSERT_OK(mp_queue_new(&q, 0));
    big_arg a = {q, 4 * MIB - 8, 300};
    mp_process *p = mpt_start(put_full_stream, &a);
    for (int i = 0; i < FULL_N; i++)
        get_seeded(q, a.size, a.seed + (uint64_t)i, 30.0);
    cr_assert_eq(mpt_join(p), 0);
    cr_assert_eq(qsize(q), 0);
    mp_queue_free(q);
}

MPT_TEST(queue, Q_MSG_64MIB, "Q-MSG-64MIB: a 64 MiB message from another process arrives intact")
{
    mp_queue *q = NULL;
    MP_ASSERT_OK(mp_queue_new(&q, 0));
    big_arg a = {q, 64 * MIB, 64};
    mp_process *p = mpt_start(put_big, &a);
    get_seeded(q, 64 * MIB, 64, 30.0);
    cr_assert_eq(mpt_join(p), 0);
    mp_queue_free(q);
}

MPT_TEST(queue, Q_MSG_TOO_LARGE,
         "Q-MSG-TOO-LARGE: a message over MP_MSG_MAX is MP_EMSGSIZE at once, before anything is "
         "read or queued")
{
    mp_queue *q = NULL;
    MP_ASSERT_OK(mp_queue_new(&q, 0));
    char one = 'x'; /* a reader of the buffer would overrun it */
    MPT_ASSERT_PROMPT(mp_queue_put_bytes(q, &one, MP_MSG_MAX + 1, MP_FOREVER), MP_EMSGSIZE);
    MPT_ASSERT_PROMPT(mp_queue_put_bytes(q, &one, SIZE_MAX, MP_NOWAIT), MP_EMSGSIZE);
    cr_assert_eq(qsize(q), 0);
    put_str(q, "next");
    mpt_get_str(q, "next", 0);
    mp_queue_free(q);
}

static int put_ten_mib(void *a)
{
    mp_queue *q = a;
    for (int i = 0; i < 4; i++)
        if (put_seeded(q, MIB, 500 + i, 10.0))
            return 1;
    return put_seeded(q, 6 * MIB, 504, 10.0) ? 1 : 0;
}

MPT_TEST(queue, Q_JOIN_BEFORE_DRAIN,
         "Q-JOIN-BEFORE-DRAIN: a child that put 10 MiB and returned can be joined before the queue "
         "is drained")
{
    mp_queue *q = NULL;
    MP_ASSERT_OK(mp_queue_new(&q, 0));
    mp_process *p = mpt_start(put_ten_mib, q);
    MP_ASSERT_OK(mp_process_join(p, 20.0));
    int code = MP_EXITCODE_NONE;
    MP_ASSERT_OK(mp_process_exitcode(p, &code));
    cr_assert_eq(code, 0);
    mp_process_free(p);
    cr_assert_eq(qsize(q), 5);
    for (int i = 0; i < 4; i++)
        get_seeded(q, MIB, 500 + i, MP_NOWAIT);
    get_seeded(q, 6 * MIB, 504, MP_NOWAIT);
    mp_queue_free(q);
}

MPT_TEST(
    queue, Q_GET_MALFORMED,
    "Q-GET-MALFORMED: get of bytes that are no encoded value is MP_EPROTO and consumes the message")
{
    mp_queue *q = NULL;
    MP_ASSERT_OK(mp_queue_new(&q, 0));
    MP_ASSERT_OK(mp_queue_put_bytes(q, "\xc1", 1, MP_NOWAIT)); /* never valid msgpack */
    mp_value *v = NULL;
    MP_ASSERT_STATUS(mp_queue_get(q, &v, MP_NOWAIT), MP_EPROTO);
    cr_assert(v == NULL);
    cr_assert_eq(qsize(q), 0);
    mp_queue_free(q);
}

/* -------------------------------------------------- many processes at once */

#define MP_N 4
#define MP_ITEMS 2000

typedef struct mpmc {
    mp_queue *q;
    _Atomic uint32_t seen[MP_N][MP_ITEMS];
    _Atomic uint32_t order_errors, bad;
    uint32_t id;
} mpmc;

typedef struct mpmc_arg {
    mpmc *m;
    uint32_t id;
} mpmc_arg;

static int mpmc_producer(void *a)
{
    mpmc_arg *x = a;
    for (uint32_t i = 0; i < MP_ITEMS; i++) {
        uint64_t m[3] = {x->id, i, mix((uint64_t)x->id << 32 | i)};
        /* Sizes vary so that records of different lengths interleave. */
        uint8_t buf[24 + 64];
        memcpy(buf, m, sizeof m);
        size_t n = sizeof m + (i % 5) * 16;
        fill(buf + sizeof m, n - sizeof m, m[2]);
        if (mp_queue_put_bytes(x->m->q, buf, n, 20.0))
            return 1;
    }
    return 0;
}

static int mpmc_consumer(void *a)
{
    mpmc_arg *x = a;
    int32_t last[MP_N] = {-1, -1, -1, -1};
    for (;;) {
        void *b = NULL;
        size_t n = 0;
        if (mp_queue_get_bytes(x->m->q, &b, &n, 20.0))
            return 1;
        uint64_t m[3];
        if (n < sizeof m) {
            free(b);
            return 2;
        }
        memcpy(m, b, sizeof m);
        if (m[0] == UINT32_MAX) {
            free(b);
            return 0;
        }
        if (m[0] >= MP_N || m[1] >= MP_ITEMS || m[2] != mix(m[0] << 32 | m[1]) ||
            n != sizeof m + (m[1] % 5) * 16 || !intact((uint8_t *)b + sizeof m, n - sizeof m, m[2]))
            atomic_fetch_add(&x->m->bad, 1);
        else {
            atomic_fetch_add(&x->m->seen[m[0]][m[1]], 1);
            if ((int32_t)m[1] <= last[m[0]])
                atomic_fetch_add(&x->m->order_errors, 1);
            last[m[0]] = (int32_t)m[1];
        }
        free(b);
    }
}

MPT_TEST(queue, Q_MPMC_CHECKSUM,
         "Q-MPMC-CHECKSUM: 4 producer and 4 consumer processes: every message delivered once, "
         "intact, in each producer's order")
{
    mpmc *m = shared_mem(sizeof *m);
    MP_ASSERT_OK(mp_queue_new(&m->q, 64));
    mpmc_arg args[2 * MP_N];
    mp_process *ps[2 * MP_N];
    for (uint32_t i = 0; i < 2 * MP_N; i++) {
        args[i] = (mpmc_arg){m, i % MP_N};
        ps[i] = mpt_start(i < MP_N ? mpmc_producer : mpmc_consumer, &args[i]);
    }
    for (int i = 0; i < MP_N; i++)
        cr_assert_eq(mpt_join(ps[i]), 0, "producer %d failed", i);
    for (int i = 0; i < MP_N; i++) {
        uint64_t stop[3] = {UINT32_MAX, 0, 0};
        MP_ASSERT_OK(mp_queue_put_bytes(m->q, stop, sizeof stop, 20.0));
    }
    for (int i = MP_N; i < 2 * MP_N; i++)
        cr_assert_eq(mpt_join(ps[i]), 0, "consumer %d failed", i - MP_N);
    cr_assert_eq(atomic_load(&m->bad), 0, "damaged messages");
    cr_assert_eq(atomic_load(&m->order_errors), 0,
                 "a consumer saw a producer's messages out of order");
    for (int p = 0; p < MP_N; p++)
        for (int i = 0; i < MP_ITEMS; i++)
            cr_assert_eq(atomic_load(&m->seen[p][i]), 1, "message %d of producer %d seen %u times",
                         i, p, atomic_load(&m->seen[p][i]));
    cr_assert_eq(qsize(m->q), 0);
    mp_queue_free(m->q);
    munmap(m, sizeof *m);
}

/* ---------------------------------------------------------- killed peers */

typedef struct kill_arg {
    mp_queue *q;
    mpt_pipefd ready;
    size_t size;
} kill_arg;

static int ready_then_put(void *a)
{
    kill_arg *k = a;
    signal_byte(k->ready.w);
    return put_seeded(k->q, k->size, 99, MP_FOREVER) ? 1 : 0;
}

static int ready_then_get(void *a)
{
    kill_arg *k = a;
    signal_byte(k->ready.w);
    void *b = NULL;
    size_t n = 0;
    mp_status st = mp_queue_get_bytes(k->q, &b, &n, MP_FOREVER);
    free(b);
    return st ? 1 : 0;
}

static void kill_and_reap(mp_process *p)
{
    MP_ASSERT_OK(mp_process_kill(p));
    int code = mpt_join(p);
    cr_assert_eq(code, -SIGKILL, "exit code %d", code);
}

MPT_TEST(queue, Q_KILLED_PRODUCER,
         "Q-KILLED-PRODUCER: a producer killed while blocked in put on a full queue delivers "
         "nothing; others put and get normally")
{
    mp_queue *q = full_queue(1);
    kill_arg k = {q, mpt_pipe(), 100};
    mp_process *p = mpt_start(ready_then_put, &k);
    await_byte(k.ready.r);
    wait_asleep(p);
    kill_and_reap(p);
    mpt_get_str(q, "f", MP_NOWAIT);
    void *b = NULL;
    size_t n = 0;
    MPT_ASSERT_PROMPT(mp_queue_get_bytes(q, &b, &n, MP_NOWAIT), MP_EMPTY);
    MP_ASSERT_OK(put_seeded(q, 200, 5, MP_NOWAIT));
    MPT_ASSERT_PROMPT(mp_queue_put_bytes(q, "x", 1, MP_NOWAIT), MP_FULL);
    get_seeded(q, 200, 5, MP_NOWAIT);
    cr_assert_eq(qsize(q), 0);
    mpt_closepipe(&k.ready);
    mp_queue_free(q);
}

MPT_TEST(queue, Q_KILLED_PRODUCER_STREAM,
         "Q-KILLED-PRODUCER-STREAM: a producer killed mid-way through a message larger than the "
         "queue's buffer: the partial message is never delivered")
{
    mp_queue *q = NULL;
    MP_ASSERT_OK(mp_queue_new(&q, 0));
    /* 32 MiB cannot sit in any reasonable buffer with nobody reading: the
     * put blocks part-way, holding whatever the producers serialise on. */
    kill_arg k = {q, mpt_pipe(), 32 * MIB};
    mp_process *p = mpt_start(ready_then_put, &k);
    await_byte(k.ready.r);
    wait_asleep(p);
    kill_and_reap(p);
    void *b = NULL;
    size_t n = 0;
    MPT_ASSERT_TIMED(mp_queue_get_bytes(q, &b, &n, 0.3), MP_EMPTY, 0.3);
    cr_assert_eq(qsize(q), 0);
    MP_ASSERT_OK(put_seeded(q, 300, 6, 5.0));
    MP_ASSERT_OK(put_seeded(q, 9 * MIB, 7, 5.0));
    get_seeded(q, 300, 6, 5.0);
    get_seeded(q, 9 * MIB, 7, 5.0);
    cr_assert_eq(qsize(q), 0);
    mpt_closepipe(&k.ready);
    mp_queue_free(q);
}

static int get_expect(void *a)
{
    kill_arg *k = a;
    void *b = NULL;
    size_t n = 0;
    if (mp_queue_get_bytes(k->q, &b, &n, 20.0))
        return 1;
    int ok = n == k->size && intact(b, n, 8);
    free(b);
    return ok ? 0 : 2;
}

MPT_TEST(queue, Q_KILLED_PRODUCER_STREAM_NEXT,
         "Q-KILLED-PRODUCER-STREAM-NEXT: after a producer dies mid-way through a large message, "
         "the next producer's message reaches a waiting consumer")
{
    mp_queue *q = NULL;
    MP_ASSERT_OK(mp_queue_new(&q, 0));
    kill_arg k = {q, mpt_pipe(), 32 * MIB};
    mp_process *p = mpt_start(ready_then_put, &k);
    await_byte(k.ready.r);
    wait_asleep(p);
    kill_and_reap(p);
    kill_arg c = {q, {-1, -1}, 1000};
    mp_process *cons = mpt_start(get_expect, &c);
    /* The queue's buffer may still be full of the dead producer's partial
     * message: the put waits until the consumer has discarded it. */
    MP_ASSERT_OK(put_seeded(q, 1000, 8, 20.0));
    cr_assert_eq(mpt_join(cons), 0, "the consumer did not get the next message intact");
    cr_assert_eq(qsize(q), 0);
    mpt_closepipe(&k.ready);
    mp_queue_free(q);
}

typedef struct flood_arg {
    mp_queue *q;
} flood_arg;

static size_t flood_size(uint32_t i) { return 16 + (mix(i) % 4) * (i % 3 ? 40 : 20000); }

static int flood(void *a)
{
    flood_arg *f = a;
    for (uint32_t i = 0;; i++) {
        size_t n = flood_size(i);
        uint8_t *b = malloc(n);
        if (!b)
            return 1;
        memcpy(b, &i, 4);
        fill(b + 4, n - 4, i);
        mp_status st = mp_queue_put_bytes(f->q, b, n, MP_FOREVER);
        free(b);
        if (st)
            return 1;
    }
}

MPT_TEST(queue, Q_KILLED_PRODUCER_ANYTIME,
         "Q-KILLED-PRODUCER-ANYTIME: a producer killed at any moment leaves an intact, gapless "
         "prefix of its messages")
{
    mp_queue *q = NULL;
    MP_ASSERT_OK(mp_queue_new(&q, 0));
    flood_arg f = {q};
    mp_process *p = mpt_start(flood, &f);
    uint32_t got = 0;
    for (; got < 3000; got++) {
        void *b = NULL;
        size_t n = 0;
        MP_ASSERT_OK(mp_queue_get_bytes(q, &b, &n, 10.0));
        uint32_t i;
        memcpy(&i, b, 4);
        cr_assert(i == got && n == flood_size(i) && intact((uint8_t *)b + 4, n - 4, i),
                  "message %u: got #%u of %zu bytes", got, i, n);
        free(b);
    }
    kill_and_reap(p);
    for (;; got++) {
        void *b = NULL;
        size_t n = 0;
        mp_status st = mp_queue_get_bytes(q, &b, &n, 0.2);
        if (st == MP_EMPTY)
            break;
        MP_ASSERT_OK(st);
        uint32_t i;
        memcpy(&i, b, 4);
        cr_assert(i == got && n == flood_size(i) && intact((uint8_t *)b + 4, n - 4, i),
                  "after the kill, message %u: got #%u of %zu bytes", got, i, n);
        free(b);
    }
    cr_assert_eq(qsize(q), 0);
    put_str(q, "survivor");
    mpt_get_str(q, "survivor", 1.0);
    mp_queue_free(q);
}

MPT_TEST(queue, Q_KILLED_CONSUMER,
         "Q-KILLED-CONSUMER: a consumer killed while blocked in get on an empty queue takes "
         "nothing; others put and get normally")
{
    mp_queue *q = NULL;
    MP_ASSERT_OK(mp_queue_new(&q, 0));
    kill_arg k = {q, mpt_pipe(), 0};
    mp_process *p = mpt_start(ready_then_get, &k);
    await_byte(k.ready.r);
    wait_asleep(p);
    kill_and_reap(p);
    MP_ASSERT_OK(put_seeded(q, 4000, 11, MP_NOWAIT));
    get_seeded(q, 4000, 11, MP_NOWAIT);
    MP_ASSERT_OK(put_seeded(q, 9 * MIB, 12, 5.0));
    get_seeded(q, 9 * MIB, 12, 5.0);
    cr_assert_eq(qsize(q), 0);
    mpt_closepipe(&k.ready);
    mp_queue_free(q);
}

static int big_then_after(void *a)
{
    kill_arg *k = a;
    signal_byte(k->ready.w);
    if (put_seeded(k->q, k->size, 13, MP_FOREVER))
        return 1;
    return mp_queue_put_bytes(k->q, "after", 5, MP_FOREVER) ? 1 : 0;
}

MPT_TEST(queue, Q_KILLED_CONSUMER_STREAM,
         "Q-KILLED-CONSUMER-STREAM: a consumer killed mid-way through receiving a message larger "
         "than the buffer loses only that message; the producer is not wedged")
{
    mp_queue *q = NULL;
    MP_ASSERT_OK(mp_queue_new(&q, 0));
    kill_arg pk = {q, mpt_pipe(), 32 * MIB};
    mp_process *prod = mpt_start(big_then_after, &pk);
    await_byte(pk.ready.r);
    wait_asleep(prod); /* the buffer is full: the producer waits for room */
    pid_t ppid = 0;
    MP_ASSERT_OK(mp_process_pid(prod, &ppid));
    cr_assert(kill(ppid, SIGSTOP) == 0);
    /* The consumer drains the buffer and waits for the rest of the
     * message, which the stopped producer cannot send. */
    kill_arg ck = {q, mpt_pipe(), 0};
    mp_process *cons = mpt_start(ready_then_get, &ck);
    await_byte(ck.ready.r);
    wait_asleep(cons);
    kill_and_reap(cons);
    cr_assert(kill(ppid, SIGCONT) == 0);
    mpt_get_str(q, "after", 20.0);
    cr_assert_eq(mpt_join(prod), 0);
    cr_assert_eq(qsize(q), 0);
    mpt_closepipe(&pk.ready);
    mpt_closepipe(&ck.ready);
    mp_queue_free(q);
}

/* ------------------------------------------------------ prompt hand-offs */

typedef struct pq {
    mp_queue *q;
} pq;

static mp_status pq_get(void *a)
{
    void *b = NULL;
    size_t n = 0;
    mp_status st = mp_queue_get_bytes(((pq *)a)->q, &b, &n, 30.0);
    free(b);
    return st;
}

static mp_status pq_put(void *a) { return mp_queue_put_bytes(((pq *)a)->q, "p", 1, 30.0); }

static void pq_wake_put(void *a)
{
    MP_ASSERT_OK(mp_queue_put_bytes(((pq *)a)->q, "w", 1, MP_NOWAIT));
}

static void pq_wake_get(void *a)
{
    void *b = NULL;
    size_t n = 0;
    MP_ASSERT_OK(mp_queue_get_bytes(((pq *)a)->q, &b, &n, MP_NOWAIT));
    free(b);
}

static void pq_new_full(void *a)
{
    pq *p = a;
    mp_queue_free(p->q);
    p->q = full_queue(1);
}

static void pq_close(void *a) { MP_ASSERT_OK(mp_queue_close(((pq *)a)->q)); }

MPT_TEST(queue, Q_PUT_WAKES_PROMPT,
         "Q-PUT-WAKES-PROMPT: put wakes a get asleep on an empty queue at once (median hand-off "
         "far below a polling period)")
{
    pq p = {NULL};
    MP_ASSERT_OK(mp_queue_new(&p.q, 0));
    mpt_prompt h = {.arg = &p, .wait = pq_get, .wake = pq_wake_put, .want = MP_OK};
    double median = mpt_prompt_median(&h);
    cr_assert(median < MPT_PROMPT_MEDIAN_S,
              "median hand-off %.4f s: put did not wake the "
              "sleeping get",
              median);
    mp_queue_free(p.q);
}

MPT_TEST(queue, Q_GET_WAKES_PROMPT,
         "Q-GET-WAKES-PROMPT: get wakes a put asleep on a full queue at once (median hand-off far "
         "below a polling period)")
{
    pq p = {full_queue(1)};
    mpt_prompt h = {.arg = &p, .wait = pq_put, .wake = pq_wake_get, .want = MP_OK};
    double median = mpt_prompt_median(&h);
    cr_assert(median < MPT_PROMPT_MEDIAN_S,
              "median hand-off %.4f s: get did not wake the "
              "sleeping put",
              median);
    mp_queue_free(p.q);
}

MPT_TEST(queue, Q_CLOSE_WAKES_PROMPT,
         "Q-CLOSE-WAKES-PROMPT: close wakes a put asleep on a full queue at once (median hand-off "
         "far below a polling period)")
{
    pq p = {NULL};
    mpt_prompt h = {
        .arg = &p, .prepare = pq_new_full, .wait = pq_put, .wake = pq_close, .want = MP_CLOSED};
    double median = mpt_prompt_median(&h);
    cr_assert(median < MPT_PROMPT_MEDIAN_S,
              "median hand-off %.4f s: close did not wake the "
              "sleeping put",
              median);
    mp_queue_free(p.q);
}

/* A put that waits behind another put, not for room, is served at once when
 * that put is done.  Each round fills the queue with 1 MiB messages until a
 * put that does not wait says full, and takes one back.  A thread then puts
 * 12 MiB, more than the room, and waits (ref streams a message that large
 * holding its producer lock: queue_stream.c); once it sleeps a second thread
 * puts one byte (ref: it waits for that lock).  The main thread drains the
 * queue, and the round's latency runs from the big put's return to the
 * small one's.  A release that does not wake the lock's sleeper leaves the
 * small put asleep until its own re-check, tens of ms later.  Where no put
 * ever waits (no bound by bytes), both return at once. */
typedef struct put_call {
    mp_queue *q;
    const void *buf;
    size_t len;
} put_call;

static mp_status put_call_run(void *a)
{
    put_call *c = a;
    return mp_queue_put_bytes(c->q, c->buf, c->len, 30.0);
}

#define BEHIND_ROUNDS 15
#define BEHIND_BIG (12 * MIB)

MPT_TEST(queue, Q_PUT_BEHIND_PUT_PROMPT,
         "Q-PUT-BEHIND-PUT-PROMPT: a put waiting behind another put returns at once when that put "
         "is done (median far below a polling period)")
{
    mp_queue *q = NULL;
    MP_ASSERT_OK(mp_queue_new(&q, 0));
    uint8_t *big = calloc(1, BEHIND_BIG), *one = calloc(1, MIB);
    cr_assert(big && one);
    double lat[BEHIND_ROUNDS];
    for (int k = 0; k < BEHIND_ROUNDS; k++) {
        long n = 0;
        mp_status st;
        while (n < 64 && (st = mp_queue_put_bytes(q, one, MIB, 0)) == MP_OK)
            n++;
        cr_assert(n == 64 || st == MP_FULL, "round %d: a put that does not wait returned %s", k,
                  mp_status_name(st));
        if (n > 0) {
            void *m = NULL;
            size_t len = 0;
            MP_ASSERT_OK(mp_queue_get_bytes(q, &m, &len, MP_NOWAIT));
            free(m);
            cr_assert_eq(len, MIB);
            n--;
        }
        put_call bc = {q, big, BEHIND_BIG}, sc = {q, "w", 1};
        mpt_sleeper b = {.call = put_call_run, .arg = &bc};
        mpt_sleeper w = {.call = put_call_run, .arg = &sc};
        mpt_sleeper_start_quick(&b);
        mpt_sleeper_start_quick(&w);
        long mibs = 0, bigs = 0, smalls = 0;
        for (long i = 0; i < n + 2; i++) {
            void *m = NULL;
            size_t len = 0;
            MP_ASSERT_OK(mp_queue_get_bytes(q, &m, &len, 30.0));
            free(m);
            mibs += len == MIB;
            bigs += len == BEHIND_BIG;
            smalls += len == 1;
        }
        cr_assert(mibs == n && bigs == 1 && smalls == 1,
                  "round %d: got %ld of 1 MiB (want %ld), %ld of 12 MiB and %ld of 1 byte", k, mibs,
                  n, bigs, smalls);
        cr_assert(mpt_sleeper_wait(&b, mpt_now() + mpt_slack(30.0)));
        cr_assert(mpt_sleeper_wait(&w, mpt_now() + mpt_slack(30.0)));
        MP_ASSERT_OK(b.st);
        MP_ASSERT_OK(w.st);
        lat[k] = atomic_load(&w.back) - atomic_load(&b.back);
    }
    double median = mpt_median(lat, BEHIND_ROUNDS);
    cr_assert(median < MPT_PROMPT_MEDIAN_S,
              "median %.4f s from the big put's return to the waiting put's: the waiting put was "
              "not woken",
              median);
    free(big);
    free(one);
    mp_queue_free(q);
}

/* ------------------------------------------ wakers killed at any instruction
 *
 * A peer thread sleeps inside a call while a victim process runs the call
 * that should wake it; the victim is SIGKILLed before one instruction of that
 * call, in turn before each of them from a little before the moment its
 * effect shows (mpt_kat in mpt.h).  Whatever the instant, the sleeper must not stay
 * asleep while what it waits for holds, and the next survivor's call must
 * wake it: between the publishing store and the wake-up it owes the sleeper,
 * a waker that dies can strand it.  That it gets what it waits for without
 * help is checked on every MPT_KAT_STRIDE-th kill after the publish (each may
 * cost the sleeper a re-check period of the implementation's), that a
 * survivor's call wakes it on every kill. */

#include <poll.h>

typedef struct rec {
    uint32_t tag, id;
} rec;

typedef struct sweep {
    mp_queue *q;
    mpt_pipefd recs;   /* the sleeping consumer reports here */
    _Atomic pid_t tid; /* the sleeping thread */
    _Atomic int stop;
    _Atomic int peer_status; /* the first non-MP_OK status of the sleeper */
    uint32_t id;             /* the current trial, read by the victim */
} sweep;

/* Read one record within `timeout` seconds; false if none came. */
static bool read_rec(int fd, rec *r, double timeout)
{
    struct pollfd pf = {fd, POLLIN, 0};
    int n;
    while ((n = poll(&pf, 1, (int)(timeout * 1000) + 1)) < 0 && errno == EINTR) {
    }
    if (n != 1)
        return false;
    ssize_t got;
    while ((got = read(fd, r, sizeof *r)) < 0 && errno == EINTR) {
    }
    cr_assert_eq(got, (ssize_t)sizeof *r, "record pipe: %zd", got);
    return true;
}

static void write_rec(int fd, uint32_t tag, uint32_t id)
{
    rec r = {tag, id};
    while (write(fd, &r, sizeof r) < 0 && errno == EINTR) {
    }
}

/* Until qsize(q) == want, within the wide bound; false if it never is. */
static bool await_qsize(mp_queue *q, size_t want)
{
    double t0 = mpt_now();
    while (qsize(q) != want) {
        if (mpt_now() - t0 > mpt_slack(5.0))
            return false;
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
    }
    return true;
}

static size_t sweep_qsize(void *a)
{
    sweep *s = a;
    size_t n = 0;
    mp_queue_qsize(s->q, &n);
    return n;
}

/* The sleeping consumer: reports every message; 'E' ends it. */
static void *sweep_consumer(void *a)
{
    sweep *s = a;
    atomic_store(&s->tid, gettid());
    for (;;) {
        void *b = NULL;
        size_t n = 0;
        mp_status st = mp_queue_get_bytes(s->q, &b, &n, 60.0);
        if (st || n != sizeof(rec)) {
            atomic_store(&s->peer_status, st ? (int)st : -1);
            write_rec(s->recs.w, 'X', 0);
            free(b);
            return NULL;
        }
        rec r;
        memcpy(&r, b, sizeof r);
        free(b);
        write_rec(s->recs.w, r.tag, r.id);
        if (r.tag == 'E')
            return NULL;
    }
}

static int victim_put(void *a)
{
    sweep *s = a;
    rec r = {'V', s->id};
    return mp_queue_put_bytes(s->q, &r, sizeof r, MP_FOREVER) ? 1 : 0;
}

/* After trial s->id, the victim killed before instruction `at` (past the
 * call: complete): if its message is in the queue, the consumer gets it
 * without help (checked when `alone`); a survivor's put then reaches the
 * consumer -- the victim's message at most once, and before it. */
static void settle_put(sweep *s, bool complete, bool alone, size_t at)
{
    double bound = mpt_slack(5.0);
    bool got_v = false;
    rec r;
    if (complete || (alone && qsize(s->q) == 1)) {
        cr_assert(read_rec(s->recs.r, &r, bound),
                  "victim killed before instruction %zu of its put: its message is in the "
                  "queue, but the consumer sleeping in get did not get it within %.1f s",
                  at, bound);
        cr_assert(r.tag == 'V' && r.id == s->id, "trial %u: got %c%u", s->id, r.tag, r.id);
        got_v = true;
    }
    rec sr = {'S', s->id};
    MP_ASSERT_OK(mp_queue_put_bytes(s->q, &sr, sizeof sr, MP_NOWAIT));
    for (;;) {
        cr_assert(read_rec(s->recs.r, &r, bound),
                  "victim killed before instruction %zu of its put: the consumer sleeping "
                  "in get missed the next put too (nothing within %.1f s)",
                  at, bound);
        cr_assert(r.tag != 'X', "the consumer's get: %s", mp_status_name(s->peer_status));
        if (r.tag == 'S' && r.id == s->id)
            break;
        cr_assert(r.tag == 'V' && r.id == s->id && !got_v, "trial %u: got %c%u", s->id, r.tag,
                  r.id);
        got_v = true;
    }
    cr_assert_eq(qsize(s->q), 0);
}

MPT_TEST(queue, Q_KILLED_WAKER_ANYTIME,
         "Q-KILLED-WAKER-ANYTIME: a producer killed before any instruction of a put never leaves a "
         "consumer asleep in get: it gets the message if it was queued, and the next put wakes it")
{
    sweep s = {.recs = mpt_pipe()};
    MP_ASSERT_OK(mp_queue_new(&s.q, 0));
    pthread_t t;
    cr_assert(pthread_create(&t, NULL, sweep_consumer, &s) == 0);
    while (!atomic_load(&s.tid))
        sched_yield();
    /* A first round trip, so that the victims (forked from here) find
     * everything the call needs resolved and all run one path. */
    mpt_wait_asleep_quick(s.tid);
    settle_put(&s, false, false, 0);
    mpt_kat k = {.call = victim_put, .probe = sweep_qsize, .arg = &s};
    s.id = 1;
    mpt_wait_asleep_quick(s.tid);
    mpt_kat_calibrate(&k);
    settle_put(&s, true, true, k.n);
    size_t missed = 0, trials = 0;
    for (size_t i = 0; i < k.n; i++) {
        if (!mpt_kat_swept(&k, i))
            continue;
        s.id = (uint32_t)i + 2;
        mpt_wait_asleep_quick(s.tid);
        int r = mpt_kat_kill_at(&k, i);
        trials++;
        missed += r == MPT_KAT_MISSED;
        settle_put(&s, r == MPT_KAT_MISSED, (i - k.publish) % MPT_KAT_STRIDE == 1, i);
    }
    cr_assert(missed <= trials / 10,
              "%zu of %zu kills missed their instruction (the put "
              "ran another path than calibrated)",
              missed, trials);
    rec e = {'E', 0};
    MP_ASSERT_OK(mp_queue_put_bytes(s.q, &e, sizeof e, MP_NOWAIT));
    pthread_join(t, NULL);
    mpt_kat_free(&k);
    mpt_closepipe(&s.recs);
    mp_queue_free(s.q);
}

/* The sleeping producer of a full Queue(2): puts P1, P2, ... until stopped. */
static void *sweep_producer(void *a)
{
    sweep *s = a;
    atomic_store(&s->tid, gettid());
    for (uint32_t i = 1; !atomic_load(&s->stop); i++) {
        rec r = {'P', i};
        mp_status st = mp_queue_put_bytes(s->q, &r, sizeof r, 60.0);
        if (st) {
            atomic_store(&s->peer_status, (int)st);
            return NULL;
        }
    }
    return NULL;
}

/* The buffer is not freed: the victim is killed, and its trace ends with
 * the call. */
static int victim_get(void *a)
{
    sweep *s = a;
    void *b = NULL;
    size_t n = 0;
    return mp_queue_get_bytes(s->q, &b, &n, MP_FOREVER) ? 1 : 0;
}

/* After a trial (the victim killed before instruction `at` of its get): if
 * it took an item, the producer sleeping on the full queue fills the room
 * without help (checked when `alone`); a survivor's get takes the next item
 * in order and makes room, which the producer fills too. */
static void settle_get(sweep *s, bool alone, uint32_t *last, size_t at)
{
    double bound = mpt_slack(5.0);
    if (alone)
        cr_assert(await_qsize(s->q, 2),
                  "consumer killed before instruction %zu of its get: it made room, but "
                  "the producer sleeping in put did not fill it within %.1f s",
                  at, bound);
    void *b = NULL;
    size_t n = 0;
    MP_ASSERT_OK(mp_queue_get_bytes(s->q, &b, &n, MP_NOWAIT)); /* one is always there */
    rec r;
    cr_assert_eq(n, sizeof r);
    memcpy(&r, b, sizeof r);
    free(b);
    cr_assert(r.tag == 'P' && r.id > *last, "got %c%u after P%u", r.tag, r.id, *last);
    *last = r.id;
    cr_assert(await_qsize(s->q, 2),
              "consumer killed before instruction %zu of its get: after the next get, the "
              "producer sleeping in put did not fill the queue within %.1f s",
              at, bound);
    cr_assert_eq(atomic_load(&s->peer_status), MP_OK, "the producer's put: %s",
                 mp_status_name(atomic_load(&s->peer_status)));
}

MPT_TEST(queue, Q_KILLED_WAKER_ROOM_ANYTIME,
         "Q-KILLED-WAKER-ROOM-ANYTIME: a consumer killed before any instruction of a get never "
         "leaves a producer asleep on a full queue: it fills the room if there is some, and the "
         "next get wakes it")
{
    sweep s = {.recs = mpt_pipe()};
    MP_ASSERT_OK(mp_queue_new(&s.q, 2));
    pthread_t t;
    cr_assert(pthread_create(&t, NULL, sweep_producer, &s) == 0);
    while (!atomic_load(&s.tid))
        sched_yield();
    uint32_t last = 0;
    mpt_wait_asleep_quick(s.tid);
    settle_get(&s, false, &last, 0); /* resolves what the victims' get will need */
    mpt_kat k = {.call = victim_get, .probe = sweep_qsize, .arg = &s};
    mpt_wait_asleep_quick(s.tid);
    mpt_kat_calibrate(&k);
    settle_get(&s, true, &last, k.n);
    size_t missed = 0, trials = 0;
    for (size_t i = 0; i < k.n; i++) {
        if (!mpt_kat_swept(&k, i))
            continue;
        mpt_wait_asleep_quick(s.tid);
        missed += mpt_kat_kill_at(&k, i) == MPT_KAT_MISSED;
        trials++;
        settle_get(&s, (i - k.publish) % MPT_KAT_STRIDE == 1, &last, i);
    }
    cr_assert(missed <= trials / 10,
              "%zu of %zu kills missed their instruction (the get "
              "ran another path than calibrated)",
              missed, trials);
    atomic_store(&s.stop, 1);
    for (int i = 0; i < 2; i++) { /* room for its last put */
        void *b = NULL;
        size_t n = 0;
        MP_ASSERT_OK(mp_queue_get_bytes(s.q, &b, &n, 5.0));
        free(b);
    }
    pthread_join(t, NULL);
    mpt_kat_free(&k);
    mpt_closepipe(&s.recs);
    mp_queue_free(s.q);
}

/* A producer killed before any one instruction of a put never wedges a put
 * waiting behind it.  While the victim is stopped before the instruction, a
 * thread of this process starts a put (in ref it sleeps for the producer lock
 * whenever the victim holds it, from its CAS to its release) and is waited
 * for until it sleeps or is back; then the victim is killed.  That put must
 * return within the wide bound: the lock of a holder that died is taken
 * over, and a release killed before its wake leaves the sleeper to its next
 * re-check.  The queue then holds the thread's message once, after the
 * victim's if the victim committed it, and nothing else.  The sweep is
 * mpt_kat_swept's: every instruction from just before the commit on (the
 * release and its wake among them), and some before it. */
typedef struct lk_sweep {
    mp_queue *q;
    uint32_t id; /* the current trial, read by the victim */
    rec wr;      /* the waiting put's message */
    put_call pc;
    mpt_sleeper w;
    bool started;
} lk_sweep;

static int victim_put_lk(void *a)
{
    lk_sweep *s = a;
    rec r = {'V', s->id};
    return mp_queue_put_bytes(s->q, &r, sizeof r, MP_FOREVER) ? 1 : 0;
}

static size_t lk_qsize(void *a)
{
    lk_sweep *s = a;
    return qsize(s->q);
}

/* mpt_kat's at_stop: the waiting put starts. */
static void lk_start_put(void *a)
{
    lk_sweep *s = a;
    s->wr = (rec){'W', s->id};
    s->pc = (put_call){s->q, &s->wr, sizeof s->wr};
    s->w = (mpt_sleeper){.call = put_call_run, .arg = &s->pc};
    mpt_sleeper_start_quick(&s->w);
    s->started = true;
}

/* After trial s->id (the victim killed before instruction `at`; complete:
 * its call ran to its end, and no put waited): the waiting put returned
 * MP_OK within the bound, and the queue holds W once, V at most once (once
 * when complete) and before W. */
static void lk_settle(lk_sweep *s, bool complete, size_t at)
{
    double bound = mpt_slack(5.0);
    if (s->started) {
        cr_assert(mpt_sleeper_wait(&s->w, mpt_now() + bound),
                  "producer killed before instruction %zu of its put: the put waiting behind "
                  "it did not return within %.1f s",
                  at, bound);
        cr_assert_eq(s->w.st, MP_OK, "the waiting put: %s", mp_status_name(s->w.st));
    } else {
        rec r = {'W', s->id};
        MP_ASSERT_OK(mp_queue_put_bytes(s->q, &r, sizeof r, MP_NOWAIT));
    }
    s->started = false;
    bool got_v = false, got_w = false;
    while (qsize(s->q) > 0) {
        void *b = NULL;
        size_t n = 0;
        MP_ASSERT_OK(mp_queue_get_bytes(s->q, &b, &n, MP_NOWAIT));
        rec r;
        cr_assert_eq(n, sizeof r);
        memcpy(&r, b, sizeof r);
        free(b);
        cr_assert(r.id == s->id && (r.tag == 'V' ? !got_v && !got_w : r.tag == 'W' && !got_w),
                  "trial %u (killed before instruction %zu): got %c%u", s->id, at, r.tag, r.id);
        got_v |= r.tag == 'V';
        got_w |= r.tag == 'W';
    }
    cr_assert(got_w && (got_v || !complete), "trial %u: the %s message is missing", s->id,
              got_w ? "victim's" : "waiting put's");
}

MPT_TEST(queue, Q_KILLED_LOCK_HOLDER_ANYTIME,
         "Q-KILLED-LOCK-HOLDER-ANYTIME: a producer killed before any instruction of a put never "
         "wedges a put waiting behind it, which returns with its message queued once")
{
    lk_sweep s = {0};
    MP_ASSERT_OK(mp_queue_new(&s.q, 0));
    lk_settle(&s, false, 0); /* resolves what the victims' put will need */
    mpt_kat k = {.call = victim_put_lk, .probe = lk_qsize, .at_stop = lk_start_put, .arg = &s};
    s.id = 1;
    mpt_kat_calibrate(&k);
    lk_settle(&s, true, k.n);
    size_t missed = 0, trials = 0;
    for (size_t i = 0; i < k.n; i++) {
        if (!mpt_kat_swept(&k, i))
            continue;
        s.id = (uint32_t)i + 2;
        int r = mpt_kat_kill_at(&k, i);
        trials++;
        missed += r == MPT_KAT_MISSED;
        lk_settle(&s, r == MPT_KAT_MISSED, i);
    }
    cr_assert(missed <= trials / 10,
              "%zu of %zu kills missed their instruction (the put ran another path than "
              "calibrated)",
              missed, trials);
    mpt_kat_free(&k);
    mp_queue_free(s.q);
}

/* ------------------------------------------------------------ misuse etc. */

MPT_TEST(queue, Q_TASK_DONE_EINVAL,
         "Q-TASK-DONE-EINVAL: task_done and join on a Queue (not joinable) are MP_EINVAL")
{
    mp_queue *q = NULL;
    MP_ASSERT_OK(mp_queue_new(&q, 0));
    put_str(q, "x");
    MP_ASSERT_STATUS(mp_queue_task_done(q), MP_EINVAL);
    MP_ASSERT_STATUS(mp_queue_join(q, 0), MP_EINVAL);
    MP_ASSERT_STATUS(mp_queue_join(q, MP_FOREVER), MP_EINVAL);
    mp_queue_free(q);
}

static int tutorial_f(void *a)
{
    mp_queue *q = a;
    mp_value *v = mp_list_of(3, mp_int(42), mp_none(), mp_str("hello"));
    if (!v)
        return 2;
    mp_status st = mp_queue_put(q, v, MP_FOREVER);
    mp_value_free(v);
    return st ? 1 : 0;
}

MPT_TEST(
    queue, Q_TUTORIAL,
    "Q-TUTORIAL: two processes each put [42, None, 'hello']; the parent gets both, then joins both")
{
    mp_queue *q = NULL;
    MP_ASSERT_OK(mp_queue_new(&q, 0));
    mp_process *p1 = mpt_start(tutorial_f, q);
    mp_process *p2 = mpt_start(tutorial_f, q);
    for (int i = 0; i < 2; i++) {
        mp_value *v = NULL;
        MP_ASSERT_OK(mp_queue_get(q, &v, 10.0));
        char *r = NULL;
        MP_ASSERT_OK(mp_value_repr(v, &r));
        cr_assert_str_eq(r, "[42, None, 'hello']");
        free(r);
        mp_value_free(v);
    }
    cr_assert_eq(mpt_join(p1), 0);
    cr_assert_eq(mpt_join(p2), 0);
    mp_queue_free(q);
}

/* ------------------------------------------------ CPython's tests, continued */

/* Contract: a grandchild's target: get without blocking on the empty queue
 * `arg` must be MP_EMPTY (1 if not), then it puts the str "grandchild" (2 if
 * that fails); 0 on success. */
static int q_grandchild(void *arg)
{
    mp_queue *q = arg;
    mp_value *v = NULL;
    if (mp_queue_get_nowait(q, &v) != MP_EMPTY)
        return 1;
    v = mp_str("grandchild");
    mp_status s = mp_queue_put(q, v, MP_FOREVER);
    mp_value_free(v);
    return s == MP_OK ? 0 : 2;
}

/* Contract: a child's target: makes a Queue, starts a daemonic child of its
 * own on it (q_grandchild), joins it and gets what it put.  Returns 0 when
 * all of that worked, else the step that failed: 10 + the grandchild's exit
 * code, or 3..5. */
static int q_in_child(void *arg)
{
    (void)arg;
    mp_queue *q = NULL;
    mp_process *g = NULL;
    int code = -1, rc = 0;
    if (mp_queue_new(&q, 0) != MP_OK)
        return 3;
    if (mp_process_new(&g, q_grandchild, q) != MP_OK || mp_process_set_daemon(g, true) ||
        mp_process_start(g) != MP_OK || mp_process_join(g, MP_FOREVER) != MP_OK ||
        mp_process_exitcode(g, &code) != MP_OK)
        rc = 4;
    else if (code != 0)
        rc = 10 + code;
    mp_value *v = NULL;
    const char *s = NULL;
    size_t n = 0;
    if (!rc && (mp_queue_get(q, &v, 10.0) != MP_OK || mp_value_get_str(v, &s, &n) != MP_OK ||
                n != 10 || memcmp(s, "grandchild", 10) != 0))
        rc = 5;
    mp_value_free(v);
    mp_process_free(g);
    mp_queue_free(q);
    return rc;
}

MPT_TEST(
    queue, Q_IN_CHILD,
    "Q-IN-CHILD: a Queue made in a child process works between it and a daemonic child of its own: "
    "the grandchild's get without blocking is MP_EMPTY and what it puts then reaches the child")
{
    int code = mpt_join(mpt_start(q_in_child, NULL));
    cr_assert_eq(code, 0, "the child failed at step %d (see q_in_child)", code);
}
