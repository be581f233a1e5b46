/* The manager's client side, part 3: proxies.  A proxy is an object living on
 * the server, named by its oid; every operation on it is one mp__mgr_call()
 * (manager_client.c) with the method's name and arguments, as CPython's
 * BaseProxy._callmethod.  The typed calls (mp_mdict_*, mp_mlist_*, ...) check
 * the proxy's type and their arguments here, so a misuse costs no round trip;
 * timeouts are validated here and waited for on the server.
 *
 * Ownership of objects.  A proxy holds one reference on the server, taken when
 * the object was made; only the process that made the proxy gives it back
 * (mp_proxy_free), so a child freeing its inherited copy cannot release an
 * object its parent still uses. */
#include "manager_client.h"

#include <math.h>
#include <stdlib.h>

const char *const mp__mgr_typeids[MGR__T_COUNT] = {
    "dict",      "list",    "Namespace",     "Value",     "Lock",
    "Event",     "Queue",   "RLock",         "Semaphore", "BoundedSemaphore",
    "Condition", "Barrier", "JoinableQueue", "Array",     "Iterator"};

/* The MGR__T_ index of a typeid create() makes, -1 when unknown (an
 * Iterator is made only by __iter__). */
int mp__mgr_typeid(const char *name)
{
    for (int i = 0; i < MGR__T_ITER; i++)
        if (strcmp(name, mp__mgr_typeids[i]) == 0)
            return i;
    return -1;
}

/* --------------------------------------------------------------- proxies */

/* Makes a typeid object on m's server (init: its initial value, or NULL;
 * name: registered under it, or NULL) and a proxy holding one reference on
 * it and one on m's endpoint.  MP_EINVAL for an unknown typeid. */
mp_status mp_manager_create(mp_manager *m, const char *typeid, const mp_value *init,
                            const char *name, mp_proxy **out)
{
    mp_status st = mp__mgr_check(m, "create");
    if (st)
        return st;
    if (!typeid || !out)
        return mp__err(MP_EINVAL, "manager.create: NULL %s", typeid ? "out" : "typeid");
    int type = mp__mgr_typeid(typeid);
    if (type < 0)
        return mp__err(MP_EINVAL, "manager.create: unknown typeid '%s'", typeid);
    mp_proxy *p = malloc(sizeof *p);
    mp_value *tv = mp_str(typeid), *nv = name ? mp_str(name) : mp_none();
    if (!p || !tv || !nv) {
        free(p);
        mp_value_free(tv);
        mp_value_free(nv);
        return name && !nv ? mp__err(MP_EINVAL, "manager.create: name is not UTF-8")
                           : mp__err(MP_ENOMEM, "manager.create: out of memory");
    }
    const mp_value *args[3] = {tv, init ? init : mp_none(), nv};
    mp_value *r = NULL;
    st = mp__mgr_call(m->ep, 0, "create", args, 3, &r);
    mp_value_free(tv);
    mp_value_free(nv);
    int64_t oid = 0;
    if (!st)
        st = mp_value_get_int(r, &oid);
    mp_value_free(r);
    if (st) {
        free(p);
        return st;
    }
    mp__mgr_ep_ref(m->ep);
    *p = (mp_proxy){.ep = m->ep, .oid = oid, .type = type, .owner = mp__mgr_self_pid()};
    *out = p;
    return MP_OK;
}

mp_status mp_manager_dict(mp_manager *m, const mp_value *init, mp_proxy **out)
{
    return mp_manager_create(m, "dict", init, NULL, out);
}
mp_status mp_manager_list(mp_manager *m, const mp_value *init, mp_proxy **out)
{
    return mp_manager_create(m, "list", init, NULL, out);
}
mp_status mp_manager_namespace(mp_manager *m, mp_proxy **out)
{
    return mp_manager_create(m, "Namespace", NULL, NULL, out);
}
mp_status mp_manager_value(mp_manager *m, const mp_value *init, mp_proxy **out)
{
    return mp_manager_create(m, "Value", init, NULL, out);
}
mp_status mp_manager_lock(mp_manager *m, mp_proxy **out)
{
    return mp_manager_create(m, "Lock", NULL, NULL, out);
}
mp_status mp_manager_event(mp_manager *m, mp_proxy **out)
{
    return mp_manager_create(m, "Event", NULL, NULL, out);
}
mp_status mp_manager_queue(mp_manager *m, long maxsize, mp_proxy **out)
{
    return mp__mgr_create_int(m, "Queue", maxsize, out);
}

/* Contract in manager_client.h. */
mp_status mp__mgr_create_int(mp_manager *m, const char *typeid, int64_t n, mp_proxy **out)
{
    mp_value *v = mp_int(n);
    if (!v)
        return mp__err(MP_ENOMEM, "manager.%s: out of memory", typeid);
    mp_status st = mp_manager_create(m, typeid, v, NULL, out);
    mp_value_free(v);
    return st;
}

/* The generic call: args a list or tuple (or NULL: none) spread as the
 * method's arguments.  MP_ETYPE for another kind of args. */
mp_status mp_proxy_call(mp_proxy *p, const char *method, const mp_value *args, mp_value **result)
{
    if (!p || !method)
        return mp__err(MP_EINVAL, "proxy.call: NULL %s", p ? "method" : "proxy");
    if (args && args->type != MP_T_LIST && args->type != MP_T_TUPLE)
        return mp__err(MP_ETYPE, "proxy.call: args must be a list or tuple");
    return mp__mgr_call(p->ep, p->oid, method,
                        args ? (const mp_value *const *)args->u.q.items : NULL,
                        args ? args->u.q.len : 0, result);
}

mp_status mp_proxy_typeid(mp_proxy *p, const char **typeid)
{
    if (!p || !typeid)
        return mp__err(MP_EINVAL, "proxy.typeid: NULL %s", p ? "output" : "proxy");
    *typeid = mp__mgr_typeids[p->type];
    return MP_OK;
}

/* Frees the proxy; the process that made it also gives back its reference
 * on the server object (a child's inherited copy does not). */
void mp_proxy_free(mp_proxy *p)
{
    if (!p)
        return;
    if (p->owner == mp__mgr_self_pid()) {
        mp_value *id = mp_int(p->oid);
        if (id) {
            const mp_value *args[1] = {id};
            /* A dead server released it anyway. */
            mp__mgr_call(p->ep, 0, "decref", args, 1, NULL);
            mp_value_free(id);
        }
    }
    mp__mgr_ep_unref(p->ep);
    free(p);
}

/* ------------------------------------------------------- typed wrappers */

/* MP_EINVAL unless p is a proxy of the given type. */
static mp_status pcheck(mp_proxy *p, int type, const char *method)
{
    if (!p)
        return mp__err(MP_EINVAL, "%s.%s: NULL proxy", mp__mgr_typeids[type], method);
    if (p->type != type)
        return mp__err(MP_EINVAL, "AttributeError: this is a %s proxy, not a %s proxy (%s)",
                       mp__mgr_typeids[p->type], mp__mgr_typeids[type], method);
    return MP_OK;
}

/* A typed call: every argument non-NULL, else MP_EINVAL. */
static mp_status tcall(mp_proxy *p, int type, const char *method, size_t n,
                       const mp_value *const *args, mp_value **res)
{
    mp_status st = pcheck(p, type, method);
    if (st)
        return st;
    for (size_t i = 0; i < n; i++)
        if (!args[i])
            return mp__err(MP_EINVAL, "%s.%s: NULL value", mp__mgr_typeids[type], method);
    return mp__mgr_call(p->ep, p->oid, method, args, n, res);
}

#define OUTCHK(o, t, m)                                                                            \
    do {                                                                                           \
        if (!(o))                                                                                  \
            return mp__err(MP_EINVAL, "%s.%s: NULL output", mp__mgr_typeids[t], m);                \
    } while (0)

/* Consumes r, the result of a call that returned st: the int into *out. */
static mp_status get_size(mp_value *r, mp_status st, size_t *out)
{
    int64_t v = 0;
    if (!st && !(st = mp_value_get_int(r, &v)))
        *out = (size_t)v;
    mp_value_free(r);
    return st;
}

/* Consumes r, the result of a call that returned st: the bool into *out. */
static mp_status get_bool(mp_value *r, mp_status st, bool *out)
{
    bool b = false;
    if (!st && !(st = mp_value_get_bool(r, &b)))
        *out = b;
    mp_value_free(r);
    return st;
}

/* A typed call whose first argument is the index i (then extra, if any). */
static mp_status idx_call(mp_proxy *p, int type, const char *method, ptrdiff_t i,
                          const mp_value *extra, mp_value **res)
{
    mp_value *iv = mp_int((int64_t)i);
    if (!iv)
        return mp__err(MP_ENOMEM, "out of memory");
    const mp_value *args[2] = {iv, extra};
    mp_status st = tcall(p, type, method, extra ? 2 : 1, args, res);
    mp_value_free(iv);
    return st;
}

/* ---- dict */
#define D MGR__T_DICT
mp_status mp_mdict_get(mp_proxy *d, const mp_value *key, mp_value **val)
{
    OUTCHK(val, D, "__getitem__");
    return tcall(d, D, "__getitem__", 1, &key, val);
}
mp_status mp_mdict_set(mp_proxy *d, const mp_value *key, const mp_value *val)
{
    const mp_value *a[2] = {key, val};
    return tcall(d, D, "__setitem__", 2, a, NULL);
}
mp_status mp_mdict_del(mp_proxy *d, const mp_value *key)
{
    return tcall(d, D, "__delitem__", 1, &key, NULL);
}
mp_status mp_mdict_contains(mp_proxy *d, const mp_value *key, bool *in)
{
    OUTCHK(in, D, "__contains__");
    mp_value *r = NULL;
    return get_bool(r, tcall(d, D, "__contains__", 1, &key, &r), in);
}
mp_status mp_mdict_len(mp_proxy *d, size_t *len)
{
    OUTCHK(len, D, "__len__");
    mp_value *r = NULL;
    mp_status st = tcall(d, D, "__len__", 0, NULL, &r);
    return get_size(r, st, len);
}
mp_status mp_mdict_keys(mp_proxy *d, mp_value **list)
{
    OUTCHK(list, D, "keys");
    return tcall(d, D, "keys", 0, NULL, list);
}
mp_status mp_mdict_values(mp_proxy *d, mp_value **list)
{
    OUTCHK(list, D, "values");
    return tcall(d, D, "values", 0, NULL, list);
}
mp_status mp_mdict_items(mp_proxy *d, mp_value **list)
{
    OUTCHK(list, D, "items");
    return tcall(d, D, "items", 0, NULL, list);
}
mp_status mp_mdict_update(mp_proxy *d, const mp_value *dict)
{
    if (dict && mp_value_type(dict) != MP_T_DICT)
        return mp__err(MP_ETYPE, "dict.update: the argument is not a dict");
    return tcall(d, D, "update", 1, &dict, NULL);
}
mp_status mp_mdict_pop(mp_proxy *d, const mp_value *key, const mp_value *dflt, mp_value **val)
{
    const mp_value *a[2] = {key, dflt};
    OUTCHK(val, D, "pop");
    return tcall(d, D, "pop", dflt ? 2 : 1, a, val);
}
mp_status mp_mdict_setdefault(mp_proxy *d, const mp_value *key, const mp_value *dflt,
                              mp_value **val)
{
    const mp_value *a[2] = {key, dflt};
    OUTCHK(val, D, "setdefault");
    return tcall(d, D, "setdefault", dflt ? 2 : 1, a, val);
}
mp_status mp_mdict_clear(mp_proxy *d) { return tcall(d, D, "clear", 0, NULL, NULL); }
mp_status mp_mdict_copy(mp_proxy *d, mp_value **dict)
{
    OUTCHK(dict, D, "copy");
    return tcall(d, D, "copy", 0, NULL, dict);
}
#undef D

/* ---- list */
#define LT MGR__T_LIST
mp_status mp_mlist_append(mp_proxy *l, const mp_value *item)
{
    return tcall(l, LT, "append", 1, &item, NULL);
}
mp_status mp_mlist_extend(mp_proxy *l, const mp_value *seq)
{
    if (seq && mp_value_type(seq) != MP_T_LIST && mp_value_type(seq) != MP_T_TUPLE)
        return mp__err(MP_ETYPE, "list.extend: the argument is not a list or tuple");
    return tcall(l, LT, "extend", 1, &seq, NULL);
}
mp_status mp_mlist_insert(mp_proxy *l, ptrdiff_t i, const mp_value *item)
{
    if (!item)
        return mp__err(MP_EINVAL, "list.insert: NULL value");
    return idx_call(l, LT, "insert", i, item, NULL);
}
mp_status mp_mlist_pop(mp_proxy *l, ptrdiff_t i, mp_value **item)
{
    OUTCHK(item, LT, "pop");
    return idx_call(l, LT, "pop", i, NULL, item);
}
mp_status mp_mlist_remove(mp_proxy *l, const mp_value *item)
{
    return tcall(l, LT, "remove", 1, &item, NULL);
}
mp_status mp_mlist_index(mp_proxy *l, const mp_value *item, size_t *index)
{
    OUTCHK(index, LT, "index");
    mp_value *r = NULL;
    mp_status st = tcall(l, LT, "index", 1, &item, &r);
    return get_size(r, st, index);
}
mp_status mp_mlist_count(mp_proxy *l, const mp_value *item, size_t *count)
{
    OUTCHK(count, LT, "count");
    mp_value *r = NULL;
    mp_status st = tcall(l, LT, "count", 1, &item, &r);
    return get_size(r, st, count);
}
mp_status mp_mlist_get(mp_proxy *l, ptrdiff_t i, mp_value **item)
{
    OUTCHK(item, LT, "__getitem__");
    return idx_call(l, LT, "__getitem__", i, NULL, item);
}
mp_status mp_mlist_set(mp_proxy *l, ptrdiff_t i, const mp_value *item)
{
    if (!item)
        return mp__err(MP_EINVAL, "list.__setitem__: NULL value");
    return idx_call(l, LT, "__setitem__", i, item, NULL);
}
mp_status mp_mlist_del(mp_proxy *l, ptrdiff_t i)
{
    return idx_call(l, LT, "__delitem__", i, NULL, NULL);
}
mp_status mp_mlist_len(mp_proxy *l, size_t *len)
{
    OUTCHK(len, LT, "__len__");
    mp_value *r = NULL;
    mp_status st = tcall(l, LT, "__len__", 0, NULL, &r);
    return get_size(r, st, len);
}

/* A list call on the slice [start:stop:step] (MP_SLICE_NONE: None), with
 * seq as the fourth argument when non-NULL. */
static mp_status slice_call(mp_proxy *l, const char *method, ptrdiff_t start, ptrdiff_t stop,
                            ptrdiff_t step, const mp_value *seq, mp_value **res)
{
    ptrdiff_t b[3] = {start, stop, step};
    mp_value *v[3];
    for (int i = 0; i < 3; i++)
        v[i] = b[i] == MP_SLICE_NONE ? mp_none() : mp_int((int64_t)b[i]);
    const mp_value *args[4] = {v[0], v[1], v[2], seq};
    mp_status st = v[0] && v[1] && v[2] ? tcall(l, LT, method, seq ? 4 : 3, args, res)
                                        : mp__err(MP_ENOMEM, "out of memory");
    for (int i = 0; i < 3; i++)
        mp_value_free(v[i]);
    return st;
}

mp_status mp_mlist_slice(mp_proxy *l, ptrdiff_t start, ptrdiff_t stop, ptrdiff_t step,
                         mp_value **list)
{
    OUTCHK(list, LT, "getslice");
    return slice_call(l, "getslice", start, stop, step, NULL, list);
}
mp_status mp_mlist_set_slice(mp_proxy *l, ptrdiff_t start, ptrdiff_t stop, ptrdiff_t step,
                             const mp_value *seq)
{
    if (!seq)
        return mp__err(MP_EINVAL, "list.setslice: NULL value");
    return slice_call(l, "setslice", start, stop, step, seq, NULL);
}
mp_status mp_mlist_del_slice(mp_proxy *l, ptrdiff_t start, ptrdiff_t stop, ptrdiff_t step)
{
    return slice_call(l, "delslice", start, stop, step, NULL, NULL);
}
mp_status mp_mlist_copy(mp_proxy *l, mp_value **list)
{
    OUTCHK(list, LT, "copy");
    return tcall(l, LT, "copy", 0, NULL, list);
}
mp_status mp_mlist_sort(mp_proxy *l, bool reverse)
{
    const mp_value *a[1] = {mp_bool(reverse)};
    return tcall(l, LT, "sort", 1, a, NULL);
}
#undef LT

/* ---- Namespace */
/* A Namespace call on attribute name (then val when needval). */
static mp_status ns_call(mp_proxy *ns, const char *method, const char *name, const mp_value *val,
                         bool needval, mp_value **res)
{
    if (!name || (needval && !val))
        return mp__err(MP_EINVAL, "Namespace.%s: NULL %s", method, name ? "value" : "name");
    mp_value *nv = mp_str(name);
    if (!nv)
        return mp__err(MP_EINVAL, "Namespace.%s: the name is not UTF-8", method);
    const mp_value *a[2] = {nv, val};
    mp_status st = tcall(ns, MGR__T_NS, method, needval ? 2 : 1, a, res);
    mp_value_free(nv);
    return st;
}
mp_status mp_mns_get(mp_proxy *ns, const char *name, mp_value **val)
{
    OUTCHK(val, MGR__T_NS, "__getattr__");
    return ns_call(ns, "__getattr__", name, NULL, false, val);
}
mp_status mp_mns_set(mp_proxy *ns, const char *name, const mp_value *val)
{
    return ns_call(ns, "__setattr__", name, val, true, NULL);
}
mp_status mp_mns_del(mp_proxy *ns, const char *name)
{
    return ns_call(ns, "__delattr__", name, NULL, false, NULL);
}

/* ---- Value */
mp_status mp_mvalue_get(mp_proxy *v, mp_value **val)
{
    OUTCHK(val, MGR__T_VALUE, "get");
    return tcall(v, MGR__T_VALUE, "get", 0, NULL, val);
}
mp_status mp_mvalue_set(mp_proxy *v, const mp_value *val)
{
    return tcall(v, MGR__T_VALUE, "set", 1, &val, NULL);
}

/* ---- Lock, Event, Queue: timeouts checked here, waited for on the server */
/* A typed call of (item, timeout) or (timeout): MP_EINVAL for a NaN timeout,
 * a negative one is 0 (CPython's rule). */
static mp_status timed(mp_proxy *p, int type, const char *method, const mp_value *item,
                       double timeout, mp_value **res)
{
    if (isnan(timeout))
        return mp__err(MP_EINVAL, "%s.%s: NaN timeout", mp__mgr_typeids[type], method);
    mp_value *t = mp_float(timeout < 0 ? 0 : timeout);
    if (!t)
        return mp__err(MP_ENOMEM, "out of memory");
    const mp_value *a[2] = {item ? item : t, t};
    mp_status st = tcall(p, type, method, item ? 2 : 1, a, res);
    mp_value_free(t);
    return st;
}

/* Consumes r, the bool result of a timed wait: false is MP_TIMEOUT. */
static mp_status true_or_timeout(mp_value *r, mp_status st, const char *what, double timeout)
{
    bool ok = false;
    if (!st)
        st = mp_value_get_bool(r, &ok);
    mp_value_free(r);
    if (!st && !ok)
        st = mp__err(MP_TIMEOUT, "%s: timed out after %.3f s", what, timeout);
    return st;
}

/* The shared helpers, for manager_proxy_sync.c. */
mp_status mp__mgr_tcall(mp_proxy *p, int type, const char *method, size_t n,
                        const mp_value *const *args, mp_value **res)
{
    return tcall(p, type, method, n, args, res);
}
mp_status mp__mgr_timed(mp_proxy *p, int type, const char *method, const mp_value *item,
                        double timeout, mp_value **res)
{
    return timed(p, type, method, item, timeout, res);
}
mp_status mp__mgr_true_or_timeout(mp_value *r, mp_status st, const char *what, double timeout)
{
    return true_or_timeout(r, st, what, timeout);
}
mp_status mp__mgr_get_size(mp_value *r, mp_status st, size_t *out) { return get_size(r, st, out); }
mp_status mp__mgr_get_bool(mp_value *r, mp_status st, bool *out) { return get_bool(r, st, out); }

/* The type an acquire/release on l checks: l's own when it is one of
 * CPython's AcquirerProxy types (Lock, RLock, Semaphore, BoundedSemaphore,
 * and Condition), else Lock (so the call is MP_EINVAL). */
static int acquirer(const mp_proxy *l)
{
    if (l && (l->type == MGR__T_RLOCK || l->type == MGR__T_SEM || l->type == MGR__T_BSEM ||
              l->type == MGR__T_COND))
        return l->type;
    return MGR__T_LOCK;
}

/* The type a Queue call on q checks: JoinableQueue or Queue. */
static int queue_type(const mp_proxy *q)
{
    return q && q->type == MGR__T_JQUEUE ? MGR__T_JQUEUE : MGR__T_QUEUE;
}

mp_status mp_mlock_acquire(mp_proxy *l, double timeout)
{
    mp_value *r = NULL;
    int type = acquirer(l);
    mp_status st = timed(l, type, "acquire", NULL, timeout, &r);
    return true_or_timeout(r, st, "acquire", timeout);
}
mp_status mp_mlock_release(mp_proxy *l) { return tcall(l, acquirer(l), "release", 0, NULL, NULL); }

mp_status mp_mevent_set(mp_proxy *e) { return tcall(e, MGR__T_EVENT, "set", 0, NULL, NULL); }
mp_status mp_mevent_clear(mp_proxy *e) { return tcall(e, MGR__T_EVENT, "clear", 0, NULL, NULL); }
mp_status mp_mevent_is_set(mp_proxy *e, bool *set)
{
    OUTCHK(set, MGR__T_EVENT, "is_set");
    mp_value *r = NULL;
    return get_bool(r, tcall(e, MGR__T_EVENT, "is_set", 0, NULL, &r), set);
}
mp_status mp_mevent_wait(mp_proxy *e, double timeout)
{
    mp_value *r = NULL;
    mp_status st = timed(e, MGR__T_EVENT, "wait", NULL, timeout, &r);
    return true_or_timeout(r, st, "Event.wait", timeout);
}

mp_status mp_mqueue_put(mp_proxy *q, const mp_value *item, double timeout)
{
    if (!item)
        return mp__err(MP_EINVAL, "Queue.put: NULL value");
    return timed(q, queue_type(q), "put", item, timeout, NULL);
}
mp_status mp_mqueue_get(mp_proxy *q, mp_value **item, double timeout)
{
    OUTCHK(item, MGR__T_QUEUE, "get");
    return timed(q, queue_type(q), "get", NULL, timeout, item);
}
mp_status mp_mqueue_qsize(mp_proxy *q, size_t *n)
{
    OUTCHK(n, MGR__T_QUEUE, "qsize");
    mp_value *r = NULL;
    mp_status st = tcall(q, queue_type(q), "qsize", 0, NULL, &r);
    return get_size(r, st, n);
}

/* ---- iterators */

/* *out = a proxy of the given type on the object the server just made (or
 * incref'd) for this process, r its id (consumed).  On failure the
 * reference is given back. */
static mp_status adopt(ep *e, mp_value *r, mp_status st, int type, mp_proxy **out)
{
    int64_t oid = 0;
    if (!st)
        st = mp_value_get_int(r, &oid);
    mp_value_free(r);
    if (st)
        return st;
    mp_proxy *p = malloc(sizeof *p);
    if (!p) {
        mp_value *id = mp_int(oid);
        if (id) {
            const mp_value *args[1] = {id};
            mp__mgr_call(e, 0, "decref", args, 1, NULL);
            mp_value_free(id);
        }
        return mp__err(MP_ENOMEM, "%s: out of memory", mp__mgr_typeids[type]);
    }
    mp__mgr_ep_ref(e);
    *p = (mp_proxy){.ep = e, .oid = oid, .type = type, .owner = mp__mgr_self_pid()};
    *out = p;
    return MP_OK;
}

/* iter(proxy): an Iterator proxy made on the server by __iter__. */
static mp_status iter_of(mp_proxy *p, int type, mp_proxy **it)
{
    OUTCHK(it, type, "__iter__");
    mp_value *r = NULL;
    mp_status st = tcall(p, type, "__iter__", 0, NULL, &r);
    return adopt(p ? p->ep : NULL, r, st, MGR__T_ITER, it);
}
mp_status mp_mdict_iter(mp_proxy *d, mp_proxy **it) { return iter_of(d, MGR__T_DICT, it); }
mp_status mp_mlist_iter(mp_proxy *l, mp_proxy **it) { return iter_of(l, MGR__T_LIST, it); }

/* next(it): MP_EOF at the end, MP_ESTATE when the dict changed size. */
mp_status mp_proxy_iter_next(mp_proxy *it, mp_value **item)
{
    OUTCHK(item, MGR__T_ITER, "__next__");
    return tcall(it, MGR__T_ITER, "__next__", 0, NULL, item);
}

/* ---- proxies stored in containers */

/* The proxy p as the argument of setproxy/appendproxy: its id, into *id
 * (the caller frees it).  MP_EINVAL for NULL or a proxy of another server
 * than c's (an id means nothing there). */
static mp_status ref_arg(mp_proxy *c, mp_proxy *p, const char *what, mp_value **id)
{
    if (!p)
        return mp__err(MP_EINVAL, "%s: NULL proxy to store", what);
    if (c && strcmp(c->ep->address, p->ep->address) != 0)
        return mp__err(MP_EINVAL, "%s: the proxy belongs to another manager (%s, not %s)", what,
                       p->ep->address, c->ep->address);
    if (!(*id = mp_int(p->oid)))
        return mp__err(MP_ENOMEM, "%s: out of memory", what);
    return MP_OK;
}

/* The reply [typeid, oid] of getproxy (consumed): a new proxy holding the
 * reference the server took for it. */
static mp_status ref_result(ep *e, mp_value *r, mp_status st, mp_proxy **out)
{
    if (st) {
        mp_value_free(r);
        return st;
    }
    const char *tname = NULL;
    int type = -1;
    if (r && r->type == MP_T_LIST && r->u.q.len == 2 &&
        !mp_value_get_str(r->u.q.items[0], &tname, NULL))
        for (int i = 0; i < MGR__T_COUNT; i++)
            if (strcmp(tname, mp__mgr_typeids[i]) == 0)
                type = i;
    if (type < 0) {
        mp_value_free(r);
        return mp__err(MP_EPROTO, "manager: getproxy: malformed reply");
    }
    mp_value *id = r->u.q.items[1];
    r->u.q.items[1] = NULL;
    mp_value_free(r);
    return adopt(e, id, MP_OK, type, out);
}

/* d[key] = proxy: the dict holds the object. */
mp_status mp_mdict_set_proxy(mp_proxy *d, const mp_value *key, mp_proxy *val)
{
    mp_value *id = NULL;
    mp_status st = pcheck(d, MGR__T_DICT, "setproxy");
    if (st || (st = ref_arg(d, val, "dict.setproxy", &id)))
        return st;
    const mp_value *a[2] = {key, id};
    st = tcall(d, MGR__T_DICT, "setproxy", 2, a, NULL);
    mp_value_free(id);
    return st;
}

/* A proxy to the object the proxy stored at d[key] refers to. */
mp_status mp_mdict_get_proxy(mp_proxy *d, const mp_value *key, mp_proxy **out)
{
    OUTCHK(out, MGR__T_DICT, "getproxy");
    mp_value *r = NULL;
    mp_status st = tcall(d, MGR__T_DICT, "getproxy", 1, &key, &r);
    return ref_result(d ? d->ep : NULL, r, st, out);
}

/* l.append(proxy): the list holds the object. */
mp_status mp_mlist_append_proxy(mp_proxy *l, mp_proxy *item)
{
    mp_value *id = NULL;
    mp_status st = pcheck(l, MGR__T_LIST, "appendproxy");
    if (st || (st = ref_arg(l, item, "list.appendproxy", &id)))
        return st;
    const mp_value *a[1] = {id};
    st = tcall(l, MGR__T_LIST, "appendproxy", 1, a, NULL);
    mp_value_free(id);
    return st;
}

/* A proxy to the object the proxy stored at l[i] refers to. */
mp_status mp_mlist_get_proxy(mp_proxy *l, ptrdiff_t i, mp_proxy **out)
{
    OUTCHK(out, MGR__T_LIST, "getproxy");
    mp_value *r = NULL;
    mp_status st = idx_call(l, MGR__T_LIST, "getproxy", i, NULL, &r);
    return ref_result(l ? l->ep : NULL, r, st, out);
}
