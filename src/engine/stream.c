/* SPDX-License-Identifier: Apache-2.0
 *
 * Streams in the engine: the registry (sorted by name, E3), creation, update, deletion,
 * restoring streams from the store at start-up, and the publish path of a captured
 * message:
 *
 *   herald_publish ─► router ─► capture(sub of the stream) ─► checks (sealed, size,
 *   Nats-Expected-*, Nats-Msg-Id window, rollup permission) ─► store append ─► rollup
 *   purge ─► PubAck queued ─► herald_engine_commit ─► store flush ─► (durable) ─► PubAck
 *   published on the reply subject (E2)
 *
 * A rejected message gets its JetStream error on the reply subject at once; core
 * subscribers of the subject receive the message either way, as in NATS.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/natshdr.h"
#include "common/subject.h"
#include "engine/engine_internal.h"
#include "engine/consumer_internal.h"
#include "engine/jserr.h"
#include "engine/stream_internal.h"

#define DEFAULT_DUPLICATE_WINDOW_NS (120LL * 1000000000LL)
#define MAX_STREAMS 10000

int64_t hr_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static const struct hr_store_ops *ops(const struct herald_engine *e)
{
    return e->store->ops;
}

/* ---- config ----------------------------------------------------------------------- */

void herald_stream_config_init(struct herald_stream_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->retention = HERALD_RETENTION_LIMITS;
    cfg->discard = HERALD_DISCARD_OLD;
    cfg->storage = HERALD_STORAGE_FILE;
    cfg->max_consumers = cfg->max_msgs = cfg->max_bytes = -1;
    cfg->max_msgs_per_subject = cfg->max_msg_size = -1;
    cfg->replicas = 1;
}

void herald_stream_config_cleanup(struct herald_stream_config *cfg)
{
    free(cfg->name);
    free(cfg->description);
    for (size_t i = 0; i < cfg->nsubjects; i++)
        free(cfg->subjects[i]);
    free(cfg->subjects);
    memset(cfg, 0, sizeof *cfg);
}

static int config_copy(struct herald_stream_config *dst, const struct herald_stream_config *src)
{
    *dst = *src;
    dst->name = strdup(src->name);
    dst->description = src->description ? strdup(src->description) : NULL;
    dst->subjects = calloc(src->nsubjects ? src->nsubjects : 1, sizeof *dst->subjects);
    bool ok = dst->name && (!src->description || dst->description) && dst->subjects;
    for (size_t i = 0; ok && i < src->nsubjects; i++)
        ok = (dst->subjects[i] = strdup(src->subjects[i])) != NULL;
    if (!ok) {
        dst->nsubjects = src->nsubjects;
        herald_stream_config_cleanup(dst);
        return HERALD_ENOMEM;
    }
    return 0;
}

static bool valid_stream_name(const char *n)
{
    size_t len = strlen(n);
    if (len == 0 || len > HERALD_NAME_MAX || n[0] == '.')
        return false;
    return strpbrk(n, " \t\r\n.*>") == NULL;
}

static struct hr_stream_limits limits_of(const struct herald_stream_config *c)
{
    return (struct hr_stream_limits){
        .max_msgs = c->max_msgs,
        .max_bytes = c->max_bytes,
        .max_age_ns = c->max_age_ns,
        .max_msgs_per_subject = c->max_msgs_per_subject,
        .max_msg_size = c->max_msg_size,
        .discard_new = c->discard == HERALD_DISCARD_NEW,
        .discard_new_per_subject = c->discard_new_per_subject,
    };
}

/* Validates and normalises (defaults filled in) a config for create/update. */
static int config_check(struct herald_engine *e, struct herald_stream_config *c,
                        const struct herald_stream *self, struct herald_error *err)
{
    if (!c->name || !valid_stream_name(c->name)) {
        if (c->name && (strchr(c->name, '/') || strchr(c->name, '\\')))
            return hr_js_error(err, HR_JS_STREAM_NAME_PATH);
        return hr_js_error(err, HR_JS_STREAM_INVALID_CONFIG, "stream name is required and can not contain '.', '*', '>'");
    }
    if (strchr(c->name, '/') || strchr(c->name, '\\'))
        return hr_js_error(err, HR_JS_STREAM_NAME_PATH);
    if (c->replicas > 1)
        return hr_js_error(err, HR_JS_STREAM_REPLICAS);
    if (c->replicas < 1)
        c->replicas = 1;
    if (c->nsubjects == 0) { /* as nats-server: a stream without subjects captures its name */
        free(c->subjects); /* config_copy's empty array */
        c->subjects = malloc(sizeof *c->subjects);
        if (!c->subjects || !(c->subjects[0] = strdup(c->name)))
            return hr_js_error(err, HR_JS_STREAM_CREATE, "out of memory");
        c->nsubjects = 1;
    }
    for (size_t i = 0; i < c->nsubjects; i++) {
        const char *s = c->subjects[i];
        if (!hr_subject_valid_filter(s, strlen(s)))
            return hr_js_error(err, HR_JS_STREAM_INVALID_CONFIG, "invalid subject");
        if (hr_subject_overlaps(s, strlen(s), "$JS.API.>", 9))
            return hr_js_error(err, HR_JS_STREAM_INVALID_CONFIG, "subjects overlap with jetstream api");
        for (size_t j = 0; j < i; j++)
            if (hr_subject_overlaps(s, strlen(s), c->subjects[j], strlen(c->subjects[j])))
                return hr_js_error(err, HR_JS_STREAM_INVALID_CONFIG, "duplicate subjects detected");
        for (size_t k = 0; k < e->nstreams; k++) {
            const struct herald_stream *o = e->streams[k];
            if (o == self || strcmp(o->cfg.name, c->name) == 0)
                continue;
            for (size_t j = 0; j < o->cfg.nsubjects; j++)
                if (hr_subject_overlaps(s, strlen(s), o->cfg.subjects[j], strlen(o->cfg.subjects[j])))
                    return hr_js_error(err, HR_JS_STREAM_SUBJECT_OVERLAP);
        }
    }
    if (c->max_msgs < -1 || c->max_bytes < -1 || c->max_msgs_per_subject < -1 ||
        c->max_msg_size < -1 || c->max_consumers < -1 || c->max_age_ns < 0 ||
        c->duplicate_window_ns < 0)
        return hr_js_error(err, HR_JS_STREAM_INVALID_CONFIG, "negative limits are not allowed");
    if (c->max_msgs == 0)
        c->max_msgs = -1;
    if (c->max_bytes == 0)
        c->max_bytes = -1;
    if (c->max_msgs_per_subject == 0)
        c->max_msgs_per_subject = -1;
    if (c->max_msg_size == 0)
        c->max_msg_size = -1;
    if (c->max_consumers == 0)
        c->max_consumers = -1;
    if (c->duplicate_window_ns == 0)
        c->duplicate_window_ns = c->max_age_ns && c->max_age_ns < DEFAULT_DUPLICATE_WINDOW_NS
                                     ? c->max_age_ns : DEFAULT_DUPLICATE_WINDOW_NS;
    if (c->max_age_ns && c->duplicate_window_ns > c->max_age_ns)
        return hr_js_error(err, HR_JS_STREAM_INVALID_CONFIG, "duplicates window can not be larger then max age");
    if (c->discard_new_per_subject && (c->discard != HERALD_DISCARD_NEW || c->max_msgs_per_subject <= 0))
        return hr_js_error(err, HR_JS_STREAM_INVALID_CONFIG, "discard new per subject requires discard new policy to be set and max msgs per subject > 0");
    return 0;
}

/* ---- registry --------------------------------------------------------------------- */

static size_t find_index(const struct herald_engine *e, const char *name, bool *found)
{
    size_t lo = 0, hi = e->nstreams;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(e->streams[mid]->cfg.name, name);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

struct herald_stream *herald_stream_lookup(struct herald_engine *e, const char *name)
{
    bool found;
    size_t i = e->store ? find_index(e, name, &found) : 0;
    return e->store && found ? e->streams[i] : NULL;
}

int herald_stream_each(struct herald_engine *e, int (*cb)(void *arg, struct herald_stream *s), void *arg)
{
    for (size_t i = 0; i < e->nstreams; i++) {
        int rc = cb(arg, e->streams[i]);
        if (rc)
            return rc;
    }
    return 0;
}

struct herald_stream *herald_stream_for_subject(struct herald_engine *e, const char *subject, size_t len)
{
    for (size_t i = 0; i < e->nstreams; i++)
        for (size_t j = 0; j < e->streams[i]->cfg.nsubjects; j++) {
            const char *f = e->streams[i]->cfg.subjects[j];
            if (hr_subject_matches(f, strlen(f), subject, len))
                return e->streams[i];
        }
    return NULL;
}

const struct herald_stream_config *herald_stream_get_config(const struct herald_stream *s)
{
    return &s->cfg;
}

int64_t herald_stream_created_ns(const struct herald_stream *s)
{
    return s->created_ns;
}

/* ---- replies ---------------------------------------------------------------------- */

void hr_engine_reply(struct herald_engine *e, const char *reply, size_t reply_len,
                     const char *hdr, size_t hdr_len, const char *body, size_t body_len)
{
    if (!reply || !reply_len)
        return;
    struct herald_msg m = {
        .subject = reply, .subject_len = reply_len, .hdr = hdr, .hdr_len = hdr_len,
        .data = body, .data_len = body_len,
    };
    herald_publish(e, &m, NULL);
}

void hr_stream_reply_error(struct herald_stream *s, const struct herald_msg *msg,
                           const struct herald_error *err)
{
    if (!msg->reply || !msg->reply_len || s->cfg.no_ack)
        return;
    json_t *o = json_pack("{s:s, s:{s:i, s:i, s:s}}", "stream", s->cfg.name, "error", "code",
                          err->status, "err_code", err->err_code, "description", err->description);
    char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (body)
        hr_engine_reply(s->e, msg->reply, msg->reply_len, NULL, 0, body, strlen(body));
    free(body);
}

static size_t format_puback(char *buf, size_t cap, const struct herald_stream *s, uint64_t seq,
                            bool duplicate, const char *batch, size_t batch_len, size_t count)
{
    const char *domain = s->e->js_domain;
    int n = snprintf(buf, cap, "{\"stream\":\"%s\",%s%s%s\"seq\":%" PRIu64 "%s", s->cfg.name,
                     domain ? "\"domain\":\"" : "", domain ? domain : "", domain ? "\"," : "", seq,
                     duplicate ? ",\"duplicate\":true" : "");
    if (n > 0 && (size_t)n < cap && batch)
        n += snprintf(buf + n, cap - (size_t)n, ",\"batch\":\"%.*s\",\"count\":%zu", (int)batch_len,
                      batch, count);
    if (n > 0 && (size_t)n < cap - 1)
        buf[n++] = '}';
    return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

/* E2: the PubAck waits for the next commit. */
void hr_stream_queue_ack(struct herald_stream *s, const char *reply, size_t reply_len,
                         uint64_t seq, const char *batch_id, size_t batch_len, size_t count)
{
    if (!reply_len || s->cfg.no_ack)
        return;
    char body[512];
    size_t body_len = format_puback(body, sizeof body, s, seq, false, batch_id, batch_len, count);
    hr_engine_queue_reply(s->e, reply, reply_len, body, body_len);
}

void hr_engine_queue_reply(struct herald_engine *e, const char *reply, size_t reply_len,
                           const char *body, size_t body_len)
{
    struct hr_pending_ack *a = malloc(sizeof *a + reply_len + body_len);
    if (!a) {
        hr_error("out of memory queueing a PubAck; the publisher will time out and retry");
        return;
    }
    a->next = NULL;
    a->reply_len = reply_len;
    a->body_len = body_len;
    memcpy(a->data, reply, reply_len);
    if (body_len)
        memcpy(a->data + reply_len, body, body_len);
    if (e->acks_tail)
        e->acks_tail->next = a;
    else
        e->acks_head = a;
    e->acks_tail = a;
}

static void on_commit(void *arg, int status)
{
    struct hr_ack_batch *b = arg;
    struct herald_engine *e = b->engine;
    e->acks_inflight_batches--;
    struct hr_pending_ack *a = b->head;
    free(b);
    while (a) {
        struct hr_pending_ack *next = a->next;
        if (!e->destroying) {
            if (status == 0) {
                hr_engine_reply(e, a->data, a->reply_len, NULL, 0, a->data + a->reply_len, a->body_len);
            } else {
                struct herald_error err;
                hr_js_error(&err, HR_JS_STORE_FAILED, "storage failure: the message may not be durable");
                char *body = hr_js_error_body(NULL, &err);
                if (body)
                    hr_engine_reply(e, a->data, a->reply_len, NULL, 0, body, strlen(body));
                free(body);
            }
        }
        free(a);
        a = next;
    }
}

void herald_engine_commit(struct herald_engine *e)
{
    if (!e->store)
        return;
    hr_consumers_pump(e); /* U5 */
    if (!e->acks_head)
        return;
    struct hr_ack_batch *b = malloc(sizeof *b);
    if (!b)
        return; /* retried on the next iteration */
    b->engine = e;
    b->head = e->acks_head;
    e->acks_head = e->acks_tail = NULL;
    e->acks_inflight_batches++;
    ops(e)->flush(e->store, on_commit, b);
}

/* ---- dedupe ----------------------------------------------------------------------- */

static void dedupe_expire(struct herald_stream *s, int64_t now)
{
    while (s->dd_head && now - s->dd_head->ts_ns > s->cfg.duplicate_window_ns) {
        struct hr_dedupe *d = s->dd_head;
        s->dd_head = d->next;
        if (!s->dd_head)
            s->dd_tail = NULL;
        if (hr_map_get(&s->dedupe, d->id, d->len) == d)
            hr_map_del(&s->dedupe, d->id, d->len);
        free(d);
    }
}

static void dedupe_add(struct herald_stream *s, const char *id, size_t len, uint64_t seq, int64_t ts)
{
    struct hr_dedupe *d = malloc(sizeof *d + len);
    if (!d)
        return;
    d->next = NULL;
    d->seq = seq;
    d->ts_ns = ts;
    d->len = len;
    memcpy(d->id, id, len);
    if (hr_map_put(&s->dedupe, d->id, len, d)) {
        free(d);
        return;
    }
    if (s->dd_tail)
        s->dd_tail->next = d;
    else
        s->dd_head = d;
    s->dd_tail = d;
}

static void dedupe_clear(struct herald_stream *s)
{
    while (s->dd_head) {
        struct hr_dedupe *d = s->dd_head;
        s->dd_head = d->next;
        free(d);
    }
    s->dd_tail = NULL;
    hr_map_cleanup(&s->dedupe);
}

/* ---- capture ---------------------------------------------------------------------- */

static bool hdr_u64(const char *hdr, size_t hdr_len, const char *key, uint64_t *out, bool *bad)
{
    const char *v;
    size_t vl;
    if (!hr_hdr_get(hdr, hdr_len, key, &v, &vl))
        return false;
    uint64_t x = 0;
    *bad = vl == 0 || vl > 20;
    for (size_t i = 0; i < vl && !*bad; i++) {
        if (v[i] < '0' || v[i] > '9')
            *bad = true;
        x = x * 10 + (uint64_t)(v[i] - '0');
    }
    *out = x;
    return true;
}

int hr_stream_check_expected(struct herald_stream *s, const char *subject, size_t subject_len,
                             const char *hdr, size_t hdr_len, struct herald_error *err)
{
    if (!hdr_len)
        return 0;
    const struct hr_store_ops *o = ops(s->e);
    const char *v;
    size_t vl;
    uint64_t expect;
    bool bad = false;
    if (hr_hdr_get(hdr, hdr_len, "Nats-Expected-Stream", &v, &vl) &&
        (vl != strlen(s->cfg.name) || memcmp(v, s->cfg.name, vl) != 0))
        return hr_js_error(err, HR_JS_STREAM_NOT_MATCH);
    if (hr_hdr_get(hdr, hdr_len, "Nats-Expected-Last-Msg-Id", &v, &vl) && vl &&
        (!s->last_msg_id || strlen(s->last_msg_id) != vl || memcmp(s->last_msg_id, v, vl) != 0))
        return hr_js_error(err, HR_JS_WRONG_LAST_MSG_ID, s->last_msg_id ? s->last_msg_id : "");
    if (hdr_u64(hdr, hdr_len, "Nats-Expected-Last-Sequence", &expect, &bad)) {
        struct hr_stream_state st;
        o->state(s->st, &st);
        if (bad || expect != st.last_seq)
            return hr_js_error(err, HR_JS_WRONG_LAST_SEQ, (unsigned long long)st.last_seq);
    }
    if (hdr_u64(hdr, hdr_len, "Nats-Expected-Last-Subject-Sequence", &expect, &bad)) {
        struct hr_subject_state ss = {0};
        o->subject_state(s->st, subject, subject_len, &ss);
        if (bad || expect != ss.last_seq)
            return hr_js_error(err, HR_JS_WRONG_LAST_SEQ, (unsigned long long)ss.last_seq);
    }
    return 0;
}

bool hr_stream_is_duplicate(struct herald_stream *s, const char *id, size_t len, uint64_t *seq)
{
    dedupe_expire(s, hr_now_ns());
    struct hr_dedupe *d = hr_map_get(&s->dedupe, id, len);
    if (d && seq)
        *seq = d->seq;
    return d != NULL;
}

void hr_stream_note_stored(struct herald_stream *s, const char *msg_id, size_t id_len,
                           uint64_t seq, int64_t now)
{
    /* The last msg id is the last stored message's own, none when it had none (nats-server's
     * lmsgId): Nats-Expected-Last-Msg-Id compares with the stream's last message. */
    free(s->last_msg_id);
    s->last_msg_id = NULL;
    if (!msg_id || !id_len)
        return;
    dedupe_add(s, msg_id, id_len, seq, now);
    s->last_msg_id = strndup(msg_id, id_len);
}

void hr_stream_notify_stored(struct herald_stream *s, uint64_t seq, const char *subject, size_t len)
{
    bool interested = false;
    for (size_t i = 0; i < s->nconsumers; i++) {
        hr_consumer_on_stored(s->consumers[i], seq, subject, len);
        interested = interested || hr_consumer_filter_matches(s->consumers[i], subject, len);
    }
    /* Interest retention keeps a message only while some consumer wants it. */
    if (s->cfg.retention == HERALD_RETENTION_INTEREST && !interested)
        ops(s->e)->remove(s->st, seq);
}

int hr_stream_store_error(struct herald_stream *s, int rc, struct herald_error *err)
{
    if (rc == HERALD_ETOOBIG)
        return hr_js_error(err, HR_JS_MSG_TOO_BIG);
    if (rc == HERALD_ELIMIT)
        return hr_js_error(err, HR_JS_STORE_FAILED,
                           s->cfg.discard_new_per_subject ? "maximum messages per subject exceeded"
                           : s->cfg.max_msgs > 0          ? "maximum messages exceeded"
                                                          : "maximum bytes exceeded");
    return hr_js_error(err, HR_JS_STORE_FAILED, herald_strerror(rc));
}

static void capture(void *ctx, struct herald_sub *sub, const struct herald_msg *msg)
{
    struct herald_stream *s = ctx;
    struct herald_engine *e = s->e;
    struct herald_error err;
    const char *v, *msg_id = NULL;
    size_t vl, msg_id_len = 0;
    (void)sub;
    if (s->cfg.sealed) {
        hr_js_error(&err, HR_JS_SEALED);
        goto out_reject;
    }
    if (msg->hdr_len > 65536) {
        hr_js_error(&err, HR_JS_HEADER_TOO_BIG);
        goto out_reject;
    }
    if (msg->hdr_len && hr_hdr_get(msg->hdr, msg->hdr_len, "Nats-Batch-Id", &v, &vl)) {
        hr_stream_batch_msg(s, msg, v, vl);
        return;
    }
    if (msg->hdr_len && hr_hdr_get(msg->hdr, msg->hdr_len, "Nats-Msg-Id", &v, &vl) && vl) {
        uint64_t seq;
        msg_id = v;
        msg_id_len = vl;
        if (hr_stream_is_duplicate(s, v, vl, &seq)) {
            if (msg->reply_len) {
                char body[512];
                size_t n = format_puback(body, sizeof body, s, seq, true, NULL, 0, 0);
                hr_engine_reply(e, msg->reply, msg->reply_len, NULL, 0, body, n);
            }
            return;
        }
    }
    if (hr_stream_check_expected(s, msg->subject, msg->subject_len, msg->hdr, msg->hdr_len, &err))
        goto out_reject;
    int rollup = 0; /* 1 sub, 2 all */
    if (msg->hdr_len && hr_hdr_get(msg->hdr, msg->hdr_len, "Nats-Rollup", &v, &vl)) {
        if (!s->cfg.allow_rollup || s->cfg.deny_purge) {
            hr_js_error(&err, HR_JS_ROLLUP_FAILED, "rollup not permitted");
            goto out_reject;
        }
        if (vl == 3 && strncasecmp(v, "sub", 3) == 0)
            rollup = 1;
        else if (vl == 3 && strncasecmp(v, "all", 3) == 0)
            rollup = 2;
        else {
            hr_js_error(&err, HR_JS_ROLLUP_FAILED, "rollup value invalid");
            goto out_reject;
        }
    }
    int64_t now = hr_now_ns();
    uint64_t seq;
    int rc = ops(e)->append(s->st, msg->subject, msg->subject_len, msg->hdr, msg->hdr_len,
                            msg->data, msg->data_len, now, &seq);
    if (rc) {
        hr_stream_store_error(s, rc, &err);
        goto out_reject;
    }
    if (rollup) {
        uint64_t purged;
        ops(e)->purge(s->st, rollup == 1 ? msg->subject : NULL, rollup == 1 ? msg->subject_len : 0,
                      seq, 0, &purged);
    }
    hr_stream_note_stored(s, msg_id, msg_id_len, seq, now);
    hr_stream_notify_stored(s, seq, msg->subject, msg->subject_len);
    hr_stream_queue_ack(s, msg->reply, msg->reply_len, seq, NULL, 0, 0);
    return;
out_reject:
    hr_stream_reply_error(s, msg, &err);
}

static void capture_stop(struct herald_stream *s)
{
    for (size_t i = 0; i < s->ncapture; i++)
        herald_sub_destroy(s->capture[i]);
    free(s->capture);
    s->capture = NULL;
    s->ncapture = 0;
}

static int capture_start(struct herald_stream *s)
{
    s->capture = calloc(s->cfg.nsubjects, sizeof *s->capture);
    if (!s->capture)
        return HERALD_ENOMEM;
    struct herald_sub_options so = {.deliver = capture, .ctx = s};
    for (size_t i = 0; i < s->cfg.nsubjects; i++) {
        int rc = herald_sub_create(s->e, s->cfg.subjects[i], strlen(s->cfg.subjects[i]), NULL, 0,
                                   &so, &s->capture[i]);
        if (rc) {
            capture_stop(s);
            return rc;
        }
        s->ncapture++;
    }
    return 0;
}

/* ---- lifecycle -------------------------------------------------------------------- */

static void stream_free(struct herald_stream *s)
{
    capture_stop(s);
    hr_stream_batch_clear(s);
    dedupe_clear(s);
    free(s->last_msg_id);
    herald_stream_config_cleanup(&s->cfg);
    free(s);
}

static int write_meta(struct herald_stream *s)
{
    char *cfg = hr_stream_config_json(&s->cfg);
    if (!cfg)
        return HERALD_ENOMEM;
    char created[64];
    hr_format_time(created, sizeof created, s->created_ns);
    size_t n = strlen(cfg) + 128;
    char *meta = malloc(n);
    int rc = HERALD_ENOMEM;
    if (meta) {
        snprintf(meta, n, "{\"config\":%s,\"created_ns\":%" PRId64 "}", cfg, s->created_ns);
        rc = ops(s->e)->meta_write(s->st, meta, strlen(meta));
    }
    free(meta);
    free(cfg);
    return rc;
}

static int registry_insert(struct herald_engine *e, struct herald_stream *s)
{
    bool found;
    size_t i = find_index(e, s->cfg.name, &found);
    if (e->nstreams == e->streams_cap) {
        size_t cap = e->streams_cap ? e->streams_cap * 2 : 8;
        struct herald_stream **p = realloc(e->streams, cap * sizeof *p);
        if (!p)
            return HERALD_ENOMEM;
        e->streams = p;
        e->streams_cap = cap;
    }
    memmove(&e->streams[i + 1], &e->streams[i], (e->nstreams - i) * sizeof *e->streams);
    e->streams[i] = s;
    e->nstreams++;
    return 0;
}

static void registry_remove(struct herald_engine *e, struct herald_stream *s)
{
    bool found;
    size_t i = find_index(e, s->cfg.name, &found);
    if (found) {
        memmove(&e->streams[i], &e->streams[i + 1], (e->nstreams - i - 1) * sizeof *e->streams);
        e->nstreams--;
    }
}

/* Opens the store part (or takes `st`, already open) and starts capturing; `cfg` is taken
 * over on success. */
static int stream_open(struct herald_engine *e, struct herald_stream_config *cfg, int64_t created,
                       bool write_config, struct hr_stream_store *st, struct herald_error *err)
{
    struct herald_stream *s = calloc(1, sizeof *s);
    if (!s)
        return hr_js_error(err, HR_JS_STREAM_CREATE, "out of memory");
    s->e = e;
    s->cfg = *cfg;
    s->created_ns = created;
    hr_map_init(&s->dedupe);
    struct hr_stream_limits lim = limits_of(&s->cfg);
    int rc = 0;
    if (st) {
        s->st = st;
        rc = ops(e)->stream_set_limits(st, &lim);
        if (rc) {
            ops(e)->stream_close(st);
            s->st = NULL;
        }
    } else {
        rc = ops(e)->stream_open(e->store, s->cfg.name, s->cfg.storage == HERALD_STORAGE_MEMORY,
                                 &lim, &s->st);
    }
    if (rc) {
        hr_js_error(err, HR_JS_STREAM_CREATE, herald_strerror(rc));
        goto out_free;
    }
    if (write_config && (rc = write_meta(s)) != 0) {
        hr_js_error(err, HR_JS_STREAM_CREATE, herald_strerror(rc));
        goto out_remove;
    }
    if ((rc = capture_start(s)) != 0 || (rc = registry_insert(e, s)) != 0) {
        hr_js_error(err, HR_JS_STREAM_CREATE, herald_strerror(rc));
        goto out_remove;
    }
    memset(cfg, 0, sizeof *cfg);
    return 0;
out_remove:
    capture_stop(s);
    if (write_config)
        ops(e)->stream_remove(s->st);
    else
        ops(e)->stream_close(s->st);
out_free:
    memset(&s->cfg, 0, sizeof s->cfg); /* still the caller's */
    stream_free(s);
    return rc ? rc : HERALD_ESTORE;
}

int herald_stream_create(struct herald_engine *e, const struct herald_stream_config *in,
                         struct herald_error *err)
{
    if (!e->store)
        return hr_js_error(err, HR_JS_NOT_ENABLED);
    struct herald_stream_config cfg;
    if (config_copy(&cfg, in))
        return hr_js_error(err, HR_JS_STREAM_CREATE, "out of memory");
    int rc = config_check(e, &cfg, NULL, err);
    if (rc == 0) {
        struct herald_stream *existing = herald_stream_lookup(e, cfg.name);
        if (existing)
            rc = hr_stream_config_equal(&existing->cfg, &cfg) ? 0 : hr_js_error(err, HR_JS_STREAM_NAME_EXIST);
        else if (e->nstreams >= MAX_STREAMS)
            rc = hr_js_error(err, HR_JS_MAX_STREAMS);
        else
            rc = stream_open(e, &cfg, hr_now_ns(), true, NULL, err);
        if (rc == 0 && !existing)
            hr_info("stream %s created", in->name);
    }
    herald_stream_config_cleanup(&cfg);
    return rc;
}

int herald_stream_update(struct herald_engine *e, const struct herald_stream_config *in,
                         struct herald_error *err)
{
    if (!e->store)
        return hr_js_error(err, HR_JS_NOT_ENABLED);
    struct herald_stream *s = in->name ? herald_stream_lookup(e, in->name) : NULL;
    if (!s)
        return hr_js_error(err, HR_JS_STREAM_NOT_FOUND);
    struct herald_stream_config cfg;
    if (config_copy(&cfg, in))
        return hr_js_error(err, HR_JS_STREAM_UPDATE, "out of memory");
    int rc = config_check(e, &cfg, s, err);
    /* As nats-server's configUpdateCheck: these refusals are invalid configs (10052). */
    if (rc == 0 && cfg.storage != s->cfg.storage)
        rc = hr_js_error(err, HR_JS_STREAM_INVALID_CONFIG, "stream configuration update can not change storage type");
    if (rc == 0 && cfg.retention != s->cfg.retention)
        rc = hr_js_error(err, HR_JS_STREAM_INVALID_CONFIG, "stream configuration update can not change retention policy");
    if (rc == 0 && s->cfg.sealed && !cfg.sealed)
        rc = hr_js_error(err, HR_JS_STREAM_INVALID_CONFIG, "stream configuration update can not unseal a sealed stream");
    if (rc == 0 && s->cfg.deny_delete && !cfg.deny_delete)
        rc = hr_js_error(err, HR_JS_STREAM_INVALID_CONFIG, "stream configuration update can not cancel deny message deletes");
    if (rc == 0 && s->cfg.deny_purge && !cfg.deny_purge)
        rc = hr_js_error(err, HR_JS_STREAM_INVALID_CONFIG, "stream configuration update can not cancel deny purge");
    if (rc) {
        herald_stream_config_cleanup(&cfg);
        return rc;
    }
    struct herald_stream_config old = s->cfg;
    s->cfg = cfg;
    capture_stop(s);
    struct hr_stream_limits lim = limits_of(&s->cfg);
    if ((rc = capture_start(s)) != 0 || (rc = ops(e)->stream_set_limits(s->st, &lim)) != 0 ||
        (rc = write_meta(s)) != 0) {
        capture_stop(s);
        herald_stream_config_cleanup(&s->cfg);
        s->cfg = old;
        capture_start(s);
        return hr_js_error(err, HR_JS_STREAM_UPDATE, herald_strerror(rc));
    }
    herald_stream_config_cleanup(&old);
    hr_info("stream %s updated", s->cfg.name);
    return 0;
}

int herald_stream_delete(struct herald_engine *e, const char *name, struct herald_error *err)
{
    struct herald_stream *s = e->store ? herald_stream_lookup(e, name) : NULL;
    if (!s)
        return hr_js_error(err, HR_JS_STREAM_NOT_FOUND);
    registry_remove(e, s);
    capture_stop(s);
    hr_consumers_close(s, true);
    int rc = ops(e)->stream_remove(s->st);
    if (rc)
        hr_warn("stream %s: removing its files: %s", name, herald_strerror(rc));
    hr_info("stream %s deleted", name);
    stream_free(s);
    return 0;
}

/* ---- reads and removals ----------------------------------------------------------- */

void herald_stream_state(struct herald_stream *s, struct herald_stream_state *out)
{
    struct hr_stream_state st;
    ops(s->e)->state(s->st, &st);
    *out = (struct herald_stream_state){
        .msgs = st.msgs, .bytes = st.bytes, .first_seq = st.first_seq, .last_seq = st.last_seq,
        .first_ts_ns = st.first_ts_ns, .last_ts_ns = st.last_ts_ns,
        .num_subjects = st.num_subjects, .num_deleted = st.num_deleted,
        .consumer_count = s->nconsumers,
    };
}

void herald_stored_msg_free(struct herald_stored_msg *m)
{
    if (m && m->priv) {
        hr_store_msg_free(m->priv);
        free(m->priv);
        m->priv = NULL;
    }
}

int herald_stream_msg_get(struct herald_stream *s, uint64_t seq, const char *subject,
                          size_t subject_len, bool last, struct herald_stored_msg *out,
                          struct herald_error *err)
{
    struct hr_store_msg *m = calloc(1, sizeof *m);
    if (!m)
        return hr_js_error(err, HR_JS_STORE_FAILED, "out of memory");
    int rc;
    if (!subject)
        rc = ops(s->e)->get(s->st, seq, m);
    else if (last)
        rc = ops(s->e)->get_last(s->st, subject, subject_len, m);
    else
        rc = ops(s->e)->get_next(s->st, seq, subject, subject_len, m);
    if (rc) {
        free(m);
        if (rc == HERALD_ENOTFOUND)
            return hr_js_error(err, HR_JS_NO_MESSAGE);
        return hr_js_error(err, HR_JS_STORE_FAILED, herald_strerror(rc));
    }
    *out = (struct herald_stored_msg){
        .seq = m->seq, .ts_ns = m->ts_ns, .subject = m->subject, .subject_len = m->subject_len,
        .hdr = m->hdr, .hdr_len = m->hdr_len, .data = m->data, .data_len = m->data_len, .priv = m,
    };
    return 0;
}

int herald_stream_msg_delete(struct herald_stream *s, uint64_t seq, struct herald_error *err)
{
    if (s->cfg.sealed)
        return hr_js_error(err, HR_JS_SEALED);
    if (s->cfg.deny_delete)
        return hr_js_error(err, HR_JS_MSG_DELETE_FAILED, "message delete not permitted");
    int rc = ops(s->e)->remove(s->st, seq);
    if (rc == HERALD_ENOTFOUND)
        return hr_js_error(err, HR_JS_SEQ_NOT_FOUND, (unsigned long long)seq);
    if (rc)
        return hr_js_error(err, HR_JS_MSG_DELETE_FAILED, herald_strerror(rc));
    return 0;
}

int herald_stream_purge(struct herald_stream *s, const char *filter, uint64_t up_to,
                        uint64_t keep, uint64_t *purged, struct herald_error *err)
{
    *purged = 0;
    if (s->cfg.sealed)
        return hr_js_error(err, HR_JS_SEALED);
    if (s->cfg.deny_purge)
        return hr_js_error(err, HR_JS_PURGE_FAILED, "stream purge not permitted");
    if (up_to && keep)
        return hr_js_error(err, HR_JS_BAD_REQUEST);
    int rc = ops(s->e)->purge(s->st, filter, filter ? strlen(filter) : 0, up_to, keep, purged);
    if (rc)
        return hr_js_error(err, HR_JS_PURGE_FAILED, herald_strerror(rc));
    if (!filter && !keep && !up_to)
        dedupe_clear(s);
    return 0;
}

int herald_stream_subjects(struct herald_stream *s, const char *filter,
                           int (*cb)(void *arg, const char *subject, uint64_t msgs), void *arg)
{
    return ops(s->e)->subjects(s->st, filter, filter ? strlen(filter) : 0, cb, arg);
}

/* ---- start-up, timers, shutdown --------------------------------------------------- */

/* Rebuilds the duplicate window from the Nats-Msg-Id headers of the messages stored within
 * it, as nats-server does at start-up: a publisher retrying across a restart is answered
 * "duplicate" instead of storing a second copy. */
static int dedupe_rebuild_one(void *arg, uint64_t seq, int64_t ts_ns, const char *hdr,
                              size_t hdr_len)
{
    const char *v;
    size_t vl;
    if (hr_hdr_get(hdr, hdr_len, "Nats-Msg-Id", &v, &vl) && vl)
        dedupe_add(arg, v, vl, seq, ts_ns);
    return 0;
}

static void dedupe_rebuild(struct herald_stream *s)
{
    const struct hr_store_ops *o = ops(s->e);
    uint64_t seq = o->seq_for_time(s->st, hr_now_ns() - s->cfg.duplicate_window_ns);
    if (seq)
        o->scan_headers(s->st, seq, dedupe_rebuild_one, s);
}

static int restore_one(void *arg, const char *name)
{
    struct herald_engine *e = arg;
    struct hr_stream_limits lim = {0};
    struct hr_stream_store *st;
    int rc = ops(e)->stream_open(e->store, name, false, &lim, &st);
    if (rc) {
        hr_error("stream %s: cannot open: %s; skipped", name, herald_strerror(rc));
        return 0;
    }
    char *meta = NULL;
    size_t len = 0;
    rc = ops(e)->meta_read(st, &meta, &len);
    if (rc) {
        ops(e)->stream_close(st);
        hr_error("stream %s: no readable meta.json (%s); skipped", name, herald_strerror(rc));
        return 0;
    }
    json_error_t jerr;
    json_t *root = json_loadb(meta, len, 0, &jerr);
    free(meta);
    json_t *jcfg = json_object_get(root, "config");
    char *cfg_text = jcfg ? json_dumps(jcfg, JSON_COMPACT) : NULL;
    struct herald_stream_config cfg;
    struct herald_error err;
    herald_stream_config_init(&cfg);
    rc = cfg_text ? herald_stream_config_parse(cfg_text, strlen(cfg_text), &cfg, &err) : HERALD_ECORRUPT;
    int64_t created = (int64_t)json_integer_value(json_object_get(root, "created_ns"));
    free(cfg_text);
    json_decref(root);
    if (rc == 0)
        rc = stream_open(e, &cfg, created, false, st, &err); /* recovered once, here */
    else
        ops(e)->stream_close(st);
    if (rc == 0) {
        dedupe_rebuild(herald_stream_lookup(e, name));
        hr_consumers_restore(herald_stream_lookup(e, name));
    }
    if (rc)
        hr_error("stream %s: cannot restore: %s", name, rc == HERALD_ECORRUPT ? "bad meta.json" : err.description);
    herald_stream_config_cleanup(&cfg);
    return 0;
}

static void on_timer(uv_timer_t *t)
{
    struct herald_engine *e = t->data;
    int64_t now = hr_now_ns();
    for (size_t i = 0; i < e->nstreams; i++) {
        struct herald_stream *s = e->streams[i];
        if (s->cfg.max_age_ns > 0)
            ops(e)->expire(s->st, now);
        dedupe_expire(s, now);
        hr_stream_batch_expire(s, now);
        ops(e)->checkpoint(s->st, now, 60LL * 1000000000LL); /* bounds the next start-up scan */
    }
}

int hr_streams_init(struct herald_engine *e)
{
    if (!e->opts.loop || !e->store_dir)
        return 0;
    struct hr_log_store_options lo = {
        .dir = e->store_dir,
        .sync = e->opts.sync == HERALD_SYNC_NEVER ? HR_SYNC_NEVER
                : e->opts.sync == HERALD_SYNC_INTERVAL ? HR_SYNC_INTERVAL : HR_SYNC_ALWAYS,
        .sync_interval_ms = e->opts.sync_interval_ms,
        .segment_bytes = e->opts.segment_bytes,
        .io = e->opts.store_io,
        .checkpoints = true,
        .loop = e->opts.loop,
    };
    int rc = hr_log_store_create(&lo, &e->store);
    if (rc)
        return rc;
    rc = ops(e)->stream_list(e->store, restore_one, e);
    if (rc)
        return rc;
    hr_consumers_finish_restore(e);
    if ((rc = hr_acks_start(e)) != 0)
        return rc;
    uv_timer_init(e->opts.loop, &e->timer);
    e->timer.data = e;
    uv_timer_start(&e->timer, on_timer, 1000, 1000);
    uv_unref((uv_handle_t *)&e->timer);
    e->timer_started = true;
    e->pump_idle = malloc(sizeof *e->pump_idle);
    if (e->pump_idle) {
        uv_idle_init(e->opts.loop, e->pump_idle);
        uv_unref((uv_handle_t *)e->pump_idle);
    }
    return hr_jsapi_start(e);
}

static void free_idle(uv_handle_t *h)
{
    free(h);
}

void hr_streams_cleanup(struct herald_engine *e)
{
    e->destroying = true;
    if (e->pump_idle) {
        uv_close((uv_handle_t *)e->pump_idle, free_idle);
        e->pump_idle = NULL;
    }
    if (e->timer_started)
        uv_close((uv_handle_t *)&e->timer, hr_engine_free_on_close); /* frees the engine */
    hr_jsapi_stop(e);
    hr_acks_stop(e);
    while (e->nstreams) {
        struct herald_stream *s = e->streams[--e->nstreams];
        capture_stop(s);
        hr_consumers_close(s, false);
        ops(e)->stream_close(s->st);
        stream_free(s);
    }
    free(e->streams);
    free(e->push);
    e->push = NULL;
    e->npush = e->push_cap = 0;
    e->streams = NULL;
    if (e->store)
        ops(e)->destroy(e->store); /* final sync; runs the waiting commit callbacks */
    e->store = NULL;
    while (e->acks_head) {
        struct hr_pending_ack *a = e->acks_head;
        e->acks_head = a->next;
        free(a);
    }
}

int herald_engine_store_stats(struct herald_engine *e, struct herald_store_stats *out)
{
    if (!e->store)
        return HERALD_ENOTFOUND;
    ops(e)->sync_stats(e->store, out);
    return 0;
}
