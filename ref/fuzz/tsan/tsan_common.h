/* Shared helpers of the ThreadSanitizer drivers.  Criterion aborts at start
 * under TSan (Snaipe/Criterion#274), so each driver is a plain program: it
 * exercises one component from several threads, checks its results with
 * REQUIRE (exit 1 on failure) and leaves race detection to TSan (exit 66 on
 * a report, TSAN_OPTIONS exitcode). */
#ifndef TSAN_COMMON_H
#define TSAN_COMMON_H

#include "mp.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define REQUIRE(c)                                                                      \
    do {                                                                                \
        if (!(c)) {                                                                     \
            fprintf(stderr, "%s:%d: REQUIRE failed: %s (errmsg: %s)\n", __FILE__,       \
                    __LINE__, #c, mp_errmsg());                                         \
            exit(1);                                                                    \
        }                                                                               \
    } while (0)
#define OK(call) REQUIRE((call) == MP_OK)

#define NTHREADS 4

/* Tooling shim, not a fix: the TSan runtimes here (GCC 12, LLVM 14) do not
 * intercept pthread_mutex_clocklock (glibc 2.30), so a mutex taken with it
 * looks unlocked to TSan and its unlock is reported ("unlock of an unlocked
 * mutex").  Defined in the driver, this takes precedence over libc's for the
 * statically linked library and goes through the intercepted
 * pthread_mutex_timedlock with the same deadline on CLOCK_REALTIME. */
int pthread_mutex_clocklock(pthread_mutex_t *m, clockid_t clk, const struct timespec *abs)
{
    if (clk == CLOCK_REALTIME)
        return pthread_mutex_timedlock(m, abs);
    struct timespec now, real, at;
    clock_gettime(clk, &now);
    clock_gettime(CLOCK_REALTIME, &real);
    long long ns = (long long)(abs->tv_sec - now.tv_sec) * 1000000000LL +
                   (abs->tv_nsec - now.tv_nsec) + real.tv_nsec;
    if (ns < 0)
        ns = 0;
    at.tv_sec = real.tv_sec + (time_t)(ns / 1000000000LL);
    at.tv_nsec = (long)(ns % 1000000000LL);
    return pthread_mutex_timedlock(m, &at);
}

static inline void run_threads(int n, void *(*fn)(void *), void *arg)
{
    pthread_t t[16];
    for (int i = 0; i < n; i++)
        REQUIRE(pthread_create(&t[i], NULL, fn, arg) == 0);
    for (int i = 0; i < n; i++)
        REQUIRE(pthread_join(t[i], NULL) == 0);
}

#endif
