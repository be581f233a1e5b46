/* The manager server's Queue and JoinableQueue (both queue.Queue, as in
 * CPython's server): a ring of values (o->q, o->qhead, o->qlen) with an
 * optional maxsize, counting the items put and not yet task_done
 * (o->unfinished); join waits (W_JOIN) until that is 0.  A put that finds a getter waiting hands
 * the item over; a get that frees a place completes the first blocked put. Blocked calls are
 * waiters (mp__mgr_defer); their deadline is answered queue.Empty / queue.Full by manager_loop.c.
 *
 * May touch: the object's ring, its waiters (mp__mgr_finish). */
#include "manager_server.h"

#include <string.h>

/* ---- Queue */

static bool q_full(const obj *o) { return o->maxsize > 0 && o->qlen >= (size_t)o->maxsize; }

/* Append v (taken) to o's ring, doubling it when full; false when out of
 * memory (v not taken). */
static bool q_push(obj *o, mp_value *v)
{
    if (o->qlen == o->qcap) {
        size_t n = o->qcap ? o->qcap * 2 : 16;
        mp_value **q = malloc(n * sizeof *q);
        if (!q)
            return false;
        for (size_t i = 0; i < o->qlen; i++)
            q[i] = o->q[(o->qhead + i) % o->qcap];
        free(o->q);
        o->q = q;
        o->qcap = n;
        o->qhead = 0;
    }
    o->q[(o->qhead + o->qlen++) % o->qcap] = v;
    return true;
}

/* The oldest item, removed (the ring must not be empty). */
static mp_value *q_pop(obj *o)
{
    mp_value *v = o->q[o->qhead];
    o->qhead = (o->qhead + 1) % o->qcap;
    o->qlen--;
    return v;
}

/* o's first waiter of kind (W_GET, W_PUT), or NULL. */
static waiter *first_of(obj *o, int kind)
{
    for (waiter *w = o->wh; w; w = w->next)
        if (w->kind == kind)
            return w;
    return NULL;
}

/* put(item[, timeout]): to a waiting getter, else into the ring; when full,
 * queue.Full for timeout <= 0, else the caller waits. */
static mp_status q_put(call *k)
{
    double t;
    mp_status st = get_timeout(k->n > 1 ? k->a[1] : NULL, &t);
    if (st)
        return st;
    obj *o = k->o;
    waiter *g = first_of(o, W_GET);
    if (g) { /* a getter waits, so the queue is empty: hand it over */
        o->unfinished++;
        mp__mgr_finish(k->s, g, MP_OK, k->a[0]);
        return MP_OK;
    }
    if (!q_full(o)) {
        if (!q_push(o, k->a[0]))
            return oom();
        o->unfinished++;
        k->a[0] = NULL;
        return MP_OK;
    }
    if (t <= 0)
        return mp__err(MP_FULL, "queue.Full");
    mp_value *item = k->a[0];
    k->a[0] = NULL;
    return mp__mgr_defer(k, W_PUT, t, item);
}

/* get([timeout]): the oldest item (a blocked put then completes); when
 * empty, queue.Empty for timeout <= 0, else the caller waits. */
static mp_status q_get(call *k)
{
    double t;
    mp_status st = get_timeout(k->n ? k->a[0] : NULL, &t);
    if (st)
        return st;
    obj *o = k->o;
    if (o->qlen) {
        k->res = q_pop(o);
        waiter *p = first_of(o, W_PUT);
        if (p) { /* room now: the first blocked put completes */
            if (q_push(o, p->item)) {
                o->unfinished++;
                p->item = NULL;
                mp__mgr_finish(k->s, p, MP_OK, NULL);
            }
        }
        return MP_OK;
    }
    if (t <= 0)
        return mp__err(MP_EMPTY, "queue.Empty");
    return mp__mgr_defer(k, W_GET, t, NULL);
}

static mp_status q_qsize(call *k) { return set_res(k, mp_int((int64_t)k->o->qlen)); }

static mp_status q_empty(call *k)
{
    k->bres = mp_bool(k->o->qlen == 0);
    return MP_OK;
}

static mp_status q_isfull(call *k)
{
    k->bres = mp_bool(q_full(k->o));
    return MP_OK;
}

/* task_done(): one item put is done; the last wakes every join.  More
 * calls than items put: ValueError (MP_ESTATE). */
static mp_status q_task_done(call *k)
{
    obj *o = k->o;
    if (o->unfinished <= 0)
        return mp__err(MP_ESTATE, "ValueError: task_done() called too many times");
    waiter *w;
    if (--o->unfinished == 0)
        while ((w = first_of(o, W_JOIN)))
            mp__mgr_finish(k->s, w, MP_OK, mp_bool(true));
    return MP_OK;
}

/* join([timeout]): True when every item put is done, at once or later;
 * False at the deadline (CPython's join has no timeout: None). */
static mp_status q_join(call *k)
{
    double t;
    mp_status st = get_timeout(k->n ? k->a[0] : NULL, &t);
    if (st)
        return st;
    if (k->o->unfinished == 0 || t <= 0) {
        k->bres = mp_bool(k->o->unfinished == 0);
        return MP_OK;
    }
    return mp__mgr_defer(k, W_JOIN, t, NULL);
}

/* ---- method tables */

/* Queue and JoinableQueue are both queue.Queue in CPython's server: one table. */
const method mp__mgr_queue_methods[] = {{"put", q_put, 1, 2},     {"get", q_get, 0, 1},
                                        {"qsize", q_qsize, 0, 0}, {"empty", q_empty, 0, 0},
                                        {"full", q_isfull, 0, 0}, {"task_done", q_task_done, 0, 0},
                                        {"join", q_join, 0, 1},   {NULL, NULL, 0, 0}};
