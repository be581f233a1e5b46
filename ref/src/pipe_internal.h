/* Pipe()/Connection: the private header of the pipe's three rooms.
 *
 *   pipe.c       an end: making one (Pipe, or around a connected socket for
 *                connection.c and listener.c), the checks every call makes,
 *                sending (CPython's framing, one sendmsg per frame), poll,
 *                fileno, close
 *   pipe_recv.c  receiving: every read of the socket (a recvmsg with room
 *                for descriptors, after a brief poll when the peer answers
 *                promptly), the read-ahead buffer, cutting frames out of it,
 *                and the recv_bytes / recv_bytes_into / recv calls
 *   pipe_fd.c    descriptors: the queue of those that arrived with the
 *                stream, send_fd and recv_fd
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
#ifndef MP_PIPE_INTERNAL_H
#define MP_PIPE_INTERNAL_H

#include "mp_internal.h"
#include "wait.h"

#include <stdint.h>
#include <sys/socket.h>

/* The read-ahead buffer's size: a message that fits it with its header is
 * copied once from it (or decoded in place). */
#define RBUF_CAP ((size_t)64 << 10)

/* SCM_MAX_FD: the most descriptors one message can carry on Linux. */
#define FDS_MAX 253

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

/* ---- pipe.c ---------------------------------------------------------------
 * mp__conn_check: the checks every call on an end makes first: MP_EINVAL for
 * NULL, MP_CLOSED for a closed handle, MP_EACCES for the wrong direction
 * (want_read: a receive); changes nothing.
 * mp__conn_wait_fd: wait until fd is ready for `events` (POLLIN, POLLOUT):
 * a caller may have set O_NONBLOCK through fileno() and the calls still
 * block, as documented.
 * mp__conn_sendmsg: send all of *m (its iovecs are consumed), resuming after
 * a short write or EINTR and waiting on a non-blocking descriptor; ancillary
 * data goes with the first bytes only.  MP_EOF when the peer has closed (no
 * SIGPIPE); a failure part-way leaves a partial message on the stream. */
MP__HIDDEN mp_status mp__conn_check(mp_conn *c, bool want_read, const char *what);
MP__HIDDEN mp_status mp__conn_wait_fd(int fd, short events, const char *what);
MP__HIDDEN mp_status mp__conn_sendmsg(mp_conn *c, struct msghdr *m, const char *what);

/* ---- pipe_recv.c -----------------------------------------------------------
 * mp__conn_fill: make the read-ahead hold at least `want` (<= RBUF_CAP) unread
 * bytes, allocating it on first use; MP_EOF when the stream ends first (the
 * bytes already there stay). */
MP__HIDDEN mp_status mp__conn_fill(mp_conn *c, size_t want, const char *what);

/* ---- pipe_fd.c -------------------------------------------------------------
 * mp__conn_keep_fds: queue the descriptors of every SCM_RIGHTS in m on c,
 * stamped with the stream offset `end`; one that cannot be queued (no memory)
 * is closed: lost, never leaked.
 * mp__conn_drop_fds: close every queued descriptor and free the queue. */
MP__HIDDEN void mp__conn_keep_fds(mp_conn *c, struct msghdr *m, uint64_t end);
MP__HIDDEN void mp__conn_drop_fds(mp_conn *c);

#endif
