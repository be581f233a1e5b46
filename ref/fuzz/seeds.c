/* Writes the seed corpora of the fuzz targets: ref/fuzz/corpus/{value,conn,manager}.
 * Usage: seeds <corpus-dir>.  The files are committed; rerun (make fuzz-seeds)
 * only to change them.  Seeds are small valid inputs (the tutorial's values,
 * frames, request sequences) plus a few classic hostile ones. */
#include "mp.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *root;

static void put(const char *target, const char *name, const void *p, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", root, target);
    if (mkdir(path, 0755) < 0 && errno != EEXIST) {
        perror(path);
        exit(1);
    }
    snprintf(path, sizeof path, "%s/%s/%s", root, target, name);
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static void *enc(mp_value *v, size_t *n)
{
    void *b = NULL;
    if (!v || mp_value_encode(v, &b, n) != MP_OK) {
        fprintf(stderr, "seeds: encode failed: %s\n", mp_errmsg());
        exit(1);
    }
    mp_value_free(v);
    return b;
}

/* ---------------------------------------------------------------- values */

static mp_value *range(int n)
{
    mp_value *l = mp_list();
    for (int i = 0; i < n; i++)
        mp_seq_append(l, mp_int(i));
    return l;
}

static mp_value *tutorial_dict(void)
{
    mp_value *d = mp_dict();
    mp_dict_set(d, mp_int(1), mp_str("1"));
    mp_dict_set(d, mp_str("2"), mp_int(2));
    mp_dict_set(d, mp_float(0.25), mp_none());
    return d;
}

static mp_value *manager_list(void)
{
    mp_value *l = range(5);
    for (int i = 0; i < 10; i++)
        mp_seq_append(l, mp_str("a"));
    return l;
}

static void value_seed(const char *name, mp_value *v)
{
    size_t n;
    void *b = enc(v, &n);
    put("value", name, b, n);
    free(b);
}

static void values(void)
{
    value_seed("tutorial-queue-item", mp_list_of(3, mp_int(42), mp_none(), mp_str("hello")));
    value_seed("tutorial-pipe-hello", mp_str("Hello World"));
    value_seed("tutorial-manager-dict", tutorial_dict());
    value_seed("tutorial-manager-list", manager_list());
    value_seed("tutorial-pool-args", mp_tuple_of(1, mp_int(7)));
    value_seed("tutorial-pool-result", mp_int(107));
    value_seed("int-boundaries",
               mp_list_of(10, mp_int(0), mp_int(-1), mp_int(-32), mp_int(-33), mp_int(127),
                          mp_int(128), mp_int(65536), mp_int(INT64_MAX), mp_int(INT64_MIN),
                          mp_int(-2147483649LL)));
    value_seed("floats", mp_list_of(4, mp_float(0.1), mp_float(-0.0), mp_float(1e308),
                                    mp_float((double)INFINITY)));
    value_seed("scalars", mp_tuple_of(5, mp_none(), mp_bool(true), mp_bool(false),
                                      mp_bytes("\x00\xff", 2), mp_strn("a\0b", 3)));
    value_seed("utf8", mp_str("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));
    char s300[300];
    memset(s300, 'x', sizeof s300);
    value_seed("str16-bin16", mp_list_of(2, mp_strn(s300, sizeof s300), mp_bytes(s300, 300)));
    mp_value *nest = mp_list();
    for (int i = 0; i < 20; i++)
        nest = mp_list_of(2, nest, mp_tuple_of(1, mp_int(i)));
    value_seed("nested", nest);
    mp_value *big = mp_dict();
    for (int i = 0; i < 20; i++)
        mp_dict_set(big, mp_int(i), mp_list_of(1, mp_str("v")));
    value_seed("dict16", big);

    /* Hand-made hostile ones. */
    static const unsigned char dup[] = {0x82, 0x01, 0xa1, 'a', 0x01, 0xa1, 'b'};
    put("value", "dup-keys", dup, sizeof dup);
    static const unsigned char f32[] = {0xca, 0x3f, 0xc0, 0x00, 0x00};
    put("value", "float32", f32, sizeof f32);
    static const unsigned char hugecount[] = {0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0};
    put("value", "huge-count", hugecount, sizeof hugecount);
    static const unsigned char hugestr[] = {0xdb, 0x7f, 0xff, 0xff, 0xff, 'a'};
    put("value", "huge-str", hugestr, sizeof hugestr);
    static const unsigned char trailing[] = {0xc0, 0xc0};
    put("value", "trailing", trailing, sizeof trailing);
    static const unsigned char invalid[] = {0x91, 0xc1};
    put("value", "invalid-c1", invalid, sizeof invalid);
    static const unsigned char ext[] = {0xd4, 0x07, 0x00};
    put("value", "ext-unknown", ext, sizeof ext);
    static const unsigned char unhash[] = {0x81, 0x90, 0x01};
    put("value", "unhashable-key", unhash, sizeof unhash);
    unsigned char deep[70];
    memset(deep, 0x91, sizeof deep);
    deep[69] = 0xc0;
    put("value", "depth-bomb", deep, sizeof deep);
}

/* ---------------------------------------------------------------- frames */

typedef struct buf {
    unsigned char *p;
    size_t n, cap;
} buf;

static void app(buf *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->p = realloc(b->p, b->cap);
        if (!b->p)
            exit(1);
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void be(buf *b, uint64_t x, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--) {
        unsigned char c = (unsigned char)(x >> (8 * i));
        app(b, &c, 1);
    }
}

static void frame(buf *b, const void *p, size_t n)
{
    be(b, n, 4);
    app(b, p, n);
}

static void vframe(buf *b, mp_value *v)
{
    size_t n;
    void *e = enc(v, &n);
    frame(b, e, n);
    free(e);
}

/* flags, ops, then the stream; ops: 0 recv, 1 recv_bytes, 2 recv_bytes_into, 3 poll. */
static void conn_seed(const char *name, uint8_t flags, const uint8_t *ops, size_t nops, buf *s)
{
    buf b = {0};
    uint8_t h[2] = {flags, (uint8_t)(nops - 1)};
    app(&b, h, 2);
    app(&b, ops, nops);
    if (s->n)
        app(&b, s->p, s->n);
    put("conn", name, b.p, b.n);
    free(b.p);
    free(s->p);
    *s = (buf){0};
}

static void conns(void)
{
    static const uint8_t recv[] = {0}, bytes[] = {1}, into[] = {2 | 47 << 2},
                         mix[] = {3, 0, 1, 2 | 40 << 2}, maxl[] = {1 | 36 << 2};
    buf s = {0};
    vframe(&s, mp_list_of(3, mp_int(42), mp_none(), mp_str("hello")));
    vframe(&s, mp_list_of(3, mp_int(42), mp_none(), mp_str("hello")));
    conn_seed("tutorial-queue-values", 1, recv, 1, &s);
    vframe(&s, mp_str("Hello World"));
    conn_seed("tutorial-pipe-oneway", 0, recv, 1, &s);
    vframe(&s, mp_list_of(3, mp_int(42), mp_none(), mp_str("hello")));
    frame(&s, "abc", 3);
    conn_seed("chunked-1-byte", 1 | 2 | 0 << 2, mix, 4, &s);
    frame(&s, "abc", 3);
    frame(&s, "", 0);
    frame(&s, "defgh", 5);
    conn_seed("bytes-frames", 1, mix, 4, &s);
    be(&s, 0xffffffffu, 4); /* long header, -1 then 8 bytes */
    be(&s, 5, 8);
    app(&s, "hello", 5);
    conn_seed("long-header", 1, bytes, 1, &s);
    be(&s, 1u << 30, 4); /* exactly MP_MSG_MAX, payload cut short */
    app(&s, "xx", 2);
    conn_seed("header-1gib-truncated", 1, into, 1, &s);
    be(&s, 0xffffffffu, 4);
    be(&s, (uint64_t)1 << 40, 8);
    conn_seed("header-1tib", 1, bytes, 1, &s);
    be(&s, 0x80000000u, 4);
    conn_seed("header-negative", 1, recv, 1, &s);
    app(&s, "\x00\x00", 2);
    conn_seed("header-truncated", 0, bytes, 1, &s);
    frame(&s, "0123456789abcdef0123", 20);
    conn_seed("maxlength-exceeded", 1, maxl, 1, &s);
    conn_seed("maxlength-exceeded-oneway", 0, maxl, 1, &s);
    unsigned char *big = malloc(70000);
    memset(big, 'z', 70000);
    frame(&s, big, 70000); /* larger than the 64 KiB read-ahead buffer */
    frame(&s, "tail", 4);
    conn_seed("big-frame", 1, bytes, 1, &s);
    frame(&s, big, 70000);
    frame(&s, "tail", 4);
    conn_seed("big-frame-chunked-4k", 1 | 2 | 12 << 2, mix, 4, &s);
    mp_value *bv = mp_bytes(big, 70000);
    vframe(&s, bv);
    vframe(&s, mp_int(1));
    conn_seed("big-value", 1, recv, 1, &s);
    free(big);
    frame(&s, "\xc1", 1);
    vframe(&s, mp_none());
    conn_seed("bad-value-then-good", 1, recv, 1, &s);
}

/* --------------------------------------------------------------- manager */

#define OID1 ((int64_t)1 << 32 | 1)
#define OID2 ((int64_t)1 << 32 | 2)

static void rec(buf *b, int client, mp_value *req)
{
    size_t n;
    void *e = enc(req, &n);
    be(b, (uint64_t)client << 15 | n, 2);
    app(b, e, n);
    free(e);
}

static mp_value *create(const char *typeid, mp_value *init)
{
    return mp_list_of(5, mp_int(0), mp_str("create"), mp_str(typeid), init ? init : mp_none(),
                      mp_none());
}

static mp_value *call(int64_t oid, const char *m, int nargs, ...)
{
    mp_value *l = mp_list_of(2, mp_int(oid), mp_str(m));
    va_list ap;
    va_start(ap, nargs);
    for (int i = 0; i < nargs; i++)
        mp_seq_append(l, va_arg(ap, mp_value *));
    va_end(ap);
    return l;
}

static void mgr_seed(const char *name, uint8_t flags, buf *b)
{
    buf o = {0};
    app(&o, &flags, 1);
    if (b->n)
        app(&o, b->p, b->n);
    put("manager", name, o.p, o.n);
    free(o.p);
    free(b->p);
    *b = (buf){0};
}

static void managers(void)
{
    buf b = {0};
    rec(&b, 0, create("dict", NULL));
    rec(&b, 0, call(OID1, "__setitem__", 2, mp_int(1), mp_str("1")));
    rec(&b, 1, call(OID1, "__setitem__", 2, mp_str("2"), mp_int(2)));
    rec(&b, 0, call(OID1, "__setitem__", 2, mp_float(0.25), mp_none()));
    rec(&b, 0, call(OID1, "__getitem__", 1, mp_str("2")));
    rec(&b, 0, call(OID1, "__getitem__", 1, mp_str("missing")));
    rec(&b, 0, call(OID1, "items", 0));
    rec(&b, 0, call(OID1, "pop", 2, mp_int(1), mp_none()));
    rec(&b, 0, call(OID1, "copy", 0));
    mgr_seed("tutorial-dict", 0, &b);

    rec(&b, 0, create("list", range(5)));
    for (int i = 0; i < 3; i++)
        rec(&b, i & 1, call(OID1, "append", 1, mp_str("a")));
    rec(&b, 0, call(OID1, "getslice", 3, mp_int(1), mp_none(), mp_int(2)));
    rec(&b, 0, call(OID1, "setslice", 4, mp_int(0), mp_int(2), mp_none(), range(3)));
    rec(&b, 0, call(OID1, "delslice", 3, mp_none(), mp_none(), mp_int(-2)));
    rec(&b, 0, call(OID1, "insert", 2, mp_int(-1), mp_int(9)));
    rec(&b, 0, call(OID1, "sort", 1, mp_bool(true)));
    rec(&b, 0, call(OID1, "index", 3, mp_int(9), mp_int(0), mp_int(100)));
    rec(&b, 0, call(OID1, "pop", 0));
    rec(&b, 0, call(0, "decref", 1, mp_int(OID1)));
    rec(&b, 0, call(OID1, "__len__", 0));
    mgr_seed("tutorial-list", 0, &b);

    rec(&b, 0, create("Namespace", NULL));
    rec(&b, 0, call(OID1, "__setattr__", 2, mp_str("x"), mp_int(1)));
    rec(&b, 0, call(OID1, "__getattr__", 1, mp_str("x")));
    rec(&b, 0, call(OID1, "__delattr__", 1, mp_str("y")));
    rec(&b, 0, create("Value", mp_float(1.5)));
    rec(&b, 0, call(OID2, "set", 1, mp_str("s")));
    rec(&b, 0, call(OID2, "get", 0));
    rec(&b, 0, call(0, "number_of_objects", 0));
    mgr_seed("namespace-value", 0, &b);

    rec(&b, 0, create("Lock", NULL));
    rec(&b, 0, call(OID1, "acquire", 1, mp_float(1.0)));
    rec(&b, 1, call(OID1, "acquire", 1, mp_none())); /* waits for client 0 */
    rec(&b, 0, call(OID1, "release", 0));
    rec(&b, 1, call(OID1, "release", 0));
    rec(&b, 0, call(OID1, "release", 0));
    mgr_seed("lock-two-clients", 0, &b);

    rec(&b, 0, create("Event", NULL));
    rec(&b, 1, call(OID1, "wait", 1, mp_float(10)));
    rec(&b, 0, call(OID1, "set", 0));
    rec(&b, 0, call(OID1, "is_set", 0));
    rec(&b, 0, call(OID1, "clear", 0));
    rec(&b, 0, call(OID1, "wait", 1, mp_float(0)));
    mgr_seed("event", 0, &b);

    rec(&b, 0, create("Queue", mp_int(1)));
    rec(&b, 0,
        call(OID1, "put", 2, mp_list_of(3, mp_int(42), mp_none(), mp_str("hello")), mp_none()));
    rec(&b, 1, call(OID1, "put", 2, mp_int(2), mp_float(5))); /* full: waits */
    rec(&b, 0, call(OID1, "get", 1, mp_float(0)));
    rec(&b, 0, call(OID1, "qsize", 0));
    rec(&b, 1, call(OID1, "get", 0));
    rec(&b, 0, call(OID1, "get", 1, mp_none())); /* empty: waits, freed at the end */
    mgr_seed("queue", 0, &b);

    rec(&b, 0, create("Condition", NULL));
    rec(&b, 0, call(OID1, "acquire", 1, mp_float(1.0)));
    rec(&b, 0, call(OID1, "acquire", 1, mp_none()));    /* recursion 2 */
    rec(&b, 1, call(OID1, "acquire", 1, mp_float(5)));  /* waits for client 0 */
    rec(&b, 0, call(OID1, "wait", 1, mp_float(0.001))); /* hands it to client 1 */
    rec(&b, 1, call(OID1, "notify", 1, mp_int(1)));
    rec(&b, 1, call(OID1, "release", 0));
    rec(&b, 0, call(OID1, "notify_all", 0));
    rec(&b, 0, call(OID1, "release", 0));
    rec(&b, 0, call(OID1, "release", 0));
    mgr_seed("condition-two-clients", 0, &b);

    rec(&b, 0, create("Barrier", mp_list_of(2, mp_int(2), mp_none())));
    rec(&b, 0, call(OID1, "wait", 1, mp_float(5)));
    rec(&b, 1, call(OID1, "n_waiting", 0));
    rec(&b, 1, call(OID1, "wait", 0));
    rec(&b, 1, call(OID1, "wait", 1, mp_float(0)));
    rec(&b, 0, call(OID1, "broken", 0));
    rec(&b, 0, call(OID1, "reset", 0));
    rec(&b, 0, create("BoundedSemaphore", mp_int(1)));
    rec(&b, 0, call(OID2, "acquire", 1, mp_float(0)));
    rec(&b, 1, call(OID2, "acquire", 1, mp_float(5))); /* waits for client 0 */
    rec(&b, 0, call(OID2, "release", 0));
    rec(&b, 1, call(OID2, "release", 0));
    rec(&b, 1, call(OID2, "release", 0)); /* ValueError */
    mgr_seed("barrier-semaphore", 0, &b);

    rec(&b, 0, create("JoinableQueue", mp_int(0)));
    rec(&b, 0, call(OID1, "put", 2, mp_int(1), mp_none()));
    rec(&b, 1, call(OID1, "join", 1, mp_float(5))); /* waits for task_done */
    rec(&b, 0, call(OID1, "get", 1, mp_float(0)));
    rec(&b, 0, call(OID1, "task_done", 0));
    rec(&b, 0, call(OID1, "task_done", 0)); /* ValueError */
    rec(&b, 0, create("Array", mp_list_of(2, mp_str("h"), mp_list_of(2, mp_int(1), mp_int(-2)))));
    rec(&b, 0, call(OID2, "__setitem__", 2, mp_int(-1), mp_int(70000))); /* OverflowError */
    rec(&b, 0, call(OID2, "__setitem__", 2, mp_int(0), mp_int(7)));
    rec(&b, 0, call(OID2, "__getitem__", 1, mp_int(2)));
    rec(&b, 1, call(OID2, "tolist", 0));
    rec(&b, 1, create("RLock", NULL));
    rec(&b, 1, call(OID1 + 2, "release", 0)); /* not the owner */
    mgr_seed("jqueue-array-rlock", 0, &b);

    rec(&b, 0,
        mp_list_of(5, mp_int(0), mp_str("create"), mp_str("dict"), mp_none(), mp_str("shared")));
    rec(&b, 1,
        mp_list_of(5, mp_int(0), mp_str("create"), mp_str("list"), mp_none(), mp_str("shared")));
    rec(&b, 0, call(OID1, "nosuchmethod", 0));
    rec(&b, 0, call(OID1, "__getitem__", 0));
    rec(&b, 0, call(12345, "get", 0));
    rec(&b, 0, call(OID1, "__setitem__", 2, mp_list(), mp_int(1)));
    rec(&b, 0, call(0, "incref", 1, mp_int(OID1)));
    mgr_seed("errors", 0, &b);

    rec(&b, 0, mp_int(7)); /* not a request: the client is dropped */
    rec(&b, 1, call(0, "number_of_objects", 0));
    mgr_seed("garbage", 0, &b);

    be(&b, (uint64_t)64 << 20 | 1, 4); /* one byte over MP_MANAGER_FRAME_MAX */
    mgr_seed("raw-oversized", 1, &b);
    be(&b, 100, 4);
    app(&b, "\x93\x00", 2); /* cut short, then the client hangs up */
    mgr_seed("raw-truncated", 1 | 4, &b);
    unsigned char hs[32 + 11 + 32] = {0};
    memcpy(hs + 32, "#CHALLENGE#", 11);
    be(&b, sizeof hs, 4);
    app(&b, hs, sizeof hs);
    mgr_seed("raw-handshake-wrong-digest", 1 | 2, &b);
    be(&b, 300, 4);
    mgr_seed("raw-handshake-too-long", 1 | 2, &b);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s <corpus-dir>\n", argv[0]);
        return 2;
    }
    root = argv[1];
    mkdir(root, 0755);
    values();
    conns();
    managers();
    return 0;
}
