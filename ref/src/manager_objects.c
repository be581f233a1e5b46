/* The manager server's objects and its dispatch: the object table (ids are
 * generation << 32 | slot + 1, so a stale id never reaches a reused slot),
 * the manager's own methods on oid 0 (create, incref, decref,
 * number_of_objects), the handlers several types share, and mp__mgr_request,
 * which turns a request frame [oid, method, args...] into a handler call and
 * its reply.
 *
 * A handler (manager_dict.c, manager_list.c, manager_sync.c,
 * manager_queue.c) runs on the server's only thread with the whole state to
 * itself: each request is atomic without locks.  One that must wait
 * (Lock.acquire, Event.wait, Queue.get/put) becomes a waiter with a deadline
 * (mp__mgr_defer) and is answered later by mp__mgr_finish.
 *
 * May touch: the object table, the name table, an object's waiters (through
 * mp__mgr_finish); a client only by replying to it. */
#include "manager_server.h"

#include <limits.h>
#include <string.h>

/* --------------------------------------------------------------- objects */

/* The live object with id oid, or NULL (0, unknown, released, stale). */
static obj *obj_get(srv *s, int64_t oid)
{
    uint64_t u = (uint64_t)oid;
    uint32_t i = (uint32_t)u, gen = (uint32_t)(u >> 32);
    if (oid <= 0 || i == 0 || i > s->nobj)
        return NULL;
    obj *o = &s->objs[i - 1];
    return o->used && o->gen == gen ? o : NULL;
}

/* o's id, as the client holds it. */
static int64_t obj_id(srv *s, obj *o)
{
    return (int64_t)((uint64_t)o->gen << 32 | (uint64_t)(o - s->objs + 1));
}

/* Give back the reference of an Iterator on target (0: none) and those of a
 * container on the ids in held (a dict, freed; NULL: none).  Releasing one
 * object may release others, a chain of any length: they are queued on
 * s->unref and given back in a loop, never by recursion.  Out of memory for
 * the queue, a reference is kept: the object then lives until the server
 * ends, never less. */
static void unref(srv *s, int64_t target, mp_value *held)
{
    size_t n = 0;
    if (held)
        mp_dict_len(held, &n);
    if (!target && !n) {
        mp_value_free(held);
        return;
    }
    bool outer = !s->unref;
    if (outer && !(s->unref = mp_list())) {
        mp_value_free(held);
        return;
    }
    if (target)
        mp_seq_append(s->unref, mp_int(target));
    for (size_t i = 0; i < n; i++) {
        const mp_value *id;
        mp_dict_item(held, i, &id, NULL);
        mp_seq_append(s->unref, mp_value_copy(id));
    }
    mp_value_free(held);
    if (!outer)
        return;
    size_t len;
    while (mp_seq_len(s->unref, &len) == MP_OK && len) {
        mp_value *id = s->unref->u.q.items[--s->unref->u.q.len];
        obj *t = obj_get(s, id->u.i);
        mp_value_free(id);
        if (t && --t->refs <= 0)
            mp__mgr_obj_release(s, t);
    }
    mp_value_free(s->unref);
    s->unref = NULL;
}

/* See manager_server.h.  Also unlinks o's Lock holder, frees what o holds
 * and gives back an Iterator's reference on what it walks. */
void mp__mgr_obj_release(srv *s, obj *o)
{
    int64_t target = o->type == MGR__T_ITER ? o->target : 0;
    mp_value *held = o->held;
    while (o->wh) {
        mp__err(MP_CLOSED, "%s object released while waiting", mp__mgr_typeids[o->type]);
        mp__mgr_finish(s, o->wh, MP_CLOSED, NULL);
    }
    if (o->holder)
        o->holder->held--;
    mp_value_free(o->v);
    for (size_t k = 0; k < o->qlen; k++)
        mp_value_free(o->q[(o->qhead + k) % o->qcap]);
    free(o->q);
    uint32_t gen = o->gen, idx = (uint32_t)(o - s->objs);
    memset(o, 0, sizeof *o);
    o->gen = (gen + 1) & 0x7fffffff;
    o->next_free = s->free_head;
    s->free_head = idx + 1;
    s->live_objs--;
    unref(s, target, held);
}

/* A new object of type (refs 1, nothing else set), from the free list or a
 * grown table; NULL when out of memory. */
static obj *obj_new(srv *s, int type)
{
    obj *o;
    if (s->free_head) {
        o = &s->objs[s->free_head - 1];
        s->free_head = o->next_free;
    } else {
        if (s->nobj == s->cap_obj) {
            uint32_t n = s->cap_obj ? s->cap_obj * 2 : 64;
            obj *p = n < s->cap_obj ? NULL : realloc(s->objs, n * sizeof *p);
            if (!p)
                return NULL;
            memset(p + s->cap_obj, 0, (n - s->cap_obj) * sizeof *p);
            for (uint32_t i = 0; i < s->nobj; i++) /* the table moved: so did o's waiters' o */
                for (waiter *w = p[i].wh; w; w = w->next)
                    w->o = &p[i];
            s->objs = p;
            s->cap_obj = n;
        }
        o = &s->objs[s->nobj++];
        o->gen = 1;
    }
    o->used = true;
    o->type = type;
    o->refs = 1;
    o->next_free = 0;
    s->live_objs++;
    return o;
}

/* See manager_server.h.  Re-arms the client: it is not read while it waits. */
mp_status mp__mgr_defer(call *k, int kind, double timeout, mp_value *item)
{
    waiter *w = calloc(1, sizeof *w);
    if (!w) {
        mp_value_free(item);
        return oom();
    }
    w->c = k->c;
    w->o = k->o;
    w->kind = kind;
    w->item = item;
    w->deadline = isinf(timeout) ? INFINITY : mp__now() + timeout;
    w->prev = k->o->wt;
    if (k->o->wt)
        k->o->wt->next = w;
    else
        k->o->wh = w;
    k->o->wt = w;
    k->c->w = w;
    mp__mgr_arm(k->s, k->c);
    return DEFER;
}

/* __len__ of a dict or a list. */
mp_status mp__mgr_len(call *k)
{
    size_t n = 0;
    if (k->o->v->type == MP_T_DICT)
        mp_dict_len(k->o->v, &n);
    else
        mp_seq_len(k->o->v, &n);
    return set_res(k, mp_int((int64_t)n));
}

/* copy() of a dict, list or Namespace: the value itself, encoded in the reply. */
mp_status mp__mgr_copy(call *k)
{
    k->bres = k->o->v; /* encoded as it is: no copy needed */
    return MP_OK;
}

/* ---- iterators */

static size_t dict_size(obj *t)
{
    size_t n = 0;
    mp_dict_len(t->v, &n);
    return n;
}

/* See manager_server.h.  obj_new may move the table: k->o is looked up again. */
mp_status mp__mgr_iter(call *k)
{
    int64_t tid = obj_id(k->s, k->o);
    size_t used = 0;
    if (k->o->type == MGR__T_DICT)
        mp_dict_len(k->o->v, &used);
    obj *it = obj_new(k->s, MGR__T_ITER);
    if (!it)
        return oom();
    it->target = tid;
    it->isize = used;
    obj_get(k->s, tid)->refs++;
    k->o = NULL;
    return set_res(k, mp_int(obj_id(k->s, it)));
}

/* __next__: the next key of a dict or item of a list; MP_EOF (StopIteration)
 * at the end and ever after; MP_ESTATE (RuntimeError) when the dict's size
 * is not what it was when the iterator was made, and ever after (CPython's
 * dict iterator).  A list iterator reads the list as it is now: items
 * changed meanwhile are seen (CPython's list iterator). */
static mp_status it_next(call *k)
{
    obj *it = k->o, *t = obj_get(k->s, it->target);
    if (it->istate == ITER_BROKEN ||
        (t && t->type == MGR__T_DICT && it->istate == ITER_LIVE && dict_size(t) != it->isize)) {
        it->istate = ITER_BROKEN;
        return mp__err(MP_ESTATE, "RuntimeError: dictionary changed size during iteration");
    }
    size_t n = 0;
    if (t && it->istate == ITER_LIVE) {
        if (t->type == MGR__T_DICT)
            n = dict_size(t);
        else
            mp_seq_len(t->v, &n);
    }
    if (!t || it->istate == ITER_DONE || it->pos >= n) {
        it->istate = ITER_DONE;
        return mp__err(MP_EOF, "StopIteration");
    }
    const mp_value *v = NULL;
    if (t->type == MGR__T_DICT)
        mp_dict_item(t->v, it->pos, &v, NULL);
    else
        v = t->v->u.q.items[it->pos];
    it->pos++;
    k->bres = v;
    return MP_OK;
}

const method mp__mgr_iter_methods[] = {{"__next__", it_next, 0, 0}, {NULL, NULL, 0, 0}};

/* ---- proxies stored in containers */

/* See manager_server.h.  The container k->o holds the object once, however
 * many of its items refer to it. */
mp_status mp__mgr_make_ref(call *k, size_t ai)
{
    int64_t id;
    if (!k->a[ai] || k->a[ai]->type != MP_T_INT || mp_value_get_int(k->a[ai], &id))
        return mp__err(MP_ETYPE, "TypeError: a proxy's id must be an int");
    obj *t = obj_get(k->s, id);
    if (!t)
        return mp__err(MP_CLOSED, "the object (id %llx) no longer exists on the server",
                       (unsigned long long)id);
    mp_value *ref = mp_tuple_of(3, mp_str("<proxy>"), mp_str(mp__mgr_typeids[t->type]), mp_int(id));
    if (!ref)
        return oom();
    ref->flags |= MGR__VF_REF;
    if (!k->o->held && !(k->o->held = mp_dict())) {
        mp_value_free(ref);
        return oom();
    }
    const mp_value *had;
    if (mp_dict_get(k->o->held, k->a[ai], &had) == MP_EKEY) {
        mp_value *key = mp_int(id);
        if (!key || mp_dict_set(k->o->held, key, mp_none())) {
            mp_value_free(ref);
            return oom();
        }
        t->refs++;
    }
    mp_value_free(k->a[ai]);
    k->a[ai] = ref;
    return MP_OK;
}

/* See manager_server.h. */
mp_status mp__mgr_give_ref(call *k)
{
    const mp_value *v = k->bres;
    k->bres = NULL;
    obj *t = v && v->type == MP_T_TUPLE && (v->flags & MGR__VF_REF)
                 ? obj_get(k->s, v->u.q.items[2]->u.i)
                 : NULL;
    if (!t)
        return mp__err(MP_ETYPE, "TypeError: the item is not a proxy");
    mp_value *r = mp_list_of(2, mp_str(mp__mgr_typeids[t->type]), mp_int(v->u.q.items[2]->u.i));
    if (!r)
        return oom();
    t->refs++;
    k->res = r;
    return MP_OK;
}

/* ---- the manager (oid 0) */

/* Give the new object o its state from create's init (taken on success;
 * NULL: none): a dict, Namespace (str keys), list (or tuple, made a list),
 * Value, or a Queue's maxsize; Lock and Event take none; the types of
 * manager_cond.c and manager_array.c check their own.  TypeError else. */
static mp_status init_obj(obj *o, mp_value *init)
{
    switch (o->type) {
    case MGR__T_DICT:
    case MGR__T_NS:
        if (init && init->type != MP_T_DICT)
            return mp__err(MP_ETYPE, "TypeError: %s() needs a dict", mp__mgr_typeids[o->type]);
        if (init && o->type == MGR__T_NS) {
            size_t n = 0;
            mp_dict_len(init, &n);
            for (size_t i = 0; i < n; i++) {
                const mp_value *key;
                mp_dict_item(init, i, &key, NULL);
                if (key->type != MP_T_STR)
                    return mp__err(MP_ETYPE,
                                   "TypeError: Namespace attribute names must be strings");
            }
        }
        o->v = init ? init : mp_dict();
        break;
    case MGR__T_LIST:
        if (init && init->type != MP_T_LIST && init->type != MP_T_TUPLE)
            return mp__err(MP_ETYPE, "TypeError: list() needs a list or tuple");
        if (init)
            init->type = MP_T_LIST;
        o->v = init ? init : mp_list();
        break;
    case MGR__T_VALUE:
        o->v = init ? init : mp_none();
        break;
    case MGR__T_RLOCK:
    case MGR__T_SEM:
    case MGR__T_BSEM:
    case MGR__T_COND:
    case MGR__T_BARRIER:
        return mp__mgr_init_sync(o, init);
    case MGR__T_ARRAY:
        return mp__mgr_init_array(o, init);
    case MGR__T_QUEUE:
    case MGR__T_JQUEUE: {
        int64_t m = 0;
        if (init && init->type != MP_T_NONE && mp_value_get_int(init, &m))
            return mp__err(MP_ETYPE, "TypeError: Queue(maxsize) needs an int");
        o->maxsize = m > LONG_MAX ? LONG_MAX : (long)m;
        mp_value_free(init);
        return MP_OK;
    }
    default: /* threading.Lock(42), threading.Event(42): TypeError */
        if (init)
            return mp__err(MP_ETYPE, "TypeError: %s() takes no arguments",
                           mp__mgr_typeids[o->type]);
        return MP_OK;
    }
    return o->v ? MP_OK : oom();
}

/* create(typeid, init[, name]) -> id.  A name already registered for the
 * same type returns that object (one more reference); for another type,
 * TypeError.  A named object holds one reference for its name. */
static mp_status m_create(call *k)
{
    const char *tname, *name = NULL;
    if (mp_value_get_str(k->a[0], &tname, NULL))
        return mp__err(MP_ETYPE, "TypeError: typeid must be a string");
    int type = mp__mgr_typeid(tname);
    if (type < 0)
        return mp__err(MP_EINVAL, "ValueError: unknown typeid '%s'", tname);
    mp_value *init = k->a[1]->type == MP_T_NONE && type != MGR__T_VALUE ? NULL : k->a[1];
    if (k->n > 2 && k->a[2]->type != MP_T_NONE && mp_value_get_str(k->a[2], &name, NULL))
        return mp__err(MP_ETYPE, "TypeError: name must be a string or None");
    if (name) {
        const mp_value *id = NULL;
        obj *o = mp_dict_get(k->s->names, k->a[2], &id) ? NULL : obj_get(k->s, id->u.i);
        if (!o && id)
            mp_dict_del(k->s->names, k->a[2]); /* released by stray decrefs */
        if (o) {
            if (o->type != type)
                return mp__err(MP_ETYPE, "TypeError: '%s' is a %s, not a %s", name,
                               mp__mgr_typeids[o->type], tname);
            o->refs++;
            return set_res(k, mp_int(id->u.i));
        }
    }
    obj *o = obj_new(k->s, type);
    if (!o)
        return oom();
    k->a[1] = NULL;
    mp_status st = init_obj(o, init);
    if (st) {
        if (init && !o->v)
            k->a[1] = init; /* not taken */
        mp__mgr_obj_release(k->s, o);
        return st;
    }
    int64_t id = obj_id(k->s, o);
    if (name) {
        mp_value *key = k->a[2], *val = mp_int(id);
        k->a[2] = NULL;
        if (!val || mp_dict_set(k->s->names, key, val)) {
            mp__mgr_obj_release(k->s, o);
            return oom();
        }
        o->refs++; /* the name's reference */
    }
    return set_res(k, mp_int(id));
}

/* incref/decref: an object whose references reach 0 is released. */
static mp_status m_ref(call *k, int delta)
{
    int64_t id;
    obj *o = mp_value_get_int(k->a[0], &id) ? NULL : obj_get(k->s, id);
    if (!o)
        return mp__err(MP_CLOSED, "no object with that id on the server");
    o->refs += delta;
    if (o->refs <= 0)
        mp__mgr_obj_release(k->s, o);
    return MP_OK;
}

static mp_status m_incref(call *k) { return m_ref(k, 1); }
static mp_status m_decref(call *k) { return m_ref(k, -1); }

static mp_status m_count(call *k) { return set_res(k, mp_int((int64_t)k->s->live_objs)); }

/* ---- method tables */

static const method manager_methods[] = {{"create", m_create, 2, 3},
                                         {"incref", m_incref, 1, 1},
                                         {"decref", m_decref, 1, 1},
                                         {"number_of_objects", m_count, 0, 0},
                                         {NULL, NULL, 0, 0}};

/* Indexed by MGR__T_*: each type's table lives in its own file. */
static const method *const tables[MGR__T_COUNT] = {
    mp__mgr_dict_methods,  mp__mgr_list_methods,  mp__mgr_ns_methods,    mp__mgr_value_methods,
    mp__mgr_lock_methods,  mp__mgr_event_methods, mp__mgr_queue_methods, mp__mgr_rlock_methods,
    mp__mgr_sem_methods,   mp__mgr_bsem_methods,  mp__mgr_cond_methods,  mp__mgr_barrier_methods,
    mp__mgr_queue_methods, mp__mgr_array_methods, mp__mgr_iter_methods}; /* JoinableQueue: Queue's
                                                                          */

/* ------------------------------------------------------------- requests */

/* See manager_server.h.  Unknown method: AttributeError; wrong number of
 * arguments: TypeError; unknown id: MP_CLOSED. */
void mp__mgr_request(srv *s, client *c, const unsigned char *p, size_t n)
{
    mp_value *req = NULL;
    if (mp_value_decode(p, n, &req) != MP_OK) {
        mp_value_free(req);
        mp__mgr_drop(s, c, "malformed request");
        return;
    }
    mp__mgr_apply(s, c, req);
    mp_value_free(req);
}

/* See manager_server.h. */
void mp__mgr_apply(srv *s, client *c, mp_value *req)
{
    if (req->type != MP_T_LIST || req->u.q.len < 2 || req->u.q.items[0]->type != MP_T_INT ||
        req->u.q.items[1]->type != MP_T_STR) {
        mp__mgr_drop(s, c, "malformed request");
        return;
    }
    call k = {.s = s, .c = c, .a = req->u.q.items + 2, .n = req->u.q.len - 2};
    int64_t oid = req->u.q.items[0]->u.i;
    k.method = req->u.q.items[1]->u.s.p;
    const method *tab;
    const char *tname = "manager";
    mp_status st;
    if (oid == 0)
        tab = manager_methods;
    else if ((k.o = obj_get(s, oid))) {
        tab = tables[k.o->type];
        tname = mp__mgr_typeids[k.o->type];
    } else {
        st = mp__err(MP_CLOSED, "the object (id %llx) no longer exists on the server",
                     (unsigned long long)oid);
        goto out;
    }
    for (; tab->name && strcmp(tab->name, k.method); tab++)
        ;
    if (!tab->name)
        st = mp__err(MP_EINVAL, "AttributeError: '%s' object has no attribute '%s'", tname,
                     k.method);
    else if (k.n < tab->min || k.n > tab->max)
        st = mp__err(MP_ETYPE, "TypeError: %s.%s() takes %u to %u arguments (%zu given)", tname,
                     k.method, tab->min, tab->max, k.n);
    else
        st = tab->fn(&k);
out:
    if (st != DEFER)
        mp__mgr_reply(s, c, st, k.res ? k.res : k.bres);
    mp_value_free(k.res);
}
