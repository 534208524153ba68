/* SPDX-License-Identifier: Apache-2.0
 *
 * NATS protocol parser and encoders; the contract (P1–P4) is in codec.h.
 *
 * Error behaviour, measured against nats-server 2.9.10:
 *   - an unknown op word, an op that needs arguments but has none (`SUB\r\n`), and a
 *     payload not followed by CRLF (detected at its first wrong byte) all give
 *     'Unknown Protocol Operation'; CONNECT without its JSON is 'Parser Error';
 *   - a wrong number of arguments or a bad size closes silently in nats-server; Herald
 *     reports it as 'Parser Error' (HR_NATS_EBAD_ARGS);
 *   - a size above max_payload gives 'Maximum Payload Violation';
 *   - a control line longer than max_control_line gives 'maximum control line exceeded';
 *   - UNSUB with an unparsable max ignores the max.
 */
#include <string.h>

#include "common/buf.h"
#include "heads/nats/codec.h"

#define MAX_ARGS 5

const char *hr_nats_error_text(enum hr_nats_error err)
{
    switch (err) {
#define X(name, text)         \
    case HR_NATS_E##name:     \
        return text;
        HR_NATS_ERROR_MAP(X)
#undef X
    default:
        return "Parser Error";
    }
}

static const struct op_name {
    const char *name;
    size_t len;
    enum hr_nats_op_kind kind;
    bool needs_args;
} op_names[] = {
    {"PUB", 3, HR_NATS_OP_PUB, true},       {"HPUB", 4, HR_NATS_OP_HPUB, true},
    {"SUB", 3, HR_NATS_OP_SUB, true},       {"UNSUB", 5, HR_NATS_OP_UNSUB, true},
    {"PING", 4, HR_NATS_OP_PING, false},    {"PONG", 4, HR_NATS_OP_PONG, false},
    {"CONNECT", 7, HR_NATS_OP_CONNECT, true}, {"INFO", 4, HR_NATS_OP_INFO, true},
    {"MSG", 3, HR_NATS_OP_MSG, true},       {"HMSG", 4, HR_NATS_OP_HMSG, true},
    {"+OK", 3, HR_NATS_OP_OK, false},       {"-ERR", 4, HR_NATS_OP_ERR, false},
};
#define N_OPS (sizeof op_names / sizeof op_names[0])

static inline bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static inline char upper(char c)
{
    return (c >= 'a' && c <= 'z') ? (char)(c - 32) : c;
}

/* Does any op name start with the (uppercased) n bytes at p? */
static bool op_prefix_ok(const char *p, size_t n)
{
    for (size_t i = 0; i < N_OPS; i++) {
        if (n > op_names[i].len)
            continue;
        size_t k = 0;
        while (k < n && upper(p[k]) == op_names[i].name[k])
            k++;
        if (k == n)
            return true;
    }
    return false;
}

static const struct op_name *op_lookup(const char *p, size_t n)
{
    for (size_t i = 0; i < N_OPS; i++) {
        if (n != op_names[i].len)
            continue;
        size_t k = 0;
        while (k < n && upper(p[k]) == op_names[i].name[k])
            k++;
        if (k == n)
            return &op_names[i];
    }
    return NULL;
}

/* Parses a decimal size; false on empty, non-digit or absurd values. */
static bool parse_size(struct hr_slice s, uint64_t *out)
{
    if (s.len == 0 || s.len > 12)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < s.len; i++) {
        if (s.ptr[i] < '0' || s.ptr[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(s.ptr[i] - '0');
    }
    *out = v;
    return true;
}

static size_t split_args(const char *p, const char *end, struct hr_slice *args, size_t max)
{
    size_t n = 0;
    while (p < end) {
        while (p < end && is_blank(*p))
            p++;
        if (p == end)
            break;
        const char *start = p;
        while (p < end && !is_blank(*p))
            p++;
        if (n == max)
            return max + 1;
        args[n].ptr = start;
        args[n].len = (size_t)(p - start);
        n++;
    }
    return n;
}

static struct hr_nats_parse_result fail(enum hr_nats_error e)
{
    return (struct hr_nats_parse_result){.status = HR_NATS_ERROR, .error = e};
}

static struct hr_nats_parse_result more(size_t need)
{
    return (struct hr_nats_parse_result){.status = HR_NATS_MORE, .need = need};
}

/* Completes an op that carries `total` bytes (hdr + payload) after its control line. */
static struct hr_nats_parse_result with_payload(const char *buf, size_t len, size_t line_end,
                                                uint64_t hdr_len, uint64_t total,
                                                struct hr_nats_op *op)
{
    size_t need = line_end + (size_t)total + 2;
    const char *body = buf + line_end;
    /* Fail on the first wrong byte after the payload, as nats-server does. */
    if (len > line_end + total && body[total] != '\r')
        return fail(HR_NATS_EUNKNOWN_OP);
    if (len < need)
        return more(need);
    if (body[total + 1] != '\n')
        return fail(HR_NATS_EUNKNOWN_OP);
    op->hdr = (struct hr_slice){body, (size_t)hdr_len};
    op->payload = (struct hr_slice){body + hdr_len, (size_t)(total - hdr_len)};
    return (struct hr_nats_parse_result){.status = HR_NATS_OK, .consumed = need};
}

struct hr_nats_parse_result hr_nats_parse(const char *buf, size_t len,
                                          const struct hr_nats_limits *limits,
                                          struct hr_nats_op *op)
{
    size_t max_line = limits && limits->max_control_line ? limits->max_control_line : 4096;
    uint64_t max_payload = limits && limits->max_payload ? limits->max_payload : 1024 * 1024;

    /* 1. The op word, checked as it arrives so garbage fails at once. */
    size_t w = 0;
    while (w < len && w < 8 && !is_blank(buf[w]) && buf[w] != '\r' && buf[w] != '\n')
        w++;
    if (!op_prefix_ok(buf, w))
        return fail(HR_NATS_EUNKNOWN_OP);
    if (w == len)
        return more(0);
    const struct op_name *name = op_lookup(buf, w);
    if (!name)
        return fail(HR_NATS_EUNKNOWN_OP);
    if (name->needs_args && !is_blank(buf[w]))
        return fail(name->kind == HR_NATS_OP_CONNECT ? HR_NATS_EBAD_ARGS : HR_NATS_EUNKNOWN_OP);

    /* 2. The control line. */
    size_t scan = len < max_line + 2 ? len : max_line + 2;
    const char *nl = memchr(buf, '\n', scan);
    if (!nl) {
        if (len > max_line + 1)
            return fail(HR_NATS_EMAX_CONTROL_LINE);
        return more(0);
    }
    size_t line_end = (size_t)(nl - buf) + 1;
    const char *end = nl;
    if (end > buf && end[-1] == '\r')
        end--;
    if ((size_t)(end - buf) > max_line)
        return fail(HR_NATS_EMAX_CONTROL_LINE);

    memset(op, 0, sizeof *op);
    op->kind = name->kind;
    const char *args_start = buf + w;
    struct hr_slice a[MAX_ARGS];
    size_t n;
    uint64_t size, hsize;
    struct hr_nats_parse_result ok = {.status = HR_NATS_OK, .consumed = line_end};

    switch (name->kind) {
    case HR_NATS_OP_PING:
    case HR_NATS_OP_PONG:
    case HR_NATS_OP_OK:
        return ok;
    case HR_NATS_OP_CONNECT:
    case HR_NATS_OP_INFO:
    case HR_NATS_OP_ERR:
        while (args_start < end && is_blank(*args_start))
            args_start++;
        op->arg = (struct hr_slice){args_start, (size_t)(end - args_start)};
        return ok;
    case HR_NATS_OP_SUB:
        n = split_args(args_start, end, a, MAX_ARGS);
        if (n != 2 && n != 3)
            return fail(HR_NATS_EBAD_ARGS);
        op->subject = a[0];
        if (n == 3)
            op->queue = a[1];
        op->sid = a[n - 1];
        return ok;
    case HR_NATS_OP_UNSUB:
        n = split_args(args_start, end, a, MAX_ARGS);
        if (n != 1 && n != 2)
            return fail(HR_NATS_EBAD_ARGS);
        op->sid = a[0];
        if (n == 2 && !parse_size(a[1], &op->max_msgs))
            op->max_msgs = 0;
        return ok;
    case HR_NATS_OP_PUB:
        n = split_args(args_start, end, a, MAX_ARGS);
        if (n != 2 && n != 3)
            return fail(HR_NATS_EBAD_ARGS);
        if (!parse_size(a[n - 1], &size))
            return fail(HR_NATS_EBAD_ARGS);
        if (size > max_payload)
            return fail(HR_NATS_EMAX_PAYLOAD);
        op->subject = a[0];
        if (n == 3)
            op->reply = a[1];
        return with_payload(buf, len, line_end, 0, size, op);
    case HR_NATS_OP_HPUB:
        n = split_args(args_start, end, a, MAX_ARGS);
        if (n != 3 && n != 4)
            return fail(HR_NATS_EBAD_ARGS);
        if (!parse_size(a[n - 2], &hsize) || !parse_size(a[n - 1], &size) || hsize > size)
            return fail(HR_NATS_EBAD_ARGS);
        if (size > max_payload)
            return fail(HR_NATS_EMAX_PAYLOAD);
        op->subject = a[0];
        if (n == 4)
            op->reply = a[1];
        return with_payload(buf, len, line_end, hsize, size, op);
    case HR_NATS_OP_MSG:
        n = split_args(args_start, end, a, MAX_ARGS);
        if (n != 3 && n != 4)
            return fail(HR_NATS_EBAD_ARGS);
        if (!parse_size(a[n - 1], &size))
            return fail(HR_NATS_EBAD_ARGS);
        if (size > max_payload)
            return fail(HR_NATS_EMAX_PAYLOAD);
        op->subject = a[0];
        op->sid = a[1];
        if (n == 4)
            op->reply = a[2];
        return with_payload(buf, len, line_end, 0, size, op);
    case HR_NATS_OP_HMSG:
        n = split_args(args_start, end, a, MAX_ARGS);
        if (n != 4 && n != 5)
            return fail(HR_NATS_EBAD_ARGS);
        if (!parse_size(a[n - 2], &hsize) || !parse_size(a[n - 1], &size) || hsize > size)
            return fail(HR_NATS_EBAD_ARGS);
        if (size > max_payload)
            return fail(HR_NATS_EMAX_PAYLOAD);
        op->subject = a[0];
        op->sid = a[1];
        if (n == 5)
            op->reply = a[2];
        return with_payload(buf, len, line_end, hsize, size, op);
    }
    return fail(HR_NATS_EUNKNOWN_OP);
}

size_t hr_nats_msg_head_max(size_t subject_len, size_t sid_len, size_t reply_len)
{
    /* "HMSG " + subject + " " + sid + " " + reply + " " + 20 + " " + 20 + "\r\n" */
    return 5 + subject_len + 1 + sid_len + 1 + reply_len + 1 + 20 + 1 + 20 + 2;
}

static inline char *put(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

size_t hr_nats_encode_msg_head(char *dst, struct hr_slice subject, struct hr_slice sid,
                               struct hr_slice reply, size_t hdr_len, size_t data_len)
{
    char *p = dst;
    if (hdr_len)
        p = put(p, "HMSG ", 5);
    else
        p = put(p, "MSG ", 4);
    p = put(p, subject.ptr, subject.len);
    *p++ = ' ';
    p = put(p, sid.ptr, sid.len);
    *p++ = ' ';
    if (reply.len) {
        p = put(p, reply.ptr, reply.len);
        *p++ = ' ';
    }
    if (hdr_len) {
        p += hr_fmt_u64(p, hdr_len);
        *p++ = ' ';
    }
    p += hr_fmt_u64(p, hdr_len + data_len);
    *p++ = '\r';
    *p++ = '\n';
    return (size_t)(p - dst);
}
