/* mpt.h -- helpers of the conformance suite.  Uses mp.h and Criterion only.
 *
 * A test reads like its catalogue row:
 *
 *   MPT_TEST(queue, Q_GET_TIMEOUT_EMPTY,
 *            "get with a timeout on an empty queue waits, then MP_EMPTY") { ... }
 *
 * The suite name is the catalogue file (conformance/catalogue/queue.tsv), the
 * test name is the row ID with '-' written '_'.  Every MPT_TEST checks after
 * its body that it left no extra fd open and no process behind (child,
 * zombie, or orphaned grandchild: the test process is a child subreaper). */
#ifndef MPT_H
#define MPT_H

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "mp.h"

/* .init of every test: makes the test process a child subreaper. */
void mpt_setup(void);
/* End of every body: kills and reaps every process the test left behind and
 * fails the test if there was one, or if an fd leaked. */
void mpt_teardown(void);
/* .fini of every test, run even when an assertion ended the body early: kills
 * and reaps every descendant, so that nothing a failed test started outlives
 * it and the library's exit-time join of its children finds none alive. */
void mpt_fini(void);
/* A path for this test's socket file, /tmp/mpt-TAG-PID.sock, into buf (n
 * bytes), which it returns: a stale file of that name is removed now, and the
 * file again in .fini, so a test that fails midway leaves none behind.  One
 * per test. */
char *mpt_sock_path(char *buf, size_t n, const char *tag);
double mpt_now(void); /* CLOCK_MONOTONIC seconds */
/* Upper bounds of timing assertions are multiplied by MPT_TIMEOUT_MULTIPLIER
 * (default 1) for slow machines. */
double mpt_slack(double seconds);

/* The leak check runs at the end of the body (Criterion does not fail a test
 * for an assertion in .fini); the clean-up runs again in .fini, which
 * Criterion also runs after a failed assertion. */
#define MPT_TEST(suite, id, desc, ...)                                                             \
    static void mpt_body_##suite##_##id(void);                                                     \
    Test(suite, id, .description = desc, .init = mpt_setup, .fini = mpt_fini, .timeout = 60,       \
         ##__VA_ARGS__)                                                                            \
    {                                                                                              \
        mpt_body_##suite##_##id();                                                                 \
        mpt_teardown();                                                                            \
    }                                                                                              \
    static void mpt_body_##suite##_##id(void)

#define MP_ASSERT_STATUS(expr, want)                                                               \
    do {                                                                                           \
        mp_status mpt_s_ = (expr);                                                                 \
        mp_status mpt_w_ = (want);                                                                 \
        cr_assert(mpt_s_ == mpt_w_, "%s: got %s (%s), want %s", #expr, mp_status_name(mpt_s_),     \
                  mp_errmsg(), mp_status_name(mpt_w_));                                            \
    } while (0)
#define MP_ASSERT_OK(expr) MP_ASSERT_STATUS(expr, MP_OK)

/* A timed call: the call must not return before `timeout` seconds and should
 * return within timeout + slack (generous: the machine is shared). */
#define MPT_ASSERT_TIMED(expr, want, timeout)                                                      \
    do {                                                                                           \
        double mpt_t0_ = mpt_now();                                                                \
        MP_ASSERT_STATUS(expr, want);                                                              \
        double mpt_el_ = mpt_now() - mpt_t0_;                                                      \
        cr_assert(mpt_el_ >= (timeout), "%s returned early: %.6f s < %.6f s", #expr, mpt_el_,      \
                  (double)(timeout));                                                              \
        cr_assert(mpt_el_ <= (timeout) + mpt_slack(2.0), "%s took %.3f s for a %.3f s timeout",    \
                  #expr, mpt_el_, (double)(timeout));                                              \
    } while (0)

/* A call that must not block: returns within the slack. */
#define MPT_ASSERT_PROMPT(expr, want)                                                              \
    do {                                                                                           \
        double mpt_t0_ = mpt_now();                                                                \
        MP_ASSERT_STATUS(expr, want);                                                              \
        double mpt_el_ = mpt_now() - mpt_t0_;                                                      \
        cr_assert(mpt_el_ <= mpt_slack(1.0), "%s blocked for %.3f s", #expr, mpt_el_);             \
    } while (0)

/* Start a child running fn(arg) with the public API; returns the handle. */
mp_process *mpt_start(mp_target_fn fn, void *arg);
/* Join (forever) and return the exit code; frees the handle. */
int mpt_join(mp_process *p);

/* Wait until the kernel shows task `tid` (a process, or a thread of this
 * process) asleep -- state 'S' in five readings in a row, 2 ms apart -- which
 * is how a test knows a peer is blocked inside a call without a sleep
 * standing in for synchronisation.  Fails the test after 10 s (scaled). */
void mpt_wait_asleep(pid_t tid);

/* Start a child running fn(arg) -- a loop that must never return -- and have
 * it SIGKILLed at a pseudo-random instant a few microseconds into fn, then
 * reap it; returns its exit code (-9 when it was killed as meant).  Round r
 * (seeding the delay) also picks the killer: on even rounds the child arms a
 * one-shot CLOCK_MONOTONIC timer that sends it SIGKILL after 1-60 us, on odd
 * rounds the parent kills it 0-150 us after it has entered fn.  Either way
 * the signal usually arrives by an interrupt, and so lands at whatever
 * instruction the child was at -- also the middle of an mp call. */
int mpt_kill_at_random(mp_target_fn fn, void *arg, unsigned r);

/* mpt_wait_asleep for a sweep that calls it hundreds of times: two readings
 * 0.2 ms apart.  A reading that is wrong only makes one trial weaker; fails
 * the test after 10 s (scaled), as mpt_wait_asleep. */
void mpt_wait_asleep_quick(pid_t tid);

/* A private scratch file (unlinked on teardown) for children to write to. */
FILE *mpt_tmpfile(void);

/* Rows about a program that has never started a thread: a Criterion worker
 * has threads, and a library may take another path without them (glibc tells
 * a single-threaded process apart, for one).  MPT_SOLO(name) { body } defines
 * a body int(int fd); mpt_solo(name, fd) runs it as a program of its own --
 * this suite binary executed again with MPT_SOLO=name in its environment,
 * whose constructor runs the body before Criterion's main starts a thread --
 * with fd as its descriptor 3, waits for it, and returns its exit status: the
 * body's return value (0 for success), or -signal. */
#define MPT_SOLO(name)                                                                             \
    static int mpt_solo_body_##name(int fd);                                                       \
    __attribute__((constructor)) static void mpt_solo_ctor_##name(void)                            \
    {                                                                                              \
        mpt_solo_enter(#name, mpt_solo_body_##name);                                               \
    }                                                                                              \
    static int mpt_solo_body_##name(int fd)
/* MPT_SOLO's constructor: _exit(body(3)) when MPT_SOLO names this body. */
void mpt_solo_enter(const char *name, int (*body)(int fd));
int mpt_solo(const char *name, int fd);

/* ------------------------------------------------ small shared fixtures */

/* An OS pipe, both ends close-on-exec; an end closed is -1. */
typedef struct mpt_pipefd {
    int r, w;
} mpt_pipefd;
/* A new pipe; fails the test if pipe2 fails. */
mpt_pipefd mpt_pipe(void);
/* Closes each end still open (>= 0) and marks it -1: calling it twice, or
 * after closing one end with mpt_closefd, is harmless. */
void mpt_closepipe(mpt_pipefd *p);
/* close(*fd) if *fd >= 0, then *fd = -1. */
void mpt_closefd(int *fd);
/* Writes / reads exactly len bytes, retrying EINTR and short transfers;
 * false on EOF or an error (errno set), true once all len bytes moved. */
bool mpt_write_all(int fd, const void *buf, size_t len);
bool mpt_read_all(int fd, void *buf, size_t len);
/* Sleeps s seconds, resuming after a signal (never shorter).  For pacing a
 * peer, never as a stand-in for synchronisation. */
void mpt_sleep(double s);
/* The pid of a started process; fails the test if mp_process_pid fails. */
pid_t mpt_pid(mp_process *p);
/* mp_lock_locked(l), asserted MP_OK (Lock and RLock alike). */
bool mpt_locked(mp_lock *l);
/* Gets one message from q (any queue kind) within `timeout` and asserts that
 * its bytes are the string `want`. */
void mpt_get_str(mp_queue *q, const char *want, double timeout);

/* ------------------------------------- "this call wakes a sleeper at once"
 *
 * An implementation may bound its sleeps (ref re-checks every 0.1 s, so that
 * a waker killed half-way costs a sleeper one period at most); then a lost
 * wake-up no longer hangs, it only makes each hand-off late.  mpt_prompt_median
 * measures it: in each round `waiters` threads block in `wait`, the kernel
 * shows each asleep (mpt_wait_asleep), the main thread calls `wake`, and the
 * latency from that call to the return of the LAST waiter is recorded.  A
 * row asserts that the median is below MPT_PROMPT_MEDIAN_S, far below any
 * polling period. */
#define MPT_PROMPT_ROUNDS 15 /* default rounds */
#define MPT_PROMPT_MAX_ROUNDS 63
#define MPT_PROMPT_MAX_WAITERS 4
#define MPT_PROMPT_MEDIAN_S 0.02

typedef struct mpt_prompt {
    void *arg;
    void (*prepare)(void *arg);   /* main thread, before each round (optional) */
    mp_status (*wait)(void *arg); /* each waiter thread: the blocking call */
    void (*after)(void *arg);     /* the waiter, after its return was timed (optional),
                                     e.g. to release what wait took */
    void (*wake)(void *arg);      /* main thread, once every waiter sleeps */
    mp_status want;               /* what every wait must return */
    int waiters;                  /* threads per round: 0 means 1 */
    int rounds;                   /* 0 means MPT_PROMPT_ROUNDS */
} mpt_prompt;

/* Runs the rounds and returns the median latency in seconds.  Fails the
 * test as soon as a wait returns another status than `want` (naming the
 * round and both statuses); joins its threads before returning. */
double mpt_prompt_median(const mpt_prompt *p);
/* The median of v[0..n-1] (n > 0), which it sorts. */
double mpt_median(double *v, int n);

/* A thread asleep in a blocking call, for rows that kill its waker: */
typedef struct mpt_sleeper {
    mp_status (*call)(void *arg); /* the blocking call, run by the thread */
    void *arg;
    pthread_t t;
    _Atomic pid_t tid;
    _Atomic double back; /* when call returned (mpt_now); 0 before */
    mp_status st;        /* what call returned, once back */
} mpt_sleeper;
/* Starts the thread (call and arg set, the rest zeroed here) and returns once
 * the kernel shows it asleep (mpt_wait_asleep). */
void mpt_sleeper_start(mpt_sleeper *w);
/* The same, but returns as soon as the kernel shows it asleep twice 0.2 ms
 * apart (mpt_wait_asleep_quick), or once its call is back: for a call that
 * may not block in every implementation, and for rows that time what
 * happens next against a sleep that started just before. */
void mpt_sleeper_start_quick(mpt_sleeper *w);
/* Looks every millisecond until the thread is back or `until` (mpt_now time)
 * has passed.  Back: joins it and returns true (w->st is what call
 * returned).  Not back: returns false and leaves it running. */
bool mpt_sleeper_wait(mpt_sleeper *w, double until);

/* ------------------------------------ SIGKILL before one instruction of a call
 *
 * A randomly timed kill almost never lands in a window a few instructions
 * wide (say, between a commit store and the FUTEX_WAKE that announces it), so
 * rows about "killed at any instruction" place the kill with ptrace instead:
 *
 *   mpt_kat_calibrate(&k)   a victim runs the call once, single-stepped, to
 *                           its end: the trace is the address of every
 *                           instruction it ran (k.n of them); k.publish is
 *                           the first after which k.probe (the parent's
 *                           view, e.g. qsize) changed
 *   mpt_kat_kill_at(&k, i)  a fresh victim runs the call and is SIGKILLed
 *                           just before it executes instruction i (< k.n)
 *   mpt_kat_swept(&k, i)    whether a thinned sweep kills before instruction
 *                           i: every one from MPT_KAT_BEFORE before the
 *                           publish on, and MPT_KAT_EARLY spread evenly before
 *                           that (a trial costs a process, and nothing is
 *                           published there yet).  A row may sweep every i.
 *
 * The victim is an mp_process child (so the objects it uses are shared by
 * mp.h's rule) that makes itself traced (PTRACE_TRACEME) and stops; the call
 * runs after that stop, then a store to shared memory ends the trace.  Each
 * trial finds instruction i as the n-th execution of its address (n counted
 * in the trace) with a breakpoint on x86-64, else by single-stepping i times
 * (slower, portable).  Each trial is a new process forked from the same
 * parent, so it runs the same instructions as the calibration unless the
 * call takes another path (the parent's heap changed, a peer was not asleep):
 * then the breakpoint is not reached and the trial reports MPT_KAT_MISSED (the
 * call ran to its end), or stops elsewhere on the same address, which is
 * still a kill inside the call.  The victim reads `arg` when it is forked, so
 * a row may point it at new objects between trials.
 *
 * Uses POSIX, Linux's ptrace and /proc, and mp.h only; the tracer is the
 * calling thread, which must make every call of one mpt_kat.  A system that
 * refuses ptrace fails the row (fail closed).  KAT_VERBOSE=1 in the
 * environment prints the size of each calibrated trace. */
typedef struct mpt_kat {
    int (*call)(void *arg);     /* runs in the victim; its result is ignored */
    size_t (*probe)(void *arg); /* optional: runs in the parent between two steps */
    void (*at_stop)(void *arg); /* optional: runs in the parent while a victim of
                                   mpt_kat_kill_at is stopped before its
                                   instruction, just before the kill */
    void *arg;
    /* Filled by mpt_kat_calibrate: */
    uintptr_t *trace;      /* the address of each instruction */
    size_t n;              /* instructions in the trace */
    size_t publish;        /* first instruction that changed probe() (0: none) */
    _Atomic int *returned; /* shared: set by the victim once the call returned */
} mpt_kat;

#define MPT_KAT_BEFORE 8
#define MPT_KAT_EARLY 32
#define MPT_KAT_STRIDE 8 /* rows check a slower property every 8th kill */

enum { MPT_KAT_KILLED, MPT_KAT_MISSED };

/* Runs the call once, single-stepped, recording its instructions; the victim
 * is SIGKILLed after the call (so the call completed: the caller counts it
 * as a trial that ran to the end).  May be called again (a new trace). */
void mpt_kat_calibrate(mpt_kat *k);
/* Kills a fresh victim before instruction i of the trace (i < k->n):
 * MPT_KAT_KILLED.  MPT_KAT_MISSED: the victim returned from the call first
 * (it ran another path); it is killed after the call, the call complete.
 * The victim is reaped either way. */
int mpt_kat_kill_at(mpt_kat *k, size_t i);
/* Whether a thinned sweep kills before instruction i (see above). */
bool mpt_kat_swept(const mpt_kat *k, size_t i);
/* Frees what mpt_kat_calibrate allocated. */
void mpt_kat_free(mpt_kat *k);

#endif
