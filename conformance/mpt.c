/* Helpers of the conformance suite: fixtures that check for leaks. */
#include "mpt.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <sys/user.h>
#endif

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
    cr_assert(fds == fds_at_start, "test leaked fds: %d open at start, %d at end", fds_at_start,
              fds);
}

/* The socket path of this test (mpt_sock_path), removed in .fini. */
static char sock_path[108];

char *mpt_sock_path(char *buf, size_t n, const char *tag)
{
    snprintf(sock_path, sizeof sock_path, "/tmp/mpt-%s-%d.sock", tag, (int)getpid());
    unlink(sock_path);
    snprintf(buf, n, "%s", sock_path);
    return buf;
}

void mpt_fini(void)
{
    kill_descendants();
    if (sock_path[0])
        unlink(sock_path);
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

/* Until task tid shows state 'S' in `readings` readings in a row, `gap_ns`
 * apart, or *back (may be NULL) is set; fails the test after 10 s (scaled). */
static void wait_asleep(pid_t tid, int readings, long gap_ns, _Atomic double *back)
{
    double t0 = mpt_now();
    for (int streak = 0; streak < readings && !(back && atomic_load(back) != 0);) {
        pid_t ppid;
        char state = '?';
        streak = proc_stat(tid, &ppid, &state) && state == 'S' ? streak + 1 : 0;
        cr_assert(mpt_now() - t0 < mpt_slack(10.0), "task %d never went to sleep", (int)tid);
        struct timespec ts = {0, gap_ns};
        nanosleep(&ts, NULL);
    }
}

void mpt_wait_asleep(pid_t tid) { wait_asleep(tid, 5, 2000000, NULL); }

void mpt_wait_asleep_quick(pid_t tid) { wait_asleep(tid, 2, 200000, NULL); }

FILE *mpt_tmpfile(void)
{
    FILE *f = tmpfile();
    cr_assert(f != NULL, "tmpfile: %s", strerror(errno));
    return f;
}

struct killer {
    mp_target_fn fn;
    void *arg;
    long delay_ns;       /* of the child's own timer; 0: the parent kills */
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
    struct killer *k = mmap(NULL, sizeof *k, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
                            0);
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

/* ---------------------------------------------------- small shared fixtures */

mpt_pipefd mpt_pipe(void)
{
    int fd[2];
    cr_assert(pipe2(fd, O_CLOEXEC) == 0, "pipe2: %s", strerror(errno));
    return (mpt_pipefd){fd[0], fd[1]};
}

void mpt_closefd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

void mpt_closepipe(mpt_pipefd *p)
{
    mpt_closefd(&p->r);
    mpt_closefd(&p->w);
}

/* Moves exactly len bytes through fd, one way or the other (mpt_write_all,
 * mpt_read_all). */
static bool xfer_all(int fd, char *b, size_t len, bool out)
{
    while (len) {
        ssize_t n = out ? write(fd, b, len) : read(fd, b, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        b += n;
        len -= (size_t)n;
    }
    return true;
}

bool mpt_write_all(int fd, const void *buf, size_t len)
{
    return xfer_all(fd, (char *)buf, len, true);
}

bool mpt_read_all(int fd, void *buf, size_t len) { return xfer_all(fd, buf, len, false); }

void mpt_sleep(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

pid_t mpt_pid(mp_process *p)
{
    pid_t pid = 0;
    MP_ASSERT_OK(mp_process_pid(p, &pid));
    return pid;
}

bool mpt_locked(mp_lock *l)
{
    bool b = false;
    MP_ASSERT_OK(mp_lock_locked(l, &b));
    return b;
}

void mpt_get_str(mp_queue *q, const char *want, double timeout)
{
    void *b = NULL;
    size_t len = 0;
    MP_ASSERT_OK(mp_queue_get_bytes(q, &b, &len, timeout));
    cr_assert(len == strlen(want) && memcmp(b, want, len) == 0, "got %.*s, want %s", (int)len,
              (char *)b, want);
    free(b);
}

/* ------------------------------------------------ "wakes a sleeper at once" */

struct prompt_run {
    const mpt_prompt *p;
    int rounds;
    sem_t go, done;
    _Atomic double woken_at;
    _Atomic int bad; /* the first status other than want, + 1 */
};

struct prompt_waiter {
    struct prompt_run *run;
    pthread_t t;
    _Atomic pid_t tid;
    _Atomic double back; /* when its wait returned, this round */
};

static void *prompt_thread(void *a)
{
    struct prompt_waiter *w = a;
    struct prompt_run *run = w->run;
    atomic_store(&w->tid, (pid_t)syscall(SYS_gettid));
    for (int k = 0; k < run->rounds; k++) {
        sem_wait(&run->go);
        mp_status st = run->p->wait(run->p->arg);
        atomic_store(&w->back, mpt_now());
        if (st != run->p->want) {
            int none = 0;
            atomic_compare_exchange_strong(&run->bad, &none, (int)st + 1);
        }
        if (run->p->after)
            run->p->after(run->p->arg);
        sem_post(&run->done);
    }
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double mpt_prompt_median(const mpt_prompt *p)
{
    struct prompt_run run = {.p = p, .rounds = p->rounds ? p->rounds : MPT_PROMPT_ROUNDS};
    int nw = p->waiters ? p->waiters : 1;
    cr_assert(run.rounds > 0 && run.rounds <= MPT_PROMPT_MAX_ROUNDS);
    cr_assert(nw > 0 && nw <= MPT_PROMPT_MAX_WAITERS);
    struct prompt_waiter w[MPT_PROMPT_MAX_WAITERS];
    double lat[MPT_PROMPT_MAX_ROUNDS];
    sem_init(&run.go, 0, 0);
    sem_init(&run.done, 0, 0);
    for (int i = 0; i < nw; i++) {
        w[i] = (struct prompt_waiter){.run = &run};
        cr_assert(pthread_create(&w[i].t, NULL, prompt_thread, &w[i]) == 0);
    }
    for (int i = 0; i < nw; i++)
        while (!atomic_load(&w[i].tid))
            sched_yield();
    for (int k = 0; k < run.rounds; k++) {
        if (p->prepare)
            p->prepare(p->arg);
        for (int i = 0; i < nw; i++)
            sem_post(&run.go);
        for (int i = 0; i < nw; i++)
            mpt_wait_asleep(atomic_load(&w[i].tid)); /* blocked in wait */
        atomic_store(&run.woken_at, mpt_now());
        p->wake(p->arg);
        double last = 0;
        for (int i = 0; i < nw; i++)
            sem_wait(&run.done);
        for (int i = 0; i < nw; i++)
            if (atomic_load(&w[i].back) > last)
                last = atomic_load(&w[i].back);
        lat[k] = last - atomic_load(&run.woken_at);
        int bad = atomic_load(&run.bad);
        cr_assert(!bad, "round %d: the woken call returned %s, want %s", k,
                  mp_status_name((mp_status)(bad - 1)), mp_status_name(p->want));
    }
    for (int i = 0; i < nw; i++)
        pthread_join(w[i].t, NULL);
    sem_destroy(&run.go);
    sem_destroy(&run.done);
    return mpt_median(lat, run.rounds);
}

double mpt_median(double *v, int n)
{
    cr_assert(n > 0);
    qsort(v, (size_t)n, sizeof v[0], cmp_double);
    return v[n / 2];
}

static void *sleeper_thread(void *a)
{
    mpt_sleeper *w = a;
    atomic_store(&w->tid, (pid_t)syscall(SYS_gettid));
    w->st = w->call(w->arg);
    atomic_store(&w->back, mpt_now());
    return NULL;
}

/* Starts w's thread and returns its tid. */
static pid_t sleeper_launch(mpt_sleeper *w)
{
    atomic_store(&w->tid, 0);
    atomic_store(&w->back, 0.0);
    w->st = MP_ENOTSUP;
    cr_assert(pthread_create(&w->t, NULL, sleeper_thread, w) == 0);
    while (atomic_load(&w->tid) == 0)
        sched_yield();
    return atomic_load(&w->tid);
}

void mpt_sleeper_start(mpt_sleeper *w)
{
    mpt_wait_asleep(sleeper_launch(w)); /* asleep in the call */
}

void mpt_sleeper_start_quick(mpt_sleeper *w)
{
    wait_asleep(sleeper_launch(w), 2, 200000, &w->back);
}

bool mpt_sleeper_wait(mpt_sleeper *w, double until)
{
    while (atomic_load(&w->back) == 0 && mpt_now() < until) {
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    if (atomic_load(&w->back) == 0)
        return false;
    pthread_join(w->t, NULL);
    return true;
}

/* ------------------------------------ SIGKILL before one instruction of a call */

/* The victim: traced by its parent, stopped, the call, stopped again. */
static int kat_victim(void *a)
{
    mpt_kat *k = a;
    if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) != 0)
        return 77;
    raise(SIGSTOP);
    k->call(k->arg);
    atomic_store(k->returned, 1);
    raise(SIGSTOP);
    for (;;)
        pause(); /* SIGKILLed here at the latest */
}

/* Waits for the next ptrace stop of pid and returns its signal; 0 if the
 * process ended instead (then left for mpt_join to reap). */
static int kat_wait_stop(pid_t pid)
{
    siginfo_t si;
    memset(&si, 0, sizeof si);
    while (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT | __WALL) != 0)
        cr_assert(errno == EINTR, "waitid: %s", strerror(errno));
    if (si.si_code == CLD_EXITED || si.si_code == CLD_KILLED || si.si_code == CLD_DUMPED)
        return 0;
    int st = 0;
    while (waitpid(pid, &st, __WALL) < 0)
        cr_assert(errno == EINTR, "waitpid: %s", strerror(errno));
    cr_assert(WIFSTOPPED(st), "victim %d: status %#x is no stop", (int)pid, st);
    return WSTOPSIG(st);
}

/* Starts a victim and waits for its first stop, before the call. */
static mp_process *kat_start(mpt_kat *k, pid_t *pid)
{
    mp_process *p = mpt_start(kat_victim, k);
    *pid = mpt_pid(p);
    int sig = kat_wait_stop(*pid);
    if (sig == 0) {
        int code = mpt_join(p);
        cr_assert(false,
                  "the victim could not be traced (exit code %d): this row places its "
                  "kills with ptrace (PTRACE_TRACEME refused: seccomp, a debugger?)",
                  code);
    }
    cr_assert_eq(sig, SIGSTOP, "victim stopped by signal %d", sig);
    return p;
}

static void kat_kill(mp_process *p, pid_t pid)
{
    cr_assert(kill(pid, SIGKILL) == 0, "kill: %s", strerror(errno));
    int code = mpt_join(p);
    cr_assert_eq(code, -SIGKILL, "victim exit code %d", code);
}

static uintptr_t kat_pc(pid_t pid)
{
#if defined(__x86_64__)
    struct user_regs_struct r;
    cr_assert(ptrace(PTRACE_GETREGS, pid, NULL, &r) == 0, "GETREGS: %s", strerror(errno));
    return (uintptr_t)r.rip;
#else
    (void)pid;
    return 0; /* single-stepping needs no addresses */
#endif
}

void mpt_kat_calibrate(mpt_kat *k)
{
    free(k->trace);
    if (!k->returned) {
        k->returned = mmap(NULL, sizeof *k->returned, PROT_READ | PROT_WRITE,
                           MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        cr_assert(k->returned != MAP_FAILED, "mmap: %s", strerror(errno));
    }
    atomic_store(k->returned, 0);
    size_t cap = 4096;
    k->trace = malloc(cap * sizeof *k->trace);
    k->n = 0;
    cr_assert(k->trace);
    pid_t pid;
    mp_process *p = kat_start(k, &pid);
    size_t before = k->probe ? k->probe(k->arg) : 0;
    k->publish = SIZE_MAX;
    for (;;) {
        if (k->n == cap) {
            cap *= 2;
            k->trace = realloc(k->trace, cap * sizeof *k->trace);
            cr_assert(k->trace);
        }
        k->trace[k->n] = kat_pc(pid);
        cr_assert(ptrace(PTRACE_SINGLESTEP, pid, NULL, NULL) == 0, "SINGLESTEP: %s",
                  strerror(errno));
        int sig = kat_wait_stop(pid);
        cr_assert(sig != 0, "the victim died during calibration");
        cr_assert_eq(sig, SIGTRAP, "victim stopped by signal %d while stepped", sig);
        if (k->publish == SIZE_MAX && k->probe && k->probe(k->arg) != before)
            k->publish = k->n;
        k->n++;
        if (atomic_load(k->returned))
            break; /* the call is over: the trace ends with the store saying so */
        cr_assert(k->n < ((size_t)1 << 22), "the call ran more than 4M instructions");
    }
    if (k->publish == SIZE_MAX)
        k->publish = 0; /* never seen: sweep every instruction */
    if (getenv("KAT_VERBOSE"))
        fprintf(stderr, "kill_at: the call ran %zu instructions, the probe changed at %zu\n", k->n,
                k->publish);
    kat_kill(p, pid);
}

void mpt_kat_free(mpt_kat *k)
{
    free(k->trace);
    k->trace = NULL;
    if (k->returned)
        munmap(k->returned, sizeof *k->returned);
    k->returned = NULL;
}

bool mpt_kat_swept(const mpt_kat *k, size_t i)
{
    size_t early = k->publish / MPT_KAT_EARLY + 1;
    return i + MPT_KAT_BEFORE >= k->publish || i % early == 0;
}

int mpt_kat_kill_at(mpt_kat *k, size_t i)
{
    cr_assert(i < k->n, "instruction %zu of a trace of %zu", i, k->n);
    pid_t pid;
    mp_process *p = kat_start(k, &pid);
    int sig = 0;
#if defined(__x86_64__)
    uintptr_t a = k->trace[i];
    size_t want = 0; /* which execution of address a is instruction i */
    for (size_t j = 0; j <= i; j++)
        want += k->trace[j] == a;
    size_t seen = kat_pc(pid) == a;
    errno = 0;
    long word = ptrace(PTRACE_PEEKTEXT, pid, (void *)a, NULL);
    cr_assert(errno == 0, "PEEKTEXT: %s", strerror(errno));
    long trap = (word & ~0xffL) | 0xcc;
    while (seen < want) {
        cr_assert(ptrace(PTRACE_POKETEXT, pid, (void *)a, (void *)trap) == 0);
        cr_assert(ptrace(PTRACE_CONT, pid, NULL, NULL) == 0);
        sig = kat_wait_stop(pid);
        cr_assert(sig != 0, "the victim died running to instruction %zu", i);
        if (sig == SIGSTOP) {
            kat_kill(p, pid);
            return MPT_KAT_MISSED;
        }
        cr_assert_eq(sig, SIGTRAP, "victim stopped by signal %d", sig);
        struct user_regs_struct r;
        cr_assert(ptrace(PTRACE_GETREGS, pid, NULL, &r) == 0);
        cr_assert_eq((uintptr_t)r.rip, a + 1, "a trap away from the breakpoint");
        r.rip = a; /* back onto the instruction, restored */
        cr_assert(ptrace(PTRACE_SETREGS, pid, NULL, &r) == 0);
        cr_assert(ptrace(PTRACE_POKETEXT, pid, (void *)a, (void *)word) == 0);
        if (++seen == want)
            break;
        cr_assert(ptrace(PTRACE_SINGLESTEP, pid, NULL, NULL) == 0);
        sig = kat_wait_stop(pid);
        cr_assert(sig == SIGTRAP, "victim stopped by signal %d", sig);
    }
#else
    for (size_t j = 0; j < i; j++) {
        cr_assert(ptrace(PTRACE_SINGLESTEP, pid, NULL, NULL) == 0);
        sig = kat_wait_stop(pid);
        cr_assert(sig != 0, "the victim died stepping to instruction %zu", i);
        if (sig == SIGSTOP) {
            kat_kill(p, pid);
            return MPT_KAT_MISSED;
        }
    }
#endif
    (void)sig;
    if (k->at_stop)
        k->at_stop(k->arg);
    kat_kill(p, pid);
    return MPT_KAT_KILLED;
}

/* ------------------------------------------------------------ solo runs */

void mpt_solo_enter(const char *name, int (*body)(int fd))
{
    const char *want = getenv("MPT_SOLO");
    if (want && strcmp(want, name) == 0)
        _exit(body(3) & 0xff);
}

int mpt_solo(const char *name, int fd)
{
    extern char **environ;
    size_t n = 0;
    while (environ[n])
        n++;
    char **envp = calloc(n + 2, sizeof *envp);
    cr_assert(envp);
    memcpy(envp, environ, n * sizeof *envp);
    char var[128];
    snprintf(var, sizeof var, "MPT_SOLO=%s", name);
    envp[n] = var;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd, 3);
    char *argv[] = {(char *)"mpt-solo", NULL};
    pid_t pid;
    int e = posix_spawn(&pid, "/proc/self/exe", &fa, NULL, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    free(envp);
    cr_assert(e == 0, "posix_spawn of /proc/self/exe: %s", strerror(e));
    int st;
    while (waitpid(pid, &st, 0) < 0)
        cr_assert(errno == EINTR, "waitpid: %s", strerror(errno));
    return WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
}
