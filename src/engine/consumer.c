/* SPDX-License-Identifier: Apache-2.0
 *
 * Consumers: configuration checks, creation (with the deliver policy's starting point),
 * update, deletion, the per-stream registry, persistence of state (U4) and restoring it
 * at start-up. The pump lives in consumer_deliver.c, acks in consumer_ack.c.
 *
 * The state log of a consumer (store: consumer_* ops) holds, in order:
 *   'S' JSON snapshot   {"config":{…},"created_ns":N,"state":{…}} — always the first record
 *   'D' delivery        sseq u64, dseq u64, dc u32, ts i64
 *   'A' ack             sseq u64
 *   'L' ack all ≤       sseq u64
 *   'T' settled         sseq u64 (max deliveries or +TERM, no dead letter)
 *   'Q' dead-lettered   sseq u64, hint u64, then the target stream name (see consumer_ack.c)
 * A new snapshot replaces the log every HR_SNAPSHOT_RECORDS records (K2).
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/log.h"
#include "common/subject.h"
#include "engine/consumer_internal.h"
#include "engine/jserr.h"

#define HR_SNAPSHOT_RECORDS 50000
#define DEFAULT_ACK_WAIT_NS (30LL * 1000000000LL)
#define DEFAULT_INACTIVE_NS (5LL * 1000000000LL)
#define MAX_CONSUMERS_PER_STREAM 10000

static const struct hr_store_ops *ops(const struct hr_consumer *c)
{
    return c->stream->e->store->ops;
}

/* ---- sorted u64 sets ---------------------------------------------------------------- */

static size_t lower(const struct hr_u64set *s, uint64_t v)
{
    size_t lo = 0, hi = s->len;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->v[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

bool hr_u64set_has(const struct hr_u64set *s, uint64_t v)
{
    size_t i = lower(s, v);
    return i < s->len && s->v[i] == v;
}

int hr_u64set_add(struct hr_u64set *s, uint64_t v)
{
    size_t i = lower(s, v);
    if (i < s->len && s->v[i] == v)
        return 0;
    if (i < s->len / 2 && s->v > s->base) { /* room in front: move the shorter side */
        memmove(s->v - 1, s->v, i * sizeof *s->v);
        s->v--;
        s->v[i] = v;
        s->len++;
        return 0;
    }
    if (s->v + s->len == s->base + s->cap) {
        size_t front = (size_t)(s->v - s->base);
        if (front > s->len / 4) { /* enough slack in front: slide down instead of growing */
            memmove(s->base, s->v, s->len * sizeof *s->v);
        } else {
            size_t cap = s->cap ? s->cap * 2 : 16;
            uint64_t *p = malloc(cap * sizeof *p);
            if (!p)
                return HERALD_ENOMEM;
            if (s->len)
                memcpy(p, s->v, s->len * sizeof *p);
            free(s->base);
            s->base = p;
            s->cap = cap;
        }
        s->v = s->base;
    }
    memmove(s->v + i + 1, s->v + i, (s->len - i) * sizeof *s->v);
    s->v[i] = v;
    s->len++;
    return 0;
}

bool hr_u64set_del(struct hr_u64set *s, uint64_t v)
{
    size_t i = lower(s, v);
    if (i >= s->len || s->v[i] != v)
        return false;
    if (i < s->len / 2) {
        memmove(s->v + 1, s->v, i * sizeof *s->v);
        s->v++;
    } else {
        memmove(s->v + i, s->v + i + 1, (s->len - i - 1) * sizeof *s->v);
    }
    s->len--;
    return true;
}

void hr_u64set_free(struct hr_u64set *s)
{
    free(s->base);
    *s = (struct hr_u64set){0};
}

static void u64set_drop_upto(struct hr_u64set *s, uint64_t v)
{
    size_t i = lower(s, v + 1);
    s->v += i;
    s->len -= i;
}

/* ---- config ------------------------------------------------------------------------- */

void herald_consumer_config_init(struct herald_consumer_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->ack_policy = HERALD_ACK_NONE; /* nats-server: an empty config acks nothing */
    cfg->max_deliver = -1;
}

void herald_consumer_config_cleanup(struct herald_consumer_config *cfg)
{
    free(cfg->name);
    free(cfg->description);
    free(cfg->filter_subject);
    free(cfg->deliver_subject);
    free(cfg->deliver_group);
    free(cfg->opt_start_time);
    free(cfg->sample_freq);
    free(cfg->dead_letter_subject);
    free(cfg->ordering_key);
    memset(cfg, 0, sizeof *cfg);
}

static bool valid_name(const char *n)
{
    size_t len = strlen(n);
    return len > 0 && len <= HERALD_NAME_MAX && !strpbrk(n, " \t\r\n.*>/\\");
}

bool hr_consumer_filter_matches(const struct hr_consumer *c, const char *subject, size_t len)
{
    const char *f = c->cfg.filter_subject;
    return !f || !*f || hr_subject_matches(f, strlen(f), subject, len);
}

static bool stream_covers(const struct herald_stream *s, const char *filter)
{
    for (size_t i = 0; i < s->cfg.nsubjects; i++)
        if (hr_subject_overlaps(s->cfg.subjects[i], strlen(s->cfg.subjects[i]), filter, strlen(filter)))
            return true;
    return false;
}

static int check_ordering_key(const char *k)
{
    if (strncmp(k, "header:", 7) == 0 && k[7])
        return 0;
    if (strncmp(k, "token:", 6) == 0) {
        char *end;
        long t = strtol(k + 6, &end, 10);
        if (*end == '\0' && t >= 1 && t <= 64)
            return 0;
    }
    return -1;
}

static bool deliver_forms_cycle(const struct herald_stream *s, const char *ds)
{
    for (size_t i = 0; i < s->cfg.nsubjects; i++)
        if (hr_subject_matches(s->cfg.subjects[i], strlen(s->cfg.subjects[i]), ds, strlen(ds)))
            return true;
    return false;
}

static bool valid_sample_freq(const char *f)
{
    char *end;
    long v = strtol(f, &end, 10);
    return end != f && v >= 0 && (*end == '\0' || (end[0] == '%' && end[1] == '\0'));
}

/* Fills in nats-server 2.9.10's defaults (setConsumerConfigDefaults) and validates `c` for
 * stream `s` as its checkConsumerCfg does, in the same order; then Herald's own fields. */
static int config_check(struct herald_stream *s, struct herald_consumer_config *c,
                        struct herald_error *err)
{
    bool push = c->deliver_subject != NULL;
    if (!push && c->max_waiting == 0)
        c->max_waiting = 512;
    if (c->ack_policy != HERALD_ACK_NONE && c->ack_wait_ns == 0)
        c->ack_wait_ns = DEFAULT_ACK_WAIT_NS;
    if (c->max_deliver == 0)
        c->max_deliver = -1;
    if (c->nbackoff)
        c->ack_wait_ns = c->backoff_ns[0];
    if (c->ack_policy != HERALD_ACK_NONE && c->max_ack_pending == 0)
        c->max_ack_pending = 1000;
    if (!c->durable && c->inactive_threshold_ns == 0)
        c->inactive_threshold_ns = DEFAULT_INACTIVE_NS;

    if (c->name && !valid_name(c->name))
        return hr_js_error(err, HR_JS_CONSUMER_BAD_NAME);
    if (c->replicas < 0)
        return hr_js_error(err, HR_JS_REPLICAS_NEGATIVE);
    if (c->replicas > 1)
        return hr_js_error(err, HR_JS_STREAM_REPLICAS);
    if (c->nbackoff && c->max_deliver <= (int64_t)c->nbackoff)
        return hr_js_error(err, HR_JS_CONSUMER_MAX_DELIVER_BACKOFF);
    for (size_t i = 0; i < c->nbackoff; i++)
        if (c->backoff_ns[i] <= 0)
            return hr_js_error(err, HR_JS_CONSUMER_BACKOFF_NEGATIVE);
    if (push) {
        const char *ds = c->deliver_subject;
        if (!hr_subject_valid_filter(ds, strlen(ds)))
            return hr_js_error(err, HR_JS_CONSUMER_INVALID_DELIVER_SUBJECT);
        if (!hr_subject_valid_literal(ds, strlen(ds)))
            return hr_js_error(err, HR_JS_CONSUMER_DELIVER_WILDCARDS);
        if (deliver_forms_cycle(s, ds))
            return hr_js_error(err, HR_JS_CONSUMER_DELIVER_CYCLE);
        if (c->max_waiting != 0)
            return hr_js_error(err, HR_JS_CONSUMER_PUSH_MAX_WAITING);
        if (c->max_ack_pending > 0 && c->ack_policy == HERALD_ACK_NONE)
            return hr_js_error(err, HR_JS_CONSUMER_MAX_PENDING_ACK_POLICY);
        if (c->idle_heartbeat_ns > 0 && c->idle_heartbeat_ns < 100000000LL)
            return hr_js_error(err, HR_JS_CONSUMER_SMALL_HB);
    } else {
        if (c->ack_policy == HERALD_ACK_NONE && s->cfg.retention == HERALD_RETENTION_WORKQUEUE)
            return hr_js_error(err, HR_JS_CONSUMER_PULL_REQUIRES_ACK);
        if (c->rate_limit_bps > 0)
            return hr_js_error(err, HR_JS_CONSUMER_PULL_RATE_LIMIT);
        if (c->max_waiting < 0)
            return hr_js_error(err, HR_JS_CONSUMER_MAX_WAITING_NEGATIVE);
        if (c->idle_heartbeat_ns > 0)
            return hr_js_error(err, HR_JS_CONSUMER_HB_REQUIRES_PUSH);
        if (c->flow_control)
            return hr_js_error(err, HR_JS_CONSUMER_FC_REQUIRES_PUSH);
        if (c->max_batch < 0)
            return hr_js_error(err, HR_JS_CONSUMER_MAX_BATCH_NEGATIVE);
        if (c->max_expires_ns != 0 && c->max_expires_ns < 1000000LL)
            return hr_js_error(err, HR_JS_CONSUMER_MAX_EXPIRES_TOO_SMALL);
    }
    if (c->filter_subject) {
        if (!hr_subject_valid_filter(c->filter_subject, strlen(c->filter_subject)) ||
            !stream_covers(s, c->filter_subject))
            return hr_js_error(err, HR_JS_CONSUMER_FILTER_NOT_SUBSET);
    }
    static const char *const dp_names[] = {"all", "last", "new", "by start sequence", "by start time",
                                           "last per subject"};
    const char *dp = dp_names[c->deliver_policy];
    switch (c->deliver_policy) {
    case HERALD_DELIVER_BY_START_SEQUENCE:
        if (c->opt_start_seq == 0)
            return hr_js_error(err, HR_JS_CONSUMER_INVALID_POLICY, "consumer delivery policy is deliver by start sequence, but optional start sequence is not set");
        if (c->opt_start_time_ns)
            return hr_js_error(err, HR_JS_CONSUMER_INVALID_POLICY, "consumer delivery policy is deliver by start sequence, but optional start time is also set");
        break;
    case HERALD_DELIVER_BY_START_TIME:
        if (c->opt_start_time_ns == 0)
            return hr_js_error(err, HR_JS_CONSUMER_INVALID_POLICY, "consumer delivery policy is deliver by start time, but optional start time is not set");
        if (c->opt_start_seq)
            return hr_js_error(err, HR_JS_CONSUMER_INVALID_POLICY, "consumer delivery policy is deliver by start time, but optional start sequence is also set");
        break;
    default:
        if (c->opt_start_seq)
            return hr_js_error(err, HR_JS_CONSUMER_INVALID_POLICY_START, dp, "sequence");
        if (c->opt_start_time_ns)
            return hr_js_error(err, HR_JS_CONSUMER_INVALID_POLICY_START, dp, "time");
        if (c->deliver_policy == HERALD_DELIVER_LAST_PER_SUBJECT && !c->filter_subject)
            return hr_js_error(err, HR_JS_CONSUMER_INVALID_POLICY, "consumer delivery policy is deliver last per subject, but optional filter subject is not set");
        break;
    }
    if (c->sample_freq && !valid_sample_freq(c->sample_freq))
        return hr_js_error(err, HR_JS_CONSUMER_INVALID_SAMPLING, c->sample_freq);
    if (c->flow_control && c->idle_heartbeat_ns <= 0)
        return hr_js_error(err, HR_JS_CONSUMER_FC_NEEDS_HB);
    /* Herald's own checks. */
    if (c->ack_wait_ns < 0)
        return hr_js_error(err, HR_JS_CONSUMER_ACK_WAIT_NEGATIVE);
    if (c->ack_policy == HERALD_ACK_NONE && c->max_ack_pending < 0)
        c->max_ack_pending = 0;
    if (c->max_ack_pending < -1)
        c->max_ack_pending = -1;
    if (c->ordering_key && check_ordering_key(c->ordering_key))
        return hr_js_error(err, HR_JS_CONSUMER_CREATE, "ordering_key must be \"header:<Name>\" or \"token:<n>\"");
    if (c->dead_letter_subject &&
        !hr_subject_valid_literal(c->dead_letter_subject, strlen(c->dead_letter_subject)))
        return hr_js_error(err, HR_JS_CONSUMER_CREATE, "dead_letter_subject must be a literal subject");
    if (c->dead_letter_subject && stream_covers(s, c->dead_letter_subject) &&
        (!c->filter_subject || hr_subject_matches(c->filter_subject, strlen(c->filter_subject),
                                                  c->dead_letter_subject, strlen(c->dead_letter_subject))))
        return hr_js_error(err, HR_JS_CONSUMER_CREATE, "dead_letter_subject would be delivered to the consumer itself");
    return 0;
}

/* What a new consumer must also satisfy (nats-server checks these after the update case):
 * the stream's consumer limit and the workqueue rules. */
static int create_check(struct herald_stream *s, const struct herald_consumer_config *c,
                        struct herald_error *err)
{
    if (s->nconsumers >= MAX_CONSUMERS_PER_STREAM ||
        (s->cfg.max_consumers > 0 && s->nconsumers >= (size_t)s->cfg.max_consumers))
        return hr_js_error(err, HR_JS_MAX_CONSUMERS);
    if (s->cfg.retention != HERALD_RETENTION_WORKQUEUE)
        return 0;
    if (c->ack_policy != HERALD_ACK_EXPLICIT)
        return hr_js_error(err, HR_JS_CONSUMER_WQ_EXPLICIT_ACK);
    const char *f2 = c->filter_subject;
    for (size_t i = 0; i < s->nconsumers; i++) {
        const char *f1 = s->consumers[i]->cfg.filter_subject;
        if (!f2)
            return hr_js_error(err, HR_JS_CONSUMER_WQ_MULTIPLE_UNFILTERED);
        if (!f1 || hr_subject_overlaps(f1, strlen(f1), f2, strlen(f2)))
            return hr_js_error(err, HR_JS_CONSUMER_WQ_NOT_UNIQUE);
    }
    if (c->deliver_policy != HERALD_DELIVER_ALL)
        return hr_js_error(err, HR_JS_CONSUMER_WQ_DELIVER_ALL);
    return 0;
}

/* nats-server 2.9.10's checkNewConsumerConfig: which differences an existing consumer
 * refuses (500/10012 "<field> can not be updated"); NULL when the update is allowed. */
static const char *update_refusal(const struct herald_consumer_config *a, const struct herald_consumer_config *b)
{
    if (a->deliver_policy != b->deliver_policy)
        return "deliver policy can not be updated";
    if (a->opt_start_seq != b->opt_start_seq)
        return "start sequence can not be updated";
    if (a->opt_start_time_ns != b->opt_start_time_ns)
        return "start time can not be updated";
    if (a->ack_policy != b->ack_policy)
        return "ack policy can not be updated";
    if (a->replay_policy != b->replay_policy)
        return "replay policy can not be updated";
    if (a->idle_heartbeat_ns != b->idle_heartbeat_ns)
        return "heart beats can not be updated";
    if (a->flow_control != b->flow_control)
        return "flow control can not be updated";
    if (a->max_waiting != b->max_waiting)
        return "max waiting can not be updated";
    if ((a->deliver_subject == NULL) != (b->deliver_subject == NULL))
        return a->deliver_subject ? "can not update push consumer to pull based"
                                  : "can not update pull consumer to push based";
    /* Herald: the key of an in-flight message must not change under U3. */
    if ((a->ordering_key == NULL) != (b->ordering_key == NULL) ||
        (a->ordering_key && strcmp(a->ordering_key, b->ordering_key) != 0))
        return "ordering key can not be updated";
    return NULL;
}

/* ---- registry ----------------------------------------------------------------------- */

static size_t find_index(const struct herald_stream *s, const char *name, bool *found)
{
    size_t lo = 0, hi = s->nconsumers;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int cmp = strcmp(s->consumers[mid]->cfg.name, name);
        if (cmp == 0) {
            *found = true;
            return mid;
        }
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

struct hr_consumer *hr_consumer_lookup(struct herald_stream *s, const char *name)
{
    bool found;
    size_t i = find_index(s, name, &found);
    return found ? s->consumers[i] : NULL;
}

static int registry_insert(struct herald_stream *s, struct hr_consumer *c)
{
    struct herald_engine *e = s->e;
    if (c->cfg.deliver_subject && e->npush == e->push_cap) { /* woken by interest changes */
        size_t cap = e->push_cap ? e->push_cap * 2 : 8;
        struct hr_consumer **p = realloc(e->push, cap * sizeof *p);
        if (!p)
            return HERALD_ENOMEM;
        e->push = p;
        e->push_cap = cap;
    }
    bool found;
    size_t i = find_index(s, c->cfg.name, &found);
    if (s->nconsumers == s->consumers_cap) {
        size_t cap = s->consumers_cap ? s->consumers_cap * 2 : 4;
        struct hr_consumer **p = realloc(s->consumers, cap * sizeof *p);
        if (!p)
            return HERALD_ENOMEM;
        s->consumers = p;
        s->consumers_cap = cap;
    }
    memmove(&s->consumers[i + 1], &s->consumers[i], (s->nconsumers - i) * sizeof *s->consumers);
    s->consumers[i] = c;
    s->nconsumers++;
    if (c->cfg.deliver_subject)
        e->push[e->npush++] = c;
    return 0;
}

static void registry_remove(struct herald_stream *s, struct hr_consumer *c)
{
    struct herald_engine *e = s->e;
    for (size_t k = 0; k < e->npush; k++)
        if (e->push[k] == c) {
            e->push[k] = e->push[--e->npush];
            break;
        }
    bool found;
    size_t i = find_index(s, c->cfg.name, &found);
    if (found) {
        memmove(&s->consumers[i], &s->consumers[i + 1], (s->nconsumers - i - 1) * sizeof *s->consumers);
        s->nconsumers--;
    }
}

/* ---- scheduling ----------------------------------------------------------------------- */

static void on_pump_idle(uv_idle_t *h)
{
    (void)h; /* only there to keep poll from blocking; the pump stops it */
}

void hr_consumer_mark_dirty(struct hr_consumer *c)
{
    if (c->dirty || c->deleted)
        return;
    c->dirty = true;
    struct herald_engine *e = c->stream->e;
    c->dirty_next = e->dirty_consumers;
    e->dirty_consumers = c;
    /* The pump runs in the loop's check phase, after poll. A consumer dirtied outside an I/O
     * callback (its timer: redelivery, backoff, NAK delay, expiry, heartbeat) or left dirty
     * by the pump's last pass must not wait for unrelated I/O or the 1 s tick: an active
     * idle handle makes poll return at once. */
    if (e->pump_idle)
        uv_idle_start(e->pump_idle, on_pump_idle);
}

static void on_timer(uv_timer_t *t)
{
    struct hr_consumer *c = t->data;
    c->timer_due_ns = 0;
    hr_consumer_mark_dirty(c);
}

void hr_consumer_schedule(struct hr_consumer *c, int64_t due_ns)
{
    if (!c->timer_init || due_ns <= 0 || (c->timer_due_ns && c->timer_due_ns <= due_ns))
        return;
    int64_t now = hr_now_ns();
    uint64_t ms = due_ns > now ? (uint64_t)((due_ns - now + 999999) / 1000000) : 0;
    c->timer_due_ns = due_ns;
    uv_timer_start(&c->timer, on_timer, ms, 0);
}

/* ---- persistence ---------------------------------------------------------------------- */

static json_t *state_json(const struct hr_consumer *c)
{
    json_t *pending = json_array(), *acked = json_array();
    for (size_t i = 0; pending && i < c->pending_seqs.len; i++) {
        const struct hr_pending *p = hr_map_get(&c->pending, (const char *)&c->pending_seqs.v[i], 8);
        if (p)
            json_array_append_new(pending, json_pack("[I,I,i,I]", (json_int_t)p->sseq,
                                                     (json_int_t)p->dseq, (int)p->dc, (json_int_t)p->ts_ns));
    }
    for (size_t i = 0; acked && i < c->acked.len; i++)
        json_array_append_new(acked, json_integer((json_int_t)c->acked.v[i]));
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o}", "sseq_next", (json_int_t)c->sseq_next,
                     "dseq", (json_int_t)c->dseq, "delivered_sseq", (json_int_t)c->delivered_sseq,
                     "floor_sseq", (json_int_t)c->floor_sseq, "floor_dseq", (json_int_t)c->floor_dseq,
                     "num_redelivered", (json_int_t)c->num_redelivered, "pending", pending, "acked", acked);
}

static int write_snapshot(struct hr_consumer *c)
{
    json_t *o = json_pack("{s:o, s:I, s:o}", "config", hr_consumer_config_json(&c->cfg),
                          "created_ns", (json_int_t)c->created_ns, "state", state_json(c));
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!text)
        return HERALD_ENOMEM;
    size_t len = strlen(text);
    char *rec = malloc(len + 1);
    int rc = HERALD_ENOMEM;
    if (rec) {
        rec[0] = 'S';
        memcpy(rec + 1, text, len);
        rc = ops(c)->consumer_rewrite(c->log, rec, len + 1);
        c->log_records = 0;
    }
    free(rec);
    free(text);
    return rc;
}

int hr_consumer_log_write(struct hr_consumer *c, const void *rec, size_t len)
{
    if (!c->log)
        return 0;
    if (++c->log_records >= HR_SNAPSHOT_RECORDS)
        return write_snapshot(c); /* the snapshot already holds what `rec` says */
    return ops(c)->consumer_append(c->log, rec, len);
}

static uint64_t get_u64(const char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

struct hr_pending *hr_consumer_pending_add(struct hr_consumer *c, uint64_t sseq)
{
    struct hr_pending *p = hr_map_get(&c->pending, (const char *)&sseq, 8);
    if (p)
        return p;
    p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->sseq = sseq;
    p->heap_idx = SIZE_MAX;
    if (hr_map_put(&c->pending, (const char *)&p->sseq, 8, p) || hr_u64set_add(&c->pending_seqs, sseq)) {
        hr_map_del(&c->pending, (const char *)&p->sseq, 8);
        free(p);
        return NULL;
    }
    return p;
}

static void pending_forget(struct hr_consumer *c, uint64_t sseq)
{
    struct hr_pending *p = hr_map_get(&c->pending, (const char *)&sseq, 8);
    if (p)
        hr_consumer_pending_free(c, p);
}

struct replay_ctx {
    struct hr_consumer *c;
    json_t *snapshot; /* the last 'S' record, for the config */
};

static int replay_record(void *arg, const char *rec, size_t len)
{
    struct replay_ctx *ctx = arg;
    struct hr_consumer *c = ctx->c;
    if (len < 1)
        return 0;
    char kind = rec[0];
    if (kind != 'S' && len < 9)
        return 0; /* unknown or short: ignore rather than refuse to start */
    uint64_t sseq = kind == 'S' ? 0 : get_u64(rec + 1);
    switch (kind) {
    case 'S': {
        json_error_t jerr;
        json_t *o = json_loadb(rec + 1, len - 1, 0, &jerr);
        json_t *st = json_object_get(o, "state");
        c->sseq_next = (uint64_t)json_integer_value(json_object_get(st, "sseq_next"));
        c->dseq = (uint64_t)json_integer_value(json_object_get(st, "dseq"));
        c->delivered_sseq = (uint64_t)json_integer_value(json_object_get(st, "delivered_sseq"));
        c->floor_sseq = (uint64_t)json_integer_value(json_object_get(st, "floor_sseq"));
        c->floor_dseq = (uint64_t)json_integer_value(json_object_get(st, "floor_dseq"));
        c->num_redelivered = (uint64_t)json_integer_value(json_object_get(st, "num_redelivered"));
        json_decref(ctx->snapshot);
        ctx->snapshot = json_incref(o);
        free(c->dlq_checks); /* a snapshot follows every earlier settlement */
        c->dlq_checks = NULL;
        c->ndlq_checks = 0;
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(st, "pending"), i, v) {
            struct hr_pending *p = hr_consumer_pending_add(c, (uint64_t)json_integer_value(json_array_get(v, 0)));
            if (p) {
                p->dseq = (uint64_t)json_integer_value(json_array_get(v, 1));
                p->dc = (uint32_t)json_integer_value(json_array_get(v, 2));
                p->ts_ns = (int64_t)json_integer_value(json_array_get(v, 3));
            }
        }
        json_array_foreach(json_object_get(st, "acked"), i, v)
            hr_u64set_add(&c->acked, (uint64_t)json_integer_value(v));
        json_decref(o);
        break;
    }
    case 'D':
        if (len >= 29) {
            struct hr_pending *p = hr_consumer_pending_add(c, sseq);
            if (p) {
                p->dseq = get_u64(rec + 9);
                uint32_t dc;
                memcpy(&dc, rec + 17, 4);
                p->dc = dc;
                memcpy(&p->ts_ns, rec + 21, 8);
                if (p->dseq > c->dseq)
                    c->dseq = p->dseq;
                if (sseq > c->delivered_sseq)
                    c->delivered_sseq = sseq;
                if (sseq >= c->sseq_next)
                    c->sseq_next = sseq + 1;
            }
        }
        break;
    case 'Q':
        if (len >= 18) {
            struct hr_dlq_check *d = realloc(c->dlq_checks, (c->ndlq_checks + 1) * sizeof *d);
            if (d) {
                c->dlq_checks = d;
                d += c->ndlq_checks++;
                d->sseq = sseq;
                d->hint = get_u64(rec + 9);
                d->max_deliveries = rec[17] == 'm';
                size_t nl = len - 18 > HERALD_NAME_MAX ? HERALD_NAME_MAX : len - 18;
                memcpy(d->target, rec + 18, nl);
                d->target[nl] = '\0';
            }
        }
        /* fall through */
    case 'A':
    case 'T':
        pending_forget(c, sseq);
        if (sseq > c->floor_sseq)
            hr_u64set_add(&c->acked, sseq);
        break;
    case 'L':
        for (size_t i = 0; i < c->pending_seqs.len;) {
            uint64_t s = c->pending_seqs.v[i];
            if (s > sseq)
                break;
            pending_forget(c, s);
            if (s > c->floor_sseq)
                hr_u64set_add(&c->acked, s);
        }
        break;
    default:
        break;
    }
    return 0;
}

/* ---- lifecycle ------------------------------------------------------------------------ */

static void consumer_free(struct hr_consumer *c)
{
    for (size_t i = 0; i < c->pending.cap; i++)
        if (c->pending.slots[i].hash)
            free(c->pending.slots[i].val);
    hr_map_cleanup(&c->pending);
    hr_map_cleanup(&c->keys);
    hr_u64set_free(&c->pending_seqs);
    hr_u64set_free(&c->acked);
    free(c->heap);
    free(c->held);
    free(c->dlq_checks);
    while (c->waiting) {
        struct hr_pull_req *r = c->waiting;
        c->waiting = r->next;
        free(r);
    }
    herald_consumer_config_cleanup(&c->cfg);
    free(c);
}

static void on_timer_closed(uv_handle_t *h)
{
    consumer_free(h->data);
}

/* Unlinks and frees `c` (its log already closed or removed). */
static void consumer_destroy(struct hr_consumer *c)
{
    c->deleted = true;
    registry_remove(c->stream, c);
    struct herald_engine *e = c->stream->e;
    for (struct hr_consumer **pp = &e->dirty_consumers; *pp; pp = &(*pp)->dirty_next)
        if (*pp == c) {
            *pp = c->dirty_next;
            break;
        }
    if (c->timer_init) {
        uv_timer_stop(&c->timer);
        uv_close((uv_handle_t *)&c->timer, on_timer_closed);
    } else {
        consumer_free(c);
    }
}

struct last_ctx {
    struct hr_consumer *c;
    struct hr_u64set *lasts;
};

static int collect_last(void *arg, const char *subject, uint64_t msgs)
{
    struct last_ctx *lc = arg;
    struct hr_subject_state ss;
    (void)msgs;
    if (lc->c->stream->e->store->ops->subject_state(lc->c->stream->st, subject, strlen(subject), &ss))
        hr_u64set_add(lc->lasts, ss.last_seq);
    return 0;
}

/* The first sequence to deliver under the deliver policy. */
static void set_start(struct hr_consumer *c)
{
    struct herald_stream_state st;
    herald_stream_state(c->stream, &st);
    const char *f = c->cfg.filter_subject && *c->cfg.filter_subject ? c->cfg.filter_subject : NULL;
    struct herald_stored_msg m;
    switch (c->cfg.deliver_policy) {
    case HERALD_DELIVER_ALL:
        c->sseq_next = st.first_seq;
        break;
    case HERALD_DELIVER_LAST_PER_SUBJECT: {
        /* The last message of every matching subject, in stream order, then new ones. */
        struct hr_u64set lasts = {0};
        struct last_ctx lc = {c, &lasts};
        herald_stream_subjects(c->stream, f, collect_last, &lc);
        for (size_t i = 0; i < lasts.len; i++) {
            if (c->nheld == c->held_cap) {
                size_t cap = c->held_cap ? c->held_cap * 2 : 64;
                struct hr_held *h = realloc(c->held, cap * sizeof *h);
                if (!h)
                    break;
                c->held = h;
                c->held_cap = cap;
            }
            c->held[c->nheld++] = (struct hr_held){lasts.v[i], 0};
        }
        hr_u64set_free(&lasts);
        c->sseq_next = st.last_seq + 1;
        break;
    }
    case HERALD_DELIVER_LAST:
        c->sseq_next = st.last_seq + 1;
        if (herald_stream_msg_get(c->stream, 0, f ? f : ">", f ? strlen(f) : 1, true, &m, NULL) == 0) {
            c->sseq_next = m.seq;
            herald_stored_msg_free(&m);
        }
        break;
    case HERALD_DELIVER_NEW:
        c->sseq_next = st.last_seq + 1;
        break;
    case HERALD_DELIVER_BY_START_SEQUENCE:
        /* beyond the end: clamped to what comes next (delivered.stream_seq = last) */
        c->sseq_next = c->cfg.opt_start_seq > st.last_seq + 1 ? st.last_seq + 1 : c->cfg.opt_start_seq;
        break;
    case HERALD_DELIVER_BY_START_TIME: {
        uint64_t seq = ops(c)->seq_for_time(c->stream->st, c->cfg.opt_start_time_ns);
        c->sseq_next = seq ? seq : st.last_seq + 1;
        break;
    }
    }
    if (c->sseq_next == 0)
        c->sseq_next = 1;
    c->floor_sseq = (c->nheld ? c->held[0].sseq : c->sseq_next) - 1;
    c->delivered_sseq = c->shown_floor_sseq = c->floor_sseq;
}

static uint64_t count_pending(struct hr_consumer *c)
{
    const char *f = c->cfg.filter_subject;
    return ops(c)->count_from(c->stream->st, c->sseq_next, f, f ? strlen(f) : 0);
}

/* Builds the runtime part of a consumer around `cfg` (taken over on success). */
static int consumer_new(struct herald_stream *s, struct herald_consumer_config *cfg, int64_t created,
                        struct hr_consumer **out)
{
    struct hr_consumer *c = calloc(1, sizeof *c);
    if (!c)
        return HERALD_ENOMEM;
    c->stream = s;
    c->cfg = *cfg;
    c->created_ns = created;
    hr_map_init(&c->pending);
    hr_map_init(&c->keys);
    if (s->e->opts.loop) {
        uv_timer_init(s->e->opts.loop, &c->timer);
        c->timer.data = c;
        uv_unref((uv_handle_t *)&c->timer);
        c->timer_init = true;
    }
    c->last_active_ns = c->inactive_since_ns = hr_now_ns();
    memset(cfg, 0, sizeof *cfg);
    *out = c;
    return 0;
}

/* After a restore: every pending message is due for redelivery after ack_wait; the held
 * ones and anything between the floor and the cursor are found again from the floor. */
static void resume(struct hr_consumer *c)
{
    int64_t now = hr_now_ns();
    c->num_redelivered = 0;
    for (size_t i = 0; i < c->pending_seqs.len; i++) {
        struct hr_pending *p = hr_map_get(&c->pending, (const char *)&c->pending_seqs.v[i], 8);
        if (!p)
            continue;
        if (p->dc > 1)
            c->num_redelivered++;
        p->deadline_ns = now + c->cfg.ack_wait_ns;
        hr_consumer_heap_push(c, p);
        if (c->cfg.ordering_key) {
            struct herald_stored_msg m;
            if (herald_stream_msg_get(c->stream, p->sseq, NULL, 0, false, &m, NULL) == 0) {
                p->key = hr_consumer_key_of(c, m.subject, m.subject_len, m.hdr, m.hdr_len);
                herald_stored_msg_free(&m);
                if (p->key)
                    hr_map_put(&c->keys, (const char *)&p->key, 8, p);
            }
        }
    }
    hr_consumer_advance_floor(c);
    /* Never delivered: what follows the last delivery. Then re-walk from the floor: U2
     * skips what was acked or is pending, and held messages are found again. */
    c->sseq_next = c->delivered_sseq + 1;
    c->num_pending = count_pending(c);
    c->rewalk_until = c->delivered_sseq;
    if (c->cfg.ack_policy != HERALD_ACK_NONE)
        c->sseq_next = c->floor_sseq + 1;
    if (c->pending_seqs.len)
        hr_consumer_schedule(c, now + c->cfg.ack_wait_ns);
    c->shown_floor_sseq = c->floor_sseq;
    c->shown_floor_dseq = c->floor_dseq;
}

void hr_consumer_advance_floor(struct hr_consumer *c)
{
    uint64_t limit = c->sseq_next ? c->sseq_next - 1 : 0;
    if (c->pending_seqs.len && c->pending_seqs.v[0] - 1 < limit)
        limit = c->pending_seqs.v[0] - 1;
    if (c->nheld && c->held[0].sseq - 1 < limit)
        limit = c->held[0].sseq - 1;
    if (limit > c->floor_sseq) {
        c->floor_sseq = limit;
        u64set_drop_upto(&c->acked, limit);
    }
    /* The consumer sequence of the floor: deliveries made minus those still pending. */
    uint64_t min_pending_dseq = c->dseq + 1;
    for (size_t i = 0; i < c->pending_seqs.len && i < 64; i++) {
        const struct hr_pending *p = hr_map_get(&c->pending, (const char *)&c->pending_seqs.v[i], 8);
        if (p && p->dseq < min_pending_dseq)
            min_pending_dseq = p->dseq;
    }
    c->floor_dseq = min_pending_dseq - 1;
}

void hr_consumer_random_id(char *out, size_t n)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char rnd[64];
    if (n > sizeof rnd)
        n = sizeof rnd;
    if (getrandom(rnd, n, 0) != (ssize_t)n)
        for (size_t i = 0; i < n; i++)
            rnd[i] = (unsigned char)(rand() ^ (int)uv_hrtime());
    for (size_t i = 0; i < n; i++)
        out[i] = alphabet[rnd[i] % 62];
    out[n] = '\0';
}

static void action_advisory(struct hr_consumer *c, const char *kind, const char *action)
{
    hr_consumer_advisory(c, kind, "io.nats.jetstream.advisory.v1.consumer_action",
                         json_pack("{s:s}", "action", action));
}

/* Applies an allowed update (`in` taken over) to `c`. */
static void consumer_update(struct hr_consumer *c, struct herald_consumer_config *in)
{
    struct herald_consumer_config old = c->cfg;
    bool refilter = (old.filter_subject == NULL) != (in->filter_subject == NULL) ||
                    (old.filter_subject && strcmp(old.filter_subject, in->filter_subject) != 0);
    bool redeliver = old.deliver_subject && strcmp(old.deliver_subject, in->deliver_subject) != 0;
    c->cfg = *in;
    memset(in, 0, sizeof *in);
    herald_consumer_config_cleanup(&old);
    if (refilter) {
        /* What the cursor has not passed yet, under the new filter (a restart's re-walk
         * counts only what lies beyond the last delivery). */
        uint64_t from = c->sseq_next > c->rewalk_until ? c->sseq_next : c->rewalk_until + 1;
        const char *f = c->cfg.filter_subject;
        c->num_pending = ops(c)->count_from(c->stream->st, from, f, f ? strlen(f) : 0);
    }
    if (redeliver) { /* a new deliver subject starts without flow-control debt */
        c->fc_pending_bytes = c->fc_size = 0;
        c->fc_stalled = false;
        c->fc_reply[0] = '\0';
    }
    write_snapshot(c);
    hr_consumer_mark_dirty(c);
}

void hr_consumer_ack_floor_moved(struct hr_consumer *c)
{
    hr_consumer_advance_floor(c);
    c->shown_floor_sseq = c->floor_sseq;
    c->shown_floor_dseq = c->floor_dseq;
}

/* Creates a consumer, or updates the existing one of that name: nats-server 2.9.10 has no
 * create-only mode (docs/consumers-wire.md §1.1). */
int hr_consumer_create(struct herald_stream *s, struct herald_consumer_config *in,
                       struct herald_error *err, struct hr_consumer **out)
{
    if (!in->name) {
        char name[9];
        do
            hr_consumer_random_id(name, 8);
        while (hr_consumer_lookup(s, name));
        in->name = strdup(name);
        if (!in->name)
            return hr_js_error(err, HR_JS_CONSUMER_CREATE, "out of memory");
    }
    int rc = config_check(s, in, err);
    if (rc)
        return rc;
    struct hr_consumer *existing = hr_consumer_lookup(s, in->name);
    if (existing) {
        json_t *a = hr_consumer_config_json(&existing->cfg), *b = hr_consumer_config_json(in);
        bool same = a && b && json_equal(a, b);
        json_decref(a);
        json_decref(b);
        if (!same) {
            const char *why = update_refusal(&existing->cfg, in);
            if (why)
                return hr_js_error(err, HR_JS_CONSUMER_CREATE, why);
            if (existing->cfg.deliver_subject && strcmp(existing->cfg.deliver_subject, in->deliver_subject) != 0 &&
                hr_consumer_has_interest(existing))
                return hr_js_error(err, HR_JS_CONSUMER_NAME_EXIST);
            consumer_update(existing, in);
        }
        *out = existing;
        return 0;
    }
    if ((rc = create_check(s, in, err)) != 0)
        return rc;
    struct hr_consumer *c;
    if ((rc = consumer_new(s, in, hr_now_ns(), &c)) != 0)
        return hr_js_error(err, HR_JS_CONSUMER_CREATE, "out of memory");
    set_start(c);
    c->num_pending = count_pending(c);
    rc = ops(c)->consumer_open(s->st, c->cfg.name, &c->log);
    if (rc == 0)
        rc = write_snapshot(c);
    if (rc == 0)
        rc = registry_insert(s, c);
    if (rc) {
        if (c->log)
            ops(c)->consumer_remove(c->log);
        c->log = NULL;
        consumer_free(c);
        return hr_js_error(err, HR_JS_CONSUMER_STORE_FAILED, herald_strerror(rc));
    }
    hr_info("consumer %s > %s created", s->cfg.name, c->cfg.name);
    action_advisory(c, "CREATED", "create");
    hr_consumer_mark_dirty(c);
    *out = c;
    return 0;
}

int hr_consumer_delete(struct hr_consumer *c)
{
    hr_info("consumer %s > %s deleted", c->stream->cfg.name, c->cfg.name);
    hr_consumer_drop_waiting(c, 409, "Consumer Deleted");
    int rc = c->log ? ops(c)->consumer_remove(c->log) : 0;
    c->log = NULL;
    action_advisory(c, "DELETED", "delete");
    hr_consumer_release_interest(c);
    consumer_destroy(c);
    return rc;
}

/* Closes every consumer of `s`: at shutdown keeping their state, at a stream delete
 * (`remove`) removing it, after answering waiting pull requests `409 Consumer Deleted`. */
void hr_consumers_close(struct herald_stream *s, bool remove)
{
    while (s->nconsumers) {
        struct hr_consumer *c = s->consumers[s->nconsumers - 1];
        if (remove)
            hr_consumer_drop_waiting(c, 409, "Consumer Deleted");
        if (c->log) {
            if (remove)
                ops(c)->consumer_remove(c->log);
            else {
                write_snapshot(c);
                ops(c)->consumer_close(c->log);
            }
        }
        c->log = NULL;
        consumer_destroy(c);
    }
    free(s->consumers);
    s->consumers = NULL;
    s->consumers_cap = 0;
}

struct restore_ctx {
    struct herald_stream *s;
};

static int restore_one(void *arg, const char *name)
{
    struct herald_stream *s = ((struct restore_ctx *)arg)->s;
    const struct hr_store_ops *o = s->e->store->ops;
    struct hr_consumer_log *log;
    int rc = o->consumer_open(s->st, name, &log);
    if (rc) {
        hr_error("consumer %s > %s: cannot open its state: %s", s->cfg.name, name, herald_strerror(rc));
        return 0;
    }
    /* The config comes from the snapshot record: replay once into a scratch consumer. */
    struct herald_consumer_config cfg;
    herald_consumer_config_init(&cfg);
    cfg.name = strdup(name);
    struct hr_consumer *c;
    if (!cfg.name || consumer_new(s, &cfg, 0, &c)) {
        herald_consumer_config_cleanup(&cfg);
        o->consumer_close(log);
        return 0;
    }
    c->log = log;
    struct replay_ctx rctx = {c, NULL};
    rc = o->consumer_replay(log, replay_record, &rctx);
    json_t *first = rctx.snapshot;
    json_t *jcfg = json_object_get(first, "config");
    struct herald_error err;
    struct herald_consumer_config parsed;
    herald_consumer_config_init(&parsed);
    if (rc || !jcfg || hr_consumer_config_parse(jcfg, &parsed, &err)) {
        hr_error("consumer %s > %s: unreadable state log; set aside", s->cfg.name, name);
        herald_consumer_config_cleanup(&parsed);
        json_decref(first);
        o->consumer_close(log);
        c->log = NULL;
        consumer_free(c);
        return 0;
    }
    /* Defaults as on create; a config that an older Herald accepted but today's checks
     * refuse is kept (refusing it would strand the consumer's state). */
    if (config_check(s, &parsed, &err))
        hr_warn("consumer %s > %s: its config would be refused today (%s); kept", s->cfg.name, name,
                err.description);
    herald_consumer_config_cleanup(&c->cfg);
    c->cfg = parsed;
    c->created_ns = (int64_t)json_integer_value(json_object_get(first, "created_ns"));
    json_decref(first);
    if (registry_insert(s, c)) {
        o->consumer_close(log);
        c->log = NULL;
        consumer_free(c);
        return 0;
    }
    resume(c);
    hr_info("consumer %s > %s restored: ack floor %" PRIu64 ", %zu pending", s->cfg.name, name,
            c->floor_sseq, c->pending_seqs.len);
    hr_consumer_mark_dirty(c);
    return 0;
}

void hr_consumers_restore(struct herald_stream *s)
{
    struct restore_ctx ctx = {s};
    s->e->store->ops->consumer_list(s->st, restore_one, &ctx);
}

void hr_consumers_finish_restore(struct herald_engine *e)
{
    for (size_t i = 0; i < e->nstreams; i++) {
        struct herald_stream *s = e->streams[i];
        for (size_t k = 0; k < s->nconsumers; k++) {
            struct hr_consumer *c = s->consumers[k];
            for (size_t j = 0; j < c->ndlq_checks; j++)
                hr_consumer_recheck_dead_letter(c, c->dlq_checks[j].sseq, c->dlq_checks[j].hint,
                                                c->dlq_checks[j].max_deliveries, c->dlq_checks[j].target);
            free(c->dlq_checks);
            c->dlq_checks = NULL;
            c->ndlq_checks = 0;
            write_snapshot(c); /* compacts what the last run appended */
        }
    }
}
