/* SPDX-License-Identifier: Apache-2.0
 *
 * Atomic batch publish (ADR-50, NATS 2.12): several messages, possibly on several
 * subjects, stored all or none. The wire form is three headers on ordinary publishes:
 *
 *   Nats-Batch-Id: <id ≤ 64 bytes>   Nats-Batch-Sequence: 1, 2, …   Nats-Batch-Commit: 1 (last)
 *
 * A batch is staged in memory (T2) and checked at commit against the stream state before
 * it plus its own earlier messages (T1); then the store appends it with one write (F3), so
 * a crash leaves all of it or none. The commit's PubAck is {"stream","seq":<last>,
 * "batch":<id>,"count":N}; earlier messages sent as requests get an empty reply (flow
 * control). Rules, as nats-server 2.12 applies them:
 *   - the stream needs allow_atomic (10174); a missing or bad sequence is 10175; a gap or
 *     an unknown batch is 10176 (the batch is dropped);
 *   - Nats-Expected-Last-Sequence only on the first message; Nats-Expected-Last-Msg-Id
 *     and Nats-Rollup are refused (10177); Nats-Expected-Last-Subject-Sequence is refused
 *     on a subject an earlier message of the batch writes;
 *   - a Nats-Msg-Id already stored, or twice in the batch, fails it (10201);
 *   - at most 1000 messages (10199), 50 open batches per stream (10210), and a batch idle
 *     for 10 s is abandoned (logged).
 */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/natshdr.h"
#include "engine/jserr.h"
#include "engine/stream_internal.h"

struct hr_staged {
    struct hr_staged *next;
    size_t subject_len, hdr_len, data_len;
    char bytes[]; /* subject, hdr, data */
};

struct hr_batch {
    struct hr_batch *next;
    char id[HR_BATCH_ID_MAX];
    size_t id_len;
    uint64_t count;
    size_t bytes;
    int64_t last_ns;
    struct hr_staged *head, *tail;
};

static void batch_free(struct hr_batch *b)
{
    while (b->head) {
        struct hr_staged *m = b->head;
        b->head = m->next;
        free(m);
    }
    free(b);
}

static struct hr_batch **batch_find(struct herald_stream *s, const char *id, size_t len)
{
    struct hr_batch **pp = &s->batches;
    while (*pp && ((*pp)->id_len != len || memcmp((*pp)->id, id, len) != 0))
        pp = &(*pp)->next;
    return pp;
}

static void batch_drop(struct herald_stream *s, struct hr_batch **pp)
{
    struct hr_batch *b = *pp;
    *pp = b->next;
    s->nbatches--;
    batch_free(b);
}

void hr_stream_batch_clear(struct herald_stream *s)
{
    while (s->batches)
        batch_drop(s, &s->batches);
}

void hr_stream_batch_expire(struct herald_stream *s, int64_t now)
{
    for (struct hr_batch **pp = &s->batches; *pp;) {
        if (now - (*pp)->last_ns > HR_BATCH_IDLE_NS) {
            hr_info("stream %s: abandoning atomic batch '%.*s' after 10 s without messages (%llu staged)",
                    s->cfg.name, (int)(*pp)->id_len, (*pp)->id, (unsigned long long)(*pp)->count);
            batch_drop(s, pp);
        } else {
            pp = &(*pp)->next;
        }
    }
}

static bool parse_u64(const char *v, size_t vl, uint64_t *out)
{
    if (vl == 0 || vl > 19)
        return false;
    uint64_t x = 0;
    for (size_t i = 0; i < vl; i++) {
        if (v[i] < '0' || v[i] > '9')
            return false;
        x = x * 10 + (uint64_t)(v[i] - '0');
    }
    *out = x;
    return true;
}

/* T1 at commit: returns 0 or fills err. */
static int batch_check(struct herald_stream *s, struct hr_batch *b, struct herald_error *err)
{
    size_t i = 0;
    for (struct hr_staged *m = b->head; m; m = m->next, i++) {
        const char *subject = m->bytes, *hdr = m->bytes + m->subject_len, *v;
        size_t vl;
        if (m->hdr_len && hr_hdr_get(hdr, m->hdr_len, "Nats-Msg-Id", &v, &vl) && vl) {
            if (hr_stream_is_duplicate(s, v, vl, NULL))
                return hr_js_error(err, HR_JS_ATOMIC_DUPLICATE_ID);
            size_t k = 0;
            for (struct hr_staged *o = b->head; o != m; o = o->next, k++) {
                const char *ov;
                size_t ovl;
                if (o->hdr_len && hr_hdr_get(o->bytes + o->subject_len, o->hdr_len, "Nats-Msg-Id", &ov, &ovl) &&
                    ovl == vl && memcmp(ov, v, vl) == 0)
                    return hr_js_error(err, HR_JS_ATOMIC_DUPLICATE_ID);
            }
        }
        if (m->hdr_len && hr_hdr_get(hdr, m->hdr_len, "Nats-Expected-Last-Subject-Sequence", &v, &vl))
            for (struct hr_staged *o = b->head; o != m; o = o->next)
                if (o->subject_len == m->subject_len && memcmp(o->bytes, subject, m->subject_len) == 0)
                    return hr_js_error(err, HR_JS_ATOMIC_UNSUPPORTED_HEADER,
                                       "Nats-Expected-Last-Subject-Sequence");
        int rc = hr_stream_check_expected(s, subject, m->subject_len, hdr, m->hdr_len, err);
        if (rc)
            return rc;
    }
    return 0;
}

static void batch_commit(struct herald_stream *s, struct hr_batch **pp, const struct herald_msg *msg)
{
    struct hr_batch *b = *pp;
    struct herald_error err;
    struct hr_append_msg *msgs = NULL;
    if (batch_check(s, b, &err))
        goto out_reject;
    msgs = calloc(b->count, sizeof *msgs);
    if (!msgs) {
        hr_js_error(&err, HR_JS_STORE_FAILED, "out of memory");
        goto out_reject;
    }
    size_t i = 0;
    for (struct hr_staged *m = b->head; m; m = m->next, i++)
        msgs[i] = (struct hr_append_msg){m->bytes, m->subject_len, m->bytes + m->subject_len,
                                         m->hdr_len, m->bytes + m->subject_len + m->hdr_len, m->data_len};
    int64_t now = hr_now_ns();
    uint64_t first;
    int rc = s->e->store->ops->append_batch(s->st, msgs, b->count, now, &first);
    if (rc) {
        hr_stream_store_error(s, rc, &err);
        goto out_reject;
    }
    for (i = 0; i < b->count; i++) {
        const char *v = NULL;
        size_t vl = 0;
        if (msgs[i].hdr_len)
            hr_hdr_get(msgs[i].hdr, msgs[i].hdr_len, "Nats-Msg-Id", &v, &vl);
        hr_stream_note_stored(s, v, vl, first + i, now); /* every message: last msg id */
        hr_stream_notify_stored(s, first + i, msgs[i].subject, msgs[i].subject_len);
    }
    hr_stream_queue_ack(s, msg->reply, msg->reply_len, first + b->count - 1, b->id, b->id_len,
                        (size_t)b->count);
    free(msgs);
    batch_drop(s, pp);
    return;
out_reject:
    free(msgs);
    batch_drop(s, pp);
    hr_stream_reply_error(s, msg, &err);
}

void hr_stream_batch_msg(struct herald_stream *s, const struct herald_msg *msg, const char *id,
                         size_t id_len)
{
    struct herald_error err;
    const char *v;
    size_t vl;
    uint64_t seq = 0;
    struct hr_batch **pp = NULL;
    if (!s->cfg.allow_atomic) {
        hr_js_error(&err, HR_JS_ATOMIC_DISABLED);
        goto out_reject;
    }
    if (id_len == 0 || id_len > HR_BATCH_ID_MAX) {
        hr_js_error(&err, HR_JS_ATOMIC_INVALID_ID);
        goto out_reject;
    }
    pp = batch_find(s, id, id_len);
    if (!hr_hdr_get(msg->hdr, msg->hdr_len, "Nats-Batch-Sequence", &v, &vl) ||
        !parse_u64(v, vl, &seq) || seq == 0) {
        hr_js_error(&err, HR_JS_ATOMIC_MISSING_SEQ);
        goto out_drop;
    }
    static const char *const refused[] = {"Nats-Expected-Last-Msg-Id", "Nats-Rollup", NULL};
    for (size_t i = 0; refused[i]; i++)
        if (hr_hdr_get(msg->hdr, msg->hdr_len, refused[i], &v, &vl)) {
            hr_js_error(&err, HR_JS_ATOMIC_UNSUPPORTED_HEADER, refused[i]);
            goto out_drop;
        }
    if (seq > 1 && hr_hdr_get(msg->hdr, msg->hdr_len, "Nats-Expected-Last-Sequence", &v, &vl)) {
        hr_js_error(&err, HR_JS_ATOMIC_UNSUPPORTED_HEADER, "Nats-Expected-Last-Sequence");
        goto out_drop;
    }
    if (seq == 1 && *pp) /* the id is reused: the old attempt is abandoned */
        batch_drop(s, pp);
    if (seq == 1) {
        if (s->nbatches >= HR_BATCH_MAX_OPEN) {
            hr_js_error(&err, HR_JS_ATOMIC_TOO_MANY);
            goto out_reject;
        }
        struct hr_batch *b = calloc(1, sizeof *b);
        if (!b) {
            hr_js_error(&err, HR_JS_STORE_FAILED, "out of memory");
            goto out_reject;
        }
        memcpy(b->id, id, id_len);
        b->id_len = id_len;
        b->next = s->batches;
        s->batches = b;
        s->nbatches++;
        pp = &s->batches;
    } else if (!*pp || seq != (*pp)->count + 1) {
        hr_js_error(&err, HR_JS_ATOMIC_INCOMPLETE);
        goto out_drop;
    }
    struct hr_batch *b = *pp;
    size_t size = msg->subject_len + msg->hdr_len + msg->data_len;
    if (b->count + 1 > HR_BATCH_MAX_MSGS || b->bytes + size > HR_BATCH_MAX_BYTES) {
        hr_js_error(&err, HR_JS_ATOMIC_TOO_LARGE, b->count + 1 > HR_BATCH_MAX_MSGS ? "1000 messages" : "16 MiB");
        goto out_drop;
    }
    struct hr_staged *m = malloc(sizeof *m + size);
    if (!m) {
        hr_js_error(&err, HR_JS_STORE_FAILED, "out of memory");
        goto out_drop;
    }
    m->next = NULL;
    m->subject_len = msg->subject_len;
    m->hdr_len = msg->hdr_len;
    m->data_len = msg->data_len;
    memcpy(m->bytes, msg->subject, msg->subject_len);
    memcpy(m->bytes + msg->subject_len, msg->hdr, msg->hdr_len);
    if (msg->data_len)
        memcpy(m->bytes + msg->subject_len + msg->hdr_len, msg->data, msg->data_len);
    if (b->tail)
        b->tail->next = m;
    else
        b->head = m;
    b->tail = m;
    b->count++;
    b->bytes += size;
    b->last_ns = hr_now_ns();
    if (hr_hdr_get(msg->hdr, msg->hdr_len, "Nats-Batch-Commit", &v, &vl)) {
        if (vl != 1 || v[0] != '1') {
            hr_js_error(&err, HR_JS_ATOMIC_INVALID_COMMIT);
            goto out_drop;
        }
        batch_commit(s, pp, msg);
        return;
    }
    if (msg->reply_len) /* a request mid-batch: an empty reply says "staged" */
        hr_engine_reply(s->e, msg->reply, msg->reply_len, NULL, 0, NULL, 0);
    return;
out_drop:
    if (pp && *pp)
        batch_drop(s, pp);
out_reject:
    hr_stream_reply_error(s, msg, &err);
}
