/* The manager's client side: starting the server, connections, proxies.
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
 * Ownership of objects.  A proxy holds one reference on the server, taken when
 * the object was made; only the process that made the proxy gives it back
 * (mp_proxy_free), so a child freeing its inherited copy cannot release an
 * object its parent still uses. */
#include "auth.h"
#include "manager.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HANDSHAKE_TIMEOUT 10.0 /* seconds: a server that accepts but never answers */
#define IN_MIN 4096

const char *const mp__mgr_typeids[MGR__T_COUNT] = {"dict", "list",  "Namespace", "Value",
                                                   "Lock", "Event", "Queue"};

int mp__mgr_typeid(const char *name)
{
    for (int i = 0; i < MGR__T_COUNT; i++)
        if (strcmp(name, mp__mgr_typeids[i]) == 0)
            return i;
    return -1;
}

/* ---------------------------------------------------------------- state */

typedef struct conn {
    int fd;
    pid_t pid;
    unsigned char *out, *in;
    size_t out_cap, in_cap, in_len, in_off;
    double last_wait; /* seconds the previous reply took (MGR__SPIN_S) */
    bool spin;        /* poll for replies: more than one CPU */
    struct conn *next_idle;
    struct conn *prev, *next; /* every connection of the endpoint */
} conn;

typedef struct ep {
    long refs;
    char *address;
    unsigned char *key;
    size_t keylen;
    conn *idle, *all;
    struct ep *prev, *next;
} ep;

struct mp_manager {
    ep *ep;
    pid_t owner; /* the process that started the server; 0 when connected */
    pid_t pid;
    int pidfd;
    char *sock_path, *dir;
    bool closed, listed;
    struct mp_manager *prev, *next; /* started managers, for the exit handler */
};

struct mp_proxy {
    ep *ep;
    int64_t oid;
    int type;
    pid_t owner;
};

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static ep *g_eps;
static mp_manager *g_started;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static unsigned char g_authkey[32];

/* The process authkey exists before any fork, so children inherit it. */
static void once_init(void);

/* getpid() is a system call (glibc stopped caching it): keep our own copy,
 * renewed in every forked child by the atfork handler. */
static pid_t g_pid;

__attribute__((constructor)) static void authkey_init(void)
{
    mp__mgr_random(g_authkey, sizeof g_authkey);
    g_pid = getpid();
    pthread_once(&g_once, once_init); /* from now on every fork renews g_pid */
}

static pid_t self_pid(void)
{
    pid_t p = __atomic_load_n(&g_pid, __ATOMIC_RELAXED);
    return p ? p : getpid();
}

static void conn_close(conn *c)
{
    close(c->fd);
    free(c->in);
    free(c->out);
    free(c);
}

static void atfork_prepare(void) { pthread_mutex_lock(&g_mu); }
static void atfork_parent(void) { pthread_mutex_unlock(&g_mu); }

static void atfork_child(void)
{
    g_pid = getpid();
    for (ep *e = g_eps; e; e = e->next) {
        for (conn *c = e->all, *n; c; c = n) {
            n = c->next;
            conn_close(c);
        }
        e->all = e->idle = NULL;
    }
    for (mp_manager *m = g_started, *n; m; m = n) {
        n = m->next;
        if (m->pidfd >= 0)
            close(m->pidfd);
        m->pidfd = -1;
        m->listed = false;
        m->prev = m->next = NULL;
    }
    g_started = NULL;
    pthread_mutex_unlock(&g_mu);
}

static void shutdown_all(void);

static void once_init(void)
{
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
    atexit(shutdown_all);
}

static mp_status ep_new(ep **out, const char *address, const void *key, size_t keylen)
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
    pthread_once(&g_once, once_init);
    pthread_mutex_lock(&g_mu);
    e->next = g_eps;
    if (g_eps)
        g_eps->prev = e;
    g_eps = e;
    pthread_mutex_unlock(&g_mu);
    *out = e;
    return MP_OK;
}

static void ep_ref(ep *e)
{
    pthread_mutex_lock(&g_mu);
    e->refs++;
    pthread_mutex_unlock(&g_mu);
}

static void ep_unref(ep *e)
{
    pthread_mutex_lock(&g_mu);
    if (--e->refs > 0) {
        pthread_mutex_unlock(&g_mu);
        return;
    }
    if (e->prev)
        e->prev->next = e->next;
    else
        g_eps = e->next;
    if (e->next)
        e->next->prev = e->prev;
    conn *all = e->all;
    pthread_mutex_unlock(&g_mu);
    for (conn *c = all, *n; c; c = n) {
        n = c->next;
        conn_close(c);
    }
    free(e->address);
    free(e->key);
    free(e);
}

/* ------------------------------------------------------------ addresses */

typedef struct addr {
    bool tcp;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    char host[256], port[16];
} addr;

static mp_status parse_address(const char *s, addr *a, const char *what)
{
    memset(a, 0, sizeof *a);
    if (strncmp(s, "unix:", 5) == 0) {
        size_t n = strlen(s + 5);
        if (n == 0 || n >= sizeof a->path)
            return mp__err(MP_EINVAL, "%s: unix socket path '%s' is empty or too long", what,
                           s + 5);
        memcpy(a->path, s + 5, n + 1);
        return MP_OK;
    }
    if (strncmp(s, "tcp:", 4) == 0) {
        const char *h = s + 4, *colon = strrchr(h, ':');
        if (!colon || colon == h)
            return mp__err(MP_EINVAL, "%s: '%s' is not tcp:HOST:PORT", what, s);
        size_t hl = (size_t)(colon - h);
        if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') { /* [::1] */
            h++;
            hl -= 2;
        }
        char *end;
        long port = strtol(colon + 1, &end, 10);
        if (hl == 0 || hl >= sizeof a->host || *end || end == colon + 1 || port < 0 ||
            port > 65535)
            return mp__err(MP_EINVAL, "%s: '%s' is not tcp:HOST:PORT", what, s);
        memcpy(a->host, h, hl);
        snprintf(a->port, sizeof a->port, "%ld", port);
        a->tcp = true;
        return MP_OK;
    }
    return mp__err(MP_EINVAL, "%s: address '%s' is neither unix:PATH nor tcp:HOST:PORT", what, s);
}

/* ------------------------------------------------------------ frame I/O */

static mp_status dead(const char *what, int err)
{
    if (err)
        return mp__err(MP_EDEAD, "manager: %s: the server is gone (%s)", what, strerror(err));
    return mp__err(MP_EDEAD, "manager: %s: the server is gone (connection closed)", what);
}

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

/* recv() for a reply: polls for up to MGR__SPIN_S first while the server
 * answers promptly (see manager.h), then sleeps. */
static ssize_t recv_reply(conn *c)
{
    void *buf = c->in + c->in_len;
    size_t n = c->in_cap - c->in_len;
    double t0 = mp__now(), t = t0;
    if (c->spin && c->last_wait <= MGR__SPIN_GATE) {
        for (unsigned k = 1; t - t0 < MGR__SPIN_S; k++) {
            ssize_t r = recv(c->fd, buf, n, MSG_DONTWAIT);
            if (r >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
                c->last_wait = mp__now() - t0;
                return r;
            }
            sched_yield();
            if ((k & 3) == 0)
                t = mp__now();
        }
    }
    ssize_t r = recv(c->fd, buf, n, 0);
    int err = errno;
    c->last_wait = mp__now() - t0;
    errno = err;
    return r;
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
                return mp__err(MP_EPROTO, "manager: the server sent a frame of %zu bytes "
                                          "(limit %zu)", flen, max);
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
        if (c->in_cap < need || c->in_cap == c->in_len) {
            size_t cap = c->in_cap ? c->in_cap : IN_MIN;
            while (cap < need || cap == c->in_len)
                cap *= 2;
            unsigned char *q = realloc(c->in, cap);
            if (!q)
                return mp__err(MP_ENOMEM, "manager: out of memory for a reply");
            c->in = q;
            c->in_cap = cap;
        }
        if (d) {
            struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
            int r = poll(&pfd, 1, mp__deadline_poll_ms(d));
            if (r < 0 && errno == EINTR)
                continue;
            if (r == 0)
                return mp__err(MP_TIMEOUT, "manager: the server did not answer the handshake "
                                           "within %.0f s", HANDSHAKE_TIMEOUT);
        }
        ssize_t r = d ? recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0)
                      : recv_reply(c);
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

/* CPython's answer_challenge, then deliver_challenge, in 1.5 round trips. */
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
        return st == MP_EDEAD    ? mp__err(MP_EAUTH, "manager: authentication failed (the "
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

static mp_status conn_open(ep *e, conn **out)
{
    addr a;
    mp_status st = parse_address(e->address, &a, "manager");
    if (st)
        return st;
    mp__deadline d;
    mp__deadline_init(&d, HANDSHAKE_TIMEOUT);
    conn *c = calloc(1, sizeof *c);
    if (!c)
        return mp__err(MP_ENOMEM, "manager: out of memory");
    c->fd = -1;
    c->spin = mp__cpus_many();
    if ((st = sock_connect(&a, &d, &c->fd)) || (st = handshake(c, e, &d))) {
        if (c->fd >= 0)
            close(c->fd);
        free(c->in);
        free(c);
        return st;
    }
    c->pid = self_pid();
    c->in_off = c->in_len = 0;
    *out = c;
    return MP_OK;
}

static mp_status conn_get(ep *e, conn **out)
{
    pid_t me = self_pid();
    pthread_mutex_lock(&g_mu);
    conn *c = e->idle;
    while (c && c->pid != me) { /* a fork that bypassed pthread_atfork */
        e->idle = c->next_idle;
        c = e->idle;
    }
    if (c)
        e->idle = c->next_idle;
    pthread_mutex_unlock(&g_mu);
    if (c) {
        *out = c;
        return MP_OK;
    }
    mp_status st = conn_open(e, &c);
    if (st)
        return st;
    pthread_mutex_lock(&g_mu);
    c->next = e->all;
    if (e->all)
        e->all->prev = c;
    e->all = c;
    pthread_mutex_unlock(&g_mu);
    *out = c;
    return MP_OK;
}

static void conn_put(ep *e, conn *c, bool ok)
{
    pthread_mutex_lock(&g_mu);
    if (c->pid != self_pid()) { /* forked during the call: the child's copy */
        pthread_mutex_unlock(&g_mu);
        return;
    }
    if (ok) {
        c->next_idle = e->idle;
        e->idle = c;
        pthread_mutex_unlock(&g_mu);
        return;
    }
    if (c->prev)
        c->prev->next = c->next;
    else
        e->all = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&g_mu);
    conn_close(c);
}

/* --------------------------------------------------------------- calls */

/* One request and its reply: [oid, method, args...] -> [status, result]. */
static mp_status call(ep *e, int64_t oid, const char *method, const mp_value *const *args,
                      size_t nargs, mp_value **result)
{
    size_t mlen = strlen(method), total = mgr__array_size(nargs + 2) +
                                          mgr__uint_size((uint64_t)oid) + mgr__str_size(mlen);
    size_t sizes[8];
    for (size_t i = 0; i < nargs; i++) {
        size_t n;
        mp_status st = mp__value_encoded_size(args[i], &n);
        if (st)
            return st;
        if (i < 8)
            sizes[i] = n;
        total += n;
        if (total > MP_MANAGER_FRAME_MAX)
            return mp__err(MP_EMSGSIZE, "manager: the request exceeds the frame limit of %zu "
                                        "bytes", MP_MANAGER_FRAME_MAX);
    }
    conn *c;
    mp_status st = conn_get(e, &c);
    if (st)
        return st;
    if (c->out_cap < total + 4) {
        size_t cap = c->out_cap ? c->out_cap : 256;
        while (cap < total + 4)
            cap *= 2;
        unsigned char *q = realloc(c->out, cap);
        if (!q) {
            conn_put(e, c, true);
            return mp__err(MP_ENOMEM, "manager: out of memory for a request");
        }
        c->out = q;
        c->out_cap = cap;
    }
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
    /* One write per request (the Nagle-free TCP socket sends it at once). */
    if ((st = send_all(c->fd, p, o))) {
        conn_put(e, c, false);
        return st;
    }
    if (c->out_cap > ((size_t)1 << 20)) {
        free(c->out);
        c->out = NULL;
        c->out_cap = 0;
    }
    unsigned char *rp;
    size_t rn;
    if ((st = read_frame(c, MP_MANAGER_FRAME_MAX, NULL, &rp, &rn))) {
        conn_put(e, c, false);
        return st;
    }
    mp_value *rep = NULL;
    st = mp_value_decode(rp, rn, &rep);
    if (c->in_cap > ((size_t)1 << 20) && c->in_off == c->in_len) {
        free(c->in);
        c->in = NULL;
        c->in_cap = c->in_len = c->in_off = 0;
    }
    if (st || rep->type != MP_T_LIST || rep->u.q.len != 2 || rep->u.q.items[0]->type != MP_T_INT) {
        mp_value_free(rep);
        conn_put(e, c, false);
        return mp__err(MP_EPROTO, "manager: malformed reply from the server");
    }
    conn_put(e, c, true);
    int64_t code = rep->u.q.items[0]->u.i;
    mp_value *val = rep->u.q.items[1];
    if (code != MP_OK) {
        const char *msg = "";
        mp_value_get_str(val, &msg, NULL);
        st = code > 0 && code < MP__STATUS_COUNT ? (mp_status)code : MP_EREMOTE;
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

/* ------------------------------------------------------------- start/stop */

static mp_status listen_unix(const char *path, int *out)
{
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    memcpy(un.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return mp__errno(errno, "manager.start: socket");
    if (bind(fd, (struct sockaddr *)&un, sizeof un) < 0) {
        int e = errno;
        close(fd);
        return mp__errno(e, "manager.start: bind");
    }
    /* Before listen(), nobody can connect: the mode is right before it matters. */
    if (chmod(path, 0600) < 0 || listen(fd, SOMAXCONN) < 0) {
        int e = errno;
        unlink(path);
        close(fd);
        return mp__errno(e, "manager.start: chmod/listen");
    }
    *out = fd;
    return MP_OK;
}

static mp_status listen_tcp(const addr *a, int *out, char *bound, size_t boundlen)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *res;
    int g = getaddrinfo(a->host, a->port, &hints, &res);
    if (g)
        return mp__err(MP_EOS, "manager.start: cannot resolve '%s': %s", a->host,
                       gai_strerror(g));
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, SOMAXCONN) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return mp__errno(e, "manager.start: tcp listen");
    }
    freeaddrinfo(res);
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &len);
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof host);
        port = ntohs(s6->sin6_port);
        snprintf(bound, boundlen, "tcp:[%s]:%d", host, port);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &s4->sin_addr, host, sizeof host);
        port = ntohs(s4->sin_port);
        snprintf(bound, boundlen, "tcp:%s:%d", host, port);
    }
    *out = fd;
    return MP_OK;
}

static void reap(mp_manager *m)
{
    /* CPython's _finalize_manager: ask, wait a while, then insist. */
    bool gone = false;
    if (m->pidfd >= 0) {
        syscall(SYS_pidfd_send_signal, m->pidfd, SIGTERM, NULL, 0);
        struct pollfd p = {.fd = m->pidfd, .events = POLLIN};
        mp__deadline d;
        mp__deadline_init(&d, 1.0);
        int r;
        while ((r = poll(&p, 1, mp__deadline_poll_ms(&d))) < 0 && errno == EINTR)
            ;
        gone = r > 0;
        if (!gone)
            syscall(SYS_pidfd_send_signal, m->pidfd, SIGKILL, NULL, 0);
    } else {
        kill(m->pid, SIGTERM);
        for (int i = 0; i < 100 && !gone; i++) {
            int st;
            pid_t r = waitpid(m->pid, &st, WNOHANG);
            if (r == m->pid || (r < 0 && errno == ECHILD))
                return;
            struct timespec ts = {0, 10000000};
            nanosleep(&ts, NULL);
        }
        kill(m->pid, SIGKILL);
    }
    int st;
    while (waitpid(m->pid, &st, 0) < 0 && errno == EINTR)
        ;
}

static void unlist(mp_manager *m)
{
    pthread_mutex_lock(&g_mu);
    if (m->listed) {
        if (m->prev)
            m->prev->next = m->next;
        else
            g_started = m->next;
        if (m->next)
            m->next->prev = m->prev;
        m->listed = false;
    }
    pthread_mutex_unlock(&g_mu);
}

static void stop_server(mp_manager *m)
{
    unlist(m);
    reap(m);
    /* The server removes these itself, unless it was killed. */
    if (m->sock_path)
        unlink(m->sock_path);
    if (m->dir)
        rmdir(m->dir);
    if (m->pidfd >= 0)
        close(m->pidfd);
    m->pidfd = -1;
}

static void shutdown_all(void)
{
    pid_t me = self_pid();
    for (;;) {
        pthread_mutex_lock(&g_mu);
        mp_manager *m = g_started;
        while (m && m->owner != me)
            m = m->next;
        if (m)
            m->closed = true;
        pthread_mutex_unlock(&g_mu);
        if (!m)
            return;
        stop_server(m);
    }
}

static void manager_release(mp_manager *m)
{
    if (m->ep)
        ep_unref(m->ep);
    free(m->sock_path);
    free(m->dir);
    free(m);
}

mp_status mp_manager_start(mp_manager **out, const mp_manager_opts *opts)
{
    if (!out)
        return mp__err(MP_EINVAL, "manager.start: NULL out");
    const char *address = opts ? opts->address : NULL;
    const void *key = opts ? opts->authkey : NULL;
    size_t keylen = opts ? opts->authkey_len : 0;
    if (opts && !key && keylen)
        return mp__err(MP_EINVAL, "manager.start: NULL authkey with a nonzero length");
    addr a = {0};
    mp_status st;
    if (address && (st = parse_address(address, &a, "manager.start")))
        return st;
    if (a.tcp && (!key || !keylen))
        return mp__err(MP_EINVAL, "manager.start: a TCP manager needs an explicit, non-empty "
                                  "authkey");
    if (!key) {
        key = g_authkey;
        keylen = sizeof g_authkey;
    }
    pthread_once(&g_once, once_init);
    mp_manager *m = calloc(1, sizeof *m);
    if (!m)
        return mp__err(MP_ENOMEM, "manager.start: out of memory");
    m->pidfd = -1;
    char bound[300];
    int lfd = -1;
    if (a.tcp) {
        st = listen_tcp(&a, &lfd, bound, sizeof bound);
    } else {
        if (!address) {
            const char *tmp = getenv("TMPDIR");
            char dir[96];
            if (!tmp || !*tmp || strlen(tmp) > 64)
                tmp = "/tmp";
            snprintf(dir, sizeof dir, "%s/mp-XXXXXX", tmp);
            if (!mkdtemp(dir)) /* mode 0700 */
                st = mp__errno(errno, "manager.start: mkdtemp");
            else {
                m->dir = strdup(dir);
                snprintf(a.path, sizeof a.path, "%s/listener", dir);
                st = m->dir ? MP_OK : mp__err(MP_ENOMEM, "manager.start: out of memory");
            }
        } else
            st = MP_OK;
        if (st == MP_OK && !(m->sock_path = strdup(a.path)))
            st = mp__err(MP_ENOMEM, "manager.start: out of memory");
        if (st == MP_OK && (st = listen_unix(a.path, &lfd)) == MP_OK)
            snprintf(bound, sizeof bound, "unix:%s", a.path);
        if (st && m->sock_path && lfd < 0) {
            free(m->sock_path); /* not ours to unlink: bind failed */
            m->sock_path = NULL;
        }
    }
    if (st == MP_OK)
        st = ep_new(&m->ep, bound, key, keylen);
    if (st) {
        if (lfd >= 0)
            close(lfd);
        if (m->sock_path && lfd >= 0)
            unlink(m->sock_path);
        if (m->dir)
            rmdir(m->dir);
        manager_release(m);
        return st;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(lfd);
        if (m->sock_path)
            unlink(m->sock_path);
        if (m->dir)
            rmdir(m->dir);
        manager_release(m);
        return mp__errno(e, "manager.start: fork");
    }
    if (pid == 0)
        mp__mgr_serve(lfd, m->ep->key, m->ep->keylen, m->sock_path, m->dir, parent, a.tcp);
    close(lfd);
    m->owner = parent;
    m->pid = pid;
    m->pidfd = (int)syscall(SYS_pidfd_open, pid, 0); /* close-on-exec always */
    if (m->pidfd < 0)
        m->pidfd = -1;
    pthread_mutex_lock(&g_mu);
    m->next = g_started;
    if (g_started)
        g_started->prev = m;
    g_started = m;
    m->listed = true;
    pthread_mutex_unlock(&g_mu);
    *out = m;
    return MP_OK;
}

mp_status mp_manager_connect(mp_manager **out, const char *address, const void *authkey,
                             size_t authkey_len)
{
    if (!out || !address)
        return mp__err(MP_EINVAL, "manager.connect: NULL %s", out ? "address" : "out");
    if (!authkey && authkey_len)
        return mp__err(MP_EINVAL, "manager.connect: NULL authkey with a nonzero length");
    addr a;
    mp_status st = parse_address(address, &a, "manager.connect");
    if (st)
        return st;
    if (!authkey) {
        authkey = g_authkey;
        authkey_len = sizeof g_authkey;
    }
    mp_manager *m = calloc(1, sizeof *m);
    if (!m)
        return mp__err(MP_ENOMEM, "manager.connect: out of memory");
    m->pidfd = -1;
    if ((st = ep_new(&m->ep, address, authkey, authkey_len))) {
        free(m);
        return st;
    }
    conn *c;
    if ((st = conn_get(m->ep, &c))) { /* authenticate now, as CPython's connect() */
        manager_release(m);
        return st;
    }
    conn_put(m->ep, c, true);
    *out = m;
    return MP_OK;
}

static mp_status check_m(mp_manager *m, const char *what)
{
    if (!m)
        return mp__err(MP_EINVAL, "manager.%s: NULL manager", what);
    if (m->closed)
        return mp__err(MP_CLOSED, "manager.%s: the manager is shut down", what);
    return MP_OK;
}

mp_status mp_manager_address(mp_manager *m, const char **address)
{
    mp_status st = check_m(m, "address");
    if (!st && !address)
        st = mp__err(MP_EINVAL, "manager.address: NULL output");
    if (!st)
        *address = m->ep->address;
    return st;
}

mp_status mp_manager_pid(mp_manager *m, pid_t *pid)
{
    mp_status st = check_m(m, "pid");
    if (!st && !pid)
        st = mp__err(MP_EINVAL, "manager.pid: NULL output");
    if (!st)
        *pid = m->owner ? m->pid : 0;
    return st;
}

mp_status mp_manager_object_count(mp_manager *m, size_t *n)
{
    mp_status st = check_m(m, "object_count");
    if (!st && !n)
        st = mp__err(MP_EINVAL, "manager.object_count: NULL output");
    mp_value *r = NULL;
    if (!st)
        st = call(m->ep, 0, "number_of_objects", NULL, 0, &r);
    int64_t v = 0;
    if (!st && !(st = mp_value_get_int(r, &v)))
        *n = (size_t)v;
    mp_value_free(r);
    return st;
}

mp_status mp_manager_shutdown(mp_manager *m)
{
    if (!m)
        return mp__err(MP_EINVAL, "manager.shutdown: NULL manager");
    if (m->closed)
        return MP_OK;
    if (m->owner && m->owner != getpid())
        return mp__err(MP_ESTATE, "manager.shutdown: only the process that started the "
                                  "manager can shut it down");
    m->closed = true;
    if (m->owner)
        stop_server(m);
    return MP_OK;
}

void mp_manager_free(mp_manager *m)
{
    if (!m)
        return;
    if (!m->closed && (!m->owner || m->owner == getpid()))
        mp_manager_shutdown(m);
    else if (m->listed) /* a child's copy: the server is its parent's */
        unlist(m);
    manager_release(m);
}

mp_status mp_current_authkey(const void **key, size_t *len)
{
    if (!key || !len)
        return mp__err(MP_EINVAL, "current_authkey: NULL output");
    *key = g_authkey;
    *len = sizeof g_authkey;
    return MP_OK;
}

/* --------------------------------------------------------------- proxies */

mp_status mp_manager_create(mp_manager *m, const char *typeid, const mp_value *init,
                            const char *name, mp_proxy **out)
{
    mp_status st = check_m(m, "create");
    if (st)
        return st;
    if (!typeid || !out)
        return mp__err(MP_EINVAL, "manager.create: NULL %s", typeid ? "out" : "typeid");
    int type = mp__mgr_typeid(typeid);
    if (type < 0)
        return mp__err(MP_EINVAL, "manager.create: unknown typeid '%s'", typeid);
    mp_proxy *p = malloc(sizeof *p);
    mp_value *tv = mp_str(typeid), *nv = name ? mp_str(name) : mp_none();
    if (!p || !tv || !nv) {
        free(p);
        mp_value_free(tv);
        mp_value_free(nv);
        return name && !nv ? mp__err(MP_EINVAL, "manager.create: name is not UTF-8")
                           : mp__err(MP_ENOMEM, "manager.create: out of memory");
    }
    const mp_value *args[3] = {tv, init ? init : mp_none(), nv};
    mp_value *r = NULL;
    st = call(m->ep, 0, "create", args, 3, &r);
    mp_value_free(tv);
    mp_value_free(nv);
    int64_t oid = 0;
    if (!st)
        st = mp_value_get_int(r, &oid);
    mp_value_free(r);
    if (st) {
        free(p);
        return st;
    }
    ep_ref(m->ep);
    *p = (mp_proxy){.ep = m->ep, .oid = oid, .type = type, .owner = self_pid()};
    *out = p;
    return MP_OK;
}

mp_status mp_manager_dict(mp_manager *m, const mp_value *init, mp_proxy **out)
{
    return mp_manager_create(m, "dict", init, NULL, out);
}
mp_status mp_manager_list(mp_manager *m, const mp_value *init, mp_proxy **out)
{
    return mp_manager_create(m, "list", init, NULL, out);
}
mp_status mp_manager_namespace(mp_manager *m, mp_proxy **out)
{
    return mp_manager_create(m, "Namespace", NULL, NULL, out);
}
mp_status mp_manager_value(mp_manager *m, const mp_value *init, mp_proxy **out)
{
    return mp_manager_create(m, "Value", init, NULL, out);
}
mp_status mp_manager_lock(mp_manager *m, mp_proxy **out)
{
    return mp_manager_create(m, "Lock", NULL, NULL, out);
}
mp_status mp_manager_event(mp_manager *m, mp_proxy **out)
{
    return mp_manager_create(m, "Event", NULL, NULL, out);
}
mp_status mp_manager_queue(mp_manager *m, long maxsize, mp_proxy **out)
{
    mp_value *v = mp_int(maxsize);
    if (!v)
        return mp__err(MP_ENOMEM, "manager.Queue: out of memory");
    mp_status st = mp_manager_create(m, "Queue", v, NULL, out);
    mp_value_free(v);
    return st;
}

mp_status mp_proxy_call(mp_proxy *p, const char *method, const mp_value *args,
                        mp_value **result)
{
    if (!p || !method)
        return mp__err(MP_EINVAL, "proxy.call: NULL %s", p ? "method" : "proxy");
    if (args && args->type != MP_T_LIST && args->type != MP_T_TUPLE)
        return mp__err(MP_ETYPE, "proxy.call: args must be a list or tuple");
    return call(p->ep, p->oid, method, args ? (const mp_value *const *)args->u.q.items : NULL,
                args ? args->u.q.len : 0, result);
}

mp_status mp_proxy_typeid(mp_proxy *p, const char **typeid)
{
    if (!p || !typeid)
        return mp__err(MP_EINVAL, "proxy.typeid: NULL %s", p ? "output" : "proxy");
    *typeid = mp__mgr_typeids[p->type];
    return MP_OK;
}

void mp_proxy_free(mp_proxy *p)
{
    if (!p)
        return;
    if (p->owner == self_pid()) {
        mp_value *id = mp_int(p->oid);
        if (id) {
            const mp_value *args[1] = {id};
            call(p->ep, 0, "decref", args, 1, NULL); /* a dead server released it anyway */
            mp_value_free(id);
        }
    }
    ep_unref(p->ep);
    free(p);
}

/* ------------------------------------------------------- typed wrappers */

static mp_status pcheck(mp_proxy *p, int type, const char *method)
{
    if (!p)
        return mp__err(MP_EINVAL, "%s.%s: NULL proxy", mp__mgr_typeids[type], method);
    if (p->type != type)
        return mp__err(MP_EINVAL, "AttributeError: this is a %s proxy, not a %s proxy (%s)",
                       mp__mgr_typeids[p->type], mp__mgr_typeids[type], method);
    return MP_OK;
}

/* A typed call: every argument non-NULL, else MP_EINVAL. */
static mp_status tcall(mp_proxy *p, int type, const char *method, size_t n,
                       const mp_value *const *args, mp_value **res)
{
    mp_status st = pcheck(p, type, method);
    if (st)
        return st;
    for (size_t i = 0; i < n; i++)
        if (!args[i])
            return mp__err(MP_EINVAL, "%s.%s: NULL value", mp__mgr_typeids[type], method);
    return call(p->ep, p->oid, method, args, n, res);
}

#define OUTCHK(o, t, m)                                                                    \
    do {                                                                                   \
        if (!(o))                                                                          \
            return mp__err(MP_EINVAL, "%s.%s: NULL output", mp__mgr_typeids[t], m);        \
    } while (0)

static mp_status get_size(mp_value *r, mp_status st, size_t *out)
{
    int64_t v = 0;
    if (!st && !(st = mp_value_get_int(r, &v)))
        *out = (size_t)v;
    mp_value_free(r);
    return st;
}

static mp_status get_bool(mp_value *r, mp_status st, bool *out)
{
    bool b = false;
    if (!st && !(st = mp_value_get_bool(r, &b)))
        *out = b;
    mp_value_free(r);
    return st;
}

static mp_status idx_call(mp_proxy *p, int type, const char *method, ptrdiff_t i,
                          const mp_value *extra, mp_value **res)
{
    mp_value *iv = mp_int((int64_t)i);
    if (!iv)
        return mp__err(MP_ENOMEM, "out of memory");
    const mp_value *args[2] = {iv, extra};
    mp_status st = tcall(p, type, method, extra ? 2 : 1, args, res);
    mp_value_free(iv);
    return st;
}

/* ---- dict */
#define D MGR__T_DICT
mp_status mp_mdict_get(mp_proxy *d, const mp_value *key, mp_value **val)
{
    OUTCHK(val, D, "__getitem__");
    return tcall(d, D, "__getitem__", 1, &key, val);
}
mp_status mp_mdict_set(mp_proxy *d, const mp_value *key, const mp_value *val)
{
    const mp_value *a[2] = {key, val};
    return tcall(d, D, "__setitem__", 2, a, NULL);
}
mp_status mp_mdict_del(mp_proxy *d, const mp_value *key)
{
    return tcall(d, D, "__delitem__", 1, &key, NULL);
}
mp_status mp_mdict_contains(mp_proxy *d, const mp_value *key, bool *in)
{
    OUTCHK(in, D, "__contains__");
    mp_value *r = NULL;
    return get_bool(r, tcall(d, D, "__contains__", 1, &key, &r), in);
}
mp_status mp_mdict_len(mp_proxy *d, size_t *len)
{
    OUTCHK(len, D, "__len__");
    mp_value *r = NULL;
    mp_status st = tcall(d, D, "__len__", 0, NULL, &r);
    return get_size(r, st, len);
}
mp_status mp_mdict_keys(mp_proxy *d, mp_value **list)
{
    OUTCHK(list, D, "keys");
    return tcall(d, D, "keys", 0, NULL, list);
}
mp_status mp_mdict_values(mp_proxy *d, mp_value **list)
{
    OUTCHK(list, D, "values");
    return tcall(d, D, "values", 0, NULL, list);
}
mp_status mp_mdict_items(mp_proxy *d, mp_value **list)
{
    OUTCHK(list, D, "items");
    return tcall(d, D, "items", 0, NULL, list);
}
mp_status mp_mdict_update(mp_proxy *d, const mp_value *dict)
{
    if (dict && mp_value_type(dict) != MP_T_DICT)
        return mp__err(MP_ETYPE, "dict.update: the argument is not a dict");
    return tcall(d, D, "update", 1, &dict, NULL);
}
mp_status mp_mdict_pop(mp_proxy *d, const mp_value *key, const mp_value *dflt, mp_value **val)
{
    const mp_value *a[2] = {key, dflt};
    OUTCHK(val, D, "pop");
    return tcall(d, D, "pop", dflt ? 2 : 1, a, val);
}
mp_status mp_mdict_setdefault(mp_proxy *d, const mp_value *key, const mp_value *dflt,
                              mp_value **val)
{
    const mp_value *a[2] = {key, dflt};
    OUTCHK(val, D, "setdefault");
    return tcall(d, D, "setdefault", dflt ? 2 : 1, a, val);
}
mp_status mp_mdict_clear(mp_proxy *d) { return tcall(d, D, "clear", 0, NULL, NULL); }
mp_status mp_mdict_copy(mp_proxy *d, mp_value **dict)
{
    OUTCHK(dict, D, "copy");
    return tcall(d, D, "copy", 0, NULL, dict);
}
#undef D

/* ---- list */
#define LT MGR__T_LIST
mp_status mp_mlist_append(mp_proxy *l, const mp_value *item)
{
    return tcall(l, LT, "append", 1, &item, NULL);
}
mp_status mp_mlist_extend(mp_proxy *l, const mp_value *seq)
{
    if (seq && mp_value_type(seq) != MP_T_LIST && mp_value_type(seq) != MP_T_TUPLE)
        return mp__err(MP_ETYPE, "list.extend: the argument is not a list or tuple");
    return tcall(l, LT, "extend", 1, &seq, NULL);
}
mp_status mp_mlist_insert(mp_proxy *l, ptrdiff_t i, const mp_value *item)
{
    if (!item)
        return mp__err(MP_EINVAL, "list.insert: NULL value");
    return idx_call(l, LT, "insert", i, item, NULL);
}
mp_status mp_mlist_pop(mp_proxy *l, ptrdiff_t i, mp_value **item)
{
    OUTCHK(item, LT, "pop");
    return idx_call(l, LT, "pop", i, NULL, item);
}
mp_status mp_mlist_remove(mp_proxy *l, const mp_value *item)
{
    return tcall(l, LT, "remove", 1, &item, NULL);
}
mp_status mp_mlist_index(mp_proxy *l, const mp_value *item, size_t *index)
{
    OUTCHK(index, LT, "index");
    mp_value *r = NULL;
    mp_status st = tcall(l, LT, "index", 1, &item, &r);
    return get_size(r, st, index);
}
mp_status mp_mlist_count(mp_proxy *l, const mp_value *item, size_t *count)
{
    OUTCHK(count, LT, "count");
    mp_value *r = NULL;
    mp_status st = tcall(l, LT, "count", 1, &item, &r);
    return get_size(r, st, count);
}
mp_status mp_mlist_get(mp_proxy *l, ptrdiff_t i, mp_value **item)
{
    OUTCHK(item, LT, "__getitem__");
    return idx_call(l, LT, "__getitem__", i, NULL, item);
}
mp_status mp_mlist_set(mp_proxy *l, ptrdiff_t i, const mp_value *item)
{
    if (!item)
        return mp__err(MP_EINVAL, "list.__setitem__: NULL value");
    return idx_call(l, LT, "__setitem__", i, item, NULL);
}
mp_status mp_mlist_del(mp_proxy *l, ptrdiff_t i)
{
    return idx_call(l, LT, "__delitem__", i, NULL, NULL);
}
mp_status mp_mlist_len(mp_proxy *l, size_t *len)
{
    OUTCHK(len, LT, "__len__");
    mp_value *r = NULL;
    mp_status st = tcall(l, LT, "__len__", 0, NULL, &r);
    return get_size(r, st, len);
}

static mp_status slice_call(mp_proxy *l, const char *method, ptrdiff_t start, ptrdiff_t stop,
                            ptrdiff_t step, const mp_value *seq, mp_value **res)
{
    ptrdiff_t b[3] = {start, stop, step};
    mp_value *v[3];
    for (int i = 0; i < 3; i++)
        v[i] = b[i] == MP_SLICE_NONE ? mp_none() : mp_int((int64_t)b[i]);
    const mp_value *args[4] = {v[0], v[1], v[2], seq};
    mp_status st = v[0] && v[1] && v[2] ? tcall(l, LT, method, seq ? 4 : 3, args, res)
                                        : mp__err(MP_ENOMEM, "out of memory");
    for (int i = 0; i < 3; i++)
        mp_value_free(v[i]);
    return st;
}

mp_status mp_mlist_slice(mp_proxy *l, ptrdiff_t start, ptrdiff_t stop, ptrdiff_t step,
                         mp_value **list)
{
    OUTCHK(list, LT, "getslice");
    return slice_call(l, "getslice", start, stop, step, NULL, list);
}
mp_status mp_mlist_set_slice(mp_proxy *l, ptrdiff_t start, ptrdiff_t stop, ptrdiff_t step,
                             const mp_value *seq)
{
    if (!seq)
        return mp__err(MP_EINVAL, "list.setslice: NULL value");
    return slice_call(l, "setslice", start, stop, step, seq, NULL);
}
mp_status mp_mlist_del_slice(mp_proxy *l, ptrdiff_t start, ptrdiff_t stop, ptrdiff_t step)
{
    return slice_call(l, "delslice", start, stop, step, NULL, NULL);
}
mp_status mp_mlist_copy(mp_proxy *l, mp_value **list)
{
    OUTCHK(list, LT, "copy");
    return tcall(l, LT, "copy", 0, NULL, list);
}
mp_status mp_mlist_sort(mp_proxy *l, bool reverse)
{
    const mp_value *a[1] = {mp_bool(reverse)};
    return tcall(l, LT, "sort", 1, a, NULL);
}
#undef LT

/* ---- Namespace */
static mp_status ns_call(mp_proxy *ns, const char *method, const char *name,
                         const mp_value *val, bool needval, mp_value **res)
{
    if (!name || (needval && !val))
        return mp__err(MP_EINVAL, "Namespace.%s: NULL %s", method, name ? "value" : "name");
    mp_value *nv = mp_str(name);
    if (!nv)
        return mp__err(MP_EINVAL, "Namespace.%s: the name is not UTF-8", method);
    const mp_value *a[2] = {nv, val};
    mp_status st = tcall(ns, MGR__T_NS, method, needval ? 2 : 1, a, res);
    mp_value_free(nv);
    return st;
}
mp_status mp_mns_get(mp_proxy *ns, const char *name, mp_value **val)
{
    OUTCHK(val, MGR__T_NS, "__getattr__");
    return ns_call(ns, "__getattr__", name, NULL, false, val);
}
mp_status mp_mns_set(mp_proxy *ns, const char *name, const mp_value *val)
{
    return ns_call(ns, "__setattr__", name, val, true, NULL);
}
mp_status mp_mns_del(mp_proxy *ns, const char *name)
{
    return ns_call(ns, "__delattr__", name, NULL, false, NULL);
}

/* ---- Value */
mp_status mp_mvalue_get(mp_proxy *v, mp_value **val)
{
    OUTCHK(val, MGR__T_VALUE, "get");
    return tcall(v, MGR__T_VALUE, "get", 0, NULL, val);
}
mp_status mp_mvalue_set(mp_proxy *v, const mp_value *val)
{
    return tcall(v, MGR__T_VALUE, "set", 1, &val, NULL);
}

/* ---- Lock, Event, Queue: timeouts checked here, waited for on the server */
static mp_status timed(mp_proxy *p, int type, const char *method, const mp_value *item,
                       double timeout, mp_value **res)
{
    if (isnan(timeout))
        return mp__err(MP_EINVAL, "%s.%s: NaN timeout", mp__mgr_typeids[type], method);
    mp_value *t = mp_float(timeout < 0 ? 0 : timeout);
    if (!t)
        return mp__err(MP_ENOMEM, "out of memory");
    const mp_value *a[2] = {item ? item : t, t};
    mp_status st = tcall(p, type, method, item ? 2 : 1, a, res);
    mp_value_free(t);
    return st;
}

static mp_status true_or_timeout(mp_value *r, mp_status st, const char *what, double timeout)
{
    bool ok = false;
    if (!st)
        st = mp_value_get_bool(r, &ok);
    mp_value_free(r);
    if (!st && !ok)
        st = mp__err(MP_TIMEOUT, "%s: timed out after %.3f s", what, timeout);
    return st;
}

mp_status mp_mlock_acquire(mp_proxy *l, double timeout)
{
    mp_value *r = NULL;
    mp_status st = timed(l, MGR__T_LOCK, "acquire", NULL, timeout, &r);
    return true_or_timeout(r, st, "Lock.acquire", timeout);
}
mp_status mp_mlock_release(mp_proxy *l) { return tcall(l, MGR__T_LOCK, "release", 0, NULL, NULL); }

mp_status mp_mevent_set(mp_proxy *e) { return tcall(e, MGR__T_EVENT, "set", 0, NULL, NULL); }
mp_status mp_mevent_clear(mp_proxy *e) { return tcall(e, MGR__T_EVENT, "clear", 0, NULL, NULL); }
mp_status mp_mevent_is_set(mp_proxy *e, bool *set)
{
    OUTCHK(set, MGR__T_EVENT, "is_set");
    mp_value *r = NULL;
    return get_bool(r, tcall(e, MGR__T_EVENT, "is_set", 0, NULL, &r), set);
}
mp_status mp_mevent_wait(mp_proxy *e, double timeout)
{
    mp_value *r = NULL;
    mp_status st = timed(e, MGR__T_EVENT, "wait", NULL, timeout, &r);
    return true_or_timeout(r, st, "Event.wait", timeout);
}

mp_status mp_mqueue_put(mp_proxy *q, const mp_value *item, double timeout)
{
    if (!item)
        return mp__err(MP_EINVAL, "Queue.put: NULL value");
    return timed(q, MGR__T_QUEUE, "put", item, timeout, NULL);
}
mp_status mp_mqueue_get(mp_proxy *q, mp_value **item, double timeout)
{
    OUTCHK(item, MGR__T_QUEUE, "get");
    return timed(q, MGR__T_QUEUE, "get", NULL, timeout, item);
}
mp_status mp_mqueue_qsize(mp_proxy *q, size_t *n)
{
    OUTCHK(n, MGR__T_QUEUE, "qsize");
    mp_value *r = NULL;
    mp_status st = tcall(q, MGR__T_QUEUE, "qsize", 0, NULL, &r);
    return get_size(r, st, n);
}
