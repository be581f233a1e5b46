/* Internal pieces shared by the components of the reference implementation.
 * Prefix: mp__ for non-static internal symbols (hidden from the .so). */
#ifndef MP_INTERNAL_H
#define MP_INTERNAL_H

#include "mp.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#define MP__HIDDEN __attribute__((visibility("hidden")))
#define MP__LIKELY(x) __builtin_expect(!!(x), 1)
#define MP__UNLIKELY(x) __builtin_expect(!!(x), 0)

/* ---- errors (status.c) ----------------------------------------------------
 * Record the detail message of the calling thread and return the status, so
 * that `return mp__err(MP_EMPTY, "queue.get: nothing after %.3f s", t);` reads
 * as one statement.  mp__errno() wraps an errno value as MP_EOS (or ENOMEM). */
MP__HIDDEN mp_status mp__err(mp_status s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
MP__HIDDEN mp_status mp__errno(int err, const char *what);

/* ---- deadlines (clock.c) --------------------------------------------------
 * The one place where "a timeout never returns early" lives.  A deadline is an
 * absolute CLOCK_MONOTONIC time; `forever` when the timeout is MP_FOREVER.
 * mp__deadline_init: MP_EINVAL for NaN; negative -> 0 (CPython's rule). */
typedef struct mp__deadline {
    struct timespec at;
    bool forever;
} mp__deadline;

MP__HIDDEN mp_status mp__deadline_init(mp__deadline *d, double timeout);
/* True once the deadline has passed (never for forever). */
MP__HIDDEN bool mp__deadline_passed(const mp__deadline *d);
/* Remaining time as a relative timespec for futex/ppoll; returns false when
 * nothing remains.  *ts untouched and true returned for forever (use NULL). */
MP__HIDDEN bool mp__deadline_remaining(const mp__deadline *d, struct timespec *ts);
/* Remaining milliseconds for poll(), rounded up (never early); -1 forever. */
MP__HIDDEN int mp__deadline_poll_ms(const mp__deadline *d);
MP__HIDDEN double mp__now(void); /* CLOCK_MONOTONIC seconds */

/* ---- futex (futex.c) -------------------------------------------------------
 * Process-shared futex (no FUTEX_PRIVATE_FLAG: waiters live in several
 * processes).  wait: 0 when woken or the value differed, MP_TIMEOUT at the
 * deadline (EINTR is a wake-up: callers re-check their condition in a loop). */
MP__HIDDEN mp_status mp__futex_wait(_Atomic uint32_t *addr, uint32_t expected,
                                    const mp__deadline *d);
/* As mp__futex_wait, for at most secs (>= 0, finite) from now. */
MP__HIDDEN mp_status mp__futex_wait_for(_Atomic uint32_t *addr, uint32_t expected, double secs);
MP__HIDDEN void mp__futex_wake(_Atomic uint32_t *addr, int n);
/* *addr |= bits and wake up to n of its sleepers in ONE system call
 * (FUTEX_WAKE_OP): a caller killed at any instruction did both or neither,
 * so nobody sleeps on an old value that was changed without a wake. */
MP__HIDDEN void mp__futex_or_wake(_Atomic uint32_t *addr, uint32_t bits, int n);

/* ---- shared memory (shm.c) -------------------------------------------------
 * Anonymous MAP_SHARED memory: inherited by fork, gone when the last process
 * that maps it unmaps or exits, so nothing can leak into /dev/shm.  Zeroed. */
MP__HIDDEN mp_status mp__shm_alloc(size_t size, void **out);
MP__HIDDEN void mp__shm_free(void *p, size_t size);

/* ---- processes (process.c) -------------------------------------------------
 * Liveness of a thread or process id (tid): false only when it surely is gone. */
MP__HIDDEN bool mp__tid_alive(int32_t tid);
MP__HIDDEN int32_t mp__gettid(void);
/* True when the calling thread may run on more than one CPU: only then can
 * polling for a peer's answer beat sleeping (on one CPU the poller holds the
 * CPU the peer needs).  Cheap: the affinity is looked up again at most every
 * 100 ms. */
MP__HIDDEN bool mp__cpus_many(void);
/* Children forked outside mp_process (pool workers).  Before fork the parent
 * takes the next number of CPython's process counter and formats the child's
 * name "<prefix>-<identity>" (CPython: ForkPoolWorker-1) into *id; right after
 * fork the child adopts it.  The strings stay in *id (the child must keep it
 * alive): no allocation in the child, whose first writes to fresh heap pages
 * would each cost a copy-on-write fault. */
typedef struct mp__child_id {
    char name[96], ident[64];
} mp__child_id;
MP__HIDDEN void mp__child_prepare(mp__child_id *id, const char *prefix);
MP__HIDDEN void mp__child_adopt(mp__child_id *id);

/* ---- connections (pipe.c) --------------------------------------------------
 * mp__conn_from_fd: a duplex mp_conn owning the connected socket fd (NULL when
 * out of memory, fd left to the caller).  mp__conn_wait_check: a receive's
 * checks (MP_CLOSED, MP_EACCES), then the descriptor and whether bytes are
 * already read ahead (or the stream broken): a receive would not wait. */
MP__HIDDEN mp_conn *mp__conn_from_fd(int fd);
MP__HIDDEN mp_status mp__conn_wait_check(mp_conn *c, int *fd, bool *pending);

#endif
