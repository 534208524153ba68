/* SPDX-License-Identifier: Apache-2.0
 *
 * The consumer pump (U5): once per loop iteration every consumer marked dirty delivers
 * what it may. Order of choice for the next message:
 *
 *   1. a pending message whose redelivery is due (ack_wait, backoff step, NAK delay);
 *      one that has had max_deliver deliveries is settled instead (consumer_ack.c);
 *   2. a held message (ordering key) whose key is no longer in flight (U3);
 *   3. the next stored message at the cursor that matches the filter, skipping what a
 *      restart re-walk finds acked or pending (U2); with an ordering key whose key is in
 *      flight it is held instead.
 *
 * Where it goes: a push consumer publishes to its deliver subject while someone listens (a
 * queue member of deliver_group when set, else a plain subscriber; subscriptions coming and
 * going wake it), with flow control (a request past ~1 MiB, a stall past ~2 MiB) and idle
 * heartbeats as nats-server 2.9.10 does; a pull consumer answers the waiting requests
 * round-robin, each until its batch, max_bytes or expiry, with the status messages
 * 404 No Messages, 408 Request Timeout, 409 …, 400 Bad Request and 100 Idle Heartbeat
 * (docs/consumers-wire.md §2, §4). A request whose reply subject lost its subscriber is
 * dropped silently.
 * A delivered message keeps its stream subject and carries the ack reply subject
 * `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>`.
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

#define MAX_HELD 100000
/* Push flow control, as measured on nats-server 2.9.10: a FlowControl Request once more
 * than FC_ASK_BYTES were delivered since the last answered one; delivery stalls while the
 * unanswered bytes would pass FC_MAX_BYTES. A message costs subject + ack reply + headers
 * + payload, the same measure as a pull request's max_bytes. */
#define FC_ASK_BYTES (1024 * 1024)
#define FC_MAX_BYTES (2 * 1024 * 1024)


/* ---- the deadline heap ------------------------------------------------------------ */

static void heap_swap(struct hr_consumer *c, size_t a, size_t b)
{
    struct hr_pending *t = c->heap[a];
    c->heap[a] = c->heap[b];
    c->heap[b] = t;
    c->heap[a]->heap_idx = a;
    c->heap[b]->heap_idx = b;
}

static bool heap_less(const struct hr_consumer *c, size_t a, size_t b)
{
    const struct hr_pending *x = c->heap[a], *y = c->heap[b];
    return x->deadline_ns < y->deadline_ns || (x->deadline_ns == y->deadline_ns && x->sseq < y->sseq);
}

static void heap_up(struct hr_consumer *c, size_t i)
{
    while (i > 0 && heap_less(c, i, (i - 1) / 2)) {
        heap_swap(c, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void heap_down(struct hr_consumer *c, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < c->heap_len && heap_less(c, l, m))
            m = l;
        if (r < c->heap_len && heap_less(c, r, m))
            m = r;
        if (m == i)
            return;
        heap_swap(c, i, m);
        i = m;
    }
}

void hr_consumer_heap_push(struct hr_consumer *c, struct hr_pending *p)
{
    if (p->heap_idx != SIZE_MAX) {
        heap_up(c, p->heap_idx);
        heap_down(c, p->heap_idx);
        return;
    }
    if (c->heap_len == c->heap_cap) {
        size_t cap = c->heap_cap ? c->heap_cap * 2 : 64;
        struct hr_pending **h = realloc(c->heap, cap * sizeof *h);
        if (!h)
            return; /* without a deadline it is redelivered after a restart */
        c->heap = h;
        c->heap_cap = cap;
    }
    p->heap_idx = c->heap_len;
    c->heap[c->heap_len++] = p;
    heap_up(c, p->heap_idx);
}

void hr_consumer_heap_remove(struct hr_consumer *c, struct hr_pending *p)
{
    size_t i = p->heap_idx;
    if (i == SIZE_MAX)
        return;
    p->heap_idx = SIZE_MAX;
    if (i == --c->heap_len)
        return;
    c->heap[i] = c->heap[c->heap_len];
    c->heap[i]->heap_idx = i;
    heap_up(c, i);
    heap_down(c, i);
}

void hr_consumer_pending_free(struct hr_consumer *c, struct hr_pending *p)
{
    hr_consumer_heap_remove(c, p);
    if (p->key && hr_map_get(&c->keys, (const char *)&p->key, 8) == p)
        hr_map_del(&c->keys, (const char *)&p->key, 8);
    hr_map_del(&c->pending, (const char *)&p->sseq, 8);
    hr_u64set_del(&c->pending_seqs, p->sseq);
    if (p->dc > 1 && c->num_redelivered) /* it counted as redelivered while pending */
        c->num_redelivered--;
    free(p);
}

/* ---- ordering keys -------------------------------------------------------------------- */

uint64_t hr_consumer_key_of(const struct hr_consumer *c, const char *subject, size_t subject_len,
                            const char *hdr, size_t hdr_len)
{
    const char *k = c->cfg.ordering_key;
    if (!k)
        return 0;
    const char *v = NULL;
    size_t vl = 0;
    if (strncmp(k, "header:", 7) == 0) {
        if (!hr_hdr_get(hdr, hdr_len, k + 7, &v, &vl))
            return 0;
    } else {
        long want = strtol(k + 6, NULL, 10);
        const char *p = subject, *end = subject + subject_len;
        for (long t = 1; p <= end; t++) {
            const char *dot = memchr(p, '.', (size_t)(end - p));
            const char *tend = dot ? dot : end;
            if (t == want) {
                v = p;
                vl = (size_t)(tend - p);
                break;
            }
            if (!dot)
                return 0;
            p = dot + 1;
        }
        if (!v)
            return 0;
    }
    uint64_t h = hr_hash_bytes(v, vl);
    return h ? h : 1;
}

static bool key_busy(const struct hr_consumer *c, uint64_t key)
{
    return key && hr_map_get(&c->keys, (const char *)&key, 8) != NULL;
}

static int held_add(struct hr_consumer *c, uint64_t sseq, uint64_t key)
{
    if (c->nheld == c->held_cap) {
        size_t cap = c->held_cap ? c->held_cap * 2 : 64;
        struct hr_held *h = realloc(c->held, cap * sizeof *h);
        if (!h)
            return HERALD_ENOMEM;
        c->held = h;
        c->held_cap = cap;
    }
    c->held[c->nheld++] = (struct hr_held){sseq, key};
    return 0;
}

/* ---- status messages ------------------------------------------------------------------ */

/* A status for a pull request; with `r`, the Nats-Pending-Messages/-Bytes headers say what
 * that request still owed (its remaining batch and max_bytes), as nats-server does: clients
 * such as nats.js's consume() subtract them from what they are waiting for. */
static void send_status(struct hr_consumer *c, const char *to, size_t to_len, int status,
                        const char *desc, const struct hr_pull_req *r)
{
    struct hr_buf h;
    hr_buf_init(&h, 4096);
    hr_hdr_begin(&h, status, desc);
    char num[32];
    if (r) {
        int n = snprintf(num, sizeof num, "%" PRId64, r->batch_left > 0 ? r->batch_left : 0);
        hr_hdr_add(&h, "Nats-Pending-Messages", num, (size_t)n);
        n = snprintf(num, sizeof num, "%" PRId64, r->max_bytes && r->bytes_left > 0 ? r->bytes_left : 0);
        hr_hdr_add(&h, "Nats-Pending-Bytes", num, (size_t)n);
    }
    hr_hdr_end(&h);
    if (h.data)
        hr_engine_reply(c->stream->e, to, to_len, h.data, h.len, NULL, 0);
    hr_buf_cleanup(&h);
}

static void send_heartbeat(struct hr_consumer *c, const char *to, size_t to_len)
{
    struct hr_buf h;
    hr_buf_init(&h, 4096);
    hr_hdr_begin(&h, 100, "Idle Heartbeat");
    char num[32];
    int n = snprintf(num, sizeof num, "%" PRIu64, c->dseq);
    hr_hdr_add(&h, "Nats-Last-Consumer", num, (size_t)n);
    n = snprintf(num, sizeof num, "%" PRIu64, c->delivered_sseq);
    hr_hdr_add(&h, "Nats-Last-Stream", num, (size_t)n);
    if (c->fc_reply[0]) /* a FlowControl Request is unanswered */
        hr_hdr_add(&h, "Nats-Consumer-Stalled", c->fc_reply, strlen(c->fc_reply));
    hr_hdr_end(&h);
    if (h.data)
        hr_engine_reply(c->stream->e, to, to_len, h.data, h.len, NULL, 0);
    hr_buf_cleanup(&h);
}

static void request_free(struct hr_consumer *c, struct hr_pull_req *prev, struct hr_pull_req *r)
{
    if (prev)
        prev->next = r->next;
    else
        c->waiting = r->next;
    if (c->waiting_tail == r)
        c->waiting_tail = prev;
    c->nwaiting--;
    free(r);
}

void hr_consumer_drop_waiting(struct hr_consumer *c, int status, const char *description)
{
    while (c->waiting) {
        struct hr_pull_req *r = c->waiting;
        if (status)
            send_status(c, r->reply, r->reply_len, status, description, NULL);
        request_free(c, NULL, r);
    }
}

/* ---- pull requests -------------------------------------------------------------------- */

/* Go's time.Duration.String(): "1s", "1.5s", "500ms", "1m30s", "2h0m0s". */
static void go_duration(char *out, size_t cap, int64_t d)
{
    uint64_t u = d < 0 ? (uint64_t)-d : (uint64_t)d;
    const char *sign = d < 0 ? "-" : "";
    if (u == 0) {
        snprintf(out, cap, "0s");
        return;
    }
    char frac[16] = "";
    if (u < 1000000000ULL) {
        uint64_t div = u < 1000 ? 1 : u < 1000000 ? 1000 : 1000000;
        const char *unit = u < 1000 ? "ns" : u < 1000000 ? "\xc2\xb5s" : "ms"; /* µs */
        uint64_t f = u % div;
        int w = div == 1000 ? 3 : 6;
        if (f) {
            while (f % 10 == 0) {
                f /= 10;
                w--;
            }
            snprintf(frac, sizeof frac, ".%0*" PRIu64, w, f);
        }
        snprintf(out, cap, "%s%" PRIu64 "%s%s", sign, u / div, frac, unit);
        return;
    }
    uint64_t h = u / 3600000000000ULL, m = u / 60000000000ULL % 60, sec = u / 1000000000ULL % 60;
    uint64_t f = u % 1000000000ULL;
    if (f) {
        int w = 9;
        while (f % 10 == 0) {
            f /= 10;
            w--;
        }
        snprintf(frac, sizeof frac, ".%0*" PRIu64, w, f);
    }
    if (h)
        snprintf(out, cap, "%s%" PRIu64 "h%" PRIu64 "m%" PRIu64 "%ss", sign, h, m, sec, frac);
    else if (m)
        snprintf(out, cap, "%s%" PRIu64 "m%" PRIu64 "%ss", sign, m, sec, frac);
    else
        snprintf(out, cap, "%s%" PRIu64 "%ss", sign, sec, frac);
}

static bool json_int_of(json_t *o, const char *key, int64_t *out)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return true;
    if (!json_is_integer(v))
        return false;
    *out = (int64_t)json_integer_value(v);
    return true;
}

/* A pull request, read as nats-server 2.9.10 reads it (docs/consumers-wire.md §2): an
 * empty body is batch 1, a bare number the batch, a JSON object the full request; a batch
 * of 0 or less waits as 1. Limits and malformed requests are answered with 409/400 at once;
 * a reply subject nobody listens on is dropped. */
void hr_consumer_pull_request(struct hr_consumer *c, const char *reply, size_t reply_len,
                              const char *body, size_t body_len)
{
    if (!reply_len || !hr_engine_has_interest(c->stream->e, reply, reply_len))
        return;
    if (c->cfg.deliver_subject) {
        send_status(c, reply, reply_len, 409, "Consumer is push based", NULL);
        return;
    }
    int64_t batch = 1, expires = 0, max_bytes = 0, hb = 0;
    bool no_wait = false;
    char desc[160];
    while (body_len && (*body == ' ' || *body == '\t' || *body == '\r' || *body == '\n'))
        body++, body_len--;
    while (body_len && (body[body_len - 1] == ' ' || body[body_len - 1] == '\t' ||
                        body[body_len - 1] == '\r' || body[body_len - 1] == '\n'))
        body_len--;
    if (body_len && body[0] == '{') {
        json_error_t jerr;
        json_t *o = json_loadb(body, body_len, 0, &jerr);
        json_t *nw = json_object_get(o, "no_wait");
        bool parsed = o != NULL;
        bool ok = json_is_object(o) && json_int_of(o, "batch", &batch) &&
                  json_int_of(o, "expires", &expires) && json_int_of(o, "max_bytes", &max_bytes) &&
                  json_int_of(o, "idle_heartbeat", &hb) && (!nw || json_is_null(nw) || json_is_boolean(nw));
        no_wait = json_is_true(nw);
        json_decref(o);
        if (!ok) {
            snprintf(desc, sizeof desc, "Bad Request - %.120s", parsed ? "invalid request" : jerr.text);
            send_status(c, reply, reply_len, 400, desc, NULL);
            return;
        }
        if (hb > 0 && hb * 2 > expires) {
            send_status(c, reply, reply_len, 400, "Bad Request - heartbeat value too large", NULL);
            return;
        }
    } else if (body_len) {
        char num[32];
        char *end;
        if (body_len < sizeof num) {
            memcpy(num, body, body_len);
            num[body_len] = '\0';
            long long n = strtoll(num, &end, 10);
            if (*end == '\0' && end != num)
                batch = n;
        }
    }
    if (c->cfg.max_batch > 0 && batch > c->cfg.max_batch) {
        snprintf(desc, sizeof desc, "Exceeded MaxRequestBatch of %" PRId64, c->cfg.max_batch);
        send_status(c, reply, reply_len, 409, desc, NULL);
        return;
    }
    if (c->cfg.max_expires_ns > 0 && expires > c->cfg.max_expires_ns) {
        char d[48];
        go_duration(d, sizeof d, c->cfg.max_expires_ns);
        snprintf(desc, sizeof desc, "Exceeded MaxRequestExpires of %s", d);
        send_status(c, reply, reply_len, 409, desc, NULL);
        return;
    }
    if (max_bytes > 0 && c->cfg.max_bytes > 0 && max_bytes > c->cfg.max_bytes) {
        snprintf(desc, sizeof desc, "Exceeded MaxRequestMaxBytes of %" PRId64, c->cfg.max_bytes);
        send_status(c, reply, reply_len, 409, desc, NULL);
        return;
    }
    if (c->nwaiting >= (size_t)c->cfg.max_waiting) {
        send_status(c, reply, reply_len, 409, "Exceeded MaxWaiting", NULL);
        return;
    }
    struct hr_pull_req *r = calloc(1, sizeof *r + reply_len);
    if (!r)
        return;
    int64_t now = hr_now_ns();
    r->batch_left = batch > 0 ? batch : 1;
    r->bytes_left = max_bytes;
    r->max_bytes = max_bytes > 0;
    /* an expiry already past (a few ns, or negative) ends the request at once with 408 */
    r->expires_ns = expires ? (now + expires > 0 ? now + expires : 1) : 0;
    r->hb_ns = hb > 0 ? hb : 0;
    r->next_hb_ns = hb > 0 ? now + hb : 0;
    r->no_wait = no_wait;
    r->reply_len = reply_len;
    memcpy(r->reply, reply, reply_len);
    if (c->waiting_tail)
        c->waiting_tail->next = r;
    else
        c->waiting = r;
    c->waiting_tail = r;
    c->nwaiting++;
    c->last_active_ns = now;
    hr_consumer_mark_dirty(c);
}

/* ---- choosing and delivering ---------------------------------------------------------- */

struct pick {
    struct herald_stored_msg m;
    struct hr_pending *p; /* the pending entry for a redelivery, else NULL */
    uint64_t key;
};

static bool at_ack_limit(const struct hr_consumer *c)
{
    return c->cfg.ack_policy != HERALD_ACK_NONE && c->cfg.max_ack_pending > 0 &&
           c->pending_seqs.len >= (size_t)c->cfg.max_ack_pending;
}

static bool read_msg(struct hr_consumer *c, uint64_t sseq, struct herald_stored_msg *m)
{
    return herald_stream_msg_get(c->stream, sseq, NULL, 0, false, m, NULL) == 0;
}

/* Returns true with `out` filled, false when nothing can be delivered now. */
static bool pick_next(struct hr_consumer *c, int64_t now, struct pick *out)
{
    /* 1. due redeliveries */
    while (c->heap_len && c->heap[0]->deadline_ns <= now) {
        struct hr_pending *p = c->heap[0];
        if (c->cfg.max_deliver > 0 && p->dc >= (uint64_t)c->cfg.max_deliver) {
            hr_consumer_heap_remove(c, p);
            hr_consumer_settle(c, p, "max_deliveries", NULL);
            continue;
        }
        if (!read_msg(c, p->sseq, &out->m)) { /* gone from the stream meanwhile */
            hr_consumer_pending_free(c, p);
            hr_consumer_advance_floor(c);
            continue;
        }
        hr_consumer_heap_remove(c, p);
        out->p = p;
        out->key = p->key;
        return true;
    }
    if (at_ack_limit(c))
        return false;
    /* 2. held messages whose key is free, in stream order */
    for (size_t i = 0; i < c->nheld; i++) {
        if (key_busy(c, c->held[i].key))
            continue;
        uint64_t sseq = c->held[i].sseq, key = c->held[i].key;
        memmove(&c->held[i], &c->held[i + 1], (c->nheld - i - 1) * sizeof *c->held);
        c->nheld--;
        if (!read_msg(c, sseq, &out->m)) {
            i--;
            continue;
        }
        out->p = NULL;
        out->key = key;
        return true;
    }
    /* 3. the cursor */
    const char *f = c->cfg.filter_subject && *c->cfg.filter_subject ? c->cfg.filter_subject : NULL;
    while (c->nheld < MAX_HELD) {
        if (herald_stream_msg_get(c->stream, c->sseq_next, f ? f : ">", f ? strlen(f) : 1, false,
                                  &out->m, NULL) != 0)
            return false;
        c->sseq_next = out->m.seq + 1;
        if (c->num_pending && out->m.seq > c->rewalk_until)
            c->num_pending--;
        if (hr_u64set_has(&c->acked, out->m.seq) || hr_u64set_has(&c->pending_seqs, out->m.seq)) {
            herald_stored_msg_free(&out->m);
            continue;
        }
        out->key = hr_consumer_key_of(c, out->m.subject, out->m.subject_len, out->m.hdr, out->m.hdr_len);
        if (key_busy(c, out->key)) {
            held_add(c, out->m.seq, out->key);
            herald_stored_msg_free(&out->m);
            continue;
        }
        out->p = NULL;
        return true;
    }
    return false;
}

/* Puts a picked message back (it could not be sent now). */
static void unpick(struct hr_consumer *c, struct pick *pk)
{
    if (pk->p) {
        hr_consumer_heap_push(c, pk->p);
    } else if (pk->key && key_busy(c, pk->key)) {
        held_add(c, pk->m.seq, pk->key);
    } else if (pk->m.seq < c->sseq_next) {
        /* a cursor or held message: make it the next one again */
        bool from_cursor = pk->m.seq == c->sseq_next - 1;
        if (from_cursor) {
            c->sseq_next = pk->m.seq;
            if (pk->m.seq > c->rewalk_until)
                c->num_pending++;
        } else {
            held_add(c, pk->m.seq, pk->key);
            /* keep held sorted: a held message goes back to the front */
            struct hr_held h = c->held[c->nheld - 1];
            memmove(&c->held[1], &c->held[0], (c->nheld - 1) * sizeof *c->held);
            c->held[0] = h;
        }
    }
    herald_stored_msg_free(&pk->m);
}

static int64_t next_deadline(const struct hr_consumer *c, uint32_t dc, int64_t now)
{
    if (c->cfg.nbackoff) {
        size_t i = dc ? dc - 1 : 0;
        if (i >= c->cfg.nbackoff)
            i = c->cfg.nbackoff - 1;
        return now + c->cfg.backoff_ns[i];
    }
    return now + c->cfg.ack_wait_ns;
}

/* The ack reply subject the picked message will carry (its delivery count, the next
 * consumer sequence and what is pending after it); returns its length. */
static size_t ack_reply(const struct hr_consumer *c, const struct pick *pk, char *out, size_t cap)
{
    uint32_t dc = pk->p ? pk->p->dc + 1 : 1;
    int n = snprintf(out, cap, "$JS.ACK.%s.%s.%u.%" PRIu64 ".%" PRIu64 ".%" PRId64 ".%" PRIu64,
                     c->stream->cfg.name, c->cfg.name, dc, pk->m.seq, c->dseq + 1, pk->m.ts_ns,
                     c->num_pending + c->nheld);
    return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

/* What a delivery costs against max_bytes and flow control, as nats-server counts it:
 * subject + ack reply + headers + payload (headers_only: the headers it sends). */
static int64_t delivery_cost(const struct hr_consumer *c, const struct pick *pk, size_t reply_len)
{
    const struct herald_stored_msg *m = &pk->m;
    size_t body = m->hdr_len + m->data_len;
    if (c->cfg.headers_only) {
        char num[32];
        int n = snprintf(num, sizeof num, "%zu", m->data_len);
        body = (m->hdr_len ? m->hdr_len : sizeof "NATS/1.0\r\n\r\n" - 1) + sizeof "Nats-Msg-Size: \r\n" - 1 +
               (size_t)n;
    }
    return (int64_t)(m->subject_len + reply_len + body);
}

/* Replay original: the picked (first-time) message is due when the first one was sent plus
 * its distance from the first in the stream. Returns 0 when it may go now. */
static int64_t replay_due(struct hr_consumer *c, const struct pick *pk, int64_t now)
{
    if (c->cfg.replay_policy != HERALD_REPLAY_ORIGINAL || pk->p)
        return 0;
    if (!c->replay_wall_ns) {
        c->replay_wall_ns = now;
        c->replay_base_ns = pk->m.ts_ns;
    }
    int64_t due = c->replay_wall_ns + (pk->m.ts_ns - c->replay_base_ns);
    return due > now ? due : 0;
}

/* Sends the picked message to `route` (deliver subject or request inbox) with the reply
 * subject ack_reply() made. */
static void deliver(struct hr_consumer *c, struct pick *pk, const char *route, size_t route_len,
                    const char *reply, size_t reply_len, int64_t now)
{
    struct herald_stored_msg *m = &pk->m;
    struct hr_pending *p = pk->p;
    uint32_t dc = p ? p->dc + 1 : 1;
    uint64_t dseq = ++c->dseq;
    if (c->cfg.ack_policy != HERALD_ACK_NONE) {
        if (!p)
            p = hr_consumer_pending_add(c, m->seq);
        if (p) {
            p->dc = dc;
            p->dseq = dseq;
            p->ts_ns = now;
            p->key = pk->key;
            p->deadline_ns = next_deadline(c, dc, now);
            hr_consumer_heap_push(c, p);
            if (p->key)
                hr_map_put(&c->keys, (const char *)&p->key, 8, p);
            if (dc == 2) /* num_redelivered: pending messages delivered more than once */
                c->num_redelivered++;
        }
    }
    if (m->seq > c->delivered_sseq)
        c->delivered_sseq = m->seq;
    c->last_delivery_ns = c->last_active_ns = now;
    /* U4: the delivery is in the log before the message leaves. */
    char rec[29];
    rec[0] = 'D';
    memcpy(rec + 1, &m->seq, 8);
    memcpy(rec + 9, &dseq, 8);
    memcpy(rec + 17, &dc, 4);
    memcpy(rec + 21, &now, 8);
    if (c->cfg.ack_policy != HERALD_ACK_NONE)
        hr_consumer_log_write(c, rec, sizeof rec);
    struct hr_buf hdr;
    hr_buf_init(&hdr, 128 * 1024);
    const char *data = m->data;
    size_t data_len = m->data_len;
    const char *h = m->hdr;
    size_t hl = m->hdr_len;
    if (c->cfg.headers_only) {
        char num[32];
        int n = snprintf(num, sizeof num, "%zu", m->data_len);
        hr_hdr_begin(&hdr, 0, NULL);
        hr_hdr_copy(&hdr, m->hdr, m->hdr_len, NULL);
        hr_hdr_add(&hdr, "Nats-Msg-Size", num, (size_t)n);
        hr_hdr_end(&hdr);
        h = hdr.data;
        hl = hdr.len;
        data = NULL;
        data_len = 0;
    }
    struct herald_msg out = {
        .subject = m->subject, .subject_len = m->subject_len, .reply = reply,
        .reply_len = reply_len, .hdr = hl ? h : NULL, .hdr_len = hl,
        .data = data, .data_len = data_len,
    };
    hr_engine_publish_routed(c->stream->e, route, route_len, &out);
    hr_buf_cleanup(&hdr);
    if (c->cfg.ack_policy == HERALD_ACK_NONE) {
        hr_consumer_ack_floor_moved(c); /* ack none: the floor follows the deliveries */
        hr_consumer_apply_retention(c, m->seq);
    }
    herald_stored_msg_free(m);
}

/* ---- push ------------------------------------------------------------------------------ */

bool hr_consumer_has_interest(struct hr_consumer *c)
{
    const char *ds = c->cfg.deliver_subject;
    return ds && hr_engine_has_push_interest(c->stream->e, ds, strlen(ds), c->cfg.deliver_group);
}

void hr_consumers_interest_changed(struct herald_engine *e, const char *subject, size_t len)
{
    for (size_t i = 0; i < e->npush; i++) {
        const char *ds = e->push[i]->cfg.deliver_subject;
        if (hr_subject_matches(subject, len, ds, strlen(ds)))
            hr_consumer_mark_dirty(e->push[i]);
    }
}

static void send_flow_control(struct hr_consumer *c, const char *ds, size_t dl)
{
    char id[5];
    hr_consumer_random_id(id, 4);
    snprintf(c->fc_reply, sizeof c->fc_reply, "$JS.FC.%s.%s.%s", c->stream->cfg.name, c->cfg.name, id);
    c->fc_size = c->fc_pending_bytes;
    struct hr_buf h;
    hr_buf_init(&h, 1024);
    hr_hdr_begin(&h, 100, "FlowControl Request");
    hr_hdr_end(&h);
    struct herald_msg fc = {.subject = ds, .subject_len = dl, .reply = c->fc_reply,
                            .reply_len = strlen(c->fc_reply), .hdr = h.data, .hdr_len = h.len};
    if (h.data)
        herald_publish(c->stream->e, &fc, NULL);
    hr_buf_cleanup(&h);
}

static void pump_push(struct hr_consumer *c, int64_t now)
{
    const char *ds = c->cfg.deliver_subject;
    size_t dl = strlen(ds);
    if (!hr_consumer_has_interest(c)) {
        if (c->inactive_since_ns == 0)
            c->inactive_since_ns = now;
        return;
    }
    c->inactive_since_ns = 0;
    struct pick pk;
    char reply[HERALD_NAME_MAX * 2 + 128];
    c->fc_stalled = false;
    while (pick_next(c, now, &pk)) {
        int64_t due = replay_due(c, &pk, now);
        if (due) {
            hr_consumer_schedule(c, due);
            unpick(c, &pk);
            break;
        }
        size_t rl = ack_reply(c, &pk, reply, sizeof reply);
        int64_t cost = delivery_cost(c, &pk, rl);
        if (c->cfg.flow_control && c->fc_pending_bytes > 0 &&
            c->fc_pending_bytes + (uint64_t)cost > FC_MAX_BYTES) {
            c->fc_stalled = true; /* until the FlowControl Request is answered */
            unpick(c, &pk);
            break;
        }
        deliver(c, &pk, ds, dl, reply, rl, now);
        if (c->cfg.flow_control) {
            c->fc_pending_bytes += (uint64_t)cost;
            if (!c->fc_reply[0] && c->fc_pending_bytes > FC_ASK_BYTES)
                send_flow_control(c, ds, dl);
            else if (c->fc_reply[0] && c->fc_pending_bytes - c->fc_size >= FC_ASK_BYTES)
                c->fc_size += (uint64_t)cost; /* the answer will release this one too */
        }
    }
    if (c->cfg.idle_heartbeat_ns > 0) {
        /* A heartbeat after idle_heartbeat without a delivery (or a heartbeat). */
        int64_t last = c->last_delivery_ns > c->last_hb_ns ? c->last_delivery_ns : c->last_hb_ns;
        if (!last)
            last = c->last_hb_ns = now;
        if (now - last >= c->cfg.idle_heartbeat_ns) {
            send_heartbeat(c, ds, dl);
            c->last_hb_ns = last = now;
        }
        hr_consumer_schedule(c, last + c->cfg.idle_heartbeat_ns);
    }
}

/* ---- pull ------------------------------------------------------------------------------ */

static void rotate(struct hr_consumer *c, struct hr_pull_req *r)
{
    if (r->next) {
        c->waiting = r->next;
        r->next = NULL;
        c->waiting_tail->next = r;
        c->waiting_tail = r;
    }
}

static void pump_pull(struct hr_consumer *c, int64_t now)
{
    struct herald_engine *e = c->stream->e;
    /* Expired requests and heartbeats first; a request whose requester went away (no
     * interest in its reply subject any more) is dropped silently. */
    for (struct hr_pull_req *r = c->waiting, *prev = NULL, *next; r; r = next) {
        next = r->next;
        if (!hr_engine_has_interest(e, r->reply, r->reply_len)) {
            request_free(c, prev, r);
            continue;
        }
        if (r->expires_ns && now >= r->expires_ns) {
            send_status(c, r->reply, r->reply_len, 408, "Request Timeout", r);
            request_free(c, prev, r);
            continue;
        }
        if (r->hb_ns && now >= r->next_hb_ns) {
            send_heartbeat(c, r->reply, r->reply_len);
            r->next_hb_ns = now + r->hb_ns;
        }
        prev = r;
    }
    /* Serve round-robin: one message to the head request, which then goes to the back. */
    struct pick pk;
    char reply[HERALD_NAME_MAX * 2 + 128];
    while (c->waiting && pick_next(c, now, &pk)) {
        struct hr_pull_req *r = c->waiting;
        int64_t due = replay_due(c, &pk, now);
        if (due) {
            hr_consumer_schedule(c, due);
            unpick(c, &pk);
            break;
        }
        size_t rl = ack_reply(c, &pk, reply, sizeof reply);
        int64_t cost = delivery_cost(c, &pk, rl);
        if (r->max_bytes && cost > r->bytes_left) {
            unpick(c, &pk);
            send_status(c, r->reply, r->reply_len, 409, "Message Size Exceeds MaxBytes", r);
            request_free(c, NULL, r);
            continue;
        }
        deliver(c, &pk, r->reply, r->reply_len, reply, rl, now);
        r->delivered++;
        r->batch_left--;
        if (r->max_bytes)
            r->bytes_left -= cost;
        if (r->batch_left <= 0 || (r->max_bytes && r->bytes_left <= 0))
            request_free(c, NULL, r);
        else
            rotate(c, r);
    }
    /* no_wait requests that could not be filled end now: 404 when nothing came (unless it
     * has an expiry: then it waits for it, as nats-server does), else 408. */
    for (struct hr_pull_req *r = c->waiting, *prev = NULL, *next; r; r = next) {
        next = r->next;
        if (r->no_wait && !(r->delivered == 0 && r->expires_ns)) {
            if (r->delivered == 0)
                send_status(c, r->reply, r->reply_len, 404, "No Messages", NULL);
            else
                send_status(c, r->reply, r->reply_len, 408, "Request Timeout", r);
            request_free(c, prev, r);
            continue;
        }
        prev = r;
    }
    for (struct hr_pull_req *r = c->waiting; r; r = r->next) {
        hr_consumer_schedule(c, r->expires_ns);
        hr_consumer_schedule(c, r->next_hb_ns);
    }
}

static void pump_one(struct hr_consumer *c)
{
    int64_t now = hr_now_ns();
    if (c->cfg.deliver_subject)
        pump_push(c, now);
    else
        pump_pull(c, now);
    if (c->heap_len)
        hr_consumer_schedule(c, c->heap[0]->deadline_ns);
    hr_consumer_advance_floor(c);
    /* Ephemerals (and durables that set one) go away after inactive_threshold without
     * interest: no waiting pull request, or nobody on the deliver subject. */
    if (c->cfg.inactive_threshold_ns > 0) {
        bool idle = c->cfg.deliver_subject ? c->inactive_since_ns != 0
                                           : (c->nwaiting == 0 && now - c->last_active_ns > 0);
        int64_t since = c->cfg.deliver_subject ? c->inactive_since_ns : c->last_active_ns;
        if (idle && now - since >= c->cfg.inactive_threshold_ns) {
            hr_consumer_delete(c);
            return;
        }
        if (idle)
            hr_consumer_schedule(c, since + c->cfg.inactive_threshold_ns);
    }
}

void hr_consumers_pump(struct herald_engine *e)
{
    /* Each pass takes the current list; consumers dirtied meanwhile wait for the next
     * iteration's pass only if they were dirtied by this pass's own deliveries. */
    for (int pass = 0; pass < 4 && e->dirty_consumers; pass++) {
        struct hr_consumer *list = e->dirty_consumers;
        e->dirty_consumers = NULL;
        while (list) {
            struct hr_consumer *c = list;
            list = c->dirty_next;
            c->dirty = false;
            c->dirty_next = NULL;
            pump_one(c);
        }
    }
    /* Nothing left to do: the loop may block in poll again (see hr_consumer_mark_dirty). */
    if (!e->dirty_consumers && e->pump_idle)
        uv_idle_stop(e->pump_idle);
}

void hr_consumer_on_stored(struct hr_consumer *c, uint64_t sseq, const char *subject, size_t len)
{
    if (sseq < c->sseq_next || !hr_consumer_filter_matches(c, subject, len))
        return;
    c->num_pending++;
    hr_consumer_mark_dirty(c);
}
