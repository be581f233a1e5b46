/* Fixtures for the runner's self-test (conformance/selftest/selftest.py):
 * tests named after the rows of the `event` component that misbehave on
 * purpose, in the ways a broken library makes a real test misbehave.  Criterion
 * runs a suite's tests in name order:
 *
 *   EVT_CROSS_PROCESS  passes (starts a child and joins it)
 *   EVT_NULL_ARGS      fails at an assertion while a non-daemonic child and
 *                      its child block forever: .fini must kill them, or the
 *                      library's exit-time join hangs the test process and
 *                      Criterion's runner aborts ("invalid state 'timeout'")
 *   EVT_SET_CLEAR      ends its body with a child still running: the leak
 *                      check fails it
 *   EVT_SET_WAKES_ALL  hangs with a child and grandchild alive: times out,
 *                      and they are orphaned, for run.py to find as leftovers
 *   EVT_WAIT_TIMEOUT   passes
 *
 * Not part of the conformance suite: built only by `make runner-selftest`. */
#include <unistd.h>

#include "mpt.h"

/* A process that blocks forever. */
static int block(void *arg)
{
    (void)arg;
    for (;;)
        pause();
    return 0;
}

/* A process that starts a blocking child of its own, then blocks forever. */
static int block_with_child(void *arg)
{
    mp_process *p = NULL;
    (void)arg;
    if (mp_process_new(&p, block, NULL) == MP_OK)
        mp_process_start(p);
    for (;;)
        pause();
    return 0;
}

static int ok(void *arg)
{
    (void)arg;
    return 0;
}

MPT_TEST(event, EVT_CROSS_PROCESS, "fixture: passes")
{
    cr_assert_eq(mpt_join(mpt_start(ok, NULL)), 0);
}

MPT_TEST(event, EVT_NULL_ARGS, "fixture: fails with non-daemonic descendants alive", .timeout = 20)
{
    mpt_start(block_with_child, NULL);
    cr_assert(0, "fixture: deliberate failure with a child and a grandchild alive");
}

MPT_TEST(event, EVT_SET_CLEAR, "fixture: leaves a child running", .timeout = 20)
{
    mpt_start(block, NULL);
}

MPT_TEST(event, EVT_SET_WAKES_ALL, "fixture: hangs with descendants alive", .timeout = 2)
{
    mpt_start(block_with_child, NULL);
    for (;;)
        pause();
}

MPT_TEST(event, EVT_WAIT_TIMEOUT, "fixture: passes") { cr_assert(1); }
