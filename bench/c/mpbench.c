/* mpbench -- the workloads of bench/README.md, measured through mp.h only, so
 * that it links against ref (libmpref.a) or any IMPL.  Child processes are
 * mp_process children (the objects they use are made before start, as the
 * header prescribes); the harness's own control pipes are plain POSIX.
 * A call answering MP_ENOTSUP makes the workload "unsupported", any other
 * failure "error": never a crash.  Every workload of bench/README.md is
 * here; one whose API an implementation lacks reports "unsupported". */
#include "mp.h"
#include "../common/bench.h"

#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Built with -DMPB_WEAK_LATE_APIS (bench.mk's IMPL_B program), the calls of
 * mp.h that came later than the rest (Listener/Client, wait) are weak
 * references: a library without them (an older ref, another implementation
 * in progress, beside ref through bench/run.py --impl-b) still links, and
 * their workloads report "unsupported".  Not by default: a weak reference
 * does not pull a member out of a static archive such as libmpref.a. */
#ifdef MPB_WEAK_LATE_APIS
#pragma weak mp_client
#pragma weak mp_connection_wait
#pragma weak mp_listener_accept
#pragma weak mp_listener_address
#pragma weak mp_listener_free
#pragma weak mp_listener_new
#define MPB_HAS(f) ((f) != NULL)
#else
#define MPB_HAS(f) true
#endif

static int mpfail(mpb_res *r, const char *what, mp_status s)
{
    return mpb_fail(r, s == MP_ENOTSUP ? MPB_UNSUP : MPB_ERROR, "%s: %s: %s", what,
                    mp_status_name(s), mp_errmsg());
}

/* ------------------------------------------------------------ the state */

enum wkind { W_QSTREAM, W_QLAT, W_PSTREAM, W_PPING, W_LOCK, W_SEM, W_EVENT, W_MSET, W_CWAIT };

#define CWAIT_MAX 1024
#define PPING_MAX_PAIRS 8 /* 1 + 2 x 7 children <= MPB_MAX_CHILD */

typedef struct st st;
typedef struct child_arg {
    st *s;
    int idx;
} child_arg;

struct st {
    enum wkind kind;
    mpb_team team;
    mp_process *procs[MPB_MAX_CHILD];
    child_arg args[MPB_MAX_CHILD];
    int nproc;
    int producers, consumers;
    bool value_api;
    size_t size;
    long work_ns; /* queue.stream: each consumer's work per message (mpb_work) */
    void *payload;
    mp_value *val;
    mp_queue *q;
    mp_conn *a, *b;
    mp_conn *pa[PPING_MAX_PAIRS], *pb[PPING_MAX_PAIRS]; /* pipe.pingpong pairs 1.. */
    int pairs;
    mp_conn **wa, **wb; /* connection.wait: the parent's and the child's ends */
    mp_waitable *wv;
    int nconn;
    mp_lock *lock;
    mp_semaphore *sem;
    mp_event *e1, *e2;
    mp_event *pe1[PPING_MAX_PAIRS], *pe2[PPING_MAX_PAIRS]; /* event.pingpong pairs 1.. */
    mp_manager *m;
    mp_proxy *md, *ml;
    mp_value *mk;
    mp_process *hostile; /* manager.get_under_load: the client that floods */
    int ack[2];
};

static st *st_new(enum wkind kind)
{
    st *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->kind = kind;
    s->ack[0] = s->ack[1] = -1;
    s->team.done[0] = s->team.done[1] = -1;
    for (int i = 0; i < MPB_MAX_CHILD; i++)
        s->team.ctl[i][0] = s->team.ctl[i][1] = -1;
    return s;
}

static bool proc_alive(mpb_team *t, int i, mpb_res *r)
{
    st *s = t->owner;
    bool alive = true;
    mp_status rc = mp_process_is_alive(s->procs[i], &alive);
    if (rc != MP_OK) {
        mpfail(r, "process.is_alive", rc);
        return false;
    }
    if (alive)
        return true;
    int code = 0;
    mp_process_exitcode(s->procs[i], &code);
    mpb_fail(r, MPB_ERROR, "child %d ended in the middle of a round (exitcode %d)", i, code);
    return false;
}

static int child_main(void *arg);

/* Starts n children running child_main; every object they use exists already. */
static int spawn(st *s, int n, mpb_res *r)
{
    if (mpb_team_init(&s->team, n, r) != 0)
        return -1;
    s->team.owner = s;
    s->team.alive = proc_alive;
    for (int i = 0; i < n; i++) {
        s->args[i] = (child_arg){s, i};
        mp_status rc = mp_process_new(&s->procs[i], child_main, &s->args[i]);
        if (rc != MP_OK)
            return mpfail(r, "process.new (children run the workload)", rc);
        s->nproc = i + 1;
        rc = mp_process_start(s->procs[i]);
        if (rc != MP_OK)
            return mpfail(r, "process.start (children run the workload)", rc);
    }
    mpb_team_started(&s->team);
    return 0;
}

static void teardown(void *p)
{
    st *s = p;
    if (!s)
        return;
    if (s->hostile) {
        /* It stops at its next request once e1 is set; one request of the
         * largest kind takes milliseconds. */
        if (s->e1)
            mp_event_set(s->e1);
        if (mp_process_join(s->hostile, 30.0) == MP_TIMEOUT) {
            mp_process_kill(s->hostile);
            mp_process_join(s->hostile, 5.0);
        }
        mp_process_free(s->hostile);
    }
    if (s->nproc > 0) {
        mpb_res ignore;
        mpb_team_go(&s->team, 0, &ignore);
    }
    for (int i = 0; i < s->nproc; i++) {
        if (!s->procs[i])
            continue;
        bool started = true;
        pid_t pid = 0;
        if (mp_process_pid(s->procs[i], &pid) == MP_OK && pid == 0)
            started = false;
        if (started && mp_process_join(s->procs[i], 5.0) == MP_TIMEOUT) {
            /* A child stuck on a peer that failed. */
            mp_process_kill(s->procs[i]);
            mp_process_join(s->procs[i], 5.0);
        }
        mp_process_free(s->procs[i]);
    }
    mpb_team_close(&s->team);
    for (int j = 0; j < 2; j++)
        if (s->ack[j] >= 0)
            close(s->ack[j]);
    mp_queue_free(s->q);
    mp_conn_free(s->a);
    mp_conn_free(s->b);
    for (int i = 1; i < s->pairs; i++) {
        mp_conn_free(s->pa[i]);
        mp_conn_free(s->pb[i]);
    }
    for (int i = 0; i < s->nconn; i++) {
        mp_conn_free(s->wa[i]);
        mp_conn_free(s->wb[i]);
    }
    free(s->wa);
    free(s->wb);
    free(s->wv);
    mp_lock_free(s->lock);
    mp_semaphore_free(s->sem);
    mp_event_free(s->e1);
    mp_event_free(s->e2);
    for (int i = 1; i < PPING_MAX_PAIRS; i++) {
        mp_event_free(s->pe1[i]);
        mp_event_free(s->pe2[i]);
    }
    mp_proxy_free(s->md);
    mp_proxy_free(s->ml);
    mp_manager_free(s->m); /* after the children: they use it */
    mp_value_free(s->mk);
    mp_value_free(s->val);
    free(s->payload);
    free(s);
}

static int common_payload(st *s, mpb_res *r)
{
    s->size = (size_t)mpb_param_long("size", 64);
    s->value_api = strcmp(mpb_param_str("api", "bytes"), "value") == 0;
    s->payload = mpb_payload(s->size);
    if (!s->payload)
        return mpb_fail(r, MPB_ERROR, "out of memory");
    if (s->value_api) {
        s->val = mp_bytes(s->payload, s->size);
        if (!s->val)
            return mpb_fail(r, MPB_ERROR, "mp_bytes: out of memory");
    }
    return 0;
}

/* A received message must be the one sent: a cheap check that catches an
 * implementation returning garbage quickly. */
static int check_len(size_t got, size_t want, mpb_res *r, const char *what)
{
    if (got != want)
        return mpb_fail(r, MPB_ERROR, "%s: received %zu bytes, sent %zu", what, got, want);
    return 0;
}

static int value_check(mp_value *v, size_t want, mpb_res *r, const char *what)
{
    const void *p;
    size_t len = 0;
    mp_status rc = mp_value_get_bytes(v, &p, &len);
    if (rc != MP_OK)
        return mpfail(r, what, rc);
    return check_len(len, want, r, what);
}

/* ------------------------------------------------------------ queue */

static int queue_make(st *s, mpb_res *r)
{
    const char *kind = mpb_param_str("kind", "Queue");
    mp_status rc;
    if (strcmp(kind, "SimpleQueue") == 0)
        rc = mp_simple_queue_new(&s->q);
    else if (strcmp(kind, "Queue") == 0)
        rc = mp_queue_new(&s->q, 0);
    else
        return mpb_fail(r, MPB_ERROR, "unknown queue kind '%s'", kind);
    return rc == MP_OK ? 0 : mpfail(r, "queue.new", rc);
}

static int qstream_setup(void **out, mpb_res *r)
{
    st *s = *out = st_new(W_QSTREAM);
    if (!s)
        return mpb_fail(r, MPB_ERROR, "out of memory");
    s->producers = (int)mpb_param_long("producers", 1);
    s->consumers = (int)mpb_param_long("consumers", 1);
    if (s->producers < 1 || s->consumers < 1 || s->producers + s->consumers > MPB_MAX_CHILD)
        return mpb_fail(r, MPB_ERROR, "bad producers/consumers");
    s->work_ns = mpb_param_long("work_ns", 0);
    if (common_payload(s, r) != 0 || queue_make(s, r) != 0)
        return -1;
    return spawn(s, s->producers + s->consumers, r);
}

static int team_round(void *p, long n, int64_t *ops, mpb_res *r)
{
    st *s = p;
    (void)ops;
    if (mpb_team_go(&s->team, n, r) != 0)
        return -1;
    return mpb_team_wait(&s->team, r);
}

static void qstream_child(st *s, int idx, long n, mpb_res *r)
{
    mp_status rc = MP_OK;
    if (idx < s->producers) {
        long k = n / s->producers;
        for (long i = 0; i < k; i++) {
            rc = s->value_api ? mp_queue_put(s->q, s->val, MP_FOREVER)
                              : mp_queue_put_bytes(s->q, s->payload, s->size, MP_FOREVER);
            if (rc != MP_OK) {
                mpfail(r, s->value_api ? "queue.put" : "queue.put_bytes", rc);
                return;
            }
        }
        return;
    }
    long k = n / s->consumers;
    for (long i = 0; i < k; i++) {
        if (s->value_api) {
            mp_value *v = NULL;
            rc = mp_queue_get(s->q, &v, MP_FOREVER);
            if (rc != MP_OK) {
                mpfail(r, "queue.get", rc);
                return;
            }
            int bad = value_check(v, s->size, r, "queue.get");
            mp_value_free(v);
            if (bad)
                return;
        } else {
            void *buf = NULL;
            size_t len = 0;
            rc = mp_queue_get_bytes(s->q, &buf, &len, MP_FOREVER);
            if (rc != MP_OK) {
                mpfail(r, "queue.get_bytes", rc);
                return;
            }
            free(buf);
            if (check_len(len, s->size, r, "queue.get_bytes"))
                return;
        }
        mpb_work(s->work_ns);
    }
}

/* Empty-queue latency: the parent puts a message stamped with its send time
 * into the empty queue while the consumer child waits in get; the child
 * answers the delay over a plain pipe.  idle_us=N makes the parent pause N us
 * before each put, so that a getter that spins before sleeping is asleep by
 * then (idle_us=0: back-to-back, a spinning getter may catch it awake). */
static int qlat_setup(void **out, mpb_res *r)
{
    st *s = *out = st_new(W_QLAT);
    if (!s)
        return mpb_fail(r, MPB_ERROR, "out of memory");
    if (common_payload(s, r) != 0)
        return -1;
    if (s->size < sizeof(int64_t))
        return mpb_fail(r, MPB_ERROR, "size must be >= 8");
    if (queue_make(s, r) != 0)
        return -1;
    if (pipe2(s->ack, O_CLOEXEC) != 0)
        return mpb_fail(r, MPB_ERROR, "pipe: %s", strerror(errno));
    return spawn(s, 1, r);
}

static int ack_read(st *s, int64_t *v, mpb_res *r)
{
    if (mpb_read_full(s->ack[0], v, sizeof *v) != 0)
        return mpb_fail(r, MPB_ERROR, "ack pipe: %s", strerror(errno));
    if (*v < 0) { /* the child failed: its record follows on the done pipe */
        mpb_team_wait(&s->team, r);
        if (r->kind == MPB_OK)
            mpb_fail(r, MPB_ERROR, "child failed");
        return -1;
    }
    return 0;
}

static int qlat_round(void *p, long n, int64_t *ops, mpb_res *r)
{
    st *s = p;
    long idle = mpb_param_long("idle_us", 0);
    if (mpb_team_go(&s->team, n, r) != 0)
        return -1;
    for (long i = 0; i < n; i++) {
        if (idle > 0)
            mpb_sleep_us(idle);
        int64_t t0 = mpb_now_ns();
        memcpy(s->payload, &t0, sizeof t0);
        mp_status rc = mp_queue_put_bytes(s->q, s->payload, s->size, MP_FOREVER);
        if (rc != MP_OK)
            return mpfail(r, "queue.put_bytes", rc);
        if (ack_read(s, &ops[i], r) != 0)
            return -1;
    }
    return mpb_team_wait(&s->team, r);
}

static void qlat_child(st *s, long n, mpb_res *r)
{
    for (long i = 0; i < n; i++) {
        void *buf = NULL;
        size_t len = 0;
        mp_status rc = mp_queue_get_bytes(s->q, &buf, &len, MP_FOREVER);
        int64_t t1 = mpb_now_ns(), t0 = 0, d = -1;
        if (rc != MP_OK)
            mpfail(r, "queue.get_bytes", rc);
        else if (check_len(len, s->size, r, "queue.get_bytes") == 0) {
            memcpy(&t0, buf, sizeof t0);
            d = t1 - t0;
        }
        free(buf);
        mpb_write_full(s->ack[1], &d, sizeof d);
        if (d < 0)
            return;
    }
}

/* ------------------------------------------------------------ pipe */

/* transport=pipe (default): mp_pipe.  transport=unix|tcp: the two ends of
 * one Listener/Client connection (no authkey: the handshake is not part of a
 * round trip), made in the parent before the children start, so that the
 * same workload code times a Listener/Client round trip beside a Pipe's. */
static int pipe_make_into(mp_conn **a, mp_conn **b, mpb_res *r);
static int pipe_make(st *s, mpb_res *r) { return pipe_make_into(&s->a, &s->b, r); }

static int pipe_make_into(mp_conn **a, mp_conn **b, mpb_res *r)
{
    bool duplex = mpb_param_bool("duplex", true);
    const char *t = mpb_param_str("transport", "pipe");
    if (strcmp(t, "pipe") == 0) {
        mp_status rc = mp_pipe(a, b, duplex);
        return rc == MP_OK ? 0 : mpfail(r, "pipe.new", rc);
    }
    if (!duplex)
        return mpb_fail(r, MPB_ERROR, "transport=%s needs duplex=true", t);
    const char *addr = strcmp(t, "tcp") == 0 ? "tcp:127.0.0.1:0" : NULL;
    if (addr == NULL && strcmp(t, "unix") != 0)
        return mpb_fail(r, MPB_ERROR, "transport=%s: pipe, unix or tcp", t);
    if (!MPB_HAS(mp_listener_new) || !MPB_HAS(mp_listener_address) || !MPB_HAS(mp_client) ||
        !MPB_HAS(mp_listener_accept) || !MPB_HAS(mp_listener_free))
        return mpb_fail(r, MPB_UNSUP, "this library has no Listener/Client");
    mp_listener *l = NULL;
    const char *bound = NULL;
    mp_status rc = mp_listener_new(&l, addr, 1, NULL, 0);
    if (rc == MP_OK)
        rc = mp_listener_address(l, &bound);
    if (rc == MP_OK)
        rc = mp_client(b, bound, NULL, 0);
    if (rc == MP_OK)
        rc = mp_listener_accept(l, a);
    mp_listener_free(l);
    return rc == MP_OK ? 0 : mpfail(r, "Listener/Client", rc);
}

static int pstream_setup(void **out, mpb_res *r)
{
    st *s = *out = st_new(W_PSTREAM);
    if (!s)
        return mpb_fail(r, MPB_ERROR, "out of memory");
    if (common_payload(s, r) != 0 || pipe_make(s, r) != 0)
        return -1;
    return spawn(s, 2, r); /* child 0 sends on b, child 1 receives on a */
}

static int conn_recv_check(st *s, mp_conn *c, mpb_res *r, void **keep_buf, mp_value **keep_val)
{
    mp_status rc;
    if (s->value_api) {
        mp_value *v = NULL;
        rc = mp_conn_recv(c, &v);
        if (rc != MP_OK)
            return mpfail(r, "conn.recv", rc);
        int bad = value_check(v, s->size, r, "conn.recv");
        if (keep_val && !bad)
            *keep_val = v;
        else
            mp_value_free(v);
        return bad;
    }
    void *buf = NULL;
    size_t len = 0;
    rc = mp_conn_recv_bytes(c, &buf, &len, 0);
    if (rc != MP_OK)
        return mpfail(r, "conn.recv_bytes", rc);
    int bad = check_len(len, s->size, r, "conn.recv_bytes");
    if (keep_buf && !bad)
        *keep_buf = buf;
    else
        free(buf);
    return bad;
}

static int conn_send(st *s, mp_conn *c, const void *buf, const mp_value *v, mpb_res *r)
{
    mp_status rc = s->value_api ? mp_conn_send(c, v) : mp_conn_send_bytes(c, buf, s->size);
    return rc == MP_OK ? 0 : mpfail(r, s->value_api ? "conn.send" : "conn.send_bytes", rc);
}

static void pstream_child(st *s, int idx, long n, mpb_res *r)
{
    for (long i = 0; i < n; i++)
        if (idx == 0 ? conn_send(s, s->b, s->payload, s->val, r)
                     : conn_recv_check(s, s->a, r, NULL, NULL))
            return;
}

static int pping_setup(void **out, mpb_res *r)
{
    st *s = *out = st_new(W_PPING);
    if (!s)
        return mpb_fail(r, MPB_ERROR, "out of memory");
    if (!mpb_param_bool("duplex", true))
        return mpb_fail(r, MPB_ERROR, "pipe.pingpong needs duplex=true");
    s->pairs = (int)mpb_param_long("pairs", 1);
    if (s->pairs < 1 || s->pairs > PPING_MAX_PAIRS)
        return mpb_fail(r, MPB_ERROR, "pairs=%d: 1..%d", s->pairs, PPING_MAX_PAIRS);
    if (common_payload(s, r) != 0 || pipe_make(s, r) != 0)
        return -1;
    for (int k = 1; k < s->pairs; k++)
        if (pipe_make_into(&s->pa[k], &s->pb[k], r) != 0)
            return -1;
    /* Child 0 echoes on b while the parent times on a; pairs=P adds P-1
     * pairs of children running the same ping-pong at the same time (child
     * 2k-1 pings on pa[k], child 2k echoes on pb[k]), each n round trips a
     * round: the parent's pair is timed among P busy pairs. */
    return spawn(s, 2 * s->pairs - 1, r);
}

static int pping_round(void *p, long n, int64_t *ops, mpb_res *r)
{
    st *s = p;
    if (mpb_team_go(&s->team, n, r) != 0)
        return -1;
    for (long i = 0; i < n; i++) {
        int64_t t0 = mpb_now_ns();
        if (conn_send(s, s->a, s->payload, s->val, r) != 0)
            goto fail;
        if (conn_recv_check(s, s->a, r, NULL, NULL) != 0)
            goto fail;
        ops[i] = mpb_now_ns() - t0;
    }
    return mpb_team_wait(&s->team, r);
fail:
    /* The child may have reported why (e.g. its recv failed first). */
    return -1;
}

static void pping_child(st *s, int idx, long n, mpb_res *r)
{
    mp_conn *echo = idx == 0 ? s->b : s->pb[(idx + 1) / 2];
    if (idx % 2 == 1) { /* the pinger of pair (idx + 1) / 2 */
        mp_conn *a = s->pa[(idx + 1) / 2];
        for (long i = 0; i < n; i++)
            if (conn_send(s, a, s->payload, s->val, r) != 0 ||
                conn_recv_check(s, a, r, NULL, NULL) != 0)
                return;
        return;
    }
    for (long i = 0; i < n; i++) {
        void *buf = NULL;
        mp_value *v = NULL;
        if (conn_recv_check(s, echo, r, &buf, &v) != 0)
            return;
        int bad = conn_send(s, echo, buf, v, r);
        free(buf);
        mp_value_free(v);
        if (bad)
            return;
    }
}

/* ------------------------------------------------------------ wait */

/* connection.wait: conns=N duplex Pipes; per operation the parent sends on
 * pipe i (round robin), waits over all N of its ends, receives the echo from
 * the one wait reported.  The child echoes on its end of pipe i. */
static int cwait_setup(void **out, mpb_res *r)
{
    st *s = *out = st_new(W_CWAIT);
    if (!s)
        return mpb_fail(r, MPB_ERROR, "out of memory");
    long n = mpb_param_long("conns", 100);
    if (n < 1 || n > CWAIT_MAX)
        return mpb_fail(r, MPB_ERROR, "conns=%ld: 1..%d", n, CWAIT_MAX);
    if (!MPB_HAS(mp_connection_wait))
        return mpb_fail(r, MPB_UNSUP, "this library has no mp_connection_wait");
    if (common_payload(s, r) != 0)
        return -1;
    s->wa = calloc((size_t)n, sizeof *s->wa);
    s->wb = calloc((size_t)n, sizeof *s->wb);
    s->wv = calloc((size_t)n, sizeof *s->wv);
    if (!s->wa || !s->wb || !s->wv)
        return mpb_fail(r, MPB_ERROR, "out of memory");
    for (long i = 0; i < n; i++) {
        mp_status rc = mp_pipe(&s->wa[i], &s->wb[i], true);
        if (rc != MP_OK)
            return mpfail(r, "pipe.new", rc);
        s->nconn = (int)i + 1;
        s->wv[i] = (mp_waitable){.conn = s->wa[i]};
    }
    return spawn(s, 1, r);
}

static int cwait_round(void *p, long n, int64_t *ops, mpb_res *r)
{
    st *s = p;
    if (mpb_team_go(&s->team, n, r) != 0)
        return -1;
    for (long i = 0; i < n; i++) {
        int k = (int)(i % s->nconn);
        int64_t t0 = mpb_now_ns();
        if (conn_send(s, s->wa[k], s->payload, s->val, r) != 0)
            return -1;
        size_t nready = 0;
        mp_status rc = mp_connection_wait(s->wv, (size_t)s->nconn, MP_FOREVER, &nready);
        if (rc != MP_OK)
            return mpfail(r, "connection.wait", rc);
        if (nready != 1 || !s->wv[k].ready)
            return mpb_fail(r, MPB_ERROR, "connection.wait: %zu ready, not pipe %d", nready, k);
        if (conn_recv_check(s, s->wa[k], r, NULL, NULL) != 0)
            return -1;
        ops[i] = mpb_now_ns() - t0;
    }
    return mpb_team_wait(&s->team, r);
}

static void cwait_child(st *s, long n, mpb_res *r)
{
    for (long i = 0; i < n; i++) {
        mp_conn *c = s->wb[i % s->nconn];
        void *buf = NULL;
        mp_value *v = NULL;
        if (conn_recv_check(s, c, r, &buf, &v) != 0)
            return;
        int bad = conn_send(s, c, buf, v, r);
        free(buf);
        mp_value_free(v);
        if (bad)
            return;
    }
}

/* ------------------------------------------------------------ sync */

static int lock_setup(void **out, mpb_res *r)
{
    st *s = *out = st_new(W_LOCK);
    if (!s)
        return mpb_fail(r, MPB_ERROR, "out of memory");
    mp_status rc = mp_lock_new(&s->lock);
    if (rc != MP_OK)
        return mpfail(r, "lock.new", rc);
    long procs = mpb_param_long("processes", 1);
    return procs > 1 ? spawn(s, (int)procs, r) : 0;
}

static int sem_setup(void **out, mpb_res *r)
{
    st *s = *out = st_new(W_SEM);
    if (!s)
        return mpb_fail(r, MPB_ERROR, "out of memory");
    mp_status rc = mp_semaphore_new(&s->sem, 1);
    if (rc != MP_OK)
        return mpfail(r, "semaphore.new", rc);
    long procs = mpb_param_long("processes", 1);
    return procs > 1 ? spawn(s, (int)procs, r) : 0;
}

static int acqrel(st *s, long n, mpb_res *r)
{
    for (long i = 0; i < n; i++) {
        mp_status rc;
        if (s->kind == W_LOCK) {
            if ((rc = mp_lock_acquire(s->lock, MP_FOREVER)) != MP_OK)
                return mpfail(r, "lock.acquire", rc);
            if ((rc = mp_lock_release(s->lock)) != MP_OK)
                return mpfail(r, "lock.release", rc);
        } else {
            if ((rc = mp_semaphore_acquire(s->sem, MP_FOREVER)) != MP_OK)
                return mpfail(r, "semaphore.acquire", rc);
            if ((rc = mp_semaphore_release(s->sem)) != MP_OK)
                return mpfail(r, "semaphore.release", rc);
        }
    }
    return 0;
}

static int sync_round(void *p, long n, int64_t *ops, mpb_res *r)
{
    st *s = p;
    if (s->nproc == 0)
        return acqrel(s, n, r);
    return team_round(p, n, ops, r);
}

static int event_setup(void **out, mpb_res *r)
{
    st *s = *out = st_new(W_EVENT);
    if (!s)
        return mpb_fail(r, MPB_ERROR, "out of memory");
    s->pairs = (int)mpb_param_long("pairs", 1);
    if (s->pairs < 1 || s->pairs > PPING_MAX_PAIRS)
        return mpb_fail(r, MPB_ERROR, "pairs=%d: 1..%d", s->pairs, PPING_MAX_PAIRS);
    mp_status rc = mp_event_new(&s->e1);
    if (rc == MP_OK)
        rc = mp_event_new(&s->e2);
    for (int k = 1; k < s->pairs && rc == MP_OK; k++) {
        rc = mp_event_new(&s->pe1[k]);
        if (rc == MP_OK)
            rc = mp_event_new(&s->pe2[k]);
    }
    if (rc != MP_OK)
        return mpfail(r, "event.new", rc);
    s->pe1[0] = s->e1;
    s->pe2[0] = s->e2;
    /* pairs=P: as pipe.pingpong, child 0 answers the parent, child 2k-1
     * pings and child 2k answers on pair k's events. */
    return spawn(s, 2 * s->pairs - 1, r);
}

/* n round trips of the pinging side on events e1 (ping) and e2 (pong); ops
 * (if not NULL) gets each one's time.  0, or fills r. */
static int event_ops(mp_event *e1, mp_event *e2, long n, int64_t *ops, mpb_res *r)
{
    for (long i = 0; i < n; i++) {
        int64_t t0 = mpb_now_ns();
        mp_status rc = mp_event_set(e1);
        if (rc != MP_OK)
            return mpfail(r, "event.set", rc);
        if ((rc = mp_event_wait(e2, MP_FOREVER)) != MP_OK)
            return mpfail(r, "event.wait", rc);
        if ((rc = mp_event_clear(e2)) != MP_OK)
            return mpfail(r, "event.clear", rc);
        if (ops)
            ops[i] = mpb_now_ns() - t0;
    }
    return 0;
}

/* Parent: set e1, wait e2, clear e2.  Child: wait e1, clear e1, set e2.  Each
 * side clears its event before the peer can set it again. */
static int event_round(void *p, long n, int64_t *ops, mpb_res *r)
{
    st *s = p;
    if (mpb_team_go(&s->team, n, r) != 0)
        return -1;
    if (event_ops(s->e1, s->e2, n, ops, r) != 0)
        return -1;
    return mpb_team_wait(&s->team, r);
}

static void event_child(st *s, int idx, long n, mpb_res *r)
{
    int k = (idx + 1) / 2;
    if (idx % 2 == 1) {
        event_ops(s->pe1[k], s->pe2[k], n, NULL, r);
        return;
    }
    for (long i = 0; i < n; i++) {
        mp_status rc = mp_event_wait(s->pe1[k], MP_FOREVER);
        if (rc != MP_OK) {
            mpfail(r, "event.wait", rc);
            return;
        }
        if ((rc = mp_event_clear(s->pe1[k])) != MP_OK) {
            mpfail(r, "event.clear", rc);
            return;
        }
        if ((rc = mp_event_set(s->pe2[k])) != MP_OK) {
            mpfail(r, "event.set", rc);
            return;
        }
    }
}

/* ------------------------------------------------------------ process */

static int trivial(void *arg)
{
    (void)arg;
    return 0;
}

static int proc_setup(void **out, mpb_res *r)
{
    (void)r;
    *out = NULL;
    return 0;
}

static int proc_round(void *p, long n, int64_t *ops, mpb_res *r)
{
    (void)p;
    for (long i = 0; i < n; i++) {
        int64_t t0 = mpb_now_ns();
        mp_process *pr = NULL;
        mp_status rc = mp_process_new(&pr, trivial, NULL);
        if (rc != MP_OK)
            return mpfail(r, "process.new", rc);
        if ((rc = mp_process_start(pr)) != MP_OK) {
            mp_process_free(pr);
            return mpfail(r, "process.start", rc);
        }
        rc = mp_process_join(pr, MP_FOREVER);
        int code = -1;
        if (rc == MP_OK)
            rc = mp_process_exitcode(pr, &code);
        mp_process_free(pr);
        if (rc != MP_OK)
            return mpfail(r, "process.join", rc);
        if (code != 0)
            return mpb_fail(r, MPB_ERROR, "process: exitcode %d, expected 0", code);
        ops[i] = mpb_now_ns() - t0;
    }
    return 0;
}

/* ------------------------------------------------------------ pool */
/* The trivial task of CPython's side (`lambda x: x`): the result is the
 * argument.  Every result is checked: apply/apply_async inside the round (as
 * CPython's side does), map and imap_unordered after the clock stops (the
 * workload's check hook; CPython's side the same), each result once. */

typedef struct pst {
    mp_pool *pool;
    int workers;
    mp_value *args; /* map/imap: [0, 1, ..., nargs-1], kept between rounds */
    long nargs;
    mp_async_result **rs;
    mp_value *res; /* map: the round's results, checked after the clock */
    int64_t *got;  /* imap_unordered: the round's results, in arrival order */
    long ngot, capgot;
} pst;

static mp_status ident(const mp_value *arg, mp_value **result)
{
    *result = mp_value_copy(arg);
    return *result ? MP_OK : MP_ENOMEM;
}

static int int_check(const mp_value *v, long want, mpb_res *r, const char *what)
{
    int64_t got = -1;
    mp_status rc = mp_value_get_int(v, &got);
    if (rc != MP_OK)
        return mpfail(r, what, rc);
    if (got != want)
        return mpb_fail(r, MPB_ERROR, "%s: result %lld, expected %ld", what, (long long)got, want);
    return 0;
}

static int pool_setup(void **out, mpb_res *r)
{
    pst *s = *out = calloc(1, sizeof *s);
    if (!s)
        return mpb_fail(r, MPB_ERROR, "out of memory");
    s->workers = (int)mpb_param_long("workers", 2);
    mp_status rc = mp_pool_new(&s->pool, s->workers, NULL, NULL, 0);
    return rc == MP_OK ? 0 : mpfail(r, "pool.new", rc);
}

static void pool_teardown(void *p)
{
    pst *s = p;
    if (!s)
        return;
    if (s->pool) {
        mp_pool_close(s->pool);
        mp_pool_join(s->pool);
        mp_pool_free(s->pool);
    }
    mp_value_free(s->args);
    mp_value_free(s->res);
    free(s->got);
    free(s->rs);
    free(s);
}

static int pool_args(pst *s, long n, mpb_res *r)
{
    if (s->args && s->nargs == n)
        return 0;
    mp_value_free(s->args);
    s->nargs = 0;
    if (!(s->args = mp_list()))
        return mpb_fail(r, MPB_ERROR, "out of memory");
    for (long i = 0; i < n; i++) {
        mp_status rc = mp_seq_append(s->args, mp_int(i));
        if (rc != MP_OK)
            return mpfail(r, "seq_append", rc);
    }
    s->nargs = n;
    return 0;
}

static int pool_prepare(void *p, long n, mpb_res *r) { return pool_args(p, n, r); }

static int pool_apply_async_round(void *p, long n, int64_t *ops, mpb_res *r)
{
    pst *s = p;
    (void)ops;
    mp_async_result **rs = realloc(s->rs, (size_t)n * sizeof *rs);
    if (!rs)
        return mpb_fail(r, MPB_ERROR, "out of memory");
    s->rs = rs;
    int bad = 0;
    long made = 0;
    for (; made < n; made++) {
        mp_value *arg = mp_int(made);
        mp_status rc = mp_pool_apply_async(s->pool, ident, arg, NULL, NULL, NULL, &rs[made]);
        mp_value_free(arg);
        if (rc != MP_OK) {
            bad = mpfail(r, "pool.apply_async", rc);
            break;
        }
    }
    for (long i = 0; i < made; i++) {
        const mp_value *v = NULL;
        mp_status rc = bad ? MP_OK : mp_async_result_get(rs[i], MP_FOREVER, &v);
        if (!bad && rc != MP_OK)
            bad = mpfail(r, "async_result.get", rc);
        else if (!bad)
            bad = int_check(v, i, r, "async_result.get");
        mp_async_result_free(rs[i]);
    }
    return bad;
}

static int pool_apply_round(void *p, long n, int64_t *ops, mpb_res *r)
{
    pst *s = p;
    for (long i = 0; i < n; i++) {
        int64_t t0 = mpb_now_ns();
        mp_value *arg = mp_int(i), *res = NULL;
        mp_status rc = mp_pool_apply(s->pool, ident, arg, &res);
        ops[i] = mpb_now_ns() - t0;
        mp_value_free(arg);
        int bad = rc != MP_OK ? mpfail(r, "pool.apply", rc) : int_check(res, i, r, "pool.apply");
        mp_value_free(res);
        if (bad)
            return -1;
    }
    return 0;
}

static int pool_map_round(void *p, long n, int64_t *ops, mpb_res *r)
{
    pst *s = p;
    (void)ops;
    (void)n;
    const char *cs = mpb_param_str("chunksize", "default");
    size_t chunk = strcmp(cs, "default") == 0 ? 0 : (size_t)strtoul(cs, NULL, 10);
    mp_value_free(s->res);
    s->res = NULL;
    mp_status rc = mp_pool_map(s->pool, ident, s->args, chunk, &s->res);
    return rc == MP_OK ? 0 : mpfail(r, "pool.map", rc);
}

/* Every result, in order: result i is i (CPython's side compares the lists). */
static int pool_map_check(void *p, long n, mpb_res *r)
{
    pst *s = p;
    size_t len = 0;
    mp_status rc = mp_seq_len(s->res, &len);
    if (rc != MP_OK)
        return mpfail(r, "pool.map: result length", rc);
    if (len != (size_t)n)
        return mpb_fail(r, MPB_ERROR, "pool.map: %zu results for %ld", len, n);
    for (long i = 0; i < n; i++) {
        const mp_value *v = NULL;
        if ((rc = mp_seq_get(s->res, i, &v)) != MP_OK)
            return mpfail(r, "pool.map: result", rc);
        if (int_check(v, i, r, "pool.map") != 0)
            return -1;
    }
    return 0;
}

static int pool_imap_unordered_round(void *p, long n, int64_t *ops, mpb_res *r)
{
    pst *s = p;
    (void)ops;
    if (s->capgot < n) {
        int64_t *g = realloc(s->got, (size_t)n * sizeof *g);
        if (!g)
            return mpb_fail(r, MPB_ERROR, "out of memory");
        s->got = g;
        s->capgot = n;
    }
    s->ngot = 0;
    mp_imap *it = NULL;
    mp_status rc = mp_pool_imap_unordered(s->pool, ident, s->args, 1, &it);
    if (rc != MP_OK)
        return mpfail(r, "pool.imap_unordered", rc);
    int bad = 0;
    for (;;) {
        mp_value *v = NULL;
        rc = mp_imap_next(it, MP_FOREVER, &v);
        if (rc == MP_EOF)
            break;
        if (rc != MP_OK) {
            bad = mpfail(r, "imap.next", rc);
            break;
        }
        int64_t x = -1;
        rc = mp_value_get_int(v, &x);
        mp_value_free(v);
        if (rc != MP_OK) {
            bad = mpfail(r, "imap.next: result", rc);
            break;
        }
        if (s->ngot == n) {
            bad = mpb_fail(r, MPB_ERROR, "imap_unordered: more than %ld results", n);
            break;
        }
        s->got[s->ngot++] = x; /* kept as CPython's side keeps its list */
    }
    mp_imap_free(it);
    return bad;
}

/* Every result exactly once: the results are a permutation of 0..n-1. */
static int pool_imap_unordered_check(void *p, long n, mpb_res *r)
{
    pst *s = p;
    if (s->ngot != n)
        return mpb_fail(r, MPB_ERROR, "imap_unordered: %ld results for %ld", s->ngot, n);
    unsigned char *seen = calloc((size_t)n, 1);
    if (!seen)
        return mpb_fail(r, MPB_ERROR, "out of memory");
    int bad = 0;
    for (long i = 0; i < n && !bad; i++) {
        int64_t x = s->got[i];
        if (x < 0 || x >= n || seen[x])
            bad = mpb_fail(r, MPB_ERROR, "imap_unordered: result %lld missing or repeated",
                           (long long)x);
        else
            seen[x] = 1;
    }
    free(seen);
    return bad;
}

static int pool_ccj_setup(void **out, mpb_res *r)
{
    (void)r;
    *out = NULL;
    return 0;
}

static int pool_ccj_round(void *p, long n, int64_t *ops, mpb_res *r)
{
    (void)p;
    int workers = (int)mpb_param_long("workers", 2);
    for (long i = 0; i < n; i++) {
        int64_t t0 = mpb_now_ns();
        mp_pool *pool = NULL;
        mp_status rc = mp_pool_new(&pool, workers, NULL, NULL, 0);
        if (rc != MP_OK)
            return mpfail(r, "pool.new", rc);
        if ((rc = mp_pool_close(pool)) == MP_OK)
            rc = mp_pool_join(pool);
        mp_pool_free(pool);
        if (rc != MP_OK)
            return mpfail(r, "pool.close/join", rc);
        ops[i] = mpb_now_ns() - t0;
    }
    return 0;
}

/* ------------------------------------------------------------ manager */
/* Operations through proxies: each is one round trip to the manager's server
 * process.  From the main process, or (dict_set processes=K) from K children
 * sharing the dict, each doing n/K of them. */

static int manager_setup(void **out, mpb_res *r)
{
    st *s = *out = st_new(W_MSET);
    if (!s)
        return mpb_fail(r, MPB_ERROR, "out of memory");
    mp_status rc = mp_manager_start(&s->m, NULL);
    if (rc != MP_OK)
        return mpfail(r, "manager.start", rc);
    if ((rc = mp_manager_dict(s->m, NULL, &s->md)) != MP_OK)
        return mpfail(r, "manager.dict", rc);
    if ((rc = mp_manager_list(s->m, NULL, &s->ml)) != MP_OK)
        return mpfail(r, "manager.list", rc);
    mp_value *one = mp_int(1);
    s->mk = mp_str("k");
    if (!one || !s->mk) {
        mp_value_free(one);
        return mpb_fail(r, MPB_ERROR, "out of memory");
    }
    rc = mp_mdict_set(s->md, s->mk, one);
    mp_value_free(one);
    return rc == MP_OK ? 0 : mpfail(r, "dict.set", rc);
}

static int mdict_set_setup(void **out, mpb_res *r)
{
    if (manager_setup(out, r) != 0)
        return -1;
    long procs = mpb_param_long("processes", 1);
    if (procs < 1 || procs > MPB_MAX_CHILD)
        return mpb_fail(r, MPB_ERROR, "bad processes");
    return procs > 1 ? spawn(*out, (int)procs, r) : 0;
}

static int mdict_sets(st *s, long n, mpb_res *r)
{
    for (long i = 0; i < n; i++) {
        mp_value *k = mp_int(i & 1023), *v = mp_int(i);
        mp_status rc = k && v ? mp_mdict_set(s->md, k, v) : MP_ENOMEM;
        mp_value_free(k);
        mp_value_free(v);
        if (rc != MP_OK)
            return mpfail(r, "dict.set", rc);
    }
    return 0;
}

static int mdict_set_round(void *p, long n, int64_t *ops, mpb_res *r)
{
    st *s = p;
    if (s->nproc == 0)
        return mdict_sets(s, n, r);
    return team_round(p, n, ops, r);
}

static int mdict_get_round(void *p, long n, int64_t *ops, mpb_res *r)
{
    st *s = p;
    (void)ops;
    for (long i = 0; i < n; i++) {
        mp_value *v = NULL;
        mp_status rc = mp_mdict_get(s->md, s->mk, &v);
        int bad = rc != MP_OK ? mpfail(r, "dict.get", rc) : int_check(v, 1, r, "dict.get");
        mp_value_free(v);
        if (bad)
            return -1;
    }
    return 0;
}

static int mlist_append_round(void *p, long n, int64_t *ops, mpb_res *r)
{
    st *s = p;
    (void)ops;
    /* l[:] = [] first, as CPython's side does: one request. */
    mp_status rc = mp_mlist_del_slice(s->ml, MP_SLICE_NONE, MP_SLICE_NONE, MP_SLICE_NONE);
    if (rc != MP_OK)
        return mpfail(r, "list.del_slice", rc);
    for (long i = 0; i < n; i++) {
        mp_value *v = mp_int(i);
        rc = v ? mp_mlist_append(s->ml, v) : MP_ENOMEM;
        mp_value_free(v);
        if (rc != MP_OK)
            return mpfail(r, "list.append", rc);
    }
    return 0;
}

/* One client's dict.get round trips while another client of the same
 * manager floods it (#15): hostile=big sends d['h'] = {i: i for i in
 * range(keys)} request after request, hostile=nan the same with NaN keys
 * (each equal only to itself: a decoder that hashes NaN by value is
 * quadratic), hostile=none is the baseline.  The flooding client starts
 * before the rounds and has finished one request before the first one; the
 * figure's p99 is what a well-behaved client suffers. */

static const char *hostile_kind(void) { return mpb_param_str("hostile", "none"); }

static mp_value *hostile_payload(const char *kind, long keys)
{
    mp_value *d = mp_dict();
    for (long i = 0; d && i < keys; i++) {
        mp_value *k = strcmp(kind, "nan") == 0 ? mp_float(NAN) : mp_int(i);
        if (mp_dict_set(d, k, mp_int(i)) != MP_OK) {
            mp_value_free(d);
            return NULL;
        }
    }
    return d;
}

/* The flooding client: e2 once its first request is answered, then on until
 * e1 is set.  Exit status 1 if a request failed. */
static int hostile_main(void *arg)
{
    st *s = arg;
    mp_value *big = hostile_payload(hostile_kind(), mpb_param_long("keys", 40000));
    mp_value *key = mp_str("h");
    if (!big || !key)
        return 1;
    for (bool first = true;; first = false) {
        if (mp_mdict_set(s->md, key, big) != MP_OK)
            return 1;
        if (first && mp_event_set(s->e2) != MP_OK)
            return 1;
        bool stop = false;
        if (mp_event_is_set(s->e1, &stop) != MP_OK)
            return 1;
        if (stop)
            break;
    }
    mp_value_free(big);
    mp_value_free(key);
    return 0;
}

static int mget_load_setup(void **out, mpb_res *r)
{
    if (manager_setup(out, r) != 0)
        return -1;
    st *s = *out;
    const char *kind = hostile_kind();
    if (strcmp(kind, "none") == 0)
        return 0;
    if (strcmp(kind, "big") != 0 && strcmp(kind, "nan") != 0)
        return mpb_fail(r, MPB_ERROR, "hostile: none, big or nan");
    mp_status rc = mp_event_new(&s->e1);
    if (rc == MP_OK)
        rc = mp_event_new(&s->e2);
    if (rc != MP_OK)
        return mpfail(r, "event.new", rc);
    if ((rc = mp_process_new(&s->hostile, hostile_main, s)) != MP_OK ||
        (rc = mp_process_start(s->hostile)) != MP_OK)
        return mpfail(r, "process (the flooding client)", rc);
    if ((rc = mp_event_wait(s->e2, 60.0)) != MP_OK)
        return mpfail(r, "the flooding client's first request", rc);
    return 0;
}

static int mget_load_round(void *p, long n, int64_t *ops, mpb_res *r)
{
    st *s = p;
    for (long i = 0; i < n; i++) {
        int64_t t0 = mpb_now_ns();
        mp_value *v = NULL;
        mp_status rc = mp_mdict_get(s->md, s->mk, &v);
        int bad = rc != MP_OK ? mpfail(r, "dict.get", rc) : int_check(v, 1, r, "dict.get");
        mp_value_free(v);
        if (bad)
            return -1;
        ops[i] = mpb_now_ns() - t0;
    }
    if (s->hostile) {
        bool alive = false;
        mp_status rc = mp_process_is_alive(s->hostile, &alive);
        if (rc != MP_OK)
            return mpfail(r, "process.is_alive", rc);
        if (!alive)
            return mpb_fail(r, MPB_ERROR, "the flooding client ended early");
    }
    return 0;
}

/* ------------------------------------------------------------ children */

static int child_main(void *arg)
{
    child_arg *ca = arg;
    st *s = ca->s;
    long n;
    while ((n = mpb_child_next(&s->team, ca->idx)) > 0) {
        mpb_res r = {.kind = MPB_OK};
        switch (s->kind) {
        case W_QSTREAM:
            qstream_child(s, ca->idx, n, &r);
            break;
        case W_QLAT:
            qlat_child(s, n, &r);
            break;
        case W_PSTREAM:
            pstream_child(s, ca->idx, n, &r);
            break;
        case W_PPING:
            pping_child(s, ca->idx, n, &r);
            break;
        case W_CWAIT:
            cwait_child(s, n, &r);
            break;
        case W_LOCK:
        case W_SEM:
            acqrel(s, n / s->team.nchild, &r);
            break;
        case W_EVENT:
            event_child(s, ca->idx, n, &r);
            break;
        case W_MSET:
            mdict_sets(s, n / s->team.nchild, &r);
            break;
        }
        mpb_child_done(&s->team, &r);
        if (r.kind != MPB_OK)
            return 1;
    }
    return 0;
}

static const mpb_workload table[] = {
    {"queue.stream", "throughput", "msg/s", 64, 256, qstream_setup, team_round, teardown, NULL,
     NULL},
    {"queue.latency", "latency", "s", 16, 64, qlat_setup, qlat_round, teardown, NULL, NULL},
    {"pipe.stream", "throughput", "msg/s", 64, 256, pstream_setup, team_round, teardown, NULL,
     NULL},
    {"pipe.pingpong", "latency", "s", 16, 64, pping_setup, pping_round, teardown, NULL, NULL},
    {"connection.wait", "latency", "s", 16, 64, cwait_setup, cwait_round, teardown, NULL, NULL},
    {"lock.acquire_release", "throughput", "ops/s", 1024, 4096, lock_setup, sync_round, teardown,
     NULL, NULL},
    {"semaphore.acquire_release", "throughput", "ops/s", 1024, 4096, sem_setup, sync_round,
     teardown, NULL, NULL},
    {"event.pingpong", "latency", "s", 16, 64, event_setup, event_round, teardown, NULL, NULL},
    {"process.start_join", "latency", "s", 4, 4, proc_setup, proc_round, NULL, NULL, NULL},
    {"pool.apply_async", "throughput", "tasks/s", 64, 100, pool_setup, pool_apply_async_round,
     pool_teardown, NULL, NULL},
    {"pool.apply", "latency", "s", 16, 32, pool_setup, pool_apply_round, pool_teardown, NULL, NULL},
    {"pool.map", "throughput", "tasks/s", 256, 400, pool_setup, pool_map_round, pool_teardown,
     pool_prepare, pool_map_check},
    {"pool.imap_unordered", "throughput", "tasks/s", 64, 100, pool_setup, pool_imap_unordered_round,
     pool_teardown, pool_prepare, pool_imap_unordered_check},
    {"pool.create_close_join", "latency", "s", 2, 1, pool_ccj_setup, pool_ccj_round, NULL, NULL,
     NULL},
    {"manager.dict_set", "throughput", "ops/s", 64, 100, mdict_set_setup, mdict_set_round, teardown,
     NULL, NULL},
    {"manager.dict_get", "throughput", "ops/s", 64, 100, manager_setup, mdict_get_round, teardown,
     NULL, NULL},
    {"manager.list_append", "throughput", "ops/s", 64, 100, manager_setup, mlist_append_round,
     teardown, NULL, NULL},
    {"manager.get_under_load", "latency", "s", 16, 64, mget_load_setup, mget_load_round, teardown,
     NULL, NULL},
};

int main(int argc, char **argv)
{
    return mpb_main(argc, argv, table, sizeof table / sizeof table[0]);
}
