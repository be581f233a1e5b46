/* Tutorial §15: a Lock shared by ten processes.
 *
 *   def f(l, i):
 *       l.acquire()
 *       try:
 *           print('hello world', i)
 *       finally:
 *           l.release()
 *
 *   lock = Lock()
 *   for num in range(10):
 *       Process(target=f, args=(lock, num)).start()
 *
 * Each child writes its line in three unbuffered write()s with a yield
 * between them, so without the lock the pieces of different lines would
 * interleave (they do in most runs). */
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mp.h"

struct job {
    mp_lock *lock;
    int num;
};

static void say(const char *s) { (void)!write(STDOUT_FILENO, s, strlen(s)); }

static int f(void *arg)
{
    struct job *j = arg;
    char num[16];
    snprintf(num, sizeof num, "%d", j->num);
    if (mp_lock_acquire(j->lock, MP_FOREVER) != MP_OK)
        return 1;
    /* the "try" body; the release below is the "finally" */
    say("hello world ");
    sched_yield();
    say(num);
    sched_yield();
    say("\n");
    return mp_lock_release(j->lock) == MP_OK ? 0 : 1;
}

int main(void)
{
    mp_lock *lock;
    mp_process *p[10];
    struct job jobs[10];
    mp_status s = mp_lock_new(&lock);
    if (s != MP_OK) {
        fprintf(stderr, "Lock: %s\n", mp_errmsg());
        return 1;
    }
    int rc = 0;
    for (int num = 0; num < 10; num++) {
        jobs[num] = (struct job){lock, num};
        if ((s = mp_process_new(&p[num], f, &jobs[num])) != MP_OK ||
            (s = mp_process_start(p[num])) != MP_OK) {
            fprintf(stderr, "process %d: %s\n", num, mp_errmsg());
            return 1;
        }
    }
    for (int num = 0; num < 10; num++) {
        int code = -1;
        if (mp_process_join(p[num], MP_FOREVER) != MP_OK ||
            mp_process_exitcode(p[num], &code) != MP_OK || code != 0)
            rc = 1;
        mp_process_free(p[num]);
    }
    mp_lock_free(lock);
    return rc;
}
