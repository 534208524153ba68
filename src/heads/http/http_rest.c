/* SPDX-License-Identifier: Apache-2.0
 *
 * The REST API under /v1 (docs/http-api.md). Every route maps onto the same engine calls
 * as the NATS head: publishing is herald_publish() with a reply inbox for the PubAck,
 * administration and pulling are JetStream API requests, acks are publishes to the ack
 * subject. So the model, the limits and the errors are the same on both heads.
 *
 *   POST   /v1/publish/{subject}                      publish (Nats-*, ce-* headers kept)
 *   POST   /v1/publish                                NDJSON batch {"subject","data","headers"}
 *   GET    /v1/streams                                list
 *   PUT    /v1/streams/{s}  GET  DELETE               create or update / info / delete
 *   POST   /v1/streams/{s}/purge                      {"filter","seq","keep"}
 *   GET    /v1/streams/{s}/messages?start_seq=&limit= range read (replay), paged
 *   GET    /v1/streams/{s}/messages/{seq}  DELETE     one message
 *   GET    /v1/streams/{s}/subjects/{subject}         the last message on a subject
 *   GET    /v1/streams/{s}/consumers                  list
 *   PUT    /v1/streams/{s}/consumers/{c}  GET  DELETE create or update / info / delete
 *   POST   /v1/streams/{s}/consumers/{c}/fetch?batch=&wait=   long-poll
 *   POST   /v1/streams/{s}/consumers/{c}/ack          {"ack_id"|"ack_ids","type","delay"}
 *   GET    /v1/streams/{s}/consumers/{c}/events       the consumer as Server-Sent Events
 *   GET    /v1/events?subject=&stream=&from=           Server-Sent Events (http_sse.c)
 *   GET    /v1/kv/{b}            GET PUT DELETE /v1/kv/{b}/{key}   GET /v1/kv/{b}/{key}/history
 *   POST   /v1/request/{subject}?timeout=             request/reply bridge
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/base64.h"
#include "common/buf.h"
#include "common/natshdr.h"
#include "common/subject.h"
#include "heads/http/http.h"
#include "herald/stream.h"
#include "server/server.h"

#define SEG_MAX 256
#define MAX_SEGS 8
#define RANGE_LIMIT_MAX 1000
#define FETCH_WAIT_MAX_MS 60000

/* ---- small helpers ---------------------------------------------------------------------- */

struct route {
    char seg[MAX_SEGS][SEG_MAX + 1];
    size_t n;
};

static bool split_path(struct hr_slice path, struct route *r)
{
    struct hr_slice rest = path, seg;
    r->n = 0;
    while (hr_http_path_next(&rest, &seg)) {
        if (r->n == MAX_SEGS)
            return false;
        size_t len;
        if (hr_http_url_decode(seg, r->seg[r->n], SEG_MAX, 0, &len) != HR_HTTP_ENONE)
            return false;
        r->seg[r->n][len] = '\0';
        r->n++;
    }
    if (r->n && r->seg[r->n - 1][0] == '\0')
        r->n--; /* a trailing slash */
    return true;
}

static bool is(const struct route *r, size_t i, const char *s)
{
    return i < r->n && strcmp(r->seg[i], s) == 0;
}

/* A query parameter, decoded into out (NUL-terminated); false when absent or bad. */
static bool query(const struct hr_http_request *req, const char *name, char *out, size_t cap)
{
    struct hr_slice v;
    size_t len;
    if (!hr_http_query_get(req->query, name, &v) ||
        hr_http_url_decode(v, out, cap - 1, HR_HTTP_DECODE_PLUS, &len) != HR_HTTP_ENONE)
        return false;
    out[len] = '\0';
    return true;
}

/* "30s", "500ms", "2m" or plain seconds, to ms; -1 when malformed. */
static int64_t parse_duration_ms(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || v < 0)
        return -1;
    if (!*end || strcmp(end, "s") == 0)
        return (int64_t)(v * 1000);
    if (strcmp(end, "ms") == 0)
        return (int64_t)v;
    if (strcmp(end, "m") == 0)
        return (int64_t)(v * 60000);
    return -1;
}

static bool parse_u64(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || *end || s[0] == '-')
        return false;
    *out = v;
    return true;
}

static json_t *parse_body(struct hr_http_client *h, const char *body, size_t len)
{
    json_error_t jerr;
    json_t *o = len ? json_loadb(body, len, 0, &jerr) : json_object();
    if (!json_is_object(o)) {
        json_decref(o);
        char msg[256];
        snprintf(msg, sizeof msg, "invalid JSON: %s", len ? jerr.text : "empty body");
        hr_http_error(h, 400, 10025, msg);
        return NULL;
    }
    return o;
}

json_t *hr_http_msg_json(const char *subject, size_t subject_len, uint64_t seq, int64_t ts_ns,
                         const char *hdr, size_t hdr_len, const char *data, size_t data_len)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "subject", json_stringn(subject, subject_len));
    if (seq)
        json_object_set_new(o, "seq", json_integer((json_int_t)seq));
    if (ts_ns) {
        char ts[64];
        time_t sec = (time_t)(ts_ns / 1000000000LL);
        struct tm tm;
        gmtime_r(&sec, &tm);
        snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 (long long)(ts_ns % 1000000000LL));
        json_object_set_new(o, "time", json_string(ts));
    }
    if (hdr_len > 8) { /* NATS/1.0 fields as an object (the last value of a repeated key) */
        json_t *headers = json_object();
        const char *p = memchr(hdr, '\n', hdr_len), *end = hdr + hdr_len;
        while (headers && p && ++p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            const char *le = nl ? nl : end;
            const char *ve = le > p && le[-1] == '\r' ? le - 1 : le;
            const char *colon = memchr(p, ':', (size_t)(ve - p));
            if (colon) {
                char key[256];
                size_t kl = (size_t)(colon - p) < sizeof key - 1 ? (size_t)(colon - p) : sizeof key - 1;
                memcpy(key, p, kl);
                key[kl] = '\0';
                const char *v = colon + 1;
                while (v < ve && *v == ' ')
                    v++;
                json_t *jv = json_stringn(v, (size_t)(ve - v));
                if (jv)
                    json_object_set_new(headers, key, jv);
            }
            p = nl;
        }
        if (headers && json_object_size(headers))
            json_object_set_new(o, "headers", headers);
        else
            json_decref(headers);
    }
    json_t *text = data_len ? json_stringn(data, data_len) : json_string("");
    if (text && !memchr(data ? data : "", '\0', data_len)) {
        json_object_set_new(o, "data", text);
    } else {
        json_decref(text);
        char *b = hr_base64_encode(data ? data : "", data_len);
        json_object_set_new(o, "data", json_string(b ? b : ""));
        json_object_set_new(o, "data_encoding", json_string("base64"));
        free(b);
    }
    return o;
}

/* Nats-* and ce-* request headers become message headers (plus CloudEvents attributes). */
static int headers_from_request(const struct hr_http_request *req, struct hr_buf *hdr, json_t *ce)
{
    bool any = false;
    hr_hdr_begin(hdr, 0, NULL);
    for (size_t i = 0; i < req->n_headers; i++) {
        const struct hr_http_header *f = &req->headers[i];
        if ((f->name.len > 5 && strncasecmp(f->name.ptr, "Nats-", 5) == 0) ||
            (f->name.len > 3 && strncasecmp(f->name.ptr, "ce-", 3) == 0) ||
            (f->name.len > 7 && strncasecmp(f->name.ptr, "Herald-", 7) == 0)) {
            char name[128];
            size_t nl = f->name.len < sizeof name ? f->name.len : sizeof name - 1;
            memcpy(name, f->name.ptr, nl);
            name[nl] = '\0';
            if (hr_hdr_add(hdr, name, f->value.ptr, f->value.len))
                return -1;
            any = true;
        }
    }
    const char *key;
    json_t *v;
    json_object_foreach(ce, key, v) {
        if (!json_is_string(v) || strcmp(key, "data") == 0 || strcmp(key, "data_base64") == 0)
            continue;
        char name[160];
        snprintf(name, sizeof name, "ce-%s", key);
        if (hr_hdr_add(hdr, name, json_string_value(v), json_string_length(v)))
            return -1;
        any = true;
    }
    hr_hdr_end(hdr);
    return any ? 1 : 0;
}

/* ---- publish ------------------------------------------------------------------------------- */

static int puback_status(json_t *ack)
{
    json_t *err = json_object_get(ack, "error");
    if (!err)
        return 200;
    int code = (int)json_integer_value(json_object_get(err, "err_code"));
    if (code == 10071 || code == 10070 || code == 10060)
        return 409; /* an expectation failed: the event-sourcing conflict */
    if (code == 10054)
        return 413;
    int s = (int)json_integer_value(json_object_get(err, "code"));
    return s >= 400 && s <= 599 ? s : 500;
}

static void on_puback(void *ctx, struct herald_sub *sub, const struct herald_msg *msg)
{
    struct hr_http_client *h = ctx;
    (void)sub;
    if (h->phase != HR_HTTP_WAITING)
        return;
    json_error_t jerr;
    json_t *o = json_loadb(msg->data, msg->data_len, 0, &jerr);
    if (h->wait == HR_WAIT_PUBACK) {
        hr_http_wait_end(h);
        if (!o) {
            hr_http_error(h, 502, 0, "unreadable PubAck");
            return;
        }
        int status = puback_status(o);
        json_t *err = json_object_get(o, "error");
        if (err) /* the error's code is the HTTP status, as in every other error body */
            json_object_set_new(err, "code", json_integer(status));
        hr_http_respond_json(h, status, o);
        return;
    }
    /* a batch: collect until every PubAck is in */
    if (!h->acc)
        h->acc = json_array();
    json_array_append_new(h->acc, o ? o : json_null());
    if (++h->received >= h->expected) {
        json_t *acks = json_incref(h->acc);
        hr_http_wait_end(h);
        hr_http_respond_json(h, 200, json_pack("{s:o}", "results", acks));
    }
}

static void publish_one(struct hr_http_client *h, const struct hr_http_request *req,
                        const char *subject, const char *body, size_t body_len)
{
    struct herald_engine *e = hr_http_engine(h);
    if (!hr_subject_valid_literal(subject, strlen(subject))) {
        hr_http_error(h, 400, 0, "invalid subject");
        return;
    }
    struct hr_slice ct = hr_http_header_get(req, "Content-Type");
    json_t *ce = NULL;
    const char *data = body;
    size_t data_len = body_len;
    char *decoded = NULL;
    if (ct.len >= 28 && strncasecmp(ct.ptr, "application/cloudevents+json", 28) == 0 &&
        (ct.len == 28 || ct.ptr[28] == ';' || ct.ptr[28] == ' ' || ct.ptr[28] == '\t')) {
        /* structured mode in, binary mode stored: attributes become ce-* headers */
        json_error_t jerr;
        ce = json_loadb(body, body_len, 0, &jerr);
        if (!json_is_object(ce) || !json_is_string(json_object_get(ce, "specversion"))) {
            json_decref(ce);
            hr_http_error(h, 400, 0, "not a CloudEvents JSON object (specversion missing)");
            return;
        }
        json_t *d = json_object_get(ce, "data"), *d64 = json_object_get(ce, "data_base64");
        if (json_is_string(d64)) {
            decoded = malloc(json_string_length(d64) + 1);
            if (!decoded || !hr_base64_decode(json_string_value(d64), json_string_length(d64),
                                              (unsigned char *)decoded, &data_len)) {
                free(decoded);
                json_decref(ce);
                hr_http_error(h, 400, 0, "data_base64 is not base64");
                return;
            }
            data = decoded;
        } else if (json_is_string(d)) {
            data = json_string_value(d);
            data_len = json_string_length(d);
        } else if (d) {
            decoded = json_dumps(d, JSON_COMPACT | JSON_ENCODE_ANY);
            data = decoded ? decoded : "";
            data_len = decoded ? strlen(decoded) : 0;
        } else {
            data = "";
            data_len = 0;
        }
    }
    struct hr_buf hdr;
    hr_buf_init(&hdr, 64 * 1024);
    int has_hdr = headers_from_request(req, &hdr, ce);
    if (has_hdr < 0) {
        json_decref(ce);
        free(decoded);
        hr_buf_cleanup(&hdr);
        hr_http_error(h, 431, 0, "headers too large");
        return;
    }
    struct herald_stream *s = herald_stream_for_subject(e, subject, strlen(subject));
    bool want_ack = s && !herald_stream_get_config(s)->no_ack;
    const char *inbox = want_ack ? hr_http_wait_begin(h, HR_WAIT_PUBACK, 10000, on_puback) : NULL;
    if (want_ack && !inbox) {
        json_decref(ce);
        free(decoded);
        hr_buf_cleanup(&hdr);
        return;
    }
    struct herald_msg m = {
        .subject = subject, .subject_len = strlen(subject), .reply = inbox,
        .reply_len = inbox ? strlen(inbox) : 0, .hdr = has_hdr ? hdr.data : NULL,
        .hdr_len = has_hdr ? hdr.len : 0, .data = data, .data_len = data_len,
    };
    int delivered = herald_publish(e, &m, h);
    json_decref(ce); /* only now: a string "data" points into it */
    free(decoded);
    hr_buf_cleanup(&hdr);
    if (delivered < 0) {
        if (inbox)
            hr_http_wait_end(h);
        hr_http_error(h, delivered == HERALD_ETOOBIG ? 413 : 500, 0, herald_strerror(delivered));
        return;
    }
    if (!inbox) /* no stream keeps it: delivered live only */
        hr_http_respond_json(h, 202, json_pack("{s:b}", "stored", 0));
}

static void publish_batch(struct hr_http_client *h, const char *body, size_t len)
{
    struct herald_engine *e = hr_http_engine(h);
    const char *inbox = hr_http_wait_begin(h, HR_WAIT_BATCH, 10000, on_puback);
    if (!inbox)
        return;
    size_t lines = 0, acked = 0;
    const char *p = body, *end = body + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        if (le > p) {
            json_error_t jerr;
            json_t *o = json_loadb(p, (size_t)(le - p), 0, &jerr);
            const char *subject = json_string_value(json_object_get(o, "subject"));
            json_t *d = json_object_get(o, "data");
            if (!subject || !hr_subject_valid_literal(subject, strlen(subject)) || (d && !json_is_string(d))) {
                json_decref(o);
                hr_http_wait_end(h);
                char msg[96];
                snprintf(msg, sizeof msg, "line %zu: needs a literal \"subject\" and string \"data\"", lines + 1);
                hr_http_error(h, 400, 0, msg);
                return;
            }
            struct hr_buf hdr;
            hr_buf_init(&hdr, 64 * 1024);
            const char *key;
            json_t *v;
            bool any = false;
            hr_hdr_begin(&hdr, 0, NULL);
            json_object_foreach(json_object_get(o, "headers"), key, v)
                if (json_is_string(v)) {
                    hr_hdr_add(&hdr, key, json_string_value(v), json_string_length(v));
                    any = true;
                }
            hr_hdr_end(&hdr);
            struct herald_stream *s = herald_stream_for_subject(e, subject, strlen(subject));
            bool want_ack = s && !herald_stream_get_config(s)->no_ack;
            struct herald_msg m = {
                .subject = subject, .subject_len = strlen(subject), .reply = want_ack ? inbox : NULL,
                .reply_len = want_ack ? strlen(inbox) : 0, .hdr = any ? hdr.data : NULL,
                .hdr_len = any ? hdr.len : 0, .data = d ? json_string_value(d) : "",
                .data_len = d ? json_string_length(d) : 0,
            };
            herald_publish(e, &m, h);
            hr_buf_cleanup(&hdr);
            json_decref(o);
            lines++;
            acked += want_ack;
        }
        p = le + 1;
    }
    h->expected = (int64_t)acked;
    if (acked == 0) {
        hr_http_wait_end(h);
        hr_http_respond_json(h, 202, json_pack("{s:I, s:b}", "published", (json_int_t)lines, "stored", 0));
    }
}

/* ---- streams, consumers ---------------------------------------------------------------------- */

/* "$JS.API.<op>.<a>[.<b>]" */
static void api(struct hr_http_client *h, const char *op, const char *a, const char *b, json_t *body,
                int ok)
{
    char subject[SEG_MAX * 2 + 64];
    snprintf(subject, sizeof subject, "$JS.API.%s.%s%s%s", op, a, b ? "." : "", b ? b : "");
    hr_http_api(h, subject, body, NULL, ok);
}

static void messages_range(struct hr_http_client *h, const struct hr_http_request *req, const char *name)
{
    struct herald_stream *s = herald_stream_lookup(hr_http_engine(h), name);
    if (!s) {
        hr_http_error(h, 404, 10059, "stream not found");
        return;
    }
    char v[64];
    uint64_t start = 1, limit = 100;
    if (query(req, "start_seq", v, sizeof v) && !parse_u64(v, &start)) {
        hr_http_error(h, 400, 0, "start_seq must be a number");
        return;
    }
    if (query(req, "limit", v, sizeof v) && (!parse_u64(v, &limit) || limit == 0)) {
        hr_http_error(h, 400, 0, "limit must be a positive number");
        return;
    }
    if (limit > RANGE_LIMIT_MAX)
        limit = RANGE_LIMIT_MAX;
    char filter[SEG_MAX + 1] = ">";
    query(req, "subject", filter, sizeof filter);
    json_t *arr = json_array();
    uint64_t next = start, last = 0;
    struct herald_stored_msg m;
    while (arr && json_array_size(arr) < limit &&
           herald_stream_msg_get(s, next ? next : 1, filter, strlen(filter), false, &m, NULL) == 0) {
        json_array_append_new(arr, hr_http_msg_json(m.subject, m.subject_len, m.seq, m.ts_ns, m.hdr,
                                                    m.hdr_len, m.data, m.data_len));
        last = m.seq;
        next = m.seq + 1;
        herald_stored_msg_free(&m);
    }
    struct herald_stream_state st;
    herald_stream_state(s, &st);
    json_t *o = json_pack("{s:o, s:I}", "messages", arr, "last_seq", (json_int_t)st.last_seq);
    if (o && last && last < st.last_seq)
        json_object_set_new(o, "next_start_seq", json_integer((json_int_t)(last + 1)));
    hr_http_respond_json(h, 200, o);
}

static void message_get(struct hr_http_client *h, const char *name, const char *seq_text,
                        const char *subject)
{
    struct herald_stream *s = herald_stream_lookup(hr_http_engine(h), name);
    if (!s) {
        hr_http_error(h, 404, 10059, "stream not found");
        return;
    }
    uint64_t seq = 0;
    if (seq_text && !parse_u64(seq_text, &seq)) {
        hr_http_error(h, 400, 0, "the sequence must be a number");
        return;
    }
    struct herald_stored_msg m;
    struct herald_error err;
    int rc = subject ? herald_stream_msg_get(s, 0, subject, strlen(subject), true, &m, &err)
                     : herald_stream_msg_get(s, seq, NULL, 0, false, &m, &err);
    if (rc) {
        hr_http_error(h, err.status, err.err_code, err.description);
        return;
    }
    json_t *o = hr_http_msg_json(m.subject, m.subject_len, m.seq, m.ts_ns, m.hdr, m.hdr_len, m.data,
                                 m.data_len);
    herald_stored_msg_free(&m);
    hr_http_respond_json(h, 200, o);
}

/* ---- fetch and ack ------------------------------------------------------------------------- */

void hr_http_nats_status_text(const char *hdr, size_t len, char *out, size_t cap)
{
    /* "NATS/1.0 409 Exceeded MaxWaiting\r\n..." -> "Exceeded MaxWaiting" */
    size_t i = 0, n = 0;
    while (i < len && hdr[i] != ' ' && hdr[i] != '\r')
        i++;
    while (i < len && hdr[i] == ' ')
        i++;
    while (i < len && hdr[i] >= '0' && hdr[i] <= '9')
        i++;
    while (i < len && hdr[i] == ' ')
        i++;
    while (i < len && hdr[i] != '\r' && hdr[i] != '\n' && n + 1 < cap)
        out[n++] = hdr[i++];
    if (cap)
        out[n] = '\0';
}

static void on_fetch(void *ctx, struct herald_sub *sub, const struct herald_msg *msg)
{
    struct hr_http_client *h = ctx;
    (void)sub;
    if (h->phase != HR_HTTP_WAITING || h->wait != HR_WAIT_FETCH)
        return;
    int status = hr_hdr_status(msg->hdr, msg->hdr_len);
    if (status == 100)
        return; /* heartbeat */
    if (!h->acc)
        h->acc = json_array();
    /* A pull with a wait ends with 408 when it expires; 404 then means no such consumer
     * (a no_wait pull gets 404 when nothing is pending). 400 and 409 are the request's
     * fault (e.g. over the consumer's max_batch). Messages already collected are answered
     * whatever ends the request. */
    if (status && json_array_size(h->acc) == 0 &&
        (status == 400 || status == 409 || (status == 404 && !h->fetch_no_wait))) {
        char desc[128];
        hr_http_nats_status_text(msg->hdr, msg->hdr_len, desc, sizeof desc);
        hr_http_wait_end(h);
        if (status == 404)
            hr_http_error(h, 404, 10014, "consumer not found");
        else
            hr_http_error(h, status, 0, desc);
        return;
    }
    if (!status) {
        /* $JS.ACK.<stream>.<consumer>.<dc>.<sseq>.<cseq>.<ts>.<pending> */
        uint64_t tok[5] = {0};
        const char *r = msg->reply, *end = msg->reply + msg->reply_len;
        int n = 0;
        for (const char *p = r; p < end; p++)
            if (*p == '.')
                n++;
        const char *p = end;
        for (int i = 4; i >= 0 && p > r; i--) {
            const char *dot = p - 1;
            while (dot > r && *dot != '.')
                dot--;
            tok[i] = strtoull(dot + 1, NULL, 10);
            p = dot;
        }
        json_t *m = hr_http_msg_json(msg->subject, msg->subject_len, n == 8 ? tok[1] : 0,
                                     (int64_t)tok[3], msg->hdr, msg->hdr_len, msg->data, msg->data_len);
        if (m) {
            json_object_set_new(m, "ack_id", json_stringn(msg->reply, msg->reply_len));
            json_object_set_new(m, "deliveries", json_integer((json_int_t)tok[0]));
            json_array_append_new(h->acc, m);
        }
        if ((int64_t)json_array_size(h->acc) < h->expected)
            return;
    }
    json_t *msgs = json_incref(h->acc);
    hr_http_wait_end(h);
    hr_http_respond_json(h, 200, json_pack("{s:o}", "messages", msgs));
}

/* The consumer's info is in: pull from it (a pull for a consumer that does not exist would
 * get no answer at all, like nats-server's, and the wait would end empty). */
static void fetch_pull(struct hr_http_client *h, int status, json_t *info)
{
    if (status >= 300) { /* 404 10014 consumer not found, … */
        hr_http_respond_json(h, status, info);
        return;
    }
    const char *deliver = json_string_value(json_object_get(json_object_get(info, "config"),
                                                            "deliver_subject"));
    char subject[SEG_MAX * 2 + 64];
    snprintf(subject, sizeof subject, "$JS.API.CONSUMER.MSG.NEXT.%s.%s",
             json_string_value(json_object_get(info, "stream_name")),
             json_string_value(json_object_get(info, "name")));
    bool push = deliver && *deliver;
    json_decref(info);
    if (push) {
        hr_http_error(h, 409, 10024, "consumer is push based (fetch needs a pull consumer)");
        return;
    }
    int64_t wait_ms = h->fetch_wait_ms;
    const char *inbox = hr_http_wait_begin(h, HR_WAIT_FETCH, (uint64_t)wait_ms + 2000, on_fetch);
    if (!inbox)
        return;
    h->expected = h->fetch_batch;
    h->fetch_no_wait = wait_ms == 0;
    json_t *body = wait_ms ? json_pack("{s:I, s:I}", "batch", (json_int_t)h->fetch_batch, "expires",
                                       (json_int_t)wait_ms * 1000000)
                           : json_pack("{s:I, s:b}", "batch", (json_int_t)h->fetch_batch, "no_wait", 1);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    struct herald_msg m = {.subject = subject, .subject_len = strlen(subject), .reply = inbox,
                           .reply_len = strlen(inbox), .data = text, .data_len = text ? strlen(text) : 0};
    herald_publish(hr_http_engine(h), &m, h);
    free(text);
}

static void fetch(struct hr_http_client *h, const struct hr_http_request *req, const char *stream,
                  const char *consumer)
{
    char v[64];
    uint64_t batch = 1;
    int64_t wait_ms = 30000;
    if (query(req, "batch", v, sizeof v) && (!parse_u64(v, &batch) || batch == 0 || batch > 10000)) {
        hr_http_error(h, 400, 0, "batch must be 1..10000");
        return;
    }
    if (query(req, "wait", v, sizeof v) && ((wait_ms = parse_duration_ms(v)) < 0 || wait_ms > FETCH_WAIT_MAX_MS)) {
        hr_http_error(h, 400, 0, "wait must be a duration up to 60s (e.g. 30s, 500ms)");
        return;
    }
    struct herald_stream *s = herald_stream_lookup(hr_http_engine(h), stream);
    if (!s) {
        hr_http_error(h, 404, 10059, "stream not found");
        return;
    }
    h->fetch_batch = (int64_t)batch;
    h->fetch_wait_ms = wait_ms;
    char subject[SEG_MAX * 2 + 64];
    snprintf(subject, sizeof subject, "$JS.API.CONSUMER.INFO.%s.%s", stream, consumer);
    hr_http_api(h, subject, NULL, fetch_pull, 200);
}

static void on_ack_confirm(void *ctx, struct herald_sub *sub, const struct herald_msg *msg)
{
    struct hr_http_client *h = ctx;
    (void)sub;
    (void)msg;
    if (h->phase != HR_HTTP_WAITING || h->wait != HR_WAIT_ACKS)
        return;
    if (++h->received >= h->expected) {
        int64_t n = h->expected;
        hr_http_wait_end(h);
        hr_http_respond_json(h, 200, json_pack("{s:I}", "acked", (json_int_t)n));
    }
}

static void ack(struct hr_http_client *h, const char *stream, const char *consumer, const char *body,
                size_t len)
{
    json_t *o = parse_body(h, body, len);
    if (!o)
        return;
    const char *type = json_string_value(json_object_get(o, "type"));
    char payload[96] = "+ACK";
    if (type && strcmp(type, "nak") == 0) {
        const char *delay = json_string_value(json_object_get(o, "delay"));
        int64_t ms = delay ? parse_duration_ms(delay) : 0;
        if (ms > 0)
            snprintf(payload, sizeof payload, "-NAK {\"delay\":%lld}", (long long)ms * 1000000);
        else
            snprintf(payload, sizeof payload, "-NAK");
    } else if (type && strcmp(type, "term") == 0) {
        snprintf(payload, sizeof payload, "+TERM");
    } else if (type && (strcmp(type, "wpi") == 0 || strcmp(type, "in_progress") == 0)) {
        snprintf(payload, sizeof payload, "+WPI");
    } else if (type && strcmp(type, "ack") != 0) {
        json_decref(o);
        hr_http_error(h, 400, 0, "type must be ack, nak, term or wpi");
        return;
    }
    json_t *ids = json_object_get(o, "ack_ids");
    json_t *one = json_object_get(o, "ack_id");
    json_t *list = json_array();
    if (json_is_string(one))
        json_array_append(list, one);
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v) if (json_is_string(v)) json_array_append(list, v);
    char prefix[SEG_MAX * 2 + 16];
    int pl = snprintf(prefix, sizeof prefix, "$JS.ACK.%s.%s.", stream, consumer);
    json_array_foreach(list, i, v) {
        if (strncmp(json_string_value(v), prefix, (size_t)pl) != 0) {
            json_decref(list);
            json_decref(o);
            hr_http_error(h, 400, 0, "an ack_id does not belong to this consumer");
            return;
        }
    }
    if (json_array_size(list) == 0) {
        json_decref(list);
        json_decref(o);
        hr_http_error(h, 400, 0, "ack_id or ack_ids required");
        return;
    }
    const char *inbox = hr_http_wait_begin(h, HR_WAIT_ACKS, 10000, on_ack_confirm);
    if (inbox) {
        h->expected = (int64_t)json_array_size(list);
        json_array_foreach(list, i, v) {
            struct herald_msg m = {.subject = json_string_value(v), .subject_len = json_string_length(v),
                                   .reply = inbox, .reply_len = strlen(inbox), .data = payload,
                                   .data_len = strlen(payload)};
            herald_publish(hr_http_engine(h), &m, h);
            if (h->phase != HR_HTTP_WAITING)
                break;
        }
    }
    json_decref(list);
    json_decref(o);
}

/* ---- key-value -------------------------------------------------------------------------------- */

static void kv_get(struct hr_http_client *h, const char *bucket, const char *key)
{
    char stream[SEG_MAX + 4], subject[SEG_MAX * 2 + 8];
    snprintf(stream, sizeof stream, "KV_%s", bucket);
    snprintf(subject, sizeof subject, "$KV.%s.%s", bucket, key);
    struct herald_stream *s = herald_stream_lookup(hr_http_engine(h), stream);
    struct herald_stored_msg m;
    if (!s || herald_stream_msg_get(s, 0, subject, strlen(subject), true, &m, NULL) != 0) {
        hr_http_error(h, 404, s ? 10037 : 10059, s ? "key not found" : "bucket not found");
        return;
    }
    const char *op;
    size_t ol;
    if (hr_hdr_get(m.hdr, m.hdr_len, "KV-Operation", &op, &ol)) {
        herald_stored_msg_free(&m);
        hr_http_error(h, 404, 10037, "key deleted");
        return;
    }
    char extra[128];
    snprintf(extra, sizeof extra, "KV-Revision: %" PRIu64 "\r\nETag: \"%" PRIu64 "\"\r\n", m.seq, m.seq);
    hr_http_respond(h, 200, "application/octet-stream", m.data, m.data_len, extra);
    herald_stored_msg_free(&m);
}

static void kv_put(struct hr_http_client *h, const struct hr_http_request *req, const char *bucket,
                   const char *key, const char *body, size_t len, bool del)
{
    char subject[SEG_MAX * 2 + 8];
    snprintf(subject, sizeof subject, "$KV.%s.%s", bucket, key);
    char stream[SEG_MAX + 4];
    snprintf(stream, sizeof stream, "KV_%s", bucket);
    if (!herald_stream_lookup(hr_http_engine(h), stream)) {
        hr_http_error(h, 404, 10059, "bucket not found");
        return;
    }
    if (!hr_subject_valid_literal(subject, strlen(subject))) {
        hr_http_error(h, 400, 0, "invalid key");
        return;
    }
    struct hr_buf hdr;
    hr_buf_init(&hdr, 4096);
    hr_hdr_begin(&hdr, 0, NULL);
    struct hr_slice match = hr_http_header_get(req, "If-Match");
    struct hr_slice none = hr_http_header_get(req, "If-None-Match");
    if (match.len) { /* compare-and-set on the revision */
        char rev[32];
        size_t n = 0;
        for (size_t i = 0; i < match.len && n < sizeof rev - 1; i++)
            if (match.ptr[i] >= '0' && match.ptr[i] <= '9')
                rev[n++] = match.ptr[i];
        hr_hdr_add(&hdr, "Nats-Expected-Last-Subject-Sequence", rev, n);
    } else if (none.len == 1 && none.ptr[0] == '*') {
        hr_hdr_add(&hdr, "Nats-Expected-Last-Subject-Sequence", "0", 1);
    }
    if (del)
        hr_hdr_add(&hdr, "KV-Operation", "DEL", 3);
    hr_hdr_end(&hdr);
    const char *inbox = hr_http_wait_begin(h, HR_WAIT_PUBACK, 10000, on_puback);
    if (inbox) {
        struct herald_msg m = {.subject = subject, .subject_len = strlen(subject), .reply = inbox,
                               .reply_len = strlen(inbox), .hdr = hdr.data, .hdr_len = hdr.len,
                               .data = del ? NULL : body, .data_len = del ? 0 : len};
        herald_publish(hr_http_engine(h), &m, h);
    }
    hr_buf_cleanup(&hdr);
}

struct keys_ctx {
    struct herald_stream *s;
    json_t *keys;
    size_t prefix;
};

static int add_key(void *arg, const char *subject, uint64_t msgs)
{
    struct keys_ctx *k = arg;
    struct herald_stored_msg m;
    (void)msgs;
    if (herald_stream_msg_get(k->s, 0, subject, strlen(subject), true, &m, NULL) == 0) {
        const char *op;
        size_t ol;
        if (!hr_hdr_get(m.hdr, m.hdr_len, "KV-Operation", &op, &ol))
            json_array_append_new(k->keys, json_string(subject + k->prefix));
        herald_stored_msg_free(&m);
    }
    return json_array_size(k->keys) >= 100000;
}

static void kv_keys(struct hr_http_client *h, const char *bucket)
{
    char stream[SEG_MAX + 4], filter[SEG_MAX + 8];
    snprintf(stream, sizeof stream, "KV_%s", bucket);
    int n = snprintf(filter, sizeof filter, "$KV.%s.>", bucket);
    struct herald_stream *s = herald_stream_lookup(hr_http_engine(h), stream);
    if (!s) {
        hr_http_error(h, 404, 10059, "bucket not found");
        return;
    }
    struct keys_ctx k = {s, json_array(), (size_t)n - 1};
    herald_stream_subjects(s, filter, add_key, &k);
    hr_http_respond_json(h, 200, json_pack("{s:o}", "keys", k.keys));
}

static void kv_history(struct hr_http_client *h, const char *bucket, const char *key)
{
    char stream[SEG_MAX + 4], subject[SEG_MAX * 2 + 8];
    snprintf(stream, sizeof stream, "KV_%s", bucket);
    snprintf(subject, sizeof subject, "$KV.%s.%s", bucket, key);
    struct herald_stream *s = herald_stream_lookup(hr_http_engine(h), stream);
    if (!s) {
        hr_http_error(h, 404, 10059, "bucket not found");
        return;
    }
    json_t *arr = json_array();
    struct herald_stored_msg m;
    for (uint64_t next = 1; arr && json_array_size(arr) < RANGE_LIMIT_MAX &&
                            herald_stream_msg_get(s, next, subject, strlen(subject), false, &m, NULL) == 0;
         next = m.seq + 1) {
        json_t *e = hr_http_msg_json(m.subject, m.subject_len, m.seq, m.ts_ns, m.hdr, m.hdr_len,
                                     m.data, m.data_len);
        json_object_set_new(e, "revision", json_integer((json_int_t)m.seq));
        json_array_append_new(arr, e);
        herald_stored_msg_free(&m);
    }
    hr_http_respond_json(h, 200, json_pack("{s:o}", "history", arr));
}

/* ---- request/reply ------------------------------------------------------------------------------ */

static void on_reply(void *ctx, struct herald_sub *sub, const struct herald_msg *msg)
{
    struct hr_http_client *h = ctx;
    (void)sub;
    if (h->phase != HR_HTTP_WAITING || h->wait != HR_WAIT_REQUEST)
        return;
    char *body = malloc(msg->data_len + 1);
    size_t len = msg->data_len;
    if (body && len)
        memcpy(body, msg->data, len);
    int status = hr_hdr_status(msg->hdr, msg->hdr_len);
    hr_http_wait_end(h);
    if (status == 503)
        hr_http_error(h, 503, 0, "no responders");
    else
        hr_http_respond(h, 200, "application/octet-stream", body ? body : "", body ? len : 0, NULL);
    free(body);
}

static void request(struct hr_http_client *h, const struct hr_http_request *req, const char *subject,
                    const char *body, size_t len)
{
    char v[32];
    int64_t ms = 5000;
    if (query(req, "timeout", v, sizeof v) && ((ms = parse_duration_ms(v)) <= 0 || ms > 60000)) {
        hr_http_error(h, 400, 0, "timeout must be a duration up to 60s");
        return;
    }
    if (!hr_subject_valid_literal(subject, strlen(subject))) {
        hr_http_error(h, 400, 0, "invalid subject");
        return;
    }
    const char *inbox = hr_http_wait_begin(h, HR_WAIT_REQUEST, (uint64_t)ms, on_reply);
    if (!inbox)
        return;
    struct hr_buf hdr;
    hr_buf_init(&hdr, 64 * 1024);
    int has = headers_from_request(req, &hdr, NULL);
    struct herald_msg m = {.subject = subject, .subject_len = strlen(subject), .reply = inbox,
                           .reply_len = strlen(inbox), .hdr = has > 0 ? hdr.data : NULL,
                           .hdr_len = has > 0 ? hdr.len : 0, .data = body, .data_len = len};
    int n = herald_publish(hr_http_engine(h), &m, h);
    hr_buf_cleanup(&hdr);
    if (n == 0 && h->phase == HR_HTTP_WAITING) {
        hr_http_wait_end(h);
        hr_http_error(h, 503, 0, "no responders");
    }
}

/* ---- the router ------------------------------------------------------------------------------------ */

static void method_not_allowed(struct hr_http_client *h, const char *allow)
{
    char extra[128];
    snprintf(extra, sizeof extra, "Allow: %s\r\n", allow);
    const char body[] = "{\"error\":{\"code\":405,\"err_code\":0,\"description\":\"method not allowed\"}}";
    hr_http_respond(h, 405, "application/json", body, sizeof body - 1, extra);
}

void hr_http_route(struct hr_http_client *h, const struct hr_http_request *req, const char *body,
                   size_t body_len)
{
    struct route r;
    enum hr_http_method m = req->method_id;
    bool get = m == HR_HTTP_METHOD_GET || m == HR_HTTP_METHOD_HEAD;
    if (req->upgrade && (req->path.len == 1 || (req->path.len == 5 && memcmp(req->path.ptr, "/nats", 5) == 0)) &&
        hr_http_ws_upgrade(h, req, false))
        return; /* NATS over WebSocket (nats.ws) */
    if (req->upgrade && req->path.len == 6 && memcmp(req->path.ptr, "/v1/ws", 6) == 0 &&
        hr_http_ws_upgrade(h, req, true))
        return;
    if (!split_path(req->path, &r) || !is(&r, 0, "v1")) {
        hr_http_error(h, 404, 0, "no such resource (the API is under /v1)");
        return;
    }
    const char *s1 = r.n > 2 ? r.seg[2] : NULL, *s3 = r.n > 3 ? r.seg[3] : NULL;
    if (is(&r, 1, "publish")) {
        if (m != HR_HTTP_METHOD_POST)
            return method_not_allowed(h, "POST");
        if (r.n == 2)
            return publish_batch(h, body, body_len);
        if (r.n == 3)
            return publish_one(h, req, s1, body, body_len);
    } else if (is(&r, 1, "request") && r.n == 3) {
        if (m != HR_HTTP_METHOD_POST)
            return method_not_allowed(h, "POST");
        return request(h, req, s1, body, body_len);
    } else if (is(&r, 1, "events") && r.n == 2) {
        if (!get)
            return method_not_allowed(h, "GET");
        return hr_http_sse_start(h, req, NULL, NULL);
    } else if (is(&r, 1, "streams")) {
        if (r.n == 2) {
            if (!get)
                return method_not_allowed(h, "GET");
            return hr_http_api(h, "$JS.API.STREAM.LIST", json_object(), NULL, 200);
        }
        if (r.n == 3) {
            if (m == HR_HTTP_METHOD_PUT) {
                json_t *cfg = parse_body(h, body, body_len);
                if (!cfg)
                    return;
                if (!json_object_get(cfg, "name"))
                    json_object_set_new(cfg, "name", json_string(s1));
                bool exists = herald_stream_lookup(hr_http_engine(h), s1) != NULL;
                return api(h, exists ? "STREAM.UPDATE" : "STREAM.CREATE", s1, NULL, cfg,
                           exists ? 200 : 201);
            }
            if (get)
                return api(h, "STREAM.INFO", s1, NULL, NULL, 200);
            if (m == HR_HTTP_METHOD_DELETE)
                return api(h, "STREAM.DELETE", s1, NULL, NULL, 200);
            return method_not_allowed(h, "GET, PUT, DELETE");
        }
        if (is(&r, 3, "purge") && r.n == 4) {
            if (m != HR_HTTP_METHOD_POST)
                return method_not_allowed(h, "POST");
            json_t *o = parse_body(h, body, body_len);
            if (o)
                api(h, "STREAM.PURGE", s1, NULL, o, 200);
            return;
        }
        if (is(&r, 3, "messages")) {
            if (r.n == 4 && get)
                return messages_range(h, req, s1);
            if (r.n == 5 && get)
                return message_get(h, s1, r.seg[4], NULL);
            if (r.n == 5 && m == HR_HTTP_METHOD_DELETE) {
                uint64_t seq;
                if (!parse_u64(r.seg[4], &seq))
                    return hr_http_error(h, 400, 0, "the sequence must be a number");
                return api(h, "STREAM.MSG.DELETE", s1, NULL,
                           json_pack("{s:I}", "seq", (json_int_t)seq), 200);
            }
            if (r.n <= 5)
                return method_not_allowed(h, r.n == 4 ? "GET" : "GET, DELETE");
        }
        if (is(&r, 3, "subjects") && r.n == 5) {
            if (!get)
                return method_not_allowed(h, "GET");
            return message_get(h, s1, NULL, r.seg[4]);
        }
        if (is(&r, 3, "consumers")) {
            char subject[SEG_MAX * 2 + 64];
            if (r.n == 4) {
                if (!get)
                    return method_not_allowed(h, "GET");
                return api(h, "CONSUMER.LIST", s1, NULL, json_object(), 200);
            }
            const char *c = r.seg[4];
            if (r.n == 5) {
                if (m == HR_HTTP_METHOD_PUT) {
                    json_t *cfg = parse_body(h, body, body_len);
                    if (!cfg)
                        return;
                    if (!json_object_get(cfg, "durable_name") && !json_object_get(cfg, "name"))
                        json_object_set_new(cfg, "durable_name", json_string(c));
                    snprintf(subject, sizeof subject, "$JS.API.CONSUMER.CREATE.%s.%s", s1, c);
                    return hr_http_api(h, subject, json_pack("{s:s, s:o}", "stream_name", s1, "config", cfg),
                                       NULL, 200);
                }
                if (get)
                    return api(h, "CONSUMER.INFO", s1, c, NULL, 200);
                if (m == HR_HTTP_METHOD_DELETE)
                    return api(h, "CONSUMER.DELETE", s1, c, NULL, 200);
                return method_not_allowed(h, "GET, PUT, DELETE");
            }
            if (r.n == 6 && is(&r, 5, "fetch")) {
                if (m != HR_HTTP_METHOD_POST && m != HR_HTTP_METHOD_GET)
                    return method_not_allowed(h, "POST, GET");
                return fetch(h, req, s1, c);
            }
            if (r.n == 6 && is(&r, 5, "ack")) {
                if (m != HR_HTTP_METHOD_POST)
                    return method_not_allowed(h, "POST");
                return ack(h, s1, c, body, body_len);
            }
            if (r.n == 6 && is(&r, 5, "events")) {
                if (!get)
                    return method_not_allowed(h, "GET");
                return hr_http_sse_start(h, req, s1, c);
            }
        }
    } else if (is(&r, 1, "kv") && r.n >= 3) {
        if (r.n == 3) {
            if (!get)
                return method_not_allowed(h, "GET");
            return kv_keys(h, s1);
        }
        if (r.n == 4) {
            if (get)
                return kv_get(h, s1, s3);
            if (m == HR_HTTP_METHOD_PUT)
                return kv_put(h, req, s1, s3, body, body_len, false);
            if (m == HR_HTTP_METHOD_DELETE)
                return kv_put(h, req, s1, s3, NULL, 0, true);
            return method_not_allowed(h, "GET, PUT, DELETE");
        }
        if (r.n == 5 && is(&r, 4, "history")) {
            if (!get)
                return method_not_allowed(h, "GET");
            return kv_history(h, s1, s3);
        }
    }
    hr_http_error(h, 404, 0, "no such resource");
}
