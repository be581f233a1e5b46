/* ops_queue.c -- torture scenarios of Queue, SimpleQueue, JoinableQueue and
 * Pipe: a producer (sender) or a consumer (receiver) killed at any instant.
 *
 * Every message is a checked payload (torture.c) naming its producer and
 * sequence number; consumers count each delivery in S->seen[id][seq] and
 * check each producer's order, so a lost, duplicated, cut or mixed-up
 * message is seen.  Producer ids: 0 the victim, 1 a survivor, 2 the runner's
 * end-of-stream sentinel. */
#include "torture.h"

#include <stdio.h>
#include <stdlib.h>

enum qkind { Q_QUEUE, Q_SIMPLE, Q_JOINABLE };
static const char *const QNAME[] = {"Queue", "SimpleQueue", "JoinableQueue"};

static struct {
    enum qkind kind;
    mp_queue *q;
    size_t lmax;    /* largest message of the trial */
    long n;         /* messages of the survivor producer */
    mp_conn *a, *b; /* pipe: a receives, b sends */
} G;

static mp_status put_payload(trial *t, unsigned id, unsigned seq)
{
    size_t len = payload_len(t, G.lmax);
    unsigned char *buf = malloc(len);
    if (!buf)
        return MP_ENOMEM;
    payload_fill(buf, len, id, seq);
    mp_status s = mp_queue_put_bytes(G.q, buf, len, BOUND);
    free(buf);
    return s;
}

/* Take one message: check it, count it, check its producer's order.
 * Returns the producer id, or -1 after recording a failure. */
static int take(const char *who, void *buf, size_t len, long last[3])
{
    unsigned id, seq;
    if (payload_check(buf, len, &id, &seq) != 0) {
        child_fail("%s: a corrupt message of %zu bytes", who, len);
        return -1;
    }
    if ((long)seq <= last[id]) {
        child_fail("%s: producer %u's message %u after its message %ld", who, id, seq, last[id]);
        return -1;
    }
    last[id] = seq;
    atomic_fetch_add(&S->seen[id][seq], 1);
    return (int)id;
}

/* A consumer that survives: gets until the sentinel, then whatever is left. */
static int consumer(void *arg)
{
    (void)arg;
    long last[3] = {-1, -1, -1};
    bool end = false;
    for (;;) {
        void *buf;
        size_t len;
        mp_status s = TIMED("consumer's get",
                            mp_queue_get_bytes(G.q, &buf, &len, end ? MP_NOWAIT : BOUND));
        if (s == MP_EMPTY && end)
            return 0;
        if (s != MP_OK) {
            child_fail("consumer: get: %s%s", mp_status_name(s),
                       s == MP_EMPTY ? " (nothing within the bound)" : "");
            return 1;
        }
        int id = take("consumer", buf, len, last);
        free(buf);
        if (id < 0)
            return 1;
        if (G.kind == Q_JOINABLE && (s = mp_queue_task_done(G.q)) != MP_OK) {
            child_fail("consumer: task_done: %s", mp_status_name(s));
            return 1;
        }
        end |= id == 2;
    }
}

static int producer(void *arg)
{
    trial *t = arg;
    for (long seq = 0; seq < G.n; seq++) {
        mp_status s = TIMED("surviving producer's put", put_payload(t, 1, (unsigned)seq));
        if (s != MP_OK) {
            child_fail("surviving producer: put %ld: %s", seq, mp_status_name(s));
            return 1;
        }
    }
    return 0;
}

static int victim_producer(void *arg)
{
    trial *t = arg;
    for (long seq = 0; seq < MAXSEQ; seq++) {
        victim_tick(t, seq);
        set_phase(PH_CALL);
        mp_status s = put_payload(t, 0, (unsigned)seq);
        if (s != MP_OK) {
            child_fail("victim producer: put %ld: %s", seq, mp_status_name(s));
            return 1;
        }
        atomic_store(&S->v_done, seq);
        set_phase(PH_IDLE);
    }
    for (;;)
        pause_for(1e-3);
}

static int victim_consumer(void *arg)
{
    trial *t = arg;
    long last[3] = {-1, -1, -1};
    for (long i = 0;; i++) {
        victim_tick(t, i);
        set_phase(PH_CALL);
        void *buf;
        size_t len;
        mp_status s = mp_queue_get_bytes(G.q, &buf, &len, BOUND);
        if (s != MP_OK) {
            child_fail("victim consumer: get: %s", mp_status_name(s));
            return 1;
        }
        int id = take("victim consumer", buf, len, last);
        free(buf);
        if (id < 0)
            return 1;
        if (G.kind == Q_JOINABLE) {
            set_phase(PH_HELD); /* an item got, not yet task_done */
            set_phase(PH_CALL);
            if ((s = mp_queue_task_done(G.q)) != MP_OK) {
                child_fail("victim consumer: task_done: %s", mp_status_name(s));
                return 1;
            }
        }
        set_phase(PH_IDLE);
    }
}

static bool queue_new(trial *t, enum qkind kind)
{
    G.kind = kind;
    static const size_t lmax[] = {256, 4096, 65536};
    G.lmax = lmax[rnd(t) % 3];
    G.n = G.lmax > 4096 ? 100 : 400;
    static const long maxsize[] = {0, 1, 4};
    long m = maxsize[rnd(t) % 3];
    mp_status s = kind == Q_SIMPLE     ? mp_simple_queue_new(&G.q)
                  : kind == Q_JOINABLE ? mp_joinable_queue_new(&G.q, m)
                                       : mp_queue_new(&G.q, m);
    if (s != MP_OK) {
        fail(t, "%s_new: %s", QNAME[kind], mp_status_name(s));
        t->fatal = true;
        return false;
    }
    return true;
}

/* The end of a trial: the sentinel from a live producer reaches the
 * surviving consumer, which then drains the queue. */
static void end_stream(trial *t, mp_process *cons)
{
    unsigned char buf[16];
    payload_fill(buf, sizeof buf, 2, 0);
    mp_status s = TIMED("the runner's put", mp_queue_put_bytes(G.q, buf, sizeof buf, BOUND));
    if (s != MP_OK)
        fail(t, "the runner's put of the end marker: %s", mp_status_name(s));
    finish(t, cons, "the surviving consumer");
    if (atomic_load(&S->seen[2][0]) != 1)
        fail(t, "the end marker was delivered %d times", atomic_load(&S->seen[2][0]));
}

/* JoinableQueue: every item put must be task_done once join returns; the
 * runner stands in for a victim that died holding an item. */
static void check_join(trial *t, bool may_hold, bool holds)
{
    mp_status s;
    if (may_hold && !holds && mp_queue_join(G.q, 0.5) == MP_OK)
        return;
    if (may_hold && (s = mp_queue_task_done(G.q)) != MP_OK)
        fail(t, "task_done in place of the dead consumer: %s", mp_status_name(s));
    if ((s = TIMED("join", mp_queue_join(G.q, BOUND))) != MP_OK)
        fail(t, "join after every item was consumed: %s (victim died %s)", mp_status_name(s),
             phase_name(t->death_phase));
}

/* Producer killed [Q-KILLED-PRODUCER] [Q-KILLED-PRODUCER-ANYTIME]: its
 * messages up to the last completed put arrive once each, the one in flight
 * at most once, none after; the survivor's all arrive. */
static void queue_put_trial(trial *t, enum qkind kind)
{
    if (!queue_new(t, kind))
        return;
    mp_process *cons, *prod = NULL, *victim;
    if (spawn(t, &cons, consumer, NULL)) {
        if (spawn(t, &prod, producer, t) && spawn(t, &victim, victim_producer, t))
            kill_victim(t, victim);
        finish(t, prod, "the surviving producer");
        end_stream(t, cons);
    }
    collect_child_failures(t);
    for (long k = 0; k < G.n; k++)
        if (atomic_load(&S->seen[1][k]) != 1) {
            fail(t, "survivor's message %ld delivered %d times", k, atomic_load(&S->seen[1][k]));
            break;
        }
    if (t->killed) {
        long done = t->death_done;
        for (long k = 0; k < MAXSEQ; k++) {
            int n = atomic_load(&S->seen[0][k]);
            int lo = k <= done ? 1 : 0;
            int hi = k <= done || (k == done + 1 && t->death_phase == PH_CALL) ? 1 : 0;
            if (n < lo || n > hi) {
                fail(t,
                     "victim's message %ld delivered %d times (its last completed put: %ld, "
                     "died %s)",
                     k, n, done, phase_name(t->death_phase));
                break;
            }
        }
    }
    if (kind == Q_JOINABLE)
        check_join(t, false, false);
    mp_queue_free(G.q);
}

/* Consumer killed [Q-KILLED-CONSUMER] [Q-KILLED-CONSUMER-STREAM]: every
 * message arrives once; only one the victim was getting may be lost. */
static void queue_get_trial(trial *t, enum qkind kind)
{
    if (!queue_new(t, kind))
        return;
    mp_process *cons, *prod = NULL, *victim;
    if (spawn(t, &cons, consumer, NULL)) {
        if (spawn(t, &victim, victim_consumer, t)) { /* first, so that it gets its share */
            if (spawn(t, &prod, producer, t))
                kill_victim(t, victim);
            else
                finish(t, victim, "the victim");
        }
        finish(t, prod, "the producer");
        end_stream(t, cons);
    }
    collect_child_failures(t);
    int lost = 0;
    for (long k = 0; k < G.n; k++) {
        int n = atomic_load(&S->seen[1][k]);
        lost += n == 0;
        if (n > 1) {
            fail(t, "message %ld delivered %d times", k, n);
            break;
        }
    }
    int may_lose = t->killed && t->death_phase == PH_CALL ? 1 : 0;
    if (lost > may_lose)
        fail(t, "%d messages lost after a consumer died %s (at most %d may be)", lost,
             phase_name(t->death_phase), may_lose);
    if (kind == Q_JOINABLE)
        check_join(t, t->killed && t->death_phase != PH_IDLE,
                   t->killed && t->death_phase == PH_HELD);
    mp_queue_free(G.q);
}

void sc_queue_put(trial *t, void **ctx)
{
    (void)ctx;
    queue_put_trial(t, Q_QUEUE);
}
void sc_queue_get(trial *t, void **ctx)
{
    (void)ctx;
    queue_get_trial(t, Q_QUEUE);
}
void sc_squeue_put(trial *t, void **ctx)
{
    (void)ctx;
    queue_put_trial(t, Q_SIMPLE);
}
void sc_squeue_get(trial *t, void **ctx)
{
    (void)ctx;
    queue_get_trial(t, Q_SIMPLE);
}
void sc_jqueue_put(trial *t, void **ctx)
{
    (void)ctx;
    queue_put_trial(t, Q_JOINABLE);
}
void sc_jqueue_get(trial *t, void **ctx)
{
    (void)ctx;
    queue_get_trial(t, Q_JOINABLE);
}

/* ------------------------------------------------------------------ Pipe */
static mp_status send_payload(trial *t, unsigned id, unsigned seq)
{
    size_t len = payload_len(t, G.lmax);
    unsigned char *buf = malloc(len);
    if (!buf)
        return MP_ENOMEM;
    payload_fill(buf, len, id, seq);
    mp_status s = mp_conn_send_bytes(G.b, buf, len);
    free(buf);
    return s;
}

/* Receive one message from `id` and check it is the next one. */
static mp_status recv_next(const char *who, unsigned id)
{
    void *buf;
    size_t len;
    mp_status s = mp_conn_recv_bytes(G.a, &buf, &len, 0);
    if (s != MP_OK)
        return s;
    unsigned got_id, seq;
    long want = atomic_load(&S->r_last) + 1;
    if (payload_check(buf, len, &got_id, &seq) != 0)
        child_fail("%s: a corrupt message of %zu bytes (message %ld expected)", who, len, want);
    else if (got_id != id || (long)seq != want)
        child_fail("%s: message %u of %u where %ld of %u was due", who, seq, got_id, want, id);
    else
        atomic_store(&S->r_last, seq);
    free(buf);
    return MP_OK;
}

/* Sender killed [PIPE-SEND-KILLED-MID-MESSAGE] [PIPE-RECV-PEER-KILLED-MID-MESSAGE]:
 * the receiver gets every message sent whole, in order, then at most one
 * MP_EPROTO, then MP_EOF -- never a hang. */
static int pipe_receiver(void *arg)
{
    (void)arg;
    mp_conn_free(G.b);
    for (;;) {
        mp_status s = TIMED("receiver's poll", mp_conn_poll(G.a, BOUND));
        if (s != MP_OK) {
            child_fail("receiver: poll: %s (no message and no EOF after the sender died)",
                       mp_status_name(s));
            return 1;
        }
        s = recv_next("receiver", 0);
        if (s == MP_EOF)
            return 0;
        if (s == MP_EPROTO) {
            if (atomic_fetch_add(&S->r_eproto, 1) == 0)
                continue;
            child_fail("receiver: MP_EPROTO twice");
            return 1;
        }
        if (s != MP_OK || atomic_load(&S->r_eproto)) {
            child_fail("receiver: recv: %s%s", mp_status_name(s),
                       s == MP_OK ? " after MP_EPROTO (want MP_EOF)" : "");
            return 1;
        }
    }
}

static int pipe_victim_sender(void *arg)
{
    trial *t = arg;
    mp_conn_free(G.a);
    for (long seq = 0; seq < MAXSEQ; seq++) {
        victim_tick(t, seq);
        set_phase(PH_CALL);
        mp_status s = send_payload(t, 0, (unsigned)seq);
        if (s != MP_OK) {
            child_fail("victim sender: send %ld: %s", seq, mp_status_name(s));
            return 1;
        }
        atomic_store(&S->v_done, seq);
        set_phase(PH_IDLE);
    }
    for (;;)
        pause_for(1e-3);
}

/* Receiver killed [PIPE-SEND-PEER-KILLED]: the sender's send is MP_EOF
 * promptly, never SIGPIPE or a hang. */
static int pipe_victim_receiver(void *arg)
{
    trial *t = arg;
    mp_conn_free(G.b);
    for (long i = 0;; i++) {
        victim_tick(t, i);
        set_phase(PH_CALL);
        mp_status s = recv_next("victim receiver", 1);
        set_phase(PH_IDLE);
        if (s == MP_EOF) /* the sender is done: wait for the kill */
            for (;;)
                pause_for(1e-3);
        if (s != MP_OK) {
            child_fail("victim receiver: recv: %s", mp_status_name(s));
            return 1;
        }
    }
}

static int pipe_sender(void *arg)
{
    trial *t = arg;
    mp_conn_free(G.a);
    for (long seq = 0; seq < MAXSEQ; seq++) {
        mp_status s = TIMED("surviving sender's send", send_payload(t, 1, (unsigned)seq));
        if (s == MP_EOF)
            return 0;
        if (s != MP_OK) {
            child_fail("surviving sender: send %ld: %s", seq, mp_status_name(s));
            return 1;
        }
    }
    return 0;
}

static bool pipe_new(trial *t)
{
    static const size_t lmax[] = {256, 65536, 524288};
    G.lmax = lmax[rnd(t) % 3];
    mp_status s = mp_pipe(&G.a, &G.b, rnd(t) & 1);
    if (s != MP_OK) {
        fail(t, "pipe: %s", mp_status_name(s));
        t->fatal = true;
        return false;
    }
    return true;
}

void sc_pipe_send(trial *t, void **ctx)
{
    (void)ctx;
    if (!pipe_new(t))
        return;
    mp_process *recv, *victim = NULL;
    bool ok = spawn(t, &recv, pipe_receiver, NULL) && spawn(t, &victim, pipe_victim_sender, t);
    mp_conn_free(G.a); /* EOF needs every copy of the sender's end closed */
    mp_conn_free(G.b);
    if (ok)
        kill_victim(t, victim);
    else if (victim)
        finish(t, victim, "victim");
    finish(t, recv, "the receiver");
    collect_child_failures(t);
    long got = atomic_load(&S->r_last), done = t->death_done;
    if (t->killed) {
        long hi = t->death_phase == PH_CALL ? done + 1 : done;
        if (got < done || got > hi)
            fail(t, "received up to message %ld; the victim completed %ld (died %s)", got, done,
                 phase_name(t->death_phase));
        if (atomic_load(&S->r_eproto) && t->death_phase != PH_CALL)
            fail(t, "MP_EPROTO though the sender died between messages");
    }
}

void sc_pipe_recv(trial *t, void **ctx)
{
    (void)ctx;
    if (!pipe_new(t))
        return;
    mp_process *sender, *victim = NULL;
    bool ok = spawn(t, &sender, pipe_sender, t) && spawn(t, &victim, pipe_victim_receiver, t);
    mp_conn_free(G.a);
    mp_conn_free(G.b);
    if (ok)
        kill_victim(t, victim);
    else if (victim)
        finish(t, victim, "victim");
    finish(t, sender, "the surviving sender");
    collect_child_failures(t);
}
