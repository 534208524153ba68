/* SPDX-License-Identifier: Apache-2.0
 *
 * The JSON forms of the stream model, with JetStream's (nats-server 2.9) field names:
 * parsing a stream config (unknown keys ignored, as nats-server does), encoding it, and
 * the stream info object (config, created, state). Shared by the JetStream API and any
 * head that offers the same objects (DESIGN §2: one model, every wire).
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/engine_internal.h"
#include "engine/jserr.h"

void hr_format_time(char *out, size_t len, int64_t ns)
{
    if (ns <= 0) {
        snprintf(out, len, "0001-01-01T00:00:00Z");
        return;
    }
    time_t sec = (time_t)(ns / 1000000000LL);
    struct tm tm;
    gmtime_r(&sec, &tm);
    /* Go's RFC 3339 with nanoseconds: trailing zeros of the fraction are dropped. */
    char frac[16] = "";
    long long f = (long long)(ns % 1000000000LL);
    if (f) {
        int w = 9;
        while (f % 10 == 0) {
            f /= 10;
            w--;
        }
        snprintf(frac, sizeof frac, ".%0*lld", w, f);
    }
    snprintf(out, len, "%04d-%02d-%02dT%02d:%02d:%02d%sZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

static const char *const retention_names[] = {"limits", "interest", "workqueue"};
static const char *const discard_names[] = {"old", "new"};
static const char *const storage_names[] = {"file", "memory"};

static int parse_enum(json_t *v, const char *const *names, size_t n, int *out)
{
    if (!v)
        return 0;
    const char *s = json_string_value(v);
    if (!s)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (int)i;
            return 0;
        }
    return -1;
}

static bool get_int(json_t *o, const char *key, int64_t *out, bool *bad)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return false;
    if (!json_is_integer(v)) {
        *bad = true;
        return false;
    }
    *out = (int64_t)json_integer_value(v);
    return true;
}

static void get_bool(json_t *o, const char *key, bool *out)
{
    json_t *v = json_object_get(o, key);
    if (json_is_boolean(v))
        *out = json_is_true(v);
}

int herald_stream_config_parse(const char *json, size_t len, struct herald_stream_config *cfg,
                               struct herald_error *err)
{
    json_error_t jerr;
    json_t *o = json_loadb(json, len, 0, &jerr);
    if (!json_is_object(o)) {
        hr_js_error(err, HR_JS_INVALID_JSON, o ? "expected an object" : jerr.text);
        json_decref(o);
        return HERALD_EINVAL;
    }
    int rc = HERALD_EINVAL;
    const char *name = json_string_value(json_object_get(o, "name"));
    const char *desc = json_string_value(json_object_get(o, "description"));
    if (name && !(cfg->name = strdup(name)))
        goto out_oom;
    if (desc && !(cfg->description = strdup(desc)))
        goto out_oom;
    json_t *subjects = json_object_get(o, "subjects");
    if (subjects && !json_is_null(subjects)) {
        if (!json_is_array(subjects) || json_array_size(subjects) > 4096) {
            hr_js_error(err, HR_JS_STREAM_INVALID_CONFIG, "subjects must be an array of strings");
            goto out;
        }
        size_t n = json_array_size(subjects);
        cfg->subjects = calloc(n ? n : 1, sizeof *cfg->subjects);
        if (!cfg->subjects)
            goto out_oom;
        for (size_t i = 0; i < n; i++) {
            const char *s = json_string_value(json_array_get(subjects, i));
            if (!s) {
                hr_js_error(err, HR_JS_STREAM_INVALID_CONFIG, "subjects must be an array of strings");
                goto out;
            }
            if (!(cfg->subjects[i] = strdup(s)))
                goto out_oom;
            cfg->nsubjects++;
        }
    }
    int e = (int)cfg->retention;
    if (parse_enum(json_object_get(o, "retention"), retention_names, 3, &e)) {
        hr_js_error(err, HR_JS_STREAM_INVALID_CONFIG, "invalid retention policy");
        goto out;
    }
    cfg->retention = (enum herald_retention)e;
    e = (int)cfg->discard;
    if (parse_enum(json_object_get(o, "discard"), discard_names, 2, &e)) {
        hr_js_error(err, HR_JS_STREAM_INVALID_CONFIG, "invalid discard policy");
        goto out;
    }
    cfg->discard = (enum herald_discard)e;
    e = (int)cfg->storage;
    if (parse_enum(json_object_get(o, "storage"), storage_names, 2, &e)) {
        hr_js_error(err, HR_JS_STREAM_INVALID_CONFIG, "invalid storage type");
        goto out;
    }
    cfg->storage = (enum herald_storage)e;
    bool bad = false;
    int64_t replicas = 1;
    get_int(o, "max_consumers", &cfg->max_consumers, &bad);
    get_int(o, "max_msgs", &cfg->max_msgs, &bad);
    get_int(o, "max_bytes", &cfg->max_bytes, &bad);
    get_int(o, "max_age", &cfg->max_age_ns, &bad);
    get_int(o, "max_msgs_per_subject", &cfg->max_msgs_per_subject, &bad);
    get_int(o, "max_msg_size", &cfg->max_msg_size, &bad);
    get_int(o, "duplicate_window", &cfg->duplicate_window_ns, &bad);
    if (get_int(o, "num_replicas", &replicas, &bad))
        cfg->replicas = (int)(replicas > 1000 ? 1000 : replicas < -1 ? -1 : replicas);
    if (bad) {
        hr_js_error(err, HR_JS_INVALID_JSON, "a limit is not an integer");
        goto out;
    }
    get_bool(o, "no_ack", &cfg->no_ack);
    get_bool(o, "sealed", &cfg->sealed);
    get_bool(o, "deny_delete", &cfg->deny_delete);
    get_bool(o, "deny_purge", &cfg->deny_purge);
    get_bool(o, "allow_rollup_hdrs", &cfg->allow_rollup);
    get_bool(o, "allow_direct", &cfg->allow_direct);
    get_bool(o, "discard_new_per_subject", &cfg->discard_new_per_subject);
    get_bool(o, "allow_atomic", &cfg->allow_atomic);
    static const char *const unsupported[] = {"mirror", "sources", "republish", "subject_transform", NULL};
    for (size_t i = 0; unsupported[i]; i++) {
        json_t *v = json_object_get(o, unsupported[i]);
        if (v && !json_is_null(v) && !(json_is_array(v) && json_array_size(v) == 0)) {
            char msg[128];
            snprintf(msg, sizeof msg, "stream %s is not supported by Herald yet", unsupported[i]);
            hr_js_error(err, HR_JS_STREAM_INVALID_CONFIG, msg);
            goto out;
        }
    }
    rc = 0;
    goto out;
out_oom:
    rc = hr_js_error(err, HR_JS_STREAM_CREATE, "out of memory");
out:
    json_decref(o);
    return rc;
}

static json_t *config_object(const struct herald_stream_config *c)
{
    json_t *subjects = json_array();
    for (size_t i = 0; subjects && i < c->nsubjects; i++)
        json_array_append_new(subjects, json_string(c->subjects[i]));
    json_t *o = json_pack(
        "{s:s, s:o, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:s, s:i, s:I, s:b, s:b, s:b, s:b, s:b, s:b, s:b}",
        "name", c->name, "subjects", subjects, "retention", retention_names[c->retention],
        "max_consumers", (json_int_t)c->max_consumers, "max_msgs", (json_int_t)c->max_msgs,
        "max_bytes", (json_int_t)c->max_bytes, "max_age", (json_int_t)c->max_age_ns,
        "max_msgs_per_subject", (json_int_t)c->max_msgs_per_subject,
        "max_msg_size", (json_int_t)c->max_msg_size, "discard", discard_names[c->discard],
        "storage", storage_names[c->storage], "num_replicas", c->replicas,
        "duplicate_window", (json_int_t)c->duplicate_window_ns, "sealed", c->sealed,
        "deny_delete", c->deny_delete, "deny_purge", c->deny_purge,
        "allow_rollup_hdrs", c->allow_rollup, "allow_direct", c->allow_direct,
        "mirror_direct", 0, "no_ack", c->no_ack);
    if (o && c->description)
        json_object_set_new(o, "description", json_string(c->description));
    if (o && c->discard_new_per_subject)
        json_object_set_new(o, "discard_new_per_subject", json_true());
    if (o && c->allow_atomic)
        json_object_set_new(o, "allow_atomic", json_true());
    return o;
}

char *hr_stream_config_json(const struct herald_stream_config *cfg)
{
    json_t *o = config_object(cfg);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

bool hr_stream_config_equal(const struct herald_stream_config *a, const struct herald_stream_config *b)
{
    json_t *x = config_object(a), *y = config_object(b);
    bool eq = x && y && json_equal(x, y);
    json_decref(x);
    json_decref(y);
    return eq;
}

struct subj_acc {
    json_t *obj;
    size_t n;
};

static int add_subject(void *arg, const char *subject, uint64_t msgs)
{
    struct subj_acc *acc = arg;
    if (++acc->n > 100000)
        return 1;
    json_object_set_new(acc->obj, subject, json_integer((json_int_t)msgs));
    return 0;
}

json_t *hr_stream_info_json(struct herald_stream *s, const char *subjects_filter)
{
    struct herald_stream_state st;
    herald_stream_state(s, &st);
    char created[64], first_ts[64], last_ts[64];
    hr_format_time(created, sizeof created, herald_stream_created_ns(s));
    hr_format_time(first_ts, sizeof first_ts, st.first_ts_ns);
    hr_format_time(last_ts, sizeof last_ts, st.last_ts_ns);
    json_t *state = json_pack("{s:I, s:I, s:I, s:s, s:I, s:s, s:I, s:I, s:I}",
                              "messages", (json_int_t)st.msgs, "bytes", (json_int_t)st.bytes,
                              "first_seq", (json_int_t)st.first_seq, "first_ts", first_ts,
                              "last_seq", (json_int_t)st.last_seq, "last_ts", last_ts,
                              "num_subjects", (json_int_t)st.num_subjects,
                              "num_deleted", (json_int_t)st.num_deleted,
                              "consumer_count", (json_int_t)st.consumer_count);
    if (state && subjects_filter && *subjects_filter) {
        struct subj_acc acc = {json_object(), 0};
        herald_stream_subjects(s, subjects_filter, add_subject, &acc);
        json_object_set_new(state, "subjects", acc.obj);
    }
    return json_pack("{s:o, s:s, s:o}", "config", config_object(herald_stream_get_config(s)),
                     "created", created, "state", state);
}
