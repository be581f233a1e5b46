/* pipe: Pipe()/Connection over an AF_UNIX stream socketpair.
 *
 * Why a socketpair for both modes (measured parent->child across fork, see the
 * README): 1 MiB messages run at ~6-8 GB/s against ~3 GB/s for a pipe even with
 * F_SETPIPE_SZ = 1 MiB; small messages are on a par; and send(MSG_NOSIGNAL)
 * keeps SIGPIPE away without two sigprocmask calls per write, which halved the
 * small-message rate of a pipe.  One-way ends are enforced by the handle's
 * flags, as CPython's _readable/_writable.
 *
 * Framing is CPython's, so the bytes on the wire are those of
 * multiprocessing.connection.Connection: "!i" length, or -1 and a "!Q" length.
 *
 * Receiving reads ahead into a per-end buffer so that a small message costs one
 * read(2); a message that does not fit the buffer is read straight into its
 * destination, and after such a message the next header is read on its own, so
 * a stream of large messages costs no extra copy.
 *
 * Descriptors (mp_conn_send_fd/recv_fd, CPython's reduction.send_handle):
 * one byte on the stream carrying SCM_RIGHTS.  A plain read(2) of that byte
 * would make the kernel close the descriptors, and the read-ahead may reach
 * it during any receive, so every read of the socket is a recvmsg() with
 * room for ancillary data; descriptors that arrive are queued on the end
 * with the stream offset just past the read that brought them (the kernel
 * ends a read at the segment that carries descriptors, so the marker byte
 * is the last byte of that read) and wait there for recv_fd; close closes
 * any still queued. */
#include "mp_internal.h"
#include "wait.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <fcntl.h>
#include <unistd.h>

#define RBUF_CAP ((size_t)64 << 10)
/* A large value's payload is read into a buffer kept by the end up to this
 * size: a fresh malloc per message, freed beside the decoded copy, made glibc
 * trim and re-fault 2 MiB per 1 MiB message (0.04 GB/s instead of ~2). */
#define VBUF_KEEP ((size_t)8 << 20)
/* The largest header: -1 then an 8-byte length. */
#define HDR_MAX 12
/* Raised from the default ~208 KiB: large messages then move in fewer,
 * bigger chunks (1 MiB: ~7.7 vs ~5 GB/s).  The kernel caps it at wmem_max. */
#define SNDBUF_WANT (1 << 20)

/* A receiver whose previous wait was short (its peer answers promptly, as in
 * a ping-pong) polls the socket, non-blocking and yielding the CPU between
 * tries, before it sleeps in read(2) (wait.h, mp__wait_tunings.pipe): as the
 * manager's client, for the same reason -- a sleeping receiver costs a
 * cross-CPU wake-up on every message of a round trip.  A receiver that waited
 * long (an idle worker, a blocked consumer) sleeps at once, and on one CPU
 * (affinity) nobody polls: the poller would hold the CPU its peer needs. */

struct mp_conn {
    int fd;           /* -1 once closed */
    mp__spinner wait; /* the previous receive's wait gates the next poll */
    bool readable;
    bool writable;
    bool broken; /* a bad header desynchronised the stream */
    bool big;    /* the last message did not fit rbuf */
    char *rbuf;  /* read-ahead, allocated by the first receive */
    size_t rpos; /* unread bytes are rbuf[rpos, rlen) */
    size_t rlen;
    char *vbuf; /* payload of a large value being decoded, kept */
    size_t vcap;
    uint64_t rtotal; /* bytes received from the socket so far */
    struct pfd *fds; /* descriptors received, not yet taken: [fhead, flen) */
    size_t fhead, flen, fcap;
};

/* A received descriptor and the stream offset just past the read that
 * brought it (its marker byte is the byte before `end`). */
struct pfd {
    uint64_t end;
    int fd;
};

/* SCM_MAX_FD: the most descriptors one message can carry on Linux. */
#define FDS_MAX 253

/* ------------------------------------------------------------ checks */

/* The checks every call on an end makes first: MP_EINVAL for NULL,
 * MP_CLOSED for a closed handle, MP_EACCES for the wrong direction
 * (want_read: a receive).  Changes nothing. */
static mp_status check_end(mp_conn *c, bool want_read, const char *what)
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

/* Wait until fd is ready for `events` (a caller set O_NONBLOCK through
 * fileno(): the calls still block, as documented). */
static mp_status wait_fd(int fd, short events, const char *what)
{
    struct pollfd p = {.fd = fd, .events = events};
    while (poll(&p, 1, -1) < 0)
        if (errno != EINTR)
            return mp__errno(errno, what);
    return MP_OK;
}

/* ------------------------------------------------------------ sending */

/* Send n bytes of buf as one frame (a 4-byte big-endian length, then the
 * payload) with as few sendmsg() calls as the socket allows, resuming after
 * a short write or EINTR and blocking in poll() on a non-blocking
 * descriptor.  MP_EMSGSIZE before anything is written, MP_EOF when the peer
 * has closed (no SIGPIPE).  A failure part-way leaves a partial frame on
 * the stream. */
static mp_status send_frame(mp_conn *c, const void *buf, size_t n, const char *what)
{
    if (n > MP_MSG_MAX)
        return mp__err(MP_EMSGSIZE, "%s: message of %zu bytes exceeds MP_MSG_MAX (%zu)", what, n,
                       MP_MSG_MAX);
    uint32_t hdr = htonl((uint32_t)n); /* n <= 2^30: the short form suffices */
    struct iovec iov[2] = {{&hdr, sizeof hdr}, {(void *)buf, n}};
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = n ? 2 : 1};
    size_t left = sizeof hdr + n;
    for (;;) {
        ssize_t k = sendmsg(c->fd, &m, MSG_NOSIGNAL);
        if (k < 0) {
            int e = errno;
            if (e == EINTR)
                continue;
            if (e == EAGAIN || e == EWOULDBLOCK) {
                mp_status s = wait_fd(c->fd, POLLOUT, what);
                if (s != MP_OK)
                    return s;
                continue;
            }
            if (e == EPIPE || e == ECONNRESET)
                return mp__err(MP_EOF, "%s: the peer end is closed (broken pipe)", what);
            return mp__errno(e, what);
        }
        left -= (size_t)k;
        if (left == 0)
            return MP_OK;
        /* A signal or a full socket buffer cut the write short: go on from
         * where it stopped. */
        size_t done = (size_t)k;
        while (done >= m.msg_iov->iov_len) {
            done -= m.msg_iov->iov_len;
            m.msg_iov++;
            m.msg_iovlen--;
        }
        m.msg_iov->iov_base = (char *)m.msg_iov->iov_base + done;
        m.msg_iov->iov_len -= done;
    }
}

/* Contract in mp.h. */
mp_status mp_conn_send_bytes(mp_conn *c, const void *buf, size_t len)
{
    mp_status s = check_end(c, false, "conn.send_bytes");
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
    mp_status s = check_end(c, false, "conn.send_bytes");
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
    mp_status s = check_end(c, false, "conn.send");
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

/* ------------------------------------------------------------ receiving */

/* Queue the descriptors of every SCM_RIGHTS in m on c, stamped with the
 * stream offset `end`.  A descriptor that cannot be queued (no memory) is
 * closed: it is lost, never leaked. */
static void keep_fds(mp_conn *c, struct msghdr *m, uint64_t end)
{
    for (struct cmsghdr *h = CMSG_FIRSTHDR(m); h; h = CMSG_NXTHDR(m, h)) {
        if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
            continue;
        size_t n = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        const unsigned char *d = CMSG_DATA(h);
        for (size_t i = 0; i < n; i++) {
            int fd;
            memcpy(&fd, d + i * sizeof fd, sizeof fd);
            if (c->flen == c->fcap && c->fhead > 0) {
                memmove(c->fds, c->fds + c->fhead, (c->flen - c->fhead) * sizeof *c->fds);
                c->flen -= c->fhead;
                c->fhead = 0;
            }
            if (c->flen == c->fcap) {
                size_t cap = c->fcap ? c->fcap * 2 : 4;
                struct pfd *p = realloc(c->fds, cap * sizeof *p);
                if (!p) {
                    close(fd);
                    continue;
                }
                c->fds = p;
                c->fcap = cap;
            }
            c->fds[c->flen++] = (struct pfd){.end = end, .fd = fd};
        }
    }
}

/* One recvmsg() of at most n bytes into p, with room for descriptors, which
 * are queued on c (keep_fds): what read(2) would return, errno set on -1. */
static ssize_t sock_read(mp_conn *c, void *p, size_t n, int flags)
{
    union {
        char buf[CMSG_SPACE(FDS_MAX * sizeof(int))];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = {p, n};
    struct msghdr m = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
    ssize_t k = recvmsg(c->fd, &m, flags | MSG_CMSG_CLOEXEC);
    if (k > 0) {
        c->rtotal += (uint64_t)k;
        if (m.msg_controllen > 0)
            keep_fds(c, &m, c->rtotal);
    }
    return k;
}

/* The spinner's non-blocking try (mp__recv_ready through sock_read). */
struct sock_try {
    mp_conn *c;
    void *buf;
    size_t n;
    ssize_t r;
};

static bool sock_ready(void *arg)
{
    struct sock_try *a = arg;
    a->r = sock_read(a->c, a->buf, a->n, MSG_DONTWAIT);
    return a->r >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
}

/* One read of at most n bytes into p (sock_read): the count, 0 at EOF, or -1
 * with the status in *st.  ECONNRESET is how an AF_UNIX socket reports, once, that the
 * peer closed with data of ours unread: for us it is the end of the stream.
 * Polls briefly first when the peer has been answering promptly. */
static ssize_t read_some(mp_conn *c, void *p, size_t n, mp_status *st, const char *what)
{
    int fd = c->fd;
    struct sock_try a = {.c = c, .buf = p, .n = n};
    c->wait.off = !mp__cpus_many();
    if (mp__spin_until(&c->wait, &mp__wait_tunings.pipe, sock_ready, &a) && a.r >= 0)
        return a.r;
    for (;;) {
        ssize_t k = sock_read(c, p, n, 0);
        if (k >= 0) {
            mp__spin_slept(&c->wait);
            return k;
        }
        int e = errno;
        if (e == EINTR)
            continue;
        if (e == ECONNRESET)
            return 0;
        if (e == EAGAIN || e == EWOULDBLOCK) {
            *st = wait_fd(fd, POLLIN, what);
            if (*st != MP_OK)
                return -1;
            continue;
        }
        *st = mp__errno(e, what);
        return -1;
    }
}

/* Make rbuf hold at least `want` (<= RBUF_CAP) unread bytes.  MP_EOF when the
 * stream ends first (the bytes already there stay). */
static mp_status fill(mp_conn *c, size_t want, const char *what)
{
    if (!c->rbuf) {
        c->rbuf = malloc(RBUF_CAP);
        if (!c->rbuf)
            return mp__err(MP_ENOMEM, "%s: no memory for the receive buffer", what);
        c->rpos = c->rlen = 0;
    }
    size_t have = c->rlen - c->rpos;
    if (have >= want)
        return MP_OK;
    if (c->rpos + want > RBUF_CAP) {
        memmove(c->rbuf, c->rbuf + c->rpos, have);
        c->rpos = 0;
        c->rlen = have;
    }
    while (c->rlen - c->rpos < want) {
        /* After a large message, read only what is asked for: reading ahead
         * would copy the next large payload twice. */
        size_t room = c->big ? want - (c->rlen - c->rpos) : RBUF_CAP - c->rlen;
        mp_status st = MP_OK;
        ssize_t k = read_some(c, c->rbuf + c->rlen, room, &st, what);
        if (k < 0)
            return st;
        if (k == 0)
            return MP_EOF;
        c->rlen += (size_t)k;
    }
    return MP_OK;
}

static mp_status truncated(mp_conn *c, size_t got, size_t want, const char *what)
{
    /* What was read of the frame is useless; the stream is at EOF, so the
     * next receive reports MP_EOF, as CPython's next recv raises EOFError. */
    c->rpos = c->rlen = 0;
    return mp__err(MP_EPROTO, "%s: got end of file during message (%zu of %zu bytes)", what, got,
                   want);
}

/* Look at the next frame without consuming it: *hlen header bytes, then a
 * payload of *size bytes.  The header is in rbuf afterwards. */
static mp_status peek_frame(mp_conn *c, size_t *hlen, size_t *size, const char *what)
{
    if (c->broken)
        return mp__err(MP_EPROTO, "%s: stream unusable after a bad message header", what);
    mp_status s = fill(c, 4, what);
    if (s == MP_EOF) {
        size_t have = c->rlen - c->rpos;
        if (have == 0)
            return mp__err(MP_EOF, "%s: end of file (the peer end is closed)", what);
        return truncated(c, have, 4, what);
    }
    if (s != MP_OK)
        return s;
    const unsigned char *h = (const unsigned char *)c->rbuf + c->rpos;
    int32_t n = (int32_t)(((uint32_t)h[0] << 24) | ((uint32_t)h[1] << 16) | ((uint32_t)h[2] << 8) |
                          h[3]);
    uint64_t len;
    if (n == -1) {
        s = fill(c, HDR_MAX, what);
        if (s == MP_EOF)
            return truncated(c, c->rlen - c->rpos, HDR_MAX, what);
        if (s != MP_OK)
            return s;
        h = (const unsigned char *)c->rbuf + c->rpos;
        len = 0;
        for (int i = 4; i < HDR_MAX; i++)
            len = (len << 8) | h[i];
        *hlen = HDR_MAX;
    } else if (n < 0) {
        c->broken = true;
        return mp__err(MP_EPROTO, "%s: negative message length %d in header", what, (int)n);
    } else {
        len = (uint64_t)n;
        *hlen = 4;
    }
    /* Never trust a peer's length: bounding it here is what keeps a corrupt
     * or hostile header from turning into a giant malloc. */
    if (len > MP_MSG_MAX) {
        c->broken = true;
        return mp__err(MP_EPROTO, "%s: header claims %llu bytes, more than MP_MSG_MAX", what,
                       (unsigned long long)len);
    }
    *size = (size_t)len;
    return MP_OK;
}

/* Consume the frame peek_frame() found, its payload going to dst. */
static mp_status take_frame(mp_conn *c, size_t hlen, size_t size, void *dst, const char *what)
{
    c->rpos += hlen;
    size_t have = c->rlen - c->rpos;
    if (hlen + size <= RBUF_CAP) {
        c->big = false;
        if (have < size) {
            mp_status s = fill(c, size, what);
            if (s == MP_EOF)
                return truncated(c, c->rlen - c->rpos, size, what);
            if (s != MP_OK)
                return s;
        }
        if (size) /* dst may be NULL for an empty message */
            memcpy(dst, c->rbuf + c->rpos, size);
        c->rpos += size;
        return MP_OK;
    }
    c->big = true;
    if (have > size)
        have = size;
    memcpy(dst, c->rbuf + c->rpos, have);
    c->rpos += have;
    for (size_t got = have; got < size;) {
        mp_status st = MP_OK;
        ssize_t k = read_some(c, (char *)dst + got, size - got, &st, what);
        if (k < 0)
            return st;
        if (k == 0)
            return truncated(c, got, size, what);
        got += (size_t)k;
    }
    return MP_OK;
}

#define GROW_FIRST ((size_t)1 << 20)

/* A large payload into *bufp (capacity *capp, grown with realloc as bytes
 * arrive).  A peer's header may claim up to MP_MSG_MAX: memory is committed
 * in proportion to what the peer really sends, never to what it claims. */
static mp_status take_frame_grow(mp_conn *c, size_t hlen, size_t size, char **bufp, size_t *capp,
                                 const char *what)
{
    if (*capp < size && *capp < GROW_FIRST) {
        size_t cap = size < GROW_FIRST ? size : GROW_FIRST;
        char *p = realloc(*bufp, cap);
        if (!p)
            return mp__err(MP_ENOMEM, "%s: no memory for %zu bytes", what, cap);
        *bufp = p;
        *capp = cap;
    }
    c->rpos += hlen;
    c->big = true;
    size_t got = c->rlen - c->rpos;
    if (got > size)
        got = size;
    /* got <= RBUF_CAP <= *capp: the read-ahead always fits the first piece. */
    memcpy(*bufp, c->rbuf + c->rpos, got);
    c->rpos += got;
    while (got < size) {
        if (got == *capp) {
            size_t cap = *capp * 2 < size ? *capp * 2 : size;
            char *p = realloc(*bufp, cap);
            if (!p)
                return mp__err(MP_ENOMEM, "%s: no memory for %zu bytes", what, cap);
            *bufp = p;
            *capp = cap;
        }
        mp_status st = MP_OK;
        ssize_t k = read_some(c, *bufp + got, *capp - got, &st, what);
        if (k < 0)
            return st;
        if (k == 0)
            return truncated(c, got, size, what);
        got += (size_t)k;
    }
    return MP_OK;
}

/* CPython's _bad_message_length: the header is gone, so the stream cannot be
 * read any more; a duplex end keeps sending, a receive-only end is closed. */
static mp_status bad_length(mp_conn *c, size_t size, size_t max, const char *what)
{
    if (c->writable)
        c->readable = false;
    else
        mp_conn_close(c);
    return mp__err(MP_EMSGSIZE, "%s: bad message length (%zu bytes, maxlength %zu)", what, size,
                   max);
}

/* Contract in mp.h.  A message that fits the read-ahead is copied once from
 * it; a larger one grows its buffer as the bytes arrive (take_frame_grow). */
mp_status mp_conn_recv_bytes(mp_conn *c, void **buf, size_t *len, size_t maxlength)
{
    static const char what[] = "conn.recv_bytes";
    mp_status s = check_end(c, true, what);
    if (s != MP_OK)
        return s;
    if (!buf || !len)
        return mp__err(MP_EINVAL, "%s: output pointer is NULL", what);
    size_t hlen, size;
    if ((s = peek_frame(c, &hlen, &size, what)) != MP_OK)
        return s;
    if (maxlength && size > maxlength) {
        c->rpos += hlen;
        return bad_length(c, size, maxlength, what);
    }
    char *out = NULL;
    if (hlen + size <= RBUF_CAP) {
        if (!(out = malloc(size ? size : 1)))
            return mp__err(MP_ENOMEM, "%s: no memory for %zu bytes", what, size);
        s = take_frame(c, hlen, size, out, what);
    } else {
        size_t cap = 0;
        s = take_frame_grow(c, hlen, size, &out, &cap, what);
    }
    if (s != MP_OK) {
        free(out);
        return s;
    }
    *buf = out;
    *len = size;
    return MP_OK;
}

/* Contract in mp.h.  A message too long for the buffer is left unread, its
 * size in *len, so that the caller can retry with a larger buffer. */
mp_status mp_conn_recv_bytes_into(mp_conn *c, void *buf, size_t buflen, size_t offset, size_t *len)
{
    static const char what[] = "conn.recv_bytes_into";
    mp_status s = check_end(c, true, what);
    if (s != MP_OK)
        return s;
    if (!len || (!buf && buflen))
        return mp__err(MP_EINVAL, "%s: %s is NULL", what, len ? "buffer" : "len");
    if (offset > buflen)
        return mp__err(MP_EINVAL, "%s: offset too large", what);
    size_t hlen, size;
    if ((s = peek_frame(c, &hlen, &size, what)) != MP_OK)
        return s;
    if (size > buflen - offset) {
        /* The header stays unconsumed in rbuf: the message is kept. */
        *len = size;
        return mp__err(MP_EMSGSIZE, "%s: buffer too short (%zu bytes free, message %zu)", what,
                       buflen - offset, size);
    }
    if ((s = take_frame(c, hlen, size, buf ? (char *)buf + offset : buf, what)) != MP_OK)
        return s;
    *len = size;
    return MP_OK;
}

/* Contract in mp.h.  Decodes in place from the read-ahead when the message
 * fits it; a large message's buffer (vbuf) is kept for the next one unless
 * it grew past VBUF_KEEP. */
mp_status mp_conn_recv(mp_conn *c, mp_value **out)
{
    static const char what[] = "conn.recv";
    mp_status s = check_end(c, true, what);
    if (s != MP_OK)
        return s;
    if (!out)
        return mp__err(MP_EINVAL, "%s: output pointer is NULL", what);
    size_t hlen, size;
    if ((s = peek_frame(c, &hlen, &size, what)) != MP_OK)
        return s;
    if (hlen + size <= RBUF_CAP) {
        /* Decode in place: no copy, no allocation for the payload. */
        c->big = false;
        s = fill(c, hlen + size, what);
        if (s == MP_EOF)
            return truncated(c, c->rlen - c->rpos - hlen, size, what);
        if (s != MP_OK)
            return s;
        const char *p = c->rbuf + c->rpos + hlen;
        c->rpos += hlen + size;
        return mp_value_decode(p, size, out);
    }
    s = take_frame_grow(c, hlen, size, &c->vbuf, &c->vcap, what);
    if (s == MP_OK)
        s = mp_value_decode(c->vbuf, size, out);
    if (c->vcap > VBUF_KEEP) {
        free(c->vbuf);
        c->vbuf = NULL;
        c->vcap = 0;
    }
    return s;
}

/* ------------------------------------------------------------ descriptors */

/* MP_OK when c's descriptor is a Unix socket, which can carry descriptors;
 * MP_ENOTSUP otherwise (TCP, or a descriptor a caller replaced). */
static mp_status fd_capable(mp_conn *c, const char *what)
{
    int dom = 0;
    socklen_t len = sizeof dom;
    if (getsockopt(c->fd, SOL_SOCKET, SO_DOMAIN, &dom, &len) < 0 || dom != AF_UNIX)
        return mp__err(MP_ENOTSUP, "%s: this end cannot carry descriptors (not a Unix socket)",
                       what);
    return MP_OK;
}

/* Contract in mp.h.  CPython's sendfds: one byte, len(fds) % 256, with the
 * descriptor as SCM_RIGHTS, no acknowledgement (Linux).  The byte goes out
 * in a sendmsg() of its own, so the kernel keeps it a segment of its own. */
mp_status mp_conn_send_fd(mp_conn *c, int fd)
{
    static const char what[] = "conn.send_fd";
    mp_status s = check_end(c, false, what);
    if (s != MP_OK)
        return s;
    if (fd < 0 || fcntl(fd, F_GETFD) < 0)
        return mp__err(MP_EINVAL, "%s: %d is not an open descriptor", what, fd);
    if ((s = fd_capable(c, what)) != MP_OK)
        return s;
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    unsigned char one = 1;
    struct iovec iov = {&one, 1};
    struct msghdr m = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
    struct cmsghdr *h = CMSG_FIRSTHDR(&m);
    h->cmsg_level = SOL_SOCKET;
    h->cmsg_type = SCM_RIGHTS;
    h->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(h), &fd, sizeof fd);
    for (;;) {
        ssize_t k = sendmsg(c->fd, &m, MSG_NOSIGNAL);
        if (k == 1)
            return MP_OK;
        int e = k < 0 ? errno : EIO;
        if (e == EINTR)
            continue;
        if (e == EAGAIN || e == EWOULDBLOCK) {
            if ((s = wait_fd(c->fd, POLLOUT, what)) != MP_OK)
                return s;
            continue;
        }
        if (e == EPIPE || e == ECONNRESET)
            return mp__err(MP_EOF, "%s: the peer end is closed (broken pipe)", what);
        return mp__errno(e, what);
    }
}

/* Close and drop the queued descriptors whose marker byte lies before
 * stream offset `pos` (they came with bytes an ordinary receive took). */
static void drop_stale_fds(mp_conn *c, uint64_t pos)
{
    while (c->fhead < c->flen && c->fds[c->fhead].end <= pos)
        close(c->fds[c->fhead++].fd);
}

/* Contract in mp.h.  The next byte of the stream is the marker: it is taken
 * from the read-ahead like any byte, and the descriptors that came with it
 * are those queued with end == its offset + 1. */
mp_status mp_conn_recv_fd(mp_conn *c, int *fd)
{
    static const char what[] = "conn.recv_fd";
    mp_status s = check_end(c, true, what);
    if (s != MP_OK)
        return s;
    if (!fd)
        return mp__err(MP_EINVAL, "%s: output pointer is NULL", what);
    if ((s = fd_capable(c, what)) != MP_OK)
        return s;
    if (c->broken)
        return mp__err(MP_EPROTO, "%s: stream unusable after a bad message header", what);
    s = fill(c, 1, what);
    if (s == MP_EOF)
        return mp__err(MP_EOF, "%s: end of file (the peer end is closed)", what);
    if (s != MP_OK)
        return s;
    uint64_t pos = c->rtotal - (c->rlen - c->rpos); /* the marker's offset */
    unsigned char marker = (unsigned char)c->rbuf[c->rpos++];
    drop_stale_fds(c, pos);
    size_t n = 0;
    while (c->fhead + n < c->flen && c->fds[c->fhead + n].end == pos + 1)
        n++;
    if (n == 1 && marker == 1) {
        *fd = c->fds[c->fhead++].fd;
        return MP_OK;
    }
    drop_stale_fds(c, pos + 1);
    if (n == 0)
        return mp__err(MP_EPROTO, "%s: a byte without a descriptor arrived", what);
    return mp__err(MP_EPROTO, "%s: %zu descriptors with marker %u, want 1 with marker 1", what, n,
                   (unsigned)marker);
}

/* ------------------------------------------------------------ the rest */

/* Contract in mp.h.  Bytes already read ahead, or a broken stream, answer
 * at once without a system call. */
mp_status mp_conn_poll(mp_conn *c, double timeout)
{
    mp_status s = check_end(c, true, "conn.poll");
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
    for (size_t i = c->fhead; i < c->flen; i++)
        close(c->fds[i].fd);
    free(c->fds);
    c->fds = NULL;
    c->fhead = c->flen = c->fcap = 0;
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
    mp_status s = check_end(c, true, "connection.wait");
    if (s != MP_OK)
        return s;
    *fd = c->fd;
    *pending = c->broken || c->rlen > c->rpos;
    return MP_OK;
}

/* Contract in mp.h.  One socketpair in both modes; a one-way pipe only
 * marks its ends receive-only and send-only (check_end enforces it). */
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
