/* Tutorial §10: two processes put a list on one Queue; the parent gets both.
 *
 *   def f(q):
 *       q.put([42, None, 'hello'])
 *
 *   q = Queue()
 *   p = Process(target=f, args=(q,))
 *   p2 = Process(target=f, args=(q,))
 *   p.start()
 *   p2.start()
 *   print('data1:', q.get())    # prints "[42, None, 'hello']"
 *   print('data2:', q.get())
 *   p.join()
 *
 * The children inherit the queue when they start.  put() copies the message
 * into the queue's shared memory before it returns, so the order of get()
 * and join() does not matter here (it would with large messages in CPython). */
#include <stdio.h>
#include <stdlib.h>

#include "mp.h"

static int f(void *arg)
{
    mp_queue *q = arg;
    mp_value *v = mp_list_of(3, mp_int(42), mp_none(), mp_str("hello"));
    mp_status s = v ? mp_queue_put(q, v, MP_FOREVER) : MP_ENOMEM;
    mp_value_free(v);
    return s == MP_OK ? 0 : 1;
}

static int fail(const char *what, mp_status s)
{
    fprintf(stderr, "%s: %s (%s)\n", what, mp_status_name(s), mp_errmsg());
    return 1;
}

int main(void)
{
    mp_queue *q;
    mp_process *p[2];
    mp_status s;
    if ((s = mp_queue_new(&q, 0)) != MP_OK)
        return fail("Queue", s);
    for (int i = 0; i < 2; i++)
        if ((s = mp_process_new(&p[i], f, q)) != MP_OK)
            return fail("Process", s);
    for (int i = 0; i < 2; i++)
        if ((s = mp_process_start(p[i])) != MP_OK)
            return fail("start", s);

    for (int i = 1; i <= 2; i++) {
        mp_value *data = NULL;
        char *r = NULL;
        if ((s = mp_queue_get(q, &data, MP_FOREVER)) != MP_OK)
            return fail("get", s);
        if ((s = mp_value_repr(data, &r)) != MP_OK)
            return fail("repr", s);
        printf("data%d: %s\n", i, r); /* print('data1:', x) prints repr(x) */
        free(r);
        mp_value_free(data);
    }

    int rc = 0;
    for (int i = 0; i < 2; i++) {
        int code = MP_EXITCODE_NONE;
        if ((s = mp_process_join(p[i], MP_FOREVER)) != MP_OK ||
            (s = mp_process_exitcode(p[i], &code)) != MP_OK)
            return fail("join", s);
        rc |= code != 0;
        mp_process_free(p[i]);
    }
    mp_queue_free(q);
    return rc;
}
