/* ops_manager.c -- torture scenarios of the Manager: a client killed at any
 * instant of a dict set/get, a Lock acquire (as a waiter or as the holder)
 * or a Queue get -- also during its first call, which connects and
 * authenticates.  A surviving client must go on being served within the
 * bound [MGR-BLOCKED-CLIENT-NO-STALL] [MGR-SILENT-CLIENT-NO-STALL], the dead
 * client's request must be dropped [MGR-CLIENT-KILLED-LOCK-WAITER]
 * [MGR-CLIENT-KILLED-GET], and the server must free the trial's objects once
 * the runner frees its proxies [MGR-PROXY-FREE-RELEASES]. */
#include "torture.h"

#include <stdio.h>
#include <stdlib.h>

struct mgr_ctx {
    mp_manager *m;
};

static struct {
    mp_proxy *d, *lk, *q;
    bool waiter; /* mgr-lock: the victim waits for a lock the runner holds */
} G;

static mp_manager *mgr_get(trial *t, void **ctx)
{
    struct mgr_ctx *c = *ctx;
    if (!c) {
        c = calloc(1, sizeof *c);
        mp_status s = c ? mp_manager_start(&c->m, NULL) : MP_ENOMEM;
        if (s != MP_OK) {
            fail(t, "manager_start: %s (%s)", mp_status_name(s), mp_errmsg());
            t->fatal = true;
            free(c);
            return NULL;
        }
        *ctx = c;
    }
    return c->m;
}

void mgr_teardown(void *ctx)
{
    struct mgr_ctx *c = ctx;
    mp_manager_free(c->m);
    free(c);
}

/* A call that is MP_EDEAD means the server died: nothing later can pass. */
static void server_check(trial *t, mp_status s, const char *what)
{
    if (s == MP_EDEAD) {
        fail(t, "%s: MP_EDEAD -- the manager server is gone", what);
        t->fatal = true;
    }
}

/* After the trial's proxies are freed, the server holds no object of it. */
static void check_objects(trial *t, mp_manager *m)
{
    size_t n = 0;
    double end = now() + 1.0;
    mp_status s;
    while ((s = mp_manager_object_count(m, &n)) == MP_OK && n != 0 && now() < end)
        pause_for(1e-3);
    if (s != MP_OK)
        server_check(t, s, "object_count");
    if (s != MP_OK || n != 0)
        fail(t, "%zu objects left on the server after every proxy was freed (%s)", n,
             mp_status_name(s));
}

static bool value_is(const mp_value *v, unsigned want_id, long *seq)
{
    unsigned id, sq;
    if (payload_value_check(v, &id, &sq) != 0 || id != want_id)
        return false;
    *seq = sq;
    return true;
}

/* A surviving client: dict round trips on its own key until told to stop. */
static int dict_peer(void *arg)
{
    (void)arg;
    mp_value *key = mp_str("p");
    for (long i = 0; !atomic_load(&S->stop); i++) {
        mp_value *v = payload_value(1, (unsigned)(i % MAXSEQ), 64), *got = NULL;
        mp_status s = TIMED("surviving client's set", mp_mdict_set(G.d, key, v));
        if (s == MP_OK)
            s = TIMED("surviving client's get", mp_mdict_get(G.d, key, &got));
        long seq = -1;
        if (s != MP_OK || !value_is(got, 1, &seq) || seq != i % MAXSEQ) {
            child_fail("surviving client: dict set/get: %s%s", mp_status_name(s),
                       s == MP_OK ? " (a wrong or corrupt value)" : "");
            return 1;
        }
        mp_value_free(v);
        mp_value_free(got);
        atomic_fetch_add(&S->peer_ops[0], 1);
    }
    mp_value_free(key);
    return 0;
}

/* ------------------------------------------------------------- dict */
static int dict_victim(void *arg)
{
    trial *t = arg;
    mp_value *key = mp_str("v");
    for (long seq = 0; seq < MAXSEQ; seq++) {
        victim_tick(t, seq);
        mp_value *v = payload_value(0, (unsigned)seq, payload_len(t, 4096)), *got = NULL;
        set_phase(PH_CALL);
        mp_status s = mp_mdict_set(G.d, key, v);
        if (s == MP_OK) {
            atomic_store(&S->v_done, seq);
            s = mp_mdict_get(G.d, key, &got);
        }
        long back = -1;
        if (s != MP_OK || !value_is(got, 0, &back) || back != seq) {
            child_fail("victim: dict set/get: %s", mp_status_name(s));
            return 1;
        }
        set_phase(PH_IDLE);
        mp_value_free(v);
        mp_value_free(got);
    }
    for (;;)
        pause_for(1e-3);
}

/* The dead client's key holds its last completed value (or the one in
 * flight), intact; the survivor's round trips go on. */
void sc_mgr_dict(trial *t, void **ctx)
{
    mp_manager *m = mgr_get(t, ctx);
    if (!m)
        return;
    mp_status s = mp_manager_dict(m, NULL, &G.d);
    if (s != MP_OK) {
        fail(t, "manager dict: %s", mp_status_name(s));
        server_check(t, s, "dict");
        return;
    }
    mp_process *peer, *victim;
    if (spawn(t, &peer, dict_peer, NULL)) {
        if (spawn(t, &victim, dict_victim, t))
            kill_victim(t, victim);
        long base = atomic_load(&S->peer_ops[0]);
        if (!wait_peer_ops(0, base + 3) && !atomic_load(&S->child_fail))
            fail(t, "the surviving client made no progress within %.0f s", BOUND);
        atomic_store(&S->stop, 1);
        finish(t, peer, "the surviving client");
    }
    collect_child_failures(t);
    mp_value *key = mp_str("v"), *got = NULL;
    s = mp_mdict_get(G.d, key, &got);
    long done = t->death_done, seq = -1;
    long hi = t->death_phase == PH_CALL ? done + 1 : done;
    if (s == MP_EKEY) {
        if (t->killed && done >= 0)
            fail(t, "the dead client's key is gone (its set %ld had completed)", done);
    } else if (s != MP_OK) {
        fail(t, "get of the dead client's key: %s", mp_status_name(s));
        server_check(t, s, "get");
    } else if (!value_is(got, 0, &seq))
        fail(t, "the dead client's value is corrupt");
    else if (t->killed && (seq < done || seq > hi))
        fail(t,
             "the dead client's value is from set %ld; its last completed set was %ld (died "
             "%s)",
             seq, done, phase_name(t->death_phase));
    mp_value_free(got);
    mp_value_free(key);
    mp_proxy_free(G.d);
    if (!t->fatal)
        check_objects(t, m);
}

/* ------------------------------------------------------------- Lock */
static int lock_victim(void *arg)
{
    trial *t = arg;
    if (G.waiter) {
        /* One acquire of a lock the runner holds: killed in the handshake,
         * the request or the wait. */
        atomic_store(&S->started, 1);
        if (t->mode == KILL_TIMER)
            arm_kill_timer(t->usec);
        set_phase(PH_CALL);
        mp_status s = mp_mlock_acquire(G.lk, BOUND);
        child_fail("victim waiter: acquire returned %s while the runner held the lock",
                   mp_status_name(s));
        return 1;
    }
    for (long i = 0; i < 10000000; i++) {
        victim_tick(t, i);
        set_phase(PH_CALL);
        mp_status s = mp_mlock_acquire(G.lk, BOUND);
        if (s != MP_OK) {
            child_fail("victim holder: acquire: %s", mp_status_name(s));
            return 1;
        }
        set_phase(PH_HELD);
        set_phase(PH_CALL);
        if ((s = mp_mlock_release(G.lk)) != MP_OK) {
            child_fail("victim holder: release: %s", mp_status_name(s));
            return 1;
        }
        set_phase(PH_IDLE);
    }
    return 0;
}

static int lock_peer_waiter(void *arg)
{
    (void)arg;
    double t0 = now();
    mp_status s = TIMED("surviving waiter's acquire", mp_mlock_acquire(G.lk, BOUND));
    /* MP_EOWNERDEAD: the server granted the lock to the dead waiter before it
     * saw the disconnect, then passed it on [MGR-LOCK-HOLDER-DISCONNECT]. */
    if (s == MP_EOWNERDEAD)
        atomic_fetch_add(&S->ownerdead, 1);
    else if (s != MP_OK) {
        child_fail("surviving waiter: acquire: %s after %.1f s (the dead waiter was granted "
                   "the lock?)",
                   mp_status_name(s), now() - t0);
        return 1;
    }
    atomic_fetch_add(&S->peer_ops[0], 1);
    if ((s = mp_mlock_release(G.lk)) != MP_OK) {
        child_fail("surviving waiter: release: %s", mp_status_name(s));
        return 1;
    }
    return 0;
}

/* Waiter: the runner holds the lock, the victim and a survivor wait; after
 * the victim's death the runner releases and the survivor must get it.
 * Holder: the victim loops acquire/release while a survivor does dict round
 * trips; the server hands a lock the dead held to the next acquire, with
 * MP_EOWNERDEAD, and it must be free otherwise. */
void sc_mgr_lock(trial *t, void **ctx)
{
    mp_manager *m = mgr_get(t, ctx);
    if (!m)
        return;
    G.waiter = rnd(t) & 1;
    mp_status s = mp_manager_lock(m, &G.lk);
    if (s == MP_OK && (s = mp_manager_dict(m, NULL, &G.d)) != MP_OK)
        mp_proxy_free(G.lk);
    if (s != MP_OK) {
        fail(t, "manager lock/dict: %s", mp_status_name(s));
        server_check(t, s, "create");
        return;
    }
    mp_process *peer = NULL, *victim;
    if (G.waiter) {
        if ((s = mp_mlock_acquire(G.lk, BOUND)) != MP_OK)
            fail(t, "runner's acquire: %s", mp_status_name(s));
        if (spawn(t, &victim, lock_victim, t)) {
            spawn(t, &peer, lock_peer_waiter, NULL);
            kill_victim(t, victim);
        }
        if ((s = mp_mlock_release(G.lk)) != MP_OK)
            fail(t, "runner's release: %s", mp_status_name(s));
        finish(t, peer, "the surviving waiter");
        collect_child_failures(t);
        if (atomic_load(&S->ownerdead) && t->death_phase != PH_CALL)
            fail(t, "the surviving waiter got MP_EOWNERDEAD, yet the victim died %s",
                 phase_name(t->death_phase));
        if (!t->failures && (s = mp_mlock_acquire(G.lk, MP_NOWAIT)) != MP_OK)
            fail(t,
                 "the lock is not free after the survivor released it: %s (the dead waiter "
                 "holds it?)",
                 mp_status_name(s));
        else if (!t->failures)
            mp_mlock_release(G.lk);
    } else {
        if (spawn(t, &peer, dict_peer, NULL)) {
            if (spawn(t, &victim, lock_victim, t))
                kill_victim(t, victim);
            long base = atomic_load(&S->peer_ops[0]);
            if (!wait_peer_ops(0, base + 3) && !atomic_load(&S->child_fail))
                fail(t, "the surviving client made no progress within %.0f s", BOUND);
            atomic_store(&S->stop, 1);
            finish(t, peer, "the surviving client");
        }
        collect_child_failures(t);
        /* The server hands a dead client's lock on: the next acquire gets it,
         * with MP_EOWNERDEAD when the victim held it, MP_OK when it held
         * nothing, either when it died inside acquire or release
         * [MGR-LOCK-HOLDER-DISCONNECT]. */
        s = mp_mlock_acquire(G.lk, BOUND);
        bool owned = s == MP_EOWNERDEAD;
        if ((owned && t->death_phase == PH_IDLE) || (s == MP_OK && t->death_phase == PH_HELD)) {
            fail(t, "acquire after a client died %s: %s", phase_name(t->death_phase),
                 mp_status_name(s));
            mp_mlock_release(G.lk);
        } else if (s != MP_OK && !owned) {
            fail(t, "acquire after the holder's death: %s", mp_status_name(s));
            server_check(t, s, "acquire");
        } else {
            mp_mlock_release(G.lk);
        }
    }
    mp_proxy_free(G.lk);
    mp_proxy_free(G.d);
    if (!t->fatal)
        check_objects(t, m);
}

/* ------------------------------------------------------------- Queue */
#define MQ_N 200

static int mq_producer(void *arg)
{
    trial *t = arg;
    for (long seq = 0; seq <= MQ_N; seq++) {
        mp_value *v = seq < MQ_N ? payload_value(1, (unsigned)seq, payload_len(t, 1024))
                                 : payload_value(2, 0, 16);
        mp_status s = TIMED("surviving producer's put", mp_mqueue_put(G.q, v, BOUND));
        mp_value_free(v);
        if (s != MP_OK) {
            child_fail("surviving producer: put %ld: %s", seq, mp_status_name(s));
            return 1;
        }
        if (rnd(t) & 1)
            pause_for((double)rnd_range(t, 0, 300) * 1e-6); /* let the consumer block in get */
    }
    return 0;
}

/* Get one item and count it; returns its producer id or -1. */
static int mq_take(const char *who, mp_value *v)
{
    unsigned id, seq;
    if (payload_value_check(v, &id, &seq) != 0) {
        child_fail("%s: a corrupt item", who);
        return -1;
    }
    atomic_fetch_add(&S->seen[id][seq], 1);
    return (int)id;
}

static int mq_victim(void *arg)
{
    trial *t = arg;
    for (long i = 0;; i++) {
        victim_tick(t, i);
        set_phase(PH_CALL);
        mp_value *v = NULL;
        mp_status s = mp_mqueue_get(G.q, &v, BOUND);
        if (s != MP_OK) {
            child_fail("victim consumer: get: %s", mp_status_name(s));
            return 1;
        }
        int id = mq_take("victim consumer", v);
        mp_value_free(v);
        set_phase(PH_IDLE);
        if (id == 2) /* it took the end marker: wait for the kill */
            for (;;)
                pause_for(1e-3);
        if (id < 0)
            return 1;
    }
}

static bool seen_all(void)
{
    for (long k = 0; k < MQ_N; k++)
        if (!atomic_load(&S->seen[1][k]))
            return false;
    return true;
}

/* Consumer killed, also while blocked in get: each item arrives once; only
 * the one the victim was getting may be lost. */
void sc_mgr_queue(trial *t, void **ctx)
{
    mp_manager *m = mgr_get(t, ctx);
    if (!m)
        return;
    mp_status s = mp_manager_queue(m, 0, &G.q);
    if (s != MP_OK) {
        fail(t, "manager queue: %s", mp_status_name(s));
        server_check(t, s, "queue");
        return;
    }
    mp_process *prod = NULL, *victim;
    if (spawn(t, &victim, mq_victim, t)) { /* first, so that it blocks in get at times */
        if (spawn(t, &prod, mq_producer, t))
            kill_victim(t, victim);
        else
            finish(t, victim, "the victim");
        finish(t, prod, "the surviving producer");
    }
    /* The runner consumes what is left, up to the end marker (unless the
     * victim took it, or it is the one item the victim may have lost). */
    while (!atomic_load(&S->seen[2][0]) && !t->failures &&
           !(t->killed && t->death_phase == PH_CALL && seen_all())) {
        mp_value *v = NULL;
        if ((s = TIMED("runner's get", mp_mqueue_get(G.q, &v, BOUND))) != MP_OK) {
            fail(t, "runner's get: %s (victim died %s)", mp_status_name(s),
                 phase_name(t->death_phase));
            server_check(t, s, "get");
            break;
        }
        mq_take("runner", v);
        mp_value_free(v);
    }
    collect_child_failures(t);
    int lost = 0;
    for (long k = 0; k < MQ_N; k++) {
        int n = atomic_load(&S->seen[1][k]);
        lost += n == 0;
        if (n > 1) {
            fail(t, "item %ld delivered %d times", k, n);
            break;
        }
    }
    int may = t->killed && t->death_phase == PH_CALL ? 1 : 0;
    if (lost > may && !t->failures)
        fail(t, "%d items lost after a consumer died %s (at most %d may be)", lost,
             phase_name(t->death_phase), may);
    mp_proxy_free(G.q);
    if (!t->fatal)
        check_objects(t, m);
}
