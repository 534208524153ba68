/* SPDX-License-Identifier: Apache-2.0
 *
 * The JetStream API as nats-server 2.9 serves it: requests on `$JS.API.>` (and
 * `$JS.<domain>.API.>` with a domain) carry JSON; the engine answers on the reply
 * subject. Because it is a subject-addressed service inside the engine, every head with
 * request/reply reaches it. Handled here (streams; consumers come with the next layer):
 *
 *   INFO                          account info
 *   STREAM.CREATE|UPDATE.<s>      config → stream info
 *   STREAM.INFO.<s>               {"subjects_filter"} → stream info
 *   STREAM.DELETE.<s>             → {"success":true}
 *   STREAM.PURGE.<s>              {"filter","seq","keep"} → {"success":true,"purged":N}
 *   STREAM.NAMES                  {"offset","subject"} → names (paged by 1024)
 *   STREAM.LIST                   {"offset","subject"} → infos (paged by 256)
 *   STREAM.MSG.GET.<s>            {"seq"|"last_by_subj"|"next_by_subj"} → message (base64)
 *   STREAM.MSG.DELETE.<s>         {"seq"} → {"success":true}
 *   DIRECT.GET.<s>[.<subject>]    the message itself with Nats-* headers, or 404 status
 *   CONSUMER.CREATE.<s>[.<c>[.<filter>]], CONSUMER.DURABLE.CREATE.<s>.<c>
 *                                 {"stream_name","config","action"} → consumer info
 *   CONSUMER.INFO|DELETE.<s>.<c>, CONSUMER.NAMES|LIST.<s> {"offset"}
 *   CONSUMER.MSG.NEXT.<s>.<c>     pull request {"batch","expires","no_wait","max_bytes",
 *                                 "idle_heartbeat"} or a bare batch number
 *
 * Errors: {"type":…,"error":{"code":…,"err_code":…,"description":…}} with nats-server's
 * codes (jserr.h). Unknown API subjects get 10003 "bad request".
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/natshdr.h"
#include "common/subject.h"
#include "engine/consumer_internal.h"
#include "engine/engine_internal.h"
#include "engine/jserr.h"
#include "engine/stream_internal.h"

#define T_PREFIX "io.nats.jetstream.api.v1."
#define NAMES_PAGE 1024
#define LIST_PAGE 256

struct api_req {
    struct herald_engine *e;
    const struct herald_msg *msg;
    const char *type; /* response type suffix */
    json_t *body;     /* parsed request, or NULL when empty */
    bool after_commit; /* answer only once the change is durable (deletes, purges) */
};

static void respond_json(struct api_req *r, json_t *o)
{
    if (!o)
        return;
    char type[96];
    snprintf(type, sizeof type, T_PREFIX "%s", r->type);
    json_object_set_new(o, "type", json_string(type));
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (text && r->after_commit)
        hr_engine_queue_reply(r->e, r->msg->reply, r->msg->reply_len, text, strlen(text));
    else if (text)
        hr_engine_reply(r->e, r->msg->reply, r->msg->reply_len, NULL, 0, text, strlen(text));
    free(text);
}

char *hr_js_error_body(const char *type, const struct herald_error *err)
{
    json_t *o = json_pack("{s:{s:i, s:i, s:s}}", "error", "code", err->status, "err_code",
                          err->err_code, "description", err->description);
    if (o && type)
        json_object_set_new(o, "type", json_string(type));
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

static void respond_error(struct api_req *r, const struct herald_error *err)
{
    r->e->api_errors++;
    respond_json(r, json_pack("{s:{s:i, s:i, s:s}}", "error", "code", err->status, "err_code",
                              err->err_code, "description", err->description));
}

static void respond_js_error(struct api_req *r, enum hr_js_error which, const char *arg)
{
    struct herald_error err;
    hr_js_error(&err, which, arg);
    respond_error(r, &err);
}

static struct herald_stream *need_stream(struct api_req *r, const char *name)
{
    struct herald_stream *s = herald_stream_lookup(r->e, name);
    if (!s)
        respond_js_error(r, HR_JS_STREAM_NOT_FOUND, NULL);
    return s;
}

/* ---- INFO ----------------------------------------------------------------------- */

static int sum_stream(void *arg, struct herald_stream *s)
{
    json_int_t *acc = arg;
    acc[2] += (json_int_t)s->nconsumers;
    struct herald_stream_state st;
    herald_stream_state(s, &st);
    if (herald_stream_get_config(s)->storage == HERALD_STORAGE_MEMORY)
        acc[0] += (json_int_t)st.bytes;
    else
        acc[1] += (json_int_t)st.bytes;
    return 0;
}

static void api_info(struct api_req *r)
{
    json_int_t acc[3] = {0, 0, 0};
    herald_stream_each(r->e, sum_stream, acc);
    json_t *o = json_pack("{s:I, s:I, s:I, s:I, s:{s:i, s:i, s:i, s:i}, s:{s:I, s:I}}",
                          "memory", acc[0], "storage", acc[1], "streams", (json_int_t)r->e->nstreams,
                          "consumers", acc[2], "limits", "max_memory", -1, "max_storage", -1,
                          "max_streams", -1, "max_consumers", -1, "api", "total",
                          (json_int_t)r->e->api_total, "errors", (json_int_t)r->e->api_errors);
    if (o && r->e->js_domain)
        json_object_set_new(o, "domain", json_string(r->e->js_domain));
    respond_json(r, o);
}

/* ---- streams -------------------------------------------------------------------- */

static void respond_info(struct api_req *r, struct herald_stream *s, const char *filter, bool did_create)
{
    json_t *o = hr_stream_info_json(s, filter);
    if (o && did_create)
        json_object_set_new(o, "did_create", json_true());
    respond_json(r, o);
}

static void api_stream_create(struct api_req *r, const char *name, bool update)
{
    if (!r->body) {
        respond_js_error(r, HR_JS_INVALID_JSON, "stream configuration required");
        return;
    }
    struct herald_stream_config cfg;
    struct herald_error err;
    herald_stream_config_init(&cfg);
    char *text = json_dumps(r->body, JSON_COMPACT);
    int rc = text ? herald_stream_config_parse(text, strlen(text), &cfg, &err) : HERALD_ENOMEM;
    free(text);
    if (rc == 0 && (!cfg.name || strcmp(cfg.name, name) != 0)) {
        if (!cfg.name) {
            cfg.name = strdup(name);
        } else {
            hr_js_error(&err, HR_JS_STREAM_MISMATCH);
            rc = HERALD_EINVAL;
        }
    }
    bool existed = herald_stream_lookup(r->e, name) != NULL;
    if (rc == 0)
        rc = update ? herald_stream_update(r->e, &cfg, &err) : herald_stream_create(r->e, &cfg, &err);
    herald_stream_config_cleanup(&cfg);
    if (rc) {
        if (rc == HERALD_ENOMEM)
            hr_js_error(&err, HR_JS_STREAM_CREATE, "out of memory");
        respond_error(r, &err);
        return;
    }
    respond_info(r, herald_stream_lookup(r->e, name), NULL, !update && !existed);
}

static void api_stream_info(struct api_req *r, const char *name)
{
    struct herald_stream *s = need_stream(r, name);
    if (s)
        respond_info(r, s, json_string_value(json_object_get(r->body, "subjects_filter")), false);
}

static void api_stream_delete(struct api_req *r, const char *name)
{
    struct herald_error err;
    if (herald_stream_delete(r->e, name, &err))
        respond_error(r, &err);
    else
        respond_json(r, json_pack("{s:b}", "success", 1));
}

static void api_stream_purge(struct api_req *r, const char *name)
{
    struct herald_stream *s = need_stream(r, name);
    if (!s)
        return;
    const char *filter = json_string_value(json_object_get(r->body, "filter"));
    json_int_t seq = json_integer_value(json_object_get(r->body, "seq"));
    json_int_t keep = json_integer_value(json_object_get(r->body, "keep"));
    if (filter && !hr_subject_valid_filter(filter, strlen(filter))) {
        respond_js_error(r, HR_JS_BAD_REQUEST, NULL);
        return;
    }
    uint64_t purged;
    struct herald_error err;
    if (herald_stream_purge(s, filter, seq > 0 ? (uint64_t)seq : 0, keep > 0 ? (uint64_t)keep : 0,
                            &purged, &err))
        respond_error(r, &err);
    else
        respond_json(r, json_pack("{s:b, s:I}", "success", 1, "purged", (json_int_t)purged));
}

static bool stream_has_subject(struct herald_stream *s, const char *subject)
{
    if (!subject || !*subject)
        return true;
    const struct herald_stream_config *c = herald_stream_get_config(s);
    for (size_t i = 0; i < c->nsubjects; i++)
        if (hr_subject_overlaps(c->subjects[i], strlen(c->subjects[i]), subject, strlen(subject)))
            return true;
    return false;
}

static void api_stream_names_list(struct api_req *r, bool list)
{
    json_int_t offset = json_integer_value(json_object_get(r->body, "offset"));
    const char *subject = json_string_value(json_object_get(r->body, "subject"));
    size_t limit = list ? LIST_PAGE : NAMES_PAGE, total = 0, skipped = 0;
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < r->e->nstreams; i++) {
        struct herald_stream *s = r->e->streams[i];
        if (!stream_has_subject(s, subject))
            continue;
        total++;
        if (skipped++ < (size_t)(offset > 0 ? offset : 0) || json_array_size(arr) >= limit)
            continue;
        json_array_append_new(arr, list ? hr_stream_info_json(s, NULL)
                                        : json_string(herald_stream_get_config(s)->name));
    }
    respond_json(r, json_pack("{s:I, s:I, s:I, s:o}", "total", (json_int_t)total, "offset",
                              offset > 0 ? offset : 0, "limit", (json_int_t)limit, "streams", arr));
}

/* ---- messages ------------------------------------------------------------------- */

/* Reads the message a MSG.GET / DIRECT.GET body asks for. */
static int get_requested(struct api_req *r, struct herald_stream *s, const char *last_subject,
                         struct herald_stored_msg *m, struct herald_error *err)
{
    if (last_subject)
        return herald_stream_msg_get(s, 0, last_subject, strlen(last_subject), true, m, err);
    json_int_t seq = json_integer_value(json_object_get(r->body, "seq"));
    const char *last = json_string_value(json_object_get(r->body, "last_by_subj"));
    const char *next = json_string_value(json_object_get(r->body, "next_by_subj"));
    if (last)
        return herald_stream_msg_get(s, 0, last, strlen(last), true, m, err);
    if (next)
        return herald_stream_msg_get(s, seq > 0 ? (uint64_t)seq : 1, next, strlen(next), false, m, err);
    if (seq <= 0)
        return hr_js_error(err, HR_JS_BAD_REQUEST);
    return herald_stream_msg_get(s, (uint64_t)seq, NULL, 0, false, m, err);
}

static void api_msg_get(struct api_req *r, const char *name)
{
    struct herald_stream *s = need_stream(r, name);
    if (!s)
        return;
    if (!r->body) {
        respond_js_error(r, HR_JS_BAD_REQUEST, NULL);
        return;
    }
    struct herald_stored_msg m;
    struct herald_error err;
    if (get_requested(r, s, NULL, &m, &err)) {
        respond_error(r, &err);
        return;
    }
    char ts[64];
    hr_format_time(ts, sizeof ts, m.ts_ns);
    char *data = hr_base64_encode(m.data, m.data_len);
    char *hdrs = m.hdr_len ? hr_base64_encode(m.hdr, m.hdr_len) : NULL;
    json_t *msg = json_pack("{s:s%, s:I, s:s, s:s}", "subject", m.subject, m.subject_len, "seq",
                            (json_int_t)m.seq, "data", data ? data : "", "time", ts);
    if (msg && hdrs)
        json_object_set_new(msg, "hdrs", json_string(hdrs));
    free(data);
    free(hdrs);
    herald_stored_msg_free(&m);
    respond_json(r, json_pack("{s:o}", "message", msg));
}

static void api_msg_delete(struct api_req *r, const char *name)
{
    struct herald_stream *s = need_stream(r, name);
    if (!s)
        return;
    json_int_t seq = json_integer_value(json_object_get(r->body, "seq"));
    struct herald_error err;
    if (seq <= 0)
        respond_js_error(r, HR_JS_BAD_REQUEST, NULL);
    else if (herald_stream_msg_delete(s, (uint64_t)seq, &err))
        respond_error(r, &err);
    else
        respond_json(r, json_pack("{s:b}", "success", 1));
}

/* DIRECT.GET answers with the message itself (as nats-server's allow_direct does). */
static void api_direct_get(struct api_req *r, const char *name, const char *subject)
{
    struct herald_stream *s = herald_stream_lookup(r->e, name);
    if (s && !herald_stream_get_config(s)->allow_direct)
        return; /* as nats-server: only streams with allow_direct answer direct gets */
    struct hr_buf hdr;
    hr_buf_init(&hdr, 128 * 1024);
    struct herald_stored_msg m;
    struct herald_error err;
    int rc = s ? 0 : HERALD_ENOTFOUND;
    if (rc == 0 && !subject && !r->body) {
        hr_hdr_begin(&hdr, 408, "Empty Request");
        rc = HERALD_EINVAL;
    } else if (rc == 0) {
        rc = get_requested(r, s, subject, &m, &err);
    }
    if (rc) {
        if (hdr.len == 0)
            hr_hdr_begin(&hdr, 404, "Message Not Found");
        hr_hdr_end(&hdr);
        hr_engine_reply(r->e, r->msg->reply, r->msg->reply_len, hdr.data, hdr.len, NULL, 0);
        hr_buf_cleanup(&hdr);
        return;
    }
    static const char *const skip[] = {NULL};
    char num[32], ts[64];
    hr_hdr_begin(&hdr, 0, NULL);
    hr_hdr_copy(&hdr, m.hdr, m.hdr_len, skip);
    hr_hdr_add(&hdr, "Nats-Stream", name, strlen(name));
    hr_hdr_add(&hdr, "Nats-Subject", m.subject, m.subject_len);
    int n = snprintf(num, sizeof num, "%" PRIu64, m.seq);
    hr_hdr_add(&hdr, "Nats-Sequence", num, (size_t)n);
    hr_format_time(ts, sizeof ts, m.ts_ns);
    hr_hdr_add(&hdr, "Nats-Time-Stamp", ts, strlen(ts));
    hr_hdr_end(&hdr);
    hr_engine_reply(r->e, r->msg->reply, r->msg->reply_len, hdr.data, hdr.len, m.data, m.data_len);
    herald_stored_msg_free(&m);
    hr_buf_cleanup(&hdr);
}

/* ---- consumers ------------------------------------------------------------------ */

static void api_consumer_create(struct api_req *r, const char *stream, const char *name,
                                const char *filter, bool legacy_durable)
{
    struct herald_stream *s = need_stream(r, stream);
    if (!s)
        return;
    json_t *jcfg = json_object_get(r->body, "config");
    if (!jcfg) {
        respond_js_error(r, HR_JS_CONSUMER_CONFIG_REQUIRED, NULL);
        return;
    }
    const char *sn = json_string_value(json_object_get(r->body, "stream_name"));
    if (sn && strcmp(sn, stream) != 0) {
        respond_js_error(r, HR_JS_STREAM_MISMATCH, NULL);
        return;
    }
    const char *action = json_string_value(json_object_get(r->body, "action"));
    int act = action && strcmp(action, "create") == 0 ? 1 : action && strcmp(action, "update") == 0 ? 2 : 0;
    struct herald_consumer_config cfg;
    struct herald_error err;
    herald_consumer_config_init(&cfg);
    int rc = hr_consumer_config_parse(jcfg, &cfg, &err);
    if (rc == 0 && name) {
        if (cfg.name && strcmp(cfg.name, name) != 0) {
            rc = hr_js_error(&err, HR_JS_CONSUMER_NAME_MISMATCH);
        } else if (!cfg.name) {
            cfg.name = strdup(name);
            cfg.durable = legacy_durable;
            if (!cfg.name)
                rc = hr_js_error(&err, HR_JS_CONSUMER_CREATE, "out of memory");
        }
    }
    if (rc == 0 && legacy_durable)
        cfg.durable = true;
    if (rc == 0 && filter && (!cfg.filter_subject || strcmp(cfg.filter_subject, filter) != 0)) {
        if (cfg.filter_subject)
            rc = hr_js_error(&err, HR_JS_CONSUMER_FILTER_MISMATCH);
        else if (!(cfg.filter_subject = strdup(filter)))
            rc = hr_js_error(&err, HR_JS_CONSUMER_CREATE, "out of memory");
    }
    struct hr_consumer *c = NULL;
    if (rc == 0)
        rc = hr_consumer_create(s, &cfg, act, &err, &c);
    herald_consumer_config_cleanup(&cfg);
    if (rc)
        respond_error(r, &err);
    else
        respond_json(r, hr_consumer_info_json(c));
}

static struct hr_consumer *need_consumer(struct api_req *r, const char *stream, const char *name)
{
    struct herald_stream *s = need_stream(r, stream);
    if (!s)
        return NULL;
    struct hr_consumer *c = hr_consumer_lookup(s, name);
    if (!c)
        respond_js_error(r, HR_JS_CONSUMER_NOT_FOUND, NULL);
    return c;
}

static void api_consumer_names_list(struct api_req *r, const char *stream, bool list)
{
    struct herald_stream *s = need_stream(r, stream);
    if (!s)
        return;
    json_int_t offset = json_integer_value(json_object_get(r->body, "offset"));
    size_t limit = list ? LIST_PAGE : NAMES_PAGE;
    json_t *arr = json_array();
    for (size_t i = offset > 0 ? (size_t)offset : 0; arr && i < s->nconsumers && json_array_size(arr) < limit; i++)
        json_array_append_new(arr, list ? hr_consumer_info_json(s->consumers[i])
                                        : json_string(s->consumers[i]->cfg.name));
    respond_json(r, json_pack("{s:I, s:I, s:I, s:o}", "total", (json_int_t)s->nconsumers, "offset",
                              offset > 0 ? offset : 0, "limit", (json_int_t)limit, "consumers", arr));
}

/* ---- dispatch ------------------------------------------------------------------- */

/* Copies token `i` (0-based) of `rest` (dot-separated) into out; false if absent. */
static bool token(const char *rest, size_t len, size_t i, char *out, size_t cap)
{
    const char *p = rest, *end = rest + len;
    for (; i > 0 && p < end; i--) {
        const char *dot = memchr(p, '.', (size_t)(end - p));
        if (!dot)
            return false;
        p = dot + 1;
    }
    const char *dot = memchr(p, '.', (size_t)(end - p));
    size_t tl = dot ? (size_t)(dot - p) : (size_t)(end - p);
    if (p >= end || tl == 0 || tl >= cap)
        return false;
    memcpy(out, p, tl);
    out[tl] = '\0';
    return true;
}

static bool is(const char *rest, size_t len, const char *op)
{
    size_t n = strlen(op);
    return len >= n && memcmp(rest, op, n) == 0 && (len == n || rest[n] == '.');
}

static void dispatch(void *ctx, struct herald_sub *sub, const struct herald_msg *msg)
{
    struct herald_engine *e = ctx;
    (void)sub;
    if (!msg->reply || !msg->reply_len)
        return; /* nowhere to answer */
    e->api_total++;
    /* Strip "$JS.API." or "$JS.<domain>.API." */
    const char *api = memmem(msg->subject, msg->subject_len, ".API.", 5);
    if (!api)
        return;
    const char *rest = api + 5;
    size_t len = msg->subject_len - (size_t)(rest - msg->subject);
    struct api_req r = {.e = e, .msg = msg, .type = "error_response"};
    if (msg->data_len && !is(rest, len, "CONSUMER.MSG.NEXT")) {
        json_error_t jerr;
        r.body = json_loadb(msg->data, msg->data_len, 0, &jerr);
        if (!json_is_object(r.body)) {
            json_decref(r.body);
            r.body = NULL;
            respond_js_error(&r, HR_JS_INVALID_JSON, jerr.text);
            return;
        }
    }
    char name[HERALD_NAME_MAX + 1], cname[HERALD_NAME_MAX + 1];
    if (len == 4 && memcmp(rest, "INFO", 4) == 0) {
        r.type = "account_info_response";
        api_info(&r);
    } else if (is(rest, len, "STREAM.CREATE") && token(rest, len, 2, name, sizeof name)) {
        r.type = "stream_create_response";
        api_stream_create(&r, name, false);
    } else if (is(rest, len, "STREAM.UPDATE") && token(rest, len, 2, name, sizeof name)) {
        r.type = "stream_update_response";
        api_stream_create(&r, name, true);
    } else if (is(rest, len, "STREAM.INFO") && token(rest, len, 2, name, sizeof name)) {
        r.type = "stream_info_response";
        api_stream_info(&r, name);
    } else if (is(rest, len, "STREAM.DELETE") && token(rest, len, 2, name, sizeof name)) {
        r.type = "stream_delete_response";
        api_stream_delete(&r, name);
    } else if (is(rest, len, "STREAM.PURGE") && token(rest, len, 2, name, sizeof name)) {
        r.type = "stream_purge_response";
        r.after_commit = true;
        api_stream_purge(&r, name);
    } else if (len == 12 && memcmp(rest, "STREAM.NAMES", 12) == 0) {
        r.type = "stream_names_response";
        api_stream_names_list(&r, false);
    } else if (len == 11 && memcmp(rest, "STREAM.LIST", 11) == 0) {
        r.type = "stream_list_response";
        api_stream_names_list(&r, true);
    } else if (is(rest, len, "STREAM.MSG.GET") && token(rest, len, 3, name, sizeof name)) {
        r.type = "stream_msg_get_response";
        api_msg_get(&r, name);
    } else if (is(rest, len, "STREAM.MSG.DELETE") && token(rest, len, 3, name, sizeof name)) {
        r.type = "stream_msg_delete_response";
        r.after_commit = true;
        api_msg_delete(&r, name);
    } else if (is(rest, len, "CONSUMER.MSG.NEXT") && token(rest, len, 3, name, sizeof name) &&
               token(rest, len, 4, cname, sizeof cname)) {
        struct herald_stream *s = herald_stream_lookup(e, name);
        struct hr_consumer *c = s ? hr_consumer_lookup(s, cname) : NULL;
        if (c)
            hr_consumer_pull_request(c, msg->reply, msg->reply_len, msg->data, msg->data_len);
        else
            hr_engine_reply(e, msg->reply, msg->reply_len, "NATS/1.0 404 No Messages\r\n\r\n", 30,
                            NULL, 0);
    } else if (is(rest, len, "CONSUMER.DURABLE.CREATE") && token(rest, len, 3, name, sizeof name) &&
               token(rest, len, 4, cname, sizeof cname)) {
        r.type = "consumer_create_response";
        api_consumer_create(&r, name, cname, NULL, true);
    } else if (is(rest, len, "CONSUMER.CREATE") && token(rest, len, 2, name, sizeof name)) {
        r.type = "consumer_create_response";
        bool named = token(rest, len, 3, cname, sizeof cname);
        /* the filter is everything after the name: it may contain dots */
        size_t pre = 16 + strlen(name) + (named ? 1 + strlen(cname) : 0); /* "CONSUMER.CREATE." */
        char *filter = named && len > pre + 1 ? strndup(rest + pre + 1, len - pre - 1) : NULL;
        api_consumer_create(&r, name, named ? cname : NULL, filter, false);
        free(filter);
    } else if (is(rest, len, "CONSUMER.INFO") && token(rest, len, 2, name, sizeof name) &&
               token(rest, len, 3, cname, sizeof cname)) {
        r.type = "consumer_info_response";
        struct hr_consumer *c = need_consumer(&r, name, cname);
        if (c)
            respond_json(&r, hr_consumer_info_json(c));
    } else if (is(rest, len, "CONSUMER.DELETE") && token(rest, len, 2, name, sizeof name) &&
               token(rest, len, 3, cname, sizeof cname)) {
        r.type = "consumer_delete_response";
        struct hr_consumer *c = need_consumer(&r, name, cname);
        if (c) {
            hr_consumer_delete(c);
            respond_json(&r, json_pack("{s:b}", "success", 1));
        }
    } else if (is(rest, len, "CONSUMER.NAMES") && token(rest, len, 2, name, sizeof name)) {
        r.type = "consumer_names_response";
        api_consumer_names_list(&r, name, false);
    } else if (is(rest, len, "CONSUMER.LIST") && token(rest, len, 2, name, sizeof name)) {
        r.type = "consumer_list_response";
        api_consumer_names_list(&r, name, true);
    } else if (is(rest, len, "DIRECT.GET") && token(rest, len, 2, name, sizeof name)) {
        size_t skip = 11 + strlen(name); /* "DIRECT.GET." + name */
        char *subject = len > skip + 1 ? strndup(rest + skip + 1, len - skip - 1) : NULL;
        api_direct_get(&r, name, subject);
        free(subject);
    } else {
        respond_js_error(&r, HR_JS_BAD_REQUEST, NULL);
    }
    json_decref(r.body);
}

int hr_jsapi_start(struct herald_engine *e)
{
    struct herald_sub_options so = {.deliver = dispatch, .ctx = e};
    int rc = herald_sub_create(e, "$JS.API.>", 9, NULL, 0, &so, &e->api_subs[0]);
    if (rc == 0 && e->js_domain) {
        char subj[HERALD_NAME_MAX + 16];
        int n = snprintf(subj, sizeof subj, "$JS.%s.API.>", e->js_domain);
        rc = herald_sub_create(e, subj, (size_t)n, NULL, 0, &so, &e->api_subs[1]);
    }
    return rc;
}

void hr_jsapi_stop(struct herald_engine *e)
{
    for (size_t i = 0; i < 2; i++) {
        herald_sub_destroy(e->api_subs[i]);
        e->api_subs[i] = NULL;
    }
}
