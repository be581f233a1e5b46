/* queue_stream: messages larger than SINGLE_MAX (half the ring), streamed
 * through the ring in chunks (the rest of the queue: queue.c; the layout:
 * queue_internal.h).
 *
 * A message up to MP_MSG_MAX goes as FIRST (an 8-byte meta word: stream id
 * and total length, then payload), CONT..., FINAL chunks of up to
 * CHUNK_MAX, while the producer holds the producer lock and one consumer
 * holds the consumer lock; the item is counted with the FINAL chunk.  A
 * streamer waits for CHUNK_MIN bytes of room (or data) before it copies, and
 * is the only holder of a side lock that ever sleeps with it.
 *   - A streaming producer killed (or timing out, or closed) mid-message:
 *     its stream id is withdrawn (by itself, or by whoever next takes the
 *     producer lock over from it, or by the consumer, which probes that
 *     lock every PROBE_S while it waits for the next chunk); the consumer
 *     discards the partial message.  Not delivered.
 *   - A consumer killed mid-stream: the next consumer finds the stream state
 *     (cs_*) in the header and discards the rest of that message.  That one
 *     message is lost; every later message is intact.
 * A get that has begun receiving a streamed message finishes it (the producer
 * is copying, or gives up at its own deadline); its timeout bounds the wait
 * for a message to begin. */
#include "queue_internal.h"

#include <errno.h>
#include <stdlib.h>

/* ----------------------------------------------------------------- producer */

/* Holding the producer lock with room for a first chunk (put_raw, queue.c):
 * stream buf in as FIRST, CONT..., FINAL chunks and release the lock.  MP_OK
 * once the FINAL is committed; MP_CLOSED or MP_FULL (the deadline) with the
 * stream withdrawn: not delivered. */
mp_status mp__queue_put_stream(mp_queue *q, const uint8_t *buf, size_t len, const mp__deadline *d,
                               const char *what)
{
    struct qshm *s = q->s;
    uint32_t id = ++s->stream_next;
    if (!id)
        id = ++s->stream_next;
    atomic_store(&s->pstream, id);
    size_t off = 0;
    bool first = true;
    mp_status st = MP_OK;
    for (;;) {
        uint64_t w = atomic_load_explicit(&s->wpos, memory_order_relaxed);
        uint64_t r = look_rpos(s);
        assert(lo(w) - lo(r) <= s->cap); /* the consumer never passes wpos */
        size_t room = s->cap - (lo(w) - lo(r));
        size_t meta = first ? 8 : 0;
        size_t avail = room > HDR + meta ? (room - HDR - meta) & ~(size_t)7 : 0;
        size_t left = len - off, n;
        bool final = !first && left <= CHUNK_MAX && pad8(left) <= avail;
        n = final ? left : (avail < CHUNK_MAX ? avail : CHUNK_MAX);
        if (final || n >= CHUNK_MIN) {
            uint32_t at = lo(w);
            uint32_t kind = first ? K_FIRST : final ? K_FINAL : K_CONT;
            ring_set_word(q, at, (uint64_t)(meta + n) | (uint64_t)kind << 32);
            if (first)
                ring_set_word(q, at + HDR, (uint64_t)id << 32 | (uint32_t)len);
            ring_put(q, at + HDR + (uint32_t)meta, buf + off, n);
            uint32_t tail = at + HDR + (uint32_t)pad8(meta + n);
            atomic_store(&s->wpos, pos(hi(w) + (final ? 1 : 0), tail));
            wake(&s->data_seq, &s->data_flag);
            off += n;
            first = false;
            if (final)
                break;
            continue;
        }
        if (atomic_load(&q->closed)) {
            st = mp__err(MP_CLOSED, "%s: queue closed during the put; not delivered", what);
            break;
        }
        if (!d->forever && mp__deadline_passed(d)) {
            st = mp__err(MP_FULL, "%s: deadline passed after %zu of %zu bytes; not delivered", what,
                         off, len);
            break;
        }
        mp__queue_wait_change(&s->rpos, r, 0, &s->room_seq, &s->room_flag, &q->closed, NULL, 0, d);
    }
    /* The tail (with the item count) was stored before the stream id is
     * withdrawn: a consumer that sees no stream id also sees the FINAL. */
    atomic_store(&s->pstream, 0);
    if (st)
        wake(&s->data_seq, &s->data_flag);
    side_unlock(q, SIDE_P);
    return st;
}

/* ----------------------------------------------------------------- consumer */

/* Consumer lock held, cs_* describe the stream: receive its remaining
 * chunks into dst (NULL: discard them).  Waits only while the producer is
 * alive and still sending this stream. */
int mp__queue_read_stream(mp_queue *q, uint8_t *dst)
{
    struct qshm *s = q->s;
    for (;;) {
        uint64_t r = atomic_load_explicit(&s->rpos, memory_order_relaxed);
        uint64_t w = look_wpos(s);
        assert(lo(w) - lo(r) <= s->cap); /* no producer passes rpos + cap */
        if (lo(r) != lo(w)) {
            uint64_t h = ring_word(q, lo(r));
            uint32_t kind = hi(h), n = lo(h);
            if (kind != K_CONT && kind != K_FINAL) {
                s->cs_active = 0; /* its producer gave up: the next message */
                return STREAM_ABORTED;
            }
            /* A published header's record was published with it. */
            assert(HDR + pad8(n) <= lo(w) - lo(r));
            if (dst && s->cs_got + n <= s->cs_total)
                ring_get(q, lo(r) + HDR, dst + s->cs_got, n);
            s->cs_got += n;
            bool final = kind == K_FINAL;
            if (final)
                s->cs_active = 0;
            atomic_store(&s->rpos, pos(hi(r) + (final ? 1 : 0), lo(r) + HDR + (uint32_t)pad8(n)));
            wake(&s->room_seq, &s->room_flag);
            if (final)
                return s->cs_got == s->cs_total ? STREAM_DONE : STREAM_ABORTED;
            continue;
        }
        if (atomic_load(&s->pstream) != s->cs_id) {
            if (atomic_load(&s->wpos) != w)
                continue; /* the FINAL landed just before the id went */
            s->cs_active = 0;
            return STREAM_ABORTED;
        }
        mp__deadline sl;
        mp__deadline_slice(NULL, PROBE_S, &sl);
        mp__queue_wait_change(&s->wpos, w, 0, &s->data_seq, &s->data_flag, NULL, &s->pstream,
                              s->cs_id, &sl);
        if (atomic_load(&s->wpos) == w && mp__deadline_passed(&sl)) {
            /* Silence: is the producer still there?  Its lock tells. */
            if (mp__queue_locked(q, SIDE_P,
                                 mp__lock_try_flagged(&s->plock, &s->pwant, mp__gettid())) == MP_OK)
                side_unlock(q, SIDE_P);
        }
    }
}

/* Consumer side lock held, the record at r a stream's first chunk (K_FIRST,
 * n bytes: the 8-byte meta word, then payload).  Takes the chunk, reads the
 * rest of the stream (read_stream) and releases the side lock.  MP_OK with
 * the message in *out, *outlen; MP_ENOMEM when it could not be kept (the
 * stream is consumed and dropped); MP__STATUS_COUNT when the producer
 * withdrew it (nothing to return: the caller waits for the next message). */
mp_status mp__queue_get_stream(mp_queue *q, uint64_t r, uint32_t n, void **out, size_t *outlen,
                               const char *what)
{
    struct qshm *s = q->s;
    assert(n >= 8 && HDR + pad8(n) <= lo(atomic_load(&s->wpos)) - lo(r)); /* as K_MSG */
    uint64_t meta = ring_word(q, lo(r) + HDR);
    size_t total = lo(meta);
    uint8_t *p = malloc(total ? total : 1);
    if (p)
        mp__queue_prefault(p, total);
    s->cs_id = hi(meta);
    s->cs_total = total;
    s->cs_got = n - 8;
    s->cs_active = 1;
    if (p && n - 8 <= total)
        ring_get(q, lo(r) + HDR + 8, p, n - 8);
    atomic_store(&s->rpos, pos(hi(r), lo(r) + HDR + (uint32_t)pad8(n)));
    wake(&s->room_seq, &s->room_flag);
    int rs = mp__queue_read_stream(q, p);
    side_unlock(q, SIDE_C);
    if (rs == STREAM_DONE && p) {
        *out = p;
        *outlen = total;
        return MP_OK;
    }
    free(p);
    if (rs == STREAM_DONE)
        return mp__err(MP_ENOMEM, "%s: no memory for %zu bytes (message dropped)", what, total);
    return MP__STATUS_COUNT;
}
