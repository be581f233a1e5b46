/* listener: multiprocessing.connection's Listener and Client over Unix and
 * TCP sockets, with CPython 3.11's authentication handshake.
 *
 * A connection made here is an mp_conn of pipe.c (mp__conn_from_fd): framing
 * and every mp_conn_* call are the Pipe's, which are CPython's.  The
 * handshake (deliver_challenge / answer_challenge of Lib/multiprocessing/
 * connection.py, 3.11) runs over those calls: "#CHALLENGE#" + 20 random
 * bytes, the HMAC-MD5 of the 20 bytes under the authkey, then "#WELCOME#" or
 * "#FAILURE#"; every handshake message is received with maxlength 256.
 * HMAC-MD5 comes from OpenSSL's libcrypto (MD5 is what 3.11 speaks; 3.12
 * moved to a negotiated digest that still accepts it). */
#include "mp_internal.h"
#include "address.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define CHALLENGE "#CHALLENGE#"
#define WELCOME "#WELCOME#"
#define FAILURE "#FAILURE#"
#define NONCE_LEN 20      /* CPython 3.11's MESSAGE_LENGTH */
#define HANDSHAKE_MAX 256 /* recv_bytes(256): "reject large message" */
#define MD5_LEN 16

struct mp_listener {
    int fd;        /* -1 once closed */
    char *address; /* "unix:/path" or "tcp:HOST:PORT" as bound */
    char *path;    /* Unix socket file to unlink at close, or NULL */
    char *dir;     /* private directory made for it, or NULL */
    unsigned char *key;
    size_t keylen; /* 0: no authentication */
};

/* ------------------------------------------------------------ addresses */

typedef mp__addr addr; /* address.h */

/* ------------------------------------------------------------ handshake */

/* HMAC-MD5 of msg under key (an empty key as CPython's hmac allows) into
 * out.  MP_EOS when libcrypto cannot compute it (e.g.  MD5 disabled by a
 * FIPS policy).  For the handshake below. */
static mp_status hmac_md5(const unsigned char *key, size_t keylen, const unsigned char *msg,
                          size_t len, unsigned char out[MD5_LEN])
{
    unsigned int n = 0;
    static const unsigned char empty[1];
    if (!HMAC(EVP_md5(), keylen ? key : empty, (int)keylen, msg, len, out, &n) || n != MD5_LEN)
        return mp__err(MP_EOS, "connection: HMAC-MD5 unavailable in libcrypto");
    return MP_OK;
}

static mp_status recv_small(mp_conn *c, void **buf, size_t *len, const char *what)
{
    mp_status s = mp_conn_recv_bytes(c, buf, len, HANDSHAKE_MAX);
    if (s == MP_OK)
        return MP_OK;
    return mp__err(MP_EAUTH, "%s: handshake broken by the peer (%s)", what, mp_status_name(s));
}

/* CPython's deliver_challenge. */
static mp_status deliver_challenge(mp_conn *c, const unsigned char *key, size_t keylen,
                                   const char *what)
{
    unsigned char msg[sizeof CHALLENGE - 1 + NONCE_LEN], want[MD5_LEN];
    memcpy(msg, CHALLENGE, sizeof CHALLENGE - 1);
    if (getrandom(msg + sizeof CHALLENGE - 1, NONCE_LEN, 0) != NONCE_LEN)
        return mp__errno(errno, what);
    mp_status s = hmac_md5(key, keylen, msg + sizeof CHALLENGE - 1, NONCE_LEN, want);
    if (s == MP_OK && (s = mp_conn_send_bytes(c, msg, sizeof msg)) != MP_OK)
        return mp__err(MP_EAUTH, "%s: handshake broken by the peer (%s)", what, mp_status_name(s));
    void *got = NULL;
    size_t n = 0;
    if (s == MP_OK && (s = recv_small(c, &got, &n, what)) == MP_OK) {
        bool ok = n == MD5_LEN && CRYPTO_memcmp(got, want, MD5_LEN) == 0;
        free(got);
        mp_status w = mp_conn_send_bytes(c, ok ? WELCOME : FAILURE,
                                         ok ? sizeof WELCOME - 1 : sizeof FAILURE - 1);
        if (!ok)
            return mp__err(MP_EAUTH, "%s: digest received was wrong", what);
        if (w != MP_OK)
            return mp__err(MP_EAUTH, "%s: handshake broken by the peer (%s)", what,
                           mp_status_name(w));
    }
    return s;
}

/* CPython's answer_challenge. */
static mp_status answer_challenge(mp_conn *c, const unsigned char *key, size_t keylen,
                                  const char *what)
{
    void *got = NULL;
    size_t n = 0;
    mp_status s = recv_small(c, &got, &n, what);
    if (s != MP_OK)
        return s;
    unsigned char digest[MD5_LEN];
    if (n < sizeof CHALLENGE - 1 || memcmp(got, CHALLENGE, sizeof CHALLENGE - 1) != 0) {
        free(got);
        return mp__err(MP_EAUTH, "%s: the peer's first message is not a challenge", what);
    }
    s = hmac_md5(key, keylen, (unsigned char *)got + sizeof CHALLENGE - 1,
                 n - (sizeof CHALLENGE - 1), digest);
    free(got);
    if (s != MP_OK)
        return s;
    if ((s = mp_conn_send_bytes(c, digest, sizeof digest)) != MP_OK)
        return mp__err(MP_EAUTH, "%s: handshake broken by the peer (%s)", what, mp_status_name(s));
    if ((s = recv_small(c, &got, &n, what)) != MP_OK)
        return s;
    bool ok = n == sizeof WELCOME - 1 && memcmp(got, WELCOME, n) == 0;
    free(got);
    return ok ? MP_OK : mp__err(MP_EAUTH, "%s: digest sent was rejected", what);
}

/* ------------------------------------------------------------ sockets */

static void tune_tcp(int fd)
{
    int one = 1; /* a message is one write: Nagle only delays the reply */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* A listening Unix stream socket bound at a (a path, which must fit
 * sun_path: the address parser checked it, or an abstract name),
 * close-on-exec, in *out.  MP_EOS (MP_ENOMEM) and no descriptor on failure
 * (EADDRINUSE: something is bound there already); the caller unlinks a
 * path when it is done. */
static mp_status listen_unix(const addr *a, int backlog, int *out, const char *what)
{
    struct sockaddr_un sa;
    socklen_t len = mp__unix_sockaddr(a, &sa);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return mp__errno(errno, what);
    if (bind(fd, (struct sockaddr *)&sa, len) < 0 || listen(fd, backlog) < 0) {
        int e = errno;
        close(fd);
        return mp__err(e == ENOMEM ? MP_ENOMEM : MP_EOS, "%s: %s%s: %s", what,
                       a->abstract ? "@" : "", a->path, strerror(e));
    }
    *out = fd;
    return MP_OK;
}

/* A listening TCP socket on the first of a's resolved addresses that binds,
 * with SO_REUSEADDR as CPython sets it, in *out, and the address actually
 * bound (the real port for port 0) as "tcp:host:port" in bound[cap].
 * MP_EOS and no descriptor on failure. */
static mp_status listen_tcp(const addr *a, int backlog, int *out, char *bound, size_t cap,
                            const char *what)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(a->host, a->port, &hints, &res);
    if (rc != 0)
        return mp__err(MP_EOS, "%s: %s: %s", what, a->host, gai_strerror(rc));
    int fd = -1, err = 0;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            err = errno;
            continue;
        }
        int one = 1; /* CPython's SocketListener sets SO_REUSEADDR on posix */
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, backlog) < 0) {
            err = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        return mp__err(MP_EOS, "%s: tcp:%s:%s: %s", what, a->host, a->port, strerror(err));
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof host);
            port = ntohs(s6->sin6_port);
        } else {
            struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &s4->sin_addr, host, sizeof host);
            port = ntohs(s4->sin_port);
        }
    }
    snprintf(bound, cap, strchr(host, ':') ? "tcp:[%s]:%d" : "tcp:%s:%d", host, port);
    *out = fd;
    return MP_OK;
}

/* ------------------------------------------------------------ Listener */

/* Contract in mp.h.  Without an address, a Unix socket in a fresh 0700
 * directory under $TMPDIR (or /tmp) that close removes; every failure path
 * frees what was made, the socket file included. */
mp_status mp_listener_new(mp_listener **out, const char *address, int backlog, const void *authkey,
                          size_t authkey_len)
{
    static const char what[] = "Listener";
    if (!out)
        return mp__err(MP_EINVAL, "%s: out is NULL", what);
    if (!authkey && authkey_len)
        return mp__err(MP_EINVAL, "%s: NULL authkey with a nonzero length", what);
    if (backlog < 0)
        return mp__err(MP_EINVAL, "%s: negative backlog %d", what, backlog);
    addr a = {0};
    mp_status s;
    if (address && (s = mp__parse_address_abstract(address, &a, what)) != MP_OK)
        return s;
    mp_listener *l = calloc(1, sizeof *l);
    if (!l)
        return mp__err(MP_ENOMEM, "%s: out of memory", what);
    l->fd = -1;
    if (authkey_len) {
        if (!(l->key = malloc(authkey_len))) {
            free(l);
            return mp__err(MP_ENOMEM, "%s: out of memory", what);
        }
        memcpy(l->key, authkey, authkey_len);
        l->keylen = authkey_len;
    }
    char bound[320];
    if (!backlog)
        backlog = 1;
    if (a.tcp) {
        s = listen_tcp(&a, backlog, &l->fd, bound, sizeof bound, what);
    } else {
        s = MP_OK;
        if (!address) {
            const char *tmp = getenv("TMPDIR");
            char dir[96];
            if (!tmp || !*tmp || strlen(tmp) > 64)
                tmp = "/tmp";
            snprintf(dir, sizeof dir, "%s/mp-XXXXXX", tmp);
            if (!mkdtemp(dir)) /* mode 0700 */
                s = mp__errno(errno, "Listener: mkdtemp");
            else if (!(l->dir = strdup(dir))) {
                rmdir(dir);
                s = mp__err(MP_ENOMEM, "%s: out of memory", what);
            } else
                snprintf(a.path, sizeof a.path, "%s/listener", dir);
        }
        if (s == MP_OK)
            s = listen_unix(&a, backlog, &l->fd, what);
        /* An abstract name has no file: nothing to unlink at close. */
        if (s == MP_OK && !a.abstract && !(l->path = strdup(a.path)))
            s = mp__err(MP_ENOMEM, "%s: out of memory", what);
        snprintf(bound, sizeof bound, "unix:%s%s", a.abstract ? "@" : "", a.path);
    }
    if (s == MP_OK && !(l->address = strdup(bound)))
        s = mp__err(MP_ENOMEM, "%s: out of memory", what);
    if (s != MP_OK) {
        if (l->fd >= 0 && !a.tcp && !a.abstract)
            unlink(a.path);
        mp_listener_free(l);
        return s;
    }
    *out = l;
    return MP_OK;
}

static mp_status check_open(mp_listener *l, const char *what)
{
    if (!l)
        return mp__err(MP_EINVAL, "%s: listener is NULL", what);
    if (l->fd < 0)
        return mp__err(MP_CLOSED, "%s: listener is closed", what);
    return MP_OK;
}

/* Contract in mp.h.  With an authkey the listener challenges first and
 * answers second, the mirror of mp_client; a failed handshake frees the
 * connection.  A close from another thread ends accept with MP_CLOSED. */
mp_status mp_listener_accept(mp_listener *l, mp_conn **out)
{
    static const char what[] = "Listener.accept";
    mp_status s = check_open(l, what);
    if (s != MP_OK)
        return s;
    if (!out)
        return mp__err(MP_EINVAL, "%s: out is NULL", what);
    int fd;
    while ((fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC)) < 0) {
        int e = errno;
        if (e == EINTR || e == ECONNABORTED)
            continue;
        if (l->fd < 0 || e == EINVAL)
            return mp__err(MP_CLOSED, "%s: listener is closed", what);
        return mp__errno(e, what);
    }
    tune_tcp(fd); /* fails harmlessly on a Unix socket */
    mp_conn *c = mp__conn_from_fd(fd);
    if (!c) {
        close(fd);
        return mp__err(MP_ENOMEM, "%s: out of memory", what);
    }
    if (l->keylen) {
        if ((s = deliver_challenge(c, l->key, l->keylen, what)) == MP_OK)
            s = answer_challenge(c, l->key, l->keylen, what);
        if (s != MP_OK) {
            mp_conn_free(c);
            return s;
        }
    }
    *out = c;
    return MP_OK;
}

/* Contract in mp.h.  The string belongs to the listener until it is freed. */
mp_status mp_listener_address(mp_listener *l, const char **address)
{
    mp_status s = check_open(l, "Listener.address");
    if (s != MP_OK)
        return s;
    if (!address)
        return mp__err(MP_EINVAL, "Listener.address: address is NULL");
    *address = l->address;
    return MP_OK;
}

/* Contract in mp.h.  The descriptor stays the listener's. */
mp_status mp_listener_fileno(mp_listener *l, int *fd)
{
    mp_status s = check_open(l, "Listener.fileno");
    if (s != MP_OK)
        return s;
    if (!fd)
        return mp__err(MP_EINVAL, "Listener.fileno: fd is NULL");
    *fd = l->fd;
    return MP_OK;
}

/* Contract in mp.h.  Idempotent; shutdown() before close() so that an
 * accept blocked in another thread returns. */
mp_status mp_listener_close(mp_listener *l)
{
    if (!l)
        return mp__err(MP_EINVAL, "Listener.close: listener is NULL");
    if (l->fd >= 0) {
        /* shutdown wakes an accept blocked in another thread (Linux). */
        (void)shutdown(l->fd, SHUT_RDWR);
        close(l->fd);
        l->fd = -1;
    }
    if (l->path) {
        unlink(l->path);
        free(l->path);
        l->path = NULL;
    }
    if (l->dir) {
        rmdir(l->dir);
        free(l->dir);
        l->dir = NULL;
    }
    return MP_OK;
}

/* Contract in mp.h.  Closes first; the key is wiped before it is freed. */
void mp_listener_free(mp_listener *l)
{
    if (!l)
        return;
    mp_listener_close(l);
    if (l->key)
        OPENSSL_cleanse(l->key, l->keylen);
    free(l->key);
    free(l->address);
    free(l);
}

/* ------------------------------------------------------------ Client */

/* A connected, close-on-exec stream socket to a in *out: Unix at once, TCP
 * trying each resolved address in turn (with TCP_NODELAY).  EINTR is
 * retried; MP_EOS naming the address and the last error on failure, no
 * descriptor left open.  For mp_client. */
static mp_status connect_addr(const addr *a, int *out, const char *what)
{
    if (!a->tcp) {
        struct sockaddr_un sa;
        socklen_t len = mp__unix_sockaddr(a, &sa);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return mp__errno(errno, what);
        while (connect(fd, (struct sockaddr *)&sa, len) < 0) {
            int e = errno;
            if (e == EINTR)
                continue; /* a Unix connect completes or fails at once */
            close(fd);
            return mp__err(MP_EOS, "%s: unix:%s%s: %s", what, a->abstract ? "@" : "", a->path,
                           strerror(e));
        }
        *out = fd;
        return MP_OK;
    }
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(a->host, a->port, &hints, &res);
    if (rc != 0)
        return mp__err(MP_EOS, "%s: %s: %s", what, a->host, gai_strerror(rc));
    int fd = -1, err = ECONNREFUSED;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            err = errno;
            continue;
        }
        int r;
        while ((r = connect(fd, ai->ai_addr, ai->ai_addrlen)) < 0 && errno == EINTR)
            ;
        if (r < 0) {
            /* EINTR above cannot recur here: after an interrupted connect
             * the kernel goes on connecting; EISCONN/EALREADY then say so. */
            err = errno;
            if (err == EISCONN)
                break;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        return mp__err(MP_EOS, "%s: tcp:%s:%s: %s", what, a->host, a->port, strerror(err));
    tune_tcp(fd);
    *out = fd;
    return MP_OK;
}

/* Contract in mp.h.  With an authkey the client answers first and
 * challenges second, the mirror of mp_listener_accept. */
mp_status mp_client(mp_conn **out, const char *address, const void *authkey, size_t authkey_len)
{
    static const char what[] = "Client";
    if (!out || !address)
        return mp__err(MP_EINVAL, "%s: %s is NULL", what, out ? "address" : "out");
    if (!authkey && authkey_len)
        return mp__err(MP_EINVAL, "%s: NULL authkey with a nonzero length", what);
    addr a;
    mp_status s = mp__parse_address_abstract(address, &a, what);
    if (s != MP_OK)
        return s;
    int fd = -1;
    if ((s = connect_addr(&a, &fd, what)) != MP_OK)
        return s;
    mp_conn *c = mp__conn_from_fd(fd);
    if (!c) {
        close(fd);
        return mp__err(MP_ENOMEM, "%s: out of memory", what);
    }
    if (authkey) {
        if ((s = answer_challenge(c, authkey, authkey_len, what)) == MP_OK)
            s = deliver_challenge(c, authkey, authkey_len, what);
        if (s != MP_OK) {
            mp_conn_free(c);
            return s;
        }
    }
    *out = c;
    return MP_OK;
}
