/* step_kill.h -- SIGKILL a process at every instruction of an operation, in
 * turn.  Included by test_event.c, test_semaphore.c and test_condition.c (static
 * functions: each test file gets its own copy).
 *
 * A kill at a random instant hits a window of a few instructions once in
 * hundreds of trials.  step_kill(op, arg, n) instead forks a child that runs
 * op(arg) under ptrace; the parent single-steps it n machine instructions
 * from (just before) the start of op and SIGKILLs it there.  Sweeping n = 0,
 * 1, 2, ... until op is seen to have returned kills the child at every
 * instruction of op once.  It uses fork, ptrace and waitpid only, so it
 * judges any implementation of mp.h; a system that refuses ptrace fails the
 * test (fail closed) rather than skipping it. */
#ifndef STEP_KILL_H
#define STEP_KILL_H

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mpt.h"

/* Most instructions a swept operation may take before the sweep gives up
 * (an operation that never returns, e.g. one that blocks). */
#define STEP_KILL_MAX 20000

/* Runs op(arg) in a child single-stepped by the caller (the thread that must
 * also call every later ptrace on it, so always the test's main thread);
 * kills it after n instructions.  Returns true when op had returned by then
 * (the sweep is over), false when the child died inside op.  The child is
 * reaped either way. */
static bool step_kill(void (*op)(void *), void *arg, long n)
{
    /* Set by the child the instruction after op returns, read after each
     * step: the sweep ends there, not after the child's way out. */
    _Atomic int *back = mmap(NULL, sizeof *back, PROT_READ | PROT_WRITE,
                             MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert(back != MAP_FAILED, "mmap: %s", strerror(errno));
    pid_t pid = fork();
    cr_assert(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) != 0)
            _exit(90);
        raise(SIGSTOP); /* the start: the parent steps from here */
        op(arg);
        atomic_store_explicit(back, 1, memory_order_relaxed);
        for (;;)
            pause(); /* killed */
    }
    int st = 0;
    cr_assert(waitpid(pid, &st, 0) == pid, "waitpid: %s", strerror(errno));
    cr_assert(WIFSTOPPED(st), "the child could not be traced (ptrace(PTRACE_TRACEME) refused?): "
                              "status 0x%x", st);
    /* Should this test die, the kernel kills the stopped child. */
    cr_assert(ptrace(PTRACE_SETOPTIONS, pid, NULL, (void *)PTRACE_O_EXITKILL) == 0,
              "ptrace(SETOPTIONS): %s", strerror(errno));
    bool returned = false;
    for (long i = 0; i < n && !returned; i++) {
        if (ptrace(PTRACE_SINGLESTEP, pid, NULL, NULL) != 0 || waitpid(pid, &st, 0) != pid ||
            !WIFSTOPPED(st)) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            cr_assert_fail("single-stepping the child failed at step %ld (status 0x%x): %s", i,
                           st, strerror(errno));
        }
        returned = atomic_load_explicit(back, memory_order_relaxed) != 0;
    }
    kill(pid, SIGKILL);
    cr_assert(waitpid(pid, &st, 0) == pid && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
              "the stepped child did not die of SIGKILL (status 0x%x)", st);
    munmap(back, sizeof *back);
    return returned;
}

#endif
