/* Work the manager's loop hands to a helper thread so that one client's
 * large request does not stall every other client (#15): decoding a large
 * request frame (bytes -> mp_value, pure) and freeing a large value.
 *
 * The loop stays the only thread that touches the server's state.  A large
 * frame of a client is copied into a job; the client is unwatched (not
 * read, not even for a hang-up) until the job is back, so its requests are
 * still applied one by one in its order, and a request that arrived whole
 * is applied even if the client hangs up meanwhile -- as when decoded
 * inline.  The helper decodes, appends the job to the done list and wakes
 * the loop through an eventfd; the loop applies the request there
 * (mp__mgr_decoded).  Applying it -- the handler -- runs on the loop as
 * before, so each operation stays atomic.
 *
 * One helper, two lists under one mutex: todo (loop -> helper) and done
 * (helper -> loop).  A job's c is the loop's alone (the helper never reads
 * it): a client dropped while its job is out (only when the server ends)
 * clears it, and the result is then freed.
 *
 * Off (s->off NULL, as in the fuzzer) everything runs inline. */
#include "manager_server.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* From this many items a dict or list is freed by the helper. */
#define DISPOSE_MIN 4096

struct mgr_job {
    client *c;          /* the loop's: whose request (NULL: cancelled, or a free) */
    unsigned char *buf; /* the frame's payload (owned), NULL for a free */
    size_t n;
    mp_value *v;  /* decoded request, or the value to free */
    mp_status st; /* the decode's status */
    mgr_job *next;
};

struct mgr_offload {
    int efd;
    bool quit;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    mgr_job *todo, *todo_tail, *done, *done_tail;
};

/* Append j to the list (head, tail). */
static void push(mgr_job **head, mgr_job **tail, mgr_job *j)
{
    j->next = NULL;
    if (*tail)
        (*tail)->next = j;
    else
        *head = j;
    *tail = j;
}

/* The helper: take a job, decode (or free) it outside the lock, post the
 * decoded ones to done and wake the loop; until quit. */
static void *helper(void *arg)
{
    mgr_offload *f = arg;
    pthread_mutex_lock(&f->mu);
    for (;;) {
        while (!f->todo && !f->quit)
            pthread_cond_wait(&f->cv, &f->mu);
        if (f->quit)
            break;
        mgr_job *j = f->todo;
        f->todo = j->next;
        if (!f->todo)
            f->todo_tail = NULL;
        pthread_mutex_unlock(&f->mu);
        if (!j->buf) { /* a free */
            mp_value_free(j->v);
            free(j);
            pthread_mutex_lock(&f->mu);
            continue;
        }
        j->st = mp_value_decode(j->buf, j->n, &j->v);
        free(j->buf);
        j->buf = NULL;
        pthread_mutex_lock(&f->mu);
        push(&f->done, &f->done_tail, j);
        uint64_t one = 1;
        ssize_t w = write(f->efd, &one, sizeof one);
        (void)w; /* EAGAIN: the counter is already non-zero, the loop will look */
    }
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

/* See manager_server.h. */
bool mp__mgr_offload_start(srv *s, size_t min)
{
    mgr_offload *f = calloc(1, sizeof *f);
    if (!f)
        return false;
    f->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = f};
    if (f->efd < 0 || epoll_ctl(s->ep, EPOLL_CTL_ADD, f->efd, &e) < 0)
        goto fail;
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    /* The helper takes no signal: SIGTERM is the loop's. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&f->th, NULL, helper, f);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        pthread_mutex_destroy(&f->mu);
        pthread_cond_destroy(&f->cv);
        errno = rc;
        goto fail;
    }
    s->off = f;
    s->offload_min = min;
    return true;
fail:
    if (f->efd >= 0)
        close(f->efd);
    free(f);
    return false;
}

/* Free the jobs of a list: their buffers and values; a client still
 * waiting for one is told it no longer does. */
static void free_jobs(mgr_job *j)
{
    for (mgr_job *n; j; j = n) {
        n = j->next;
        if (j->c)
            j->c->job = NULL;
        free(j->buf);
        mp_value_free(j->v);
        free(j);
    }
}

/* See manager_server.h. */
void mp__mgr_offload_stop(srv *s)
{
    mgr_offload *f = s->off;
    if (!f)
        return;
    pthread_mutex_lock(&f->mu);
    f->quit = true;
    pthread_cond_signal(&f->cv);
    pthread_mutex_unlock(&f->mu);
    pthread_join(f->th, NULL);
    free_jobs(f->todo);
    free_jobs(f->done);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
    epoll_ctl(s->ep, EPOLL_CTL_DEL, f->efd, NULL);
    close(f->efd);
    free(f);
    s->off = NULL;
}

/* See manager_server.h. */
bool mp__mgr_offload_decode(srv *s, client *c, const unsigned char *p, size_t n)
{
    mgr_offload *f = s->off;
    if (!f || n < s->offload_min)
        return false;
    mgr_job *j = calloc(1, sizeof *j);
    unsigned char *b = malloc(n ? n : 1);
    if (!j || !b) {
        free(j);
        free(b);
        return false; /* decoded inline, then */
    }
    memcpy(b, p, n);
    j->buf = b;
    j->n = n;
    j->c = c;
    c->job = j;
    pthread_mutex_lock(&f->mu);
    push(&f->todo, &f->todo_tail, j);
    pthread_cond_signal(&f->cv);
    pthread_mutex_unlock(&f->mu);
    return true;
}

/* See manager_server.h. */
void mp__mgr_offload_cancel(client *c)
{
    if (c->job) {
        c->job->c = NULL;
        c->job = NULL;
    }
}

/* See manager_server.h. */
void mp__mgr_offload_done(srv *s)
{
    mgr_offload *f = s->off;
    uint64_t cnt;
    ssize_t r = read(f->efd, &cnt, sizeof cnt);
    (void)r;
    pthread_mutex_lock(&f->mu);
    mgr_job *j = f->done;
    f->done = f->done_tail = NULL;
    pthread_mutex_unlock(&f->mu);
    for (mgr_job *n; j; j = n) {
        n = j->next;
        client *c = j->c;
        mp_value *v = j->v;
        mp_status st = j->st;
        free(j);
        if (!c) {
            mp__mgr_dispose(s, v);
            continue;
        }
        c->job = NULL;
        mp__mgr_decoded(s, c, st, v);
    }
}

/* See manager_server.h. */
void mp__mgr_dispose(srv *s, mp_value *v)
{
    mgr_offload *f = s->off;
    size_t len = 0;
    if (!f || !v ||
        (v->type == MP_T_DICT                            ? mp_dict_len(v, &len)
         : v->type == MP_T_LIST || v->type == MP_T_TUPLE ? mp_seq_len(v, &len)
                                                         : MP_EINVAL) != MP_OK ||
        len < DISPOSE_MIN) {
        mp_value_free(v);
        return;
    }
    mgr_job *j = calloc(1, sizeof *j);
    if (!j) {
        mp_value_free(v);
        return;
    }
    j->v = v;
    pthread_mutex_lock(&f->mu);
    push(&f->todo, &f->todo_tail, j);
    pthread_cond_signal(&f->cv);
    pthread_mutex_unlock(&f->mu);
}
