/* TSan driver: a Queue and a SimpleQueue shared by producer and consumer
 * threads of one process, plus a JoinableQueue's task_done/join.  Every item
 * is a list [producer, seq]; consumers check each producer's order. */
#include "tsan_common.h"

#define PER 3000
#define PRODUCERS 2
#define CONSUMERS 2

static mp_queue *q;
static long got_total;
static mp_lock *glock;

static void *producer(void *arg)
{
    long id = (long)arg;
    for (long i = 0; i < PER; i++) {
        mp_value *v = mp_list_of(2, mp_int(id), mp_int(i));
        REQUIRE(v);
        OK(mp_queue_put(q, v, 10.0));
        mp_value_free(v);
    }
    return NULL;
}

static void *consumer(void *arg)
{
    (void)arg;
    long last[PRODUCERS] = {-1, -1};
    for (;;) {
        mp_value *v = NULL;
        mp_status s = mp_queue_get(q, &v, 0.5);
        if (s == MP_EMPTY)
            break;
        OK(s);
        const mp_value *a, *b;
        int64_t id, seq;
        OK(mp_seq_get(v, 0, &a));
        OK(mp_seq_get(v, 1, &b));
        OK(mp_value_get_int(a, &id));
        OK(mp_value_get_int(b, &seq));
        REQUIRE(id >= 0 && id < PRODUCERS && seq > last[id]);
        last[id] = seq;
        mp_value_free(v);
        OK(mp_lock_acquire(glock, MP_FOREVER));
        got_total++;
        OK(mp_lock_release(glock));
    }
    return NULL;
}

static void run(mp_queue *qq)
{
    q = qq;
    got_total = 0;
    pthread_t t[PRODUCERS + CONSUMERS];
    for (long i = 0; i < PRODUCERS; i++)
        REQUIRE(pthread_create(&t[i], NULL, producer, (void *)i) == 0);
    for (long i = 0; i < CONSUMERS; i++)
        REQUIRE(pthread_create(&t[PRODUCERS + i], NULL, consumer, NULL) == 0);
    for (int i = 0; i < PRODUCERS + CONSUMERS; i++)
        REQUIRE(pthread_join(t[i], NULL) == 0);
    REQUIRE(got_total == PRODUCERS * PER);
}

static mp_queue *jq;

static void *task_doer(void *arg)
{
    (void)arg;
    for (;;) {
        void *buf;
        size_t len;
        mp_status s = mp_queue_get_bytes(jq, &buf, &len, 0.5);
        if (s == MP_EMPTY)
            return NULL;
        OK(s);
        free(buf);
        OK(mp_queue_task_done(jq));
    }
}

int main(void)
{
    OK(mp_lock_new(&glock));
    mp_queue *a, *b;
    OK(mp_queue_new(&a, 16)); /* small: putters block on a full queue */
    run(a);
    OK(mp_queue_close(a));
    mp_queue_free(a);
    OK(mp_simple_queue_new(&b));
    run(b);
    mp_queue_free(b);

    OK(mp_joinable_queue_new(&jq, 0));
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        REQUIRE(pthread_create(&t[i], NULL, task_doer, NULL) == 0);
    for (int i = 0; i < 500; i++)
        OK(mp_queue_put_bytes(jq, "x", 1, MP_FOREVER));
    OK(mp_queue_join(jq, 30.0));
    for (int i = 0; i < 2; i++)
        REQUIRE(pthread_join(t[i], NULL) == 0);
    mp_queue_free(jq);
    mp_lock_free(glock);
    printf("tsan queue: ok\n");
    return 0;
}
