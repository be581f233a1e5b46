/* The status table and the per-thread detail message. */
#include "mp_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char *const names[] = {
#define MP__X(n, py, msg) "MP_" #n,
    MP_STATUS_MAP(MP__X)
#undef MP__X
};
static const char *const messages[] = {
#define MP__X(n, py, msg) msg,
    MP_STATUS_MAP(MP__X)
#undef MP__X
};

const char *mp_status_name(mp_status s)
{
    return (unsigned)s < MP__STATUS_COUNT ? names[s] : "MP_UNKNOWN";
}

const char *mp_strerror(mp_status s)
{
    return (unsigned)s < MP__STATUS_COUNT ? messages[s] : "unknown status";
}

static _Thread_local char errbuf[256];

const char *mp_errmsg(void) { return errbuf; }

mp_status mp__err(mp_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, sizeof errbuf, fmt, ap);
    va_end(ap);
    return s;
}

mp_status mp__errno(int err, const char *what)
{
    mp_status s = err == ENOMEM ? MP_ENOMEM : MP_EOS;
    return mp__err(s, "%s: %s (errno %d)", what, strerror(err), err);
}
