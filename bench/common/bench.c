/* The harness shared by bench/c (mp.h) and bench/os (raw OS floor). */
#include "bench.h"
/* The calibration's constants, generated from bench/calibration.json (which
 * also states the algorithm that mpb_main and bench/python/mpbench.py run). */
#include "calibration.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/resource.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MPB_MAX_PARAMS 16

static const char *pkeys[MPB_MAX_PARAMS], *pvals[MPB_MAX_PARAMS];
static int nparams;

int mpb_fail(mpb_res *r, int kind, const char *fmt, ...)
{
    va_list ap;
    r->kind = kind;
    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof r->msg, fmt, ap);
    va_end(ap);
    return -1;
}

const char *mpb_param_str(const char *key, const char *dflt)
{
    for (int i = 0; i < nparams; i++)
        if (strcmp(pkeys[i], key) == 0)
            return pvals[i];
    return dflt;
}

long mpb_param_long(const char *key, long dflt)
{
    const char *v = mpb_param_str(key, NULL);
    return v ? strtol(v, NULL, 10) : dflt;
}

bool mpb_param_bool(const char *key, bool dflt)
{
    const char *v = mpb_param_str(key, NULL);
    if (!v)
        return dflt;
    return strcmp(v, "true") == 0 || strcmp(v, "1") == 0;
}

int64_t mpb_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void mpb_work(long ns)
{
    if (ns <= 0)
        return;
    int64_t end = mpb_now_ns() + ns;
    while (mpb_now_ns() < end) {
    }
}

void mpb_sleep_us(long us)
{
    struct timespec ts = {us / 1000000, us % 1000000 * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

int mpb_read_full(int fd, void *buf, size_t len)
{
    char *p = buf;
    while (len > 0) {
        ssize_t k = read(fd, p, len);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            if (k == 0)
                errno = EPIPE;
            return -1;
        }
        p += k;
        len -= (size_t)k;
    }
    return 0;
}

int mpb_write_full(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t k = write(fd, p, len);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -1;
        p += k;
        len -= (size_t)k;
    }
    return 0;
}

void *mpb_payload(size_t size)
{
    unsigned char *p = malloc(size ? size : 1);
    if (!p)
        return NULL;
    for (size_t i = 0; i < size; i++)
        p[i] = (unsigned char)(i * 31 + 7);
    return p;
}

/* ---------------------------------------------------------------- team */

int mpb_team_init(mpb_team *t, int nchild, mpb_res *r)
{
    memset(t, 0, sizeof *t);
    t->done[0] = t->done[1] = -1;
    for (int i = 0; i < MPB_MAX_CHILD; i++)
        t->ctl[i][0] = t->ctl[i][1] = -1;
    if (nchild < 1 || nchild > MPB_MAX_CHILD)
        return mpb_fail(r, MPB_ERROR, "team: bad child count %d", nchild);
    t->nchild = nchild;
    for (int i = 0; i < nchild; i++)
        if (pipe2(t->ctl[i], O_CLOEXEC) != 0)
            return mpb_fail(r, MPB_ERROR, "team: pipe: %s", strerror(errno));
    if (pipe2(t->done, O_CLOEXEC) != 0)
        return mpb_fail(r, MPB_ERROR, "team: pipe: %s", strerror(errno));
    return 0;
}

void mpb_team_started(mpb_team *t)
{
    if (t->done[1] >= 0)
        close(t->done[1]);
    t->done[1] = -1;
}

int mpb_team_go(mpb_team *t, long n, mpb_res *r)
{
    int64_t v = n;
    for (int i = 0; i < t->nchild; i++)
        if (mpb_write_full(t->ctl[i][1], &v, sizeof v) != 0)
            return mpb_fail(r, MPB_ERROR, "team: control write to child %d: %s", i,
                            strerror(errno));
    return 0;
}

int mpb_team_wait(mpb_team *t, mpb_res *r)
{
    int64_t last = mpb_now_ns();
    for (int got = 0; got < t->nchild;) {
        struct pollfd pf = {.fd = t->done[0], .events = POLLIN};
        int k = poll(&pf, 1, 1000);
        if (k < 0 && errno == EINTR)
            continue;
        if (k == 0) { /* slow, or a child died: check */
            for (int i = 0; i < t->nchild; i++)
                if (t->alive && !t->alive(t, i, r))
                    return -1;
            if (mpb_now_ns() - last > (int64_t)MPB_STALL_S * 1000000000) {
                char d[200] = "";
                if (t->diag)
                    t->diag(t, d, sizeof d);
                return mpb_fail(r, MPB_ERROR,
                                "round stalled: %d of %d children done after %d s%s%s", got,
                                t->nchild, MPB_STALL_S, d[0] ? "; " : "", d);
            }
            continue;
        }
        last = mpb_now_ns();
        mpb_res cr;
        if (mpb_read_full(t->done[0], &cr, sizeof cr) != 0)
            return mpb_fail(r, MPB_ERROR, "team: every child is gone (done pipe: %s)",
                            strerror(errno));
        got++;
        if (cr.kind != MPB_OK) {
            /* Stop at the first failure: the others may wait forever for a
             * peer that gave up (teardown ends them). */
            *r = cr;
            r->msg[sizeof r->msg - 1] = 0;
            return -1;
        }
    }
    return 0;
}

void mpb_team_close(mpb_team *t)
{
    for (int i = 0; i < MPB_MAX_CHILD; i++)
        for (int j = 0; j < 2; j++)
            if (t->ctl[i][j] >= 0)
                close(t->ctl[i][j]), t->ctl[i][j] = -1;
    for (int j = 0; j < 2; j++)
        if (t->done[j] >= 0)
            close(t->done[j]), t->done[j] = -1;
}

long mpb_child_next(mpb_team *t, int i)
{
    int64_t v;
    if (mpb_read_full(t->ctl[i][0], &v, sizeof v) != 0)
        return 0;
    return (long)v;
}

void mpb_child_done(mpb_team *t, const mpb_res *r)
{
    /* One write of < PIPE_BUF bytes: atomic even with several children. */
    (void)!write(t->done[1], r, sizeof *r);
}

/* ---------------------------------------------------------------- main */

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

typedef struct run_out {
    double *samples;
    double *cpu_s;     /* per sample: CPU seconds of the whole side */
    long long *minflt; /* per sample: minor page faults of the whole side */
    int64_t **raw;
    long *raw_n;
    int nsamples;
} run_out;

/* ---------------------------------------------------------------- cost */
/* CPU time (user + system) and minor page faults of the whole side: this
 * process (all its threads), the children it reaped, and every live
 * descendant (its team, a pool's workers, a manager's server), found through
 * /proc/<pid>/task/<tid>/children.  A descendant counts its threads' run
 * time (/proc/<pid>/task/<tid>/schedstat, ns) plus what its reaped children
 * used (cutime/cstime, cminflt of /proc/<pid>/stat), so a process that ends
 * during a round moves from "live" to its parent's "reaped" total and the
 * difference of two snapshots is the round's cost.  Resolution: 1 us for
 * this process (getrusage), 1 ns for live descendants, a clock tick (10 ms)
 * for what descendants reaped (none of the workloads does, in a round).
 * Not seen: a descendant's thread that ended in the round (its time is
 * dropped), a grandchild re-parented to init. */
typedef struct mpb_cost {
    double cpu_s;
    long long minflt;
} mpb_cost;

static ssize_t read_small(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t k = read(fd, buf, cap - 1);
    close(fd);
    if (k >= 0)
        buf[k] = 0;
    return k;
}

/* One descendant's own cost; appends its children's pids to kids. */
static void proc_cost_add(pid_t pid, mpb_cost *c, double tick, pid_t *kids, int *nkids, int maxkids)
{
    char path[320], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if (read_small(path, buf, sizeof buf) <= 0)
        return;
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (!p || !p[1])
        return;
    /* fields 3.. after ") ": state ppid pgrp session tty tpgid flags minflt
     * cminflt majflt cmajflt utime stime cutime cstime */
    long long f[15] = {0};
    char *q = p + 2;
    for (int i = 0; i < 15 && *q; i++) {
        if (i == 0) { /* state: one character */
            q += 2;
            continue;
        }
        f[i] = strtoll(q, &q, 10);
        while (*q == ' ')
            q++;
    }
    c->minflt += f[7] + f[8];
    double reaped = (double)(f[13] + f[14]) * tick, own = (double)(f[11] + f[12]) * tick;
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return;
    double run = 0;
    bool have_run = true;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "/proc/%d/task/%s/schedstat", (int)pid, e->d_name);
        if (read_small(path, buf, sizeof buf) > 0)
            run += (double)strtoull(buf, NULL, 10) / 1e9;
        else
            have_run = false;
        snprintf(path, sizeof path, "/proc/%d/task/%s/children", (int)pid, e->d_name);
        if (read_small(path, buf, sizeof buf) <= 0)
            continue;
        for (char *k = buf; *k;) {
            char *end;
            long child = strtol(k, &end, 10);
            if (end == k)
                break;
            k = end;
            while (*k == ' ' || *k == '\n')
                k++;
            if (*nkids < maxkids)
                kids[(*nkids)++] = (pid_t)child;
        }
    }
    closedir(d);
    c->cpu_s += reaped + (have_run ? run : own);
}

/* Adds every descendant of pid (breadth first, at most 256). */
static void descendants_add(pid_t pid, mpb_cost *c, double tick)
{
    enum { MAXP = 256 };
    pid_t q[MAXP];
    int n = 0;
    /* This process's own children (through its tasks' children files). */
    char path[320], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "/proc/%d/task/%s/children", (int)pid, e->d_name);
        if (read_small(path, buf, sizeof buf) <= 0)
            continue;
        for (char *k = buf; *k;) {
            char *end;
            long child = strtol(k, &end, 10);
            if (end == k)
                break;
            k = end;
            while (*k == ' ' || *k == '\n')
                k++;
            if (n < MAXP)
                q[n++] = (pid_t)child;
        }
    }
    closedir(d);
    for (int i = 0; i < n; i++)
        proc_cost_add(q[i], c, tick, q, &n, MAXP);
}

static void cost_now(mpb_cost *c)
{
    static double tick;
    if (tick == 0) {
        long hz = sysconf(_SC_CLK_TCK);
        tick = 1.0 / (double)(hz > 0 ? hz : 100);
    }
    struct rusage self, kids;
    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_CHILDREN, &kids);
    c->cpu_s = (double)(self.ru_utime.tv_sec + self.ru_stime.tv_sec + kids.ru_utime.tv_sec +
                        kids.ru_stime.tv_sec) +
               (double)(self.ru_utime.tv_usec + self.ru_stime.tv_usec + kids.ru_utime.tv_usec +
                        kids.ru_stime.tv_usec) /
                   1e6;
    c->minflt = self.ru_minflt + kids.ru_minflt;
    descendants_add(getpid(), c, tick);
}

/* A latency sample is the median operation of its round, except under the
 * "no loss" conditions -- pairs=P > 1 pairs busy at once, the side pinned
 * to cpus=K, or hogs=K CPU-bound processes beside it (bench/run.py runs
 * them) -- where it is the round's wall time per operation (elapsed / n:
 * the timed pair's n operations, and every other pair finishing its n).
 * Under contention a median says how the timed pair fared while it ran, not
 * what the crowd lost, and the two disagree both ways: 4 pairs on 2 CPUs, a
 * variant of ref's Pipe had a 19-20 us median round trip (p99 424-447 us)
 * but took 47 us per round trip over its rounds; the blocking socketpair a
 * 48-50 us median but 59 us per round trip.  Beside hogs most round trips
 * are quick and a few stall for a scheduler slice (milliseconds) while a
 * polling side holds the CPU its peer needs: the median hides the stalls,
 * which are the point of the figure.  python/mpbench.py follows the same
 * rule. */
static bool latency_is_round_mean(void)
{
    return mpb_param_long("pairs", 1) > 1 || mpb_param_long("cpus", 0) > 0 ||
           mpb_param_long("hogs", 0) > 0;
}

/* One round: n operations; stores the sample (ops/s, or median seconds per
 * operation, or elapsed / n: latency_is_round_mean). */
static int one_round(const mpb_workload *w, void *st, long n, bool latency, double *sample,
                     double *elapsed, int64_t **raw_keep, mpb_cost *cost, mpb_res *r)
{
    int64_t *ops = NULL;
    if (latency) {
        ops = calloc((size_t)n, sizeof *ops);
        if (!ops)
            return mpb_fail(r, MPB_ERROR, "out of memory for %ld latencies", n);
    }
    if (w->prepare && w->prepare(st, n, r) != 0) {
        free(ops);
        return -1;
    }
    mpb_cost c0, c1;
    cost_now(&c0); /* outside the clock: it reads /proc */
    int64_t t0 = mpb_now_ns();
    int rc = w->round(st, n, ops, r);
    int64_t t1 = mpb_now_ns();
    cost_now(&c1);
    cost->cpu_s = c1.cpu_s - c0.cpu_s;
    cost->minflt = c1.minflt - c0.minflt;
    if (rc == 0 && w->check)
        rc = w->check(st, n, r);
    if (rc != 0) {
        free(ops);
        return -1;
    }
    *elapsed = (double)(t1 - t0) / 1e9;
    if (*elapsed <= 0)
        *elapsed = 1e-9;
    if (latency && latency_is_round_mean()) {
        *sample = *elapsed / (double)n;
    } else if (latency) {
        int64_t *sorted = malloc((size_t)n * sizeof *sorted);
        if (!sorted) {
            free(ops);
            return mpb_fail(r, MPB_ERROR, "out of memory");
        }
        memcpy(sorted, ops, (size_t)n * sizeof *sorted);
        qsort(sorted, (size_t)n, sizeof *sorted, cmp_i64);
        *sample = (double)sorted[n / 2] / 1e9;
        free(sorted);
    } else {
        *sample = (double)n / *elapsed;
    }
    if (raw_keep)
        *raw_keep = ops;
    else
        free(ops);
    return 0;
}

/* round(n) of bench/calibration.json: a multiple of MPB_CAL_ROUND_MULTIPLE,
 * at least one. */
static long round_n(long n)
{
    const long m = MPB_CAL_ROUND_MULTIPLE;
    if (n < m)
        return m;
    return (n + m - 1) / m * m;
}

static void print_result(const mpb_workload *w, const mpb_res *r, long n, const run_out *o)
{
    FILE *f = stdout;
    fprintf(f, "{\"status\":\"%s\",\"workload\":",
            r->kind == MPB_OK      ? "ok"
            : r->kind == MPB_UNSUP ? "unsupported"
                                   : "error");
    json_str(f, w ? w->name : "?");
    fprintf(f, ",\"metric\":\"%s\",\"unit\":\"%s\",\"n\":%ld,\"samples\":[", w ? w->metric : "",
            w ? w->unit : "", n);
    for (int i = 0; o && i < o->nsamples; i++)
        fprintf(f, "%s%.9g", i ? "," : "", o->samples[i]);
    fputs("]", f);
    if (o && o->nsamples) {
        fputs(",\"cpu_s\":[", f);
        for (int i = 0; i < o->nsamples; i++)
            fprintf(f, "%s%.6f", i ? "," : "", o->cpu_s[i]);
        fputs("],\"minflt\":[", f);
        for (int i = 0; i < o->nsamples; i++)
            fprintf(f, "%s%lld", i ? "," : "", o->minflt[i]);
        fputs("]", f);
    }
    if (o && o->raw) {
        fputs(",\"raw_ns\":[", f);
        for (int i = 0; i < o->nsamples; i++) {
            fputs(i ? ",[" : "[", f);
            for (long j = 0; o->raw[i] && j < o->raw_n[i]; j++)
                fprintf(f, "%s%lld", j ? "," : "", (long long)o->raw[i][j]);
            fputs("]", f);
        }
        fputs("]", f);
    }
    fputs(",\"message\":", f);
    json_str(f, r->kind == MPB_OK ? "" : r->msg);
    fputs("}\n", f);
    fflush(f);
}

/* cpus=K (K >= 1): pins this process, before the workload starts any child,
 * to the first K CPUs it may run on; every child inherits the mask, so the
 * whole side shares those CPUs ("no loss when pinned to one CPU", #16).
 * bench/python/mpbench.py does the same.  0, or fills r when the machine has
 * fewer than K CPUs allowed or the call fails. */
static int pin_cpus(mpb_res *r)
{
    long k = mpb_param_long("cpus", 0);
    if (k <= 0)
        return 0;
    cpu_set_t allowed, want;
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0)
        return mpb_fail(r, MPB_ERROR, "sched_getaffinity: %s", strerror(errno));
    CPU_ZERO(&want);
    long got = 0;
    for (int c = 0; c < CPU_SETSIZE && got < k; c++)
        if (CPU_ISSET(c, &allowed)) {
            CPU_SET(c, &want);
            got++;
        }
    if (got < k)
        return mpb_fail(r, MPB_ERROR, "cpus=%ld: only %ld CPUs allowed", k, got);
    if (sched_setaffinity(0, sizeof want, &want) != 0)
        return mpb_fail(r, MPB_ERROR, "sched_setaffinity: %s", strerror(errno));
    return 0;
}

int mpb_main(int argc, char **argv, const mpb_workload *table, size_t count)
{
    long n = 0;
    double seconds = 0.2;
    int samples = 1;
    bool quick = false;
    const char *name = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-n") == 0 && i + 1 < argc)
            n = strtol(argv[++i], NULL, 10);
        else if (strcmp(a, "-t") == 0 && i + 1 < argc)
            seconds = strtod(argv[++i], NULL);
        else if (strcmp(a, "-s") == 0 && i + 1 < argc)
            samples = atoi(argv[++i]);
        else if (strcmp(a, "-q") == 0)
            quick = true;
        else if (strcmp(a, "-l") == 0) {
            for (size_t k = 0; k < count; k++)
                printf("%s\n", table[k].name);
            return 0;
        } else if (strchr(a, '=') && nparams < MPB_MAX_PARAMS) {
            char *eq = strchr(argv[i], '=');
            *eq = 0;
            pkeys[nparams] = argv[i];
            pvals[nparams++] = eq + 1;
        } else if (!name && a[0] != '-')
            name = a;
        else {
            fprintf(stderr, "usage: %s WORKLOAD [key=value ...] [-n N] [-t S] [-s K] [-q] | -l\n",
                    argv[0]);
            return 2;
        }
    }
    if (samples < 1 || samples > 1000)
        samples = 1;
    const int nalloc = samples;
    const mpb_workload *w = NULL;
    for (size_t k = 0; name && k < count; k++)
        if (strcmp(table[k].name, name) == 0)
            w = &table[k];
    if (!w) {
        fprintf(stderr, "%s: unknown workload '%s' (-l lists them)\n", argv[0], name ? name : "");
        return 2;
    }
    fflush(stdout);

    bool latency = strcmp(w->metric, "latency") == 0;
    /* Rounds never exceed nmax operations: keeps memory of unbounded queues
     * and of per-operation latency arrays in check. */
    long nmax = latency ? (long)MPB_CAL_N_MAX_LATENCY : (long)MPB_CAL_N_MAX;
    long size = mpb_param_long("size", 0);
    long n0 = w->n0, qn = w->quick_n;
    if (size > 0) { /* big messages: fewer of them */
        long cap0 = (long)MPB_CAL_FIRST_ROUND_BYTES / size;
        long capq = (long)MPB_CAL_QUICK_ROUND_BYTES / size;
        if (n0 > cap0)
            n0 = cap0;
        if (qn > capq)
            qn = capq;
    }

    mpb_res r = {.kind = MPB_OK};
    run_out o = {0};
    /* malloc=fixed: the figure is defined by glibc's thresholds, which glibc
     * reads from the environment at the first malloc; run.py sets them. */
    if (strcmp(mpb_param_str("malloc", "default"), "fixed") == 0 &&
        (!getenv("MALLOC_MMAP_THRESHOLD_") || !getenv("MALLOC_TRIM_THRESHOLD_") ||
         !getenv("MALLOC_TOP_PAD_"))) {
        mpb_fail(&r, MPB_ERROR,
                 "malloc=fixed needs MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_ and "
                 "MALLOC_TOP_PAD_ (bench/run.py sets them)");
        print_result(w, &r, 0, NULL);
        return 0;
    }
    o.samples = calloc((size_t)samples, sizeof *o.samples);
    o.cpu_s = calloc((size_t)samples, sizeof *o.cpu_s);
    o.minflt = calloc((size_t)samples, sizeof *o.minflt);
    mpb_cost cost;
    if (latency) {
        o.raw = calloc((size_t)samples, sizeof *o.raw);
        o.raw_n = calloc((size_t)samples, sizeof *o.raw_n);
    }
    void *st = NULL;
    double e = 0, s = 0;
    if (pin_cpus(&r) != 0)
        goto out;
    if (w->setup(&st, &r) != 0)
        goto out;
    /* Streaming figures are steady-state figures.  Fresh shared memory costs
     * a first-touch page fault per 4 KiB page (about 20 us on a VM like this
     * one, more than the copy of the page), and a shared-memory ring is only
     * touched everywhere after one lap.  Left in, that cost decides where
     * calibration stops (a 2 -> 1 stream of 1 KiB measured 0.23 M msg/s
     * calibrated from cold, 1.5 M warm).  So every stream first moves
     * MPB_CAL_WARM_BYTES (two laps of ref's 16 MiB queue ring) untimed, in
     * rounds of growing size, or as much as MPB_CAL_WARM_SECONDS allows: a slow
     * side has no ring to warm.  Steps 1-4 of bench/calibration.json. */
    if (!quick && size > 0 && !latency) {
        long goal = (long)MPB_CAL_WARM_BYTES / size, moved = 0, wn = n0;
        double spent = 0;
        while (moved < goal && spent < MPB_CAL_WARM_SECONDS) {
            if (wn > goal - moved)
                wn = goal - moved;
            wn = round_n(wn);
            if (one_round(w, st, wn, latency, &s, &e, NULL, &cost, &r) != 0)
                goto out;
            moved += wn;
            spent += e;
            wn *= MPB_CAL_WARM_GROWTH;
        }
    }
    if (quick) {
        n = round_n(qn);
        samples = 1;
    } else if (n > 0) {
        n = round_n(n > nmax ? nmax : n);
        if (one_round(w, st, round_n(n / MPB_CAL_WARMUP_DIVISOR), latency, &s, &e, NULL, &cost,
                      &r) != 0)
            goto out;
    } else { /* calibrate */
        n = round_n(n0);
        for (;;) {
            if (one_round(w, st, n, latency, &s, &e, NULL, &cost, &r) != 0)
                goto out;
            if (e >= seconds / MPB_CAL_GROW_UNTIL_DIVISOR || n >= nmax)
                break;
            double f = e > 0 ? seconds / MPB_CAL_GROW_UNTIL_DIVISOR / e * MPB_CAL_GROW_OVERSHOOT
                             : MPB_CAL_GROW_MAX;
            f = f < MPB_CAL_GROW_MIN   ? MPB_CAL_GROW_MIN
                : f > MPB_CAL_GROW_MAX ? MPB_CAL_GROW_MAX
                                       : f;
            n = round_n((long)((double)n * f));
            if (n > nmax)
                n = nmax;
        }
        /* The first rounds pay cold costs (page faults, lazy set-up), which
         * can stop the growth too early: rescale until a round is long
         * enough.  The last of these rounds is this invocation's sample. */
        int64_t *raw = NULL;
        for (int k = 0;; k++) {
            double want = (double)n * seconds / e;
            n = round_n(want > (double)nmax ? nmax : (long)want);
            free(raw);
            raw = NULL;
            if (one_round(w, st, n, latency, &s, &e, latency ? &raw : NULL, &cost, &r) != 0)
                goto out;
            if (e >= seconds / MPB_CAL_RESCALE_UNTIL_DIVISOR || n >= nmax ||
                k == MPB_CAL_RESCALE_ROUNDS - 1)
                break;
        }
        samples = 0;
        o.samples[0] = s;
        o.cpu_s[0] = cost.cpu_s;
        o.minflt[0] = cost.minflt;
        if (latency) {
            o.raw[0] = raw;
            o.raw_n[0] = n;
        }
        o.nsamples = 1;
    }
    for (int i = 0; i < samples; i++) {
        int64_t *raw = NULL;
        if (one_round(w, st, n, latency, &s, &e, latency ? &raw : NULL, &cost, &r) != 0)
            goto out;
        o.samples[i] = s;
        o.cpu_s[i] = cost.cpu_s;
        o.minflt[i] = cost.minflt;
        if (latency) {
            o.raw[i] = raw;
            o.raw_n[i] = n;
        }
        o.nsamples = i + 1;
    }
out:
    if (w->teardown)
        w->teardown(st);
    print_result(w, &r, n, r.kind == MPB_OK ? &o : NULL);
    for (int i = 0; o.raw && i < nalloc; i++)
        free(o.raw[i]);
    free(o.raw);
    free(o.raw_n);
    free(o.samples);
    free(o.cpu_s);
    free(o.minflt);
    return 0;
}
