/* SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests for the NATS protocol codec (src/heads/nats/codec.c), against its contract
 * P1–P4 in codec.h and the nats-server error behaviour in codec.c's header comment.
 *
 * Every input is copied into a heap block of exactly its length before it is parsed, so
 * a read past `len` shows up under `make SAN=1 unit`. Ops are compared by slice offsets
 * relative to the start of their buffer, so "the same op" means the same bytes, not just
 * equal text. The tests touch no globals of the code under test and allocate only here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heads/nats/codec.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ---- helpers ------------------------------------------------------------------------ */

static char *dup_exact(const char *s, size_t n)
{
    char *p = malloc(n ? n : 1);
    assert_non_null(p);
    if (n)
        memcpy(p, s, n);
    return p;
}

/* A slice must be empty or lie inside buf[0..consumed). */
static void assert_slice_inside(struct hr_slice s, const char *buf, size_t consumed)
{
    if (s.len == 0)
        return;
    assert_non_null(s.ptr);
    assert_true(s.ptr >= buf);
    assert_true((size_t)(s.ptr - buf) + s.len <= consumed);
}

static void assert_op_inside(const struct hr_nats_op *op, const char *buf, size_t consumed)
{
    assert_slice_inside(op->subject, buf, consumed);
    assert_slice_inside(op->reply, buf, consumed);
    assert_slice_inside(op->queue, buf, consumed);
    assert_slice_inside(op->sid, buf, consumed);
    assert_slice_inside(op->arg, buf, consumed);
    assert_slice_inside(op->hdr, buf, consumed);
    assert_slice_inside(op->payload, buf, consumed);
}

/* Expected text of a slice; NULL means "absent" (length 0). */
static void assert_slice_eq(struct hr_slice s, const char *want)
{
    size_t n = want ? strlen(want) : 0;
    if (s.len != n)
        fail_msg("slice length %zu, want %zu (\"%.*s\" vs \"%s\")", s.len, n, (int)s.len,
                 s.ptr ? s.ptr : "", want ? want : "");
    if (n)
        assert_memory_equal(s.ptr, want, n);
}

/* An op reduced to offsets, so ops parsed from different copies can be compared. */
#define N_SLICES 7
struct flat_op {
    enum hr_nats_op_kind kind;
    size_t off[N_SLICES], len[N_SLICES];
    uint64_t max_msgs;
};

static size_t slice_off(struct hr_slice s, const char *base)
{
    return s.ptr ? (size_t)(s.ptr - base) : SIZE_MAX;
}

/* Offsets are relative to `base` (the buffer the op was parsed from) plus `shift` (where
 * that buffer starts in the stream). */
static struct flat_op flatten(const struct hr_nats_op *op, const char *base, size_t shift)
{
    struct flat_op f;
    memset(&f, 0, sizeof f);
    const struct hr_slice s[N_SLICES] = {op->subject, op->reply, op->queue,  op->sid,
                                         op->arg,     op->hdr,   op->payload};
    f.kind = op->kind;
    for (size_t i = 0; i < N_SLICES; i++) {
        f.len[i] = s[i].len;
        /* An empty slice's position carries no meaning. */
        f.off[i] = s[i].len ? slice_off(s[i], base) + shift : 0;
    }
    f.max_msgs = op->max_msgs;
    return f;
}

static void assert_flat_eq(const struct flat_op *a, const struct flat_op *b)
{
    assert_int_equal(a->kind, b->kind);
    for (size_t i = 0; i < N_SLICES; i++) {
        assert_int_equal(a->len[i], b->len[i]);
        assert_int_equal(a->off[i], b->off[i]);
    }
    assert_int_equal(a->max_msgs, b->max_msgs);
}

/* Parses s[0..n) from an exact-size copy; flattens the op relative to the copy. */
static struct hr_nats_parse_result
parse_copy(const char *s, size_t n, const struct hr_nats_limits *lim, struct flat_op *flat)
{
    char *buf = dup_exact(s, n);
    struct hr_nats_op op;
    memset(&op, 0xa5, sizeof op);
    struct hr_nats_parse_result r = hr_nats_parse(buf, n, lim, &op);
    switch (r.status) {
    case HR_NATS_OK:
        assert_int_equal(r.error, HR_NATS_ENONE);
        assert_true(r.consumed > 0);
        assert_true(r.consumed <= n);
        assert_op_inside(&op, buf, r.consumed);
        if (flat)
            *flat = flatten(&op, buf, 0);
        break;
    case HR_NATS_MORE:
        assert_int_equal(r.consumed, 0);
        assert_true(r.need == 0 || r.need > n);
        break;
    case HR_NATS_ERROR:
        assert_int_not_equal(r.error, HR_NATS_ENONE);
        break;
    default:
        fail_msg("bad status %d", (int)r.status);
    }
    free(buf);
    return r;
}

/* ---- the valid-op table ------------------------------------------------------------- */

struct vcase {
    const char *in;
    size_t len;
    enum hr_nats_op_kind kind;
    const char *subject, *reply, *queue, *sid, *arg, *hdr, *payload;
    uint64_t max_msgs;
};

/* Payload ops: bytes up to and including the control line's LF; 0 for the others. */
static size_t payload_line_end(const struct vcase *c)
{
    if (c->kind != HR_NATS_OP_PUB && c->kind != HR_NATS_OP_HPUB && c->kind != HR_NATS_OP_MSG &&
        c->kind != HR_NATS_OP_HMSG)
        return 0;
    const char *nl = memchr(c->in, '\n', c->len);
    assert_non_null(nl);
    return (size_t)(nl - c->in) + 1;
}

#define IN(lit) .in = lit, .len = sizeof(lit) - 1
#define HDR12 "NATS/1.0\r\n\r\n"
#define HDR18 "NATS/1.0\r\nA: b\r\n\r\n"

static const struct vcase valid_cases[] = {
    {IN("CONNECT {\"verbose\":false,\"pedantic\":false}\r\n"), .kind = HR_NATS_OP_CONNECT,
     .arg = "{\"verbose\":false,\"pedantic\":false}"},
    {IN("connect {}\r\n"), .kind = HR_NATS_OP_CONNECT, .arg = "{}"},
    {IN("CoNnEcT \t {\"a\":1}\n"), .kind = HR_NATS_OP_CONNECT, .arg = "{\"a\":1}"},
    {IN("PUB foo 5\r\nhello\r\n"), .kind = HR_NATS_OP_PUB, .subject = "foo", .payload = "hello"},
    {IN("PUB foo.bar INBOX.1 5\r\nhello\r\n"), .kind = HR_NATS_OP_PUB, .subject = "foo.bar",
     .reply = "INBOX.1", .payload = "hello"},
    {IN("PUB foo 0\r\n\r\n"), .kind = HR_NATS_OP_PUB, .subject = "foo"},
    {IN("PUB foo 7\r\na\r\nb\r\nc\r\n"), .kind = HR_NATS_OP_PUB, .subject = "foo",
     .payload = "a\r\nb\r\nc"},
    {IN("pub foo 2\r\nhi\r\n"), .kind = HR_NATS_OP_PUB, .subject = "foo", .payload = "hi"},
    {IN("Pub\tfoo\t \treply  \t 2\r\nhi\r\n"), .kind = HR_NATS_OP_PUB, .subject = "foo",
     .reply = "reply", .payload = "hi"},
    {IN("PUB foo 2\nhi\r\n"), .kind = HR_NATS_OP_PUB, .subject = "foo", .payload = "hi"},
    {IN("PUB  foo   2  \r\nhi\r\n"), .kind = HR_NATS_OP_PUB, .subject = "foo", .payload = "hi"},
    {IN("HPUB foo 12 17\r\n" HDR12 "hello\r\n"), .kind = HR_NATS_OP_HPUB, .subject = "foo",
     .hdr = HDR12, .payload = "hello"},
    {IN("HPUB foo reply 12 12\r\n" HDR12 "\r\n"), .kind = HR_NATS_OP_HPUB, .subject = "foo",
     .reply = "reply", .hdr = HDR12},
    {IN("HPUB foo 0 5\r\nhello\r\n"), .kind = HR_NATS_OP_HPUB, .subject = "foo",
     .payload = "hello"},
    {IN("HPUB foo 0 0\r\n\r\n"), .kind = HR_NATS_OP_HPUB, .subject = "foo"},
    {IN("hpub\tfoo\tr\t18\t20\n" HDR18 "hi\r\n"), .kind = HR_NATS_OP_HPUB, .subject = "foo",
     .reply = "r", .hdr = HDR18, .payload = "hi"},
    {IN("SUB foo 1\r\n"), .kind = HR_NATS_OP_SUB, .subject = "foo", .sid = "1"},
    {IN("SUB foo.* workers 42\r\n"), .kind = HR_NATS_OP_SUB, .subject = "foo.*", .queue = "workers",
     .sid = "42"},
    {IN("sub  foo.>\t\tq\t 7\n"), .kind = HR_NATS_OP_SUB, .subject = "foo.>", .queue = "q",
     .sid = "7"},
    {IN("UNSUB 1\r\n"), .kind = HR_NATS_OP_UNSUB, .sid = "1"},
    {IN("UNSUB 1 10\r\n"), .kind = HR_NATS_OP_UNSUB, .sid = "1", .max_msgs = 10},
    {IN("unsub\t9\t\t123456789012\n"), .kind = HR_NATS_OP_UNSUB, .sid = "9",
     .max_msgs = 123456789012ULL},
    {IN("UNSUB 9 abc\r\n"), .kind = HR_NATS_OP_UNSUB, .sid = "9"},
    {IN("UNSUB 9 -3\r\n"), .kind = HR_NATS_OP_UNSUB, .sid = "9"},
    {IN("UNSUB 9 1234567890123\r\n"), .kind = HR_NATS_OP_UNSUB, .sid = "9"},
    {IN("PING\r\n"), .kind = HR_NATS_OP_PING},
    {IN("ping\r\n"), .kind = HR_NATS_OP_PING},
    {IN("PiNg\n"), .kind = HR_NATS_OP_PING},
    {IN("PONG\r\n"), .kind = HR_NATS_OP_PONG},
    {IN("pong\n"), .kind = HR_NATS_OP_PONG},
    {IN("INFO {\"server_id\":\"x\",\"max_payload\":1048576}\r\n"), .kind = HR_NATS_OP_INFO,
     .arg = "{\"server_id\":\"x\",\"max_payload\":1048576}"},
    {IN("info\t{}\n"), .kind = HR_NATS_OP_INFO, .arg = "{}"},
    {IN("MSG foo 1 5\r\nhello\r\n"), .kind = HR_NATS_OP_MSG, .subject = "foo", .sid = "1",
     .payload = "hello"},
    {IN("MSG foo.bar 22 _INBOX.x 5\r\nhello\r\n"), .kind = HR_NATS_OP_MSG, .subject = "foo.bar",
     .sid = "22", .reply = "_INBOX.x", .payload = "hello"},
    {IN("msg foo 1 0\n\r\n"), .kind = HR_NATS_OP_MSG, .subject = "foo", .sid = "1"},
    {IN("HMSG foo 1 12 17\r\n" HDR12 "hello\r\n"), .kind = HR_NATS_OP_HMSG, .subject = "foo",
     .sid = "1", .hdr = HDR12, .payload = "hello"},
    {IN("HMSG foo 1 reply 12 17\r\n" HDR12 "hello\r\n"), .kind = HR_NATS_OP_HMSG, .subject = "foo",
     .sid = "1", .reply = "reply", .hdr = HDR12, .payload = "hello"},
    {IN("hmsg foo 1 0 2\r\nhi\r\n"), .kind = HR_NATS_OP_HMSG, .subject = "foo", .sid = "1",
     .payload = "hi"},
    {IN("+OK\r\n"), .kind = HR_NATS_OP_OK},
    {IN("+ok\n"), .kind = HR_NATS_OP_OK},
    {IN("-ERR 'Unknown Protocol Operation'\r\n"), .kind = HR_NATS_OP_ERR,
     .arg = "'Unknown Protocol Operation'"},
    {IN("-err\r\n"), .kind = HR_NATS_OP_ERR},
};

static void check_vcase_op(const struct vcase *c, const struct hr_nats_op *op)
{
    assert_int_equal(op->kind, c->kind);
    assert_slice_eq(op->subject, c->subject);
    assert_slice_eq(op->reply, c->reply);
    assert_slice_eq(op->queue, c->queue);
    assert_slice_eq(op->sid, c->sid);
    assert_slice_eq(op->arg, c->arg);
    assert_slice_eq(op->hdr, c->hdr);
    assert_slice_eq(op->payload, c->payload);
    assert_int_equal(op->max_msgs, c->max_msgs);
}

/* Every op in the table parses whole, exactly consuming its bytes, with the right fields. */
static void test_valid_ops(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ELEMS(valid_cases); i++) {
        const struct vcase *c = &valid_cases[i];
        char *buf = dup_exact(c->in, c->len);
        struct hr_nats_op op;
        struct hr_nats_parse_result r = hr_nats_parse(buf, c->len, NULL, &op);
        if (r.status != HR_NATS_OK)
            fail_msg("case %zu \"%s\": status %d error %d", i, c->in, (int)r.status, (int)r.error);
        assert_int_equal(r.consumed, c->len);
        assert_op_inside(&op, buf, r.consumed);
        check_vcase_op(c, &op);
        free(buf);
    }
}

/* An op followed by more bytes consumes only itself (the parser never eats the next op). */
static void test_valid_ops_followed_by_more(void **state)
{
    (void)state;
    static const char tails[][8] = {"PING\r\n", "X", "\r\n", "garbage"};
    for (size_t i = 0; i < N_ELEMS(valid_cases); i++) {
        const struct vcase *c = &valid_cases[i];
        for (size_t t = 0; t < N_ELEMS(tails); t++) {
            size_t tl = strlen(tails[t]);
            char *buf = malloc(c->len + tl);
            assert_non_null(buf);
            memcpy(buf, c->in, c->len);
            memcpy(buf + c->len, tails[t], tl);
            struct hr_nats_op op;
            struct hr_nats_parse_result r = hr_nats_parse(buf, c->len + tl, NULL, &op);
            assert_int_equal(r.status, HR_NATS_OK);
            assert_int_equal(r.consumed, c->len);
            check_vcase_op(c, &op);
            free(buf);
        }
    }
}

/* P1/P4: every strict prefix of a complete op is MORE (with `need` equal to the op's size
 * once a payload op's control line is in), and the whole gives the same op. */
static void test_split_every_boundary(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ELEMS(valid_cases); i++) {
        const struct vcase *c = &valid_cases[i];
        struct flat_op whole, again;
        size_t line_end = payload_line_end(c);
        struct hr_nats_parse_result r = parse_copy(c->in, c->len, NULL, &whole);
        assert_int_equal(r.status, HR_NATS_OK);
        for (size_t k = 0; k < c->len; k++) {
            r = parse_copy(c->in, k, NULL, NULL);
            if (r.status != HR_NATS_MORE)
                fail_msg("case %zu \"%s\" prefix %zu: status %d error %d", i, c->in, k,
                         (int)r.status, (int)r.error);
            if (line_end && k >= line_end)
                assert_int_equal(r.need, c->len);
            else
                assert_int_equal(r.need, 0);
        }
        r = parse_copy(c->in, c->len, NULL, &again);
        assert_int_equal(r.status, HR_NATS_OK);
        assert_int_equal(r.consumed, c->len);
        assert_flat_eq(&whole, &again);
    }
}

/* ---- P4 over a stream --------------------------------------------------------------- */

static uint64_t rng_next(uint64_t *s)
{
    /* xorshift64* */
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

struct stream {
    char *data;
    size_t len;
    size_t nops;
    size_t *case_of; /* table index of each op */
};

static struct stream make_stream(size_t nops, uint64_t seed)
{
    struct stream st = {0};
    st.case_of = calloc(nops, sizeof *st.case_of);
    assert_non_null(st.case_of);
    size_t cap = 0;
    for (size_t i = 0; i < nops; i++) {
        size_t ci = (size_t)(rng_next(&seed) % N_ELEMS(valid_cases));
        cap += valid_cases[ci].len;
        st.case_of[i] = ci;
    }
    st.data = malloc(cap);
    assert_non_null(st.data);
    for (size_t i = 0; i < nops; i++) {
        const struct vcase *c = &valid_cases[st.case_of[i]];
        memcpy(st.data + st.len, c->in, c->len);
        st.len += c->len;
    }
    st.nops = nops;
    return st;
}

/* Parses the stream as a reader would, with bytes arriving in chunks from `next_chunk`
 * (0 = all at once). Unparsed bytes are always copied into an exact-size block. Returns
 * the number of ops; flat ops are relative to the stream start. */
static size_t parse_chunked(const struct stream *st, uint64_t seed, size_t max_chunk,
                            struct flat_op *out, size_t out_cap)
{
    size_t pos = 0, avail = 0, nops = 0;
    if (max_chunk == 0)
        avail = st->len;
    while (pos < st->len) {
        char *buf = dup_exact(st->data + pos, avail - pos);
        struct hr_nats_op op;
        struct hr_nats_parse_result r = hr_nats_parse(buf, avail - pos, NULL, &op);
        if (r.status == HR_NATS_OK) {
            assert_true(r.consumed <= avail - pos);
            assert_op_inside(&op, buf, r.consumed);
            assert_true(nops < out_cap);
            out[nops++] = flatten(&op, buf, pos);
            pos += r.consumed;
        } else {
            assert_int_equal(r.status, HR_NATS_MORE);
            assert_true(avail < st->len);
            size_t step = 1 + (size_t)(rng_next(&seed) % max_chunk);
            /* Jump straight to `need` when known, as the server's reader does. */
            if (r.need && (rng_next(&seed) & 1) && pos + r.need > avail + step)
                step = pos + r.need - avail;
            avail = avail + step > st->len ? st->len : avail + step;
        }
        free(buf);
    }
    return nops;
}

static void test_stream_random_chunks(void **state)
{
    (void)state;
    for (uint64_t s = 1; s <= 6; s++) {
        struct stream st = make_stream(300, s * 0x9E3779B97F4A7C15ULL);
        struct flat_op *want = calloc(st.nops, sizeof *want);
        struct flat_op *got = calloc(st.nops, sizeof *got);
        assert_non_null(want);
        assert_non_null(got);
        size_t n = parse_chunked(&st, 0, 0, want, st.nops);
        assert_int_equal(n, st.nops);
        for (size_t i = 0; i < n; i++)
            assert_int_equal(want[i].kind, valid_cases[st.case_of[i]].kind);
        static const size_t chunks[] = {1, 2, 3, 7, 16, 64, 500};
        for (size_t c = 0; c < N_ELEMS(chunks); c++) {
            memset(got, 0, st.nops * sizeof *got);
            size_t m = parse_chunked(&st, s * 31 + c, chunks[c], got, st.nops);
            assert_int_equal(m, n);
            for (size_t i = 0; i < n; i++)
                assert_flat_eq(&want[i], &got[i]);
        }
        free(want);
        free(got);
        free(st.data);
        free(st.case_of);
    }
}

/* ---- need ---------------------------------------------------------------------------- */

static void test_need_reported(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        size_t need;
    } cases[] = {
        {"PUB foo 5", 0},
        {"PUB foo 5\r", 0},
        {"PUB foo 5\r\n", 18},
        {"PUB foo 5\r\nhel", 18},
        {"PUB foo 5\r\nhello\r", 18},
        {"PUB foo r 100\r\n", 15 + 100 + 2},
        {"HPUB foo 12 17\r\n", 16 + 17 + 2},
        {"HPUB foo 12 17\r\nNATS", 16 + 17 + 2},
        {"MSG foo 1 5\n", 12 + 5 + 2},
        {"HMSG foo 1 r 12 1000\r\n", 22 + 1000 + 2},
        {"SUB foo 1", 0},
        {"CONNECT {}", 0},
        {"PIN", 0},
        {"", 0},
    };
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        struct hr_nats_parse_result r = parse_copy(cases[i].in, strlen(cases[i].in), NULL, NULL);
        assert_int_equal(r.status, HR_NATS_MORE);
        if (r.need != cases[i].need)
            fail_msg("\"%s\": need %zu, want %zu", cases[i].in, r.need, cases[i].need);
    }
}

/* ---- malformed input ----------------------------------------------------------------- */

struct ecase {
    const char *in;
    size_t len;
    enum hr_nats_error err;
};

static const struct ecase error_cases[] = {
    /* unknown ops */
    {IN("FOO bar\r\n"), HR_NATS_EUNKNOWN_OP},
    {IN("X"), HR_NATS_EUNKNOWN_OP},
    {IN("PUBX foo 1\r\n"), HR_NATS_EUNKNOWN_OP},
    {IN("PINGPONG\r\n"), HR_NATS_EUNKNOWN_OP},
    {IN("PINGX\r\n"), HR_NATS_EUNKNOWN_OP},
    {IN("CONNECTED {}\r\n"), HR_NATS_EUNKNOWN_OP},
    {IN("CONNECT{}\r\n"), HR_NATS_EUNKNOWN_OP},
    {IN("\r\n"), HR_NATS_EUNKNOWN_OP},
    {IN("\n"), HR_NATS_EUNKNOWN_OP},
    {IN(" PING\r\n"), HR_NATS_EUNKNOWN_OP},
    {IN("OK\r\n"), HR_NATS_EUNKNOWN_OP},
    {IN("ERR\r\n"), HR_NATS_EUNKNOWN_OP},
    {IN("P\0NG\r\n"), HR_NATS_EUNKNOWN_OP},
    /* an op that needs arguments but has none */
    {IN("SUB\r\n"), HR_NATS_EUNKNOWN_OP},
    {IN("PUB\r\n"), HR_NATS_EUNKNOWN_OP},
    {IN("HPUB\n"), HR_NATS_EUNKNOWN_OP},
    {IN("UNSUB\r\n"), HR_NATS_EUNKNOWN_OP},
    {IN("MSG\r\n"), HR_NATS_EUNKNOWN_OP},
    {IN("HMSG\r\n"), HR_NATS_EUNKNOWN_OP},
    {IN("INFO\r\n"), HR_NATS_EUNKNOWN_OP},
    /* wrong argument counts; CONNECT without its JSON is a parser error, not an
     * unknown op (codec.c special-cases it) */
    {IN("CONNECT\r\n"), HR_NATS_EBAD_ARGS},
    {IN("connect\n"), HR_NATS_EBAD_ARGS},
    {IN("SUB \r\n"), HR_NATS_EBAD_ARGS},
    {IN("SUB foo\r\n"), HR_NATS_EBAD_ARGS},
    {IN("SUB a b c d\r\n"), HR_NATS_EBAD_ARGS},
    {IN("UNSUB \r\n"), HR_NATS_EBAD_ARGS},
    {IN("UNSUB 1 2 3\r\n"), HR_NATS_EBAD_ARGS},
    {IN("PUB \t \r\n"), HR_NATS_EBAD_ARGS},
    {IN("PUB foo\r\n"), HR_NATS_EBAD_ARGS},
    {IN("PUB a b c 5\r\n"), HR_NATS_EBAD_ARGS},
    {IN("PUB a b c d e f 5\r\n"), HR_NATS_EBAD_ARGS},
    {IN("HPUB foo 5\r\n"), HR_NATS_EBAD_ARGS},
    {IN("HPUB a b c 1 5\r\n"), HR_NATS_EBAD_ARGS},
    {IN("MSG foo 5\r\n"), HR_NATS_EBAD_ARGS},
    {IN("MSG a 1 r x 5\r\n"), HR_NATS_EBAD_ARGS},
    {IN("HMSG foo 1 5\r\n"), HR_NATS_EBAD_ARGS},
    {IN("HMSG a 1 r x 1 5\r\n"), HR_NATS_EBAD_ARGS},
    /* non-numeric, negative, absurd sizes */
    {IN("PUB foo abc\r\n"), HR_NATS_EBAD_ARGS},
    {IN("PUB foo -1\r\n"), HR_NATS_EBAD_ARGS},
    {IN("PUB foo +1\r\n"), HR_NATS_EBAD_ARGS},
    {IN("PUB foo 1x\r\n"), HR_NATS_EBAD_ARGS},
    {IN("PUB foo 0x10\r\n"), HR_NATS_EBAD_ARGS},
    {IN("PUB foo 99999999999999\r\n"), HR_NATS_EBAD_ARGS},
    {IN("HPUB foo x 5\r\n"), HR_NATS_EBAD_ARGS},
    {IN("HPUB foo 1 y\r\n"), HR_NATS_EBAD_ARGS},
    {IN("HPUB foo -1 5\r\n"), HR_NATS_EBAD_ARGS},
    {IN("HPUB foo 6 5\r\n"), HR_NATS_EBAD_ARGS},
    {IN("HPUB foo r 13 12\r\n"), HR_NATS_EBAD_ARGS},
    {IN("MSG foo 1 -5\r\n"), HR_NATS_EBAD_ARGS},
    {IN("MSG foo 1 r five\r\n"), HR_NATS_EBAD_ARGS},
    {IN("HMSG foo 1 6 5\r\n"), HR_NATS_EBAD_ARGS},
    {IN("HMSG foo 1 r x 5\r\n"), HR_NATS_EBAD_ARGS},
    /* payload not followed by CRLF */
    {IN("PUB foo 3\r\nabcX\r\n"), HR_NATS_EUNKNOWN_OP},
    {IN("PUB foo 3\r\nabc\n\n"), HR_NATS_EUNKNOWN_OP},
    {IN("PUB foo 3\r\nabc\rX"), HR_NATS_EUNKNOWN_OP},
    {IN("PUB foo 3\r\nab\r\n\r\n"), HR_NATS_EUNKNOWN_OP},
    {IN("PUB foo 0\r\nX\r\n"), HR_NATS_EUNKNOWN_OP},
    {IN("HPUB foo 12 17\r\n" HDR12 "hello!\r\n"), HR_NATS_EUNKNOWN_OP},
    {IN("MSG foo 1 5\r\nhelloPING\r\n"), HR_NATS_EUNKNOWN_OP},
    {IN("HMSG foo 1 2 2\r\nhi\n\r"), HR_NATS_EUNKNOWN_OP},
};

/* The whole input gives the error; every prefix gives MORE or that same error, and once a
 * prefix fails every longer one does (P4 for errors). */
static void test_malformed(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ELEMS(error_cases); i++) {
        const struct ecase *c = &error_cases[i];
        struct hr_nats_parse_result r = parse_copy(c->in, c->len, NULL, NULL);
        if (r.status != HR_NATS_ERROR || r.error != c->err)
            fail_msg("case %zu \"%s\": status %d error %d, want error %d", i, c->in, (int)r.status,
                     (int)r.error, (int)c->err);
        bool failed = false;
        for (size_t k = 0; k < c->len; k++) {
            r = parse_copy(c->in, k, NULL, NULL);
            if (r.status == HR_NATS_ERROR) {
                assert_int_equal(r.error, c->err);
                failed = true;
            } else {
                assert_false(failed);
                assert_int_equal(r.status, HR_NATS_MORE);
            }
        }
    }
}

/* Garbage fails as soon as the op word cannot be a known op. */
static void test_unknown_fails_at_once(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        size_t fail_at; /* shortest failing prefix */
    } cases[] = {
        {"X", 1},    {"PUX", 3}, {"PUBX", 4},   {"CONNECTX", 8}, {"HTTP/1.1 GET", 2},
        {"-ERX", 4}, {"+O!", 3}, {"UNSUBS", 6},
    };
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        const char *s = cases[i].in;
        for (size_t k = 0; k <= strlen(s); k++) {
            struct hr_nats_parse_result r = parse_copy(s, k, NULL, NULL);
            if (k < cases[i].fail_at) {
                assert_int_equal(r.status, HR_NATS_MORE);
            } else {
                assert_int_equal(r.status, HR_NATS_ERROR);
                assert_int_equal(r.error, HR_NATS_EUNKNOWN_OP);
            }
        }
    }
}

/* P3: a payload above max_payload fails on the control line, before any payload byte. */
static void test_max_payload(void **state)
{
    (void)state;
    const struct hr_nats_limits lim = {.max_payload = 10};
    static const struct {
        const char *in;
        enum hr_nats_status st;
    } cases[] = {
        {"PUB foo 11\r\n", HR_NATS_ERROR},           {"PUB foo r 11\n", HR_NATS_ERROR},
        {"PUB foo 999999999999\r\n", HR_NATS_ERROR}, {"PUB foo 10\r\n", HR_NATS_MORE},
        {"HPUB foo 5 11\r\n", HR_NATS_ERROR},        {"HPUB foo 0 11\r\n", HR_NATS_ERROR},
        {"HPUB foo 10 10\r\n", HR_NATS_MORE},        {"MSG foo 1 11\r\n", HR_NATS_ERROR},
        {"MSG foo 1 r 10\r\n", HR_NATS_MORE},        {"HMSG foo 1 2 11\r\n", HR_NATS_ERROR},
        {"HMSG foo 1 r 2 10\r\n", HR_NATS_MORE},
    };
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        const char *s = cases[i].in;
        struct hr_nats_parse_result r = parse_copy(s, strlen(s), &lim, NULL);
        assert_int_equal(r.status, cases[i].st);
        if (r.status == HR_NATS_ERROR)
            assert_int_equal(r.error, HR_NATS_EMAX_PAYLOAD);
        else
            assert_int_equal(r.need, strlen(s) + 10 + 2);
    }

    /* Exactly max_payload completes. */
    const char ok[] = "PUB foo 10\r\n0123456789\r\n";
    struct hr_nats_parse_result r = parse_copy(ok, sizeof ok - 1, &lim, NULL);
    assert_int_equal(r.status, HR_NATS_OK);
    assert_int_equal(r.consumed, sizeof ok - 1);

    /* Defaults (NULL limits and zero fields): 1 MiB. */
    const struct hr_nats_limits zero = {0};
    const char big[] = "PUB foo 1048577\r\n", max[] = "PUB foo 1048576\r\n";
    r = parse_copy(big, sizeof big - 1, NULL, NULL);
    assert_int_equal(r.status, HR_NATS_ERROR);
    assert_int_equal(r.error, HR_NATS_EMAX_PAYLOAD);
    r = parse_copy(big, sizeof big - 1, &zero, NULL);
    assert_int_equal(r.error, HR_NATS_EMAX_PAYLOAD);
    r = parse_copy(max, sizeof max - 1, NULL, NULL);
    assert_int_equal(r.status, HR_NATS_MORE);
    assert_int_equal(r.need, sizeof max - 1 + 1048576 + 2);
}

/* P3: a control line longer than max_control_line fails as soon as max+2 bytes have
 * arrived without a line end; a line of exactly max bytes is fine. */
static void test_max_control_line(void **state)
{
    (void)state;
    const size_t max = 16;
    const struct hr_nats_limits lim = {.max_control_line = max};
    char line[64];

    /* "SUB " + subject + " 1" = exactly 16 bytes, then CRLF or LF. */
    snprintf(line, sizeof line, "SUB %s 1\r\n", "aaaaaaaaaa");
    assert_int_equal(strlen(line), max + 2);
    assert_int_equal(parse_copy(line, strlen(line), &lim, NULL).status, HR_NATS_OK);
    snprintf(line, sizeof line, "SUB %s 1\n", "aaaaaaaaaa");
    assert_int_equal(parse_copy(line, strlen(line), &lim, NULL).status, HR_NATS_OK);

    /* 17 bytes before the line end. */
    snprintf(line, sizeof line, "SUB %s 1\r\n", "aaaaaaaaaaa");
    struct hr_nats_parse_result r = parse_copy(line, strlen(line), &lim, NULL);
    assert_int_equal(r.status, HR_NATS_ERROR);
    assert_int_equal(r.error, HR_NATS_EMAX_CONTROL_LINE);
    snprintf(line, sizeof line, "SUB %s 1\n", "aaaaaaaaaaa");
    r = parse_copy(line, strlen(line), &lim, NULL);
    assert_int_equal(r.error, HR_NATS_EMAX_CONTROL_LINE);

    /* Unterminated: MORE up to max+1 bytes (the +1 may be the CR), error at max+2. */
    static const char *const streams[] = {
        "SUB aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "CONNECT {\"verbose\":false,\"pedantic\":false}",
        "PUB foo.bar.baz.qux.quux 5",
        "-ERR 'a very long error text here'",
    };
    for (size_t s = 0; s < N_ELEMS(streams); s++) {
        for (size_t k = 0; k <= strlen(streams[s]); k++) {
            r = parse_copy(streams[s], k, &lim, NULL);
            if (k <= max + 1) {
                assert_int_equal(r.status, HR_NATS_MORE);
            } else {
                assert_int_equal(r.status, HR_NATS_ERROR);
                assert_int_equal(r.error, HR_NATS_EMAX_CONTROL_LINE);
            }
        }
    }

    /* 16 bytes + CR arrives in pieces, then LF: fine. */
    snprintf(line, sizeof line, "SUB %s 1\r\n", "aaaaaaaaaa");
    assert_int_equal(parse_copy(line, max + 1, &lim, NULL).status, HR_NATS_MORE);

    /* The payload does not count against the control line. */
    const char pub[] = "PUB foo 20\r\n01234567890123456789\r\n";
    r = parse_copy(pub, sizeof pub - 1, &lim, NULL);
    assert_int_equal(r.status, HR_NATS_OK);

    /* Default: 4096. */
    size_t n = 4096 + 2;
    char *big = malloc(n + 2);
    assert_non_null(big);
    memcpy(big, "CONNECT ", 8);
    memset(big + 8, 'x', n - 8);
    assert_int_equal(parse_copy(big, 4096 + 1, NULL, NULL).status, HR_NATS_MORE);
    r = parse_copy(big, 4096 + 2, NULL, NULL);
    assert_int_equal(r.status, HR_NATS_ERROR);
    assert_int_equal(r.error, HR_NATS_EMAX_CONTROL_LINE);
    memcpy(big + 4096, "\r\n", 2);
    r = parse_copy(big, 4096 + 2, NULL, NULL);
    assert_int_equal(r.status, HR_NATS_OK);
    free(big);
}

/* A payload may hold any byte, NUL and CRLF included. */
static void test_binary_payload(void **state)
{
    (void)state;
    const char in[] = "PUB bin 6\r\n\0\r\n\xff\n\0\r\n";
    char *buf = dup_exact(in, sizeof in - 1);
    struct hr_nats_op op;
    struct hr_nats_parse_result r = hr_nats_parse(buf, sizeof in - 1, NULL, &op);
    assert_int_equal(r.status, HR_NATS_OK);
    assert_int_equal(r.consumed, sizeof in - 1);
    assert_int_equal(op.payload.len, 6);
    assert_memory_equal(op.payload.ptr, "\0\r\n\xff\n\0", 6);
    free(buf);
}

/* ---- encoder ------------------------------------------------------------------------- */

static struct hr_slice sl(const char *s)
{
    return (struct hr_slice){s, s ? strlen(s) : 0};
}

static void test_encode_text(void **state)
{
    (void)state;
    static const struct {
        const char *subject, *sid, *reply;
        size_t hdr, data;
        const char *want;
    } cases[] = {
        {"foo", "1", NULL, 0, 5, "MSG foo 1 5\r\n"},
        {"foo", "1", "r", 0, 5, "MSG foo 1 r 5\r\n"},
        {"foo.bar", "99", "_INBOX.x", 0, 0, "MSG foo.bar 99 _INBOX.x 0\r\n"},
        {"foo", "1", NULL, 12, 5, "HMSG foo 1 12 17\r\n"},
        {"foo", "1", "r", 12, 0, "HMSG foo 1 r 12 12\r\n"},
        {"a", "7", NULL, 0, 1234567, "MSG a 7 1234567\r\n"},
    };
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        char out[128];
        memset(out, '#', sizeof out);
        struct hr_slice subj = sl(cases[i].subject), sid = sl(cases[i].sid),
                        reply = sl(cases[i].reply);
        size_t max = hr_nats_msg_head_max(subj.len, sid.len, reply.len);
        assert_true(max <= sizeof out);
        size_t n = hr_nats_encode_msg_head(out, subj, sid, reply, cases[i].hdr, cases[i].data);
        assert_true(n <= max);
        assert_int_equal(n, strlen(cases[i].want));
        assert_memory_equal(out, cases[i].want, n);
        for (size_t k = n; k < sizeof out; k++)
            assert_int_equal(out[k], '#');
    }

    /* The largest numbers still fit hr_nats_msg_head_max(). */
    char out[128];
    size_t max = hr_nats_msg_head_max(1, 1, 1);
    size_t n = hr_nats_encode_msg_head(out, sl("s"), sl("1"), sl("r"), SIZE_MAX / 2, SIZE_MAX / 2);
    assert_true(n <= max);
}

/* Encoded heads plus body parse back to the same fields. */
static void test_encode_roundtrip(void **state)
{
    (void)state;
    static const struct {
        const char *subject, *sid, *reply, *hdr;
        size_t data_len;
    } cases[] = {
        {"foo", "1", NULL, NULL, 5},
        {"foo.bar", "99", "_INBOX.abc.1", NULL, 0},
        {"foo", "1", NULL, HDR12, 5},
        {"foo", "3", "reply", HDR18, 0},
        {"x.y.z", "12345", "r", HDR18, 100000},
        {"big", "1", NULL, NULL, 1024 * 1024},
    };
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        struct hr_slice subj = sl(cases[i].subject), sid = sl(cases[i].sid),
                        reply = sl(cases[i].reply), hdr = sl(cases[i].hdr);
        size_t data_len = cases[i].data_len;
        size_t max = hr_nats_msg_head_max(subj.len, sid.len, reply.len);
        char *frame = malloc(max + hdr.len + data_len + 2);
        assert_non_null(frame);
        size_t n = hr_nats_encode_msg_head(frame, subj, sid, reply, hdr.len, data_len);
        assert_true(n <= max);
        if (hdr.len)
            memcpy(frame + n, hdr.ptr, hdr.len);
        for (size_t k = 0; k < data_len; k++)
            frame[n + hdr.len + k] = (char)('a' + k % 26);
        memcpy(frame + n + hdr.len + data_len, "\r\n", 2);
        size_t total = n + hdr.len + data_len + 2;

        char *buf = dup_exact(frame, total);
        struct hr_nats_op op;
        struct hr_nats_parse_result r = hr_nats_parse(buf, total, NULL, &op);
        assert_int_equal(r.status, HR_NATS_OK);
        assert_int_equal(r.consumed, total);
        assert_int_equal(op.kind, hdr.len ? HR_NATS_OP_HMSG : HR_NATS_OP_MSG);
        assert_slice_eq(op.subject, cases[i].subject);
        assert_slice_eq(op.sid, cases[i].sid);
        assert_slice_eq(op.reply, cases[i].reply);
        assert_slice_eq(op.hdr, cases[i].hdr);
        assert_int_equal(op.payload.len, data_len);
        if (data_len)
            assert_memory_equal(op.payload.ptr, frame + n + hdr.len, data_len);
        free(buf);
        free(frame);
    }
}

static void test_error_text(void **state)
{
    (void)state;
    assert_string_equal(hr_nats_error_text(HR_NATS_EUNKNOWN_OP), "Unknown Protocol Operation");
    assert_string_equal(hr_nats_error_text(HR_NATS_EBAD_ARGS), "Parser Error");
    assert_string_equal(hr_nats_error_text(HR_NATS_EMAX_PAYLOAD), "Maximum Payload Violation");
    assert_string_equal(hr_nats_error_text(HR_NATS_EMAX_CONTROL_LINE),
                        "maximum control line exceeded");
    assert_non_null(hr_nats_error_text(HR_NATS_ENONE));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_ops),
        cmocka_unit_test(test_valid_ops_followed_by_more),
        cmocka_unit_test(test_split_every_boundary),
        cmocka_unit_test(test_stream_random_chunks),
        cmocka_unit_test(test_need_reported),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_unknown_fails_at_once),
        cmocka_unit_test(test_max_payload),
        cmocka_unit_test(test_max_control_line),
        cmocka_unit_test(test_binary_payload),
        cmocka_unit_test(test_encode_text),
        cmocka_unit_test(test_encode_roundtrip),
        cmocka_unit_test(test_error_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
