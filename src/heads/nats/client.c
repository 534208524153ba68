/* SPDX-License-Identifier: Apache-2.0
 *
 * NATS client connections: INFO greeting, CONNECT (options, authorization), the read
 * loop that feeds the codec and dispatches ops, PING/PONG keepalive and the head
 * descriptor. Behaviour follows nats-server 2.9 as measured on the wire:
 *   - before CONNECT a client counts as verbose and pedantic (nats-server's defaults);
 *   - PING is answered at any time, also before CONNECT;
 *   - a client that leaves `ping_max` server PINGs unanswered gets 'Stale Connection';
 *   - -ERR from a client closes it; +OK and INFO from a client are ignored;
 *   - with user/pass or a token configured, any op but CONNECT before a CONNECT with
 *     matching credentials gets 'Authorization Violation' and a close; a client silent
 *     for 2 s gets 'Authentication Timeout';
 *   - CONNECT with no_responders but without headers is refused with
 *     'no responders requires headers support'.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "heads/nats/nats.h"
#include "herald/herald.h"
#include "server/server.h"

#define AUTH_TIMEOUT_MS 2000

static bool auth_required(const struct hr_config *cfg)
{
    return *cfg->user || *cfg->auth_token;
}

void hr_nats_send_err(struct hr_nats_client *cl, const char *text)
{
    char line[512];
    int n = snprintf(line, sizeof line, "-ERR '%s'\r\n", text);
    if (n > 0)
        hr_conn_write(cl->conn, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

void hr_nats_send_ok(struct hr_nats_client *cl)
{
    if (cl->verbose)
        hr_conn_write(cl->conn, "+OK\r\n", 5);
}

const char *hr_nats_engine_error_text(int err)
{
    switch (err) {
    case HERALD_ETOOBIG:
        return "Maximum Payload Violation";
    case HERALD_ESUBJECT:
        return "Invalid Subject";
    case HERALD_ENOMEM:
        return "Server Out Of Memory";
    default:
        return "Parser Error";
    }
}

void hr_nats_fail(struct hr_nats_client *cl, const char *text)
{
    struct hr_conn *c = cl->conn;
    c->server->stats.protocol_errors++;
    hr_debug("nats conn %llu from %s:%d: -ERR '%s'", (unsigned long long)c->id, c->ip, c->port, text);
    hr_nats_send_err(cl, text);
    hr_conn_close(c, HR_CLOSE_FLUSH, text);
}

static void send_info(struct hr_conn *c)
{
    struct hr_server *s = c->server;
    const struct hr_config *cfg = s->cfg;
    int port = 0;
    for (size_t i = 0; i < s->nlisteners; i++)
        if (s->listeners[i].head == &hr_nats_head)
            port = s->listeners[i].port;
    json_t *info = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:i, s:b, s:I, s:I, s:s, s:b, s:s}",
        "server_id", s->server_id, "server_name", *cfg->server_name ? cfg->server_name : s->server_id,
        "version", HR_NATS_COMPAT_VERSION, "go", "herald", "host", cfg->addr, "port", port,
        "herald_version", HERALD_VERSION, "proto", 1, "headers", 1,
        "max_payload", (json_int_t)cfg->max_payload, "client_id", (json_int_t)c->id,
        "client_ip", c->ip, "jetstream", cfg->jetstream, "domain", cfg->js_domain);
    if (!info)
        goto out_fail;
    if (!*cfg->js_domain)
        json_object_del(info, "domain");
    if (auth_required(cfg))
        json_object_set_new(info, "auth_required", json_true());
    char *text = json_dumps(info, JSON_COMPACT);
    json_decref(info);
    if (!text)
        goto out_fail;
    hr_conn_write(c, "INFO ", 5);
    hr_conn_write(c, text, strlen(text));
    hr_conn_write(c, " \r\n", 3); /* nats-server puts a blank before the CRLF */
    free(text);
    return;
out_fail:
    hr_conn_close(c, HR_CLOSE_NOW, "out of memory");
}

static void nats_open(struct hr_conn *c)
{
    struct hr_nats_client *cl = c->state;
    cl->conn = c;
    cl->verbose = true;
    cl->pedantic = true;
    cl->echo = true;
    hr_map_init(&cl->subs);
    cl->last_ping_ms = c->created_ms;
    send_info(c);
}

static void nats_refuse(struct hr_conn *c)
{
    send_info(c);
    hr_conn_write(c, "-ERR 'maximum connections exceeded'\r\n", 37);
}

static void nats_close(struct hr_conn *c)
{
    struct hr_nats_client *cl = c->state;
    hr_nats_drop_subs(cl);
    hr_map_cleanup(&cl->subs);
    free(cl->name);
    free(cl->lang);
    free(cl->version);
    cl->name = cl->lang = cl->version = NULL;
}

static bool json_flag(json_t *obj, const char *key, bool def)
{
    json_t *v = json_object_get(obj, key);
    return json_is_boolean(v) ? json_is_true(v) : def;
}

static char *json_str_dup(json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? strndup(s, 256) : NULL;
}

static bool str_eq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

static void handle_connect(struct hr_nats_client *cl, const struct hr_nats_op *op)
{
    const struct hr_config *cfg = cl->conn->server->cfg;
    json_error_t jerr;
    json_t *o = json_loadb(op->arg.ptr, op->arg.len, 0, &jerr);
    if (!json_is_object(o)) {
        json_decref(o);
        hr_nats_fail(cl, "Parser Error");
        return;
    }
    cl->verbose = json_flag(o, "verbose", cl->verbose);
    cl->pedantic = json_flag(o, "pedantic", cl->pedantic);
    cl->echo = json_flag(o, "echo", cl->echo);
    cl->headers = json_flag(o, "headers", cl->headers);
    cl->no_responders = json_flag(o, "no_responders", cl->no_responders);
    free(cl->name);
    free(cl->lang);
    free(cl->version);
    cl->name = json_str_dup(o, "name");
    cl->lang = json_str_dup(o, "lang");
    cl->version = json_str_dup(o, "version");
    bool authorized = true;
    if (*cfg->user) {
        const char *u = json_string_value(json_object_get(o, "user"));
        const char *p = json_string_value(json_object_get(o, "pass"));
        authorized = str_eq(u, cfg->user) && str_eq(p, cfg->pass);
    }
    if (*cfg->auth_token) {
        const char *t = json_string_value(json_object_get(o, "auth_token"));
        authorized = authorized && str_eq(t, cfg->auth_token);
    }
    json_decref(o);
    if (cl->no_responders && !cl->headers) {
        hr_nats_fail(cl, "no responders requires headers support");
        return;
    }
    if (!authorized) {
        hr_warn("nats conn %llu from %s:%d: authorization violation",
                (unsigned long long)cl->conn->id, cl->conn->ip, cl->conn->port);
        hr_nats_fail(cl, "Authorization Violation");
        return;
    }
    cl->connected = true;
    hr_nats_send_ok(cl);
}

static void dispatch(struct hr_nats_client *cl, const struct hr_nats_op *op)
{
    struct hr_conn *c = cl->conn;
    if (!cl->connected && auth_required(c->server->cfg) && op->kind != HR_NATS_OP_CONNECT) {
        hr_nats_fail(cl, "Authorization Violation");
        return;
    }
    switch (op->kind) {
    case HR_NATS_OP_CONNECT:
        handle_connect(cl, op);
        break;
    case HR_NATS_OP_PUB:
        hr_nats_handle_pub(cl, op);
        break;
    case HR_NATS_OP_HPUB:
        if (!cl->headers) {
            hr_nats_fail(cl, "Parser Error");
            return;
        }
        hr_nats_handle_pub(cl, op);
        break;
    case HR_NATS_OP_SUB:
        hr_nats_handle_sub(cl, op);
        break;
    case HR_NATS_OP_UNSUB:
        hr_nats_handle_unsub(cl, op);
        break;
    case HR_NATS_OP_PING:
        hr_conn_write(c, "PONG\r\n", 6);
        break;
    case HR_NATS_OP_PONG:
        cl->pings_out = 0;
        break;
    case HR_NATS_OP_OK:
    case HR_NATS_OP_INFO:
        break;
    case HR_NATS_OP_ERR:
        hr_conn_close(c, HR_CLOSE_NOW, "client sent -ERR");
        break;
    case HR_NATS_OP_MSG:
    case HR_NATS_OP_HMSG:
        hr_nats_fail(cl, "Unknown Protocol Operation");
        break;
    }
}

static size_t nats_read(struct hr_conn *c, const char *buf, size_t len)
{
    struct hr_nats_client *cl = c->state;
    const struct hr_config *cfg = c->server->cfg;
    const struct hr_nats_limits limits = {
        .max_control_line = (size_t)cfg->max_control_line,
        .max_payload = (size_t)cfg->max_payload,
    };
    size_t off = 0;
    c->read_need = 0;
    while (off < len && c->state_kind == HR_CONN_OPEN) {
        struct hr_nats_op op;
        struct hr_nats_parse_result r = hr_nats_parse(buf + off, len - off, &limits, &op);
        if (r.status == HR_NATS_MORE) {
            c->read_need = r.need;
            break;
        }
        if (r.status == HR_NATS_ERROR) {
            hr_nats_fail(cl, hr_nats_error_text(r.error));
            break;
        }
        if (hr_log_get_level() >= HR_LOG_TRACE) {
            const char *nl = memchr(buf + off, '\n', r.consumed);
            int l = (int)(nl ? nl - (buf + off) : 0);
            hr_trace("nats conn %llu <<- %.*s", (unsigned long long)c->id, l > 200 ? 200 : l, buf + off);
        }
        dispatch(cl, &op);
        off += r.consumed;
    }
    return off;
}

static void nats_tick(struct hr_conn *c, uint64_t now_ms)
{
    struct hr_nats_client *cl = c->state;
    const struct hr_config *cfg = c->server->cfg;
    if (!cl->connected && auth_required(cfg) && now_ms - c->created_ms > AUTH_TIMEOUT_MS) {
        hr_nats_fail(cl, "Authentication Timeout");
        return;
    }
    if (now_ms - cl->last_ping_ms < (uint64_t)cfg->ping_interval_ms)
        return;
    cl->last_ping_ms = now_ms;
    if (now_ms - c->last_read_ms < (uint64_t)cfg->ping_interval_ms && cl->pings_out == 0)
        return; /* the client spoke recently: it is alive */
    if (cl->pings_out >= (unsigned)cfg->ping_max) {
        c->server->stats.stale_connections++;
        hr_info("nats conn %llu from %s:%d: stale connection", (unsigned long long)c->id, c->ip, c->port);
        hr_nats_fail(cl, "Stale Connection");
        return;
    }
    cl->pings_out++;
    hr_conn_write(c, "PING\r\n", 6);
}

const struct hr_head hr_nats_head = {
    .name = "nats",
    .conn_state_size = sizeof(struct hr_nats_client),
    .conn_open = nats_open,
    .conn_refuse = nats_refuse,
    .conn_read = nats_read,
    .conn_tick = nats_tick,
    .conn_close = nats_close,
};
