/* bench.h -- the small harness shared by the mp benchmark (bench/c) and the
 * raw OS floor (bench/os).  Neither side of it knows about mp.h.
 *
 * A program run is one invocation of one workload:
 *     prog WORKLOAD [key=value ...] [-n N] [-t SECONDS] [-s SAMPLES] [-q]
 * and prints exactly one JSON line on stdout (see bench/README.md):
 *     {"status":"ok","metric":..,"unit":..,"n":N,"samples":[..],"cpu_s":[..],
 *      "minflt":[..],"raw_ns":[[..]],"message":""}
 * cpu_s / minflt: per sample, the CPU seconds and minor page faults of the
 * whole side (this process, its reaped children, its live descendants).
 * Exit status 0 whenever that line could be written (also for "unsupported"
 * and "error" statuses); anything else means the program itself is broken.
 *
 * Without -n the program calibrates: it runs rounds of growing size (they are
 * its warm-up) until one lasts a tenth of SECONDS, then rounds sized to last
 * SECONDS until one lasts at least half of it; that last round is the one
 * sample printed, with its n.  With -n it runs a warm-up round of n/10
 * operations, then SAMPLES rounds of n.  -q (quick): the workload's small n,
 * one round, no warm-up. */
#ifndef MPB_BENCH_H
#define MPB_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum { MPB_OK = 0, MPB_UNSUP = 1, MPB_ERROR = 2 };

/* The outcome of a step: kind plus a message.  Fixed size so that a child
 * can send it to the parent in one atomic pipe write (< PIPE_BUF). */
typedef struct mpb_res {
    int32_t kind;
    char msg[252];
} mpb_res;

int mpb_fail(mpb_res *r, int kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

typedef struct mpb_workload {
    const char *name;
    const char *metric; /* "throughput": sample = n / round time; "latency": median of ops_ns */
    const char *unit;   /* "msg/s", "ops/s", "s" */
    long n0;            /* first calibration round */
    long quick_n;       /* -q: operations of the single round */
    /* 0 on success; else fills r (children may already run: teardown is still called). */
    int (*setup)(void **st, mpb_res *r);
    /* Run n operations.  Latency workloads store each operation's time in
     * ops_ns[0..n-1] (ns).  0 on success; else fills r. */
    int (*round)(void *st, long n, int64_t *ops_ns, mpb_res *r);
    void (*teardown)(void *st);
    /* Optional: make the round's input (a map's argument list) before the clock
     * starts, as a program has its data before it calls map.  0 or fills r. */
    int (*prepare)(void *st, long n, mpb_res *r);
    /* Optional: check the round's results after the clock stops (a map's n
     * results), so that a heavy check is outside the figure on every side.
     * 0 or fills r. */
    int (*check)(void *st, long n, mpb_res *r);
} mpb_workload;

/* Parameters given as key=value on the command line. */
long mpb_param_long(const char *key, long dflt);
const char *mpb_param_str(const char *key, const char *dflt);
bool mpb_param_bool(const char *key, bool dflt);

int64_t mpb_now_ns(void); /* CLOCK_MONOTONIC */
/* Busy for ns nanoseconds by the clock: a consumer's work per message
 * (work_ns=N), the same on every side whatever its speed.  0: nothing. */
void mpb_work(long ns);
void mpb_sleep_us(long us);

/* Parses argv, finds the workload in table[0..count-1], runs it, prints the
 * JSON line; returns the process exit status. */
int mpb_main(int argc, char **argv, const mpb_workload *table, size_t count);

/* ---- a team of child processes driven round by round ---------------------
 * Each child has a control pipe (the parent writes the round's n; 0 = stop)
 * and all share a done pipe (one mpb_res per child per round).  How children
 * are started is the caller's business (mp_process or fork); only the pipes
 * live here. */
#define MPB_MAX_CHILD 16 /* queue.stream 8 producers x 8 consumers */
#define MPB_STALL_S 30
typedef struct mpb_team {
    int nchild;
    int ctl[MPB_MAX_CHILD][2];
    int done[2];
    /* Returns false and fills r when child i is gone (poll tick: 1 s). */
    bool (*alive)(struct mpb_team *t, int i, mpb_res *r);
    /* Optional: a description of the shared state, for the message of a
     * round that makes no progress for MPB_STALL_S seconds. */
    void (*diag)(struct mpb_team *t, char *buf, size_t len);
    void *owner;
} mpb_team;

int mpb_team_init(mpb_team *t, int nchild, mpb_res *r);
/* The parent's copy of the done pipe's write end; call once every child runs,
 * so that the parent sees EOF when all children are gone. */
void mpb_team_started(mpb_team *t);
int mpb_team_go(mpb_team *t, long n, mpb_res *r); /* write n to every child */
int mpb_team_wait(mpb_team *t, mpb_res *r);       /* collect nchild results */
void mpb_team_close(mpb_team *t);
/* Child side. */
long mpb_child_next(mpb_team *t, int i); /* 0: stop */
void mpb_child_done(mpb_team *t, const mpb_res *r);

/* Full read/write on a descriptor (EINTR retried); 0 or -1 (errno set, or
 * EPIPE-like 0 bytes on EOF for reads). */
int mpb_read_full(int fd, void *buf, size_t len);
int mpb_write_full(int fd, const void *buf, size_t len);

/* A payload of size bytes with a fixed pattern. */
void *mpb_payload(size_t size);

#endif
