/* Tutorial §16-§18: a pool of 3 processes running 10 tasks asynchronously.
 *
 *   def Foo(i):
 *       time.sleep(2)
 *       return i + 100
 *
 *   def Bar(arg):
 *       print('-->exec done:', arg)
 *
 *   if __name__ == '__main__':
 *       freeze_support()
 *       pool = Pool(3)
 *       for i in range(10):
 *           pool.apply_async(func=Foo, args=(i,), callback=Bar)
 *       print('end')
 *       pool.close()
 *       pool.join()
 *
 * 'end' comes first because apply_async returns at once; Bar runs in the
 * parent (on the pool's result thread) as each task completes.  With
 * MP_EXAMPLE_FAST set in the environment Foo sleeps 0.05 s instead of 2 s.
 * freeze_support() is for frozen Windows programs only: nothing to do here. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "mp.h"

static double work_s = 2.0;

static mp_status Foo(const mp_value *arg, mp_value **result)
{
    int64_t i;
    mp_status s = mp_value_get_int(arg, &i);
    if (s != MP_OK)
        return s;
    struct timespec ts = {(time_t)work_s, (long)((work_s - (double)(time_t)work_s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    *result = mp_int(i + 100);
    return *result ? MP_OK : MP_ENOMEM;
}

static void Bar(const mp_value *arg, void *ud)
{
    (void)ud;
    char *s = NULL;
    if (mp_value_repr(arg, &s) == MP_OK) {
        printf("-->exec done: %s\n", s);
        fflush(stdout);
        free(s);
    }
}

static int fail(const char *what, mp_status s)
{
    fprintf(stderr, "%s: %s (%s)\n", what, mp_status_name(s), mp_errmsg());
    return 1;
}

int main(void)
{
    if (getenv("MP_EXAMPLE_FAST"))
        work_s = 0.05;
    mp_pool *pool;
    mp_status s = mp_pool_new(&pool, 3, NULL, NULL, 0);
    if (s != MP_OK)
        return fail("Pool", s);
    for (int i = 0; i < 10; i++) {
        mp_value *arg = mp_int(i);
        mp_async_result *r = NULL;
        s = mp_pool_apply_async(pool, Foo, arg, Bar, NULL, NULL, &r);
        mp_value_free(arg);
        if (s != MP_OK)
            return fail("apply_async", s);
        mp_async_result_free(r); /* the task still runs; Bar gets its result */
    }
    printf("end\n");
    fflush(stdout);
    if ((s = mp_pool_close(pool)) != MP_OK || (s = mp_pool_join(pool)) != MP_OK)
        return fail("close/join", s);
    mp_pool_free(pool);
    return 0;
}
