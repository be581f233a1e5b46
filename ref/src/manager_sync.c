/* The manager server's Lock and Event.  A Lock remembers the connection
 * that holds it (o->holder, counted in the client's `held`); when that
 * connection goes, the Lock goes to its first waiter, or to the next
 * acquirer, with MP_EOWNERDEAD, as a local Lock does.  A blocked acquire or
 * wait is a waiter (mp__mgr_defer), answered by a release or set, or by its
 * deadline (manager_loop.c).
 *
 * May touch: the object's flag and holder, its waiters (mp__mgr_finish). */
#include "manager_server.h"

/* ---- Lock, Event */

/* The Lock o is now held by c (NULL: by nobody, or by a closed connection). */
static void lock_hold(obj *o, client *c)
{
    if (o->holder)
        o->holder->held--;
    o->holder = c;
    if (c)
        c->held++;
}

/* The connection holding o closed.  Its first waiter takes o over and is
 * answered MP_EOWNERDEAD; with no waiter o stays locked, orphaned, and the
 * next acquire takes it with MP_EOWNERDEAD [MGR-LOCK-HOLDER-DISCONNECT] (a
 * release by anyone still unlocks it, as for any Lock). */
void mp__mgr_lock_holder_gone(srv *s, obj *o)
{
    if (o->type != MGR__T_LOCK) {
        mp__mgr_rlock_holder_gone(s, o);
        return;
    }
    lock_hold(o, NULL);
    if (!o->wh) {
        o->orphan = true;
        return;
    }
    waiter *w = o->wh;
    lock_hold(o, w->c);
    o->orphan = false;
    /* mp__mgr_finish() may drop w->c (a failed send), which hands o on again. */
    mp__mgr_finish(s, w,
                   mp__err(MP_EOWNERDEAD, "Lock.acquire: the previous holder's connection "
                                          "closed while holding it; now held by the caller"),
                   NULL);
}

/* acquire([timeout]): True at once when free; an orphaned Lock is taken
 * with MP_EOWNERDEAD; else False for timeout <= 0, or the caller waits. */
static mp_status lk_acquire(call *k)
{
    double t;
    mp_status st = get_timeout(k->n ? k->a[0] : NULL, &t);
    if (st)
        return st;
    if (!k->o->flag) {
        k->o->flag = true;
        lock_hold(k->o, k->c);
        k->bres = mp_bool(true);
        return MP_OK;
    }
    if (k->o->orphan) {
        k->o->orphan = false;
        lock_hold(k->o, k->c);
        return mp__err(MP_EOWNERDEAD, "Lock.acquire: the previous holder's connection closed "
                                      "while holding it; now held by the caller");
    }
    if (t <= 0) {
        k->bres = mp_bool(false);
        return MP_OK;
    }
    return mp__mgr_defer(k, W_ACQUIRE, t, NULL);
}

/* release(): hands the Lock to the first waiter (it stays locked) or
 * unlocks it; RuntimeError (MP_ESTATE) when not locked. */
static mp_status lk_release(call *k)
{
    if (!k->o->flag)
        return mp__err(MP_ESTATE, "RuntimeError: release unlocked lock");
    k->o->orphan = false;
    if (k->o->wh) { /* hand it over: stays locked */
        lock_hold(k->o, k->o->wh->c);
        mp__mgr_finish(k->s, k->o->wh, MP_OK, mp_bool(true));
    } else {
        lock_hold(k->o, NULL);
        k->o->flag = false;
    }
    return MP_OK;
}

static mp_status lk_locked(call *k)
{
    k->bres = mp_bool(k->o->flag);
    return MP_OK;
}

/* set(): every waiter is answered True. */
static mp_status ev_set(call *k)
{
    k->o->flag = true;
    while (k->o->wh)
        mp__mgr_finish(k->s, k->o->wh, MP_OK, mp_bool(true));
    return MP_OK;
}

static mp_status ev_clear(call *k)
{
    k->o->flag = false;
    return MP_OK;
}

/* wait([timeout]): the flag at once when set or timeout <= 0, else the
 * caller waits (True on set, False at the deadline). */
static mp_status ev_wait(call *k)
{
    double t;
    mp_status st = get_timeout(k->n ? k->a[0] : NULL, &t);
    if (st)
        return st;
    if (k->o->flag || t <= 0) {
        k->bres = mp_bool(k->o->flag);
        return MP_OK;
    }
    return mp__mgr_defer(k, W_EVENT, t, NULL);
}

/* ---- method tables */

const method mp__mgr_lock_methods[] = {{"acquire", lk_acquire, 0, 1},
                                       {"release", lk_release, 0, 0},
                                       {"locked", lk_locked, 0, 0},
                                       {NULL, NULL, 0, 0}};

const method mp__mgr_event_methods[] = {{"set", ev_set, 0, 0},
                                        {"clear", ev_clear, 0, 0},
                                        {"is_set", lk_locked, 0, 0},
                                        {"wait", ev_wait, 0, 1},
                                        {NULL, NULL, 0, 0}};
