/* The manager server's RLock, Semaphore, BoundedSemaphore, Condition and
 * Barrier (CPython's SyncManager serves threading's objects of these names).
 *
 * RLock and Condition share one lock state: o->holder, the connection that
 * took it (CPython: the server thread of the connection), and o->count, its
 * recursion.  A Condition wait releases the lock entirely and parks the
 * caller as a W_COND waiter; notify (or the deadline) turns it into a W_REACQ
 * waiter, which takes the lock back with its recursion when the lock is
 * free, then is answered True (notified) or False (timed out).  Waiters are
 * served in arrival order: the first W_ACQUIRE or W_REACQ waiter gets a
 * released lock.  When the holder's connection closes, the lock goes to that
 * waiter with MP_EOWNERDEAD, or stays orphaned for the next acquire, as the
 * manager's Lock does (manager_sync.c).
 *
 * A Semaphore is a counter (o->count) with W_ACQUIRE waiters; a bounded one
 * refuses a release that would go above its initial value (o->bound).
 *
 * A Barrier counts its W_BARRIER waiters; the last of o->bound parties wakes
 * them all with their arrival index.  A deadline, abort, or a waiter whose
 * connection closes breaks it (threading.Barrier breaks when a wait is
 * interrupted), so no party waits for a dead one.
 *
 * May touch: the object's lock state, counter and waiters (mp__mgr_finish). */
#include "manager_server.h"

#include <limits.h>

/* ---- the lock of an RLock or Condition */

/* o (an RLock or Condition) is now held by c with recursion n (c NULL: free). */
static void rl_hold(obj *o, client *c, long n)
{
    if (o->holder)
        o->holder->held--;
    o->holder = c;
    o->count = c ? n : 0;
    if (c)
        c->held++;
}

/* o's first waiter that wants its lock (W_ACQUIRE, W_REACQ), or NULL. */
static waiter *first_taker(obj *o)
{
    for (waiter *w = o->wh; w; w = w->next)
        if (w->kind == W_ACQUIRE || w->kind == W_REACQ)
            return w;
    return NULL;
}

/* Give o's lock to w (a taker): answered st, with True for an acquire or
 * what its wait returns. */
static void rl_grant(srv *s, obj *o, waiter *w, mp_status st)
{
    rl_hold(o, w->c, w->kind == W_REACQ ? w->count : 1);
    o->orphan = false;
    mp__mgr_finish(s, w, st, mp_bool(w->kind == W_ACQUIRE || w->ok));
}

/* o's lock was released entirely: to its first taker, else free. */
static void rl_pass(srv *s, obj *o)
{
    waiter *w = first_taker(o);
    if (w)
        rl_grant(s, o, w, MP_OK);
    else
        rl_hold(o, NULL, 0);
}

/* See manager_server.h. */
void mp__mgr_rlock_holder_gone(srv *s, obj *o)
{
    rl_hold(o, NULL, 0);
    waiter *w = first_taker(o);
    if (!w) {
        o->orphan = true;
        return;
    }
    rl_grant(s, o, w,
             mp__err(MP_EOWNERDEAD,
                     "%s.acquire: the previous holder's connection closed "
                     "while holding it; now held by the caller",
                     mp__mgr_typeids[o->type]));
}

/* acquire([timeout]): True at once when free or already the caller's (one
 * more level); an orphaned lock with MP_EOWNERDEAD; else False for timeout
 * <= 0, or the caller waits. */
static mp_status rl_acquire(call *k)
{
    double t;
    obj *o = k->o;
    mp_status st = get_timeout(k->n ? k->a[0] : NULL, &t);
    if (st)
        return st;
    if (o->holder == k->c && o->count > 0) {
        if (o->count == LONG_MAX)
            return mp__err(MP_EINVAL, "OverflowError: RLock recursion too deep");
        o->count++;
    } else if (!o->holder && !o->orphan) {
        rl_hold(o, k->c, 1);
    } else if (o->orphan) {
        o->orphan = false;
        rl_hold(o, k->c, 1);
        return mp__err(MP_EOWNERDEAD,
                       "%s.acquire: the previous holder's connection closed "
                       "while holding it; now held by the caller",
                       mp__mgr_typeids[o->type]);
    } else if (t <= 0) {
        k->bres = mp_bool(false);
        return MP_OK;
    } else {
        return mp__mgr_defer(k, W_ACQUIRE, t, NULL);
    }
    k->bres = mp_bool(true);
    return MP_OK;
}

/* MP_ENOTOWNER (RuntimeError) unless the caller holds k->o's lock. */
static mp_status rl_owned(call *k, const char *what)
{
    if (k->o->holder != k->c || k->o->count <= 0)
        return mp__err(MP_ENOTOWNER, "RuntimeError: cannot %s un-acquired lock", what);
    return MP_OK;
}

/* release(): one level; the last hands the lock on. */
static mp_status rl_release(call *k)
{
    mp_status st = rl_owned(k, "release");
    if (st)
        return st;
    if (--k->o->count == 0)
        rl_pass(k->s, k->o);
    return MP_OK;
}

/* ---- Condition */

/* wait([timeout]): the caller must hold the lock; it is released entirely
 * and the caller waits for a notify or the deadline, then for the lock. */
static mp_status cv_wait(call *k)
{
    double t;
    mp_status st = get_timeout(k->n ? k->a[0] : NULL, &t);
    if (st || (st = rl_owned(k, "wait on")))
        return st;
    obj *o = k->o;
    long depth = o->count;
    client *c = k->c;
    st = mp__mgr_defer(k, W_COND, t <= 0 ? 0 : t, NULL);
    if (st != DEFER)
        return st;
    c->w->count = depth;
    rl_pass(k->s, o); /* a W_COND waiter is no taker: never itself */
    return DEFER;
}

/* W_COND waiter w stops waiting for a notify (ok: notified); it takes the
 * lock now when it is free. */
static void cv_wake(srv *s, waiter *w, bool ok)
{
    obj *o = w->o;
    w->kind = W_REACQ;
    w->ok = ok;
    w->deadline = INFINITY;
    if (!o->holder && first_taker(o) == w)
        rl_grant(s, o, w,
                 o->orphan ? mp__err(MP_EOWNERDEAD, "Condition.wait: the previous "
                                                    "holder's connection closed while "
                                                    "holding the lock")
                           : MP_OK);
}

/* notify([n]): wakes the first n waiters (default 1); they take the lock
 * back once the caller releases it. */
static mp_status cv_notify_n(call *k, int64_t n)
{
    mp_status st = rl_owned(k, "notify on");
    if (st)
        return st;
    for (waiter *w = k->o->wh; w && n > 0; w = w->next)
        if (w->kind == W_COND) {
            cv_wake(k->s, w, true);
            n--;
        }
    return MP_OK;
}

/* notify([n]): n an int (TypeError else), default 1. */
static mp_status cv_notify(call *k)
{
    int64_t n = 1;
    if (k->n && (k->a[0]->type != MP_T_INT || mp_value_get_int(k->a[0], &n)))
        return mp__err(MP_ETYPE, "TypeError: notify(n) needs an int");
    return cv_notify_n(k, n);
}

/* notify_all(): every W_COND waiter. */
static mp_status cv_notify_all(call *k) { return cv_notify_n(k, INT64_MAX); }

/* ---- Semaphore, BoundedSemaphore */

/* acquire([timeout]): True at once when the value is above 0 (taking one);
 * else False for timeout <= 0, or the caller waits. */
static mp_status sem_acquire(call *k)
{
    double t;
    mp_status st = get_timeout(k->n ? k->a[0] : NULL, &t);
    if (st)
        return st;
    if (k->o->count > 0) {
        k->o->count--;
        k->bres = mp_bool(true);
        return MP_OK;
    }
    if (t <= 0) {
        k->bres = mp_bool(false);
        return MP_OK;
    }
    return mp__mgr_defer(k, W_ACQUIRE, t, NULL);
}

/* release(): to the first waiter, else one more; a bounded one refuses to
 * go above its initial value (ValueError, MP_ESTATE). */
static mp_status sem_release(call *k)
{
    obj *o = k->o;
    if (o->type == MGR__T_BSEM && o->count >= o->bound)
        return mp__err(MP_ESTATE, "ValueError: Semaphore released too many times");
    if (o->wh)
        mp__mgr_finish(k->s, o->wh, MP_OK, mp_bool(true));
    else if (o->count == LONG_MAX)
        return mp__err(MP_EINVAL, "OverflowError: Semaphore value too large");
    else
        o->count++;
    return MP_OK;
}

/* ---- Barrier */

/* How many callers wait at the Barrier o (its W_BARRIER waiters). */
static size_t bar_waiting(const obj *o)
{
    size_t n = 0;
    for (const waiter *w = o->wh; w; w = w->next)
        n += w->kind == W_BARRIER;
    return n;
}

/* See manager_server.h. */
void mp__mgr_barrier_break(srv *s, obj *o)
{
    o->broken = true;
    while (o->wh)
        mp__mgr_finish(s, o->wh, mp__err(MP_EBROKEN, "BrokenBarrierError"), NULL);
}

/* wait([timeout]): the index of arrival; the last party wakes them all.
 * None: the Barrier's own timeout.  Broken, or broken meanwhile (deadline,
 * abort, reset, a waiter gone): MP_EBROKEN. */
static mp_status bar_wait(call *k)
{
    double t;
    obj *o = k->o;
    mp_status st = get_timeout(k->n ? k->a[0] : NULL, &t);
    if (st)
        return st;
    if (!k->n || k->a[0]->type == MP_T_NONE)
        t = o->btimeout;
    if (o->broken)
        return mp__err(MP_EBROKEN, "BrokenBarrierError");
    size_t index = bar_waiting(o);
    if ((long)index + 1 >= o->bound) {
        mp_value *r = mp_int((int64_t)index);
        if (!r)
            return oom();
        while (o->wh) {
            r->u.i = o->wh->count;
            mp__mgr_finish(k->s, o->wh, MP_OK, r);
        }
        r->u.i = (int64_t)index;
        k->res = r;
        return MP_OK;
    }
    if (t <= 0) {
        mp__mgr_barrier_break(k->s, o);
        return mp__err(MP_EBROKEN, "BrokenBarrierError");
    }
    client *c = k->c;
    st = mp__mgr_defer(k, W_BARRIER, t, NULL);
    if (st == DEFER)
        c->w->count = (long)index;
    return st;
}

/* See manager_server.h. */
void mp__mgr_cond_expire(srv *s, waiter *w)
{
    if (w->kind == W_COND)
        cv_wake(s, w, false);
    else
        mp__mgr_barrier_break(s, w->o);
}

/* abort(): the Barrier breaks (every waiter MP_EBROKEN) and stays broken. */
static mp_status bar_abort(call *k)
{
    mp__mgr_barrier_break(k->s, k->o);
    return MP_OK;
}

/* reset(): the waiters get MP_EBROKEN, the Barrier is whole again. */
static mp_status bar_reset(call *k)
{
    mp__mgr_barrier_break(k->s, k->o);
    k->o->broken = false;
    return MP_OK;
}

/* n_waiting, parties, broken: the Barrier's state, as threading.Barrier's. */
static mp_status bar_n_waiting(call *k) { return set_res(k, mp_int((int64_t)bar_waiting(k->o))); }
static mp_status bar_parties(call *k) { return set_res(k, mp_int(k->o->bound)); }
static mp_status bar_broken(call *k)
{
    k->bres = mp_bool(k->o->broken);
    return MP_OK;
}

/* ---- creation */

/* See manager_server.h.  RLock, Condition: no init.  Semaphore(value=1):
 * an int >= 0.  Barrier: [parties, timeout] (timeout None: none); parties
 * >= 1.  ValueError / TypeError otherwise; init is taken on success. */
mp_status mp__mgr_init_sync(obj *o, mp_value *init)
{
    int64_t v = 1;
    double t = INFINITY;
    switch (o->type) {
    case MGR__T_SEM:
    case MGR__T_BSEM:
        if (init && (init->type != MP_T_INT || mp_value_get_int(init, &v)))
            return mp__err(MP_ETYPE, "TypeError: %s(value) needs an int", mp__mgr_typeids[o->type]);
        if (v < 0 || v > LONG_MAX)
            return mp__err(MP_EINVAL, "ValueError: semaphore initial value must be >= 0");
        o->count = o->bound = (long)v;
        break;
    case MGR__T_BARRIER:
        if (!init || init->type != MP_T_LIST || init->u.q.len != 2 ||
            init->u.q.items[0]->type != MP_T_INT || mp_value_get_int(init->u.q.items[0], &v) ||
            get_timeout(init->u.q.items[1], &t))
            return mp__err(MP_ETYPE, "TypeError: Barrier needs [parties, timeout]");
        if (v < 1 || v > LONG_MAX)
            return mp__err(MP_EINVAL, "ValueError: parties must be > 0");
        o->bound = (long)v;
        o->btimeout = t;
        break;
    default:
        if (init)
            return mp__err(MP_ETYPE, "TypeError: %s() takes no arguments",
                           mp__mgr_typeids[o->type]);
    }
    mp_value_free(init);
    return MP_OK;
}

/* ---- method tables */

const method mp__mgr_rlock_methods[] = {
    {"acquire", rl_acquire, 0, 1}, {"release", rl_release, 0, 0}, {NULL, NULL, 0, 0}};

const method mp__mgr_cond_methods[] = {
    {"acquire", rl_acquire, 0, 1}, {"release", rl_release, 0, 0},       {"wait", cv_wait, 0, 1},
    {"notify", cv_notify, 0, 1},   {"notify_all", cv_notify_all, 0, 0}, {NULL, NULL, 0, 0}};

const method mp__mgr_sem_methods[] = {
    {"acquire", sem_acquire, 0, 1}, {"release", sem_release, 0, 0}, {NULL, NULL, 0, 0}};

const method mp__mgr_bsem_methods[] = {
    {"acquire", sem_acquire, 0, 1}, {"release", sem_release, 0, 0}, {NULL, NULL, 0, 0}};

const method mp__mgr_barrier_methods[] = {{"wait", bar_wait, 0, 1},
                                          {"abort", bar_abort, 0, 0},
                                          {"reset", bar_reset, 0, 0},
                                          {"n_waiting", bar_n_waiting, 0, 0},
                                          {"parties", bar_parties, 0, 0},
                                          {"broken", bar_broken, 0, 0},
                                          {NULL, NULL, 0, 0}};
