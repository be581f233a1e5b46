/* TSan driver: the Pool's result-handling thread against the caller's
 * threads -- apply_async with callbacks (which write plain memory that the
 * main thread reads after get()/join()), map, imap, submissions from several
 * threads at once, and terminate with tasks pending. */
#include "tsan_common.h"

#include <unistd.h>

static long cb_sum, cb_count, err_count; /* written by callbacks only */

static mp_status square(const mp_value *arg, mp_value **result)
{
    int64_t i;
    mp_status s = mp_value_get_int(arg, &i);
    if (s != MP_OK)
        return s;
    if (i < 0)
        return mp_task_error(MP_EINVAL, "negative %lld", (long long)i);
    *result = mp_int(i * i);
    return MP_OK;
}

static mp_status slow(const mp_value *arg, mp_value **result)
{
    (void)arg;
    (void)result;
    usleep(200000);
    return MP_OK;
}

static void on_result(const mp_value *result, void *ud)
{
    int64_t v;
    OK(mp_value_get_int(result, &v));
    cb_sum += v;
    cb_count++;
    (*(long *)ud)++;
}

static void on_error(mp_status status, const char *msg, void *ud)
{
    REQUIRE(status == MP_EREMOTE && msg);
    err_count++;
    (*(long *)ud)++;
}

static mp_pool *pool;

static void *submitter(void *arg)
{
    long base = (long)arg;
    mp_async_result *r[20];
    long ud[20] = {0};
    for (int i = 0; i < 20; i++) {
        mp_value *v = mp_int(base + i);
        OK(mp_pool_apply_async(pool, square, v, on_result, on_error, &ud[i], &r[i]));
        mp_value_free(v);
    }
    for (int i = 0; i < 20; i++) {
        const mp_value *res;
        OK(mp_async_result_get(r[i], 30.0, &res));
        REQUIRE(ud[i] == 1); /* the callback ran before get() returned */
        mp_async_result_free(r[i]);
    }
    mp_value *args = mp_list();
    for (int i = 0; i < 50; i++)
        mp_seq_append(args, mp_int(i));
    mp_value *out = NULL;
    OK(mp_pool_map(pool, square, args, 0, &out));
    size_t n;
    OK(mp_seq_len(out, &n));
    REQUIRE(n == 50);
    mp_value_free(out);
    mp_imap *it;
    OK(mp_pool_imap_unordered(pool, square, args, 3, &it));
    size_t k = 0;
    mp_value *item;
    while (mp_imap_next(it, 30.0, &item) == MP_OK) {
        mp_value_free(item);
        k++;
    }
    REQUIRE(k == 50);
    mp_imap_free(it);
    mp_value_free(args);
    return NULL;
}

int main(void)
{
    OK(mp_pool_new(&pool, 2, NULL, NULL, 0));
    pthread_t t[3];
    for (long i = 0; i < 3; i++)
        REQUIRE(pthread_create(&t[i], NULL, submitter, (void *)(i * 100)) == 0);
    for (int i = 0; i < 3; i++)
        REQUIRE(pthread_join(t[i], NULL) == 0);

    long ud = 0;
    mp_async_result *bad;
    mp_value *neg = mp_int(-1);
    OK(mp_pool_apply_async(pool, square, neg, on_result, on_error, &ud, &bad));
    mp_value_free(neg);
    const mp_value *res;
    REQUIRE(mp_async_result_get(bad, 30.0, &res) == MP_EREMOTE);
    mp_async_result_free(bad);

    OK(mp_pool_close(pool));
    OK(mp_pool_join(pool));
    REQUIRE(cb_count == 3 * 20 && err_count == 1 && ud == 1);
    mp_pool_free(pool);

    /* terminate with tasks pending: they fail with MP_CLOSED */
    OK(mp_pool_new(&pool, 2, NULL, NULL, 1));
    mp_async_result *r[6];
    mp_value *none = mp_none();
    for (int i = 0; i < 6; i++)
        OK(mp_pool_apply_async(pool, slow, none, NULL, NULL, NULL, &r[i]));
    OK(mp_pool_terminate(pool));
    int closed = 0;
    for (int i = 0; i < 6; i++) {
        mp_status s = mp_async_result_get(r[i], 30.0, &res);
        REQUIRE(s == MP_OK || s == MP_CLOSED);
        closed += s == MP_CLOSED;
        mp_async_result_free(r[i]);
    }
    REQUIRE(closed > 0);
    OK(mp_pool_join(pool));
    mp_pool_free(pool);
    printf("tsan pool: ok (%ld callbacks)\n", cb_count);
    return 0;
}
