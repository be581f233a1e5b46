/* connection: multiprocessing.connection's wait(), Listener and Client.
 * Children report through raw pipes (never cr_assert in a child); peers are
 * sequenced with pipes and mpt_wait_asleep, never with sleeps. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mpt.h"

#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

/* ---------------------------------------------------------------- helpers */

static void send_str(mp_conn *c, const char *s)
{
    MP_ASSERT_OK(mp_conn_send_bytes(c, s, strlen(s)));
}

static void expect_str(mp_conn *c, const char *want)
{
    void *buf = NULL;
    size_t n = 0;
    MP_ASSERT_OK(mp_conn_recv_bytes(c, &buf, &n, 0));
    cr_assert(n == strlen(want) && memcmp(buf, want, n) == 0, "received %.*s, want %s", (int)n,
              (char *)buf, want);
    free(buf);
}

static void check_ready(const mp_waitable *w, size_t n, const char *want)
{
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(w[i].ready, want[i] == '1', "object %zu: ready %d, want %c", i, w[i].ready,
                     want[i]);
}

static int g_report = -1, g_release = -1; /* child -> test, test -> child */

static void put_int(int v)
{
    while (write(g_report, &v, sizeof v) < 0 && errno == EINTR)
        ;
}

static int get_int(int fd)
{
    int v = 0;
    ssize_t k;
    while ((k = read(fd, &v, sizeof v)) < 0 && errno == EINTR)
        ;
    cr_assert_eq(k, (ssize_t)sizeof v, "the child did not report");
    return v;
}

static int wait_release(void *arg)
{
    (void)arg;
    char c;
    while (read(g_release, &c, 1) < 0 && errno == EINTR)
        ;
    return 0;
}

/* ------------------------------------------------------------------ wait */

MPT_TEST(connection, CONN_WAIT_READY_SUBSET,
         "CONN-WAIT-READY-SUBSET: wait marks exactly the connections with a message ready, and "
         "consumes nothing")
{
    mp_conn *a[4], *b[4];
    mp_waitable w[4];
    for (int i = 0; i < 4; i++) {
        MP_ASSERT_OK(mp_pipe(&a[i], &b[i], true));
        w[i] = (mp_waitable){.conn = a[i], .ready = i % 2 == 0};
    }
    send_str(b[1], "one");
    send_str(b[3], "three");
    size_t n = 0;
    MP_ASSERT_OK(mp_connection_wait(w, 4, mpt_slack(5.0), &n));
    cr_assert_eq(n, 2);
    check_ready(w, 4, "0101");
    expect_str(a[1], "one");
    expect_str(a[3], "three");
    MPT_ASSERT_PROMPT(mp_connection_wait(w, 4, 0, &n), MP_TIMEOUT);
    for (int i = 0; i < 4; i++) {
        mp_conn_free(a[i]);
        mp_conn_free(b[i]);
    }
}

MPT_TEST(connection, CONN_WAIT_EOF_READY,
         "CONN-WAIT-EOF-READY: a connection whose peer is closed is ready, and its receive then "
         "gives MP_EOF")
{
    mp_conn *a, *b, *c, *d;
    MP_ASSERT_OK(mp_pipe(&a, &b, true));
    MP_ASSERT_OK(mp_pipe(&c, &d, true));
    MP_ASSERT_OK(mp_conn_close(b));
    mp_waitable w[2] = {{.conn = c}, {.conn = a}};
    size_t n = 0;
    MPT_ASSERT_PROMPT(mp_connection_wait(w, 2, mpt_slack(5.0), &n), MP_OK);
    cr_assert_eq(n, 1);
    check_ready(w, 2, "01");
    void *buf = NULL;
    size_t len;
    MP_ASSERT_STATUS(mp_conn_recv_bytes(a, &buf, &len, 0), MP_EOF);
    mp_conn_free(a);
    mp_conn_free(b);
    mp_conn_free(c);
    mp_conn_free(d);
}

MPT_TEST(connection, CONN_WAIT_BUFFERED,
         "CONN-WAIT-BUFFERED: a message already read ahead by the connection counts as ready, "
         "though its socket is empty")
{
    mp_conn *a, *b, *c, *d;
    MP_ASSERT_OK(mp_pipe(&a, &b, true));
    MP_ASSERT_OK(mp_pipe(&c, &d, true));
    send_str(b, "first");
    send_str(b, "second");
    expect_str(a, "first");
    mp_waitable w[2] = {{.conn = c}, {.conn = a}};
    size_t n = 0;
    MPT_ASSERT_PROMPT(mp_connection_wait(w, 2, 0, &n), MP_OK);
    cr_assert_eq(n, 1);
    check_ready(w, 2, "01");
    expect_str(a, "second");
    MPT_ASSERT_PROMPT(mp_connection_wait(w, 2, 0, &n), MP_TIMEOUT);
    mp_conn_free(a);
    mp_conn_free(b);
    mp_conn_free(c);
    mp_conn_free(d);
}

MPT_TEST(connection, CONN_WAIT_SENTINEL,
         "CONN-WAIT-SENTINEL: a process sentinel waited on beside a connection becomes ready, "
         "alone, when the process ends")
{
    int rel[2];
    cr_assert(pipe2(rel, O_CLOEXEC) == 0);
    g_release = rel[0];
    mp_process *p = mpt_start(wait_release, NULL);
    mp_conn *a, *b;
    MP_ASSERT_OK(mp_pipe(&a, &b, true));
    int fd = -1;
    MP_ASSERT_OK(mp_process_sentinel(p, &fd));
    mp_waitable w[2] = {{.conn = a}, {.fd = fd}};
    size_t n = 9;
    MPT_ASSERT_TIMED(mp_connection_wait(w, 2, 0.05, &n), MP_TIMEOUT, 0.05);
    cr_assert_eq(n, 0);
    cr_assert(write(rel[1], "x", 1) == 1);
    MP_ASSERT_OK(mp_connection_wait(w, 2, MP_FOREVER, &n));
    cr_assert_eq(n, 1);
    check_ready(w, 2, "01");
    cr_assert_eq(mpt_join(p), 0);
    close(rel[0]);
    close(rel[1]);
    mp_conn_free(a);
    mp_conn_free(b);
}

MPT_TEST(connection, CONN_WAIT_FD,
         "CONN-WAIT-FD: a plain descriptor (a pipe) is ready when readable or hung up, not before")
{
    int fds[2];
    cr_assert(pipe2(fds, O_CLOEXEC) == 0);
    mp_waitable w[1] = {{.fd = fds[0]}};
    size_t n = 9;
    MPT_ASSERT_PROMPT(mp_connection_wait(w, 1, 0, &n), MP_TIMEOUT);
    cr_assert(write(fds[1], "x", 1) == 1);
    MPT_ASSERT_PROMPT(mp_connection_wait(w, 1, mpt_slack(5.0), &n), MP_OK);
    cr_assert(n == 1 && w[0].ready);
    char c;
    cr_assert(read(fds[0], &c, 1) == 1);
    MPT_ASSERT_PROMPT(mp_connection_wait(w, 1, 0, &n), MP_TIMEOUT);
    close(fds[1]);
    MPT_ASSERT_PROMPT(mp_connection_wait(w, 1, mpt_slack(5.0), &n), MP_OK);
    cr_assert(w[0].ready, "a hung-up pipe is not ready");
    close(fds[0]);
}

MPT_TEST(connection, CONN_WAIT_TIMEOUT,
         "CONN-WAIT-TIMEOUT: with nothing ready wait(t) is MP_TIMEOUT after t seconds, never "
         "earlier, every ready cleared and nready 0")
{
    mp_conn *a, *b;
    MP_ASSERT_OK(mp_pipe(&a, &b, true));
    int fds[2];
    cr_assert(pipe2(fds, O_CLOEXEC) == 0);
    const double ts[] = {0.001, 0.05, 0.3};
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) {
        mp_waitable w[2] = {{.conn = a, .ready = true}, {.fd = fds[0], .ready = true}};
        size_t n = 9;
        MPT_ASSERT_TIMED(mp_connection_wait(w, 2, ts[i], &n), MP_TIMEOUT, ts[i]);
        cr_assert_eq(n, 0);
        check_ready(w, 2, "00");
    }
    /* No objects with a finite timeout: CPython's wait([], t) sleeps t. */
    MPT_ASSERT_TIMED(mp_connection_wait(NULL, 0, 0.05, NULL), MP_TIMEOUT, 0.05);
    close(fds[0]);
    close(fds[1]);
    mp_conn_free(a);
    mp_conn_free(b);
}

MPT_TEST(connection, CONN_WAIT_ZERO_POLL,
         "CONN-WAIT-ZERO-POLL: wait with timeout 0 or negative looks once: MP_TIMEOUT at once when "
         "nothing is ready, MP_OK when something is")
{
    mp_conn *a, *b;
    MP_ASSERT_OK(mp_pipe(&a, &b, true));
    mp_waitable w[1] = {{.conn = a}};
    size_t n = 9;
    MPT_ASSERT_PROMPT(mp_connection_wait(w, 1, 0, &n), MP_TIMEOUT);
    MPT_ASSERT_PROMPT(mp_connection_wait(w, 1, -1, &n), MP_TIMEOUT);
    MPT_ASSERT_PROMPT(mp_connection_wait(w, 1, -INFINITY, &n), MP_TIMEOUT);
    send_str(b, "x");
    MPT_ASSERT_PROMPT(mp_connection_wait(w, 1, 0, &n), MP_OK);
    cr_assert(n == 1 && w[0].ready);
    MPT_ASSERT_PROMPT(mp_connection_wait(w, 1, -1, &n), MP_OK);
    mp_conn_free(a);
    mp_conn_free(b);
}

typedef struct waiter {
    mp_waitable *w;
    size_t n, nready;
    double timeout, elapsed;
    mp_status s;
    pid_t tid;
    volatile int started;
} waiter;

static void *wait_thread(void *arg)
{
    waiter *t = arg;
    t->tid = (pid_t)syscall(SYS_gettid);
    __atomic_store_n(&t->started, 1, __ATOMIC_SEQ_CST);
    double t0 = mpt_now();
    t->s = mp_connection_wait(t->w, t->n, t->timeout, &t->nready);
    t->elapsed = mpt_now() - t0;
    return NULL;
}

static pid_t start_waiter(pthread_t *th, waiter *t)
{
    cr_assert(pthread_create(th, NULL, wait_thread, t) == 0);
    while (!__atomic_load_n(&t->started, __ATOMIC_SEQ_CST))
        sched_yield();
    mpt_wait_asleep(t->tid);
    return t->tid;
}

static int send_later(void *arg)
{
    mp_conn *b = arg;
    wait_release(NULL);
    return mp_conn_send_bytes(b, "late", 4) == MP_OK ? 0 : 1;
}

MPT_TEST(connection, CONN_WAIT_FOREVER_WAKES,
         "CONN-WAIT-FOREVER-WAKES: wait with MP_FOREVER sleeps until another process sends, then "
         "returns that connection")
{
    int rel[2];
    cr_assert(pipe2(rel, O_CLOEXEC) == 0);
    g_release = rel[0];
    mp_conn *a, *b, *c, *d;
    MP_ASSERT_OK(mp_pipe(&a, &b, true));
    MP_ASSERT_OK(mp_pipe(&c, &d, true));
    mp_process *p = mpt_start(send_later, b);
    mp_waitable w[2] = {{.conn = c}, {.conn = a}};
    waiter t = {.w = w, .n = 2, .timeout = MP_FOREVER};
    pthread_t th;
    start_waiter(&th, &t);
    cr_assert(write(rel[1], "x", 1) == 1);
    pthread_join(th, NULL);
    MP_ASSERT_STATUS(t.s, MP_OK);
    cr_assert_eq(t.nready, 1);
    check_ready(w, 2, "01");
    expect_str(a, "late");
    cr_assert_eq(mpt_join(p), 0);
    close(rel[0]);
    close(rel[1]);
    mp_conn_free(a);
    mp_conn_free(b);
    mp_conn_free(c);
    mp_conn_free(d);
}

static volatile sig_atomic_t g_signals;
static void on_signal(int sig)
{
    (void)sig;
    g_signals++;
}

MPT_TEST(connection, CONN_WAIT_EINTR,
         "CONN-WAIT-EINTR: signals handled during wait (handler without SA_RESTART) neither end a "
         "timed wait early nor fail a forever wait")
{
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    cr_assert(sigaction(SIGUSR1, &sa, &old) == 0);
    mp_conn *a, *b;
    MP_ASSERT_OK(mp_pipe(&a, &b, true));
    mp_waitable w[1] = {{.conn = a}};
    /* A timed wait: signals every 5 ms from a timer aimed at this thread. */
    timer_t timer;
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = SIGUSR1;
    sev.sigev_notify_thread_id = (pid_t)syscall(SYS_gettid);
    cr_assert(timer_create(CLOCK_MONOTONIC, &sev, &timer) == 0);
    struct itimerspec its = {{0, 5000000}, {0, 5000000}};
    cr_assert(timer_settime(timer, 0, &its, NULL) == 0);
    g_signals = 0;
    size_t n = 9;
    MPT_ASSERT_TIMED(mp_connection_wait(w, 1, 0.2, &n), MP_TIMEOUT, 0.2);
    timer_delete(timer);
    cr_assert(g_signals > 0, "no signal arrived during the wait");
    /* A forever wait in a thread, signalled while asleep, then woken by data. */
    waiter t = {.w = w, .n = 1, .timeout = MP_FOREVER};
    pthread_t th;
    start_waiter(&th, &t);
    for (int i = 0; i < 3; i++) {
        pthread_kill(th, SIGUSR1);
        mpt_wait_asleep(t.tid);
    }
    send_str(b, "x");
    pthread_join(th, NULL);
    MP_ASSERT_STATUS(t.s, MP_OK);
    cr_assert(t.nready == 1 && w[0].ready);
    sigaction(SIGUSR1, &old, NULL);
    mp_conn_free(a);
    mp_conn_free(b);
}

/* ------------------------------------------------------ Listener / Client */

typedef struct client_args {
    const char *address;
    const char *key; /* NULL: no authentication */
    const char *msg;
} client_args;

/* Connects, sends msg, expects it back reversed, reports the first failing
 * status (MP_OK when all went well). */
static int client_roundtrip(void *arg)
{
    client_args *ca = arg;
    mp_conn *c = NULL;
    mp_status s = mp_client(&c, ca->address, ca->key, ca->key ? strlen(ca->key) : 0);
    if (s == MP_OK)
        s = mp_conn_send_bytes(c, ca->msg, strlen(ca->msg));
    void *buf = NULL;
    size_t n = 0;
    if (s == MP_OK)
        s = mp_conn_recv_bytes(c, &buf, &n, 0);
    size_t len = strlen(ca->msg);
    if (s == MP_OK && n != len)
        s = MP_EPROTO;
    for (size_t i = 0; s == MP_OK && i < len; i++)
        if (((char *)buf)[i] != ca->msg[len - 1 - i])
            s = MP_EPROTO;
    mp_value *v = NULL;
    if (s == MP_OK)
        s = mp_conn_recv(c, &v);
    if (s == MP_OK) {
        int64_t i = 0;
        s = mp_value_get_int(v, &i);
        if (s == MP_OK && i != 42)
            s = MP_EPROTO;
    }
    mp_value_free(v);
    free(buf);
    mp_conn_free(c);
    put_int((int)s);
    return 0;
}

/* The listener's side of client_roundtrip. */
static void serve_one(mp_listener *l, const char *msg)
{
    mp_conn *c = NULL;
    MP_ASSERT_OK(mp_listener_accept(l, &c));
    void *buf = NULL;
    size_t n = 0;
    MP_ASSERT_OK(mp_conn_recv_bytes(c, &buf, &n, 0));
    size_t len = strlen(msg);
    cr_assert(n == len && memcmp(buf, msg, n) == 0, "accepted end received %.*s", (int)n,
              (char *)buf);
    char *rev = malloc(len + 1);
    for (size_t i = 0; i < len; i++)
        rev[i] = msg[len - 1 - i];
    MP_ASSERT_OK(mp_conn_send_bytes(c, rev, len));
    mp_value *v = mp_int(42);
    MP_ASSERT_OK(mp_conn_send(c, v));
    mp_value_free(v);
    free(rev);
    free(buf);
    mp_conn_free(c);
}

static void report_pipe(int fds[2])
{
    cr_assert(pipe2(fds, O_CLOEXEC) == 0);
    g_report = fds[1];
}

static void roundtrip(const char *address, const char *lkey, const char *ckey)
{
    int rep[2];
    report_pipe(rep);
    mp_listener *l = NULL;
    MP_ASSERT_OK(mp_listener_new(&l, address, 0, lkey, lkey ? strlen(lkey) : 0));
    const char *bound = NULL;
    MP_ASSERT_OK(mp_listener_address(l, &bound));
    client_args ca = {bound, ckey, "ping from the client"};
    mp_process *p = mpt_start(client_roundtrip, &ca);
    serve_one(l, ca.msg);
    MP_ASSERT_STATUS(get_int(rep[0]), MP_OK);
    cr_assert_eq(mpt_join(p), 0);
    mp_listener_free(l);
    close(rep[0]);
    close(rep[1]);
}

MPT_TEST(connection, LSN_UNIX_ROUNDTRIP,
         "LSN-UNIX-ROUNDTRIP: a Listener at the default address (a Unix socket) accepts a Client "
         "from a child; bytes and values travel both ways")
{
    mp_listener *l = NULL;
    MP_ASSERT_OK(mp_listener_new(&l, NULL, 0, NULL, 0));
    const char *a = NULL;
    MP_ASSERT_OK(mp_listener_address(l, &a));
    cr_assert(strncmp(a, "unix:", 5) == 0, "default address %s", a);
    struct stat st;
    cr_assert(stat(a + 5, &st) == 0 && S_ISSOCK(st.st_mode), "no socket file at %s", a);
    mp_listener_free(l);
    roundtrip(NULL, NULL, NULL);
}

MPT_TEST(connection, LSN_TCP_ROUNDTRIP,
         "LSN-TCP-ROUNDTRIP: a TCP Listener on port 0 shows its real port and accepts a Client "
         "from a child; bytes and values travel both ways")
{
    mp_listener *l = NULL;
    MP_ASSERT_OK(mp_listener_new(&l, "tcp:127.0.0.1:0", 0, NULL, 0));
    const char *a = NULL;
    MP_ASSERT_OK(mp_listener_address(l, &a));
    cr_assert(strncmp(a, "tcp:127.0.0.1:", 14) == 0 && atoi(a + 14) > 0, "address %s", a);
    mp_listener_free(l);
    roundtrip("tcp:127.0.0.1:0", NULL, NULL);
}

MPT_TEST(connection, LSN_AUTHKEY_OK,
         "LSN-AUTHKEY-OK: with the same authkey on both sides the handshake passes and messages "
         "travel, over Unix and TCP")
{
    roundtrip(NULL, "secret key", "secret key");
    roundtrip("tcp:127.0.0.1:0", "secret key", "secret key");
}

MPT_TEST(connection, LSN_AUTHKEY_WRONG,
         "LSN-AUTHKEY-WRONG: a Client with a wrong authkey gets MP_EAUTH, so does the accept, and "
         "the Listener then accepts a Client with the right key")
{
    int rep[2];
    report_pipe(rep);
    mp_listener *l = NULL;
    MP_ASSERT_OK(mp_listener_new(&l, "tcp:127.0.0.1:0", 0, "right", 5));
    const char *bound = NULL;
    MP_ASSERT_OK(mp_listener_address(l, &bound));
    client_args bad = {bound, "wrong", "never"};
    mp_process *p = mpt_start(client_roundtrip, &bad);
    mp_conn *c = NULL;
    MP_ASSERT_STATUS(mp_listener_accept(l, &c), MP_EAUTH);
    cr_assert_null(c);
    MP_ASSERT_STATUS(get_int(rep[0]), MP_EAUTH);
    cr_assert_eq(mpt_join(p), 0);
    client_args good = {bound, "right", "hello again"};
    p = mpt_start(client_roundtrip, &good);
    serve_one(l, good.msg);
    MP_ASSERT_STATUS(get_int(rep[0]), MP_OK);
    cr_assert_eq(mpt_join(p), 0);
    mp_listener_free(l);
    close(rep[0]);
    close(rep[1]);
}

MPT_TEST(connection, LSN_CLOSE_UNLINKS,
         "LSN-CLOSE-UNLINKS: close removes the Unix socket file; afterwards every call is "
         "MP_CLOSED, close again MP_OK, and a Client there MP_EOS")
{
    mp_listener *l = NULL;
    MP_ASSERT_OK(mp_listener_new(&l, NULL, 0, NULL, 0));
    const char *a = NULL;
    MP_ASSERT_OK(mp_listener_address(l, &a));
    char path[256], dir[256];
    snprintf(path, sizeof path, "%s", a + 5);
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = 0;
    MP_ASSERT_OK(mp_listener_close(l));
    struct stat st;
    cr_assert(stat(path, &st) < 0 && errno == ENOENT, "the socket file %s is still there", path);
    cr_assert(stat(dir, &st) < 0 && errno == ENOENT, "the directory %s is still there", dir);
    mp_conn *c = NULL;
    int fd;
    MPT_ASSERT_PROMPT(mp_listener_accept(l, &c), MP_CLOSED);
    MP_ASSERT_STATUS(mp_listener_address(l, &a), MP_CLOSED);
    MP_ASSERT_STATUS(mp_listener_fileno(l, &fd), MP_CLOSED);
    MP_ASSERT_OK(mp_listener_close(l));
    char addr[300];
    snprintf(addr, sizeof addr, "unix:%s", path);
    MPT_ASSERT_PROMPT(mp_client(&c, addr, NULL, 0), MP_EOS);
    cr_assert_null(c);
    mp_listener_free(l);
}

MPT_TEST(connection, LSN_CLIENT_NO_LISTENER,
         "LSN-CLIENT-NO-LISTENER: a Client of an address where nothing listens (a missing Unix "
         "path, a closed TCP port) is MP_EOS at once")
{
    mp_conn *c = NULL;
    MPT_ASSERT_PROMPT(mp_client(&c, "unix:/nonexistent-mp-dir/listener", NULL, 0), MP_EOS);
    mp_listener *l = NULL;
    MP_ASSERT_OK(mp_listener_new(&l, "tcp:127.0.0.1:0", 0, NULL, 0));
    const char *a = NULL;
    MP_ASSERT_OK(mp_listener_address(l, &a));
    char addr[64];
    snprintf(addr, sizeof addr, "%s", a);
    mp_listener_free(l);
    MPT_ASSERT_PROMPT(mp_client(&c, addr, "key", 3), MP_EOS);
    cr_assert_null(c);
}

/* CPython on the other end: a Python Listener (authkey) serves a C Client,
 * refuses a C Client with a wrong key, then a Python Client talks to a C
 * Listener.  The script prints its port, then one line per step. */
static const char interop_py[] = "import sys\n"
                                 "from multiprocessing.connection import Listener, Client\n"
                                 "from multiprocessing import AuthenticationError\n"
                                 "key = b'shared secret'\n"
                                 "with Listener(('127.0.0.1', 0), authkey=key) as l:\n"
                                 "    print(l.address[1], flush=True)\n"
                                 "    with l.accept() as c:\n"
                                 "        m = c.recv_bytes()\n"
                                 "        c.send_bytes(m[::-1])\n"
                                 "        c.send_bytes(b'x' * 300000)\n"
                                 "    try:\n"
                                 "        l.accept()\n"
                                 "        print('accepted a wrong key', flush=True)\n"
                                 "    except AuthenticationError:\n"
                                 "        print('refused', flush=True)\n"
                                 "host, port = sys.argv[1].rsplit(':', 1)\n"
                                 "with Client((host[4:], int(port)), authkey=key) as c:\n"
                                 "    c.send_bytes(b'from python')\n"
                                 "    assert c.recv_bytes() == b'nohtyp morf'\n"
                                 "print('client ok', flush=True)\n";

static bool read_line(FILE *f, char *buf, size_t cap)
{
    if (!fgets(buf, (int)cap, f))
        return false;
    buf[strcspn(buf, "\n")] = 0;
    return true;
}

MPT_TEST(connection, LSN_CPYTHON_INTEROP,
         "LSN-CPYTHON-INTEROP: CPython's own Listener with an authkey serves a C Client (both "
         "ways, a 300 KB message too) and refuses a C Client with a wrong key; a CPython Client "
         "with the key talks to a C Listener")
{
    mp_listener *l = NULL;
    MP_ASSERT_OK(mp_listener_new(&l, "tcp:127.0.0.1:0", 0, "shared secret", 13));
    const char *mine = NULL;
    MP_ASSERT_OK(mp_listener_address(l, &mine));
    int out[2];
    cr_assert(pipe2(out, O_CLOEXEC) == 0);
    pid_t py = fork();
    cr_assert(py >= 0);
    if (py == 0) {
        dup2(out[1], 1);
        execlp("python3", "python3", "-c", interop_py, mine, (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    FILE *f = fdopen(out[0], "r");
    char line[128], addr[160];
    cr_assert(read_line(f, line, sizeof line), "python3 printed no port");
    snprintf(addr, sizeof addr, "tcp:127.0.0.1:%s", line);
    mp_conn *c = NULL;
    MP_ASSERT_OK(mp_client(&c, addr, "shared secret", 13));
    send_str(c, "hello from C");
    expect_str(c, "C morf olleh");
    void *buf = NULL;
    size_t n = 0;
    MP_ASSERT_OK(mp_conn_recv_bytes(c, &buf, &n, 0));
    cr_assert_eq(n, 300000);
    cr_assert(((char *)buf)[0] == 'x' && ((char *)buf)[n - 1] == 'x');
    free(buf);
    mp_conn_free(c);
    c = NULL;
    MP_ASSERT_STATUS(mp_client(&c, addr, "wrong secret", 12), MP_EAUTH);
    cr_assert_null(c);
    cr_assert(read_line(f, line, sizeof line));
    cr_assert_str_eq(line, "refused");
    mp_conn *s = NULL;
    MP_ASSERT_OK(mp_listener_accept(l, &s));
    expect_str(s, "from python");
    send_str(s, "nohtyp morf");
    cr_assert(read_line(f, line, sizeof line), "python3 ended before its client finished");
    cr_assert_str_eq(line, "client ok");
    int st = 0;
    cr_assert_eq(waitpid(py, &st, 0), py);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "python3 status %#x", st);
    fclose(f);
    mp_conn_free(s);
    mp_listener_free(l);
}

/* ------------------------------------------------------------ descriptors */

/* Read fd until EOF into buf (NUL-terminated); false on an error. */
static bool read_to_eof(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    for (;;) {
        ssize_t k = read(fd, buf + n, cap - 1 - n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return false;
        if (k == 0)
            break;
        n += (size_t)k;
        if (n == cap - 1)
            break;
    }
    buf[n] = 0;
    return true;
}

/* The child's side of CONN-FD-TRANSFER and CONN-FD-LARGE: receive a
 * descriptor on c and write "child wrote" through it; then send the read end
 * of a pipe holding "from child".  Exit status 0, or the step that failed. */
static int fd_child(mp_conn *c)
{
    int w = -1;
    if (mp_conn_recv_fd(c, &w) != MP_OK || w < 0)
        return 1;
    if (!mpt_write_all(w, "child wrote", 11) || close(w) != 0)
        return 2;
    int q[2];
    if (pipe(q) != 0 || !mpt_write_all(q[1], "from child", 10))
        return 3;
    close(q[1]);
    if (mp_conn_send_fd(c, q[0]) != MP_OK)
        return 4;
    close(q[0]);
    return 0;
}

/* Parent -> child then child -> parent over a Pipe; the parent's descriptor
 * is first moved to `at` or above (0: where pipe() put it). */
static void fd_both_ways(int at)
{
    mp_conn *a = NULL, *b = NULL;
    MP_ASSERT_OK(mp_pipe(&a, &b, true));
    int p[2];
    cr_assert(pipe2(p, O_CLOEXEC) == 0);
    if (at > 0) {
        int high = fcntl(p[1], F_DUPFD_CLOEXEC, at);
        cr_assert(high >= at, "F_DUPFD %d: %s", at, strerror(errno));
        close(p[1]);
        p[1] = high;
    }
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        close(p[1]);
        _exit(fd_child(b));
    }
    mp_conn_free(b);
    MP_ASSERT_OK(mp_conn_send_fd(a, p[1]));
    close(p[1]);
    int r = -1;
    MP_ASSERT_OK(mp_conn_recv_fd(a, &r));
    cr_assert(r >= 0);
    int st = 0;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child failed: status %#x", st);
    char buf[64];
    cr_assert(read_to_eof(p[0], buf, sizeof buf));
    cr_assert_str_eq(buf, "child wrote");
    cr_assert(read_to_eof(r, buf, sizeof buf));
    cr_assert_str_eq(buf, "from child");
    close(p[0]);
    close(r);
    mp_conn_free(a);
}

MPT_TEST(connection, CONN_FD_TRANSFER,
         "CONN-FD-TRANSFER: a descriptor sent parent -> child and child -> parent over a Pipe "
         "works on the other side")
{
    fd_both_ways(0);
}

MPT_TEST(connection, CONN_FD_LARGE,
         "CONN-FD-LARGE: a descriptor numbered above 256 is passed and works")
{
    fd_both_ways(300);
}

MPT_TEST(connection, CONN_FD_MISSING,
         "CONN-FD-MISSING: recv_fd when a byte without a descriptor arrives is MP_EPROTO, the byte "
         "consumed")
{
    mp_conn *a = NULL, *b = NULL;
    MP_ASSERT_OK(mp_pipe(&a, &b, true));
    int bfd = -1;
    MP_ASSERT_OK(mp_conn_fileno(b, &bfd));
    cr_assert(mpt_write_all(bfd, "\0", 1));
    int got = -7;
    MP_ASSERT_STATUS(mp_conn_recv_fd(a, &got), MP_EPROTO);
    cr_assert_eq(got, -7, "recv_fd wrote *fd on failure");
    send_str(b, "next");
    expect_str(a, "next");
    mp_conn_free(a);
    mp_conn_free(b);
}

MPT_TEST(connection, CONN_FD_AFTER_READAHEAD,
         "CONN-FD-AFTER-READAHEAD: messages and descriptors keep their order though a receive read "
         "ahead past the marker; one never taken is closed by free")
{
    mp_conn *a = NULL, *b = NULL;
    MP_ASSERT_OK(mp_pipe(&a, &b, true));
    int p[2], q[2];
    cr_assert(pipe2(p, O_CLOEXEC) == 0 && pipe2(q, O_CLOEXEC | O_NONBLOCK) == 0);
    send_str(b, "m1");
    send_str(b, "m2");
    MP_ASSERT_OK(mp_conn_send_fd(b, p[1]));
    send_str(b, "m3");
    MP_ASSERT_OK(mp_conn_send_fd(b, q[1]));
    send_str(b, "m4");
    mpt_closefd(&p[1]);
    mpt_closefd(&q[1]);
    /* Everything is in the socket: the first receive reads ahead. */
    expect_str(a, "m1");
    expect_str(a, "m2");
    int w = -1;
    MP_ASSERT_OK(mp_conn_recv_fd(a, &w));
    cr_assert(mpt_write_all(w, "through", 7));
    close(w);
    char buf[16];
    cr_assert(read_to_eof(p[0], buf, sizeof buf));
    cr_assert_str_eq(buf, "through");
    expect_str(a, "m3");
    /* The read of "m3" brought q[1]'s copy along; it is never taken: free
     * must close it, or q[0] would not see EOF. */
    mp_conn_free(a);
    mp_conn_free(b);
    char c;
    ssize_t k;
    while ((k = read(q[0], &c, 1)) < 0 && errno == EINTR)
        ;
    cr_assert_eq(k, 0, "the untaken descriptor is still open (read %zd, %s)", k,
                 k < 0 ? strerror(errno) : "");
    close(p[0]);
    close(q[0]);
}

static const char fd_interop_py[] = "import os, sys\n"
                                    "from multiprocessing.connection import Client\n"
                                    "from multiprocessing import reduction\n"
                                    "with Client(sys.argv[1]) as c:\n"
                                    "    assert c.recv_bytes() == b'before'\n"
                                    "    fd = reduction.recv_handle(c)\n"
                                    "    os.write(fd, b'py wrote')\n"
                                    "    os.close(fd)\n"
                                    "    c.send_bytes(b'after')\n"
                                    "    r, w = os.pipe()\n"
                                    "    os.write(w, b'from py')\n"
                                    "    os.close(w)\n"
                                    "    reduction.send_handle(c, r, os.getppid())\n"
                                    "    os.close(r)\n"
                                    "    c.send_bytes(b'last')\n"
                                    "    assert c.recv_bytes() == b'bye'\n";

MPT_TEST(
    connection, CONN_FD_CPYTHON_INTEROP,
    "CONN-FD-CPYTHON-INTEROP: CPython's reduction.recv_handle takes a descriptor a C connection "
    "sent, and a C connection takes one CPython's send_handle sent, messages around them in order")
{
    mp_listener *l = NULL;
    MP_ASSERT_OK(mp_listener_new(&l, NULL, 0, NULL, 0));
    const char *addr = NULL;
    MP_ASSERT_OK(mp_listener_address(l, &addr));
    cr_assert(strncmp(addr, "unix:", 5) == 0, "address %s", addr);
    pid_t py = fork();
    cr_assert(py >= 0);
    if (py == 0) {
        execlp("python3", "python3", "-c", fd_interop_py, addr + 5, (char *)NULL);
        _exit(127);
    }
    mp_conn *s = NULL;
    MP_ASSERT_OK(mp_listener_accept(l, &s));
    int p[2];
    cr_assert(pipe2(p, O_CLOEXEC) == 0);
    send_str(s, "before");
    MP_ASSERT_OK(mp_conn_send_fd(s, p[1]));
    mpt_closefd(&p[1]);
    expect_str(s, "after");
    int r = -1;
    MP_ASSERT_OK(mp_conn_recv_fd(s, &r));
    expect_str(s, "last");
    send_str(s, "bye");
    int st = 0;
    cr_assert_eq(waitpid(py, &st, 0), py);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "python3 status %#x", st);
    char buf[32];
    cr_assert(read_to_eof(p[0], buf, sizeof buf));
    cr_assert_str_eq(buf, "py wrote");
    cr_assert(read_to_eof(r, buf, sizeof buf));
    cr_assert_str_eq(buf, "from py");
    close(p[0]);
    close(r);
    mp_conn_free(s);
    mp_listener_free(l);
}

/* ------------------------------------------- Listener: addresses, accept */

MPT_TEST(connection, LSN_MULTIPLE_BIND,
         "LSN-MULTIPLE-BIND: a second Listener at an address already bound (a Unix path, a TCP "
         "port) is MP_EOS and the first goes on accepting")
{
    const char *addrs[] = {NULL, "tcp:127.0.0.1:0"};
    for (int i = 0; i < 2; i++) {
        mp_listener *l = NULL, *l2 = NULL;
        MP_ASSERT_OK(mp_listener_new(&l, addrs[i], 0, NULL, 0));
        const char *bound = NULL;
        MP_ASSERT_OK(mp_listener_address(l, &bound));
        MP_ASSERT_STATUS(mp_listener_new(&l2, bound, 0, NULL, 0), MP_EOS);
        cr_assert_null(l2, "a failed Listener was returned");
        mp_conn *c = NULL, *s = NULL;
        MP_ASSERT_OK(mp_client(&c, bound, NULL, 0));
        MP_ASSERT_OK(mp_listener_accept(l, &s));
        send_str(c, "still there");
        expect_str(s, "still there");
        mp_conn_free(c);
        mp_conn_free(s);
        mp_listener_free(l);
    }
}

MPT_TEST(connection, LSN_ABSTRACT_SOCKET,
         "LSN-ABSTRACT-SOCKET: a Listener at \"unix:@NAME\" (Linux's abstract namespace, CPython's "
         "'\\0NAME') reports that address, makes no file, serves a Client, and the name is free "
         "again after close")
{
    char addr[96], file[64];
    snprintf(file, sizeof file, "mpt-abstract-%d", (int)getpid());
    snprintf(addr, sizeof addr, "unix:@%s", file);
    mp_listener *l = NULL;
    MP_ASSERT_OK(mp_listener_new(&l, addr, 0, NULL, 0));
    const char *bound = NULL;
    MP_ASSERT_OK(mp_listener_address(l, &bound));
    cr_assert_str_eq(bound, addr);
    cr_assert(access(file, F_OK) != 0 && access(addr + 5, F_OK) != 0,
              "an abstract address made a file");
    mp_conn *c = NULL, *s = NULL;
    MP_ASSERT_OK(mp_client(&c, addr, NULL, 0));
    MP_ASSERT_OK(mp_listener_accept(l, &s));
    mp_value *v = mp_int(1729), *got = NULL;
    MP_ASSERT_OK(mp_conn_send(c, v));
    MP_ASSERT_OK(mp_conn_recv(s, &got));
    cr_assert(mp_value_equal(v, got));
    mp_value_free(v);
    mp_value_free(got);
    mp_conn_free(c);
    mp_conn_free(s);
    MP_ASSERT_OK(mp_listener_close(l));
    MP_ASSERT_STATUS(mp_listener_accept(l, &s), MP_CLOSED);
    mp_listener_free(l);
    /* Nothing listens there any more; the name can be bound again. */
    MP_ASSERT_STATUS(mp_client(&c, addr, NULL, 0), MP_EOS);
    MP_ASSERT_OK(mp_listener_new(&l, addr, 0, NULL, 0));
    mp_listener_free(l);
}

MPT_TEST(connection, LSN_INVALID_FAMILY,
         "LSN-INVALID-FAMILY: a Listener or Client address of an unknown family (a Windows pipe "
         "name, udp:, a bare path) is MP_EINVAL at once")
{
    const char *bad[] = {"\\\\.\\test", "\\\\.\\pipe\\x", "udp:127.0.0.1:0",
                         "/tmp/x",      "unix:",          "unix:@"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        mp_listener *l = NULL;
        mp_conn *c = NULL;
        MPT_ASSERT_PROMPT(mp_listener_new(&l, bad[i], 0, NULL, 0), MP_EINVAL);
        cr_assert_null(l, "%s: a listener was returned", bad[i]);
        MPT_ASSERT_PROMPT(mp_client(&c, bad[i], NULL, 0), MP_EINVAL);
        cr_assert_null(c, "%s: a connection was returned", bad[i]);
    }
}

/* A Client that connects, sends "hello" and closes, reporting its status. */
static int client_hello_close(void *arg)
{
    mp_conn *c = NULL;
    mp_status s = mp_client(&c, arg, NULL, 0);
    if (s == MP_OK)
        s = mp_conn_send_bytes(c, "hello", 5);
    mp_conn_free(c);
    return s == MP_OK ? 0 : 10 + (int)s;
}

MPT_TEST(connection, LSN_CLIENT_GONE_BEFORE_ACCEPT,
         "LSN-CLIENT-GONE-BEFORE-ACCEPT: a Client that connected, sent and closed (its process "
         "ended) before accept is accepted and its message received, then MP_EOF")
{
    const char *addrs[] = {NULL, "tcp:127.0.0.1:0"};
    for (int i = 0; i < 2; i++) {
        mp_listener *l = NULL;
        MP_ASSERT_OK(mp_listener_new(&l, addrs[i], 0, NULL, 0));
        const char *bound = NULL;
        MP_ASSERT_OK(mp_listener_address(l, &bound));
        mp_process *p = mpt_start(client_hello_close, (void *)bound);
        cr_assert_eq(mpt_join(p), 0, "the client failed");
        mp_conn *s = NULL;
        MP_ASSERT_OK(mp_listener_accept(l, &s));
        expect_str(s, "hello");
        void *buf = NULL;
        size_t n = 0;
        MP_ASSERT_STATUS(mp_conn_recv_bytes(s, &buf, &n, 0), MP_EOF);
        mp_conn_free(s);
        mp_listener_free(l);
    }
}

MPT_TEST(connection, LSN_CLIENT_POLL,
         "LSN-CLIENT-POLL: poll on a Client's connection sees a message the accepted end sent "
         "(Unix and TCP)")
{
    const char *addrs[] = {NULL, "tcp:127.0.0.1:0"};
    for (int i = 0; i < 2; i++) {
        mp_listener *l = NULL;
        MP_ASSERT_OK(mp_listener_new(&l, addrs[i], 0, NULL, 0));
        const char *bound = NULL;
        MP_ASSERT_OK(mp_listener_address(l, &bound));
        mp_conn *c = NULL, *s = NULL;
        MP_ASSERT_OK(mp_client(&c, bound, NULL, 0));
        MP_ASSERT_OK(mp_listener_accept(l, &s));
        MPT_ASSERT_PROMPT(mp_conn_poll(c, 0), MP_TIMEOUT);
        send_str(s, "hello");
        MPT_ASSERT_PROMPT(mp_conn_poll(c, 1.0), MP_OK);
        expect_str(c, "hello");
        mp_conn_free(c);
        mp_conn_free(s);
        mp_listener_free(l);
    }
}

typedef struct acceptor {
    mp_listener *l;
    mp_conn *out;
    mp_status s;
    pid_t tid;
    volatile int started;
} acceptor;

static void *accept_thread(void *arg)
{
    acceptor *t = arg;
    t->tid = (pid_t)syscall(SYS_gettid);
    __atomic_store_n(&t->started, 1, __ATOMIC_SEQ_CST);
    t->s = mp_listener_accept(t->l, &t->out);
    return NULL;
}

MPT_TEST(connection, LSN_ACCEPT_EINTR,
         "LSN-ACCEPT-EINTR: signals handled (no SA_RESTART) while accept is asleep neither end nor "
         "fail it, and the Client that connects after is accepted")
{
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    cr_assert(sigaction(SIGUSR1, &sa, &old) == 0);
    mp_listener *l = NULL;
    MP_ASSERT_OK(mp_listener_new(&l, NULL, 0, NULL, 0));
    const char *bound = NULL;
    MP_ASSERT_OK(mp_listener_address(l, &bound));
    acceptor t = {.l = l};
    pthread_t th;
    cr_assert(pthread_create(&th, NULL, accept_thread, &t) == 0);
    while (!__atomic_load_n(&t.started, __ATOMIC_SEQ_CST))
        sched_yield();
    mpt_wait_asleep(t.tid);
    g_signals = 0;
    for (int i = 0; i < 3; i++) {
        cr_assert(pthread_kill(th, SIGUSR1) == 0);
        mpt_wait_asleep(t.tid);
    }
    cr_assert_eq(g_signals, 3, "%d of 3 signals handled", (int)g_signals);
    cr_assert_null(t.out, "accept returned without a client");
    mp_conn *c = NULL;
    MP_ASSERT_OK(mp_client(&c, bound, NULL, 0));
    send_str(c, "after the signals");
    pthread_join(th, NULL);
    MP_ASSERT_OK(t.s);
    expect_str(t.out, "after the signals");
    sigaction(SIGUSR1, &old, NULL);
    mp_conn_free(c);
    mp_conn_free(t.out);
    mp_listener_free(l);
}
