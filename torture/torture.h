/* torture.h -- the "killed at any instant" torture target (torture/README.md).
 *
 * Uses mp.h and POSIX only, so it judges any library implementing mp.h.
 *
 * Shape: a table of operations (torture.c); each runs in its own runner
 * process for its share of TORTURE_SECONDS, calling its scenario function once
 * per trial.  A trial starts a victim (a process, or for the pool a worker)
 * with peers, kills the victim with SIGKILL at a random instant -- from
 * outside after a random delay, or from inside by a one-shot 1-60 us timer
 * whose signal is SIGKILL -- and then checks that the survivors finish within
 * BOUND seconds with a status mp.h documents and that every delivered message
 * is intact.  The victim writes its phase (between calls, inside a call,
 * holding a lock ...) to shared memory, so a check can say what a death at
 * that point allows. */
#ifndef TORTURE_H
#define TORTURE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mp.h"

/* Every wait of the harness and of the survivors is bounded by this (s); a
 * call that reaches it counts as a failure (a hang). */
#define BOUND 10.0

/* Victim phases, in S->phase.  A death in PH_IDLE or PH_HELD has one allowed
 * outcome; a death in PH_CALL (inside a library call) may have had the
 * call's effect or not. */
enum phase {
    PH_IDLE = 0, /* between calls, holding nothing */
    PH_CALL,     /* inside a call: its effect may or may not have happened */
    PH_HELD,     /* between calls, holding the lock (or an item not yet done) */
};

enum kill_mode { KILL_EXTERNAL, KILL_TIMER };

#define MAXSEQ 8192 /* per-producer sequence numbers a trial may use */
#define NPEER 4

/* Shared memory of the harness (MAP_SHARED before any fork; reset per trial
 * from `phase` on). */
struct shm {
    _Atomic int phase;        /* the victim's enum phase */
    _Atomic int started;      /* the victim reached its first operation */
    _Atomic int stop;         /* peers: finish the current step and return */
    _Atomic long v_ops;       /* operations the victim completed */
    _Atomic long v_done;      /* last sequence number the victim completed (-1) */
    _Atomic pid_t victim_pid; /* pool: the worker running the victim task */
    _Atomic long peer_ops[NPEER];
    _Atomic int ownerdead; /* MP_EOWNERDEAD seen by survivors */
    _Atomic int cs_owner;  /* who is inside the critical section (0: none) */
    _Atomic long counter;  /* scenario scratch (barrier action runs, ...) */
    _Atomic int turn;      /* condition / event ping-pong */
    _Atomic int epoch;     /* barrier: resets done by the runner */
    _Atomic int parked[NPEER];
    _Atomic long r_last;                   /* receiver: last sequence number received */
    _Atomic int r_eproto;                  /* receiver: MP_EPROTO seen */
    _Atomic int child_fail;                /* failures reported by children */
    char child_msg[256];                   /* the first of them */
    _Atomic unsigned char seen[3][MAXSEQ]; /* deliveries per producer id, seq */
};
extern struct shm *S;

typedef struct trial {
    uint64_t rng; /* this trial's random state (children get a copy) */
    int mode;     /* enum kill_mode */
    long warm;    /* timer mode: operations before the victim arms it */
    long usec;    /* timer mode: 1..60 us */
    double delay; /* external mode: seconds after the victim started */
    long iter;
    /* outcome, set by kill_victim() and the checks */
    bool killed; /* the victim died of a signal */
    bool mid;    /* ... inside an operation (phase PH_CALL or PH_HELD) */
    int death_phase;
    long death_done; /* S->v_done at the victim's death */
    int failures;
    bool fatal;     /* the scenario's shared state is unusable (a hang) */
    bool collected; /* the children's failure is already counted */
    char msg[320];
} trial;

/* One row of the operation table. */
typedef struct op {
    const char *name;
    void (*run)(trial *t, void **ctx); /* one trial */
    void (*teardown)(void *ctx);       /* NULL: nothing kept across trials */
} op;

/* ----- torture.c: helpers for scenarios */
double now(void);
uint64_t rnd(trial *t);
long rnd_range(trial *t, long lo, long hi); /* uniform in [lo, hi] */
void spin_for(double seconds);              /* busy wait (us windows) */
void pause_for(double seconds);             /* sleep */

/* Runner side: record a failure of the trial (the first message is kept). */
void fail(trial *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Child side: record a failure in shared memory for the runner to report. */
void child_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Copy the children's failures into the trial. */
void collect_child_failures(trial *t);

/* Victim side, before its i-th operation: marks the victim started and, in
 * timer mode at i == t->warm, arms the one-shot SIGKILL timer. */
void victim_tick(const trial *t, long i);
void arm_kill_timer(long usec);
void set_phase(int ph);
/* TORTURE_VERBOSE=2: a timestamped line (trial-relative) on stdout. */
void trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Start a process; false (and a failure) if it cannot be started. */
bool spawn(trial *t, mp_process **p, mp_target_fn fn, void *arg);
/* Wait for the victim to start, kill it per t's plan, join it (bounded) and
 * record killed / mid / death_phase / death_done.  Frees the process. */
void kill_victim(trial *t, mp_process *v);
/* Join a survivor within BOUND s; a hang or an exit code other than 0 is a
 * failure (the process is then killed).  Frees the process. */
void finish(trial *t, mp_process *p, const char *what);
/* Poll until cond(arg) is true or `seconds` pass; returns cond's last value. */
bool wait_until(bool (*cond)(void *), void *arg, double seconds);
/* Wait until S->peer_ops[i] >= target (or a child failed), within BOUND. */
bool wait_peer_ops(int i, long target);

/* Checked payloads: 16..len bytes whose content is a function of (id, seq,
 * len) alone, so a receiver can tell a message intact, cut or mixed up. */
void payload_fill(unsigned char *buf, size_t len, unsigned id, unsigned seq);
/* 0 when buf is an intact payload; then *id and *seq tell which. */
int payload_check(const unsigned char *buf, size_t len, unsigned *id, unsigned *seq);
size_t payload_len(trial *t, size_t max); /* log-uniform in [16, max] */
mp_value *payload_value(unsigned id, unsigned seq, size_t len);
int payload_value_check(const mp_value *v, unsigned *id, unsigned *seq);
const char *phase_name(int ph);

/* A survivor's blocking call that returns more than LATE s after it began
 * was woken by its own deadline, or stalled by the victim's death: a failure
 * (recorded with child_fail, so it works in any process), whatever it
 * returned.  mp.h's bounds are about 0.1-0.2 s; LATE leaves room for a
 * loaded machine. */
#define LATE (BOUND / 2)
void late_check(const char *what, double t0, mp_status s);
#define TIMED(what, call)                                                                          \
    __extension__({                                                                                \
        double t0_ = now();                                                                        \
        mp_status s_ = (call);                                                                     \
        late_check(what, t0_, s_);                                                                 \
        s_;                                                                                        \
    })

/* ----- the scenarios (one function per operation) */
void sc_lock(trial *t, void **ctx);
void sc_rlock(trial *t, void **ctx);
void sc_semaphore(trial *t, void **ctx);
void sc_condition(trial *t, void **ctx);
void sc_event(trial *t, void **ctx);
void sc_barrier(trial *t, void **ctx);
void sc_queue_put(trial *t, void **ctx);
void sc_queue_get(trial *t, void **ctx);
void sc_squeue_put(trial *t, void **ctx);
void sc_squeue_get(trial *t, void **ctx);
void sc_jqueue_put(trial *t, void **ctx);
void sc_jqueue_get(trial *t, void **ctx);
void sc_pipe_send(trial *t, void **ctx);
void sc_pipe_recv(trial *t, void **ctx);
void sc_pool_apply(trial *t, void **ctx);
void sc_pool_async(trial *t, void **ctx);
void sc_pool_map(trial *t, void **ctx);
void sc_pool_imap(trial *t, void **ctx);
void pool_teardown(void *ctx);
void sc_mgr_dict(trial *t, void **ctx);
void sc_mgr_lock(trial *t, void **ctx);
void sc_mgr_queue(trial *t, void **ctx);
void mgr_teardown(void *ctx);

#endif
