/* SPDX-License-Identifier: Apache-2.0
 *
 * The JSON forms of consumers, as nats-server 2.9.10 writes them: parsing a consumer
 * config (unknown keys ignored; a value of the wrong type is "invalid JSON"), encoding it
 * in Go's field order with `omitempty` fields only when set, and the consumer info object
 * (docs/consumers-wire.md §1.3). Herald's own fields (`dead_letter_subject`,
 * `ordering_key`) are written last and only when set, so plain clients never see them.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/consumer_internal.h"
#include "engine/jserr.h"

static const char *const deliver_names[] = {"all", "last", "new", "by_start_sequence",
                                            "by_start_time", "last_per_subject"};
static const char *const ack_names[] = {"none", "all", "explicit"};
static const char *const replay_names[] = {"instant", "original"};

static int name_index(const char *s, const char *const *names, size_t n)
{
    for (size_t i = 0; s && i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return (int)i;
    return -1;
}

/* RFC 3339 ("2026-11-28T15:02:08.442745401Z" or with an offset) to ns; false if not. */
static bool parse_time(const char *s, int64_t *out)
{
    struct tm tm = {0};
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!p)
        return false;
    int64_t frac = 0, scale = 1000000000;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') {
            if (scale > 1) {
                scale /= 10;
                frac += (*p - '0') * scale;
            }
            p++;
        }
    }
    int64_t offset = 0;
    if (*p == '+' || *p == '-') {
        int hh, mm;
        if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2)
            return false;
        offset = (int64_t)(hh * 3600 + mm * 60) * (*p == '+' ? 1 : -1);
    } else if (*p != 'Z' && *p != 'z') {
        return false;
    }
    /* Outside int64 nanoseconds (before 1677-09-21 or after 2262-04-11) saturate. */
    int64_t sec = (int64_t)timegm(&tm) - offset;
    if (sec > INT64_MAX / 1000000000LL - 1)
        *out = INT64_MAX;
    else if (sec < INT64_MIN / 1000000000LL + 1)
        *out = INT64_MIN;
    else
        *out = sec * 1000000000LL + frac;
    return true;
}

/* Reading a config object field by field: `bad` once a value had the wrong type (Go's
 * unmarshal error), `oom` once a copy failed. */
struct reader {
    json_t *o;
    bool bad, oom;
};

static json_t *field(const struct reader *rd, const char *key)
{
    json_t *v = json_object_get(rd->o, key);
    return v && !json_is_null(v) ? v : NULL;
}

/* A string: left NULL when absent, null or empty. */
static void read_str(struct reader *rd, const char *key, char **out)
{
    json_t *v = field(rd, key);
    *out = NULL;
    if (!v)
        return;
    if (!json_is_string(v)) {
        rd->bad = true;
        return;
    }
    if (json_string_length(v) && !(*out = strdup(json_string_value(v))))
        rd->oom = true;
}

/* An integer: left untouched when absent or null. */
static void read_int(struct reader *rd, const char *key, int64_t *out)
{
    json_t *v = field(rd, key);
    if (v && !json_is_integer(v))
        rd->bad = true;
    else if (v)
        *out = (int64_t)json_integer_value(v);
}

static void read_bool(struct reader *rd, const char *key, bool *out)
{
    json_t *v = field(rd, key);
    if (v && !json_is_boolean(v))
        rd->bad = true;
    else if (v)
        *out = json_is_true(v);
}

static void read_enum(struct reader *rd, const char *key, const char *const *names, size_t n, int *out)
{
    json_t *v = field(rd, key);
    int i = v ? name_index(json_string_value(v), names, n) : 0;
    if (v && i < 0)
        rd->bad = true;
    else if (v)
        *out = i;
}

/* Parses a config as nats-server 2.9.10 unmarshals it: a value of the wrong type, or an
 * unknown deliver/ack/replay policy, is "invalid JSON" (10025); unknown keys are ignored.
 * `name` holds durable_name when set (then `durable`), else "name"; `hide_name` says
 * that the config had no "name" (then its JSON form has none either). */
int hr_consumer_config_parse(json_t *o, struct herald_consumer_config *c, struct herald_error *err)
{
    if (!json_is_object(o))
        return hr_js_error(err, HR_JS_INVALID_JSON);
    struct reader rd = {o, false, false};
    char *durable, *name;
    read_str(&rd, "durable_name", &durable);
    read_str(&rd, "name", &name);
    bool mismatch = durable && name && strcmp(durable, name) != 0;
    c->hide_name = name == NULL;
    if (durable) {
        c->name = durable;
        c->durable = true;
        free(name);
    } else {
        c->name = name;
    }
    if (mismatch)
        return hr_js_error(err, HR_JS_CONSUMER_DURABLE_NAME_MISMATCH);
    int dp = (int)c->deliver_policy, ap = (int)c->ack_policy, rp = (int)c->replay_policy;
    int64_t start_seq = 0, rate = 0, replicas = c->replicas;
    read_str(&rd, "description", &c->description);
    read_str(&rd, "filter_subject", &c->filter_subject);
    read_str(&rd, "deliver_subject", &c->deliver_subject);
    read_str(&rd, "deliver_group", &c->deliver_group);
    read_str(&rd, "sample_freq", &c->sample_freq);
    read_str(&rd, "opt_start_time", &c->opt_start_time);
    read_str(&rd, "dead_letter_subject", &c->dead_letter_subject);
    read_str(&rd, "ordering_key", &c->ordering_key);
    read_enum(&rd, "deliver_policy", deliver_names, 6, &dp);
    read_enum(&rd, "ack_policy", ack_names, 3, &ap);
    read_enum(&rd, "replay_policy", replay_names, 2, &rp);
    read_int(&rd, "opt_start_seq", &start_seq);
    read_int(&rd, "ack_wait", &c->ack_wait_ns);
    read_int(&rd, "max_deliver", &c->max_deliver);
    read_int(&rd, "max_ack_pending", &c->max_ack_pending);
    read_int(&rd, "max_waiting", &c->max_waiting);
    read_int(&rd, "max_batch", &c->max_batch);
    read_int(&rd, "max_expires", &c->max_expires_ns);
    read_int(&rd, "max_bytes", &c->max_bytes);
    read_int(&rd, "inactive_threshold", &c->inactive_threshold_ns);
    read_int(&rd, "idle_heartbeat", &c->idle_heartbeat_ns);
    read_int(&rd, "rate_limit_bps", &rate);
    read_int(&rd, "num_replicas", &replicas);
    read_bool(&rd, "flow_control", &c->flow_control);
    read_bool(&rd, "headers_only", &c->headers_only);
    read_bool(&rd, "mem_storage", &c->mem_storage);
    if (rd.oom || (c->durable && !c->name))
        return hr_js_error(err, HR_JS_CONSUMER_CREATE, "out of memory");
    if (rd.bad || start_seq < 0 || rate < 0 || replicas < INT32_MIN || replicas > INT32_MAX)
        return hr_js_error(err, HR_JS_INVALID_JSON);
    c->deliver_policy = (enum herald_deliver_policy)dp;
    c->ack_policy = (enum herald_ack_policy)ap;
    c->replay_policy = (enum herald_replay_policy)rp;
    c->opt_start_seq = (uint64_t)start_seq;
    c->rate_limit_bps = (uint64_t)rate;
    c->replicas = (int)replicas;
    if (c->opt_start_time && !parse_time(c->opt_start_time, &c->opt_start_time_ns))
        return hr_js_error(err, HR_JS_INVALID_JSON);
    json_t *backoff = field(&rd, "backoff"), *v;
    if (backoff) {
        if (!json_is_array(backoff))
            return hr_js_error(err, HR_JS_INVALID_JSON);
        if (json_array_size(backoff) > HERALD_MAX_BACKOFF)
            return hr_js_error(err, HR_JS_CONSUMER_CREATE, "too many backoff values");
        size_t i;
        json_array_foreach(backoff, i, v) {
            if (!json_is_integer(v))
                return hr_js_error(err, HR_JS_INVALID_JSON);
            c->backoff_ns[c->nbackoff++] = json_integer_value(v);
        }
    }
    return 0;
}

static void set_str(json_t *o, const char *key, const char *v)
{
    if (v)
        json_object_set_new(o, key, json_string(v));
}

static void set_int(json_t *o, const char *key, int64_t v)
{
    if (v)
        json_object_set_new(o, key, json_integer((json_int_t)v));
}

/* nats-server 2.9.10's ConsumerConfig, in its field order, `omitempty` fields only when
 * set; then Herald's extensions. */
json_t *hr_consumer_config_json(const struct herald_consumer_config *c)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    if (c->durable)
        set_str(o, "durable_name", c->name);
    if (!c->hide_name) /* not for DURABLE.CREATE durables and unnamed ephemerals */
        set_str(o, "name", c->name);
    set_str(o, "description", c->description);
    set_str(o, "deliver_policy", deliver_names[c->deliver_policy]);
    set_int(o, "opt_start_seq", (int64_t)c->opt_start_seq);
    if (c->opt_start_time) {
        set_str(o, "opt_start_time", c->opt_start_time);
    } else if (c->opt_start_time_ns) {
        char ts[64];
        hr_format_time(ts, sizeof ts, c->opt_start_time_ns);
        set_str(o, "opt_start_time", ts);
    }
    set_str(o, "ack_policy", ack_names[c->ack_policy]);
    set_int(o, "ack_wait", c->ack_wait_ns);
    set_int(o, "max_deliver", c->max_deliver);
    if (c->nbackoff) {
        json_t *b = json_array();
        for (size_t i = 0; b && i < c->nbackoff; i++)
            json_array_append_new(b, json_integer((json_int_t)c->backoff_ns[i]));
        json_object_set_new(o, "backoff", b);
    }
    set_str(o, "filter_subject", c->filter_subject);
    set_str(o, "replay_policy", replay_names[c->replay_policy]);
    set_int(o, "rate_limit_bps", (int64_t)c->rate_limit_bps);
    set_str(o, "sample_freq", c->sample_freq);
    set_int(o, "max_waiting", c->max_waiting);
    set_int(o, "max_ack_pending", c->max_ack_pending);
    set_int(o, "idle_heartbeat", c->idle_heartbeat_ns);
    if (c->flow_control)
        json_object_set_new(o, "flow_control", json_true());
    if (c->headers_only)
        json_object_set_new(o, "headers_only", json_true());
    set_int(o, "max_batch", c->max_batch);
    set_int(o, "max_expires", c->max_expires_ns);
    set_int(o, "max_bytes", c->max_bytes);
    set_str(o, "deliver_subject", c->deliver_subject);
    set_str(o, "deliver_group", c->deliver_group);
    set_int(o, "inactive_threshold", c->inactive_threshold_ns);
    json_object_set_new(o, "num_replicas", json_integer(c->replicas));
    if (c->mem_storage)
        json_object_set_new(o, "mem_storage", json_true());
    set_str(o, "dead_letter_subject", c->dead_letter_subject);
    set_str(o, "ordering_key", c->ordering_key);
    return o;
}

static json_t *seq_pair(uint64_t cseq, uint64_t sseq, int64_t last_ns)
{
    json_t *o = json_pack("{s:I, s:I}", "consumer_seq", (json_int_t)cseq, "stream_seq", (json_int_t)sseq);
    if (o && last_ns > 0) {
        char ts[64];
        hr_format_time(ts, sizeof ts, last_ns);
        json_object_set_new(o, "last_active", json_string(ts));
    }
    return o;
}

/* nats-server 2.9.10's ConsumerInfo (no "cluster" on a standalone server): `last_active`
 * once something was delivered / acknowledged, `push_bound` only while a push consumer has
 * interest. */
json_t *hr_consumer_info_json(struct hr_consumer *c)
{
    char created[64];
    hr_format_time(created, sizeof created, c->created_ns);
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:o, s:o, s:o, s:I, s:I, s:I, s:I}",
        "stream_name", c->stream->cfg.name, "name", c->cfg.name, "created", created,
        "config", hr_consumer_config_json(&c->cfg),
        "delivered", seq_pair(c->dseq, c->delivered_sseq, c->last_delivery_ns),
        "ack_floor", seq_pair(c->shown_floor_dseq, c->shown_floor_sseq,
                              c->cfg.ack_policy == HERALD_ACK_NONE ? 0 : c->last_ack_ns),
        "num_ack_pending", (json_int_t)c->pending_seqs.len, "num_redelivered",
        (json_int_t)c->num_redelivered, "num_waiting", (json_int_t)c->nwaiting, "num_pending",
        (json_int_t)(c->num_pending + c->nheld));
    if (o && c->cfg.deliver_subject && hr_consumer_has_interest(c))
        json_object_set_new(o, "push_bound", json_true());
    return o;
}

int herald_consumer_each(struct herald_stream *s,
                         int (*cb)(void *arg, const struct herald_consumer_stats *st), void *arg)
{
    for (size_t i = 0; i < s->nconsumers; i++) {
        const struct hr_consumer *c = s->consumers[i];
        struct herald_consumer_stats st = {
            .name = c->cfg.name,
            .num_pending = c->num_pending + c->nheld,
            .num_ack_pending = c->pending_seqs.len,
            .num_redelivered = c->num_redelivered,
            .num_waiting = c->nwaiting,
            .delivered_sseq = c->delivered_sseq,
            .ack_floor_sseq = c->shown_floor_sseq,
        };
        int rc = cb(arg, &st);
        if (rc)
            return rc;
    }
    return 0;
}
