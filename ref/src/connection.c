/* connection: multiprocessing.connection.wait() over connections, sentinels
 * and plain descriptors.
 *
 * One ppoll() over every object (CPython's PollSelector), with the deadline
 * helper of clock.c so that a signal (EINTR) restarts the wait with what is
 * left, never returning early.  A connection that has read ahead into its own
 * buffer is ready without looking at its socket, which may well be empty. */
#include "mp_internal.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>

#define STACK_FDS 128
#define WAIT_MAX ((size_t)1 << 20)

/* MP_OK once ppoll reports something, MP_TIMEOUT at the deadline. */
static mp_status wait_loop(struct pollfd *p, size_t n, const mp__deadline *d, double timeout)
{
    for (;;) {
        struct timespec ts;
        bool left = mp__deadline_remaining(d, &ts);
        int r = ppoll(p, n, d->forever ? NULL : left ? &ts : &(struct timespec){0, 0}, NULL);
        if (r > 0)
            return MP_OK;
        if (r < 0 && errno != EINTR)
            return mp__errno(errno, "connection.wait: ppoll");
        if (!left)
            return mp__err(MP_TIMEOUT, "connection.wait: nothing ready after %.3f s",
                           timeout > 0 ? timeout : 0.0);
    }
}

/* Contract in mp.h.  Every object is validated before anything is written;
 * a connection with bytes already buffered (pending) makes the poll a
 * single look, so a buffered message is never waited on behind an idle
 * descriptor. */
mp_status mp_connection_wait(mp_waitable *objs, size_t n, double timeout, size_t *nready)
{
    static const char what[] = "connection.wait";
    if (!objs && n)
        return mp__err(MP_EINVAL, "%s: objects are NULL", what);
    mp__deadline d;
    mp_status s = mp__deadline_init(&d, timeout);
    if (s != MP_OK)
        return s;
    if (n == 0 && d.forever)
        return mp__err(MP_EINVAL, "%s: nothing to wait for, and no timeout", what);
    if (n > WAIT_MAX)
        return mp__err(MP_EINVAL, "%s: %zu objects is too many", what, n);
    struct pollfd stack[STACK_FDS], *p = stack;
    if (n > STACK_FDS && !(p = malloc(n * sizeof *p)))
        return mp__err(MP_ENOMEM, "%s: out of memory", what);
    /* Every object is checked before anything is written. */
    size_t pending = 0;
    for (size_t i = 0; i < n && s == MP_OK; i++) {
        int fd = objs[i].fd;
        bool pend = false;
        if (objs[i].conn)
            s = mp__conn_wait_check(objs[i].conn, &fd, &pend);
        else if (fd < 0)
            s = mp__err(MP_EINVAL, "%s: object %zu: descriptor %d", what, i, fd);
        pending += pend;
        p[i] = (struct pollfd){.fd = fd, .events = POLLIN};
    }
    if (s == MP_OK) {
        if (pending) {
            /* Some are ready already: one look at the others. */
            mp__deadline now;
            mp__deadline_init(&now, 0.0);
            if ((s = wait_loop(p, n, &now, 0.0)) == MP_TIMEOUT)
                s = MP_OK;
        } else {
            s = wait_loop(p, n, &d, timeout);
        }
    }
    for (size_t i = 0; i < n && s == MP_OK; i++)
        if (p[i].revents & POLLNVAL)
            s = mp__err(MP_EINVAL, "%s: object %zu: descriptor %d is not open", what, i, p[i].fd);
    if (s == MP_OK || s == MP_TIMEOUT) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            bool r = false;
            if (s == MP_OK) {
                int fd;
                bool pend = false;
                if (objs[i].conn)
                    mp__conn_wait_check(objs[i].conn, &fd, &pend);
                r = pend || (p[i].revents & (POLLIN | POLLHUP | POLLERR));
            }
            objs[i].ready = r;
            k += r;
        }
        if (nready)
            *nready = k;
    }
    if (p != stack)
        free(p);
    return s;
}
