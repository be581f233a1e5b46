/* The one waiting path of the library: spin, optionally yield, then sleep on
 * a futex in liveness slices -- and the one table of its tunings.
 *
 * A waiter first spins on a cheap check: a wake-up through the kernel costs
 * a system call on each side and a context switch, so a peer that answers
 * within a few microseconds is cheaper to wait out.  mp__spin_until() is
 * that spin; a tuning (mp__wait_tunings below) says how long it lasts (tries
 * or seconds), whether it gives the CPU away between tries, and whether it is
 * adaptive: spin only if the previous wait was short (mp__spinner.last), so
 * that a thread whose waits are whole round trips sleeps at once and leaves
 * the CPU to the one with work; and a spinner that yields stops spinning for
 * a while when its yields show the CPUs crowded (mp__crowd_rule).  Then the
 * caller raises its "someone sleeps" flag by its own protocol and sleeps with
 * mp__nap(), which never sleeps past one liveness slice: a waker killed
 * between its store and its FUTEX_WAKE costs a sleeper one slice, not the
 * whole wait (sync.c, queue.c explain why no ordering of the steps can avoid
 * that window).  The Event closes the window instead: its state and its
 * "someone sleeps" flag are one word, and a set that finds sleepers changes
 * the word and wakes them in one system call (mp__futex_or_wake), so its
 * untimed waits sleep with no slice.
 *
 * Users: sync.c (lock, semaphore, event), sync_cond.c (condition, barrier),
 * queue.c (data/room/join waits), pool.c (workers, handler, result waits),
 * manager_client.c (a client's reply), manager_loop.c (the server's epoll)
 * and pipe_recv.c (a receiver whose peer answers promptly). */
#ifndef MP_WAIT_H
#define MP_WAIT_H

#include "mp_internal.h"

#include <errno.h>
#include <math.h>
#include <sched.h>
#include <sys/socket.h>

/* One pause of a spin loop: tells the CPU (and a hypervisor) that this is a
 * busy-wait, which saves power and hands the core's resources to an SMT
 * sibling -- perhaps the very peer we wait for. */
static inline void mp__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* How one kind of waiter spins.  Either a budget in tries (iters: no clock
 * read, for checks of a few ns) or in seconds (budget_s, the clock read
 * every clock_every tries, a power of 2). */
typedef struct mp__spin_tuning {
    unsigned iters;       /* budget in tries; 0: budget_s instead */
    double budget_s;      /* budget in seconds (needs an mp__spinner) */
    unsigned clock_every; /* read the clock every this many tries (power of 2) */
    double gate_s;        /* adaptive: spin only if the previous wait took <= this */
    double yield_after_s; /* past this, sched_yield() at each clock read */
    bool yield;           /* sched_yield() between tries, not mp__cpu_relax() */
    bool look_once;       /* gate shut: still try once (a cheap check; not a syscall) */
    double crowd_yield_s; /* yielding: a yield longer than this that did not run the peer
                           * counts toward crowding (mp__crowd_rule); 0: only one past
                           * its alone_s */
    unsigned look_every;  /* ready() only every this many tries (a power of 2; 0: every
                           * try): a look that costs the peer and need not be prompt */
} mp__spin_tuning;

/* When a yielding spinner takes the CPUs to be crowded, and stops.  A
 * sched_yield() that returns late ran another thread; if the next look still
 * finds nothing ready, that thread was not the peer (a peer on our CPU would
 * have answered: yielding to it is a cheap hand-over).  With more runnable
 * threads than CPUs each poll takes a turn from a thread with work, and a
 * yield may hand a CPU-bound thread its whole time slice (milliseconds)
 * while the peer waits; a waiter asleep in the kernel is woken at once.
 *
 * Such a yield counts when it lasts over the tuning's crowd_yield_s, and
 * count of them end the spin; one over alone_s (a CPU-bound thread's slice:
 * threads that work with us block sooner) ends it alone, for every yielding
 * spinner.  The waiter then sleeps at once on every wait for hold_s, or
 * hold_per times the longest such yield if that is longer: a probe that lost
 * y comes back after 100 y, so beside CPU-bound work polling wastes about 1%
 * of the time.  One short late yield is not enough: an interrupt lengthens
 * one now and then on an idle machine too.
 *
 * Measured on 2 vCPUs, alternating rounds against the code before (the
 * ping-pongs by the round's wall time per round trip):
 * - beside two busy loops: Manager dict.set from one client 0.5 k -> 6-46 k
 *   calls/s (CPython 5-22 k; a 5 ms yield came about once in 100), four
 *   clients 2-4.5 k -> 6-30 k (CPython 9-22 k); Event ping-pong stalled in
 *   6 of 8 rounds (31-92 us per round trip) -> none (10-13 us, the futex
 *   11-58 us);
 * - Event ping-pong, 4 pairs (8 processes): 0.95-1.04x the blocking futex
 *   round trip -> 0.73-0.84x (three runs of 24-30 rounds; the timed pair's
 *   p99 103-157 us against 116-136); with count 1, one pair fell to blocking
 *   round trips (11-13 us against 1.8) half of the time;
 * - unchanged: one Event pair (1.9 -> 2.0 us), the Pipe (one pair 0.30x the
 *   socketpair, 4 pairs 1.07 -> 1.03x, noise), Manager 4 and 8 clients on
 *   an idle machine (0.91-1.01x in four runs of 12 rounds).  The Manager and
 *   the Pipe count only yields past alone_s: a manager client yields to the
 *   server and the other clients, whose work it waits for. */
static const struct mp__crowd_rule {
    unsigned count;
    double alone_s;
    double hold_s;
    double hold_per;
} mp__crowd_rule = {.count = 2, .alone_s = 1e-3, .hold_s = 10e-3, .hold_per = 100};

/* The tunings, one per use, each with where it was measured.  A change of
 * policy is an edit here.  (static const in a header: every field is a
 * compile-time constant at each use, so the spins compile as before.) */
static const struct mp__wait_tunings {
    /* mp_lock acquire (sync.c): 100 CAS tries, stopping early once another
     * waiter sleeps.  A critical section of a few hundred ns is cheaper to
     * wait out than a futex round trip; 100 is from the first snapshot
     * (28fbea2), not measured since. */
    mp__spin_tuning lock;
    /* Semaphore acquire (sync.c): as lock. */
    mp__spin_tuning sem;
    /* Event wait (sync.c): up to 50 us of polls with a sched_yield()
     * between them, adaptive as the manager's -- a waiter whose previous
     * wait was short (a ping-pong: the peer sets within a round trip)
     * catches the set without a futex sleep, and the setter makes no
     * FUTEX_WAKE (the waiter is not counted while it polls); a waiter whose
     * waits are long sleeps at once.  Yielding, not pausing: on 2 loaded
     * vCPUs a pausing spinner held the CPU its setter needed (ping-pong
     * 11 us -> 62 us); yielding kept it at 10 us, and on idle CPUs the set
     * is seen within a poll.  A yield over 5 us counts toward crowding
     * (mp__crowd_rule): the thread it ran was another pair's, not the
     * setter's. */
    mp__spin_tuning event;
    /* A queue waiting for data, room or a stream chunk (queue.c): 4000 tries,
     * about 10-40 us before the futex sleep.  From the first snapshot
     * (28fbea2); queue.latency idle_us=0 is the figure it serves. */
    mp__spin_tuning queue;
    /* A producer waiting for room in a ring full by bytes (queue.c,
     * room_want): as queue, but it looks at rpos only every 256th try
     * (about 5 us here).  Each look takes rpos's line, which the consumer
     * writes on every get, out of the consumer's cache, and the consumer's
     * next commit waits for it; the producer waits for 64 KiB of room, so
     * a late look costs it nothing.  1 -> 1 64 B with a consumer that works
     * 300 loop turns a message: 2.6 -> 6.5 M msg/s (medians of 5 rounds;
     * every 64th try: 5.9; in single rounds, the 64 KiB mark looked at on
     * every try 3.7, every 64th try without the mark 2.7-3.2: both parts
     * are needed). */
    mp__spin_tuning queue_room;
    /* Pool threads (pool.c: idle worker, handler, apply/get waits): 50 us,
     * adaptive with the same gate.  A futex or eventfd wake costs a system
     * call on each side and a context switch (about 5 us each on a
     * paravirtualised machine); a pipeline that keeps moving within this
     * window makes none.  In a ping-pong such as apply() every wait is a
     * whole round trip, so the gate shuts and the threads sleep at once. */
    mp__spin_tuning pool;
    /* A pool worker spinning while a lower-numbered worker spins too (a
     * spare): past 20 us it yields its CPU at each clock read, to the
     * submitter or handler that would otherwise wait for it.  Pool(2)
     * apply_async on 2 vCPUs: 150 k -> 300 k tasks/s (04a1e3f); the last
     * spinner stays prompt, so one worker, apply() and map() are unchanged. */
    mp__spin_tuning pool_spare;
    /* Manager client waiting for its reply, server waiting in epoll
     * (manager.c, manager_server.c): polls the non-blocking syscall with a
     * sched_yield() between tries for up to 50 us, only while the previous
     * wait took <= 1 ms (the peer is busy calling); the clock every 4 tries.
     * dict.set from one client 29 k -> 77 k calls/s on 2 vCPUs, ten clients
     * on two CPUs 66 k calls/s (45 k without polling) (9111bf3).  The caller
     * sets mp__spinner.off on one CPU: the poller would hold the CPU its
     * peer needs.  Only yields past alone_s count toward crowding
     * (mp__crowd_rule). */
    mp__spin_tuning mgr;
    /* A Pipe or Listener connection's receiver (pipe_recv.c): as event -- polls
     * the non-blocking read for up to 50 us, yielding between tries, only
     * while the previous wait took <= 50 us, and never on one CPU.  The
     * manager's 1 ms gate kept 4 ping-ponging pairs on 2 CPUs polling
     * (their round trips 70-110 us): 1.1-1.6x the blocking round trip,
     * where event's 50 us gate lost nothing (#16's no-loss rows).  Only
     * yields past alone_s count toward crowding (mp__crowd_rule). */
    mp__spin_tuning pipe;
    /* Longest futex sleep of every waiter that may outlive a killed waker
     * (mp__nap; the queue's data/room/join waits).  One re-check per 0.1 s
     * of an idle wait is noise; a dead waker costs a survivor one slice. */
    double liveness_slice_s;
} mp__wait_tunings = {
    .lock = {.iters = 100},
    .sem = {.iters = 100},
    .event = {.budget_s = 50e-6,
              .clock_every = 4,
              .gate_s = 50e-6,
              .yield_after_s = INFINITY,
              .yield = true,
              .crowd_yield_s = 5e-6},
    .queue = {.iters = 4000},
    .queue_room = {.iters = 4000, .look_every = 256},
    .pool = {.budget_s = 50e-6,
             .clock_every = 32,
             .gate_s = 50e-6,
             .yield_after_s = INFINITY,
             .look_once = true},
    .pool_spare = {.budget_s = 50e-6,
                   .clock_every = 32,
                   .gate_s = 50e-6,
                   .yield_after_s = 20e-6,
                   .look_once = true},
    .mgr = {.budget_s = 50e-6,
            .clock_every = 4,
            .gate_s = 1e-3,
            .yield_after_s = INFINITY,
            .yield = true},
    .pipe = {.budget_s = 50e-6,
             .clock_every = 4,
             .gate_s = 50e-6,
             .yield_after_s = INFINITY,
             .yield = true},
    .liveness_slice_s = 0.1,
};

/* The memory of an adaptive waiter (one per waiting thread or connection;
 * zero-initialised is ready to use). */
typedef struct mp__spinner {
    double last;        /* seconds the previous wait took: gates the next spin */
    double start;       /* when the current wait began (set by mp__spin_until) */
    double quiet_until; /* no spin before this (mp__crowd_rule) */
    bool off;           /* never spin (e.g. one CPU); the gate stays shut */
} mp__spinner;

/* Spin until ready(arg) is true, within the budget of t; true if it became
 * ready, false when the budget ran out (or the gate was shut): the caller
 * then sleeps by its own protocol and, when it wakes, calls
 * mp__spin_slept().  ready() may be a load, a CAS that takes the object
 * (its result kept in *arg), or a non-blocking system call (errno is as it
 * left it on a true return).
 *
 * st: an adaptive waiter's memory, or NULL for a budget in tries (no gate,
 * no clock).  With st: st->start is set to now; the spin runs only if
 * !st->off and st->last <= t->gate_s (else, with t->look_once, ready() is
 * tried once -- without reopening the gate); a spin that ends ready sets
 * st->last to its length.
 *
 * Per try: ready() (with t->look_every, only every look_every-th try), then
 * mp__cpu_relax() or sched_yield() (t->yield; with st, timed for
 * mp__crowd_rule, which may end the spin and set st->quiet_until: no spin
 * before then, as with the gate shut), and every t->clock_every
 * tries a clock read that ends the spin at t->budget_s and yields past
 * t->yield_after_s.  Inline so that a static ready() and the tuning's
 * constants fold into the caller's loop. */
static inline __attribute__((always_inline)) bool
mp__spin_until(mp__spinner *st, const mp__spin_tuning *t, bool (*ready)(void *), void *arg)
{
    double start = 0;
    if (st) {
        if (st->off) /* no clock read: mp__spin_slept() skips it too */
            return t->look_once && ready(arg);
        st->start = start = mp__now();
        if (st->last > t->gate_s || start < st->quiet_until)
            return t->look_once && ready(arg);
    }
    unsigned crowded = 0; /* yields that ran another thread, not the peer */
    double longest = 0;   /* the longest of them */
    for (unsigned k = 1;; k++) {
        if ((t->look_every <= 1 || (k & (t->look_every - 1)) == 0) && ready(arg)) {
            if (st)
                st->last = mp__now() - start;
            return true;
        }
        if (crowded >= mp__crowd_rule.count) {
            st->quiet_until = mp__now() +
                              fmax(mp__crowd_rule.hold_s, mp__crowd_rule.hold_per * longest);
            return false;
        }
        if (t->yield && st) {
            double y = mp__now();
            sched_yield();
            y = mp__now() - y;
            bool alone = y > mp__crowd_rule.alone_s; /* a CPU-bound thread's slice */
            if (alone || (t->crowd_yield_s > 0 && y > t->crowd_yield_s)) {
                crowded += alone ? mp__crowd_rule.count : 1;
                longest = fmax(longest, y);
            }
        } else if (t->yield)
            sched_yield();
        else
            mp__cpu_relax();
        if (t->iters) {
            if (k >= t->iters)
                return false;
        } else if ((k & (t->clock_every - 1)) == 0) {
            double e = mp__now() - start;
            if (e >= t->budget_s)
                return false;
            if (e >= t->yield_after_s)
                sched_yield();
        }
    }
}

/* A socket polled by mp__spin_until: mp__recv_ready(&try) is one
 * non-blocking recv() of up to n bytes into buf, ready unless it said EAGAIN
 * (data, EOF, or an error -- left in errno -- that the caller's blocking call
 * then reports).  Used by the manager client and Pipe receivers. */
typedef struct mp__recv_try {
    int fd;
    void *buf;
    size_t n;
    ssize_t r; /* the recv's result */
} mp__recv_try;

static inline bool mp__recv_ready(void *arg)
{
    mp__recv_try *a = arg;
    a->r = recv(a->fd, a->buf, a->n, MSG_DONTWAIT);
    return a->r >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
}

/* After a sleep that followed mp__spin_until(st, ...): the whole wait, spin
 * included, is what gates the next spin.  A waiter that may not spin
 * (st->off) keeps its last figure and reads no clock. */
static inline void mp__spin_slept(mp__spinner *st)
{
    if (!st->off)
        st->last = mp__now() - st->start;
}

/* now + secs, but no later than d (NULL: no deadline).  True when d is the
 * earlier, i.e. the slice ends at the caller's deadline. */
MP__HIDDEN bool mp__deadline_slice(const mp__deadline *d, double secs, mp__deadline *out);

/* Sleep while *w == val (FUTEX_WAIT), until d or the end of one liveness
 * slice, whichever is first: MP__NAP_WOKEN (woken, value changed or EINTR),
 * MP__NAP_SLICE (the slice ran out: re-check, look at the peers' liveness,
 * raise the flag again and nap again) or MP__NAP_DEADLINE. */
enum mp__nap { MP__NAP_WOKEN, MP__NAP_SLICE, MP__NAP_DEADLINE };
MP__HIDDEN enum mp__nap mp__nap(_Atomic uint32_t *w, uint32_t val, const mp__deadline *d);

#endif
