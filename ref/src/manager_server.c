/* The manager's server process: one epoll loop over every client.
 *
 * Every request runs to completion before the next one is read, so each
 * operation is atomic without locks.  Nothing blocks the loop: sockets are
 * non-blocking, a request that must wait (Lock.acquire, Event.wait,
 * Queue.get/put) becomes a waiter with a deadline and is answered later, and
 * a client whose replies pile up (it does not read them) or that has a
 * waiter is not read from until that is over -- only a hang-up is watched
 * for.  Input is read into a buffer that grows with the data that actually
 * arrived, never to a length a frame header merely claims.  Any client that
 * breaks the protocol is logged and dropped; a dropped client is freed only
 * at the end of a loop turn, so events already collected for it are safe to
 * skip.
 *
 * Before its handshake a connection is a stranger: it gets
 * MP_MANAGER_HANDSHAKE_TIMEOUT seconds to pass it, and at most
 * MGR__UNAUTH_MAX strangers are kept at once -- a new one pushes out the
 * oldest -- so that idle connections cannot hold the server's descriptors and
 * lock out a client that knows the key.  A Lock remembers the connection that
 * holds it; when that connection goes, the Lock goes to its first waiter, or
 * to the next acquirer, with MP_EOWNERDEAD, as a local Lock does. */
#include "manager.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#define DEFER ((mp_status)1000) /* a handler's "the reply comes later" */
#define IN_MIN ((size_t)64 << 10)
#define FRAMES_PER_TURN 64 /* fairness: then let other clients run */
/* Connections that have not yet passed the handshake.  Enough for a burst of
 * legitimate clients connecting at once (each needs one round trip); a
 * stranger is pushed out only by MGR__UNAUTH_MAX newer ones, so a client
 * that knows the key passes unless that many connect during its round trip. */
#define MGR__UNAUTH_MAX 256

enum { C_AUTH, C_READY };
enum { W_ACQUIRE, W_EVENT, W_GET, W_PUT };

typedef struct obj obj;
typedef struct client client;

typedef struct waiter {
    client *c;
    obj *o;
    int kind;
    double deadline; /* INFINITY: none */
    mp_value *item;  /* W_PUT: the item to put */
    struct waiter *prev, *next;
} waiter;

struct client {
    int fd;
    int state;
    bool dead, resume;
    uint32_t events;
    unsigned char nonce[MGR__NONCE];
    unsigned char *in;
    size_t in_off, in_len, in_cap;
    unsigned char *out;
    size_t out_off, out_len, out_cap;
    waiter *w;
    double since;        /* C_AUTH: when accepted (the handshake deadline runs from it) */
    unsigned held;       /* Locks this connection holds */
    client *aprev, *anext; /* C_AUTH: the strangers, oldest first */
    client *prev, *next; /* live clients */
    client *dnext;       /* dead list: freed at the end of the loop turn */
    client *rnext;       /* resume list: buffered frames to serve */
};

struct obj {
    int type;
    bool used;
    bool flag; /* Lock: locked; Event: set */
    bool orphan; /* Lock: its holder's connection closed while holding it */
    client *holder; /* Lock: the connection whose acquire took it, if still held */
    uint32_t gen;
    long refs;
    mp_value *v; /* dict, list, Namespace (a dict), Value */
    mp_value **q; /* Queue: ring */
    size_t qhead, qlen, qcap;
    long maxsize;
    waiter *wh, *wt;
    uint32_t next_free;
};

typedef struct srv {
    int ep;
    int lfd, pfd;
    bool tcp;
    const unsigned char *key;
    size_t keylen;
    obj *objs;
    uint32_t nobj, cap_obj, free_head; /* free_head: index + 1, 0 = none */
    size_t live_objs;
    mp_value *names; /* dict: name -> oid */
    client *clients, *dead, *resumes;
    client *strangers, *strangers_tail; /* C_AUTH clients, oldest first */
    size_t nstrangers;
    size_t pushed_out, timed_out; /* strangers dropped since the last log line */
    double quiet_until;           /* no such log line before this */
    double listen_rearm; /* 0: armed */
    double last_idle; /* seconds the previous wait for work took (MGR__SPIN_S) */
    bool spin;        /* poll for work: more than one CPU */
} srv;

static volatile sig_atomic_t stop_flag;
static const char *g_sock_path, *g_dir;
static char tag_listen, tag_parent;

static void on_term(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
    char line[320];
    int n = snprintf(line, sizeof line, "mp manager %d: ", (int)getpid());
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = strlen(line);
    line[len++] = '\n';
    /* One write per line, so that lines of several processes do not mix. */
    ssize_t w = write(2, line, len);
    (void)w;
}

/* ------------------------------------------------------------- buffers */

static bool grow(unsigned char **p, size_t *cap, size_t need)
{
    if (need <= *cap)
        return true;
    size_t n = *cap ? *cap : 256;
    while (n < need)
        n *= 2;
    unsigned char *q = realloc(*p, n);
    if (!q)
        return false;
    *p = q;
    *cap = n;
    return true;
}

/* --------------------------------------------------------------- clients */

static void arm(srv *s, client *c)
{
    if (c->dead)
        return;
    uint32_t ev = EPOLLRDHUP;
    if (c->out_off < c->out_len)
        ev |= EPOLLOUT;
    else if (!c->w)
        ev |= EPOLLIN;
    if (ev != c->events) {
        struct epoll_event e = {.events = ev, .data.ptr = c};
        epoll_ctl(s->ep, EPOLL_CTL_MOD, c->fd, &e);
        c->events = ev;
    }
}

static void unlink_waiter(waiter *w)
{
    obj *o = w->o;
    if (w->prev)
        w->prev->next = w->next;
    else
        o->wh = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        o->wt = w->prev;
    w->c->w = NULL;
    mp_value_free(w->item);
    free(w);
}

static void stranger_add(srv *s, client *c)
{
    c->aprev = s->strangers_tail;
    c->anext = NULL;
    if (s->strangers_tail)
        s->strangers_tail->anext = c;
    else
        s->strangers = c;
    s->strangers_tail = c;
    s->nstrangers++;
}

/* c passed the handshake, or is gone. */
static void stranger_remove(srv *s, client *c)
{
    if (c->aprev)
        c->aprev->anext = c->anext;
    else
        s->strangers = c->anext;
    if (c->anext)
        c->anext->aprev = c->aprev;
    else
        s->strangers_tail = c->aprev;
    c->aprev = c->anext = NULL;
    s->nstrangers--;
}

static void lock_holder_gone(srv *s, obj *o);

/* Close c's connection and forget it (freed at the end of the loop turn).
 * Its waiter is withdrawn; each Lock it holds goes on as lock_holder_gone()
 * says.  Safe to call again, and from inside a reply to c. */
static void drop(srv *s, client *c, const char *why)
{
    if (c->dead)
        return;
    if (why)
        logf_("dropped a client: %s", why);
    if (c->w)
        unlink_waiter(c->w);
    epoll_ctl(s->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->dead = true;
    if (c->state == C_AUTH)
        stranger_remove(s, c);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->dnext = s->dead;
    s->dead = c;
    /* Only a client that holds a Lock pays for this walk. */
    for (uint32_t i = 0; c->held && i < s->nobj; i++)
        if (s->objs[i].used && s->objs[i].type == MGR__T_LOCK && s->objs[i].holder == c)
            lock_holder_gone(s, &s->objs[i]);
}

static void resume(srv *s, client *c)
{
    if (!c->dead && !c->resume && c->in_off < c->in_len) {
        c->resume = true;
        c->rnext = s->resumes;
        s->resumes = c;
    }
}

static void flush(srv *s, client *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
                         MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            c->out_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        drop(s, c, NULL); /* the peer went away: not worth a log line */
        return;
    }
    if (c->out_off == c->out_len) {
        c->out_off = c->out_len = 0;
        if (c->out_cap > ((size_t)1 << 20)) {
            free(c->out);
            c->out = NULL;
            c->out_cap = 0;
        }
        if (!(c->events & EPOLLIN) && !c->w)
            resume(s, c); /* frames may wait in its input buffer */
    }
    arm(s, c);
}

/* Queue a frame of len payload bytes; returns where to write them. */
static unsigned char *frame(srv *s, client *c, size_t len)
{
    if (!grow(&c->out, &c->out_cap, c->out_len + 4 + len)) {
        drop(s, c, "out of memory for a reply");
        return NULL;
    }
    unsigned char *p = c->out + c->out_len;
    mgr__be32(p, (uint32_t)len);
    c->out_len += 4 + len;
    return p + 4;
}

/* Trim a message to valid UTF-8 (mp__err may have cut a character). */
static size_t utf8_trim(const char *m, size_t n)
{
    for (int k = 0; k < 4 && n > 0 && !mp__utf8_valid(m, n); k++)
        n--;
    return mp__utf8_valid(m, n) ? n : 0;
}

static void reply(srv *s, client *c, mp_status st, const mp_value *res)
{
    if (c->dead)
        return;
    size_t vlen = 0;
    if (st == MP_OK) {
        mp_value *none = mp_none();
        if (!res)
            res = none;
        st = mp__value_encoded_size(res, &vlen);
        if (st == MP_OK && vlen + 2 > MP_MANAGER_FRAME_MAX)
            st = mp__err(MP_EMSGSIZE, "the result (%zu bytes) exceeds the manager's "
                                      "frame limit", vlen);
        if (st == MP_OK) {
            unsigned char *p = frame(s, c, 2 + vlen);
            if (!p)
                return;
            p[0] = 0x92;
            p[1] = 0;
            mp__value_encode_into(res, p + 2, vlen);
            flush(s, c);
            return;
        }
    }
    const char *msg = mp_errmsg();
    size_t n = utf8_trim(msg, strlen(msg));
    unsigned char *p = frame(s, c, 2 + mgr__str_size(n));
    if (!p)
        return;
    p[0] = 0x92;
    p[1] = (unsigned char)st;
    mgr__put_str(p + 2, msg, n);
    flush(s, c);
}

/* A waiter's request is over: answer it, let its client go on. */
static void finish(srv *s, waiter *w, mp_status st, const mp_value *res)
{
    client *c = w->c;
    unlink_waiter(w);
    reply(s, c, st, res);
    resume(s, c);
    arm(s, c);
}

/* --------------------------------------------------------------- objects */

static obj *obj_get(srv *s, int64_t oid)
{
    uint64_t u = (uint64_t)oid;
    uint32_t i = (uint32_t)u, gen = (uint32_t)(u >> 32);
    if (oid <= 0 || i == 0 || i > s->nobj)
        return NULL;
    obj *o = &s->objs[i - 1];
    return o->used && o->gen == gen ? o : NULL;
}

static int64_t obj_id(srv *s, obj *o)
{
    return (int64_t)((uint64_t)o->gen << 32 | (uint64_t)(o - s->objs + 1));
}

static void obj_release(srv *s, obj *o)
{
    while (o->wh) {
        mp__err(MP_CLOSED, "%s object released while waiting", mp__mgr_typeids[o->type]);
        finish(s, o->wh, MP_CLOSED, NULL);
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
}

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

/* ------------------------------------------------------------- handlers */

typedef struct call {
    srv *s;
    client *c;
    obj *o;
    mp_value **a; /* arguments; a handler may take one (set it NULL) */
    size_t n;
    const char *method;
    mp_value *res;       /* owned result */
    const mp_value *bres; /* or a borrowed one */
} call;

typedef mp_status (*handler)(call *k);
typedef struct method {
    const char *name;
    handler fn;
    uint8_t min, max;
} method;

static mp_status oom(void) { return mp__err(MP_ENOMEM, "MemoryError: server out of memory"); }

/* A library status from a value call, as the Python exception it stands for. */
static mp_status wrap(mp_status st)
{
    char m[200];
    snprintf(m, sizeof m, "%s", mp_errmsg());
    return mp__err(st, "%s: %s", st == MP_ENOMEM ? "MemoryError" : st == MP_ETYPE ? "TypeError"
                                                                                   : "Error", m);
}

static mp_status set_res(call *k, mp_value *v)
{
    if (!v)
        return oom();
    k->res = v;
    return MP_OK;
}

static mp_status key_error(const mp_value *key)
{
    char *r = NULL;
    mp_value_repr(key, &r);
    mp_status st = mp__err(MP_EKEY, "KeyError: %s", r ? r : "?");
    free(r);
    return st;
}

static mp_status get_timeout(const mp_value *v, double *t)
{
    if (!v || v->type == MP_T_NONE) {
        *t = INFINITY;
        return MP_OK;
    }
    if (mp_value_get_float(v, t) != MP_OK || isnan(*t))
        return mp__err(MP_EINVAL, "ValueError: timeout must be a number, not NaN");
    if (*t < 0)
        *t = 0;
    return MP_OK;
}

static mp_status get_index(const mp_value *v, int64_t *i, const char *what)
{
    if (!v || (v->type != MP_T_INT && v->type != MP_T_BOOL))
        return mp__err(MP_ETYPE, "TypeError: %s indices must be integers", what);
    mp_value_get_int(v, i);
    return MP_OK;
}

static mp_status defer(call *k, int kind, double timeout, mp_value *item)
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
    arm(k->s, k->c);
    return DEFER;
}

/* ---- dict (also the Namespace's storage) */

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

static mp_status d_setitem(call *k)
{
    mp_value *key = k->a[0], *val = k->a[1];
    k->a[0] = k->a[1] = NULL;
    mp_status st = mp_dict_set(k->o->v, key, val);
    return st ? wrap(st) : MP_OK;
}

static mp_status d_delitem(call *k)
{
    mp_status st = mp_dict_del(k->o->v, k->a[0]);
    if (st == MP_EKEY)
        return key_error(k->a[0]);
    return st ? wrap(st) : MP_OK;
}

static mp_status d_contains(call *k)
{
    const mp_value *v;
    mp_status st = mp_dict_get(k->o->v, k->a[0], &v);
    if (st && st != MP_EKEY)
        return wrap(st);
    k->bres = mp_bool(st == MP_OK);
    return MP_OK;
}

static mp_status d_len(call *k)
{
    size_t n = 0;
    if (k->o->v->type == MP_T_DICT)
        mp_dict_len(k->o->v, &n);
    else
        mp_seq_len(k->o->v, &n);
    return set_res(k, mp_int((int64_t)n));
}

/* 0 keys, 1 values, 2 items */
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

static mp_status d_clear(call *k)
{
    mp_value *d = mp_dict();
    if (!d)
        return oom();
    mp_value_free(k->o->v);
    k->o->v = d;
    return MP_OK;
}

static mp_status x_copy(call *k)
{
    k->bres = k->o->v; /* encoded as it is: no copy needed */
    return MP_OK;
}

/* ---- Namespace */

static mp_status ns_name(call *k, mp_value **key)
{
    if (k->a[0]->type != MP_T_STR)
        return mp__err(MP_ETYPE, "TypeError: attribute name must be a string");
    *key = k->a[0];
    return MP_OK;
}

static mp_status ns_missing(call *k)
{
    const char *name;
    mp_value_get_str(k->a[0], &name, NULL);
    return mp__err(MP_EKEY, "AttributeError: 'Namespace' object has no attribute '%s'", name);
}

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

static mp_status ns_setattr(call *k)
{
    mp_value *key = NULL;
    mp_status st = ns_name(k, &key);
    if (st)
        return st;
    return d_setitem(k);
}

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

static mp_status v_set(call *k)
{
    mp_value_free(k->o->v);
    k->o->v = k->a[0];
    k->a[0] = NULL;
    return MP_OK;
}

/* ---- list */

static mp_value **L(call *k) { return k->o->v->u.q.items; }
static size_t LN(call *k) { return k->o->v->u.q.len; }

static bool list_reserve(mp_value *l, size_t need)
{
    if (need <= l->u.q.cap)
        return true;
    size_t n = l->u.q.cap < 4 ? 4 : l->u.q.cap;
    while (n < need)
        n *= 2;
    if (n > SIZE_MAX / sizeof(mp_value *))
        return false;
    mp_value **items;
    if (l->flags & MP__VF_INLINE) {
        if ((items = malloc(n * sizeof *items)))
            memcpy(items, l->u.q.items, l->u.q.len * sizeof *items);
    } else
        items = realloc(l->u.q.items, n * sizeof *items);
    if (!items)
        return false;
    l->flags &= (uint8_t)~MP__VF_INLINE;
    l->u.q.items = items;
    l->u.q.cap = n;
    return true;
}

/* Insert n items at i (taking them). */
static mp_status list_insert(call *k, size_t i, mp_value **items, size_t n)
{
    mp_value *l = k->o->v;
    if (n > UINT32_MAX - l->u.q.len || !list_reserve(l, l->u.q.len + n))
        return oom();
    memmove(l->u.q.items + i + n, l->u.q.items + i, (l->u.q.len - i) * sizeof *items);
    memcpy(l->u.q.items + i, items, n * sizeof *items);
    l->u.q.len += n;
    return MP_OK;
}

static void list_remove(call *k, size_t i, size_t n, bool free_items)
{
    mp_value *l = k->o->v;
    if (free_items)
        for (size_t j = i; j < i + n; j++)
            mp_value_free(l->u.q.items[j]);
    memmove(l->u.q.items + i, l->u.q.items + i + n, (l->u.q.len - i - n) * sizeof(mp_value *));
    l->u.q.len -= n;
}

static bool norm(size_t n, int64_t i, size_t *out)
{
    if (i < 0)
        i += (int64_t)n;
    if (i < 0 || (uint64_t)i >= n)
        return false;
    *out = (size_t)i;
    return true;
}

static mp_status l_append(call *k)
{
    mp_status st = list_insert(k, LN(k), &k->a[0], 1);
    if (!st)
        k->a[0] = NULL;
    return st;
}

static mp_status l_extend(call *k)
{
    mp_value *src = k->a[0];
    if (src->type != MP_T_LIST && src->type != MP_T_TUPLE)
        return mp__err(MP_ETYPE, "TypeError: extend() needs a list or tuple");
    mp_status st = list_insert(k, LN(k), src->u.q.items, src->u.q.len);
    if (!st)
        src->u.q.len = 0; /* the items moved */
    return st;
}

static mp_status l_insert(call *k)
{
    int64_t i;
    mp_status st = get_index(k->a[0], &i, "list");
    if (st)
        return st;
    int64_t n = (int64_t)LN(k);
    if (i < 0)
        i = i + n < 0 ? 0 : i + n;
    if (i > n)
        i = n;
    if (!(st = list_insert(k, (size_t)i, &k->a[1], 1)))
        k->a[1] = NULL;
    return st;
}

static mp_status l_pop(call *k)
{
    int64_t i = -1;
    size_t j;
    mp_status st = k->n ? get_index(k->a[0], &i, "list") : MP_OK;
    if (st)
        return st;
    if (!LN(k))
        return mp__err(MP_EINDEX, "IndexError: pop from empty list");
    if (!norm(LN(k), i, &j))
        return mp__err(MP_EINDEX, "IndexError: pop index out of range");
    k->res = L(k)[j];
    list_remove(k, j, 1, false);
    return MP_OK;
}

static mp_status not_in_list(const mp_value *x)
{
    char *r = NULL;
    mp_value_repr(x, &r);
    mp_status st = mp__err(MP_EINVAL, "ValueError: %s is not in list", r ? r : "?");
    free(r);
    return st;
}

static mp_status l_remove(call *k)
{
    for (size_t j = 0; j < LN(k); j++)
        if (mp_value_equal(L(k)[j], k->a[0])) {
            list_remove(k, j, 1, true);
            return MP_OK;
        }
    return mp__err(MP_EINVAL, "ValueError: list.remove(x): x not in list");
}

/* Python's slice bounds for index(x, i, j): clamped, negative from the end. */
static size_t clamp_bound(const mp_value *v, size_t n, size_t dflt)
{
    int64_t i;
    if (!v || v->type == MP_T_NONE || mp_value_get_int(v, &i))
        return dflt;
    if (i < 0)
        i = i + (int64_t)n < 0 ? 0 : i + (int64_t)n;
    return (uint64_t)i > n ? n : (size_t)i;
}

static mp_status l_index(call *k)
{
    size_t n = LN(k), a = clamp_bound(k->n > 1 ? k->a[1] : NULL, n, 0),
           b = clamp_bound(k->n > 2 ? k->a[2] : NULL, n, n);
    for (size_t j = a; j < b; j++)
        if (mp_value_equal(L(k)[j], k->a[0]))
            return set_res(k, mp_int((int64_t)j));
    return not_in_list(k->a[0]);
}

static mp_status l_count(call *k)
{
    int64_t c = 0;
    for (size_t j = 0; j < LN(k); j++)
        c += mp_value_equal(L(k)[j], k->a[0]);
    return set_res(k, mp_int(c));
}

static mp_status l_contains(call *k)
{
    for (size_t j = 0; j < LN(k); j++)
        if (mp_value_equal(L(k)[j], k->a[0])) {
            k->bres = mp_bool(true);
            return MP_OK;
        }
    k->bres = mp_bool(false);
    return MP_OK;
}

static mp_status l_getitem(call *k)
{
    int64_t i;
    size_t j;
    mp_status st = get_index(k->a[0], &i, "list");
    if (st)
        return st;
    if (!norm(LN(k), i, &j))
        return mp__err(MP_EINDEX, "IndexError: list index out of range");
    k->bres = L(k)[j];
    return MP_OK;
}

static mp_status l_setitem(call *k)
{
    int64_t i;
    size_t j;
    mp_status st = get_index(k->a[0], &i, "list");
    if (st)
        return st;
    if (!norm(LN(k), i, &j))
        return mp__err(MP_EINDEX, "IndexError: list assignment index out of range");
    mp_value_free(L(k)[j]);
    L(k)[j] = k->a[1];
    k->a[1] = NULL;
    return MP_OK;
}

static mp_status l_delitem(call *k)
{
    int64_t i;
    size_t j;
    mp_status st = get_index(k->a[0], &i, "list");
    if (st)
        return st;
    if (!norm(LN(k), i, &j))
        return mp__err(MP_EINDEX, "IndexError: list assignment index out of range");
    list_remove(k, j, 1, true);
    return MP_OK;
}

/* PySlice_Unpack + PySlice_AdjustIndices. */
static mp_status slice(call *k, size_t n, int64_t *start, int64_t *step, size_t *len)
{
    int64_t st = 1, a, b, N = (int64_t)n;
    const mp_value *vs[3] = {k->a[0], k->a[1], k->a[2]};
    for (int i = 0; i < 3; i++)
        if (vs[i]->type != MP_T_NONE && vs[i]->type != MP_T_INT && vs[i]->type != MP_T_BOOL)
            return mp__err(MP_ETYPE, "TypeError: slice indices must be integers or None");
    if (vs[2]->type != MP_T_NONE)
        mp_value_get_int(vs[2], &st);
    if (st == 0)
        return mp__err(MP_EINVAL, "ValueError: slice step cannot be zero");
    if (st < -INT64_MAX)
        st = -INT64_MAX;
    if (vs[0]->type == MP_T_NONE)
        a = st < 0 ? N - 1 : 0;
    else {
        mp_value_get_int(vs[0], &a);
        if (a < 0) {
            a = a < -N ? (st < 0 ? -1 : 0) : a + N;
        } else if (a >= N)
            a = st < 0 ? N - 1 : N;
    }
    if (vs[1]->type == MP_T_NONE)
        b = st < 0 ? -1 : N;
    else {
        mp_value_get_int(vs[1], &b);
        if (b < 0) {
            b = b < -N ? (st < 0 ? -1 : 0) : b + N;
        } else if (b >= N)
            b = st < 0 ? N - 1 : N;
    }
    if (st < 0)
        *len = b < a ? (size_t)((uint64_t)(a - b - 1) / (uint64_t)-st + 1) : 0;
    else
        *len = a < b ? (size_t)((uint64_t)(b - a - 1) / (uint64_t)st + 1) : 0;
    *start = a;
    *step = st;
    return MP_OK;
}

static size_t at(int64_t start, int64_t step, size_t i)
{
    return (size_t)(start + (int64_t)i * step);
}

static mp_status l_getslice(call *k)
{
    int64_t a, st;
    size_t len;
    mp_status s = slice(k, LN(k), &a, &st, &len);
    if (s)
        return s;
    mp_value *l = mp__seq_new(MP_T_LIST, len);
    if (!l)
        return oom();
    for (size_t i = 0; i < len; i++) {
        mp_value *c = mp_value_copy(L(k)[at(a, st, i)]);
        if (!c) {
            mp_value_free(l);
            return oom();
        }
        l->u.q.items[l->u.q.len++] = c;
    }
    k->res = l;
    return MP_OK;
}

static mp_status l_delslice(call *k)
{
    int64_t a, st;
    size_t len;
    mp_status s = slice(k, LN(k), &a, &st, &len);
    if (s || !len)
        return s;
    if (st < 0) { /* the same items, walked upwards */
        a = (int64_t)at(a, st, len - 1);
        st = -st;
    }
    if (st == 1) {
        list_remove(k, (size_t)a, len, true);
        return MP_OK;
    }
    mp_value **it = L(k);
    size_t n = LN(k), w = (size_t)a, next = 0;
    for (size_t r = (size_t)a; r < n; r++) {
        if (next < len && r == at(a, st, next)) {
            mp_value_free(it[r]);
            next++;
            continue;
        }
        it[w++] = it[r];
    }
    k->o->v->u.q.len = w;
    return MP_OK;
}

static mp_status l_setslice(call *k)
{
    int64_t a, st;
    size_t len;
    mp_value *src = k->a[3];
    if (src->type != MP_T_LIST && src->type != MP_T_TUPLE)
        return mp__err(MP_ETYPE, "TypeError: can only assign a list or tuple to a slice");
    mp_status s = slice(k, LN(k), &a, &st, &len);
    if (s)
        return s;
    size_t m = src->u.q.len;
    if (st == 1) {
        /* l[a:b] = seq with b < a inserts at a. */
        if (!list_reserve(k->o->v, LN(k) + m))
            return oom();
        for (size_t j = 0; j < len; j++)
            mp_value_free(L(k)[(size_t)a + j]);
        list_remove(k, (size_t)a, len, false);
        list_insert(k, (size_t)a, src->u.q.items, m); /* room reserved: cannot fail */
        src->u.q.len = 0;
        return MP_OK;
    }
    if (m != len)
        return mp__err(MP_EINVAL, "ValueError: attempt to assign sequence of size %zu to "
                                  "extended slice of size %zu", m, len);
    for (size_t i = 0; i < len; i++) {
        mp_value **slot = &L(k)[at(a, st, i)];
        mp_value_free(*slot);
        *slot = src->u.q.items[i];
    }
    src->u.q.len = 0;
    return MP_OK;
}

/* Python's < for the types that have it; *err set for unorderable pairs. */
static const char *const pytype[] = {"NoneType", "bool", "int",   "float", "str",
                                     "bytes",    "list", "tuple", "dict"};

static bool is_num(const mp_value *v)
{
    return v->type == MP_T_INT || v->type == MP_T_BOOL || v->type == MP_T_FLOAT;
}

static bool py_lt(const mp_value *a, const mp_value *b, bool *err)
{
    if (is_num(a) && is_num(b)) {
        if (a->type != MP_T_FLOAT && b->type != MP_T_FLOAT) {
            int64_t x, y;
            mp_value_get_int(a, &x);
            mp_value_get_int(b, &y);
            return x < y;
        }
        /* long double holds every int64 exactly on x86-64; elsewhere close enough. */
        long double x = a->type == MP_T_FLOAT ? a->u.d : (long double)(a->type == MP_T_BOOL ? a->u.b : a->u.i);
        long double y = b->type == MP_T_FLOAT ? b->u.d : (long double)(b->type == MP_T_BOOL ? b->u.b : b->u.i);
        return x < y;
    }
    if (a->type == b->type && (a->type == MP_T_STR || a->type == MP_T_BYTES)) {
        /* UTF-8 byte order is code point order. */
        size_t n = a->u.s.len < b->u.s.len ? a->u.s.len : b->u.s.len;
        int c = memcmp(a->u.s.p, b->u.s.p, n);
        return c ? c < 0 : a->u.s.len < b->u.s.len;
    }
    if (a->type == b->type && (a->type == MP_T_LIST || a->type == MP_T_TUPLE)) {
        size_t n = a->u.q.len < b->u.q.len ? a->u.q.len : b->u.q.len;
        for (size_t i = 0; i < n; i++)
            if (!mp_value_equal(a->u.q.items[i], b->u.q.items[i]))
                return py_lt(a->u.q.items[i], b->u.q.items[i], err);
        return a->u.q.len < b->u.q.len;
    }
    if (!*err)
        mp__err(MP_ETYPE, "TypeError: '<' not supported between instances of '%s' and '%s'",
                pytype[a->type], pytype[b->type]);
    *err = true;
    return false;
}

static void merge_sort(mp_value **v, mp_value **tmp, size_t n, bool *err)
{
    if (n < 2 || *err)
        return;
    size_t h = n / 2;
    merge_sort(v, tmp, h, err);
    merge_sort(v + h, tmp, n - h, err);
    size_t i = 0, j = h, o = 0;
    while (i < h && j < n)
        tmp[o++] = py_lt(v[j], v[i], err) ? v[j++] : v[i++]; /* ties: left first (stable) */
    while (i < h)
        tmp[o++] = v[i++];
    while (j < n)
        tmp[o++] = v[j++];
    memcpy(v, tmp, n * sizeof *v);
}

static void reverse(mp_value **v, size_t n)
{
    for (size_t i = 0; i < n / 2; i++) {
        mp_value *t = v[i];
        v[i] = v[n - 1 - i];
        v[n - 1 - i] = t;
    }
}

static mp_status l_sort(call *k)
{
    bool rev = false, err = false;
    if (k->n && mp_value_get_bool(k->a[0], &rev))
        return mp__err(MP_ETYPE, "TypeError: reverse must be a bool");
    size_t n = LN(k);
    /* Sort a copy of the item pointers: a failed comparison leaves the list as it was. */
    mp_value **v = malloc((n ? n : 1) * sizeof *v), **tmp = malloc((n ? n : 1) * sizeof *v);
    if (!v || !tmp) {
        free(v);
        free(tmp);
        return oom();
    }
    if (n) /* an empty list has no item array (NULL) */
        memcpy(v, L(k), n * sizeof *v);
    if (rev)
        reverse(v, n); /* as CPython: reverse, stable sort, reverse keeps ties in order */
    merge_sort(v, tmp, n, &err);
    if (rev)
        reverse(v, n);
    if (!err && n)
        memcpy(L(k), v, n * sizeof *v);
    free(v);
    free(tmp);
    return err ? MP_ETYPE : MP_OK;
}

static mp_status l_reverse(call *k)
{
    reverse(L(k), LN(k));
    return MP_OK;
}

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
static void lock_holder_gone(srv *s, obj *o)
{
    lock_hold(o, NULL);
    if (!o->wh) {
        o->orphan = true;
        return;
    }
    waiter *w = o->wh;
    lock_hold(o, w->c);
    o->orphan = false;
    /* finish() may drop w->c (a failed send), which hands o on again. */
    finish(s, w, mp__err(MP_EOWNERDEAD, "Lock.acquire: the previous holder's connection "
                                        "closed while holding it; now held by the caller"),
           NULL);
}

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
    return defer(k, W_ACQUIRE, t, NULL);
}

static mp_status lk_release(call *k)
{
    if (!k->o->flag)
        return mp__err(MP_ESTATE, "RuntimeError: release unlocked lock");
    k->o->orphan = false;
    if (k->o->wh) { /* hand it over: stays locked */
        lock_hold(k->o, k->o->wh->c);
        finish(k->s, k->o->wh, MP_OK, mp_bool(true));
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

static mp_status ev_set(call *k)
{
    k->o->flag = true;
    while (k->o->wh)
        finish(k->s, k->o->wh, MP_OK, mp_bool(true));
    return MP_OK;
}

static mp_status ev_clear(call *k)
{
    k->o->flag = false;
    return MP_OK;
}

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
    return defer(k, W_EVENT, t, NULL);
}

/* ---- Queue */

static bool q_full(const obj *o) { return o->maxsize > 0 && o->qlen >= (size_t)o->maxsize; }

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

static mp_value *q_pop(obj *o)
{
    mp_value *v = o->q[o->qhead];
    o->qhead = (o->qhead + 1) % o->qcap;
    o->qlen--;
    return v;
}

static waiter *first_of(obj *o, int kind)
{
    for (waiter *w = o->wh; w; w = w->next)
        if (w->kind == kind)
            return w;
    return NULL;
}

static mp_status q_put(call *k)
{
    double t;
    mp_status st = get_timeout(k->n > 1 ? k->a[1] : NULL, &t);
    if (st)
        return st;
    obj *o = k->o;
    waiter *g = first_of(o, W_GET);
    if (g) { /* a getter waits, so the queue is empty: hand it over */
        finish(k->s, g, MP_OK, k->a[0]);
        return MP_OK;
    }
    if (!q_full(o)) {
        if (!q_push(o, k->a[0]))
            return oom();
        k->a[0] = NULL;
        return MP_OK;
    }
    if (t <= 0)
        return mp__err(MP_FULL, "queue.Full");
    mp_value *item = k->a[0];
    k->a[0] = NULL;
    return defer(k, W_PUT, t, item);
}

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
                p->item = NULL;
                finish(k->s, p, MP_OK, NULL);
            }
        }
        return MP_OK;
    }
    if (t <= 0)
        return mp__err(MP_EMPTY, "queue.Empty");
    return defer(k, W_GET, t, NULL);
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

/* ---- the manager (oid 0) */

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
                    return mp__err(MP_ETYPE, "TypeError: Namespace attribute names must be strings");
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
    case MGR__T_QUEUE: {
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
        obj_release(k->s, o);
        return st;
    }
    int64_t id = obj_id(k->s, o);
    if (name) {
        mp_value *key = k->a[2], *val = mp_int(id);
        k->a[2] = NULL;
        if (!val || mp_dict_set(k->s->names, key, val)) {
            obj_release(k->s, o);
            return oom();
        }
        o->refs++; /* the name's reference */
    }
    return set_res(k, mp_int(id));
}

static mp_status m_ref(call *k, int delta)
{
    int64_t id;
    obj *o = mp_value_get_int(k->a[0], &id) ? NULL : obj_get(k->s, id);
    if (!o)
        return mp__err(MP_CLOSED, "no object with that id on the server");
    o->refs += delta;
    if (o->refs <= 0)
        obj_release(k->s, o);
    return MP_OK;
}

static mp_status m_incref(call *k) { return m_ref(k, 1); }
static mp_status m_decref(call *k) { return m_ref(k, -1); }

static mp_status m_count(call *k) { return set_res(k, mp_int((int64_t)k->s->live_objs)); }

/* ---- method tables */

static const method manager_methods[] = {
    {"create", m_create, 2, 3},    {"incref", m_incref, 1, 1},
    {"decref", m_decref, 1, 1},    {"number_of_objects", m_count, 0, 0},
    {NULL, NULL, 0, 0}};

static const method dict_methods[] = {
    {"__getitem__", d_getitem, 1, 1}, {"__setitem__", d_setitem, 2, 2},
    {"__delitem__", d_delitem, 1, 1}, {"__contains__", d_contains, 1, 1},
    {"__len__", d_len, 0, 0},         {"get", d_get, 1, 2},
    {"keys", d_keys, 0, 0},           {"values", d_values, 0, 0},
    {"items", d_items, 0, 0},         {"update", d_update, 1, 1},
    {"pop", d_pop, 1, 2},             {"setdefault", d_setdefault, 1, 2},
    {"clear", d_clear, 0, 0},         {"copy", x_copy, 0, 0},
    {NULL, NULL, 0, 0}};

static const method list_methods[] = {
    {"append", l_append, 1, 1},         {"__getitem__", l_getitem, 1, 1},
    {"__len__", d_len, 0, 0},           {"__setitem__", l_setitem, 2, 2},
    {"__delitem__", l_delitem, 1, 1},   {"__contains__", l_contains, 1, 1},
    {"extend", l_extend, 1, 1},         {"insert", l_insert, 2, 2},
    {"pop", l_pop, 0, 1},               {"remove", l_remove, 1, 1},
    {"index", l_index, 1, 3},           {"count", l_count, 1, 1},
    {"sort", l_sort, 0, 1},             {"reverse", l_reverse, 0, 0},
    {"copy", x_copy, 0, 0},             {"getslice", l_getslice, 3, 3},
    {"setslice", l_setslice, 4, 4},     {"delslice", l_delslice, 3, 3},
    {NULL, NULL, 0, 0}};

static const method ns_methods[] = {
    {"__getattr__", ns_getattr, 1, 1}, {"__setattr__", ns_setattr, 2, 2},
    {"__delattr__", ns_delattr, 1, 1}, {"copy", x_copy, 0, 0},
    {NULL, NULL, 0, 0}};

static const method value_methods[] = {
    {"get", v_get, 0, 0}, {"set", v_set, 1, 1}, {NULL, NULL, 0, 0}};

static const method lock_methods[] = {
    {"acquire", lk_acquire, 0, 1}, {"release", lk_release, 0, 0},
    {"locked", lk_locked, 0, 0},   {NULL, NULL, 0, 0}};

static const method event_methods[] = {
    {"set", ev_set, 0, 0},       {"clear", ev_clear, 0, 0},
    {"is_set", lk_locked, 0, 0}, {"wait", ev_wait, 0, 1},
    {NULL, NULL, 0, 0}};

static const method queue_methods[] = {
    {"put", q_put, 1, 2},     {"get", q_get, 0, 1},     {"qsize", q_qsize, 0, 0},
    {"empty", q_empty, 0, 0}, {"full", q_isfull, 0, 0}, {NULL, NULL, 0, 0}};

static const method *const tables[MGR__T_COUNT] = {dict_methods,  list_methods,  ns_methods,
                                                   value_methods, lock_methods,  event_methods,
                                                   queue_methods};

/* ------------------------------------------------------------- requests */

static void request(srv *s, client *c, const unsigned char *p, size_t n)
{
    mp_value *req = NULL;
    if (mp_value_decode(p, n, &req) != MP_OK || req->type != MP_T_LIST || req->u.q.len < 2 ||
        req->u.q.items[0]->type != MP_T_INT || req->u.q.items[1]->type != MP_T_STR) {
        mp_value_free(req);
        drop(s, c, "malformed request");
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
        st = mp__err(MP_ETYPE, "TypeError: %s.%s() takes %u to %u arguments (%zu given)",
                     tname, k.method, tab->min, tab->max, k.n);
    else
        st = tab->fn(&k);
out:
    if (st != DEFER)
        reply(s, c, st, k.res ? k.res : k.bres);
    mp_value_free(k.res);
    mp_value_free(req);
}

static void handshake(srv *s, client *c, const unsigned char *p, size_t n)
{
    unsigned char want[MGR__DIGEST];
    mp_hmac_sha256(s->key, s->keylen, c->nonce, MGR__NONCE, want);
    bool shape = n == MGR__DIGEST + MGR__TAG_CH_LEN + MGR__NONCE &&
                 memcmp(p + MGR__DIGEST, MGR__TAG_CHALLENGE, MGR__TAG_CH_LEN) == 0;
    if (!shape || !mp__mgr_ct_equal(p, want, MGR__DIGEST)) {
        logf_("authentication failed: %s; client refused",
              shape ? "digest received was wrong (wrong authkey)" : "malformed handshake");
        unsigned char *q = frame(s, c, MGR__TAG_OK_LEN);
        if (q) {
            memcpy(q, MGR__TAG_FAILURE, MGR__TAG_OK_LEN);
            send(c->fd, c->out, c->out_len, MSG_DONTWAIT | MSG_NOSIGNAL);
        }
        drop(s, c, NULL);
        return;
    }
    unsigned char *q = frame(s, c, MGR__TAG_OK_LEN + MGR__DIGEST);
    if (!q)
        return;
    memcpy(q, MGR__TAG_WELCOME, MGR__TAG_OK_LEN);
    mp_hmac_sha256(s->key, s->keylen, p + MGR__DIGEST + MGR__TAG_CH_LEN, MGR__NONCE,
                   q + MGR__TAG_OK_LEN);
    c->state = C_READY;
    stranger_remove(s, c);
    flush(s, c);
}

/* Handle the complete frames in c's buffer, then read more while allowed. */
static void serve_input(srv *s, client *c, bool readable)
{
    int budget = FRAMES_PER_TURN;
    for (;;) {
        if (c->dead || c->w || c->out_off < c->out_len)
            break;
        size_t have = c->in_len - c->in_off;
        /* c->in is NULL until the first read: no arithmetic on it then */
        unsigned char *p = c->in ? c->in + c->in_off : NULL;
        size_t need = 4;
        if (have >= 4) {
            size_t flen = mgr__rd32(p);
            size_t max = c->state == C_AUTH ? MGR__HANDSHAKE_MAX : MP_MANAGER_FRAME_MAX;
            if (flen > max) {
                char why[96];
                snprintf(why, sizeof why, "frame of %zu bytes exceeds the limit of %zu", flen, max);
                drop(s, c, why);
                return;
            }
            need = 4 + flen;
            if (have >= need) {
                if (budget-- == 0) { /* let the others run; come back next turn */
                    resume(s, c);
                    return;
                }
                c->in_off += need;
                if (c->state == C_AUTH)
                    handshake(s, c, p + 4, flen);
                else
                    request(s, c, p + 4, flen);
                continue;
            }
        }
        if (!readable)
            break;
        /* Make room: move the partial frame to the front, grow by what arrived. */
        if (c->in_off) {
            memmove(c->in, c->in + c->in_off, have);
            c->in_len = have;
            c->in_off = 0;
        }
        if (c->in_len == c->in_cap) {
            /* Full, and the frame is not complete (have < need): double, but
             * never beyond the frame's end, so that memory follows the bytes
             * that arrived, not the length a header claims. */
            size_t cap = need > IN_MIN ? need : IN_MIN;
            size_t want = !c->in_cap ? IN_MIN : c->in_cap * 2 < cap ? c->in_cap * 2 : cap;
            unsigned char *np = realloc(c->in, want);
            if (!np) {
                drop(s, c, "out of memory for a request");
                return;
            }
            c->in = np;
            c->in_cap = want;
        }
        size_t room = c->in_cap - c->in_len;
        ssize_t r = recv(c->fd, c->in + c->in_len, room, MSG_DONTWAIT);
        if (r > 0) {
            c->in_len += (size_t)r;
            /* A short read emptied the socket: no second recv() just to see
             * EAGAIN (level-triggered epoll reports anything that arrives). */
            if ((size_t)r < room)
                readable = false;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        drop(s, c, r == 0 && have ? "connection closed in the middle of a frame" : NULL);
        return;
    }
    if (!c->dead && c->in_off == c->in_len) {
        c->in_off = c->in_len = 0;
        if (c->in_cap > ((size_t)1 << 20)) {
            free(c->in);
            c->in = NULL;
            c->in_cap = 0;
        }
    }
    arm(s, c);
}

static void accept_all(srv *s)
{
    for (;;) {
        int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* Out of descriptors: stop accepting for a moment rather than spin. */
                logf_("accept: %s; pausing new connections", strerror(errno));
                epoll_ctl(s->ep, EPOLL_CTL_DEL, s->lfd, NULL);
                s->listen_rearm = mp__now() + 0.1;
            }
            return;
        }
        if (s->tcp) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
        client *c = calloc(1, sizeof *c);
        struct epoll_event e = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
        if (!c || epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &e) < 0) {
            free(c);
            close(fd);
            continue;
        }
        c->fd = fd;
        c->events = e.events;
        c->next = s->clients;
        if (s->clients)
            s->clients->prev = c;
        s->clients = c;
        c->since = mp__now();
        stranger_add(s, c);
        if (s->nstrangers > MGR__UNAUTH_MAX) { /* the oldest makes room [MGR-IDLE-CONNECTIONS-NO-LOCKOUT] */
            s->pushed_out++;
            drop(s, s->strangers, NULL);
        }
        mp__mgr_random(c->nonce, MGR__NONCE);
        unsigned char *p = frame(s, c, MGR__TAG_CH_LEN + MGR__NONCE);
        if (!p)
            continue;
        memcpy(p, MGR__TAG_CHALLENGE, MGR__TAG_CH_LEN);
        memcpy(p + MGR__TAG_CH_LEN, c->nonce, MGR__NONCE);
        flush(s, c);
    }
}

/* Answer the waiters whose deadline has passed; returns the next deadline. */
static double expire(srv *s)
{
    double now = mp__now(), next = INFINITY;
    /* Strangers are in accept order, so the oldest deadline is the first
     * [MGR-HANDSHAKE-DEADLINE]. */
    while (s->strangers && s->strangers->since + MP_MANAGER_HANDSHAKE_TIMEOUT <= now) {
        s->timed_out++;
        drop(s, s->strangers, NULL);
    }
    if (s->strangers)
        next = s->strangers->since + MP_MANAGER_HANDSHAKE_TIMEOUT;
    /* One line a second at most, however many strangers come and go. */
    if ((s->pushed_out || s->timed_out) && now >= s->quiet_until) {
        logf_("dropped %zu connections without a handshake within %g s and %zu pushed out "
              "by newer ones (at most %d at once)", s->timed_out,
              (double)MP_MANAGER_HANDSHAKE_TIMEOUT, s->pushed_out, MGR__UNAUTH_MAX);
        s->timed_out = s->pushed_out = 0;
        s->quiet_until = now + 1.0;
    }
    for (client *c = s->clients; c; c = c->next) {
        waiter *w = c->w;
        if (!w || isinf(w->deadline))
            continue;
        if (w->deadline > now) {
            if (w->deadline < next)
                next = w->deadline;
            continue;
        }
        switch (w->kind) {
        case W_GET:
            finish(s, w, mp__err(MP_EMPTY, "queue.Empty"), NULL);
            break;
        case W_PUT:
            finish(s, w, mp__err(MP_FULL, "queue.Full"), NULL);
            break;
        default:
            finish(s, w, MP_OK, mp_bool(false));
        }
    }
    return next;
}

static void cleanup_files(void)
{
    if (g_sock_path)
        unlink(g_sock_path);
    if (g_dir)
        rmdir(g_dir);
}

static void free_all(srv *s)
{
    while (s->clients)
        drop(s, s->clients, NULL);
    for (client *c = s->dead, *n; c; c = n) {
        n = c->dnext;
        free(c->in);
        free(c->out);
        free(c);
    }
    s->dead = NULL;
    for (uint32_t i = 0; i < s->nobj; i++)
        if (s->objs[i].used)
            obj_release(s, &s->objs[i]);
    free(s->objs);
    mp_value_free(s->names);
}

/* epoll_pwait() that polls for up to MGR__SPIN_S before it sleeps while the
 * clients keep calling (see manager.h).  ms: the caller's timeout (0: do not
 * wait, -1: forever); polling first delays a timer by at most the window,
 * never fires it early. */
static int wait_events(srv *s, struct epoll_event *evs, int max, int ms, const sigset_t *mask)
{
    if (ms == 0)
        return epoll_pwait(s->ep, evs, max, 0, mask);
    double t0 = mp__now(), t = t0;
    if (s->spin && s->last_idle <= MGR__SPIN_GATE) {
        for (unsigned k = 1; t - t0 < MGR__SPIN_S; k++) {
            int n = epoll_pwait(s->ep, evs, max, 0, mask);
            if (n != 0 || stop_flag) {
                s->last_idle = mp__now() - t0;
                return n;
            }
            sched_yield();
            if ((k & 3) == 0)
                t = mp__now();
        }
    }
    int n = epoll_pwait(s->ep, evs, max, ms, mask), err = errno;
    s->last_idle = mp__now() - t0;
    errno = err;
    return n;
}

static void loop(srv *s, const sigset_t *waitmask)
{
    struct epoll_event evs[64];
    while (!stop_flag) {
        double next = expire(s);
        client *r = s->resumes;
        s->resumes = NULL;
        for (; r; r = r->rnext) { /* serving one may resume it again: next turn */
            r->resume = false;
            if (!r->dead)
                serve_input(s, r, false);
        }
        if (s->listen_rearm > 0 && s->listen_rearm < next)
            next = s->listen_rearm;
        int ms = -1;
        if (s->resumes)
            ms = 0;
        else if (!isinf(next)) {
            double d = (next - mp__now()) * 1e3;
            ms = d <= 0 ? 0 : d > 1e9 ? 1000000000 : (int)ceil(d);
        }
        int n = wait_events(s, evs, 64, ms, waitmask);
        if (n < 0 && errno != EINTR) {
            logf_("epoll_wait: %s; stopping", strerror(errno));
            return;
        }
        for (int i = 0; i < n; i++) {
            void *ptr = evs[i].data.ptr;
            uint32_t ev = evs[i].events;
            if (ptr == &tag_listen) {
                accept_all(s);
                continue;
            }
            if (ptr == &tag_parent)
                return; /* the process that started us is gone */
            client *c = ptr;
            if (c->dead)
                continue;
            if (ev & (EPOLLERR | EPOLLHUP)) {
                drop(s, c, NULL);
                continue;
            }
            if (ev & EPOLLOUT)
                flush(s, c);
            if (!c->dead && (ev & EPOLLIN))
                serve_input(s, c, true);
            else if (!c->dead && (ev & EPOLLRDHUP) && !(c->events & EPOLLIN))
                drop(s, c, NULL); /* waiting or backlogged, and gone */
        }
        if (s->listen_rearm > 0 && mp__now() >= s->listen_rearm) {
            struct epoll_event e = {.events = EPOLLIN, .data.ptr = &tag_listen};
            epoll_ctl(s->ep, EPOLL_CTL_ADD, s->lfd, &e);
            s->listen_rearm = 0;
        }
        /* Dead clients leave the resume list before they are freed. */
        for (client **pp = &s->resumes; *pp;)
            if ((*pp)->dead)
                *pp = (*pp)->rnext;
            else
                pp = &(*pp)->rnext;
        for (client *c = s->dead, *nx; c; c = nx) {
            nx = c->dnext;
            free(c->in);
            free(c->out);
            free(c);
        }
        s->dead = NULL;
    }
}

_Noreturn void mp__mgr_serve(int lfd, const unsigned char *key, size_t keylen,
                             const char *sock_path, const char *dir, pid_t parent, bool tcp)
{
    /* The parent's unflushed stdio is the parent's to write, not ours too. */
    __fpurge(stdout);
    __fpurge(stderr);
    g_sock_path = sock_path;
    g_dir = dir;

    struct sigaction sa = {.sa_handler = on_term};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGINT, SIG_IGN); /* CPython's server ignores KeyboardInterrupt (bpo-36368) */
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    sigset_t block, waitmask;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_SETMASK, &block, NULL);
    sigemptyset(&waitmask);

    /* Keep only stdio and the listener: a copy of, say, a Pipe's end here
     * would keep its reader from ever seeing EOF. */
    if (lfd > 3)
        syscall(SYS_close_range, 3u, (unsigned)lfd - 1, 0u);
    syscall(SYS_close_range, (unsigned)lfd + 1, ~0u, 0u);

    srv s = {.lfd = lfd, .tcp = tcp, .key = key, .keylen = keylen, .pfd = -1};
    s.names = mp_dict();
    s.spin = mp__cpus_many();
    s.ep = epoll_create1(EPOLL_CLOEXEC);
    if (s.ep < 0 || !s.names) {
        logf_("cannot start: %s", s.names ? strerror(errno) : "out of memory");
        cleanup_files();
        _exit(1);
    }
    /* The parent's end: a pidfd turns readable when the whole process exits
     * (PR_SET_PDEATHSIG would fire when the forking *thread* exits). */
    s.pfd = (int)syscall(SYS_pidfd_open, parent, 0);
    if (s.pfd < 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
    } else {
        struct epoll_event e = {.events = EPOLLIN, .data.ptr = &tag_parent};
        epoll_ctl(s.ep, EPOLL_CTL_ADD, s.pfd, &e);
    }
    if (getppid() != parent) /* it died before we could watch it */
        stop_flag = 1;
    fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) | O_NONBLOCK);
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = &tag_listen};
    epoll_ctl(s.ep, EPOLL_CTL_ADD, lfd, &e);

    loop(&s, &waitmask);

    cleanup_files();
    close(lfd);
    free_all(&s);
    close(s.ep);
    if (s.pfd >= 0)
        close(s.pfd);
    _exit(0);
}
