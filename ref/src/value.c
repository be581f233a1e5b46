/* value: not implemented yet -- every call returns MP_ENOTSUP. */
#include "mp_internal.h"

#include <stdarg.h>

mp_value * mp_none(void)
{
    return NULL;
}

mp_value * mp_bool(bool b)
{
    (void)b; return NULL;
}

mp_value * mp_int(int64_t i)
{
    (void)i; return NULL;
}

mp_value * mp_float(double d)
{
    (void)d; return NULL;
}

mp_value * mp_str(const char *s)
{
    (void)s; return NULL;
}

mp_value * mp_strn(const char *s, size_t len)
{
    (void)s; (void)len; return NULL;
}

mp_value * mp_bytes(const void *p, size_t len)
{
    (void)p; (void)len; return NULL;
}

mp_value * mp_list(void)
{
    return NULL;
}

mp_value * mp_tuple(void)
{
    return NULL;
}

mp_value * mp_dict(void)
{
    return NULL;
}

mp_value * mp_list_of(size_t n, ...)
{
    (void)n; return NULL;
}

mp_value * mp_tuple_of(size_t n, ...)
{
    (void)n; return NULL;
}

void mp_value_free(mp_value *v)
{
    (void)v; 
}

mp_value * mp_value_copy(const mp_value *v)
{
    (void)v; return NULL;
}

bool mp_value_equal(const mp_value *a, const mp_value *b)
{
    (void)a; (void)b; return false;
}

mp_status mp_value_repr(const mp_value *v, char **out)
{
    (void)v; (void)out; return MP_ENOTSUP;
}

mp_type mp_value_type(const mp_value *v)
{
    (void)v; return MP_T_NONE;
}

mp_status mp_value_get_bool(const mp_value *v, bool *out)
{
    (void)v; (void)out; return MP_ENOTSUP;
}

mp_status mp_value_get_int(const mp_value *v, int64_t *out)
{
    (void)v; (void)out; return MP_ENOTSUP;
}

mp_status mp_value_get_float(const mp_value *v, double *out)
{
    (void)v; (void)out; return MP_ENOTSUP;
}

mp_status mp_value_get_str(const mp_value *v, const char **s, size_t *len)
{
    (void)v; (void)s; (void)len; return MP_ENOTSUP;
}

mp_status mp_value_get_bytes(const mp_value *v, const void **p, size_t *len)
{
    (void)v; (void)p; (void)len; return MP_ENOTSUP;
}

mp_status mp_seq_append(mp_value *seq, mp_value *item)
{
    (void)seq; (void)item; return MP_ENOTSUP;
}

mp_status mp_seq_len(const mp_value *seq, size_t *len)
{
    (void)seq; (void)len; return MP_ENOTSUP;
}

mp_status mp_seq_get(const mp_value *seq, ptrdiff_t i, const mp_value **item)
{
    (void)seq; (void)i; (void)item; return MP_ENOTSUP;
}

mp_status mp_dict_set(mp_value *d, mp_value *key, mp_value *val)
{
    (void)d; (void)key; (void)val; return MP_ENOTSUP;
}

mp_status mp_dict_get(const mp_value *d, const mp_value *key, const mp_value **val)
{
    (void)d; (void)key; (void)val; return MP_ENOTSUP;
}

mp_status mp_dict_del(mp_value *d, const mp_value *key)
{
    (void)d; (void)key; return MP_ENOTSUP;
}

mp_status mp_dict_len(const mp_value *d, size_t *len)
{
    (void)d; (void)len; return MP_ENOTSUP;
}

mp_status mp_dict_item(const mp_value *d, size_t i, const mp_value **key, const mp_value **val)
{
    (void)d; (void)i; (void)key; (void)val; return MP_ENOTSUP;
}

mp_status mp_value_encode(const mp_value *v, void **buf, size_t *len)
{
    (void)v; (void)buf; (void)len; return MP_ENOTSUP;
}

mp_status mp_value_decode(const void *buf, size_t len, mp_value **out)
{
    (void)buf; (void)len; (void)out; return MP_ENOTSUP;
}
