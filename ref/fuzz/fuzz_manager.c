/* libFuzzer target: the manager server's input path -- framing, the
 * handshake's shape checks, the request parser and every method handler --
 * run in-process.
 *
 * The server (ref/src/manager_server.c) has no separable parse entry point:
 * its request() is static and works on the server's own state.  So this file
 * includes that source and drives the real server functions (serve_input,
 * flush, expire, free_all) on clients connected through socketpairs, one loop
 * turn at a time with a zero epoll timeout instead of the server's blocking
 * wait.  Objects created by early requests stay for later ones, so sequences
 * such as create -> append -> getslice are reached; the first object's id is
 * (1 << 32) | 1.  Two clients take turns so that a blocked acquire or get of
 * one is woken by the other.
 *
 * Input: [flags] then records [u16 big-endian: client << 15 | length][payload],
 * each payload sent as one frame (4-byte length + payload).
 *   flags & 1: raw mode -- the rest is written as it is to client 0 (framing
 *              itself: lengths, oversized and truncated frames);
 *   flags & 2: client 0 starts unauthenticated (the handshake's checks);
 *   flags & 4: the clients hang up at the end, before the last turns. */
#include "../src/manager_server.c"

#include <sys/socket.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NCLI 2

#define CHECK(c)                                                                        \
    do {                                                                                \
        if (!(c)) {                                                                     \
            fprintf(stderr, "fuzz_manager: check failed: %s (%s:%d)\n", #c, __FILE__,   \
                    __LINE__);                                                          \
            abort();                                                                    \
        }                                                                               \
    } while (0)
#define TURNS_MAX 4096

typedef struct rig {
    srv s;
    client *c[NCLI];
    int peer[NCLI];
    bool authed[NCLI];
    unsigned char *rbuf[NCLI]; /* replies received, not yet checked */
    size_t rlen[NCLI], rcap[NCLI];
} rig;

/* Read what the server sent each client.  Replies of an authenticated
 * client must be frames holding [status, result] with a known status: the
 * server's encoder is checked along with its parser. */
static void check_replies(rig *r, int i)
{
    size_t off = 0;
    while (r->rlen[i] - off >= 4) {
        size_t n = mgr__rd32(r->rbuf[i] + off);
        CHECK(n <= MP_MANAGER_FRAME_MAX);
        if (r->rlen[i] - off - 4 < n)
            break;
        const unsigned char *p = r->rbuf[i] + off + 4;
        if (r->authed[i]) {
            mp_value *v = NULL;
            CHECK(mp_value_decode(p, n, &v) == MP_OK);
            size_t len = 0;
            const mp_value *st;
            int64_t code;
            CHECK(mp_value_type(v) == MP_T_LIST && mp_seq_len(v, &len) == MP_OK && len == 2);
            CHECK(mp_seq_get(v, 0, &st) == MP_OK && mp_value_get_int(st, &code) == MP_OK);
            CHECK(code >= 0 && code < MP__STATUS_COUNT);
            mp_value_free(v);
        } else {
            /* challenge, then WELCOME (the client is in) or FAILURE */
            if (n >= MGR__TAG_OK_LEN && memcmp(p, MGR__TAG_WELCOME, MGR__TAG_OK_LEN) == 0)
                r->authed[i] = true;
        }
        off += 4 + n;
    }
    memmove(r->rbuf[i], r->rbuf[i] + off, r->rlen[i] - off);
    r->rlen[i] -= off;
}

static void drain(rig *r)
{
    for (int i = 0; i < NCLI; i++) {
        while (r->peer[i] >= 0) {
            if (r->rcap[i] - r->rlen[i] < 65536) {
                size_t cap = r->rcap[i] * 2 + 65536;
                unsigned char *q = realloc(r->rbuf[i], cap);
                CHECK(q != NULL);
                r->rbuf[i] = q;
                r->rcap[i] = cap;
            }
            ssize_t k = recv(r->peer[i], r->rbuf[i] + r->rlen[i], r->rcap[i] - r->rlen[i],
                             MSG_DONTWAIT);
            if (k <= 0)
                break;
            r->rlen[i] += (size_t)k;
            check_replies(r, i);
        }
    }
}

/* One turn of loop(), never blocking.  Returns whether anything happened. */
static bool turn(rig *r)
{
    srv *s = &r->s;
    bool busy = false;
    expire(s);
    client *rs = s->resumes;
    s->resumes = NULL;
    for (; rs; rs = rs->rnext) {
        rs->resume = false;
        busy = true;
        if (!rs->dead)
            serve_input(s, rs, false);
    }
    struct epoll_event evs[16];
    int n = epoll_wait(s->ep, evs, 16, 0);
    for (int i = 0; i < n; i++) {
        client *c = evs[i].data.ptr;
        uint32_t ev = evs[i].events;
        if (c->dead)
            continue;
        busy = true;
        if (ev & (EPOLLERR | EPOLLHUP)) {
            drop(s, c, NULL);
            continue;
        }
        if (ev & EPOLLOUT)
            flush(s, c);
        if (!c->dead && (ev & EPOLLIN))
            serve_input(s, c, true);
        else if (!c->dead && (ev & EPOLLRDHUP) && !(c->events & EPOLLIN))
            drop(s, c, NULL);
    }
    for (client **pp = &s->resumes; *pp;)
        if ((*pp)->dead)
            *pp = (*pp)->rnext;
        else
            pp = &(*pp)->rnext;
    for (client *c = s->dead, *nx; c; c = nx) {
        nx = c->dnext;
        for (int i = 0; i < NCLI; i++)
            if (r->c[i] == c)
                r->c[i] = NULL;
        free(c->in);
        free(c->out);
        free(c);
    }
    s->dead = NULL;
    drain(r);
    return busy || s->resumes;
}

static void settle(rig *r)
{
    for (int t = 0; t < TURNS_MAX && turn(r); t++)
        ;
}

static bool rig_open(rig *r, bool auth)
{
    static const unsigned char key[] = "fuzz-authkey";
    memset(r, 0, sizeof *r);
    r->s = (srv){.lfd = -1, .pfd = -1, .key = key, .keylen = sizeof key - 1};
    r->s.names = mp_dict();
    r->s.ep = epoll_create1(EPOLL_CLOEXEC);
    if (!r->s.names || r->s.ep < 0)
        abort();
    for (int i = 0; i < NCLI; i++) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
            abort();
        client *c = calloc(1, sizeof *c);
        if (!c)
            abort();
        c->fd = sv[0];
        c->events = EPOLLIN | EPOLLRDHUP;
        c->state = auth && i == 0 ? C_AUTH : C_READY;
        struct epoll_event e = {.events = c->events, .data.ptr = c};
        if (epoll_ctl(r->s.ep, EPOLL_CTL_ADD, c->fd, &e) < 0)
            abort();
        c->next = r->s.clients;
        if (r->s.clients)
            r->s.clients->prev = c;
        r->s.clients = c;
        if (c->state == C_AUTH) { /* as accept_all() does: a stranger with a deadline */
            c->since = mp__now();
            stranger_add(&r->s, c);
        }
        r->c[i] = c;
        r->peer[i] = sv[1];
        r->authed[i] = c->state == C_READY;
    }
    return true;
}

static void rig_close(rig *r)
{
    free_all(&r->s);
    close(r->s.ep);
    drain(r); /* the replies the last turns made */
    for (int i = 0; i < NCLI; i++) {
        if (r->peer[i] >= 0)
            close(r->peer[i]);
        free(r->rbuf[i]);
    }
}

/* Send all of p to client i's socket, letting the server read while it is full. */
static void feed(rig *r, int i, const uint8_t *p, size_t n)
{
    while (n > 0 && r->c[i]) {
        ssize_t k = send(r->peer[i], p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (k > 0) {
            p += k;
            n -= (size_t)k;
        } else if (k < 0 && errno == EINTR) {
            continue;
        } else if (!turn(r)) {
            return; /* the server no longer reads from it: the rest is dropped */
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t flags = data[0];
    data++;
    size--;
    rig r;
    rig_open(&r, flags & 2);
    if (flags & 1) {
        feed(&r, 0, data, size);
        settle(&r);
    } else {
        while (size >= 2) {
            unsigned h = (unsigned)data[0] << 8 | data[1];
            int ci = (int)(h >> 15);
            size_t len = h & 0x7fff;
            data += 2;
            size -= 2;
            if (len > size)
                len = size;
            unsigned char hdr[4];
            mgr__be32(hdr, (uint32_t)len);
            feed(&r, ci, hdr, 4);
            feed(&r, ci, data, len);
            data += len;
            size -= len;
            settle(&r);
        }
    }
    if (flags & 4) {
        for (int i = 0; i < NCLI; i++) {
            shutdown(r.peer[i], SHUT_WR);
        }
        settle(&r);
    }
    rig_close(&r);
    return 0;
}
