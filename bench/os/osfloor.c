/* osfloor -- the raw OS limit under the mp workloads, in plain C with fork():
 *   stream   mech=ring|pipebuf|sockbuf|pipe1mbuf size=N   one writer child, one reader child
 *   pingpong mech=futex|futexspin|pipebuf|sockbuf size=N  parent <-> echo child round trip
 *   wake     mech=futex|futexspin|pipebuf size=N idle_us=N parent -> sleeping child, one way
 *   mutex    processes=1|2                                pshared pthread mutex lock+unlock
 *   fork                                                  fork + _exit(0) + waitpid
 * Messages use the framing of CPython's Connection: a 4-byte length, then
 * the payload; the receiver reads both into a preallocated buffer (no
 * per-message allocation: this is the floor).  The *buf mechs read ahead
 * 64 KiB and parse frames from that buffer, as ref's Pipe does; the plain
 * pipe/socketpair/pipe1m mechs (two read()s per message, CPython's way) are
 * kept for comparison by hand.  Spinning and ring size are ref's. */
#include "../common/bench.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#define CPU_RELAX() __builtin_ia32_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

/* Ref's tuning, so that a floor spins and sleeps as ref does
 * (ref/src/queue.c: RING_BYTES, SPIN_ITERS). */
#define REF_RING_BYTES ((size_t)16 << 20)
#define REF_SPIN_ITERS 4000
/* Ref's Pipe reads ahead this much (ref/src/pipe_internal.h: RBUF_CAP). */
#define RBUF_CAP ((size_t)64 << 10)

/* Unbounded: every sleeper here is woken by a protocol that cannot lose a
 * wake-up (see the ring's comment below); a hang is a bug to see, not to
 * hide. */
static void futex_wait(_Atomic uint32_t *a, uint32_t expect)
{
    syscall(SYS_futex, a, FUTEX_WAIT, expect, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *a) { syscall(SYS_futex, a, FUTEX_WAKE, 1, NULL, NULL, 0); }

/* ---- the single-producer / single-consumer ring (mech=ring)
 *
 * Built as the fast ones are: each index on its own cache line, written by
 * one side only with a plain release store (no read-modify-write on the hot
 * path); each side keeps a private copy of the peer's index and reloads it
 * only when that copy says "full" / "empty"; records are
 * [u32 len | u32 0][payload padded to 8], 8-byte aligned, so a header never
 * straddles the end and a payload is at most two memcpy()s, copied in from the
 * sender's buffer and out into the receiver's, as ref's queue does; 16 MiB,
 * ref's ring size; a waiting side spins REF_SPIN_ITERS pause loops, as ref's
 * queue does, before it sleeps.
 *
 * Batched publication.  A side stores its index for the peer only at a
 * *publication point*: every PUB_EVERY records or PUB_BYTES bytes, at the end
 * of its burst (ring_flush), and before it waits itself.  Publishing every
 * record (this ring until December) made a slow mode: a consumer that keeps
 * up finds the ring empty (10-330 k times in a round of 8 M records) and
 * spins on the head; each record's store of the head takes the line back
 * from the spinner, which leaves its spin with that one record, on a line the
 * producer is still writing: in lock-step, lines cross between the CPUs once
 * or twice a record (the quiet full run of 2026-12-05: 6-13 M msg/s, both
 * sides spinning flat out; bench/README.md).  Batched, the consumer sees
 * whole batches: the index moves once per PUB_EVERY records.  A batch still
 * costs a hand-over (~350 ns here, fitted from 32..512-record batches in
 * lock-step; ringcheck's is smaller, cause not found), so the batch is 256
 * records (18 KiB of 64 B records; PUB_BYTES bounds larger ones): 32 gave
 * 0.66-0.77x ringcheck on a quiet machine, 256 gave 1.06-1.08x.
 *
 * Sleeping, and why no wake-up is lost (a futex wait with no time-out).
 * Each direction has a flag ("I sleep") and a sequence word (the futex):
 *   sleeper:  seq = load(S); store(F, 1); FENCE; if condition still false:
 *             futex_wait(S, seq)          -- then loop and re-check
 *   waker:    store(index); FENCE; if load(F): F = 0; S++; wake(S)
 * The two FENCEs (seq_cst) make the classic store-then-load pair: either the
 * waker's load sees F = 1, or the sleeper's re-check sees the waker's index.
 * A waker that saw F = 1 (its exchange acq_rel, the sleeper's store release)
 * bumps S after the sleeper read seq, so futex_wait either finds S changed
 * and returns at once or is asleep already and is woken.  The sleeper
 * raises F and lowers it when its re-check finds the condition true; a waker
 * clears it by exchange.  A waker that read F = 1 and exchanges it only
 * later may thus clear a raise meant for a later sleep: it then bumps S too,
 * after that sleeper read seq, so that sleeper's futex_wait returns at once
 * and it raises F again (unlike the ping-pong's hand-over below, whose futex
 * word is the value itself).  A spurious return just loops: the sleeper
 * always re-checks its condition.
 * Every publication point is a waker half (ring_publish), so the fence, the
 * one costly instruction, is paid once a batch, and no published record can
 * sit behind a sleeping peer: a producer that stops producing flushes, and a
 * side publishes (and wakes its peer) before it spins or sleeps, so neither
 * waits for records or room the other holds unpublished, and both cannot
 * sleep at once.
 *
 * The old ring (os.shmring: bounded 5 ms waits over "a lost wake-up not yet
 * understood") paid an atomic_fetch_add and an atomic_exchange per record per
 * side.  Its stall (~1 run in 15 at 1 KiB, November) did not come back in
 * 100 runs with its waits made unbounded, and its slow path, all seq_cst, is
 * the protocol above: the cause was not found (bench/README.md).  This ring
 * runs unbounded and was stress-tested so. */
#define PUB_EVERY 256
#define PUB_BYTES ((uint64_t)64 << 10)
typedef struct ring {
    _Alignas(64) _Atomic uint64_t head;     /* bytes published: producer only */
    _Alignas(64) _Atomic uint64_t tail;     /* bytes consumed: consumer only */
    _Alignas(64) _Atomic uint32_t data_seq; /* consumer sleeps on it */
    _Atomic uint32_t cons_sleep;
    _Alignas(64) _Atomic uint32_t room_seq; /* producer sleeps on it */
    _Atomic uint32_t prod_sleep;
    _Alignas(64) unsigned char data[];
} ring;

/* One side's private view: its own index (published or not), its copy of the
 * peer's, and what it has not published yet. */
typedef struct rside {
    uint64_t mine, peer;
    uint64_t pend_bytes;
    unsigned pend;
    uint64_t need; /* producer: the room the record being put waits for */
} rside;

/* A publication point: store this side's index (head for the producer, tail
 * for the consumer), then the waker half above: wake the peer if it sleeps. */
static void ring_publish(ring *g, rside *me, bool producer)
{
    atomic_store_explicit(producer ? &g->head : &g->tail, me->mine, memory_order_release);
    me->pend = 0;
    me->pend_bytes = 0;
    _Atomic uint32_t *flag = producer ? &g->cons_sleep : &g->prod_sleep;
    _Atomic uint32_t *seq = producer ? &g->data_seq : &g->room_seq;
    atomic_thread_fence(memory_order_seq_cst);
    /* acq_rel: reading the sleeper's (release) flag orders its earlier read
     * of seq before our increment, so it cannot have read the new value. */
    if (atomic_load_explicit(flag, memory_order_relaxed) &&
        atomic_exchange_explicit(flag, 0, memory_order_acq_rel)) {
        atomic_fetch_add(seq, 1);
        futex_wake(seq);
    }
}

static bool room_ok(ring *g, rside *p)
{
    p->peer = atomic_load_explicit(&g->tail, memory_order_acquire);
    return REF_RING_BYTES - (p->mine - p->peer) >= p->need;
}

static bool data_ok(ring *g, rside *c)
{
    c->peer = atomic_load_explicit(&g->head, memory_order_acquire);
    return c->peer != c->mine;
}

/* The sleeper half: publish (never wait owing the peer records, room or a
 * wake-up), spin REF_SPIN_ITERS, then sleep until room_ok (producer) or
 * data_ok (consumer), which refresh me->peer. */
static void ring_wait(ring *g, rside *me, bool producer)
{
    bool (*ready)(ring *, rside *) = producer ? room_ok : data_ok;
    _Atomic uint32_t *flag = producer ? &g->prod_sleep : &g->cons_sleep;
    _Atomic uint32_t *seq = producer ? &g->room_seq : &g->data_seq;
    ring_publish(g, me, producer);
    for (int i = 0; i < REF_SPIN_ITERS; i++) {
        if (ready(g, me))
            return;
        CPU_RELAX();
    }
    for (;;) {
        uint32_t v = atomic_load(seq);
        atomic_store_explicit(flag, 1, memory_order_release);
        atomic_thread_fence(memory_order_seq_cst);
        if (ready(g, me)) {
            atomic_store_explicit(flag, 0, memory_order_relaxed);
            return;
        }
        futex_wait(seq, v);
    }
}

/* Producer: copy one record of len bytes from buf into the ring, waiting for
 * room as long as it takes; published at the next publication point. */
static void ring_put(ring *g, rside *p, const void *buf, uint32_t len)
{
    uint64_t need = (8 + (uint64_t)len + 7) & ~(uint64_t)7;
    if (REF_RING_BYTES - (p->mine - p->peer) < need) { /* cached tail says full */
        p->need = need;
        if (!room_ok(g, p))
            ring_wait(g, p, true);
    }
    size_t at = (size_t)(p->mine % REF_RING_BYTES);
    uint32_t hdr[2] = {len, 0};
    memcpy(g->data + at, hdr, 8);
    size_t off = (at + 8) % REF_RING_BYTES;
    size_t first = REF_RING_BYTES - off < len ? REF_RING_BYTES - off : len;
    memcpy(g->data + off, buf, first);
    memcpy(g->data, (const char *)buf + first, len - first);
    p->mine += need;
    p->pend_bytes += need;
    if (++p->pend >= PUB_EVERY || p->pend_bytes >= PUB_BYTES)
        ring_publish(g, p, true);
}

/* Consumer: copy the next record out into buf (room for the largest record
 * sent), waiting for one as long as it takes; returns its length.  The room
 * is given back at the next publication point. */
static uint32_t ring_get(ring *g, rside *c, void *buf)
{
    if (c->peer == c->mine && !data_ok(g, c)) /* cached head says empty */
        ring_wait(g, c, false);
    size_t at = (size_t)(c->mine % REF_RING_BYTES);
    uint32_t hdr[2];
    memcpy(hdr, g->data + at, 8);
    uint32_t len = hdr[0];
    size_t off = (at + 8) % REF_RING_BYTES;
    size_t first = REF_RING_BYTES - off < len ? REF_RING_BYTES - off : len;
    memcpy(buf, g->data + off, first);
    memcpy((char *)buf + first, g->data, len - first);
    uint64_t need = (8 + (uint64_t)len + 7) & ~(uint64_t)7;
    c->mine += need;
    c->pend_bytes += need;
    if (++c->pend >= PUB_EVERY || c->pend_bytes >= PUB_BYTES)
        ring_publish(g, c, false);
    return len;
}

/* End of a burst: publish what this side holds and wake a sleeping peer. */
static void ring_flush(ring *g, rside *me, bool producer) { ring_publish(g, me, producer); }

/* ---- buffered framing (mech=pipebuf|sockbuf|pipe1mbuf): ref's Pipe reads
 * ahead up to RBUF_CAP and parses frames from that buffer; after a frame
 * larger than the buffer it reads only what it is asked for (reading ahead
 * would copy the next large payload twice).  Same here. */
typedef struct rdbuf {
    unsigned char *b;
    size_t pos, len;
    bool big;
} rdbuf;

#define PING_MAX_PAIRS 8 /* 1 + 2 x 7 children <= MPB_MAX_CHILD */

typedef struct fst {
    mpb_team team;
    pid_t pids[MPB_MAX_CHILD];
    int nproc;
    const char *mech;
    size_t size;
    long work_ns; /* stream: the reader's work per message (mpb_work) */
    unsigned char *payload, *rbuf;
    int fds[4]; /* stream: [0] read [1] write; pingpong pipe: + [2] read [3] write */
    int xfds[PING_MAX_PAIRS][4]; /* pingpong pairs=P: the fds of pairs 1..P-1 */
    int pairs;
    int ack[2];
    ring *rg;
    rside rs; /* this process's side of the ring (each child has its own copy) */
    rdbuf rd; /* buffered mechs: this process's read-ahead */
    bool buffered, spin;
    size_t shm_len;
    _Atomic uint32_t *fx; /* futex words / mutex in shared memory */
    pthread_mutex_t *mtx;
    uint32_t seen; /* wake: the child's count of stamps received */
    int kind;
} fst;

enum { K_STREAM, K_PING, K_WAKE, K_MUTEX };

static int sysfail(mpb_res *r, const char *what)
{
    return mpb_fail(r, MPB_ERROR, "%s: %s", what, strerror(errno));
}

static bool fork_alive(mpb_team *t, int i, mpb_res *r)
{
    fst *s = t->owner;
    int status;
    pid_t w = waitpid(s->pids[i], &status, WNOHANG);
    if (w == 0)
        return true;
    if (w == s->pids[i])
        s->pids[i] = 0;
    mpb_fail(r, MPB_ERROR, "child %d ended in the middle of a round (status 0x%x)", i, status);
    return false;
}

static void child_loop(fst *s, int idx);

static void ring_diag(mpb_team *t, char *buf, size_t len)
{
    fst *s = t->owner;
    ring *g = s->rg;
    if (!g)
        return;
    snprintf(buf, len,
             "ring head %llu tail %llu data_seq %u room_seq %u prod_sleep %u cons_sleep %u",
             (unsigned long long)atomic_load(&g->head), (unsigned long long)atomic_load(&g->tail),
             atomic_load(&g->data_seq), atomic_load(&g->room_seq), atomic_load(&g->prod_sleep),
             atomic_load(&g->cons_sleep));
}

static int spawn(fst *s, int n, mpb_res *r)
{
    if (mpb_team_init(&s->team, n, r) != 0)
        return -1;
    s->team.owner = s;
    s->team.alive = fork_alive;
    s->team.diag = ring_diag;
    fflush(NULL);
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0)
            return sysfail(r, "fork");
        if (pid == 0) {
            child_loop(s, i);
            _exit(0);
        }
        s->pids[i] = pid;
        s->nproc = i + 1;
    }
    mpb_team_started(&s->team);
    return 0;
}

static fst *fst_new(int kind)
{
    fst *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->kind = kind;
    for (int i = 0; i < 4; i++)
        s->fds[i] = -1;
    for (int k = 0; k < PING_MAX_PAIRS; k++)
        for (int i = 0; i < 4; i++)
            s->xfds[k][i] = -1;
    s->ack[0] = s->ack[1] = -1;
    s->team.done[0] = s->team.done[1] = -1;
    for (int i = 0; i < MPB_MAX_CHILD; i++)
        s->team.ctl[i][0] = s->team.ctl[i][1] = -1;
    s->mech = mpb_param_str("mech", "pipe");
    s->size = (size_t)mpb_param_long("size", 64);
    s->buffered = strstr(s->mech, "buf") != NULL;
    s->spin = strcmp(s->mech, "futexspin") == 0;
    return s;
}

static void teardown(void *p)
{
    fst *s = p;
    if (!s)
        return;
    if (s->nproc) {
        mpb_res ignore;
        mpb_team_go(&s->team, 0, &ignore);
    }
    for (int i = 0; i < s->nproc; i++) {
        if (s->pids[i] <= 0)
            continue;
        int status;
        /* Children stuck after a failure get 2 s, then SIGKILL. */
        for (int k = 0; k < 200 && waitpid(s->pids[i], &status, WNOHANG) == 0; k++)
            usleep(10000);
        if (waitpid(s->pids[i], &status, WNOHANG) == 0) {
            kill(s->pids[i], SIGKILL);
            waitpid(s->pids[i], &status, 0);
        }
    }
    mpb_team_close(&s->team);
    for (int i = 0; i < 4; i++)
        if (s->fds[i] >= 0)
            close(s->fds[i]);
    for (int k = 0; k < PING_MAX_PAIRS; k++)
        for (int i = 0; i < 4; i++)
            if (s->xfds[k][i] >= 0)
                close(s->xfds[k][i]);
    for (int i = 0; i < 2; i++)
        if (s->ack[i] >= 0)
            close(s->ack[i]);
    if (s->shm_len)
        munmap(s->rg ? (void *)s->rg : (void *)s->fx, s->shm_len);
    free(s->payload);
    free(s->rbuf);
    free(s->rd.b);
    free(s);
}

static int shm(fst *s, size_t len, void **out, mpb_res *r)
{
    /* Populated now: a first touch costs a page fault, and on some VMs (this
     * project's CI: ~60-110 us per 4 KiB page) that would swamp the floor. */
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_POPULATE, -1,
                   0);
    if (p == MAP_FAILED)
        return sysfail(r, "mmap");
    s->shm_len = len;
    *out = p;
    return 0;
}

/* ------------------------------------------------------------ channels */

static int make_channel(fst *s, int *fds, mpb_res *r)
{
    if (strncmp(s->mech, "sock", 4) == 0) { /* socketpair, sockbuf */
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
            return sysfail(r, "socketpair");
        /* The send buffer ref's Pipe asks for on each writable end (1 MiB,
         * ref/src/pipe.c); the default made 1 MiB messages a third slower
         * here than through ref ("floor not a floor"). */
        int sz = 1 << 20;
        for (int i = 0; i < 2; i++)
            if (setsockopt(fds[i], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz) != 0)
                return sysfail(r, "setsockopt SO_SNDBUF");
        return 0;
    }
    if (pipe2(fds, O_CLOEXEC) != 0)
        return sysfail(r, "pipe");
    /* The largest pipe buffer an unprivileged process gets by default. */
    if (strncmp(s->mech, "pipe1m", 6) == 0 && fcntl(fds[1], F_SETPIPE_SZ, 1 << 20) < 0)
        return sysfail(r, "F_SETPIPE_SZ");
    return 0;
}

static int frame_send(int fd, const void *buf, uint32_t len)
{
    struct iovec iov[2] = {{&len, 4}, {(void *)buf, len}};
    size_t total = 4 + (size_t)len, done = 0;
    while (done < total) {
        ssize_t k = writev(fd, iov, 2);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -1;
        done += (size_t)k;
        for (int i = 0; i < 2 && k > 0; i++) { /* advance past what was written */
            size_t step = (size_t)k < iov[i].iov_len ? (size_t)k : iov[i].iov_len;
            iov[i].iov_base = (char *)iov[i].iov_base + step;
            iov[i].iov_len -= step;
            k -= (ssize_t)step;
        }
    }
    return 0;
}

/* Unbuffered (mech=pipe|socketpair|pipe1m): two read()s per message, as
 * CPython's Connection does.  Kept for comparison by hand; run.py measures
 * the buffered floors. */
static int frame_recv_raw(int fd, void *buf, size_t cap, size_t *len)
{
    uint32_t n;
    if (mpb_read_full(fd, &n, 4) != 0)
        return -1;
    if (n > cap) {
        errno = EMSGSIZE;
        return -1;
    }
    *len = n;
    return mpb_read_full(fd, buf, n);
}

/* Make rd hold at least want (<= RBUF_CAP) unread bytes. */
static int rd_fill(rdbuf *rd, int fd, size_t want)
{
    size_t have = rd->len - rd->pos;
    if (have >= want)
        return 0;
    if (rd->pos + want > RBUF_CAP) {
        memmove(rd->b, rd->b + rd->pos, have);
        rd->pos = 0;
        rd->len = have;
    }
    while (rd->len - rd->pos < want) {
        size_t room = rd->big ? want - (rd->len - rd->pos) : RBUF_CAP - rd->len;
        ssize_t k = read(fd, rd->b + rd->len, room);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            if (k == 0)
                errno = EPIPE;
            return -1;
        }
        rd->len += (size_t)k;
    }
    return 0;
}

/* One frame into buf (capacity cap), parsed from the read-ahead buffer. */
static int frame_recv_buf(rdbuf *rd, int fd, void *buf, size_t cap, size_t *len)
{
    if (rd_fill(rd, fd, 4) != 0)
        return -1;
    uint32_t n;
    memcpy(&n, rd->b + rd->pos, 4);
    if (n > cap) {
        errno = EMSGSIZE;
        return -1;
    }
    rd->pos += 4;
    *len = n;
    if (4 + (size_t)n <= RBUF_CAP) {
        rd->big = false;
        if (rd_fill(rd, fd, n) != 0)
            return -1;
        memcpy(buf, rd->b + rd->pos, n);
        rd->pos += n;
        return 0;
    }
    rd->big = true;
    size_t have = rd->len - rd->pos;
    if (have > n)
        have = n;
    memcpy(buf, rd->b + rd->pos, have);
    rd->pos += have;
    return mpb_read_full(fd, (char *)buf + have, n - have);
}

static int frame_recv(fst *s, int fd, void *buf, size_t cap, size_t *len)
{
    return s->buffered ? frame_recv_buf(&s->rd, fd, buf, cap, len)
                       : frame_recv_raw(fd, buf, cap, len);
}

/* ------------------------------------------------------------ workloads */

static int buffers(fst *s, mpb_res *r)
{
    s->payload = mpb_payload(s->size);
    s->rbuf = malloc(s->size + 8);
    if (!s->payload || !s->rbuf)
        return mpb_fail(r, MPB_ERROR, "out of memory");
    memset(s->rbuf, 0, s->size + 8); /* fault it in before the children fork */
    if (s->buffered) {
        if (!(s->rd.b = malloc(RBUF_CAP)))
            return mpb_fail(r, MPB_ERROR, "out of memory");
        memset(s->rd.b, 0, RBUF_CAP);
    }
    return 0;
}

static bool mech_is(const fst *s, const char *const *names)
{
    for (; *names; names++)
        if (strcmp(s->mech, *names) == 0)
            return true;
    return false;
}

static int stream_setup(void **out, mpb_res *r)
{
    static const char *const mechs[] = {"ring", "pipebuf",    "sockbuf", "pipe1mbuf",
                                        "pipe", "socketpair", "pipe1m",  NULL};
    fst *s = *out = fst_new(K_STREAM);
    if (!s)
        return mpb_fail(r, MPB_ERROR, "out of memory");
    if (!mech_is(s, mechs))
        return mpb_fail(r, MPB_ERROR, "stream: unknown mech '%s'", s->mech);
    s->work_ns = mpb_param_long("work_ns", 0);
    if (buffers(s, r) != 0)
        return -1;
    if (strcmp(s->mech, "ring") == 0) {
        if (s->size + 16 > REF_RING_BYTES / 2)
            return mpb_fail(r, MPB_ERROR, "message too big for ring");
        if (shm(s, sizeof(ring) + REF_RING_BYTES, (void **)&s->rg, r) != 0)
            return -1;
    } else if (make_channel(s, s->fds, r) != 0) {
        return -1;
    }
    return spawn(s, 2, r); /* child 0 writes, child 1 reads */
}

static int team_round(void *p, long n, int64_t *ops, mpb_res *r)
{
    fst *s = p;
    (void)ops;
    if (s->nproc == 0)
        return mpb_fail(r, MPB_ERROR, "no children");
    if (mpb_team_go(&s->team, n, r) != 0)
        return -1;
    return mpb_team_wait(&s->team, r);
}

static void stream_child(fst *s, int idx, long n, mpb_res *r)
{
    for (long i = 0; i < n; i++) {
        size_t len = s->size;
        if (s->rg) {
            if (idx == 0)
                ring_put(s->rg, &s->rs, s->payload, (uint32_t)s->size);
            else
                len = ring_get(s->rg, &s->rs, s->rbuf);
        } else if (idx == 0 ? frame_send(s->fds[1], s->payload, (uint32_t)s->size)
                            : frame_recv(s, s->fds[0], s->rbuf, s->size + 8, &len)) {
            sysfail(r, idx == 0 ? "send" : "recv");
            return;
        }
        if (len != s->size) {
            mpb_fail(r, MPB_ERROR, "received %zu bytes, sent %zu", len, s->size);
            return;
        }
        if (idx == 1)
            mpb_work(s->work_ns);
    }
    if (s->rg)
        ring_flush(s->rg, &s->rs, idx == 0);
}

/* Ping-pong: pipe uses two pipes (fds[0..1] parent->child, fds[2..3] back);
 * socketpair one pair (parent fds[0], child fds[1]); futex two words.
 * pairs=P: P-1 more pairs of children run the same ping-pong at the same
 * time, n round trips each a round (child 2k-1 pings, child 2k echoes, on
 * xfds[k] or the futex words of pair k), as bench/c/mpbench.c does; the
 * parent's pair (with child 0) is the one timed. */
static int ping_setup(void **out, mpb_res *r)
{
    static const char *const mechs[] = {"futex", "futexspin",  "pipebuf", "sockbuf",
                                        "pipe",  "socketpair", NULL};
    fst *s = *out = fst_new(K_PING);
    if (!s)
        return mpb_fail(r, MPB_ERROR, "out of memory");
    if (!mech_is(s, mechs))
        return mpb_fail(r, MPB_ERROR, "pingpong: unknown mech '%s'", s->mech);
    if (buffers(s, r) != 0)
        return -1;
    s->pairs = (int)mpb_param_long("pairs", 1);
    if (s->pairs < 1 || s->pairs > PING_MAX_PAIRS)
        return mpb_fail(r, MPB_ERROR, "pairs=%d: 1..%d", s->pairs, PING_MAX_PAIRS);
    if (strncmp(s->mech, "futex", 5) == 0) {
        /* pair k: words fx[32k] (ping) and fx[32k + 16] (pong), 128 bytes */
        if (shm(s, 4096, (void **)&s->fx, r) != 0)
            return -1;
    } else {
        for (int k = 0; k < s->pairs; k++) {
            int *fds = k ? s->xfds[k] : s->fds;
            if (make_channel(s, fds, r) != 0)
                return -1;
            if (strncmp(s->mech, "sock", 4) != 0 && make_channel(s, fds + 2, r) != 0)
                return -1;
        }
    }
    return spawn(s, 2 * s->pairs - 1, r);
}

/* The fd of pair k's pinging side (the parent for pair 0) or echoing side,
 * for sending (out) or receiving. */
static int ping_fd(fst *s, int k, bool parent, bool out)
{
    int *fds = k ? s->xfds[k] : s->fds;
    if (strncmp(s->mech, "sock", 4) == 0)
        return parent ? fds[0] : fds[1];
    /* pipe: parent writes fds[1], child reads fds[0]; child writes fds[3], parent reads fds[2] */
    if (parent)
        return out ? fds[1] : fds[2];
    return out ? fds[3] : fds[0];
}

/* Futex hand-over: w[0] is the value, w[1] the "I sleep" flag (same line).
 * mech=futex sleeps at once: every hop is a real sleep and wake-up, what a
 * blocking recv costs.  mech=futexspin first spins REF_SPIN_ITERS, as ref's
 * queue get does, so a peer that answers within ~10-40 us is caught awake.
 * Either way the waker calls futex_wake only when the flag says someone
 * sleeps: store, FENCE, load on both sides, so either the waker sees the
 * flag or the sleeper's re-check sees the value.
 *
 * Only the sleeper raises and lowers its flag.  The waker used to lower it
 * (an exchange, to wake once): a waker preempted between its load of the
 * flag and that exchange could then lower the flag the sleeper had raised
 * for the NEXT value -- after a re-check that found this value had spared it
 * the sleep -- and the next pass, seeing no flag, woke nobody (a pairs=4
 * round stalled once in a 21-round run, 5 of 7 children done after 30 s).  A
 * waker that sees a stale flag only makes a futile futex_wake. */
static void fx_pass(_Atomic uint32_t *w, uint32_t v)
{
    atomic_store_explicit(&w[0], v, memory_order_release);
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&w[1], memory_order_relaxed))
        futex_wake(&w[0]);
}

static void fx_await(_Atomic uint32_t *w, uint32_t v, bool spin)
{
    for (int i = 0; spin && i < REF_SPIN_ITERS; i++) {
        if (atomic_load_explicit(&w[0], memory_order_acquire) == v)
            return;
        CPU_RELAX();
    }
    for (;;) {
        uint32_t cur = atomic_load_explicit(&w[0], memory_order_acquire);
        if (cur == v)
            break;
        atomic_store_explicit(&w[1], 1, memory_order_relaxed);
        atomic_thread_fence(memory_order_seq_cst);
        if (atomic_load_explicit(&w[0], memory_order_acquire) == v)
            break;
        futex_wait(&w[0], cur);
    }
    atomic_store_explicit(&w[1], 0, memory_order_relaxed);
}

/* n round trips of pair k from its pinging side; ops (if not NULL) gets
 * each one's time.  0, or fills r. */
static int ping_ops(fst *s, int k, long n, int64_t *ops, mpb_res *r)
{
    _Atomic uint32_t *fx = s->fx ? s->fx + 32 * k : NULL;
    for (long i = 0; i < n; i++) {
        int64_t t0 = mpb_now_ns();
        if (fx) {
            uint32_t v = atomic_load(&fx[0]) + 1;
            fx_pass(&fx[0], v);
            fx_await(&fx[16], v, s->spin);
        } else {
            size_t len;
            if (frame_send(ping_fd(s, k, true, true), s->payload, (uint32_t)s->size) != 0)
                return sysfail(r, "send");
            if (frame_recv(s, ping_fd(s, k, true, false), s->rbuf, s->size + 8, &len) != 0)
                return sysfail(r, "recv");
        }
        if (ops)
            ops[i] = mpb_now_ns() - t0;
    }
    return 0;
}

static int ping_round(void *p, long n, int64_t *ops, mpb_res *r)
{
    fst *s = p;
    if (mpb_team_go(&s->team, n, r) != 0)
        return -1;
    if (ping_ops(s, 0, n, ops, r) != 0)
        return -1;
    return mpb_team_wait(&s->team, r);
}

static void ping_child(fst *s, int idx, long n, mpb_res *r)
{
    int k = (idx + 1) / 2;
    if (idx % 2 == 1) { /* the pinger of pair k */
        ping_ops(s, k, n, NULL, r);
        return;
    }
    _Atomic uint32_t *fx = s->fx ? s->fx + 32 * k : NULL;
    for (long i = 0; i < n; i++) {
        if (fx) {
            uint32_t v = atomic_load(&fx[16]) + 1;
            fx_await(&fx[0], v, s->spin);
            fx_pass(&fx[16], v);
            continue;
        }
        size_t len;
        if (frame_recv(s, ping_fd(s, k, false, false), s->rbuf, s->size + 8, &len) != 0 ||
            frame_send(ping_fd(s, k, false, true), s->rbuf, (uint32_t)len) != 0) {
            sysfail(r, "echo");
            return;
        }
    }
}

/* One-way wake-up: the parent stamps its send time into the message (or the
 * futex slot) while the child sleeps; the child answers the delay on a pipe. */
static int wake_setup(void **out, mpb_res *r)
{
    static const char *const mechs[] = {"futex", "futexspin",  "pipebuf", "sockbuf",
                                        "pipe",  "socketpair", NULL};
    fst *s = *out = fst_new(K_WAKE);
    if (!s)
        return mpb_fail(r, MPB_ERROR, "out of memory");
    if (!mech_is(s, mechs))
        return mpb_fail(r, MPB_ERROR, "wake: unknown mech '%s'", s->mech);
    if (s->size < 8)
        s->size = 8;
    if (buffers(s, r) != 0)
        return -1;
    if (pipe2(s->ack, O_CLOEXEC) != 0)
        return sysfail(r, "pipe");
    if (strncmp(s->mech, "futex", 5) == 0) {
        if (shm(s, 4096, (void **)&s->fx, r) != 0)
            return -1;
    } else if (make_channel(s, s->fds, r) != 0) {
        return -1;
    }
    return spawn(s, 1, r);
}

static int wake_round(void *p, long n, int64_t *ops, mpb_res *r)
{
    fst *s = p;
    long idle = mpb_param_long("idle_us", 0);
    if (mpb_team_go(&s->team, n, r) != 0)
        return -1;
    for (long i = 0; i < n; i++) {
        if (idle > 0)
            mpb_sleep_us(idle);
        int64_t t0 = mpb_now_ns();
        if (s->fx) {
            _Atomic int64_t *stamp = (_Atomic int64_t *)(void *)&s->fx[32];
            atomic_store(stamp, t0);
            fx_pass(&s->fx[0], atomic_load(&s->fx[0]) + 1);
        } else {
            memcpy(s->payload, &t0, 8);
            if (frame_send(s->fds[1], s->payload, (uint32_t)s->size) != 0)
                return sysfail(r, "send");
        }
        if (mpb_read_full(s->ack[0], &ops[i], 8) != 0)
            return sysfail(r, "ack");
    }
    return mpb_team_wait(&s->team, r);
}

static void wake_child(fst *s, long n, mpb_res *r)
{
    for (long i = 0; i < n; i++) {
        int64_t t0, d;
        if (s->fx) {
            fx_await(&s->fx[0], ++s->seen, s->spin);
            t0 = atomic_load((_Atomic int64_t *)(void *)&s->fx[32]);
        } else {
            size_t len;
            if (frame_recv(s, s->fds[0], s->rbuf, s->size + 8, &len) != 0) {
                sysfail(r, "recv");
                d = -1;
                mpb_write_full(s->ack[1], &d, 8);
                return;
            }
            memcpy(&t0, s->rbuf, 8);
        }
        d = mpb_now_ns() - t0;
        mpb_write_full(s->ack[1], &d, 8);
    }
}

static int mutex_setup(void **out, mpb_res *r)
{
    fst *s = *out = fst_new(K_MUTEX);
    if (!s)
        return mpb_fail(r, MPB_ERROR, "out of memory");
    if (shm(s, 4096, (void **)&s->fx, r) != 0)
        return -1;
    s->mtx = (pthread_mutex_t *)(void *)s->fx;
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    int e = pthread_mutex_init(s->mtx, &a);
    pthread_mutexattr_destroy(&a);
    if (e)
        return mpb_fail(r, MPB_ERROR, "pthread_mutex_init: %s", strerror(e));
    long procs = mpb_param_long("processes", 1);
    return procs > 1 ? spawn(s, (int)procs, r) : 0;
}

static void mutex_ops(fst *s, long n)
{
    for (long i = 0; i < n; i++) {
        pthread_mutex_lock(s->mtx);
        pthread_mutex_unlock(s->mtx);
    }
}

static int mutex_round(void *p, long n, int64_t *ops, mpb_res *r)
{
    fst *s = p;
    if (s->nproc)
        return team_round(p, n, ops, r);
    mutex_ops(s, n);
    return 0;
}

static int fork_setup(void **out, mpb_res *r)
{
    (void)r;
    *out = NULL;
    return 0;
}

/* The child's _exit through a pointer the dynamic linker fills at load
 * time, as ref's children do (process.c, child_exit): a direct call is bound
 * lazily at its first call, which is in every child since the parent never
 * calls _exit -- a symbol lookup costing some 8 page faults per child that a
 * careful program avoids. */
static void (*volatile fork_child_exit)(int) = _exit;

static int fork_round(void *p, long n, int64_t *ops, mpb_res *r)
{
    (void)p;
    fflush(NULL);
    for (long i = 0; i < n; i++) {
        int64_t t0 = mpb_now_ns();
        pid_t pid = fork();
        if (pid < 0)
            return sysfail(r, "fork");
        if (pid == 0) {
            fork_child_exit(0);
            __builtin_unreachable();
        }
        int status;
        while (waitpid(pid, &status, 0) < 0)
            if (errno != EINTR)
                return sysfail(r, "waitpid");
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            return mpb_fail(r, MPB_ERROR, "child status 0x%x", status);
        ops[i] = mpb_now_ns() - t0;
    }
    return 0;
}

static void child_loop(fst *s, int idx)
{
    long n;
    while ((n = mpb_child_next(&s->team, idx)) > 0) {
        mpb_res r = {.kind = MPB_OK};
        switch (s->kind) {
        case K_STREAM:
            stream_child(s, idx, n, &r);
            break;
        case K_PING:
            ping_child(s, idx, n, &r);
            break;
        case K_WAKE:
            wake_child(s, n, &r);
            break;
        case K_MUTEX:
            mutex_ops(s, n / s->team.nchild);
            break;
        }
        mpb_child_done(&s->team, &r);
        if (r.kind != MPB_OK)
            return;
    }
}

static const mpb_workload table[] = {
    {"stream", "throughput", "msg/s", 64, 256, stream_setup, team_round, teardown, NULL, NULL},
    {"pingpong", "latency", "s", 16, 64, ping_setup, ping_round, teardown, NULL, NULL},
    {"wake", "latency", "s", 16, 64, wake_setup, wake_round, teardown, NULL, NULL},
    {"mutex", "throughput", "ops/s", 1024, 4096, mutex_setup, mutex_round, teardown, NULL, NULL},
    {"fork", "latency", "s", 4, 4, fork_setup, fork_round, NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    return mpb_main(argc, argv, table, sizeof table / sizeof table[0]);
}
