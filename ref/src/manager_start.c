/* The manager's client side, part 2: the manager handle.  Starting a server
 * (a forked child listening on a private unix socket, a named one, or TCP),
 * connecting to a running one, and stopping: CPython's _finalize_manager
 * (SIGTERM, a second's grace, SIGKILL) at shutdown, at free and at exit for
 * every server this process started.  manager_client.h lists the other parts.
 *
 * Starting, step by step (mp_manager_start): check the options
 * (start_options), listen (listen_tcp, or start_listen_unix in a fresh 0700
 * directory unless a path is named), make the endpoint, fork the server
 * (start_server, which serves in the child and never returns there), list the
 * manager for the exit handler.  A failing step undoes the earlier ones
 * (start_undo). */
#include "manager_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------- listening */

/* A listening unix socket at path in *out, mode 0600 before anyone can
 * connect.  MP_EOS (the errno of socket/bind/chmod/listen). */
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

/* A listening TCP socket for a->host:a->port in *out, with the bound address
 * (port 0 resolved) written as tcp:HOST:PORT into bound.  MP_EOS. */
static mp_status listen_tcp(const addr *a, int *out, char *bound, size_t boundlen)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *res;
    int g = getaddrinfo(a->host, a->port, &hints, &res);
    if (g)
        return mp__err(MP_EOS, "manager.start: cannot resolve '%s': %s", a->host, gai_strerror(g));
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

/* ------------------------------------------------------------------ stop */

/* Ends m's server and waits for it: CPython's _finalize_manager, ask
 * (SIGTERM), wait a second, then insist (SIGKILL).  Through the pidfd when
 * there is one, so a recycled pid is never signalled. */
static void reap(mp_manager *m)
{
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

/* Takes m off the started list (when on it). */
static void unlist(mp_manager *m)
{
    pthread_mutex_lock(&mp__mgr_mu);
    if (m->listed) {
        if (m->prev)
            m->prev->next = m->next;
        else
            mp__mgr_started = m->next;
        if (m->next)
            m->next->prev = m->prev;
        m->listed = false;
    }
    pthread_mutex_unlock(&mp__mgr_mu);
}

/* Stops m's server and removes what it leaves when killed: the socket file,
 * the private directory, the pidfd. */
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

/* At exit: stops every server this process started and has not stopped
 * (children's inherited entries are not theirs: the owner check). */
void mp__mgr_shutdown_all(void)
{
    pid_t me = mp__mgr_self_pid();
    for (;;) {
        pthread_mutex_lock(&mp__mgr_mu);
        mp_manager *m = mp__mgr_started;
        while (m && m->owner != me)
            m = m->next;
        if (m)
            m->closed = true;
        pthread_mutex_unlock(&mp__mgr_mu);
        if (!m)
            return;
        stop_server(m);
    }
}

/* Frees the handle and its endpoint reference (the server is left alone). */
static void manager_release(mp_manager *m)
{
    if (m->ep)
        mp__mgr_ep_unref(m->ep);
    free(m->sock_path);
    free(m->dir);
    free(m);
}

/* ----------------------------------------------------------------- start */

/* Checks mp_manager_start's options and fills *a (zeroed; unix with no path
 * when no address is named), *key and *keylen (the process authkey when none
 * is given).  MP_EINVAL for a NULL key with a length, a bad address, or TCP
 * without an explicit authkey. */
static mp_status start_options(const mp_manager_opts *opts, addr *a, const void **key,
                               size_t *keylen)
{
    const char *address = opts ? opts->address : NULL;
    *key = opts ? opts->authkey : NULL;
    *keylen = opts ? opts->authkey_len : 0;
    if (opts && !*key && *keylen)
        return mp__err(MP_EINVAL, "manager.start: NULL authkey with a nonzero length");
    memset(a, 0, sizeof *a);
    mp_status st;
    if (address && (st = mp__parse_address(address, a, "manager.start")))
        return st;
    if (a->tcp && (!*key || !*keylen))
        return mp__err(MP_EINVAL, "manager.start: a TCP manager needs an explicit, non-empty "
                                  "authkey");
    if (!*key) {
        *key = mp__mgr_authkey;
        *keylen = sizeof mp__mgr_authkey;
    }
    return MP_OK;
}

/* A fresh private directory (mkdtemp: mode 0700) under $TMPDIR or /tmp, kept
 * in m->dir, with a->path set to its "listener".  MP_EOS, MP_ENOMEM. */
static mp_status private_dir(mp_manager *m, addr *a)
{
    const char *tmp = getenv("TMPDIR");
    char dir[96];
    if (!tmp || !*tmp || strlen(tmp) > 64)
        tmp = "/tmp";
    snprintf(dir, sizeof dir, "%s/mp-XXXXXX", tmp);
    if (!mkdtemp(dir))
        return mp__errno(errno, "manager.start: mkdtemp");
    m->dir = strdup(dir);
    snprintf(a->path, sizeof a->path, "%s/listener", dir);
    return m->dir ? MP_OK : mp__err(MP_ENOMEM, "manager.start: out of memory");
}

/* Listens on a->path (in a private directory when !named) into *lfd and
 * writes the bound address into bound.  m->sock_path is set only once the
 * socket file is ours to unlink; m->dir as soon as the directory exists. */
static mp_status start_listen_unix(mp_manager *m, addr *a, bool named, int *lfd, char *bound,
                                   size_t boundlen)
{
    mp_status st = named ? MP_OK : private_dir(m, a);
    if (st == MP_OK && !(m->sock_path = strdup(a->path)))
        st = mp__err(MP_ENOMEM, "manager.start: out of memory");
    if (st == MP_OK && (st = listen_unix(a->path, lfd)) == MP_OK)
        snprintf(bound, boundlen, "unix:%s", a->path);
    if (st && m->sock_path && *lfd < 0) {
        free(m->sock_path); /* not ours to unlink: bind failed */
        m->sock_path = NULL;
    }
    return st;
}

/* Undoes a failed start: closes the listener (lfd < 0: none), removes the
 * socket file and directory it made, frees m. */
static void start_undo(mp_manager *m, int lfd)
{
    if (lfd >= 0)
        close(lfd);
    if (m->sock_path && lfd >= 0)
        unlink(m->sock_path);
    if (m->dir)
        rmdir(m->dir);
    manager_release(m);
}

/* Forks the server on the listener lfd; in the child it runs opts'
 * initializer, if any, then serves and never returns (requests wait on the
 * listener meanwhile, so none is served before the initializer is done).  In the parent: lfd
 * closed, m->owner/pid/pidfd set.  On a failed fork m is undone and freed: MP_EOS (or MP_ENOMEM).
 */
static mp_status start_server(mp_manager *m, int lfd, bool tcp, const mp_manager_opts *opts)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        start_undo(m, lfd);
        return mp__errno(e, "manager.start: fork");
    }
    if (pid == 0) {
        if (opts && opts->initializer)
            opts->initializer(opts->initarg);
        mp__mgr_serve(lfd, m->ep->key, m->ep->keylen, m->sock_path, m->dir, parent, tcp);
    }
    close(lfd);
    m->owner = parent;
    m->pid = pid;
    m->pidfd = (int)syscall(SYS_pidfd_open, pid, 0); /* close-on-exec always */
    if (m->pidfd < 0)
        m->pidfd = -1;
    return MP_OK;
}

/* Lists m among the started managers, for the exit handler (shutdown_all). */
static void list_started(mp_manager *m)
{
    pthread_mutex_lock(&mp__mgr_mu);
    m->next = mp__mgr_started;
    if (mp__mgr_started)
        mp__mgr_started->prev = m;
    mp__mgr_started = m;
    m->listed = true;
    pthread_mutex_unlock(&mp__mgr_mu);
}

/* mp.h's contract.  The steps are in the file's head comment; on failure
 * nothing is left behind (no listener, socket file, directory or child). */
mp_status mp_manager_start(mp_manager **out, const mp_manager_opts *opts)
{
    if (!out)
        return mp__err(MP_EINVAL, "manager.start: NULL out");
    addr a;
    const void *key;
    size_t keylen;
    mp_status st = start_options(opts, &a, &key, &keylen);
    if (st)
        return st;
    mp__mgr_once();
    mp_manager *m = calloc(1, sizeof *m);
    if (!m)
        return mp__err(MP_ENOMEM, "manager.start: out of memory");
    m->pidfd = -1;
    char bound[300];
    int lfd = -1;
    if (a.tcp)
        st = listen_tcp(&a, &lfd, bound, sizeof bound);
    else
        st = start_listen_unix(m, &a, opts && opts->address, &lfd, bound, sizeof bound);
    if (st == MP_OK)
        st = mp__mgr_ep_new(&m->ep, bound, key, keylen);
    if (st) {
        start_undo(m, lfd);
        return st;
    }
    if ((st = start_server(m, lfd, a.tcp, opts)))
        return st;
    list_started(m);
    *out = m;
    return MP_OK;
}

/* --------------------------------------------------------------- connect */

/* mp.h's contract: a handle on a running server (owner 0: never stopped by
 * us), authenticated once now so that a wrong key or a dead server is seen
 * here (MP_EAUTH, MP_EDEAD) rather than at the first call. */
mp_status mp_manager_connect(mp_manager **out, const char *address, const void *authkey,
                             size_t authkey_len)
{
    if (!out || !address)
        return mp__err(MP_EINVAL, "manager.connect: NULL %s", out ? "address" : "out");
    if (!authkey && authkey_len)
        return mp__err(MP_EINVAL, "manager.connect: NULL authkey with a nonzero length");
    addr a;
    mp_status st = mp__parse_address(address, &a, "manager.connect");
    if (st)
        return st;
    if (!authkey) {
        authkey = mp__mgr_authkey;
        authkey_len = sizeof mp__mgr_authkey;
    }
    mp_manager *m = calloc(1, sizeof *m);
    if (!m)
        return mp__err(MP_ENOMEM, "manager.connect: out of memory");
    m->pidfd = -1;
    if ((st = mp__mgr_ep_new(&m->ep, address, authkey, authkey_len))) {
        free(m);
        return st;
    }
    if ((st = mp__mgr_ep_authenticate(m->ep))) { /* now, as CPython's connect() */
        manager_release(m);
        return st;
    }
    *out = m;
    return MP_OK;
}

/* ---------------------------------------------------------------- handle */

mp_status mp__mgr_check(mp_manager *m, const char *what)
{
    if (!m)
        return mp__err(MP_EINVAL, "manager.%s: NULL manager", what);
    if (m->closed)
        return mp__err(MP_CLOSED, "manager.%s: the manager is shut down", what);
    return MP_OK;
}

mp_status mp_manager_address(mp_manager *m, const char **address)
{
    mp_status st = mp__mgr_check(m, "address");
    if (!st && !address)
        st = mp__err(MP_EINVAL, "manager.address: NULL output");
    if (!st)
        *address = m->ep->address;
    return st;
}

mp_status mp_manager_pid(mp_manager *m, pid_t *pid)
{
    mp_status st = mp__mgr_check(m, "pid");
    if (!st && !pid)
        st = mp__err(MP_EINVAL, "manager.pid: NULL output");
    if (!st)
        *pid = m->owner ? m->pid : 0;
    return st;
}

mp_status mp_manager_object_count(mp_manager *m, size_t *n)
{
    mp_status st = mp__mgr_check(m, "object_count");
    if (!st && !n)
        st = mp__err(MP_EINVAL, "manager.object_count: NULL output");
    mp_value *r = NULL;
    if (!st)
        st = mp__mgr_call(m->ep, 0, "number_of_objects", NULL, 0, &r);
    int64_t v = 0;
    if (!st && !(st = mp_value_get_int(r, &v)))
        *n = (size_t)v;
    mp_value_free(r);
    return st;
}

/* Idempotent.  Stops the server only in the process that started it
 * (MP_ESTATE elsewhere); a connected handle is just marked closed. */
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

/* Shuts down what this process may shut down, then frees the handle; a
 * child's inherited copy only leaves the started list. */
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
    *key = mp__mgr_authkey;
    *len = sizeof mp__mgr_authkey;
    return MP_OK;
}
