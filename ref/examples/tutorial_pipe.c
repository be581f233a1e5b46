/* Tutorial §13: a child sends a message through a Pipe.
 *
 *   def f(conn):
 *       conn.send('Hello World')
 *       conn.close()
 *
 *   parent_conn, child_conn = Pipe()
 *   p = Process(target=f, args=(child_conn,))
 *   p.start()
 *   print(parent_conn.recv())
 *   p.join()
 *
 * The child gets a copy of both ends when it starts; the parent closes its
 * copy of child_conn, so that recv would report EOF (instead of waiting
 * forever) if the child died without sending. */
#include <stdio.h>
#include <stdlib.h>

#include "mp.h"

static int f(void *arg)
{
    mp_conn *conn = arg;
    mp_value *v = mp_str("Hello World");
    mp_status s = v ? mp_conn_send(conn, v) : MP_ENOMEM;
    mp_value_free(v);
    mp_conn_close(conn);
    return s == MP_OK ? 0 : 1;
}

/* Python's print(): a str as it is, anything else as its repr(). */
static int print_value(const mp_value *v)
{
    const char *s;
    size_t len;
    if (mp_value_get_str(v, &s, &len) == MP_OK)
        return printf("%.*s\n", (int)len, s) < 0;
    char *r = NULL;
    if (mp_value_repr(v, &r) != MP_OK)
        return 1;
    int rc = printf("%s\n", r) < 0;
    free(r);
    return rc;
}

static int fail(const char *what, mp_status s)
{
    fprintf(stderr, "%s: %s (%s)\n", what, mp_status_name(s), mp_errmsg());
    return 1;
}

int main(void)
{
    mp_conn *parent_conn, *child_conn;
    mp_process *p;
    mp_status s;
    if ((s = mp_pipe(&parent_conn, &child_conn, true)) != MP_OK)
        return fail("Pipe", s);
    if ((s = mp_process_new(&p, f, child_conn)) != MP_OK)
        return fail("Process", s);
    if ((s = mp_process_start(p)) != MP_OK)
        return fail("start", s);
    mp_conn_close(child_conn);

    mp_value *msg = NULL;
    if ((s = mp_conn_recv(parent_conn, &msg)) != MP_OK)
        return fail("recv", s);
    int rc = print_value(msg);
    mp_value_free(msg);

    int code = MP_EXITCODE_NONE;
    if ((s = mp_process_join(p, MP_FOREVER)) != MP_OK ||
        (s = mp_process_exitcode(p, &code)) != MP_OK)
        return fail("join", s);
    mp_process_free(p);
    mp_conn_free(parent_conn);
    mp_conn_free(child_conn);
    return rc || code != 0;
}
