/* Tutorial §14: a manager's dict and list, changed by 10 processes.
 *
 *   def f(d, l):
 *       d[1] = '1'
 *       d['2'] = 2
 *       d[0.25] = None
 *       l.append('a')
 *       print(l)
 *
 *   with Manager() as manager:
 *       d = manager.dict()
 *       l = manager.list(range(5))
 *       p_list = []
 *       for i in range(10):
 *           p = Process(target=f, args=(d, l))
 *           p.start()
 *           p_list.append(p)
 *       for res in p_list:
 *           res.join()
 *       print(d)     # {1: '1', '2': 2, 0.25: None}
 *       print(l)     # [0, 1, 2, 3, 4, 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a']
 *
 * The children inherit the proxies d and l; each connects to the manager on
 * its first call.  print(l) prints the repr of a copy of the list, as
 * CPython's ListProxy.__repr__ does (it fetches the value). */
#include <stdio.h>
#include <stdlib.h>

#include "mp.h"

typedef struct shared {
    mp_proxy *d, *l;
} shared;

static int print_value(const mp_value *v)
{
    char *r = NULL;
    if (mp_value_repr(v, &r) != MP_OK)
        return 1;
    printf("%s\n", r);
    free(r);
    return 0;
}

static int f(void *arg)
{
    shared *sh = arg;
    mp_value *k1 = mp_int(1), *v1 = mp_str("1"), *k2 = mp_str("2"), *v2 = mp_int(2),
             *k3 = mp_float(0.25), *a = mp_str("a"), *copy = NULL;
    int rc = 1;
    if (mp_mdict_set(sh->d, k1, v1) == MP_OK && mp_mdict_set(sh->d, k2, v2) == MP_OK &&
        mp_mdict_set(sh->d, k3, mp_none()) == MP_OK && mp_mlist_append(sh->l, a) == MP_OK &&
        mp_mlist_copy(sh->l, &copy) == MP_OK)
        rc = print_value(copy);
    else
        fprintf(stderr, "child: %s\n", mp_errmsg());
    mp_value_free(k1);
    mp_value_free(v1);
    mp_value_free(k2);
    mp_value_free(v2);
    mp_value_free(k3);
    mp_value_free(a);
    mp_value_free(copy);
    return rc;
}

static int fail(const char *what, mp_status s)
{
    fprintf(stderr, "%s: %s (%s)\n", what, mp_status_name(s), mp_errmsg());
    return 1;
}

int main(void)
{
    mp_manager *manager;
    shared sh;
    mp_status s;
    if ((s = mp_manager_start(&manager, NULL)) != MP_OK)
        return fail("Manager", s);
    mp_value *range5 = mp_list_of(5, mp_int(0), mp_int(1), mp_int(2), mp_int(3), mp_int(4));
    if ((s = mp_manager_dict(manager, NULL, &sh.d)) != MP_OK ||
        (s = mp_manager_list(manager, range5, &sh.l)) != MP_OK)
        return fail("manager.dict/list", s);
    mp_value_free(range5);

    mp_process *p[10];
    for (int i = 0; i < 10; i++)
        if ((s = mp_process_new(&p[i], f, &sh)) != MP_OK || (s = mp_process_start(p[i])) != MP_OK)
            return fail("Process", s);
    int rc = 0;
    for (int i = 0; i < 10; i++) {
        int code = MP_EXITCODE_NONE;
        if ((s = mp_process_join(p[i], MP_FOREVER)) != MP_OK ||
            (s = mp_process_exitcode(p[i], &code)) != MP_OK)
            return fail("join", s);
        rc |= code != 0;
        mp_process_free(p[i]);
    }

    mp_value *d = NULL, *l = NULL;
    if ((s = mp_mdict_copy(sh.d, &d)) != MP_OK || (s = mp_mlist_copy(sh.l, &l)) != MP_OK)
        return fail("copy", s);
    rc |= print_value(d);
    rc |= print_value(l);
    mp_value_free(d);
    mp_value_free(l);
    mp_proxy_free(sh.d);
    mp_proxy_free(sh.l);
    mp_manager_free(manager); /* the end of `with Manager() as manager:` */
    return rc;
}
