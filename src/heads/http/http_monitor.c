/* SPDX-License-Identifier: Apache-2.0
 *
 * Monitoring on the HTTP port: `/healthz`, Prometheus text at `/metrics`, and nats-server
 * style JSON at `/varz`, `/connz`, `/subsz` and `/jsz`. Read-only; answered at once.
 *
 * /metrics families (all prefixed herald_): connections, connections_total,
 * slow_consumers_total, protocol_errors_total, messages_in_total / messages_out_total and
 * bytes_in_total / bytes_out_total, subscriptions, stream_messages / stream_bytes /
 * stream_first_seq / stream_last_seq{stream}, consumer_pending / consumer_ack_pending /
 * consumer_redelivered / consumer_waiting{stream,consumer}, store_fsyncs_total and the group-commit fsync latency histogram.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "heads/http/http.h"
#include "herald/consumer.h"
#include "herald/stream.h"
#include "server/server.h"

/* The per-stream/consumer figures come through the JetStream API objects, so this file
 * needs nothing private of the engine. */
struct metrics_ctx {
    struct hr_buf *b;
    const char *stream; /* consumer_metrics: whose consumers */
};

static void esc(struct hr_buf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            hr_buf_append(b, "\\", 1);
        if (*s == '\n')
            hr_buf_append(b, "\\n", 2);
        else
            hr_buf_append(b, s, 1);
    }
}

static int stream_metrics(void *arg, struct herald_stream *s)
{
    struct metrics_ctx *m = arg;
    struct herald_stream_state st;
    herald_stream_state(s, &st);
    const char *name = herald_stream_get_config(s)->name;
    static const char *const fam[] = {"stream_messages", "stream_bytes", "stream_first_seq",
                                      "stream_last_seq", "stream_consumers"};
    uint64_t val[] = {st.msgs, st.bytes, st.first_seq, st.last_seq, st.consumer_count};
    for (size_t i = 0; i < 5; i++) {
        hr_buf_printf(m->b, "herald_%s{stream=\"", fam[i]);
        esc(m->b, name);
        hr_buf_printf(m->b, "\"} %" PRIu64 "\n", val[i]);
    }
    return 0;
}

static int consumer_metrics(void *arg, const struct herald_consumer_stats *cs)
{
    struct metrics_ctx *m = arg;
    static const char *const fam[] = {"consumer_pending", "consumer_ack_pending",
                                      "consumer_redelivered", "consumer_waiting"};
    uint64_t val[] = {cs->num_pending, cs->num_ack_pending, cs->num_redelivered, cs->num_waiting};
    for (size_t i = 0; i < 4; i++) {
        hr_buf_printf(m->b, "herald_%s{stream=\"", fam[i]);
        esc(m->b, m->stream);
        hr_buf_puts(m->b, "\",consumer=\"");
        esc(m->b, cs->name);
        hr_buf_printf(m->b, "\"} %" PRIu64 "\n", val[i]);
    }
    return 0;
}

static int stream_consumer_metrics(void *arg, struct herald_stream *s)
{
    struct metrics_ctx *m = arg;
    m->stream = herald_stream_get_config(s)->name;
    return herald_consumer_each(s, consumer_metrics, m);
}

static void metrics(struct hr_http_client *h)
{
    struct hr_server *s = h->conn->server;
    struct herald_engine_stats es;
    herald_engine_stats(s->engine, &es);
    struct hr_buf b;
    hr_buf_init(&b, 64 * 1024 * 1024);
    const struct hr_server_stats *st = &s->stats;
    hr_buf_printf(&b,
                  "# HELP herald_connections Open client connections (all heads).\n"
                  "# TYPE herald_connections gauge\nherald_connections %zu\n"
                  "# TYPE herald_connections_total counter\nherald_connections_total %" PRIu64 "\n"
                  "# TYPE herald_connections_refused_total counter\nherald_connections_refused_total %" PRIu64 "\n"
                  "# TYPE herald_slow_consumers_total counter\nherald_slow_consumers_total %" PRIu64 "\n"
                  "# TYPE herald_protocol_errors_total counter\nherald_protocol_errors_total %" PRIu64 "\n"
                  "# HELP herald_messages_in_total Messages received from clients.\n"
                  "# TYPE herald_messages_in_total counter\nherald_messages_in_total %" PRIu64 "\n"
                  "# TYPE herald_messages_out_total counter\nherald_messages_out_total %" PRIu64 "\n"
                  "# TYPE herald_bytes_in_total counter\nherald_bytes_in_total %" PRIu64 "\n"
                  "# TYPE herald_bytes_out_total counter\nherald_bytes_out_total %" PRIu64 "\n"
                  "# HELP herald_engine_messages_in_total Publishes the engine routed (every head).\n"
                  "# TYPE herald_engine_messages_in_total counter\nherald_engine_messages_in_total %" PRIu64 "\n"
                  "# TYPE herald_engine_deliveries_total counter\nherald_engine_deliveries_total %" PRIu64 "\n"
                  "# TYPE herald_subscriptions gauge\nherald_subscriptions %" PRIu64 "\n"
                  "# TYPE herald_router_cache_hits_total counter\nherald_router_cache_hits_total %" PRIu64 "\n"
                  "# TYPE herald_router_cache_misses_total counter\nherald_router_cache_misses_total %" PRIu64 "\n",
                  s->nconns, st->connections_total, st->connections_refused, st->slow_consumers,
                  st->protocol_errors, st->msgs_in, st->msgs_out, st->bytes_in, st->bytes_out,
                  es.msgs_in, es.msgs_out, es.subscriptions, es.cache_hits, es.cache_misses);
    hr_buf_puts(&b, "# TYPE herald_stream_messages gauge\n# TYPE herald_stream_bytes gauge\n"
                    "# TYPE herald_stream_first_seq gauge\n# TYPE herald_stream_last_seq gauge\n"
                    "# TYPE herald_stream_consumers gauge\n");
    struct metrics_ctx m = {.b = &b};
    herald_stream_each(s->engine, stream_metrics, &m);
    hr_buf_puts(&b, "# TYPE herald_consumer_pending gauge\n# TYPE herald_consumer_ack_pending gauge\n"
                    "# TYPE herald_consumer_redelivered gauge\n# TYPE herald_consumer_waiting gauge\n");
    herald_stream_each(s->engine, stream_consumer_metrics, &m);
    struct herald_store_stats ss;
    if (herald_engine_store_stats(s->engine, &ss) == 0) {
        hr_buf_printf(&b,
                      "# HELP herald_store_fsyncs_total fdatasync calls by the group commit.\n"
                      "# TYPE herald_store_fsyncs_total counter\nherald_store_fsyncs_total %" PRIu64 "\n"
                      "# HELP herald_store_fsync_seconds Group-commit fsync latency.\n"
                      "# TYPE herald_store_fsync_seconds histogram\n",
                      ss.fsyncs);
        uint64_t cumulative = 0;
        for (size_t i = 0; i < HERALD_FSYNC_BUCKETS; i++) {
            cumulative += ss.fsync_buckets[i];
            hr_buf_printf(&b, "herald_store_fsync_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
                          herald_fsync_bucket_us(i) / 1e6, cumulative);
        }
        hr_buf_printf(&b,
                      "herald_store_fsync_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n"
                      "herald_store_fsync_seconds_sum %.6f\nherald_store_fsync_seconds_count %" PRIu64 "\n",
                      ss.fsync_batches, (double)ss.fsync_ns_total / 1e9, ss.fsync_batches);
    }
    hr_http_respond(h, 200, "text/plain; version=0.0.4", b.data ? b.data : "", b.len, NULL);
    hr_buf_cleanup(&b);
}

static void varz(struct hr_http_client *h)
{
    struct hr_server *s = h->conn->server;
    const struct hr_config *cfg = s->cfg;
    struct herald_engine_stats es;
    herald_engine_stats(s->engine, &es);
    int nats_port = 0, http_port = 0;
    for (size_t i = 0; i < s->nlisteners; i++) {
        if (strcmp(s->listeners[i].head->name, "nats") == 0)
            nats_port = s->listeners[i].port;
        else if (strcmp(s->listeners[i].head->name, "http") == 0)
            http_port = s->listeners[i].port;
    }
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
        "server_id", s->server_id, "server_name", *cfg->server_name ? cfg->server_name : s->server_id,
        "version", "2.9.10", "herald_version", HERALD_VERSION, "host", cfg->addr, "port", nats_port,
        "http_port", http_port, "max_payload", (json_int_t)cfg->max_payload, "max_connections",
        (json_int_t)cfg->max_connections, "connections", (json_int_t)s->nconns, "total_connections",
        (json_int_t)s->stats.connections_total, "in_msgs", (json_int_t)s->stats.msgs_in, "out_msgs",
        (json_int_t)s->stats.msgs_out, "in_bytes", (json_int_t)s->stats.bytes_in, "out_bytes",
        (json_int_t)s->stats.bytes_out, "slow_consumers", (json_int_t)s->stats.slow_consumers,
        "subscriptions", (json_int_t)es.subscriptions, "uptime_ms",
        (json_int_t)(uv_now(s->loop) - s->start_ms));
    hr_http_respond_json(h, 200, o);
}

static void connz(struct hr_http_client *h)
{
    struct hr_server *s = h->conn->server;
    json_t *arr = json_array();
    size_t n = 0;
    for (struct hr_conn *c = s->conns; c && arr && n < 1024; c = c->next, n++)
        json_array_append_new(arr, json_pack("{s:I, s:s, s:s, s:i, s:I, s:I}", "cid", (json_int_t)c->id,
                                             "kind", c->head->name, "ip", c->ip, "port", c->port,
                                             "pending_bytes", (json_int_t)hr_conn_pending(c),
                                             "uptime_ms", (json_int_t)(uv_now(s->loop) - c->created_ms)));
    hr_http_respond_json(h, 200, json_pack("{s:s, s:I, s:I, s:I, s:o}", "server_id", s->server_id,
                                           "num_connections", (json_int_t)n, "total", (json_int_t)s->nconns,
                                           "offset", (json_int_t)0, "connections", arr));
}

static int jsz_stream(void *arg, struct herald_stream *s)
{
    json_t *arr = arg;
    struct herald_stream_state st;
    herald_stream_state(s, &st);
    json_array_append_new(arr, json_pack("{s:s, s:{s:I, s:I, s:I, s:I, s:I}}", "name",
                                         herald_stream_get_config(s)->name, "state", "messages",
                                         (json_int_t)st.msgs, "bytes", (json_int_t)st.bytes, "first_seq",
                                         (json_int_t)st.first_seq, "last_seq", (json_int_t)st.last_seq,
                                         "consumer_count", (json_int_t)st.consumer_count));
    return 0;
}

static void jsz(struct hr_http_client *h)
{
    json_t *streams = json_array();
    herald_stream_each(h->conn->server->engine, jsz_stream, streams);
    hr_http_respond_json(h, 200, json_pack("{s:s, s:I, s:o}", "server_id", h->conn->server->server_id,
                                           "streams", (json_int_t)json_array_size(streams),
                                           "account_details", streams));
}

static void subsz(struct hr_http_client *h)
{
    struct herald_engine_stats es;
    herald_engine_stats(h->conn->server->engine, &es);
    hr_http_respond_json(h, 200, json_pack("{s:I, s:I, s:I}", "num_subscriptions",
                                           (json_int_t)es.subscriptions, "num_cache_hits",
                                           (json_int_t)es.cache_hits, "num_cache_misses",
                                           (json_int_t)es.cache_misses));
}

bool hr_http_monitor(struct hr_http_client *h, const struct hr_http_request *req)
{
    static const struct {
        const char *path;
        void (*fn)(struct hr_http_client *);
    } routes[] = {{"/metrics", metrics}, {"/varz", varz}, {"/connz", connz}, {"/jsz", jsz}, {"/subsz", subsz}};
    if (req->method_id != HR_HTTP_METHOD_GET && req->method_id != HR_HTTP_METHOD_HEAD)
        return false;
    if (req->path.len == 8 && memcmp(req->path.ptr, "/healthz", 8) == 0) {
        hr_http_respond(h, 200, "application/json", "{\"status\":\"ok\"}", 15, NULL);
        return true;
    }
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (req->path.len == strlen(routes[i].path) && memcmp(req->path.ptr, routes[i].path, req->path.len) == 0) {
            routes[i].fn(h);
            return true;
        }
    return false;
}
