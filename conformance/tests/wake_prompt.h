/* wake_prompt.h -- "this call wakes a thread asleep in that one at once".
 *
 * An implementation may bound its sleeps (ref re-checks every 0.1 s, so that
 * a waker killed half-way costs a sleeper one period at most); then a lost
 * wake-up no longer hangs, it only makes each hand-off late.  These rows
 * measure it: in each round a thread blocks in `wait`, the kernel shows it
 * asleep (mpt_wait_asleep), the main thread calls `wake` and the thread's
 * latency from that call to its return is recorded; the median of the rounds
 * must be far below any polling period (as LOCK-RELEASE-WAKES-PROMPT).
 * Include after mpt.h. */
#ifndef WAKE_PROMPT_H
#define WAKE_PROMPT_H

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "mpt.h"

#define PROMPT_ROUNDS 15
#define PROMPT_MEDIAN_S 0.02

typedef struct prompt {
    void *arg;
    void (*prepare)(void *arg);    /* main thread, before each round */
    mp_status (*wait)(void *arg);  /* the thread: the blocking call */
    void (*wake)(void *arg);       /* main thread, once the thread sleeps */
    mp_status want;                /* what wait returns */
    sem_t go, done;
    _Atomic pid_t tid;
    _Atomic double woken_at;
    double lat[PROMPT_ROUNDS];
    _Atomic int bad;               /* the first status other than want, + 1 */
} prompt;

static void *prompt_thread(void *a)
{
    prompt *p = a;
    atomic_store(&p->tid, gettid());
    for (int k = 0; k < PROMPT_ROUNDS; k++) {
        sem_wait(&p->go);
        mp_status st = p->wait(p->arg);
        p->lat[k] = mpt_now() - atomic_load(&p->woken_at);
        if (st != p->want && !atomic_load(&p->bad))
            atomic_store(&p->bad, (int)st + 1);
        sem_post(&p->done);
    }
    return NULL;
}

static int prompt_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Runs the rounds; returns the median latency, asserting every status. */
static double prompt_run(prompt *p)
{
    sem_init(&p->go, 0, 0);
    sem_init(&p->done, 0, 0);
    pthread_t t;
    cr_assert(pthread_create(&t, NULL, prompt_thread, p) == 0);
    while (!atomic_load(&p->tid))
        sched_yield();
    for (int k = 0; k < PROMPT_ROUNDS; k++) {
        if (p->prepare)
            p->prepare(p->arg);
        sem_post(&p->go);
        mpt_wait_asleep(atomic_load(&p->tid));
        atomic_store(&p->woken_at, mpt_now());
        p->wake(p->arg);
        sem_wait(&p->done);
        int bad = atomic_load(&p->bad);
        cr_assert(!bad, "round %d: the woken call returned %s, want %s", k,
                  mp_status_name((mp_status)(bad - 1)), mp_status_name(p->want));
    }
    pthread_join(t, NULL);
    sem_destroy(&p->go);
    sem_destroy(&p->done);
    qsort(p->lat, PROMPT_ROUNDS, sizeof p->lat[0], prompt_cmp);
    return p->lat[PROMPT_ROUNDS / 2];
}

#endif
