/* Processes: CPython's Process with the fork start method.
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
 * signals or waits for them.  A started child never runs atexit handlers:
 * it flushes stdio and calls _exit(), as CPython's fork start method does. */
#include "mp_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { P_NEW, P_STARTED, P_ENDED };

struct mp_process {
    mp_target_fn target; /* exactly one of target / run */
    mp_run_fn run;
    void *arg;
    char *name;
    char *ident;   /* CPython's _identity joined by ':', e.g. "1:2" */
    pid_t creator; /* getpid() at creation: only it may start/join */
    pid_t pid;
    int pidfd; /* -1 when not started, reaped, or pidfd unavailable */
    int state;
    int exitcode;
    int waiters;    /* threads polling pidfd: it is closed by the last one */
    int sentinel;   /* -1 until mp_process_sentinel() makes it; the handle's own */
    bool is_parent; /* made by mp_parent_process(): the caller's parent */
    bool daemon;
    bool closed;
    bool freed; /* freed by the user while running: the registry owns it */
    bool listed;
    mp_process *prev, *next;
};

/* Every process-wide variable of this file, in one block that cannot
 * straddle a page: after a fork the parent writes its registry and the child
 * its identity, and each page one side writes after a fork costs that side a
 * copy-on-write fault (tens of microseconds on a VM).  The lock guards the
 * registry; the identity is written only by the one thread of a new child. */
static _Alignas(256) struct {
    pthread_mutex_t lock;
    mp_process *_Atomic head; /* started, unreaped children; written under lock */
    /* The thread forking in mp_process_start, which holds the lock across
     * its fork (the atfork handlers leave the lock alone for it). */
    _Atomic int32_t starter;
    bool atexit_registered;
    /* The calling process as CPython's current_process() sees it.  NULL
     * name and empty identity in the top process ("MainProcess"). */
    char *cur_name;
    char *cur_ident;
    bool cur_daemon;
    /* In a started child, its own handle.  Its pid field is not set in the
     * child's copy (the parent writes it after the fork): pid_of(). */
    const mp_process *self;
    _Atomic unsigned counter; /* CPython's _process_counter */
    /* The process that forked us (0 in the top process) and its name, as the
     * parent knew them before the fork: getppid() after the fork may already
     * be a reaper that adopted us. */
    pid_t cur_parent_pid;
    const char *cur_parent_name;
    _Atomic pid_t prepared_parent; /* mp__child_prepare -> mp__child_adopt */
} proc = {.lock = PTHREAD_MUTEX_INITIALIZER};
_Static_assert(sizeof proc <= 256, "proc fits its alignment, so one page");

static _Thread_local int32_t cached_tid;

/* ------------------------------------------------------------------ fork */

/* Any fork (ours or the program's own) must leave the child a usable lock,
 * an empty registry (the children are its siblings, not its own: never
 * signal or reap them) and the right tid. */
static void atfork_prepare(void)
{
    if (atomic_load_explicit(&proc.starter, memory_order_relaxed) != mp__gettid())
        pthread_mutex_lock(&proc.lock);
}

static void atfork_parent(void)
{
    if (atomic_load_explicit(&proc.starter, memory_order_relaxed) != mp__gettid())
        pthread_mutex_unlock(&proc.lock);
}

/* pthread_atfork's child handler: the registry lists the parent's children,
 * which are not this process's, so it is emptied (their pidfds closed) and
 * its lock re-made (the forking thread held it); this process is nobody's
 * started child until become_child says so.  The cached tid is reset: the
 * child's only thread has a new one. */
static void atfork_child(void)
{
    for (mp_process *q = proc.head; q; q = q->next) {
        q->listed = false;
        if (q->pidfd >= 0) {
            close(q->pidfd);
            q->pidfd = -1;
        }
    }
    proc.head = NULL;
    /* An assignment, not pthread_mutex_init(): a function the parent never
     * calls is bound lazily in every child, some 4 page faults each. */
    proc.lock = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
    atomic_store_explicit(&proc.starter, 0, memory_order_relaxed);
    proc.self = NULL;
    if (cached_tid)     /* a write to a fresh thread-local page costs a fault */
        cached_tid = 0; /* the forking thread is the child's only thread */
}

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static void atfork_init(void) { pthread_atfork(atfork_prepare, atfork_parent, atfork_child); }

/* ------------------------------------------------------------------ tids */

/* Contract in mp_internal.h.  The answer is kept for 100 ms (a coarse clock
 * read is a few ns; sched_getaffinity a system call, which every receive
 * would otherwise pay), per thread, since affinity is per thread. */
bool mp__cpus_many(void)
{
    static _Thread_local int64_t checked_ms = -1000;
    static _Thread_local bool many;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
    int64_t ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    if (ms - checked_ms >= 100) {
        cpu_set_t set;
        many = sched_getaffinity(0, sizeof set, &set) != 0 || CPU_COUNT(&set) > 1;
        checked_ms = ms;
    }
    return many;
}

int32_t mp__gettid(void)
{
    if (MP__UNLIKELY(cached_tid == 0)) {
        pthread_once(&atfork_once, atfork_init);
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
static void reg_add(mp_process *p)
{
    p->prev = NULL;
    p->next = proc.head;
    if (proc.head)
        proc.head->prev = p;
    proc.head = p;
    p->listed = true;
}

/* Lock held.  Takes p off the registry if it is on it; idempotent. */
static void reg_remove(mp_process *p)
{
    if (!p->listed)
        return;
    if (p->prev)
        p->prev->next = p->next;
    else
        proc.head = p->next;
    if (p->next)
        p->next->prev = p->prev;
    p->prev = p->next = NULL;
    p->listed = false;
}

static void release_pidfd(mp_process *p)
{
    if (p->pidfd >= 0 && p->waiters == 0) {
        close(p->pidfd);
        p->pidfd = -1;
    }
}

/* In a child, its current name and ident are its own object's strings (see
 * become_child): they outlive the object. */
static void free_unless_current(char *s)
{
    if (s != proc.cur_name && s != proc.cur_ident)
        free(s);
}

/* Frees p and its descriptors; the caller has taken it off the registry and
 * no thread waits on it.  Strings that are the child's current name/ident
 * are kept (free_unless_current). */
static void destroy(mp_process *p)
{
    if (p->pidfd >= 0)
        close(p->pidfd);
    if (p->sentinel >= 0)
        close(p->sentinel);
    free_unless_current(p->name);
    free_unless_current(p->ident);
    if (p == proc.self)
        proc.self = NULL; /* a later handle at this address is not us */
    free(p);
}

/* The pid of a started p: the caller's own for its own handle in a child
 * (that copy's pid field was never written: become_child). */
static pid_t pid_of(const mp_process *p) { return p == proc.self ? getpid() : p->pid; }

/* True if p is the calling child's own handle. */
static bool is_self(const mp_process *p) { return p == proc.self; }

static void mark_ended(mp_process *p, int code)
{
    p->state = P_ENDED;
    p->exitcode = code;
    reg_remove(p);
    release_pidfd(p);
}

/* Lock held; p started by this process and not reaped.  True once reaped. */
static bool try_reap(mp_process *p)
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
static mp_status wait_locked(mp_process *p, const mp__deadline *d)
{
    long step_ns = 200000; /* fallback sleep, doubling up to 20 ms */
    for (;;) {
        if (p->state == P_ENDED || try_reap(p))
            return MP_OK;
        int ms = mp__deadline_poll_ms(d);
        if (ms == 0)
            return MP_TIMEOUT;
        int fd = p->pidfd;
        p->waiters++;
        pthread_mutex_unlock(&proc.lock);
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
        pthread_mutex_lock(&proc.lock);
        p->waiters--;
        if (p->state == P_ENDED)
            release_pidfd(p);
    }
}

/* Lock held.  Reap what has ended; release handles freed while running. */
static void reg_cleanup(void)
{
    for (mp_process *p = proc.head, *next; p; p = next) {
        next = p->next;
        if (try_reap(p) && p->freed && p->waiters == 0)
            destroy(p); /* else the exit function waiting on it does */
    }
}

/* CPython's util._exit_function: terminate daemonic children, join all. */
static void exit_children(void)
{
    /* Most children start none.  Then neither the lock nor the deadline (a
     * constant on a page the child has not touched) is needed: each first
     * touch of a page in a new child is a fault.  A child being added by
     * another thread right now is as if added after this function ran. */
    if (!atomic_load(&proc.head))
        return;
    pthread_mutex_lock(&proc.lock);
    reg_cleanup();
    for (mp_process *p = proc.head; p; p = p->next)
        if (p->daemon)
            kill(p->pid, SIGTERM);
    mp__deadline forever;
    mp__deadline_init(&forever, MP_FOREVER);
    while (proc.head) {
        mp_process *p = proc.head;
        wait_locked(p, &forever);
        reg_remove(p); /* already done by the reap; keeps the loop finite */
        if (p->freed && p->waiters == 0)
            destroy(p);
    }
    pthread_mutex_unlock(&proc.lock);
}

/* ------------------------------------------------------------- handles */

/* The constructor behind mp_process_new and mp_process_new_run: a P_NEW
 * handle named "Process-<ident>", ident numbered below the caller's own as
 * CPython's _identity.  MP_ENOMEM with nothing allocated. */
static mp_status make(mp_process **out, mp_target_fn target, mp_run_fn run, void *arg)
{
    pthread_once(&atfork_once, atfork_init);
    unsigned n = atomic_fetch_add(&proc.counter, 1) + 1;
    const char *parent = proc.cur_ident ? proc.cur_ident : "";
    /* malloc and one assignment, not calloc (nor malloc + memset, which
     * compilers turn into calloc): glibc's calloc bypasses the thread's cache
     * of free chunks, so a program that starts and frees processes in turn
     * wrote malloc's arena on both sides of every fork, a fault each. */
    mp_process *p = malloc(sizeof *p);
    size_t len = strlen(parent) + 16;
    char *ident = malloc(len), *name = malloc(len + 8);
    if (!p || !ident || !name) {
        free(p);
        free(ident);
        free(name);
        return mp__err(MP_ENOMEM, "process.new: out of memory");
    }
    snprintf(ident, len, "%s%s%u", parent, *parent ? ":" : "", n);
    snprintf(name, len + 8, "Process-%s", ident);
    *p = (mp_process){.target = target,
                      .run = run,
                      .arg = arg,
                      .ident = ident,
                      .name = name,
                      .creator = getpid(),
                      .pidfd = -1,
                      .sentinel = -1,
                      .state = P_NEW,
                      .exitcode = MP_EXITCODE_NONE};
    *out = p;
    return MP_OK;
}

mp_status mp_process_new(mp_process **out, mp_target_fn target, void *arg)
{
    if (!out || !target)
        return mp__err(MP_EINVAL, "process.new: %s is NULL", out ? "target" : "out");
    return make(out, target, NULL, arg);
}

mp_status mp_process_new_run(mp_process **out, mp_run_fn run, void *data)
{
    if (!out || !run)
        return mp__err(MP_EINVAL, "process.new_run: %s is NULL", out ? "run" : "out");
    return make(out, NULL, run, data);
}

/* Lock held.  MP_CLOSED after close. */
static mp_status check_open(const mp_process *p, const char *what)
{
    if (p->closed)
        return mp__err(MP_CLOSED, "process.%s: process object is closed", what);
    return MP_OK;
}

#define LOCKED_CHECK(p, what)                                                                      \
    do {                                                                                           \
        pthread_mutex_lock(&proc.lock);                                                            \
        mp_status s_ = check_open(p, what);                                                        \
        if (s_ != MP_OK) {                                                                         \
            pthread_mutex_unlock(&proc.lock);                                                      \
            return s_;                                                                             \
        }                                                                                          \
    } while (0)

/* Contract in mp.h.  Takes the registry lock, as every accessor does, for
 * the closed check. */
mp_status mp_process_data(const mp_process *p, void **data)
{
    if (!p || !data)
        return mp__err(MP_EINVAL, "process.data: NULL argument");
    LOCKED_CHECK(p, "data");
    *data = p->arg;
    pthread_mutex_unlock(&proc.lock);
    return MP_OK;
}

/* Contract in mp.h.  The copy is made before the lock is taken, and freed
 * again if the handle turns out closed. */
mp_status mp_process_set_name(mp_process *p, const char *name)
{
    if (!p || !name)
        return mp__err(MP_EINVAL, "process.set_name: NULL argument");
    char *copy = strdup(name);
    if (!copy)
        return mp__err(MP_ENOMEM, "process.set_name: out of memory");
    pthread_mutex_lock(&proc.lock);
    mp_status s = check_open(p, "set_name");
    if (s == MP_OK) {
        free_unless_current(p->name);
        p->name = copy;
        copy = NULL;
    }
    pthread_mutex_unlock(&proc.lock);
    free(copy);
    return s;
}

/* Contract in mp.h.  The string stays the handle's. */
mp_status mp_process_name(const mp_process *p, const char **name)
{
    if (!p || !name)
        return mp__err(MP_EINVAL, "process.name: NULL argument");
    LOCKED_CHECK(p, "name");
    *name = p->name;
    pthread_mutex_unlock(&proc.lock);
    return MP_OK;
}

/* Contract in mp.h.  Under the registry lock, so a racing start sees the
 * flag or refuses it. */
mp_status mp_process_set_daemon(mp_process *p, bool daemon)
{
    if (!p)
        return mp__err(MP_EINVAL, "process.set_daemon: NULL process");
    LOCKED_CHECK(p, "set_daemon");
    mp_status s = MP_OK;
    if (p->state != P_NEW)
        s = mp__err(MP_ESTATE, "process.set_daemon: process has already started");
    else
        p->daemon = daemon;
    pthread_mutex_unlock(&proc.lock);
    return s;
}

/* Contract in mp.h. */
mp_status mp_process_daemon(const mp_process *p, bool *daemon)
{
    if (!p || !daemon)
        return mp__err(MP_EINVAL, "process.daemon: NULL argument");
    LOCKED_CHECK(p, "daemon");
    *daemon = p->daemon;
    pthread_mutex_unlock(&proc.lock);
    return MP_OK;
}

/* ---------------------------------------------------------------- start */

/* In the child, right after fork (atfork_child has emptied the registry).
 * Writes nothing but proc's page, which atfork_child has written already:
 * the handle's page stays shared with the parent (its state was set before
 * the fork; its pid is pid_of()'s). */
static void become_child(const mp_process *self)
{
    /* The child's own copy of the object holds its name: no strdup(), whose
     * first call in a child cost about 7 page faults (lazy symbol binding,
     * malloc's arena, a fresh heap page), 4% of a process start. */
    proc.cur_parent_pid = self->creator;
    proc.cur_parent_name = proc.cur_name ? proc.cur_name : "MainProcess";
    proc.cur_name = self->name;
    proc.cur_ident = self->ident;
    atomic_store(&proc.counter, 0);
    proc.cur_daemon = self->daemon;
    proc.self = self;
}

/* The child's _exit, reached through a pointer that the dynamic linker fills
 * when the program is loaded.  A direct call is bound lazily at its first
 * call, and a parent never calls _exit: every child would look the symbol up
 * through each loaded library (about 10 page faults per child, with
 * libcrypto, libsodium and libm in the scope). */
static void (*volatile child_exit)(int) = _exit;

/* Contract in mp.h.  Forks holding the registry lock (proc.starter keeps
 * the atfork handlers off it), so no other thread's registry change is
 * copied half done; stdio is flushed first so that buffered output is not
 * written twice.  The child never returns from here.  After the fork the
 * parent writes only the handle and proc's page, the child only proc's
 * page (and what its target writes). */
mp_status mp_process_start(mp_process *p)
{
    if (!p)
        return mp__err(MP_EINVAL, "process.start: NULL process");
    LOCKED_CHECK(p, "start");
    mp_status s = MP_OK;
    if (p->is_parent)
        s = mp__err(MP_ESTATE, "process.start: the parent process is not a child");
    else if (p->state != P_NEW)
        s = mp__err(MP_ESTATE, "process.start: cannot start a process twice");
    else if (p->creator != getpid())
        s = mp__err(MP_ESTATE, "process.start: can only start a process object "
                               "created by the current process");
    else if (proc.cur_daemon)
        s = mp__err(MP_ESTATE, "process.start: daemonic processes are not allowed "
                               "to have children");
    if (s != MP_OK) {
        pthread_mutex_unlock(&proc.lock);
        return s;
    }
    reg_cleanup();
    if (!proc.atexit_registered && atexit(exit_children) == 0)
        proc.atexit_registered = true;
    /* Buffered output would otherwise be written twice, once by each side. */
    fflush(NULL);
    atomic_store_explicit(&proc.starter, mp__gettid(), memory_order_relaxed);
    p->state = P_STARTED; /* before the fork: the child's copy has it */
    pid_t pid = fork();
    if (pid == -1) {
        int e = errno;
        p->state = P_NEW;
        atomic_store_explicit(&proc.starter, 0, memory_order_relaxed);
        pthread_mutex_unlock(&proc.lock);
        return mp__errno(e, "process.start: fork");
    }
    if (pid == 0) {
        become_child(p);
        int code = p->target ? p->target(p->arg) : p->run(p);
        exit_children();
        fflush(NULL);
        child_exit(code & 0xff);
        __builtin_unreachable();
    }
    atomic_store_explicit(&proc.starter, 0, memory_order_relaxed);
    p->pid = pid;
    /* Without a pidfd (old kernel, EMFILE) join falls back to short sleeps;
     * the pid cannot be reused meanwhile since only we reap it. */
    p->pidfd = (int)syscall(SYS_pidfd_open, pid, 0); /* close-on-exec always */
    if (p->pidfd < 0)
        p->pidfd = -1;
    reg_add(p);
    pthread_mutex_unlock(&proc.lock);
    return MP_OK;
}

/* ------------------------------------------------------------ sentinels */

/* A descriptor that is readable at once: the sentinel of a process already
 * known to have ended (its pidfd is gone with the reap). */
static int dead_fd(void) { return eventfd(1, EFD_CLOEXEC); }

static bool fd_readable(int fd)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int r;
    while ((r = poll(&pfd, 1, 0)) < 0 && errno == EINTR)
        ;
    return r > 0;
}

/* join() of the parent's handle: wait for its sentinel. */
static mp_status wait_parent(int fd, const mp__deadline *d, double timeout)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    for (;;) {
        struct timespec ts;
        bool left = mp__deadline_remaining(d, &ts);
        int r = ppoll(&pfd, 1, d->forever ? NULL : left ? &ts : &(struct timespec){0, 0}, NULL);
        if (r > 0)
            return MP_OK;
        if (r < 0 && errno != EINTR)
            return mp__errno(errno, "process.join");
        if (!left)
            return mp__err(MP_TIMEOUT,
                           "process.join: the parent is still running after "
                           "%.3f s",
                           timeout > 0 ? timeout : 0.0);
    }
}

/* Contract in mp.h.  A dup of the pidfd (close-on-exec), made once and kept
 * until close; for a child already reaped, an eventfd that is readable at
 * once. */
mp_status mp_process_sentinel(mp_process *p, int *fd)
{
    if (!p || !fd)
        return mp__err(MP_EINVAL, "process.sentinel: NULL argument");
    LOCKED_CHECK(p, "sentinel");
    mp_status s = MP_OK;
    if (p->sentinel >= 0)
        ;
    else if (p->state == P_NEW)
        s = mp__err(MP_ESTATE, "process.sentinel: process not started");
    else if (p->creator != getpid())
        s = mp__err(MP_ESTATE, "process.sentinel: only the parent has a child's sentinel");
    else if (p->state == P_ENDED || try_reap(p)) {
        if ((p->sentinel = dead_fd()) < 0)
            s = mp__errno(errno, "process.sentinel: eventfd");
    } else if (p->pidfd < 0) {
        s = mp__err(MP_EOS, "process.sentinel: no pidfd for pid %d (needs Linux 5.3)", (int)p->pid);
    } else if ((p->sentinel = fcntl(p->pidfd, F_DUPFD_CLOEXEC, 3)) < 0) {
        s = mp__errno(errno, "process.sentinel: dup");
    }
    if (s == MP_OK)
        *fd = p->sentinel;
    pthread_mutex_unlock(&proc.lock);
    return s;
}

/* Contract in mp.h.  Reaps first (as CPython's active_children joins the
 * finished); handles freed while running are not listed. */
mp_status mp_active_children(mp_process **out, size_t cap, size_t *n)
{
    if (!n || (!out && cap))
        return mp__err(MP_EINVAL, "active_children: %s is NULL", n ? "out" : "n");
    pthread_mutex_lock(&proc.lock);
    reg_cleanup();
    size_t k = 0;
    for (mp_process *p = proc.head; p; p = p->next) {
        if (p->freed)
            continue;
        if (k < cap)
            out[k] = p;
        k++;
    }
    pthread_mutex_unlock(&proc.lock);
    *n = k;
    return MP_OK;
}

/* Contract in mp.h.  A new handle (the caller frees it) whose sentinel is a
 * pidfd of the parent, or a readable eventfd when the parent is already
 * gone; a pidfd opened after the parent died is refused by the getppid()
 * check, since the pid may name another process by then. */
mp_status mp_parent_process(mp_process **out)
{
    if (!out)
        return mp__err(MP_EINVAL, "parent_process: out is NULL");
    pid_t ppid = proc.cur_parent_pid;
    if (ppid == 0) {
        *out = NULL;
        return MP_OK;
    }
    mp_process *p = calloc(1, sizeof *p);
    char *name = strdup(proc.cur_parent_name ? proc.cur_parent_name : "MainProcess");
    char *ident = strdup("");
    if (!p || !name || !ident) {
        free(p);
        free(name);
        free(ident);
        return mp__err(MP_ENOMEM, "parent_process: out of memory");
    }
    /* The pidfd names our parent only if we were still its child after it
     * was opened: a parent that has died (its pid perhaps reused since) has
     * handed us to a reaper first. */
    int fd = (int)syscall(SYS_pidfd_open, ppid, 0);
    if (fd >= 0 && getppid() != ppid) {
        close(fd);
        fd = -1;
    }
    if (fd < 0 && (errno == ENOSYS || errno == EMFILE || errno == ENFILE) && getppid() == ppid) {
        int e = errno;
        free(p);
        free(name);
        free(ident);
        return mp__errno(e, "parent_process: pidfd_open");
    }
    if (fd < 0 && (fd = dead_fd()) < 0) {
        int e = errno;
        free(p);
        free(name);
        free(ident);
        return mp__errno(e, "parent_process: eventfd");
    }
    p->name = name;
    p->ident = ident;
    p->creator = 0; /* nobody's child: start, join-as-parent, signals refused */
    p->pid = ppid;
    p->pidfd = -1;
    p->sentinel = fd;
    p->state = P_STARTED;
    p->exitcode = MP_EXITCODE_NONE;
    p->is_parent = true;
    *out = p;
    return MP_OK;
}

/* ------------------------------------------------------------ the child */

/* Lock held.  Misuse from a process other than the creator. */
static mp_status check_parent(const mp_process *p, const char *what)
{
    if (is_self(p))
        return mp__err(MP_ESTATE, "process.%s: a process cannot %s itself", what, what);
    if (p->creator != getpid())
        return mp__err(MP_ESTATE, "process.%s: can only %s a child process", what, what);
    return MP_OK;
}

/* Contract in mp.h.  The parent's handle waits on its sentinel without the
 * registry lock; a child's waits in wait_locked, which drops the lock while
 * it sleeps. */
mp_status mp_process_join(mp_process *p, double timeout)
{
    if (!p)
        return mp__err(MP_EINVAL, "process.join: NULL process");
    mp__deadline d;
    mp_status s = mp__deadline_init(&d, timeout);
    if (s != MP_OK)
        return s;
    LOCKED_CHECK(p, "join");
    if (p->is_parent) {
        int fd = p->sentinel;
        pthread_mutex_unlock(&proc.lock);
        return wait_parent(fd, &d, timeout);
    }
    s = check_parent(p, "join");
    if (s == MP_OK && p->state == P_NEW)
        s = mp__err(MP_ESTATE, "process.join: can only join a started process");
    if (s == MP_OK) {
        s = wait_locked(p, &d);
        if (s == MP_TIMEOUT)
            mp__err(s, "process.join: pid %d still running after %.3f s", (int)p->pid, timeout);
    }
    pthread_mutex_unlock(&proc.lock);
    return s;
}

/* Contract in mp.h.  Reaps a child that has ended (as CPython's is_alive). */
mp_status mp_process_is_alive(mp_process *p, bool *alive)
{
    if (!p || !alive)
        return mp__err(MP_EINVAL, "process.is_alive: NULL argument");
    LOCKED_CHECK(p, "is_alive");
    mp_status s = MP_OK;
    if (p->is_parent)
        *alive = !fd_readable(p->sentinel);
    else if (is_self(p))
        *alive = true; /* CPython: current_process().is_alive() */
    else if (p->creator != getpid())
        s = mp__err(MP_ESTATE, "process.is_alive: can only test a child process");
    else if (p->state == P_NEW)
        *alive = false;
    else
        *alive = !(p->state == P_ENDED || try_reap(p));
    pthread_mutex_unlock(&proc.lock);
    return s;
}

/* Contract in mp.h. */
mp_status mp_process_pid(const mp_process *p, pid_t *pid)
{
    if (!p || !pid)
        return mp__err(MP_EINVAL, "process.pid: NULL argument");
    LOCKED_CHECK(p, "pid");
    *pid = p->state == P_NEW ? 0 : pid_of(p);
    pthread_mutex_unlock(&proc.lock);
    return MP_OK;
}

/* Contract in mp.h.  Reaps a child that has ended, so the code is current. */
mp_status mp_process_exitcode(mp_process *p, int *code)
{
    if (!p || !code)
        return mp__err(MP_EINVAL, "process.exitcode: NULL argument");
    LOCKED_CHECK(p, "exitcode");
    if (p->state == P_STARTED && p->creator == getpid())
        try_reap(p);
    *code = p->exitcode;
    pthread_mutex_unlock(&proc.lock);
    return MP_OK;
}

/* terminate and kill: sig to a started child under the registry lock, so
 * that a child is never signalled after its reap (its pid may be reused
 * then).  ESRCH (it has just ended) is not an error. */
static mp_status send_signal(mp_process *p, int sig, const char *what)
{
    if (!p)
        return mp__err(MP_EINVAL, "process.%s: NULL process", what);
    LOCKED_CHECK(p, what);
    mp_status s = MP_OK;
    if (p->state == P_NEW)
        s = mp__err(MP_ESTATE, "process.%s: process has not been started", what);
    else if (p->is_parent)
        s = mp__err(MP_ESTATE, "process.%s: the parent process is not a child", what);
    else if (p->state == P_STARTED && kill(pid_of(p), sig) == -1 && errno != ESRCH)
        s = mp__errno(errno, what); /* ESRCH: it has just ended, as CPython */
    pthread_mutex_unlock(&proc.lock);
    return s;
}

mp_status mp_process_terminate(mp_process *p) { return send_signal(p, SIGTERM, "terminate"); }
mp_status mp_process_kill(mp_process *p) { return send_signal(p, SIGKILL, "kill"); }

/* Contract in mp.h.  Refuses a child still running (after one reap try);
 * idempotent otherwise. */
mp_status mp_process_close(mp_process *p)
{
    if (!p)
        return mp__err(MP_EINVAL, "process.close: NULL process");
    pthread_mutex_lock(&proc.lock);
    mp_status s = MP_OK;
    if (!p->closed) {
        bool running = !p->is_parent && p->state == P_STARTED &&
                       (p->creator != getpid() || is_self(p) || !try_reap(p));
        if (running) {
            s = mp__err(MP_ESTATE, "process.close: cannot close a process while it is "
                                   "still running; join() or terminate() it first");
        } else {
            reg_remove(p);
            release_pidfd(p);
            if (p->sentinel >= 0) {
                close(p->sentinel);
                p->sentinel = -1;
            }
            p->closed = true;
        }
    }
    pthread_mutex_unlock(&proc.lock);
    return s;
}

/* Contract in mp.h.  A running child's handle is only marked freed: it
 * stays on the registry and exit_children (or reg_cleanup) frees it once
 * reaped. */
void mp_process_free(mp_process *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&proc.lock);
    if (p->creator == getpid() && p->state == P_STARTED && !try_reap(p)) {
        p->freed = true; /* still on the registry: exit_children() joins it */
        pthread_mutex_unlock(&proc.lock);
        return;
    }
    /* In a child, an inherited handle is not on its registry: just memory. */
    if (p->creator == getpid())
        reg_remove(p);
    pthread_mutex_unlock(&proc.lock);
    destroy(p);
}

/* -------------------------------------------------------- the caller */

const char *mp_current_name(void) { return proc.cur_name ? proc.cur_name : "MainProcess"; }

void mp__child_prepare(mp__child_id *id, const char *prefix)
{
    unsigned n = atomic_fetch_add(&proc.counter, 1) + 1;
    const char *parent = proc.cur_ident ? proc.cur_ident : "";
    atomic_store(&proc.prepared_parent, getpid());
    snprintf(id->ident, sizeof id->ident, "%s%s%u", parent, *parent ? ":" : "", n);
    snprintf(id->name, sizeof id->name, "%s-%s", prefix, id->ident);
}

/* Contract in mp_internal.h.  Called in the new worker right after fork,
 * with the id its parent prepared. */
void mp__child_adopt(mp__child_id *id)
{
    proc.cur_parent_pid = atomic_load(&proc.prepared_parent);
    proc.cur_parent_name = proc.cur_name ? proc.cur_name : "MainProcess";
    proc.cur_name = id->name;
    proc.cur_ident = id->ident;
    atomic_store(&proc.counter, 0);
    proc.cur_daemon = true; /* CPython's pool workers are daemonic */
}

pid_t mp_current_pid(void) { return getpid(); }

pid_t mp_parent_pid(void) { return getppid(); }

int mp_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n >= 1 ? (int)n : 1;
}
