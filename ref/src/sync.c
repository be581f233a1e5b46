/* sync: not implemented yet -- every call returns MP_ENOTSUP. */
#include "mp_internal.h"

#include <stdarg.h>

mp_status mp_lock_new(mp_lock **out)
{
    (void)out; return MP_ENOTSUP;
}

mp_status mp_rlock_new(mp_lock **out)
{
    (void)out; return MP_ENOTSUP;
}

mp_status mp_lock_acquire(mp_lock *l, double timeout)
{
    (void)l; (void)timeout; return MP_ENOTSUP;
}

mp_status mp_lock_release(mp_lock *l)
{
    (void)l; return MP_ENOTSUP;
}

mp_status mp_lock_locked(mp_lock *l, bool *locked)
{
    (void)l; (void)locked; return MP_ENOTSUP;
}

void mp_lock_free(mp_lock *l)
{
    (void)l; 
}

mp_status mp_semaphore_new(mp_semaphore **out, unsigned value)
{
    (void)out; (void)value; return MP_ENOTSUP;
}

mp_status mp_bounded_semaphore_new(mp_semaphore **out, unsigned value)
{
    (void)out; (void)value; return MP_ENOTSUP;
}

mp_status mp_semaphore_acquire(mp_semaphore *s, double timeout)
{
    (void)s; (void)timeout; return MP_ENOTSUP;
}

mp_status mp_semaphore_release(mp_semaphore *s)
{
    (void)s; return MP_ENOTSUP;
}

mp_status mp_semaphore_value(mp_semaphore *s, unsigned *value)
{
    (void)s; (void)value; return MP_ENOTSUP;
}

void mp_semaphore_free(mp_semaphore *s)
{
    (void)s; 
}

mp_status mp_condition_new(mp_condition **out, mp_lock *lock)
{
    (void)out; (void)lock; return MP_ENOTSUP;
}

mp_status mp_condition_acquire(mp_condition *c, double timeout)
{
    (void)c; (void)timeout; return MP_ENOTSUP;
}

mp_status mp_condition_release(mp_condition *c)
{
    (void)c; return MP_ENOTSUP;
}

mp_status mp_condition_wait(mp_condition *c, double timeout)
{
    (void)c; (void)timeout; return MP_ENOTSUP;
}

mp_status mp_condition_wait_for(mp_condition *c, mp_predicate_fn pred, void *arg, double timeout)
{
    (void)c; (void)pred; (void)arg; (void)timeout; return MP_ENOTSUP;
}

mp_status mp_condition_notify(mp_condition *c, unsigned n)
{
    (void)c; (void)n; return MP_ENOTSUP;
}

mp_status mp_condition_notify_all(mp_condition *c)
{
    (void)c; return MP_ENOTSUP;
}

void mp_condition_free(mp_condition *c)
{
    (void)c; 
}

mp_status mp_event_new(mp_event **out)
{
    (void)out; return MP_ENOTSUP;
}

mp_status mp_event_set(mp_event *e)
{
    (void)e; return MP_ENOTSUP;
}

mp_status mp_event_clear(mp_event *e)
{
    (void)e; return MP_ENOTSUP;
}

mp_status mp_event_is_set(mp_event *e, bool *set)
{
    (void)e; (void)set; return MP_ENOTSUP;
}

mp_status mp_event_wait(mp_event *e, double timeout)
{
    (void)e; (void)timeout; return MP_ENOTSUP;
}

void mp_event_free(mp_event *e)
{
    (void)e; 
}

mp_status mp_barrier_new(mp_barrier **out, unsigned parties, mp_barrier_action_fn action, void *arg, double default_timeout)
{
    (void)out; (void)parties; (void)action; (void)arg; (void)default_timeout; return MP_ENOTSUP;
}

mp_status mp_barrier_wait(mp_barrier *b, double timeout, unsigned *index)
{
    (void)b; (void)timeout; (void)index; return MP_ENOTSUP;
}

mp_status mp_barrier_abort(mp_barrier *b)
{
    (void)b; return MP_ENOTSUP;
}

mp_status mp_barrier_reset(mp_barrier *b)
{
    (void)b; return MP_ENOTSUP;
}

mp_status mp_barrier_parties(mp_barrier *b, unsigned *parties)
{
    (void)b; (void)parties; return MP_ENOTSUP;
}

mp_status mp_barrier_n_waiting(mp_barrier *b, unsigned *n)
{
    (void)b; (void)n; return MP_ENOTSUP;
}

mp_status mp_barrier_broken(mp_barrier *b, bool *broken)
{
    (void)b; (void)broken; return MP_ENOTSUP;
}

void mp_barrier_free(mp_barrier *b)
{
    (void)b; 
}
