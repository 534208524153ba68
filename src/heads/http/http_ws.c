/* SPDX-License-Identifier: Apache-2.0
 *
 * WebSockets (RFC 6455) on the HTTP port, framed by Debian's libwslay:
 *
 *   GET /v1/ws  Sec-WebSocket-Protocol: herald.v1   JSON messages (docs/websocket.md):
 *       pub, sub (live or from a stream, like SSE), unsub, fetch, ack → puback, msg,
 *       fetch_done, error. One JSON object per text message.
 *   GET / or /nats (any other subprotocol or none)   the NATS client protocol in binary
 *       messages, as nats-server's WebSocket listener offers it: browser NATS clients
 *       (nats.ws) connect to Herald and get the NATS head itself.
 *
 * After the 101 the connection switches head (C6): the wslay filter turns socket bytes into
 * whole messages for the new head and the head's output into frames. wslay answers pings,
 * validates UTF-8 in text frames and close codes, and refuses messages over the size limit
 * (close 1009); a peer that breaks the protocol is closed with 1002.
 */
#include <inttypes.h>
#include <jansson.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wslay/wslay.h>

#include "common/base64.h"
#include "common/log.h"
#include "common/natshdr.h"
#include "common/subject.h"
#include "heads/http/http.h"
#include "heads/http/ws_frame.h"
#include "heads/nats/nats.h"
#include "herald/stream.h"
#include "server/server.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_MAX_SUBS 1024

struct ws_filter {
    wslay_event_context_ptr ctx;
    struct hr_conn *conn;
    const char *rd;
    size_t rd_len, rd_off;
    bool text; /* herald.v1: one JSON object per text message */
};

/* ---- the wslay filter (C6) ---------------------------------------------------------------- */

static ssize_t ws_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *ud)
{
    struct ws_filter *f = ud;
    (void)flags;
    size_t avail = f->rd_len - f->rd_off;
    if (!avail) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    size_t n = avail < len ? avail : len;
    memcpy(buf, f->rd + f->rd_off, n);
    f->rd_off += n;
    return (ssize_t)n;
}

static ssize_t ws_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags, void *ud)
{
    struct ws_filter *f = ud;
    (void)flags;
    /* Only control frames (pongs, the close) go through wslay, whole: a frame is never
     * left half in wslay's queue behind data frames that ws_output appends later. */
    if (hr_buf_append(&f->conn->wire, data, len) != 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return (ssize_t)len;
}

static void ws_on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg, void *ud)
{
    struct ws_filter *f = ud;
    (void)ctx;
    if (arg->opcode == WSLAY_TEXT_FRAME || arg->opcode == WSLAY_BINARY_FRAME)
        hr_conn_feed(f->conn, (const char *)arg->msg, arg->msg_length);
}

static int ws_output(struct hr_conn *c, const char *app, size_t len, struct hr_buf *wire)
{
    struct ws_filter *f = c->filter_state;
    /* Data frames are framed here, not queued in wslay: wslay sends its control queue
     * first, so a close it queued would overtake answers written before it. After our
     * close frame nothing more may be sent (RFC 6455 5.5.1): the output is dropped. */
    if (wslay_event_get_close_sent(f->ctx) || !wslay_event_get_write_enabled(f->ctx))
        return 0;
    const char *p = app, *end = app + len;
    while (p < end) {
        const char *nl = f->text ? memchr(p, '\n', (size_t)(end - p)) : NULL;
        const char *e = nl ? nl : end;
        if (e > p && hr_ws_frame_encode(wire, f->text ? WSLAY_TEXT_FRAME : WSLAY_BINARY_FRAME, p, (size_t)(e - p)) != 0)
            return -1;
        p = nl ? nl + 1 : end;
    }
    return 0;
}

static int ws_input(struct hr_conn *c, const char *buf, size_t len)
{
    struct ws_filter *f = c->filter_state;
    f->rd = buf;
    f->rd_len = len;
    f->rd_off = 0;
    int rc = wslay_event_recv(f->ctx);
    /* What the head answered to the messages just read goes out before wslay's pongs and
     * close (C6: `out` is framed at the flush otherwise). */
    if (c->out.len && c->state_kind == HR_CONN_OPEN) { /* after `inflight`, before wslay's frames */
        if (ws_output(c, c->out.data, c->out.len, &c->wire) != 0)
            return -1;
        c->out.len = 0;
    }
    if (rc != 0) {
        /* A frame wslay's frame layer refuses (a control frame over 125 bytes or
         * fragmented, a 64-bit length with the top bit set): it queued a close without a
         * status code; RFC 6455 7.4.1 has 1002 for a protocol error. */
        static const unsigned char close_1002[] = {0x88, 0x02, 0x03, 0xEA};
        if (!wslay_event_get_close_sent(f->ctx))
            hr_buf_append(&c->wire, close_1002, sizeof close_1002);
        wslay_event_shutdown_write(f->ctx);
    } else {
        wslay_event_send(f->ctx); /* pongs, the close */
    }
    hr_conn_wire_ready(c);
    if (rc != 0 || (!wslay_event_want_read(f->ctx) && !wslay_event_want_write(f->ctx)))
        return -1;
    return 0;
}

/* The server closes the connection (a NATS -ERR, shutdown, a slow reader closed with
 * FLUSH): what the head wrote last is framed, then a close frame (1000 with the reason)
 * goes after it, so the peer sees a clean close instead of 1006. */
static void ws_closing(struct hr_conn *c, const char *reason)
{
    struct ws_filter *f = c->filter_state;
    if (!f || wslay_event_get_close_sent(f->ctx))
        return;
    if (c->out.len && ws_output(c, c->out.data, c->out.len, &c->wire) == 0)
        c->out.len = 0;
    size_t n = reason ? strlen(reason) : 0;
    if (n > 123) /* a close frame's payload is at most 125 bytes, 2 of them the code */
        n = 123;
    wslay_event_queue_close(f->ctx, WSLAY_CODE_NORMAL_CLOSURE, (const uint8_t *)reason, n);
    wslay_event_send(f->ctx);
}

static void ws_destroy(struct hr_conn *c)
{
    struct ws_filter *f = c->filter_state;
    if (f) {
        wslay_event_context_free(f->ctx);
        free(f);
    }
    c->filter_state = NULL;
}

static const struct hr_conn_filter ws_filter_ops = {
    .input = ws_input,
    .output = ws_output,
    .closing = ws_closing,
    .destroy = ws_destroy,
};

/* ---- herald.v1 --------------------------------------------------------------------------- */

struct ws_client;

struct ws_sub {
    struct ws_client *w;
    char sid[64];
    struct herald_sub *sub;
    char stream[HERALD_NAME_MAX + 1], consumer[64]; /* a stored subscription's consumer */
    uint64_t create_key; /* the pending CONSUMER.CREATE that answers for it */
};

struct ws_fetch {
    struct ws_client *w;
    json_t *id;
    struct herald_sub *sub;
    int64_t batch, got; /* a filled batch ends without a status from the engine */
    struct ws_fetch *next;
};

struct ws_pending { /* a reply awaited on "_HRWS.<cid>.r.<n>" */
    char key[24];
    char kind; /* 'p' puback, 'c' consumer created, 'f' consumer info before a fetch */
    json_t *id;
    char sid[64];
    char stream[HERALD_NAME_MAX + 1], consumer[HERALD_NAME_MAX + 1]; /* 'f' */
    int64_t batch, wait_ms;                                           /* 'f' */
};

struct ws_client {
    struct hr_conn *conn;
    struct herald_sub *replies; /* "_HRWS.<cid>.r.*" */
    struct ws_sub *subs[WS_MAX_SUBS];
    size_t nsubs;
    struct ws_fetch *fetches;
    struct hr_map pending; /* key -> struct ws_pending */
    uint64_t next;
    uint64_t last_ping_ms; /* keepalive (ws_tick) */
    unsigned pings_out;
};

_Static_assert(sizeof(struct ws_client) <= HR_HTTP_STATE_RESERVE, "ws state fits the connection");

static struct herald_engine *ws_engine(const struct ws_client *w)
{
    return w->conn->server->engine;
}

/* Queues one JSON object (one text message: ws_output splits on the newline). A reader
 * that let more than max_pending pile up is closed (C3), as a slow NATS or SSE reader is:
 * after that the connection's subscriptions and fetches are gone (ws_close), so callers
 * touch nothing of theirs after send_json. */
static void send_json(struct ws_client *w, json_t *o)
{
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!text)
        return;
    struct hr_conn *c = w->conn;
    size_t n = strlen(text);
    int err = 0;
    char *p = hr_conn_reserve(c, n + 1, &err);
    if (p) { /* object and newline together: never half an object in a message */
        memcpy(p, text, n);
        p[n] = '\n';
        hr_conn_commit(c, n + 1);
    } else if (err == HERALD_ELIMIT || err == HERALD_ENOMEM) {
        c->server->stats.slow_consumers++;
        hr_info("ws conn %llu from %s:%d: reader too slow (%zu bytes pending): closed",
                (unsigned long long)c->id, c->ip, c->port, hr_conn_pending(c));
        hr_conn_close(c, HR_CLOSE_NOW, "WebSocket reader too slow");
    }
    free(text);
}

static void send_error(struct ws_client *w, json_t *id, const char *sid, int code, const char *description)
{
    json_t *o = json_pack("{s:s, s:{s:i, s:s}}", "op", "error", "error", "code", code, "description",
                          description);
    if (o && id)
        json_object_set(o, "id", id);
    if (o && sid)
        json_object_set_new(o, "sid", json_string(sid));
    send_json(w, o);
}

/* "$JS.ACK.<s>.<c>.<dc>.<sseq>.<cseq>.<ts>.<pending>": token `which` (1-based after $JS). */
static uint64_t ack_token(const char *reply, size_t len, int dots_before)
{
    int dots = 0;
    for (size_t i = 0; i < len; i++)
        if (reply[i] == '.' && ++dots == dots_before)
            return strtoull(reply + i + 1, NULL, 10);
    return 0;
}

static json_t *msg_json(const struct herald_msg *msg)
{
    bool stored = msg->reply_len > 8 && memcmp(msg->reply, "$JS.ACK.", 8) == 0;
    return hr_http_msg_json(msg->subject, msg->subject_len, stored ? ack_token(msg->reply, msg->reply_len, 5) : 0,
                            stored ? (int64_t)ack_token(msg->reply, msg->reply_len, 7) : 0, msg->hdr,
                            msg->hdr_len, msg->data, msg->data_len);
}

static void on_sub_msg(void *ctx, struct herald_sub *sub, const struct herald_msg *msg)
{
    struct ws_sub *s = ctx;
    (void)sub;
    if (s->w->conn->state_kind != HR_CONN_OPEN)
        return;
    int status = hr_hdr_status(msg->hdr, msg->hdr_len);
    if (status) {
        if (status == 100 && msg->reply_len) { /* flow control: we keep up */
            struct herald_msg fc = {.subject = msg->reply, .subject_len = msg->reply_len};
            herald_publish(ws_engine(s->w), &fc, s->w);
        }
        return;
    }
    json_t *o = msg_json(msg);
    if (o) {
        json_object_set_new(o, "op", json_string("msg"));
        json_object_set_new(o, "sid", json_string(s->sid));
    }
    send_json(s->w, o);
}

static void fetch_free(struct ws_client *w, struct ws_fetch *f)
{
    for (struct ws_fetch **pp = &w->fetches; *pp; pp = &(*pp)->next)
        if (*pp == f) {
            *pp = f->next;
            break;
        }
    herald_sub_destroy(f->sub);
    json_decref(f->id);
    free(f);
}

static void on_fetch_msg(void *ctx, struct herald_sub *sub, const struct herald_msg *msg)
{
    struct ws_fetch *f = ctx;
    struct ws_client *w = f->w;
    (void)sub;
    if (w->conn->state_kind != HR_CONN_OPEN)
        return;
    int status = hr_hdr_status(msg->hdr, msg->hdr_len);
    if (status == 100)
        return;
    json_t *o, *done = NULL;
    if (status) { /* 404, 408, 409: the pull request ended */
        o = json_pack("{s:s, s:i}", "op", "fetch_done", "status", status);
    } else {
        o = msg_json(msg);
        if (o) {
            json_object_set_new(o, "op", json_string("msg"));
            json_object_set_new(o, "ack_id", json_stringn(msg->reply, msg->reply_len));
            json_object_set_new(o, "deliveries", json_integer((json_int_t)ack_token(msg->reply, msg->reply_len, 4)));
        }
        if (++f->got >= f->batch) /* the engine ends a filled batch silently */
            done = json_pack("{s:s, s:i}", "op", "fetch_done", "status", 200);
    }
    if (o && f->id)
        json_object_set(o, "id", f->id);
    if (done && f->id)
        json_object_set(done, "id", f->id);
    if (status || done)
        fetch_free(w, f); /* first: send_json may close the connection, which frees fetches */
    send_json(w, o);
    if (done && w->conn->state_kind == HR_CONN_OPEN)
        send_json(w, done);
    else
        json_decref(done);
}

static void fetch_start(struct ws_client *w, json_t *id, const char *stream, const char *consumer,
                        int64_t batch, int64_t wait_ms);

static struct ws_sub *find_sub(struct ws_client *w, const char *sid, size_t *index);
static void sub_drop(struct ws_client *w, size_t i);

static void on_reply(void *ctx, struct herald_sub *sub, const struct herald_msg *msg)
{
    struct ws_client *w = ctx;
    (void)sub;
    const char *key = msg->subject + msg->subject_len;
    while (key > msg->subject && key[-1] != '.')
        key--;
    struct ws_pending *p = hr_map_del(&w->pending, key, (size_t)(msg->subject + msg->subject_len - key));
    if (!p)
        return;
    json_error_t jerr;
    json_t *body = json_loadb(msg->data, msg->data_len, 0, &jerr);
    json_t *err = json_object_get(body, "error");
    json_t *o;
    if (p->kind == 'p') {
        o = json_pack("{s:s}", "op", "puback");
        if (o && body) {
            json_object_del(body, "type");
            json_object_update(o, body);
        }
    } else if (p->kind == 'f') { /* CONSUMER.INFO answered: pull, or say why not */
        const char *deliver = json_string_value(json_object_get(json_object_get(body, "config"),
                                                                "deliver_subject"));
        o = NULL;
        if (err || !body)
            o = json_pack("{s:s, s:O}", "op", "error", "error", err ? err : json_null());
        else if (deliver && *deliver)
            o = json_pack("{s:s, s:{s:i, s:i, s:s}}", "op", "error", "error", "code", 409, "err_code", 10024,
                          "description", "consumer is push based (fetch needs a pull consumer)");
        else
            fetch_start(w, p->id, p->stream, p->consumer, p->batch, p->wait_ms);
    } else {
        size_t i;
        struct ws_sub *s = err ? find_sub(w, p->sid, &i) : NULL;
        if (s && s->create_key == strtoull(p->key, NULL, 10)) {
            s->stream[0] = '\0'; /* no consumer was made: nothing to delete */
            sub_drop(w, i);      /* and the sid is free again */
        }
        o = err ? json_pack("{s:s, s:O}", "op", "error", "error", err)
                : json_pack("{s:s, s:s}", "op", "subscribed", "sid", p->sid);
        if (err && o)
            json_object_set_new(o, "sid", json_string(p->sid));
    }
    if (o && p->id)
        json_object_set(o, "id", p->id);
    json_decref(body);
    json_decref(p->id);
    free(p);
    send_json(w, o);
}

static struct ws_pending *pending_new(struct ws_client *w, char kind, json_t *id, const char *sid,
                                      char *reply, size_t cap)
{
    struct ws_pending *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    snprintf(p->key, sizeof p->key, "%" PRIu64, ++w->next);
    p->kind = kind;
    p->id = json_incref(id);
    if (sid)
        snprintf(p->sid, sizeof p->sid, "%s", sid);
    if (hr_map_put(&w->pending, p->key, strlen(p->key), p)) {
        json_decref(p->id);
        free(p);
        return NULL;
    }
    snprintf(reply, cap, "_HRWS.%" PRIu64 ".r.%s", w->conn->id, p->key);
    return p;
}

static void op_pub(struct ws_client *w, json_t *o, json_t *id)
{
    const char *subject = json_string_value(json_object_get(o, "subject"));
    json_t *data = json_object_get(o, "data"), *headers = json_object_get(o, "headers");
    if (!subject || !hr_subject_valid_literal(subject, strlen(subject)) || (data && !json_is_string(data))) {
        send_error(w, id, NULL, 400, "pub needs a literal \"subject\" and a string \"data\"");
        return;
    }
    struct hr_buf hdr;
    hr_buf_init(&hdr, 64 * 1024);
    hr_hdr_begin(&hdr, 0, NULL);
    const char *k;
    json_t *v;
    bool any = false;
    json_object_foreach(headers, k, v) if (json_is_string(v))
    {
        hr_hdr_add(&hdr, k, json_string_value(v), json_string_length(v));
        any = true;
    }
    hr_hdr_end(&hdr);
    struct herald_stream *s = herald_stream_for_subject(ws_engine(w), subject, strlen(subject));
    char reply[96] = "";
    if (s && !herald_stream_get_config(s)->no_ack && !pending_new(w, 'p', id, NULL, reply, sizeof reply)) {
        hr_buf_cleanup(&hdr);
        send_error(w, id, NULL, 500, "out of memory");
        return;
    }
    struct herald_msg m = {.subject = subject, .subject_len = strlen(subject), .reply = *reply ? reply : NULL,
                           .reply_len = strlen(reply), .hdr = any ? hdr.data : NULL,
                           .hdr_len = any ? hdr.len : 0, .data = data ? json_string_value(data) : "",
                           .data_len = data ? json_string_length(data) : 0};
    int n = herald_publish(ws_engine(w), &m, w);
    hr_buf_cleanup(&hdr);
    if (n < 0)
        send_error(w, id, NULL, n == HERALD_ETOOBIG ? 413 : 500, herald_strerror(n));
    else if (!*reply) {
        json_t *a = json_pack("{s:s, s:b}", "op", "puback", "stored", 0);
        if (a && id)
            json_object_set(a, "id", id);
        send_json(w, a);
    }
}

static struct ws_sub *find_sub(struct ws_client *w, const char *sid, size_t *index)
{
    for (size_t i = 0; i < w->nsubs; i++)
        if (w->subs[i] && strcmp(w->subs[i]->sid, sid) == 0) {
            if (index)
                *index = i;
            return w->subs[i];
        }
    return NULL;
}

static void sub_drop(struct ws_client *w, size_t i)
{
    struct ws_sub *s = w->subs[i];
    herald_sub_destroy(s->sub);
    if (s->stream[0]) { /* our push consumer goes with it */
        char api[HERALD_NAME_MAX + 96], reply[64];
        snprintf(api, sizeof api, "$JS.API.CONSUMER.DELETE.%s.%s", s->stream, s->consumer);
        /* the JS API ignores a request without a reply subject (as nats-server does) */
        snprintf(reply, sizeof reply, "_HRWS.%" PRIu64 ".gone", w->conn->id);
        struct herald_msg m = {.subject = api, .subject_len = strlen(api), .reply = reply,
                               .reply_len = strlen(reply)};
        herald_publish(ws_engine(w), &m, w);
    }
    free(s);
    w->subs[i] = NULL;
}

static void op_sub(struct ws_client *w, json_t *o, json_t *id)
{
    const char *sid = json_string_value(json_object_get(o, "sid"));
    const char *subject = json_string_value(json_object_get(o, "subject"));
    const char *stream = json_string_value(json_object_get(o, "stream"));
    json_t *from = json_object_get(o, "from");
    json_int_t last_id = json_integer_value(json_object_get(o, "last_id"));
    if (!sid || strlen(sid) >= 64 || !subject || !hr_subject_valid_filter(subject, strlen(subject))) {
        send_error(w, id, sid, 400, "sub needs \"sid\" (up to 63 bytes) and a valid \"subject\"");
        return;
    }
    if (find_sub(w, sid, NULL)) {
        send_error(w, id, sid, 409, "sid already in use");
        return;
    }
    size_t slot = 0;
    while (slot < w->nsubs && w->subs[slot])
        slot++;
    if (slot == WS_MAX_SUBS) {
        send_error(w, id, sid, 429, "too many subscriptions on this connection");
        return;
    }
    struct ws_sub *s = calloc(1, sizeof *s);
    if (!s) {
        send_error(w, id, sid, 500, "out of memory");
        return;
    }
    s->w = w;
    snprintf(s->sid, sizeof s->sid, "%s", sid);
    struct herald_engine *e = ws_engine(w);
    struct herald_stream *st = stream ? herald_stream_lookup(e, stream)
                               : (from || last_id) ? herald_stream_for_subject(e, subject, strlen(subject)) : NULL;
    if (stream && !st) {
        free(s);
        send_error(w, id, sid, 404, "stream not found");
        return;
    }
    struct herald_sub_options so = {.deliver = on_sub_msg, .ctx = s, .owner = w};
    char inbox[96];
    snprintf(inbox, sizeof inbox, "_HRWS.%" PRIu64 ".s.%zu", w->conn->id, slot);
    int rc = st ? herald_sub_create(e, inbox, strlen(inbox), NULL, 0, &so, &s->sub)
                : herald_sub_create(e, subject, strlen(subject), NULL, 0, &so, &s->sub);
    if (rc) {
        free(s);
        send_error(w, id, sid, 500, "out of memory");
        return;
    }
    w->subs[slot] = s;
    if (slot == w->nsubs)
        w->nsubs++;
    if (!st) { /* live */
        json_t *a = json_pack("{s:s, s:s}", "op", "subscribed", "sid", sid);
        if (a && id)
            json_object_set(a, "id", id);
        send_json(w, a);
        return;
    }
    snprintf(s->stream, sizeof s->stream, "%s", herald_stream_get_config(st)->name);
    snprintf(s->consumer, sizeof s->consumer, "hrws%" PRIu64 "x%zu", w->conn->id, slot);
    json_t *c = json_pack("{s:s, s:s, s:s, s:I, s:b, s:I}", "name", s->consumer, "deliver_subject", inbox,
                          "ack_policy", "none", "inactive_threshold", (json_int_t)30000000000LL,
                          "flow_control", 1, "idle_heartbeat", (json_int_t)5000000000LL);
    if (c && strcmp(subject, ">") != 0)
        json_object_set_new(c, "filter_subject", json_string(subject));
    if (c && last_id > 0) {
        json_object_set_new(c, "deliver_policy", json_string("by_start_sequence"));
        json_object_set_new(c, "opt_start_seq", json_integer(last_id + 1));
    } else if (c && json_is_integer(from)) {
        json_object_set_new(c, "deliver_policy", json_string("by_start_sequence"));
        json_object_set_new(c, "opt_start_seq", json_integer(json_integer_value(from)));
    } else if (c && json_is_string(from)) {
        json_object_set_new(c, "deliver_policy", json_string(json_string_value(from)));
    }
    char reply[96], api[HERALD_NAME_MAX + 96];
    struct ws_pending *pc = c ? pending_new(w, 'c', id, sid, reply, sizeof reply) : NULL;
    if (!pc) {
        json_decref(c);
        send_error(w, id, sid, 500, "out of memory");
        return;
    }
    s->create_key = strtoull(pc->key, NULL, 10);
    snprintf(api, sizeof api, "$JS.API.CONSUMER.CREATE.%s.%s", s->stream, s->consumer);
    json_t *body = json_pack("{s:s, s:o}", "stream_name", s->stream, "config", c);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    struct herald_msg m = {.subject = api, .subject_len = strlen(api), .reply = reply,
                           .reply_len = strlen(reply), .data = text, .data_len = text ? strlen(text) : 0};
    herald_publish(e, &m, w);
    free(text);
}

static void fetch_start(struct ws_client *w, json_t *id, const char *stream, const char *consumer,
                        int64_t batch, int64_t wait_ms)
{
    struct ws_fetch *f = calloc(1, sizeof *f);
    if (!f) {
        send_error(w, id, NULL, 500, "out of memory");
        return;
    }
    f->w = w;
    f->id = json_incref(id);
    f->batch = batch;
    char inbox[96];
    snprintf(inbox, sizeof inbox, "_HRWS.%" PRIu64 ".f.%" PRIu64, w->conn->id, ++w->next);
    struct herald_sub_options so = {.deliver = on_fetch_msg, .ctx = f, .owner = w};
    if (herald_sub_create(ws_engine(w), inbox, strlen(inbox), NULL, 0, &so, &f->sub)) {
        json_decref(f->id);
        free(f);
        send_error(w, id, NULL, 500, "out of memory");
        return;
    }
    f->next = w->fetches;
    w->fetches = f;
    char subject[2 * HERALD_NAME_MAX + 64], body[128];
    snprintf(subject, sizeof subject, "$JS.API.CONSUMER.MSG.NEXT.%s.%s", stream, consumer);
    int n = wait_ms > 0 ? snprintf(body, sizeof body, "{\"batch\":%lld,\"expires\":%lld}", (long long)batch,
                                   (long long)wait_ms * 1000000)
                        : snprintf(body, sizeof body, "{\"batch\":%lld,\"no_wait\":true}", (long long)batch);
    struct herald_msg m = {.subject = subject, .subject_len = strlen(subject), .reply = inbox,
                           .reply_len = strlen(inbox), .data = body, .data_len = (size_t)n};
    herald_publish(ws_engine(w), &m, w);
}

/* Like the REST fetch: CONSUMER.INFO first (an unknown stream or consumer gets no answer to a
 * pull request, so the fetch would never end), then the pull request. */
static void op_fetch(struct ws_client *w, json_t *o, json_t *id)
{
    const char *stream = json_string_value(json_object_get(o, "stream"));
    const char *consumer = json_string_value(json_object_get(o, "consumer"));
    json_int_t batch = json_integer_value(json_object_get(o, "batch"));
    json_int_t wait_ms = json_is_integer(json_object_get(o, "wait_ms")) ? json_integer_value(json_object_get(o, "wait_ms")) : 5000;
    if (!stream || !consumer || strlen(stream) > HERALD_NAME_MAX || strlen(consumer) > HERALD_NAME_MAX ||
        !hr_subject_valid_literal(stream, strlen(stream)) || !hr_subject_valid_literal(consumer, strlen(consumer)) ||
        strchr(stream, '.') || strchr(consumer, '.')) {
        send_error(w, id, NULL, 400, "fetch needs \"stream\" and \"consumer\"");
        return;
    }
    if (batch <= 0)
        batch = 1;
    if (!herald_stream_lookup(ws_engine(w), stream)) {
        json_t *e = json_pack("{s:s, s:{s:i, s:i, s:s}}", "op", "error", "error", "code", 404, "err_code", 10059,
                              "description", "stream not found");
        if (e && id)
            json_object_set(e, "id", id);
        send_json(w, e);
        return;
    }
    char reply[96], api[2 * HERALD_NAME_MAX + 64];
    struct ws_pending *p = pending_new(w, 'f', id, NULL, reply, sizeof reply);
    if (!p) {
        send_error(w, id, NULL, 500, "out of memory");
        return;
    }
    snprintf(p->stream, sizeof p->stream, "%s", stream);
    snprintf(p->consumer, sizeof p->consumer, "%s", consumer);
    p->batch = batch;
    p->wait_ms = wait_ms;
    snprintf(api, sizeof api, "$JS.API.CONSUMER.INFO.%s.%s", stream, consumer);
    struct herald_msg m = {.subject = api, .subject_len = strlen(api), .reply = reply,
                           .reply_len = strlen(reply)};
    herald_publish(ws_engine(w), &m, w);
}

static void op_ack(struct ws_client *w, json_t *o, json_t *id)
{
    const char *ack_id = json_string_value(json_object_get(o, "ack_id"));
    const char *type = json_string_value(json_object_get(o, "type"));
    if (!ack_id || strncmp(ack_id, "$JS.ACK.", 8) != 0) {
        send_error(w, id, NULL, 400, "ack needs the \"ack_id\" of a delivered message");
        return;
    }
    char payload[64] = "+ACK";
    json_int_t delay_ms = json_integer_value(json_object_get(o, "delay_ms"));
    if (type && strcmp(type, "nak") == 0)
        snprintf(payload, sizeof payload, delay_ms > 0 ? "-NAK {\"delay\":%lld}" : "-NAK",
                 (long long)delay_ms * 1000000);
    else if (type && strcmp(type, "term") == 0)
        snprintf(payload, sizeof payload, "+TERM");
    else if (type && strcmp(type, "wpi") == 0)
        snprintf(payload, sizeof payload, "+WPI");
    struct herald_msg m = {.subject = ack_id, .subject_len = strlen(ack_id), .data = payload,
                           .data_len = strlen(payload)};
    herald_publish(ws_engine(w), &m, w);
}

static size_t ws_read(struct hr_conn *c, const char *buf, size_t len)
{
    struct ws_client *w = c->state;
    json_error_t jerr;
    json_t *o = json_loadb(buf, len, 0, &jerr);
    const char *op = json_string_value(json_object_get(o, "op"));
    json_t *id = json_object_get(o, "id");
    if (!json_is_object(o) || !op) {
        send_error(w, NULL, NULL, 400, "each message is a JSON object with an \"op\"");
    } else if (strcmp(op, "pub") == 0) {
        op_pub(w, o, id);
    } else if (strcmp(op, "sub") == 0) {
        op_sub(w, o, id);
    } else if (strcmp(op, "unsub") == 0) {
        size_t i;
        const char *sid = json_string_value(json_object_get(o, "sid"));
        if (sid && find_sub(w, sid, &i))
            sub_drop(w, i);
    } else if (strcmp(op, "fetch") == 0) {
        op_fetch(w, o, id);
    } else if (strcmp(op, "ack") == 0) {
        op_ack(w, o, id);
    } else if (strcmp(op, "ping") == 0) {
        json_t *a = json_pack("{s:s}", "op", "pong");
        if (a && id) /* `id` is echoed on every answer (docs/websocket.md) */
            json_object_set(a, "id", id);
        send_json(w, a);
    } else {
        send_error(w, id, NULL, 400, "unknown op (pub, sub, unsub, fetch, ack, ping)");
    }
    json_decref(o);
    return len;
}

static void ws_open(struct hr_conn *c)
{
    struct ws_client *w = c->state;
    w->conn = c;
    hr_map_init(&w->pending);
    char subj[64];
    snprintf(subj, sizeof subj, "_HRWS.%" PRIu64 ".r.*", c->id);
    struct herald_sub_options so = {.deliver = on_reply, .ctx = w, .owner = w};
    if (herald_sub_create(c->server->engine, subj, strlen(subj), NULL, 0, &so, &w->replies))
        hr_conn_close(c, HR_CLOSE_NOW, "out of memory");
}

static void ws_close(struct hr_conn *c)
{
    struct ws_client *w = c->state;
    herald_sub_destroy(w->replies);
    w->replies = NULL;
    for (size_t i = 0; i < w->nsubs; i++)
        if (w->subs[i])
            sub_drop(w, i);
    while (w->fetches)
        fetch_free(w, w->fetches);
    for (size_t i = 0; i < w->pending.cap; i++) {
        struct ws_pending *p = w->pending.slots[i].hash ? w->pending.slots[i].val : NULL;
        if (p) {
            json_decref(p->id);
            free(p);
        }
    }
    hr_map_cleanup(&w->pending);
}

/* Keepalive, as the NATS head does it with PING: a herald.v1 peer silent for
 * ping_interval gets a WebSocket ping (browsers answer with a pong by themselves); after
 * ping_max unanswered pings it is closed with 1001, and its subscriptions go with it. */
static void ws_tick(struct hr_conn *c, uint64_t now_ms)
{
    struct ws_client *w = c->state;
    struct ws_filter *f = c->filter_state;
    const struct hr_config *cfg = c->server->cfg;
    uint64_t every = (uint64_t)cfg->ping_interval_ms;
    if (!f || wslay_event_get_close_sent(f->ctx))
        return;
    /* a ping goes out only after `every` of silence, so a read stamped at or after the
     * last ping's millisecond came after it */
    if (c->last_read_ms >= w->last_ping_ms)
        w->pings_out = 0;
    if (now_ms - c->last_read_ms < every || now_ms - w->last_ping_ms < every)
        return;
    if (w->pings_out >= (unsigned)cfg->ping_max) {
        c->server->stats.stale_connections++;
        hr_info("ws conn %llu from %s:%d: no pong to %u pings; closed", (unsigned long long)c->id,
                c->ip, c->port, w->pings_out);
        static const char why[] = "no pong";
        wslay_event_queue_close(f->ctx, WSLAY_CODE_GOING_AWAY, (const uint8_t *)why, sizeof why - 1);
        wslay_event_send(f->ctx);
        hr_conn_wire_ready(c);
        hr_conn_close(c, HR_CLOSE_FLUSH, "websocket: no pong");
        return;
    }
    w->pings_out++;
    w->last_ping_ms = now_ms;
    if (hr_ws_frame_encode(&c->wire, WSLAY_PING, NULL, 0) == 0)
        hr_conn_wire_ready(c);
}

static const struct hr_head ws_herald_head = {
    .name = "ws",
    .conn_state_size = sizeof(struct ws_client),
    .conn_open = ws_open,
    .conn_read = ws_read,
    .conn_tick = ws_tick,
    .conn_close = ws_close,
};

/* ---- the upgrade ---------------------------------------------------------------------------- */

bool hr_http_ws_upgrade(struct hr_http_client *h, const struct hr_http_request *req, bool herald_protocol)
{
    struct hr_conn *c = h->conn;
    struct hr_slice up = hr_http_header_get(req, "Upgrade");
    if (!req->upgrade || !hr_http_list_has(up, "websocket"))
        return false;
    struct hr_slice key = hr_http_header_get(req, "Sec-WebSocket-Key");
    struct hr_slice ver = hr_http_header_get(req, "Sec-WebSocket-Version");
    if (req->method_id != HR_HTTP_METHOD_GET || req->version_minor < 1) {
        hr_http_error(h, 400, 0, "a WebSocket upgrade is a GET over HTTP/1.1");
        return true;
    }
    if (!hr_http_slice_ieq(ver, "13")) {
        static const char body[] = "{\"error\":{\"code\":426,\"err_code\":0,"
                                   "\"description\":\"WebSocket version 13 required\"}}";
        hr_http_respond(h, 426, "application/json", body, sizeof body - 1, "Sec-WebSocket-Version: 13\r\n");
        return true;
    }
    if (key.len != 24) {
        hr_http_error(h, 400, 0, "Sec-WebSocket-Key must be 16 bytes in base64");
        return true;
    }
    struct hr_slice protos = hr_http_header_get(req, "Sec-WebSocket-Protocol");
    bool herald = herald_protocol && hr_http_list_has(protos, "herald.v1");
    if (herald_protocol && !herald) {
        hr_http_error(h, 400, 0, "/v1/ws speaks the herald.v1 subprotocol (Sec-WebSocket-Protocol: herald.v1); NATS over WebSocket is at /nats");
        return true;
    }
    unsigned char digest[SHA_DIGEST_LENGTH];
    char material[64];
    memcpy(material, key.ptr, 24);
    memcpy(material + 24, WS_GUID, 36);
    SHA1((const unsigned char *)material, 60, digest);
    char *accept = hr_base64_encode(digest, sizeof digest);
    struct ws_filter *f = calloc(1, sizeof *f);
    struct wslay_event_callbacks cb = {.recv_callback = ws_recv, .send_callback = ws_send,
                                       .on_msg_recv_callback = ws_on_msg};
    if (!accept || !f || wslay_event_context_server_init(&f->ctx, &cb, f) != 0) {
        free(accept);
        free(f);
        hr_http_error(h, 500, 0, "out of memory");
        return true;
    }
    f->conn = c;
    f->text = herald;
    wslay_event_config_set_max_recv_msg_length(f->ctx, (uint64_t)c->server->cfg->max_payload + 64 * 1024);
    char head[512];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: %s\r\n%s\r\n", accept,
                     herald ? "Sec-WebSocket-Protocol: herald.v1\r\n" : "");
    free(accept);
    hr_conn_write(c, head, (size_t)n);
    /* The 101 goes out unframed: flush it before the filter takes over. */
    hr_conn_flush_now(c);
    if (hr_conn_switch(c, &ws_filter_ops, f, herald ? &ws_herald_head : &hr_nats_head) != 0) {
        wslay_event_context_free(f->ctx);
        free(f);
        hr_conn_close(c, HR_CLOSE_NOW, "cannot switch to WebSocket");
    }
    return true;
}
