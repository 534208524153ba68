/* SPDX-License-Identifier: Apache-2.0
 *
 * Consumers inside the engine, shared by consumer.c (lifecycle, config, persistence),
 * consumer_deliver.c (the pump: pull requests, push, redelivery, key order, heartbeats)
 * and consumer_ack.c (acks, settlement, dead letters, advisories, retention).
 *
 * State of one consumer over stream sequences:
 *
 *      acked/skipped       pending (delivered, unacked)    held    not yet seen
 *   ... ≤ floor_sseq ] [ … ack set ∪ pending set ∪ held set … ] [ sseq_next …
 *
 * Invariants:
 *   U1. floor_sseq + 1 is the lowest sequence that is pending, held or not yet seen;
 *       everything at or below the floor was acknowledged, settled or never matched.
 *   U2. `acked` holds the sequences above the floor that were acknowledged; together with
 *       `pending` and `held` it tells, after a restart, what must not be delivered again
 *       (acked) and what must be (everything else from the floor on).
 *   U3. With an ordering key, at most one message per key is pending; later messages of
 *       that key wait in `held` (in stream order) until it is acknowledged or settled.
 *   U4. Every change a restart must see (delivery, ack, settlement) is appended to the
 *       consumer's state log before it has any effect outside the engine; an ack sent as
 *       a request is confirmed only after the log is durable (E2).
 *   U5. Deliveries happen only in hr_consumers_pump(), called once per loop iteration from
 *       herald_engine_commit(); everything else marks the consumer dirty.
 */
#ifndef HR_ENGINE_CONSUMER_INTERNAL_H
#define HR_ENGINE_CONSUMER_INTERNAL_H

#include <jansson.h>
#include <uv.h>

#include "common/map.h"
#include "engine/stream_internal.h"
#include "herald/consumer.h"
#include "store/store.h"

struct hr_pending {
    uint64_t sseq; /* the key in `pending` (8 bytes) */
    uint64_t dseq;
    uint32_t dc;          /* deliveries so far */
    int64_t ts_ns;        /* last delivery */
    int64_t deadline_ns;  /* redelivery due (ack_wait, backoff, NAK delay) */
    uint64_t key;         /* ordering-key hash, 0 when none */
    size_t heap_idx;      /* in the deadline heap */
};

struct hr_held {
    uint64_t sseq;
    uint64_t key;
};

struct hr_pull_req {
    struct hr_pull_req *next;
    int64_t batch_left;
    int64_t bytes_left; /* 0: unlimited */
    int64_t expires_ns; /* absolute; 0: never */
    int64_t hb_ns, next_hb_ns;
    bool no_wait;
    bool max_bytes;     /* bytes_left is a limit */
    uint64_t delivered;
    size_t reply_len;
    char reply[];
};

/* A sorted set of sequences (pending, acked, held): the members are v[0..len), a window
 * inside the allocation base[0..cap), so removing at either end — acks arrive mostly in
 * order — moves nothing, and a removal or insertion in the middle moves the shorter side. */
struct hr_u64set {
    uint64_t *base, *v;
    size_t len, cap;
};

struct hr_consumer {
    struct herald_stream *stream;
    struct herald_consumer_config cfg;
    int64_t created_ns;
    struct hr_consumer_log *log;
    uint64_t log_records; /* since the last snapshot */
    /* U1–U3 */
    uint64_t sseq_next, dseq, delivered_sseq;
    uint64_t floor_sseq, floor_dseq;
    struct hr_map pending; /* sseq -> struct hr_pending */
    struct hr_u64set pending_seqs;
    struct hr_pending **heap; /* by deadline */
    size_t heap_len, heap_cap;
    struct hr_u64set acked;
    struct hr_held *held;
    size_t nheld, held_cap;
    struct hr_map keys; /* ordering key hash (8 bytes) -> in-flight pending */
    uint64_t num_redelivered, num_pending; /* pending delivered more than once; not yet delivered */
    /* The ack floor info reports (nats-server's adflr/asflr): the floor as it was after the
     * last ack, +TERM or dead letter (ack none: delivery). A message dropped after
     * max_deliver without a dead letter does not move it. In memory only. */
    uint64_t shown_floor_sseq, shown_floor_dseq;
    uint64_t rewalk_until; /* after a restart: cursor messages up to here were counted */
    /* pull */
    struct hr_pull_req *waiting, *waiting_tail;
    size_t nwaiting;
    /* push flow control (consumer_deliver.c): bytes delivered and not yet released by an
     * answered FlowControl Request; fc_reply is the outstanding request's subject, "" if none */
    uint64_t fc_pending_bytes, fc_size;
    bool fc_stalled;
    char fc_reply[128];
    int64_t last_active_ns, last_delivery_ns, last_ack_ns, last_hb_ns, inactive_since_ns;
    int64_t replay_base_ns, replay_wall_ns; /* replay original: first message ts, sent at */
    /* scheduling */
    uv_timer_t timer;
    bool timer_init;
    int64_t timer_due_ns;
    bool dirty, deleted;
    struct hr_consumer *dirty_next;
    /* dead letters whose publish a crash may have cut off (consumer_ack.c) */
    struct hr_dlq_check {
        uint64_t sseq, hint;
        bool max_deliveries;
        char target[HERALD_NAME_MAX + 1];
    } *dlq_checks;
    size_t ndlq_checks;
};

/* consumer.c */
struct hr_consumer *hr_consumer_lookup(struct herald_stream *s, const char *name);
void hr_consumer_mark_dirty(struct hr_consumer *c);
int hr_consumer_log_write(struct hr_consumer *c, const void *rec, size_t len);
void hr_consumer_schedule(struct hr_consumer *c, int64_t due_ns);
bool hr_u64set_has(const struct hr_u64set *s, uint64_t v);
int hr_u64set_add(struct hr_u64set *s, uint64_t v);
bool hr_u64set_del(struct hr_u64set *s, uint64_t v);
void hr_u64set_free(struct hr_u64set *s);
void hr_consumer_advance_floor(struct hr_consumer *c);
/* Advances the floor and makes it the one info reports. */
void hr_consumer_ack_floor_moved(struct hr_consumer *c);
struct hr_pending *hr_consumer_pending_add(struct hr_consumer *c, uint64_t sseq);
/* Creates the consumer `in` describes, or updates the one of that name (create-or-update,
 * as nats-server 2.9.10); takes over what it keeps of `in`. */
int hr_consumer_create(struct herald_stream *s, struct herald_consumer_config *in,
                       struct herald_error *err, struct hr_consumer **out);
int hr_consumer_delete(struct hr_consumer *c);
void hr_consumers_close(struct herald_stream *s, bool remove);
void hr_consumers_restore(struct herald_stream *s);
bool hr_consumer_filter_matches(const struct hr_consumer *c, const char *subject, size_t len);
/* Fills out[0..n-1] with random [A-Za-z0-9] and NUL-terminates it (out holds n + 1). */
void hr_consumer_random_id(char *out, size_t n);

/* consumer_deliver.c */
void hr_consumers_pump(struct herald_engine *e);
void hr_consumer_pull_request(struct hr_consumer *c, const char *reply, size_t reply_len,
                              const char *body, size_t body_len);
void hr_consumer_on_stored(struct hr_consumer *c, uint64_t sseq, const char *subject, size_t len);
void hr_consumer_drop_waiting(struct hr_consumer *c, int status, const char *description);
void hr_consumer_heap_push(struct hr_consumer *c, struct hr_pending *p);
void hr_consumer_heap_remove(struct hr_consumer *c, struct hr_pending *p);
void hr_consumer_pending_free(struct hr_consumer *c, struct hr_pending *p);
/* Push: someone listens on the deliver subject (a queue member of deliver_group when set,
 * else a plain subscriber). */
bool hr_consumer_has_interest(struct hr_consumer *c);
uint64_t hr_consumer_key_of(const struct hr_consumer *c, const char *subject, size_t subject_len,
                            const char *hdr, size_t hdr_len);

/* consumer_ack.c */
int hr_acks_start(struct herald_engine *e);
void hr_acks_stop(struct herald_engine *e);
/* Settles `p` without an ack (max deliveries, +TERM): dead letter, advisory, retention. */
void hr_consumer_settle(struct hr_consumer *c, struct hr_pending *p, const char *reason,
                        const char *term_reason);
void hr_consumer_apply_retention(struct hr_consumer *c, uint64_t sseq);
/* Interest retention when `gone` is being deleted: removes what only it still needed. */
void hr_consumer_release_interest(struct hr_consumer *gone);
/* Publishes `$JS.EVENT.ADVISORY.CONSUMER.<kind>.<stream>.<consumer>`: type, id, timestamp,
 * stream, consumer, then the fields of `extra` (taken). */
void hr_consumer_advisory(struct hr_consumer *c, const char *kind, const char *type, json_t *extra);
void hr_consumer_recheck_dead_letter(struct hr_consumer *c, uint64_t sseq, uint64_t hint,
                                     bool max_deliveries, const char *target_name);
/* After start-up: runs the dead-letter rechecks of every consumer of the engine. */
void hr_consumers_finish_restore(struct herald_engine *e);

/* consumer_json.c */
int hr_consumer_config_parse(json_t *cfg, struct herald_consumer_config *out, struct herald_error *err);
json_t *hr_consumer_config_json(const struct herald_consumer_config *cfg);
json_t *hr_consumer_info_json(struct hr_consumer *c);

#endif
