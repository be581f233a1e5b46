/*
 * mp.h -- process-based concurrency in the style of Python's multiprocessing.
 *
 * This header is the specification.  Every implementation (the reference in
 * ref/, or any other library) exports exactly these symbols; the conformance
 * suite in conformance/ is written against this file alone.  Bracketed IDs such
 * as [Q-GET-TIMEOUT-EMPTY] name rows of the behaviour catalogue
 * (conformance/catalogue/<component>.tsv) whose tests prove the sentence they follow.
 *
 * Conventions
 *   - Handles are opaque.  A constructor `mp_x_new(mp_x **out, ...)` returns a
 *     status and stores the handle through `out`; `mp_x_free(NULL)` is a no-op.
 *   - Every call returns an mp_status (MP_OK == 0); outputs go through pointers
 *     and are written only on success unless documented otherwise.
 *     The only exception: value constructors (mp_int(), mp_list(), ...) return
 *     the new value or NULL when out of memory, so that they nest; every call
 *     that receives a NULL value returns MP_EINVAL.
 *   - After a failure, mp_errmsg() returns a message describing the last failure
 *     of the calling thread (never NULL).
 *   - Misuse is a status, never an abort.  An implementation that lacks a
 *     component returns MP_ENOTSUP from every call of it.
 *   - Every descriptor the library creates (Pipe ends, Queues, the
 *     synchronisation objects, a started process, a pool with its results and
 *     iterators, a manager, its proxies and a connected handle) is
 *     close-on-exec, so that an exec()ed program inherits none of them
 *     [FD-CLOEXEC-ALL].
 *   - A signal handler (installed without SA_RESTART) never cuts a wait
 *     short: a timed wait interrupted by signals still waits its whole
 *     timeout and returns its real outcome [EINTR-RETRY-TIMED], and a call
 *     blocked without a timeout (Pipe recv_bytes, Queue get_bytes, Lock
 *     acquire, process join, a pool result's get) keeps waiting until its
 *     real outcome arrives [EINTR-RETRY-FOREVER].
 *   - Objects made before mp_process_start() are shared with the child
 *     (inheritance, as with CPython's fork start method).  Buffers returned to
 *     the caller are malloc()ed; release them with free().
 *
 * Timeouts ("block" and "timeout" of Python in one double, in seconds)
 *   MP_FOREVER (INFINITY)   block=True, timeout=None: wait as long as needed.
 *   t > 0                    block=True, timeout=t: wait at most t seconds.  A
 *                            timeout never returns before its deadline
 *                            (CLOCK_MONOTONIC).
 *   0 or MP_NOWAIT           block=False (or block=True, timeout=0): try once.
 *   t < 0                    as 0, which is what CPython's multiprocessing does
 *                            (get(True, -1) raises queue.Empty at once): -1,
 *                            -1e-300, -1e300 and -INFINITY fail at once when
 *                            the call would block (MP_TIMEOUT, MP_FULL,
 *                            MP_EMPTY; MP_EBROKEN for a Barrier) and complete
 *                            when it can [BAD-TIMEOUT-NEGATIVE], the manager's
 *                            Lock, Event and Queue proxies included
 *                            [BAD-TIMEOUT-NEGATIVE-MANAGER].
 *   NaN                      MP_EINVAL, at once, even when the call could
 *                            complete, and nothing changes; so for every call
 *                            that takes a timeout [BAD-TIMEOUT-NAN].
 */
#ifndef MP_H
#define MP_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define MP_EXTERN __attribute__((visibility("default")))
#else
#define MP_EXTERN
#endif

#define MP_VERSION_MAJOR 0
#define MP_VERSION_MINOR 1

/* ------------------------------------------------------------------ status */

/* X(name, python_equivalent, message).  One table; mp_status_name() and
 * mp_strerror() are generated from it.  MP_OK is 0, and every status has its
 * own MP_ name and a message [ST-OK-ZERO]. */
#define MP_STATUS_MAP(X)                                                                           \
    X(OK, "-", "success")                                                                          \
    X(EINVAL, "ValueError/TypeError", "invalid argument")                                          \
    X(ENOMEM, "MemoryError", "out of memory")                                                      \
    X(ENOTSUP, "-", "not supported by this implementation")                                        \
    X(CLOSED, "ValueError/OSError", "handle is closed")                                            \
    X(FULL, "queue.Full", "queue is full")                                                         \
    X(EMPTY, "queue.Empty", "queue is empty")                                                      \
    X(TIMEOUT, "TimeoutError / False", "timed out")                                                \
    X(EOF, "EOFError", "end of file: the peer closed its end")                                     \
    X(ESTATE, "AssertionError/ValueError", "operation not valid in this state")                    \
    X(ENOTOWNER, "AssertionError/RuntimeError", "not owned by the caller")                         \
    X(EBROKEN, "BrokenBarrierError", "barrier is broken")                                          \
    X(EMSGSIZE, "ValueError/OSError", "message too large")                                         \
    X(EACCES, "OSError", "wrong direction for this connection end")                                \
    X(EOWNERDEAD, "-", "acquired, but the previous owner died holding it")                         \
    X(EPROTO, "EOFError/UnpicklingError", "malformed or truncated data")                           \
    X(EKEY, "KeyError", "key not found")                                                           \
    X(EINDEX, "IndexError", "index out of range")                                                  \
    X(ETYPE, "TypeError", "wrong value type")                                                      \
    X(EREMOTE, "RemoteError / task exception", "error raised by the peer")                         \
    X(EWORKERLOST, "- (CPython hangs)", "worker process died")                                     \
    X(EDEAD, "EOFError/ConnectionError", "peer process is gone")                                   \
    X(EAUTH, "AuthenticationError", "authentication failed")                                       \
    X(EOS, "OSError", "operating system error")

typedef enum mp_status {
#define MP__X(n, py, msg) MP_##n,
    MP_STATUS_MAP(MP__X)
#undef MP__X
        MP__STATUS_COUNT
} mp_status;

/* "MP_EMPTY" for MP_EMPTY; "MP_UNKNOWN" for a value outside the table, never
 * NULL [ST-UNKNOWN].  Both accept any int (negative, INT_MAX, INT_MIN) without
 * crashing [BAD-STATUS-ANY-INT]. */
MP_EXTERN const char *mp_status_name(mp_status s);
/* "queue is empty" for MP_EMPTY; "unknown status" outside the table. */
MP_EXTERN const char *mp_strerror(mp_status s);
/* Detail of the calling thread's last failure (e.g. "queue.get: timed out
 * after 0.300 s"): after a failed call it is a non-empty detail
 * [ST-ERRMSG].  Never NULL; "" before any failure. */
MP_EXTERN const char *mp_errmsg(void);

/* ---------------------------------------------------------------- timeouts */

#define MP_FOREVER ((double)INFINITY)
#define MP_NOWAIT 0.0

/* ----------------------------------------------------------------- process */

typedef struct mp_process mp_process;

/* Python's Process(target=f, args=(arg,)), started with fork
 * [PROC-START-RUNS-TARGET].  Start flushes stdio before it forks, so that
 * output buffered before it is written once [PROC-START-FLUSHES-STDIO], in a
 * program with threads or without [PROC-FLUSHES-STDIO-SINGLE-THREADED].  The
 * return value of the target is the child's exit code, modulo 256 (a C
 * main()'s convention; Python's target returns None and exits 0)
 * [PROC-EXITCODE-RETURN] [PROC-EXITCODE-MASK].  When the target
 * returns, the child runs CPython's exit function: it terminates its daemonic
 * children and joins the others [PROC-DAEMON-TERMINATED-AT-EXIT]
 * [PROC-NONDAEMON-JOINED-AT-EXIT]; then it flushes stdio
 * [PROC-EXIT-FLUSHES-STDIO] and calls _exit(): the parent's atexit handlers do
 * not run in it, as with CPython's fork start method [PROC-CHILD-NO-ATEXIT].
 * Every process runs the same exit function from atexit() too
 * [PROC-ATEXIT-TERMINATES-DAEMONS].  Any thread may start processes
 * [PROC-START-THREADS].  A child made by a plain fork() has no children of
 * its own: its parent's are not signalled or joined there
 * [PROC-FORK-NOT-INHERITED].  A child, started or made by a plain fork(),
 * reads the process objects made before its fork as they were then (name,
 * pid, daemon flag) [PROC-HANDLES-COPIED-AT-FORK]. */
typedef int (*mp_target_fn)(void *arg);
/* The "subclass with run() overridden" form: run receives its own process
 * handle (for mp_process_data(), mp_process_name(), ...) [PROC-RUN-CALLBACK]. */
typedef int (*mp_run_fn)(mp_process *self);

#define MP_EXITCODE_NONE INT32_MIN /* exitcode of a process not yet ended */

MP_EXTERN mp_status mp_process_new(mp_process **out, mp_target_fn target, void *arg);
MP_EXTERN mp_status mp_process_new_run(mp_process **out, mp_run_fn run, void *data);
MP_EXTERN mp_status mp_process_data(const mp_process *p, void **data);
/* Name defaults to "Process-N" (N counts processes made by this process)
 * [PROC-NAME-DEFAULT], "Process-N:M" in child Process-N
 * [PROC-NAME-GRANDCHILD]; setting it copies the string [PROC-NAME-SET].
 * A child may start and join children of its own, to any depth: a tree of
 * them sharing one inherited Pipe end runs in the order of its starts and
 * joins [PROC-NESTED-TREE].
 * Daemon (default false) must be set before start, else MP_ESTATE
 * [PROC-DAEMON-FLAG]. */
MP_EXTERN mp_status mp_process_set_name(mp_process *p, const char *name);
MP_EXTERN mp_status mp_process_name(const mp_process *p, const char **name);
MP_EXTERN mp_status mp_process_set_daemon(mp_process *p, bool daemon);
MP_EXTERN mp_status mp_process_daemon(const mp_process *p, bool *daemon);
/* Start once: a second start is MP_ESTATE [PROC-START-TWICE], as is starting
 * a process object made by another process [PROC-START-NOT-CREATOR] or
 * starting from a daemonic process [PROC-DAEMON-NO-CHILDREN].  Calls out of
 * order are MP_ESTATE at once: join (also with MP_FOREVER), terminate and
 * kill before start; start, set_daemon or close while it runs; start after it
 * ended [BAD-ORDER-PROCESS]. */
MP_EXTERN mp_status mp_process_start(mp_process *p);
/* MP_OK when the process has ended (exitcode then known) [PROC-JOIN-WAITS]
 * [PROC-JOIN-TIMEOUT-ENDS] [PROC-JOIN-ENDED-OK], MP_TIMEOUT when it is still
 * running at the deadline [PROC-JOIN-TIMEOUT-RUNNING] [PROC-JOIN-ZERO-PROMPT]
 * [PROC-JOIN-NAN].  Join before start [PROC-JOIN-BEFORE-START], of the calling
 * process itself [PROC-JOIN-SELF], or from a process other than the parent
 * (as is_alive) [PROC-JOIN-NOT-PARENT] is MP_ESTATE. */
MP_EXTERN mp_status mp_process_join(mp_process *p, double timeout);
/* False before start, true while running, false after [PROC-IS-ALIVE]. */
MP_EXTERN mp_status mp_process_is_alive(mp_process *p, bool *alive);
/* 0 before start [PROC-PID]. */
MP_EXTERN mp_status mp_process_pid(const mp_process *p, pid_t *pid);
/* MP_EXITCODE_NONE while running or before start [PROC-EXITCODE-NONE]; else
 * 0, the exit status [PROC-EXITCODE-EXIT-CALL], or minus the number of the
 * signal that ended it (-15 after terminate) [PROC-EXITCODE-SIGTERM]
 * [PROC-EXITCODE-SIGKILL]. */
MP_EXTERN mp_status mp_process_exitcode(mp_process *p, int *code);
/* SIGTERM [PROC-TERMINATE-SENDS-SIGTERM] / SIGKILL.  The child runs no exit
 * handling [PROC-TERMINATE-NO-EXIT-HANDLING] and its own children live on as
 * orphans [PROC-TERMINATE-ORPHANS]; the signal goes to the child alone, not
 * to its process group, so a grandchild made with a plain fork() lives on too
 * [PROC-TERMINATE-ORPHANS-FORK].  Before start: MP_ESTATE
 * [PROC-TERMINATE-BEFORE-START].  After the end: no effect
 * [PROC-TERMINATE-ENDED-NOOP].  Many at once: 100 children started and then
 * terminated one after another all end with -SIGTERM [PROC-MANY-TERMINATE]. */
MP_EXTERN mp_status mp_process_terminate(mp_process *p);
MP_EXTERN mp_status mp_process_kill(mp_process *p);
/* Release the process's resources; MP_ESTATE while it runs
 * [PROC-CLOSE-RUNNING].  Idempotent; every other call afterwards returns
 * MP_CLOSED [PROC-CLOSED-CALLS], whether the process never started or ran
 * (close again is MP_OK, free releases the handle) [BAD-PROCESS-CLOSED].
 * NULL arguments: MP_EINVAL [PROC-NULL-ARGS]; every mp_process_* call given
 * a NULL handle, output or callback is MP_EINVAL with a message and writes
 * no output, and mp_process_free(NULL) is a no-op [BAD-PROCESS-NULL]. */
MP_EXTERN mp_status mp_process_close(mp_process *p);
/* Free the handle.  A child still running is not lost: it is joined (or, if
 * daemonic, terminated) when the parent exits, as CPython does
 * [PROC-FREE-RUNNING-JOINED]. */
MP_EXTERN void mp_process_free(mp_process *p);

/* Process.sentinel: a descriptor, owned by the handle (closed by
 * mp_process_close and mp_process_free), that is not readable while the
 * process runs and becomes readable when it ends, also when the ending is
 * noticed by nobody and the child is not joined [PROC-SENTINEL-READY-AT-END];
 * asked for after the child has been joined it is readable at once
 * [PROC-SENTINEL-AFTER-JOIN].  Every call returns the same descriptor.  For
 * poll()/select() or mp_connection_wait().  Before start: MP_ESTATE
 * (CPython's ValueError "process not started") [PROC-SENTINEL-BEFORE-START];
 * only the parent has one (elsewhere MP_ESTATE), and the handle of
 * mp_parent_process() has one too.  The reference needs pidfd_open (Linux
 * 5.3): without it, MP_EOS. */
MP_EXTERN mp_status mp_process_sentinel(mp_process *p, int *fd);
/* multiprocessing.active_children(): first reaps every child of the calling
 * process that has ended (CPython's _cleanup(): the zombie is gone, exit code
 * known) [PROC-ACTIVE-CHILDREN-REAPS], then stores at most `cap` handles of
 * the children still running into out (borrowed: the caller's own handles)
 * and their number into *n, which may exceed cap, as snprintf's result
 * [PROC-ACTIVE-CHILDREN].  Not started and ended children are never listed;
 * nor are handles already given to mp_process_free() (no longer the caller's).
 * out may be NULL when cap is 0; n NULL: MP_EINVAL. */
MP_EXTERN mp_status mp_active_children(mp_process **out, size_t cap, size_t *n);

/* The calling process: "MainProcess" in the top process
 * [PROC-CURRENT-NAME-MAIN], the name of the mp_process in a child
 * [PROC-START-RUNS-TARGET].  Parent pid as getppid() [PROC-PARENT-PID].
 * mp_cpu_count: online processors, at least 1 [PROC-CPU-COUNT]. */
MP_EXTERN const char *mp_current_name(void);
MP_EXTERN pid_t mp_current_pid(void);
MP_EXTERN pid_t mp_parent_pid(void);
MP_EXTERN int mp_cpu_count(void);
/* multiprocessing.parent_process(): *out = NULL in a process that no
 * mp_process started (CPython's None) [PROC-PARENT-PROCESS-MAIN]; in a child,
 * a new handle on its parent (free it with mp_process_free), whose pid,
 * name ("MainProcess" or the parent's name), is_alive, sentinel and
 * join(timeout) work [PROC-PARENT-PROCESS-CHILD]; once the parent has ended,
 * is_alive is false, join returns MP_OK and the sentinel is readable, also
 * for a handle made after the parent's death [PROC-PARENT-PROCESS-DIES].
 * start, terminate and kill on it are MP_ESTATE (it is not a child); its exit
 * code stays MP_EXITCODE_NONE. */
MP_EXTERN mp_status mp_parent_process(mp_process **out);

/* ---------------------------------------------------------- synchronisation */
/* All shared with processes started after they were made.  Lock and RLock
 * share one type, as do Semaphore and BoundedSemaphore.  *_free unmaps the
 * object in the calling process only (children keep their copy).  Every call
 * below given a NULL handle, output or predicate is MP_EINVAL with a message
 * and changes nothing; every *_free(NULL) is a no-op [BAD-SYNC-NULL]. */

typedef struct mp_lock mp_lock;
typedef struct mp_semaphore mp_semaphore;
typedef struct mp_condition mp_condition;
typedef struct mp_event mp_event;
typedef struct mp_barrier mp_barrier;

/* Lock: acquire on a free Lock is MP_OK and makes it locked; release frees
 * it [LOCK-ACQUIRE-RELEASE].  It excludes threads [LOCK-MUTEX-THREADS] and
 * processes alike: while the parent holds it, a child's acquire(0) is
 * MP_TIMEOUT at once and acquire(t) MP_TIMEOUT at t, never earlier
 * [LOCK-CROSS-PROCESS-HELD]; ten processes that each print a line in several
 * writes while holding it print ten whole lines (tutorial §15)
 * [LOCK-TUTORIAL-15].  release gives the Lock to a thread asleep in acquire
 * [LOCK-RELEASE-WAKES], waking it at once, not at a later poll
 * [LOCK-RELEASE-WAKES-PROMPT].  Any process may release it
 * [LOCK-RELEASE-OTHER-PROCESS]; release
 * when unlocked is MP_ESTATE (ValueError) [LOCK-RELEASE-UNLOCKED].  A Lock is
 * not re-entrant [LOCK-TRYACQUIRE-HELD].  RLock: owned by the acquiring
 * thread, re-entrant [RLOCK-REENTRANT]; release by another thread or process
 * is MP_ENOTOWNER (AssertionError) [RLOCK-OTHER-THREAD] [RLOCK-OTHER-PROCESS],
 * and so is release of an RLock nobody holds [RLOCK-RELEASE-UNOWNED].  A
 * thread blocked on an RLock gets it once the owner has released every level,
 * and is then a re-entrant owner itself [RLOCK-HANDOFF].  A child may own an
 * RLock: it acquires it re-entrantly and releases it, and then a further
 * release in the child, or one in the parent, is MP_ENOTOWNER
 * [RLOCK-CHILD-OWNER].  NULL handles and outputs are MP_EINVAL and
 * mp_lock_free(NULL) is a no-op [LOCK-NULL-ARGS]; acquire with a NaN timeout
 * is MP_EINVAL and leaves a Lock as it was [LOCK-NAN-TIMEOUT], an RLock at its
 * depth, also when its owner calls [RLOCK-NAN-TIMEOUT].
 * acquire: MP_OK, or MP_TIMEOUT (Python's False) [LOCK-ACQUIRE-TIMEOUT].  If
 * the holder died holding the lock, the waiter that takes it over gets
 * MP_EOWNERDEAD and holds it (an RLock at depth 1) [LOCK-OWNER-DEAD]
 * [RLOCK-OWNER-DEAD], whatever instruction of acquire or release the holder
 * died at [LOCK-OWNER-KILLED-ANYTIME] [RLOCK-OWNER-KILLED-ANYTIME]; waiters
 * notice within about 0.1 s of the holder's thread being gone; a killed
 * child is gone from its death, joined or not (a zombie holder counts as
 * dead) [LOCK-OWNER-DEAD-UNJOINED]. */
MP_EXTERN mp_status mp_lock_new(mp_lock **out);
MP_EXTERN mp_status mp_rlock_new(mp_lock **out);
MP_EXTERN mp_status mp_lock_acquire(mp_lock *l, double timeout);
MP_EXTERN mp_status mp_lock_release(mp_lock *l);
MP_EXTERN mp_status mp_lock_locked(mp_lock *l, bool *locked);
MP_EXTERN void mp_lock_free(mp_lock *l);

/* Semaphore(value) / BoundedSemaphore(value): Semaphore(2) admits two
 * acquires, a third acquire(0) is MP_TIMEOUT, and each release gives one unit
 * back, as mp_semaphore_value shows [SEM-ACQUIRE-RELEASE].  acquire(t) at 0
 * is MP_TIMEOUT at t, never earlier, and at once for 0 or a negative t
 * [SEM-ACQUIRE-TIMEOUT]; release wakes a thread blocked in acquire, which
 * takes the unit [SEM-RELEASE-WAKES].  Processes share the count: six
 * processes passing through one Semaphore(2) are never more than two inside
 * at once [SEM-CROSS-PROCESS-LIMIT].  NULL handles and outputs and a NaN
 * timeout are MP_EINVAL [SEM-NULL-ARGS].  Over-release of a bounded one is
 * MP_ESTATE (ValueError) [BSEM-OVER-RELEASE]; a plain one may go above its
 * initial value [SEM-UNBOUNDED-RELEASE].  A plain Semaphore(UINT_MAX) is
 * MP_EINVAL and a release past UINT_MAX MP_ESTATE [BAD-SIZE-LIMIT].  A process
 * killed while blocked in acquire takes no unit and leaves nothing held: the
 * next release serves a live waiter [SEM-KILLED-WAITER].  A semaphore has no
 * owner (as in CPython): a unit acquired by a process that is then killed is
 * lost until some process releases one in its place [SEM-KILLED-HOLDER]
 * [BSEM-KILLED-HOLDER-RELEASE].  release wakes a sleeping acquire at once
 * [SEM-RELEASE-WAKES-PROMPT]; a releaser killed at any instruction of release
 * never leaves an acquire asleep while its unit is there: the sleeper takes
 * it within about 0.1 s [SEM-RELEASER-KILLED-ANYTIME]. */
MP_EXTERN mp_status mp_semaphore_new(mp_semaphore **out, unsigned value);
MP_EXTERN mp_status mp_bounded_semaphore_new(mp_semaphore **out, unsigned value);
MP_EXTERN mp_status mp_semaphore_acquire(mp_semaphore *s, double timeout);
MP_EXTERN mp_status mp_semaphore_release(mp_semaphore *s);
MP_EXTERN mp_status mp_semaphore_value(mp_semaphore *s, unsigned *value);
MP_EXTERN void mp_semaphore_free(mp_semaphore *s);

/* Condition(lock): lock NULL makes a new RLock, owned by the condition;
 * otherwise the condition acquires and releases that lock, which keeps its
 * kind (a Lock stays non-re-entrant) and must outlive the condition
 * [COND-USER-LOCK].  NULL handles are MP_EINVAL, and so is a NaN timeout of
 * wait or acquire [COND-NULL-ARGS].  It works across processes: a child's
 * notify wakes the parent's wait_for, the parent's notify a child's wait
 * [COND-CROSS-PROCESS].  wait/notify without holding
 * the lock: MP_ENOTOWNER [COND-NOT-OWNER]; release without holding it: as the
 * lock's release (MP_ENOTOWNER for an RLock, MP_ESTATE for a Lock)
 * [BAD-ORDER-SYNC].  wait: MP_OK when notified,
 * MP_TIMEOUT otherwise [COND-WAIT-TIMEOUT]; the lock is held again on return
 * either way, an RLock at its former depth [COND-RLOCK-DEPTH].  notify(1)
 * wakes exactly one waiter, which returns MP_OK holding the lock again
 * [COND-NOTIFY]; notify(n)
 * wakes exactly min(n, waiting) waiters, oldest first [COND-NOTIFY-N];
 * notify_all every waiter present [COND-NOTIFY-ALL].  At most 128 threads may
 * wait on one condition at once: one more gets MP_ENOMEM.  If the lock's
 * holder died while a waiter was away, wait returns MP_EOWNERDEAD (lock
 * held) [COND-LOCK-HOLDER-KILLED].  A waiter killed while in wait is skipped:
 * notify(n) wakes live waiters only [COND-WAITER-KILLED-NOTIFY] and notify_all
 * does not wait for the dead [COND-WAITER-KILLED-NOTIFY-ALL]; one killed after
 * notify chose it, before wait returned, takes that notification with it
 * [COND-WAITER-KILLED-NOTIFIED].  A notifier killed at any instruction of
 * notify leaves each waiter either notified (it returns within about 0.1 s)
 * or still waiting for the next notify [COND-NOTIFIER-KILLED-ANYTIME].  Taking
 * the lock over from a dead holder through the Condition (acquire or wait
 * returning MP_EOWNERDEAD) wakes every waiter, which returns MP_OK: the dead
 * holder may have changed what they wait for and died before notifying
 * [COND-HOLDER-KILLED-WAKES-WAITERS] (re-check the predicate, as wait_for
 * does).  A takeover through mp_lock_acquire on the lock itself does not. */
typedef bool (*mp_predicate_fn)(void *arg);
MP_EXTERN mp_status mp_condition_new(mp_condition **out, mp_lock *lock);
MP_EXTERN mp_status mp_condition_acquire(mp_condition *c, double timeout);
MP_EXTERN mp_status mp_condition_release(mp_condition *c);
MP_EXTERN mp_status mp_condition_wait(mp_condition *c, double timeout);
/* MP_OK once pred(arg) is true [COND-WAIT-FOR], MP_TIMEOUT if still false at
 * the deadline [COND-WAIT-FOR-TIMEOUT]. */
MP_EXTERN mp_status mp_condition_wait_for(mp_condition *c, mp_predicate_fn pred, void *arg,
                                          double timeout);
MP_EXTERN mp_status mp_condition_notify(mp_condition *c, unsigned n);
MP_EXTERN mp_status mp_condition_notify_all(mp_condition *c);
MP_EXTERN void mp_condition_free(mp_condition *c);

/* Event: starts clear; set makes is_set true and wait MP_OK at once, clear
 * makes it false again [EVT-SET-CLEAR].  An Event set by the parent wakes a
 * waiting child, one set by a child the waiting parent [EVT-CROSS-PROCESS].
 * NULL handles and outputs and a NaN timeout are MP_EINVAL [EVT-NULL-ARGS].
 * wait returns MP_OK when set, MP_TIMEOUT otherwise [EVT-WAIT-TIMEOUT]
 * [EVT-WAIT-TIMEOUT-CHILD];
 * set wakes every waiter [EVT-SET-WAKES-ALL] at once [EVT-SET-WAKES-PROMPT],
 * also if clear() follows at once (threading.Event's behaviour).  A setter
 * killed at any instruction of set never leaves a waiter asleep on a set
 * Event: it returns within a bounded time, or at once on a later set() by
 * anyone [EVT-SETTER-KILLED-ANYTIME] (ref: at once, as set marks the Event
 * and wakes its sleepers in one system call; an untimed wait has no timer). */
MP_EXTERN mp_status mp_event_new(mp_event **out);
MP_EXTERN mp_status mp_event_set(mp_event *e);
MP_EXTERN mp_status mp_event_clear(mp_event *e);
MP_EXTERN mp_status mp_event_is_set(mp_event *e, bool *set);
MP_EXTERN mp_status mp_event_wait(mp_event *e, double timeout);
MP_EXTERN void mp_event_free(mp_event *e);

/* Barrier(parties, action, timeout).  wait stores the arrival index
 * (0..parties-1) when index is not NULL [BAR-WAIT-INDEX]; the action runs in
 * exactly one of the released callers before any returns [BAR-ACTION], also
 * when the parties are processes: three processes pass a Barrier(3) round
 * after round with distinct indexes and one action per round
 * [BAR-CROSS-PROCESS], and a thousand rounds in a row stay in step: no party
 * passes round i+1 before every party has passed round i [BAR-THOUSAND].  A Barrier of one party
 * never blocks and its index is always 0 [BAR-SINGLE-PARTY].  parties gives the number of parties,
 * n_waiting the number waiting now [BAR-N-WAITING].  Zero parties, NULL
 * handles or outputs and NaN timeouts are MP_EINVAL, and a wait with a NaN
 * timeout does not break the Barrier [BAR-BAD-ARGS].  A
 * wait that times out [BAR-TIMEOUT], an abort() [BAR-ABORT], or an action
 * failing (returning non-zero) [BAR-ACTION-FAIL] breaks the barrier: every
 * waiter, also one asleep in another process [BAR-TIMEOUT-WAKES-PARTIES], and
 * every later wait gets MP_EBROKEN until reset() [BAR-RESET].
 * default_timeout (seconds or MP_FOREVER; NaN, MP_BARRIER_DEFAULT and parties
 * 0 are MP_EINVAL [BAD-SIZE-LIMIT]) is used by
 * mp_barrier_wait(b, MP_BARRIER_DEFAULT, ...) [BAR-DEFAULT-TIMEOUT].
 * A caller that dies inside wait (waiting, running the action, released but
 * not yet returned, or waiting for the previous generation to drain) breaks
 * the barrier, as abort() would: the waiting parties, even with MP_FOREVER,
 * get MP_EBROKEN within about 0.2 s [BAR-PARTY-KILLED], the arrival that
 * would complete the generation gets it at once and no action runs
 * [BAR-PARTY-KILLED-LAST-ARRIVES] [BAR-ACTION-KILLED]; reset() then makes it
 * usable, the dead counted out [BAR-PARTY-KILLED-RESET].  A caller killed at
 * any instruction of wait, abort or reset never leaves the barrier's lock
 * held: the next call gets through, MP_EBROKEN if the death left the barrier
 * broken [BAR-KILLED-ANYTIME].  (CPython hangs in all of these.)  A party that dies between two
 * waits is one that never arrives, and so is a death among more concurrent callers than parties
 * (only `parties` callers at a time are watched).  The barrier's shared
 * memory grows by 48 bytes per party (a robust mutex each). */
typedef int (*mp_barrier_action_fn)(void *arg);
#define MP_BARRIER_DEFAULT ((double)-INFINITY)
MP_EXTERN mp_status mp_barrier_new(mp_barrier **out, unsigned parties, mp_barrier_action_fn action,
                                   void *arg, double default_timeout);
MP_EXTERN mp_status mp_barrier_wait(mp_barrier *b, double timeout, unsigned *index);
MP_EXTERN mp_status mp_barrier_abort(mp_barrier *b);
MP_EXTERN mp_status mp_barrier_reset(mp_barrier *b);
MP_EXTERN mp_status mp_barrier_parties(mp_barrier *b, unsigned *parties);
MP_EXTERN mp_status mp_barrier_n_waiting(mp_barrier *b, unsigned *n);
MP_EXTERN mp_status mp_barrier_broken(mp_barrier *b, bool *broken);
MP_EXTERN void mp_barrier_free(mp_barrier *b);

/* ------------------------------------------------------------------ values */
/* What Python sends: None, bool, int (64-bit), float, str (UTF-8), bytes,
 * list, tuple, dict (insertion-ordered; keys are scalars; keys compare as in
 * Python, so 1, 1.0 and True are the same key).  A value is a tree with one
 * owner; containers take ownership of what is added to them.
 * Every call below given a NULL value, item, key or output is MP_EINVAL and
 * changes nothing; where no status is returned, constructors and
 * mp_value_copy give NULL, mp_value_equal false, mp_value_type MP_T_NONE,
 * and mp_value_free does nothing [BAD-VALUE-NULL].  A typed call on a value
 * of the wrong type is MP_ETYPE (an unhashable key too), a container added to
 * itself MP_EINVAL, an index out of range (PTRDIFF_MIN, PTRDIFF_MAX and
 * SIZE_MAX included) MP_EINDEX, a missing key MP_EKEY and invalid UTF-8 a
 * NULL str; none of these changes anything [BAD-VALUE-TYPE]. */

typedef struct mp_value mp_value;
typedef enum mp_type {
    MP_T_NONE,
    MP_T_BOOL,
    MP_T_INT,
    MP_T_FLOAT,
    MP_T_STR,
    MP_T_BYTES,
    MP_T_LIST,
    MP_T_TUPLE,
    MP_T_DICT
} mp_type;

MP_EXTERN mp_value *mp_none(void);
MP_EXTERN mp_value *mp_bool(bool b);
MP_EXTERN mp_value *mp_int(int64_t i);
MP_EXTERN mp_value *mp_float(double d);
/* str: UTF-8 as Python's codec accepts it (NUL allowed in mp_strn); invalid
 * UTF-8 or a NULL pointer also gives NULL (mp_errmsg() says which)
 * [VAL-STR-UTF8]. */
MP_EXTERN mp_value *mp_str(const char *s); /* NUL-terminated UTF-8 */
MP_EXTERN mp_value *mp_strn(const char *s, size_t len);
MP_EXTERN mp_value *mp_bytes(const void *p, size_t len);
MP_EXTERN mp_value *mp_list(void);
MP_EXTERN mp_value *mp_tuple(void);
MP_EXTERN mp_value *mp_dict(void);
/* A list/tuple of n items, each taken over (NULL items make the call fail,
 * freeing every item given) [VAL-SEQ-ERRORS]. */
MP_EXTERN mp_value *mp_list_of(size_t n, ...);
MP_EXTERN mp_value *mp_tuple_of(size_t n, ...);
/* Frees v and everything in it, however deep it nests.  copy, equal, repr and
 * hashing stop at 1000 levels of nesting, Python's recursion limit: copy is
 * NULL and repr MP_EINVAL (RecursionError), equal false, such a tuple key
 * MP_ETYPE [VAL-DEEP-NESTING]. */
MP_EXTERN void mp_value_free(mp_value *v);
/* A deep copy [VAL-COPY]. */
MP_EXTERN mp_value *mp_value_copy(const mp_value *v);
/* Python's ==, deep (1 == 1.0 == True, NaN != NaN) [VAL-EQ-NUMERIC]; [1] !=
 * (1,), 'a' != b'a', dicts equal whatever their order [VAL-EQ-CONTAINERS];
 * items compare by identity first [VAL-EQ-SAME-OBJECT].  false when either
 * is NULL. */
MP_EXTERN bool mp_value_equal(const mp_value *a, const mp_value *b);
/* repr() as CPython 3.11 prints it: "[42, None, 'hello']" [VAL-REPR-TUTORIAL-LIST]
 * [VAL-REPR-SCALARS] [VAL-REPR-FLOAT] [VAL-REPR-STR-QUOTES] [VAL-REPR-STR-ESCAPES]
 * [VAL-REPR-BYTES] [VAL-REPR-CONTAINERS].  *out is malloc()ed. */
MP_EXTERN mp_status mp_value_repr(const mp_value *v, char **out);

MP_EXTERN mp_type mp_value_type(const mp_value *v); /* NULL: MP_T_NONE */
/* Wrong type: MP_ETYPE.  get_int also reads a bool (bool is an int in
 * Python); get_str's text is NUL-terminated; len may be NULL [VAL-ACCESSORS]. */
MP_EXTERN mp_status mp_value_get_bool(const mp_value *v, bool *out);
MP_EXTERN mp_status mp_value_get_int(const mp_value *v, int64_t *out);
MP_EXTERN mp_status mp_value_get_float(const mp_value *v, double *out); /* int too */
MP_EXTERN mp_status mp_value_get_str(const mp_value *v, const char **s, size_t *len);
MP_EXTERN mp_status mp_value_get_bytes(const mp_value *v, const void **p, size_t *len);
/* list and tuple */
MP_EXTERN mp_status mp_seq_append(mp_value *seq, mp_value *item); /* takes item, also on failure */
MP_EXTERN mp_status mp_seq_len(const mp_value *seq, size_t *len);
/* Negative indexes count from the end, as in Python; else MP_EINDEX
 * [VAL-SEQ-INDEX]. */
MP_EXTERN mp_status mp_seq_get(const mp_value *seq, ptrdiff_t i, const mp_value **item);
/* dict: set takes key and value (also on failure) and replaces an equal key's
 * value in place, keeping the first key [VAL-DICT-KEY-NUMERIC-EQUAL]
 * [VAL-REPR-TUTORIAL-DICT]; get/del of a missing key: MP_EKEY
 * [VAL-DICT-MISSING]; unhashable key (list, dict, tuple holding one):
 * MP_ETYPE [VAL-DICT-UNHASHABLE].  O(1) average [VAL-DICT-LARGE], also for
 * keys chosen to collide: hashes are keyed with a per-process secret and a
 * NaN hashes by identity (it equals only itself), so decoding or building a
 * dict takes time linear in its keys for any input
 * [VAL-DICT-COLLIDING-KEYS-LINEAR]. */
MP_EXTERN mp_status mp_dict_set(mp_value *d, mp_value *key, mp_value *val);
MP_EXTERN mp_status mp_dict_get(const mp_value *d, const mp_value *key, const mp_value **val);
MP_EXTERN mp_status mp_dict_del(mp_value *d, const mp_value *key);
MP_EXTERN mp_status mp_dict_len(const mp_value *d, size_t *len);
/* i-th item in insertion order [VAL-DICT-ORDER]. */
MP_EXTERN mp_status mp_dict_item(const mp_value *d, size_t i, const mp_value **key,
                                 const mp_value **val);

/* The wire form (msgpack): None nil, bool, int (smallest int form), float
 * float64, str str, bytes bin, list array, tuple ext type 1 holding one array,
 * dict map [VAL-ENCODE-WIRE].  Every value round trips with its type
 * [VAL-ROUNDTRIP-TYPES] [VAL-ROUNDTRIP-BOUNDARIES] [VAL-ROUNDTRIP-64MIB].
 * decode never trusts its input: depth and lengths are bounded by the input
 * size [VAL-DECODE-HUGE-COUNT] and MP_VALUE_MAX_DEPTH (containers nested in
 * containers) [VAL-DECODE-DEPTH-BOMB]; truncated input, trailing bytes and
 * anything else malformed is MP_EPROTO [VAL-DECODE-TRUNCATED]
 * [VAL-DECODE-TRAILING] [VAL-DECODE-INVALID] [VAL-DECODE-FUZZ]; equal map
 * keys: the last value wins [VAL-DECODE-DUP-KEYS].  encode: a value nested
 * deeper than MP_VALUE_MAX_DEPTH is MP_EINVAL, a str/bytes/container over
 * 2^32-1 bytes or items MP_EMSGSIZE. */
#define MP_VALUE_MAX_DEPTH 64
MP_EXTERN mp_status mp_value_encode(const mp_value *v, void **buf, size_t *len);
MP_EXTERN mp_status mp_value_decode(const void *buf, size_t len, mp_value **out);

/* ------------------------------------------------------------------- queue */
/* Queue(maxsize) / SimpleQueue() / JoinableQueue(maxsize).  maxsize <= 0 means
 * unbounded [Q-MAXSIZE-UNBOUNDED]; Queue(3) holds exactly 3 items
 * [Q-MAXSIZE-EXACT].  put: MP_FULL when no room by the deadline (queue.Full)
 * [Q-PUT-NOWAIT-FULL] [Q-PUT-TIMEOUT-FULL]; get: MP_EMPTY when nothing by the
 * deadline (queue.Empty) [Q-GET-NOWAIT-EMPTY] [Q-GET-TIMEOUT-EMPTY].  Each
 * producer's messages arrive in its order [Q-FIFO-PER-PRODUCER].  A queue
 * made in a child process serves it and its own children alike [Q-IN-CHILD].
 * put returns once the message is in the queue's shared memory: a child may
 * exit right after putting and be joined before the queue is drained
 * [Q-JOIN-BEFORE-DRAIN].  An "unbounded" queue may still be bounded by the
 * bytes it can hold (the reference: 16 MiB); a put beyond that waits, or is
 * MP_FULL at its deadline, as on a full queue, and goes ahead as soon as a
 * get frees room for its message [Q-BYTES-FULL-ONE-GET].
 * After close, put in the calling process is MP_CLOSED [Q-CLOSE-THEN-PUT]
 * (other processes may still put [Q-CLOSE-PER-PROCESS]); items already queued
 * can still be got [Q-CLOSE-GET-REMAINING], then get is MP_EMPTY as on any
 * empty queue [BAD-QUEUE-CLOSED].  Messages of 0 bytes
 * [Q-MSG-EMPTY] up to MP_MSG_MAX [Q-MSG-64MIB]; larger ones are MP_EMSGSIZE
 * before anything is read or queued [Q-MSG-TOO-LARGE].
 * A process killed in the middle of a put delivers nothing of that message
 * [Q-KILLED-PRODUCER] [Q-KILLED-PRODUCER-STREAM]; one killed in the middle of
 * a get leaves that message to the next get, except a message larger than
 * the queue's buffer, which is then lost alone [Q-KILLED-CONSUMER-STREAM].
 * A process killed at any instant of put, get or task_done never leaves a
 * waiter asleep while what it waits for holds: the waiter notices within
 * about 0.1 s [Q-KILLED-WAKER-ANYTIME] [Q-KILLED-WAKER-ROOM-ANYTIME]
 * [JQ-KILLED-TASK-DONE-ANYTIME], and a put waiting behind a producer killed
 * at any instant of its put goes ahead [Q-KILLED-LOCK-HOLDER-ANYTIME]; otherwise put, get, close
 * and task_done wake a waiter at once, not at its next look [Q-PUT-WAKES-PROMPT]
 * [Q-GET-WAKES-PROMPT] [Q-CLOSE-WAKES-PROMPT] [JQ-TASK-DONE-WAKES-PROMPT].
 * After a producer died part-way through a large message, another producer's
 * next message reaches a consumer that was already waiting, intact
 * [Q-KILLED-PRODUCER-STREAM-NEXT]; a producer killed at any moment of a
 * flood of puts leaves an intact, gapless, in-order prefix of its messages
 * and a working queue [Q-KILLED-PRODUCER-ANYTIME]; a consumer killed while
 * blocked in get on an empty queue takes nothing, and the others put and get
 * as before [Q-KILLED-CONSUMER].
 *
 * SimpleQueue has no maxsize: 10000 puts without a get all succeed at once
 * and come out in order [SQ-UNBOUNDED]; it returns values and bytes equal to
 * those put, in order [SQ-PUT-GET], also from a child to its parent
 * [SQ-CROSS-PROCESS]; empty is true when it is new, false after a put and
 * true again after the get [SQ-EMPTY]; get waits for a message another
 * process puts later [SQ-GET-BLOCKS], and get(t) on an empty one is MP_EMPTY
 * at t, never earlier, at once without blocking [SQ-GET-TIMEOUT-EMPTY];
 * after close, put is MP_CLOSED and queued messages can still be got
 * [SQ-CLOSE].  JoinableQueue(2) takes two items; a third put is MP_FULL, at
 * once without blocking and at its deadline otherwise [JQ-MAXSIZE]. */
typedef struct mp_queue mp_queue;
#define MP_MSG_MAX ((size_t)1 << 30)

/* A NULL out is MP_EINVAL [Q-NEW-NULL-OUT] [SQ-NEW-NULL-OUT]
 * [JQ-NEW-NULL-OUT]; mp_queue_free(NULL) is a no-op.  Every call on a NULL
 * queue is MP_EINVAL [Q-NULL-HANDLE]; a NULL value, a NULL buffer with a
 * nonzero length or a NULL output pointer is MP_EINVAL and changes nothing
 * [Q-NULL-ARGS]; so for every mp_queue_* call, at once (also with
 * MP_FOREVER), with a message, taking and queueing nothing [BAD-QUEUE-NULL].
 * A NaN timeout is MP_EINVAL for put and get, and nothing is put or taken
 * [Q-NAN-TIMEOUT]. */
MP_EXTERN mp_status mp_queue_new(mp_queue **out, long maxsize);
MP_EXTERN mp_status mp_simple_queue_new(mp_queue **out);
MP_EXTERN mp_status mp_joinable_queue_new(mp_queue **out, long maxsize);
/* get returns a value equal to the one put, nested containers, floats,
 * bytes, bools and None included [Q-PUT-GET-VALUE]; get_bytes returns
 * exactly the bytes put_bytes put, in a malloc()ed buffer [Q-PUT-GET-BYTES];
 * get of a message that is no encoded value is MP_EPROTO and consumes it
 * [Q-GET-MALFORMED].  Messages come out in the order they were put [Q-FIFO];
 * threads of one process may share one handle, nothing lost or reordered
 * [Q-THREADS]; with 4 producer and 4 consumer processes on one Queue(64)
 * every message is delivered exactly once, intact, each producer's in its
 * order [Q-MPMC-CHECKSUM].  Messages of every size up to 12 MiB (around
 * framing, page and buffer boundaries) and 60 MiB of traffic wrapping the
 * buffer arrive intact [Q-MSG-SIZES], and so do values (bytes of every
 * length from 0 to 600, 4 KiB, 1 MiB and 9 MiB) through put and get, one at
 * a time and 601 in flight [Q-VALUE-SIZES]; a producer that puts messages of
 * nearly 4 MiB faster than the consumer gets them waits for the room the consumer frees,
 * and every message arrives intact and in order [Q-FULL-STREAM-INTACT].
 * Two processes each putting [42, None, 'hello'] are both got and joined by
 * their parent (tutorial §10) [Q-TUTORIAL].
 * put with a timeout of 0, a negative one or -INFINITY on a full queue is
 * MP_FULL at once [Q-PUT-NEGATIVE-TIMEOUT]; a put with MP_FOREVER on a full
 * queue returns MP_OK once another process gets an item
 * [Q-PUT-BLOCKS-UNTIL-ROOM], and a put with a timeout succeeds when room
 * appears before its deadline [Q-PUT-TIMEOUT-ROOM]; a put waiting behind
 * another put returns at once when that one is done [Q-PUT-BEHIND-PUT-PROMPT].  get without
 * blocking returns an available item at once [Q-GET-NOWAIT-AVAILABLE]; with 0, a negative timeout
 * or -INFINITY on an empty queue it is MP_EMPTY at once, as CPython's get(True, -1)
 * [Q-GET-NEGATIVE-TIMEOUT]; a get with MP_FOREVER returns the item another process puts later
 * [Q-GET-BLOCKS-UNTIL-PUT], and one with a timeout an item put before its deadline
 * [Q-GET-TIMEOUT-RECEIVES]. */
MP_EXTERN mp_status mp_queue_put(mp_queue *q, const mp_value *v, double timeout);
MP_EXTERN mp_status mp_queue_get(mp_queue *q, mp_value **out, double timeout);
MP_EXTERN mp_status mp_queue_put_bytes(mp_queue *q, const void *buf, size_t len, double timeout);
MP_EXTERN mp_status mp_queue_get_bytes(mp_queue *q, void **buf, size_t *len, double timeout);
/* qsize counts the queued items, and empty and full follow puts and gets
 * [Q-QSIZE-EMPTY-FULL]: exact when no other process uses the queue,
 * approximate when other processes use it concurrently, as in CPython. */
MP_EXTERN mp_status mp_queue_qsize(mp_queue *q, size_t *n);
MP_EXTERN mp_status mp_queue_empty(mp_queue *q, bool *empty);
MP_EXTERN mp_status mp_queue_full(mp_queue *q, bool *full);
/* Idempotent.  Wakes this process's blocked putters (they get MP_CLOSED)
 * [Q-CLOSE-WAKES-PUTTER]. */
MP_EXTERN mp_status mp_queue_close(mp_queue *q);
/* CPython's feeder-thread controls.  put() here copies the message into shared
 * memory before it returns, so there is no feeder thread to join or cancel:
 * both return MP_OK (join_thread after close, as CPython requires, else
 * MP_ESTATE) [Q-JOIN-THREAD].  cancel_join_thread is MP_OK before and after
 * close and loses no queued item, which put already copied into shared
 * memory [Q-CANCEL-JOIN-THREAD]. */
MP_EXTERN mp_status mp_queue_join_thread(mp_queue *q);
MP_EXTERN mp_status mp_queue_cancel_join_thread(mp_queue *q);
/* JoinableQueue only (on another kind of queue: MP_EINVAL, Python's
 * AttributeError) [Q-TASK-DONE-EINVAL], a SimpleQueue included
 * [SQ-TASK-DONE-EINVAL].  task_done more times than items put
 * is MP_ESTATE (ValueError) [JQ-TASK-DONE-TOO-MANY]; join waits until every
 * item put has been task_done()d: MP_OK [JQ-JOIN-WAITS], or MP_TIMEOUT at the
 * deadline [JQ-JOIN-TIMEOUT]; three worker processes that get and task_done
 * 300 items release the join once all are done [JQ-WORKERS].  With nothing
 * unfinished join is MP_OK at once [JQ-JOIN-NOTHING-PUT]; with unfinished
 * items and a timeout of 0 or less it is MP_TIMEOUT at once, and a NaN
 * timeout is MP_EINVAL [JQ-JOIN-NOWAIT].  task_done counts against puts, not
 * gets: it may come before the get, and join then returns while the item is
 * still queued [JQ-TASK-DONE-COUNTS-PUTS].  Calls out of order fail at once:
 * task_done and join on a Queue or SimpleQueue are MP_EINVAL, join_thread
 * before close is MP_ESTATE, and a task_done too many is MP_ESTATE without
 * spoiling a later join [BAD-ORDER-QUEUE]. */
MP_EXTERN mp_status mp_queue_task_done(mp_queue *q);
MP_EXTERN mp_status mp_queue_join(mp_queue *q, double timeout);
MP_EXTERN void mp_queue_free(mp_queue *q);

static inline mp_status mp_queue_put_nowait(mp_queue *q, const mp_value *v)
{
    return mp_queue_put(q, v, MP_NOWAIT);
}
static inline mp_status mp_queue_get_nowait(mp_queue *q, mp_value **out)
{
    return mp_queue_get(q, out, MP_NOWAIT);
}

/* -------------------------------------------------------------------- pipe */
/* Pipe(duplex): *a and *b are the two ends; duplex, both send and receive
 * [PIPE-DUPLEX-BOTH-WAYS].  duplex false: a only receives, b only sends
 * [PIPE-ONEWAY-DIRECTION]; the wrong direction is MP_EACCES (CPython's OSError)
 * [PIPE-ONEWAY-SEND-ON-RECV-END] [PIPE-ONEWAY-RECV-ON-SEND-END].  recv blocks
 * while nothing is there [PIPE-RECV-BLOCKS]; once every copy of the peer end is
 * closed, recv returns what is still buffered, then MP_EOF
 * [PIPE-RECV-EOF-AFTER-CLOSE] [PIPE-RECV-BUFFERED-THEN-EOF].  Calls on a closed
 * end: MP_CLOSED; close is idempotent [PIPE-CLOSED-END-CALLS]; free closes
 * [PIPE-FREE-CLOSES].  Every mp_conn_* call on a closed end is MP_CLOSED at
 * once, poll with MP_FOREVER and with a message still pending included, and
 * close again is MP_OK [BAD-PIPE-CLOSED].  On a one-way pipe every send call
 * on the receive end and every receive call (poll too, even with MP_FOREVER)
 * on the send end is MP_EACCES at once, and the pipe works on afterwards
 * [BAD-PIPE-DIRECTION].
 *
 * An end is process-local memory around a descriptor: a child started after
 * mp_pipe() gets a copy [PIPE-CHILD-SENDS], so both processes hold the
 * descriptor and EOF comes only when every copy of the peer end is closed --
 * as in CPython, the parent closes its copy of the child's end
 * [PIPE-EOF-NEEDS-ALL-COPIES].  An end reads ahead into its own buffer: receive
 * on an end in one process only (unlike CPython, several processes taking
 * turns under a lock to receive on copies of one end would split messages),
 * and from one thread at a time (CPython's Connection is not thread-safe
 * either).
 *
 * Wire format (CPython's Connection): a 4-byte big-endian signed length, or -1
 * then an 8-byte big-endian length, then the payload [PIPE-WIRE-FORMAT]
 * [PIPE-WIRE-LONG-HEADER].  Messages of any size up to MP_MSG_MAX keep their
 * boundaries [PIPE-MESSAGE-BOUNDARIES] [PIPE-LARGE-CHILD-TO-PARENT]
 * [PIPE-LARGE-PARENT-TO-CHILD]; a larger one is MP_EMSGSIZE before anything is
 * sent [PIPE-SEND-TOO-LARGE].  A received header claiming more than MP_MSG_MAX
 * (or a negative length) is MP_EPROTO without allocating, and so is every
 * later receive [PIPE-RECV-HEADER-HUGE] [PIPE-RECV-HEADER-NEGATIVE].  A message
 * cut short by the end of the stream (the peer died mid-message) is MP_EPROTO,
 * then MP_EOF (CPython: OSError "got end of file during message")
 * [PIPE-RECV-TRUNCATED] [PIPE-RECV-PEER-KILLED-MID-MESSAGE].  Sending when
 * every copy of the peer end is closed is MP_EOF (CPython's BrokenPipeError);
 * SIGPIPE is never raised [PIPE-SEND-TO-CLOSED-PEER], also for a send blocked
 * on a full buffer when the receiver dies [PIPE-SEND-PEER-KILLED].  A sender
 * killed in the middle of a message never delivers part of it as a message:
 * the receiver gets what was sent before, then MP_EPROTO, then MP_EOF
 * [PIPE-SEND-KILLED-MID-MESSAGE].  NULL handles and
 * output pointers: MP_EINVAL [PIPE-NULL-ARGS]; every mp_pipe / mp_conn_* call
 * given a NULL end, value, buffer or output is MP_EINVAL at once with a
 * message, sending and consuming nothing, and mp_conn_free(NULL) is a no-op
 * [BAD-PIPE-NULL]. */
typedef struct mp_conn mp_conn;

MP_EXTERN mp_status mp_pipe(mp_conn **a, mp_conn **b, bool duplex);
/* The value's mp_value_encode() form as one message [PIPE-SEND-RECV-VALUES];
 * recv: a payload that does not decode is MP_EPROTO (CPython's
 * UnpicklingError), the message consumed [PIPE-RECV-BAD-VALUE]. */
MP_EXTERN mp_status mp_conn_send(mp_conn *c, const mp_value *v);
MP_EXTERN mp_status mp_conn_recv(mp_conn *c, mp_value **out);
MP_EXTERN mp_status mp_conn_send_bytes(mp_conn *c, const void *buf, size_t len);
/* send_bytes(buf, offset, size) sends buf[offset, offset + size)
 * [PIPE-SEND-BYTES-RANGE]; offset > buflen or offset + size > buflen:
 * MP_EINVAL, nothing sent [PIPE-SEND-BYTES-RANGE-INVALID], also when
 * offset + size wraps around SIZE_MAX; offset == buflen with size 0 is a
 * valid empty message [BAD-SIZE-RANGE]. */
MP_EXTERN mp_status mp_conn_send_bytes_range(mp_conn *c, const void *buf, size_t buflen,
                                             size_t offset, size_t size);
/* *buf is malloc()ed (not NULL, even for an empty message).  maxlength 0: no
 * limit.  A longer message: MP_EMSGSIZE, and, as CPython's "bad message length"
 * OSError, the stream can no longer be read: a duplex end becomes send-only
 * (later receives MP_EACCES) [PIPE-RECV-BYTES-MAXLENGTH], a receive-only end is
 * closed [PIPE-RECV-BYTES-MAXLENGTH-ONEWAY-CLOSES]. */
MP_EXTERN mp_status mp_conn_recv_bytes(mp_conn *c, void **buf, size_t *len, size_t maxlength);
/* Into buf + offset; *len = the message's size [PIPE-RECV-BYTES-INTO].
 * offset > buflen: MP_EINVAL, nothing consumed
 * [PIPE-RECV-BYTES-INTO-OFFSET-INVALID] [BAD-SIZE-RANGE].  Too small:
 * MP_EMSGSIZE, *len = the message's size, and the message is kept for the next
 * receive (CPython's BufferTooShort carries it in the exception)
 * [PIPE-RECV-BYTES-INTO-TOO-SMALL]. */
MP_EXTERN mp_status mp_conn_recv_bytes_into(mp_conn *c, void *buf, size_t buflen, size_t offset,
                                            size_t *len);
/* MP_OK when a message is ready [PIPE-POLL-READY] (or EOF [PIPE-POLL-EOF]),
 * MP_TIMEOUT otherwise, never before the timeout [PIPE-POLL-TIMEOUT].  Like
 * every receive, MP_EACCES on a send-only end. */
MP_EXTERN mp_status mp_conn_poll(mp_conn *c, double timeout);
/* The descriptor, owned by the end: for poll()/select() [PIPE-FILENO]. */
MP_EXTERN mp_status mp_conn_fileno(mp_conn *c, int *fd);
MP_EXTERN mp_status mp_conn_close(mp_conn *c);
MP_EXTERN void mp_conn_free(mp_conn *c);

/* -------------------------------------------------------------- connection */
/* multiprocessing.connection: wait(), Listener and Client.
 *
 * wait(object_list, timeout): each mp_waitable names a connection (conn not
 * NULL; fd ignored) or a descriptor (conn NULL): a sentinel, a socket, a
 * pipe, a Listener's fileno.  On MP_OK, ready is set on exactly the objects
 * ready for reading -- a connection with a message, with a message already
 * read ahead into its buffer, or at EOF; a descriptor readable or hung up; a
 * sentinel whose process ended -- and cleared on the others, *nready their
 * number (CPython's returned subset, in the order given)
 * [CONN-WAIT-READY-SUBSET] [CONN-WAIT-EOF-READY] [CONN-WAIT-BUFFERED]
 * [CONN-WAIT-SENTINEL] [CONN-WAIT-FD].  When nothing is ready by the deadline:
 * MP_TIMEOUT (CPython's empty list), every ready cleared and *nready 0,
 * never before the deadline [CONN-WAIT-TIMEOUT]; timeout 0 or negative looks
 * once [CONN-WAIT-ZERO-POLL]; MP_FOREVER waits until something is ready
 * [CONN-WAIT-FOREVER-WAKES].  A signal handled meanwhile neither ends the wait
 * early nor fails it (PEP 475) [CONN-WAIT-EINTR].  A closed connection is
 * MP_CLOSED, a send-only one MP_EACCES (as mp_conn_poll), a negative
 * descriptor or one not open MP_EINVAL, n 0 with MP_FOREVER MP_EINVAL (it
 * could never return; with a finite timeout it sleeps until the deadline, as
 * CPython's wait([], t)); nready may be NULL. */
typedef struct mp_waitable {
    mp_conn *conn; /* a connection, or NULL for fd */
    int fd;        /* a descriptor, when conn is NULL */
    bool ready;    /* output */
} mp_waitable;
MP_EXTERN mp_status mp_connection_wait(mp_waitable *objs, size_t n, double timeout, size_t *nready);

/* Listener(address, backlog, authkey) and Client(address, authkey).
 * Addresses are those of the manager: NULL for a Unix socket "listener" in a
 * new private directory (mode 0700) under $TMPDIR or /tmp (CPython's
 * arbitrary_address), "unix:/path", "unix:@NAME" for NAME in Linux's abstract
 * Unix namespace (CPython's '\0NAME': no file; Listener and Client only, not
 * the manager) [LSN-ABSTRACT-SOCKET], or "tcp:HOST:PORT" with PORT 0 picking a
 * free port; anything else (another family, such as a Windows pipe name
 * "\\.\pipe\x") MP_EINVAL [LSN-INVALID-FAMILY].  A second Listener at an
 * address already bound (the path of a live Unix listener, a TCP port in
 * use) is MP_EOS, and the first one goes on accepting [LSN-MULTIPLE-BIND].
 * mp_listener_address() shows the bound address (the real port).  A connection made by accept or
 * Client is an mp_conn, duplex, used with the mp_conn_* calls like a Pipe end, and speaks CPython's
 * wire format, so either end may be CPython's own multiprocessing.connection [LSN-UNIX-ROUNDTRIP]
 * [LSN-TCP-ROUNDTRIP] [LSN-CPYTHON-INTEROP].
 *
 * Authentication (CPython 3.11's deliver_challenge / answer_challenge).  The
 * listener authenticates when its authkey is non-empty (NULL or length 0: no
 * authentication, as CPython's `if self._authkey`); a client when its authkey
 * is not NULL (an empty key too, as CPython's `authkey is not None`).  The
 * side that delivers sends "#CHALLENGE#" + 20 random bytes, the other answers
 * HMAC-MD5(key, those 20 bytes), and the deliverer sends "#WELCOME#", or
 * "#FAILURE#" when the digest differs; each message is read with maxlength
 * 256.  accept delivers then answers, Client answers then delivers.  With
 * equal keys both ends pass [LSN-AUTHKEY-OK]; otherwise the client gets
 * MP_EAUTH, and so does the accept, which closes that connection; the
 * listener goes on accepting [LSN-AUTHKEY-WRONG].  A peer that breaks the
 * handshake otherwise (a wrong first message, EOF) is MP_EAUTH too.
 *
 * accept blocks until a client connects (CPython's accept has no timeout: to
 * bound it, wait on mp_listener_fileno() first); a signal handled meanwhile
 * neither ends nor fails it, nor loses the client that connects after
 * [LSN-ACCEPT-EINTR].  A client that connected, sent and closed before the
 * accept is still accepted and its message received, then MP_EOF
 * [LSN-CLIENT-GONE-BEFORE-ACCEPT]; poll on a Client's connection sees a
 * message the accepted end sent [LSN-CLIENT-POLL].
 * close closes the socket and removes the socket file (and the private
 * directory) of a Unix listener; it is idempotent and every other call
 * afterwards is MP_CLOSED [LSN-CLOSE-UNLINKS]; free closes.  Client of an
 * address where nothing listens is MP_EOS at once (CPython's
 * ConnectionRefusedError / FileNotFoundError) [LSN-CLIENT-NO-LISTENER]. */
typedef struct mp_listener mp_listener;

/* backlog 0: CPython's default, 1; negative: MP_EINVAL.  authkey NULL with a
 * nonzero length: MP_EINVAL.  Misuse of any connection call -- a NULL handle
 * or output, a negative or unopened descriptor, a NaN timeout, nothing to
 * wait for forever, a malformed address -- is MP_EINVAL at once with a
 * message, writing no output; mp_listener_free(NULL) is a no-op
 * [BAD-CONNECTION-NULL].  After close every mp_listener_* call is MP_CLOSED
 * at once and close again MP_OK; wait on a closed connection is MP_CLOSED,
 * on a send-only end MP_EACCES, at once, even with MP_FOREVER
 * [BAD-CONNECTION-CLOSED]. */
MP_EXTERN mp_status mp_listener_new(mp_listener **out, const char *address, int backlog,
                                    const void *authkey, size_t authkey_len);
MP_EXTERN mp_status mp_listener_accept(mp_listener *l, mp_conn **out);
/* "unix:/tmp/mp-XXXXXX/listener" or "tcp:127.0.0.1:40123"; owned by l. */
MP_EXTERN mp_status mp_listener_address(mp_listener *l, const char **address);
/* The listening socket, owned by l: readable when accept would not block. */
MP_EXTERN mp_status mp_listener_fileno(mp_listener *l, int *fd);
MP_EXTERN mp_status mp_listener_close(mp_listener *l);
MP_EXTERN void mp_listener_free(mp_listener *l);
MP_EXTERN mp_status mp_client(mp_conn **out, const char *address, const void *authkey,
                              size_t authkey_len);

/* Passing a descriptor over a connection (CPython's reduction.send_handle /
 * recv_handle, whose bytes on the wire these are: one byte, 1, carrying the
 * descriptor as SCM_RIGHTS ancillary data, no acknowledgement).  send_fd
 * sends a duplicate of fd (the caller keeps its own); recv_fd takes the next
 * byte of the stream, which must be such a marker, and stores in *fd a new
 * descriptor (close-on-exec) for the same open file: it works as the
 * sender's does, between a parent and its child both ways
 * [CONN-FD-TRANSFER], numbered above 256 too [CONN-FD-LARGE].  A byte that
 * arrives without a descriptor is consumed and is MP_EPROTO (CPython's
 * RuntimeError: malformed data on the stream, the nearest status)
 * [CONN-FD-MISSING].  Ordinary messages before and after keep their order,
 * and a descriptor is never lost because a receive read ahead past its
 * marker; one received and never taken is closed by close/free
 * [CONN-FD-AFTER-READAHEAD].  Either end may be CPython's own
 * send_handle/recv_handle [CONN-FD-CPYTHON-INTEROP].  Works on Pipe ends
 * (send on a sending end, receive on a receiving end: otherwise MP_EACCES)
 * and on Listener/Client connections of a Unix address; an end that cannot
 * carry descriptors (TCP, an implementation's pipe(2)) is MP_ENOTSUP.  A NULL
 * handle or output, or fd negative or not open: MP_EINVAL [BAD-PIPE-NULL]; a
 * closed end: MP_CLOSED [BAD-PIPE-CLOSED]; the wrong direction of a one-way
 * Pipe: MP_EACCES [BAD-PIPE-DIRECTION].  send_fd to a closed peer is MP_EOF;
 * recv_fd at the end of the stream is MP_EOF. */
MP_EXTERN mp_status mp_conn_send_fd(mp_conn *c, int fd);
MP_EXTERN mp_status mp_conn_recv_fd(mp_conn *c, int *fd);

/* -------------------------------------------------------------------- pool */
/* Pool(processes, initializer, initargs, maxtasksperchild): worker processes
 * (forked from the pool's handler thread) that run C task functions on values.
 * A task takes a worker when one is free; while every worker is busy, tasks
 * wait [POOL-BUSY-WAITS] (tutorial §16).  Arguments are encoded when the call
 * is made (the caller keeps ownership of what it passes); results are decoded
 * in the parent: nested values of every type reach the task and come back
 * equal [POOL-VALUES-ROUNDTRIP], arguments and results of several MiB
 * (larger than the pool's shared rings) included [POOL-LARGE-VALUES].  Many
 * more tasks than the rings hold all run, each result reaching its own
 * AsyncResult [POOL-MANY-TASKS].  Every call is thread-safe, also from a
 * callback: a callback may submit another task to the same pool
 * [POOL-CALLBACK-CAN-SUBMIT].  A pool belongs to the process that made it:
 * calls from another process (a forked child) are MP_ESTATE
 * [POOL-FORKED-CHILD-ESTATE].  A NULL pool, result, iterator, function,
 * argument or output is MP_EINVAL [POOL-NULL-ARGS], at once (also with
 * MP_FOREVER) and submitting nothing, and mp_pool_free, mp_async_result_free
 * and mp_imap_free of NULL are no-ops [BAD-POOL-NULL].  In a worker,
 * mp_current_name() is "ForkPoolWorker-N",
 * N a new number of the process counter per worker, as in CPython
 * [POOL-WORKER-NAME].
 *
 * Task outcome, as get()/apply()/imap_next() and the error callback see it:
 *   MP_OK         the task returned MP_OK; its result (NULL means None).
 *   MP_EREMOTE    the task returned another status (its "exception"); the
 *                 message is "<STATUS NAME>: <message>", the message being what
 *                 the task gave mp_task_error() (or mp_errmsg() in the worker
 *                 when it returned) [POOL-APPLY-ERROR] [POOL-ERROR-CALLBACK].
 *   MP_EWORKERLOST the worker died while holding the task (killed by a signal,
 *                 abort(), exit()); the message names the signal or exit code.
 *                 The worker is replaced and the other tasks complete
 *                 (CPython hangs here: bpo-22393) [POOL-WORKER-KILLED-NO-HANG]
 *                 [POOL-WORKER-ABORT] [POOL-WORKER-EXIT], also when it is
 *                 killed from outside: that task alone fails and later work
 *                 runs [POOL-WORKER-KILLED-EXTERNALLY].  The replacement
 *                 gives the pool its full size again: two tasks that need
 *                 each other both run [POOL-WORKER-REPLACED].  A map whose
 *                 chunk loses its worker fails with MP_EWORKERLOST instead of
 *                 hanging, and later maps work [POOL-WORKER-LOST-IN-MAP].
 *                 Whatever instant the worker dies at, also just after the
 *                 task returned, the outcome is the complete result or
 *                 MP_EWORKERLOST, never a
 *                 wait without end [POOL-APPLY-WORKER-KILLED-ANYTIME]
 *                 [POOL-ASYNC-WORKER-KILLED-ANYTIME].
 *   MP_CLOSED     the pool was terminated (or freed) before the task finished
 *                 [POOL-TERMINATE-PENDING-FAIL].
 * A map-style call fails as a whole with the first failing chunk's outcome:
 * MP_EREMOTE and the failing item's message [POOL-MAP-ERROR]. */
typedef struct mp_pool mp_pool;
typedef struct mp_async_result mp_async_result;
typedef struct mp_imap mp_imap;

/* A task: reads arg (owned by the pool), stores a new value in *result (or
 * leaves it NULL for None) and returns MP_OK; any other status is a failure.
 * It runs in a worker process, so it sees the parent's memory as it was when
 * the worker was forked, and its changes to ordinary memory stay there. */
typedef mp_status (*mp_task_fn)(const mp_value *arg, mp_value **result);
/* Raise a task's "exception": sets the calling thread's mp_errmsg() and
 * returns s, as in `return mp_task_error(MP_EINVAL, "bad item %d", i);`. */
MP_EXTERN mp_status mp_task_error(mp_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Runs once in every worker before its first task, with a copy of initargs
 * (None when initargs is NULL) [POOL-INITIALIZER], and in every replacement
 * worker too [POOL-INITIALIZER-REPLACEMENT]. */
typedef void (*mp_pool_init_fn)(const mp_value *initargs);
/* Callbacks run in the parent, on the pool's one result-handling thread, in
 * completion order, before get() of that result returns
 * [POOL-CALLBACK-ONE-THREAD].  result is borrowed (valid during the call).
 * error_callback gets the outcome status and message as listed above. */
typedef void (*mp_result_cb)(const mp_value *result, void *ud);
typedef void (*mp_error_cb)(mp_status status, const char *msg, void *ud);

/* processes <= 0: mp_cpu_count() [POOL-DEFAULT-SIZE].  maxtasksperchild <= 0:
 * workers live as long as the pool; else a worker exits after that many tasks
 * (a map chunk is one task) and is replaced; no task is lost, also while
 * closing [POOL-MAXTASKSPERCHILD-RECYCLE] [POOL-MAXTASKSPERCHILD-CLOSE].
 * The workers are running when this returns: Pool(n) has n workers, which
 * mp_pool_size reports, and n tasks run at once [POOL-NEW-SIZE].  When a
 * worker cannot be started (fork fails: RLIMIT_NPROC, no memory) the call is
 * MP_EOS (MP_ENOMEM), *out untouched, and the workers already started are
 * terminated and reaped before it returns [POOL-NEW-FAILS-MIDWAY]. */
MP_EXTERN mp_status mp_pool_new(mp_pool **out, int processes, mp_pool_init_fn initializer,
                                const mp_value *initargs, long maxtasksperchild);
/* Number of worker processes (Python's len(pool._pool)). */
MP_EXTERN mp_status mp_pool_size(mp_pool *p, int *processes);

/* apply(func, args): blocks until the task ends, so its work is done when
 * apply returns [POOL-APPLY-BLOCKS]; *result is the caller's (NULL
 * stays NULL only on failure; None is an mp_none()) [POOL-APPLY-RESULT], and
 * a task that stores no result gives None [POOL-APPLY-NONE]. */
MP_EXTERN mp_status mp_pool_apply(mp_pool *p, mp_task_fn fn, const mp_value *arg,
                                  mp_value **result);
/* apply_async: returns at once [POOL-APPLY-ASYNC-RETURNS-AT-ONCE]; callback
 * or error_callback (either may be NULL) runs when the task ends
 * [POOL-APPLY-ASYNC-CALLBACK].  *out: free it with mp_async_result_free; it
 * may be freed before the task ends, which still runs, its callback too
 * [POOL-RESULT-FREED-EARLY].  The tutorial's example (§18): with Pool(3), ten
 * apply_async(Foo, i, callback=Bar) calls return at once, so 'end' is printed
 * first, then Bar gets each of 100..109 once [POOL-TUTORIAL-EXAMPLE]. */
MP_EXTERN mp_status mp_pool_apply_async(mp_pool *p, mp_task_fn fn, const mp_value *arg,
                                        mp_result_cb callback, mp_error_cb error_callback, void *ud,
                                        mp_async_result **out);

/* map(func, iterable, chunksize): args is a list or tuple (else MP_ETYPE, also
 * for map_async, imap and imap_unordered [BAD-POOL-TYPE] [POOL-MAP-NOT-SEQUENCE]);
 * the result is a list in the order of args [POOL-MAP-ORDER], [] for no args
 * [POOL-MAP-EMPTY] (map_async of no args is ready at once, with any chunksize
 * [POOL-MAP-ASYNC-EMPTY], and, as in CPython, runs no callback).  chunksize 0 is CPython's default,
 * ceil(len / (4 * processes)) [POOL-MAP-DEFAULT-CHUNKSIZE]; items travel in chunks of that many
 * [POOL-MAP-CHUNKSIZE]. starmap: each item must be a list or tuple (else MP_ETYPE) and is the arg
 * of one call, standing for f(*item) [POOL-STARMAP].  map_async returns at
 * once, and its callback gets the whole result list before get() returns it
 * [POOL-MAP-ASYNC]; a failing one calls its error_callback exactly once, with
 * the failing item's message [POOL-MAP-ASYNC-ERROR-CALLBACK]; starmap_async
 * gives starmap's list through get and the callback [POOL-STARMAP-ASYNC]. */
MP_EXTERN mp_status mp_pool_map(mp_pool *p, mp_task_fn fn, const mp_value *args, size_t chunksize,
                                mp_value **result);
MP_EXTERN mp_status mp_pool_map_async(mp_pool *p, mp_task_fn fn, const mp_value *args,
                                      size_t chunksize, mp_result_cb callback,
                                      mp_error_cb error_callback, void *ud, mp_async_result **out);
MP_EXTERN mp_status mp_pool_starmap(mp_pool *p, mp_task_fn fn, const mp_value *args,
                                    size_t chunksize, mp_value **result);
MP_EXTERN mp_status mp_pool_starmap_async(mp_pool *p, mp_task_fn fn, const mp_value *args,
                                          size_t chunksize, mp_result_cb callback,
                                          mp_error_cb error_callback, void *ud,
                                          mp_async_result **out);

/* imap / imap_unordered: an iterator over the results, in the order of args
 * [POOL-IMAP-ORDER] or in completion order [POOL-IMAP-UNORDERED-ALL];
 * chunksize 0 means 1, as in CPython.  next: MP_OK and the next result (the
 * caller's), MP_EOF after the last one, MP_TIMEOUT when none is ready by the
 * deadline [POOL-IMAP-NEXT-TIMEOUT]; a failed chunk gives its outcome once
 * (MP_EREMOTE, ...) and iteration continues after it [POOL-IMAP-ERROR]. */
MP_EXTERN mp_status mp_pool_imap(mp_pool *p, mp_task_fn fn, const mp_value *args, size_t chunksize,
                                 mp_imap **out);
MP_EXTERN mp_status mp_pool_imap_unordered(mp_pool *p, mp_task_fn fn, const mp_value *args,
                                           size_t chunksize, mp_imap **out);
MP_EXTERN mp_status mp_imap_next(mp_imap *it, double timeout, mp_value **item);
/* May be called before the iterator is exhausted; the pool works on
 * [POOL-IMAP-FREE-EARLY]. */
MP_EXTERN void mp_imap_free(mp_imap *it);

/* AsyncResult.  get: MP_OK and *result borrowed from r (valid until
 * mp_async_result_free; the same value on every call [POOL-GET-SAME-VALUE]),
 * MP_TIMEOUT when not
 * ready by the deadline [POOL-GET-TIMEOUT] [POOL-GET-TIMEOUT-MAP-QUEUED]
 * (at once for a timeout of 0 [POOL-GET-TIMEOUT-ZERO-NOT-READY]), or the
 * task's failure outcome.  ready is false while the task runs and true
 * after; wait is MP_OK once it is ready, else MP_TIMEOUT [POOL-READY-WAIT].
 * successful is true after a task that succeeded, false after one that
 * failed [POOL-SUCCESSFUL]; before ready it is MP_ESTATE
 * (CPython's ValueError) [POOL-SUCCESSFUL-NOT-READY].  Waiting on the result
 * of a not yet finished task from a callback (it could never finish) is
 * MP_ESTATE, not a deadlock of the result thread [POOL-WAIT-IN-CALLBACK]. */
MP_EXTERN mp_status mp_async_result_get(mp_async_result *r, double timeout,
                                        const mp_value **result);
MP_EXTERN mp_status mp_async_result_wait(mp_async_result *r, double timeout);
MP_EXTERN mp_status mp_async_result_ready(mp_async_result *r, bool *ready);
MP_EXTERN mp_status mp_async_result_successful(mp_async_result *r, bool *successful);
MP_EXTERN void mp_async_result_free(mp_async_result *r);

/* close: no more tasks; a later submit is MP_ESTATE (CPython's ValueError
 * "Pool not running") [POOL-CLOSE-THEN-SUBMIT]; submitted tasks still run
 * and the workers exit when they are done.  Idempotent.
 * terminate: stops the workers now with SIGTERM, as CPython does
 * [POOL-TERMINATE-SIGTERM] (SIGKILL for one still alive 1 s later: a task may
 * block or catch SIGTERM, and terminate and join still return
 * [POOL-TERMINATE-SIGKILL-GRACE]), and returns once they are gone: workers
 * running long tasks stop at once and join returns promptly after it
 * [POOL-TERMINATE-PROMPT]; results still
 * pending fail with MP_CLOSED [POOL-TERMINATE-PENDING-FAIL].
 * join: only after close or terminate, else MP_ESTATE
 * [POOL-JOIN-BEFORE-CLOSE]; waits for every task, callback and worker
 * [POOL-JOIN-WAITS].  join/terminate from a callback: MP_ESTATE.  Calls out
 * of order are MP_ESTATE at once: join before close, successful before
 * ready, and after close (idempotent) or terminate every submit (apply,
 * apply_async, map, map_async, starmap, starmap_async, imap, imap_unordered),
 * which submits nothing [BAD-ORDER-POOL].
 * free: the end of `with Pool() as p:` (terminate, join, free); results and
 * iterators stay valid and must be freed separately [POOL-SCOPED].  Nothing
 * is left behind: no thread, descriptor or process [POOL-NO-LEAKS].
 * A Pool works in a child process as in the main one [POOL-IN-CHILD].  A
 * process may end with a pool it never closed, idle or with tasks still
 * running (by exit() or by its target returning): it exits promptly, and the
 * pool's workers end with it [POOL-LIVE-AT-EXIT]. */
MP_EXTERN mp_status mp_pool_close(mp_pool *p);
MP_EXTERN mp_status mp_pool_terminate(mp_pool *p);
MP_EXTERN mp_status mp_pool_join(mp_pool *p);
MP_EXTERN void mp_pool_free(mp_pool *p);

/* ----------------------------------------------------------------- manager */
/* Manager(): a server process holding shared objects -- dict, list,
 * Namespace, Value, Lock, Event, Queue -- that every process uses through
 * proxies (tutorial §14).  Each operation runs whole on the server before the
 * next one starts, so concurrent updates from many processes lose nothing
 * [MGR-CONCURRENT-APPENDS-NO-LOSS] [MGR-TUTORIAL-10-PROCS].
 *
 * Starting and stopping.  mp_manager_start() forks the server and returns once
 * it listens [MGR-START-SHUTDOWN].  mp_manager_shutdown() stops it, reaps it
 * and removes its socket file and private directory [MGR-SHUTDOWN-CLEANS];
 * it is idempotent, every other call on the handle afterwards is MP_CLOSED
 * [MGR-SHUTDOWN-IDEMPOTENT]: shutdown again is MP_OK, every call on a proxy
 * of that server is MP_EDEAD at once (its typeid stays readable), and
 * connecting to the old address is MP_EDEAD [BAD-MANAGER-CLOSED].
 * mp_manager_free() is the end of
 * `with Manager() as manager:`: shutdown, then free [MGR-SCOPED-FREE].  Only
 * the process that started the server may shut it down: in another process
 * (a forked child) shutdown is MP_ESTATE and free releases the local handle
 * only [MGR-CHILD-CANNOT-SHUTDOWN]; on a handle from mp_manager_connect()
 * shutdown disconnects and leaves the server running.  The server also ends
 * when the process that started it exits or dies, removing its socket file and
 * directory and freeing every object [MGR-PARENT-DIES-SERVER-GOES]; a normal
 * exit shuts down the managers the process still runs (CPython's finalizer).
 * The server holds no descriptor of its parent's other than its own (so, for
 * example, a Pipe's EOF is not delayed by it) [MGR-SERVER-CLOSES-INHERITED-FDS],
 * ignores SIGINT as CPython's does, and exits cleanly on SIGTERM.
 *
 * Addresses.  NULL (the default): a Unix socket "unix:<dir>/listener" in a new
 * private directory (mode 0700) under $TMPDIR or /tmp, the socket mode 0600
 * [MGR-SOCKET-MODE-0600]; "unix:/path": that path (mode 0600, an existing
 * socket file there is an error: MP_EOS) [MGR-UNIX-PATH]; "tcp:HOST:PORT":
 * TCP, PORT 0 picks a free port, shown by mp_manager_address()
 * [MGR-TCP-CONNECT]; a fixed port is free again at once when the manager
 * there shut down, its connections still in TIME_WAIT (SO_REUSEADDR, as
 * CPython's) [MGR-RAPID-RESTART].  Anything else is MP_EINVAL
 * [MGR-BAD-ADDRESS].
 *
 * Authentication (CPython's BaseManager(address, authkey)).  Every connection
 * passes a mutual HMAC-SHA256 challenge before its first request; digests are
 * compared in constant time.  The authkey defaults to the process authkey
 * (mp_current_authkey(): 32 random bytes made when the library loads and
 * inherited by forked children, CPython's current_process().authkey).  A TCP
 * manager needs an explicit, non-empty authkey: MP_EINVAL otherwise, since a
 * network listener must not depend on a key nobody else can know
 * [MGR-TCP-NEEDS-AUTHKEY].  A client with a wrong key gets MP_EAUTH and the
 * server writes one line about it to its stderr [MGR-WRONG-AUTHKEY]; a server
 * that cannot prove it knows the key is MP_EAUTH for the client
 * [MGR-SERVER-MUST-PROVE-KEY].
 *
 * Robustness.  The server is one poll loop: a blocked operation (a Lock
 * acquire, an Event wait, a Queue get or put) is a reply deferred until it can
 * complete or its deadline passes, so it never delays other clients
 * [MGR-BLOCKED-CLIENT-NO-STALL]; nor does a client that stops mid-frame
 * [MGR-SILENT-CLIENT-NO-STALL].  A client that sends garbage, a malformed
 * request [MGR-GARBAGE-CLIENT] [MGR-GARBAGE-AFTER-AUTH], or a frame longer
 * than MP_MANAGER_FRAME_MAX [MGR-OVERSIZED-FRAME] is disconnected (the frame
 * is never allocated) and every other client goes on.  A connection that has
 * not passed the handshake MP_MANAGER_HANDSHAKE_TIMEOUT seconds after it was
 * accepted is closed, never earlier [MGR-HANDSHAKE-DEADLINE]; at most 256
 * such connections are kept at once, a new one closing the oldest, so that a
 * client with the key gets in however many idle connections others hold open
 * [MGR-IDLE-CONNECTIONS-NO-LOCKOUT].  A client with the wrong key never gets
 * to make a request: the server answers "#FAILURE#" and closes
 * [MGR-WRONG-DIGEST-REFUSED].  Work on one request is linear in its size,
 * a dict whose keys all collide included, so that one client's large request
 * cannot stall the others for long [MGR-HOSTILE-DICT-NO-STALL].  A client
 * SIGKILLed while blocked in a Queue get takes no item with it: the server
 * drops its request, and the next put reaches a live getter or stays queued
 * [MGR-CLIENT-KILLED-GET]; one SIGKILLed while waiting for a Lock is never
 * granted it, so a release leaves the Lock to live processes
 * [MGR-CLIENT-KILLED-LOCK-WAITER].
 *
 * Proxies.  A proxy names one object on the server; values passed to a proxy
 * are copied (encoded) and stay the caller's; results are new values owned by
 * the caller.  Errors raised on the server come back with the server's message
 * in mp_errmsg() [MGR-ERROR-MESSAGE]: KeyError MP_EKEY, IndexError MP_EINDEX,
 * ValueError MP_EINVAL, TypeError (an unhashable key, sorting unlike types)
 * MP_ETYPE, an unknown method or a typed call on a proxy of another type
 * (AttributeError) MP_EINVAL [MGR-UNKNOWN-METHOD] [MGR-WRONG-PROXY-TYPE]:
 * every typed call (mp_mdict_*, mp_mlist_*, mp_mns_*, mp_mvalue_*,
 * mp_mlock_*, mp_mevent_*, mp_mqueue_*, mp_mcond_*, mp_mbarrier_*,
 * mp_marray_*) on a proxy of another type, and an
 * unknown method, is MP_EINVAL at once, also with MP_FOREVER, and changes
 * nothing [BAD-PROXY-TYPE].
 * A server that is gone gives MP_EDEAD, promptly, never a hang
 * [MGR-SERVER-KILLED] [MGR-PROXY-AFTER-SHUTDOWN].  A request or reply larger
 * than MP_MANAGER_FRAME_MAX is MP_EMSGSIZE and changes nothing
 * [MGR-REQUEST-TOO-LARGE].  Proxies are thread-safe: each calling thread uses
 * its own connection (made on first use, then kept for reuse)
 * [MGR-PROXY-THREADS].  NULL handles, outputs and values are MP_EINVAL
 * [MGR-NULL-ARGS]: every mp_manager_*, mp_proxy_* and typed proxy call (and
 * mp_current_authkey, mp_hmac_sha256) given a NULL handle, proxy, string,
 * key, value or output is MP_EINVAL at once with a message, and no object is
 * made or changed; the frees of NULL are no-ops [BAD-MANAGER-NULL].
 *
 * Proxies and managers in children.  Proxies and manager handles made before
 * mp_process_start() work in the child [MGR-PROXY-IN-CHILD]: a forked child
 * never uses its parent's connections (it closes its copies at fork) and
 * connects, and authenticates, on first use [MGR-CHILD-OWN-CONNECTION].
 * An object lives while a proxy made for it in some process is not freed
 * (plus, for a named object, until the server ends): mp_proxy_free() in the
 * process that made the proxy releases the object [MGR-PROXY-FREE-RELEASES];
 * freeing an inherited copy in a child releases only local memory
 * [MGR-CHILD-FREE-KEEPS-OBJECT].  A call on a released object is MP_CLOSED.
 *
 * Wire protocol (version 1), for clients in other languages.  Frames: a 4-byte
 * big-endian length, then that many bytes, at most MP_MANAGER_FRAME_MAX.
 * Handshake: the server sends "#CHALLENGE#" + 32 random bytes Ns; the client
 * sends HMAC(key, Ns) + "#CHALLENGE#" + 32 random bytes Nc; the server sends
 * "#WELCOME#" + HMAC(key, Nc), or "#FAILURE#" and closes.  Requests: a msgpack
 * array [oid, method, arg...] (values in mp_value_encode() form); replies: a
 * msgpack array [status, result] where result is the method's value when
 * status is 0 (MP_OK), else the server's error message.  oid 0 is the manager
 * itself, with methods create(typeid, init, name) -> oid (name nil, or
 * get-or-create by name), incref(oid), decref(oid) and number_of_objects().
 * Timeouts travel as float64 seconds (inf: forever).  Methods by typeid
 * (Python's names; args in brackets are optional):
 *   dict       __getitem__ __setitem__ __delitem__ __contains__ __len__ get(k[,d])
 *              keys values items update pop(k[,d]) setdefault(k[,d]) clear copy
 *              __iter__ -> oid of a new Iterator (one reference, the caller's)
 *              setproxy(k, oid) getproxy(k) -> [typeid, oid] (one reference,
 *              the caller's); list: appendproxy(oid) getproxy(i)
 *   list       __getitem__ __setitem__ __delitem__ (int index) __len__
 *              __contains__ append extend insert pop([i]) remove index(x[,i[,j]])
 *              count sort([reverse]) reverse copy, and getslice(start, stop,
 *              step), setslice(start, stop, step, seq), delslice(start, stop,
 *              step) with nil for Python's None; __iter__ as dict's
 *   Iterator   __next__ (MP_EOF: StopIteration; MP_ESTATE: RuntimeError)
 *   Namespace  __getattr__(name) __setattr__(name, v) __delattr__(name) copy
 *   Value      get set(v)
 *   Lock       acquire(timeout) -> true / false (status MP_EOWNERDEAD, held,
 *              when the holder's connection closed), release, locked
 *   Event      set clear is_set wait(timeout) -> true / false
 *   Queue      put(item, timeout) get(timeout) qsize empty full task_done
 *              join(timeout) -> true / false (MP_FULL / MP_EMPTY at the deadline)
 *   JoinableQueue  the same as Queue
 *   RLock Semaphore BoundedSemaphore  acquire(timeout) -> true / false, release
 *   Condition  acquire release wait(timeout) -> true / false, notify(n) notify_all
 *   Barrier    wait(timeout; nil: its own) -> index, abort reset n_waiting
 *              parties broken (create's init: [parties, timeout or nil])
 *   Array      __len__ __getitem__(i) __setitem__(i, v) tolist typecode
 *              (create's init: [typecode, list]); Semaphore's init: its value */
typedef struct mp_manager mp_manager;
typedef struct mp_proxy mp_proxy;

#define MP_MANAGER_FRAME_MAX ((size_t)64 << 20)
/* Seconds a connection has to pass the handshake (see Robustness). */
#define MP_MANAGER_HANDSHAKE_TIMEOUT 5.0

typedef struct mp_manager_opts {
    const char *address; /* NULL: a private Unix socket (see above) */
    const void *authkey; /* NULL: the process authkey (not allowed for TCP) */
    size_t authkey_len;
    /* BaseManager.start(initializer, initargs): run once in the server
     * process, as initializer(initarg), before it serves any request (calls
     * made meanwhile wait) [MGR-INITIALIZER].  NULL: none. */
    void (*initializer)(void *initarg);
    void *initarg;
} mp_manager_opts;

/* opts NULL: every default. */
MP_EXTERN mp_status mp_manager_start(mp_manager **out, const mp_manager_opts *opts);
/* BaseManager(address, authkey).connect(): a handle on a running server
 * [MGR-REMOTE-CONNECT].  authkey NULL: the process authkey.  Authenticates now:
 * MP_EAUTH for a wrong key, MP_EDEAD when nothing listens there
 * [MGR-CONNECT-NO-SERVER]. */
MP_EXTERN mp_status mp_manager_connect(mp_manager **out, const char *address, const void *authkey,
                                       size_t authkey_len);
/* "unix:/tmp/mp-XXXXXX/listener" or "tcp:127.0.0.1:40123"; owned by m. */
MP_EXTERN mp_status mp_manager_address(mp_manager *m, const char **address);
/* The server's pid in the process that started it, 0 on a connected handle. */
MP_EXTERN mp_status mp_manager_pid(mp_manager *m, pid_t *pid);
/* Objects alive on the server (CPython's _number_of_objects()). */
MP_EXTERN mp_status mp_manager_object_count(mp_manager *m, size_t *n);
MP_EXTERN mp_status mp_manager_shutdown(mp_manager *m);
MP_EXTERN void mp_manager_free(mp_manager *m);
/* The process authkey; *key points to library memory. */
MP_EXTERN mp_status mp_current_authkey(const void **key, size_t *len);
/* HMAC-SHA256 (RFC 2104, FIPS 180-4) as the handshake uses it; out holds 32
 * bytes [MGR-HMAC-RFC4231]. */
MP_EXTERN mp_status mp_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t msglen,
                                   unsigned char out[32]);

/* Make an object.  typeid: "dict", "list", "Namespace", "Value", "Lock",
 * "Event", "Queue", "RLock", "Semaphore", "BoundedSemaphore", "Condition",
 * "Barrier", "JoinableQueue" or "Array" (the last seven are easier made with
 * their own calls below, which say their init).  init: dict -- NULL or a dict (copied); list --
 * NULL or a list or tuple (list(range(5)) [MGR-LIST-INIT]); Namespace -- NULL or a dict of str
 * keys; Value -- the value (NULL: None); Queue -- NULL or an int maxsize (<= 0: unbounded); Lock
 * and Event -- NULL; an init of another type (a Lock or Event given any init included:
 * threading.Lock(42)) is MP_ETYPE (TypeError) and makes nothing [BAD-MANAGER-ARGS].  name NULL: a
 * new object; else get-or-create the object of that name, which lives until the server ends, so
 * that other clients can find it; an existing name of another typeid is MP_ETYPE
 * [MGR-NAMED-GET-OR-CREATE]. */
MP_EXTERN mp_status mp_manager_create(mp_manager *m, const char *typeid, const mp_value *init,
                                      const char *name, mp_proxy **out);
/* manager.dict(), manager.list(seq), ... */
MP_EXTERN mp_status mp_manager_dict(mp_manager *m, const mp_value *init, mp_proxy **out);
MP_EXTERN mp_status mp_manager_list(mp_manager *m, const mp_value *init, mp_proxy **out);
MP_EXTERN mp_status mp_manager_namespace(mp_manager *m, mp_proxy **out);
MP_EXTERN mp_status mp_manager_value(mp_manager *m, const mp_value *init, mp_proxy **out);
MP_EXTERN mp_status mp_manager_lock(mp_manager *m, mp_proxy **out);
MP_EXTERN mp_status mp_manager_event(mp_manager *m, mp_proxy **out);
MP_EXTERN mp_status mp_manager_queue(mp_manager *m, long maxsize, mp_proxy **out);
/* manager.RLock(), Semaphore(value), BoundedSemaphore(value), Condition()
 * (over its own RLock: CPython's Condition(lock) given a lock proxy is not
 * offered), Barrier(parties, timeout) (parties 0: MP_EINVAL; timeout
 * MP_FOREVER: none), JoinableQueue(maxsize), Array(typecode, values): typecode
 * one of b B h H i I l L q Q f d (else MP_EINVAL, ValueError), values NULL
 * or a list or tuple of items of that type (else MP_ETYPE; an int out of the
 * typecode's range MP_EINVAL, OverflowError) [MGR-ARRAY-TYPECHECK].
 * CPython's Manager().Pool() is not offered: it runs a Pool in the server,
 * sent its tasks by pickle; a C task is a function pointer, which a client
 * connected over TCP from another program cannot name (mp_pool_* runs C
 * tasks in local workers). */
MP_EXTERN mp_status mp_manager_rlock(mp_manager *m, mp_proxy **out);
MP_EXTERN mp_status mp_manager_semaphore(mp_manager *m, unsigned value, mp_proxy **out);
MP_EXTERN mp_status mp_manager_bounded_semaphore(mp_manager *m, unsigned value, mp_proxy **out);
MP_EXTERN mp_status mp_manager_condition(mp_manager *m, mp_proxy **out);
MP_EXTERN mp_status mp_manager_barrier(mp_manager *m, unsigned parties, double timeout,
                                       mp_proxy **out);
MP_EXTERN mp_status mp_manager_joinable_queue(mp_manager *m, long maxsize, mp_proxy **out);
MP_EXTERN mp_status mp_manager_array(mp_manager *m, char typecode, const mp_value *values,
                                     mp_proxy **out);

/* BaseProxy._callmethod(method, args): args NULL (no arguments) or a list or
 * tuple of them (else MP_ETYPE); *result (NULL to discard it) gets the method's value, None
 * for methods without one [MGR-CALL-GENERIC]. */
MP_EXTERN mp_status mp_proxy_call(mp_proxy *p, const char *method, const mp_value *args,
                                  mp_value **result);
/* The typeid, e.g. "dict"; owned by p. */
MP_EXTERN mp_status mp_proxy_typeid(mp_proxy *p, const char **typeid);
MP_EXTERN void mp_proxy_free(mp_proxy *p);

/* dict proxy [MGR-DICT-SET-GET] [MGR-DICT-KEYERROR] [MGR-DICT-DEL]
 * [MGR-DICT-CONTAINS-LEN] [MGR-DICT-VIEWS] [MGR-DICT-UPDATE] [MGR-DICT-POP]
 * [MGR-DICT-SETDEFAULT] [MGR-DICT-CLEAR-COPY] [MGR-DICT-NUMERIC-KEYS]
 * [MGR-DICT-UNHASHABLE].  get is d[key]; keys/values/items are lists (items
 * of 2-tuples); pop with dflt NULL raises KeyError; copy is a dict; update of
 * anything but a dict is MP_ETYPE. */
MP_EXTERN mp_status mp_mdict_get(mp_proxy *d, const mp_value *key, mp_value **val);
MP_EXTERN mp_status mp_mdict_set(mp_proxy *d, const mp_value *key, const mp_value *val);
MP_EXTERN mp_status mp_mdict_del(mp_proxy *d, const mp_value *key);
MP_EXTERN mp_status mp_mdict_contains(mp_proxy *d, const mp_value *key, bool *in);
MP_EXTERN mp_status mp_mdict_len(mp_proxy *d, size_t *len);
MP_EXTERN mp_status mp_mdict_keys(mp_proxy *d, mp_value **list);
MP_EXTERN mp_status mp_mdict_values(mp_proxy *d, mp_value **list);
MP_EXTERN mp_status mp_mdict_items(mp_proxy *d, mp_value **list);
MP_EXTERN mp_status mp_mdict_update(mp_proxy *d, const mp_value *dict);
MP_EXTERN mp_status mp_mdict_pop(mp_proxy *d, const mp_value *key, const mp_value *dflt,
                                 mp_value **val);
MP_EXTERN mp_status mp_mdict_setdefault(mp_proxy *d, const mp_value *key, const mp_value *dflt,
                                        mp_value **val);
MP_EXTERN mp_status mp_mdict_clear(mp_proxy *d);
MP_EXTERN mp_status mp_mdict_copy(mp_proxy *d, mp_value **dict);

/* list proxy.  Indexes count from the end when negative [MGR-LIST-NEGATIVE-INDEX];
 * out of range is MP_EINDEX [MGR-LIST-INDEX-ERROR]; remove/index of a missing
 * item is MP_EINVAL (ValueError) [MGR-LIST-REMOVE-INDEX-COUNT].  Slices follow
 * Python's l[start:stop:step], MP_SLICE_NONE standing for an omitted bound
 * [MGR-LIST-SLICE], step 0 being MP_EINVAL (ValueError) [BAD-MANAGER-ARGS]; sort is stable,
 * MP_ETYPE for unorderable items [MGR-LIST-SORT]. */
#define MP_SLICE_NONE PTRDIFF_MIN
/* append(item), extend(list or tuple; else MP_ETYPE) [MGR-LIST-APPEND-EXTEND]. */
MP_EXTERN mp_status mp_mlist_append(mp_proxy *l, const mp_value *item);
MP_EXTERN mp_status mp_mlist_extend(mp_proxy *l, const mp_value *seq);
MP_EXTERN mp_status mp_mlist_insert(mp_proxy *l, ptrdiff_t i, const mp_value *item);
/* pop(i); pop() is pop(-1).  Empty list: MP_EINDEX [MGR-LIST-POP-INSERT]. */
MP_EXTERN mp_status mp_mlist_pop(mp_proxy *l, ptrdiff_t i, mp_value **item);
MP_EXTERN mp_status mp_mlist_remove(mp_proxy *l, const mp_value *item);
MP_EXTERN mp_status mp_mlist_index(mp_proxy *l, const mp_value *item, size_t *index);
MP_EXTERN mp_status mp_mlist_count(mp_proxy *l, const mp_value *item, size_t *count);
MP_EXTERN mp_status mp_mlist_get(mp_proxy *l, ptrdiff_t i, mp_value **item);
MP_EXTERN mp_status mp_mlist_set(mp_proxy *l, ptrdiff_t i, const mp_value *item);
MP_EXTERN mp_status mp_mlist_del(mp_proxy *l, ptrdiff_t i);
MP_EXTERN mp_status mp_mlist_len(mp_proxy *l, size_t *len);
MP_EXTERN mp_status mp_mlist_slice(mp_proxy *l, ptrdiff_t start, ptrdiff_t stop, ptrdiff_t step,
                                   mp_value **list);
MP_EXTERN mp_status mp_mlist_set_slice(mp_proxy *l, ptrdiff_t start, ptrdiff_t stop, ptrdiff_t step,
                                       const mp_value *seq);
MP_EXTERN mp_status mp_mlist_del_slice(mp_proxy *l, ptrdiff_t start, ptrdiff_t stop,
                                       ptrdiff_t step);
MP_EXTERN mp_status mp_mlist_copy(mp_proxy *l, mp_value **list);
MP_EXTERN mp_status mp_mlist_sort(mp_proxy *l, bool reverse);

/* Namespace proxy: a missing attribute is MP_EKEY (AttributeError)
 * [MGR-NAMESPACE-ATTRS]. */
MP_EXTERN mp_status mp_mns_get(mp_proxy *ns, const char *name, mp_value **val);
MP_EXTERN mp_status mp_mns_set(mp_proxy *ns, const char *name, const mp_value *val);
MP_EXTERN mp_status mp_mns_del(mp_proxy *ns, const char *name);

/* Value proxy [MGR-VALUE-GET-SET]. */
MP_EXTERN mp_status mp_mvalue_get(mp_proxy *v, mp_value **val);
MP_EXTERN mp_status mp_mvalue_set(mp_proxy *v, const mp_value *val);

/* Lock proxy (threading.Lock in the server): acquire MP_OK or MP_TIMEOUT
 * [MGR-LOCK-ACQUIRE-TIMEOUT] [MGR-LOCK-ACROSS-PROCESSES]; release unlocked:
 * MP_ESTATE [MGR-LOCK-RELEASE-UNLOCKED].  The server knows which connection
 * took the lock: when that connection closes while holding it (its process
 * died, exited or freed its manager handle), the lock goes to the first
 * waiter, whose acquire returns MP_EOWNERDEAD with the lock held, as a local
 * Lock's does; with nobody waiting the next acquire gets MP_EOWNERDEAD and
 * the lock (CPython's manager Lock stays held forever)
 * [MGR-LOCK-HOLDER-DISCONNECT].  Any process may still release it. */
MP_EXTERN mp_status mp_mlock_acquire(mp_proxy *l, double timeout);
MP_EXTERN mp_status mp_mlock_release(mp_proxy *l);

/* RLock, Semaphore, BoundedSemaphore and Condition proxies are acquired and
 * released with mp_mlock_acquire and mp_mlock_release too (CPython's
 * AcquirerProxy), MP_OK or MP_TIMEOUT.  An RLock (and a Condition's lock) is
 * owned by the connection that acquired it: each thread of a process uses
 * its own, so it is owned by the calling thread, as CPython's server thread
 * per connection owns it.  Its owner may acquire it again, and must release
 * it as many times; others wait until the last release
 * [MGR-RLOCK-RECURSIVE].  A release by another process or thread, or of an
 * unheld RLock, is MP_ENOTOWNER (RuntimeError) and changes nothing
 * [MGR-RLOCK-RELEASE-NOT-OWNER].  When the owner's connection closes while
 * holding it, at any depth, it goes on as a Lock's does: to the first waiter,
 * or else the next acquirer, with MP_EOWNERDEAD, held once
 * [MGR-RLOCK-HOLDER-DISCONNECT] (CPython's stays held forever).
 * A Semaphore(value) lets value acquires through; the next waits for a
 * release, from any process, or times out [MGR-SEMAPHORE-COUNT]; a
 * BoundedSemaphore's release above its initial value is MP_ESTATE
 * (ValueError) and changes nothing, a plain Semaphore's goes above it
 * [MGR-BSEM-OVER-RELEASE].
 *
 * Condition proxy (threading.Condition over an RLock in the server).
 * mp_mcond_wait releases the lock entirely, waits for a notify or the
 * timeout, then takes the lock back (with its recursion) before returning:
 * MP_OK when notified [MGR-CONDITION-NOTIFY], MP_TIMEOUT at the timeout,
 * never before it, with the lock held again [MGR-CONDITION-WAIT-TIMEOUT].
 * notify(n) wakes the n longest waiting (CPython's notify(n=1): n 0 wakes
 * none), notify_all every one [MGR-CONDITION-NOTIFY-ALL].  wait and notify
 * without holding the lock are MP_ENOTOWNER (RuntimeError)
 * [MGR-CONDITION-NOT-OWNER].  A waiter whose client is SIGKILLed is dropped:
 * a notify(1) then wakes a live waiter, not the dead one
 * [MGR-CLIENT-KILLED-COND-WAITER].  wait_for (a predicate run in the server)
 * is not offered: a C predicate cannot run there; loop on mp_mcond_wait. */
MP_EXTERN mp_status mp_mcond_wait(mp_proxy *c, double timeout);
MP_EXTERN mp_status mp_mcond_notify(mp_proxy *c, unsigned n);
MP_EXTERN mp_status mp_mcond_notify_all(mp_proxy *c);

/* Barrier proxy (threading.Barrier in the server).  mp_mbarrier_wait
 * returns MP_OK with *index (NULL: not wanted) the arrival index, 0 to
 * parties-1, once parties callers wait; then the Barrier is ready again
 * [MGR-BARRIER-WAIT].  timeout MP_FOREVER: the Barrier's own timeout.  A
 * wait that times out breaks the Barrier, never before the timeout; so does
 * abort; a wait on a broken Barrier, and every wait broken meanwhile, is
 * MP_EBROKEN (BrokenBarrierError); reset answers the waiters MP_EBROKEN
 * and makes it whole again [MGR-BARRIER-BROKEN].  A waiter whose client is
 * SIGKILLed breaks it, so that the others are answered MP_EBROKEN rather
 * than wait for a party that will never come (threading.Barrier breaks when
 * a wait is interrupted) [MGR-CLIENT-KILLED-BARRIER]. */
MP_EXTERN mp_status mp_mbarrier_wait(mp_proxy *b, double timeout, unsigned *index);
MP_EXTERN mp_status mp_mbarrier_abort(mp_proxy *b);
MP_EXTERN mp_status mp_mbarrier_reset(mp_proxy *b);
MP_EXTERN mp_status mp_mbarrier_parties(mp_proxy *b, unsigned *parties);
MP_EXTERN mp_status mp_mbarrier_n_waiting(mp_proxy *b, unsigned *n);
MP_EXTERN mp_status mp_mbarrier_broken(mp_proxy *b, bool *broken);

/* Event proxy: wait MP_OK when set, else MP_TIMEOUT [MGR-EVENT-WAIT-SET]
 * [MGR-EVENT-WAIT-TIMEOUT].  One set releases every process blocked in wait,
 * not only the first [MGR-EVENT-SET-WAKES-ALL]. */
MP_EXTERN mp_status mp_mevent_set(mp_proxy *e);
MP_EXTERN mp_status mp_mevent_clear(mp_proxy *e);
MP_EXTERN mp_status mp_mevent_is_set(mp_proxy *e, bool *set);
MP_EXTERN mp_status mp_mevent_wait(mp_proxy *e, double timeout);

/* Queue proxy (queue.Queue in the server): MP_FULL / MP_EMPTY at the
 * deadline [MGR-QUEUE-PUT-GET] [MGR-QUEUE-GET-TIMEOUT] [MGR-QUEUE-PUT-FULL]
 * [MGR-QUEUE-GET-WOKEN]. */
MP_EXTERN mp_status mp_mqueue_put(mp_proxy *q, const mp_value *item, double timeout);
MP_EXTERN mp_status mp_mqueue_get(mp_proxy *q, mp_value **item, double timeout);
MP_EXTERN mp_status mp_mqueue_qsize(mp_proxy *q, size_t *n);
/* JoinableQueue proxy: put, get and qsize are mp_mqueue_*; task_done and
 * join work on a Queue proxy too (both are queue.Queue in CPython's
 * server).  mp_mqueue_join
 * waits until task_done was called once for every item put, MP_OK, or
 * MP_TIMEOUT at the timeout (CPython's join has none: MP_FOREVER)
 * [MGR-JQ-TASK-DONE-JOIN]; task_done more often than items were put is
 * MP_ESTATE (ValueError) [MGR-JQ-TASK-DONE-TOO-MANY]. */
MP_EXTERN mp_status mp_mqueue_task_done(mp_proxy *q);
MP_EXTERN mp_status mp_mqueue_join(mp_proxy *q, double timeout);

/* Array proxy (array.array in the server): get and set an item (i < 0
 * counts from the end), len, and tolist (a list of all items)
 * [MGR-ARRAY-GET-SET]; an index out of range is MP_EINDEX (IndexError), an
 * item of the wrong type MP_ETYPE, and neither changes anything
 * [MGR-ARRAY-INDEX-ERROR].  Slices are not offered (tolist, then slice). */
MP_EXTERN mp_status mp_marray_get(mp_proxy *a, ptrdiff_t i, mp_value **item);
MP_EXTERN mp_status mp_marray_set(mp_proxy *a, ptrdiff_t i, const mp_value *item);
MP_EXTERN mp_status mp_marray_len(mp_proxy *a, size_t *len);
MP_EXTERN mp_status mp_marray_tolist(mp_proxy *a, mp_value **list);

/* Iterating, iter(proxy): mp_mdict_iter (over the keys) and mp_mlist_iter
 * make an iterator object on the server, which holds the dict or list alive,
 * and an "Iterator" proxy on it (free it with mp_proxy_free).
 * mp_proxy_iter_next gives the next key or item (the caller's), then MP_EOF
 * at the end and on every call after it [MGR-LIST-ITER] [MGR-DICT-ITER].  A
 * list iterator reads the list as it is at each step: an item set meanwhile
 * is what it gives [MGR-LIST-ITER-SEES-CHANGES]; a dict whose size is no longer
 * what it was when the iterator was made is MP_ESTATE (RuntimeError:
 * dictionary changed size during iteration), on that call and every later
 * one [MGR-DICT-ITER-CHANGED-SIZE].  mp_proxy_iter_next on a proxy that is
 * not an iterator is MP_EINVAL, like every typed call on another type. */
MP_EXTERN mp_status mp_mdict_iter(mp_proxy *d, mp_proxy **it);
MP_EXTERN mp_status mp_mlist_iter(mp_proxy *l, mp_proxy **it);
MP_EXTERN mp_status mp_proxy_iter_next(mp_proxy *it, mp_value **item);

/* Proxies inside proxies (CPython stores a proxy in a managed dict or list,
 * and reading it back gives a proxy to the same object).  mp_mdict_set_proxy
 * (d[key] = proxy) and mp_mlist_append_proxy store a reference to the object
 * of any proxy of the same server (another server's: MP_EINVAL); the
 * container holds the object from then on.  mp_mdict_get_proxy and
 * mp_mlist_get_proxy read it back as a new proxy (the caller's, freed with
 * mp_proxy_free) on that same object: a change through either proxy is seen
 * through the other, also after every other proxy of the object was freed
 * [MGR-PROXY-IN-DICT] [MGR-PROXY-IN-LIST]; a Queue stored so is the same
 * queue [MGR-QUEUE-IN-CONTAINER].  An object a container refers to lives at
 * least as long as the container: until the container is released, even
 * when the item is replaced or removed (CPython keeps it until the server
 * ends); releasing the container releases what only it held, a chain of any
 * length included, and a container holding itself is kept until the server
 * ends [MGR-PROXY-REF-LIFETIME].  Read with the ordinary calls (get, copy,
 * items, pop, iteration), a stored proxy is the tuple ("<proxy>", typeid, oid);
 * a tuple like it stored as a value is a plain tuple, and mp_*_get_proxy of an
 * item that is not a stored proxy is MP_ETYPE [MGR-PROXY-REF-PLAIN]. */
MP_EXTERN mp_status mp_mdict_set_proxy(mp_proxy *d, const mp_value *key, mp_proxy *val);
MP_EXTERN mp_status mp_mdict_get_proxy(mp_proxy *d, const mp_value *key, mp_proxy **out);
MP_EXTERN mp_status mp_mlist_append_proxy(mp_proxy *l, mp_proxy *item);
MP_EXTERN mp_status mp_mlist_get_proxy(mp_proxy *l, ptrdiff_t i, mp_proxy **out);

#ifdef __cplusplus
}
#endif
#endif /* MP_H */
