/* SPDX-License-Identifier: Apache-2.0
 *
 * Acknowledgements and what follows from them: the `$JS.ACK.>` and `$JS.FC.>` services,
 * ack/nak/in-progress/term/next, settling a message that ran out of deliveries or was
 * terminated (advisory + dead letter), and interest/workqueue retention.
 *
 *   payload            effect
 *   "" | +ACK          acknowledged (ack policy all: everything pending up to it)
 *   -NAK [{"delay":n}] redelivered now, or after the delay (ns)
 *   +WPI               the ack_wait clock restarts
 *   +NXT [request]     acknowledged, and the reply subject becomes a pull request
 *   +TERM [reason]     settled without delivery: MSG_TERMINATED advisory, dead letter
 *
 * An ack sent as a request (with a reply subject) is confirmed with an empty message once
 * the consumer's state log is durable (U4, E2).
 *
 * Dead letters without loss or duplicates (the consumer's log and the dead-letter stream
 * are different files): a 'Q' record — the message's sequence, the dead-letter stream's
 * last sequence before the publish (the hint) and that stream's name — is written first;
 * then the dead letter is published with Nats-Msg-Id `hr-dlq.<stream>.<consumer>.<seq>`.
 * Both land in the page cache in the same loop iteration and are synced by one group
 * commit. After a crash, recovery looks at every 'Q' record of the log's tail: when the
 * dead-letter stream holds no message with that id after the hint, it publishes it again
 * (hr_consumers_recheck_dead_letters); when it does, it does nothing.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/natshdr.h"
#include "common/subject.h"
#include "engine/consumer_internal.h"
#include "engine/jserr.h"

static const struct hr_store_ops *ops(const struct hr_consumer *c)
{
    return c->stream->e->store->ops;
}

/* ---- retention -------------------------------------------------------------------------- */

static bool consumer_done_with(const struct hr_consumer *c, uint64_t sseq)
{
    return sseq <= c->floor_sseq || hr_u64set_has(&c->acked, sseq);
}

void hr_consumer_apply_retention(struct hr_consumer *c, uint64_t sseq)
{
    struct herald_stream *s = c->stream;
    if (s->cfg.retention == HERALD_RETENTION_LIMITS)
        return;
    if (s->cfg.retention == HERALD_RETENTION_INTEREST) {
        struct herald_stored_msg m;
        if (herald_stream_msg_get(s, sseq, NULL, 0, false, &m, NULL) != 0)
            return;
        bool all = true;
        for (size_t i = 0; i < s->nconsumers && all; i++) {
            const struct hr_consumer *o = s->consumers[i];
            if (hr_consumer_filter_matches(o, m.subject, m.subject_len) && !consumer_done_with(o, sseq))
                all = false;
        }
        herald_stored_msg_free(&m);
        if (!all)
            return;
    }
    ops(c)->remove(s->st, sseq);
}

/* ---- advisories ------------------------------------------------------------------------- */

static void advisory(struct hr_consumer *c, const char *kind, const char *type, json_t *extra)
{
    char subject[HERALD_NAME_MAX * 2 + 96], ts[64], id[40];
    int n = snprintf(subject, sizeof subject, "$JS.EVENT.ADVISORY.CONSUMER.%s.%s.%s", kind,
                     c->stream->cfg.name, c->cfg.name);
    int64_t now = hr_now_ns();
    hr_format_time(ts, sizeof ts, now);
    snprintf(id, sizeof id, "%016" PRIx64 "%08" PRIx64, (uint64_t)now, c->dseq);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", type, "id", id, "timestamp", ts,
                          "stream", c->stream->cfg.name, "consumer", c->cfg.name);
    if (o && extra)
        json_object_update(o, extra);
    json_decref(extra);
    char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (body && n > 0) {
        struct herald_msg m = {.subject = subject, .subject_len = (size_t)n, .data = body,
                               .data_len = strlen(body)};
        herald_publish(c->stream->e, &m, NULL);
    }
    free(body);
}

/* ---- settling ----------------------------------------------------------------------------- */

static int dead_letter_id(char *out, size_t cap, const struct hr_consumer *c, uint64_t sseq)
{
    return snprintf(out, cap, "hr-dlq.%s.%s.%" PRIu64, c->stream->cfg.name, c->cfg.name, sseq);
}

/* Publishes the dead letter for `sseq` (delivered `dc` times) to the consumer's subject. */
static void publish_dead_letter(struct hr_consumer *c, uint64_t sseq, uint32_t dc, const char *reason)
{
    struct herald_stored_msg m;
    if (herald_stream_msg_get(c->stream, sseq, NULL, 0, false, &m, NULL) != 0) {
        hr_warn("consumer %s > %s: message %" PRIu64 " is gone; no dead letter", c->stream->cfg.name,
                c->cfg.name, sseq);
        return;
    }
    /* Headers that would steer the dead-letter stream are not copied. */
    static const char *const skip[] = {
        "Nats-Msg-Id", "Nats-Expected-Stream", "Nats-Expected-Last-Sequence",
        "Nats-Expected-Last-Subject-Sequence", "Nats-Expected-Last-Msg-Id", "Nats-Rollup",
        "Nats-Batch-Id", "Nats-Batch-Sequence", "Nats-Batch-Commit", NULL,
    };
    struct hr_buf h;
    hr_buf_init(&h, 128 * 1024);
    char num[64], id[HERALD_NAME_MAX * 2 + 64];
    hr_hdr_begin(&h, 0, NULL);
    hr_hdr_copy(&h, m.hdr, m.hdr_len, skip);
    hr_hdr_add(&h, "Herald-Dead-Letter-Reason", reason, strlen(reason));
    hr_hdr_add(&h, "Herald-Dead-Letter-Stream", c->stream->cfg.name, strlen(c->stream->cfg.name));
    int n = snprintf(num, sizeof num, "%" PRIu64, sseq);
    hr_hdr_add(&h, "Herald-Dead-Letter-Sequence", num, (size_t)n);
    hr_hdr_add(&h, "Herald-Dead-Letter-Consumer", c->cfg.name, strlen(c->cfg.name));
    n = snprintf(num, sizeof num, "%u", dc);
    hr_hdr_add(&h, "Herald-Dead-Letter-Deliveries", num, (size_t)n);
    hr_hdr_add(&h, "Herald-Dead-Letter-Subject", m.subject, m.subject_len);
    n = dead_letter_id(id, sizeof id, c, sseq);
    hr_hdr_add(&h, "Nats-Msg-Id", id, (size_t)n);
    hr_hdr_end(&h);
    const char *dl = c->cfg.dead_letter_subject;
    struct herald_msg out = {.subject = dl, .subject_len = strlen(dl), .hdr = h.data,
                             .hdr_len = h.len, .data = m.data, .data_len = m.data_len};
    if (h.data)
        herald_publish(c->stream->e, &out, NULL);
    hr_buf_cleanup(&h);
    herald_stored_msg_free(&m);
}

void hr_consumer_settle(struct hr_consumer *c, struct hr_pending *p, const char *reason,
                        const char *term_reason)
{
    uint64_t sseq = p->sseq, dseq = p->dseq;
    uint32_t dc = p->dc;
    bool max_deliveries = strcmp(reason, "max_deliveries") == 0;
    if (max_deliveries)
        advisory(c, "MAX_DELIVERIES", "io.nats.jetstream.advisory.v1.max_deliver",
                 json_pack("{s:I, s:I}", "stream_seq", (json_int_t)sseq, "deliveries", (json_int_t)dc));
    else
        advisory(c, "MSG_TERMINATED", "io.nats.jetstream.advisory.v1.terminated",
                 json_pack("{s:I, s:I, s:I, s:s}", "consumer_seq", (json_int_t)dseq, "stream_seq",
                           (json_int_t)sseq, "deliveries", (json_int_t)dc, "reason",
                           term_reason ? term_reason : ""));
    char rec[18 + HERALD_NAME_MAX + 1];
    size_t rl = 9;
    memcpy(rec + 1, &sseq, 8);
    if (c->cfg.dead_letter_subject) {
        const char *dl = c->cfg.dead_letter_subject;
        struct herald_stream *target = herald_stream_for_subject(c->stream->e, dl, strlen(dl));
        uint64_t hint = 0;
        if (target) {
            struct herald_stream_state st;
            herald_stream_state(target, &st);
            hint = st.last_seq;
        }
        rec[0] = 'Q';
        memcpy(rec + 9, &hint, 8);
        rec[17] = max_deliveries ? 'm' : 't';
        size_t nl = target ? strlen(target->cfg.name) : 0;
        if (nl)
            memcpy(rec + 18, target->cfg.name, nl);
        rl = 18 + nl;
        hr_consumer_log_write(c, rec, rl); /* the intent first */
        publish_dead_letter(c, sseq, dc, max_deliveries ? "max_deliveries" : "terminated");
    } else {
        rec[0] = 'T';
        hr_consumer_log_write(c, rec, rl);
    }
    if (sseq > c->floor_sseq)
        hr_u64set_add(&c->acked, sseq);
    hr_consumer_pending_free(c, p);
    hr_consumer_advance_floor(c);
    hr_consumer_apply_retention(c, sseq);
    hr_consumer_mark_dirty(c);
}

/* ---- acks --------------------------------------------------------------------------------- */

static void ack_seq(struct hr_consumer *c, uint64_t sseq)
{
    struct hr_pending *p = hr_map_get(&c->pending, (const char *)&sseq, 8);
    if (!p)
        return;
    if (sseq > c->floor_sseq)
        hr_u64set_add(&c->acked, sseq);
    hr_consumer_pending_free(c, p);
    hr_consumer_apply_retention(c, sseq);
}

static void handle_ack(struct hr_consumer *c, uint64_t sseq, const struct herald_msg *msg)
{
    const char *d = msg->data;
    size_t n = msg->data_len;
    int64_t now = hr_now_ns();
    struct hr_pending *p = hr_map_get(&c->pending, (const char *)&sseq, 8);
    char rec[9];
    memcpy(rec + 1, &sseq, 8);
    c->last_active_ns = now;
    if (n == 0 || (n >= 4 && memcmp(d, "+ACK", 4) == 0) || (n >= 4 && memcmp(d, "+NXT", 4) == 0)) {
        if (c->cfg.ack_policy == HERALD_ACK_ALL) {
            rec[0] = 'L';
            hr_consumer_log_write(c, rec, sizeof rec);
            while (c->pending_seqs.len && c->pending_seqs.v[0] <= sseq)
                ack_seq(c, c->pending_seqs.v[0]);
        } else if (p) {
            rec[0] = 'A';
            hr_consumer_log_write(c, rec, sizeof rec);
            ack_seq(c, sseq);
        }
        hr_consumer_advance_floor(c);
        hr_consumer_mark_dirty(c);
        if (n >= 4 && memcmp(d, "+NXT", 4) == 0) {
            const char *body = d + 4;
            size_t bl = n - 4;
            while (bl && *body == ' ')
                body++, bl--;
            hr_consumer_pull_request(c, msg->reply, msg->reply_len, body, bl);
            return; /* the reply subject is the request's, not a confirmation */
        }
    } else if (n >= 4 && memcmp(d, "-NAK", 4) == 0) {
        if (p) {
            int64_t delay = 0;
            if (n > 4) {
                json_error_t jerr;
                json_t *o = json_loadb(d + 4, n - 4, JSON_DISABLE_EOF_CHECK, &jerr);
                delay = json_integer_value(json_object_get(o, "delay"));
                json_decref(o);
            }
            p->deadline_ns = now + (delay > 0 ? delay : 0);
            hr_consumer_heap_push(c, p);
            hr_consumer_mark_dirty(c);
            if (delay > 0)
                hr_consumer_schedule(c, p->deadline_ns);
        }
    } else if (n >= 4 && memcmp(d, "+WPI", 4) == 0) {
        if (p) {
            p->deadline_ns = now + c->cfg.ack_wait_ns;
            hr_consumer_heap_push(c, p);
        }
    } else if (n >= 5 && memcmp(d, "+TERM", 5) == 0) {
        if (p) {
            char reason[256] = "";
            if (n > 6)
                snprintf(reason, sizeof reason, "%.*s", (int)(n - 6), d + 6);
            hr_consumer_settle(c, p, "terminated", reason);
        }
    } else {
        return; /* unknown ack: ignored, as nats-server does */
    }
    if (msg->reply_len) /* double ack: confirmed when the log is durable */
        hr_engine_queue_reply(c->stream->e, msg->reply, msg->reply_len, NULL, 0);
}

/* "$JS.ACK.<stream>.<consumer>.<dc>.<sseq>.<dseq>.<ts>.<pending>" */
static void on_ack(void *ctx, struct herald_sub *sub, const struct herald_msg *msg)
{
    struct herald_engine *e = ctx;
    (void)sub;
    const char *p = msg->subject, *end = msg->subject + msg->subject_len;
    const char *tok[10];
    size_t len[10], nt = 0;
    while (p <= end && nt < 10) {
        const char *dot = memchr(p, '.', (size_t)(end - p));
        const char *te = dot ? dot : end;
        tok[nt] = p;
        len[nt++] = (size_t)(te - p);
        if (!dot)
            break;
        p = dot + 1;
    }
    if (nt != 9)
        return;
    char stream[HERALD_NAME_MAX + 1], consumer[HERALD_NAME_MAX + 1], seq[24];
    if (len[2] > HERALD_NAME_MAX || len[3] > HERALD_NAME_MAX || len[5] >= sizeof seq)
        return;
    memcpy(stream, tok[2], len[2]);
    stream[len[2]] = '\0';
    memcpy(consumer, tok[3], len[3]);
    consumer[len[3]] = '\0';
    memcpy(seq, tok[5], len[5]);
    seq[len[5]] = '\0';
    struct herald_stream *s = herald_stream_lookup(e, stream);
    struct hr_consumer *c = s ? hr_consumer_lookup(s, consumer) : NULL;
    if (!c) {
        if (msg->reply_len)
            hr_engine_reply(e, msg->reply, msg->reply_len, NULL, 0, NULL, 0);
        return;
    }
    handle_ack(c, strtoull(seq, NULL, 10), msg);
}

/* "$JS.FC.<stream>.<consumer>.<n>": the client caught up; deliveries resume. */
static void on_flow_control(void *ctx, struct herald_sub *sub, const struct herald_msg *msg)
{
    struct herald_engine *e = ctx;
    (void)sub;
    for (size_t i = 0; i < e->nstreams; i++) {
        struct herald_stream *s = e->streams[i];
        for (size_t k = 0; k < s->nconsumers; k++) {
            struct hr_consumer *c = s->consumers[k];
            if (c->fc_stalled && strlen(c->fc_reply) == msg->subject_len &&
                memcmp(c->fc_reply, msg->subject, msg->subject_len) == 0) {
                c->fc_stalled = false;
                hr_consumer_mark_dirty(c);
                return;
            }
        }
    }
}

int hr_acks_start(struct herald_engine *e)
{
    struct herald_sub_options so = {.deliver = on_ack, .ctx = e};
    int rc = herald_sub_create(e, "$JS.ACK.>", 9, NULL, 0, &so, &e->ack_sub);
    if (rc)
        return rc;
    so.deliver = on_flow_control;
    return herald_sub_create(e, "$JS.FC.>", 8, NULL, 0, &so, &e->fc_sub);
}

void hr_acks_stop(struct herald_engine *e)
{
    herald_sub_destroy(e->ack_sub);
    herald_sub_destroy(e->fc_sub);
    e->ack_sub = e->fc_sub = NULL;
}

/* ---- recovery of dead letters --------------------------------------------------------- */

/* Called after every stream and consumer is restored, for each 'Q' record of the log's
 * tail: publishes the dead letter again unless the target already holds it. */
void hr_consumer_recheck_dead_letter(struct hr_consumer *c, uint64_t sseq, uint64_t hint,
                                     bool max_deliveries, const char *target_name)
{
    if (!c->cfg.dead_letter_subject)
        return;
    char id[HERALD_NAME_MAX * 2 + 64];
    int n = dead_letter_id(id, sizeof id, c, sseq);
    struct herald_stream *t = *target_name ? herald_stream_lookup(c->stream->e, target_name) : NULL;
    if (t) {
        const char *dl = c->cfg.dead_letter_subject;
        struct herald_stored_msg m;
        for (uint64_t from = hint + 1;
             herald_stream_msg_get(t, from, dl, strlen(dl), false, &m, NULL) == 0; from = m.seq + 1) {
            const char *v;
            size_t vl;
            bool found = hr_hdr_get(m.hdr, m.hdr_len, "Nats-Msg-Id", &v, &vl) && vl == (size_t)n &&
                         memcmp(v, id, vl) == 0;
            herald_stored_msg_free(&m);
            if (found)
                return;
        }
    }
    hr_info("consumer %s > %s: re-publishing the dead letter of %" PRIu64 " lost in a crash",
            c->stream->cfg.name, c->cfg.name, sseq);
    publish_dead_letter(c, sseq, 0, max_deliveries ? "max_deliveries" : "terminated");
}
