/* ringcheck -- an independent yardstick for osfloor's ring (bench/README.md).
 *
 *   ringcheck [SIZE [SECONDS]]     default 64 bytes, 1 s
 *
 * A standalone single-producer / single-consumer byte ring between two
 * forked processes, written apart from osfloor.c (no shared code) in the
 * simplest form that is known to be fast: it never sleeps (a side that must
 * wait spins, yielding the CPU now and then),
 * each side publishes its index only every BATCH records with a release store
 * and keeps a private copy of the peer's, indices sit on separate cache
 * lines, records are [u64 len][payload padded to 8].  It prints the message
 * rate of its best of three timed runs on one line, so that `make
 * bench-ringcheck` can state how close osfloor's ring (which must also sleep
 * correctly, and so pays a fence every 256 records) comes to it on the same
 * machine.
 *
 *   ringcheck --json SIZE [-t SECONDS] [-n N -s 1] [-q]
 *
 * is the same ring as a side of bench/run.py (impl os.ringcheck, beside
 * os.ring in the 64 B stream group): one timed window of SECONDS (0.15 by
 * default, 0.02 with -q; -n/-s are accepted and ignored, the window is
 * timed, not counted), printed as the harness's JSON line with the CPU time
 * of both children over the window (/proc/<pid>/schedstat) and their minor
 * faults (/proc/<pid>/stat). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CAP ((uint64_t)16 << 20)
#ifndef BATCH
#define BATCH 32
#endif

struct shared {
    _Alignas(64) _Atomic uint64_t w;     /* bytes written (producer) */
    _Alignas(64) _Atomic uint64_t r;     /* bytes read (consumer) */
    _Alignas(64) _Atomic int go;         /* 1: start; 2: stop producing; 3: drained */
    _Alignas(64) _Atomic uint64_t count; /* consumer: messages received */
    _Alignas(64) unsigned char buf[];
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static inline void pause_cpu(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* A side that finds the ring full (empty) spins a little, then yields: on a
 * machine with more runnable processes than CPUs its peer may not be running
 * at all, and a pure spinner would burn the slice the peer needs. */
static inline void backoff(unsigned *k)
{
    if (++*k < 256)
        pause_cpu();
    else {
        *k = 0;
        sched_yield();
    }
}

static void copy_in(struct shared *s, uint64_t at, const void *p, size_t n)
{
    size_t o = (size_t)(at % CAP), k = CAP - o < n ? CAP - o : n;
    memcpy(s->buf + o, p, k);
    memcpy(s->buf, (const char *)p + k, n - k);
}

static void copy_out(struct shared *s, uint64_t at, void *p, size_t n)
{
    size_t o = (size_t)(at % CAP), k = CAP - o < n ? CAP - o : n;
    memcpy(p, s->buf + o, k);
    memcpy((char *)p + k, s->buf, n - k);
}

static void producer(struct shared *s, size_t size)
{
    unsigned char *msg = malloc(size + 1);
    for (size_t i = 0; i < size; i++)
        msg[i] = (unsigned char)i;
    uint64_t rec = (8 + size + 7) & ~(uint64_t)7, w = 0, rc = 0;
    unsigned pend = 0;
    while (atomic_load_explicit(&s->go, memory_order_acquire) == 0)
        pause_cpu();
    while (atomic_load_explicit(&s->go, memory_order_relaxed) == 1) {
        for (unsigned k = 0; CAP - (w - rc) < rec;) {
            atomic_store_explicit(&s->w, w, memory_order_release);
            pend = 0;
            rc = atomic_load_explicit(&s->r, memory_order_acquire);
            if (CAP - (w - rc) < rec)
                backoff(&k);
        }
        uint64_t len = size;
        copy_in(s, w, &len, 8);
        copy_in(s, w + 8, msg, size);
        w += rec;
        if (++pend == BATCH) {
            atomic_store_explicit(&s->w, w, memory_order_release);
            pend = 0;
        }
    }
    atomic_store_explicit(&s->w, w, memory_order_release);
    free(msg);
}

static int consumer(struct shared *s, size_t size)
{
    unsigned char *dst = malloc(size + 1);
    uint64_t r = 0, wc = 0, n = 0;
    unsigned pend = 0, k = 0;
    for (;;) {
        if (r == wc) {
            atomic_store_explicit(&s->r, r, memory_order_release);
            pend = 0;
            atomic_store_explicit(&s->count, n, memory_order_relaxed);
            wc = atomic_load_explicit(&s->w, memory_order_acquire);
            if (r == wc) {
                if (atomic_load_explicit(&s->go, memory_order_acquire) == 3)
                    break;
                backoff(&k);
                continue;
            }
            k = 0;
        }
        uint64_t len;
        copy_out(s, r, &len, 8);
        if (len != size) {
            fprintf(stderr, "ringcheck: bad record length %llu\n", (unsigned long long)len);
            return 1;
        }
        copy_out(s, r + 8, dst, size);
        r += (8 + size + 7) & ~(uint64_t)7;
        n++;
        if (++pend == BATCH) {
            atomic_store_explicit(&s->r, r, memory_order_release);
            atomic_store_explicit(&s->count, n, memory_order_relaxed);
            pend = 0;
        }
    }
    free(dst);
    return 0;
}

/* CPU nanoseconds and minor faults of process pid so far (0 if unknown). */
static void proc_cost(pid_t pid, double *cpu_ns, double *minflt)
{
    char path[64];
    unsigned long long run_ns = 0, flt = 0;
    snprintf(path, sizeof path, "/proc/%d/schedstat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f) {
        if (fscanf(f, "%llu", &run_ns) != 1)
            run_ns = 0;
        fclose(f);
    }
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (f) { /* field 10 (minflt), after "pid (comm) state" */
        char line[1024];
        const char *p = fgets(line, sizeof line, f) ? strrchr(line, ')') : NULL;
        if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %llu", &flt) != 1)
            flt = 0;
        fclose(f);
    }
    *cpu_ns += (double)run_ns;
    *minflt += (double)flt;
}

/* One timed run: messages per second over about `secs` seconds; *msgs (if
 * not NULL) the messages counted, *cpu_s and *minflt those of both children
 * over the window. */
static double run(size_t size, double secs, double *msgs, double *cpu_s, double *minflt)
{
    size_t len = sizeof(struct shared) + CAP;
    struct shared *s = mmap(NULL, len, PROT_READ | PROT_WRITE,
                            MAP_SHARED | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (s == MAP_FAILED) {
        perror("mmap");
        exit(2);
    }
    pid_t p = fork();
    if (p == 0) {
        producer(s, size);
        _exit(0);
    }
    pid_t c = fork();
    if (c == 0)
        _exit(consumer(s, size));
    /* Warm up a little (one lap of the ring), then time a window. */
    atomic_store(&s->go, 1);
    double t0 = now();
    while (atomic_load(&s->count) < CAP / ((8 + size + 7) & ~(size_t)7) && now() - t0 < 1) {
        usleep(1000);
    }
    double c0 = 0, f0 = 0, c1 = 0, f1 = 0;
    proc_cost(p, &c0, &f0);
    proc_cost(c, &c0, &f0);
    uint64_t n0 = atomic_load(&s->count);
    t0 = now();
    usleep((useconds_t)(secs * 1e6));
    uint64_t n1 = atomic_load(&s->count);
    double t1 = now();
    proc_cost(p, &c1, &f1);
    proc_cost(c, &c1, &f1);
    if (msgs)
        *msgs = (double)(n1 - n0);
    if (cpu_s)
        *cpu_s = (c1 - c0) / 1e9;
    if (minflt)
        *minflt = f1 - f0;
    atomic_store(&s->go, 2);
    int st;
    waitpid(p, &st, 0);
    atomic_store(&s->go, 3);
    waitpid(c, &st, 0);
    munmap(s, len);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "ringcheck: consumer failed\n");
        exit(1);
    }
    return (double)(n1 - n0) / (t1 - t0);
}

static int json_main(int argc, char **argv)
{
    size_t size = 0;
    double secs = 0.15;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "-t") == 0 && i + 1 < argc)
            secs = strtod(argv[++i], NULL);
        else if ((strcmp(argv[i], "-n") == 0 || strcmp(argv[i], "-s") == 0) && i + 1 < argc)
            i++;
        else if (strcmp(argv[i], "-q") == 0)
            secs = 0.02;
        else if (strncmp(argv[i], "size=", 5) == 0)
            size = strtoul(argv[i] + 5, NULL, 10);
        else if (strchr(argv[i], '=') == NULL)
            size = strtoul(argv[i], NULL, 10);
    }
    if (size == 0 || size > CAP / 4 || !(secs > 0)) {
        fprintf(stderr, "usage: ringcheck --json SIZE [-t SECONDS] [-q]\n");
        return 2;
    }
    double msgs = 0, cpu = 0, flt = 0;
    double rate = run(size, secs, &msgs, &cpu, &flt);
    printf("{\"status\":\"ok\",\"workload\":\"ringcheck\",\"metric\":\"throughput\","
           "\"unit\":\"msg/s\",\"n\":%.0f,\"samples\":[%.6g],\"cpu_s\":[%.6f],"
           "\"minflt\":[%.0f],\"message\":\"\"}\n",
           msgs, rate, cpu, flt);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--json") == 0)
        return json_main(argc, argv);
    size_t size = argc > 1 ? strtoul(argv[1], NULL, 10) : 64;
    double secs = argc > 2 ? strtod(argv[2], NULL) : 1.0;
    if (size == 0 || size > CAP / 4 || !(secs > 0)) {
        fprintf(stderr, "usage: ringcheck [SIZE (1..4 MiB)] [SECONDS]\n");
        return 2;
    }
    double best = 0;
    for (int i = 0; i < 3; i++) {
        double v = run(size, secs, NULL, NULL, NULL);
        if (v > best)
            best = v;
    }
    printf("ringcheck size=%zu best of 3: %.4g msg/s\n", size, best);
    return 0;
}
