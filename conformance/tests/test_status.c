#include <string.h>

#include "mpt.h"

MPT_TEST(status, ST_OK_ZERO, "ST-OK-ZERO: MP_OK is 0; names and messages are distinct")
{
    cr_assert_eq(MP_OK, 0);
    static const mp_status all[] = {
        MP_OK,       MP_EINVAL,  MP_ENOMEM,      MP_ENOTSUP, MP_CLOSED,    MP_FULL,
        MP_EMPTY,    MP_TIMEOUT, MP_EOF,         MP_ESTATE,  MP_ENOTOWNER, MP_EBROKEN,
        MP_EMSGSIZE, MP_EACCES,  MP_EOWNERDEAD,  MP_EPROTO,  MP_EKEY,      MP_EINDEX,
        MP_ETYPE,    MP_EREMOTE, MP_EWORKERLOST, MP_EDEAD,   MP_EAUTH,     MP_EOS};
    size_t n = sizeof all / sizeof all[0];
    for (size_t i = 0; i < n; i++) {
        const char *name = mp_status_name(all[i]), *msg = mp_strerror(all[i]);
        cr_assert(name && strncmp(name, "MP_", 3) == 0, "status %d name %s", all[i], name);
        cr_assert(msg && *msg, "status %s has no message", name);
        for (size_t j = 0; j < i; j++) {
            cr_assert_str_neq(name, mp_status_name(all[j]));
            cr_assert_str_neq(msg, mp_strerror(all[j]));
        }
    }
    cr_assert_str_eq(mp_status_name(MP_EMPTY), "MP_EMPTY");
}

MPT_TEST(status, ST_UNKNOWN, "ST-UNKNOWN: out-of-table statuses have a name and message")
{
    cr_assert_str_eq(mp_status_name((mp_status)12345), "MP_UNKNOWN");
    cr_assert_str_eq(mp_strerror((mp_status)-1), "unknown status");
}

MPT_TEST(status, ST_ERRMSG, "ST-ERRMSG: a failure leaves a detail message")
{
    mp_lock *l = NULL;
    MP_ASSERT_OK(mp_lock_new(&l));
    MP_ASSERT_STATUS(mp_lock_acquire(l, NAN), MP_EINVAL);
    cr_assert(mp_errmsg() != NULL && strlen(mp_errmsg()) > 0);
    mp_lock_free(l);
}
