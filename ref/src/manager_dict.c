/* The manager server's dict, Namespace and Value: the types whose state is
 * one mp_value (o->v).  A Namespace is a dict whose keys are attribute names
 * (str); a Value holds any value.  Handlers take their arguments from k->a
 * (a taken one is set NULL) and answer through k->res / k->bres
 * (manager_server.h); errors carry the Python exception's name.
 *
 * May touch: the object's value only. */
#include "manager_server.h"

/* ---- dict (also the Namespace's storage) */

/* d[key]: KeyError when missing. */
static mp_status d_getitem(call *k)
{
    const mp_value *v;
    mp_status st = mp_dict_get(k->o->v, k->a[0], &v);
    if (st == MP_EKEY)
        return key_error(k->a[0]);
    if (st)
        return wrap(st);
    k->bres = v;
    return MP_OK;
}

/* get(key[, default]): default (None) when missing. */
static mp_status d_get(call *k)
{
    const mp_value *v;
    mp_status st = mp_dict_get(k->o->v, k->a[0], &v);
    if (st == MP_EKEY) {
        k->bres = k->n > 1 ? k->a[1] : NULL;
        return MP_OK;
    }
    if (st)
        return wrap(st);
    k->bres = v;
    return MP_OK;
}

/* d[key] = value (both taken); a large value replaced is freed off the loop. */
static mp_status d_setitem(call *k)
{
    mp_value *key = k->a[0], *val = k->a[1], *old;
    k->a[0] = k->a[1] = NULL;
    mp_status st = mp__dict_set_keep(k->o->v, key, val, &old);
    mp__mgr_dispose(k->s, old);
    return st ? wrap(st) : MP_OK;
}

/* del d[key]: KeyError when missing. */
static mp_status d_delitem(call *k)
{
    mp_status st = mp_dict_del(k->o->v, k->a[0]);
    if (st == MP_EKEY)
        return key_error(k->a[0]);
    return st ? wrap(st) : MP_OK;
}

/* key in d; a lookup error other than a missing key is reported, not False. */
static mp_status d_contains(call *k)
{
    const mp_value *v;
    mp_status st = mp_dict_get(k->o->v, k->a[0], &v);
    if (st && st != MP_EKEY)
        return wrap(st);
    k->bres = mp_bool(st == MP_OK);
    return MP_OK;
}

/* keys(), values(), items(): a new list of copies (what: 0 keys, 1 values,
 * 2 items as (key, value) tuples). */
static mp_status d_view(call *k, int what)
{
    size_t n = 0;
    mp_dict_len(k->o->v, &n);
    mp_value *l = mp__seq_new(MP_T_LIST, n);
    if (!l)
        return oom();
    for (size_t i = 0; i < n; i++) {
        const mp_value *key, *val;
        mp_dict_item(k->o->v, i, &key, &val);
        mp_value *it = what == 0   ? mp_value_copy(key)
                       : what == 1 ? mp_value_copy(val)
                                   : mp_tuple_of(2, mp_value_copy(key), mp_value_copy(val));
        if (!it) {
            mp_value_free(l);
            return oom();
        }
        l->u.q.items[l->u.q.len++] = it;
    }
    k->res = l;
    return MP_OK;
}

static mp_status d_keys(call *k) { return d_view(k, 0); }
static mp_status d_values(call *k) { return d_view(k, 1); }
static mp_status d_items(call *k) { return d_view(k, 2); }

/* update(dict): every item of the argument, copied, in its order. */
static mp_status d_update(call *k)
{
    mp_value *src = k->a[0];
    if (src->type != MP_T_DICT)
        return mp__err(MP_ETYPE, "TypeError: update() needs a dict");
    size_t n = 0;
    mp_dict_len(src, &n);
    for (size_t i = 0; i < n; i++) {
        const mp_value *key, *val;
        mp_dict_item(src, i, &key, &val);
        mp_value *kc = mp_value_copy(key), *vc = kc ? mp_value_copy(val) : NULL;
        if (!vc) {
            mp_value_free(kc);
            return oom();
        }
        mp_status st = mp_dict_set(k->o->v, kc, vc);
        if (st)
            return wrap(st);
    }
    return MP_OK;
}

/* pop(key[, default]): the value, removed; default or KeyError when missing. */
static mp_status d_pop(call *k)
{
    const mp_value *v;
    mp_status st = mp_dict_get(k->o->v, k->a[0], &v);
    if (st == MP_EKEY) {
        if (k->n > 1) {
            k->bres = k->a[1];
            return MP_OK;
        }
        return key_error(k->a[0]);
    }
    if (st)
        return wrap(st);
    mp_value *c = mp_value_copy(v);
    if (!c)
        return oom();
    mp_dict_del(k->o->v, k->a[0]);
    k->res = c;
    return MP_OK;
}

/* setdefault(key[, default]): the value; when missing, default (None) is
 * stored and returned. */
static mp_status d_setdefault(call *k)
{
    const mp_value *v;
    mp_status st = mp_dict_get(k->o->v, k->a[0], &v);
    if (st == MP_EKEY) {
        mp_value *key = k->a[0], *val = k->n > 1 ? k->a[1] : mp_none();
        mp_value *ret = mp_value_copy(val);
        if (!ret)
            return oom();
        k->a[0] = NULL;
        if (k->n > 1)
            k->a[1] = NULL;
        if ((st = mp_dict_set(k->o->v, key, val))) {
            mp_value_free(ret);
            return wrap(st);
        }
        k->res = ret;
        return MP_OK;
    }
    if (st)
        return wrap(st);
    k->bres = v;
    return MP_OK;
}

/* clear(): a new empty dict replaces the old one. */
static mp_status d_clear(call *k)
{
    mp_value *d = mp_dict();
    if (!d)
        return oom();
    mp_value_free(k->o->v);
    k->o->v = d;
    return MP_OK;
}

/* ---- Namespace */

/* The attribute name argument, which must be a str. */
static mp_status ns_name(call *k, mp_value **key)
{
    if (k->a[0]->type != MP_T_STR)
        return mp__err(MP_ETYPE, "TypeError: attribute name must be a string");
    *key = k->a[0];
    return MP_OK;
}

/* AttributeError for the name k->a[0] (as CPython words it; MP_EKEY). */
static mp_status ns_missing(call *k)
{
    const char *name;
    mp_value_get_str(k->a[0], &name, NULL);
    return mp__err(MP_EKEY, "AttributeError: 'Namespace' object has no attribute '%s'", name);
}

/* ns.name: AttributeError when it has no such attribute. */
static mp_status ns_getattr(call *k)
{
    mp_value *key = NULL;
    const mp_value *v;
    mp_status st = ns_name(k, &key);
    if (st)
        return st;
    if (mp_dict_get(k->o->v, key, &v))
        return ns_missing(k);
    k->bres = v;
    return MP_OK;
}

/* ns.name = value: a str name, stored as a dict item. */
static mp_status ns_setattr(call *k)
{
    mp_value *key = NULL;
    mp_status st = ns_name(k, &key);
    if (st)
        return st;
    return d_setitem(k);
}

/* del ns.name: AttributeError when it has no such attribute. */
static mp_status ns_delattr(call *k)
{
    mp_value *key = NULL;
    mp_status st = ns_name(k, &key);
    if (st)
        return st;
    if (mp_dict_del(k->o->v, key))
        return ns_missing(k);
    return MP_OK;
}

/* ---- Value */

static mp_status v_get(call *k)
{
    k->bres = k->o->v;
    return MP_OK;
}

/* set(value): the new value (taken) replaces the old one. */
static mp_status v_set(call *k)
{
    mp_value_free(k->o->v);
    k->o->v = k->a[0];
    k->a[0] = NULL;
    return MP_OK;
}

/* setproxy(key, oid): d[key] = the proxy of that object (the dict holds it). */
static mp_status d_setproxy(call *k)
{
    mp_status st = mp__mgr_make_ref(k, 1);
    return st ? st : d_setitem(k);
}

/* getproxy(key) -> [typeid, oid]: d[key], which must be a stored proxy. */
static mp_status d_getproxy(call *k)
{
    mp_status st = d_getitem(k);
    return st ? st : mp__mgr_give_ref(k);
}

/* ---- method tables */

const method mp__mgr_dict_methods[] = {{"__getitem__", d_getitem, 1, 1},
                                       {"__setitem__", d_setitem, 2, 2},
                                       {"__delitem__", d_delitem, 1, 1},
                                       {"__contains__", d_contains, 1, 1},
                                       {"__len__", mp__mgr_len, 0, 0},
                                       {"get", d_get, 1, 2},
                                       {"keys", d_keys, 0, 0},
                                       {"values", d_values, 0, 0},
                                       {"items", d_items, 0, 0},
                                       {"update", d_update, 1, 1},
                                       {"pop", d_pop, 1, 2},
                                       {"setdefault", d_setdefault, 1, 2},
                                       {"clear", d_clear, 0, 0},
                                       {"copy", mp__mgr_copy, 0, 0},
                                       {"__iter__", mp__mgr_iter, 0, 0},
                                       {"setproxy", d_setproxy, 2, 2},
                                       {"getproxy", d_getproxy, 1, 1},
                                       {NULL, NULL, 0, 0}};

const method mp__mgr_ns_methods[] = {{"__getattr__", ns_getattr, 1, 1},
                                     {"__setattr__", ns_setattr, 2, 2},
                                     {"__delattr__", ns_delattr, 1, 1},
                                     {"copy", mp__mgr_copy, 0, 0},
                                     {NULL, NULL, 0, 0}};

const method mp__mgr_value_methods[] = {
    {"get", v_get, 0, 0}, {"set", v_set, 1, 1}, {NULL, NULL, 0, 0}};
