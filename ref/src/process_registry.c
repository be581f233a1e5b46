/* Process: the registry of started children, reaping, the exit function
 * and fork hygiene (process_internal.h has the map of the component).
 *
 * The registry.  Every started child this process has not reaped yet is on
 * one list (CPython's process._children), guarded by one mutex so that any
 * thread may start, join or free processes.  waitpid() is only ever called
 * with WNOHANG and under that mutex, so two threads joining the same child
 * never race for its status; blocking happens outside the mutex, in poll() on
 * the child's pidfd (or, on kernels without pidfd_open, in short sleeps).
 *
 * Freeing a running child.  mp_process_free() of a child still running keeps
 * the handle on the registry, marked `freed`: it is still terminated (if
 * daemonic) and joined by the exit function, as CPython keeps the Process
 * object in _children.  The handle is released once the child is reaped
 * there, or by the clean-up that every start does (CPython's _cleanup()).
 *
 * The exit function (CPython's util._exit_function) runs in a child after its
 * target returns, and in any process through atexit() (registered at the
 * first start): SIGTERM to daemonic children, then join every child.
 *
 * After any fork (pthread_atfork) the child's registry is empty: it closes
 * the pidfds of the siblings it inherited and forgets them, so it never
 * signals or waits for them. */
#include "process_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

_Alignas(4096) union mp__proc_page mp__proc_page = {.p = {.lock = PTHREAD_MUTEX_INITIALIZER}};
_Static_assert(sizeof mp__proc_page == 4096, "mp__proc has a page of its own");
_Static_assert(sizeof mp__proc <= 512, "a start copies mp__proc onto its stack");

/* Contract in process_internal.h. */
struct mp__proc_slot *mp__proc_slot_take(size_t len)
{
    if (len > sizeof mp__proc.slot.ident ||
        atomic_load_explicit(&mp__proc.slot_busy, memory_order_relaxed))
        return NULL;
    bool free_ = false;
    if (!atomic_compare_exchange_strong(&mp__proc.slot_busy, &free_, true))
        return NULL;
    return &mp__proc.slot;
}

/* Contract in process_internal.h. */
bool mp__proc_in_slot(const void *ptr)
{
    const char *c = ptr, *s = (const char *)&mp__proc.slot;
    return c >= s && c < s + sizeof mp__proc.slot;
}

static _Thread_local int32_t cached_tid;

/* ------------------------------------------------------------------ fork */

/* mp__proc's page is MADV_WIPEONFORK (when the kernel allows it: Linux
 * 4.14, and the page is anonymous), so that a fork does not share it: the
 * parent's writes after a start (the pid, the registry, the join) then cost
 * no copy-on-write fault, as they did on every start + join (one fault of
 * 13, 5% of the time of a start + join on a 2-vCPU VM).  A child finds the
 * page zeroed, so every fork puts back the parent's view of it, as of the
 * fork: mp_process_start from a copy on its own stack (mp__proc_restore),
 * any other fork (the program's own, a pool's or a manager's) from
 * fork_snap, which atfork_prepare fills.  A start's child writes the page
 * first (a read would map the zero page, then the write fault again), so it
 * still costs the child one fault. */
bool mp__proc_wiped;
static struct mp__proc_state fork_snap;  /* the page at a fork other than a start's */
static _Thread_local bool tl_other_fork; /* this thread forks, not in a start */

/* Any fork (ours or the program's own) must leave the child a usable lock,
 * an empty registry (the children are its siblings, not its own: never
 * signal or reap them) and the right tid. */
static void atfork_prepare(void)
{
    if (atomic_load_explicit(&mp__proc.starter, memory_order_relaxed) == mp__gettid())
        return; /* mp_process_start: it holds the lock, and restores its child */
    pthread_mutex_lock(&mp__proc.lock);
    if (mp__proc_wiped) {
        memcpy(&fork_snap, &mp__proc, sizeof fork_snap);
        tl_other_fork = true;
    }
}

static void atfork_parent(void)
{
    if (atomic_load_explicit(&mp__proc.starter, memory_order_relaxed) == mp__gettid())
        return;
    if (tl_other_fork)
        tl_other_fork = false;
    pthread_mutex_unlock(&mp__proc.lock);
}

/* Contract in process_internal.h.  The registry lists the parent's
 * children, which are not this process's, so it is emptied (their pidfds
 * closed) and its lock re-made (the forking thread held it); this process is
 * nobody's started child until become_child says so.  The cached tid is
 * reset: the child's only thread has a new one. */
void mp__proc_restore(const struct mp__proc_state *snap)
{
    if (snap)
        memcpy(&mp__proc, snap, sizeof mp__proc); /* first touch: a write */
    for (mp_process *q = mp__proc.head; q; q = q->next) {
        q->listed = false;
        if (q->pidfd >= 0) {
            close(q->pidfd);
            q->pidfd = -1;
        }
    }
    mp__proc.head = NULL;
    /* An assignment, not pthread_mutex_init(): a function the parent never
     * calls is bound lazily in every child, some 4 page faults each. */
    mp__proc.lock = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
    atomic_store_explicit(&mp__proc.starter, 0, memory_order_relaxed);
    mp__proc.self = NULL;
    if (cached_tid)     /* a write to a fresh thread-local page costs a fault */
        cached_tid = 0; /* the forking thread is the child's only thread */
}

/* pthread_atfork's child handler.  A start's child, whose page is zeroed,
 * is left to mp_process_start, which restores it from its stack without a
 * read of the page first. */
static void atfork_child(void)
{
    if (!mp__proc_wiped)
        mp__proc_restore(NULL); /* the page is the parent's copy */
    else if (tl_other_fork) {
        tl_other_fork = false;
        mp__proc_restore(&fork_snap);
    }
}

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
/* The page is marked before the handlers are registered: every fork that
 * runs them (pthread_atfork's lock orders them after this store) sees the
 * mp__proc_wiped its child will see.  Only where a page is mp__proc_page's
 * 4 KiB: a larger page would wipe the variables beside it too. */
static void atfork_init(void)
{
    mp__proc_wiped = sysconf(_SC_PAGESIZE) == (long)sizeof mp__proc_page &&
                     madvise(&mp__proc_page, sizeof mp__proc_page, MADV_WIPEONFORK) == 0;
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

/* Contract in process_internal.h. */
void mp__proc_init(void) { pthread_once(&atfork_once, atfork_init); }

/* ------------------------------------------------------------------ tids */

/* CLOCK_MONOTONIC_COARSE in milliseconds (a read is a few ns). */
static int64_t coarse_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* The number of CPUs the calling thread may run on (INT_MAX when unknown).
 * The answer is kept for 100 ms (sched_getaffinity is a system call, which
 * every receive would otherwise pay), per thread, since affinity is per
 * thread. */
static int cpus_allowed(void)
{
    static _Thread_local int64_t checked_ms = -1000;
    static _Thread_local int n;
    int64_t ms = coarse_ms();
    if (ms - checked_ms >= 100) {
        cpu_set_t set;
        n = sched_getaffinity(0, sizeof set, &set) != 0 ? INT_MAX : CPU_COUNT(&set);
        checked_ms = ms;
    }
    return n;
}

/* Contract in mp_internal.h. */
bool mp__cpus_many(void) { return cpus_allowed() > 1; }

int32_t mp__gettid(void)
{
    if (MP__UNLIKELY(cached_tid == 0)) {
        mp__proc_init();
        cached_tid = (int32_t)syscall(SYS_gettid);
    }
    return cached_tid;
}

/* Contract in mp_internal.h.  kill(tid, 0) finds zombies too, so a tid that
 * kill() still sees is read in /proc: a zombie (Z) or dead (X) counts as
 * gone.  errno is preserved; any failure to read says alive (fail safe: a
 * lock is never taken from a holder that may live). */
bool mp__tid_alive(int32_t tid)
{
    if (tid <= 0)
        return false; /* never a thread id */
    int saved = errno;
    bool gone = kill((pid_t)tid, 0) == -1 && errno == ESRCH;
    if (!gone) {
        /* A killed child stays a zombie until its parent reaps it, and kill()
         * still finds a zombie: read its state so that a Lock held by a
         * killed, not yet joined process is recognised as abandoned. */
        char path[48], buf[256];
        snprintf(path, sizeof path, "/proc/%d/stat", (int)tid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            ssize_t n = read(fd, buf, sizeof buf - 1);
            close(fd);
            if (n > 0) {
                buf[n] = 0;
                const char *rp = strrchr(buf, ')');
                if (rp && (rp[2] == 'Z' || rp[2] == 'X'))
                    gone = true;
            }
        }
    }
    errno = saved;
    return !gone;
}

/* -------------------------------------------------------------- registry */

/* Lock held.  Puts p, not listed, at the head of the registry of started,
 * unreaped children. */
void mp__proc_add(mp_process *p)
{
    p->prev = NULL;
    p->next = mp__proc.head;
    if (mp__proc.head)
        mp__proc.head->prev = p;
    mp__proc.head = p;
    p->listed = true;
}

/* Lock held.  Takes p off the registry if it is on it; idempotent. */
void mp__proc_remove(mp_process *p)
{
    if (!p->listed)
        return;
    if (p->prev)
        p->prev->next = p->next;
    else
        mp__proc.head = p->next;
    if (p->next)
        p->next->prev = p->prev;
    p->prev = p->next = NULL;
    p->listed = false;
}

void mp__proc_release_pidfd(mp_process *p)
{
    if (p->pidfd >= 0 && p->waiters == 0) {
        close(p->pidfd);
        p->pidfd = -1;
    }
}

/* In a child, its current name and ident are its own object's strings (see
 * become_child): they outlive the object. */
void mp__proc_free_unless_current(char *s)
{
    if (s != mp__proc.cur_name && s != mp__proc.cur_ident && !mp__proc_in_slot(s))
        free(s);
}

/* Frees p and its descriptors; the caller has taken it off the registry and
 * no thread waits on it.  Strings that are the child's current name/ident
 * are kept (mp__proc_free_unless_current). */
void mp__proc_destroy(mp_process *p)
{
    if (p->pidfd >= 0)
        close(p->pidfd);
    if (p->sentinel >= 0)
        close(p->sentinel);
    mp__proc_free_unless_current(p->name);
    mp__proc_free_unless_current(p->ident);
    if (p == mp__proc.self)
        mp__proc.self = NULL; /* a later handle at this address is not us */
    if (p != &mp__proc.slot.p)
        free(p);
    else if (mp__proc.cur_name != p->name && mp__proc.cur_ident != p->ident)
        atomic_store(&mp__proc.slot_busy, false); /* its strings go with it */
    /* else a child's own handle, whose strings are its identity: the slot
     * stays taken for good in this process. */
}

static void mark_ended(mp_process *p, int code)
{
    p->state = P_ENDED;
    p->exitcode = code;
    mp__proc_remove(p);
    mp__proc_release_pidfd(p);
}

/* Lock held; p started by this process and not reaped.  True once reaped. */
bool mp__proc_try_reap(mp_process *p)
{
    int st = 0;
    pid_t r;
    do
        r = waitpid(p->pid, &st, WNOHANG);
    while (r == -1 && errno == EINTR);
    if (r == 0)
        return false;
    if (r == -1) {
        /* ECHILD: someone else reaped it (SIGCHLD ignored, a stray
         * waitpid(-1)); its status is lost, so report a failure. */
        mark_ended(p, 255);
        return true;
    }
    mark_ended(p, WIFSIGNALED(st) ? -WTERMSIG(st) : WEXITSTATUS(st));
    return true;
}

/* Lock held on entry and on return (released while blocked).  MP_OK once p
 * has been reaped, MP_TIMEOUT when still running at the deadline. */
mp_status mp__proc_wait(mp_process *p, const mp__deadline *d)
{
    long step_ns = 200000; /* fallback sleep, doubling up to 20 ms */
    for (;;) {
        if (p->state == P_ENDED || mp__proc_try_reap(p))
            return MP_OK;
        int ms = mp__deadline_poll_ms(d);
        if (ms == 0)
            return MP_TIMEOUT;
        int fd = p->pidfd;
        p->waiters++;
        pthread_mutex_unlock(&mp__proc.lock);
        if (fd >= 0) {
            struct pollfd pfd = {.fd = fd, .events = POLLIN};
            (void)poll(&pfd, 1, ms); /* EINTR or wake-up: re-check */
        } else {
            struct timespec rem, ts = {0, step_ns};
            if (mp__deadline_remaining(d, &rem) && !d->forever &&
                (rem.tv_sec == 0 && rem.tv_nsec < ts.tv_nsec))
                ts = rem;
            nanosleep(&ts, NULL);
            if (step_ns < 20000000)
                step_ns *= 2;
        }
        pthread_mutex_lock(&mp__proc.lock);
        p->waiters--;
        if (p->state == P_ENDED)
            mp__proc_release_pidfd(p);
    }
}

/* Lock held.  Reap what has ended; release handles freed while running. */
void mp__proc_cleanup(void)
{
    for (mp_process *p = mp__proc.head, *next; p; p = next) {
        next = p->next;
        if (mp__proc_try_reap(p) && p->freed && p->waiters == 0)
            mp__proc_destroy(p); /* else the exit function waiting on it does */
    }
}

/* CPython's util._exit_function: terminate daemonic children, join all. */
void mp__proc_exit_children(void)
{
    /* Most children start none.  Then neither the lock nor the deadline (a
     * constant on a page the child has not touched) is needed: each first
     * touch of a page in a new child is a fault.  A child being added by
     * another thread right now is as if added after this function ran. */
    if (!atomic_load(&mp__proc.head))
        return;
    pthread_mutex_lock(&mp__proc.lock);
    mp__proc_cleanup();
    for (mp_process *p = mp__proc.head; p; p = p->next)
        if (p->daemon)
            kill(p->pid, SIGTERM);
    mp__deadline forever;
    mp__deadline_init(&forever, MP_FOREVER);
    while (mp__proc.head) {
        mp_process *p = mp__proc.head;
        mp__proc_wait(p, &forever);
        mp__proc_remove(p); /* already done by the reap; keeps the loop finite */
        if (p->freed && p->waiters == 0)
            mp__proc_destroy(p);
    }
    pthread_mutex_unlock(&mp__proc.lock);
}
