/* pipe_fd: descriptors passed over an end, as CPython's send_handle /
 * recv_handle do: one marker byte on the stream carrying SCM_RIGHTS.  Owns
 * the end's queue of descriptors that arrived (filled by every read of
 * pipe_recv.c, emptied by recv_fd and close).  Why every read is a recvmsg()
 * and how a descriptor is matched to its byte: pipe_internal.h. */
#include "pipe_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

/* ------------------------------------------------------------ the queue */

/* Contract in pipe_internal.h. */
void mp__conn_keep_fds(mp_conn *c, struct msghdr *m, uint64_t end)
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

/* Contract in pipe_internal.h.  For mp_conn_close. */
void mp__conn_drop_fds(mp_conn *c)
{
    for (size_t i = c->fhead; i < c->flen; i++)
        close(c->fds[i].fd);
    free(c->fds);
    c->fds = NULL;
    c->fhead = c->flen = c->fcap = 0;
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
    mp_status s = mp__conn_check(c, false, what);
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
    return mp__conn_sendmsg(c, &m, what);
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
    mp_status s = mp__conn_check(c, true, what);
    if (s != MP_OK)
        return s;
    if (!fd)
        return mp__err(MP_EINVAL, "%s: output pointer is NULL", what);
    if ((s = fd_capable(c, what)) != MP_OK)
        return s;
    if (c->broken)
        return mp__err(MP_EPROTO, "%s: stream unusable after a bad message header", what);
    s = mp__conn_fill(c, 1, what);
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
