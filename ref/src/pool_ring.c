/* Pool: the shared memory between the parent and its workers (the design is
 * in pool_internal.h).  This file owns every protocol on that memory: the
 * region's layout, the task ring (producer: the parent under p->mu;
 * consumers: the workers, lock-free), the per-worker result rings (writer:
 * the worker; reader: the handler thread), the reply boxes, and the
 * wake-ups between them.  It holds no policy: who runs when, and what a
 * result means, are the other files'. */
#include "pool_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* ------------------------------------------------------------------ layout */

/* Contract in pool_internal.h.  Every part starts on a page boundary; the
 * big region is reserved with MAP_NORESERVE, trying smaller bigmax values
 * where address space is limited (the first mapping that succeeds wins). */
mp_status mp__pool_map_shm(mp_pool *p)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
#define UP(x) (((x) + pg - 1) / pg * pg)
    size_t o_ws = UP(sizeof(struct shm_hdr));
    size_t o_slots = UP(o_ws + (size_t)p->n * sizeof(struct wslot));
    size_t o_boxes = UP(o_slots + NSLOT * sizeof(struct tslot));
    size_t o_rings = UP(o_boxes + NBOX * sizeof(struct box));
    size_t o_arena = o_rings + (size_t)p->n * RRING;
    /* The big region is address space only (MAP_NORESERVE); fall back to
     * less where address space is limited. */
    static const size_t bigs[] = {MP_MSG_MAX, (size_t)256 << 20, (size_t)32 << 20};
    for (size_t k = 0; k < sizeof bigs / sizeof bigs[0]; k++) {
        size_t len = o_arena + ARENA_SOFT + UP(bigs[k]);
        void *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m == MAP_FAILED)
            continue;
        p->map = m;
        p->maplen = len;
        p->bigmax = bigs[k];
        p->sh = m;
        p->ws = (struct wslot *)((uint8_t *)m + o_ws);
        p->slots = (struct tslot *)((uint8_t *)m + o_slots);
        p->boxes = (struct box *)((uint8_t *)m + o_boxes);
        p->rings = (uint8_t *)m + o_rings;
        p->arena = (uint8_t *)m + o_arena;
        return MP_OK;
    }
#undef UP
    return mp__errno(errno, "pool: mmap of the shared rings");
}

/* Where a task's argument bytes live: its place in the small ring, or the
 * big region. */
static uint8_t *arena_at(const mp_pool *p, uint64_t pos, bool big)
{
    return p->arena + (big ? ARENA_SOFT : (size_t)(pos % ARENA_SOFT));
}

/* --------------------------------------------------------------- wake-ups */

void mp__pool_wake_handler(mp_pool *p)
{
    if (atomic_load(&p->sh->hsleep) && atomic_exchange(&p->sh->hsleep, 0)) {
        uint64_t one = 1;
        while (write(p->efd, &one, sizeof one) < 0 && errno == EINTR) {
        }
    }
}

/* Wake sleeping workers until the unclaimed tasks have as many idle workers
 * as they need.  Idle (spinning) workers count: they take a task without
 * being woken, so a busy submitter with a worker keeping up makes no system
 * call.  self: the calling worker (-1 in the parent). */
void mp__pool_wake_workers(mp_pool *p, int self)
{
    struct shm_hdr *sh = p->sh;
    uint64_t pub = atomic_load(&sh->pub), c = atomic_load(&sh->claim);
    if (c >= pub)
        return;
    uint64_t need = pub - c;
    for (int i = 0; i < p->n && need; i++)
        if (i != self && atomic_load(&p->ws[i].waiting) == PH_IDLE)
            need--;
    for (int t = 0; t < p->n && need; t++) {
        int i = (self + 1 + t) % p->n;
        uint32_t want = PH_SLEEP;
        if (i != self &&
            atomic_compare_exchange_strong(&p->ws[i].waiting, &want, (uint32_t)PH_IDLE)) {
            mp__futex_wake(&p->ws[i].waiting, 1);
            need--;
        }
    }
}

/* ------------------------------------------------- task ring: the producer */

/* Under mu: slots the workers are done with (DONE, in ring order) become
 * FREE, and their arena space (or the big region) is returned. */
void mp__pool_reclaim(mp_pool *p)
{
    while (p->free_seq < p->pubseq) {
        struct tslot *s = &p->slots[p->free_seq % NSLOT];
        if (atomic_load_explicit(&s->state, memory_order_acquire) != S_DONE)
            break;
        if (s->big) {
            size_t pg = (size_t)sysconf(_SC_PAGESIZE);
            size_t len = ((size_t)s->len + pg - 1) / pg * pg;
            madvise(p->arena + ARENA_SOFT, len, MADV_REMOVE);
            p->big_busy = false;
        } else {
            assert(s->pos >= p->atail && s->pos + s->len <= p->apos);
            p->atail = s->pos + s->len;
        }
        atomic_store_explicit(&s->state, S_FREE, memory_order_relaxed);
        p->free_seq++;
    }
}

/* Under mu: room for a task of len bytes: a slot and arena space (*pos, or
 * *big for the big region).  false: it waits (nothing reserved). */
static bool place(mp_pool *p, size_t len, uint64_t *pos, bool *big)
{
    for (int pass = 0; pass < 2; pass++) {
        if (pass)
            mp__pool_reclaim(p);
        if (p->pubseq - p->free_seq >= NSLOT)
            continue;
        if (len > SMALL_MAX) {
            if (p->big_busy)
                continue;
            p->big_busy = true;
            *big = true;
            *pos = 0;
            return true;
        }
        uint64_t start = p->apos;
        if (start % ARENA_SOFT + len > ARENA_SOFT)
            start += ARENA_SOFT - start % ARENA_SOFT;
        if (start + len - p->atail > ARENA_SOFT)
            continue;
        p->apos = start + len;
        *pos = start;
        *big = false;
        return true;
    }
    return false;
}

/* Under mu, after place() and with the argument bytes already in the arena:
 * fill the next slot and publish it (READY, then pub). */
static void publish(mp_pool *p, uint64_t id, mp_task_fn fn, int box, size_t len, uint64_t pos,
                    bool big)
{
    struct tslot *s = &p->slots[p->pubseq % NSLOT];
    assert(p->pubseq - p->free_seq < NSLOT);
    assert(atomic_load_explicit(&s->state, memory_order_relaxed) == S_FREE);
    s->box = (int16_t)box;
    s->id = id;
    s->fn = fn;
    s->pos = pos;
    s->len = len;
    s->big = big;
    atomic_store_explicit(&s->state, S_READY, memory_order_release);
    atomic_store(&p->sh->pub, ++p->pubseq);
}

/* Contract in pool_internal.h.  Caller holds p->mu.  Moves queued tasks
 * into the ring in order until one does not fit; `pending` tells the
 * workers whether the parent still holds some.  Returns how many were
 * published. */
size_t mp__pool_feed(mp_pool *p)
{
    size_t k = 0;
    while (p->ph) {
        struct pend *e = p->ph;
        uint64_t pos;
        bool big;
        if (!place(p, e->len, &pos, &big))
            break;
        memcpy(arena_at(p, pos, big), e->data, e->len);
        publish(p, e->id, e->fn, e->box, e->len, pos, big);
        p->ph = e->next;
        if (!p->ph)
            p->pt = NULL;
        free(e);
        k++;
    }
    atomic_store(&p->sh->pending, p->ph != NULL);
    return k;
}

/* The arguments are encoded straight into the arena (or the pending
 * entry): no intermediate buffer. */
mp_status mp__pool_enqueue(mp_pool *p, uint64_t id, mp_task_fn fn, int box,
                           const mp_value *const *v, size_t n, size_t len, size_t *published)
{
    uint64_t pos;
    bool big;
    if (!p->ph && place(p, len, &pos, &big)) {
        mp__values_encode_into(v, n, arena_at(p, pos, big), len);
        publish(p, id, fn, box, len, pos, big);
        ++*published;
        return MP_OK;
    }
    struct pend *e = malloc(sizeof *e + len);
    if (!e)
        return mp__err(MP_ENOMEM, "pool: out of memory queueing a task");
    e->next = NULL;
    e->id = id;
    e->fn = fn;
    e->box = box;
    e->len = len;
    mp__values_encode_into(v, n, e->data, len);
    if (p->pt)
        p->pt->next = e;
    else
        p->ph = e;
    p->pt = e;
    atomic_store(&p->sh->pending, 1);
    return MP_OK;
}

/* ------------------------------------------------- task ring: the consumers */

static bool task_or_stop(void *arg)
{
    const struct shm_hdr *sh = arg;
    return atomic_load_explicit(&sh->claim, memory_order_relaxed) <
               atomic_load_explicit(&sh->pub, memory_order_relaxed) ||
           atomic_load_explicit(&sh->stop, memory_order_relaxed);
}

/* Worker i waits for work: spin (yielding if a lower-numbered worker waits
 * too), then sleep on its phase word. */
static void await_task(mp_pool *p, int i, double *last)
{
    static const mp__deadline forever = {.forever = true};
    struct shm_hdr *sh = p->sh;
    struct wslot *ws = &p->ws[i];
    atomic_store(&ws->waiting, PH_IDLE);
    double t0;
    bool spare = false; /* another worker, lower-numbered, waits too */
    for (int j = 0; j < i && !spare; j++)
        spare = atomic_load_explicit(&p->ws[j].waiting, memory_order_relaxed) == PH_IDLE;
    if (spin(last, task_or_stop, sh, &t0, spare))
        return;
    /* Dekker with the producer, which stores pub and then reads our
     * phase: one of us sees the other. */
    atomic_store(&ws->waiting, PH_SLEEP);
    if (atomic_load(&sh->claim) >= atomic_load(&sh->pub) && !atomic_load(&sh->stop))
        mp__futex_wait(&ws->waiting, PH_SLEEP, &forever);
    atomic_store(&ws->waiting, PH_IDLE);
    *last = mp__now() - t0;
}

/* One CAS on the slot claims it; the hint `claim` is advanced by whoever
 * sees it behind, so a worker killed between the two never stalls it. */
struct tslot *mp__pool_claim(mp_pool *p, int i, double *last)
{
    struct shm_hdr *sh = p->sh;
    for (;;) {
        uint64_t c = atomic_load(&sh->claim);
        if (c < atomic_load(&sh->pub)) {
            struct tslot *s = &p->slots[c % NSLOT];
            uint32_t want = S_READY;
            bool got = atomic_load_explicit(&s->state, memory_order_relaxed) == S_READY &&
                       atomic_compare_exchange_strong(&s->state, &want, (uint32_t)(S_CLAIMED + i));
            /* advance the hint past c (helping a peer that claimed it) */
            atomic_compare_exchange_strong(&sh->claim, &c, c + 1);
            if (got) {
                atomic_store(&p->ws[i].waiting, PH_BUSY);
                /* more tasks than idle workers: pass the wake-up on */
                mp__pool_wake_workers(p, i);
                return s;
            }
            continue;
        }
        if (atomic_load(&sh->stop))
            return NULL;
        await_task(p, i, last);
    }
}

const uint8_t *mp__pool_task_args(const mp_pool *p, const struct tslot *s)
{
    assert(atomic_load_explicit(&s->state, memory_order_relaxed) >= S_CLAIMED);
    assert(s->big ? s->len <= p->bigmax : s->len <= SMALL_MAX);
    return arena_at(p, s->pos, s->big);
}

/* The slot goes DONE: its space is the producer's again (reclaimed in ring
 * order).  A producer with tasks pending is woken to feed them in. */
void mp__pool_task_release(mp_pool *p, struct tslot *s)
{
    atomic_store_explicit(&s->state, S_DONE, memory_order_release);
    if (atomic_load(&p->sh->pending))
        mp__pool_wake_handler(p);
}

/* ----------------------------------------------- result ring: the writer */

/* Copy into the result ring, streaming when the message is larger than the
 * free space: publish what is written, wake the handler, sleep until it has
 * made room. */
void mp__pool_rput(struct rwriter *w, const void *src, size_t n)
{
    static const mp__deadline forever = {.forever = true};
    const uint8_t *s = src;
    while (n) {
        uint64_t tail = atomic_load_explicit(&w->ws->rtail, memory_order_acquire);
        assert(w->head - tail <= RRING);
        size_t room = RRING - (size_t)(w->head - tail);
        if (room == 0) {
            atomic_store(&w->ws->rhead, w->head);
            mp__pool_wake_handler(w->p);
            atomic_store(&w->ws->rwait, 1);
            if (atomic_load(&w->ws->rtail) == tail)
                mp__futex_wait(&w->ws->rwait, 1, &forever);
            atomic_store(&w->ws->rwait, 0);
            continue;
        }
        size_t at = (size_t)(w->head % RRING), k = n < room ? n : room;
        if (k > RRING - at)
            k = RRING - at;
        memcpy(w->ring + at, s, k);
        s += k;
        n -= k;
        w->head += k;
    }
}

void mp__pool_rcommit(struct rwriter *w) { atomic_store(&w->ws->rhead, w->head); }

/* ----------------------------------------------- result ring: the reader */

static void ring_copy(uint8_t *dst, const uint8_t *ring, uint64_t pos, size_t n)
{
    size_t at = (size_t)(pos % RRING), k = n < RRING - at ? n : RRING - at;
    memcpy(dst, ring + at, k);
    if (n > k)
        memcpy(dst + k, ring, n - k);
}

/* r->h has just been read: make r->buf hold h.len bytes (discard the
 * message when out of memory). */
static void start_streamed(struct rd *r)
{
    r->hdr = true;
    r->got = 0;
    r->discard = false;
    if (r->cap < r->h.len) {
        free(r->buf);
        r->buf = malloc(r->h.len);
        r->cap = r->buf ? r->h.len : 0;
        r->discard = !r->buf;
    }
}

/* The handler has read up to tail: give the space back, waking a worker
 * that waits for it. */
static void give_room(struct wslot *ws, uint64_t tail)
{
    atomic_store(&ws->rtail, tail);
    if (atomic_load(&ws->rwait) && atomic_exchange(&ws->rwait, 0))
        mp__futex_wake(&ws->rwait, 1);
}

/* A message contiguous in the ring is emitted in place; one that wraps or
 * is still being written is gathered in r->buf. */
size_t mp__pool_drain(mp_pool *p, int i, struct dlist *l)
{
    struct wslot *ws = &p->ws[i];
    struct rd *r = &p->rd[i];
    const uint8_t *ring = p->rings + (size_t)i * RRING;
    uint64_t tail = atomic_load_explicit(&ws->rtail, memory_order_relaxed);
    uint64_t head = atomic_load_explicit(&ws->rhead, memory_order_acquire);
    size_t msgs = 0;
    while (head != tail) {
        assert(head - tail <= RRING);
        if (!r->hdr) {
            if (head - tail < sizeof r->h)
                break;
            ring_copy((uint8_t *)&r->h, ring, tail, sizeof r->h);
            size_t at = (size_t)((tail + sizeof r->h) % RRING);
            if (head - tail - sizeof r->h >= r->h.len && at + r->h.len <= RRING) {
                mp__pool_emit(l, &r->h, ring + at, r->h.len, false);
                tail += sizeof r->h + r->h.len;
                msgs++;
                continue;
            }
            tail += sizeof r->h;
            start_streamed(r);
        }
        size_t k = r->h.len - r->got;
        if (k > head - tail)
            k = (size_t)(head - tail);
        if (!r->discard)
            ring_copy(r->buf + r->got, ring, tail, k);
        r->got += k;
        tail += k;
        assert(r->got <= r->h.len);
        if (r->got == r->h.len) {
            mp__pool_emit(l, &r->h, r->buf, r->h.len, r->discard);
            r->hdr = false;
            msgs++;
            if (r->cap > KEEP_MAX) {
                free(r->buf);
                r->buf = NULL;
                r->cap = 0;
            }
        } else {
            /* a message streamed through: make room for the rest now */
            give_room(ws, tail);
            head = atomic_load_explicit(&ws->rhead, memory_order_acquire);
        }
    }
    give_room(ws, tail);
    return msgs;
}

/* Contract in pool_internal.h.  The handler thread only (it reads p->w); a
 * dead worker's ring does not count. */
bool mp__pool_rings_busy(const mp_pool *p)
{
    for (int i = 0; i < p->n; i++)
        if (p->w[i].alive && atomic_load(&p->ws[i].rhead) !=
                                 atomic_load_explicit(&p->ws[i].rtail, memory_order_relaxed))
            return true;
    return false;
}

/* -------------------------------------------------------------- reply boxes */

/* Contract in pool_internal.h.  Caller holds p->mu.  The lowest free box,
 * with two references (the caller's and the handler's), its state reset; -1
 * when all NBOX are in use. */
int mp__pool_box_take(mp_pool *p)
{
    if (!p->boxfree)
        return -1;
    int box = __builtin_ctzll(p->boxfree);
    assert(p->boxrefs[box] == 0);
    p->boxfree &= ~((uint64_t)1 << box);
    p->boxrefs[box] = 2;
    atomic_store(&p->boxes[box].state, BOX_EMPTY);
    atomic_store(&p->boxes[box].sleeping, 0);
    return box;
}

/* Fill, then publish with one store, then wake the caller if it sleeps. */
void mp__pool_box_publish(mp_pool *p, int box, uint32_t status, const void *data, uint32_t len)
{
    struct box *b = &p->boxes[box];
    assert(len <= BOXCAP);
    assert(atomic_load_explicit(&b->state, memory_order_relaxed) == BOX_EMPTY);
    if (len)
        memcpy(b->data, data, len);
    b->status = status;
    b->len = len;
    atomic_store(&b->state, BOX_FULL);
    if (atomic_load(&b->sleeping))
        mp__futex_wake(&b->state, 1);
}

/* Whether or not the CAS wins, a sleeping caller is woken: the worker may
 * have died between publishing and its own futex wake. */
void mp__pool_box_fail(mp_pool *p, int box)
{
    struct box *b = &p->boxes[box];
    uint32_t want = BOX_EMPTY;
    atomic_compare_exchange_strong(&b->state, &want, (uint32_t)BOX_JOB);
    if (atomic_load(&b->sleeping))
        mp__futex_wake(&b->state, 1);
}

void mp__pool_box_release(mp_pool *p, int box)
{
    assert(p->boxrefs[box] > 0);
    if (--p->boxrefs[box] == 0)
        p->boxfree |= (uint64_t)1 << box;
}

static bool box_ready(void *arg)
{
    const struct box *b = arg;
    return atomic_load_explicit(&b->state, memory_order_acquire) != BOX_EMPTY;
}

/* Spin (adaptive, per thread), then sleep on the state word, announced
 * through `sleeping` so the worker wakes only a sleeper. */
uint32_t mp__pool_box_wait(mp_pool *p, int box)
{
    static const mp__deadline forever = {.forever = true};
    static _Thread_local double last;
    struct box *b = &p->boxes[box];
    double t0;
    if (!spin(&last, box_ready, b, &t0, false)) {
        atomic_store(&b->sleeping, 1);
        while (atomic_load(&b->state) == BOX_EMPTY)
            mp__futex_wait(&b->state, BOX_EMPTY, &forever);
        atomic_store(&b->sleeping, 0);
        last = mp__now() - t0;
    }
    return atomic_load_explicit(&b->state, memory_order_acquire);
}
