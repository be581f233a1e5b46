/* libFuzzer target: the manager server's input path -- framing, the
 * handshake, the request parser and every method handler -- run in-process
 * by the server's own loop.
 *
 * The clients are socketpairs handed to the server as accepted connections
 * (mp__mgr_adopt: each is sent its challenge), and the loop runs one turn at
 * a time with mp__mgr_turn(block = false): the real turn of
 * ref/src/manager_loop.c (deadlines, resumed clients, epoll events, reaping
 * dropped clients) that never sleeps.  Each client passes the real handshake
 * (its digest computed with the authkey) unless flags say otherwise.
 * Objects created by early requests stay for later ones, so sequences such as
 * create -> append -> getslice are reached; the first object's id is
 * (1 << 32) | 1.  Two clients take turns so that a blocked acquire or get of
 * one is woken by the other.
 *
 * Input: [flags] then records [u16 big-endian: client << 15 | length][payload],
 * each payload sent as one frame (4-byte length + payload).
 *   flags & 1: raw mode -- the rest is written as it is to client 0 (framing
 *              itself: lengths, oversized and truncated frames);
 *   flags & 2: client 0 does not answer its challenge: the input is its
 *              answer (the handshake's checks);
 *   flags & 4: the clients hang up at the end, before the last turns. */
#include "../src/manager_server.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NCLI 2

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_manager: check failed: %s (%s:%d)\n", #c, __FILE__, __LINE__);   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)
#define TURNS_MAX 4096

static const unsigned char key[] = "fuzz-authkey";

typedef struct rig {
    srv s;
    int peer[NCLI];
    bool gone[NCLI]; /* the server closed its end */
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

/* Read everything the server has sent each client so far, and check it. */
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

/* One turn of the server's loop, never blocking, then read the replies.
 * Returns whether anything happened. */
static bool turn(rig *r)
{
    int st = mp__mgr_turn(&r->s, NULL, false);
    CHECK(st != MGR__TURN_STOP); /* no parent to lose; epoll does not fail */
    drain(r);
    return st == MGR__TURN_BUSY;
}

static void settle(rig *r)
{
    for (int t = 0; t < TURNS_MAX && turn(r); t++)
        ;
}

/* Answer client i's challenge, already in its socket (mp__mgr_adopt sent
 * it), as a client with the key does: digest, #CHALLENGE#, our nonce. */
static void answer_challenge(rig *r, int i)
{
    unsigned char ch[4 + MGR__TAG_CH_LEN + MGR__NONCE];
    CHECK(recv(r->peer[i], ch, sizeof ch, MSG_DONTWAIT) == (ssize_t)sizeof ch);
    CHECK(mgr__rd32(ch) == MGR__TAG_CH_LEN + MGR__NONCE);
    unsigned char ans[4 + MGR__DIGEST + MGR__TAG_CH_LEN + MGR__NONCE] = {0};
    mgr__be32(ans, MGR__DIGEST + MGR__TAG_CH_LEN + MGR__NONCE);
    CHECK(mp_hmac_sha256(key, sizeof key - 1, ch + 4 + MGR__TAG_CH_LEN, MGR__NONCE, ans + 4) ==
          MP_OK);
    memcpy(ans + 4 + MGR__DIGEST, MGR__TAG_CHALLENGE, MGR__TAG_CH_LEN);
    CHECK(send(r->peer[i], ans, sizeof ans, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)sizeof ans);
}

/* A server with NCLI clients connected; each passes the handshake, except
 * client 0 when stranger0 (it is left to answer its challenge itself). */
static void rig_open(rig *r, bool stranger0)
{
    memset(r, 0, sizeof *r);
    CHECK(mp__mgr_srv_init(&r->s, -1, key, sizeof key - 1, false));
    for (int i = 0; i < NCLI; i++) {
        int sv[2];
        CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
        mp__mgr_adopt(&r->s, sv[0]);
        r->peer[i] = sv[1];
        if (!(stranger0 && i == 0))
            answer_challenge(r, i);
    }
    settle(r);
    for (int i = 0; i < NCLI; i++)
        CHECK(r->authed[i] == !(stranger0 && i == 0));
}

/* End the server (its clients dropped, objects freed), check its last
 * replies, close our ends. */
static void rig_close(rig *r)
{
    mp__mgr_srv_fini(&r->s);
    drain(r); /* the replies the last turns made */
    for (int i = 0; i < NCLI; i++) {
        close(r->peer[i]);
        free(r->rbuf[i]);
    }
}

/* Send all of p to client i's socket, letting the server read while it is full. */
static void feed(rig *r, int i, const uint8_t *p, size_t n)
{
    while (n > 0 && !r->gone[i]) {
        ssize_t k = send(r->peer[i], p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (k > 0) {
            p += k;
            n -= (size_t)k;
        } else if (k < 0 && errno == EINTR) {
            continue;
        } else if (k < 0 && (errno == EPIPE || errno == ECONNRESET)) {
            r->gone[i] = true; /* the server dropped it: the rest is dropped */
        } else if (!turn(r)) {
            return; /* the server no longer reads from it: the rest is dropped */
        }
    }
}

/* One input (format at the top of this file): a fresh server per input. */
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
