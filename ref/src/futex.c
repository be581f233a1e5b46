/* Process-shared futex waits.  FUTEX_WAIT_BITSET takes an absolute
 * CLOCK_MONOTONIC deadline, so spurious wake-ups and EINTR never shorten the
 * total wait: the caller loops and the kernel compares against the same
 * deadline. */
#include "mp_internal.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

mp_status mp__futex_wait(_Atomic uint32_t *addr, uint32_t expected, const mp__deadline *d)
{
    const struct timespec *ts = d->forever ? NULL : &d->at;
    long r = syscall(SYS_futex, addr, FUTEX_WAIT_BITSET, expected, ts, NULL,
                     FUTEX_BITSET_MATCH_ANY);
    if (r == -1 && errno == ETIMEDOUT)
        return MP_TIMEOUT;
    return MP_OK; /* woken, value changed (EAGAIN) or EINTR: caller re-checks */
}

/* Contract in mp_internal.h.  FUTEX_WAIT's timeout is relative (measured on
 * CLOCK_MONOTONIC by the kernel): no clock read here. */
mp_status mp__futex_wait_for(_Atomic uint32_t *addr, uint32_t expected, double secs)
{
    struct timespec ts = {.tv_sec = (time_t)secs,
                          .tv_nsec = (long)((secs - (double)(time_t)secs) * 1e9)};
    long r = syscall(SYS_futex, addr, FUTEX_WAIT, expected, &ts, NULL, 0);
    if (r == -1 && errno == ETIMEDOUT)
        return MP_TIMEOUT;
    return MP_OK;
}

void mp__futex_wake(_Atomic uint32_t *addr, int n)
{
    syscall(SYS_futex, addr, FUTEX_WAKE, n, NULL, NULL, 0);
}

/* Contract in mp_internal.h.  The kernel ORs bits into *addr under the
 * futex's hash-bucket lock, then wakes up to n sleepers on addr; the second
 * address is the same word, with no second wake (nr_wake2 = 0).  bits fits
 * the op's 12-bit argument.  A kernel without the op (ENOSYS: none that runs
 * on x86-64 or arm64) gets the two steps one after the other. */
void mp__futex_or_wake(_Atomic uint32_t *addr, uint32_t bits, int n)
{
    if (syscall(SYS_futex, addr, FUTEX_WAKE_OP, n, (void *)0, addr,
                FUTEX_OP(FUTEX_OP_OR, bits, FUTEX_OP_CMP_EQ, 0)) == -1) {
        atomic_fetch_or(addr, bits);
        mp__futex_wake(addr, n);
    }
}
