/* Deadlines: absolute CLOCK_MONOTONIC times.  Rounding always goes up, so a
 * wait never ends before the caller's timeout has fully elapsed. */
#include "mp_internal.h"

#include <limits.h>
#include <math.h>

double mp__now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Contract in mp_internal.h.  The fraction of a second is rounded up to the
 * next nanosecond and the timeout capped at 1e9 s, so the sum cannot
 * overflow. */
mp_status mp__deadline_init(mp__deadline *d, double timeout)
{
    if (isnan(timeout))
        return mp__err(MP_EINVAL, "timeout is NaN");
    d->forever = isinf(timeout) && timeout > 0;
    if (d->forever)
        return MP_OK;
    if (timeout < 0)
        timeout = 0;   /* CPython's multiprocessing treats negative as 0 */
    if (timeout > 1e9) /* ~31 years: as good as forever, avoids overflow */
        timeout = 1e9;
    clock_gettime(CLOCK_MONOTONIC, &d->at);
    double whole = floor(timeout);
    long ns = (long)ceil((timeout - whole) * 1e9);
    d->at.tv_sec += (time_t)whole;
    d->at.tv_nsec += ns;
    while (d->at.tv_nsec >= 1000000000L) {
        d->at.tv_nsec -= 1000000000L;
        d->at.tv_sec++;
    }
    return MP_OK;
}

/* Contract in mp_internal.h.  Reads the clock once; a deadline equal to now
 * has nothing left. */
bool mp__deadline_remaining(const mp__deadline *d, struct timespec *ts)
{
    if (d->forever)
        return true;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec > d->at.tv_sec || (now.tv_sec == d->at.tv_sec && now.tv_nsec >= d->at.tv_nsec))
        return false;
    ts->tv_sec = d->at.tv_sec - now.tv_sec;
    ts->tv_nsec = d->at.tv_nsec - now.tv_nsec;
    if (ts->tv_nsec < 0) {
        ts->tv_nsec += 1000000000L;
        ts->tv_sec--;
    }
    return true;
}

bool mp__deadline_passed(const mp__deadline *d)
{
    struct timespec ts;
    return !mp__deadline_remaining(d, &ts);
}

/* Contract in mp_internal.h.  INT_MAX when the remainder does not fit
 * poll()'s int. */
int mp__deadline_poll_ms(const mp__deadline *d)
{
    struct timespec ts;
    if (d->forever)
        return -1;
    if (!mp__deadline_remaining(d, &ts))
        return 0;
    if (ts.tv_sec > INT_MAX / 1000 - 1)
        return INT_MAX;
    /* round up: poll() may return after fewer ms otherwise */
    return (int)(ts.tv_sec * 1000 + (ts.tv_nsec + 999999) / 1000000);
}
