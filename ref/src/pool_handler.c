/* Pool: the handler thread (the design is in pool_internal.h).  One per pool,
 * in the parent: it forks the workers (so that PR_SET_PDEATHSIG follows the
 * pool's life), reads their result rings, accounts each task (the task
 * table, under p->mu) and delivers its outcome to its job (callbacks run
 * here, in completion order, no pool lock held), feeds tasks that waited in
 * the parent, notices dead workers through their pidfds and replaces them
 * (maxtasksperchild ends a worker this way too), stops the workers once a
 * closed pool is idle, and carries out terminate. */
#include "pool_internal.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* ----------------------------------------------------- results, accounted */

/* A new zeroed entry at the end of l; NULL when out of memory. */
static struct done *dl_push(struct dlist *l)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        struct done *d = realloc(l->d, cap * sizeof *d);
        if (!d)
            return NULL;
        l->d = d;
        l->cap = cap;
    }
    struct done *d = &l->d[l->n++];
    memset(d, 0, sizeof *d);
    return d;
}

/* One complete result message: decode it into the list (no lock held). */
void mp__pool_emit(struct dlist *l, const struct rhdr *h, const uint8_t *p, size_t len,
                   bool discarded)
{
    struct done *d = dl_push(l);
    if (!d)
        return; /* out of memory: the task is failed when its worker goes */
    d->id = h->id;
    if (discarded) {
        d->st = MP_ENOMEM;
        d->msg = strdup("MP_ENOMEM: out of memory receiving the result");
        return;
    }
    if (h->status == ST_REPLIED) {
        d->st = (mp_status)ST_REPLIED;
        return;
    }
    if (h->status != MP_OK) {
        d->st = (mp_status)h->status;
        d->msg = strndup((const char *)p, len);
        return;
    }
    mp_status s = mp__values_decode(p, len, MP__DEC_TRUSTED | MP__DEC_BULK, &d->items, &d->n);
    if (s) {
        char m[300];
        snprintf(m, sizeof m, "%s: the result could not be received: %s", mp_status_name(s),
                 mp_errmsg());
        d->st = s;
        d->msg = strdup(m);
    }
}

/* Under mu: task d->id of job d->job is accounted for.  A caller waiting on
 * the task's reply box without a reply in it is sent to the job; one with a
 * reply published (its worker died before the marker) keeps it (the
 * reply-box protocol). */
static void account(mp_pool *p, struct done *d)
{
    mp_async_result *j = d->job;
    assert(p->live > 0);
    p->live--;
    if (j->box < 0)
        return;
    if (d->st != (mp_status)ST_REPLIED)
        mp__pool_box_fail(p, j->box);
    mp__pool_box_release(p, j->box);
}

/* Under mu: attach each result from l->d[from] on to its job (dropping
 * results of tasks already accounted for: terminated, or failed by a
 * worker's death). */
static void collect(mp_pool *p, struct dlist *l, size_t from)
{
    for (size_t k = from; k < l->n; k++) {
        struct done *d = &l->d[k];
        if (d->job)
            continue;
        d->job = mp__tab_take(p, d->id);
        if (d->job)
            account(p, d);
        else
            mp__done_free(d);
    }
}

/* No lock held: hand every collected result to its job; empties l. */
static void deliver_all(struct dlist *l)
{
    for (size_t k = 0; k < l->n; k++)
        if (l->d[k].job)
            mp__job_deliver(&l->d[k]);
        else
            mp__done_free(&l->d[k]);
    l->n = 0;
}

/* ------------------------------------------------------------------ workers */

/* Under mu: fork worker i on fresh rings.  On failure it is marked for a
 * later attempt. */
static mp_status spawn(mp_pool *p, int i)
{
    struct wslot *ws = &p->ws[i];
    atomic_store(&ws->cur, 0);
    atomic_store(&ws->waiting, PH_BUSY);
    atomic_store(&ws->rwait, 0);
    atomic_store(&ws->rhead, 0);
    atomic_store(&ws->rtail, 0);
    p->rd[i].hdr = false;
    mp__child_id id; /* in this frame, which the child never leaves */
    mp__child_prepare(&id, "ForkPoolWorker");
    pid_t pid = fork();
    if (pid < 0) {
        p->w[i].need_spawn = true;
        return mp__errno(errno, "pool: fork of a worker");
    }
    if (pid == 0)
        mp__pool_worker_main(p, i, &id);
    int fd = (int)syscall(SYS_pidfd_open, pid, 0); /* born close-on-exec */
    p->w[i] = (struct worker){.pid = pid, .pidfd = fd, .alive = true};
    p->nalive++;
    return MP_OK;
}

/* Under mu: a lost worker is replaced while the pool runs, or while a
 * closed pool still has tasks out. */
static bool want_workers(const mp_pool *p)
{
    return p->state == P_RUN || (p->state == P_CLOSE && p->live > 0);
}

/* The reason a task of a dead worker gets: its signal or exit code. */
static void describe_exit(char *buf, size_t len, pid_t pid, int wst, bool known)
{
    if (!known)
        snprintf(buf, len, "worker %d died (its exit status was reaped elsewhere)", (int)pid);
    else if (WIFSIGNALED(wst))
        snprintf(buf, len, "worker %d was killed by signal %d (SIG%s)", (int)pid, WTERMSIG(wst),
                 sigabbrev_np(WTERMSIG(wst)) ? sigabbrev_np(WTERMSIG(wst)) : "?");
    else
        snprintf(buf, len, "worker %d exited with code %d", (int)pid, WEXITSTATUS(wst));
}

/* Under mu: fail, with st and msg, every task of worker i's that has not
 * come back (its `cur`, and the slots it claimed). */
static void fail_held(mp_pool *p, int i, struct dlist *l, mp_status st, const char *msg)
{
    uint64_t ids[1 + NSLOT];
    size_t nid = 0;
    uint64_t cur = atomic_load(&p->ws[i].cur);
    if (cur)
        ids[nid++] = cur;
    for (uint64_t s = p->free_seq; s < p->pubseq; s++) {
        struct tslot *t = &p->slots[s % NSLOT];
        if (atomic_load(&t->state) == (uint32_t)(S_CLAIMED + i)) {
            ids[nid++] = t->id;
            atomic_store(&t->state, S_DONE);
        }
    }
    for (size_t k = 0; k < nid; k++) {
        mp_async_result *j = mp__tab_take(p, ids[k]);
        if (!j)
            continue;
        struct done tmp = {.id = ids[k], .job = j, .st = st}, *d = dl_push(l);
        account(p, &tmp);
        if (!d)
            continue;
        *d = tmp;
        d->msg = strdup(msg);
    }
}

/* Worker i has ended (wst: its wait status, when known): count what it
 * finished, fail what it held, replace it if the pool still wants workers. */
static void worker_gone(mp_pool *p, int i, int wst, bool known, struct dlist *l)
{
    char why[200], msg[256];
    describe_exit(why, sizeof why, p->w[i].pid, wst, known);
    mp__pool_drain(p, i, l); /* everything it finished counts */
    p->rd[i].hdr = false;
    pthread_mutex_lock(&p->mu);
    collect(p, l, 0);
    snprintf(msg, sizeof msg, "%s while running the task", why);
    fail_held(p, i, l, MP_EWORKERLOST, msg);
    if (p->w[i].pidfd >= 0)
        close(p->w[i].pidfd);
    p->w[i].pidfd = -1;
    p->w[i].alive = false;
    p->nalive--;
    /* It may have died in wake_workers() between marking a sleeping peer
     * PH_IDLE and its futex wake: that peer would sleep on, counted as idle,
     * never woken again.  A spurious wake-up costs a peer one look. */
    for (int k = 0; k < p->n; k++)
        if (k != i && p->w[k].alive && atomic_load(&p->ws[k].waiting) == PH_IDLE)
            mp__futex_wake(&p->ws[k].waiting, 1);
    mp__pool_reclaim(p);
    if (mp__pool_feed(p))
        mp__pool_wake_workers(p, -1);
    if (want_workers(p))
        spawn(p, i);
    pthread_mutex_unlock(&p->mu);
    deliver_all(l);
}

/* waitpid worker i (flags: 0 or WNOHANG); if it has ended, worker_gone. */
static void reap(mp_pool *p, int i, int flags, struct dlist *l)
{
    int wst = 0;
    pid_t r;
    do
        r = waitpid(p->w[i].pid, &wst, flags);
    while (r < 0 && errno == EINTR);
    if (r == 0)
        return; /* WNOHANG: still running */
    worker_gone(p, i, wst, r > 0, l);
}

/* Sleep until a result, a death or a poke; timeout_ms 0: just look. */
static void wait_events(mp_pool *p, int timeout_ms, struct dlist *l)
{
    struct pollfd fds[1 + MAX_WORKERS];
    int nf = 0, idx[MAX_WORKERS];
    bool fallback = false;
    fds[nf++] = (struct pollfd){.fd = p->efd, .events = POLLIN};
    for (int i = 0; i < p->n; i++) {
        if (!p->w[i].alive)
            continue;
        if (p->w[i].pidfd < 0) {
            fallback = true;
            continue;
        }
        idx[nf - 1] = i;
        fds[nf++] = (struct pollfd){.fd = p->w[i].pidfd, .events = POLLIN};
    }
    if (fallback && (timeout_ms < 0 || timeout_ms > 20))
        timeout_ms = 20; /* no pidfd (old kernel): look with waitpid */
    int r = poll(fds, (nfds_t)nf, timeout_ms);
    atomic_store(&p->sh->hsleep, 0);
    if (r < 0)
        return;
    if (fds[0].revents) {
        uint64_t v;
        while (read(p->efd, &v, sizeof v) < 0 && errno == EINTR) {
        }
    }
    for (int k = 1; k < nf; k++)
        if (fds[k].revents)
            reap(p, idx[k - 1], 0, l);
    if (fallback)
        for (int i = 0; i < p->n; i++)
            if (p->w[i].alive && p->w[i].pidfd < 0)
                reap(p, i, WNOHANG, l);
    p->last_check = mp__now();
}

/* ---------------------------------------------------------------- terminate */

/* SIGTERM, as CPython's terminate() sends; a worker that blocks or handles it
 * (a task's own business) gets SIGKILL after TERM_GRACE, so terminate always
 * returns. */
static void signal_workers(mp_pool *p)
{
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->sh->stop, 1);
    for (int i = 0; i < p->n; i++)
        if (p->w[i].alive)
            kill(p->w[i].pid, SIGTERM);
    pthread_mutex_unlock(&p->mu);
    mp__deadline grace;
    mp__deadline_init(&grace, TERM_GRACE);
    for (int i = 0; i < p->n; i++) {
        if (!p->w[i].alive)
            continue;
        struct pollfd pfd = {.fd = p->w[i].pidfd, .events = POLLIN};
        int r = 1;
        while (pfd.fd >= 0 && (r = poll(&pfd, 1, mp__deadline_poll_ms(&grace))) < 0 &&
               errno == EINTR) {
        }
        if (r == 0 || pfd.fd < 0)
            kill(p->w[i].pid, SIGKILL);
    }
}

/* Wait for every signalled worker; what each finished before it died still
 * counts (drained into l). */
static void reap_all(mp_pool *p, struct dlist *l)
{
    for (int i = 0; i < p->n; i++) {
        if (!p->w[i].alive)
            continue;
        int wst;
        while (waitpid(p->w[i].pid, &wst, 0) < 0 && errno == EINTR) {
        }
        if (p->w[i].pidfd >= 0)
            close(p->w[i].pidfd);
        p->w[i].pidfd = -1;
        p->w[i].alive = false;
        p->nalive--;
        mp__pool_drain(p, i, l);
    }
}

/* Under mu: every task still in the table fails with MP_CLOSED, and the
 * tasks waiting in the parent are dropped. */
static void fail_unfinished(mp_pool *p, struct dlist *l)
{
    for (size_t k = 0; k < p->tabcap; k++) {
        if (!p->tab[k].id)
            continue;
        struct done tmp = {.id = p->tab[k].id, .job = p->tab[k].job, .st = MP_CLOSED};
        struct done *d = dl_push(l);
        account(p, &tmp);
        if (!d)
            continue;
        *d = tmp;
        d->msg = strdup("MP_CLOSED: the pool was terminated before the task finished");
    }
    memset(p->tab, 0, p->tabcap * sizeof *p->tab);
    p->tabn = 0;
    while (p->ph) {
        struct pend *e = p->ph;
        p->ph = e->next;
        free(e);
    }
    p->pt = NULL;
}

/* The handler thread, after terminate (or a failed start): no worker is
 * left, and every job has its outcome. */
static void do_terminate(mp_pool *p, struct dlist *l)
{
    signal_workers(p);
    reap_all(p, l);
    pthread_mutex_lock(&p->mu);
    collect(p, l, 0);
    fail_unfinished(p, l);
    pthread_mutex_unlock(&p->mu);
    deliver_all(l);
}

/* ------------------------------------------------------------------ the loop */

/* Fork the first workers and tell mp_pool_new how it went. */
static mp_status start_workers(mp_pool *p)
{
    pthread_mutex_lock(&p->mu);
    mp_status st = MP_OK;
    for (int i = 0; i < p->n && !st; i++)
        st = spawn(p, i);
    p->start_st = st;
    if (st)
        snprintf(p->start_msg, sizeof p->start_msg, "%s", mp_errmsg());
    p->started = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return st;
}

/* What one pass saw, under mu, for the decisions after it. */
struct pass {
    int state;
    bool tasks_out, respawn;
};

/* Under mu: a closed pool with nothing out tells its workers to stop (once);
 * workers that failed to fork are tried again. */
static void tend_workers(mp_pool *p, struct pass *ps)
{
    if (p->state == P_CLOSE && p->live == 0 && !p->stop_sent) {
        p->stop_sent = true;
        atomic_store(&p->sh->stop, 1);
        for (int i = 0; i < p->n; i++) {
            atomic_store(&p->ws[i].waiting, PH_IDLE);
            mp__futex_wake(&p->ws[i].waiting, 1);
        }
    }
    for (int i = 0; i < p->n; i++)
        if (!p->w[i].alive && p->w[i].need_spawn && want_workers(p))
            spawn(p, i);
    ps->state = p->state;
    ps->tasks_out = p->live > 0;
    ps->respawn = false;
    for (int i = 0; i < p->n; i++)
        ps->respawn |= p->w[i].need_spawn && !p->w[i].alive;
}

/* One pass: read every ring, account and feed under mu, then deliver.
 * Returns the number of messages read. */
static size_t handle_pass(mp_pool *p, struct dlist *l, struct pass *ps)
{
    size_t got = 0;
    for (int i = 0; i < p->n; i++)
        if (p->w[i].alive)
            got += mp__pool_drain(p, i, l);
    pthread_mutex_lock(&p->mu);
    collect(p, l, 0);
    mp__pool_reclaim(p);
    if (mp__pool_feed(p))
        mp__pool_wake_workers(p, -1);
    tend_workers(p, ps);
    pthread_mutex_unlock(&p->mu);
    deliver_all(l);
    return got;
}

static bool rings_busy_v(void *arg) { return mp__pool_rings_busy(arg); }

/* Nothing was read: spin while tasks are out (adaptive), then sleep in
 * poll() -- announced through hsleep, which a worker clears and wakes. */
static void idle(mp_pool *p, struct dlist *l, const struct pass *ps)
{
    double t0;
    if (ps->tasks_out && spin(&p->hlast, rings_busy_v, p, &t0, false))
        return;
    atomic_store(&p->sh->hsleep, 1);
    if (mp__pool_rings_busy(p)) {
        atomic_store(&p->sh->hsleep, 0);
        return;
    }
    wait_events(p, ps->respawn ? 100 : -1, l);
    if (ps->tasks_out)
        p->hlast = mp__now() - t0;
}

/* Runs until terminate, or until a closed pool's workers have all exited;
 * then frees the pool itself if mp_pool_free was called from a callback. */
void *mp__pool_handler_main(void *arg)
{
    mp_pool *p = arg;
    struct dlist l = {0};
    if (start_workers(p)) {
        do_terminate(p, &l);
        free(l.d);
        return NULL;
    }
    for (;;) {
        struct pass ps;
        size_t got = handle_pass(p, &l, &ps);
        if (ps.state == P_TERM) {
            do_terminate(p, &l);
            break;
        }
        if (ps.state == P_CLOSE && p->stop_sent && p->nalive == 0)
            break;
        if (got) {
            /* busy: still look at the pidfds now and then */
            if (mp__now() - p->last_check > 0.002)
                wait_events(p, 0, &l);
            continue;
        }
        idle(p, &l, &ps);
    }
    free(l.d);
    pthread_mutex_lock(&p->mu);
    bool self_free = p->free_on_exit;
    pthread_mutex_unlock(&p->mu);
    if (self_free) {
        pthread_detach(pthread_self());
        mp__pool_release(p);
    }
    return NULL;
}
