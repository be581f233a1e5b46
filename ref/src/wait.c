/* Sleeping in liveness slices (wait.h): the futex half of the waiting path. */
#include "wait.h"

/* Contract in wait.h.  The slice is started from now (mp__deadline_init
 * cannot fail for a finite secs); d is copied whole when it ends no later. */
bool mp__deadline_slice(const mp__deadline *d, double secs, mp__deadline *out)
{
    mp__deadline_init(out, secs);
    if (d && !d->forever &&
        (d->at.tv_sec < out->at.tv_sec ||
         (d->at.tv_sec == out->at.tv_sec && d->at.tv_nsec <= out->at.tv_nsec))) {
        *out = *d;
        return true;
    }
    return false;
}

/* Contract: one FUTEX_WAIT on w while it holds val, bounded by the earlier
 * of d and one liveness slice; which of the two ran out is told apart so
 * that a caller can look at its peers' liveness after a slice and give up
 * only at its deadline. */
enum mp__nap mp__nap(_Atomic uint32_t *w, uint32_t val, const mp__deadline *d)
{
    if (!d || d->forever) /* a relative slice: no clock read per sleep */
        return mp__futex_wait_for(w, val, mp__wait_tunings.liveness_slice_s) == MP_TIMEOUT
                   ? MP__NAP_SLICE
                   : MP__NAP_WOKEN;
    mp__deadline s;
    bool last = mp__deadline_slice(d, mp__wait_tunings.liveness_slice_s, &s);
    if (mp__futex_wait(w, val, &s) == MP_TIMEOUT)
        return last ? MP__NAP_DEADLINE : MP__NAP_SLICE;
    return MP__NAP_WOKEN;
}
