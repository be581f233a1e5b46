/* libFuzzer target: the connection framing (mp_conn_recv, recv_bytes,
 * recv_bytes_into, poll) fed arbitrary bytes through the peer's descriptor.
 *
 * Input: [flags][nops][nops op bytes][stream...].  The stream is written raw
 * into the peer end of an mp_pipe() (through mp_conn_fileno), the peer is
 * closed, and the ops run on the other end, cycling, until it reports MP_EOF
 * or MP_CLOSED.  flags & 1: a duplex pipe (else one-way).  flags & 2:
 * chunked -- the stream arrives in chunks of 1 << (flags >> 2 & 15) bytes
 * (or 1/256 of the stream if more),
 * written just before an op would otherwise wait for them, so headers and
 * payloads are split across reads; the peer closes once all is written (or
 * an op needs the end of the stream to return).  A model of CPython's framing (the header rules of
 * mp.h's pipe section) predicts every status and payload, so the target checks behaviour, not just
 * survival: lengths, truncated frames, negative lengths and headers claiming gigabytes must give
 * the documented status; a header above MP_MSG_MAX must never be allocated (run with
 * -malloc_limit_mb just above MP_MSG_MAX: a header within MP_MSG_MAX is allocated before its
 * payload arrives, by design).
 *
 * FUZZ_CONN_ALLOC_CAP=<bytes> in the environment: a receive that would
 * allocate a frame claiming more than that is turned into recv_bytes_into
 * (which allocates nothing).  run_fuzz.sh sets it while fuzzing because the
 * receive allocates the claimed size before the payload arrives, and under
 * ASan each such allocation costs about a second (see README.md, "known
 * issues"); the replay of ref/fuzz/regressions runs without it. */
#include "mp.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_conn: check failed: %s (%s:%d) errmsg=%s\n", #c, __FILE__,       \
                    __LINE__, mp_errmsg());                                                        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* ------------------------------------------------------------- the model */

typedef struct model {
    const uint8_t *s;
    size_t len, pos;
    bool duplex, broken, readable, closed;
} model;

enum { OP_RECV, OP_RECV_BYTES, OP_RECV_INTO, OP_POLL };

/* The next frame's header: MP_OK with *hlen and *size, or the status peek
 * gives (the model updated as the end is). */
static mp_status model_peek(model *m, size_t *hlen, size_t *size)
{
    if (m->closed)
        return MP_CLOSED;
    if (!m->readable)
        return MP_EACCES;
    if (m->broken)
        return MP_EPROTO;
    size_t rem = m->len - m->pos;
    if (rem == 0)
        return MP_EOF;
    if (rem < 4) {
        m->pos = m->len;
        return MP_EPROTO;
    }
    const uint8_t *h = m->s + m->pos;
    int32_t n = (int32_t)((uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3]);
    uint64_t len;
    if (n == -1) {
        if (rem < 12) {
            m->pos = m->len;
            return MP_EPROTO;
        }
        len = 0;
        for (int i = 4; i < 12; i++)
            len = len << 8 | h[i];
        *hlen = 12;
    } else if (n < 0) {
        m->broken = true;
        return MP_EPROTO;
    } else {
        len = (uint64_t)n;
        *hlen = 4;
    }
    if (len > MP_MSG_MAX) {
        m->broken = true;
        return MP_EPROTO;
    }
    *size = (size_t)len;
    return MP_OK;
}

/* Consume the frame: MP_OK and *payload, or MP_EPROTO when it is cut short. */
static mp_status model_take(model *m, size_t hlen, size_t size, const uint8_t **payload)
{
    size_t rem = m->len - m->pos;
    if (rem - hlen < size) {
        m->pos = m->len;
        return MP_EPROTO;
    }
    *payload = m->s + m->pos + hlen;
    m->pos += hlen + size;
    return MP_OK;
}

static bool expected_status(mp_status s)
{
    return s == MP_OK || s == MP_EOF || s == MP_EPROTO || s == MP_EMSGSIZE || s == MP_EACCES ||
           s == MP_CLOSED || s == MP_TIMEOUT;
}

/* Write as much of the stream as the socket takes without blocking; the
 * model sees exactly what was written. */
static size_t write_stream(int fd, const uint8_t *p, size_t n)
{
    int fl = fcntl(fd, F_GETFL);
    CHECK(fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0);
    size_t done = 0;
    while (done < n) {
        ssize_t k = write(fd, p + done, n - done);
        if (k > 0)
            done += (size_t)k;
        else if (k < 0 && errno == EINTR)
            continue;
        else
            break; /* EAGAIN: the stream is cut here */
    }
    return done;
}

static size_t alloc_cap = SIZE_MAX;

/* How many bytes after m->pos the op needs before it can return without
 * waiting: 0 when it does not read, SIZE_MAX when only the end of the
 * stream lets it return (a frame cut short, or EOF itself). */
static size_t needed(const model *m, int kind, size_t maxlength, size_t room)
{
    if (kind == OP_POLL)
        return 0;
    model t = *m;
    size_t hlen = 0, fsize = 0, rem = t.len - t.pos;
    mp_status s = model_peek(&t, &hlen, &fsize);
    if (s == MP_CLOSED || s == MP_EACCES || (s == MP_EPROTO && m->broken))
        return 0;
    if (s == MP_EOF)
        return SIZE_MAX;
    if (s == MP_EPROTO) {
        if (!t.broken) /* a header cut short */
            return SIZE_MAX;
        const uint8_t *h = m->s + m->pos;
        return h[0] == 0xff && h[1] == 0xff && h[2] == 0xff && h[3] == 0xff ? 12 : 4;
    }
    if ((kind == OP_RECV_BYTES && maxlength && fsize > maxlength) ||
        (kind == OP_RECV_INTO && fsize > room))
        return hlen;
    return hlen + fsize > rem ? SIZE_MAX : hlen + fsize;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *e = getenv("FUZZ_CONN_ALLOC_CAP");
    if (e && *e)
        alloc_cap = (size_t)strtoull(e, NULL, 0);
    return 0;
}

/* The size the next frame claims (0 when there is none): receive
 * parameters are chosen around it, where off-by-one mistakes live. */
static size_t next_size(const model *m)
{
    model t = *m;
    size_t hlen, fsize;
    return model_peek(&t, &hlen, &fsize) == MP_OK ? fsize : 0;
}

#define ROOM_MAX ((size_t)256 << 10)
static uint8_t buf[ROOM_MAX + 64];

/* Would this receive allocate more than alloc_cap for the next frame? */
static bool too_costly(const model *m, int kind, size_t maxlength)
{
    if (alloc_cap == SIZE_MAX || (kind != OP_RECV && kind != OP_RECV_BYTES))
        return false;
    model t = *m;
    size_t hlen, fsize;
    if (model_peek(&t, &hlen, &fsize) != MP_OK || fsize <= alloc_cap)
        return false;
    return kind == OP_RECV || !maxlength || fsize <= maxlength;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint8_t flags = data[0];
    size_t nops = data[1] % 16 + 1;
    if (size < 2 + nops)
        return 0;
    const uint8_t *ops = data + 2;
    const uint8_t *stream = data + 2 + nops;
    size_t slen = size - 2 - nops;

    mp_conn *a = NULL, *b = NULL;
    bool duplex = flags & 1;
    CHECK(mp_pipe(&a, &b, duplex) == MP_OK);
    int bfd = -1;
    CHECK(mp_conn_fileno(b, &bfd) == MP_OK);
    model m = {.s = stream, .duplex = duplex, .readable = true};
    bool chunked = flags & 2;
    size_t chunk = (size_t)1 << (flags >> 2 & 15), written = 0;
    if (chunk < slen / 256)
        chunk = slen / 256; /* at most ~256 writes: keeps large inputs fast */
    if (!chunked) {
        m.len = write_stream(bfd, stream, slen);
        mp_conn_free(b); /* the end of the stream: recv sees EOF after it */
        b = NULL;
    } else {
        m.len = slen;
    }

    int eprotos = 0;
    for (size_t i = 0; i < 256; i++) {
        uint8_t op = ops[i % nops];
        size_t arg = op >> 2; /* 0..63 */
        size_t hlen = 0, fsize = 0;
        const uint8_t *payload = NULL;
        mp_status want, got;
        int kind = op & 3;
        /* arg: 2 bits pick a value just under, at or just over the next
         * frame's size, or (3) one from a fixed scale; 4 bits more. */
        size_t fs = next_size(&m), sel = arg & 3, rest = arg >> 2;
        size_t around = sel == 0 ? (fs ? fs - 1 : 0) : sel == 1 ? fs : fs + 1;
        size_t maxl = sel == 3 ? (rest < 8 ? 0 : (size_t)1 << (rest * 3 % 24)) : around;
        size_t room = sel == 3 ? rest * rest * 4 : around;
        size_t offset = rest & 1 ? rest : 0;
        if (room > ROOM_MAX)
            room = ROOM_MAX;
        if (too_costly(&m, kind, maxl)) {
            kind = OP_RECV_INTO;
            room = offset = 0; /* MP_EMSGSIZE, the message kept */
        }
        if (b) {
            size_t need = needed(&m, kind, maxl, room);
            while (written < slen && (need == SIZE_MAX || written < m.pos + need)) {
                size_t n = slen - written < chunk ? slen - written : chunk;
                if (write_stream(bfd, stream + written, n) != n)
                    goto out; /* the socket is full: not this target's concern */
                written += n;
            }
            if (written == slen) {
                mp_conn_free(b);
                b = NULL;
            }
        }
        switch (kind) {
        case OP_RECV: {
            mp_value *v = NULL;
            got = mp_conn_recv(a, &v);
            want = model_peek(&m, &hlen, &fsize);
            mp_value *mv = NULL;
            if (want == MP_OK && (want = model_take(&m, hlen, fsize, &payload)) == MP_OK)
                want = mp_value_decode(payload, fsize, &mv);
            CHECK(got == want);
            if (got == MP_OK) {
                void *e1 = NULL, *e2 = NULL;
                size_t n1 = 0, n2 = 0;
                CHECK(mp_value_encode(v, &e1, &n1) == MP_OK);
                CHECK(mp_value_encode(mv, &e2, &n2) == MP_OK);
                CHECK(n1 == n2 && memcmp(e1, e2, n1) == 0);
                free(e1);
                free(e2);
            } else {
                CHECK(v == NULL);
            }
            mp_value_free(v);
            mp_value_free(mv);
            break;
        }
        case OP_RECV_BYTES: {
            size_t maxlength = maxl; /* 0: no limit */
            void *p = NULL;
            size_t n = 0;
            got = mp_conn_recv_bytes(a, &p, &n, maxlength);
            want = model_peek(&m, &hlen, &fsize);
            if (want == MP_OK && maxlength && fsize > maxlength) {
                m.pos += hlen;
                if (m.duplex)
                    m.readable = false;
                else
                    m.closed = true;
                want = MP_EMSGSIZE;
            } else if (want == MP_OK) {
                want = model_take(&m, hlen, fsize, &payload);
            }
            CHECK(got == want);
            if (got == MP_OK) {
                CHECK(p != NULL && n == fsize && memcmp(p, payload, n) == 0);
                free(p);
            }
            break;
        }
        case OP_RECV_INTO: {
            size_t buflen = room + offset;
            size_t n = (size_t)-1;
            got = mp_conn_recv_bytes_into(a, buf, buflen, offset, &n);
            want = model_peek(&m, &hlen, &fsize);
            if (want == MP_OK && fsize > buflen - offset)
                want = MP_EMSGSIZE; /* the message stays */
            else if (want == MP_OK)
                want = model_take(&m, hlen, fsize, &payload);
            CHECK(got == want);
            if (got == MP_OK)
                CHECK(n == fsize && memcmp(buf + offset, payload, n) == 0);
            if (got == MP_EMSGSIZE)
                CHECK(n == fsize);
            break;
        }
        default:
            got = mp_conn_poll(a, rest & 1 ? 0.0 : -1.0);
            want = m.closed                               ? MP_CLOSED
                   : !m.readable                          ? MP_EACCES
                   : (b && !m.broken && written == m.pos) ? MP_TIMEOUT
                                                          : MP_OK;
            CHECK(got == want); /* MP_TIMEOUT only with the peer open and nothing sent */
            break;
        }
        CHECK(expected_status(got));
        if (got != MP_OK)
            CHECK(mp_errmsg()[0] != '\0' || got == MP_ENOMEM);
        if (got == MP_EOF || got == MP_CLOSED || got == MP_EACCES)
            break;
        if (got == MP_EPROTO && m.broken && ++eprotos > 2)
            break; /* sticky: every later receive is MP_EPROTO */
    }
out:
    mp_conn_free(b);
    mp_conn_free(a);
    return 0;
}
