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
 *                            (get(True, -1) raises queue.Empty at once).
 *   NaN                      MP_EINVAL.
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
 * mp_strerror() are generated from it. */
#define MP_STATUS_MAP(X)                                                       \
    X(OK, "-", "success")                                                      \
    X(EINVAL, "ValueError/TypeError", "invalid argument")                     \
    X(ENOMEM, "MemoryError", "out of memory")                                  \
    X(ENOTSUP, "-", "not supported by this implementation")                   \
    X(CLOSED, "ValueError/OSError", "handle is closed")                       \
    X(FULL, "queue.Full", "queue is full")                                     \
    X(EMPTY, "queue.Empty", "queue is empty")                                  \
    X(TIMEOUT, "TimeoutError / False", "timed out")                           \
    X(EOF, "EOFError", "end of file: the peer closed its end")                \
    X(ESTATE, "AssertionError/ValueError", "operation not valid in this state") \
    X(ENOTOWNER, "AssertionError/RuntimeError", "not owned by the caller")    \
    X(EBROKEN, "BrokenBarrierError", "barrier is broken")                     \
    X(EMSGSIZE, "ValueError/OSError", "message too large")                     \
    X(EACCES, "OSError", "wrong direction for this connection end")           \
    X(EOWNERDEAD, "-", "acquired, but the previous owner died holding it")   \
    X(EPROTO, "EOFError/UnpicklingError", "malformed or truncated data")      \
    X(EKEY, "KeyError", "key not found")                                       \
    X(EINDEX, "IndexError", "index out of range")                              \
    X(ETYPE, "TypeError", "wrong value type")                                  \
    X(EREMOTE, "RemoteError / task exception", "error raised by the peer")    \
    X(EWORKERLOST, "- (CPython hangs)", "worker process died")                \
    X(EDEAD, "EOFError/ConnectionError", "peer process is gone")              \
    X(EAUTH, "AuthenticationError", "authentication failed")                  \
    X(EOS, "OSError", "operating system error")

typedef enum mp_status {
#define MP__X(n, py, msg) MP_##n,
    MP_STATUS_MAP(MP__X)
#undef MP__X
    MP__STATUS_COUNT
} mp_status;

/* "MP_EMPTY" for MP_EMPTY; "MP_UNKNOWN" for a value outside the table. */
MP_EXTERN const char *mp_status_name(mp_status s);
/* "queue is empty" for MP_EMPTY; "unknown status" outside the table. */
MP_EXTERN const char *mp_strerror(mp_status s);
/* Detail of the calling thread's last failure, e.g. "queue.get: timed out
 * after 0.300 s".  Never NULL; "" before any failure. */
MP_EXTERN const char *mp_errmsg(void);

/* ---------------------------------------------------------------- timeouts */

#define MP_FOREVER ((double)INFINITY)
#define MP_NOWAIT 0.0

/* ----------------------------------------------------------------- process */

typedef struct mp_process mp_process;

/* Python's Process(target=f, args=(arg,)).  The return value of the target is
 * the child's exit code (a C main()'s convention; Python's target returns None
 * and exits 0).  The child flushes stdio and calls _exit(): the parent's
 * atexit handlers do not run in it, as with CPython's fork start method. */
typedef int (*mp_target_fn)(void *arg);
/* The "subclass with run() overridden" form: run receives its own process
 * handle (for mp_process_data(), mp_process_name(), ...). */
typedef int (*mp_run_fn)(mp_process *self);

#define MP_EXITCODE_NONE INT32_MIN /* exitcode of a process not yet ended */

MP_EXTERN mp_status mp_process_new(mp_process **out, mp_target_fn target, void *arg);
MP_EXTERN mp_status mp_process_new_run(mp_process **out, mp_run_fn run, void *data);
MP_EXTERN mp_status mp_process_data(const mp_process *p, void **data);
/* Name defaults to "Process-N" (N counts processes made by this process);
 * setting it copies the string.  Daemon must be set before start. */
MP_EXTERN mp_status mp_process_set_name(mp_process *p, const char *name);
MP_EXTERN mp_status mp_process_name(const mp_process *p, const char **name);
MP_EXTERN mp_status mp_process_set_daemon(mp_process *p, bool daemon);
MP_EXTERN mp_status mp_process_daemon(const mp_process *p, bool *daemon);
/* Start once: a second start is MP_ESTATE. */
MP_EXTERN mp_status mp_process_start(mp_process *p);
/* MP_OK when the process has ended (exitcode then known), MP_TIMEOUT when it
 * is still running at the deadline.  Join before start, or of the calling
 * process itself, is MP_ESTATE. */
MP_EXTERN mp_status mp_process_join(mp_process *p, double timeout);
MP_EXTERN mp_status mp_process_is_alive(mp_process *p, bool *alive);
/* 0 before start. */
MP_EXTERN mp_status mp_process_pid(const mp_process *p, pid_t *pid);
/* MP_EXITCODE_NONE while running or before start; else 0, the exit status, or
 * minus the number of the signal that ended it (-15 after terminate). */
MP_EXTERN mp_status mp_process_exitcode(mp_process *p, int *code);
/* SIGTERM / SIGKILL.  Before start: MP_ESTATE.  After the end: no effect. */
MP_EXTERN mp_status mp_process_terminate(mp_process *p);
MP_EXTERN mp_status mp_process_kill(mp_process *p);
/* Release the process's resources; MP_ESTATE while it runs.  Idempotent; every
 * other call afterwards returns MP_CLOSED. */
MP_EXTERN mp_status mp_process_close(mp_process *p);
/* Free the handle.  A child still running is not lost: it is joined (or, if
 * daemonic, terminated) when the parent exits, as CPython does. */
MP_EXTERN void mp_process_free(mp_process *p);

/* The calling process: "MainProcess" in the top process, the name of the
 * mp_process in a child.  Parent pid as getppid(). */
MP_EXTERN const char *mp_current_name(void);
MP_EXTERN pid_t mp_current_pid(void);
MP_EXTERN pid_t mp_parent_pid(void);
MP_EXTERN int mp_cpu_count(void);

/* ---------------------------------------------------------- synchronisation */
/* All shared with processes started after they were made.  Lock and RLock
 * share one type, as do Semaphore and BoundedSemaphore. */

typedef struct mp_lock mp_lock;
typedef struct mp_semaphore mp_semaphore;
typedef struct mp_condition mp_condition;
typedef struct mp_event mp_event;
typedef struct mp_barrier mp_barrier;

/* Lock: any process may release it; release when unlocked is MP_ESTATE
 * (ValueError).  RLock: owned by the acquiring thread, re-entrant; release by
 * another thread or process is MP_ENOTOWNER (AssertionError).
 * acquire: MP_OK, or MP_TIMEOUT (Python's False).  If the holder died holding
 * the lock, the waiter that takes it over gets MP_EOWNERDEAD and holds it. */
MP_EXTERN mp_status mp_lock_new(mp_lock **out);
MP_EXTERN mp_status mp_rlock_new(mp_lock **out);
MP_EXTERN mp_status mp_lock_acquire(mp_lock *l, double timeout);
MP_EXTERN mp_status mp_lock_release(mp_lock *l);
MP_EXTERN mp_status mp_lock_locked(mp_lock *l, bool *locked);
MP_EXTERN void mp_lock_free(mp_lock *l);

/* Semaphore(value) / BoundedSemaphore(value): over-release of a bounded one is
 * MP_ESTATE (ValueError). */
MP_EXTERN mp_status mp_semaphore_new(mp_semaphore **out, unsigned value);
MP_EXTERN mp_status mp_bounded_semaphore_new(mp_semaphore **out, unsigned value);
MP_EXTERN mp_status mp_semaphore_acquire(mp_semaphore *s, double timeout);
MP_EXTERN mp_status mp_semaphore_release(mp_semaphore *s);
MP_EXTERN mp_status mp_semaphore_value(mp_semaphore *s, unsigned *value);
MP_EXTERN void mp_semaphore_free(mp_semaphore *s);

/* Condition(lock): lock NULL makes a new RLock, owned by the condition;
 * otherwise the lock must outlive the condition.  wait/notify without holding
 * the lock: MP_ENOTOWNER.  wait: MP_OK when notified, MP_TIMEOUT otherwise;
 * the lock is held again on return either way.  notify(n) wakes at most n
 * waiters, notify_all every waiter present. */
typedef bool (*mp_predicate_fn)(void *arg);
MP_EXTERN mp_status mp_condition_new(mp_condition **out, mp_lock *lock);
MP_EXTERN mp_status mp_condition_acquire(mp_condition *c, double timeout);
MP_EXTERN mp_status mp_condition_release(mp_condition *c);
MP_EXTERN mp_status mp_condition_wait(mp_condition *c, double timeout);
/* MP_OK once pred(arg) is true, MP_TIMEOUT if still false at the deadline. */
MP_EXTERN mp_status mp_condition_wait_for(mp_condition *c, mp_predicate_fn pred,
                                          void *arg, double timeout);
MP_EXTERN mp_status mp_condition_notify(mp_condition *c, unsigned n);
MP_EXTERN mp_status mp_condition_notify_all(mp_condition *c);
MP_EXTERN void mp_condition_free(mp_condition *c);

/* Event: wait returns MP_OK when set, MP_TIMEOUT otherwise. */
MP_EXTERN mp_status mp_event_new(mp_event **out);
MP_EXTERN mp_status mp_event_set(mp_event *e);
MP_EXTERN mp_status mp_event_clear(mp_event *e);
MP_EXTERN mp_status mp_event_is_set(mp_event *e, bool *set);
MP_EXTERN mp_status mp_event_wait(mp_event *e, double timeout);
MP_EXTERN void mp_event_free(mp_event *e);

/* Barrier(parties, action, timeout).  wait stores the arrival index
 * (0..parties-1) when index is not NULL; the action runs in exactly one of the
 * released callers before any returns.  A wait that times out, an abort(),
 * or an action failing (returning non-zero) breaks the barrier: every waiter
 * and every later wait gets MP_EBROKEN until reset().  default_timeout is used
 * by mp_barrier_wait(b, MP_BARRIER_DEFAULT, ...). */
typedef int (*mp_barrier_action_fn)(void *arg);
#define MP_BARRIER_DEFAULT ((double)-INFINITY)
MP_EXTERN mp_status mp_barrier_new(mp_barrier **out, unsigned parties,
                                   mp_barrier_action_fn action, void *arg,
                                   double default_timeout);
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
 * owner; containers take ownership of what is added to them. */

typedef struct mp_value mp_value;
typedef enum mp_type {
    MP_T_NONE, MP_T_BOOL, MP_T_INT, MP_T_FLOAT, MP_T_STR, MP_T_BYTES,
    MP_T_LIST, MP_T_TUPLE, MP_T_DICT
} mp_type;

MP_EXTERN mp_value *mp_none(void);
MP_EXTERN mp_value *mp_bool(bool b);
MP_EXTERN mp_value *mp_int(int64_t i);
MP_EXTERN mp_value *mp_float(double d);
MP_EXTERN mp_value *mp_str(const char *s);               /* NUL-terminated UTF-8 */
MP_EXTERN mp_value *mp_strn(const char *s, size_t len);
MP_EXTERN mp_value *mp_bytes(const void *p, size_t len);
MP_EXTERN mp_value *mp_list(void);
MP_EXTERN mp_value *mp_tuple(void);
MP_EXTERN mp_value *mp_dict(void);
/* A list/tuple of n items, each taken over (NULL items make the call fail,
 * freeing every item given). */
MP_EXTERN mp_value *mp_list_of(size_t n, ...);
MP_EXTERN mp_value *mp_tuple_of(size_t n, ...);
MP_EXTERN void mp_value_free(mp_value *v);
MP_EXTERN mp_value *mp_value_copy(const mp_value *v);
/* Python's ==, deep (1 == 1.0 == True, NaN != NaN). */
MP_EXTERN bool mp_value_equal(const mp_value *a, const mp_value *b);
/* repr() as CPython prints it: "[42, None, 'hello']".  *out is malloc()ed. */
MP_EXTERN mp_status mp_value_repr(const mp_value *v, char **out);

MP_EXTERN mp_type mp_value_type(const mp_value *v);
MP_EXTERN mp_status mp_value_get_bool(const mp_value *v, bool *out);
MP_EXTERN mp_status mp_value_get_int(const mp_value *v, int64_t *out);
MP_EXTERN mp_status mp_value_get_float(const mp_value *v, double *out); /* int too */
MP_EXTERN mp_status mp_value_get_str(const mp_value *v, const char **s, size_t *len);
MP_EXTERN mp_status mp_value_get_bytes(const mp_value *v, const void **p, size_t *len);
/* list and tuple */
MP_EXTERN mp_status mp_seq_append(mp_value *seq, mp_value *item); /* takes item */
MP_EXTERN mp_status mp_seq_len(const mp_value *seq, size_t *len);
/* Negative indexes count from the end, as in Python; else MP_EINDEX. */
MP_EXTERN mp_status mp_seq_get(const mp_value *seq, ptrdiff_t i, const mp_value **item);
/* dict: set takes key and value (also on failure) and replaces an equal key's
 * value in place; get/del of a missing key: MP_EKEY; unhashable key: MP_ETYPE. */
MP_EXTERN mp_status mp_dict_set(mp_value *d, mp_value *key, mp_value *val);
MP_EXTERN mp_status mp_dict_get(const mp_value *d, const mp_value *key, const mp_value **val);
MP_EXTERN mp_status mp_dict_del(mp_value *d, const mp_value *key);
MP_EXTERN mp_status mp_dict_len(const mp_value *d, size_t *len);
/* i-th item in insertion order. */
MP_EXTERN mp_status mp_dict_item(const mp_value *d, size_t i, const mp_value **key,
                                 const mp_value **val);

/* The wire form (msgpack).  decode never trusts its input: depth and lengths
 * are bounded by the input size and MP_VALUE_MAX_DEPTH; bad input is MP_EPROTO. */
#define MP_VALUE_MAX_DEPTH 64
MP_EXTERN mp_status mp_value_encode(const mp_value *v, void **buf, size_t *len);
MP_EXTERN mp_status mp_value_decode(const void *buf, size_t len, mp_value **out);

/* ------------------------------------------------------------------- queue */
/* Queue(maxsize) / SimpleQueue() / JoinableQueue(maxsize).  maxsize <= 0 means
 * unbounded.  put: MP_FULL when no room by the deadline (queue.Full); get:
 * MP_EMPTY when nothing by the deadline (queue.Empty).  After close, put is
 * MP_CLOSED; items already queued can still be got.  Messages larger than
 * MP_MSG_MAX are MP_EMSGSIZE. */
typedef struct mp_queue mp_queue;
#define MP_MSG_MAX ((size_t)1 << 30)

MP_EXTERN mp_status mp_queue_new(mp_queue **out, long maxsize);
MP_EXTERN mp_status mp_simple_queue_new(mp_queue **out);
MP_EXTERN mp_status mp_joinable_queue_new(mp_queue **out, long maxsize);
MP_EXTERN mp_status mp_queue_put(mp_queue *q, const mp_value *v, double timeout);
MP_EXTERN mp_status mp_queue_get(mp_queue *q, mp_value **out, double timeout);
MP_EXTERN mp_status mp_queue_put_bytes(mp_queue *q, const void *buf, size_t len,
                                       double timeout);
MP_EXTERN mp_status mp_queue_get_bytes(mp_queue *q, void **buf, size_t *len,
                                       double timeout);
/* Approximate when other processes use the queue concurrently, as in CPython. */
MP_EXTERN mp_status mp_queue_qsize(mp_queue *q, size_t *n);
MP_EXTERN mp_status mp_queue_empty(mp_queue *q, bool *empty);
MP_EXTERN mp_status mp_queue_full(mp_queue *q, bool *full);
/* Idempotent.  Wakes blocked putters (they get MP_CLOSED). */
MP_EXTERN mp_status mp_queue_close(mp_queue *q);
/* CPython's feeder-thread controls.  put() here copies the message into shared
 * memory before it returns, so there is no feeder thread to join or cancel:
 * both return MP_OK (join_thread after close, as CPython requires, else
 * MP_ESTATE). */
MP_EXTERN mp_status mp_queue_join_thread(mp_queue *q);
MP_EXTERN mp_status mp_queue_cancel_join_thread(mp_queue *q);
/* JoinableQueue only (on another kind of queue: MP_EINVAL, Python's
 * AttributeError).  task_done more times than items put is MP_ESTATE
 * (ValueError); join waits until every item put has been task_done()d:
 * MP_OK, or MP_TIMEOUT at the deadline. */
MP_EXTERN mp_status mp_queue_task_done(mp_queue *q);
MP_EXTERN mp_status mp_queue_join(mp_queue *q, double timeout);
MP_EXTERN void mp_queue_free(mp_queue *q);

static inline mp_status mp_queue_put_nowait(mp_queue *q, const mp_value *v)
{ return mp_queue_put(q, v, MP_NOWAIT); }
static inline mp_status mp_queue_get_nowait(mp_queue *q, mp_value **out)
{ return mp_queue_get(q, out, MP_NOWAIT); }

/* -------------------------------------------------------------------- pipe */
/* Pipe(duplex): *a and *b are the two ends.  duplex false: a only receives,
 * b only sends; the wrong direction is MP_EACCES (CPython's OSError).  recv
 * blocks while nothing is there; once every copy of the peer end is closed,
 * recv returns what is still buffered, then MP_EOF.  Calls on a closed end:
 * MP_CLOSED; close is idempotent. */
typedef struct mp_conn mp_conn;

MP_EXTERN mp_status mp_pipe(mp_conn **a, mp_conn **b, bool duplex);
MP_EXTERN mp_status mp_conn_send(mp_conn *c, const mp_value *v);
MP_EXTERN mp_status mp_conn_recv(mp_conn *c, mp_value **out);
MP_EXTERN mp_status mp_conn_send_bytes(mp_conn *c, const void *buf, size_t len);
/* send_bytes(buf, offset, size): offset/size out of range: MP_EINVAL. */
MP_EXTERN mp_status mp_conn_send_bytes_range(mp_conn *c, const void *buf, size_t buflen,
                                             size_t offset, size_t size);
/* maxlength 0: no limit.  A longer message: MP_EMSGSIZE and the end is closed
 * (CPython raises OSError and closes). */
MP_EXTERN mp_status mp_conn_recv_bytes(mp_conn *c, void **buf, size_t *len,
                                       size_t maxlength);
/* Into buf + offset.  Too small: MP_EMSGSIZE, *len = the message's size, and
 * the message is kept for the next receive (CPython's BufferTooShort carries
 * it in the exception). */
MP_EXTERN mp_status mp_conn_recv_bytes_into(mp_conn *c, void *buf, size_t buflen,
                                            size_t offset, size_t *len);
/* MP_OK when a message (or EOF) is ready, MP_TIMEOUT otherwise. */
MP_EXTERN mp_status mp_conn_poll(mp_conn *c, double timeout);
MP_EXTERN mp_status mp_conn_fileno(mp_conn *c, int *fd);
MP_EXTERN mp_status mp_conn_close(mp_conn *c);
MP_EXTERN void mp_conn_free(mp_conn *c);

#ifdef __cplusplus
}
#endif
#endif /* MP_H */
