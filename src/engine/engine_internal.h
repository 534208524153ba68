/* SPDX-License-Identifier: Apache-2.0
 *
 * The engine object, shared by the engine's own files. Not part of the public API.
 *
 * Invariants:
 *   E1. `publish_depth` counts herald_publish() calls on the stack. A subscription
 *       destroyed while it is > 0 is unlinked at once (no new match sees it) but freed
 *       only when the depth returns to 0, because an outer publish may still be walking
 *       a match result that names it.
 *   E2. A PubAck for a stored message is published only after the store reports the
 *       append durable (S5); acks leave in the order their messages were stored.
 *   E3. Streams are kept sorted by name (`streams`), for stable NAMES/LIST paging.
 *   E4. An internal subscription's deliver callback may set `sub_declined` (after any
 *       publish of its own) to say the message was not for it: publish_routed() does not
 *       count it as delivered, so the publisher's head answers a request with no-responders
 *       (as nats-server does for an ack to a consumer that does not exist).
 */
#ifndef HR_ENGINE_INTERNAL_H
#define HR_ENGINE_INTERNAL_H

#include <uv.h>

#include "engine/router.h"
#include "herald/herald.h"
#include "herald/stream.h"
#include "store/store.h"

struct hr_pending_ack {
    struct hr_pending_ack *next;
    size_t reply_len, body_len;
    char data[]; /* reply, then body */
};

struct hr_ack_batch {
    struct herald_engine *engine;
    struct hr_pending_ack *head;
};

struct herald_engine {
    struct herald_engine_options opts;
    char *store_dir, *js_domain;
    struct hr_router router;
    unsigned publish_depth;       /* E1 */
    struct herald_sub *zombies;   /* E1: destroyed during a publish */
    struct herald_engine_stats stats;
    /* streams */
    struct hr_store *store;
    struct herald_stream **streams; /* E3 */
    size_t nstreams, streams_cap;
    struct hr_pending_ack *acks_head, *acks_tail; /* E2: waiting for the next commit */
    size_t acks_inflight_batches;
    uv_timer_t timer;
    bool timer_started;
    struct herald_sub *api_subs[2];
    struct herald_sub *ack_sub, *fc_sub;
    struct hr_consumer *dirty_consumers; /* U5 */
    uv_idle_t *pump_idle;                /* active while consumers are dirty (consumer.c) */
    bool sub_declined;                   /* E4 */
    struct hr_consumer **push;           /* push consumers, woken when interest changes */
    size_t npush, push_cap;
    uint64_t api_total, api_errors;
    bool destroying;
};

/* engine.c */
void hr_engine_free_on_close(uv_handle_t *h); /* the engine's timer close callback */
int hr_engine_publish_routed(struct herald_engine *e, const char *route, size_t route_len,
                             const struct herald_msg *msg);
bool hr_engine_has_interest(struct herald_engine *e, const char *subject, size_t len);
/* consumer_deliver.c: a subscription on `subject` (a filter) came or went; push consumers
 * whose deliver subject it matches look at their interest again. */
void hr_consumers_interest_changed(struct herald_engine *e, const char *subject, size_t len);
/* Interest as a push consumer counts it: with `group`, a queue subscriber of exactly that
 * group; without, a plain (non-queue) subscriber. */
bool hr_engine_has_push_interest(struct herald_engine *e, const char *subject, size_t len,
                                 const char *group);
/* Publishes `body` to `reply` after the next commit is durable (E2). */
void hr_engine_queue_reply(struct herald_engine *e, const char *reply, size_t reply_len,
                           const char *body, size_t body_len);

/* stream.c */
int hr_streams_init(struct herald_engine *e);
void hr_streams_cleanup(struct herald_engine *e);
/* Publishes `body` to `reply` now (API responses, errors). */
void hr_engine_reply(struct herald_engine *e, const char *reply, size_t reply_len,
                     const char *hdr, size_t hdr_len, const char *body, size_t body_len);

/* stream_json.c */
char *hr_stream_config_json(const struct herald_stream_config *cfg); /* returns owned */
/* The stream info object (config, created, state [, subjects when subjects_filter]). */
struct json_t;
struct json_t *hr_stream_info_json(struct herald_stream *s, const char *subjects_filter);
void hr_format_time(char *out, size_t len, int64_t ns);
bool hr_stream_config_equal(const struct herald_stream_config *a, const struct herald_stream_config *b);

/* jsapi.c */
int hr_jsapi_start(struct herald_engine *e);
void hr_jsapi_stop(struct herald_engine *e);
/* The error object `{"code":…,"err_code":…,"description":…}` as JSON text (owned). */
char *hr_js_error_body(const char *type, const struct herald_error *err);

#endif
