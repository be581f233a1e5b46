/* Processes: CPython's Process with the fork start method -- the handle
 * and the public calls (process_internal.h has the map of the component;
 * the registry of started children, reaping, the exit function and the fork
 * handlers are in process_registry.c).
 *
 * A started child never runs atexit handlers: it runs the exit function,
 * flushes stdio and calls _exit(), as CPython's fork start method does. */
#include "process_internal.h"

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
#if defined(__GLIBC__) && __GLIBC_PREREQ(2, 32)
#include <sys/single_threaded.h>
/* glibc's list of open streams, exported since 2.2.5 (its header, libio.h,
 * is no longer installed); each element starts with its FILE. */
extern FILE *_IO_list_all;
#define HAVE_STREAM_LIST 1
#endif

/* The pid of a started p: the caller's own for its own handle in a child
 * (that copy's pid field was never written: become_child). */
static pid_t pid_of(const mp_process *p) { return p == mp__proc.self ? getpid() : p->pid; }

/* True if p is the calling child's own handle. */
static bool is_self(const mp_process *p) { return p == mp__proc.self; }

/* ------------------------------------------------------------- handles */

/* Writes n in decimal at `at`; returns the end (no NUL). */
static char *put_uint(char *at, unsigned n)
{
    char digits[16];
    int k = 0;
    do
        digits[k++] = (char)('0' + n % 10);
    while ((n /= 10) != 0);
    while (k > 0)
        *at++ = digits[--k];
    return at;
}

/* The constructor behind mp_process_new and mp_process_new_run: a P_NEW
 * handle named "Process-<ident>", ident numbered below the caller's own as
 * CPython's _identity.  MP_ENOMEM with nothing allocated. */
static mp_status make(mp_process **out, mp_target_fn target, mp_run_fn run, void *arg)
{
    mp__proc_init();
    unsigned n = atomic_fetch_add(&mp__proc.counter, 1) + 1;
    const char *parent = mp__proc.cur_ident ? mp__proc.cur_ident : "";
    /* malloc and one assignment, not calloc (nor malloc + memset, which
     * compilers turn into calloc): glibc's calloc bypasses the thread's cache
     * of free chunks, so a program that starts and frees processes in turn
     * wrote malloc's arena on both sides of every fork, a fault each. */
    size_t plen = strlen(parent), len = plen + 16;        /* ':', 10 digits, NUL */
    struct mp__proc_slot *slot = mp__proc_slot_take(len); /* see struct mp__proc_state */
    mp_process *p;
    char *ident, *name;
    if (slot) {
        p = &slot->p;
        ident = slot->ident;
        name = slot->name;
    } else {
        p = malloc(sizeof *p);
        ident = malloc(len);
        name = malloc(len + 8);
        if (!p || !ident || !name) {
            free(p);
            free(ident);
            free(name);
            return mp__err(MP_ENOMEM, "process.new: out of memory");
        }
    }
    /* "<parent>:<n>" and "Process-<ident>" by hand, not by snprintf, whose
     * deep frame writes a stack page below the caller's: a page that every
     * fork makes copy-on-write again, so a fault per start. */
    memcpy(ident, parent, plen);
    char *end = ident + plen;
    if (plen)
        *end++ = ':';
    end = put_uint(end, n);
    *end = 0;
    memcpy(name, "Process-", 8);
    memcpy(name + 8, ident, (size_t)(end - ident) + 1);
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
        pthread_mutex_lock(&mp__proc.lock);                                                        \
        mp_status s_ = check_open(p, what);                                                        \
        if (s_ != MP_OK) {                                                                         \
            pthread_mutex_unlock(&mp__proc.lock);                                                  \
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
    pthread_mutex_unlock(&mp__proc.lock);
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
    pthread_mutex_lock(&mp__proc.lock);
    mp_status s = check_open(p, "set_name");
    if (s == MP_OK) {
        mp__proc_free_unless_current(p->name);
        p->name = copy;
        copy = NULL;
    }
    pthread_mutex_unlock(&mp__proc.lock);
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
    pthread_mutex_unlock(&mp__proc.lock);
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
    pthread_mutex_unlock(&mp__proc.lock);
    return s;
}

/* Contract in mp.h. */
mp_status mp_process_daemon(const mp_process *p, bool *daemon)
{
    if (!p || !daemon)
        return mp__err(MP_EINVAL, "process.daemon: NULL argument");
    LOCKED_CHECK(p, "daemon");
    *daemon = p->daemon;
    pthread_mutex_unlock(&mp__proc.lock);
    return MP_OK;
}

/* ---------------------------------------------------------------- start */

/* fflush(NULL), skipped when no stream holds output, so that neither side of
 * a fork writes stdio's lock page for nothing: when both did, each paid a
 * copy of it (a tenth of a fork + waitpid).  Behaves as fflush(NULL) always:
 * the skip is taken only where the answer is certain -- glibc, one thread (no
 * stream is opened, closed or written meanwhile), and every stream byte
 * oriented with its write pointer at its base, the test glibc's own flush
 * makes -- and anywhere else stdio is flushed. */
static void flush_stdio(void)
{
#ifdef HAVE_STREAM_LIST
    if (__libc_single_threaded) {
        FILE *f = _IO_list_all;
        while (f && f->_mode <= 0 && f->_IO_write_ptr <= f->_IO_write_base)
            f = f->_chain;
        if (!f)
            return;
    }
#endif
    fflush(NULL);
}

/* In the child, right after fork (atfork_child has emptied the registry).
 * Writes nothing but mp__proc's page, which atfork_child has written already:
 * the handle is not written (its state was set before the fork; its pid is
 * pid_of()'s), so a handle outside mp__proc's slot keeps its page shared with
 * the parent. */
static void become_child(const mp_process *self)
{
    /* The child's own copy of the object holds its name: no strdup(), whose
     * first call in a child cost about 7 page faults (lazy symbol binding,
     * malloc's arena, a fresh heap page), 4% of a process start. */
    mp__proc.cur_parent_pid = self->creator;
    mp__proc.cur_parent_name = mp__proc.cur_name ? mp__proc.cur_name : "MainProcess";
    mp__proc.cur_name = self->name;
    mp__proc.cur_ident = self->ident;
    atomic_store(&mp__proc.counter, 0);
    mp__proc.cur_daemon = self->daemon;
    mp__proc.self = self;
}

/* The child's _exit, reached through a pointer that the dynamic linker fills
 * when the program is loaded.  A direct call is bound lazily at its first
 * call, and a parent never calls _exit: every child would look the symbol up
 * through each loaded library (about 10 page faults per child, with
 * libcrypto, libsodium and libm in the scope). */
static void (*volatile child_exit)(int) = _exit;

/* Contract in mp.h.  Forks holding the registry lock (mp__proc.starter keeps
 * the atfork handlers off it), so no other thread's registry change is
 * copied half done; stdio is flushed first so that buffered output is not
 * written twice.  The child never returns from here.  After the fork the
 * parent writes only the handle and mp__proc's page (one page when the handle
 * is mp__proc's slot), the child only mp__proc's page (and what its target
 * writes). */
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
    else if (mp__proc.cur_daemon)
        s = mp__err(MP_ESTATE, "process.start: daemonic processes are not allowed "
                               "to have children");
    if (s != MP_OK) {
        pthread_mutex_unlock(&mp__proc.lock);
        return s;
    }
    mp__proc_cleanup();
    if (!mp__proc.atexit_registered && atexit(mp__proc_exit_children) == 0)
        mp__proc.atexit_registered = true;
    /* Buffered output would otherwise be written twice, once by each side. */
    flush_stdio();
    atomic_store_explicit(&mp__proc.starter, mp__gettid(), memory_order_relaxed);
    p->state = P_STARTED;       /* before the fork: the child's copy has it */
    struct mp__proc_state snap; /* the child's copy of mp__proc's page, which it finds zeroed */
    if (mp__proc_wiped)
        memcpy(&snap, &mp__proc, sizeof snap);
    pid_t pid = fork();
    if (pid == -1) {
        int e = errno;
        p->state = P_NEW;
        atomic_store_explicit(&mp__proc.starter, 0, memory_order_relaxed);
        pthread_mutex_unlock(&mp__proc.lock);
        return mp__errno(e, "process.start: fork");
    }
    if (pid == 0) {
        if (mp__proc_wiped)
            mp__proc_restore(&snap);
        become_child(p);
        int code = p->target ? p->target(p->arg) : p->run(p);
        mp__proc_exit_children();
        flush_stdio();
        child_exit(code & 0xff);
        __builtin_unreachable();
    }
    atomic_store_explicit(&mp__proc.starter, 0, memory_order_relaxed);
    p->pid = pid;
    /* Without a pidfd (old kernel, EMFILE) join falls back to short sleeps;
     * the pid cannot be reused meanwhile since only we reap it. */
    p->pidfd = (int)syscall(SYS_pidfd_open, pid, 0); /* close-on-exec always */
    if (p->pidfd < 0)
        p->pidfd = -1;
    mp__proc_add(p);
    pthread_mutex_unlock(&mp__proc.lock);
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
    else if (p->state == P_ENDED || mp__proc_try_reap(p)) {
        if ((p->sentinel = dead_fd()) < 0)
            s = mp__errno(errno, "process.sentinel: eventfd");
    } else if (p->pidfd < 0) {
        s = mp__err(MP_EOS, "process.sentinel: no pidfd for pid %d (needs Linux 5.3)", (int)p->pid);
    } else if ((p->sentinel = fcntl(p->pidfd, F_DUPFD_CLOEXEC, 3)) < 0) {
        s = mp__errno(errno, "process.sentinel: dup");
    }
    if (s == MP_OK)
        *fd = p->sentinel;
    pthread_mutex_unlock(&mp__proc.lock);
    return s;
}

/* Contract in mp.h.  Reaps first (as CPython's active_children joins the
 * finished); handles freed while running are not listed. */
mp_status mp_active_children(mp_process **out, size_t cap, size_t *n)
{
    if (!n || (!out && cap))
        return mp__err(MP_EINVAL, "active_children: %s is NULL", n ? "out" : "n");
    pthread_mutex_lock(&mp__proc.lock);
    mp__proc_cleanup();
    size_t k = 0;
    for (mp_process *p = mp__proc.head; p; p = p->next) {
        if (p->freed)
            continue;
        if (k < cap)
            out[k] = p;
        k++;
    }
    pthread_mutex_unlock(&mp__proc.lock);
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
    pid_t ppid = mp__proc.cur_parent_pid;
    if (ppid == 0) {
        *out = NULL;
        return MP_OK;
    }
    mp_process *p = calloc(1, sizeof *p);
    char *name = strdup(mp__proc.cur_parent_name ? mp__proc.cur_parent_name : "MainProcess");
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
 * registry lock; a child's waits in mp__proc_wait, which drops the lock while
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
        pthread_mutex_unlock(&mp__proc.lock);
        return wait_parent(fd, &d, timeout);
    }
    s = check_parent(p, "join");
    if (s == MP_OK && p->state == P_NEW)
        s = mp__err(MP_ESTATE, "process.join: can only join a started process");
    if (s == MP_OK) {
        s = mp__proc_wait(p, &d);
        if (s == MP_TIMEOUT)
            mp__err(s, "process.join: pid %d still running after %.3f s", (int)p->pid, timeout);
    }
    pthread_mutex_unlock(&mp__proc.lock);
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
        *alive = !(p->state == P_ENDED || mp__proc_try_reap(p));
    pthread_mutex_unlock(&mp__proc.lock);
    return s;
}

/* Contract in mp.h. */
mp_status mp_process_pid(const mp_process *p, pid_t *pid)
{
    if (!p || !pid)
        return mp__err(MP_EINVAL, "process.pid: NULL argument");
    LOCKED_CHECK(p, "pid");
    *pid = p->state == P_NEW ? 0 : pid_of(p);
    pthread_mutex_unlock(&mp__proc.lock);
    return MP_OK;
}

/* Contract in mp.h.  Reaps a child that has ended, so the code is current. */
mp_status mp_process_exitcode(mp_process *p, int *code)
{
    if (!p || !code)
        return mp__err(MP_EINVAL, "process.exitcode: NULL argument");
    LOCKED_CHECK(p, "exitcode");
    if (p->state == P_STARTED && p->creator == getpid())
        mp__proc_try_reap(p);
    *code = p->exitcode;
    pthread_mutex_unlock(&mp__proc.lock);
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
    pthread_mutex_unlock(&mp__proc.lock);
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
    pthread_mutex_lock(&mp__proc.lock);
    mp_status s = MP_OK;
    if (!p->closed) {
        bool running = !p->is_parent && p->state == P_STARTED &&
                       (p->creator != getpid() || is_self(p) || !mp__proc_try_reap(p));
        if (running) {
            s = mp__err(MP_ESTATE, "process.close: cannot close a process while it is "
                                   "still running; join() or terminate() it first");
        } else {
            mp__proc_remove(p);
            mp__proc_release_pidfd(p);
            if (p->sentinel >= 0) {
                close(p->sentinel);
                p->sentinel = -1;
            }
            p->closed = true;
        }
    }
    pthread_mutex_unlock(&mp__proc.lock);
    return s;
}

/* Contract in mp.h.  A running child's handle is only marked freed: it
 * stays on the registry and mp__proc_exit_children (or mp__proc_cleanup) frees it once
 * reaped. */
void mp_process_free(mp_process *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&mp__proc.lock);
    if (p->creator == getpid() && p->state == P_STARTED && !mp__proc_try_reap(p)) {
        p->freed = true; /* still on the registry: mp__proc_exit_children() joins it */
        pthread_mutex_unlock(&mp__proc.lock);
        return;
    }
    /* In a child, an inherited handle is not on its registry: just memory. */
    if (p->creator == getpid())
        mp__proc_remove(p);
    pthread_mutex_unlock(&mp__proc.lock);
    mp__proc_destroy(p);
}

/* -------------------------------------------------------- the caller */

const char *mp_current_name(void) { return mp__proc.cur_name ? mp__proc.cur_name : "MainProcess"; }

void mp__child_prepare(mp__child_id *id, const char *prefix)
{
    unsigned n = atomic_fetch_add(&mp__proc.counter, 1) + 1;
    const char *parent = mp__proc.cur_ident ? mp__proc.cur_ident : "";
    atomic_store(&mp__proc.prepared_parent, getpid());
    snprintf(id->ident, sizeof id->ident, "%s%s%u", parent, *parent ? ":" : "", n);
    snprintf(id->name, sizeof id->name, "%s-%s", prefix, id->ident);
}

/* Contract in mp_internal.h.  Called in the new worker right after fork,
 * with the id its parent prepared. */
void mp__child_adopt(mp__child_id *id)
{
    mp__proc.cur_parent_pid = atomic_load(&mp__proc.prepared_parent);
    mp__proc.cur_parent_name = mp__proc.cur_name ? mp__proc.cur_name : "MainProcess";
    mp__proc.cur_name = id->name;
    mp__proc.cur_ident = id->ident;
    atomic_store(&mp__proc.counter, 0);
    mp__proc.cur_daemon = true; /* CPython's pool workers are daemonic */
}

pid_t mp_current_pid(void) { return getpid(); }

pid_t mp_parent_pid(void) { return getppid(); }

int mp_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n >= 1 ? (int)n : 1;
}
