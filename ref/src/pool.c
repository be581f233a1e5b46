/* Pool: the public mp_pool_* calls (the design is in pool_internal.h).
 * Creating a pool (shared memory, eventfd, the handler thread, which forks
 * the workers), submitting jobs (check, split into chunks, encode each
 * chunk's arguments straight into the task ring), the blocking forms (apply
 * waits on its reply box), and close / terminate / join / free.  The job a
 * call returns, and waiting for it, are pool_job.c's. */
#include "pool_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

/* getpid() is a system call; the pid changes only across fork. */
static _Atomic pid_t self_pid;
static pthread_once_t pid_once = PTHREAD_ONCE_INIT;

static void pid_refresh(void) { atomic_store(&self_pid, getpid()); }

static void pid_init(void)
{
    pid_refresh();
    pthread_atfork(NULL, NULL, pid_refresh);
}

static pid_t my_pid(void)
{
    pthread_once(&pid_once, pid_init);
    return atomic_load_explicit(&self_pid, memory_order_relaxed);
}

static const char *state_name(int s)
{
    return s == P_RUN ? "running" : s == P_CLOSE ? "closed" : "terminated";
}

/* Contract in mp.h.  Formats into a bounded buffer first, so a long message
 * is cut rather than lost; fmt NULL records an empty message. */
mp_status mp_task_error(mp_status s, const char *fmt, ...)
{
    if (!fmt)
        return mp__err(s, "%s", "");
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return mp__err(s, "%s", buf);
}

/* ------------------------------------------------------------ life of a pool
 * (the contracts of the mp_* calls are in mp.h) */

/* Wake the handler thread whether or not it sleeps (close, terminate). */
static void poke(mp_pool *p)
{
    uint64_t one = 1;
    while (write(p->efd, &one, sizeof one) < 0 && errno == EINTR) {
    }
}

/* Contract in pool_internal.h.  Safe on a pool that pool_alloc left half
 * made: every field is tested first or is NULL from calloc, and mu and cv
 * are always initialised. */
void mp__pool_release(mp_pool *p)
{
    if (p->map)
        munmap(p->map, p->maplen);
    if (p->efd >= 0)
        close(p->efd);
    if (p->rd)
        for (int i = 0; i < p->n; i++)
            free(p->rd[i].buf);
    free(p->rd);
    free(p->w);
    free(p->tab);
    while (p->ph) {
        struct pend *e = p->ph;
        p->ph = e->next;
        free(e);
    }
    mp_value_free(p->initargs);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}

/* A pool of n workers with everything but its thread: NULL when out of
 * memory.  *s: the failure of what was allocated after the struct. */
static mp_pool *pool_alloc(int n, mp_pool_init_fn initializer, const mp_value *initargs,
                           long maxtasksperchild, mp_status *s)
{
    mp_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    /* held briefly by submitters and the handler: spin rather than sleep */
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ADAPTIVE_NP);
    pthread_mutex_init(&p->mu, &ma);
    pthread_mutexattr_destroy(&ma);
    mp__pool_cond_init(&p->cv);
    p->efd = -1;
    p->n = n;
    p->owner = my_pid();
    p->init = initializer;
    p->maxtasks = maxtasksperchild > 0 ? maxtasksperchild : 0;
    p->next_id = 1;
    p->boxfree = ~(uint64_t)0;
    *s = MP_OK;
    if (initargs && !(p->initargs = mp_value_copy(initargs)))
        *s = mp__err(MP_ENOMEM, "pool.new: out of memory copying initargs");
    if (!*s)
        *s = mp__pool_map_shm(p);
    if (!*s && (p->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
        *s = mp__errno(errno, "pool.new: eventfd");
    if (!*s) {
        p->w = calloc((size_t)n, sizeof *p->w);
        p->rd = calloc((size_t)n, sizeof *p->rd);
        if (!p->w || !p->rd || !mp__tab_grow(p))
            *s = mp__err(MP_ENOMEM, "pool.new: out of memory");
        for (int i = 0; p->w && i < n; i++)
            p->w[i].pidfd = -1;
    }
    return p;
}

/* Start the handler thread and wait until it has forked the workers.  On
 * failure the pool is released. */
static mp_status pool_start(mp_pool *p)
{
    /* The handler thread takes no signals (they belong to the application's
     * threads); workers get the creator's mask back. */
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &p->mask);
    int e = pthread_create(&p->thr, NULL, mp__pool_handler_main, p);
    pthread_sigmask(SIG_SETMASK, &p->mask, NULL);
    if (e) {
        mp__pool_release(p);
        return mp__errno(e, "pool.new: pthread_create");
    }
    pthread_mutex_lock(&p->mu);
    while (!p->started)
        pthread_cond_wait(&p->cv, &p->mu);
    mp_status s = p->start_st;
    pthread_mutex_unlock(&p->mu);
    if (s) {
        pthread_join(p->thr, NULL);
        char m[256];
        snprintf(m, sizeof m, "%s", p->start_msg);
        mp__pool_release(p);
        return mp__err(s, "%s", m);
    }
    return MP_OK;
}

/* Contract in mp.h.  pool_alloc, then pool_start; each releases what it
 * made on failure, so nothing leaks on any error path. */
mp_status mp_pool_new(mp_pool **out, int processes, mp_pool_init_fn initializer,
                      const mp_value *initargs, long maxtasksperchild)
{
    if (!out)
        return mp__err(MP_EINVAL, "pool.new: NULL out");
    int n = processes > 0 ? processes : mp_cpu_count();
    if (n < 1)
        n = 1;
    if (n > MAX_WORKERS)
        return mp__err(MP_EINVAL, "pool.new: %d processes (at most %d)", n, MAX_WORKERS);
    mp_status s;
    mp_pool *p = pool_alloc(n, initializer, initargs, maxtasksperchild, &s);
    if (!p)
        return mp__err(MP_ENOMEM, "pool.new: out of memory");
    if (s) {
        mp__pool_release(p);
        return s;
    }
    if ((s = pool_start(p)))
        return s;
    *out = p;
    return MP_OK;
}

mp_status mp_pool_size(mp_pool *p, int *processes)
{
    if (!p || !processes)
        return mp__err(MP_EINVAL, "pool.size: NULL argument");
    *processes = p->n;
    return MP_OK;
}

/* Every call on a pool: not NULL, and made in the process that created it
 * (a forked child holds a copy it must not drive). */
static mp_status check_pool(mp_pool *p, const char *what)
{
    if (!p)
        return mp__err(MP_EINVAL, "%s: NULL pool", what);
    if (my_pid() != p->owner)
        return mp__err(MP_ESTATE, "%s: the pool belongs to process %d", what, (int)p->owner);
    return MP_OK;
}

/* --------------------------------------------------------------- submitting */

/* Under mu: chunk k of job j (its arguments: the array v[0..n)) gets its
 * task id, its table entry, apply's reply box, and goes into the ring. */
static mp_status submit_chunk(mp_pool *p, mp_async_result *j, size_t k, mp_task_fn fn,
                              const mp_value *const *v, size_t n, size_t *published,
                              const char *what)
{
    size_t len;
    mp_status s = mp__values_encoded_size(v, n, &len);
    if (!s && len > p->bigmax)
        s = mp__err(MP_EMSGSIZE, "%s: a task of %zu bytes is larger than %zu", what, len,
                    p->bigmax);
    if (s)
        return s;
    uint64_t id = j->base + k;
    if (!mp__tab_put(p, id, j))
        return mp__err(MP_ENOMEM, "%s: out of memory", what);
    int box = j->want_box ? mp__pool_box_take(p) : -1;
    if ((s = mp__pool_enqueue(p, id, fn, box, v, n, len, published))) {
        mp__tab_take(p, id);
        if (box >= 0) {
            p->boxrefs[box] = 0;
            p->boxfree |= (uint64_t)1 << box;
        }
        return s;
    }
    j->box = box;
    p->live++;
    return MP_OK;
}

/* Encode and queue the chunks of job j: items [0, nitems) of args (or args
 * itself when single), cs per chunk. */
static mp_status submit(mp_pool *p, mp_async_result *j, mp_task_fn fn, const mp_value *args,
                        bool single, size_t nitems, size_t cs, const char *what)
{
    pthread_mutex_lock(&p->mu);
    if (p->state != P_RUN) {
        int st = p->state;
        pthread_mutex_unlock(&p->mu);
        return mp__err(MP_ESTATE, "%s: pool not running (%s)", what, state_name(st));
    }
    j->handler = p->thr;
    j->base = p->next_id;
    size_t published = 0, k = 0;
    mp_status s = MP_OK;
    for (; k < j->nchunks && !s; k++) {
        size_t from = k * cs, cnt = nitems - from < cs ? nitems - from : cs;
        const mp_value *const *v = single ? &args : (const mp_value *const *)args->u.q.items + from;
        s = submit_chunk(p, j, k, fn, v, single ? 1 : cnt, &published, what);
    }
    if (s) {
        /* Chunks already queued still run; their results find no job. */
        for (size_t i = 0; i + 1 < k; i++)
            if (mp__tab_take(p, j->base + i))
                p->live--;
    } else {
        j->outstanding = j->nchunks;
        j->okleft = j->nchunks;
        atomic_fetch_add(&j->refs, 1);
    }
    p->next_id += j->nchunks; /* on failure too: never reuse ids a worker may answer */
    if (published)
        mp__pool_wake_workers(p, -1);
    pthread_mutex_unlock(&p->mu);
    return s;
}

/* map's args: a list or tuple (*n its length); starmap's: of lists or
 * tuples.  MP_EINVAL / MP_ETYPE otherwise. */
static mp_status check_seq_arg(const mp_value *args, size_t *n, bool star, const char *what)
{
    if (!args)
        return mp__err(MP_EINVAL, "%s: NULL args", what);
    mp_type t = mp_value_type(args);
    if (t != MP_T_LIST && t != MP_T_TUPLE)
        return mp__err(MP_ETYPE, "%s: args must be a list or tuple", what);
    mp_seq_len(args, n);
    for (size_t i = 0; star && i < *n; i++) {
        const mp_value *it = NULL;
        mp_seq_get(args, (ptrdiff_t)i, &it);
        mp_type u = mp_value_type(it);
        if (u != MP_T_LIST && u != MP_T_TUPLE)
            return mp__err(MP_ETYPE, "%s: item %zu is not a list or tuple", what, i);
    }
    return MP_OK;
}

/* As CPython: an empty map is ready at once (no callback runs). */
static mp_status empty_job(mp_pool *p, mp_async_result *j, mp_async_result **out, const char *what)
{
    if (j->kind == J_MAP && !(j->value = mp_list())) {
        mp__job_unref(j);
        return mp__err(MP_ENOMEM, "%s: out of memory", what);
    }
    pthread_mutex_lock(&p->mu);
    int st = p->state;
    j->handler = p->thr;
    pthread_mutex_unlock(&p->mu);
    if (st != P_RUN) {
        mp__job_unref(j);
        return mp__err(MP_ESTATE, "%s: pool not running (%s)", what, state_name(st));
    }
    j->completed = true;
    atomic_store(&j->ready, true);
    *out = j;
    return MP_OK;
}

/* The checks every submitting call makes first, in CPython's order: the
 * pool, then the function and output, then that it runs. */
static mp_status check_call(mp_pool *p, mp_task_fn fn, mp_async_result **out, const char *what)
{
    mp_status s = check_pool(p, what);
    if (s)
        return s;
    if (!fn || !out)
        return mp__err(MP_EINVAL, "%s: NULL %s", what, fn ? "out" : "function");
    pthread_mutex_lock(&p->mu);
    int state = p->state;
    pthread_mutex_unlock(&p->mu);
    if (state != P_RUN) /* as CPython's _check_running(), before the arguments */
        return mp__err(MP_ESTATE, "%s: pool not running (%s)", what, state_name(state));
    return MP_OK;
}

/* kind: J_* or -1 for starmap.  Checks the call, splits args into chunks
 * (chunksize 0: map's default), and submits the job; *out holds the
 * caller's reference. */
static mp_status start_job(mp_pool *p, int kind, mp_task_fn fn, const mp_value *args,
                           size_t chunksize, mp_result_cb cb, mp_error_cb ecb, void *ud,
                           mp_async_result **out, const char *what, bool want_box)
{
    mp_status s = check_call(p, fn, out, what);
    if (s)
        return s;
    bool single = kind == J_APPLY, star = kind < 0;
    if (star)
        kind = J_MAP;
    size_t n = 1, cs = 1;
    if (single) {
        if (!args)
            return mp__err(MP_EINVAL, "%s: NULL arg", what);
    } else {
        if ((s = check_seq_arg(args, &n, star, what)))
            return s;
        if (chunksize)
            cs = chunksize;
        else if (kind == J_MAP) /* CPython: divmod(len, 4 * processes), rounded up */
            cs = n ? (n + 4 * (size_t)p->n - 1) / (4 * (size_t)p->n) : 1;
    }
    size_t nchunks = single ? 1 : (n + cs - 1) / cs;
    mp_async_result *j = mp__job_new(kind, nchunks, cb, ecb, ud);
    if (!j)
        return mp__err(MP_ENOMEM, "%s: out of memory", what);
    if (kind == J_MAP && nchunks) {
        j->cs = cs;
        j->nitems = n;
        if (!(j->list = mp__seq_new(MP_T_LIST, n))) {
            mp__job_unref(j);
            return mp__err(MP_ENOMEM, "%s: out of memory", what);
        }
    }
    if (nchunks == 0)
        return empty_job(p, j, out, what);
    j->want_box = want_box;
    if ((s = submit(p, j, fn, args, single, n, cs, what))) {
        mp__job_unref(j);
        return s;
    }
    *out = j;
    return MP_OK;
}

/* ------------------------------------------------------------ the calls */

mp_status mp_pool_apply_async(mp_pool *p, mp_task_fn fn, const mp_value *arg, mp_result_cb callback,
                              mp_error_cb error_callback, void *ud, mp_async_result **out)
{
    return start_job(p, J_APPLY, fn, arg, 1, callback, error_callback, ud, out, "pool.apply_async",
                     false);
}

mp_status mp_pool_map_async(mp_pool *p, mp_task_fn fn, const mp_value *args, size_t chunksize,
                            mp_result_cb callback, mp_error_cb error_callback, void *ud,
                            mp_async_result **out)
{
    return start_job(p, J_MAP, fn, args, chunksize, callback, error_callback, ud, out,
                     "pool.map_async", false);
}

mp_status mp_pool_starmap_async(mp_pool *p, mp_task_fn fn, const mp_value *args, size_t chunksize,
                                mp_result_cb callback, mp_error_cb error_callback, void *ud,
                                mp_async_result **out)
{
    return start_job(p, -1, fn, args, chunksize, callback, error_callback, ud, out,
                     "pool.starmap_async", false);
}

/* apply's wait: the worker's reply, straight from its box (or, when the
 * task was accounted for without one, from the job). */
static mp_status box_wait(mp_pool *p, mp_async_result *j, mp_value **result, const char *what)
{
    struct box *b = &p->boxes[j->box];
    mp_status s;
    if (mp__pool_box_wait(p, j->box) == BOX_FULL) {
        mp_value **v = NULL;
        size_t n = 0;
        if (b->status != MP_OK)
            s = mp__err((mp_status)b->status, "%.*s", (int)b->len, (const char *)b->data);
        else if (!(s = mp__values_decode(b->data, b->len, MP__DEC_TRUSTED, &v, &n)) && n != 1)
            s = mp__err(MP_EPROTO, "%s: malformed reply", what);
        else if (!s)
            *result = v[0];
        for (size_t k = 0; s && k < n; k++)
            mp_value_free(v[k]);
        free(v);
    } else if (!(s = mp__job_wait(j, MP_FOREVER, what)) && !(s = mp__job_outcome(j))) {
        *result = j->value;
        j->value = NULL;
    }
    pthread_mutex_lock(&p->mu);
    mp__pool_box_release(p, j->box);
    pthread_mutex_unlock(&p->mu);
    return s;
}

/* The blocking forms: submit, wait, hand the value over. */
static mp_status run_sync(mp_pool *p, int kind, mp_task_fn fn, const mp_value *args,
                          size_t chunksize, mp_value **result, const char *what)
{
    if (!result)
        return mp__err(MP_EINVAL, "%s: NULL result", what);
    if (p && p->owner == my_pid() && pthread_equal(pthread_self(), p->thr))
        return mp__err(MP_ESTATE, "%s: would wait forever inside a pool callback", what);
    mp_async_result *j = NULL;
    mp_status s = start_job(p, kind, fn, args, chunksize, NULL, NULL, NULL, &j, what,
                            kind == J_APPLY);
    if (s)
        return s;
    if (j->box >= 0) {
        s = box_wait(p, j, result, what);
        mp__job_unref(j);
        return s;
    }
    s = mp__job_wait(j, MP_FOREVER, what);
    if (!s && !(s = mp__job_outcome(j))) {
        *result = j->value;
        j->value = NULL;
    }
    mp__job_unref(j);
    return s;
}

mp_status mp_pool_apply(mp_pool *p, mp_task_fn fn, const mp_value *arg, mp_value **result)
{
    return run_sync(p, J_APPLY, fn, arg, 1, result, "pool.apply");
}

mp_status mp_pool_map(mp_pool *p, mp_task_fn fn, const mp_value *args, size_t chunksize,
                      mp_value **result)
{
    return run_sync(p, J_MAP, fn, args, chunksize, result, "pool.map");
}

mp_status mp_pool_starmap(mp_pool *p, mp_task_fn fn, const mp_value *args, size_t chunksize,
                          mp_value **result)
{
    return run_sync(p, -1, fn, args, chunksize, result, "pool.starmap");
}

/* Contract in mp.h.  The job is the iterator: an mp_imap is an
 * mp_async_result of kind J_IMAP. */
mp_status mp_pool_imap(mp_pool *p, mp_task_fn fn, const mp_value *args, size_t chunksize,
                       mp_imap **out)
{
    if (!out)
        return mp__err(MP_EINVAL, "pool.imap: NULL argument");
    mp_async_result *j = NULL;
    mp_status s = start_job(p, J_IMAP, fn, args, chunksize, NULL, NULL, NULL, &j, "pool.imap",
                            false);
    if (!s)
        *out = (mp_imap *)j;
    return s;
}

/* Contract in mp.h.  As mp_pool_imap, of kind J_IMAPU. */
mp_status mp_pool_imap_unordered(mp_pool *p, mp_task_fn fn, const mp_value *args, size_t chunksize,
                                 mp_imap **out)
{
    if (!out)
        return mp__err(MP_EINVAL, "pool.imap_unordered: NULL argument");
    mp_async_result *j = NULL;
    mp_status s = start_job(p, J_IMAPU, fn, args, chunksize, NULL, NULL, NULL, &j,
                            "pool.imap_unordered", false);
    if (!s)
        *out = (mp_imap *)j;
    return s;
}

/* Contract in mp.h.  Order matters: eager is set before the poke (see the
 * reply-box protocol); the state changes under mu. */
mp_status mp_pool_close(mp_pool *p)
{
    mp_status s = check_pool(p, "pool.close");
    if (s)
        return s;
    /* before the poke: see the reply-box protocol */
    atomic_store(&p->sh->eager, 1);
    pthread_mutex_lock(&p->mu);
    if (p->state == P_RUN)
        p->state = P_CLOSE;
    pthread_mutex_unlock(&p->mu);
    poke(p);
    return MP_OK;
}

/* Join the handler thread once, however many threads join or terminate at
 * the same time: the first joins, the others wait for it. */
static void join_thread(mp_pool *p)
{
    pthread_mutex_lock(&p->mu);
    while (p->joining && !p->joined)
        pthread_cond_wait(&p->cv, &p->mu);
    if (!p->joined) {
        p->joining = true;
        pthread_mutex_unlock(&p->mu);
        pthread_join(p->thr, NULL);
        pthread_mutex_lock(&p->mu);
        p->joined = true;
        pthread_cond_broadcast(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
}

/* Contract in mp.h.  From a callback (the handler thread itself) it only
 * asks: the handler cannot join itself, and terminates when it returns. */
mp_status mp_pool_terminate(mp_pool *p)
{
    mp_status s = check_pool(p, "pool.terminate");
    if (s)
        return s;
    pthread_mutex_lock(&p->mu);
    p->state = P_TERM;
    pthread_mutex_unlock(&p->mu);
    poke(p);
    if (pthread_equal(pthread_self(), p->thr))
        return MP_OK; /* from a callback: the handler terminates when it returns */
    join_thread(p);
    return MP_OK;
}

/* Contract in mp.h.  Reads the state under mu; refuses a running pool and a
 * call from a callback (a thread cannot join itself). */
mp_status mp_pool_join(mp_pool *p)
{
    mp_status s = check_pool(p, "pool.join");
    if (s)
        return s;
    pthread_mutex_lock(&p->mu);
    int st = p->state;
    pthread_mutex_unlock(&p->mu);
    if (st == P_RUN)
        return mp__err(MP_ESTATE, "pool.join: the pool is still running (close or terminate "
                                  "it first)");
    if (pthread_equal(pthread_self(), p->thr))
        return mp__err(MP_ESTATE, "pool.join: called from a pool callback");
    join_thread(p);
    return MP_OK;
}

/* Contract in mp.h.  Only the creating process frees (a forked child's copy
 * is the parent's); from a callback, the handler frees the pool as it
 * exits. */
void mp_pool_free(mp_pool *p)
{
    if (!p || my_pid() != p->owner)
        return; /* an inherited copy in a child: the parent's to release */
    if (pthread_equal(pthread_self(), p->thr)) {
        pthread_mutex_lock(&p->mu);
        p->state = P_TERM;
        p->free_on_exit = true;
        pthread_mutex_unlock(&p->mu);
        poke(p);
        return;
    }
    mp_pool_terminate(p);
    mp__pool_release(p);
}
