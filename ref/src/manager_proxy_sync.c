/* The manager's client side, part 4: the proxies of RLock, Semaphore,
 * BoundedSemaphore, Condition, Barrier, JoinableQueue and Array (acquire and
 * release of the first four are mp_mlock_acquire/release, put/get of a
 * JoinableQueue mp_mqueue_*, in manager_proxy.c).  Each call checks its
 * proxy's type and arguments, then is one mp__mgr_call. */
#include "manager_client.h"

#include <math.h>
#include <stdlib.h>

#define OUTCHK(o, t, m)                                                                            \
    do {                                                                                           \
        if (!(o))                                                                                  \
            return mp__err(MP_EINVAL, "%s.%s: NULL output", mp__mgr_typeids[t], m);                \
    } while (0)

/* ---- making them: each is mp_manager_create of its typeid with its init
 * (mp.h); MP_EINVAL for a NULL manager or out, as create's. */

mp_status mp_manager_rlock(mp_manager *m, mp_proxy **out)
{
    return mp_manager_create(m, "RLock", NULL, NULL, out);
}
mp_status mp_manager_condition(mp_manager *m, mp_proxy **out)
{
    return mp_manager_create(m, "Condition", NULL, NULL, out);
}

/* Semaphore(value) or BoundedSemaphore(value). */
mp_status mp_manager_semaphore(mp_manager *m, unsigned value, mp_proxy **out)
{
    return mp__mgr_create_int(m, "Semaphore", value, out);
}
mp_status mp_manager_bounded_semaphore(mp_manager *m, unsigned value, mp_proxy **out)
{
    return mp__mgr_create_int(m, "BoundedSemaphore", value, out);
}

/* Barrier(parties, timeout): parties 0 MP_EINVAL (ValueError); timeout
 * MP_FOREVER none, NaN MP_EINVAL, negative 0. */
mp_status mp_manager_barrier(mp_manager *m, unsigned parties, double timeout, mp_proxy **out)
{
    if (parties == 0)
        return mp__err(MP_EINVAL, "manager.Barrier: parties must be > 0");
    if (isnan(timeout))
        return mp__err(MP_EINVAL, "manager.Barrier: NaN timeout");
    mp_value *v = mp_list_of(2, mp_int(parties),
                             isinf(timeout) && timeout > 0 ? mp_none()
                                                           : mp_float(timeout < 0 ? 0 : timeout));
    if (!v)
        return mp__err(MP_ENOMEM, "manager.Barrier: out of memory");
    mp_status st = mp_manager_create(m, "Barrier", v, NULL, out);
    mp_value_free(v);
    return st;
}

mp_status mp_manager_joinable_queue(mp_manager *m, long maxsize, mp_proxy **out)
{
    return mp__mgr_create_int(m, "JoinableQueue", maxsize, out);
}

/* Array(typecode, values): values a list or tuple (NULL: empty). */
mp_status mp_manager_array(mp_manager *m, char typecode, const mp_value *values, mp_proxy **out)
{
    if (values && mp_value_type(values) != MP_T_LIST && mp_value_type(values) != MP_T_TUPLE)
        return mp__err(MP_ETYPE, "manager.Array: values must be a list or tuple");
    char tc[2] = {typecode, 0};
    mp_value *v = mp_list_of(2, mp_str(tc), values ? mp_value_copy(values) : mp_list());
    if (!v)
        return mp__err(typecode ? MP_ENOMEM : MP_EINVAL, "manager.Array: %s",
                       typecode ? "out of memory" : "typecode 0");
    mp_status st = mp_manager_create(m, "Array", v, NULL, out);
    mp_value_free(v);
    return st;
}

/* ---- Condition: wait MP_OK (notified) or MP_TIMEOUT, both with the lock
 * held again; notify and notify_all; MP_ENOTOWNER from the server when the
 * caller does not hold the lock. */
#define CV MGR__T_COND
mp_status mp_mcond_wait(mp_proxy *c, double timeout)
{
    mp_value *r = NULL;
    mp_status st = mp__mgr_timed(c, CV, "wait", NULL, timeout, &r);
    return mp__mgr_true_or_timeout(r, st, "Condition.wait", timeout);
}
mp_status mp_mcond_notify(mp_proxy *c, unsigned n)
{
    mp_value *v = mp_int(n);
    if (!v)
        return mp__err(MP_ENOMEM, "Condition.notify: out of memory");
    const mp_value *a[1] = {v};
    mp_status st = mp__mgr_tcall(c, CV, "notify", 1, a, NULL);
    mp_value_free(v);
    return st;
}
mp_status mp_mcond_notify_all(mp_proxy *c)
{
    return mp__mgr_tcall(c, CV, "notify_all", 0, NULL, NULL);
}
#undef CV

/* ---- Barrier: wait gives the arrival index (MP_FOREVER: the Barrier's own
 * timeout, sent as None); MP_EBROKEN from the server when broken. */
#define BA MGR__T_BARRIER
mp_status mp_mbarrier_wait(mp_proxy *b, double timeout, unsigned *index)
{
    mp_value *r = NULL;
    size_t i = 0;
    mp_status st;
    if (isinf(timeout) && timeout > 0) { /* None: the Barrier's own timeout */
        const mp_value *a[1] = {mp_none()};
        st = mp__mgr_tcall(b, BA, "wait", 1, a, &r);
    } else {
        st = mp__mgr_timed(b, BA, "wait", NULL, timeout, &r);
    }
    st = mp__mgr_get_size(r, st, &i);
    if (!st && index)
        *index = (unsigned)i;
    return st;
}
mp_status mp_mbarrier_abort(mp_proxy *b) { return mp__mgr_tcall(b, BA, "abort", 0, NULL, NULL); }
mp_status mp_mbarrier_reset(mp_proxy *b) { return mp__mgr_tcall(b, BA, "reset", 0, NULL, NULL); }

/* An unsigned result of method into *out. */
static mp_status bar_uint(mp_proxy *b, const char *method, unsigned *out)
{
    OUTCHK(out, BA, method);
    mp_value *r = NULL;
    size_t n = 0;
    mp_status st = mp__mgr_get_size(r, mp__mgr_tcall(b, BA, method, 0, NULL, &r), &n);
    if (!st)
        *out = (unsigned)n;
    return st;
}
mp_status mp_mbarrier_parties(mp_proxy *b, unsigned *n) { return bar_uint(b, "parties", n); }
mp_status mp_mbarrier_n_waiting(mp_proxy *b, unsigned *n) { return bar_uint(b, "n_waiting", n); }
mp_status mp_mbarrier_broken(mp_proxy *b, bool *broken)
{
    OUTCHK(broken, BA, "broken");
    mp_value *r = NULL;
    return mp__mgr_get_bool(r, mp__mgr_tcall(b, BA, "broken", 0, NULL, &r), broken);
}
#undef BA

/* ---- JoinableQueue (and Queue: both are queue.Queue in CPython's server) */
static int queue_type(const mp_proxy *q)
{
    return q && q->type == MGR__T_QUEUE ? MGR__T_QUEUE : MGR__T_JQUEUE;
}
/* task_done: MP_ESTATE (ValueError) when called too often; join: MP_OK when
 * every item put is done, MP_TIMEOUT at the timeout. */
mp_status mp_mqueue_task_done(mp_proxy *q)
{
    return mp__mgr_tcall(q, queue_type(q), "task_done", 0, NULL, NULL);
}
mp_status mp_mqueue_join(mp_proxy *q, double timeout)
{
    mp_value *r = NULL;
    mp_status st = mp__mgr_timed(q, queue_type(q), "join", NULL, timeout, &r);
    return mp__mgr_true_or_timeout(r, st, "JoinableQueue.join", timeout);
}

/* ---- Array */
#define AR MGR__T_ARRAY
/* A call whose first argument is the index i (then item when non-NULL). */
static mp_status ar_idx(mp_proxy *a, const char *method, ptrdiff_t i, const mp_value *item,
                        mp_value **res)
{
    mp_value *iv = mp_int((int64_t)i);
    if (!iv)
        return mp__err(MP_ENOMEM, "Array.%s: out of memory", method);
    const mp_value *args[2] = {iv, item};
    mp_status st = mp__mgr_tcall(a, AR, method, item ? 2 : 1, args, res);
    mp_value_free(iv);
    return st;
}
/* get/set: MP_EINDEX out of range, MP_ETYPE (set) for an item of the wrong
 * type; len; tolist: every item as a list. */
mp_status mp_marray_get(mp_proxy *a, ptrdiff_t i, mp_value **item)
{
    OUTCHK(item, AR, "__getitem__");
    return ar_idx(a, "__getitem__", i, NULL, item);
}
mp_status mp_marray_set(mp_proxy *a, ptrdiff_t i, const mp_value *item)
{
    if (!item)
        return mp__err(MP_EINVAL, "Array.__setitem__: NULL value");
    return ar_idx(a, "__setitem__", i, item, NULL);
}
mp_status mp_marray_len(mp_proxy *a, size_t *len)
{
    OUTCHK(len, AR, "__len__");
    mp_value *r = NULL;
    return mp__mgr_get_size(r, mp__mgr_tcall(a, AR, "__len__", 0, NULL, &r), len);
}
mp_status mp_marray_tolist(mp_proxy *a, mp_value **list)
{
    OUTCHK(list, AR, "tolist");
    return mp__mgr_tcall(a, AR, "tolist", 0, NULL, list);
}
#undef AR
