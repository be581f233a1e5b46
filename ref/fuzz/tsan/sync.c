/* TSan driver: Lock, RLock, Semaphore, Condition, Event and Barrier used by
 * NTHREADS threads of one process.  The data each primitive guards is plain
 * (non-atomic) memory, so TSan reports a race unless the primitive's acquire
 * and release order the accesses -- which is the point. */
#include "tsan_common.h"

#define ROUNDS 2000

static mp_lock *lock, *rlock;
static mp_semaphore *sem;
static mp_condition *cond;
static mp_event *ev;
static mp_barrier *bar;
static long counter, rcounter, sem_inside, sem_max, items, produced, consumed, bar_phase;
static long ev_payload;

static void *lock_worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        OK(mp_lock_acquire(lock, MP_FOREVER));
        counter++;
        OK(mp_lock_release(lock));
        OK(mp_lock_acquire(rlock, MP_FOREVER));
        OK(mp_lock_acquire(rlock, 1.0)); /* re-entrant */
        rcounter++;
        OK(mp_lock_release(rlock));
        OK(mp_lock_release(rlock));
    }
    return NULL;
}

static void *sem_worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        OK(mp_semaphore_acquire(sem, MP_FOREVER));
        OK(mp_lock_acquire(lock, MP_FOREVER));
        if (++sem_inside > sem_max)
            sem_max = sem_inside;
        OK(mp_lock_release(lock));
        OK(mp_lock_acquire(lock, MP_FOREVER));
        sem_inside--;
        OK(mp_lock_release(lock));
        OK(mp_semaphore_release(sem));
    }
    return NULL;
}

static bool have_item(void *arg)
{
    (void)arg;
    return items > 0;
}

/* Half the threads produce, half consume, through the condition. */
static void *cond_worker(void *arg)
{
    long id = (long)__atomic_fetch_add((long *)arg, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < ROUNDS; i++) {
        OK(mp_condition_acquire(cond, MP_FOREVER));
        if (id % 2 == 0) {
            items++;
            produced++;
            OK(mp_condition_notify(cond, 1));
        } else {
            mp_status s = mp_condition_wait_for(cond, have_item, NULL, 5.0);
            REQUIRE(s == MP_OK);
            items--;
            consumed++;
        }
        OK(mp_condition_release(cond));
    }
    return NULL;
}

static void *event_waiter(void *arg)
{
    (void)arg;
    OK(mp_event_wait(ev, 10.0));
    REQUIRE(ev_payload == 42); /* written before set(): ordered by set/wait */
    return NULL;
}

static int bar_action(void *arg)
{
    (void)arg;
    bar_phase++; /* runs in one thread while the others are held */
    return 0;
}

static void *bar_worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < 200; i++) {
        unsigned idx;
        OK(mp_barrier_wait(bar, 10.0, &idx));
        REQUIRE(idx < NTHREADS);
        REQUIRE(bar_phase == 2 * i + 1);
        OK(mp_barrier_wait(bar, 10.0, NULL)); /* nobody runs ahead to the next action */
    }
    return NULL;
}

int main(void)
{
    OK(mp_lock_new(&lock));
    OK(mp_rlock_new(&rlock));
    run_threads(NTHREADS, lock_worker, NULL);
    REQUIRE(counter == NTHREADS * ROUNDS && rcounter == NTHREADS * ROUNDS);

    OK(mp_bounded_semaphore_new(&sem, 2));
    run_threads(NTHREADS, sem_worker, NULL);
    REQUIRE(sem_max >= 1 && sem_max <= 2 && sem_inside == 0);

    long ids = 0;
    OK(mp_condition_new(&cond, NULL));
    run_threads(NTHREADS, cond_worker, &ids);
    REQUIRE(produced == consumed + items && consumed == (NTHREADS / 2) * ROUNDS);

    OK(mp_event_new(&ev));
    pthread_t t[NTHREADS];
    for (int i = 0; i < NTHREADS; i++)
        REQUIRE(pthread_create(&t[i], NULL, event_waiter, NULL) == 0);
    ev_payload = 42;
    OK(mp_event_set(ev));
    for (int i = 0; i < NTHREADS; i++)
        REQUIRE(pthread_join(t[i], NULL) == 0);

    OK(mp_barrier_new(&bar, NTHREADS, bar_action, NULL, MP_FOREVER));
    run_threads(NTHREADS, bar_worker, NULL);
    REQUIRE(bar_phase == 200 * 2);

    mp_barrier_free(bar);
    mp_event_free(ev);
    mp_condition_free(cond);
    mp_semaphore_free(sem);
    mp_lock_free(rlock);
    mp_lock_free(lock);
    printf("tsan sync: ok\n");
    return 0;
}
