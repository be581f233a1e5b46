/* One connection of the manager's server: its buffers, framing, the
 * handshake, replies, and how it ends.
 *
 * Sockets are non-blocking.  A client whose replies pile up (it does not
 * read them) or that has a waiter is not read from until that is over --
 * only a hang-up is watched for (mp__mgr_arm).  Input is read into a buffer
 * that grows with the data that actually arrived, never to a length a frame
 * header merely claims.  Any client that breaks the protocol is logged and
 * dropped; a dropped client is freed only at the end of a loop turn
 * (manager_loop.c), so events already collected for it are safe to skip.
 * A complete frame goes to mp__mgr_request (manager_objects.c), or, before
 * the handshake, to handshake() here; a large one is first decoded by the
 * helper thread (manager_offload.c), its client unwatched meanwhile, and
 * comes back through mp__mgr_decoded.
 *
 * May touch: a client's fields, the strangers list, the dead and resume
 * lists; objects only through a waiter's unlinking and, on a drop, the Locks
 * the client held (mp__mgr_lock_holder_gone). */
#include "manager_server.h"
#include "auth.h"

#include <errno.h>
#include <stdarg.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define IN_MIN ((size_t)64 << 10)
#define FRAMES_PER_TURN 64 /* fairness: then let other clients run */

/* See manager_server.h.  Never fails: a line that does not fit is cut. */
void mp__mgr_log(const char *fmt, ...)
{
    char line[320];
    int n = snprintf(line, sizeof line, "mp manager %d: ", (int)getpid());
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = strlen(line);
    line[len++] = '\n';
    /* One write per line, so that lines of several processes do not mix. */
    ssize_t w = write(2, line, len);
    (void)w;
}

/* ------------------------------------------------------------- buffers */

/* Make *p (of *cap bytes) hold at least need bytes, doubling from 256.
 * Returns false, *p unchanged, when out of memory. */
static bool grow(unsigned char **p, size_t *cap, size_t need)
{
    if (need <= *cap)
        return true;
    size_t n = *cap ? *cap : 256;
    while (n < need)
        n *= 2;
    unsigned char *q = realloc(*p, n);
    if (!q)
        return false;
    *p = q;
    *cap = n;
    return true;
}

/* --------------------------------------------------------------- clients */

/* See manager_server.h.  A dead client is left alone.  A client whose
 * request is being decoded off the loop (c->job) is out of the epoll set
 * until it is back, so that not even its hang-up is seen before the request
 * is applied (as when decoded inline). */
void mp__mgr_arm(srv *s, client *c)
{
    if (c->dead)
        return;
    if (c->job) {
        if (!c->unwatched && epoll_ctl(s->ep, EPOLL_CTL_DEL, c->fd, NULL) == 0)
            c->unwatched = true;
        return;
    }
    uint32_t ev = EPOLLRDHUP;
    if (c->out_off < c->out_len)
        ev |= EPOLLOUT;
    else if (!c->w)
        ev |= EPOLLIN;
    if (c->unwatched || ev != c->events) {
        struct epoll_event e = {.events = ev, .data.ptr = c};
        if (epoll_ctl(s->ep, c->unwatched ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, c->fd, &e) < 0 &&
            c->unwatched) {
            mp__mgr_drop(s, c, "cannot watch the connection again");
            return;
        }
        c->unwatched = false;
        c->events = ev;
    }
}

/* Take w off its object's waiter list and free it (its put item too); its
 * client has no waiter after this.  The client is not answered. */
static void unlink_waiter(waiter *w)
{
    obj *o = w->o;
    if (w->prev)
        w->prev->next = w->next;
    else
        o->wh = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        o->wt = w->prev;
    w->c->w = NULL;
    mp_value_free(w->item);
    free(w);
}

/* Append c to the strangers (oldest first, so deadlines expire in order). */
void mp__mgr_stranger_add(srv *s, client *c)
{
    c->aprev = s->strangers_tail;
    c->anext = NULL;
    if (s->strangers_tail)
        s->strangers_tail->anext = c;
    else
        s->strangers = c;
    s->strangers_tail = c;
    s->nstrangers++;
}

/* c passed the handshake, or is gone. */
static void stranger_remove(srv *s, client *c)
{
    if (c->aprev)
        c->aprev->anext = c->anext;
    else
        s->strangers = c->anext;
    if (c->anext)
        c->anext->aprev = c->aprev;
    else
        s->strangers_tail = c->aprev;
    c->aprev = c->anext = NULL;
    s->nstrangers--;
}

/* Close c's connection and forget it (freed at the end of the loop turn).
 * Its waiter is withdrawn (a Barrier it waited on breaks); each Lock, RLock
 * or Condition it holds goes on as mp__mgr_lock_holder_gone() says.  Safe to call again, and from
 * inside a reply to c. */
void mp__mgr_drop(srv *s, client *c, const char *why)
{
    if (c->dead)
        return;
    if (why)
        mp__mgr_log("dropped a client: %s", why);
    obj *barrier = c->w && c->w->kind == W_BARRIER ? c->w->o : NULL;
    if (c->w)
        unlink_waiter(c->w);
    mp__mgr_offload_cancel(c);
    if (!c->unwatched)
        epoll_ctl(s->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->dead = true;
    if (c->state == C_AUTH)
        stranger_remove(s, c);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->dnext = s->dead;
    s->dead = c;
    /* A party gone from a Barrier's wait breaks it: the others would wait
     * for it in vain [MGR-CLIENT-KILLED-BARRIER]. */
    if (barrier)
        mp__mgr_barrier_break(s, barrier);
    /* Only a client that holds a Lock, RLock or Condition pays for this walk. */
    for (uint32_t i = 0; c->held && i < s->nobj; i++)
        if (s->objs[i].used && s->objs[i].holder == c)
            mp__mgr_lock_holder_gone(s, &s->objs[i]);
}

/* c has buffered frames it may now be served: put it on the resume list
 * (once), served at the next loop turn. */
static void resume(srv *s, client *c)
{
    if (!c->dead && !c->resume && c->in_off < c->in_len) {
        c->resume = true;
        c->rnext = s->resumes;
        s->resumes = c;
    }
}

/* Send c's pending output until done or the socket is full; a send error
 * drops c.  When all is sent, c may be served again (resume) and is re-armed. */
void mp__mgr_flush(srv *s, client *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
                         MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            c->out_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        mp__mgr_drop(s, c, NULL); /* the peer went away: not worth a log line */
        return;
    }
    if (c->out_off == c->out_len) {
        c->out_off = c->out_len = 0;
        if (c->out_cap > ((size_t)1 << 20)) {
            free(c->out);
            c->out = NULL;
            c->out_cap = 0;
        }
        if (!(c->events & EPOLLIN) && !c->w && !c->job)
            resume(s, c); /* frames may wait in its input buffer */
    }
    mp__mgr_arm(s, c);
}

/* Queue a frame of len payload bytes; returns where to write them. */
unsigned char *mp__mgr_frame(srv *s, client *c, size_t len)
{
    if (!grow(&c->out, &c->out_cap, c->out_len + 4 + len)) {
        mp__mgr_drop(s, c, "out of memory for a reply");
        return NULL;
    }
    unsigned char *p = c->out + c->out_len;
    mgr__be32(p, (uint32_t)len);
    c->out_len += 4 + len;
    return p + 4;
}

/* Trim a message to valid UTF-8 (mp__err may have cut a character). */
static size_t utf8_trim(const char *m, size_t n)
{
    for (int k = 0; k < 4 && n > 0 && !mp__utf8_valid(m, n); k++)
        n--;
    return mp__utf8_valid(m, n) ? n : 0;
}

/* Queue c's reply and send it: [0, res] (res NULL: None) when st is MP_OK
 * and res encodes within MP_MANAGER_FRAME_MAX, else [st, message] (a result
 * too large becomes MP_EMSGSIZE).  A dead c is skipped; no memory drops c. */
void mp__mgr_reply(srv *s, client *c, mp_status st, const mp_value *res)
{
    if (c->dead)
        return;
    size_t vlen = 0;
    if (st == MP_OK) {
        mp_value *none = mp_none();
        if (!res)
            res = none;
        st = mp__value_encoded_size(res, &vlen);
        if (st == MP_OK && vlen + 2 > MP_MANAGER_FRAME_MAX)
            st = mp__err(MP_EMSGSIZE,
                         "the result (%zu bytes) exceeds the manager's "
                         "frame limit",
                         vlen);
        if (st == MP_OK) {
            unsigned char *p = mp__mgr_frame(s, c, 2 + vlen);
            if (!p)
                return;
            p[0] = 0x92;
            p[1] = 0;
            mp__value_encode_into(res, p + 2, vlen);
            mp__mgr_flush(s, c);
            return;
        }
    }
    const char *msg = mp_errmsg();
    size_t n = utf8_trim(msg, strlen(msg));
    unsigned char *p = mp__mgr_frame(s, c, 2 + mgr__str_size(n));
    if (!p)
        return;
    p[0] = 0x92;
    p[1] = (unsigned char)st;
    mgr__put_str(p + 2, msg, n);
    mp__mgr_flush(s, c);
}

/* A waiter's request is over: answer it, let its client go on. */
void mp__mgr_finish(srv *s, waiter *w, mp_status st, const mp_value *res)
{
    client *c = w->c;
    unlink_waiter(w);
    mp__mgr_reply(s, c, st, res);
    resume(s, c);
    mp__mgr_arm(s, c);
}

/* c's answer p[0..n) to its challenge: digest, #CHALLENGE#, the client's own
 * nonce.  A right digest makes c C_READY and sends #WELCOME# with the digest
 * of the client's nonce; a wrong one or a malformed frame is logged, sent
 * #FAILURE# (best effort) and dropped. */
static void handshake(srv *s, client *c, const unsigned char *p, size_t n)
{
    unsigned char want[MGR__DIGEST];
    mp_hmac_sha256(s->key, s->keylen, c->nonce, MGR__NONCE, want);
    bool shape = n == MGR__DIGEST + MGR__TAG_CH_LEN + MGR__NONCE &&
                 memcmp(p + MGR__DIGEST, MGR__TAG_CHALLENGE, MGR__TAG_CH_LEN) == 0;
    if (!shape || !mp__digest_equal(p, want, MGR__DIGEST)) {
        mp__mgr_log("authentication failed: %s; client refused",
                    shape ? "digest received was wrong (wrong authkey)" : "malformed handshake");
        unsigned char *q = mp__mgr_frame(s, c, MGR__TAG_OK_LEN);
        if (q) {
            memcpy(q, MGR__TAG_FAILURE, MGR__TAG_OK_LEN);
            send(c->fd, c->out, c->out_len, MSG_DONTWAIT | MSG_NOSIGNAL);
        }
        mp__mgr_drop(s, c, NULL);
        return;
    }
    unsigned char *q = mp__mgr_frame(s, c, MGR__TAG_OK_LEN + MGR__DIGEST);
    if (!q)
        return;
    memcpy(q, MGR__TAG_WELCOME, MGR__TAG_OK_LEN);
    mp_hmac_sha256(s->key, s->keylen, p + MGR__DIGEST + MGR__TAG_CH_LEN, MGR__NONCE,
                   q + MGR__TAG_OK_LEN);
    c->state = C_READY;
    stranger_remove(s, c);
    mp__mgr_flush(s, c);
}

/* Read what has arrived for c, which needs need bytes from c->in_off (a
 * frame is incomplete): move the partial frame to the front, grow the buffer
 * by what arrives (never beyond the frame's end), recv once.  Returns 1 when
 * bytes arrived (*readable cleared after a short read, which emptied the
 * socket), 0 when none are there (EAGAIN), -1 when c was dropped (EOF, error,
 * out of memory). */
static int read_more(srv *s, client *c, size_t need, bool *readable)
{
    size_t have = c->in_len - c->in_off;
    /* Make room: move the partial frame to the front, grow by what arrived. */
    if (c->in_off) {
        memmove(c->in, c->in + c->in_off, have);
        c->in_len = have;
        c->in_off = 0;
    }
    if (c->in_len == c->in_cap) {
        /* Full, and the frame is not complete (have < need): double, but
         * never beyond the frame's end, so that memory follows the bytes
         * that arrived, not the length a header claims. */
        size_t cap = need > IN_MIN ? need : IN_MIN;
        size_t want = !c->in_cap ? IN_MIN : c->in_cap * 2 < cap ? c->in_cap * 2 : cap;
        unsigned char *np = realloc(c->in, want);
        if (!np) {
            mp__mgr_drop(s, c, "out of memory for a request");
            return -1;
        }
        c->in = np;
        c->in_cap = want;
    }
    for (;;) {
        size_t room = c->in_cap - c->in_len;
        ssize_t r = recv(c->fd, c->in + c->in_len, room, MSG_DONTWAIT);
        if (r > 0) {
            c->in_len += (size_t)r;
            /* A short read emptied the socket: no second recv() just to see
             * EAGAIN (level-triggered epoll reports anything that arrives). */
            if ((size_t)r < room)
                *readable = false;
            return 1;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        mp__mgr_drop(s, c, r == 0 && have ? "connection closed in the middle of a frame" : NULL);
        return -1;
    }
}

/* See manager_server.h.  Serves at most FRAMES_PER_TURN frames, then puts c
 * on the resume list; stops while c waits or has output pending; reads only
 * when readable (its socket had input).  A frame over the limit
 * (MGR__HANDSHAKE_MAX before the handshake, MP_MANAGER_FRAME_MAX after)
 * drops c.  Ends by re-arming c (an emptied large buffer is freed). */
void mp__mgr_serve_input(srv *s, client *c, bool readable)
{
    int budget = FRAMES_PER_TURN;
    for (;;) {
        if (c->dead || c->w || c->job || c->out_off < c->out_len)
            break;
        size_t have = c->in_len - c->in_off;
        /* c->in is NULL until the first read: no arithmetic on it then */
        unsigned char *p = c->in ? c->in + c->in_off : NULL;
        size_t need = 4;
        if (have >= 4) {
            size_t flen = mgr__rd32(p);
            size_t max = c->state == C_AUTH ? MGR__HANDSHAKE_MAX : MP_MANAGER_FRAME_MAX;
            if (flen > max) {
                char why[96];
                snprintf(why, sizeof why, "frame of %zu bytes exceeds the limit of %zu", flen, max);
                mp__mgr_drop(s, c, why);
                return;
            }
            need = 4 + flen;
            if (have >= need) {
                if (budget-- == 0) { /* let the others run; come back next turn */
                    resume(s, c);
                    return;
                }
                c->in_off += need;
                if (c->state == C_AUTH)
                    handshake(s, c, p + 4, flen);
                else if (!mp__mgr_offload_decode(s, c, p + 4, flen))
                    mp__mgr_request(s, c, p + 4, flen);
                continue;
            }
        }
        if (!readable)
            break;
        int r = read_more(s, c, need, &readable);
        if (r < 0)
            return;
        if (r == 0)
            break;
    }
    if (!c->dead && c->in_off == c->in_len) {
        c->in_off = c->in_len = 0;
        if (c->in_cap > ((size_t)1 << 20)) {
            free(c->in);
            c->in = NULL;
            c->in_cap = 0;
        }
    }
    mp__mgr_arm(s, c);
}

/* See manager_server.h. */
void mp__mgr_decoded(srv *s, client *c, mp_status st, mp_value *req)
{
    if (st != MP_OK) {
        mp_value_free(req);
        mp__mgr_drop(s, c, "malformed request");
        return;
    }
    mp__mgr_apply(s, c, req);
    mp__mgr_dispose(s, req);
    resume(s, c);
    mp__mgr_arm(s, c);
}
