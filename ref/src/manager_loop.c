/* The manager's server process: one epoll loop over every client.
 *
 * Every request runs to completion on the loop before the next one of its
 * client is read, so each operation is atomic without locks.  Nothing blocks the loop: sockets are
 * non-blocking, and a request that must wait (Lock.acquire, Event.wait,
 * Queue.get/put) becomes a waiter with a deadline and is answered later.
 * This file owns the process (signals, descriptors, the parent watch, its
 * end), accepting connections, the deadlines of waiters and strangers, and
 * the loop; one turn of it is mp__mgr_turn, which the fuzzer drives too
 * (ref/fuzz/fuzz_manager.c).  The real server also starts the helper thread
 * of manager_offload.c, which decodes large requests off the loop; the
 * fuzzer's server has none, so its turns stay deterministic.  A connection's own life is
 * manager_conn.c.
 *
 * Before its handshake a connection is a stranger: it gets
 * MP_MANAGER_HANDSHAKE_TIMEOUT seconds to pass it, and at most
 * MGR__UNAUTH_MAX strangers are kept at once -- a new one pushes out the
 * oldest -- so that idle connections cannot hold the server's descriptors and
 * lock out a client that knows the key. */
#include "manager_server.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdio_ext.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static volatile sig_atomic_t stop_flag;
static const char *g_sock_path, *g_dir;
static char tag_listen, tag_parent;

/* SIGTERM: end the loop at its next turn. */
static void on_term(int sig)
{
    (void)sig;
    stop_flag = 1;
}

/* ------------------------------------------------------------ connections */

/* See manager_server.h. */
void mp__mgr_adopt(srv *s, int fd)
{
    client *c = calloc(1, sizeof *c);
    struct epoll_event e = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
    if (!c || epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &e) < 0) {
        free(c);
        close(fd);
        return;
    }
    c->fd = fd;
    c->events = e.events;
    c->next = s->clients;
    if (s->clients)
        s->clients->prev = c;
    s->clients = c;
    c->since = mp__now();
    mp__mgr_stranger_add(s, c);
    if (s->nstrangers >
        MGR__UNAUTH_MAX) { /* the oldest makes room [MGR-IDLE-CONNECTIONS-NO-LOCKOUT] */
        s->pushed_out++;
        mp__mgr_drop(s, s->strangers, NULL);
    }
    mp__mgr_random(c->nonce, MGR__NONCE);
    unsigned char *p = mp__mgr_frame(s, c, MGR__TAG_CH_LEN + MGR__NONCE);
    if (!p)
        return;
    memcpy(p, MGR__TAG_CHALLENGE, MGR__TAG_CH_LEN);
    memcpy(p + MGR__TAG_CH_LEN, c->nonce, MGR__NONCE);
    mp__mgr_flush(s, c);
}

/* Accept every pending connection (the listener is readable).  Out of
 * descriptors or memory, the listener is unwatched for 0.1 s
 * (s->listen_rearm) rather than spun on. */
static void accept_all(srv *s)
{
    for (;;) {
        int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* Out of descriptors: stop accepting for a moment rather than spin. */
                mp__mgr_log("accept: %s; pausing new connections", strerror(errno));
                epoll_ctl(s->ep, EPOLL_CTL_DEL, s->lfd, NULL);
                s->listen_rearm = mp__now() + 0.1;
            }
            return;
        }
        if (s->tcp) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
        mp__mgr_adopt(s, fd);
    }
}

/* Drop the strangers past their handshake deadline (logged at most once a
 * second) and answer the waiters past theirs: Queue.get queue.Empty,
 * Queue.put queue.Full, acquire and wait False.  Returns the next deadline
 * (INFINITY: none). */
static double expire(srv *s)
{
    double now = mp__now(), next = INFINITY;
    /* Strangers are in accept order, so the oldest deadline is the first
     * [MGR-HANDSHAKE-DEADLINE]. */
    while (s->strangers && s->strangers->since + MP_MANAGER_HANDSHAKE_TIMEOUT <= now) {
        s->timed_out++;
        mp__mgr_drop(s, s->strangers, NULL);
    }
    if (s->strangers)
        next = s->strangers->since + MP_MANAGER_HANDSHAKE_TIMEOUT;
    /* One line a second at most, however many strangers come and go. */
    if ((s->pushed_out || s->timed_out) && now >= s->quiet_until) {
        mp__mgr_log("dropped %zu connections without a handshake within %g s and %zu pushed "
                    "out by newer ones (at most %d at once)",
                    s->timed_out, (double)MP_MANAGER_HANDSHAKE_TIMEOUT, s->pushed_out,
                    MGR__UNAUTH_MAX);
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
            mp__mgr_finish(s, w, mp__err(MP_EMPTY, "queue.Empty"), NULL);
            break;
        case W_PUT:
            mp__mgr_finish(s, w, mp__err(MP_FULL, "queue.Full"), NULL);
            break;
        case W_COND:
        case W_BARRIER:
            mp__mgr_cond_expire(s, w);
            break;
        default:
            mp__mgr_finish(s, w, MP_OK, mp_bool(false));
        }
    }
    return next;
}

/* ------------------------------------------------------------------- loop */

/* See manager_server.h. */
bool mp__mgr_srv_init(srv *s, int lfd, const unsigned char *key, size_t keylen, bool tcp)
{
    *s = (srv){.lfd = lfd, .tcp = tcp, .key = key, .keylen = keylen, .pfd = -1};
    s->names = mp_dict();
    s->ep = epoll_create1(EPOLL_CLOEXEC);
    return s->ep >= 0 && s->names;
}

/* See manager_server.h. */
void mp__mgr_srv_fini(srv *s)
{
    mp__mgr_offload_stop(s);
    while (s->clients)
        mp__mgr_drop(s, s->clients, NULL);
    for (client *c = s->dead, *n; c; c = n) {
        n = c->dnext;
        free(c->in);
        free(c->out);
        free(c);
    }
    s->dead = NULL;
    for (uint32_t i = 0; i < s->nobj; i++)
        if (s->objs[i].used)
            mp__mgr_obj_release(s, &s->objs[i]);
    free(s->objs);
    mp_value_free(s->names);
    if (s->ep >= 0)
        close(s->ep);
}

struct epoll_try {
    int ep, max, n;
    struct epoll_event *evs;
    const sigset_t *mask;
};

/* A try of wait_events' poll: events, an error, or a stop signal. */
static bool epoll_try(void *arg)
{
    struct epoll_try *a = arg;
    a->n = epoll_pwait(a->ep, a->evs, a->max, 0, a->mask);
    return a->n != 0 || stop_flag;
}

/* epoll_pwait() that polls first while the clients keep calling
 * (mp__wait_tunings.mgr in wait.h).  ms: the caller's timeout (0: do not
 * wait, -1: forever); polling first delays a timer by at most the window,
 * never fires it early. */
static int wait_events(srv *s, struct epoll_event *evs, int max, int ms, const sigset_t *mask)
{
    if (ms == 0)
        return epoll_pwait(s->ep, evs, max, 0, mask);
    struct epoll_try a = {.ep = s->ep, .max = max, .evs = evs, .mask = mask};
    if (mp__spin_until(&s->idle, &mp__wait_tunings.mgr, epoll_try, &a))
        return a.n;
    int n = epoll_pwait(s->ep, evs, max, ms, mask), err = errno;
    mp__spin_slept(&s->idle);
    errno = err;
    return n;
}

/* Serve the clients put on the resume list (buffered frames they may now be
 * served); serving one may resume it again: next turn.  Returns whether any. */
static bool serve_resumes(srv *s)
{
    client *r = s->resumes;
    bool any = r != NULL;
    s->resumes = NULL;
    for (; r; r = r->rnext) {
        r->resume = false;
        if (!r->dead)
            mp__mgr_serve_input(s, r, false);
    }
    return any;
}

/* How long the loop may sleep: until the next deadline (next, or the
 * listener's re-arm), 0 when clients wait to be resumed, -1 for ever. */
static int timeout_ms(srv *s, double next)
{
    if (s->listen_rearm > 0 && s->listen_rearm < next)
        next = s->listen_rearm;
    if (s->resumes)
        return 0;
    if (isinf(next))
        return -1;
    double d = (next - mp__now()) * 1e3;
    return d <= 0 ? 0 : d > 1e9 ? 1000000000 : (int)ceil(d);
}

/* One event ev for ptr: a connection, the listener, or the parent's pidfd.
 * Returns false when the parent is gone (the server must end). */
static bool on_event(srv *s, void *ptr, uint32_t ev)
{
    if (ptr == &tag_listen) {
        accept_all(s);
        return true;
    }
    if (ptr == &tag_parent)
        return false; /* the process that started us is gone */
    if (s->off && ptr == (void *)s->off) {
        mp__mgr_offload_done(s); /* requests decoded by the helper */
        return true;
    }
    client *c = ptr;
    if (c->dead)
        return true;
    if (ev & (EPOLLERR | EPOLLHUP)) {
        mp__mgr_drop(s, c, NULL);
        return true;
    }
    if (ev & EPOLLOUT)
        mp__mgr_flush(s, c);
    if (!c->dead && (ev & EPOLLIN))
        mp__mgr_serve_input(s, c, true);
    else if (!c->dead && (ev & EPOLLRDHUP) && !(c->events & EPOLLIN))
        mp__mgr_drop(s, c, NULL); /* waiting or backlogged, and gone */
    return true;
}

/* Free the clients dropped during this turn; they leave the resume list
 * first.  Events collected for them are behind us. */
static void reap(srv *s)
{
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

/* See manager_server.h.  waitmask: the signals let through while waiting
 * (NULL: the thread's own mask). */
int mp__mgr_turn(srv *s, const sigset_t *waitmask, bool block)
{
    struct epoll_event evs[64];
    double next = expire(s);
    bool busy = serve_resumes(s);
    int ms = block ? timeout_ms(s, next) : 0;
    int n = wait_events(s, evs, 64, ms, waitmask);
    if (n < 0 && errno != EINTR) {
        mp__mgr_log("epoll_wait: %s; stopping", strerror(errno));
        return MGR__TURN_STOP;
    }
    for (int i = 0; i < n; i++)
        if (!on_event(s, evs[i].data.ptr, evs[i].events))
            return MGR__TURN_STOP;
    if (s->listen_rearm > 0 && mp__now() >= s->listen_rearm) {
        struct epoll_event e = {.events = EPOLLIN, .data.ptr = &tag_listen};
        epoll_ctl(s->ep, EPOLL_CTL_ADD, s->lfd, &e);
        s->listen_rearm = 0;
    }
    reap(s);
    return busy || n > 0 || s->resumes ? MGR__TURN_BUSY : MGR__TURN_IDLE;
}

/* Remove the socket file and its directory (if any): the server is ending. */
static void cleanup_files(void)
{
    if (g_sock_path)
        unlink(g_sock_path);
    if (g_dir)
        rmdir(g_dir);
}

/* Watch the listener and the parent: a pidfd turns readable when the whole
 * process exits (PR_SET_PDEATHSIG would fire when the forking *thread*
 * exits); without pidfds, PR_SET_PDEATHSIG.  A parent already gone sets
 * stop_flag. */
static void watch(srv *s, pid_t parent)
{
    s->pfd = (int)syscall(SYS_pidfd_open, parent, 0);
    if (s->pfd < 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
    } else {
        struct epoll_event e = {.events = EPOLLIN, .data.ptr = &tag_parent};
        epoll_ctl(s->ep, EPOLL_CTL_ADD, s->pfd, &e);
    }
    if (getppid() != parent) /* it died before we could watch it */
        stop_flag = 1;
    fcntl(s->lfd, F_SETFL, fcntl(s->lfd, F_GETFL) | O_NONBLOCK);
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = &tag_listen};
    epoll_ctl(s->ep, EPOLL_CTL_ADD, s->lfd, &e);
}

/* See manager.h.  Runs the loop until SIGTERM, the parent's death or an
 * epoll failure, then removes its files and exits. */
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

    srv s;
    if (!mp__mgr_srv_init(&s, lfd, key, keylen, tcp)) {
        mp__mgr_log("cannot start: %s", s.names ? strerror(errno) : "out of memory");
        cleanup_files();
        _exit(1);
    }
    s.idle.off = !mp__cpus_many();
    /* A large request is decoded by a helper thread meanwhile the loop serves
     * the others (#15); without one, inline. */
    if (!mp__mgr_offload_start(&s, MGR__OFFLOAD_MIN))
        mp__mgr_log("no helper thread (%s); large requests are decoded inline", strerror(errno));
    watch(&s, parent);

    while (!stop_flag && mp__mgr_turn(&s, &waitmask, true) != MGR__TURN_STOP)
        ;

    cleanup_files();
    close(lfd);
    mp__mgr_srv_fini(&s);
    if (s.pfd >= 0)
        close(s.pfd);
    _exit(0);
}
