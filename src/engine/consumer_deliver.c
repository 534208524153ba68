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
 * Where it goes: a push consumer publishes to its deliver subject (when someone listens;
 * flow control and idle heartbeats as nats-server does); a pull consumer answers the
 * waiting requests round-robin, each until its batch, max_bytes or expiry, with the
 * status messages 404 No Messages, 408 Request Timeout, 409 … and 100 Idle Heartbeat.
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
#define FC_MSGS 256
#define FC_BYTES (512 * 1024)


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
    if (c->fc_stalled)
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

void hr_consumer_pull_request(struct hr_consumer *c, const char *reply, size_t reply_len,
                              const char *body, size_t body_len)
{
    if (!reply_len)
        return;
    int64_t batch = 1, expires = 0, max_bytes = 0, hb = 0;
    bool no_wait = false;
    if (body_len) {
        json_error_t jerr;
        json_t *o = json_loadb(body, body_len, JSON_DECODE_ANY, &jerr);
        if (json_is_integer(o)) {
            batch = json_integer_value(o);
        } else if (json_is_object(o)) {
            json_t *v;
            if ((v = json_object_get(o, "batch")))
                batch = json_integer_value(v);
            expires = json_integer_value(json_object_get(o, "expires"));
            max_bytes = json_integer_value(json_object_get(o, "max_bytes"));
            hb = json_integer_value(json_object_get(o, "idle_heartbeat"));
            no_wait = json_is_true(json_object_get(o, "no_wait"));
        } else {
            json_decref(o);
            send_status(c, reply, reply_len, 400, "Bad Request", NULL);
            return;
        }
        json_decref(o);
    }
    if (batch <= 0) {
        send_status(c, reply, reply_len, 400, "Bad Request", NULL);
        return;
    }
    char desc[96];
    if (c->cfg.max_batch > 0 && batch > c->cfg.max_batch) {
        snprintf(desc, sizeof desc, "Exceeded MaxRequestBatch of %" PRId64, c->cfg.max_batch);
        send_status(c, reply, reply_len, 409, desc, NULL);
        return;
    }
    if (c->cfg.max_expires_ns > 0 && expires > c->cfg.max_expires_ns) {
        snprintf(desc, sizeof desc, "Exceeded MaxRequestExpires of %" PRId64 "ms", c->cfg.max_expires_ns / 1000000);
        send_status(c, reply, reply_len, 409, desc, NULL);
        return;
    }
    if (c->cfg.max_bytes > 0 && max_bytes > c->cfg.max_bytes) {
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
    r->batch_left = batch;
    r->bytes_left = max_bytes;
    r->max_bytes = max_bytes > 0;
    r->expires_ns = expires > 0 ? now + expires : 0;
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

/* Sends the picked message to `route` (deliver subject or request inbox). */
static size_t deliver(struct hr_consumer *c, struct pick *pk, const char *route, size_t route_len,
                      int64_t now)
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
        }
    }
    if (dc > 1)
        c->num_redelivered++;
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
    char reply[HERALD_NAME_MAX * 2 + 128];
    int rl = snprintf(reply, sizeof reply, "$JS.ACK.%s.%s.%u.%" PRIu64 ".%" PRIu64 ".%" PRId64 ".%" PRIu64,
                      c->stream->cfg.name, c->cfg.name, dc, m->seq, dseq, m->ts_ns,
                      c->num_pending + c->nheld);
    struct hr_buf hdr;
    hr_buf_init(&hdr, 128 * 1024);
    const char *data = m->data;
    size_t data_len = m->data_len, size = m->hdr_len + m->data_len;
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
        .reply_len = rl > 0 ? (size_t)rl : 0, .hdr = hl ? h : NULL, .hdr_len = hl,
        .data = data, .data_len = data_len,
    };
    hr_engine_publish_routed(c->stream->e, route, route_len, &out);
    hr_buf_cleanup(&hdr);
    if (c->cfg.ack_policy == HERALD_ACK_NONE) {
        hr_consumer_advance_floor(c);
        hr_consumer_apply_retention(c, m->seq);
    }
    herald_stored_msg_free(m);
    return size;
}

/* ---- push ------------------------------------------------------------------------------ */

static void pump_push(struct hr_consumer *c, int64_t now)
{
    const char *ds = c->cfg.deliver_subject;
    size_t dl = strlen(ds);
    if (!hr_engine_has_interest(c->stream->e, ds, dl)) {
        if (!c->cfg.durable && c->inactive_since_ns == 0)
            c->inactive_since_ns = now;
        return;
    }
    c->inactive_since_ns = 0;
    struct pick pk;
    while (!c->fc_stalled && pick_next(c, now, &pk)) {
        if (c->cfg.replay_policy == HERALD_REPLAY_ORIGINAL && !pk.p) {
            /* Keep the original spacing: due = when the first was sent + its age gap. */
            if (!c->replay_wall_ns) {
                c->replay_wall_ns = now;
                c->replay_base_ns = pk.m.ts_ns;
            }
            int64_t due = c->replay_wall_ns + (pk.m.ts_ns - c->replay_base_ns);
            if (due > now) {
                hr_consumer_schedule(c, due);
                unpick(c, &pk);
                break;
            }
        }
        size_t size = deliver(c, &pk, ds, dl, now);
        c->fc_msgs++;
        c->fc_bytes += size;
        if (c->cfg.flow_control && (c->fc_msgs >= FC_MSGS || c->fc_bytes >= FC_BYTES)) {
            snprintf(c->fc_reply, sizeof c->fc_reply, "$JS.FC.%s.%s.%" PRIu64, c->stream->cfg.name,
                     c->cfg.name, ++c->fc_seq);
            struct hr_buf h;
            hr_buf_init(&h, 1024);
            hr_hdr_begin(&h, 100, "FlowControl Request");
            hr_hdr_end(&h);
            struct herald_msg fc = {.subject = ds, .subject_len = dl, .reply = c->fc_reply,
                                    .reply_len = strlen(c->fc_reply), .hdr = h.data, .hdr_len = h.len};
            if (h.data)
                herald_publish(c->stream->e, &fc, NULL);
            hr_buf_cleanup(&h);
            c->fc_stalled = true;
            c->fc_msgs = c->fc_bytes = 0;
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

static void pump_pull(struct hr_consumer *c, int64_t now)
{
    /* Expired requests and heartbeats first. */
    for (struct hr_pull_req *r = c->waiting, *prev = NULL, *next; r; r = next) {
        next = r->next;
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
    while (c->waiting && pick_next(c, now, &pk)) {
        struct hr_pull_req *r = c->waiting;
        size_t size = pk.m.subject_len + pk.m.hdr_len + pk.m.data_len;
        if (r->max_bytes && (int64_t)size > r->bytes_left) {
            unpick(c, &pk);
            send_status(c, r->reply, r->reply_len, 409, "Message Size Exceeds MaxBytes", r);
            request_free(c, NULL, r);
            continue;
        }
        deliver(c, &pk, r->reply, r->reply_len, now);
        r->delivered++;
        r->batch_left--;
        if (r->max_bytes)
            r->bytes_left -= (int64_t)size;
        if (r->batch_left <= 0 || (r->max_bytes && r->bytes_left <= 0)) {
            request_free(c, NULL, r);
        } else if (r->next) { /* rotate */
            c->waiting = r->next;
            r->next = NULL;
            c->waiting_tail->next = r;
            c->waiting_tail = r;
        }
    }
    /* no_wait requests that could not be filled end now. */
    for (struct hr_pull_req *r = c->waiting, *prev = NULL, *next; r; r = next) {
        next = r->next;
        if (r->no_wait) {
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
    /* Ephemeral consumers go away after inactive_threshold without interest. */
    if (!c->cfg.durable && c->cfg.inactive_threshold_ns > 0) {
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
