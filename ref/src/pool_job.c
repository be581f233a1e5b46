/* Pool: the job behind an AsyncResult or an imap iterator (its layout is in
 * pool_internal.h).  The task table maps each task id out to its job; the
 * handler thread takes a task off it when the task is accounted for and
 * delivers the outcome here: the chunk's values into the job, the job's
 * completion (value, callback, then ready), the iterator's wake-up.  The
 * caller's side is here too: waiting for a job, mp_async_result_* and
 * mp_imap_*.  Locks: the table is the pool's (p->mu); a job has its own
 * mutex, never held together with p->mu. */
#include "pool_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* -------------------------------------------------------------- task table */

static size_t tab_hash(const mp_pool *p, uint64_t id)
{
    return (size_t)((id * 0x9E3779B97F4A7C15ull) >> p->tabshift);
}

/* Twice the room (open addressing, linear probing, at most half full). */
bool mp__tab_grow(mp_pool *p)
{
    size_t cap = p->tabcap ? p->tabcap * 2 : 1024;
    struct ent *t = calloc(cap, sizeof *t);
    if (!t)
        return false;
    struct ent *old = p->tab;
    size_t oldcap = p->tabcap;
    p->tab = t;
    p->tabcap = cap;
    p->tabshift = 64u - (unsigned)__builtin_ctzll(cap);
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].id) {
            size_t k = tab_hash(p, old[i].id);
            while (t[k].id)
                k = (k + 1) & (cap - 1);
            t[k] = old[i];
        }
    free(old);
    return true;
}

/* Contracts: pool_internal.h. */
bool mp__tab_put(mp_pool *p, uint64_t id, mp_async_result *j)
{
    if ((p->tabn + 1) * 2 > p->tabcap && !mp__tab_grow(p))
        return false;
    size_t k = tab_hash(p, id);
    while (p->tab[k].id)
        k = (k + 1) & (p->tabcap - 1);
    p->tab[k].id = id;
    p->tab[k].job = j;
    p->tabn++;
    return true;
}

/* Contract in pool_internal.h.  Linear probing with backward-shift
 * deletion: the entries after the removed one that would no longer be found
 * are moved up, so no tombstones accumulate.  Caller holds p->mu. */
mp_async_result *mp__tab_take(mp_pool *p, uint64_t id)
{
    if (!p->tabcap || !id)
        return NULL;
    size_t mask = p->tabcap - 1, i = tab_hash(p, id);
    while (p->tab[i].id != id) {
        if (!p->tab[i].id)
            return NULL;
        i = (i + 1) & mask;
    }
    mp_async_result *j = p->tab[i].job;
    /* backward-shift deletion keeps probe chains intact without tombstones */
    for (size_t k = i;;) {
        k = (k + 1) & mask;
        if (!p->tab[k].id)
            break;
        size_t h = tab_hash(p, p->tab[k].id);
        bool stays = i <= k ? (i < h && h <= k) : (i < h || h <= k);
        if (!stays) {
            p->tab[i] = p->tab[k];
            i = k;
        }
    }
    p->tab[i].id = 0;
    p->tabn--;
    return j;
}

/* ------------------------------------------------------------ job lifecycle */

static pthread_condattr_t cond_mono;
static pthread_once_t cond_once = PTHREAD_ONCE_INIT;

static void cond_attr_init(void)
{
    pthread_condattr_init(&cond_mono);
    pthread_condattr_setclock(&cond_mono, CLOCK_MONOTONIC);
}

void mp__pool_cond_init(pthread_cond_t *c)
{
    pthread_once(&cond_once, cond_attr_init);
    pthread_cond_init(c, &cond_mono);
}

/* A job of nchunks tasks with one reference (the caller's); NULL when out
 * of memory.  apply's single chunk lives in the job itself. */
mp_async_result *mp__job_new(int kind, size_t nchunks, mp_result_cb cb, mp_error_cb ecb, void *ud)
{
    size_t sz = kind == J_IMAP || kind == J_IMAPU ? sizeof(struct mp_imap)
                                                  : sizeof(mp_async_result);
    mp_async_result *j = calloc(1, sz);
    if (!j)
        return NULL;
    if (nchunks > 1 || (nchunks == 1 && kind != J_APPLY)) {
        j->chunks = calloc(nchunks, sizeof *j->chunks);
        if (kind == J_IMAPU && j->chunks)
            j->order = calloc(nchunks, sizeof *j->order);
        if (!j->chunks || (kind == J_IMAPU && !j->order)) {
            free(j->chunks);
            free(j);
            return NULL;
        }
    } else {
        j->chunks = &j->one;
    }
    atomic_init(&j->refs, 1);
    atomic_init(&j->ready, false);
    j->box = -1;
    j->kind = kind;
    pthread_mutex_init(&j->mu, NULL);
    mp__pool_cond_init(&j->cv);
    j->cb = cb;
    j->ecb = ecb;
    j->ud = ud;
    j->nchunks = nchunks;
    return j;
}

/* Free a chunk's values (the NULL ones taken already) and message. */
static void chunk_clear(struct chunk *c)
{
    for (size_t i = 0; i < c->n; i++)
        mp_value_free(c->items ? c->items[i] : NULL);
    free(c->items);
    free(c->msg);
    c->items = NULL;
    c->msg = NULL;
    c->n = 0;
}

/* A failed map: free the result list with the items the chunks that
 * arrived put there. */
static void list_drop(mp_async_result *j)
{
    for (size_t i = 0; i < j->nchunks; i++)
        if (j->chunks[i].arrived)
            for (size_t k = 0; k < j->chunks[i].n; k++)
                mp_value_free(j->list->u.q.items[i * j->cs + k]);
    mp_value_free(j->list); /* len 0: frees the list alone */
    j->list = NULL;
    for (size_t i = 0; i < j->nchunks; i++)
        j->chunks[i].n = 0;
}

/* Drop a reference; the last frees the job and whatever it still holds. */
void mp__job_unref(mp_async_result *j)
{
    if (!j || atomic_fetch_sub(&j->refs, 1) != 1)
        return;
    if (j->list)
        list_drop(j);
    for (size_t i = 0; i < j->nchunks; i++)
        chunk_clear(&j->chunks[i]);
    if (j->chunks != &j->one)
        free(j->chunks);
    free(j->order);
    free(j->msg);
    mp_value_free(j->value);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j);
}

/* The outcome is decided: build the value, run the callback, then mark the
 * result ready (CPython's order: a get() that returns has seen the callback). */
static void job_complete(mp_async_result *j)
{
    if (j->st == MP_OK) {
        if (j->kind == J_APPLY) {
            j->value = j->one.items[0];
            j->one.items[0] = NULL;
        } else {
            j->list->u.q.len = j->nitems;
            j->value = j->list;
            j->list = NULL;
            for (size_t i = 0; i < j->nchunks; i++)
                j->chunks[i].n = 0; /* the items are the list's now */
        }
    }
    if (j->st == MP_OK) {
        if (j->cb)
            j->cb(j->value, j->ud);
    } else if (j->ecb) {
        j->ecb(j->st, j->msg ? j->msg : mp_strerror(j->st), j->ud);
    }
    pthread_mutex_lock(&j->mu);
    atomic_store_explicit(&j->ready, true, memory_order_release);
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

/* Free what a result not handed to a job holds. */
void mp__done_free(struct done *d)
{
    struct chunk tmp = {.items = d->items, .n = d->n, .msg = d->msg};
    chunk_clear(&tmp);
    d->items = NULL;
    d->msg = NULL;
}

/* Under j->mu: an imap chunk has arrived; wake the iterator. */
static void keep_imap_chunk(mp_async_result *j, struct chunk *c, struct done *d, size_t ci)
{
    c->items = d->items;
    c->n = d->n;
    c->st = d->st;
    c->msg = d->msg;
    c->arrived = true;
    if (j->kind == J_IMAPU)
        j->order[j->norder++] = ci;
    pthread_cond_broadcast(&j->cv);
}

/* Under j->mu: a successful chunk ci of a map (its items go into the result
 * list, checked for their number) or of apply.  Returns true when it
 * decides the outcome. */
static bool keep_ok_chunk(mp_async_result *j, struct chunk *c, struct done *d, size_t ci)
{
    if (j->kind == J_MAP) {
        size_t want = j->nitems - ci * j->cs < j->cs ? j->nitems - ci * j->cs : j->cs;
        if (d->n != want) {
            j->completed = true;
            j->st = MP_EPROTO;
            j->msg = strdup("MP_EPROTO: a chunk came back with the wrong number of results");
            mp__done_free(d);
            return true;
        }
        memcpy(j->list->u.q.items + ci * j->cs, d->items, d->n * sizeof *d->items);
        free(d->items);
    } else {
        c->items = d->items;
    }
    c->n = d->n;
    c->arrived = true;
    if (--j->okleft == 0)
        j->completed = true;
    return j->completed;
}

/* Under j->mu: store d's outcome (a chunk of j's) into j; d's items and
 * message are j's (or freed) afterwards.  Returns true when this chunk
 * decides the job's outcome. */
static bool take_chunk(mp_async_result *j, struct done *d)
{
    size_t ci = (size_t)(d->id - j->base);
    struct chunk *c = &j->chunks[ci];
    assert(ci < j->nchunks);
    if (d->st == (mp_status)ST_REPLIED) {
        j->completed = true; /* the caller took the result from the box */
    } else if (j->kind == J_IMAP || j->kind == J_IMAPU) {
        keep_imap_chunk(j, c, d, ci);
    } else if (j->completed) {
        struct chunk tmp = {.items = d->items, .n = d->n, .msg = d->msg};
        chunk_clear(&tmp);
    } else if (d->st != MP_OK) {
        j->completed = true;
        j->st = d->st;
        j->msg = d->msg;
        struct chunk tmp = {.items = d->items, .n = d->n};
        chunk_clear(&tmp);
        return true;
    } else {
        return keep_ok_chunk(j, c, d, ci);
    }
    return false;
}

/* The job's last outstanding chunk drops the pool's reference. */
void mp__job_deliver(struct done *d)
{
    mp_async_result *j = d->job;
    pthread_mutex_lock(&j->mu);
    bool finish = take_chunk(j, d);
    assert(j->outstanding > 0);
    bool release = --j->outstanding == 0;
    pthread_mutex_unlock(&j->mu);
    d->items = NULL;
    d->msg = NULL;
    if (finish)
        job_complete(j);
    if (release)
        mp__job_unref(j);
}

/* ------------------------------------------------------------ the caller's side */

static bool job_ready(void *arg)
{
    const mp_async_result *j = arg;
    return atomic_load_explicit(&j->ready, memory_order_acquire);
}

/* Wait until j is ready (spin, then its condition variable): MP_TIMEOUT
 * after timeout, never earlier; MP_ESTATE from a callback of j's own pool
 * (the handler cannot deliver while it waits). */
mp_status mp__job_wait(mp_async_result *j, double timeout, const char *what)
{
    mp__deadline d;
    mp_status s = mp__deadline_init(&d, timeout);
    if (s)
        return s;
    if (atomic_load_explicit(&j->ready, memory_order_acquire))
        return MP_OK;
    if (!d.forever && mp__deadline_passed(&d))
        return mp__err(MP_TIMEOUT, "%s: not ready after %.3f s", what, timeout < 0 ? 0 : timeout);
    if (pthread_equal(pthread_self(), j->handler))
        return mp__err(MP_ESTATE,
                       "%s: waiting in a pool callback for a task that cannot "
                       "finish before the callback returns",
                       what);
    static _Thread_local double last;
    double t0;
    if (spin(&last, job_ready, j, &t0, false))
        return MP_OK;
    pthread_mutex_lock(&j->mu);
    while (!atomic_load_explicit(&j->ready, memory_order_relaxed)) {
        if (d.forever) {
            pthread_cond_wait(&j->cv, &j->mu);
        } else if (pthread_cond_timedwait(&j->cv, &j->mu, &d.at) == ETIMEDOUT &&
                   !atomic_load_explicit(&j->ready, memory_order_relaxed)) {
            pthread_mutex_unlock(&j->mu);
            return mp__err(MP_TIMEOUT, "%s: not ready after %.3f s", what, timeout);
        }
    }
    pthread_mutex_unlock(&j->mu);
    last = mp__now() - t0;
    return MP_OK;
}

/* j is ready: MP_OK, or its failure with its message. */
mp_status mp__job_outcome(mp_async_result *j)
{
    if (j->st == MP_OK)
        return MP_OK;
    return mp__err(j->st, "%s", j->msg ? j->msg : mp_strerror(j->st));
}

/* Under j->mu: the chunk the iterator reads next, if it has arrived (NULL:
 * wait); *end when every chunk has been read. */
static struct chunk *imap_chunk(mp_async_result *j, bool *end)
{
    *end = false;
    if (j->kind == J_IMAP) {
        if (j->cur >= j->nchunks)
            *end = true;
        else if (j->chunks[j->cur].arrived)
            return &j->chunks[j->cur];
        return NULL;
    }
    if (j->opos < j->norder)
        return &j->chunks[j->order[j->opos]];
    *end = j->opos >= j->nchunks;
    return NULL;
}

/* Under j->mu: take the next item of chunk c (or its failure). */
static mp_status imap_take(mp_async_result *j, struct chunk *c, mp_value **item)
{
    size_t *pos = j->kind == J_IMAP ? &j->cur : &j->opos;
    if (c->st != MP_OK) {
        ++*pos;
        return mp__err(c->st, "%s", c->msg ? c->msg : mp_strerror(c->st));
    }
    *item = c->items[j->item];
    c->items[j->item] = NULL;
    if (++j->item == c->n) {
        j->item = 0;
        ++*pos;
    }
    return MP_OK;
}

/* Contract in mp.h.  Waits on the job's own mu and cv; refuses to sleep in
 * the handler thread (a callback), where the awaited task could never
 * finish. */
mp_status mp_imap_next(mp_imap *it, double timeout, mp_value **item)
{
    if (!it || !item)
        return mp__err(MP_EINVAL, "imap.next: NULL argument");
    mp__deadline d;
    mp_status s = mp__deadline_init(&d, timeout);
    if (s)
        return s;
    mp_async_result *j = &it->r;
    pthread_mutex_lock(&j->mu);
    for (;;) {
        bool end;
        struct chunk *c = imap_chunk(j, &end);
        if (c || end) {
            s = c ? imap_take(j, c, item) : mp__err(MP_EOF, "imap.next: no more results");
            break;
        }
        if (!d.forever && mp__deadline_passed(&d)) {
            s = mp__err(MP_TIMEOUT, "imap.next: nothing ready after %.3f s",
                        timeout < 0 ? 0 : timeout);
            break;
        }
        if (pthread_equal(pthread_self(), j->handler)) {
            s = mp__err(MP_ESTATE, "imap.next: waiting in a pool callback for a task "
                                   "that cannot finish before the callback returns");
            break;
        }
        if (d.forever)
            pthread_cond_wait(&j->cv, &j->mu);
        else
            pthread_cond_timedwait(&j->cv, &j->mu, &d.at);
    }
    pthread_mutex_unlock(&j->mu);
    return s;
}

void mp_imap_free(mp_imap *it)
{
    if (it)
        mp__job_unref(&it->r);
}

/* Contract in mp.h.  *result stays owned by r (freed with it). */
mp_status mp_async_result_get(mp_async_result *r, double timeout, const mp_value **result)
{
    if (!r || !result)
        return mp__err(MP_EINVAL, "async_result.get: NULL argument");
    mp_status s = mp__job_wait(r, timeout, "async_result.get");
    if (!s && !(s = mp__job_outcome(r)))
        *result = r->value;
    return s;
}

mp_status mp_async_result_wait(mp_async_result *r, double timeout)
{
    if (!r)
        return mp__err(MP_EINVAL, "async_result.wait: NULL result");
    return mp__job_wait(r, timeout, "async_result.wait");
}

mp_status mp_async_result_ready(mp_async_result *r, bool *ready)
{
    if (!r || !ready)
        return mp__err(MP_EINVAL, "async_result.ready: NULL argument");
    *ready = atomic_load_explicit(&r->ready, memory_order_acquire);
    return MP_OK;
}

/* Contract in mp.h.  ready is read with acquire order, so st is the
 * handler's final one. */
mp_status mp_async_result_successful(mp_async_result *r, bool *successful)
{
    if (!r || !successful)
        return mp__err(MP_EINVAL, "async_result.successful: NULL argument");
    if (!atomic_load_explicit(&r->ready, memory_order_acquire))
        return mp__err(MP_ESTATE, "async_result.successful: result is not ready");
    *successful = r->st == MP_OK;
    return MP_OK;
}

void mp_async_result_free(mp_async_result *r) { mp__job_unref(r); }
