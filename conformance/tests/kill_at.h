/* kill_at.h -- SIGKILL a process before each instruction of one call, in turn.
 *
 * A randomly timed kill almost never lands in a window a few instructions
 * wide (say, between a commit store and the FUTEX_WAKE that announces it), so
 * rows about "killed at any instruction" place the kill with ptrace instead:
 *
 *   kat_calibrate(&k)   a victim runs the call once, single-stepped: the
 *                       trace is the address of every instruction it ran;
 *                       k.publish is the first instruction after which
 *                       k.probe (the parent's view, e.g. qsize) changed
 *   kat_kill_at(&k, i)  a fresh victim runs the call and is SIGKILLed just
 *                       before it executes instruction i of that trace
 *   kat_swept(&k, i)    whether a sweep kills before instruction i: every
 *                       one from KAT_BEFORE before the publish on, and
 *                       KAT_EARLY spread evenly before that (a trial costs a
 *                       process, and nothing is published there yet)
 *
 * The victim is an mp_process child (so the objects it uses are shared by
 * mp.h's rule), which makes itself traced (PTRACE_TRACEME) and stops; the call
 * runs after that stop, then a store to shared memory ends the trace.  kat_kill_at finds instruction i
 * as the n-th execution of its address (n counted in the trace) with a
 * breakpoint on x86-64, else by single-stepping i times (slower, portable).
 * Each trial is a new process forked from the same parent, so it runs the
 * same instructions as the calibration unless the call takes another path
 * (the parent's heap changed, a peer was not asleep): then the breakpoint is
 * not reached and the trial reports KAT_MISSED, or stops elsewhere on the same
 * address, which is still a kill inside the call.
 *
 * Uses POSIX, Linux's ptrace and /proc, and mp.h only; include it in a test
 * file after mpt.h.  The tracer is the test process itself.  KAT_VERBOSE=1 in
 * the environment prints the size of each calibrated trace. */
#ifndef KILL_AT_H
#define KILL_AT_H

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <sys/user.h>
#endif

#include "mpt.h"

typedef struct kat {
    int (*call)(void *arg);    /* runs in the victim; its result is ignored */
    size_t (*probe)(void *arg); /* runs in the parent between two steps */
    void *arg;
    uintptr_t *trace;          /* kat_calibrate: address of each instruction */
    size_t n;                  /* instructions in the trace */
    size_t publish;            /* first instruction that changed probe() (0: none) */
    _Atomic int *returned;     /* shared: set by the victim once the call returned */
} kat;

#define KAT_BEFORE 8
#define KAT_EARLY 32
#define KAT_STRIDE 8 /* the rows check the slower property every 8th kill */

enum { KAT_KILLED, KAT_MISSED };

/* The victim: traced by its parent, stopped, the call, stopped again. */
static int kat_victim(void *a)
{
    kat *k = a;
    if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) != 0)
        return 77;
    raise(SIGSTOP);
    k->call(k->arg);
    atomic_store(k->returned, 1);
    raise(SIGSTOP);
    for (;;)
        pause(); /* SIGKILLed here at the latest */
}

/* Wait for the next ptrace stop of pid and return its signal; 0 if the
 * process ended instead (then left for mpt_join to reap). */
static int kat_wait_stop(pid_t pid)
{
    siginfo_t si;
    memset(&si, 0, sizeof si);
    while (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT | __WALL) != 0)
        cr_assert(errno == EINTR, "waitid: %s", strerror(errno));
    if (si.si_code == CLD_EXITED || si.si_code == CLD_KILLED || si.si_code == CLD_DUMPED)
        return 0;
    int st = 0;
    while (waitpid(pid, &st, __WALL) < 0)
        cr_assert(errno == EINTR, "waitpid: %s", strerror(errno));
    cr_assert(WIFSTOPPED(st), "victim %d: status %#x is no stop", (int)pid, st);
    return WSTOPSIG(st);
}

/* Start a victim and wait for its first stop, before the call. */
static mp_process *kat_start(kat *k, pid_t *pid)
{
    mp_process *p = mpt_start(kat_victim, k);
    MP_ASSERT_OK(mp_process_pid(p, pid));
    int sig = kat_wait_stop(*pid);
    if (sig == 0) {
        int code = mpt_join(p);
        cr_assert(false, "the victim could not be traced (exit code %d): this row places its "
                 "kills with ptrace (PTRACE_TRACEME refused: seccomp, a debugger?)", code);
    }
    cr_assert_eq(sig, SIGSTOP, "victim stopped by signal %d", sig);
    return p;
}

static void kat_kill(mp_process *p, pid_t pid)
{
    cr_assert(kill(pid, SIGKILL) == 0, "kill: %s", strerror(errno));
    int code = mpt_join(p);
    cr_assert_eq(code, -SIGKILL, "victim exit code %d", code);
}

static uintptr_t kat_pc(pid_t pid)
{
#if defined(__x86_64__)
    struct user_regs_struct r;
    cr_assert(ptrace(PTRACE_GETREGS, pid, NULL, &r) == 0, "GETREGS: %s", strerror(errno));
    return (uintptr_t)r.rip;
#else
    (void)pid;
    return 0; /* single-stepping needs no addresses */
#endif
}

/* Run the call once, single-stepped, recording its instructions; the victim
 * is killed after the call (so the call completed: the caller counts it). */
static void kat_calibrate(kat *k)
{
    free(k->trace);
    if (!k->returned) {
        k->returned = mmap(NULL, sizeof *k->returned, PROT_READ | PROT_WRITE,
                           MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        cr_assert(k->returned != MAP_FAILED, "mmap: %s", strerror(errno));
    }
    atomic_store(k->returned, 0);
    size_t cap = 4096;
    k->trace = malloc(cap * sizeof *k->trace);
    k->n = 0;
    cr_assert(k->trace);
    pid_t pid;
    mp_process *p = kat_start(k, &pid);
    size_t before = k->probe(k->arg);
    k->publish = SIZE_MAX;
    for (;;) {
        if (k->n == cap) {
            cap *= 2;
            k->trace = realloc(k->trace, cap * sizeof *k->trace);
            cr_assert(k->trace);
        }
        k->trace[k->n] = kat_pc(pid);
        cr_assert(ptrace(PTRACE_SINGLESTEP, pid, NULL, NULL) == 0, "SINGLESTEP: %s",
                  strerror(errno));
        int sig = kat_wait_stop(pid);
        cr_assert(sig != 0, "the victim died during calibration");
        cr_assert_eq(sig, SIGTRAP, "victim stopped by signal %d while stepped", sig);
        if (k->publish == SIZE_MAX && k->probe(k->arg) != before)
            k->publish = k->n;
        k->n++;
        if (atomic_load(k->returned))
            break; /* the call is over: the trace ends with the store saying so */
        cr_assert(k->n < ((size_t)1 << 22), "the call ran more than 4M instructions");
    }
    if (k->publish == SIZE_MAX)
        k->publish = 0; /* never seen: sweep every instruction */
    if (getenv("KAT_VERBOSE"))
        fprintf(stderr, "kill_at: the call ran %zu instructions, the probe changed at %zu\n",
                k->n, k->publish);
    kat_kill(p, pid);
}

/* What kat_calibrate allocated. */
static void kat_free(kat *k)
{
    free(k->trace);
    if (k->returned)
        munmap(k->returned, sizeof *k->returned);
}

static bool kat_swept(const kat *k, size_t i)
{
    size_t early = k->publish / KAT_EARLY + 1;
    return i + KAT_BEFORE >= k->publish || i % early == 0;
}

/* Before instruction i of the trace (i < n): KAT_KILLED.  KAT_MISSED: the
 * victim returned from the call first (it ran another path); it is killed
 * at its stop after the call, the call complete. */
static int kat_kill_at(kat *k, size_t i)
{
    pid_t pid;
    mp_process *p = kat_start(k, &pid);
    int sig = 0;
#if defined(__x86_64__)
    uintptr_t a = k->trace[i];
    size_t want = 0; /* which execution of address a is instruction i */
    for (size_t j = 0; j <= i; j++)
        want += k->trace[j] == a;
    size_t seen = kat_pc(pid) == a;
    errno = 0;
    long word = ptrace(PTRACE_PEEKTEXT, pid, (void *)a, NULL);
    cr_assert(errno == 0, "PEEKTEXT: %s", strerror(errno));
    long trap = (word & ~0xffL) | 0xcc;
    while (seen < want) {
        cr_assert(ptrace(PTRACE_POKETEXT, pid, (void *)a, (void *)trap) == 0);
        cr_assert(ptrace(PTRACE_CONT, pid, NULL, NULL) == 0);
        sig = kat_wait_stop(pid);
        cr_assert(sig != 0, "the victim died running to instruction %zu", i);
        if (sig == SIGSTOP) {
            kat_kill(p, pid);
            return KAT_MISSED;
        }
        cr_assert_eq(sig, SIGTRAP, "victim stopped by signal %d", sig);
        struct user_regs_struct r;
        cr_assert(ptrace(PTRACE_GETREGS, pid, NULL, &r) == 0);
        cr_assert_eq((uintptr_t)r.rip, a + 1, "a trap away from the breakpoint");
        r.rip = a; /* back onto the instruction, restored */
        cr_assert(ptrace(PTRACE_SETREGS, pid, NULL, &r) == 0);
        cr_assert(ptrace(PTRACE_POKETEXT, pid, (void *)a, (void *)word) == 0);
        if (++seen == want)
            break;
        cr_assert(ptrace(PTRACE_SINGLESTEP, pid, NULL, NULL) == 0);
        sig = kat_wait_stop(pid);
        cr_assert(sig == SIGTRAP, "victim stopped by signal %d", sig);
    }
#else
    for (size_t j = 0; j < i; j++) {
        cr_assert(ptrace(PTRACE_SINGLESTEP, pid, NULL, NULL) == 0);
        sig = kat_wait_stop(pid);
        cr_assert(sig != 0, "the victim died stepping to instruction %zu", i);
        if (sig == SIGSTOP) {
            kat_kill(p, pid);
            return KAT_MISSED;
        }
    }
#endif
    (void)sig;
    kat_kill(p, pid);
    return KAT_KILLED;
}

/* The scheduler state of thread tid of this process ('S' asleep, 'R', ...). */
static char kat_thread_state(pid_t tid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
    FILE *f = fopen(path, "re");
    if (!f)
        return '?';
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *e = strrchr(buf, ')');
    return e && e[1] == ' ' ? e[2] : '?';
}

/* Until thread tid of this process is asleep (two readings in a row): the
 * peer of a trial waits inside its call, so the call under test takes its
 * wake path.  Cheaper than mpt_wait_asleep, which a sweep would call
 * hundreds of times; a reading that is wrong only makes one trial weaker. */
static void kat_wait_asleep(pid_t tid)
{
    double t0 = mpt_now();
    for (int streak = 0; streak < 2;) {
        streak = kat_thread_state(tid) == 'S' ? streak + 1 : 0;
        cr_assert(mpt_now() - t0 < mpt_slack(10.0), "thread %d never went to sleep", (int)tid);
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
    }
}

#endif
