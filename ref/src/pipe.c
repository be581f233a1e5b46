/* pipe: not implemented yet -- every call returns MP_ENOTSUP. */
#include "mp_internal.h"

#include <stdarg.h>

mp_status mp_pipe(mp_conn **a, mp_conn **b, bool duplex)
{
    (void)a; (void)b; (void)duplex; return MP_ENOTSUP;
}

mp_status mp_conn_send(mp_conn *c, const mp_value *v)
{
    (void)c; (void)v; return MP_ENOTSUP;
}

mp_status mp_conn_recv(mp_conn *c, mp_value **out)
{
    (void)c; (void)out; return MP_ENOTSUP;
}

mp_status mp_conn_send_bytes(mp_conn *c, const void *buf, size_t len)
{
    (void)c; (void)buf; (void)len; return MP_ENOTSUP;
}

mp_status mp_conn_send_bytes_range(mp_conn *c, const void *buf, size_t buflen, size_t offset, size_t size)
{
    (void)c; (void)buf; (void)buflen; (void)offset; (void)size; return MP_ENOTSUP;
}

mp_status mp_conn_recv_bytes(mp_conn *c, void **buf, size_t *len, size_t maxlength)
{
    (void)c; (void)buf; (void)len; (void)maxlength; return MP_ENOTSUP;
}

mp_status mp_conn_recv_bytes_into(mp_conn *c, void *buf, size_t buflen, size_t offset, size_t *len)
{
    (void)c; (void)buf; (void)buflen; (void)offset; (void)len; return MP_ENOTSUP;
}

mp_status mp_conn_poll(mp_conn *c, double timeout)
{
    (void)c; (void)timeout; return MP_ENOTSUP;
}

mp_status mp_conn_fileno(mp_conn *c, int *fd)
{
    (void)c; (void)fd; return MP_ENOTSUP;
}

mp_status mp_conn_close(mp_conn *c)
{
    (void)c; return MP_ENOTSUP;
}

void mp_conn_free(mp_conn *c)
{
    (void)c; 
}
