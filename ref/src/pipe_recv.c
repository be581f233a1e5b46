/* pipe_recv: receiving on an end -- every read of the socket (a recvmsg()
 * with room for descriptors, which pipe_fd.c queues), the read-ahead buffer,
 * cutting CPython's frames out of it, and the recv_bytes / recv_bytes_into /
 * recv calls.  Design and the end's layout: pipe_internal.h. */
#include "pipe_internal.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

/* A large value's payload is read into a buffer kept by the end up to this
 * size: a fresh malloc per message, freed beside the decoded copy, made glibc
 * trim and re-fault 2 MiB per 1 MiB message (0.04 GB/s instead of ~2). */
#define VBUF_KEEP ((size_t)8 << 20)
/* The largest header: -1 then an 8-byte length. */
#define HDR_MAX 12

/* A receiver whose previous wait was short (its peer answers promptly, as in
 * a ping-pong) polls the socket, non-blocking and yielding the CPU between
 * tries, before it sleeps in read(2) (wait.h, mp__wait_tunings.pipe): as the
 * manager's client, for the same reason -- a sleeping receiver costs a
 * cross-CPU wake-up on every message of a round trip.  A receiver that waited
 * long (an idle worker, a blocked consumer) sleeps at once, and on one CPU
 * (affinity) nobody polls: the poller would hold the CPU its peer needs.
 * (Not polling while the machine has more runnable threads than CPUs was
 * tried for four ping-ponging pairs on two CPUs, 9% behind blocking reads:
 * under other load a stream's receiver then never polled and `make regress`
 * measured it 1.74x slower; #16.) */

/* One recvmsg() of at most n bytes into p, with room for descriptors, which
 * are queued on c (mp__conn_keep_fds): what read(2) would return, errno set on -1. */
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
            mp__conn_keep_fds(c, &m, c->rtotal);
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
            *st = mp__conn_wait_fd(fd, POLLIN, what);
            if (*st != MP_OK)
                return -1;
            continue;
        }
        *st = mp__errno(e, what);
        return -1;
    }
}

/* Contract in pipe_internal.h.  After a large message only what is asked
 * for is read (see below). */
mp_status mp__conn_fill(mp_conn *c, size_t want, const char *what)
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
    mp_status s = mp__conn_fill(c, 4, what);
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
        s = mp__conn_fill(c, HDR_MAX, what);
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

/* Start taking a frame too large for the read-ahead: skip its hlen header
 * bytes, mark the end `big` (the next header is then read on its own) and
 * copy into dst the part of its size-byte payload already read ahead.
 * Returns the bytes copied (at most RBUF_CAP). */
static size_t take_ahead(mp_conn *c, size_t hlen, size_t size, void *dst)
{
    c->rpos += hlen;
    c->big = true;
    size_t got = c->rlen - c->rpos;
    if (got > size)
        got = size;
    memcpy(dst, c->rbuf + c->rpos, got);
    c->rpos += got;
    return got;
}

/* One read of at most `room` bytes into p: the next piece of a payload of
 * `size` bytes of which *got have arrived, read straight from the socket
 * (read_some); *got grows by the count.  At the end of the stream the frame
 * is truncated (MP_EPROTO); otherwise read_some's status. */
static mp_status read_more(mp_conn *c, void *p, size_t room, size_t *got, size_t size,
                           const char *what)
{
    mp_status st = MP_OK;
    ssize_t k = read_some(c, p, room, &st, what);
    if (k < 0)
        return st;
    if (k == 0)
        return truncated(c, *got, size, what);
    *got += (size_t)k;
    return MP_OK;
}

/* Consume the frame peek_frame() found, its payload going to dst. */
static mp_status take_frame(mp_conn *c, size_t hlen, size_t size, void *dst, const char *what)
{
    if (hlen + size <= RBUF_CAP) {
        c->rpos += hlen;
        c->big = false;
        if (c->rlen - c->rpos < size) {
            mp_status s = mp__conn_fill(c, size, what);
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
    size_t got = take_ahead(c, hlen, size, dst);
    while (got < size) {
        mp_status s = read_more(c, (char *)dst + got, size - got, &got, size, what);
        if (s != MP_OK)
            return s;
    }
    return MP_OK;
}

#define GROW_FIRST ((size_t)1 << 20)

/* Grow *bufp (capacity *capp) to cap bytes.  MP_ENOMEM leaves both as
 * they were. */
static mp_status grow(char **bufp, size_t *capp, size_t cap, const char *what)
{
    char *p = realloc(*bufp, cap);
    if (!p)
        return mp__err(MP_ENOMEM, "%s: no memory for %zu bytes", what, cap);
    *bufp = p;
    *capp = cap;
    return MP_OK;
}

/* A large payload into *bufp (capacity *capp, grown with realloc as bytes
 * arrive).  A peer's header may claim up to MP_MSG_MAX: memory is committed
 * in proportion to what the peer really sends, never to what it claims. */
static mp_status take_frame_grow(mp_conn *c, size_t hlen, size_t size, char **bufp, size_t *capp,
                                 const char *what)
{
    mp_status s;
    if (*capp < size && *capp < GROW_FIRST &&
        (s = grow(bufp, capp, size < GROW_FIRST ? size : GROW_FIRST, what)) != MP_OK)
        return s;
    /* The read-ahead (<= RBUF_CAP <= *capp) always fits the first piece. */
    size_t got = take_ahead(c, hlen, size, *bufp);
    while (got < size) {
        if (got == *capp &&
            (s = grow(bufp, capp, *capp * 2 < size ? *capp * 2 : size, what)) != MP_OK)
            return s;
        if ((s = read_more(c, *bufp + got, *capp - got, &got, size, what)) != MP_OK)
            return s;
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
    mp_status s = mp__conn_check(c, true, what);
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
    mp_status s = mp__conn_check(c, true, what);
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
    mp_status s = mp__conn_check(c, true, what);
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
        s = mp__conn_fill(c, hlen + size, what);
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
