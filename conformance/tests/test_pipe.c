/* Pipe / Connection: tutorial §11-§13 and CPython's multiprocessing.connection. */
#include <errno.h>
#include <pthread.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "mpt.h"

/* ------------------------------------------------------------ helpers */

static void new_pipe(mp_conn **a, mp_conn **b, bool duplex)
{
    *a = *b = NULL;
    MP_ASSERT_OK(mp_pipe(a, b, duplex));
    cr_assert(*a && *b && *a != *b);
}

static void send_str(mp_conn *c, const char *s)
{
    MP_ASSERT_OK(mp_conn_send_bytes(c, s, strlen(s)));
}

/* The next message must be exactly `want`. */
static void expect_str(mp_conn *c, const char *want)
{
    void *buf = NULL;
    size_t len = 0;
    MP_ASSERT_OK(mp_conn_recv_bytes(c, &buf, &len, 0));
    cr_assert(buf != NULL);
    cr_assert(len == strlen(want) && memcmp(buf, want, len) == 0,
              "received %zu bytes '%.*s', want '%s'", len, (int)len, (char *)buf, want);
    free(buf);
}

static void raw_write(mp_conn *c, const void *p, size_t n)
{
    int fd = -1;
    MP_ASSERT_OK(mp_conn_fileno(c, &fd));
    cr_assert(write(fd, p, n) == (ssize_t)n, "write: %s", strerror(errno));
}

/* A deterministic byte pattern (xorshift64) that differs with the seed. */
static void pattern(unsigned char *p, size_t n, uint64_t seed)
{
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i += 8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        memcpy(p + i, &x, n - i < 8 ? n - i : 8);
    }
}

/* Whether p holds pattern(n, seed), checked without a second buffer. */
static bool pattern_ok(const unsigned char *p, size_t n, uint64_t seed)
{
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i += 8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if (memcmp(p + i, &x, n - i < 8 ? n - i : 8) != 0)
            return false;
    }
    return true;
}

/* A thread that sends messages (after an optional delay), so that one test
 * process can both send more than a socket buffer holds and receive it. */
struct sender {
    mp_conn *c;
    double delay;
    size_t n;
    const void *msg[16];
    size_t len[16];
    double sent_at; /* when the first send began */
    mp_status st;
    pthread_t th;
};

static void *sender_main(void *arg)
{
    struct sender *s = arg;
    if (s->delay > 0)
        mpt_sleep(s->delay);
    s->sent_at = mpt_now();
    s->st = MP_OK;
    for (size_t i = 0; i < s->n && s->st == MP_OK; i++)
        s->st = mp_conn_send_bytes(s->c, s->msg[i], s->len[i]);
    return NULL;
}

static void sender_start(struct sender *s)
{
    cr_assert(pthread_create(&s->th, NULL, sender_main, s) == 0);
}

static void sender_join(struct sender *s)
{
    pthread_join(s->th, NULL);
    MP_ASSERT_OK(s->st);
}

/* ------------------------------------------------------------ §11, §12 */

MPT_TEST(pipe, PIPE_DUPLEX_BOTH_WAYS,
         "PIPE-DUPLEX-BOTH-WAYS: with duplex true both ends send and receive")
{
    mp_conn *a, *b;
    new_pipe(&a, &b, true);
    send_str(a, "from a");
    send_str(b, "from b");
    send_str(a, "again a");
    expect_str(b, "from a");
    expect_str(a, "from b");
    expect_str(b, "again a");
    mp_conn_free(a);
    mp_conn_free(b);
}

MPT_TEST(pipe, PIPE_ONEWAY_DIRECTION,
         "PIPE-ONEWAY-DIRECTION: with duplex false the second end sends and the first receives")
{
    mp_conn *a, *b;
    new_pipe(&a, &b, false);
    send_str(b, "one");
    send_str(b, "two");
    expect_str(a, "one");
    expect_str(a, "two");
    mp_conn_free(a);
    mp_conn_free(b);
}

MPT_TEST(pipe, PIPE_ONEWAY_SEND_ON_RECV_END,
         "PIPE-ONEWAY-SEND-ON-RECV-END: every send on the receive-only end is MP_EACCES")
{
    mp_conn *a, *b;
    new_pipe(&a, &b, false);
    mp_value *v = mp_int(1);
    MP_ASSERT_STATUS(mp_conn_send(a, v), MP_EACCES);
    MP_ASSERT_STATUS(mp_conn_send_bytes(a, "x", 1), MP_EACCES);
    MP_ASSERT_STATUS(mp_conn_send_bytes_range(a, "xyz", 3, 1, 1), MP_EACCES);
    /* Nothing reached the other end, and the end still receives. */
    MP_ASSERT_STATUS(mp_conn_poll(a, 0), MP_TIMEOUT);
    send_str(b, "ok");
    expect_str(a, "ok");
    mp_value_free(v);
    mp_conn_free(a);
    mp_conn_free(b);
}

MPT_TEST(pipe, PIPE_ONEWAY_RECV_ON_SEND_END,
         "PIPE-ONEWAY-RECV-ON-SEND-END: every receive and poll on the send-only end is MP_EACCES")
{
    mp_conn *a, *b;
    new_pipe(&a, &b, false);
    mp_value *v = NULL;
    void *buf = NULL;
    size_t len = 0;
    char small[8];
    MP_ASSERT_STATUS(mp_conn_recv(b, &v), MP_EACCES);
    MP_ASSERT_STATUS(mp_conn_recv_bytes(b, &buf, &len, 0), MP_EACCES);
    MP_ASSERT_STATUS(mp_conn_recv_bytes_into(b, small, sizeof small, 0, &len), MP_EACCES);
    MP_ASSERT_STATUS(mp_conn_poll(b, 0), MP_EACCES);
    cr_assert(v == NULL && buf == NULL);
    send_str(b, "still sends");
    expect_str(a, "still sends");
    mp_conn_free(a);
    mp_conn_free(b);
}

MPT_TEST(pipe, PIPE_RECV_BLOCKS,
         "PIPE-RECV-BLOCKS: recv blocks while nothing is there and returns the message once sent")
{
    mp_conn *a, *b;
    new_pipe(&a, &b, true);
    struct sender s = {.c = b, .delay = 0.2, .n = 1, .msg = {"late"}, .len = {4}};
    double t0 = mpt_now();
    sender_start(&s);
    void *buf = NULL;
    size_t len = 0;
    MP_ASSERT_OK(mp_conn_recv_bytes(a, &buf, &len, 0));
    double t1 = mpt_now();
    sender_join(&s);
    cr_assert(len == 4 && memcmp(buf, "late", 4) == 0);
    cr_assert(t1 >= s.sent_at, "recv returned before the message was sent");
    cr_assert(t1 - t0 >= 0.2, "recv returned after %.3f s, before the send", t1 - t0);
    free(buf);
    mp_conn_free(a);
    mp_conn_free(b);
}

MPT_TEST(pipe, PIPE_RECV_EOF_AFTER_CLOSE,
         "PIPE-RECV-EOF-AFTER-CLOSE: every receive on an empty end whose peer is closed is MP_EOF, "
         "each time")
{
    for (int duplex = 0; duplex < 2; duplex++) {
        mp_conn *a, *b;
        new_pipe(&a, &b, duplex);
        MP_ASSERT_OK(mp_conn_close(b));
        mp_value *v = NULL;
        void *buf = NULL;
        size_t len = 0;
        char small[8];
        MPT_ASSERT_PROMPT(mp_conn_recv(a, &v), MP_EOF);
        MPT_ASSERT_PROMPT(mp_conn_recv_bytes(a, &buf, &len, 0), MP_EOF);
        MPT_ASSERT_PROMPT(mp_conn_recv_bytes_into(a, small, sizeof small, 0, &len), MP_EOF);
        MPT_ASSERT_PROMPT(mp_conn_recv_bytes(a, &buf, &len, 0), MP_EOF);
        cr_assert(v == NULL && buf == NULL);
        mp_conn_free(a);
        mp_conn_free(b);
    }
}

MPT_TEST(
    pipe, PIPE_RECV_BUFFERED_THEN_EOF,
    "PIPE-RECV-BUFFERED-THEN-EOF: messages sent before the peer closed are received, then MP_EOF")
{
    mp_conn *a, *b;
    new_pipe(&a, &b, false);
    send_str(b, "first");
    send_str(b, "");
    send_str(b, "third");
    mp_conn_free(b);
    expect_str(a, "first");
    expect_str(a, "");
    expect_str(a, "third");
    void *buf = NULL;
    size_t len = 0;
    MPT_ASSERT_PROMPT(mp_conn_recv_bytes(a, &buf, &len, 0), MP_EOF);
    mp_conn_free(a);
}

MPT_TEST(pipe, PIPE_CLOSED_END_CALLS,
         "PIPE-CLOSED-END-CALLS: every call on a closed end is MP_CLOSED; close again is MP_OK")
{
    mp_conn *a, *b;
    new_pipe(&a, &b, true);
    MP_ASSERT_OK(mp_conn_close(a));
    MP_ASSERT_OK(mp_conn_close(a));
    mp_value *v = mp_str("x"), *out = NULL;
    void *buf = NULL;
    size_t len = 0;
    char small[8];
    int fd = -1;
    MP_ASSERT_STATUS(mp_conn_send(a, v), MP_CLOSED);
    MP_ASSERT_STATUS(mp_conn_send_bytes(a, "x", 1), MP_CLOSED);
    MP_ASSERT_STATUS(mp_conn_send_bytes_range(a, "xy", 2, 0, 1), MP_CLOSED);
    MP_ASSERT_STATUS(mp_conn_recv(a, &out), MP_CLOSED);
    MP_ASSERT_STATUS(mp_conn_recv_bytes(a, &buf, &len, 0), MP_CLOSED);
    MP_ASSERT_STATUS(mp_conn_recv_bytes_into(a, small, sizeof small, 0, &len), MP_CLOSED);
    MP_ASSERT_STATUS(mp_conn_poll(a, 0), MP_CLOSED);
    MP_ASSERT_STATUS(mp_conn_poll(a, MP_FOREVER), MP_CLOSED);
    MP_ASSERT_STATUS(mp_conn_fileno(a, &fd), MP_CLOSED);
    cr_assert(out == NULL && buf == NULL && fd == -1);
    /* The peer sees the close. */
    MPT_ASSERT_PROMPT(mp_conn_recv_bytes(b, &buf, &len, 0), MP_EOF);
    mp_value_free(v);
    mp_conn_free(a);
    mp_conn_free(b);
}

MPT_TEST(pipe, PIPE_FREE_CLOSES,
         "PIPE-FREE-CLOSES: mp_conn_free closes the end (the peer sees EOF); free(NULL) is a no-op")
{
    mp_conn *a, *b;
    new_pipe(&a, &b, true);
    send_str(b, "last words");
    mp_conn_free(b);
    mp_conn_free(NULL);
    expect_str(a, "last words");
    MP_ASSERT_STATUS(mp_conn_poll(a, 0), MP_OK);
    void *buf = NULL;
    size_t len = 0;
    MP_ASSERT_STATUS(mp_conn_recv_bytes(a, &buf, &len, 0), MP_EOF);
    mp_conn_free(a);
}

/* ------------------------------------------------------------ across processes */

struct kids {
    mp_conn *a, *b;   /* the pipe under test */
    mp_conn *ca, *cb; /* control: the parent sends on cb, the child receives on ca */
    size_t size;
    uint64_t seed;
};

static int child_hello(void *arg)
{
    struct kids *k = arg;
    mp_value *v = mp_str("Hello World");
    mp_status s = mp_conn_send(k->b, v);
    mp_value_free(v);
    mp_conn_close(k->b);
    return s == MP_OK ? 0 : 10 + (int)s;
}

MPT_TEST(pipe, PIPE_CHILD_SENDS,
         "PIPE-CHILD-SENDS: a child sends 'Hello World' and closes its end; the parent receives "
         "it, then MP_EOF")
{
    struct kids k = {0};
    new_pipe(&k.a, &k.b, true);
    mp_process *p = mpt_start(child_hello, &k);
    MP_ASSERT_OK(mp_conn_close(k.b)); /* the parent's copy of the child's end */
    mp_value *v = NULL;
    MP_ASSERT_OK(mp_conn_recv(k.a, &v));
    const char *s = NULL;
    size_t len = 0;
    MP_ASSERT_OK(mp_value_get_str(v, &s, &len));
    cr_assert(len == 11 && memcmp(s, "Hello World", 11) == 0);
    mp_value_free(v);
    v = NULL;
    MP_ASSERT_STATUS(mp_conn_recv(k.a, &v), MP_EOF);
    cr_assert_eq(mpt_join(p), 0);
    mp_conn_free(k.a);
    mp_conn_free(k.b);
}

static int child_bye_on_go(void *arg)
{
    struct kids *k = arg;
    void *buf = NULL;
    size_t len = 0;
    if (mp_conn_recv_bytes(k->ca, &buf, &len, 0) != MP_OK)
        return 2;
    free(buf);
    if (mp_conn_send_bytes(k->b, "bye", 3) != MP_OK)
        return 3;
    mp_conn_close(k->b);
    return 0;
}

MPT_TEST(pipe, PIPE_EOF_NEEDS_ALL_COPIES,
         "PIPE-EOF-NEEDS-ALL-COPIES: no EOF while a child still holds a copy of the peer end; EOF "
         "once it closes it")
{
    struct kids k = {0};
    new_pipe(&k.a, &k.b, false);
    new_pipe(&k.ca, &k.cb, false);
    mp_process *p = mpt_start(child_bye_on_go, &k);
    MP_ASSERT_OK(mp_conn_close(k.b));
    /* The child's copy of b is open: nothing to receive, and no EOF. */
    MPT_ASSERT_TIMED(mp_conn_poll(k.a, 0.2), MP_TIMEOUT, 0.2);
    send_str(k.cb, "go");
    expect_str(k.a, "bye");
    void *buf = NULL;
    size_t len = 0;
    MP_ASSERT_STATUS(mp_conn_recv_bytes(k.a, &buf, &len, 0), MP_EOF);
    cr_assert_eq(mpt_join(p), 0);
    mp_conn_free(k.a);
    mp_conn_free(k.b);
    mp_conn_free(k.ca);
    mp_conn_free(k.cb);
}

#define LARGE_SIZE ((size_t)64 << 20)

static int child_send_large(void *arg)
{
    struct kids *k = arg;
    unsigned char *p = malloc(k->size);
    if (!p)
        return 2;
    pattern(p, k->size, k->seed);
    mp_status s = mp_conn_send_bytes(k->b, p, k->size);
    free(p);
    return s == MP_OK ? 0 : 10 + (int)s;
}

MPT_TEST(pipe, PIPE_LARGE_CHILD_TO_PARENT,
         "PIPE-LARGE-CHILD-TO-PARENT: a 64 MiB message from a child arrives whole and intact")
{
    struct kids k = {.size = LARGE_SIZE, .seed = 7};
    new_pipe(&k.a, &k.b, false);
    mp_process *p = mpt_start(child_send_large, &k);
    MP_ASSERT_OK(mp_conn_close(k.b));
    void *buf = NULL;
    size_t len = 0;
    MP_ASSERT_OK(mp_conn_recv_bytes(k.a, &buf, &len, 0));
    cr_assert_eq(mpt_join(p), 0);
    cr_assert(len == LARGE_SIZE, "received %zu bytes", len);
    cr_assert(pattern_ok(buf, LARGE_SIZE, k.seed), "64 MiB payload differs");
    free(buf);
    MP_ASSERT_STATUS(mp_conn_recv_bytes(k.a, &buf, &len, 0), MP_EOF);
    mp_conn_free(k.a);
    mp_conn_free(k.b);
}

static int child_recv_large(void *arg)
{
    struct kids *k = arg;
    void *buf = NULL;
    size_t len = 0;
    mp_status s = mp_conn_recv_bytes(k->b, &buf, &len, 0);
    if (s != MP_OK)
        return 10 + (int)s;
    if (len != k->size) {
        free(buf);
        return 3;
    }
    int rc = pattern_ok(buf, len, k->seed) ? 0 : 4;
    free(buf);
    /* A second, small message after the big one keeps its boundary. */
    if (rc == 0 && (mp_conn_recv_bytes(k->b, &buf, &len, 0) != MP_OK || len != 3 ||
                    memcmp(buf, "end", 3) != 0))
        rc = 5;
    if (rc == 0)
        free(buf);
    return rc;
}

MPT_TEST(pipe, PIPE_LARGE_PARENT_TO_CHILD,
         "PIPE-LARGE-PARENT-TO-CHILD: a 64 MiB message to a child arrives whole and intact")
{
    struct kids k = {.size = LARGE_SIZE, .seed = 11};
    new_pipe(&k.a, &k.b, true);
    mp_process *p = mpt_start(child_recv_large, &k);
    MP_ASSERT_OK(mp_conn_close(k.b));
    unsigned char *msg = malloc(LARGE_SIZE);
    cr_assert(msg);
    pattern(msg, LARGE_SIZE, k.seed);
    MP_ASSERT_OK(mp_conn_send_bytes(k.a, msg, LARGE_SIZE));
    send_str(k.a, "end");
    free(msg);
    cr_assert_eq(mpt_join(p), 0, "the child saw a wrong message (its exit code tells which)");
    mp_conn_free(k.a);
    mp_conn_free(k.b);
}

static int child_die_mid_message(void *arg)
{
    struct kids *k = arg;
    int fd = -1;
    if (mp_conn_fileno(k->b, &fd) != MP_OK)
        return 2;
    /* A header for 1000 bytes, then 10 of them, then death. */
    static const unsigned char part[14] = {0,   0,   0x03, 0xe8, 'p', 'a', 'r',
                                           't', 'i', 'a',  'l',  '.', '.', '.'};
    if (write(fd, part, sizeof part) != (ssize_t)sizeof part)
        return 3;
    kill(getpid(), SIGKILL);
    return 4;
}

MPT_TEST(pipe, PIPE_RECV_PEER_KILLED_MID_MESSAGE,
         "PIPE-RECV-PEER-KILLED-MID-MESSAGE: a peer killed in the middle of a message gives "
         "MP_EPROTO, not a hang, then MP_EOF")
{
    struct kids k = {0};
    new_pipe(&k.a, &k.b, false);
    mp_process *p = mpt_start(child_die_mid_message, &k);
    MP_ASSERT_OK(mp_conn_close(k.b));
    void *buf = NULL;
    size_t len = 0;
    MP_ASSERT_STATUS(mp_conn_recv_bytes(k.a, &buf, &len, 0), MP_EPROTO);
    MPT_ASSERT_PROMPT(mp_conn_recv_bytes(k.a, &buf, &len, 0), MP_EOF);
    cr_assert(buf == NULL);
    cr_assert_eq(mpt_join(p), -SIGKILL);
    mp_conn_free(k.a);
    mp_conn_free(k.b);
}

/* A message no socket buffer holds, so that its sender blocks in send. */
#define STUCK_SIZE ((size_t)8 << 20)

struct stuck_send {
    mp_conn *a, *b;    /* a receives, b sends */
    mp_event *ready;   /* the receiver child has closed its copy of b */
    mp_event *sending; /* the sender's next call is the large send */
};

/* Exit code: the status of a send of STUCK_SIZE bytes (after an optional
 * small message), or death by a signal. */
static int child_send_stuck(void *arg)
{
    struct stuck_send *k = arg;
    mp_conn_close(k->a);
    if (mp_conn_send_bytes(k->b, "first", 5) != MP_OK)
        return 100;
    unsigned char *msg = malloc(STUCK_SIZE);
    if (!msg)
        return 101;
    pattern(msg, STUCK_SIZE, 5);
    mp_event_set(k->sending);
    mp_status s = mp_conn_send_bytes(k->b, msg, STUCK_SIZE);
    free(msg);
    return (int)s;
}

/* Holds the receiving end, reads nothing, and is killed. */
static int child_recv_idle(void *arg)
{
    struct stuck_send *k = arg;
    if (mp_conn_close(k->b) != MP_OK)
        return 1;
    mp_event_set(k->ready);
    for (;;)
        pause();
}

static void stuck_new(struct stuck_send *k)
{
    new_pipe(&k->a, &k->b, false);
    MP_ASSERT_OK(mp_event_new(&k->ready));
    MP_ASSERT_OK(mp_event_new(&k->sending));
}

static void stuck_free(struct stuck_send *k)
{
    mp_event_free(k->ready);
    mp_event_free(k->sending);
    mp_conn_free(k->a);
    mp_conn_free(k->b);
}

MPT_TEST(pipe, PIPE_SEND_PEER_KILLED,
         "PIPE-SEND-PEER-KILLED: a sender blocked in a large send gets MP_EOF promptly when the "
         "receiver is SIGKILLed; SIGPIPE does not kill it")
{
    struct stuck_send k;
    stuck_new(&k);
    mp_process *rx = mpt_start(child_recv_idle, &k);
    MP_ASSERT_OK(mp_event_wait(k.ready, 10.0));
    mp_process *tx = mpt_start(child_send_stuck, &k);
    /* Every other copy of the receiving end is closed: only rx holds one. */
    MP_ASSERT_OK(mp_conn_close(k.a));
    MP_ASSERT_OK(mp_conn_close(k.b));
    MP_ASSERT_OK(mp_event_wait(k.sending, 10.0));
    mpt_wait_asleep(mpt_pid(tx));
    bool alive = false;
    MP_ASSERT_OK(mp_process_is_alive(tx, &alive));
    cr_assert(alive, "the sender did not block in its send");
    MP_ASSERT_OK(mp_process_kill(rx));
    double t0 = mpt_now();
    int code = mpt_join(tx);
    cr_assert(code != -SIGPIPE, "SIGPIPE killed the sender");
    cr_assert_eq(code, MP_EOF, "the blocked send returned %s", mp_status_name((mp_status)code));
    cr_assert(mpt_now() - t0 < mpt_slack(2.0), "the sender took %.3f s", mpt_now() - t0);
    cr_assert_eq(mpt_join(rx), -SIGKILL);
    stuck_free(&k);
}

MPT_TEST(pipe, PIPE_SEND_KILLED_MID_MESSAGE,
         "PIPE-SEND-KILLED-MID-MESSAGE: a sender SIGKILLed while blocked in a large send: the "
         "earlier message arrives, then MP_EPROTO, then MP_EOF")
{
    struct stuck_send k;
    stuck_new(&k);
    mp_process *tx = mpt_start(child_send_stuck, &k);
    MP_ASSERT_OK(mp_conn_close(k.b));
    MP_ASSERT_OK(mp_event_wait(k.sending, 10.0));
    mpt_wait_asleep(mpt_pid(tx));
    MP_ASSERT_OK(mp_process_kill(tx));
    cr_assert_eq(mpt_join(tx), -SIGKILL);
    expect_str(k.a, "first");
    void *buf = NULL;
    size_t len = 0;
    MPT_ASSERT_PROMPT(mp_conn_recv_bytes(k.a, &buf, &len, 0), MP_EPROTO);
    cr_assert(buf == NULL, "part of the message was delivered");
    MPT_ASSERT_PROMPT(mp_conn_recv_bytes(k.a, &buf, &len, 0), MP_EOF);
    cr_assert(buf == NULL);
    stuck_free(&k);
}

/* ------------------------------------------------------------ framing */

MPT_TEST(
    pipe, PIPE_WIRE_FORMAT,
    "PIPE-WIRE-FORMAT: a message goes on the wire as a 4-byte big-endian length and the payload")
{
    mp_conn *a, *b;
    new_pipe(&a, &b, false);
    send_str(b, "abc");
    mp_conn_free(b);
    int fd = -1;
    MP_ASSERT_OK(mp_conn_fileno(a, &fd));
    unsigned char got[16];
    size_t n = 0;
    for (ssize_t k; n < sizeof got && (k = read(fd, got + n, sizeof got - n)) != 0;) {
        cr_assert(k > 0 || errno == EINTR, "read: %s", strerror(errno));
        if (k > 0)
            n += (size_t)k;
    }
    static const unsigned char want[7] = {0, 0, 0, 3, 'a', 'b', 'c'};
    cr_assert(n == sizeof want && memcmp(got, want, n) == 0, "%zu bytes on the wire", n);
    mp_conn_free(a);
}

MPT_TEST(pipe, PIPE_WIRE_LONG_HEADER,
         "PIPE-WIRE-LONG-HEADER: a received length of -1 followed by an 8-byte big-endian length "
         "is accepted")
{
    mp_conn *a, *b;
    new_pipe(&a, &b, false);
    static const unsigned char frame[] = {0xff, 0xff, 0xff, 0xff, 0,   0,   0,  0,
                                          0,    0,    0,    3,    'x', 'y', 'z'};
    raw_write(b, frame, sizeof frame);
    send_str(b, "next");
    expect_str(a, "xyz");
    expect_str(a, "next");
    mp_conn_free(a);
    mp_conn_free(b);
}

MPT_TEST(pipe, PIPE_MESSAGE_BOUNDARIES,
         "PIPE-MESSAGE-BOUNDARIES: messages of sizes from 0 to 300 KB arrive in order with their "
         "boundaries")
{
    mp_conn *a, *b;
    new_pipe(&a, &b, true);
    static const size_t sizes[] = {0, 1, 100, 65531, 65532, 65536, 300000, 3, 0, 70000, 5};
    enum { N = sizeof sizes / sizeof sizes[0] };
    struct sender s = {.c = b, .n = N};
    unsigned char *msgs[N];
    for (size_t i = 0; i < N; i++) {
        msgs[i] = malloc(sizes[i] + 1);
        pattern(msgs[i], sizes[i], i + 100);
        s.msg[i] = msgs[i];
        s.len[i] = sizes[i];
    }
    sender_start(&s);
    unsigned char *into = malloc(400000);
    for (size_t i = 0; i < N; i++) {
        void *buf = NULL;
        size_t len = 0;
        if (i % 2 == 0) {
            MP_ASSERT_OK(mp_conn_recv_bytes(a, &buf, &len, 0));
        } else {
            MP_ASSERT_OK(mp_conn_recv_bytes_into(a, into, 400000, 0, &len));
            buf = NULL;
        }
        cr_assert(len == sizes[i], "message %zu: %zu bytes, want %zu", i, len, sizes[i]);
        cr_assert(pattern_ok(buf ? buf : into, len, i + 100), "message %zu differs", i);
        free(buf);
    }
    sender_join(&s);
    MP_ASSERT_STATUS(mp_conn_poll(a, 0), MP_TIMEOUT);
    free(into);
    for (size_t i = 0; i < N; i++)
        free(msgs[i]);
    mp_conn_free(a);
    mp_conn_free(b);
}

MPT_TEST(pipe, PIPE_SEND_TOO_LARGE,
         "PIPE-SEND-TOO-LARGE: a message larger than MP_MSG_MAX is MP_EMSGSIZE and nothing is sent")
{
    mp_conn *a, *b;
    new_pipe(&a, &b, false);
    size_t n = MP_MSG_MAX + 1;
    /* Address space only: never touched, never committed. */
    void *p = mmap(NULL, n, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    cr_assert(p != MAP_FAILED, "mmap: %s", strerror(errno));
    MPT_ASSERT_PROMPT(mp_conn_send_bytes(b, p, n), MP_EMSGSIZE);
    MPT_ASSERT_PROMPT(mp_conn_send_bytes_range(b, p, n, 0, n), MP_EMSGSIZE);
    munmap(p, n);
    MP_ASSERT_STATUS(mp_conn_poll(a, 0), MP_TIMEOUT);
    send_str(b, "small is fine");
    expect_str(a, "small is fine");
    mp_conn_free(a);
    mp_conn_free(b);
}

MPT_TEST(pipe, PIPE_RECV_HEADER_HUGE,
         "PIPE-RECV-HEADER-HUGE: a header claiming 2^40 bytes (or MP_MSG_MAX + 1) is MP_EPROTO at "
         "once, and stays so")
{
    mp_conn *a, *b;
    new_pipe(&a, &b, false);
    static const unsigned char huge[12] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0x01, 0, 0, 0, 0, 0};
    raw_write(b, huge, sizeof huge);
    void *buf = NULL;
    size_t len = 0;
    MPT_ASSERT_PROMPT(mp_conn_recv_bytes(a, &buf, &len, 0), MP_EPROTO);
    MPT_ASSERT_PROMPT(mp_conn_recv_bytes(a, &buf, &len, 0), MP_EPROTO);
    cr_assert(buf == NULL);
    mp_conn_free(a);
    mp_conn_free(b);

    new_pipe(&a, &b, false);
    uint32_t over = (uint32_t)MP_MSG_MAX + 1;
    unsigned char h[4] = {(unsigned char)(over >> 24), (unsigned char)(over >> 16),
                          (unsigned char)(over >> 8), (unsigned char)over};
    raw_write(b, h, sizeof h);
    mp_value *v = NULL;
    MPT_ASSERT_PROMPT(mp_conn_recv(a, &v), MP_EPROTO);
    cr_assert(v == NULL);
    mp_conn_free(a);
    mp_conn_free(b);
}

MPT_TEST(pipe, PIPE_RECV_HEADER_NEGATIVE,
         "PIPE-RECV-HEADER-NEGATIVE: a header with a negative length other than -1 is MP_EPROTO")
{
    mp_conn *a, *b;
    new_pipe(&a, &b, false);
    static const unsigned char neg[8] = {0xff, 0xff, 0xff, 0xfe, 'a', 'b', 'c', 'd'};
    raw_write(b, neg, sizeof neg);
    void *buf = NULL;
    size_t len = 0;
    MPT_ASSERT_PROMPT(mp_conn_recv_bytes(a, &buf, &len, 0), MP_EPROTO);
    cr_assert(buf == NULL);
    mp_conn_free(a);
    mp_conn_free(b);
}

MPT_TEST(pipe, PIPE_RECV_TRUNCATED,
         "PIPE-RECV-TRUNCATED: a header or payload cut short by the peer's close is MP_EPROTO, "
         "then MP_EOF")
{
    /* Payload cut short. */
    mp_conn *a, *b;
    new_pipe(&a, &b, false);
    static const unsigned char part[9] = {0, 0, 0, 100, 'h', 'a', 'l', 'f', '.'};
    raw_write(b, part, sizeof part);
    mp_conn_free(b);
    void *buf = NULL;
    size_t len = 0;
    MPT_ASSERT_PROMPT(mp_conn_recv_bytes(a, &buf, &len, 0), MP_EPROTO);
    MPT_ASSERT_PROMPT(mp_conn_recv_bytes(a, &buf, &len, 0), MP_EOF);
    mp_conn_free(a);

    /* Header cut short. */
    new_pipe(&a, &b, false);
    raw_write(b, part, 2);
    mp_conn_free(b);
    mp_value *v = NULL;
    MPT_ASSERT_PROMPT(mp_conn_recv(a, &v), MP_EPROTO);
    MPT_ASSERT_PROMPT(mp_conn_recv(a, &v), MP_EOF);
    cr_assert(v == NULL && buf == NULL);
    mp_conn_free(a);

    /* A large payload cut short (larger than any read-ahead buffer), for
     * every kind of receive. */
    for (int kind = 0; kind < 3; kind++) {
        new_pipe(&a, &b, false);
        size_t claim = 150000, sent = 60000;
        unsigned char *frame = calloc(1, 4 + sent), *into = malloc(claim);
        frame[0] = (unsigned char)(claim >> 24);
        frame[1] = (unsigned char)(claim >> 16);
        frame[2] = (unsigned char)(claim >> 8);
        frame[3] = (unsigned char)claim;
        raw_write(b, frame, 4 + sent);
        mp_conn_free(b);
        if (kind == 0)
            MPT_ASSERT_PROMPT(mp_conn_recv_bytes(a, &buf, &len, 0), MP_EPROTO);
        else if (kind == 1)
            MPT_ASSERT_PROMPT(mp_conn_recv_bytes_into(a, into, claim, 0, &len), MP_EPROTO);
        else
            MPT_ASSERT_PROMPT(mp_conn_recv(a, &v), MP_EPROTO);
        MPT_ASSERT_PROMPT(mp_conn_recv_bytes(a, &buf, &len, 0), MP_EOF);
        cr_assert(v == NULL && buf == NULL);
        free(frame);
        free(into);
        mp_conn_free(a);
    }
}

/* ------------------------------------------------------------ send side */

MPT_TEST(pipe, PIPE_SEND_TO_CLOSED_PEER,
         "PIPE-SEND-TO-CLOSED-PEER: sending when the peer end is closed is MP_EOF and SIGPIPE does "
         "not kill the process")
{
    struct sigaction dfl = {.sa_handler = SIG_DFL}, old;
    sigemptyset(&dfl.sa_mask);
    sigaction(SIGPIPE, &dfl, &old); /* the default action would kill us */
    for (int duplex = 0; duplex < 2; duplex++) {
        mp_conn *a, *b;
        new_pipe(&a, &b, duplex);
        mp_conn_free(a);
        MP_ASSERT_STATUS(mp_conn_send_bytes(b, "anyone?", 7), MP_EOF);
        mp_value *v = mp_int(5);
        MP_ASSERT_STATUS(mp_conn_send(b, v), MP_EOF);
        mp_value_free(v);
        mp_conn_free(b);
    }
    sigaction(SIGPIPE, &old, NULL);
}

MPT_TEST(pipe, PIPE_SEND_BYTES_RANGE,
         "PIPE-SEND-BYTES-RANGE: send_bytes with offset and size sends exactly that slice")
{
    mp_conn *a, *b;
    new_pipe(&a, &b, true);
    const char *digits = "0123456789";
    MP_ASSERT_OK(mp_conn_send_bytes_range(b, digits, 10, 2, 3));
    MP_ASSERT_OK(mp_conn_send_bytes_range(b, digits, 10, 0, 10));
    MP_ASSERT_OK(mp_conn_send_bytes_range(b, digits, 10, 10, 0));
    MP_ASSERT_OK(mp_conn_send_bytes_range(b, digits, 10, 7, 3));
    expect_str(a, "234");
    expect_str(a, "0123456789");
    expect_str(a, "");
    expect_str(a, "789");
    mp_conn_free(a);
    mp_conn_free(b);
}

MPT_TEST(pipe, PIPE_SEND_BYTES_RANGE_INVALID,
         "PIPE-SEND-BYTES-RANGE-INVALID: offset beyond the buffer or offset + size beyond it is "
         "MP_EINVAL and sends nothing")
{
    mp_conn *a, *b;
    new_pipe(&a, &b, true);
    const char *digits = "0123456789";
    MP_ASSERT_STATUS(mp_conn_send_bytes_range(b, digits, 10, 11, 0), MP_EINVAL);
    MP_ASSERT_STATUS(mp_conn_send_bytes_range(b, digits, 10, 5, 6), MP_EINVAL);
    MP_ASSERT_STATUS(mp_conn_send_bytes_range(b, digits, 10, 5, SIZE_MAX), MP_EINVAL);
    MP_ASSERT_STATUS(mp_conn_send_bytes_range(b, digits, 10, SIZE_MAX, 2), MP_EINVAL);
    MP_ASSERT_STATUS(mp_conn_poll(a, 0), MP_TIMEOUT);
    mp_conn_free(a);
    mp_conn_free(b);
}

MPT_TEST(pipe, PIPE_NULL_ARGS,
         "PIPE-NULL-ARGS: NULL handles, output pointers and buffers (with a length) are MP_EINVAL")
{
    mp_conn *a = NULL, *b = NULL;
    MP_ASSERT_STATUS(mp_pipe(NULL, &b, true), MP_EINVAL);
    MP_ASSERT_STATUS(mp_pipe(&a, NULL, false), MP_EINVAL);
    cr_assert(a == NULL && b == NULL);
    mp_value *v = mp_int(1), *out = NULL;
    void *buf = NULL;
    size_t len = 0;
    char small[4];
    int fd;
    MP_ASSERT_STATUS(mp_conn_send(NULL, v), MP_EINVAL);
    MP_ASSERT_STATUS(mp_conn_recv(NULL, &out), MP_EINVAL);
    MP_ASSERT_STATUS(mp_conn_send_bytes(NULL, "x", 1), MP_EINVAL);
    MP_ASSERT_STATUS(mp_conn_send_bytes_range(NULL, "x", 1, 0, 1), MP_EINVAL);
    MP_ASSERT_STATUS(mp_conn_recv_bytes(NULL, &buf, &len, 0), MP_EINVAL);
    MP_ASSERT_STATUS(mp_conn_recv_bytes_into(NULL, small, 4, 0, &len), MP_EINVAL);
    MP_ASSERT_STATUS(mp_conn_poll(NULL, 0), MP_EINVAL);
    MP_ASSERT_STATUS(mp_conn_fileno(NULL, &fd), MP_EINVAL);
    MP_ASSERT_STATUS(mp_conn_close(NULL), MP_EINVAL);
    mp_conn_free(NULL);

    new_pipe(&a, &b, true);
    MP_ASSERT_STATUS(mp_conn_send(a, NULL), MP_EINVAL);
    MP_ASSERT_STATUS(mp_conn_send_bytes(a, NULL, 3), MP_EINVAL);
    MP_ASSERT_STATUS(mp_conn_send_bytes_range(a, NULL, 3, 0, 1), MP_EINVAL);
    MP_ASSERT_STATUS(mp_conn_fileno(a, NULL), MP_EINVAL);
    MP_ASSERT_STATUS(mp_conn_poll(a, NAN), MP_EINVAL);
    send_str(b, "kept");
    MP_ASSERT_STATUS(mp_conn_recv(a, NULL), MP_EINVAL);
    MP_ASSERT_STATUS(mp_conn_recv_bytes(a, NULL, &len, 0), MP_EINVAL);
    MP_ASSERT_STATUS(mp_conn_recv_bytes(a, &buf, NULL, 0), MP_EINVAL);
    MP_ASSERT_STATUS(mp_conn_recv_bytes_into(a, small, 4, 0, NULL), MP_EINVAL);
    MP_ASSERT_STATUS(mp_conn_recv_bytes_into(a, NULL, 4, 0, &len), MP_EINVAL);
    /* None of the failures consumed the message; an empty message is fine. */
    expect_str(a, "kept");
    MP_ASSERT_OK(mp_conn_send_bytes(a, NULL, 0));
    MP_ASSERT_OK(mp_conn_recv_bytes_into(b, NULL, 0, 0, &len));
    cr_assert_eq(len, 0);
    mp_value_free(v);
    mp_conn_free(a);
    mp_conn_free(b);
}

/* ------------------------------------------------------------ values */

MPT_TEST(
    pipe, PIPE_SEND_RECV_VALUES,
    "PIPE-SEND-RECV-VALUES: send/recv carry values intact; the message is the value's encoding")
{
    mp_conn *a, *b;
    new_pipe(&a, &b, true);
    mp_value *vals[5];
    vals[0] = mp_list_of(3, mp_int(42), mp_none(), mp_str("hello"));
    vals[1] = mp_dict();
    mp_dict_set(vals[1], mp_int(1), mp_str("1"));
    mp_dict_set(vals[1], mp_str("2"), mp_int(2));
    mp_dict_set(vals[1], mp_float(0.25), mp_none());
    vals[2] = mp_tuple_of(3, mp_bool(true), mp_float(-1.5), mp_bytes("\0\1\2", 3));
    unsigned char *big = malloc(200000);
    pattern(big, 200000, 3);
    vals[3] = mp_bytes(big, 200000); /* larger than any read-ahead buffer */
    vals[4] = mp_str("");
    for (int i = 0; i < 5; i++) {
        cr_assert(vals[i]);
        MP_ASSERT_OK(mp_conn_send(b, vals[i]));
        mp_value *got = NULL;
        MP_ASSERT_OK(mp_conn_recv(a, &got));
        cr_assert(mp_value_equal(got, vals[i]), "value %d changed on the way", i);
        mp_value_free(got);
    }
    /* The other direction, and recv_bytes sees the encoding. */
    MP_ASSERT_OK(mp_conn_send(a, vals[0]));
    void *enc = NULL, *buf = NULL;
    size_t enclen = 0, len = 0;
    MP_ASSERT_OK(mp_value_encode(vals[0], &enc, &enclen));
    MP_ASSERT_OK(mp_conn_recv_bytes(b, &buf, &len, 0));
    cr_assert(len == enclen && memcmp(buf, enc, len) == 0);
    free(enc);
    free(buf);
    free(big);
    for (int i = 0; i < 5; i++)
        mp_value_free(vals[i]);
    mp_conn_free(a);
    mp_conn_free(b);
}

MPT_TEST(pipe, PIPE_RECV_BAD_VALUE,
         "PIPE-RECV-BAD-VALUE: recv of a message that is not a value's encoding is MP_EPROTO and "
         "consumes it")
{
    mp_conn *a, *b;
    new_pipe(&a, &b, false);
    send_str(b, "\xc1 not an encoding");
    mp_value *v = mp_int(7), *got = NULL;
    MP_ASSERT_OK(mp_conn_send(b, v));
    MP_ASSERT_STATUS(mp_conn_recv(a, &got), MP_EPROTO);
    cr_assert(got == NULL);
    MP_ASSERT_OK(mp_conn_recv(a, &got));
    cr_assert(mp_value_equal(got, v));
    mp_value_free(got);
    mp_value_free(v);
    mp_conn_free(a);
    mp_conn_free(b);
}

/* ------------------------------------------------------------ recv_bytes */

MPT_TEST(pipe, PIPE_RECV_BYTES_MAXLENGTH,
         "PIPE-RECV-BYTES-MAXLENGTH: a message longer than maxlength is MP_EMSGSIZE; a duplex end "
         "then only sends")
{
    mp_conn *a, *b;
    new_pipe(&a, &b, true);
    send_str(b, "12345");
    send_str(b, "1234567890");
    void *buf = NULL;
    size_t len = 0;
    MP_ASSERT_OK(mp_conn_recv_bytes(a, &buf, &len, 5)); /* exactly maxlength: fine */
    cr_assert(len == 5 && memcmp(buf, "12345", 5) == 0);
    free(buf);
    buf = NULL;
    MP_ASSERT_STATUS(mp_conn_recv_bytes(a, &buf, &len, 5), MP_EMSGSIZE);
    cr_assert(buf == NULL);
    MP_ASSERT_STATUS(mp_conn_recv_bytes(a, &buf, &len, 0), MP_EACCES);
    MP_ASSERT_STATUS(mp_conn_poll(a, 0), MP_EACCES);
    send_str(a, "still sends");
    expect_str(b, "still sends");
    mp_conn_free(a);
    mp_conn_free(b);
}

MPT_TEST(pipe, PIPE_RECV_BYTES_MAXLENGTH_ONEWAY_CLOSES,
         "PIPE-RECV-BYTES-MAXLENGTH-ONEWAY-CLOSES: on a receive-only end a message longer than "
         "maxlength is MP_EMSGSIZE and closes the end")
{
    mp_conn *a, *b;
    new_pipe(&a, &b, false);
    send_str(b, "1234567890");
    void *buf = NULL;
    size_t len = 0;
    int fd = -1;
    MP_ASSERT_STATUS(mp_conn_recv_bytes(a, &buf, &len, 4), MP_EMSGSIZE);
    MP_ASSERT_STATUS(mp_conn_recv_bytes(a, &buf, &len, 0), MP_CLOSED);
    MP_ASSERT_STATUS(mp_conn_fileno(a, &fd), MP_CLOSED);
    MP_ASSERT_OK(mp_conn_close(a));
    cr_assert(buf == NULL);
    mp_conn_free(a);
    mp_conn_free(b);
}

MPT_TEST(
    pipe, PIPE_RECV_BYTES_INTO,
    "PIPE-RECV-BYTES-INTO: recv_bytes_into writes the message at buf + offset and returns its size")
{
    mp_conn *a, *b;
    new_pipe(&a, &b, true);
    send_str(b, "hello");
    send_str(b, "abc");
    char buf[16];
    memset(buf, '#', sizeof buf);
    size_t len = 0;
    MP_ASSERT_OK(mp_conn_recv_bytes_into(a, buf, sizeof buf, 3, &len));
    cr_assert_eq(len, 5);
    cr_assert(memcmp(buf, "###hello########", 16) == 0, "buffer is '%.16s'", buf);
    MP_ASSERT_OK(mp_conn_recv_bytes_into(a, buf, 8, 5, &len)); /* fills it exactly */
    cr_assert_eq(len, 3);
    cr_assert(memcmp(buf, "###heabc########", 16) == 0, "buffer is '%.16s'", buf);
    mp_conn_free(a);
    mp_conn_free(b);
}

MPT_TEST(pipe, PIPE_RECV_BYTES_INTO_OFFSET_INVALID,
         "PIPE-RECV-BYTES-INTO-OFFSET-INVALID: an offset beyond the buffer is MP_EINVAL and "
         "receives nothing")
{
    mp_conn *a, *b;
    new_pipe(&a, &b, true);
    send_str(b, "x");
    char buf[8];
    size_t len = 99;
    MP_ASSERT_STATUS(mp_conn_recv_bytes_into(a, buf, sizeof buf, 9, &len), MP_EINVAL);
    MP_ASSERT_STATUS(mp_conn_recv_bytes_into(a, buf, sizeof buf, SIZE_MAX, &len), MP_EINVAL);
    MP_ASSERT_OK(mp_conn_recv_bytes_into(a, buf, sizeof buf, 8 - 1, &len));
    cr_assert(len == 1 && buf[7] == 'x');
    mp_conn_free(a);
    mp_conn_free(b);
}

MPT_TEST(pipe, PIPE_RECV_BYTES_INTO_TOO_SMALL,
         "PIPE-RECV-BYTES-INTO-TOO-SMALL: a buffer too small is MP_EMSGSIZE with the needed size; "
         "the message is kept")
{
    mp_conn *a, *b;
    new_pipe(&a, &b, true);
    size_t bigsize = 150000; /* larger than any read-ahead buffer */
    unsigned char *bigmsg = malloc(bigsize), *bigbuf = malloc(bigsize);
    pattern(bigmsg, bigsize, 5);
    struct sender s = {.c = b, .n = 2, .msg = {"hello world", bigmsg}, .len = {11, bigsize}};
    sender_start(&s);
    char buf[16];
    size_t len = 0;
    MP_ASSERT_STATUS(mp_conn_recv_bytes_into(a, buf, 8, 0, &len), MP_EMSGSIZE);
    cr_assert_eq(len, 11);
    len = 0;
    MP_ASSERT_STATUS(mp_conn_recv_bytes_into(a, buf, 12, 2, &len), MP_EMSGSIZE);
    cr_assert_eq(len, 11);
    MP_ASSERT_OK(mp_conn_recv_bytes_into(a, buf, 16, 2, &len));
    cr_assert(len == 11 && memcmp(buf + 2, "hello world", 11) == 0);

    MP_ASSERT_STATUS(mp_conn_recv_bytes_into(a, bigbuf, bigsize - 1, 0, &len), MP_EMSGSIZE);
    cr_assert_eq(len, bigsize);
    void *got = NULL;
    MP_ASSERT_OK(mp_conn_recv_bytes(a, &got, &len, 0));
    cr_assert(len == bigsize && memcmp(got, bigmsg, bigsize) == 0);
    sender_join(&s);
    free(got);
    free(bigmsg);
    free(bigbuf);
    mp_conn_free(a);
    mp_conn_free(b);
}

/* ------------------------------------------------------------ poll, fileno */

MPT_TEST(pipe, PIPE_POLL_TIMEOUT,
         "PIPE-POLL-TIMEOUT: poll on an empty end is MP_TIMEOUT: at once for 0 or negative, never "
         "before a positive timeout")
{
    mp_conn *a, *b;
    new_pipe(&a, &b, true);
    MPT_ASSERT_PROMPT(mp_conn_poll(a, MP_NOWAIT), MP_TIMEOUT);
    MPT_ASSERT_PROMPT(mp_conn_poll(a, -1.0), MP_TIMEOUT);
    MPT_ASSERT_TIMED(mp_conn_poll(a, 0.2), MP_TIMEOUT, 0.2);
    MPT_ASSERT_TIMED(mp_conn_poll(b, 0.05), MP_TIMEOUT, 0.05);
    mp_conn_free(a);
    mp_conn_free(b);
}

MPT_TEST(pipe, PIPE_POLL_READY,
         "PIPE-POLL-READY: poll is MP_OK when a message is there or arrives in time, and does not "
         "consume it")
{
    mp_conn *a, *b;
    new_pipe(&a, &b, false);
    send_str(b, "m");
    MPT_ASSERT_PROMPT(mp_conn_poll(a, 0), MP_OK);
    MPT_ASSERT_PROMPT(mp_conn_poll(a, MP_FOREVER), MP_OK);
    expect_str(a, "m");
    MP_ASSERT_STATUS(mp_conn_poll(a, 0), MP_TIMEOUT);
    /* A message arriving while poll waits ends the wait. */
    struct sender s = {.c = b, .delay = 0.1, .n = 1, .msg = {"later"}, .len = {5}};
    sender_start(&s);
    double t0 = mpt_now();
    MP_ASSERT_OK(mp_conn_poll(a, 30.0));
    double el = mpt_now() - t0;
    sender_join(&s);
    cr_assert(el < mpt_slack(5.0), "poll waited %.3f s for a message sent after 0.1 s", el);
    expect_str(a, "later");
    mp_conn_free(a);
    mp_conn_free(b);
}

MPT_TEST(pipe, PIPE_POLL_EOF,
         "PIPE-POLL-EOF: poll is MP_OK once the peer is closed (recv then gives MP_EOF)")
{
    mp_conn *a, *b;
    new_pipe(&a, &b, true);
    mp_conn_free(b);
    MPT_ASSERT_PROMPT(mp_conn_poll(a, 0), MP_OK);
    MPT_ASSERT_PROMPT(mp_conn_poll(a, MP_FOREVER), MP_OK);
    mp_value *v = NULL;
    MP_ASSERT_STATUS(mp_conn_recv(a, &v), MP_EOF);
    mp_conn_free(a);
}

MPT_TEST(pipe, PIPE_FILENO,
         "PIPE-FILENO: fileno gives each end's descriptor, distinct, readable by poll() when a "
         "message arrives")
{
    mp_conn *a, *b;
    new_pipe(&a, &b, true);
    int fa = -1, fb = -1;
    MP_ASSERT_OK(mp_conn_fileno(a, &fa));
    MP_ASSERT_OK(mp_conn_fileno(b, &fb));
    cr_assert(fa >= 0 && fb >= 0 && fa != fb);
    struct pollfd p = {.fd = fa, .events = POLLIN};
    cr_assert_eq(poll(&p, 1, 0), 0);
    send_str(b, "ping");
    cr_assert_eq(poll(&p, 1, 10000), 1);
    cr_assert(p.revents & POLLIN);
    expect_str(a, "ping");
    mp_conn_free(a);
    mp_conn_free(b);
}
