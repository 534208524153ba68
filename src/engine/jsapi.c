/* SPDX-License-Identifier: Apache-2.0
 *
 * The JetStream API as nats-server 2.9 serves it: requests on `$JS.API.>` (and
 * `$JS.<domain>.API.>` with a domain) carry JSON; the engine answers on the reply
 * subject. Because it is a subject-addressed service inside the engine, every head with
 * request/reply reaches it. Handled here:
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
 *                                 {"stream_name","config"} → consumer info (create or update;
 *                                 "action" is ignored, as 2.9.10 has none)
 *   CONSUMER.INFO|DELETE.<s>.<c>, CONSUMER.NAMES|LIST.<s> {"offset"}
 *   CONSUMER.MSG.NEXT.<s>.<c>     pull request {"batch","expires","no_wait","max_bytes",
 *                                 "idle_heartbeat"} or a bare batch number
 *
 * Responses carry "type" first. Errors: {"type":…,"error":{"code":…,"err_code":…,
 * "description":…}} with nats-server's codes (jserr.h). Unknown API subjects get 10003
 * "bad request", except under CONSUMER.: like nats-server, whose handlers subscribe to exact
 * token patterns, Herald does not answer a consumer subject of another shape, nor MSG.NEXT
 * for an unknown stream or consumer (docs/consumers-wire.md §1.5).
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
    /* "type" first, as nats-server's embedded ApiResponse puts it */
    json_t *out = json_pack("{s:s}", "type", type);
    if (out)
        json_object_update(out, o);
    json_decref(o);
    char *text = out ? json_dumps(out, JSON_COMPACT) : NULL;
    json_decref(out);
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

/* nats-server's isEmptyRequest: no payload, or a JSON object without keys. */
static bool empty_request(const struct herald_msg *msg)
{
    if (msg->data_len == 0)
        return true;
    json_error_t jerr;
    json_t *o = json_loadb(msg->data, msg->data_len, 0, &jerr);
    bool empty = json_is_object(o) && json_object_size(o) == 0;
    json_decref(o);
    return empty;
}

/* The request body as a JSON object, or NULL after answering 10025 "invalid JSON". */
static json_t *body_object(struct api_req *r)
{
    json_error_t jerr;
    json_t *o = r->msg->data_len ? json_loadb(r->msg->data, r->msg->data_len, 0, &jerr) : NULL;
    if (!json_is_object(o)) {
        json_decref(o);
        respond_js_error(r, HR_JS_INVALID_JSON, NULL);
        return NULL;
    }
    return o;
}

/* CONSUMER.CREATE.<s> (name NULL), CONSUMER.CREATE.<s>.<name>[.<filter>] and
 * CONSUMER.DURABLE.CREATE.<s>.<name> (legacy_durable), checked in nats-server 2.9.10's
 * order; "action" is ignored (2.9 has none: create is create-or-update). */
static void api_consumer_create(struct api_req *r, const char *stream, const char *name,
                                const char *filter, bool legacy_durable)
{
    if (!(r->body = body_object(r)))
        return;
    json_t *jcfg = json_object_get(r->body, "config");
    json_t *empty = json_object();
    struct herald_consumer_config cfg;
    struct herald_error err;
    herald_consumer_config_init(&cfg);
    int rc = hr_consumer_config_parse(jcfg && !json_is_null(jcfg) ? jcfg : empty, &cfg, &err);
    json_decref(empty);
    const char *sn = json_string_value(json_object_get(r->body, "stream_name"));
    if (rc == 0 && (!sn || strcmp(sn, stream) != 0))
        rc = hr_js_error(&err, HR_JS_STREAM_MISMATCH);
    if (rc == 0 && legacy_durable) {
        if (!cfg.durable)
            rc = hr_js_error(&err, HR_JS_CONSUMER_DURABLE_NOT_SET);
        else if (strcmp(cfg.name, name) != 0)
            rc = hr_js_error(&err, HR_JS_CONSUMER_NAME_MISMATCH);
    } else if (rc == 0 && name) {
        if (cfg.durable && strcmp(cfg.name, name) != 0) {
            rc = hr_js_error(&err, HR_JS_CONSUMER_NAME_MISMATCH);
        } else if (!cfg.name || strcmp(cfg.name, name) != 0) {
            free(cfg.name); /* the subject names it */
            if (!(cfg.name = strdup(name)))
                rc = hr_js_error(&err, HR_JS_CONSUMER_CREATE, "out of memory");
        }
        cfg.hide_name = false;
    } else if (rc == 0 && cfg.durable) {
        rc = hr_js_error(&err, HR_JS_CONSUMER_EPHEMERAL_WITH_DURABLE);
    }
    if (rc == 0 && filter && (!cfg.filter_subject || strcmp(cfg.filter_subject, filter) != 0))
        rc = hr_js_error(&err, HR_JS_CONSUMER_FILTER_MISMATCH);
    struct herald_stream *s = NULL;
    if (rc == 0 && !(s = herald_stream_lookup(r->e, stream)))
        rc = hr_js_error(&err, HR_JS_STREAM_NOT_FOUND);
    struct hr_consumer *c = NULL;
    if (rc == 0)
        rc = hr_consumer_create(s, &cfg, &err, &c);
    herald_consumer_config_cleanup(&cfg);
    if (rc)
        respond_error(r, &err);
    else
        respond_json(r, hr_consumer_info_json(c));
}

/* INFO and DELETE: an empty request, an existing stream and consumer. */
static struct hr_consumer *need_consumer(struct api_req *r, const char *stream, const char *name)
{
    if (!empty_request(r->msg)) {
        respond_js_error(r, HR_JS_NOT_EMPTY_REQUEST, NULL);
        return NULL;
    }
    struct herald_stream *s = need_stream(r, stream);
    if (!s)
        return NULL;
    struct hr_consumer *c = hr_consumer_lookup(s, name);
    if (!c)
        respond_js_error(r, HR_JS_CONSUMER_NOT_FOUND, NULL);
    return c;
}

/* NAMES / LIST: sorted names (a "subject" filter in the body is ignored, as 2.9.10 does),
 * the offset clamped to the total; an error keeps the paged fields, zeroed. */
static void api_consumer_names_list(struct api_req *r, const char *stream, bool list)
{
    struct herald_error err;
    struct herald_stream *s = NULL;
    json_int_t offset = 0;
    int rc = 0;
    if (!empty_request(r->msg)) {
        json_error_t jerr;
        json_t *o = json_loadb(r->msg->data, r->msg->data_len, 0, &jerr);
        json_t *off = json_object_get(o, "offset");
        if (!json_is_object(o) || (off && !json_is_null(off) && !json_is_integer(off)))
            rc = hr_js_error(&err, HR_JS_INVALID_JSON);
        else
            offset = json_integer_value(off);
        json_decref(o);
    }
    if (rc == 0 && !(s = herald_stream_lookup(r->e, stream)))
        rc = hr_js_error(&err, HR_JS_STREAM_NOT_FOUND);
    if (rc) {
        r->e->api_errors++;
        respond_json(r, json_pack("{s:{s:i, s:i, s:s}, s:i, s:i, s:i, s:[]}", "error", "code",
                                  err.status, "err_code", err.err_code, "description",
                                  err.description, "total", 0, "offset", 0, "limit", 0, "consumers"));
        return;
    }
    size_t limit = list ? LIST_PAGE : NAMES_PAGE;
    size_t from = offset > 0 ? (size_t)offset : 0;
    if (from > s->nconsumers)
        from = s->nconsumers;
    json_t *arr = json_array();
    for (size_t i = from; arr && i < s->nconsumers && json_array_size(arr) < limit; i++)
        json_array_append_new(arr, list ? hr_consumer_info_json(s->consumers[i])
                                        : json_string(s->consumers[i]->cfg.name));
    respond_json(r, json_pack("{s:I, s:I, s:I, s:o}", "total", (json_int_t)s->nconsumers, "offset",
                              (json_int_t)from, "limit", (json_int_t)limit, "consumers", arr));
}

#define MAX_TOKENS 8

/* Splits `p` (len bytes) at dots into at most MAX_TOKENS slices; returns how many (a count
 * above MAX_TOKENS means "more"), or 0 when a token is empty or longer than a name. */
static size_t split_tokens(const char *p, size_t len, const char **tok, size_t *tl)
{
    size_t n = 0;
    const char *end = p + len;
    for (;;) {
        const char *dot = memchr(p, '.', (size_t)(end - p));
        const char *te = dot ? dot : end;
        if (te == p)
            return 0;
        if (n < MAX_TOKENS) {
            tok[n] = p;
            tl[n] = (size_t)(te - p);
        }
        n++;
        if (!dot)
            return n;
        p = dot + 1;
    }
}

static bool tok_is(const char *t, size_t l, const char *word)
{
    return l == strlen(word) && memcmp(t, word, l) == 0;
}

/* `$JS.API.CONSUMER.<rest>`: subjects of any other shape get no reply at all, as with
 * nats-server, whose handlers subscribe to exact token patterns. */
static void consumer_dispatch(struct herald_engine *e, const struct herald_msg *msg, const char *rest,
                              size_t len)
{
    const char *tok[MAX_TOKENS];
    size_t tl[MAX_TOKENS];
    size_t n = split_tokens(rest, len, tok, tl);
    if (n < 2)
        return;
    char a[HERALD_NAME_MAX + 1], b[HERALD_NAME_MAX + 1];
#define TOKEN_TO(buf, i) (tl[i] < sizeof(buf) ? (memcpy(buf, tok[i], tl[i]), buf[tl[i]] = '\0', true) : false)
    struct api_req r = {.e = e, .msg = msg, .type = "error_response"};
    if (tok_is(tok[0], tl[0], "MSG") && n == 4 && tok_is(tok[1], tl[1], "NEXT")) {
        /* an unknown stream or consumer: no reply (nats-server has no subscription there) */
        struct herald_stream *s = TOKEN_TO(a, 2) ? herald_stream_lookup(e, a) : NULL;
        struct hr_consumer *c = s && TOKEN_TO(b, 3) ? hr_consumer_lookup(s, b) : NULL;
        if (c)
            hr_consumer_pull_request(c, msg->reply, msg->reply_len, msg->data, msg->data_len);
        return;
    }
    if (!msg->reply || !msg->reply_len)
        return; /* nowhere to answer */
    bool ok_a = TOKEN_TO(a, 1);
    if (!ok_a) /* longer than any name: no such stream */
        strcpy(a, "");
    if (tok_is(tok[0], tl[0], "CREATE")) {
        r.type = "consumer_create_response";
        e->api_total++;
        if (n == 2) {
            api_consumer_create(&r, a, NULL, NULL, false);
        } else {
            char *name = strndup(tok[2], tl[2]);
            const char *f = tok[2] + tl[2] + 1, *end = rest + len;
            char *filter = n > 3 ? strndup(f, (size_t)(end - f)) : NULL;
            if (name && (n == 3 || filter))
                api_consumer_create(&r, a, name, filter, false);
            free(name);
            free(filter);
        }
    } else if (tok_is(tok[0], tl[0], "DURABLE") && n == 4 && tok_is(tok[1], tl[1], "CREATE")) {
        r.type = "consumer_create_response";
        e->api_total++;
        char *name = strndup(tok[3], tl[3]);
        ok_a = TOKEN_TO(a, 2);
        if (name)
            api_consumer_create(&r, ok_a ? a : "", name, NULL, true);
        free(name);
    } else if ((tok_is(tok[0], tl[0], "INFO") || tok_is(tok[0], tl[0], "DELETE")) && n == 3) {
        bool del = tok_is(tok[0], tl[0], "DELETE");
        r.type = del ? "consumer_delete_response" : "consumer_info_response";
        e->api_total++;
        if (!TOKEN_TO(b, 2))
            strcpy(b, "");
        struct hr_consumer *c = need_consumer(&r, a, b);
        if (c && del) {
            hr_consumer_delete(c);
            respond_json(&r, json_pack("{s:b}", "success", 1));
        } else if (c) {
            respond_json(&r, hr_consumer_info_json(c));
        }
    } else if ((tok_is(tok[0], tl[0], "NAMES") || tok_is(tok[0], tl[0], "LIST")) && n == 2) {
        bool list = tok_is(tok[0], tl[0], "LIST");
        r.type = list ? "consumer_list_response" : "consumer_names_response";
        e->api_total++;
        api_consumer_names_list(&r, a, list);
    }
    json_decref(r.body);
#undef TOKEN_TO
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
        return; /* nowhere to answer (a pull request without a reply is dropped too) */
    /* Strip "$JS.API." or "$JS.<domain>.API." */
    const char *api = memmem(msg->subject, msg->subject_len, ".API.", 5);
    if (!api)
        return;
    const char *rest = api + 5;
    size_t len = msg->subject_len - (size_t)(rest - msg->subject);
    if (len > 9 && memcmp(rest, "CONSUMER.", 9) == 0) {
        consumer_dispatch(e, msg, rest + 9, len - 9);
        return;
    }
    e->api_total++;
    struct api_req r = {.e = e, .msg = msg, .type = "error_response"};
    if (msg->data_len) {
        json_error_t jerr;
        r.body = json_loadb(msg->data, msg->data_len, 0, &jerr);
        if (!json_is_object(r.body)) {
            json_decref(r.body);
            r.body = NULL;
            respond_js_error(&r, HR_JS_INVALID_JSON, jerr.text);
            return;
        }
    }
    char name[HERALD_NAME_MAX + 1];
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
