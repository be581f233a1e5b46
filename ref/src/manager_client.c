/* The manager's client side, part 1: process-wide state, endpoints,
 * connections and the call (manager_client.h lists the other parts).
 *
 * Endpoints.  Everything that talks to one server (the manager handle and its
 * proxies) shares one endpoint: the address, the authkey and a stack of idle
 * authenticated connections.  A call takes a connection from the stack (or
 * makes one), does one round trip on it and puts it back, so threads never
 * share a connection and a call blocked on the server (Lock.acquire) does not
 * hold up another thread.  One process-wide mutex guards the endpoints; it is
 * never held across I/O.
 *
 * Fork.  A forked child must not use its parent's sockets: their byte streams
 * would interleave.  A pthread_atfork child handler closes the child's copies
 * of every connection (and of the server pidfds), so a child reconnects, with
 * authentication, on its first call.  The prepare handler takes the mutex, so
 * no endpoint is half-updated at the fork.
 *
 * A call: mp__mgr_call() sizes the request, takes a connection, encodes the
 * frame [oid, method, args...] into the connection's buffer, sends it in one
 * write, reads one reply frame [status, result] and maps its status.  This
 * file is the only one of the client that does I/O with a server. */
#include "auth.h"
#include "manager_client.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HANDSHAKE_TIMEOUT 10.0 /* seconds: a server that accepts but never answers */
#define IN_MIN 4096

/* ---------------------------------------------------------------- state */

typedef struct conn {
    int fd;
    pid_t pid;
    unsigned char *out, *in;
    size_t out_cap, in_cap, in_len, in_off;
    mp__spinner wait; /* polls for replies (mp__wait_tunings.mgr); off on one CPU */
    struct conn *next_idle;
    struct conn *prev, *next; /* every connection of the endpoint */
} conn;

pthread_mutex_t mp__mgr_mu = PTHREAD_MUTEX_INITIALIZER;
mp_manager *mp__mgr_started;
unsigned char mp__mgr_authkey[32];
static ep *g_eps;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void once_init(void);

/* getpid() is a system call (glibc stopped caching it): keep our own copy,
 * taken by once_init and renewed in every forked child by the atfork
 * handler.  A child forked before once_init ran in its parent runs once_init
 * itself at its first use. */
static pid_t g_pid;
static bool g_registered; /* the fork handlers are (once_init) */

/* The process authkey exists before any fork (a constructor), so children
 * inherit it; the exit handler is registered here too, so that it runs after
 * every exit handler the program registers (atexit runs them in reverse).
 * The fork handlers are not registered here but at the first
 * use of the client (mp__mgr_once): every fork would otherwise pay for them
 * in a process that never uses a manager, some 4 page faults in each child
 * (their code, the pid's page, pthread_mutex_unlock's code) and one in the
 * parent, and a getpid() system call. */
__attribute__((constructor)) static void authkey_init(void)
{
    mp__mgr_random(mp__mgr_authkey, sizeof mp__mgr_authkey);
    atexit(mp__mgr_shutdown_all);
}

/* This process's pid, without a system call once known.  Registers the fork
 * handlers (mp__mgr_once) so that the pid stays right in forked children. */
pid_t mp__mgr_self_pid(void)
{
    mp__mgr_once();
    return __atomic_load_n(&g_pid, __ATOMIC_RELAXED);
}

/* Closes c's socket and frees it; c must be unlinked from its endpoint. */
static void conn_close(conn *c)
{
    close(c->fd);
    free(c->in);
    free(c->out);
    free(c);
}

static void atfork_prepare(void) { pthread_mutex_lock(&mp__mgr_mu); }
static void atfork_parent(void) { pthread_mutex_unlock(&mp__mgr_mu); }

/* In a forked child: drop every inherited connection and pidfd (their
 * streams belong to the parent), forget the parent's started managers, renew
 * the cached pid and release the mutex taken by atfork_prepare. */
static void atfork_child(void)
{
    g_pid = getpid();
    g_registered = true; /* this handler ran: the handlers are this process's too */
    for (ep *e = g_eps; e; e = e->next) {
        for (conn *c = e->all, *n; c; c = n) {
            n = c->next;
            conn_close(c);
        }
        e->all = e->idle = NULL;
    }
    for (mp_manager *m = mp__mgr_started, *n; m; m = n) {
        n = m->next;
        if (m->pidfd >= 0)
            close(m->pidfd);
        m->pidfd = -1;
        m->listed = false;
        m->prev = m->next = NULL;
    }
    mp__mgr_started = NULL;
    pthread_mutex_unlock(&mp__mgr_mu);
}

void mp__mgr_once(void) { pthread_once(&g_once, once_init); }

/* Takes the pid and registers the fork handlers (mp__mgr_once).  A fork by another thread while
 * this runs leaves a child whose pthread_once runs it again (glibc re-runs an initialisation that a
 * fork interrupted): g_registered, also set by atfork_child, keeps that
 * child from registering the handlers twice (a second atfork_prepare would
 * lock mp__mgr_mu again). */
static void once_init(void)
{
    __atomic_store_n(&g_pid, getpid(), __ATOMIC_RELAXED);
    if (!g_registered) {
        pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
        g_registered = true;
    }
}

/* ---------------------------------------------------------------- endpoints */

/* A new endpoint (one reference, no connection yet) for address and a copy of
 * key, listed so that a fork can close its connections.  MP_ENOMEM. */
mp_status mp__mgr_ep_new(ep **out, const char *address, const void *key, size_t keylen)
{
    ep *e = calloc(1, sizeof *e);
    char *a = strdup(address);
    unsigned char *k = malloc(keylen ? keylen : 1);
    if (!e || !a || !k) {
        free(e);
        free(a);
        free(k);
        return mp__err(MP_ENOMEM, "manager: out of memory");
    }
    if (keylen)
        memcpy(k, key, keylen);
    e->refs = 1;
    e->address = a;
    e->key = k;
    e->keylen = keylen;
    mp__mgr_once();
    pthread_mutex_lock(&mp__mgr_mu);
    e->next = g_eps;
    if (g_eps)
        g_eps->prev = e;
    g_eps = e;
    pthread_mutex_unlock(&mp__mgr_mu);
    *out = e;
    return MP_OK;
}

void mp__mgr_ep_ref(ep *e)
{
    pthread_mutex_lock(&mp__mgr_mu);
    e->refs++;
    pthread_mutex_unlock(&mp__mgr_mu);
}

/* Drops a reference; the last one unlists e and closes its connections. */
void mp__mgr_ep_unref(ep *e)
{
    pthread_mutex_lock(&mp__mgr_mu);
    if (--e->refs > 0) {
        pthread_mutex_unlock(&mp__mgr_mu);
        return;
    }
    if (e->prev)
        e->prev->next = e->next;
    else
        g_eps = e->next;
    if (e->next)
        e->next->prev = e->prev;
    conn *all = e->all;
    pthread_mutex_unlock(&mp__mgr_mu);
    for (conn *c = all, *n; c; c = n) {
        n = c->next;
        conn_close(c);
    }
    free(e->address);
    free(e->key);
    free(e);
}

/* ------------------------------------------------------------ frame I/O */

/* MP_EDEAD with the errno (0: an orderly close) that showed the server gone. */
static mp_status dead(const char *what, int err)
{
    if (err)
        return mp__err(MP_EDEAD, "manager: %s: the server is gone (%s)", what, strerror(err));
    return mp__err(MP_EDEAD, "manager: %s: the server is gone (connection closed)", what);
}

/* Sends all n bytes (EINTR retried, no SIGPIPE); MP_EDEAD on failure. */
static mp_status send_all(int fd, const unsigned char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return dead("send", errno);
        }
        p += w;
        n -= (size_t)w;
    }
    return MP_OK;
}

/* recv() for a reply: polls first while the server answers promptly
 * (mp__wait_tunings.mgr in wait.h), then sleeps. */
static ssize_t recv_reply(conn *c)
{
    mp__recv_try a = {.fd = c->fd, .buf = c->in + c->in_len, .n = c->in_cap - c->in_len};
    if (mp__spin_until(&c->wait, &mp__wait_tunings.mgr, mp__recv_ready, &a))
        return a.r;
    ssize_t r = recv(c->fd, a.buf, a.n, 0);
    int err = errno;
    mp__spin_slept(&c->wait);
    errno = err;
    return r;
}

/* Make *buf (capacity *cap) hold at least need bytes, doubling from `first`
 * (or from *cap) as needed.  MP_ENOMEM ("manager: out of memory for <what>")
 * leaves both as they were. */
static mp_status buf_reserve(unsigned char **buf, size_t *cap, size_t need, size_t first,
                             const char *what)
{
    if (*cap >= need)
        return MP_OK;
    size_t n = *cap ? *cap : first;
    while (n < need)
        n *= 2;
    unsigned char *q = realloc(*buf, n);
    if (!q)
        return mp__err(MP_ENOMEM, "manager: out of memory for %s", what);
    *buf = q;
    *cap = n;
    return MP_OK;
}

/* Read one frame into c->in; *p and *n: its payload (valid until the next read).
 * d: a deadline (the handshake), or NULL to wait as long as it takes. */
static mp_status read_frame(conn *c, size_t max, const mp__deadline *d, unsigned char **p,
                            size_t *n)
{
    if (c->in_off == c->in_len)
        c->in_off = c->in_len = 0;
    for (;;) {
        size_t have = c->in_len - c->in_off, need = 4;
        if (have >= 4) {
            size_t flen = mgr__rd32(c->in + c->in_off);
            if (flen > max)
                return mp__err(MP_EPROTO,
                               "manager: the server sent a frame of %zu bytes "
                               "(limit %zu)",
                               flen, max);
            need = 4 + flen;
            if (have >= need) {
                *p = c->in + c->in_off + 4;
                *n = flen;
                c->in_off += need;
                return MP_OK;
            }
        }
        if (c->in_off) {
            memmove(c->in, c->in + c->in_off, have);
            c->in_len = have;
            c->in_off = 0;
        }
        /* Room for the frame, and always for one more byte to read. */
        mp_status st = buf_reserve(&c->in, &c->in_cap, need > c->in_len ? need : c->in_len + 1,
                                   IN_MIN, "a reply");
        if (st != MP_OK)
            return st;
        if (d) {
            struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
            int r = poll(&pfd, 1, mp__deadline_poll_ms(d));
            if (r < 0 && errno == EINTR)
                continue;
            if (r == 0)
                return mp__err(MP_TIMEOUT,
                               "manager: the server did not answer the handshake "
                               "within %.0f s",
                               HANDSHAKE_TIMEOUT);
        }
        ssize_t r = d ? recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0) : recv_reply(c);
        if (r > 0) {
            c->in_len += (size_t)r;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        return dead("receive", r < 0 ? errno : 0);
    }
}

/* ------------------------------------------------------------ connecting */

/* A connected, blocking socket to a in *out (TCP: Nagle off), trying until
 * the deadline d while a unix listener's backlog is full.  MP_EDEAD when
 * nobody listens, refuses or the connect times out; MP_EOS otherwise. */
static mp_status sock_connect(const addr *a, const mp__deadline *d, int *out)
{
    struct addrinfo *res = NULL;
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    const struct sockaddr *sa = (const struct sockaddr *)&un;
    socklen_t salen = sizeof un;
    int family = AF_UNIX;
    if (a->tcp) {
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
        int g = getaddrinfo(a->host, a->port, &hints, &res);
        if (g)
            return mp__err(MP_EOS, "manager: cannot resolve '%s': %s", a->host, gai_strerror(g));
        sa = res->ai_addr;
        salen = res->ai_addrlen;
        family = res->ai_family;
    } else
        memcpy(un.sun_path, a->path, strlen(a->path) + 1);
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    mp_status st = MP_OK;
    if (fd < 0) {
        st = mp__errno(errno, "manager: socket");
        goto out;
    }
    for (;;) {
        if (connect(fd, sa, salen) == 0)
            break;
        int e = errno;
        if (e == EINTR)
            continue;
        if (e == EAGAIN && !a->tcp) { /* the listen backlog is full: retry shortly */
            if (mp__deadline_passed(d)) {
                st = mp__err(MP_EDEAD, "manager: connect: the server does not accept");
                break;
            }
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
            continue;
        }
        if (e == EINPROGRESS) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            int r;
            while ((r = poll(&pfd, 1, mp__deadline_poll_ms(d))) < 0 && errno == EINTR)
                ;
            int err = 0;
            socklen_t len = sizeof err;
            if (r == 0)
                st = mp__err(MP_EDEAD, "manager: connect to %s:%s timed out", a->host, a->port);
            else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err)
                st = dead("connect", err);
            break;
        }
        if (e == ECONNREFUSED || e == ENOENT || e == ECONNRESET || e == ENOTDIR)
            st = dead("connect", e);
        else
            st = mp__errno(e, "manager: connect");
        break;
    }
    if (st == MP_OK) {
        int fl = fcntl(fd, F_GETFL);
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
        if (a->tcp) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
        *out = fd;
    } else if (fd >= 0)
        close(fd);
out:
    if (res)
        freeaddrinfo(res);
    return st;
}

/* CPython's answer_challenge, then deliver_challenge, in 1.5 round trips:
 * answer the server's nonce with its HMAC under e's key and our own nonce,
 * then check the server's proof.  Within the deadline d.  MP_EAUTH when the
 * server refuses us or cannot prove the key; MP_EDEAD, MP_EPROTO. */
static mp_status handshake(conn *c, const ep *e, const mp__deadline *d)
{
    unsigned char *p;
    size_t n;
    mp_status st = read_frame(c, MGR__HANDSHAKE_MAX, d, &p, &n);
    if (st)
        return st == MP_TIMEOUT ? MP_EDEAD : st;
    if (n != MGR__TAG_CH_LEN + MGR__NONCE || memcmp(p, MGR__TAG_CHALLENGE, MGR__TAG_CH_LEN))
        return mp__err(MP_EPROTO, "manager: the server did not send a challenge");
    unsigned char msg[4 + MGR__DIGEST + MGR__TAG_CH_LEN + MGR__NONCE], nonce[MGR__NONCE];
    mgr__be32(msg, sizeof msg - 4);
    mp_hmac_sha256(e->key, e->keylen, p + MGR__TAG_CH_LEN, MGR__NONCE, msg + 4);
    memcpy(msg + 4 + MGR__DIGEST, MGR__TAG_CHALLENGE, MGR__TAG_CH_LEN);
    mp__mgr_random(nonce, sizeof nonce);
    memcpy(msg + 4 + MGR__DIGEST + MGR__TAG_CH_LEN, nonce, sizeof nonce);
    if ((st = send_all(c->fd, msg, sizeof msg)))
        return st;
    if ((st = read_frame(c, MGR__HANDSHAKE_MAX, d, &p, &n))) {
        /* A server refusing us may close before we read its answer. */
        return st == MP_EDEAD     ? mp__err(MP_EAUTH, "manager: authentication failed (the "
                                                          "server closed the connection)")
               : st == MP_TIMEOUT ? MP_EDEAD
                                  : st;
    }
    if (n == MGR__TAG_OK_LEN && memcmp(p, MGR__TAG_FAILURE, MGR__TAG_OK_LEN) == 0)
        return mp__err(MP_EAUTH, "manager: authentication failed: the server refused the "
                                 "authkey (digest sent was rejected)");
    unsigned char want[MGR__DIGEST];
    mp_hmac_sha256(e->key, e->keylen, nonce, sizeof nonce, want);
    if (n != MGR__TAG_OK_LEN + MGR__DIGEST || memcmp(p, MGR__TAG_WELCOME, MGR__TAG_OK_LEN) ||
        !mp__digest_equal(p + MGR__TAG_OK_LEN, want, MGR__DIGEST))
        return mp__err(MP_EAUTH, "manager: authentication failed: the server did not prove "
                                 "it knows the authkey");
    return MP_OK;
}

/* A new connection to e's server, authenticated, owned by this process.
 * Connect and handshake together take at most HANDSHAKE_TIMEOUT. */
static mp_status conn_open(ep *e, conn **out)
{
    addr a;
    mp_status st = mp__parse_address(e->address, &a, "manager");
    if (st)
        return st;
    mp__deadline d;
    mp__deadline_init(&d, HANDSHAKE_TIMEOUT);
    conn *c = calloc(1, sizeof *c);
    if (!c)
        return mp__err(MP_ENOMEM, "manager: out of memory");
    c->fd = -1;
    c->wait.off = !mp__cpus_many();
    if ((st = sock_connect(&a, &d, &c->fd)) || (st = handshake(c, e, &d))) {
        if (c->fd >= 0)
            close(c->fd);
        free(c->in);
        free(c);
        return st;
    }
    c->pid = mp__mgr_self_pid();
    c->in_off = c->in_len = 0;
    *out = c;
    return MP_OK;
}

/* An idle connection of e made by this process, or a new one (listed in
 * e->all).  The caller has it alone until conn_put. */
static mp_status conn_get(ep *e, conn **out)
{
    pid_t me = mp__mgr_self_pid();
    pthread_mutex_lock(&mp__mgr_mu);
    conn *c = e->idle;
    while (c && c->pid != me) { /* a fork that bypassed pthread_atfork */
        e->idle = c->next_idle;
        c = e->idle;
    }
    if (c)
        e->idle = c->next_idle;
    pthread_mutex_unlock(&mp__mgr_mu);
    if (c) {
        *out = c;
        return MP_OK;
    }
    mp_status st = conn_open(e, &c);
    if (st)
        return st;
    pthread_mutex_lock(&mp__mgr_mu);
    c->next = e->all;
    if (e->all)
        e->all->prev = c;
    e->all = c;
    pthread_mutex_unlock(&mp__mgr_mu);
    *out = c;
    return MP_OK;
}

/* Gives c back: idle again when ok, else (its stream is out of step) closed.
 * A copy inherited across a fork during the call is left alone. */
static void conn_put(ep *e, conn *c, bool ok)
{
    pthread_mutex_lock(&mp__mgr_mu);
    if (c->pid != mp__mgr_self_pid()) { /* forked during the call: the child's copy */
        pthread_mutex_unlock(&mp__mgr_mu);
        return;
    }
    if (ok) {
        c->next_idle = e->idle;
        e->idle = c;
        pthread_mutex_unlock(&mp__mgr_mu);
        return;
    }
    if (c->prev)
        c->prev->next = c->next;
    else
        e->all = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&mp__mgr_mu);
    conn_close(c);
}

/* --------------------------------------------------------------- calls */

/* Authenticates a connection to e's server now (CPython's connect() does)
 * and keeps it idle for the first call.  The errors of conn_open. */
mp_status mp__mgr_ep_authenticate(ep *e)
{
    conn *c;
    mp_status st = conn_get(e, &c);
    if (st)
        return st;
    conn_put(e, c, true);
    return MP_OK;
}

/* The request's msgpack size in *total (without the 4-byte frame header) and
 * the first 8 arguments' sizes in sizes[] (the rest are measured again when
 * encoded).  MP_EMSGSIZE beyond MP_MANAGER_FRAME_MAX; an argument's encoding
 * error. */
static mp_status request_size(int64_t oid, size_t mlen, const mp_value *const *args, size_t nargs,
                              size_t sizes[8], size_t *total)
{
    *total = mgr__array_size(nargs + 2) + mgr__uint_size((uint64_t)oid) + mgr__str_size(mlen);
    for (size_t i = 0; i < nargs; i++) {
        size_t n;
        mp_status st = mp__value_encoded_size(args[i], &n);
        if (st)
            return st;
        if (i < 8)
            sizes[i] = n;
        *total += n;
        if (*total > MP_MANAGER_FRAME_MAX)
            return mp__err(MP_EMSGSIZE,
                           "manager: the request exceeds the frame limit of %zu "
                           "bytes",
                           MP_MANAGER_FRAME_MAX);
    }
    return MP_OK;
}

/* Encodes the frame [oid, method, args...] of total payload bytes (as sized
 * by request_size) into c->out, grown as needed; *len: the frame's bytes.
 * MP_ENOMEM, with c untouched. */
static mp_status request_encode(conn *c, int64_t oid, const char *method, size_t mlen,
                                const mp_value *const *args, size_t nargs, const size_t sizes[8],
                                size_t total, size_t *len)
{
    mp_status st = buf_reserve(&c->out, &c->out_cap, total + 4, 256, "a request");
    if (st != MP_OK)
        return st;
    unsigned char *p = c->out;
    mgr__be32(p, (uint32_t)total);
    size_t o = 4;
    o += mgr__put_array(p + o, nargs + 2);
    o += mgr__put_uint(p + o, (uint64_t)oid);
    o += mgr__put_str(p + o, method, mlen);
    for (size_t i = 0; i < nargs; i++) {
        size_t n = sizes[i < 8 ? i : 0];
        if (i >= 8)
            mp__value_encoded_size(args[i], &n);
        mp__value_encode_into(args[i], p + o, n);
        o += n;
    }
    *len = o;
    return MP_OK;
}

/* Reads and decodes one reply frame into *rep, checked to be [int, value].
 * Buffers grown past 1 MiB by a large message are given back once empty.
 * MP_EPROTO for a malformed reply; the errors of read_frame. */
static mp_status reply_read(conn *c, mp_value **rep)
{
    if (c->out_cap > ((size_t)1 << 20)) {
        free(c->out);
        c->out = NULL;
        c->out_cap = 0;
    }
    unsigned char *rp;
    size_t rn;
    mp_status st = read_frame(c, MP_MANAGER_FRAME_MAX, NULL, &rp, &rn);
    if (st)
        return st;
    mp_value *r = NULL;
    st = mp_value_decode(rp, rn, &r);
    if (c->in_cap > ((size_t)1 << 20) && c->in_off == c->in_len) {
        free(c->in);
        c->in = NULL;
        c->in_cap = c->in_len = c->in_off = 0;
    }
    if (st || r->type != MP_T_LIST || r->u.q.len != 2 || r->u.q.items[0]->type != MP_T_INT) {
        mp_value_free(r);
        return mp__err(MP_EPROTO, "manager: malformed reply from the server");
    }
    *rep = r;
    return MP_OK;
}

/* Consumes the reply [status, result]: MP_OK with the result moved to
 * *result (when wanted), or the server's status (MP_EREMOTE when it is not
 * one of ours) with its message as the thread's error detail. */
static mp_status reply_take(mp_value *rep, mp_value **result)
{
    int64_t code = rep->u.q.items[0]->u.i;
    mp_value *val = rep->u.q.items[1];
    if (code != MP_OK) {
        const char *msg = "";
        mp_value_get_str(val, &msg, NULL);
        mp_status st = code > 0 && code < MP__STATUS_COUNT ? (mp_status)code : MP_EREMOTE;
        mp__err(st, "%s", msg);
        mp_value_free(rep);
        return st;
    }
    if (result) {
        *result = val;
        rep->u.q.items[1] = mp_none(); /* taken */
    }
    mp_value_free(rep);
    return MP_OK;
}

/* One request and its reply: [oid, method, args...] -> [status, result], on
 * a connection of e's taken for the call.  A connection whose stream may be
 * out of step (send or receive failed, reply malformed) is closed, never
 * reused.  Returns the server's status; MP_EDEAD when the server is gone. */
mp_status mp__mgr_call(ep *e, int64_t oid, const char *method, const mp_value *const *args,
                       size_t nargs, mp_value **result)
{
    size_t mlen = strlen(method), sizes[8], total, len = 0;
    mp_status st = request_size(oid, mlen, args, nargs, sizes, &total);
    if (st)
        return st;
    conn *c;
    if ((st = conn_get(e, &c)))
        return st;
    if ((st = request_encode(c, oid, method, mlen, args, nargs, sizes, total, &len))) {
        conn_put(e, c, true);
        return st;
    }
    /* One write per request (the Nagle-free TCP socket sends it at once). */
    mp_value *rep = NULL;
    if (!(st = send_all(c->fd, c->out, len)))
        st = reply_read(c, &rep);
    conn_put(e, c, st == MP_OK);
    return st ? st : reply_take(rep, result);
}
