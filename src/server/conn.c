/* SPDX-License-Identifier: Apache-2.0
 *
 * Connection I/O: reading into a bounded buffer, coalesced writes, closing. The state
 * machine and invariants C1–C5 are in conn.h. Owns the per-connection buffers and the
 * uv_tcp_t; knows nothing of any wire format (the head does).
 */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "herald/errors.h"
#include "server/server.h"

#define READ_CHUNK (64 * 1024)

size_t hr_conn_pending(const struct hr_conn *c)
{
    /* with a filter (C6), framed bytes not yet handed to the socket (a pong, a close
     * frame) are queued output too: hr_conn_close(FLUSH) must write them */
    return c->out.len + c->wire.len + (c->writing ? c->inflight.len - c->inflight_off : 0);
}

uint64_t hr_conn_now_ms(const struct hr_conn *c)
{
    return uv_now(c->server->loop);
}

static void mark_dirty(struct hr_conn *c)
{
    if (!c->dirty) {
        c->dirty = true;
        c->dirty_next = c->server->dirty;
        c->server->dirty = c;
    }
}

char *hr_conn_reserve(struct hr_conn *c, size_t n, int *err)
{
    if (c->state_kind != HR_CONN_OPEN) {
        *err = HERALD_ECLOSED;
        return NULL;
    }
    size_t pending = hr_conn_pending(c);
    size_t cap = c->max_pending ? c->max_pending : (size_t)c->server->cfg->max_pending;
    if (pending + n > cap) {
        *err = HERALD_ELIMIT;
        return NULL;
    }
    int rc = hr_buf_reserve(&c->out, n);
    if (rc) {
        *err = rc;
        return NULL;
    }
    mark_dirty(c);
    return c->out.data + c->out.len;
}

void hr_conn_commit(struct hr_conn *c, size_t used)
{
    c->out.len += used;
}

int hr_conn_write(struct hr_conn *c, const void *p, size_t n)
{
    int err = 0;
    char *dst = hr_conn_reserve(c, n, &err);
    if (!dst)
        return err;
    memcpy(dst, p, n);
    hr_conn_commit(c, n);
    return 0;
}

/* ---- closing -------------------------------------------------------------------- */

static void on_closed(uv_handle_t *h)
{
    struct hr_conn *c = h->data;
    struct hr_server *s = c->server;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nconns--;
    hr_buf_cleanup(&c->in);
    hr_buf_cleanup(&c->out);
    hr_buf_cleanup(&c->inflight);
    hr_buf_cleanup(&c->wire);
    hr_buf_cleanup(&c->app_in);
    if (c->filter && c->filter->destroy)
        c->filter->destroy(c);
    free(c);
    if (s->shutting_down && s->nconns == 0)
        hr_server_shutdown(s); /* finishes the shutdown */
}

static void finish_close(struct hr_conn *c)
{
    if (c->state_kind == HR_CONN_CLOSED)
        return;
    c->state_kind = HR_CONN_CLOSED;
    uv_read_stop((uv_stream_t *)&c->tcp);
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

void hr_conn_close(struct hr_conn *c, enum hr_close_mode mode, const char *reason)
{
    if (c->state_kind == HR_CONN_CLOSED)
        return;
    if (c->state_kind == HR_CONN_OPEN) {
        c->close_reason = reason;
        hr_debug("%s conn %llu from %s:%d closed: %s", c->head->name, (unsigned long long)c->id,
                 c->ip, c->port, reason ? reason : "");
        /* Output still queued is written for FLUSH, so leave `out` alone until then;
         * the head may append its last words before it is called (it already has). */
        c->state_kind = HR_CONN_DRAINING;
        uv_read_stop((uv_stream_t *)&c->tcp);
        if (c->head->conn_close)
            c->head->conn_close(c);
        if (mode == HR_CLOSE_FLUSH && c->filter && c->filter->closing)
            c->filter->closing(c, reason);
    }
    if (mode == HR_CLOSE_NOW || hr_conn_pending(c) == 0) {
        finish_close(c);
        return;
    }
    if (!c->writing)
        c->write_started_ms = uv_now(c->server->loop);
    mark_dirty(c);
}

/* ---- writing -------------------------------------------------------------------- */

static void conn_flush(struct hr_conn *c);

static void on_written(uv_write_t *req, int status)
{
    struct hr_conn *c = req->data;
    c->writing = false;
    c->inflight.len = 0;
    c->inflight_off = 0;
    if (c->state_kind == HR_CONN_CLOSED)
        return;
    if (status < 0) {
        hr_conn_close(c, HR_CLOSE_NOW, uv_strerror(status));
        return;
    }
    conn_flush(c);
}

static void conn_flush(struct hr_conn *c)
{
    if (c->state_kind == HR_CONN_CLOSED || c->writing)
        return;
    if (c->filter && c->out.len) { /* C6: frame what the head wrote */
        int rc = c->filter->output(c, c->out.data, c->out.len, &c->wire);
        c->out.len = 0;
        if (rc) {
            hr_conn_close(c, HR_CLOSE_NOW, "output framing failed");
            return;
        }
    }
    if (c->filter) { /* the wire buffer is what goes out: swap it in */
        struct hr_buf t = c->out;
        c->out = c->wire;
        c->wire = t;
    }
    if (c->out.len == 0) {
        if (c->state_kind == HR_CONN_DRAINING)
            finish_close(c);
        return;
    }
    uv_buf_t b = uv_buf_init(c->out.data, (unsigned)c->out.len);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n == (int)c->out.len) {
        c->out.len = 0;
        if (c->state_kind == HR_CONN_DRAINING)
            finish_close(c);
        return;
    }
    if (n < 0 && n != UV_EAGAIN) {
        hr_conn_close(c, HR_CLOSE_NOW, uv_strerror(n));
        return;
    }
    /* The socket is full: hand the rest to libuv and keep filling a fresh `out`. */
    struct hr_buf t = c->inflight;
    c->inflight = c->out;
    c->out = t;
    c->out.len = 0;
    c->inflight_off = n > 0 ? (size_t)n : 0;
    b = uv_buf_init(c->inflight.data + c->inflight_off,
                    (unsigned)(c->inflight.len - c->inflight_off));
    c->wreq.data = c;
    int rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_written);
    if (rc < 0) {
        hr_conn_close(c, HR_CLOSE_NOW, uv_strerror(rc));
        return;
    }
    c->writing = true;
    c->write_started_ms = uv_now(c->server->loop);
}

/* Output buffers keep their memory while busy (re-faulting fresh pages on every burst
 * costs more than the copy); the tick releases what an idle connection holds. */
void hr_conn_release_idle_buffers(struct hr_conn *c);
void hr_conn_release_idle_buffers(struct hr_conn *c)
{
    hr_buf_shrink(&c->out, 64 * 1024);
    if (!c->writing)
        hr_buf_shrink(&c->inflight, 64 * 1024);
    hr_buf_shrink(&c->in, 4 * READ_CHUNK);
}

void hr_conn_flush_now(struct hr_conn *c)
{
    conn_flush(c);
}

void hr_server_flush_dirty(struct hr_server *s);
void hr_server_flush_dirty(struct hr_server *s)
{
    while (s->dirty) {
        struct hr_conn *c = s->dirty;
        s->dirty = c->dirty_next;
        c->dirty = false;
        conn_flush(c);
    }
}

void hr_conn_schedule_read(struct hr_conn *c)
{
    if (c->reread || c->state_kind != HR_CONN_OPEN)
        return;
    c->reread = true;
    c->reread_next = c->server->reread;
    c->server->reread = c;
}

/* C6: socket bytes in `in` go through the filter, which takes them all. */
static void filter_input(struct hr_conn *c)
{
    int rc = c->filter->input(c, c->in.data, c->in.len);
    c->in.len = 0;
    if (rc && c->state_kind == HR_CONN_OPEN)
        hr_conn_close(c, HR_CLOSE_FLUSH, "filter closed the connection");
}

/* The head read `used` bytes of `in`; if that installed a filter (hr_conn_switch after an
 * upgrade), the bytes behind the upgrade request are already the filter's input. */
static void after_head_read(struct hr_conn *c, size_t used)
{
    hr_buf_consume(&c->in, used);
    if (c->filter && c->in.len)
        filter_input(c);
}

void hr_server_reread(struct hr_server *s);
void hr_server_reread(struct hr_server *s)
{
    while (s->reread) {
        struct hr_conn *c = s->reread;
        s->reread = c->reread_next;
        c->reread = false;
        if (c->state_kind != HR_CONN_OPEN || c->in.len == 0)
            continue;
        if (c->filter) {
            filter_input(c);
            continue;
        }
        size_t used = c->head->conn_read(c, c->in.data, c->in.len);
        if (c->state_kind == HR_CONN_OPEN)
            after_head_read(c, used);
    }
}

/* ---- reading -------------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct hr_conn *c = h->data;
    size_t want = READ_CHUNK;
    if (c->read_need > c->in.len && c->read_need - c->in.len > want)
        want = c->read_need - c->in.len;
    if (c->in.cap - c->in.len < want && hr_buf_reserve(&c->in, want) != 0) {
        /* At the cap (C4): offer what is left; zero means the head must fail the frame. */
        if (c->in.cap == c->in.len && hr_buf_reserve(&c->in, c->in.max - c->in.len) != 0) {
            *buf = uv_buf_init(NULL, 0);
            return;
        }
    }
    *buf = uv_buf_init(c->in.data + c->in.len, (unsigned)(c->in.cap - c->in.len));
}

int hr_conn_switch(struct hr_conn *c, const struct hr_conn_filter *filter, void *filter_state,
                   const struct hr_head *head)
{
    size_t reserve = c->head->conn_state_reserve;
    if (head->conn_state_size > reserve)
        return HERALD_EINVAL;
    if (c->head->conn_close)
        c->head->conn_close(c); /* the old head lets go of its state (C1 for that head) */
    memset(c->state, 0, reserve);
    c->filter = filter;
    c->filter_state = filter_state;
    /* framing adds a few bytes per message to what C3 admitted into `out` */
    hr_buf_init(&c->wire, 2 * c->out.max + 64 * 1024);
    c->head = head;
    head->conn_open(c);
    return 0;
}

void hr_conn_wire_ready(struct hr_conn *c)
{
    if (c->state_kind != HR_CONN_CLOSED && c->wire.len)
        mark_dirty(c);
}

void hr_conn_feed(struct hr_conn *c, const char *app, size_t len)
{
    if (c->state_kind != HR_CONN_OPEN)
        return;
    /* the application stream may split units: keep what the head did not consume */
    if (c->app_in.len == 0) {
        size_t used = c->head->conn_read(c, app, len);
        if (used < len && c->state_kind == HR_CONN_OPEN &&
            hr_buf_append(&c->app_in, app + used, len - used) != 0)
            hr_conn_close(c, HR_CLOSE_NOW, "input buffer limit");
        return;
    }
    if (hr_buf_append(&c->app_in, app, len) != 0) {
        hr_conn_close(c, HR_CLOSE_NOW, "input buffer limit");
        return;
    }
    size_t used = c->head->conn_read(c, c->app_in.data, c->app_in.len);
    if (c->state_kind == HR_CONN_OPEN)
        hr_buf_consume(&c->app_in, used);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct hr_conn *c = stream->data;
    if (nread == 0)
        return;
    if (nread < 0) {
        if (nread == UV_ENOBUFS) {
            c->server->stats.protocol_errors++;
            hr_conn_close(c, HR_CLOSE_NOW, "input buffer limit");
        } else {
            hr_conn_close(c, HR_CLOSE_NOW, nread == UV_EOF ? "client closed" : uv_strerror((int)nread));
        }
        return;
    }
    c->in.len += (size_t)nread;
    c->last_read_ms = uv_now(c->server->loop);
    if (c->filter) { /* C6 */
        filter_input(c);
        return;
    }
    size_t used = c->head->conn_read(c, c->in.data, c->in.len);
    if (c->state_kind != HR_CONN_OPEN)
        return;
    after_head_read(c, used);
    if (c->state_kind != HR_CONN_OPEN || c->filter)
        return;
    if (c->in.len == c->in.max) {
        c->server->stats.protocol_errors++;
        hr_conn_close(c, HR_CLOSE_NOW, "input buffer limit");
    }
    (void)buf;
}

/* ---- accepting ------------------------------------------------------------------ */

void hr_server_accept(struct hr_listener *l);
void hr_server_accept(struct hr_listener *l)
{
    struct hr_server *s = l->server;
    const struct hr_config *cfg = s->cfg;
    size_t want = l->head->conn_state_reserve > l->head->conn_state_size ? l->head->conn_state_reserve
                                                                          : l->head->conn_state_size;
    size_t state = (want + 15) & ~(size_t)15;
    struct hr_conn *c = calloc(1, sizeof *c + state);
    if (!c) {
        hr_error("out of memory accepting a connection");
        return;
    }
    c->state = state ? (char *)(c + 1) : NULL;
    c->server = s;
    c->head = l->head;
    c->id = ++s->next_conn_id;
    c->created_ms = c->last_read_ms = uv_now(s->loop);
    hr_buf_init(&c->in, (size_t)cfg->max_payload + (size_t)cfg->max_control_line + READ_CHUNK);
    hr_buf_init(&c->out, (size_t)cfg->max_pending);
    hr_buf_init(&c->inflight, (size_t)cfg->max_pending);
    hr_buf_init(&c->app_in, (size_t)cfg->max_payload + (size_t)cfg->max_control_line + READ_CHUNK);
    uv_tcp_init(s->loop, &c->tcp);
    c->tcp.data = c;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    if (uv_accept((uv_stream_t *)&l->tcp, (uv_stream_t *)&c->tcp) != 0) {
        c->state_kind = HR_CONN_DRAINING; /* head never opened: no conn_close */
        finish_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    struct sockaddr_storage ss;
    int sl = sizeof ss;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *in = (struct sockaddr_in *)&ss;
            uv_ip4_name(in, c->ip, sizeof c->ip);
            c->port = ntohs(in->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
            uv_ip6_name(in6, c->ip, sizeof c->ip);
            c->port = ntohs(in6->sin6_port);
        }
    }
    s->stats.connections_total++;
    if (s->nconns > (size_t)cfg->max_connections || s->shutting_down) {
        s->stats.connections_refused++;
        hr_warn("%s: refusing connection from %s:%d: maximum connections (%lld) reached",
                l->head->name, c->ip, c->port, (long long)cfg->max_connections);
        if (l->head->conn_refuse)
            l->head->conn_refuse(c);
        c->state_kind = HR_CONN_DRAINING; /* not opened: no conn_close (C1) */
        if (hr_conn_pending(c) == 0) {
            finish_close(c);
            return;
        }
        c->write_started_ms = uv_now(s->loop);
        mark_dirty(c);
        return;
    }
    hr_debug("%s conn %llu from %s:%d", l->head->name, (unsigned long long)c->id, c->ip, c->port);
    l->head->conn_open(c);
    if (c->state_kind == HR_CONN_OPEN)
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}
