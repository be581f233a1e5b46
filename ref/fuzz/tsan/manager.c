/* TSan driver: the manager's server under large requests.  The server (a
 * forked process, built with TSan too; its reports reach this stderr) has
 * its loop and the helper thread that decodes large requests and frees large
 * values (manager_offload.c).  Flooding threads set large dicts (frames well
 * above the helper's 64 KiB threshold) into a managed dict while other
 * threads do small set/get round trips on the same dict; a child killed in
 * the middle of its flood comes first.  Checks: every call succeeds, small
 * values read back as written, each large value read back is one of those
 * written whole (never torn), and the server still answers at the end. */
#include "tsan_common.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#define KEYS 20000 /* about 100 KB per request */
#define FLOODS 12  /* large sets per flooding thread */
#define SMALL 400  /* round trips per small thread */

static mp_proxy *d;

/* {i: i + tag for i in range(KEYS)} */
static mp_value *big(long tag)
{
    mp_value *v = mp_dict();
    REQUIRE(v);
    for (long i = 0; i < KEYS; i++)
        OK(mp_dict_set(v, mp_int(i), mp_int(i + tag)));
    return v;
}

/* v is big(tag) for some tag: returns it (-1 if not). */
static long tag_of(const mp_value *v)
{
    size_t n = 0;
    if (mp_dict_len(v, &n) != MP_OK || n != KEYS)
        return -1;
    const mp_value *k, *x;
    int64_t t0 = -1;
    for (size_t i = 0; i < n; i++) {
        int64_t ki, xi;
        OK(mp_dict_item(v, i, &k, &x));
        OK(mp_value_get_int(k, &ki));
        OK(mp_value_get_int(x, &xi));
        if (i == 0)
            t0 = xi - ki;
        else if (xi - ki != t0)
            return -1;
    }
    return (long)t0;
}

static void *flooder(void *arg)
{
    long id = (long)arg;
    mp_value *key = mp_str(id ? "h1" : "h0");
    for (long r = 0; r < FLOODS; r++) {
        mp_value *v = big(id * 1000 + r);
        OK(mp_mdict_set(d, key, v));
        mp_value_free(v);
        mp_value *got = NULL;
        OK(mp_mdict_get(d, key, &got));
        REQUIRE(tag_of(got) == id * 1000 + r); /* only this thread writes key */
        mp_value_free(got);
    }
    mp_value_free(key);
    return NULL;
}

static void *small(void *arg)
{
    long id = (long)arg;
    char name[32];
    snprintf(name, sizeof name, "s%ld", id);
    mp_value *key = mp_str(name);
    for (long i = 0; i < SMALL; i++) {
        mp_value *x = mp_int(i), *got = NULL;
        OK(mp_mdict_set(d, key, x));
        OK(mp_mdict_get(d, key, &got));
        REQUIRE(mp_value_equal(got, x));
        mp_value_free(x);
        mp_value_free(got);
    }
    mp_value_free(key);
    return NULL;
}

static void *worker(void *arg)
{
    long id = (long)arg;
    return id < 2 ? flooder((void *)id) : small((void *)(id - 2));
}

int main(void)
{
    mp_manager *m;
    OK(mp_manager_start(&m, NULL));
    OK(mp_manager_dict(m, NULL, &d));

    /* A client killed in the middle of its flood (before any thread here). */
    int go[2];
    REQUIRE(pipe(go) == 0);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        mp_value *key = mp_str("hk"), *v = big(7);
        for (bool first = true;; first = false) {
            if (first && write(go[1], "x", 1) != 1)
                _exit(1);
            if (mp_mdict_set(d, key, v) != MP_OK)
                _exit(1);
        }
    }
    char c;
    REQUIRE(read(go[0], &c, 1) == 1); /* flooding: killed at whatever instant this is */
    kill(pid, SIGKILL);
    close(go[0]);
    close(go[1]);
    REQUIRE(waitpid(pid, NULL, 0) == pid);

    pthread_t t[4];
    for (long i = 0; i < 4; i++)
        REQUIRE(pthread_create(&t[i], NULL, worker, (void *)i) == 0);
    for (int i = 0; i < 4; i++)
        REQUIRE(pthread_join(t[i], NULL) == 0);

    /* The killed child's value, if any landed, is whole. */
    mp_value *key = mp_str("hk"), *got = NULL;
    mp_status st = mp_mdict_get(d, key, &got);
    REQUIRE(st == MP_OK || st == MP_EKEY);
    if (st == MP_OK)
        REQUIRE(tag_of(got) == 7);
    mp_value_free(got);
    mp_value_free(key);
    size_t n = 0;
    OK(mp_manager_object_count(m, &n));
    REQUIRE(n == 1);
    mp_proxy_free(d);
    mp_manager_free(m);
    puts("manager: ok");
    return 0;
}
