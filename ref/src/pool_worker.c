/* Pool: a worker process (the design is in pool_internal.h).  Forked by the
 * handler thread (spawn), it runs the initializer, then claims tasks from
 * the task ring and answers each through its result ring or the task's reply
 * box, until the pool stops it or maxtasksperchild is reached.  It touches
 * the shared memory only through pool_ring.c, and of the parent's state only
 * what fork gave it (p->w[], the mask, the initializer). */
#include "pool_internal.h"

#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

/* One worker's state across its tasks. */
struct wctx {
    mp_pool *p;
    int lazy; /* reply markers since the handler was last woken */
    struct wslot *ws;
    struct rwriter w;
    /* the task's argument bytes, copied out of the arena */
    uint8_t *in;
    size_t incap;
    /* the payload of the result message being built (after its rhdr) */
    uint8_t *out;
    size_t len, cap;
    bool oversize; /* the results outgrew MP_MSG_MAX: they are not kept */
    char msg[320]; /* why the task failed */
};

/* Room for `more` bytes after c->len in c->out.  false: out of memory. */
static bool reserve(struct wctx *c, size_t more)
{
    if (c->cap >= c->len && c->cap - c->len >= more)
        return true;
    if (more > SIZE_MAX / 2 - c->len)
        return false;
    size_t cap = c->cap ? c->cap : 256;
    while (cap < c->len + more)
        cap *= 2;
    uint8_t *q = realloc(c->out, cap);
    if (!q)
        return false;
    c->out = q;
    c->cap = cap;
    return true;
}

/* Record why the task failed; returns st, the task's status. */
static mp_status task_failed(struct wctx *c, mp_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static mp_status task_failed(struct wctx *c, mp_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->msg, sizeof c->msg, fmt, ap);
    va_end(ap);
    return st;
}

/* Step 1: hold the task (cur names it before the slot is released, so a
 * worker killed at any instant leaves a trace), copy its argument bytes out
 * of the arena (one memcpy: the slot is released at once, and each argument
 * is decoded only when its turn comes), and open them in *d (*n values). */
static mp_status take_args(struct wctx *c, struct tslot *s, mp__decoder *d, size_t *n)
{
    mp_pool *p = c->p;
    size_t len = (size_t)s->len;
    atomic_store(&c->ws->cur, s->id);
    bool have = len <= c->incap;
    if (!have) {
        uint8_t *q = realloc(c->in, len);
        if ((have = q != NULL)) {
            c->in = q;
            c->incap = len;
        }
    }
    if (have)
        memcpy(c->in, mp__pool_task_args(p, s), len);
    mp__pool_task_release(p, s);
    if (!have)
        return task_failed(c, MP_ENOMEM, "MP_ENOMEM: worker out of memory");
    mp_status ts = mp__values_open(d, c->in, len, MP__DEC_TRUSTED, n);
    if (ts)
        return task_failed(c, ts, "%s: argument could not be decoded: %s", mp_status_name(ts),
                           mp_errmsg());
    return MP_OK;
}

/* Append res (NULL: None) to the result payload.  A value that cannot be
 * encoded fails the task; results past MP_MSG_MAX are dropped (the task
 * fails when it ends, its remaining calls still made, as a caller of a
 * too-large result would see it). */
static mp_status append_result(struct wctx *c, const mp_value *res)
{
    const mp_value *v = res ? res : mp_none();
    size_t sz;
    mp_status ts = mp__value_encoded_size(v, &sz);
    if (ts)
        return task_failed(c, MP_EREMOTE, "%s: the result could not be sent: %s",
                           mp_status_name(ts), mp_errmsg());
    if (c->oversize || sz > MP_MSG_MAX - c->len) {
        c->oversize = true;
        return MP_OK;
    }
    if (!reserve(c, sz))
        return task_failed(c, MP_ENOMEM, "MP_ENOMEM: worker out of memory");
    mp__value_encode_into(v, c->out + c->len, sz);
    c->len += sz;
    return MP_OK;
}

/* Step 2: decode each argument in turn, call fn on it, free it, append the
 * result.  Stops at the first failure. */
static mp_status call_all(struct wctx *c, mp_task_fn fn, mp__decoder *d, size_t n)
{
    mp_status st = MP_OK;
    if (!reserve(c, MP__ARRAY_HDR_MAX))
        st = task_failed(c, MP_ENOMEM, "MP_ENOMEM: worker out of memory");
    else
        c->len += mp__array_header_encode(n, c->out + c->len);
    for (size_t k = 0; k < n && !st; k++) {
        mp_value *arg = NULL, *res = NULL;
        mp_status ts = mp__values_next(d, &arg);
        if (ts) {
            st = task_failed(c, ts, "%s: argument could not be decoded: %s", mp_status_name(ts),
                             mp_errmsg());
            break;
        }
        if (*mp_errmsg())
            mp__err(MP_OK, "%s", ""); /* a stale message must not name this task */
        ts = fn(arg, &res);
        mp_value_free(arg);
        if (ts) {
            const char *m = mp_errmsg();
            st = task_failed(c, MP_EREMOTE, "%s: %s", mp_status_name(ts), *m ? m : mp_strerror(ts));
        } else {
            st = append_result(c, res);
        }
        mp_value_free(res);
    }
    return st;
}

/* Step 3a: apply's answer, in its reply box (the reply-box protocol: fill,
 * publish, wake; the marker after; cur last). */
static void reply_by_box(struct wctx *c, const struct rhdr *h, int box)
{
    mp_pool *p = c->p;
    mp__pool_box_publish(p, box, h->status, c->out, h->len);
    struct rhdr m = {.id = h->id, .status = ST_REPLIED, .len = 0};
    mp__pool_rput(&c->w, &m, sizeof m);
    mp__pool_rcommit(&c->w);
    atomic_store(&c->ws->cur, 0);
    if (++c->lazy >= REPLY_LAZY || atomic_load(&p->sh->eager)) {
        c->lazy = 0;
        mp__pool_wake_handler(p);
    }
}

/* Step 3b: any other answer, through the result ring (committed before cur
 * is cleared: a task is never neither answered nor held). */
static void reply_by_ring(struct wctx *c, const struct rhdr *h)
{
    mp__pool_rput(&c->w, h, sizeof *h);
    if (h->len)
        mp__pool_rput(&c->w, c->out, h->len);
    mp__pool_rcommit(&c->w);
    atomic_store(&c->ws->cur, 0);
    c->lazy = 0;
    mp__pool_wake_handler(c->p);
}

/* Step 3: frame the outcome st of task id (results in c->out, or c->msg)
 * and send it. */
static void send_outcome(struct wctx *c, uint64_t id, int box, mp_status st)
{
    struct rhdr h = {.id = id, .status = MP_OK};
    if (!st && c->oversize)
        st = task_failed(c, MP_EREMOTE, "MP_EMSGSIZE: the result is larger than MP_MSG_MAX");
    if (st) {
        size_t ml = strlen(c->msg);
        c->len = 0;
        if (reserve(c, ml)) {
            memcpy(c->out + c->len, c->msg, ml);
            c->len += ml;
        }
        h.status = (uint32_t)st;
    }
    assert(c->len <= MP_MSG_MAX);
    h.len = (uint32_t)c->len;
    if (box >= 0 && h.len <= BOXCAP)
        reply_by_box(c, &h, box);
    else
        reply_by_ring(c, &h);
}

/* Run the task in slot s (claimed by this worker) and answer it. */
static void run_task(struct wctx *c, struct tslot *s)
{
    uint64_t id = s->id;
    mp_task_fn fn = s->fn;
    int box = s->box;
    mp__decoder d;
    size_t n = 0;
    c->len = 0;
    c->oversize = false;
    mp_status st = take_args(c, s, &d, &n);
    if (!st)
        st = call_all(c, fn, &d, n);
    send_outcome(c, id, box, st);
    /* Do not keep a huge buffer of one odd task for the worker's lifetime. */
    if (c->cap > KEEP_MAX) {
        free(c->out);
        c->out = NULL;
        c->cap = 0;
    }
    if (c->incap > KEEP_MAX) {
        free(c->in);
        c->in = NULL;
        c->incap = 0;
    }
}

/* The child side of fork: become a worker (name, signals, no inherited
 * pidfds, initializer), then run tasks until the ring stops or
 * maxtasksperchild; _exit(0). */
_Noreturn void mp__pool_worker_main(mp_pool *p, int i, mp__child_id *id)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != p->owner)
        _exit(70); /* the parent died before PDEATHSIG was armed */
    mp__child_adopt(id);
    /* The parent's unflushed stdio is the parent's to write, not ours too. */
    __fpurge(stdout);
    __fpurge(stderr);
    for (int k = 0; k < p->n; k++)
        if (p->w[k].pidfd >= 0)
            close(p->w[k].pidfd);
    pthread_sigmask(SIG_SETMASK, &p->mask, NULL);
    if (p->init) {
        mp_value *none = p->initargs ? NULL : mp_none();
        p->init(p->initargs ? p->initargs : none);
        mp_value_free(none);
    }
    struct wctx c = {.p = p, .ws = &p->ws[i]};
    c.w = (struct rwriter){.p = p, .ws = &p->ws[i], .ring = p->rings + (size_t)i * RRING};
    long done = 0;
    double last = 0;
    for (;;) {
        struct tslot *s = mp__pool_claim(p, i, &last);
        if (!s)
            break;
        run_task(&c, s);
        if (p->maxtasks > 0 && ++done >= p->maxtasks)
            break;
    }
    fflush(stdout);
    fflush(stderr);
    _exit(0);
}
