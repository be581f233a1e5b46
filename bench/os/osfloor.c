/* osfloor -- the raw OS limit under the mp workloads, in plain C with fork():
 *   stream   mech=pipe|pipe1m|socketpair|shmring size=N   one writer child, one reader child
 *   pingpong mech=pipe|socketpair|futex size=N            parent <-> echo child round trip
 *   wake     mech=futex|pipe size=N idle_us=N             parent -> sleeping child, one way
 *   mutex    processes=1|2                                pshared pthread mutex lock+unlock
 *   fork                                                  fork + _exit(0) + waitpid
 * Messages use the framing of CPython's Connection: a 4-byte length, then
 * the payload; the receiver reads both into a preallocated buffer (no
 * per-message allocation: this is the floor). */
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

/* Bounded at 5 ms: the shared-memory ring stalled in about 1 run of 15 with
 * a consumer neither sleeping nor consuming (a lost wake-up not yet
 * understood, bench/README.md); a bounded sleep turns that into a late
 * wake-up instead of a hang.  Streams rarely sleep, so the floor's figures
 * do not depend on it. */
static void futex_wait(_Atomic uint32_t *a, uint32_t expect)
{
    struct timespec ts = {0, 5000000};
    syscall(SYS_futex, a, FUTEX_WAIT, expect, &ts, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *a)
{
    syscall(SYS_futex, a, FUTEX_WAKE, 1, NULL, NULL, 0);
}

/* SPSC ring in MAP_SHARED memory.  Records are 8-byte aligned: a 4-byte
 * length then the payload, which may wrap.  A side that must wait announces
 * it (prod_wait/cons_wait) and sleeps on the peer's sequence word, so wakes
 * cost a syscall only when someone sleeps (seq_cst orders announce/recheck). */
#define RING_CAP (4u << 20)
typedef struct ring {
    _Alignas(64) _Atomic uint64_t head; /* written by the producer */
    _Atomic uint32_t pseq;
    _Atomic uint32_t cons_wait;
    _Alignas(64) _Atomic uint64_t tail; /* written by the consumer */
    _Atomic uint32_t cseq;
    _Atomic uint32_t prod_wait;
    _Alignas(64) unsigned char data[];
} ring;

typedef struct fst {
    mpb_team team;
    pid_t pids[MPB_MAX_CHILD];
    int nproc;
    const char *mech;
    size_t size;
    unsigned char *payload, *rbuf;
    int fds[4]; /* stream: [0] read [1] write; pingpong pipe: + [2] read [3] write */
    int ack[2];
    ring *rg;
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
    if (w == 0) return true;
    if (w == s->pids[i]) s->pids[i] = 0;
    mpb_fail(r, MPB_ERROR, "child %d ended in the middle of a round (status 0x%x)", i, status);
    return false;
}

static void child_loop(fst *s, int idx);

static void ring_diag(mpb_team *t, char *buf, size_t len)
{
    fst *s = t->owner;
    ring *g = s->rg;
    if (!g) return;
    snprintf(buf, len, "ring head %llu tail %llu pseq %u cseq %u prod_wait %u cons_wait %u",
             (unsigned long long)atomic_load(&g->head), (unsigned long long)atomic_load(&g->tail),
             atomic_load(&g->pseq), atomic_load(&g->cseq), atomic_load(&g->prod_wait),
             atomic_load(&g->cons_wait));
}

static int spawn(fst *s, int n, mpb_res *r)
{
    if (mpb_team_init(&s->team, n, r) != 0) return -1;
    s->team.owner = s;
    s->team.alive = fork_alive;
    s->team.diag = ring_diag;
    fflush(NULL);
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0) return sysfail(r, "fork");
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
    if (!s) return NULL;
    s->kind = kind;
    for (int i = 0; i < 4; i++) s->fds[i] = -1;
    s->ack[0] = s->ack[1] = -1;
    s->team.done[0] = s->team.done[1] = -1;
    for (int i = 0; i < MPB_MAX_CHILD; i++) s->team.ctl[i][0] = s->team.ctl[i][1] = -1;
    s->mech = mpb_param_str("mech", "pipe");
    s->size = (size_t)mpb_param_long("size", 64);
    return s;
}

static void teardown(void *p)
{
    fst *s = p;
    if (!s) return;
    if (s->nproc) {
        mpb_res ignore;
        mpb_team_go(&s->team, 0, &ignore);
    }
    for (int i = 0; i < s->nproc; i++) {
        if (s->pids[i] <= 0) continue;
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
        if (s->fds[i] >= 0) close(s->fds[i]);
    for (int i = 0; i < 2; i++)
        if (s->ack[i] >= 0) close(s->ack[i]);
    if (s->shm_len) munmap(s->rg ? (void *)s->rg : (void *)s->fx, s->shm_len);
    free(s->payload);
    free(s->rbuf);
    free(s);
}

static int shm(fst *s, size_t len, void **out, mpb_res *r)
{
    /* Populated now: a first touch costs a page fault, and on some VMs (this
     * project's CI: ~60-110 us per 4 KiB page) that would swamp the floor. */
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_POPULATE,
                   -1, 0);
    if (p == MAP_FAILED) return sysfail(r, "mmap");
    s->shm_len = len;
    *out = p;
    return 0;
}

/* ------------------------------------------------------------ channels */

static int make_channel(fst *s, int *fds, mpb_res *r)
{
    if (strcmp(s->mech, "socketpair") == 0) {
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
            return sysfail(r, "socketpair");
        return 0;
    }
    if (pipe2(fds, O_CLOEXEC) != 0) return sysfail(r, "pipe");
    /* The largest pipe buffer an unprivileged process gets by default. */
    if (strcmp(s->mech, "pipe1m") == 0 && fcntl(fds[1], F_SETPIPE_SZ, 1 << 20) < 0)
        return sysfail(r, "F_SETPIPE_SZ");
    return 0;
}

static int frame_send(int fd, const void *buf, uint32_t len)
{
    struct iovec iov[2] = {{&len, 4}, {(void *)buf, len}};
    size_t total = 4 + (size_t)len, done = 0;
    while (done < total) {
        ssize_t k = writev(fd, iov, 2);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return -1;
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

static int frame_recv(int fd, void *buf, size_t cap, size_t *len)
{
    uint32_t n;
    if (mpb_read_full(fd, &n, 4) != 0) return -1;
    if (n > cap) {
        errno = EMSGSIZE;
        return -1;
    }
    *len = n;
    return mpb_read_full(fd, buf, n);
}

/* ---- ring */

static void ring_put(ring *g, const void *buf, uint32_t len)
{
    uint64_t need = (4 + (uint64_t)len + 7) & ~(uint64_t)7;
    uint64_t h = atomic_load_explicit(&g->head, memory_order_relaxed);
    for (int spin = 0;; spin++) {
        uint64_t t = atomic_load_explicit(&g->tail, memory_order_acquire);
        if (RING_CAP - (h - t) >= need) break;
        if (spin < 200) {
            CPU_RELAX();
            continue;
        }
        uint32_t seq = atomic_load(&g->cseq);
        atomic_store(&g->prod_wait, 1);
        if (RING_CAP - (h - atomic_load(&g->tail)) < need) futex_wait(&g->cseq, seq);
        atomic_store(&g->prod_wait, 0);
    }
    size_t pos = (size_t)(h % RING_CAP);
    memcpy(g->data + pos, &len, 4);
    size_t off = (pos + 4) % RING_CAP, first = RING_CAP - off < len ? RING_CAP - off : len;
    memcpy(g->data + off, buf, first);
    memcpy(g->data, (const char *)buf + first, len - first);
    atomic_store(&g->head, h + need);
    atomic_fetch_add(&g->pseq, 1);
    /* Clearing the flag makes this the only wake while the sleeper wakes up. */
    if (atomic_exchange(&g->cons_wait, 0)) futex_wake(&g->pseq);
}

static uint32_t ring_get(ring *g, void *buf)
{
    uint64_t t = atomic_load_explicit(&g->tail, memory_order_relaxed);
    for (int spin = 0;; spin++) {
        if (atomic_load_explicit(&g->head, memory_order_acquire) != t) break;
        if (spin < 200) {
            CPU_RELAX();
            continue;
        }
        uint32_t seq = atomic_load(&g->pseq);
        atomic_store(&g->cons_wait, 1);
        if (atomic_load(&g->head) == t) futex_wait(&g->pseq, seq);
        atomic_store(&g->cons_wait, 0);
    }
    size_t pos = (size_t)(t % RING_CAP);
    uint32_t len;
    memcpy(&len, g->data + pos, 4);
    size_t off = (pos + 4) % RING_CAP, first = RING_CAP - off < len ? RING_CAP - off : len;
    memcpy(buf, g->data + off, first);
    memcpy((char *)buf + first, g->data, len - first);
    atomic_store(&g->tail, t + ((4 + (uint64_t)len + 7) & ~(uint64_t)7));
    atomic_fetch_add(&g->cseq, 1);
    if (atomic_exchange(&g->prod_wait, 0)) futex_wake(&g->cseq);
    return len;
}

/* ------------------------------------------------------------ workloads */

static int buffers(fst *s, mpb_res *r)
{
    s->payload = mpb_payload(s->size);
    s->rbuf = malloc(s->size + 8);
    if (!s->payload || !s->rbuf) return mpb_fail(r, MPB_ERROR, "out of memory");
    memset(s->rbuf, 0, s->size + 8); /* fault it in before the children fork */
    return 0;
}

static int stream_setup(void **out, mpb_res *r)
{
    fst *s = *out = fst_new(K_STREAM);
    if (!s) return mpb_fail(r, MPB_ERROR, "out of memory");
    if (buffers(s, r) != 0) return -1;
    if (strcmp(s->mech, "shmring") == 0) {
        if (s->size + 16 > RING_CAP / 2) return mpb_fail(r, MPB_ERROR, "message too big for ring");
        if (shm(s, sizeof(ring) + RING_CAP, (void **)&s->rg, r) != 0) return -1;
    } else if (make_channel(s, s->fds, r) != 0) {
        return -1;
    }
    return spawn(s, 2, r); /* child 0 writes, child 1 reads */
}

static int team_round(void *p, long n, int64_t *ops, mpb_res *r)
{
    fst *s = p;
    (void)ops;
    if (s->nproc == 0) return mpb_fail(r, MPB_ERROR, "no children");
    if (mpb_team_go(&s->team, n, r) != 0) return -1;
    return mpb_team_wait(&s->team, r);
}

static void stream_child(fst *s, int idx, long n, mpb_res *r)
{
    for (long i = 0; i < n; i++) {
        size_t len = s->size;
        if (s->rg) {
            if (idx == 0) ring_put(s->rg, s->payload, (uint32_t)s->size);
            else len = ring_get(s->rg, s->rbuf);
        } else if (idx == 0 ? frame_send(s->fds[1], s->payload, (uint32_t)s->size)
                            : frame_recv(s->fds[0], s->rbuf, s->size + 8, &len)) {
            sysfail(r, idx == 0 ? "send" : "recv");
            return;
        }
        if (len != s->size) {
            mpb_fail(r, MPB_ERROR, "received %zu bytes, sent %zu", len, s->size);
            return;
        }
    }
}

/* Ping-pong: pipe uses two pipes (fds[0..1] parent->child, fds[2..3] back);
 * socketpair one pair (parent fds[0], child fds[1]); futex two words. */
static int ping_setup(void **out, mpb_res *r)
{
    fst *s = *out = fst_new(K_PING);
    if (!s) return mpb_fail(r, MPB_ERROR, "out of memory");
    if (buffers(s, r) != 0) return -1;
    if (strcmp(s->mech, "futex") == 0) {
        if (shm(s, 4096, (void **)&s->fx, r) != 0) return -1;
    } else if (strcmp(s->mech, "socketpair") == 0) {
        if (make_channel(s, s->fds, r) != 0) return -1;
    } else if (make_channel(s, s->fds, r) != 0 || make_channel(s, s->fds + 2, r) != 0) {
        return -1;
    }
    return spawn(s, 1, r);
}

static int ping_fd(fst *s, bool parent, bool out)
{
    if (strcmp(s->mech, "socketpair") == 0) return parent ? s->fds[0] : s->fds[1];
    /* pipe: parent writes fds[1], child reads fds[0]; child writes fds[3], parent reads fds[2] */
    if (parent) return out ? s->fds[1] : s->fds[2];
    return out ? s->fds[3] : s->fds[0];
}

/* Futex ping-pong without spinning: every hop is a real sleep and wake-up,
 * which is what a blocking recv costs. */
static void fx_pass(_Atomic uint32_t *w, uint32_t v)
{
    atomic_store(w, v);
    futex_wake(w);
}

static void fx_await(_Atomic uint32_t *w, uint32_t v)
{
    uint32_t cur;
    while ((cur = atomic_load(w)) != v) futex_wait(w, cur);
}

static int ping_round(void *p, long n, int64_t *ops, mpb_res *r)
{
    fst *s = p;
    if (mpb_team_go(&s->team, n, r) != 0) return -1;
    bool fx = s->fx != NULL;
    for (long i = 0; i < n; i++) {
        int64_t t0 = mpb_now_ns();
        if (fx) {
            uint32_t v = atomic_load(&s->fx[0]) + 1;
            fx_pass(&s->fx[0], v);
            fx_await(&s->fx[16], v);
        } else {
            size_t len;
            if (frame_send(ping_fd(s, true, true), s->payload, (uint32_t)s->size) != 0)
                return sysfail(r, "send");
            if (frame_recv(ping_fd(s, true, false), s->rbuf, s->size + 8, &len) != 0)
                return sysfail(r, "recv");
        }
        ops[i] = mpb_now_ns() - t0;
    }
    return mpb_team_wait(&s->team, r);
}

static void ping_child(fst *s, long n, mpb_res *r)
{
    for (long i = 0; i < n; i++) {
        if (s->fx) {
            uint32_t v = atomic_load(&s->fx[16]) + 1;
            fx_await(&s->fx[0], v);
            fx_pass(&s->fx[16], v);
            continue;
        }
        size_t len;
        if (frame_recv(ping_fd(s, false, false), s->rbuf, s->size + 8, &len) != 0 ||
            frame_send(ping_fd(s, false, true), s->rbuf, (uint32_t)len) != 0) {
            sysfail(r, "echo");
            return;
        }
    }
}

/* One-way wake-up: the parent stamps its send time into the message (or the
 * futex slot) while the child sleeps; the child answers the delay on a pipe. */
static int wake_setup(void **out, mpb_res *r)
{
    fst *s = *out = fst_new(K_WAKE);
    if (!s) return mpb_fail(r, MPB_ERROR, "out of memory");
    if (s->size < 8) s->size = 8;
    if (buffers(s, r) != 0) return -1;
    if (pipe2(s->ack, O_CLOEXEC) != 0) return sysfail(r, "pipe");
    if (strcmp(s->mech, "futex") == 0) {
        if (shm(s, 4096, (void **)&s->fx, r) != 0) return -1;
    } else if (make_channel(s, s->fds, r) != 0) {
        return -1;
    }
    return spawn(s, 1, r);
}

static int wake_round(void *p, long n, int64_t *ops, mpb_res *r)
{
    fst *s = p;
    long idle = mpb_param_long("idle_us", 0);
    if (mpb_team_go(&s->team, n, r) != 0) return -1;
    for (long i = 0; i < n; i++) {
        if (idle > 0) mpb_sleep_us(idle);
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
        if (mpb_read_full(s->ack[0], &ops[i], 8) != 0) return sysfail(r, "ack");
    }
    return mpb_team_wait(&s->team, r);
}

static void wake_child(fst *s, long n, mpb_res *r)
{
    for (long i = 0; i < n; i++) {
        int64_t t0, d;
        if (s->fx) {
            fx_await(&s->fx[0], ++s->seen);
            t0 = atomic_load((_Atomic int64_t *)(void *)&s->fx[32]);
        } else {
            size_t len;
            if (frame_recv(s->fds[0], s->rbuf, s->size + 8, &len) != 0) {
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
    if (!s) return mpb_fail(r, MPB_ERROR, "out of memory");
    if (shm(s, 4096, (void **)&s->fx, r) != 0) return -1;
    s->mtx = (pthread_mutex_t *)(void *)s->fx;
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    int e = pthread_mutex_init(s->mtx, &a);
    pthread_mutexattr_destroy(&a);
    if (e) return mpb_fail(r, MPB_ERROR, "pthread_mutex_init: %s", strerror(e));
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
    if (s->nproc) return team_round(p, n, ops, r);
    mutex_ops(s, n);
    return 0;
}

static int fork_setup(void **out, mpb_res *r)
{
    (void)r;
    *out = NULL;
    return 0;
}

static int fork_round(void *p, long n, int64_t *ops, mpb_res *r)
{
    (void)p;
    fflush(NULL);
    for (long i = 0; i < n; i++) {
        int64_t t0 = mpb_now_ns();
        pid_t pid = fork();
        if (pid < 0) return sysfail(r, "fork");
        if (pid == 0) _exit(0);
        int status;
        while (waitpid(pid, &status, 0) < 0)
            if (errno != EINTR) return sysfail(r, "waitpid");
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
        case K_STREAM: stream_child(s, idx, n, &r); break;
        case K_PING: ping_child(s, n, &r); break;
        case K_WAKE: wake_child(s, n, &r); break;
        case K_MUTEX: mutex_ops(s, n / s->team.nchild); break;
        }
        mpb_child_done(&s->team, &r);
        if (r.kind != MPB_OK) return;
    }
}

static const mpb_workload table[] = {
    {"stream", "throughput", "msg/s", 64, 256, stream_setup, team_round, teardown, NULL},
    {"pingpong", "latency", "s", 16, 64, ping_setup, ping_round, teardown, NULL},
    {"wake", "latency", "s", 16, 64, wake_setup, wake_round, teardown, NULL},
    {"mutex", "throughput", "ops/s", 1024, 4096, mutex_setup, mutex_round, teardown, NULL},
    {"fork", "latency", "s", 4, 4, fork_setup, fork_round, NULL, NULL},
};

int main(int argc, char **argv)
{
    return mpb_main(argc, argv, table, sizeof table / sizeof table[0]);
}
