/* queue: not implemented yet -- every call returns MP_ENOTSUP. */
#include "mp_internal.h"

#include <stdarg.h>

mp_status mp_queue_new(mp_queue **out, long maxsize)
{
    (void)out; (void)maxsize; return MP_ENOTSUP;
}

mp_status mp_simple_queue_new(mp_queue **out)
{
    (void)out; return MP_ENOTSUP;
}

mp_status mp_joinable_queue_new(mp_queue **out, long maxsize)
{
    (void)out; (void)maxsize; return MP_ENOTSUP;
}

mp_status mp_queue_put(mp_queue *q, const mp_value *v, double timeout)
{
    (void)q; (void)v; (void)timeout; return MP_ENOTSUP;
}

mp_status mp_queue_get(mp_queue *q, mp_value **out, double timeout)
{
    (void)q; (void)out; (void)timeout; return MP_ENOTSUP;
}

mp_status mp_queue_put_bytes(mp_queue *q, const void *buf, size_t len, double timeout)
{
    (void)q; (void)buf; (void)len; (void)timeout; return MP_ENOTSUP;
}

mp_status mp_queue_get_bytes(mp_queue *q, void **buf, size_t *len, double timeout)
{
    (void)q; (void)buf; (void)len; (void)timeout; return MP_ENOTSUP;
}

mp_status mp_queue_qsize(mp_queue *q, size_t *n)
{
    (void)q; (void)n; return MP_ENOTSUP;
}

mp_status mp_queue_empty(mp_queue *q, bool *empty)
{
    (void)q; (void)empty; return MP_ENOTSUP;
}

mp_status mp_queue_full(mp_queue *q, bool *full)
{
    (void)q; (void)full; return MP_ENOTSUP;
}

mp_status mp_queue_close(mp_queue *q)
{
    (void)q; return MP_ENOTSUP;
}

mp_status mp_queue_join_thread(mp_queue *q)
{
    (void)q; return MP_ENOTSUP;
}

mp_status mp_queue_cancel_join_thread(mp_queue *q)
{
    (void)q; return MP_ENOTSUP;
}

mp_status mp_queue_task_done(mp_queue *q)
{
    (void)q; return MP_ENOTSUP;
}

mp_status mp_queue_join(mp_queue *q, double timeout)
{
    (void)q; (void)timeout; return MP_ENOTSUP;
}

void mp_queue_free(mp_queue *q)
{
    (void)q; 
}
