/* SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer harness for the NATS codec (src/heads/nats/codec.c). Built by `make fuzz`;
 * `make fuzz-smoke` runs it over tests/fuzz/corpus/nats_codec/.
 *
 * For each input, under the default limits and under small limits derived from the input:
 *   F1. The whole input is parsed op after op until MORE or ERROR. Every result obeys P1:
 *       OK has 0 < consumed <= len, every slice inside buf[0..consumed), a control line
 *       ending in LF and, for payload ops, header and payload adjacent, within max_payload
 *       and followed by CRLF; MORE has need 0 or need > len; ERROR names an error.
 *   F2. P4: the input is parsed again with bytes arriving in chunks — split once at a
 *       data-derived point, and in many small data-derived chunks — each call seeing an
 *       exact-size copy of only the bytes that have arrived (so ASan catches a read past
 *       len). The op sequence (kinds, slice offsets, lengths) and the final status, error
 *       and need must equal F1's.
 *   F3. `need` is exact: while a payload op waits for its body, MORE reports the op's
 *       full size; once that many bytes are there, the op completes with consumed == need
 *       or fails; it never asks for more.
 *   F4. Every PUB/HPUB parsed is re-encoded with hr_nats_encode_msg_head() as MSG/HMSG and
 *       parses back to the same subject, reply, header and payload.
 * Any violation aborts (__builtin_trap) so libFuzzer records the input.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "heads/nats/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            __builtin_trap();                                                                      \
    } while (0)

#define N_SLICES 7
/* Inputs are at most a few KiB (-max_len=8192) and every op takes at least 4 bytes. */
#define MAX_OPS 8192

struct flat_op {
    enum hr_nats_op_kind kind;
    size_t off[N_SLICES], len[N_SLICES];
    uint64_t max_msgs;
    size_t end;  /* stream offset just past the op */
    size_t body; /* payload ops: stream offset just past the control line; else 0 */
};

struct run {
    size_t nops;
    struct flat_op ops[MAX_OPS];
    enum hr_nats_status final;
    enum hr_nats_error err;
    size_t need;
};

/* Harness-only scratch (libFuzzer runs one input at a time). */
static struct run whole_run, chunk_run;

static uint64_t hash_bytes(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return h ^ (h >> 29);
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s ? *s : 0x9E3779B97F4A7C15ULL;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static bool is_payload_op(enum hr_nats_op_kind k)
{
    return k == HR_NATS_OP_PUB || k == HR_NATS_OP_HPUB || k == HR_NATS_OP_MSG ||
           k == HR_NATS_OP_HMSG;
}

static void check_slice(struct hr_slice s, const char *buf, size_t consumed)
{
    if (s.len == 0)
        return;
    CHECK(s.ptr != NULL);
    CHECK(s.ptr >= buf);
    CHECK((size_t)(s.ptr - buf) <= consumed);
    CHECK(s.len <= consumed - (size_t)(s.ptr - buf));
}

/* The limits in force; `lim` may be NULL (defaults), as for hr_nats_parse(). */
static size_t eff_max_payload(const struct hr_nats_limits *lim)
{
    return lim && lim->max_payload ? lim->max_payload : 1024 * 1024;
}

static size_t eff_max_line(const struct hr_nats_limits *lim)
{
    return lim && lim->max_control_line ? lim->max_control_line : 4096;
}

/* F1: checks one parse result on buf[0..len). */
static void check_result(const char *buf, size_t len, const struct hr_nats_limits *lim,
                         struct hr_nats_parse_result r, const struct hr_nats_op *op)
{
    switch (r.status) {
    case HR_NATS_OK: {
        CHECK(r.error == HR_NATS_ENONE);
        CHECK(r.consumed > 0 && r.consumed <= len);
        CHECK(op->kind >= HR_NATS_OP_CONNECT && op->kind <= HR_NATS_OP_ERR);
        const struct hr_slice s[N_SLICES] = {op->subject, op->reply, op->queue,  op->sid,
                                             op->arg,     op->hdr,   op->payload};
        for (size_t i = 0; i < N_SLICES; i++)
            check_slice(s[i], buf, r.consumed);
        if (is_payload_op(op->kind)) {
            size_t body = op->hdr.len + op->payload.len;
            CHECK(body <= eff_max_payload(lim));
            CHECK(r.consumed >= body + 2);
            CHECK(buf[r.consumed - 2] == '\r' && buf[r.consumed - 1] == '\n');
            if (op->payload.len)
                CHECK(op->payload.ptr + op->payload.len == buf + r.consumed - 2);
            if (op->hdr.len && op->payload.len)
                CHECK(op->hdr.ptr + op->hdr.len == op->payload.ptr);
            /* The control line ends in LF right before the body. */
            CHECK(buf[r.consumed - body - 3] == '\n');
            CHECK(op->subject.len > 0);
        } else {
            CHECK(buf[r.consumed - 1] == '\n');
            CHECK(r.consumed - 1 <= eff_max_line(lim) + 1);
        }
        if (op->kind == HR_NATS_OP_SUB || op->kind == HR_NATS_OP_UNSUB)
            CHECK(op->sid.len > 0);
        break;
    }
    case HR_NATS_MORE:
        CHECK(r.consumed == 0);
        CHECK(r.need == 0 || r.need > len);
        break;
    case HR_NATS_ERROR:
        CHECK(r.error != HR_NATS_ENONE);
        CHECK(hr_nats_error_text(r.error) != NULL);
        break;
    default:
        CHECK(0);
    }
}

static struct flat_op flatten(const struct hr_nats_op *op, const char *buf, size_t shift,
                              size_t consumed)
{
    struct flat_op f;
    memset(&f, 0, sizeof f);
    const struct hr_slice s[N_SLICES] = {op->subject, op->reply, op->queue,  op->sid,
                                         op->arg,     op->hdr,   op->payload};
    f.kind = op->kind;
    for (size_t i = 0; i < N_SLICES; i++) {
        f.len[i] = s[i].len;
        f.off[i] = s[i].len ? (size_t)(s[i].ptr - buf) + shift : 0;
    }
    f.max_msgs = op->max_msgs;
    f.end = shift + consumed;
    if (is_payload_op(op->kind))
        f.body = f.end - op->hdr.len - op->payload.len - 2;
    return f;
}

/* F4: MSG/HMSG encoded from a parsed PUB/HPUB parse back to the same fields. */
static void check_roundtrip(const struct hr_nats_op *op, const struct hr_nats_limits *lim)
{
    if (op->kind != HR_NATS_OP_PUB && op->kind != HR_NATS_OP_HPUB)
        return;
    static const char sid_text[] = "1";
    struct hr_slice sid = {sid_text, 1};
    size_t head_max = hr_nats_msg_head_max(op->subject.len, sid.len, op->reply.len);
    size_t total = head_max + op->hdr.len + op->payload.len + 2;
    char *frame = malloc(total);
    CHECK(frame != NULL);
    size_t n =
        hr_nats_encode_msg_head(frame, op->subject, sid, op->reply, op->hdr.len, op->payload.len);
    CHECK(n <= head_max);
    if (op->hdr.len)
        memcpy(frame + n, op->hdr.ptr, op->hdr.len);
    if (op->payload.len)
        memcpy(frame + n + op->hdr.len, op->payload.ptr, op->payload.len);
    memcpy(frame + n + op->hdr.len + op->payload.len, "\r\n", 2);
    size_t flen = n + op->hdr.len + op->payload.len + 2;

    char *buf = malloc(flen);
    CHECK(buf != NULL);
    memcpy(buf, frame, flen);
    /* The MSG line is a little longer than the PUB line it came from. */
    struct hr_nats_limits rl = {.max_control_line = n, .max_payload = eff_max_payload(lim)};
    struct hr_nats_op back;
    struct hr_nats_parse_result r = hr_nats_parse(buf, flen, &rl, &back);
    CHECK(r.status == HR_NATS_OK);
    CHECK(r.consumed == flen);
    CHECK(back.kind == (op->hdr.len ? HR_NATS_OP_HMSG : HR_NATS_OP_MSG));
    CHECK(back.subject.len == op->subject.len);
    CHECK(memcmp(back.subject.ptr, op->subject.ptr, op->subject.len) == 0);
    CHECK(back.sid.len == 1 && back.sid.ptr[0] == '1');
    CHECK(back.reply.len == op->reply.len);
    if (op->reply.len)
        CHECK(memcmp(back.reply.ptr, op->reply.ptr, op->reply.len) == 0);
    CHECK(back.hdr.len == op->hdr.len);
    if (op->hdr.len)
        CHECK(memcmp(back.hdr.ptr, op->hdr.ptr, op->hdr.len) == 0);
    CHECK(back.payload.len == op->payload.len);
    if (op->payload.len)
        CHECK(memcmp(back.payload.ptr, op->payload.ptr, op->payload.len) == 0);
    free(buf);
    free(frame);
}

/* F1: parses the whole input op after op. */
static void parse_whole(const char *data, size_t size, const struct hr_nats_limits *lim,
                        struct run *out)
{
    size_t pos = 0;
    out->nops = 0;
    for (;;) {
        struct hr_nats_op op;
        struct hr_nats_parse_result r = hr_nats_parse(data + pos, size - pos, lim, &op);
        check_result(data + pos, size - pos, lim, r, &op);
        if (r.status != HR_NATS_OK) {
            out->final = r.status;
            out->err = r.error;
            out->need = r.need;
            return;
        }
        CHECK(out->nops < MAX_OPS);
        out->ops[out->nops++] = flatten(&op, data + pos, pos, r.consumed);
        check_roundtrip(&op, lim);
        pos += r.consumed;
    }
}

/* F2/F3: parses with bytes arriving at the points in cuts[0..ncuts) (ascending, each
 * <= size), then the rest. `whole` is F1's run over the same input. */
static void parse_chunked(const char *data, size_t size, const struct hr_nats_limits *lim,
                          const size_t *cuts, size_t ncuts, const struct run *whole,
                          struct run *out)
{
    size_t pos = 0, ci = 0;
    size_t avail = ncuts ? cuts[0] : size;
    size_t need_at = SIZE_MAX, need_pos = SIZE_MAX; /* F3: last need reported, and where */
    ci = ncuts ? 1 : 0;
    out->nops = 0;
    for (;;) {
        size_t len = avail - pos;
        char *buf = malloc(len ? len : 1);
        CHECK(buf != NULL);
        if (len)
            memcpy(buf, data + pos, len);
        struct hr_nats_op op;
        struct hr_nats_parse_result r = hr_nats_parse(buf, len, lim, &op);
        check_result(buf, len, lim, r, &op);
        if (need_pos == pos && len >= need_at) {
            CHECK(r.status != HR_NATS_MORE);
            if (r.status == HR_NATS_OK)
                CHECK(r.consumed == need_at);
        }
        if (r.status == HR_NATS_OK) {
            CHECK(out->nops < MAX_OPS);
            out->ops[out->nops++] = flatten(&op, buf, pos, r.consumed);
            pos += r.consumed;
            free(buf);
            continue;
        }
        free(buf);
        /* F3: once a payload op's control line is in, MORE reports exactly its size. */
        if (r.status == HR_NATS_MORE && out->nops < whole->nops) {
            const struct flat_op *w = &whole->ops[out->nops];
            if (w->body && avail >= w->body)
                CHECK(r.need == w->end - pos);
        }
        if (r.status == HR_NATS_MORE && avail < size) {
            if (r.need) {
                need_at = r.need;
                need_pos = pos;
            }
            avail = ci < ncuts ? cuts[ci++] : size;
            continue;
        }
        out->final = r.status;
        out->err = r.error;
        out->need = r.need;
        return;
    }
}

static void check_same(const struct run *a, const struct run *b)
{
    CHECK(a->nops == b->nops);
    for (size_t i = 0; i < a->nops; i++) {
        const struct flat_op *x = &a->ops[i], *y = &b->ops[i];
        CHECK(x->kind == y->kind);
        CHECK(x->max_msgs == y->max_msgs);
        CHECK(x->end == y->end && x->body == y->body);
        for (size_t k = 0; k < N_SLICES; k++)
            CHECK(x->off[k] == y->off[k] && x->len[k] == y->len[k]);
    }
    CHECK(a->final == b->final);
    CHECK(a->err == b->err);
    CHECK(a->need == b->need);
}

#define MAX_CUTS 1024

static void run_with_limits(const char *data, size_t size, const struct hr_nats_limits *lim,
                            uint64_t h)
{
    static size_t cuts[MAX_CUTS];
    parse_whole(data, size, lim, &whole_run);

    /* One split at a data-derived point. */
    cuts[0] = (size_t)(h % (size + 1));
    parse_chunked(data, size, lim, cuts, 1, &whole_run, &chunk_run);
    check_same(&whole_run, &chunk_run);

    /* Many small chunks. */
    uint64_t s = h;
    size_t n = 0, at = 0, max_step = 1 + (size_t)(h >> 40) % 32;
    while (n < MAX_CUTS) {
        at += 1 + (size_t)(rng_next(&s) % max_step);
        if (at >= size)
            break;
        cuts[n++] = at;
    }
    parse_chunked(data, size, lim, cuts, n, &whole_run, &chunk_run);
    check_same(&whole_run, &chunk_run);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy: the fuzzer's buffer is exact too, but be explicit. */
    char *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    if (size)
        memcpy(buf, data, size);
    uint64_t h = hash_bytes(data, size);

    const struct hr_nats_limits defaults = {0, 0};
    run_with_limits(buf, size, &defaults, h);
    run_with_limits(buf, size, NULL, h ^ 0x5555);

    const struct hr_nats_limits small = {
        .max_control_line = 1 + (size_t)((h >> 8) % 64),
        .max_payload = 1 + (size_t)((h >> 16) % 128),
    };
    run_with_limits(buf, size, &small, h * 31);

    free(buf);
    return 0;
}
