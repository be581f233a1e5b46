/* Process: start/join/terminate, exit codes, names, daemons, misuse.
 * Children report through pipes (never cr_assert in a child); processes are
 * sequenced with pipes, never with sleeps. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>
#include <wchar.h>
#if defined(__GLIBC__) && __GLIBC_PREREQ(2, 32)
#include <sys/single_threaded.h>
#endif

#include "mpt.h"

/* ---------------------------------------------------------------- helpers */

/* Everything up to EOF (the caller closed its own write end). */
static size_t read_to_eof(int fd, char *buf, size_t cap)
{
    size_t got = 0;
    for (;;) {
        ssize_t n = read(fd, buf + got, cap - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    buf[got] = 0;
    return got;
}

static void put_int(int fd, int v) { mpt_write_all(fd, &v, sizeof v); }

static int get_int(int fd)
{
    int v = 0;
    cr_assert(mpt_read_all(fd, &v, sizeof v), "child did not report (EOF)");
    return v;
}

static void put_str(int fd, const char *s)
{
    int n = (int)strlen(s);
    put_int(fd, n);
    mpt_write_all(fd, s, (size_t)n);
}

static void get_str(int fd, char *buf, size_t cap)
{
    int n = get_int(fd);
    cr_assert(n >= 0 && (size_t)n < cap, "bad string length %d", n);
    cr_assert(mpt_read_all(fd, buf, (size_t)n));
    buf[n] = 0;
}

static void wait_byte(int fd)
{
    char c;
    mpt_read_all(fd, &c, 1);
}

static void send_byte(int fd) { mpt_write_all(fd, "x", 1); }

/* Parent pid from /proc/<pid>/stat (0 if unreadable). */
static pid_t ppid_of(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t k = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[k] = 0;
    char *rp = strrchr(buf, ')');
    int ppid = 0;
    char state;
    if (!rp || sscanf(rp + 2, "%c %d", &state, &ppid) != 2)
        return 0;
    return (pid_t)ppid;
}

static bool pid_gone(pid_t pid) { return kill(pid, 0) == -1 && errno == ESRCH; }

/* pid_gone(), but a process still there is killed (and reaped when it is an
 * orphan reparented to us) before the caller asserts. */
static bool gone_or_kill(pid_t pid)
{
    if (pid <= 0 || pid_gone(pid))
        return true;
    bool ours = ppid_of(pid) == getpid();
    kill(pid, SIGKILL);
    if (ours)
        waitpid(pid, NULL, 0);
    return false;
}

static int exitcode_of(mp_process *p)
{
    int code = 12345;
    MP_ASSERT_OK(mp_process_exitcode(p, &code));
    return code;
}

/* Shared by the children of a test (copied into them by fork).
 *   a, b  child -> test reports      c  grandchild -> child
 *   d     test -> children releases  l  lifeline, never written
 * Children drop their copies of d.w and l.w first (child_init), so that if
 * the test process dies (a failed assertion) every child blocked on d or l
 * sees EOF and ends instead of holding the runner's pipes forever. */
static struct {
    bool ready;
    mpt_pipefd a, b, c, d, l;
    mp_process *other;
    int grand_daemon;
    bool grand_free;
} T;

static void t_reset(void)
{
    memset(&T, 0, sizeof T);
    T.a = mpt_pipe();
    T.b = mpt_pipe();
    T.c = mpt_pipe();
    T.d = mpt_pipe();
    T.l = mpt_pipe();
    T.ready = true;
}

static void t_close(void)
{
    mpt_closepipe(&T.a);
    mpt_closepipe(&T.b);
    mpt_closepipe(&T.c);
    mpt_closepipe(&T.d);
    mpt_closepipe(&T.l);
    T.ready = false;
}

static void child_init(void)
{
    if (T.ready) {
        mpt_closefd(&T.d.w);
        mpt_closefd(&T.l.w);
    }
}

static void release(void) { send_byte(T.d.w); }

/* Until killed (or the test process is gone). */
static void block_forever(void)
{
    char c;
    while (read(T.l.r, &c, 1) < 0 && errno == EINTR)
        ;
    _exit(0);
}

/* ------------------------------------------------------------ §3, §4, §5 */

static int report_name_pid(void *arg)
{
    child_init();
    put_str(T.a.w, (const char *)arg);
    put_int(T.a.w, (int)getpid());
    put_str(T.a.w, mp_current_name());
    return 0;
}

MPT_TEST(process, PROC_START_RUNS_TARGET,
         "PROC-START-RUNS-TARGET: start runs target(arg) in a new process")
{
    t_reset();
    mp_process *p = NULL;
    MP_ASSERT_OK(mp_process_new(&p, report_name_pid, "bob"));
    MP_ASSERT_OK(mp_process_start(p));
    char s[64], name[64];
    get_str(T.a.r, s, sizeof s);
    int child = get_int(T.a.r);
    get_str(T.a.r, name, sizeof name);
    pid_t pid = 0;
    MP_ASSERT_OK(mp_process_pid(p, &pid));
    const char *want = NULL;
    MP_ASSERT_OK(mp_process_name(p, &want));
    cr_assert_str_eq(s, "bob");
    cr_assert_neq(child, (int)getpid(), "target ran in the calling process");
    cr_assert_eq(child, (int)pid, "mp_process_pid %d != child's getpid %d", (int)pid, child);
    cr_assert_str_eq(name, want, "mp_current_name in the child");
    cr_assert_eq(mpt_join(p), 0);
    t_close();
}

static int run_self(mp_process *self)
{
    child_init();
    void *data = NULL;
    const char *name = NULL;
    mp_process_data(self, &data);
    mp_process_name(self, &name);
    put_str(T.a.w, (const char *)data);
    put_str(T.a.w, name ? name : "?");
    return 4;
}

MPT_TEST(process, PROC_RUN_CALLBACK,
         "PROC-RUN-CALLBACK: the run form calls run(self) in the child with its data")
{
    t_reset();
    mp_process *p = NULL;
    MP_ASSERT_OK(mp_process_new_run(&p, run_self, "payload"));
    MP_ASSERT_OK(mp_process_set_name(p, "worker"));
    void *d = NULL;
    MP_ASSERT_OK(mp_process_data(p, &d));
    cr_assert_str_eq((const char *)d, "payload");
    MP_ASSERT_OK(mp_process_start(p));
    char s[64];
    get_str(T.a.r, s, sizeof s);
    cr_assert_str_eq(s, "payload");
    get_str(T.a.r, s, sizeof s);
    cr_assert_str_eq(s, "worker");
    cr_assert_eq(mpt_join(p), 4);
    t_close();
}

static int wait_release_then_mark(void *arg)
{
    child_init();
    (void)arg;
    wait_byte(T.d.r);
    send_byte(T.b.w);
    return 5;
}

MPT_TEST(process, PROC_JOIN_WAITS,
         "PROC-JOIN-WAITS: join blocks until the child has finished; exitcode is then known")
{
    t_reset();
    mp_process *p = mpt_start(wait_release_then_mark, NULL);
    mpt_closefd(&T.b.w); /* only the child writes b now */
    release();
    MP_ASSERT_OK(mp_process_join(p, MP_FOREVER));
    /* The child's last action is already visible: it had ended. */
    int fl = fcntl(T.b.r, F_GETFL);
    fcntl(T.b.r, F_SETFL, fl | O_NONBLOCK);
    char c = 0;
    cr_assert_eq(read(T.b.r, &c, 1), 1, "join returned before the child's last write");
    cr_assert_eq(exitcode_of(p), 5);
    bool alive = true;
    MP_ASSERT_OK(mp_process_is_alive(p, &alive));
    cr_assert(!alive);
    mp_process_free(p);
    t_close();
}

static int wait_release(void *arg)
{
    child_init();
    (void)arg;
    wait_byte(T.d.r);
    return 0;
}

MPT_TEST(process, PROC_JOIN_TIMEOUT_RUNNING,
         "PROC-JOIN-TIMEOUT-RUNNING: join(t) on a running child returns MP_TIMEOUT after t, never "
         "earlier")
{
    t_reset();
    mp_process *p = mpt_start(wait_release, NULL);
    MPT_ASSERT_TIMED(mp_process_join(p, 0.3), MP_TIMEOUT, 0.3);
    /* Timeouts just short of a whole millisecond: a deadline rounded down to
     * milliseconds ends up to 0.99 ms early, which a busy machine's wake-up
     * latency can hide once, but not forty times. */
    for (int i = 0; i < 40; i++)
        MPT_ASSERT_TIMED(mp_process_join(p, 0.00999), MP_TIMEOUT, 0.00999);
    int code = 0;
    MP_ASSERT_OK(mp_process_exitcode(p, &code));
    cr_assert_eq(code, MP_EXITCODE_NONE);
    release();
    cr_assert_eq(mpt_join(p), 0);
    t_close();
}

MPT_TEST(process, PROC_JOIN_ZERO_PROMPT,
         "PROC-JOIN-ZERO-PROMPT: join(0) and join(-1) on a running child return MP_TIMEOUT at once")
{
    t_reset();
    mp_process *p = mpt_start(wait_release, NULL);
    MPT_ASSERT_PROMPT(mp_process_join(p, 0), MP_TIMEOUT);
    MPT_ASSERT_PROMPT(mp_process_join(p, -1.0), MP_TIMEOUT);
    release();
    cr_assert_eq(mpt_join(p), 0);
    t_close();
}

MPT_TEST(process, PROC_JOIN_TIMEOUT_ENDS,
         "PROC-JOIN-TIMEOUT-ENDS: join(t) returns MP_OK as soon as the child ends before t")
{
    t_reset();
    mp_process *p = mpt_start(wait_release, NULL);
    release();
    MPT_ASSERT_PROMPT(mp_process_join(p, 30.0), MP_OK);
    cr_assert_eq(exitcode_of(p), 0);
    mp_process_free(p);
    t_close();
}

static int ret0(void *arg)
{
    child_init();
    (void)arg;
    return 0;
}

MPT_TEST(
    process, PROC_JOIN_ENDED_OK,
    "PROC-JOIN-ENDED-OK: joining an ended process again returns MP_OK at once, even with timeout 0")
{
    mp_process *p = mpt_start(ret0, NULL);
    MP_ASSERT_OK(mp_process_join(p, MP_FOREVER));
    MPT_ASSERT_PROMPT(mp_process_join(p, 0), MP_OK);
    MPT_ASSERT_PROMPT(mp_process_join(p, MP_FOREVER), MP_OK);
    cr_assert_eq(mpt_join(p), 0);
}

MPT_TEST(process, PROC_JOIN_NAN, "PROC-JOIN-NAN: join with a NaN timeout is MP_EINVAL")
{
    mp_process *p = mpt_start(ret0, NULL);
    MP_ASSERT_STATUS(mp_process_join(p, NAN), MP_EINVAL);
    cr_assert_eq(mpt_join(p), 0);
}

/* ------------------------------------------------------------- exit codes */

static int ret_arg(void *arg)
{
    child_init();
    return (int)(intptr_t)arg;
}

MPT_TEST(process, PROC_EXITCODE_RETURN,
         "PROC-EXITCODE-RETURN: the target's return value is the exit code")
{
    cr_assert_eq(mpt_join(mpt_start(ret_arg, (void *)(intptr_t)3)), 3);
    cr_assert_eq(mpt_join(mpt_start(ret_arg, (void *)(intptr_t)0)), 0);
}

MPT_TEST(process, PROC_EXITCODE_MASK,
         "PROC-EXITCODE-MASK: an exit code is the status modulo 256, as the OS reports it")
{
    cr_assert_eq(mpt_join(mpt_start(ret_arg, (void *)(intptr_t)259)), 3);
}

static int exit7(void *arg)
{
    child_init();
    (void)arg;
    _exit(7);
}

MPT_TEST(process, PROC_EXITCODE_EXIT_CALL,
         "PROC-EXITCODE-EXIT-CALL: a target that calls _exit(7) gives exitcode 7")
{
    cr_assert_eq(mpt_join(mpt_start(exit7, NULL)), 7);
}

static int ready_then_block(void *arg)
{
    child_init();
    (void)arg;
    send_byte(T.a.w);
    block_forever();
    return 0;
}

MPT_TEST(process, PROC_EXITCODE_SIGTERM,
         "PROC-EXITCODE-SIGTERM: terminate ends the child; exitcode is -15 (-SIGTERM)")
{
    t_reset();
    mp_process *p = mpt_start(ready_then_block, NULL);
    wait_byte(T.a.r);
    MP_ASSERT_OK(mp_process_terminate(p));
    cr_assert_eq(mpt_join(p), -SIGTERM);
    t_close();
}

MPT_TEST(process, PROC_EXITCODE_SIGKILL,
         "PROC-EXITCODE-SIGKILL: kill ends the child with SIGKILL; exitcode is -9")
{
    t_reset();
    mp_process *p = mpt_start(ready_then_block, NULL);
    wait_byte(T.a.r);
    MP_ASSERT_OK(mp_process_kill(p));
    cr_assert_eq(mpt_join(p), -SIGKILL);
    t_close();
}

static void on_term(int sig)
{
    char c = (char)sig;
    (void)!write(T.b.w, &c, 1);
    _exit(40);
}

static int handle_term(void *arg)
{
    child_init();
    (void)arg;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    send_byte(T.a.w);
    block_forever();
    return 0;
}

MPT_TEST(process, PROC_TERMINATE_SENDS_SIGTERM,
         "PROC-TERMINATE-SENDS-SIGTERM: terminate delivers SIGTERM, which the child can handle")
{
    t_reset();
    mp_process *p = mpt_start(handle_term, NULL);
    mpt_closefd(&T.b.w); /* EOF, not a hang, if the handler never runs */
    wait_byte(T.a.r);
    MP_ASSERT_OK(mp_process_terminate(p));
    char sig = 0;
    cr_assert(mpt_read_all(T.b.r, &sig, 1));
    cr_assert_eq(sig, SIGTERM, "child got signal %d", sig);
    cr_assert_eq(mpt_join(p), 40);
    t_close();
}

static int buffered_write(void *arg)
{
    child_init();
    bool block = arg != NULL;
    FILE *f = fdopen(dup(T.b.w), "w");
    if (!f)
        return 99;
    static char buf[4096];
    setvbuf(f, buf, _IOFBF, sizeof buf);
    fputs("buffered", f);
    if (block) {
        send_byte(T.a.w);
        block_forever();
    }
    return 0;
}

/* Closes the test's copy of b's write end, then asserts that what was
 * written to b, up to EOF, is want. */
static void expect_b(const char *want)
{
    mpt_closefd(&T.b.w);
    char out[64];
    read_to_eof(T.b.r, out, sizeof out);
    cr_assert_str_eq(out, want);
}

MPT_TEST(
    process, PROC_EXIT_FLUSHES_STDIO,
    "PROC-EXIT-FLUSHES-STDIO: a child that returns normally has its buffered stdio output flushed")
{
    t_reset();
    mp_process *p = mpt_start(buffered_write, NULL);
    cr_assert_eq(mpt_join(p), 0);
    expect_b("buffered");
    t_close();
}

/* The parent's stream, buffered before the start and written by both sides. */
static FILE *parent_out;

static int append_child(void *arg)
{
    (void)arg;
    child_init();
    fputs("child", parent_out);
    return 0;
}

MPT_TEST(process, PROC_START_FLUSHES_STDIO,
         "PROC-START-FLUSHES-STDIO: output the parent buffered before start is written once, "
         "before the child's")
{
    t_reset();
    parent_out = fdopen(dup(T.b.w), "w");
    cr_assert(parent_out);
    static char buf[4096];
    setvbuf(parent_out, buf, _IOFBF, sizeof buf);
    fputs("parent-", parent_out);
    mp_process *p = mpt_start(append_child, NULL);
    cr_assert_eq(mpt_join(p), 0);
    cr_assert_eq(fclose(parent_out), 0);
    expect_b("parent-child");
    t_close();
}

/* The solo program's streams on its fd: byte oriented (parent_out, written
 * by both sides; solo_late, written by the child alone) and wide oriented
 * (solo_wide, written by the parent alone). */
static FILE *solo_late, *solo_wide;

static int solo_append(void *arg)
{
    fputs(arg ? "child" : "!", arg ? parent_out : solo_late);
    return 0;
}

/* A stream on dup(fd) with its own buffer of 4 KiB, block buffered. */
static FILE *solo_stream(int fd)
{
    static char bufs[3][4096];
    static int used;
    FILE *f = fdopen(dup(fd), "w");
    if (f && used < 3)
        setvbuf(f, bufs[used++], _IOFBF, sizeof bufs[0]);
    return f;
}

/* Starts a child running solo_append(arg) and joins it: 0, or the step that
 * failed. */
static int solo_run(void *arg)
{
    mp_process *p;
    int code = -1;
    if (mp_process_new(&p, solo_append, arg) != MP_OK)
        return 12;
    if (mp_process_start(p) != MP_OK)
        return 13;
    if (mp_process_join(p, MP_FOREVER) != MP_OK || mp_process_exitcode(p, &code) != MP_OK)
        return 14;
    mp_process_free(p);
    return code == 0 ? 0 : 15;
}

/* PROC-START-FLUSHES-STDIO and PROC-EXIT-FLUSHES-STDIO in a program that has
 * never started a thread, on fd: first "parent-" buffered before a start and
 * "child" buffered by the child in the same stream; then "wide" buffered in a
 * wide-oriented stream before a start, and "!" buffered by the child in
 * another stream.  Returns 0, or the step that failed. */
MPT_SOLO(flush_single_threaded)
{
#if defined(__GLIBC__) && __GLIBC_PREREQ(2, 32)
    if (!__libc_single_threaded)
        return 10; /* the run would not be what the row says */
#endif
    parent_out = solo_stream(fd);
    solo_late = solo_stream(fd);
    solo_wide = solo_stream(fd);
    close(fd);
    if (!parent_out || !solo_late || !solo_wide)
        return 11;
    fputs("parent-", parent_out);
    int s = solo_run("child");
    if (s != 0)
        return s;
    if (fclose(parent_out) != 0)
        return 16;
    fputws(L"wide", solo_wide);
    s = solo_run(NULL);
    if (s != 0)
        return 20 + s;
    return fclose(solo_wide) == 0 && fclose(solo_late) == 0 ? 0 : 17;
}

MPT_TEST(process, PROC_FLUSHES_STDIO_SINGLE_THREADED,
         "PROC-FLUSHES-STDIO-SINGLE-THREADED: in a program that never started a thread, output "
         "buffered before start (byte or wide oriented) is written once and before the child's, "
         "and the child's at its exit")
{
    t_reset();
    int st = mpt_solo("flush_single_threaded", T.b.w);
    cr_assert_geq(st, 0, "the single-threaded program was killed by signal %d", -st);
    cr_assert_eq(st, 0, "the single-threaded program failed at step %d", st);
    expect_b("parent-childwide!");
    t_close();
}

MPT_TEST(process, PROC_TERMINATE_NO_EXIT_HANDLING,
         "PROC-TERMINATE-NO-EXIT-HANDLING: a terminated child does not run exit handling: its "
         "buffered output is lost")
{
    t_reset();
    mp_process *p = mpt_start(buffered_write, (void *)1);
    wait_byte(T.a.r);
    MP_ASSERT_OK(mp_process_terminate(p));
    cr_assert_eq(mpt_join(p), -SIGTERM);
    mpt_closefd(&T.b.w);
    char out[64];
    cr_assert_eq(read_to_eof(T.b.r, out, sizeof out), 0, "output flushed: '%s'", out);
    t_close();
}

/* A grandchild: reports its pid on b, then, once the test releases it
 * (d), reports it again -- proof that it outlived its parent -- and blocks. */
static void grand_report_wait_block(void)
{
    put_int(T.b.w, (int)getpid());
    wait_byte(T.d.r);
    put_int(T.b.w, (int)getpid());
    block_forever();
}

static int grand_report_block(void *arg)
{
    child_init();
    (void)arg;
    grand_report_wait_block();
    return 0;
}

static int start_grand_then_block(void *arg)
{
    child_init();
    (void)arg;
    mp_process *g = NULL;
    if (mp_process_new(&g, grand_report_block, NULL) || mp_process_start(g))
        return 90;
    send_byte(T.a.w);
    block_forever();
    return 0;
}

/* The grandchild made by the child started for this test: a signal meant for
 * the child alone must leave it running.  Whether it is alive is asked, not
 * read from /proc: a signal sent to it may not have been delivered yet.  It
 * answers on b, which nobody else holds now that the child is gone. */
static void check_orphan_survives(mp_process *p, pid_t g)
{
    MP_ASSERT_OK(mp_process_terminate(p));
    int code = mpt_join(p);
    mpt_closefd(&T.b.w);
    release();
    int again = 0;
    bool alive = mpt_read_all(T.b.r, &again, sizeof again);
    /* Reparented to the nearest subreaper: this test process (see mpt.c). */
    pid_t parent = ppid_of(g);
    kill(g, SIGKILL);
    pid_t reaped = waitpid(g, NULL, 0);
    cr_assert_eq(code, -SIGTERM);
    cr_assert(alive, "grandchild %d was ended with its parent", (int)g);
    cr_assert_eq(again, (int)g);
    cr_assert_eq(parent, getpid(), "orphan's parent is %d", (int)parent);
    cr_assert_eq(reaped, g);
    t_close();
}

MPT_TEST(
    process, PROC_TERMINATE_ORPHANS,
    "PROC-TERMINATE-ORPHANS: terminate does not end the child's own children: they become orphans")
{
    t_reset();
    mp_process *p = mpt_start(start_grand_then_block, NULL);
    wait_byte(T.a.r);
    check_orphan_survives(p, (pid_t)get_int(T.b.r));
}

/* The grandchild is made with a plain fork(), so it shares the child's
 * process group: a terminate that signals the group would end it too. */
static int fork_grand_then_block(void *arg)
{
    child_init();
    (void)arg;
    pid_t g = fork();
    if (g < 0)
        return 90;
    if (g == 0)
        grand_report_wait_block();
    send_byte(T.a.w);
    block_forever();
    return 0;
}

MPT_TEST(process, PROC_TERMINATE_ORPHANS_FORK,
         "PROC-TERMINATE-ORPHANS-FORK: terminate does not end a grandchild made with plain fork() "
         "in the child's process group")
{
    t_reset();
    mp_process *p = mpt_start(fork_grand_then_block, NULL);
    wait_byte(T.a.r);
    pid_t g = (pid_t)get_int(T.b.r), child = 0;
    MP_ASSERT_OK(mp_process_pid(p, &child));
    cr_assert_eq(getpgid(g), getpgid(child), "the fork()ed grandchild left the child's group");
    check_orphan_survives(p, g);
}

MPT_TEST(process, PROC_TERMINATE_ENDED_NOOP,
         "PROC-TERMINATE-ENDED-NOOP: terminate and kill after the process ended succeed and change "
         "nothing")
{
    mp_process *p = mpt_start(ret_arg, (void *)(intptr_t)6);
    MP_ASSERT_OK(mp_process_join(p, MP_FOREVER));
    MP_ASSERT_OK(mp_process_terminate(p));
    MP_ASSERT_OK(mp_process_kill(p));
    cr_assert_eq(mpt_join(p), 6);
}

static int atexit_fd = -1;
static void atexit_probe(void)
{
    if (atexit_fd >= 0)
        (void)!write(atexit_fd, "A", 1);
}

MPT_TEST(process, PROC_CHILD_NO_ATEXIT,
         "PROC-CHILD-NO-ATEXIT: the parent's atexit handlers do not run in a child that returns")
{
    static bool registered;
    t_reset();
    if (!registered)
        cr_assert(atexit(atexit_probe) == 0);
    registered = true;
    atexit_fd = T.b.w;
    mp_process *p = mpt_start(ret0, NULL);
    atexit_fd = -1;
    cr_assert_eq(mpt_join(p), 0);
    mpt_closefd(&T.b.w);
    char out[16];
    cr_assert_eq(read_to_eof(T.b.r, out, sizeof out), 0, "atexit handler ran in the child");
    t_close();
}

/* ------------------------------------------------------------- state */

MPT_TEST(process, PROC_EXITCODE_NONE,
         "PROC-EXITCODE-NONE: exitcode is MP_EXITCODE_NONE before start and while running")
{
    t_reset();
    mp_process *p = NULL;
    MP_ASSERT_OK(mp_process_new(&p, wait_release, NULL));
    cr_assert_eq(exitcode_of(p), MP_EXITCODE_NONE);
    MP_ASSERT_OK(mp_process_start(p));
    cr_assert_eq(exitcode_of(p), MP_EXITCODE_NONE);
    release();
    cr_assert_eq(mpt_join(p), 0);
    t_close();
}

MPT_TEST(process, PROC_IS_ALIVE,
         "PROC-IS-ALIVE: is_alive is false before start, true while running, false after the end")
{
    t_reset();
    mp_process *p = NULL;
    bool alive = true;
    MP_ASSERT_OK(mp_process_new(&p, wait_release, NULL));
    MP_ASSERT_OK(mp_process_is_alive(p, &alive));
    cr_assert(!alive);
    MP_ASSERT_OK(mp_process_start(p));
    MP_ASSERT_OK(mp_process_is_alive(p, &alive));
    cr_assert(alive);
    release();
    MP_ASSERT_OK(mp_process_join(p, MP_FOREVER));
    MP_ASSERT_OK(mp_process_is_alive(p, &alive));
    cr_assert(!alive);
    mp_process_free(p);
    t_close();
}

static int report_pid(void *arg)
{
    child_init();
    (void)arg;
    put_int(T.a.w, (int)getpid());
    put_int(T.a.w, (int)mp_current_pid());
    put_int(T.a.w, (int)mp_parent_pid());
    return 0;
}

MPT_TEST(process, PROC_PID, "PROC-PID: pid is 0 before start, then the child's process id")
{
    t_reset();
    mp_process *p = NULL;
    pid_t pid = 1;
    MP_ASSERT_OK(mp_process_new(&p, report_pid, NULL));
    MP_ASSERT_OK(mp_process_pid(p, &pid));
    cr_assert_eq(pid, 0);
    MP_ASSERT_OK(mp_process_start(p));
    MP_ASSERT_OK(mp_process_pid(p, &pid));
    cr_assert_eq((int)pid, get_int(T.a.r));
    MP_ASSERT_OK(mp_process_join(p, MP_FOREVER));
    MP_ASSERT_OK(mp_process_pid(p, &pid));
    cr_assert_eq(pid > 0, true, "pid after the end: %d", (int)pid);
    cr_assert_eq(mpt_join(p), 0);
    t_close();
}

MPT_TEST(process, PROC_PARENT_PID,
         "PROC-PARENT-PID: in a child, mp_current_pid is its pid and mp_parent_pid the parent's")
{
    t_reset();
    cr_assert_eq(mp_current_pid(), getpid());
    cr_assert_eq(mp_parent_pid(), getppid());
    mp_process *p = mpt_start(report_pid, NULL);
    int self = get_int(T.a.r), cur = get_int(T.a.r), parent = get_int(T.a.r);
    cr_assert_eq(cur, self);
    cr_assert_eq(parent, (int)getpid());
    cr_assert_eq(mpt_join(p), 0);
    t_close();
}

MPT_TEST(
    process, PROC_NAME_DEFAULT,
    "PROC-NAME-DEFAULT: names default to Process-N, N counting the processes this process made")
{
    mp_process *a = NULL, *b = NULL;
    const char *na = NULL, *nb = NULL;
    MP_ASSERT_OK(mp_process_new(&a, ret0, NULL));
    MP_ASSERT_OK(mp_process_new(&b, ret0, NULL));
    MP_ASSERT_OK(mp_process_name(a, &na));
    MP_ASSERT_OK(mp_process_name(b, &nb));
    unsigned ka = 0, kb = 0;
    char tail;
    cr_assert_eq(sscanf(na, "Process-%u%c", &ka, &tail), 1, "name %s", na);
    cr_assert_eq(sscanf(nb, "Process-%u%c", &kb, &tail), 1, "name %s", nb);
    cr_assert(ka >= 1);
    cr_assert_eq(kb, ka + 1, "%s then %s", na, nb);
    mp_process_free(a);
    mp_process_free(b);
}

static int report_current_name(void *arg)
{
    child_init();
    (void)arg;
    put_str(T.a.w, mp_current_name());
    return 0;
}

MPT_TEST(process, PROC_NAME_SET,
         "PROC-NAME-SET: set_name copies the name; the child sees it as mp_current_name")
{
    t_reset();
    mp_process *p = NULL;
    char name[32] = "alpha";
    MP_ASSERT_OK(mp_process_new(&p, report_current_name, NULL));
    MP_ASSERT_OK(mp_process_set_name(p, name));
    strcpy(name, "beta");
    const char *got = NULL;
    MP_ASSERT_OK(mp_process_name(p, &got));
    cr_assert_str_eq(got, "alpha");
    MP_ASSERT_OK(mp_process_start(p));
    char s[64];
    get_str(T.a.r, s, sizeof s);
    cr_assert_str_eq(s, "alpha");
    cr_assert_eq(mpt_join(p), 0);
    t_close();
}

static int report_grand_names(void *arg)
{
    child_init();
    (void)arg;
    mp_process *g1 = NULL, *g2 = NULL;
    const char *n1 = "?", *n2 = "?";
    if (mp_process_new(&g1, ret0, NULL) == MP_OK)
        mp_process_name(g1, &n1);
    if (mp_process_new(&g2, ret0, NULL) == MP_OK)
        mp_process_name(g2, &n2);
    put_str(T.a.w, n1);
    put_str(T.a.w, n2);
    mp_process_free(g1);
    mp_process_free(g2);
    return 0;
}

MPT_TEST(
    process, PROC_NAME_GRANDCHILD,
    "PROC-NAME-GRANDCHILD: in child Process-N, new processes are named Process-N:1, Process-N:2")
{
    t_reset();
    mp_process *p = NULL;
    const char *name = NULL;
    MP_ASSERT_OK(mp_process_new(&p, report_grand_names, NULL));
    MP_ASSERT_OK(mp_process_name(p, &name));
    char want1[64], want2[64], s[64];
    snprintf(want1, sizeof want1, "%s:1", name);
    snprintf(want2, sizeof want2, "%s:2", name);
    MP_ASSERT_OK(mp_process_start(p));
    get_str(T.a.r, s, sizeof s);
    cr_assert_str_eq(s, want1);
    get_str(T.a.r, s, sizeof s);
    cr_assert_str_eq(s, want2);
    cr_assert_eq(mpt_join(p), 0);
    t_close();
}

MPT_TEST(process, PROC_CURRENT_NAME_MAIN,
         "PROC-CURRENT-NAME-MAIN: mp_current_name is \"MainProcess\" in a process not started by "
         "mp_process_start")
{
    cr_assert_str_eq(mp_current_name(), "MainProcess");
}

MPT_TEST(
    process, PROC_DAEMON_FLAG,
    "PROC-DAEMON-FLAG: daemon defaults to false, can be set before start, not after (MP_ESTATE)")
{
    t_reset();
    mp_process *p = NULL;
    bool d = true;
    MP_ASSERT_OK(mp_process_new(&p, wait_release, NULL));
    MP_ASSERT_OK(mp_process_daemon(p, &d));
    cr_assert(!d);
    MP_ASSERT_OK(mp_process_set_daemon(p, true));
    MP_ASSERT_OK(mp_process_daemon(p, &d));
    cr_assert(d);
    MP_ASSERT_OK(mp_process_start(p));
    MP_ASSERT_STATUS(mp_process_set_daemon(p, false), MP_ESTATE);
    MP_ASSERT_OK(mp_process_daemon(p, &d));
    cr_assert(d);
    release();
    cr_assert_eq(mpt_join(p), 0);
    t_close();
}

static int daemon_tries_child(void *arg)
{
    child_init();
    (void)arg;
    mp_process *g = NULL;
    if (mp_process_new(&g, ret0, NULL))
        return 90;
    put_int(T.a.w, (int)mp_process_start(g));
    mp_process_free(g);
    return 0;
}

MPT_TEST(process, PROC_DAEMON_NO_CHILDREN,
         "PROC-DAEMON-NO-CHILDREN: a daemonic process may not start children (MP_ESTATE)")
{
    t_reset();
    mp_process *p = NULL;
    MP_ASSERT_OK(mp_process_new(&p, daemon_tries_child, NULL));
    MP_ASSERT_OK(mp_process_set_daemon(p, true));
    MP_ASSERT_OK(mp_process_start(p));
    mp_status s = (mp_status)get_int(T.a.r);
    cr_assert_eq(s, MP_ESTATE, "start in a daemon: %s", mp_status_name(s));
    cr_assert_eq(mpt_join(p), 0);
    t_close();
}

static int grand_ready_block(void *arg)
{
    child_init();
    (void)arg;
    send_byte(T.c.w);
    block_forever();
    return 0;
}

static int grand_report_wait(void *arg)
{
    child_init();
    (void)arg;
    put_int(T.b.w, (int)getpid());
    wait_byte(T.d.r);
    return 0;
}

/* Starts a grandchild (daemonic or not, freed or not) and returns. */
static int start_grand_and_return(void *arg)
{
    child_init();
    (void)arg;
    mp_process *g = NULL;
    bool daemon = T.grand_daemon;
    if (mp_process_new(&g, daemon ? grand_ready_block : grand_report_wait, NULL) ||
        mp_process_set_daemon(g, daemon) || mp_process_start(g))
        return 90;
    if (daemon) {
        pid_t gp = 0;
        wait_byte(T.c.r); /* the grandchild runs */
        mp_process_pid(g, &gp);
        put_int(T.b.w, (int)gp);
    }
    if (T.grand_free)
        mp_process_free(g);
    return 0;
}

MPT_TEST(
    process, PROC_DAEMON_TERMINATED_AT_EXIT,
    "PROC-DAEMON-TERMINATED-AT-EXIT: a process's daemonic children are terminated when it exits")
{
    t_reset();
    T.grand_daemon = true;
    mp_process *p = mpt_start(start_grand_and_return, NULL);
    pid_t g = (pid_t)get_int(T.b.r);
    MP_ASSERT_OK(mp_process_join(p, 30.0));
    cr_assert_eq(exitcode_of(p), 0);
    cr_assert(gone_or_kill(g), "daemonic grandchild %d still exists", (int)g);
    mp_process_free(p);
    t_close();
}

static void check_grand_joined(bool freed)
{
    t_reset();
    T.grand_free = freed;
    mp_process *p = mpt_start(start_grand_and_return, NULL);
    pid_t g = (pid_t)get_int(T.b.r);
    /* The child has returned from its target but waits for its child. */
    double t0 = mpt_now();
    mp_status early = mp_process_join(p, 0.3);
    double el = mpt_now() - t0;
    release();
    mp_status done = mp_process_join(p, 30.0);
    bool reaped = gone_or_kill(g);
    cr_assert_eq(early, MP_TIMEOUT, "join: %s", mp_status_name(early));
    cr_assert(el >= 0.3 && el <= 0.3 + mpt_slack(2.0), "join(0.3) took %.3f s", el);
    cr_assert_eq(done, MP_OK, "join: %s", mp_status_name(done));
    cr_assert_eq(exitcode_of(p), 0);
    cr_assert(reaped, "grandchild %d not reaped by its parent", (int)g);
    mp_process_free(p);
    t_close();
}

MPT_TEST(
    process, PROC_NONDAEMON_JOINED_AT_EXIT,
    "PROC-NONDAEMON-JOINED-AT-EXIT: a process exits only after joining its non-daemonic children")
{
    check_grand_joined(false);
}

MPT_TEST(process, PROC_FREE_RUNNING_JOINED,
         "PROC-FREE-RUNNING-JOINED: a running child whose handle was freed is still joined at exit")
{
    check_grand_joined(true);
}

static int start_daemon_grand_then_exit(void *arg)
{
    child_init();
    (void)arg;
    mp_process *g = NULL;
    if (mp_process_new(&g, grand_ready_block, NULL) || mp_process_set_daemon(g, true) ||
        mp_process_start(g))
        return 90;
    pid_t gp = 0;
    wait_byte(T.c.r);
    mp_process_pid(g, &gp);
    put_int(T.b.w, (int)gp);
    exit(0); /* atexit handlers run: the library's exit function among them */
}

MPT_TEST(process, PROC_ATEXIT_TERMINATES_DAEMONS,
         "PROC-ATEXIT-TERMINATES-DAEMONS: a process leaving through exit() terminates its daemonic "
         "children too")
{
    t_reset();
    mp_process *p = mpt_start(start_daemon_grand_then_exit, NULL);
    pid_t g = (pid_t)get_int(T.b.r);
    MP_ASSERT_OK(mp_process_join(p, 30.0));
    cr_assert_eq(exitcode_of(p), 0);
    cr_assert(gone_or_kill(g), "daemonic grandchild %d still exists", (int)g);
    mp_process_free(p);
    t_close();
}

static int self_checks(mp_process *self)
{
    child_init();
    bool alive = false;
    pid_t pid = 0;
    int code = 0;
    put_int(T.a.w, (int)mp_process_join(self, 0));
    put_int(T.a.w, (int)mp_process_join(self, MP_FOREVER));
    put_int(T.a.w, (int)mp_process_is_alive(self, &alive));
    put_int(T.a.w, alive);
    mp_process_pid(self, &pid);
    put_int(T.a.w, pid == getpid());
    mp_process_exitcode(self, &code);
    put_int(T.a.w, code == MP_EXITCODE_NONE);
    return 0;
}

MPT_TEST(
    process, PROC_JOIN_SELF,
    "PROC-JOIN-SELF: a process joining itself gets MP_ESTATE; it sees itself alive and running")
{
    t_reset();
    mp_process *p = NULL;
    MP_ASSERT_OK(mp_process_new_run(&p, self_checks, NULL));
    MP_ASSERT_OK(mp_process_start(p));
    cr_assert_eq(get_int(T.a.r), MP_ESTATE, "join(self, 0)");
    cr_assert_eq(get_int(T.a.r), MP_ESTATE, "join(self, forever)");
    cr_assert_eq(get_int(T.a.r), MP_OK, "is_alive(self)");
    cr_assert_eq(get_int(T.a.r), 1, "is_alive(self) is false");
    cr_assert_eq(get_int(T.a.r), 1, "pid(self) != getpid()");
    cr_assert_eq(get_int(T.a.r), 1, "exitcode(self) is not MP_EXITCODE_NONE");
    cr_assert_eq(mpt_join(p), 0);
    t_close();
}

static int sibling_checks(void *arg)
{
    child_init();
    (void)arg;
    bool alive;
    put_int(T.b.w, (int)mp_process_join(T.other, 0));
    put_int(T.b.w, (int)mp_process_is_alive(T.other, &alive));
    put_int(T.b.w, (int)mp_process_close(T.other));
    return 0;
}

MPT_TEST(process, PROC_JOIN_NOT_PARENT,
         "PROC-JOIN-NOT-PARENT: join and is_alive of a process from another than its parent are "
         "MP_ESTATE")
{
    t_reset();
    mp_process *sib = mpt_start(wait_release, NULL);
    T.other = sib;
    mp_process *p = mpt_start(sibling_checks, NULL);
    cr_assert_eq(get_int(T.b.r), MP_ESTATE, "join of a sibling");
    cr_assert_eq(get_int(T.b.r), MP_ESTATE, "is_alive of a sibling");
    cr_assert_eq(get_int(T.b.r), MP_ESTATE, "close of a running sibling");
    cr_assert_eq(mpt_join(p), 0);
    release();
    cr_assert_eq(mpt_join(sib), 0);
    t_close();
}

static int start_other(void *arg)
{
    child_init();
    (void)arg;
    put_int(T.b.w, (int)mp_process_start(T.other));
    return 0;
}

MPT_TEST(
    process, PROC_START_NOT_CREATOR,
    "PROC-START-NOT-CREATOR: a process cannot start a process object its parent made (MP_ESTATE)")
{
    t_reset();
    mp_process *q = NULL;
    MP_ASSERT_OK(mp_process_new(&q, ret0, NULL));
    T.other = q;
    mp_process *p = mpt_start(start_other, NULL);
    cr_assert_eq(get_int(T.b.r), MP_ESTATE);
    cr_assert_eq(mpt_join(p), 0);
    pid_t pid = 1;
    MP_ASSERT_OK(mp_process_pid(q, &pid));
    cr_assert_eq(pid, 0);
    mp_process_free(q);
    t_close();
}

/* ------------------------------------------------------------- misuse */

MPT_TEST(process, PROC_START_TWICE,
         "PROC-START-TWICE: a second start is MP_ESTATE, also after the process ended")
{
    t_reset();
    mp_process *p = mpt_start(wait_release, NULL);
    MP_ASSERT_STATUS(mp_process_start(p), MP_ESTATE);
    release();
    MP_ASSERT_OK(mp_process_join(p, MP_FOREVER));
    MP_ASSERT_STATUS(mp_process_start(p), MP_ESTATE);
    cr_assert_eq(mpt_join(p), 0);
    t_close();
}

MPT_TEST(process, PROC_JOIN_BEFORE_START, "PROC-JOIN-BEFORE-START: join before start is MP_ESTATE")
{
    mp_process *p = NULL;
    MP_ASSERT_OK(mp_process_new(&p, ret0, NULL));
    MP_ASSERT_STATUS(mp_process_join(p, 0), MP_ESTATE);
    MP_ASSERT_STATUS(mp_process_join(p, MP_FOREVER), MP_ESTATE);
    mp_process_free(p);
}

MPT_TEST(process, PROC_TERMINATE_BEFORE_START,
         "PROC-TERMINATE-BEFORE-START: terminate and kill before start are MP_ESTATE")
{
    mp_process *p = NULL;
    MP_ASSERT_OK(mp_process_new(&p, ret0, NULL));
    MP_ASSERT_STATUS(mp_process_terminate(p), MP_ESTATE);
    MP_ASSERT_STATUS(mp_process_kill(p), MP_ESTATE);
    mp_process_free(p);
}

MPT_TEST(
    process, PROC_CLOSE_RUNNING,
    "PROC-CLOSE-RUNNING: close while the process runs is MP_ESTATE; after join it succeeds, twice")
{
    t_reset();
    mp_process *p = mpt_start(wait_release, NULL);
    MP_ASSERT_STATUS(mp_process_close(p), MP_ESTATE);
    bool alive = false;
    MP_ASSERT_OK(mp_process_is_alive(p, &alive));
    cr_assert(alive);
    release();
    MP_ASSERT_OK(mp_process_join(p, MP_FOREVER));
    MP_ASSERT_OK(mp_process_close(p));
    MP_ASSERT_OK(mp_process_close(p));
    mp_process_free(p);
    t_close();
}

static void check_all_closed(mp_process *p)
{
    bool b;
    int code;
    pid_t pid;
    const char *name;
    void *data;
    MP_ASSERT_STATUS(mp_process_start(p), MP_CLOSED);
    MP_ASSERT_STATUS(mp_process_join(p, 0), MP_CLOSED);
    MP_ASSERT_STATUS(mp_process_is_alive(p, &b), MP_CLOSED);
    MP_ASSERT_STATUS(mp_process_pid(p, &pid), MP_CLOSED);
    MP_ASSERT_STATUS(mp_process_exitcode(p, &code), MP_CLOSED);
    MP_ASSERT_STATUS(mp_process_terminate(p), MP_CLOSED);
    MP_ASSERT_STATUS(mp_process_kill(p), MP_CLOSED);
    MP_ASSERT_STATUS(mp_process_set_name(p, "x"), MP_CLOSED);
    MP_ASSERT_STATUS(mp_process_name(p, &name), MP_CLOSED);
    MP_ASSERT_STATUS(mp_process_set_daemon(p, true), MP_CLOSED);
    MP_ASSERT_STATUS(mp_process_daemon(p, &b), MP_CLOSED);
    MP_ASSERT_STATUS(mp_process_data(p, &data), MP_CLOSED);
    MP_ASSERT_OK(mp_process_close(p));
}

MPT_TEST(process, PROC_CLOSED_CALLS,
         "PROC-CLOSED-CALLS: after close every call but close and free returns MP_CLOSED")
{
    mp_process *p = mpt_start(ret0, NULL);
    MP_ASSERT_OK(mp_process_join(p, MP_FOREVER));
    MP_ASSERT_OK(mp_process_close(p));
    check_all_closed(p);
    mp_process_free(p);
    /* Closing one that never started is allowed too. */
    MP_ASSERT_OK(mp_process_new(&p, ret0, NULL));
    MP_ASSERT_OK(mp_process_close(p));
    check_all_closed(p);
    mp_process_free(p);
}

MPT_TEST(process, PROC_NULL_ARGS,
         "PROC-NULL-ARGS: NULL handles, outputs, callbacks or names are MP_EINVAL; free(NULL) is a "
         "no-op")
{
    mp_process *p = (mp_process *)&p; /* must stay untouched on failure */
    bool b;
    int code;
    pid_t pid;
    const char *name;
    void *data;
    MP_ASSERT_STATUS(mp_process_new(NULL, ret0, NULL), MP_EINVAL);
    MP_ASSERT_STATUS(mp_process_new(&p, NULL, NULL), MP_EINVAL);
    MP_ASSERT_STATUS(mp_process_new_run(NULL, run_self, NULL), MP_EINVAL);
    MP_ASSERT_STATUS(mp_process_new_run(&p, NULL, NULL), MP_EINVAL);
    cr_assert_eq(p, (mp_process *)&p);
    MP_ASSERT_STATUS(mp_process_data(NULL, &data), MP_EINVAL);
    MP_ASSERT_STATUS(mp_process_set_name(NULL, "x"), MP_EINVAL);
    MP_ASSERT_STATUS(mp_process_name(NULL, &name), MP_EINVAL);
    MP_ASSERT_STATUS(mp_process_set_daemon(NULL, true), MP_EINVAL);
    MP_ASSERT_STATUS(mp_process_daemon(NULL, &b), MP_EINVAL);
    MP_ASSERT_STATUS(mp_process_start(NULL), MP_EINVAL);
    MP_ASSERT_STATUS(mp_process_join(NULL, 0), MP_EINVAL);
    MP_ASSERT_STATUS(mp_process_is_alive(NULL, &b), MP_EINVAL);
    MP_ASSERT_STATUS(mp_process_pid(NULL, &pid), MP_EINVAL);
    MP_ASSERT_STATUS(mp_process_exitcode(NULL, &code), MP_EINVAL);
    MP_ASSERT_STATUS(mp_process_terminate(NULL), MP_EINVAL);
    MP_ASSERT_STATUS(mp_process_kill(NULL), MP_EINVAL);
    MP_ASSERT_STATUS(mp_process_close(NULL), MP_EINVAL);
    mp_process_free(NULL);

    MP_ASSERT_OK(mp_process_new(&p, ret0, NULL));
    MP_ASSERT_STATUS(mp_process_data(p, NULL), MP_EINVAL);
    MP_ASSERT_STATUS(mp_process_set_name(p, NULL), MP_EINVAL);
    MP_ASSERT_STATUS(mp_process_name(p, NULL), MP_EINVAL);
    MP_ASSERT_STATUS(mp_process_daemon(p, NULL), MP_EINVAL);
    MP_ASSERT_STATUS(mp_process_is_alive(p, NULL), MP_EINVAL);
    MP_ASSERT_STATUS(mp_process_pid(p, NULL), MP_EINVAL);
    MP_ASSERT_STATUS(mp_process_exitcode(p, NULL), MP_EINVAL);
    mp_process_free(p);
}

MPT_TEST(process, PROC_CPU_COUNT,
         "PROC-CPU-COUNT: mp_cpu_count is at least 1 and matches the online processors")
{
    int n = mp_cpu_count();
    cr_assert(n >= 1, "cpu_count %d", n);
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    if (online >= 1)
        cr_assert_eq(n, (int)online);
}

/* --------------------------------------------------------------- threads */

#define N_THREADS 4
#define N_PER_THREAD 3

static int write_one(void *arg)
{
    child_init();
    (void)arg;
    send_byte(T.a.w);
    return 0;
}

typedef struct thread_res {
    int bad;
    unsigned ids[N_PER_THREAD];
} thread_res;

static void *starter(void *arg)
{
    thread_res *r = arg;
    for (int i = 0; i < N_PER_THREAD; i++) {
        mp_process *p = NULL;
        const char *name = NULL;
        int code = -1;
        if (mp_process_new(&p, write_one, NULL) || mp_process_name(p, &name) ||
            sscanf(name, "Process-%u", &r->ids[i]) != 1 || mp_process_start(p) ||
            mp_process_join(p, MP_FOREVER) || mp_process_exitcode(p, &code) || code != 0)
            r->bad++;
        mp_process_free(p);
    }
    return NULL;
}

MPT_TEST(process, PROC_START_THREADS,
         "PROC-START-THREADS: threads may start and join processes concurrently; names stay unique")
{
    t_reset();
    pthread_t th[N_THREADS];
    thread_res res[N_THREADS];
    memset(res, 0, sizeof res);
    for (int i = 0; i < N_THREADS; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, starter, &res[i]), 0);
    for (int i = 0; i < N_THREADS; i++)
        pthread_join(th[i], NULL);
    mpt_closefd(&T.a.w);
    char buf[64];
    cr_assert_eq(read_to_eof(T.a.r, buf, sizeof buf), N_THREADS * N_PER_THREAD);
    for (int i = 0; i < N_THREADS; i++) {
        cr_assert_eq(res[i].bad, 0, "thread %d had %d failures", i, res[i].bad);
        for (int j = 0; j < N_PER_THREAD; j++)
            for (int k = 0; k < N_THREADS * N_PER_THREAD; k++) {
                int i2 = k / N_PER_THREAD, j2 = k % N_PER_THREAD;
                if (i2 != i || j2 != j)
                    cr_assert_neq(res[i].ids[j], res[i2].ids[j2], "duplicate name");
            }
    }
    t_close();
}

/* ------------------------------------------------------------ plain fork */

MPT_TEST(process, PROC_FORK_NOT_INHERITED,
         "PROC-FORK-NOT-INHERITED: a plain fork() child does not inherit its parent's children")
{
    t_reset();
    mp_process *d = NULL;
    MP_ASSERT_OK(mp_process_new(&d, ready_then_block, NULL));
    MP_ASSERT_OK(mp_process_set_daemon(d, true));
    MP_ASSERT_OK(mp_process_start(d));
    wait_byte(T.a.r);
    pid_t r = fork();
    cr_assert(r >= 0, "fork: %s", strerror(errno));
    if (r == 0) {
        bool alive;
        child_init();
        put_int(T.b.w, (int)mp_process_is_alive(d, &alive));
        exit(0); /* atexit handlers run here: the exit function among them */
    }
    int st = 0;
    cr_assert_eq(waitpid(r, &st, 0), r);
    bool alive = false;
    MP_ASSERT_OK(mp_process_is_alive(d, &alive));
    MP_ASSERT_OK(mp_process_terminate(d));
    int code = mpt_join(d);
    cr_assert_eq(get_int(T.b.r), MP_ESTATE, "is_alive of a sibling in a plain fork");
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "plain fork child status %#x", st);
    cr_assert(alive, "exiting a plain fork child ended its parent's daemonic child");
    cr_assert_eq(code, -SIGTERM);
    t_close();
}

/* What a child sees of two process objects made before its fork: for each,
 * the statuses and values of name, pid and daemon; then its current name.
 * Written to T.a. */
static void put_handles(mp_process *a, mp_process *b)
{
    mp_process *h[2] = {a, b};
    for (int i = 0; i < 2; i++) {
        const char *n = NULL;
        pid_t pid = -1;
        bool d = false;
        put_int(T.a.w, (int)mp_process_name(h[i], &n));
        put_str(T.a.w, n ? n : "(null)");
        put_int(T.a.w, (int)mp_process_pid(h[i], &pid));
        put_int(T.a.w, (int)pid);
        put_int(T.a.w, (int)mp_process_daemon(h[i], &d));
        put_int(T.a.w, (int)d);
    }
    put_str(T.a.w, mp_current_name());
}

/* arg: where the test keeps this child's own handle. */
static int report_handles(void *arg)
{
    child_init();
    put_handles(T.other, *(mp_process **)arg);
    return 0;
}

/* Reads put_handles' report from who and checks it against a and b as this
 * process reads them, and the current name. */
static void check_handles(mp_process *a, mp_process *b, const char *current, const char *who)
{
    mp_process *h[2] = {a, b};
    char got[64];
    for (int i = 0; i < 2; i++) {
        const char *name = NULL;
        pid_t pid = 0;
        bool d = false;
        MP_ASSERT_OK(mp_process_name(h[i], &name));
        MP_ASSERT_OK(mp_process_pid(h[i], &pid));
        MP_ASSERT_OK(mp_process_daemon(h[i], &d));
        cr_assert_eq(get_int(T.a.r), MP_OK, "%s: name of object %d", who, i);
        get_str(T.a.r, got, sizeof got);
        cr_assert_str_eq(got, name, "%s: name of object %d", who, i);
        cr_assert_eq(get_int(T.a.r), MP_OK, "%s: pid of object %d", who, i);
        cr_assert_eq(get_int(T.a.r), (int)pid, "%s: pid of object %d", who, i);
        cr_assert_eq(get_int(T.a.r), MP_OK, "%s: daemon of object %d", who, i);
        cr_assert_eq(get_int(T.a.r), (int)d, "%s: daemon of object %d", who, i);
    }
    get_str(T.a.r, got, sizeof got);
    cr_assert_str_eq(got, current, "%s: current name", who);
}

MPT_TEST(process, PROC_HANDLES_COPIED_AT_FORK,
         "PROC-HANDLES-COPIED-AT-FORK: a child, started or made by a plain fork(), reads the "
         "process objects made before its fork as they were then")
{
    t_reset();
    /* A runs (the first object of the process: a library may keep such
     * apart from the heap); B reads A and its own object; then a plain
     * fork() reads both, B ended. */
    mp_process *a = NULL, *b = NULL;
    MP_ASSERT_OK(mp_process_new(&a, wait_release, NULL));
    MP_ASSERT_OK(mp_process_set_daemon(a, true));
    MP_ASSERT_OK(mp_process_start(a));
    T.other = a;
    MP_ASSERT_OK(mp_process_new(&b, report_handles, &b));
    const char *bname = NULL;
    MP_ASSERT_OK(mp_process_name(b, &bname));
    char bcopy[64];
    snprintf(bcopy, sizeof bcopy, "%s", bname);
    MP_ASSERT_OK(mp_process_start(b));
    check_handles(a, b, bcopy, "started child");
    MP_ASSERT_OK(mp_process_join(b, MP_FOREVER)); /* kept: the plain fork reads it */
    int code = -1;
    MP_ASSERT_OK(mp_process_exitcode(b, &code));
    cr_assert_eq(code, 0);
    pid_t r = fork();
    cr_assert(r >= 0, "fork: %s", strerror(errno));
    if (r == 0) {
        child_init();
        put_handles(a, b);
        _exit(0);
    }
    check_handles(a, b, "MainProcess", "plain fork() child");
    int st = 0;
    cr_assert_eq(waitpid(r, &st, 0), r);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "plain fork child status %#x", st);
    release();
    cr_assert_eq(mpt_join(a), 0);
    mp_process_free(b);
    t_close();
}

/* ------------------------------------------- sentinel, active_children, parent */

/* poll(fd, POLLIN) within ms milliseconds (0: a look). */
static bool readable_within(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r;
    while ((r = poll(&p, 1, ms)) < 0 && errno == EINTR)
        ;
    return r > 0;
}

MPT_TEST(process, PROC_SENTINEL_READY_AT_END,
         "PROC-SENTINEL-READY-AT-END: the sentinel is not readable while the child runs and "
         "becomes readable when it ends, before any join")
{
    t_reset();
    mp_process *p = mpt_start(wait_release, NULL);
    int fd = -1, again = -2;
    MP_ASSERT_OK(mp_process_sentinel(p, &fd));
    MP_ASSERT_OK(mp_process_sentinel(p, &again));
    cr_assert_eq(fd, again, "a second call gave another descriptor");
    cr_assert(!readable_within(fd, 0), "the sentinel is readable while the child runs");
    cr_assert(!readable_within(fd, 50), "the sentinel became readable while the child runs");
    release();
    cr_assert(readable_within(fd, (int)(mpt_slack(10.0) * 1000)),
              "the sentinel is not readable after the child ended");
    cr_assert_eq(mpt_join(p), 0);
    t_close();
}

MPT_TEST(process, PROC_SENTINEL_AFTER_JOIN,
         "PROC-SENTINEL-AFTER-JOIN: the sentinel of a child already joined is readable at once, "
         "the same descriptor each time")
{
    mp_process *p = mpt_start(ret_arg, (void *)(intptr_t)5);
    MP_ASSERT_OK(mp_process_join(p, MP_FOREVER));
    int fd = -1, again = -2;
    MP_ASSERT_OK(mp_process_sentinel(p, &fd));
    MP_ASSERT_OK(mp_process_sentinel(p, &again));
    cr_assert_eq(fd, again);
    cr_assert(readable_within(fd, 0), "the sentinel of a joined child is not readable");
    MP_ASSERT_OK(mp_process_close(p));
    mp_process_free(p);
}

MPT_TEST(process, PROC_SENTINEL_BEFORE_START,
         "PROC-SENTINEL-BEFORE-START: the sentinel of a process not yet started is MP_ESTATE, the "
         "output untouched")
{
    mp_process *p = NULL;
    MP_ASSERT_OK(mp_process_new(&p, ret0, NULL));
    int fd = -7;
    MP_ASSERT_STATUS(mp_process_sentinel(p, &fd), MP_ESTATE);
    cr_assert_eq(fd, -7);
    cr_assert(mp_errmsg()[0], "no message");
    mp_process_free(p);
}

MPT_TEST(process, PROC_ACTIVE_CHILDREN,
         "PROC-ACTIVE-CHILDREN: active_children lists a started child while it runs, never one not "
         "started or joined")
{
    t_reset();
    mp_process *idle = NULL, *out[4] = {0};
    size_t n = 99;
    MP_ASSERT_OK(mp_process_new(&idle, ret0, NULL));
    MP_ASSERT_OK(mp_active_children(out, 4, &n));
    cr_assert_eq(n, 0, "a process not started is listed");
    mp_process *p = mpt_start(wait_release, NULL);
    MP_ASSERT_OK(mp_active_children(out, 4, &n));
    cr_assert_eq(n, 1, "%zu active children, want 1", n);
    cr_assert_eq(out[0], p, "the running child is not the one listed");
    MP_ASSERT_OK(mp_active_children(NULL, 0, &n));
    cr_assert_eq(n, 1, "the count without room for handles");
    release();
    MP_ASSERT_OK(mp_process_join(p, MP_FOREVER));
    MP_ASSERT_OK(mp_active_children(out, 4, &n));
    cr_assert_eq(n, 0, "a joined child is listed");
    mp_process_free(p);
    mp_process_free(idle);
    t_close();
}

/* Ends with code 3 once released (release()). */
static int ret3_when_released(void *arg)
{
    child_init();
    (void)arg;
    wait_byte(T.d.r);
    return 3;
}

/* The child ends only after the sentinel is taken: sentinel() of a child that
 * has already ended reaps it (its pidfd goes with the reap), which left no
 * zombie for active_children to reap. */
MPT_TEST(process, PROC_ACTIVE_CHILDREN_REAPS,
         "PROC-ACTIVE-CHILDREN-REAPS: active_children reaps a child that has ended unjoined: it is "
         "not listed, its zombie is gone and its exit code known")
{
    t_reset();
    mp_process *p = mpt_start(ret3_when_released, NULL);
    int fd = -1;
    pid_t pid = 0;
    MP_ASSERT_OK(mp_process_pid(p, &pid));
    MP_ASSERT_OK(mp_process_sentinel(p, &fd));
    release();
    cr_assert(readable_within(fd, (int)(mpt_slack(10.0) * 1000)), "the child did not end");
    cr_assert(!pid_gone(pid), "the ended child was reaped before active_children");
    size_t n = 99;
    mp_process *out[2];
    MP_ASSERT_OK(mp_active_children(out, 2, &n));
    cr_assert_eq(n, 0, "an ended child is listed");
    cr_assert(pid_gone(pid), "active_children left the zombie of pid %d", (int)pid);
    int code = 0;
    MP_ASSERT_OK(mp_process_exitcode(p, &code));
    cr_assert_eq(code, 3);
    mp_process_free(p);
    t_close();
}

MPT_TEST(
    process, PROC_PARENT_PROCESS_MAIN,
    "PROC-PARENT-PROCESS-MAIN: parent_process is NULL (None) in a process no mp_process started")
{
    mp_process *h = (mp_process *)&h;
    MP_ASSERT_OK(mp_parent_process(&h));
    cr_assert_null(h, "the main process has a parent handle");
}

static int report_parent(void *arg)
{
    child_init();
    (void)arg;
    mp_process *h = NULL;
    int s = (int)mp_parent_process(&h);
    put_int(T.a.w, s);
    if (s != MP_OK || !h)
        return 1;
    pid_t pid = 0;
    bool alive = false;
    const char *name = "";
    int fd = -1, code = 0;
    put_int(T.a.w, (int)mp_process_pid(h, &pid));
    put_int(T.a.w, (int)pid);
    put_int(T.a.w, (int)mp_process_is_alive(h, &alive));
    put_int(T.a.w, alive);
    put_int(T.a.w, (int)mp_process_name(h, &name));
    put_str(T.a.w, name);
    put_int(T.a.w, (int)mp_process_sentinel(h, &fd));
    put_int(T.a.w, readable_within(fd, 0));
    put_int(T.a.w, (int)mp_process_join(h, 0.05));
    put_int(T.a.w, (int)mp_process_terminate(h));
    put_int(T.a.w, (int)mp_process_exitcode(h, &code));
    put_int(T.a.w, code);
    mp_process_free(h);
    return 0;
}

MPT_TEST(process, PROC_PARENT_PROCESS_CHILD,
         "PROC-PARENT-PROCESS-CHILD: in a child parent_process gives the parent's pid and name; it "
         "is alive, its sentinel not readable, join(t) times out, terminate is MP_ESTATE")
{
    t_reset();
    mp_process *p = mpt_start(report_parent, NULL);
    MP_ASSERT_STATUS(get_int(T.a.r), MP_OK);
    MP_ASSERT_STATUS(get_int(T.a.r), MP_OK);
    cr_assert_eq(get_int(T.a.r), (int)getpid(), "the parent's pid");
    MP_ASSERT_STATUS(get_int(T.a.r), MP_OK);
    cr_assert(get_int(T.a.r), "the parent is not alive");
    MP_ASSERT_STATUS(get_int(T.a.r), MP_OK);
    char name[64];
    get_str(T.a.r, name, sizeof name);
    cr_assert_str_eq(name, "MainProcess");
    MP_ASSERT_STATUS(get_int(T.a.r), MP_OK);
    cr_assert(!get_int(T.a.r), "the sentinel of a live parent is readable");
    MP_ASSERT_STATUS(get_int(T.a.r), MP_TIMEOUT);
    MP_ASSERT_STATUS(get_int(T.a.r), MP_ESTATE);
    MP_ASSERT_STATUS(get_int(T.a.r), MP_OK);
    cr_assert_eq(get_int(T.a.r), MP_EXITCODE_NONE, "the parent's exitcode");
    cr_assert_eq(mpt_join(p), 0);
    t_close();
}

/* The grandchild: reports its pid and that it has its parent's handle, then
 * waits for the parent to die and reports what it sees. */
static int grand_watch_parent(void *arg)
{
    child_init();
    (void)arg;
    mp_process *h = NULL, *h2 = NULL;
    put_int(T.b.w, (int)getpid());
    put_int(T.b.w, (int)mp_parent_process(&h));
    if (!h)
        return 1;
    bool alive = false;
    int fd = -1;
    put_int(T.b.w, (int)mp_process_join(h, MP_FOREVER));
    put_int(T.b.w, (int)mp_process_is_alive(h, &alive));
    put_int(T.b.w, alive);
    mp_process_sentinel(h, &fd);
    put_int(T.b.w, readable_within(fd, 0));
    put_int(T.b.w, (int)mp_parent_process(&h2));
    alive = true;
    fd = -1;
    if (h2) {
        mp_process_is_alive(h2, &alive);
        mp_process_sentinel(h2, &fd);
    }
    put_int(T.b.w, alive);
    put_int(T.b.w, fd >= 0 && readable_within(fd, 0));
    mp_process_free(h2);
    mp_process_free(h);
    return 0;
}

static int start_watcher_then_block(void *arg)
{
    child_init();
    (void)arg;
    mp_process *g = NULL;
    if (mp_process_new(&g, grand_watch_parent, NULL) || mp_process_start(g))
        return 90;
    send_byte(T.a.w);
    block_forever();
    return 0;
}

MPT_TEST(process, PROC_PARENT_PROCESS_DIES,
         "PROC-PARENT-PROCESS-DIES: a grandchild whose parent is terminated sees it die: join "
         "returns, is_alive is false, the sentinel is readable, also on a handle made afterwards")
{
    t_reset();
    mp_process *p = mpt_start(start_watcher_then_block, NULL);
    wait_byte(T.a.r);
    pid_t g = (pid_t)get_int(T.b.r);
    MP_ASSERT_STATUS(get_int(T.b.r), MP_OK);
    MP_ASSERT_OK(mp_process_terminate(p));
    cr_assert_eq(mpt_join(p), -SIGTERM);
    MP_ASSERT_STATUS(get_int(T.b.r), MP_OK);
    MP_ASSERT_STATUS(get_int(T.b.r), MP_OK);
    cr_assert(!get_int(T.b.r), "is_alive of the dead parent is true");
    cr_assert(get_int(T.b.r), "the dead parent's sentinel is not readable");
    MP_ASSERT_STATUS(get_int(T.b.r), MP_OK);
    cr_assert(!get_int(T.b.r), "a handle made after the death: is_alive true");
    cr_assert(get_int(T.b.r), "a handle made after the death: sentinel not readable");
    int st = 0;
    cr_assert_eq(waitpid(g, &st, 0), g, "the orphaned grandchild was not ours to reap");
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "grandchild status %#x", st);
    t_close();
}

MPT_TEST(process, PROC_MANY_TERMINATE,
         "PROC-MANY-TERMINATE: 100 processes started and then terminated at once all end, each "
         "with exitcode -SIGTERM")
{
    t_reset();
    enum { N = 100 };
    mp_process *ps[N];
    for (int i = 0; i < N; i++) {
        MP_ASSERT_OK(mp_process_new(&ps[i], ready_then_block, NULL));
        MP_ASSERT_OK(mp_process_start(ps[i]));
    }
    for (int i = 0; i < N; i++)
        MP_ASSERT_OK(mp_process_terminate(ps[i]));
    int bad = 0;
    for (int i = 0; i < N; i++) {
        MP_ASSERT_OK(mp_process_join(ps[i], mpt_slack(30.0)));
        int code = 0;
        MP_ASSERT_OK(mp_process_exitcode(ps[i], &code));
        if (code != -SIGTERM) {
            cr_log_error("process %d: exitcode %d", i, code);
            bad++;
        }
        mp_process_free(ps[i]);
    }
    cr_assert_eq(bad, 0, "%d of %d processes did not report -SIGTERM", bad, N);
    t_close();
}

/* ------------------------------------------------ CPython's tests, continued */

struct tree_node {
    mp_conn *w; /* the send end every node of the tree shares */
    char id[4]; /* the path from the root: "", "0", "01", ... */
};

static int tree_visit(mp_conn *w, const char *id);

/* Contract: a child's target: visits its node of the tree (tree_visit). */
static int tree_child(void *arg)
{
    struct tree_node *n = arg;
    return tree_visit(n->w, n->id);
}

/* Contract: sends id on w, then, above depth 2, starts and joins child id+"0"
 * and then child id+"1" in turn.  Returns 0, or non-zero when a send, a
 * process call or a descendant failed (a child cannot use cr_assert). */
static int tree_visit(mp_conn *w, const char *id)
{
    if (mp_conn_send_bytes(w, id, strlen(id)) != MP_OK)
        return 1;
    if (strlen(id) >= 2)
        return 0;
    for (int i = 0; i < 2; i++) {
        struct tree_node c = {.w = w};
        snprintf(c.id, sizeof c.id, "%s%d", id, i);
        mp_process *p = NULL;
        int code = -1;
        mp_status s = mp_process_new(&p, tree_child, &c);
        if (!s)
            s = mp_process_start(p);
        if (!s)
            s = mp_process_join(p, MP_FOREVER);
        if (!s)
            s = mp_process_exitcode(p, &code);
        mp_process_free(p);
        if (s)
            return 2;
        if (code)
            return code;
    }
    return 0;
}

MPT_TEST(process, PROC_NESTED_TREE,
         "PROC-NESTED-TREE: a tree of nested children, each process starting and joining two "
         "children in turn, two levels deep, runs in order: what they send on one inherited Pipe "
         "end arrives in preorder")
{
    mp_conn *r = NULL, *w = NULL;
    MP_ASSERT_OK(mp_pipe(&r, &w, false));
    cr_assert_eq(tree_visit(w, ""), 0, "a node of the tree failed");
    static const char *const want[] = {"", "0", "00", "01", "1", "10", "11"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        void *buf = NULL;
        size_t len = 0;
        MP_ASSERT_OK(mp_conn_recv_bytes(r, &buf, &len, 16));
        cr_assert(len == strlen(want[i]) && memcmp(buf, want[i], len) == 0,
                  "message %zu is '%.*s', want '%s'", i, (int)len, (char *)buf, want[i]);
        free(buf);
    }
    MP_ASSERT_STATUS(mp_conn_poll(r, 0), MP_TIMEOUT); /* nothing more */
    mp_conn_free(r);
    mp_conn_free(w);
}
