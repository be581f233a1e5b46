/* torture.c -- the driver of `make torture`: the operation table, the runner
 * processes, the kill loop and the helpers every scenario uses.
 *
 *   torture                 every operation, TORTURE_SECONDS (180) in all
 *   TORTURE_OPS=lock,pool   only operations whose name starts with one of these
 *   TORTURE_SEED=N          replay the trial plans (kill modes, delays, sizes)
 *   TORTURE_MAX_FAIL=N      stop an operation after N failed trials (3)
 *
 * The top process is a child subreaper.  Each operation runs in a runner
 * process of its own, in a process group of its own, so that whatever a
 * runner leaves behind (a hung pool, an orphan) is found, killed and reaped
 * by the top process; a runner that overruns its share by more than a minute
 * is killed and counted as a failure.  Exit status: 0 when no trial failed. */
#include "torture.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct shm *S;

/* ------------------------------------------------------------- the table */
static const op OPS[] = {
    {"lock", sc_lock, NULL},
    {"rlock", sc_rlock, NULL},
    {"semaphore", sc_semaphore, NULL},
    {"condition", sc_condition, NULL},
    {"event", sc_event, NULL},
    {"barrier", sc_barrier, NULL},
    {"queue-put", sc_queue_put, NULL},
    {"queue-get", sc_queue_get, NULL},
    {"squeue-put", sc_squeue_put, NULL},
    {"squeue-get", sc_squeue_get, NULL},
    {"jqueue-put", sc_jqueue_put, NULL},
    {"jqueue-get", sc_jqueue_get, NULL},
    {"pipe-send", sc_pipe_send, NULL},
    {"pipe-recv", sc_pipe_recv, NULL},
    {"pool-apply", sc_pool_apply, pool_teardown},
    {"pool-async", sc_pool_async, pool_teardown},
    {"pool-map", sc_pool_map, pool_teardown},
    {"pool-imap", sc_pool_imap, pool_teardown},
    {"mgr-dict", sc_mgr_dict, mgr_teardown},
    {"mgr-lock", sc_mgr_lock, mgr_teardown},
    {"mgr-queue", sc_mgr_queue, mgr_teardown},
};
#define NOPS (sizeof OPS / sizeof OPS[0])

/* What a runner reports (shared memory of the top process). */
struct result {
    long iters, kills, mid, failures;
    int fatal; /* stopped early: the scenario's state was unusable */
    int done;  /* the runner got to the end */
    double secs;
    char msg[400];
};

/* --------------------------------------------------------------- helpers */
double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t rnd(trial *t) { return splitmix(&t->rng); }

long rnd_range(trial *t, long lo, long hi) { return lo + (long)(rnd(t) % (uint64_t)(hi - lo + 1)); }

void spin_for(double seconds)
{
    double end = now() + seconds;
    while (now() < end)
        ;
}

void pause_for(double seconds)
{
    if (seconds < 100e-6) {
        spin_for(seconds);
        return;
    }
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

void fail(trial *t, const char *fmt, ...)
{
    t->failures++;
    if (t->msg[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->msg, sizeof t->msg, fmt, ap);
    va_end(ap);
}

void child_fail(const char *fmt, ...)
{
    if (atomic_fetch_add(&S->child_fail, 1) != 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(S->child_msg, sizeof S->child_msg, fmt, ap);
    va_end(ap);
}

void late_check(const char *what, double t0, mp_status s)
{
    double el = now() - t0;
    if (el > LATE)
        child_fail("%s returned %s after %.1f s: woken only by its deadline, or stalled "
                   "(victim died %s)",
                   what, mp_status_name(s), el, phase_name(atomic_load(&S->phase)));
}

void collect_child_failures(trial *t)
{
    if (atomic_load(&S->child_fail) > 0 && !t->collected) {
        t->collected = true;
        fail(t, "%s", S->child_msg);
    }
}

const char *phase_name(int ph)
{
    switch (ph) {
    case PH_IDLE:
        return "between calls";
    case PH_CALL:
        return "inside a call";
    case PH_HELD:
        return "holding";
    default:
        return "?";
    }
}

static double trace_t0;
static int trace_level = -1;

void trace(const char *fmt, ...)
{
    if (trace_level < 0) {
        const char *v = getenv("TORTURE_VERBOSE");
        trace_level = v ? atoi(v) : 0;
    }
    if (trace_level < 2)
        return;
    va_list ap;
    va_start(ap, fmt);
    printf("  [%8.4f pid %d] ", now() - trace_t0, (int)getpid());
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
}

void set_phase(int ph) { atomic_store(&S->phase, ph); }

/* A timer whose signal is SIGKILL cannot be caught, blocked or ignored by the
 * library; where timer_create refuses SIGKILL, setitimer's SIGALRM, whose
 * default action also terminates, stands in. */
void arm_kill_timer(long usec)
{
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = SIGKILL;
    timer_t tm;
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    its.it_value.tv_nsec = usec * 1000;
    if (timer_create(CLOCK_MONOTONIC, &ev, &tm) == 0 && timer_settime(tm, 0, &its, NULL) == 0)
        return;
    signal(SIGALRM, SIG_DFL);
    struct itimerval it = {{0, 0}, {0, usec}};
    setitimer(ITIMER_REAL, &it, NULL);
}

void victim_tick(const trial *t, long i)
{
    if (i == 0)
        atomic_store(&S->started, 1);
    if (t->mode == KILL_TIMER && i == t->warm)
        arm_kill_timer(t->usec);
}

bool spawn(trial *t, mp_process **p, mp_target_fn fn, void *arg)
{
    *p = NULL;
    mp_status s = mp_process_new(p, fn, arg);
    if (s == MP_OK && (s = mp_process_start(*p)) == MP_OK)
        return true;
    fail(t, "cannot start a process: %s (%s)", mp_status_name(s), mp_errmsg());
    mp_process_free(*p);
    *p = NULL;
    return false;
}

static bool started(void *arg)
{
    (void)arg;
    return atomic_load(&S->started) != 0;
}

void kill_victim(trial *t, mp_process *v)
{
    if (!v)
        return;
    if (!wait_until(started, NULL, BOUND))
        fail(t, "the victim never reached its first operation");
    if (t->mode == KILL_EXTERNAL) {
        pause_for(t->delay);
        mp_process_kill(v);
    } else if (mp_process_join(v, 2.0) == MP_TIMEOUT) {
        mp_process_kill(v); /* the timer did not fire: an external kill instead */
    }
    trace("victim killed or timer armed; joining");
    mp_status s = mp_process_join(v, BOUND);
    trace("victim joined: %s", mp_status_name(s));
    if (s != MP_OK) {
        fail(t, "a SIGKILLed victim could not be joined: %s", mp_status_name(s));
        t->fatal = true;
    }
    int code = 0;
    mp_process_exitcode(v, &code);
    t->death_phase = atomic_load(&S->phase);
    t->death_done = atomic_load(&S->v_done);
    t->killed = code == -SIGKILL || code == -SIGALRM;
    t->mid = t->killed && t->death_phase != PH_IDLE;
    if (!t->killed && code != 0)
        fail(t, "the victim exited with %d before it was killed", code);
    mp_process_free(v);
}

void finish(trial *t, mp_process *p, const char *what)
{
    if (!p)
        return;
    trace("joining %s", what);
    mp_status s = mp_process_join(p, BOUND);
    trace("joined %s: %s", what, mp_status_name(s));
    if (s == MP_TIMEOUT) {
        fail(t, "%s did not finish within %.0f s after the victim died (%s)", what, BOUND,
             phase_name(t->death_phase));
        mp_process_kill(p);
        mp_process_join(p, BOUND);
    }
    int code = 0;
    mp_process_exitcode(p, &code);
    collect_child_failures(t); /* the reason, when the process gave one */
    if (s == MP_OK && code != 0)
        fail(t, "%s exited with %d", what, code);
    mp_process_free(p);
}

bool wait_until(bool (*cond)(void *), void *arg, double seconds)
{
    double end = now() + seconds;
    double nap = 20e-6;
    while (!cond(arg)) {
        if (now() > end)
            return cond(arg);
        pause_for(nap);
        if (nap < 2e-3)
            nap *= 2;
    }
    return true;
}

struct peer_target {
    int i;
    long target;
};

static bool peer_reached(void *arg)
{
    struct peer_target *pt = arg;
    return atomic_load(&S->peer_ops[pt->i]) >= pt->target || atomic_load(&S->child_fail) > 0;
}

bool wait_peer_ops(int i, long target)
{
    struct peer_target pt = {i, target};
    return wait_until(peer_reached, &pt, BOUND + 1.0) && atomic_load(&S->peer_ops[i]) >= target;
}

/* ------------------------------------------------------------- payloads */
#define PAYLOAD_MAGIC 0x54525455u

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void body(unsigned char *b, size_t n, unsigned id, unsigned seq, size_t len)
{
    uint64_t x = ((uint64_t)id << 40) ^ ((uint64_t)seq << 8) ^ (uint64_t)len;
    for (size_t i = 0; i < n; i += 8) {
        uint64_t r = splitmix(&x);
        for (size_t k = 0; k < 8 && i + k < n; k++)
            b[i + k] = (unsigned char)(r >> (8 * k));
    }
}

void payload_fill(unsigned char *buf, size_t len, unsigned id, unsigned seq)
{
    put32(buf, PAYLOAD_MAGIC);
    put32(buf + 4, id);
    put32(buf + 8, seq);
    put32(buf + 12, (uint32_t)len);
    body(buf + 16, len - 16, id, seq, len);
}

int payload_check(const unsigned char *buf, size_t len, unsigned *id, unsigned *seq)
{
    if (len < 16 || get32(buf) != PAYLOAD_MAGIC || get32(buf + 12) != (uint32_t)len)
        return -1;
    *id = get32(buf + 4);
    *seq = get32(buf + 8);
    if (*id >= 3 || *seq >= MAXSEQ)
        return -1;
    unsigned char *want = malloc(len);
    if (!want)
        return -1;
    body(want, len - 16, *id, *seq, len);
    int bad = memcmp(want, buf + 16, len - 16) != 0;
    free(want);
    return bad ? -1 : 0;
}

size_t payload_len(trial *t, size_t max)
{
    double u = (double)(rnd(t) >> 11) / 9007199254740992.0;
    size_t n = (size_t)exp(log(16.0) + u * (log((double)max) - log(16.0)));
    return n < 16 ? 16 : n > max ? max : n;
}

mp_value *payload_value(unsigned id, unsigned seq, size_t len)
{
    unsigned char *buf = malloc(len);
    if (!buf)
        return NULL;
    payload_fill(buf, len, id, seq);
    mp_value *v = mp_bytes(buf, len);
    free(buf);
    return v;
}

int payload_value_check(const mp_value *v, unsigned *id, unsigned *seq)
{
    const void *p;
    size_t len;
    if (mp_value_get_bytes(v, &p, &len) != MP_OK)
        return -1;
    return payload_check(p, len, id, seq);
}

/* ------------------------------------------------------- process counting */
/* Processes whose /proc stat field `field` (4 ppid, 5 pgrp) is `val`. */
static int count_procs(int field, pid_t val)
{
    DIR *d = opendir("/proc");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        char path[300], buf[512];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t k = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[k] = 0;
        char *p = strrchr(buf, ')');
        if (!p)
            continue;
        /* after ")": " state ppid pgrp" = fields 3, 4, 5 */
        char state;
        int ppid, pgrp;
        if (sscanf(p + 1, " %c %d %d", &state, &ppid, &pgrp) != 3)
            continue;
        if ((field == 4 ? ppid : pgrp) == val)
            n++;
    }
    closedir(d);
    return n;
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static bool no_children(void *arg)
{
    (void)arg;
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    return count_procs(4, getpid()) == 0;
}

/* --------------------------------------------------------------- runner */
static void reset_shm(void)
{
    memset(S, 0, sizeof *S);
    atomic_store(&S->v_done, -1);
    atomic_store(&S->r_last, -1);
}

/* The kill plan of one trial: the mode, and a delay spread over scales from
 * microseconds (inside a fast call) to tens of milliseconds (a pool task, a
 * large message). */
static void plan(trial *t)
{
    t->mode = (rnd(t) & 1) ? KILL_TIMER : KILL_EXTERNAL;
    t->warm = rnd_range(t, 0, 3);
    t->usec = rnd_range(t, 1, 60);
    static const double scale[] = {50e-6, 200e-6, 2e-3, 20e-3};
    double u = (double)(rnd(t) >> 11) / 9007199254740992.0;
    t->delay = u * scale[rnd(t) % 4];
}

static void run_op(const op *o, double seconds, uint64_t seed, long max_fail, struct result *r)
{
    int fd0 = count_fds();
    void *ctx = NULL;
    double t0 = now();
    uint64_t rng = seed;
    while (now() - t0 < seconds && r->failures < max_fail) {
        trial t;
        memset(&t, 0, sizeof t);
        t.rng = splitmix(&rng);
        t.iter = r->iters;
        plan(&t);
        reset_shm();
        double t1 = now();
        trace_t0 = t1;
        o->run(&t, &ctx);
        if (now() - t1 > 2.0 && getenv("TORTURE_VERBOSE"))
            printf("torture: %s trial %ld took %.1f s (%s, victim died %s)\n", o->name, t.iter,
                   now() - t1, t.mode == KILL_TIMER ? "timer" : "external kill",
                   phase_name(t.death_phase));
        r->iters++;
        r->kills += t.killed;
        r->mid += t.mid;
        if (t.failures) {
            r->failures++;
            printf("torture: %s FAIL trial %ld (%s, victim died %s): %s\n", o->name, t.iter,
                   t.mode == KILL_TIMER ? "timer" : "external kill", phase_name(t.death_phase),
                   t.msg);
            fflush(stdout);
            if (!r->msg[0])
                snprintf(r->msg, sizeof r->msg, "trial %ld: %s", t.iter, t.msg);
        }
        if (t.fatal) {
            r->fatal = 1;
            break;
        }
    }
    if (!r->fatal) {
        if (o->teardown && ctx)
            o->teardown(ctx);
        int fd1 = count_fds();
        if (fd1 != fd0) {
            r->failures++;
            printf("torture: %s FAIL: %d descriptors open before, %d after\n", o->name, fd0, fd1);
        }
        if (!wait_until(no_children, NULL, 3.0)) {
            r->failures++;
            printf("torture: %s FAIL: %d child processes left after every object was freed\n",
                   o->name, count_procs(4, getpid()));
        }
    }
    r->secs = now() - t0;
    r->done = 1;
    fflush(stdout);
}

/* ------------------------------------------------------------------ top */
static volatile pid_t current_runner;

static void on_signal(int sig)
{
    if (current_runner > 0)
        kill(-current_runner, SIGKILL);
    _exit(128 + sig);
}

static bool selected(const char *name, const char *list)
{
    if (!list || !*list)
        return true;
    const char *p = list;
    while (*p) {
        size_t n = strcspn(p, ", ");
        if (n && strncmp(name, p, n) == 0)
            return true;
        p += n;
        p += strspn(p, ", ");
    }
    return false;
}

static uint64_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
    return h;
}

/* Run one operation in a runner process of its own group; kill it if it
 * overruns; kill and reap whatever it leaves. */
static void run_runner(const op *o, double seconds, uint64_t seed, long max_fail, struct result *r)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        r->failures++;
        snprintf(r->msg, sizeof r->msg, "fork: %s", strerror(errno));
        return;
    }
    if (pid == 0) {
        setpgid(0, 0);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        prctl(PR_SET_CHILD_SUBREAPER, 1);
        run_op(o, seconds, seed, max_fail, r);
        if (r->fatal)
            _exit(0); /* a hung call may still hold library state: no exit handlers */
        exit(0);
    }
    setpgid(pid, pid);
    current_runner = pid;
    double deadline = now() + seconds + 6 * BOUND;
    int st = 0;
    pid_t w;
    while ((w = waitpid(pid, &st, WNOHANG)) == 0 && now() < deadline)
        pause_for(5e-3);
    if (w == 0) {
        r->failures++;
        snprintf(r->msg, sizeof r->msg, "the runner overran its %.0f s by %.0f s: killed", seconds,
                 6 * BOUND);
        kill(-pid, SIGKILL);
        waitpid(pid, &st, 0);
    } else if (WIFSIGNALED(st) || (WIFEXITED(st) && WEXITSTATUS(st) != 0) || !r->done) {
        r->failures++;
        if (!r->msg[0])
            snprintf(r->msg, sizeof r->msg, "the runner died (status 0x%x)", st);
    }
    /* Whatever is left in the group: a library process that outlived the
     * runner (reported unless the runner already failed), then killed. */
    double end = now() + 3.0;
    int left;
    while ((left = count_procs(5, pid)) > 0 && now() < end) {
        while (waitpid(-1, NULL, WNOHANG) > 0)
            ;
        pause_for(10e-3);
    }
    if (left > 0) {
        if (r->failures == 0) {
            r->failures++;
            snprintf(r->msg, sizeof r->msg, "%d processes of the runner outlived it", left);
        }
        kill(-pid, SIGKILL);
        end = now() + BOUND;
        while (count_procs(5, pid) > 0 && now() < end) {
            while (waitpid(-1, NULL, WNOHANG) > 0)
                ;
            pause_for(10e-3);
        }
    }
    current_runner = 0;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *env = getenv("TORTURE_SECONDS");
    double total = env && *env ? atof(env) : 180.0;
    env = getenv("TORTURE_SEED");
    uint64_t seed = env && *env ? strtoull(env, NULL, 0)
                                : ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid();
    env = getenv("TORTURE_MAX_FAIL");
    long max_fail = env && *env ? atol(env) : 3;
    const char *only = getenv("TORTURE_OPS");

    prctl(PR_SET_CHILD_SUBREAPER, 1);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_DFL);

    S = mmap(NULL, sizeof *S, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    struct result *res = mmap(NULL, sizeof(struct result) * NOPS, PROT_READ | PROT_WRITE,
                              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (S == MAP_FAILED || res == MAP_FAILED) {
        perror("torture: mmap");
        return 2;
    }
    size_t n = 0;
    for (size_t i = 0; i < NOPS; i++)
        n += selected(OPS[i].name, only);
    if (n == 0) {
        fprintf(stderr, "torture: TORTURE_OPS=%s selects no operation\n", only);
        return 2;
    }
    double each = total / (double)n;
    printf("torture: seed %llu (TORTURE_SEED to replay), %zu operations, %.1f s each, "
           "every wait bounded by %.0f s\n",
           (unsigned long long)seed, n, each, BOUND);

    double t0 = now();
    long kills = 0, fails = 0, ops = 0;
    for (size_t i = 0; i < NOPS; i++) {
        if (!selected(OPS[i].name, only))
            continue;
        struct result *r = &res[i];
        memset(r, 0, sizeof *r);
        run_runner(&OPS[i], each, seed ^ hash_name(OPS[i].name), max_fail, r);
        printf("torture: %-11s iterations %5ld  kills %5ld  mid-op %5ld  failures %ld  "
               "(%.1f s)%s\n",
               OPS[i].name, r->iters, r->kills, r->mid, r->failures, r->secs,
               r->fatal ? "  (stopped: state unusable)" : "");
        if (r->failures)
            printf("torture: %-11s first failure: %s\n", OPS[i].name, r->msg);
        ops++;
        kills += r->kills;
        fails += r->failures;
    }
    /* Final sweep: nothing of ours may be left (the subreaper collects
     * orphans of every runner). */
    if (!wait_until(no_children, NULL, 3.0)) {
        int left = count_procs(4, getpid());
        printf("torture: %d processes left at the end: killed\n", left);
        fails++;
    }
    printf("torture: %ld ops, %ld kills, %ld failures (seed %llu, %.0f s)\n", ops, kills, fails,
           (unsigned long long)seed, now() - t0);
    return fails ? 1 : 0;
}
