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
#include <stdbool.h>
#include <stdio.h>

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
double mpt_now(void);                 /* CLOCK_MONOTONIC seconds */
/* Upper bounds of timing assertions are multiplied by MPT_TIMEOUT_MULTIPLIER
 * (default 1) for slow machines. */
double mpt_slack(double seconds);

/* The leak check runs at the end of the body (Criterion does not fail a test
 * for an assertion in .fini); the clean-up runs again in .fini, which
 * Criterion also runs after a failed assertion. */
#define MPT_TEST(suite, id, desc, ...)                                          \
    static void mpt_body_##suite##_##id(void);                                  \
    Test(suite, id, .description = desc, .init = mpt_setup, .fini = mpt_fini,  \
         .timeout = 60, ##__VA_ARGS__)                                          \
    {                                                                           \
        mpt_body_##suite##_##id();                                              \
        mpt_teardown();                                                         \
    }                                                                           \
    static void mpt_body_##suite##_##id(void)

#define MP_ASSERT_STATUS(expr, want)                                            \
    do {                                                                        \
        mp_status mpt_s_ = (expr);                                              \
        mp_status mpt_w_ = (want);                                              \
        cr_assert(mpt_s_ == mpt_w_, "%s: got %s (%s), want %s", #expr,          \
                  mp_status_name(mpt_s_), mp_errmsg(), mp_status_name(mpt_w_)); \
    } while (0)
#define MP_ASSERT_OK(expr) MP_ASSERT_STATUS(expr, MP_OK)

/* A timed call: the call must not return before `timeout` seconds and should
 * return within timeout + slack (generous: the machine is shared). */
#define MPT_ASSERT_TIMED(expr, want, timeout)                                   \
    do {                                                                        \
        double mpt_t0_ = mpt_now();                                             \
        MP_ASSERT_STATUS(expr, want);                                           \
        double mpt_el_ = mpt_now() - mpt_t0_;                                   \
        cr_assert(mpt_el_ >= (timeout), "%s returned early: %.6f s < %.6f s",    \
                  #expr, mpt_el_, (double)(timeout));                           \
        cr_assert(mpt_el_ <= (timeout) + mpt_slack(2.0),                        \
                  "%s took %.3f s for a %.3f s timeout", #expr, mpt_el_,         \
                  (double)(timeout));                                           \
    } while (0)

/* A call that must not block: returns within the slack. */
#define MPT_ASSERT_PROMPT(expr, want)                                           \
    do {                                                                        \
        double mpt_t0_ = mpt_now();                                             \
        MP_ASSERT_STATUS(expr, want);                                           \
        double mpt_el_ = mpt_now() - mpt_t0_;                                   \
        cr_assert(mpt_el_ <= mpt_slack(1.0), "%s blocked for %.3f s", #expr,     \
                  mpt_el_);                                                     \
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

/* A private scratch file (unlinked on teardown) for children to write to. */
FILE *mpt_tmpfile(void);

#endif
