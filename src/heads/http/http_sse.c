/* SPDX-License-Identifier: Apache-2.0
 *
 * Server-Sent Events (WHATWG HTML §9.2): `GET /v1/events?subject=…` and
 * `GET /v1/streams/{s}/consumers/{c}/events`.
 *
 *   subject, stored    when a stream captures the subject (or ?stream= names one), an
 *                      ephemeral push consumer delivers from the stream: `id:` is the stream
 *                      sequence, so a reconnect with Last-Event-ID (header, or ?last_event_id=
 *                      on the first connection) resumes right after it — replay then live,
 *                      no gap and no duplicate at the seam. ?from= all | last | new (default)
 *                      | <sequence> | <RFC 3339 time> chooses where a fresh reader starts.
 *   subject, live      otherwise a plain subscription: events without id.
 *   consumer           a durable pull consumer read with long-polls; each event is acked
 *                      when written (?ack=auto, default) or carries its ack_id for the ack
 *                      endpoint (?ack=explicit, data is then a JSON envelope).
 *
 * Every event: `id:` (when stored), `event:` the subject, one `data:` line per payload
 * line (CR, LF and CRLF all end a line; a payload that is not UTF-8 is sent as base64 with
 * event `<subject>;base64`). `retry: 2000` first; a comment every 15 s keeps proxies open.
 * A reader that falls behind by more than SSE_MAX_PENDING bytes is closed (it resumes from
 * its last id) — memory stays bounded and no one else waits.
 *
 *   S1. A stream's push consumer is paced by the reader through flow control (on_flow_control),
 *       so replaying a backlog larger than SSE_MAX_PENDING works for a reader that reads.
 *       Live subjects have no such brake: a burst past SSE_MAX_PENDING closes the reader.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "common/log.h"
#include "common/natshdr.h"
#include "common/subject.h"
#include "heads/http/http.h"
#include "heads/http/sse_encode.h"
#include "herald/stream.h"
#include "server/server.h"

#define SSE_MAX_PENDING (4u * 1024 * 1024)
#define SSE_HEARTBEAT_MS 15000
#define SSE_PULL_BATCH 64
#define SSE_PULL_EXPIRES_NS (20LL * 1000000000LL)
#define SSE_FC_ANSWER_BELOW (1024u * 1024)
#define SSE_FC_POLL_MS 20

static bool utf8_ok(const char *p, size_t n)
{
    json_t *s = json_stringn(p, n); /* jansson validates UTF-8 */
    bool ok = s != NULL && !memchr(p, '\0', n);
    json_decref(s);
    return ok;
}

/* Writes one event for a message; false when the reader is too far behind (closed). */
static bool write_event(struct hr_http_client *h, uint64_t id, const char *subject, size_t subject_len,
                        const char *data, size_t len)
{
    struct hr_buf b;
    hr_buf_init(&b, SSE_MAX_PENDING);
    int rc;
    if (utf8_ok(data, len)) {
        rc = hr_sse_encode_event(&b, id, subject, subject_len, data, len);
    } else {
        char *enc = hr_base64_encode(data, len);
        char ev[300];
        int n = snprintf(ev, sizeof ev, "%.*s;base64", (int)(subject_len > 280 ? 280 : subject_len), subject);
        rc = enc ? hr_sse_encode_event(&b, id, ev, (size_t)n, enc, strlen(enc)) : HERALD_ENOMEM;
        free(enc);
    }
    if (rc == 0)
        rc = hr_conn_write(h->conn, b.data, b.len);
    hr_buf_cleanup(&b);
    if (rc) {
        hr_info("http conn %llu: SSE reader too slow (%zu bytes pending): closed; it resumes from its last id",
                (unsigned long long)h->conn->id, hr_conn_pending(h->conn));
        h->conn->server->stats.slow_consumers++;
        hr_conn_close(h->conn, HR_CLOSE_NOW, "SSE reader too slow");
        return false;
    }
    h->sse_last_write_ms = hr_conn_now_ms(h->conn);
    return true;
}

/* Writes the response head and starts streaming; false when the request was HEAD (H2: the
 * same head, no body), which ends the connection instead. */
static bool stream_head(struct hr_http_client *h)
{
    char head[512];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 200 OK\r\nServer: herald/%s\r\nContent-Type: text/event-stream\r\n"
                     "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n%s%s%s%s\r\n%s",
                     HERALD_VERSION, *h->origin ? "Access-Control-Allow-Origin: " : "", h->origin,
                     *h->origin ? "\r\n" : "", h->head_only ? "Connection: close\r\n" : "",
                     h->head_only ? "" : "retry: 2000\n\n");
    hr_conn_write(h->conn, head, (size_t)n);
    h->keep_alive = false;
    if (h->head_only) {
        h->phase = HR_HTTP_IDLE;
        hr_conn_close(h->conn, HR_CLOSE_FLUSH, "HEAD of an event stream");
        return false;
    }
    h->phase = HR_HTTP_STREAMING;
    h->conn->max_pending = SSE_MAX_PENDING;
    h->sse_last_write_ms = hr_conn_now_ms(h->conn);
    return true;
}

/* The sequence token of "$JS.ACK.<s>.<c>.<dc>.<sseq>.<cseq>.<ts>.<pending>". */
static uint64_t ack_sseq(const char *reply, size_t len)
{
    int dots = 0;
    for (size_t i = 0; i < len; i++)
        if (reply[i] == '.' && ++dots == 5)
            return strtoull(reply + i + 1, NULL, 10);
    return 0;
}

/* ---- a subject, live or from a stream ------------------------------------------------------- */

/* Flow control paces a stream's push consumer by the reader (S1): a FlowControl Request
 * is answered once at most SSE_FC_ANSWER_BELOW bytes wait for the socket, so a reader
 * replaying a large backlog is fed as fast as it reads instead of being flooded past
 * SSE_MAX_PENDING and closed. The engine delivers at most 2 MiB past an unanswered
 * request, so the output stays under SSE_MAX_PENDING for payloads up to 1 MiB. While an
 * answer is held back, the connection's timer (idle in STREAMING: no request waits) polls
 * the output every SSE_FC_POLL_MS. A reader that stops reading leaves the consumer
 * stalled until the server's write deadline closes the connection. */
static void fc_answer(struct hr_http_client *h)
{
    char reply[sizeof h->sse_fc_reply];
    memcpy(reply, h->sse_fc_reply, sizeof reply);
    h->sse_fc_reply[0] = '\0'; /* first: the answer may deliver, and ask again, at once */
    struct herald_msg fc = {.subject = reply, .subject_len = strlen(reply)};
    herald_publish(hr_http_engine(h), &fc, h);
}

static void fc_poll(uv_timer_t *t)
{
    struct hr_http_client *h = t->data;
    if (h->phase != HR_HTTP_STREAMING || !h->sse_fc_reply[0]) {
        uv_timer_stop(t);
        return;
    }
    if (hr_conn_pending(h->conn) <= SSE_FC_ANSWER_BELOW) {
        uv_timer_stop(t);
        fc_answer(h);
    }
}

static void on_flow_control(struct hr_http_client *h, const char *reply, size_t reply_len)
{
    if (h->phase != HR_HTTP_STREAMING || reply_len >= sizeof h->sse_fc_reply || !h->timer ||
        hr_conn_pending(h->conn) <= SSE_FC_ANSWER_BELOW) { /* (the timer belongs to a wait) */
        struct herald_msg fc = {.subject = reply, .subject_len = reply_len};
        herald_publish(hr_http_engine(h), &fc, h);
        return;
    }
    memcpy(h->sse_fc_reply, reply, reply_len);
    h->sse_fc_reply[reply_len] = '\0';
    if (!uv_is_active((uv_handle_t *)h->timer))
        uv_timer_start(h->timer, fc_poll, SSE_FC_POLL_MS, SSE_FC_POLL_MS);
}

static void on_event(void *ctx, struct herald_sub *sub, const struct herald_msg *msg)
{
    struct hr_http_client *h = ctx;
    (void)sub;
    if (h->phase != HR_HTTP_STREAMING && h->phase != HR_HTTP_WAITING)
        return;
    int status = hr_hdr_status(msg->hdr, msg->hdr_len);
    if (status) {
        if (status == 100 && msg->reply_len) /* a FlowControl Request */
            on_flow_control(h, msg->reply, msg->reply_len);
        return;
    }
    uint64_t id = msg->reply_len > 8 && memcmp(msg->reply, "$JS.ACK.", 8) == 0
                      ? ack_sseq(msg->reply, msg->reply_len) : 0;
    write_event(h, id, msg->subject, msg->subject_len, msg->data, msg->data_len);
}

static void consumer_created(struct hr_http_client *h, int status, json_t *body)
{
    if (status >= 300) {
        herald_sub_destroy(h->events);
        h->events = NULL;
        h->sse_stream[0] = '\0';
        h->keep_alive = false;
        hr_http_respond_json(h, status, body);
        return;
    }
    json_decref(body);
    stream_head(h);
}

static bool covers(const char *stream_subject, const char *filter)
{
    /* the stream keeps every subject the filter can match (wildcards compared as tokens) */
    return hr_subject_matches(stream_subject, strlen(stream_subject), filter, strlen(filter));
}

struct cover_ctx {
    const char *filter;
    struct herald_stream *found;
};

static int find_cover(void *arg, struct herald_stream *s)
{
    struct cover_ctx *c = arg;
    const struct herald_stream_config *cfg = herald_stream_get_config(s);
    for (size_t i = 0; i < cfg->nsubjects; i++)
        if (covers(cfg->subjects[i], c->filter)) {
            c->found = s;
            return 1;
        }
    return 0;
}

static void sse_subject(struct hr_http_client *h, const struct hr_http_request *req)
{
    struct herald_engine *e = hr_http_engine(h);
    char subject[257], stream[257] = "", from[64] = "new", last_id[32] = "";
    struct hr_slice v;
    size_t len;
    if (!hr_http_query_get(req->query, "subject", &v) ||
        hr_http_url_decode(v, subject, sizeof subject - 1, HR_HTTP_DECODE_PLUS, &len) != HR_HTTP_ENONE) {
        hr_http_error(h, 400, 0, "subject is required (?subject=orders.>)");
        return;
    }
    subject[len] = '\0';
    if (!hr_subject_valid_filter(subject, len)) {
        hr_http_error(h, 400, 0, "invalid subject");
        return;
    }
    if (hr_http_query_get(req->query, "stream", &v) &&
        hr_http_url_decode(v, stream, sizeof stream - 1, 0, &len) == HR_HTTP_ENONE)
        stream[len] = '\0';
    if (hr_http_query_get(req->query, "from", &v) &&
        hr_http_url_decode(v, from, sizeof from - 1, HR_HTTP_DECODE_PLUS, &len) == HR_HTTP_ENONE)
        from[len] = '\0';
    struct hr_slice lei = hr_http_header_get(req, "Last-Event-ID");
    if (lei.len && lei.len < sizeof last_id) {
        memcpy(last_id, lei.ptr, lei.len);
        last_id[lei.len] = '\0';
    } else if (hr_http_query_get(req->query, "last_event_id", &v) &&
               hr_http_url_decode(v, last_id, sizeof last_id - 1, 0, &len) == HR_HTTP_ENONE) {
        last_id[len] = '\0';
    }
    struct herald_stream *s = NULL;
    if (*stream) {
        s = herald_stream_lookup(e, stream);
        if (!s) {
            hr_http_error(h, 404, 10059, "stream not found");
            return;
        }
    } else {
        s = herald_stream_for_subject(e, subject, strlen(subject));
        if (!s) { /* a wildcard filter: a stream whose subjects cover it */
            struct cover_ctx cc = {subject, NULL};
            herald_stream_each(e, find_cover, &cc);
            s = cc.found;
        }
    }
    char inbox[64];
    snprintf(inbox, sizeof inbox, "_HRSSE.%" PRIu64, h->conn->id);
    struct herald_sub_options so = {.deliver = on_event, .ctx = h, .owner = h};
    int rc = s ? herald_sub_create(e, inbox, strlen(inbox), NULL, 0, &so, &h->events)
               : herald_sub_create(e, subject, strlen(subject), NULL, 0, &so, &h->events);
    if (rc) {
        hr_http_error(h, 500, 0, "out of memory");
        return;
    }
    if (!s) { /* live only */
        stream_head(h);
        return;
    }
    /* A push consumer from the stream: ephemeral, ack none, flow-controlled. */
    const struct herald_stream_config *cfg = herald_stream_get_config(s);
    snprintf(h->sse_stream, sizeof h->sse_stream, "%s", cfg->name);
    snprintf(h->sse_consumer, sizeof h->sse_consumer, "hrsse%" PRIu64, h->conn->id);
    json_t *c = json_pack("{s:s, s:s, s:s, s:I, s:b, s:I}", "name", h->sse_consumer,
                          "deliver_subject", inbox, "ack_policy", "none", "inactive_threshold",
                          (json_int_t)30000000000LL, "flow_control", 1, "idle_heartbeat",
                          (json_int_t)5000000000LL);
    if (!c) {
        hr_http_error(h, 500, 0, "out of memory");
        return;
    }
    if (strcmp(subject, ">") != 0)
        json_object_set_new(c, "filter_subject", json_string(subject));
    uint64_t seq;
    char *end;
    if (*last_id && (seq = strtoull(last_id, &end, 10)) > 0 && !*end) {
        json_object_set_new(c, "deliver_policy", json_string("by_start_sequence"));
        json_object_set_new(c, "opt_start_seq", json_integer((json_int_t)(seq + 1)));
    } else if (strcmp(from, "all") == 0 || strcmp(from, "last") == 0 || strcmp(from, "new") == 0) {
        json_object_set_new(c, "deliver_policy", json_string(from));
    } else if ((seq = strtoull(from, &end, 10)) > 0 && !*end) {
        json_object_set_new(c, "deliver_policy", json_string("by_start_sequence"));
        json_object_set_new(c, "opt_start_seq", json_integer((json_int_t)seq));
    } else if (strchr(from, 'T')) {
        json_object_set_new(c, "deliver_policy", json_string("by_start_time"));
        json_object_set_new(c, "opt_start_time", json_string(from));
    } else {
        json_decref(c);
        hr_http_error(h, 400, 0, "from must be all, last, new, a sequence or an RFC 3339 time");
        return;
    }
    char api[600];
    snprintf(api, sizeof api, "$JS.API.CONSUMER.CREATE.%s.%s", h->sse_stream, h->sse_consumer);
    hr_http_api(h, api, json_pack("{s:s, s:o}", "stream_name", h->sse_stream, "config", c),
                consumer_created, 200);
}

/* ---- a durable consumer ------------------------------------------------------------------- */

static void pull_next(struct hr_http_client *h);

static void on_pulled(void *ctx, struct herald_sub *sub, const struct herald_msg *msg)
{
    struct hr_http_client *h = ctx;
    (void)sub;
    if (h->phase != HR_HTTP_STREAMING)
        return;
    int status = hr_hdr_status(msg->hdr, msg->hdr_len);
    if (status == 100)
        return;
    if (status == 408) { /* the pull expired: ask again (from the consumer's timer, so no
                            recursion) */
        pull_next(h);
        return;
    }
    if (status) {
        /* 404: the consumer is gone; 409: deleted, or the pull was refused. Asking again
         * would get the same answer at once (and recurse, since the engine answers inside
         * herald_publish), so the stream ends; a comment says why. */
        char desc[128], line[160];
        hr_http_nats_status_text(msg->hdr, msg->hdr_len, desc, sizeof desc);
        int n = snprintf(line, sizeof line, ": closed: %d %s\n\n", status, desc);
        hr_conn_write(h->conn, line, n > 0 && (size_t)n < sizeof line ? (size_t)n : 0);
        hr_conn_close(h->conn, HR_CLOSE_FLUSH, status == 409 ? "SSE pull refused or consumer deleted"
                                                             : "SSE consumer not found");
        return;
    }
    uint64_t id = ack_sseq(msg->reply, msg->reply_len);
    bool ok;
    if (h->sse_consumer[0] == 'x') { /* explicit: an envelope with the ack id */
        json_t *env;
        if (utf8_ok(msg->data, msg->data_len)) {
            env = json_pack("{s:s%, s:s%}", "ack_id", msg->reply, msg->reply_len, "data", msg->data,
                            msg->data_len);
        } else { /* JSON strings are UTF-8: other bytes travel as base64 */
            char *b64 = hr_base64_encode(msg->data, msg->data_len);
            env = b64 ? json_pack("{s:s%, s:s, s:s}", "ack_id", msg->reply, msg->reply_len, "data",
                                  b64, "data_encoding", "base64")
                      : NULL;
            free(b64);
        }
        char *text = env ? json_dumps(env, JSON_COMPACT) : NULL;
        json_decref(env);
        ok = text && write_event(h, id, msg->subject, msg->subject_len, text, strlen(text));
        free(text);
    } else {
        ok = write_event(h, id, msg->subject, msg->subject_len, msg->data, msg->data_len);
        if (ok) { /* acked by the server once written */
            struct herald_msg a = {.subject = msg->reply, .subject_len = msg->reply_len,
                                   .data = "+ACK", .data_len = 4};
            herald_publish(hr_http_engine(h), &a, h);
        }
    }
    if (ok && ++h->received >= h->sse_batch)
        pull_next(h);
}

static void pull_next(struct hr_http_client *h)
{
    char subject[600], body[96];
    snprintf(subject, sizeof subject, "$JS.API.CONSUMER.MSG.NEXT.%s.%s", h->sse_stream, h->sse_consumer + 1);
    int n = snprintf(body, sizeof body, "{\"batch\":%lld,\"expires\":%lld}", (long long)h->sse_batch,
                     (long long)h->sse_expires_ns);
    h->received = 0;
    char inbox[64];
    snprintf(inbox, sizeof inbox, "_HRSSE.%" PRIu64, h->conn->id);
    struct herald_msg m = {.subject = subject, .subject_len = strlen(subject), .reply = inbox,
                           .reply_len = strlen(inbox), .data = body, .data_len = (size_t)n};
    herald_publish(hr_http_engine(h), &m, h);
}

static void consumer_found(struct hr_http_client *h, int status, json_t *body)
{
    json_t *cfg = json_object_get(body, "config");
    const char *deliver = json_string_value(json_object_get(cfg, "deliver_subject"));
    if (status < 300 && deliver && *deliver) {
        json_decref(body);
        status = 409;
        body = json_pack("{s:{s:i, s:i, s:s}}", "error", "code", 409, "err_code", 0, "description",
                         "a push consumer cannot be read as events (it needs a pull consumer)");
    }
    if (status >= 300) {
        herald_sub_destroy(h->events);
        h->events = NULL;
        h->sse_stream[0] = '\0';
        hr_http_respond_json(h, status, body);
        return;
    }
    int64_t max_batch = json_integer_value(json_object_get(cfg, "max_batch"));
    int64_t max_expires = json_integer_value(json_object_get(cfg, "max_expires"));
    h->sse_batch = max_batch > 0 && max_batch < SSE_PULL_BATCH ? max_batch : SSE_PULL_BATCH;
    h->sse_expires_ns = max_expires > 0 && max_expires < SSE_PULL_EXPIRES_NS ? max_expires
                                                                             : SSE_PULL_EXPIRES_NS;
    json_decref(body);
    if (stream_head(h))
        pull_next(h);
}

static void sse_consumer(struct hr_http_client *h, const struct hr_http_request *req, const char *stream,
                         const char *consumer)
{
    struct herald_engine *e = hr_http_engine(h);
    if (!herald_stream_lookup(e, stream)) {
        hr_http_error(h, 404, 10059, "stream not found");
        return;
    }
    char ackmode[16] = "auto";
    struct hr_slice v;
    size_t len;
    if (hr_http_query_get(req->query, "ack", &v) &&
        hr_http_url_decode(v, ackmode, sizeof ackmode - 1, 0, &len) == HR_HTTP_ENONE)
        ackmode[len] = '\0';
    if (strcmp(ackmode, "auto") && strcmp(ackmode, "explicit")) {
        hr_http_error(h, 400, 0, "ack must be auto or explicit");
        return;
    }
    if (strlen(consumer) >= sizeof h->sse_consumer - 1) {
        hr_http_error(h, 400, 0, "consumer name too long");
        return;
    }
    snprintf(h->sse_stream, sizeof h->sse_stream, "%s", stream);
    /* sse_consumer[0] marks the mode ('a'uto / e'x'plicit); the name follows. The consumer
     * is the user's, so it is never deleted here. */
    snprintf(h->sse_consumer, sizeof h->sse_consumer, "%c%s", ackmode[0] == 'e' ? 'x' : 'a', consumer);
    char inbox[64];
    snprintf(inbox, sizeof inbox, "_HRSSE.%" PRIu64, h->conn->id);
    struct herald_sub_options so = {.deliver = on_pulled, .ctx = h, .owner = h};
    if (herald_sub_create(e, inbox, strlen(inbox), NULL, 0, &so, &h->events) != 0) {
        hr_http_error(h, 500, 0, "out of memory");
        return;
    }
    /* The consumer must exist and be a pull consumer before the stream starts: its info
     * also gives the pull limits to respect. */
    char api[600];
    snprintf(api, sizeof api, "$JS.API.CONSUMER.INFO.%s.%s", h->sse_stream, h->sse_consumer + 1);
    hr_http_api(h, api, NULL, consumer_found, 200);
}

void hr_http_sse_start(struct hr_http_client *h, const struct hr_http_request *req, const char *stream,
                       const char *consumer)
{
    if (consumer)
        sse_consumer(h, req, stream, consumer);
    else
        sse_subject(h, req);
}

void hr_http_sse_tick(struct hr_http_client *h, uint64_t now_ms)
{
    if (now_ms - h->sse_last_write_ms >= SSE_HEARTBEAT_MS) {
        hr_conn_write(h->conn, ":\n\n", 3);
        h->sse_last_write_ms = now_ms;
    }
}

void hr_http_sse_close(struct hr_http_client *h)
{
    herald_sub_destroy(h->events);
    h->events = NULL;
    if (h->sse_stream[0] && strncmp(h->sse_consumer, "hrsse", 5) == 0) { /* ours, not the user's */
        char api[600], reply[64];
        snprintf(api, sizeof api, "$JS.API.CONSUMER.DELETE.%s.%s", h->sse_stream, h->sse_consumer);
        /* the API ignores a request without a reply subject; nobody listens on this one */
        snprintf(reply, sizeof reply, "_HRSSE.%" PRIu64 ".gone", h->conn->id);
        struct herald_msg m = {.subject = api, .subject_len = strlen(api), .reply = reply,
                               .reply_len = strlen(reply)};
        herald_publish(hr_http_engine(h), &m, h); /* our ephemeral consumer goes with us */
    }
    h->sse_stream[0] = '\0';
}
