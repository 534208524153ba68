/* SPDX-License-Identifier: Apache-2.0
 *
 * Acknowledgements and what follows from them: the `$JS.ACK.>` and `$JS.FC.>` services,
 * ack/nak/in-progress/term/next, settling a message that ran out of deliveries or was
 * terminated (advisory + dead letter), and interest/workqueue retention.
 *
 *   payload                 effect (exact matches, as nats-server 2.9.10)
 *   "" | +ACK | +OK         acknowledged (ack policy all: everything pending up to it)
 *   -NAK [{"delay":n}|dur]  redelivered now, or after the delay (ns, or a Go duration such
 *                           as 500ms); an unreadable delay is a plain NAK. MSG_NAKED advisory
 *   +WPI                    the ack_wait clock restarts
 *   +NXT [request]          acknowledged, and the reply subject becomes a pull request
 *   +TERM                   settled without delivery: MSG_TERMINATED advisory, dead letter
 *   +TERM <reason>          not a TERM for 2.9.10 (ignored); a TERM with the reason in the
 *                           advisory for consumers with a dead_letter_subject (Herald's)
 *   anything else           ignored
 *
 * An ack sent as a request (with a reply subject) is confirmed with an empty message once
 * the consumer's state log is durable (U4, E2), whatever the payload (+NXT excepted: its
 * reply subject gets the messages). An ack for an unknown consumer, or to a subject of
 * another shape, is declined (E4): a requester gets the no-responders status.
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

void hr_consumer_release_interest(struct hr_consumer *gone)
{
    struct herald_stream *s = gone->stream;
    if (s->cfg.retention != HERALD_RETENTION_INTEREST)
        return;
    const char *f = gone->cfg.filter_subject ? gone->cfg.filter_subject : ">";
    struct herald_stored_msg m;
    for (uint64_t seq = gone->floor_sseq + 1;
         herald_stream_msg_get(s, seq, f, strlen(f), false, &m, NULL) == 0; seq = m.seq + 1) {
        bool needed = false;
        for (size_t i = 0; i < s->nconsumers && !needed; i++) {
            const struct hr_consumer *o = s->consumers[i];
            needed = o != gone && hr_consumer_filter_matches(o, m.subject, m.subject_len) &&
                     !consumer_done_with(o, m.seq);
        }
        herald_stored_msg_free(&m);
        if (!needed)
            ops(gone)->remove(s->st, m.seq);
    }
}

/* ---- advisories ------------------------------------------------------------------------- */

void hr_consumer_advisory(struct hr_consumer *c, const char *kind, const char *type, json_t *extra)
{
    char subject[HERALD_NAME_MAX * 2 + 96], ts[64], id[23];
    int n = snprintf(subject, sizeof subject, "$JS.EVENT.ADVISORY.CONSUMER.%s.%s.%s", kind,
                     c->stream->cfg.name, c->cfg.name);
    hr_format_time(ts, sizeof ts, hr_now_ns());
    hr_consumer_random_id(id, 22); /* a NUID's length and alphabet */
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
    if (max_deliveries) {
        hr_consumer_advisory(c, "MAX_DELIVERIES", "io.nats.jetstream.advisory.v1.max_deliver",
                             json_pack("{s:I, s:I}", "stream_seq", (json_int_t)sseq, "deliveries",
                                       (json_int_t)dc));
    } else {
        /* 2.9.10's advisory has no reason; Herald adds one only for "+TERM <reason>" */
        json_t *x = json_pack("{s:I, s:I, s:I}", "consumer_seq", (json_int_t)dseq, "stream_seq",
                              (json_int_t)sseq, "deliveries", (json_int_t)dc);
        if (x && term_reason && *term_reason)
            json_object_set_new(x, "reason", json_string(term_reason));
        hr_consumer_advisory(c, "MSG_TERMINATED", "io.nats.jetstream.advisory.v1.terminated", x);
    }
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
    if (max_deliveries && !c->cfg.dead_letter_subject) {
        /* dropped, not acknowledged (nats-server 2.9.10): the shown floor stays, and a
         * workqueue or interest stream keeps the message for now */
        hr_consumer_advance_floor(c);
    } else {
        hr_consumer_ack_floor_moved(c);
        hr_consumer_apply_retention(c, sseq);
    }
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

static bool is(const char *d, size_t n, const char *word)
{
    return n == strlen(word) && memcmp(d, word, n) == 0;
}

static bool starts(const char *d, size_t n, const char *word)
{
    return n >= strlen(word) && memcmp(d, word, strlen(word)) == 0;
}

/* Go's time.ParseDuration for what a "-NAK <duration>" carries ("500ms", "1.5s", "1m30s",
 * "250us"); false when it is not one. */
static bool parse_go_duration(const char *s, size_t n, int64_t *out)
{
    static const struct {
        const char *unit;
        double ns;
    } units[] = {{"ns", 1}, {"us", 1e3}, {"\xc2\xb5s", 1e3}, {"\xce\xbcs", 1e3}, {"ms", 1e6},
                 {"s", 1e9}, {"m", 60e9}, {"h", 3600e9}};
    const char *p = s, *end = s + n;
    double total = 0;
    bool neg = false;
    if (p < end && (*p == '-' || *p == '+'))
        neg = *p++ == '-';
    if (p == end)
        return false;
    if (end - p == 1 && *p == '0') {
        *out = 0;
        return true;
    }
    while (p < end) {
        const char *num = p;
        while (p < end && ((*p >= '0' && *p <= '9') || *p == '.'))
            p++;
        if (p == num)
            return false;
        char buf[40];
        if ((size_t)(p - num) >= sizeof buf)
            return false;
        memcpy(buf, num, (size_t)(p - num));
        buf[p - num] = '\0';
        char *e;
        double v = strtod(buf, &e);
        if (*e)
            return false;
        size_t best = 0, best_len = 0;
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
            size_t ul = strlen(units[i].unit);
            if ((size_t)(end - p) >= ul && memcmp(p, units[i].unit, ul) == 0 && ul > best_len) {
                best = i;
                best_len = ul;
            }
        }
        if (!best_len)
            return false;
        p += best_len;
        total += v * units[best].ns;
    }
    if (total > 9.2e18)
        return false;
    *out = (int64_t)(neg ? -total : total);
    return true;
}

/* The delay of "-NAK <arg>": a JSON {"delay":ns} or a Go duration; -1 when there is none
 * or it cannot be read (then it is a plain NAK, as nats-server does). */
static int64_t nak_delay(const char *d, size_t n)
{
    const char *a = d + 4;
    size_t al = n - 4;
    while (al && (*a == ' ' || *a == '\t' || *a == '\r' || *a == '\n'))
        a++, al--;
    while (al && (a[al - 1] == ' ' || a[al - 1] == '\t' || a[al - 1] == '\r' || a[al - 1] == '\n'))
        al--;
    if (!al)
        return -1;
    int64_t delay = -1;
    if (*a == '{') {
        json_error_t jerr;
        json_t *o = json_loadb(a, al, 0, &jerr);
        json_t *v = json_object_get(o, "delay");
        if (json_is_object(o) && (!v || json_is_integer(v)))
            delay = v ? (int64_t)json_integer_value(v) : 0;
        json_decref(o);
    } else if (!parse_go_duration(a, al, &delay)) {
        delay = -1;
    }
    return delay;
}

/* Exact payloads only, as nats-server 2.9.10 matches them (docs/consumers-wire.md §3). */
static void handle_ack(struct hr_consumer *c, uint64_t sseq, uint64_t dseq, uint32_t dc,
                       const struct herald_msg *msg)
{
    const char *d = msg->data;
    size_t n = msg->data_len;
    int64_t now = hr_now_ns();
    struct hr_pending *p = hr_map_get(&c->pending, (const char *)&sseq, 8);
    char rec[9];
    memcpy(rec + 1, &sseq, 8);
    c->last_active_ns = now;
    bool next = starts(d, n, "+NXT");
    if (n == 0 || is(d, n, "+ACK") || is(d, n, "+OK") || next) {
        bool acked = false;
        if (c->cfg.ack_policy == HERALD_ACK_ALL) {
            if (c->pending_seqs.len && c->pending_seqs.v[0] <= sseq) {
                rec[0] = 'L';
                hr_consumer_log_write(c, rec, sizeof rec);
                acked = true;
            }
            while (c->pending_seqs.len && c->pending_seqs.v[0] <= sseq)
                ack_seq(c, c->pending_seqs.v[0]);
        } else if (p) {
            rec[0] = 'A';
            hr_consumer_log_write(c, rec, sizeof rec);
            ack_seq(c, sseq);
            acked = true;
        }
        if (acked)
            c->last_ack_ns = now;
        hr_consumer_ack_floor_moved(c);
        hr_consumer_mark_dirty(c);
        if (next) {
            /* the reply subject is the request's, not a confirmation */
            hr_consumer_pull_request(c, msg->reply, msg->reply_len, d + 4, n - 4);
            return;
        }
    } else if (starts(d, n, "-NAK")) {
        if (p) {
            int64_t delay = nak_delay(d, n);
            hr_consumer_advisory(c, "MSG_NAKED", "io.nats.jetstream.advisory.v1.nak",
                                 json_pack("{s:I, s:I, s:I}", "consumer_seq", (json_int_t)dseq,
                                           "stream_seq", (json_int_t)sseq, "deliveries", (json_int_t)dc));
            p->deadline_ns = now + (delay > 0 ? delay : 0);
            hr_consumer_heap_push(c, p);
            hr_consumer_mark_dirty(c);
            if (delay > 0)
                hr_consumer_schedule(c, p->deadline_ns);
        }
    } else if (is(d, n, "+WPI")) {
        if (p) {
            p->deadline_ns = now + c->cfg.ack_wait_ns;
            hr_consumer_heap_push(c, p);
            hr_consumer_schedule(c, p->deadline_ns);
        }
    } else if (is(d, n, "+TERM") || (starts(d, n, "+TERM ") && c->cfg.dead_letter_subject)) {
        /* "+TERM <reason>" is not a TERM for 2.9.10 (ignored: redelivered after ack_wait);
         * Herald honours it only for consumers using its dead-letter extension. */
        if (p) {
            char reason[256] = "";
            if (n > 6)
                snprintf(reason, sizeof reason, "%.*s", (int)(n - 6), d + 6);
            c->last_ack_ns = now;
            hr_consumer_settle(c, p, "terminated", reason);
        }
    }
    /* anything else is ignored, as nats-server does, and still answered */
    if (msg->reply_len) /* double ack: confirmed (empty) when the log is durable */
        hr_engine_queue_reply(c->stream->e, msg->reply, msg->reply_len, NULL, 0);
}

/* "$JS.ACK.<stream>.<consumer>.<dc>.<sseq>.<dseq>.<ts>.<pending>". A subject of another
 * shape, or for a consumer that does not exist, is declined (E4): the requester gets the
 * no-responders status, as nats-server's per-consumer ack subscriptions give. */
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
    struct hr_consumer *c = NULL;
    uint64_t num[3] = {0, 0, 0}; /* dc, sseq, dseq */
    if (nt == 9 && len[2] <= HERALD_NAME_MAX && len[3] <= HERALD_NAME_MAX) {
        char stream[HERALD_NAME_MAX + 1], consumer[HERALD_NAME_MAX + 1];
        memcpy(stream, tok[2], len[2]);
        stream[len[2]] = '\0';
        memcpy(consumer, tok[3], len[3]);
        consumer[len[3]] = '\0';
        for (int i = 0; i < 3; i++) {
            char digits[24];
            size_t l = len[4 + i] < sizeof digits ? len[4 + i] : sizeof digits - 1;
            memcpy(digits, tok[4 + i], l);
            digits[l] = '\0';
            num[i] = strtoull(digits, NULL, 10);
        }
        struct herald_stream *s = herald_stream_lookup(e, stream);
        c = s ? hr_consumer_lookup(s, consumer) : NULL;
    }
    if (!c) {
        e->sub_declined = true;
        return;
    }
    handle_ack(c, num[1], num[2], (uint32_t)num[0], msg);
}

/* "$JS.FC.<stream>.<consumer>.<id>": the client caught up with the FlowControl Request;
 * what was delivered up to it no longer counts, and a stalled delivery resumes. */
static void on_flow_control(void *ctx, struct herald_sub *sub, const struct herald_msg *msg)
{
    struct herald_engine *e = ctx;
    (void)sub;
    for (size_t i = 0; i < e->npush; i++) {
        struct hr_consumer *c = e->push[i];
        if (c->fc_reply[0] && strlen(c->fc_reply) == msg->subject_len &&
            memcmp(c->fc_reply, msg->subject, msg->subject_len) == 0) {
            c->fc_pending_bytes = c->fc_pending_bytes > c->fc_size ? c->fc_pending_bytes - c->fc_size : 0;
            c->fc_size = 0;
            c->fc_reply[0] = '\0';
            hr_consumer_mark_dirty(c);
            return;
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
