/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_js.c - herald-bench's JetStream modes, on the thin client of bench_proto.c:
 *   jspub      publish --msgs messages to stream --stream (created when missing), each with
 *              its own reply inbox, --window PubAcks outstanding; counts acknowledged messages
 *   fill       the same, used to bring a stream up to --prefill messages (reported as jspub)
 *   directget  --msgs $JS.API.DIRECT.GET.<stream> {"seq":N} requests, --window outstanding,
 *              over a stream (allow_direct) holding at least --prefill messages
 *   pull       --members connections share one durable pull consumer (ack explicit) and
 *              consume the first --msgs messages of a stream holding at least that many:
 *              CONSUMER.MSG.NEXT {"batch":--batch,"expires":…}, one request outstanding per
 *              member, re-requested when its batch completes; every message acked
 *   push       one durable push consumer (deliver_subject, ack explicit) consumes --msgs
 *              stored messages; every message acked
 *   jslatency  publish to a fresh stream at --rate msg/s with PubAcks (window --window)
 *              while a push consumer receives and acks; publish -> delivery latency
 *
 * Contract:
 *   - Stream names come from --stream; a stream's only subject is hbs.<name>.  Streams are
 *     file streams.  jspub/jslatency delete their stream afterwards unless --keep-stream;
 *     directget/pull/push keep theirs (so repetitions reuse the fill) and delete the
 *     consumers they create.  Fills write payload sequence = stream sequence - 1, which the
 *     readers check (a stream with gaps is refused).
 *   - Checked, not just counted: every PubAck must name the stream and the expected
 *     sequence (base + i + 1) and carry no "error"; every DIRECT.GET answer must be the
 *     requested message; every consumed message 0..M-1 must arrive exactly once and be acked;
 *     after a consumer run, CONSUMER.INFO must show the ack floor at >= M (pull: and nothing
 *     pending).  A JetStream API error is reported with the server's answer.
 *   - Steady state does no allocation and no syscall per message: frames are appended to
 *     the connection's staging buffer from the parser callback and flushed once per read.
 *   - Nothing waits past bench_deadline_ns; no progress for 5 s is an error with the counts.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "bench_common.h"
#include "bench_proto.h"

#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define JS_STALL_NS 5000000000LL
#define CTL_TIMEOUT_MS 5000

static inline void put_u64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static inline uint64_t get_u64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static int aborted(void) { return atomic_load_explicit(&bench_abort, memory_order_relaxed); }
static int deadline_passed(void) { return bench_deadline_ns && bench_now_ns() > bench_deadline_ns; }

static uint64_t run_token(void)
{
    static uint64_t t;
    if (!t)
        t = ((uint64_t)getpid() << 20) ^ (uint64_t)(bench_now_ns() % 1000003);
    return t;
}

static int connect_js(bconn *c, const bopts *o, size_t rcap, size_t wcap, bresult *r,
                      const char *what)
{
    char err[256];
    if (bc_connect(c, o->host, o->port, rcap, wcap, err, sizeof err) < 0) {
        bench_set_error(r, "%s: %s", what, err);
        return -1;
    }
    if (!r->server_version[0]) {
        snprintf(r->server_version, sizeof r->server_version, "%s", c->server_version);
        snprintf(r->server_name, sizeof r->server_name, "%s", c->server_name);
    }
    return 0;
}

/* Parses decimal digits at p[0..n); returns the count of digits used (0 = none). */
static size_t parse_dec(const char *p, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    size_t i = 0;
    while (i < n && i < 20 && p[i] >= '0' && p[i] <= '9')
        v = v * 10 + (uint64_t)(p[i++] - '0');
    *out = v;
    return i;
}

/* HMSG status code ("NATS/1.0 408 Request Timeout"), 0 when none. */
static int hdr_status(const bconn *c)
{
    if (!c->hdr || c->hdr_len < 12 || memcmp(c->hdr, "NATS/1.0 ", 9) != 0)
        return 0;
    uint64_t v;
    if (parse_dec((const char *)c->hdr + 9, 3, &v) != 3)
        return 0;
    return (int)v;
}

/* Status line without CR/LF for messages. */
static void hdr_line(const bconn *c, char *out, size_t cap)
{
    size_t n = 0;
    if (c->hdr)
        while (n < c->hdr_len && n + 1 < cap && c->hdr[n] != '\r' && c->hdr[n] != '\n')
            n++;
    memcpy(out, c->hdr ? (const char *)c->hdr : "", n);
    out[n] = 0;
}

/* --- tiny JSON readers (API answers) ---------------------------------------------------- */

/* Value of the first "key": number at or after `from`; 0 found, -1 not. */
static int jnum(const char *s, size_t n, const char *key, int64_t *out)
{
    char pat[64];
    int pl = snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = memmem(s, n, pat, (size_t)pl);
    if (!p)
        return -1;
    p += pl;
    const char *e = s + n;
    while (p < e && *p == ' ')
        p++;
    int neg = 0;
    if (p < e && *p == '-') {
        neg = 1;
        p++;
    }
    uint64_t v;
    if (!parse_dec(p, (size_t)(e - p), &v))
        return -1;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return 0;
}

static int jhas_error(const char *s, size_t n) { return memmem(s, n, "\"error\"", 7) != NULL; }

/* --- control connection: synchronous JetStream API calls -------------------------------- */

typedef struct {
    bconn c;
    char inbox[64];
    size_t inbox_len;
    uint64_t n; /* requests sent */
    int got;
    int status;
    char resp[32768];
    size_t resp_len;
} jsctl;

static void on_ctl_msg(bconn *c, const char *subj, size_t sl, const char *reply, size_t rl,
                       const uint8_t *pl, size_t len)
{
    (void)reply, (void)rl;
    jsctl *x = c->ud;
    uint64_t k;
    if (sl <= x->inbox_len || memcmp(subj, x->inbox, x->inbox_len) != 0 ||
        parse_dec(subj + x->inbox_len, sl - x->inbox_len, &k) != sl - x->inbox_len || k != x->n)
        return; /* a late answer to an earlier request */
    x->status = hdr_status(c);
    size_t m = len < sizeof x->resp - 1 ? len : sizeof x->resp - 1;
    memcpy(x->resp, pl, m);
    x->resp[m] = 0;
    x->resp_len = m;
    x->got = 1;
}

static int ctl_open(jsctl *x, const bopts *o, bresult *r)
{
    if (connect_js(&x->c, o, 1u << 20, 1u << 16, r, "control connection") < 0)
        return -1;
    x->c.ud = x;
    x->c.on_msg = on_ctl_msg;
    x->inbox_len = (size_t)snprintf(x->inbox, sizeof x->inbox, "_INBOX.hbc%" PRIx64 ".",
                                    run_token());
    char sub[80];
    snprintf(sub, sizeof sub, "%s*", x->inbox);
    bc_out_sub(&x->c, sub, NULL, 1);
    if (bc_roundtrip(&x->c) < 0) {
        bench_set_error(r, "control subscribe: %s", x->c.err);
        return -1;
    }
    return 0;
}

/* Sends `body` to `subj` and waits for the answer (x->resp). 0 answered, -1 error (r set). */
static int js_call(jsctl *x, bresult *r, const char *subj, const char *body)
{
    char line[512];
    size_t bl = strlen(body);
    x->n++;
    x->got = 0;
    int hl = snprintf(line, sizeof line, "PUB %s %s%" PRIu64 " %zu\r\n", subj, x->inbox, x->n, bl);
    bc_out_raw(&x->c, line, (size_t)hl);
    bc_out_raw(&x->c, body, bl);
    bc_out_raw(&x->c, "\r\n", 2);
    if (bc_out_flush(&x->c) < 0) {
        bench_set_error(r, "%s: %s", subj, x->c.err);
        return -1;
    }
    int64_t until = bench_now_ns() + (int64_t)CTL_TIMEOUT_MS * 1000000;
    while (!x->got) {
        if (x->c.failed || bench_now_ns() > until || deadline_passed()) {
            bench_set_error(r, "%s: %s", subj,
                            x->c.failed ? x->c.err : "no answer within 5 s");
            return -1;
        }
        int ev = bc_poll(&x->c, POLLIN, 20);
        if (ev < 0 || (ev && bc_read_once(&x->c) < 0)) {
            bench_set_error(r, "%s: %s", subj, x->c.err);
            return -1;
        }
    }
    return 0;
}

static void api_error(bresult *r, const char *what, const jsctl *x)
{
    bench_set_error(r, "%s: %.400s", what, x->resp);
}

/* STREAM.INFO: 1 exists (msgs/last set), 0 not found, -1 error. */
static int stream_info(jsctl *x, bresult *r, const char *name, uint64_t *msgs, uint64_t *last)
{
    char subj[160];
    snprintf(subj, sizeof subj, "$JS.API.STREAM.INFO.%s", name);
    if (js_call(x, r, subj, "") < 0)
        return -1;
    int64_t code = 0;
    if (jhas_error(x->resp, x->resp_len)) {
        if (jnum(x->resp, x->resp_len, "err_code", &code) == 0 && code == 10059)
            return 0;
        if (jnum(x->resp, x->resp_len, "code", &code) == 0 && code == 404)
            return 0;
        api_error(r, "STREAM.INFO", x);
        return -1;
    }
    int64_t m = 0, l = 0;
    const char *st = memmem(x->resp, x->resp_len, "\"state\"", 7);
    if (!st || jnum(st, x->resp_len - (size_t)(st - x->resp), "messages", &m) < 0 ||
        jnum(st, x->resp_len - (size_t)(st - x->resp), "last_seq", &l) < 0) {
        api_error(r, "STREAM.INFO answer without state", x);
        return -1;
    }
    *msgs = (uint64_t)m;
    *last = (uint64_t)l;
    return 1;
}

static int stream_create(jsctl *x, bresult *r, const char *name, int allow_direct)
{
    char subj[160], body[512];
    snprintf(subj, sizeof subj, "$JS.API.STREAM.CREATE.%s", name);
    snprintf(body, sizeof body,
             "{\"name\":\"%s\",\"subjects\":[\"hbs.%s\"],\"storage\":\"file\",\"retention\":"
             "\"limits\",\"discard\":\"old\",\"num_replicas\":1%s}",
             name, name, allow_direct ? ",\"allow_direct\":true" : "");
    if (js_call(x, r, subj, body) < 0)
        return -1;
    if (jhas_error(x->resp, x->resp_len)) {
        api_error(r, "STREAM.CREATE", x);
        return -1;
    }
    return 0;
}

static int stream_delete(jsctl *x, bresult *r, const char *name)
{
    char subj[160];
    snprintf(subj, sizeof subj, "$JS.API.STREAM.DELETE.%s", name);
    if (js_call(x, r, subj, "") < 0)
        return -1;
    if (jhas_error(x->resp, x->resp_len)) {
        api_error(r, "STREAM.DELETE", x);
        return -1;
    }
    return 0;
}

/* Info or create; fresh = delete an existing one first. */
static int stream_ensure(jsctl *x, bresult *r, const char *name, int allow_direct, int fresh,
                         uint64_t *msgs, uint64_t *last)
{
    int e = stream_info(x, r, name, msgs, last);
    if (e < 0)
        return -1;
    if (e == 1 && fresh) {
        if (stream_delete(x, r, name) < 0)
            return -1;
        e = 0;
    }
    if (e == 0) {
        if (stream_create(x, r, name, allow_direct) < 0)
            return -1;
        if (stream_info(x, r, name, msgs, last) != 1) {
            if (!r->error[0])
                bench_set_error(r, "stream %s not found right after STREAM.CREATE", name);
            return -1;
        }
    }
    return 0;
}

static int consumer_create(jsctl *x, bresult *r, const char *stream, const char *name,
                           const char *deliver_subject, int64_t max_ack_pending)
{
    char subj[200], body[768], ds[160] = "";
    snprintf(subj, sizeof subj, "$JS.API.CONSUMER.DURABLE.CREATE.%s.%s", stream, name);
    if (deliver_subject)
        snprintf(ds, sizeof ds, ",\"deliver_subject\":\"%s\"", deliver_subject);
    snprintf(body, sizeof body,
             "{\"stream_name\":\"%s\",\"config\":{\"durable_name\":\"%s\",\"deliver_policy\":"
             "\"all\",\"ack_policy\":\"explicit\",\"max_ack_pending\":%" PRId64 "%s}}",
             stream, name, max_ack_pending, ds);
    if (js_call(x, r, subj, body) < 0)
        return -1;
    if (jhas_error(x->resp, x->resp_len)) {
        api_error(r, "CONSUMER.DURABLE.CREATE", x);
        return -1;
    }
    return 0;
}

static void consumer_delete(jsctl *x, const char *stream, const char *name)
{
    char subj[200];
    bresult scratch;
    memset(&scratch, 0, sizeof scratch);
    snprintf(subj, sizeof subj, "$JS.API.CONSUMER.DELETE.%s.%s", stream, name);
    (void)js_call(x, &scratch, subj, "");
}

/* After a consumer run: the ack floor must reach `floor` (and, when `exact`, nothing may be
 * pending).  Acks are fire-and-forget, so this polls CONSUMER.INFO for up to 3 s. */
static int consumer_verify(jsctl *x, bresult *r, const char *stream, const char *name,
                           uint64_t floor, int exact)
{
    char subj[200];
    snprintf(subj, sizeof subj, "$JS.API.CONSUMER.INFO.%s.%s", stream, name);
    int64_t until = bench_now_ns() + 3000000000LL;
    int64_t af = -1, pend = -1;
    for (;;) {
        if (js_call(x, r, subj, "") < 0)
            return -1;
        if (jhas_error(x->resp, x->resp_len)) {
            api_error(r, "CONSUMER.INFO", x);
            return -1;
        }
        const char *a = memmem(x->resp, x->resp_len, "\"ack_floor\"", 11);
        af = pend = -1;
        if (a)
            jnum(a, x->resp_len - (size_t)(a - x->resp), "stream_seq", &af);
        jnum(x->resp, x->resp_len, "num_ack_pending", &pend);
        if (af >= (int64_t)floor && (!exact || pend == 0))
            return 0;
        if (bench_now_ns() > until)
            break;
        usleep(20000);
    }
    bench_set_error(r, "consumer %s after the run: ack_floor.stream_seq %" PRId64
                       " (want >= %" PRIu64 "), num_ack_pending %" PRId64
                       "%s — acks lost or not applied",
                    name, af, floor, pend, exact ? " (want 0)" : "");
    return -1;
}

/* --- publishing with PubAcks ----------------------------------------------------------- */

typedef struct {
    bconn c;
    char subj[96];
    size_t subj_len;
    char inbox[64]; /* "_INBOX.hbp<token>." + message index */
    size_t inbox_len;
    uint8_t *payload;
    size_t size;
    uint64_t total, sent, acked;
    uint64_t base_seq;     /* stream last_seq before: ack i must carry base_seq + i + 1 */
    uint64_t payload_base; /* payload sequence of message i */
    uint64_t window;
    int refill;            /* send the next message from the ack callback */
    int stamp;             /* put a CLOCK_MONOTONIC timestamp at payload + 8 */
    uint64_t errors, dups, bad, mismatch;
    uint64_t mm_idx, mm_got;
    char first_err[240];
    uint8_t *seen;
    char stream_name[64];
} jspub;

static void jp_send_one(jspub *p)
{
    bconn *c = &p->c;
    bc_out_reserve(c, p->subj_len + p->inbox_len + p->size + 64);
    uint8_t *w = c->wbuf + c->wlen;
    memcpy(w, "PUB ", 4);
    w += 4;
    memcpy(w, p->subj, p->subj_len);
    w += p->subj_len;
    *w++ = ' ';
    memcpy(w, p->inbox, p->inbox_len);
    w += p->inbox_len;
    w += bench_u64toa((char *)w, p->sent);
    *w++ = ' ';
    w += bench_u64toa((char *)w, p->size);
    *w++ = '\r';
    *w++ = '\n';
    if (p->size >= 8)
        put_u64(p->payload, p->payload_base + p->sent);
    if (p->stamp && p->size >= 16)
        put_u64(p->payload + 8, (uint64_t)bench_now_ns());
    memcpy(w, p->payload, p->size);
    w += p->size;
    *w++ = '\r';
    *w++ = '\n';
    c->wlen = (size_t)(w - c->wbuf);
    p->sent++;
}

static void on_puback(bconn *c, const char *subj, size_t sl, const char *reply, size_t rl,
                      const uint8_t *pl, size_t len)
{
    (void)reply, (void)rl;
    jspub *p = c->ud;
    uint64_t idx;
    if (sl <= p->inbox_len || memcmp(subj, p->inbox, p->inbox_len) != 0 ||
        parse_dec(subj + p->inbox_len, sl - p->inbox_len, &idx) != sl - p->inbox_len ||
        idx >= p->sent) {
        p->bad++;
        return;
    }
    uint8_t bit = (uint8_t)(1u << (idx & 7));
    if (p->seen[idx >> 3] & bit) {
        p->dups++;
        return;
    }
    p->seen[idx >> 3] |= bit;
    const char *s = (const char *)pl;
    if (len == 0 || jhas_error(s, len)) {
        if (p->errors++ == 0) {
            if (len == 0) {
                char h[160];
                hdr_line(c, h, sizeof h);
                snprintf(p->first_err, sizeof p->first_err, "empty answer (%s)",
                         h[0] ? h : "no status; no stream on the subject?");
            } else {
                snprintf(p->first_err, sizeof p->first_err, "%.*s", (int)(len > 230 ? 230 : len), s);
            }
        }
    } else {
        int64_t seq = -1;
        if (jnum(s, len, "seq", &seq) < 0 || (uint64_t)seq != p->base_seq + idx + 1) {
            if (p->mismatch++ == 0) {
                p->mm_idx = idx;
                p->mm_got = (uint64_t)seq;
            }
        }
    }
    p->acked++;
    if (p->refill && p->sent < p->total)
        jp_send_one(p);
}

static int jp_init(jspub *p, const bopts *o, bresult *r, const char *stream, uint64_t total,
                   uint64_t base_seq, uint64_t window, size_t size)
{
    memset(p, 0, sizeof *p);
    p->c.fd = -1;
    p->size = size;
    p->total = total;
    p->base_seq = base_seq;
    p->payload_base = base_seq;
    p->window = window ? window : 1;
    p->refill = 1;
    snprintf(p->stream_name, sizeof p->stream_name, "%s", stream);
    p->subj_len = (size_t)snprintf(p->subj, sizeof p->subj, "hbs.%s", stream);
    p->inbox_len = (size_t)snprintf(p->inbox, sizeof p->inbox, "_INBOX.hbp%" PRIx64 ".",
                                    run_token());
    p->payload = malloc(size + 16);
    p->seen = calloc((size_t)(total / 8 + 1), 1);
    if (!p->payload || !p->seen) {
        bench_set_error(r, "out of memory");
        return -1;
    }
    for (size_t k = 0; k < size; k++)
        p->payload[k] = (uint8_t)('a' + k % 26);
    size_t wcap = (size_t)p->window * (size + 160) + 4096;
    if (connect_js(&p->c, o, o->read_bytes, wcap, r, "publisher") < 0)
        return -1;
    p->c.ud = p;
    p->c.on_msg = on_puback;
    char sub[80];
    snprintf(sub, sizeof sub, "%s*", p->inbox);
    bc_out_sub(&p->c, sub, NULL, 1);
    if (bc_roundtrip(&p->c) < 0) {
        bench_set_error(r, "publisher subscribe: %s", p->c.err);
        return -1;
    }
    return 0;
}

static void jp_free(jspub *p)
{
    if (p->c.rbuf)
        bc_close(&p->c);
    free(p->payload);
    free(p->seen);
    p->payload = NULL;
    p->seen = NULL;
}

/* Checks after a publish run; 0 clean, -1 with r->error set. */
static int jp_check(jspub *p, bresult *r)
{
    if (p->errors) {
        bench_set_error(r, "%" PRIu64 " of %" PRIu64 " PubAcks were errors; first: %s",
                        p->errors, p->acked, p->first_err);
        return -1;
    }
    if (p->bad || p->dups) {
        bench_set_error(r, "PubAcks: %" PRIu64 " on unknown inboxes, %" PRIu64 " duplicates",
                        p->bad, p->dups);
        return -1;
    }
    if (p->mismatch) {
        bench_set_error(r, "%" PRIu64 " PubAcks with an unexpected stream sequence; first: "
                           "message %" PRIu64 " acked with seq %" PRId64 ", expected %" PRIu64,
                        p->mismatch, p->mm_idx, (int64_t)p->mm_got,
                        p->base_seq + p->mm_idx + 1);
        return -1;
    }
    return 0;
}

/* Publishes p->total messages keeping p->window unacknowledged; returns when all are acked. */
static int jp_run(jspub *p, bresult *r)
{
    bconn *c = &p->c;
    while (p->sent < p->total && p->sent < p->window)
        jp_send_one(p);
    if (bc_out_flush(c) < 0) {
        bench_set_error(r, "publisher: %s", c->err);
        return -1;
    }
    uint64_t last = 0;
    int64_t last_progress = bench_now_ns();
    while (p->acked < p->total) {
        if (aborted()) {
            bench_set_error(r, "aborted");
            return -1;
        }
        short ev = POLLIN;
        if (c->wlen > c->woff)
            ev |= POLLOUT;
        int re = bc_poll(c, ev, 20);
        if (re < 0 || ((re & (POLLIN | POLLHUP)) && bc_read_once(c) < 0) ||
            ((re & POLLOUT) && bc_out_try(c) < 0)) {
            bench_set_error(r, "publisher: %s (sent %" PRIu64 ", acked %" PRIu64 ")", c->err,
                            p->sent, p->acked);
            return -1;
        }
        int64_t now = bench_now_ns();
        if (p->acked != last) {
            last = p->acked;
            last_progress = now;
        } else if (now - last_progress > JS_STALL_NS) {
            bench_set_error(r, "no PubAck for 5 s: %" PRIu64 " of %" PRIu64 " acknowledged "
                               "(%" PRIu64 " sent, window %" PRIu64 ")",
                            p->acked, p->total, p->sent, p->window);
            return -1;
        }
        if (bench_deadline_ns && now > bench_deadline_ns) {
            bench_set_error(r, "deadline exceeded: %" PRIu64 " of %" PRIu64 " acknowledged",
                            p->acked, p->total);
            return -1;
        }
    }
    return jp_check(p, r);
}

/* Brings stream `name` up to `need` messages (payload seq = stream seq - 1), unmeasured. */
static int stream_prefill(jsctl *x, const bopts *o, bresult *r, const char *name,
                          int allow_direct, uint64_t need, uint64_t *msgs_out)
{
    uint64_t msgs = 0, last = 0;
    if (stream_ensure(x, r, name, allow_direct, 0, &msgs, &last) < 0)
        return -1;
    if (allow_direct && !memmem(x->resp, x->resp_len, "\"allow_direct\":true", 19)) {
        bench_set_error(r, "stream %s exists without allow_direct (created by another mode?); "
                           "delete it", name);
        return -1;
    }
    if (msgs != last) {
        bench_set_error(r, "stream %s holds %" PRIu64 " messages but its last sequence is %"
                           PRIu64 " (not filled by herald-bench?); delete it",
                        name, msgs, last);
        return -1;
    }
    if (msgs < need) {
        jspub p;
        int64_t t0 = bench_now_ns();
        int rc = jp_init(&p, o, r, name, need - msgs, last, 1024, o->size);
        if (rc == 0)
            rc = jp_run(&p, r);
        jp_free(&p);
        if (rc < 0) {
            char e[sizeof r->error];
            snprintf(e, sizeof e, "%s", r->error);
            bench_set_error(r, "filling stream %s to %" PRIu64 " messages: %s", name, need, e);
            return -1;
        }
        r->prefilled = need - msgs;
        r->prefill_s = (double)(bench_now_ns() - t0) / 1e9;
        if (stream_info(x, r, name, &msgs, &last) != 1)
            return -1;
        if (msgs < need) {
            bench_set_error(r, "stream %s holds %" PRIu64 " messages after filling to %" PRIu64,
                            name, msgs, need);
            return -1;
        }
    }
    *msgs_out = msgs;
    return 0;
}

static void note_stream(jsctl *x, bresult *r, const char *name)
{
    uint64_t m, l;
    bresult scratch;
    memset(&scratch, 0, sizeof scratch);
    if (stream_info(x, &scratch, name, &m, &l) == 1) {
        r->has_stream = 1;
        r->stream_msgs = m;
        r->stream_last_seq = l;
    }
}

/* --- mode: jspub / fill -------------------------------------------------------------------- */

static int run_jspub(const bopts *o, bresult *r, jsctl *x)
{
    uint64_t msgs = 0, last = 0;
    int keep = o->keep_stream || o->mode == MODE_JSFILL;
    int fresh = !keep;
    /* fill makes streams the readers accept (directget needs allow_direct) */
    if (stream_ensure(x, r, o->stream, o->mode == MODE_JSFILL, fresh, &msgs, &last) < 0)
        return -1;
    uint64_t total = o->msgs;
    if (o->mode == MODE_JSFILL) {
        if (msgs >= o->prefill) {
            r->has_stream = 1;
            r->stream_msgs = msgs;
            r->stream_last_seq = last;
            return 0;
        }
        total = o->prefill - msgs;
    }
    jspub *p = calloc(1, sizeof *p);
    if (!p) {
        bench_set_error(r, "out of memory");
        return -1;
    }
    int rc = jp_init(p, o, r, o->stream, total, last, (uint64_t)o->window, o->size);
    r->window_msgs = (uint64_t)o->window;
    if (rc == 0) {
        bmeasure m;
        bench_measure_begin(o, &m);
        rc = jp_run(p, r);
        bench_measure_end(o, &m, r);
        r->sent = p->sent;
        r->recv = p->acked;
        r->msgs = p->acked;
    }
    jp_free(p);
    free(p);
    if (rc == 0) {
        note_stream(x, r, o->stream);
        if (!r->has_stream || r->stream_last_seq != last + total) {
            bench_set_error(r, "stream %s: last sequence %" PRIu64 " after publishing %" PRIu64
                               " onto %" PRIu64, o->stream, r->stream_last_seq, total, last);
            rc = -1;
        }
    }
    if (!keep) {
        bresult scratch;
        memset(&scratch, 0, sizeof scratch);
        stream_delete(x, &scratch, o->stream);
    }
    return rc;
}

/* --- mode: directget ------------------------------------------------------------------- */

typedef struct {
    bconn c;
    char req[128];
    size_t req_len;
    char inbox[64];
    size_t inbox_len;
    uint64_t total, sent, recv, range;
    size_t size;
    uint64_t dups, bad, notfound, wrong;
    char first_err[200];
    uint8_t *seen;
} dget;

static uint64_t dg_seq(uint64_t i, uint64_t range)
{
    uint64_t z = i + 0x9e3779b97f4a7c15ULL; /* splitmix64 */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return z % range + 1;
}

static void dg_send_one(dget *d)
{
    bconn *c = &d->c;
    char body[40];
    memcpy(body, "{\"seq\":", 7);
    size_t bl = 7 + bench_u64toa(body + 7, dg_seq(d->sent, d->range));
    body[bl++] = '}';
    bc_out_reserve(c, d->req_len + d->inbox_len + bl + 64);
    uint8_t *w = c->wbuf + c->wlen;
    memcpy(w, "PUB ", 4);
    w += 4;
    memcpy(w, d->req, d->req_len);
    w += d->req_len;
    *w++ = ' ';
    memcpy(w, d->inbox, d->inbox_len);
    w += d->inbox_len;
    w += bench_u64toa((char *)w, d->sent);
    *w++ = ' ';
    w += bench_u64toa((char *)w, bl);
    *w++ = '\r';
    *w++ = '\n';
    memcpy(w, body, bl);
    w += bl;
    *w++ = '\r';
    *w++ = '\n';
    c->wlen = (size_t)(w - c->wbuf);
    d->sent++;
}

static void on_dget(bconn *c, const char *subj, size_t sl, const char *reply, size_t rl,
                    const uint8_t *pl, size_t len)
{
    (void)reply, (void)rl;
    dget *d = c->ud;
    uint64_t idx;
    if (sl <= d->inbox_len || memcmp(subj, d->inbox, d->inbox_len) != 0 ||
        parse_dec(subj + d->inbox_len, sl - d->inbox_len, &idx) != sl - d->inbox_len ||
        idx >= d->sent) {
        d->bad++;
        return;
    }
    uint8_t bit = (uint8_t)(1u << (idx & 7));
    if (d->seen[idx >> 3] & bit) {
        d->dups++;
        return;
    }
    d->seen[idx >> 3] |= bit;
    uint64_t want = dg_seq(idx, d->range);
    int st = hdr_status(c);
    if (st || !c->hdr) {
        if (d->notfound++ == 0) {
            char h[120];
            hdr_line(c, h, sizeof h);
            snprintf(d->first_err, sizeof d->first_err, "seq %" PRIu64 ": %s%s%.*s", want,
                     h[0] ? h : "no headers", len ? " body: " : "", (int)(len > 80 ? 80 : len),
                     (const char *)pl);
        }
    } else if (len != d->size || (len >= 8 && get_u64(pl) != want - 1)) {
        if (d->wrong++ == 0)
            snprintf(d->first_err, sizeof d->first_err,
                     "seq %" PRIu64 ": %zu-byte body (want %zu), payload seq %" PRIu64, want, len,
                     d->size, len >= 8 ? get_u64(pl) + 1 : 0);
    }
    d->recv++;
    if (d->sent < d->total)
        dg_send_one(d);
}

static int run_directget(const bopts *o, bresult *r, jsctl *x)
{
    uint64_t have = 0;
    if (stream_prefill(x, o, r, o->stream, 1, o->prefill, &have) < 0)
        return -1;
    dget *d = calloc(1, sizeof *d);
    int rc = -1;
    if (!d || !(d->seen = calloc((size_t)(o->msgs / 8 + 1), 1))) {
        bench_set_error(r, "out of memory");
        goto out;
    }
    d->c.fd = -1;
    d->total = o->msgs;
    d->range = o->prefill;
    d->size = o->size;
    d->req_len = (size_t)snprintf(d->req, sizeof d->req, "$JS.API.DIRECT.GET.%s", o->stream);
    d->inbox_len = (size_t)snprintf(d->inbox, sizeof d->inbox, "_INBOX.hbd%" PRIx64 ".",
                                    run_token());
    if (connect_js(&d->c, o, o->read_bytes, (size_t)o->window * 200 + 4096, r, "requester") < 0)
        goto out;
    d->c.ud = d;
    d->c.on_msg = on_dget;
    char sub[80];
    snprintf(sub, sizeof sub, "%s*", d->inbox);
    bc_out_sub(&d->c, sub, NULL, 1);
    if (bc_roundtrip(&d->c) < 0) {
        bench_set_error(r, "subscribe: %s", d->c.err);
        goto out;
    }
    r->window_msgs = (uint64_t)o->window;
    bmeasure m;
    bench_measure_begin(o, &m);
    for (int i = 0; i < o->window && d->sent < d->total; i++)
        dg_send_one(d);
    int qrc = bc_out_flush(&d->c);
    uint64_t last = 0;
    int64_t last_progress = bench_now_ns();
    while (qrc == 0 && d->recv < d->total) {
        short ev = POLLIN;
        if (d->c.wlen > d->c.woff)
            ev |= POLLOUT;
        int re = bc_poll(&d->c, ev, 20);
        if (re < 0 || ((re & (POLLIN | POLLHUP)) && bc_read_once(&d->c) < 0) ||
            ((re & POLLOUT) && bc_out_try(&d->c) < 0)) {
            qrc = -1;
            break;
        }
        int64_t now = bench_now_ns();
        if (d->recv != last) {
            last = d->recv;
            last_progress = now;
        }
        if (now - last_progress > JS_STALL_NS || (bench_deadline_ns && now > bench_deadline_ns)) {
            bc_fail(&d->c, "%s: %" PRIu64 " of %" PRIu64 " answered",
                    now - last_progress > JS_STALL_NS ? "no answer for 5 s" : "deadline exceeded",
                    d->recv, d->total);
            qrc = -1;
        }
    }
    bench_measure_end(o, &m, r);
    r->sent = d->sent;
    r->recv = d->recv;
    r->msgs = d->recv;
    if (qrc < 0)
        bench_set_error(r, "requester: %s", d->c.err);
    else if (d->notfound)
        bench_set_error(r, "%" PRIu64 " DIRECT.GET answers were statuses, not messages; first: %s",
                        d->notfound, d->first_err);
    else if (d->wrong)
        bench_set_error(r, "%" PRIu64 " DIRECT.GET answers with the wrong message; first: %s",
                        d->wrong, d->first_err);
    else if (d->bad || d->dups)
        bench_set_error(r, "%" PRIu64 " answers on unknown inboxes, %" PRIu64 " duplicates",
                        d->bad, d->dups);
    else
        rc = 0;
    note_stream(x, r, o->stream);
out:
    if (d) {
        if (d->c.rbuf)
            bc_close(&d->c);
        free(d->seen);
    }
    free(d);
    return rc;
}

/* --- consumers: shared receive state ------------------------------------------------------ */

typedef struct cgroup cgroup;

typedef struct {
    bconn c;
    cgroup *g;
    int idx;
    char inbox[64];
    size_t inbox_len;
    int outstanding;    /* pull: a request is open */
    uint64_t req_batch; /* its size */
    uint64_t req_got;   /* messages received for it */
    uint64_t count;
    uint64_t requests;
} cmember;

struct cgroup {
    char next[200]; /* $JS.API.CONSUMER.MSG.NEXT.<s>.<c> */
    size_t next_len;
    uint64_t total, requested, received, in_range;
    uint64_t batch;
    int64_t expires_ns;
    size_t size;
    uint8_t *seen;
    uint64_t dups, bad, extra, statuses_408, statuses_other;
    int failed;
    char err[300];
    /* jslatency */
    uint32_t *lat_ns;
    uint64_t warm;
};

static void cg_fail(cgroup *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cg_fail(cgroup *g, const char *fmt, ...)
{
    if (g->failed)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g->err, sizeof g->err, fmt, ap);
    va_end(ap);
    g->failed = 1;
}

static void pull_request(cmember *mb)
{
    cgroup *g = mb->g;
    uint64_t n = g->total - g->requested;
    if (n > g->batch)
        n = g->batch;
    if (n == 0)
        return;
    char body[96];
    int bl = snprintf(body, sizeof body, "{\"batch\":%" PRIu64 ",\"expires\":%" PRId64 "}", n,
                      g->expires_ns);
    bconn *c = &mb->c;
    bc_out_reserve(c, g->next_len + mb->inbox_len + (size_t)bl + 40);
    uint8_t *w = c->wbuf + c->wlen;
    memcpy(w, "PUB ", 4);
    w += 4;
    memcpy(w, g->next, g->next_len);
    w += g->next_len;
    *w++ = ' ';
    memcpy(w, mb->inbox, mb->inbox_len);
    w += mb->inbox_len;
    *w++ = ' ';
    w += bench_u64toa((char *)w, (uint64_t)bl);
    *w++ = '\r';
    *w++ = '\n';
    memcpy(w, body, (size_t)bl);
    w += bl;
    *w++ = '\r';
    *w++ = '\n';
    c->wlen = (size_t)(w - c->wbuf);
    g->requested += n;
    mb->req_batch = n;
    mb->req_got = 0;
    mb->outstanding = 1;
    mb->requests++;
}

static inline void send_ack(bconn *c, const char *reply, size_t rl)
{
    bc_out_reserve(c, rl + 16);
    uint8_t *w = c->wbuf + c->wlen;
    memcpy(w, "PUB ", 4);
    w += 4;
    memcpy(w, reply, rl);
    w += rl;
    memcpy(w, " 0\r\n\r\n", 6);
    w += 6;
    c->wlen = (size_t)(w - c->wbuf);
}

/* Counts a consumed message (payload seq in 0..total-1 expected exactly once). */
static inline void cg_count(cgroup *g, const uint8_t *pl, size_t len)
{
    if (len != g->size || len < 8) {
        g->bad++;
        return;
    }
    uint64_t seq = get_u64(pl);
    if (seq >= g->total) {
        g->extra++;
        return;
    }
    uint8_t bit = (uint8_t)(1u << (seq & 7));
    if (g->seen[seq >> 3] & bit) {
        g->dups++;
        return;
    }
    g->seen[seq >> 3] |= bit;
    g->in_range++;
}

static void on_pull_msg(bconn *c, const char *subj, size_t sl, const char *reply, size_t rl,
                        const uint8_t *pl, size_t len)
{
    (void)subj, (void)sl;
    cmember *mb = c->ud;
    cgroup *g = mb->g;
    if (rl == 0) { /* a status on our inbox */
        int st = hdr_status(c);
        if (st == 100)
            return; /* heartbeat */
        if (st == 408 || st == 404) {
            /* the request ended short: give its unfilled part back */
            if (mb->outstanding) {
                g->requested -= mb->req_batch - mb->req_got;
                mb->outstanding = 0;
            }
            if (st == 408)
                g->statuses_408++;
            else
                g->statuses_other++;
            if (g->requested < g->total)
                pull_request(mb);
            return;
        }
        char h[160];
        hdr_line(c, h, sizeof h);
        cg_fail(g, "member %d: unexpected status on the pull inbox: '%s' (after %" PRIu64
                   " of %" PRIu64 " messages)", mb->idx, h[0] ? h : "(no headers)",
                g->received, g->total);
        return;
    }
    send_ack(c, reply, rl);
    cg_count(g, pl, len);
    g->received++;
    mb->count++;
    if (!mb->outstanding) {
        if (g->bad++ == 0)
            cg_fail(g, "member %d received a message with no request open", mb->idx);
        return;
    }
    if (++mb->req_got == mb->req_batch) {
        mb->outstanding = 0;
        if (g->requested < g->total)
            pull_request(mb);
    }
}

static void on_push_msg(bconn *c, const char *subj, size_t sl, const char *reply, size_t rl,
                        const uint8_t *pl, size_t len)
{
    (void)subj, (void)sl;
    cmember *mb = c->ud;
    cgroup *g = mb->g;
    if (rl == 0) {
        int st = hdr_status(c);
        if (st == 100)
            return;
        char h[160];
        hdr_line(c, h, sizeof h);
        cg_fail(g, "push consumer: unexpected message without reply subject: '%s'",
                h[0] ? h : "(no headers)");
        return;
    }
    send_ack(c, reply, rl);
    cg_count(g, pl, len);
    g->received++;
    mb->count++;
}

static int cg_check(cgroup *g, bresult *r)
{
    if (g->failed) {
        bench_set_error(r, "%s", g->err);
        return -1;
    }
    if (g->bad) {
        bench_set_error(r, "%" PRIu64 " messages with a wrong size or outside a request", g->bad);
        return -1;
    }
    if (g->dups) {
        bench_set_error(r, "%" PRIu64 " messages delivered twice (redeliveries?)", g->dups);
        return -1;
    }
    if (g->in_range != g->total) {
        bench_set_error(r, "consumed %" PRIu64 " of %" PRIu64 " distinct messages", g->in_range,
                        g->total);
        return -1;
    }
    return 0;
}

/* Drives all members until the group has consumed g->total distinct messages. */
static int cg_loop(cmember *mb, int n, cgroup *g, bresult *r)
{
    struct pollfd pfd[64];
    uint64_t last = 0;
    int64_t last_progress = bench_now_ns();
    while (g->in_range < g->total && !g->failed) {
        for (int i = 0; i < n; i++) {
            pfd[i].fd = mb[i].c.fd;
            pfd[i].events = POLLIN | (mb[i].c.wlen > mb[i].c.woff ? POLLOUT : 0);
            pfd[i].revents = 0;
        }
        if (poll(pfd, (nfds_t)n, 20) < 0) {
            bench_set_error(r, "poll failed");
            return -1;
        }
        for (int i = 0; i < n; i++) {
            bconn *c = &mb[i].c;
            if ((pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) && bc_read_once(c) < 0) {
                bench_set_error(r, "member %d: %s (consumed %" PRIu64 " of %" PRIu64 ")", i,
                                c->err, g->in_range, g->total);
                return -1;
            }
            if (c->wlen > c->woff && bc_out_try(c) < 0) {
                bench_set_error(r, "member %d: %s", i, c->err);
                return -1;
            }
        }
        int64_t now = bench_now_ns();
        if (g->received != last) {
            last = g->received;
            last_progress = now;
        }
        if (now - last_progress > JS_STALL_NS ||
                   (bench_deadline_ns && now > bench_deadline_ns)) {
            char open[160] = "";
            size_t ol = 0;
            for (int i = 0; i < n && ol < sizeof open - 40; i++)
                ol += (size_t)snprintf(open + ol, sizeof open - ol, "%s%d:%s%" PRIu64 "/%" PRIu64,
                                       i ? " " : "", i, mb[i].outstanding ? "open " : "idle ",
                                       mb[i].req_got, mb[i].req_batch);
            bench_set_error(r, "%s: consumed %" PRIu64 " of %" PRIu64 " (received %" PRIu64
                               ", requested %" PRIu64 "; member requests %s)",
                            now - last_progress > JS_STALL_NS ? "no message for 5 s"
                                                              : "deadline exceeded",
                            g->in_range, g->total, g->received, g->requested, open);
            return -1;
        }
    }
    if (g->failed) {
        bench_set_error(r, "%s", g->err);
        return -1;
    }
    /* acks of the last messages out, and a round trip so the server has read them */
    for (int i = 0; i < n; i++) {
        if (bc_roundtrip(&mb[i].c) < 0) {
            bench_set_error(r, "member %d: final round trip: %s", i, mb[i].c.err);
            return -1;
        }
    }
    return 0;
}

static int run_consumer(const bopts *o, bresult *r, jsctl *x, int push)
{
    uint64_t have = 0;
    if (stream_prefill(x, o, r, o->stream, 1, o->msgs, &have) < 0)
        return -1;
    int n = push ? 1 : o->members;
    if (n > 64)
        n = 64;
    cgroup g;
    memset(&g, 0, sizeof g);
    cmember *mb = calloc((size_t)n, sizeof *mb);
    int rc = -1, created = 0;
    char cname[64], deliver[80];
    snprintf(cname, sizeof cname, "hb%s%" PRIx64, push ? "push" : "pull", run_token());
    snprintf(deliver, sizeof deliver, "_INBOX.hbdl%" PRIx64, run_token());
    g.total = o->msgs;
    g.batch = (uint64_t)o->batch;
    g.expires_ns = 5000000000LL;
    g.size = o->size;
    g.seen = calloc((size_t)(o->msgs / 8 + 1), 1);
    if (!mb || !g.seen) {
        bench_set_error(r, "out of memory");
        goto out;
    }
    g.next_len = (size_t)snprintf(g.next, sizeof g.next, "$JS.API.CONSUMER.MSG.NEXT.%s.%s",
                                  o->stream, cname);
    for (int i = 0; i < n; i++)
        mb[i].c.fd = -1;
    for (int i = 0; i < n; i++) {
        cmember *m = &mb[i];
        /* acks go out on this connection: room for a read's worth of them */
        if (connect_js(&m->c, o, o->read_bytes, 1u << 20, r, push ? "consumer" : "member") < 0)
            goto out;
        m->g = &g;
        m->idx = i;
        m->c.ud = m;
        m->c.on_msg = push ? on_push_msg : on_pull_msg;
        m->inbox_len = (size_t)snprintf(m->inbox, sizeof m->inbox, "_INBOX.hbq%" PRIx64 ".%d",
                                        run_token(), i);
        bc_out_sub(&m->c, push ? deliver : m->inbox, NULL, 1);
        if (bc_roundtrip(&m->c) < 0) {
            bench_set_error(r, "subscribe: %s", m->c.err);
            goto out;
        }
    }
    int64_t map = o->max_ack_pending ? o->max_ack_pending : (push ? 10000 : -1);
    bmeasure m;
    if (!push) {
        if (consumer_create(x, r, o->stream, cname, NULL, map) < 0)
            goto out;
        created = 1;
        bench_measure_begin(o, &m);
        for (int i = 0; i < n; i++) {
            pull_request(&mb[i]);
            if (bc_out_flush(&mb[i].c) < 0) {
                bench_set_error(r, "member %d: %s", i, mb[i].c.err);
                goto out;
            }
        }
    } else {
        bench_measure_begin(o, &m); /* delivery starts with the create */
        if (consumer_create(x, r, o->stream, cname, deliver, map) < 0)
            goto out;
        created = 1;
    }
    int lrc = cg_loop(mb, n, &g, r);
    bench_measure_end(o, &m, r);
    r->sent = 0;
    r->recv = g.received;
    r->msgs = g.in_range;
    r->window_msgs = push ? (uint64_t)map : g.batch * (uint64_t)n;
    if (lrc < 0)
        goto out;
    if (cg_check(&g, r) < 0)
        goto out;
    if (consumer_verify(x, r, o->stream, cname, g.total, !push) < 0)
        goto out;
    if (getenv("HERALD_BENCH_DEBUG")) {
        for (int i = 0; i < n; i++)
            fprintf(stderr, "member %d: %" PRIu64 " msgs, %" PRIu64 " requests\n", i,
                    mb[i].count, mb[i].requests);
        fprintf(stderr, "408 statuses %" PRIu64 ", other %" PRIu64 ", extra %" PRIu64 "\n",
                g.statuses_408, g.statuses_other, g.extra);
    }
    rc = 0;
out:
    if (created)
        consumer_delete(x, o->stream, cname);
    note_stream(x, r, o->stream);
    for (int i = 0; mb && i < n; i++)
        if (mb[i].c.rbuf)
            bc_close(&mb[i].c);
    free(mb);
    free(g.seen);
    return rc;
}

/* --- mode: jslatency ------------------------------------------------------------------------ */

typedef struct {
    cmember mb;
    cgroup g;
    atomic_int pub_done;
    atomic_int stop;
    int rc;
    char err[400];
} latcons;

static void on_lat_msg(bconn *c, const char *subj, size_t sl, const char *reply, size_t rl,
                       const uint8_t *pl, size_t len)
{
    (void)subj, (void)sl;
    cmember *mb = c->ud;
    cgroup *g = mb->g;
    int64_t now = bench_now_ns();
    if (rl == 0) {
        if (hdr_status(c) == 100)
            return;
        char h[160];
        hdr_line(c, h, sizeof h);
        cg_fail(g, "push consumer: unexpected message without reply subject: '%s'",
                h[0] ? h : "(no headers)");
        return;
    }
    send_ack(c, reply, rl);
    g->received++;
    if (len != g->size || len < 16) {
        g->bad++;
        return;
    }
    uint64_t seq = get_u64(pl);
    if (seq >= g->total) {
        g->extra++;
        return;
    }
    uint8_t bit = (uint8_t)(1u << (seq & 7));
    if (g->seen[seq >> 3] & bit) {
        g->dups++;
        return;
    }
    g->seen[seq >> 3] |= bit;
    g->in_range++;
    if (seq < g->warm)
        return;
    int64_t d = now - (int64_t)get_u64(pl + 8);
    if (d < 0)
        d = 0;
    if (d > (int64_t)UINT32_MAX)
        d = UINT32_MAX;
    g->lat_ns[seq - g->warm] = (uint32_t)d;
}

static void *latcons_main(void *arg)
{
    latcons *L = arg;
    bconn *c = &L->mb.c;
    cgroup *g = &L->g;
    int64_t cpu0 = bench_thread_cpu_ns();
    int64_t last_progress = bench_now_ns();
    uint64_t last = 0;
    while (g->in_range < g->total && !g->failed && !atomic_load(&L->stop)) {
        if (aborted()) {
            snprintf(L->err, sizeof L->err, "aborted");
            L->rc = -1;
            break;
        }
        short ev = POLLIN;
        if (c->wlen > c->woff)
            ev |= POLLOUT;
        int re = bc_poll(c, ev, 20);
        if (re < 0 || ((re & (POLLIN | POLLHUP)) && bc_read_once(c) < 0) ||
            ((re & POLLOUT) && bc_out_try(c) < 0)) {
            snprintf(L->err, sizeof L->err, "consumer: %s", c->err);
            L->rc = -1;
            break;
        }
        int64_t now = bench_now_ns();
        if (g->in_range != last) {
            last = g->in_range;
            last_progress = now;
        } else if (atomic_load(&L->pub_done) && now - last_progress > JS_STALL_NS) {
            snprintf(L->err, sizeof L->err, "consumer received %" PRIu64 " of %" PRIu64
                     " (no delivery for 5 s after the publisher finished)", g->in_range, g->total);
            L->rc = -1;
            break;
        }
        if (deadline_passed()) {
            snprintf(L->err, sizeof L->err, "deadline exceeded: consumer received %" PRIu64
                     " of %" PRIu64, g->in_range, g->total);
            L->rc = -1;
            break;
        }
    }
    if (g->failed && !L->rc) {
        snprintf(L->err, sizeof L->err, "%s", g->err);
        L->rc = -1;
    }
    if (L->rc == 0 && c->wlen > c->woff)
        bc_out_flush(c);
    if (L->rc < 0)
        atomic_store(&bench_abort, 1);
    bench_thread_cpu_done(cpu0);
    return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static double pct_us(const uint32_t *v, uint64_t n, double q)
{
    uint64_t k = (uint64_t)ceil(q * (double)n);
    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    return v[k - 1] / 1000.0;
}

static int run_jslatency(const bopts *o, bresult *r, jsctl *x)
{
    if (o->size < 16) {
        bench_set_error(r, "jslatency needs --size >= 16 (sequence + timestamp)");
        return -1;
    }
    uint64_t msgs = 0, last = 0;
    if (stream_ensure(x, r, o->stream, 0, 1, &msgs, &last) < 0)
        return -1;
    latcons *L = calloc(1, sizeof *L);
    jspub *p = calloc(1, sizeof *p);
    int rc = -1, started = 0, created = 0;
    pthread_t th;
    char cname[64], deliver[80];
    snprintf(cname, sizeof cname, "hblat%" PRIx64, run_token());
    snprintf(deliver, sizeof deliver, "_INBOX.hbdl%" PRIx64, run_token());
    if (!L || !p) {
        bench_set_error(r, "out of memory");
        goto out;
    }
    cgroup *g = &L->g;
    g->warm = (uint64_t)(o->warmup * o->rate);
    g->total = g->warm + (uint64_t)(o->duration * o->rate);
    g->size = o->size;
    if (g->total <= g->warm) {
        bench_set_error(r, "jslatency: nothing to measure (rate x duration < 1)");
        goto out;
    }
    g->seen = calloc((size_t)(g->total / 8 + 1), 1);
    g->lat_ns = calloc((size_t)(g->total - g->warm), sizeof *g->lat_ns);
    L->mb.c.fd = -1;
    if (!g->seen || !g->lat_ns) {
        bench_set_error(r, "out of memory");
        goto out;
    }
    if (connect_js(&L->mb.c, o, o->read_bytes, 1u << 20, r, "consumer") < 0)
        goto out;
    L->mb.g = g;
    L->mb.c.ud = &L->mb;
    L->mb.c.on_msg = on_lat_msg;
    bc_out_sub(&L->mb.c, deliver, NULL, 1);
    if (bc_roundtrip(&L->mb.c) < 0) {
        bench_set_error(r, "consumer subscribe: %s", L->mb.c.err);
        goto out;
    }
    if (consumer_create(x, r, o->stream, cname, deliver,
                        o->max_ack_pending ? o->max_ack_pending : 10000) < 0)
        goto out;
    created = 1;
    if (jp_init(p, o, r, o->stream, g->total, last, (uint64_t)o->window, o->size) < 0)
        goto out;
    p->refill = 0;
    p->stamp = 1;
    r->window_msgs = (uint64_t)o->window;
    if (pthread_create(&th, NULL, latcons_main, L) != 0) {
        bench_set_error(r, "pthread_create failed");
        goto out;
    }
    started = 1;

    bmeasure m;
    bench_measure_begin(o, &m);
    double interval = 1e9 / o->rate;
    int64_t t_start = bench_now_ns() + 1000000, t_first = 0, t_last = 0;
    int prc = 0;
    uint64_t window_waits = 0;
    bconn *pc = &p->c;
    for (uint64_t i = 0; i < g->total && prc == 0; i++) {
        int64_t due = t_start + (int64_t)((double)i * interval);
        int64_t now = bench_now_ns();
        if (now < due) {
            struct timespec ts = {.tv_sec = due / 1000000000LL, .tv_nsec = due % 1000000000LL};
            while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0) {
            }
        }
        /* PubAcks that arrived meanwhile; wait when the window is full */
        if (bc_drain(pc, 4) < 0) {
            prc = -1;
            break;
        }
        while (p->sent - p->acked >= p->window) {
            window_waits++;
            if (aborted() || deadline_passed()) {
                bc_fail(pc, "deadline exceeded with %" PRIu64 " PubAcks outstanding",
                        p->sent - p->acked);
                prc = -1;
                break;
            }
            int ev = bc_poll(pc, POLLIN, 20);
            if (ev < 0 || (ev && bc_read_once(pc) < 0)) {
                prc = -1;
                break;
            }
        }
        if (prc < 0 || aborted() || deadline_passed()) {
            if (prc == 0)
                bc_fail(pc, "aborted / deadline exceeded while publishing");
            prc = -1;
            break;
        }
        jp_send_one(p); /* stamps the payload */
        now = bench_now_ns();
        if (i == 0)
            t_first = now;
        t_last = now;
        if (bc_out_flush(pc) < 0) {
            prc = -1;
            break;
        }
    }
    /* the remaining PubAcks */
    if (prc == 0) {
        int64_t lp = bench_now_ns();
        uint64_t la = p->acked;
        while (p->acked < p->total) {
            int ev = bc_poll(pc, POLLIN, 20);
            if (ev < 0 || (ev && bc_read_once(pc) < 0)) {
                prc = -1;
                break;
            }
            int64_t now = bench_now_ns();
            if (p->acked != la) {
                la = p->acked;
                lp = now;
            }
            if (now - lp > JS_STALL_NS || deadline_passed()) {
                bc_fail(pc, "%" PRIu64 " of %" PRIu64 " PubAcks after publishing", p->acked,
                        p->total);
                prc = -1;
                break;
            }
        }
    }
    if (prc < 0)
        atomic_store(&bench_abort, 1);
    atomic_store(&L->pub_done, 1);
    pthread_join(th, NULL);
    started = 0;
    bench_measure_end(o, &m, r);
    r->sent = p->sent;
    r->recv = g->in_range;
    r->msgs = g->in_range;
    if (t_last > t_first)
        r->achieved_rate = (double)(g->total - 1) / ((double)(t_last - t_first) / 1e9);
    if (getenv("HERALD_BENCH_DEBUG"))
        fprintf(stderr, "jslatency: %" PRIu64 " waits for a full PubAck window\n", window_waits);
    if (prc < 0)
        bench_set_error(r, "publisher: %s (sent %" PRIu64 ", acked %" PRIu64 ")", pc->err,
                        p->sent, p->acked);
    else if (jp_check(p, r) < 0)
        ;
    else if (L->rc < 0)
        bench_set_error(r, "%s", L->err);
    else if (g->bad || g->dups)
        bench_set_error(r, "consumer: %" PRIu64 " malformed, %" PRIu64 " duplicate deliveries",
                        g->bad, g->dups);
    else if (consumer_verify(x, r, o->stream, cname, g->total, 1) < 0)
        ;
    else {
        uint64_t n = g->total - g->warm;
        qsort(g->lat_ns, (size_t)n, sizeof *g->lat_ns, cmp_u32);
        double sum = 0;
        for (uint64_t i = 0; i < n; i++)
            sum += g->lat_ns[i];
        r->has_lat = 1;
        r->lat_samples = n;
        r->lat_p50_us = pct_us(g->lat_ns, n, 0.50);
        r->lat_p90_us = pct_us(g->lat_ns, n, 0.90);
        r->lat_p99_us = pct_us(g->lat_ns, n, 0.99);
        r->lat_p999_us = pct_us(g->lat_ns, n, 0.999);
        r->lat_max_us = g->lat_ns[n - 1] / 1000.0;
        r->lat_mean_us = sum / (double)n / 1000.0;
        rc = 0;
    }
out:
    if (started) {
        atomic_store(&L->stop, 1);
        atomic_store(&bench_abort, 1);
        pthread_join(th, NULL);
    }
    if (created)
        consumer_delete(x, o->stream, cname);
    if (!o->keep_stream) {
        bresult scratch;
        memset(&scratch, 0, sizeof scratch);
        stream_delete(x, &scratch, o->stream);
    }
    if (p)
        jp_free(p);
    if (L) {
        if (L->mb.c.rbuf)
            bc_close(&L->mb.c);
        free(L->g.seen);
        free(L->g.lat_ns);
    }
    free(p);
    free(L);
    return rc;
}

/* --- entry ------------------------------------------------------------------------------ */

int bench_run_js(const bopts *o, bresult *r)
{
    if (!o->stream[0]) {
        bench_set_error(r, "--stream is required for the JetStream modes");
        return -1;
    }
    if ((o->mode == MODE_DIRECTGET || o->mode == MODE_PULL || o->mode == MODE_PUSH) &&
        o->size < 8) {
        bench_set_error(r, "--size must be >= 8 (the payload carries its sequence)");
        return -1;
    }
    jsctl *x = calloc(1, sizeof *x);
    if (!x) {
        bench_set_error(r, "out of memory");
        return -1;
    }
    x->c.fd = -1;
    int rc = -1;
    if (ctl_open(x, o, r) == 0) {
        switch (o->mode) {
        case MODE_JSPUB:
        case MODE_JSFILL: rc = run_jspub(o, r, x); break;
        case MODE_DIRECTGET: rc = run_directget(o, r, x); break;
        case MODE_PULL: rc = run_consumer(o, r, x, 0); break;
        case MODE_PUSH: rc = run_consumer(o, r, x, 1); break;
        case MODE_JSLATENCY: rc = run_jslatency(o, r, x); break;
        default: bench_set_error(r, "not a JetStream mode"); break;
        }
    }
    if (x->c.rbuf)
        bc_close(&x->c);
    free(x);
    return rc;
}
