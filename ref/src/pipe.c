/* pipe: an end of a Pipe()/Connection over an AF_UNIX stream socket --
 * making one, the checks every call makes, sending, poll, fileno, close.
 * Receiving is pipe_recv.c, descriptors pipe_fd.c; the design (why a
 * socketpair, CPython's framing, the read-ahead, descriptors on the stream)
 * and the end's layout are in pipe_internal.h. */
#include "pipe_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

/* Raised from the default ~208 KiB: large messages then move in fewer,
 * bigger chunks (1 MiB: ~7.7 vs ~5 GB/s).  The kernel caps it at wmem_max. */
#define SNDBUF_WANT (1 << 20)

/* ------------------------------------------------------------ checks */

/* Contract in pipe_internal.h. */
mp_status mp__conn_check(mp_conn *c, bool want_read, const char *what)
{
    if (!c)
        return mp__err(MP_EINVAL, "%s: connection is NULL", what);
    if (c->fd < 0)
        return mp__err(MP_CLOSED, "%s: handle is closed", what);
    if (want_read && !c->readable)
        return mp__err(MP_EACCES, "%s: connection is write-only", what);
    if (!want_read && !c->writable)
        return mp__err(MP_EACCES, "%s: connection is read-only", what);
    return MP_OK;
}

/* Contract in pipe_internal.h. */
mp_status mp__conn_wait_fd(int fd, short events, const char *what)
{
    struct pollfd p = {.fd = fd, .events = events};
    while (poll(&p, 1, -1) < 0)
        if (errno != EINTR)
            return mp__errno(errno, what);
    return MP_OK;
}

/* ------------------------------------------------------------ sending */

/* Contract in pipe_internal.h.  A write cut short by a signal or a full
 * socket buffer goes on from where it stopped; a write of nothing (which a
 * stream socket never returns for a non-empty message) is MP_EOS rather than
 * a loop that could spin. */
mp_status mp__conn_sendmsg(mp_conn *c, struct msghdr *m, const char *what)
{
    size_t left = 0;
    for (size_t i = 0; i < m->msg_iovlen; i++)
        left += m->msg_iov[i].iov_len;
    for (;;) {
        ssize_t k = sendmsg(c->fd, m, MSG_NOSIGNAL);
        if (k < 0) {
            int e = errno;
            if (e == EINTR)
                continue;
            if (e == EAGAIN || e == EWOULDBLOCK) {
                mp_status s = mp__conn_wait_fd(c->fd, POLLOUT, what);
                if (s != MP_OK)
                    return s;
                continue;
            }
            if (e == EPIPE || e == ECONNRESET)
                return mp__err(MP_EOF, "%s: the peer end is closed (broken pipe)", what);
            return mp__errno(e, what);
        }
        if (k == 0)
            return mp__errno(EIO, what);
        left -= (size_t)k;
        if (left == 0)
            return MP_OK;
        /* The ancillary data went with the bytes already sent. */
        m->msg_control = NULL;
        m->msg_controllen = 0;
        size_t done = (size_t)k;
        while (done >= m->msg_iov->iov_len) {
            done -= m->msg_iov->iov_len;
            m->msg_iov++;
            m->msg_iovlen--;
        }
        m->msg_iov->iov_base = (char *)m->msg_iov->iov_base + done;
        m->msg_iov->iov_len -= done;
    }
}

/* Send n bytes of buf as one frame (a 4-byte big-endian length, then the
 * payload) with as few sendmsg() calls as the socket allows
 * (mp__conn_sendmsg).  MP_EMSGSIZE before anything is written, MP_EOF when
 * the peer has closed (no SIGPIPE).  A failure part-way leaves a partial
 * frame on the stream. */
static mp_status send_frame(mp_conn *c, const void *buf, size_t n, const char *what)
{
    if (n > MP_MSG_MAX)
        return mp__err(MP_EMSGSIZE, "%s: message of %zu bytes exceeds MP_MSG_MAX (%zu)", what, n,
                       MP_MSG_MAX);
    uint32_t hdr = htonl((uint32_t)n); /* n <= 2^30: the short form suffices */
    struct iovec iov[2] = {{&hdr, sizeof hdr}, {(void *)buf, n}};
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = n ? 2 : 1};
    return mp__conn_sendmsg(c, &m, what);
}

/* Contract in mp.h. */
mp_status mp_conn_send_bytes(mp_conn *c, const void *buf, size_t len)
{
    mp_status s = mp__conn_check(c, false, "conn.send_bytes");
    if (s != MP_OK)
        return s;
    if (!buf && len)
        return mp__err(MP_EINVAL, "conn.send_bytes: buffer is NULL");
    return send_frame(c, buf, len, "conn.send_bytes");
}

/* Contract in mp.h.  offset and size are checked against buflen without
 * overflow (size is compared with buflen - offset). */
mp_status mp_conn_send_bytes_range(mp_conn *c, const void *buf, size_t buflen, size_t offset,
                                   size_t size)
{
    mp_status s = mp__conn_check(c, false, "conn.send_bytes");
    if (s != MP_OK)
        return s;
    if (!buf && buflen)
        return mp__err(MP_EINVAL, "conn.send_bytes: buffer is NULL");
    if (offset > buflen)
        return mp__err(MP_EINVAL, "conn.send_bytes: buffer length < offset");
    if (size > buflen - offset)
        return mp__err(MP_EINVAL, "conn.send_bytes: buffer length < offset + size");
    return send_frame(c, buf ? (const char *)buf + offset : buf, size, "conn.send_bytes");
}

/* Contract in mp.h.  Encodes whole first: a value that does not encode
 * writes nothing. */
mp_status mp_conn_send(mp_conn *c, const mp_value *v)
{
    mp_status s = mp__conn_check(c, false, "conn.send");
    if (s != MP_OK)
        return s;
    if (!v)
        return mp__err(MP_EINVAL, "conn.send: value is NULL");
    void *buf = NULL;
    size_t len = 0;
    s = mp_value_encode(v, &buf, &len);
    if (s != MP_OK)
        return s;
    s = send_frame(c, buf, len, "conn.send");
    free(buf);
    return s;
}

/* ------------------------------------------------------------ the rest */

/* Contract in mp.h.  Bytes already read ahead, or a broken stream, answer
 * at once without a system call. */
mp_status mp_conn_poll(mp_conn *c, double timeout)
{
    mp_status s = mp__conn_check(c, true, "conn.poll");
    if (s != MP_OK)
        return s;
    mp__deadline d;
    if ((s = mp__deadline_init(&d, timeout)) != MP_OK)
        return s;
    if (c->rlen > c->rpos || c->broken)
        return MP_OK;
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    for (;;) {
        struct timespec ts;
        bool left = mp__deadline_remaining(&d, &ts);
        int r = ppoll(&p, 1, d.forever ? NULL : left ? &ts : &(struct timespec){0, 0}, NULL);
        if (r > 0)
            return MP_OK; /* POLLIN, POLLHUP (EOF) or POLLERR: recv won't block */
        if (r < 0 && errno != EINTR)
            return mp__errno(errno, "conn.poll");
        if (!left)
            return mp__err(MP_TIMEOUT, "conn.poll: nothing to receive after %.3f s",
                           timeout > 0 ? timeout : 0.0);
    }
}

/* Contract in mp.h. */
mp_status mp_conn_fileno(mp_conn *c, int *fd)
{
    if (!c || !fd)
        return mp__err(MP_EINVAL, "conn.fileno: %s is NULL", c ? "fd" : "connection");
    if (c->fd < 0)
        return mp__err(MP_CLOSED, "conn.fileno: handle is closed");
    *fd = c->fd;
    return MP_OK;
}

/* Contract in mp.h.  Idempotent; frees the buffers and closes descriptors
 * received but not taken, so a closed end holds no memory but the struct. */
mp_status mp_conn_close(mp_conn *c)
{
    if (!c)
        return mp__err(MP_EINVAL, "conn.close: connection is NULL");
    if (c->fd >= 0) {
        /* Not retried on EINTR: on Linux the descriptor is gone either way. */
        close(c->fd);
        c->fd = -1;
    }
    mp__conn_drop_fds(c);
    free(c->rbuf);
    free(c->vbuf);
    c->rbuf = c->vbuf = NULL;
    c->rpos = c->rlen = c->vcap = 0;
    return MP_OK;
}

void mp_conn_free(mp_conn *c)
{
    if (!c)
        return;
    mp_conn_close(c);
    free(c);
}

/* A new end around fd with the given directions (NULL when out of memory;
 * fd stays the caller's).  A writable end asks for a larger send buffer,
 * best effort.  For mp_pipe and mp__conn_from_fd. */
static mp_conn *conn_new(int fd, bool readable, bool writable)
{
    mp_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->fd = fd;
    c->readable = readable;
    c->writable = writable;
    if (writable) {
        int sz = SNDBUF_WANT; /* best effort: the default still works */
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    }
    return c;
}

/* For connection.c and listener.c: a duplex end around a connected socket
 * (NULL when out of memory; fd is then still the caller's). */
mp_conn *mp__conn_from_fd(int fd) { return conn_new(fd, true, true); }

/* For wait(): the checks of a receive (closed, send-only), the descriptor,
 * and whether a receive would return without reading the socket (bytes read
 * ahead, or a broken stream). */
mp_status mp__conn_wait_check(mp_conn *c, int *fd, bool *pending)
{
    mp_status s = mp__conn_check(c, true, "connection.wait");
    if (s != MP_OK)
        return s;
    *fd = c->fd;
    *pending = c->broken || c->rlen > c->rpos;
    return MP_OK;
}

/* Contract in mp.h.  One socketpair in both modes; a one-way pipe only
 * marks its ends receive-only and send-only (mp__conn_check enforces it). */
mp_status mp_pipe(mp_conn **a, mp_conn **b, bool duplex)
{
    if (!a || !b)
        return mp__err(MP_EINVAL, "Pipe: output pointer is NULL");
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
        return mp__errno(errno, "Pipe: socketpair");
    mp_conn *ca = conn_new(fds[0], true, duplex);
    mp_conn *cb = conn_new(fds[1], duplex, true);
    if (!ca || !cb) {
        free(ca);
        free(cb);
        close(fds[0]);
        close(fds[1]);
        return mp__err(MP_ENOMEM, "Pipe: out of memory");
    }
    *a = ca;
    *b = cb;
    return MP_OK;
}
