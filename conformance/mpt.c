/* Helpers of the conformance suite: fixtures that check for leaks. */
#include "mpt.h"

#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int fds_at_start;

static int count_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the DIR's own fd */
}

double mpt_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double mpt_slack(double seconds)
{
    const char *m = getenv("MPT_TIMEOUT_MULTIPLIER");
    double k = m ? atof(m) : 1.0;
    return seconds * (k > 0 ? k : 1.0);
}

void mpt_setup(void)
{
    /* Orphaned grandchildren are reparented to us, so teardown can see them. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    setvbuf(stdout, NULL, _IONBF, 0);
    fds_at_start = count_fds();
}

/* One line of /proc/<pid>/stat: its parent and state ('Z' for a zombie). */
static bool proc_stat(pid_t pid, pid_t *ppid, char *state)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    size_t k = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[k] = 0;
    char *rp = strrchr(buf, ')');
    int pp = 0;
    if (!rp || sscanf(rp + 2, "%c %d", state, &pp) != 2)
        return false;
    *ppid = (pid_t)pp;
    return true;
}

/* The processes descended from this one, as read from /proc: up to `cap`
 * pids into `out`, the number of live (non-zombie) ones into *live.  Returns
 * how many there are (which may exceed cap). */
static int descendants(pid_t *out, int cap, int *live)
{
    enum { MAXP = 32768 };
    static pid_t pid[MAXP], ppid[MAXP];
    static char state[MAXP];
    static bool mine[MAXP];
    int n = 0;
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    for (struct dirent *e; (e = readdir(d)) && n < MAXP;) {
        pid_t p = (pid_t)atoi(e->d_name);
        if (p > 0 && proc_stat(p, &ppid[n], &state[n])) {
            pid[n] = p;
            mine[n] = false;
            n++;
        }
    }
    closedir(d);
    /* Mark the children of getpid(), then their children, until no change. */
    pid_t self = getpid();
    for (bool grew = true; grew;) {
        grew = false;
        for (int i = 0; i < n; i++) {
            if (mine[i])
                continue;
            bool m = ppid[i] == self;
            for (int j = 0; j < n && !m; j++)
                m = mine[j] && pid[j] == ppid[i];
            if (m)
                mine[i] = grew = true;
        }
    }
    int found = 0;
    *live = 0;
    for (int i = 0; i < n; i++)
        if (mine[i]) {
            if (found < cap)
                out[found] = pid[i];
            found++;
            if (state[i] != 'Z')
                (*live)++;
        }
    return found;
}

/* Every process descended from this one killed (SIGKILL) and reaped, so that
 * nothing a test started outlives it.  Orphaned grandchildren are reparented
 * to this process (a child subreaper), so all of them end up reaped here; a
 * process forked while we look is caught on the next round.  Returns how many
 * live descendants there were at the first look. */
static int kill_descendants(void)
{
    pid_t pids[1024];
    int first = -1;
    double t0 = mpt_now();
    for (;;) {
        int live = 0;
        int n = descendants(pids, 1024, &live);
        (void)live;
        if (first < 0)
            first = n; /* a zombie left unjoined counts too */
        for (int i = 0; i < n && i < 1024; i++)
            kill(pids[i], SIGKILL);
        while (waitpid(-1, NULL, WNOHANG) > 0)
            ;
        if (n == 0 || mpt_now() - t0 > 10.0)
            break;
        struct timespec ts = {0, 1000000}; /* a killed process takes a moment to die */
        nanosleep(&ts, NULL);
    }
    return first;
}

void mpt_teardown(void)
{
    int left = kill_descendants();
    int fds = count_fds();
    cr_assert(left == 0, "test left %d process(es) behind (killed now)", left);
    cr_assert(fds == fds_at_start, "test leaked fds: %d open at start, %d at end",
              fds_at_start, fds);
}

void mpt_fini(void)
{
    kill_descendants();
}

mp_process *mpt_start(mp_target_fn fn, void *arg)
{
    mp_process *p = NULL;
    MP_ASSERT_OK(mp_process_new(&p, fn, arg));
    MP_ASSERT_OK(mp_process_start(p));
    return p;
}

int mpt_join(mp_process *p)
{
    int code = MP_EXITCODE_NONE;
    MP_ASSERT_OK(mp_process_join(p, MP_FOREVER));
    MP_ASSERT_OK(mp_process_exitcode(p, &code));
    mp_process_free(p);
    return code;
}

static char task_state(pid_t tid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)tid);
    FILE *f = fopen(path, "re");
    if (!f)
        return '?';
    size_t k = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[k] = 0;
    char *rp = strrchr(buf, ')');
    return rp && rp[1] == ' ' ? rp[2] : '?';
}

void mpt_wait_asleep(pid_t tid)
{
    double t0 = mpt_now();
    for (int streak = 0; streak < 5;) {
        streak = task_state(tid) == 'S' ? streak + 1 : 0;
        cr_assert(mpt_now() - t0 < mpt_slack(10.0), "task %d never went to sleep", (int)tid);
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
}

FILE *mpt_tmpfile(void)
{
    FILE *f = tmpfile();
    cr_assert(f != NULL, "tmpfile: %s", strerror(errno));
    return f;
}

struct killer {
    mp_target_fn fn;
    void *arg;
    long delay_ns;    /* of the child's own timer; 0: the parent kills */
    _Atomic int entered; /* shared: the child is about to call fn */
};

static int killed_child(void *arg)
{
    struct killer *k = arg;
    if (k->delay_ns > 0) {
        timer_t t;
        struct sigevent ev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGKILL};
        struct itimerspec when = {.it_value = {0, k->delay_ns}};
        if (timer_create(CLOCK_MONOTONIC, &ev, &t) != 0 || timer_settime(t, 0, &when, NULL) != 0)
            return 90;
    }
    atomic_store(&k->entered, 1);
    return k->fn(k->arg);
}

int mpt_kill_at_random(mp_target_fn fn, void *arg, unsigned r)
{
    struct killer *k = mmap(NULL, sizeof *k, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                            -1, 0);
    cr_assert(k != MAP_FAILED, "mmap: %s", strerror(errno));
    unsigned seed = r * 2654435761u + 12345u;
    unsigned x = (unsigned)rand_r(&seed);
    k->fn = fn;
    k->arg = arg;
    k->delay_ns = r % 2 == 0 ? 1000 + (long)(x % 60000) : 0;
    mp_process *p = mpt_start(killed_child, k);
    if (k->delay_ns == 0) {
        double t0 = mpt_now();
        while (!atomic_load(&k->entered) && mpt_now() - t0 < mpt_slack(10.0))
            sched_yield();
        double until = mpt_now() + (double)(x % 150000) * 1e-9;
        while (mpt_now() < until) /* a random instant, not a synchronisation */
            ;
        MP_ASSERT_OK(mp_process_kill(p));
    }
    int code = mpt_join(p);
    munmap(k, sizeof *k);
    return code;
}
