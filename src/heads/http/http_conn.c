/* SPDX-License-Identifier: Apache-2.0
 *
 * HTTP/1.1 connections: the head descriptor, the read loop (head, Content-Length or
 * chunked body, Expect: 100-continue, keep-alive, pipelining one request at a time), the
 * response writer (H2, CORS), the request waits that bridge to the engine through reply
 * inboxes (H1) with their timeouts, and the header-read/idle timeouts (slowloris).
 * Errors are JSON shaped like the JetStream API's: {"error":{"code","err_code","description"}}.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "heads/http/http.h"
#include "heads/nats/nats.h"
#include "herald/stream.h"
#include "server/server.h"

#define HEADER_TIMEOUT_MS 10000
#define IDLE_TIMEOUT_MS 120000

struct herald_engine *hr_http_engine(const struct hr_http_client *h)
{
    return h->conn->server->engine;
}

/* ---- responses ---------------------------------------------------------------------- */

void hr_http_respond(struct hr_http_client *h, int status, const char *content_type,
                     const char *body, size_t len, const char *extra_headers)
{
    struct hr_conn *c = h->conn;
    char head[1024];
    size_t n = hr_http_encode_status_line(head, sizeof head, status, NULL);
    int m = snprintf(head + n, sizeof head - n,
                     "Server: herald/%s\r\nContent-Length: %zu\r\n%s%s%s%s%s%s%s\r\n", HERALD_VERSION,
                     len, content_type ? "Content-Type: " : "", content_type ? content_type : "",
                     content_type ? "\r\n" : "", h->keep_alive ? "" : "Connection: close\r\n",
                     *h->origin ? "Access-Control-Allow-Origin: " : "", h->origin,
                     *h->origin ? "\r\nVary: Origin\r\n" : "");
    if (m < 0 || (size_t)m >= sizeof head - n)
        m = 0;
    hr_conn_write(c, head, n + (size_t)m - 2); /* the blank line comes after the extras */
    if (extra_headers)
        hr_conn_write(c, extra_headers, strlen(extra_headers));
    hr_conn_write(c, "\r\n", 2);
    if (!h->head_only && len)
        hr_conn_write(c, body, len);
    h->phase = HR_HTTP_IDLE;
    if (!h->keep_alive)
        hr_conn_close(c, HR_CLOSE_FLUSH, "Connection: close");
    else
        hr_conn_schedule_read(c); /* H3 */
}

void hr_http_respond_json(struct hr_http_client *h, int status, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text) {
        hr_http_respond(h, 500, "application/json", "{\"error\":{\"code\":500,\"err_code\":0,"
                        "\"description\":\"out of memory\"}}", 66, NULL);
        return;
    }
    hr_http_respond(h, status, "application/json", text, strlen(text), NULL);
    free(text);
}

void hr_http_error(struct hr_http_client *h, int status, int err_code, const char *description)
{
    hr_http_respond_json(h, status, json_pack("{s:{s:i, s:i, s:s}}", "error", "code", status,
                                              "err_code", err_code, "description", description));
}

/* ---- waits (H1) ------------------------------------------------------------------------- */

static void on_timeout(uv_timer_t *t)
{
    struct hr_http_client *h = t->data;
    if (h->phase != HR_HTTP_WAITING)
        return;
    enum hr_http_wait kind = h->wait;
    json_t *acc = h->acc;
    h->acc = NULL;
    hr_http_wait_end(h);
    if (kind == HR_WAIT_FETCH) {
        hr_http_respond_json(h, 200, json_pack("{s:o}", "messages", acc ? acc : json_array()));
        return;
    }
    json_decref(acc);
    hr_http_error(h, 504, 0, kind == HR_WAIT_REQUEST ? "no reply before the timeout"
                                                     : "the engine did not answer in time");
}

const char *hr_http_wait_begin(struct hr_http_client *h, enum hr_http_wait kind, uint64_t timeout_ms,
                               herald_deliver_fn on_msg)
{
    struct hr_conn *c = h->conn;
    snprintf(h->inbox_subject, sizeof h->inbox_subject, "_HRHTTP.%" PRIu64 ".%" PRIu64, c->id,
             ++h->next_inbox);
    struct herald_sub_options so = {.deliver = on_msg, .ctx = h, .owner = h};
    if (herald_sub_create(hr_http_engine(h), h->inbox_subject, strlen(h->inbox_subject), NULL, 0,
                          &so, &h->inbox) != 0) {
        hr_http_error(h, 500, 0, "out of memory");
        return NULL;
    }
    h->wait = kind;
    h->phase = HR_HTTP_WAITING;
    h->received = 0;
    if (!h->timer && (h->timer = malloc(sizeof *h->timer)) != NULL) {
        uv_timer_init(c->server->loop, h->timer);
        h->timer->data = h;
    }
    if (timeout_ms && h->timer)
        uv_timer_start(h->timer, on_timeout, timeout_ms, 0);
    return h->inbox_subject;
}

void hr_http_wait_end(struct hr_http_client *h)
{
    herald_sub_destroy(h->inbox);
    h->inbox = NULL;
    if (h->timer)
        uv_timer_stop(h->timer);
    json_decref(h->acc);
    h->acc = NULL;
}

/* The JetStream API answer: relay it, with error.code as the status. */
static void default_api_done(struct hr_http_client *h, int status, json_t *body)
{
    hr_http_respond_json(h, status, body);
}

static void on_api_reply(void *ctx, struct herald_sub *sub, const struct herald_msg *msg)
{
    struct hr_http_client *h = ctx;
    (void)sub;
    if (h->phase != HR_HTTP_WAITING || h->wait != HR_WAIT_API)
        return;
    json_error_t jerr;
    json_t *o = json_loadb(msg->data, msg->data_len, 0, &jerr);
    hr_http_api_done done = h->api_done ? h->api_done : default_api_done;
    int ok = h->api_status_ok;
    hr_http_wait_end(h);
    if (!json_is_object(o)) {
        json_decref(o);
        hr_http_error(h, 502, 0, "the engine answered with something that is not JSON");
        return;
    }
    json_object_del(o, "type");
    json_t *err = json_object_get(o, "error");
    int status = err ? (int)json_integer_value(json_object_get(err, "code")) : ok;
    if (status < 100 || status > 599)
        status = 500;
    done(h, status, o);
}

void hr_http_api(struct hr_http_client *h, const char *subject, json_t *body, hr_http_api_done done,
                 int ok_status)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    const char *inbox = hr_http_wait_begin(h, HR_WAIT_API, 10000, on_api_reply);
    if (!inbox) {
        free(text);
        return;
    }
    h->api_done = done;
    h->api_status_ok = ok_status ? ok_status : 200;
    struct herald_msg m = {.subject = subject, .subject_len = strlen(subject), .reply = inbox,
                           .reply_len = strlen(inbox), .data = text, .data_len = text ? strlen(text) : 0};
    herald_publish(hr_http_engine(h), &m, h);
    free(text);
}

/* ---- the read loop ---------------------------------------------------------------------- */

/* CORS: `http_allowed_origins` is "*" (any origin: the API carries no cookies or ambient
 * credentials, and the server listens on the loopback address by default) or a comma-
 * separated list of exact origins. A refused origin gets no Access-Control-Allow-Origin,
 * so the browser withholds the answer. */
static bool origin_allowed(const struct hr_config *cfg, struct hr_slice origin)
{
    if (origin.len == 0 || origin.len >= 256)
        return false;
    const char *list = cfg->http_allowed_origins;
    while (*list) {
        while (*list == ' ' || *list == ',')
            list++;
        size_t n = strcspn(list, ", ");
        if (n == 1 && list[0] == '*')
            return true;
        if (n && n == origin.len && memcmp(list, origin.ptr, n) == 0)
            return true;
        list += n;
    }
    return false;
}

static size_t fail(struct hr_http_client *h, enum hr_http_error e, size_t len)
{
    h->keep_alive = false;
    h->conn->server->stats.protocol_errors++;
    hr_http_error(h, hr_http_error_status(e), 0, hr_http_error_text(e));
    return len;
}

static size_t http_read(struct hr_conn *c, const char *buf, size_t len)
{
    struct hr_http_client *h = c->state;
    if (h->phase != HR_HTTP_IDLE)
        return 0; /* H3: pipelined bytes wait */
    const struct hr_config *cfg = c->server->cfg;
    /* A request, head and body, must fit the connection's input buffer (conn.h C4): a body
     * it cannot hold is refused here with 413, not cut off by the server without an answer. */
    uint64_t body_max = (uint64_t)cfg->max_payload * 4;
    struct hr_http_limits lim = {.max_body_bytes = body_max < c->in.max ? body_max : c->in.max};
    static __thread struct hr_http_request req; /* large: kept off the stack */
    struct hr_http_result r = hr_http_parse_request(buf, len, &lim, &req);
    if (r.status == HR_HTTP_MORE) {
        if (!h->head_started) { /* the header timeout counts from the first byte */
            h->head_started = true;
            h->head_start_ms = hr_conn_now_ms(c);
        }
        return 0;
    }
    h->head_started = false;
    if (r.status == HR_HTTP_ERROR)
        return fail(h, r.error, len);
    if (req.body == HR_HTTP_BODY_LENGTH && r.need > c->in.max)
        return fail(h, HR_HTTP_EBODY_TOO_LARGE, len);
    h->keep_alive = req.keep_alive;
    h->head_only = req.method_id == HR_HTTP_METHOD_HEAD;
    struct hr_slice origin = hr_http_header_get(&req, "Origin");
    h->origin[0] = '\0';
    if (origin_allowed(cfg, origin))
        snprintf(h->origin, sizeof h->origin, "%.*s", (int)origin.len, origin.ptr);
    const char *body = buf + r.consumed;
    size_t body_len = 0, used = r.consumed;
    if (req.body != HR_HTTP_BODY_NONE && req.expect_continue && !h->sent_continue &&
        len == r.consumed) {
        hr_conn_write(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
        h->sent_continue = true;
        return 0;
    }
    if (req.body == HR_HTTP_BODY_LENGTH) {
        if (len < r.need) {
            c->read_need = r.need;
            return 0;
        }
        body_len = (size_t)req.content_length;
        used = r.need;
    } else if (req.body == HR_HTTP_BODY_CHUNKED) {
        struct hr_http_chunk_state st;
        hr_http_chunk_init(&st, &lim);
        h->body.len = 0;
        size_t off = r.consumed;
        for (;;) {
            struct hr_slice data;
            struct hr_http_chunk_result cr = hr_http_parse_chunk(buf + off, len - off, &st, &data);
            if (cr.status == HR_HTTP_ERROR)
                return fail(h, cr.error, len);
            if (cr.total > lim.max_body_bytes)
                return fail(h, HR_HTTP_EBODY_TOO_LARGE, len);
            if (data.len && hr_buf_append(&h->body, data.ptr, data.len) != 0)
                return fail(h, HR_HTTP_EBODY_TOO_LARGE, len);
            off += cr.consumed;
            if (cr.status == HR_HTTP_OK)
                break;
            if (off >= len || cr.consumed == 0) {
                if (len >= c->in.max) /* the framing outgrew the input buffer */
                    return fail(h, HR_HTTP_EBODY_TOO_LARGE, len);
                return 0; /* the rest of the body has not arrived: parse again then */
            }
        }
        body = h->body.data ? h->body.data : "";
        body_len = h->body.len;
        used = off;
    }
    h->sent_continue = false;
    c->read_need = 0;
    if (req.method_id == HR_HTTP_METHOD_OTHER || req.method_id == HR_HTTP_METHOD_CONNECT ||
        req.method_id == HR_HTTP_METHOD_TRACE) {
        hr_http_error(h, 501, 0, "method not implemented");
        return used;
    }
    if (req.method_id == HR_HTTP_METHOD_OPTIONS) { /* CORS preflight */
        hr_http_respond(h, 204, NULL, NULL, 0,
                        "Access-Control-Allow-Methods: GET, HEAD, POST, PUT, DELETE, OPTIONS\r\n"
                        "Access-Control-Allow-Headers: *\r\nAccess-Control-Max-Age: 600\r\n");
        return used;
    }
    if (!hr_http_monitor(h, &req))
        hr_http_route(h, &req, body, body_len);
    return used;
}

static void http_open(struct hr_conn *c)
{
    struct hr_http_client *h = c->state;
    h->conn = c;
    hr_buf_init(&h->body, (size_t)c->server->cfg->max_payload * 4);
}

static void http_refuse(struct hr_conn *c)
{
    static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                               "Connection: close\r\nRetry-After: 1\r\n\r\n";
    hr_conn_write(c, busy, sizeof busy - 1);
}

static void http_tick(struct hr_conn *c, uint64_t now_ms)
{
    struct hr_http_client *h = c->state;
    if (h->phase == HR_HTTP_STREAMING) {
        hr_http_sse_tick(h, now_ms);
        return;
    }
    if (h->phase != HR_HTTP_IDLE)
        return;
    /* slowloris: a head must complete within HEADER_TIMEOUT_MS of its first byte, however
     * slowly it trickles in; a body must not stall for longer than that */
    if (c->in.len && (now_ms - c->last_read_ms > HEADER_TIMEOUT_MS ||
                      (h->head_started && now_ms - h->head_start_ms > HEADER_TIMEOUT_MS))) {
        h->keep_alive = false;
        hr_http_error(h, 408, 0, "request not complete in time");
        return;
    }
    if (!c->in.len && now_ms - c->last_read_ms > IDLE_TIMEOUT_MS)
        hr_conn_close(c, HR_CLOSE_NOW, "idle");
}

static void timer_closed(uv_handle_t *hd)
{
    free(hd);
}

static void http_close(struct hr_conn *c)
{
    struct hr_http_client *h = c->state;
    hr_http_sse_close(h);
    hr_http_wait_end(h);
    if (h->timer) {
        uv_close((uv_handle_t *)h->timer, timer_closed);
        h->timer = NULL;
    }
    hr_buf_cleanup(&h->body);
}

_Static_assert(sizeof(struct hr_http_client) <= HR_HTTP_STATE_RESERVE, "http state fits");
_Static_assert(sizeof(struct hr_nats_client) <= HR_HTTP_STATE_RESERVE, "NATS over WebSocket fits");

const struct hr_head hr_http_head = {
    .name = "http",
    .conn_state_size = sizeof(struct hr_http_client),
    .conn_state_reserve = HR_HTTP_STATE_RESERVE,
    .conn_open = http_open,
    .conn_refuse = http_refuse,
    .conn_read = http_read,
    .conn_tick = http_tick,
    .conn_close = http_close,
};
