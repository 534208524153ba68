/* SPDX-License-Identifier: Apache-2.0
 *
 * The JSON forms of consumers, with nats-server 2.9's field names: parsing a consumer
 * config (unknown keys ignored), encoding it, and the consumer info object. Herald's own
 * fields (`dead_letter_subject`, `ordering_key`) are written only when set, so plain
 * clients never see them.
 */
#include <inttypes.h>
#include <jansson.h>
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
    time_t t = timegm(&tm);
    *out = ((int64_t)t - offset) * 1000000000LL + frac;
    return true;
}

static char *str_of(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s && *s ? strdup(s) : NULL;
}

int hr_consumer_config_parse(json_t *o, struct herald_consumer_config *c, struct herald_error *err)
{
    if (!json_is_object(o))
        return hr_js_error(err, HR_JS_CONSUMER_CONFIG_REQUIRED);
    const char *durable = json_string_value(json_object_get(o, "durable_name"));
    const char *name = json_string_value(json_object_get(o, "name"));
    if (durable && *durable && name && *name && strcmp(durable, name) != 0)
        return hr_js_error(err, HR_JS_CONSUMER_DURABLE_NAME_MISMATCH);
    if (durable && *durable) {
        c->name = strdup(durable);
        c->durable = true;
    } else if (name && *name) {
        c->name = strdup(name);
    }
    c->description = str_of(o, "description");
    c->filter_subject = str_of(o, "filter_subject");
    c->deliver_subject = str_of(o, "deliver_subject");
    c->deliver_group = str_of(o, "deliver_group");
    c->dead_letter_subject = str_of(o, "dead_letter_subject");
    c->ordering_key = str_of(o, "ordering_key");
    json_t *v;
    if ((v = json_object_get(o, "deliver_policy")) && !json_is_null(v)) {
        int i = name_index(json_string_value(v), deliver_names, 6);
        if (i < 0)
            return hr_js_error(err, HR_JS_CONSUMER_INVALID_POLICY, "invalid deliver policy");
        c->deliver_policy = (enum herald_deliver_policy)i;
    }
    if ((v = json_object_get(o, "ack_policy")) && !json_is_null(v)) {
        int i = name_index(json_string_value(v), ack_names, 3);
        if (i < 0)
            return hr_js_error(err, HR_JS_CONSUMER_INVALID_POLICY, "invalid ack policy");
        c->ack_policy = (enum herald_ack_policy)i;
    }
    if ((v = json_object_get(o, "replay_policy")) && !json_is_null(v)) {
        int i = name_index(json_string_value(v), replay_names, 2);
        if (i < 0)
            return hr_js_error(err, HR_JS_CONSUMER_INVALID_POLICY, "invalid replay policy");
        c->replay_policy = (enum herald_replay_policy)i;
    }
    const char *start = json_string_value(json_object_get(o, "opt_start_time"));
    if (start && !parse_time(start, &c->opt_start_time_ns))
        return hr_js_error(err, HR_JS_CONSUMER_INVALID_POLICY, "invalid opt_start_time");
    c->opt_start_seq = (uint64_t)json_integer_value(json_object_get(o, "opt_start_seq"));
    c->ack_wait_ns = json_integer_value(json_object_get(o, "ack_wait"));
    if ((v = json_object_get(o, "max_deliver")) && json_is_integer(v))
        c->max_deliver = json_integer_value(v);
    if ((v = json_object_get(o, "max_ack_pending")) && json_is_integer(v))
        c->max_ack_pending = json_integer_value(v);
    c->max_waiting = json_integer_value(json_object_get(o, "max_waiting"));
    c->max_batch = json_integer_value(json_object_get(o, "max_batch"));
    c->max_expires_ns = json_integer_value(json_object_get(o, "max_expires"));
    c->max_bytes = json_integer_value(json_object_get(o, "max_bytes"));
    c->inactive_threshold_ns = json_integer_value(json_object_get(o, "inactive_threshold"));
    c->idle_heartbeat_ns = json_integer_value(json_object_get(o, "idle_heartbeat"));
    c->flow_control = json_is_true(json_object_get(o, "flow_control"));
    c->headers_only = json_is_true(json_object_get(o, "headers_only"));
    c->mem_storage = json_is_true(json_object_get(o, "mem_storage"));
    c->replicas = (int)json_integer_value(json_object_get(o, "num_replicas"));
    json_t *backoff = json_object_get(o, "backoff");
    if (json_is_array(backoff)) {
        if (json_array_size(backoff) > HERALD_MAX_BACKOFF)
            return hr_js_error(err, HR_JS_CONSUMER_CREATE, "too many backoff values");
        size_t i;
        json_array_foreach(backoff, i, v)
            c->backoff_ns[c->nbackoff++] = json_integer_value(v);
    }
    if ((durable && !c->name) || (name && *name && !c->name))
        return hr_js_error(err, HR_JS_CONSUMER_CREATE, "out of memory");
    return 0;
}

static void set_str(json_t *o, const char *key, const char *v)
{
    if (v)
        json_object_set_new(o, key, json_string(v));
}

json_t *hr_consumer_config_json(const struct herald_consumer_config *c)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:I, s:I, s:I}",
                          "name", c->name ? c->name : "", "deliver_policy", deliver_names[c->deliver_policy],
                          "ack_policy", ack_names[c->ack_policy], "ack_wait", (json_int_t)c->ack_wait_ns,
                          "max_deliver", (json_int_t)c->max_deliver, "replay_policy",
                          replay_names[c->replay_policy], "max_ack_pending", (json_int_t)c->max_ack_pending,
                          "num_replicas", (json_int_t)c->replicas, "max_waiting", (json_int_t)c->max_waiting);
    if (!o)
        return NULL;
    if (c->durable)
        set_str(o, "durable_name", c->name);
    set_str(o, "description", c->description);
    set_str(o, "filter_subject", c->filter_subject);
    set_str(o, "deliver_subject", c->deliver_subject);
    set_str(o, "deliver_group", c->deliver_group);
    set_str(o, "dead_letter_subject", c->dead_letter_subject);
    set_str(o, "ordering_key", c->ordering_key);
    if (c->opt_start_seq)
        json_object_set_new(o, "opt_start_seq", json_integer((json_int_t)c->opt_start_seq));
    if (c->opt_start_time_ns) {
        char ts[64];
        hr_format_time(ts, sizeof ts, c->opt_start_time_ns);
        json_object_set_new(o, "opt_start_time", json_string(ts));
    }
    if (c->deliver_subject) /* max_waiting is a pull setting */
        json_object_del(o, "max_waiting");
    if (c->nbackoff) {
        json_t *b = json_array();
        for (size_t i = 0; b && i < c->nbackoff; i++)
            json_array_append_new(b, json_integer((json_int_t)c->backoff_ns[i]));
        json_object_set_new(o, "backoff", b);
    }
    if (c->max_batch)
        json_object_set_new(o, "max_batch", json_integer((json_int_t)c->max_batch));
    if (c->max_expires_ns)
        json_object_set_new(o, "max_expires", json_integer((json_int_t)c->max_expires_ns));
    if (c->max_bytes)
        json_object_set_new(o, "max_bytes", json_integer((json_int_t)c->max_bytes));
    if (c->inactive_threshold_ns)
        json_object_set_new(o, "inactive_threshold", json_integer((json_int_t)c->inactive_threshold_ns));
    if (c->idle_heartbeat_ns)
        json_object_set_new(o, "idle_heartbeat", json_integer((json_int_t)c->idle_heartbeat_ns));
    if (c->flow_control)
        json_object_set_new(o, "flow_control", json_true());
    if (c->headers_only)
        json_object_set_new(o, "headers_only", json_true());
    if (c->mem_storage)
        json_object_set_new(o, "mem_storage", json_true());
    return o;
}

json_t *hr_consumer_info_json(struct hr_consumer *c)
{
    char created[64];
    hr_format_time(created, sizeof created, c->created_ns);
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:o, s:{s:I, s:I}, s:{s:I, s:I}, s:I, s:I, s:I, s:I}",
        "stream_name", c->stream->cfg.name, "name", c->cfg.name, "created", created,
        "config", hr_consumer_config_json(&c->cfg), "delivered", "consumer_seq",
        (json_int_t)c->dseq, "stream_seq", (json_int_t)c->delivered_sseq, "ack_floor",
        "consumer_seq", (json_int_t)c->floor_dseq, "stream_seq", (json_int_t)c->floor_sseq,
        "num_ack_pending", (json_int_t)c->pending_seqs.len, "num_redelivered",
        (json_int_t)c->num_redelivered, "num_waiting", (json_int_t)c->nwaiting, "num_pending",
        (json_int_t)(c->num_pending + c->nheld));
    if (o && c->cfg.deliver_subject)
        json_object_set_new(o, "push_bound",
                            json_boolean(hr_engine_has_interest(c->stream->e, c->cfg.deliver_subject,
                                                                strlen(c->cfg.deliver_subject))));
    return o;
}
