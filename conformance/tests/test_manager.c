/* Manager and proxies: tutorial §14 and CPython's multiprocessing.managers. */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mpt.h"

/* ------------------------------------------------------------ helpers */

/* Values made by a test, freed by gc() at its end. */
static mp_value *pool_v[512];
static int pool_n;

static mp_value *G(mp_value *v)
{
    cr_assert(v != NULL, "value constructor failed: %s", mp_errmsg());
    cr_assert(pool_n < 512);
    pool_v[pool_n++] = v;
    return v;
}

static void gc(void)
{
    while (pool_n)
        mp_value_free(pool_v[--pool_n]);
}

static mp_value *I(int64_t i) { return G(mp_int(i)); }
static mp_value *S(const char *s) { return G(mp_str(s)); }

static void assert_repr(const mp_value *v, const char *want)
{
    char *r = NULL;
    MP_ASSERT_OK(mp_value_repr(v, &r));
    cr_assert(strcmp(r, want) == 0, "got %s, want %s", r, want);
    free(r);
}

/* The value a call returned: must have this repr; freed. */
static void expect(mp_value *v, const char *want)
{
    cr_assert(v != NULL);
    assert_repr(v, want);
    mp_value_free(v);
}

static mp_manager *start(void)
{
    mp_manager *m = NULL;
    MP_ASSERT_OK(mp_manager_start(&m, NULL));
    cr_assert(m != NULL);
    return m;
}

static mp_manager *start_key(const char *key)
{
    mp_manager *m = NULL;
    mp_manager_opts o = {.authkey = key, .authkey_len = strlen(key)};
    MP_ASSERT_OK(mp_manager_start(&m, &o));
    return m;
}

static const char *sock_path(mp_manager *m)
{
    const char *a = NULL;
    MP_ASSERT_OK(mp_manager_address(m, &a));
    cr_assert(strncmp(a, "unix:", 5) == 0, "address %s", a);
    return a + 5;
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static mp_proxy *mdict(mp_manager *m)
{
    mp_proxy *d = NULL;
    MP_ASSERT_OK(mp_manager_dict(m, NULL, &d));
    return d;
}

static mp_proxy *mlist(mp_manager *m, const char *init_repr_ints)
{
    mp_proxy *l = NULL;
    mp_value *init = NULL;
    if (init_repr_ints) { /* "0 1 2" */
        init = mp_list();
        for (const char *p = init_repr_ints; *p;) {
            char *end;
            long v = strtol(p, &end, 10);
            if (end == p)
                break;
            mp_seq_append(init, mp_int(v));
            p = end;
        }
    }
    MP_ASSERT_OK(mp_manager_list(m, init, &l));
    mp_value_free(init);
    return l;
}

static void dict_is(mp_proxy *d, const char *want)
{
    mp_value *c = NULL;
    MP_ASSERT_OK(mp_mdict_copy(d, &c));
    expect(c, want);
}

static void list_is(mp_proxy *l, const char *want)
{
    mp_value *c = NULL;
    MP_ASSERT_OK(mp_mlist_copy(l, &c));
    expect(c, want);
}

/* A raw client of the wire protocol (mp.h documents it). */
static int raw_connect(const char *path)
{
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    strncpy(un.sun_path, path, sizeof un.sun_path - 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert(fd >= 0);
    cr_assert(connect(fd, (struct sockaddr *)&un, sizeof un) == 0, "connect: %s", strerror(errno));
    return fd;
}

/* A TCP manager on 127.0.0.1 with this key. */
static mp_manager *start_tcp(const char *key)
{
    mp_manager *m = NULL;
    mp_manager_opts o = {.address = "tcp:127.0.0.1:0", .authkey = key, .authkey_len = strlen(key)};
    MP_ASSERT_OK(mp_manager_start(&m, &o));
    return m;
}

/* A raw TCP connection to a "tcp:127.0.0.1:PORT" manager. */
static int raw_connect_tcp(mp_manager *m)
{
    const char *a = NULL;
    MP_ASSERT_OK(mp_manager_address(m, &a));
    cr_assert(strncmp(a, "tcp:127.0.0.1:", 14) == 0, "address %s", a);
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(a + 14))};
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert(fd >= 0, "socket: %s", strerror(errno));
    cr_assert(connect(fd, (struct sockaddr *)&in, sizeof in) == 0, "connect: %s", strerror(errno));
    return fd;
}

static void raw_write(int fd, const void *p, size_t n)
{
    cr_assert(send(fd, p, n, MSG_NOSIGNAL) == (ssize_t)n, "send: %s", strerror(errno));
}

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* Read exactly n bytes within 5 s; false on EOF. */
static bool raw_read(int fd, void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        cr_assert(poll(&pfd, 1, 5000) == 1, "raw_read: nothing within 5 s");
        ssize_t r = recv(fd, p, n, 0);
        if (r <= 0)
            return false;
        p += r;
        n -= (size_t)r;
    }
    return true;
}

static size_t raw_frame(int fd, unsigned char *buf, size_t cap)
{
    unsigned char h[4];
    cr_assert(raw_read(fd, h, 4), "raw_frame: EOF");
    size_t n = (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
    cr_assert(n <= cap, "raw_frame: %zu bytes", n);
    cr_assert(raw_read(fd, buf, n), "raw_frame: EOF in payload");
    return n;
}

/* The server closes the connection within `secs` (data before EOF is read and
 * dropped). */
static bool closed_within(int fd, double secs)
{
    double end = mpt_now() + secs;
    unsigned char junk[256];
    while (mpt_now() < end) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int ms = (int)((end - mpt_now()) * 1000) + 1;
        if (poll(&pfd, 1, ms) != 1)
            continue;
        ssize_t r = recv(fd, junk, sizeof junk, 0);
        if (r == 0 || (r < 0 && errno == ECONNRESET))
            return true;
    }
    return false;
}

/* The handshake of mp.h, done by hand. */
static void raw_auth(int fd, const char *key)
{
    unsigned char ch[64], msg[4 + 32 + 11 + 32], w[64], want[32];
    size_t n = raw_frame(fd, ch, sizeof ch);
    cr_assert(n == 11 + 32 && memcmp(ch, "#CHALLENGE#", 11) == 0);
    put32(msg, sizeof msg - 4);
    MP_ASSERT_OK(mp_hmac_sha256(key, strlen(key), ch + 11, 32, msg + 4));
    memcpy(msg + 36, "#CHALLENGE#", 11);
    memset(msg + 47, 7, 32);
    raw_write(fd, msg, sizeof msg);
    n = raw_frame(fd, w, sizeof w);
    MP_ASSERT_OK(mp_hmac_sha256(key, strlen(key), msg + 47, 32, want));
    cr_assert(n == 9 + 32 && memcmp(w, "#WELCOME#", 9) == 0 && memcmp(w + 9, want, 32) == 0);
}

/* A dict round trip on d works and is prompt. */
static void still_works(mp_proxy *d, int64_t v)
{
    mp_value *k = mp_str("alive"), *x = mp_int(v), *r = NULL;
    MPT_ASSERT_PROMPT(mp_mdict_set(d, k, x), MP_OK);
    MPT_ASSERT_PROMPT(mp_mdict_get(d, k, &r), MP_OK);
    cr_assert(mp_value_equal(r, x));
    mp_value_free(k);
    mp_value_free(x);
    mp_value_free(r);
}

static int pidfd_wait(pid_t pid, double secs)
{
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    cr_assert(fd >= 0, "pidfd_open(%d): %s", (int)pid, strerror(errno));
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r = poll(&p, 1, (int)(secs * 1000));
    close(fd);
    return r;
}

/* -------------------------------------------------------- lifecycle */

MPT_TEST(manager, MGR_START_SHUTDOWN,
         "MGR-START-SHUTDOWN: start forks a listening server; shutdown stops and reaps it")
{
    mp_manager *m = start();
    pid_t pid = 0;
    MP_ASSERT_OK(mp_manager_pid(m, &pid));
    cr_assert(pid > 0 && pid != getpid());
    cr_assert(kill(pid, 0) == 0, "server not running");
    mp_proxy *d = mdict(m);
    still_works(d, 1);
    mp_proxy_free(d);
    MP_ASSERT_OK(mp_manager_shutdown(m));
    cr_assert(kill(pid, 0) == -1 && errno == ESRCH, "server %d still exists", (int)pid);
    mp_manager_free(m);
}

MPT_TEST(
    manager, MGR_SHUTDOWN_CLEANS,
    "MGR-SHUTDOWN-CLEANS: after shutdown the socket file, its directory and the process are gone")
{
    mp_manager *m = start();
    char path[200], dir[200];
    snprintf(path, sizeof path, "%s", sock_path(m));
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = 0;
    cr_assert(exists(path) && exists(dir));
    mp_proxy *d = mdict(m);
    still_works(d, 2);
    MP_ASSERT_OK(mp_manager_shutdown(m));
    cr_assert(!exists(path), "%s still exists", path);
    cr_assert(!exists(dir), "%s still exists", dir);
    mp_proxy_free(d);
    mp_manager_free(m);
}

MPT_TEST(
    manager, MGR_SHUTDOWN_IDEMPOTENT,
    "MGR-SHUTDOWN-IDEMPOTENT: a second shutdown is MP_OK; other calls afterwards are MP_CLOSED")
{
    mp_manager *m = start();
    MP_ASSERT_OK(mp_manager_shutdown(m));
    MP_ASSERT_OK(mp_manager_shutdown(m));
    mp_proxy *d = NULL;
    const char *a = NULL;
    size_t n;
    MP_ASSERT_STATUS(mp_manager_dict(m, NULL, &d), MP_CLOSED);
    MP_ASSERT_STATUS(mp_manager_address(m, &a), MP_CLOSED);
    MP_ASSERT_STATUS(mp_manager_object_count(m, &n), MP_CLOSED);
    cr_assert(d == NULL);
    mp_manager_free(m);
}

MPT_TEST(manager, MGR_SCOPED_FREE,
         "MGR-SCOPED-FREE: mp_manager_free without shutdown shuts the server down (the end of "
         "`with Manager()`)")
{
    mp_manager *m = start();
    pid_t pid = 0;
    MP_ASSERT_OK(mp_manager_pid(m, &pid));
    char path[200];
    snprintf(path, sizeof path, "%s", sock_path(m));
    mp_manager_free(m);
    cr_assert(kill(pid, 0) == -1 && errno == ESRCH);
    cr_assert(!exists(path));
    mp_manager_free(NULL);
}

MPT_TEST(manager, MGR_NULL_ARGS, "MGR-NULL-ARGS: NULL handles, outputs and values are MP_EINVAL")
{
    mp_manager *m = start();
    mp_proxy *d = mdict(m), *p = NULL;
    const char *s;
    size_t n;
    bool b;
    mp_value *v = NULL;
    MP_ASSERT_STATUS(mp_manager_start(NULL, NULL), MP_EINVAL);
    MP_ASSERT_STATUS(mp_manager_connect(NULL, "unix:/x", NULL, 0), MP_EINVAL);
    MP_ASSERT_STATUS(mp_manager_connect(&m, NULL, NULL, 0), MP_EINVAL);
    MP_ASSERT_STATUS(mp_manager_address(NULL, &s), MP_EINVAL);
    MP_ASSERT_STATUS(mp_manager_address(m, NULL), MP_EINVAL);
    MP_ASSERT_STATUS(mp_manager_dict(NULL, NULL, &p), MP_EINVAL);
    MP_ASSERT_STATUS(mp_manager_dict(m, NULL, NULL), MP_EINVAL);
    MP_ASSERT_STATUS(mp_manager_create(m, NULL, NULL, NULL, &p), MP_EINVAL);
    MP_ASSERT_STATUS(mp_manager_create(m, "nosuchtype", NULL, NULL, &p), MP_EINVAL);
    MP_ASSERT_STATUS(mp_manager_shutdown(NULL), MP_EINVAL);
    MP_ASSERT_STATUS(mp_proxy_call(NULL, "get", NULL, NULL), MP_EINVAL);
    MP_ASSERT_STATUS(mp_proxy_call(d, NULL, NULL, NULL), MP_EINVAL);
    MP_ASSERT_STATUS(mp_mdict_set(d, NULL, I(1)), MP_EINVAL);
    MP_ASSERT_STATUS(mp_mdict_set(d, I(1), NULL), MP_EINVAL);
    MP_ASSERT_STATUS(mp_mdict_get(d, I(1), NULL), MP_EINVAL);
    MP_ASSERT_STATUS(mp_mdict_len(NULL, &n), MP_EINVAL);
    MP_ASSERT_STATUS(mp_mdict_contains(d, I(1), NULL), MP_EINVAL);
    MP_ASSERT_STATUS(mp_mlist_append(NULL, I(1)), MP_EINVAL);
    MP_ASSERT_STATUS(mp_mevent_is_set(NULL, &b), MP_EINVAL);
    MP_ASSERT_STATUS(mp_mqueue_get(NULL, &v, 0), MP_EINVAL);
    MP_ASSERT_STATUS(mp_hmac_sha256(NULL, 1, "", 0, (unsigned char[32]){0}), MP_EINVAL);
    cr_assert(p == NULL && v == NULL);
    dict_is(d, "{}");
    mp_proxy_free(NULL);
    mp_proxy_free(d);
    mp_manager_free(m);
    gc();
}

MPT_TEST(
    manager, MGR_SOCKET_MODE_0600,
    "MGR-SOCKET-MODE-0600: the default socket is mode 0600 in a private directory of mode 0700")
{
    mp_manager *m = start();
    char dir[200];
    const char *path = sock_path(m);
    struct stat st;
    cr_assert(stat(path, &st) == 0);
    cr_assert(S_ISSOCK(st.st_mode));
    cr_assert((st.st_mode & 0777) == 0600, "socket mode %o", st.st_mode & 0777);
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = 0;
    cr_assert(stat(dir, &st) == 0 && S_ISDIR(st.st_mode));
    cr_assert((st.st_mode & 0777) == 0700, "directory mode %o", st.st_mode & 0777);
    mp_manager_free(m);
}

MPT_TEST(manager, MGR_UNIX_PATH,
         "MGR-UNIX-PATH: a unix:PATH address listens there (mode 0600) and the file is removed at "
         "shutdown")
{
    char path[128], addr[140];
    mpt_sock_path(path, sizeof path, "mgr");
    snprintf(addr, sizeof addr, "unix:%s", path);
    mp_manager *m = NULL;
    mp_manager_opts o = {.address = addr};
    MP_ASSERT_OK(mp_manager_start(&m, &o));
    cr_assert(strcmp(sock_path(m), path) == 0);
    struct stat st;
    cr_assert(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    mp_proxy *d = mdict(m);
    still_works(d, 3);
    mp_proxy_free(d);
    mp_manager_free(m);
    cr_assert(!exists(path));
}

MPT_TEST(manager, MGR_BAD_ADDRESS,
         "MGR-BAD-ADDRESS: an address that is not unix:PATH or tcp:HOST:PORT is MP_EINVAL")
{
    const char *bad[] = {"",
                         "foo",
                         "unix:",
                         "tcp:",
                         "tcp:127.0.0.1",
                         "tcp::80",
                         "tcp:127.0.0.1:x",
                         "tcp:127.0.0.1:70000",
                         "http://x"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        mp_manager *m = NULL;
        mp_manager_opts o = {.address = bad[i], .authkey = "k", .authkey_len = 1};
        MP_ASSERT_STATUS(mp_manager_start(&m, &o), MP_EINVAL);
        MP_ASSERT_STATUS(mp_manager_connect(&m, bad[i], "k", 1), MP_EINVAL);
        cr_assert(m == NULL, "%s", bad[i]);
    }
}

MPT_TEST(manager, MGR_TCP_NEEDS_AUTHKEY,
         "MGR-TCP-NEEDS-AUTHKEY: a TCP manager without an explicit non-empty authkey is MP_EINVAL")
{
    mp_manager *m = NULL;
    mp_manager_opts o = {.address = "tcp:127.0.0.1:0"};
    MP_ASSERT_STATUS(mp_manager_start(&m, &o), MP_EINVAL);
    o.authkey = "";
    MP_ASSERT_STATUS(mp_manager_start(&m, &o), MP_EINVAL);
    cr_assert(m == NULL);
}

struct remote {
    char addr[300];
    const char *key;
};

/* A client in another process: connect by address, use the named dict. */
static int remote_client(void *arg)
{
    struct remote *r = arg;
    mp_manager *m = NULL;
    mp_proxy *d = NULL;
    if (mp_manager_connect(&m, r->addr, r->key, r->key ? strlen(r->key) : 0))
        return 10;
    if (mp_manager_create(m, "dict", NULL, "shared", &d))
        return 11;
    mp_value *k = mp_str("from"), *v = mp_str("child"), *got = NULL, *k2 = mp_str("seed");
    int rc = 0;
    if (mp_mdict_get(d, k2, &got) || !mp_value_equal(got, k2))
        rc = 12;
    else if (mp_mdict_set(d, k, v))
        rc = 13;
    mp_value_free(got);
    mp_value_free(k);
    mp_value_free(v);
    mp_value_free(k2);
    mp_proxy_free(d);
    pid_t pid = 1;
    if (!rc && (mp_manager_pid(m, &pid) || pid != 0))
        rc = 14;
    if (!rc && mp_manager_shutdown(m)) /* disconnects only */
        rc = 15;
    mp_manager_free(m);
    return rc;
}

static void remote_round(mp_manager *m, const char *key)
{
    mp_proxy *d = NULL;
    MP_ASSERT_OK(mp_manager_create(m, "dict", NULL, "shared", &d));
    MP_ASSERT_OK(mp_mdict_set(d, S("seed"), S("seed")));
    struct remote r = {.key = key};
    const char *a;
    MP_ASSERT_OK(mp_manager_address(m, &a));
    snprintf(r.addr, sizeof r.addr, "%s", a);
    cr_assert_eq(mpt_join(mpt_start(remote_client, &r)), 0);
    mp_value *got = NULL;
    MP_ASSERT_OK(mp_mdict_get(d, S("from"), &got));
    expect(got, "'child'");
    still_works(d, 4); /* the client's shutdown left the server running */
    mp_proxy_free(d);
    gc();
}

MPT_TEST(manager, MGR_TCP_CONNECT,
         "MGR-TCP-CONNECT: tcp:HOST:0 picks a port shown by the address; a client with the key "
         "connects there")
{
    mp_manager *m = NULL;
    mp_manager_opts o = {.address = "tcp:127.0.0.1:0", .authkey = "s3cret", .authkey_len = 6};
    MP_ASSERT_OK(mp_manager_start(&m, &o));
    const char *a;
    MP_ASSERT_OK(mp_manager_address(m, &a));
    cr_assert(strncmp(a, "tcp:127.0.0.1:", 14) == 0 && atoi(a + 14) > 0, "address %s", a);
    remote_round(m, "s3cret");
    mp_manager_free(m);
}

MPT_TEST(manager, MGR_REMOTE_CONNECT,
         "MGR-REMOTE-CONNECT: mp_manager_connect(address, authkey) reaches a running server and "
         "its named objects")
{
    mp_manager *m = start_key("remote-key");
    remote_round(m, "remote-key");
    mp_manager_free(m);
}

MPT_TEST(manager, MGR_CONNECT_NO_SERVER,
         "MGR-CONNECT-NO-SERVER: connecting where no server listens is MP_EDEAD at once")
{
    mp_manager *m = NULL;
    MPT_ASSERT_PROMPT(mp_manager_connect(&m, "unix:/nonexistent-mpt/listener", "k", 1), MP_EDEAD);
    /* A socket file left by a killed server: connection refused. */
    char path[128];
    mpt_sock_path(path, sizeof path, "stale");
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    strcpy(un.sun_path, path);
    cr_assert(bind(fd, (struct sockaddr *)&un, sizeof un) == 0);
    close(fd);
    char addr[140];
    snprintf(addr, sizeof addr, "unix:%s", path);
    MPT_ASSERT_PROMPT(mp_manager_connect(&m, addr, "k", 1), MP_EDEAD);
    unlink(path);
    cr_assert(m == NULL);
}

/* ------------------------------------------------------------ auth */

MPT_TEST(manager, MGR_HMAC_RFC4231,
         "MGR-HMAC-RFC4231: mp_hmac_sha256 gives the RFC 4231 test vectors")
{
    struct {
        const char *key, *data, *mac;
        size_t keylen, datalen;
    } tv[] = {
        {"\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b",
         "Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7", 20, 8},
        {"Jefe", "what do ya want for nothing?",
         "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", 4, 28},
        {NULL, NULL, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe", 20, 50},
        {NULL, NULL, "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b", 25, 50},
        {NULL, "Test Using Larger Than Block-Size Key - Hash Key First",
         "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54", 131, 54},
        {NULL,
         "This is a test using a larger than block-size key and a larger than block-size "
         "data. The key needs to be hashed before being used by the HMAC algorithm.",
         "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2", 131, 152},
    };
    unsigned char k3[20], d3[50], k4[25], d4[50], kbig[131];
    memset(k3, 0xaa, 20);
    memset(d3, 0xdd, 50);
    for (int i = 0; i < 25; i++)
        k4[i] = (unsigned char)(i + 1);
    memset(d4, 0xcd, 50);
    memset(kbig, 0xaa, 131);
    const void *keys[] = {tv[0].key, tv[1].key, k3, k4, kbig, kbig};
    const void *data[] = {tv[0].data, tv[1].data, d3, d4, tv[4].data, tv[5].data};
    for (int i = 0; i < 6; i++) {
        unsigned char out[32];
        char hex[65];
        MP_ASSERT_OK(mp_hmac_sha256(keys[i], tv[i].keylen, data[i], tv[i].datalen, out));
        for (int j = 0; j < 32; j++)
            snprintf(hex + 2 * j, 3, "%02x", out[j]);
        cr_assert(strcmp(hex, tv[i].mac) == 0, "case %d: %s", i, hex);
    }
}

MPT_TEST(
    manager, MGR_WRONG_AUTHKEY,
    "MGR-WRONG-AUTHKEY: a client with a wrong authkey gets MP_EAUTH and the server logs one line")
{
    FILE *log = mpt_tmpfile();
    fflush(stderr);
    int saved = dup(2);
    dup2(fileno(log), 2);
    mp_manager *m = start_key("right");
    dup2(saved, 2);
    close(saved);
    const char *a;
    MP_ASSERT_OK(mp_manager_address(m, &a));
    mp_manager *c = NULL;
    MPT_ASSERT_PROMPT(mp_manager_connect(&c, a, "wrong", 5), MP_EAUTH);
    cr_assert(c == NULL);
    MP_ASSERT_OK(mp_manager_connect(&c, a, "right", 5));
    mp_manager_free(c);
    char buf[1024] = {0};
    ssize_t n = pread(fileno(log), buf, sizeof buf - 1, 0);
    cr_assert(n > 0, "nothing logged");
    int lines = 0;
    for (char *p = buf; (p = strchr(p, '\n')); p++)
        lines++;
    cr_assert(lines == 1 && strstr(buf, "authentication failed"), "log: %s", buf);
    mp_manager_free(m);
    fclose(log);
}

struct fake {
    int lfd;
};

/* A server that does not know the key: it answers with a bogus proof. */
static int fake_server(void *arg)
{
    struct fake *f = arg;
    int c = accept(f->lfd, NULL, NULL);
    if (c < 0)
        return 1;
    unsigned char msg[4 + 11 + 32] = {0,   0,   0,   43,  '#', 'C', 'H', 'A',
                                      'L', 'L', 'E', 'N', 'G', 'E', '#'};
    unsigned char in[4 + 32 + 11 + 32],
        ok[4 + 9 + 32] = {0, 0, 0, 41, '#', 'W', 'E', 'L', 'C', 'O', 'M', 'E', '#'};
    if (send(c, msg, sizeof msg, MSG_NOSIGNAL) != (ssize_t)sizeof msg)
        return 2;
    size_t got = 0;
    while (got < sizeof in) {
        ssize_t r = recv(c, in + got, sizeof in - got, 0);
        if (r <= 0)
            return 3;
        got += (size_t)r;
    }
    if (send(c, ok, sizeof ok, MSG_NOSIGNAL) != (ssize_t)sizeof ok)
        return 4;
    char b;
    while (recv(c, &b, 1, 0) > 0) /* until the client hangs up */
        ;
    close(c);
    return 0;
}

MPT_TEST(manager, MGR_SERVER_MUST_PROVE_KEY,
         "MGR-SERVER-MUST-PROVE-KEY: a server that cannot prove it knows the authkey is MP_EAUTH "
         "for the client")
{
    char path[128], addr[140];
    mpt_sock_path(path, sizeof path, "fake");
    snprintf(addr, sizeof addr, "unix:%s", path);
    struct fake f = {.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    strcpy(un.sun_path, path);
    cr_assert(bind(f.lfd, (struct sockaddr *)&un, sizeof un) == 0 && listen(f.lfd, 4) == 0);
    mp_process *p = mpt_start(fake_server, &f);
    mp_manager *m = NULL;
    MPT_ASSERT_PROMPT(mp_manager_connect(&m, addr, "key", 3), MP_EAUTH);
    cr_assert(m == NULL);
    cr_assert_eq(mpt_join(p), 0);
    close(f.lfd);
    unlink(path);
}

/* ------------------------------------------------------ robustness */

MPT_TEST(manager, MGR_GARBAGE_CLIENT,
         "MGR-GARBAGE-CLIENT: a client sending garbage instead of the handshake is dropped; others "
         "go on")
{
    mp_manager *m = start();
    mp_proxy *d = mdict(m);
    still_works(d, 1);
    int fd = raw_connect(sock_path(m));
    unsigned char ch[64];
    raw_frame(fd, ch, sizeof ch);
    unsigned char junk[4 + 20] = {0, 0, 0, 20};
    memset(junk + 4, 0x5a, 20);
    raw_write(fd, junk, sizeof junk);
    cr_assert(closed_within(fd, 5), "garbage client not dropped");
    close(fd);
    /* Raw bytes with no framing at all. */
    fd = raw_connect(sock_path(m));
    raw_write(fd, "GET / HTTP/1.0\r\n\r\n", 18);
    cr_assert(closed_within(fd, 5), "HTTP client not dropped");
    close(fd);
    still_works(d, 2);
    mp_proxy_free(d);
    mp_manager_free(m);
}

MPT_TEST(manager, MGR_GARBAGE_AFTER_AUTH,
         "MGR-GARBAGE-AFTER-AUTH: an authenticated client sending a malformed request is dropped; "
         "others go on")
{
    mp_manager *m = start_key("k");
    mp_proxy *d = mdict(m);
    const unsigned char *bad[] = {
        (const unsigned char *)"\xc1",     /* not msgpack */
        (const unsigned char *)"\x93\x01", /* truncated array */
        (const unsigned char *)"\xa3"
                               "abc",           /* a str, not an array */
        (const unsigned char *)"\x92\xa1x\x01", /* oid not an int */
    };
    size_t len[] = {1, 2, 4, 4};
    for (int i = 0; i < 4; i++) {
        int fd = raw_connect(sock_path(m));
        raw_auth(fd, "k");
        unsigned char f[16];
        put32(f, (uint32_t)len[i]);
        memcpy(f + 4, bad[i], len[i]);
        raw_write(fd, f, 4 + len[i]);
        cr_assert(closed_within(fd, 5), "case %d: client not dropped", i);
        close(fd);
        still_works(d, i);
    }
    mp_proxy_free(d);
    mp_manager_free(m);
}

MPT_TEST(manager, MGR_OVERSIZED_FRAME,
         "MGR-OVERSIZED-FRAME: a frame header above the limit drops the client without allocating; "
         "others go on")
{
    mp_manager *m = start_key("k");
    mp_proxy *d = mdict(m);
    /* Before the handshake the limit is small. */
    int fd = raw_connect(sock_path(m));
    unsigned char h[4], ch[64];
    raw_frame(fd, ch, sizeof ch);
    put32(h, 100000);
    raw_write(fd, h, 4);
    cr_assert(closed_within(fd, 5));
    close(fd);
    /* After it: just above MP_MANAGER_FRAME_MAX, and 4 GiB - 1. */
    uint32_t sizes[] = {(uint32_t)MP_MANAGER_FRAME_MAX + 1, 0xffffffffu};
    for (int i = 0; i < 2; i++) {
        fd = raw_connect(sock_path(m));
        raw_auth(fd, "k");
        put32(h, sizes[i]);
        raw_write(fd, h, 4);
        cr_assert(closed_within(fd, 5), "header %u: not dropped", sizes[i]);
        close(fd);
        still_works(d, i);
    }
    mp_proxy_free(d);
    mp_manager_free(m);
}

MPT_TEST(
    manager, MGR_SILENT_CLIENT_NO_STALL,
    "MGR-SILENT-CLIENT-NO-STALL: clients that stop mid-handshake or mid-frame do not delay others")
{
    mp_manager *m = start_key("k");
    mp_proxy *d = mdict(m);
    int mute = raw_connect(sock_path(m)); /* never answers the challenge */
    int half = raw_connect(sock_path(m));
    raw_auth(half, "k");
    unsigned char part[4 + 10] = {0, 0, 1, 0, 0x94}; /* claims 256 bytes, sends 10 */
    raw_write(half, part, sizeof part);
    for (int i = 0; i < 20; i++)
        still_works(d, i);
    close(mute);
    close(half);
    still_works(d, 99);
    mp_proxy_free(d);
    mp_manager_free(m);
}

/* A request creating a dict from a map of n keys that collide in common
 * hashes (see test_value.c, VAL-DICT-COLLIDING-KEYS-LINEAR): NaNs (kind 0),
 * ints differing only above bit 32 (1), splitmix64-inverted ints (2).
 * Framed: [0, "create", "dict", {key: None, ...}, None]. */
static uint64_t unxorshift(uint64_t x, int sh)
{
    uint64_t r = x;
    for (int i = 0; i < 64 / sh + 1; i++)
        r = x ^ (r >> sh);
    return r;
}

static uint64_t inverse_odd(uint64_t a)
{
    uint64_t x = a;
    for (int i = 0; i < 6; i++)
        x *= 2 - a * x;
    return x;
}

static uint64_t hostile_key(int kind, uint64_t i)
{
    if (kind == 0) {
        double d = NAN;
        uint64_t b;
        memcpy(&b, &d, sizeof b);
        return b;
    }
    if (kind == 1)
        return (i + 1) << 32;
    uint64_t y = unxorshift((i + 1) << 24, 31) * inverse_odd(0x94d049bb133111ebull);
    y = unxorshift(y, 27) * inverse_odd(0xbf58476d1ce4e5b9ull);
    return unxorshift(y, 30);
}

static unsigned char *hostile_request(int kind, size_t n, size_t *len)
{
    static const unsigned char head[] = {0x95, 0x00, 0xa6, 'c', 'r', 'e', 'a', 't',
                                         'e',  0xa4, 'd',  'i', 'c', 't', 0xdf};
    size_t total = 4 + sizeof head + 4 + n * 10 + 1;
    unsigned char *b = malloc(total), *p = b + 4 + sizeof head;
    cr_assert(b != NULL);
    put32(b, (uint32_t)(total - 4));
    memcpy(b + 4, head, sizeof head);
    put32(p, (uint32_t)n);
    p += 4;
    for (size_t i = 0; i < n; i++, p += 10) {
        uint64_t k = hostile_key(kind, i);
        p[0] = kind == 0 ? 0xcb : 0xd3;
        for (int j = 0; j < 8; j++)
            p[1 + j] = (unsigned char)(k >> (56 - 8 * j));
        p[9] = 0xc0;
    }
    *p++ = 0xc0;
    *len = total;
    return b;
}

MPT_TEST(manager, MGR_HOSTILE_DICT_NO_STALL,
         "MGR-HOSTILE-DICT-NO-STALL: a request holding a dict of 100,000 colliding keys does not "
         "stall another client's call")
{
    /* A hang check: a quadratic dict needs tens of seconds per request here
     * (40,000 NaN keys alone took 3-4 s to decode), a linear one well under
     * one; the other client's call must be answered within 5 s. */
    enum { N = 100000 };
    mp_manager *m = start_key("k");
    mp_proxy *d = mdict(m);
    still_works(d, 0);
    int fd = raw_connect(sock_path(m));
    raw_auth(fd, "k");
    for (int kind = 0; kind < 3; kind++) {
        size_t len;
        unsigned char *req = hostile_request(kind, N, &len);
        raw_write(fd, req, len); /* returns once the server has read most of it */
        free(req);
        double t0 = mpt_now();
        mp_value *k = mp_str("alive"), *x = mp_int(kind), *r = NULL;
        MP_ASSERT_OK(mp_mdict_set(d, k, x));
        MP_ASSERT_OK(mp_mdict_get(d, k, &r));
        double el = mpt_now() - t0;
        cr_assert(mp_value_equal(r, x));
        mp_value_free(k);
        mp_value_free(x);
        mp_value_free(r);
        cr_log_info("kind %d: the other client's set+get took %.3f s", kind, el);
        cr_assert(el < mpt_slack(5.0), "kind %d: the other client waited %.1f s", kind, el);
        unsigned char rep[16];
        size_t n = raw_frame(fd, rep, sizeof rep); /* [0, oid]: the dict was made */
        cr_assert(n >= 3 && rep[0] == 0x92 && rep[1] == 0x00, "kind %d: create failed", kind);
    }
    close(fd);
    mp_proxy_free(d);
    mp_manager_free(m);
}

MPT_TEST(manager, MGR_HANDSHAKE_DEADLINE,
         "MGR-HANDSHAKE-DEADLINE: a connection that has not passed the handshake is closed "
         "MP_MANAGER_HANDSHAKE_TIMEOUT s after it was accepted, never earlier")
{
    mp_manager *m = start_tcp("k");
    double t0 = mpt_now(); /* before connect: the server's clock starts later */
    int idle = raw_connect_tcp(m), half = raw_connect_tcp(m);
    unsigned char ch[64], part[4 + 10] = {0, 0, 0, 75}; /* claims 75 bytes, sends 10 */
    raw_frame(idle, ch, sizeof ch);
    raw_frame(half, ch, sizeof ch);
    raw_write(half, part, sizeof part);
    cr_assert(closed_within(idle, MP_MANAGER_HANDSHAKE_TIMEOUT + mpt_slack(3.0)),
              "an idle connection was never closed");
    double el = mpt_now() - t0;
    cr_assert(el >= MP_MANAGER_HANDSHAKE_TIMEOUT, "closed after %.3f s, before the deadline", el);
    cr_assert(closed_within(half, mpt_slack(3.0)), "a half-sent handshake was never closed");
    cr_log_info("idle connection closed after %.3f s", el);
    close(idle);
    close(half);
    /* The server goes on: a client with the key gets in. */
    const char *a = NULL;
    mp_manager *c = NULL;
    MP_ASSERT_OK(mp_manager_address(m, &a));
    MPT_ASSERT_PROMPT(mp_manager_connect(&c, a, "k", 1), MP_OK);
    mp_manager_free(c);
    mp_manager_free(m);
}

MPT_TEST(manager, MGR_IDLE_CONNECTIONS_NO_LOCKOUT,
         "MGR-IDLE-CONNECTIONS-NO-LOCKOUT: with 1,200 idle connections open to a TCP manager that "
         "has 1024 descriptors, a client with the key is served at once")
{
    enum { IDLE = 1200 };
    struct rlimit orig, lim;
    cr_assert(getrlimit(RLIMIT_NOFILE, &orig) == 0);
    cr_assert(orig.rlim_max == RLIM_INFINITY || orig.rlim_max >= IDLE + 256,
              "RLIMIT_NOFILE hard limit %llu: cannot open %d connections",
              (unsigned long long)orig.rlim_max, IDLE);
    /* The server gets the usual default of 1024 descriptors, fewer than the
     * idle connections; this process gets room for them. */
    lim = orig;
    lim.rlim_cur = 1024;
    cr_assert(setrlimit(RLIMIT_NOFILE, &lim) == 0);
    mp_manager *m = start_tcp("k");
    lim.rlim_cur = IDLE + 256;
    cr_assert(setrlimit(RLIMIT_NOFILE, &lim) == 0, "setrlimit: %s", strerror(errno));
    static int fds[IDLE];
    for (int i = 0; i < IDLE; i++)
        fds[i] = raw_connect_tcp(m);
    const char *a = NULL;
    MP_ASSERT_OK(mp_manager_address(m, &a));
    double t0 = mpt_now();
    mp_manager *c = NULL;
    MP_ASSERT_OK(mp_manager_connect(&c, a, "k", 1));
    mp_proxy *d = mdict(c);
    mp_value *k = mp_str("k"), *x = mp_int(1), *r = NULL;
    MP_ASSERT_OK(mp_mdict_set(d, k, x));
    MP_ASSERT_OK(mp_mdict_get(d, k, &r));
    double el = mpt_now() - t0;
    cr_assert(mp_value_equal(r, x));
    cr_log_info("connect + dict + set + get beside %d idle connections: %.3f s", IDLE, el);
    /* Below the handshake deadline: the idle ones must not merely time out. */
    cr_assert(el < mpt_slack(3.0), "the client with the key waited %.1f s", el);
    mp_value_free(k);
    mp_value_free(x);
    mp_value_free(r);
    mp_proxy_free(d);
    mp_manager_free(c);
    for (int i = 0; i < IDLE; i++)
        close(fds[i]);
    mp_manager_free(m);
    cr_assert(setrlimit(RLIMIT_NOFILE, &orig) == 0);
}

MPT_TEST(manager, MGR_WRONG_DIGEST_REFUSED,
         "MGR-WRONG-DIGEST-REFUSED: a raw client answering the challenge with a wrong digest gets "
         "#FAILURE# and EOF; its pipelined request is never run")
{
    mp_manager *m = start_tcp("right");
    mp_manager *c = NULL;
    const char *a = NULL;
    size_t before = 0, after = 0;
    MP_ASSERT_OK(mp_manager_address(m, &a));
    MP_ASSERT_OK(mp_manager_connect(&c, a, "right", 5));
    MP_ASSERT_OK(mp_manager_object_count(c, &before));
    int fd = raw_connect_tcp(m);
    unsigned char ch[64];
    size_t n = raw_frame(fd, ch, sizeof ch);
    cr_assert(n == 11 + 32 && memcmp(ch, "#CHALLENGE#", 11) == 0);
    /* The answer, keyed with the wrong key, then at once a request:
     * [0, "create", "dict", None, "intruder"]. */
    static const unsigned char req[24] = {0x95, 0x00, 0xa6, 'c', 'r', 'e', 'a',  't',
                                          'e',  0xa4, 'd',  'i', 'c', 't', 0xc0, 0xa8,
                                          'i',  'n',  't',  'r', 'u', 'd', 'e',  'r'};
    unsigned char msg[4 + 32 + 11 + 32 + 4 + sizeof req];
    put32(msg, 32 + 11 + 32);
    MP_ASSERT_OK(mp_hmac_sha256("wrong", 5, ch + 11, 32, msg + 4));
    memcpy(msg + 36, "#CHALLENGE#", 11);
    memset(msg + 47, 9, 32);
    put32(msg + 79, sizeof req);
    memcpy(msg + 83, req, sizeof req);
    raw_write(fd, msg, sizeof msg);
    n = raw_frame(fd, ch, sizeof ch);
    cr_assert(n == 9 && memcmp(ch, "#FAILURE#", 9) == 0, "no #FAILURE# (%zu bytes)", n);
    cr_assert(closed_within(fd, mpt_slack(2.0)), "the connection stayed open");
    close(fd);
    MP_ASSERT_OK(mp_manager_object_count(c, &after));
    cr_assert_eq(after, before, "the refused client's request ran: %zu objects, was %zu", after,
                 before);
    mp_proxy *p = NULL; /* nor was its name taken */
    MP_ASSERT_OK(mp_manager_create(c, "list", NULL, "intruder", &p));
    mp_proxy_free(p);
    mp_manager_free(c);
    mp_manager_free(m);
}

struct lockarg {
    mp_proxy *lock, *ev;
};

static int acquire_forever(void *arg)
{
    struct lockarg *a = arg;
    if (mp_mevent_set(a->ev)) /* "I am about to block" */
        return 1;
    if (mp_mlock_acquire(a->lock, MP_FOREVER))
        return 2;
    return mp_mlock_release(a->lock) ? 3 : 0;
}

MPT_TEST(
    manager, MGR_BLOCKED_CLIENT_NO_STALL,
    "MGR-BLOCKED-CLIENT-NO-STALL: a client blocked in Lock.acquire does not delay other clients")
{
    mp_manager *m = start();
    struct lockarg a;
    MP_ASSERT_OK(mp_manager_lock(m, &a.lock));
    MP_ASSERT_OK(mp_manager_event(m, &a.ev));
    mp_proxy *d = mdict(m);
    MP_ASSERT_OK(mp_mlock_acquire(a.lock, MP_FOREVER));
    mp_process *p = mpt_start(acquire_forever, &a);
    MP_ASSERT_OK(mp_mevent_wait(a.ev, 10));
    for (int i = 0; i < 20; i++)
        still_works(d, i);
    bool alive = false;
    MP_ASSERT_OK(mp_process_is_alive(p, &alive));
    cr_assert(alive, "the child should still wait for the lock");
    MP_ASSERT_OK(mp_mlock_release(a.lock));
    cr_assert_eq(mpt_join(p), 0);
    mp_proxy_free(d);
    mp_proxy_free(a.lock);
    mp_proxy_free(a.ev);
    mp_manager_free(m);
}

MPT_TEST(manager, MGR_SERVER_KILLED,
         "MGR-SERVER-KILLED: after the server is killed, proxy calls return MP_EDEAD promptly, "
         "never hang")
{
    mp_manager *m = start();
    mp_proxy *d = mdict(m);
    still_works(d, 1);
    pid_t pid;
    MP_ASSERT_OK(mp_manager_pid(m, &pid));
    char path[200];
    snprintf(path, sizeof path, "%s", sock_path(m));
    cr_assert(kill(pid, SIGKILL) == 0);
    size_t n;
    MPT_ASSERT_PROMPT(mp_mdict_len(d, &n), MP_EDEAD);
    MPT_ASSERT_PROMPT(mp_mdict_len(d, &n), MP_EDEAD); /* reconnecting fails too */
    mp_proxy *d2 = NULL;
    MPT_ASSERT_PROMPT(mp_manager_dict(m, NULL, &d2), MP_EDEAD);
    mp_proxy_free(d);
    mp_manager_free(m);
    cr_assert(!exists(path), "the killed server's socket file was not removed");
}

MPT_TEST(
    manager, MGR_PROXY_AFTER_SHUTDOWN,
    "MGR-PROXY-AFTER-SHUTDOWN: a proxy used after its manager shut down returns MP_EDEAD promptly")
{
    mp_manager *m = start();
    mp_proxy *d = mdict(m), *l = mlist(m, NULL);
    still_works(d, 1);
    MP_ASSERT_OK(mp_manager_shutdown(m));
    size_t n;
    MPT_ASSERT_PROMPT(mp_mdict_len(d, &n), MP_EDEAD); /* had a connection */
    MPT_ASSERT_PROMPT(mp_mlist_len(l, &n), MP_EDEAD);
    mp_manager_free(m);
    MPT_ASSERT_PROMPT(mp_mlist_append(l, I(1)), MP_EDEAD);
    mp_proxy_free(d);
    mp_proxy_free(l);
    gc();
}

struct info {
    int wfd, hold;
};

static int start_and_hang(void *arg)
{
    struct info *in = arg;
    mp_manager *m = NULL;
    size_t nobj;
    /* A round trip: the server is in its loop, watching us, before we die. */
    if (mp_manager_start(&m, NULL) || mp_manager_object_count(m, &nobj))
        return 1;
    pid_t pid;
    const char *a;
    char buf[256];
    mp_manager_pid(m, &pid);
    mp_manager_address(m, &a);
    int n = snprintf(buf, sizeof buf, "%d %s", (int)pid, a);
    if (write(in->wfd, buf, (size_t)n + 1) != n + 1)
        return 2;
    char b;
    while (read(in->hold, &b, 1) != 0) /* until killed */
        ;
    return 0;
}

MPT_TEST(manager, MGR_PARENT_DIES_SERVER_GOES,
         "MGR-PARENT-DIES-SERVER-GOES: when the process that started the manager dies, the server "
         "exits and removes its files")
{
    int info[2], hold[2];
    cr_assert(pipe2(info, O_CLOEXEC) == 0 && pipe2(hold, O_CLOEXEC) == 0);
    struct info in = {.wfd = info[1], .hold = hold[0]};
    mp_process *p = mpt_start(start_and_hang, &in);
    char buf[256] = {0};
    size_t got = 0;
    while (got < sizeof buf - 1) {
        ssize_t r = read(info[0], buf + got, sizeof buf - 1 - got);
        cr_assert(r > 0, "no news from the child");
        got += (size_t)r;
        if (memchr(buf, 0, got))
            break;
    }
    int spid = atoi(buf);
    const char *path = strchr(buf, ' ') + 1 + 5;
    char dir[200];
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = 0;
    cr_assert(spid > 0 && exists(path));
    MP_ASSERT_OK(mp_process_kill(p));
    cr_assert_eq(mpt_join(p), -SIGKILL);
    /* The server is now our child (we are a subreaper): it must end by itself. */
    double t0 = mpt_now();
    cr_assert(pidfd_wait(spid, 5) == 1, "server %d still running 5 s after its parent died", spid);
    cr_assert(mpt_now() - t0 < mpt_slack(2.0));
    int st;
    cr_assert(waitpid(spid, &st, 0) == spid);
    cr_assert(WIFEXITED(st), "server did not exit by itself");
    cr_assert(!exists(path), "%s left behind", path);
    cr_assert(!exists(dir), "%s left behind", dir);
    close(info[0]);
    close(info[1]);
    close(hold[0]);
    close(hold[1]);
}

static int child_shutdown(void *arg)
{
    mp_manager *m = arg;
    if (mp_manager_shutdown(m) != MP_ESTATE)
        return 1;
    mp_manager_free(m); /* the local copy only */
    return 0;
}

MPT_TEST(manager, MGR_CHILD_CANNOT_SHUTDOWN,
         "MGR-CHILD-CANNOT-SHUTDOWN: in a child, shutdown is MP_ESTATE and free leaves the server "
         "running")
{
    mp_manager *m = start();
    mp_proxy *d = mdict(m);
    cr_assert_eq(mpt_join(mpt_start(child_shutdown, m)), 0);
    still_works(d, 1);
    mp_proxy *d2 = mdict(m);
    mp_proxy_free(d2);
    mp_proxy_free(d);
    mp_manager_free(m);
}

MPT_TEST(manager, MGR_SERVER_CLOSES_INHERITED_FDS,
         "MGR-SERVER-CLOSES-INHERITED-FDS: the server keeps no copy of its parent's descriptors (a "
         "Pipe still sees EOF)")
{
    mp_conn *a, *b;
    MP_ASSERT_OK(mp_pipe(&a, &b, true));
    mp_manager *m = start();
    mp_conn_free(b);
    MPT_ASSERT_PROMPT(mp_conn_poll(a, 5.0), MP_OK);
    void *buf = NULL;
    size_t len;
    MP_ASSERT_STATUS(mp_conn_recv_bytes(a, &buf, &len, 0), MP_EOF);
    mp_conn_free(a);
    mp_manager_free(m);
}

/* ------------------------------------------------------ children */

struct pair {
    mp_proxy *d, *l;
};

static int use_inherited(void *arg)
{
    struct pair *p = arg;
    mp_value *k = mp_str("parent"), *v = NULL, *k2 = mp_str("child"), *v2 = mp_int(7);
    int rc = 0;
    if (mp_mdict_get(p->d, k, &v) || !mp_value_equal(v, k))
        rc = 1;
    else if (mp_mdict_set(p->d, k2, v2))
        rc = 2;
    mp_value_free(k);
    mp_value_free(v);
    mp_value_free(k2);
    mp_value_free(v2);
    return rc;
}

MPT_TEST(manager, MGR_PROXY_IN_CHILD,
         "MGR-PROXY-IN-CHILD: a proxy made before mp_process_start works in the child, both ways")
{
    mp_manager *m = start();
    struct pair p = {.d = mdict(m)};
    MP_ASSERT_OK(mp_mdict_set(p.d, S("parent"), S("parent")));
    cr_assert_eq(mpt_join(mpt_start(use_inherited, &p)), 0);
    dict_is(p.d, "{'parent': 'parent', 'child': 7}");
    mp_proxy_free(p.d);
    mp_manager_free(m);
    gc();
}

/* Many round trips whose answers must match the question: a reply read by
 * the wrong process would show. */
static int echo_rounds(mp_proxy *d, const char *who, int n)
{
    mp_value *k = mp_str(who);
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        mp_value *v = mp_int(i), *got = NULL;
        if (mp_mdict_set(d, k, v) || mp_mdict_get(d, k, &got) || !mp_value_equal(got, v))
            rc = 1;
        mp_value_free(v);
        mp_value_free(got);
    }
    mp_value_free(k);
    return rc;
}

static int child_echo(void *arg) { return echo_rounds(arg, "child", 300); }

MPT_TEST(manager, MGR_CHILD_OWN_CONNECTION,
         "MGR-CHILD-OWN-CONNECTION: a child never shares its parent's connection: both use the "
         "proxy at once")
{
    mp_manager *m = start();
    mp_proxy *d = mdict(m);
    still_works(d, 1); /* the parent's connection exists before the fork */
    mp_process *p = mpt_start(child_echo, d);
    cr_assert_eq(echo_rounds(d, "parent", 300), 0);
    cr_assert_eq(mpt_join(p), 0);
    mp_proxy_free(d);
    mp_manager_free(m);
}

static int tutorial_f(void *arg)
{
    struct pair *p = arg;
    mp_value *k1 = mp_int(1), *v1 = mp_str("1"), *k2 = mp_str("2"), *v2 = mp_int(2),
             *k3 = mp_float(0.25), *a = mp_str("a");
    int rc = mp_mdict_set(p->d, k1, v1) || mp_mdict_set(p->d, k2, v2) ||
             mp_mdict_set(p->d, k3, mp_none()) || mp_mlist_append(p->l, a);
    mp_value_free(k1);
    mp_value_free(v1);
    mp_value_free(k2);
    mp_value_free(v2);
    mp_value_free(k3);
    mp_value_free(a);
    return rc;
}

MPT_TEST(manager, MGR_TUTORIAL_10_PROCS,
         "MGR-TUTORIAL-10-PROCS: 10 processes set d[1], d['2'], d[0.25] and append 'a' to "
         "list(range(5)); the parent sees CPython's result")
{
    mp_manager *m = start();
    struct pair p = {.d = mdict(m), .l = mlist(m, "0 1 2 3 4")};
    mp_process *ps[10];
    for (int i = 0; i < 10; i++)
        ps[i] = mpt_start(tutorial_f, &p);
    for (int i = 0; i < 10; i++)
        cr_assert_eq(mpt_join(ps[i]), 0);
    dict_is(p.d, "{1: '1', '2': 2, 0.25: None}");
    list_is(p.l, "[0, 1, 2, 3, 4, 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a']");
    mp_proxy_free(p.d);
    mp_proxy_free(p.l);
    mp_manager_free(m);
}

struct appender {
    mp_proxy *l;
    int id;
};

static int append_many(void *arg)
{
    struct appender *a = arg;
    for (int i = 0; i < 200; i++) {
        mp_value *v = mp_int(a->id * 1000 + i);
        mp_status s = mp_mlist_append(a->l, v);
        mp_value_free(v);
        if (s)
            return 1;
    }
    return 0;
}

MPT_TEST(manager, MGR_CONCURRENT_APPENDS_NO_LOSS,
         "MGR-CONCURRENT-APPENDS-NO-LOSS: 10 processes appending 200 items each lose none and keep "
         "each one's order")
{
    mp_manager *m = start();
    mp_proxy *l = mlist(m, NULL);
    struct appender a[10];
    mp_process *ps[10];
    for (int i = 0; i < 10; i++) {
        a[i] = (struct appender){.l = l, .id = i};
        ps[i] = mpt_start(append_many, &a[i]);
    }
    for (int i = 0; i < 10; i++)
        cr_assert_eq(mpt_join(ps[i]), 0);
    mp_value *c = NULL;
    MP_ASSERT_OK(mp_mlist_copy(l, &c));
    size_t n = 0;
    MP_ASSERT_OK(mp_seq_len(c, &n));
    cr_assert_eq(n, 2000);
    int next[10] = {0};
    for (size_t j = 0; j < n; j++) {
        const mp_value *it;
        int64_t v;
        MP_ASSERT_OK(mp_seq_get(c, (ptrdiff_t)j, &it));
        MP_ASSERT_OK(mp_value_get_int(it, &v));
        int id = (int)(v / 1000), i = (int)(v % 1000);
        cr_assert(id >= 0 && id < 10 && i == next[id], "item %zu = %lld out of order", j,
                  (long long)v);
        next[id]++;
    }
    mp_value_free(c);
    mp_proxy_free(l);
    mp_manager_free(m);
}

MPT_TEST(manager, MGR_PROXY_FREE_RELEASES,
         "MGR-PROXY-FREE-RELEASES: freeing a proxy in the process that made it releases the object "
         "on the server")
{
    mp_manager *m = start();
    size_t n0, n;
    MP_ASSERT_OK(mp_manager_object_count(m, &n0));
    mp_proxy *d = mdict(m), *l = mlist(m, "1 2");
    MP_ASSERT_OK(mp_manager_object_count(m, &n));
    cr_assert_eq(n, n0 + 2);
    mp_proxy_free(d);
    MP_ASSERT_OK(mp_manager_object_count(m, &n));
    cr_assert_eq(n, n0 + 1);
    mp_proxy_free(l);
    MP_ASSERT_OK(mp_manager_object_count(m, &n));
    cr_assert_eq(n, n0);
    mp_manager_free(m);
}

static int free_copy(void *arg)
{
    mp_proxy_free(arg);
    return 0;
}

MPT_TEST(manager, MGR_CHILD_FREE_KEEPS_OBJECT,
         "MGR-CHILD-FREE-KEEPS-OBJECT: a child freeing its inherited proxy does not release the "
         "parent's object")
{
    mp_manager *m = start();
    mp_proxy *d = mdict(m);
    size_t n0, n;
    MP_ASSERT_OK(mp_manager_object_count(m, &n0));
    cr_assert_eq(mpt_join(mpt_start(free_copy, d)), 0);
    MP_ASSERT_OK(mp_manager_object_count(m, &n));
    cr_assert_eq(n, n0);
    still_works(d, 5);
    mp_proxy_free(d);
    mp_manager_free(m);
}

MPT_TEST(manager, MGR_NAMED_GET_OR_CREATE,
         "MGR-NAMED-GET-OR-CREATE: a name gives every client the same object, kept after its "
         "proxies are freed; another typeid is MP_ETYPE")
{
    mp_manager *m = start();
    mp_proxy *a = NULL, *b = NULL, *c = NULL;
    MP_ASSERT_OK(mp_manager_create(m, "list", NULL, "L", &a));
    MP_ASSERT_OK(mp_mlist_append(a, I(1)));
    MP_ASSERT_OK(mp_manager_create(m, "list", NULL, "L", &b));
    list_is(b, "[1]");
    MP_ASSERT_STATUS(mp_manager_create(m, "dict", NULL, "L", &c), MP_ETYPE);
    cr_assert(c == NULL);
    mp_proxy_free(a);
    mp_proxy_free(b);
    MP_ASSERT_OK(mp_manager_create(m, "list", NULL, "L", &a));
    list_is(a, "[1]");
    const char *t;
    MP_ASSERT_OK(mp_proxy_typeid(a, &t));
    cr_assert_str_eq(t, "list");
    mp_proxy_free(a);
    mp_manager_free(m);
    gc();
}

/* ------------------------------------------------------ errors */

MPT_TEST(
    manager, MGR_ERROR_MESSAGE,
    "MGR-ERROR-MESSAGE: a server-side exception comes back as its status with the server's message")
{
    mp_manager *m = start();
    mp_proxy *d = mdict(m), *l = mlist(m, NULL);
    mp_value *v = NULL;
    MP_ASSERT_STATUS(mp_mdict_get(d, S("nokey"), &v), MP_EKEY);
    cr_assert(strstr(mp_errmsg(), "KeyError") && strstr(mp_errmsg(), "'nokey'"), "%s", mp_errmsg());
    MP_ASSERT_STATUS(mp_mlist_get(l, 3, &v), MP_EINDEX);
    cr_assert(strstr(mp_errmsg(), "IndexError: list index out of range"), "%s", mp_errmsg());
    cr_assert(v == NULL);
    mp_proxy_free(d);
    mp_proxy_free(l);
    mp_manager_free(m);
    gc();
}

MPT_TEST(manager, MGR_UNKNOWN_METHOD,
         "MGR-UNKNOWN-METHOD: calling a method the object lacks is MP_EINVAL (AttributeError)")
{
    mp_manager *m = start();
    mp_proxy *d = mdict(m);
    MP_ASSERT_STATUS(mp_proxy_call(d, "append", NULL, NULL), MP_EINVAL);
    cr_assert(strstr(mp_errmsg(), "AttributeError"), "%s", mp_errmsg());
    MP_ASSERT_STATUS(mp_proxy_call(d, "", NULL, NULL), MP_EINVAL);
    /* Wrong number of arguments: TypeError. */
    MP_ASSERT_STATUS(mp_proxy_call(d, "__getitem__", NULL, NULL), MP_ETYPE);
    still_works(d, 1);
    mp_proxy_free(d);
    mp_manager_free(m);
}

MPT_TEST(manager, MGR_WRONG_PROXY_TYPE,
         "MGR-WRONG-PROXY-TYPE: a typed call on a proxy of another type is MP_EINVAL and changes "
         "nothing")
{
    mp_manager *m = start();
    mp_proxy *d = mdict(m), *l = mlist(m, NULL);
    MP_ASSERT_STATUS(mp_mlist_append(d, I(1)), MP_EINVAL);
    MP_ASSERT_STATUS(mp_mdict_set(l, I(1), I(2)), MP_EINVAL);
    MP_ASSERT_STATUS(mp_mlock_acquire(d, 0), MP_EINVAL);
    dict_is(d, "{}");
    list_is(l, "[]");
    mp_proxy_free(d);
    mp_proxy_free(l);
    mp_manager_free(m);
    gc();
}

MPT_TEST(manager, MGR_CALL_GENERIC,
         "MGR-CALL-GENERIC: mp_proxy_call runs any method by name with a tuple of arguments")
{
    mp_manager *m = start();
    mp_proxy *d = mdict(m);
    mp_value *r = NULL;
    MP_ASSERT_OK(mp_proxy_call(d, "__setitem__", G(mp_tuple_of(2, mp_str("a"), mp_int(1))), &r));
    expect(r, "None");
    MP_ASSERT_OK(mp_proxy_call(d, "get", G(mp_list_of(2, mp_str("zz"), mp_str("dflt"))), &r));
    expect(r, "'dflt'");
    MP_ASSERT_OK(mp_proxy_call(d, "get", G(mp_list_of(1, mp_str("a"))), &r));
    expect(r, "1");
    MP_ASSERT_OK(mp_proxy_call(d, "__len__", NULL, &r));
    expect(r, "1");
    MP_ASSERT_OK(mp_proxy_call(d, "clear", NULL, NULL));
    MP_ASSERT_STATUS(mp_proxy_call(d, "get", I(1), &r), MP_ETYPE); /* args not a sequence */
    dict_is(d, "{}");
    mp_proxy_free(d);
    mp_manager_free(m);
    gc();
}

MPT_TEST(manager, MGR_REQUEST_TOO_LARGE,
         "MGR-REQUEST-TOO-LARGE: a request above MP_MANAGER_FRAME_MAX is MP_EMSGSIZE and changes "
         "nothing")
{
    mp_manager *m = start();
    mp_proxy *l = mlist(m, NULL);
    size_t big = MP_MANAGER_FRAME_MAX + 16;
    char *buf = calloc(1, big);
    cr_assert(buf);
    mp_value *v = mp_bytes(buf, big);
    free(buf);
    MPT_ASSERT_PROMPT(mp_mlist_append(l, v), MP_EMSGSIZE);
    mp_value_free(v);
    /* A large one under the limit goes through. */
    buf = calloc(1, 4 << 20);
    v = mp_bytes(buf, 4 << 20);
    free(buf);
    MP_ASSERT_OK(mp_mlist_append(l, v));
    mp_value *got = NULL;
    MP_ASSERT_OK(mp_mlist_get(l, 0, &got));
    cr_assert(mp_value_equal(got, v));
    mp_value_free(got);
    mp_value_free(v);
    size_t n;
    MP_ASSERT_OK(mp_mlist_len(l, &n));
    cr_assert_eq(n, 1);
    mp_proxy_free(l);
    mp_manager_free(m);
}

struct thr {
    mp_proxy *ev;
    mp_status st;
};

static void *thr_wait(void *arg)
{
    struct thr *t = arg;
    t->st = mp_mevent_wait(t->ev, 10);
    return NULL;
}

MPT_TEST(manager, MGR_PROXY_THREADS,
         "MGR-PROXY-THREADS: threads share proxies; a thread blocked in a call does not block the "
         "others")
{
    mp_manager *m = start();
    mp_proxy *ev = NULL, *d = mdict(m);
    MP_ASSERT_OK(mp_manager_event(m, &ev));
    struct thr t = {.ev = ev, .st = MP_EINVAL};
    pthread_t th;
    cr_assert(pthread_create(&th, NULL, thr_wait, &t) == 0);
    for (int i = 0; i < 20; i++)
        still_works(d, i);
    MP_ASSERT_OK(mp_mevent_set(ev));
    pthread_join(th, NULL);
    MP_ASSERT_OK(t.st);
    mp_proxy_free(d);
    mp_proxy_free(ev);
    mp_manager_free(m);
}

/* ------------------------------------------------------ dict */

MPT_TEST(manager, MGR_DICT_SET_GET,
         "MGR-DICT-SET-GET: d[k] = v then d[k] gives v, for every value type")
{
    mp_manager *m = start();
    mp_proxy *d = mdict(m);
    mp_value *vals[] = {I(42),
                        S("hello"),
                        G(mp_float(0.5)),
                        G(mp_bytes("\0b", 2)),
                        G(mp_list_of(3, mp_int(42), mp_none(), mp_str("hello"))),
                        G(mp_tuple_of(1, mp_int(1))),
                        mp_none(),
                        mp_bool(true)};
    for (int i = 0; i < 8; i++) {
        mp_value *got = NULL;
        MP_ASSERT_OK(mp_mdict_set(d, I(i), vals[i]));
        MP_ASSERT_OK(mp_mdict_get(d, I(i), &got));
        cr_assert(mp_value_equal(got, vals[i]) && mp_value_type(got) == mp_value_type(vals[i]),
                  "item %d", i);
        mp_value_free(got);
    }
    MP_ASSERT_OK(mp_mdict_set(d, I(0), S("replaced")));
    mp_value *got = NULL;
    MP_ASSERT_OK(mp_mdict_get(d, I(0), &got));
    expect(got, "'replaced'");
    mp_proxy_free(d);
    mp_manager_free(m);
    gc();
}

MPT_TEST(manager, MGR_DICT_KEYERROR,
         "MGR-DICT-KEYERROR: d[missing] is MP_EKEY (KeyError) and leaves the output alone")
{
    mp_manager *m = start();
    mp_proxy *d = mdict(m);
    mp_value *got = NULL;
    MP_ASSERT_STATUS(mp_mdict_get(d, I(1), &got), MP_EKEY);
    cr_assert(got == NULL);
    cr_assert(strstr(mp_errmsg(), "KeyError: 1"), "%s", mp_errmsg());
    mp_proxy_free(d);
    mp_manager_free(m);
    gc();
}

MPT_TEST(manager, MGR_DICT_DEL,
         "MGR-DICT-DEL: del d[k] removes it; del of a missing key is MP_EKEY")
{
    mp_manager *m = start();
    mp_proxy *d = mdict(m);
    MP_ASSERT_OK(mp_mdict_set(d, S("a"), I(1)));
    MP_ASSERT_OK(mp_mdict_set(d, S("b"), I(2)));
    MP_ASSERT_OK(mp_mdict_del(d, S("a")));
    MP_ASSERT_STATUS(mp_mdict_del(d, S("a")), MP_EKEY);
    dict_is(d, "{'b': 2}");
    mp_proxy_free(d);
    mp_manager_free(m);
    gc();
}

MPT_TEST(manager, MGR_DICT_CONTAINS_LEN,
         "MGR-DICT-CONTAINS-LEN: `k in d` and len(d) follow the dict's content")
{
    mp_manager *m = start();
    mp_proxy *d = mdict(m);
    bool in = true;
    size_t n = 9;
    MP_ASSERT_OK(mp_mdict_len(d, &n));
    cr_assert_eq(n, 0);
    MP_ASSERT_OK(mp_mdict_contains(d, S("x"), &in));
    cr_assert(!in);
    MP_ASSERT_OK(mp_mdict_set(d, S("x"), I(1)));
    MP_ASSERT_OK(mp_mdict_set(d, S("y"), I(1)));
    MP_ASSERT_OK(mp_mdict_contains(d, S("x"), &in));
    cr_assert(in);
    MP_ASSERT_OK(mp_mdict_len(d, &n));
    cr_assert_eq(n, 2);
    mp_proxy_free(d);
    mp_manager_free(m);
    gc();
}

MPT_TEST(manager, MGR_DICT_VIEWS,
         "MGR-DICT-VIEWS: keys(), values() and items() list the entries in insertion order")
{
    mp_manager *m = start();
    mp_proxy *d = mdict(m);
    MP_ASSERT_OK(mp_mdict_set(d, S("b"), I(2)));
    MP_ASSERT_OK(mp_mdict_set(d, S("a"), I(1)));
    mp_value *r = NULL;
    MP_ASSERT_OK(mp_mdict_keys(d, &r));
    expect(r, "['b', 'a']");
    MP_ASSERT_OK(mp_mdict_values(d, &r));
    expect(r, "[2, 1]");
    MP_ASSERT_OK(mp_mdict_items(d, &r));
    expect(r, "[('b', 2), ('a', 1)]");
    mp_proxy_free(d);
    mp_manager_free(m);
    gc();
}

MPT_TEST(manager, MGR_DICT_UPDATE,
         "MGR-DICT-UPDATE: update(other) adds and replaces entries; a non-dict is MP_ETYPE")
{
    mp_manager *m = start();
    mp_value *init = G(mp_dict());
    mp_dict_set(init, mp_str("a"), mp_int(1));
    mp_proxy *d = NULL;
    MP_ASSERT_OK(mp_manager_dict(m, init, &d));
    mp_value *u = G(mp_dict());
    mp_dict_set(u, mp_str("a"), mp_int(10));
    mp_dict_set(u, mp_str("b"), mp_int(20));
    MP_ASSERT_OK(mp_mdict_update(d, u));
    dict_is(d, "{'a': 10, 'b': 20}");
    MP_ASSERT_STATUS(mp_mdict_update(d, I(1)), MP_ETYPE);
    mp_proxy_free(d);
    mp_manager_free(m);
    gc();
}

MPT_TEST(manager, MGR_DICT_POP,
         "MGR-DICT-POP: pop(k) removes and returns; missing: the default, or MP_EKEY without one")
{
    mp_manager *m = start();
    mp_proxy *d = mdict(m);
    MP_ASSERT_OK(mp_mdict_set(d, S("a"), I(1)));
    mp_value *r = NULL;
    MP_ASSERT_OK(mp_mdict_pop(d, S("a"), NULL, &r));
    expect(r, "1");
    MP_ASSERT_OK(mp_mdict_pop(d, S("a"), S("dflt"), &r));
    expect(r, "'dflt'");
    r = NULL;
    MP_ASSERT_STATUS(mp_mdict_pop(d, S("a"), NULL, &r), MP_EKEY);
    cr_assert(r == NULL);
    dict_is(d, "{}");
    mp_proxy_free(d);
    mp_manager_free(m);
    gc();
}

MPT_TEST(manager, MGR_DICT_SETDEFAULT,
         "MGR-DICT-SETDEFAULT: setdefault sets a missing key and returns the value in the dict")
{
    mp_manager *m = start();
    mp_proxy *d = mdict(m);
    mp_value *r = NULL;
    MP_ASSERT_OK(mp_mdict_setdefault(d, S("a"), I(1), &r));
    expect(r, "1");
    MP_ASSERT_OK(mp_mdict_setdefault(d, S("a"), I(2), &r));
    expect(r, "1");
    MP_ASSERT_OK(mp_mdict_setdefault(d, S("n"), NULL, &r));
    expect(r, "None");
    dict_is(d, "{'a': 1, 'n': None}");
    mp_proxy_free(d);
    mp_manager_free(m);
    gc();
}

MPT_TEST(manager, MGR_DICT_CLEAR_COPY,
         "MGR-DICT-CLEAR-COPY: copy() is a plain dict snapshot; clear() empties the shared dict")
{
    mp_manager *m = start();
    mp_proxy *d = mdict(m);
    MP_ASSERT_OK(mp_mdict_set(d, I(1), S("x")));
    mp_value *snap = NULL;
    MP_ASSERT_OK(mp_mdict_copy(d, &snap));
    MP_ASSERT_OK(mp_mdict_clear(d));
    expect(snap, "{1: 'x'}");
    dict_is(d, "{}");
    mp_proxy_free(d);
    mp_manager_free(m);
    gc();
}

MPT_TEST(manager, MGR_DICT_NUMERIC_KEYS,
         "MGR-DICT-NUMERIC-KEYS: 1, 1.0 and True are one key on the server, as in Python")
{
    mp_manager *m = start();
    mp_proxy *d = mdict(m);
    MP_ASSERT_OK(mp_mdict_set(d, I(1), S("int")));
    MP_ASSERT_OK(mp_mdict_set(d, G(mp_float(1.0)), S("float")));
    MP_ASSERT_OK(mp_mdict_set(d, mp_bool(true), S("bool")));
    dict_is(d, "{1: 'bool'}");
    mp_proxy_free(d);
    mp_manager_free(m);
    gc();
}

MPT_TEST(manager, MGR_DICT_UNHASHABLE,
         "MGR-DICT-UNHASHABLE: a list as a key is MP_ETYPE (TypeError) and changes nothing")
{
    mp_manager *m = start();
    mp_proxy *d = mdict(m);
    MP_ASSERT_STATUS(mp_mdict_set(d, G(mp_list()), I(1)), MP_ETYPE);
    cr_assert(strstr(mp_errmsg(), "TypeError"), "%s", mp_errmsg());
    dict_is(d, "{}");
    mp_proxy_free(d);
    mp_manager_free(m);
    gc();
}

/* ------------------------------------------------------ list */

MPT_TEST(manager, MGR_LIST_INIT,
         "MGR-LIST-INIT: manager.list(seq) starts as a copy of seq (list or tuple); a non-sequence "
         "is MP_ETYPE")
{
    mp_manager *m = start();
    mp_proxy *l = mlist(m, "0 1 2 3 4"), *t = NULL, *bad = NULL;
    list_is(l, "[0, 1, 2, 3, 4]");
    MP_ASSERT_OK(mp_manager_list(m, G(mp_tuple_of(2, mp_str("x"), mp_none())), &t));
    list_is(t, "['x', None]");
    MP_ASSERT_STATUS(mp_manager_list(m, I(3), &bad), MP_ETYPE);
    cr_assert(bad == NULL);
    mp_proxy_free(l);
    mp_proxy_free(t);
    mp_manager_free(m);
    gc();
}

MPT_TEST(manager, MGR_LIST_APPEND_EXTEND,
         "MGR-LIST-APPEND-EXTEND: append adds one item, extend every item of a sequence")
{
    mp_manager *m = start();
    mp_proxy *l = mlist(m, "1");
    MP_ASSERT_OK(mp_mlist_append(l, G(mp_list_of(1, mp_int(2)))));
    MP_ASSERT_OK(mp_mlist_extend(l, G(mp_list_of(2, mp_int(3), mp_str("4")))));
    MP_ASSERT_OK(mp_mlist_extend(l, G(mp_tuple_of(1, mp_none()))));
    list_is(l, "[1, [2], 3, '4', None]");
    MP_ASSERT_STATUS(mp_mlist_extend(l, I(5)), MP_ETYPE);
    mp_proxy_free(l);
    mp_manager_free(m);
    gc();
}

MPT_TEST(manager, MGR_LIST_POP_INSERT,
         "MGR-LIST-POP-INSERT: insert clamps like Python; pop(i) returns the item; pop of an empty "
         "list is MP_EINDEX")
{
    mp_manager *m = start();
    mp_proxy *l = mlist(m, "1 2 3");
    MP_ASSERT_OK(mp_mlist_insert(l, 0, I(0)));
    MP_ASSERT_OK(mp_mlist_insert(l, 100, I(9)));
    MP_ASSERT_OK(mp_mlist_insert(l, -1, I(8)));
    MP_ASSERT_OK(mp_mlist_insert(l, -100, I(-1)));
    list_is(l, "[-1, 0, 1, 2, 3, 8, 9]");
    mp_value *r = NULL;
    MP_ASSERT_OK(mp_mlist_pop(l, -1, &r));
    expect(r, "9");
    MP_ASSERT_OK(mp_mlist_pop(l, 0, &r));
    expect(r, "-1");
    MP_ASSERT_STATUS(mp_mlist_pop(l, 10, &r), MP_EINDEX);
    list_is(l, "[0, 1, 2, 3, 8]");
    mp_proxy *e = mlist(m, NULL);
    r = NULL;
    MP_ASSERT_STATUS(mp_mlist_pop(e, -1, &r), MP_EINDEX);
    cr_assert(strstr(mp_errmsg(), "pop from empty list") && r == NULL, "%s", mp_errmsg());
    mp_proxy_free(l);
    mp_proxy_free(e);
    mp_manager_free(m);
    gc();
}

MPT_TEST(manager, MGR_LIST_REMOVE_INDEX_COUNT,
         "MGR-LIST-REMOVE-INDEX-COUNT: remove drops the first equal item, index finds it, count "
         "counts; missing is MP_EINVAL")
{
    mp_manager *m = start();
    mp_proxy *l = mlist(m, "1 2 1 3");
    size_t i = 9, c = 9;
    MP_ASSERT_OK(mp_mlist_index(l, I(1), &i));
    cr_assert_eq(i, 0);
    MP_ASSERT_OK(mp_mlist_count(l, I(1), &c));
    cr_assert_eq(c, 2);
    MP_ASSERT_OK(mp_mlist_count(l, G(mp_float(1.0)), &c)); /* 1 == 1.0 */
    cr_assert_eq(c, 2);
    MP_ASSERT_OK(mp_mlist_remove(l, I(1)));
    list_is(l, "[2, 1, 3]");
    MP_ASSERT_OK(mp_mlist_index(l, I(1), &i));
    cr_assert_eq(i, 1);
    MP_ASSERT_STATUS(mp_mlist_remove(l, I(7)), MP_EINVAL);
    cr_assert(strstr(mp_errmsg(), "ValueError"), "%s", mp_errmsg());
    MP_ASSERT_STATUS(mp_mlist_index(l, I(7), &i), MP_EINVAL);
    MP_ASSERT_OK(mp_mlist_count(l, I(7), &c));
    cr_assert_eq(c, 0);
    list_is(l, "[2, 1, 3]");
    mp_proxy_free(l);
    mp_manager_free(m);
    gc();
}

MPT_TEST(
    manager, MGR_LIST_NEGATIVE_INDEX,
    "MGR-LIST-NEGATIVE-INDEX: l[-1], l[-n] and their assignment and deletion count from the end")
{
    mp_manager *m = start();
    mp_proxy *l = mlist(m, "10 20 30");
    mp_value *r = NULL;
    MP_ASSERT_OK(mp_mlist_get(l, -1, &r));
    expect(r, "30");
    MP_ASSERT_OK(mp_mlist_get(l, -3, &r));
    expect(r, "10");
    MP_ASSERT_OK(mp_mlist_set(l, -2, S("b")));
    MP_ASSERT_OK(mp_mlist_del(l, -1));
    list_is(l, "[10, 'b']");
    mp_proxy_free(l);
    mp_manager_free(m);
    gc();
}

MPT_TEST(
    manager, MGR_LIST_INDEX_ERROR,
    "MGR-LIST-INDEX-ERROR: an index out of range, either side, is MP_EINDEX for get, set and del")
{
    mp_manager *m = start();
    mp_proxy *l = mlist(m, "1 2 3");
    mp_value *r = NULL;
    MP_ASSERT_STATUS(mp_mlist_get(l, 3, &r), MP_EINDEX);
    MP_ASSERT_STATUS(mp_mlist_get(l, -4, &r), MP_EINDEX);
    MP_ASSERT_STATUS(mp_mlist_get(l, PTRDIFF_MIN + 1, &r), MP_EINDEX);
    MP_ASSERT_STATUS(mp_mlist_set(l, 3, I(0)), MP_EINDEX);
    cr_assert(strstr(mp_errmsg(), "assignment index out of range"), "%s", mp_errmsg());
    MP_ASSERT_STATUS(mp_mlist_del(l, -4), MP_EINDEX);
    cr_assert(r == NULL);
    list_is(l, "[1, 2, 3]");
    mp_proxy_free(l);
    mp_manager_free(m);
    gc();
}

#define N MP_SLICE_NONE
MPT_TEST(manager, MGR_LIST_SLICE,
         "MGR-LIST-SLICE: l[a:b:c] reads, assigns and deletes as Python's slices do, negative and "
         "omitted bounds included")
{
    mp_manager *m = start();
    mp_proxy *l = mlist(m, "0 1 2 3 4 5 6 7 8 9");
    struct {
        ptrdiff_t a, b, c;
        const char *want;
    } cases[] = {
        {2, 5, N, "[2, 3, 4]"},
        {N, 3, N, "[0, 1, 2]"},
        {-3, N, N, "[7, 8, 9]"},
        {N, N, 3, "[0, 3, 6, 9]"},
        {N, N, -1, "[9, 8, 7, 6, 5, 4, 3, 2, 1, 0]"},
        {8, 2, -2, "[8, 6, 4]"},
        {5, 2, N, "[]"},
        {-100, 100, N, "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]"},
        {-1, -100, -4, "[9, 5, 1]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        mp_value *r = NULL;
        MP_ASSERT_OK(mp_mlist_slice(l, cases[i].a, cases[i].b, cases[i].c, &r));
        expect(r, cases[i].want);
    }
    mp_value *r = NULL;
    MP_ASSERT_STATUS(mp_mlist_slice(l, N, N, 0, &r), MP_EINVAL);
    MP_ASSERT_OK(mp_mlist_set_slice(l, 1, 9, N, G(mp_list_of(1, mp_str("x")))));
    list_is(l, "[0, 'x', 9]");
    MP_ASSERT_OK(mp_mlist_set_slice(l, 1, 1, N, G(mp_list_of(2, mp_int(5), mp_int(6)))));
    list_is(l, "[0, 5, 6, 'x', 9]");
    MP_ASSERT_OK(
        mp_mlist_set_slice(l, N, N, 2, G(mp_list_of(3, mp_int(-1), mp_int(-2), mp_int(-3)))));
    list_is(l, "[-1, 5, -2, 'x', -3]");
    MP_ASSERT_STATUS(mp_mlist_set_slice(l, N, N, 2, G(mp_list_of(1, mp_int(0)))), MP_EINVAL);
    MP_ASSERT_OK(mp_mlist_del_slice(l, N, N, -2));
    list_is(l, "[5, 'x']");
    MP_ASSERT_OK(mp_mlist_del_slice(l, 0, 1, N));
    list_is(l, "['x']");
    mp_proxy_free(l);
    mp_manager_free(m);
    gc();
}
#undef N

MPT_TEST(manager, MGR_LIST_SORT,
         "MGR-LIST-SORT: sort orders numbers and strings stably, reverse too; unlike types are "
         "MP_ETYPE and leave the list as it was")
{
    mp_manager *m = start();
    mp_proxy *l = mlist(m, "3 1 2");
    MP_ASSERT_OK(mp_mlist_append(l, G(mp_float(1.5))));
    MP_ASSERT_OK(mp_mlist_append(l, mp_bool(true)));
    MP_ASSERT_OK(mp_mlist_sort(l, false));
    list_is(l, "[1, True, 1.5, 2, 3]"); /* 1 == True: kept in their order */
    MP_ASSERT_OK(mp_mlist_sort(l, true));
    list_is(l, "[3, 2, 1.5, 1, True]");
    mp_proxy *s = NULL;
    MP_ASSERT_OK(mp_manager_list(m, G(mp_list_of(3, mp_str("b"), mp_str("é"), mp_str("a"))), &s));
    MP_ASSERT_OK(mp_mlist_sort(s, false));
    list_is(s, "['a', 'b', 'é']");
    MP_ASSERT_OK(mp_mlist_append(s, I(1)));
    MP_ASSERT_STATUS(mp_mlist_sort(s, false), MP_ETYPE);
    cr_assert(strstr(mp_errmsg(), "not supported between"), "%s", mp_errmsg());
    list_is(s, "['a', 'b', 'é', 1]");
    mp_proxy_free(l);
    mp_proxy_free(s);
    mp_manager_free(m);
    gc();
}

/* ------------------------------------------------------ Namespace, Value */

MPT_TEST(manager, MGR_NAMESPACE_ATTRS,
         "MGR-NAMESPACE-ATTRS: Namespace attributes set, read and deleted; a missing one is "
         "MP_EKEY (AttributeError)")
{
    mp_manager *m = start();
    mp_proxy *ns = NULL;
    MP_ASSERT_OK(mp_manager_namespace(m, &ns));
    MP_ASSERT_OK(mp_mns_set(ns, "x", I(1)));
    MP_ASSERT_OK(mp_mns_set(ns, "y", S("why")));
    mp_value *r = NULL;
    MP_ASSERT_OK(mp_mns_get(ns, "x", &r));
    expect(r, "1");
    MP_ASSERT_OK(mp_mns_del(ns, "x"));
    r = NULL;
    MP_ASSERT_STATUS(mp_mns_get(ns, "x", &r), MP_EKEY);
    cr_assert(strstr(mp_errmsg(), "AttributeError") && r == NULL, "%s", mp_errmsg());
    MP_ASSERT_STATUS(mp_mns_del(ns, "x"), MP_EKEY);
    MP_ASSERT_OK(mp_mns_get(ns, "y", &r));
    expect(r, "'why'");
    mp_proxy_free(ns);
    mp_manager_free(m);
    gc();
}

MPT_TEST(manager, MGR_VALUE_GET_SET,
         "MGR-VALUE-GET-SET: a Value holds its initial value, then what set() gave it")
{
    mp_manager *m = start();
    mp_proxy *v = NULL, *n = NULL;
    MP_ASSERT_OK(mp_manager_value(m, G(mp_float(3.5)), &v));
    MP_ASSERT_OK(mp_manager_value(m, NULL, &n));
    mp_value *r = NULL;
    MP_ASSERT_OK(mp_mvalue_get(v, &r));
    expect(r, "3.5");
    MP_ASSERT_OK(mp_mvalue_get(n, &r));
    expect(r, "None");
    MP_ASSERT_OK(mp_mvalue_set(v, S("s")));
    MP_ASSERT_OK(mp_mvalue_get(v, &r));
    expect(r, "'s'");
    mp_proxy_free(v);
    mp_proxy_free(n);
    mp_manager_free(m);
    gc();
}

/* ------------------------------------------------------ Lock, Event, Queue */

MPT_TEST(manager, MGR_LOCK_ACQUIRE_TIMEOUT,
         "MGR-LOCK-ACQUIRE-TIMEOUT: acquire of a held lock is MP_TIMEOUT at once for 0, after the "
         "timeout otherwise")
{
    mp_manager *m = start();
    mp_proxy *l = NULL;
    MP_ASSERT_OK(mp_manager_lock(m, &l));
    MP_ASSERT_OK(mp_mlock_acquire(l, 0));
    MPT_ASSERT_PROMPT(mp_mlock_acquire(l, 0), MP_TIMEOUT);
    MPT_ASSERT_PROMPT(mp_mlock_acquire(l, -1), MP_TIMEOUT);
    MPT_ASSERT_TIMED(mp_mlock_acquire(l, 0.3), MP_TIMEOUT, 0.3);
    MP_ASSERT_STATUS(mp_mlock_acquire(l, NAN), MP_EINVAL);
    MP_ASSERT_OK(mp_mlock_release(l));
    MP_ASSERT_OK(mp_mlock_acquire(l, 0.3));
    MP_ASSERT_OK(mp_mlock_release(l));
    mp_proxy_free(l);
    mp_manager_free(m);
}

MPT_TEST(manager, MGR_LOCK_RELEASE_UNLOCKED,
         "MGR-LOCK-RELEASE-UNLOCKED: releasing an unlocked manager Lock is MP_ESTATE")
{
    mp_manager *m = start();
    mp_proxy *l = NULL;
    MP_ASSERT_OK(mp_manager_lock(m, &l));
    MP_ASSERT_STATUS(mp_mlock_release(l), MP_ESTATE);
    MP_ASSERT_OK(mp_mlock_acquire(l, 0));
    MP_ASSERT_OK(mp_mlock_release(l));
    MP_ASSERT_STATUS(mp_mlock_release(l), MP_ESTATE);
    mp_proxy_free(l);
    mp_manager_free(m);
}

struct holdarg {
    mp_proxy *lock, *held, *go;
};

/* Take the lock, say so, and stay alive (holding it) until told to go. */
static int hold_lock(void *arg)
{
    struct holdarg *a = arg;
    if (mp_mlock_acquire(a->lock, 0))
        return 1;
    if (mp_mevent_set(a->held))
        return 2;
    return mp_mevent_wait(a->go, 30) ? 3 : 0;
}

MPT_TEST(manager, MGR_LOCK_ACROSS_PROCESSES,
         "MGR-LOCK-ACROSS-PROCESSES: a lock taken in one process excludes others until any process "
         "releases it")
{
    mp_manager *m = start();
    struct holdarg a;
    MP_ASSERT_OK(mp_manager_lock(m, &a.lock));
    MP_ASSERT_OK(mp_manager_event(m, &a.held));
    MP_ASSERT_OK(mp_manager_event(m, &a.go));
    mp_process *p = mpt_start(hold_lock, &a);
    MP_ASSERT_OK(mp_mevent_wait(a.held, 10));
    MPT_ASSERT_PROMPT(mp_mlock_acquire(a.lock, 0), MP_TIMEOUT);
    MP_ASSERT_OK(mp_mlock_release(a.lock)); /* Lock, not RLock: anyone may release */
    MP_ASSERT_OK(mp_mlock_acquire(a.lock, 0));
    MP_ASSERT_OK(mp_mevent_set(a.go));
    cr_assert_eq(mpt_join(p), 0);
    MPT_ASSERT_PROMPT(mp_mlock_acquire(a.lock, 0), MP_TIMEOUT); /* still ours */
    MP_ASSERT_OK(mp_mlock_release(a.lock));
    mp_proxy_free(a.lock);
    mp_proxy_free(a.held);
    mp_proxy_free(a.go);
    mp_manager_free(m);
}

struct evarg {
    mp_proxy *ready, *ev;
};

static int wait_event(void *arg)
{
    struct evarg *a = arg;
    if (mp_mevent_set(a->ready))
        return 1;
    return mp_mevent_wait(a->ev, 30) == MP_OK ? 0 : 2;
}

MPT_TEST(manager, MGR_EVENT_WAIT_SET,
         "MGR-EVENT-WAIT-SET: wait blocks until another process sets the event, then MP_OK; is_set "
         "and clear follow")
{
    mp_manager *m = start();
    struct evarg a;
    MP_ASSERT_OK(mp_manager_event(m, &a.ready));
    MP_ASSERT_OK(mp_manager_event(m, &a.ev));
    bool set = true;
    MP_ASSERT_OK(mp_mevent_is_set(a.ev, &set));
    cr_assert(!set);
    mp_process *p = mpt_start(wait_event, &a);
    MP_ASSERT_OK(mp_mevent_wait(a.ready, 10));
    MPT_ASSERT_TIMED(mp_mevent_wait(a.ev, 0.2), MP_TIMEOUT, 0.2); /* nobody set it yet */
    bool alive = false;
    MP_ASSERT_OK(mp_process_is_alive(p, &alive));
    cr_assert(alive, "the child's wait returned before the event was set");
    MP_ASSERT_OK(mp_mevent_set(a.ev));
    cr_assert_eq(mpt_join(p), 0);
    MP_ASSERT_OK(mp_mevent_is_set(a.ev, &set));
    cr_assert(set);
    MP_ASSERT_OK(mp_mevent_wait(a.ev, 0));
    MP_ASSERT_OK(mp_mevent_clear(a.ev));
    MP_ASSERT_OK(mp_mevent_is_set(a.ev, &set));
    cr_assert(!set);
    mp_proxy_free(a.ready);
    mp_proxy_free(a.ev);
    mp_manager_free(m);
}

/* MGR-EVENT-SET-WAKES-ALL: one set() releases every client blocked in
 * wait(), not only the first.  Each child reports its pid, then waits; the
 * parent sets the event only once the kernel shows every child asleep
 * (blocked on the server's reply), so all three waits are pending. */
struct evall {
    mp_proxy *pids, *ev;
};

static int wait_event_report(void *arg)
{
    struct evall *a = arg;
    mp_value *me = mp_int(getpid());
    mp_status st = mp_mqueue_put(a->pids, me, 10);
    mp_value_free(me);
    if (st != MP_OK)
        return 1;
    return mp_mevent_wait(a->ev, 10) == MP_OK ? 0 : 2;
}

MPT_TEST(manager, MGR_EVENT_SET_WAKES_ALL,
         "MGR-EVENT-SET-WAKES-ALL: one set() releases every process blocked in wait()")
{
    mp_manager *m = start();
    struct evall a;
    MP_ASSERT_OK(mp_manager_queue(m, 0, &a.pids));
    MP_ASSERT_OK(mp_manager_event(m, &a.ev));
    mp_process *p[3];
    pid_t pid[3];
    for (int i = 0; i < 3; i++)
        p[i] = mpt_start(wait_event_report, &a);
    for (int i = 0; i < 3; i++) {
        mp_value *v = NULL;
        int64_t x = 0;
        MP_ASSERT_OK(mp_mqueue_get(a.pids, &v, 10));
        MP_ASSERT_OK(mp_value_get_int(v, &x));
        mp_value_free(v);
        pid[i] = (pid_t)x;
    }
    for (int i = 0; i < 3; i++)
        mpt_wait_asleep(pid[i]); /* blocked on the server's reply to wait() */
    MP_ASSERT_OK(mp_mevent_set(a.ev));
    for (int i = 0; i < 3; i++)
        cr_assert_eq(mpt_join(p[i]), 0, "a waiter was not released by set()");
    mp_proxy_free(a.pids);
    mp_proxy_free(a.ev);
    mp_manager_free(m);
}

MPT_TEST(
    manager, MGR_EVENT_WAIT_TIMEOUT,
    "MGR-EVENT-WAIT-TIMEOUT: wait on an unset event is MP_TIMEOUT after the timeout, at once for 0")
{
    mp_manager *m = start();
    mp_proxy *e = NULL;
    MP_ASSERT_OK(mp_manager_event(m, &e));
    MPT_ASSERT_PROMPT(mp_mevent_wait(e, 0), MP_TIMEOUT);
    MPT_ASSERT_TIMED(mp_mevent_wait(e, 0.3), MP_TIMEOUT, 0.3);
    mp_proxy_free(e);
    mp_manager_free(m);
}

MPT_TEST(manager, MGR_QUEUE_PUT_GET,
         "MGR-QUEUE-PUT-GET: a manager Queue is FIFO; qsize counts the items")
{
    mp_manager *m = start();
    mp_proxy *q = NULL;
    MP_ASSERT_OK(mp_manager_queue(m, 0, &q));
    for (int i = 0; i < 5; i++)
        MP_ASSERT_OK(mp_mqueue_put(q, I(i), MP_FOREVER));
    size_t n;
    MP_ASSERT_OK(mp_mqueue_qsize(q, &n));
    cr_assert_eq(n, 5);
    for (int i = 0; i < 5; i++) {
        mp_value *r = NULL;
        MP_ASSERT_OK(mp_mqueue_get(q, &r, MP_FOREVER));
        int64_t v;
        MP_ASSERT_OK(mp_value_get_int(r, &v));
        cr_assert_eq(v, i);
        mp_value_free(r);
    }
    MP_ASSERT_OK(mp_mqueue_qsize(q, &n));
    cr_assert_eq(n, 0);
    mp_proxy_free(q);
    mp_manager_free(m);
    gc();
}

MPT_TEST(manager, MGR_QUEUE_GET_TIMEOUT,
         "MGR-QUEUE-GET-TIMEOUT: get on an empty Queue is MP_EMPTY at once for 0, after the "
         "timeout otherwise")
{
    mp_manager *m = start();
    mp_proxy *q = NULL;
    MP_ASSERT_OK(mp_manager_queue(m, 0, &q));
    mp_value *r = NULL;
    MPT_ASSERT_PROMPT(mp_mqueue_get(q, &r, 0), MP_EMPTY);
    MPT_ASSERT_TIMED(mp_mqueue_get(q, &r, 0.3), MP_EMPTY, 0.3);
    cr_assert(r == NULL);
    mp_proxy_free(q);
    mp_manager_free(m);
}

MPT_TEST(manager, MGR_QUEUE_PUT_FULL,
         "MGR-QUEUE-PUT-FULL: put on a full Queue(maxsize) is MP_FULL at once for 0, after the "
         "timeout otherwise")
{
    mp_manager *m = start();
    mp_proxy *q = NULL;
    MP_ASSERT_OK(mp_manager_queue(m, 2, &q));
    MP_ASSERT_OK(mp_mqueue_put(q, I(1), 0));
    MP_ASSERT_OK(mp_mqueue_put(q, I(2), 0));
    MPT_ASSERT_PROMPT(mp_mqueue_put(q, I(3), 0), MP_FULL);
    MPT_ASSERT_TIMED(mp_mqueue_put(q, I(3), 0.3), MP_FULL, 0.3);
    size_t n;
    MP_ASSERT_OK(mp_mqueue_qsize(q, &n));
    cr_assert_eq(n, 2);
    mp_proxy_free(q);
    mp_manager_free(m);
    gc();
}

struct qarg {
    mp_proxy *q, *ev;
};

static int blocked_get(void *arg)
{
    struct qarg *a = arg;
    mp_value *r = NULL;
    if (mp_mevent_set(a->ev))
        return 1;
    if (mp_mqueue_get(a->q, &r, 30))
        return 2;
    int64_t v = 0;
    mp_value_get_int(r, &v);
    mp_value_free(r);
    return v == 77 ? 0 : 3;
}

MPT_TEST(manager, MGR_QUEUE_GET_WOKEN,
         "MGR-QUEUE-GET-WOKEN: a get blocked in one process returns the item another process puts")
{
    mp_manager *m = start();
    struct qarg a;
    MP_ASSERT_OK(mp_manager_queue(m, 0, &a.q));
    MP_ASSERT_OK(mp_manager_event(m, &a.ev));
    mp_process *p = mpt_start(blocked_get, &a);
    MP_ASSERT_OK(mp_mevent_wait(a.ev, 10));
    MP_ASSERT_OK(mp_mqueue_put(a.q, I(77), 0));
    cr_assert_eq(mpt_join(p), 0);
    size_t n;
    MP_ASSERT_OK(mp_mqueue_qsize(a.q, &n));
    cr_assert_eq(n, 0);
    mp_proxy_free(a.q);
    mp_proxy_free(a.ev);
    mp_manager_free(m);
    gc();
}

/* ===================================================== killed clients */

struct killarg {
    mp_proxy *ready, *q, *lock;
    int ready_w; /* kill_blocked's pipe: the child writes a byte before its blocking call */
};

/* How long a released Lock or a put item is left to a dead client's pending
 * request before a live client asks for it (MGR-CLIENT-KILLED-GET, -LOCK-WAITER):
 * asking at once races a server thread the release or put has just woken for the
 * dead client, and a wrong server would pass by luck when ours wins. */
#define DEAD_WAITER_WINDOW 2.0

/* Tells kill_blocked the child is connected; the pipe has no reply to sleep in,
 * so the child's next sleep is its blocking call, its request already sent (a
 * manager Event here let the child be killed waiting for set()'s reply, before
 * it asked anything). */
static bool say_ready(struct killarg *a) { return mpt_write_all(a->ready_w, "r", 1); }

static int killed_in_get(void *arg)
{
    struct killarg *a = arg;
    size_t n;
    if (mp_mqueue_qsize(a->q, &n) || !say_ready(a)) /* connected first */
        return 1;
    mp_value *v = NULL;
    mp_mqueue_get(a->q, &v, MP_FOREVER); /* killed here */
    return 2;
}

static int killed_in_acquire(void *arg)
{
    struct killarg *a = arg;
    /* connected first; the parent holds the lock */
    if (mp_mlock_acquire(a->lock, 0) != MP_TIMEOUT || !say_ready(a))
        return 1;
    mp_mlock_acquire(a->lock, MP_FOREVER); /* killed here */
    return 2;
}

/* Start fn in a child, wait until it is blocked in its manager call (it says
 * so through a pipe, say_ready, then sleeps in the call), SIGKILL and reap it. */
static void kill_blocked(mp_target_fn fn, struct killarg *a)
{
    mpt_pipefd pp = mpt_pipe();
    a->ready_w = pp.w;
    mp_process *p = mpt_start(fn, a);
    mpt_closefd(&pp.w); /* a child that dies first reads as EOF, not a hang */
    char byte;
    bool ready = mpt_read_all(pp.r, &byte, 1);
    mpt_closepipe(&pp);
    a->ready_w = -1;
    cr_assert(ready, "the child never got to its call");
    pid_t pid = 0;
    MP_ASSERT_OK(mp_process_pid(p, &pid));
    mpt_wait_asleep(pid); /* blocked in the call: the server holds its request */
    MP_ASSERT_OK(mp_process_kill(p));
    MP_ASSERT_OK(mp_process_join(p, MP_FOREVER));
    int code = 0;
    MP_ASSERT_OK(mp_process_exitcode(p, &code));
    cr_assert_eq(code, -SIGKILL, "the child ended with %d, not killed in its call", code);
    mp_process_free(p);
}

MPT_TEST(manager, MGR_CLIENT_KILLED_GET,
         "MGR-CLIENT-KILLED-GET: a client SIGKILLed while blocked in a manager Queue get takes no "
         "item: the next put reaches a live getter")
{
    mp_manager *m = start();
    struct killarg a = {.ready_w = -1};
    MP_ASSERT_OK(mp_manager_event(m, &a.ready));
    MP_ASSERT_OK(mp_manager_queue(m, 0, &a.q));
    kill_blocked(killed_in_get, &a);
    mp_value *item = mp_str("after"), *got = NULL;
    MP_ASSERT_OK(mp_mqueue_put(a.q, item, MP_FOREVER));
    /* Watch the item (no get of ours to race a dead getter's for it). */
    size_t n = 1;
    for (double until = mpt_now() + DEAD_WAITER_WINDOW; n && mpt_now() < until;) {
        mpt_sleep(0.01); /* watching for a taker that may not exist */
        MP_ASSERT_OK(mp_mqueue_qsize(a.q, &n));
    }
    MPT_ASSERT_PROMPT(mp_mqueue_get(a.q, &got, 5.0), MP_OK);
    cr_assert(mp_value_equal(got, item), "the item went elsewhere");
    mp_value_free(got);
    mp_value_free(item);
    mp_proxy_free(a.q);
    mp_proxy_free(a.ready);
    mp_manager_free(m);
}

MPT_TEST(manager, MGR_CLIENT_KILLED_LOCK_WAITER,
         "MGR-CLIENT-KILLED-LOCK-WAITER: a client SIGKILLed while waiting for a manager Lock is "
         "never granted it: release leaves it to the living")
{
    mp_manager *m = start();
    struct killarg a = {.ready_w = -1};
    MP_ASSERT_OK(mp_manager_event(m, &a.ready));
    MP_ASSERT_OK(mp_manager_lock(m, &a.lock));
    MP_ASSERT_OK(mp_mlock_acquire(a.lock, 0));
    kill_blocked(killed_in_acquire, &a);
    MP_ASSERT_OK(mp_mlock_release(a.lock));
    /* The dead waiter's window: an acquire of ours now would race a server
     * thread the release has just woken for it (nothing shows a Lock's holder
     * without taking it, so the window is waited out). */
    mpt_sleep(DEAD_WAITER_WINDOW);
    MPT_ASSERT_PROMPT(mp_mlock_acquire(a.lock, 5.0), MP_OK);
    MP_ASSERT_OK(mp_mlock_release(a.lock));
    mp_proxy_free(a.lock);
    mp_proxy_free(a.ready);
    mp_manager_free(m);
}

/* Take the lock, say so, then block in a get until killed. */
static int killed_holding(void *arg)
{
    struct killarg *a = arg;
    if (mp_mlock_acquire(a->lock, 0))
        return 1;
    if (mp_mevent_set(a->ready) || (a->ready_w >= 0 && !say_ready(a)))
        return 2;
    mp_value *v = NULL;
    mp_mqueue_get(a->q, &v, MP_FOREVER); /* killed here */
    return 3;
}

/* Wait for the lock: the dead holder's lock must come with MP_EOWNERDEAD. */
static int owner_dead_waiter(void *arg)
{
    struct killarg *a = arg;
    if (mp_mevent_set(a->ready))
        return 1;
    mp_status st = mp_mlock_acquire(a->lock, 30);
    if (st != MP_EOWNERDEAD)
        return 10 + (int)st;
    return mp_mlock_release(a->lock) ? 2 : 0;
}

MPT_TEST(manager, MGR_LOCK_HOLDER_DISCONNECT,
         "MGR-LOCK-HOLDER-DISCONNECT: a manager Lock whose holder's connection closed goes to the "
         "waiter, or the next acquirer, with MP_EOWNERDEAD, held")
{
    mp_manager *m = start();
    struct killarg a = {.ready_w = -1}, b = {.ready_w = -1};
    MP_ASSERT_OK(mp_manager_event(m, &a.ready));
    MP_ASSERT_OK(mp_manager_event(m, &b.ready));
    MP_ASSERT_OK(mp_manager_queue(m, 0, &a.q));
    MP_ASSERT_OK(mp_manager_lock(m, &a.lock));
    b.lock = a.lock;
    /* Nobody waiting: the next acquire takes it over. */
    kill_blocked(killed_holding, &a);
    MPT_ASSERT_PROMPT(mp_mlock_acquire(a.lock, 5.0), MP_EOWNERDEAD);
    MPT_ASSERT_PROMPT(mp_mlock_acquire(a.lock, 0), MP_TIMEOUT); /* held: by us */
    MP_ASSERT_OK(mp_mlock_release(a.lock));
    MP_ASSERT_STATUS(mp_mlock_release(a.lock), MP_ESTATE);
    /* A waiter blocked in acquire: it is handed the lock. */
    MP_ASSERT_OK(mp_mevent_clear(a.ready));
    mp_process *holder = mpt_start(killed_holding, &a);
    MP_ASSERT_OK(mp_mevent_wait(a.ready, 10));
    pid_t hpid = 0, wpid = 0;
    MP_ASSERT_OK(mp_process_pid(holder, &hpid));
    mpt_wait_asleep(hpid);
    mp_process *waiter = mpt_start(owner_dead_waiter, &b);
    MP_ASSERT_OK(mp_mevent_wait(b.ready, 10));
    MP_ASSERT_OK(mp_process_pid(waiter, &wpid));
    mpt_wait_asleep(wpid); /* blocked in acquire */
    MP_ASSERT_OK(mp_process_kill(holder));
    MP_ASSERT_OK(mp_process_join(holder, MP_FOREVER));
    mp_process_free(holder);
    cr_assert_eq(mpt_join(waiter), 0, "the waiter did not get MP_EOWNERDEAD");
    MPT_ASSERT_PROMPT(mp_mlock_acquire(a.lock, 0), MP_OK); /* the waiter released it */
    MP_ASSERT_OK(mp_mlock_release(a.lock));
    mp_proxy_free(a.lock);
    mp_proxy_free(a.q);
    mp_proxy_free(a.ready);
    mp_proxy_free(b.ready);
    mp_manager_free(m);
}

/* ---- iterating proxies (CPython's test_list_iter, test_dict_iter) */

/* Every item it gives, as a list repr; ends at MP_EOF (asserted). */
static void iter_is(mp_proxy *it, const char *want)
{
    mp_value *all = G(mp_list()), *v = NULL;
    mp_status st;
    while ((st = mp_proxy_iter_next(it, &v)) == MP_OK) {
        cr_assert(v != NULL);
        mp_seq_append(all, v);
        v = NULL;
    }
    MP_ASSERT_STATUS(st, MP_EOF);
    cr_assert(v == NULL, "an output was written at the end");
    assert_repr(all, want);
}

MPT_TEST(manager, MGR_LIST_ITER,
         "MGR-LIST-ITER: iter(list proxy) gives the items in order, then MP_EOF on every later "
         "call; the iterator keeps the list alive after its proxy is freed")
{
    mp_manager *m = start();
    size_t n0 = 0, n = 0;
    MP_ASSERT_OK(mp_manager_object_count(m, &n0));
    mp_proxy *l = mlist(m, "0 1 2 3 4 5 6 7 8 9"), *it = NULL;
    MP_ASSERT_OK(mp_mlist_iter(l, &it));
    const char *typeid = NULL;
    MP_ASSERT_OK(mp_proxy_typeid(it, &typeid));
    cr_assert_str_eq(typeid, "Iterator");
    iter_is(it, "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]");
    iter_is(it, "[]"); /* exhausted, and stays so */
    mp_proxy_free(it);
    MP_ASSERT_OK(mp_mlist_iter(l, &it));
    mp_proxy_free(l); /* the iterator still holds the list */
    iter_is(it, "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]");
    mp_proxy_free(it); /* and now both go */
    MP_ASSERT_OK(mp_manager_object_count(m, &n));
    cr_assert_eq(n, n0, "%zu objects left, %zu before", n, n0);
    mp_manager_free(m);
    gc();
}

MPT_TEST(manager, MGR_LIST_ITER_SEES_CHANGES,
         "MGR-LIST-ITER-SEES-CHANGES: a list iterator reads the list at each step: an item set "
         "after the iterator was made is the one it gives")
{
    mp_manager *m = start();
    mp_proxy *l = mlist(m, "0 1 2"), *it = NULL;
    MP_ASSERT_OK(mp_mlist_iter(l, &it));
    MP_ASSERT_OK(mp_mlist_set(l, 0, I(100)));
    mp_value *v = NULL;
    MP_ASSERT_OK(mp_proxy_iter_next(it, &v));
    expect(v, "100");
    MP_ASSERT_OK(mp_mlist_append(l, I(3)));
    iter_is(it, "[1, 2, 3]");
    mp_proxy_free(it);
    mp_proxy_free(l);
    mp_manager_free(m);
    gc();
}

MPT_TEST(manager, MGR_DICT_ITER,
         "MGR-DICT-ITER: iter(dict proxy) gives the keys in insertion order, then MP_EOF on every "
         "later call")
{
    mp_manager *m = start();
    mp_proxy *d = mdict(m), *it = NULL;
    for (int i = 65; i < 70; i++) {
        char s[2] = {(char)i, 0};
        MP_ASSERT_OK(mp_mdict_set(d, I(i), S(s)));
    }
    MP_ASSERT_OK(mp_mdict_iter(d, &it));
    iter_is(it, "[65, 66, 67, 68, 69]");
    iter_is(it, "[]");
    mp_proxy_free(it);
    mp_proxy_free(d);
    mp_manager_free(m);
    gc();
}

MPT_TEST(manager, MGR_DICT_ITER_CHANGED_SIZE,
         "MGR-DICT-ITER-CHANGED-SIZE: a dict iterator whose dict changed size since it was made is "
         "MP_ESTATE (RuntimeError), then and on every later call")
{
    mp_manager *m = start();
    mp_proxy *d = mdict(m), *it = NULL;
    for (int i = 65; i < 70; i++)
        MP_ASSERT_OK(mp_mdict_set(d, I(i), I(i)));
    MP_ASSERT_OK(mp_mdict_iter(d, &it));
    MP_ASSERT_OK(mp_mdict_clear(d));
    mp_value *v = NULL;
    MP_ASSERT_STATUS(mp_proxy_iter_next(it, &v), MP_ESTATE);
    cr_assert(v == NULL);
    cr_assert(strstr(mp_errmsg(), "changed size") != NULL, "message: %s", mp_errmsg());
    MP_ASSERT_OK(mp_mdict_set(d, I(1), I(1)));
    MP_ASSERT_STATUS(mp_proxy_iter_next(it, &v), MP_ESTATE); /* sticky */
    mp_proxy_free(it);
    /* Growing mid-way is a change of size too; setting a key it has is not. */
    MP_ASSERT_OK(mp_mdict_iter(d, &it));
    MP_ASSERT_OK(mp_mdict_set(d, I(1), I(2)));
    MP_ASSERT_OK(mp_proxy_iter_next(it, &v));
    expect(v, "1");
    MP_ASSERT_OK(mp_mdict_set(d, I(2), I(2)));
    MP_ASSERT_STATUS(mp_proxy_iter_next(it, &v), MP_ESTATE);
    mp_proxy_free(it);
    mp_proxy_free(d);
    mp_manager_free(m);
    gc();
}

/* ---- proxies inside proxies (CPython's test_dict_proxy_nested,
 * test_list_proxy_in_list, test_nested_queue) */

/* d[key][ikey] must be want (an int). */
static void nested_is(mp_proxy *d, const char *key, const char *ikey, int64_t want)
{
    mp_proxy *in = NULL;
    MP_ASSERT_OK(mp_mdict_get_proxy(d, S(key), &in));
    mp_value *v = NULL;
    MP_ASSERT_OK(mp_mdict_get(in, S(ikey), &v));
    int64_t got = -1;
    MP_ASSERT_OK(mp_value_get_int(v, &got));
    mp_value_free(v);
    cr_assert_eq(got, want, "[%s][%s] is %lld, want %lld", key, ikey, (long long)got,
                 (long long)want);
    mp_proxy_free(in);
}

static void set_int(mp_proxy *d, const char *key, int64_t v)
{
    MP_ASSERT_OK(mp_mdict_set(d, S(key), I(v)));
}

MPT_TEST(
    manager, MGR_PROXY_IN_DICT,
    "MGR-PROXY-IN-DICT: a proxy stored in a dict proxy reads back as a proxy to the same object: "
    "changes through either are seen through the other, also after the original proxy is freed")
{
    mp_manager *m = start();
    mp_proxy *pets = mdict(m), *supplies = mdict(m), *d = mdict(m);
    set_int(pets, "ferrets", 2);
    set_int(pets, "hamsters", 4);
    set_int(supplies, "water", 10);
    set_int(supplies, "feed", 3);
    MP_ASSERT_OK(mp_mdict_set_proxy(d, S("pets"), pets));
    MP_ASSERT_OK(mp_mdict_set_proxy(d, S("supplies"), supplies));
    nested_is(d, "supplies", "water", 10);
    mp_proxy *in = NULL;
    MP_ASSERT_OK(mp_mdict_get_proxy(d, S("supplies"), &in));
    const char *typeid = NULL;
    MP_ASSERT_OK(mp_proxy_typeid(in, &typeid));
    cr_assert_str_eq(typeid, "dict");
    set_int(in, "blankets", 5);
    mp_proxy_free(in);
    dict_is(supplies, "{'water': 10, 'feed': 3, 'blankets': 5}");
    set_int(supplies, "water", 7);
    nested_is(d, "supplies", "water", 7);
    mp_proxy_free(pets);
    mp_proxy_free(supplies);
    nested_is(d, "pets", "ferrets", 2);
    MP_ASSERT_OK(mp_mdict_get_proxy(d, S("pets"), &pets));
    MP_ASSERT_OK(mp_mdict_get_proxy(d, S("supplies"), &supplies));
    MP_ASSERT_OK(mp_mdict_clear(d));
    dict_is(d, "{}");
    dict_is(supplies, "{'water': 7, 'feed': 3, 'blankets': 5}");
    dict_is(pets, "{'ferrets': 2, 'hamsters': 4}");
    mp_proxy_free(pets);
    mp_proxy_free(supplies);
    mp_proxy_free(d);
    mp_manager_free(m);
    gc();
}

MPT_TEST(manager, MGR_PROXY_IN_LIST,
         "MGR-PROXY-IN-LIST: proxies stored in a list proxy read back as proxies to the same "
         "objects, each its own; a list may hold itself")
{
    mp_manager *m = start();
    mp_proxy *a = mlist(m, NULL);
    for (int i = 0; i < 3; i++) {
        mp_proxy *inner = mlist(m, "0 1 2");
        MP_ASSERT_OK(mp_mlist_append_proxy(a, inner));
        mp_proxy_free(inner);
    }
    mp_proxy *in[3];
    for (int i = 0; i < 3; i++)
        MP_ASSERT_OK(mp_mlist_get_proxy(a, i - 3, &in[i])); /* a[-3], a[-2], a[-1] */
    MP_ASSERT_OK(mp_mlist_set(in[0], -1, I(55)));
    mp_value *v = NULL;
    MP_ASSERT_OK(mp_mlist_copy(in[0], &v));
    expect(v, "[0, 1, 55]");
    mp_proxy *again = NULL;
    MP_ASSERT_OK(mp_mlist_get_proxy(a, 0, &again));
    MP_ASSERT_OK(mp_mlist_copy(again, &v));
    expect(v, "[0, 1, 55]");
    mp_proxy_free(again);
    for (int i = 1; i < 3; i++) {
        MP_ASSERT_OK(mp_mlist_copy(in[i], &v));
        expect(v, "[0, 1, 2]");
    }
    MP_ASSERT_OK(mp_mlist_pop(in[1], -1, &v));
    expect(v, "2");
    size_t n = 0;
    MP_ASSERT_OK(mp_mlist_len(in[1], &n));
    cr_assert_eq(n, 2);
    MP_ASSERT_OK(mp_mlist_len(in[2], &n));
    cr_assert_eq(n, 3);
    for (int i = 0; i < 3; i++)
        mp_proxy_free(in[i]);
    mp_proxy_free(a);
    mp_proxy *b = mlist(m, NULL); /* b.append(b) */
    MP_ASSERT_OK(mp_mlist_append_proxy(b, b));
    MP_ASSERT_OK(mp_mlist_get_proxy(b, 0, &again));
    MP_ASSERT_OK(mp_mlist_append(again, I(1)));
    MP_ASSERT_OK(mp_mlist_len(b, &n));
    cr_assert_eq(n, 2);
    mp_proxy_free(again);
    mp_proxy_free(b);
    mp_manager_free(m);
    gc();
}

MPT_TEST(manager, MGR_QUEUE_IN_CONTAINER,
         "MGR-QUEUE-IN-CONTAINER: a Queue proxy stored in a list or a dict proxy reads back as the "
         "same queue")
{
    mp_manager *m = start();
    mp_proxy *a = mlist(m, NULL), *b = mdict(m), *q = NULL, *r = NULL;
    MP_ASSERT_OK(mp_manager_queue(m, 0, &q));
    MP_ASSERT_OK(mp_mlist_append_proxy(a, q));
    MP_ASSERT_OK(mp_mdict_set_proxy(b, I(0), q));
    MP_ASSERT_OK(mp_mlist_get_proxy(a, 0, &r));
    const char *typeid = NULL;
    MP_ASSERT_OK(mp_proxy_typeid(r, &typeid));
    cr_assert_str_eq(typeid, "Queue");
    MP_ASSERT_OK(mp_mqueue_put(r, I(123), MP_FOREVER));
    mp_proxy_free(r);
    mp_value *v = NULL;
    MP_ASSERT_OK(mp_mqueue_get(q, &v, 0));
    expect(v, "123");
    MP_ASSERT_OK(mp_mdict_get_proxy(b, I(0), &r));
    MP_ASSERT_OK(mp_mqueue_put(r, I(456), MP_FOREVER));
    MP_ASSERT_OK(mp_mqueue_get(r, &v, 0));
    expect(v, "456");
    mp_proxy_free(r);
    mp_proxy_free(q);
    mp_proxy_free(a);
    mp_proxy_free(b);
    mp_manager_free(m);
    gc();
}

MPT_TEST(manager, MGR_PROXY_REF_LIFETIME,
         "MGR-PROXY-REF-LIFETIME: an object a container refers to lives until the container is "
         "released, even when the item is removed; releasing the container releases what only it "
         "held, a long chain included")
{
    mp_manager *m = start();
    size_t n0 = 0, n = 0;
    MP_ASSERT_OK(mp_manager_object_count(m, &n0));
    mp_proxy *d = mdict(m), *in = mdict(m);
    set_int(in, "x", 1);
    MP_ASSERT_OK(mp_mdict_set_proxy(d, S("in"), in));
    MP_ASSERT_OK(mp_mdict_set_proxy(d, S("again"), in)); /* held once */
    mp_proxy_free(in);
    MP_ASSERT_OK(mp_mdict_clear(d)); /* removed, still held by d */
    MP_ASSERT_OK(mp_manager_object_count(m, &n));
    cr_assert_eq(n, n0 + 2, "%zu objects, want %zu", n, n0 + 2);
    mp_proxy_free(d);
    MP_ASSERT_OK(mp_manager_object_count(m, &n));
    cr_assert_eq(n, n0, "%zu objects after the container went, want %zu", n, n0);
    /* A chain: each list holds the next; only the head has a proxy. */
    enum { CHAIN = 2000 };
    mp_proxy *head = mlist(m, NULL), *cur = head;
    for (int i = 0; i < CHAIN; i++) {
        mp_proxy *next = mlist(m, NULL);
        MP_ASSERT_OK(mp_mlist_append_proxy(cur, next));
        if (cur != head)
            mp_proxy_free(cur);
        cur = next;
    }
    mp_proxy_free(cur);
    MP_ASSERT_OK(mp_manager_object_count(m, &n));
    cr_assert_eq(n, n0 + CHAIN + 1);
    mp_proxy_free(head);
    MP_ASSERT_OK(mp_manager_object_count(m, &n));
    cr_assert_eq(n, n0, "%zu objects after the chain's head went, want %zu", n, n0);
    mp_manager_free(m);
    gc();
}

MPT_TEST(manager, MGR_PROXY_REF_PLAIN,
         "MGR-PROXY-REF-PLAIN: read with the ordinary calls a stored proxy is the tuple "
         "('<proxy>', typeid, oid); a tuple like it stored as a value stays plain; get_proxy of "
         "another item is MP_ETYPE; storing another manager's proxy is MP_EINVAL")
{
    mp_manager *m = start(), *m2 = start();
    mp_proxy *d = mdict(m), *l = mlist(m, NULL), *other = mdict(m2), *p = NULL;
    MP_ASSERT_OK(mp_mdict_set_proxy(d, S("l"), l));
    mp_value *v = NULL;
    MP_ASSERT_OK(mp_mdict_get(d, S("l"), &v));
    cr_assert_eq(mp_value_type(v), MP_T_TUPLE);
    size_t len = 0;
    MP_ASSERT_OK(mp_seq_len(v, &len));
    cr_assert_eq(len, 3);
    const mp_value *item = NULL;
    const char *s = NULL;
    MP_ASSERT_OK(mp_seq_get(v, 0, &item));
    MP_ASSERT_OK(mp_value_get_str(item, &s, NULL));
    cr_assert_str_eq(s, "<proxy>");
    MP_ASSERT_OK(mp_seq_get(v, 1, &item));
    MP_ASSERT_OK(mp_value_get_str(item, &s, NULL));
    cr_assert_str_eq(s, "list");
    /* The same tuple stored as a value is a plain tuple, not a proxy. */
    MP_ASSERT_OK(mp_mdict_set(d, S("forged"), v));
    mp_value_free(v);
    MP_ASSERT_STATUS(mp_mdict_get_proxy(d, S("forged"), &p), MP_ETYPE);
    cr_assert(p == NULL);
    MP_ASSERT_OK(mp_mdict_set(d, S("n"), I(1)));
    MP_ASSERT_STATUS(mp_mdict_get_proxy(d, S("n"), &p), MP_ETYPE);
    MP_ASSERT_STATUS(mp_mdict_get_proxy(d, S("missing"), &p), MP_EKEY);
    MP_ASSERT_OK(mp_mlist_append(l, I(1)));
    MP_ASSERT_STATUS(mp_mlist_get_proxy(l, 0, &p), MP_ETYPE);
    MP_ASSERT_STATUS(mp_mlist_get_proxy(l, 5, &p), MP_EINDEX);
    cr_assert(p == NULL);
    MP_ASSERT_STATUS(mp_mdict_set_proxy(d, S("x"), other), MP_EINVAL);
    MP_ASSERT_STATUS(mp_mlist_append_proxy(l, other), MP_EINVAL);
    bool in = true;
    MP_ASSERT_OK(mp_mdict_contains(d, S("x"), &in));
    cr_assert(!in);
    MP_ASSERT_OK(mp_mlist_len(l, &len));
    cr_assert_eq(len, 1);
    mp_proxy_free(other);
    mp_proxy_free(l);
    mp_proxy_free(d);
    mp_manager_free(m2);
    mp_manager_free(m);
    gc();
}

/* ---- the manager's initializer (CPython's TestInitializers.test_manager_initializer) */

/* Writes the server's pid to the pipe whose write end *arg is. */
static void init_writes_pid(void *arg)
{
    pid_t pid = getpid();
    if (write(*(int *)arg, &pid, sizeof pid) != (ssize_t)sizeof pid)
        _exit(3);
}

MPT_TEST(
    manager, MGR_INITIALIZER,
    "MGR-INITIALIZER: the initializer runs once, in the server process, before it serves a request")
{
    int fds[2];
    cr_assert(pipe(fds) == 0);
    mp_manager_opts o = {.initializer = init_writes_pid, .initarg = &fds[1]};
    mp_manager *m = NULL;
    MP_ASSERT_OK(mp_manager_start(&m, &o));
    close(fds[1]);
    mp_proxy *d = mdict(m); /* served, so the initializer is done */
    mp_proxy_free(d);
    pid_t got = 0, server = 0;
    cr_assert(read(fds[0], &got, sizeof got) == (ssize_t)sizeof got);
    MP_ASSERT_OK(mp_manager_pid(m, &server));
    cr_assert_eq(got, server, "initializer ran in %d, the server is %d", (int)got, (int)server);
    MP_ASSERT_OK(mp_manager_shutdown(m));
    char extra;
    cr_assert(read(fds[0], &extra, 1) == 0, "the initializer ran more than once");
    close(fds[0]);
    mp_manager_free(m);
}

MPT_TEST(manager, MGR_RAPID_RESTART,
         "MGR-RAPID-RESTART: a TCP manager starts at once at the fixed address of one just shut "
         "down while a client was connected (SO_REUSEADDR)")
{
    static const char key[] = "restart-key";
    mp_manager *m = start_tcp(key);
    const char *a = NULL;
    MP_ASSERT_OK(mp_manager_address(m, &a));
    char addr[64];
    snprintf(addr, sizeof addr, "%s", a);
    cr_assert(atoi(addr + 14) > 0, "address %s", addr);
    /* A client connected when the server goes, and idle: the server closes
     * its end first, which leaves the port's connection in TIME_WAIT. */
    mp_manager *c = NULL;
    MP_ASSERT_OK(mp_manager_connect(&c, addr, key, strlen(key)));
    MP_ASSERT_OK(mp_manager_shutdown(m));
    mp_manager_free(m);
    mp_manager_free(c);
    mp_manager_opts o = {.address = addr, .authkey = key, .authkey_len = strlen(key)};
    m = NULL;
    MP_ASSERT_OK(mp_manager_start(&m, &o));
    MP_ASSERT_OK(mp_manager_address(m, &a));
    cr_assert_str_eq(a, addr);
    c = NULL;
    MP_ASSERT_OK(mp_manager_connect(&c, addr, key, strlen(key)));
    mp_proxy *d = NULL;
    MP_ASSERT_OK(mp_manager_create(c, "dict", NULL, NULL, &d));
    MP_ASSERT_OK(mp_mdict_set(d, S("k"), S("v2")));
    mp_proxy_free(d);
    mp_manager_free(c);
    mp_manager_free(m);
    gc();
}
